/*
 * s3.c - the S3 client's configuration, requests, signing and retries (s3.h). The handle
 * pool and the retry loop are the library's (src/remote/curlx.h).
 *
 * Signing is libcurl's (CURLOPT_AWS_SIGV4, "aws:amz:REGION:s3"). Two things it leaves to
 * us in 7.88: the payload hash, which it signs when it finds it in an x-amz-content-sha256
 * header we set (S3 refuses a request without one), and the canonical query, which it
 * takes as written: every value is percent-encoded here and names are added in order.
 *
 * The secret is kept in sodium_malloc() memory. libcurl copies it for each request
 * (CURLOPT_PASSWORD) into its own heap and frees that copy without wiping it: the one place
 * it lives outside guarded memory, for the length of a request.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "crypto/crypto.h"
#include "s3_impl.h"

#define LOW_SPEED_TIME_S 30L /* give up on a transfer slower than 1 KiB/s for this long */
#define BACKOFF_MS       100u
#define ACCESS_KEY_MAX   128
#define URL_MAX          (CFD_S3_ENDPOINT_MAX + CFD_S3_BUCKET_MAX + 3 * CFD_S3_KEY_MAX + S3_QUERY_MAX + 4)
#define EMPTY_SHA256     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

#ifdef CF_VERSION
#define USER_AGENT "cofferd/" CF_VERSION
#else
#define USER_AGENT "cofferd"
#endif

/* ---- configuration ---- */

static bool
lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Four dot-separated groups of digits: S3 refuses bucket names shaped like IPv4 addresses. */
static bool
ipv4_shaped(const char *s)
{
	unsigned dots = 0;

	for (; *s != '\0'; s++) {
		if (*s == '.')
			dots++;
		else if (*s < '0' || *s > '9')
			return false;
	}
	return dots == 3;
}

static bool
has_suffix(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

bool
cfd_s3_bucket_valid(const char *b)
{
	size_t n = strnlen(b, CFD_S3_BUCKET_MAX + 1);

	if (n < 3 || n > CFD_S3_BUCKET_MAX || !lower_alnum(b[0]) || !lower_alnum(b[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!lower_alnum(b[i]) && b[i] != '.' && b[i] != '-')
			return false;
		/* "..", ".-" and "-." make names that are no DNS label */
		if (i > 0 && b[i - 1] == '.' && (b[i] == '.' || b[i] == '-'))
			return false;
		if (i > 0 && b[i - 1] == '-' && b[i] == '.')
			return false;
	}
	return !ipv4_shaped(b) && strncmp(b, "xn--", 4) != 0 && !has_suffix(b, n, "-s3alias") &&
	       !has_suffix(b, n, "--ol-s3");
}

bool
cfd_s3_region_valid(const char *r)
{
	size_t n = strnlen(r, CFD_S3_REGION_MAX + 1);

	if (n == 0 || n > CFD_S3_REGION_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!lower_alnum(r[i]) && r[i] != '-')
			return false;
	}
	return true;
}

/* A host name or address: [A-Za-z0-9.-]+, or [hex, ':' and '.'] in brackets. */
static size_t
host_len(const char *h)
{
	size_t n = 0;

	if (h[0] == '[') {
		for (n = 1; h[n] != '\0' && h[n] != ']'; n++) {
			if (strchr("0123456789abcdefABCDEF:.", h[n]) == NULL)
				return 0;
		}
		return h[n] == ']' && n > 2 ? n + 1 : 0;
	}
	while ((h[n] >= 'a' && h[n] <= 'z') || (h[n] >= 'A' && h[n] <= 'Z') ||
	       (h[n] >= '0' && h[n] <= '9') || h[n] == '.' || h[n] == '-')
		n++;
	return n;
}

bool
cfd_s3_endpoint_valid(const char *e)
{
	const char *p = NULL;
	size_t n = 0;

	if (strnlen(e, CFD_S3_ENDPOINT_MAX + 1) > CFD_S3_ENDPOINT_MAX)
		return false;
	if (strncmp(e, "http://", 7) == 0)
		p = e + 7;
	else if (strncmp(e, "https://", 8) == 0)
		p = e + 8;
	else
		return false;
	if ((n = host_len(p)) == 0)
		return false;
	p += n;
	if (*p == ':') {
		uint64_t port = 0;
		char digits[6];

		for (n = 0, p++; p[n] >= '0' && p[n] <= '9' && n < sizeof(digits) - 1; n++)
			digits[n] = p[n];
		digits[n] = '\0';
		if (cf_parse_u64(digits, 1, 65535, &port) != 0)
			return false;
		p += n;
	}
	return p[0] == '\0' || (p[0] == '/' && p[1] == '\0');
}

static bool
access_key_valid(const char *k)
{
	size_t n = strnlen(k, ACCESS_KEY_MAX + 1);

	if (n == 0 || n > ACCESS_KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:+=@-",
		           k[i]) == NULL)
			return false;
	}
	return true;
}

