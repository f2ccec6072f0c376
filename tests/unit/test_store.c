/*
 * test_store.c - the store wrapper and the local directory store (docs/format.md 3 and 14).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "fs/fs.h"
#include "harness.h"
#include "store/store.h"

#define NTHREADS 4
#define NNAMES   40

static void
scratch_done(char *dir)
{
	th_rm_tree(dir);
	free(dir);
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	char *p = th_join(dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CF_ASSERT(fd >= 0);
	CF_ASSERT(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	free(p);
}

/* A new repository in a scratch directory, with its genesis entry, open in *@s. */
static char *
new_repo(struct cf_store **s)
{
	char *dir = th_scratch("store");
	char *repo = th_join(dir, "repo");

	free(dir);
	CHECK_EQ(cf_store_open_local(repo, true, s), 0);
	CHECK_EQ(cf_store_put(*s, CF_OBJ_CHAIN, "0000000000000000", (const uint8_t *)"g", 1), 0);
	return repo;
}

static void
repo_done(struct cf_store *s, char *repo)
{
	char *slash = strrchr(repo, '/');

	cf_store_free(s);
	*slash = '\0';
	scratch_done(repo);
}

CF_TEST(test_kind_and_name)
{
	enum cf_obj_kind k = CF_OBJ_CHAIN;
	char longname[CF_OBJ_NAME_MAX + 2];

	CHECK(strcmp(cf_obj_kind_dir(CF_OBJ_CHAIN), "chain") == 0);
	CHECK(strcmp(cf_obj_kind_dir(CF_OBJ_KEYS), "keys") == 0);
	CHECK(strcmp(cf_obj_kind_dir(CF_OBJ_PACK), "packs") == 0);
	CHECK(strcmp(cf_obj_kind_dir(CF_OBJ_INDEX), "index") == 0);
	CHECK(strcmp(cf_obj_kind_dir(CF_OBJ_SNAPSHOT), "snapshots") == 0);
	CHECK(cf_obj_kind_dir((enum cf_obj_kind)0) == NULL);
	CHECK(strcmp(cf_obj_kind_dir(CF_OBJ_FORGET), "forgets") == 0);
	CHECK(strcmp(cf_obj_kind_dir(CF_OBJ_PRUNE), "prune") == 0);
	CHECK(cf_obj_kind_dir((enum cf_obj_kind)9) == NULL);
	CHECK(cf_obj_kind_parse("snapshots", &k) == 0 && k == CF_OBJ_SNAPSHOT);
	CHECK(cf_obj_kind_parse("tmp", &k) == CF_EINVAL);

	CHECK_EQ(cf_obj_name_valid("0123456789abcdef"), 0);
	CHECK_EQ(cf_obj_name_valid("ab-00000001"), 0);
	CHECK_EQ(cf_obj_name_valid("-"), 0);
	CHECK_EQ(cf_obj_name_valid(""), CF_EINVAL);
	CHECK_EQ(cf_obj_name_valid(NULL), CF_EINVAL);
	CHECK_EQ(cf_obj_name_valid("../x"), CF_EINVAL);
	CHECK_EQ(cf_obj_name_valid("A"), CF_EINVAL);
	CHECK_EQ(cf_obj_name_valid("ab.tmp"), CF_EINVAL);
	CHECK_EQ(cf_obj_name_valid("ab/cd"), CF_EINVAL);
	CHECK_EQ(cf_obj_name_valid("ab\ncd"), CF_EINVAL);
	memset(longname, 'a', sizeof(longname));
	longname[CF_OBJ_NAME_MAX] = '\0';
	CHECK_EQ(cf_obj_name_valid(longname), 0);
	longname[CF_OBJ_NAME_MAX] = 'a';
	longname[CF_OBJ_NAME_MAX + 1] = '\0';
	CHECK_EQ(cf_obj_name_valid(longname), CF_EINVAL);
}

