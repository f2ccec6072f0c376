/*
 * crypto.h - the only doorway to cryptographic primitives (libsodium; OpenSSL libcrypto for
 * SHA-256 and HMAC-SHA-256, measured faster with the CPU's SHA extensions). docs/format.md
 * section 1 defines each construction. No primitive is implemented here.
 *
 * Secret keys live in opaque objects in sodium_malloc() memory (guard pages, mlock, no core
 * dump) and are wiped when freed. Every function is thread-safe; objects may be shared
 * between threads for reading.
 */
#ifndef CF_CRYPTO_H
#define CF_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/compat.h"

#define CF_KEY_BYTES         32
#define CF_ID_BYTES          32
#define CF_HASH_BYTES        32
#define CF_NONCE_BYTES       24
#define CF_TAG_BYTES         16
#define CF_AEAD_OVERHEAD     (CF_NONCE_BYTES + CF_TAG_BYTES)
#define CF_SIGN_PK_BYTES     32
#define CF_SIGN_SEED_BYTES   32
#define CF_SIG_BYTES         64
#define CF_BOX_PK_BYTES      32
#define CF_BOX_SK_BYTES      32
#define CF_WRAP_OVERHEAD     (CF_BOX_PK_BYTES + CF_NONCE_BYTES + CF_TAG_BYTES)
#define CF_PWHASH_SALT_BYTES 16

/* A 32-byte symmetric secret. */
struct cf_key;
/* An Ed25519 signing key pair. */
struct cf_signkey;
/* An X25519 key pair. */
struct cf_boxkey;

/* cf_random() - fill @p with @n random bytes (randombytes_buf). */
void cf_random(void *p, size_t n);
/* cf_ct_eq() - constant-time equality of two @n-byte strings. */
bool cf_ct_eq(const void *a, const void *b, size_t n);
/* cf_wipe() - sodium_memzero. */
void cf_wipe(void *p, size_t n);

/* cf_key_new_random() / cf_key_new_from() - a new key. Returns 0 or CF_ENOMEM. */
int cf_key_new_random(struct cf_key **out) CF_MUST_CHECK;
int cf_key_new_from(const uint8_t bytes[static CF_KEY_BYTES], struct cf_key **out) CF_MUST_CHECK;
/* cf_key_view() - borrowed pointer to the 32 key bytes; never copy them to plain memory. */
const uint8_t *cf_key_view(const struct cf_key *k);
void cf_key_free(struct cf_key *k);

/* cf_kdf() - a new key KDF(@k, @label) (docs/format.md 1). Returns 0 or CF_ENOMEM. */
int cf_kdf(const struct cf_key *k, const char *label, struct cf_key **out) CF_MUST_CHECK;
/* cf_kdf_bytes() - KDF into caller memory, for non-secret outputs such as ck_check. */
void cf_kdf_bytes(uint8_t out[static CF_KEY_BYTES], const struct cf_key *k, const char *label);

/* cf_keystream() - @len bytes of ChaCha20-IETF keystream under @k with a zero nonce. */
void cf_keystream(uint8_t *out, size_t len, const struct cf_key *k);
/* cf_blake2b() - unkeyed BLAKE2b-256 of the concatenation a || b. */
void cf_blake2b(uint8_t out[static CF_HASH_BYTES], const void *a, size_t alen, const void *b,
                size_t blen);

/* cf_hash() - SHA-256 of @len bytes. */
void cf_hash(uint8_t out[static CF_HASH_BYTES], const void *p, size_t len);
/* cf_hash2() - SHA-256 of the concatenation a || b. */
void cf_hash2(uint8_t out[static CF_HASH_BYTES], const void *a, size_t alen, const void *b,
              size_t blen);
/* Streaming SHA-256 for objects that arrive in pieces. */
struct cf_hash_ctx;
int cf_hash_ctx_new(struct cf_hash_ctx **out) CF_MUST_CHECK;
void cf_hash_ctx_update(struct cf_hash_ctx *h, const void *p, size_t len);
void cf_hash_ctx_final(struct cf_hash_ctx *h, uint8_t out[static CF_HASH_BYTES]);
void cf_hash_ctx_free(struct cf_hash_ctx *h);

/* cf_mac() - HMAC-SHA-256 of @len bytes under @k: chunk and tree ids. */
void cf_mac(uint8_t out[static CF_ID_BYTES], const struct cf_key *k, const void *p, size_t len);

/*
 * cf_aead_seal() - XChaCha20-Poly1305 with a fresh random nonce. Writes
 * nonce || ciphertext || tag, @mlen + CF_AEAD_OVERHEAD bytes, to @out (which must not
 * overlap @m). @ad, @adlen: associated data (required; the format gives every use one).
 */
