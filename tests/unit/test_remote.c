/*
 * test_remote.c - the cofferd client's pure parts (docs/format.md 15): repository URLs, the
 * request signature of 15.1 (pinned bytes in tests/vectors/remote.txt), listing pages,
 * Content-Range, status codes and their messages; and what the store does without a server
 * (open sends nothing, a closed port gives a clear error).
 *
 * CF_GEN_VECTORS=1 prints tests/vectors/remote.txt. Ed25519 is deterministic, so the file
 * is reproducible; it was generated once and cross-checked with Python's cryptography.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "harness.h"
#include "remote/remote.h"
#include "store/store.h"

#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- URLs ---- */

CF_TEST(url_valid)
{
	struct cf_remote_url u;

	CHECK(cf_remote_url_parse("http://localhost:8080/alice", &u) == 0);
	CHECK(!u.tls && u.port == 8080 && strcmp(u.host, "localhost") == 0 &&
	      strcmp(u.account, "alice") == 0);
	CHECK(cf_remote_url_parse("HTTPS://Backup.Example.com/bob_1-x/", &u) == 0);
	CHECK(u.tls && u.port == 443 && strcmp(u.host, "Backup.Example.com") == 0 &&
	      strcmp(u.account, "bob_1-x") == 0);
	CHECK(cf_remote_url_parse("http://h/a", &u) == 0 && u.port == 80);
	CHECK(cf_remote_url_parse("http://[::1]:9/a", &u) == 0);
	CHECK(strcmp(u.host, "[::1]") == 0 && u.port == 9);
	CHECK(cf_remote_url_parse("http://127.0.0.1:65535/z", &u) == 0 && u.port == 65535);
	CHECK(cf_remote_url_parse(
	              "http://h:1/"
	              "0123456789012345678901234567890123456789012345678901234567890123",
	              &u) == 0);
	CHECK(strlen(u.account) == 64);
}

CF_TEST(url_invalid)
{
	static const char *const bad[] = {
	        "",
	        "ftp://h/a",
	        "http:/h/a",
	        "http://",
	        "http:///a",
	        "http://h",
	        "http://h/",
	        "http://h:0/a",
	        "http://h:65536/a",
	        "http://h:080/a",
	        "http://h:/a",
	        "http://h:8080",
	        "http://h:8x/a",
	        "http://u@h/a",
	        "http://u:p@h/a",
	        "http://h/A",
	        "http://h/a/b",
	        "http://h/a?x",
	        "http://h/a#f",
	        "http://h/a//",
	        "http://h /a",
	        "http://h/a b",
	        "http://h/a.b",
	        "http://-h/a",
	        "http://.h/a",
	        "http://[::1/a",
	        "http://[]/a",
	        "http://[g::1]/a",
	        "http://h/0123456789012345678901234567890123456789012345678901234567890123x",
	        "http://h:99999999999999999999999/a",
	};
	struct cf_remote_url u;

	for (size_t i = 0; i < CF_ARRAY_LEN(bad); i++) {
		int rc = cf_remote_url_parse(bad[i], &u);

		CHECK(rc == CF_EINVAL);
		if (rc != CF_EINVAL)
			fprintf(stderr, "  accepted '%s'\n", bad[i]);
		CHECK(strstr(cf_err_last(), "invalid repository URL") != NULL);
	}
	CHECK(cf_remote_url_parse(NULL, &u) == CF_EINVAL);
	CHECK(cf_remote_url_parse("http://h/bad!", &u) == CF_EINVAL);
	CHECK(strstr(cf_err_last(), "'http://h/bad!'") != NULL);
	CHECK(strstr(cf_err_last(), "http(s)://HOST:PORT/ACCOUNT") != NULL);
}

CF_TEST(url_is)
{
	CHECK(cf_remote_url_is("http://h/a"));
	CHECK(cf_remote_url_is("HTTPS://h/a"));
	CHECK(!cf_remote_url_is("/srv/backup"));
	CHECK(!cf_remote_url_is("httpx://h/a"));
	CHECK(!cf_remote_url_is("http:/h"));
	CHECK(!cf_remote_url_is(NULL));
}

/* ---- the request signature ---- */

static void
fill(uint8_t *p, size_t n, uint8_t start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(start + i);
}

