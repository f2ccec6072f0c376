/*
 * test_fcache.c - the files cache (docs/format.md 13): the entry's exact bytes, every
 * must-fail sibling of the decoder, and the LMDB file (put, commit, reopen, another
 * repository's file emptied, garbage replaced, the sweep).
 *
 * CF_GEN_CORPUS=<dir> writes the seed corpus of tests/fuzz/fuzz_fcache.c into <dir>.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "buf/buf.h"
#include "crypto/crypto.h"
#include "fcache/fcache.h"
#include "harness.h"

static void
fill(uint8_t *p, size_t n, uint8_t start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(start + i);
}

/* One chunk of 5 bytes, a hole of 3: size 8. */
static void
sample(struct cf_fcache_entry *e, struct cf_part parts[2])
{
	memset(e, 0, sizeof(*e));
	memset(parts, 0, 2 * sizeof(*parts));
	e->id.ino = 0x0102030405060708ull;
	e->id.size = 8;
	e->id.mtime_s = 1700000000;
	e->id.mtime_ns = 123456789;
	e->id.ctime_s = -1;
	e->id.ctime_ns = 999999999;
	e->seen = 1769860800;
	e->done = 8;
	parts[0].len = 5;
	fill(parts[0].id, CF_ID_BYTES, 0xa0);
	parts[1].hole = true;
	parts[1].len = 3;
	e->parts = parts;
	e->nparts = 2;
}

static const char sample_hex[] =
        "0102030405060708"                                                 /* ino */
        "0000000000000008"                                                 /* size */
        "000000006553f100"                                                 /* mtime_s */
        "075bcd15"                                                         /* mtime_ns */
        "ffffffffffffffff"                                                 /* ctime_s */
        "3b9ac9ff"                                                         /* ctime_ns */
        "00000000697deec0"                                                 /* seen */
        "0000000000000008"                                                 /* done */
        "00000002"                                                         /* nparts */
        "00"                                                               /* chunk */
        "0000000000000005"                                                 /* len */
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf" /* id */
        "01"                                                               /* hole */
        "0000000000000003"
        "0000000000000000000000000000000000000000000000000000000000000000";

static uint8_t *
sample_bytes(size_t *len)
{
	uint8_t *p = th_unhex(sample_hex, len);

	if (p == NULL)
		abort();
	return p;
}

CF_TEST(entry_encodes_to_pinned_bytes)
{
	struct cf_fcache_entry e;
	struct cf_part parts[2];
	struct cf_buf b;
	size_t len = 0;
	uint8_t *want = sample_bytes(&len);

	sample(&e, parts);
	cf_buf_init(&b, 1 << 20);
	CHECK(cf_fcache_encode(&e, &b) == 0);
	CHECK(len == CF_FCACHE_HEAD + 2 * CF_FCACHE_PART);
	CHECK(b.len == len && memcmp(b.p, want, len) == 0);
	cf_buf_release(&b);
	free(want);
}

CF_TEST(entry_decodes_back)
{
	struct cf_fcache_entry e;
	size_t len = 0;
	uint8_t *p = sample_bytes(&len);

	CHECK(cf_fcache_decode(p, len, &e) == 0);
	CHECK(e.id.ino == 0x0102030405060708ull && e.id.size == 8 && e.id.ctime_s == -1);
	CHECK(e.id.mtime_ns == 123456789 && e.id.ctime_ns == 999999999 && e.seen == 1769860800);
	CHECK(e.nparts == 2 && !e.parts[0].hole && e.parts[0].len == 5 && e.parts[1].hole);
	CHECK(e.parts[0].id[0] == 0xa0 && e.parts[0].id[31] == 0xbf);
	cf_fcache_entry_release(&e);
	free(p);
}

