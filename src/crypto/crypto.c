/*
 * crypto.c - thin wrappers over libsodium and OpenSSL libcrypto (docs/format.md section 1).
 */
#include "crypto.h"

#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <string.h>

#include "../base/base.h"
#include "crypto_impl.h"

struct cf_hash_ctx {
	EVP_MD_CTX *md;
};

static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == CF_NONCE_BYTES, "nonce size");
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == CF_TAG_BYTES, "tag size");
static_assert(crypto_scalarmult_BYTES == CF_BOX_PK_BYTES, "x25519 size");

/* Fetched once: a fetch per call costs more than hashing a small file. */
static EVP_MD *sha256;
static EVP_MAC *hmac;
static EVP_CIPHER *chacha; /* NULL: OpenSSL lacks it, libsodium seals everything */

/*
 * The AEAD goes through OpenSSL's ChaCha20-Poly1305 from this length on: 2.5 times
 * libsodium's speed at 64 KiB and above, 1.7 times at 4 KiB, slower below about 800 bytes
 * (docs/benchmarks.md). Both give the same bytes.
 */
#define AEAD_OSSL_MIN 1024

static_assert(CF_NONCE_BYTES == crypto_core_hchacha20_INPUTBYTES + 8, "XChaCha20 nonce split");
static_assert(CF_KEY_BYTES == crypto_core_hchacha20_OUTPUTBYTES, "HChaCha20 subkey size");

static EVP_CIPHER *fetch_chacha(void);

int
cf_init(void)
{
	if (sodium_init() < 0)
		return CF_EINTERNAL;
	if (sha256 == NULL && (sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		return CF_EINTERNAL;
	if (hmac == NULL && (hmac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return CF_EINTERNAL;
	if (chacha == NULL)
		chacha = fetch_chacha();
	return 0;
}

void
cf_random(void *p, size_t n)
{
	randombytes_buf(p, n);
}

bool
cf_ct_eq(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

void
cf_memzero(void *p, size_t len)
{
	sodium_memzero(p, len);
}

void
cf_wipe(void *p, size_t n)
{
	sodium_memzero(p, n);
}

/* Secret objects live in guarded, locked memory. */
static void *
secret_alloc(size_t n)
{
	void *p = sodium_malloc(n);

	if (p != NULL)
		sodium_memzero(p, n);
	return p;
}

int
cf_key_new_from(const uint8_t bytes[static CF_KEY_BYTES], struct cf_key **out)
{
	struct cf_key *k = secret_alloc(sizeof(*k));

	*out = NULL;
	if (k == NULL)
		return CF_ENOMEM;
	memcpy(k->k, bytes, CF_KEY_BYTES);
	*out = k;
	return 0;
}

int
cf_key_new_random(struct cf_key **out)
{
	struct cf_key *k = secret_alloc(sizeof(*k));

	*out = NULL;
	if (k == NULL)
		return CF_ENOMEM;
	randombytes_buf(k->k, sizeof(k->k));
	*out = k;
	return 0;
}

const uint8_t *
cf_key_view(const struct cf_key *k)
{
	return k->k;
}

void
cf_key_free(struct cf_key *k)
{
	sodium_free(k); /* wipes; NULL is a no-op */
}

void
cf_kdf_bytes(uint8_t out[static CF_KEY_BYTES], const struct cf_key *k, const char *label)
{
	crypto_generichash(out, CF_KEY_BYTES, (const uint8_t *)label, strlen(label), k->k,
	                   sizeof(k->k));
}

int
cf_kdf(const struct cf_key *k, const char *label, struct cf_key **out)
{
	struct cf_key *d = secret_alloc(sizeof(*d));

	*out = NULL;
	if (d == NULL)
		return CF_ENOMEM;
	cf_kdf_bytes(d->k, k, label);
	*out = d;
	return 0;
}

void
cf_keystream(uint8_t *out, size_t len, const struct cf_key *k)
{
	static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES];

	(void)crypto_stream_chacha20_ietf(out, len, nonce, k->k);
}

void
cf_blake2b(uint8_t out[static CF_HASH_BYTES], const void *a, size_t alen, const void *b,
           size_t blen)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, CF_HASH_BYTES);
	crypto_generichash_update(&st, a, alen);
	crypto_generichash_update(&st, b, blen);
	crypto_generichash_final(&st, out, CF_HASH_BYTES);
	sodium_memzero(&st, sizeof(st));
}

void
cf_hash(uint8_t out[static CF_HASH_BYTES], const void *p, size_t len)
{
	unsigned int n = 0;

	if (EVP_Digest(p, len, out, &n, sha256, NULL) != 1 || n != CF_HASH_BYTES)
		cf_misuse("SHA-256 failed (cf_init not called?)");
}

void
cf_hash2(uint8_t out[static CF_HASH_BYTES], const void *a, size_t alen, const void *b, size_t blen)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int n = 0;

	if (c == NULL || EVP_DigestInit_ex(c, sha256, NULL) != 1 ||
	    EVP_DigestUpdate(c, a, alen) != 1 || EVP_DigestUpdate(c, b, blen) != 1 ||
	    EVP_DigestFinal_ex(c, out, &n) != 1 || n != CF_HASH_BYTES)
		cf_misuse("SHA-256 failed");
	EVP_MD_CTX_free(c);
}

int
cf_hash_ctx_new(struct cf_hash_ctx **out)
{
	struct cf_hash_ctx *h = cf_calloc(1, sizeof(*h));

	*out = NULL;
	if (h == NULL)
		return CF_ENOMEM;
	if ((h->md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(h->md, sha256, NULL) != 1) {
		cf_hash_ctx_free(h);
		return CF_ENOMEM;
	}
	*out = h;
	return 0;
}

void
cf_hash_ctx_update(struct cf_hash_ctx *h, const void *p, size_t len)
{
	if (EVP_DigestUpdate(h->md, p, len) != 1)
		cf_misuse("SHA-256 update failed");
}

void
cf_hash_ctx_final(struct cf_hash_ctx *h, uint8_t out[static CF_HASH_BYTES])
{
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(h->md, out, &n) != 1 || n != CF_HASH_BYTES)
		cf_misuse("SHA-256 final failed");
}

void
cf_hash_ctx_free(struct cf_hash_ctx *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->md);
	cf_free(h);
}

