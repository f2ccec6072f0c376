/*
 * fuzz_cofferd_request.c - libFuzzer harness for what cofferd parses from the network before
 * anything else: the request target (route and query), the Range header and the
 * Authorization header with its canonical string and signature check (docs/format.md 15).
 *
 * The first byte picks the parser; the rest is its input. The server's parsers are not in
 * coffer_core, so their three small files are compiled into this harness directly (the
 * fuzz targets link only the library).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../../server/auth.c"
#include "../../server/common.c"
#include "../../server/route.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void
fuzz_route(const char *p, size_t len)
{
	const char *q = memchr(p, '?', len);
	size_t plen = q == NULL ? len : (size_t)(q - p);
	struct cfd_route r;

	if (cfd_route_parse(p, plen, q == NULL ? "" : q + 1, q == NULL ? 0 : len - plen - 1, &r) !=
	    0)
		return;
	if (r.type == CFD_ROUTE_LIST || r.type == CFD_ROUTE_OBJECT || r.type == CFD_ROUTE_ENROLL)
		CF_ASSERT(cfd_account_name_valid(r.account));
	if (r.type == CFD_ROUTE_OBJECT)
		CF_ASSERT(cfd_obj_name_check(r.kind, r.name) == 0);
	if (r.type == CFD_ROUTE_LIST)
		CF_ASSERT(r.limit >= 1 && r.limit <= CFD_LIST_MAX);
}

static void
fuzz_range(const uint8_t *p, size_t len)
{
	uint64_t size = 0;
	uint64_t off = 0;
	uint64_t n = 0;

	if (len < 8)
		return;
	size = cf_get_u64be(p);
	if (cfd_range_parse((const char *)p + 8, len - 8, size, &off, &n) != 0)
		return;
	CF_ASSERT(n >= 1 && off < size && n <= size - off);
}

static void
fuzz_auth(const char *p, size_t len)
{
	static const uint8_t pk[CF_SIGN_PK_BYTES] = {1};
	struct cfd_auth_msg m = {"GET", "/v1/a/chain/", 12, "", 0, CFD_EMPTY_SHA256};
	struct cfd_auth a;

	if (cfd_auth_parse(p, len, &a) != 0)
		return;
	CF_ASSERT(strlen(a.time_text) <= CFD_TIME_TEXT_MAX && strlen(a.nonce_hex) == 32);
	/* a fixed key no input signs for: whatever parses must still be refused */
	CF_ASSERT(cfd_auth_verify(&a, pk, &m) != 0);
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
	switch (data[0] % 3) {
	case 0:
		fuzz_route((const char *)data + 1, len - 1);
		break;
	case 1:
		fuzz_range(data + 1, len - 1);
		break;
	default:
		fuzz_auth((const char *)data + 1, len - 1);
		break;
	}
	return 0;
}