/* A sparse file's partial entry: size 9 > done 8, and its last part is a hole. */
CF_TEST(partial_entry_with_hole_decodes)
{
	struct cf_fcache_entry e;
	size_t len = 0;
	uint8_t *p = sample_bytes(&len);

	p[15] = 9;
	CHECK(cf_fcache_decode(p, len, &e) == 0);
	CHECK(e.id.size == 9 && e.done == 8 && e.nparts == 2 && e.parts[1].hole);
	cf_fcache_entry_release(&e);
	free(p);
}

/* Decode @p after @mut changed it: must fail with @want (or any error when @want is 0). */
static void
must_fail(void (*mut)(uint8_t *p, size_t *len), int want)
{
	struct cf_fcache_entry e;
	size_t len = 0;
	uint8_t *p = sample_bytes(&len);
	int rc;

	mut(p, &len);
	rc = cf_fcache_decode(p, len, &e);
	CHECK(rc != 0);
	CHECK(want == 0 || rc == want);
	CHECK(e.parts == NULL && e.nparts == 0);
	free(p);
}

static void
cut_one(uint8_t *p, size_t *len)
{
	(void)p;
	(*len)--;
}
static void
cut_head(uint8_t *p, size_t *len)
{
	(void)p;
	*len = CF_FCACHE_HEAD - 1;
}
static void
done_off(uint8_t *p, size_t *len)
{
	(void)len;
	p[55] = 7; /* parts add up to 8 */
}
static void
done_over_size(uint8_t *p, size_t *len)
{
	(void)len;
	p[15] = 7; /* done 8 > size 7 */
}
static void
ns_too_big(uint8_t *p, size_t *len)
{
	(void)len;
	memcpy(p + 24, "\x3b\x9a\xca\x00", 4); /* 10^9 */
}
static void
count_lies(uint8_t *p, size_t *len)
{
	(void)len;
	p[59] = 3;
}
static void
count_over(uint8_t *p, size_t *len)
{
	(void)len;
	memcpy(p + 56, "\x00\x10\x00\x01", 4); /* 2^20 + 1 */
}
static void
hole_flag_2(uint8_t *p, size_t *len)
{
	(void)len;
	p[60] = 2;
}
static void
hole_with_id(uint8_t *p, size_t *len)
{
	(void)len;
	p[60 + 41 + 9 + 31] = 1;
}
static void
zero_len(uint8_t *p, size_t *len)
{
	(void)len;
	memset(p + 61, 0, 8);
	p[15] = 3; /* keep the sums right: only the zero length is wrong */
	p[55] = 3;
}
static void
chunk_too_long(uint8_t *p, size_t *len)
{
	(void)len;
	memcpy(p + 61, "\x00\x00\x00\x00\x00\x80\x00\x01", 8); /* 8 MiB + 1 */
	memcpy(p + 8, "\x00\x00\x00\x00\x00\x80\x00\x04", 8);
	memcpy(p + 48, "\x00\x00\x00\x00\x00\x80\x00\x04", 8);
}

CF_TEST(entry_must_fail_siblings)
{
	must_fail(cut_one, CF_ETRUNC);
	must_fail(cut_head, CF_ETRUNC);
	must_fail(done_off, CF_EFORMAT);
	must_fail(done_over_size, CF_EFORMAT);
	must_fail(ns_too_big, CF_EFORMAT);
	must_fail(count_lies, CF_ETRUNC);
	must_fail(count_over, CF_ETOOBIG);
	must_fail(hole_flag_2, CF_EFORMAT);
	must_fail(hole_with_id, CF_EFORMAT);
	must_fail(zero_len, CF_EFORMAT);
	must_fail(chunk_too_long, CF_EFORMAT);
}

