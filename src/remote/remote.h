/*
 * remote.h - the cofferd store: struct cf_store over HTTP(S) with libcurl, the client side of
 * docs/format.md section 15.
 *
 * Every request is signed by the device (15.1) with a fresh nonce, retried with jittered
 * exponential backoff on transient failures (no connection, reset, timeout, 408, 429, 502,
 * 503, 504), and its answer is bounded by the caller's limit before it is read. Connections
 * are reused: the store keeps a small pool of libcurl easy handles (each keeps its live
 * connection) and shares the DNS and TLS session caches between them. The store is
 * thread-safe like every store: several threads may put and get at once.
 *
 * Environment, read once at open: COFFER_CA_FILE (a CA bundle for a server with a private or
 * self-signed certificate; peers are always verified), COFFER_PROXY (a proxy URL; the
 * http_proxy family of variables is ignored so traffic goes to the given host only).
 */
#ifndef CF_REMOTE_H
#define CF_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/compat.h"
#include "../crypto/crypto.h"
#include "../store/store.h"

/*
 * What a request is signed with: this device's signing key and its id (docs/format.md 1.2).
 * Borrowed for the store's lifetime.
 */
struct cf_remote_auth {
	const struct cf_signkey *sign;
	uint8_t device[CF_ID_BYTES];
};

/*
 * cf_remote_url_is() - whether @location names a cofferd repository (starts with "http://"
 * or "https://", any case) rather than a directory. Does not validate the rest.
 */
bool cf_remote_url_is(const char *location);

/*
 * cf_store_open_remote() - a store on the cofferd account named by @url,
 * "http(s)://HOST[:PORT]/ACCOUNT" (PORT defaults to 80 / 443; one trailing '/' is allowed;
 * HOST is a DNS name, an IPv4 address or a bracketed IPv6 address; ACCOUNT is 1..64 of
 * [a-z0-9_-]). Nothing is sent at open: the server is first contacted by the first operation.
 * @auth: the signing identity (copied; @auth->sign is borrowed for the store's lifetime), or
 * NULL for a store that sends unsigned requests (enrollment, a join request before the
 * device is known).
 *
 * Operations return, beyond store.h: CF_ENOKEY (401: the server does not accept this device),
 * CF_EPERM (403: not allowed for this device's role), CF_ETOOBIG (413: quota exceeded or
 * object too large; or an answer over the caller's max), CF_EFORMAT (400, or a malformed
 * answer), CF_ENOREPO (a listing or put answered 404: the account does not exist or has no
 * repository). A get or size of chain/0000000000000000 answered 404 is CF_ENOENT, which the
 * repository layer reads as "no repository". Transport failures after the retries and
 * unexpected statuses are CF_ESYS with a message naming the server, the object and the cause.
 *
 * A put retried after a failure that leaves in doubt whether the server stored it (the
 * connection was lost after sending, a gateway's 502/504) and then answered 409 counts as
 * done when the stored object is ours: always for content-addressed kinds (the name fixes the
 * bytes), after reading it back and comparing for the others.
 *
 * Returns 0, CF_EINVAL (malformed URL, with a message saying what is wrong), CF_ENOMEM or
 * CF_ESYS (libcurl could not be initialised).
 */
int cf_store_open_remote(const char *url, const struct cf_remote_auth *auth,
                         struct cf_store **out) CF_MUST_CHECK;

/*
 * cf_remote_enroll() - the first request of an account: POST /v1/ACCOUNT/enroll with the
 * single-use enrollment @token (1..256 printable ASCII characters) and the genesis entry
 * @genesis, @len as body. Signed when the store has an identity (cofferd ignores it: the
 * token authenticates). @s must come from cf_store_open_remote(). When an attempt failed in
 * doubt (see cf_store_open_remote) and the retry is refused because the token is now used,
 * a store with an identity reads chain/0000000000000000 back: our genesis there is success.
 * Returns 0,
 * CF_EINVAL (bad token, or @s is not a remote store), CF_EPERM (401/403: a wrong or used
 * token; cofferd also answers so for an account that does not exist), CF_EEXIST (409),
 * CF_ENOREPO (404), CF_EFORMAT (400: genesis refused), CF_ETOOBIG, CF_ESYS or CF_ENOMEM.
 */
