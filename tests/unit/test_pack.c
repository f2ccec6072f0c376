/*
 * test_pack.c - Padmé, pack entries, the pack writer and reader, blob opening, and the
 * known-answer vectors of tests/vectors/pack.txt (CF_GEN_VECTORS=1 prints that file).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "buf/buf.h"
#include "compress/compress.h"
#include "crypto/crypto.h"
#include "harness.h"
#include "pack/pack.h"
#include "reader/reader.h"

#define NBLOBS 4

/* Padmé values computed independently from the formula of format.md 5.2. */
static const struct {
	uint64_t in;
	uint64_t out;
} padme_table[] = {
        {0, 0},
        {1, 1},
        {2, 2},
        {3, 3},
        {4, 4},
        {5, 5},
        {7, 7},
        {8, 8},
        {9, 10},
        {10, 10},
        {15, 16},
        {16, 16},
        {17, 18},
        {31, 32},
        {33, 36},
        {100, 104},
        {255, 256},
        {257, 272},
        {1000, 1024},
        {1025, 1088},
        {4097, 4352},
        {65537, 67584},
        {1000000, 1015808},
        {16777217, 17301504},
        {134217727, 134217728},
        {134217728, 134217728},
        {134217729, 138412032},
        {1099511627777ULL, 1116691496960ULL},
        {9223372036854775809ULL, 9367487224930631680ULL},
        {UINT64_MAX, UINT64_MAX},
};

CF_TEST(padme_known_values)
{
	for (size_t i = 0; i < CF_ARRAY_LEN(padme_table); i++)
		CHECK_EQ(cf_padme(padme_table[i].in), padme_table[i].out);
}

CF_TEST(padme_properties)
{
	for (int i = 0; i < 100000; i++) {
		uint64_t l = th_rand() >> (th_rand() % 60);
		uint64_t p = cf_padme(l);

		CHECK(p >= l);
		CHECK(l < 2 || p - l <= l / 8); /* at most 12 % */
		CHECK_EQ(cf_padme(p), p);       /* padded lengths are fixed points */
	}
}

static struct cf_pack_entry
entry(uint8_t type, uint8_t comp, uint32_t offset, uint32_t stored, uint32_t raw)
{
	struct cf_pack_entry e = {
	        .type = type, .comp = comp, .offset = offset, .stored_len = stored, .raw_len = raw};

	memset(e.id, 0xab, sizeof(e.id));
	return e;
}

CF_TEST(entry_valid)
{
	struct cf_pack_entry e = entry(CF_BLOB_DATA, 0, 116, 140, 100);

	CHECK_EQ(cf_pack_entry_valid(&e), 0);
	e = entry(CF_BLOB_DATA, 0, 116, 141, 100); /* plain: stored = raw + 40 exactly */
	CHECK_EQ(cf_pack_entry_valid(&e), CF_EFORMAT);
	e = entry(CF_BLOB_DATA, 1, 116, 139, 100);
	CHECK_EQ(cf_pack_entry_valid(&e), 0);
	e = entry(CF_BLOB_DATA, 1, 116, 140, 100); /* a frame must be smaller than raw */
	CHECK_EQ(cf_pack_entry_valid(&e), CF_EFORMAT);
	e = entry(CF_BLOB_DATA, 1, 116, 40, 100);
	CHECK_EQ(cf_pack_entry_valid(&e), CF_EFORMAT);
	e = entry(CF_BLOB_DATA, 2, 116, 139, 100);
	CHECK_EQ(cf_pack_entry_valid(&e), CF_EFORMAT);
	e = entry(0, 0, 116, 140, 100);
	CHECK_EQ(cf_pack_entry_valid(&e), CF_EFORMAT);
	e = entry(3, 0, 116, 140, 100);
	CHECK_EQ(cf_pack_entry_valid(&e), CF_EFORMAT);
	e = entry(CF_BLOB_DATA, 0, 116, 40, 0);
	CHECK_EQ(cf_pack_entry_valid(&e), CF_EFORMAT);
	e = entry(CF_BLOB_DATA, 0, 116, CF_DATA_RAW_MAX + 40, CF_DATA_RAW_MAX);
	CHECK_EQ(cf_pack_entry_valid(&e), 0);
	e = entry(CF_BLOB_DATA, 0, 116, CF_DATA_RAW_MAX + 41, CF_DATA_RAW_MAX + 1);
	CHECK_EQ(cf_pack_entry_valid(&e), CF_EFORMAT);
	e = entry(CF_BLOB_TREE, 0, 116, CF_DATA_RAW_MAX + 41, CF_DATA_RAW_MAX + 1);
	CHECK_EQ(cf_pack_entry_valid(&e), 0);
	e = entry(CF_BLOB_TREE, 1, 116, 1000, CF_TREE_RAW_MAX + 1);
	CHECK_EQ(cf_pack_entry_valid(&e), CF_EFORMAT);
}

