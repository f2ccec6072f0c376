/*
 * remote_http.c - one signed request to cofferd over libcurl, with retries (docs/format.md
 * section 15).
 *
 * Threads: libcurl easy handles are not shareable between threads, so each request takes
 * one from a small pool (curlx.c) and gives it back afterwards; an idle handle keeps its
 * connection, so consecutive requests of a thread reuse it. The DNS and TLS session
 * caches are in a CURLSH shared by all handles under one mutex per kind of data. The
 * connection cache is deliberately not shared: libcurl does not support sharing it between
 * concurrent threads.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../base/base.h"
#include "../crypto/crypto.h"
#include "remote_impl.h"

#define LOW_SPEED_TIME_S 60L /* abort a transfer slower than 1 KiB/s for this long */
#define ERROR_BODY_MAX   ((size_t)65536)
#define URL_MAX          (CF_REMOTE_HOST_MAX + 24 + CF_REMOTE_PATH_MAX + CF_REMOTE_QUERY_MAX + 2)
#define HEADER_MAX       (CF_REMOTE_AUTHZ_MAX + 32)

#ifdef CF_VERSION
#define USER_AGENT "coffer/" CF_VERSION
#else
#define USER_AGENT "coffer"
#endif

static void
share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
	struct remote *r = arg;

	(void)h;
	(void)access;
	if ((int)data >= 0 && (int)data < r->nlocks)
		(void)pthread_mutex_lock(&r->share_lock[data]);
}

static void
share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct remote *r = arg;

	(void)h;
	if ((int)data >= 0 && (int)data < r->nlocks)
		(void)pthread_mutex_unlock(&r->share_lock[data]);
}

