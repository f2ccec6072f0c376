/*
 * meta_pg.c - the metadata interface of meta.h over PostgreSQL (libpq): opening, schema
 * migrations, accounts, devices, nonces and settings. Objects: meta_pg_obj.c; the pool,
 * statements and retries: meta_pg_conn.c.
 *
 * Several cofferd instances share one database, so nothing is cached here: every answer
 * comes from the database and every race between instances ends at a row lock, a primary
 * key or a unique key inside one transaction (READ COMMITTED; rows that decide a write are
 * locked with SELECT ... FOR NO KEY UPDATE, which the foreign-key checks of other inserts
 * do not wait for). Rows touching an account and one of its objects are always locked
 * account first, so reservations, commits and purges of one account queue instead of
 * deadlocking.
 *
 * Statements are PQexecParams() with typed binary parameters: no value is ever part of SQL
 * text. The only text sent as is are the migrations embedded at build time.
 */
#include "meta_pg.h"

#include <string.h>

#include "base/base.h"
#include "pg_migrations.h"

#define PG_LOCK_KEY   INT64_C(0x636f66666572) /* "coffer": the migration advisory lock */
#define ACCOUNT_BATCH 64

#define ACC_COLS                                                                                   \
	"a.name, a.quota, a.used, a.created, a.token_hash IS NULL, (SELECT count(*) FROM devices " \
	"d WHERE d.account = a.name AND NOT d.removed AND d.role IN (1, 2))"

static const char SQL_ACC_INSERT[] = "INSERT INTO accounts (name, quota, used, token_hash, "
                                     "created) VALUES ($1, $2, 0, $3, $4)";
static const char SQL_ACC_GET[] = "SELECT " ACC_COLS " FROM accounts a WHERE a.name = $1";
static const char SQL_ACC_BATCH[] =
        "SELECT " ACC_COLS " FROM accounts a WHERE a.name > $1 ORDER BY a.name LIMIT $2";
static const char SQL_ACC_DELETE[] = "DELETE FROM accounts WHERE name = $1 RETURNING 1";
static const char SQL_ACC_TOKEN[] = "SELECT token_hash FROM accounts WHERE name = $1";
static const char SQL_ACC_TOKEN_LOCK[] =
        "SELECT token_hash FROM accounts WHERE name = $1 FOR NO KEY UPDATE";
static const char SQL_ACC_BURN[] = "UPDATE accounts SET token_hash = NULL WHERE name = $1";
static const char SQL_DEV_KEY[] =
        "SELECT sign_pk FROM devices WHERE id = $1 AND NOT removed LIMIT 1";
static const char SQL_DEV_GET[] =
        "SELECT sign_pk, role, removed FROM devices WHERE account = $1 AND id = $2";
static const char SQL_DEV_UPSERT[] =
        "INSERT INTO devices (account, id, sign_pk, role, removed) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (account, id) DO UPDATE SET sign_pk = excluded.sign_pk, "
        "role = excluded.role, removed = excluded.removed";
static const char SQL_DEV_PENDING[] =
        "INSERT INTO devices (account, id, sign_pk, role, removed) VALUES ($1, $2, $3, 0, false) "
        "ON CONFLICT (account, id) DO NOTHING";
static const char SQL_DEV_RECOVERY_RETIRE[] =
        "UPDATE devices SET removed = true WHERE account = $1 AND role = 3 AND id <> $2";
/* One statement: a nonce replayed through another instance meets the primary key. */
static const char SQL_NONCE_USE[] =
        "INSERT INTO nonces (device, nonce, expires) VALUES ($1, $2, $3) "
        "ON CONFLICT (device, nonce) DO UPDATE SET expires = excluded.expires "
        "WHERE nonces.expires < $4 RETURNING 1";
static const char SQL_NONCE_PRUNE[] = "DELETE FROM nonces WHERE expires < $1";
static const char SQL_SET_GET[] = "SELECT value FROM settings WHERE key = $1";
static const char SQL_SET_PUT[] = "INSERT INTO settings (key, value) VALUES ($1, $2) "
                                  "ON CONFLICT (key) DO UPDATE SET value = excluded.value";
