/*
 * fs_out.c - write a file front to back, holes included, past the page cache where the file
 * system allows it. On this machine a write through the page cache costs about 2.2 s of
 * kernel CPU per GiB (copying into new page-cache pages), a direct write 0.1 s
 * (docs/benchmarks.md, "Restore and the page cache").
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../base/base.h"
#include "fs.h"

#define ROUND_DOWN(x) ((x) & ~(uint64_t)(CF_FS_ALIGN - 1))
#define ROUND_UP(x)   ROUND_DOWN((x) + CF_FS_ALIGN - 1)

uint8_t *
cf_fs_stage_new(void)
{
	return cf_malloc_aligned(CF_FS_ALIGN, CF_FS_STAGE);
}

void
cf_fs_stage_free(uint8_t *stage)
{
	cf_free_wipe(stage, CF_FS_STAGE);
}

int
cf_fs_pwrite_direct(int fd, const uint8_t *p, size_t len, uint64_t off, bool *direct)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EINVAL && *direct) {
			/* the file system takes no direct writes, or not at this alignment */
			if (cf_fs_set_direct(fd, false) != 0)
				return -1;
			*direct = false;
			continue;
		}
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		if (*direct && (size_t)n % CF_FS_ALIGN != 0) {
			if (cf_fs_set_direct(fd, false) != 0)
				return -1;
			*direct = false;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

void
cf_fs_out_start(struct cf_fs_out *o, int fd, uint8_t *stage)
{
	memset(o, 0, sizeof(*o));
	o->fd = fd;
	if (stage != NULL && cf_fs_set_direct(fd, true) == 0) {
		o->stage = stage;
		o->direct = true;
	}
}

/* Write the staged bytes, padded with zeros to a whole block, and start a new stage at @next. */
static int
flush_stage(struct cf_fs_out *o, uint64_t next)
{
	size_t len = (size_t)ROUND_UP(o->fill);

	if (len > o->fill)
		memset(o->stage + o->fill, 0, len - o->fill);
	if (len > 0 && cf_fs_pwrite_direct(o->fd, o->stage, len, o->base, &o->direct) != 0)
		return -1;
	if (len > 0)
		o->end = o->base + len;
	o->base = next;
	o->fill = 0;
	return 0;
}

/* Append @len bytes of @p, or of zeros when @p is NULL, to the stage. */
static int
stage_bytes(struct cf_fs_out *o, const uint8_t *p, size_t len)
{
	while (len > 0) {
		size_t n = CF_FS_STAGE - o->fill < len ? CF_FS_STAGE - o->fill : len;

		if (p != NULL) {
			memcpy(o->stage + o->fill, p, n);
			p += n;
		} else {
			memset(o->stage + o->fill, 0, n);
		}
		o->fill += n;
		len -= n;
		if (o->fill == CF_FS_STAGE && flush_stage(o, o->base + CF_FS_STAGE) != 0)
			return -1;
	}
	return 0;
}

int
cf_fs_out_write(struct cf_fs_out *o, const uint8_t *p, size_t len)
{
	if (o->stage == NULL) {
		bool direct = false;

		if (cf_fs_pwrite_direct(o->fd, p, len, o->base, &direct) != 0)
			return -1;
		o->base += len;
		o->end = o->base;
		return 0;
	}
	return stage_bytes(o, p, len);
}

/* Write the whole blocks staged and move the rest (under one block) to the stage's front. */
static int
flush_whole(struct cf_fs_out *o)
{
	size_t whole = (size_t)ROUND_DOWN(o->fill);
	size_t rest = o->fill - whole;

	if (whole == 0)
		return 0;
	if (cf_fs_pwrite_direct(o->fd, o->stage, whole, o->base, &o->direct) != 0)
		return -1;
	o->end = o->base + whole;
	memmove(o->stage, o->stage + whole, rest);
	o->base += whole;
	o->fill = rest;
	return 0;
}

int
cf_fs_out_space(struct cf_fs_out *o, size_t len, uint8_t **p)
{
	*p = NULL;
	if (o->stage == NULL || len > CF_FS_STAGE - CF_FS_ALIGN)
		return 0;
	if (CF_FS_STAGE - o->fill < len && flush_whole(o) != 0)
		return -1;
	*p = o->stage + o->fill;
	return 0;
}

int
cf_fs_out_commit(struct cf_fs_out *o, size_t len)
{
	CF_ASSERT(o->stage != NULL && len <= CF_FS_STAGE - o->fill);
	o->fill += len;
	if (o->fill == CF_FS_STAGE)
		return flush_stage(o, o->base + CF_FS_STAGE);
	return 0;
}

/*
 * The whole blocks inside a hole are skipped; the zeros at its ragged edges are written, so
 * every direct write stays a whole number of blocks at a block boundary.
 */
int
cf_fs_out_hole(struct cf_fs_out *o, uint64_t len)
{
	uint64_t at = o->base + o->fill;
	uint64_t first = ROUND_UP(at);
	uint64_t last = ROUND_DOWN(at + len);

	if (o->stage == NULL) {
		o->base += len;
		return 0;
	}
	if (last <= first)
		return stage_bytes(o, NULL, (size_t)len);
	if (stage_bytes(o, NULL, (size_t)(first - at)) != 0 || flush_stage(o, last) != 0)
		return -1;
	return stage_bytes(o, NULL, (size_t)(at + len - last));
}

/*
 * The staged whole blocks are written directly; a last partial block goes through the page
 * cache. Padding it and cutting the file back instead would make ext4 read that block from
 * the disk again to zero its tail: one synchronous read for every file.
 */
int
cf_fs_out_finish(struct cf_fs_out *o, uint64_t size)
{
	if (o->stage != NULL) {
		size_t whole = (size_t)ROUND_DOWN(o->fill);
		size_t rest = o->fill - whole;
		bool direct = false;

		o->fill = whole;
		if (flush_stage(o, o->base + whole) != 0)
			return -1;
		if (o->direct && cf_fs_set_direct(o->fd, false) != 0)
			return -1;
		o->direct = false;
		if (rest > 0 &&
		    cf_fs_pwrite_direct(o->fd, o->stage + whole, rest, o->base, &direct) != 0)
			return -1;
		if (rest > 0)
			o->end = o->base + rest;
	}
	o->stage = NULL;
	if (o->direct && cf_fs_set_direct(o->fd, false) != 0)
		return -1; /* the file's readers need no alignment */
	o->direct = false;
	return o->end == size ? 0 : ftruncate(o->fd, (off_t)size);
}