CF_TEST(entry_codec)
{
	struct cf_pack_entry e = entry(CF_BLOB_TREE, 1, 0x01020304, 0x05060708, 0x090a0b0c);
	struct cf_pack_entry d;
	struct cf_reader r;
	struct cf_buf b;

	cf_buf_init(&b, 1024);
	e.id[0] = 0x11;
	e.id[31] = 0x22;
	CHECK_EQ(cf_pack_entry_put(&b, &e), 0);
	CHECK_EQ(b.len, CF_PACK_ENTRY_BYTES);
	CHECK(b.p[0] == 2 && b.p[1] == 1 && b.p[2] == 0x11 && b.p[33] == 0x22);
	CHECK(b.p[34] == 1 && b.p[37] == 4 && b.p[38] == 5 && b.p[45] == 0x0c);
	cf_reader_init(&r, b.p, b.len);
	CHECK_EQ(cf_pack_entry_get(&r, &d), 0);
	CHECK_EQ(cf_reader_end(&r), 0);
	CHECK(memcmp(&d.id, &e.id, 32) == 0 && d.type == e.type && d.comp == e.comp);
	CHECK(d.offset == e.offset && d.stored_len == e.stored_len && d.raw_len == e.raw_len);
	cf_reader_init(&r, b.p, b.len - 1);
	CHECK_EQ(cf_pack_entry_get(&r, &d), CF_ETRUNC);
	cf_buf_release(&b);
}

CF_TEST(entries_check)
{
	struct cf_pack_entry e[3] = {entry(1, 0, 116, 50, 10), entry(1, 0, 166, 50, 10),
	                             entry(1, 0, 300, 50, 10)};

	CHECK_EQ(cf_pack_entries_check(e, 3, 350), 0);
	CHECK_EQ(cf_pack_entries_check(e, 3, 349), CF_EFORMAT);
	e[1].offset = 165; /* overlaps the first */
	CHECK_EQ(cf_pack_entries_check(e, 3, 350), CF_EFORMAT);
	e[1].offset = 310; /* out of order */
	CHECK_EQ(cf_pack_entries_check(e, 3, 400), CF_EFORMAT);
	e[1].offset = 166;
	e[0].offset = 115; /* inside the head */
	CHECK_EQ(cf_pack_entries_check(e, 3, 350), CF_EFORMAT);
	e[0].offset = 116;
	e[2].offset = UINT32_MAX - 10;
	CHECK_EQ(cf_pack_entries_check(e, 3, UINT64_MAX), 0);
	CHECK_EQ(cf_pack_entries_check(e, 3, UINT32_MAX), CF_EFORMAT);
	CHECK_EQ(cf_pack_entries_check(e, 0, 0), 0);
}

/* Test fixture: keys and a pack of four blobs (plain and compressed, data and tree). */
struct fix {
	uint8_t repo[32];
	struct cf_boxkey *dk;
	struct cf_key *k_id;
	struct cf_zctx *z;
	uint8_t *plain[NBLOBS];
	size_t plain_len[NBLOBS];
	uint8_t *pack;
	size_t len;
	uint8_t id[32];
	struct cf_pack_entry want[NBLOBS];
};

static void
fix_free(struct fix *f)
{
	for (int i = 0; i < NBLOBS; i++)
		free(f->plain[i]);
	cf_free(f->pack);
	cf_boxkey_free(f->dk);
	cf_key_free(f->k_id);
	cf_zctx_free(f->z);
	memset(f, 0, sizeof(*f));
}

static uint8_t *
text(size_t len, unsigned seed)
{
	static const char words[] = "lorem ipsum dolor sit amet consectetur adipiscing elit ";
	uint8_t *d = malloc(len);

	for (size_t i = 0; d != NULL && i < len; i++)
		d[i] = (uint8_t)words[(i * seed + i / 13) % (sizeof(words) - 1)];
	return d;
}

/* Add @p (@len bytes) as a blob, compressed when it pays. */
static int
add_blob(struct cf_pack_writer *w, struct cf_zctx *z, const struct cf_key *k_id, uint8_t type,
         const uint8_t *p, size_t len)
{
	size_t cap = cf_compress_bound(len);
	uint8_t *frame = malloc(cap);
	uint8_t id[32];
	size_t flen = 0;
	bool used = false;
	int rc;

	if (frame == NULL)
		return CF_ENOMEM;
	cf_mac(id, k_id, p, len);
	if ((rc = cf_compress(z, p, len, frame, cap, &flen, &used)) == 0)
		rc = cf_pack_writer_add(w, type, used ? 1 : 0, id, (uint32_t)len, used ? frame : p,
		                        used ? flen : len);
	free(frame);
	return rc;
}