static const char SQL_VERSION_TABLE[] =
        "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, "
        "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())";
static const char SQL_VERSION_PUT[] = "INSERT INTO schema_version (version, name) VALUES ($1, $2)";

/* ---- accounts ---- */

static int
pg_account_create(struct cfd_meta *m, const char *name, uint64_t quota,
                  const uint8_t token_hash[static CF_HASH_BYTES], int64_t now)
{
	struct pg_params pp = {0};

	if (quota > INT64_MAX)
		return CF_ETOOBIG;
	pp_text(&pp, name);
	pp_i64(&pp, (int64_t)quota);
	pp_blob(&pp, token_hash, CF_HASH_BYTES);
	pp_i64(&pp, now);
	return pg_query(pg_of(m), "account_create", true, SQL_ACC_INSERT, &pp, NULL);
}

static int
account_from_row(const PGresult *r, int row, struct cfd_account *a)
{
	memset(a, 0, sizeof(*a));
	a->quota = (uint64_t)pg_int(r, row, 1);
	a->used = (uint64_t)pg_int(r, row, 2);
	a->created = pg_int(r, row, 3);
	a->enrolled = pg_int(r, row, 4) != 0;
	a->ndevices = (uint64_t)pg_int(r, row, 5);
	return pg_text(r, row, 0, a->name, sizeof(a->name));
}

static int
pg_account_get(struct cfd_meta *m, const char *name, struct cfd_account *out)
{
	struct pg_params pp = {0};
	PGresult *r = NULL;
	int rc;

	pp_text(&pp, name);
	if ((rc = pg_query(pg_of(m), "account_get", false, SQL_ACC_GET, &pp, &r)) != 0)
		return rc;
	rc = PQntuples(r) == 1 ? account_from_row(r, 0, out) : CF_ENOENT;
	PQclear(r);
	return rc;
}

/* One batch of accounts after @after, copied out so the callback runs without a connection. */
static int
account_batch(struct cfd_meta *m, const char *after, struct cfd_account *rows, size_t *n)
{
	struct pg_meta *p = pg_of(m);
	struct pg_params pp = {0};
	PGresult *r = NULL;
	int rc;

	*n = 0;
	pp_text(&pp, after);
	pp_i64(&pp, ACCOUNT_BATCH);
	if ((rc = pg_query(p, "account_list", false, SQL_ACC_BATCH, &pp, &r)) != 0)
		return rc;
	for (int i = 0; i < PQntuples(r) && i < ACCOUNT_BATCH && rc == 0; i++)
		rc = account_from_row(r, i, &rows[(*n)++]);
	PQclear(r);
	return rc;
}

static int
pg_account_list(struct cfd_meta *m, cfd_account_fn *fn, void *arg)
{
	return cfd_walk_accounts(m, account_batch, ACCOUNT_BATCH, fn, arg);
}

/* Devices and objects go with the account (ON DELETE CASCADE). */
static int
pg_account_delete(struct cfd_meta *m, const char *name)
{
	struct pg_params pp = {0};
	PGresult *r = NULL;
	int rc;

	pp_text(&pp, name);
	if ((rc = pg_query(pg_of(m), "account_delete", true, SQL_ACC_DELETE, &pp, &r)) != 0)
		return rc;
	rc = PQntuples(r) == 1 ? 0 : CF_ENOENT;
	PQclear(r);
	return rc;
}

int
pg_token_match(struct pg_conn *c, const char *account, const uint8_t hash[static CF_HASH_BYTES],
               bool lock)
{
	struct pg_params pp = {0};
	const uint8_t *stored = NULL;
	PGresult *r = NULL;
	int rc;

	pp_text(&pp, account);
	if ((rc = pg_exec(c, lock ? SQL_ACC_TOKEN_LOCK : SQL_ACC_TOKEN, &pp, &r)) != 0)
		return rc;
	if (PQntuples(r) == 1)
		stored = pg_bytes(r, 0, 0, CF_HASH_BYTES);
	rc = stored != NULL && cf_ct_eq(stored, hash, CF_HASH_BYTES) ? 0 : CF_EAUTH;
	PQclear(r);
	return rc;
}

