/*
 * http.h - cofferd's HTTP side (libmicrohttpd): the server, one request's state, and the
 * handlers of docs/format.md 15 split over http*.c.
 *
 * A request goes through three calls of the access handler: headers (route, limits,
 * authentication, authorisation, reservation), body pieces (streamed to a temporary file
 * and hashed), and the end of the body (checks, commit, reply). Everything a request owns
 * is released in the completion callback, which also logs it and counts it, whether it
 * finished or was cut off.
 */
#ifndef CFD_HTTP_H
#define CFD_HTTP_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "auth.h"
#include "blobs.h"
#include "meta.h"
#include "metrics.h"
#include "route.h"

struct cfd_server {
	struct cfd_meta *meta;
	struct cfd_blobs *blobs;
	struct MHD_Daemon *daemon;
	atomic_bool stopping;
	_Atomic uint64_t next_id;
	_Atomic int64_t in_flight; /* requests between the request line and completion */
	char *tls_cert;            /* PEM text kept for the daemon's life */
	char *tls_key;             /* wiped on stop */
	size_t tls_key_len;
};

struct cfd_serve_opts {
	const char *listen; /* "HOST:PORT", "[V6]:PORT" */
	const char *tls_cert;
	const char *tls_key;
	unsigned threads;
	unsigned timeout; /* idle seconds before a connection is closed */
};

enum cfd_put_mode {
	CFD_PUT_NONE,
	CFD_PUT_OBJECT,
	CFD_PUT_ENROLL,
	CFD_PUT_JOIN,
};

struct cfd_req {
	struct cfd_server *srv;
	uint64_t id;
	struct timespec start;
	char target[CFD_URI_MAX + 1]; /* the request target as sent, when not too long */
	size_t target_len;
	bool target_too_long;
	size_t path_len;   /* bytes of target before '?' */
	const char *query; /* into target, after '?'; "" without one */
	size_t query_len;
	char method[8];
	bool started;
	bool deferred; /* no body: handled in the second call, keeping the connection */
	bool receiving;
	struct cfd_route route;
	struct cfd_obj_key key; /* strings point into route */
	struct cfd_device dev;  /* the authenticated device */
	bool authed;
	unsigned status;
	uint64_t bytes_in;
	uint64_t bytes_out;
	/* uploads */
	enum cfd_put_mode put;
	uint64_t length; /* Content-Length */
	uint8_t want_sha[CF_HASH_BYTES];
	uint8_t token_hash[CF_HASH_BYTES];
	struct cfd_upload *up;
	bool reserved;        /* a PENDING row of key is ours */
	bool blob_placed;     /* the file is at key's path, the row not yet live */
	unsigned fail_status; /* the body is drained, then this is the reply */
	enum cfd_err_kind fail_kind;
};

/* cfd_http_start() - listen and serve with a thread pool. 0, CF_EINVAL or CF_ESYS. */
int cfd_http_start(struct cfd_server *srv, const struct cfd_serve_opts *o) CF_MUST_CHECK;
/* cfd_http_quiesce() - stop accepting connections; requests in flight go on. */
void cfd_http_quiesce(struct cfd_server *srv);
/* cfd_http_stop() - close every connection (uploads left are discarded whole) and free. */
void cfd_http_stop(struct cfd_server *srv);

/* ---- replies (http.c) ---- */

/* cfd_reply() - a short text body "<status> <reason>\n" (or @text when not NULL). */
enum MHD_Result cfd_reply(struct MHD_Connection *c, struct cfd_req *r, unsigned status,
                          const char *text);
/* cfd_reply_fail() - cfd_reply() of an error status, counted under @kind. */
enum MHD_Result cfd_reply_fail(struct MHD_Connection *c, struct cfd_req *r, unsigned status,
                               enum cfd_err_kind kind);
