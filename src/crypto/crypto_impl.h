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

#endif
