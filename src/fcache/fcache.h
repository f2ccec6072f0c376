/*
 * fcache.h - the files cache (docs/format.md 13): which chunks a file was cut into when a
 * backup of this device last read it, kept in COFFER_CACHE/<fingerprint>/files.lmdb, so a
 * backup without a matching parent (one that was interrupted, a new set of paths) does not
 * read an unchanged file again.
 */
#ifndef CF_FCACHE_H
#define CF_FCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/compat.h"
#include "../buf/buf.h"
#include "../tree/tree.h"

#define CF_FCACHE_KEY_MAX   64 /* H(directory) || H(file name) */
#define CF_FCACHE_PARTS_MAX (1u << 20)
#define CF_FCACHE_HEAD      60 /* ino, size, mtime, ctime, seen, done, nparts */
#define CF_FCACHE_PART      41 /* hole u8 | len u64 | id 32 */

/* What identifies the version of a file that was read. */
struct cf_fcache_id {
	uint64_t ino;
	uint64_t size;
	int64_t mtime_s;
	uint32_t mtime_ns;
	int64_t ctime_s;
	uint32_t ctime_ns;
};

struct cf_fcache_entry {
	struct cf_fcache_id id;
	uint64_t seen; /* unix seconds when written */
	uint64_t done; /* bytes the parts cover: id.size, or less for a partial entry */
	struct cf_part *parts;
	size_t nparts;
};

/* cf_fcache_encode() - the entry's bytes, appended to @out. CF_EINVAL for too many parts. */
int cf_fcache_encode(const struct cf_fcache_entry *e, struct cf_buf *out) CF_MUST_CHECK;
/*
 * cf_fcache_decode() - parse an entry exactly (no trailing bytes; part lengths >= 1, holes
 * with zero ids, parts adding up to done <= size). *@e's parts are allocated (release with
 * cf_fcache_entry_release). Returns 0, CF_EFORMAT, CF_ETRUNC, CF_ETOOBIG or CF_ENOMEM.
 */
int cf_fcache_decode(const uint8_t *p, size_t len, struct cf_fcache_entry *e) CF_MUST_CHECK;
void cf_fcache_entry_release(struct cf_fcache_entry *e);

struct cf_fcache;

/*
 * cf_fcache_open() - open (create, or replace when damaged or of another repository) the
 * files cache at @path. Returns 0, CF_ENOMEM, or CF_ESYS with a message when the file
 * cannot be used (the caller goes on without it).
 */
int cf_fcache_open(const char *path, const uint8_t repo_id[static 32],
                   struct cf_fcache **out) CF_MUST_CHECK;
/*
 * The key of a file: H(its directory's absolute path) || H(its name), so the entries of one
 * directory sit together and a commit rewrites few pages, and no name is stored in clear.
 */
struct cf_fcache_key {
	uint8_t b[CF_FCACHE_KEY_MAX];
	size_t len;
};

/* cf_fcache_key() - the key of the absolute path @path (@len bytes). */
void cf_fcache_key(struct cf_fcache_key *key, const uint8_t *path, size_t len);
/*
 * cf_fcache_get() - the entry under @key, *@found false when there is none or it does not
 * parse. Sees entries put and not yet committed.
 */
int cf_fcache_get(struct cf_fcache *fc, const struct cf_fcache_key *key, struct cf_fcache_entry *e,
                  bool *found) CF_MUST_CHECK;
/* cf_fcache_put() - add or replace an entry in the open write (committed by commit). */
int cf_fcache_put(struct cf_fcache *fc, const struct cf_fcache_key *key,
                  const struct cf_fcache_entry *e) CF_MUST_CHECK;
/* cf_fcache_pending() - entries put since the last commit. */
size_t cf_fcache_pending(const struct cf_fcache *fc);
int cf_fcache_commit(struct cf_fcache *fc) CF_MUST_CHECK;
/*
 * cf_fcache_sweep() - at most once a day (by @now, unix seconds): remove entries not written
 * for @max_age seconds. *@removed counts them. Commits.
 */
int cf_fcache_sweep(struct cf_fcache *fc, uint64_t now, uint64_t max_age,
                    size_t *removed) CF_MUST_CHECK;
/* cf_fcache_close() - drop what was not committed and close. */
void cf_fcache_close(struct cf_fcache *fc);

#endif
