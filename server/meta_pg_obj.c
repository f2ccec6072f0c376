/*
 * meta_pg_obj.c - object rows of the PostgreSQL metadata (meta.h): reservation, commit,
 * soft deletion, listing and the batched walks used by gc and crash recovery.
 *
 * Quota: a reservation locks its account row (FOR NO KEY UPDATE) before it reads used and
 * quota, so reservations of one account through any number of instances are counted one
 * after the other and never exceed the quota together. Write-once: the object's primary
 * key; the loser of a race gets the unique violation, CF_EEXIST.
 */
#include <string.h>

#include "base/base.h"
#include "meta_pg.h"

#define OBJ_BATCH 256

#define OBJ_COLS "account, kind, name, size, created, coalesce(deleted_at, 0), state"
#define OBJ_KEY  "account = $1 AND kind = $2 AND name = $3"
#define OBJ_WALK(filter)                                                                           \
	"SELECT " OBJ_COLS " FROM objects WHERE " filter " AND (account, kind, name) > ($1, $2, "  \
	"$3) ORDER BY account, kind, name LIMIT $4"

static const char SQL_ACC_LOCK[] = "SELECT quota, used FROM accounts WHERE name = $1 "
                                   "FOR NO KEY UPDATE";
static const char SQL_OBJ_COUNT[] = "SELECT count(*) FROM objects WHERE account = $1 AND kind = $2";
static const char SQL_OBJ_INSERT[] = "INSERT INTO objects (account, kind, name, size, created, "
                                     "deleted_at, state) VALUES ($1, $2, $3, $4, $5, NULL, 1)";
static const char SQL_USED_ADD[] = "UPDATE accounts SET used = used + $2 WHERE name = $1";
static const char SQL_USED_SUB[] =
        "UPDATE accounts SET used = greatest(used - $2, 0) WHERE name = $1";
static const char SQL_OBJ_COMMIT[] =
        "UPDATE objects SET state = 0, created = $4 WHERE " OBJ_KEY " AND state = 1 RETURNING 1";
static const char SQL_OBJ_REMOVE[] = "DELETE FROM objects WHERE " OBJ_KEY " RETURNING size";
static const char SQL_OBJ_ABORT[] =
        "DELETE FROM objects WHERE " OBJ_KEY " AND state = 1 RETURNING size";
static const char SQL_DEV_PENDING_DELETE[] =
        "DELETE FROM devices WHERE account = $1 AND id = $2 AND role = 0";
static const char SQL_OBJ_GET[] = "SELECT " OBJ_COLS " FROM objects WHERE " OBJ_KEY;
static const char SQL_OBJ_LIST[] =
        "SELECT " OBJ_COLS " FROM objects WHERE account = $1 AND kind = $2 AND name > $3 AND "
        "state = 0 AND deleted_at IS NULL ORDER BY name LIMIT $4";
static const char SQL_OBJ_LIST_DELETED[] =
        "SELECT " OBJ_COLS " FROM objects WHERE account = $1 AND kind = $2 AND name > $3 AND "
        "state = 0 AND deleted_at IS NOT NULL ORDER BY name LIMIT $4";
static const char SQL_OBJ_SOFT_DELETE[] = "UPDATE objects SET deleted_at = $4 WHERE " OBJ_KEY
                                          " AND state = 0 AND deleted_at IS NULL RETURNING 1";
static const char SQL_OBJ_UNDELETE[] =
        "UPDATE objects SET deleted_at = NULL WHERE " OBJ_KEY " AND state = 0 RETURNING 1";
static const char SQL_OBJ_CLAIM[] =
        "UPDATE objects SET state = 2 WHERE " OBJ_KEY " AND state = 0 RETURNING 1";
static const char SQL_OBJ_EXPIRE[] = "UPDATE objects SET state = 2 WHERE state = 0 AND "
                                     "deleted_at IS NOT NULL AND deleted_at <= $1";
/* meta.h: oldest deletion first; the key breaks ties so the walk can resume after a row */
static const char SQL_WALK_DELETED[] =
        "SELECT " OBJ_COLS " FROM objects WHERE state = 0 AND deleted_at IS NOT NULL AND "
        "(deleted_at, account, kind, name) > ($5, $1, $2, $3) "
        "ORDER BY deleted_at, account, kind, name LIMIT $4";
