/*
 * forget.c - coffer forget (docs/format.md 16.1, 16.2): decide which snapshots a policy
 * keeps, write one signed forget record naming the others, then delete their objects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../device/device.h"
#include "../retention/policy.h"
#include "../retention/records.h"
#include "repo.h"

struct cf_forget_plan {
	struct cf_snapshot **snaps; /* oldest first */
	size_t n;
	struct cf_policy_item *items;
	struct cf_keep_policy policy;
	const char **tags; /* --keep-tag values, borrowed from the options */
	bool by_id;        /* snapshots named on the command line */
};

static int
opt_count(const struct cf_opts *o, const char *key, uint32_t *out)
{
	const char *v = cf_opts_get(o, key);
	uint64_t n = 0;

	*out = 0;
	if (v == NULL)
		return 0;
	if (cf_parse_u64(v, 1, UINT32_MAX, &n) != 0)
		return cf_err_set(CF_EINVAL, "--%s: '%s' is not a count of at least 1", key, v);
	*out = (uint32_t)n;
	return 0;
}

static int
read_policy(const struct cf_opts *o, struct cf_forget_plan *p)
{
	static const char *const keys[CF_NPERIODS] = {"keep-hourly", "keep-daily", "keep-weekly",
	                                              "keep-monthly", "keep-yearly"};
	const char *v = cf_opts_get(o, "keep-within");
	size_t ntags = 0;
	int rc;

	if ((rc = opt_count(o, "keep-last", &p->policy.last)) != 0)
		return rc;
	for (int k = 0; k < CF_NPERIODS; k++)
		if ((rc = opt_count(o, keys[k], &p->policy.periods[k])) != 0)
			return rc;
	if (v != NULL && cf_parse_duration(v, &p->policy.within_s) != 0)
		return cf_err_set(CF_EINVAL,
		                  "--keep-within: '%s' is not a duration like 7d, 2w or 1y6m", v);
	while (cf_opts_nth(o, "keep-tag", ntags) != NULL)
		ntags++;
	if (ntags > 0 && (p->tags = cf_calloc(ntags, sizeof(*p->tags))) == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; i < ntags; i++)
		p->tags[i] = cf_opts_nth(o, "keep-tag", i);
	p->policy.tags = p->tags;
	p->policy.ntags = ntags;
	return 0;
}

/*
 * Snapshots group by writing device, host and path set (docs/format.md 16.2): one device's
 * snapshots, forged or not, never take the place of another device's.
 */
static int
group_cmp(const struct cf_snapshot *a, const struct cf_snapshot *b)
{
	int c = memcmp(a->head.device, b->head.device, CF_ID_BYTES);

	if (c == 0)
		c = strcmp(a->host, b->host);
	if (c == 0 && a->npaths != b->npaths)
		c = a->npaths < b->npaths ? -1 : 1;
	for (size_t i = 0; c == 0 && i < a->npaths; i++)
		c = strcmp(a->paths[i], b->paths[i]);
	return c;
}

struct member {
	const struct cf_snapshot *s;
	size_t i; /* its place in the plan (oldest first) */
};

static int
by_group(const void *x, const void *y)
{
	const struct member *a = x;
	const struct member *b = y;
	int c = group_cmp(a->s, b->s);

	return c != 0 ? c : (a->i < b->i ? -1 : a->i > b->i);
}

/* Number each group by the place of its first (oldest) snapshot. */
static int
assign_groups(struct cf_forget_plan *p)
{
	struct member *v = cf_calloc(p->n, sizeof(*v));

	if (v == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; i < p->n; i++)
		v[i] = (struct member){p->snaps[i], i};
	qsort(v, p->n, sizeof(*v), by_group);
	for (size_t i = 0, g = 0; i < p->n; i++) {
		if (i == 0 || group_cmp(v[i - 1].s, v[i].s) != 0)
			g = v[i].i;
		p->items[v[i].i].group = g;
	}
	cf_free(v);
	return 0;
}

static int
decide_by_policy(struct cf_forget_plan *p)
{
	int rc;

	for (size_t i = 0; i < p->n; i++) {
		struct cf_policy_item *it = &p->items[i];

		it->time_s = p->snaps[i]->time_s;
		it->time_ns = p->snaps[i]->time_ns;
		it->tags = (const char *const *)p->snaps[i]->tags;
		it->ntags = p->snaps[i]->ntags;
	}
	if (p->n > 0 && (rc = assign_groups(p)) != 0)
		return rc;
	return cf_policy_apply(&p->policy, p->items, p->n, (int64_t)time(NULL));
}