CF_TEST(test_create_open)
{
	struct cf_store *s = NULL;
	char *dir = th_scratch("store");
	char *repo = th_join(dir, "repo");
	struct stat st;

	CHECK_EQ(cf_store_open_local(repo, false, &s), CF_ENOREPO);
	CHECK(s == NULL);
	CHECK(strstr(cf_err_last(), "repository '") != NULL);
	CHECK(strstr(cf_err_last(), "' does not exist") != NULL);

	CHECK_EQ(cf_store_open_local(repo, true, &s), 0);
	CHECK(strcmp(cf_store_location(s), repo) == 0);
	cf_store_free(s);
	s = NULL;
	CHECK(stat(repo, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(th_exists(repo, "chain") && th_exists(repo, "keys") && th_exists(repo, "packs"));
	CHECK(th_exists(repo, "index") && th_exists(repo, "snapshots") && th_exists(repo, "tmp"));
	CHECK(stat(repo, &st) == 0 && S_ISDIR(st.st_mode));

	/* Made but no genesis entry yet: not a repository; create can be run again. */
	CHECK_EQ(cf_store_open_local(repo, false, &s), CF_ENOREPO);
	CHECK_EQ(cf_store_open_local(repo, true, &s), 0);
	CHECK_EQ(cf_store_put(s, CF_OBJ_CHAIN, "0000000000000000", (const uint8_t *)"x", 1), 0);
	cf_store_free(s);
	s = NULL;

	CHECK_EQ(cf_store_open_local(repo, false, &s), 0);
	cf_store_free(s);
	s = NULL;
	CHECK_EQ(cf_store_open_local(repo, true, &s), CF_EEXIST);
	CHECK(s == NULL);
	CHECK(strstr(cf_err_last(), "already exists") != NULL);

	free(repo);
	scratch_done(dir);
}

CF_TEST(test_create_over_directory)
{
	struct cf_store *s = NULL;
	char *dir = th_scratch("store");
	char *chain = th_join(dir, "chain");

	/* An unrelated non-empty directory is fine. */
	write_file(dir, "notes", "hello");
	CHECK_EQ(cf_store_open_local(dir, true, &s), 0);
	cf_store_free(s);
	s = NULL;
	/* Object directories that hold something are not. */
	write_file(chain, "0000000000000001", "x");
	CHECK_EQ(cf_store_open_local(dir, true, &s), CF_EEXIST);
	CHECK(strstr(cf_err_last(), "is not empty") != NULL);
	/* A file where the directory should be. */
	write_file(dir, "plain", "x");
	free(chain);
	chain = th_join(dir, "plain");
	CHECK_EQ(cf_store_open_local(chain, true, &s), CF_ESYS);
	CHECK(s == NULL);
	CHECK_EQ(cf_store_open_local(chain, false, &s), CF_ENOREPO);
	CHECK(s == NULL);
	free(chain);
	scratch_done(dir);
}

CF_TEST(test_put_get)
{
	struct cf_store *s = NULL;
	char *repo = new_repo(&s);
	uint8_t data[5000];
	uint8_t *out = NULL;
	size_t outlen = 0;
	uint64_t size = 0;

	th_randbuf(data, sizeof(data));
	CHECK_EQ(cf_store_put(s, CF_OBJ_PACK, "ab12", data, sizeof(data)), 0);
	CHECK(th_exists(repo, "packs/ab/ab12"));
	CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, "ab12", 0, SIZE_MAX, sizeof(data), &out, &outlen), 0);
	CHECK(outlen == sizeof(data) && memcmp(out, data, sizeof(data)) == 0);
	cf_free(out);
	CHECK_EQ(cf_store_size(s, CF_OBJ_PACK, "ab12", &size), 0);
	CHECK_EQ(size, sizeof(data));

	/* Write-once: a second put neither succeeds nor replaces. */
	CHECK_EQ(cf_store_put(s, CF_OBJ_PACK, "ab12", (const uint8_t *)"other", 5), CF_EEXIST);
	CHECK(strstr(cf_err_last(), "already exists") != NULL);
	CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, "ab12", 0, SIZE_MAX, SIZE_MAX, &out, &outlen), 0);
	CHECK(outlen == sizeof(data) && memcmp(out, data, sizeof(data)) == 0);
	cf_free(out);

	/* Empty objects, every kind. */
	CHECK_EQ(cf_store_put(s, CF_OBJ_INDEX, "00", NULL, 0), 0);
	CHECK_EQ(cf_store_get(s, CF_OBJ_INDEX, "00", 0, SIZE_MAX, 0, &out, &outlen), 0);
	CHECK(out != NULL && outlen == 0);
	cf_free(out);
	CHECK_EQ(cf_store_put(s, CF_OBJ_KEYS, "ab-00000001", data, 10), 0);
	CHECK_EQ(cf_store_put(s, CF_OBJ_SNAPSHOT, "ff", data, 10), 0);
	CHECK(th_exists(repo, "keys/ab-00000001") && th_exists(repo, "snapshots/ff"));
	CHECK(th_exists(repo, "index/00"));

	/* Missing objects name themselves. */
	CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, "ab13", 0, SIZE_MAX, SIZE_MAX, &out, &outlen),
	         CF_ENOENT);
	CHECK(out == NULL && outlen == 0);
	CHECK(strcmp(cf_err_last(), "object 'packs/ab13' not found") == 0);
	CHECK_EQ(cf_store_size(s, CF_OBJ_SNAPSHOT, "00", &size), CF_ENOENT);
	CHECK_EQ(th_count_entries(repo, "tmp"), 0);
	repo_done(s, repo);
}