void
cf_mac(uint8_t out[static CF_ID_BYTES], const struct cf_key *k, const void *p, size_t len)
{
	char digest[] = "SHA256";
	OSSL_PARAM params[2];
	EVP_MAC_CTX *c = EVP_MAC_CTX_new(hmac);
	size_t n = 0;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (c == NULL || EVP_MAC_init(c, k->k, sizeof(k->k), params) != 1 ||
	    EVP_MAC_update(c, p, len) != 1 || EVP_MAC_final(c, out, &n, CF_ID_BYTES) != 1 ||
	    n != CF_ID_BYTES)
		cf_misuse("HMAC-SHA-256 failed");
	EVP_MAC_CTX_free(c);
}

static bool
apart(const void *a, size_t alen, const void *b, size_t blen)
{
	uintptr_t x = (uintptr_t)a;
	uintptr_t y = (uintptr_t)b;

	return alen == 0 || blen == 0 || x + alen <= y || y + blen <= x;
}

/*
 * OpenSSL may take a message of @mlen bytes from @in (@inlen with nonce and tag) to @out
 * (@outlen): long enough to pay, short enough for its int lengths, and every buffer apart from
 * @out (in place, a failed open could not fall back: the input would be gone).
 */
static bool
ossl_fits(const uint8_t *out, size_t outlen, const uint8_t *in, size_t inlen, size_t mlen,
          const uint8_t *ad, size_t adlen)
{
	return chacha != NULL && mlen >= AEAD_OSSL_MIN && mlen <= INT_MAX && adlen <= INT_MAX &&
	       apart(out, outlen, in, inlen) && apart(out, outlen, ad, adlen);
}

/*
 * XChaCha20-Poly1305-IETF as libsodium computes it (draft-irtf-cfrg-xchacha-03 2.3): the
 * subkey HChaCha20(k, first 16 bytes of the nonce), then RFC 8439's ChaCha20-Poly1305 under
 * it with the nonce 0^4 || the last 8 bytes. Returns the cipher context; NULL when OpenSSL
 * failed (the caller falls back to libsodium).
 */
static EVP_CIPHER_CTX *
xchacha_start(const EVP_CIPHER *e, const uint8_t key[static CF_KEY_BYTES],
              const uint8_t nonce[static CF_NONCE_BYTES], int enc)
{
	uint8_t sub[CF_KEY_BYTES];
	uint8_t iv[12] = {0};
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();

	(void)crypto_core_hchacha20(sub, nonce, key, NULL);
	memcpy(iv + 4, nonce + crypto_core_hchacha20_INPUTBYTES, 8);
	if (x != NULL && (e == NULL || EVP_CipherInit_ex2(x, e, sub, iv, enc, NULL) != 1)) {
		EVP_CIPHER_CTX_free(x);
		x = NULL;
	}
	sodium_memzero(sub, sizeof(sub));
	return x;
}

/*
 * The subkey is in OpenSSL's memory, not libsodium's guarded memory, while the context lives:
 * it serves this one nonce, does not give back the key, and EVP_CIPHER_CTX_free() clears it.
 */
static int
seal_with(const EVP_CIPHER *e, uint8_t *c, const uint8_t key[static CF_KEY_BYTES],
          const uint8_t *nonce, const uint8_t *m, size_t mlen, const uint8_t *ad, size_t adlen)
{
	EVP_CIPHER_CTX *x = xchacha_start(e, key, nonce, 1);
	int n = 0;
	int fin = 0;
	bool ok;

	ok = x != NULL && (adlen == 0 || EVP_EncryptUpdate(x, NULL, &n, ad, (int)adlen) == 1) &&
	     EVP_EncryptUpdate(x, c, &n, m, (int)mlen) == 1 && (size_t)n == mlen &&
	     EVP_EncryptFinal_ex(x, c + mlen, &fin) == 1 && fin == 0 &&
	     EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, CF_TAG_BYTES, c + mlen) == 1;
	EVP_CIPHER_CTX_free(x);
	return ok ? 0 : CF_EINTERNAL;
}

