/*
 * meta_pg.h - internals shared by meta_pg_conn.c (parameters, results, the pool, running
 * an operation), meta_pg.c (schema, accounts, devices, nonces, settings) and meta_pg_obj.c
 * (objects): the PostgreSQL implementation of meta.h, for several stateless cofferd
 * instances sharing one database.
 *
 * Each operation borrows one connection of a small pool for its statements, runs them in
 * one transaction when it writes (pg_run() with @tx), and hands rows to callbacks only
 * after the connection is back in the pool (rows are fetched in batches, then handed out),
 * so a callback may call other operations.
 */
#ifndef CFD_META_PG_H
#define CFD_META_PG_H

#include <libpq-fe.h>
#include <pthread.h>

#include "meta.h"

#define PG_POOL_MAX   8
#define PG_PARAMS_MAX 6

/* One embedded migration (pg_migrations.h, generated from server/sql/pg/NNNN_*.sql). */
struct pg_migration {
	int version;
	const char *name;
	const unsigned char *sql; /* NUL-terminated */
};

/* A pooled connection, used by one operation (one thread) at a time. */
struct pg_conn {
	PGconn *pq;
	const char *op;   /* the operation, for messages */
	char sqlstate[6]; /* SQLSTATE of the last failed statement, "" if none */
	bool committing;  /* the failure, if any, happened at COMMIT */
};

struct pg_meta {
	struct cfd_meta base; /* first: a struct cfd_meta * is a struct pg_meta * */
	char *conninfo;       /* may hold a password: wiped on close */
	pthread_mutex_t lock; /* guards idle, nidle and nopen */
	pthread_cond_t freed; /* signalled when a connection is returned or dropped */
	struct pg_conn *idle[PG_POOL_MAX];
	size_t nidle;
	size_t nopen; /* idle + borrowed */
};

/*
 * The parameters of one statement, all sent in binary format with their types given, so
 * no value is ever part of the SQL text. Values are borrowed until the statement ran.
 */
struct pg_params {
	int n;
	const char *val[PG_PARAMS_MAX];
	int len[PG_PARAMS_MAX];
	int fmt[PG_PARAMS_MAX];
	Oid type[PG_PARAMS_MAX];
	uint8_t num[PG_PARAMS_MAX][8];
};

static inline struct pg_meta *
pg_of(struct cfd_meta *m)
{
	return (struct pg_meta *)m;
}

void pp_text(struct pg_params *pp, const char *s);
void pp_blob(struct pg_params *pp, const void *p, size_t n);
void pp_i64(struct pg_params *pp, int64_t v);
void pp_bool(struct pg_params *pp, bool v);
/* pp_key() - account, kind, name as $1, $2, $3. */
void pp_key(struct pg_params *pp, const struct cfd_obj_key *k);

/* pg_int() - an integer or boolean column of a binary result (2, 4 or 8 bytes, or 1). */
int64_t pg_int(const PGresult *r, int row, int col);
/* pg_text() - copy a text column into @dst (size @cap): 0, or CF_EINTERNAL if too long. */
int pg_text(const PGresult *r, int row, int col, char *dst, size_t cap);
/* pg_bytes() - a bytea column that must be exactly @n bytes, or NULL. */
const uint8_t *pg_bytes(const PGresult *r, int row, int col, size_t n);

/*
 * pg_error() - the error of a failed statement's result @r (may be NULL): CF_EEXIST on a
 * unique violation, else CF_ESYS with the database's message; sets c->sqlstate.
 */
int pg_error(struct pg_conn *c, const PGresult *r);
/*
 * pg_exec() - run @sql with @pp (may be NULL) on @c. 0 with *@out (may be NULL: cleared)
 * the result, CF_EEXIST on a unique violation (SQLSTATE 23505), else CF_ESYS naming c->op
 * and the database's message. Either way c->sqlstate says what failed.
 */
int pg_exec(struct pg_conn *c, const char *sql, const struct pg_params *pp, PGresult **out);

typedef int pg_fn(struct pg_conn *c, void *arg);

/*
 * pg_run() - borrow a connection and call @fn on it, inside BEGIN ... COMMIT when @tx
 * (ROLLBACK when @fn fails). Repeated, at most a few times, on a serialization failure or
 * a deadlock (40001, 40P01); repeated once after a reconnect when the connection broke
 * before COMMIT was sent (a COMMIT whose answer was lost is not repeated: its outcome is
 * unknown, CF_ESYS says so). @fn must be safe to call again after a rollback. @op names
 * the operation in messages. Returns what @fn returned, or CF_ESYS/CF_ENOMEM.
 */
int pg_run(struct pg_meta *p, const char *op, bool tx, pg_fn *fn, void *arg);
/* pg_pool_close() - close every pooled connection; none may be borrowed. */
void pg_pool_close(struct pg_meta *p);
/* pg_query() - pg_run() of one statement; *@out: the result, the caller PQclear()s it. */
int pg_query(struct pg_meta *p, const char *op, bool tx, const char *sql,
             const struct pg_params *pp, PGresult **out);

/*
 * pg_token_match() - CF_EAUTH unless @account exists, its token is not burned and equals
 * @hash (constant time). With @lock the account row stays locked until the transaction
 * ends, so of two enrollments racing on one token only one sees it unburned.
 */
int pg_token_match(struct pg_conn *c, const char *account, const uint8_t hash[static CF_HASH_BYTES],
                   bool lock);
/*
 * pg_apply_commit() - the rest of a commit (transaction open, token already matched under
 * lock): burn the token, write the devices, retire old recovery rows.
 */
int pg_apply_commit(struct pg_conn *c, const char *account, const struct cfd_commit *cm);

/* Object operations (meta_pg_obj.c), with the signatures of struct cfd_meta_ops. */
int pg_object_reserve(struct cfd_meta *m, const struct cfd_obj_key *k, uint64_t size, int64_t now,
                      uint32_t max_live);
int pg_object_commit(struct cfd_meta *m, const struct cfd_obj_key *k, int64_t now,
                     const struct cfd_commit *c);
int pg_object_abort(struct cfd_meta *m, const struct cfd_obj_key *k);
int pg_object_get(struct cfd_meta *m, const struct cfd_obj_key *k, struct cfd_obj_info *out);
int pg_object_list(struct cfd_meta *m, const struct cfd_list_query *lq, cfd_obj_fn *fn, void *arg);
int pg_object_delete(struct cfd_meta *m, const struct cfd_obj_key *k, int64_t now);
int pg_object_undelete(struct cfd_meta *m, const struct cfd_obj_key *k);
int pg_object_claim(struct cfd_meta *m, const struct cfd_obj_key *k);
int pg_object_purge(struct cfd_meta *m, const struct cfd_obj_key *k);
int pg_deleted_list(struct cfd_meta *m, cfd_obj_fn *fn, void *arg);
int pg_expired_claim(struct cfd_meta *m, int64_t cutoff, cfd_obj_fn *fn, void *arg);
int pg_unfinished_list(struct cfd_meta *m, cfd_obj_fn *fn, void *arg);

#endif