/* Snapshots named by id: exactly those go; every other listed one is kept. */
static int
decide_by_ids(struct cf_repo *r, struct cf_forget_plan *p, const char *const *ids, size_t nids)
{
	for (size_t i = 0; i < p->n; i++)
		p->items[i].why = CF_KEEP_LAST; /* not named: untouched */
	for (size_t k = 0; k < nids; k++) {
		struct cf_snapshot *s = NULL;
		int rc;

		if ((rc = cf_snapshot_find(r, ids[k], &s)) != 0)
			return rc;
		for (size_t i = 0; i < p->n; i++)
			if (memcmp(p->snaps[i]->id, s->id, CF_ID_BYTES) == 0)
				p->items[i].why = 0;
		cf_snapshot_free(s);
	}
	return 0;
}

int
cf_forget_plan(struct cf_repo *r, const struct cf_opts *o, const char *const *ids, size_t nids,
               struct cf_forget_plan **out)
{
	struct cf_forget_plan *p = NULL;
	int rc;

	*out = NULL;
	if (r->role != CF_ROLE_FULL)
		return cf_err_set(CF_EPERM, "only a full device can forget snapshots");
	if ((p = cf_calloc(1, sizeof(*p))) == NULL)
		return CF_ENOMEM;
	if ((rc = read_policy(o, p)) != 0)
		goto fail;
	if (nids > 0 && !cf_policy_empty(&p->policy)) {
		rc = cf_err_set(CF_EINVAL, "give snapshot ids or a --keep policy, not both");
		goto fail;
	}
	if (nids == 0 && cf_policy_empty(&p->policy)) {
		rc = cf_err_set(CF_EINVAL,
		                "nothing to decide: give a --keep policy or snapshot ids");
		goto fail;
	}
	p->by_id = nids > 0;
	if ((rc = cf_snapshots_list(r, nids > 0 ? NULL : o, &p->snaps, &p->n)) != 0)
		goto fail;
	if (p->n > 0 && (p->items = cf_calloc(p->n, sizeof(*p->items))) == NULL) {
		rc = CF_ENOMEM;
		goto fail;
	}
	rc = nids > 0 ? decide_by_ids(r, p, ids, nids) : decide_by_policy(p);
	if (rc != 0)
		goto fail;
	*out = p;
	return 0;
fail:
	cf_forget_plan_free(p);
	return rc;
}

void
cf_forget_plan_free(struct cf_forget_plan *p)
{
	if (p == NULL)
		return;
	cf_snapshots_free(p->snaps, p->n);
	cf_free(p->items);
	cf_free(p->tags);
	cf_free(p);
}

size_t
cf_forget_plan_count(const struct cf_forget_plan *p)
{
	return p->n;
}

const struct cf_snapshot *
cf_forget_plan_snapshot(const struct cf_forget_plan *p, size_t i)
{
	return i < p->n ? p->snaps[i] : NULL;
}

bool
cf_forget_plan_keep(const struct cf_forget_plan *p, size_t i)
{
	return i < p->n && p->items[i].why != 0;
}

size_t
cf_forget_plan_group(const struct cf_forget_plan *p, size_t i)
{
	return i < p->n ? p->items[i].group : 0;
}

void
cf_forget_plan_reasons(const struct cf_forget_plan *p, size_t i, char *out, size_t cap)
{
	if (cap == 0)
		return;
	out[0] = '\0';
	if (i >= p->n)
		return;
	if (p->by_id)
		(void)snprintf(out, cap, "%s", p->items[i].why != 0 ? "not named" : "named");
	else
		cf_keep_why_text(p->items[i].why, &p->policy, &p->items[i], out, cap);
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct cf_forget_entry *x = a;
	const struct cf_forget_entry *y = b;
	int c = memcmp(x->device, y->device, CF_ID_BYTES);

	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq ? 1 : 0;
}

int
cf_forget_write(struct cf_repo *r, struct cf_forget_entry *e, size_t n,
                const uint8_t (*sup)[CF_ID_BYTES], size_t nsup)
{
	uint8_t id[CF_ID_BYTES];
	char name[2 * CF_ID_BYTES + 1];
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	qsort(e, n, sizeof(*e), entry_cmp);
	if ((rc = cf_forget_record_seal(r->chain->repo_id, r->dev, (int64_t)time(NULL), e, n, sup,
	                                nsup, &obj, &len)) != 0)
		return rc == CF_EINVAL ? cf_err_set(CF_EINVAL, "a snapshot is named twice") : rc;
	cf_hash(id, obj, len);
	cf_id_name(name, id);
	rc = cf_store_put(r->store, CF_OBJ_FORGET, name, obj, len);
	cf_free(obj);
	return rc == CF_EEXIST ? 0 : rc;
}

