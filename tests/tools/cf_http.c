/*
 * cf_http.c - a test tool that sends one request to cofferd signed as docs/format.md 15.1
 * says, or signed wrongly on purpose, for adversarial system tests (tests/system/
 * test_cofferd.sh): forged signatures, replayed nonces, clock skew, lying content hashes,
 * another device's id. Test-only: built with the library's internal headers, never installed.
 *
 *   cf_http --key DEVICE_KEY_FILE --url URL [--method M] [--body FILE] [--out FILE]
 *           [--headers-out FILE]
 *           [--time-offset S] [--nonce HEX] [--bad-sig] [--content-sha256 HEX]
 *           [--sign-path PATH_AND_QUERY] [--as-device HEX] [--header 'Name: value']...
 *           [--no-auth] [--cacert FILE] [--limit-rate BYTES_PER_S] [--print-status]
 *
 * The body (default: none) is hashed, then streamed. Without --out the response body goes
 * to stdout, or is discarded with --print-status, which prints the status code instead.
 * Exit status: 0 a 2xx answer (any answer with --print-status), 1 otherwise or on error,
 * 2 usage.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/base.h"
#include "crypto/crypto.h"
#include "device/device.h"

#define MAX_HEADERS 8
#define TEXT_MAX    2048
#define LABEL       "coffer.v1.http\n"
#define HASH_CHUNK  65536

struct args {
	const char *key;
	const char *url;
	const char *method;
	const char *body;
	const char *out;
	const char *headers_out;
	const char *nonce;
	const char *sha;
	const char *sign_path;
	const char *as_device;
	const char *cacert;
	const char *headers[MAX_HEADERS];
	size_t nheaders;
	long long offset;
	long long rate;
	bool bad_sig;
	bool no_auth;
	bool print_status;
};

struct request {
	char path[TEXT_MAX];  /* path as sent */
	char query[TEXT_MAX]; /* after '?', or "" */
	char sha[2 * CF_HASH_BYTES + 1];
	char auth[TEXT_MAX];
	FILE *body;
	uint64_t body_len;
};

static int
usage(void)
{
	(void)fputs(
	        "usage: cf_http --key DEVICE_KEY_FILE --url URL [--method M] [--body FILE]\n"
	        "       [--out FILE] [--headers-out FILE] [--time-offset S] [--nonce HEX]\n"
	        "       [--bad-sig] [--content-sha256 HEX] [--sign-path PATH] [--as-device HEX]\n"
	        "       [--header 'Name: value']... [--no-auth] [--cacert FILE]\n"
	        "       [--limit-rate BYTES_PER_S] [--print-status]\n",
	        stderr);
	return 2;
}

static int
fail(const char *what)
{
	const char *m = cf_err_last();

	(void)fprintf(stderr, "cf_http: %s%s%s\n", what, m[0] != '\0' ? ": " : "", m);
	return 1;
}

static const char **
value_slot(struct args *a, const char *opt)
{
	static const struct {
		const char *name;
		size_t off;
	} map[] = {
	        {"--key", offsetof(struct args, key)},
	        {"--url", offsetof(struct args, url)},
	        {"--method", offsetof(struct args, method)},
	        {"--body", offsetof(struct args, body)},
	        {"--out", offsetof(struct args, out)},
	        {"--headers-out", offsetof(struct args, headers_out)},
	        {"--nonce", offsetof(struct args, nonce)},
	        {"--content-sha256", offsetof(struct args, sha)},
	        {"--sign-path", offsetof(struct args, sign_path)},
	        {"--as-device", offsetof(struct args, as_device)},
	        {"--cacert", offsetof(struct args, cacert)},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(opt, map[i].name) == 0)
			return (const char **)(void *)((char *)a + map[i].off);
	}
	return NULL;
}

static int
parse_flag(struct args *a, const char *opt)
{
	if (strcmp(opt, "--bad-sig") == 0)
		a->bad_sig = true;
	else if (strcmp(opt, "--no-auth") == 0)
		a->no_auth = true;
	else if (strcmp(opt, "--print-status") == 0)
		a->print_status = true;
	else
		return -1;
	return 0;
}

static int
parse_ll(const char *s, long long *out)
{
	char *end = NULL;

	*out = strtoll(s, &end, 10);
	return *s == '\0' || *end != '\0' ? -1 : 0;
}

