/*
 * keys.c - key slots: CK and DK_sec[epoch] wrapped to one recipient (docs/format.md 11).
 */
#include "keys.h"

#include <string.h>

#include "../base/base.h"
#include "../chain/chain.h"
#include "../reader/reader.h"

#define KIND_KEYSLOT 2
#define AD_LABEL_LEN (sizeof(ad_label) - 1)
#define ID_HEX_LEN   ((size_t)2 * CF_ID_BYTES)
#define AD_BYTES     (AD_LABEL_LEN + 32 + CF_KEYSLOT_HEAD_BYTES)
/* CK || DK_sec for full devices and the recovery key; CK alone for backup-only devices. */
#define PAYLOAD_MAX ((size_t)2 * CF_KEY_BYTES)

static_assert(CF_KEYSLOT_HEAD_BYTES == 8 + CF_ID_BYTES + 4 + 1, "key slot head layout");
static_assert(CF_KEYSLOT_MAX_BYTES == CF_KEYSLOT_HEAD_BYTES + CF_WRAP_OVERHEAD + PAYLOAD_MAX,
              "largest key slot");

static const char ad_label[] = "coffer.v1.keyslot";

/* The payload length a role carries, or 0 for a role that does not exist. */
static size_t
payload_len(uint8_t role)
{
	switch ((enum cf_role)role) {
	case CF_ROLE_FULL:
	case CF_ROLE_RECOVERY:
		return PAYLOAD_MAX;
	case CF_ROLE_BACKUP_ONLY:
		return CF_KEY_BYTES;
	}
	return 0;
}

static void
put_head(uint8_t head[static CF_KEYSLOT_HEAD_BYTES], const uint8_t recipient[static CF_ID_BYTES],
         uint32_t epoch, uint8_t role)
{
	memcpy(head, "COFR", 4);
	head[4] = KIND_KEYSLOT;
	head[5] = 1;
	head[6] = 0;
	head[7] = 0;
	memcpy(head + 8, recipient, CF_ID_BYTES);
	cf_put_u32be(head + 8 + CF_ID_BYTES, epoch);
	head[8 + CF_ID_BYTES + 4] = role;
}

/* AD = "coffer.v1.keyslot" || repo_id || bytes 0..44 of the slot. */
static void
make_ad(uint8_t ad[static AD_BYTES], const uint8_t repo_id[static 32],
        const uint8_t head[static CF_KEYSLOT_HEAD_BYTES])
{
	memcpy(ad, ad_label, AD_LABEL_LEN);
	memcpy(ad + AD_LABEL_LEN, repo_id, 32);
	memcpy(ad + AD_LABEL_LEN + 32, head, CF_KEYSLOT_HEAD_BYTES);
}

int
cf_keyslot_seal(const struct cf_keyslot_params *p, const struct cf_key *ck,
                const struct cf_boxkey *dk, uint8_t **out, size_t *len)
{
	uint8_t payload[PAYLOAD_MAX];
	uint8_t ad[AD_BYTES];
	uint8_t *obj = NULL;
	size_t plen = payload_len(p->role);
	size_t total = CF_KEYSLOT_HEAD_BYTES + CF_WRAP_OVERHEAD + plen;
	int rc = 0;

	*out = NULL;
	*len = 0;
	if (plen == 0 || (plen == PAYLOAD_MAX && dk == NULL))
		return CF_EINVAL;
	if ((obj = cf_malloc(total)) == NULL)
		return CF_ENOMEM;
	memcpy(payload, cf_key_view(ck), CF_KEY_BYTES);
	if (plen == PAYLOAD_MAX)
		memcpy(payload + CF_KEY_BYTES, cf_boxkey_sk(dk), CF_BOX_SK_BYTES);
	put_head(obj, p->recipient, p->epoch, p->role);
	make_ad(ad, p->repo_id, obj);
	/* The only failure is a low-order recipient key: the caller's key is not usable. */
	if (cf_wrap(obj + CF_KEYSLOT_HEAD_BYTES, p->recipient_box_pk, ad, sizeof(ad), payload,
	            plen) != 0) {
		rc = CF_EINVAL;
		goto out;
	}
	*out = obj;
	*len = total;
	obj = NULL;
out:
	cf_wipe(payload, sizeof(payload));
	cf_free(obj);
	return rc;
}

