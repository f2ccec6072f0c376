/*
 * fuzz_device_key.c - libFuzzer harness for the device key file: cf_device_load() with the
 * passphrase "fuzz", and the plaintext parser cf_device_parse_plain() on the raw input.
 *
 * A locked file asking for more than opslimit 1 and 64 KiB is not loaded: the limits are
 * checked before Argon2id runs (a unit test covers that), and running it at up to 4 GiB
 * would make fuzzing crawl.
 */
#include <stdbool.h>
#include <stdint.h>

#include "device/device.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static bool init;
	struct cf_device_kdf kdf;
	struct cf_device *d = NULL;

	if (!init) {
		if (cf_init() != 0)
			return 0;
		init = true;
	}
	if (cf_device_parse_plain(data, len, &d) == 0)
		cf_device_free(d);
	d = NULL;
	if (cf_device_file_kdf(data, len, &kdf) == 0 &&
	    (kdf.opslimit > 1 || kdf.memlimit > 64 * 1024))
		return 0;
	(void)cf_device_file_locked(data, len);
	if (cf_device_load(data, len, "fuzz", 4, &d) == 0)
		cf_device_free(d);
	return 0;
}
