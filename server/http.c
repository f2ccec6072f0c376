/*
 * http.c - the libmicrohttpd daemon, the request lifecycle and dispatch, replies and header
 * access for the handlers (http.h).
 *
 * Limits that hold before authentication (docs/format.md 15.1): the request target is
 * copied only when at most CFD_URI_MAX bytes and its path at most CFD_PATH_MAX; all header
 * lines together at most CFD_HEADERS_MAX (the connection memory pool bounds what
 * libmicrohttpd itself buffers); no body is read before a request is authenticated and
 * authorised, and Content-Length is checked against the object kind's limit and the quota
 * before the first byte is accepted.
 */
#include "http.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base.h"

#define CONN_MEMORY   ((size_t)64 * 1024)
#define CONN_LIMIT    1024u
#define CONN_PER_IP   64u
#define LISTEN_MAX    300
#define TLS_FILE_MAX  ((size_t)64 * 1024)
#define LENGTH_DIGITS 20

/* ---- replies ---- */

static void *
heap_text(const char *t, size_t n)
{
	return cf_memdup(t, n == 0 ? 1 : n);
}

enum MHD_Result
cfd_reply_response(struct MHD_Connection *c, struct cfd_req *r, unsigned status,
                   struct MHD_Response *resp, uint64_t body_len)
{
	enum MHD_Result res;

	r->status = status;
	r->bytes_out = strcmp(r->method, "HEAD") == 0 ? 0 : body_len;
	if (atomic_load(&r->srv->stopping))
		(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	res = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return res;
}

enum MHD_Result
cfd_reply(struct MHD_Connection *c, struct cfd_req *r, unsigned status, const char *text)
{
	struct MHD_Response *resp = NULL;
	char buf[96];
	void *p = NULL;
	size_t n = 0;

	if (text == NULL) {
		const char *reason = MHD_get_reason_phrase_for(status);

		(void)snprintf(buf, sizeof(buf), "%u %s\n", status, reason);
		text = buf;
	}
	n = strlen(text);
	p = heap_text(text, n);
	if (p != NULL)
		resp = MHD_create_response_from_buffer_with_free_callback(n, p, cf_free);
	if (resp == NULL) {
		cf_free(p);
		return MHD_NO;
	}
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                              "text/plain; charset=utf-8");
	return cfd_reply_response(c, r, status, resp, n);
}

enum MHD_Result
cfd_reply_fail(struct MHD_Connection *c, struct cfd_req *r, unsigned status, enum cfd_err_kind kind)
{
	cfd_metrics_error(kind);
	return cfd_reply(c, r, status, NULL);
}

enum MHD_Result
cfd_reply_rc(struct MHD_Connection *c, struct cfd_req *r, int rc)
{
	switch ((enum cf_err)rc) {
	case CF_ENOENT:
		return cfd_reply_fail(c, r, MHD_HTTP_NOT_FOUND, CFD_ERRK_NOTFOUND);
	case CF_EEXIST:
		return cfd_reply_fail(c, r, MHD_HTTP_CONFLICT, CFD_ERRK_CONFLICT);
	case CF_ETOOBIG:
		return cfd_reply_fail(c, r, MHD_HTTP_CONTENT_TOO_LARGE, CFD_ERRK_TOOLARGE);
	case CF_EAUTH:
		return cfd_reply_fail(c, r, MHD_HTTP_UNAUTHORIZED, CFD_ERRK_AUTH);
	case CF_EPERM:
		return cfd_reply_fail(c, r, MHD_HTTP_FORBIDDEN, CFD_ERRK_FORBIDDEN);
	case CF_EFORMAT:
	case CF_ETRUNC:
	case CF_EINVAL:
	case CF_EUSAGE:
	case CF_EVERSION:
	case CF_EINTEGRITY:
		return cfd_reply_fail(c, r, MHD_HTTP_BAD_REQUEST, CFD_ERRK_MALFORMED);
	case CF_ENOMEM:
		return cfd_reply_fail(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, CFD_ERRK_BUSY);
	case CF_ESYS:
		/* the database, the object store or the disk failed: worth a retry by the client */
		cfd_log("req=%" PRIu64 " error: %s", r->id, cf_err_last());
		return cfd_reply_fail(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, CFD_ERRK_BUSY);
	case CF_OK:
	case CF_EINTERNAL:
	case CF_ENOKEY:
	case CF_ENOREPO:
	case CF_EROLLBACK:
	case CF_EPARTIAL:
	case CF_ECANCELED:
	default:
		break;
	}
	cfd_log("req=%" PRIu64 " error: %s: %s", r->id, cf_strerror(rc), cf_err_last());
	return cfd_reply_fail(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, CFD_ERRK_IO);
}

