/*
 * test_retention.c - forget and prune records (docs/format.md 16.1, 16.3) and the retention
 * policy (16.2).
 *
 * CF_GEN_VECTORS=1 prints tests/vectors/records.txt (signer: the test_device key, so the
 * Ed25519 signatures are deterministic). CF_GEN_CORPUS=<dir> writes the seed corpus of
 * tests/fuzz/fuzz_records.c into <dir>.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "buf/buf.h"
#include "crypto/crypto.h"
#include "device/device.h"
#include "harness.h"
#include "retention/policy.h"
#include "retention/records.h"

#define CREATED   1700000123
#define REC_TIME  1769860800 /* 2026-01-31T12:00:00Z */
#define HEAD_SIZE 48u        /* prefix, signer, time */

/* ---------------------------------------------------------------- fixtures */

static void
fill(uint8_t *p, size_t n, uint8_t start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(start + i);
}

static const uint8_t *
repo_id(void)
{
	static uint8_t repo[32];

	fill(repo, sizeof(repo), 0x60);
	return repo;
}

/* The test_device key: sign seed 01..20, box secret 21..40 (or 41.., 61.. for @other). */
static struct cf_device *
fixed_device(bool other)
{
	struct cf_device *d = NULL;
	uint8_t seed[32];
	uint8_t sk[32];

	fill(seed, 32, other ? 0x41 : 0x01);
	fill(sk, 32, other ? 0x61 : 0x21);
	if (cf_device_from_keys(seed, sk, other ? "desktop" : "laptop", CREATED, &d) != 0)
		abort();
	return d;
}

static void
entry(struct cf_forget_entry *e, uint8_t dev, uint64_t seq)
{
	memset(e, 0, sizeof(*e));
	memset(e->device, dev, CF_ID_BYTES);
	e->seq = seq;
	fill(e->hash, CF_HASH_BYTES, (uint8_t)(dev + seq));
	fill(e->prev, CF_HASH_BYTES, (uint8_t)(dev + seq + 0x40));
}

static void
sample_entries(struct cf_forget_entry e[static 3])
{
	entry(&e[0], 0x11, 1);
	entry(&e[1], 0x11, 2);
	entry(&e[2], 0x22, 7);
}

/* Ids of forget records a record supersedes, sorted: 5a.., 5b.., 5c.. */
static void
sample_sup(uint8_t sup[3][CF_ID_BYTES])
{
	memset(sup[0], 0x5a, CF_ID_BYTES);
	memset(sup[1], 0x5b, CF_ID_BYTES);
	memset(sup[2], 0x5c, CF_ID_BYTES);
}

static void
sample_packs(uint8_t packs[3][CF_ID_BYTES])
{
	memset(packs[0], 0x0a, CF_ID_BYTES);
	memset(packs[1], 0x0b, CF_ID_BYTES);
	memset(packs[2], 0x0c, CF_ID_BYTES);
}

static void
sample_seqs(struct cf_device_seq s[static 2])
{
	memset(s, 0, 2 * sizeof(*s));
	memset(s[0].device, 0x11, CF_ID_BYTES);
	s[0].seq = 2;
	memset(s[1].device, 0x22, CF_ID_BYTES);
	s[1].seq = 9;
}

static const uint8_t *
condemn_id(void)
{
	static uint8_t id[CF_ID_BYTES];

	memset(id, 0xcc, sizeof(id));
	return id;
}

/* The sealed sample records; the caller cf_free()s *@obj. */
static void
seal_forget(const struct cf_device *d, size_t n, uint8_t **obj, size_t *len)
{
	struct cf_forget_entry e[3];

	sample_entries(e);
	if (cf_forget_record_seal(repo_id(), d, REC_TIME, e, n, NULL, 0, obj, len) != 0)
		abort();
}

/* The first @n sample entries and the first @nsup sample superseded ids. */
static void
seal_forget_sup(const struct cf_device *d, size_t n, size_t nsup, uint8_t **obj, size_t *len)
{
	struct cf_forget_entry e[3];
	uint8_t sup[3][CF_ID_BYTES];

	sample_entries(e);
	sample_sup(sup);
	if (cf_forget_record_seal(repo_id(), d, REC_TIME, n > 0 ? e : NULL, n,
	                          (const uint8_t(*)[CF_ID_BYTES])sup, nsup, obj, len) != 0)
		abort();
}

static void
seal_condemn(const struct cf_device *d, uint8_t **obj, size_t *len)
{
	uint8_t packs[3][CF_ID_BYTES];

	sample_packs(packs);
	if (cf_condemn_record_seal(repo_id(), d, REC_TIME, (const uint8_t(*)[CF_ID_BYTES])packs, 3,
	                           obj, len) != 0)
		abort();
}

static void
seal_observe(const struct cf_device *d, size_t n, uint8_t **obj, size_t *len)
{
	struct cf_device_seq s[2];

	sample_seqs(s);
	if (cf_observe_record_seal(repo_id(), d, REC_TIME, condemn_id(), s, n, obj, len) != 0)
		abort();
}

static int
parse_forget_rc(const uint8_t *obj, size_t len)
{
	struct cf_forget_record f;
	int rc = cf_forget_record_parse(obj, len, &f);

	CHECK(rc == 0 || (f.entries == NULL && f.count == 0 && f.sup == NULL && f.nsup == 0));
	cf_forget_record_release(&f);
	return rc;
}

static int
parse_prune_rc(const uint8_t *obj, size_t len)
{
	struct cf_prune_record p;
	int rc = cf_prune_record_parse(obj, len, &p);

	CHECK(rc == 0 || (p.packs == NULL && p.seqs == NULL && p.count == 0));
	cf_prune_record_release(&p);
	return rc;
}

static int
parse_rc(uint8_t kind, const uint8_t *obj, size_t len)
{
	return kind == CF_FORGET_KIND ? parse_forget_rc(obj, len) : parse_prune_rc(obj, len);
}

static const struct {
	const char *name;
	int code;
} codes[] = {{"ok", 0},
             {"CF_ENOMEM", CF_ENOMEM},
             {"CF_EFORMAT", CF_EFORMAT},
             {"CF_ETRUNC", CF_ETRUNC},
             {"CF_ETOOBIG", CF_ETOOBIG},
             {"CF_EAUTH", CF_EAUTH},
             {"CF_EVERSION", CF_EVERSION},
             {"CF_EINVAL", CF_EINVAL}};

static const char *
code_name(int rc)
{
	for (size_t i = 0; i < CF_ARRAY_LEN(codes); i++)
		if (codes[i].code == rc)
			return codes[i].name;
	return "?";
}

static int
code_of(const char *name)
{
	for (size_t i = 0; name != NULL && i < CF_ARRAY_LEN(codes); i++)
		if (strcmp(codes[i].name, name) == 0)
			return codes[i].code;
	return 1;
}

/* ---------------------------------------------------------------- crafted records */

static void
put(struct cf_buf *b, const void *p, size_t n)
{
	if (cf_buf_put(b, p, n) != 0)
		abort();
}

static void
put_u8(struct cf_buf *b, uint8_t v)
{
	put(b, &v, 1);
}

static void
put_u32(struct cf_buf *b, uint32_t v)
{
	uint8_t x[4];

	cf_put_u32be(x, v);
	put(b, x, 4);
}

static void
put_u64(struct cf_buf *b, uint64_t v)
{
	uint8_t x[8];

	cf_put_u64be(x, v);
	put(b, x, 8);
}

static void
put_entry(struct cf_buf *b, uint8_t dev, uint64_t seq)
{
	struct cf_forget_entry e;

	entry(&e, dev, seq);
	put(b, e.device, CF_ID_BYTES);
	put_u64(b, e.seq);
	put(b, e.hash, CF_HASH_BYTES);
	put(b, e.prev, CF_HASH_BYTES);
}

static void
put_id(struct cf_buf *b, uint8_t v)
{
	uint8_t id[CF_ID_BYTES];

	memset(id, v, sizeof(id));
	put(b, id, sizeof(id));
}

static void
put_seq(struct cf_buf *b, uint8_t dev, uint64_t seq)
{
	put_id(b, dev);
	put_u64(b, seq);
}

static void
f_count0(struct cf_buf *b)
{
	put_u32(b, 0);
}

static void
f_count_over(struct cf_buf *b)
{
	put_u32(b, CF_FORGET_MAX_ENTRIES + 1);
	put_entry(b, 0x11, 1);
}

static void
f_count_max_one(struct cf_buf *b)
{
	put_u32(b, CF_FORGET_MAX_ENTRIES);
	put_entry(b, 0x11, 1);
}

static void
f_count_2_one(struct cf_buf *b)
{
	put_u32(b, 2);
	put_entry(b, 0x11, 1);
}

static void
f_count_u32max(struct cf_buf *b)
{
	put_u32(b, UINT32_MAX);
	put_entry(b, 0x11, 1);
}

static void
f_dev_order(struct cf_buf *b)
{
	put_u32(b, 2);
	put_entry(b, 0x22, 1);
	put_entry(b, 0x11, 1);
}

static void
f_seq_order(struct cf_buf *b)
{
	put_u32(b, 2);
	put_entry(b, 0x11, 2);
	put_entry(b, 0x11, 1);
}

static void
f_twice(struct cf_buf *b)
{
	put_u32(b, 2);
	put_entry(b, 0x11, 1);
	put_entry(b, 0x11, 1);
}

static void
f_seq0(struct cf_buf *b)
{
	put_u32(b, 1);
	put_entry(b, 0x11, 0);
}

static void
f_half_entry(struct cf_buf *b)
{
	put_u32(b, 1);
	put_id(b, 0x11);
	put_u64(b, 1);
	put_id(b, 0x12);
	b->len -= 20;
}

static void
f_nothing(struct cf_buf *b)
{
	(void)b;
}

static void
f_trailing(struct cf_buf *b)
{
	put_u32(b, 1);
	put_entry(b, 0x11, 1);
	put_u8(b, 0);
}

/* One entry, then the optional superseded list of 16.1 as given. */
static void
f_one_then(struct cf_buf *b, uint32_t nsup)
{
	put_u32(b, 1);
	put_entry(b, 0x11, 1);
	put_u32(b, nsup);
}

static void
f_sup_valid(struct cf_buf *b)
{
	f_one_then(b, 2);
	put_id(b, 0x5a);
	put_id(b, 0x5b);
}

static void
f_sup_only(struct cf_buf *b)
{
	put_u32(b, 0);
	put_u32(b, 1);
	put_id(b, 0x5a);
}

static void
f_nsup0(struct cf_buf *b)
{
	f_one_then(b, 0);
}

static void
f_count0_nsup0(struct cf_buf *b)
{
	put_u32(b, 0);
	put_u32(b, 0);
}

static void
f_nsup_over(struct cf_buf *b)
{
	f_one_then(b, CF_FORGET_MAX_SUP + 1);
	put_id(b, 0x5a);
}

static void
f_sup_only_over(struct cf_buf *b)
{
	put_u32(b, 0);
	put_u32(b, CF_FORGET_MAX_SUP + 1);
	put_id(b, 0x5a);
}

static void
f_nsup_u32max(struct cf_buf *b)
{
	f_one_then(b, UINT32_MAX);
	put_id(b, 0x5a);
}

static void
f_nsup_lies(struct cf_buf *b)
{
	f_one_then(b, CF_FORGET_MAX_SUP);
	put_id(b, 0x5a);
}

static void
f_nsup_2_one(struct cf_buf *b)
{
	put_u32(b, 0);
	put_u32(b, 2);
	put_id(b, 0x5a);
}

static void
f_sup_half(struct cf_buf *b)
{
	f_one_then(b, 1);
	put_id(b, 0x5a);
	b->len -= 16;
}

static void
f_sup_order(struct cf_buf *b)
{
	f_one_then(b, 2);
	put_id(b, 0x5b);
	put_id(b, 0x5a);
}

static void
f_sup_twice(struct cf_buf *b)
{
	f_one_then(b, 2);
	put_id(b, 0x5a);
	put_id(b, 0x5a);
}

