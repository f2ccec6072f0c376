/*
 * http_put.c - uploads: objects, enrollment and join requests (docs/format.md 15).
 *
 * An upload is accepted only after its headers passed every check that does not need the
 * body: authentication (or the enrollment token), role, Content-Length against the kind's
 * limit, and a reservation in the metadata that takes the name (write-once: 409) and the
 * quota (413), so concurrent uploads can neither overwrite each other nor pass the quota
 * together. The body then streams to a temporary file while it is hashed; at its end the
 * content hash, the object prefix, the content address and, for chain entries and join
 * requests, the signatures are checked; only then is the file renamed into place and the
 * row made live, in that order. Whatever fails or is cut off is undone whole by
 * cfd_put_cleanup(), called from the completion callback.
 */
#include <inttypes.h>
#include <string.h>

#include "base/base.h"
#include "chain/chain.h"
#include "device/device.h"
#include "http.h"

static const char genesis_name[] = "0000000000000000";
static const uint8_t obj_magic[4] = {'C', 'O', 'F', 'R'};

static enum MHD_Result
fail(struct MHD_Connection *c, struct cfd_req *r, unsigned status, enum cfd_err_kind kind)
{
	return cfd_reply_fail(c, r, status, kind);
}

/* Content-Length is required (no chunked uploads: the quota is checked before the body). */
static int
body_length(struct MHD_Connection *c, struct cfd_req *r, uint64_t max, unsigned *status)
{
	int rc = cfd_body_length(c, &r->length);

	*status = MHD_HTTP_LENGTH_REQUIRED;
	if (rc != 0)
		return rc;
	*status = MHD_HTTP_CONTENT_TOO_LARGE;
	if (r->length > max || r->length > CFD_BODY_MAX)
		return CF_ETOOBIG;
	return 0;
}

static enum MHD_Result
reserve_failed(struct MHD_Connection *c, struct cfd_req *r, int rc)
{
	if (rc == CF_ETOOBIG)
		return fail(c, r, MHD_HTTP_CONTENT_TOO_LARGE, CFD_ERRK_QUOTA);
	if (rc == CF_EPERM) /* the cap on pending join requests */
		return fail(c, r, MHD_HTTP_CONTENT_TOO_LARGE, CFD_ERRK_TOOLARGE);
	return cfd_reply_rc(c, r, rc);
}

/* Reserve the name and the quota, open the temporary file, and ask for the body. */
static enum MHD_Result
start_upload(struct MHD_Connection *c, struct cfd_req *r, enum cfd_put_mode mode, uint32_t max_live)
{
	struct cfd_meta *m = r->srv->meta;
	size_t keep = 0;
	int rc;

	rc = m->ops->object_reserve(m, &r->key, r->length, cfd_now(), max_live);
	if (rc != 0)
		return reserve_failed(c, r, rc);
	r->reserved = true;
	if (r->key.kind == CF_OBJ_CHAIN || r->key.kind == CF_OBJ_REQUEST)
		keep = (size_t)cfd_kind_max_size(r->key.kind);
	if ((rc = cfd_upload_new(r->srv->blobs, keep, &r->up)) != 0)
		return cfd_reply_rc(c, r, rc);
	cfd_metrics_uploads(1);
	r->put = mode;
	if (r->length == 0)
		return cfd_put_finish(c, r);
	r->receiving = true;
	return MHD_YES;
}

enum MHD_Result
cfd_put_begin(struct MHD_Connection *c, struct cfd_req *r)
{
	unsigned status = 0;
	int rc;

	CF_ASSERT(r->route.type == CFD_ROUTE_OBJECT); /* dispatch_object() sends nothing else */
	if (r->dev.role == CFD_ROLE_PENDING ||
	    (!cfd_role_full(r) && (r->key.kind == CF_OBJ_FORGET || r->key.kind == CF_OBJ_PRUNE)))
		return fail(c, r, MHD_HTTP_FORBIDDEN, CFD_ERRK_FORBIDDEN);
	if ((rc = body_length(c, r, cfd_kind_max_size(r->key.kind), &status)) != 0)
		return fail(c, r, status,
		            rc == CF_ETOOBIG ? CFD_ERRK_TOOLARGE : CFD_ERRK_MALFORMED);
	return start_upload(c, r, CFD_PUT_OBJECT, 0);
}

