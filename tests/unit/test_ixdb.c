/*
 * test_ixdb.c - the chunk index (src/index/index_db.c): on disk (LMDB) and in memory, over a
 * fake source of index objects. Round trips, several locations of one blob, the preference
 * for packs no prune condemned (cf_repo_lookup), incremental updates, objects that disappear
 * (taken out with the packs only they name, or a rebuild when most of the file goes), rebuilds
 * when the file is foreign, older, damaged or garbage, errors of the source, a build in many
 * passes, and snapshots that later writers do not change. After every update the file is
 * compared with one built from scratch over the same objects.
 */
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "harness.h"
#include "index/index.h"
#include "repo/repo.h"

#define MAX_OBJS 32

/* A fake store of index objects: object i is listed unless gone, read unless bad. */
struct fake {
	struct cf_index_pack *packs[MAX_OBJS];
	size_t npacks[MAX_OBJS];
	uint8_t name[MAX_OBJS][CF_ID_BYTES];
	bool gone[MAX_OBJS];
	bool bad[MAX_OBJS];
	uint64_t osize[MAX_OBJS]; /* the size object i is listed with, when not 0 */
	size_t n;
	uint64_t size; /* the size every other listing reports (0: as if real) */
	size_t reads;
};

static int
fake_list(void *arg, int (*fn)(void *fnarg, const char *name, uint64_t size), void *fnarg)
{
	struct fake *f = arg;
	char hex[2 * CF_ID_BYTES + 1];
	int rc;

	for (size_t i = 0; i < f->n; i++) {
		if (f->gone[i])
			continue;
		cf_hex(hex, f->name[i], CF_ID_BYTES);
		if ((rc = fn(fnarg, hex,
		             f->osize[i] != 0 ? f->osize[i]
		             : f->size != 0   ? f->size
		                              : 64 + 46 * f->packs[i][0].count)) != 0)
			return rc;
	}
	return fn(fnarg, "not-an-index-name", 1); /* skipped */
}

static int
fake_read(void *arg, const char *name, struct cf_index_pack **packs, size_t *npacks)
{
	struct fake *f = arg;
	uint8_t id[CF_ID_BYTES];

	*packs = NULL;
	*npacks = 0;
	if (cf_unhex(id, sizeof(id), name, strlen(name)) != 0)
		return CF_EINTERNAL;
	for (size_t i = 0; i < f->n; i++) {
		struct cf_index_pack *v = NULL;

		if (memcmp(f->name[i], id, CF_ID_BYTES) != 0)
			continue;
		if (f->gone[i])
			return CF_ENOENT;
		if (f->bad[i])
			return CF_EINTEGRITY;
		f->reads++;
		if ((v = cf_calloc(f->npacks[i], sizeof(*v))) == NULL)
			return CF_ENOMEM;
		for (size_t k = 0; k < f->npacks[i]; k++) {
			v[k] = f->packs[i][k];
			v[k].entries = cf_memdup(f->packs[i][k].entries,
			                         v[k].count * sizeof(*v[k].entries));
		}
		*packs = v;
		*npacks = f->npacks[i];
		return 0;
	}
	return CF_ENOENT;
}

/* Add to object @i one pack (id byte @pb) of @count blobs with ids from @first. */
static void
fake_add_pack(struct fake *f, size_t i, uint8_t pb, uint32_t first, size_t count)
{
	struct cf_index_pack *v = realloc(f->packs[i], (f->npacks[i] + 1) * sizeof(*v));
	struct cf_index_pack *p = NULL;

	if (v == NULL)
		abort();
	f->packs[i] = v;
	p = &v[f->npacks[i]++];
	memset(p, 0, sizeof(*p));
	memset(p->id, pb, CF_ID_BYTES);
	p->count = count;
	p->len = 1u << 30;
	p->entries = calloc(count, sizeof(*p->entries));
	for (size_t k = 0; k < count; k++) {
		struct cf_pack_entry *e = &p->entries[k];
		uint32_t x = first + (uint32_t)k;

		/* spread over the id space (first byte varies), unique per x */
		e->id[0] = (uint8_t)(x * 37u);
		memcpy(e->id + 1, &x, sizeof(x));
		e->type = 1;
		e->comp = pb & 1;
		e->offset = 116 + (uint32_t)k * 100;
		e->stored_len = 100;
		e->raw_len = 60 + pb;
	}
}

/* Object i: one pack (id byte @pb) of @count blobs with ids from @first; returns i. */
static size_t
fake_add(struct fake *f, uint8_t pb, uint32_t first, size_t count)
{
	size_t i = f->n++;

	CHECK(i < MAX_OBJS);
	if (i >= MAX_OBJS)
		abort();
	fake_add_pack(f, i, pb, first, count);
	th_randbuf(f->name[i], CF_ID_BYTES);
	return i;
}