/* The fixed identity of the vectors: sign seed 01..20, device id a0..bf. */
static struct cf_signkey *
fixed_key(struct cf_remote_auth *auth)
{
	struct cf_signkey *k = NULL;
	uint8_t seed[32];

	fill(seed, sizeof(seed), 0x01);
	CHECK(cf_signkey_from_seed(seed, &k) == 0);
	auth->sign = k;
	fill(auth->device, sizeof(auth->device), 0xa0);
	return k;
}

static void
sig_in(struct cf_remote_sig_in *in, const char *method, const char *path, const char *query,
       const uint8_t *body, size_t len, int64_t t)
{
	uint8_t h[CF_HASH_BYTES];
	uint8_t nonce[CF_REMOTE_NONCE_BYTES];

	memset(in, 0, sizeof(*in));
	in->method = method;
	in->path = path;
	in->query = query;
	cf_hash(h, body, len);
	cf_hex(in->content_sha256, h, sizeof(h));
	in->time = t;
	fill(nonce, sizeof(nonce), 0x10);
	cf_hex(in->nonce, nonce, sizeof(nonce));
}

CF_TEST(canonical_exact)
{
	struct cf_remote_sig_in in;
	char out[CF_REMOTE_CANON_MAX];
	size_t len = 0;
	const char *want = "coffer.v1.http\n"
	                   "GET\n"
	                   "/v1/alice/packs/\n"
	                   "after=00ff&limit=10000\n" EMPTY_SHA "\n"
	                   "1700000000\n"
	                   "101112131415161718191a1b1c1d1e1f";

	sig_in(&in, "GET", "/v1/alice/packs/", "after=00ff&limit=10000", (const uint8_t *)"", 0,
	       1700000000);
	CHECK(cf_remote_canonical(&in, out, sizeof(out), &len) == 0);
	CHECK(len == strlen(want) && strcmp(out, want) == 0);
	/* no query: an empty line; a negative time is written as such */
	in.query = "";
	in.time = -5;
	CHECK(cf_remote_canonical(&in, out, sizeof(out), &len) == 0);
	CHECK(strstr(out, "/v1/alice/packs/\n\n" EMPTY_SHA "\n-5\n") != NULL);
	CHECK(cf_remote_canonical(&in, out, 20, &len) == CF_ETOOBIG && len == 0);
}

CF_TEST(canonical_refuses)
{
	struct cf_remote_sig_in in;
	char out[CF_REMOTE_CANON_MAX];
	char longpath[CF_REMOTE_PATH_MAX + 2];
	size_t len = 0;

	sig_in(&in, "GET", "/v1/a/keys/ab", "", (const uint8_t *)"", 0, 1);
	CHECK(cf_remote_canonical(&in, out, sizeof(out), &len) == 0);
	in.method = "get";
	CHECK(cf_remote_canonical(&in, out, sizeof(out), &len) == CF_EINVAL);
	in.method = "";
	CHECK(cf_remote_canonical(&in, out, sizeof(out), &len) == CF_EINVAL);
	in.method = "GETGETGET";
	CHECK(cf_remote_canonical(&in, out, sizeof(out), &len) == CF_EINVAL);
	in.method = "GET";
	in.path = "v1/a";
	CHECK(cf_remote_canonical(&in, out, sizeof(out), &len) == CF_EINVAL);
	in.path = "/v1/a\n/b";
	CHECK(cf_remote_canonical(&in, out, sizeof(out), &len) == CF_EINVAL);
	in.path = "/v1/a b";
	CHECK(cf_remote_canonical(&in, out, sizeof(out), &len) == CF_EINVAL);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	in.path = longpath;
	CHECK(cf_remote_canonical(&in, out, sizeof(out), &len) == CF_EINVAL);
	longpath[sizeof(longpath) - 2] = '\0'; /* exactly CF_REMOTE_PATH_MAX */
	CHECK(cf_remote_canonical(&in, out, sizeof(out), &len) == 0);
	in.path = "/v1/a";
	in.query = "a=1\nb=2";
	CHECK(cf_remote_canonical(&in, out, sizeof(out), &len) == CF_EINVAL);
	in.query = "";
	in.content_sha256[0] = 'E';
	CHECK(cf_remote_canonical(&in, out, sizeof(out), &len) == CF_EINVAL);
	in.content_sha256[0] = 'e';
	in.nonce[31] = '\0';
	CHECK(cf_remote_canonical(&in, out, sizeof(out), &len) == CF_EINVAL);
}

