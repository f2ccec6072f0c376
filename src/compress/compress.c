/*
 * compress.c - zstd with a skip rule (docs/format.md 5.1).
 */
#include "compress.h"

#include <zstd.h>

#include "../base/base.h"
#include "../crypto/crypto.h"

struct cf_zctx {
	ZSTD_CCtx *c;
	ZSTD_DCtx *d;
};

int
cf_zctx_new(int level, struct cf_zctx **out)
{
	struct cf_zctx *z = NULL;
	int rc = CF_ENOMEM;

	*out = NULL;
	if ((z = cf_calloc(1, sizeof(*z))) == NULL)
		goto out;
	if ((z->c = ZSTD_createCCtx()) == NULL || (z->d = ZSTD_createDCtx()) == NULL)
		goto out;
	/* The content size goes in every frame: the reader checks it against raw_len. */
	if (ZSTD_isError(ZSTD_CCtx_setParameter(z->c, ZSTD_c_compressionLevel, level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->c, ZSTD_c_contentSizeFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->c, ZSTD_c_checksumFlag, 0))) {
		rc = CF_EINTERNAL;
		goto out;
	}
	*out = z;
	z = NULL;
	rc = 0;
out:
	cf_zctx_free(z);
	return rc;
}

void
cf_zctx_free(struct cf_zctx *z)
{
	if (z == NULL)
		return;
	ZSTD_freeCCtx(z->c);
	ZSTD_freeDCtx(z->d);
	cf_free(z);
}

size_t
cf_compress_bound(size_t len)
{
	return ZSTD_compressBound(len);
}

/*
 * Compression pays when it saves at least len/32 bytes, and at least one byte (so a tiny
 * input is never stored as a frame of the same size).
 */
static bool
pays(size_t len, size_t outlen)
{
	return outlen < len && len - outlen >= len / 32;
}

int
cf_compress(struct cf_zctx *z, const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
            size_t *outlen, bool *used)
{
	size_t n;

	*outlen = 0;
	*used = false;
	if (cap < ZSTD_compressBound(len))
		return CF_ETOOBIG;
	n = ZSTD_compress2(z->c, dst, cap, src, len);
	if (ZSTD_isError(n)) {
		/* A context left mid-frame would corrupt the next one. */
		(void)ZSTD_CCtx_reset(z->c, ZSTD_reset_session_only);
		return cf_err_set(CF_EINTERNAL, "zstd: %s", ZSTD_getErrorName(n));
	}
	if (pays(len, n)) {
		*outlen = n;
		*used = true;
	}
	return 0;
}

/*
 * Exactly one standard frame (no skippable frames, nothing after it) that declares
 * @raw_len as its content size when it declares one at all.
 */
static int
check_frame(const uint8_t *src, size_t len, size_t raw_len)
{
	unsigned long long fcs;
	size_t flen;

	if (len < 4 || (src[0] | (uint32_t)src[1] << 8 | (uint32_t)src[2] << 16 |
	                (uint32_t)src[3] << 24) != ZSTD_MAGICNUMBER)
		return CF_EFORMAT;
	flen = ZSTD_findFrameCompressedSize(src, len);
	if (ZSTD_isError(flen) || flen != len)
		return CF_EFORMAT;
	fcs = ZSTD_getFrameContentSize(src, len);
	if (fcs == ZSTD_CONTENTSIZE_ERROR)
		return CF_EFORMAT;
	if (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs != (unsigned long long)raw_len)
		return CF_EFORMAT;
	return 0;
}

int
cf_decompress(struct cf_zctx *z, const uint8_t *src, size_t len, uint8_t *dst, size_t raw_len)
{
	size_t n;
	int rc;

	if ((rc = check_frame(src, len, raw_len)) != 0)
		return rc;
	/* One-shot into @dst: zstd never writes past the capacity and needs no window buffer. */
	n = ZSTD_decompressDCtx(z->d, dst, raw_len, src, len);
	if (ZSTD_isError(n) || n != raw_len) {
		(void)ZSTD_DCtx_reset(z->d, ZSTD_reset_session_only);
		cf_wipe(dst, raw_len); /* no partial plaintext left behind */
		return CF_EFORMAT;
	}
	return 0;
}