/* Build the fixture's pack from fixed or random keys. */
static bool
fix_init(struct fix *f, const uint8_t dk_sk[32], const uint8_t repo[32], const uint8_t k_id[32])
{
	static const size_t sizes[NBLOBS] = {13, 3000, 60, 5000};
	static const uint8_t types[NBLOBS] = {CF_BLOB_DATA, CF_BLOB_DATA, CF_BLOB_TREE,
	                                      CF_BLOB_TREE};
	struct cf_pack_writer *w = NULL;
	const struct cf_pack_entry *e = NULL;
	size_t n = 0;
	bool ok = false;

	memset(f, 0, sizeof(*f));
	memcpy(f->repo, repo, 32);
	if (cf_boxkey_from_secret(dk_sk, &f->dk) != 0 || cf_key_new_from(k_id, &f->k_id) != 0 ||
	    cf_zctx_new(3, &f->z) != 0 || cf_pack_writer_new(repo, 7, cf_boxkey_pk(f->dk), &w) != 0)
		goto out;
	for (int i = 0; i < NBLOBS; i++) {
		f->plain_len[i] = sizes[i];
		f->plain[i] = i == 0 ? (uint8_t *)strdup("hello, coffer")
		                     : text(sizes[i], 3u + (unsigned)i);
		if (f->plain[i] == NULL ||
		    add_blob(w, f->z, f->k_id, types[i], f->plain[i], f->plain_len[i]) != 0)
			goto out;
	}
	e = cf_pack_writer_entries(w, &n);
	if (n != NBLOBS)
		goto out;
	memcpy(f->want, e, sizeof(f->want));
	ok = cf_pack_writer_finish(w, &f->pack, &f->len, f->id) == 0;
out:
	cf_pack_writer_free(w);
	return ok;
}

static bool
fix_random(struct fix *f)
{
	uint8_t sk[32];
	uint8_t repo[32];
	uint8_t kid[32];

	cf_random(sk, sizeof(sk));
	cf_random(repo, sizeof(repo));
	cf_random(kid, sizeof(kid));
	return fix_init(f, sk, repo, kid);
}

static bool
entry_eq(const struct cf_pack_entry *a, const struct cf_pack_entry *b)
{
	return a->type == b->type && a->comp == b->comp && a->offset == b->offset &&
	       a->stored_len == b->stored_len && a->raw_len == b->raw_len &&
	       memcmp(a->id, b->id, 32) == 0;
}

/* Open every blob of @pack with @key against the fixture's plaintexts. */
static int
open_all(const struct fix *f, const uint8_t *pack, size_t len, const struct cf_key *key,
         const struct cf_pack_entry *e, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		uint8_t *out = malloc(e[i].raw_len);
		struct cf_reader r;
		const uint8_t *stored = NULL;

		cf_reader_init(&r, pack, len);
		if (out == NULL || cf_reader_skip(&r, e[i].offset) != 0 ||
		    cf_reader_view(&r, e[i].stored_len, &stored) != 0)
			rc = CF_EINTERNAL;
		else
			rc = cf_blob_open(key, f->repo, &e[i], stored, e[i].stored_len, f->z,
			                  f->k_id, out);
		if (rc == 0 && i < NBLOBS &&
		    (e[i].raw_len != f->plain_len[i] ||
		     memcmp(out, f->plain[i], e[i].raw_len) != 0))
			rc = CF_EINTERNAL;
		free(out);
	}
	return rc;
}

CF_TEST(round_trip)
{
	struct fix f;
	struct cf_key *key = NULL;
	struct cf_pack_entry *e = NULL;
	uint8_t h[32];
	uint32_t epoch = 0;
	size_t n = 0;

	CHECK(fix_random(&f));
	if (f.pack == NULL)
		goto out;
	cf_hash(h, f.pack, f.len);
	CHECK(memcmp(h, f.id, 32) == 0);
	CHECK_EQ(cf_padme(f.len), f.len);
	CHECK(f.want[0].comp == 0 && f.want[1].comp == 1 && f.want[2].comp == 0 &&
	      f.want[3].comp == 1);
	CHECK_EQ(f.want[0].offset, CF_PACK_HEAD_BYTES);
	CHECK_EQ(cf_pack_head_epoch(f.pack, f.len, &epoch), 0);
	CHECK_EQ(epoch, 7);
	CHECK_EQ(cf_pack_head_epoch(f.pack, CF_PACK_HEAD_BYTES, &epoch), 0);
	CHECK_EQ(cf_pack_head_epoch(f.pack, CF_PACK_HEAD_BYTES - 1, &epoch), CF_ETRUNC);
	CHECK_EQ(cf_pack_open_key(f.pack, CF_PACK_HEAD_BYTES, f.repo, f.dk, &key), 0);
	CHECK_EQ(cf_pack_read_header(f.pack, f.len, f.repo, key, &e, &n), 0);
	CHECK_EQ(n, NBLOBS);
	for (size_t i = 0; e != NULL && i < n && i < NBLOBS; i++)
		CHECK(entry_eq(&e[i], &f.want[i]));
	if (key != NULL && e != NULL)
		CHECK_EQ(open_all(&f, f.pack, f.len, key, e, n), 0);
out:
	cf_free(e);
	cf_key_free(key);
	fix_free(&f);
}

