/*
 * http_auth.c - authenticating a request (docs/format.md 15.1) and telling who may do what.
 *
 * Order: headers are parsed first (400 when malformed, 401 when the signature header is
 * missing), then the time window, the device's key, the signature and the nonce (401 for
 * each, with no detail in the reply). Only then is the route's account looked at: a device
 * that is not a member of it gets 404 whether the account exists or not, so an account
 * cannot learn of another. Signing keys are looked up by device id across accounts: a
 * device may belong to several accounts, and its key is the same in each.
 */
#include <string.h>

#include "auth.h"
#include "base/base.h"
#include "http.h"

static enum MHD_Result
fail(struct MHD_Connection *c, struct cfd_req *r, unsigned status, enum cfd_err_kind kind)
{
	return cfd_reply_fail(c, r, status, kind);
}

/* The content hash header: its text for the signature, and for uploads the bytes. */
static int
content_hash(struct MHD_Connection *c, struct cfd_req *r, const char **text)
{
	size_t n = 0;

	if (cfd_header(c, "X-Coffer-Content-SHA256", CFD_SHA256_HEX, text, &n) != 0 ||
	    n != CFD_SHA256_HEX || !cfd_lower_hex(*text, n))
		return CF_EFORMAT;
	if (strcmp(r->method, "PUT") != 0)
		return cf_ct_eq(*text, CFD_EMPTY_SHA256, CFD_SHA256_HEX) ? 0 : CF_EFORMAT;
	return cf_unhex(r->want_sha, sizeof(r->want_sha), *text, n);
}

/* Time, key, signature, nonce: every failure is a plain 401. */
static int
check_signature(struct cfd_req *r, const struct cfd_auth *a, const char *sha,
                enum cfd_err_kind *kind)
{
	struct cfd_meta *m = r->srv->meta;
	struct cfd_auth_msg msg = {
	        .method = r->method,
	        .path = r->target,
	        .path_len = r->path_len,
	        .query = r->query,
	        .query_len = r->query_len,
	        .content_sha256 = sha,
	};
	uint8_t pk[CF_SIGN_PK_BYTES];
	int64_t now = cfd_now();
	int rc;

	*kind = CFD_ERRK_SKEW;
	if (!cfd_auth_time_ok(a->time, now))
		return CF_EAUTH;
	*kind = CFD_ERRK_AUTH;
	if ((rc = m->ops->device_key(m, a->device, pk)) != 0)
		return rc == CF_ENOENT ? CF_EAUTH : rc;
	if ((rc = cfd_auth_verify(a, pk, &msg)) != 0)
		return rc;
	*kind = CFD_ERRK_REPLAY;
	rc = m->ops->nonce_use(m, a->device, a->nonce, now, now + CFD_NONCE_SECONDS);
	return rc == CF_EEXIST ? CF_EAUTH : rc;
}

int
cfd_authenticate(struct MHD_Connection *c, struct cfd_req *r, enum MHD_Result *res)
{
	struct cfd_meta *m = r->srv->meta;
	enum cfd_err_kind kind = CFD_ERRK_AUTH;
	struct cfd_auth a;
	const char *v = NULL;
	const char *sha = NULL;
	size_t n = 0;
	int rc;

	rc = cfd_header(c, MHD_HTTP_HEADER_AUTHORIZATION, CFD_AUTH_HEADER_MAX, &v, &n);
	if (rc == CF_ENOENT) {
		*res = fail(c, r, MHD_HTTP_UNAUTHORIZED, CFD_ERRK_AUTH);
		return -1;
	}
	if (rc != 0 || cfd_auth_parse(v, n, &a) != 0 || content_hash(c, r, &sha) != 0) {
		*res = fail(c, r, MHD_HTTP_BAD_REQUEST, CFD_ERRK_MALFORMED);
		return -1;
	}
	if ((rc = check_signature(r, &a, sha, &kind)) != 0) {
		*res = rc == CF_EAUTH ? fail(c, r, MHD_HTTP_UNAUTHORIZED, kind)
		                      : cfd_reply_rc(c, r, rc);
		return -1;
	}
	rc = m->ops->device_get(m, r->route.account, a.device, &r->dev);
	if (rc != 0 || r->dev.removed) {
		*res = rc == 0 ? fail(c, r, MHD_HTTP_UNAUTHORIZED, CFD_ERRK_AUTH)
		               : cfd_reply_rc(c, r, rc);
		return -1;
	}
	r->authed = true;
	return 0;
}

bool
cfd_role_full(const struct cfd_req *r)
{
	return r->authed && (r->dev.role == CFD_ROLE_FULL || r->dev.role == CFD_ROLE_RECOVERY);
}
