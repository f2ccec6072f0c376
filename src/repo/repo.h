/*
 * repo.h - an open repository: the verified chain, this device's keys, the chunk index,
 * and the helpers every operation shares (objects, trees, snapshots, events).
 */
#ifndef CF_REPO_H
#define CF_REPO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/coffer.h"

#include "../base/base.h"
#include "../chain/chain.h"
#include "../chunk/chunk.h"
#include "../crypto/crypto.h"
#include "../index/index.h"
#include "../pack/pack.h"
#include "../remote/remote.h"
#include "../snapshot/snapshot.h"
#include "../store/store.h"
#include "../tree/tree.h"

struct cf_device;
struct cf_device_seq;
struct cf_zctx;

/* Option set: an ordered list of key/value strings. */
struct cf_opts {
	char **keys;
	char **vals;
	size_t n;
	size_t cap;
};

/* cf_opts_flag() - @key given with a value other than "0". */
bool cf_opts_flag(const struct cf_opts *o, const char *key);

struct cf_event {
	enum cf_event_kind kind;
	const uint8_t *path;
	size_t path_len;
	const char *message;
	int code;
	const struct cf_node *node;
	uint64_t ctr[6];
};

/* The event sink of one operation. */
struct cf_events {
	cf_event_fn *fn;
	void *arg;
};

/* cf_emit_item() - report a per-item error or warning with a formatted message. */
void cf_emit_item(const struct cf_events *ev, enum cf_event_kind kind, int code,
                  const uint8_t *path, size_t path_len, const char *fmt, ...) CF_PRINTF(6, 7);

/* Counters of a progress event. */
struct cf_progress {
	uint64_t files;
	uint64_t bytes;
	uint64_t files_total; /* 0: unknown */
	uint64_t bytes_total;
	uint64_t errors;
	uint64_t last_ns; /* when the last event went out */
};

/* cf_emit_progress() - a CF_EV_PROGRESS event, at most every 100 ms unless @force. */
void cf_emit_progress(const struct cf_events *ev, struct cf_progress *p, bool force);

/* A cached, unwrapped pack key. */
struct pack_key_slot {
	uint8_t pack[CF_ID_BYTES];
	struct cf_key *key;
};

struct cf_repo {
	struct cf_store *store;
	struct cf_remote_auth auth; /* how a cofferd store signs requests (borrows dev) */
	struct cf_device *dev;      /* this device, or the recovery identity */
	struct cf_chain_state *chain;
	uint8_t role;
	bool with_recovery_key; /* opened with --recovery-key-file */
	uint32_t epoch;         /* the newest epoch: what new objects are sealed to */
	struct cf_key *ck;
	struct cf_key *k_id;
	struct cf_key *k_index;
	struct cf_boxkey **dk; /* [nepochs], NULL where not held */
	uint32_t nepochs;
	struct cf_chunker *chunker;
	struct cf_ixdb *ixdb; /* the chunk index, once loaded (cf_repo_load_index) */
	/* set by cf_repo_verify_seqs(): sequences checked, and this device's newest snapshot */
	bool seqs_verified;
	uint64_t own_seq;
	uint8_t own_hash[CF_HASH_BYTES];
	struct cf_device_seq *dev_seqs; /* every device's newest sequence, sorted by device */
	size_t ndev_seqs;
	uint8_t (*heads)[CF_ID_BYTES]; /* the snapshots verified, not forgotten */
	size_t nheads;
	/* snapshot objects left out as damaged or forged (seqs.c, snapshots.c): the ids their
	 * names give, and one message naming each */
	struct cf_index *bad_snaps;
	char **bad_msgs;
	size_t nbad;
	/* records.c: forget and prune records of trusted devices (docs/format.md 16) */
	struct cf_records *rec;
	char *home;
	char *cache;
	pthread_mutex_t lock; /* guards the pack key cache */
	struct pack_key_slot *pkeys;
	size_t npkeys;
	size_t pkeys_cap;
};

/* repo_home.c */
int cf_home_dir(const struct cf_opts *o, char **out) CF_MUST_CHECK;
int cf_cache_dir(const struct cf_opts *o, char **out) CF_MUST_CHECK;
int cf_home_load_device(const char *home, const struct cf_opts *o, bool create, const char *name,
                        struct cf_device **out) CF_MUST_CHECK;
int cf_home_check_head(const char *home, struct cf_chain_entry *const *entries, size_t n,
                       const struct cf_chain_state *cs) CF_MUST_CHECK;