int
cf_remote_http_init(struct remote *r)
{
	int bad = 0;
	int rc;

	if ((rc = cf_curlx_pool_init(&r->pool, CF_REMOTE_POOL_MAX)) != 0)
		return rc;
	for (; r->nlocks < CURL_LOCK_DATA_LAST; r->nlocks++) {
		if (pthread_mutex_init(&r->share_lock[r->nlocks], NULL) != 0)
			return CF_ENOMEM;
	}
	r->share = curl_share_init();
	if (r->share == NULL)
		return CF_ENOMEM;
	bad |= curl_share_setopt(r->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK;
	bad |= curl_share_setopt(r->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK;
	bad |= curl_share_setopt(r->share, CURLSHOPT_USERDATA, r) != CURLSHE_OK;
	bad |= curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK;
	bad |= curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) !=
	       CURLSHE_OK;
	if (bad) {
		errno = 0;
		return cf_err_set(CF_ESYS, "cannot set up libcurl's shared caches");
	}
	return 0;
}

void
cf_remote_http_release(struct remote *r)
{
	/* Handles first: they refer to the share. */
	cf_curlx_pool_release(&r->pool);
	if (r->share != NULL)
		(void)curl_share_cleanup(r->share);
	r->share = NULL;
	for (int i = 0; i < r->nlocks; i++)
		(void)pthread_mutex_destroy(&r->share_lock[i]);
	r->nlocks = 0;
}

void
cf_remote_req_init(struct http_req *q, const char *method, const char *what)
{
	memset(q, 0, sizeof(*q));
	q->method = method;
	(void)snprintf(q->what, sizeof(q->what), "%s", what);
	q->content_length = -1;
	cf_buf_init(&q->resp, 0);
}

void
cf_remote_req_release(struct http_req *q)
{
	cf_buf_release(&q->resp);
}

/* Forget what an earlier attempt received. */
static void
attempt_reset(struct http_req *q)
{
	cf_buf_release(&q->resp);
	cf_buf_init(&q->resp, 0);
	q->status = 0;
	q->text[0] = '\0';
	q->textlen = 0;
	q->dropped = 0;
	q->content_length = -1;
	q->has_range = false;
	q->bad_range = false;
	memset(&q->cr, 0, sizeof(q->cr));
	q->more = false;
	q->sent = 0;
	q->head_done = false;
	q->cb_rc = 0;
	q->toobig = 0;
	q->toobig_exact = false;
	q->limit = 0;
}

static bool
is_2xx(long status)
{
	return status >= 200 && status <= 299;
}

/* The answer's headers that matter, read once they are all in. */
static void
read_headers(struct http_req *q)
{
	struct curl_header *hd = NULL;
	curl_off_t cl = -1;

	(void)curl_easy_getinfo(q->h, CURLINFO_RESPONSE_CODE, &q->status);
	if (curl_easy_getinfo(q->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK && cl >= 0)
		q->content_length = (int64_t)cl;
	if (curl_easy_header(q->h, "X-Coffer-More", 0, CURLH_HEADER, -1, &hd) == CURLHE_OK)
		q->more = strcmp(hd->value, "1") == 0;
	if (curl_easy_header(q->h, "Content-Range", 0, CURLH_HEADER, -1, &hd) == CURLHE_OK) {
		q->has_range = cf_remote_content_range(hd->value, &q->cr) == 0;
		q->bad_range = !q->has_range;
	}
}

/*
 * Once, before the first body byte (or after the transfer when there is none): take the
 * status and headers and refuse an answer over the caller's caps before reading it.
 */
static int
check_head(struct http_req *q)
{
	size_t cap;

	q->head_done = true;
	read_headers(q);
	if (!is_2xx(q->status) || !q->keep_body)
		return 0;
	/* A 206 to a request without a range is refused later, by the caller. */
	cap = q->status == 206 && q->range[0] != '\0' ? q->cap_partial : q->cap_full;
	q->resp.max = cap;
	q->toobig_exact = true;
	if (q->status == 206 && q->has_range && q->cr.total > q->max_total) {
		q->toobig = q->cr.total;
		q->limit = q->max_total;
		return CF_ETOOBIG;
	}
	if (q->content_length > 0 && (uint64_t)q->content_length > cap) {
		q->toobig = (uint64_t)q->content_length;
		q->limit = cap;
		return CF_ETOOBIG;
	}
	q->toobig_exact = false;
	if (q->content_length > 0)
		return cf_buf_reserve(&q->resp, (size_t)q->content_length);
	return 0;
}

/* The start of an error answer is kept for the message; a long one is cut off. */
static size_t
keep_text(struct http_req *q, const char *p, size_t n)
{
	size_t room = sizeof(q->text) - 1 - q->textlen;
	size_t take = n < room ? n : room;

	memcpy(q->text + q->textlen, p, take);
	q->textlen += take;
	q->text[q->textlen] = '\0';
	q->dropped += n - take;
	return q->dropped > ERROR_BODY_MAX ? 0 : n;
}

static size_t
on_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct http_req *q = arg;
	size_t n = size * nmemb; /* libcurl passes size 1 */

	if (!q->head_done && (q->cb_rc = check_head(q)) != 0)
		return 0;
	if (!is_2xx(q->status))
		return keep_text(q, p, n);
	if (!q->keep_body) { /* the answer to a put or a delete: only its status matters */
		q->dropped += n;
		return q->dropped > ERROR_BODY_MAX ? 0 : n;
	}
	if ((q->cb_rc = cf_buf_put(&q->resp, p, n)) != 0)
		return 0; /* CF_ETOOBIG past the cap, before reading more; or CF_ENOMEM */
	return n;
}

/* The next piece of a body sent from a file; 0 after a failure (q->cb_rc says which). */
static size_t
read_file(struct http_req *q, char *buf, size_t n)
{
	const struct cf_store_tmp *t = q->body_file;
	ssize_t got;

	do
		got = pread(t->fd, buf, n, (off_t)q->sent);
	while (got < 0 && errno == EINTR);
	if (got > 0)
		return (size_t)got;
	q->cb_rc = got == 0 ? cf_err_set(CF_ETRUNC, "'%s' shrank while being sent", t->where)
	                    : cf_err_set(CF_ESYS, "cannot read '%s'", t->where);
	return 0;
}

static size_t
on_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct http_req *q = arg;
	size_t room = size * nitems;
	size_t n = q->body_len - q->sent;

	if (n > room)
		n = room;
	if (n > 0 && q->body_file != NULL) {
		if ((n = read_file(q, buf, n)) == 0)
			return CURL_READFUNC_ABORT;
	} else if (n > 0) {
		memcpy(buf, q->body + q->sent, n);
	}
	q->sent += n;
	return n;
}

