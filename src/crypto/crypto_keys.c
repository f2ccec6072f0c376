/*
 * crypto_keys.c - Ed25519 and X25519 key pairs, wrapping to a public key, Argon2id.
 */
#include <sodium.h>
#include <string.h>

#include "../base/base.h"
#include "crypto.h"
#include "crypto_impl.h"

static const char wrap_label[] = "coffer.v1.wrap";

int
cf_signkey_from_seed(const uint8_t seed[static CF_SIGN_SEED_BYTES], struct cf_signkey **out)
{
	struct cf_signkey *k = sodium_malloc(sizeof(*k));

	*out = NULL;
	if (k == NULL)
		return CF_ENOMEM;
	memcpy(k->seed, seed, sizeof(k->seed));
	if (crypto_sign_seed_keypair(k->pk, k->sk, k->seed) != 0) {
		sodium_free(k);
		return CF_EINTERNAL;
	}
	*out = k;
	return 0;
}

int
cf_signkey_new(struct cf_signkey **out)
{
	uint8_t seed[CF_SIGN_SEED_BYTES];
	int rc;

	randombytes_buf(seed, sizeof(seed));
	rc = cf_signkey_from_seed(seed, out);
	sodium_memzero(seed, sizeof(seed));
	return rc;
}

const uint8_t *
cf_signkey_pk(const struct cf_signkey *k)
{
	return k->pk;
}

const uint8_t *
cf_signkey_seed(const struct cf_signkey *k)
{
	return k->seed;
}

void
cf_signkey_free(struct cf_signkey *k)
{
	sodium_free(k);
}

void
cf_sign(uint8_t sig[static CF_SIG_BYTES], const struct cf_signkey *k, const uint8_t *m, size_t len)
{
	(void)crypto_sign_detached(sig, NULL, m, len, k->sk);
}

int
cf_sign2(uint8_t sig[static CF_SIG_BYTES], const struct cf_signkey *k, const void *a, size_t alen,
         const void *b, size_t blen)
{
	uint8_t *m = NULL;
	size_t n = 0;

	if (cf_size_add(alen, blen, &n) != 0 || (m = cf_malloc(n)) == NULL)
		return CF_ENOMEM;
	memcpy(m, a, alen);
	if (blen > 0)
		memcpy(m + alen, b, blen);
	cf_sign(sig, k, m, n);
	cf_free(m);
	return 0;
}

int
cf_verify(const uint8_t sig[static CF_SIG_BYTES], const uint8_t pk[static CF_SIGN_PK_BYTES],
          const uint8_t *m, size_t len)
{
	return crypto_sign_verify_detached(sig, m, len, pk) == 0 ? 0 : CF_EAUTH;
}

int
cf_verify2(const uint8_t sig[static CF_SIG_BYTES], const uint8_t pk[static CF_SIGN_PK_BYTES],
           const void *a, size_t alen, const void *b, size_t blen)
{
	uint8_t *m = NULL;
	size_t n = 0;
	int rc;

	if (cf_size_add(alen, blen, &n) != 0 || (m = cf_malloc(n)) == NULL)
		return CF_ENOMEM;
	memcpy(m, a, alen);
	if (blen > 0)
		memcpy(m + alen, b, blen);
	rc = cf_verify(sig, pk, m, n);
	cf_free(m);
	return rc;
}

int
cf_boxkey_from_secret(const uint8_t sk[static CF_BOX_SK_BYTES], struct cf_boxkey **out)
{
	struct cf_boxkey *k = sodium_malloc(sizeof(*k));

	*out = NULL;
	if (k == NULL)
		return CF_ENOMEM;
	memcpy(k->sk, sk, sizeof(k->sk));
	if (crypto_scalarmult_base(k->pk, k->sk) != 0) {
		sodium_free(k);
		return CF_EINTERNAL;
	}
	*out = k;
	return 0;
}

int
cf_boxkey_new(struct cf_boxkey **out)
{
	uint8_t sk[CF_BOX_SK_BYTES];
	int rc;

	randombytes_buf(sk, sizeof(sk));
	rc = cf_boxkey_from_secret(sk, out);
	sodium_memzero(sk, sizeof(sk));
	return rc;
}

const uint8_t *
cf_boxkey_pk(const struct cf_boxkey *k)
{
	return k->pk;
}

