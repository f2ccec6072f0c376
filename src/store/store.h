/*
 * store.h - the storage interface (put, ranged get, list, delete) and its local directory
 * implementation (docs/format.md section 14). Later implementations: cofferd over HTTP, S3.
 * A store is thread-safe: several threads may put and get at once.
 */
#ifndef CF_STORE_H
#define CF_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/compat.h"

enum cf_obj_kind {
	CF_OBJ_CHAIN = 1,
	CF_OBJ_KEYS = 2,
	CF_OBJ_PACK = 3,
	CF_OBJ_INDEX = 4,
	CF_OBJ_SNAPSHOT = 5,
	CF_OBJ_REQUEST = 6, /* join requests of new devices */
	CF_OBJ_FORGET = 7,  /* forget records (docs/format.md 16.1) */
	CF_OBJ_PRUNE = 8,   /* prune records (16.3) */
};

#define CF_OBJ_NAME_MAX 128

/* cf_obj_kind_dir() - "chain", "keys", "packs", "index" or "snapshots". */
const char *cf_obj_kind_dir(enum cf_obj_kind kind);
/* cf_obj_name_valid() - names are 1..CF_OBJ_NAME_MAX of [0-9a-f-]. 0 or CF_EINVAL. */
int cf_obj_name_valid(const char *name) CF_MUST_CHECK;
/*
 * Additions: cf_obj_kind_valid() - @kind is one of enum cf_obj_kind (cf_obj_kind_dir() returns
 * NULL for any other value). cf_obj_kind_parse() - the kind whose directory name is @dir
 * ("packs" -> CF_OBJ_PACK), for a server mapping request paths; 0 or CF_EINVAL.
 */
bool cf_obj_kind_valid(enum cf_obj_kind kind);
int cf_obj_kind_parse(const char *dir, enum cf_obj_kind *out) CF_MUST_CHECK;

struct cf_store;

typedef int cf_store_list_fn(void *arg, const char *name, uint64_t size);

/*
 * A temporary file on its way to becoming an object (cf_store_tmp_new()). Implementations
 * read and set the fields; everyone else only passes the pointer around.
 */
#define CF_STORE_TMP_NAME_MAX 64
struct cf_store_tmp {
	struct cf_store *s;
	int fd;                           /* open for reading and writing */
	uint64_t len;                     /* bytes written so far */
	bool failed;                      /* a write failed: what the file holds is unknown */
	bool committed;                   /* stored under its object name */
	char name[CF_STORE_TMP_NAME_MAX]; /* the implementation's name for it; "" when none */
	char *where;                      /* the file, for messages */
	/* Direct I/O (cf_store_tmp_direct): bytes gather in an aligned buffer and go to the file
	 * in whole aligned blocks, past the page cache; the tail when the object is put. */
	bool direct;
	uint8_t *stage;
	size_t staged;
};

/*
 * struct cf_rbuf - a read buffer its owner keeps from read to read (zero it to start, free it
 * with cf_rbuf_free()), so that reads do not fault in new memory each time. The local store
 * grows it at least twofold (up to CF_RBUF_KEEP) and keeps it aligned to CF_FS_ALIGN, as it
 * reads past the page cache; one grown past CF_RBUF_KEEP for a large read is given back at
 * the next smaller one. Other stores hand over get()'s buffer. It holds stored bytes (ciphertext),
 * so it is freed without being wiped.
 */
#define CF_RBUF_KEEP ((size_t)4 << 20)
struct cf_rbuf {
	uint8_t *p;
	size_t cap;
};
void cf_rbuf_free(struct cf_rbuf *b);

