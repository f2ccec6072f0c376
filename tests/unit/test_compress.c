/*
 * test_compress.c - zstd with the skip rule; decompression that gives exactly raw_len bytes
 * or CF_EFORMAT and never writes past them (every output buffer is exactly raw_len bytes, so
 * AddressSanitizer catches any overrun).
 */
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "base/base.h"
#include "compress/compress.h"
#include "harness.h"

/* Text-like data that zstd compresses well. */
static uint8_t *
make_text(size_t len)
{
	static const char words[] = "the quick brown fox jumps over the lazy dog ";
	uint8_t *d = malloc(len == 0 ? 1 : len);

	for (size_t i = 0; d != NULL && i < len; i++)
		d[i] = (uint8_t)words[(i * 7 + i / 45) % (sizeof(words) - 1)];
	return d;
}

static uint8_t *
make_random(size_t len)
{
	uint8_t *d = malloc(len == 0 ? 1 : len);

	if (d != NULL)
		th_randbuf(d, len);
	return d;
}

/* Compress @len bytes of @src; returns a heap frame or NULL when compression was skipped. */
static uint8_t *
frame_of(struct cf_zctx *z, const uint8_t *src, size_t len, size_t *flen)
{
	size_t cap = cf_compress_bound(len);
	uint8_t *dst = malloc(cap);
	bool used = false;

	*flen = 0;
	if (dst == NULL || cf_compress(z, src, len, dst, cap, flen, &used) != 0 || !used) {
		free(dst);
		return NULL;
	}
	return dst;
}

CF_TEST(round_trip)
{
	static const size_t sizes[] = {64, 1000, 65536, 1u << 20, 3u << 20};
	struct cf_zctx *z = NULL;

	CHECK_EQ(cf_zctx_new(3, &z), 0);
	for (size_t i = 0; z != NULL && i < CF_ARRAY_LEN(sizes); i++) {
		size_t len = sizes[i];
		uint8_t *src = make_text(len);
		uint8_t *out = malloc(len);
		size_t flen = 0;
		uint8_t *f = frame_of(z, src, len, &flen);

		CHECK(f != NULL && flen < len && len - flen >= len / 32);
		if (f != NULL && out != NULL) {
			CHECK_EQ(cf_decompress(z, f, flen, out, len), 0);
			CHECK(memcmp(out, src, len) == 0);
		}
		free(f);
		free(out);
		free(src);
	}
	cf_zctx_free(z);
	cf_zctx_free(NULL);
}

CF_TEST(skip_when_it_does_not_pay)
{
	struct cf_zctx *z = NULL;
	uint8_t *r = make_random(1u << 20);
	uint8_t small[8] = {0};
	uint8_t *dst = malloc(cf_compress_bound(1u << 20));
	size_t flen = 1;
	bool used = true;

	CHECK_EQ(cf_zctx_new(3, &z), 0);
	if (z == NULL || r == NULL || dst == NULL)
		goto out;
	CHECK_EQ(cf_compress(z, r, 1u << 20, dst, cf_compress_bound(1u << 20), &flen, &used), 0);
	CHECK(!used && flen == 0);
	/* A tiny input: the frame overhead is larger than the input. */
	CHECK_EQ(cf_compress(z, small, sizeof(small), dst, cf_compress_bound(8), &flen, &used), 0);
	CHECK(!used);
	CHECK_EQ(cf_compress(z, small, 0, dst, cf_compress_bound(0), &flen, &used), 0);
	CHECK(!used);
	/* The context still works after a skipped input. */
	memset(r, 'a', 4096);
	CHECK_EQ(cf_compress(z, r, 4096, dst, cf_compress_bound(4096), &flen, &used), 0);
	CHECK(used && flen < 4096);
out:
	free(dst);
	free(r);
	cf_zctx_free(z);
}

CF_TEST(cap_too_small)
{
	struct cf_zctx *z = NULL;
	uint8_t src[4096];
	uint8_t dst[4096];
	size_t flen = 0;
	bool used = true;

	memset(src, 'x', sizeof(src));
	CHECK_EQ(cf_zctx_new(1, &z), 0);
	if (z == NULL)
		return;
	CHECK(cf_compress_bound(sizeof(src)) > sizeof(dst));
	CHECK_EQ(cf_compress(z, src, sizeof(src), dst, sizeof(dst), &flen, &used), CF_ETOOBIG);
	CHECK(!used);
	cf_zctx_free(z);
}

/* Decompression must give exactly raw_len bytes: larger or smaller claims fail. */
CF_TEST(wrong_raw_len)
{
	struct cf_zctx *z = NULL;
	uint8_t *src = make_text(100000);
	uint8_t *out = malloc(100001);
	size_t flen = 0;
	uint8_t *f = NULL;

	CHECK_EQ(cf_zctx_new(3, &z), 0);
	if (z == NULL || src == NULL || out == NULL)
		goto out;
	f = frame_of(z, src, 100000, &flen);
	CHECK(f != NULL);
	if (f == NULL)
		goto out;
	CHECK_EQ(cf_decompress(z, f, flen, out, 99999), CF_EFORMAT);
	CHECK_EQ(cf_decompress(z, f, flen, out, 100001), CF_EFORMAT);
	CHECK_EQ(cf_decompress(z, f, flen, out, 0), CF_EFORMAT);
	CHECK_EQ(cf_decompress(z, f, flen, out, 100000), 0);
out:
	free(f);
	free(out);
	free(src);
	cf_zctx_free(z);
}