void cf_aead_seal(uint8_t *out, const struct cf_key *k, const uint8_t *m, size_t mlen,
                  const uint8_t *ad, size_t adlen);
/*
 * cf_aead_open() - verify and decrypt @clen bytes produced by cf_aead_seal() into @out
 * (@clen - CF_AEAD_OVERHEAD bytes). Returns 0, CF_ETRUNC (shorter than the overhead) or
 * CF_EAUTH (any forgery or wrong key/ad; @out is wiped).
 */
int cf_aead_open(uint8_t *out, const struct cf_key *k, const uint8_t *c, size_t clen,
                 const uint8_t *ad, size_t adlen) CF_MUST_CHECK;

/* Ed25519. */
int cf_signkey_new(struct cf_signkey **out) CF_MUST_CHECK;
int cf_signkey_from_seed(const uint8_t seed[static CF_SIGN_SEED_BYTES],
                         struct cf_signkey **out) CF_MUST_CHECK;
const uint8_t *cf_signkey_pk(const struct cf_signkey *k);
/* cf_signkey_seed() - borrowed view of the 32-byte secret seed (for the device key file). */
const uint8_t *cf_signkey_seed(const struct cf_signkey *k);
void cf_signkey_free(struct cf_signkey *k);
void cf_sign(uint8_t sig[static CF_SIG_BYTES], const struct cf_signkey *k, const uint8_t *m,
             size_t len);
/* cf_sign2() - signature over the concatenation @a || @b (context label, then message). */
int cf_sign2(uint8_t sig[static CF_SIG_BYTES], const struct cf_signkey *k, const void *a,
             size_t alen, const void *b, size_t blen) CF_MUST_CHECK;
/* cf_verify() - 0 or CF_EAUTH. */
int cf_verify(const uint8_t sig[static CF_SIG_BYTES], const uint8_t pk[static CF_SIGN_PK_BYTES],
              const uint8_t *m, size_t len) CF_MUST_CHECK;
/* cf_verify2() - verify a cf_sign2() signature. 0, CF_EAUTH or CF_ENOMEM. */
int cf_verify2(const uint8_t sig[static CF_SIG_BYTES], const uint8_t pk[static CF_SIGN_PK_BYTES],
               const void *a, size_t alen, const void *b, size_t blen) CF_MUST_CHECK;

/* X25519. */
int cf_boxkey_new(struct cf_boxkey **out) CF_MUST_CHECK;
int cf_boxkey_from_secret(const uint8_t sk[static CF_BOX_SK_BYTES],
                          struct cf_boxkey **out) CF_MUST_CHECK;
const uint8_t *cf_boxkey_pk(const struct cf_boxkey *k);
/* cf_boxkey_sk() - borrowed view of the secret half (to wrap it into a key slot). */
const uint8_t *cf_boxkey_sk(const struct cf_boxkey *k);
void cf_boxkey_free(struct cf_boxkey *k);

/*
 * cf_wrap() - Wrap(@pk, @ad, @m) of docs/format.md 1.1: writes @mlen + CF_WRAP_OVERHEAD
 * bytes to @out. Returns 0 or CF_EAUTH (@pk is a low-order point).
 */
int cf_wrap(uint8_t *out, const uint8_t pk[static CF_BOX_PK_BYTES], const uint8_t *ad, size_t adlen,
            const uint8_t *m, size_t mlen) CF_MUST_CHECK;
/*
 * cf_unwrap() - open a cf_wrap() output of @clen bytes with @k into @out
 * (@clen - CF_WRAP_OVERHEAD bytes). Returns 0, CF_ETRUNC or CF_EAUTH.
 */
int cf_unwrap(uint8_t *out, const struct cf_boxkey *k, const uint8_t *ad, size_t adlen,
              const uint8_t *c, size_t clen) CF_MUST_CHECK;
/* cf_unwrap_key() - cf_unwrap() of a wrapped 32-byte key into a new struct cf_key. */
int cf_unwrap_key(const struct cf_boxkey *k, const uint8_t *ad, size_t adlen, const uint8_t *c,
                  size_t clen, struct cf_key **out) CF_MUST_CHECK;

/*
 * cf_pwhash() - Argon2id of a passphrase into a new key. The caller bounds @ops and @mem
 * (docs/format.md 12) before calling. Returns 0, CF_ENOMEM or CF_EINVAL.
 */
int cf_pwhash(const char *pass, size_t passlen, const uint8_t salt[static CF_PWHASH_SALT_BYTES],
              uint64_t ops, uint64_t mem, struct cf_key **out) CF_MUST_CHECK;

#endif