/* ---- headers ---- */

int
cfd_header(struct MHD_Connection *c, const char *name, size_t max, const char **v, size_t *len)
{
	*v = NULL;
	*len = 0;
	if (MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, name, strlen(name), v, len) !=
	            MHD_YES ||
	    *v == NULL)
		return CF_ENOENT;
	if (*len > max)
		return CF_ETOOBIG;
	return 0;
}

int
cfd_body_length(struct MHD_Connection *c, uint64_t *out)
{
	const char *v = NULL;
	size_t n = 0;
	int rc;

	*out = 0;
	if (cfd_header(c, MHD_HTTP_HEADER_TRANSFER_ENCODING, 0, &v, &n) != CF_ENOENT)
		return CF_EFORMAT;
	rc = cfd_header(c, MHD_HTTP_HEADER_CONTENT_LENGTH, LENGTH_DIGITS, &v, &n);
	if (rc == CF_ENOENT)
		return CF_ENOENT;
	if (rc != 0 || cfd_parse_decimal(v, n, UINT64_MAX, out) != 0)
		return CF_EFORMAT;
	return 0;
}

static enum MHD_Result
add_header_size(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                const char *value, size_t value_size)
{
	size_t *total = cls;

	(void)kind;
	(void)key;
	(void)value;
	*total += key_size + value_size + 4; /* ": " and CRLF */
	return MHD_YES;
}

static size_t
headers_size(struct MHD_Connection *c)
{
	size_t total = 0;

	(void)MHD_get_connection_values_n(c, MHD_HEADER_KIND, add_header_size, &total);
	return total;
}

/* ---- dispatch ---- */

static enum MHD_Result
handle_healthz(struct MHD_Connection *c, struct cfd_req *r)
{
	if (atomic_load(&r->srv->stopping))
		return cfd_reply_fail(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, CFD_ERRK_BUSY);
	return cfd_reply(c, r, MHD_HTTP_OK, "ok\n");
}

static enum MHD_Result
handle_metrics(struct MHD_Connection *c, struct cfd_req *r)
{
	struct MHD_Response *resp = NULL;
	struct cf_buf b;
	uint8_t *p = NULL;
	size_t n = 0;

	if (cfd_metrics_render(&b) != 0)
		return cfd_reply_fail(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, CFD_ERRK_IO);
	cf_buf_detach(&b, &p, &n);
	resp = MHD_create_response_from_buffer_with_free_callback(n, p, cf_free);
	if (resp == NULL) {
		cf_free(p);
		return MHD_NO;
	}
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                              "text/plain; version=0.0.4; charset=utf-8");
	return cfd_reply_response(c, r, MHD_HTTP_OK, resp, n);
}

static bool
method_is(const struct cfd_req *r, const char *m)
{
	return strcmp(r->method, m) == 0;
}

static enum MHD_Result
not_allowed(struct MHD_Connection *c, struct cfd_req *r)
{
	return cfd_reply_fail(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, CFD_ERRK_MALFORMED);
}

/* Requests other than uploads carry no body. */
static bool
bodyless(struct MHD_Connection *c)
{
	uint64_t n = 0;
	int rc = cfd_body_length(c, &n);

	return rc == CF_ENOENT || (rc == 0 && n == 0);
}