struct token_args {
	const char *name;
	const uint8_t *hash;
};

static int
token_check_run(struct pg_conn *c, void *arg)
{
	const struct token_args *a = arg;

	return pg_token_match(c, a->name, a->hash, false);
}

static int
pg_token_check(struct cfd_meta *m, const char *name, const uint8_t token_hash[static CF_HASH_BYTES])
{
	struct token_args a = {name, token_hash};

	return pg_run(pg_of(m), "token_check", false, token_check_run, &a);
}

/* ---- devices ---- */

static int
pg_device_key(struct cfd_meta *m, const uint8_t id[static CF_ID_BYTES],
              uint8_t sign_pk[static CF_SIGN_PK_BYTES])
{
	struct pg_params pp = {0};
	const uint8_t *pk = NULL;
	PGresult *r = NULL;
	int rc;

	pp_blob(&pp, id, CF_ID_BYTES);
	if ((rc = pg_query(pg_of(m), "device_key", false, SQL_DEV_KEY, &pp, &r)) != 0)
		return rc;
	if (PQntuples(r) != 1)
		rc = CF_ENOENT;
	else if ((pk = pg_bytes(r, 0, 0, CF_SIGN_PK_BYTES)) == NULL)
		rc = cf_err_set(CF_EINTERNAL, "database: malformed device key");
	else
		memcpy(sign_pk, pk, CF_SIGN_PK_BYTES);
	PQclear(r);
	return rc;
}

static int
pg_device_get(struct cfd_meta *m, const char *account, const uint8_t id[static CF_ID_BYTES],
              struct cfd_device *out)
{
	struct pg_params pp = {0};
	const uint8_t *pk = NULL;
	PGresult *r = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	pp_text(&pp, account);
	pp_blob(&pp, id, CF_ID_BYTES);
	if ((rc = pg_query(pg_of(m), "device_get", false, SQL_DEV_GET, &pp, &r)) != 0)
		return rc;
	if (PQntuples(r) != 1) {
		rc = CF_ENOENT;
	} else if ((pk = pg_bytes(r, 0, 0, CF_SIGN_PK_BYTES)) == NULL) {
		rc = cf_err_set(CF_EINTERNAL, "database: malformed device key");
	} else {
		memcpy(out->id, id, CF_ID_BYTES);
		memcpy(out->sign_pk, pk, CF_SIGN_PK_BYTES);
		out->role = (uint8_t)pg_int(r, 0, 1);
		out->removed = pg_int(r, 0, 2) != 0;
	}
	PQclear(r);
	return rc;
}

static int
device_write(struct pg_conn *c, const char *account, const struct cfd_device *d)
{
	bool pending = d->role == CFD_ROLE_PENDING;
	struct pg_params pp = {0};

	pp_text(&pp, account);
	pp_blob(&pp, d->id, CF_ID_BYTES);
	pp_blob(&pp, d->sign_pk, CF_SIGN_PK_BYTES);
	if (!pending) {
		pp_i64(&pp, d->role);
		pp_bool(&pp, d->removed);
	}
	return pg_exec(c, pending ? SQL_DEV_PENDING : SQL_DEV_UPSERT, &pp, NULL);
}

int
pg_apply_commit(struct pg_conn *c, const char *account, const struct cfd_commit *cm)
{
	struct pg_params pp = {0};
	int rc;

	pp_text(&pp, account);
	if (cm->token_hash != NULL && (rc = pg_exec(c, SQL_ACC_BURN, &pp, NULL)) != 0)
		return rc;
	for (size_t i = 0; i < cm->ndevices; i++) {
		if ((rc = device_write(c, account, &cm->devices[i])) != 0)
			return rc;
	}
	if (cm->recovery_id == NULL)
		return 0;
	pp_blob(&pp, cm->recovery_id, CF_ID_BYTES);
	return pg_exec(c, SQL_DEV_RECOVERY_RETIRE, &pp, NULL);
}

/* ---- nonces and settings ---- */

