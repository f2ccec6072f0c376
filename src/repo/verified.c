/*
 * verified.c - the rolling data check (docs/format.md 16.5). `check --read-data-subset P`
 * reads the least recently verified P% of the packs; COFFER_CACHE/<fingerprint>/verified
 * remembers "<pack id hex> <unix time>" per pack. The file is a cache: whatever is wrong
 * with it (missing, too big, a malformed line) only makes packs look never verified, so they
 * are read sooner; it never stops a check.
 */
#include "verified.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* "<64 hex> <up to 20 digits>\n" */
#define LINE_MAX_BYTES (2 * CF_ID_BYTES + 1 + 20 + 1)
/* P is kept in millionths of a percent; 10^8 of them are the whole. */
#define MICRO_WHOLE 100000000u
/* Fraction digits kept exactly (10^6 per percent). */
#define MICRO_DIGITS 6

static int
bad_percent(const char *s)
{
	return cf_err_set(CF_EINVAL,
	                  "invalid read-data-subset '%.40s': want a percentage above 0 and at "
	                  "most 100",
	                  s);
}

int
cf_subset_parse(const char *s, uint32_t *micro)
{
	uint64_t whole = 0;
	uint64_t frac = 0; /* millionths of a percent */
	uint64_t scale = 100000;
	size_t i = 0;
	bool rest = false; /* a non-zero digit past the sixth decimal */

	*micro = 0;
	for (; s[i] >= '0' && s[i] <= '9'; i++)
		if ((whole = whole * 10 + (uint64_t)(s[i] - '0')) > 100)
			return bad_percent(s);
	if (i == 0)
		return bad_percent(s);
	if (s[i] == '.') {
		size_t start = ++i;

		for (; s[i] >= '0' && s[i] <= '9'; i++, scale /= 10) {
			if (scale > 0)
				frac += (uint64_t)(s[i] - '0') * scale;
			else if (s[i] != '0')
				rest = true;
		}
		if (i == start)
			return bad_percent(s);
	}
	if (s[i] == '%')
		i++;
	if (s[i] != '\0')
		return bad_percent(s);
	/* rounding up can only make the check read one pack more, never one less */
	whole = whole * 1000000 + frac + (rest ? 1 : 0);
	if (whole == 0 || whole > CF_SUBSET_MAX_MICRO)
		return bad_percent(s);
	*micro = (uint32_t)whole;
	return 0;
}

size_t
cf_subset_count(uint32_t micro, size_t n)
{
	/* n = q * 10^8 + rem, so rem * micro < 10^16 cannot overflow */
	uint64_t q = (uint64_t)n / MICRO_WHOLE;
	uint64_t rem = (uint64_t)n % MICRO_WHOLE;

	return (size_t)(q * micro + (rem * micro + MICRO_WHOLE - 1) / MICRO_WHOLE);
}

static int
by_id(const void *a, const void *b)
{
	return memcmp(((const struct cf_vpack *)a)->id, ((const struct cf_vpack *)b)->id,
	              CF_ID_BYTES);
}

/* Never verified first, then the oldest verification; equal times in random order. */
static int
by_age(const void *a, const void *b)
{
	const struct cf_vpack *x = a;
	const struct cf_vpack *y = b;

	if (x->known != y->known)
		return x->known ? 1 : -1;
	if (x->known && x->when != y->when)
		return x->when < y->when ? -1 : 1;
	return x->tie < y->tie ? -1 : x->tie > y->tie;
}

static int
add_pack(void *arg, const char *name, uint64_t size)
{
	struct cf_verified *vs = arg;
	struct cf_vpack *p = NULL;
	size_t bytes = 0;

	if (vs->n == vs->cap) {
		size_t cap = vs->cap == 0 ? 64 : vs->cap * 2;

		if (cf_size_mul(cap, sizeof(*p), &bytes) != 0 ||
		    (p = cf_realloc(vs->v, bytes)) == NULL)
			return CF_ENOMEM;
		vs->v = p;
		vs->cap = cap;
	}
	p = &vs->v[vs->n];
	memset(p, 0, sizeof(*p));
	/* the checks ignore objects whose name is not an id, and so does the rotation */
	if (strlen(name) != 2 * CF_ID_BYTES ||
	    cf_unhex(p->id, CF_ID_BYTES, name, strlen(name)) != 0)
		return 0;
	memcpy(p->name, name, sizeof(p->name));
	p->size = size;
	cf_random(&p->tie, sizeof(p->tie));
	vs->n++;
	return 0;
}

