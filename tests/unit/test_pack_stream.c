/*
 * test_pack_stream.c - streamed pack writers (pack.h cf_pack_writer_new_stream()): the bytes
 * a sink receives are a pack the reader accepts (cf_pack_read_header(), cf_blob_open()),
 * whose id is their SHA-256, laid out like the in-memory writer's; a restarted writer makes
 * an independent pack; a failing sink loses the pack and is reported, never half-written.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "buf/buf.h"
#include "compress/compress.h"
#include "crypto/crypto.h"
#include "harness.h"
#include "pack/pack.h"
#include "reader/reader.h"

#define NBLOBS 6

/* A sink collecting into memory; fails (CF_ESYS) at call @fail_at (1-based; 0: never). */
struct sink {
	struct cf_buf b;
	unsigned calls;
	unsigned fail_at;
};

static int
sink_fn(void *arg, const uint8_t *p, size_t len)
{
	struct sink *k = arg;

	if (++k->calls == k->fail_at)
		return cf_err_set(CF_ESYS, "test sink fails at call %u", k->calls);
	return cf_buf_put(&k->b, p, len);
}

static void
sink_init(struct sink *k, unsigned fail_at)
{
	memset(k, 0, sizeof(*k));
	cf_buf_init(&k->b, 256u * 1024 * 1024);
	k->fail_at = fail_at;
}

/* Keys, and plaintexts of several sizes and both types, some compressible. */
struct fix {
	uint8_t repo[32];
	struct cf_boxkey *dk;
	struct cf_key *k_id;
	struct cf_zctx *z;
	uint8_t *plain[NBLOBS];
	size_t plain_len[NBLOBS];
	uint8_t type[NBLOBS];
};

static bool
fix_init(struct fix *f)
{
	static const size_t sizes[NBLOBS] = {1, 700, 65536, 3000, 200000, 50};

	memset(f, 0, sizeof(*f));
	cf_random(f->repo, sizeof(f->repo));
	if (cf_boxkey_new(&f->dk) != 0 || cf_key_new_random(&f->k_id) != 0 ||
	    cf_zctx_new(1, &f->z) != 0)
		return false;
	for (int i = 0; i < NBLOBS; i++) {
		f->plain_len[i] = sizes[i];
		f->type[i] = i % 3 == 2 ? CF_BLOB_TREE : CF_BLOB_DATA;
		if ((f->plain[i] = malloc(sizes[i])) == NULL)
			return false;
		if (i % 2 == 0)
			th_randbuf(f->plain[i], sizes[i]); /* stored plain */
		else
			memset(f->plain[i], 'a' + i, sizes[i]); /* compresses */
	}
	return true;
}

static void
fix_free(struct fix *f)
{
	for (int i = 0; i < NBLOBS; i++)
		free(f->plain[i]);
	cf_boxkey_free(f->dk);
	cf_key_free(f->k_id);
	cf_zctx_free(f->z);
	memset(f, 0, sizeof(*f));
}

/* Add blob @i of the fixture, compressed when that pays. */
static int
add(struct cf_pack_writer *w, const struct fix *f, int i)
{
	size_t cap = cf_compress_bound(f->plain_len[i]);
	uint8_t *frame = malloc(cap);
	uint8_t id[32];
	size_t flen = 0;
	bool used = false;
	int rc;

	if (frame == NULL)
		return CF_ENOMEM;
	cf_mac(id, f->k_id, f->plain[i], f->plain_len[i]);
	rc = cf_compress(f->z, f->plain[i], f->plain_len[i], frame, cap, &flen, &used);
	if (rc == 0)
		rc = cf_pack_writer_add(w, f->type[i], used ? 1 : 0, id, (uint32_t)f->plain_len[i],
		                        used ? frame : f->plain[i], used ? flen : f->plain_len[i]);
	free(frame);
	return rc;
}

static int
add_all(struct cf_pack_writer *w, const struct fix *f)
{
	int rc = 0;

	for (int i = 0; i < NBLOBS && rc == 0; i++)
		rc = add(w, f, i);
	return rc;
}

static bool
entries_eq(const struct cf_pack_entry *a, const struct cf_pack_entry *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i].type != b[i].type || a[i].comp != b[i].comp ||
		    a[i].offset != b[i].offset || a[i].stored_len != b[i].stored_len ||
		    a[i].raw_len != b[i].raw_len || memcmp(a[i].id, b[i].id, 32) != 0)
			return false;
	}
	return true;
}

/*
 * What a reader does with the pack @p (@len bytes, id @id): the id is its SHA-256, its
 * length a Padmé length, the key opens, the header lists @want, and every blob opens to the
 * fixture's plaintext.
 */
