/*
 * alloc.c - the allocator wrappers and their fault-injection hook.
 */
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base.h"

/* 0: off. Otherwise the count of allocations still allowed plus one. */
static atomic_uint_fast64_t fail_countdown;
static atomic_uint_fast64_t alloc_count;

uint64_t
cf_alloc_count(void)
{
	return atomic_load(&alloc_count);
}

void
cf_alloc_fail_after(uint64_t n)
{
	atomic_store(&fail_countdown, n);
}

static bool
should_fail(void)
{
	uint_fast64_t v = atomic_load(&fail_countdown);

	atomic_fetch_add(&alloc_count, 1);

	while (v > 1) {
		if (atomic_compare_exchange_weak(&fail_countdown, &v, v - 1))
			return false;
	}
	return v == 1;
}

void *
cf_malloc(size_t n)
{
	if (should_fail())
		return NULL;
	return malloc(n == 0 ? 1 : n);
}

void *
cf_calloc(size_t count, size_t size)
{
	if (should_fail())
		return NULL;
	if (count == 0 || size == 0)
		return calloc(1, 1);
	return calloc(count, size);
}

void *
cf_realloc(void *p, size_t n)
{
	if (should_fail())
		return NULL;
	return realloc(p, n == 0 ? 1 : n);
}

void *
cf_malloc_aligned(size_t align, size_t n)
{
	void *p = NULL;

	if (should_fail() || posix_memalign(&p, align, n == 0 ? 1 : n) != 0)
		return NULL;
	return p;
}

void
cf_free(void *p)
{
	free(p);
}

void
cf_free_wipe(void *p, size_t len)
{
	if (p == NULL)
		return;
	sodium_memzero(p, len);
	free(p);
}

char *
cf_strdup(const char *s)
{
	return cf_memdup(s, strlen(s) + 1);
}

void *
cf_memdup(const void *p, size_t len)
{
	void *q = cf_malloc(len);

	if (q != NULL && len > 0)
		memcpy(q, p, len);
	return q;
}

void
cf_misuse(const char *what)
{
	static const char pre[] = "coffer: internal error: ";

	/* The library never prints, except here, on the way to abort() on a bug. */
	if (write(2, pre, sizeof(pre) - 1) < 0 || write(2, what, strlen(what)) < 0 ||
	    write(2, "\n", 1) < 0)
		abort();
	abort();
}
