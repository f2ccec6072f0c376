/*
 * prop_pack.c - properties of packs and index objects on seeded random content
 * (CF_TEST_SEED replays): write/read round trips, and any single bit flip is refused by the
 * step that authenticates that byte (the padding alone carries nothing and is not checked).
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "compress/compress.h"
#include "crypto/crypto.h"
#include "harness.h"
#include "index/index.h"
#include "pack/pack.h"
#include "reader/reader.h"

#define MAX_BLOBS 40

struct world {
	uint8_t repo[32];
	struct cf_boxkey *dk;
	struct cf_key *k_id;
	struct cf_zctx *z;
	size_t n;
	uint8_t *plain[MAX_BLOBS];
	size_t plain_len[MAX_BLOBS];
	uint8_t *pack;
	size_t len;
	uint8_t id[32];
};

static void
world_free(struct world *w)
{
	for (size_t i = 0; i < MAX_BLOBS; i++)
		free(w->plain[i]);
	cf_free(w->pack);
	cf_boxkey_free(w->dk);
	cf_key_free(w->k_id);
	cf_zctx_free(w->z);
	memset(w, 0, sizeof(*w));
}

/* Random plaintext: incompressible, or runs of a few symbols that zstd shrinks. */
static uint8_t *
random_plain(size_t len)
{
	uint8_t *p = malloc(len);

	if (p == NULL)
		return NULL;
	th_randbuf(p, len);
	if (th_rand() % 2 == 0)
		for (size_t i = 0; i < len; i++)
			p[i] = (uint8_t)('a' + p[i] % 4);
	return p;
}

static int
add_one(struct cf_pack_writer *pw, struct world *w, const uint8_t *p, size_t len)
{
	size_t cap = cf_compress_bound(len);
	uint8_t *frame = malloc(cap);
	uint8_t type = th_rand() % 3 == 0 ? CF_BLOB_TREE : CF_BLOB_DATA;
	uint8_t id[32];
	size_t flen = 0;
	bool used = false;
	int rc;

	if (frame == NULL)
		return CF_ENOMEM;
	cf_mac(id, w->k_id, p, len);
	if ((rc = cf_compress(w->z, p, len, frame, cap, &flen, &used)) == 0)
		rc = cf_pack_writer_add(pw, type, used ? 1 : 0, id, (uint32_t)len, used ? frame : p,
		                        used ? flen : len);
	free(frame);
	return rc;
}

static bool
world_init(struct world *w)
{
	struct cf_pack_writer *pw = NULL;
	bool ok = false;

	memset(w, 0, sizeof(*w));
	th_randbuf(w->repo, 32);
	if (cf_boxkey_new(&w->dk) != 0 || cf_key_new_random(&w->k_id) != 0 ||
	    cf_zctx_new(1, &w->z) != 0 ||
	    cf_pack_writer_new(w->repo, (uint32_t)th_rand(), cf_boxkey_pk(w->dk), &pw) != 0)
		goto out;
	w->n = 1 + (size_t)(th_rand() % MAX_BLOBS);
	for (size_t i = 0; i < w->n; i++) {
		w->plain_len[i] = 1 + (size_t)(th_rand() % (th_rand() % 2 ? 100 : 40000));
		if ((w->plain[i] = random_plain(w->plain_len[i])) == NULL ||
		    add_one(pw, w, w->plain[i], w->plain_len[i]) != 0)
			goto out;
	}
	ok = cf_pack_writer_finish(pw, &w->pack, &w->len, w->id) == 0;
out:
	cf_pack_writer_free(pw);
	return ok;
}

/* The whole read path over @pack; 0 when every blob opens to its plaintext. */
static int
read_all(const struct world *w, const uint8_t *pack, size_t len)
{
	struct cf_key *key = NULL;
	struct cf_pack_entry *e = NULL;
	size_t n = 0;
	int rc;

	if ((rc = cf_pack_open_key(pack, len, w->repo, w->dk, &key)) != 0 ||
	    (rc = cf_pack_read_header(pack, len, w->repo, key, &e, &n)) != 0)
		goto out;
	if (n != w->n) {
		rc = CF_EINTERNAL;
		goto out;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		uint8_t *out = malloc(e[i].raw_len);
		struct cf_reader r;
		const uint8_t *s = NULL;

		cf_reader_init(&r, pack, len);
		if (out == NULL || cf_reader_skip(&r, e[i].offset) != 0 ||
		    cf_reader_view(&r, e[i].stored_len, &s) != 0)
			rc = CF_EINTERNAL;
		else
			rc = cf_blob_open(key, w->repo, &e[i], s, e[i].stored_len, w->z, w->k_id,
			                  out);
		if (rc == 0 && (e[i].raw_len != w->plain_len[i] ||
		                memcmp(out, w->plain[i], w->plain_len[i]) != 0))
			rc = CF_EINTERNAL;
		free(out);
	}
out:
	cf_free(e);
	cf_key_free(key);
	return rc;
}

CF_TEST(pack_round_trip)
{
	for (int round = 0; round < 30; round++) {
		struct world w;

		CHECK(world_init(&w));
		if (w.pack != NULL) {
			uint8_t h[32];

			cf_hash(h, w.pack, w.len);
			CHECK(memcmp(h, w.id, 32) == 0);
			CHECK_EQ(cf_padme(w.len), w.len);
			CHECK_EQ(read_all(&w, w.pack, w.len), 0);
		}
		world_free(&w);
	}
}