static bool
pack_valid(const struct fix *f, const uint8_t *p, size_t len, const uint8_t id[32],
           const struct cf_pack_entry *want, size_t nwant)
{
	struct cf_key *key = NULL;
	struct cf_pack_entry *e = NULL;
	uint8_t h[32];
	size_t n = 0;
	bool ok = false;

	cf_hash(h, p, len);
	if (memcmp(h, id, 32) != 0 || cf_padme(len) != len ||
	    cf_pack_open_key(p, len, f->repo, f->dk, &key) != 0 ||
	    cf_pack_read_header(p, len, f->repo, key, &e, &n) != 0 || n != nwant ||
	    !entries_eq(e, want, n))
		goto out;
	for (size_t i = 0; i < n; i++) {
		uint8_t *out = malloc(e[i].raw_len);
		bool same;

		if (out == NULL || cf_blob_open(key, f->repo, &e[i], p + e[i].offset,
		                                e[i].stored_len, f->z, f->k_id, out) != 0) {
			free(out);
			goto out;
		}
		same = e[i].raw_len == f->plain_len[i] &&
		       memcmp(out, f->plain[i], e[i].raw_len) == 0;
		free(out);
		if (!same)
			goto out;
	}
	ok = true;
out:
	cf_free(e);
	cf_key_free(key);
	return ok;
}

/* The sink's bytes are a pack the reader accepts, with the writer's entries, id and length. */
CF_TEST(stream_round_trip)
{
	struct cf_pack_writer *w = NULL;
	const struct cf_pack_entry *e = NULL;
	struct sink k;
	struct fix f;
	uint8_t id[32];
	uint64_t len = 0;
	size_t n = 0;

	sink_init(&k, 0);
	CHECK(fix_init(&f));
	CHECK_EQ(cf_pack_writer_new_stream(f.repo, 3, cf_boxkey_pk(f.dk), sink_fn, &k, &w), 0);
	if (w == NULL)
		goto out;
	CHECK_EQ(k.b.len, CF_PACK_HEAD_BYTES); /* the head goes out at once */
	CHECK_EQ(add_all(w, &f), 0);
	CHECK_EQ(k.b.len, CF_PACK_HEAD_BYTES + cf_pack_writer_bytes(w)); /* each blob as added */
	CHECK_EQ(cf_pack_writer_finish_stream(w, &len, id), 0);
	CHECK_EQ(len, k.b.len);
	e = cf_pack_writer_entries(w, &n);
	CHECK_EQ(n, NBLOBS);
	CHECK(pack_valid(&f, k.b.p, k.b.len, id, e, n));
	/* finished: no more blobs, no second finish */
	CHECK_EQ(add(w, &f, 0), CF_EINVAL);
	CHECK_EQ(cf_pack_writer_finish_stream(w, &len, id), CF_EINVAL);
out:
	cf_pack_writer_free(w);
	cf_buf_release(&k.b);
	fix_free(&f);
}

/* The same blobs give the same layout in memory and streamed (only nonces and padding differ). */
CF_TEST(stream_layout_matches_memory)
{
	struct cf_pack_writer *wm = NULL;
	struct cf_pack_writer *ws = NULL;
	const struct cf_pack_entry *em = NULL;
	const struct cf_pack_entry *es = NULL;
	uint8_t *mem = NULL;
	size_t mlen = 0;
	size_t nm = 0;
	size_t ns = 0;
	uint64_t slen = 0;
	uint8_t idm[32];
	uint8_t ids[32];
	struct sink k;
	struct fix f;

	sink_init(&k, 0);
	CHECK(fix_init(&f));
	CHECK_EQ(cf_pack_writer_new(f.repo, 1, cf_boxkey_pk(f.dk), &wm), 0);
	CHECK_EQ(cf_pack_writer_new_stream(f.repo, 1, cf_boxkey_pk(f.dk), sink_fn, &k, &ws), 0);
	if (wm == NULL || ws == NULL)
		goto out;
	CHECK_EQ(add_all(wm, &f), 0);
	CHECK_EQ(add_all(ws, &f), 0);
	CHECK_EQ(cf_pack_writer_finish(wm, &mem, &mlen, idm), 0);
	CHECK_EQ(cf_pack_writer_finish_stream(ws, &slen, ids), 0);
	em = cf_pack_writer_entries(wm, &nm);
	es = cf_pack_writer_entries(ws, &ns);
	CHECK_EQ(nm, ns);
	CHECK_EQ(mlen, slen);
	for (size_t i = 0; i < nm && i < ns; i++) {
		CHECK_EQ(em[i].offset, es[i].offset);
		CHECK_EQ(em[i].stored_len, es[i].stored_len);
		CHECK_EQ(em[i].comp, es[i].comp);
		CHECK(memcmp(em[i].id, es[i].id, 32) == 0);
	}
	CHECK(memcmp(idm, ids, 32) != 0); /* fresh keys and nonces */
	CHECK(pack_valid(&f, mem, mlen, idm, em, nm));
	CHECK(pack_valid(&f, k.b.p, k.b.len, ids, es, ns));
out:
	cf_free(mem);
	cf_pack_writer_free(wm);
	cf_pack_writer_free(ws);
	cf_buf_release(&k.b);
	fix_free(&f);
}

