/*
 * fs.h - the Linux file-system calls that POSIX does not offer (extended attributes, holes,
 * O_NOATIME), kept in one module so the rest of the library stays POSIX.
 */
#ifndef CF_FS_H
#define CF_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../base/compat.h"

struct cf_xattr;

/*
 * cf_fs_read_xattrs() - every extended attribute of the open file @fd, sorted by name.
 * Attributes the file system refuses to list (ENOTSUP) give an empty list. *@out: free with
 * cf_fs_xattrs_free. Returns 0, CF_ETOOBIG (over the tree format's limits), CF_ESYS or
 * CF_ENOMEM.
 */
int cf_fs_read_xattrs(int fd, struct cf_xattr **out, size_t *n) CF_MUST_CHECK;
void cf_fs_xattrs_free(struct cf_xattr *x, size_t n);
/* cf_fs_xattrs_dup() - deep copy. 0 or CF_ENOMEM. */
int cf_fs_xattrs_dup(const struct cf_xattr *x, size_t n, struct cf_xattr **out) CF_MUST_CHECK;
/*
 * cf_fs_write_xattrs() - set each attribute on @fd. Returns 0 or CF_ESYS for the first that
 * fails (the others are still tried); the message names the attribute.
 */
int cf_fs_write_xattrs(int fd, const struct cf_xattr *x, size_t n) CF_MUST_CHECK;

/*
 * cf_fs_set_direct() - turn O_DIRECT on or off for @fd (writes past the page cache, whole
 * aligned blocks only). Returns 0, or -1 with errno when the file system refuses.
 */
int cf_fs_set_direct(int fd, bool on);
/*
 * cf_fs_open_anon() - an anonymous file (O_TMPFILE; else a mkostemp() name removed at once)
 * in @dir, read-write, close-on-exec, mode 0600. Returns the fd or -1 with errno.
 */
int cf_fs_open_anon(const char *dir);
/*
 * cf_fs_lock_ofd() / cf_fs_locked_ofd() - an open-file-description write lock on the whole of
 * @fd's file, which closing other descriptors of the file (even in this process) does not
 * drop; whether anyone else, in this process or another, holds a lock on it (true on error).
 */
int cf_fs_lock_ofd(int fd);
bool cf_fs_locked_ofd(int fd);
/*
 * Direct writes: whole blocks of CF_FS_ALIGN bytes at block boundaries, from a buffer aligned
 * the same way; a stage holds CF_FS_STAGE bytes.
 *
 * cf_fs_stage_new() / cf_fs_stage_free() - an aligned stage (NULL when out of memory); the
 * free wipes it, since it held file contents.
 *
 * cf_fs_pwrite_direct() - write all @len bytes of @p at @off. When *@direct, @fd has O_DIRECT
 * on; if the file system refuses a direct write (EINVAL) or writes part of a block, O_DIRECT is
 * turned off, *@direct cleared and the rest written through the page cache. Returns 0, or -1
 * with errno.
 */
#define CF_FS_ALIGN ((size_t)4096)
#define CF_FS_STAGE ((size_t)1 << 20)
uint8_t *cf_fs_stage_new(void);
void cf_fs_stage_free(uint8_t *stage);
int cf_fs_pwrite_direct(int fd, const uint8_t *p, size_t len, uint64_t off, bool *direct);

/*
 * struct cf_fs_out - a new file written front to back: data, holes, then its size. With a
 * stage it is written with O_DIRECT when the file system allows, else through the page cache.
 * The stage is the caller's and can serve one file after another.
 *
 * cf_fs_out_start() - begin writing @fd (empty) at offset 0; @stage may be NULL.
 * cf_fs_out_write() / cf_fs_out_hole() - the next @len bytes: @p, or a hole (zeros).
 * cf_fs_out_space() - room in the stage for the next @len bytes, to be filled in place (no
 * copy) and then added with cf_fs_out_commit(): *@p, or NULL when there is no stage or @len
 * is over CF_FS_STAGE - CF_FS_ALIGN (use cf_fs_out_write()). May write staged blocks first.
 * cf_fs_out_finish() - write what is staged (a last partial block through the page cache),
 * set the file's size to @size and turn O_DIRECT off again.
 * Each returns 0, or -1 with errno; after a failure the file's contents are undefined.
 */
struct cf_fs_out {
	int fd;
	bool direct;
	uint8_t *stage;
	size_t fill;   /* bytes staged */
	uint64_t base; /* file offset of the stage's first byte (of the next write, stageless) */
	uint64_t end;  /* the file's length so far: the end of the last write */
};
void cf_fs_out_start(struct cf_fs_out *o, int fd, uint8_t *stage);
int cf_fs_out_write(struct cf_fs_out *o, const uint8_t *p, size_t len) CF_MUST_CHECK;
int cf_fs_out_hole(struct cf_fs_out *o, uint64_t len) CF_MUST_CHECK;
int cf_fs_out_space(struct cf_fs_out *o, size_t len, uint8_t **p) CF_MUST_CHECK;
int cf_fs_out_commit(struct cf_fs_out *o, size_t len) CF_MUST_CHECK;
int cf_fs_out_finish(struct cf_fs_out *o, uint64_t size) CF_MUST_CHECK;

/*
 * cf_fs_open_beneath() - openat(@dfd, @rel, @flags) where no component of the relative path
 * @rel may be a symbolic link or lead out of @dfd: openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS) in one call; without openat2, or for a path over PATH_MAX, one
 * O_NOFOLLOW open per component ("." and ".." refused). Returns the fd or -1 with errno.
 */
int cf_fs_open_beneath(int dfd, const char *rel, int flags);
/* cf_fs_open_noatime() - openat(@dfd, @name, O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_NOATIME), retrying
 * without O_NOATIME when not permitted. Returns the fd or -1 with errno set. */
int cf_fs_open_noatime(int dfd, const char *name);

/*
 * cf_fs_next_data() - the next data region at or after @off of @fd (SEEK_DATA/SEEK_HOLE):
 * *@start, *@end. Returns 0, CF_ENOENT when only a hole remains, or CF_ESYS.
 */
int cf_fs_next_data(int fd, uint64_t off, uint64_t size, uint64_t *start,
                    uint64_t *end) CF_MUST_CHECK;

/* cf_fs_user_name() / cf_fs_group_name() - the name of a uid/gid into @out, "" if unknown. */
void cf_fs_user_name(uint32_t uid, char *out, size_t cap);
void cf_fs_group_name(uint32_t gid, char *out, size_t cap);

#endif