/* Delete every snapshot object a trusted forget record names (also after a crash). */
static int
delete_one_forgotten(void *arg, const char *name, uint64_t size)
{
	struct cf_repo *r = arg;
	int rc;

	(void)size;
	if (!cf_repo_forgotten_name(r, name))
		return 0;
	rc = cf_store_delete(r->store, CF_OBJ_SNAPSHOT, name);
	if (rc == CF_ENOENT) {
		cf_err_clear();
		return 0;
	}
	return rc;
}

int
cf_repo_delete_forgotten(struct cf_repo *r)
{
	int rc;

	if ((rc = cf_repo_load_records(r)) != 0)
		return rc;
	return cf_store_list(r->store, CF_OBJ_SNAPSHOT, delete_one_forgotten, r);
}

int
cf_forget_apply(struct cf_repo *r, const struct cf_forget_plan *p, size_t *removed)
{
	struct cf_forget_entry *e = NULL;
	size_t n = 0;
	int rc = 0;

	*removed = 0;
	for (size_t i = 0; i < p->n; i++)
		n += p->items[i].why == 0;
	if (n == 0)
		return 0;
	if (n > CF_FORGET_MAX_ENTRIES)
		return cf_err_set(CF_ETOOBIG, "at most %u snapshots can be forgotten at once",
		                  CF_FORGET_MAX_ENTRIES);
	if ((e = cf_calloc(n, sizeof(*e))) == NULL)
		return CF_ENOMEM;
	n = 0;
	for (size_t i = 0; i < p->n; i++) {
		const struct cf_snapshot *s = p->snaps[i];

		if (p->items[i].why != 0)
			continue;
		memcpy(e[n].device, s->head.device, CF_ID_BYTES);
		e[n].seq = s->head.seq;
		memcpy(e[n].hash, s->id, CF_ID_BYTES);
		memcpy(e[n].prev, s->head.prev, CF_HASH_BYTES);
		n++;
	}
	/* the record first: a crash after it leaves snapshots every reader treats as gone */
	if ((rc = cf_forget_write(r, e, n, NULL, 0)) == 0 &&
	    (rc = cf_repo_reload_records(r)) == 0 && (rc = cf_repo_delete_forgotten(r)) == 0)
		*removed = n;
	cf_free(e);
	return rc;
}

bool
cf_repo_snapshot_present(struct cf_repo *r, const uint8_t id[static CF_ID_BYTES])
{
	char name[2 * CF_ID_BYTES + 1];
	uint64_t size = 0;

	cf_id_name(name, id);
	if (cf_store_size(r->store, CF_OBJ_SNAPSHOT, name, &size) == 0)
		return true;
	cf_err_clear();
	return false;
}

int
cf_forget_resign(struct cf_repo *r, const uint8_t device[static CF_ID_BYTES])
{
	struct cf_forget_entry *e = NULL;
	size_t n = 0;
	size_t w = 0;
	int rc;

	if ((rc = cf_repo_load_records(r)) != 0)
		return rc;
	for (size_t k = 0; k < r->rec->nforgets; k++)
		if (memcmp(r->rec->forgets[k].signer, device, CF_ID_BYTES) == 0)
			n += r->rec->forgets[k].count;
	if (n == 0)
		return 0;
	if ((e = cf_calloc(n, sizeof(*e))) == NULL)
		return CF_ENOMEM;
	for (size_t k = 0; k < r->rec->nforgets; k++) {
		const struct cf_forget_ref *f = &r->rec->forgets[k];

		if (memcmp(f->signer, device, CF_ID_BYTES) != 0)
			continue;
		/* vouch only for snapshots really gone, not for ones a record merely hides */
		for (size_t i = 0; i < f->count; i++)
			if (!cf_repo_snapshot_present(r, r->rec->forgot[f->first + i].hash))
				e[w++] = r->rec->forgot[f->first + i];
	}
	n = w;
	if (n == 0) {
		cf_free(e);
		return 0;
	}
	qsort(e, n, sizeof(*e), entry_cmp);
	w = 0;
	for (size_t i = 0; i < n; i++) /* one entry per snapshot */
		if (w == 0 || entry_cmp(&e[w - 1], &e[i]) != 0)
			e[w++] = e[i];
	rc = w > CF_FORGET_MAX_ENTRIES
	             ? cf_err_set(CF_ETOOBIG, "too many forgotten snapshots to re-sign")
	             : cf_forget_write(r, e, w, NULL, 0);
	cf_free(e);
	return rc;
}
