/*
 * test_keys.c - key slots (docs/format.md 11).
 *
 * CF_GEN_VECTORS=1 prints tests/vectors/keys.txt. Wrapping uses a fresh ephemeral key and
 * nonce, so each generation gives other bytes; the committed file was generated once.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "chain/chain.h"
#include "harness.h"
#include "keys/keys.h"

struct fixture {
	struct cf_boxkey *self;  /* the recipient */
	struct cf_boxkey *other; /* somebody else */
	struct cf_key *ck;
	struct cf_boxkey *dk;
	struct cf_keyslot_params p;
};

static void
fill(uint8_t *p, size_t n, uint8_t start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(start + i);
}

static void
fixture_init(struct fixture *f, uint8_t role)
{
	uint8_t b[32];

	memset(f, 0, sizeof(*f));
	fill(b, 32, 0x11);
	CHECK(cf_boxkey_from_secret(b, &f->self) == 0);
	fill(b, 32, 0x31);
	CHECK(cf_boxkey_from_secret(b, &f->other) == 0);
	fill(b, 32, 0x51);
	CHECK(cf_key_new_from(b, &f->ck) == 0);
	fill(b, 32, 0x71);
	CHECK(cf_boxkey_from_secret(b, &f->dk) == 0);
	fill(f->p.repo_id, 32, 0xa0);
	fill(f->p.recipient, 32, 0xc0);
	memcpy(f->p.recipient_box_pk, cf_boxkey_pk(f->self), 32);
	f->p.epoch = 3;
	f->p.role = role;
}

static void
fixture_release(struct fixture *f)
{
	cf_boxkey_free(f->self);
	cf_boxkey_free(f->other);
	cf_key_free(f->ck);
	cf_boxkey_free(f->dk);
}

static uint8_t *
seal(const struct fixture *f, size_t *len)
{
	uint8_t *obj = NULL;

	CHECK(cf_keyslot_seal(&f->p, f->ck, f->dk, &obj, len) == 0);
	return obj;
}

/* Open @obj as the fixture's recipient; on success check the keys and free them. */
static int
open_check(const struct fixture *f, const uint8_t *obj, size_t len)
{
	struct cf_key *ck = NULL;
	struct cf_boxkey *dk = NULL;
	uint32_t epoch = 99;
	uint8_t role = 99;
	int rc;

	rc = cf_keyslot_open(obj, len, f->p.repo_id, f->p.recipient, f->self, &epoch, &role, &ck,
	                     &dk);
	if (rc != 0) {
		CHECK(ck == NULL && dk == NULL && epoch == 0 && role == 0);
		return rc;
	}
	CHECK(epoch == f->p.epoch && role == f->p.role);
	CHECK(ck != NULL && memcmp(cf_key_view(ck), cf_key_view(f->ck), 32) == 0);
	if (role == CF_ROLE_BACKUP_ONLY) {
		CHECK(dk == NULL);
	} else {
		CHECK(dk != NULL && memcmp(cf_boxkey_sk(dk), cf_boxkey_sk(f->dk), 32) == 0);
		CHECK(dk != NULL && memcmp(cf_boxkey_pk(dk), cf_boxkey_pk(f->dk), 32) == 0);
	}
	cf_key_free(ck);
	cf_boxkey_free(dk);
	return 0;
}

CF_TEST(round_trip_each_role)
{
	static const uint8_t roles[] = {CF_ROLE_FULL, CF_ROLE_BACKUP_ONLY, CF_ROLE_RECOVERY};
	static const size_t lens[] = {45 + 72 + 64, 45 + 72 + 32, 45 + 72 + 64};

	for (size_t i = 0; i < 3; i++) {
		struct fixture f;
		uint8_t *obj = NULL;
		size_t len = 0;

		fixture_init(&f, roles[i]);
		obj = seal(&f, &len);
		CHECK(len == lens[i]);
		CHECK(memcmp(obj, "COFR\x02\x01\x00\x00", 8) == 0);
		CHECK(memcmp(obj + 8, f.p.recipient, 32) == 0);
		CHECK(obj[40] == 0 && obj[43] == 3 && obj[44] == roles[i]);
		CHECK(open_check(&f, obj, len) == 0);
		cf_free(obj);
		fixture_release(&f);
	}
}