static void
f_sup_trailing(struct cf_buf *b)
{
	f_one_then(b, 1);
	put_id(b, 0x5a);
	put_u8(b, 0);
}

static void
f_trailing3(struct cf_buf *b)
{
	put_u32(b, 1);
	put_entry(b, 0x11, 1);
	put_u8(b, 0);
	put_u8(b, 0);
	put_u8(b, 1);
}

static void
f_sup_dev_order(struct cf_buf *b)
{
	put_u32(b, 2);
	put_entry(b, 0x22, 1);
	put_entry(b, 0x11, 1);
	put_u32(b, 1);
	put_id(b, 0x5a);
}

static void
p_type(struct cf_buf *b, uint8_t type)
{
	put_u8(b, type);
	put_u32(b, 1);
	put_id(b, 0x0a);
}

static void
p_type0(struct cf_buf *b)
{
	p_type(b, 0);
}

static void
p_type3(struct cf_buf *b)
{
	p_type(b, 3);
}

static void
p_type255(struct cf_buf *b)
{
	p_type(b, 255);
}

static void
c_count0(struct cf_buf *b)
{
	put_u8(b, CF_PRUNE_CONDEMN);
	put_u32(b, 0);
}

static void
c_count_over(struct cf_buf *b)
{
	put_u8(b, CF_PRUNE_CONDEMN);
	put_u32(b, CF_CONDEMN_MAX_PACKS + 1);
	put_id(b, 0x0a);
}

static void
c_count_max_one(struct cf_buf *b)
{
	put_u8(b, CF_PRUNE_CONDEMN);
	put_u32(b, CF_CONDEMN_MAX_PACKS);
	put_id(b, 0x0a);
}

static void
c_order(struct cf_buf *b)
{
	put_u8(b, CF_PRUNE_CONDEMN);
	put_u32(b, 3);
	put_id(b, 0x0a);
	put_id(b, 0x0c);
	put_id(b, 0x0b);
}

static void
c_twice(struct cf_buf *b)
{
	put_u8(b, CF_PRUNE_CONDEMN);
	put_u32(b, 2);
	put_id(b, 0x0a);
	put_id(b, 0x0a);
}

static void
c_trailing(struct cf_buf *b)
{
	put_u8(b, CF_PRUNE_CONDEMN);
	put_u32(b, 1);
	put_id(b, 0x0a);
	put_u8(b, 0);
}

static void
o_count_over(struct cf_buf *b)
{
	put_u8(b, CF_PRUNE_OBSERVE);
	put_id(b, 0xcc);
	put_u32(b, CF_OBSERVE_MAX_SEQS + 1);
	put_seq(b, 0x11, 1);
}

static void
o_count_max_one(struct cf_buf *b)
{
	put_u8(b, CF_PRUNE_OBSERVE);
	put_id(b, 0xcc);
	put_u32(b, CF_OBSERVE_MAX_SEQS);
	put_seq(b, 0x11, 1);
}

static void
o_order(struct cf_buf *b)
{
	put_u8(b, CF_PRUNE_OBSERVE);
	put_id(b, 0xcc);
	put_u32(b, 2);
	put_seq(b, 0x22, 1);
	put_seq(b, 0x11, 1);
}

static void
o_twice(struct cf_buf *b)
{
	put_u8(b, CF_PRUNE_OBSERVE);
	put_id(b, 0xcc);
	put_u32(b, 2);
	put_seq(b, 0x11, 1);
	put_seq(b, 0x11, 2);
}

static void
o_no_condemn(struct cf_buf *b)
{
	put_u8(b, CF_PRUNE_OBSERVE);
	put_id(b, 0xcc);
	b->len -= 22;
}

static void
o_zero_trailing(struct cf_buf *b)
{
	put_u8(b, CF_PRUNE_OBSERVE);
	put_id(b, 0xcc);
	put_u32(b, 0);
	put_seq(b, 0x11, 1);
}

static void
o_zero(struct cf_buf *b)
{
	put_u8(b, CF_PRUNE_OBSERVE);
	put_id(b, 0xcc);
	put_u32(b, 0);
}

/* Authentic (correctly signed) records whose bodies break a rule of 16.1 or 16.3. */
static const struct craft {
	const char *name;
	const char *file; /* fuzz corpus name */
	uint8_t kind;
	int expect;
	bool no_alloc; /* the parser must refuse before allocating anything */
	void (*body)(struct cf_buf *b);
} crafts[] = {
        {"forget, count 0", "forget_count0", 8, CF_EFORMAT, true, f_count0},
        {"forget, count 65537", "forget_count_over", 8, CF_EFORMAT, true, f_count_over},
        {"forget, count 65536 but one entry", "forget_count_lies", 8, CF_ETRUNC, true,
         f_count_max_one},
        {"forget, count 2 but one entry", "forget_count_2_one", 8, CF_ETRUNC, true, f_count_2_one},
        {"forget, count 2^32-1", "forget_count_u32max", 8, CF_EFORMAT, true, f_count_u32max},
        {"forget, devices out of order", "forget_dev_order", 8, CF_EFORMAT, false, f_dev_order},
        {"forget, sequences out of order", "forget_seq_order", 8, CF_EFORMAT, false, f_seq_order},
        {"forget, an entry twice", "forget_twice", 8, CF_EFORMAT, false, f_twice},
        {"forget, seq 0", "forget_seq0", 8, CF_EFORMAT, false, f_seq0},
        {"forget, half an entry", "forget_half_entry", 8, CF_ETRUNC, true, f_half_entry},
        {"forget, no count", "forget_no_count", 8, CF_ETRUNC, true, f_nothing},
        /* a byte after the entries is read as the start of nsup (16.1) */
        {"forget, one byte after the entries", "forget_trailing", 8, CF_ETRUNC, false, f_trailing},
        {"prune, no type", "prune_no_type", 9, CF_ETRUNC, true, f_nothing},
        {"prune, type 0", "prune_type0", 9, CF_EFORMAT, true, p_type0},
        {"prune, type 3", "prune_type3", 9, CF_EFORMAT, true, p_type3},
        {"prune, type 255", "prune_type255", 9, CF_EFORMAT, true, p_type255},
        {"condemn, count 0", "condemn_count0", 9, CF_EFORMAT, true, c_count0},
        {"condemn, count 262145", "condemn_count_over", 9, CF_EFORMAT, true, c_count_over},
        {"condemn, count 262144 but one pack", "condemn_count_lies", 9, CF_ETRUNC, true,
         c_count_max_one},
        {"condemn, packs out of order", "condemn_order", 9, CF_EFORMAT, false, c_order},
        {"condemn, a pack twice", "condemn_twice", 9, CF_EFORMAT, false, c_twice},
        {"condemn, one byte after the packs", "condemn_trailing", 9, CF_EFORMAT, false, c_trailing},
        {"observe, count 65537", "observe_count_over", 9, CF_EFORMAT, true, o_count_over},
        {"observe, count 65536 but one device", "observe_count_lies", 9, CF_ETRUNC, true,
         o_count_max_one},
        {"observe, devices out of order", "observe_order", 9, CF_EFORMAT, false, o_order},
        {"observe, a device twice", "observe_twice", 9, CF_EFORMAT, false, o_twice},
        {"observe, condemn id cut short", "observe_short_id", 9, CF_ETRUNC, true, o_no_condemn},
        {"observe, count 0 but a device follows", "observe_zero_trailing", 9, CF_EFORMAT, false,
         o_zero_trailing},
        {"observe, count 0 (valid)", "observe_zero", 9, 0, false, o_zero},
        /* the optional superseded list of 16.1 */
        {"forget, 1 entry and 2 superseded (valid)", "forget_sup_valid", 8, 0, false, f_sup_valid},
        {"forget, 0 entries and 1 superseded (valid)", "forget_sup_only", 8, 0, false, f_sup_only},
        {"forget, nsup 0 after the entries", "forget_nsup0", 8, CF_EFORMAT, false, f_nsup0},
        {"forget, count 0 and nsup 0", "forget_count0_nsup0", 8, CF_EFORMAT, true, f_count0_nsup0},
        {"forget, nsup 4097", "forget_nsup_over", 8, CF_EFORMAT, false, f_nsup_over},
        {"forget, count 0 and nsup 4097", "forget_sup_only_over", 8, CF_EFORMAT, true,
         f_sup_only_over},
        {"forget, nsup 2^32-1", "forget_nsup_u32max", 8, CF_EFORMAT, false, f_nsup_u32max},
        {"forget, nsup 4096 but one id", "forget_nsup_lies", 8, CF_ETRUNC, false, f_nsup_lies},
        {"forget, count 0 and nsup 2 but one id", "forget_nsup_2_one", 8, CF_ETRUNC, true,
         f_nsup_2_one},
        {"forget, half a superseded id", "forget_sup_half", 8, CF_ETRUNC, false, f_sup_half},
        {"forget, superseded ids out of order", "forget_sup_order", 8, CF_EFORMAT, false,
         f_sup_order},
        {"forget, a superseded id twice", "forget_sup_twice", 8, CF_EFORMAT, false, f_sup_twice},
        {"forget, one byte after the superseded list", "forget_sup_trailing", 8, CF_EFORMAT, false,
         f_sup_trailing},
        {"forget, three bytes after the entries", "forget_trailing3", 8, CF_ETRUNC, false,
         f_trailing3},
        {"forget, devices out of order before a valid list", "forget_sup_dev_order", 8, CF_EFORMAT,
         false, f_sup_dev_order},
};

/* Prefix, signer and time of a record of @kind by @d. */
static void
put_head(struct cf_buf *b, uint8_t kind, const struct cf_device *d)
{
	const uint8_t prefix[8] = {'C', 'O', 'F', 'R', kind, 1, 0, 0};

	put(b, prefix, sizeof(prefix));
	put(b, d->id, CF_ID_BYTES);
	put_u64(b, (uint64_t)REC_TIME);
}

/* Sign what @b holds as a record of @kind, as a buggy or hostile encoder would. */
static void
sign_raw(struct cf_buf *b, uint8_t kind, const struct cf_device *d)
{
	const char *label = kind == CF_FORGET_KIND ? "coffer.v1.forget" : "coffer.v1.prune";
	uint8_t ctx[64];
	uint8_t sig[CF_SIG_BYTES];
	size_t n = strlen(label);

	memcpy(ctx, label, n);
	memcpy(ctx + n, repo_id(), 32);
	if (cf_sign2(sig, d->sign, ctx, n + 32, b->p, b->len) != 0)
		abort();
	put(b, sig, sizeof(sig));
}

/* The crafted record @c in @b (cf_buf_release it). */
static void
craft_build(const struct craft *c, const struct cf_device *d, struct cf_buf *b)
{
	cf_buf_init(b, 2 * CF_RECORD_MAX_BYTES);
	put_head(b, c->kind, d);
	c->body(b);
	sign_raw(b, c->kind, d);
}

/* ---------------------------------------------------------------- record tests */

static void
check_forget_fields(const struct cf_forget_record *f, const struct cf_device *d,
                    const struct cf_forget_entry *e, size_t n)
{
	CHECK(memcmp(f->signer, d->id, CF_ID_BYTES) == 0);
	CHECK(f->time == REC_TIME);
	CHECK(f->count == n);
	for (size_t i = 0; i < n && i < f->count; i++) {
		CHECK(memcmp(f->entries[i].device, e[i].device, CF_ID_BYTES) == 0);
		CHECK(f->entries[i].seq == e[i].seq);
		CHECK(memcmp(f->entries[i].hash, e[i].hash, CF_HASH_BYTES) == 0);
		CHECK(memcmp(f->entries[i].prev, e[i].prev, CF_HASH_BYTES) == 0);
	}
}