static const char SQL_WALK_PURGING[] = OBJ_WALK("state = 2");
static const char SQL_WALK_UNFINISHED[] = OBJ_WALK("state <> 0");

static int
obj_from_row(const PGresult *r, int row, struct cfd_obj_info *o)
{
	int rc;

	memset(o, 0, sizeof(*o));
	o->kind = (enum cf_obj_kind)pg_int(r, row, 1);
	o->size = (uint64_t)pg_int(r, row, 3);
	o->created = pg_int(r, row, 4);
	o->deleted_at = pg_int(r, row, 5);
	o->state = (enum cfd_obj_state)pg_int(r, row, 6);
	if ((rc = pg_text(r, row, 0, o->account, sizeof(o->account))) != 0)
		return rc;
	return pg_text(r, row, 2, o->name, sizeof(o->name));
}

/* Lock the account row; with @size, its quota must leave room for @size more bytes. */
static int
account_hold(struct pg_conn *c, const char *account, const uint64_t *size)
{
	struct pg_params pp = {0};
	PGresult *r = NULL;
	uint64_t after = 0;
	int rc;

	pp_text(&pp, account);
	if ((rc = pg_exec(c, SQL_ACC_LOCK, &pp, &r)) != 0)
		return rc;
	if (PQntuples(r) != 1)
		rc = CF_ENOENT;
	else if (size != NULL && (cf_u64_add((uint64_t)pg_int(r, 0, 1), *size, &after) != 0 ||
	                          after > (uint64_t)pg_int(r, 0, 0)))
		rc = CF_ETOOBIG;
	PQclear(r);
	return rc;
}

static int
count_check(struct pg_conn *c, const struct cfd_obj_key *k, uint32_t max_live)
{
	struct pg_params pp = {0};
	PGresult *r = NULL;
	int rc;

	pp_text(&pp, k->account);
	pp_i64(&pp, (int64_t)k->kind);
	if ((rc = pg_exec(c, SQL_OBJ_COUNT, &pp, &r)) != 0)
		return rc;
	if (PQntuples(r) != 1 || pg_int(r, 0, 0) >= (int64_t)max_live)
		rc = CF_EPERM;
	PQclear(r);
	return rc;
}

static int
used_change(struct pg_conn *c, const char *sql, const char *account, uint64_t n)
{
	struct pg_params pp = {0};

	pp_text(&pp, account);
	pp_i64(&pp, (int64_t)n);
	return pg_exec(c, sql, &pp, NULL);
}

struct reserve_args {
	const struct cfd_obj_key *k;
	uint64_t size;
	int64_t now;
	uint32_t max_live;
};

static int
reserve_rows(struct pg_conn *c, void *arg)
{
	const struct reserve_args *a = arg;
	struct pg_params pp = {0};
	int rc;

	if ((rc = account_hold(c, a->k->account, &a->size)) != 0)
		return rc;
	if (a->max_live > 0 && (rc = count_check(c, a->k, a->max_live)) != 0)
		return rc;
	pp_key(&pp, a->k);
	pp_i64(&pp, (int64_t)a->size);
	pp_i64(&pp, a->now);
	if ((rc = pg_exec(c, SQL_OBJ_INSERT, &pp, NULL)) != 0)
		return rc;
	return used_change(c, SQL_USED_ADD, a->k->account, a->size);
}

int
pg_object_reserve(struct cfd_meta *m, const struct cfd_obj_key *k, uint64_t size, int64_t now,
                  uint32_t max_live)
{
	struct reserve_args a = {k, size, now, max_live};

	if (size > INT64_MAX)
		return CF_ETOOBIG;
	return pg_run(pg_of(m), "object_reserve", true, reserve_rows, &a);
}

struct commit_args {
	const struct cfd_obj_key *k;
	int64_t now;
	const struct cfd_commit *c;
};

/*
 * An enrollment locks the account row first and reads the token under that lock: of two
 * enrollments racing on one token through two instances the second sees it burned.
 * CF_ENOENT (not PENDING) is reported before CF_EAUTH, as SQLite does.
 */
