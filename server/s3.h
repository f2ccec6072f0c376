/*
 * s3.h - a small S3 client for cofferd's object store (blobs_s3.c): path-style requests
 * (ENDPOINT/BUCKET/KEY) signed with AWS Signature V4 by libcurl, retried with jittered
 * exponential backoff on 5xx, 429 and transport failures, never on another 4xx.
 *
 * Every body is sent with its SHA-256 in x-amz-content-sha256, which the signature covers,
 * so the store refuses a body changed in transit. libcurl 7.88 signs the query string as
 * given: callers' queries are built here, percent-encoded and sorted by name.
 *
 * Threads: a struct cfd_s3 is shared by all threads. Each request takes an easy handle from
 * a small pool (or makes one) and returns it afterwards, so a thread's next request reuses
 * the kept-alive connection. Errors: 0, CF_ENOENT (404), CF_EEXIST (412 to a conditional
 * PUT), CF_ENOMEM, CF_EINVAL (bad configuration), CF_ESYS (anything else the store or the
 * network did; the message names the bucket, the key and the HTTP status or the transport
 * error, never the secret). XML answers are parsed by s3_xml.c.
 */
#ifndef CFD_S3_H
#define CFD_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compat.h"

#define CFD_S3_ENDPOINT_MAX 256
#define CFD_S3_BUCKET_MAX   63
#define CFD_S3_REGION_MAX   32
#define CFD_S3_KEY_MAX      1024 /* S3's own limit on key length */
#define CFD_S3_TOKEN_MAX    1024 /* a continuation token */
#define CFD_S3_ID_MAX       1024 /* a multipart upload id */
#define CFD_S3_ETAG_MAX     128
#define CFD_S3_SHA_HEX      64
#define CFD_S3_SECRET_MAX   256
#define CFD_S3_ATTEMPTS     6
#define CFD_S3_LIST_MAX     ((size_t)4 * 1024 * 1024) /* the largest list page accepted */

struct cfd_s3;

struct cfd_s3_config {
	const char *endpoint;   /* "http://host[:port]" or "https://...", no path */
	const char *region;     /* signing region, e.g. "us-east-1" */
	const char *bucket;     /* checked by cfd_s3_bucket_valid() */
	const char *access_key; /* copied */
	const char *secret_key; /* copied into guarded memory, wiped at cfd_s3_free() */
	unsigned attempts;      /* per request; 0: CFD_S3_ATTEMPTS */
	unsigned backoff_ms;    /* the first retry's delay; 0: 100 ms */
};

/* The body of a PUT: @len bytes at @off of @fd when @mem is NULL, else @len bytes at @mem. */
struct cfd_s3_body {
	int fd;
	uint64_t off;
	const uint8_t *mem;
	uint64_t len;
	char sha[CFD_S3_SHA_HEX + 1]; /* hex SHA-256 of those bytes */
};

/* cfd_s3_bucket_valid() - S3's bucket naming rules (3..63 of [a-z0-9.-], no IP address). */
bool cfd_s3_bucket_valid(const char *b);
/* cfd_s3_region_valid() - 1..CFD_S3_REGION_MAX of [a-z0-9-]. */
bool cfd_s3_region_valid(const char *r);
/* cfd_s3_endpoint_valid() - http:// or https://, a host of [A-Za-z0-9.-] or [IPv6], an optional
 * port. */
bool cfd_s3_endpoint_valid(const char *e);

/*
 * cfd_s3_new() - a client for one bucket. Checks the configuration (CF_EINVAL with a
 * message naming the bad part) and initialises libcurl; sends nothing. *@out: cfd_s3_free().
 */
int cfd_s3_new(const struct cfd_s3_config *cfg, struct cfd_s3 **out) CF_MUST_CHECK;
/* cfd_s3_free() - close the pooled connections and wipe the secret. NULL: no-op. */
void cfd_s3_free(struct cfd_s3 *s);
/*
 * cfd_s3_open_uri() - a client configured by @uri ("s3://BUCKET?endpoint=URL&region=R";
 * see cfd_blobs_open_s3() in blobs.h) and by the credentials in the environment. Sends
 * nothing. CF_EINVAL (with a message that never contains the secret), CF_ESYS (the
 * credentials file cannot be read) or CF_ENOMEM. *@out: cfd_s3_free(). s3_config.c.
 */
int cfd_s3_open_uri(const char *uri, struct cfd_s3 **out) CF_MUST_CHECK;
/* cfd_s3_bucket() - the bucket's name (borrowed). */
const char *cfd_s3_bucket(const struct cfd_s3 *s);