/* POST /v1/ACCOUNT/enroll: the token, not a signature, authenticates the genesis upload. */
enum MHD_Result
cfd_enroll_begin(struct MHD_Connection *c, struct cfd_req *r)
{
	struct cfd_meta *m = r->srv->meta;
	const char *tok = NULL;
	unsigned status = 0;
	size_t n = 0;
	int rc;

	if (cfd_header(c, "X-Coffer-Token", CFD_TOKEN_TEXT_MAX, &tok, &n) != 0 || n == 0)
		return fail(c, r, MHD_HTTP_UNAUTHORIZED, CFD_ERRK_AUTH);
	cf_hash(r->token_hash, tok, n);
	rc = m->ops->token_check(m, r->route.account, r->token_hash);
	if (rc != 0) /* an unknown account looks like a wrong token */
		return rc == CF_EAUTH ? fail(c, r, MHD_HTTP_UNAUTHORIZED, CFD_ERRK_AUTH)
		                      : cfd_reply_rc(c, r, rc);
	if ((rc = body_length(c, r, CF_CHAIN_MAX_BYTES, &status)) != 0)
		return fail(c, r, status,
		            rc == CF_ETOOBIG ? CFD_ERRK_TOOLARGE : CFD_ERRK_MALFORMED);
	r->route.kind = CF_OBJ_CHAIN;
	memcpy(r->route.name, genesis_name, sizeof(genesis_name));
	r->key = (struct cfd_obj_key){r->route.account, CF_OBJ_CHAIN, r->route.name};
	return start_upload(c, r, CFD_PUT_ENROLL, 0);
}

/* PUT /v1/ACCOUNT/requests/ID without a signature: the request signs itself. */
enum MHD_Result
cfd_join_begin(struct MHD_Connection *c, struct cfd_req *r)
{
	struct cfd_meta *m = r->srv->meta;
	struct cfd_account a;
	unsigned status = 0;
	int rc;

	rc = m->ops->account_get(m, r->route.account, &a);
	if (rc == 0 && !a.enrolled)
		rc = CF_ENOENT;
	if (rc != 0)
		return cfd_reply_rc(c, r, rc);
	if ((rc = body_length(c, r, CF_JOIN_MAX_BYTES, &status)) != 0)
		return fail(c, r, status,
		            rc == CF_ETOOBIG ? CFD_ERRK_TOOLARGE : CFD_ERRK_MALFORMED);
	return start_upload(c, r, CFD_PUT_JOIN, CFD_PENDING_JOINS);
}

void
cfd_put_data(struct cfd_req *r, const char *p, size_t len)
{
	int rc;

	if (r->fail_status != 0 || r->up == NULL)
		return; /* drain what is left of a refused body */
	if ((rc = cfd_upload_write(r->up, (const uint8_t *)p, len)) == 0)
		return;
	if (rc == CF_ETOOBIG) {
		r->fail_status = MHD_HTTP_CONTENT_TOO_LARGE;
		r->fail_kind = CFD_ERRK_TOOLARGE;
		return;
	}
	cfd_log("req=%" PRIu64 " upload failed: %s", r->id, cf_err_last());
	r->fail_status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	r->fail_kind = CFD_ERRK_IO;
}

/* The 8-byte prefix names this kind (docs/format.md 3); the version is the client's. */
static bool
prefix_ok(const struct cfd_req *r)
{
	const uint8_t *p = cfd_upload_prefix(r->up);

	return p != NULL && memcmp(p, obj_magic, sizeof(obj_magic)) == 0 &&
	       p[4] == cfd_kind_prefix_byte(r->key.kind);
}

static bool
content_address_ok(const struct cfd_req *r, const uint8_t hash[static CF_HASH_BYTES])
{
	char hex[2 * CF_HASH_BYTES + 1];

	if (!cfd_kind_content_addressed(r->key.kind))
		return true;
	cf_hex(hex, hash, CF_HASH_BYTES);
	return strcmp(hex, r->key.name) == 0;
}

/* A join request must verify under its own key and be named by its device id. */
static int
check_join(const struct cfd_req *r, struct cfd_device *joiner)
{
	struct cf_join_request req;
	const uint8_t *p = NULL;
	char hex[2 * CF_ID_BYTES + 1];
	size_t n = 0;
	int rc;

	p = cfd_upload_kept(r->up, &n);
	if ((rc = cf_join_request_open(p, n, &req)) != 0)
		return rc;
	cf_hex(hex, req.id, sizeof(req.id));
	if (strcmp(hex, r->key.name) != 0)
		return cf_err_set(CF_EFORMAT, "join request named for another device");
	memset(joiner, 0, sizeof(*joiner));
	memcpy(joiner->id, req.id, CF_ID_BYTES);
	memcpy(joiner->sign_pk, req.sign_pk, CF_SIGN_PK_BYTES);
	joiner->role = CFD_ROLE_PENDING;
	return 0;
}

