/*
 * keys.h - key slots: CK and DK_sec[epoch] wrapped to a device or the recovery key
 * (docs/format.md section 11).
 */
#ifndef CF_KEYS_H
#define CF_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "../base/compat.h"
#include "../crypto/crypto.h"

#define CF_KEYSLOT_HEAD_BYTES 45
#define CF_KEYSLOT_MAX_BYTES  (CF_KEYSLOT_HEAD_BYTES + CF_WRAP_OVERHEAD + 64)

struct cf_keyslot_params {
	uint8_t repo_id[32];
	uint8_t recipient[CF_ID_BYTES];
	uint8_t recipient_box_pk[CF_BOX_PK_BYTES];
	uint32_t epoch;
	uint8_t role; /* enum cf_role */
};

/*
 * cf_keyslot_seal() - wrap @ck (and @dk's secret half unless role is backup-only, when @dk
 * may be NULL) to the recipient. *@out: the object (cf_free). Returns 0, CF_EINVAL or
 * CF_ENOMEM.
 */
int cf_keyslot_seal(const struct cf_keyslot_params *p, const struct cf_key *ck,
                    const struct cf_boxkey *dk, uint8_t **out, size_t *len) CF_MUST_CHECK;

/* cf_keyslot_name() - "<recipient hex>-<epoch 8 hex>" into @out (at least 74 bytes). */
void cf_keyslot_name(char *out, const uint8_t recipient[static CF_ID_BYTES], uint32_t epoch);

/*
 * cf_keyslot_open() - open a slot with this recipient's box key. The slot's recipient must be
 * @self_id; *@epoch and *@role are set from it; *@ck gets CK; *@dk gets DK[epoch] (NULL for a
 * backup-only slot). The caller then checks them against the chain (ck_check, DK_pub).
 * Returns 0, CF_EFORMAT, CF_EVERSION, CF_ETRUNC, CF_EAUTH (not for this key) or CF_ENOMEM.
 */
int cf_keyslot_open(const uint8_t *obj, size_t len, const uint8_t repo_id[static 32],
                    const uint8_t self_id[static CF_ID_BYTES], const struct cf_boxkey *self,
                    uint32_t *epoch, uint8_t *role, struct cf_key **ck,
                    struct cf_boxkey **dk) CF_MUST_CHECK;

#endif
