/*
 * index_db_update.c - bringing the on-disk chunk index up to date (docs/format.md 13): the
 * listing compared with the recorded objects, then new objects added one by one and the
 * objects no longer listed taken out (index_db_remove.c), or the file rebuilt when it is
 * foreign, older or damaged, or when more than a quarter of it changes.
 */
#include <errno.h>
#include <string.h>

#include "../base/base.h"
#include "index.h"
#include "index_db_impl.h"

/* ---- adding new objects ---- */

/*
 * Record that @obj names @p, then add its locations, unless a complete object names it with
 * the same entries (as after a prune rewrote an object without some other pack): they are
 * all there already.
 */
static int
add_pack(struct wr *w, const uint8_t obj[static CF_ID_BYTES], const struct cf_index_pack *p)
{
	uint8_t named[NAMED_BYTES];
	uint8_t val[VAL_BYTES];
	uint32_t num = 0;
	bool any = false;
	bool there = false;
	int rc;

	if ((rc = cf_ixdb_intern(w, p->id, &num)) != 0)
		return rc;
	cf_ixdb_naming(named, num, p);
	if ((rc = cf_ixdb_namers(w, named, true, &any, &there)) != 0 ||
	    (rc = cf_ixdb_name_pack(w, obj, named, p)) != 0 || there)
		return rc;
	for (size_t k = 0; k < p->count; k++) {
		const struct cf_pack_entry *en = &p->entries[k];

		cf_ixdb_encode_val(val, num, en);
		rc = cf_ixdb_wr_put(w, w->e->blobs, en->id, CF_ID_BYTES, val, VAL_BYTES);
		if (rc != 0 || (rc = cf_ixdb_wr_step(w)) != 0)
			return rc;
		if (++w->ops % TRIM_EVERY == 0)
			cf_ixdb_trim_map(w->e); /* random inserts read pages as lookups do */
	}
	return 0;
}

/* Add one object: recorded first, its packs and locations in batches, then marked complete. */
static int
add_one(struct wr *w, const struct cf_ixdb_source *src, const struct name *nm)
{
	char hex[2 * CF_ID_BYTES + 1];
	struct cf_index_pack *packs = NULL;
	size_t npacks = 0;
	int rc;

	cf_hex(hex, nm->id, CF_ID_BYTES);
	if ((rc = src->read(src->arg, hex, &packs, &npacks)) != 0)
		return rc == CF_ENOENT ? 0 : rc;
	rc = cf_ixdb_set_state(w, nm->id, STATE_ADDING, nm->size);
	for (size_t i = 0; i < npacks && rc == 0; i++)
		rc = add_pack(w, nm->id, &packs[i]);
	if (rc == 0)
		rc = cf_ixdb_set_state(w, nm->id, STATE_DONE, nm->size);
	cf_index_packs_free(packs, npacks);
	return rc;
}

static int
add_needed(struct env *e, const struct names *ns, const struct cf_ixdb_source *src)
{
	struct wr w = {e, NULL, NULL, 0, 0};
	int rc = cf_ixdb_wr_begin(&w);

	for (size_t i = 0; i < ns->n && rc == 0; i++)
		if (ns->v[i].need)
			rc = add_one(&w, src, &ns->v[i]);
	if (rc == 0)
		rc = cf_ixdb_wr_commit(&w);
	cf_ixdb_wr_abort(&w);
	return rc;
}

/* ---- what changed ---- */

/* The recorded objects compared with the listing. */
struct diff {
	struct gone g; /* recorded, not listed */
	uint64_t work; /* the listed bytes of the objects to add */
	bool bad;      /* a record this code never writes: rebuild */
};

static bool
meta_ok(const struct env *e, MDB_txn *t, const uint8_t repo_id[static 32])
{
	uint8_t want[META_BYTES];
	MDB_val key = cf_mdb_val("coffer", 6);
	MDB_val val;

	cf_ixdb_encode_meta(want, repo_id);
	return mdb_get(t, e->meta, &key, &val) == 0 && val.mv_size == sizeof(want) &&
	       memcmp(val.mv_data, want, sizeof(want)) == 0;
}

