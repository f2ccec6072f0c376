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

struct cf_store_ops {
	int (*put)(void *ctx, enum cf_obj_kind kind, const char *name, const uint8_t *p,
	           size_t len);
	int (*get)(void *ctx, enum cf_obj_kind kind, const char *name, uint64_t off, size_t len,
	           size_t max, uint8_t **out, size_t *outlen);
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

#endif
