/*
 * index_db.c - the chunk index of a repository: every location of every blob, on disk in an
 * LMDB file that is only a cache (docs/format.md 13), or in memory as a fallback. This part:
 * the encodings of values, errors, the listing of index objects and write transactions;
 * index_db_impl.h says where the rest lives and what the file holds.
 */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "../base/base.h"
#include "index.h"
#include "index_db_impl.h"

void
cf_ixdb_encode_val(uint8_t v[static VAL_BYTES], uint32_t pack, const struct cf_pack_entry *e)
{
	put_be32(v, pack);
	put_be32(v + 4, e->offset);
	put_be32(v + 8, e->stored_len);
	put_be32(v + 12, e->raw_len);
	v[16] = e->type;
	v[17] = e->comp;
}

uint32_t
cf_ixdb_decode_val(const uint8_t v[static VAL_BYTES], struct cf_pack_entry *e)
{
	e->offset = get_be32(v + 4);
	e->stored_len = get_be32(v + 8);
	e->raw_len = get_be32(v + 12);
	e->type = v[16];
	e->comp = v[17];
	return get_be32(v);
}

void
cf_ixdb_encode_meta(uint8_t m[static META_BYTES], const uint8_t repo_id[static 32])
{
	put_be32(m, CF_IXDB_VERSION);
	memcpy(m + 4, repo_id, 32);
}

/* An LMDB result as a library error: CF_ENOMEM, else CF_ESYS naming the file. */
int
cf_ixdb_err(const struct env *e, int mrc, const char *what)
{
	if (mrc == ENOMEM)
		return CF_ENOMEM;
	if (mrc > 0) {
		errno = mrc;
		return cf_err_set(CF_ESYS, "chunk index cache '%s': %s", e->path, what);
	}
	errno = 0;
	return cf_err_set(CF_ESYS, "chunk index cache '%s': %s: %s", e->path, what,
	                  mdb_strerror(mrc));
}

/* ---- the names of the index objects ---- */

static int
note_name(void *arg, const char *name, uint64_t size)
{
	struct names *ns = arg;
	uint8_t id[CF_ID_BYTES];

	/* not an index object's name: never recorded; whoever reads it reports it */
	if (strlen(name) != 2 * CF_ID_BYTES || cf_unhex(id, sizeof(id), name, strlen(name)) != 0)
		return 0;
	if (ns->n == ns->cap) {
		size_t ncap = ns->cap == 0 ? 256 : ns->cap * 2;
		struct name *nv = NULL;
		size_t sz;

		if (cf_size_mul(ncap, sizeof(*nv), &sz) != 0 ||
		    (nv = cf_realloc(ns->v, sz)) == NULL)
			return CF_ENOMEM;
		ns->v = nv;
		ns->cap = ncap;
	}
	memset(&ns->v[ns->n], 0, sizeof(ns->v[ns->n]));
	memcpy(ns->v[ns->n].id, id, CF_ID_BYTES);
	ns->v[ns->n].size = size;
	ns->v[ns->n].need = true;
	ns->n++;
	ns->bytes = ns->bytes + size < ns->bytes ? UINT64_MAX : ns->bytes + size;
	return 0;
}

static int
name_cmp(const void *a, const void *b)
{
	return memcmp(((const struct name *)a)->id, ((const struct name *)b)->id, CF_ID_BYTES);
}

/* Every index object the source lists, sorted by id, each once. */
int
cf_ixdb_list_names(const struct cf_ixdb_source *src, struct names *ns)
{
	size_t k = 0;
	int rc;

	if ((rc = src->list(src->arg, note_name, ns)) != 0)
		return rc;
	if (ns->n > 1)
		qsort(ns->v, ns->n, sizeof(*ns->v), name_cmp);
	for (size_t i = 0; i < ns->n; i++)
		if (k == 0 || memcmp(ns->v[k - 1].id, ns->v[i].id, CF_ID_BYTES) != 0)
			ns->v[k++] = ns->v[i];
	ns->n = k;
	return 0;
}

/* ---- writing ---- */

int
cf_ixdb_wr_begin(struct wr *w)
{
	int mrc = mdb_txn_begin(w->e->env, NULL, 0, &w->t);

	w->pending = 0;
	if (mrc != 0) {
		w->t = NULL;
		return cf_ixdb_err(w->e, mrc, "cannot begin a write");
	}
	return 0;
}

int
cf_ixdb_wr_commit(struct wr *w)
{
	int mrc;

	if (w->c != NULL)
		mdb_cursor_close(w->c);
	w->c = NULL;
	mrc = mdb_txn_commit(w->t);
	w->t = NULL;
	return mrc != 0 ? cf_ixdb_err(w->e, mrc, "cannot commit") : 0;
}

void
cf_ixdb_wr_abort(struct wr *w)
{
	if (w->c != NULL)
		mdb_cursor_close(w->c);
	if (w->t != NULL)
		mdb_txn_abort(w->t);
	w->c = NULL;
	w->t = NULL;
}