int
cf_verified_list(struct cf_repo *r, struct cf_verified *vs)
{
	int rc;

	if ((rc = cf_store_list(r->store, CF_OBJ_PACK, add_pack, vs)) != 0)
		return rc;
	if (vs->n > 0)
		qsort(vs->v, vs->n, sizeof(vs->v[0]), by_id);
	return 0;
}

/* COFFER_CACHE/<fingerprint hex>/verified; the directory is created when @mk. */
static int
state_path(const struct cf_repo *r, bool mk, char **out)
{
	char fp[2 * CF_HASH_BYTES + 1];
	size_t n = strlen(r->cache) + sizeof(fp) + sizeof("/verified") + 1;
	char *p = cf_malloc(n);
	int rc;

	*out = NULL;
	if (p == NULL)
		return CF_ENOMEM;
	cf_hex(fp, r->chain->fingerprint, CF_HASH_BYTES);
	(void)snprintf(p, n, "%s/%s", r->cache, fp);
	if (mk && (rc = cf_mkdir_p(p, 0700)) != 0) {
		cf_free(p);
		return rc;
	}
	(void)snprintf(p, n, "%s/%s/verified", r->cache, fp);
	*out = p;
	return 0;
}

/* Apply one line "<pack id hex> <unix time>" (without its newline); anything else is ignored. */
static void
apply_line(struct cf_verified *vs, const char *line, size_t len, uint64_t now)
{
	char text[LINE_MAX_BYTES];
	struct cf_vpack key;
	struct cf_vpack *p = NULL;
	uint64_t when = 0;

	if (len < 2 * CF_ID_BYTES + 2 || len >= sizeof(text) || line[2 * CF_ID_BYTES] != ' ')
		return;
	memset(&key, 0, sizeof(key));
	memcpy(text, line, len);
	text[len] = '\0';
	if (strlen(text) != len || cf_unhex(key.id, CF_ID_BYTES, text, 2 * CF_ID_BYTES) != 0 ||
	    cf_parse_u64(text + 2 * CF_ID_BYTES + 1, 0, UINT64_MAX, &when) != 0)
		return;
	if ((p = bsearch(&key, vs->v, vs->n, sizeof(vs->v[0]), by_id)) == NULL)
		return; /* a pack no longer present: dropped at the next save */
	/* a time in the future (a clock set back) must not hide a pack from the rotation */
	when = when > now ? now : when;
	if (!p->known || when > p->when) {
		p->known = true;
		p->when = when;
	}
}

void
cf_verified_load(struct cf_repo *r, struct cf_verified *vs)
{
	uint64_t now = (uint64_t)time(NULL);
	char *path = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	size_t max = 0;

	/* room for twice the present packs, so a file written before a big prune still loads */
	if (vs->n == 0 || cf_size_mul(vs->n + 1024, 2 * LINE_MAX_BYTES, &max) != 0)
		max = vs->n == 0 ? 0 : SIZE_MAX;
	if (vs->n > 0 && state_path(r, false, &path) == 0 &&
	    cf_read_file(path, max, &buf, &len) == 0) {
		for (size_t i = 0; i < len;) {
			const uint8_t *nl = memchr(buf + i, '\n', len - i);
			size_t end = nl != NULL ? (size_t)(nl - buf) : len;

			apply_line(vs, (const char *)buf + i, end - i, now);
			i = end + 1;
		}
	}
	cf_err_clear();
	cf_free(buf);
	cf_free(path);
	if (vs->n > 0)
		qsort(vs->v, vs->n, sizeof(vs->v[0]), by_age);
}

int
cf_verified_save(struct cf_repo *r, const struct cf_verified *vs)
{
	char *path = NULL;
	char *text = NULL;
	size_t cap = 0;
	size_t len = 0;
	int rc;

	if (cf_size_mul(vs->n, LINE_MAX_BYTES, &cap) != 0 || (text = cf_malloc(cap + 1)) == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; i < vs->n; i++) {
		int w;

		if (!vs->v[i].known)
			continue;
		w = snprintf(text + len, cap + 1 - len, "%s %llu\n", vs->v[i].name,
		             (unsigned long long)vs->v[i].when);
		if (w < 0 || (size_t)w > cap - len) {
			rc = cf_err_set(CF_EINTERNAL, "verified-packs line too long");
			goto out;
		}
		len += (size_t)w;
	}
	if ((rc = state_path(r, true, &path)) != 0)
		goto out;
	rc = cf_write_file_atomic(path, (const uint8_t *)text, len, 0600);
out:
	cf_free(text);
	cf_free(path);
	return rc;
}

void
cf_verified_release(struct cf_verified *vs)
{
	cf_free(vs->v);
	memset(vs, 0, sizeof(*vs));
}
