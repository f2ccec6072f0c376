/*
 * test_chain.c - device chain: entry codec, genesis body, verification from genesis.
 *
 * CF_GEN_VECTORS=1 prints tests/vectors/chain.txt (keys and fields are fixed, Ed25519 is
 * deterministic, so the output is the same on every run).
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "chain/chain.h"
#include "harness.h"

#define T0 1700000000

struct fixture {
	struct cf_signkey *dev_sign;
	struct cf_boxkey *dev_box;
	struct cf_signkey *rec_sign;
	struct cf_boxkey *rec_box;
	struct cf_signkey *other_sign; /* a key no device of the chain has */
	struct cf_genesis g;
	uint8_t dev_id[CF_ID_BYTES];
	uint8_t rec_id[CF_ID_BYTES];
};

static void
fill(uint8_t *p, size_t n, uint8_t start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(start + i);
}

static void
fixture_init(struct fixture *f)
{
	uint8_t b[32];

	memset(f, 0, sizeof(*f));
	fill(b, 32, 0x01);
	CHECK(cf_signkey_from_seed(b, &f->dev_sign) == 0);
	fill(b, 32, 0x21);
	CHECK(cf_boxkey_from_secret(b, &f->dev_box) == 0);
	fill(b, 32, 0x41);
	CHECK(cf_signkey_from_seed(b, &f->rec_sign) == 0);
	fill(b, 32, 0x61);
	CHECK(cf_boxkey_from_secret(b, &f->rec_box) == 0);
	fill(b, 32, 0x81);
	CHECK(cf_signkey_from_seed(b, &f->other_sign) == 0);
	fill(f->g.repo_id, 32, 0xa0);
	f->g.chunk.min = CF_CHUNK_MIN_DEFAULT;
	f->g.chunk.avg = CF_CHUNK_AVG_DEFAULT;
	f->g.chunk.max = CF_CHUNK_MAX_DEFAULT;
	fill(f->g.ck_check, 32, 0xc0);
	fill(b, 32, 0xe0);
	memcpy(f->g.dk_pub, b, 32); /* any 32 bytes: the chain does not check DK_pub's shape */
	memcpy(f->g.dev_sign_pk, cf_signkey_pk(f->dev_sign), 32);
	memcpy(f->g.dev_box_pk, cf_boxkey_pk(f->dev_box), 32);
	f->g.dev_role = CF_ROLE_FULL;
	memcpy(f->g.dev_name, "laptop", 7);
	memcpy(f->g.rec_sign_pk, cf_signkey_pk(f->rec_sign), 32);
	memcpy(f->g.rec_box_pk, cf_boxkey_pk(f->rec_box), 32);
	cf_device_id_of(f->dev_id, f->g.dev_sign_pk, f->g.dev_box_pk);
	cf_device_id_of(f->rec_id, f->g.rec_sign_pk, f->g.rec_box_pk);
}

static void
fixture_release(struct fixture *f)
{
	cf_signkey_free(f->dev_sign);
	cf_boxkey_free(f->dev_box);
	cf_signkey_free(f->rec_sign);
	cf_boxkey_free(f->rec_box);
	cf_signkey_free(f->other_sign);
}

/* Seal an entry with @body (copied) and return the encoded object. */
static uint8_t *
make_entry(struct cf_chain_entry *e, uint64_t seq, const uint8_t *prev, uint8_t type,
           const uint8_t signer[32], const uint8_t *body, size_t body_len,
           const struct cf_signkey *sk, size_t *len)
{
	uint8_t *obj = NULL;

	memset(e, 0, sizeof(*e));
	e->seq = seq;
	if (prev != NULL)
		memcpy(e->prev, prev, 32);
	e->type = type;
	e->time = T0 + (int64_t)seq;
	memcpy(e->signer, signer, 32);
	e->body = (uint8_t *)(uintptr_t)body;
	e->body_len = body_len;
	CHECK(cf_chain_entry_seal(e, sk, &obj, len) == 0);
	e->body = NULL;
	return obj;
}

/* The genesis object of the fixture (optionally with a modified genesis body). */
static uint8_t *
make_genesis(const struct fixture *f, const struct cf_genesis *g, const uint8_t *signer,
             const struct cf_signkey *sk, size_t *len)
{
	struct cf_chain_entry e;
	uint8_t *body = NULL;
	size_t blen = 0;
	uint8_t *obj = NULL;

	CHECK(cf_genesis_encode(g != NULL ? g : &f->g, &body, &blen) == 0);
	obj = make_entry(&e, 0, NULL, CF_CHAIN_GENESIS, signer != NULL ? signer : f->dev_id, body,
	                 blen, sk != NULL ? sk : f->dev_sign, len);
	cf_free(body);
	return obj;
}

/* Decode @n objects and verify them as a chain; returns verify's result (or decode's). */
static int
verify_objs(uint8_t **objs, const size_t *lens, size_t n, struct cf_chain_state **st)
{
	struct cf_chain_entry *es[8] = {NULL};
	int rc = 0;

	*st = NULL;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = cf_chain_entry_decode(objs[i], lens[i], &es[i]);
	if (rc == 0)
		rc = cf_chain_verify(es, n, st);
	for (size_t i = 0; i < n; i++)
		cf_chain_entry_free(es[i]);
	return rc;
}

static int
verify_one(const uint8_t *obj, size_t len)
{
	struct cf_chain_state *st = NULL;
	uint8_t *o = (uint8_t *)(uintptr_t)obj;
	int rc = verify_objs(&o, &len, 1, &st);

	cf_chain_state_free(st);
	return rc;
}

CF_TEST(device_id_is_sha256_of_label_and_keys)
{
	uint8_t sign_pk[32];
	uint8_t box_pk[32];
	uint8_t buf[19 + 64];
	uint8_t want[32];
	uint8_t got[32];

	fill(sign_pk, 32, 1);
	fill(box_pk, 32, 100);
	memcpy(buf, "coffer.v1.device-id", 19);
	memcpy(buf + 19, sign_pk, 32);
	memcpy(buf + 51, box_pk, 32);
	cf_hash(want, buf, sizeof(buf));
	cf_device_id_of(got, sign_pk, box_pk);
	CHECK(memcmp(got, want, 32) == 0);
}

CF_TEST(device_name_rules)
{
	char n65[66];

	memset(n65, 'a', 65);
	n65[65] = '\0';
	CHECK(cf_device_name_valid("a", 1));
	CHECK(cf_device_name_valid(n65, 64));
	CHECK(!cf_device_name_valid(n65, 65));
	CHECK(!cf_device_name_valid("", 0));
	CHECK(!cf_device_name_valid("a\nb", 3));
	CHECK(!cf_device_name_valid("a\x7f", 2));
	CHECK(!cf_device_name_valid("a\0b", 3));
	CHECK(cf_device_name_valid("caf\xc3\xa9", 5)); /* UTF-8 is fine */
}

CF_TEST(genesis_round_trip)
{
	struct fixture f;
	struct cf_genesis g;
	uint8_t *body = NULL;
	size_t blen = 0;

	fixture_init(&f);
	CHECK(cf_genesis_encode(&f.g, &body, &blen) == 0);
	CHECK(blen == 238 + 6);
	CHECK(cf_genesis_decode(body, blen, &g) == 0);
	CHECK(memcmp(&g, &f.g, sizeof(g)) == 0);
	/* Every truncation and one trailing byte fail. */
	for (size_t n = 0; n < blen; n++)
		CHECK(cf_genesis_decode(body, n, &g) != 0);
	body = realloc(body, blen + 1);
	body[blen] = 0;
	CHECK(cf_genesis_decode(body, blen + 1, &g) == CF_EFORMAT);
	/* The name: length byte at 32+12+32+32+64+1 = 173. */
	body[173] = 0;
	CHECK(cf_genesis_decode(body, blen - 6, &g) != 0);
	body[173] = 6;
	body[174] = '\n';
	CHECK(cf_genesis_decode(body, blen, &g) == CF_EFORMAT);
	body[173] = 65;
	CHECK(cf_genesis_decode(body, blen, &g) == CF_EFORMAT);
	free(body);
	fixture_release(&f);
}