int cf_home_record_head(const char *home, const struct cf_chain_state *cs) CF_MUST_CHECK;
int cf_read_file(const char *path, size_t max, uint8_t **out, size_t *len) CF_MUST_CHECK;
int cf_write_file_atomic(const char *path, const uint8_t *p, size_t len,
                         unsigned mode) CF_MUST_CHECK;
int cf_mkdir_p(const char *path, unsigned mode) CF_MUST_CHECK;
/*
 * cf_lock_file() - open (creating) @path and wait for an exclusive lock on it, held until *@fd
 * is closed. A lock between processes of this machine only. 0 or CF_ESYS.
 */
int cf_lock_file(const char *path, int *fd) CF_MUST_CHECK;

/* repo_open.c */
int cf_repo_open_store(const char *loc, bool create, const struct cf_device *dev,
                       struct cf_remote_auth *auth, struct cf_store **out) CF_MUST_CHECK;
int cf_repo_load_chain(struct cf_store *st, struct cf_chain_state **out) CF_MUST_CHECK;

/* repo_objects.c */
/*
 * cf_repo_get_verified() - a whole content-addressed object of at most @max bytes whose
 * H(bytes) is its name. 0, CF_ENOENT, CF_EINTEGRITY (with a message) or an error.
 */
int cf_repo_get_verified(struct cf_repo *r, enum cf_obj_kind kind, const char *name, size_t max,
                         uint8_t **out, size_t *len) CF_MUST_CHECK;
/*
 * cf_repo_load_index() - load the chunk index once: the on-disk cache
 * COFFER_CACHE/<fingerprint>/index.lmdb brought up to date with the index objects
 * (docs/format.md 13), or, when the cache cannot be used, every index object read into
 * memory. An index object that does not read or check stops it (CF_EINTEGRITY).
 * cf_repo_load_index_skipping() - the same, leaving such objects out (check reports them).
 * cf_repo_unload_index() - forget the loaded index (objects were written or replaced since).
 */
int cf_repo_load_index(struct cf_repo *r) CF_MUST_CHECK;
int cf_repo_load_index_skipping(struct cf_repo *r) CF_MUST_CHECK;
void cf_repo_unload_index(struct cf_repo *r);
/*
 * cf_repo_lookup() - where blob @id is: the first location in a pack no prune condemned,
 * else the first location (readers use condemned packs until they are deleted, docs/format.md
 * 16.4). 0, or CF_ENOENT (not indexed, or the index is not loaded). Thread-safe.
 */
int cf_repo_lookup(const struct cf_repo *r, const uint8_t id[static CF_ID_BYTES],
                   struct cf_blob_loc *out) CF_MUST_CHECK;
/*
 * cf_repo_locs() - every location the loaded index records for blob @id, into *@v: @buf when
 * it has room, else a new array (cf_free it when it is not @buf). *@n 0: not indexed. 0,
 * CF_ENOMEM, CF_ESYS or CF_EINTERNAL (free *@v on every return).
 */
#define CF_LOCS_STACK 8
int cf_repo_locs(const struct cf_repo *r, const uint8_t id[static CF_ID_BYTES],
                 struct cf_blob_loc buf[static CF_LOCS_STACK], struct cf_blob_loc **v,
                 size_t *n) CF_MUST_CHECK;
/*
 * cf_repo_each_pack() - call @fn for every pack the loaded index names (no given order); a
 * non-zero return stops and is returned. @fn must not look blobs up.
 */
int cf_repo_each_pack(struct cf_repo *r,
                      int (*fn)(void *arg, const uint8_t pack[static CF_ID_BYTES]),
                      void *arg) CF_MUST_CHECK;
/*
 * cf_repo_put_index() - seal @npacks packs into an index object and store it; *@len (may
 * be NULL) its size. An identical object already stored counts as success.
 */
int cf_repo_put_index(struct cf_repo *r, const struct cf_index_pack *packs, size_t npacks,
                      size_t *len) CF_MUST_CHECK;
/* cf_repo_store_pack() - store a finished pack, then the index object naming its blobs. */
int cf_repo_store_pack(struct cf_repo *r, const uint8_t *pack, size_t len,
                       const struct cf_index_pack *ip, size_t *ilen) CF_MUST_CHECK;
/*
 * cf_repo_store_pack_tmp() - the same for a pack streamed into @t (cf_store_tmp_new() of
 * r->store), whose id @ip->id is the SHA-256 of the bytes written to it. @t stays the
 * caller's to free; nothing is stored when @t failed.
 */
int cf_repo_store_pack_tmp(struct cf_repo *r, struct cf_store_tmp *t,
                           const struct cf_index_pack *ip, size_t *ilen) CF_MUST_CHECK;