CF_TEST(head_prefix)
{
	uint8_t head[CF_PACK_HEAD_BYTES] = {'C', 'O', 'F', 'R', 3, 1, 0, 0, 0, 0, 1, 2};
	uint32_t epoch = 9;

	CHECK_EQ(cf_pack_head_epoch(head, sizeof(head), &epoch), 0);
	CHECK_EQ(epoch, 0x0102);
	head[5] = 2;
	CHECK_EQ(cf_pack_head_epoch(head, sizeof(head), &epoch), CF_EVERSION);
	head[5] = 1;
	head[4] = 4;
	CHECK_EQ(cf_pack_head_epoch(head, sizeof(head), &epoch), CF_EFORMAT);
	head[4] = 3;
	head[7] = 1;
	CHECK_EQ(cf_pack_head_epoch(head, sizeof(head), &epoch), CF_EFORMAT);
	head[7] = 0;
	head[0] = 'c';
	CHECK_EQ(cf_pack_head_epoch(head, sizeof(head), &epoch), CF_EFORMAT);
}

CF_TEST(wrong_keys_and_tampering)
{
	struct fix f;
	struct cf_boxkey *other = NULL;
	struct cf_key *key = NULL;
	struct cf_key *bad = NULL;
	struct cf_pack_entry *e = NULL;
	uint8_t repo2[32];
	uint8_t *big = NULL;
	size_t n = 0;
	size_t hdr;
	size_t hdr_end;

	CHECK(fix_random(&f));
	CHECK_EQ(cf_boxkey_new(&other), 0);
	CHECK_EQ(cf_key_new_random(&bad), 0);
	if (f.pack == NULL || other == NULL || bad == NULL)
		goto out;
	hdr = f.want[NBLOBS - 1].offset + f.want[NBLOBS - 1].stored_len;
	hdr_end = hdr + CF_AEAD_OVERHEAD + 4 + NBLOBS * CF_PACK_ENTRY_BYTES;
	memcpy(repo2, f.repo, 32);
	repo2[0] ^= 1;
	CHECK_EQ(cf_pack_open_key(f.pack, f.len, f.repo, other, &key), CF_EAUTH);
	CHECK(key == NULL);
	CHECK_EQ(cf_pack_open_key(f.pack, f.len, repo2, f.dk, &key), CF_EAUTH);
	f.pack[8] ^= 1; /* the epoch is bound into the wrap */
	CHECK_EQ(cf_pack_open_key(f.pack, f.len, f.repo, f.dk, &key), CF_EAUTH);
	f.pack[8] ^= 1;
	CHECK_EQ(cf_pack_open_key(f.pack, f.len, f.repo, f.dk, &key), 0);
	if (key == NULL)
		goto out;
	CHECK_EQ(cf_pack_read_header(f.pack, f.len, f.repo, bad, &e, &n), CF_EAUTH);
	CHECK_EQ(cf_pack_read_header(f.pack, f.len, repo2, key, &e, &n), CF_EAUTH);
	/* T is bound into the trailer: truncated or extended packs fail. */
	CHECK_EQ(cf_pack_read_header(f.pack, f.len - 1, f.repo, key, &e, &n), CF_EAUTH);
	big = malloc(f.len + 1);
	if (big != NULL) {
		memcpy(big, f.pack, f.len);
		big[f.len] = 0;
		CHECK_EQ(cf_pack_read_header(big, f.len + 1, f.repo, key, &e, &n), CF_EAUTH);
	}
	CHECK_EQ(cf_pack_read_header(f.pack, 100, f.repo, key, &e, &n), CF_EFORMAT);
	CHECK_EQ(cf_pack_read_header(f.pack, CF_PACK_MAX_BYTES + 1, f.repo, key, &e, &n),
	         CF_ETOOBIG);
	CHECK(e == NULL && n == 0);
	/* A flipped bit in the header or the trailer. */
	f.pack[f.len - 1] ^= 0x80;
	CHECK_EQ(cf_pack_read_header(f.pack, f.len, f.repo, key, &e, &n), CF_EAUTH);
	f.pack[f.len - 1] ^= 0x80;
	f.pack[hdr + 30] ^= 4;
	CHECK_EQ(cf_pack_read_header(f.pack, f.len, f.repo, key, &e, &n), CF_EAUTH);
	f.pack[hdr + 30] ^= 4;
	CHECK_EQ(cf_pack_read_header(f.pack, f.len, f.repo, key, &e, &n), 0);
	cf_free(e);
	e = NULL;
	/* The padding is not authenticated, but it carries nothing. */
	if (f.len - CF_PACK_TRAILER_BYTES > hdr_end) {
		f.pack[f.len - CF_PACK_TRAILER_BYTES - 1] ^= 1;
		CHECK_EQ(cf_pack_read_header(f.pack, f.len, f.repo, key, &e, &n), 0);
	}
out:
	free(big);
	cf_free(e);
	cf_key_free(key);
	cf_key_free(bad);
	cf_boxkey_free(other);
	fix_free(&f);
}