int cf_remote_enroll(struct cf_store *s, const char *token, const uint8_t *genesis,
                     size_t len) CF_MUST_CHECK;

/*
 * cf_remote_undelete() - POST /v1/ACCOUNT/KIND/NAME?undelete: bring back a soft-deleted
 * object (docs/format.md 15.2; full devices only). Returns 0, CF_EINVAL, CF_ENOENT (nothing
 * to undelete), CF_EPERM, CF_ENOKEY, CF_ESYS or CF_ENOMEM.
 */
int cf_remote_undelete(struct cf_store *s, enum cf_obj_kind kind, const char *name) CF_MUST_CHECK;
/*
 * cf_remote_list_deleted() - the soft-deleted objects of @kind (GET ...?deleted=1; full
 * devices only), as cf_store_list() lists live ones. Returns 0, CF_EINVAL (not a remote
 * store), CF_EPERM, CF_ENOKEY, CF_ESYS or what @fn returned.
 */
int cf_remote_list_deleted(struct cf_store *s, enum cf_obj_kind kind, cf_store_list_fn *fn,
                           void *arg) CF_MUST_CHECK;

/* ---- internal: the pure parts, exported for unit tests and fuzzing ---- */

/*
 * cf_remote_set_retries() - attempts per request (at least 1; default 5) and the first
 * retry delay in ms (default 200; doubles each retry, jittered by +-50%). For tests and
 * programs that want to fail fast. @s must come from cf_store_open_remote() (else misuse).
 * Not thread-safe against requests running on @s.
 */
void cf_remote_set_retries(struct cf_store *s, int tries, unsigned backoff_ms);

#define CF_REMOTE_ACCOUNT_MAX 64
#define CF_REMOTE_HOST_MAX    253
#define CF_REMOTE_TOKEN_MAX   256
#define CF_REMOTE_LIST_LIMIT  10000 /* names per listing page (format.md 15) */
#define CF_REMOTE_PATH_MAX    512   /* the server's limit on a request path (15.1) */
#define CF_REMOTE_QUERY_MAX   256
#define CF_REMOTE_METHOD_MAX  8
#define CF_REMOTE_SHA_HEX     ((size_t)2 * CF_HASH_BYTES)
#define CF_REMOTE_NONCE_BYTES 16
#define CF_REMOTE_NONCE_HEX   ((size_t)2 * CF_REMOTE_NONCE_BYTES)
/* The signed string: label, method, path, query, hash, time, nonce and six newlines. */
#define CF_REMOTE_CANON_MAX                                                                        \
	(15 + CF_REMOTE_METHOD_MAX + CF_REMOTE_PATH_MAX + CF_REMOTE_QUERY_MAX +                    \
	 CF_REMOTE_SHA_HEX + 20 + CF_REMOTE_NONCE_HEX + 6 + 1)
/* "Coffer-Ed25519 device=<64>,time=<20>,nonce=<32>,sig=<128>" */
#define CF_REMOTE_AUTHZ_MAX (15 + 7 + 64 + 6 + 20 + 7 + 32 + 5 + 128 + 1)

/* A parsed repository URL. @host keeps the brackets of an IPv6 address. */
struct cf_remote_url {
	bool tls;
	uint16_t port;
	char host[CF_REMOTE_HOST_MAX + 1];
	char account[CF_REMOTE_ACCOUNT_MAX + 1];
};

/* cf_remote_url_parse() - parse @url as cf_store_open_remote() describes. 0 or CF_EINVAL. */
int cf_remote_url_parse(const char *url, struct cf_remote_url *out) CF_MUST_CHECK;

