/*
 * fuzz_fcache.c - libFuzzer harness for files cache entries (docs/format.md 13), which are
 * read from a local file anyone with the user's rights can change. Whatever the decoder
 * accepts must keep the entry's rules (parts adding up to done <= size, no zero-length part,
 * no hole in a partial entry) and re-encode to exactly the bytes it was given.
 */
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "buf/buf.h"
#include "fcache/fcache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct cf_fcache_entry e;
	struct cf_buf b;
	uint64_t total = 0;

	if (cf_fcache_decode(data, len, &e) != 0)
		return 0;
	for (size_t i = 0; i < e.nparts; i++) {
		if (e.parts[i].len == 0)
			__builtin_trap();
		total += e.parts[i].len;
	}
	if (total != e.done || e.done > e.id.size)
		__builtin_trap();
	cf_buf_init(&b, len + 1);
	if (cf_fcache_encode(&e, &b) != 0 || b.len != len || memcmp(b.p, data, len) != 0)
		__builtin_trap();
	cf_buf_release(&b);
	cf_fcache_entry_release(&e);
	return 0;
}
