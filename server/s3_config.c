/*
 * s3_config.c - an S3 client from a URI and the environment's credentials (s3.h).
 *
 *   s3://BUCKET?endpoint=http://127.0.0.1:7480&region=us-east-1
 *
 * The credentials never come from the command line, where other users see them in the
 * process list: the file named by COFFERD_S3_CREDENTIALS, or AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY. The file must not be accessible to group or others, as ssh
 * demands of a private key. What is read is wiped from memory once the client holds its
 * copy, and no message quotes any of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "s3.h"

#define URI_MAX        1024
#define URI_SCHEME     "s3://"
#define REGION_DEFAULT "us-east-1"
#define CREDS_FILE_MAX 4096
#define FIELD_MAX      CFD_S3_SECRET_MAX

struct s3_uri {
	char bucket[CFD_S3_BUCKET_MAX + 1];
	char endpoint[CFD_S3_ENDPOINT_MAX + 1];
	char region[CFD_S3_REGION_MAX + 1];
};

struct s3_creds {
	char access_key[FIELD_MAX + 1];
	char secret[FIELD_MAX + 1];
};

/* ---- the URI ---- */

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The @n bytes at @s, percent-decoded, into @out (at most @cap - 1 bytes, no NUL within). */
static int
decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi = hex_digit(i + 1 < n ? s[i + 1] : 0);
			int lo = hex_digit(i + 2 < n ? s[i + 2] : 0);

			if (hi < 0 || lo < 0)
				return CF_EINVAL;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == 0 || k + 1 >= cap)
			return CF_EINVAL;
		out[k++] = (char)c;
	}
	out[k] = '\0';
	return 0;
}

/* One name=value of the query: where its value goes. */
static int
uri_param(struct s3_uri *u, const char *p, size_t n, bool seen[2])
{
	const char *eq = memchr(p, '=', n);
	size_t nlen = eq != NULL ? (size_t)(eq - p) : n;
	char *dst = NULL;
	size_t cap = 0;
	int which = -1;

	if (eq != NULL && nlen == 8 && memcmp(p, "endpoint", 8) == 0) {
		which = 0;
		dst = u->endpoint;
		cap = sizeof(u->endpoint);
	} else if (eq != NULL && nlen == 6 && memcmp(p, "region", 6) == 0) {
		which = 1;
		dst = u->region;
		cap = sizeof(u->region);
	}
	if (which < 0)
		return cf_err_set(CF_EINVAL,
		                  "unknown S3 URI parameter '%.*s' (want endpoint=, region=)",
		                  (int)(nlen < 32 ? nlen : 32), p);
	if (seen[which])
		return cf_err_set(CF_EINVAL, "S3 URI parameter '%.*s' given twice", (int)nlen, p);
	seen[which] = true;
	if (decode(eq + 1, n - nlen - 1, dst, cap) != 0)
		return cf_err_set(CF_EINVAL, "S3 URI parameter '%.*s' is malformed or too long",
		                  (int)nlen, p);
	return 0;
}

static int
parse_uri(const char *uri, struct s3_uri *u)
{
	size_t len = strnlen(uri, URI_MAX + 1);
	const char *p = uri + sizeof(URI_SCHEME) - 1;
	const char *q = NULL;
	bool seen[2] = {false, false};
	size_t blen = 0;

	memset(u, 0, sizeof(*u));
	if (len > URI_MAX || strncmp(uri, URI_SCHEME, sizeof(URI_SCHEME) - 1) != 0)
		return cf_err_set(CF_EINVAL, "S3 store wants s3://BUCKET?endpoint=URL[&region=R]");
	q = strchr(p, '?');
	if (q == NULL)
		q = uri + len;
	blen = (size_t)(q - p);
	if (blen <= CFD_S3_BUCKET_MAX)
		memcpy(u->bucket, p, blen);
	if (blen > CFD_S3_BUCKET_MAX || !cfd_s3_bucket_valid(u->bucket))
		return cf_err_set(CF_EINVAL, "invalid S3 bucket name '%.*s'",
		                  (int)(blen < 64 ? blen : 64), p);
	while (*q != '\0') {
		const char *end = strchr(q + 1, '&');
		int rc;

		if (end == NULL)
			end = q + strlen(q);
		if ((rc = uri_param(u, q + 1, (size_t)(end - q - 1), seen)) != 0)
			return rc;
		q = end;
	}
	if (!seen[0])
		return cf_err_set(CF_EINVAL,
		                  "S3 URI has no endpoint= (e.g. endpoint=https://host)");
	if (!seen[1])
		memcpy(u->region, REGION_DEFAULT, sizeof(REGION_DEFAULT));
	return 0;
}

/* ---- credentials ---- */