static enum MHD_Result
dispatch_object(struct MHD_Connection *c, struct cfd_req *r)
{
	if (r->route.type == CFD_ROUTE_LIST && !method_is(r, "GET") && !method_is(r, "HEAD"))
		return not_allowed(c, r);
	if (r->route.undelete && !method_is(r, "POST"))
		return not_allowed(c, r);
	if (method_is(r, "PUT"))
		return cfd_put_begin(c, r);
	if (!bodyless(c))
		return cfd_reply_fail(c, r, MHD_HTTP_BAD_REQUEST, CFD_ERRK_MALFORMED);
	if (r->route.type == CFD_ROUTE_LIST)
		return cfd_handle_list(c, r);
	if (r->route.undelete)
		return cfd_handle_undelete(c, r);
	if (method_is(r, "GET") || method_is(r, "HEAD"))
		return cfd_handle_get(c, r);
	if (method_is(r, "DELETE"))
		return cfd_handle_delete(c, r);
	if (method_is(r, "POST"))
		return cfd_reply_fail(c, r, MHD_HTTP_BAD_REQUEST, CFD_ERRK_MALFORMED);
	return not_allowed(c, r);
}

static enum MHD_Result
dispatch(struct MHD_Connection *c, struct cfd_req *r)
{
	enum MHD_Result res = MHD_NO;

	switch (r->route.type) {
	case CFD_ROUTE_HEALTHZ:
	case CFD_ROUTE_METRICS:
		if (!method_is(r, "GET") && !method_is(r, "HEAD"))
			return not_allowed(c, r);
		return r->route.type == CFD_ROUTE_HEALTHZ ? handle_healthz(c, r)
		                                          : handle_metrics(c, r);
	case CFD_ROUTE_ENROLL:
		return method_is(r, "POST") ? cfd_enroll_begin(c, r) : not_allowed(c, r);
	case CFD_ROUTE_LIST:
	case CFD_ROUTE_OBJECT:
		break;
	}
	r->key.account = r->route.account;
	r->key.kind = r->route.kind;
	r->key.name = r->route.name;
	/* join requests are the one upload without a signature (docs/format.md 15) */
	if (r->route.type == CFD_ROUTE_OBJECT && r->route.kind == CF_OBJ_REQUEST &&
	    method_is(r, "PUT") && !r->route.undelete)
		return cfd_join_begin(c, r);
	if (cfd_authenticate(c, r, &res) != 0)
		return res;
	return dispatch_object(c, r);
}

/* Copy the method, keeping only what can safely be logged. */
static void
set_method(struct cfd_req *r, const char *method)
{
	size_t n = strnlen(method, sizeof(r->method));

	if (n == 0 || n >= sizeof(r->method)) {
		memcpy(r->method, "?", 2);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		r->method[i] = '?';
		if (method[i] >= 'A' && method[i] <= 'Z')
			r->method[i] = method[i];
	}
	r->method[n] = '\0';
}

static enum MHD_Result
begin(struct MHD_Connection *c, struct cfd_req *r, const char *method)
{
	int rc;

	set_method(r, method);
	if (r->target_too_long || r->path_len > CFD_PATH_MAX || r->query_len > CFD_QUERY_MAX ||
	    headers_size(c) > CFD_HEADERS_MAX)
		return cfd_reply_fail(c, r, MHD_HTTP_CONTENT_TOO_LARGE, CFD_ERRK_TOOLARGE);
	rc = cfd_route_parse(r->target, r->path_len, r->query, r->query_len, &r->route);
	if (rc == CF_ENOENT)
		return cfd_reply_fail(c, r, MHD_HTTP_NOT_FOUND, CFD_ERRK_NOTFOUND);
	if (rc != 0)
		return cfd_reply_fail(c, r, MHD_HTTP_BAD_REQUEST, CFD_ERRK_MALFORMED);
	if (atomic_load(&r->srv->stopping) && r->route.type != CFD_ROUTE_HEALTHZ)
		return cfd_reply_fail(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, CFD_ERRK_BUSY);
	return dispatch(c, r);
}

