/*
 * test_index.c - index objects (encode, decode, limits, tampering, known-answer vectors in
 * tests/vectors/index.txt; CF_GEN_VECTORS=1 prints that file) and the in-memory index.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "buf/buf.h"
#include "crypto/crypto.h"
#include "harness.h"
#include "index/index.h"
#include "reader/reader.h"

static struct cf_pack_entry
entry(uint8_t type, uint8_t comp, uint32_t offset, uint32_t stored, uint32_t raw, uint8_t idb)
{
	struct cf_pack_entry e = {
	        .type = type, .comp = comp, .offset = offset, .stored_len = stored, .raw_len = raw};

	memset(e.id, idb, sizeof(e.id));
	return e;
}

/* Two packs: four entries in a 1024-byte pack and one in a 4096-byte pack. */
struct sample {
	struct cf_pack_entry a[4];
	struct cf_pack_entry b[1];
	struct cf_index_pack packs[2];
};

static void
sample_init(struct sample *s)
{
	s->a[0] = entry(1, 0, 116, 53, 13, 0x01);
	s->a[1] = entry(1, 1, 169, 215, 3000, 0x02);
	s->a[2] = entry(2, 0, 384, 100, 60, 0x03);
	s->a[3] = entry(2, 1, 484, 240, 5000, 0x04);
	s->b[0] = entry(1, 0, 116, 3000, 2960, 0x05);
	memset(s->packs, 0, sizeof(s->packs));
	memset(s->packs[0].id, 0xaa, 32);
	s->packs[0].len = 1024;
	s->packs[0].count = 4;
	s->packs[0].entries = s->a;
	memset(s->packs[1].id, 0xbb, 32);
	s->packs[1].len = 4096;
	s->packs[1].count = 1;
	s->packs[1].entries = s->b;
}

static bool
entry_eq(const struct cf_pack_entry *a, const struct cf_pack_entry *b)
{
	return a->type == b->type && a->comp == b->comp && a->offset == b->offset &&
	       a->stored_len == b->stored_len && a->raw_len == b->raw_len &&
	       memcmp(a->id, b->id, 32) == 0;
}

static bool
packs_eq(const struct cf_index_pack *a, const struct cf_index_pack *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (memcmp(a[i].id, b[i].id, 32) != 0 || a[i].len != b[i].len ||
		    a[i].count != b[i].count)
			return false;
		for (size_t j = 0; j < a[i].count; j++)
			if (!entry_eq(&a[i].entries[j], &b[i].entries[j]))
				return false;
	}
	return true;
}

CF_TEST(encode_decode)
{
	struct sample s;
	struct cf_key *k = NULL;
	struct cf_index_pack *got = NULL;
	uint8_t repo[32] = {7};
	uint8_t *obj = NULL;
	size_t len = 0;
	size_t n = 0;
	uint8_t id[32];
	uint8_t h[32];

	sample_init(&s);
	CHECK_EQ(cf_key_new_random(&k), 0);
	if (k == NULL)
		return;
	CHECK_EQ(cf_index_encode(k, repo, s.packs, 2, &obj, &len, id), 0);
	CHECK_EQ(len, 8 + 40 + 4 + 2 * 44 + 5 * 46);
	cf_hash(h, obj, len);
	CHECK(memcmp(h, id, 32) == 0);
	CHECK(obj != NULL && memcmp(obj, "COFR\x04\x01\x00\x00", 8) == 0);
	CHECK_EQ(cf_index_decode(k, repo, obj, len, &got, &n), 0);
	CHECK(n == 2 && got != NULL && packs_eq(got, s.packs, 2));
	cf_index_packs_free(got, n);
	cf_index_packs_free(NULL, 0);
	cf_free(obj);
	cf_key_free(k);
}