struct cf_store_ops {
	int (*put)(void *ctx, enum cf_obj_kind kind, const char *name, const uint8_t *p,
	           size_t len);
	/*
	 * Optional: make an empty temporary file for @t (set fd, name, where). NULL: an
	 * anonymous file in $TMPDIR (default /var/tmp, else /tmp) that the system removes when
	 * closed.
	 */
	int (*tmp_open)(void *ctx, struct cf_store_tmp *t);
	/* Optional: commit @t as put() would store its bytes. NULL: read it back and put(). */
	int (*put_tmp)(void *ctx, enum cf_obj_kind kind, const char *name, struct cf_store_tmp *t,
	               const uint8_t sha256[static 32]);
	/* Optional: remove the named temporary file of an uncommitted @t (fd still open). */
	void (*tmp_drop)(void *ctx, struct cf_store_tmp *t);
	int (*get)(void *ctx, enum cf_obj_kind kind, const char *name, uint64_t off, size_t len,
	           size_t max, uint8_t **out, size_t *outlen);
	/* Optional: get() into a kept buffer (cf_store_get_buf). NULL: get(), then take its buffer.
	 */
	int (*get_buf)(void *ctx, enum cf_obj_kind kind, const char *name, uint64_t off, size_t len,
	               size_t max, struct cf_rbuf *b, const uint8_t **data);
	int (*size)(void *ctx, enum cf_obj_kind kind, const char *name, uint64_t *size);
	int (*list)(void *ctx, enum cf_obj_kind kind, cf_store_list_fn *fn, void *arg);
	int (*del)(void *ctx, enum cf_obj_kind kind, const char *name);
	void (*free)(void *ctx);
};

/* cf_store_new() - wrap an implementation. 0 or CF_ENOMEM. */
int cf_store_new(const struct cf_store_ops *ops, void *ctx, const char *location,
                 struct cf_store **out) CF_MUST_CHECK;
/*
 * (Addition) On success the store owns @ctx and cf_store_free() calls @ops->free(@ctx); on
 * failure @ctx stays the caller's. @ops is copied, @location is copied. The wrapper checks
 * the kind and name (CF_EINVAL) before any op runs and drops invalid names from list.
 * cf_store_free(NULL) is a no-op.
 */
void cf_store_free(struct cf_store *s);
/* cf_store_location() - what the user named (path or URL), for messages. */
const char *cf_store_location(const struct cf_store *s);

/*
 * cf_store_open_local() - a local directory store at @path. With @create the directory and
 * its subdirectories are made (the directory may exist but must be empty of repository
 * objects). Returns 0, CF_ENOREPO (no repository there and !@create), CF_EEXIST (create over
 * an existing repository), CF_ESYS or CF_ENOMEM.
 */
int cf_store_open_local(const char *path, bool create, struct cf_store **out) CF_MUST_CHECK;
/*
 * cf_store_local_direct_reads() - test hook: whether local stores opened from now on try
 * O_DIRECT in cf_store_get_buf() (default on). A store whose file system refuses one direct
 * read reads through the page cache from then on.
 */
void cf_store_local_direct_reads(bool on);

/*
 * cf_store_put() - store an object atomically and durably, write-once. Returns 0, CF_EEXIST,
 * CF_EINVAL (bad name), CF_ESYS or CF_ENOMEM.
 */
int cf_store_put(struct cf_store *s, enum cf_obj_kind kind, const char *name, const uint8_t *p,
                 size_t len) CF_MUST_CHECK;
/*
 * cf_store_get() - read @len bytes from @off (@len SIZE_MAX: to the end). Objects larger than
 * @max are refused with CF_ETOOBIG before being read; a range past the end gives CF_ETRUNC.
 * *@out: heap (cf_free). Returns 0, CF_ENOENT, CF_ETOOBIG, CF_ETRUNC, CF_ESYS or CF_ENOMEM.
 */
int cf_store_get(struct cf_store *s, enum cf_obj_kind kind, const char *name, uint64_t off,
                 size_t len, size_t max, uint8_t **out, size_t *outlen) CF_MUST_CHECK;
/*
 * cf_store_get_buf() - cf_store_get() of @len bytes (not SIZE_MAX) into @b; *@data: where they
 * start in it, valid until @b is used again. Same results and errors. The local store reads
 * with O_DIRECT where the file system allows it: objects read once, such as the packs of a
 * restore, then take no page-cache memory and are not copied out of it.
 */