CF_TEST(backup_only_needs_no_dk)
{
	struct fixture f;
	uint8_t *obj = NULL;
	size_t len = 0;

	fixture_init(&f, CF_ROLE_BACKUP_ONLY);
	CHECK(cf_keyslot_seal(&f.p, f.ck, NULL, &obj, &len) == 0);
	CHECK(open_check(&f, obj, len) == 0);
	cf_free(obj);
	fixture_release(&f);
}

CF_TEST(seal_refuses_bad_params)
{
	struct fixture f;
	uint8_t *obj = NULL;
	size_t len = 1;

	fixture_init(&f, CF_ROLE_FULL);
	CHECK(cf_keyslot_seal(&f.p, f.ck, NULL, &obj, &len) == CF_EINVAL);
	CHECK(obj == NULL && len == 0);
	f.p.role = CF_ROLE_RECOVERY;
	CHECK(cf_keyslot_seal(&f.p, f.ck, NULL, &obj, &len) == CF_EINVAL);
	f.p.role = 0;
	CHECK(cf_keyslot_seal(&f.p, f.ck, f.dk, &obj, &len) == CF_EINVAL);
	f.p.role = 4;
	CHECK(cf_keyslot_seal(&f.p, f.ck, f.dk, &obj, &len) == CF_EINVAL);
	f.p.role = CF_ROLE_FULL;
	memset(f.p.recipient_box_pk, 0, 32); /* a low-order point */
	CHECK(cf_keyslot_seal(&f.p, f.ck, f.dk, &obj, &len) == CF_EINVAL);
	CHECK(obj == NULL);
	fixture_release(&f);
}

CF_TEST(open_refuses_other_recipients)
{
	struct fixture f;
	struct cf_key *ck = NULL;
	struct cf_boxkey *dk = NULL;
	uint8_t other_id[32];
	uint8_t repo[32];
	uint8_t *obj = NULL;
	uint32_t epoch = 0;
	uint8_t role = 0;
	size_t len = 0;

	fixture_init(&f, CF_ROLE_FULL);
	obj = seal(&f, &len);
	memcpy(other_id, f.p.recipient, 32);
	other_id[31] ^= 1;
	CHECK(cf_keyslot_open(obj, len, f.p.repo_id, other_id, f.self, &epoch, &role, &ck, &dk) ==
	      CF_EAUTH);
	CHECK(cf_keyslot_open(obj, len, f.p.repo_id, f.p.recipient, f.other, &epoch, &role, &ck,
	                      &dk) == CF_EAUTH);
	memcpy(repo, f.p.repo_id, 32);
	repo[0] ^= 1;
	CHECK(cf_keyslot_open(obj, len, repo, f.p.recipient, f.self, &epoch, &role, &ck, &dk) ==
	      CF_EAUTH);
	CHECK(ck == NULL && dk == NULL);
	cf_free(obj);
	fixture_release(&f);
}