static int
parse_args(int argc, char **argv, struct args *a)
{
	memset(a, 0, sizeof(*a));
	a->method = "GET";
	for (int i = 1; i < argc; i++) {
		const char **slot = value_slot(a, argv[i]);
		bool more = i + 1 < argc;

		if (parse_flag(a, argv[i]) == 0)
			continue;
		if (slot != NULL && more) {
			*slot = argv[++i];
		} else if (strcmp(argv[i], "--header") == 0 && more && a->nheaders < MAX_HEADERS) {
			a->headers[a->nheaders++] = argv[++i];
		} else if (strcmp(argv[i], "--time-offset") == 0 && more) {
			if (parse_ll(argv[++i], &a->offset) != 0)
				return -1;
		} else if (strcmp(argv[i], "--limit-rate") == 0 && more) {
			if (parse_ll(argv[++i], &a->rate) != 0 || a->rate < 0)
				return -1;
		} else {
			return -1;
		}
	}
	return a->url != NULL && (a->key != NULL || a->no_auth) ? 0 : -1;
}

/* Path and query exactly as they will be sent: the text after the authority. */
static int
split_url(const char *text, struct request *rq)
{
	const char *p = strstr(text, "://");
	const char *q = NULL;
	size_t n = 0;

	p = p == NULL ? text : p + 3;
	p = strchr(p, '/');
	if (p == NULL)
		p = "/";
	q = strchr(p, '?');
	n = q == NULL ? strlen(p) : (size_t)(q - p);
	if (n >= sizeof(rq->path) || (q != NULL && strlen(q + 1) >= sizeof(rq->query)))
		return -1;
	memcpy(rq->path, p, n);
	rq->path[n] = '\0';
	(void)snprintf(rq->query, sizeof(rq->query), "%s", q == NULL ? "" : q + 1);
	return 0;
}

static int
hash_body(const char *path, struct request *rq)
{
	struct cf_hash_ctx *h = NULL;
	uint8_t hash[CF_HASH_BYTES];
	int rc;

	if ((rc = cf_hash_ctx_new(&h)) != 0)
		return rc;
	if (path != NULL) {
		rq->body = fopen(path, "rb");
		if (rq->body == NULL) {
			cf_hash_ctx_free(h);
			return cf_err_set(CF_ESYS, "cannot open '%s'", path);
		}
		static uint8_t buf[HASH_CHUNK];
		size_t n = 0;

		while ((n = fread(buf, 1, sizeof(buf), rq->body)) > 0) {
			cf_hash_ctx_update(h, buf, n);
			rq->body_len += n;
		}
		rewind(rq->body);
	}
	cf_hash_ctx_final(h, hash);
	cf_hash_ctx_free(h);
	cf_hex(rq->sha, hash, sizeof(hash));
	return 0;
}

static int
load_device(const char *path, struct cf_device **out)
{
	uint8_t buf[CF_DEVICE_FILE_MAX + 1];
	FILE *f = fopen(path, "rb");
	size_t n = 0;
	int rc;

	if (f == NULL)
		return cf_err_set(CF_ESYS, "cannot open '%s'", path);
	n = fread(buf, 1, sizeof(buf), f);
	(void)fclose(f);
	rc = cf_device_load(buf, n, NULL, 0, out);
	cf_wipe(buf, sizeof(buf));
	return rc;
}