static bool
all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

CF_TEST(blob_open_failures)
{
	struct fix f;
	struct cf_key *key = NULL;
	struct cf_key *kid2 = NULL;
	struct cf_pack_entry e;
	uint8_t out[8192];
	const uint8_t *s = NULL;

	CHECK(fix_random(&f));
	CHECK_EQ(cf_key_new_random(&kid2), 0);
	if (f.pack == NULL || kid2 == NULL ||
	    cf_pack_open_key(f.pack, f.len, f.repo, f.dk, &key) != 0)
		goto out;
	for (int i = 0; i < NBLOBS; i++) {
		e = f.want[i];
		s = f.pack + e.offset;
		CHECK_EQ(cf_blob_open(key, f.repo, &e, s, e.stored_len, f.z, f.k_id, out), 0);
		/* Another K_id: the id does not match; the plaintext is wiped. */
		CHECK_EQ(cf_blob_open(key, f.repo, &e, s, e.stored_len, f.z, kid2, out), CF_EAUTH);
		CHECK(all_zero(out, e.raw_len));
		CHECK_EQ(cf_blob_open(key, f.repo, &e, s, e.stored_len - 1, f.z, f.k_id, out),
		         CF_ETRUNC);
		CHECK_EQ(cf_blob_open(key, f.repo, &e, s, e.stored_len + 1, f.z, f.k_id, out),
		         CF_EFORMAT);
		/* Every field of the entry is bound by the AD. */
		e.type = (uint8_t)(3 - e.type);
		CHECK_EQ(cf_blob_open(key, f.repo, &e, s, e.stored_len, f.z, f.k_id, out),
		         CF_EAUTH);
		e = f.want[i];
		e.id[5] ^= 1;
		CHECK_EQ(cf_blob_open(key, f.repo, &e, s, e.stored_len, f.z, f.k_id, out),
		         CF_EAUTH);
		e = f.want[i];
		e.raw_len += 1;
		CHECK(cf_blob_open(key, f.repo, &e, s, e.stored_len, f.z, f.k_id, out) != 0);
		e = f.want[i];
		f.pack[e.offset + 30] ^= 2;
		CHECK_EQ(cf_blob_open(key, f.repo, &e, s, e.stored_len, f.z, f.k_id, out),
		         CF_EAUTH);
		CHECK(all_zero(out, e.raw_len));
		f.pack[e.offset + 30] ^= 2;
	}
	/* A frame in a comp = 0 entry: the AD differs. */
	e = f.want[1];
	e.comp = 0;
	e.raw_len = e.stored_len - CF_BLOB_OVERHEAD;
	CHECK_EQ(cf_blob_open(key, f.repo, &e, f.pack + e.offset, e.stored_len, f.z, f.k_id, out),
	         CF_EAUTH);
out:
	cf_key_free(kid2);
	cf_key_free(key);
	fix_free(&f);
}

CF_TEST(writer_misuse)
{
	uint8_t repo[32] = {1};
	uint8_t id[32] = {2};
	uint8_t data[100] = {3};
	struct cf_boxkey *dk = NULL;
	struct cf_pack_writer *w = NULL;
	uint8_t *pack = NULL;
	uint8_t *pack2 = NULL;
	size_t len = 0;
	size_t n = 0;
	uint8_t h[32];

	CHECK_EQ(cf_boxkey_new(&dk), 0);
	if (dk == NULL || cf_pack_writer_new(repo, 1, cf_boxkey_pk(dk), &w) != 0)
		goto out;
	CHECK_EQ(cf_pack_writer_finish(w, &pack, &len, h), CF_EINVAL);
	CHECK_EQ(cf_pack_writer_add(w, 3, 0, id, 100, data, 100), CF_EINVAL);
	CHECK_EQ(cf_pack_writer_add(w, 1, 2, id, 100, data, 100), CF_EINVAL);
	CHECK_EQ(cf_pack_writer_add(w, 1, 0, id, 100, data, 99), CF_EINVAL);
	CHECK_EQ(cf_pack_writer_add(w, 1, 1, id, 100, data, 100), CF_EINVAL);
	CHECK_EQ(cf_pack_writer_add(w, 1, 0, id, 0, data, 0), CF_EINVAL);
	CHECK_EQ(cf_pack_writer_count(w), 0);
	CHECK_EQ(cf_pack_writer_add(w, 1, 0, id, 100, data, 100), 0);
	CHECK_EQ(cf_pack_writer_add(w, 2, 1, id, 100, data, 50), 0);
	CHECK_EQ(cf_pack_writer_count(w), 2);
	CHECK_EQ(cf_pack_writer_bytes(w), 140 + 90);
	CHECK(cf_pack_writer_entries(w, &n) != NULL && n == 2);
	CHECK_EQ(cf_pack_writer_finish(w, &pack, &len, h), 0);
	CHECK_EQ(len, cf_padme(116 + 230 + 40 + 4 + 2 * 46 + 52));
	CHECK_EQ(cf_pack_writer_add(w, 1, 0, id, 100, data, 100), CF_EINVAL);
	CHECK_EQ(cf_pack_writer_bytes(w), 140 + 90);
	CHECK_EQ(cf_pack_writer_finish(w, &pack2, &len, h), CF_EINVAL);
	CHECK(pack2 == NULL && len == 0);
	CHECK(cf_pack_writer_entries(w, &n) != NULL && n == 2);
out:
	cf_free(pack);
	cf_pack_writer_free(w);
	cf_pack_writer_free(NULL);
	cf_boxkey_free(dk);
}