/* Printable ASCII without spaces; the error names no character of it. */
static bool
secret_valid(const char *k)
{
	size_t n = strnlen(k, CFD_S3_SECRET_MAX + 1);

	if (n == 0 || n > CFD_S3_SECRET_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (k[i] < 0x21 || k[i] > 0x7e)
			return false;
	}
	return true;
}

static int
check_config(const struct cfd_s3_config *c)
{
	if (!cfd_s3_bucket_valid(c->bucket))
		return cf_err_set(CF_EINVAL, "invalid S3 bucket name '%s'", c->bucket);
	if (!cfd_s3_endpoint_valid(c->endpoint))
		return cf_err_set(CF_EINVAL,
		                  "invalid S3 endpoint '%s' (want http[s]://host[:port])",
		                  c->endpoint);
	if (!cfd_s3_region_valid(c->region))
		return cf_err_set(CF_EINVAL, "invalid S3 region '%s'", c->region);
	if (c->access_key == NULL || !access_key_valid(c->access_key))
		return cf_err_set(CF_EINVAL, "invalid S3 access key id");
	if (c->secret_key == NULL || !secret_valid(c->secret_key))
		return cf_err_set(CF_EINVAL, "invalid S3 secret access key");
	return 0;
}

int
cfd_s3_new(const struct cfd_s3_config *cfg, struct cfd_s3 **out)
{
	struct cfd_s3 *s = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	if ((rc = check_config(cfg)) != 0)
		return rc;
	s = cf_calloc(1, sizeof(*s));
	if (s == NULL)
		return CF_ENOMEM;
	if ((rc = cf_curlx_pool_init(&s->pool, S3_POOL_MAX)) != 0) {
		cfd_s3_free(s);
		return rc;
	}
	n = strlen(cfg->endpoint);
	memcpy(s->endpoint, cfg->endpoint, n + 1);
	if (n > 0 && s->endpoint[n - 1] == '/')
		s->endpoint[n - 1] = '\0';
	memcpy(s->bucket, cfg->bucket, strlen(cfg->bucket) + 1);
	(void)snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", cfg->region);
	s->attempts = cfg->attempts > 0 ? cfg->attempts : CFD_S3_ATTEMPTS;
	s->backoff_ms = cfg->backoff_ms > 0 ? cfg->backoff_ms : BACKOFF_MS;
	n = strlen(cfg->secret_key);
	s->access_key = cf_strdup(cfg->access_key);
	s->secret = sodium_malloc(n + 1);
	if (s->access_key == NULL || s->secret == NULL) {
		cfd_s3_free(s);
		return CF_ENOMEM;
	}
	memcpy(s->secret, cfg->secret_key, n + 1);
	*out = s;
	return 0;
}

void
cfd_s3_free(struct cfd_s3 *s)
{
	if (s == NULL)
		return;
	cf_curlx_pool_release(&s->pool);
	cf_free(s->access_key);
	sodium_free(s->secret); /* wipes; NULL is a no-op */
	cf_free(s);
}

const char *
cfd_s3_bucket(const struct cfd_s3 *s)
{
	return s->bucket;
}

/* ---- requests ---- */

void
s3_req_init(struct s3_req *q, const char *method, const char *key)
{
	memset(q, 0, sizeof(*q));
	q->method = method;
	q->key = key;
	q->fd = -1;
	q->length = -1;
	cf_buf_init(&q->resp, CFD_S3_LIST_MAX);
}

void
s3_req_release(struct s3_req *q)
{
	cf_buf_release(&q->resp);
}

void
s3_req_header(struct s3_req *q, const char *line)
{
	CF_ASSERT(q->nhdrs < S3_HDRS_MAX);
	q->hdrs[q->nhdrs++] = line;
}

/* Percent-encode @s (RFC 3986 unreserved characters stay, '/' too with @keep_slash). */
static int
encode(char *out, size_t cap, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		             (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
		             c == '~' || (keep_slash && c == '/');

		if (n + (plain ? 1 : 3) >= cap)
			return CF_ETOOBIG;
		if (plain) {
			out[n++] = (char)c;
			continue;
		}
		out[n++] = '%';
		out[n++] = hex[c >> 4];
		out[n++] = hex[c & 15];
	}
	out[n] = '\0';
	return 0;
}

