/*
 * index_db_impl.h - what the parts of the on-disk chunk index share (docs/format.md 13).
 * Internal to src/index/: no other module includes it.
 *
 *   index_db.c         encodings, errors, the listing of index objects, write transactions
 *   index_db_env.c     the environment: open, check, repair, lock, map trimming, handles
 *   index_db_build.c   reading index objects into sorted locations: the full rebuild in
 *                      bounded memory, and the in-memory fallback
 *   index_db_update.c  bringing the file up to date: what changed, adding new objects
 *   index_db_remove.c  taking out the objects no longer listed, and the packs only they name
 *   index_db_lookup.c  lookups and the pack listing, on disk and in memory
 *
 * The file holds eight databases:
 *   meta       "coffer" -> version u32be | repository id (32)
 *   objects    index object id (32) -> state u8 (0 being added, 1 complete) | size u64be
 *   objpacks   index object id (32) -> the packs it names (sorted duplicates, 20 bytes
 *              each: pack number u32be | digest of the pack's entries in the object (16))
 *   packobjs   pack number u32be -> the recorded objects naming it (sorted duplicates, 32)
 *   packs      pack id (32) -> pack number u32be
 *   packids    pack number u32be -> pack id (32)
 *   packblobs  pack number u32be | digest -> the first 8 bytes of each blob id the entries
 *              with that digest name, sorted, each once (one value of 8 bytes a blob)
 *   blobs      blob id (32) -> its locations (sorted duplicates, 18 bytes each: pack number
 *              u32be | offset u32be | stored_len u32be | raw_len u32be | type | comp)
 * An object is recorded in objects, and the packs it names in objpacks and packobjs, no
 * later than in the transaction that adds its first location, and pack numbers are written
 * before any location uses them: every location lies in a pack a recorded object names. An
 * object that disappears (a prune replaced it) is always noticed and taken out; a pack no
 * recorded object names any more loses its locations (index_db_remove.c).
 *
 * Updates are serialised between processes by an fcntl lock on "<file>-sync", held while
 * the file is opened, repaired and brought up to date, and while a handle takes its read
 * snapshot; within a process by a mutex of the one LMDB environment per file (LMDB forbids
 * opening a file twice in one process). Each commit is atomic (LMDB), and a handle reads one
 * snapshot for its whole life, so no reader sees half an update. A process that can write
 * neither the file nor LMDB's lock file reads without the lock file and holds "<file>-sync"
 * shared until it closes the file, so that no writer changes the pages it reads.
 */
#ifndef CF_INDEX_DB_IMPL_H
#define CF_INDEX_DB_IMPL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../lmdbx/lmdbx.h"
#include "index.h"

#define VAL_BYTES    18
#define META_BYTES   (4 + 32)
#define OBJ_BYTES    (1 + 8) /* objects: state | size */
#define DIGEST_BYTES 16
#define NAMED_BYTES  (4 + DIGEST_BYTES) /* objpacks: pack number | digest */
#define PREFIX_BYTES 8                  /* packblobs: the start of a blob id */
#define PREFIXES_MAX (CF_PACK_MAX_ENTRIES * (size_t)PREFIX_BYTES) /* one packblobs value */
#define ENTRY_PLAIN  46 /* an entry's bytes in an index object: bounds the entries from sizes */
#define STATE_ADDING 0
#define STATE_DONE   1
#define NDBS         8
#define TRIM_EVERY   64                 /* lookups or writes between two cf_ixdb_trim_map() */
#define TRIM_MIN     ((size_t)32 << 20) /* a smaller database is never trimmed */
/* A deletion at a random place copies a page of its own: it counts as this many changes. */
#define RANDOM_DEL_STEPS 8

static_assert(ENTRY_PLAIN == CF_ID_BYTES + VAL_BYTES - 4,
              "an entry is its id and value but the pack");

