/*
 * http_obj.c - reading, listing, deleting and undeleting objects (docs/format.md 15, 15.2).
 *
 * Who may do what: a device with only a pending join request reads chain/ and nothing
 * else; backup-only devices read and list everything but never delete or undelete; full
 * devices and the recovery key delete softly (the object stays for the retention window)
 * and undelete. Chain entries are never deleted. Join requests carry no backup data and
 * are removed for good, with the pending device they introduced.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "http.h"

#define LIST_LINE_MAX (CF_OBJ_NAME_MAX + 24)

static bool
may_read(const struct cfd_req *r)
{
	return r->dev.role != CFD_ROLE_PENDING || r->route.kind == CF_OBJ_CHAIN;
}

static enum MHD_Result
forbidden(struct MHD_Connection *c, struct cfd_req *r)
{
	return cfd_reply_fail(c, r, MHD_HTTP_FORBIDDEN, CFD_ERRK_FORBIDDEN);
}

/* The object must be live and not deleted: anything else does not exist for a reader. */
static int
visible(struct cfd_req *r)
{
	struct cfd_meta *m = r->srv->meta;
	struct cfd_obj_info o;
	int rc;

	if ((rc = m->ops->object_get(m, &r->key, &o)) != 0)
		return rc;
	if (o.state != CFD_OBJ_LIVE || o.deleted_at != 0)
		return CF_ENOENT;
	return 0;
}

/* The requested range of an object of @size bytes: 0 (whole), 1 (partial) or an error. */
static int
wanted_range(struct MHD_Connection *c, uint64_t size, uint64_t *off, uint64_t *n)
{
	const char *v = NULL;
	size_t len = 0;
	int rc;

	*off = 0;
	*n = size;
	rc = cfd_header(c, MHD_HTTP_HEADER_RANGE, CFD_RANGE_HEADER_MAX, &v, &len);
	if (rc == CF_ENOENT)
		return 0;
	if (rc != 0)
		return CF_EFORMAT;
	if ((rc = cfd_range_parse(v, len, size, off, n)) != 0)
		return rc;
	return 1;
}

static enum MHD_Result
unsatisfiable(struct MHD_Connection *c, struct cfd_req *r, uint64_t size)
{
	struct MHD_Response *resp = NULL;
	char cr[48];
	void *p = cf_memdup("", 1);

	if (p != NULL)
		resp = MHD_create_response_from_buffer_with_free_callback(0, p, cf_free);
	if (resp == NULL) {
		cf_free(p);
		return MHD_NO;
	}
	(void)snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	cfd_metrics_error(CFD_ERRK_MALFORMED);
	return cfd_reply_response(c, r, MHD_HTTP_RANGE_NOT_SATISFIABLE, resp, 0);
}

/* A live row without its bytes: the data is gone, say so. */
static int
no_file(const struct cfd_req *r, int rc)
{
	if (rc == CF_ENOENT)
		return cf_err_set(CF_EINTERNAL, "object '%s' of '%s' has no file", r->key.name,
		                  r->key.account);
	return rc;
}

/* A response that serves @p's bytes, from its file or its memory; it owns them then. */
static struct MHD_Response *
part_response(struct cfd_blob_part *p)
{
	struct MHD_Response *resp = NULL;

	if (p->fd >= 0)
		resp = MHD_create_response_from_fd_at_offset64(p->len, p->fd, p->off);
	else
		resp = MHD_create_response_from_buffer_with_free_callback((size_t)p->len, p->mem,
		                                                          cf_free);
	if (resp == NULL)
		cfd_blob_part_release(p);
	else
		*p = (struct cfd_blob_part){-1, 0, NULL, 0};
	return resp;
}

/* HEAD gets no body, so the bytes are not read (for S3 they would be fetched). */
static ssize_t
no_body(void *cls, uint64_t pos, char *buf, size_t max) /* NOLINT: MHD's callback type */
{
	(void)cls;
	(void)pos;
	(void)buf;
	(void)max;
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

static enum MHD_Result
send_blob(struct MHD_Connection *c, struct cfd_req *r, uint64_t size)
{
	struct MHD_Response *resp = NULL;
	struct cfd_blob_part p = {-1, 0, NULL, 0};
	uint64_t off = 0;
	uint64_t n = 0;
	char cr[80];
	int part = wanted_range(c, size, &off, &n);
	int rc;

	if (part < 0) {
		if (part == CF_ETRUNC)
			return unsatisfiable(c, r, size);
		return cfd_reply_fail(c, r, MHD_HTTP_BAD_REQUEST, CFD_ERRK_MALFORMED);
	}
	if (strcmp(r->method, "HEAD") == 0)
		resp = MHD_create_response_from_callback(n, 4096, no_body, NULL, NULL);
	else if ((rc = cfd_blobs_read_range(r->srv->blobs, &r->key, off, n, &p)) != 0)
		return cfd_reply_rc(c, r, no_file(r, rc));
	else
		resp = part_response(&p);
	if (resp == NULL)
		return MHD_NO;
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                              "application/octet-stream");
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	if (part == 0)
		return cfd_reply_response(c, r, MHD_HTTP_OK, resp, n);
	(void)snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off, off + n - 1,
	               size);
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	return cfd_reply_response(c, r, MHD_HTTP_PARTIAL_CONTENT, resp, n);
}

