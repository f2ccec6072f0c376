/*
 * fuzz_keyslot.c - libFuzzer harness for cf_keyslot_open() with a fixed repository and
 * recipient (the same keys as tests/vectors/keys.txt: box secret 11..30, id c0..df,
 * repo_id a0..bf), so seeds made for that recipient reach the unwrap.
 */
#include <stdbool.h>
#include <stdint.h>

#include "keys/keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static struct cf_boxkey *self;
static uint8_t self_id[32];
static uint8_t repo_id[32];

static bool
setup(void)
{
	static bool done;
	uint8_t sk[32];

	if (done)
		return self != NULL;
	done = true;
	if (cf_init() != 0)
		return false;
	for (size_t i = 0; i < 32; i++) {
		sk[i] = (uint8_t)(0x11 + i);
		self_id[i] = (uint8_t)(0xc0 + i);
		repo_id[i] = (uint8_t)(0xa0 + i);
	}
	return cf_boxkey_from_secret(sk, &self) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct cf_key *ck = NULL;
	struct cf_boxkey *dk = NULL;
	uint32_t epoch = 0;
	uint8_t role = 0;

	if (!setup())
		return 0;
	if (cf_keyslot_open(data, len, repo_id, self_id, self, &epoch, &role, &ck, &dk) == 0) {
		cf_key_free(ck);
		cf_boxkey_free(dk);
	}
	return 0;
}