CF_TEST(test_ranges)
{
	struct cf_store *s = NULL;
	char *repo = new_repo(&s);
	uint8_t data[1000];
	uint8_t *out = NULL;
	size_t outlen = 0;

	th_randbuf(data, sizeof(data));
	CHECK_EQ(cf_store_put(s, CF_OBJ_PACK, "0f", data, sizeof(data)), 0);
	CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, "0f", 100, 50, 1000, &out, &outlen), 0);
	CHECK(outlen == 50 && memcmp(out, data + 100, 50) == 0);
	cf_free(out);
	CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, "0f", 990, SIZE_MAX, 1000, &out, &outlen), 0);
	CHECK(outlen == 10 && memcmp(out, data + 990, 10) == 0);
	cf_free(out);
	CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, "0f", 1000, SIZE_MAX, 1000, &out, &outlen), 0);
	CHECK(outlen == 0);
	cf_free(out);
	CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, "0f", 1000, 0, SIZE_MAX, &out, &outlen), 0);
	cf_free(out);
	CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, "0f", 0, 1000, 1000, &out, &outlen), 0);
	CHECK(outlen == 1000 && memcmp(out, data, 1000) == 0);
	cf_free(out);

	/* Past the end. */
	CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, "0f", 999, 2, 1000, &out, &outlen), CF_ETRUNC);
	CHECK(strstr(cf_err_last(), "past its end") != NULL);
	CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, "0f", 1001, SIZE_MAX, 1000, &out, &outlen),
	         CF_ETRUNC);
	CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, "0f", 1001, 0, 1000, &out, &outlen), CF_ETRUNC);
	CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, "0f", UINT64_MAX, 2, 1000, &out, &outlen), CF_ETRUNC);
	CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, "0f", 1, SIZE_MAX - 1, SIZE_MAX, &out, &outlen),
	         CF_ETRUNC);
	CHECK(out == NULL && outlen == 0);

	/* An object over @max is refused, whatever range is asked for. */
	CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, "0f", 0, SIZE_MAX, 999, &out, &outlen), CF_ETOOBIG);
	CHECK(strstr(cf_err_last(), "over the limit 999") != NULL);
	CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, "0f", 0, SIZE_MAX, 0, &out, &outlen), CF_ETOOBIG);
	CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, "0f", 10, 20, 999, &out, &outlen), CF_ETOOBIG);
	CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, "0f", 2000, 20, 999, &out, &outlen), CF_ETOOBIG);
	CHECK(out == NULL && outlen == 0);
	repo_done(s, repo);
}

/* get_buf reads [@off, @off + @len) of @data (an object "0e" of @size bytes) through @b. */
static void
check_get_buf(struct cf_store *s, struct cf_rbuf *b, const uint8_t *data, uint64_t off, size_t len)
{
	const uint8_t *got = NULL;

	CHECK_EQ(cf_store_get_buf(s, CF_OBJ_PACK, "0e", off, len, 1 << 20, b, &got), 0);
	CHECK(got != NULL && got >= b->p && got + len <= b->p + b->cap);
	if (got != NULL && len > 0)
		CHECK(memcmp(got, data + off, len) == 0);
}

/*
 * Ranges at and off the block boundaries of direct reads, into one buffer, which @keeps
 * (the local store) holds its largest size from read to read.
 */