CF_TEST(encode_limits)
{
	struct sample s;
	struct cf_key *k = NULL;
	struct cf_index_pack *many = calloc(CF_INDEX_MAX_PACKS + 1, sizeof(*many));
	uint8_t repo[32] = {7};
	uint8_t *obj = NULL;
	size_t len = 0;
	uint8_t id[32];

	sample_init(&s);
	CHECK_EQ(cf_key_new_random(&k), 0);
	if (k == NULL || many == NULL)
		goto out;
	CHECK_EQ(cf_index_encode(k, repo, s.packs, 0, &obj, &len, id), CF_EINVAL);
	CHECK_EQ(cf_index_encode(k, repo, many, CF_INDEX_MAX_PACKS + 1, &obj, &len, id),
	         CF_ETOOBIG);
	s.packs[1].count = 0;
	CHECK_EQ(cf_index_encode(k, repo, s.packs, 2, &obj, &len, id), CF_EINVAL);
	s.packs[1].count = CF_PACK_MAX_ENTRIES + 1;
	CHECK_EQ(cf_index_encode(k, repo, s.packs, 2, &obj, &len, id), CF_ETOOBIG);
	sample_init(&s);
	s.a[1].offset = 160; /* overlaps a[0] */
	CHECK_EQ(cf_index_encode(k, repo, s.packs, 2, &obj, &len, id), CF_EINVAL);
	sample_init(&s);
	s.packs[0].len = 700; /* a[3] ends past len - trailer */
	CHECK_EQ(cf_index_encode(k, repo, s.packs, 2, &obj, &len, id), CF_EINVAL);
	sample_init(&s);
	s.b[0].type = 9;
	CHECK_EQ(cf_index_encode(k, repo, s.packs, 2, &obj, &len, id), CF_EINVAL);
	CHECK(obj == NULL && len == 0);
out:
	free(many);
	cf_key_free(k);
}

