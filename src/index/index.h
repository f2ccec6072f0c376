/*
 * index.h - index objects (docs/format.md section 6) and the in-memory chunk index built
 * from them.
 */
#ifndef CF_INDEX_H
#define CF_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/compat.h"
#include "../pack/pack.h"

#define CF_INDEX_MAX_PACKS   65536u
#define CF_INDEX_MAX_ENTRIES (1u << 22)
#define CF_INDEX_MAX_BYTES   (256u * 1024 * 1024)

/* One pack's part of an index object. */
struct cf_index_pack {
	uint8_t id[CF_ID_BYTES];
	uint64_t len;
	size_t count;
	struct cf_pack_entry *entries;
};

/*
 * cf_index_encode() - seal @npacks packs into an index object under @k_index (K_index).
 * *@out is the whole object (cf_free), *@outlen its length, @id its SHA-256.
 * Returns 0, CF_ETOOBIG or CF_ENOMEM.
 * Also CF_EINVAL for @npacks 0, a pack with no entries, or entries that the decoder would
 * refuse (invalid, out of order, overlapping, outside the pack's length).
 */
int cf_index_encode(const struct cf_key *k_index, const uint8_t repo_id[static 32],
                    const struct cf_index_pack *packs, size_t npacks, uint8_t **out, size_t *outlen,
                    uint8_t id[static CF_ID_BYTES]) CF_MUST_CHECK;
/*
 * cf_index_decode() - open and parse an index object. *@packs (free with
 * cf_index_packs_free) gets @npacks packs. Returns 0, CF_EFORMAT, CF_EVERSION, CF_ETRUNC,
 * CF_ETOOBIG, CF_EAUTH or CF_ENOMEM.
 */
int cf_index_decode(const struct cf_key *k_index, const uint8_t repo_id[static 32],
                    const uint8_t *obj, size_t len, struct cf_index_pack **packs,
                    size_t *npacks) CF_MUST_CHECK;
void cf_index_packs_free(struct cf_index_pack *packs, size_t npacks);
/*
 * cf_index_parse_plain() - parse a decrypted index_plain (@plain, @len): the step of
 * cf_index_decode() after the AEAD check, exposed for the fuzzer. Every count is checked
 * against its limit and the bytes present before it sizes an allocation; entries must be
 * valid, in order and inside their pack. Returns 0, CF_EFORMAT, CF_ETRUNC, CF_ETOOBIG or
 * CF_ENOMEM.
 */
int cf_index_parse_plain(const uint8_t *plain, size_t len, struct cf_index_pack **packs,
                         size_t *npacks) CF_MUST_CHECK;

/* Where a blob is. */
struct cf_blob_loc {
	uint8_t pack[CF_ID_BYTES];
	struct cf_pack_entry e;
};

/*
 * The in-memory chunk index: blob id -> location. Not thread-safe: callers lock.
 * Ids are keyed MACs, so their first bytes are uniformly distributed and hash directly.
 */
struct cf_index;

int cf_index_new(struct cf_index **out) CF_MUST_CHECK;
void cf_index_free(struct cf_index *ix);
/*
 * cf_index_add() - record @e of pack @pack_id (the pack id is known to cf_index_each_pack()
 * from then on, even when the blob was already present). A blob already present keeps its first
 * location. Returns 0 or CF_ENOMEM.
 */
int cf_index_add(struct cf_index *ix, const uint8_t pack_id[static CF_ID_BYTES],
                 const struct cf_pack_entry *e) CF_MUST_CHECK;
/* cf_index_add_pack() - cf_index_add() for every entry of @p. */
int cf_index_add_pack(struct cf_index *ix, const struct cf_index_pack *p) CF_MUST_CHECK;
/* cf_index_lookup() - 0 and *@out filled, or CF_ENOENT. */
int cf_index_lookup(const struct cf_index *ix, const uint8_t id[static CF_ID_BYTES],
                    struct cf_blob_loc *out) CF_MUST_CHECK;
bool cf_index_has(const struct cf_index *ix, const uint8_t id[static CF_ID_BYTES]);
/* cf_index_each_id() - call @fn for every blob id held, in no given order; non-zero stops. */
int cf_index_each_id(const struct cf_index *ix,
                     int (*fn)(void *arg, const uint8_t id[static CF_ID_BYTES]),
                     void *arg) CF_MUST_CHECK;
/* cf_index_add_id() - use the index as a set of ids: add @id (no pack, no location). */
int cf_index_add_id(struct cf_index *ix, const uint8_t id[static CF_ID_BYTES]) CF_MUST_CHECK;
size_t cf_index_count(const struct cf_index *ix);
/*
 * cf_index_each_pack() - call @fn once for each distinct pack id known, in no given order;
 * a non-zero return from @fn stops the walk and is returned.
 */
