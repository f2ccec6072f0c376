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

#define SYMBOLS     56
#define GROUP       4
#define CHECK_BYTES 3
#define RAW_BYTES   (CF_KEY_BYTES + CHECK_BYTES)

static_assert(RAW_BYTES * 8 == SYMBOLS * 5, "56 symbols carry RK and its checksum exactly");
static_assert(SYMBOLS + SYMBOLS / GROUP - 1 + 1 == CF_RECOVERY_TEXT_BYTES, "text layout");

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

/* 1 when @v >= @k, for v, k < 2^31, without a branch. */
static uint32_t
ge(uint32_t v, uint32_t k)
{
	return (k - 1u - v) >> 31;
}

/* All ones when lo <= c <= hi, else 0 (c, lo, hi < 2^31, lo >= 1). */
static uint32_t
in_range(uint32_t c, uint32_t lo, uint32_t hi)
{
	return 0u - (((lo - 1u - c) & (c - hi - 1u)) >> 31);
}

/* The symbol of a 5-bit value: 0-9, then A-Z without I, L, O and U. */
static char
symbol_of(uint32_t v)
{
	uint32_t c = '0' + v;

	c += ge(v, 10) * ('A' - '9' - 1);
	c += ge(v, 18) + ge(v, 20) + ge(v, 22) + ge(v, 27); /* skip I, L, O, U */
	return (char)c;
}

/* The 5-bit value of a symbol; *@bad gets all ones when @ch is not one. */
static uint32_t
symbol_value(uint8_t ch, uint32_t *bad)
{
	uint32_t c = ch;
	uint32_t v = 0;
	uint32_t ok = 0;
	uint32_t m;

	c -= in_range(c, 'a', 'z') & 0x20;
	m = in_range(c, '0', '9');
	v |= m & (c - '0');
	ok |= m;
	m = in_range(c, 'A', 'H');
	v |= m & (c - 'A' + 10);
	ok |= m;
	m = in_range(c, 'J', 'K');
	v |= m & (c - 'A' + 9);
	ok |= m;
	m = in_range(c, 'M', 'N');
	v |= m & (c - 'A' + 8);
	ok |= m;
	m = in_range(c, 'P', 'T');
	v |= m & (c - 'A' + 7);
	ok |= m;
	m = in_range(c, 'V', 'Z');
	v |= m & (c - 'A' + 6);
	ok |= m;
	ok |= in_range(c, 'O', 'O'); /* read as 0 */
	m = in_range(c, 'I', 'I') | in_range(c, 'L', 'L');
	v |= m & 1u;
	ok |= m;
	*bad |= ~ok;
	return v & 31u;
}

void
cf_recovery_encode(const struct cf_key *rk, char out[static CF_RECOVERY_TEXT_BYTES])
{
	uint8_t raw[RAW_BYTES];
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t nsym = 0;
	size_t o = 0;

	memcpy(raw, cf_key_view(rk), CF_KEY_BYTES);
	checksum(raw + CF_KEY_BYTES, raw);
	for (size_t i = 0; i < RAW_BYTES; i++) {
		acc = (acc << 8) | raw[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			if (nsym > 0 && nsym % GROUP == 0)
				out[o++] = '-';
			out[o++] = symbol_of((acc >> bits) & 31u);
			nsym++;
		}
	}
	out[o] = '\0';
	cf_wipe(raw, sizeof(raw));
	cf_wipe(&acc, sizeof(acc));
}

/* Read the symbols of @text into @raw; 0, or CF_EFORMAT for a count other than 56. */
static int
read_symbols(const char *text, size_t len, uint8_t raw[static RAW_BYTES], uint32_t *bad)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t nsym = 0;
	size_t o = 0;
	int rc = 0;

	for (size_t i = 0; i < len; i++) {
		if (text[i] == '-' || text[i] == ' ')
			continue;
		if (nsym == SYMBOLS) {
			rc = CF_EFORMAT;
			break;
		}
		acc = (acc << 5) | symbol_value((uint8_t)text[i], bad);
		bits += 5;
		nsym++;
		if (bits >= 8) {
			bits -= 8;
			raw[o++] = (uint8_t)(acc >> bits);
		}
	}
	if (rc == 0 && nsym != SYMBOLS)
		rc = CF_EFORMAT;
	cf_wipe(&acc, sizeof(acc));
	return rc;
}

int
cf_recovery_decode(const char *text, size_t len, struct cf_key **out)
{
	uint8_t raw[RAW_BYTES];
	uint8_t sum[CHECK_BYTES];
	uint32_t bad = 0;
	int rc;

	*out = NULL;
	if ((rc = read_symbols(text, len, raw, &bad)) != 0)
		goto out;
	checksum(sum, raw);
	/* One branch, on the combined verdict: symbols valid and checksum equal. */
	if (((bad == 0) & cf_ct_eq(sum, raw + CF_KEY_BYTES, CHECK_BYTES)) == 0) {
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
