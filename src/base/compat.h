/*
 * compat.h - the only place where GNU extensions (attributes, overflow builtins) are named.
 */
#ifndef CF_COMPAT_H
#define CF_COMPAT_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"

#define CF_UNUSED       __attribute__((unused))
#define CF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define CF_NORETURN     __attribute__((noreturn))
#define CF_LIKELY(x)    __builtin_expect(!!(x), 1)

#define CF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Checked size arithmetic: return 0, or -1 when the result would overflow. */
static inline int
cf_size_add(size_t a, size_t b, size_t *out)
{
	return __builtin_add_overflow(a, b, out) ? -1 : 0;
}

static inline int
cf_size_mul(size_t a, size_t b, size_t *out)
{
	return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}

static inline int
cf_u64_add(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_add_overflow(a, b, out) ? -1 : 0;
}

/* cf_misuse() - API misuse that no input can cause: abort, like sodium_misuse(). */
CF_NORETURN void cf_misuse(const char *what);

#define CF_ASSERT(x)                                                                               \
	do {                                                                                       \
		if (!(x))                                                                          \
			cf_misuse("assertion failed: " #x);                                        \
	} while (0)

#endif