/* One location as stored: the blob id and the value of the blobs database. */
struct rec {
	uint8_t id[CF_ID_BYTES];
	uint8_t val[VAL_BYTES];
};

/* One listed index object. */
struct name {
	uint8_t id[CF_ID_BYTES];
	uint64_t size;
	bool need; /* not recorded as complete */
	bool skip; /* left out by the source during this build */
};

/* Every listed index object, sorted by id, each once (cf_ixdb_list_names()). */
struct names {
	struct name *v;
	size_t n;
	size_t cap;
	uint64_t bytes;
};

/* The recorded objects no longer listed, and the sizes they were listed with. */
struct gone {
	uint8_t (*v)[CF_ID_BYTES];
	size_t n;
	size_t cap;
	uint64_t bytes;
};

/* The environment of one file, shared by every handle of this process. */
struct env {
	char *path;
	MDB_env *env;
	MDB_dbi meta;
	MDB_dbi objs;
	MDB_dbi objpacks;
	MDB_dbi packobjs;
	MDB_dbi packs;
	MDB_dbi packids;
	MDB_dbi packblobs;
	MDB_dbi blobs;
	bool rdonly;
	bool nolock; /* read without LMDB's lock file (it cannot be written either) */
	int held;    /* then the "-sync" descriptor holding a shared lock until the end, else -1 */
	unsigned refs;
	pthread_mutex_t sync;
	void *map; /* where LMDB mapped the file (cf_ixdb_find_map); NULL: unknown, no trimming */
	struct env *next;
};

struct cf_ixdb {
	struct env *e;        /* NULL: in memory */
	pthread_mutex_t lock; /* guards txn and cur */
	MDB_txn *txn;         /* the snapshot read */
	MDB_cursor *cur;      /* on blobs */
	struct rec *v;        /* in memory: sorted */
	size_t n;
	struct cf_index *packs; /* in memory: pack numbers */
	unsigned ops;           /* lookups since the last cf_ixdb_trim_map() */
};

/* A write transaction that commits every CF_IXDB_BATCH changes (cf_ixdb_wr_step()). */
struct wr {
	struct env *e;
	MDB_txn *t;
	MDB_cursor *c; /* on blobs, for appends; opened when first needed */
	size_t pending;
	unsigned ops; /* writes since the last cf_ixdb_trim_map() */
};

static inline void
put_be32(uint8_t *p, uint32_t x)
{
	p[0] = (uint8_t)(x >> 24);
	p[1] = (uint8_t)(x >> 16);
	p[2] = (uint8_t)(x >> 8);
	p[3] = (uint8_t)x;
}

static inline uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* index_db.c */
void cf_ixdb_encode_val(uint8_t v[static VAL_BYTES], uint32_t pack, const struct cf_pack_entry *e);
/* cf_ixdb_decode_val() - fill @e but its id from @v; returns the pack number. */
uint32_t cf_ixdb_decode_val(const uint8_t v[static VAL_BYTES], struct cf_pack_entry *e);
void cf_ixdb_encode_meta(uint8_t m[static META_BYTES], const uint8_t repo_id[static 32]);
/* cf_ixdb_err() - an LMDB result @mrc as a library error: CF_ENOMEM, else CF_ESYS naming the file.
 */
int cf_ixdb_err(const struct env *e, int mrc, const char *what) CF_MUST_CHECK;
/* cf_ixdb_list_names() - every index object @src lists into @ns (cf_free(ns->v)). */
int cf_ixdb_list_names(const struct cf_ixdb_source *src, struct names *ns) CF_MUST_CHECK;
int cf_ixdb_wr_begin(struct wr *w) CF_MUST_CHECK;
int cf_ixdb_wr_commit(struct wr *w) CF_MUST_CHECK;
/* cf_ixdb_wr_abort() - drop what is not committed; a no-op when nothing is open. */
void cf_ixdb_wr_abort(struct wr *w);
/* cf_ixdb_wr_steps() - count @n changes; commit and begin again every CF_IXDB_BATCH. */
int cf_ixdb_wr_steps(struct wr *w, size_t n) CF_MUST_CHECK;