int cf_index_each_pack(const struct cf_index *ix,
                       int (*fn)(void *arg, const uint8_t pack_id[static CF_ID_BYTES]),
                       void *arg) CF_MUST_CHECK;
/*
 * cf_index_intern() - *@num gets the number of pack @pack_id (0, 1, ... in the order packs
 * first appear), which is added when new. Returns 0 or CF_ENOMEM.
 * cf_index_pack_id() - the id of pack number @num (below the number of packs), borrowed.
 */
int cf_index_intern(struct cf_index *ix, const uint8_t pack_id[static CF_ID_BYTES],
                    uint32_t *num) CF_MUST_CHECK;
const uint8_t *cf_index_pack_id(const struct cf_index *ix, uint32_t num);

/*
 * The chunk index of a repository (index_db.c): every location every index object records
 * for every blob, built from the index objects a source lists and reads. It lives on disk
 * in an LMDB file that is only a cache (docs/format.md 13): checked against the repository
 * id and a format version, brought up to date incrementally (index objects are immutable and
 * named by their hash; an object that disappeared is taken out with the packs only it names),
 * rebuilt from scratch when the file is damaged or most of it changed. As a fallback it is
 * built in memory (cf_ixdb_load()).
 */
struct cf_ixdb;

/* Where the index objects come from. */
struct cf_ixdb_source {
	/* call @fn for every index object, in any order; a non-zero return stops and is returned */
	int (*list)(void *arg, int (*fn)(void *fnarg, const char *name, uint64_t size),
	            void *fnarg);
	/*
	 * read, check and open index object @name into *@packs (cf_index_packs_free()).
	 * CF_ENOENT leaves the object out (vanished since the listing, or to be skipped); any
	 * other error stops the build and is returned.
	 */
	int (*read)(void *arg, const char *name, struct cf_index_pack **packs, size_t *npacks);
	void *arg;
};

#define CF_IXDB_VERSION 2u

/*
 * cf_ixdb_open() - open the on-disk chunk index @path (created when missing; a damaged,
 * foreign or older file is rebuilt), add the index objects @src lists that it does not hold
 * yet, take out those it holds that @src no longer lists, and take a snapshot for lookups:
 * later writers, in this process or others, do not change what the handle sees. @repo_id is
 * recorded and checked. Bringing the file up to date is serialised between processes by a
 * lock file beside it (@path "-sync"), commits in batches of CF_IXDB_BATCH changes and holds
 * at most about CF_IXDB_BUILD_BYTES of entries in memory. When the file cannot be written
 * but is up to date it is used read-only.
 * *@out: free with cf_ixdb_free(). Returns 0, an error of @src, CF_ENOMEM, or CF_ESYS with a
 * message for any problem of the file (the caller then uses cf_ixdb_load()).
 */
#define CF_IXDB_BATCH       100000u
#define CF_IXDB_BUILD_BYTES (48u * 1024 * 1024)
int cf_ixdb_open(const char *path, const uint8_t repo_id[static 32],
                 const struct cf_ixdb_source *src, struct cf_ixdb **out) CF_MUST_CHECK;
/* cf_ixdb_load() - the same index built in memory (about 60 bytes a location). */
int cf_ixdb_load(const struct cf_ixdb_source *src, struct cf_ixdb **out) CF_MUST_CHECK;
/* cf_ixdb_on_disk() - @db is an LMDB file (not the in-memory fallback). */
bool cf_ixdb_on_disk(const struct cf_ixdb *db);
/*
 * cf_ixdb_locs() - the locations of blob @id: the first min(@cap, *@n) go to @v, *@n gets
 * how many there are (0: not indexed), ordered by the pack's first appearance. Returns 0 or
 * CF_ESYS (a damaged file). Thread-safe.
 */
int cf_ixdb_locs(struct cf_ixdb *db, const uint8_t id[static CF_ID_BYTES], struct cf_blob_loc *v,
                 size_t cap, size_t *n) CF_MUST_CHECK;
/*
 * cf_ixdb_each_pack() - call @fn once for every pack an index object names, in no given
 * order; a non-zero return stops and is returned. @fn must not call into @db. Thread-safe.
 */
int cf_ixdb_each_pack(struct cf_ixdb *db,
                      int (*fn)(void *arg, const uint8_t pack[static CF_ID_BYTES]),
                      void *arg) CF_MUST_CHECK;
void cf_ixdb_free(struct cf_ixdb *db);

#endif
