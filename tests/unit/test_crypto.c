/*
 * test_crypto.c - known answers and must-fail cases for src/crypto (docs/format.md 1).
 *
 * Published vectors (FIPS 180, RFC 4231, draft-irtf-cfrg-xchacha-03, RFC 8032, RFC 7748) are
 * in tests/vectors/crypto.txt. Values with no published vector (KDF, Argon2id through our
 * wrapper, Wrap) are pinned: CF_GEN_VECTORS=1 prints them (the wrap record has a random
 * ephemeral key and nonce, so the committed one was generated once).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "crypto/crypto.h"
#include "crypto/crypto_impl.h"
#include "harness.h"

static void
fill(uint8_t *p, size_t n, uint8_t start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(start + i);
}

/* A vector field as bytes (an empty value gives a 1-byte buffer and *len 0). */
static uint8_t *
field(const struct th_vec *v, const char *key, size_t *len)
{
	const char *hex = th_vec_get(v, key);
	uint8_t *p = NULL;

	*len = 0;
	if (hex == NULL)
		return NULL;
	if (*hex == '\0')
		return calloc(1, 1);
	p = th_unhex(hex, len);
	CHECK(p != NULL);
	return p;
}

static bool
eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return a != NULL && b != NULL && alen == blen && memcmp(a, b, alen) == 0;
}

static void
kat_sha256(const struct th_vec *v)
{
	size_t mlen = 0;
	size_t olen = 0;
	uint8_t *m = field(v, "msg", &mlen);
	uint8_t *want = field(v, "out", &olen);
	uint8_t got[32];

	cf_hash(got, m, mlen);
	CHECK(eq(got, 32, want, olen));
	cf_hash2(got, m, mlen / 2, m + mlen / 2, mlen - mlen / 2);
	CHECK(eq(got, 32, want, olen));
	free(m);
	free(want);
}

static void
kat_hmac(const struct th_vec *v)
{
	size_t klen = 0;
	size_t mlen = 0;
	size_t olen = 0;
	uint8_t *kb = field(v, "key", &klen);
	uint8_t *m = field(v, "msg", &mlen);
	uint8_t *want = field(v, "out", &olen);
	struct cf_key *k = NULL;
	uint8_t got[32];

	CHECK(klen == 32 && cf_key_new_from(kb, &k) == 0);
	if (k != NULL) {
		cf_mac(got, k, m, mlen);
		CHECK(eq(got, 32, want, olen));
	}
	cf_key_free(k);
	free(kb);
	free(m);
	free(want);
}

static void
kat_xchacha(const struct th_vec *v)
{
	size_t klen = 0;
	size_t nlen = 0;
	size_t adlen = 0;
	size_t ptlen = 0;
	size_t ctlen = 0;
	size_t tlen = 0;
	uint8_t *kb = field(v, "key", &klen);
	uint8_t *nonce = field(v, "nonce", &nlen);
	uint8_t *ad = field(v, "ad", &adlen);
	uint8_t *pt = field(v, "pt", &ptlen);
	uint8_t *ct = field(v, "ct", &ctlen);
	uint8_t *tag = field(v, "tag", &tlen);
	struct cf_key *k = NULL;
	uint8_t *c = NULL;
	uint8_t *out = NULL;
	size_t clen = nlen + ctlen + tlen;

	CHECK(klen == 32 && nlen == 24 && tlen == 16 && ptlen == ctlen);
	CHECK(cf_key_new_from(kb, &k) == 0);
	/* cf_aead_open() takes nonce || ciphertext || tag. */
	c = malloc(clen);
	out = malloc(ptlen + 1);
	memcpy(c, nonce, nlen);
	memcpy(c + nlen, ct, ctlen);
	memcpy(c + nlen + ctlen, tag, tlen);
	CHECK(cf_aead_open(out, k, c, clen, ad, adlen) == 0);
	CHECK(eq(out, ptlen, pt, ptlen));
	/* OpenSSL's path on its own, whatever the length: the same bytes both ways */
	memset(out, 0, ptlen);
	CHECK(cf_aead_ossl_open(out, kb, c, ptlen, ad, adlen) == 0 && eq(out, ptlen, pt, ptlen));
	memset(c + nlen, 0, ctlen + tlen);
	CHECK(cf_aead_ossl_seal(c + nlen, kb, nonce, pt, ptlen, ad, adlen) == 0);
	CHECK(eq(c + nlen, ctlen, ct, ctlen) && eq(c + nlen + ctlen, tlen, tag, tlen));
	CHECK(cf_aead_open(out, k, c, clen, ad, adlen - 1) == CF_EAUTH);
	c[clen - 1] ^= 1;
	CHECK(cf_aead_open(out, k, c, clen, ad, adlen) == CF_EAUTH);
	c[clen - 1] ^= 1;
	c[0] ^= 1;
	CHECK(cf_aead_open(out, k, c, clen, ad, adlen) == CF_EAUTH);
	CHECK(cf_aead_open(out, k, c, CF_AEAD_OVERHEAD - 1, ad, adlen) == CF_ETRUNC);
	cf_key_free(k);
	free(kb);
	free(nonce);
	free(ad);
	free(pt);
	free(ct);
	free(tag);
	free(c);
	free(out);
}