CF_TEST(partial_entry_roundtrips)
{
	struct cf_fcache_entry e;
	struct cf_fcache_entry d;
	struct cf_part parts[2];
	struct cf_buf b;

	sample(&e, parts);
	e.id.size = 100;
	e.done = 5;
	e.nparts = 1; /* the chunk, not the hole */
	cf_buf_init(&b, 1 << 20);
	CHECK(cf_fcache_encode(&e, &b) == 0);
	CHECK(b.len == CF_FCACHE_HEAD + CF_FCACHE_PART);
	CHECK(cf_fcache_decode(b.p, b.len, &d) == 0);
	CHECK(d.done == 5 && d.id.size == 100 && d.nparts == 1 && d.parts[0].len == 5);
	cf_fcache_entry_release(&d);
	cf_buf_release(&b);
}

CF_TEST(entry_rejects_a_trailing_byte)
{
	struct cf_fcache_entry e;
	size_t len = 0;
	uint8_t *p = sample_bytes(&len);
	uint8_t *q = malloc(len + 1);

	CHECK(q != NULL);
	memcpy(q, p, len);
	q[len] = 0;
	CHECK(cf_fcache_decode(q, len + 1, &e) == CF_EFORMAT);
	free(q);
	free(p);
}

CF_TEST(key_is_directory_hash_and_name_hash)
{
	struct cf_fcache_key a;
	struct cf_fcache_key b;
	struct cf_fcache_key r;
	uint8_t h[32];

	cf_fcache_key(&a, (const uint8_t *)"/x/y", 4);
	cf_hash(h, "/x/", 3);
	CHECK(a.len == 64 && memcmp(a.b, h, 32) == 0);
	cf_hash(h, "y", 1);
	CHECK(memcmp(a.b + 32, h, 32) == 0); /* the name is not kept in clear */
	cf_fcache_key(&b, (const uint8_t *)"/x/zz", 5);
	CHECK(b.len == 64 && memcmp(a.b, b.b, 32) == 0); /* siblings share the prefix */
	cf_fcache_key(&r, (const uint8_t *)"y", 1);      /* not "/y": another directory */
	cf_hash(h, "", 0);
	CHECK(memcmp(r.b, h, 32) == 0);
	cf_fcache_key(&b, (const uint8_t *)"/y", 2);
	CHECK(memcmp(r.b, b.b, 32) != 0);
}

/* ---------------------------------------------------------------- the file */

static char *
tmp_path(void)
{
	static char path[64];
	char dir[] = "/tmp/cf_fcache.XXXXXX";

	if (mkdtemp(dir) == NULL)
		abort();
	(void)snprintf(path, sizeof(path), "%s/files.lmdb", dir);
	return path;
}

static void
remove_tmp(const char *path)
{
	char lock[80];
	char dir[64];

	(void)snprintf(lock, sizeof(lock), "%s-lock", path);
	(void)unlink(path);
	(void)unlink(lock);
	(void)snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(path, '/') - path), path);
	(void)rmdir(dir);
}

static bool
has(struct cf_fcache *fc, const struct cf_fcache_key *key)
{
	struct cf_fcache_entry e;
	bool found = false;

	CHECK(cf_fcache_get(fc, key, &e, &found) == 0);
	cf_fcache_entry_release(&e);
	return found;
}

CF_TEST(file_keeps_committed_entries_only)
{
	const char *path = tmp_path();
	struct cf_fcache_entry e;
	struct cf_part parts[2];
	struct cf_fcache *fc = NULL;
	uint8_t repo[32];
	uint8_t other[32];
	struct cf_fcache_key k1;
	struct cf_fcache_key k2;

	fill(repo, 32, 1);
	fill(other, 32, 2);
	cf_fcache_key(&k1, (const uint8_t *)"/a", 2);
	cf_fcache_key(&k2, (const uint8_t *)"/b", 2);
	sample(&e, parts);
	CHECK(cf_fcache_open(path, repo, &fc) == 0);
	CHECK(!has(fc, &k1));
	CHECK(cf_fcache_put(fc, &k1, &e) == 0);
	CHECK(has(fc, &k1)); /* seen before the commit */
	CHECK(cf_fcache_commit(fc) == 0);
	CHECK(cf_fcache_put(fc, &k2, &e) == 0);
	CHECK(cf_fcache_pending(fc) == 1);
	cf_fcache_close(fc); /* k2 never committed */

	CHECK(cf_fcache_open(path, repo, &fc) == 0);
	CHECK(has(fc, &k1) && !has(fc, &k2));
	cf_fcache_close(fc);

	/* another repository's file is emptied, not used */
	CHECK(cf_fcache_open(path, other, &fc) == 0);
	CHECK(!has(fc, &k1));
	cf_fcache_close(fc);
	remove_tmp(path);
}