int
s3_query_add(struct s3_req *q, const char *name, const char *value)
{
	size_t n = strlen(q->query);
	int k = snprintf(q->query + n, sizeof(q->query) - n, "%s%s=", n > 0 ? "&" : "", name);

	if (k < 0 || (size_t)k >= sizeof(q->query) - n)
		return CF_ETOOBIG;
	n += (size_t)k;
	return encode(q->query + n, sizeof(q->query) - n, value, false);
}

int
s3_fail(const struct cfd_s3 *s, const struct s3_req *q, const char *why)
{
	errno = 0;
	if (q->attempts > 1)
		return cf_err_set(CF_ESYS, "cannot %s 's3://%s/%s': %s (%u attempts)", q->method,
		                  s->bucket, q->key != NULL ? q->key : "", why, q->attempts);
	return cf_err_set(CF_ESYS, "cannot %s 's3://%s/%s': %s", q->method, s->bucket,
	                  q->key != NULL ? q->key : "", why);
}

static void
attempt_reset(struct s3_req *q)
{
	cf_buf_reset(&q->resp);
	q->status = 0;
	q->got = 0;
	q->length = -1;
	q->etag[0] = '\0';
	q->meta_sha[0] = '\0';
	q->text[0] = '\0';
	q->textlen = 0;
	q->code[0] = '\0';
	q->sent = 0;
	q->cb_rc = 0;
	q->head_done = false;
}

static bool
is_2xx(long status)
{
	return status >= 200 && status <= 299;
}

/* Once the headers are in: a 2xx answer's body must fit where it goes. */
static int
check_head(struct s3_req *q)
{
	curl_off_t cl = -1;

	q->head_done = true;
	(void)curl_easy_getinfo(q->h, CURLINFO_RESPONSE_CODE, &q->status);
	if (curl_easy_getinfo(q->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK && cl >= 0)
		q->length = (int64_t)cl;
	if (!is_2xx(q->status))
		return 0;
	if ((q->sink == S3_SINK_MEM || q->sink == S3_SINK_FD) && q->length >= 0 &&
	    (uint64_t)q->length != q->want)
		return CF_EFORMAT;
	if (q->sink == S3_SINK_MEM)
		q->resp.max = (size_t)q->want;
	return 0;
}

static size_t
keep_error_text(struct s3_req *q, const char *p, size_t n)
{
	size_t take = S3_TEXT_MAX - q->textlen;

	if (take > n)
		take = n;
	memcpy(q->text + q->textlen, p, take);
	q->textlen += take;
	q->text[q->textlen] = '\0';
	return n; /* the rest is read and dropped: the connection stays usable */
}

static int
sink_fd(struct s3_req *q, const char *p, size_t n)
{
	if (n > q->want - q->got)
		return CF_EFORMAT;
	while (n > 0) {
		ssize_t w = pwrite(q->fd, p, n, (off_t)q->got);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return cf_err_set(CF_ESYS, "cannot write a spooled S3 answer");
		p += w;
		n -= (size_t)w;
		q->got += (uint64_t)w;
	}
	return 0;
}

static size_t
on_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct s3_req *q = arg;
	size_t n = size * nmemb; /* libcurl passes size 1 */

	if (!q->head_done && (q->cb_rc = check_head(q)) != 0)
		return 0;
	if (!is_2xx(q->status))
		return keep_error_text(q, p, n);
	switch (q->sink) {
	case S3_SINK_NONE:
		return n;
	case S3_SINK_XML:
	case S3_SINK_MEM:
		q->cb_rc = cf_buf_put(&q->resp, p, n);
		break;
	case S3_SINK_FD:
		q->cb_rc = sink_fd(q, p, n);
		break;
	}
	return q->cb_rc == 0 ? n : 0;
}

static size_t
on_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct s3_req *q = arg;
	const struct cfd_s3_body *b = q->body;
	uint64_t left = b != NULL ? b->len - q->sent : 0;
	size_t n = size * nitems;
	ssize_t r;

	if (n > left)
		n = (size_t)left;
	if (n == 0)
		return 0;
	if (b->mem != NULL) {
		memcpy(buf, b->mem + q->sent, n);
		q->sent += n;
		return n;
	}
	do
		r = pread(b->fd, buf, n, (off_t)(b->off + q->sent));
	while (r < 0 && errno == EINTR);
	if (r <= 0) { /* the file is ours and complete: a short read is an I/O error */
		q->cb_rc = cf_err_set(CF_ESYS, "cannot read an upload");
		return CURL_READFUNC_ABORT;
	}
	q->sent += (uint64_t)r;
	return (size_t)r;
}

