/*
 * prop_chunk.c - properties of the chunker on seeded random data (CF_TEST_SEED replays):
 * determinism, bounds, independence from how the stream is buffered, and resynchronisation
 * after an insertion or a deletion.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "chunk/chunk.h"
#include "crypto/crypto.h"
#include "harness.h"

#define MAX_CUTS 100000

static const struct cf_chunk_params small = {1024, 4096, 32768};
static const struct cf_chunk_params defaults = {CF_CHUNK_MIN_DEFAULT, CF_CHUNK_AVG_DEFAULT,
                                                CF_CHUNK_MAX_DEFAULT};

static struct cf_chunker *
new_chunker(const struct cf_chunk_params *p)
{
	uint8_t ckb[32];
	struct cf_key *ck = NULL;
	struct cf_chunker *c = NULL;

	th_randbuf(ckb, sizeof(ckb));
	if (cf_key_new_from(ckb, &ck) != 0)
		return NULL;
	if (cf_chunker_new(ck, p, &c) != 0)
		c = NULL;
	cf_key_free(ck);
	return c;
}

/* Boundary positions (end offsets) of the whole of @d; returns their count. */
static size_t
boundaries(const struct cf_chunker *c, const uint8_t *d, size_t len, size_t *out)
{
	size_t n = 0;
	size_t off = 0;

	while (off < len && n < MAX_CUTS) {
		off += cf_chunker_cut(c, d + off, len - off);
		out[n++] = off;
	}
	return n;
}

/*
 * The same stream seen through a buffer of random size >= max, refilled as a reader would
 * (only the tail of the stream is ever shorter than max).
 */
static size_t
boundaries_windowed(const struct cf_chunker *c, const uint8_t *d, size_t len, size_t *out)
{
	size_t max = cf_chunker_max(c);
	size_t n = 0;
	size_t off = 0;

	while (off < len && n < MAX_CUTS) {
		size_t win = max + (size_t)(th_rand() % (2 * max));
		size_t avail = len - off < win ? len - off : win;

		off += cf_chunker_cut(c, d + off, avail);
		out[n++] = off;
	}
	return n;
}

static void
check_bounds(const struct cf_chunk_params *p, const size_t *b, size_t n, size_t len)
{
	size_t prev = 0;
	bool ok = true;

	for (size_t i = 0; i < n; i++) {
		size_t l = b[i] - prev;

		if (i + 1 < n)
			ok = ok && l > p->min && l <= p->max;
		else
			ok = ok && l >= 1 && l <= p->max && b[i] == len;
		prev = b[i];
	}
	CHECK(ok);
}

CF_TEST(deterministic_bounded_buffering_free)
{
	size_t len = (size_t)(4u << 20) + (size_t)(th_rand() % 65536);
	uint8_t *d = malloc(len);
	size_t *a = calloc(MAX_CUTS, sizeof(size_t));
	size_t *b = calloc(MAX_CUTS, sizeof(size_t));
	struct cf_chunker *c = new_chunker(&small);
	size_t na;
	size_t nb;

	CHECK(d != NULL && a != NULL && b != NULL && c != NULL);
	if (d == NULL || a == NULL || b == NULL || c == NULL)
		goto out;
	th_randbuf(d, len);
	na = boundaries(c, d, len, a);
	check_bounds(&small, a, na, len);
	CHECK(na > len / 32768);
	nb = boundaries(c, d, len, b);
	CHECK(na == nb && memcmp(a, b, na * sizeof(size_t)) == 0);
	nb = boundaries_windowed(c, d, len, b);
	CHECK(na == nb && memcmp(a, b, na * sizeof(size_t)) == 0);
out:
	cf_chunker_free(c);
	free(a);
	free(b);
	free(d);
}

/*
 * Edit @d at @pos (insert @k random bytes, or delete @k bytes when @del) and compare the
 * boundaries: identical up to the edit, then, after at most a few chunks, identical again
 * shifted by the edit.
 */
static void
check_resync(const struct cf_chunk_params *p, const uint8_t *d, size_t len, size_t pos, size_t k,
             bool del)
{
	size_t len2 = del ? len - k : len + k;
	uint8_t *d2 = malloc(len2);
	size_t *a = calloc(MAX_CUTS, sizeof(size_t));
	size_t *b = calloc(MAX_CUTS, sizeof(size_t));
	struct cf_chunker *c = new_chunker(p);
	size_t na;
	size_t nb;
	size_t i = 0;
	size_t j = 0;

	if (d2 == NULL || a == NULL || b == NULL || c == NULL) {
		th_fail(__FILE__, __LINE__, "allocation");
		goto out;
	}
	memcpy(d2, d, pos);
	if (del) {
		memcpy(d2 + pos, d + pos + k, len - pos - k);
	} else {
		th_randbuf(d2 + pos, k);
		memcpy(d2 + pos + k, d + pos, len - pos);
	}
	na = boundaries(c, d, len, a);
	nb = boundaries(c, d2, len2, b);
	check_bounds(p, b, nb, len2);
	/* Boundaries that end at or before the edit do not move. */
	for (; i < na && a[i] <= pos; i++)
		CHECK(i < nb && b[i] == a[i]);
	/* After the edit: find the first common boundary (shifted), within 8 max-size chunks. */
	j = i;
	while (i < na && j < nb) {
		size_t sa = del ? a[i] - k : a[i] + k;

		if (sa == b[j])
			break;
		if (sa < b[j])
			i++;
		else
			j++;
	}
	CHECK(i < na && j < nb && b[j] <= pos + (del ? 0 : k) + 8 * p->max);
	/* From there on the two streams are cut identically. */
	CHECK(na - i == nb - j);
	for (; i < na && j < nb; i++, j++)
		if ((del ? a[i] - k : a[i] + k) != b[j]) {
			th_fail(__FILE__, __LINE__, "boundaries differ after resync");
			break;
		}
out:
	cf_chunker_free(c);
	free(a);
	free(b);
	free(d2);
}

CF_TEST(resync_after_insert_and_delete_small)
{
	size_t len = 2u << 20;
	uint8_t *d = malloc(len);

	if (d == NULL)
		return;
	for (int round = 0; round < 20; round++) {
		size_t pos = len / 4 + (size_t)(th_rand() % (len / 2));
		size_t k = 1 + (size_t)(th_rand() % 5000);

		th_randbuf(d, len);
		check_resync(&small, d, len, pos, k, round % 2 == 1);
	}
	free(d);
}

CF_TEST(resync_after_insert_defaults)
{
	size_t len = 48u << 20;
	uint8_t *d = malloc(len);
	size_t pos = len / 3 + (size_t)(th_rand() % (len / 3));
	uint8_t seed[randombytes_SEEDBYTES];

	if (d == NULL)
		return;
	/* Seeded bytes from a fast stream: th_rand() per byte would dominate the run. */
	th_randbuf(seed, sizeof(seed));
	randombytes_buf_deterministic(d, len, seed);
	check_resync(&defaults, d, len, pos, 1 + (size_t)(th_rand() % 100000), false);
	check_resync(&defaults, d, len, pos, 1 + (size_t)(th_rand() % 100000), true);
	free(d);
}