static int
pg_nonce_use(struct cfd_meta *m, const uint8_t id[static CF_ID_BYTES],
             const uint8_t nonce[static CFD_NONCE_BYTES], int64_t now, int64_t expires)
{
	struct pg_params pp = {0};
	PGresult *r = NULL;
	int rc;

	pp_blob(&pp, id, CF_ID_BYTES);
	pp_blob(&pp, nonce, CFD_NONCE_BYTES);
	pp_i64(&pp, expires);
	pp_i64(&pp, now);
	if ((rc = pg_query(pg_of(m), "nonce_use", true, SQL_NONCE_USE, &pp, &r)) != 0)
		return rc;
	/* no row: the nonce is recorded and has not expired */
	rc = PQntuples(r) == 1 ? 0 : CF_EEXIST;
	PQclear(r);
	return rc;
}

static int
pg_nonce_prune(struct cfd_meta *m, int64_t now)
{
	struct pg_params pp = {0};

	pp_i64(&pp, now);
	return pg_query(pg_of(m), "nonce_prune", true, SQL_NONCE_PRUNE, &pp, NULL);
}

static int
pg_setting_get(struct cfd_meta *m, const char *key, int64_t *out)
{
	struct pg_params pp = {0};
	PGresult *r = NULL;
	int rc;

	pp_text(&pp, key);
	if ((rc = pg_query(pg_of(m), "setting_get", false, SQL_SET_GET, &pp, &r)) != 0)
		return rc;
	if (PQntuples(r) == 1)
		*out = pg_int(r, 0, 0);
	else
		rc = CF_ENOENT;
	PQclear(r);
	return rc;
}

static int
pg_setting_set(struct cfd_meta *m, const char *key, int64_t value)
{
	struct pg_params pp = {0};

	pp_text(&pp, key);
	pp_i64(&pp, value);
	return pg_query(pg_of(m), "setting_set", true, SQL_SET_PUT, &pp, NULL);
}

/* ---- schema ---- */

/* The version of the schema in the database: 0 without a schema_version table. */
static int
schema_version(struct pg_conn *c, int64_t *out)
{
	PGresult *r = NULL;
	bool exists = false;
	int rc;

	*out = 0;
	if ((rc = pg_exec(c, "SELECT to_regclass('schema_version') IS NOT NULL", NULL, &r)) != 0)
		return rc;
	exists = PQntuples(r) == 1 && pg_int(r, 0, 0) != 0;
	PQclear(r);
	if (!exists)
		return 0;
	if ((rc = pg_exec(c, "SELECT coalesce(max(version), 0) FROM schema_version", NULL, &r)) !=
	    0)
		return rc;
	if (PQntuples(r) == 1)
		*out = pg_int(r, 0, 0);
	PQclear(r);
	return 0;
}

/* Apply the migrations after @have in order (the caller's transaction makes them one). */
static int
migrate(struct pg_conn *c, int64_t have)
{
	const char *op = c->op;
	PGresult *r = NULL;
	int rc;

	if ((rc = pg_exec(c, SQL_VERSION_TABLE, NULL, NULL)) != 0)
		return rc;
	for (size_t i = (size_t)have; i < CF_ARRAY_LEN(pg_migrations); i++) {
		const struct pg_migration *mg = &pg_migrations[i];
		struct pg_params pp = {0};

		CF_ASSERT(mg->version == (int)i + 1);
		c->op = mg->name;
		r = PQexec(c->pq, (const char *)mg->sql); /* several statements, no values */
		rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : pg_error(c, r);
		PQclear(r);
		c->op = op;
		if (rc != 0)
			return rc;
		pp_i64(&pp, mg->version);
		pp_text(&pp, mg->name);
		if ((rc = pg_exec(c, SQL_VERSION_PUT, &pp, NULL)) != 0)
			return rc;
	}
	return 0;
}

/*
 * Under an advisory lock, so instances started together with @create do not migrate twice
 * and one started without it waits for a migration in progress instead of failing.
 */
