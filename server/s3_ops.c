/*
 * s3_ops.c - the S3 operations cofferd uses (s3.h): bucket creation, PUT (single and
 * multipart), HEAD, ranged GET, DELETE and ListObjectsV2.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "crypto/crypto.h"
#include "s3_impl.h"

#define LIST_PAGE      "1000"
#define PART_MIN       ((uint64_t)5 * 1024 * 1024)
#define PARTS_MAX      10000u
#define PUT_MAX        ((uint64_t)5 * 1024 * 1024 * 1024)
#define HASH_BLOCK     ((size_t)1024 * 1024)
#define META_LINE_MAX  (sizeof("x-amz-meta-sha256: ") + CFD_S3_SHA_HEX)
#define RANGE_LINE_MAX 64
#define SMALL_TIMEOUT  60L /* seconds, for requests without a large body either way */
#define EMPTY_SHA256   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const struct cfd_s3_body empty_body = {-1, 0, (const uint8_t *)"", 0, EMPTY_SHA256};

static bool
sha_hex_valid(const char *s)
{
	if (strlen(s) != CFD_S3_SHA_HEX)
		return false;
	for (size_t i = 0; i < CFD_S3_SHA_HEX; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

/* ---- bucket ---- */

/* A one-key listing rather than a HEAD: its error answers have a body that names the cause. */
int
cfd_s3_bucket_check(struct cfd_s3 *s)
{
	struct s3_req q;
	int rc;

	s3_req_init(&q, "GET", NULL);
	q.timeout_s = SMALL_TIMEOUT;
	if ((rc = s3_query_add(&q, "list-type", "2")) == 0 &&
	    (rc = s3_query_add(&q, "max-keys", "1")) == 0)
		rc = s3_perform(s, &q);
	if (rc == CF_ENOENT)
		rc = cf_err_set(CF_ENOENT, "no S3 bucket '%s'", s->bucket);
	s3_req_release(&q);
	return rc;
}

int
cfd_s3_bucket_create(struct cfd_s3 *s)
{
	struct s3_req q;
	int rc;

	s3_req_init(&q, "PUT", NULL);
	q.body = &empty_body;
	q.timeout_s = SMALL_TIMEOUT;
	rc = s3_perform(s, &q);
	/* AWS outside us-east-1 answers 409 to a second creation; ours is then fine */
	if (rc != 0 && q.status == 409 && strcmp(q.code, "BucketAlreadyOwnedByYou") == 0)
		rc = cfd_s3_bucket_check(s);
	else if (rc != 0 && q.status == 409)
		rc = cf_err_set(CF_EEXIST, "S3 bucket '%s' belongs to another account", s->bucket);
	s3_req_release(&q);
	return rc;
}

/* ---- objects ---- */

int
cfd_s3_put(struct cfd_s3 *s, const char *key, const struct cfd_s3_body *body, const char *meta_sha,
           bool if_none_match)
{
	/* cppcheck-suppress variableScope ; the request borrows the line until it is sent */
	char meta[META_LINE_MAX];
	struct s3_req q;
	int rc;

	if (body->len > PUT_MAX)
		return cf_err_set(CF_ETOOBIG, "'%s' is too large for one S3 PUT", key);
	s3_req_init(&q, "PUT", key);
	q.body = body;
	q.content_type = "application/octet-stream";
	if (if_none_match)
		s3_req_header(&q, "If-None-Match: *");
	if (meta_sha != NULL) {
		CF_ASSERT(sha_hex_valid(meta_sha));
		(void)snprintf(meta, sizeof(meta), "x-amz-meta-sha256: %s", meta_sha);
		s3_req_header(&q, meta);
	}
	rc = s3_perform(s, &q);
	s3_req_release(&q);
	return rc;
}

int
cfd_s3_head(struct cfd_s3 *s, const char *key, uint64_t *size, char meta_sha[CFD_S3_SHA_HEX + 1])
{
	struct s3_req q;
	int rc;

	*size = 0;
	if (meta_sha != NULL)
		meta_sha[0] = '\0';
	s3_req_init(&q, "HEAD", key);
	q.timeout_s = SMALL_TIMEOUT;
	if ((rc = s3_perform(s, &q)) != 0)
		goto out;
	if (q.length < 0) {
		rc = s3_fail(s, &q, "the answer has no Content-Length");
		goto out;
	}
	*size = (uint64_t)q.length;
	if (meta_sha != NULL && sha_hex_valid(q.meta_sha))
		memcpy(meta_sha, q.meta_sha, CFD_S3_SHA_HEX + 1);
out:
	s3_req_release(&q);
	return rc;
}

/* GET bytes @off .. @off + @len - 1 into @q's sink; exactly that many must arrive. */
static int
get_range(struct cfd_s3 *s, struct s3_req *q, uint64_t off, uint64_t len)
{
	char range[RANGE_LINE_MAX];
	uint64_t got;
	int rc;

	CF_ASSERT(len > 0 && off <= UINT64_MAX - len);
	(void)snprintf(range, sizeof(range), "Range: bytes=%llu-%llu", (unsigned long long)off,
	               (unsigned long long)(off + len - 1));
	s3_req_header(q, range);
	q->want = len;
	if ((rc = s3_perform(s, q)) != 0)
		return rc;
	/* a 200 is the whole object: right only when that is what was asked */
	if (q->status != 206 && !(q->status == 200 && off == 0))
		return s3_fail(s, q, "the store did not answer with the range asked for");
	got = q->sink == S3_SINK_FD ? q->got : q->resp.len;
	if (got != len)
		return s3_fail(s, q, "the answer is shorter than the range asked for");
	return 0;
}

int
cfd_s3_get_mem(struct cfd_s3 *s, const char *key, uint64_t off, uint64_t len, uint8_t **out)
{
	struct s3_req q;
	size_t n = 0;
	int rc;

	*out = NULL;
	if (len > SIZE_MAX - 1)
		return CF_ETOOBIG;
	if (len == 0) {
		*out = cf_malloc(1);
		return *out != NULL ? 0 : CF_ENOMEM;
	}
	s3_req_init(&q, "GET", key);
	q.sink = S3_SINK_MEM;
	q.resp.max = (size_t)len;
	if ((rc = cf_buf_reserve(&q.resp, (size_t)len)) == 0 &&
	    (rc = get_range(s, &q, off, len)) == 0)
		cf_buf_detach(&q.resp, out, &n);
	s3_req_release(&q);
	return rc;
}

int
cfd_s3_get_fd(struct cfd_s3 *s, const char *key, uint64_t off, uint64_t len, int fd)
{
	struct s3_req q;
	int rc;

	if (len == 0)
		return 0;
	s3_req_init(&q, "GET", key);
	q.sink = S3_SINK_FD;
	q.fd = fd;
	rc = get_range(s, &q, off, len);
	s3_req_release(&q);
	return rc;
}

int
cfd_s3_delete(struct cfd_s3 *s, const char *key)
{
	struct s3_req q;
	int rc;

	s3_req_init(&q, "DELETE", key);
	q.timeout_s = SMALL_TIMEOUT;
	rc = s3_perform(s, &q);
	s3_req_release(&q);
	return rc == CF_ENOENT ? 0 : rc;
}

/* ---- listing ---- */

static int
list_page(struct cfd_s3 *s, const char *prefix, const char *token, cfd_s3_key_fn *fn, void *arg,
          struct cfd_s3_list_page *page)
{
	struct s3_req q;
	int rc;

	s3_req_init(&q, "GET", NULL);
	q.sink = S3_SINK_XML;
	q.timeout_s = SMALL_TIMEOUT;
	/* in ascending order of name: the signature covers the query as written */
	if ((token[0] != '\0' && (rc = s3_query_add(&q, "continuation-token", token)) != 0) ||
	    (rc = s3_query_add(&q, "list-type", "2")) != 0 ||
	    (rc = s3_query_add(&q, "max-keys", LIST_PAGE)) != 0 ||
	    (rc = s3_query_add(&q, "prefix", prefix)) != 0) {
		rc = cf_err_set(rc, "S3 list query for '%s' is too long", prefix);
		goto out;
	}
	if ((rc = s3_perform(s, &q)) != 0)
		goto out;
	rc = cfd_s3_list_parse(q.resp.p, q.resp.len, fn, arg, page);
	if (rc == CF_EFORMAT || rc == CF_ETOOBIG)
		rc = s3_fail(s, &q, "malformed list answer");
out:
	s3_req_release(&q);
	return rc;
}

int
cfd_s3_list(struct cfd_s3 *s, const char *prefix, cfd_s3_key_fn *fn, void *arg)
{
	struct cfd_s3_list_page *page = NULL;
	char *token = NULL;
	int rc;

	page = cf_malloc(sizeof(*page));
	token = cf_calloc(1, CFD_S3_TOKEN_MAX + 1);
	if (page == NULL || token == NULL) {
		rc = CF_ENOMEM;
		goto out;
	}
	for (;;) {
		if ((rc = list_page(s, prefix, token, fn, arg, page)) != 0 || !page->truncated)
			break;
		/* a store that hands back the same token would keep us here forever */
		if (strcmp(page->token, token) == 0) {
			errno = 0;
			rc = cf_err_set(CF_ESYS, "S3 listing of 's3://%s/%s' does not advance",
			                s->bucket, prefix);
			break;
		}
		memcpy(token, page->token, strlen(page->token) + 1);
	}
out:
	cf_free(page);
	cf_free(token);
	return rc;
}

/* ---- multipart upload ---- */

struct mpu {
	struct cfd_s3 *s;
	const char *key;
	const char *meta_sha;
	char id[CFD_S3_ID_MAX + 1];
	char (*etags)[CFD_S3_ETAG_MAX + 1];
	unsigned nparts;
	uint64_t len;
};

static int
mpu_begin(struct mpu *m)
{
	char meta[META_LINE_MAX];
	struct s3_req q;
	int rc;

	s3_req_init(&q, "POST", m->key);
	q.sink = S3_SINK_XML;
	q.timeout_s = SMALL_TIMEOUT;
	q.content_type = "application/octet-stream";
	(void)snprintf(meta, sizeof(meta), "x-amz-meta-sha256: %s", m->meta_sha);
	s3_req_header(&q, meta);
	if ((rc = s3_query_add(&q, "uploads", "")) != 0 || (rc = s3_perform(m->s, &q)) != 0)
		goto out;
	rc = cfd_s3_xml_field(q.resp.p, q.resp.len, "InitiateMultipartUploadResult", "UploadId",
	                      m->id, sizeof(m->id));
	if (rc == 0 && m->id[0] == '\0')
		rc = CF_EFORMAT;
	if (rc != 0 && rc != CF_ENOMEM)
		rc = s3_fail(m->s, &q, "no upload id in the answer");
out:
	s3_req_release(&q);
	return rc;
}

/* The hex SHA-256 of @len bytes at @off of @fd. */
static int
hash_range(int fd, uint64_t off, uint64_t len, char hex[CFD_S3_SHA_HEX + 1])
{
	struct cf_hash_ctx *h = NULL;
	uint8_t hash[CF_HASH_BYTES];
	uint8_t *buf = NULL;
	int rc;

	buf = cf_malloc(HASH_BLOCK);
	if (buf == NULL || (rc = cf_hash_ctx_new(&h)) != 0) {
		rc = CF_ENOMEM;
		goto out;
	}
	while (len > 0) {
		size_t n = len < HASH_BLOCK ? (size_t)len : HASH_BLOCK;
		ssize_t r = pread(fd, buf, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = cf_err_set(CF_ESYS, "cannot read an upload");
			goto out;
		}
		cf_hash_ctx_update(h, buf, (size_t)r);
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	cf_hash_ctx_final(h, hash);
	cf_hex(hex, hash, sizeof(hash));
out:
	cf_hash_ctx_free(h);
	cf_free(buf);
	return rc;
}

/* An ETag goes back into the completion's XML as text: no markup characters. */
static bool
etag_valid(const char *e)
{
	if (e[0] == '\0')
		return false;
	for (; *e != '\0'; e++) {
		if (*e < 0x20 || *e > 0x7e || *e == '<' || *e == '>' || *e == '&')
			return false;
	}
	return true;
}

static int
mpu_part(struct mpu *m, unsigned n, int fd, uint64_t off, uint64_t len)
{
	struct cfd_s3_body body = {fd, off, NULL, len, {0}};
	char num[16];
	struct s3_req q;
	int rc;

	if ((rc = hash_range(fd, off, len, body.sha)) != 0)
		return rc;
	(void)snprintf(num, sizeof(num), "%u", n);
	s3_req_init(&q, "PUT", m->key);
	q.body = &body;
	if ((rc = s3_query_add(&q, "partNumber", num)) != 0 ||
	    (rc = s3_query_add(&q, "uploadId", m->id)) != 0 || (rc = s3_perform(m->s, &q)) != 0)
		goto out;
	if (!etag_valid(q.etag)) {
		rc = s3_fail(m->s, &q, "no valid ETag for a part");
		goto out;
	}
	memcpy(m->etags[n - 1], q.etag, strlen(q.etag) + 1);
out:
	s3_req_release(&q);
	return rc;
}

static int
complete_xml(const struct mpu *m, struct cf_buf *b)
{
	static const char head[] = "<CompleteMultipartUpload>";
	static const char tail[] = "</CompleteMultipartUpload>";
	char part[CFD_S3_ETAG_MAX + 96];
	int rc;

	if ((rc = cf_buf_put(b, head, sizeof(head) - 1)) != 0)
		return rc;
	for (unsigned i = 0; i < m->nparts; i++) {
		int n = snprintf(part, sizeof(part),
		                 "<Part><PartNumber>%u</PartNumber><ETag>%s</ETag></Part>", i + 1,
		                 m->etags[i]);

		if (n < 0 || (size_t)n >= sizeof(part))
			return CF_EINTERNAL;
		if ((rc = cf_buf_put(b, part, (size_t)n)) != 0)
			return rc;
	}
	return cf_buf_put(b, tail, sizeof(tail) - 1);
}

/* The object is there, with our size and hash: a completion whose answer was lost. */
static int
mpu_completed(struct mpu *m)
{
	char sha[CFD_S3_SHA_HEX + 1];
	uint64_t size = 0;
	int rc;

	if ((rc = cfd_s3_head(m->s, m->key, &size, sha)) != 0)
		return rc;
	errno = 0;
	if (size != m->len || strcmp(sha, m->meta_sha) != 0)
		return cf_err_set(CF_ESYS, "multipart upload of 's3://%s/%s' vanished",
		                  m->s->bucket, m->key);
	return 0;
}

/* A completion answers 200 and may still have failed: the body then is an <Error>. */
static int
mpu_complete(struct mpu *m)
{
	struct cfd_s3_body body = {-1, 0, NULL, 0, {0}};
	uint8_t hash[CF_HASH_BYTES];
	char code[S3_CODE_MAX];
	struct cf_buf xml;
	struct s3_req q;
	int rc;

	cf_buf_init(&xml, (size_t)PARTS_MAX * (CFD_S3_ETAG_MAX + 96) + 64);
	s3_req_init(&q, "POST", m->key);
	if ((rc = complete_xml(m, &xml)) != 0)
		goto out;
	cf_hash(hash, xml.p, xml.len);
	cf_hex(body.sha, hash, sizeof(hash));
	body.mem = xml.p;
	body.len = xml.len;
	q.body = &body;
	q.content_type = "application/xml";
	q.sink = S3_SINK_XML;
	if ((rc = s3_query_add(&q, "uploadId", m->id)) != 0)
		goto out;
	rc = s3_perform(m->s, &q);
	if (rc == CF_ENOENT && q.attempts > 1) { /* an earlier attempt may have completed it */
		rc = mpu_completed(m);
		goto out;
	}
	if (rc == 0 &&
	    cfd_s3_xml_field(q.resp.p, q.resp.len, "Error", "Code", code, sizeof(code)) == 0)
		rc = s3_fail(m->s, &q, code);
out:
	s3_req_release(&q);
	cf_buf_release(&xml);
	return rc;
}

/* Abort after the failure @rc; its message stays, saying whether parts were left behind. */
static int
mpu_abort(struct mpu *m, int rc)
{
	struct s3_req q;
	char msg[512];
	int arc;

	cf_err_copy(msg, sizeof(msg));
	s3_req_init(&q, "DELETE", m->key);
	q.timeout_s = SMALL_TIMEOUT;
	arc = s3_query_add(&q, "uploadId", m->id);
	if (arc == 0)
		arc = s3_perform(m->s, &q);
	s3_req_release(&q);
	if (arc == 0) {
		cf_err_restore(msg);
		return rc;
	}
	/* the parts stay until a lifecycle rule of the bucket removes them */
	return cf_err_set(rc, "%s (and the upload could not be aborted)", msg);
}

static int
mpu_parts(struct mpu *m, int fd, uint64_t len, uint64_t part_size)
{
	int rc = 0;

	for (unsigned i = 0; i < m->nparts && rc == 0; i++) {
		uint64_t off = (uint64_t)i * part_size;
		uint64_t n = len - off < part_size ? len - off : part_size;

		rc = mpu_part(m, i + 1, fd, off, n);
	}
	return rc;
}

int
cfd_s3_put_multipart(struct cfd_s3 *s, const char *key, int fd, uint64_t len, uint64_t part_size,
                     const char *meta_sha)
{
	struct mpu *m = NULL;
	uint64_t nparts = 0;
	int rc;

	CF_ASSERT(sha_hex_valid(meta_sha));
	if (part_size < PART_MIN || len == 0)
		return cf_err_set(CF_EINVAL, "multipart upload of '%s': bad part size", key);
	nparts = (len + part_size - 1) / part_size;
	if (nparts > PARTS_MAX)
		return cf_err_set(CF_ETOOBIG, "'%s' needs more than %u parts", key, PARTS_MAX);
	m = cf_calloc(1, sizeof(*m));
	if (m == NULL || (m->etags = cf_calloc((size_t)nparts, sizeof(*m->etags))) == NULL) {
		rc = CF_ENOMEM;
		goto out;
	}
	m->s = s;
	m->key = key;
	m->meta_sha = meta_sha;
	m->nparts = (unsigned)nparts;
	m->len = len;
	if ((rc = mpu_begin(m)) != 0)
		goto out;
	if ((rc = mpu_parts(m, fd, len, part_size)) == 0)
		rc = mpu_complete(m);
	if (rc != 0)
		rc = mpu_abort(m, rc);
out:
	if (m != NULL)
		cf_free(m->etags);
	cf_free(m);
	return rc;
}