static void
fake_release(struct fake *f)
{
	for (size_t i = 0; i < f->n; i++) {
		for (size_t k = 0; k < f->npacks[i]; k++)
			free(f->packs[i][k].entries);
		free(f->packs[i]);
	}
}

static void
blob_id(uint32_t x, uint8_t id[static CF_ID_BYTES])
{
	memset(id, 0, CF_ID_BYTES);
	id[0] = (uint8_t)(x * 37u);
	memcpy(id + 1, &x, sizeof(x));
}

struct tmp {
	char dir[64];
	char path[128];
};

static void
tmp_init(struct tmp *t)
{
	(void)snprintf(t->dir, sizeof(t->dir), "/tmp/cf_ixdb.XXXXXX");
	CHECK(mkdtemp(t->dir) != NULL);
	(void)snprintf(t->path, sizeof(t->path), "%s/index.lmdb", t->dir);
}

static void
tmp_release(struct tmp *t)
{
	static const char *const sfx[] = {"", "-lock", "-sync"};
	char p[160];

	for (size_t i = 0; i < 3; i++) {
		(void)snprintf(p, sizeof(p), "%s%s", t->path, sfx[i]);
		(void)unlink(p);
	}
	(void)rmdir(t->dir);
}

static const uint8_t repo_a[32] = {1};
static const uint8_t repo_b[32] = {2};

static struct cf_ixdb *
open_db(const char *path, const uint8_t *repo, struct fake *f)
{
	struct cf_ixdb_source src = {fake_list, fake_read, f};
	struct cf_ixdb *db = NULL;

	CHECK_EQ(cf_ixdb_open(path, repo, &src, &db), 0);
	CHECK(db != NULL && cf_ixdb_on_disk(db));
	return db;
}

/* Blob x has exactly @n locations, one of them in pack byte @pb, as fake_add() made it. */
static void
expect_locs(struct cf_ixdb *db, uint32_t x, size_t n, uint8_t pb)
{
	struct cf_blob_loc v[4];
	uint8_t id[CF_ID_BYTES];
	size_t got = 99;
	size_t i = 0;

	blob_id(x, id);
	CHECK_EQ(cf_ixdb_locs(db, id, v, 4, &got), 0);
	CHECK_EQ(got, n);
	if (got == 0 || n == 0 || got > 4)
		return;
	while (i < got && v[i].pack[0] != pb)
		i++;
	CHECK(i < got);
	if (i == got)
		return;
	CHECK(memcmp(v[i].e.id, id, CF_ID_BYTES) == 0);
	CHECK_EQ(v[i].e.stored_len, 100u);
	CHECK_EQ(v[i].e.raw_len, 60u + pb);
	CHECK_EQ(v[i].e.comp, pb & 1);
}

static int
count_pack(void *arg, const uint8_t pack[static CF_ID_BYTES])
{
	size_t *n = arg;

	(void)pack;
	(*n)++;
	return 0;
}

static size_t
npacks(struct cf_ixdb *db)
{
	size_t n = 0;

	CHECK_EQ(cf_ixdb_each_pack(db, count_pack, &n), 0);
	return n;
}

/* ---- comparing a file with one built from scratch ---- */

static int
loc_cmp(const void *a, const void *b)
{
	const struct cf_blob_loc *x = a;
	const struct cf_blob_loc *y = b;
	int c = memcmp(x->pack, y->pack, CF_ID_BYTES);

	if (c != 0)
		return c;
	return x->e.offset < y->e.offset ? -1 : x->e.offset > y->e.offset;
}

/* The locations of blob @x, sorted by pack id and offset (the order follows pack numbers). */
static size_t
sorted_locs(struct cf_ixdb *db, uint32_t x, struct cf_blob_loc v[static 8])
{
	uint8_t id[CF_ID_BYTES];
	size_t n = 0;

	blob_id(x, id);
	CHECK_EQ(cf_ixdb_locs(db, id, v, 8, &n), 0);
	CHECK(n <= 8);
	if (n > 8)
		n = 8;
	qsort(v, n, sizeof(*v), loc_cmp);
	return n;
}

static bool
same_loc(const struct cf_blob_loc *a, const struct cf_blob_loc *b)
{
	return memcmp(a->pack, b->pack, CF_ID_BYTES) == 0 &&
	       memcmp(a->e.id, b->e.id, CF_ID_BYTES) == 0 && a->e.offset == b->e.offset &&
	       a->e.stored_len == b->e.stored_len && a->e.raw_len == b->e.raw_len &&
	       a->e.type == b->e.type && a->e.comp == b->e.comp;
}