/* ---- libmicrohttpd callbacks ---- */

/* the parameters are libmicrohttpd's: NOLINTBEGIN(readability-function-size) */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_size, void **req_cls)
{
	struct cfd_req *r = *req_cls;

	(void)cls;
	(void)url; /* the raw target copied in on_uri() is what was signed */
	(void)version;
	if (r == NULL)
		return MHD_NO; /* no memory for the request: drop the connection */
	if (!r->started) {
		r->started = true;
		/*
		 * libmicrohttpd closes the connection after a reply queued in this first call
		 * (it cannot know whether a body follows), which is right for a refused upload
		 * and wasteful otherwise: a request without a body is answered in the next call.
		 */
		r->deferred = bodyless(c);
		if (!r->deferred)
			return begin(c, r, method);
		return MHD_YES;
	}
	if (r->deferred) {
		r->deferred = false;
		return begin(c, r, method);
	}
	if (*upload_size > 0) {
		r->bytes_in += *upload_size;
		if (r->receiving)
			cfd_put_data(r, upload_data, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (!r->receiving)
		return MHD_YES;
	r->receiving = false;
	return cfd_put_finish(c, r);
}
/* NOLINTEND(readability-function-size) */

/* Called with the request target before headers are read: the request's state starts here. */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct cfd_server *srv = cls;
	struct cfd_req *r = NULL;
	const char *q = NULL;
	size_t n = strnlen(uri, CFD_URI_MAX + 1);

	(void)c;
	r = cf_calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->srv = srv;
	r->id = atomic_fetch_add(&srv->next_id, 1) + 1;
	(void)clock_gettime(CLOCK_MONOTONIC, &r->start);
	atomic_fetch_add(&srv->in_flight, 1);
	r->query = r->target;
	if (n > CFD_URI_MAX) {
		r->target_too_long = true;
		return r;
	}
	memcpy(r->target, uri, n);
	r->target_len = n;
	q = memchr(r->target, '?', n);
	r->path_len = q == NULL ? n : (size_t)(q - r->target);
	r->query = q == NULL ? r->target + n : q + 1;
	r->query_len = q == NULL ? 0 : n - r->path_len - 1;
	return r;
}

static uint64_t
elapsed_us(const struct timespec *start)
{
	struct timespec now;
	int64_t us = 0;

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	us = (int64_t)(now.tv_sec - start->tv_sec) * 1000000 +
	     (now.tv_nsec - start->tv_nsec) / 1000;
	return us < 0 ? 0 : (uint64_t)us;
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
             enum MHD_RequestTerminationCode toe)
{
	struct cfd_server *srv = cls;
	struct cfd_req *r = *req_cls;
	uint64_t us = 0;

	(void)c;
	if (r == NULL)
		return;
	*req_cls = NULL;
	cfd_put_cleanup(r);
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->status == 0)
		cfd_metrics_error(CFD_ERRK_ABORTED);
	us = elapsed_us(&r->start);
	cfd_metrics_request(r->method, r->status, r->bytes_in, r->bytes_out, us);
	cfd_log_request(r, us);
	atomic_fetch_sub(&srv->in_flight, 1);
	cf_free(r);
}

static void CF_PRINTF(2, 0) on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n = 0;

	(void)cls;
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	cfd_log("libmicrohttpd: %s", msg);
}

/* ---- daemon ---- */

