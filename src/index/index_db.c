/*
 * index_db.c - the chunk index of a repository: every location of every blob, on disk in an
 * LMDB file that is only a cache (docs/format.md 13), or in memory as a fallback.
 *
 * The file holds five databases:
 *   meta     "coffer" -> version u32be | repository id (32)
 *   objects  index object id (32) -> state u8: 0 being added, 1 complete
 *   packs    pack id (32) -> pack number u32be
 *   packids  pack number u32be -> pack id (32)
 *   blobs    blob id (32) -> its locations (sorted duplicates, 18 bytes each: pack number
 *            u32be | offset u32be | stored_len u32be | raw_len u32be | type | comp)
 * An object is recorded in objects no later than in the transaction that adds its first
 * entry, so every location belongs to a recorded object and an object that disappears (a
 * prune replaced it) is always noticed: the file is then rebuilt from scratch. Pack numbers
 * are written before any location uses them.
 *
 * Updates are serialised between processes by an fcntl lock on "<file>-sync", held while
 * the file is opened, repaired and brought up to date, and while a handle takes its read
 * snapshot; within a process by a mutex of the one LMDB environment per file (LMDB forbids
 * opening a file twice in one process). Each commit is atomic (LMDB), and a handle reads one
 * snapshot for its whole life, so no reader sees half an update.
 */
#define _DEFAULT_SOURCE 1 /* madvise(MADV_DONTNEED): Linux's, not POSIX's (trim_map) */

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/base.h"
#include "index.h"

#define VAL_BYTES    18
#define META_BYTES   (4 + 32)
#define ENTRY_PLAIN  46 /* an entry's bytes in an index object: bounds the entries from sizes */
#define STATE_ADDING 0
#define STATE_DONE   1
#define NDBS         5
#define TRIM_EVERY   64 /* lookups or writes between two trim_map() */

/* 64 GiB of address space (about 600 million locations); a full map falls back to memory. */
#define MAP_BYTES ((size_t)(sizeof(size_t) >= 8 ? (64ull << 30) : (1ull << 30)))

/* One location as stored: the blob id and the value of the blobs database. */
struct rec {
	uint8_t id[CF_ID_BYTES];
	uint8_t val[VAL_BYTES];
};

struct name {
	uint8_t id[CF_ID_BYTES];
	uint64_t size;
	bool need; /* not recorded as complete */
	bool skip; /* left out by the source during this build */
};

struct names {
	struct name *v;
	size_t n;
	size_t cap;
	uint64_t bytes;
};

/* The environment of one file, shared by every handle of this process. */
struct env {
	char *path;
	MDB_env *env;
	MDB_dbi meta;
	MDB_dbi objs;
	MDB_dbi packs;
	MDB_dbi packids;
	MDB_dbi blobs;
	bool rdonly;
	unsigned refs;
	pthread_mutex_t sync;
	void *map; /* where LMDB mapped the file (find_map); NULL: unknown, no trimming */
	struct env *next;
};

struct cf_ixdb {
	struct env *e;        /* NULL: in memory */
	pthread_mutex_t lock; /* guards txn and cur */
	MDB_txn *txn;         /* the snapshot read */
	MDB_cursor *cur;      /* on blobs */
	struct rec *v;        /* in memory: sorted */
	size_t n;
	struct cf_index *packs; /* in memory: pack numbers */
	unsigned ops;           /* lookups since the last trim_map() */
};

static pthread_mutex_t envs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct env *envs;

static MDB_val
mval(const void *p, size_t n)
{
	MDB_val v;

	v.mv_size = n;
	v.mv_data = (void *)(uintptr_t)p; /* LMDB only reads keys and values it is given */
	return v;
}

static void
put_be32(uint8_t *p, uint32_t x)
{
	p[0] = (uint8_t)(x >> 24);
	p[1] = (uint8_t)(x >> 16);
	p[2] = (uint8_t)(x >> 8);
	p[3] = (uint8_t)x;
}

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
encode_val(uint8_t v[static VAL_BYTES], uint32_t pack, const struct cf_pack_entry *e)
{
	put_be32(v, pack);
	put_be32(v + 4, e->offset);
	put_be32(v + 8, e->stored_len);
	put_be32(v + 12, e->raw_len);
	v[16] = e->type;
	v[17] = e->comp;
}