CF_TEST(forget_round_trip)
{
	struct cf_device *d = fixed_device(false);
	struct cf_forget_entry e[3];
	struct cf_forget_record f;
	uint8_t *obj = NULL;
	size_t len = 0;

	sample_entries(e);
	for (size_t n = 1; n <= 3; n++) {
		seal_forget(d, n, &obj, &len);
		CHECK(len == HEAD_SIZE + 4 + n * CF_FORGET_ENTRY_BYTES + CF_SIG_BYTES);
		CHECK(memcmp(obj, "COFR\x08\x01\x00\x00", 8) == 0);
		CHECK(cf_get_u32be(obj + 48) == n);
		CHECK(cf_forget_record_parse(obj, len, &f) == 0);
		check_forget_fields(&f, d, e, n);
		cf_forget_record_release(&f);
		CHECK(f.entries == NULL && f.count == 0);
		CHECK(cf_record_verify(obj, len, repo_id(), CF_FORGET_KIND,
		                       cf_signkey_pk(d->sign)) == 0);
		cf_free(obj);
	}
	/* a time before 1970 survives too */
	CHECK(cf_forget_record_seal(repo_id(), d, -86400, e, 3, NULL, 0, &obj, &len) == 0);
	CHECK(cf_forget_record_parse(obj, len, &f) == 0 && f.time == -86400);
	cf_forget_record_release(&f);
	cf_free(obj);
	cf_device_free(d);
}

/* Entries and a superseded list, and a list alone: both parse back and re-seal byte for byte. */
static void
check_sup_round_trip(const struct cf_device *d, size_t n, size_t nsup)
{
	struct cf_forget_entry e[3];
	uint8_t sup[3][CF_ID_BYTES];
	struct cf_forget_record f;
	uint8_t *obj = NULL;
	uint8_t *again = NULL;
	size_t len = 0;
	size_t alen = 0;
	size_t tail = HEAD_SIZE + 4 + n * CF_FORGET_ENTRY_BYTES;

	sample_entries(e);
	sample_sup(sup);
	seal_forget_sup(d, n, nsup, &obj, &len);
	CHECK(len == tail + 4 + nsup * CF_ID_BYTES + CF_SIG_BYTES);
	CHECK(cf_get_u32be(obj + 48) == n && cf_get_u32be(obj + tail) == nsup);
	CHECK(memcmp(obj + tail + 4, sup, nsup * CF_ID_BYTES) == 0);
	CHECK(cf_forget_record_parse(obj, len, &f) == 0);
	check_forget_fields(&f, d, e, n);
	CHECK(n == 0 ? f.entries == NULL : f.entries != NULL);
	CHECK(f.nsup == nsup && f.sup != NULL);
	CHECK(f.sup != NULL && memcmp(f.sup, sup, nsup * CF_ID_BYTES) == 0);
	CHECK(cf_forget_record_seal(repo_id(), d, f.time, f.entries, f.count,
	                            (const uint8_t(*)[CF_ID_BYTES])f.sup, f.nsup, &again,
	                            &alen) == 0);
	CHECK(alen == len && again != NULL && memcmp(again, obj, len) == 0);
	cf_forget_record_release(&f);
	CHECK(f.entries == NULL && f.count == 0 && f.sup == NULL && f.nsup == 0);
	CHECK(cf_record_verify(obj, len, repo_id(), CF_FORGET_KIND, cf_signkey_pk(d->sign)) == 0);
	cf_free(again);
	cf_free(obj);
}

CF_TEST(forget_superseded_round_trip)
{
	struct cf_device *d = fixed_device(false);

	for (size_t n = 0; n <= 3; n++)
		for (size_t nsup = 1; nsup <= 3; nsup++)
			check_sup_round_trip(d, n, nsup);
	cf_device_free(d);
}

CF_TEST(prune_round_trip)
{
	struct cf_device *d = fixed_device(false);
	uint8_t packs[3][CF_ID_BYTES];
	struct cf_device_seq s[2];
	struct cf_prune_record p;
	uint8_t *obj = NULL;
	size_t len = 0;

	sample_packs(packs);
	sample_seqs(s);
	seal_condemn(d, &obj, &len);
	CHECK(len == HEAD_SIZE + 1 + 4 + 3 * 32 + CF_SIG_BYTES);
	CHECK(memcmp(obj, "COFR\x09\x01\x00\x00", 8) == 0);
	CHECK(cf_prune_record_parse(obj, len, &p) == 0);
	CHECK(p.type == CF_PRUNE_CONDEMN && p.count == 3 && p.seqs == NULL);
	CHECK(memcmp(p.signer, d->id, 32) == 0 && p.time == REC_TIME);
	CHECK(p.packs != NULL && memcmp(p.packs, packs, sizeof(packs)) == 0);
	cf_prune_record_release(&p);
	CHECK(cf_record_verify(obj, len, repo_id(), CF_PRUNE_KIND, cf_signkey_pk(d->sign)) == 0);
	cf_free(obj);
	for (size_t n = 0; n <= 2; n++) {
		seal_observe(d, n, &obj, &len);
		CHECK(len == HEAD_SIZE + 1 + 32 + 4 + n * 40 + CF_SIG_BYTES);
		CHECK(cf_prune_record_parse(obj, len, &p) == 0);
		CHECK(p.type == CF_PRUNE_OBSERVE && p.count == n && p.packs == NULL);
		CHECK(memcmp(p.condemn, condemn_id(), 32) == 0 && p.time == REC_TIME);
		CHECK(n == 0 ? p.seqs == NULL : p.seqs != NULL);
		for (size_t i = 0; i < n && p.seqs != NULL; i++)
			CHECK(memcmp(p.seqs[i].device, s[i].device, 32) == 0 &&
			      p.seqs[i].seq == s[i].seq);
		cf_prune_record_release(&p);
		CHECK(cf_record_verify(obj, len, repo_id(), CF_PRUNE_KIND,
		                       cf_signkey_pk(d->sign)) == 0);
		cf_free(obj);
	}
	cf_device_free(d);
}

CF_TEST(forget_seal_refuses)
{
	struct cf_device *d = fixed_device(false);
	struct cf_forget_entry e[3];
	struct cf_forget_entry *many = NULL;
	static uint8_t dummy;
	uint8_t *obj = &dummy;
	size_t len = 1;

	sample_entries(e);
	CHECK(cf_forget_record_seal(repo_id(), d, REC_TIME, e, 0, NULL, 0, &obj, &len) ==
	      CF_EINVAL);
	CHECK(obj == NULL && len == 0);
	e[1] = e[0];
	CHECK(cf_forget_record_seal(repo_id(), d, REC_TIME, e, 3, NULL, 0, &obj, &len) ==
	      CF_EINVAL);
	sample_entries(e);
	e[0].seq = 3; /* 0x11/3 before 0x11/2 */
	CHECK(cf_forget_record_seal(repo_id(), d, REC_TIME, e, 3, NULL, 0, &obj, &len) ==
	      CF_EINVAL);
	sample_entries(e);
	memset(e[2].device, 0x01, 32); /* 0x01.. after 0x11.. */
	CHECK(cf_forget_record_seal(repo_id(), d, REC_TIME, e, 3, NULL, 0, &obj, &len) ==
	      CF_EINVAL);
	sample_entries(e);
	e[0].seq = 0;
	CHECK(cf_forget_record_seal(repo_id(), d, REC_TIME, e, 3, NULL, 0, &obj, &len) ==
	      CF_EINVAL);
	CHECK(obj == NULL && len == 0);
	many = calloc(CF_FORGET_MAX_ENTRIES + 1, sizeof(*many));
	for (size_t i = 0; many != NULL && i <= CF_FORGET_MAX_ENTRIES; i++)
		many[i].seq = i + 1;
	CHECK(cf_forget_record_seal(repo_id(), d, REC_TIME, many, CF_FORGET_MAX_ENTRIES + 1, NULL,
	                            0, &obj, &len) == CF_EINVAL);
	/* the limit itself is accepted, and parses back */
	CHECK(cf_forget_record_seal(repo_id(), d, REC_TIME, many, CF_FORGET_MAX_ENTRIES, NULL, 0,
	                            &obj, &len) == 0);
	CHECK(parse_forget_rc(obj, len) == 0);
	cf_free(obj);
	free(many);
	cf_device_free(d);
}

CF_TEST(forget_seal_refuses_superseded)
{
	struct cf_device *d = fixed_device(false);
	struct cf_forget_entry e[3];
	uint8_t sup[3][CF_ID_BYTES];
	uint8_t(*many)[CF_ID_BYTES] = NULL;
	struct cf_forget_record f;
	static uint8_t dummy;
	uint8_t *obj = &dummy;
	size_t len = 1;

	sample_entries(e);
	sample_sup(sup);
	/* n = 0 and nsup = 0, with or without a list pointer */
	CHECK(cf_forget_record_seal(repo_id(), d, REC_TIME, NULL, 0, NULL, 0, &obj, &len) ==
	      CF_EINVAL);
	CHECK(obj == NULL && len == 0);
	CHECK(cf_forget_record_seal(repo_id(), d, REC_TIME, e, 0, (const uint8_t(*)[32])sup, 0,
	                            &obj, &len) == CF_EINVAL);
	memcpy(sup[2], sup[1], 32); /* a duplicate */
	CHECK(cf_forget_record_seal(repo_id(), d, REC_TIME, e, 3, (const uint8_t(*)[32])sup, 3,
	                            &obj, &len) == CF_EINVAL);
	CHECK(cf_forget_record_seal(repo_id(), d, REC_TIME, NULL, 0, (const uint8_t(*)[32])sup, 3,
	                            &obj, &len) == CF_EINVAL);
	sample_sup(sup);
	memset(sup[0], 0x5c, 32); /* 5c.. before 5b.. */
	CHECK(cf_forget_record_seal(repo_id(), d, REC_TIME, e, 3, (const uint8_t(*)[32])sup, 3,
	                            &obj, &len) == CF_EINVAL);
	sample_sup(sup);
	e[1] = e[0]; /* a bad entry list is still refused beside a good superseded list */
	CHECK(cf_forget_record_seal(repo_id(), d, REC_TIME, e, 3, (const uint8_t(*)[32])sup, 3,
	                            &obj, &len) == CF_EINVAL);
	CHECK(obj == NULL && len == 0);
	many = calloc(CF_FORGET_MAX_SUP + 1, sizeof(*many));
	for (size_t i = 0; many != NULL && i <= CF_FORGET_MAX_SUP; i++)
		cf_put_u32be(many[i] + 28, (uint32_t)i);
	CHECK(cf_forget_record_seal(repo_id(), d, REC_TIME, NULL, 0, (const uint8_t(*)[32])many,
	                            CF_FORGET_MAX_SUP + 1, &obj, &len) == CF_EINVAL);
	CHECK(obj == NULL && len == 0);
	/* the limit itself is accepted, and parses back */
	CHECK(cf_forget_record_seal(repo_id(), d, REC_TIME, NULL, 0, (const uint8_t(*)[32])many,
	                            CF_FORGET_MAX_SUP, &obj, &len) == 0);
	CHECK(cf_forget_record_parse(obj, len, &f) == 0);
	CHECK(f.count == 0 && f.nsup == CF_FORGET_MAX_SUP && f.sup != NULL && many != NULL &&
	      memcmp(f.sup, many, CF_FORGET_MAX_SUP * CF_ID_BYTES) == 0);
	cf_forget_record_release(&f);
	cf_free(obj);
	free(many);
	cf_device_free(d);
}