CF_TEST(genesis_encode_refuses_bad_names)
{
	struct fixture f;
	uint8_t *body = NULL;
	size_t blen = 0;

	fixture_init(&f);
	f.g.dev_name[0] = '\0';
	CHECK(cf_genesis_encode(&f.g, &body, &blen) == CF_EINVAL);
	CHECK(body == NULL);
	memcpy(f.g.dev_name, "a\tb", 4);
	CHECK(cf_genesis_encode(&f.g, &body, &blen) == CF_EINVAL);
	memset(f.g.dev_name, 'x', sizeof(f.g.dev_name)); /* no terminator within 65 bytes */
	CHECK(cf_genesis_encode(&f.g, &body, &blen) == CF_EINVAL);
	fixture_release(&f);
}

CF_TEST(entry_round_trip)
{
	struct fixture f;
	struct cf_chain_entry e;
	struct cf_chain_entry *d = NULL;
	uint8_t body[5] = {1, 2, 3, 4, 5};
	uint8_t prev[32];
	uint8_t h[32];
	uint8_t *obj = NULL;
	size_t len = 0;

	fixture_init(&f);
	fill(prev, 32, 9);
	obj = make_entry(&e, 7, prev, CF_CHAIN_RENAME, f.dev_id, body, sizeof(body), f.dev_sign,
	                 &len);
	CHECK(len == 93 + 5 + 64);
	cf_hash(h, obj, len);
	CHECK(memcmp(h, e.hash, 32) == 0);
	CHECK(memcmp(obj, "COFR\x01\x01\x00\x00", 8) == 0);
	CHECK(cf_chain_entry_decode(obj, len, &d) == 0);
	CHECK(d->seq == 7 && d->type == CF_CHAIN_RENAME && d->time == T0 + 7);
	CHECK(memcmp(d->prev, prev, 32) == 0 && memcmp(d->signer, f.dev_id, 32) == 0);
	CHECK(d->body_len == 5 && memcmp(d->body, body, 5) == 0);
	CHECK(memcmp(d->sig, e.sig, 64) == 0 && memcmp(d->hash, h, 32) == 0);
	CHECK(cf_chain_entry_verify_sig(d, cf_signkey_pk(f.dev_sign)) == 0);
	CHECK(cf_chain_entry_verify_sig(d, cf_signkey_pk(f.other_sign)) == CF_EAUTH);
	d->time++;
	CHECK(cf_chain_entry_verify_sig(d, cf_signkey_pk(f.dev_sign)) == CF_EAUTH);
	cf_chain_entry_free(d);
	cf_free(obj);
	fixture_release(&f);
}

CF_TEST(entry_empty_body_and_seal_limit)
{
	struct fixture f;
	struct cf_chain_entry e;
	struct cf_chain_entry *d = NULL;
	uint8_t *big = calloc(1, CF_CHAIN_BODY_MAX + 1);
	uint8_t *obj = NULL;
	size_t len = 0;

	fixture_init(&f);
	obj = make_entry(&e, 1, NULL, CF_CHAIN_ROTATE, f.dev_id, NULL, 0, f.dev_sign, &len);
	CHECK(cf_chain_entry_decode(obj, len, &d) == 0);
	CHECK(d != NULL && d->body_len == 0);
	cf_chain_entry_free(d);
	cf_free(obj);
	obj = make_entry(&e, 1, NULL, CF_CHAIN_ROTATE, f.dev_id, big, CF_CHAIN_BODY_MAX, f.dev_sign,
	                 &len);
	CHECK(len == 93 + CF_CHAIN_BODY_MAX + 64);
	CHECK(cf_chain_entry_decode(obj, len, &d) == 0);
	cf_chain_entry_free(d);
	cf_free(obj);
	memset(&e, 0, sizeof(e));
	e.type = CF_CHAIN_ROTATE;
	e.body = big;
	e.body_len = CF_CHAIN_BODY_MAX + 1;
	CHECK(cf_chain_entry_seal(&e, f.dev_sign, &obj, &len) == CF_ETOOBIG);
	CHECK(obj == NULL && len == 0);
	free(big);
	fixture_release(&f);
}

CF_TEST(entry_decode_must_fail)
{
	struct fixture f;
	struct cf_chain_entry *d = NULL;
	uint8_t *obj = NULL;
	uint8_t *bad = NULL;
	size_t len = 0;

	fixture_init(&f);
	obj = make_genesis(&f, NULL, NULL, NULL, &len);
	bad = malloc(len + 1);
	for (size_t n = 0; n < len; n++) {
		CHECK(cf_chain_entry_decode(obj, n, &d) == CF_ETRUNC);
		CHECK(d == NULL);
	}
	memcpy(bad, obj, len);
	bad[len] = 0;
	CHECK(cf_chain_entry_decode(bad, len + 1, &d) == CF_EFORMAT);
	bad[0] = 'D';
	CHECK(cf_chain_entry_decode(bad, len, &d) == CF_EFORMAT);
	memcpy(bad, obj, len);
	bad[4] = 2; /* kind: key slot */
	CHECK(cf_chain_entry_decode(bad, len, &d) == CF_EFORMAT);
	memcpy(bad, obj, len);
	bad[5] = 2;
	CHECK(cf_chain_entry_decode(bad, len, &d) == CF_EVERSION);
	memcpy(bad, obj, len);
	bad[7] = 1;
	CHECK(cf_chain_entry_decode(bad, len, &d) == CF_EFORMAT);
	memcpy(bad, obj, len);
	bad[48] = 0; /* type */
	CHECK(cf_chain_entry_decode(bad, len, &d) == CF_EFORMAT);
	bad[48] = 7;
	CHECK(cf_chain_entry_decode(bad, len, &d) == CF_EFORMAT);
	memcpy(bad, obj, len);
	cf_put_u32be(bad + 89, CF_CHAIN_BODY_MAX + 1);
	CHECK(cf_chain_entry_decode(bad, len, &d) == CF_ETOOBIG);
	cf_put_u32be(bad + 89, 0xffffffffu);
	CHECK(cf_chain_entry_decode(bad, len, &d) == CF_ETOOBIG);
	CHECK(cf_chain_entry_decode(bad, CF_CHAIN_MAX_BYTES + 1, &d) == CF_ETOOBIG);
	CHECK(d == NULL);
	free(bad);
	cf_free(obj);
	fixture_release(&f);
}

CF_TEST(verify_genesis_state)
{
	struct fixture f;
	struct cf_chain_state *st = NULL;
	const struct cf_chain_device *dev = NULL;
	uint8_t h[32];
	uint8_t *obj = NULL;
	size_t len = 0;

	fixture_init(&f);
	obj = make_genesis(&f, NULL, NULL, NULL, &len);
	cf_hash(h, obj, len);
	CHECK(verify_objs(&obj, &len, 1, &st) == 0);
	if (st == NULL)
		goto out;
	CHECK(memcmp(st->repo_id, f.g.repo_id, 32) == 0);
	CHECK(memcmp(st->fingerprint, h, 32) == 0 && memcmp(st->head, h, 32) == 0);
	CHECK(st->head_seq == 0);
	CHECK(memcmp(&st->chunk, &f.g.chunk, sizeof(st->chunk)) == 0);
	CHECK(memcmp(st->ck_check, f.g.ck_check, 32) == 0);
	CHECK(st->nepochs == 1 && memcmp(st->dk_pub[0], f.g.dk_pub, 32) == 0);
	CHECK(st->ndevices == 1);
	dev = cf_chain_find_device(st, f.dev_id);
	CHECK(dev == &st->devices[0]);
	CHECK(dev != NULL && dev->role == CF_ROLE_FULL && !dev->removed);
	CHECK(dev != NULL && strcmp(dev->name, "laptop") == 0);
	CHECK(dev != NULL && memcmp(dev->added_by, f.dev_id, 32) == 0 && dev->added_at == T0);
	CHECK(dev != NULL && memcmp(dev->sign_pk, f.g.dev_sign_pk, 32) == 0);
	CHECK(dev != NULL && memcmp(dev->box_pk, f.g.dev_box_pk, 32) == 0);
	CHECK(memcmp(st->recovery.id, f.rec_id, 32) == 0);
	CHECK(st->recovery.role == CF_ROLE_RECOVERY && !st->recovery.removed);
	CHECK(memcmp(st->recovery.sign_pk, f.g.rec_sign_pk, 32) == 0);
	CHECK(memcmp(st->recovery.box_pk, f.g.rec_box_pk, 32) == 0);
	CHECK(cf_chain_find_device(st, f.rec_id) == NULL);
out:
	cf_chain_state_free(st);
	cf_free(obj);
	fixture_release(&f);
}