/* "HOST:PORT" or "[V6]:PORT" into a socket address (numeric host and port only). */
static int
parse_listen(const char *s, struct sockaddr_storage *ss, bool *v6)
{
	struct addrinfo hints;
	struct addrinfo *ai = NULL;
	char host[LISTEN_MAX];
	const char *colon = strrchr(s, ':');
	uint64_t port = 0;
	size_t hl = 0;

	if (colon == NULL || strlen(s) >= sizeof(host) ||
	    cf_parse_u64(colon + 1, 0, 65535, &port) != 0)
		return cf_err_set(CF_EINVAL, "--listen wants HOST:PORT, not '%s'", s);
	hl = (size_t)(colon - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		memcpy(host, s + 1, hl - 2);
		host[hl - 2] = '\0';
	} else {
		memcpy(host, s, hl);
		host[hl] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host[0] != '\0' ? host : NULL, colon + 1, &hints, &ai) != 0 ||
	    ai->ai_addrlen > sizeof(*ss)) {
		if (ai != NULL)
			freeaddrinfo(ai);
		return cf_err_set(CF_EINVAL, "cannot use --listen '%s'", s);
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*v6 = ai->ai_family == AF_INET6;
	freeaddrinfo(ai);
	return 0;
}

static int
read_pem(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	size_t n = 0;

	*out = NULL;
	if (f == NULL)
		return cf_err_set(CF_ESYS, "cannot open '%s'", path);
	p = cf_malloc(TLS_FILE_MAX + 1);
	if (p == NULL) {
		(void)fclose(f);
		return CF_ENOMEM;
	}
	n = fread(p, 1, TLS_FILE_MAX + 1, f);
	(void)fclose(f);
	if (n == 0 || n > TLS_FILE_MAX) {
		cf_free_wipe(p, TLS_FILE_MAX + 1);
		return cf_err_set(CF_EINVAL, "'%s' is empty or over %zu bytes", path, TLS_FILE_MAX);
	}
	p[n] = '\0';
	*out = p;
	*len = TLS_FILE_MAX + 1;
	return 0;
}

static int
load_tls(struct cfd_server *srv, const struct cfd_serve_opts *o)
{
	size_t n = 0;
	int rc;

	if (o->tls_cert == NULL && o->tls_key == NULL)
		return 0;
	if (o->tls_cert == NULL || o->tls_key == NULL)
		return cf_err_set(CF_EINVAL, "--tls-cert and --tls-key go together");
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return cf_err_set(CF_EINVAL, "this libmicrohttpd was built without TLS support");
	if ((rc = read_pem(o->tls_cert, &srv->tls_cert, &n)) != 0)
		return rc;
	return read_pem(o->tls_key, &srv->tls_key, &srv->tls_key_len);
}

int
cfd_http_start(struct cfd_server *srv, const struct cfd_serve_opts *o)
{
	struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}};
	struct sockaddr_storage ss;
	unsigned flags =
	        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	bool v6 = false;
	int rc;

	if ((rc = parse_listen(o->listen, &ss, &v6)) != 0 || (rc = load_tls(srv, o)) != 0)
		return rc;
	if (v6)
		flags |= MHD_USE_IPv6;
	if (srv->tls_key != NULL) {
		flags |= MHD_USE_TLS;
		tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key};
		tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert};
		tls[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	}
	/* the logger first, so libmicrohttpd never prints on its own */
	srv->daemon = MHD_start_daemon(
	        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
	        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
	        (unsigned)o->threads, MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY,
	        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout, MHD_OPTION_CONNECTION_LIMIT,
	        CONN_LIMIT, MHD_OPTION_PER_IP_CONNECTION_LIMIT, CONN_PER_IP,
	        MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
	        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_ARRAY, tls,
	        MHD_OPTION_END);
	if (srv->daemon == NULL)
		return cf_err_set(CF_ESYS, "cannot listen on '%s'", o->listen);
	return 0;
}

void
cfd_http_quiesce(struct cfd_server *srv)
{
	MHD_socket fd;

	if (srv->daemon == NULL)
		return;
	fd = MHD_quiesce_daemon(srv->daemon);
	if (fd != MHD_INVALID_SOCKET)
		(void)close(fd);
}

void
cfd_http_stop(struct cfd_server *srv)
{
	if (srv->daemon != NULL)
		MHD_stop_daemon(srv->daemon);
	srv->daemon = NULL;
	cf_free_wipe(srv->tls_key, srv->tls_key_len);
	srv->tls_key = NULL;
	cf_free(srv->tls_cert);
	srv->tls_cert = NULL;
}