struct pack_set {
	uint8_t v[64][CF_ID_BYTES];
	size_t n;
};

static int
note_pack(void *arg, const uint8_t pack[static CF_ID_BYTES])
{
	struct pack_set *s = arg;

	CHECK(s->n < 64);
	if (s->n < 64)
		memcpy(s->v[s->n++], pack, CF_ID_BYTES);
	return 0;
}

static int
id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CF_ID_BYTES);
}

static void
pack_set(struct cf_ixdb *db, struct pack_set *s)
{
	s->n = 0;
	CHECK_EQ(cf_ixdb_each_pack(db, note_pack, s), 0);
	qsort(s->v, s->n, CF_ID_BYTES, id_cmp);
}

/* Entries in each database of the file at @path (the file must not be open here). */
static const char *const db_names[] = {"meta",  "objects", "objpacks",  "packobjs",
                                       "packs", "packids", "packblobs", "blobs"};

static void
db_counts(const char *path, size_t counts[static 8])
{
	MDB_env *env = NULL;
	MDB_txn *t = NULL;

	memset(counts, 0, 8 * sizeof(*counts));
	CHECK_EQ(mdb_env_create(&env), 0);
	CHECK_EQ(mdb_env_set_maxdbs(env, 8), 0);
	CHECK_EQ(mdb_env_open(env, path, MDB_RDONLY | MDB_NOSUBDIR, 0600), 0);
	CHECK_EQ(mdb_txn_begin(env, NULL, MDB_RDONLY, &t), 0);
	for (size_t i = 0; i < 8 && t != NULL; i++) {
		MDB_dbi dbi;
		MDB_stat st;

		CHECK_EQ(mdb_dbi_open(t, db_names[i], 0, &dbi), 0);
		CHECK_EQ(mdb_stat(t, dbi, &st), 0);
		counts[i] = st.ms_entries;
	}
	mdb_txn_abort(t);
	mdb_env_close(env);
}

/*
 * The file at @path (brought up to date by the caller, not open) holds what a file built
 * from scratch over the objects of @f holds: every blob below @max_x has the same locations,
 * the same packs are named, and every database has as many entries. Restores f->reads.
 */
static void
expect_as_rebuilt(const char *path, struct fake *f, uint32_t max_x)
{
	struct pack_set *sa = calloc(2, sizeof(*sa));
	struct cf_ixdb *a = NULL;
	struct cf_ixdb *b = NULL;
	size_t ca[8];
	size_t cb[8];
	size_t reads = f->reads;
	struct tmp t2;

	if (sa == NULL)
		abort();
	tmp_init(&t2);
	a = open_db(path, repo_a, f);
	CHECK_EQ(f->reads, reads); /* up to date: nothing read */
	b = open_db(t2.path, repo_a, f);
	for (uint32_t x = 0; x < max_x; x++) {
		struct cf_blob_loc va[8];
		struct cf_blob_loc vb[8];
		size_t na = sorted_locs(a, x, va);
		size_t nb = sorted_locs(b, x, vb);

		CHECK_EQ(na, nb);
		for (size_t i = 0; i < na && i < nb; i++)
			CHECK(same_loc(&va[i], &vb[i]));
	}
	pack_set(a, &sa[0]);
	pack_set(b, &sa[1]);
	CHECK_EQ(sa[0].n, sa[1].n);
	CHECK(memcmp(sa[0].v, sa[1].v, sa[0].n * CF_ID_BYTES) == 0);
	cf_ixdb_free(a);
	cf_ixdb_free(b);
	db_counts(path, ca);
	db_counts(t2.path, cb);
	for (size_t i = 0; i < 8; i++) {
		if (ca[i] != cb[i])
			printf("# %s: %zu entries, %zu when rebuilt\n", db_names[i], ca[i], cb[i]);
		CHECK_EQ(ca[i], cb[i]);
	}
	tmp_release(&t2);
	free(sa);
	f->reads = reads;
}

