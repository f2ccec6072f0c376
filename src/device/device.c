/*
 * device.c - a device identity and its key file (docs/format.md section 12).
 */
#include "device.h"

#include <string.h>
#include <time.h>

#include "../base/base.h"
#include "../buf/buf.h"
#include "../chain/chain.h"
#include "../reader/reader.h"

#define KIND_DEVICE  6
#define KDF_NONE     0
#define KDF_ARGON2ID 1
/* prefix 8 | kdf 1 | opslimit 8 | memlimit 8 | salt 16: the bytes before the nonce. */
#define LOCKED_HEAD_BYTES (8 + 1 + 8 + 8 + CF_PWHASH_SALT_BYTES)
/* sign_seed 32 | box_sk 32 | name str8 | created i64 */
#define PLAIN_MAX    (CF_SIGN_SEED_BYTES + CF_BOX_SK_BYTES + 1 + CF_DEVICE_NAME_MAX + 8)
#define AD_LABEL_LEN (sizeof(ad_label) - 1)
#define AD_BYTES     (AD_LABEL_LEN + LOCKED_HEAD_BYTES)

static_assert(LOCKED_HEAD_BYTES + CF_AEAD_OVERHEAD + PLAIN_MAX <= CF_DEVICE_FILE_MAX,
              "largest key file fits CF_DEVICE_FILE_MAX");
static_assert(sizeof(((struct cf_device *)0)->name) == CF_DEVICE_NAME_MAX + 1, "name size");

static const char ad_label[] = "coffer.v1.device-key";

int
cf_device_from_keys(const uint8_t sign_seed[static 32], const uint8_t box_sk[static 32],
                    const char *name, int64_t created, struct cf_device **out)
{
	struct cf_device *d = NULL;
	size_t n = strnlen(name, CF_DEVICE_NAME_MAX + 1);
	int rc;

	*out = NULL;
	if (!cf_device_name_valid(name, n))
		return CF_EINVAL;
	if ((d = cf_calloc(1, sizeof(*d))) == NULL)
		return CF_ENOMEM;
	if ((rc = cf_signkey_from_seed(sign_seed, &d->sign)) != 0 ||
	    (rc = cf_boxkey_from_secret(box_sk, &d->box)) != 0)
		goto out;
	memcpy(d->name, name, n);
	d->created = created;
	cf_device_id_of(d->id, cf_signkey_pk(d->sign), cf_boxkey_pk(d->box));
	*out = d;
	d = NULL;
out:
	cf_device_free(d);
	return rc;
}

int
cf_device_new(const char *name, struct cf_device **out)
{
	uint8_t seed[CF_SIGN_SEED_BYTES];
	uint8_t sk[CF_BOX_SK_BYTES];
	int rc;

	cf_random(seed, sizeof(seed));
	cf_random(sk, sizeof(sk));
	rc = cf_device_from_keys(seed, sk, name, (int64_t)time(NULL), out);
	cf_wipe(seed, sizeof(seed));
	cf_wipe(sk, sizeof(sk));
	return rc;
}

void
cf_device_free(struct cf_device *d)
{
	if (d == NULL)
		return;
	cf_signkey_free(d->sign);
	cf_boxkey_free(d->box);
	cf_free_wipe(d, sizeof(*d));
}

static int
put_prefix(struct cf_buf *b, uint8_t kdf)
{
	int rc;

	if ((rc = cf_buf_put(b, "COFR", 4)) != 0 || (rc = cf_buf_u8(b, KIND_DEVICE)) != 0 ||
	    (rc = cf_buf_u8(b, 1)) != 0 || (rc = cf_buf_u16be(b, 0)) != 0 ||
	    (rc = cf_buf_u8(b, kdf)) != 0)
		return rc;
	return 0;
}

/* plain: sign_seed 32 | box_sk 32 | name str8 | created i64 */
static int
put_plain(struct cf_buf *b, const struct cf_device *d)
{
	int rc;

	if ((rc = cf_buf_put(b, cf_signkey_seed(d->sign), CF_SIGN_SEED_BYTES)) != 0 ||
	    (rc = cf_buf_put(b, cf_boxkey_sk(d->box), CF_BOX_SK_BYTES)) != 0 ||
	    (rc = cf_buf_str8(b, d->name, strnlen(d->name, sizeof(d->name)))) != 0 ||
	    (rc = cf_buf_i64be(b, d->created)) != 0)
		return rc;
	return 0;
}

static bool
kdf_in_range(const struct cf_device_kdf *kdf)
{
	return kdf->opslimit >= CF_DEVICE_OPSLIMIT_MIN && kdf->opslimit <= CF_DEVICE_OPSLIMIT_MAX &&
	       kdf->memlimit >= CF_DEVICE_MEMLIMIT_MIN && kdf->memlimit <= CF_DEVICE_MEMLIMIT_MAX;
}