static void
check_get_buf_ranges(struct cf_store *s, const uint8_t *data, size_t size, bool keeps)
{
	static const uint64_t ranges[][2] = {
	        {0, 10000}, {1, 1},     {4095, 2},   {4096, 4096}, {5000, 5000},
	        {9999, 1},  {10000, 0}, {123, 4000}, {8191, 1809}, {0, 1},
	};
	struct cf_rbuf b = {0};
	const uint8_t *got = NULL;

	CF_ASSERT(size == 10000);
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		check_get_buf(s, &b, data, ranges[i][0], (size_t)ranges[i][1]);
	if (keeps)
		CHECK(b.cap >= 10000 && (uintptr_t)b.p % CF_FS_ALIGN == 0);
	/* Past the end, over the limit, missing: the errors of cf_store_get(). */
	CHECK_EQ(cf_store_get_buf(s, CF_OBJ_PACK, "0e", 9999, 2, 1 << 20, &b, &got), CF_ETRUNC);
	CHECK(got == NULL && strstr(cf_err_last(), "past its end") != NULL);
	CHECK_EQ(cf_store_get_buf(s, CF_OBJ_PACK, "0e", UINT64_MAX, 2, 1 << 20, &b, &got),
	         CF_ETRUNC);
	CHECK_EQ(cf_store_get_buf(s, CF_OBJ_PACK, "0e", 0, 10, 9999, &b, &got), CF_ETOOBIG);
	CHECK_EQ(cf_store_get_buf(s, CF_OBJ_PACK, "0d", 0, 10, 1 << 20, &b, &got), CF_ENOENT);
	CHECK_EQ(cf_store_get_buf(s, CF_OBJ_PACK, "zz", 0, 10, 1 << 20, &b, &got), CF_EINVAL);
	CHECK(got == NULL);
	check_get_buf(s, &b, data, 77, 7000); /* the buffer still works after failures */
	cf_rbuf_free(&b);
	CHECK(b.p == NULL && b.cap == 0);
}

/* Both ways a local store reads: direct (where the file system takes it) and buffered. */
CF_TEST(test_get_buf_local)
{
	uint8_t data[10000];

	th_randbuf(data, sizeof(data));
	for (int direct = 1; direct >= 0; direct--) {
		struct cf_store *s = NULL;
		char *repo = NULL;

		cf_store_local_direct_reads(direct != 0);
		repo = new_repo(&s);
		cf_store_local_direct_reads(true);
		CHECK_EQ(cf_store_put(s, CF_OBJ_PACK, "0e", data, sizeof(data)), 0);
		check_get_buf_ranges(s, data, sizeof(data), true);
		repo_done(s, repo);
	}
}

/* A buffer grown for one large read is given back at the next small one. */
CF_TEST(test_get_buf_gives_back_a_large_buffer)
{
	struct cf_store *s = NULL;
	char *repo = new_repo(&s);
	size_t big = CF_RBUF_KEEP + 12345;
	uint8_t *data = malloc(big);
	struct cf_rbuf b = {0};
	const uint8_t *got = NULL;

	CHECK(data != NULL);
	if (data == NULL)
		goto out;
	th_randbuf(data, big);
	CHECK_EQ(cf_store_put(s, CF_OBJ_PACK, "0e", data, big), 0);
	CHECK_EQ(cf_store_get_buf(s, CF_OBJ_PACK, "0e", 1, big - 1, big, &b, &got), 0);
	CHECK(got != NULL && memcmp(got, data + 1, big - 1) == 0 && b.cap > CF_RBUF_KEEP);
	CHECK_EQ(cf_store_get_buf(s, CF_OBJ_PACK, "0e", 4000, 200, big, &b, &got), 0);
	CHECK(got != NULL && memcmp(got, data + 4000, 200) == 0 && b.cap <= CF_RBUF_KEEP);
	cf_rbuf_free(&b);
out:
	free(data);
	repo_done(s, repo);
}

/*
 * A buffer grows at least twofold, so reads of slowly growing length reuse it; one grown for
 * a slightly longer read than the last holds the next few as well.
 */