/* libcurl rewinds the body when it resends it on a fresh connection. */
static int
on_seek(void *arg, curl_off_t off, int origin)
{
	struct s3_req *q = arg;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > (q->body != NULL ? q->body->len : 0))
		return CURL_SEEKFUNC_CANTSEEK;
	q->sent = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

static int
setup_common(struct cfd_s3 *s, struct s3_req *q, char *errbuf)
{
	char key[3 * CFD_S3_KEY_MAX + 1];
	char url[URL_MAX];
	CURL *h = q->h;
	int bad = 0;
	int n;

	key[0] = '\0';
	if (q->key != NULL && encode(key, sizeof(key), q->key, true) != 0)
		return cf_err_set(CF_EINVAL, "S3 key '%s' is too long", q->key);
	n = snprintf(url, sizeof(url), "%s/%s%s%s%s%s", s->endpoint, s->bucket,
	             q->key != NULL ? "/" : "", key, q->query[0] != '\0' ? "?" : "", q->query);
	if (n < 0 || (size_t)n >= sizeof(url))
		return cf_err_set(CF_EINVAL, "S3 request for '%s' is too long", key);
	bad |= cf_curlx_set_basics(h, errbuf, LOW_SPEED_TIME_S) != 0;
	bad |= curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK;
	/* "" disables the http_proxy family: requests go to the endpoint configured */
	bad |= curl_easy_setopt(h, CURLOPT_PROXY, "") != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_TIMEOUT, q->timeout_s) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_USERNAME, s->access_key) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_PASSWORD, s->secret) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_WRITEDATA, q) != CURLE_OK;
	return bad ? CF_EINTERNAL : 0;
}

static int
setup_body(struct s3_req *q)
{
	CURL *h = q->h;
	int bad = 0;

	curl_off_t len = q->body != NULL ? (curl_off_t)q->body->len : 0;
	bool put = strcmp(q->method, "PUT") == 0;

	/* never without a read function: libcurl's default reads stdin */
	bad |= curl_easy_setopt(h, put ? CURLOPT_UPLOAD : CURLOPT_POST, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_READDATA, q) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_SEEKDATA, q) != CURLE_OK;
	bad |= curl_easy_setopt(h, put ? CURLOPT_INFILESIZE_LARGE : CURLOPT_POSTFIELDSIZE_LARGE,
	                        len) != CURLE_OK;
	return bad ? CF_EINTERNAL : 0;
}

static int
setup_method(struct s3_req *q)
{
	if (strcmp(q->method, "PUT") == 0 || strcmp(q->method, "POST") == 0)
		return setup_body(q);
	if (strcmp(q->method, "HEAD") == 0)
		return curl_easy_setopt(q->h, CURLOPT_NOBODY, 1L) == CURLE_OK ? 0 : CF_EINTERNAL;
	if (strcmp(q->method, "GET") == 0)
		return 0;
	return curl_easy_setopt(q->h, CURLOPT_CUSTOMREQUEST, q->method) == CURLE_OK ? 0
	                                                                            : CF_EINTERNAL;
}

/*
 * The payload hash (signed: libcurl puts the x-amz-* headers we set into the signature)
 * and the caller's headers. No "Expect:" to turn off 100-continue: libcurl 7.88 would sign
 * the empty header it does not send, and the store would refuse the signature.
 */
static int
make_headers(const struct s3_req *q, struct curl_slist **out)
{
	char line[sizeof("x-amz-content-sha256: ") + CFD_S3_SHA_HEX];
	int rc;

	(void)snprintf(line, sizeof(line), "x-amz-content-sha256: %s",
	               q->body != NULL ? q->body->sha : EMPTY_SHA256);
	if ((rc = cf_curlx_add_header(out, line)) != 0)
		return rc;
	for (size_t i = 0; i < q->nhdrs; i++) {
		if ((rc = cf_curlx_add_header(out, q->hdrs[i])) != 0)
			return rc;
	}
	if (q->content_type != NULL) {
		char ctype[64];

		(void)snprintf(ctype, sizeof(ctype), "Content-Type: %s", q->content_type);
		if ((rc = cf_curlx_add_header(out, ctype)) != 0)
			return rc;
	}
	return 0;
}

/* What the answer's headers say about the object. */
static void
read_answer_headers(struct s3_req *q)
{
	struct curl_header *hd = NULL;

	if (curl_easy_header(q->h, "ETag", 0, CURLH_HEADER, -1, &hd) == CURLHE_OK &&
	    strlen(hd->value) <= CFD_S3_ETAG_MAX)
		memcpy(q->etag, hd->value, strlen(hd->value) + 1);
	if (curl_easy_header(q->h, "x-amz-meta-sha256", 0, CURLH_HEADER, -1, &hd) == CURLHE_OK &&
	    strlen(hd->value) == CFD_S3_SHA_HEX)
		memcpy(q->meta_sha, hd->value, CFD_S3_SHA_HEX + 1);
}