/* The pieces of one vector record, from the file or for generating it. */
struct sig_case {
	const char *method;
	const char *path;
	const char *query;
	const char *body;
	int64_t time;
};

static const struct sig_case sig_cases[] = {
        {"GET", "/v1/alice/chain/0000000000000000", "", "", 1700000000},
        {"PUT", "/v1/alice/keys/a0a1-00000000", "", "key slot bytes", 1700000001},
        {"GET", "/v1/alice/packs/", "after=00ff&limit=10000", "", 1700000002},
        {"DELETE", "/v1/bob/snapshots/ab", "", "", 1700000003},
        {"POST", "/v1/bob/enroll", "", "genesis", 1700000004},
        {"HEAD", "/v1/carol-1/index/00", "", "", 1700000005},
};

static void
case_sig_in(struct cf_remote_sig_in *in, const struct sig_case *c)
{
	sig_in(in, c->method, c->path, c->query, (const uint8_t *)c->body, strlen(c->body),
	       c->time);
}

static void
gen_vectors(void)
{
	struct cf_remote_auth auth;
	struct cf_signkey *k = fixed_key(&auth);

	printf("# Request signatures (docs/format.md 15.1). Generated once by CF_GEN_VECTORS=1\n"
	       "# test_remote: sign seed 01..20, device id a0..bf, nonce 10..1f. canonical is\n"
	       "# the signed string in hex; authorization the header value.\n\n");
	for (size_t i = 0; i < CF_ARRAY_LEN(sig_cases); i++) {
		const struct sig_case *c = &sig_cases[i];
		struct cf_remote_sig_in in;
		char canon[CF_REMOTE_CANON_MAX];
		char hex[2 * CF_REMOTE_CANON_MAX + 1];
		char authz[CF_REMOTE_AUTHZ_MAX];
		size_t len = 0;

		case_sig_in(&in, c);
		CHECK(cf_remote_canonical(&in, canon, sizeof(canon), &len) == 0);
		CHECK(cf_remote_authorization(&auth, &in, authz, sizeof(authz)) == 0);
		cf_hex(hex, (const uint8_t *)canon, len);
		printf("case = %zu\ncanonical = %s\nauthorization = %s\n\n", i, hex, authz);
	}
	cf_signkey_free(k);
}

/* The signature in an Authorization value verifies over @canon, and not over a changed one. */
static void
check_sig(const struct cf_remote_auth *auth, const char *authz, char *canon, size_t len)
{
	const char *s = strstr(authz, ",sig=");
	uint8_t sig[CF_SIG_BYTES];

	CHECK(s != NULL && strlen(s + 5) == 2 * CF_SIG_BYTES);
	if (s == NULL)
		return;
	CHECK(cf_unhex(sig, sizeof(sig), s + 5, 2 * CF_SIG_BYTES) == 0);
	CHECK(cf_verify(sig, cf_signkey_pk(auth->sign), (const uint8_t *)canon, len) == 0);
	canon[len - 1] ^= 0x01;
	CHECK(cf_verify(sig, cf_signkey_pk(auth->sign), (const uint8_t *)canon, len) == CF_EAUTH);
	canon[len - 1] ^= 0x01;
	sig[10] ^= 0x40;
	CHECK(cf_verify(sig, cf_signkey_pk(auth->sign), (const uint8_t *)canon, len) == CF_EAUTH);
}