/*
 * cf_repo_has_live() - blob @id is in a pack no prune has condemned (docs/format.md 16.4):
 * what a backup may deduplicate against or reuse. Condemned copies stay readable.
 */
bool cf_repo_has_live(const struct cf_repo *r, const uint8_t id[static CF_ID_BYTES]);
/* cf_repo_read_index() - get, check and open index object @name. CF_EINTEGRITY names it. */
int cf_repo_read_index(struct cf_repo *r, const char *name, struct cf_index_pack **packs,
                       size_t *npacks) CF_MUST_CHECK;
/* cf_repo_can_read() - CF_EPERM with a message unless this key holds data secret keys. */
int cf_repo_can_read(const struct cf_repo *r) CF_MUST_CHECK;
/*
 * cf_repo_verify_live_copy() - some copy of blob @id in a pack no prune condemned reads back
 * and verifies (prune asks before deleting the condemned copies; the fallback of
 * cf_repo_read_blob() would also accept a condemned one).
 */
bool cf_repo_verify_live_copy(struct cf_repo *r, const uint8_t id[static CF_ID_BYTES],
                              struct cf_zctx *z);
/*
 * cf_repo_read_blob() - fetch, decrypt and verify blob @id into a new buffer of its raw
 * length (cf_free_wipe). @z: the caller's decompression context.
 */
int cf_repo_read_blob(struct cf_repo *r, const uint8_t id[static CF_ID_BYTES], struct cf_zctx *z,
                      uint8_t **out, size_t *len) CF_MUST_CHECK;
/*
 * Reading blobs in runs: neighbours in a pack, each starting at most CF_RUN_GAP bytes after
 * the one before, CF_RUN_MAX bytes in all, fetched with one ranged read (one request to
 * cofferd instead of one per blob). A cache keeps the last CF_CACHE_RUNS runs: each backup
 * worker writes its own pack, so a file's chunks alternate between packs.
 *
 * struct cf_blob_cache - one per reading thread; zero it to start, free it with
 * cf_blob_cache_release().
 *
 * cf_repo_read_blob_run() - cf_repo_read_blob() for @ids[0] (same result, same errors). When
 * no run of @c holds it, the run from it over those of @ids[1..@n) that follow it in its pack
 * is fetched in place of the oldest. A blob that fails in a run is read again alone, and its
 * other copies tried.
 *
 * cf_repo_read_blob_run_into() - the same into @dst, which the blob must fill exactly: one of
 * another length is CF_EINTEGRITY (cf_repo_blob_len_error()), and nothing is written past
 * @len. After a failure @dst holds zeros or what it held before, no part of the blob.
 * cf_repo_blob_len_error() - that error, naming blob @id, its @len and the @want of the tree.
 *
 * cf_repo_load_tree_win() - cf_repo_load_tree() through @c (NULL: alone), for a walk that
 * loads many trees in an order (depth first) other than the one they were written in: what is
 * fetched is a window of CF_RUN_MAX bytes from the CF_RUN_ALIGN boundary before the tree.
 */
#define CF_RUN_GAP    ((uint64_t)64 << 10)
#define CF_RUN_MAX    ((uint64_t)2 << 20)
#define CF_RUN_ALIGN  ((uint64_t)64 << 10)
#define CF_CACHE_RUNS 4
struct cf_blob_run {
	uint8_t pack[CF_ID_BYTES];
	uint64_t off; /* of data[0] in the pack */
	uint64_t end;
	const uint8_t *data; /* in buf; NULL: the run is empty */
	struct cf_rbuf buf;  /* kept from fetch to fetch */
};
struct cf_blob_cache {
	struct cf_blob_run w[CF_CACHE_RUNS];
	uint64_t sizes[CF_CACHE_RUNS]; /* of each run's pack; 0: not known */
	size_t next;                   /* the run replaced next */
};
void cf_blob_cache_release(struct cf_blob_cache *c);
int cf_repo_read_blob_run(struct cf_repo *r, struct cf_blob_cache *c, const uint8_t *const *ids,
                          size_t n, struct cf_zctx *z, uint8_t **out, size_t *len) CF_MUST_CHECK;
/* cf_repo_load_tree() - read and decode tree @id. */
int cf_repo_load_tree(struct cf_repo *r, const uint8_t id[static CF_ID_BYTES], struct cf_zctx *z,
                      struct cf_tree **out) CF_MUST_CHECK;
