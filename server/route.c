/*
 * route.c - request targets, queries and ranges (route.h). Every piece of text is read
 * through a struct cf_reader and length-checked against its field's maximum before it is
 * copied or decoded.
 */
#include "route.h"

#include <string.h>

#include "base/base.h"
#include "reader/reader.h"

#define SEGMENTS_MAX 5

struct segs {
	const uint8_t *p[SEGMENTS_MAX];
	size_t n[SEGMENTS_MAX];
	size_t count;
};

static bool
seg_is(const uint8_t *p, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(p, s, n) == 0;
}

/* Copy a segment of at most @max bytes into @dst as a C string. */
static int
seg_copy(char *dst, size_t max, const uint8_t *p, size_t n)
{
	if (n == 0 || n > max || memchr(p, '\0', n) != NULL)
		return CF_EFORMAT;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}

/* Split "/a/b/c" into its segments; a final '/' gives a last, empty segment. */
static int
split_path(const char *path, size_t len, struct segs *s)
{
	struct cf_reader r;

	memset(s, 0, sizeof(*s));
	cf_reader_init(&r, (const uint8_t *)path, len);
	if (cf_reader_skip(&r, 1) != 0 || path[0] != '/')
		return CF_ENOENT;
	for (;;) {
		if (s->count == SEGMENTS_MAX)
			return CF_ENOENT;
		size_t n = cfd_span(&r, '/');

		s->n[s->count] = n;
		if (cf_reader_view(&r, n, &s->p[s->count]) != 0)
			return CF_EINTERNAL;
		s->count++;
		if (r.left == 0)
			return 0;
		if (cf_reader_skip(&r, 1) != 0)
			return CF_EINTERNAL;
	}
}

static int
parse_account(const struct segs *s, struct cfd_route *out)
{
	if (seg_copy(out->account, CFD_ACCOUNT_MAX, s->p[1], s->n[1]) != 0 ||
	    !cfd_account_name_valid(out->account))
		return CF_EFORMAT;
	return 0;
}

static int
parse_kind(const struct segs *s, struct cfd_route *out)
{
	char kind[16];

	if (seg_copy(kind, sizeof(kind) - 1, s->p[2], s->n[2]) != 0 ||
	    cf_obj_kind_parse(kind, &out->kind) != 0)
		return CF_ENOENT;
	return 0;
}

/* /v1/ACCOUNT/... */
static int
parse_v1(const struct segs *s, struct cfd_route *out)
{
	int rc;

	if (s->count < 3 || !seg_is(s->p[0], s->n[0], "v1"))
		return CF_ENOENT;
	if ((rc = parse_account(s, out)) != 0)
		return rc;
	if (s->count == 3 && seg_is(s->p[2], s->n[2], "enroll")) {
		out->type = CFD_ROUTE_ENROLL;
		return 0;
	}
	if (s->count > 4 || parse_kind(s, out) != 0)
		return CF_ENOENT;
	if (s->count == 3 || s->n[3] == 0) {
		out->type = CFD_ROUTE_LIST;
		return 0;
	}
	out->type = CFD_ROUTE_OBJECT;
	if (seg_copy(out->name, CF_OBJ_NAME_MAX, s->p[3], s->n[3]) != 0 ||
	    cfd_obj_name_check(out->kind, out->name) != 0)
		return CF_EFORMAT;
	return 0;
}

/* One "key=value" of a listing query. */
static int
list_param(const uint8_t *p, size_t n, struct cfd_route *out, unsigned *seen)
{
	struct cf_reader r;
	const uint8_t *k = NULL;
	const uint8_t *v = NULL;
	size_t klen = 0;
	uint64_t limit = 0;

	cf_reader_init(&r, p, n);
	klen = cfd_span(&r, '=');
	if (cf_reader_view(&r, klen, &k) != 0 || cf_reader_skip(&r, 1) != 0 ||
	    cf_reader_view(&r, r.left, &v) != 0)
		return CF_EFORMAT;
	if (seg_is(k, klen, "after") && (*seen & 1u) == 0) {
		*seen |= 1u;
		if (n - klen - 1 == 0)
			return 0;
		if (seg_copy(out->after, CF_OBJ_NAME_MAX, v, n - klen - 1) != 0 ||
		    cf_obj_name_valid(out->after) != 0)
			return CF_EFORMAT;
		return 0;
	}
	if (seg_is(k, klen, "deleted") && (*seen & 4u) == 0) {
		*seen |= 4u;
		if (n - klen - 1 != 1 || v[0] != '1')
			return CF_EFORMAT;
		out->deleted = true;
		return 0;
	}
	if (seg_is(k, klen, "limit") && (*seen & 2u) == 0) {
		*seen |= 2u;
		if (cfd_parse_decimal((const char *)v, n - klen - 1, CFD_LIST_MAX, &limit) != 0 ||
		    limit == 0)
			return CF_EFORMAT;
		out->limit = (uint32_t)limit;
		return 0;
	}
	return CF_EFORMAT;
}

