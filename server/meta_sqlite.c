/*
 * meta_sqlite.c - the metadata interface of meta.h over SQLite: opening, the schema, the
 * statement helpers, accounts, devices, nonces and settings. Objects: meta_sqlite_obj.c.
 *
 * WAL mode with synchronous=FULL: a 201 is sent only after the commit that made the object
 * live is durable. Nonces alone are committed with synchronous=NORMAL (see sq_nonce_use()). One
 * connection and one mutex (SQLite serialises writers anyway); the admin commands may open the same
 * file from another process, so writes use BEGIN IMMEDIATE and a busy timeout.
 */
#include "meta_sqlite.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"

#define SCHEMA_VERSION  1
#define BUSY_TIMEOUT_MS 10000
#define ACCOUNT_BATCH   64

#define ACC_COLS                                                                                   \
	"a.name, a.quota, a.used, a.created, a.token_hash IS NULL, (SELECT count(*) FROM devices " \
	"d WHERE d.account = a.name AND d.removed = 0 AND d.role IN (1, 2))"
#define OBJ_COLS "account, kind, name, size, created, coalesce(deleted_at, 0), state"
#define OBJ_BATCH(filter)                                                                          \
	"SELECT " OBJ_COLS " FROM objects WHERE " filter " AND (account, kind, name) > (?1, ?2, "  \
	"?3) ORDER BY account, kind, name LIMIT ?4"
#define OBJ_WHERE_KEY "account = ?1 AND kind = ?2 AND name = ?3"

