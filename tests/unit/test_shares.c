/*
 * test_shares.c - recovery shares (docs/format.md 10.3): split/combine round trips over every
 * subset, the keycheck that refuses K-1 shares, clashes, the share line codec, wrapping, and
 * the known-answer vectors of tests/vectors/shares.txt.
 *
 * A reference GF(2^8) (polynomial x^8+x^4+x^3+x^2+1, 0x11d) written from the spec checks
 * libgfshare in both directions: its shares interpolate to RK here, and shares evaluated here
 * combine to RK there. The vectors are made with the reference evaluator from fixed
 * coefficients, so CF_GEN_VECTORS=1 test_shares prints the same plain records every time
 * (the wrapped ones differ: Wrap() draws an ephemeral key and a nonce).
 */
#include <libgfshare.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "harness.h"
#include "recovery/shares.h"

/* ---- reference field and polynomials ---- */

static uint8_t
gf_mul(uint8_t a, uint8_t b)
{
	uint8_t p = 0;

	while (b != 0) {
		if (b & 1)
			p ^= a;
		a = (uint8_t)((a & 0x80) ? (a << 1) ^ 0x1d : a << 1);
		b >>= 1;
	}
	return p;
}

static uint8_t
gf_inv(uint8_t a)
{
	for (unsigned b = 1; b < 256; b++)
		if (gf_mul(a, (uint8_t)b) == 1)
			return (uint8_t)b;
	return 0;
}

/* f(x) for the polynomial secret + c[0] x + c[1] x^2 + ... (k-1 coefficients of 32 bytes). */
static void
ref_eval(const uint8_t secret[32], const uint8_t (*c)[32], unsigned k, uint8_t x, uint8_t out[32])
{
	for (size_t b = 0; b < 32; b++) {
		uint8_t acc = 0;

		for (unsigned j = k - 1; j >= 1; j--) /* Horner, highest coefficient first */
			acc = gf_mul((uint8_t)(acc ^ c[j - 1][b]), x);
		out[b] = acc ^ secret[b];
	}
}

/* Lagrange interpolation at 0 of @n points (@xs, @ys). */
static void
ref_interpolate(const uint8_t *xs, const uint8_t (*ys)[32], size_t n, uint8_t out[32])
{
	memset(out, 0, 32);
	for (size_t i = 0; i < n; i++) {
		uint8_t l = 1;

		for (size_t j = 0; j < n; j++)
			if (j != i)
				l = gf_mul(l, gf_mul(xs[j], gf_inv((uint8_t)(xs[i] ^ xs[j]))));
		for (size_t b = 0; b < 32; b++)
			out[b] ^= gf_mul(l, ys[i][b]);
	}
}

/* ---- helpers ---- */