static uint32_t
decode_val(const uint8_t v[static VAL_BYTES], struct cf_pack_entry *e)
{
	e->offset = get_be32(v + 4);
	e->stored_len = get_be32(v + 8);
	e->raw_len = get_be32(v + 12);
	e->type = v[16];
	e->comp = v[17];
	return get_be32(v);
}

static void
encode_meta(uint8_t m[static META_BYTES], const uint8_t repo_id[static 32])
{
	put_be32(m, CF_IXDB_VERSION);
	memcpy(m + 4, repo_id, 32);
}

/* An LMDB result as a library error: CF_ENOMEM, else CF_ESYS naming the file. */
static int
db_err(const struct env *e, int mrc, const char *what)
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
static int
list_names(const struct cf_ixdb_source *src, struct names *ns)
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

/* ---- reading index objects into locations ---- */

struct collect {
	const struct cf_ixdb_source *src;
	struct names *ns;
	unsigned shift; /* keep blob ids whose first byte >> shift is part (shift 8: all) */
	unsigned part;
	int (*intern)(void *arg, const uint8_t pack[static CF_ID_BYTES], uint32_t *num);
	void *iarg;
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
	encode_val(c->v[c->n].val, pack, e);
	c->n++;
	return 0;
}

static int
collect_pack(struct collect *c, const struct cf_index_pack *p)
{
	uint32_t num = 0;
	int rc;

	/* every pack is numbered in the first pass, before any location names it */
	if ((rc = c->intern(c->iarg, p->id, &num)) != 0)
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
			rc = collect_pack(c, &packs[k]);
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

/* ---- writing ---- */

struct wr {
	struct env *e;
	MDB_txn *t;
	MDB_cursor *c; /* on blobs, for appends; opened when first needed */
	size_t pending;
	unsigned ops; /* writes since the last trim_map() */
};

/*
 * On every fault in a file mapping the kernel also maps up to 16 neighbouring pages that are
 * cached ("fault-around"), so each random lookup would add up to 64 KiB to this process's
 * RSS: clean page cache, shared and reclaimable, but counted, and a backup looks up every
 * chunk. Unmapping what this process has mapped (the pages stay cached; a later read faults
 * them in again) keeps the count to what the last few lookups touched.
 */
static void
trim_map(const struct env *e)
{
	MDB_envinfo info;
	MDB_stat st;

	if (e->map == NULL || mdb_env_info(e->env, &info) != 0 || mdb_env_stat(e->env, &st) != 0)
		return;
	(void)madvise(e->map, ((size_t)info.me_last_pgno + 1) * st.ms_psize, MADV_DONTNEED);
}

/*
 * LMDB does not say where it mapped the file (mdb_env_info() only with MDB_FIXEDMAP), but a
 * value read through a read-only transaction lies in its page inside the map, and every page
 * starts with its own number (LMDB's page header): the map starts that many pages earlier.
 */
static void
find_map(struct env *e)
{
	MDB_val key = mval("coffer", 6);
	MDB_envinfo info;
	MDB_txn *t = NULL;
	MDB_stat st;
	MDB_val val;
	uintptr_t page;
	size_t pgno = 0;

	if (e->map != NULL || mdb_env_info(e->env, &info) != 0 || mdb_env_stat(e->env, &st) != 0 ||
	    mdb_txn_begin(e->env, NULL, MDB_RDONLY, &t) != 0)
		return;
	if (mdb_get(t, e->meta, &key, &val) == 0) {
		page = (uintptr_t)val.mv_data & ~((uintptr_t)st.ms_psize - 1);
		memcpy(&pgno, (const void *)page, sizeof(pgno));
		if (pgno >= 2 && pgno <= info.me_last_pgno && pgno * st.ms_psize <= page)
			e->map = (void *)(page - pgno * st.ms_psize);
	}
	mdb_txn_abort(t);
}

static int
wr_begin(struct wr *w)
{
	int mrc = mdb_txn_begin(w->e->env, NULL, 0, &w->t);

	w->pending = 0;
	if (mrc != 0) {
		w->t = NULL;
		return db_err(w->e, mrc, "cannot begin a write");
	}
	return 0;
}

static int
wr_commit(struct wr *w)
{
	int mrc;

	if (w->c != NULL)
		mdb_cursor_close(w->c);
	w->c = NULL;
	mrc = mdb_txn_commit(w->t);
	w->t = NULL;
	return mrc != 0 ? db_err(w->e, mrc, "cannot commit") : 0;
}

static void
wr_abort(struct wr *w)
{
	if (w->c != NULL)
		mdb_cursor_close(w->c);
	if (w->t != NULL)
		mdb_txn_abort(w->t);
	w->c = NULL;
	w->t = NULL;
}

/* Count one change; commit every CF_IXDB_BATCH so a writer never holds the whole index. */
static int
wr_step(struct wr *w)
{
	int rc;

	if (++w->pending < CF_IXDB_BATCH)
		return 0;
	if ((rc = wr_commit(w)) != 0)
		return rc;
	return wr_begin(w);
}

static int
wr_put(struct wr *w, MDB_dbi dbi, const void *k, size_t klen, const void *v, size_t vlen)
{
	MDB_val key = mval(k, klen);
	MDB_val val = mval(v, vlen);
	int mrc = mdb_put(w->t, dbi, &key, &val, 0);

	/* an identical location already present (another index object names it) */
	return mrc == 0 || mrc == MDB_KEYEXIST ? 0 : db_err(w->e, mrc, "cannot write");
}

static int
set_state(struct wr *w, const uint8_t id[static CF_ID_BYTES], uint8_t state)
{
	return wr_put(w, w->e->objs, id, CF_ID_BYTES, &state, 1);
}

/* The number of pack @pack, numbered next when new. */
static int
intern_db(void *arg, const uint8_t pack[static CF_ID_BYTES], uint32_t *num)
{
	struct wr *w = arg;
	MDB_val key = mval(pack, CF_ID_BYTES);
	MDB_val val;
	MDB_stat st;
	uint8_t nb[4];
	int mrc = mdb_get(w->t, w->e->packs, &key, &val);
	int rc;

	if (mrc == 0 && val.mv_size == 4) {
		*num = get_be32(val.mv_data);
		return 0;
	}
	if (mrc != MDB_NOTFOUND)
		return db_err(w->e, mrc == 0 ? MDB_CORRUPTED : mrc, "cannot read a pack number");
	if ((mrc = mdb_stat(w->t, w->e->packids, &st)) != 0)
		return db_err(w->e, mrc, "cannot count packs");
	if (st.ms_entries >= UINT32_MAX)
		return db_err(w->e, MDB_MAP_FULL, "too many packs");
	*num = (uint32_t)st.ms_entries;
	put_be32(nb, *num);
	if ((rc = wr_put(w, w->e->packs, pack, CF_ID_BYTES, nb, 4)) != 0)
		return rc;
	return wr_put(w, w->e->packids, nb, 4, pack, CF_ID_BYTES);
}

/* Add the sorted locations of one part after everything already in blobs. */
static int
append_recs(struct wr *w, const struct collect *c)
{
	for (size_t i = 0; i < c->n; i++) {
		bool dup = i > 0 && memcmp(c->v[i].id, c->v[i - 1].id, CF_ID_BYTES) == 0;
		MDB_val key = mval(c->v[i].id, CF_ID_BYTES);
		MDB_val val = mval(c->v[i].val, VAL_BYTES);
		int mrc;
		int rc;

		if (w->c == NULL && (mrc = mdb_cursor_open(w->t, w->e->blobs, &w->c)) != 0)
			return db_err(w->e, mrc, "cannot open a cursor");
		/* a new id goes at the end (full pages, no search); a second location is rare */
		if ((mrc = mdb_cursor_put(w->c, &key, &val, dup ? 0 : MDB_APPEND)) != 0)
			return db_err(w->e, mrc, "cannot append");
		if ((rc = wr_step(w)) != 0)
			return rc;
	}
	return 0;
}

/* Empty the file and record every listed object as being added, in one transaction. */
static int
reset(struct wr *w, const uint8_t repo_id[static 32], const struct names *ns)
{
	const MDB_dbi dbis[] = {w->e->objs, w->e->packs, w->e->packids, w->e->blobs};
	uint8_t meta[META_BYTES];
	int rc;

	for (size_t i = 0; i < CF_ARRAY_LEN(dbis); i++) {
		int mrc = mdb_drop(w->t, dbis[i], 0);

		if (mrc != 0)
			return db_err(w->e, mrc, "cannot empty");
	}
	encode_meta(meta, repo_id);
	if ((rc = wr_put(w, w->e->meta, "coffer", 6, meta, sizeof(meta))) != 0)
		return rc;
	for (size_t i = 0; i < ns->n; i++)
		if ((rc = set_state(w, ns->v[i].id, STATE_ADDING)) != 0)
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
static int
build_full(struct env *e, const uint8_t repo_id[static 32], struct names *ns,
           const struct cf_ixdb_source *src)
{
	struct wr w = {e, NULL, NULL, 0, 0};
	struct collect c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.src = src;
	c.ns = ns;
	plan_passes(&c, ns->bytes);
	c.intern = intern_db;
	c.iarg = &w;
	if ((rc = wr_begin(&w)) != 0 || (rc = reset(&w, repo_id, ns)) != 0 ||
	    (rc = wr_commit(&w)) != 0)
		goto out;
	find_map(e);
	for (c.part = 0; c.part < (1u << (8 - c.shift)); c.part++) {
		if ((rc = wr_begin(&w)) != 0 || (rc = collect_all(&c)) != 0)
			goto out;
		sort_recs(&c);
		if ((rc = append_recs(&w, &c)) != 0 || (rc = wr_commit(&w)) != 0)
			goto out;
		trim_map(e);
	}
	if ((rc = wr_begin(&w)) != 0)
		goto out;
	for (size_t i = 0; i < ns->n && rc == 0; i++)
		if (!ns->v[i].skip)
			rc = set_state(&w, ns->v[i].id, STATE_DONE);
	if (rc == 0)
		rc = wr_commit(&w);
out:
	wr_abort(&w);
	cf_free(c.v);
	return rc;
}

/* Add one object: recorded first, its locations in batches, then marked complete. */
static int
add_one(struct wr *w, const struct cf_ixdb_source *src, const struct name *nm)
{
	char hex[2 * CF_ID_BYTES + 1];
	struct cf_index_pack *packs = NULL;
	size_t npacks = 0;
	uint8_t val[VAL_BYTES];
	int rc;

	cf_hex(hex, nm->id, CF_ID_BYTES);
	if ((rc = src->read(src->arg, hex, &packs, &npacks)) != 0)
		return rc == CF_ENOENT ? 0 : rc;
	rc = set_state(w, nm->id, STATE_ADDING);
	for (size_t i = 0; i < npacks && rc == 0; i++) {
		uint32_t num = 0;

		rc = intern_db(w, packs[i].id, &num);
		for (size_t k = 0; k < packs[i].count && rc == 0; k++) {
			encode_val(val, num, &packs[i].entries[k]);
			if ((rc = wr_put(w, w->e->blobs, packs[i].entries[k].id, CF_ID_BYTES, val,
			                 VAL_BYTES)) == 0)
				rc = wr_step(w);
			if (++w->ops % TRIM_EVERY == 0)
				trim_map(w->e); /* random inserts read pages as lookups do */
		}
	}
	if (rc == 0)
		rc = set_state(w, nm->id, STATE_DONE);
	cf_index_packs_free(packs, npacks);
	return rc;
}

static int
add_needed(struct env *e, const struct names *ns, const struct cf_ixdb_source *src)
{
	struct wr w = {e, NULL, NULL, 0, 0};
	int rc = wr_begin(&w);

	for (size_t i = 0; i < ns->n && rc == 0; i++)
		if (ns->v[i].need)
			rc = add_one(&w, src, &ns->v[i]);
	if (rc == 0)
		rc = wr_commit(&w);
	wr_abort(&w);
	return rc;
}

/* ---- bringing the file up to date ---- */

static bool
meta_ok(const struct env *e, MDB_txn *t, const uint8_t repo_id[static 32])
{
	uint8_t want[META_BYTES];
	MDB_val key = mval("coffer", 6);
	MDB_val val;

	encode_meta(want, repo_id);
	return mdb_get(t, e->meta, &key, &val) == 0 && val.mv_size == sizeof(want) &&
	       memcmp(val.mv_data, want, sizeof(want)) == 0;
}

/*
 * Walk the recorded objects beside the sorted listing: mark what is not recorded as
 * complete, *@gone when a recorded object is not listed, *@work the bytes to add.
 */
static int
diff_names(const struct env *e, MDB_txn *t, struct names *ns, bool *gone, uint64_t *work)
{
	MDB_cursor *c = NULL;
	MDB_val key;
	MDB_val val;
	size_t i = 0;
	int mrc;

	*gone = false;
	*work = 0;
	if ((mrc = mdb_cursor_open(t, e->objs, &c)) != 0)
		return db_err(e, mrc, "cannot open a cursor");
	for (mrc = mdb_cursor_get(c, &key, &val, MDB_FIRST); mrc == 0 && !*gone;
	     mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		while (key.mv_size == CF_ID_BYTES && i < ns->n &&
		       memcmp(ns->v[i].id, key.mv_data, CF_ID_BYTES) < 0)
			i++;
		if (key.mv_size != CF_ID_BYTES || i == ns->n ||
		    memcmp(ns->v[i].id, key.mv_data, CF_ID_BYTES) != 0) {
			*gone = true;
			break;
		}
		ns->v[i].need = val.mv_size != 1 || ((const uint8_t *)val.mv_data)[0] != STATE_DONE;
		i++;
	}
	mdb_cursor_close(c);
	if (mrc != 0 && mrc != MDB_NOTFOUND)
		return db_err(e, mrc, "cannot read the objects");
	for (i = 0; i < ns->n; i++)
		if (ns->v[i].need)
			*work += ns->v[i].size;
	return 0;
}

static int
sync_env(struct env *e, const uint8_t repo_id[static 32], const struct cf_ixdb_source *src)
{
	struct names ns = {NULL, 0, 0, 0};
	MDB_txn *t = NULL;
	uint64_t work = 0;
	bool gone = false;
	bool ok = false;
	int mrc;
	int rc;

	if ((rc = list_names(src, &ns)) != 0)
		goto out;
	if ((mrc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &t)) != 0) {
		rc = db_err(e, mrc, "cannot begin a read");
		goto out;
	}
	if ((ok = meta_ok(e, t, repo_id)) && (rc = diff_names(e, t, &ns, &gone, &work)) != 0)
		goto out;
	mdb_txn_abort(t);
	t = NULL;
	if (ok && !gone && work == 0)
		goto out;
	if (e->rdonly) {
		errno = 0;
		rc = cf_err_set(CF_ESYS, "chunk index cache '%s' is read-only and out of date",
		                e->path);
	} else if (!ok || gone || work > ns.bytes / 4) {
		/* foreign, older, replaced objects, or mostly new: cheaper to rebuild sorted */
		rc = build_full(e, repo_id, &ns, src);
	} else {
		rc = add_needed(e, &ns, src);
	}
out:
	if (t != NULL)
		mdb_txn_abort(t);
	cf_free(ns.v);
	return rc;
}

/* ---- the environment ---- */

/* A file LMDB cannot use, or shorter than its last page (reading there would fault). */
static bool
damaged(int mrc)
{
	return mrc == MDB_INVALID || mrc == MDB_VERSION_MISMATCH || mrc == MDB_CORRUPTED ||
	       mrc == MDB_PAGE_NOTFOUND;
}

static int
check_size(MDB_env *env)
{
	MDB_envinfo info;
	MDB_stat st;
	struct stat sb;
	int fd = -1;

	if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &st) != 0 ||
	    mdb_env_get_fd(env, &fd) != 0 || fstat(fd, &sb) != 0 || sb.st_size < 0)
		return MDB_INVALID;
	if ((uint64_t)sb.st_size < ((uint64_t)info.me_last_pgno + 1) * st.ms_psize)
		return MDB_INVALID;
	return 0;
}