const char *const sq_sql[SQ_COUNT] = {
        [SQ_BEGIN] = "BEGIN IMMEDIATE",
        [SQ_COMMIT] = "COMMIT",
        [SQ_ROLLBACK] = "ROLLBACK",
        [SQ_ACC_INSERT] = "INSERT INTO accounts(name, quota, used, token_hash, created) "
                          "VALUES (?1, ?2, 0, ?3, ?4)",
        [SQ_ACC_GET] = "SELECT " ACC_COLS " FROM accounts a WHERE a.name = ?1",
        [SQ_ACC_BATCH] = "SELECT " ACC_COLS " FROM accounts a WHERE a.name > ?1 "
                         "ORDER BY a.name LIMIT ?2",
        [SQ_ACC_DELETE] = "DELETE FROM accounts WHERE name = ?1",
        [SQ_ACC_DEVICES_DELETE] = "DELETE FROM devices WHERE account = ?1",
        [SQ_ACC_OBJECTS_DELETE] = "DELETE FROM objects WHERE account = ?1",
        [SQ_ACC_TOKEN] = "SELECT token_hash FROM accounts WHERE name = ?1",
        [SQ_ACC_BURN] = "UPDATE accounts SET token_hash = NULL WHERE name = ?1",
        [SQ_ACC_QUOTA] = "SELECT quota, used FROM accounts WHERE name = ?1",
        [SQ_ACC_USED_ADD] = "UPDATE accounts SET used = used + ?2 WHERE name = ?1",
        [SQ_ACC_USED_SUB] = "UPDATE accounts SET used = max(used - ?2, 0) WHERE name = ?1",
        [SQ_DEV_KEY] = "SELECT sign_pk FROM devices WHERE id = ?1 AND removed = 0 LIMIT 1",
        [SQ_DEV_GET] = "SELECT sign_pk, role, removed FROM devices WHERE account = ?1 AND id = ?2",
        [SQ_DEV_UPSERT] = "INSERT INTO devices(account, id, sign_pk, role, removed) "
                          "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(account, id) DO UPDATE SET "
                          "sign_pk = excluded.sign_pk, role = excluded.role, "
                          "removed = excluded.removed",
        [SQ_DEV_PENDING] = "INSERT OR IGNORE INTO devices(account, id, sign_pk, role, removed) "
                           "VALUES (?1, ?2, ?3, 0, 0)",
        [SQ_DEV_PENDING_DELETE] = "DELETE FROM devices WHERE account = ?1 AND id = ?2 AND "
                                  "role = 0",
        [SQ_DEV_RECOVERY_RETIRE] = "UPDATE devices SET removed = 1 WHERE account = ?1 AND "
                                   "role = 3 AND id <> ?2",
        [SQ_OBJ_GET] = "SELECT " OBJ_COLS " FROM objects WHERE " OBJ_WHERE_KEY,
        [SQ_OBJ_INSERT] = "INSERT INTO objects(account, kind, name, size, created, deleted_at, "
                          "state) VALUES (?1, ?2, ?3, ?4, ?5, NULL, 1)",
        [SQ_OBJ_COUNT] = "SELECT count(*) FROM objects WHERE account = ?1 AND kind = ?2",
        [SQ_OBJ_COMMIT] =
                "UPDATE objects SET state = 0, created = ?4 WHERE " OBJ_WHERE_KEY " AND state = 1",
        [SQ_OBJ_REMOVE] = "DELETE FROM objects WHERE " OBJ_WHERE_KEY,
        [SQ_OBJ_LIST] = "SELECT " OBJ_COLS " FROM objects WHERE account = ?1 AND kind = ?2 AND "
                        "name > ?3 AND state = 0 AND deleted_at IS NULL ORDER BY name LIMIT ?4",
        [SQ_OBJ_LIST_DELETED] = "SELECT " OBJ_COLS " FROM objects WHERE account = ?1 AND kind = ?2 "
                                "AND name > ?3 AND state = 0 AND deleted_at IS NOT NULL "
                                "ORDER BY name LIMIT ?4",
        [SQ_OBJ_SOFT_DELETE] = "UPDATE objects SET deleted_at = ?4 WHERE " OBJ_WHERE_KEY
                               " AND state = 0 AND deleted_at IS NULL",
        [SQ_OBJ_UNDELETE] =
                "UPDATE objects SET deleted_at = NULL WHERE " OBJ_WHERE_KEY " AND state = 0",
        [SQ_OBJ_CLAIM] = "UPDATE objects SET state = 2 WHERE " OBJ_WHERE_KEY " AND state = 0",
        [SQ_OBJ_EXPIRE] = "UPDATE objects SET state = 2 WHERE state = 0 AND deleted_at IS NOT "
                          "NULL AND deleted_at <= ?1",
        [SQ_OBJ_DELETED_BATCH] = OBJ_BATCH("state = 0 AND deleted_at IS NOT NULL"),
        [SQ_OBJ_PURGING_BATCH] = OBJ_BATCH("state = 2"),
        [SQ_OBJ_UNFINISHED_BATCH] = OBJ_BATCH("state <> 0"),
        [SQ_NONCE_GET] = "SELECT expires FROM nonces WHERE device = ?1 AND nonce = ?2",
        [SQ_NONCE_PUT] = "INSERT OR REPLACE INTO nonces(device, nonce, expires) "
                         "VALUES (?1, ?2, ?3)",
        [SQ_NONCE_PRUNE] = "DELETE FROM nonces WHERE expires < ?1",
        [SQ_SET_GET] = "SELECT value FROM settings WHERE key = ?1",
        [SQ_SET_PUT] = "INSERT OR REPLACE INTO settings(key, value) VALUES (?1, ?2)",
};