CF_TEST(test_get_buf_grows_twofold)
{
	struct cf_store *s = NULL;
	char *repo = new_repo(&s);
	size_t len = (size_t)1 << 20;
	uint8_t *data = malloc(len);
	struct cf_rbuf b = {0};
	const uint8_t *got = NULL;
	uint8_t *first = NULL;
	size_t cap = 0;

	CHECK(data != NULL);
	if (data == NULL)
		goto out;
	th_randbuf(data, len);
	CHECK_EQ(cf_store_put(s, CF_OBJ_PACK, "0e", data, len), 0);
	CHECK_EQ(cf_store_get_buf(s, CF_OBJ_PACK, "0e", 0, 100000, len, &b, &got), 0);
	cap = b.cap;
	CHECK_EQ(cf_store_get_buf(s, CF_OBJ_PACK, "0e", 0, cap + 1, len, &b, &got), 0);
	CHECK(got != NULL && memcmp(got, data, cap + 1) == 0 && b.cap >= 2 * cap);
	first = b.p;
	CHECK_EQ(cf_store_get_buf(s, CF_OBJ_PACK, "0e", 7, cap + 5000, len, &b, &got), 0);
	CHECK(got != NULL && memcmp(got, data + 7, cap + 5000) == 0 && b.p == first);
	cf_rbuf_free(&b);
out:
	free(data);
	repo_done(s, repo);
}

/* A store with only get(): cf_store_get_buf() takes get()'s buffer. */
static int
mem_get(void *ctx, enum cf_obj_kind kind, const char *name, uint64_t off, size_t len, size_t max,
        uint8_t **out, size_t *outlen)
{
	const uint8_t *data = ctx;
	uint64_t end = 0;

	(void)kind;
	if (strcmp(name, "0e") != 0)
		return cf_err_set(CF_ENOENT, "object 'packs/%s' not found", name);
	if (max < 10000)
		return CF_ETOOBIG;
	if (off > 10000 || cf_u64_add(off, len, &end) != 0 || end > 10000)
		return cf_err_set(CF_ETRUNC, "range past its end");
	if ((*out = cf_malloc(len > 0 ? len : 1)) == NULL)
		return CF_ENOMEM;
	memcpy(*out, data + off, len);
	*outlen = len;
	return 0;
}

static void
mem_free(void *ctx)
{
	(void)ctx;
}

CF_TEST(test_get_buf_generic)
{
	static const struct cf_store_ops ops = {.get = mem_get, .free = mem_free};
	struct cf_store *s = NULL;
	uint8_t data[10000];

	th_randbuf(data, sizeof(data));
	CHECK_EQ(cf_store_new(&ops, data, "mem", &s), 0);
	if (s != NULL)
		check_get_buf_ranges(s, data, sizeof(data), false);
	cf_store_free(s);
}

struct seen {
	char names[64][CF_OBJ_NAME_MAX + 1];
	uint64_t sizes[64];
	int n;
	int stop_after;
};

static int
collect(void *arg, const char *name, uint64_t size)
{
	struct seen *sn = arg;

	CF_ASSERT(sn->n < 64);
	snprintf(sn->names[sn->n], sizeof(sn->names[0]), "%s", name);
	sn->sizes[sn->n] = size;
	sn->n++;
	if (sn->stop_after != 0 && sn->n == sn->stop_after)
		return 42;
	return 0;
}

static bool
seen_has(const struct seen *sn, const char *name, uint64_t size)
{
	for (int i = 0; i < sn->n; i++) {
		if (strcmp(sn->names[i], name) == 0)
			return sn->sizes[i] == size;
	}
	return false;
}

