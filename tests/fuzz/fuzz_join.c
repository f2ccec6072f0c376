/*
 * fuzz_join.c - libFuzzer harness for join requests (docs/format.md 10.1) and pairing codes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "device/device.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static bool ready;
	struct cf_join_request req;
	char code[CF_PAIRING_CODE_BYTES];
	char typed[64];

	if (!ready) {
		if (cf_init() != 0)
			return 0;
		ready = true;
	}
	if (cf_join_request_open(data, len, &req) == 0) {
		cf_pairing_code(req.sign_pk, req.box_pk, code);
		if (!cf_pairing_code_equal(code, code))
			__builtin_trap();
	}
	/* the input as a typed pairing code */
	if (len < sizeof(typed)) {
		memcpy(typed, data, len);
		typed[len] = '\0';
		(void)cf_pairing_code_equal(typed, "0000-0000-0000-0000");
	}
	return 0;
}
