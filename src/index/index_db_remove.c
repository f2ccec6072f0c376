/*
 * index_db_remove.c - taking index objects that are no longer listed out of the on-disk chunk
 * index (docs/format.md 13), instead of rebuilding it after every prune.
 *
 * An object leaves packobjs for each pack it names (objpacks). A pack no recorded object
 * names any more loses every location: packblobs gives the start of each blob id the pack's
 * entries name, and each blob id starting so loses its locations in that pack. A pack that
 * another recorded object names with the same digest keeps its locations: they are the same.
 *
 * Every step deletes what it has done last (a location before the packblobs entry that
 * leads to it, a pack before the naming that leads to it, the naming before the object), and
 * deleting what is already gone is no error, so an update stopped between two commits
 * (CF_IXDB_BATCH changes each) is finished by the next one, which still sees the object.
 */
#include <errno.h>
#include <string.h>

#include "../base/base.h"
#include "index.h"
#include "index_db_impl.h"

/* Delete @key's value @val (@vlen bytes; NULL: every value); already gone is no error. */
static int
del_pair(struct wr *w, MDB_dbi dbi, const void *key, size_t klen, const void *val, size_t vlen)
{
	MDB_val k = cf_mdb_val(key, klen);
	MDB_val v = cf_mdb_val(val, vlen);
	int mrc = mdb_del(w->t, dbi, &k, val != NULL ? &v : NULL);

	if (mrc != 0 && mrc != MDB_NOTFOUND)
		return cf_ixdb_err(w->e, mrc, "cannot delete");
	return cf_ixdb_wr_step(w);
}

/* The (first) value of @key in @dbi into @val, which must be @vlen bytes; *@found. */
static int
first_value(struct wr *w, MDB_dbi dbi, MDB_val k, uint8_t *val, size_t vlen, bool *found)
{
	MDB_val v;
	int mrc = mdb_get(w->t, dbi, &k, &v);

	*found = mrc == 0;
	if (mrc == MDB_NOTFOUND)
		return 0;
	if (mrc == 0 && v.mv_size != vlen)
		mrc = MDB_CORRUPTED;
	if (mrc != 0)
		return cf_ixdb_err(w->e, mrc, "cannot read");
	memcpy(val, v.mv_data, vlen);
	return 0;
}

static int
blobs_cursor(struct wr *w)
{
	int mrc;

	if (w->c == NULL && (mrc = mdb_cursor_open(w->t, w->e->blobs, &w->c)) != 0) {
		w->c = NULL;
		return cf_ixdb_err(w->e, mrc, "cannot open a cursor");
	}
	return 0;
}

/*
 * Delete every location of blob @id in pack @nb. Locations sort by pack number first, so
 * those of one pack are together; the cursor is sought again after every step, which may
 * have committed (and closed it).
 */
static int
drop_blob_locs(struct wr *w, const uint8_t id[static CF_ID_BYTES], const uint8_t nb[static 4])
{
	uint8_t lo[VAL_BYTES];

	memset(lo, 0, sizeof(lo));
	memcpy(lo, nb, 4);
	for (;;) {
		MDB_val key = cf_mdb_val(id, CF_ID_BYTES);
		MDB_val val = cf_mdb_val(lo, sizeof(lo));
		int mrc;
		int rc;

		if ((rc = blobs_cursor(w)) != 0)
			return rc;
		mrc = mdb_cursor_get(w->c, &key, &val, MDB_GET_BOTH_RANGE);
		if (mrc == MDB_NOTFOUND)
			return 0;
		if (mrc != 0)
			return cf_ixdb_err(w->e, mrc, "cannot read a location");
		if (val.mv_size != VAL_BYTES || memcmp(val.mv_data, nb, 4) != 0)
			return 0;
		if ((mrc = mdb_cursor_del(w->c, 0)) != 0)
			return cf_ixdb_err(w->e, mrc, "cannot delete a location");
		if ((rc = cf_ixdb_wr_steps(w, RANDOM_DEL_STEPS)) != 0)
			return rc;
		if (++w->ops % TRIM_EVERY == 0)
			cf_ixdb_trim_map(w->e); /* as lookups do */
	}
}

/* The next 256-bit big-endian number after @id; false when @id was the last. */
static bool
next_id(uint8_t id[static CF_ID_BYTES])
{
	for (size_t i = CF_ID_BYTES; i-- > 0;)
		if (++id[i] != 0)
			return true;
	return false;
}

/* Delete the locations in pack @nb of every blob whose id starts with @prefix. */
static int
drop_prefix(struct wr *w, const uint8_t prefix[static PREFIX_BYTES], const uint8_t nb[static 4])
{
	uint8_t id[CF_ID_BYTES];

	memset(id, 0, sizeof(id));
	memcpy(id, prefix, PREFIX_BYTES);
	do {
		MDB_val key = cf_mdb_val(id, CF_ID_BYTES);
		MDB_val val;
		int mrc;
		int rc;

		if ((rc = blobs_cursor(w)) != 0)
			return rc;
		mrc = mdb_cursor_get(w->c, &key, &val, MDB_SET_RANGE);
		if (mrc == MDB_NOTFOUND)
			return 0;
		if (mrc == 0 && key.mv_size != CF_ID_BYTES)
			mrc = MDB_CORRUPTED;
		if (mrc != 0)
			return cf_ixdb_err(w->e, mrc, "cannot read a blob");
		if (memcmp(key.mv_data, prefix, PREFIX_BYTES) != 0)
			return 0;
		memcpy(id, key.mv_data, CF_ID_BYTES);
		if ((rc = drop_blob_locs(w, id, nb)) != 0)
			return rc;
	} while (next_id(id));
	return 0;
}