int
cf_aead_ossl_seal(uint8_t *c, const uint8_t key[static CF_KEY_BYTES], const uint8_t *nonce,
                  const uint8_t *m, size_t mlen, const uint8_t *ad, size_t adlen)
{
	return seal_with(chacha, c, key, nonce, m, mlen, ad, adlen);
}

void
cf_aead_seal(uint8_t *out, const struct cf_key *k, const uint8_t *m, size_t mlen, const uint8_t *ad,
             size_t adlen)
{
	uint8_t *c = out + CF_NONCE_BYTES;

	randombytes_buf(out, CF_NONCE_BYTES);
	if (ossl_fits(out, mlen + CF_AEAD_OVERHEAD, m, mlen, mlen, ad, adlen) &&
	    cf_aead_ossl_seal(c, k->k, out, m, mlen, ad, adlen) == 0)
		return;
	(void)crypto_aead_xchacha20poly1305_ietf_encrypt(c, NULL, m, mlen, ad, adlen, NULL, out,
	                                                 k->k);
}

int
cf_aead_ossl_open(uint8_t *out, const uint8_t key[static CF_KEY_BYTES], const uint8_t *c,
                  size_t mlen, const uint8_t *ad, size_t adlen)
{
	const uint8_t *ct = c + CF_NONCE_BYTES;
	EVP_CIPHER_CTX *x = xchacha_start(chacha, key, c, 0);
	uint8_t tag[CF_TAG_BYTES];
	int n = 0;
	int fin = 0;
	int rc = CF_EINTERNAL;

	memcpy(tag, ct + mlen, sizeof(tag));
	if (x != NULL && (adlen == 0 || EVP_DecryptUpdate(x, NULL, &n, ad, (int)adlen) == 1) &&
	    EVP_DecryptUpdate(x, out, &n, ct, (int)mlen) == 1 && (size_t)n == mlen &&
	    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, CF_TAG_BYTES, tag) == 1)
		rc = (EVP_DecryptFinal_ex(x, out + mlen, &fin) == 1 && fin == 0) ? 0 : CF_EAUTH;
	EVP_CIPHER_CTX_free(x);
	return rc;
}

int
cf_aead_open(uint8_t *out, const struct cf_key *k, const uint8_t *c, size_t clen, const uint8_t *ad,
             size_t adlen)
{
	size_t mlen;
	int rc = CF_EINTERNAL;

	if (clen < CF_AEAD_OVERHEAD)
		return CF_ETRUNC;
	mlen = clen - CF_AEAD_OVERHEAD;
	if (ossl_fits(out, mlen, c, clen, mlen, ad, adlen))
		rc = cf_aead_ossl_open(out, k->k, c, mlen, ad, adlen);
	if (rc == CF_EINTERNAL && crypto_aead_xchacha20poly1305_ietf_decrypt(
	                                  out, NULL, NULL, c + CF_NONCE_BYTES,
	                                  clen - CF_NONCE_BYTES, ad, adlen, c, k->k) == 0)
		rc = 0;
	if (rc != 0) {
		sodium_memzero(out, mlen);
		return CF_EAUTH;
	}
	return 0;
}

/*
 * OpenSSL's ChaCha20-Poly1305 from the default provider, once it has sealed a message that
 * libsodium opens to the same bytes; NULL otherwise (libsodium then does everything). A
 * provider that computed it wrongly would otherwise make backups that no restore can read.
 */
static EVP_CIPHER *
fetch_chacha(void)
{
	uint8_t key[CF_KEY_BYTES];
	uint8_t nonce[CF_NONCE_BYTES];
	uint8_t m[2 * AEAD_OSSL_MIN];
	uint8_t c[sizeof(m) + CF_TAG_BYTES];
	uint8_t back[sizeof(m)];
	EVP_CIPHER *e;

	ERR_set_mark();
	e = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", "provider=default");
	(void)ERR_pop_to_mark();
	if (e == NULL)
		return NULL;
	randombytes_buf(key, sizeof(key));
	randombytes_buf(nonce, sizeof(nonce));
	randombytes_buf(m, sizeof(m));
	if (seal_with(e, c, key, nonce, m, sizeof(m), nonce, sizeof(nonce)) != 0 ||
	    crypto_aead_xchacha20poly1305_ietf_decrypt_detached(back, NULL, c, sizeof(m),
	                                                        c + sizeof(m), nonce, sizeof(nonce),
	                                                        nonce, key) != 0 ||
	    sodium_memcmp(back, m, sizeof(m)) != 0) {
		EVP_CIPHER_free(e);
		e = NULL;
	}
	sodium_memzero(key, sizeof(key));
	return e;
}