CF_TEST(prune_seal_refuses)
{
	struct cf_device *d = fixed_device(false);
	uint8_t packs[3][CF_ID_BYTES];
	uint8_t(*many)[CF_ID_BYTES] = NULL;
	struct cf_device_seq s[2];
	static uint8_t dummy;
	uint8_t *obj = &dummy;
	size_t len = 1;

	sample_packs(packs);
	CHECK(cf_condemn_record_seal(repo_id(), d, REC_TIME, (const uint8_t(*)[32])packs, 0, &obj,
	                             &len) == CF_EINVAL);
	CHECK(obj == NULL && len == 0);
	memcpy(packs[2], packs[1], 32);
	CHECK(cf_condemn_record_seal(repo_id(), d, REC_TIME, (const uint8_t(*)[32])packs, 3, &obj,
	                             &len) == CF_EINVAL);
	memset(packs[2], 0x01, 32);
	CHECK(cf_condemn_record_seal(repo_id(), d, REC_TIME, (const uint8_t(*)[32])packs, 3, &obj,
	                             &len) == CF_EINVAL);
	many = calloc(CF_CONDEMN_MAX_PACKS + 1, sizeof(*many));
	for (size_t i = 0; many != NULL && i <= CF_CONDEMN_MAX_PACKS; i++)
		cf_put_u32be(many[i] + 28, (uint32_t)i);
	CHECK(cf_condemn_record_seal(repo_id(), d, REC_TIME, (const uint8_t(*)[32])many,
	                             CF_CONDEMN_MAX_PACKS + 1, &obj, &len) == CF_EINVAL);
	/* the limit itself fits under CF_RECORD_MAX_BYTES and parses back */
	CHECK(cf_condemn_record_seal(repo_id(), d, REC_TIME, (const uint8_t(*)[32])many,
	                             CF_CONDEMN_MAX_PACKS, &obj, &len) == 0);
	CHECK(parse_prune_rc(obj, len) == 0);
	cf_free(obj);
	free(many);
	sample_seqs(s);
	s[1] = s[0];
	s[1].seq = 10; /* same device twice */
	CHECK(cf_observe_record_seal(repo_id(), d, REC_TIME, condemn_id(), s, 2, &obj, &len) ==
	      CF_EINVAL);
	sample_seqs(s);
	memset(s[1].device, 0x01, 32);
	CHECK(cf_observe_record_seal(repo_id(), d, REC_TIME, condemn_id(), s, 2, &obj, &len) ==
	      CF_EINVAL);
	CHECK(obj == NULL && len == 0);
	CHECK(cf_observe_record_seal(repo_id(), d, REC_TIME, condemn_id(), NULL, 0, &obj, &len) ==
	      0);
	cf_free(obj);
	cf_device_free(d);
}

/* Right key passes; any other key, repo, kind or a single flipped bit fails. */
static void
check_verify(const uint8_t *obj, size_t len, uint8_t kind)
{
	struct cf_device *d = fixed_device(false);
	struct cf_device *o = fixed_device(true);
	const uint8_t *pk = cf_signkey_pk(d->sign);
	uint8_t repo2[32];
	uint8_t *b = malloc(len + 1);
	size_t passed = 0;

	memcpy(repo2, repo_id(), 32);
	repo2[31] ^= 0x01;
	CHECK(cf_record_verify(obj, len, repo_id(), kind, pk) == 0);
	CHECK(cf_record_verify(obj, len, repo_id(), kind, cf_signkey_pk(o->sign)) == CF_EAUTH);
	CHECK(cf_record_verify(obj, len, repo2, kind, pk) == CF_EAUTH);
	CHECK(cf_record_verify(obj, len, repo_id(), (uint8_t)(17 - kind), pk) == CF_EAUTH);
	CHECK(cf_record_verify(obj, len, repo_id(), 7, pk) == CF_EFORMAT);
	CHECK(cf_record_verify(obj, 63, repo_id(), kind, pk) == CF_EFORMAT);
	CHECK(cf_record_verify(obj, len - 1, repo_id(), kind, pk) == CF_EAUTH);
	memcpy(b, obj, len);
	b[len] = 0;
	CHECK(cf_record_verify(b, len + 1, repo_id(), kind, pk) == CF_EAUTH);
	for (size_t i = 0; i < len * 8; i++) {
		memcpy(b, obj, len);
		b[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (cf_record_verify(b, len, repo_id(), kind, pk) != CF_EAUTH)
			passed++;
		(void)parse_rc(kind, b, len); /* must not crash or leak */
	}
	CHECK(passed == 0);
	free(b);
	cf_device_free(o);
	cf_device_free(d);
}

CF_TEST(verify)
{
	struct cf_device *d = fixed_device(false);
	uint8_t *obj = NULL;
	size_t len = 0;

	seal_forget(d, 3, &obj, &len);
	check_verify(obj, len, CF_FORGET_KIND);
	cf_free(obj);
	seal_forget_sup(d, 3, 2, &obj, &len);
	check_verify(obj, len, CF_FORGET_KIND);
	cf_free(obj);
	seal_forget_sup(d, 0, 1, &obj, &len);
	check_verify(obj, len, CF_FORGET_KIND);
	cf_free(obj);
	seal_condemn(d, &obj, &len);
	check_verify(obj, len, CF_PRUNE_KIND);
	cf_free(obj);
	seal_observe(d, 2, &obj, &len);
	check_verify(obj, len, CF_PRUNE_KIND);
	cf_free(obj);
	seal_observe(d, 0, &obj, &len);
	check_verify(obj, len, CF_PRUNE_KIND);
	cf_free(obj);
	cf_device_free(d);
}

/* The entry count and superseded-list length of the valid record @obj (0, 0 for prune). */
static void
forget_shape(const uint8_t *obj, size_t len, size_t *count, size_t *nsup)
{
	struct cf_forget_record f;

	*count = 0;
	*nsup = 0;
	if (obj[4] != CF_FORGET_KIND || cf_forget_record_parse(obj, len, &f) != 0)
		return;
	*count = f.count;
	*nsup = f.nsup;
	cf_forget_record_release(&f);
}

/*
 * What the parser says of the valid record @obj (@len bytes) with @n (1..35) more bytes
 * after it. The last 64 bytes are taken as the signature, so the body gains the first @n
 * bytes of the real one. A prune record, or a forget record that has a superseded list,
 * ends where it ends: CF_EFORMAT. After a forget record's entries those bytes start the
 * optional list of 16.1: under 4 bytes nsup itself is cut short (CF_ETRUNC); nsup 0 or
 * over 4096 is CF_EFORMAT; any other nsup needs at least 32 more bytes than remain
 * (CF_ETRUNC).
 */
static int
trailing_rc(const uint8_t *obj, size_t len, size_t n)
{
	size_t count = 0;
	size_t nsup = 0;
	uint32_t v;

	forget_shape(obj, len, &count, &nsup);
	if (obj[4] != CF_FORGET_KIND || nsup > 0)
		return CF_EFORMAT;
	if (n < 4)
		return CF_ETRUNC;
	v = cf_get_u32be(obj + len - CF_SIG_BYTES);
	return v == 0 || v > CF_FORGET_MAX_SUP ? CF_EFORMAT : CF_ETRUNC;
}

/*
 * What the parser says of the first @n bytes of the valid record @obj. Cut anywhere, the
 * body left before the last 64 bytes ends inside a field (CF_ETRUNC), with one exception:
 * a forget record cut by exactly its superseded list (and 64 signature bytes' worth) ends
 * where its entries end and parses as a record without the list (only the signature tells:
 * check_verify); with no entries that breaks count + nsup >= 1, CF_EFORMAT.
 */
static int
cut_rc(const uint8_t *obj, size_t len, size_t n)
{
	size_t count = 0;
	size_t nsup = 0;

	forget_shape(obj, len, &count, &nsup);
	if (nsup == 0 || n != len - 4 - nsup * CF_ID_BYTES)
		return CF_ETRUNC;
	return count > 0 ? 0 : CF_EFORMAT;
}

/* Flipped prefix bits, every truncation, trailing bytes, version, kind. */
static void
check_siblings(const uint8_t *obj, size_t len, uint8_t kind)
{
	uint8_t *b = malloc(len + 16);
	uint8_t other = (uint8_t)(17 - kind);

	CHECK(parse_rc(kind, obj, len) == 0);
	for (size_t i = 0; i < 64; i++) {
		memcpy(b, obj, len);
		b[i / 8] ^= (uint8_t)(1u << (i % 8));
		CHECK(parse_rc(kind, b, len) == (i / 8 == 5 ? CF_EVERSION : CF_EFORMAT));
	}
	for (size_t n = 0; n < len; n++)
		CHECK(parse_rc(kind, obj, n) == cut_rc(obj, len, n));
	memcpy(b, obj, len);
	for (size_t n = 1; n <= 16; n++) {
		b[len + n - 1] = (uint8_t)n;
		CHECK(parse_rc(kind, b, len + n) == trailing_rc(obj, len, n));
	}
	b[5] = 0;
	CHECK(parse_rc(kind, b, len) == CF_EVERSION);
	b[5] = 2;
	CHECK(parse_rc(kind, b, len) == CF_EVERSION);
	b[5] = 1;
	b[4] = other;
	CHECK(parse_rc(kind, b, len) == CF_EFORMAT);
	CHECK(parse_rc(other, obj, len) == CF_EFORMAT);
	b[4] = kind;
	b[7] = 1;
	CHECK(parse_rc(kind, b, len) == CF_EFORMAT);
	free(b);
}

CF_TEST(parse_must_fail_siblings)
{
	struct cf_device *d = fixed_device(false);
	uint8_t *obj = NULL;
	size_t len = 0;

	seal_forget(d, 3, &obj, &len);
	check_siblings(obj, len, CF_FORGET_KIND);
	CHECK(trailing_rc(obj, len, 3) == CF_ETRUNC);
	cf_free(obj);
	seal_forget_sup(d, 3, 2, &obj, &len);
	check_siblings(obj, len, CF_FORGET_KIND);
	CHECK(cut_rc(obj, len, len - 68) == 0 && trailing_rc(obj, len, 3) == CF_EFORMAT);
	cf_free(obj);
	seal_forget_sup(d, 0, 1, &obj, &len);
	check_siblings(obj, len, CF_FORGET_KIND);
	CHECK(cut_rc(obj, len, len - 36) == CF_EFORMAT);
	cf_free(obj);
	seal_condemn(d, &obj, &len);
	check_siblings(obj, len, CF_PRUNE_KIND);
	cf_free(obj);
	seal_observe(d, 2, &obj, &len);
	check_siblings(obj, len, CF_PRUNE_KIND);
	cf_free(obj);
	seal_observe(d, 0, &obj, &len);
	check_siblings(obj, len, CF_PRUNE_KIND);
	cf_free(obj);
	cf_device_free(d);
}

CF_TEST(parse_crafted)
{
	struct cf_device *d = fixed_device(false);

	for (size_t i = 0; i < CF_ARRAY_LEN(crafts); i++) {
		const struct craft *c = &crafts[i];
		struct cf_buf b;
		uint64_t before;
		int rc;

		craft_build(c, d, &b);
		CHECK(cf_record_verify(b.p, b.len, repo_id(), c->kind, cf_signkey_pk(d->sign)) ==
		      0);
		before = cf_alloc_count();
		rc = parse_rc(c->kind, b.p, b.len);
		if (rc != c->expect)
			fprintf(stderr, "  %s: got %s\n", c->name, code_name(rc));
		CHECK(rc == c->expect);
		if (c->no_alloc)
			CHECK(cf_alloc_count() == before);
		cf_buf_release(&b);
	}
	cf_device_free(d);
}

CF_TEST(parse_short_and_huge)
{
	static const uint8_t prefix[8] = {'C', 'O', 'F', 'R', 8, 1, 0, 0};
	uint8_t *big = calloc(1, CF_RECORD_MAX_BYTES + 1);

	CHECK(parse_forget_rc(NULL, 0) == CF_ETRUNC);
	CHECK(parse_prune_rc(prefix, sizeof(prefix)) == CF_ETRUNC);
	if (big == NULL)
		return;
	memcpy(big, prefix, sizeof(prefix));
	CHECK(parse_forget_rc(big, CF_RECORD_MAX_BYTES + 1) == CF_EFORMAT);
	big[4] = 9;
	CHECK(parse_prune_rc(big, CF_RECORD_MAX_BYTES + 1) == CF_EFORMAT);
	free(big);
}

CF_TEST(records_survive_allocation_failures)
{
	struct cf_device *d = fixed_device(false);
	uint8_t *objs[4] = {NULL};
	size_t lens[4] = {0};
	int rc = CF_ENOMEM;

	seal_forget(d, 3, &objs[0], &lens[0]);
	seal_condemn(d, &objs[1], &lens[1]);
	seal_observe(d, 2, &objs[2], &lens[2]);
	for (size_t k = 0; k < 3; k++) {
		cf_alloc_fail_after(1);
		rc = parse_rc(k == 0 ? CF_FORGET_KIND : CF_PRUNE_KIND, objs[k], lens[k]);
		cf_alloc_fail_after(0);
		CHECK(rc == CF_ENOMEM);
	}
	rc = CF_ENOMEM;
	for (uint64_t n = 1; n < 20 && rc != 0; n++) {
		struct cf_forget_entry e[3];

		sample_entries(e);
		cf_alloc_fail_after(n);
		rc = cf_forget_record_seal(repo_id(), d, REC_TIME, e, 3, NULL, 0, &objs[3],
		                           &lens[3]);
		cf_alloc_fail_after(0);
		CHECK(rc == 0 || rc == CF_ENOMEM);
		CHECK((rc == 0) == (objs[3] != NULL));
	}
	CHECK(rc == 0 && objs[3] != NULL && lens[3] == lens[0] &&
	      memcmp(objs[3], objs[0], lens[0]) == 0);
	for (size_t k = 0; k < 4; k++)
		cf_free(objs[k]);
	cf_device_free(d);
}

/* The superseded list is a second allocation (the first with no entries): both fail cleanly. */
CF_TEST(superseded_survives_allocation_failures)
{
	struct cf_device *d = fixed_device(false);
	uint8_t *obj = NULL;
	uint8_t *again = NULL;
	size_t len = 0;
	size_t alen = 0;
	int rc = CF_ENOMEM;

	seal_forget_sup(d, 3, 2, &obj, &len);
	for (uint64_t n = 1; n <= 2; n++) {
		cf_alloc_fail_after(n);
		rc = parse_forget_rc(obj, len);
		cf_alloc_fail_after(0);
		CHECK(rc == CF_ENOMEM);
	}
	cf_alloc_fail_after(3);
	CHECK(parse_forget_rc(obj, len) == 0);
	cf_alloc_fail_after(0);
	rc = CF_ENOMEM;
	for (uint64_t n = 1; n < 20 && rc != 0; n++) {
		struct cf_forget_entry e[3];
		uint8_t sup[3][CF_ID_BYTES];

		sample_entries(e);
		sample_sup(sup);
		cf_alloc_fail_after(n);
		rc = cf_forget_record_seal(repo_id(), d, REC_TIME, e, 3,
		                           (const uint8_t(*)[CF_ID_BYTES])sup, 2, &again, &alen);
		cf_alloc_fail_after(0);
		CHECK(rc == 0 || rc == CF_ENOMEM);
		CHECK((rc == 0) == (again != NULL));
	}
	CHECK(rc == 0 && again != NULL && alen == len && memcmp(again, obj, len) == 0);
	cf_free(again);
	cf_free(obj);
	seal_forget_sup(d, 0, 1, &obj, &len);
	cf_alloc_fail_after(1);
	rc = parse_forget_rc(obj, len);
	cf_alloc_fail_after(0);
	CHECK(rc == CF_ENOMEM);
	cf_alloc_fail_after(2);
	CHECK(parse_forget_rc(obj, len) == 0);
	cf_alloc_fail_after(0);
	cf_free(obj);
	cf_device_free(d);
}

/* ---------------------------------------------------------------- vectors */

static bool
hex_eq(const struct th_vec *v, const char *key, const uint8_t *p, size_t n)
{
	const char *s = th_vec_get(v, key);
	size_t len = 0;
	uint8_t *b = s == NULL ? NULL : th_unhex(s, &len);
	bool eq = b != NULL && len == n && (n == 0 || memcmp(b, p, n) == 0);

	free(b);
	return eq;
}

static void
entries_bytes(struct cf_buf *b, const struct cf_forget_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		put(b, e[i].device, CF_ID_BYTES);
		put_u64(b, e[i].seq);
		put(b, e[i].hash, CF_HASH_BYTES);
		put(b, e[i].prev, CF_HASH_BYTES);
	}
}