CF_TEST(ixdb_round_trip_and_incremental)
{
	struct fake f;
	struct tmp t;
	struct cf_ixdb *db = NULL;

	memset(&f, 0, sizeof(f));
	f.size = 0;
	tmp_init(&t);
	fake_add(&f, 0xaa, 0, 300);
	fake_add(&f, 0xbb, 1000, 5);
	db = open_db(t.path, repo_a, &f);
	CHECK_EQ(f.reads, 2u);
	expect_locs(db, 0, 1, 0xaa);
	expect_locs(db, 299, 1, 0xaa);
	expect_locs(db, 1004, 1, 0xbb);
	expect_locs(db, 300, 0, 0);
	CHECK_EQ(npacks(db), 2u);
	cf_ixdb_free(db);
	/* nothing new: nothing read */
	db = open_db(t.path, repo_a, &f);
	CHECK_EQ(f.reads, 2u);
	expect_locs(db, 5, 1, 0xaa);
	cf_ixdb_free(db);
	/* one new object is added alone */
	fake_add(&f, 0xcc, 2000, 10);
	db = open_db(t.path, repo_a, &f);
	CHECK_EQ(f.reads, 3u);
	expect_locs(db, 2009, 1, 0xcc);
	expect_locs(db, 7, 1, 0xaa);
	CHECK_EQ(npacks(db), 3u);
	cf_ixdb_free(db);
	fake_release(&f);
	tmp_release(&t);
}

CF_TEST(ixdb_several_locations)
{
	struct fake f;
	struct tmp t;
	struct cf_ixdb *db = NULL;
	struct cf_ixdb_source src = {fake_list, fake_read, &f};
	struct cf_blob_loc v[1];
	uint8_t id[CF_ID_BYTES];
	size_t n = 0;

	memset(&f, 0, sizeof(f));
	f.size = 1000;
	tmp_init(&t);
	fake_add(&f, 0x20, 0, 50);
	fake_add(&f, 0x10, 40, 20); /* blobs 40..49 are in both packs */
	fake_add(&f, 0x10, 40, 20); /* the same locations again, in another object */
	db = open_db(t.path, repo_a, &f);
	expect_locs(db, 45, 2, 0x20);
	expect_locs(db, 45, 2, 0x10);
	expect_locs(db, 10, 1, 0x20);
	expect_locs(db, 55, 1, 0x10);
	/* a short array still counts every location */
	blob_id(41, id);
	CHECK_EQ(cf_ixdb_locs(db, id, v, 1, &n), 0);
	CHECK_EQ(n, 2u);
	cf_ixdb_free(db);
	/* the in-memory fallback answers the same */
	CHECK_EQ(cf_ixdb_load(&src, &db), 0);
	CHECK(!cf_ixdb_on_disk(db));
	expect_locs(db, 45, 2, 0x20);
	expect_locs(db, 45, 2, 0x10);
	expect_locs(db, 55, 1, 0x10);
	expect_locs(db, 1000, 0, 0);
	CHECK_EQ(npacks(db), 2u);
	cf_ixdb_free(db);
	fake_release(&f);
	tmp_release(&t);
}

CF_TEST(ixdb_lookup_prefers_packs_not_condemned)
{
	struct fake f;
	struct tmp t;
	struct cf_records rec;
	struct cf_repo r;
	struct cf_blob_loc loc;
	uint8_t id[CF_ID_BYTES];
	uint8_t pack[CF_ID_BYTES];
	uint8_t first = 0;
	uint8_t other = 0;

	memset(&f, 0, sizeof(f));
	memset(&rec, 0, sizeof(rec));
	memset(&r, 0, sizeof(r));
	f.size = 1000;
	tmp_init(&t);
	fake_add(&f, 0x20, 0, 10);
	fake_add(&f, 0x30, 5, 10);
	r.ixdb = open_db(t.path, repo_a, &f);
	r.rec = &rec;
	CHECK_EQ(cf_index_new(&rec.condemned), 0);
	/* blob 7 is in both packs; 0..4 only in 0x20, 10..14 only in 0x30 */
	blob_id(7, id);
	CHECK_EQ(cf_repo_lookup(&r, id, &loc), 0);
	first = loc.pack[0];
	other = first == 0x20 ? 0x30 : 0x20;
	CHECK(first == 0x20 || first == 0x30);
	CHECK(cf_repo_has_live(&r, id));
	/* the first pack condemned: the other copy */
	memset(pack, first, sizeof(pack));
	CHECK_EQ(cf_index_add_id(rec.condemned, pack), 0);
	CHECK_EQ(cf_repo_lookup(&r, id, &loc), 0);
	CHECK_EQ(loc.pack[0], other);
	CHECK(cf_repo_has_live(&r, id));
	/* a blob only in the condemned pack: still found (readers use it), but not live */
	blob_id(first == 0x20 ? 2 : 12, id);
	CHECK_EQ(cf_repo_lookup(&r, id, &loc), 0);
	CHECK_EQ(loc.pack[0], first);
	CHECK(!cf_repo_has_live(&r, id));
	/* both condemned: the first location */
	memset(pack, other, sizeof(pack));
	CHECK_EQ(cf_index_add_id(rec.condemned, pack), 0);
	blob_id(7, id);
	CHECK_EQ(cf_repo_lookup(&r, id, &loc), 0);
	CHECK_EQ(loc.pack[0], first);
	CHECK(!cf_repo_has_live(&r, id));
	blob_id(99, id);
	CHECK_EQ(cf_repo_lookup(&r, id, &loc), CF_ENOENT);
	cf_ixdb_free(r.ixdb);
	cf_index_free(rec.condemned);
	fake_release(&f);
	tmp_release(&t);
}