int cf_repo_blob_len_error(const uint8_t id[static CF_ID_BYTES], size_t len, size_t want);
int cf_repo_read_blob_run_into(struct cf_repo *r, struct cf_blob_cache *c,
                               const uint8_t *const *ids, size_t n, struct cf_zctx *z, uint8_t *dst,
                               size_t len) CF_MUST_CHECK;
int cf_repo_load_tree_win(struct cf_repo *r, struct cf_blob_cache *c,
                          const uint8_t id[static CF_ID_BYTES], struct cf_zctx *z,
                          struct cf_tree **out) CF_MUST_CHECK;
/* cf_repo_pack_key() - the unwrapped key of pack @pack (cached). Borrowed; lives with @r. */
int cf_repo_pack_key(struct cf_repo *r, const uint8_t pack[static CF_ID_BYTES],
                     const struct cf_key **out) CF_MUST_CHECK;
/*
 * cf_repo_open_snapshot() - get, hash-check, verify (signer from the chain) and decrypt
 * snapshot @name.
 */
int cf_repo_open_snapshot(struct cf_repo *r, const char *name,
                          struct cf_snapshot **out) CF_MUST_CHECK;
/* cf_repo_device_seq() - the newest snapshot of @device: its seq (0: none) and hash. */
int cf_repo_device_seq(struct cf_repo *r, const uint8_t device[static CF_ID_BYTES], uint64_t *seq,
                       uint8_t hash[static CF_HASH_BYTES]) CF_MUST_CHECK;
/*
 * cf_repo_verify_seqs() - check every device's snapshot sequence (docs/format.md 10.2)
 * against itself and against what this device saw before, then record what it sees now.
 * Problems go to @ev (may be NULL) as CF_EV_PROBLEM. A snapshot object that is damaged or
 * forged is left out and noted (cf_repo_note_bad_snapshot) but fails nothing by itself: only
 * a gap it does not explain does. Returns 0, CF_EINTEGRITY (the first problem in
 * cf_err_last) or an error.
 */
int cf_repo_verify_seqs(struct cf_repo *r, const struct cf_events *ev) CF_MUST_CHECK;
/*
 * cf_repo_record_own() - record this device's snapshot @seq with @hash as seen, as soon as it
 * is stored: a storage side that withholds it from the next listing is then caught (a
 * rollback), and the next backup never reuses its sequence number. 0 or an error.
 */
int cf_repo_record_own(struct cf_repo *r, uint64_t seq,
                       const uint8_t hash[static CF_HASH_BYTES]) CF_MUST_CHECK;
/*
 * Snapshot objects left out as damaged or forged (P10: the others still list and restore),
 * kept for the life of @r (one thread at a time, like the rest of @r):
 * cf_repo_note_bad_snapshot() notes @name with @msg (copied), once; 0 or CF_ENOMEM.
 * cf_repo_is_bad_snapshot() tells whether @name was noted, cf_repo_is_bad_id() whether the
 * name of id @id was. cf_repo_clear_bad() frees them.
 */
int cf_repo_note_bad_snapshot(struct cf_repo *r, const char *name, const char *msg) CF_MUST_CHECK;
bool cf_repo_is_bad_snapshot(const struct cf_repo *r, const char *name);
bool cf_repo_is_bad_id(const struct cf_repo *r, const uint8_t id[static CF_ID_BYTES]);
void cf_repo_clear_bad(struct cf_repo *r);
/*
 * cf_repo_adopt_orphans() - index packs that have no index object (a backup killed between
 * the two writes), so their data is reused. Full devices only; a no-op otherwise.
 */
int cf_repo_adopt_orphans(struct cf_repo *r, size_t *adopted) CF_MUST_CHECK;

/*
 * cf_repo_finish_revocation() - when a device was removed and no rotate followed (an
 * interrupted revocation), append the rotate now; the epoch key the removed device holds
 * must not seal anything new. CF_EPERM on a device that cannot do it.
 */
int cf_repo_finish_revocation(struct cf_repo *r) CF_MUST_CHECK;

/* cf_repo_count_deleted() - soft-deleted objects on cofferd (0 elsewhere). */
int cf_repo_count_deleted(struct cf_repo *r, uint64_t *count) CF_MUST_CHECK;

