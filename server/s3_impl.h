/*
 * s3_impl.h - what s3.c (configuration, transport, retries) and s3_ops.c (the S3
 * operations) share. Not for other modules: they use s3.h.
 */
#ifndef CFD_S3_IMPL_H
#define CFD_S3_IMPL_H

#include <curl/curl.h>

#include "buf/buf.h"
#include "remote/curlx.h"
#include "s3.h"

#define S3_POOL_MAX  16   /* idle easy handles kept, each with its connection */
#define S3_HDRS_MAX  6    /* extra request headers */
#define S3_TEXT_MAX  1024 /* the start of an error answer, kept for its <Code> */
#define S3_CODE_MAX  64
#define S3_QUERY_MAX (3 * (CFD_S3_KEY_MAX + CFD_S3_TOKEN_MAX) + 128)

struct cfd_s3 {
	char endpoint[CFD_S3_ENDPOINT_MAX + 1];
	char bucket[CFD_S3_BUCKET_MAX + 1];
	char sigv4[CFD_S3_REGION_MAX + 16]; /* "aws:amz:REGION:s3" */
	char *access_key;
	char *secret; /* sodium_malloc: guard pages, not in core dumps, wiped when freed */
	unsigned attempts;
	unsigned backoff_ms;
	struct cf_curlx_pool pool; /* at most S3_POOL_MAX idle handles */
};

/* Where the body of a 2xx answer goes. */
enum s3_sink {
	S3_SINK_NONE = 0, /* dropped (PUT, DELETE, ...) */
	S3_SINK_XML,      /* into resp, at most CFD_S3_LIST_MAX bytes */
	S3_SINK_MEM,      /* into resp, exactly @want bytes */
	S3_SINK_FD,       /* to @fd from offset 0, exactly @want bytes */
};

/* One request and what the last attempt received. */
struct s3_req {
	const char *method;
	const char *key;          /* NULL: the bucket itself */
	char query[S3_QUERY_MAX]; /* percent-encoded, sorted by name; "" for none */
	const char *hdrs[S3_HDRS_MAX];
	size_t nhdrs;
	const struct cfd_s3_body *body; /* PUT and POST; NULL: none */
	const char *content_type;
	enum s3_sink sink;
	uint64_t want;
	int fd;
	long timeout_s; /* 0: only the low-speed limit applies */

	long status;
	struct cf_buf resp;
	uint64_t got;
	int64_t length; /* Content-Length, -1 when not given */
	char etag[CFD_S3_ETAG_MAX + 1];
	char meta_sha[CFD_S3_SHA_HEX + 1];
	char text[S3_TEXT_MAX + 1];
	size_t textlen;
	char code[S3_CODE_MAX]; /* <Code> of an error answer, or "" */
	uint64_t sent;
	unsigned attempts;
	int cb_rc;
	bool head_done;
	CURL *h;
};

/* s3_req_init() - a request for @key (NULL: the bucket) with no query, body or sink. */
void s3_req_init(struct s3_req *q, const char *method, const char *key);
void s3_req_release(struct s3_req *q);
/* s3_req_header() - add a header line; @line is borrowed until the request is done. */
void s3_req_header(struct s3_req *q, const char *line);
/*
 * s3_query_add() - append name=value to @q->query, the value percent-encoded. Names must be
 * added in ascending order (libcurl signs the query as it is). CF_ETOOBIG if it is full.
 */
int s3_query_add(struct s3_req *q, const char *name, const char *value) CF_MUST_CHECK;
/*
 * s3_perform() - send @q, retrying transient failures. 0 for a 2xx answer; otherwise an
 * error for the status (CF_ENOENT 404, CF_EEXIST 412, CF_ESYS with a message) or the
 * transport. @q->status, ->code and the response fields describe the last attempt.
 */
int s3_perform(struct cfd_s3 *s, struct s3_req *q) CF_MUST_CHECK;
/* s3_fail() - CF_ESYS with "cannot WHAT 's3://bucket/key': @why" (@why has no secret). */
int s3_fail(const struct cfd_s3 *s, const struct s3_req *q, const char *why);

#endif