/* AD = "coffer.v1.device-key" || the bytes before the nonce (see cf_device_load). */
static void
make_ad(uint8_t ad[static AD_BYTES], const uint8_t head[static LOCKED_HEAD_BYTES])
{
	memcpy(ad, ad_label, AD_LABEL_LEN);
	memcpy(ad + AD_LABEL_LEN, head, LOCKED_HEAD_BYTES);
}

/* Encrypt @plain under Argon2id(@pass) and append it, after the KDF head, to @b. */
static int
seal_locked(struct cf_buf *b, const struct cf_buf *plain, const char *pass, size_t passlen,
            const struct cf_device_kdf *kdf)
{
	uint8_t salt[CF_PWHASH_SALT_BYTES];
	uint8_t ad[AD_BYTES];
	struct cf_key *key = NULL;
	uint8_t *dst = NULL;
	int rc;

	cf_random(salt, sizeof(salt));
	if ((rc = cf_buf_u64be(b, kdf->opslimit)) != 0 ||
	    (rc = cf_buf_u64be(b, kdf->memlimit)) != 0 ||
	    (rc = cf_buf_put(b, salt, sizeof(salt))) != 0)
		goto out;
	make_ad(ad, b->p);
	if ((rc = cf_pwhash(pass, passlen, salt, kdf->opslimit, kdf->memlimit, &key)) != 0)
		goto out;
	if ((rc = cf_buf_append_space(b, plain->len + CF_AEAD_OVERHEAD, &dst)) != 0)
		goto out;
	cf_aead_seal(dst, key, plain->p, plain->len, ad, sizeof(ad));
out:
	cf_key_free(key);
	return rc;
}

static int
save(const struct cf_device *d, const char *pass, size_t passlen, const struct cf_device_kdf *kdf,
     uint8_t **out, size_t *len)
{
	struct cf_buf b;
	struct cf_buf plain;
	int rc;

	*out = NULL;
	*len = 0;
	cf_buf_init_secret(&b, CF_DEVICE_FILE_MAX);
	cf_buf_init_secret(&plain, PLAIN_MAX);
	if ((rc = put_prefix(&b, kdf != NULL ? KDF_ARGON2ID : KDF_NONE)) != 0 ||
	    (rc = put_plain(&plain, d)) != 0)
		goto out;
	if (kdf != NULL)
		rc = seal_locked(&b, &plain, pass, passlen, kdf);
	else
		rc = cf_buf_put(&b, plain.p, plain.len);
	if (rc != 0)
		goto out;
	cf_buf_detach(&b, out, len);
out:
	cf_buf_release(&plain);
	cf_buf_release(&b);
	return rc;
}

int
cf_device_save(const struct cf_device *d, const char *pass, size_t passlen, uint8_t **out,
               size_t *len)
{
	static const struct cf_device_kdf kdf = {CF_DEVICE_OPSLIMIT, (uint64_t)CF_DEVICE_MEMLIMIT};

	return save(d, pass, passlen, pass != NULL ? &kdf : NULL, out, len);
}

int
cf_device_save_kdf(const struct cf_device *d, const char *pass, size_t passlen,
                   const struct cf_device_kdf *kdf, uint8_t **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	if (pass == NULL || !kdf_in_range(kdf))
		return CF_EINVAL;
	return save(d, pass, passlen, kdf, out, len);
}

/* The prefix and the kdf byte. */
static int
read_head(struct cf_reader *r, uint8_t *kdf)
{
	int rc;

	if ((rc = cf_reader_prefix(r, KIND_DEVICE)) != 0 || (rc = cf_reader_u8(r, kdf)) != 0)
		return rc;
	return *kdf == KDF_NONE || *kdf == KDF_ARGON2ID ? 0 : CF_EFORMAT;
}

/* The Argon2id parameters and salt of a locked file, range-checked before anything runs. */
static int
read_kdf(struct cf_reader *r, struct cf_device_kdf *kdf, uint8_t salt[static CF_PWHASH_SALT_BYTES])
{
	int rc;

	if ((rc = cf_reader_u64be(r, &kdf->opslimit)) != 0 ||
	    (rc = cf_reader_u64be(r, &kdf->memlimit)) != 0 ||
	    (rc = cf_reader_copy(r, salt, CF_PWHASH_SALT_BYTES)) != 0)
		return rc;
	return kdf_in_range(kdf) ? 0 : CF_ETOOBIG;
}

