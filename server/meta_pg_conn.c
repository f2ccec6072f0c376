/*
 * meta_pg_conn.c - the plumbing under meta_pg.c and meta_pg_obj.c: statement parameters and
 * results, error mapping, the connection pool and the loop that runs an operation, with its
 * retries and reconnection (meta_pg.h).
 *
 * A broken connection (PostgreSQL restarted, a network cut) is found when a statement fails;
 * it is reset (PQreset) and the operation tried again once, which is safe as long as COMMIT
 * was not sent: the server rolls back a transaction whose session ended. A deadlock or
 * serialization failure rolls the transaction back too, and is tried again a few times.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "meta_pg.h"

#define PG_TRIES           5 /* attempts on a serialization failure or deadlock */
#define PG_BACKOFF_NS      5000000L
#define PG_CONNECT_TIMEOUT "10" /* seconds; a connection URI may say otherwise */
#define MSG_LINE           256

/* Type OIDs of the parameters we send (PostgreSQL's catalog/pg_type_d.h). */
#define OID_BOOL  16
#define OID_BYTEA 17
#define OID_INT8  20
#define OID_TEXT  25

/* ---- parameters and results ---- */

static void
pp_add(struct pg_params *pp, Oid type, const void *v, size_t n)
{
	CF_ASSERT(pp->n >= 0 && pp->n < PG_PARAMS_MAX && n <= INT32_MAX);
	pp->val[pp->n] = v;
	pp->len[pp->n] = (int)n;
	pp->fmt[pp->n] = 1;
	pp->type[pp->n] = type;
	pp->n++;
}

void
pp_text(struct pg_params *pp, const char *s)
{
	pp_add(pp, OID_TEXT, s, strlen(s));
}

void
pp_blob(struct pg_params *pp, const void *p, size_t n)
{
	pp_add(pp, OID_BYTEA, p, n);
}

void
pp_i64(struct pg_params *pp, int64_t v)
{
	CF_ASSERT(pp->n >= 0 && pp->n < PG_PARAMS_MAX);
	cf_put_u64be(pp->num[pp->n], (uint64_t)v);
	pp_add(pp, OID_INT8, pp->num[pp->n], 8);
}

void
pp_bool(struct pg_params *pp, bool v)
{
	CF_ASSERT(pp->n >= 0 && pp->n < PG_PARAMS_MAX);
	pp->num[pp->n][0] = v ? 1 : 0;
	pp_add(pp, OID_BOOL, pp->num[pp->n], 1);
}

void
pp_key(struct pg_params *pp, const struct cfd_obj_key *k)
{
	pp_text(pp, k->account);
	pp_i64(pp, (int64_t)k->kind);
	pp_text(pp, k->name);
}

int64_t
pg_int(const PGresult *r, int row, int col)
{
	const uint8_t *v = (const uint8_t *)PQgetvalue(r, row, col);

	switch (PQgetlength(r, row, col)) {
	case 1:
		return v[0] != 0;
	case 2:
		return (int16_t)cf_get_u16be(v);
	case 4:
		return (int32_t)cf_get_u32be(v);
	case 8:
		return (int64_t)cf_get_u64be(v);
	default:
		return 0;
	}
}

int
pg_text(const PGresult *r, int row, int col, char *dst, size_t cap)
{
	int n = PQgetlength(r, row, col);

	if (n < 0 || (size_t)n >= cap)
		return cf_err_set(CF_EINTERNAL, "database: text column of %d bytes", n);
	memcpy(dst, PQgetvalue(r, row, col), (size_t)n);
	dst[n] = '\0';
	return 0;
}

const uint8_t *
pg_bytes(const PGresult *r, int row, int col, size_t n)
{
	if (PQgetisnull(r, row, col) || (size_t)PQgetlength(r, row, col) != n)
		return NULL;
	return (const uint8_t *)PQgetvalue(r, row, col);
}

/* The first line of a libpq message (the rest is hints, on lines of their own). */
static const char *
first_line(const char *msg, char *buf, size_t cap)
{
	size_t n = strcspn(msg, "\n");

	if (n >= cap)
		n = cap - 1;
	memcpy(buf, msg, n);
	buf[n] = '\0';
	return buf;
}