static void
kat_ed25519(const struct th_vec *v)
{
	size_t slen = 0;
	size_t plen = 0;
	size_t mlen = 0;
	size_t glen = 0;
	uint8_t *seed = field(v, "seed", &slen);
	uint8_t *pk = field(v, "pk", &plen);
	uint8_t *m = field(v, "msg", &mlen);
	uint8_t *want = field(v, "sig", &glen);
	struct cf_signkey *k = NULL;
	uint8_t sig[64];

	CHECK(slen == 32 && cf_signkey_from_seed(seed, &k) == 0);
	if (k != NULL) {
		CHECK(eq(cf_signkey_pk(k), 32, pk, plen));
		CHECK(memcmp(cf_signkey_seed(k), seed, 32) == 0);
		cf_sign(sig, k, m, mlen);
		CHECK(eq(sig, 64, want, glen));
		CHECK(cf_verify(sig, pk, m, mlen) == 0);
		sig[63] ^= 0x10;
		CHECK(cf_verify(sig, pk, m, mlen) == CF_EAUTH);
	}
	cf_signkey_free(k);
	free(seed);
	free(pk);
	free(m);
	free(want);
}

static void
kat_x25519(const struct th_vec *v)
{
	size_t slen = 0;
	size_t plen = 0;
	uint8_t *sk = field(v, "sk", &slen);
	uint8_t *pk = field(v, "pk", &plen);
	struct cf_boxkey *k = NULL;

	CHECK(slen == 32 && cf_boxkey_from_secret(sk, &k) == 0);
	if (k != NULL)
		CHECK(eq(cf_boxkey_pk(k), 32, pk, plen) && memcmp(cf_boxkey_sk(k), sk, 32) == 0);
	cf_boxkey_free(k);
	free(sk);
	free(pk);
}

static void
kat_kdf(const struct th_vec *v)
{
	size_t klen = 0;
	size_t olen = 0;
	uint8_t *kb = field(v, "key", &klen);
	uint8_t *want = field(v, "out", &olen);
	const char *label = th_vec_get(v, "label");
	struct cf_key *k = NULL;
	struct cf_key *d = NULL;
	uint8_t got[32];
	uint8_t ref[32];

	CHECK(klen == 32 && label != NULL && cf_key_new_from(kb, &k) == 0);
	if (k == NULL || label == NULL)
		goto out;
	cf_kdf_bytes(got, k, label);
	CHECK(eq(got, 32, want, olen));
	CHECK(cf_kdf(k, label, &d) == 0 && d != NULL && eq(cf_key_view(d), 32, want, olen));
	/* KDF(k, label) is BLAKE2b-256 of the label keyed with k (docs/format.md 1). */
	crypto_generichash(ref, 32, (const uint8_t *)label, strlen(label), kb, 32);
	CHECK(memcmp(ref, got, 32) == 0);
out:
	cf_key_free(k);
	cf_key_free(d);
	free(kb);
	free(want);
}