int
cf_device_file_kdf(const uint8_t *file, size_t len, struct cf_device_kdf *kdf)
{
	uint8_t salt[CF_PWHASH_SALT_BYTES];
	struct cf_reader r;
	uint8_t type = 0;
	int rc;

	memset(kdf, 0, sizeof(*kdf));
	if (len > CF_DEVICE_FILE_MAX)
		return CF_ETOOBIG;
	cf_reader_init(&r, file, len);
	if ((rc = read_head(&r, &type)) != 0 || type == KDF_NONE)
		return rc;
	if ((rc = read_kdf(&r, kdf, salt)) != 0)
		memset(kdf, 0, sizeof(*kdf));
	return rc;
}

bool
cf_device_file_locked(const uint8_t *file, size_t len)
{
	struct cf_reader r;
	uint8_t kdf = 0;

	cf_reader_init(&r, file, len);
	return read_head(&r, &kdf) == 0 && kdf == KDF_ARGON2ID;
}

int
cf_device_parse_plain(const uint8_t *p, size_t len, struct cf_device **out)
{
	char name[CF_DEVICE_NAME_MAX + 1];
	const uint8_t *seed = NULL;
	const uint8_t *sk = NULL;
	const uint8_t *np = NULL;
	size_t nlen = 0;
	int64_t created = 0;
	struct cf_reader r;
	int rc;

	*out = NULL;
	cf_reader_init(&r, p, len);
	if ((rc = cf_reader_view(&r, CF_SIGN_SEED_BYTES, &seed)) != 0 ||
	    (rc = cf_reader_view(&r, CF_BOX_SK_BYTES, &sk)) != 0 ||
	    (rc = cf_reader_str8(&r, CF_DEVICE_NAME_MAX, &np, &nlen)) != 0 ||
	    (rc = cf_reader_i64be(&r, &created)) != 0 || (rc = cf_reader_end(&r)) != 0)
		return rc == CF_ETOOBIG ? CF_EFORMAT : rc;
	if (!cf_device_name_valid((const char *)np, nlen))
		return CF_EFORMAT;
	memcpy(name, np, nlen);
	name[nlen] = '\0';
	return cf_device_from_keys(seed, sk, name, created, out);
}

/*
 * A locked file: head (prefix, kdf, opslimit, memlimit, salt), then nonce || AEAD output.
 * The associated data is the head before the nonce: the nonce is an input of the AEAD, so
 * it is authenticated already, and this lets cf_aead_seal() choose it.
 */
static int
load_locked(const uint8_t *file, struct cf_reader *r, const char *pass, size_t passlen,
            struct cf_device **out)
{
	uint8_t plain[PLAIN_MAX];
	uint8_t salt[CF_PWHASH_SALT_BYTES];
	uint8_t ad[AD_BYTES];
	struct cf_device_kdf kdf;
	struct cf_key *key = NULL;
	const uint8_t *sealed = NULL;
	size_t slen = 0;
	int rc;

	if ((rc = read_kdf(r, &kdf, salt)) != 0)
		return rc;
	slen = r->left;
	if (slen < CF_AEAD_OVERHEAD)
		return CF_ETRUNC;
	if (slen - CF_AEAD_OVERHEAD > sizeof(plain))
		return CF_EFORMAT;
	if ((rc = cf_reader_view(r, slen, &sealed)) != 0)
		return rc;
	if (pass == NULL)
		return CF_EINVAL;
	make_ad(ad, file);
	if ((rc = cf_pwhash(pass, passlen, salt, kdf.opslimit, kdf.memlimit, &key)) != 0)
		goto out;
	if ((rc = cf_aead_open(plain, key, sealed, slen, ad, sizeof(ad))) != 0)
		goto out;
	rc = cf_device_parse_plain(plain, slen - CF_AEAD_OVERHEAD, out);
out:
	cf_wipe(plain, sizeof(plain));
	cf_key_free(key);
	return rc;
}

int
cf_device_load(const uint8_t *file, size_t len, const char *pass, size_t passlen,
               struct cf_device **out)
{
	const uint8_t *plain = NULL;
	struct cf_reader r;
	size_t plen = 0;
	uint8_t kdf = 0;
	int rc;

	*out = NULL;
	if (len > CF_DEVICE_FILE_MAX)
		return CF_ETOOBIG;
	cf_reader_init(&r, file, len);
	if ((rc = read_head(&r, &kdf)) != 0)
		return rc;
	if (kdf == KDF_ARGON2ID)
		return load_locked(file, &r, pass, passlen, out);
	plen = r.left;
	if ((rc = cf_reader_view(&r, plen, &plain)) != 0)
		return rc;
	return cf_device_parse_plain(plain, plen, out);
}