static int
schema_prepare(struct pg_conn *c, void *arg)
{
	const bool *create = arg;
	const int64_t want = (int64_t)CF_ARRAY_LEN(pg_migrations);
	struct pg_params pp = {0};
	int64_t have = 0;
	int rc;

	pp_i64(&pp, PG_LOCK_KEY);
	if ((rc = pg_exec(c, "SELECT pg_advisory_xact_lock($1)", &pp, NULL)) != 0 ||
	    (rc = schema_version(c, &have)) != 0)
		return rc;
	if (have > want)
		return cf_err_set(CF_EVERSION,
		                  "database: schema version %lld is newer than this cofferd's %lld",
		                  (long long)have, (long long)want);
	if (have == want)
		return 0;
	if (*create)
		return migrate(c, have);
	if (have == 0)
		return cf_err_set(CF_ENOENT, "database: no cofferd schema (create it first)");
	return cf_err_set(CF_ENOENT,
	                  "database: schema version %lld is older than %lld (upgrade it)",
	                  (long long)have, (long long)want);
}

/* ---- opening and closing ---- */

static void
pg_close(struct cfd_meta *m)
{
	struct pg_meta *p = pg_of(m);

	pg_pool_close(p);
	(void)pthread_cond_destroy(&p->freed);
	(void)pthread_mutex_destroy(&p->lock);
	if (p->conninfo != NULL)
		cf_free_wipe(p->conninfo, strlen(p->conninfo));
	cf_free(p);
}

static const struct cfd_meta_ops pg_ops = {
        .close = pg_close,
        .account_create = pg_account_create,
        .account_get = pg_account_get,
        .account_list = pg_account_list,
        .account_delete = pg_account_delete,
        .token_check = pg_token_check,
        .device_key = pg_device_key,
        .device_get = pg_device_get,
        .object_reserve = pg_object_reserve,
        .object_commit = pg_object_commit,
        .object_abort = pg_object_abort,
        .object_get = pg_object_get,
        .object_list = pg_object_list,
        .object_delete = pg_object_delete,
        .object_undelete = pg_object_undelete,
        .object_claim = pg_object_claim,
        .object_purge = pg_object_purge,
        .deleted_list = pg_deleted_list,
        .expired_claim = pg_expired_claim,
        .unfinished_list = pg_unfinished_list,
        .nonce_use = pg_nonce_use,
        .nonce_prune = pg_nonce_prune,
        .setting_get = pg_setting_get,
        .setting_set = pg_setting_set,
};

/* libpq's own parse error may quote a piece of the string, a password perhaps: not shown. */
static int
conninfo_check(const char *conninfo)
{
	PQconninfoOption *opts = NULL;
	char *err = NULL;

	opts = PQconninfoParse(conninfo, &err);
	PQfreemem(err);
	if (opts == NULL)
		return cf_err_set(CF_EINVAL, "database: malformed connection URI");
	PQconninfoFree(opts);
	if (!PQisthreadsafe())
		return cf_err_set(CF_EINTERNAL, "database: libpq is not thread-safe");
	return 0;
}

static int
pg_meta_new(const char *conninfo, struct pg_meta **out)
{
	struct pg_meta *p = NULL;

	*out = NULL;
	p = cf_calloc(1, sizeof(*p));
	if (p == NULL)
		return CF_ENOMEM;
	p->base.ops = &pg_ops;
	if (pthread_mutex_init(&p->lock, NULL) != 0) {
		cf_free(p);
		return cf_err_set(CF_ESYS, "cannot create a mutex");
	}
	if (pthread_cond_init(&p->freed, NULL) != 0) {
		(void)pthread_mutex_destroy(&p->lock);
		cf_free(p);
		return cf_err_set(CF_ESYS, "cannot create a condition variable");
	}
	p->conninfo = cf_strdup(conninfo);
	if (p->conninfo == NULL) {
		pg_close(&p->base);
		return CF_ENOMEM;
	}
	*out = p;
	return 0;
}

int
cfd_meta_open_pg(const char *conninfo, bool create, struct cfd_meta **out)
{
	struct pg_meta *p = NULL;
	int rc;

	*out = NULL;
	if ((rc = conninfo_check(conninfo)) != 0 || (rc = pg_meta_new(conninfo, &p)) != 0)
		return rc;
	/* the first connection is opened here, so a wrong URI fails now and not at a request */
	if ((rc = pg_run(p, "schema", true, schema_prepare, &create)) != 0) {
		pg_close(&p->base);
		return rc;
	}
	*out = &p->base;
	return 0;
}