int
pg_error(struct pg_conn *c, const PGresult *r)
{
	const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char line[MSG_LINE];

	(void)snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state != NULL ? state : "");
	if (state != NULL && strcmp(state, "23505") == 0)
		return cf_err_set(CF_EEXIST, "database: %s: row exists", c->op);
	if (msg == NULL)
		msg = PQerrorMessage(c->pq);
	errno = 0; /* the database's message says it all; errno may be stale */
	return cf_err_set(CF_ESYS, "database: %s: %s", c->op, first_line(msg, line, sizeof(line)));
}

int
pg_exec(struct pg_conn *c, const char *sql, const struct pg_params *pp, PGresult **out)
{
	PGresult *r = NULL;
	ExecStatusType st;
	int rc;

	if (out != NULL)
		*out = NULL;
	c->sqlstate[0] = '\0';
	r = PQexecParams(c->pq, sql, pp != NULL ? pp->n : 0, pp != NULL ? pp->type : NULL,
	                 pp != NULL ? pp->val : NULL, pp != NULL ? pp->len : NULL,
	                 pp != NULL ? pp->fmt : NULL, 1);
	st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (out != NULL)
			*out = r;
		else
			PQclear(r);
		return 0;
	}
	rc = pg_error(c, r);
	PQclear(r);
	return rc;
}

/* ---- the pool ---- */

static void
conn_close(struct pg_conn *c)
{
	if (c == NULL)
		return;
	PQfinish(c->pq);
	cf_free(c);
}

static int
conn_open(struct pg_meta *p, struct pg_conn **out)
{
	/* later entries override earlier ones: the URI's own connect_timeout wins */
	static const char *const keys[] = {"fallback_application_name", "connect_timeout", "dbname",
	                                   NULL};
	const char *vals[] = {"cofferd", PG_CONNECT_TIMEOUT, p->conninfo, NULL};
	struct pg_conn *c = NULL;

	*out = NULL;
	c = cf_calloc(1, sizeof(*c));
	if (c == NULL)
		return CF_ENOMEM;
	c->pq = PQconnectdbParams(keys, vals, 1);
	if (c->pq == NULL) {
		cf_free(c);
		return CF_ENOMEM;
	}
	if (PQstatus(c->pq) != CONNECTION_OK) {
		char line[MSG_LINE];

		errno = 0;
		(void)cf_err_set(CF_ESYS, "database: cannot connect: %s",
		                 first_line(PQerrorMessage(c->pq), line, sizeof(line)));
		conn_close(c);
		return CF_ESYS;
	}
	*out = c;
	return 0;
}

static void
pool_lock(struct pg_meta *p)
{
	CF_ASSERT(pthread_mutex_lock(&p->lock) == 0);
}

/* Unlock, first waking a thread waiting for a connection when @signal. */
static void
pool_unlock(struct pg_meta *p, bool signal)
{
	if (signal)
		CF_ASSERT(pthread_cond_signal(&p->freed) == 0);
	CF_ASSERT(pthread_mutex_unlock(&p->lock) == 0);
}

/* Borrow an idle connection, or open one while fewer than PG_POOL_MAX exist, or wait. */
static int
pool_get(struct pg_meta *p, struct pg_conn **out)
{
	int rc;

	pool_lock(p);
	while (p->nidle == 0 && p->nopen >= PG_POOL_MAX)
		CF_ASSERT(pthread_cond_wait(&p->freed, &p->lock) == 0);
	if (p->nidle > 0) {
		*out = p->idle[--p->nidle];
		pool_unlock(p, false);
		return 0;
	}
	p->nopen++;
	pool_unlock(p, false);
	/* connect without the lock: other threads keep using the open connections */
	if ((rc = conn_open(p, out)) != 0) {
		pool_lock(p);
		p->nopen--;
		pool_unlock(p, true);
	}
	return rc;
}

/* Return a connection; a broken one (or one left inside a transaction) is dropped. */
static void
pool_put(struct pg_meta *p, struct pg_conn *c)
{
	bool keep = PQstatus(c->pq) == CONNECTION_OK && PQtransactionStatus(c->pq) == PQTRANS_IDLE;

	pool_lock(p);
	if (keep)
		p->idle[p->nidle++] = c;
	else
		p->nopen--;
	pool_unlock(p, true);
	if (!keep)
		conn_close(c);
}

/* ---- running an operation ---- */