/*
 * The first packblobs entry of pack @nb: *@key (number | digest) and a copy of its blob id
 * starts in *@v (cf_free), *@n of them; *@v NULL when there is none.
 */
static int
first_prefixes(struct wr *w, const uint8_t nb[static 4], uint8_t key[static NAMED_BYTES],
               uint8_t **v, size_t *n)
{
	MDB_cursor *c = NULL;
	MDB_val k = cf_mdb_val(key, NAMED_BYTES);
	MDB_val val;
	int mrc;

	*v = NULL;
	*n = 0;
	memset(key, 0, NAMED_BYTES);
	memcpy(key, nb, 4);
	if ((mrc = mdb_cursor_open(w->t, w->e->packblobs, &c)) != 0)
		return cf_ixdb_err(w->e, mrc, "cannot open a cursor");
	mrc = mdb_cursor_get(c, &k, &val, MDB_SET_RANGE);
	if (mrc == 0 && (k.mv_size != NAMED_BYTES || val.mv_size % PREFIX_BYTES != 0 ||
	                 val.mv_size == 0 || val.mv_size > PREFIXES_MAX))
		mrc = MDB_CORRUPTED;
	if (mrc == 0 && memcmp(k.mv_data, nb, 4) == 0) {
		memcpy(key, k.mv_data, NAMED_BYTES);
		if ((*v = cf_memdup(val.mv_data, val.mv_size)) == NULL)
			mrc = ENOMEM;
		*n = val.mv_size / PREFIX_BYTES;
	}
	mdb_cursor_close(c);
	if (mrc != 0 && mrc != MDB_NOTFOUND)
		return cf_ixdb_err(w->e, mrc, "cannot read the blobs of a pack");
	return 0;
}

/*
 * Every location in pack @nb: for each packblobs entry of the pack, the blobs it lists lose
 * their locations there, then the entry goes (copied first: a step may commit).
 */
static int
drop_pack_locs(struct wr *w, const uint8_t nb[static 4])
{
	uint8_t key[NAMED_BYTES];
	uint8_t *v = NULL;
	size_t n = 0;
	int rc;

	while ((rc = first_prefixes(w, nb, key, &v, &n)) == 0 && v != NULL) {
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = drop_prefix(w, v + i * PREFIX_BYTES, nb);
		cf_free(v);
		v = NULL;
		if (rc != 0 || (rc = del_pair(w, w->e->packblobs, key, sizeof(key), NULL, 0)) != 0)
			return rc;
	}
	return rc;
}

/* Pack @nb, which no recorded object names: every location, then its numbers. */
static int
drop_pack(struct wr *w, const uint8_t nb[static 4])
{
	uint8_t pack[CF_ID_BYTES];
	bool found = false;
	int rc;

	if ((rc = drop_pack_locs(w, nb)) != 0 ||
	    (rc = first_value(w, w->e->packids, cf_mdb_val(nb, 4), pack, sizeof(pack), &found)) !=
	            0)
		return rc;
	if (found && (rc = del_pair(w, w->e->packs, pack, sizeof(pack), NULL, 0)) != 0)
		return rc;
	return del_pair(w, w->e->packids, nb, 4, NULL, 0);
}

/* Object @obj no longer names pack @named: drop the pack when nothing else names it. */
static int
unname_pack(struct wr *w, const uint8_t obj[static CF_ID_BYTES],
            const uint8_t named[static NAMED_BYTES], bool *rebuild)
{
	bool any = false;
	bool same = false;
	int rc;

	if ((rc = del_pair(w, w->e->packobjs, named, 4, obj, CF_ID_BYTES)) != 0 ||
	    (rc = cf_ixdb_namers(w, named, false, &any, &same)) != 0)
		return rc;
	if (!any)
		return drop_pack(w, named);
	*rebuild = !same;
	return 0;
}

/* Take object @obj out: each pack it names, then the object. */
static int
remove_object(struct wr *w, const uint8_t obj[static CF_ID_BYTES], bool *rebuild)
{
	uint8_t named[NAMED_BYTES];
	bool found = false;
	int rc;

	while ((rc = first_value(w, w->e->objpacks, cf_mdb_val(obj, CF_ID_BYTES), named,
	                         sizeof(named), &found)) == 0 &&
	       found) {
		if ((rc = unname_pack(w, obj, named, rebuild)) != 0 || *rebuild)
			return rc;
		if ((rc = del_pair(w, w->e->objpacks, obj, CF_ID_BYTES, named, sizeof(named))) != 0)
			return rc;
	}
	if (rc != 0)
		return rc;
	return del_pair(w, w->e->objs, obj, CF_ID_BYTES, NULL, 0);
}

int
cf_ixdb_remove(struct env *e, const struct gone *g, bool *rebuild)
{
	struct wr w = {e, NULL, NULL, 0, 0};
	int rc;

	*rebuild = false;
	if ((rc = cf_ixdb_wr_begin(&w)) != 0)
		return rc;
	for (size_t i = 0; i < g->n && rc == 0 && !*rebuild; i++)
		rc = remove_object(&w, g->v[i], rebuild);
	if (rc == 0)
		rc = cf_ixdb_wr_commit(&w);
	cf_ixdb_wr_abort(&w);
	return rc;
}
