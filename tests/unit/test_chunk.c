/*
 * test_chunk.c - keyed FastCDC: parameter checks, edge cases and known-answer vectors
 * (tests/vectors/chunk.txt). CF_GEN_VECTORS=1 prints the vector file instead.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "chunk/chunk.h"
#include "crypto/crypto.h"
#include "harness.h"

#define MAX_CUTS 4096

static const struct cf_chunk_params defaults = {CF_CHUNK_MIN_DEFAULT, CF_CHUNK_AVG_DEFAULT,
                                                CF_CHUNK_MAX_DEFAULT};

static struct cf_chunker *
chunker_for(const uint8_t ck_bytes[static 32], const struct cf_chunk_params *p)
{
	struct cf_key *ck = NULL;
	struct cf_chunker *c = NULL;

	if (cf_key_new_from(ck_bytes, &ck) != 0)
		return NULL;
	if (cf_chunker_new(ck, p, &c) != 0)
		c = NULL;
	cf_key_free(ck);
	return c;
}

/* Deterministic input: the ChaCha20-IETF keystream of @key with a zero nonce. */
static uint8_t *
make_input(const uint8_t key[static 32], size_t len)
{
	static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES];
	uint8_t *d = malloc(len == 0 ? 1 : len);

	if (d != NULL)
		crypto_stream_chacha20_ietf(d, len, nonce, key);
	return d;
}

/* Cut the whole of @data; returns the number of chunks written to @cuts. */
static size_t
cut_all(const struct cf_chunker *c, const uint8_t *data, size_t len, size_t *cuts, size_t max)
{
	size_t n = 0;
	size_t off = 0;

	while (off < len && n < max) {
		size_t l = cf_chunker_cut(c, data + off, len - off);

		if (l == 0)
			break;
		cuts[n++] = l;
		off += l;
	}
	return n;
}

CF_TEST(params_validation)
{
	struct cf_chunk_params p = defaults;

	CHECK_EQ(cf_chunk_params_valid(&p), 0);
	p.min = 63;
	CHECK_EQ(cf_chunk_params_valid(&p), CF_EFORMAT);
	p = defaults;
	p.min = p.avg;
	CHECK_EQ(cf_chunk_params_valid(&p), CF_EFORMAT);
	p = defaults;
	p.avg = 3u << 19; /* not a power of two */
	CHECK_EQ(cf_chunk_params_valid(&p), CF_EFORMAT);
	p = defaults;
	p.max = p.avg;
	CHECK_EQ(cf_chunk_params_valid(&p), CF_EFORMAT);
	p = defaults;
	p.max = CF_CHUNK_MAX_LIMIT + 1;
	CHECK_EQ(cf_chunk_params_valid(&p), CF_EFORMAT);
	p = (struct cf_chunk_params){64, 128, 1024}; /* log2(avg) = 7 */
	CHECK_EQ(cf_chunk_params_valid(&p), CF_EFORMAT);
	p = (struct cf_chunk_params){64, 256, 1024};
	CHECK_EQ(cf_chunk_params_valid(&p), 0);
}

CF_TEST(new_rejects_bad_params)
{
	uint8_t ckb[32] = {0};
	struct cf_chunk_params p = {100, 100, 200};
	struct cf_key *ck = NULL;
	struct cf_chunker *c = (struct cf_chunker *)&p;

	CHECK_EQ(cf_key_new_from(ckb, &ck), 0);
	CHECK_EQ(cf_chunker_new(ck, &p, &c), CF_EFORMAT);
	CHECK(c == NULL);
	cf_key_free(ck);
	cf_chunker_free(NULL);
}

CF_TEST(cut_edges)
{
	static const struct cf_chunk_params p = {64, 256, 1024};
	uint8_t ckb[32] = {1};
	uint8_t key[32] = {2};
	struct cf_chunker *c = chunker_for(ckb, &p);
	uint8_t *d = make_input(key, 4096);
	uint8_t *z = calloc(1, 4096);
	size_t n;

	CHECK(c != NULL && d != NULL && z != NULL);
	if (c == NULL || d == NULL || z == NULL)
		goto out;
	CHECK_EQ(cf_chunker_max(c), 1024);
	CHECK_EQ(cf_chunker_cut(c, d, 0), 0);
	CHECK_EQ(cf_chunker_cut(c, d, 1), 1);
	CHECK_EQ(cf_chunker_cut(c, d, 64), 64);
	CHECK_EQ(cf_chunker_cut(c, d, 65), 65); /* one byte past min: the end of the data */
	n = cf_chunker_cut(c, d, 4096);
	CHECK(n > 64 && n <= 1024);
	/* A cut is a function of the bytes up to it: more data after it changes nothing. */
	CHECK_EQ(cf_chunker_cut(c, d, n), n);
	CHECK_EQ(cf_chunker_cut(c, d, n + 1000), n);
	/* All zeros: the hash is constant after 64 bytes, so this cuts early or at max. */
	n = cf_chunker_cut(c, z, 4096);
	CHECK(n == 1024 || n <= 64 + 65);
out:
	free(z);
	free(d);
	cf_chunker_free(c);
}