static void
check_vector(const struct cf_remote_auth *auth, const struct th_vec *v)
{
	const char *ci = th_vec_get(v, "case");
	const char *want_canon = th_vec_get(v, "canonical");
	const char *want_authz = th_vec_get(v, "authorization");
	const char *want_prefix = "Coffer-Ed25519 device=a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4"
	                          "b5b6b7b8b9babbbcbdbebf,time=";
	uint64_t i = 0;
	struct cf_remote_sig_in in;
	char canon[CF_REMOTE_CANON_MAX];
	char hex[2 * CF_REMOTE_CANON_MAX + 1];
	char authz[CF_REMOTE_AUTHZ_MAX];
	size_t len = 0;

	CHECK(ci != NULL && want_canon != NULL && want_authz != NULL);
	if (ci == NULL || want_canon == NULL || want_authz == NULL ||
	    cf_parse_u64(ci, 0, CF_ARRAY_LEN(sig_cases) - 1, &i) != 0)
		return;
	case_sig_in(&in, &sig_cases[i]);
	CHECK(cf_remote_canonical(&in, canon, sizeof(canon), &len) == 0);
	cf_hex(hex, (const uint8_t *)canon, len);
	CHECK(strcmp(hex, want_canon) == 0);
	CHECK(cf_remote_authorization(auth, &in, authz, sizeof(authz)) == 0);
	CHECK(strcmp(authz, want_authz) == 0);
	CHECK(strncmp(authz, want_prefix, strlen(want_prefix)) == 0);
	check_sig(auth, authz, canon, len);
	CHECK(cf_remote_authorization(auth, &in, authz, 100) == CF_ETOOBIG);
}

CF_TEST(signature_vectors)
{
	struct cf_remote_auth auth;
	struct cf_signkey *k = NULL;
	struct th_vec v = {0};
	FILE *f = NULL;
	int n = 0;

	if (getenv("CF_GEN_VECTORS") != NULL) {
		gen_vectors();
		return;
	}
	k = fixed_key(&auth);
	f = fopen(th_vector_path("remote.txt"), "r");
	CHECK(f != NULL);
	while (f != NULL && th_vec_next(f, &v)) {
		check_vector(&auth, &v);
		n++;
	}
	CHECK(n == (int)CF_ARRAY_LEN(sig_cases));
	th_vec_clear(&v);
	if (f != NULL)
		fclose(f);
	cf_signkey_free(k);
}

/* ---- listings ---- */

struct collected {
	size_t n;
	char names[8][CF_OBJ_NAME_MAX + 1];
	uint64_t sizes[8];
	size_t stop_at; /* return 99 at this call (1-based); 0: never */
};

static int
collect(void *arg, const char *name, uint64_t size)
{
	struct collected *c = arg;

	if (c->n < 8) {
		(void)snprintf(c->names[c->n], sizeof(c->names[0]), "%s", name);
		c->sizes[c->n] = size;
	}
	c->n++;
	return c->n == c->stop_at ? 99 : 0;
}

static int
parse(const char *text, const char *after, size_t limit, struct collected *c,
      struct cf_remote_page *pg)
{
	memset(pg, 0, sizeof(*pg));
	pg->after = after;
	pg->limit = limit;
	pg->fn = collect;
	pg->arg = c;
	return cf_remote_list_parse(pg, (const uint8_t *)text, strlen(text));
}

CF_TEST(listing_valid)
{
	struct cf_remote_page pg;
	struct collected c = {0};
	const char *page = "00aa 0\n"
	                   "00ab 17\n"
	                   "0000000000000000-1 18446744073709551615\n"
	                   "ff 1\n";

	CHECK(parse(page, "", 10, &c, &pg) == CF_EFORMAT); /* "0000...-1" < "00ab" */
	memset(&c, 0, sizeof(c));
	page = "0000000000000000-1 18446744073709551615\n"
	       "00aa 0\n"
	       "00ab 17\n"
	       "ff 1\n";
	CHECK(parse(page, "", 10, &c, &pg) == 0);
	CHECK(c.n == 4 && pg.count == 4 && strcmp(pg.last, "ff") == 0);
	CHECK(strcmp(c.names[0], "0000000000000000-1") == 0 && c.sizes[0] == UINT64_MAX);
	CHECK(strcmp(c.names[2], "00ab") == 0 && c.sizes[2] == 17);
	/* an empty page */
	memset(&c, 0, sizeof(c));
	CHECK(parse("", "", 10, &c, &pg) == 0 && c.n == 0 && pg.count == 0 && pg.last[0] == 0);
	/* a later page: names after "00aa" */
	memset(&c, 0, sizeof(c));
	CHECK(parse("00ab 1\nff 2\n", "00aa", 2, &c, &pg) == 0 && c.n == 2);
	/* the callback stops the listing and its value comes back */
	memset(&c, 0, sizeof(c));
	c.stop_at = 2;
	CHECK(parse(page, "", 10, &c, &pg) == 99 && c.n == 2);
}