static void
kat_pwhash(const struct th_vec *v)
{
	size_t slen = 0;
	size_t olen = 0;
	uint8_t *salt = field(v, "salt", &slen);
	uint8_t *want = field(v, "out", &olen);
	const char *pass = th_vec_get(v, "pass");
	uint64_t ops = 0;
	uint64_t mem = 0;
	struct cf_key *k = NULL;

	CHECK(slen == 16 && pass != NULL);
	CHECK(cf_parse_u64(th_vec_get(v, "ops"), 1, 16, &ops) == 0);
	CHECK(cf_parse_u64(th_vec_get(v, "mem"), 8192, 1 << 20, &mem) == 0);
	if (salt != NULL && pass != NULL && ops > 0 &&
	    cf_pwhash(pass, strlen(pass), salt, ops, mem, &k) == 0) {
		CHECK(eq(cf_key_view(k), 32, want, olen));
		cf_key_free(k);
	} else {
		th_fail(__FILE__, __LINE__, "cf_pwhash failed");
	}
	free(salt);
	free(want);
}

/* A pinned Wrap output: open it, and open it again by hand following docs/format.md 1.1. */
static void
kat_wrap(const struct th_vec *v)
{
	size_t slen = 0;
	size_t adlen = 0;
	size_t clen = 0;
	size_t mlen = 0;
	uint8_t *sk = field(v, "sk", &slen);
	uint8_t *ad = field(v, "ad", &adlen);
	uint8_t *c = field(v, "c", &clen);
	uint8_t *m = field(v, "m", &mlen);
	struct cf_boxkey *k = NULL;
	crypto_generichash_state st;
	uint8_t out[256];
	uint8_t ss[32];
	uint8_t kk[32];

	CHECK(slen == 32 && clen == mlen + CF_WRAP_OVERHEAD && mlen <= sizeof(out));
	CHECK(cf_boxkey_from_secret(sk, &k) == 0);
	if (k == NULL || clen != mlen + CF_WRAP_OVERHEAD || mlen > sizeof(out))
		goto out;
	CHECK(cf_unwrap(out, k, ad, adlen, c, clen) == 0 && memcmp(out, m, mlen) == 0);
	CHECK(crypto_scalarmult(ss, sk, c) == 0);
	crypto_generichash_init(&st, ss, 32, 32);
	crypto_generichash_update(&st, (const uint8_t *)"coffer.v1.wrap", 14);
	crypto_generichash_update(&st, c, 32);
	crypto_generichash_update(&st, cf_boxkey_pk(k), 32);
	crypto_generichash_final(&st, kk, 32);
	memset(out, 0, sizeof(out));
	CHECK(crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, c + 56, clen - 56, ad,
	                                                 adlen, c + 32, kk) == 0);
	CHECK(memcmp(out, m, mlen) == 0);
out:
	cf_boxkey_free(k);
	free(sk);
	free(ad);
	free(c);
	free(m);
}

CF_TEST(vectors)
{
	FILE *fp = fopen(th_vector_path("crypto.txt"), "r");
	struct th_vec v = {0};
	int n = 0;

	CHECK(fp != NULL);
	if (fp == NULL)
		return;
	while (th_vec_next(fp, &v)) {
		const char *alg = th_vec_get(&v, "alg");

		CHECK(alg != NULL);
		if (alg == NULL)
			continue;
		if (strcmp(alg, "sha256") == 0)
			kat_sha256(&v);
		else if (strcmp(alg, "hmac") == 0)
			kat_hmac(&v);
		else if (strcmp(alg, "xchacha") == 0)
			kat_xchacha(&v);
		else if (strcmp(alg, "ed25519") == 0)
			kat_ed25519(&v);
		else if (strcmp(alg, "x25519") == 0)
			kat_x25519(&v);
		else if (strcmp(alg, "kdf") == 0)
			kat_kdf(&v);
		else if (strcmp(alg, "pwhash") == 0)
			kat_pwhash(&v);
		else if (strcmp(alg, "wrap") == 0)
			kat_wrap(&v);
		else
			th_fail(__FILE__, __LINE__, "unknown alg");
		n++;
	}
	th_vec_clear(&v);
	fclose(fp);
	CHECK(n >= 16);
}

