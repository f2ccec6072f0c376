/*
 * meta_sqlite.h - internals shared by meta_sqlite.c (database, accounts, devices, nonces)
 * and meta_sqlite_obj.c (objects). One connection guarded by one mutex: every operation
 * takes the mutex for its statements and transaction, and never calls a callback while
 * holding it (rows are fetched in batches, then handed out).
 */
#ifndef CFD_META_SQLITE_H
#define CFD_META_SQLITE_H

#include <pthread.h>
#include <sqlite3.h>

#include "meta.h"

enum sq_stmt {
	SQ_BEGIN,
	SQ_COMMIT,
	SQ_ROLLBACK,
	SQ_ACC_INSERT,
	SQ_ACC_GET,
	SQ_ACC_BATCH,
	SQ_ACC_DELETE,
	SQ_ACC_DEVICES_DELETE,
	SQ_ACC_OBJECTS_DELETE,
	SQ_ACC_TOKEN,
	SQ_ACC_BURN,
	SQ_ACC_QUOTA,
	SQ_ACC_USED_ADD,
	SQ_ACC_USED_SUB,
	SQ_DEV_KEY,
	SQ_DEV_GET,
	SQ_DEV_UPSERT,
	SQ_DEV_PENDING,
	SQ_DEV_PENDING_DELETE,
	SQ_DEV_RECOVERY_RETIRE,
	SQ_OBJ_GET,
	SQ_OBJ_INSERT,
	SQ_OBJ_COUNT,
	SQ_OBJ_COMMIT,
	SQ_OBJ_REMOVE,
	SQ_OBJ_LIST,
	SQ_OBJ_LIST_DELETED,
	SQ_OBJ_SOFT_DELETE,
	SQ_OBJ_UNDELETE,
	SQ_OBJ_CLAIM,
	SQ_OBJ_EXPIRE,
	SQ_OBJ_DELETED_BATCH,
	SQ_OBJ_PURGING_BATCH,
	SQ_OBJ_UNFINISHED_BATCH,
	SQ_NONCE_GET,
	SQ_NONCE_PUT,
	SQ_NONCE_PRUNE,
	SQ_SET_GET,
	SQ_SET_PUT,
	SQ_COUNT
};

struct sq_meta {
	struct cfd_meta base; /* first: a struct cfd_meta * is a struct sq_meta * */
	sqlite3 *db;
	pthread_mutex_t lock;
	sqlite3_stmt *st[SQ_COUNT];
	bool sync_normal; /* left at synchronous=NORMAL by a nonce: sq_done() sets FULL first */
	bool in_nonce;    /* committing a nonce: stay at NORMAL */
};

/* The SQL text of each statement, indexed by enum sq_stmt. */
extern const char *const sq_sql[SQ_COUNT];

static inline struct sq_meta *
sq_of(struct cfd_meta *m)
{
	return (struct sq_meta *)m;
}

void sq_lock(struct sq_meta *q);
void sq_unlock(struct sq_meta *q);
/* sq_err() - CF_ESYS with the database's message, prefixed by @what. */
int sq_err(struct sq_meta *q, const char *what);
/*
 * sq_sync_level() - the connection's PRAGMA synchronous as read back (1 NORMAL, 2 FULL), or -1:
 * for tests (tests/tools/cf_metatest.c), which check that nonces alone are not synced.
 */
int sq_sync_level(struct cfd_meta *m);
/* sq_stmt() - statement @i, reset and with its bindings cleared. */
sqlite3_stmt *sq_stmt(struct sq_meta *q, enum sq_stmt i);
/* sq_done() - step a statement that returns no row: 0 or sq_err(). */
int sq_done(struct sq_meta *q, sqlite3_stmt *s);
/* sq_row() - step once: 0 with a row, CF_ENOENT without, else sq_err(). */
int sq_row(struct sq_meta *q, sqlite3_stmt *s);
int sq_exec(struct sq_meta *q, enum sq_stmt i);
int sq_bind_text(struct sq_meta *q, sqlite3_stmt *s, int i, const char *t);
int sq_bind_blob(struct sq_meta *q, sqlite3_stmt *s, int i, const void *p, size_t n);
int sq_bind_i64(struct sq_meta *q, sqlite3_stmt *s, int i, int64_t v);
/* sq_bind_key() - account, kind, name as parameters 1, 2, 3. */
int sq_bind_key(struct sq_meta *q, sqlite3_stmt *s, const struct cfd_obj_key *k);
/* sq_tx_end() - COMMIT when @rc is 0 (returning its error if it fails), else ROLLBACK. */
int sq_tx_end(struct sq_meta *q, int rc);
/* sq_used_add() / sq_used_sub() - change the account's used bytes inside a transaction. */
int sq_used_add(struct sq_meta *q, const char *account, uint64_t n);
int sq_used_sub(struct sq_meta *q, const char *account, uint64_t n);
/* sq_changes() - rows changed by the last statement. */
int64_t sq_changes(struct sq_meta *q);

/* Object operations (meta_sqlite_obj.c), with the signatures of struct cfd_meta_ops. */
int sq_object_reserve(struct cfd_meta *m, const struct cfd_obj_key *k, uint64_t size, int64_t now,
                      uint32_t max_live);
int sq_object_commit(struct cfd_meta *m, const struct cfd_obj_key *k, int64_t now,
                     const struct cfd_commit *c);
int sq_object_abort(struct cfd_meta *m, const struct cfd_obj_key *k);
int sq_object_get(struct cfd_meta *m, const struct cfd_obj_key *k, struct cfd_obj_info *out);
int sq_object_list(struct cfd_meta *m, const struct cfd_list_query *lq, cfd_obj_fn *fn, void *arg);
int sq_object_delete(struct cfd_meta *m, const struct cfd_obj_key *k, int64_t now);
int sq_object_undelete(struct cfd_meta *m, const struct cfd_obj_key *k);
int sq_object_claim(struct cfd_meta *m, const struct cfd_obj_key *k);
int sq_object_purge(struct cfd_meta *m, const struct cfd_obj_key *k);
int sq_deleted_list(struct cfd_meta *m, cfd_obj_fn *fn, void *arg);
int sq_expired_claim(struct cfd_meta *m, int64_t cutoff, cfd_obj_fn *fn, void *arg);
int sq_unfinished_list(struct cfd_meta *m, cfd_obj_fn *fn, void *arg);
/* sq_apply_commit() - the devices and token parts of a commit (transaction open). */
int sq_apply_commit(struct sq_meta *q, const char *account, const struct cfd_commit *c);

#endif