/* ROLLBACK, keeping the error message and SQLSTATE of what failed. */
static void
rollback(struct pg_conn *c)
{
	if (PQtransactionStatus(c->pq) != PQTRANS_IDLE)
		PQclear(PQexec(c->pq, "ROLLBACK"));
}

static int
run_once(struct pg_conn *c, bool tx, pg_fn *fn, void *arg)
{
	int rc;

	c->committing = false;
	if (!tx)
		return fn(c, arg);
	/* the locking of meta_pg*.c is written for READ COMMITTED, whatever the default */
	if ((rc = pg_exec(c, "BEGIN ISOLATION LEVEL READ COMMITTED", NULL, NULL)) != 0)
		return rc;
	if ((rc = fn(c, arg)) != 0) {
		rollback(c);
		return rc;
	}
	c->committing = true;
	return pg_exec(c, "COMMIT", NULL, NULL);
}

/* Connection exceptions (08) and shutdowns (57P01..57P03) end the session. */
static bool
conn_broken(const struct pg_conn *c)
{
	return PQstatus(c->pq) != CONNECTION_OK || strncmp(c->sqlstate, "08", 2) == 0 ||
	       strncmp(c->sqlstate, "57P0", 4) == 0;
}

/*
 * After a broken connection: reconnect and try again, once per operation. Not after a
 * COMMIT was sent: it may have been applied, and a write-once reservation or a nonce tried
 * again would then be refused as its own replay.
 */
static bool
reconnect(struct pg_conn *c, bool *reset)
{
	char line[MSG_LINE];

	if (c->committing) {
		errno = 0;
		(void)cf_err_set(CF_ESYS,
		                 "database: %s: connection lost at commit, outcome unknown", c->op);
		return false;
	}
	if (*reset)
		return false;
	*reset = true;
	PQreset(c->pq);
	if (PQstatus(c->pq) == CONNECTION_OK)
		return true;
	errno = 0;
	(void)cf_err_set(CF_ESYS, "database: %s: cannot reconnect: %s", c->op,
	                 first_line(PQerrorMessage(c->pq), line, sizeof(line)));
	return false;
}

static bool
may_retry(struct pg_conn *c, int rc, int attempt, bool *reset)
{
	struct timespec ts = {0, PG_BACKOFF_NS * attempt};

	if (rc != CF_ESYS)
		return false;
	if (conn_broken(c))
		return reconnect(c, reset);
	if (attempt >= PG_TRIES ||
	    (strcmp(c->sqlstate, "40001") != 0 && strcmp(c->sqlstate, "40P01") != 0))
		return false;
	(void)nanosleep(&ts, NULL); /* let the transaction that won finish first */
	return true;
}

int
pg_run(struct pg_meta *p, const char *op, bool tx, pg_fn *fn, void *arg)
{
	struct pg_conn *c = NULL;
	bool reset = false;
	int rc;

	if ((rc = pool_get(p, &c)) != 0)
		return rc;
	c->op = op;
	for (int attempt = 1;; attempt++) {
		rc = run_once(c, tx, fn, arg);
		if (rc == 0 || !may_retry(c, rc, attempt, &reset))
			break;
	}
	pool_put(p, c);
	return rc;
}

struct one_stmt {
	const char *sql;
	const struct pg_params *pp;
	PGresult *res;
};

static int
one_stmt_run(struct pg_conn *c, void *arg)
{
	struct one_stmt *s = arg;

	PQclear(s->res); /* of an attempt that failed later, at COMMIT */
	s->res = NULL;
	return pg_exec(c, s->sql, s->pp, &s->res);
}

int
pg_query(struct pg_meta *p, const char *op, bool tx, const char *sql, const struct pg_params *pp,
         PGresult **out)
{
	struct one_stmt s = {sql, pp, NULL};
	int rc;

	if (out != NULL)
		*out = NULL;
	rc = pg_run(p, op, tx, one_stmt_run, &s);
	if (rc != 0 || out == NULL) {
		PQclear(s.res);
		return rc;
	}
	*out = s.res;
	return 0;
}

void
pg_pool_close(struct pg_meta *p)
{
	CF_ASSERT(p->nidle == p->nopen); /* no operation may still be running */
	for (size_t i = 0; i < p->nidle; i++)
		conn_close(p->idle[i]);
	p->nidle = 0;
	p->nopen = 0;
}
