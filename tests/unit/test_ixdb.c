/*
 * test_ixdb.c - the chunk index (src/index/index_db.c): on disk (LMDB) and in memory, over a
 * fake source of index objects. Round trips, several locations of one blob, the preference
 * for packs no prune condemned (cf_repo_lookup), incremental updates, rebuilds when an
 * object disappears or the file is foreign, damaged or garbage, errors of the source, a build
 * in many passes, and snapshots that later writers do not change.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "harness.h"
#include "index/index.h"
#include "repo/repo.h"

#define MAX_OBJS 8

/* A fake store of index objects: object i is listed unless gone, read unless bad. */
struct fake {
	struct cf_index_pack *packs[MAX_OBJS];
	size_t npacks[MAX_OBJS];
	uint8_t name[MAX_OBJS][CF_ID_BYTES];
	bool gone[MAX_OBJS];
	bool bad[MAX_OBJS];
	size_t n;
	uint64_t size; /* the size every listing reports (0: as if real) */
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
		             f->size != 0 ? f->size : 64 + 46 * f->packs[i][0].count)) != 0)
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

/* Object i: one pack (id byte @pb) of @count blobs with ids from @first; returns i. */
static size_t
fake_add(struct fake *f, uint8_t pb, uint32_t first, size_t count)
{
	size_t i = f->n++;
	struct cf_index_pack *p = calloc(1, sizeof(*p));

	CHECK(i < MAX_OBJS && p != NULL);
	if (p == NULL)
		abort();
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
	f->packs[i] = p;
	f->npacks[i] = 1;
	th_randbuf(f->name[i], CF_ID_BYTES);
	return i;
}

static void
fake_release(struct fake *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->packs[i]->entries);
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

CF_TEST(ixdb_rebuilds_when_an_object_disappears)
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