static int
open_dbis(struct env *e)
{
	unsigned c = e->rdonly ? 0 : MDB_CREATE;
	MDB_txn *t = NULL;
	int mrc;

	if ((mrc = mdb_txn_begin(e->env, NULL, e->rdonly ? MDB_RDONLY : 0, &t)) != 0)
		return mrc;
	if ((mrc = mdb_dbi_open(t, "meta", c, &e->meta)) != 0 ||
	    (mrc = mdb_dbi_open(t, "objects", c, &e->objs)) != 0 ||
	    (mrc = mdb_dbi_open(t, "packs", c, &e->packs)) != 0 ||
	    (mrc = mdb_dbi_open(t, "packids", c, &e->packids)) != 0 ||
	    (mrc = mdb_dbi_open(t, "blobs", c | MDB_DUPSORT | MDB_DUPFIXED, &e->blobs)) != 0) {
		mdb_txn_abort(t);
		return mrc;
	}
	return mdb_txn_commit(t);
}

static int
env_start(struct env *e, unsigned flags)
{
	unsigned all = flags | MDB_NOSUBDIR | MDB_NOTLS | MDB_NORDAHEAD;
	int mrc;

	if ((mrc = mdb_env_create(&e->env)) != 0) {
		e->env = NULL;
		return mrc;
	}
	/* MDB_NORDAHEAD: lookups are random; read-ahead would only fill memory */
	if ((mrc = mdb_env_set_mapsize(e->env, MAP_BYTES)) != 0 ||
	    (mrc = mdb_env_set_maxdbs(e->env, NDBS)) != 0 ||
	    (mrc = mdb_env_open(e->env, e->path, all, 0600)) != 0 ||
	    (mrc = check_size(e->env)) != 0 || (mrc = open_dbis(e)) != 0) {
		mdb_env_close(e->env);
		e->env = NULL;
	}
	return mrc;
}