CF_TEST(hash_streaming_and_concatenation)
{
	uint8_t data[1000];
	uint8_t a[32];
	uint8_t b[32];
	struct cf_hash_ctx *h = NULL;

	fill(data, sizeof(data), 3);
	cf_hash(a, data, sizeof(data));
	CHECK(cf_hash_ctx_new(&h) == 0);
	if (h == NULL)
		return;
	cf_hash_ctx_update(h, data, 1);
	cf_hash_ctx_update(h, data + 1, 600);
	cf_hash_ctx_update(h, data + 601, 399);
	cf_hash_ctx_final(h, b);
	cf_hash_ctx_free(h);
	CHECK(memcmp(a, b, 32) == 0);
	cf_hash2(b, data, 0, data, sizeof(data));
	CHECK(memcmp(a, b, 32) == 0);
}

CF_TEST(aead_round_trip)
{
	struct cf_key *k = NULL;
	struct cf_key *k2 = NULL;
	uint8_t m[100];
	uint8_t c[100 + CF_AEAD_OVERHEAD];
	uint8_t c2[100 + CF_AEAD_OVERHEAD];
	uint8_t out[100];

	fill(m, sizeof(m), 1);
	CHECK(cf_key_new_random(&k) == 0 && cf_key_new_random(&k2) == 0);
	if (k == NULL || k2 == NULL)
		goto out;
	cf_aead_seal(c, k, m, sizeof(m), (const uint8_t *)"ad", 2);
	cf_aead_seal(c2, k, m, sizeof(m), (const uint8_t *)"ad", 2);
	CHECK(memcmp(c, c2, CF_NONCE_BYTES) != 0); /* fresh nonces */
	CHECK(cf_aead_open(out, k, c, sizeof(c), (const uint8_t *)"ad", 2) == 0);
	CHECK(memcmp(out, m, sizeof(m)) == 0);
	CHECK(cf_aead_open(out, k2, c, sizeof(c), (const uint8_t *)"ad", 2) == CF_EAUTH);
	CHECK(cf_aead_open(out, k, c, sizeof(c), (const uint8_t *)"ae", 2) == CF_EAUTH);
	CHECK(cf_aead_open(out, k, c, sizeof(c) - 1, (const uint8_t *)"ad", 2) == CF_EAUTH);
out:
	cf_key_free(k);
	cf_key_free(k2);
}

/* cf_aead_open() of @c must fail (too short, or not authentic) and leave no plaintext. */
static void
open_fails(const struct cf_key *k, const uint8_t *c, size_t clen, const uint8_t *ad, size_t adlen,
           uint8_t *out, size_t outcap)
{
	memset(out, 0xee, outcap);
	CHECK(cf_aead_open(out, k, c, clen, ad, adlen) ==
	      (clen < CF_AEAD_OVERHEAD ? CF_ETRUNC : CF_EAUTH));
	CHECK(clen < CF_AEAD_OVERHEAD || sodium_is_zero(out, clen - CF_AEAD_OVERHEAD));
}

/*
 * One length: our seal opens with libsodium, libsodium's seal opens with ours, and each kind
 * of damage fails: a flipped byte of the ciphertext (its middle), the tag, either part of
 * the nonce (HChaCha20's 16 bytes, the 8 that go to ChaCha20) or the ad; a byte less or more;
 * another ad length; another key.
 */
