/*
 * remote.c - the store operations of a cofferd account (docs/format.md section 15) on top of
 * remote_http.c, and the account-level requests (enroll, undelete).
 *
 * Nothing is sent at open: a URL that names no server, or an account that does not exist,
 * shows on the first operation, each with its own message.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/base.h"
#include "remote_impl.h"

#define TRIES      5
#define BACKOFF_MS 200u
/* A full listing page: 10000 lines of a name, a space, 20 digits and a newline. */
#define LIST_ANSWER_MAX ((size_t)CF_REMOTE_LIST_LIMIT * (CF_OBJ_NAME_MAX + 22))

/*
 * Open remote stores, so that cf_remote_enroll() can find the remote behind a struct
 * cf_store (store.h does not hand out an implementation's context).
 */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct remote *registry;

static void
registry_add(struct remote *r)
{
	(void)pthread_mutex_lock(&registry_lock);
	r->next = registry;
	registry = r;
	(void)pthread_mutex_unlock(&registry_lock);
}

static void
registry_remove(const struct remote *r)
{
	(void)pthread_mutex_lock(&registry_lock);
	for (struct remote **pp = &registry; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	(void)pthread_mutex_unlock(&registry_lock);
}

static struct remote *
registry_find(const struct cf_store *s)
{
	struct remote *r = NULL;

	(void)pthread_mutex_lock(&registry_lock);
	for (r = registry; r != NULL; r = r->next) {
		if (r->owner == s)
			break;
	}
	(void)pthread_mutex_unlock(&registry_lock);
	return r;
}

/* A request on the object @name of @kind ("/v1/ACCOUNT/KIND/NAME"), or on the kind's list. */
static void
obj_req(const struct remote *r, struct http_req *q, const char *method, enum cf_obj_kind kind,
        const char *name)
{
	char what[CF_REMOTE_WHAT_MAX];
	const char *dir = cf_obj_kind_dir(kind);

	(void)snprintf(what, sizeof(what), "%s/%s", dir, name);
	cf_remote_req_init(q, method, what);
	(void)snprintf(q->path, sizeof(q->path), "/v1/%s/%s/%s", r->url.account, dir, name);
}

static bool
ok_status(long status)
{
	return status >= 200 && status <= 299;
}

static int
status_err(const struct remote *r, const struct http_req *q)
{
	return cf_remote_status_err(q->status, q->method, q->what, r->location, q->text);
}

static int
no_repo(const struct remote *r)
{
	return cf_err_set(CF_ENOREPO, "repository '%s' does not exist", r->location);
}

static bool
content_addressed(enum cf_obj_kind kind)
{
	return kind == CF_OBJ_PACK || kind == CF_OBJ_INDEX || kind == CF_OBJ_SNAPSHOT;
}

static int remote_get(void *ctx, enum cf_obj_kind kind, const char *name, uint64_t off, size_t len,
                      size_t max, uint8_t **out, size_t *outlen);

/*
 * A put answered 409 after an earlier attempt failed in a way that leaves in doubt whether
 * the server stored it (connection lost after sending, a gateway timeout): it may have
 * landed. A content-addressed name fixes its bytes (the server checked the hash); any other
 * object is read back and compared.
 */
static int
put_landed(struct remote *r, enum cf_obj_kind kind, const char *name, const uint8_t *p, size_t len)
{
	uint8_t *got = NULL;
	size_t glen = 0;
	int rc;

	if (content_addressed(kind))
		return 0;
	rc = remote_get(r, kind, name, 0, SIZE_MAX, len, &got, &glen);
	if (rc == 0 && glen == len && (len == 0 || memcmp(got, p, len) == 0))
		rc = 0;
	else
		rc = cf_err_set(CF_EEXIST, "object '%s/%s' already exists on '%s'",
		                cf_obj_kind_dir(kind), name, r->location);
	cf_free(got);
	return rc;
}

static int
remote_put(void *ctx, enum cf_obj_kind kind, const char *name, const uint8_t *p, size_t len)
{
	struct remote *r = ctx;
	struct http_req q;
	int rc;

	obj_req(r, &q, "PUT", kind, name);
	q.body = p != NULL ? p : (const uint8_t *)"";
	q.body_len = len;
	if ((rc = cf_remote_perform(r, &q)) != 0)
		goto out;
	if (ok_status(q.status))
		rc = 0;
	else if (q.status == 409 && q.in_doubt)
		rc = put_landed(r, kind, name, q.body, len);
	else if (q.status == 404) /* no such account: accounts cannot see each other */
		rc = no_repo(r);
	else
		rc = status_err(r, &q);
out:
	cf_remote_req_release(&q);
	return rc;
}

/*
 * A pack is uploaded straight from its temporary file; other objects are small and may need
 * their bytes again (put_landed()), so they are read back and put as usual.
 */
static int
remote_put_tmp(void *ctx, enum cf_obj_kind kind, const char *name, struct cf_store_tmp *t,
               const uint8_t sha256[static 32])
{
	struct remote *r = ctx;
	struct http_req q;
	uint8_t *buf = NULL;
	int rc;

	if (!content_addressed(kind) || t->len > SIZE_MAX) {
		if ((rc = cf_store_tmp_load(t, &buf)) == 0)
			rc = remote_put(r, kind, name, buf, (size_t)t->len);
		cf_free(buf);
		return rc;
	}
	obj_req(r, &q, "PUT", kind, name);
	q.body_file = t;
	q.body_len = (size_t)t->len;
	q.body_sha = sha256;
	if ((rc = cf_remote_perform(r, &q)) != 0)
		goto out;
	if (ok_status(q.status) || (q.status == 409 && q.in_doubt)) /* the name fixes the bytes */
		rc = 0;
	else if (q.status == 404)
		rc = no_repo(r);
	else
		rc = status_err(r, &q);
out:
	cf_remote_req_release(&q);
	return rc;
}

static int
past_end(const struct http_req *q, uint64_t size, uint64_t off)
{
	return cf_err_set(CF_ETRUNC, "object '%s' of %llu bytes: range at %llu past its end",
	                  q->what, (unsigned long long)size, (unsigned long long)off);
}

static int
over_max(const struct http_req *q, uint64_t size, size_t max)
{
	return cf_err_set(CF_ETOOBIG, "object '%s' of %llu bytes is over the limit %zu", q->what,
	                  (unsigned long long)size, max);
}

static int
malformed(const struct remote *r, const struct http_req *q, const char *why)
{
	return cf_err_set(CF_EFORMAT, "malformed answer from '%s' to %s '%s': %s", r->location,
	                  q->method, q->what, why);
}

/* A 200 carries the whole object (the server may ignore Range): cut out the range. */
static int
slice_full(struct http_req *q, uint64_t off, size_t len)
{
	uint64_t total = q->resp.len;
	uint64_t end = 0;
	size_t n;

	if (off > total)
		return past_end(q, total, off);
	if (len == SIZE_MAX)
		end = total;
	else if (cf_u64_add(off, len, &end) != 0 || end > total)
		return past_end(q, total, off);
	n = (size_t)(end - off);
	if (off > 0 && n > 0)
		memmove(q->resp.p, q->resp.p + off, n);
	q->resp.len = n;
	return 0;
}

/* A 206 must carry exactly the range asked for, of an object within the limit. */
static int
check_partial(const struct remote *r, struct http_req *q, uint64_t off, size_t len, size_t max)
{
	const struct cf_remote_range *cr = &q->cr;
	uint64_t want_last;

	if (q->range[0] == '\0' || !q->has_range)
		return malformed(r, q, "206 without a valid Content-Range");
	if (cr->total > max)
		return over_max(q, cr->total, max);
	if (len == SIZE_MAX)
		want_last = cr->total - 1;
	else
		want_last = off + len - 1; /* no overflow: checked when the range was made */
	if (cr->first != off)
		return malformed(r, q, "Content-Range starts elsewhere");
	if (cr->last != want_last) {
		if (len != SIZE_MAX && want_last >= cr->total && cr->last == cr->total - 1)
			return past_end(q, cr->total, off);
		return malformed(r, q, "Content-Range is not the range asked for");
	}
	if ((uint64_t)q->resp.len != cr->last - cr->first + 1)
		return malformed(r, q, "body length differs from Content-Range");
	return 0;
}

/* 416: nothing at @off. Only reading from the very end to the end gives (nothing). */
static int
unsatisfied(struct http_req *q, uint64_t off, size_t len, size_t max)
{
	if (!q->has_range || !q->cr.unsatisfied)
		return past_end(q, 0, off);
	if (q->cr.total > max)
		return over_max(q, q->cr.total, max);
	if (off == q->cr.total && len == SIZE_MAX) {
		q->resp.len = 0;
		return 0;
	}
	return past_end(q, q->cr.total, off);
}

/* The Range header for [@off, @off + @len); @len SIZE_MAX: to the end. */
static int
make_range(struct http_req *q, uint64_t off, size_t len, size_t max)
{
	uint64_t end = 0;

	q->cap_partial = len == SIZE_MAX ? max : len;
	if (len == SIZE_MAX) {
		(void)snprintf(q->range, sizeof(q->range), "%llu-", (unsigned long long)off);
		return 0;
	}
	if (cf_u64_add(off, len, &end) != 0)
		return cf_err_set(CF_ETRUNC, "object '%s': range at %llu past any end", q->what,
		                  (unsigned long long)off);
	(void)snprintf(q->range, sizeof(q->range), "%llu-%llu", (unsigned long long)off,
	               (unsigned long long)(end - 1));
	return 0;
}

static int remote_size(void *ctx, enum cf_obj_kind kind, const char *name, uint64_t *size);

/* A get of 0 bytes: HTTP cannot ask for an empty range, so check the size instead. */
static int
get_nothing(struct remote *r, enum cf_obj_kind kind, const char *name, uint64_t off, size_t max,
            uint8_t **out)
{
	struct http_req q;
	uint64_t size = 0;
	int rc;

	if ((rc = remote_size(r, kind, name, &size)) != 0)
		return rc;
	obj_req(r, &q, "GET", kind, name);
	if (size > max)
		return over_max(&q, size, max);
	if (off > size)
		return past_end(&q, size, off);
	*out = cf_malloc(0);
	return *out == NULL ? CF_ENOMEM : 0;
}

/* Check the answer to a GET and leave exactly the bytes asked for in q->resp. */
static int
get_answer(const struct remote *r, struct http_req *q, uint64_t off, size_t len, size_t max)
{
	if (q->status == 200)
		return slice_full(q, off, len);
	if (q->status == 206)
		return check_partial(r, q, off, len, max);
	if (q->status == 416)
		return unsatisfied(q, off, len, max);
	return status_err(r, q);
}

/* NOLINTBEGIN(readability-function-size): its 8 parameters are the store.h contract */
static int
remote_get(void *ctx, enum cf_obj_kind kind, const char *name, uint64_t off, size_t len, size_t max,
           uint8_t **out, size_t *outlen)
{
	struct remote *r = ctx;
	struct http_req q;
	int rc;

	if (len == 0)
		return get_nothing(r, kind, name, off, max, out);
	obj_req(r, &q, "GET", kind, name);
	q.keep_body = true;
	q.cap_full = max;
	q.max_total = max;
	if ((off != 0 || len != SIZE_MAX) && (rc = make_range(&q, off, len, max)) != 0)
		goto out;
	if ((rc = cf_remote_perform(r, &q)) != 0 || (rc = get_answer(r, &q, off, len, max)) != 0)
		goto out;
	if (q.resp.p == NULL && (q.resp.p = cf_malloc(0)) == NULL) {
		rc = CF_ENOMEM;
		goto out;
	}
	cf_buf_detach(&q.resp, out, outlen);
out:
	cf_remote_req_release(&q);
	return rc;
}
/* NOLINTEND(readability-function-size) */

static int
remote_size(void *ctx, enum cf_obj_kind kind, const char *name, uint64_t *size)
{
	struct remote *r = ctx;
	struct http_req q;
	int rc;

	obj_req(r, &q, "HEAD", kind, name);
	if ((rc = cf_remote_perform(r, &q)) != 0)
		goto out;
	if (q.status != 200)
		rc = status_err(r, &q);
	else if (q.content_length < 0)
		rc = malformed(r, &q, "no Content-Length");
	else
		*size = (uint64_t)q.content_length;
out:
	cf_remote_req_release(&q);
	return rc;
}

/* One page of a listing after @pg->after. */
static int
list_page(struct remote *r, enum cf_obj_kind kind, struct cf_remote_page *pg, bool *more,
          bool deleted)
{
	const char *del = deleted ? "deleted=1&" : "";
	struct http_req q;
	int rc;

	*more = false;
	obj_req(r, &q, "GET", kind, "");
	if (pg->after[0] != '\0')
		(void)snprintf(q.query, sizeof(q.query), "after=%s&%slimit=%d", pg->after, del,
		               CF_REMOTE_LIST_LIMIT);
	else
		(void)snprintf(q.query, sizeof(q.query), "%slimit=%d", del, CF_REMOTE_LIST_LIMIT);
	q.keep_body = true;
	q.cap_full = LIST_ANSWER_MAX;
	if ((rc = cf_remote_perform(r, &q)) != 0)
		goto out;
	if (q.status == 404) {
		rc = no_repo(r);
		goto out;
	}
	if (q.status != 200) {
		rc = status_err(r, &q);
		goto out;
	}
	rc = cf_remote_list_parse(pg, q.resp.p, q.resp.len);
	if (rc == CF_EFORMAT)
		rc = malformed(r, &q, "bad listing line");
	*more = q.more;
	if (rc == 0 && q.more && pg->count == 0)
		rc = malformed(r, &q, "more to list, but an empty page");
out:
	cf_remote_req_release(&q);
	return rc;
}

static int
list_all(struct remote *r, enum cf_obj_kind kind, cf_store_list_fn *fn, void *arg, bool deleted)
{
	struct cf_remote_page pg;
	char after[CF_OBJ_NAME_MAX + 1] = "";
	bool more = true;
	int rc = 0;

	while (more) {
		memset(&pg, 0, sizeof(pg));
		pg.after = after;
		pg.limit = CF_REMOTE_LIST_LIMIT;
		pg.fn = fn;
		pg.arg = arg;
		if ((rc = list_page(r, kind, &pg, &more, deleted)) != 0)
			break;
		memcpy(after, pg.last, sizeof(after));
	}
	return rc;
}

static int
remote_list(void *ctx, enum cf_obj_kind kind, cf_store_list_fn *fn, void *arg)
{
	return list_all(ctx, kind, fn, arg, false);
}

static int
remote_del(void *ctx, enum cf_obj_kind kind, const char *name)
{
	struct remote *r = ctx;
	struct http_req q;
	int rc;

	obj_req(r, &q, "DELETE", kind, name);
	if ((rc = cf_remote_perform(r, &q)) == 0 && !ok_status(q.status))
		rc = status_err(r, &q);
	cf_remote_req_release(&q);
	return rc;
}

static void
remote_free(void *ctx)
{
	struct remote *r = ctx;

	if (r == NULL)
		return;
	registry_remove(r);
	cf_remote_http_release(r);
	cf_free(r->location);
	cf_free(r->ca_file);
	cf_free(r->proxy);
	cf_wipe(r, sizeof(*r));
	cf_free(r);
}

static const struct cf_store_ops remote_ops = {
        .put = remote_put,
        .get = remote_get,
        .size = remote_size,
        .list = remote_list,
        .del = remote_del,
        .free = remote_free,
        .put_tmp = remote_put_tmp,
};

/* A copy of the environment variable @name when set and not empty. */
static int
env_copy(const char *name, char **out)
{
	const char *v = getenv(name); /* NOLINT(concurrency-mt-unsafe): read once, at open */

	*out = NULL;
	if (v == NULL || *v == '\0')
		return 0;
	*out = cf_strdup(v);
	return *out == NULL ? CF_ENOMEM : 0;
}

static int
remote_setup(struct remote *r, const char *url, const struct cf_remote_auth *auth)
{
	int rc;

	if ((rc = cf_remote_url_parse(url, &r->url)) != 0)
		return rc;
	r->location = cf_strdup(url);
	if (r->location == NULL)
		return CF_ENOMEM;
	(void)snprintf(r->base, sizeof(r->base), "%s://%s:%u", r->url.tls ? "https" : "http",
	               r->url.host, (unsigned)r->url.port);
	if (auth != NULL) {
		r->auth = *auth;
		r->has_auth = true;
	}
	r->tries = TRIES;
	r->backoff_ms = BACKOFF_MS;
	if ((rc = env_copy("COFFER_CA_FILE", &r->ca_file)) != 0 ||
	    (rc = env_copy("COFFER_PROXY", &r->proxy)) != 0)
		return rc;
	return cf_remote_http_init(r);
}

int
cf_store_open_remote(const char *url, const struct cf_remote_auth *auth, struct cf_store **out)
{
	struct remote *r = NULL;
	int rc;

	*out = NULL;
	if (auth != NULL && auth->sign == NULL)
		cf_misuse("cf_store_open_remote: auth without a signing key");
	r = cf_calloc(1, sizeof(*r));
	if (r == NULL)
		return CF_ENOMEM;
	if ((rc = remote_setup(r, url, auth)) != 0 ||
	    (rc = cf_store_new(&remote_ops, r, url, out)) != 0) {
		remote_free(r);
		return rc;
	}
	r->owner = *out;
	registry_add(r);
	return 0;
}

static struct remote *
remote_of(struct cf_store *s)
{
	struct remote *r = s != NULL ? registry_find(s) : NULL;

	if (r == NULL)
		(void)cf_err_set(CF_EINVAL, "'%s' is not a cofferd repository",
		                 s != NULL ? cf_store_location(s) : "");
	return r;
}

static bool
token_valid(const char *t)
{
	size_t n = t == NULL ? 0 : strnlen(t, CF_REMOTE_TOKEN_MAX + 1);

	if (n == 0 || n > CF_REMOTE_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (t[i] <= 0x20 || t[i] >= 0x7f)
			return false;
	}
	return true;
}

/* An enrollment in doubt was done when our genesis entry is the account's. */
static bool
enroll_landed(struct remote *r, const struct http_req *q)
{
	uint8_t *got = NULL;
	size_t glen = 0;
	bool same = false;

	if (!q->in_doubt || !r->has_auth)
		return false;
	if (remote_get(r, CF_OBJ_CHAIN, "0000000000000000", 0, SIZE_MAX, q->body_len, &got,
	               &glen) == 0)
		same = glen == q->body_len && (glen == 0 || memcmp(got, q->body, glen) == 0);
	cf_free(got);
	return same;
}

static int
enroll_status(struct remote *r, const struct http_req *q)
{
	if (ok_status(q->status))
		return 0;
	if ((q->status == 401 || q->status == 403 || q->status == 409) && enroll_landed(r, q))
		return 0;
	if (q->status == 401 || q->status == 403)
		return cf_err_set(CF_EPERM, "'%s' refused the enrollment token (%ld)", r->location,
		                  q->status);
	if (q->status == 409)
		return cf_err_set(CF_EEXIST, "repository '%s' already exists", r->location);
	if (q->status == 404)
		return cf_err_set(CF_ENOREPO, "'%s' has no account '%s'", r->base, r->url.account);
	return status_err(r, q);
}

int
cf_remote_enroll(struct cf_store *s, const char *token, const uint8_t *genesis, size_t len)
{
	struct remote *r = remote_of(s);
	struct http_req q;
	int rc;

	if (r == NULL)
		return CF_EINVAL;
	if (!token_valid(token))
		return cf_err_set(CF_EINVAL, "invalid enrollment token: 1..%d printable characters",
		                  CF_REMOTE_TOKEN_MAX);
	cf_remote_req_init(&q, "POST", "enroll");
	(void)snprintf(q.path, sizeof(q.path), "/v1/%s/enroll", r->url.account);
	q.body = genesis;
	q.body_len = len;
	q.token = token;
	if ((rc = cf_remote_perform(r, &q)) == 0)
		rc = enroll_status(r, &q);
	cf_remote_req_release(&q);
	return rc;
}

int
cf_remote_undelete(struct cf_store *s, enum cf_obj_kind kind, const char *name)
{
	struct remote *r = remote_of(s);
	struct http_req q;
	int rc;

	if (r == NULL)
		return CF_EINVAL;
	if (!cf_obj_kind_valid(kind) || cf_obj_name_valid(name) != 0)
		return cf_err_set(CF_EINVAL, "invalid object to undelete");
	obj_req(r, &q, "POST", kind, name);
	(void)snprintf(q.query, sizeof(q.query), "undelete");
	if ((rc = cf_remote_perform(r, &q)) == 0 && !ok_status(q.status))
		rc = status_err(r, &q);
	cf_remote_req_release(&q);
	return rc;
}

int
cf_remote_list_deleted(struct cf_store *s, enum cf_obj_kind kind, cf_store_list_fn *fn, void *arg)
{
	struct remote *r = remote_of(s);

	if (r == NULL)
		return CF_EINVAL;
	if (!cf_obj_kind_valid(kind))
		return cf_err_set(CF_EINVAL, "invalid object kind");
	return list_all(r, kind, fn, arg, true);
}

void
cf_remote_set_retries(struct cf_store *s, int tries, unsigned backoff_ms)
{
	struct remote *r = registry_find(s);

	if (r == NULL || tries < 1)
		cf_misuse("cf_remote_set_retries: not a remote store or no tries");
	r->tries = tries;
	r->backoff_ms = backoff_ms;
}