/* libcurl rewinds the body when it resends on a fresh connection. */
static int
on_seek(void *arg, curl_off_t off, int origin)
{
	struct http_req *q = arg;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > q->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	q->sent = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

/* Options every request has: where, how long, through what, and where the answer goes. */
static int
setup_common(const struct remote *r, struct http_req *q, char *errbuf)
{
	char url[URL_MAX];
	CURL *h = q->h;
	int bad = 0;

	(void)snprintf(url, sizeof(url), "%s%s%s%s", r->base, q->path, q->query[0] ? "?" : "",
	               q->query);
	bad |= cf_curlx_set_basics(h, errbuf, LOW_SPEED_TIME_S) != 0;
	bad |= curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_SHARE, r->share) != CURLE_OK;
	/* "" disables the http_proxy family: traffic goes to the host the user named. */
	bad |= curl_easy_setopt(h, CURLOPT_PROXY, r->proxy != NULL ? r->proxy : "") != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	if (r->ca_file != NULL)
		bad |= curl_easy_setopt(h, CURLOPT_CAINFO, r->ca_file) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_WRITEDATA, q) != CURLE_OK;
	return bad ? CF_EINTERNAL : 0;
}

static int
setup_method(struct http_req *q)
{
	CURL *h = q->h;
	int bad = 0;

	if (strcmp(q->method, "HEAD") == 0) {
		bad |= curl_easy_setopt(h, CURLOPT_NOBODY, 1L) != CURLE_OK;
	} else if (strcmp(q->method, "PUT") == 0) {
		bad |= curl_easy_setopt(h, CURLOPT_UPLOAD, 1L) != CURLE_OK;
		bad |= curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read) != CURLE_OK;
		bad |= curl_easy_setopt(h, CURLOPT_READDATA, q) != CURLE_OK;
		bad |= curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek) != CURLE_OK;
		bad |= curl_easy_setopt(h, CURLOPT_SEEKDATA, q) != CURLE_OK;
		bad |= curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_len) !=
		       CURLE_OK;
	} else if (strcmp(q->method, "POST") == 0) {
		bad |= curl_easy_setopt(h, CURLOPT_POST, 1L) != CURLE_OK;
		/* Never NULL: libcurl would then read the body from its default, stdin. */
		bad |= curl_easy_setopt(h, CURLOPT_POSTFIELDS,
		                        q->body != NULL ? (const void *)q->body : "") != CURLE_OK;
		bad |= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len) !=
		       CURLE_OK;
	} else if (strcmp(q->method, "GET") != 0) {
		bad |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method) != CURLE_OK;
	}
	if (q->range[0] != '\0')
		bad |= curl_easy_setopt(h, CURLOPT_RANGE, q->range) != CURLE_OK;
	return bad ? CF_EINTERNAL : 0;
}

/* The headers of one attempt, signed afresh: each attempt has its own time and nonce. */
static int
make_headers(const struct remote *r, const struct http_req *q, const char *sha,
             struct curl_slist **out)
{
	struct cf_remote_sig_in in;
	uint8_t nonce[CF_REMOTE_NONCE_BYTES];
	char line[HEADER_MAX];
	char authz[CF_REMOTE_AUTHZ_MAX];
	int rc;

	(void)snprintf(line, sizeof(line), "X-Coffer-Content-SHA256: %s", sha);
	if ((rc = cf_curlx_add_header(out, line)) != 0)
		return rc;
	if ((q->body != NULL || q->body_file != NULL) &&
	    (rc = cf_curlx_add_header(out, "Content-Type: application/octet-stream")) != 0)
		return rc;
	if (q->token != NULL) {
		(void)snprintf(line, sizeof(line), "X-Coffer-Token: %s", q->token);
		if ((rc = cf_curlx_add_header(out, line)) != 0)
			return rc;
	}
	if (!r->has_auth)
		return 0;
	memset(&in, 0, sizeof(in));
	in.method = q->method;
	in.path = q->path;
	in.query = q->query;
	memcpy(in.content_sha256, sha, sizeof(in.content_sha256));
	in.time = (int64_t)time(NULL);
	cf_random(nonce, sizeof(nonce));
	cf_hex(in.nonce, nonce, sizeof(nonce));
	if ((rc = cf_remote_authorization(&r->auth, &in, authz, sizeof(authz))) != 0)
		return rc;
	(void)snprintf(line, sizeof(line), "Authorization: %s", authz);
	return cf_curlx_add_header(out, line);
}