static void
seqs_bytes(struct cf_buf *b, const struct cf_device_seq *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		put(b, s[i].device, CF_ID_BYTES);
		put_u64(b, s[i].seq);
	}
}

/* Every field of a genuine vector, and the encoder reproduces the object byte for byte. */
static void
check_forget_vector(const struct th_vec *v, const uint8_t *obj, size_t len,
                    const struct cf_device *d)
{
	struct cf_forget_record f;
	struct cf_buf b;
	uint8_t *again = NULL;
	size_t alen = 0;

	if (cf_forget_record_parse(obj, len, &f) != 0)
		return;
	cf_buf_init(&b, CF_RECORD_MAX_BYTES);
	entries_bytes(&b, f.entries, f.count);
	CHECK(hex_eq(v, "signer", f.signer, 32));
	CHECK(f.time == strtoll(th_vec_get(v, "time"), NULL, 10));
	CHECK(f.count == strtoul(th_vec_get(v, "count"), NULL, 10));
	CHECK(hex_eq(v, "entries", b.p, b.len));
	/* the superseded list: "nsup" and "sup" when present, no fields when absent */
	if (th_vec_get(v, "nsup") != NULL) {
		CHECK(f.nsup == strtoul(th_vec_get(v, "nsup"), NULL, 10));
		CHECK(hex_eq(v, "sup", (const uint8_t *)f.sup, f.nsup * CF_ID_BYTES));
	} else {
		CHECK(f.nsup == 0 && f.sup == NULL && th_vec_get(v, "sup") == NULL);
	}
	CHECK(cf_forget_record_seal(repo_id(), d, f.time, f.entries, f.count,
	                            (const uint8_t(*)[CF_ID_BYTES])f.sup, f.nsup, &again,
	                            &alen) == 0);
	CHECK(alen == len && again != NULL && memcmp(again, obj, len) == 0);
	cf_free(again);
	cf_buf_release(&b);
	cf_forget_record_release(&f);
}

static void
check_prune_vector(const struct th_vec *v, const uint8_t *obj, size_t len,
                   const struct cf_device *d)
{
	struct cf_prune_record p;
	struct cf_buf b;
	uint8_t *again = NULL;
	size_t alen = 0;
	int rc;

	if (cf_prune_record_parse(obj, len, &p) != 0)
		return;
	CHECK(hex_eq(v, "signer", p.signer, 32));
	CHECK(p.time == strtoll(th_vec_get(v, "time"), NULL, 10));
	CHECK((unsigned long)p.type == strtoul(th_vec_get(v, "type"), NULL, 10));
	CHECK(p.count == strtoul(th_vec_get(v, "count"), NULL, 10));
	cf_buf_init(&b, CF_RECORD_MAX_BYTES);
	if (p.type == CF_PRUNE_CONDEMN) {
		CHECK(hex_eq(v, "packs", (const uint8_t *)p.packs, p.count * 32));
		rc = cf_condemn_record_seal(repo_id(), d, p.time, (const uint8_t(*)[32])p.packs,
		                            p.count, &again, &alen);
	} else {
		seqs_bytes(&b, p.seqs, p.count);
		CHECK(hex_eq(v, "condemn", p.condemn, 32));
		CHECK(hex_eq(v, "seqs", b.p, b.len));
		rc = cf_observe_record_seal(repo_id(), d, p.time, p.condemn, p.seqs, p.count,
		                            &again, &alen);
	}
	CHECK(rc == 0 && alen == len && again != NULL && memcmp(again, obj, len) == 0);
	cf_free(again);
	cf_buf_release(&b);
	cf_prune_record_release(&p);
}

static void
check_vector(const struct th_vec *v)
{
	struct cf_device *d = fixed_device(false);
	const char *kinds = th_vec_get(v, "kind");
	uint8_t kind = kinds != NULL && strcmp(kinds, "9") == 0 ? CF_PRUNE_KIND : CF_FORGET_KIND;
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	CHECK(th_vec_get(v, "obj") != NULL && th_vec_get(v, "parse") != NULL &&
	      th_vec_get(v, "verify") != NULL);
	if (th_vec_get(v, "obj") == NULL || (obj = th_unhex(th_vec_get(v, "obj"), &len)) == NULL)
		goto out;
	rc = parse_rc(kind, obj, len);
	if (rc != code_of(th_vec_get(v, "parse")))
		fprintf(stderr, "  vector line %d: parse got %s\n", v->line, code_name(rc));
	CHECK(rc == code_of(th_vec_get(v, "parse")));
	rc = cf_record_verify(obj, len, repo_id(), kind, cf_signkey_pk(d->sign));
	if (rc != code_of(th_vec_get(v, "verify")))
		fprintf(stderr, "  vector line %d: verify got %s\n", v->line, code_name(rc));
	CHECK(rc == code_of(th_vec_get(v, "verify")));
	if (th_vec_get(v, "signer") == NULL)
		goto out;
	if (kind == CF_FORGET_KIND)
		check_forget_vector(v, obj, len, d);
	else
		check_prune_vector(v, obj, len, d);
out:
	free(obj);
	cf_device_free(d);
}

CF_TEST(vectors)
{
	if (getenv("CF_GEN_VECTORS") != NULL)
		return;
	CHECK(th_vec_each("records.txt", check_vector) >= 40);
}

static void
gen_case(const char *name, uint8_t kind, const uint8_t *obj, size_t len, int parse, int verify)
{
	printf("name = %s\nkind = %u\n", name, (unsigned)kind);
	th_print_hex("obj", obj, len);
	printf("parse = %s\nverify = %s\n", code_name(parse), code_name(verify));
}

static void
gen_fields(const uint8_t *obj, size_t len)
{
	struct cf_forget_record f;
	struct cf_prune_record p;
	struct cf_buf b;

	cf_buf_init(&b, CF_RECORD_MAX_BYTES);
	if (obj[4] == CF_FORGET_KIND && cf_forget_record_parse(obj, len, &f) == 0) {
		th_print_hex("signer", f.signer, 32);
		printf("time = %lld\ncount = %zu\n", (long long)f.time, f.count);
		entries_bytes(&b, f.entries, f.count);
		th_print_hex("entries", b.p, b.len);
		if (f.nsup > 0) {
			printf("nsup = %zu\n", f.nsup);
			th_print_hex("sup", f.sup, f.nsup * CF_ID_BYTES);
		}
		cf_forget_record_release(&f);
	} else if (cf_prune_record_parse(obj, len, &p) == 0) {
		th_print_hex("signer", p.signer, 32);
		printf("time = %lld\ntype = %u\ncount = %zu\n", (long long)p.time, (unsigned)p.type,
		       p.count);
		if (p.type == CF_PRUNE_CONDEMN) {
			th_print_hex("packs", p.packs, p.count * 32);
		} else {
			th_print_hex("condemn", p.condemn, 32);
			seqs_bytes(&b, p.seqs, p.count);
			th_print_hex("seqs", b.p, b.len);
		}
		cf_prune_record_release(&p);
	}
	cf_buf_release(&b);
	printf("\n");
}