static void
remove_files(const struct env *e)
{
	size_t n = strlen(e->path) + sizeof("-lock");
	char *lock = cf_malloc(n);

	(void)unlink(e->path);
	if (lock != NULL) {
		memcpy(lock, e->path, n - sizeof("-lock"));
		memcpy(lock + n - sizeof("-lock"), "-lock", sizeof("-lock"));
		(void)unlink(lock);
	}
	cf_free(lock);
}

/* Open the file once per process; a damaged one is replaced, a read-only one read. */
static int
env_open(struct env *e)
{
	int dead = 0;
	int mrc;

	if (e->env != NULL)
		return 0;
	mrc = env_start(e, 0);
	if (mrc == EACCES || mrc == EROFS) {
		e->rdonly = true;
		mrc = env_start(e, MDB_RDONLY);
	} else if (damaged(mrc)) {
		remove_files(e); /* a cache: rebuilt below */
		mrc = env_start(e, 0);
	}
	if (mrc != 0)
		return db_err(e, mrc, "cannot open");
	(void)mdb_reader_check(e->env, &dead); /* reader slots of processes that died */
	find_map(e);
	return 0;
}

static int
env_get(const char *path, struct env **out)
{
	struct env *e = NULL;
	int rc = 0;

	pthread_mutex_lock(&envs_lock);
	for (e = envs; e != NULL && strcmp(e->path, path) != 0; e = e->next)
		;
	if (e == NULL) {
		if ((e = cf_calloc(1, sizeof(*e))) == NULL ||
		    (e->path = cf_memdup(path, strlen(path) + 1)) == NULL ||
		    pthread_mutex_init(&e->sync, NULL) != 0) {
			if (e != NULL)
				cf_free(e->path);
			cf_free(e);
			e = NULL;
			rc = CF_ENOMEM;
		} else {
			e->next = envs;
			envs = e;
		}
	}
	if (e != NULL)
		e->refs++;
	pthread_mutex_unlock(&envs_lock);
	*out = e;
	return rc;
}