struct finish_ctx {
	uint8_t hash[CF_HASH_BYTES];
	struct cfd_commit commit;
	struct cfd_chain_devices chain;
	struct cfd_device joiner;
	enum cfd_err_kind kind; /* of a failed check */
};

/* Everything checked between the last byte and the commit. 0 or the error to report. */
static int
check_body(struct cfd_req *r, struct finish_ctx *f)
{
	const uint8_t *p = NULL;
	size_t n = 0;
	int rc;

	f->kind = CFD_ERRK_IO;
	if ((rc = cfd_upload_finish(r->up, f->hash)) != 0)
		return rc;
	f->kind = CFD_ERRK_HASH;
	if (r->put == CFD_PUT_OBJECT && !cf_ct_eq(f->hash, r->want_sha, CF_HASH_BYTES))
		return CF_EFORMAT;
	if (!content_address_ok(r, f->hash))
		return CF_EFORMAT;
	f->kind = CFD_ERRK_MALFORMED;
	if (!prefix_ok(r))
		return CF_EFORMAT;
	if (r->put == CFD_PUT_JOIN) {
		if ((rc = check_join(r, &f->joiner)) != 0)
			return rc;
		f->commit.devices = &f->joiner;
		f->commit.ndevices = 1;
		return 0;
	}
	if (r->key.kind != CF_OBJ_CHAIN)
		return 0;
	f->kind = CFD_ERRK_CHAIN;
	p = cfd_upload_kept(r->up, &n);
	if ((rc = cfd_chain_check(r->srv, r->key.account, r->key.name, p, n, &f->chain)) != 0)
		return rc;
	f->commit.devices = f->chain.devices;
	f->commit.ndevices = f->chain.ndevices;
	f->commit.recovery_id = f->chain.recovery_id;
	if (r->put == CFD_PUT_ENROLL)
		f->commit.token_hash = r->token_hash;
	return 0;
}

static enum MHD_Result
finish_failed(struct MHD_Connection *c, struct cfd_req *r, int rc, enum cfd_err_kind kind)
{
	if (rc == CF_EFORMAT || rc == CF_EAUTH || rc == CF_EINTEGRITY || rc == CF_ETRUNC ||
	    rc == CF_EVERSION || rc == CF_EINVAL) {
		if (kind == CFD_ERRK_CHAIN)
			cfd_log("req=%" PRIu64 " chain entry refused: %s", r->id, cf_err_last());
		return fail(c, r, MHD_HTTP_BAD_REQUEST, kind);
	}
	return cfd_reply_rc(c, r, rc);
}

enum MHD_Result
cfd_put_finish(struct MHD_Connection *c, struct cfd_req *r)
{
	struct cfd_meta *m = r->srv->meta;
	struct finish_ctx f;
	enum MHD_Result res;
	int rc;

	if (r->fail_status != 0)
		return fail(c, r, r->fail_status, r->fail_kind);
	memset(&f, 0, sizeof(f));
	if ((rc = check_body(r, &f)) != 0) {
		res = finish_failed(c, r, rc, f.kind);
		goto out;
	}
	if ((rc = cfd_upload_commit(r->up, &r->key)) != 0) {
		res = cfd_reply_rc(c, r, rc);
		goto out;
	}
	r->blob_placed = true;
	rc = m->ops->object_commit(m, &r->key, cfd_now(), &f.commit);
	if (rc != 0) {
		res = rc == CF_EAUTH ? fail(c, r, MHD_HTTP_UNAUTHORIZED, CFD_ERRK_AUTH)
		                     : cfd_reply_rc(c, r, rc);
		goto out;
	}
	r->reserved = false;
	r->blob_placed = false;
	res = cfd_reply(c, r, MHD_HTTP_CREATED, "");
out:
	cfd_chain_devices_release(&f.chain);
	return res;
}

void
cfd_put_cleanup(struct cfd_req *r)
{
	struct cfd_meta *m = r->srv->meta;

	if (r->blob_placed && cfd_blobs_remove(r->srv->blobs, &r->key) != 0)
		cfd_log("req=%" PRIu64 " cannot remove a refused object: %s", r->id, cf_err_last());
	if (r->reserved && m->ops->object_abort(m, &r->key) != 0)
		cfd_log("req=%" PRIu64 " cannot release a reservation: %s", r->id, cf_err_last());
	r->blob_placed = false;
	r->reserved = false;
	if (r->up != NULL) {
		cfd_upload_free(r->up);
		cfd_metrics_uploads(-1);
		r->up = NULL;
	}
}