static const char schema[] =
        "CREATE TABLE accounts(name TEXT PRIMARY KEY, quota INTEGER NOT NULL, "
        "  used INTEGER NOT NULL, token_hash BLOB, created INTEGER NOT NULL);"
        "CREATE TABLE devices(account TEXT NOT NULL, id BLOB NOT NULL, sign_pk BLOB NOT NULL, "
        "  role INTEGER NOT NULL, removed INTEGER NOT NULL, PRIMARY KEY(account, id));"
        "CREATE INDEX devices_id ON devices(id);"
        "CREATE TABLE objects(account TEXT NOT NULL, kind INTEGER NOT NULL, name TEXT NOT NULL, "
        "  size INTEGER NOT NULL, created INTEGER NOT NULL, deleted_at INTEGER, "
        "  state INTEGER NOT NULL, PRIMARY KEY(account, kind, name)) WITHOUT ROWID;"
        "CREATE INDEX objects_deleted ON objects(deleted_at) WHERE deleted_at IS NOT NULL;"
        "CREATE INDEX objects_state ON objects(state) WHERE state <> 0;"
        "CREATE TABLE nonces(device BLOB NOT NULL, nonce BLOB NOT NULL, "
        "  expires INTEGER NOT NULL, PRIMARY KEY(device, nonce)) WITHOUT ROWID;"
        "CREATE INDEX nonces_expires ON nonces(expires);"
        "CREATE TABLE settings(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        "PRAGMA user_version = 1;";

void
sq_lock(struct sq_meta *q)
{
	CF_ASSERT(pthread_mutex_lock(&q->lock) == 0);
}

/*
 * Reset every statement that is still stepping: an active statement holds a read snapshot,
 * which would keep the WAL from being checkpointed and a COMMIT from releasing it.
 */
static void
reset_busy(struct sq_meta *q)
{
	for (sqlite3_stmt *s = sqlite3_next_stmt(q->db, NULL); s != NULL;
	     s = sqlite3_next_stmt(q->db, s)) {
		if (sqlite3_stmt_busy(s))
			(void)sqlite3_reset(s);
	}
}

void
sq_unlock(struct sq_meta *q)
{
	reset_busy(q);
	CF_ASSERT(pthread_mutex_unlock(&q->lock) == 0);
}

int
sq_err(struct sq_meta *q, const char *what)
{
	errno = 0; /* the database's message says it all; errno may be stale */
	return cf_err_set(CF_ESYS, "database: %s: %s", what, sqlite3_errmsg(q->db));
}

sqlite3_stmt *
sq_stmt(struct sq_meta *q, enum sq_stmt i)
{
	sqlite3_stmt *s = q->st[i];

	(void)sqlite3_reset(s);
	(void)sqlite3_clear_bindings(s);
	return s;
}

/*
 * PRAGMA synchronous, compiled afresh each time: SQLite applies a pragma's setting when the
 * statement is prepared, so a kept statement, stepped again, would not set it.
 */
static int
set_sync(struct sq_meta *q, bool full)
{
	if (sqlite3_exec(q->db, full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
	                 NULL, NULL, NULL) != SQLITE_OK)
		return sq_err(q, "synchronous");
	return 0;
}