static const uint8_t fp_a[32] = {0xfa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t fp_b[32] = {0xfb, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static struct cf_key *
random_key(uint8_t bytes[32])
{
	struct cf_key *k = NULL;

	th_randbuf(bytes, 32);
	CHECK(cf_key_new_from(bytes, &k) == 0);
	return k;
}

/* Combine the shares of @v picked by the bits of @mask; returns the rc, key in @got. */
static int
combine_mask(const struct cf_share *v, unsigned n, unsigned mask, uint8_t got[32])
{
	struct cf_share pick[8];
	struct cf_key *k = NULL;
	size_t m = 0;
	size_t odd = 0;
	int rc;

	for (unsigned i = 0; i < n; i++)
		if (mask & (1u << i))
			pick[m++] = v[i];
	rc = cf_share_combine(pick, m, &k, &odd);
	CHECK((rc == 0) == (k != NULL));
	if (k != NULL)
		memcpy(got, cf_key_view(k), 32);
	cf_key_free(k);
	cf_wipe(pick, sizeof(pick));
	return rc;
}

static unsigned
popcount(unsigned v)
{
	unsigned c = 0;

	for (; v != 0; v &= v - 1)
		c++;
	return c;
}

static bool
share_eq(const struct cf_share *a, const struct cf_share *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* Encode @s and parse it back. */
static int
reparse(const struct cf_share *s, struct cf_share *out)
{
	char line[CF_SHARE_LINE_MAX + 1];

	CHECK(cf_share_encode(s, line, sizeof(line)) == 0);
	return cf_share_parse_line((const uint8_t *)line, strlen(line), out);
}

/* ---- split and combine ---- */

/* Every subset of every K-of-N split (N <= 6): K or more shares give RK, fewer are refused. */
CF_TEST(split_combine_every_subset)
{
	for (unsigned n = 2; n <= 6; n++) {
		for (unsigned k = 2; k <= n; k++) {
			uint8_t rk[32];
			uint8_t got[32];
			struct cf_key *key = random_key(rk);
			struct cf_share *v = NULL;

			CHECK(cf_share_split(key, fp_a, k, n, &v) == 0);
			for (unsigned mask = 1; v != NULL && mask < (1u << n); mask++) {
				int rc = combine_mask(v, n, mask, got);

				if (popcount(mask) >= k)
					CHECK(rc == 0 && memcmp(got, rk, 32) == 0);
				else
					CHECK(rc == CF_EINVAL);
			}
			cf_share_array_free(v, n);
			cf_key_free(key);
		}
	}
}

/* Shares carry the header fields of the split: indexes 1..N, one split id, the keycheck. */
CF_TEST(split_fields)
{
	uint8_t rk[32];
	uint8_t kc[CF_SHARE_CHECK_BYTES];
	struct cf_key *key = random_key(rk);
	struct cf_share *v = NULL;
	struct cf_share *w = NULL;

	cf_share_keycheck(kc, key);
	CHECK(cf_share_split(key, fp_a, 3, 5, &v) == 0);
	CHECK(cf_share_split(key, fp_a, 3, 5, &w) == 0);
	for (unsigned i = 0; v != NULL && w != NULL && i < 5; i++) {
		CHECK(v[i].x == i + 1 && v[i].k == 3 && !v[i].wrapped);
		CHECK(memcmp(v[i].fingerprint, fp_a, 32) == 0);
		CHECK(memcmp(v[i].keycheck, kc, sizeof(kc)) == 0);
		CHECK(memcmp(v[i].split, v[0].split, CF_SHARE_SPLIT_BYTES) == 0);
		/* fresh coefficients and split id every time */
		CHECK(memcmp(v[i].y, w[i].y, 32) != 0);
		CHECK(cf_share_clash(&v[i], &w[(i + 1) % 5]) == CF_SHARE_OTHER_SPLIT);
	}
	/* libgfshare's random source is ours, not random(). */
	CHECK(gfshare_fill_rand != NULL &&
	      gfshare_fill_rand != gfshare_bad_idea_but_fill_rand_using_random);
	cf_share_array_free(v, 5);
	cf_share_array_free(w, 5);
	cf_key_free(key);
}

CF_TEST(split_limits)
{
	uint8_t rk[32];
	struct cf_key *key = random_key(rk);
	struct cf_share *v = NULL;
	uint8_t got[32];
	uint8_t xs[255];
	uint8_t(*ys)[32] = calloc(255, 32);
	struct cf_key *back = NULL;
	size_t odd = 0;

	CHECK(cf_share_split(key, fp_a, 1, 3, &v) == CF_EINVAL && v == NULL);
	CHECK(cf_share_split(key, fp_a, 4, 3, &v) == CF_EINVAL && v == NULL);
	CHECK(cf_share_split(key, fp_a, 2, 256, &v) == CF_EINVAL && v == NULL);
	CHECK(cf_share_split(key, fp_a, 0, 0, &v) == CF_EINVAL && v == NULL);
	/* 255-of-255: all of them, checked by the reference interpolation too. */
	CHECK(cf_share_split(key, fp_a, 255, 255, &v) == 0);
	for (size_t i = 0; v != NULL && ys != NULL && i < 255; i++) {
		xs[i] = v[i].x;
		memcpy(ys[i], v[i].y, 32);
	}
	if (v != NULL && ys != NULL) {
		ref_interpolate(xs, (const uint8_t(*)[32])ys, 255, got);
		CHECK(memcmp(got, rk, 32) == 0);
		CHECK(cf_share_combine(v, 255, &back, &odd) == 0);
		CHECK(back != NULL && memcmp(cf_key_view(back), rk, 32) == 0);
		cf_key_free(back);
		CHECK(cf_share_combine(v, 254, &back, &odd) == CF_EINVAL && back == NULL);
	}
	cf_share_array_free(v, 255);
	free(ys);
	cf_key_free(key);
}

/* libgfshare's shares interpolate to RK in the reference field, and the other way round. */
CF_TEST(matches_reference_field)
{
	for (int round = 0; round < 20; round++) {
		uint8_t rk[32];
		uint8_t got[32];
		uint8_t coef[4][32];
		uint8_t xs[5];
		uint8_t ys[5][32];
		struct cf_key *key = random_key(rk);
		struct cf_key *back = NULL;
		struct cf_share *v = NULL;
		struct cf_share mine[5];
		size_t odd = 0;

		CHECK(cf_share_split(key, fp_a, 3, 5, &v) == 0);
		for (size_t i = 0; v != NULL && i < 3; i++) {
			xs[i] = v[i + 2].x;
			memcpy(ys[i], v[i + 2].y, 32);
		}
		ref_interpolate(xs, (const uint8_t(*)[32])ys, 3, got);
		CHECK(memcmp(got, rk, 32) == 0);
		/* Shares of the reference polynomial combine in libgfshare. */
		th_randbuf(coef, sizeof(coef));
		memcpy(mine, v, sizeof(mine));
		for (size_t i = 0; i < 5; i++) {
			mine[i].k = 5;
			ref_eval(rk, (const uint8_t(*)[32])coef, 5, mine[i].x, mine[i].y);
		}
		CHECK(cf_share_combine(mine, 5, &back, &odd) == 0);
		CHECK(back != NULL && memcmp(cf_key_view(back), rk, 32) == 0);
		cf_key_free(back);
		cf_share_array_free(v, 5);
		cf_key_free(key);
	}
}

/*
 * K-1 shares relabelled as a (K-1)-of-N set, and a share changed after its checksum was made:
 * interpolation gives some key, the keycheck refuses it.
 */
CF_TEST(keycheck_refuses_wrong_keys)
{
	uint8_t rk[32];
	struct cf_key *key = random_key(rk);
	struct cf_key *back = NULL;
	struct cf_share *v = NULL;
	struct cf_share w[5];
	size_t odd = 0;

	CHECK(cf_share_split(key, fp_a, 4, 5, &v) == 0);
	if (v == NULL)
		return;
	memcpy(w, v, sizeof(w));
	for (size_t i = 0; i < 5; i++)
		w[i].k = 3;
	CHECK(cf_share_combine(w, 3, &back, &odd) == CF_EINTEGRITY && back == NULL);
	CHECK(odd == SIZE_MAX);
	/* One altered share among exactly K: refused, nobody to blame. */
	memcpy(w, v, sizeof(w));
	w[1].y[7] ^= 0x40;
	CHECK(cf_share_combine(w, 4, &back, &odd) == CF_EINTEGRITY && back == NULL);
	CHECK(odd == SIZE_MAX);
	/* Among K+1: refused as well, and the odd one is named. */
	CHECK(cf_share_combine(w, 5, &back, &odd) == CF_EINTEGRITY && back == NULL);
	CHECK(odd == 1);
	/* The untouched ones still work. */
	w[1] = w[4];
	CHECK(cf_share_combine(w, 4, &back, &odd) == 0 && back != NULL);
	CHECK(back != NULL && memcmp(cf_key_view(back), rk, 32) == 0);
	cf_key_free(back);
	cf_wipe(w, sizeof(w));
	cf_share_array_free(v, 5);
	cf_key_free(key);
}

CF_TEST(clashes)
{
	uint8_t rk[32];
	struct cf_key *key = random_key(rk);
	struct cf_key *back = NULL;
	struct cf_share *v = NULL;
	struct cf_share w[3];
	size_t odd = 0;

	CHECK(cf_share_split(key, fp_a, 2, 3, &v) == 0);
	if (v == NULL)
		return;
	CHECK(cf_share_clash(&v[0], &v[1]) == CF_SHARE_FITS);
	CHECK(cf_share_clash(&v[0], &v[0]) == CF_SHARE_DUPLICATE);
	w[0] = v[0];
	w[1] = v[0];
	CHECK(cf_share_combine(w, 2, &back, &odd) == CF_EINVAL && back == NULL);
	w[1].y[0] ^= 1;
	CHECK(cf_share_clash(&w[0], &w[1]) == CF_SHARE_SAME_INDEX);
	CHECK(cf_share_combine(w, 2, &back, &odd) == CF_EINVAL && back == NULL);
	w[1] = v[1];
	memcpy(w[1].fingerprint, fp_b, 32);
	CHECK(cf_share_clash(&w[0], &w[1]) == CF_SHARE_OTHER_REPO);
	CHECK(cf_share_combine(w, 2, &back, &odd) == CF_EINVAL && back == NULL);
	w[1] = v[1];
	w[1].k = 3;
	CHECK(cf_share_clash(&w[0], &w[1]) == CF_SHARE_OTHER_SPLIT);
	w[1] = v[1];
	w[1].keycheck[3] ^= 1;
	CHECK(cf_share_clash(&w[0], &w[1]) == CF_SHARE_OTHER_SPLIT);
	w[1] = v[1];
	w[1].split[0] ^= 1;
	CHECK(cf_share_clash(&w[0], &w[1]) == CF_SHARE_OTHER_SPLIT);
	CHECK(cf_share_combine(w, 2, &back, &odd) == CF_EINVAL && back == NULL);
	/* A wrapped share cannot be combined. */
	w[1] = v[1];
	w[1].wrapped = true;
	CHECK(cf_share_combine(w, 2, &back, &odd) == CF_EINVAL && back == NULL);
	CHECK(cf_share_combine(w, 0, &back, &odd) == CF_EINVAL && back == NULL);
	cf_wipe(w, sizeof(w));
	cf_share_array_free(v, 3);
	cf_key_free(key);
}

/* ---- the line ---- */

/* A share with fixed bytes (no randomness), for codec tests. */
static void
fixed_share(struct cf_share *s, uint8_t k, uint8_t x)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->fingerprint, fp_a, 32);
	s->k = k;
	s->x = x;
	for (size_t i = 0; i < 32; i++)
		s->y[i] = (uint8_t)(i * 7 + x);
	memcpy(s->split, "\x01\x02\x03\x04", 4);
	memcpy(s->keycheck, "\xa0\xb1\xc2\xd3", 4);
}

CF_TEST(line_round_trip)
{
	static const uint8_t xs[] = {1, 9, 10, 99, 100, 255};
	struct cf_share s;
	struct cf_share t;
	char line[CF_SHARE_LINE_MAX + 1];

	for (size_t i = 0; i < sizeof(xs); i++) {
		fixed_share(&s, xs[i] < 2 ? 2 : xs[i], xs[i]);
		CHECK(reparse(&s, &t) == 0 && share_eq(&s, &t));
	}
	fixed_share(&s, 3, 2);
	CHECK(cf_share_encode(&s, line, sizeof(line)) == 0);
	CHECK(strncmp(line, "coffer-share-1 fa01020304", 25) == 0);
	CHECK(strstr(line, " 3 2 01020304 a0b1c2d3 ") != NULL);
	CHECK(strlen(line) == 106 - 4 + 69); /* one-digit K and index */
	CHECK(cf_share_encode(&s, line, CF_SHARE_LINE_MAX) == CF_ETOOBIG);
}

/* The payload in any case, without dashes, spaced, with O/I/L; blanks around the line. */
CF_TEST(line_spellings)
{
	struct cf_share s;
	struct cf_share t;
	char line[CF_SHARE_LINE_MAX + 1];
	char v[2 * CF_SHARE_LINE_MAX];
	size_t pay = 0;
	size_t o = 0;

	fixed_share(&s, 2, 5);
	CHECK(cf_share_encode(&s, line, sizeof(line)) == 0);
	pay = strlen(line) - 69;
	/* lower case and no dashes in the payload, tabs between fields, CR and blanks at the end */
	for (size_t i = 0; line[i] != '\0'; i++) {
		char ch = line[i];

		if (i >= pay && ch == '-')
			continue;
		if (i < pay && ch == ' ')
			ch = '\t';
		v[o++] = (char)(i >= pay && ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
	}
	memcpy(v + o, " \r", 3);
	CHECK(cf_share_parse_line((const uint8_t *)v, strlen(v), &t) == 0 && share_eq(&s, &t));
	/* spaces instead of dashes, two spaces between fields, leading blanks */
	o = 0;
	v[o++] = ' ';
	for (size_t i = 0; line[i] != '\0'; i++) {
		v[o++] = i >= pay && line[i] == '-' ? ' ' : line[i];
		if (i < pay && line[i] == ' ')
			v[o++] = ' ';
	}
	v[o] = '\0';
	CHECK(cf_share_parse_line((const uint8_t *)v, o, &t) == 0 && share_eq(&s, &t));
	/* O for 0, I and L for 1 */
	memcpy(v, line, strlen(line) + 1);
	for (size_t i = pay; v[i] != '\0'; i++) {
		if (v[i] == '0')
			v[i] = 'O';
		else if (v[i] == '1')
			v[i] = (i & 1) ? 'I' : 'l';
	}
	CHECK(cf_share_parse_line((const uint8_t *)v, strlen(v), &t) == 0 && share_eq(&s, &t));
}

/* Any one character changed: either refused, or the same share (hex letters change case). */
CF_TEST(line_single_changes)
{
	static const char repl[] = "0179aAfFzZ -:Ow";
	struct cf_share s;
	struct cf_share t;
	char line[CF_SHARE_LINE_MAX + 1];
	char v[CF_SHARE_LINE_MAX + 1];
	int refused = 0;

	fixed_share(&s, 3, 4);
	CHECK(cf_share_encode(&s, line, sizeof(line)) == 0);
	for (size_t i = 0; line[i] != '\0'; i++) {
		for (size_t r = 0; repl[r] != '\0'; r++) {
			int rc;

			if (repl[r] == line[i])
				continue;
			memcpy(v, line, strlen(line) + 1);
			v[i] = repl[r];
			rc = cf_share_parse_line((const uint8_t *)v, strlen(v), &t);
			if (rc == 0)
				CHECK(share_eq(&s, &t));
			else
				refused++;
			CHECK(rc == 0 || rc == CF_EFORMAT || rc == CF_EINTEGRITY ||
			      rc == CF_EVERSION);
		}
	}
	CHECK(refused > 1000);
}

CF_TEST(line_malformed)
{
	struct cf_share s;
	struct cf_share t;
	char line[CF_SHARE_LINE_MAX + 1];
	char v[2 * CF_SHARE_LINE_MAX];
	size_t n = 0;

	fixed_share(&s, 3, 4);
	CHECK(cf_share_encode(&s, line, sizeof(line)) == 0);
	n = strlen(line);
	/* truncated anywhere */
	for (size_t i = 0; i < n; i++) {
		int rc = cf_share_parse_line((const uint8_t *)line, i, &t);

		CHECK(rc == CF_EFORMAT || rc == CF_EINTEGRITY);
		CHECK(t.k == 0 && t.x == 0);
	}
	/* one more symbol, one more field */
	memcpy(v, line, n);
	memcpy(v + n, "0", 2);
	CHECK(cf_share_parse_line((const uint8_t *)v, n + 1, &t) == CF_EFORMAT);
	memcpy(v + n, " x", 3);
	CHECK(cf_share_parse_line((const uint8_t *)v, n + 2, &t) == CF_EFORMAT);
	/* other versions, other magic */
	memcpy(v, line, n + 1);
	v[13] = '2';
	CHECK(cf_share_parse_line((const uint8_t *)v, n, &t) == CF_EVERSION);
	v[12] = 'x';
	CHECK(cf_share_parse_line((const uint8_t *)v, n, &t) == CF_EFORMAT);
	/* K, index: range and leading zeros */
	fixed_share(&s, 2, 1);
	CHECK(reparse(&s, &t) == 0);
	s.k = 1;
	CHECK(reparse(&s, &t) == CF_EFORMAT);
	s.k = 2;
	s.x = 0;
	CHECK(reparse(&s, &t) == CF_EFORMAT);
	CHECK(cf_share_parse_line((const uint8_t *)"", 0, &t) == CF_EFORMAT);
	memset(v, ' ', CF_SHARE_LINE_MAX + 1);
	CHECK(cf_share_parse_line((const uint8_t *)v, CF_SHARE_LINE_MAX + 1, &t) == CF_ETOOBIG);
	CHECK(cf_share_parse_line((const uint8_t *)v, CF_SHARE_LINE_MAX, &t) == CF_EFORMAT);
}

CF_TEST(share_files)
{
	struct cf_share s;
	struct cf_share t;
	char line[CF_SHARE_LINE_MAX + 1];
	char file[CF_SHARE_FILE_MAX + 2];
	int n;

	fixed_share(&s, 3, 4);
	CHECK(cf_share_encode(&s, line, sizeof(line)) == 0);
	n = snprintf(file, sizeof(file), "# a share\n\n   # indented comment\r\n%s\r\n\n# end\n",
	             line);
	CHECK(cf_share_parse_file((const uint8_t *)file, (size_t)n, &t) == 0 && share_eq(&s, &t));
	n = snprintf(file, sizeof(file), "%s", line); /* no newline at all */
	CHECK(cf_share_parse_file((const uint8_t *)file, (size_t)n, &t) == 0 && share_eq(&s, &t));
	n = snprintf(file, sizeof(file), "%s\n%s\n", line, line);
	CHECK(cf_share_parse_file((const uint8_t *)file, (size_t)n, &t) == CF_EFORMAT);
	n = snprintf(file, sizeof(file), "# nothing\n\n");
	CHECK(cf_share_parse_file((const uint8_t *)file, (size_t)n, &t) == CF_EFORMAT);
	memset(file, '#', sizeof(file));
	CHECK(cf_share_parse_file((const uint8_t *)file, CF_SHARE_FILE_MAX + 1, &t) == CF_ETOOBIG);
}

/* ---- wrapping ---- */

CF_TEST(wrap_unwrap)
{
	struct cf_boxkey *mine = NULL;
	struct cf_boxkey *other = NULL;
	struct cf_share s;
	struct cf_share plain;
	struct cf_share t;
	struct cf_share u;
	char line[CF_SHARE_LINE_MAX + 1];
	uint8_t low[32] = {0}; /* the identity point: low order */

	CHECK(cf_boxkey_new(&mine) == 0 && cf_boxkey_new(&other) == 0);
	if (mine == NULL || other == NULL)
		return;
	fixed_share(&s, 3, 4);
	plain = s;
	CHECK(cf_share_wrap(&s, low) == CF_EAUTH && !s.wrapped && share_eq(&s, &plain));
	CHECK(cf_share_wrap(&s, cf_boxkey_pk(mine)) == 0 && s.wrapped);
	CHECK(cf_share_wrap(&s, cf_boxkey_pk(mine)) == CF_EINVAL);
	CHECK(memcmp(s.y, (uint8_t[32]){0}, 32) == 0);
	CHECK(cf_share_encode(&s, line, sizeof(line)) == 0);
	CHECK(strlen(line) == 102 + 2 + 64 + 1 + 208);
	CHECK(strstr(line, " w:") != NULL);
	CHECK(reparse(&s, &t) == 0 && share_eq(&s, &t));
	u = t;
	CHECK(cf_share_unwrap(&u, other) == CF_ENOKEY && share_eq(&u, &t));
	CHECK(cf_share_unwrap(&u, mine) == 0 && !u.wrapped && share_eq(&u, &plain));
	CHECK(cf_share_unwrap(&u, mine) == CF_EINVAL);
	/* A flipped bit in the wrap, or another header under the same wrap: refused. */
	u = t;
	u.wrap[50] ^= 4;
	CHECK(cf_share_unwrap(&u, mine) == CF_EAUTH && u.wrapped);
	u = t;
	u.k = 2;
	CHECK(cf_share_unwrap(&u, mine) == CF_EAUTH);
	u = t;
	u.x = 5;
	CHECK(cf_share_unwrap(&u, mine) == CF_EAUTH);
	u = t;
	u.keycheck[0] ^= 1;
	CHECK(cf_share_unwrap(&u, mine) == CF_EAUTH);
	u = t;
	u.fingerprint[31] ^= 1;
	CHECK(cf_share_unwrap(&u, mine) == CF_EAUTH);
	/* A wrapped share clashes like a plain one. */
	CHECK(cf_share_clash(&t, &s) == CF_SHARE_DUPLICATE);
	CHECK(cf_share_clash(&t, &plain) == CF_SHARE_SAME_INDEX);
	cf_boxkey_free(mine);
	cf_boxkey_free(other);
}

/* Allocation failures: a clean error, no leak (ASan checks). */
CF_TEST(alloc_failures)
{
	uint8_t rk[32];
	struct cf_key *key = random_key(rk);

	for (uint64_t n = 1; n < 8; n++) {
		struct cf_share *v = NULL;
		struct cf_key *back = NULL;
		size_t odd = 0;
		int rc;

		cf_alloc_fail_after(n);
		rc = cf_share_split(key, fp_a, 2, 3, &v);
		cf_alloc_fail_after(0);
		CHECK(rc == 0 || rc == CF_ENOMEM);
		if (rc != 0)
			continue;
		cf_alloc_fail_after(n);
		rc = cf_share_combine(v, 2, &back, &odd);
		cf_alloc_fail_after(0);
		CHECK(rc == 0 || rc == CF_ENOMEM);
		cf_key_free(back);
		cf_share_array_free(v, 3);
	}
	cf_key_free(key);
}

/* ---- known-answer vectors ---- */

static int
err_code(const char *name)
{
	static const struct {
		const char *name;
		int rc;
	} codes[] = {{"ok", 0},
	             {"EFORMAT", CF_EFORMAT},
	             {"EVERSION", CF_EVERSION},
	             {"EINVAL", CF_EINVAL},
	             {"EINTEGRITY", CF_EINTEGRITY},
	             {"EAUTH", CF_EAUTH},
	             {"ETOOBIG", CF_ETOOBIG},
	             {"ENOKEY", CF_ENOKEY}};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(codes[i].name, name) == 0)
			return codes[i].rc;
	return 1;
}

/* Parse, unwrap (with box_sk) and combine the shareN fields of @v; 0 or the first error. */
static int
run_vector(const struct th_vec *v, uint8_t rk[32])
{
	struct cf_share s[8];
	struct cf_boxkey *box = NULL;
	const char *hex = th_vec_get(v, "box_sk");
	struct cf_key *k = NULL;
	size_t n = 0;
	size_t odd = 0;
	int rc = 0;

	if (hex != NULL) {
		size_t len = 0;
		uint8_t *sk = th_unhex(hex, &len);

		CHECK(sk != NULL && len == 32 && cf_boxkey_from_secret(sk, &box) == 0);
		free(sk);
	}
	for (n = 0; n < 8 && rc == 0; n++) {
		char key[16];
		const char *line = NULL;

		(void)snprintf(key, sizeof(key), "share%zu", n + 1);
		if ((line = th_vec_get(v, key)) == NULL)
			break;
		rc = cf_share_parse_line((const uint8_t *)line, strlen(line), &s[n]);
		if (rc == 0 && s[n].wrapped)
			rc = box != NULL ? cf_share_unwrap(&s[n], box) : CF_ENOKEY;
	}
	if (rc == 0 && (rc = cf_share_combine(s, n, &k, &odd)) == 0)
		memcpy(rk, cf_key_view(k), 32);
	cf_key_free(k);
	cf_boxkey_free(box);
	cf_wipe(s, sizeof(s));
	return rc;
}

CF_TEST(vectors)
{
	FILE *f = fopen(th_vector_path("shares.txt"), "r");
	struct th_vec v;
	int records = 0;
	int fails = 0;

	memset(&v, 0, sizeof(v));
	CHECK(f != NULL);
	if (f == NULL)
		return;
	while (th_vec_next(f, &v)) {
		const char *want = th_vec_get(&v, "result");
		const char *rkhex = th_vec_get(&v, "rk");
		uint8_t rk[32];
		int rc = run_vector(&v, rk);

		records++;
		CHECK(want != NULL);
		if (want == NULL)
			continue;
		if (rc != err_code(want)) {
			fprintf(stderr, "vector at line %d: got %s, want %s\n", v.line,
			        cf_strerror(rc), want);
			CHECK(rc == err_code(want));
		}
		if (rc == 0) {
			size_t len = 0;
			uint8_t *exp = th_unhex(rkhex != NULL ? rkhex : "", &len);

			CHECK(exp != NULL && len == 32 && memcmp(exp, rk, 32) == 0);
			free(exp);
		} else {
			fails++;
		}
	}
	th_vec_clear(&v);
	fclose(f);
	CHECK(records >= 12 && fails >= 8);
}

/* ---- vector generator (CF_GEN_VECTORS=1) ---- */

/* Fixed inputs: RK = 00..1f, coefficients from BLAKE2b of a label, split id 5eed5eed. */
static void
gen_fixed(uint8_t rk[32], uint8_t coef[4][32])
{
	for (size_t i = 0; i < 32; i++)
		rk[i] = (uint8_t)i;
	for (size_t j = 0; j < 4; j++) {
		uint8_t label[] = "test_shares coefficient 0";

		label[sizeof(label) - 2] = (uint8_t)('0' + j);
		cf_blake2b(coef[j], label, sizeof(label) - 1, rk, 32);
	}
}

/*
 * The reference share @x of the fixed key's polynomial of degree @poly_k - 1 (@poly_k <= 5),
 * labelled as a @k-of-N share, as a line.
 */
static void
gen_share(unsigned k, unsigned poly_k, uint8_t x, const uint8_t fp[32], char *out)
{
	uint8_t rk[32];
	uint8_t coef[4][32];
	struct cf_key *key = NULL;
	struct cf_share s;

	gen_fixed(rk, coef);
	memset(&s, 0, sizeof(s));
	memcpy(s.fingerprint, fp, 32);
	s.k = (uint8_t)k;
	s.x = x;
	memcpy(s.split, "\x5e\xed\x5e\xed", 4);
	if (cf_key_new_from(rk, &key) == 0)
		cf_share_keycheck(s.keycheck, key);
	cf_key_free(key);
	ref_eval(rk, (const uint8_t(*)[32])coef, poly_k, x, s.y);
	CHECK(cf_share_encode(&s, out, CF_SHARE_LINE_MAX + 1) == 0);
}

static void
gen_line(unsigned k, uint8_t x, const uint8_t fp[32], char *out)
{
	gen_share(k, k, x, fp, out);
}

static void
gen_record(const char *name, const char *result, const char *const *lines, size_t n)
{
	printf("name = %s\n", name);
	if (strcmp(result, "ok") == 0)
		printf("rk = 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n");
	for (size_t i = 0; i < n; i++)
		printf("share%zu = %s\n", i + 1, lines[i]);
	printf("result = %s\n\n", result);
}

/* The line of the fixed 3-of-5 split, index @x, changed by @edit. */
static void
gen_edited(uint8_t x, char *out, void (*edit)(char *))
{
	gen_line(3, x, fp_a, out);
	if (edit != NULL)
		edit(out);
}

static void
ed_symbol(char *l)
{
	size_t n = strlen(l);

	l[n - 9] = l[n - 9] == 'Z' ? 'Y' : 'Z'; /* a symbol, not a dash */
}

static void
ed_truncate(char *l)
{
	l[strlen(l) - 1] = '\0';
}

static void
ed_trailing(char *l)
{
	size_t n = strlen(l);

	l[n] = '0';
	l[n + 1] = '\0';
}

static void
ed_version(char *l)
{
	l[13] = '2';
}

static void
ed_fingerprint(char *l)
{
	l[20] = l[20] == 'f' ? 'e' : 'f';
}

static void
gen_plain(void)
{
	char a[8][CF_SHARE_LINE_MAX + 1];
	const char *p[8];

	for (size_t i = 0; i < 8; i++)
		p[i] = a[i];
	printf("# Recovery shares (docs/format.md 10.3). Generated by CF_GEN_VECTORS=1 "
	       "test_shares:\n"
	       "# RK = 00..1f, fingerprint fa0102..10 00.., split id 5eed5eed, polynomial\n"
	       "# coefficients from BLAKE2b (see gen_fixed), GF(2^8) modulo 0x11d.\n\n");
	gen_line(2, 1, fp_a, a[0]);
	gen_line(2, 3, fp_a, a[1]);
	gen_record("2-of-3, shares 1 and 3", "ok", p, 2);
	gen_record("2-of-3, share 1 alone", "EINVAL", p, 1);
	for (uint8_t x = 1; x <= 5; x++)
		gen_line(3, x, fp_a, a[x - 1]);
	gen_record("3-of-5, shares 1 2 3", "ok", p, 3);
	gen_record("3-of-5, shares 1 2 3 4 5", "ok", p, 5);
	gen_record("3-of-5, shares 3 4 5", "ok", p + 2, 3);
	gen_record("3-of-5, shares 1 2", "EINVAL", p, 2);
	memcpy(a[5], a[4], sizeof(a[4]));
	gen_record("3-of-5, shares 4 5 5 (duplicate)", "EINVAL", p + 3, 3);
	gen_share(2, 3, 2, fp_a, a[6]);
	gen_share(2, 3, 5, fp_a, a[7]);
	gen_record("shares 2 and 5 of the 3-of-5 polynomial relabelled 2-of-N (keycheck)",
	           "EINTEGRITY", p + 6, 2);
	gen_line(3, 4, fp_b, a[3]);
	gen_record("3-of-5, share 4 of another repository", "EINVAL", p + 1, 3);
	gen_edited(1, a[0], ed_symbol);
	gen_record("3-of-5, share 1 with one symbol changed", "EINTEGRITY", p, 3);
	gen_edited(1, a[0], ed_truncate);
	gen_record("3-of-5, share 1 truncated (55 symbols)", "EFORMAT", p, 3);
	gen_edited(1, a[0], ed_trailing);
	gen_record("3-of-5, share 1 with a trailing symbol", "EFORMAT", p, 3);
	gen_edited(1, a[0], ed_version);
	gen_record("3-of-5, share 1 of format version 2", "EVERSION", p, 3);
	gen_edited(1, a[0], ed_fingerprint);
	gen_record("3-of-5, share 1 with its fingerprint changed", "EINTEGRITY", p, 3);
}

/* Wrapped records: a fixed recipient key; the wraps themselves are random. */
static void
gen_wrapped(void)
{
	uint8_t sk[32];
	char hex[65];
	char a[3][CF_SHARE_LINE_MAX + 1];
	char b[3][CF_SHARE_LINE_MAX + 1];
	struct cf_boxkey *box = NULL;
	struct cf_share s;

	for (size_t i = 0; i < 32; i++)
		sk[i] = (uint8_t)(0x40 + i);
	if (cf_boxkey_from_secret(sk, &box) != 0)
		return;
	cf_hex(hex, sk, 32);
	for (uint8_t x = 1; x <= 3; x++) {
		gen_line(3, x, fp_a, a[x - 1]);
		if (x == 2)
			continue;
		CHECK(cf_share_parse_line((const uint8_t *)a[x - 1], strlen(a[x - 1]), &s) == 0);
		CHECK(cf_share_wrap(&s, cf_boxkey_pk(box)) == 0);
		CHECK(cf_share_encode(&s, a[x - 1], sizeof(a[x - 1])) == 0);
	}
	memcpy(b, a, sizeof(b));
	for (int r = 0; r < 3; r++) {
		memcpy(a, b, sizeof(a)); /* one fault per record */
		printf("name = 3-of-5, shares 1 and 3 wrapped to box_sk, share 2 plain%s\n",
		       r == 0   ? ""
		       : r == 1 ? ", a bit of share 3's wrap flipped"
		                : ", share 1's index changed under its wrap");
		printf("box_sk = %s\n", hex);
		if (r == 0)
			printf("rk = "
			       "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1"
			       "f\n");
		if (r == 1)
			a[2][strlen(a[2]) - 1] = a[2][strlen(a[2]) - 1] == '0' ? '1' : '0';
		if (r == 2)
			a[0][strlen("coffer-share-1 ") + 64 + 3] = '4';
		printf("share1 = %s\nshare2 = %s\nshare3 = %s\n", a[0], a[1], a[2]);
		printf("result = %s\n\n", r == 0 ? "ok" : "EAUTH");
	}
	cf_boxkey_free(box);
}

CF_TEST(zz_generate_vectors)
{
	const char *gen = getenv("CF_GEN_VECTORS");

	if (gen == NULL || strcmp(gen, "1") != 0)
		return;
	gen_plain();
	gen_wrapped();
	fflush(stdout);
}
