/*
 * meta_sqlite_obj.c - object rows of the SQLite metadata (meta.h): reservation, commit,
 * soft deletion, listing and the batched walks used by gc and crash recovery.
 */
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "meta_sqlite.h"

#define OBJ_BATCH 256

static void
obj_from_row(sqlite3_stmt *s, struct cfd_obj_info *o)
{
	const unsigned char *account = sqlite3_column_text(s, 0);
	const unsigned char *name = sqlite3_column_text(s, 2);

	memset(o, 0, sizeof(*o));
	if (account != NULL)
		(void)snprintf(o->account, sizeof(o->account), "%s", (const char *)account);
	o->kind = (enum cf_obj_kind)sqlite3_column_int(s, 1);
	if (name != NULL)
		(void)snprintf(o->name, sizeof(o->name), "%s", (const char *)name);
	o->size = (uint64_t)sqlite3_column_int64(s, 3);
	o->created = sqlite3_column_int64(s, 4);
	o->deleted_at = sqlite3_column_int64(s, 5);
	o->state = (enum cfd_obj_state)sqlite3_column_int(s, 6);
}

/* The account's quota must leave room for @size more bytes. */
static int
quota_check(struct sq_meta *q, const char *account, uint64_t size)
{
	sqlite3_stmt *s = sq_stmt(q, SQ_ACC_QUOTA);
	uint64_t quota = 0;
	uint64_t used = 0;
	uint64_t after = 0;
	int rc;

	if ((rc = sq_bind_text(q, s, 1, account)) != 0 || (rc = sq_row(q, s)) != 0)
		return rc;
	quota = (uint64_t)sqlite3_column_int64(s, 0);
	used = (uint64_t)sqlite3_column_int64(s, 1);
	if (cf_u64_add(used, size, &after) != 0 || after > quota)
		return CF_ETOOBIG;
	return 0;
}

static int
count_check(struct sq_meta *q, const struct cfd_obj_key *k, uint32_t max_live)
{
	sqlite3_stmt *s = sq_stmt(q, SQ_OBJ_COUNT);
	int rc;

	if ((rc = sq_bind_text(q, s, 1, k->account)) != 0 ||
	    (rc = sq_bind_i64(q, s, 2, (int64_t)k->kind)) != 0 || (rc = sq_row(q, s)) != 0)
		return rc;
	if (sqlite3_column_int64(s, 0) >= (int64_t)max_live)
		return CF_EPERM;
	return 0;
}

static int
reserve_rows(struct sq_meta *q, const struct cfd_obj_key *k, uint64_t size, int64_t now,
             uint32_t max_live)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (size > INT64_MAX)
		return CF_ETOOBIG;
	if ((rc = quota_check(q, k->account, size)) != 0)
		return rc;
	if (max_live > 0 && (rc = count_check(q, k, max_live)) != 0)
		return rc;
	s = sq_stmt(q, SQ_OBJ_INSERT);
	if ((rc = sq_bind_key(q, s, k)) != 0 || (rc = sq_bind_i64(q, s, 4, (int64_t)size)) != 0 ||
	    (rc = sq_bind_i64(q, s, 5, now)) != 0 || (rc = sq_done(q, s)) != 0)
		return rc;
	return sq_used_add(q, k->account, size);
}

int
sq_object_reserve(struct cfd_meta *m, const struct cfd_obj_key *k, uint64_t size, int64_t now,
                  uint32_t max_live)
{
	struct sq_meta *q = sq_of(m);
	int rc;

	sq_lock(q);
	if ((rc = sq_exec(q, SQ_BEGIN)) == 0)
		rc = sq_tx_end(q, reserve_rows(q, k, size, now, max_live));
	sq_unlock(q);
	return rc;
}

static int
commit_rows(struct sq_meta *q, const struct cfd_obj_key *k, int64_t now, const struct cfd_commit *c)
{
	sqlite3_stmt *s = sq_stmt(q, SQ_OBJ_COMMIT);
	int rc;

	if ((rc = sq_bind_key(q, s, k)) != 0 || (rc = sq_bind_i64(q, s, 4, now)) != 0 ||
	    (rc = sq_done(q, s)) != 0)
		return rc;
	if (sq_changes(q) != 1)
		return CF_ENOENT;
	return c == NULL ? 0 : sq_apply_commit(q, k->account, c);
}