int
sq_sync_level(struct cfd_meta *m)
{
	struct sq_meta *q = sq_of(m);
	sqlite3_stmt *s = NULL;
	int level = -1;

	sq_lock(q);
	if (sqlite3_prepare_v2(q->db, "PRAGMA synchronous", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		level = sqlite3_column_int(s, 0);
	(void)sqlite3_finalize(s);
	sq_unlock(q);
	return level;
}

int
sq_done(struct sq_meta *q, sqlite3_stmt *s)
{
	int rc;

	if (q->sync_normal && !q->in_nonce) {
		if ((rc = set_sync(q, true)) != 0)
			return rc;
		q->sync_normal = false;
	}
	rc = sqlite3_step(s);

	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return cf_err_set(CF_EEXIST, "database: row exists");
	return sq_err(q, "step");
}

int
sq_row(struct sq_meta *q, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return CF_ENOENT;
	return sq_err(q, "step");
}

int
sq_exec(struct sq_meta *q, enum sq_stmt i)
{
	return sq_done(q, sq_stmt(q, i));
}

int
sq_bind_text(struct sq_meta *q, sqlite3_stmt *s, int i, const char *t)
{
	if (sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC) != SQLITE_OK)
		return sq_err(q, "bind");
	return 0;
}

int
sq_bind_blob(struct sq_meta *q, sqlite3_stmt *s, int i, const void *p, size_t n)
{
	if (n > INT32_MAX || sqlite3_bind_blob(s, i, p, (int)n, SQLITE_STATIC) != SQLITE_OK)
		return sq_err(q, "bind");
	return 0;
}

int
sq_bind_i64(struct sq_meta *q, sqlite3_stmt *s, int i, int64_t v)
{
	if (sqlite3_bind_int64(s, i, v) != SQLITE_OK)
		return sq_err(q, "bind");
	return 0;
}

int
sq_bind_key(struct sq_meta *q, sqlite3_stmt *s, const struct cfd_obj_key *k)
{
	int rc;

	if ((rc = sq_bind_text(q, s, 1, k->account)) != 0 ||
	    (rc = sq_bind_i64(q, s, 2, (int64_t)k->kind)) != 0 ||
	    (rc = sq_bind_text(q, s, 3, k->name)) != 0)
		return rc;
	return 0;
}

int
sq_tx_end(struct sq_meta *q, int rc)
{
	reset_busy(q);
	if (rc == 0)
		return sq_exec(q, SQ_COMMIT);
	(void)sq_exec(q, SQ_ROLLBACK);
	return rc;
}

int64_t
sq_changes(struct sq_meta *q)
{
	return (int64_t)sqlite3_changes(q->db);
}

static int
used_change(struct sq_meta *q, enum sq_stmt which, const char *account, uint64_t n)
{
	sqlite3_stmt *s = sq_stmt(q, which);
	int rc;

	if (n > INT64_MAX)
		return CF_ETOOBIG;
	if ((rc = sq_bind_text(q, s, 1, account)) != 0 ||
	    (rc = sq_bind_i64(q, s, 2, (int64_t)n)) != 0)
		return rc;
	return sq_done(q, s);
}

int
sq_used_add(struct sq_meta *q, const char *account, uint64_t n)
{
	return used_change(q, SQ_ACC_USED_ADD, account, n);
}

int
sq_used_sub(struct sq_meta *q, const char *account, uint64_t n)
{
	return used_change(q, SQ_ACC_USED_SUB, account, n);
}

/* ---- accounts ---- */

static int
sq_account_create(struct cfd_meta *m, const char *name, uint64_t quota,
                  const uint8_t token_hash[static CF_HASH_BYTES], int64_t now)
{
	struct sq_meta *q = sq_of(m);
	sqlite3_stmt *s = NULL;
	int rc;

	if (quota > INT64_MAX)
		return CF_ETOOBIG;
	sq_lock(q);
	s = sq_stmt(q, SQ_ACC_INSERT);
	if ((rc = sq_bind_text(q, s, 1, name)) == 0 &&
	    (rc = sq_bind_i64(q, s, 2, (int64_t)quota)) == 0 &&
	    (rc = sq_bind_blob(q, s, 3, token_hash, CF_HASH_BYTES)) == 0 &&
	    (rc = sq_bind_i64(q, s, 4, now)) == 0)
		rc = sq_done(q, s);
	sq_unlock(q);
	return rc;
}

static void
account_from_row(sqlite3_stmt *s, struct cfd_account *a)
{
	const unsigned char *name = sqlite3_column_text(s, 0);

	memset(a, 0, sizeof(*a));
	if (name != NULL)
		(void)snprintf(a->name, sizeof(a->name), "%s", (const char *)name);
	a->quota = (uint64_t)sqlite3_column_int64(s, 1);
	a->used = (uint64_t)sqlite3_column_int64(s, 2);
	a->created = sqlite3_column_int64(s, 3);
	a->enrolled = sqlite3_column_int(s, 4) != 0;
	a->ndevices = (uint64_t)sqlite3_column_int64(s, 5);
}

static int
sq_account_get(struct cfd_meta *m, const char *name, struct cfd_account *out)
{
	struct sq_meta *q = sq_of(m);
	sqlite3_stmt *s = NULL;
	int rc;

	sq_lock(q);
	s = sq_stmt(q, SQ_ACC_GET);
	if ((rc = sq_bind_text(q, s, 1, name)) == 0 && (rc = sq_row(q, s)) == 0)
		account_from_row(s, out);
	sq_unlock(q);
	return rc;
}

/* One batch of accounts after @after, copied out so the callback runs without the lock. */
static int
account_batch(struct cfd_meta *m, const char *after, struct cfd_account *rows, size_t *n)
{
	struct sq_meta *q = sq_of(m);
	sqlite3_stmt *s = NULL;
	int rc;

	*n = 0;
	sq_lock(q);
	s = sq_stmt(q, SQ_ACC_BATCH);
	if ((rc = sq_bind_text(q, s, 1, after)) != 0 ||
	    (rc = sq_bind_i64(q, s, 2, ACCOUNT_BATCH)) != 0)
		goto out;
	while (*n < ACCOUNT_BATCH && (rc = sq_row(q, s)) == 0)
		account_from_row(s, &rows[(*n)++]);
	if (rc == CF_ENOENT)
		rc = 0;
out:
	sq_unlock(q);
	return rc;
}

static int
sq_account_list(struct cfd_meta *m, cfd_account_fn *fn, void *arg)
{
	return cfd_walk_accounts(m, account_batch, ACCOUNT_BATCH, fn, arg);
}

static int
account_delete_rows(struct sq_meta *q, const char *name)
{
	static const enum sq_stmt steps[] = {SQ_ACC_DEVICES_DELETE, SQ_ACC_OBJECTS_DELETE,
	                                     SQ_ACC_DELETE};
	for (size_t i = 0; i < CF_ARRAY_LEN(steps); i++) {
		sqlite3_stmt *s = sq_stmt(q, steps[i]);
		int rc;

		if ((rc = sq_bind_text(q, s, 1, name)) != 0 || (rc = sq_done(q, s)) != 0)
			return rc;
	}
	return 0;
}

static int
sq_account_delete(struct cfd_meta *m, const char *name)
{
	struct sq_meta *q = sq_of(m);
	int rc;

	sq_lock(q);
	if ((rc = sq_exec(q, SQ_BEGIN)) != 0)
		goto out;
	rc = account_delete_rows(q, name);
	if (rc == 0 && sq_changes(q) == 0)
		rc = CF_ENOENT;
	rc = sq_tx_end(q, rc);
out:
	sq_unlock(q);
	return rc;
}

/* The stored token hash must be there (not burned) and equal, compared in constant time. */
static int
token_matches(struct sq_meta *q, const char *name, const uint8_t hash[static CF_HASH_BYTES])
{
	sqlite3_stmt *s = sq_stmt(q, SQ_ACC_TOKEN);
	const void *stored = NULL;
	int rc;

	if ((rc = sq_bind_text(q, s, 1, name)) != 0 || (rc = sq_row(q, s)) != 0)
		return rc == CF_ENOENT ? CF_EAUTH : rc;
	stored = sqlite3_column_blob(s, 0);
	if (stored == NULL || sqlite3_column_bytes(s, 0) != CF_HASH_BYTES ||
	    !cf_ct_eq(stored, hash, CF_HASH_BYTES))
		return CF_EAUTH;
	return 0;
}

static int
sq_token_check(struct cfd_meta *m, const char *name, const uint8_t token_hash[static CF_HASH_BYTES])
{
	struct sq_meta *q = sq_of(m);
	int rc;

	sq_lock(q);
	rc = token_matches(q, name, token_hash);
	sq_unlock(q);
	return rc;
}

/* ---- devices ---- */

static int
sq_device_key(struct cfd_meta *m, const uint8_t id[static CF_ID_BYTES],
              uint8_t sign_pk[static CF_SIGN_PK_BYTES])
{
	struct sq_meta *q = sq_of(m);
	sqlite3_stmt *s = NULL;
	int rc;

	sq_lock(q);
	s = sq_stmt(q, SQ_DEV_KEY);
	if ((rc = sq_bind_blob(q, s, 1, id, CF_ID_BYTES)) == 0 && (rc = sq_row(q, s)) == 0) {
		if (sqlite3_column_bytes(s, 0) == CF_SIGN_PK_BYTES)
			memcpy(sign_pk, sqlite3_column_blob(s, 0), CF_SIGN_PK_BYTES);
		else
			rc = cf_err_set(CF_EINTERNAL, "database: malformed device key");
	}
	sq_unlock(q);
	return rc;
}

static int
sq_device_get(struct cfd_meta *m, const char *account, const uint8_t id[static CF_ID_BYTES],
              struct cfd_device *out)
{
	struct sq_meta *q = sq_of(m);
	sqlite3_stmt *s = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	sq_lock(q);
	s = sq_stmt(q, SQ_DEV_GET);
	if ((rc = sq_bind_text(q, s, 1, account)) != 0 ||
	    (rc = sq_bind_blob(q, s, 2, id, CF_ID_BYTES)) != 0 || (rc = sq_row(q, s)) != 0)
		goto out;
	if (sqlite3_column_bytes(s, 0) != CF_SIGN_PK_BYTES) {
		rc = cf_err_set(CF_EINTERNAL, "database: malformed device key");
		goto out;
	}
	memcpy(out->id, id, CF_ID_BYTES);
	memcpy(out->sign_pk, sqlite3_column_blob(s, 0), CF_SIGN_PK_BYTES);
	out->role = (uint8_t)sqlite3_column_int(s, 1);
	out->removed = sqlite3_column_int(s, 2) != 0;
out:
	sq_unlock(q);
	return rc;
}

static int
device_write(struct sq_meta *q, const char *account, const struct cfd_device *d)
{
	bool pending = d->role == CFD_ROLE_PENDING;
	sqlite3_stmt *s = sq_stmt(q, pending ? SQ_DEV_PENDING : SQ_DEV_UPSERT);
	int rc;

	if ((rc = sq_bind_text(q, s, 1, account)) != 0 ||
	    (rc = sq_bind_blob(q, s, 2, d->id, CF_ID_BYTES)) != 0 ||
	    (rc = sq_bind_blob(q, s, 3, d->sign_pk, CF_SIGN_PK_BYTES)) != 0)
		return rc;
	if (!pending && ((rc = sq_bind_i64(q, s, 4, d->role)) != 0 ||
	                 (rc = sq_bind_i64(q, s, 5, d->removed ? 1 : 0)) != 0))
		return rc;
	return sq_done(q, s);
}

int
sq_apply_commit(struct sq_meta *q, const char *account, const struct cfd_commit *c)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (c->token_hash != NULL) {
		if ((rc = token_matches(q, account, c->token_hash)) != 0)
			return rc;
		s = sq_stmt(q, SQ_ACC_BURN);
		if ((rc = sq_bind_text(q, s, 1, account)) != 0 || (rc = sq_done(q, s)) != 0)
			return rc;
	}
	for (size_t i = 0; i < c->ndevices; i++) {
		if ((rc = device_write(q, account, &c->devices[i])) != 0)
			return rc;
	}
	if (c->recovery_id == NULL)
		return 0;
	s = sq_stmt(q, SQ_DEV_RECOVERY_RETIRE);
	if ((rc = sq_bind_text(q, s, 1, account)) != 0 ||
	    (rc = sq_bind_blob(q, s, 2, c->recovery_id, CF_ID_BYTES)) != 0)
		return rc;
	return sq_done(q, s);
}