CF_TEST(test_list)
{
	static const char *const packs[] = {"00aa", "00bb", "ab", "ff01", "ff02", "7a-"};
	struct cf_store *s = NULL;
	char *repo = new_repo(&s);
	struct seen sn = {0};
	char *sub = NULL;
	size_t i;

	for (i = 0; i < CF_ARRAY_LEN(packs); i++)
		CHECK_EQ(cf_store_put(s, CF_OBJ_PACK, packs[i], (const uint8_t *)"0123456789", i),
		         0);
	CHECK_EQ(cf_store_put(s, CF_OBJ_INDEX, "01", (const uint8_t *)"abc", 3), 0);
	/* Things a listing must not report. */
	write_file(repo, "tmp/0123456789abcdef0123456789abcdef.tmp", "partial");
	write_file(repo, "packs/00/ab", "misplaced");
	write_file(repo, "packs/00/ZZ", "bad name");
	write_file(repo, "packs/notes", "x");
	write_file(repo, "index/01.tmp", "x");
	write_file(repo, "index/.hidden", "x");
	sub = th_join(repo, "packs/0g");
	CHECK(mkdir(sub, 0700) == 0);
	free(sub);
	sub = th_join(repo, "index/0a");
	CHECK(mkdir(sub, 0700) == 0);
	free(sub);
	sub = th_join(repo, "index/02");
	CHECK(symlink("01", sub) == 0);
	free(sub);

	CHECK_EQ(cf_store_list(s, CF_OBJ_PACK, collect, &sn), 0);
	CHECK_EQ(sn.n, (int)CF_ARRAY_LEN(packs));
	for (i = 0; i < CF_ARRAY_LEN(packs); i++)
		CHECK(seen_has(&sn, packs[i], i));
	memset(&sn, 0, sizeof(sn));
	CHECK_EQ(cf_store_list(s, CF_OBJ_INDEX, collect, &sn), 0);
	CHECK(sn.n == 1 && seen_has(&sn, "01", 3));
	memset(&sn, 0, sizeof(sn));
	CHECK_EQ(cf_store_list(s, CF_OBJ_CHAIN, collect, &sn), 0);
	CHECK(sn.n == 1 && seen_has(&sn, "0000000000000000", 1));
	memset(&sn, 0, sizeof(sn));
	CHECK_EQ(cf_store_list(s, CF_OBJ_SNAPSHOT, collect, &sn), 0);
	CHECK_EQ(sn.n, 0);

	/* The callback's non-zero return stops the listing and is returned. */
	memset(&sn, 0, sizeof(sn));
	sn.stop_after = 2;
	CHECK_EQ(cf_store_list(s, CF_OBJ_PACK, collect, &sn), 42);
	CHECK_EQ(sn.n, 2);
	CHECK_EQ(cf_store_list(s, (enum cf_obj_kind)9, collect, &sn), CF_EINVAL);
	repo_done(s, repo);
}

CF_TEST(test_delete)
{
	struct cf_store *s = NULL;
	char *repo = new_repo(&s);
	uint8_t *out = NULL;
	size_t outlen = 0;
	uint64_t size = 0;

	CHECK_EQ(cf_store_put(s, CF_OBJ_PACK, "cafe", (const uint8_t *)"x", 1), 0);
	CHECK_EQ(cf_store_delete(s, CF_OBJ_PACK, "cafe"), 0);
	CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, "cafe", 0, SIZE_MAX, 10, &out, &outlen), CF_ENOENT);
	CHECK_EQ(cf_store_size(s, CF_OBJ_PACK, "cafe", &size), CF_ENOENT);
	CHECK_EQ(cf_store_delete(s, CF_OBJ_PACK, "cafe"), CF_ENOENT);
	CHECK(strcmp(cf_err_last(), "object 'packs/cafe' not found") == 0);
	/* Once deleted, the name can be written again. */
	CHECK_EQ(cf_store_put(s, CF_OBJ_PACK, "cafe", (const uint8_t *)"yz", 2), 0);
	CHECK_EQ(cf_store_size(s, CF_OBJ_PACK, "cafe", &size), 0);
	CHECK_EQ(size, 2);
	repo_done(s, repo);
}