CF_TEST(ck_changes_cuts)
{
	static const struct cf_chunk_params p = {1024, 4096, 16384};
	uint8_t ck1[32] = {1};
	uint8_t ck2[32] = {2};
	uint8_t key[32] = {3};
	struct cf_chunker *c1 = chunker_for(ck1, &p);
	struct cf_chunker *c2 = chunker_for(ck2, &p);
	uint8_t *d = make_input(key, 1 << 18);
	size_t a[MAX_CUTS];
	size_t b[MAX_CUTS];
	size_t na;
	size_t nb;

	CHECK(c1 != NULL && c2 != NULL && d != NULL);
	if (c1 == NULL || c2 == NULL || d == NULL)
		goto out;
	CHECK(cf_chunker_gear(c1, 0) != cf_chunker_gear(c2, 0));
	na = cut_all(c1, d, 1 << 18, a, MAX_CUTS);
	nb = cut_all(c2, d, 1 << 18, b, MAX_CUTS);
	CHECK(na > 10 && nb > 10);
	CHECK(na != nb || memcmp(a, b, na * sizeof(a[0])) != 0);
out:
	free(d);
	cf_chunker_free(c1);
	cf_chunker_free(c2);
}

/* Parse "a,b,c" into @out; returns the count or -1. */
static long
parse_list(const char *s, size_t *out, size_t max)
{
	size_t n = 0;
	char *end = NULL;

	while (*s != '\0' && n < max) {
		out[n++] = (size_t)strtoull(s, &end, 10);
		if (end == s)
			return -1;
		s = *end == ',' ? end + 1 : end;
	}
	return *s == '\0' ? (long)n : -1;
}

static bool
hex32(const char *hex, uint8_t out[static 32])
{
	return hex != NULL && strlen(hex) == 64 && cf_unhex(out, 32, hex, 64) == 0;
}

static uint64_t
field_u64(const struct th_vec *v, const char *key)
{
	const char *s = th_vec_get(v, key);

	return s == NULL ? 0 : strtoull(s, NULL, 0);
}

static void
check_record(const struct th_vec *v)
{
	struct cf_chunk_params p;
	uint8_t ckb[32];
	uint8_t key[32];
	size_t *want = calloc(MAX_CUTS, sizeof(size_t));
	size_t *got = calloc(MAX_CUTS, sizeof(size_t));
	size_t len = (size_t)field_u64(v, "input_len");
	struct cf_chunker *c = NULL;
	uint8_t *d = NULL;
	const char *kind = th_vec_get(v, "input");
	long nw;
	size_t ng;
	char name[16];

	p.min = (uint32_t)field_u64(v, "min");
	p.avg = (uint32_t)field_u64(v, "avg");
	p.max = (uint32_t)field_u64(v, "max");
	CHECK(want != NULL && got != NULL && kind != NULL);
	CHECK(hex32(th_vec_get(v, "ck"), ckb));
	if (want == NULL || got == NULL || kind == NULL || (c = chunker_for(ckb, &p)) == NULL)
		goto out;
	for (unsigned i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "gear%u", i);
		CHECK_EQ(cf_chunker_gear(c, (uint8_t)i), field_u64(v, name));
	}
	if (strcmp(kind, "zeros") == 0) {
		d = calloc(1, len);
	} else {
		CHECK(strcmp(kind, "chacha20") == 0 && hex32(th_vec_get(v, "input_key"), key));
		d = make_input(key, len);
	}
	nw = parse_list(th_vec_get(v, "cuts"), want, MAX_CUTS);
	CHECK(d != NULL && nw > 0);
	if (d == NULL || nw <= 0)
		goto out;
	ng = cut_all(c, d, len, got, MAX_CUTS);
	CHECK_EQ(ng, (size_t)nw);
	CHECK(memcmp(got, want, ng * sizeof(size_t)) == 0);
out:
	free(d);
	free(want);
	free(got);
	cf_chunker_free(c);
}

CF_TEST(vectors)
{
	FILE *f = fopen(th_vector_path("chunk.txt"), "r");
	struct th_vec v = {0};
	int n = 0;

	CHECK(f != NULL);
	if (f == NULL || getenv("CF_GEN_VECTORS") != NULL)
		goto out;
	while (th_vec_next(f, &v)) {
		check_record(&v);
		n++;
	}
	CHECK(n >= 3);
out:
	th_vec_clear(&v);
	if (f != NULL)
		fclose(f);
}