/* A low-order public key cannot receive a wrapped key. */
CF_TEST(writer_low_order_key)
{
	uint8_t repo[32] = {1};
	uint8_t zero_pk[32] = {0};
	struct cf_pack_writer *w = NULL;

	CHECK_EQ(cf_pack_writer_new(repo, 1, zero_pk, &w), CF_EAUTH);
	CHECK(w == NULL);
}

/* Two 64 MiB tree blobs would pass CF_PACK_MAX_BYTES once padded: the second is refused. */
CF_TEST(writer_too_big)
{
	uint8_t repo[32] = {1};
	uint8_t id[32] = {2};
	struct cf_boxkey *dk = NULL;
	struct cf_pack_writer *w = NULL;
	uint8_t *big = calloc(1, CF_TREE_RAW_MAX);
	uint8_t *pack = NULL;
	size_t len = 0;
	uint8_t h[32];

	CHECK_EQ(cf_boxkey_new(&dk), 0);
	if (big == NULL || dk == NULL || cf_pack_writer_new(repo, 1, cf_boxkey_pk(dk), &w) != 0)
		goto out;
	CHECK_EQ(cf_pack_writer_add(w, 2, 0, id, CF_TREE_RAW_MAX, big, CF_TREE_RAW_MAX), 0);
	CHECK_EQ(cf_pack_writer_add(w, 2, 0, id, CF_TREE_RAW_MAX, big, CF_TREE_RAW_MAX),
	         CF_ETOOBIG);
	CHECK_EQ(cf_pack_writer_add(w, 1, 0, id, CF_DATA_RAW_MAX, big, CF_DATA_RAW_MAX), 0);
	CHECK_EQ(cf_pack_writer_count(w), 2);
	CHECK_EQ(cf_pack_writer_finish(w, &pack, &len, h), 0);
	CHECK(len <= CF_PACK_MAX_BYTES);
out:
	cf_free(pack);
	cf_pack_writer_free(w);
	cf_boxkey_free(dk);
	free(big);
}

/* Encode a header_plain of @n entries for the parser. */
static size_t
header_bytes(uint8_t *out, size_t cap, uint32_t count, const struct cf_pack_entry *e, size_t n)
{
	struct cf_buf b;
	size_t len = 0;

	cf_buf_init(&b, cap);
	if (cf_buf_u32be(&b, count) == 0) {
		for (size_t i = 0; i < n; i++)
			if (cf_pack_entry_put(&b, &e[i]) != 0)
				break;
		len = b.len;
		memcpy(out, b.p, len);
	}
	cf_buf_release(&b);
	return len;
}

static int
parse(const uint8_t *p, size_t len, uint64_t end)
{
	struct cf_pack_entry *e = NULL;
	size_t n = 0;
	int rc = cf_pack_header_parse(p, len, end, &e, &n);

	CHECK(rc == 0 ? e != NULL && n > 0 : e == NULL && n == 0);
	cf_free(e);
	return rc;
}

CF_TEST(header_parse)
{
	struct cf_pack_entry e[2] = {entry(1, 0, 116, 50, 10), entry(2, 1, 166, 50, 11)};
	uint8_t buf[256];
	size_t len;

	len = header_bytes(buf, sizeof(buf), 2, e, 2);
	CHECK_EQ(parse(buf, len, 216), 0);
	CHECK_EQ(parse(buf, len, 215), CF_EFORMAT);
	CHECK_EQ(parse(buf, len - 1, 216), CF_ETRUNC);
	CHECK_EQ(parse(buf, 3, 216), CF_ETRUNC);
	buf[len] = 0;
	CHECK_EQ(parse(buf, len + 1, 216), CF_EFORMAT);
	len = header_bytes(buf, sizeof(buf), 3, e, 2);
	CHECK_EQ(parse(buf, len, 216), CF_ETRUNC);
	len = header_bytes(buf, sizeof(buf), 0, e, 0);
	CHECK_EQ(parse(buf, len, 216), CF_EFORMAT);
	len = header_bytes(buf, sizeof(buf), CF_PACK_MAX_ENTRIES + 1, e, 2);
	CHECK_EQ(parse(buf, len, 216), CF_ETOOBIG);
	len = header_bytes(buf, sizeof(buf), UINT32_MAX, e, 2);
	CHECK_EQ(parse(buf, len, 216), CF_ETOOBIG);
	e[1].offset = 150;
	len = header_bytes(buf, sizeof(buf), 2, e, 2);
	CHECK_EQ(parse(buf, len, 216), CF_EFORMAT);
	e[1].offset = 166;
	e[1].comp = 0;
	len = header_bytes(buf, sizeof(buf), 2, e, 2);
	CHECK_EQ(parse(buf, len, 216), CF_EFORMAT);
}