/* Transport failures worth another attempt: the server may well answer the next one. */
static bool
curl_transient(CURLcode c)
{
	return c == CURLE_COULDNT_CONNECT || c == CURLE_OPERATION_TIMEDOUT ||
	       c == CURLE_SEND_ERROR || c == CURLE_RECV_ERROR || c == CURLE_GOT_NOTHING ||
	       c == CURLE_PARTIAL_FILE || c == CURLE_SSL_CONNECT_ERROR || c == CURLE_HTTP2 ||
	       c == CURLE_HTTP2_STREAM;
}

/* What the attempts of one request work with. */
struct call {
	struct remote *r;
	struct http_req *q;
	const char *sha; /* of the body */
};

/* The outcome of curl_easy_perform() as a cf code; *@transient says whether to retry. */
static int
classify(void *arg, CURLcode c, const char *errbuf, bool *transient)
{
	const struct call *k = arg;
	const struct remote *r = k->r;
	struct http_req *q = k->q;

	*transient = false;
	if (c == CURLE_OK) {
		if (!q->head_done)
			q->cb_rc = check_head(q);
		if (q->cb_rc == 0) {
			*transient = cf_remote_status_transient(q->status);
			/* A gateway's 502/504 does not say whether the server acted. */
			q->in_doubt |= q->status == 502 || q->status == 504;
			return 0;
		}
	}
	if (q->cb_rc == CF_ETOOBIG && q->toobig_exact)
		return cf_err_set(CF_ETOOBIG, "'%s' on '%s' is %llu bytes, over the limit %llu",
		                  q->what, r->location, (unsigned long long)q->toobig,
		                  (unsigned long long)q->limit);
	if (q->cb_rc == CF_ETOOBIG)
		return cf_err_set(CF_ETOOBIG, "'%s' on '%s' is over the limit of %zu bytes",
		                  q->what, r->location, q->resp.max);
	if (q->cb_rc != 0)
		return q->cb_rc;
	if (c == CURLE_OUT_OF_MEMORY)
		return CF_ENOMEM;
	*transient = curl_transient(c);
	/* Unless no connection was made, the request may have been received and carried out. */
	q->in_doubt |= c != CURLE_COULDNT_CONNECT;
	errno = 0;
	return cf_err_set(CF_ESYS, "cannot %s '%s' on '%s': %s", q->method, q->what, r->location,
	                  errbuf[0] != '\0' ? errbuf : curl_easy_strerror(c));
}

/* The options and signed headers of one attempt, on the handle in q->h. */
static int
setup(void *arg, char *errbuf, struct curl_slist **hdrs)
{
	const struct call *k = arg;
	int rc;

	attempt_reset(k->q);
	if ((rc = setup_common(k->r, k->q, errbuf)) != 0 || (rc = setup_method(k->q)) != 0 ||
	    (rc = make_headers(k->r, k->q, k->sha, hdrs)) != 0)
		goto out;
	if (curl_easy_setopt(k->q->h, CURLOPT_HTTPHEADER, *hdrs) != CURLE_OK)
		rc = CF_EINTERNAL;
out:
	if (rc == CF_EINTERNAL)
		return cf_err_set(rc, "cannot set up a request to '%s'", k->r->location);
	return rc;
}

int
cf_remote_perform(struct remote *r, struct http_req *q)
{
	uint8_t hash[CF_HASH_BYTES];
	char sha[CF_REMOTE_SHA_HEX + 1];
	struct call k = {.r = r, .q = q, .sha = sha};
	const struct cf_curlx_req req = {
	        .setup = setup,
	        .finish = classify,
	        .arg = &k,
	        .h = &q->h,
	        .attempts = &q->attempts,
	        .tries = (unsigned)r->tries,
	        .backoff_ms = r->backoff_ms,
	};
	bool transient = false;
	int rc;

	/* Of the empty string when there is no body (format.md 15.1). */
	if (q->body_sha != NULL)
		memcpy(hash, q->body_sha, sizeof(hash));
	else
		cf_hash(hash, q->body != NULL ? q->body : (const uint8_t *)"", q->body_len);
	cf_hex(sha, hash, sizeof(hash));
	rc = cf_curlx_perform(&r->pool, &req, &transient);
	if (rc != 0 && transient && q->attempts > 1) {
		char msg[512];

		cf_err_copy(msg, sizeof(msg));
		errno = 0;
		return cf_err_set(rc, "%s (%u attempts)", msg, q->attempts);
	}
	return rc;
}