/* Any single bit flip anywhere in the object is refused. */
CF_TEST(every_bit_flip_fails)
{
	struct sample s;
	struct cf_key *k = NULL;
	struct cf_index_pack *got = NULL;
	uint8_t repo[32] = {7};
	uint8_t repo2[32] = {8};
	uint8_t *obj = NULL;
	size_t len = 0;
	size_t n = 0;
	uint8_t id[32];

	sample_init(&s);
	CHECK_EQ(cf_key_new_random(&k), 0);
	if (k == NULL || cf_index_encode(k, repo, s.packs, 2, &obj, &len, id) != 0)
		goto out;
	for (size_t i = 0; i < len * 8; i++) {
		int rc;

		obj[i / 8] ^= (uint8_t)(1u << (i % 8));
		rc = cf_index_decode(k, repo, obj, len, &got, &n);
		CHECK(i < 64 ? rc == CF_EFORMAT || rc == CF_EVERSION : rc == CF_EAUTH);
		CHECK(got == NULL && n == 0);
		obj[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	CHECK_EQ(cf_index_decode(k, repo2, obj, len, &got, &n), CF_EAUTH);
	CHECK_EQ(cf_index_decode(k, repo, obj, len - 1, &got, &n), CF_EAUTH);
	CHECK_EQ(cf_index_decode(k, repo, obj, 47, &got, &n), CF_ETRUNC);
	CHECK_EQ(cf_index_decode(k, repo, obj, 7, &got, &n), CF_ETRUNC);
	CHECK_EQ(cf_index_decode(k, repo, obj, len, &got, &n), 0);
	cf_index_packs_free(got, n);
out:
	cf_free(obj);
	cf_key_free(k);
}

CF_TEST(decode_too_big)
{
	/* calloc'd and never touched: the length is refused before any byte is read. */
	uint8_t *big = calloc(1, (size_t)CF_INDEX_MAX_BYTES + 1);
	struct cf_key *k = NULL;
	struct cf_index_pack *got = NULL;
	size_t n = 0;

	CHECK_EQ(cf_key_new_random(&k), 0);
	if (big != NULL && k != NULL) {
		uint8_t repo[32] = {7};

		CHECK_EQ(cf_index_decode(k, repo, big, (size_t)CF_INDEX_MAX_BYTES + 1, &got, &n),
		         CF_ETOOBIG);
	}
	cf_key_free(k);
	free(big);
}

/* Build an index_plain by hand for the plaintext parser. */
static void
put_pack(struct cf_buf *b, uint8_t idb, uint64_t len, uint32_t count, const struct cf_pack_entry *e,
         size_t n)
{
	uint8_t id[32];

	memset(id, idb, sizeof(id));
	CHECK(cf_buf_put(b, id, 32) == 0 && cf_buf_u64be(b, len) == 0 &&
	      cf_buf_u32be(b, count) == 0);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(cf_pack_entry_put(b, &e[i]), 0);
}

static int
parse_plain(const struct cf_buf *b)
{
	struct cf_index_pack *p = NULL;
	size_t n = 0;
	int rc = cf_index_parse_plain(b->p, b->len, &p, &n);

	CHECK(rc == 0 ? p != NULL && n > 0 : p == NULL && n == 0);
	cf_index_packs_free(p, n);
	return rc;
}

CF_TEST(parse_plain_limits)
{
	struct sample s;
	struct cf_buf b;

	sample_init(&s);
	cf_buf_init(&b, 1 << 20);
	CHECK(cf_buf_u32be(&b, 2) == 0);
	put_pack(&b, 0xaa, 1024, 4, s.a, 4);
	put_pack(&b, 0xbb, 4096, 1, s.b, 1);
	CHECK_EQ(parse_plain(&b), 0);
	CHECK(cf_buf_u8(&b, 0) == 0);
	CHECK_EQ(parse_plain(&b), CF_EFORMAT); /* trailing byte */
	b.len -= 2;
	CHECK_EQ(parse_plain(&b), CF_ETRUNC);
	b.len = 0;
	CHECK_EQ(parse_plain(&b), CF_ETRUNC);
	CHECK(cf_buf_u32be(&b, 0) == 0);
	CHECK_EQ(parse_plain(&b), CF_EFORMAT); /* npacks 0 */
	b.len = 0;
	CHECK(cf_buf_u32be(&b, CF_INDEX_MAX_PACKS + 1) == 0);
	put_pack(&b, 0xaa, 1024, 4, s.a, 4);
	CHECK_EQ(parse_plain(&b), CF_ETOOBIG);
	b.len = 0;
	CHECK(cf_buf_u32be(&b, 3) == 0); /* claims more packs than the bytes can hold */
	put_pack(&b, 0xaa, 1024, 4, s.a, 4);
	CHECK_EQ(parse_plain(&b), CF_ETRUNC);
	b.len = 0;
	CHECK(cf_buf_u32be(&b, 1) == 0);
	put_pack(&b, 0xaa, 1024, 5, s.a, 4); /* count past the bytes */
	CHECK_EQ(parse_plain(&b), CF_ETRUNC);
	b.len = 0;
	CHECK(cf_buf_u32be(&b, 1) == 0);
	put_pack(&b, 0xaa, 1024, 0, s.a, 1); /* count 0 */
	CHECK_EQ(parse_plain(&b), CF_EFORMAT);
	b.len = 0;
	CHECK(cf_buf_u32be(&b, 1) == 0);
	put_pack(&b, 0xaa, 1024, CF_PACK_MAX_ENTRIES + 1, s.a, 4);
	CHECK_EQ(parse_plain(&b), CF_ETOOBIG);
	b.len = 0;
	CHECK(cf_buf_u32be(&b, 1) == 0);
	put_pack(&b, 0xaa, 100, 1, s.a, 1); /* pack too short for any blob */
	CHECK_EQ(parse_plain(&b), CF_EFORMAT);
	b.len = 0;
	CHECK(cf_buf_u32be(&b, 1) == 0);
	put_pack(&b, 0xaa, (uint64_t)CF_PACK_MAX_BYTES + 1, 1, s.a, 1);
	CHECK_EQ(parse_plain(&b), CF_EFORMAT);
	b.len = 0;
	s.a[2].offset = 200; /* overlap */
	CHECK(cf_buf_u32be(&b, 1) == 0);
	put_pack(&b, 0xaa, 1024, 4, s.a, 4);
	CHECK_EQ(parse_plain(&b), CF_EFORMAT);
	cf_buf_release(&b);
}

/* The total entry limit across packs (2^22) is enforced before allocating. */
CF_TEST(parse_plain_total_entries)
{
	struct cf_buf b;
	struct cf_pack_entry e = entry(1, 0, 116, 41, 1, 1);
	uint32_t per = CF_PACK_MAX_ENTRIES;
	struct cf_index_pack *p = NULL;
	size_t n = 0;

	/* Five packs of 2^20 entries each would be 5 * 2^20 > 2^22: the fifth fails. */
	cf_buf_init(&b, (size_t)CF_INDEX_MAX_BYTES);
	CHECK(cf_buf_u32be(&b, 5) == 0);
	for (int i = 0; i < 5; i++) {
		CHECK(cf_buf_zero(&b, 32) == 0 && cf_buf_u64be(&b, CF_PACK_MAX_BYTES) == 0 &&
		      cf_buf_u32be(&b, per) == 0);
		for (uint32_t j = 0; j < (i < 4 ? per : 1); j++) {
			e.offset = 116 + 41 * j;
			if (cf_pack_entry_put(&b, &e) != 0) {
				th_fail(__FILE__, __LINE__, "put");
				break;
			}
		}
	}
	CHECK_EQ(cf_index_parse_plain(b.p, b.len, &p, &n), CF_ETOOBIG);
	CHECK(p == NULL && n == 0);
	cf_buf_release(&b);
}

CF_TEST(table_basics)
{
	struct cf_index *ix = NULL;
	struct cf_blob_loc loc;
	struct sample s;
	uint8_t pid[32];
	uint8_t none[32] = {0x77};

	sample_init(&s);
	CHECK_EQ(cf_index_new(&ix), 0);
	if (ix == NULL)
		return;
	CHECK_EQ(cf_index_count(ix), 0);
	CHECK_EQ(cf_index_lookup(ix, s.a[0].id, &loc), CF_ENOENT);
	CHECK_EQ(cf_index_add_pack(ix, &s.packs[0]), 0);
	CHECK_EQ(cf_index_add_pack(ix, &s.packs[1]), 0);
	CHECK_EQ(cf_index_count(ix), 5);
	CHECK(cf_index_has(ix, s.a[2].id));
	CHECK(!cf_index_has(ix, none));
	CHECK_EQ(cf_index_lookup(ix, s.a[1].id, &loc), 0);
	CHECK(entry_eq(&loc.e, &s.a[1]) && memcmp(loc.pack, s.packs[0].id, 32) == 0);
	CHECK_EQ(cf_index_lookup(ix, s.b[0].id, &loc), 0);
	CHECK(entry_eq(&loc.e, &s.b[0]) && memcmp(loc.pack, s.packs[1].id, 32) == 0);
	/* A blob already present keeps its first location. */
	memset(pid, 0xcc, sizeof(pid));
	CHECK_EQ(cf_index_add(ix, pid, &s.a[1]), 0);
	CHECK_EQ(cf_index_count(ix), 5);
	CHECK_EQ(cf_index_lookup(ix, s.a[1].id, &loc), 0);
	CHECK(memcmp(loc.pack, s.packs[0].id, 32) == 0);
	cf_index_free(ix);
	cf_index_free(NULL);
}

struct pack_count {
	size_t n;
	size_t stop_at;
	uint8_t seen_xor[32];
};

static int
count_pack(void *arg, const uint8_t pack_id[static CF_ID_BYTES])
{
	struct pack_count *pc = arg;

	for (int i = 0; i < 32; i++)
		pc->seen_xor[i] ^= pack_id[i];
	if (++pc->n == pc->stop_at)
		return 42;
	return 0;
}

/* Many random blobs in many packs: growth, lookups, interned packs. */
CF_TEST(table_many)
{
	enum { N = 200000, PACKS = 3000 };
	struct cf_index *ix = NULL;
	uint8_t(*ids)[32] = malloc((size_t)N * 32);
	uint8_t(*pids)[32] = malloc((size_t)PACKS * 32);
	struct pack_count pc = {0};
	uint8_t want_xor[32] = {0};
	struct cf_blob_loc loc;
	bool ok = true;

	CHECK_EQ(cf_index_new(&ix), 0);
	if (ix == NULL || ids == NULL || pids == NULL)
		goto out;
	th_randbuf(pids, (size_t)PACKS * 32);
	for (size_t p = 0; p < PACKS; p++)
		for (int i = 0; i < 32; i++)
			want_xor[i] ^= pids[p][i];
	th_randbuf(ids, (size_t)N * 32);
	/* Ids that share their first 8 bytes (the hash key) must still be told apart. */
	memcpy(ids[1], ids[0], 8);
	memcpy(ids[2], ids[0], 8);
	for (size_t i = 0; i < N && ok; i++) {
		struct cf_pack_entry e = entry(1, 0, (uint32_t)(116 + i), 41, 1, 0);

		memcpy(e.id, ids[i], 32);
		ok = cf_index_add(ix, pids[i % PACKS], &e) == 0;
	}
	CHECK(ok);
	CHECK_EQ(cf_index_count(ix), N);
	for (size_t i = 0; i < N && ok; i++) {
		ok = cf_index_lookup(ix, ids[i], &loc) == 0 && loc.e.offset == 116 + i &&
		     memcmp(loc.pack, pids[i % PACKS], 32) == 0 &&
		     memcmp(loc.e.id, ids[i], 32) == 0;
	}
	CHECK(ok);
	for (size_t i = 0; i < 1000; i++) {
		uint8_t x[32];

		th_randbuf(x, 32);
		CHECK(!cf_index_has(ix, x));
	}
	CHECK_EQ(cf_index_each_pack(ix, count_pack, &pc), 0);
	CHECK_EQ(pc.n, PACKS);
	CHECK(memcmp(pc.seen_xor, want_xor, 32) == 0);
	pc.n = 0;
	pc.stop_at = 10;
	CHECK_EQ(cf_index_each_pack(ix, count_pack, &pc), 42);
	CHECK_EQ(pc.n, 10);
out:
	free(ids);
	free(pids);
	cf_index_free(ix);
}

/* Fail every allocation in turn: errors are clean, nothing leaks, state stays usable. */
/* Add 5000 blobs over 715 packs; returns the first error. */
static int
fill(struct cf_index *ix, size_t *added)
{
	uint8_t pid[32];
	int rc = 0;

	*added = 0;
	for (uint32_t i = 0; i < 5000 && rc == 0; i++) {
		struct cf_pack_entry e = entry(1, 0, 116, 41, 1, 0);

		memset(pid, (int)(i / 7), sizeof(pid));
		memcpy(e.id, &i, sizeof(i));
		memset(e.id + 8, 0x5a, 24);
		if ((rc = cf_index_add(ix, pid, &e)) == 0)
			(*added)++;
	}
	return rc;
}

CF_TEST(table_allocation_failures)
{
	bool done = false;

	for (uint64_t k = 1; k < 100 && !done; k++) {
		struct cf_index *ix = NULL;

		cf_alloc_fail_after(k);
		if (cf_index_new(&ix) == 0) {
			size_t added = 0;
			int rc = fill(ix, &added);

			CHECK(rc == 0 || rc == CF_ENOMEM);
			CHECK_EQ(cf_index_count(ix), added);
			done = rc == 0;
		}
		cf_alloc_fail_after(0);
		cf_index_free(ix);
	}
	CHECK(done);
}

CF_TEST(decode_allocation_failures)
{
	struct sample s;
	struct cf_key *k = NULL;
	uint8_t repo[32] = {7};
	uint8_t *obj = NULL;
	size_t len = 0;
	uint8_t id[32];
	bool done = false;

	sample_init(&s);
	CHECK_EQ(cf_key_new_random(&k), 0);
	for (uint64_t i = 1; k != NULL && i < 50 && !done; i++) {
		struct cf_index_pack *got = NULL;
		size_t n = 0;
		int rc;

		cf_alloc_fail_after(i);
		rc = cf_index_encode(k, repo, s.packs, 2, &obj, &len, id);
		if (rc == 0)
			rc = cf_index_decode(k, repo, obj, len, &got, &n);
		cf_alloc_fail_after(0);
		CHECK(rc == 0 || rc == CF_ENOMEM);
		done = rc == 0;
		cf_index_packs_free(got, n);
		cf_free(obj);
		obj = NULL;
	}
	CHECK(done);
	cf_key_free(k);
}

/* Vectors: fixed K_index (a0 .. bf) and repo_id (60 .. 7f). */
static void
fixed_keys(uint8_t kix[32], uint8_t repo[32])
{
	for (int i = 0; i < 32; i++) {
		kix[i] = (uint8_t)(0xa0 + i);
		repo[i] = (uint8_t)(0x60 + i);
	}
}

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

static bool
field_hex_eq(const struct th_vec *v, const char *key, const uint8_t *p, size_t len)
{
	const char *s = th_vec_get(v, key);
	size_t n = 0;
	uint8_t *b = s == NULL ? NULL : th_unhex(s, &n);
	bool eq = b != NULL && n == len && memcmp(b, p, len) == 0;

	free(b);
	return eq;
}

static void
check_packs(const struct th_vec *v, const struct cf_index_pack *p, size_t n)
{
	char key[32];
	struct cf_buf b;

	CHECK(th_vec_get(v, "npacks") != NULL &&
	      (size_t)strtoul(th_vec_get(v, "npacks"), NULL, 10) == n);
	for (size_t i = 0; i < n && i < 4; i++) {
		uint8_t len[8];

		snprintf(key, sizeof(key), "pack%zu_id", i);
		CHECK(field_hex_eq(v, key, p[i].id, 32));
		cf_put_u64be(len, p[i].len);
		snprintf(key, sizeof(key), "pack%zu_len", i);
		CHECK(field_hex_eq(v, key, len, 8));
		cf_buf_init(&b, 1 << 20);
		for (size_t j = 0; j < p[i].count; j++)
			CHECK_EQ(cf_pack_entry_put(&b, &p[i].entries[j]), 0);
		snprintf(key, sizeof(key), "pack%zu_entries", i);
		CHECK(field_hex_eq(v, key, b.p, b.len));
		cf_buf_release(&b);
	}
}

static void
check_vector(const struct th_vec *v, const struct cf_key *k, const uint8_t repo[32])
{
	size_t len = 0;
	const char *hex = th_vec_get(v, "obj");
	const char *expect = th_vec_get(v, "expect");
	uint8_t *obj = hex == NULL ? NULL : th_unhex(hex, &len);
	struct cf_index_pack *p = NULL;
	uint8_t h[32];
	size_t n = 0;
	int rc;

	CHECK(obj != NULL && expect != NULL);
	if (obj == NULL || expect == NULL)
		goto out;
	rc = cf_index_decode(k, repo, obj, len, &p, &n);
	if (strcmp(code_name(rc), expect) != 0)
		fprintf(stderr, "  vector line %d: got %s\n", v->line, code_name(rc));
	CHECK(strcmp(code_name(rc), expect) == 0);
	if (rc != 0)
		goto out;
	cf_hash(h, obj, len);
	CHECK(field_hex_eq(v, "id", h, 32));
	check_packs(v, p, n);
out:
	cf_index_packs_free(p, n);
	free(obj);
}

CF_TEST(vectors)
{
	FILE *fp = fopen(th_vector_path("index.txt"), "r");
	struct th_vec v = {0};
	uint8_t kix[32];
	uint8_t repo[32];
	struct cf_key *k = NULL;
	int n = 0;

	fixed_keys(kix, repo);
	CHECK_EQ(cf_key_new_from(kix, &k), 0);
	CHECK(fp != NULL);
	if (fp == NULL || k == NULL || getenv("CF_GEN_VECTORS") != NULL)
		goto out;
	while (th_vec_next(fp, &v)) {
		check_vector(&v, k, repo);
		n++;
	}
	CHECK(n >= 10);
out:
	th_vec_clear(&v);
	cf_key_free(k);
	if (fp != NULL)
		fclose(fp);
}

static void
gen_fail(const char *what, const uint8_t *obj, size_t len, const char *expect)
{
	printf("# %s\n", what);
	th_print_hex("obj", obj, len);
	printf("expect = %s\n\n", expect);
}

/* Seal an arbitrary index_plain, as an encoder with a bug would. */
static void
gen_sealed(const char *what, const struct cf_key *k, const uint8_t repo[32], const struct cf_buf *b,
           const char *expect)
{
	static const char label[] = "coffer.v1.index";
	uint8_t *obj = malloc(8 + 40 + b->len);
	uint8_t ad[sizeof(label) - 1 + 32 + 8];

	if (obj == NULL)
		abort();
	memcpy(obj, "COFR\x04\x01\x00\x00", 8);
	memcpy(ad, label, sizeof(label) - 1);
	memcpy(ad + sizeof(label) - 1, repo, 32);
	memcpy(ad + sizeof(label) - 1 + 32, obj, 8);
	cf_aead_seal(obj + 8, k, b->p, b->len, ad, sizeof(ad));
	gen_fail(what, obj, 8 + 40 + b->len, expect);
	free(obj);
}

static void
gen_bad_plains(const struct cf_key *k, const uint8_t repo[32], struct sample *s)
{
	struct cf_buf b;

	cf_buf_init(&b, 1 << 20);
	if (cf_buf_u32be(&b, 0) != 0)
		abort();
	gen_sealed("authentic, npacks 0", k, repo, &b, "CF_EFORMAT");
	b.len = 0;
	if (cf_buf_u32be(&b, 2) != 0)
		abort();
	put_pack(&b, 0xaa, 1024, 4, s->a, 4);
	gen_sealed("authentic, npacks 2 but one pack present", k, repo, &b, "CF_ETRUNC");
	b.len = 0;
	if (cf_buf_u32be(&b, 1) != 0)
		abort();
	put_pack(&b, 0xaa, 1024, 4, s->a, 4);
	if (cf_buf_u8(&b, 0) != 0)
		abort();
	gen_sealed("authentic, one trailing byte in the plaintext", k, repo, &b, "CF_EFORMAT");
	b.len = 0;
	if (cf_buf_u32be(&b, CF_INDEX_MAX_PACKS + 1) != 0)
		abort();
	put_pack(&b, 0xaa, 1024, 4, s->a, 4);
	gen_sealed("authentic, npacks 65537", k, repo, &b, "CF_ETOOBIG");
	b.len = 0;
	s->a[1].offset = 160;
	if (cf_buf_u32be(&b, 1) != 0)
		abort();
	put_pack(&b, 0xaa, 1024, 4, s->a, 4);
	gen_sealed("authentic, overlapping entries", k, repo, &b, "CF_EFORMAT");
	s->a[1].offset = 169;
	cf_buf_release(&b);
}

CF_TEST(generate)
{
	uint8_t kix[32];
	uint8_t repo[32];
	struct cf_key *k = NULL;
	struct sample s;
	uint8_t *obj = NULL;
	uint8_t *m = NULL;
	size_t len = 0;
	uint8_t id[32];
	uint8_t lenb[8];

	if (getenv("CF_GEN_VECTORS") == NULL)
		return;
	fixed_keys(kix, repo);
	sample_init(&s);
	if (cf_key_new_from(kix, &k) != 0 ||
	    cf_index_encode(k, repo, s.packs, 2, &obj, &len, id) != 0 ||
	    (m = malloc(len + 1)) == NULL)
		abort();
	printf("# Index objects, docs/format.md section 6. Generated by CF_GEN_VECTORS=1 "
	       "test_index.\n# K_index = a0 a1 .. bf, repo_id = 60 61 .. 7f. packN_entries: the "
	       "46-byte entries.\n\n");
	th_print_hex("obj", obj, len);
	th_print_hex("id", id, 32);
	printf("npacks = 2\n");
	for (int i = 0; i < 2; i++) {
		char key[32];
		struct cf_buf b;

		snprintf(key, sizeof(key), "pack%d_id", i);
		th_print_hex(key, s.packs[i].id, 32);
		cf_put_u64be(lenb, s.packs[i].len);
		snprintf(key, sizeof(key), "pack%d_len", i);
		th_print_hex(key, lenb, 8);
		cf_buf_init(&b, 4096);
		for (size_t j = 0; j < s.packs[i].count; j++)
			if (cf_pack_entry_put(&b, &s.packs[i].entries[j]) != 0)
				abort();
		snprintf(key, sizeof(key), "pack%d_entries", i);
		th_print_hex(key, b.p, b.len);
		cf_buf_release(&b);
	}
	printf("expect = ok\n\n");
	memcpy(m, obj, len);
	m[60] ^= 0x08;
	gen_fail("one bit flipped in the ciphertext", m, len, "CF_EAUTH");
	m[60] ^= 0x08;
	m[10] ^= 0x01;
	gen_fail("one bit flipped in the nonce", m, len, "CF_EAUTH");
	m[10] ^= 0x01;
	gen_fail("truncated by one byte", m, len - 1, "CF_EAUTH");
	gen_fail("truncated inside the nonce", m, 30, "CF_ETRUNC");
	m[len] = 0;
	gen_fail("one trailing byte", m, len + 1, "CF_EAUTH");
	m[5] = 2;
	gen_fail("version 2", m, len, "CF_EVERSION");
	m[5] = 1;
	m[4] = 3;
	gen_fail("kind 3 (a pack)", m, len, "CF_EFORMAT");
	m[4] = 4;
	gen_bad_plains(k, repo, &s);
	free(m);
	cf_free(obj);
	cf_key_free(k);
}