/* Transport failures worth another attempt. */
static bool
curl_transient(CURLcode c)
{
	return c == CURLE_COULDNT_CONNECT || c == CURLE_COULDNT_RESOLVE_HOST ||
	       c == CURLE_OPERATION_TIMEDOUT || c == CURLE_SEND_ERROR || c == CURLE_RECV_ERROR ||
	       c == CURLE_GOT_NOTHING || c == CURLE_PARTIAL_FILE || c == CURLE_SSL_CONNECT_ERROR;
}

/* 5xx (503 is S3's SlowDown) and 429: the store asks us to come back later. */
static bool
status_transient(long status)
{
	return status == 429 || (status >= 500 && status <= 599);
}

/* What the attempts of one request work with. */
struct call {
	struct cfd_s3 *s;
	struct s3_req *q;
};

/* The outcome of one attempt; *@transient: whether another one may do better. */
static int
classify(void *arg, CURLcode c, const char *errbuf, bool *transient)
{
	const struct call *k = arg;
	const struct cfd_s3 *s = k->s;
	struct s3_req *q = k->q;

	*transient = false;
	if (c == CURLE_OK && !q->head_done)
		q->cb_rc = check_head(q);
	if (q->cb_rc == CF_EFORMAT)
		return s3_fail(s, q, "the answer's length is not the one asked for");
	if (q->cb_rc == CF_ETOOBIG)
		return s3_fail(s, q, "the answer is too long");
	if (q->cb_rc != 0)
		return q->cb_rc;
	if (c == CURLE_OUT_OF_MEMORY)
		return CF_ENOMEM;
	if (c != CURLE_OK) {
		char why[CURL_ERROR_SIZE + 64];

		*transient = curl_transient(c);
		(void)snprintf(why, sizeof(why), "%s",
		               errbuf[0] != '\0' ? errbuf : curl_easy_strerror(c));
		return s3_fail(s, q, why);
	}
	read_answer_headers(q);
	*transient = status_transient(q->status);
	return 0;
}

/* The options and headers of one attempt, on the handle in q->h. */
static int
setup(void *arg, char *errbuf, struct curl_slist **hdrs)
{
	const struct call *k = arg;
	int rc;

	attempt_reset(k->q);
	if ((rc = setup_common(k->s, k->q, errbuf)) != 0 || (rc = setup_method(k->q)) != 0 ||
	    (rc = make_headers(k->q, hdrs)) != 0)
		goto out;
	if (curl_easy_setopt(k->q->h, CURLOPT_HTTPHEADER, *hdrs) != CURLE_OK)
		rc = CF_EINTERNAL;
out:
	if (rc == CF_EINTERNAL)
		return s3_fail(k->s, k->q, "cannot set up the request");
	return rc;
}

/* A final non-2xx status as an error; the message has S3's <Code> when it sent one. */
static int
status_error(const struct cfd_s3 *s, struct s3_req *q)
{
	char why[S3_CODE_MAX + 128];

	if (q->textlen > 0 && cfd_s3_xml_field((const uint8_t *)q->text, q->textlen, "Error",
	                                       "Code", q->code, sizeof(q->code)) != 0)
		q->code[0] = '\0';
	if (q->status == 404)
		return cf_err_set(CF_ENOENT, "no object 's3://%s/%s'", s->bucket,
		                  q->key != NULL ? q->key : "");
	if (q->status == 412)
		return cf_err_set(CF_EEXIST, "'s3://%s/%s' exists", s->bucket,
		                  q->key != NULL ? q->key : "");
	(void)snprintf(
	        why, sizeof(why), "HTTP %ld%s%s%s", q->status, q->code[0] ? " " : "", q->code,
	        q->status == 403 ? " (check the access key id and the secret access key)" : "");
	return s3_fail(s, q, why);
}

int
s3_perform(struct cfd_s3 *s, struct s3_req *q)
{
	struct call k = {.s = s, .q = q};
	const struct cf_curlx_req req = {
	        .setup = setup,
	        .finish = classify,
	        .arg = &k,
	        .h = &q->h,
	        .attempts = &q->attempts,
	        .tries = s->attempts,
	        .backoff_ms = s->backoff_ms,
	};
	bool transient = false;
	int rc;

	rc = cf_curlx_perform(&s->pool, &req, &transient);
	if (rc != 0 || is_2xx(q->status))
		return rc;
	return status_error(s, q);
}