/* ---- nonces ---- */

static int
nonce_check_put(struct sq_meta *q, const uint8_t *id, const uint8_t *nonce, int64_t now,
                int64_t expires)
{
	sqlite3_stmt *s = sq_stmt(q, SQ_NONCE_GET);
	int rc;

	if ((rc = sq_bind_blob(q, s, 1, id, CF_ID_BYTES)) != 0 ||
	    (rc = sq_bind_blob(q, s, 2, nonce, CFD_NONCE_BYTES)) != 0)
		return rc;
	rc = sq_row(q, s);
	if (rc == 0 && sqlite3_column_int64(s, 0) >= now)
		return CF_EEXIST;
	if (rc != 0 && rc != CF_ENOENT)
		return rc;
	s = sq_stmt(q, SQ_NONCE_PUT);
	if ((rc = sq_bind_blob(q, s, 1, id, CF_ID_BYTES)) != 0 ||
	    (rc = sq_bind_blob(q, s, 2, nonce, CFD_NONCE_BYTES)) != 0 ||
	    (rc = sq_bind_i64(q, s, 3, expires)) != 0)
		return rc;
	return sq_done(q, s);
}

static int
sq_nonce_use(struct cfd_meta *m, const uint8_t id[static CF_ID_BYTES],
             const uint8_t nonce[static CFD_NONCE_BYTES], int64_t now, int64_t expires)
{
	struct sq_meta *q = sq_of(m);
	int rc = 0;

	/*
	 * A nonce's commit is not synced: it is in the WAL before the reply, so it survives a
	 * crash of cofferd, and the next synced commit takes it to the disk. A power cut may lose
	 * the nonces of the last moments; their requests could then be replayed until they
	 * expire, by someone who captured them whole. A GET replayed returns ciphertext, a PUT
	 * stores the same content-addressed object again. An fsync for every request, each
	 * holding the lock, cost a sixth of a restore's time through cofferd.
	 */
	sq_lock(q);
	q->in_nonce = true;
	if (!q->sync_normal && (rc = set_sync(q, false)) == 0)
		q->sync_normal = true;
	if (q->sync_normal && (rc = sq_exec(q, SQ_BEGIN)) == 0)
		rc = sq_tx_end(q, nonce_check_put(q, id, nonce, now, expires));
	q->in_nonce = false;
	sq_unlock(q);
	return rc;
}

