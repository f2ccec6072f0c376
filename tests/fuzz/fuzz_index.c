/*
 * fuzz_index.c - index objects opened with a fixed K_index and repository id (those of
 * tests/vectors/index.txt, so the seed corpus opens), loaded into an in-memory index; and the
 * same input given straight to the plaintext parser, which no mutation reaches through the
 * AEAD.
 */
#include <stdint.h>
#include <stdlib.h>

#include "base/base.h"
#include "crypto/crypto.h"
#include "index/index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static uint8_t repo_id[32];
static struct cf_key *k_index;

/* K_index = a0 a1 .. bf, repo_id = 60 61 .. 7f. */
static int
setup(void)
{
	static int done;
	uint8_t k[32];

	if (done)
		return k_index != NULL ? 0 : -1;
	done = 1;
	for (int i = 0; i < 32; i++) {
		k[i] = (uint8_t)(0xa0 + i);
		repo_id[i] = (uint8_t)(0x60 + i);
	}
	if (cf_init() != 0 || cf_key_new_from(k, &k_index) != 0)
		return -1;
	return 0;
}

/* Load the packs into an in-memory index; every entry must be found where it was put. */
static void
load(const struct cf_index_pack *p, size_t n)
{
	struct cf_index *ix = NULL;
	struct cf_blob_loc loc;

	if (cf_index_new(&ix) != 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (cf_index_add_pack(ix, &p[i]) != 0)
			goto out;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < p[i].count; j++)
			if (cf_index_lookup(ix, p[i].entries[j].id, &loc) != 0)
				abort();
out:
	cf_index_free(ix);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct cf_index_pack *p = NULL;
	size_t n = 0;

	if (setup() != 0)
		return 0;
	if (cf_index_decode(k_index, repo_id, data, len, &p, &n) == 0)
		load(p, n);
	cf_index_packs_free(p, n);
	p = NULL;
	n = 0;
	if (cf_index_parse_plain(data, len, &p, &n) == 0)
		load(p, n);
	else if (p != NULL || n != 0)
		abort();
	cf_index_packs_free(p, n);
	return 0;
}