/* A genuine record and its must-fail siblings. */
static void
gen_family(const char *what, const uint8_t *obj, size_t len)
{
	uint8_t kind = obj[4];
	uint8_t *m = malloc(len + 1);
	char name[128];

	gen_case(what, kind, obj, len, 0, 0);
	gen_fields(obj, len);
	memcpy(m, obj, len);
	m[0] ^= 0x02;
	snprintf(name, sizeof(name), "%s, one bit flipped in the prefix", what);
	gen_case(name, kind, m, len, CF_EFORMAT, CF_EAUTH);
	printf("\n");
	memcpy(m, obj, len);
	m[len - 70] ^= 0x10;
	snprintf(name, sizeof(name), "%s, one bit flipped before the signature", what);
	gen_case(name, kind, m, len, parse_rc(kind, m, len), CF_EAUTH);
	printf("\n");
	memcpy(m, obj, len);
	m[len - 1] ^= 0x80;
	snprintf(name, sizeof(name), "%s, one bit flipped in the signature", what);
	gen_case(name, kind, m, len, 0, CF_EAUTH);
	printf("\n");
	snprintf(name, sizeof(name), "%s, truncated by one byte", what);
	gen_case(name, kind, obj, len - 1, CF_ETRUNC, CF_EAUTH);
	printf("\n");
	memcpy(m, obj, len);
	m[len] = 0;
	snprintf(name, sizeof(name), "%s, one trailing byte", what);
	gen_case(name, kind, m, len + 1, trailing_rc(obj, len, 1), CF_EAUTH);
	printf("\n");
	m[5] = 2;
	snprintf(name, sizeof(name), "%s, version 2", what);
	gen_case(name, kind, m, len, CF_EVERSION, CF_EAUTH);
	printf("\n");
	m[5] = 1;
	m[4] = (uint8_t)(17 - kind);
	snprintf(name, sizeof(name), "%s, wrong kind", what);
	gen_case(name, kind, m, len, CF_EFORMAT, CF_EAUTH);
	printf("\n");
	free(m);
}

CF_TEST(gen_vectors)
{
	struct cf_device *d = NULL;
	uint8_t *obj = NULL;
	size_t len = 0;

	if (getenv("CF_GEN_VECTORS") == NULL)
		return;
	d = fixed_device(false);
	printf("# Forget and prune records (docs/format.md 16.1, 16.3). Generated once by\n"
	       "# CF_GEN_VECTORS=1 test_retention. Signer: the test_device key (sign seed 01..20,\n"
	       "# box secret 21..40), sign_pk = ");
	for (size_t i = 0; i < 32; i++)
		printf("%02x", cf_signkey_pk(d->sign)[i]);
	printf(";\n# repo_id = 60 61 .. 7f. kind 8 is parsed as a forget record, 9 as a prune "
	       "record;\n# verify is cf_record_verify() with that kind and the signer's key. "
	       "Entries and\n# seqs are the wire bytes (104 and 40 bytes each).\n"
	       "# nsup and sup (the superseded ids, 32 bytes each) appear only when the forget\n"
	       "# record has that optional list (added to 16.1 after the first vectors).\n\n");
	seal_forget(d, 3, &obj, &len);
	gen_family("forget, 3 entries", obj, len);
	cf_free(obj);
	seal_forget(d, 1, &obj, &len);
	gen_case("forget, 1 entry", CF_FORGET_KIND, obj, len, 0, 0);
	gen_fields(obj, len);
	cf_free(obj);
	seal_condemn(d, &obj, &len);
	gen_family("condemn, 3 packs", obj, len);
	cf_free(obj);
	seal_observe(d, 2, &obj, &len);
	gen_family("observe, 2 devices", obj, len);
	cf_free(obj);
	seal_observe(d, 0, &obj, &len);
	gen_family("observe, 0 devices", obj, len);
	cf_free(obj);
	for (size_t i = 0; i < CF_ARRAY_LEN(crafts); i++) {
		struct cf_buf b;

		craft_build(&crafts[i], d, &b);
		gen_case(crafts[i].name, crafts[i].kind, b.p, b.len, crafts[i].expect, 0);
		printf("\n");
		cf_buf_release(&b);
	}
	/* the superseded list of 16.1, after everything that came before it */
	seal_forget_sup(d, 3, 2, &obj, &len);
	gen_family("forget, 3 entries, 2 superseded", obj, len);
	cf_free(obj);
	seal_forget_sup(d, 0, 1, &obj, &len);
	gen_family("forget, 0 entries, 1 superseded", obj, len);
	cf_free(obj);
	cf_device_free(d);
}

/* ---------------------------------------------------------------- fuzz corpus */

static void
write_file(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[4096];
	FILE *f = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	CHECK(fwrite(p, 1, n, f) == n);
	CHECK(fclose(f) == 0);
}

CF_TEST(gen_corpus)
{
	const char *dir = getenv("CF_GEN_CORPUS");
	struct cf_device *d = NULL;
	uint8_t *obj = NULL;
	size_t len = 0;

	if (dir == NULL)
		return;
	d = fixed_device(false);
	seal_forget(d, 3, &obj, &len);
	write_file(dir, "forget_valid", obj, len);
	write_file(dir, "forget_truncated", obj, len - 1);
	obj[5] = 2;
	write_file(dir, "forget_version2", obj, len);
	cf_free(obj);
	seal_forget(d, 1, &obj, &len);
	write_file(dir, "forget_one", obj, len);
	cf_free(obj);
	seal_forget_sup(d, 3, 2, &obj, &len);
	write_file(dir, "forget_sup_3_2", obj, len);
	write_file(dir, "forget_sup_cut", obj, len - 4 - 2 * CF_ID_BYTES);
	cf_free(obj);
	seal_forget_sup(d, 0, 1, &obj, &len);
	write_file(dir, "forget_sup_0_1", obj, len);
	cf_free(obj);
	seal_condemn(d, &obj, &len);
	write_file(dir, "condemn_valid", obj, len);
	cf_free(obj);
	seal_observe(d, 2, &obj, &len);
	write_file(dir, "observe_valid", obj, len);
	cf_free(obj);
	seal_observe(d, 0, &obj, &len);
	write_file(dir, "observe_empty", obj, len);
	cf_free(obj);
	write_file(dir, "empty", (const uint8_t *)"", 0);
	for (size_t i = 0; i < CF_ARRAY_LEN(crafts); i++) {
		struct cf_buf b;

		craft_build(&crafts[i], d, &b);
		write_file(dir, crafts[i].file, b.p, b.len);
		cf_buf_release(&b);
	}
	cf_device_free(d);
}

/* ---------------------------------------------------------------- policy */

#define KL  CF_KEEP_LAST
#define KWI CF_KEEP_WITHIN
#define KH  CF_KEEP_HOURLY
#define KD  CF_KEEP_DAILY
#define KWK CF_KEEP_WEEKLY
#define KM  CF_KEEP_MONTHLY
#define KY  CF_KEEP_YEARLY
#define KT  CF_KEEP_TAG
#define KF  CF_KEEP_FUTURE

static void
tz_utc(void)
{
	CHECK(setenv("TZ", "UTC", 1) == 0);
	tzset();
}

/* Unix time of a UTC civil time (mktime under TZ=UTC: independent of policy.c). */
static int64_t
at(int y, int mo, int d, int h, int mi)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_isdst = 0;
	return (int64_t)mktime(&tm);
}

#define NOW at(2026, 1, 31, 12, 0) /* a Saturday */

struct snap {
	int64_t t;
	uint32_t ns;
	size_t group;
	const char *tags[2];
	uint32_t want;
};

/*
 * Apply @p to @s (handed over in a random order: the result must not depend on it) and
 * compare every why with the expected one.
 */
static void
run_policy(const char *name, const struct cf_keep_policy *p, const struct snap *s, size_t n,
           int64_t now)
{
	struct cf_policy_item *it = calloc(n + 1, sizeof(*it));
	size_t *perm = calloc(n + 1, sizeof(*perm));

	if (it == NULL || perm == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(th_rand() % i);
		size_t x = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = x;
	}
	for (size_t i = 0; i < n; i++) {
		const struct snap *x = &s[perm[i]];

		it[i].time_s = x->t;
		it[i].time_ns = x->ns;
		it[i].group = x->group;
		it[i].tags = x->tags;
		it[i].ntags = x->tags[1] != NULL ? 2 : x->tags[0] != NULL ? 1 : 0;
		it[i].why = 0xdead;
	}
	CHECK(cf_policy_apply(p, it, n, now) == 0);
	for (size_t i = 0; i < n; i++) {
		const struct snap *x = &s[perm[i]];

		if (it[i].why != x->want)
			fprintf(stderr,
			        "  %s: snapshot %zu (t=%lld, group %zu): why %#x, want %#x\n", name,
			        perm[i], (long long)x->t, x->group, it[i].why, x->want);
		CHECK(it[i].why == x->want);
	}
	free(perm);
	free(it);
}

struct tsnap {
	int y, mo, d, h, mi;
	size_t group;
	const char *tag;
	uint32_t want;
};

struct pcase {
	const char *name;
	struct cf_keep_policy pol;
	struct tsnap s[12];
};

static const char *const policy_tags[] = {"keep", "archive"};

#define DAILY(n)   .periods = {[CF_PERIOD_DAILY] = (n)}
#define HOURLY(n)  .periods = {[CF_PERIOD_HOURLY] = (n)}
#define WEEKLY(n)  .periods = {[CF_PERIOD_WEEKLY] = (n)}
#define MONTHLY(n) .periods = {[CF_PERIOD_MONTHLY] = (n)}
#define YEARLY(n)  .periods = {[CF_PERIOD_YEARLY] = (n)}