int cf_store_get_buf(struct cf_store *s, enum cf_obj_kind kind, const char *name, uint64_t off,
                     size_t len, size_t max, struct cf_rbuf *b, const uint8_t **data) CF_MUST_CHECK;
/* cf_store_size() - the size of an object. 0, CF_ENOENT or CF_ESYS. */
int cf_store_size(struct cf_store *s, enum cf_obj_kind kind, const char *name,
                  uint64_t *size) CF_MUST_CHECK;
/*
 * cf_store_list() - call @fn for every object of @kind (any order). A non-zero return from
 * @fn stops and is returned. Names that are not valid object names are skipped.
 */
int cf_store_list(struct cf_store *s, enum cf_obj_kind kind, cf_store_list_fn *fn,
                  void *arg) CF_MUST_CHECK;
/* cf_store_delete() - remove an object. 0, CF_ENOENT or CF_ESYS. */
int cf_store_delete(struct cf_store *s, enum cf_obj_kind kind, const char *name) CF_MUST_CHECK;

/*
 * Staged puts, for objects too large to hold in memory (packs): write the object into a
 * temporary file piece by piece, then commit it under its name. The local store makes the
 * file in the repository's tmp/ and links it into place; cofferd uploads it from the file.
 * A temporary file is used by one thread at a time (hand it over with a lock).
 *
 * cf_store_tmp_new() - a new empty temporary file; *@out: free with cf_store_tmp_free().
 * Returns 0, CF_ESYS or CF_ENOMEM.
 */
int cf_store_tmp_new(struct cf_store *s, struct cf_store_tmp **out) CF_MUST_CHECK;
/*
 * cf_store_tmp_direct() - for a store's tmp_open: write @t's file with O_DIRECT when the file
 * system takes it (else, silently, through the page cache as before). Writing an object
 * once, never reading it back soon, through the page cache only costs memory and copies.
 */
void cf_store_tmp_direct(struct cf_store_tmp *t);
/*
 * cf_store_tmp_finish() - every byte is written: write out what waits in the direct I/O
 * stage and give the stage back. cf_store_put_tmp() does it too; call it early to hold the
 * stage no longer than the writing. Returns 0 or CF_ESYS (the file is then failed).
 */
int cf_store_tmp_finish(struct cf_store_tmp *t) CF_MUST_CHECK;
/*
 * cf_store_tmp_write() - append @len bytes. Returns 0, CF_ESYS (the file is then failed:
 * no more writes and no put), or CF_EINVAL (failed or committed before).
 */
int cf_store_tmp_write(struct cf_store_tmp *t, const uint8_t *p, size_t len) CF_MUST_CHECK;
/*
 * cf_store_put_tmp() - store the bytes written to @t as object @name, atomically, durably
 * and write-once like cf_store_put(). @sha256 is the SHA-256 of those bytes, which the
 * caller computed while writing them (cofferd signs it; it checks it). After success @t is
 * committed and only cf_store_tmp_free() is left to call; after a failure it may be put
 * again. Returns as cf_store_put(), or CF_EINVAL when @t failed or is committed.
 */
int cf_store_put_tmp(struct cf_store *s, enum cf_obj_kind kind, const char *name,
                     struct cf_store_tmp *t, const uint8_t sha256[static 32]) CF_MUST_CHECK;
/*
 * cf_store_tmp_load() - read the bytes written to @t back into a new buffer (cf_free) for
 * stores that cannot put from a file. Returns 0, CF_ETOOBIG (over SIZE_MAX), CF_ESYS,
 * CF_ETRUNC (the file shrank) or CF_ENOMEM.
 */
int cf_store_tmp_load(struct cf_store_tmp *t, uint8_t **out) CF_MUST_CHECK;
/*
 * cf_store_tmp_free() - close @t and, unless committed, remove its file. A crash before
 * this leaves at most a named temporary file in the local store's tmp/, which no reader
 * lists and a later writer removes once it is a day old. NULL is a no-op.
 */
void cf_store_tmp_free(struct cf_store_tmp *t);

#endif
