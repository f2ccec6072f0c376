/*
 * remote_impl.h - what remote.c (the store operations) and remote_http.c (requests over
 * libcurl) share. Internal to src/remote/: no other module includes it.
 */
#ifndef CF_REMOTE_IMPL_H
#define CF_REMOTE_IMPL_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../buf/buf.h"
#include "curlx.h"
#include "remote.h"

/* Idle easy handles kept for reuse; each keeps its live connection to the server. */
#define CF_REMOTE_POOL_MAX 8
/* "snapshots/" and a name: what messages call an object. */
#define CF_REMOTE_WHAT_MAX (sizeof("snapshots/") + CF_OBJ_NAME_MAX)
/* The most of an error answer's body kept for the message. */
#define CF_REMOTE_TEXT_MAX 256

struct remote {
	struct cf_remote_url url;
	char *location;                     /* the URL as given, for messages */
	char base[CF_REMOTE_HOST_MAX + 24]; /* "https://HOST:PORT" */
	struct cf_remote_auth auth;         /* valid when has_auth */
	bool has_auth;
	char *ca_file;       /* COFFER_CA_FILE, or NULL */
	char *proxy;         /* COFFER_PROXY, or NULL: no proxy */
	int tries;           /* attempts per request */
	unsigned backoff_ms; /* first retry delay; doubles */
	CURLSH *share;       /* DNS and TLS session caches */
	pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
	int nlocks; /* share_lock entries initialised */
	struct cf_curlx_pool pool;
	struct cf_store *owner; /* the store wrapping this, for lookups */
	struct remote *next;    /* the registry of open remote stores */
};

/* One request and, after cf_remote_perform(), its answer. */
struct http_req {
	/* Set by the caller (cf_remote_req_init() clears everything first). */
	const char *method;            /* GET HEAD PUT POST DELETE */
	char what[CF_REMOTE_WHAT_MAX]; /* "packs/<name>", for messages */
	char path[CF_REMOTE_PATH_MAX + 1];
	char query[CF_REMOTE_QUERY_MAX + 1];
	const uint8_t *body; /* PUT, POST; borrowed */
	size_t body_len;
	/* A PUT body read from a file instead (borrowed; body NULL), and its SHA-256. */
	const struct cf_store_tmp *body_file;
	const uint8_t *body_sha;
	const char *token;  /* X-Coffer-Token, or NULL */
	char range[48];     /* "A-B", "A-" or "" */
	bool keep_body;     /* a 2xx body is wanted (else it is read and dropped) */
	size_t cap_full;    /* most body bytes of a 2xx but 206 */
	size_t cap_partial; /* most body bytes of a 206 */
	uint64_t max_total; /* most Content-Range total of a 206 */
	/* The answer. */
	long status;
	unsigned attempts;
	bool in_doubt;      /* an earlier attempt may have reached the server and acted */
	struct cf_buf resp; /* body of a 2xx */
	char text[CF_REMOTE_TEXT_MAX]; /* start of a non-2xx body, NUL-terminated */
	int64_t content_length;        /* -1 when not sent */
	bool has_range;                /* a well-formed Content-Range came */
	bool bad_range;                /* a malformed one came */
	struct cf_remote_range cr;
	bool more; /* X-Coffer-More: 1 */
	/* Per attempt, for the callbacks. */
	CURL *h;
	size_t sent;
	size_t textlen;
	size_t dropped;
	bool head_done;
	int cb_rc;
	uint64_t toobig;
	bool toobig_exact; /* toobig is the size announced, not a count so far */
	uint64_t limit;    /* the limit toobig passed */
};

/* cf_remote_req_init() - a blank request of @method for @what (copied). */
void cf_remote_req_init(struct http_req *q, const char *method, const char *what);
/* cf_remote_req_release() - free the answer buffer. */
void cf_remote_req_release(struct http_req *q);

/*
 * cf_remote_perform() - send @q (signed when @r has an identity), retrying transient
 * failures. Returns 0 when an answer came (any status: q->status; a 2xx body in q->resp, a
 * non-2xx one's start in q->text), or CF_ETOOBIG (answer over the caps), CF_ENOMEM or
 * CF_ESYS (no answer after the retries), each with a message.
 */
int cf_remote_perform(struct remote *r, struct http_req *q) CF_MUST_CHECK;

/* cf_remote_http_init() - libcurl's global state, the share and the locks of @r. */
int cf_remote_http_init(struct remote *r) CF_MUST_CHECK;
/* cf_remote_http_release() - free the pooled handles, the share and the locks. */
void cf_remote_http_release(struct remote *r);

#endif
