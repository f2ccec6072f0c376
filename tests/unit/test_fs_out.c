/*
 * test_fs_out.c - cf_fs_out, the writer of restored files: whatever the mix of data and holes,
 * ragged or whole-block, staged (direct I/O where the file system takes it) or not, the file
 * holds exactly the data, zeros in the holes, and the size asked for; whole blocks of a hole
 * stay unallocated; a write that fails is reported.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "fs/fs.h"
#include "harness.h"

static int
new_file(const char *dir, const char *name)
{
	char *p = th_join(dir, name);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	free(p);
	CHECK(fd >= 0);
	return fd;
}

/* The file's whole contents equal @want (@len bytes). */
static void
check_contents(int fd, const uint8_t *want, size_t len)
{
	uint8_t *got = malloc(len + 1);
	struct stat st;
	size_t n = 0;

	CHECK(got != NULL);
	CHECK_EQ(fstat(fd, &st), 0);
	CHECK_EQ((uint64_t)st.st_size, (uint64_t)len);
	while (n < len) {
		ssize_t r = pread(fd, got + n, len - n, (off_t)n);

		CHECK(r > 0);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	CHECK(n == len && memcmp(got, want, len) == 0);
	free(got);
}

CF_TEST(exact_bytes_around_a_ragged_hole)
{
	char *dir = th_scratch("fs-out");
	static const uint8_t want[] = "abc";
	uint8_t *stage = cf_fs_stage_new();
	uint8_t expect[5006];

	for (int staged = 0; staged < 2; staged++) {
		int fd = new_file(dir, staged ? "ragged-staged" : "ragged");
		struct cf_fs_out o;

		cf_fs_out_start(&o, fd, staged ? stage : NULL);
		if (staged && o.stage == NULL)
			fprintf(stderr,
			        "note: %s takes no O_DIRECT: the staged cases ran stageless\n",
			        dir);
		CHECK_EQ(cf_fs_out_write(&o, want, 3), 0);
		CHECK_EQ(cf_fs_out_hole(&o, 5000), 0);
		CHECK_EQ(cf_fs_out_write(&o, (const uint8_t *)"xyz", 3), 0);
		CHECK_EQ(cf_fs_out_finish(&o, 5006), 0);
		memset(expect, 0, sizeof(expect));
		memcpy(expect, "abc", 3);
		memcpy(expect + 5003, "xyz", 3);
		check_contents(fd, expect, sizeof(expect));
		(void)close(fd);
	}
	cf_fs_stage_free(stage);
	th_rm_tree(dir);
	free(dir);
}

CF_TEST(a_trailing_hole_and_an_empty_file_get_their_size)
{
	char *dir = th_scratch("fs-out");
	uint8_t *stage = cf_fs_stage_new();
	uint8_t *expect = calloc(1, 3 * CF_FS_STAGE);

	CHECK(expect != NULL);
	for (int staged = 0; staged < 2; staged++) {
		struct cf_fs_out o;
		int fd = new_file(dir, "trailing");

		cf_fs_out_start(&o, fd, staged ? stage : NULL);
		CHECK_EQ(cf_fs_out_write(&o, (const uint8_t *)"q", 1), 0);
		CHECK_EQ(cf_fs_out_hole(&o, 3 * CF_FS_STAGE - 1), 0);
		CHECK_EQ(cf_fs_out_finish(&o, 3 * CF_FS_STAGE), 0);
		expect[0] = 'q';
		check_contents(fd, expect, 3 * CF_FS_STAGE);
		(void)close(fd);

		fd = new_file(dir, "empty");
		cf_fs_out_start(&o, fd, staged ? stage : NULL);
		CHECK_EQ(cf_fs_out_finish(&o, 0), 0);
		check_contents(fd, expect, 0);
		(void)close(fd);
	}
	free(expect);
	cf_fs_stage_free(stage);
	th_rm_tree(dir);
	free(dir);
}

/*
 * @n bytes of @data into @o: filled in place in the stage (cf_fs_out_space()) when @in_place
 * and there is room, else written.
 */
static void
put(struct cf_fs_out *o, const uint8_t *data, size_t n, bool in_place)
{
	uint8_t *room = NULL;

	if (in_place)
		CHECK_EQ(cf_fs_out_space(o, n, &room), 0);
	if (room != NULL) {
		memcpy(room, data, n);
		CHECK_EQ(cf_fs_out_commit(o, n), 0);
	} else {
		CHECK_EQ(cf_fs_out_write(o, data, n), 0);
	}
}

/* Room in the stage: none without one or past its size; whole blocks written to make it. */
CF_TEST(room_in_the_stage_is_filled_in_place)
{
	char *dir = th_scratch("fs-out");
	uint8_t *stage = cf_fs_stage_new();
	uint8_t *data = malloc(2 * CF_FS_STAGE);
	uint8_t *room = NULL;
	struct cf_fs_out o;
	size_t rest = 0;
	int fd = new_file(dir, "room");

	CHECK(stage != NULL && data != NULL);
	th_randbuf(data, 2 * CF_FS_STAGE);
	cf_fs_out_start(&o, fd, NULL);
	CHECK_EQ(cf_fs_out_space(&o, 10, &room), 0);
	CHECK(room == NULL); /* no stage */
	cf_fs_out_start(&o, fd, stage);
	if (o.stage == NULL)
		goto out; /* no direct I/O here: nothing is staged */
	CHECK_EQ(cf_fs_out_space(&o, CF_FS_STAGE - CF_FS_ALIGN + 1, &room), 0);
	CHECK(room == NULL); /* too large for any stage */
	/* a ragged start, then a piece that only fits once its whole blocks are written */
	CHECK_EQ(cf_fs_out_write(&o, data, CF_FS_STAGE - 100), 0);
	CHECK_EQ(cf_fs_out_space(&o, CF_FS_STAGE - CF_FS_ALIGN, &room), 0);
	CHECK(room != NULL && room < stage + CF_FS_ALIGN);
	if (room == NULL)
		goto out;
	memcpy(room, data + CF_FS_STAGE - 100, CF_FS_STAGE - CF_FS_ALIGN);
	CHECK_EQ(cf_fs_out_commit(&o, CF_FS_STAGE - CF_FS_ALIGN), 0);
	/* filling the stage to its end (rest: what stayed of the first piece) writes it */
	rest = (size_t)(room - stage);
	put(&o, data + 2 * CF_FS_STAGE - CF_FS_ALIGN - 100, CF_FS_ALIGN - rest, true);
	CHECK_EQ(o.fill, 0);
	CHECK_EQ(cf_fs_out_finish(&o, o.base), 0);
	check_contents(fd, data, (size_t)o.base);
out:
	(void)close(fd);
	free(data);
	cf_fs_stage_free(stage);
	th_rm_tree(dir);
	free(dir);
}

/* Random runs of data and holes, from one byte to past a whole stage, written both ways. */
CF_TEST(random_data_and_holes_read_back_exactly)
{
	char *dir = th_scratch("fs-out");
	enum { ROUNDS = 12, SEGS = 24 };
	uint8_t *stage = cf_fs_stage_new();
	uint8_t *data = malloc(CF_FS_STAGE * 2);

	CHECK(stage != NULL && data != NULL);
	th_randbuf(data, CF_FS_STAGE * 2);
	for (int round = 0; round < ROUNDS; round++) {
		size_t cap = SEGS * CF_FS_STAGE * 2;
		uint8_t *expect = calloc(1, cap);
		struct cf_fs_out o;
		int fd = new_file(dir, "random");
		size_t len = 0;

		CHECK(expect != NULL);
		cf_fs_out_start(&o, fd, round % 3 == 0 ? NULL : stage);
		for (int i = 0; i < SEGS; i++) {
			/* mostly small and ragged, sometimes block-sized, sometimes huge */
			size_t n = th_rand() % 4 == 0 ? (size_t)(th_rand() % (CF_FS_STAGE * 2)) + 1
			           : th_rand() % 2 == 0 ? CF_FS_ALIGN * (size_t)(1 + th_rand() % 4)
			                                : (size_t)(th_rand() % 9000) + 1;

			if (th_rand() % 3 == 0) {
				CHECK_EQ(cf_fs_out_hole(&o, n), 0);
			} else {
				put(&o, data, n, th_rand() % 2 == 0);
				memcpy(expect + len, data, n);
			}
			len += n;
		}
		CHECK_EQ(cf_fs_out_finish(&o, len), 0);
		check_contents(fd, expect, len);
		(void)close(fd);
		free(expect);
	}
	free(data);
	cf_fs_stage_free(stage);
	th_rm_tree(dir);
	free(dir);
}

/* The whole blocks of a large hole are not written, staged or not. */
CF_TEST(whole_blocks_of_a_hole_stay_unallocated)
{
	char *dir = th_scratch("fs-out");
	const size_t hole = 64 * CF_FS_STAGE;
	uint8_t *stage = cf_fs_stage_new();
	struct stat st;

	for (int staged = 0; staged < 2; staged++) {
		struct cf_fs_out o;
		int fd = new_file(dir, "sparse");

		cf_fs_out_start(&o, fd, staged ? stage : NULL);
		CHECK_EQ(cf_fs_out_write(&o, (const uint8_t *)"head", 4), 0);
		CHECK_EQ(cf_fs_out_hole(&o, hole), 0);
		CHECK_EQ(cf_fs_out_write(&o, (const uint8_t *)"tail", 4), 0);
		CHECK_EQ(cf_fs_out_finish(&o, hole + 8), 0);
		CHECK_EQ(fstat(fd, &st), 0);
		CHECK_EQ((uint64_t)st.st_size, (uint64_t)hole + 8);
		CHECK((uint64_t)st.st_blocks * 512 < hole / 2);
		(void)close(fd);
	}
	cf_fs_stage_free(stage);
	th_rm_tree(dir);
	free(dir);
}

CF_TEST(a_failed_write_or_size_is_reported)
{
	char *dir = th_scratch("fs-out");
	uint8_t *stage = cf_fs_stage_new();
	uint8_t buf[100] = {0};
	char *p = th_join(dir, "readonly");
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	struct cf_fs_out o;

	CHECK(fd >= 0);
	(void)close(fd);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	/* stageless: the write itself fails */
	cf_fs_out_start(&o, fd, NULL);
	errno = 0;
	CHECK_EQ(cf_fs_out_write(&o, buf, sizeof(buf)), -1);
	CHECK_EQ(errno, EBADF);
	/* staged: the failure shows when the stage is written, at the latest at the finish */
	cf_fs_out_start(&o, fd, stage);
	if (o.stage != NULL) {
		CHECK_EQ(cf_fs_out_write(&o, buf, sizeof(buf)), 0);
		CHECK_EQ(cf_fs_out_finish(&o, sizeof(buf)), -1);
	} else {
		CHECK_EQ(cf_fs_out_write(&o, buf, sizeof(buf)), -1);
	}
	/* staged: making room writes the stage */
	cf_fs_out_start(&o, fd, stage);
	if (o.stage != NULL) {
		uint8_t *room = NULL;

		for (size_t i = 0; i < CF_FS_STAGE / 2 / sizeof(buf); i++)
			CHECK_EQ(cf_fs_out_write(&o, buf, sizeof(buf)), 0);
		CHECK_EQ(cf_fs_out_space(&o, CF_FS_STAGE - CF_FS_ALIGN, &room), -1);
		CHECK(room == NULL);
	}
	/* a size that cannot be set */
	cf_fs_out_start(&o, fd, NULL);
	CHECK_EQ(cf_fs_out_finish(&o, 10), -1);
	(void)close(fd);
	free(p);
	cf_fs_stage_free(stage);
	th_rm_tree(dir);
	free(dir);
}