static void
aead_against_libsodium(const uint8_t kb[32], const struct cf_key *k, size_t mlen, size_t adlen)
{
	uint8_t ad[14];
	uint8_t *m = malloc(mlen + 1);
	uint8_t *c = malloc(mlen + CF_AEAD_OVERHEAD + 1);
	uint8_t *out = malloc(mlen + 2);
	size_t clen = mlen + CF_AEAD_OVERHEAD;
	struct cf_key *other = NULL;

	CHECK(m != NULL && c != NULL && out != NULL && adlen < sizeof(ad));
	CHECK(cf_key_new_random(&other) == 0);
	if (m == NULL || c == NULL || out == NULL || other == NULL || adlen >= sizeof(ad))
		goto out;
	fill(m, mlen, (uint8_t)mlen);
	fill(ad, sizeof(ad), 7);
	cf_aead_seal(c, k, m, mlen, ad, adlen);
	CHECK(crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, c + CF_NONCE_BYTES,
	                                                 clen - CF_NONCE_BYTES, ad, adlen, c,
	                                                 kb) == 0);
	CHECK(memcmp(out, m, mlen) == 0);
	memset(out, 0, mlen);
	fill(c, CF_NONCE_BYTES, 99);
	(void)crypto_aead_xchacha20poly1305_ietf_encrypt(c + CF_NONCE_BYTES, NULL, m, mlen, ad,
	                                                 adlen, NULL, c, kb);
	CHECK(cf_aead_open(out, k, c, clen, ad, adlen) == 0 && memcmp(out, m, mlen) == 0);
	for (size_t at = 0; at < 4; at++) {
		static const size_t fixed[] = {0, 5, 20};
		size_t i = at == 0 ? CF_NONCE_BYTES + mlen / 2 : at == 1 ? clen - 1 : fixed[at - 1];

		if (at == 0 && mlen == 0)
			continue;
		c[i] ^= 0x20;
		open_fails(k, c, clen, ad, adlen, out, mlen + 2);
		c[i] ^= 0x20;
	}
	if (adlen > 0) {
		ad[adlen / 2] ^= 1;
		open_fails(k, c, clen, ad, adlen, out, mlen + 2);
		ad[adlen / 2] ^= 1;
	}
	open_fails(k, c, clen, ad, adlen + 1, out, mlen + 2);
	open_fails(other, c, clen, ad, adlen, out, mlen + 2);
	open_fails(k, c, clen - 1, ad, adlen, out, mlen + 2);
	c[clen] = 0;
	open_fails(k, c, clen + 1, ad, adlen, out, mlen + 2);
	CHECK(cf_aead_open(out, k, c, clen, ad, adlen) == 0 && memcmp(out, m, mlen) == 0);
out:
	cf_key_free(other);
	free(m);
	free(c);
	free(out);
}

/* The OpenSSL path itself, at a length cf_aead_seal() gives it: libsodium's bytes exactly. */
static void
ossl_path_pinned(const uint8_t kb[32], size_t mlen)
{
	uint8_t nonce[CF_NONCE_BYTES];
	uint8_t *m = malloc(mlen + 1);
	uint8_t *want = malloc(mlen + CF_TAG_BYTES);
	uint8_t *got = malloc(mlen + CF_AEAD_OVERHEAD);

	CHECK(m != NULL && want != NULL && got != NULL);
	if (m == NULL || want == NULL || got == NULL)
		goto out;
	fill(m, mlen, 3);
	fill(nonce, sizeof(nonce), 0x40);
	(void)crypto_aead_xchacha20poly1305_ietf_encrypt(want, NULL, m, mlen, nonce, 9, NULL, nonce,
	                                                 kb);
	memcpy(got, nonce, sizeof(nonce));
	CHECK(cf_aead_ossl_seal(got + CF_NONCE_BYTES, kb, nonce, m, mlen, nonce, 9) == 0);
	CHECK(memcmp(got + CF_NONCE_BYTES, want, mlen + CF_TAG_BYTES) == 0);
	memset(m, 0, mlen);
	CHECK(cf_aead_ossl_open(m, kb, got, mlen, nonce, 9) == 0);
	got[CF_NONCE_BYTES + mlen - 1] ^= 1;
	CHECK(cf_aead_ossl_open(m, kb, got, mlen, nonce, 9) == CF_EAUTH);
out:
	free(m);
	free(want);
	free(got);
}

/* Long inputs go through OpenSSL (AEAD_OSSL_MIN in crypto.c), short ones through libsodium. */
CF_TEST(aead_same_as_libsodium_at_every_length)
{
	static const size_t lens[] = {0,    1,    100,   1023,   1024,   1025,
	                              4096, 4097, 65536, 300001, 1048579};
	uint8_t kb[32];
	struct cf_key *k = NULL;

	fill(kb, sizeof(kb), 0x80);
	CHECK(cf_key_new_from(kb, &k) == 0);
	for (size_t i = 0; k != NULL && i < sizeof(lens) / sizeof(lens[0]); i++) {
		aead_against_libsodium(kb, k, lens[i], 0);
		aead_against_libsodium(kb, k, lens[i], 13);
		if (lens[i] >= 1024)
			ossl_path_pinned(kb, lens[i]);
	}
	cf_key_free(k);
}