/* The canonical string after the label: METHOD, PATH, QUERY, SHA, TIME, NONCE. */
static int
canonical(const struct args *a, const struct request *rq, const char *tm, const char *nonce,
          char *out, size_t cap)
{
	int n;

	if (a->sign_path != NULL)
		n = snprintf(out, cap, "%s\n%.*s\n%s\n%s\n%s\n%s", a->method,
		             (int)strcspn(a->sign_path, "?"), a->sign_path,
		             strchr(a->sign_path, '?') != NULL ? strchr(a->sign_path, '?') + 1 : "",
		             rq->sha, tm, nonce);
	else
		n = snprintf(out, cap, "%s\n%s\n%s\n%s\n%s\n%s", a->method, rq->path, rq->query,
		             rq->sha, tm, nonce);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int
sign_request(const struct args *a, struct request *rq)
{
	struct cf_device *d = NULL;
	char tm[32];
	char nonce[33];
	char msg[4 * TEXT_MAX];
	uint8_t sig[CF_SIG_BYTES];
	uint8_t rnd[16];
	int rc;

	if ((rc = load_device(a->key, &d)) != 0)
		return rc;
	(void)snprintf(tm, sizeof(tm), "%lld", (long long)time(NULL) + a->offset);
	cf_random(rnd, sizeof(rnd));
	cf_hex(nonce, rnd, sizeof(rnd));
	if (a->nonce != NULL)
		(void)snprintf(nonce, sizeof(nonce), "%s", a->nonce);
	rc = canonical(a, rq, tm, nonce, msg, sizeof(msg)) != 0
	             ? CF_ETOOBIG
	             : cf_sign2(sig, d->sign, LABEL, strlen(LABEL), msg, strlen(msg));
	if (rc == 0) {
		char idhex[2 * CF_ID_BYTES + 1];
		char sighex[2 * CF_SIG_BYTES + 1];

		if (a->bad_sig)
			sig[10] ^= 0x01;
		cf_hex(sighex, sig, sizeof(sig));
		cf_hex(idhex, d->id, sizeof(d->id));
		(void)snprintf(rq->auth, sizeof(rq->auth),
		               "Authorization: Coffer-Ed25519 device=%s,time=%s,nonce=%s,sig=%s",
		               a->as_device != NULL ? a->as_device : idhex, tm, nonce, sighex);
	}
	cf_device_free(d);
	return rc;
}

static struct curl_slist *
header_list(const struct args *a, const struct request *rq)
{
	struct curl_slist *l = NULL;
	char sha[128];

	(void)snprintf(sha, sizeof(sha), "X-Coffer-Content-SHA256: %s", rq->sha);
	l = curl_slist_append(l, sha);
	if (l != NULL && !a->no_auth)
		l = curl_slist_append(l, rq->auth);
	for (size_t i = 0; l != NULL && i < a->nheaders; i++)
		l = curl_slist_append(l, a->headers[i]);
	return l;
}

static void
set_method(CURL *c, const struct args *a, struct request *rq)
{
	(void)curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, a->method);
	if (strcmp(a->method, "HEAD") == 0)
		(void)curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (rq->body != NULL) {
		(void)curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		(void)curl_easy_setopt(c, CURLOPT_READDATA, rq->body);
		(void)curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->body_len);
	}
}

static int
perform(const struct args *a, struct request *rq, FILE *out, long *status)
{
	struct curl_slist *hdrs = header_list(a, rq);
	FILE *hout = a->headers_out != NULL ? fopen(a->headers_out, "wb") : NULL;
	CURL *c = curl_easy_init();
	CURLcode cc = CURLE_FAILED_INIT;

	if (c != NULL && hdrs != NULL && (hout != NULL || a->headers_out == NULL)) {
		if (hout != NULL)
			(void)curl_easy_setopt(c, CURLOPT_HEADERDATA, hout);
		(void)curl_easy_setopt(c, CURLOPT_URL, a->url);
		(void)curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
		(void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		(void)curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
		(void)curl_easy_setopt(c, CURLOPT_TIMEOUT, 600L);
		if (a->cacert != NULL)
			(void)curl_easy_setopt(c, CURLOPT_CAINFO, a->cacert);
		if (a->rate > 0)
			(void)curl_easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE,
			                       (curl_off_t)a->rate);
		set_method(c, a, rq);
		cc = curl_easy_perform(c);
		(void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	}
	if (cc != CURLE_OK)
		(void)fprintf(stderr, "cf_http: %s\n", curl_easy_strerror(cc));
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	if (hout != NULL)
		(void)fclose(hout);
	return cc == CURLE_OK ? 0 : -1;
}

static FILE *
open_out(const struct args *a)
{
	if (a->out != NULL)
		return fopen(a->out, "wb");
	if (a->print_status)
		return fopen("/dev/null", "wb");
	return stdout;
}

int
main(int argc, char **argv)
{
	struct args a;
	struct request rq;
	FILE *out = NULL;
	long status = 0;
	int rc;

	if (parse_args(argc, argv, &a) != 0)
		return usage();
	memset(&rq, 0, sizeof(rq));
	if (cf_init() != 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return fail("cannot initialise");
	if (split_url(a.url, &rq) != 0)
		return fail("URL too long");
	if ((rc = hash_body(a.body, &rq)) != 0)
		return fail("cannot read the body");
	/* a lying hash is signed as well: the server must catch it by hashing the body */
	if (a.sha != NULL)
		(void)snprintf(rq.sha, sizeof(rq.sha), "%s", a.sha);
	if (!a.no_auth && (rc = sign_request(&a, &rq)) != 0)
		return fail("cannot sign the request");
	out = open_out(&a);
	if (out == NULL)
		return fail("cannot open the output");
	rc = perform(&a, &rq, out, &status);
	if (out != stdout)
		(void)fclose(out);
	if (rq.body != NULL)
		(void)fclose(rq.body);
	curl_global_cleanup();
	if (rc != 0)
		return 1;
	if (a.print_status)
		(void)printf("%ld\n", status);
	else if (status < 200 || status > 299)
		(void)fprintf(stderr, "cf_http: HTTP %ld\n", status);
	return a.print_status || (status >= 200 && status <= 299) ? 0 : 1;
}