/* A third of the listed bytes gone: more than a quarter, cheaper to rebuild. */
CF_TEST(ixdb_rebuilds_when_much_disappears)
{
	struct fake f;
	struct tmp t;
	struct cf_ixdb *db = NULL;

	memset(&f, 0, sizeof(f));
	f.size = 1000;
	tmp_init(&t);
	fake_add(&f, 0xaa, 0, 10);
	fake_add(&f, 0xbb, 100, 10);
	fake_add(&f, 0xcc, 200, 10);
	cf_ixdb_free(open_db(t.path, repo_a, &f));
	f.gone[1] = true; /* a prune replaced it */
	f.reads = 0;
	db = open_db(t.path, repo_a, &f);
	CHECK_EQ(f.reads, 2u); /* rebuilt from the two left */
	expect_locs(db, 105, 0, 0);
	expect_locs(db, 5, 1, 0xaa);
	expect_locs(db, 205, 1, 0xcc);
	CHECK_EQ(npacks(db), 2u);
	cf_ixdb_free(db);
	expect_as_rebuilt(t.path, &f, 300);
	fake_release(&f);
	tmp_release(&t);
}

CF_TEST(ixdb_prune_takes_out_only_what_is_gone)
{
	struct fake f;
	struct tmp t;
	struct cf_ixdb *db = NULL;
	size_t o1;
	size_t o2;
	size_t o3;
	size_t o4;

	memset(&f, 0, sizeof(f));
	f.size = 1000;
	tmp_init(&t);
	o1 = fake_add(&f, 0x11, 0, 50); /* packs 0x11 (blobs 0..49) and 0x12 (50..99) */
	fake_add_pack(&f, o1, 0x12, 50, 50);
	o2 = fake_add(&f, 0x13, 100, 50);
	o3 = fake_add(&f, 0x14, 40, 20); /* blobs 40..59 also in 0x11 and 0x12 */
	o4 = fake_add(&f, 0x15, 200, 50);
	f.osize[o4] = 1u << 30; /* most of the listed bytes: removals stay incremental */
	cf_ixdb_free(open_db(t.path, repo_a, &f));
	/* a prune: o1 rewritten without 0x11 (o5 lists 0x12 again), o2 and 0x13 deleted */
	fake_add(&f, 0x12, 50, 50);
	fake_add(&f, 0x16, 300, 10); /* and a backup's new object */
	f.gone[o1] = f.gone[o2] = true;
	f.reads = 0;
	db = open_db(t.path, repo_a, &f);
	CHECK_EQ(f.reads, 2u);        /* the two new objects; nothing rebuilt */
	expect_locs(db, 10, 0, 0);    /* only in 0x11: gone */
	expect_locs(db, 45, 1, 0x14); /* 0x11's copy gone, 0x14's stays */
	expect_locs(db, 55, 2, 0x12); /* 0x12 still named (by o5): kept */
	expect_locs(db, 55, 2, 0x14);
	expect_locs(db, 99, 1, 0x12);
	expect_locs(db, 120, 0, 0); /* 0x13 gone with o2 */
	expect_locs(db, 249, 1, 0x15);
	expect_locs(db, 305, 1, 0x16);
	CHECK_EQ(npacks(db), 4u);
	cf_ixdb_free(db);
	expect_as_rebuilt(t.path, &f, 400);
	/* o3 goes too: blobs 40..59 keep only their 0x12 copies */
	f.gone[o3] = true;
	f.reads = 0;
	db = open_db(t.path, repo_a, &f);
	CHECK_EQ(f.reads, 0u);
	expect_locs(db, 45, 0, 0);
	expect_locs(db, 55, 1, 0x12);
	CHECK_EQ(npacks(db), 3u);
	cf_ixdb_free(db);
	expect_as_rebuilt(t.path, &f, 400);
	fake_release(&f);
	tmp_release(&t);
}