CF_TEST(sign2_is_sign_of_concatenation)
{
	struct cf_signkey *k = NULL;
	uint8_t seed[32];
	uint8_t s1[64];
	uint8_t s2[64];

	fill(seed, 32, 5);
	CHECK(cf_signkey_from_seed(seed, &k) == 0);
	if (k == NULL)
		return;
	cf_sign(s1, k, (const uint8_t *)"labelmessage", 12);
	CHECK(cf_sign2(s2, k, "label", 5, "message", 7) == 0);
	CHECK(memcmp(s1, s2, 64) == 0);
	CHECK(cf_verify2(s1, cf_signkey_pk(k), "label", 5, "message", 7) == 0);
	CHECK(cf_verify2(s1, cf_signkey_pk(k), "labelm", 6, "essage", 6) == 0);
	CHECK(cf_verify2(s1, cf_signkey_pk(k), "label", 5, "messagf", 7) == CF_EAUTH);
	CHECK(cf_sign2(s2, k, "label", 5, NULL, 0) == 0);
	CHECK(cf_verify2(s2, cf_signkey_pk(k), "label", 5, NULL, 0) == 0);
	cf_signkey_free(k);
}

CF_TEST(wrap_round_trip_and_must_fail)
{
	static const uint8_t ad[] = "coffer.v1.test";
	struct cf_boxkey *r = NULL;
	struct cf_boxkey *other = NULL;
	struct cf_key *key = NULL;
	uint8_t m[32];
	uint8_t c[32 + CF_WRAP_OVERHEAD];
	uint8_t b[32 + CF_WRAP_OVERHEAD];
	uint8_t out[32];
	uint8_t zero_pk[32] = {0};
	int bad = 0;

	fill(m, 32, 0x33);
	CHECK(cf_boxkey_new(&r) == 0 && cf_boxkey_new(&other) == 0);
	if (r == NULL || other == NULL)
		goto out;
	CHECK(cf_wrap(c, cf_boxkey_pk(r), ad, sizeof(ad), m, 32) == 0);
	CHECK(cf_unwrap(out, r, ad, sizeof(ad), c, sizeof(c)) == 0 && memcmp(out, m, 32) == 0);
	CHECK(cf_unwrap_key(r, ad, sizeof(ad), c, sizeof(c), &key) == 0);
	CHECK(key != NULL && memcmp(cf_key_view(key), m, 32) == 0);
	cf_key_free(key);
	key = NULL;
	CHECK(cf_unwrap(out, r, ad, sizeof(ad) - 1, c, sizeof(c)) == CF_EAUTH);
	CHECK(cf_unwrap(out, other, ad, sizeof(ad), c, sizeof(c)) == CF_EAUTH);
	CHECK(cf_unwrap(out, r, ad, sizeof(ad), c, sizeof(c) - 1) == CF_EAUTH);
	CHECK(cf_unwrap(out, r, ad, sizeof(ad), c, CF_WRAP_OVERHEAD - 1) == CF_ETRUNC);
	CHECK(cf_unwrap_key(r, ad, sizeof(ad), c, sizeof(c) - 1, &key) == CF_EFORMAT && !key);
	/* One flipped bit in each region: ephemeral key, nonce, ciphertext, tag (every bit). */
	for (size_t i = 0; i < sizeof(c) * 8; i++) {
		memcpy(b, c, sizeof(c));
		b[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (cf_unwrap(out, r, ad, sizeof(ad), b, sizeof(b)) != CF_EAUTH)
			bad++;
	}
	CHECK(bad == 0);
	/* A low-order recipient key is refused; so is a low-order ephemeral key. */
	CHECK(cf_wrap(b, zero_pk, ad, sizeof(ad), m, 32) == CF_EAUTH);
	memcpy(b, c, sizeof(c));
	memset(b, 0, 32);
	CHECK(cf_unwrap(out, r, ad, sizeof(ad), b, sizeof(b)) == CF_EAUTH);
out:
	cf_boxkey_free(r);
	cf_boxkey_free(other);
}

CF_TEST(pwhash_deterministic)
{
	uint8_t salt[16];
	struct cf_key *a = NULL;
	struct cf_key *b = NULL;
	struct cf_key *c = NULL;

	fill(salt, 16, 0);
	CHECK(cf_pwhash("pw", 2, salt, 1, 8192, &a) == 0);
	CHECK(cf_pwhash("pw", 2, salt, 1, 8192, &b) == 0);
	salt[0] ^= 1;
	CHECK(cf_pwhash("pw", 2, salt, 1, 8192, &c) == 0);
	if (a != NULL && b != NULL && c != NULL) {
		CHECK(memcmp(cf_key_view(a), cf_key_view(b), 32) == 0);
		CHECK(memcmp(cf_key_view(a), cf_key_view(c), 32) != 0);
	}
	cf_key_free(a);
	cf_key_free(b);
	cf_key_free(c);
	CHECK(cf_pwhash("pw", 2, salt, 0, 8192, &a) == CF_EINVAL && a == NULL);
	CHECK(cf_pwhash("pw", 2, salt, 1, 8191, &a) == CF_EINVAL && a == NULL);
}

static void
gen_kdf(const struct cf_key *k, const char *label)
{
	uint8_t out[32];

	cf_kdf_bytes(out, k, label);
	printf("name = KDF, key 00..1f, %s\nalg = kdf\n", label);
	th_print_hex("key", cf_key_view(k), 32);
	printf("label = %s\n", label);
	th_print_hex("out", out, 32);
	printf("\n");
}

static void
gen_pwhash(const char *pass, uint64_t ops, uint64_t mem)
{
	uint8_t salt[16];
	struct cf_key *k = NULL;

	fill(salt, 16, 0);
	CHECK(cf_pwhash(pass, strlen(pass), salt, ops, mem, &k) == 0);
	if (k == NULL)
		return;
	printf("name = Argon2id, \"%s\", ops %llu, mem %llu\nalg = pwhash\npass = %s\n", pass,
	       (unsigned long long)ops, (unsigned long long)mem, pass);
	th_print_hex("salt", salt, 16);
	printf("ops = %llu\nmem = %llu\n", (unsigned long long)ops, (unsigned long long)mem);
	th_print_hex("out", cf_key_view(k), 32);
	printf("\n");
	cf_key_free(k);
}

CF_TEST(gen_vectors)
{
	static const char *labels[] = {"coffer.v1.gear", "coffer.v1.chunk-id", "coffer.v1.index",
	                               "coffer.v1.ck-check"};
	static const uint8_t ad[] = "coffer.v1.keyslot";
	struct cf_key *k = NULL;
	struct cf_boxkey *r = NULL;
	uint8_t b[32];
	uint8_t m[40];
	uint8_t c[40 + CF_WRAP_OVERHEAD];

	if (getenv("CF_GEN_VECTORS") == NULL)
		return;
	printf("# Pinned values (no published vector): printed by CF_GEN_VECTORS=1 "
	       "test_crypto.\n\n");
	fill(b, 32, 0);
	CHECK(cf_key_new_from(b, &k) == 0);
	for (size_t i = 0; i < 4; i++)
		gen_kdf(k, labels[i]);
	cf_key_free(k);
	gen_pwhash("password", 1, 8192);
	gen_pwhash("correct horse", 2, 65536);
	fill(b, 32, 0x40);
	CHECK(cf_boxkey_from_secret(b, &r) == 0);
	fill(m, sizeof(m), 0x90);
	CHECK(cf_wrap(c, cf_boxkey_pk(r), ad, sizeof(ad) - 1, m, sizeof(m)) == 0);
	printf("name = Wrap to X25519 key 40..5f (generated once)\nalg = wrap\n");
	th_print_hex("sk", b, 32);
	th_print_hex("ad", ad, sizeof(ad) - 1);
	th_print_hex("m", m, sizeof(m));
	th_print_hex("c", c, sizeof(c));
	printf("\n");
	cf_boxkey_free(r);
}