CF_TEST(open_must_fail)
{
	struct fixture f;
	uint8_t *obj = NULL;
	uint8_t *b = NULL;
	size_t len = 0;
	int bad = 0;

	fixture_init(&f, CF_ROLE_FULL);
	obj = seal(&f, &len);
	b = malloc(len + 1);
	for (size_t n = 0; n < len; n++)
		CHECK(open_check(&f, obj, n) == CF_ETRUNC);
	memcpy(b, obj, len);
	b[len] = 0;
	CHECK(open_check(&f, b, len + 1) == CF_EFORMAT);
	b[5] = 2;
	CHECK(open_check(&f, b, len) == CF_EVERSION);
	memcpy(b, obj, len);
	b[4] = 1;
	CHECK(open_check(&f, b, len) == CF_EFORMAT);
	memcpy(b, obj, len);
	b[44] = 0;
	CHECK(open_check(&f, b, len) == CF_EFORMAT);
	b[44] = 4;
	CHECK(open_check(&f, b, len) == CF_EFORMAT);
	/* A full slot relabelled backup-only is 32 bytes too long for its role. */
	b[44] = CF_ROLE_BACKUP_ONLY;
	CHECK(open_check(&f, b, len) == CF_EFORMAT);
	/* Relabelled recovery: same length, but the role is bound in the associated data. */
	b[44] = CF_ROLE_RECOVERY;
	CHECK(open_check(&f, b, len) == CF_EAUTH);
	/* Every single bit flip is refused. */
	for (size_t i = 0; i < len * 8; i++) {
		memcpy(b, obj, len);
		b[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (open_check(&f, b, len) == 0)
			bad++;
	}
	CHECK(bad == 0);
	free(b);
	cf_free(obj);
	fixture_release(&f);
}

CF_TEST(keyslot_name)
{
	char name[74];
	uint8_t id[32];

	fill(id, 32, 0xf0);
	cf_keyslot_name(name, id, 0x0102abcd);
	CHECK(strcmp(name,
	             "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f-0102abcd") ==
	      0);
	cf_keyslot_name(name, id, 0);
	CHECK(strlen(name) == 73 && strcmp(name + 64, "-00000000") == 0);
}

CF_TEST(open_survives_allocation_failures)
{
	struct fixture f;
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc = CF_ENOMEM;

	fixture_init(&f, CF_ROLE_FULL);
	obj = seal(&f, &len);
	for (uint64_t n = 1; n < 50 && rc != 0; n++) {
		cf_alloc_fail_after(n);
		rc = open_check(&f, obj, len);
		cf_alloc_fail_after(0);
		CHECK(rc == 0 || rc == CF_ENOMEM);
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
	             {"EAUTH", CF_EAUTH},
	             {"EVERSION", CF_EVERSION}};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(codes[i].name, name) == 0)
			return codes[i].code;
	return 1;
}

static uint8_t *
vec_bytes(const struct th_vec *v, const char *key, size_t want)
{
	const char *hex = th_vec_get(v, key);
	uint8_t *p = NULL;
	size_t n = 0;

	if (hex == NULL || (p = th_unhex(hex, &n)) == NULL || n != want) {
		free(p);
		return NULL;
	}
	return p;
}

static void
check_vector(const struct th_vec *v)
{
	uint8_t *sk = vec_bytes(v, "box_sk", 32);
	uint8_t *repo = vec_bytes(v, "repo_id", 32);
	uint8_t *self_id = vec_bytes(v, "self_id", 32);
	uint8_t *want_ck = vec_bytes(v, "ck", 32);
	uint8_t *want_dk = vec_bytes(v, "dk_sk", 32);
	const char *res = th_vec_get(v, "result");
	struct cf_boxkey *self = NULL;
	struct cf_key *ck = NULL;
	struct cf_boxkey *dk = NULL;
	uint8_t *slot = NULL;
	size_t len = 0;
	uint32_t epoch = 0;
	uint8_t role = 0;
	int rc;

	CHECK(sk != NULL && repo != NULL && self_id != NULL && res != NULL);
	if (sk == NULL || repo == NULL || self_id == NULL || res == NULL ||
	    (slot = th_unhex(th_vec_get(v, "slot"), &len)) == NULL)
		goto out;
	CHECK(cf_boxkey_from_secret(sk, &self) == 0);
	rc = cf_keyslot_open(slot, len, repo, self_id, self, &epoch, &role, &ck, &dk);
	CHECK(rc == err_code(res));
	if (rc != 0)
		goto out;
	CHECK(epoch == (uint32_t)strtoul(th_vec_get(v, "epoch"), NULL, 10));
	CHECK(role == (uint8_t)strtoul(th_vec_get(v, "role"), NULL, 10));
	CHECK(want_ck != NULL && memcmp(cf_key_view(ck), want_ck, 32) == 0);
	CHECK((want_dk == NULL) == (dk == NULL));
	if (want_dk != NULL && dk != NULL)
		CHECK(memcmp(cf_boxkey_sk(dk), want_dk, 32) == 0);
out:
	cf_boxkey_free(self);
	cf_key_free(ck);
	cf_boxkey_free(dk);
	free(sk);
	free(repo);
	free(self_id);
	free(want_ck);
	free(want_dk);
	free(slot);
}