CF_TEST(ixdb_pack_named_with_other_entries_is_rebuilt)
{
	struct fake f;
	struct tmp t;
	struct cf_ixdb *db = NULL;
	size_t o1;

	memset(&f, 0, sizeof(f));
	f.size = 1000;
	tmp_init(&t);
	o1 = fake_add(&f, 0x21, 0, 30);
	fake_add(&f, 0x21, 0, 20); /* the same pack with fewer entries (a forged object) */
	f.osize[fake_add(&f, 0x22, 100, 10)] = 10000; /* one pass */
	cf_ixdb_free(open_db(t.path, repo_a, &f));
	expect_as_rebuilt(t.path, &f, 200);
	f.gone[o1] = true;
	f.reads = 0;
	db = open_db(t.path, repo_a, &f);
	CHECK_EQ(f.reads, 2u); /* rebuilt from the two left */
	expect_locs(db, 25, 0, 0);
	expect_locs(db, 5, 1, 0x21);
	cf_ixdb_free(db);
	expect_as_rebuilt(t.path, &f, 200);
	fake_release(&f);
	tmp_release(&t);
}

/* Random additions and removals, each update compared with a file built from scratch. */
CF_TEST(ixdb_updates_match_a_rebuild)
{
	struct fake f;
	struct tmp t;
	uint8_t spec_pb[64];
	uint32_t spec_first[64];
	size_t spec_count[64];
	size_t nspec = 0;

	memset(&f, 0, sizeof(f));
	f.size = 100;
	tmp_init(&t);
	f.osize[fake_add(&f, 0x30, 1000, 5)] = 1u << 20; /* stays: updates stay incremental */
	for (int step = 0; step < 12; step++) {
		size_t fresh = 0;

		for (int k = 0; k < 2 && f.n < MAX_OBJS; k++) {
			size_t o = f.n;
			bool old = nspec > 0 && th_rand() % 3 == 0;
			size_t sp = old ? (size_t)(th_rand() % nspec) : nspec++;

			if (!old) {
				spec_pb[sp] = (uint8_t)(0x40 + sp);
				spec_first[sp] = (uint32_t)(th_rand() % 500);
				spec_count[sp] = 1 + (size_t)(th_rand() % 40);
			}
			fake_add(&f, spec_pb[sp], spec_first[sp], spec_count[sp]);
			if (th_rand() % 2 == 0) {
				sp = nspec++;
				spec_pb[sp] = (uint8_t)(0x40 + sp);
				spec_first[sp] = (uint32_t)(th_rand() % 500);
				spec_count[sp] = 1 + (size_t)(th_rand() % 40);
				fake_add_pack(&f, o, spec_pb[sp], spec_first[sp], spec_count[sp]);
			}
			fresh++;
		}
		for (size_t i = 1; i < f.n - fresh; i++)
			if (!f.gone[i] && th_rand() % 4 == 0)
				f.gone[i] = true;
		f.reads = 0;
		cf_ixdb_free(open_db(t.path, repo_a, &f));
		CHECK_EQ(f.reads, fresh + (step == 0)); /* and the first object */
		expect_as_rebuilt(t.path, &f, 600);
	}
	fake_release(&f);
	tmp_release(&t);
}

