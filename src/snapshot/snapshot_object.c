/*
 * snapshot_object.c - the snapshot envelope of docs/format.md section 8: a clear head anyone
 * holding the chain can check, a fresh key wrapped to the epoch's DK_pub, the AEAD body, and
 * the writing device's signature over everything before it.
 *
 *   0 prefix 8 | 8 epoch u32 | 12 device_id 32 | 44 seq u64 | 52 prev 32
 *  84 wrapped key 104 | 188 nonce 24 + AEAD(body) | end-64 sig 64
 */
#include <string.h>

#include "../base/base.h"
#include "../reader/reader.h"
#include "snapshot.h"

#define OBJ_MAGIC     "COFR"
#define OBJ_MAGIC_LEN 4
#define OBJ_KIND      5
#define OBJ_VERSION   1
#define WRAPPED_BYTES (CF_KEY_BYTES + CF_WRAP_OVERHEAD)
#define BODY_OFF      (CF_SNAPSHOT_HEAD_BYTES + WRAPPED_BYTES)
#define LABEL_KEY     "coffer.v1.snapshot-key"
#define LABEL_BODY    "coffer.v1.snapshot"
#define LABEL_SIG     "coffer.v1.snapshot-sig"
#define REPO_ID_BYTES 32
/* The longest associated data: a label, repo_id and the head. */
#define AD_MAX         (sizeof(LABEL_KEY) - 1 + REPO_ID_BYTES + CF_SNAPSHOT_HEAD_BYTES)
#define SIG_PREFIX_LEN (sizeof(LABEL_SIG) - 1 + REPO_ID_BYTES)

static_assert(CF_SNAPSHOT_HEAD_BYTES == 8 + 4 + CF_ID_BYTES + 8 + CF_HASH_BYTES, "head layout");
static_assert(WRAPPED_BYTES == 104, "wrapped key layout");
static_assert(BODY_OFF == 188, "body offset");
static_assert(CF_SNAPSHOT_MIN_BYTES == BODY_OFF + CF_AEAD_OVERHEAD + CF_SIG_BYTES, "envelope");
static_assert(sizeof(LABEL_BODY) <= sizeof(LABEL_KEY), "AD_MAX covers both labels");

static bool
all_zero(const uint8_t *p, size_t len)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

/* Sequence numbers start at 1, and only the first snapshot of a device has no predecessor. */
static bool
head_valid(const struct cf_snapshot_head *h)
{
	return h->seq >= 1 && (h->seq == 1) == all_zero(h->prev, sizeof(h->prev));
}

static void
write_head(uint8_t out[static CF_SNAPSHOT_HEAD_BYTES], const struct cf_snapshot_head *h)
{
	memcpy(out, OBJ_MAGIC, OBJ_MAGIC_LEN);
	out[4] = OBJ_KIND;
	out[5] = OBJ_VERSION;
	out[6] = 0;
	out[7] = 0;
	cf_put_u32be(out + 8, h->epoch);
	memcpy(out + 12, h->device, CF_ID_BYTES);
	cf_put_u64be(out + 44, h->seq);
	memcpy(out + 52, h->prev, CF_HASH_BYTES);
}

/* @label (@label_len bytes, no NUL) || repo_id || the 84 head bytes. Returns the length. */
static size_t
make_ad(uint8_t ad[static AD_MAX], const char *label, size_t label_len,
        const uint8_t repo_id[static REPO_ID_BYTES],
        const uint8_t head[static CF_SNAPSHOT_HEAD_BYTES])
{
	CF_ASSERT(label_len + REPO_ID_BYTES + CF_SNAPSHOT_HEAD_BYTES <= AD_MAX);
	memcpy(ad, label, label_len);
	memcpy(ad + label_len, repo_id, REPO_ID_BYTES);
	memcpy(ad + label_len + REPO_ID_BYTES, head, CF_SNAPSHOT_HEAD_BYTES);
	return label_len + REPO_ID_BYTES + CF_SNAPSHOT_HEAD_BYTES;
}

static void
sig_prefix(uint8_t out[static SIG_PREFIX_LEN], const uint8_t repo_id[static REPO_ID_BYTES])
{
	memcpy(out, LABEL_SIG, sizeof(LABEL_SIG) - 1);
	memcpy(out + sizeof(LABEL_SIG) - 1, repo_id, REPO_ID_BYTES);
}