/* Fail every allocation in turn: a clean error and no leak (checked by LeakSanitizer). */
CF_TEST(allocation_failures)
{
	int ok = 0;

	for (uint64_t i = 1; i < 200 && ok == 0; i++) {
		struct fix f;
		struct cf_key *key = NULL;
		struct cf_pack_entry *e = NULL;
		size_t n = 0;
		bool built;

		cf_alloc_fail_after(i);
		built = fix_random(&f);
		if (built && cf_pack_open_key(f.pack, f.len, f.repo, f.dk, &key) == 0 &&
		    cf_pack_read_header(f.pack, f.len, f.repo, key, &e, &n) == 0 &&
		    open_all(&f, f.pack, f.len, key, e, n) == 0)
			ok = 1;
		cf_alloc_fail_after(0);
		cf_free(e);
		cf_key_free(key);
		fix_free(&f);
	}
	CHECK(ok);
}

/* The test vectors: keys are fixed, so the pack bytes decode to known entries. */
static const struct {
	const char *name;
	int code;
} codes[] = {{"ok", 0},
             {"CF_EAUTH", CF_EAUTH},
             {"CF_EFORMAT", CF_EFORMAT},
             {"CF_ETRUNC", CF_ETRUNC},
             {"CF_EVERSION", CF_EVERSION},
             {"CF_ETOOBIG", CF_ETOOBIG}};

static const char *
code_name(int rc)
{
	for (size_t i = 0; i < CF_ARRAY_LEN(codes); i++)
		if (codes[i].code == rc)
			return codes[i].name;
	return "?";
}

static uint8_t *
vec_hex(const struct th_vec *v, const char *key, size_t *len)
{
	const char *s = th_vec_get(v, key);

	*len = 0;
	return s == NULL ? NULL : th_unhex(s, len);
}

/* Run the reader over a vector's pack; returns the first error and the stage it came from. */
static int
run_pack(struct fix *f, const uint8_t *pack, size_t len, const char **stage,
         struct cf_pack_entry **e, size_t *n)
{
	struct cf_key *key = NULL;
	uint32_t epoch = 0;
	int rc;

	*stage = "head";
	if ((rc = cf_pack_head_epoch(pack, len, &epoch)) != 0)
		goto out;
	*stage = "key";
	if ((rc = cf_pack_open_key(pack, len, f->repo, f->dk, &key)) != 0)
		goto out;
	*stage = "header";
	if ((rc = cf_pack_read_header(pack, len, f->repo, key, e, n)) != 0)
		goto out;
	*stage = "blob";
	rc = open_all(f, pack, len, key, *e, *n);
out:
	cf_key_free(key);
	return rc;
}

static void
check_vector(const struct th_vec *v, struct fix *f)
{
	size_t len = 0;
	uint8_t *pack = vec_hex(v, "pack", &len);
	const char *stage = NULL;
	const char *want_stage = th_vec_get(v, "stage");
	const char *expect = th_vec_get(v, "expect");
	struct cf_pack_entry *e = NULL;
	size_t n = 0;
	size_t elen = 0;
	uint8_t *ebytes = vec_hex(v, "entries", &elen);
	uint8_t h[32];
	char hex[65];
	int rc;

	CHECK(pack != NULL && expect != NULL && want_stage != NULL);
	if (pack == NULL || expect == NULL || want_stage == NULL)
		goto out;
	rc = run_pack(f, pack, len, &stage, &e, &n);
	if (strcmp(code_name(rc), expect) != 0 || (rc != 0 && strcmp(stage, want_stage) != 0))
		fprintf(stderr, "  vector line %d: got %s at %s\n", v->line, code_name(rc), stage);
	CHECK(strcmp(code_name(rc), expect) == 0);
	CHECK(rc == 0 || strcmp(stage, want_stage) == 0);
	if (rc != 0)
		goto out;
	cf_hash(h, pack, len);
	cf_hex(hex, h, 32);
	CHECK(th_vec_get(v, "id") != NULL && strcmp(hex, th_vec_get(v, "id")) == 0);
	CHECK(ebytes != NULL && elen == n * CF_PACK_ENTRY_BYTES);
	for (size_t i = 0; ebytes != NULL && i < n && elen == n * CF_PACK_ENTRY_BYTES; i++) {
		struct cf_reader r;
		struct cf_pack_entry d;

		cf_reader_init(&r, ebytes + i * CF_PACK_ENTRY_BYTES, CF_PACK_ENTRY_BYTES);
		CHECK(cf_pack_entry_get(&r, &d) == 0 && entry_eq(&d, &e[i]));
	}
out:
	free(ebytes);
	cf_free(e);
	free(pack);
}