void
cf_keyslot_name(char *out, const uint8_t recipient[static CF_ID_BYTES], uint32_t epoch)
{
	uint8_t be[4];

	cf_hex(out, recipient, CF_ID_BYTES);
	out[ID_HEX_LEN] = '-';
	cf_put_u32be(be, epoch);
	cf_hex(out + ID_HEX_LEN + 1, be, sizeof(be));
}

/* The clear head: prefix, recipient, epoch and role. Leaves @r at the wrapped payload. */
static int
read_head(struct cf_reader *r, uint8_t recipient[static CF_ID_BYTES], uint32_t *epoch,
          uint8_t *role)
{
	int rc;

	if ((rc = cf_reader_prefix(r, KIND_KEYSLOT)) != 0)
		return rc;
	if ((rc = cf_reader_copy(r, recipient, CF_ID_BYTES)) != 0 ||
	    (rc = cf_reader_u32be(r, epoch)) != 0 || (rc = cf_reader_u8(r, role)) != 0)
		return rc;
	return payload_len(*role) == 0 ? CF_EFORMAT : 0;
}

/* Turn an opened payload into key objects. */
static int
payload_keys(const uint8_t *payload, size_t plen, struct cf_key **ck, struct cf_boxkey **dk)
{
	int rc;

	if ((rc = cf_key_new_from(payload, ck)) != 0)
		return rc;
	if (plen == PAYLOAD_MAX && (rc = cf_boxkey_from_secret(payload + CF_KEY_BYTES, dk)) != 0) {
		cf_key_free(*ck);
		*ck = NULL;
		return rc;
	}
	return 0;
}

/* Nine parameters: the keys.h contract, which callers already code against. */
/* NOLINTBEGIN(readability-function-size) */
int
cf_keyslot_open(const uint8_t *obj, size_t len, const uint8_t repo_id[static 32],
                const uint8_t self_id[static CF_ID_BYTES], const struct cf_boxkey *self,
                uint32_t *epoch, uint8_t *role, struct cf_key **ck, struct cf_boxkey **dk)
{
	uint8_t payload[PAYLOAD_MAX];
	uint8_t recipient[CF_ID_BYTES];
	uint8_t ad[AD_BYTES];
	const uint8_t *wrapped = NULL;
	struct cf_reader r;
	uint32_t e = 0;
	uint8_t ro = 0;
	size_t plen = 0;
	int rc;

	*epoch = 0;
	*role = 0;
	*ck = NULL;
	*dk = NULL;
	cf_reader_init(&r, obj, len);
	if ((rc = read_head(&r, recipient, &e, &ro)) != 0)
		goto out;
	/* The object's length must be exactly the one its role implies. */
	plen = payload_len(ro);
	if ((rc = cf_reader_view(&r, CF_WRAP_OVERHEAD + plen, &wrapped)) != 0 ||
	    (rc = cf_reader_end(&r)) != 0)
		goto out;
	if (!cf_ct_eq(recipient, self_id, CF_ID_BYTES)) {
		rc = CF_EAUTH;
		goto out;
	}
	make_ad(ad, repo_id, obj);
	if ((rc = cf_unwrap(payload, self, ad, sizeof(ad), wrapped, CF_WRAP_OVERHEAD + plen)) != 0)
		goto out;
	if ((rc = payload_keys(payload, plen, ck, dk)) != 0)
		goto out;
	*epoch = e;
	*role = ro;
out:
	cf_wipe(payload, sizeof(payload));
	return rc;
}
/* NOLINTEND(readability-function-size) */