/* A restarted writer makes a new, independent pack with a new key; the old sink gets nothing. */
CF_TEST(stream_restart)
{
	struct cf_pack_writer *w = NULL;
	const struct cf_pack_entry *e = NULL;
	struct cf_pack_entry first;
	struct sink k1;
	struct sink k2;
	struct fix f;
	uint8_t id1[32];
	uint8_t id2[32];
	uint64_t len = 0;
	size_t n = 0;
	size_t len1;

	sink_init(&k1, 0);
	sink_init(&k2, 0);
	CHECK(fix_init(&f));
	CHECK_EQ(cf_pack_writer_new_stream(f.repo, 0, cf_boxkey_pk(f.dk), sink_fn, &k1, &w), 0);
	if (w == NULL)
		goto out;
	CHECK_EQ(add(w, &f, 0), 0);
	CHECK_EQ(cf_pack_writer_finish_stream(w, &len, id1), 0);
	e = cf_pack_writer_entries(w, &n);
	first = e[0];
	len1 = k1.b.len;
	CHECK_EQ(cf_pack_writer_restart(w, 0, cf_boxkey_pk(f.dk), sink_fn, &k2), 0);
	CHECK_EQ(cf_pack_writer_count(w), 0);
	CHECK_EQ(cf_pack_writer_bytes(w), 0);
	CHECK_EQ(add_all(w, &f), 0);
	CHECK_EQ(cf_pack_writer_finish_stream(w, &len, id2), 0);
	CHECK_EQ(k1.b.len, len1);
	CHECK_EQ(len, k2.b.len);
	e = cf_pack_writer_entries(w, &n);
	CHECK(pack_valid(&f, k1.b.p, k1.b.len, id1, &first, 1));
	CHECK(pack_valid(&f, k2.b.p, k2.b.len, id2, e, n));
	/* a new pack key: the wrapped keys differ */
	CHECK(memcmp(k1.b.p + 12, k2.b.p + 12, CF_PACK_HEAD_BYTES - 12) != 0);
	/* a restart may also abandon an open pack */
	CHECK_EQ(cf_pack_writer_restart(w, 0, cf_boxkey_pk(f.dk), sink_fn, &k1), 0);
	CHECK_EQ(add(w, &f, 1), 0);
	CHECK_EQ(cf_pack_writer_restart(w, 0, cf_boxkey_pk(f.dk), sink_fn, &k2), 0);
	CHECK_EQ(cf_pack_writer_count(w), 0);
out:
	cf_pack_writer_free(w);
	cf_buf_release(&k1.b);
	cf_buf_release(&k2.b);
	fix_free(&f);
}

/*
 * A sink that fails at its call @at: the sink's error comes back from the step that made
 * the call, the pack is lost (later adds and the finish are CF_EINVAL), and a restart onto a
 * working sink gives a valid pack again.
 */
static void
fail_at(const struct fix *f, unsigned at)
{
	struct cf_pack_writer *w = NULL;
	const struct cf_pack_entry *e = NULL;
	struct sink bad;
	struct sink good;
	uint8_t id[32];
	uint64_t len = 0;
	size_t n = 0;
	int rc = 0;

	sink_init(&bad, at);
	sink_init(&good, 0);
	rc = cf_pack_writer_new_stream(f->repo, 0, cf_boxkey_pk(f->dk), sink_fn, &bad, &w);
	if (at == 1) {
		CHECK_EQ(rc, CF_ESYS);
		CHECK(w == NULL);
		goto out;
	}
	CHECK_EQ(rc, 0);
	if (w == NULL)
		goto out;
	for (int i = 0; i < NBLOBS && rc == 0; i++)
		rc = add(w, f, i);
	if (rc == 0)
		rc = cf_pack_writer_finish_stream(w, &len, id);
	CHECK_EQ(rc, CF_ESYS);
	CHECK(strstr(cf_err_last(), "test sink fails") != NULL);
	CHECK_EQ(bad.calls, at);
	CHECK_EQ(add(w, f, 0), CF_EINVAL);
	CHECK_EQ(cf_pack_writer_finish_stream(w, &len, id), CF_EINVAL);
	CHECK_EQ(bad.calls, at); /* nothing more reached the failed sink */
	CHECK_EQ(cf_pack_writer_restart(w, 0, cf_boxkey_pk(f->dk), sink_fn, &good), 0);
	CHECK_EQ(add_all(w, f), 0);
	CHECK_EQ(cf_pack_writer_finish_stream(w, &len, id), 0);
	e = cf_pack_writer_entries(w, &n);
	CHECK(pack_valid(f, good.b.p, good.b.len, id, e, n));
out:
	cf_pack_writer_free(w);
	cf_buf_release(&bad.b);
	cf_buf_release(&good.b);
}

