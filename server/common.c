/*
 * common.c - names, kinds and small parsers shared by the cofferd modules.
 */
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "chain/chain.h"
#include "cofferd.h"
#include "device/device.h"
#include "reader/reader.h"
#include "retention/records.h"

/* Snapshots are limited to 1 MiB of plaintext (docs/format.md 8); allow for the envelope. */
#define SNAPSHOT_OBJ_MAX ((uint64_t)1024 * 1024 + 4096)
#define KEYSLOT_OBJ_MAX  ((uint64_t)4096)
#define PACK_OBJ_MAX     ((uint64_t)128 * 1024 * 1024)

static bool
all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

bool
cfd_account_name_valid(const char *name)
{
	size_t n = strnlen(name, CFD_ACCOUNT_MAX + 1);

	if (n == 0 || n > CFD_ACCOUNT_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int
cfd_obj_name_check(enum cf_obj_kind kind, const char *name)
{
	size_t want = 0;

	if (cf_obj_name_valid(name) != 0)
		return CF_EINVAL;
	switch (kind) {
	case CF_OBJ_CHAIN:
		want = 16;
		break;
	case CF_OBJ_PACK:
	case CF_OBJ_INDEX:
	case CF_OBJ_SNAPSHOT:
	case CF_OBJ_REQUEST:
	case CF_OBJ_FORGET:
	case CF_OBJ_PRUNE:
		want = 64;
		break;
	case CF_OBJ_KEYS:
		return 0;
	default:
		return CF_EINVAL;
	}
	if (strlen(name) != want || !all_hex(name, want))
		return CF_EINVAL;
	return 0;
}

bool
cfd_kind_content_addressed(enum cf_obj_kind kind)
{
	return kind == CF_OBJ_PACK || kind == CF_OBJ_INDEX || kind == CF_OBJ_SNAPSHOT ||
	       kind == CF_OBJ_FORGET || kind == CF_OBJ_PRUNE;
}

uint64_t
cfd_kind_max_size(enum cf_obj_kind kind)
{
	switch (kind) {
	case CF_OBJ_CHAIN:
		return CF_CHAIN_MAX_BYTES;
	case CF_OBJ_KEYS:
		return KEYSLOT_OBJ_MAX;
	case CF_OBJ_PACK:
		return PACK_OBJ_MAX;
	case CF_OBJ_SNAPSHOT:
		return SNAPSHOT_OBJ_MAX;
	case CF_OBJ_REQUEST:
		return CF_JOIN_MAX_BYTES;
	case CF_OBJ_FORGET:
	case CF_OBJ_PRUNE:
		return CF_RECORD_MAX_BYTES;
	case CF_OBJ_INDEX:
	default:
		return CFD_BODY_MAX;
	}
}

uint8_t
cfd_kind_prefix_byte(enum cf_obj_kind kind)
{
	switch (kind) {
	case CF_OBJ_CHAIN:
		return 1;
	case CF_OBJ_KEYS:
		return 2;
	case CF_OBJ_PACK:
		return 3;
	case CF_OBJ_INDEX:
		return 4;
	case CF_OBJ_SNAPSHOT:
		return 5;
	case CF_OBJ_REQUEST:
		return 7;
	case CF_OBJ_FORGET:
		return 8;
	case CF_OBJ_PRUNE:
		return 9;
	default:
		return 0;
	}
}

size_t
cfd_span(const struct cf_reader *r, uint8_t sep)
{
	struct cf_reader t = *r;
	const uint8_t *c = NULL;
	size_t n = 0;

	while (cf_reader_view(&t, 1, &c) == 0 && *c != sep)
		n++;
	return n;
}

int
cfd_parse_decimal(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	char num[21];

	if (n == 0 || n >= sizeof(num))
		return CF_EFORMAT;
	memcpy(num, s, n);
	num[n] = '\0';
	if (cf_parse_u64(num, 0, max, out) != 0)
		return CF_EFORMAT;
	return 0;
}

int64_t
cfd_now(void)
{
	return (int64_t)time(NULL);
}

int
cfd_parse_duration(const char *s, int64_t *out)
{
	static const char units[] = "smhd";
	static const uint64_t mults[] = {1, 60, 3600, 86400};
	char num[24];
	size_t n = strnlen(s, sizeof(num));
	const char *u = NULL;
	uint64_t mult = 1;
	uint64_t v = 0;

	if (n == 0 || n >= sizeof(num))
		return CF_EINVAL;
	memcpy(num, s, n + 1);
	u = strchr(units, num[n - 1]);
	if (u != NULL && *u != '\0') {
		mult = mults[u - units];
		num[n - 1] = '\0';
	}
	if (cf_parse_u64(num, 0, (uint64_t)100 * 366 * 86400 / mult, &v) != 0)
		return CF_EINVAL;
	*out = (int64_t)(v * mult);
	return 0;
}