/* The vector keys: dk_sk 0x40.., repo_id 0x60.., K_id 0x80.. */
static void
fixed_keys(uint8_t sk[32], uint8_t repo[32], uint8_t kid[32])
{
	for (int i = 0; i < 32; i++) {
		sk[i] = (uint8_t)(0x40 + i);
		repo[i] = (uint8_t)(0x60 + i);
		kid[i] = (uint8_t)(0x80 + i);
	}
}

CF_TEST(vectors)
{
	FILE *fp = fopen(th_vector_path("pack.txt"), "r");
	struct th_vec v = {0};
	uint8_t sk[32];
	uint8_t repo[32];
	uint8_t kid[32];
	struct fix f;
	int n = 0;

	fixed_keys(sk, repo, kid);
	/* The fixture's plaintexts are what the vector blobs hold. */
	CHECK(fix_init(&f, sk, repo, kid));
	CHECK(fp != NULL);
	if (fp == NULL || getenv("CF_GEN_VECTORS") != NULL)
		goto out;
	while (th_vec_next(fp, &v)) {
		check_vector(&v, &f);
		n++;
	}
	CHECK(n >= 8);
out:
	th_vec_clear(&v);
	fix_free(&f);
	if (fp != NULL)
		fclose(fp);
}

static void
gen_sibling(const char *what, const uint8_t *p, size_t len, const char *stage, const char *expect)
{
	printf("# %s\n", what);
	th_print_hex("pack", p, len);
	printf("stage = %s\nexpect = %s\n\n", stage, expect);
}

CF_TEST(generate)
{
	uint8_t sk[32];
	uint8_t repo[32];
	uint8_t kid[32];
	struct cf_buf b;
	struct fix f;
	uint8_t *m = NULL;
	size_t blob_end;

	if (getenv("CF_GEN_VECTORS") == NULL)
		return;
	fixed_keys(sk, repo, kid);
	if (!fix_init(&f, sk, repo, kid) || (m = malloc(f.len + 1)) == NULL)
		abort();
	cf_buf_init(&b, 4096);
	for (int i = 0; i < NBLOBS; i++)
		if (cf_pack_entry_put(&b, &f.want[i]) != 0)
			abort();
	printf("# Packs, docs/format.md section 5. Generated by CF_GEN_VECTORS=1 test_pack.\n"
	       "# Keys: DK_sec = 40 41 .. 5f, repo_id = 60 61 .. 7f, K_id = 80 81 .. 9f.\n"
	       "# Blobs: \"hello, coffer\" (data), then text of 3000 (data), 60 (tree) and 5000\n"
	       "# (tree) bytes as built by test_pack.c text(). entries: the header's entries.\n"
	       "# stage: the first reader step that must fail (head, key, header, blob).\n\n");
	th_print_hex("pack", f.pack, f.len);
	th_print_hex("id", f.id, 32);
	th_print_hex("entries", b.p, b.len);
	printf("epoch = 7\nstage = none\nexpect = ok\n\n");
	blob_end = f.want[NBLOBS - 1].offset + f.want[NBLOBS - 1].stored_len;
	memcpy(m, f.pack, f.len);
	m[5] = 2;
	gen_sibling("version 2", m, f.len, "head", "CF_EVERSION");
	m[5] = 1;
	m[4] = 5;
	gen_sibling("kind 5", m, f.len, "head", "CF_EFORMAT");
	m[4] = 3;
	gen_sibling("truncated to 115 bytes", m, 115, "head", "CF_ETRUNC");
	m[50] ^= 0x10;
	gen_sibling("one bit flipped in the wrapped key", m, f.len, "key", "CF_EAUTH");
	m[50] ^= 0x10;
	m[blob_end + 40] ^= 0x01;
	gen_sibling("one bit flipped in the header", m, f.len, "header", "CF_EAUTH");
	m[blob_end + 40] ^= 0x01;
	m[f.len - 20] ^= 0x01;
	gen_sibling("one bit flipped in the trailer", m, f.len, "header", "CF_EAUTH");
	m[f.len - 20] ^= 0x01;
	gen_sibling("truncated by one byte", m, f.len - 1, "header", "CF_EAUTH");
	m[f.len] = 0;
	gen_sibling("one trailing byte", m, f.len + 1, "header", "CF_EAUTH");
	m[f.want[1].offset + 60] ^= 0x02;
	gen_sibling("one bit flipped in blob 1", m, f.len, "blob", "CF_EAUTH");
	m[f.want[1].offset + 60] ^= 0x02;
	cf_buf_release(&b);
	free(m);
	fix_free(&f);
}