CF_TEST(ixdb_older_version_is_rebuilt)
{
	struct fake f;
	struct tmp t;
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_val key = {6, (void *)(uintptr_t) "coffer"};
	MDB_val val;
	uint8_t meta[36];

	memset(&f, 0, sizeof(f));
	f.size = 1000;
	tmp_init(&t);
	fake_add(&f, 0xaa, 0, 10);
	fake_add(&f, 0xbb, 100, 10);
	cf_ixdb_free(open_db(t.path, repo_a, &f));
	/* the meta of a version 1 file */
	CHECK_EQ(mdb_env_create(&env), 0);
	CHECK_EQ(mdb_env_set_maxdbs(env, 8), 0);
	CHECK_EQ(mdb_env_open(env, t.path, MDB_NOSUBDIR, 0600), 0);
	CHECK_EQ(mdb_txn_begin(env, NULL, 0, &txn), 0);
	CHECK_EQ(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	CHECK_EQ(mdb_get(txn, dbi, &key, &val), 0);
	CHECK_EQ(val.mv_size, sizeof(meta));
	memcpy(meta, val.mv_data, sizeof(meta));
	CHECK_EQ(meta[3], CF_IXDB_VERSION);
	meta[3] = 1;
	val.mv_data = meta;
	CHECK_EQ(mdb_put(txn, dbi, &key, &val, 0), 0);
	CHECK_EQ(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	f.reads = 0;
	cf_ixdb_free(open_db(t.path, repo_a, &f));
	CHECK_EQ(f.reads, 2u);
	expect_as_rebuilt(t.path, &f, 200);
	fake_release(&f);
	tmp_release(&t);
}

/* Blob ids that share their first 8 bytes: P | @j | zeros. */
static void
prefix_ids(struct fake *f, size_t o, uint8_t first_j)
{
	for (size_t k = 0; k < f->packs[o][0].count; k++) {
		uint8_t *id = f->packs[o][0].entries[k].id;

		memset(id, 0, CF_ID_BYTES);
		memset(id, 0xee, 8);
		id[8] = (uint8_t)(first_j + k);
	}
}

/* The locations of blob P|@j; when there is one, it is in pack byte @pb. */
static size_t
nlocs_j(struct cf_ixdb *db, uint8_t j, uint8_t pb)
{
	struct cf_blob_loc v[4];
	uint8_t id[CF_ID_BYTES];
	size_t n = 99;

	memset(id, 0, sizeof(id));
	memset(id, 0xee, 8);
	id[8] = j;
	CHECK_EQ(cf_ixdb_locs(db, id, v, 4, &n), 0);
	if (n == 1)
		CHECK_EQ(v[0].pack[0], pb);
	return n;
}

/* A removal of more locations than one commit holds; blob ids that share their start. */
CF_TEST(ixdb_removal_in_many_commits)
{
	struct fake f;
	struct tmp t;
	struct cf_ixdb *db = NULL;
	size_t big;
	size_t col;

	memset(&f, 0, sizeof(f));
	f.size = 1000;
	tmp_init(&t);
	f.osize[fake_add(&f, 0x4f, 0, 10)] = 1u << 26;
	big = fake_add(&f, 0x50, 5000, 20000); /* 160000 changes to take out: 2 commits */
	col = fake_add(&f, 0x51, 900000, 4);   /* ids P|0 .. P|3 */
	prefix_ids(&f, col, 0);
	prefix_ids(&f, fake_add(&f, 0x52, 900100, 4), 2); /* P|2 .. P|5 */
	db = open_db(t.path, repo_a, &f);
	CHECK_EQ(nlocs_j(db, 0, 0x51), 1u);
	CHECK_EQ(nlocs_j(db, 3, 0), 2u);
	cf_ixdb_free(db);
	f.gone[big] = f.gone[col] = true;
	f.reads = 0;
	db = open_db(t.path, repo_a, &f);
	CHECK_EQ(f.reads, 0u);
	expect_locs(db, 5000, 0, 0);
	expect_locs(db, 24999, 0, 0);
	expect_locs(db, 9, 1, 0x4f);
	CHECK_EQ(nlocs_j(db, 0, 0), 0u);
	CHECK_EQ(nlocs_j(db, 1, 0), 0u);
	CHECK_EQ(nlocs_j(db, 2, 0x52), 1u); /* its copy in 0x52 stays */
	CHECK_EQ(nlocs_j(db, 3, 0x52), 1u);
	CHECK_EQ(nlocs_j(db, 5, 0x52), 1u);
	CHECK_EQ(npacks(db), 2u);
	cf_ixdb_free(db);
	expect_as_rebuilt(t.path, &f, 25000);
	fake_release(&f);
	tmp_release(&t);
}

CF_TEST(ixdb_foreign_repository_is_rebuilt)
{
	struct fake f;
	struct fake g;
	struct tmp t;
	struct cf_ixdb *db = NULL;

	memset(&f, 0, sizeof(f));
	memset(&g, 0, sizeof(g));
	f.size = g.size = 1000;
	tmp_init(&t);
	fake_add(&f, 0xaa, 0, 10);
	cf_ixdb_free(open_db(t.path, repo_a, &f));
	/* the same objects under another repository id: not trusted, read again */
	f.reads = 0;
	db = open_db(t.path, repo_b, &f);
	CHECK_EQ(f.reads, 1u);
	cf_ixdb_free(db);
	/* another repository's objects entirely */
	fake_add(&g, 0xdd, 500, 3);
	db = open_db(t.path, repo_a, &g);
	expect_locs(db, 5, 0, 0);
	expect_locs(db, 501, 1, 0xdd);
	cf_ixdb_free(db);
	fake_release(&f);
	fake_release(&g);
	tmp_release(&t);
}

static void
write_garbage(const char *path, off_t keep, size_t garbage)
{
	uint8_t buf[4096];
	int fd = open(path, O_WRONLY);

	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, keep), 0);
	for (size_t done = 0; done < garbage; done += sizeof(buf)) {
		th_randbuf(buf, sizeof(buf));
		CHECK_EQ(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	}
	(void)close(fd);
}

CF_TEST(ixdb_damaged_file_is_rebuilt)
{
	struct fake f;
	struct tmp t;
	struct cf_ixdb *db = NULL;
	struct stat sb;

	memset(&f, 0, sizeof(f));
	f.size = 1000;
	tmp_init(&t);
	fake_add(&f, 0xaa, 0, 3000);
	cf_ixdb_free(open_db(t.path, repo_a, &f));
	CHECK_EQ(stat(t.path, &sb), 0);
	CHECK(sb.st_size > 16 * 4096);
	/* truncated: its pages end before the last one the meta page names */
	write_garbage(t.path, 3 * 4096, 0);
	f.reads = 0;
	db = open_db(t.path, repo_a, &f);
	CHECK_EQ(f.reads, 1u);
	expect_locs(db, 2999, 1, 0xaa);
	cf_ixdb_free(db);
	/* garbage from the first byte */
	write_garbage(t.path, 0, 65536);
	f.reads = 0;
	db = open_db(t.path, repo_a, &f);
	CHECK_EQ(f.reads, 1u);
	expect_locs(db, 1234, 1, 0xaa);
	cf_ixdb_free(db);
	/* shorter than a page */
	write_garbage(t.path, 100, 0);
	db = open_db(t.path, repo_a, &f);
	expect_locs(db, 1, 1, 0xaa);
	cf_ixdb_free(db);
	fake_release(&f);
	tmp_release(&t);
}

CF_TEST(ixdb_source_errors)
{
	struct fake f;
	struct tmp t;
	struct cf_ixdb_source src = {fake_list, fake_read, &f};
	struct cf_ixdb *db = NULL;

	memset(&f, 0, sizeof(f));
	f.size = 1000;
	tmp_init(&t);
	fake_add(&f, 0xaa, 0, 10);
	fake_add(&f, 0xbb, 100, 10);
	f.bad[1] = true;
	CHECK_EQ(cf_ixdb_open(t.path, repo_a, &src, &db), CF_EINTEGRITY);
	CHECK(db == NULL);
	CHECK_EQ(cf_ixdb_load(&src, &db), CF_EINTEGRITY);
	CHECK(db == NULL);
	/* repaired: added now */
	f.bad[1] = false;
	db = open_db(t.path, repo_a, &f);
	expect_locs(db, 105, 1, 0xbb);
	expect_locs(db, 5, 1, 0xaa);
	cf_ixdb_free(db);
	fake_release(&f);
	tmp_release(&t);
}

CF_TEST(ixdb_build_in_many_passes)
{
	struct fake f;
	struct tmp t;
	struct cf_ixdb *db = NULL;

	memset(&f, 0, sizeof(f));
	/* listed sizes as if each object held billions of entries: 256 passes */
	f.size = UINT64_C(1) << 40;
	tmp_init(&t);
	fake_add(&f, 0xaa, 0, 2000);
	fake_add(&f, 0xbb, 1500, 2000);
	db = open_db(t.path, repo_a, &f);
	CHECK_EQ(f.reads, 2u * 256);
	for (uint32_t x = 0; x < 3500; x += 7)
		expect_locs(db, x, x >= 1500 && x < 2000 ? 2 : 1, x < 2000 ? 0xaa : 0xbb);
	expect_locs(db, 3500, 0, 0);
	cf_ixdb_free(db);
	fake_release(&f);
	tmp_release(&t);
}

CF_TEST(ixdb_snapshot_is_stable)
{
	struct fake f;
	struct tmp t;
	struct cf_ixdb *old = NULL;
	struct cf_ixdb *db = NULL;

	memset(&f, 0, sizeof(f));
	f.size = 1000;
	tmp_init(&t);
	fake_add(&f, 0xaa, 0, 10);
	fake_add(&f, 0xbb, 100, 10);
	old = open_db(t.path, repo_a, &f);
	/* a second handle on the same file adds one object, another rebuilds */
	fake_add(&f, 0xcc, 200, 10);
	db = open_db(t.path, repo_a, &f);
	expect_locs(db, 205, 1, 0xcc);
	cf_ixdb_free(db);
	f.gone[0] = true;
	db = open_db(t.path, repo_a, &f);
	expect_locs(db, 5, 0, 0);
	cf_ixdb_free(db);
	/* the first handle still reads what it opened */
	expect_locs(old, 5, 1, 0xaa);
	expect_locs(old, 205, 0, 0);
	CHECK_EQ(npacks(old), 2u);
	cf_ixdb_free(old);
	fake_release(&f);
	tmp_release(&t);
}