static void
env_put(struct env *e)
{
	struct env **pp = NULL;

	pthread_mutex_lock(&envs_lock);
	if (--e->refs > 0) {
		pthread_mutex_unlock(&envs_lock);
		return;
	}
	for (pp = &envs; *pp != e; pp = &(*pp)->next)
		;
	*pp = e->next;
	pthread_mutex_unlock(&envs_lock);
	if (e->env != NULL)
		mdb_env_close(e->env);
	pthread_mutex_destroy(&e->sync);
	cf_free(e->path);
	cf_free(e);
}

/* Serialise updates between processes: "<path>-sync", read-locked when not writable. */
static int
lock_sync(const char *path, int *fd)
{
	size_t n = strlen(path) + sizeof("-sync");
	char *lp = cf_malloc(n);
	struct flock fl;
	int rc = 0;

	*fd = -1;
	if (lp == NULL)
		return CF_ENOMEM;
	memcpy(lp, path, n - sizeof("-sync"));
	memcpy(lp + n - sizeof("-sync"), "-sync", sizeof("-sync"));
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if ((*fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 &&
	    (errno == EACCES || errno == EROFS)) {
		*fd = open(lp, O_RDONLY | O_CLOEXEC);
		fl.l_type = F_RDLCK;
	}
	if (*fd < 0) {
		rc = cf_err_set(CF_ESYS, "cannot open '%s'", lp);
		goto out;
	}
	while (fcntl(*fd, F_SETLKW, &fl) != 0) {
		if (errno != EINTR) {
			rc = cf_err_set(CF_ESYS, "cannot lock '%s'", lp);
			(void)close(*fd);
			*fd = -1;
			break;
		}
	}
out:
	cf_free(lp);
	return rc;
}

/* The read snapshot every lookup of this handle uses. */
static int
take_snapshot(struct cf_ixdb *db)
{
	int mrc;

	if ((mrc = mdb_txn_begin(db->e->env, NULL, MDB_RDONLY, &db->txn)) != 0) {
		db->txn = NULL;
		return db_err(db->e, mrc, "cannot begin a read");
	}
	if ((mrc = mdb_cursor_open(db->txn, db->e->blobs, &db->cur)) != 0) {
		db->cur = NULL;
		return db_err(db->e, mrc, "cannot open a cursor");
	}
	return 0;
}

static int
ixdb_new(struct cf_ixdb **out)
{
	struct cf_ixdb *db = cf_calloc(1, sizeof(*db));

	*out = NULL;
	if (db == NULL)
		return CF_ENOMEM;
	if (pthread_mutex_init(&db->lock, NULL) != 0) {
		cf_free(db);
		return CF_ENOMEM;
	}
	*out = db;
	return 0;
}

int
cf_ixdb_open(const char *path, const uint8_t repo_id[static 32], const struct cf_ixdb_source *src,
             struct cf_ixdb **out)
{
	struct cf_ixdb *db = NULL;
	int fd = -1;
	int rc;

	*out = NULL;
	if ((rc = ixdb_new(&db)) != 0)
		return rc;
	if ((rc = env_get(path, &db->e)) != 0)
		goto out;
	pthread_mutex_lock(&db->e->sync);
	if ((rc = lock_sync(path, &fd)) == 0 && (rc = env_open(db->e)) == 0 &&
	    (rc = sync_env(db->e, repo_id, src)) == 0)
		rc = take_snapshot(db);
	if (rc == 0) {
		find_map(db->e);
		trim_map(db->e);
	}
	if (fd >= 0)
		(void)close(fd); /* releases the lock */
	pthread_mutex_unlock(&db->e->sync);
	if (rc == 0) {
		*out = db;
		db = NULL;
	}
out:
	cf_ixdb_free(db);
	return rc;
}

/* ---- in memory ---- */

static int
intern_mem(void *arg, const uint8_t pack[static CF_ID_BYTES], uint32_t *num)
{
	return cf_index_intern(arg, pack, num);
}

int
cf_ixdb_load(const struct cf_ixdb_source *src, struct cf_ixdb **out)
{
	struct names ns = {NULL, 0, 0, 0};
	struct cf_ixdb *db = NULL;
	struct collect c;
	int rc;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	if ((rc = ixdb_new(&db)) != 0)
		return rc;
	if ((rc = cf_index_new(&db->packs)) != 0 || (rc = list_names(src, &ns)) != 0)
		goto out;
	c.src = src;
	c.ns = &ns;
	c.shift = 8;
	c.reserve = 4096;
	c.intern = intern_mem;
	c.iarg = db->packs;
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
		uint32_t num = decode_val(db->v[lo].val, &loc.e);

		if (*n >= cap)
			continue;
		memcpy(loc.pack, cf_index_pack_id(db->packs, num), CF_ID_BYTES);
		memcpy(loc.e.id, id, CF_ID_BYTES);
		v[*n] = loc;
	}
}

/* ---- lookups ---- */

bool
cf_ixdb_on_disk(const struct cf_ixdb *db)
{
	return db->e != NULL;
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
	put_be32(nb, decode_val(val->mv_data, &loc->e));
	key = mval(nb, sizeof(nb));
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
	MDB_val key = mval(id, CF_ID_BYTES);
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
		trim_map(db->e);
	pthread_mutex_unlock(&db->lock);
	return mrc == MDB_NOTFOUND ? 0 : db_err(db->e, mrc, "cannot read a location");
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
	return mrc == MDB_NOTFOUND ? 0 : db_err(db->e, mrc, "cannot list the packs");
}

void
cf_ixdb_free(struct cf_ixdb *db)
{
	if (db == NULL)
		return;
	if (db->cur != NULL)
		mdb_cursor_close(db->cur);
	if (db->txn != NULL)
		mdb_txn_abort(db->txn);
	if (db->e != NULL)
		env_put(db->e);
	cf_free(db->v);
	cf_index_free(db->packs);
	pthread_mutex_destroy(&db->lock);
	cf_free(db);
}