static int
sq_nonce_prune(struct cfd_meta *m, int64_t now)
{
	struct sq_meta *q = sq_of(m);
	sqlite3_stmt *s = NULL;
	int rc;

	sq_lock(q);
	s = sq_stmt(q, SQ_NONCE_PRUNE);
	if ((rc = sq_bind_i64(q, s, 1, now)) == 0)
		rc = sq_done(q, s);
	sq_unlock(q);
	return rc;
}

/* ---- settings ---- */

static int
sq_setting_get(struct cfd_meta *m, const char *key, int64_t *out)
{
	struct sq_meta *q = sq_of(m);
	sqlite3_stmt *s = NULL;
	int rc;

	sq_lock(q);
	s = sq_stmt(q, SQ_SET_GET);
	if ((rc = sq_bind_text(q, s, 1, key)) == 0 && (rc = sq_row(q, s)) == 0)
		*out = sqlite3_column_int64(s, 0);
	sq_unlock(q);
	return rc;
}

static int
sq_setting_set(struct cfd_meta *m, const char *key, int64_t value)
{
	struct sq_meta *q = sq_of(m);
	sqlite3_stmt *s = NULL;
	int rc;

	sq_lock(q);
	s = sq_stmt(q, SQ_SET_PUT);
	if ((rc = sq_bind_text(q, s, 1, key)) == 0 && (rc = sq_bind_i64(q, s, 2, value)) == 0)
		rc = sq_done(q, s);
	sq_unlock(q);
	return rc;
}