/* records.c: docs/format.md 16.1 and 16.3 */
struct cf_forget_entry;
struct cf_prune_record;
/* One trusted condemn record with its observe record, if any. */
struct cf_condemn {
	char name[2 * CF_ID_BYTES + 1];
	struct cf_prune_record *rec;
	char obs_name[2 * CF_ID_BYTES + 1]; /* "" when none */
	struct cf_prune_record *obs;
};
/* A trusted forget record: its name and who signed it. */
struct cf_forget_ref {
	char name[2 * CF_ID_BYTES + 1];
	uint8_t signer[CF_ID_BYTES];
	size_t first; /* its entries: forgot[first .. first + count) */
	size_t count;
};
struct cf_records {
	struct cf_forget_entry *forgot; /* every entry of every trusted forget record */
	size_t nforgot;
	struct cf_forget_ref *forgets;
	size_t nforgets;
	struct cf_index *forgotten; /* set of forgotten snapshot ids */
	struct cf_index *condemned; /* set of condemned pack ids */
	struct cf_condemn *conds;
	size_t nconds;
};
/* cf_repo_load_records() - read every forget and prune record once (untrusted ones ignored). */
int cf_repo_load_records(struct cf_repo *r) CF_MUST_CHECK;
/* cf_repo_reload_records() - drop what was loaded and read the records again. */
int cf_repo_reload_records(struct cf_repo *r) CF_MUST_CHECK;
void cf_records_free(struct cf_records *rec);
bool cf_repo_is_forgotten(const struct cf_repo *r, const uint8_t snap[static CF_ID_BYTES]);
/* cf_repo_forgotten_name() - snapshot object @name is forgotten (snapshots.c). */
bool cf_repo_forgotten_name(const struct cf_repo *r, const char *name);
bool cf_repo_is_condemned(const struct cf_repo *r, const uint8_t pack[static CF_ID_BYTES]);
/* cf_repo_trusted_signer() - a full device of the chain that is not removed, else NULL. */
const struct cf_chain_device *cf_repo_trusted_signer(const struct cf_repo *r,
                                                     const uint8_t id[static CF_ID_BYTES]);
/* forget.c */
/* cf_repo_delete_forgotten() - delete snapshot objects that trusted forget records name. */
int cf_repo_delete_forgotten(struct cf_repo *r) CF_MUST_CHECK;
/* cf_repo_snapshot_present() - snapshot object @id is in the store. */
bool cf_repo_snapshot_present(struct cf_repo *r, const uint8_t id[static CF_ID_BYTES]);
/*
 * cf_forget_write() - sort @e[0..n) and store them as one forget record of this device that
 * supersedes the records @sup[0..nsup) (docs/format.md 16.1).
 */
int cf_forget_write(struct cf_repo *r, struct cf_forget_entry *e, size_t n,
                    const uint8_t (*sup)[CF_ID_BYTES], size_t nsup) CF_MUST_CHECK;
/*
 * cf_forget_resign() - before @device is removed, re-sign every snapshot its forget records
 * name into one record of this device (docs/format.md 16.1).
 */
int cf_forget_resign(struct cf_repo *r, const uint8_t device[static CF_ID_BYTES]) CF_MUST_CHECK;

/* cache.c: what a backup-only device keeps to back up incrementally (all optional). */
/* cf_cache_file() - COFFER_CACHE/<fingerprint>/@name, the directory created; NULL when that
 * fails (the error is cleared: a cache that cannot be written is only slower). */
char *cf_cache_file(const struct cf_repo *r, const char *name);
int cf_cache_put_tree(struct cf_repo *r, const uint8_t id[static CF_ID_BYTES], const uint8_t *p,
                      size_t len);
int cf_cache_get_tree(struct cf_repo *r, const uint8_t id[static CF_ID_BYTES],
                      struct cf_tree **out) CF_MUST_CHECK;
int cf_cache_put_parent(struct cf_repo *r, const char *host, char **paths, size_t n,
                        const uint8_t snap[static CF_ID_BYTES],
                        const uint8_t tree[static CF_ID_BYTES]);
int cf_cache_get_parent(struct cf_repo *r, const char *host, char **paths, size_t n,
                        uint8_t snap[static CF_ID_BYTES],
                        uint8_t tree[static CF_ID_BYTES]) CF_MUST_CHECK;

/* cf_id_name() - hex name of an id into @out (65 bytes). */
void cf_id_name(char *out, const uint8_t id[static CF_ID_BYTES]);

/* Paths built while walking (any length, any bytes but NUL). */
struct cf_path {
	uint8_t *p;
	size_t len;
	size_t cap;
};
int cf_path_push(struct cf_path *pa, const uint8_t *name, size_t len, size_t *saved) CF_MUST_CHECK;
void cf_path_pop(struct cf_path *pa, size_t saved);
void cf_path_release(struct cf_path *pa);
/* cf_path_cstr() - the path NUL-terminated (valid until the next push). */
const char *cf_path_cstr(const struct cf_path *pa);

#endif
