/*
 * base.h - allocation, error recording, small text and byte-order helpers.
 */
#ifndef CF_BASE_H
#define CF_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"

/*
 * All heap use goes through these so tests can fail the Nth allocation.
 * cf_malloc(0) returns a valid pointer. cf_free(NULL) is a no-op.
 */
void *cf_malloc(size_t n);
void *cf_calloc(size_t count, size_t size);
void *cf_realloc(void *p, size_t n);
void cf_free(void *p);
/* cf_malloc_aligned() - @n bytes at a multiple of @align (a power of two); free with cf_free(). */
void *cf_malloc_aligned(size_t align, size_t n);
/* cf_free_wipe() - wipe @len bytes of @p with sodium_memzero, then free. NULL is a no-op. */
void cf_free_wipe(void *p, size_t len);
/* cf_strdup() - heap copy of a NUL-terminated string, or NULL. */
char *cf_strdup(const char *s);
/* cf_memdup() - heap copy of @len bytes, or NULL. */
void *cf_memdup(const void *p, size_t len);

/*
 * cf_alloc_fail_after() - test hook: allocation number @n (counting from 1 after this
 * call) and every later one fail; 0 turns the hook off. Not thread-safe to change while
 * other threads allocate.
 */
void cf_alloc_fail_after(uint64_t n);
/* cf_alloc_count() - allocations made through cf_malloc/cf_calloc/cf_realloc so far (tests). */
uint64_t cf_alloc_count(void);

/*
 * cf_err_set() - record a message for cf_err_last() and return @rc, so callers write
 * "return cf_err_set(CF_ESYS, "cannot open '%s'", path);". For CF_ESYS the text of the
 * current errno is appended. Control characters and non-UTF-8 bytes in the message are
 * escaped so it stays on one line.
 */
int cf_err_set(int rc, const char *fmt, ...) CF_PRINTF(2, 3);
/* cf_err_setv() - va_list form of cf_err_set(). */
int cf_err_setv(int rc, const char *fmt, va_list ap) CF_PRINTF(2, 0);
/* cf_err_wrap() - prefix the current message with a context: "ctx: previous". Returns @rc. */
int cf_err_wrap(int rc, const char *fmt, ...) CF_PRINTF(2, 3);
/* cf_err_copy() - copy this thread's message into @dst (size @cap), truncated. */
void cf_err_copy(char *dst, size_t cap);
/* cf_err_restore() - set this thread's message to @msg (from cf_err_copy on another thread). */
void cf_err_restore(const char *msg);

/*
 * cf_write_all() - write all @len bytes of @p to @fd, retrying on EINTR and short writes.
 * Returns 0, or -1 with errno set (EIO when write() made no progress).
 */
int cf_write_all(int fd, const uint8_t *p, size_t len) CF_MUST_CHECK;
/* cf_mono_ns() - CLOCK_MONOTONIC in nanoseconds: for intervals, never for dates. */
uint64_t cf_mono_ns(void);

/* Hex of non-secret bytes: @out must hold 2*len+1 chars. */
void cf_hex(char *out, const uint8_t *in, size_t len);
/*
 * cf_unhex() - decode exactly @outlen bytes from the @inlen hex chars of @in (no
 * separators). Constant-time (sodium_hex2bin). Returns 0 or CF_EFORMAT.
 */
int cf_unhex(uint8_t *out, size_t outlen, const char *in, size_t inlen) CF_MUST_CHECK;
/*
 * cf_parse_u64() - parse all of @s as a decimal number in [@min, @max].
 * Returns 0 or CF_EINVAL.
 */
int cf_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) CF_MUST_CHECK;
/*
 * cf_parse_size() - parse a size like "16M", "50G", "512k", "1024" (binary units).
 * Returns 0 or CF_EINVAL.
 */
int cf_parse_size(const char *s, uint64_t *out) CF_MUST_CHECK;

/* Big-endian stores and loads for wire fields. */
static inline void
cf_put_u16be(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
cf_put_u32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
cf_put_u64be(uint8_t *p, uint64_t v)
{
	cf_put_u32be(p, (uint32_t)(v >> 32));
	cf_put_u32be(p + 4, (uint32_t)v);
}

static inline uint16_t
cf_get_u16be(const uint8_t *p)
{
	return (uint16_t)((uint16_t)(p[0] << 8) | p[1]);
}

static inline uint32_t
cf_get_u32be(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t
cf_get_u64be(const uint8_t *p)
{
	return ((uint64_t)cf_get_u32be(p) << 32) | cf_get_u32be(p + 4);
}

#endif