/* cfd_s3_bucket_create() - create the bucket; one that exists and is ours is success. */
int cfd_s3_bucket_create(struct cfd_s3 *s) CF_MUST_CHECK;
/* cfd_s3_bucket_check() - the bucket exists and these credentials may use it (CF_ENOENT: none). */
int cfd_s3_bucket_check(struct cfd_s3 *s) CF_MUST_CHECK;

/*
 * cfd_s3_put() - store @body under @key in one request. @meta_sha (64 hex digits or NULL) is
 * stored as x-amz-meta-sha256. With @if_none_match the store refuses to replace an existing
 * object: CF_EEXIST. @body->len must not exceed 5 GiB (S3's single-PUT limit).
 */
int cfd_s3_put(struct cfd_s3 *s, const char *key, const struct cfd_s3_body *body,
               const char *meta_sha, bool if_none_match) CF_MUST_CHECK;
/*
 * cfd_s3_put_multipart() - store @len bytes of @fd (from offset 0) under @key as a multipart
 * upload of @part_size-byte parts (at least 5 MiB, at most 10000 parts), each sent with its
 * own SHA-256; @meta_sha as cfd_s3_put(). A failed upload is aborted.
 */
int cfd_s3_put_multipart(struct cfd_s3 *s, const char *key, int fd, uint64_t len,
                         uint64_t part_size, const char *meta_sha) CF_MUST_CHECK;
/*
 * cfd_s3_head() - the size of @key and its x-amz-meta-sha256 (@meta_sha: "" when absent or
 * malformed; may be NULL). CF_ENOENT when there is no such object.
 */
int cfd_s3_head(struct cfd_s3 *s, const char *key, uint64_t *size,
                char meta_sha[CFD_S3_SHA_HEX + 1]) CF_MUST_CHECK;
/*
 * cfd_s3_get_mem() - @len bytes at @off of @key into a new buffer (*@out: cf_free) of
 * exactly @len bytes (an answer of any other length is an error). @len 0 sends nothing.
 */
int cfd_s3_get_mem(struct cfd_s3 *s, const char *key, uint64_t off, uint64_t len,
                   uint8_t **out) CF_MUST_CHECK;
/* cfd_s3_get_fd() - as cfd_s3_get_mem(), written to @fd from its offset 0. */
int cfd_s3_get_fd(struct cfd_s3 *s, const char *key, uint64_t off, uint64_t len,
                  int fd) CF_MUST_CHECK;
/* cfd_s3_delete() - remove @key; a missing key is not an error. */
int cfd_s3_delete(struct cfd_s3 *s, const char *key) CF_MUST_CHECK;

/* A callback for each listed key; non-zero stops the listing and is returned. */
typedef int cfd_s3_key_fn(void *arg, const char *key, uint64_t size);
/*
 * cfd_s3_list() - every key that starts with @prefix, page by page (ListObjectsV2, at most
 * 1000 keys a page), in the store's order. @fn may delete the keys it is given.
 */
int cfd_s3_list(struct cfd_s3 *s, const char *prefix, cfd_s3_key_fn *fn, void *arg) CF_MUST_CHECK;

/* ---- s3_xml.c: the answers' XML, parsed with expat (untrusted input: fuzz_s3_list) ---- */

/* One page of a ListObjectsV2 answer. */
struct cfd_s3_list_page {
	bool truncated;                   /* IsTruncated: more pages follow */
	char token[CFD_S3_TOKEN_MAX + 1]; /* NextContinuationToken ("" when none) */
	size_t nkeys;                     /* Contents entries given to the callback */
};

/*
 * cfd_s3_list_parse() - call @fn(@arg, key, size) for each <Contents> of a
 * <ListBucketResult>, in order, and fill @page. Keys are 1..CFD_S3_KEY_MAX bytes, sizes
 * decimal; a DOCTYPE (and so any entity declaration) is refused. Returns 0, CF_EFORMAT
 * (malformed, or a truncated page without a token), CF_ETOOBIG (a field over its limit, or
 * @len over CFD_S3_LIST_MAX), CF_ENOMEM, or what @fn returned. Thread-safe.
 */
int cfd_s3_list_parse(const uint8_t *xml, size_t len, cfd_s3_key_fn *fn, void *arg,
                      struct cfd_s3_list_page *page) CF_MUST_CHECK;
/*
 * cfd_s3_xml_field() - the text of <@root><@field> (a child of the document's root element)
 * into @out (NUL-terminated, at most @cap - 1 bytes). Returns 0, CF_ENOENT (another root, or
 * no such child), CF_EFORMAT, CF_ETOOBIG (longer than @cap - 1) or CF_ENOMEM.
 */
int cfd_s3_xml_field(const uint8_t *xml, size_t len, const char *root, const char *field, char *out,
                     size_t cap) CF_MUST_CHECK;

#endif