CF_TEST(stream_sink_failures)
{
	struct fix f;

	CHECK(fix_init(&f));
	/* 1: the head; 2 .. NBLOBS + 1: a blob; NBLOBS + 2: the tail */
	for (unsigned at = 1; at <= NBLOBS + 2; at++)
		fail_at(&f, at);
	fix_free(&f);
}

/* A failed restart (its head not sent) leaves a writer that takes nothing until restarted. */
CF_TEST(stream_failed_restart)
{
	struct cf_pack_writer *w = NULL;
	struct sink good;
	struct sink bad;
	struct fix f;
	uint8_t id[32];
	uint64_t len = 0;

	sink_init(&good, 0);
	sink_init(&bad, 1);
	CHECK(fix_init(&f));
	CHECK_EQ(cf_pack_writer_new_stream(f.repo, 0, cf_boxkey_pk(f.dk), sink_fn, &good, &w), 0);
	if (w == NULL)
		goto out;
	CHECK_EQ(cf_pack_writer_restart(w, 0, cf_boxkey_pk(f.dk), sink_fn, &bad), CF_ESYS);
	CHECK_EQ(add(w, &f, 0), CF_EINVAL);
	CHECK_EQ(cf_pack_writer_finish_stream(w, &len, id), CF_EINVAL);
	cf_buf_reset(&good.b);
	CHECK_EQ(cf_pack_writer_restart(w, 0, cf_boxkey_pk(f.dk), sink_fn, &good), 0);
	CHECK_EQ(add(w, &f, 0), 0);
	CHECK_EQ(cf_pack_writer_finish_stream(w, &len, id), 0);
	CHECK_EQ(len, good.b.len);
out:
	cf_pack_writer_free(w);
	cf_buf_release(&good.b);
	cf_buf_release(&bad.b);
	fix_free(&f);
}

/* An empty pack cannot be finished; the writer stays usable. */
CF_TEST(stream_empty)
{
	struct cf_pack_writer *w = NULL;
	struct sink k;
	struct fix f;
	uint8_t id[32];
	uint64_t len = 1;

	sink_init(&k, 0);
	CHECK(fix_init(&f));
	CHECK_EQ(cf_pack_writer_new_stream(f.repo, 0, cf_boxkey_pk(f.dk), sink_fn, &k, &w), 0);
	if (w != NULL) {
		CHECK_EQ(cf_pack_writer_finish_stream(w, &len, id), CF_EINVAL);
		CHECK_EQ(len, 0);
		CHECK_EQ(add(w, &f, 1), 0);
		CHECK_EQ(cf_pack_writer_finish_stream(w, &len, id), 0);
	}
	cf_pack_writer_free(w);
	cf_buf_release(&k.b);
	fix_free(&f);
}

/* Fail every allocation in turn: a clean error and no leak (checked by LeakSanitizer). */
CF_TEST(stream_allocation_failures)
{
	struct fix f;
	bool done = false;

	CHECK(fix_init(&f));
	for (uint64_t i = 1; i < 200 && !done; i++) {
		struct cf_pack_writer *w = NULL;
		const struct cf_pack_entry *e = NULL;
		struct sink k;
		uint8_t id[32];
		uint64_t len = 0;
		size_t n = 0;
		int rc;

		sink_init(&k, 0);
		cf_alloc_fail_after(i);
		rc = cf_pack_writer_new_stream(f.repo, 0, cf_boxkey_pk(f.dk), sink_fn, &k, &w);
		if (rc == 0)
			rc = add_all(w, &f);
		if (rc == 0)
			rc = cf_pack_writer_finish_stream(w, &len, id);
		cf_alloc_fail_after(0);
		CHECK(rc == 0 || rc == CF_ENOMEM);
		if (rc == 0) {
			e = cf_pack_writer_entries(w, &n);
			CHECK(pack_valid(&f, k.b.p, k.b.len, id, e, n));
			done = true;
		}
		cf_pack_writer_free(w);
		cf_buf_release(&k.b);
	}
	CHECK(done);
	fix_free(&f);
}