/* Every case is decided at NOW, 2026-01-31 12:00 UTC. */
static const struct pcase pcases[] = {
        {"keep-last 3",
         {.last = 3},
         {{2026, 1, 27, 10, 0, 0, NULL, 0},
          {2026, 1, 28, 10, 0, 0, NULL, 0},
          {2026, 1, 29, 10, 0, 0, NULL, KL},
          {2026, 1, 30, 10, 0, 0, NULL, KL},
          {2026, 1, 31, 10, 0, 0, NULL, KL}}},
        {"keep-last 10 of 3",
         {.last = 10},
         {{2025, 1, 27, 10, 0, 0, NULL, KL},
          {2026, 1, 1, 10, 0, 0, NULL, KL},
          {2026, 1, 31, 10, 0, 0, NULL, KL}}},
        {"keep-within 2d, the edge included",
         {.within_s = 2 * 86400},
         {{2026, 1, 20, 10, 0, 0, NULL, 0},
          {2026, 1, 29, 9, 59, 0, NULL, 0},
          {2026, 1, 29, 10, 0, 0, NULL, KWI},
          {2026, 1, 30, 10, 0, 0, NULL, KWI},
          {2026, 1, 31, 10, 0, 0, NULL, KWI}}},
        {"keep-within 36h counts back from the newest, not from now",
         {.within_s = 36 * 3600},
         {{2026, 1, 20, 10, 0, 0, NULL, KWI},
          {2026, 1, 19, 0, 0, 0, NULL, KWI},
          {2026, 1, 18, 22, 0, 0, NULL, KWI},
          {2026, 1, 18, 21, 59, 0, NULL, 0}}},
        {"keep-daily 7 with a 3-day gap keeps 4",
         {DAILY(7)},
         {{2026, 1, 21, 10, 0, 0, NULL, 0},
          {2026, 1, 22, 10, 0, 0, NULL, 0},
          {2026, 1, 23, 10, 0, 0, NULL, 0},
          {2026, 1, 24, 10, 0, 0, NULL, 0},
          {2026, 1, 28, 10, 0, 0, NULL, KD},
          {2026, 1, 29, 10, 0, 0, NULL, KD},
          {2026, 1, 30, 10, 0, 0, NULL, KD},
          {2026, 1, 31, 10, 0, 0, NULL, KD}}},
        {"keep-daily keeps the newest of each day",
         {DAILY(2)},
         {{2026, 1, 29, 23, 0, 0, NULL, 0},
          {2026, 1, 30, 8, 0, 0, NULL, 0},
          {2026, 1, 30, 20, 0, 0, NULL, KD},
          {2026, 1, 31, 0, 0, 0, NULL, 0},
          {2026, 1, 31, 11, 59, 0, NULL, KD}}},
        {"keep-hourly 3",
         {HOURLY(3)},
         {{2026, 1, 31, 8, 59, 0, NULL, 0},
          {2026, 1, 31, 9, 10, 0, NULL, 0},
          {2026, 1, 31, 9, 50, 0, NULL, KH},
          {2026, 1, 31, 10, 20, 0, NULL, KH},
          {2026, 1, 31, 11, 5, 0, NULL, 0},
          {2026, 1, 31, 11, 40, 0, NULL, KH}}},
        {"keep-hourly 3 with a gap",
         {HOURLY(3)},
         {{2026, 1, 31, 7, 0, 0, NULL, 0},
          {2026, 1, 31, 8, 30, 0, NULL, 0},
          {2026, 1, 31, 11, 40, 0, NULL, KH}}},
        {"keep-weekly 2: weeks start on Monday",
         {WEEKLY(2)},
         {{2026, 1, 18, 23, 0, 0, NULL, 0},    /* Sunday, week of Jan 12 */
          {2026, 1, 19, 0, 30, 0, NULL, 0},    /* Monday, week of Jan 19 */
          {2026, 1, 25, 23, 59, 0, NULL, KWK}, /* Sunday, week of Jan 19 */
          {2026, 1, 26, 0, 0, 0, NULL, 0},     /* Monday, week of Jan 26 */
          {2026, 1, 31, 10, 0, 0, NULL, KWK}}},
        {"keep-weekly 2: Sunday and Monday are different weeks",
         {WEEKLY(2)},
         {{2026, 1, 18, 12, 0, 0, NULL, 0},
          {2026, 1, 25, 12, 0, 0, NULL, KWK},
          {2026, 1, 26, 12, 0, 0, NULL, KWK}}},
        {"keep-monthly 3 with a month missing",
         {MONTHLY(3)},
         {{2025, 10, 15, 10, 0, 0, NULL, 0},
          {2025, 10, 28, 10, 0, 0, NULL, 0},
          {2025, 11, 15, 10, 0, 0, NULL, 0},
          {2025, 11, 30, 23, 59, 0, NULL, KM},
          {2026, 1, 1, 0, 0, 0, NULL, 0},
          {2026, 1, 31, 10, 0, 0, NULL, KM}}},
        {"keep-yearly 3 with a year missing",
         {YEARLY(3)},
         {{2022, 12, 31, 10, 0, 0, NULL, 0},
          {2023, 6, 1, 10, 0, 0, NULL, 0},
          {2023, 12, 31, 23, 0, 0, NULL, 0},
          {2024, 1, 1, 0, 30, 0, NULL, KY},
          {2026, 1, 31, 10, 0, 0, NULL, KY}}},
        {"keep-daily across 1970",
         {DAILY(2)},
         {{1969, 12, 30, 10, 0, 0, NULL, 0},
          {1969, 12, 31, 10, 0, 0, NULL, KD},
          {1970, 1, 1, 10, 0, 0, NULL, KD}}},
        {"keep-weekly across 1970 (1969-12-29 was a Monday)",
         {WEEKLY(1)},
         {{1969, 12, 28, 23, 0, 0, NULL, 0},
          {1969, 12, 29, 0, 0, 0, NULL, 0},
          {1970, 1, 4, 23, 0, 0, NULL, KWK}}},
        {"two groups decided independently",
         {.last = 1, DAILY(2)},
         {{2026, 1, 29, 10, 0, 0, NULL, 0},
          {2026, 1, 30, 10, 0, 0, NULL, KD},
          {2026, 1, 31, 10, 0, 0, NULL, KL | KD},
          {2026, 1, 8, 10, 0, 1, NULL, 0},
          {2026, 1, 9, 8, 0, 1, NULL, 0},
          {2026, 1, 9, 10, 0, 1, NULL, KD},
          {2026, 1, 10, 10, 0, 1, NULL, KL | KD},
          {2026, 2, 10, 10, 0, 2, NULL, KF},
          {2025, 5, 1, 10, 0, 3, NULL, KL | KD}}},
        {"keep-tag",
         {.last = 1, .tags = policy_tags, .ntags = 2},
         {{2026, 1, 20, 10, 0, 0, "keep", KT},
          {2026, 1, 21, 10, 0, 0, "keeper", 0},
          {2026, 1, 22, 10, 0, 0, "archive", KT},
          {2026, 1, 23, 10, 0, 0, "Keep", 0},
          {2026, 1, 24, 10, 0, 0, NULL, 0},
          {2026, 1, 31, 10, 0, 0, "keep", KT | KL}}},
        {"future-dated: over an hour ahead, by the clock",
         {.last = 1},
         {{2026, 1, 31, 10, 0, 0, NULL, 0},
          {2026, 1, 31, 13, 0, 0, NULL, KL},
          {2026, 1, 31, 13, 1, 0, NULL, KF},
          {2026, 3, 31, 13, 1, 0, NULL, KF}}},
        {"a snapshot 30 minutes ahead is genuine",
         {.last = 1, DAILY(1), .within_s = 3600},
         {{2026, 1, 31, 10, 0, 0, NULL, 0},
          {2026, 1, 31, 11, 40, 0, NULL, KWI},
          {2026, 1, 31, 12, 30, 0, NULL, KL | KD | KWI}}},
};

static void
run_pcase(const struct pcase *c)
{
	struct snap s[12];
	size_t n = 0;

	memset(s, 0, sizeof(s));
	for (; n < CF_ARRAY_LEN(c->s) && c->s[n].y != 0; n++) {
		const struct tsnap *x = &c->s[n];

		s[n].t = at(x->y, x->mo, x->d, x->h, x->mi);
		s[n].group = x->group;
		s[n].tags[0] = x->tag;
		s[n].want = x->want;
	}
	run_policy(c->name, &c->pol, s, n, NOW);
}

CF_TEST(policy_tables)
{
	tz_utc();
	for (size_t i = 0; i < CF_ARRAY_LEN(pcases); i++)
		run_pcase(&pcases[i]);
}

/* Daily snapshots at 10:00 from 2025-12-20 to 2026-01-31 under every rule at once. */
CF_TEST(policy_combined)
{
	static const struct {
		int mo, d;
		uint32_t want;
	} kept[] = {
	        {1, 31, KL | KD | KWK | KM | KY},
	        {1, 30, KL | KD},
	        {1, 29, KD},
	        {1, 25, KWK}, /* Sunday */
	        {1, 18, KWK},
	        {12, 31, KM},
	};
	struct cf_keep_policy p = {.last = 2, .periods = {0, 3, 3, 2, 1}};
	struct snap s[64];
	size_t n = 0;

	tz_utc();
	memset(s, 0, sizeof(s));
	for (int64_t t = at(2025, 12, 20, 10, 0); t <= at(2026, 1, 31, 10, 0); t += 86400) {
		s[n].t = t;
		for (size_t k = 0; k < CF_ARRAY_LEN(kept); k++)
			if (t == at(kept[k].mo == 12 ? 2025 : 2026, kept[k].mo, kept[k].d, 10, 0))
				s[n].want = kept[k].want;
		n++;
	}
	CHECK(n == 43);
	run_policy("combined", &p, s, n, NOW);
	/* the same with keep-within 3d on top */
	p.within_s = 3 * 86400;
	for (size_t i = n - 4; i < n; i++)
		s[i].want |= KWI;
	run_policy("combined + within", &p, s, n, NOW);
}

/*
 * 30 genuine daily snapshots up to now, plus 100 dated 1..100 days ahead and five 2 hours
 * ahead: the genuine ones are decided exactly as without the flood, and every future-dated
 * one is kept as future-dated, nothing else.
 */
static void
check_flood(const char *name, const struct cf_keep_policy *p)
{
	struct snap s[135];
	struct cf_policy_item it[135];
	struct cf_policy_item plain[30];

	memset(s, 0, sizeof(s));
	memset(it, 0, sizeof(it));
	memset(plain, 0, sizeof(plain));
	for (size_t i = 0; i < 30; i++) {
		plain[i].time_s = NOW - 3600 - (int64_t)i * 86400;
		it[i] = plain[i];
	}
	for (size_t i = 0; i < 100; i++)
		it[30 + i].time_s = NOW + (int64_t)(i + 1) * 86400;
	for (size_t i = 0; i < 5; i++)
		it[130 + i].time_s = NOW + 7200 + (int64_t)i * 60;
	CHECK(cf_policy_apply(p, plain, 30, NOW) == 0);
	for (size_t i = 0; i < 135; i++) {
		s[i].t = it[i].time_s;
		s[i].want = i < 30 ? plain[i].why : KF;
	}
	run_policy(name, p, s, 135, NOW);
	/* the count in plain is what the rule says, not more */
	for (size_t i = 0; i < 30; i++)
		CHECK(plain[i].why == (uint32_t)(i < 7 ? (p->last > 0 ? KL : KD) : 0));
}

CF_TEST(policy_future_flood)
{
	struct cf_keep_policy daily = {DAILY(7)};
	struct cf_keep_policy last = {.last = 5};

	tz_utc();
	last.last = 7;
	check_flood("flood, keep-daily 7", &daily);
	check_flood("flood, keep-last 7", &last);
	last.last = 5;
	{
		struct snap s[135];

		memset(s, 0, sizeof(s));
		for (size_t i = 0; i < 30; i++) {
			s[i].t = NOW - 3600 - (int64_t)i * 86400;
			s[i].want = i < 5 ? KL : 0;
		}
		for (size_t i = 0; i < 100; i++) {
			s[30 + i].t = NOW + (int64_t)(i + 1) * 86400;
			s[30 + i].want = KF;
		}
		for (size_t i = 0; i < 5; i++) {
			s[130 + i].t = NOW + 7200 + (int64_t)i;
			s[130 + i].want = KF;
		}
		run_policy("flood, keep-last 5", &last, s, 135, NOW);
		/* a genuine one half an hour ahead takes the first place of keep-last */
		s[130].t = NOW + 1800;
		s[130].want = KL;
		s[4].want = 0;
		run_policy("flood, keep-last 5, one 30 min ahead", &last, s, 135, NOW);
	}
}

CF_TEST(policy_future_edges)
{
	struct cf_keep_policy p = {.last = 1, .within_s = 86400, .periods = {1, 1, 1, 1, 1}};
	struct snap s[3];

	tz_utc();
	memset(s, 0, sizeof(s));
	s[0].t = NOW + CF_FUTURE_SKEW_S;
	s[0].want = KL | KWI | KH | KD | KWK | KM | KY;
	s[1].t = NOW + CF_FUTURE_SKEW_S + 1;
	s[1].want = KF;
	s[2].t = INT64_MAX;
	s[2].want = KF;
	run_policy("skew edge", &p, s, 3, NOW);
	/* a group of nothing but future-dated snapshots */
	s[0].t = NOW + 86400;
	s[0].want = KF;
	run_policy("all future", &p, s, 3, NOW);
}

/* Snapshots at the ends of the i64 range must not overflow anything (UBSan checks). */
CF_TEST(policy_extreme_times)
{
	struct cf_keep_policy p = {.last = 1, .within_s = 86400, .periods = {2, 2, 2, 2, 2}};
	struct snap s[4];

	tz_utc();
	memset(s, 0, sizeof(s));
	s[0].t = INT64_MIN; /* same (fallback) period as s[1], which is newer */
	s[0].want = KWI;
	s[1].t = INT64_MIN + 10;
	s[1].want = KL | KWI | KH | KD | KWK | KM | KY;
	run_policy("INT64_MIN", &p, s, 2, NOW);
	s[2].t = NOW - 3600;
	s[2].want = KL | KWI | KH | KD | KWK | KM | KY;
	s[1].want = 0;
	s[0].want = 0;
	s[3].t = INT64_MIN + 5;
	s[3].group = 1;
	s[3].want = KL | KWI | KH | KD | KWK | KM | KY;
	run_policy("INT64_MIN beside now", &p, s, 4, NOW);
}

CF_TEST(policy_nanoseconds_and_ties)
{
	struct cf_keep_policy p = {.last = 1};
	struct snap s[3];

	tz_utc();
	memset(s, 0, sizeof(s));
	s[0].t = NOW - 60;
	s[0].ns = 5;
	s[1].t = NOW - 60;
	s[1].ns = 999999999;
	s[1].want = KL;
	s[2].t = NOW - 61;
	s[2].ns = 999999999;
	run_policy("nanoseconds", &p, s, 3, NOW);
}

