/*
 * buf.h - growable byte buffer with a hard maximum (curl dynbuf, OpenSSH sshbuf).
 *
 * The writer side of every codec. A buffer that held plaintext or keys is created with
 * cf_buf_init_secret() and wiped on every reallocation and on release.
 */
#ifndef CF_BUF_H
#define CF_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/compat.h"

struct cf_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
	size_t max;
	bool secret;
};

/* cf_buf_init() - empty buffer that may grow to @max bytes. No allocation yet. */
void cf_buf_init(struct cf_buf *b, size_t max);
/* cf_buf_init_secret() - as cf_buf_init(), and its memory is wiped when freed or moved. */
void cf_buf_init_secret(struct cf_buf *b, size_t max);
/* cf_buf_release() - free the memory (wiping it if secret); the buffer is empty after. */
void cf_buf_release(struct cf_buf *b);
/* cf_buf_reset() - length to 0, keeping the memory (wiped first if secret). */
void cf_buf_reset(struct cf_buf *b);
/* cf_buf_reserve() - room for @n more bytes. Returns 0, CF_ETOOBIG (over max) or CF_ENOMEM. */
int cf_buf_reserve(struct cf_buf *b, size_t n) CF_MUST_CHECK;
/* cf_buf_put() - append @len bytes. Errors as cf_buf_reserve(). */
int cf_buf_put(struct cf_buf *b, const void *p, size_t len) CF_MUST_CHECK;
/* cf_buf_zero() - append @len zero bytes. */
int cf_buf_zero(struct cf_buf *b, size_t len) CF_MUST_CHECK;
int cf_buf_u8(struct cf_buf *b, uint8_t v) CF_MUST_CHECK;
int cf_buf_u16be(struct cf_buf *b, uint16_t v) CF_MUST_CHECK;
int cf_buf_u32be(struct cf_buf *b, uint32_t v) CF_MUST_CHECK;
int cf_buf_u64be(struct cf_buf *b, uint64_t v) CF_MUST_CHECK;
int cf_buf_i64be(struct cf_buf *b, int64_t v) CF_MUST_CHECK;
/* cf_buf_str8() / cf_buf_str16() - a u8/u16 length then the bytes; CF_ETOOBIG when too long. */
int cf_buf_str8(struct cf_buf *b, const void *p, size_t len) CF_MUST_CHECK;
int cf_buf_str16(struct cf_buf *b, const void *p, size_t len) CF_MUST_CHECK;
/*
 * cf_buf_append_space() - make @n bytes of room, advance the length and return a pointer
 * to them in @out (valid until the next call on @b).
 */
int cf_buf_append_space(struct cf_buf *b, size_t n, uint8_t **out) CF_MUST_CHECK;
/*
 * cf_buf_detach() - hand the bytes to the caller (free with cf_free, or cf_free_wipe if
 * secret); the buffer is empty after. *@out may be a valid pointer even when @len is 0.
 */
void cf_buf_detach(struct cf_buf *b, uint8_t **out, size_t *len);

#endif