int
sq_object_commit(struct cfd_meta *m, const struct cfd_obj_key *k, int64_t now,
                 const struct cfd_commit *c)
{
	struct sq_meta *q = sq_of(m);
	int rc;

	sq_lock(q);
	if ((rc = sq_exec(q, SQ_BEGIN)) == 0)
		rc = sq_tx_end(q, commit_rows(q, k, now, c));
	sq_unlock(q);
	return rc;
}

static int
get_row(struct sq_meta *q, const struct cfd_obj_key *k, struct cfd_obj_info *o)
{
	sqlite3_stmt *s = sq_stmt(q, SQ_OBJ_GET);
	int rc;

	if ((rc = sq_bind_key(q, s, k)) != 0 || (rc = sq_row(q, s)) != 0)
		return rc;
	obj_from_row(s, o);
	return 0;
}

/* A join request's pending device goes with the request (its name is the device id). */
static int
drop_pending_device(struct sq_meta *q, const struct cfd_obj_key *k)
{
	uint8_t id[CF_ID_BYTES];
	sqlite3_stmt *s = NULL;
	int rc;

	if (k->kind != CF_OBJ_REQUEST || cf_unhex(id, sizeof(id), k->name, strlen(k->name)) != 0)
		return 0;
	s = sq_stmt(q, SQ_DEV_PENDING_DELETE);
	if ((rc = sq_bind_text(q, s, 1, k->account)) != 0 ||
	    (rc = sq_bind_blob(q, s, 2, id, sizeof(id))) != 0)
		return rc;
	return sq_done(q, s);
}

static int
remove_row(struct sq_meta *q, const struct cfd_obj_key *k, bool pending_only)
{
	struct cfd_obj_info o;
	sqlite3_stmt *s = NULL;
	int rc;

	if ((rc = get_row(q, k, &o)) != 0)
		return rc;
	if (pending_only && o.state != CFD_OBJ_PENDING)
		return CF_ENOENT;
	s = sq_stmt(q, SQ_OBJ_REMOVE);
	if ((rc = sq_bind_key(q, s, k)) != 0 || (rc = sq_done(q, s)) != 0 ||
	    (rc = sq_used_sub(q, k->account, o.size)) != 0)
		return rc;
	return drop_pending_device(q, k);
}

int
sq_object_abort(struct cfd_meta *m, const struct cfd_obj_key *k)
{
	struct sq_meta *q = sq_of(m);
	int rc;

	sq_lock(q);
	if ((rc = sq_exec(q, SQ_BEGIN)) == 0)
		rc = sq_tx_end(q, remove_row(q, k, true));
	sq_unlock(q);
	return rc;
}

int
sq_object_purge(struct cfd_meta *m, const struct cfd_obj_key *k)
{
	struct sq_meta *q = sq_of(m);
	int rc;

	sq_lock(q);
	if ((rc = sq_exec(q, SQ_BEGIN)) == 0)
		rc = sq_tx_end(q, remove_row(q, k, false));
	sq_unlock(q);
	return rc;
}

int
sq_object_get(struct cfd_meta *m, const struct cfd_obj_key *k, struct cfd_obj_info *out)
{
	struct sq_meta *q = sq_of(m);
	int rc;

	sq_lock(q);
	rc = get_row(q, k, out);
	sq_unlock(q);
	return rc;
}

/* A one-statement update of one object; CF_ENOENT when no row matched. */
static int
update_one(struct cfd_meta *m, enum sq_stmt which, const struct cfd_obj_key *k, int64_t now)
{
	struct sq_meta *q = sq_of(m);
	sqlite3_stmt *s = NULL;
	int rc;

	sq_lock(q);
	s = sq_stmt(q, which);
	if ((rc = sq_bind_key(q, s, k)) == 0 && which == SQ_OBJ_SOFT_DELETE)
		rc = sq_bind_i64(q, s, 4, now);
	if (rc == 0 && (rc = sq_done(q, s)) == 0 && sq_changes(q) != 1)
		rc = CF_ENOENT;
	sq_unlock(q);
	return rc;
}

int
sq_object_delete(struct cfd_meta *m, const struct cfd_obj_key *k, int64_t now)
{
	return update_one(m, SQ_OBJ_SOFT_DELETE, k, now);
}

