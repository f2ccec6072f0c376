/*
 * snapshots.c - listing, filtering and resolving snapshots.
 */
#include <stdlib.h>
#include <string.h>

#include "repo.h"

struct snap_list {
	struct cf_repo *r;
	struct cf_snapshot **v;
	size_t n;
	size_t cap;
};

/* A snapshot named in a trusted forget record is gone, even while its object remains. */
bool
cf_repo_forgotten_name(const struct cf_repo *r, const char *name)
{
	uint8_t id[CF_ID_BYTES];

	return cf_unhex(id, sizeof(id), name, strlen(name)) == 0 && cf_repo_is_forgotten(r, id);
}

static int
collect(void *arg, const char *name, uint64_t size)
{
	struct snap_list *l = arg;
	struct cf_snapshot *s = NULL;
	int rc;

	(void)size;
	if (cf_repo_forgotten_name(l->r, name))
		return 0;
	if ((rc = cf_repo_open_snapshot(l->r, name, &s)) == CF_ENOENT) {
		cf_err_clear(); /* forgotten and deleted since the listing began */
		return 0;
	}
	if (rc != 0)
		return rc;
	if (l->n == l->cap) {
		size_t ncap = l->cap == 0 ? 32 : l->cap * 2;
		struct cf_snapshot **nv = cf_realloc(l->v, ncap * sizeof(*nv));

		if (nv == NULL) {
			cf_snapshot_free(s);
			return CF_ENOMEM;
		}
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = s;
	return 0;
}

static int
by_time(const void *a, const void *b)
{
	const struct cf_snapshot *x = *(struct cf_snapshot *const *)a;
	const struct cf_snapshot *y = *(struct cf_snapshot *const *)b;

	if (x->time_s != y->time_s)
		return x->time_s < y->time_s ? -1 : 1;
	if (x->time_ns != y->time_ns)
		return x->time_ns < y->time_ns ? -1 : 1;
	return memcmp(x->id, y->id, CF_ID_BYTES);
}

static bool
has_tag(const struct cf_snapshot *s, const char *tag)
{
	for (size_t i = 0; i < s->ntags; i++)
		if (strcmp(s->tags[i], tag) == 0)
			return true;
	return false;
}

static bool
has_path(const struct cf_snapshot *s, const char *path)
{
	for (size_t i = 0; i < s->npaths; i++)
		if (strcmp(s->paths[i], path) == 0)
			return true;
	return false;
}

/* A snapshot matches when it has the host, every tag and every path asked for. */
static bool
matches(const struct cf_snapshot *s, const struct cf_opts *o)
{
	const char *host = o != NULL ? cf_opts_get(o, "host") : NULL;
	const char *v = NULL;

	if (host != NULL && strcmp(host, s->host) != 0)
		return false;
	for (size_t i = 0; o != NULL && (v = cf_opts_nth(o, "tag", i)) != NULL; i++)
		if (!has_tag(s, v))
			return false;
	for (size_t i = 0; o != NULL && (v = cf_opts_nth(o, "path", i)) != NULL; i++)
		if (!has_path(s, v))
			return false;
	return true;
}

int
cf_snapshots_list(struct cf_repo *r, const struct cf_opts *o, struct cf_snapshot ***out, size_t *n)
{
	struct snap_list l;
	size_t keep = 0;
	int rc;

	*out = NULL;
	*n = 0;
	memset(&l, 0, sizeof(l));
	l.r = r;
	if ((rc = cf_repo_can_read(r)) != 0 ||
	    (!r->seqs_verified && (rc = cf_repo_verify_seqs(r, NULL)) != 0))
		return rc;
	if ((rc = cf_store_list(r->store, CF_OBJ_SNAPSHOT, collect, &l)) != 0) {
		cf_snapshots_free(l.v, l.n);
		return rc;
	}
	for (size_t i = 0; i < l.n; i++) {
		if (matches(l.v[i], o))
			l.v[keep++] = l.v[i];
		else
			cf_snapshot_free(l.v[i]);
	}
	if (keep > 1)
		qsort(l.v, keep, sizeof(*l.v), by_time);
	*out = l.v;
	*n = keep;
	return 0;
}

void
cf_snapshots_free(struct cf_snapshot **list, size_t n)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		cf_snapshot_free(list[i]);
	cf_free(list);
}

/* Is @ref a plausible id prefix: 8..64 lowercase or uppercase hex digits? */
static bool
valid_prefix(const char *ref)
{
	size_t n = strlen(ref);

	if (n < 8 || n > 2 * CF_ID_BYTES)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strchr("0123456789abcdefABCDEF", ref[i]) == NULL)
			return false;
	return true;
}

static bool
id_has_prefix(const uint8_t id[static CF_ID_BYTES], const char *ref)
{
	char hex[2 * CF_ID_BYTES + 1];
	size_t n = strlen(ref);

	cf_hex(hex, id, CF_ID_BYTES);
	for (size_t i = 0; i < n; i++)
		if ((ref[i] | 0x20) != hex[i])
			return false;
	return true;
}

int
cf_snapshot_find(struct cf_repo *r, const char *ref, struct cf_snapshot **out)
{
	struct cf_snapshot **v = NULL;
	size_t n = 0;
	size_t hit = SIZE_MAX;
	int rc;

	*out = NULL;
	if (strcmp(ref, "latest") != 0 && !valid_prefix(ref))
		return cf_err_set(CF_EINVAL,
		                  "invalid snapshot '%s': give 'latest', a full id or "
		                  "at least 8 hex digits",
		                  ref);
	if ((rc = cf_snapshots_list(r, NULL, &v, &n)) != 0)
		return rc;
	if (strcmp(ref, "latest") == 0) {
		hit = n > 0 ? n - 1 : SIZE_MAX;
	} else {
		for (size_t i = 0; i < n; i++) {
			if (!id_has_prefix(v[i]->id, ref))
				continue;
			if (hit != SIZE_MAX) {
				rc = cf_err_set(CF_EINVAL, "snapshot prefix '%s' is ambiguous",
				                ref);
				goto out;
			}
			hit = i;
		}
	}
	if (hit == SIZE_MAX) {
		rc = cf_err_set(CF_ENOENT, "no snapshot '%s' in this repository", ref);
		goto out;
	}
	*out = v[hit];
	v[hit] = NULL;
out:
	for (size_t i = 0; i < n; i++)
		cf_snapshot_free(v[i]);
	cf_free(v);
	return rc;
}