CF_TEST(test_bad_names)
{
	static const char *const bad[] = {"../x", "", "A", "ab/cd", ".", "..", "x y"};
	struct cf_store *s = NULL;
	char *repo = new_repo(&s);
	char longname[CF_OBJ_NAME_MAX + 2];
	uint8_t *out = NULL;
	size_t outlen = 0;
	uint64_t size = 0;

	for (size_t i = 0; i < CF_ARRAY_LEN(bad); i++) {
		CHECK_EQ(cf_store_put(s, CF_OBJ_INDEX, bad[i], (const uint8_t *)"x", 1), CF_EINVAL);
		CHECK_EQ(cf_store_get(s, CF_OBJ_INDEX, bad[i], 0, SIZE_MAX, 9, &out, &outlen),
		         CF_EINVAL);
		CHECK_EQ(cf_store_size(s, CF_OBJ_INDEX, bad[i], &size), CF_EINVAL);
		CHECK_EQ(cf_store_delete(s, CF_OBJ_INDEX, bad[i]), CF_EINVAL);
	}
	CHECK_EQ(cf_store_put(s, CF_OBJ_INDEX, NULL, (const uint8_t *)"x", 1), CF_EINVAL);
	memset(longname, 'a', sizeof(longname));
	longname[CF_OBJ_NAME_MAX + 1] = '\0';
	CHECK_EQ(cf_store_put(s, CF_OBJ_PACK, longname, (const uint8_t *)"x", 1), CF_EINVAL);
	longname[CF_OBJ_NAME_MAX] = '\0';
	CHECK_EQ(cf_store_put(s, CF_OBJ_PACK, longname, (const uint8_t *)"x", 1), 0);
	CHECK(th_exists(repo, "packs/aa"));
	/* A pack name must fan out by two hex digits. */
	CHECK_EQ(cf_store_put(s, CF_OBJ_PACK, "a", (const uint8_t *)"x", 1), CF_EINVAL);
	CHECK_EQ(cf_store_put(s, CF_OBJ_PACK, "-a", (const uint8_t *)"x", 1), CF_EINVAL);
	CHECK_EQ(cf_store_put(s, CF_OBJ_PACK, "a-", (const uint8_t *)"x", 1), CF_EINVAL);
	CHECK_EQ(cf_store_put(s, CF_OBJ_INDEX, "a", (const uint8_t *)"x", 1), 0);
	CHECK_EQ(cf_store_put(s, (enum cf_obj_kind)0, "ab", (const uint8_t *)"x", 1), CF_EINVAL);
	CHECK_EQ(cf_store_put(s, (enum cf_obj_kind)9, "ab", (const uint8_t *)"x", 1), CF_EINVAL);
	CHECK_EQ(th_count_entries(repo, "tmp"), 0);
	repo_done(s, repo);
}

static int
collect_none(void *arg, const char *name, uint64_t size)
{
	(void)arg;
	(void)name;
	(void)size;
	return 1;
}

CF_TEST(test_not_regular)
{
	struct cf_store *s = NULL;
	char *repo = new_repo(&s);
	char *p = th_join(repo, "snapshots/aa");
	uint8_t *out = NULL;
	size_t outlen = 0;
	uint64_t size = 0;

	/* A symlink is never followed; a directory is not an object. */
	CHECK(symlink("/etc/passwd", p) == 0);
	CHECK_EQ(cf_store_get(s, CF_OBJ_SNAPSHOT, "aa", 0, SIZE_MAX, 1 << 20, &out, &outlen),
	         CF_ESYS);
	CHECK(out == NULL);
	CHECK_EQ(cf_store_size(s, CF_OBJ_SNAPSHOT, "aa", &size), CF_ESYS);
	free(p);
	p = th_join(repo, "snapshots/bb");
	CHECK(mkdir(p, 0700) == 0);
	CHECK_EQ(cf_store_get(s, CF_OBJ_SNAPSHOT, "bb", 0, SIZE_MAX, 10, &out, &outlen), CF_ESYS);
	CHECK(strstr(cf_err_last(), "not a regular file") != NULL);
	CHECK_EQ(cf_store_put(s, CF_OBJ_SNAPSHOT, "bb", (const uint8_t *)"x", 1), CF_EEXIST);
	free(p);
	/* A failed link leaves no temporary file behind and names the path. */
	p = th_join(repo, "keys");
	CHECK(rmdir(p) == 0);
	CHECK_EQ(cf_store_put(s, CF_OBJ_KEYS, "ab-00000001", (const uint8_t *)"x", 1), CF_ESYS);
	CHECK(strstr(cf_err_last(), "cannot write '") != NULL);
	CHECK(strstr(cf_err_last(), "/keys/ab-00000001'") != NULL);
	CHECK_EQ(cf_store_list(s, CF_OBJ_KEYS, collect_none, NULL), CF_ESYS);
	free(p);
	CHECK_EQ(th_count_entries(repo, "tmp"), 0);
	repo_done(s, repo);
}

