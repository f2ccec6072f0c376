/*
 * fuzz_recovery.c - libFuzzer harness for the recovery key text: the file parser and the
 * code decoder on the raw input, and the encoder on whatever decodes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "recovery/recovery.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

/* A decoded key must encode back to a code that decodes to the same key. */
static void
round_trip(const struct cf_key *k)
{
	char text[CF_RECOVERY_TEXT_BYTES];
	struct cf_key *again = NULL;

	cf_recovery_encode(k, text);
	if (cf_recovery_decode(text, strlen(text), &again) != 0 ||
	    !cf_ct_eq(cf_key_view(again), cf_key_view(k), CF_KEY_BYTES))
		cf_misuse("recovery code does not round-trip");
	cf_key_free(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static bool init;
	struct cf_key *k = NULL;

	if (!init) {
		if (cf_init() != 0)
			return 0;
		init = true;
	}
	if (cf_recovery_parse_file(data, len, &k) == 0) {
		round_trip(k);
		cf_key_free(k);
	}
	k = NULL;
	if (cf_recovery_decode((const char *)data, len, &k) == 0) {
		round_trip(k);
		cf_key_free(k);
	}
	return 0;
}