/* ---- opening and closing ---- */

static void
sq_close(struct cfd_meta *m)
{
	struct sq_meta *q = sq_of(m);

	for (size_t i = 0; i < SQ_COUNT; i++)
		(void)sqlite3_finalize(q->st[i]);
	(void)sqlite3_close(q->db);
	(void)pthread_mutex_destroy(&q->lock);
	cf_free(q);
}

static const struct cfd_meta_ops sq_ops = {
        .close = sq_close,
        .account_create = sq_account_create,
        .account_get = sq_account_get,
        .account_list = sq_account_list,
        .account_delete = sq_account_delete,
        .token_check = sq_token_check,
        .device_key = sq_device_key,
        .device_get = sq_device_get,
        .object_reserve = sq_object_reserve,
        .object_commit = sq_object_commit,
        .object_abort = sq_object_abort,
        .object_get = sq_object_get,
        .object_list = sq_object_list,
        .object_delete = sq_object_delete,
        .object_undelete = sq_object_undelete,
        .object_claim = sq_object_claim,
        .object_purge = sq_object_purge,
        .deleted_list = sq_deleted_list,
        .expired_claim = sq_expired_claim,
        .unfinished_list = sq_unfinished_list,
        .nonce_use = sq_nonce_use,
        .nonce_prune = sq_nonce_prune,
        .setting_get = sq_setting_get,
        .setting_set = sq_setting_set,
};

