/*
 * buf.c - capped growable buffer.
 */
#include "buf.h"

#include <sodium.h>
#include <string.h>

#include "../base/base.h"

void
cf_buf_init(struct cf_buf *b, size_t max)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->secret = false;
}

void
cf_buf_init_secret(struct cf_buf *b, size_t max)
{
	cf_buf_init(b, max);
	b->secret = true;
}

void
cf_buf_release(struct cf_buf *b)
{
	if (b->secret)
		cf_free_wipe(b->p, b->cap);
	else
		cf_free(b->p);
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}

void
cf_buf_reset(struct cf_buf *b)
{
	if (b->secret && b->p != NULL)
		sodium_memzero(b->p, b->len);
	b->len = 0;
}

/* Grow to at least @need bytes; a secret buffer moves by copy so the old block is wiped. */
static int
grow(struct cf_buf *b, size_t need)
{
	size_t ncap = b->cap < 256 ? 256 : b->cap;
	uint8_t *np = NULL;

	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	if (ncap > b->max)
		ncap = b->max;
	if (b->secret) {
		if ((np = cf_malloc(ncap)) == NULL)
			return CF_ENOMEM;
		if (b->len > 0)
			memcpy(np, b->p, b->len);
		cf_free_wipe(b->p, b->cap);
	} else if ((np = cf_realloc(b->p, ncap)) == NULL) {
		return CF_ENOMEM;
	}
	b->p = np;
	b->cap = ncap;
	return 0;
}

int
cf_buf_reserve(struct cf_buf *b, size_t n)
{
	size_t need = 0;

	if (cf_size_add(b->len, n, &need) != 0 || need > b->max)
		return CF_ETOOBIG;
	if (need <= b->cap)
		return 0;
	return grow(b, need);
}

int
cf_buf_append_space(struct cf_buf *b, size_t n, uint8_t **out)
{
	int rc;

	*out = NULL;
	if ((rc = cf_buf_reserve(b, n)) != 0)
		return rc;
	/* b->p is NULL while nothing was ever reserved: NULL + 0 is undefined in C. */
	*out = b->len == 0 ? b->p : b->p + b->len;
	b->len += n;
	return 0;
}

int
cf_buf_put(struct cf_buf *b, const void *p, size_t len)
{
	uint8_t *dst = NULL;
	int rc;

	if ((rc = cf_buf_append_space(b, len, &dst)) != 0)
		return rc;
	if (len > 0)
		memcpy(dst, p, len);
	return 0;
}

int
cf_buf_zero(struct cf_buf *b, size_t len)
{
	uint8_t *dst = NULL;
	int rc;

	if ((rc = cf_buf_append_space(b, len, &dst)) != 0)
		return rc;
	if (len > 0)
		memset(dst, 0, len);
	return 0;
}

int
cf_buf_u8(struct cf_buf *b, uint8_t v)
{
	return cf_buf_put(b, &v, 1);
}

int
cf_buf_u16be(struct cf_buf *b, uint16_t v)
{
	uint8_t t[2];

	cf_put_u16be(t, v);
	return cf_buf_put(b, t, sizeof(t));
}

int
cf_buf_u32be(struct cf_buf *b, uint32_t v)
{
	uint8_t t[4];

	cf_put_u32be(t, v);
	return cf_buf_put(b, t, sizeof(t));
}

int
cf_buf_u64be(struct cf_buf *b, uint64_t v)
{
	uint8_t t[8];

	cf_put_u64be(t, v);
	return cf_buf_put(b, t, sizeof(t));
}

int
cf_buf_i64be(struct cf_buf *b, int64_t v)
{
	return cf_buf_u64be(b, (uint64_t)v);
}

int
cf_buf_str8(struct cf_buf *b, const void *p, size_t len)
{
	int rc;

	if (len > UINT8_MAX)
		return CF_ETOOBIG;
	/* Reserve prefix and bytes together so a failure appends nothing. */
	if ((rc = cf_buf_reserve(b, 1 + len)) != 0)
		return rc;
	if ((rc = cf_buf_u8(b, (uint8_t)len)) != 0)
		return rc;
	return cf_buf_put(b, p, len);
}

int
cf_buf_str16(struct cf_buf *b, const void *p, size_t len)
{
	int rc;

	if (len > UINT16_MAX)
		return CF_ETOOBIG;
	/* Reserve prefix and bytes together so a failure appends nothing. */
	if ((rc = cf_buf_reserve(b, 2 + len)) != 0)
		return rc;
	if ((rc = cf_buf_u16be(b, (uint16_t)len)) != 0)
		return rc;
	return cf_buf_put(b, p, len);
}

void
cf_buf_detach(struct cf_buf *b, uint8_t **out, size_t *len)
{
	*out = b->p;
	*len = b->len;
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}