/* cfd_reply_rc() - the status for a library error code (CF_ENOENT 404, CF_EEXIST 409...). */
enum MHD_Result cfd_reply_rc(struct MHD_Connection *c, struct cfd_req *r, int rc);
/* cfd_reply_response() - queue @resp with @status and account its @body_len bytes. */
enum MHD_Result cfd_reply_response(struct MHD_Connection *c, struct cfd_req *r, unsigned status,
                                   struct MHD_Response *resp, uint64_t body_len);
/*
 * cfd_header() - the request header @name if present and at most @max bytes: 0 with
 * *@v and *@len, CF_ENOENT when absent, CF_ETOOBIG when longer.
 */
int cfd_header(struct MHD_Connection *c, const char *name, size_t max, const char **v, size_t *len);
/* cfd_body_length() - Content-Length (0 when absent); CF_EFORMAT for chunked or malformed. */
int cfd_body_length(struct MHD_Connection *c, uint64_t *out);

/* ---- authentication (http_auth.c) ---- */

/*
 * cfd_authenticate() - check the request signature and the device's membership of the
 * route's account; on success r->dev is set and 0 returned, else the reply was queued and
 * its MHD result is stored in *@res.
 */
int cfd_authenticate(struct MHD_Connection *c, struct cfd_req *r, enum MHD_Result *res);
/* cfd_role_full() - a full device or the recovery key. */
bool cfd_role_full(const struct cfd_req *r);

/* ---- objects (http_obj.c) ---- */

enum MHD_Result cfd_handle_get(struct MHD_Connection *c, struct cfd_req *r);
enum MHD_Result cfd_handle_list(struct MHD_Connection *c, struct cfd_req *r);
enum MHD_Result cfd_handle_delete(struct MHD_Connection *c, struct cfd_req *r);
enum MHD_Result cfd_handle_undelete(struct MHD_Connection *c, struct cfd_req *r);

/* ---- uploads (http_put.c) ---- */

enum MHD_Result cfd_put_begin(struct MHD_Connection *c, struct cfd_req *r);
enum MHD_Result cfd_enroll_begin(struct MHD_Connection *c, struct cfd_req *r);
enum MHD_Result cfd_join_begin(struct MHD_Connection *c, struct cfd_req *r);
/* cfd_put_data() - one piece of the body; errors are remembered and the rest drained. */
void cfd_put_data(struct cfd_req *r, const char *p, size_t len);
enum MHD_Result cfd_put_finish(struct MHD_Connection *c, struct cfd_req *r);
/* cfd_put_cleanup() - release what an unfinished upload holds (completion callback). */
void cfd_put_cleanup(struct cfd_req *r);

/* ---- chain (http_chain.c) ---- */

/* The device rows a verified chain gives, for struct cfd_commit. */
struct cfd_chain_devices {
	struct cfd_device *devices; /* heap */
	size_t ndevices;
	uint8_t recovery_id[CF_ID_BYTES];
};

/*
 * cfd_chain_check() - verify the account's stored chain with the entry @p (named seq
 * @name) appended, using cf_chain_verify() like every client. On success @out holds the
 * devices to record (cfd_chain_devices_release). Returns 0, CF_EINVAL (the entry is not the
 * next one), CF_EFORMAT, CF_EAUTH, CF_EINTEGRITY, CF_ETOOBIG, CF_ESYS or CF_ENOMEM.
 */
int cfd_chain_check(struct cfd_server *srv, const char *account, const char *name, const uint8_t *p,
                    size_t len, struct cfd_chain_devices *out) CF_MUST_CHECK;
void cfd_chain_devices_release(struct cfd_chain_devices *d);

/* ---- log (log.c) ---- */

/* cfd_log() - one line "cofferd: ..." on stderr, rate-limited. */
void cfd_log(const char *fmt, ...) CF_PRINTF(1, 2);
/* cfd_log_request() - the line of a finished request: id, device, method, path, status... */
void cfd_log_request(const struct cfd_req *r, uint64_t micros);

#endif
