/*
 * fuzz_listing.c - libFuzzer harness for what a cofferd server sends the client to parse
 * (docs/format.md 15): listing pages ("NAME SIZE\n" lines) and Content-Range values.
 *
 * The first byte picks the page's start name and line limit, so ordering and limit checks
 * are reached too; the rest is the page. The whole input, cut at its first NUL, is also
 * parsed as a Content-Range value.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "remote/remote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

/* Every name handed out must be valid and strictly after the one before. */
static int
check_entry(void *arg, const char *name, uint64_t size)
{
	char *prev = arg;

	(void)size;
	if (cf_obj_name_valid(name) != 0 || strcmp(name, prev) <= 0)
		__builtin_trap();
	memcpy(prev, name, strlen(name) + 1);
	return 0;
}

static void
fuzz_page(uint8_t sel, const uint8_t *p, size_t len)
{
	static const char *const afters[] = {"", "00", "7f", "ff", "0000000000000000"};
	char prev[CF_OBJ_NAME_MAX + 1];
	struct cf_remote_page pg;

	memset(&pg, 0, sizeof(pg));
	pg.after = afters[sel % CF_ARRAY_LEN(afters)];
	pg.limit = (sel & 0x80) != 0 ? 3 : CF_REMOTE_LIST_LIMIT;
	pg.fn = check_entry;
	pg.arg = prev;
	memcpy(prev, pg.after, strlen(pg.after) + 1);
	if (cf_remote_list_parse(&pg, p, len) == 0 && pg.count > 0 && strcmp(pg.last, prev) != 0)
		__builtin_trap();
	if (pg.count > pg.limit)
		__builtin_trap();
}

static void
fuzz_range(const uint8_t *data, size_t len)
{
	char v[128];
	size_t n = len < sizeof(v) - 1 ? len : sizeof(v) - 1;
	struct cf_remote_range cr;

	memcpy(v, data, n);
	v[n] = '\0';
	if (cf_remote_content_range(v, &cr) == 0 && !cr.unsatisfied &&
	    (cr.first > cr.last || cr.last >= cr.total))
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static bool ready;

	if (!ready) {
		if (cf_init() != 0)
			return 0;
		ready = true;
	}
	if (len == 0)
		return 0;
	fuzz_page(data[0], data + 1, len - 1);
	fuzz_range(data, len);
	return 0;
}