CF_TEST(verify_genesis_must_fail)
{
	struct fixture f;
	struct cf_genesis g;
	uint8_t *obj = NULL;
	size_t len = 0;

	fixture_init(&f);
	/* Signed by a key that is not the body's device, naming that device: bad signature. */
	obj = make_genesis(&f, NULL, NULL, f.other_sign, &len);
	CHECK(verify_one(obj, len) == CF_EAUTH);
	CHECK(strstr(cf_err_last(), "chain entry 0") != NULL);
	cf_free(obj);
	/* Naming another signer than the body's device. */
	obj = make_genesis(&f, NULL, f.rec_id, f.rec_sign, &len);
	CHECK(verify_one(obj, len) == CF_EINTEGRITY);
	cf_free(obj);
	/* The recovery key as the genesis device. */
	g = f.g;
	memcpy(g.rec_sign_pk, g.dev_sign_pk, 32);
	memcpy(g.rec_box_pk, g.dev_box_pk, 32);
	obj = make_genesis(&f, &g, NULL, NULL, &len);
	CHECK(verify_one(obj, len) == CF_EFORMAT);
	cf_free(obj);
	g = f.g;
	g.dev_role = CF_ROLE_BACKUP_ONLY;
	obj = make_genesis(&f, &g, NULL, NULL, &len);
	CHECK(verify_one(obj, len) == CF_EFORMAT);
	cf_free(obj);
	g = f.g;
	g.chunk.avg = 1000000; /* not a power of two */
	obj = make_genesis(&f, &g, NULL, NULL, &len);
	CHECK(verify_one(obj, len) == CF_EFORMAT);
	cf_free(obj);
	g = f.g;
	g.chunk.max = CF_CHUNK_MAX_LIMIT + 1;
	obj = make_genesis(&f, &g, NULL, NULL, &len);
	CHECK(verify_one(obj, len) == CF_EFORMAT);
	cf_free(obj);
	fixture_release(&f);
}

CF_TEST(verify_genesis_link_and_type)
{
	struct fixture f;
	struct cf_chain_entry e;
	struct cf_chain_state *st = NULL;
	uint8_t *body = NULL;
	uint8_t prev[32];
	size_t blen = 0;
	uint8_t *obj = NULL;
	size_t len = 0;

	fixture_init(&f);
	CHECK(cf_genesis_encode(&f.g, &body, &blen) == 0);
	obj = make_entry(&e, 1, NULL, CF_CHAIN_GENESIS, f.dev_id, body, blen, f.dev_sign, &len);
	CHECK(verify_one(obj, len) == CF_EINTEGRITY);
	cf_free(obj);
	memset(prev, 0, 32);
	prev[31] = 1;
	obj = make_entry(&e, 0, prev, CF_CHAIN_GENESIS, f.dev_id, body, blen, f.dev_sign, &len);
	CHECK(verify_one(obj, len) == CF_EINTEGRITY);
	cf_free(obj);
	obj = make_entry(&e, 0, NULL, CF_CHAIN_ADD_DEVICE, f.dev_id, body, blen, f.dev_sign, &len);
	CHECK(verify_one(obj, len) == CF_EFORMAT);
	cf_free(obj);
	obj = make_entry(&e, 0, NULL, CF_CHAIN_GENESIS, f.dev_id, body, blen - 1, f.dev_sign, &len);
	CHECK(verify_one(obj, len) == CF_EFORMAT);
	cf_free(obj);
	CHECK(cf_chain_verify(NULL, 0, &st) == CF_EFORMAT && st == NULL);
	cf_free(body);
	fixture_release(&f);
}