/* The inputs of one request signature (docs/format.md 15.1). */
struct cf_remote_sig_in {
	const char *method;                         /* "GET", "PUT", ... */
	const char *path;                           /* "/v1/ACCOUNT/KIND/NAME" */
	const char *query;                          /* without '?'; "" when none */
	char content_sha256[CF_REMOTE_SHA_HEX + 1]; /* hex SHA-256 of the body */
	int64_t time;                               /* unix seconds */
	char nonce[CF_REMOTE_NONCE_HEX + 1];        /* 32 hex digits */
};

/*
 * cf_remote_canonical() - the signed string
 * "coffer.v1.http\n" METHOD "\n" PATH "\n" QUERY "\n" CONTENT_SHA256 "\n" TIME "\n" NONCE
 * into @out (@cap bytes, NUL-terminated, no trailing newline); *@len gets its length.
 * Returns 0, CF_EINVAL (a field too long, empty, or holding a newline) or CF_ETOOBIG (@cap).
 */
int cf_remote_canonical(const struct cf_remote_sig_in *in, char *out, size_t cap,
                        size_t *len) CF_MUST_CHECK;

/*
 * cf_remote_authorization() - sign @in with @auth and write the Authorization header value
 * "Coffer-Ed25519 device=<hex>,time=<t>,nonce=<hex>,sig=<hex>" into @out (@cap bytes, at
 * least CF_REMOTE_AUTHZ_MAX). Returns 0, CF_EINVAL, CF_ETOOBIG or CF_ENOMEM.
 */
int cf_remote_authorization(const struct cf_remote_auth *auth, const struct cf_remote_sig_in *in,
                            char *out, size_t cap) CF_MUST_CHECK;

/*
 * One page of a listing being parsed: lines "NAME SIZE\n", NAME a valid object name
 * (cf_obj_name_valid), SIZE a decimal u64 without sign or leading zeros, single space,
 * every line ending in '\n', names strictly increasing in byte order and after @after.
 */
struct cf_remote_page {
	const char *after;              /* "" for the first page */
	size_t limit;                   /* at most this many lines */
	cf_store_list_fn *fn;           /* called per line; non-zero stops and is returned */
	void *arg;                      /* for @fn */
	char last[CF_OBJ_NAME_MAX + 1]; /* out: the last name ("" when none) */
	size_t count;                   /* out: lines given to @fn */
};

/*
 * cf_remote_list_parse() - parse @p, @len (a listing answer; untrusted) into calls of
 * @pg->fn. Returns 0, CF_EFORMAT (any malformed line, bad order, more than @pg->limit
 * lines) or what @pg->fn returned. @pg->fn may have been called for earlier lines when a
 * later one fails.
 */
int cf_remote_list_parse(struct cf_remote_page *pg, const uint8_t *p, size_t len) CF_MUST_CHECK;

/* A Content-Range value: "bytes FIRST-LAST/TOTAL", or "bytes * /TOTAL" (@unsatisfied). */
struct cf_remote_range {
	bool unsatisfied;
	uint64_t first;
	uint64_t last;
	uint64_t total;
};

/*
 * cf_remote_content_range() - parse @v (a header value; untrusted). Requires
 * first <= last < total in the satisfied form. Returns 0 or CF_EFORMAT.
 */
int cf_remote_content_range(const char *v, struct cf_remote_range *out) CF_MUST_CHECK;

/*
 * cf_remote_status_rc() - the cf code of an HTTP status: 2xx 0, 400 CF_EFORMAT, 401
 * CF_ENOKEY, 403 CF_EPERM, 404 CF_ENOENT, 409 CF_EEXIST, 413 CF_ETOOBIG, 416 CF_ETRUNC,
 * anything else CF_ESYS.
 */
int cf_remote_status_rc(long status);
/* cf_remote_status_transient() - whether a request answered @status is worth retrying. */
bool cf_remote_status_transient(long status);

/*
 * cf_remote_status_err() - record the one-line message for a request @method on @what
 * ("packs/<name>", "packs/", "enroll") of the repository @location answered @status, with
 * the server's own text @text (may be NULL or ""), and return cf_remote_status_rc(@status).
 */
int cf_remote_status_err(long status, const char *method, const char *what, const char *location,
                         const char *text);

#endif