CF_TEST(vectors)
{
	CHECK(th_vec_each("keys.txt", check_vector) >= 8);
}

static void
print_case(const struct fixture *f, const char *name, const uint8_t *obj, size_t len,
           const char *result, bool keys)
{
	printf("name = %s\n", name);
	th_print_hex("box_sk", cf_boxkey_sk(f->self), 32);
	th_print_hex("repo_id", f->p.repo_id, 32);
	th_print_hex("self_id", f->p.recipient, 32);
	th_print_hex("slot", obj, len);
	printf("result = %s\n", result);
	if (keys) {
		printf("epoch = %u\nrole = %u\n", (unsigned)f->p.epoch, (unsigned)f->p.role);
		th_print_hex("ck", cf_key_view(f->ck), 32);
		if (f->p.role != CF_ROLE_BACKUP_ONLY)
			th_print_hex("dk_sk", cf_boxkey_sk(f->dk), 32);
	}
	printf("\n");
}

CF_TEST(gen_vectors)
{
	struct fixture f;
	uint8_t *obj = NULL;
	uint8_t *b = NULL;
	size_t len = 0;

	if (getenv("CF_GEN_VECTORS") == NULL)
		return;
	printf("# Key slots (docs/format.md 11). Generated once by CF_GEN_VECTORS=1 test_keys\n"
	       "# (wrapping is randomized: regenerating gives other bytes).\n\n");
	fixture_init(&f, CF_ROLE_BACKUP_ONLY);
	obj = seal(&f, &len);
	print_case(&f, "backup-only slot", obj, len, "ok", true);
	cf_free(obj);
	fixture_release(&f);
	fixture_init(&f, CF_ROLE_RECOVERY);
	f.p.epoch = 0x01020304;
	obj = seal(&f, &len);
	print_case(&f, "recovery slot", obj, len, "ok", true);
	cf_free(obj);
	fixture_release(&f);

	fixture_init(&f, CF_ROLE_FULL);
	obj = seal(&f, &len);
	b = malloc(len + 1);
	print_case(&f, "full slot", obj, len, "ok", true);
	memcpy(b, obj, len);
	b[len - 20] ^= 0x10;
	print_case(&f, "full slot, one bit flipped in the wrapped keys", b, len, "EAUTH", false);
	memcpy(b, obj, len);
	b[42] ^= 0x01;
	print_case(&f, "full slot, one bit flipped in the epoch", b, len, "EAUTH", false);
	memcpy(b, obj, len);
	b[9] ^= 0x01;
	print_case(&f, "full slot, one bit flipped in the recipient", b, len, "EAUTH", false);
	print_case(&f, "full slot, truncated by one byte", obj, len - 1, "ETRUNC", false);
	memcpy(b, obj, len);
	b[len] = 0;
	print_case(&f, "full slot, one trailing byte", b, len + 1, "EFORMAT", false);
	memcpy(b, obj, len);
	b[5] = 2;
	print_case(&f, "full slot, wrong version", b, len, "EVERSION", false);
	memcpy(b, obj, len);
	b[44] = CF_ROLE_BACKUP_ONLY;
	print_case(&f, "full slot, role byte says backup-only", b, len, "EFORMAT", false);
	free(b);
	cf_free(obj);
	fixture_release(&f);
}