/* Copy a credential field; its text is never quoted in a message. */
static int
set_field(char *dst, const char *src, size_t n, const char *what)
{
	if (n == 0 || n > FIELD_MAX)
		return cf_err_set(CF_EINVAL, "S3 %s is empty or longer than %d bytes", what,
		                  FIELD_MAX);
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

static size_t
trim(const char **s, size_t n)
{
	while (n > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		n--;
	}
	while (n > 0 && ((*s)[n - 1] == ' ' || (*s)[n - 1] == '\t' || (*s)[n - 1] == '\r'))
		n--;
	return n;
}

/* A KEY=VALUE line: the two names we know (in either case); others are ignored. */
static int
creds_pair(const char *line, size_t n, struct s3_creds *c)
{
	const char *eq = memchr(line, '=', n);
	const char *v = eq + 1;
	size_t klen = trim(&line, (size_t)(eq - line));
	size_t vlen = trim(&v, n - (size_t)(eq + 1 - line));

	if (klen == 17 && strncasecmp(line, "AWS_ACCESS_KEY_ID", 17) == 0)
		return set_field(c->access_key, v, vlen, "access key id");
	if (klen == 21 && strncasecmp(line, "AWS_SECRET_ACCESS_KEY", 21) == 0)
		return set_field(c->secret, v, vlen, "secret access key");
	return 0;
}

/*
 * Either two lines (the access key id, then the secret) or KEY=VALUE lines. Empty lines,
 * '#' comments and "[section]" headers (as in ~/.aws/credentials) are skipped.
 */
static int
creds_parse(const char *text, size_t len, const char *path, struct s3_creds *c)
{
	size_t plain = 0;
	bool pairs = false;
	int rc;

	while (len > 0) {
		const char *nl = memchr(text, '\n', len);
		size_t n = nl != NULL ? (size_t)(nl - text) : len;
		const char *line = text;
		size_t tn = trim(&line, n);

		text += n < len ? n + 1 : n;
		len -= n < len ? n + 1 : n;
		if (tn == 0 || line[0] == '#' || line[0] == '[')
			continue;
		if (memchr(line, '=', tn) != NULL && plain == 0) {
			pairs = true;
			rc = creds_pair(line, tn, c);
		} else if (!pairs && plain < 2) {
			rc = plain++ == 0 ? set_field(c->access_key, line, tn, "access key id")
			                  : set_field(c->secret, line, tn, "secret access key");
		} else {
			rc = cf_err_set(CF_EINVAL, "'%s': want two lines or KEY=VALUE lines", path);
		}
		if (rc != 0)
			return rc;
	}
	if (c->access_key[0] == '\0' || c->secret[0] == '\0')
		return cf_err_set(CF_EINVAL, "'%s' lacks the access key id or the secret", path);
	return 0;
}

static int
read_fd(int fd, char *buf, size_t cap, size_t *len)
{
	*len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + *len, cap - *len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return CF_ESYS;
		if (n == 0)
			return 0;
		*len += (size_t)n;
		if (*len == cap)
			return CF_ETOOBIG;
	}
}

static int
creds_file(const char *path, struct s3_creds *c)
{
	struct stat st;
	char buf[CREDS_FILE_MAX];
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int rc;

	if (fd < 0)
		return cf_err_set(CF_ESYS, "cannot open '%s'", path);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = cf_err_set(CF_EINVAL, "'%s' is not a regular file", path);
		goto out;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		rc = cf_err_set(CF_EINVAL,
		                "'%s' must not be accessible to group or others "
		                "(chmod 600)",
		                path);
		goto out;
	}
	rc = read_fd(fd, buf, sizeof(buf), &len);
	if (rc == CF_ETOOBIG)
		rc = cf_err_set(rc, "'%s' is larger than %d bytes", path, CREDS_FILE_MAX);
	else if (rc != 0)
		rc = cf_err_set(rc, "cannot read '%s'", path);
	else
		rc = creds_parse(buf, len, path, c);
out:
	sodium_memzero(buf, sizeof(buf));
	(void)close(fd);
	return rc;
}

static int
creds_load(struct s3_creds *c)
{
	/* read at start-up, before the server's threads exist */
	const char *f = getenv("COFFERD_S3_CREDENTIALS"); /* NOLINT(concurrency-mt-unsafe) */
	const char *ak = getenv("AWS_ACCESS_KEY_ID");     /* NOLINT(concurrency-mt-unsafe) */
	const char *sk = getenv("AWS_SECRET_ACCESS_KEY"); /* NOLINT(concurrency-mt-unsafe) */
	int rc;

	memset(c, 0, sizeof(*c));
	if (f != NULL && f[0] != '\0')
		return creds_file(f, c);
	if (ak == NULL || sk == NULL || ak[0] == '\0' || sk[0] == '\0')
		return cf_err_set(CF_EINVAL,
		                  "no S3 credentials: set COFFERD_S3_CREDENTIALS to a "
		                  "file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
	if ((rc = set_field(c->access_key, ak, strnlen(ak, FIELD_MAX + 1), "access key id")) != 0)
		return rc;
	return set_field(c->secret, sk, strnlen(sk, FIELD_MAX + 1), "secret access key");
}

int
cfd_s3_open_uri(const char *uri, struct cfd_s3 **out)
{
	struct cfd_s3_config cfg;
	struct s3_creds creds;
	struct s3_uri u;
	int rc;

	*out = NULL;
	memset(&creds, 0, sizeof(creds));
	if ((rc = parse_uri(uri, &u)) != 0 || (rc = creds_load(&creds)) != 0)
		goto out;
	memset(&cfg, 0, sizeof(cfg));
	cfg.endpoint = u.endpoint;
	cfg.region = u.region;
	cfg.bucket = u.bucket;
	cfg.access_key = creds.access_key;
	cfg.secret_key = creds.secret;
	rc = cfd_s3_new(&cfg, out);
out:
	sodium_memzero(&creds, sizeof(creds));
	return rc;
}
