/*
 * fuzz_pack_header.c - the input is a whole pack, read with a fixed repository id and a
 * fixed data key pair (those of tests/vectors/pack.txt, so the seed corpus opens): the head,
 * the wrapped key, the trailer and header, and every blob. The same input also goes straight
 * to the header plaintext parser, which no mutation reaches through the AEAD.
 */
#include <stdint.h>
#include <stdlib.h>

#include "base/base.h"
#include "compress/compress.h"
#include "crypto/crypto.h"
#include "pack/pack.h"
#include "reader/reader.h"

#define FUZZ_RAW_MAX (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static uint8_t repo_id[32];
static struct cf_boxkey *dk;
static struct cf_key *k_id;
static struct cf_zctx *z;

/* Keys of the vectors: DK_sec = 40 41 .. 5f, repo_id = 60 .. 7f, K_id = 80 .. 9f. */
static int
setup(void)
{
	static int done;
	uint8_t sk[32];
	uint8_t kid[32];

	if (done)
		return dk != NULL && k_id != NULL && z != NULL ? 0 : -1;
	done = 1;
	for (int i = 0; i < 32; i++) {
		sk[i] = (uint8_t)(0x40 + i);
		repo_id[i] = (uint8_t)(0x60 + i);
		kid[i] = (uint8_t)(0x80 + i);
	}
	if (cf_init() != 0 || cf_boxkey_from_secret(sk, &dk) != 0 ||
	    cf_key_new_from(kid, &k_id) != 0 || cf_zctx_new(1, &z) != 0)
		return -1;
	return 0;
}

static void
open_blobs(const uint8_t *data, size_t len, const struct cf_key *key, const struct cf_pack_entry *e,
           size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct cf_reader r;
		const uint8_t *s = NULL;
		uint8_t *out = NULL;

		if (e[i].raw_len > FUZZ_RAW_MAX)
			continue;
		cf_reader_init(&r, data, len);
		if (cf_reader_skip(&r, e[i].offset) != 0 ||
		    cf_reader_view(&r, e[i].stored_len, &s) != 0 ||
		    (out = malloc(e[i].raw_len)) == NULL)
			continue;
		if (cf_blob_open(key, repo_id, &e[i], s, e[i].stored_len, z, k_id, out) != 0) {
			/* A failed open leaves nothing behind. */
			for (size_t j = 0; j < e[i].raw_len; j++)
				if (out[j] != 0)
					abort();
		}
		free(out);
	}
}

static void
parse_plain(const uint8_t *data, size_t len, uint64_t blob_end)
{
	struct cf_pack_entry *e = NULL;
	size_t n = 0;

	if (cf_pack_header_parse(data, len, blob_end, &e, &n) == 0) {
		if (n == 0 || cf_pack_entries_check(e, n, blob_end) != 0)
			abort();
		cf_free(e);
	} else if (e != NULL || n != 0) {
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct cf_key *key = NULL;
	struct cf_pack_entry *e = NULL;
	uint32_t epoch = 0;
	size_t n = 0;

	if (setup() != 0)
		return 0;
	if (cf_pack_head_epoch(data, len, &epoch) == 0 &&
	    cf_pack_open_key(data, len, repo_id, dk, &key) == 0 &&
	    cf_pack_read_header(data, len, repo_id, key, &e, &n) == 0)
		open_blobs(data, len, key, e, n);
	cf_free(e);
	cf_key_free(key);
	parse_plain(data, len, CF_PACK_MAX_BYTES);
	parse_plain(data, len, 4096);
	return 0;
}
