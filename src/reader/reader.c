/*
 * reader.c - bounded reader.
 */
#include "reader.h"

#include <string.h>

#include "../base/base.h"

void
cf_reader_init(struct cf_reader *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->left = len;
}

int
cf_reader_view(struct cf_reader *r, size_t n, const uint8_t **out)
{
	*out = NULL;
	if (r->left < n)
		return CF_ETRUNC;
	*out = r->p;
	/* r->p may be NULL for empty input: NULL + 0 is undefined in C. */
	if (n > 0)
		r->p += n;
	r->left -= n;
	return 0;
}

int
cf_reader_skip(struct cf_reader *r, size_t n)
{
	const uint8_t *v = NULL;

	return cf_reader_view(r, n, &v);
}

int
cf_reader_copy(struct cf_reader *r, void *dst, size_t n)
{
	const uint8_t *v = NULL;
	int rc;

	if ((rc = cf_reader_view(r, n, &v)) != 0)
		return rc;
	if (n > 0)
		memcpy(dst, v, n);
	return 0;
}

int
cf_reader_u8(struct cf_reader *r, uint8_t *v)
{
	const uint8_t *p = NULL;
	int rc;

	if ((rc = cf_reader_view(r, 1, &p)) != 0)
		return rc;
	*v = p[0];
	return 0;
}

int
cf_reader_u16be(struct cf_reader *r, uint16_t *v)
{
	const uint8_t *p = NULL;
	int rc;

	if ((rc = cf_reader_view(r, 2, &p)) != 0)
		return rc;
	*v = cf_get_u16be(p);
	return 0;
}

int
cf_reader_u32be(struct cf_reader *r, uint32_t *v)
{
	const uint8_t *p = NULL;
	int rc;

	if ((rc = cf_reader_view(r, 4, &p)) != 0)
		return rc;
	*v = cf_get_u32be(p);
	return 0;
}

int
cf_reader_u64be(struct cf_reader *r, uint64_t *v)
{
	const uint8_t *p = NULL;
	int rc;

	if ((rc = cf_reader_view(r, 8, &p)) != 0)
		return rc;
	*v = cf_get_u64be(p);
	return 0;
}

int
cf_reader_i64be(struct cf_reader *r, int64_t *v)
{
	uint64_t u = 0;
	int rc;

	if ((rc = cf_reader_u64be(r, &u)) != 0)
		return rc;
	*v = (int64_t)u;
	return 0;
}

int
cf_reader_str8(struct cf_reader *r, size_t max, const uint8_t **p, size_t *len)
{
	struct cf_reader t = *r;
	uint8_t n = 0;
	int rc;

	*p = NULL;
	*len = 0;
	/* Read through a copy: a failed field consumes nothing, like the other getters. */
	if ((rc = cf_reader_u8(&t, &n)) != 0)
		return rc;
	if (n > max)
		return CF_ETOOBIG;
	if ((rc = cf_reader_view(&t, n, p)) != 0)
		return rc;
	*r = t;
	*len = n;
	return 0;
}

int
cf_reader_str16(struct cf_reader *r, size_t max, const uint8_t **p, size_t *len)
{
	struct cf_reader t = *r;
	uint16_t n = 0;
	int rc;

	*p = NULL;
	*len = 0;
	/* Read through a copy: a failed field consumes nothing, like the other getters. */
	if ((rc = cf_reader_u16be(&t, &n)) != 0)
		return rc;
	if (n > max)
		return CF_ETOOBIG;
	if ((rc = cf_reader_view(&t, n, p)) != 0)
		return rc;
	*r = t;
	*len = n;
	return 0;
}

int
cf_reader_prefix(struct cf_reader *r, uint8_t kind)
{
	const uint8_t *magic = NULL;
	uint8_t k = 0;
	uint8_t version = 0;
	uint16_t zero = 0;
	int rc;

	if ((rc = cf_reader_view(r, 4, &magic)) != 0 || (rc = cf_reader_u8(r, &k)) != 0 ||
	    (rc = cf_reader_u8(r, &version)) != 0 || (rc = cf_reader_u16be(r, &zero)) != 0)
		return rc;
	if (memcmp(magic, "COFR", 4) != 0 || k != kind)
		return CF_EFORMAT;
	if (version != 1)
		return CF_EVERSION;
	return zero == 0 ? 0 : CF_EFORMAT;
}

int
cf_reader_end(const struct cf_reader *r)
{
	return r->left == 0 ? 0 : CF_EFORMAT;
}