CF_TEST(listing_must_fail)
{
	static const char *const bad[] = {
	        "00aa 1",                       /* no final newline */
	        "00aa 1\n00ab 2",               /* no final newline on the last line */
	        "\n",                           /* empty line */
	        "00aa 1\n\n",                   /* empty line after one */
	        "00aa  1\n",                    /* two spaces */
	        "00aa\t1\n",                    /* tab */
	        " 00aa 1\n",                    /* leading space */
	        "00aa 1 \n",                    /* trailing space */
	        "00aa 1\r\n",                   /* CRLF */
	        "00aa\n",                       /* no size */
	        "00aa \n",                      /* empty size */
	        " 1\n",                         /* empty name */
	        "00AA 1\n",                     /* upper case */
	        "00ag 1\n",                     /* not hex */
	        "00/a 1\n",                     /* slash */
	        "../x 1\n",                     /* path */
	        "00aa 01\n",                    /* leading zero */
	        "00aa +1\n",                    /* sign */
	        "00aa -1\n",                    /* negative */
	        "00aa 1x\n",                    /* junk after the size */
	        "00aa 18446744073709551616\n",  /* 2^64 */
	        "00aa 100000000000000000000\n", /* 21 digits */
	        "00ab 1\n00aa 1\n",             /* out of order */
	        "00aa 1\n00aa 1\n",             /* duplicate */
	        "00aa 1\n00aa 2\n",             /* duplicate name */
	};
	struct cf_remote_page pg;
	struct collected c;
	char longname[CF_OBJ_NAME_MAX + 8];
	char nul[] = "00aa 1\n00ab 2\n";

	for (size_t i = 0; i < CF_ARRAY_LEN(bad); i++) {
		memset(&c, 0, sizeof(c));
		CHECK(parse(bad[i], "", 10, &c, &pg) == CF_EFORMAT);
	}
	/* a name of 129 characters; 128 is fine */
	memset(longname, 'a', CF_OBJ_NAME_MAX + 1);
	memcpy(longname + CF_OBJ_NAME_MAX + 1, " 1\n", 4);
	memset(&c, 0, sizeof(c));
	CHECK(parse(longname, "", 10, &c, &pg) == CF_EFORMAT);
	memcpy(longname + CF_OBJ_NAME_MAX, " 1\n", 4);
	memset(&c, 0, sizeof(c));
	CHECK(parse(longname, "", 10, &c, &pg) == 0 && c.n == 1);
	/* not after the page's start */
	memset(&c, 0, sizeof(c));
	CHECK(parse("00aa 1\n", "00aa", 10, &c, &pg) == CF_EFORMAT);
	memset(&c, 0, sizeof(c));
	CHECK(parse("00a9 1\n", "00aa", 10, &c, &pg) == CF_EFORMAT);
	/* more lines than the limit */
	memset(&c, 0, sizeof(c));
	CHECK(parse("00aa 1\n00ab 2\n00ac 3\n", "", 2, &c, &pg) == CF_EFORMAT);
	/* a NUL byte inside a line */
	nul[8] = '\0';
	memset(&c, 0, sizeof(c));
	pg.after = "";
	pg.limit = 10;
	pg.fn = collect;
	pg.arg = &c;
	CHECK(cf_remote_list_parse(&pg, (const uint8_t *)nul, sizeof(nul) - 1) == CF_EFORMAT);
}

/* ---- Content-Range ---- */