const uint8_t *
cf_boxkey_sk(const struct cf_boxkey *k)
{
	return k->sk;
}

void
cf_boxkey_free(struct cf_boxkey *k)
{
	sodium_free(k);
}

/* k = BLAKE2b-256(key = ss, msg = label || e_pk || r_pk) (docs/format.md 1.1). */
static void
wrap_kdf(uint8_t k[static CF_KEY_BYTES], const uint8_t ss[static 32],
         const uint8_t e_pk[static CF_BOX_PK_BYTES], const uint8_t r_pk[static CF_BOX_PK_BYTES])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, ss, 32, CF_KEY_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)wrap_label, sizeof(wrap_label) - 1);
	crypto_generichash_update(&st, e_pk, CF_BOX_PK_BYTES);
	crypto_generichash_update(&st, r_pk, CF_BOX_PK_BYTES);
	crypto_generichash_final(&st, k, CF_KEY_BYTES);
	sodium_memzero(&st, sizeof(st));
}

int
cf_wrap(uint8_t *out, const uint8_t pk[static CF_BOX_PK_BYTES], const uint8_t *ad, size_t adlen,
        const uint8_t *m, size_t mlen)
{
	uint8_t e_sk[CF_BOX_SK_BYTES];
	uint8_t ss[32];
	struct cf_key k;
	int rc = CF_EAUTH;

	randombytes_buf(e_sk, sizeof(e_sk));
	if (crypto_scalarmult_base(out, e_sk) != 0 || crypto_scalarmult(ss, e_sk, pk) != 0)
		goto out;
	wrap_kdf(k.k, ss, out, pk);
	cf_aead_seal(out + CF_BOX_PK_BYTES, &k, m, mlen, ad, adlen);
	rc = 0;
out:
	sodium_memzero(e_sk, sizeof(e_sk));
	sodium_memzero(ss, sizeof(ss));
	sodium_memzero(&k, sizeof(k));
	return rc;
}

int
cf_unwrap(uint8_t *out, const struct cf_boxkey *key, const uint8_t *ad, size_t adlen,
          const uint8_t *c, size_t clen)
{
	uint8_t ss[32];
	struct cf_key k;
	int rc = CF_EAUTH;

	if (clen < CF_WRAP_OVERHEAD)
		return CF_ETRUNC;
	if (crypto_scalarmult(ss, key->sk, c) != 0)
		goto out;
	wrap_kdf(k.k, ss, c, key->pk);
	rc = cf_aead_open(out, &k, c + CF_BOX_PK_BYTES, clen - CF_BOX_PK_BYTES, ad, adlen);
out:
	sodium_memzero(ss, sizeof(ss));
	sodium_memzero(&k, sizeof(k));
	return rc;
}

int
cf_unwrap_key(const struct cf_boxkey *k, const uint8_t *ad, size_t adlen, const uint8_t *c,
              size_t clen, struct cf_key **out)
{
	struct cf_key *key = NULL;
	int rc;

	*out = NULL;
	if (clen != CF_KEY_BYTES + CF_WRAP_OVERHEAD)
		return CF_EFORMAT;
	if ((key = sodium_malloc(sizeof(*key))) == NULL)
		return CF_ENOMEM;
	if ((rc = cf_unwrap(key->k, k, ad, adlen, c, clen)) != 0) {
		sodium_free(key);
		return rc;
	}
	*out = key;
	return 0;
}

int
cf_pwhash(const char *pass, size_t passlen, const uint8_t salt[static CF_PWHASH_SALT_BYTES],
          uint64_t ops, uint64_t mem, struct cf_key **out)
{
	struct cf_key *k = NULL;

	*out = NULL;
	if (ops < crypto_pwhash_OPSLIMIT_MIN || mem < crypto_pwhash_MEMLIMIT_MIN || mem > SIZE_MAX)
		return CF_EINVAL;
	if ((k = sodium_malloc(sizeof(*k))) == NULL)
		return CF_ENOMEM;
	if (crypto_pwhash(k->k, sizeof(k->k), pass, passlen, salt, ops, (size_t)mem,
	                  crypto_pwhash_ALG_ARGON2ID13) != 0) {
		sodium_free(k);
		return CF_ENOMEM;
	}
	*out = k;
	return 0;
}