/* CF_GEN_VECTORS=1: print one record of chunk.txt. */
static void
gen_record(const struct cf_chunk_params *p, const char *kind, size_t len)
{
	uint8_t ckb[32];
	uint8_t key[32];
	char hex[65];
	struct cf_chunker *c = NULL;
	uint8_t *d = NULL;
	size_t *cuts = calloc(MAX_CUTS, sizeof(size_t));
	size_t n;

	for (unsigned i = 0; i < 32; i++) {
		ckb[i] = (uint8_t)i;
		key[i] = (uint8_t)(0x20 + i);
	}
	c = chunker_for(ckb, p);
	d = strcmp(kind, "zeros") == 0 ? calloc(1, len) : make_input(key, len);
	if (c == NULL || d == NULL || cuts == NULL)
		abort();
	cf_hex(hex, ckb, 32);
	printf("ck = %s\nmin = %u\navg = %u\nmax = %u\n", hex, p->min, p->avg, p->max);
	for (unsigned i = 0; i < 4; i++)
		printf("gear%u = 0x%016llx\n", i,
		       (unsigned long long)cf_chunker_gear(c, (uint8_t)i));
	printf("input = %s\n", kind);
	if (strcmp(kind, "chacha20") == 0) {
		cf_hex(hex, key, 32);
		printf("input_key = %s\n", hex);
	}
	printf("input_len = %zu\ncuts = ", len);
	n = cut_all(c, d, len, cuts, MAX_CUTS);
	for (size_t i = 0; i < n; i++)
		printf("%s%zu", i == 0 ? "" : ",", cuts[i]);
	printf("\n\n");
	free(cuts);
	free(d);
	cf_chunker_free(c);
}

CF_TEST(generate)
{
	static const struct cf_chunk_params small = {1024, 4096, 16384};
	static const struct cf_chunk_params tiny = {64, 256, 1024};

	if (getenv("CF_GEN_VECTORS") == NULL)
		return;
	printf("# Keyed FastCDC, docs/format.md section 4. Generated by CF_GEN_VECTORS=1 "
	       "test_chunk.\n"
	       "# ck: the content key CK; gearN: gear[N] (K_gear = KDF(CK, \"coffer.v1.gear\")).\n"
	       "# input = chacha20: the ChaCha20-IETF keystream of input_key, nonce 12 zero "
	       "bytes;\n# input = zeros: zero bytes. cuts: every chunk length, in order.\n\n");
	gen_record(&defaults, "chacha20", 24u << 20);
	gen_record(&defaults, "zeros", 20u << 20);
	gen_record(&small, "chacha20", 1u << 20);
	gen_record(&tiny, "chacha20", 1u << 16);
}

/*
 * Cut @data as a stream arriving in random pieces (1 byte to 1.5 max), each undecided cut
 * resumed with more data: the same chunks as cut_all() on the whole, for random data with
 * runs of zeros (cuts only at max) and small parameters (many decisions near every edge).
 */
static size_t
cut_streamed(const struct cf_chunker *c, const uint8_t *data, size_t len, size_t *cuts, size_t max)
{
	struct cf_cut_state st;
	size_t n = 0;
	size_t start = 0; /* of the current chunk */
	size_t have = 0;  /* bytes arrived so far */

	memset(&st, 0, sizeof(st));
	while (start < len && n < max) {
		size_t l = cf_chunker_cut_more(c, data + start, have - start, have == len, &st);

		if (l == 0) {
			size_t piece = 1 + (size_t)(th_rand() % (3 * cf_chunker_max(c) / 2));

			have = len - have < piece ? len : have + piece;
			continue;
		}
		cuts[n++] = l;
		start += l;
	}
	return n;
}

static void
streamed_matches(const struct cf_chunk_params *p, size_t len)
{
	static size_t a[MAX_CUTS];
	static size_t b[MAX_CUTS];
	uint8_t ck[32];
	uint8_t key[32];
	struct cf_chunker *c = NULL;
	uint8_t *d = NULL;
	size_t na;
	size_t nb;

	th_randbuf(ck, sizeof(ck));
	th_randbuf(key, sizeof(key));
	CHECK((c = chunker_for(ck, p)) != NULL);
	CHECK((d = make_input(key, len)) != NULL);
	if (c == NULL || d == NULL)
		goto out;
	/* a run of zeros longer than max: no cut inside it but at max */
	memset(d + len / 3, 0, len / 4);
	na = cut_all(c, d, len, a, MAX_CUTS);
	nb = cut_streamed(c, d, len, b, MAX_CUTS);
	CHECK_EQ(na, nb);
	CHECK(na == nb && memcmp(a, b, na * sizeof(*a)) == 0);
out:
	free(d);
	cf_chunker_free(c);
}

CF_TEST(cut_more_equals_cut_whole)
{
	static const struct cf_chunk_params small = {64, 256, 1024};

	for (int i = 0; i < 4; i++)
		streamed_matches(&defaults, (size_t)(40u << 20) + (size_t)(th_rand() % 4096));
	for (int i = 0; i < 50; i++)
		streamed_matches(&small, 1 + (size_t)(th_rand() % 200000));
}