CF_TEST(content_range)
{
	static const char *const bad[] = {
	        "",
	        "bytes",
	        "bytes ",
	        "bytes 0-9",
	        "bytes 0-9/",
	        "bytes 9-0/10",
	        "bytes 0-10/10",
	        "bytes 0-9/10 ",
	        "bytes 0-9/10x",
	        "bytes 00-9/10",
	        "bytes -1-9/10",
	        "bytes 0 -9/10",
	        "Bytes 0-9/10",
	        "items 0-9/10",
	        "bytes */",
	        "bytes */x",
	        "bytes 0-9/*",
	        "bytes 0-18446744073709551616/18446744073709551617",
	};
	struct cf_remote_range cr;

	CHECK(cf_remote_content_range("bytes 0-9/10", &cr) == 0);
	CHECK(!cr.unsatisfied && cr.first == 0 && cr.last == 9 && cr.total == 10);
	CHECK(cf_remote_content_range("bytes 5-5/6", &cr) == 0 && cr.first == 5);
	CHECK(cf_remote_content_range("bytes 0-18446744073709551614/18446744073709551615", &cr) ==
	      0);
	CHECK(cf_remote_content_range("bytes */1234", &cr) == 0);
	CHECK(cr.unsatisfied && cr.total == 1234);
	CHECK(cf_remote_content_range("bytes */0", &cr) == 0 && cr.total == 0);
	for (size_t i = 0; i < CF_ARRAY_LEN(bad); i++)
		CHECK(cf_remote_content_range(bad[i], &cr) == CF_EFORMAT);
	CHECK(cf_remote_content_range(NULL, &cr) == CF_EFORMAT);
}

/* ---- statuses ---- */

CF_TEST(status_codes)
{
	CHECK(cf_remote_status_rc(200) == 0);
	CHECK(cf_remote_status_rc(201) == 0);
	CHECK(cf_remote_status_rc(204) == 0);
	CHECK(cf_remote_status_rc(206) == 0);
	CHECK(cf_remote_status_rc(400) == CF_EFORMAT);
	CHECK(cf_remote_status_rc(401) == CF_ENOKEY);
	CHECK(cf_remote_status_rc(403) == CF_EPERM);
	CHECK(cf_remote_status_rc(404) == CF_ENOENT);
	CHECK(cf_remote_status_rc(409) == CF_EEXIST);
	CHECK(cf_remote_status_rc(413) == CF_ETOOBIG);
	CHECK(cf_remote_status_rc(416) == CF_ETRUNC);
	CHECK(cf_remote_status_rc(500) == CF_ESYS);
	CHECK(cf_remote_status_rc(503) == CF_ESYS);
	CHECK(cf_remote_status_rc(302) == CF_ESYS);
	CHECK(cf_remote_status_rc(100) == CF_ESYS);
	CHECK(cf_remote_status_rc(0) == CF_ESYS);
	CHECK(cf_remote_status_transient(503) && cf_remote_status_transient(502) &&
	      cf_remote_status_transient(504) && cf_remote_status_transient(429) &&
	      cf_remote_status_transient(408));
	CHECK(!cf_remote_status_transient(500) && !cf_remote_status_transient(401) &&
	      !cf_remote_status_transient(404) && !cf_remote_status_transient(200));
}

CF_TEST(status_messages)
{
	const char *loc = "https://h:8443/alice";
	const char *m = NULL;

	CHECK(cf_remote_status_err(401, "GET", "keys/ab", loc, "unknown device\nmore") ==
	      CF_ENOKEY);
	m = cf_err_last();
	CHECK(strncmp(m, "the server does not accept this device: ", 40) == 0);
	CHECK(strstr(m, "GET 'keys/ab' on 'https://h:8443/alice'") != NULL);
	CHECK(strstr(m, "401: the server says: unknown device") != NULL);
	CHECK(strstr(m, "more") == NULL); /* first line only */
	CHECK(strchr(m, '\n') == NULL);
	CHECK(cf_remote_status_err(403, "DELETE", "packs/ab", loc, "") == CF_EPERM);
	CHECK(strstr(cf_err_last(), "not allowed for this device") != NULL);
	CHECK(strstr(cf_err_last(), "says") == NULL);
	CHECK(cf_remote_status_err(404, "GET", "chain/0000000000000000", loc, NULL) == CF_ENOENT);
	CHECK(strcmp(cf_err_last(), "object 'chain/0000000000000000' not found on "
	                            "'https://h:8443/alice'") == 0);
	CHECK(cf_remote_status_err(409, "PUT", "index/ab", loc, NULL) == CF_EEXIST);
	CHECK(strstr(cf_err_last(), "already exists") != NULL);
	CHECK(cf_remote_status_err(413, "PUT", "packs/ab", loc, "quota") == CF_ETOOBIG);
	CHECK(strstr(cf_err_last(), "'packs/ab'") != NULL);
	CHECK(strstr(cf_err_last(), "quota exceeded or object too large") != NULL);
	CHECK(cf_remote_status_err(400, "PUT", "packs/ab", loc, "hash mismatch") == CF_EFORMAT);
	CHECK(strstr(cf_err_last(), "malformed (400): the server says: hash mismatch") != NULL);
	CHECK(cf_remote_status_err(500, "GET", "packs/ab", loc, "\x1b[31mboom") == CF_ESYS);
	m = cf_err_last();
	CHECK(strstr(m, "unexpected answer 500 from 'https://h:8443/alice' to GET 'packs/ab'") !=
	      NULL);
	CHECK(strchr(m, '\x1b') == NULL); /* escaped */
}