static int
commit_rows(struct pg_conn *c, void *arg)
{
	const struct commit_args *a = arg;
	struct pg_params pp = {0};
	PGresult *r = NULL;
	int trc = 0;
	int rc;

	if (a->c != NULL && a->c->token_hash != NULL) {
		trc = pg_token_match(c, a->k->account, a->c->token_hash, true);
		if (trc != 0 && trc != CF_EAUTH)
			return trc;
	}
	pp_key(&pp, a->k);
	pp_i64(&pp, a->now);
	if ((rc = pg_exec(c, SQL_OBJ_COMMIT, &pp, &r)) != 0)
		return rc;
	rc = PQntuples(r) == 1 ? trc : CF_ENOENT;
	PQclear(r);
	if (rc != 0 || a->c == NULL)
		return rc;
	return pg_apply_commit(c, a->k->account, a->c);
}

int
pg_object_commit(struct cfd_meta *m, const struct cfd_obj_key *k, int64_t now,
                 const struct cfd_commit *c)
{
	struct commit_args a = {k, now, c};

	return pg_run(pg_of(m), "object_commit", true, commit_rows, &a);
}

/* A join request's pending device goes with the request (its name is the device id). */
static int
drop_pending_device(struct pg_conn *c, const struct cfd_obj_key *k)
{
	struct pg_params pp = {0};
	uint8_t id[CF_ID_BYTES];

	if (k->kind != CF_OBJ_REQUEST || cf_unhex(id, sizeof(id), k->name, strlen(k->name)) != 0)
		return 0;
	pp_text(&pp, k->account);
	pp_blob(&pp, id, sizeof(id));
	return pg_exec(c, SQL_DEV_PENDING_DELETE, &pp, NULL);
}

struct remove_args {
	const struct cfd_obj_key *k;
	bool pending_only;
};

static int
remove_rows(struct pg_conn *c, void *arg)
{
	const struct remove_args *a = arg;
	struct pg_params pp = {0};
	PGresult *r = NULL;
	uint64_t size = 0;
	int rc;

	/* the account first, as a reservation of the same name locks it */
	if ((rc = account_hold(c, a->k->account, NULL)) != 0)
		return rc;
	pp_key(&pp, a->k);
	if ((rc = pg_exec(c, a->pending_only ? SQL_OBJ_ABORT : SQL_OBJ_REMOVE, &pp, &r)) != 0)
		return rc;
	if (PQntuples(r) == 1)
		size = (uint64_t)pg_int(r, 0, 0);
	else
		rc = CF_ENOENT;
	PQclear(r);
	if (rc != 0 || (rc = used_change(c, SQL_USED_SUB, a->k->account, size)) != 0)
		return rc;
	return drop_pending_device(c, a->k);
}

int
pg_object_abort(struct cfd_meta *m, const struct cfd_obj_key *k)
{
	struct remove_args a = {k, true};

	return pg_run(pg_of(m), "object_abort", true, remove_rows, &a);
}

int
pg_object_purge(struct cfd_meta *m, const struct cfd_obj_key *k)
{
	struct remove_args a = {k, false};

	return pg_run(pg_of(m), "object_purge", true, remove_rows, &a);
}

int
pg_object_get(struct cfd_meta *m, const struct cfd_obj_key *k, struct cfd_obj_info *out)
{
	struct pg_params pp = {0};
	PGresult *r = NULL;
	int rc;

	pp_key(&pp, k);
	if ((rc = pg_query(pg_of(m), "object_get", false, SQL_OBJ_GET, &pp, &r)) != 0)
		return rc;
	rc = PQntuples(r) == 1 ? obj_from_row(r, 0, out) : CF_ENOENT;
	PQclear(r);
	return rc;
}

/* A one-statement update of one object; CF_ENOENT when no row matched. */
static int
update_one(struct cfd_meta *m, const char *op, const char *sql, const struct cfd_obj_key *k,
           const int64_t *now)
{
	struct pg_params pp = {0};
	PGresult *r = NULL;
	int rc;

	pp_key(&pp, k);
	if (now != NULL)
		pp_i64(&pp, *now);
	if ((rc = pg_query(pg_of(m), op, true, sql, &pp, &r)) != 0)
		return rc;
	rc = PQntuples(r) == 1 ? 0 : CF_ENOENT;
	PQclear(r);
	return rc;
}

