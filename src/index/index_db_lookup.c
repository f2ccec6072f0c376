/*
 * index_db_lookup.c - lookups in the chunk index (docs/format.md 13): the locations of a
 * blob and the packs named, from a handle's LMDB snapshot or from the index in memory.
 */
#include <string.h>

#include "../base/base.h"
#include "index.h"
#include "index_db_impl.h"

bool
cf_ixdb_on_disk(const struct cf_ixdb *db)
{
	return db->e != NULL;
}

static void
mem_locs(const struct cf_ixdb *db, const uint8_t id[static CF_ID_BYTES], struct cf_blob_loc *v,
         size_t cap, size_t *n)
{
	size_t lo = 0;
	size_t hi = db->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(db->v[mid].id, id, CF_ID_BYTES) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (*n = 0; lo < db->n && memcmp(db->v[lo].id, id, CF_ID_BYTES) == 0; lo++, (*n)++) {
		struct cf_blob_loc loc;
		uint32_t num = cf_ixdb_decode_val(db->v[lo].val, &loc.e);

		if (*n >= cap)
			continue;
		memcpy(loc.pack, cf_index_pack_id(db->packs, num), CF_ID_BYTES);
		memcpy(loc.e.id, id, CF_ID_BYTES);
		v[*n] = loc;
	}
}

/* Decode one stored location and find its pack id in the snapshot. */
static int
disk_loc(struct cf_ixdb *db, const MDB_val *val, struct cf_blob_loc *loc)
{
	uint8_t nb[4];
	MDB_val key;
	MDB_val pid;
	int mrc;

	if (val->mv_size != VAL_BYTES)
		return MDB_CORRUPTED;
	put_be32(nb, cf_ixdb_decode_val(val->mv_data, &loc->e));
	key = cf_mdb_val(nb, sizeof(nb));
	if ((mrc = mdb_get(db->txn, db->e->packids, &key, &pid)) != 0)
		return mrc == MDB_NOTFOUND ? MDB_CORRUPTED : mrc;
	if (pid.mv_size != CF_ID_BYTES)
		return MDB_CORRUPTED;
	memcpy(loc->pack, pid.mv_data, CF_ID_BYTES);
	return 0;
}

int
cf_ixdb_locs(struct cf_ixdb *db, const uint8_t id[static CF_ID_BYTES], struct cf_blob_loc *v,
             size_t cap, size_t *n)
{
	MDB_val key = cf_mdb_val(id, CF_ID_BYTES);
	MDB_val val;
	int mrc;

	*n = 0;
	if (db->e == NULL) {
		mem_locs(db, id, v, cap, n);
		return 0;
	}
	pthread_mutex_lock(&db->lock);
	for (mrc = mdb_cursor_get(db->cur, &key, &val, MDB_SET_KEY); mrc == 0;
	     mrc = mdb_cursor_get(db->cur, &key, &val, MDB_NEXT_DUP)) {
		struct cf_blob_loc loc;

		if ((mrc = disk_loc(db, &val, &loc)) != 0)
			break;
		memcpy(loc.e.id, id, CF_ID_BYTES);
		if (*n < cap)
			v[*n] = loc;
		(*n)++;
	}
	if (++db->ops % TRIM_EVERY == 0)
		cf_ixdb_trim_map(db->e);
	pthread_mutex_unlock(&db->lock);
	return mrc == MDB_NOTFOUND ? 0 : cf_ixdb_err(db->e, mrc, "cannot read a location");
}

int
cf_ixdb_each_pack(struct cf_ixdb *db, int (*fn)(void *arg, const uint8_t pack[static CF_ID_BYTES]),
                  void *arg)
{
	MDB_cursor *c = NULL;
	MDB_val key;
	MDB_val val;
	int mrc;
	int rc = 0;

	if (db->e == NULL)
		return cf_index_each_pack(db->packs, fn, arg);
	pthread_mutex_lock(&db->lock);
	if ((mrc = mdb_cursor_open(db->txn, db->e->packs, &c)) == 0) {
		for (mrc = mdb_cursor_get(c, &key, &val, MDB_FIRST); mrc == 0 && rc == 0;
		     mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT))
			if (key.mv_size == CF_ID_BYTES)
				rc = fn(arg, key.mv_data);
		mdb_cursor_close(c);
	}
	pthread_mutex_unlock(&db->lock);
	if (rc != 0)
		return rc;
	return mrc == MDB_NOTFOUND ? 0 : cf_ixdb_err(db->e, mrc, "cannot list the packs");
}