/* ---- the store without a server ---- */

CF_TEST(open_sends_nothing)
{
	struct cf_store *s = NULL;
	struct cf_remote_auth auth;
	struct cf_signkey *k = fixed_key(&auth);

	CHECK(cf_store_open_remote("http://h/Bad", &auth, &s) == CF_EINVAL && s == NULL);
	/* a host that does not resolve: open does not notice */
	CHECK(cf_store_open_remote("http://no-such-host.invalid:1/alice", &auth, &s) == 0);
	CHECK(s != NULL &&
	      strcmp(cf_store_location(s), "http://no-such-host.invalid:1/alice") == 0);
	cf_store_free(s);
	s = NULL;
	CHECK(cf_store_open_remote("https://h/a", NULL, &s) == 0);
	cf_store_free(s);
	cf_signkey_free(k);
}

/* Nothing listens on the port: every operation fails with the server named, quickly. */
CF_TEST(closed_port)
{
	struct cf_store *s = NULL;
	struct cf_remote_auth auth;
	struct cf_signkey *k = fixed_key(&auth);
	uint8_t *out = NULL;
	size_t outlen = 0;
	uint64_t size = 0;

	CHECK(cf_store_open_remote("http://127.0.0.1:1/alice", &auth, &s) == 0);
	if (s == NULL)
		goto out;
	cf_remote_set_retries(s, 2, 1);
	CHECK(cf_store_get(s, CF_OBJ_CHAIN, "0000000000000000", 0, SIZE_MAX, 1024, &out, &outlen) ==
	      CF_ESYS);
	CHECK(out == NULL);
	CHECK(strstr(cf_err_last(), "cannot GET 'chain/0000000000000000' on "
	                            "'http://127.0.0.1:1/alice'") != NULL);
	CHECK(strstr(cf_err_last(), "(2 attempts)") != NULL);
	CHECK(cf_store_put(s, CF_OBJ_PACK, "00", (const uint8_t *)"x", 1) == CF_ESYS);
	CHECK(cf_store_size(s, CF_OBJ_KEYS, "ab", &size) == CF_ESYS);
	CHECK(cf_store_delete(s, CF_OBJ_INDEX, "ab") == CF_ESYS);
	CHECK(cf_remote_enroll(s, "tok", (const uint8_t *)"g", 1) == CF_ESYS);
	CHECK(cf_remote_enroll(s, "bad token", (const uint8_t *)"g", 1) == CF_EINVAL);
	CHECK(cf_remote_enroll(s, "", (const uint8_t *)"g", 1) == CF_EINVAL);
	CHECK(cf_remote_undelete(s, CF_OBJ_PACK, "XY") == CF_EINVAL);
out:
	cf_store_free(s);
	cf_signkey_free(k);
}

CF_TEST(enroll_needs_remote)
{
	static const char *const subdirs[] = {"chain",    "keys",    "packs", "index", "snapshots",
	                                      "requests", "forgets", "prune", "tmp"};
	struct cf_store *s = NULL;
	char dir[] = "/tmp/cf_remote_XXXXXX";

	CHECK(mkdtemp(dir) != NULL);
	CHECK(cf_store_open_local(dir, true, &s) == 0);
	CHECK(cf_remote_enroll(s, "tok", (const uint8_t *)"g", 1) == CF_EINVAL);
	CHECK(strstr(cf_err_last(), "is not a cofferd repository") != NULL);
	cf_store_free(s);
	for (size_t i = 0; i < CF_ARRAY_LEN(subdirs); i++) {
		char sub[64];

		(void)snprintf(sub, sizeof(sub), "%s/%s", dir, subdirs[i]);
		CHECK(rmdir(sub) == 0);
	}
	CHECK(rmdir(dir) == 0);
}