/* Where the padding lies: between the end of the header and the trailer. */
static size_t
header_end(const struct world *w)
{
	struct cf_key *key = NULL;
	struct cf_pack_entry *e = NULL;
	size_t n = 0;
	size_t end = 0;

	if (cf_pack_open_key(w->pack, w->len, w->repo, w->dk, &key) == 0 &&
	    cf_pack_read_header(w->pack, w->len, w->repo, key, &e, &n) == 0)
		end = e[n - 1].offset + e[n - 1].stored_len + CF_AEAD_OVERHEAD + 4 +
		      n * CF_PACK_ENTRY_BYTES;
	cf_free(e);
	cf_key_free(key);
	return end;
}

CF_TEST(pack_bit_flips)
{
	for (int round = 0; round < 5; round++) {
		struct world w;
		size_t hend;

		CHECK(world_init(&w));
		if (w.pack == NULL || (hend = header_end(&w)) == 0) {
			world_free(&w);
			continue;
		}
		for (int i = 0; i < 200; i++) {
			size_t pos = (size_t)(th_rand() % w.len);
			uint8_t bit = (uint8_t)(1u << (th_rand() % 8));
			int rc;

			if (i == 0)
				pos = (size_t)(th_rand() % 8); /* always try the prefix once */
			w.pack[pos] ^= bit;
			rc = read_all(&w, w.pack, w.len);
			if (pos < 8)
				CHECK(rc == CF_EFORMAT || rc == CF_EVERSION);
			else if (pos >= hend && pos < w.len - CF_PACK_TRAILER_BYTES)
				CHECK_EQ(rc, 0); /* padding */
			else
				CHECK_EQ(rc, CF_EAUTH);
			w.pack[pos] ^= bit;
		}
		CHECK_EQ(read_all(&w, w.pack, w.len), 0);
		world_free(&w);
	}
}

/* Random valid packs for the index: entries back to back from offset 116. */
static struct cf_index_pack *
random_packs(size_t npacks)
{
	struct cf_index_pack *p = calloc(npacks, sizeof(*p));

	for (size_t i = 0; p != NULL && i < npacks; i++) {
		size_t count = 1 + (size_t)(th_rand() % 50);
		uint32_t off = CF_PACK_HEAD_BYTES;

		th_randbuf(p[i].id, 32);
		p[i].count = count;
		p[i].entries = cf_calloc(count, sizeof(*p[i].entries));
		if (p[i].entries == NULL)
			return p;
		for (size_t j = 0; j < count; j++) {
			struct cf_pack_entry *e = &p[i].entries[j];

			e->type = th_rand() % 2 ? CF_BLOB_DATA : CF_BLOB_TREE;
			e->comp = (uint8_t)(th_rand() % 2);
			e->raw_len = 2 + (uint32_t)(th_rand() % 100000);
			e->stored_len = (e->comp ? e->raw_len / 2 : e->raw_len) + CF_BLOB_OVERHEAD;
			e->offset = off;
			th_randbuf(e->id, 32);
			off += e->stored_len;
		}
		p[i].len = cf_padme((uint64_t)off + 1000);
	}
	return p;
}

static bool
entry_eq(const struct cf_pack_entry *a, const struct cf_pack_entry *b)
{
	return a->type == b->type && a->comp == b->comp && a->offset == b->offset &&
	       a->stored_len == b->stored_len && a->raw_len == b->raw_len &&
	       memcmp(a->id, b->id, 32) == 0;
}

static void
packs_free(struct cf_index_pack *p, size_t n)
{
	for (size_t i = 0; p != NULL && i < n; i++)
		cf_free(p[i].entries);
	free(p);
}

CF_TEST(index_round_trip)
{
	for (int round = 0; round < 20; round++) {
		size_t np = 1 + (size_t)(th_rand() % 30);
		struct cf_index_pack *p = random_packs(np);
		struct cf_index_pack *got = NULL;
		struct cf_key *k = NULL;
		struct cf_index *ix = NULL;
		uint8_t repo[32];
		uint8_t *obj = NULL;
		size_t len = 0;
		size_t n = 0;
		uint8_t id[32];

		th_randbuf(repo, 32);
		CHECK(p != NULL && cf_key_new_random(&k) == 0 && cf_index_new(&ix) == 0);
		if (p == NULL || k == NULL || ix == NULL)
			goto next;
		CHECK_EQ(cf_index_encode(k, repo, p, np, &obj, &len, id), 0);
		CHECK_EQ(cf_index_decode(k, repo, obj, len, &got, &n), 0);
		CHECK_EQ(n, np);
		for (size_t i = 0; got != NULL && i < np; i++) {
			CHECK(memcmp(got[i].id, p[i].id, 32) == 0 && got[i].len == p[i].len &&
			      got[i].count == p[i].count);
			for (size_t j = 0; j < p[i].count && got[i].count == p[i].count; j++)
				CHECK(entry_eq(&got[i].entries[j], &p[i].entries[j]));
			CHECK_EQ(cf_index_add_pack(ix, &got[i]), 0);
		}
		/* Every blob is found in its pack. */
		for (size_t i = 0; i < np; i++)
			for (size_t j = 0; j < p[i].count; j++) {
				struct cf_blob_loc loc;

				CHECK(cf_index_lookup(ix, p[i].entries[j].id, &loc) == 0 &&
				      memcmp(loc.pack, p[i].id, 32) == 0 &&
				      loc.e.offset == p[i].entries[j].offset);
			}
next:
		cf_index_packs_free(got, n);
		cf_free(obj);
		cf_key_free(k);
		cf_index_free(ix);
		packs_free(p, np);
	}
}