static uint64_t
add_sat(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static int
note_gone(struct gone *g, const uint8_t id[static CF_ID_BYTES], const uint8_t val[static OBJ_BYTES])
{
	if (g->n == g->cap) {
		size_t ncap = g->cap == 0 ? 16 : g->cap * 2;
		uint8_t(*nv)[CF_ID_BYTES] = NULL;
		size_t sz;

		if (cf_size_mul(ncap, sizeof(*nv), &sz) != 0 || (nv = cf_realloc(g->v, sz)) == NULL)
			return CF_ENOMEM;
		g->v = nv;
		g->cap = ncap;
	}
	memcpy(g->v[g->n++], id, CF_ID_BYTES);
	g->bytes = add_sat(g->bytes, (uint64_t)get_be32(val + 1) << 32 | get_be32(val + 5));
	return 0;
}

/*
 * Walk the recorded objects beside the sorted listing: mark what is not recorded as
 * complete, note what is recorded but not listed.
 */
static int
diff_names(const struct env *e, MDB_txn *t, struct names *ns, struct diff *d)
{
	MDB_cursor *c = NULL;
	MDB_val key;
	MDB_val val;
	size_t i = 0;
	int mrc;
	int rc = 0;

	if ((mrc = mdb_cursor_open(t, e->objs, &c)) != 0)
		return cf_ixdb_err(e, mrc, "cannot open a cursor");
	for (mrc = mdb_cursor_get(c, &key, &val, MDB_FIRST); mrc == 0 && rc == 0 && !d->bad;
	     mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		if ((d->bad = key.mv_size != CF_ID_BYTES || val.mv_size != OBJ_BYTES))
			break;
		while (i < ns->n && memcmp(ns->v[i].id, key.mv_data, CF_ID_BYTES) < 0)
			i++;
		if (i < ns->n && memcmp(ns->v[i].id, key.mv_data, CF_ID_BYTES) == 0)
			ns->v[i++].need = ((const uint8_t *)val.mv_data)[0] != STATE_DONE;
		else
			rc = note_gone(&d->g, key.mv_data, val.mv_data);
	}
	mdb_cursor_close(c);
	if (rc != 0)
		return rc;
	if (mrc != 0 && mrc != MDB_NOTFOUND)
		return cf_ixdb_err(e, mrc, "cannot read the objects");
	for (i = 0; i < ns->n; i++)
		if (ns->v[i].need)
			d->work = add_sat(d->work, ns->v[i].size);
	return 0;
}

/* Whether the file is this repository's, and if so what changed. */
static int
read_diff(struct env *e, const uint8_t repo_id[static 32], struct names *ns, struct diff *d,
          bool *ok)
{
	MDB_txn *t = NULL;
	int mrc;
	int rc = 0;

	if ((mrc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &t)) != 0)
		return cf_ixdb_err(e, mrc, "cannot begin a read");
	if ((*ok = meta_ok(e, t, repo_id)))
		rc = diff_names(e, t, ns, d);
	mdb_txn_abort(t);
	return rc;
}

/* Add what is new, then take out what is gone (so packs that moved keep their locations). */
static int
update(struct env *e, const uint8_t repo_id[static 32], struct names *ns,
       const struct cf_ixdb_source *src, const struct gone *g)
{
	bool rebuild = false;
	int rc;

	if ((rc = add_needed(e, ns, src)) != 0 || g->n == 0)
		return rc;
	if ((rc = cf_ixdb_remove(e, g, &rebuild)) != 0 || !rebuild)
		return rc;
	return cf_ixdb_build_full(e, repo_id, ns, src);
}

int
cf_ixdb_sync(struct env *e, const uint8_t repo_id[static 32], const struct cf_ixdb_source *src)
{
	struct names ns = {NULL, 0, 0, 0};
	struct diff d;
	bool ok = false;
	int rc;

	memset(&d, 0, sizeof(d));
	if ((rc = cf_ixdb_list_names(src, &ns)) != 0 ||
	    (rc = read_diff(e, repo_id, &ns, &d, &ok)) != 0)
		goto out;
	if (ok && !d.bad && d.g.n == 0 && d.work == 0)
		goto out;
	if (e->rdonly) {
		errno = 0;
		rc = cf_err_set(CF_ESYS, "chunk index cache '%s' is read-only and out of date",
		                e->path);
	} else if (!ok || d.bad || add_sat(d.work, d.g.bytes) > ns.bytes / 4) {
		/* foreign, older, damaged, or mostly changed: cheaper to rebuild sorted */
		rc = cf_ixdb_build_full(e, repo_id, &ns, src);
	} else {
		rc = update(e, repo_id, &ns, src, &d.g);
	}
out:
	cf_free(d.g.v);
	cf_free(ns.v);
	return rc;
}