static int
exec_sql(struct sq_meta *q, const char *sql)
{
	if (sqlite3_exec(q->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sq_err(q, "setup");
	return 0;
}

/* The schema of a new database, or a check that an existing one is ours. */
static int
prepare_schema(struct sq_meta *q, bool create)
{
	sqlite3_stmt *s = NULL;
	int version = -1;
	int rc;

	if ((rc = exec_sql(q, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")) != 0)
		return rc;
	if (create)
		return exec_sql(q, schema);
	if (sqlite3_prepare_v2(q->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return sq_err(q, "setup");
	if (sqlite3_step(s) == SQLITE_ROW)
		version = sqlite3_column_int(s, 0);
	(void)sqlite3_finalize(s);
	if (version != SCHEMA_VERSION)
		return cf_err_set(CF_EFORMAT, "database: schema version %d, want %d", version,
		                  SCHEMA_VERSION);
	return 0;
}

static int
prepare_all(struct sq_meta *q)
{
	for (size_t i = 0; i < SQ_COUNT; i++) {
		if (sqlite3_prepare_v3(q->db, sq_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &q->st[i],
		                       NULL) != SQLITE_OK)
			return sq_err(q, sq_sql[i]);
	}
	return 0;
}

static int
open_db(struct sq_meta *q, const char *path, bool create)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
	struct stat st;

	if (stat(path, &st) == 0) {
		if (create)
			return cf_err_set(CF_EEXIST, "'%s' exists", path);
	} else if (errno != ENOENT) {
		return cf_err_set(CF_ESYS, "cannot stat '%s'", path);
	} else if (!create) {
		return cf_err_set(CF_ENOENT, "no database '%s'", path);
	}
	if (create)
		flags |= SQLITE_OPEN_CREATE;
	if (sqlite3_open_v2(path, &q->db, flags, NULL) != SQLITE_OK)
		return q->db == NULL ? CF_ENOMEM : sq_err(q, path);
	if (sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS) != SQLITE_OK)
		return sq_err(q, "busy timeout");
	return 0;
}

int
cfd_meta_open_sqlite(const char *path, bool create, struct cfd_meta **out)
{
	struct sq_meta *q = NULL;
	int rc;

	*out = NULL;
	q = cf_calloc(1, sizeof(*q));
	if (q == NULL)
		return CF_ENOMEM;
	if (pthread_mutex_init(&q->lock, NULL) != 0) {
		cf_free(q);
		return cf_err_set(CF_ESYS, "cannot create a mutex");
	}
	q->base.ops = &sq_ops;
	if ((rc = open_db(q, path, create)) != 0 || (rc = prepare_schema(q, create)) != 0 ||
	    (rc = prepare_all(q)) != 0)
		goto out;
	*out = &q->base;
	q = NULL;
out:
	if (q != NULL)
		sq_close(&q->base);
	return rc;
}

void
cfd_meta_close(struct cfd_meta *m)
{
	if (m != NULL)
		m->ops->close(m);
}
