/*
 * crypto_impl.h - layouts of the secret objects, shared by the crypto module's files only.
 */
#ifndef CF_CRYPTO_IMPL_H
#define CF_CRYPTO_IMPL_H

#include <sodium.h>

#include "crypto.h"

struct cf_key {
	uint8_t k[CF_KEY_BYTES];
};

struct cf_signkey {
	uint8_t seed[CF_SIGN_SEED_BYTES];
	uint8_t sk[crypto_sign_SECRETKEYBYTES];
	uint8_t pk[CF_SIGN_PK_BYTES];
};

struct cf_boxkey {
	uint8_t sk[CF_BOX_SK_BYTES];
	uint8_t pk[CF_BOX_PK_BYTES];
};

/*
 * cf_aead_ossl_seal() / cf_aead_ossl_open() - XChaCha20-Poly1305 through OpenSSL (crypto.c;
 * tests call them to pin that path). Seal writes ciphertext || tag to @c; open reads
 * nonce || ciphertext || tag from @c. Return 0, CF_EAUTH (open: not authentic; @out holds
 * unauthenticated bytes the caller wipes) or CF_EINTERNAL (OpenSSL failed or lacks it).
 */
int cf_aead_ossl_seal(uint8_t *c, const uint8_t key[static CF_KEY_BYTES], const uint8_t *nonce,
                      const uint8_t *m, size_t mlen, const uint8_t *ad, size_t adlen);
int cf_aead_ossl_open(uint8_t *out, const uint8_t key[static CF_KEY_BYTES], const uint8_t *c,
                      size_t mlen, const uint8_t *ad, size_t adlen);

#endif