struct worker {
	struct cf_store *s;
	pthread_barrier_t *barrier;
	int id;
	bool same;
	int won[NNAMES];
	int failed;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	char name[32];
	uint8_t data[300];

	memset(data, w->id, sizeof(data));
	(void)pthread_barrier_wait(w->barrier);
	for (int i = 0; i < NNAMES; i++) {
		int rc;

		snprintf(name, sizeof(name), "%02x%02x", w->same ? 0 : w->id, i);
		rc = cf_store_put(w->s, CF_OBJ_PACK, name, data, sizeof(data));
		if (rc == 0)
			w->won[i] = 1;
		else if (rc != CF_EEXIST || !w->same)
			w->failed++;
	}
	return NULL;
}

static void
run_workers(struct cf_store *s, bool same, struct worker *w)
{
	pthread_t t[NTHREADS];
	pthread_barrier_t barrier;

	CF_ASSERT(pthread_barrier_init(&barrier, NULL, NTHREADS) == 0);
	for (int i = 0; i < NTHREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].s = s;
		w[i].barrier = &barrier;
		w[i].id = i + 1;
		w[i].same = same;
		CF_ASSERT(pthread_create(&t[i], NULL, worker_run, &w[i]) == 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		CF_ASSERT(pthread_join(t[i], NULL) == 0);
	pthread_barrier_destroy(&barrier);
}

static int
count_cb(void *arg, const char *name, uint64_t size)
{
	(void)name;
	if (size == 300)
		(*(int *)arg)++;
	return 0;
}

CF_TEST(test_concurrent_puts)
{
	struct worker w[NTHREADS];
	struct cf_store *s = NULL;
	char *repo = new_repo(&s);
	uint8_t *out = NULL;
	size_t outlen = 0;
	int n = 0;

	run_workers(s, false, w);
	for (int i = 0; i < NTHREADS; i++) {
		CHECK_EQ(w[i].failed, 0);
		for (int j = 0; j < NNAMES; j++)
			CHECK_EQ(w[i].won[j], 1);
	}
	CHECK_EQ(cf_store_list(s, CF_OBJ_PACK, count_cb, &n), 0);
	CHECK_EQ(n, NTHREADS * NNAMES);

	/* All threads race for the same names: exactly one put of each wins, intact. */
	run_workers(s, true, w);
	for (int j = 0; j < NNAMES; j++) {
		char name[32];
		int winner = 0;
		int wins = 0;

		for (int i = 0; i < NTHREADS; i++) {
			wins += w[i].won[j];
			if (w[i].won[j])
				winner = w[i].id;
		}
		CHECK_EQ(wins, 1);
		snprintf(name, sizeof(name), "00%02x", j);
		CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, name, 0, SIZE_MAX, 300, &out, &outlen), 0);
		CHECK(outlen == 300 && out[0] == winner && out[299] == winner);
		cf_free(out);
	}
	for (int i = 0; i < NTHREADS; i++)
		CHECK_EQ(w[i].failed, 0);
	CHECK_EQ(th_count_entries(repo, "tmp"), 0);
	repo_done(s, repo);
}

/* Every allocation in turn fails: a clean error, no leak (ASan checks), no temp file left. */
CF_TEST(test_alloc_failures)
{
	struct cf_store *s = NULL;
	char *repo = new_repo(&s);
	uint8_t *out = NULL;
	size_t outlen = 0;
	int rc;

	cf_store_free(s);
	s = NULL;
	for (uint64_t n = 1; n < 20; n++) {
		cf_alloc_fail_after(n);
		rc = cf_store_open_local(repo, false, &s);
		if (rc == 0) {
			rc = cf_store_get(s, CF_OBJ_CHAIN, "0000000000000000", 0, SIZE_MAX, 10,
			                  &out, &outlen);
			CHECK(rc == 0 || rc == CF_ENOMEM);
			cf_free(out);
			out = NULL;
		}
		cf_alloc_fail_after(0);
		CHECK(rc == 0 || rc == CF_ENOMEM);
		CHECK(rc != 0 || s != NULL);
		cf_store_free(s);
		s = NULL;
	}
	CHECK_EQ(cf_store_open_local(repo, false, &s), 0);
	CHECK_EQ(th_count_entries(repo, "tmp"), 0);
	repo_done(s, repo);
}