int
sq_object_undelete(struct cfd_meta *m, const struct cfd_obj_key *k)
{
	return update_one(m, SQ_OBJ_UNDELETE, k, 0);
}

int
sq_object_claim(struct cfd_meta *m, const struct cfd_obj_key *k)
{
	return update_one(m, SQ_OBJ_CLAIM, k, 0);
}

/* One listing batch: up to @want rows after @after, copied out of the statement. */
static int
list_batch(struct cfd_meta *m, const struct cfd_list_query *lq, const char *after, uint32_t want,
           struct cfd_obj_info *rows, size_t *n)
{
	struct sq_meta *q = sq_of(m);
	sqlite3_stmt *s = NULL;
	int rc;

	*n = 0;
	sq_lock(q);
	s = sq_stmt(q, lq->deleted ? SQ_OBJ_LIST_DELETED : SQ_OBJ_LIST);
	if ((rc = sq_bind_text(q, s, 1, lq->account)) != 0 ||
	    (rc = sq_bind_i64(q, s, 2, (int64_t)lq->kind)) != 0 ||
	    (rc = sq_bind_text(q, s, 3, after)) != 0 || (rc = sq_bind_i64(q, s, 4, want)) != 0)
		goto out;
	while (*n < want && (rc = sq_row(q, s)) == 0)
		obj_from_row(s, &rows[(*n)++]);
	if (rc == CF_ENOENT)
		rc = 0;
out:
	sq_unlock(q);
	return rc;
}

int
sq_object_list(struct cfd_meta *m, const struct cfd_list_query *lq, cfd_obj_fn *fn, void *arg)
{
	return cfd_walk_listing(m, list_batch, lq, OBJ_BATCH, fn, arg);
}

/* One batch of a walk over every account, after the cursor row @c. */
static int
walk_batch(struct cfd_meta *m, const void *stmt, const struct cfd_obj_info *c,
           struct cfd_obj_info *rows, size_t *n)
{
	struct sq_meta *q = sq_of(m);
	enum sq_stmt which = *(const enum sq_stmt *)stmt;
	struct cfd_obj_key k = {.account = c->account, .kind = c->kind, .name = c->name};
	sqlite3_stmt *s = NULL;
	int rc;

	*n = 0;
	sq_lock(q);
	s = sq_stmt(q, which);
	if ((rc = sq_bind_key(q, s, &k)) != 0 || (rc = sq_bind_i64(q, s, 4, OBJ_BATCH)) != 0)
		goto out;
	while (*n < OBJ_BATCH && (rc = sq_row(q, s)) == 0)
		obj_from_row(s, &rows[(*n)++]);
	if (rc == CF_ENOENT)
		rc = 0;
out:
	sq_unlock(q);
	return rc;
}

/*
 * Rows are handed to @fn in (account, kind, name) order, a batch at a time and without the
 * lock, so @fn may purge the row it is given.
 */
static int
walk(struct cfd_meta *m, enum sq_stmt which, cfd_obj_fn *fn, void *arg)
{
	struct cfd_obj_info start;

	memset(&start, 0, sizeof(start));
	return cfd_walk_objects(m, walk_batch, &which, &start, OBJ_BATCH, fn, arg);
}

int
sq_deleted_list(struct cfd_meta *m, cfd_obj_fn *fn, void *arg)
{
	return walk(m, SQ_OBJ_DELETED_BATCH, fn, arg);
}

int
sq_unfinished_list(struct cfd_meta *m, cfd_obj_fn *fn, void *arg)
{
	return walk(m, SQ_OBJ_UNFINISHED_BATCH, fn, arg);
}

int
sq_expired_claim(struct cfd_meta *m, int64_t cutoff, cfd_obj_fn *fn, void *arg)
{
	struct sq_meta *q = sq_of(m);
	sqlite3_stmt *s = NULL;
	int rc;

	sq_lock(q);
	s = sq_stmt(q, SQ_OBJ_EXPIRE);
	if ((rc = sq_bind_i64(q, s, 1, cutoff)) == 0)
		rc = sq_done(q, s);
	sq_unlock(q);
	if (rc != 0)
		return rc;
	return walk(m, SQ_OBJ_PURGING_BATCH, fn, arg);
}