/* Count @n changes; commit every CF_IXDB_BATCH so a writer never holds the whole index. */
int
cf_ixdb_wr_steps(struct wr *w, size_t n)
{
	int rc;

	if ((w->pending += n) < CF_IXDB_BATCH)
		return 0;
	if ((rc = cf_ixdb_wr_commit(w)) != 0)
		return rc;
	return cf_ixdb_wr_begin(w);
}

int
cf_ixdb_wr_put(struct wr *w, MDB_dbi dbi, const void *k, size_t klen, const void *v, size_t vlen)
{
	MDB_val key = cf_mdb_val(k, klen);
	MDB_val val = cf_mdb_val(v, vlen);
	int mrc = mdb_put(w->t, dbi, &key, &val, 0);

	/* an identical location already present (another index object names it) */
	return mrc == 0 || mrc == MDB_KEYEXIST ? 0 : cf_ixdb_err(w->e, mrc, "cannot write");
}

int
cf_ixdb_set_state(struct wr *w, const uint8_t id[static CF_ID_BYTES], uint8_t state, uint64_t size)
{
	uint8_t v[OBJ_BYTES];

	v[0] = state;
	put_be32(v + 1, (uint32_t)(size >> 32));
	put_be32(v + 5, (uint32_t)size);
	return cf_ixdb_wr_put(w, w->e->objs, id, CF_ID_BYTES, v, sizeof(v));
}

/* The number after the highest in packids: numbers of dropped packs below it are not reused. */
static int
next_pack_number(struct wr *w, uint32_t *num)
{
	MDB_cursor *c = NULL;
	MDB_val key;
	MDB_val val;
	int mrc;

	if ((mrc = mdb_cursor_open(w->t, w->e->packids, &c)) != 0)
		return cf_ixdb_err(w->e, mrc, "cannot open a cursor");
	mrc = mdb_cursor_get(c, &key, &val, MDB_LAST);
	mdb_cursor_close(c);
	if (mrc == MDB_NOTFOUND) {
		*num = 0;
		return 0;
	}
	if (mrc == 0 && key.mv_size != 4)
		mrc = MDB_CORRUPTED;
	if (mrc != 0)
		return cf_ixdb_err(w->e, mrc, "cannot read the pack numbers");
	if ((*num = get_be32(key.mv_data)) == UINT32_MAX)
		return cf_ixdb_err(w->e, MDB_MAP_FULL, "too many packs");
	(*num)++;
	return 0;
}

int
cf_ixdb_intern(struct wr *w, const uint8_t pack[static CF_ID_BYTES], uint32_t *num)
{
	MDB_val key = cf_mdb_val(pack, CF_ID_BYTES);
	MDB_val val;
	uint8_t nb[4];
	int mrc = mdb_get(w->t, w->e->packs, &key, &val);
	int rc;

	if (mrc == 0 && val.mv_size == 4) {
		*num = get_be32(val.mv_data);
		return 0;
	}
	if (mrc != MDB_NOTFOUND)
		return cf_ixdb_err(w->e, mrc == 0 ? MDB_CORRUPTED : mrc,
		                   "cannot read a pack number");
	if ((rc = next_pack_number(w, num)) != 0)
		return rc;
	put_be32(nb, *num);
	if ((rc = cf_ixdb_wr_put(w, w->e->packs, pack, CF_ID_BYTES, nb, 4)) != 0)
		return rc;
	return cf_ixdb_wr_put(w, w->e->packids, nb, 4, pack, CF_ID_BYTES);
}

/* BLAKE2b-128 of the entries of @p as docs/format.md 13 lays them out. */
static void
digest_pack(const struct cf_index_pack *p, uint8_t out[static DIGEST_BYTES])
{
	crypto_generichash_state st;
	uint8_t buf[64 * ENTRY_PLAIN];
	size_t n = 0;

	(void)crypto_generichash_init(&st, NULL, 0, DIGEST_BYTES);
	for (size_t i = 0; i < p->count; i++) {
		uint8_t v[VAL_BYTES];

		cf_ixdb_encode_val(v, 0, &p->entries[i]);
		memcpy(buf + n, p->entries[i].id, CF_ID_BYTES);
		memcpy(buf + n + CF_ID_BYTES, v + 4, VAL_BYTES - 4); /* not the pack number */
		if ((n += ENTRY_PLAIN) == sizeof(buf)) {
			(void)crypto_generichash_update(&st, buf, n);
			n = 0;
		}
	}
	(void)crypto_generichash_update(&st, buf, n);
	(void)crypto_generichash_final(&st, out, DIGEST_BYTES);
}

static int
prefix_cmp(const void *a, const void *b)
{
	return memcmp(a, b, PREFIX_BYTES);
}

/*
 * packblobs @key (pack number | digest): the start of every blob id of @p, sorted, each once.
 * Written once: objects that name the pack with the same digest name the same blobs.
 */
