/*
 * fuzz_tree.c - libFuzzer harness for cf_tree_decode(). Beyond not crashing or leaking, it
 * checks canonicality: whatever decodes must re-encode to exactly the input bytes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "tree/tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static bool initialised;
	struct cf_tree *t = NULL;
	uint8_t *out = NULL;
	size_t n = 0;

	if (!initialised) {
		if (cf_init() != 0)
			abort();
		initialised = true;
	}
	if (cf_tree_decode(data, len, &t) != 0)
		return 0;
	if (cf_tree_encode(t, &out, &n) != 0 || n != len || memcmp(out, data, len) != 0)
		abort();
	for (size_t i = 0; i < t->count; i++)
		if (cf_tree_find(t, t->nodes[i].name, t->nodes[i].name_len) != &t->nodes[i])
			abort();
	cf_free(out);
	cf_tree_free(t);
	return 0;
}
