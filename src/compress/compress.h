/*
 * compress.h - zstd that is skipped when it does not pay (docs/format.md 5.1).
 * A context is used by one thread at a time.
 */
#ifndef CF_COMPRESS_H
#define CF_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/compat.h"

struct cf_zctx;

/*
 * cf_zctx_new() - compression and decompression contexts at zstd @level. 0 or CF_ENOMEM
 * (CF_EINTERNAL when zstd refuses the parameters).
 */
int cf_zctx_new(int level, struct cf_zctx **out) CF_MUST_CHECK;
void cf_zctx_free(struct cf_zctx *z);

/* cf_compress_bound() - the largest output cf_compress() can write for @len input. */
size_t cf_compress_bound(size_t len);

/*
 * cf_compress() - compress @len bytes of @src into @dst (capacity @cap >= cf_compress_bound).
 * When the output is not at least len/32 smaller, *@used is false and @dst is meaningless:
 * store the plaintext. Otherwise *@used is true and *@outlen the frame length.
 * Returns 0, CF_ETOOBIG (cap too small) or CF_EINTERNAL.
 */
int cf_compress(struct cf_zctx *z, const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
                size_t *outlen, bool *used) CF_MUST_CHECK;

/*
 * cf_decompress() - decompress one zstd frame of @len bytes into exactly @raw_len bytes at
 * @dst. Returns 0, or CF_EFORMAT when the frame is damaged or does not give exactly @raw_len
 * bytes (never writes past @raw_len).
 */
int cf_decompress(struct cf_zctx *z, const uint8_t *src, size_t len, uint8_t *dst,
                  size_t raw_len) CF_MUST_CHECK;

#endif
