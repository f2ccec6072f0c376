/*
 * recovery.c - the recovery key as typable text, and its identity (docs/format.md section 9).
 *
 * The text is Crockford base32 of RK || checksum. Neither direction branches on, or indexes
 * a table with, a secret value: symbols are computed with range masks over the alphabet (the
 * way libsodium's base64 decoder works). Only the positions of separators and the symbol
 * count, which are public, steer the code.
 */
#include "recovery.h"

#include <string.h>

#include "../base/base.h"
#include "../device/device.h"

#define CHECK_BYTES 3
#define RAW_BYTES   (CF_KEY_BYTES + CHECK_BYTES)

static_assert(RAW_BYTES == CF_B32_RAW_BYTES, "56 symbols carry RK and its checksum exactly");
static_assert(CF_B32_TEXT_BYTES == CF_RECOVERY_TEXT_BYTES, "text layout");

static const char check_label[] = "coffer.v1.recovery-check";
static const char sign_label[] = "coffer.v1.recovery-sign";
static const char box_label[] = "coffer.v1.recovery-box";
static const char identity_name[] = "recovery key";

/* checksum = the first 3 bytes of BLAKE2b-256(label || RK), unkeyed. */
static void
checksum(uint8_t out[static CHECK_BYTES], const uint8_t rk[static CF_KEY_BYTES])
{
	uint8_t h[CF_HASH_BYTES];

	cf_blake2b(h, check_label, sizeof(check_label) - 1, rk, CF_KEY_BYTES);
	memcpy(out, h, CHECK_BYTES);
	cf_wipe(h, sizeof(h));
}

void
cf_recovery_encode(const struct cf_key *rk, char out[static CF_RECOVERY_TEXT_BYTES])
{
	uint8_t raw[RAW_BYTES];

	memcpy(raw, cf_key_view(rk), CF_KEY_BYTES);
	checksum(raw + CF_KEY_BYTES, raw);
	cf_b32_encode35(raw, out);
	cf_wipe(raw, sizeof(raw));
}

int
cf_recovery_decode(const char *text, size_t len, struct cf_key **out)
{
	uint8_t raw[RAW_BYTES];
	uint8_t sum[CHECK_BYTES];
	int valid;
	int rc;

	*out = NULL;
	valid = cf_b32_decode35((const uint8_t *)text, len, raw) == 0;
	checksum(sum, raw);
	/* One branch, on the combined verdict: symbols valid and checksum equal. */
	if ((valid & cf_ct_eq(sum, raw + CF_KEY_BYTES, CHECK_BYTES)) == 0) {
		rc = CF_EFORMAT;
		goto out;
	}
	rc = cf_key_new_from(raw, out);
out:
	cf_wipe(raw, sizeof(raw));
	cf_wipe(sum, sizeof(sum));
	return rc;
}

static bool
is_blank(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Find the one code line: '#' lines (after optional blanks) and blank lines are skipped. */
int
cf_text_one_line(const uint8_t *file, size_t len, size_t *start, size_t *end)
{
	size_t ncode = 0;
	size_t pos = 0;

	while (pos < len) {
		size_t s = pos;
		size_t e = pos;

		while (e < len && file[e] != '\n')
			e++;
		pos = e < len ? e + 1 : e;
		while (s < e && is_blank(file[s]))
			s++;
		while (e > s && is_blank(file[e - 1]))
			e--;
		if (s == e || file[s] == '#')
			continue;
		ncode++;
		*start = s;
		*end = e;
	}
	return ncode == 1 ? 0 : CF_EFORMAT;
}

int
cf_recovery_parse_file(const uint8_t *file, size_t len, struct cf_key **out)
{
	size_t start = 0;
	size_t end = 0;
	int rc;

	*out = NULL;
	if (len > CF_RECOVERY_FILE_MAX)
		return CF_ETOOBIG;
	if ((rc = cf_text_one_line(file, len, &start, &end)) != 0)
		return rc;
	return cf_recovery_decode((const char *)file + start, end - start, out);
}

int
cf_recovery_identity(const struct cf_key *rk, struct cf_device **out)
{
	struct cf_key *seed = NULL;
	struct cf_key *box = NULL;
	int rc;

	*out = NULL;
	if ((rc = cf_kdf(rk, sign_label, &seed)) != 0 || (rc = cf_kdf(rk, box_label, &box)) != 0)
		goto out;
	rc = cf_device_from_keys(cf_key_view(seed), cf_key_view(box), identity_name, 0, out);
out:
	cf_key_free(seed);
	cf_key_free(box);
	return rc;
}