static int
put_prefixes(struct wr *w, const uint8_t key[static NAMED_BYTES], const struct cf_index_pack *p)
{
	MDB_val k = cf_mdb_val(key, NAMED_BYTES);
	MDB_val old;
	uint8_t *v = NULL;
	size_t n = 0;
	size_t sz = 0;
	int mrc = mdb_get(w->t, w->e->packblobs, &k, &old);
	int rc;

	if (mrc != MDB_NOTFOUND)
		return mrc == 0 ? 0 : cf_ixdb_err(w->e, mrc, "cannot read the blobs of a pack");
	if (p->count == 0 || cf_size_mul(p->count, PREFIX_BYTES, &sz) != 0 || sz > PREFIXES_MAX)
		return CF_EINTERNAL; /* the decoder refuses such an object */
	if ((v = cf_malloc(sz)) == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; i < p->count; i++)
		memcpy(v + i * PREFIX_BYTES, p->entries[i].id, PREFIX_BYTES);
	qsort(v, p->count, PREFIX_BYTES, prefix_cmp);
	for (size_t i = 0; i < p->count; i++)
		if (n == 0 ||
		    memcmp(v + (n - 1) * PREFIX_BYTES, v + i * PREFIX_BYTES, PREFIX_BYTES) != 0)
			memmove(v + n++ * PREFIX_BYTES, v + i * PREFIX_BYTES, PREFIX_BYTES);
	rc = cf_ixdb_wr_put(w, w->e->packblobs, key, NAMED_BYTES, v, n * PREFIX_BYTES);
	cf_free(v);
	return rc != 0 ? rc : cf_ixdb_wr_steps(w, n); /* each id a change: bounds the pages held */
}

void
cf_ixdb_naming(uint8_t named[static NAMED_BYTES], uint32_t num, const struct cf_index_pack *p)
{
	put_be32(named, num);
	digest_pack(p, named + 4);
}

int
cf_ixdb_name_pack(struct wr *w, const uint8_t obj[static CF_ID_BYTES],
                  const uint8_t named[static NAMED_BYTES], const struct cf_index_pack *p)
{
	int rc;

	if ((rc = cf_ixdb_wr_put(w, w->e->objpacks, obj, CF_ID_BYTES, named, NAMED_BYTES)) != 0 ||
	    (rc = cf_ixdb_wr_put(w, w->e->packobjs, named, 4, obj, CF_ID_BYTES)) != 0)
		return rc;
	return put_prefixes(w, named, p);
}

/* Whether object @obj names pack @named with its digest and, when @done, is complete. */
static int
names_alike(struct wr *w, const uint8_t *obj, const uint8_t named[static NAMED_BYTES], bool done,
            bool *alike)
{
	MDB_cursor *c = NULL;
	MDB_val k = cf_mdb_val(obj, CF_ID_BYTES);
	MDB_val v = cf_mdb_val(named, NAMED_BYTES);
	int mrc;

	*alike = false;
	if ((mrc = mdb_cursor_open(w->t, w->e->objpacks, &c)) != 0)
		return cf_ixdb_err(w->e, mrc, "cannot open a cursor");
	mrc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH);
	mdb_cursor_close(c);
	if (mrc == 0 && done) {
		k = cf_mdb_val(obj, CF_ID_BYTES);
		if ((mrc = mdb_get(w->t, w->e->objs, &k, &v)) == 0 && v.mv_size != OBJ_BYTES)
			mrc = MDB_CORRUPTED;
		*alike = mrc == 0 && ((const uint8_t *)v.mv_data)[0] == STATE_DONE;
	} else {
		*alike = mrc == 0;
	}
	return mrc == 0 || mrc == MDB_NOTFOUND ? 0 : cf_ixdb_err(w->e, mrc, "cannot read");
}

int
cf_ixdb_namers(struct wr *w, const uint8_t named[static NAMED_BYTES], bool done, bool *any,
               bool *alike)
{
	MDB_cursor *c = NULL;
	MDB_val key = cf_mdb_val(named, 4);
	MDB_val val;
	int mrc;
	int rc = 0;

	*any = *alike = false;
	if ((mrc = mdb_cursor_open(w->t, w->e->packobjs, &c)) != 0)
		return cf_ixdb_err(w->e, mrc, "cannot open a cursor");
	for (mrc = mdb_cursor_get(c, &key, &val, MDB_SET_KEY); mrc == 0 && rc == 0 && !*alike;
	     mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT_DUP)) {
		*any = true;
		if (val.mv_size != CF_ID_BYTES) {
			mrc = MDB_CORRUPTED;
			break;
		}
		rc = names_alike(w, val.mv_data, named, done, alike);
	}
	mdb_cursor_close(c);
	if (rc != 0)
		return rc;
	return mrc == 0 || mrc == MDB_NOTFOUND ? 0 : cf_ixdb_err(w->e, mrc, "cannot read");
}