CF_TEST(policy_misc)
{
	struct cf_keep_policy p = {0};
	struct cf_policy_item it[2];

	tz_utc();
	CHECK(cf_policy_empty(&p));
	p.periods[CF_PERIOD_YEARLY] = 1;
	CHECK(!cf_policy_empty(&p));
	p.periods[CF_PERIOD_YEARLY] = 0;
	p.ntags = 1;
	CHECK(!cf_policy_empty(&p));
	p.ntags = 0;
	p.within_s = 1;
	CHECK(!cf_policy_empty(&p));
	p.within_s = 0;
	p.last = 1;
	CHECK(!cf_policy_empty(&p));
	CHECK(cf_policy_apply(&p, NULL, 0, NOW) == 0);
	memset(it, 0, sizeof(it));
	it[0].time_s = NOW - 10;
	it[1].time_s = NOW - 20;
	cf_alloc_fail_after(1);
	CHECK(cf_policy_apply(&p, it, 2, NOW) == CF_ENOMEM);
	cf_alloc_fail_after(0);
	CHECK(cf_policy_apply(&p, it, 2, NOW) == 0);
	CHECK(it[0].why == KL && it[1].why == 0);
	/* an empty policy removes everything genuine */
	p.last = 0;
	CHECK(cf_policy_apply(&p, it, 2, NOW) == 0);
	CHECK(it[0].why == 0 && it[1].why == 0);
}

CF_TEST(period_of)
{
	int64_t sun;
	int64_t t3;
	int64_t t12;

	tz_utc();
	sun = at(2026, 1, 25, 23, 59) + 59;
	t3 = at(2026, 1, 31, 3, 0);
	t12 = at(2026, 1, 31, 12, 0);
	CHECK(cf_period_of(0, CF_PERIOD_HOURLY) == 0);
	CHECK(cf_period_of(3599, CF_PERIOD_HOURLY) == 0);
	CHECK(cf_period_of(3600, CF_PERIOD_HOURLY) == 1);
	CHECK(cf_period_of(-1, CF_PERIOD_HOURLY) == -1);
	CHECK(cf_period_of(0, CF_PERIOD_DAILY) == 0);
	CHECK(cf_period_of(86399, CF_PERIOD_DAILY) == 0);
	CHECK(cf_period_of(86400, CF_PERIOD_DAILY) == 1);
	CHECK(cf_period_of(-1, CF_PERIOD_DAILY) == -1);
	CHECK(cf_period_of(sun, CF_PERIOD_WEEKLY) + 1 == cf_period_of(sun + 1, CF_PERIOD_WEEKLY));
	CHECK(cf_period_of(sun, CF_PERIOD_WEEKLY) ==
	      cf_period_of(at(2026, 1, 19, 0, 0), CF_PERIOD_WEEKLY));
	CHECK(cf_period_of(at(2026, 1, 19, 0, 0) - 1, CF_PERIOD_WEEKLY) + 1 ==
	      cf_period_of(at(2026, 1, 19, 0, 0), CF_PERIOD_WEEKLY));
	CHECK(cf_period_of(at(1970, 1, 4, 23, 0), CF_PERIOD_WEEKLY) ==
	      cf_period_of(at(1969, 12, 29, 0, 0), CF_PERIOD_WEEKLY));
	CHECK(cf_period_of(0, CF_PERIOD_MONTHLY) == 1970 * 12);
	CHECK(cf_period_of(at(2026, 1, 1, 0, 0) - 1, CF_PERIOD_MONTHLY) == 2025 * 12 + 11);
	CHECK(cf_period_of(at(2026, 1, 1, 0, 0), CF_PERIOD_MONTHLY) == 2026 * 12);
	CHECK(cf_period_of(0, CF_PERIOD_YEARLY) == 1970);
	CHECK(cf_period_of(at(2026, 1, 1, 0, 0) - 1, CF_PERIOD_YEARLY) == 2025);
	/* local time: 2026-01-31 03:00 UTC is still Jan 30 at UTC-5 */
	CHECK(cf_period_of(t3, CF_PERIOD_DAILY) == cf_period_of(t12, CF_PERIOD_DAILY));
	CHECK(setenv("TZ", "EST5", 1) == 0);
	tzset();
	CHECK(cf_period_of(t3, CF_PERIOD_DAILY) + 1 == cf_period_of(t12, CF_PERIOD_DAILY));
	CHECK(cf_period_of(t3, CF_PERIOD_HOURLY) == cf_period_of(t3 - 1, CF_PERIOD_HOURLY) + 1);
	tz_utc();
}

/* Under TZ=EST5, 2026-01-31 03:00 UTC is Jan 30 22:00 local: a daily period of its own. */
CF_TEST(policy_local_time)
{
	struct cf_keep_policy p = {DAILY(2)};
	struct snap s[2];
	int64_t now;

	memset(s, 0, sizeof(s));
	tz_utc();
	now = NOW;
	s[0].t = at(2026, 1, 31, 3, 0);
	s[1].t = at(2026, 1, 31, 11, 0);
	s[1].want = KD;
	run_policy("UTC", &p, s, 2, now);
	CHECK(setenv("TZ", "EST5", 1) == 0);
	tzset();
	s[0].want = KD;
	run_policy("EST5", &p, s, 2, now);
	tz_utc();
}

static void
check_text(uint32_t why, const struct cf_keep_policy *p, const char *const *tags, size_t ntags,
           size_t cap, const char *want)
{
	struct cf_policy_item it;
	char *out = malloc(cap); /* exactly @cap bytes: ASan sees any overrun */

	memset(&it, 0, sizeof(it));
	it.tags = tags;
	it.ntags = ntags;
	if (out == NULL)
		abort();
	cf_keep_why_text(why, p, &it, out, cap);
	if (strcmp(out, want) != 0)
		fprintf(stderr, "  why %#x cap %zu: \"%s\", want \"%s\"\n", why, cap, out, want);
	CHECK(strcmp(out, want) == 0);
	free(out);
}

CF_TEST(keep_why_text)
{
	static const char *const both[] = {"archive", "keep"};
	static const char *const one[] = {"archive"};
	struct cf_keep_policy p = {.tags = policy_tags, .ntags = 2};
	uint32_t all = KL | KWI | KH | KD | KWK | KM | KY | KT | KF;

	check_text(0, &p, NULL, 0, 64, "");
	check_text(KL, &p, NULL, 0, 64, "last");
	check_text(KL | KD, &p, NULL, 0, 64, "last, daily");
	check_text(KWI | KH | KWK | KM | KY, &p, NULL, 0, 64,
	           "within, hourly, weekly, monthly, yearly");
	check_text(KT, &p, one, 1, 64, "tag archive");
	check_text(KL | KT, &p, both, 2, 64, "last, tag keep, tag archive");
	check_text(KF, &p, NULL, 0, 64, "future-dated, not counted");
	check_text(all, &p, both, 2, 200,
	           "last, within, hourly, daily, weekly, monthly, yearly, tag keep, "
	           "tag archive, future-dated, not counted");
	/* truncated, always NUL-terminated, never past cap */
	check_text(KL | KD, &p, NULL, 0, 8, "last, d");
	check_text(KL | KD, &p, NULL, 0, 5, "last");
	check_text(KL | KD, &p, NULL, 0, 4, "las");
	check_text(KL, &p, NULL, 0, 1, "");
	check_text(all, &p, both, 2, 70,
	           "last, within, hourly, daily, weekly, monthly, yearly, "
	           "tag keep, tag a");
	check_text(KF | KT, &p, both, 2, 12, "tag keep, t");
}

CF_TEST(parse_duration)
{
	static const struct {
		const char *s;
		int64_t want;
	} good[] = {
	        {"7d", 7 * 86400},   {"1y2m3w4d5h", (365 + 60 + 21 + 4) * 86400LL + 5 * 3600},
	        {"36h", 36 * 3600},  {"1y", 365 * 86400},
	        {"1m", 30 * 86400},  {"2w", 14 * 86400},
	        {"0d1h", 3600},      {"1y1h", 365 * 86400 + 3600},
	        {"007d", 7 * 86400}, {"1000000y", 1000000LL * 365 * 86400},
	};
	static const char *const bad[] = {
	        "",
	        "d",
	        "7",
	        "7x",
	        "3d1y",
	        "0d",
	        "0h",
	        "1d1d",
	        "1h1d",
	        "0y0m0w0d0h",
	        "-1d",
	        "+1d",
	        " 1d",
	        "1d ",
	        "1 d",
	        "1D",
	        "1d2",
	        "d1",
	        "1.5d",
	        "1s",
	        "1dh",
	        "100000000d",
	        "99999999999999999999y",
	        "9223372036854775807h",
	};
	int64_t v = 0;

	for (size_t i = 0; i < CF_ARRAY_LEN(good); i++) {
		v = -1;
		CHECK(cf_parse_duration(good[i].s, &v) == 0 && v == good[i].want);
	}
	for (size_t i = 0; i < CF_ARRAY_LEN(bad); i++) {
		v = -1;
		if (cf_parse_duration(bad[i], &v) != CF_EINVAL)
			fprintf(stderr, "  duration \"%s\" accepted\n", bad[i]);
		CHECK(cf_parse_duration(bad[i], &v) == CF_EINVAL && v == 0);
	}
}

CF_TEST(parse_time)
{
	static const struct {
		const char *s;
		int64_t want;
	} good[] = {
	        {"2026-01-31T12:00:00Z", 1769860800},
	        {"@0", 0},
	        {"@1769860800", 1769860800},
	        {"2026-01-31 12:00", 1769860800}, /* local, TZ=UTC */
	        {"2026-01-31 12:00:30", 1769860830},
	        {"2026-01-31T12:00", 1769860800},
	        {"1970-01-01T00:00:00Z", 0},
	        {"2000-02-29T00:00:00Z", 951782400},
	        {"2024-02-29 00:00", 1709164800},
	        {"2024-12-31T23:59:59Z", 1735689599},
	        {"1969-12-31T23:59:59Z", -1},
	        {"@4611686018427387903", INT64_MAX / 2},
	};
	static const char *const bad[] = {
	        "",
	        "@",
	        "@-1",
	        "@abc",
	        "@1x",
	        "@ 1",
	        "@4611686018427387904",
	        "@18446744073709551616",
	        "2026-13-01T00:00:00Z",
	        "2026-00-10T00:00:00Z",
	        "2026-01-00T00:00:00Z",
	        "2026-01-32T00:00:00Z",
	        "2026-02-31T00:00:00Z",
	        "2026-02-29T00:00:00Z",
	        "2026-04-31 12:00",
	        "1900-02-29 12:00",
	        "2026-01-31T24:00:00Z",
	        "2026-01-31T12:60:00Z",
	        "2026-01-31T12:00:61Z",
	        "2026-01-31",
	        "2026-01-31T12",
	        "2026-01-31 12:0",
	        "2026-1-31 12:00",
	        "2026/01/31 12:00",
	        "2026-01-31_12:00",
	        "2026-01-31 12:00 ",
	        " 2026-01-31 12:00",
	        "2026-01-31T12:00:00Zjunk",
	        "2026-01-31T12:00:00ZZ",
	        "2026-01-31T12:00:00+01:00",
	        "2026-01-31T12:00:00z",
	        "2026-01-31T1a:00:00Z",
	        "2026-01-31 12:00:00x",
	        "+026-01-31 12:00",
	        "now",
	};
	int64_t v = 0;

	tz_utc();
	for (size_t i = 0; i < CF_ARRAY_LEN(good); i++) {
		v = -2;
		if (cf_parse_time(good[i].s, &v) != 0 || v != good[i].want)
			fprintf(stderr, "  time \"%s\": %lld\n", good[i].s, (long long)v);
		CHECK(cf_parse_time(good[i].s, &v) == 0 && v == good[i].want);
	}
	for (size_t i = 0; i < CF_ARRAY_LEN(bad); i++) {
		v = -2;
		if (cf_parse_time(bad[i], &v) != CF_EINVAL)
			fprintf(stderr, "  time \"%s\" accepted as %lld\n", bad[i], (long long)v);
		CHECK(cf_parse_time(bad[i], &v) == CF_EINVAL && v == 0);
	}
}