CF_TEST(file_garbage_is_replaced)
{
	const char *path = tmp_path();
	struct cf_fcache *fc = NULL;
	uint8_t repo[32];
	uint8_t junk[8192];
	struct cf_fcache_key k;
	FILE *f = fopen(path, "wb");

	CHECK(f != NULL);
	fill(junk, sizeof(junk), 7);
	CHECK(fwrite(junk, 1, sizeof(junk), f) == sizeof(junk));
	CHECK(fclose(f) == 0);
	fill(repo, 32, 1);
	cf_fcache_key(&k, (const uint8_t *)"/a", 2);
	CHECK(cf_fcache_open(path, repo, &fc) == 0);
	CHECK(!has(fc, &k));
	cf_fcache_close(fc);
	remove_tmp(path);
}

CF_TEST(file_sweep_removes_old_entries_once_a_day)
{
	const char *path = tmp_path();
	struct cf_fcache_entry e;
	struct cf_part parts[2];
	struct cf_fcache *fc = NULL;
	uint8_t repo[32];
	struct cf_fcache_key k_old;
	struct cf_fcache_key k_new;
	uint64_t now = 1769860800;
	size_t removed = 99;

	fill(repo, 32, 1);
	cf_fcache_key(&k_old, (const uint8_t *)"/old", 4);
	cf_fcache_key(&k_new, (const uint8_t *)"/new", 4);
	sample(&e, parts);
	CHECK(cf_fcache_open(path, repo, &fc) == 0);
	e.seen = now - 1000;
	CHECK(cf_fcache_put(fc, &k_new, &e) == 0);
	e.seen = now - 100000;
	CHECK(cf_fcache_put(fc, &k_old, &e) == 0);
	CHECK(cf_fcache_sweep(fc, now, 50000, &removed) == 0);
	CHECK(removed == 1);
	CHECK(has(fc, &k_new) && !has(fc, &k_old));
	/* the next sweep within a day does nothing */
	CHECK(cf_fcache_put(fc, &k_old, &e) == 0);
	CHECK(cf_fcache_sweep(fc, now + 3600, 50000, &removed) == 0);
	CHECK(removed == 0 && has(fc, &k_old));
	CHECK(cf_fcache_sweep(fc, now + 90000, 50000, &removed) == 0);
	CHECK(removed == 2); /* a day later: k_old, and k_new is now too old as well */
	cf_fcache_close(fc);
	remove_tmp(path);
}

/* CF_GEN_CORPUS: the sample and a few siblings for the fuzzer. */
CF_TEST(gen_corpus)
{
	const char *dir = getenv("CF_GEN_CORPUS");
	size_t len = 0;
	uint8_t *p = NULL;
	char path[512];
	FILE *f;

	if (dir == NULL)
		return;
	p = sample_bytes(&len);
	for (int i = 0; i < 3; i++) {
		size_t n = i == 0 ? len : i == 1 ? CF_FCACHE_HEAD : len - 1;

		(void)snprintf(path, sizeof(path), "%s/seed%d", dir, i);
		CHECK((f = fopen(path, "wb")) != NULL);
		if (f != NULL) {
			CHECK(fwrite(p, 1, n, f) == n);
			CHECK(fclose(f) == 0);
		}
	}
	free(p);
}
