/*
 * index_db_build.c - reading index objects into sorted locations (docs/format.md 13): the
 * full rebuild of the file in passes of bounded memory, and the same index in memory when
 * the file cannot be used.
 */
#include <stdlib.h>
#include <string.h>

#include "../base/base.h"
#include "index.h"
#include "index_db_impl.h"

/* ---- reading index objects into locations ---- */

struct collect {
	const struct cf_ixdb_source *src;
	struct names *ns;
	unsigned shift; /* keep blob ids whose first byte >> shift is part (shift 8: all) */
	unsigned part;
	struct wr *w;         /* on disk: pack numbers and naming written here */
	struct cf_index *mem; /* else: pack numbers in memory */
	struct rec *v;
	size_t n;
	size_t cap;
	size_t reserve; /* the first allocation: what one part is expected to hold */
};

static int
push_rec(struct collect *c, uint32_t pack, const struct cf_pack_entry *e)
{
	if (c->n == c->cap) {
		/* sized once from the estimate: doubling would need twice the memory at the end */
		size_t ncap = c->cap == 0 ? c->reserve : c->cap + c->cap / 8 + 4096;
		struct rec *nv = NULL;
		size_t sz;

		if (cf_size_mul(ncap, sizeof(*nv), &sz) != 0 || (nv = cf_realloc(c->v, sz)) == NULL)
			return CF_ENOMEM;
		c->v = nv;
		c->cap = ncap;
	}
	memcpy(c->v[c->n].id, e->id, CF_ID_BYTES);
	cf_ixdb_encode_val(c->v[c->n].val, pack, e);
	c->n++;
	return 0;
}

/*
 * The number of pack @p of object @obj. On disk, the first pass also records that @obj
 * names it: every pack is numbered and named in the first pass, before any location uses it.
 */
static int
number_pack(struct collect *c, const uint8_t obj[static CF_ID_BYTES], const struct cf_index_pack *p,
            uint32_t *num)
{
	uint8_t named[NAMED_BYTES];
	int rc;

	if (c->w == NULL)
		return cf_index_intern(c->mem, p->id, num);
	if ((rc = cf_ixdb_intern(c->w, p->id, num)) != 0 || c->part != 0)
		return rc;
	cf_ixdb_naming(named, *num, p);
	return cf_ixdb_name_pack(c->w, obj, named, p);
}

static int
collect_pack(struct collect *c, const uint8_t obj[static CF_ID_BYTES],
             const struct cf_index_pack *p)
{
	uint32_t num = 0;
	int rc;

	if ((rc = number_pack(c, obj, p, &num)) != 0)
		return rc;
	for (size_t i = 0; i < p->count; i++) {
		if ((unsigned)(p->entries[i].id[0] >> c->shift) != c->part)
			continue;
		if ((rc = push_rec(c, num, &p->entries[i])) != 0)
			return rc;
	}
	return 0;
}

/* Read every listed object (not skipped) and keep its locations of this part. */
static int
collect_all(struct collect *c)
{
	char hex[2 * CF_ID_BYTES + 1];
	int rc = 0;

	c->n = 0;
	for (size_t i = 0; i < c->ns->n && rc == 0; i++) {
		struct name *nm = &c->ns->v[i];
		struct cf_index_pack *packs = NULL;
		size_t npacks = 0;

		if (nm->skip)
			continue;
		cf_hex(hex, nm->id, CF_ID_BYTES);
		rc = c->src->read(c->src->arg, hex, &packs, &npacks);
		if (rc == CF_ENOENT) {
			nm->skip = true;
			rc = 0;
			continue;
		}
		for (size_t k = 0; k < npacks && rc == 0; k++)
			rc = collect_pack(c, nm->id, &packs[k]);
		cf_index_packs_free(packs, npacks);
	}
	return rc;
}

static int
rec_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct rec));
}

/* Sort by blob id, then pack number and offset; drop exact duplicates. */
static void
sort_recs(struct collect *c)
{
	size_t k = 0;

	if (c->n > 1)
		qsort(c->v, c->n, sizeof(*c->v), rec_cmp);
	for (size_t i = 0; i < c->n; i++)
		if (k == 0 || memcmp(&c->v[k - 1], &c->v[i], sizeof(*c->v)) != 0)
			c->v[k++] = c->v[i];
	c->n = k;
}

/* ---- the full rebuild ---- */

/* Add the sorted locations of one part after everything already in blobs. */
static int
append_recs(struct wr *w, const struct collect *c)
{
	for (size_t i = 0; i < c->n; i++) {
		bool dup = i > 0 && memcmp(c->v[i].id, c->v[i - 1].id, CF_ID_BYTES) == 0;
		MDB_val key = cf_mdb_val(c->v[i].id, CF_ID_BYTES);
		MDB_val val = cf_mdb_val(c->v[i].val, VAL_BYTES);
		int mrc;
		int rc;

		if (w->c == NULL && (mrc = mdb_cursor_open(w->t, w->e->blobs, &w->c)) != 0)
			return cf_ixdb_err(w->e, mrc, "cannot open a cursor");
		/* a new id goes at the end (full pages, no search); a second location is rare */
		if ((mrc = mdb_cursor_put(w->c, &key, &val, dup ? 0 : MDB_APPEND)) != 0)
			return cf_ixdb_err(w->e, mrc, "cannot append");
		if ((rc = cf_ixdb_wr_step(w)) != 0)
			return rc;
	}
	return 0;
}