static inline int CF_MUST_CHECK
cf_ixdb_wr_step(struct wr *w)
{
	return cf_ixdb_wr_steps(w, 1);
}
/* cf_ixdb_wr_put() - put a key and value; one already present is not an error. */
int cf_ixdb_wr_put(struct wr *w, MDB_dbi dbi, const void *k, size_t klen, const void *v,
                   size_t vlen) CF_MUST_CHECK;
/* cf_ixdb_set_state() - record object @id in objects: @state, listed with @size bytes. */
int cf_ixdb_set_state(struct wr *w, const uint8_t id[static CF_ID_BYTES], uint8_t state,
                      uint64_t size) CF_MUST_CHECK;
/*
 * cf_ixdb_intern() - *@num gets the number of pack @pack: the one it has, else one more
 * than the highest in packids (0 when none), written to packs and packids.
 */
int cf_ixdb_intern(struct wr *w, const uint8_t pack[static CF_ID_BYTES],
                   uint32_t *num) CF_MUST_CHECK;
/* cf_ixdb_naming() - @named gets pack number @num and the digest of the entries of @p. */
void cf_ixdb_naming(uint8_t named[static NAMED_BYTES], uint32_t num, const struct cf_index_pack *p);
/*
 * cf_ixdb_name_pack() - record that object @obj names @p as @named (cf_ixdb_naming()), before
 * any of its locations is added: objpacks, packobjs, and in packblobs the blob ids @p names.
 */
int cf_ixdb_name_pack(struct wr *w, const uint8_t obj[static CF_ID_BYTES],
                      const uint8_t named[static NAMED_BYTES],
                      const struct cf_index_pack *p) CF_MUST_CHECK;
/*
 * cf_ixdb_namers() - the recorded objects that name pack @named (number | digest): *@any
 * whether there is one, *@alike whether one names it with the same digest (and, when @done,
 * is complete: every location of the pack it names is then present).
 */
int cf_ixdb_namers(struct wr *w, const uint8_t named[static NAMED_BYTES], bool done, bool *any,
                   bool *alike) CF_MUST_CHECK;

/* index_db_env.c */
/* cf_ixdb_trim_map() - unmap what this process has mapped of the file (pages stay cached). */
void cf_ixdb_trim_map(const struct env *e);
/* cf_ixdb_find_map() - learn where LMDB mapped the file, for cf_ixdb_trim_map(). */
void cf_ixdb_find_map(struct env *e);
/* cf_ixdb_new() - an empty handle (in memory until its e is set). */
int cf_ixdb_new(struct cf_ixdb **out) CF_MUST_CHECK;

/* index_db_build.c */
/*
 * cf_ixdb_build_full() - empty the file and add every object of @ns, in passes that each
 * hold at most about CF_IXDB_BUILD_BYTES of locations. Objects the source leaves out are
 * marked skip in @ns and stay recorded as being added.
 */
int cf_ixdb_build_full(struct env *e, const uint8_t repo_id[static 32], struct names *ns,
                       const struct cf_ixdb_source *src) CF_MUST_CHECK;

/* index_db_remove.c */
/*
 * cf_ixdb_remove() - take every object of @g out of the file (docs/format.md 13), with the
 * locations of the packs no recorded object names any more. *@rebuild: a pack that other
 * objects name with other entries was met; the file must be rebuilt (it is consistent, but
 * may hold locations no listed object gives).
 */
int cf_ixdb_remove(struct env *e, const struct gone *g, bool *rebuild) CF_MUST_CHECK;

/* index_db_update.c */
/* cf_ixdb_sync() - bring the file of @e up to date with what @src lists. */
int cf_ixdb_sync(struct env *e, const uint8_t repo_id[static 32],
                 const struct cf_ixdb_source *src) CF_MUST_CHECK;

#endif
