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

/* The id a snapshot's name gives; false when it is not 64 hex digits. */
static bool
name_id(const char *name, uint8_t id[static CF_ID_BYTES])
{
	return cf_unhex(id, CF_ID_BYTES, name, strlen(name)) == 0;
}

/* A snapshot named in a trusted forget record is gone, even while its object remains. */
bool
cf_repo_forgotten_name(const struct cf_repo *r, const char *name)
{
	uint8_t id[CF_ID_BYTES];

	return name_id(name, id) && cf_repo_is_forgotten(r, id);
}

/* Was @msg noted already? (A name that is not an id has no place in bad_snaps.) */
static bool
noted_msg(const struct cf_repo *r, const char *msg)
{
	for (size_t i = 0; i < r->nbad; i++)
		if (strcmp(r->bad_msgs[i], msg) == 0)
			return true;
	return false;
}

int
cf_repo_note_bad_snapshot(struct cf_repo *r, const char *name, const char *msg)
{
	uint8_t id[CF_ID_BYTES];
	bool is_id = name_id(name, id);
	char *m = NULL;
	char **nv = NULL;
	size_t sz = 0;
	int rc;

	if (is_id ? cf_repo_is_bad_snapshot(r, name) : noted_msg(r, msg))
		return 0;
	if (r->bad_snaps == NULL && (rc = cf_index_new(&r->bad_snaps)) != 0)
		return rc;
	if (cf_size_mul(r->nbad + 1, sizeof(*nv), &sz) != 0 ||
	    (nv = cf_realloc(r->bad_msgs, sz)) == NULL)
		return CF_ENOMEM;
	r->bad_msgs = nv;
	if ((m = cf_strdup(msg)) == NULL)
		return CF_ENOMEM;
	if (is_id && (rc = cf_index_add_id(r->bad_snaps, id)) != 0) {
		cf_free(m);
		return rc;
	}
	r->bad_msgs[r->nbad++] = m;
	return 0;
}

bool
cf_repo_is_bad_id(const struct cf_repo *r, const uint8_t id[static CF_ID_BYTES])
{
	return r->bad_snaps != NULL && cf_index_has(r->bad_snaps, id);
}

bool
cf_repo_is_bad_snapshot(const struct cf_repo *r, const char *name)
{
	uint8_t id[CF_ID_BYTES];

	return name_id(name, id) && cf_repo_is_bad_id(r, id);
}

void
cf_repo_clear_bad(struct cf_repo *r)
{
	for (size_t i = 0; i < r->nbad; i++)
		cf_free(r->bad_msgs[i]);
	cf_free(r->bad_msgs);
	cf_index_free(r->bad_snaps);
	r->bad_msgs = NULL;
	r->bad_snaps = NULL;
	r->nbad = 0;
}

const char *
cf_snapshots_damaged_view(const struct cf_repo *r, size_t i)
{
	return i < r->nbad ? r->bad_msgs[i] : NULL;
}

static int
collect(void *arg, const char *name, uint64_t size)
{
	struct snap_list *l = arg;
	struct cf_snapshot *s = NULL;
	int rc;

	(void)size;
	if (cf_repo_forgotten_name(l->r, name) || cf_repo_is_bad_snapshot(l->r, name))
		return 0;
	rc = cf_repo_open_snapshot(l->r, name, &s);
	if (rc == CF_ENOENT && (rc = cf_repo_reload_records(l->r)) == 0) {
		if (cf_repo_forgotten_name(l->r, name))
			return 0; /* forgotten by another device since it was verified */
		return cf_err_set(CF_EINTEGRITY, "snapshot %.16s was verified but is gone now",
		                  name);
	}
	if (rc == CF_EINTEGRITY) { /* left out, named; the others still list (P10) */
		rc = cf_repo_note_bad_snapshot(l->r, name, cf_err_last());
		cf_err_clear();
		return rc;
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
	/* what the sequences verified, not a second listing the storage side could trim */
	for (size_t i = 0; i < r->nheads && rc == 0; i++) {
		char name[2 * CF_ID_BYTES + 1];

		cf_id_name(name, r->heads[i]);
		rc = collect(&l, name, 0);
	}
	if (rc != 0) {
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

struct prefix_arg {
	const char *ref;
};

static int
stop_at_prefix(void *arg, const uint8_t id[static CF_ID_BYTES])
{
	const struct prefix_arg *a = arg;

	return id_has_prefix(id, a->ref) ? 1 : 0;
}

/* Is @ref the prefix of a snapshot left out as bad? */
static bool
bad_with_prefix(const struct cf_repo *r, const char *ref)
{
	struct prefix_arg a = {ref};

	return r->bad_snaps != NULL && cf_index_each_id(r->bad_snaps, stop_at_prefix, &a) == 1;
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
		return cf_err_set(CF_EUSAGE,
		                  "invalid snapshot '%s': give 'latest', a full id or "
		                  "at least 8 hex digits",
		                  ref);
	if ((rc = cf_snapshots_list(r, NULL, &v, &n)) != 0)
		return rc;
	if (strcmp(ref, "latest") == 0 && r->nbad > 0) {
		/* its time cannot be read: it may be newer than any listed (a rollback) */
		rc = cf_err_set(CF_EINTEGRITY, "cannot tell which snapshot is the latest: %s",
		                r->bad_msgs[0]);
		goto out;
	}
	if (strcmp(ref, "latest") == 0) {
		hit = n > 0 ? n - 1 : SIZE_MAX;
	} else {
		for (size_t i = 0; i < n; i++) {
			if (!id_has_prefix(v[i]->id, ref))
				continue;
			if (hit != SIZE_MAX) {
				rc = cf_err_set(CF_EUSAGE, "snapshot prefix '%s' is ambiguous",
				                ref);
				goto out;
			}
			hit = i;
		}
	}
	if (hit == SIZE_MAX && strcmp(ref, "latest") != 0 && bad_with_prefix(r, ref)) {
		rc = cf_err_set(CF_EINTEGRITY,
		                "snapshot '%s' is damaged or forged: it cannot be read", ref);
		goto out;
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