int
pg_object_delete(struct cfd_meta *m, const struct cfd_obj_key *k, int64_t now)
{
	return update_one(m, "object_delete", SQL_OBJ_SOFT_DELETE, k, &now);
}

int
pg_object_undelete(struct cfd_meta *m, const struct cfd_obj_key *k)
{
	return update_one(m, "object_undelete", SQL_OBJ_UNDELETE, k, NULL);
}

int
pg_object_claim(struct cfd_meta *m, const struct cfd_obj_key *k)
{
	return update_one(m, "object_claim", SQL_OBJ_CLAIM, k, NULL);
}

/* Copy the rows of @r out (at most @max), so callbacks run without a connection. */
static int
rows_copy(const PGresult *r, size_t max, struct cfd_obj_info *rows, size_t *n)
{
	int rc = 0;

	*n = 0;
	for (int i = 0; i < PQntuples(r) && *n < max && rc == 0; i++)
		rc = obj_from_row(r, i, &rows[(*n)++]);
	return rc;
}

/* One listing batch: up to @want rows after @after. */
static int
list_batch(struct cfd_meta *m, const struct cfd_list_query *lq, const char *after, uint32_t want,
           struct cfd_obj_info *rows, size_t *n)
{
	struct pg_meta *p = pg_of(m);
	struct pg_params pp = {0};
	PGresult *r = NULL;
	int rc;

	*n = 0;
	pp_text(&pp, lq->account);
	pp_i64(&pp, (int64_t)lq->kind);
	pp_text(&pp, after);
	pp_i64(&pp, want);
	if ((rc = pg_query(p, "object_list", false,
	                   lq->deleted ? SQL_OBJ_LIST_DELETED : SQL_OBJ_LIST, &pp, &r)) != 0)
		return rc;
	rc = rows_copy(r, want, rows, n);
	PQclear(r);
	return rc;
}

int
pg_object_list(struct cfd_meta *m, const struct cfd_list_query *lq, cfd_obj_fn *fn, void *arg)
{
	return cfd_walk_listing(m, list_batch, lq, OBJ_BATCH, fn, arg);
}

/* One batch of a walk over every account, after the cursor row @cur. */
static int
walk_batch(struct cfd_meta *m, const void *which, const struct cfd_obj_info *cur,
           struct cfd_obj_info *rows, size_t *n)
{
	struct pg_meta *p = pg_of(m);
	const char *sql = which;
	struct cfd_obj_key k = {.account = cur->account, .kind = cur->kind, .name = cur->name};
	struct pg_params pp = {0};
	PGresult *r = NULL;
	int rc;

	*n = 0;
	pp_key(&pp, &k);
	pp_i64(&pp, OBJ_BATCH);
	if (sql == SQL_WALK_DELETED)
		pp_i64(&pp, cur->deleted_at);
	if ((rc = pg_query(p, "walk", false, sql, &pp, &r)) != 0)
		return rc;
	rc = rows_copy(r, OBJ_BATCH, rows, n);
	PQclear(r);
	return rc;
}

/*
 * Rows are handed to @fn a batch at a time without a connection held, so @fn may purge
 * the row it is given (and borrow a connection to do so).
 */
static int
walk(struct cfd_meta *m, const char *sql, cfd_obj_fn *fn, void *arg)
{
	struct cfd_obj_info start;

	memset(&start, 0, sizeof(start));
	start.deleted_at = INT64_MIN;
	return cfd_walk_objects(m, walk_batch, sql, &start, OBJ_BATCH, fn, arg);
}

int
pg_deleted_list(struct cfd_meta *m, cfd_obj_fn *fn, void *arg)
{
	return walk(m, SQL_WALK_DELETED, fn, arg);
}

int
pg_unfinished_list(struct cfd_meta *m, cfd_obj_fn *fn, void *arg)
{
	return walk(m, SQL_WALK_UNFINISHED, fn, arg);
}

int
pg_expired_claim(struct cfd_meta *m, int64_t cutoff, cfd_obj_fn *fn, void *arg)
{
	struct pg_params pp = {0};
	int rc;

	pp_i64(&pp, cutoff);
	if ((rc = pg_query(pg_of(m), "expired_claim", true, SQL_OBJ_EXPIRE, &pp, NULL)) != 0)
		return rc;
	return walk(m, SQL_WALK_PURGING, fn, arg);
}
