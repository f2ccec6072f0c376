/*
 * reader.h - bounded reader over untrusted bytes: the only code that does pointer
 * arithmetic on input. Every getter checks the bytes left first and returns CF_ETRUNC;
 * a parse ends with cf_reader_end() so trailing bytes are an error.
 */
#ifndef CF_READER_H
#define CF_READER_H

#include <stddef.h>
#include <stdint.h>

#include "../base/compat.h"

struct cf_reader {
	const uint8_t *p;
	size_t left;
};

void cf_reader_init(struct cf_reader *r, const uint8_t *p, size_t len);
int cf_reader_u8(struct cf_reader *r, uint8_t *v) CF_MUST_CHECK;
int cf_reader_u16be(struct cf_reader *r, uint16_t *v) CF_MUST_CHECK;
int cf_reader_u32be(struct cf_reader *r, uint32_t *v) CF_MUST_CHECK;
int cf_reader_u64be(struct cf_reader *r, uint64_t *v) CF_MUST_CHECK;
int cf_reader_i64be(struct cf_reader *r, int64_t *v) CF_MUST_CHECK;
/* cf_reader_view() - borrow the next @n bytes (pointer into the input) and skip them. */
int cf_reader_view(struct cf_reader *r, size_t n, const uint8_t **out) CF_MUST_CHECK;
/* cf_reader_copy() - copy the next @n bytes into @dst. */
int cf_reader_copy(struct cf_reader *r, void *dst, size_t n) CF_MUST_CHECK;
/*
 * cf_reader_str8() / cf_reader_str16() - a u8/u16 length (checked against @max: CF_ETOOBIG)
 * then a borrowed view of that many bytes.
 */
int cf_reader_str8(struct cf_reader *r, size_t max, const uint8_t **p, size_t *len) CF_MUST_CHECK;
int cf_reader_str16(struct cf_reader *r, size_t max, const uint8_t **p, size_t *len) CF_MUST_CHECK;
/* cf_reader_skip() - skip @n bytes. */
int cf_reader_skip(struct cf_reader *r, size_t n) CF_MUST_CHECK;
/*
 * cf_reader_prefix() - the 8-byte object prefix of docs/format.md 3: "COFR", @kind, version
 * 1, two zero bytes. Returns 0, CF_ETRUNC, CF_EFORMAT (magic, kind or zero bytes) or
 * CF_EVERSION.
 */
int cf_reader_prefix(struct cf_reader *r, uint8_t kind) CF_MUST_CHECK;
/* cf_reader_end() - 0 when every byte was consumed, else CF_EFORMAT. */
int cf_reader_end(const struct cf_reader *r) CF_MUST_CHECK;

#endif