static int
parse_list_query(const char *q, size_t len, struct cfd_route *out)
{
	struct cf_reader r;
	const uint8_t *p = NULL;
	unsigned seen = 0;

	out->limit = CFD_LIST_MAX;
	cf_reader_init(&r, (const uint8_t *)q, len);
	while (r.left > 0) {
		size_t n = cfd_span(&r, '&');
		int rc;

		if (cf_reader_view(&r, n, &p) != 0)
			return CF_EINTERNAL;
		if ((rc = list_param(p, n, out, &seen)) != 0)
			return rc;
		if (r.left > 0 && (cf_reader_skip(&r, 1) != 0 || r.left == 0))
			return CF_EFORMAT;
	}
	return 0;
}

static int
parse_query(const char *q, size_t len, struct cfd_route *out)
{
	if (out->type == CFD_ROUTE_LIST)
		return parse_list_query(q, len, out);
	if (len == 0)
		return 0;
	if (out->type == CFD_ROUTE_OBJECT && seg_is((const uint8_t *)q, len, "undelete")) {
		out->undelete = true;
		return 0;
	}
	return CF_EFORMAT;
}

int
cfd_route_parse(const char *path, size_t path_len, const char *query, size_t query_len,
                struct cfd_route *out)
{
	struct segs s;
	int rc;

	memset(out, 0, sizeof(*out));
	if (path_len > CFD_PATH_MAX || query_len > CFD_QUERY_MAX)
		return CF_EFORMAT;
	if ((rc = split_path(path, path_len, &s)) != 0)
		return rc;
	if (s.count == 1 && seg_is(s.p[0], s.n[0], "healthz"))
		out->type = CFD_ROUTE_HEALTHZ;
	else if (s.count == 1 && seg_is(s.p[0], s.n[0], "metrics"))
		out->type = CFD_ROUTE_METRICS;
	else if ((rc = parse_v1(&s, out)) != 0)
		return rc;
	return parse_query(query, query_len, out);
}

/* "A-B", "A-" or "-N" after "bytes=". */
static int
range_numbers(const uint8_t *p, size_t n, bool *has_a, uint64_t *a, bool *has_b, uint64_t *b)
{
	struct cf_reader r;
	const uint8_t *x = NULL;
	size_t alen = 0;

	cf_reader_init(&r, p, n);
	alen = cfd_span(&r, '-');
	if (alen == n || cf_reader_view(&r, alen, &x) != 0 || cf_reader_skip(&r, 1) != 0)
		return CF_EFORMAT;
	*has_a = alen > 0;
	*has_b = r.left > 0;
	if (!*has_a && !*has_b)
		return CF_EFORMAT;
	if (*has_a && cfd_parse_decimal((const char *)x, alen, UINT64_MAX, a) != 0)
		return CF_EFORMAT;
	if (*has_b && (cf_reader_view(&r, r.left, &x) != 0 ||
	               cfd_parse_decimal((const char *)x, n - alen - 1, UINT64_MAX, b) != 0))
		return CF_EFORMAT;
	return 0;
}

int
cfd_range_parse(const char *v, size_t len, uint64_t size, uint64_t *off, uint64_t *n)
{
	static const char unit[] = "bytes=";
	bool has_a = false;
	bool has_b = false;
	uint64_t a = 0;
	uint64_t b = 0;
	int rc;

	if (len > CFD_RANGE_HEADER_MAX || len < sizeof(unit) ||
	    memcmp(v, unit, sizeof(unit) - 1) != 0)
		return CF_EFORMAT;
	if ((rc = range_numbers((const uint8_t *)v + sizeof(unit) - 1, len - (sizeof(unit) - 1),
	                        &has_a, &a, &has_b, &b)) != 0)
		return rc;
	if (!has_a) { /* the last b bytes */
		if (b == 0 || size == 0)
			return CF_ETRUNC;
		*n = b < size ? b : size;
		*off = size - *n;
		return 0;
	}
	if (has_b && b < a)
		return CF_EFORMAT;
	if (a >= size)
		return CF_ETRUNC;
	if (!has_b || b >= size)
		b = size - 1;
	*off = a;
	*n = b - a + 1;
	return 0;
}