enum MHD_Result
cfd_handle_get(struct MHD_Connection *c, struct cfd_req *r)
{
	uint64_t size = 0;
	int rc;

	if (!may_read(r))
		return forbidden(c, r);
	if ((rc = visible(r)) != 0)
		return cfd_reply_rc(c, r, rc);
	if ((rc = cfd_blobs_size(r->srv->blobs, &r->key, &size)) != 0)
		return cfd_reply_rc(c, r, no_file(r, rc));
	return send_blob(c, r, size);
}

struct listing {
	struct cf_buf b;
	uint32_t limit;
	uint32_t n;
	bool more;
};

static int
list_line(void *arg, const struct cfd_obj_info *o)
{
	struct listing *l = arg;
	char line[LIST_LINE_MAX];
	int n;

	if (l->n == l->limit) {
		l->more = true;
		return 1; /* stop: there is at least one more */
	}
	n = snprintf(line, sizeof(line), "%s %" PRIu64 "\n", o->name, o->size);
	if (n < 0 || (size_t)n >= sizeof(line))
		return CF_EINTERNAL;
	l->n++;
	return cf_buf_put(&l->b, line, (size_t)n);
}

static enum MHD_Result
send_listing(struct MHD_Connection *c, struct cfd_req *r, struct listing *l)
{
	struct MHD_Response *resp = NULL;
	uint8_t *p = NULL;
	size_t n = 0;

	cf_buf_detach(&l->b, &p, &n);
	if (p == NULL)
		p = cf_malloc(1);
	if (p != NULL)
		resp = MHD_create_response_from_buffer_with_free_callback(n, p, cf_free);
	if (resp == NULL) {
		cf_free(p);
		return MHD_NO;
	}
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                              "text/plain; charset=utf-8");
	if (l->more)
		(void)MHD_add_response_header(resp, "X-Coffer-More", "1");
	return cfd_reply_response(c, r, MHD_HTTP_OK, resp, n);
}

enum MHD_Result
cfd_handle_list(struct MHD_Connection *c, struct cfd_req *r)
{
	struct cfd_meta *m = r->srv->meta;
	struct cfd_list_query q;
	struct listing l;
	enum MHD_Result res;
	int rc;

	/* what was deleted is for the devices that may undo it */
	if (!may_read(r) || (r->route.deleted && !cfd_role_full(r)))
		return forbidden(c, r);
	memset(&l, 0, sizeof(l));
	l.limit = r->route.limit;
	cf_buf_init(&l.b, (size_t)l.limit * LIST_LINE_MAX);
	q = (struct cfd_list_query){r->route.account, r->route.kind, r->route.after, l.limit + 1,
	                            r->route.deleted};
	rc = m->ops->object_list(m, &q, list_line, &l);
	if (rc != 0 && rc != 1)
		res = cfd_reply_rc(c, r, rc);
	else
		res = send_listing(c, r, &l);
	cf_buf_release(&l.b);
	return res;
}

/* A join request goes for good: claim the row, remove the file, drop the row. */
static int
remove_request(struct cfd_req *r)
{
	struct cfd_meta *m = r->srv->meta;
	int rc;

	if ((rc = m->ops->object_claim(m, &r->key)) != 0 ||
	    (rc = cfd_blobs_remove(r->srv->blobs, &r->key)) != 0)
		return rc;
	return m->ops->object_purge(m, &r->key);
}

enum MHD_Result
cfd_handle_delete(struct MHD_Connection *c, struct cfd_req *r)
{
	struct cfd_meta *m = r->srv->meta;
	int rc;

	if (!cfd_role_full(r) || r->route.kind == CF_OBJ_CHAIN)
		return forbidden(c, r);
	if (r->route.kind == CF_OBJ_REQUEST)
		rc = remove_request(r);
	else
		rc = m->ops->object_delete(m, &r->key, cfd_now());
	if (rc != 0)
		return cfd_reply_rc(c, r, rc);
	return cfd_reply(c, r, MHD_HTTP_NO_CONTENT, "");
}

enum MHD_Result
cfd_handle_undelete(struct MHD_Connection *c, struct cfd_req *r)
{
	struct cfd_meta *m = r->srv->meta;
	int rc;

	if (!cfd_role_full(r))
		return forbidden(c, r);
	if ((rc = m->ops->object_undelete(m, &r->key)) != 0)
		return cfd_reply_rc(c, r, rc);
	return cfd_reply(c, r, MHD_HTTP_NO_CONTENT, "");
}