/* Any single bit flipped anywhere in the genesis object is refused. */
CF_TEST(verify_genesis_every_bit_flip)
{
	struct fixture f;
	uint8_t *obj = NULL;
	size_t len = 0;
	int fails = 0;

	fixture_init(&f);
	obj = make_genesis(&f, NULL, NULL, NULL, &len);
	CHECK(verify_one(obj, len) == 0);
	for (size_t i = 0; i < len * 8; i++) {
		obj[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (verify_one(obj, len) == 0)
			fails++;
		obj[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	CHECK(fails == 0);
	cf_free(obj);
	fixture_release(&f);
}

/* A second entry: link, signer and signature are checked before its (malformed) body. */
CF_TEST(verify_second_entry)
{
	struct fixture f;
	struct cf_chain_entry e;
	uint8_t h0[32];
	struct cf_chain_state *st = NULL;
	uint8_t *objs[2] = {NULL, NULL};
	size_t lens[2] = {0, 0};
	uint8_t body[4] = {1, 2, 3, 4};
	uint8_t other_id[32];

	fixture_init(&f);
	objs[0] = make_genesis(&f, NULL, NULL, NULL, &lens[0]);
	cf_hash(h0, objs[0], lens[0]);

	objs[1] =
	        make_entry(&e, 1, h0, CF_CHAIN_ADD_DEVICE, f.dev_id, body, 4, f.dev_sign, &lens[1]);
	CHECK(verify_objs(objs, lens, 2, &st) == CF_EFORMAT);
	CHECK(strstr(cf_err_last(), "chain entry 1") != NULL);
	CHECK(strstr(cf_err_last(), "malformed body") != NULL);
	cf_free(objs[1]);

	/* Signed by the recovery key: a trusted signer, so the body is reached. */
	objs[1] = make_entry(&e, 1, h0, CF_CHAIN_RENAME, f.rec_id, body, 4, f.rec_sign, &lens[1]);
	CHECK(verify_objs(objs, lens, 2, &st) == CF_EFORMAT);
	CHECK(strstr(cf_err_last(), "malformed body") != NULL);
	cf_free(objs[1]);

	objs[1] = make_entry(&e, 1, h0, CF_CHAIN_GENESIS, f.dev_id, body, 4, f.dev_sign, &lens[1]);
	CHECK(verify_objs(objs, lens, 2, &st) == CF_EFORMAT);
	cf_free(objs[1]);

	/* Broken links. */
	objs[1] = make_entry(&e, 1, NULL, CF_CHAIN_ROTATE, f.dev_id, body, 4, f.dev_sign, &lens[1]);
	CHECK(verify_objs(objs, lens, 2, &st) == CF_EINTEGRITY);
	CHECK(strstr(cf_err_last(), "chain entry 1") != NULL);
	cf_free(objs[1]);
	objs[1] = make_entry(&e, 2, h0, CF_CHAIN_ROTATE, f.dev_id, body, 4, f.dev_sign, &lens[1]);
	CHECK(verify_objs(objs, lens, 2, &st) == CF_EINTEGRITY);
	cf_free(objs[1]);

	/* An unknown signer, and a known signer with a bad signature. */
	cf_device_id_of(other_id, cf_signkey_pk(f.other_sign), f.g.dev_box_pk);
	objs[1] = make_entry(&e, 1, h0, CF_CHAIN_ROTATE, other_id, body, 4, f.other_sign, &lens[1]);
	CHECK(verify_objs(objs, lens, 2, &st) == CF_EINTEGRITY);
	CHECK(strcmp(cf_err_last(), "chain entry 1: signer is not a trusted device") == 0);
	cf_free(objs[1]);
	objs[1] = make_entry(&e, 1, h0, CF_CHAIN_ROTATE, f.dev_id, body, 4, f.other_sign, &lens[1]);
	CHECK(verify_objs(objs, lens, 2, &st) == CF_EAUTH);
	CHECK(strstr(cf_err_last(), "chain entry 1") != NULL);
	cf_free(objs[1]);
	CHECK(st == NULL);

	cf_free(objs[0]);
	fixture_release(&f);
}

CF_TEST(verify_survives_allocation_failures)
{
	struct fixture f;
	struct cf_chain_state *st = NULL;
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc = CF_ENOMEM;

	fixture_init(&f);
	obj = make_genesis(&f, NULL, NULL, NULL, &len);
	for (uint64_t n = 1; n < 100 && rc != 0; n++) {
		cf_alloc_fail_after(n);
		rc = verify_objs(&obj, &len, 1, &st);
		cf_alloc_fail_after(0);
		CHECK(rc == 0 || rc == CF_ENOMEM);
		CHECK((rc == 0) == (st != NULL));
		cf_chain_state_free(st);
		st = NULL;
	}
	CHECK(rc == 0);
	cf_free(obj);
	fixture_release(&f);
}

static int
err_code(const char *name)
{
	static const struct {
		const char *name;
		int code;
	} codes[] = {{"ok", 0},
	             {"EFORMAT", CF_EFORMAT},
	             {"ETRUNC", CF_ETRUNC},
	             {"ETOOBIG", CF_ETOOBIG},
	             {"EAUTH", CF_EAUTH},
	             {"EVERSION", CF_EVERSION},
	             {"EINTEGRITY", CF_EINTEGRITY}};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(codes[i].name, name) == 0)
			return codes[i].code;
	return 1;
}

static void
check_vector(const struct th_vec *v)
{
	const char *entry = th_vec_get(v, "entry");
	const char *dec = th_vec_get(v, "decode");
	const char *ver = th_vec_get(v, "verify");
	struct cf_chain_entry *e = NULL;
	struct cf_chain_state *st = NULL;
	uint8_t *obj = NULL;
	uint8_t *want = NULL;
	size_t len = 0;
	size_t wlen = 0;
	int rc;

	CHECK(entry != NULL && dec != NULL);
	if (entry == NULL || dec == NULL || (obj = th_unhex(entry, &len)) == NULL)
		return;
	rc = cf_chain_entry_decode(obj, len, &e);
	CHECK(rc == err_code(dec));
	if (rc == 0 && ver != NULL) {
		rc = cf_chain_verify(&e, 1, &st);
		CHECK(rc == err_code(ver));
	}
	if (st != NULL && (want = th_unhex(th_vec_get(v, "fingerprint"), &wlen)) != NULL) {
		CHECK(wlen == 32 && memcmp(st->fingerprint, want, 32) == 0);
		free(want);
	}
	if (st != NULL && (want = th_unhex(th_vec_get(v, "device_id"), &wlen)) != NULL) {
		CHECK(st->ndevices == 1 && memcmp(st->devices[0].id, want, 32) == 0);
		CHECK(strcmp(st->devices[0].name, th_vec_get(v, "device_name")) == 0);
		free(want);
	}
	if (st != NULL && (want = th_unhex(th_vec_get(v, "recovery_id"), &wlen)) != NULL) {
		CHECK(memcmp(st->recovery.id, want, 32) == 0);
		free(want);
	}
	if (st != NULL && (want = th_unhex(th_vec_get(v, "repo_id"), &wlen)) != NULL) {
		CHECK(memcmp(st->repo_id, want, 32) == 0);
		free(want);
	}
	cf_chain_state_free(st);
	cf_chain_entry_free(e);
	free(obj);
}

CF_TEST(vectors)
{
	CHECK(th_vec_each("chain.txt", check_vector) >= 8);
}

/* Vector generation (CF_GEN_VECTORS=1). */
static void
print_case(const char *name, const uint8_t *obj, size_t len, const char *dec, const char *ver)
{
	printf("name = %s\n", name);
	th_print_hex("entry", obj, len);
	printf("decode = %s\n", dec);
	if (ver != NULL)
		printf("verify = %s\n", ver);
	printf("\n");
}

static void
gen_siblings(const uint8_t *obj, size_t len)
{
	uint8_t *b = malloc(len + 1);

	memcpy(b, obj, len);
	b[len - 10] ^= 0x01;
	print_case("genesis, one bit flipped in the signature", b, len, "ok", "EAUTH");
	memcpy(b, obj, len);
	b[100] ^= 0x80;
	print_case("genesis, one bit flipped in the body (repo_id)", b, len, "ok", "EAUTH");
	memcpy(b, obj, len);
	b[60] ^= 0x04;
	print_case("genesis, one bit flipped in the signer", b, len, "ok", "EINTEGRITY");
	print_case("genesis, truncated by one byte", obj, len - 1, "ETRUNC", NULL);
	print_case("genesis, truncated to the prefix", obj, 8, "ETRUNC", NULL);
	memcpy(b, obj, len);
	b[len] = 0;
	print_case("genesis, one trailing byte", b, len + 1, "EFORMAT", NULL);
	memcpy(b, obj, len);
	b[5] = 2;
	print_case("genesis, wrong version", b, len, "EVERSION", NULL);
	memcpy(b, obj, len);
	b[4] = 3;
	print_case("genesis, wrong kind", b, len, "EFORMAT", NULL);
	memcpy(b, obj, len);
	b[48] = 9;
	print_case("genesis, unknown entry type", b, len, "EFORMAT", NULL);
	free(b);
}

CF_TEST(gen_vectors)
{
	struct fixture f;
	uint8_t *obj = NULL;
	uint8_t h[32];
	size_t len = 0;

	if (getenv("CF_GEN_VECTORS") == NULL)
		return;
	fixture_init(&f);
	obj = make_genesis(&f, NULL, NULL, NULL, &len);
	cf_hash(h, obj, len);
	printf("# Device chain entries (docs/format.md 10). Generated by CF_GEN_VECTORS=1 "
	       "test_chain.\n");
	printf("# Keys: device sign seed 01..20, box secret 21..40; recovery sign seed 41..60,\n"
	       "# box secret 61..80; repo_id a0..bf; ck_check c0..df; dk_pub e0..ff;\n"
	       "# chunk 512 KiB / 1 MiB / 8 MiB; name \"laptop\"; time 1700000000.\n\n");
	printf("name = genesis\n");
	th_print_hex("entry", obj, len);
	printf("decode = ok\nverify = ok\n");
	th_print_hex("fingerprint", h, 32);
	th_print_hex("repo_id", f.g.repo_id, 32);
	th_print_hex("device_id", f.dev_id, 32);
	printf("device_name = laptop\n");
	th_print_hex("recovery_id", f.rec_id, 32);
	printf("\n");
	gen_siblings(obj, len);
	cf_free(obj);
	fixture_release(&f);
}

/* ---- Entry types 2 to 6: body codec, and the rules cf_chain_verify() applies ---- */

/* A device identity from fixed seeds. */
struct ident {
	struct cf_signkey *sign;
	struct cf_boxkey *box;
	uint8_t id[CF_ID_BYTES];
};

static void
ident_init(struct ident *d, uint8_t seed)
{
	uint8_t b[32];

	fill(b, 32, seed);
	CHECK(cf_signkey_from_seed(b, &d->sign) == 0);
	fill(b, 32, (uint8_t)(seed + 0x40));
	CHECK(cf_boxkey_from_secret(b, &d->box) == 0);
	cf_device_id_of(d->id, cf_signkey_pk(d->sign), cf_boxkey_pk(d->box));
}

static void
ident_release(struct ident *d)
{
	cf_signkey_free(d->sign);
	cf_boxkey_free(d->box);
}

#define CB_MAX 16

/* A chain under construction: the fixture's genesis, then entries appended one by one. */
struct cb {
	struct fixture f;
	struct ident dev2; /* added as a full device */
	struct ident dev3; /* added as a backup-only device */
	struct ident rec2; /* a new recovery identity */
	uint8_t *objs[CB_MAX];
	size_t lens[CB_MAX];
	uint8_t hash[CB_MAX][32];
	size_t n;
};

static void
cb_init(struct cb *c)
{
	memset(c, 0, sizeof(*c));
	fixture_init(&c->f);
	ident_init(&c->dev2, 0x05);
	ident_init(&c->dev3, 0x09);
	ident_init(&c->rec2, 0x0d);
	c->objs[0] = make_genesis(&c->f, NULL, NULL, NULL, &c->lens[0]);
	cf_hash(c->hash[0], c->objs[0], c->lens[0]);
	c->n = 1;
}

static void
cb_release(struct cb *c)
{
	for (size_t i = 0; i < c->n; i++)
		cf_free(c->objs[i]);
	fixture_release(&c->f);
	ident_release(&c->dev2);
	ident_release(&c->dev3);
	ident_release(&c->rec2);
}

/* Append an entry with the raw @body at the next seq, linked to the head. */
static void
cb_push_raw(struct cb *c, uint8_t type, const uint8_t *body, size_t blen, const uint8_t signer[32],
            const struct cf_signkey *sk)
{
	struct cf_chain_entry e;

	CHECK(c->n < CB_MAX);
	if (c->n >= CB_MAX)
		return;
	c->objs[c->n] = make_entry(&e, c->n, c->hash[c->n - 1], type, signer, body, blen, sk,
	                           &c->lens[c->n]);
	cf_hash(c->hash[c->n], c->objs[c->n], c->lens[c->n]);
	c->n++;
}

static void
cb_push(struct cb *c, uint8_t type, const struct cf_chain_body *b, const uint8_t signer[32],
        const struct cf_signkey *sk)
{
	uint8_t *body = NULL;
	size_t blen = 0;

	CHECK(cf_chain_body_encode(type, b, &body, &blen) == 0);
	cb_push_raw(c, type, body, blen, signer, sk);
	cf_free(body);
}

/* Signed by the genesis device / by the recovery key of the fixture. */
static void
cb_push_dev1(struct cb *c, uint8_t type, const struct cf_chain_body *b)
{
	cb_push(c, type, b, c->f.dev_id, c->f.dev_sign);
}

static void
cb_pop(struct cb *c)
{
	c->n--;
	cf_free(c->objs[c->n]);
	c->objs[c->n] = NULL;
}

/* Decode and verify the whole chain; *@st (may be NULL: then freed here). */
static int
cb_verify(const struct cb *c, struct cf_chain_state **st)
{
	struct cf_chain_entry *es[CB_MAX] = {NULL};
	struct cf_chain_state *s = NULL;
	int rc = 0;

	for (size_t i = 0; i < c->n && rc == 0; i++)
		rc = cf_chain_entry_decode(c->objs[i], c->lens[i], &es[i]);
	if (rc == 0)
		rc = cf_chain_verify(es, c->n, &s);
	for (size_t i = 0; i < c->n; i++)
		cf_chain_entry_free(es[i]);
	CHECK((rc == 0) == (s != NULL));
	if (st != NULL)
		*st = s;
	else
		cf_chain_state_free(s);
	return rc;
}

/* The last entry makes the chain fail with @rc and a message containing @msg; it is popped. */
static void
cb_refused(struct cb *c, int rc, const char *msg)
{
	CHECK(cb_verify(c, NULL) == rc);
	CHECK(strstr(cf_err_last(), msg) != NULL);
	cb_pop(c);
}

static struct cf_chain_body
body_add(const struct ident *d, uint8_t role, const char *name)
{
	struct cf_chain_body b;

	memset(&b, 0, sizeof(b));
	memcpy(b.sign_pk, cf_signkey_pk(d->sign), 32);
	memcpy(b.box_pk, cf_boxkey_pk(d->box), 32);
	b.role = role;
	memcpy(b.name, name, strlen(name) + 1);
	return b;
}

/* remove-device (with @last_seq) or rename (to @name) of device @id. */
static struct cf_chain_body
body_dev(const uint8_t id[32], uint64_t last_seq, const char *name)
{
	struct cf_chain_body b;

	memset(&b, 0, sizeof(b));
	memcpy(b.device, id, 32);
	b.last_seq = last_seq;
	memcpy(b.name, name, strlen(name) + 1);
	return b;
}

static struct cf_chain_body
body_rotate(uint32_t epoch, uint8_t key_start)
{
	struct cf_chain_body b;

	memset(&b, 0, sizeof(b));
	b.epoch = epoch;
	if (key_start != 0)
		fill(b.dk_pub, 32, key_start);
	return b;
}

/* One body of each type, and the bytes format.md 10 says it encodes to. */
struct body_case {
	uint8_t type;
	struct cf_chain_body b;
	uint8_t want[128];
	size_t want_len;
};

static void
body_cases(const struct cb *c, struct body_case *k)
{
	memset(k, 0, 5 * sizeof(*k));
	k[0].type = CF_CHAIN_ADD_DEVICE;
	k[0].b = body_add(&c->dev2, CF_ROLE_BACKUP_ONLY, "phone");
	memcpy(k[0].want, cf_signkey_pk(c->dev2.sign), 32);
	memcpy(k[0].want + 32, cf_boxkey_pk(c->dev2.box), 32);
	memcpy(k[0].want + 64, "\x02\x05phone", 7);
	k[0].want_len = 71;
	k[1].type = CF_CHAIN_REMOVE_DEVICE;
	k[1].b = body_dev(c->dev2.id, 0x0102030405060708u, "");
	memcpy(k[1].want, c->dev2.id, 32);
	memcpy(k[1].want + 32, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	k[1].want_len = 40;
	k[2].type = CF_CHAIN_ROTATE;
	k[2].b = body_rotate(0x01020304u, 0x31);
	memcpy(k[2].want, "\x01\x02\x03\x04", 4);
	fill(k[2].want + 4, 32, 0x31);
	k[2].want_len = 36;
	k[3].type = CF_CHAIN_SET_RECOVERY;
	k[3].b = body_add(&c->rec2, 0, "x");
	memcpy(k[3].want, cf_signkey_pk(c->rec2.sign), 32);
	memcpy(k[3].want + 32, cf_boxkey_pk(c->rec2.box), 32);
	k[3].want_len = 64;
	k[4].type = CF_CHAIN_RENAME;
	k[4].b = body_dev(c->dev2.id, 0, "desk \xc3\xa9");
	memcpy(k[4].want, c->dev2.id, 32);
	memcpy(k[4].want + 32,
	       "\x07"
	       "desk \xc3\xa9",
	       8);
	k[4].want_len = 40;
}

/* The fields @type uses are equal in @a and @b. */
static bool
body_fields_equal(uint8_t type, const struct cf_chain_body *a, const struct cf_chain_body *b)
{
	bool keys =
	        memcmp(a->sign_pk, b->sign_pk, 32) == 0 && memcmp(a->box_pk, b->box_pk, 32) == 0;

	switch ((enum cf_chain_type)type) {
	case CF_CHAIN_ADD_DEVICE:
		return keys && a->role == b->role && strcmp(a->name, b->name) == 0;
	case CF_CHAIN_REMOVE_DEVICE:
		return memcmp(a->device, b->device, 32) == 0 && a->last_seq == b->last_seq;
	case CF_CHAIN_ROTATE:
		return a->epoch == b->epoch && memcmp(a->dk_pub, b->dk_pub, 32) == 0;
	case CF_CHAIN_SET_RECOVERY:
		return keys;
	case CF_CHAIN_RENAME:
		return memcmp(a->device, b->device, 32) == 0 && strcmp(a->name, b->name) == 0;
	case CF_CHAIN_GENESIS:
		break;
	}
	return false;
}

CF_TEST(body_codec_known_bytes_and_round_trip)
{
	struct cb c;
	struct body_case k[5];
	struct cf_chain_body back;
	uint8_t *out = NULL;
	size_t len = 0;

	cb_init(&c);
	body_cases(&c, k);
	for (size_t i = 0; i < 5; i++) {
		CHECK(cf_chain_body_encode(k[i].type, &k[i].b, &out, &len) == 0);
		CHECK(len == k[i].want_len && memcmp(out, k[i].want, len) == 0);
		CHECK(cf_chain_body_decode(k[i].type, out, len, &back) == 0);
		CHECK(body_fields_equal(k[i].type, &k[i].b, &back));
		cf_free(out);
	}
	cb_release(&c);
}

CF_TEST(body_decode_must_fail)
{
	struct cb c;
	struct body_case k[5];
	struct cf_chain_body b;
	static const struct cf_chain_body zero;
	uint8_t buf[129];

	cb_init(&c);
	body_cases(&c, k);
	for (size_t i = 0; i < 5; i++) {
		uint8_t t = k[i].type;
		size_t n = k[i].want_len;

		memcpy(buf, k[i].want, n);
		buf[n] = 0;
		CHECK(cf_chain_body_decode(t, buf, n - 1, &b) == CF_ETRUNC);
		CHECK(memcmp(&b, &zero, sizeof(b)) == 0);
		CHECK(cf_chain_body_decode(t, buf, n + 1, &b) == CF_EFORMAT);
		CHECK(cf_chain_body_decode(t, buf, 0, &b) == CF_ETRUNC);
		CHECK(cf_chain_body_decode(CF_CHAIN_GENESIS, buf, n, &b) == CF_EFORMAT);
		CHECK(cf_chain_body_decode(7, buf, n, &b) == CF_EFORMAT);
	}
	/* add-device: the role, and the name (empty, a control character, DEL, too long) */
	memcpy(buf, k[0].want, k[0].want_len);
	for (unsigned role = 0; role < 256; role++) {
		buf[64] = (uint8_t)role;
		CHECK(cf_chain_body_decode(CF_CHAIN_ADD_DEVICE, buf, 71, &b) ==
		      (role == 1 || role == 2 ? 0 : CF_EFORMAT));
	}
	buf[64] = 1;
	buf[65] = 0;
	CHECK(cf_chain_body_decode(CF_CHAIN_ADD_DEVICE, buf, 66, &b) == CF_EFORMAT);
	buf[65] = 5;
	buf[68] = '\n';
	CHECK(cf_chain_body_decode(CF_CHAIN_ADD_DEVICE, buf, 71, &b) == CF_EFORMAT);
	buf[68] = 0x7f;
	CHECK(cf_chain_body_decode(CF_CHAIN_ADD_DEVICE, buf, 71, &b) == CF_EFORMAT);
	buf[68] = 0;
	CHECK(cf_chain_body_decode(CF_CHAIN_ADD_DEVICE, buf, 71, &b) == CF_EFORMAT);
	buf[65] = 65;
	memset(buf + 66, 'a', 63);
	CHECK(cf_chain_body_decode(CF_CHAIN_ADD_DEVICE, buf, 129, &b) == CF_EFORMAT);
	buf[65] = 64;
	CHECK(cf_chain_body_decode(CF_CHAIN_ADD_DEVICE, buf, 129, &b) == CF_ETRUNC);
	CHECK(cf_chain_body_decode(CF_CHAIN_ADD_DEVICE, buf, 130 - 1, &b) == CF_ETRUNC);
	/* rename: the same name rules */
	memcpy(buf, k[4].want, k[4].want_len);
	buf[32] = 0;
	CHECK(cf_chain_body_decode(CF_CHAIN_RENAME, buf, 33, &b) == CF_EFORMAT);
	buf[32] = 7;
	buf[33] = 0x1b;
	CHECK(cf_chain_body_decode(CF_CHAIN_RENAME, buf, 40, &b) == CF_EFORMAT);
	cb_release(&c);
}

CF_TEST(body_encode_must_fail)
{
	struct cb c;
	struct cf_chain_body b;
	uint8_t *out = NULL;
	size_t len = 0;

	cb_init(&c);
	b = body_add(&c.dev2, 3, "phone");
	CHECK(cf_chain_body_encode(CF_CHAIN_ADD_DEVICE, &b, &out, &len) == CF_EINVAL);
	CHECK(out == NULL && len == 0);
	b = body_add(&c.dev2, 0, "phone");
	CHECK(cf_chain_body_encode(CF_CHAIN_ADD_DEVICE, &b, &out, &len) == CF_EINVAL);
	b = body_add(&c.dev2, CF_ROLE_FULL, "");
	CHECK(cf_chain_body_encode(CF_CHAIN_ADD_DEVICE, &b, &out, &len) == CF_EINVAL);
	b = body_add(&c.dev2, CF_ROLE_FULL, "a\tb");
	CHECK(cf_chain_body_encode(CF_CHAIN_ADD_DEVICE, &b, &out, &len) == CF_EINVAL);
	b = body_dev(c.dev2.id, 0, "\x7f");
	CHECK(cf_chain_body_encode(CF_CHAIN_RENAME, &b, &out, &len) == CF_EINVAL);
	b = body_dev(c.dev2.id, 0, "");
	CHECK(cf_chain_body_encode(CF_CHAIN_RENAME, &b, &out, &len) == CF_EINVAL);
	CHECK(cf_chain_body_encode(CF_CHAIN_GENESIS, &b, &out, &len) == CF_EINVAL);
	CHECK(out == NULL);
	/* types without a name do not look at it */
	CHECK(cf_chain_body_encode(CF_CHAIN_REMOVE_DEVICE, &b, &out, &len) == 0 && len == 40);
	cf_free(out);
	/* A type version 1 does not know: refused like genesis. */
	CHECK(cf_chain_body_encode(7, &b, &out, &len) == CF_EINVAL && out == NULL);
	cb_release(&c);
}

CF_TEST(verify_add_device_rules)
{
	struct cb c;
	struct cf_chain_state *st = NULL;
	struct cf_chain_body b;

	cb_init(&c);
	b = body_add(&c.dev2, CF_ROLE_FULL, "desk");
	cb_push_dev1(&c, CF_CHAIN_ADD_DEVICE, &b);
	b = body_add(&c.dev3, CF_ROLE_BACKUP_ONLY, "nas");
	cb_push(&c, CF_CHAIN_ADD_DEVICE, &b, c.dev2.id, c.dev2.sign); /* added by dev2 */
	CHECK(cb_verify(&c, &st) == 0);
	if (st != NULL) {
		CHECK(st->ndevices == 3 && st->head_seq == 2);
		CHECK(memcmp(st->head, c.hash[2], 32) == 0);
		CHECK(memcmp(st->devices[1].id, c.dev2.id, 32) == 0);
		CHECK(memcmp(st->devices[1].sign_pk, cf_signkey_pk(c.dev2.sign), 32) == 0);
		CHECK(memcmp(st->devices[1].box_pk, cf_boxkey_pk(c.dev2.box), 32) == 0);
		CHECK(st->devices[1].role == CF_ROLE_FULL && !st->devices[1].removed);
		CHECK(strcmp(st->devices[1].name, "desk") == 0);
		CHECK(memcmp(st->devices[1].added_by, c.f.dev_id, 32) == 0);
		CHECK(st->devices[1].added_at == T0 + 1);
		CHECK(st->devices[2].role == CF_ROLE_BACKUP_ONLY);
		CHECK(memcmp(st->devices[2].added_by, c.dev2.id, 32) == 0);
		CHECK(cf_chain_find_device(st, c.dev3.id) == &st->devices[2]);
		CHECK(cf_chain_find_device(st, c.f.rec_id) == NULL);
	}
	cf_chain_state_free(st);

	/* the same device again, the genesis device, the recovery identity as a device */
	b = body_add(&c.dev2, CF_ROLE_BACKUP_ONLY, "again");
	cb_push_dev1(&c, CF_CHAIN_ADD_DEVICE, &b);
	cb_refused(&c, CF_EINTEGRITY, "chain entry 3: the device is already known");
	memcpy(b.sign_pk, c.f.g.dev_sign_pk, 32);
	memcpy(b.box_pk, c.f.g.dev_box_pk, 32);
	cb_push_dev1(&c, CF_CHAIN_ADD_DEVICE, &b);
	cb_refused(&c, CF_EINTEGRITY, "already known");
	memcpy(b.sign_pk, c.f.g.rec_sign_pk, 32);
	memcpy(b.box_pk, c.f.g.rec_box_pk, 32);
	cb_push_dev1(&c, CF_CHAIN_ADD_DEVICE, &b);
	cb_refused(&c, CF_EINTEGRITY, "already known");

	/* a backup-only signer, and a forged signature in a full device's name */
	b = body_add(&c.rec2, CF_ROLE_FULL, "evil");
	cb_push(&c, CF_CHAIN_ADD_DEVICE, &b, c.dev3.id, c.dev3.sign);
	cb_refused(&c, CF_EINTEGRITY, "chain entry 3: signer is not a trusted device");
	cb_push(&c, CF_CHAIN_ADD_DEVICE, &b, c.dev2.id, c.f.other_sign);
	cb_refused(&c, CF_EAUTH, "chain entry 3: bad signature");

	/* the recovery key may sign */
	cb_push(&c, CF_CHAIN_ADD_DEVICE, &b, c.f.rec_id, c.f.rec_sign);
	CHECK(cb_verify(&c, &st) == 0);
	if (st != NULL) {
		CHECK(st->ndevices == 4);
		CHECK(memcmp(st->devices[3].added_by, c.f.rec_id, 32) == 0);
	}
	cf_chain_state_free(st);
	cb_release(&c);
}

CF_TEST(verify_remove_device_rules)
{
	struct cb c;
	struct cf_chain_state *st = NULL;
	struct cf_chain_body b;
	uint8_t unknown[32];

	cb_init(&c);
	fill(unknown, 32, 0x99);
	b = body_add(&c.dev2, CF_ROLE_FULL, "desk");
	cb_push_dev1(&c, CF_CHAIN_ADD_DEVICE, &b);
	b = body_add(&c.dev3, CF_ROLE_BACKUP_ONLY, "nas");
	cb_push_dev1(&c, CF_CHAIN_ADD_DEVICE, &b);

	b = body_dev(unknown, 0, "");
	cb_push_dev1(&c, CF_CHAIN_REMOVE_DEVICE, &b);
	cb_refused(&c, CF_EINTEGRITY, "chain entry 3: removes an unknown device");
	b = body_dev(c.f.rec_id, 0, ""); /* the recovery key is not a device */
	cb_push_dev1(&c, CF_CHAIN_REMOVE_DEVICE, &b);
	cb_refused(&c, CF_EINTEGRITY, "removes an unknown device");

	/* revoke dev2 (remove + rotate) */
	b = body_dev(c.dev2.id, 7, "");
	cb_push_dev1(&c, CF_CHAIN_REMOVE_DEVICE, &b);
	b = body_rotate(1, 0x31);
	cb_push_dev1(&c, CF_CHAIN_ROTATE, &b);
	CHECK(cb_verify(&c, &st) == 0);
	if (st != NULL) {
		const struct cf_chain_device *d = cf_chain_find_device(st, c.dev2.id);

		CHECK(d != NULL && d->removed && d->last_seq == 7);
		CHECK(!st->devices[0].removed && !st->devices[2].removed);
		CHECK(st->nepochs == 2);
	}
	cf_chain_state_free(st);

	/* a removed device: not removed twice, not renamed, not added again, not a signer */
	b = body_dev(c.dev2.id, 9, "");
	cb_push_dev1(&c, CF_CHAIN_REMOVE_DEVICE, &b);
	cb_refused(&c, CF_EINTEGRITY, "chain entry 5: removes an unknown device");
	b = body_dev(c.dev2.id, 0, "back");
	cb_push_dev1(&c, CF_CHAIN_RENAME, &b);
	cb_refused(&c, CF_EINTEGRITY, "renames an unknown device");
	b = body_add(&c.dev2, CF_ROLE_FULL, "back");
	cb_push_dev1(&c, CF_CHAIN_ADD_DEVICE, &b);
	cb_refused(&c, CF_EINTEGRITY, "already known");
	b = body_add(&c.rec2, CF_ROLE_FULL, "evil");
	cb_push(&c, CF_CHAIN_ADD_DEVICE, &b, c.dev2.id, c.dev2.sign);
	cb_refused(&c, CF_EINTEGRITY, "chain entry 5: signer is not a trusted device");

	/* the genesis device removes itself: allowed, dev2 is gone, only the backup-only nas
	 * would remain: refused */
	b = body_dev(c.f.dev_id, 0, "");
	cb_push_dev1(&c, CF_CHAIN_REMOVE_DEVICE, &b);
	cb_refused(&c, CF_EINTEGRITY, "chain entry 5: removes the last full device");
	cb_push(&c, CF_CHAIN_REMOVE_DEVICE, &b, c.f.rec_id, c.f.rec_sign);
	cb_refused(&c, CF_EINTEGRITY, "removes the last full device");
	cb_release(&c);
}

CF_TEST(verify_removed_signer_refused)
{
	struct cb c;
	struct cf_chain_body b;

	cb_init(&c);
	b = body_add(&c.dev2, CF_ROLE_FULL, "desk");
	cb_push_dev1(&c, CF_CHAIN_ADD_DEVICE, &b);
	/* dev2 removes the genesis device: allowed while dev2 remains */
	b = body_dev(c.f.dev_id, 3, "");
	cb_push(&c, CF_CHAIN_REMOVE_DEVICE, &b, c.dev2.id, c.dev2.sign);
	b = body_rotate(1, 0x31);
	cb_push(&c, CF_CHAIN_ROTATE, &b, c.dev2.id, c.dev2.sign);
	CHECK(cb_verify(&c, NULL) == 0);
	/* the removed genesis device signs anything: refused */
	b = body_dev(c.dev2.id, 0, "mine");
	cb_push_dev1(&c, CF_CHAIN_RENAME, &b);
	cb_refused(&c, CF_EINTEGRITY, "chain entry 4: signer is not a trusted device");
	b = body_rotate(2, 0x51);
	cb_push_dev1(&c, CF_CHAIN_ROTATE, &b);
	cb_refused(&c, CF_EINTEGRITY, "signer is not a trusted device");
	cb_release(&c);
}

CF_TEST(verify_rotate_rules)
{
	static const uint32_t wrong[] = {0, 1, 2, 4, 5, UINT32_MAX};
	struct cb c;
	struct cf_chain_state *st = NULL;
	struct cf_chain_body b;

	cb_init(&c);
	b = body_rotate(1, 0x31);
	cb_push_dev1(&c, CF_CHAIN_ROTATE, &b);
	b = body_rotate(2, 0x51);
	cb_push(&c, CF_CHAIN_ROTATE, &b, c.f.rec_id, c.f.rec_sign);
	CHECK(cb_verify(&c, &st) == 0);
	if (st != NULL) {
		uint8_t k1[32];
		uint8_t k2[32];

		fill(k1, 32, 0x31);
		fill(k2, 32, 0x51);
		CHECK(st->nepochs == 3);
		CHECK(memcmp(st->dk_pub[0], c.f.g.dk_pub, 32) == 0);
		CHECK(memcmp(st->dk_pub[1], k1, 32) == 0 && memcmp(st->dk_pub[2], k2, 32) == 0);
	}
	cf_chain_state_free(st);
	/* the epoch must be the next one; the key must not be zero */
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		b = body_rotate(wrong[i], 0x71);
		cb_push_dev1(&c, CF_CHAIN_ROTATE, &b);
		cb_refused(&c, CF_EINTEGRITY, "chain entry 3: rotates to a wrong epoch or key");
	}
	b = body_rotate(3, 0);
	cb_push_dev1(&c, CF_CHAIN_ROTATE, &b);
	cb_refused(&c, CF_EINTEGRITY, "rotates to a wrong epoch or key");
	b = body_rotate(3, 0x71);
	cb_push_dev1(&c, CF_CHAIN_ROTATE, &b);
	CHECK(cb_verify(&c, NULL) == 0);
	cb_release(&c);
}

CF_TEST(verify_rename_rules)
{
	struct cb c;
	struct cf_chain_state *st = NULL;
	struct cf_chain_body b;
	uint8_t unknown[32];

	cb_init(&c);
	fill(unknown, 32, 0x99);
	b = body_add(&c.dev2, CF_ROLE_FULL, "desk");
	cb_push_dev1(&c, CF_CHAIN_ADD_DEVICE, &b);
	b = body_add(&c.dev3, CF_ROLE_BACKUP_ONLY, "nas");
	cb_push_dev1(&c, CF_CHAIN_ADD_DEVICE, &b);
	b = body_dev(c.f.dev_id, 0, "old laptop");
	cb_push(&c, CF_CHAIN_RENAME, &b, c.dev2.id, c.dev2.sign);
	b = body_dev(c.dev3.id, 0, "nas 2");
	cb_push(&c, CF_CHAIN_RENAME, &b, c.f.rec_id, c.f.rec_sign);
	CHECK(cb_verify(&c, &st) == 0);
	if (st != NULL) {
		CHECK(strcmp(st->devices[0].name, "old laptop") == 0);
		CHECK(strcmp(st->devices[2].name, "nas 2") == 0);
		CHECK(strcmp(st->devices[1].name, "desk") == 0);
	}
	cf_chain_state_free(st);
	b = body_dev(unknown, 0, "who");
	cb_push_dev1(&c, CF_CHAIN_RENAME, &b);
	cb_refused(&c, CF_EINTEGRITY, "chain entry 5: renames an unknown device");
	b = body_dev(c.f.rec_id, 0, "who");
	cb_push_dev1(&c, CF_CHAIN_RENAME, &b);
	cb_refused(&c, CF_EINTEGRITY, "renames an unknown device");
	b = body_dev(c.dev3.id, 0, "mine now");
	cb_push(&c, CF_CHAIN_RENAME, &b, c.dev3.id, c.dev3.sign); /* backup-only signer */
	cb_refused(&c, CF_EINTEGRITY, "signer is not a trusted device");
	cb_release(&c);
}

CF_TEST(verify_set_recovery_rules)
{
	struct cb c;
	struct cf_chain_state *st = NULL;
	struct cf_chain_body b;

	cb_init(&c);
	b = body_add(&c.dev2, CF_ROLE_FULL, "desk");
	cb_push_dev1(&c, CF_CHAIN_ADD_DEVICE, &b);
	/* an identity already in use: a device, the genesis device, the recovery key itself */
	b = body_add(&c.dev2, 0, "x");
	cb_push_dev1(&c, CF_CHAIN_SET_RECOVERY, &b);
	cb_refused(&c, CF_EINTEGRITY, "chain entry 2: the recovery key is already known");
	memcpy(b.sign_pk, c.f.g.dev_sign_pk, 32);
	memcpy(b.box_pk, c.f.g.dev_box_pk, 32);
	cb_push_dev1(&c, CF_CHAIN_SET_RECOVERY, &b);
	cb_refused(&c, CF_EINTEGRITY, "already known");
	memcpy(b.sign_pk, c.f.g.rec_sign_pk, 32);
	memcpy(b.box_pk, c.f.g.rec_box_pk, 32);
	cb_push(&c, CF_CHAIN_SET_RECOVERY, &b, c.f.rec_id, c.f.rec_sign);
	cb_refused(&c, CF_EINTEGRITY, "already known");

	/* replaced by dev2: the new identity is the recovery key from now on */
	b = body_add(&c.rec2, 0, "x");
	cb_push(&c, CF_CHAIN_SET_RECOVERY, &b, c.dev2.id, c.dev2.sign);
	CHECK(cb_verify(&c, &st) == 0);
	if (st != NULL) {
		CHECK(memcmp(st->recovery.id, c.rec2.id, 32) == 0);
		CHECK(memcmp(st->recovery.sign_pk, cf_signkey_pk(c.rec2.sign), 32) == 0);
		CHECK(memcmp(st->recovery.box_pk, cf_boxkey_pk(c.rec2.box), 32) == 0);
		CHECK(st->recovery.role == CF_ROLE_RECOVERY);
		CHECK(strcmp(st->recovery.name, "recovery key") == 0);
		CHECK(memcmp(st->recovery.added_by, c.dev2.id, 32) == 0);
		CHECK(st->ndevices == 2);
	}
	cf_chain_state_free(st);
	/* the old recovery key is no longer trusted; the new one is */
	b = body_add(&c.dev3, CF_ROLE_FULL, "evil");
	cb_push(&c, CF_CHAIN_ADD_DEVICE, &b, c.f.rec_id, c.f.rec_sign);
	cb_refused(&c, CF_EINTEGRITY, "chain entry 3: signer is not a trusted device");
	cb_push(&c, CF_CHAIN_ADD_DEVICE, &b, c.rec2.id, c.rec2.sign);
	CHECK(cb_verify(&c, &st) == 0);
	if (st != NULL)
		CHECK(memcmp(st->devices[2].added_by, c.rec2.id, 32) == 0);
	cf_chain_state_free(st);
	cb_release(&c);

	/* the recovery key replaces itself */
	cb_init(&c);
	b = body_add(&c.rec2, 0, "x");
	cb_push(&c, CF_CHAIN_SET_RECOVERY, &b, c.f.rec_id, c.f.rec_sign);
	CHECK(cb_verify(&c, &st) == 0);
	if (st != NULL) {
		CHECK(memcmp(st->recovery.id, c.rec2.id, 32) == 0);
		CHECK(memcmp(st->recovery.added_by, c.f.rec_id, 32) == 0);
	}
	cf_chain_state_free(st);
	cb_release(&c);
}

CF_TEST(verify_malformed_bodies)
{
	struct cb c;
	struct body_case k[5];
	uint8_t buf[129];

	cb_init(&c);
	body_cases(&c, k);
	for (size_t i = 0; i < 5; i++) {
		memcpy(buf, k[i].want, k[i].want_len);
		buf[k[i].want_len] = 0;
		cb_push_raw(&c, k[i].type, buf, k[i].want_len - 1, c.f.dev_id, c.f.dev_sign);
		cb_refused(&c, CF_EFORMAT, "chain entry 1: malformed body");
		cb_push_raw(&c, k[i].type, buf, k[i].want_len + 1, c.f.dev_id, c.f.dev_sign);
		cb_refused(&c, CF_EFORMAT, "chain entry 1: malformed body");
		cb_push_raw(&c, k[i].type, buf, 0, c.f.dev_id, c.f.dev_sign);
		cb_refused(&c, CF_EFORMAT, "chain entry 1: malformed body");
	}
	cb_release(&c);
}

CF_TEST(verify_every_bit_flip_of_a_later_entry)
{
	struct cb c;
	struct cf_chain_body b;
	uint8_t *keep = NULL;
	size_t len = 0;
	size_t accepted = 0;

	cb_init(&c);
	b = body_add(&c.dev2, CF_ROLE_FULL, "desk");
	cb_push_dev1(&c, CF_CHAIN_ADD_DEVICE, &b);
	b = body_dev(c.dev2.id, 0, "desk 2");
	cb_push(&c, CF_CHAIN_RENAME, &b, c.dev2.id, c.dev2.sign);
	CHECK(cb_verify(&c, NULL) == 0);
	len = c.lens[1];
	keep = cf_memdup(c.objs[1], len);
	CHECK(keep != NULL);
	for (size_t bit = 0; keep != NULL && bit < 8 * len; bit++) {
		memcpy(c.objs[1], keep, len);
		c.objs[1][bit / 8] ^= (uint8_t)(1u << (bit % 8));
		accepted += cb_verify(&c, NULL) == 0;
	}
	CHECK(accepted == 0);
	cf_free(keep);
	cb_release(&c);
}

CF_TEST(verify_remove_is_followed_by_rotate)
{
	struct cb c;
	struct cf_chain_body b;

	/* format.md 10: a revocation interrupted between remove-device and rotate. */
	cb_init(&c);
	b = body_add(&c.dev2, CF_ROLE_FULL, "desk");
	cb_push_dev1(&c, CF_CHAIN_ADD_DEVICE, &b);
	b = body_dev(c.dev2.id, 0, "");
	cb_push_dev1(&c, CF_CHAIN_REMOVE_DEVICE, &b);
	b = body_dev(c.f.dev_id, 0, "renamed");
	cb_push_dev1(&c, CF_CHAIN_RENAME, &b);
	/* still verifies (an interrupted revocation must stay repairable), but the state says
	 * the epoch key is compromised until a rotate follows */
	{
		struct cf_chain_state *st = NULL;

		CHECK(cb_verify(&c, &st) == 0);
		CHECK(st != NULL && st->rotate_pending);
		cf_chain_state_free(st);
	}
	cb_release(&c);
}

CF_TEST(verify_long_chain_survives_allocation_failures)
{
	struct cb c;
	struct cf_chain_body b;
	struct cf_chain_state *st = NULL;
	int rc = CF_ENOMEM;

	cb_init(&c);
	b = body_add(&c.dev2, CF_ROLE_FULL, "desk");
	cb_push_dev1(&c, CF_CHAIN_ADD_DEVICE, &b);
	b = body_add(&c.dev3, CF_ROLE_BACKUP_ONLY, "nas");
	cb_push_dev1(&c, CF_CHAIN_ADD_DEVICE, &b);
	b = body_dev(c.dev3.id, 0, "");
	cb_push_dev1(&c, CF_CHAIN_REMOVE_DEVICE, &b);
	b = body_rotate(1, 0x31);
	cb_push_dev1(&c, CF_CHAIN_ROTATE, &b);
	b = body_dev(c.dev2.id, 0, "desk 2");
	cb_push_dev1(&c, CF_CHAIN_RENAME, &b);
	b = body_add(&c.rec2, 0, "x");
	cb_push_dev1(&c, CF_CHAIN_SET_RECOVERY, &b);
	for (uint64_t n = 1; n < 200 && rc != 0; n++) {
		cf_alloc_fail_after(n);
		rc = cb_verify(&c, &st);
		cf_alloc_fail_after(0);
		CHECK(rc == 0 || rc == CF_ENOMEM);
		cf_chain_state_free(st);
		st = NULL;
	}
	CHECK(rc == 0);
	cb_release(&c);
}