/* Wrap a fresh key, encrypt @plain after the head already in @obj, and sign the object. */
static int
seal_into(uint8_t *obj, size_t total, const uint8_t *plain, size_t plain_len,
          const uint8_t repo_id[static REPO_ID_BYTES], const uint8_t dk_pub[static CF_BOX_PK_BYTES])
{
	struct cf_key *key = NULL;
	uint8_t ad[AD_MAX];
	size_t adlen = 0;
	int rc;

	CF_ASSERT(total == CF_SNAPSHOT_MIN_BYTES + plain_len);
	if ((rc = cf_key_new_random(&key)) != 0)
		return rc;
	adlen = make_ad(ad, LABEL_KEY, sizeof(LABEL_KEY) - 1, repo_id, obj);
	/* cf_wrap fails only for a low-order dk_pub: a bad argument, not bad data. */
	if (cf_wrap(obj + CF_SNAPSHOT_HEAD_BYTES, dk_pub, ad, adlen, cf_key_view(key),
	            CF_KEY_BYTES) != 0) {
		rc = CF_EINVAL;
		goto out;
	}
	adlen = make_ad(ad, LABEL_BODY, sizeof(LABEL_BODY) - 1, repo_id, obj);
	cf_aead_seal(obj + BODY_OFF, key, plain, plain_len, ad, adlen);
out:
	cf_key_free(key);
	return rc;
}

int
cf_snapshot_seal(struct cf_snapshot *s, const uint8_t repo_id[static 32],
                 const uint8_t dk_pub[static CF_BOX_PK_BYTES], const struct cf_signkey *sk,
                 uint8_t **out, size_t *len)
{
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	uint8_t *obj = NULL;
	size_t total = 0;
	uint8_t prefix[SIG_PREFIX_LEN];
	int rc;

	*out = NULL;
	*len = 0;
	if (!head_valid(&s->head))
		return CF_EINVAL;
	if ((rc = cf_snapshot_encode_plain(s, &plain, &plain_len)) != 0)
		goto out;
	if (cf_size_add(plain_len, CF_SNAPSHOT_MIN_BYTES, &total) != 0 ||
	    total > CF_SNAPSHOT_MAX_BYTES) {
		rc = CF_ETOOBIG;
		goto out;
	}
	if ((obj = cf_malloc(total)) == NULL) {
		rc = CF_ENOMEM;
		goto out;
	}
	write_head(obj, &s->head);
	if ((rc = seal_into(obj, total, plain, plain_len, repo_id, dk_pub)) != 0)
		goto out;
	sig_prefix(prefix, repo_id);
	if ((rc = cf_sign2(obj + total - CF_SIG_BYTES, sk, prefix, sizeof(prefix), obj,
	                   total - CF_SIG_BYTES)) != 0)
		goto out;
	cf_hash(s->id, obj, total);
	*out = obj;
	*len = total;
	obj = NULL;
out:
	cf_free(obj);
	cf_free_wipe(plain, plain_len);
	return rc;
}

static int
read_prefix(struct cf_reader *r)
{
	return cf_reader_prefix(r, OBJ_KIND);
}

int
cf_snapshot_read_head(const uint8_t *obj, size_t len, struct cf_snapshot_head *h)
{
	struct cf_snapshot_head t;
	struct cf_reader r;
	int rc;

	memset(h, 0, sizeof(*h));
	memset(&t, 0, sizeof(t));
	if (len > CF_SNAPSHOT_MAX_BYTES)
		return CF_ETOOBIG;
	/* The head alone is not an object: the envelope around an empty body is the minimum. */
	if (len < CF_SNAPSHOT_MIN_BYTES)
		return CF_ETRUNC;
	cf_reader_init(&r, obj, len);
	if ((rc = read_prefix(&r)) != 0 || (rc = cf_reader_u32be(&r, &t.epoch)) != 0 ||
	    (rc = cf_reader_copy(&r, t.device, sizeof(t.device))) != 0 ||
	    (rc = cf_reader_u64be(&r, &t.seq)) != 0 ||
	    (rc = cf_reader_copy(&r, t.prev, sizeof(t.prev))) != 0)
		return rc;
	if (!head_valid(&t))
		return CF_EFORMAT;
	*h = t;
	return 0;
}