/* Empty the file and record every listed object as being added, in one transaction. */
static int
reset(struct wr *w, const uint8_t repo_id[static 32], const struct names *ns)
{
	const MDB_dbi dbis[] = {w->e->objs,    w->e->objpacks,  w->e->packobjs, w->e->packs,
	                        w->e->packids, w->e->packblobs, w->e->blobs};
	uint8_t meta[META_BYTES];
	int rc;

	for (size_t i = 0; i < CF_ARRAY_LEN(dbis); i++) {
		int mrc = mdb_drop(w->t, dbis[i], 0);

		if (mrc != 0)
			return cf_ixdb_err(w->e, mrc, "cannot empty");
	}
	cf_ixdb_encode_meta(meta, repo_id);
	if ((rc = cf_ixdb_wr_put(w, w->e->meta, "coffer", 6, meta, sizeof(meta))) != 0)
		return rc;
	for (size_t i = 0; i < ns->n; i++)
		if ((rc = cf_ixdb_set_state(w, ns->v[i].id, STATE_ADDING, ns->v[i].size)) != 0)
			return rc;
	return 0;
}

/*
 * Passes over the index objects so that one part's locations fit CF_IXDB_BUILD_BYTES; the
 * listed sizes bound the number of entries. Sets c->shift and c->reserve.
 */
static void
plan_passes(struct collect *c, uint64_t bytes)
{
	uint64_t est = bytes / ENTRY_PLAIN + 1;
	uint64_t budget = CF_IXDB_BUILD_BYTES / sizeof(struct rec);
	uint64_t part;

	c->shift = 8;
	while (c->shift > 0 && (est >> (8 - c->shift)) > budget)
		c->shift--;
	part = est >> (8 - c->shift);
	/* ids are uniform: a part holds its share, give or take a few hundred */
	part += part / 16 + 4096;
	c->reserve = part < budget + budget / 8 ? (size_t)part : (size_t)budget;
}

/*
 * Rebuild from scratch: each pass reads every object and keeps the blob ids of one range,
 * sorted, then appends them. Sorted appends fill pages and touch each once, where random
 * inserts of millions of ids would rewrite most pages in every batch.
 */
int
cf_ixdb_build_full(struct env *e, const uint8_t repo_id[static 32], struct names *ns,
                   const struct cf_ixdb_source *src)
{
	struct wr w = {e, NULL, NULL, 0, 0};
	struct collect c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.src = src;
	c.ns = ns;
	plan_passes(&c, ns->bytes);
	c.w = &w;
	if ((rc = cf_ixdb_wr_begin(&w)) != 0 || (rc = reset(&w, repo_id, ns)) != 0 ||
	    (rc = cf_ixdb_wr_commit(&w)) != 0)
		goto out;
	cf_ixdb_find_map(e);
	for (c.part = 0; c.part < (1u << (8 - c.shift)); c.part++) {
		if ((rc = cf_ixdb_wr_begin(&w)) != 0 || (rc = collect_all(&c)) != 0)
			goto out;
		sort_recs(&c);
		if ((rc = append_recs(&w, &c)) != 0 || (rc = cf_ixdb_wr_commit(&w)) != 0)
			goto out;
		cf_ixdb_trim_map(e);
	}
	if ((rc = cf_ixdb_wr_begin(&w)) != 0)
		goto out;
	for (size_t i = 0; i < ns->n && rc == 0; i++)
		if (!ns->v[i].skip)
			rc = cf_ixdb_set_state(&w, ns->v[i].id, STATE_DONE, ns->v[i].size);
	if (rc == 0)
		rc = cf_ixdb_wr_commit(&w);
out:
	cf_ixdb_wr_abort(&w);
	cf_free(c.v);
	return rc;
}

/* ---- in memory ---- */

int
cf_ixdb_load(const struct cf_ixdb_source *src, struct cf_ixdb **out)
{
	struct names ns = {NULL, 0, 0, 0};
	struct cf_ixdb *db = NULL;
	struct collect c;
	int rc;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	if ((rc = cf_ixdb_new(&db)) != 0)
		return rc;
	if ((rc = cf_index_new(&db->packs)) != 0 || (rc = cf_ixdb_list_names(src, &ns)) != 0)
		goto out;
	c.src = src;
	c.ns = &ns;
	c.shift = 8;
	c.reserve = 4096;
	c.mem = db->packs;
	if ((rc = collect_all(&c)) != 0)
		goto out;
	sort_recs(&c);
	db->v = c.v;
	db->n = c.n;
	c.v = NULL;
	*out = db;
	db = NULL;
out:
	cf_free(c.v);
	cf_free(ns.v);
	cf_ixdb_free(db);
	return rc;
}