/* A frame that does not declare its size must still give exactly raw_len bytes. */
CF_TEST(frame_without_content_size)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	struct cf_zctx *z = NULL;
	uint8_t *src = make_text(200000);
	size_t cap = ZSTD_compressBound(200000);
	uint8_t *f = malloc(cap);
	uint8_t *out = NULL;
	size_t flen;

	CHECK_EQ(cf_zctx_new(3, &z), 0);
	if (cc == NULL || z == NULL || src == NULL || f == NULL)
		goto out;
	CHECK(!ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0)));
	flen = ZSTD_compress2(cc, f, cap, src, 200000);
	CHECK(!ZSTD_isError(flen));
	CHECK_EQ(ZSTD_getFrameContentSize(f, flen), ZSTD_CONTENTSIZE_UNKNOWN);
	/* Too small: zstd stops at the capacity; out is exactly that big, so ASan sees any overrun.
	 */
	out = malloc(150000);
	CHECK_EQ(cf_decompress(z, f, flen, out, 150000), CF_EFORMAT);
	for (size_t i = 0; i < 150000; i++)
		if (out[i] != 0) {
			th_fail(__FILE__, __LINE__, "output not wiped");
			break;
		}
	free(out);
	out = malloc(200001);
	CHECK_EQ(cf_decompress(z, f, flen, out, 200001), CF_EFORMAT);
	CHECK_EQ(cf_decompress(z, f, flen, out, 200000), 0);
	CHECK(memcmp(out, src, 200000) == 0);
out:
	ZSTD_freeCCtx(cc);
	free(out);
	free(f);
	free(src);
	cf_zctx_free(z);
}

CF_TEST(damaged_frames)
{
	struct cf_zctx *z = NULL;
	uint8_t *src = make_text(50000);
	uint8_t *out = malloc(50000);
	uint8_t *two = NULL;
	uint8_t skip[16] = {0x50, 0x2a, 0x4d, 0x18, 8, 0, 0, 0};
	size_t flen = 0;
	uint8_t *f = NULL;
	int rc;

	CHECK_EQ(cf_zctx_new(3, &z), 0);
	if (z == NULL || src == NULL || out == NULL)
		goto out;
	f = frame_of(z, src, 50000, &flen);
	if (f == NULL || (two = malloc(2 * flen + 1)) == NULL)
		goto out;
	/* Truncated, empty, bad magic. */
	CHECK_EQ(cf_decompress(z, f, flen - 1, out, 50000), CF_EFORMAT);
	CHECK_EQ(cf_decompress(z, f, 0, out, 50000), CF_EFORMAT);
	CHECK_EQ(cf_decompress(z, f, 3, out, 50000), CF_EFORMAT);
	f[0] ^= 1;
	CHECK_EQ(cf_decompress(z, f, flen, out, 50000), CF_EFORMAT);
	f[0] ^= 1;
	/* A trailing byte, and two frames back to back. */
	memcpy(two, f, flen);
	two[flen] = 0;
	CHECK_EQ(cf_decompress(z, two, flen + 1, out, 50000), CF_EFORMAT);
	memcpy(two + flen, f, flen);
	CHECK_EQ(cf_decompress(z, two, 2 * flen, out, 50000), CF_EFORMAT);
	/* A skippable frame is not a data frame, whatever raw_len. */
	CHECK_EQ(cf_decompress(z, skip, sizeof(skip), out, 50000), CF_EFORMAT);
	/* Corrupt the middle: a damaged block, or a wrong decode that the size check catches. */
	f[flen / 2] ^= 0x55;
	rc = cf_decompress(z, f, flen, out, 50000);
	CHECK(rc == 0 || rc == CF_EFORMAT);
	f[flen / 2] ^= 0x55;
	/* The context recovers after every failure. */
	CHECK_EQ(cf_decompress(z, f, flen, out, 50000), 0);
	CHECK(memcmp(out, src, 50000) == 0);
out:
	free(two);
	free(f);
	free(out);
	free(src);
	cf_zctx_free(z);
}

/* Random mutations of a frame never overrun the exact-size output (checked by ASan). */
CF_TEST(mutated_frames)
{
	struct cf_zctx *z = NULL;
	uint8_t *src = make_text(20000);
	uint8_t *out = malloc(20000);
	size_t flen = 0;
	uint8_t *f = NULL;

	CHECK_EQ(cf_zctx_new(3, &z), 0);
	if (z == NULL || src == NULL || out == NULL || (f = frame_of(z, src, 20000, &flen)) == NULL)
		goto out;
	for (int i = 0; i < 2000; i++) {
		size_t pos = (size_t)(th_rand() % flen);
		uint8_t bit = (uint8_t)(1u << (th_rand() % 8));
		int rc;

		f[pos] ^= bit;
		rc = cf_decompress(z, f, flen, out, 20000);
		CHECK(rc == 0 || rc == CF_EFORMAT);
		f[pos] ^= bit;
	}
	CHECK_EQ(cf_decompress(z, f, flen, out, 20000), 0);
out:
	free(f);
	free(out);
	free(src);
	cf_zctx_free(z);
}