int
cf_snapshot_verify(const uint8_t *obj, size_t len, const uint8_t repo_id[static 32],
                   const uint8_t sign_pk[static CF_SIGN_PK_BYTES])
{
	struct cf_snapshot_head h;
	struct cf_reader r;
	const uint8_t *signed_part = NULL;
	const uint8_t *sig = NULL;
	uint8_t prefix[SIG_PREFIX_LEN];

	/* The contract is 0, CF_EAUTH or CF_EFORMAT: any malformed envelope is CF_EFORMAT. */
	if (cf_snapshot_read_head(obj, len, &h) != 0)
		return CF_EFORMAT;
	cf_reader_init(&r, obj, len);
	if (cf_reader_view(&r, len - CF_SIG_BYTES, &signed_part) != 0 ||
	    cf_reader_view(&r, CF_SIG_BYTES, &sig) != 0)
		return CF_EFORMAT;
	sig_prefix(prefix, repo_id);
	return cf_verify2(sig, sign_pk, prefix, sizeof(prefix), signed_part, len - CF_SIG_BYTES);
}

/* Unwrap the snapshot key and decrypt the body into *@plain (cf_free_wipe). */
static int
open_body(const uint8_t *obj, size_t len, const uint8_t repo_id[static REPO_ID_BYTES],
          const struct cf_boxkey *dk, uint8_t **plain, size_t *plain_len)
{
	struct cf_reader r;
	const uint8_t *head = NULL;
	const uint8_t *wrapped = NULL;
	const uint8_t *sealed = NULL;
	size_t sealed_len = len - BODY_OFF - CF_SIG_BYTES;
	struct cf_key *key = NULL;
	uint8_t *buf = NULL;
	uint8_t ad[AD_MAX];
	size_t adlen = 0;
	int rc;

	cf_reader_init(&r, obj, len);
	if ((rc = cf_reader_view(&r, CF_SNAPSHOT_HEAD_BYTES, &head)) != 0 ||
	    (rc = cf_reader_view(&r, WRAPPED_BYTES, &wrapped)) != 0 ||
	    (rc = cf_reader_view(&r, sealed_len, &sealed)) != 0)
		return rc;
	adlen = make_ad(ad, LABEL_KEY, sizeof(LABEL_KEY) - 1, repo_id, head);
	if ((rc = cf_unwrap_key(dk, ad, adlen, wrapped, WRAPPED_BYTES, &key)) != 0) {
		/* One answer for every failure to open: no oracle. */
		rc = rc == CF_ENOMEM ? CF_ENOMEM : CF_EAUTH;
		goto out;
	}
	if ((buf = cf_malloc(sealed_len - CF_AEAD_OVERHEAD)) == NULL) {
		rc = CF_ENOMEM;
		goto out;
	}
	adlen = make_ad(ad, LABEL_BODY, sizeof(LABEL_BODY) - 1, repo_id, head);
	if (cf_aead_open(buf, key, sealed, sealed_len, ad, adlen) != 0) {
		rc = CF_EAUTH;
		goto out;
	}
	*plain = buf;
	*plain_len = sealed_len - CF_AEAD_OVERHEAD;
	buf = NULL;
out:
	cf_free_wipe(buf, sealed_len - CF_AEAD_OVERHEAD);
	cf_key_free(key);
	return rc;
}

int
cf_snapshot_open(const uint8_t *obj, size_t len, const uint8_t repo_id[static 32],
                 const struct cf_boxkey *dk, struct cf_snapshot **out)
{
	struct cf_snapshot_head h;
	struct cf_snapshot *s = NULL;
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	int rc;

	*out = NULL;
	if ((rc = cf_snapshot_read_head(obj, len, &h)) != 0)
		return rc;
	if ((rc = open_body(obj, len, repo_id, dk, &plain, &plain_len)) != 0)
		goto out;
	if ((rc = cf_snapshot_parse_plain(plain, plain_len, &s)) != 0)
		goto out;
	s->head = h;
	cf_hash(s->id, obj, len);
	*out = s;
out:
	cf_free_wipe(plain, plain_len);
	return rc;
}
