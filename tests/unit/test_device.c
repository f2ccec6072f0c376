/*
 * test_device.c - device identities and the device key file (docs/format.md 12).
 *
 * CF_GEN_VECTORS=1 prints tests/vectors/device.txt. The plain file is deterministic; the
 * locked one has a random salt and nonce, so the committed file was generated once.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "chain/chain.h"
#include "device/device.h"
#include "harness.h"

#define CREATED 1700000123
#define PASS    "correct horse"

static const struct cf_device_kdf small_kdf = {1, 8 * 1024};

static void
fill(uint8_t *p, size_t n, uint8_t start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(start + i);
}

static struct cf_device *
fixed_device(void)
{
	struct cf_device *d = NULL;
	uint8_t seed[32];
	uint8_t sk[32];

	fill(seed, 32, 0x01);
	fill(sk, 32, 0x21);
	CHECK(cf_device_from_keys(seed, sk, "laptop", CREATED, &d) == 0);
	return d;
}

/* Same identity: keys, id, name and creation time. */
static bool
same_device(const struct cf_device *a, const struct cf_device *b)
{
	return memcmp(cf_signkey_seed(a->sign), cf_signkey_seed(b->sign), 32) == 0 &&
	       memcmp(cf_signkey_pk(a->sign), cf_signkey_pk(b->sign), 32) == 0 &&
	       memcmp(cf_boxkey_sk(a->box), cf_boxkey_sk(b->box), 32) == 0 &&
	       memcmp(cf_boxkey_pk(a->box), cf_boxkey_pk(b->box), 32) == 0 &&
	       memcmp(a->id, b->id, 32) == 0 && strcmp(a->name, b->name) == 0 &&
	       a->created == b->created;
}

static int
load(const uint8_t *file, size_t len, const char *pass, const struct cf_device *want)
{
	struct cf_device *d = NULL;
	int rc = cf_device_load(file, len, pass, pass != NULL ? strlen(pass) : 0, &d);

	if (rc == 0 && want != NULL)
		CHECK(same_device(d, want));
	CHECK((rc == 0) == (d != NULL));
	cf_device_free(d);
	return rc;
}

CF_TEST(new_device)
{
	struct cf_device *d = NULL;
	uint8_t id[32];
	char n65[66];
	time_t now = time(NULL);

	CHECK(cf_device_new("my laptop", &d) == 0);
	if (d == NULL)
		return;
	cf_device_id_of(id, cf_signkey_pk(d->sign), cf_boxkey_pk(d->box));
	CHECK(memcmp(id, d->id, 32) == 0);
	CHECK(strcmp(d->name, "my laptop") == 0);
	CHECK(d->created >= (int64_t)now - 5 && d->created <= (int64_t)now + 5);
	cf_device_free(d);
	memset(n65, 'n', 65);
	n65[65] = '\0';
	CHECK(cf_device_new(n65, &d) == CF_EINVAL && d == NULL);
	n65[64] = '\0';
	CHECK(cf_device_new(n65, &d) == 0);
	cf_device_free(d);
	CHECK(cf_device_new("", &d) == CF_EINVAL && d == NULL);
	CHECK(cf_device_new("a\tb", &d) == CF_EINVAL && d == NULL);
	CHECK(cf_device_new("\x1b[31m", &d) == CF_EINVAL && d == NULL);
}

CF_TEST(plain_file_round_trip)
{
	struct cf_device *d = fixed_device();
	uint8_t *file = NULL;
	size_t len = 0;
	struct cf_device_kdf kdf = {9, 9};

	CHECK(cf_device_save(d, NULL, 0, &file, &len) == 0);
	CHECK(len == 8 + 1 + 32 + 32 + 1 + 6 + 8);
	CHECK(memcmp(file, "COFR\x06\x01\x00\x00\x00", 9) == 0);
	CHECK(memcmp(file + 9, cf_signkey_seed(d->sign), 32) == 0);
	CHECK(memcmp(file + 41, cf_boxkey_sk(d->box), 32) == 0);
	CHECK(!cf_device_file_locked(file, len));
	CHECK(cf_device_file_kdf(file, len, &kdf) == 0 && kdf.opslimit == 0 && kdf.memlimit == 0);
	CHECK(load(file, len, NULL, d) == 0);
	CHECK(load(file, len, "ignored", d) == 0);
	cf_free_wipe(file, len);
	cf_device_free(d);
}

CF_TEST(plain_file_must_fail)
{
	struct cf_device *d = fixed_device();
	uint8_t *file = NULL;
	uint8_t *b = NULL;
	size_t len = 0;

	CHECK(cf_device_save(d, NULL, 0, &file, &len) == 0);
	b = calloc(1, CF_DEVICE_FILE_MAX + 1);
	for (size_t n = 0; n < len; n++)
		CHECK(load(file, n, NULL, NULL) == CF_ETRUNC);
	memcpy(b, file, len);
	CHECK(load(b, len + 1, NULL, NULL) == CF_EFORMAT);
	b[5] = 2;
	CHECK(load(b, len, NULL, NULL) == CF_EVERSION);
	memcpy(b, file, len);
	b[4] = 1;
	CHECK(load(b, len, NULL, NULL) == CF_EFORMAT);
	memcpy(b, file, len);
	b[8] = 2; /* unknown kdf */
	CHECK(load(b, len, NULL, NULL) == CF_EFORMAT);
	memcpy(b, file, len);
	b[73] = 0; /* empty name */
	CHECK(load(b, len - 6, NULL, NULL) != 0);
	b[73] = 6;
	b[74] = '\n';
	CHECK(load(b, len, NULL, NULL) == CF_EFORMAT);
	b[73] = 65;
	CHECK(load(b, len, NULL, NULL) == CF_EFORMAT);
	CHECK(load(b, CF_DEVICE_FILE_MAX + 1, NULL, NULL) == CF_ETOOBIG);
	free(b);
	cf_free_wipe(file, len);
	cf_device_free(d);
}

/* One save and one load with the real Argon2id limits (64 MiB). */
CF_TEST(locked_file_real_params)
{
	struct cf_device *d = fixed_device();
	struct cf_device_kdf kdf = {0, 0};
	uint8_t *file = NULL;
	size_t len = 0;

	CHECK(cf_device_save(d, PASS, strlen(PASS), &file, &len) == 0);
	CHECK(len == 41 + 24 + (32 + 32 + 1 + 6 + 8) + 16);
	CHECK(file[8] == 1);
	CHECK(cf_device_file_locked(file, len));
	CHECK(cf_device_file_kdf(file, len, &kdf) == 0);
	CHECK(kdf.opslimit == CF_DEVICE_OPSLIMIT && kdf.memlimit == CF_DEVICE_MEMLIMIT);
	CHECK(load(file, len, PASS, d) == 0);
	CHECK(load(file, len, NULL, NULL) == CF_EINVAL);
	cf_free(file);
	cf_device_free(d);
}

CF_TEST(locked_file_small_params)
{
	struct cf_device *d = fixed_device();
	struct cf_device_kdf bad = {0, 8192};
	uint8_t *file = NULL;
	uint8_t *b = NULL;
	size_t len = 0;

	CHECK(cf_device_save_kdf(d, PASS, strlen(PASS), &small_kdf, &file, &len) == 0);
	CHECK(load(file, len, PASS, d) == 0);
	CHECK(load(file, len, "correct horsE", NULL) == CF_EAUTH);
	CHECK(load(file, len, "", NULL) == CF_EAUTH);
	CHECK(load(file, len - 1, PASS, NULL) == CF_EAUTH);
	CHECK(load(file, 41 + 39, PASS, NULL) == CF_ETRUNC);
	CHECK(load(file, 41, PASS, NULL) == CF_ETRUNC);
	CHECK(load(file, 40, PASS, NULL) == CF_ETRUNC);
	CHECK(cf_device_save_kdf(d, PASS, 4, &bad, &b, &len) == CF_EINVAL && b == NULL);
	bad.opslimit = 17;
	CHECK(cf_device_save_kdf(d, PASS, 4, &bad, &b, &len) == CF_EINVAL);
	CHECK(cf_device_save_kdf(d, NULL, 0, &small_kdf, &b, &len) == CF_EINVAL);
	cf_free(file);
	cf_device_free(d);
}

/* Out-of-range limits are refused before Argon2id runs (else 4 GiB would be spent here). */
CF_TEST(locked_file_limits)
{
	static const uint64_t cases[][3] = {
	        /* opslimit, memlimit, expected */
	        {0, 8192, (uint64_t)CF_ETOOBIG},        {17, 8192, (uint64_t)CF_ETOOBIG},
	        {1, 8191, (uint64_t)CF_ETOOBIG},        {1, (4ull << 30) + 1, (uint64_t)CF_ETOOBIG},
	        {16, UINT64_MAX, (uint64_t)CF_ETOOBIG}, {UINT64_MAX, 8192, (uint64_t)CF_ETOOBIG},
	};
	struct cf_device *d = fixed_device();
	struct cf_device_kdf kdf;
	uint8_t *file = NULL;
	size_t len = 0;

	CHECK(cf_device_save_kdf(d, PASS, strlen(PASS), &small_kdf, &file, &len) == 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cf_put_u64be(file + 9, cases[i][0]);
		cf_put_u64be(file + 17, cases[i][1]);
		CHECK(load(file, len, PASS, NULL) == (int)(int64_t)cases[i][2]);
		CHECK(cf_device_file_kdf(file, len, &kdf) == CF_ETOOBIG);
		CHECK(kdf.opslimit == 0 && kdf.memlimit == 0);
	}
	/* The edges themselves are accepted (only checked, not run: 4 GiB). */
	cf_put_u64be(file + 9, 16);
	cf_put_u64be(file + 17, 4ull << 30);
	CHECK(cf_device_file_kdf(file, len, &kdf) == 0 && kdf.opslimit == 16);
	CHECK(load(file, len, NULL, NULL) == CF_EINVAL);
	cf_free(file);
	cf_device_free(d);
}

/* Every bit flip of a locked file is refused (KDF fields only where the cost stays small). */
CF_TEST(locked_file_every_bit_flip)
{
	struct cf_device *d = fixed_device();
	struct cf_device_kdf kdf;
	uint8_t *file = NULL;
	uint8_t *b = NULL;
	size_t len = 0;
	int bad = 0;

	CHECK(cf_device_save_kdf(d, PASS, strlen(PASS), &small_kdf, &file, &len) == 0);
	b = malloc(len);
	for (size_t i = 0; i < len * 8; i++) {
		memcpy(b, file, len);
		b[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (cf_device_file_kdf(b, len, &kdf) == 0 &&
		    (kdf.opslimit > 4 || kdf.memlimit > 1024 * 1024))
			continue;
		if (load(b, len, PASS, NULL) == 0)
			bad++;
	}
	CHECK(bad == 0);
	free(b);
	cf_free(file);
	cf_device_free(d);
}

CF_TEST(parse_plain)
{
	struct cf_device *d = NULL;
	uint8_t p[32 + 32 + 1 + 3 + 8];

	fill(p, sizeof(p), 1);
	p[64] = 3;
	memcpy(p + 65, "abc", 3);
	CHECK(cf_device_parse_plain(p, sizeof(p), &d) == 0);
	CHECK(d != NULL && strcmp(d->name, "abc") == 0);
	CHECK(d != NULL && d->created == (int64_t)cf_get_u64be(p + 68));
	cf_device_free(d);
	CHECK(cf_device_parse_plain(p, sizeof(p) - 1, &d) == CF_ETRUNC && d == NULL);
	p[66] = 0;
	CHECK(cf_device_parse_plain(p, sizeof(p), &d) == CF_EFORMAT && d == NULL);
}

CF_TEST(load_survives_allocation_failures)
{
	struct cf_device *d = fixed_device();
	uint8_t *file = NULL;
	size_t len = 0;
	int rc = CF_ENOMEM;

	CHECK(cf_device_save_kdf(d, PASS, strlen(PASS), &small_kdf, &file, &len) == 0);
	for (uint64_t n = 1; n < 50 && rc != 0; n++) {
		cf_alloc_fail_after(n);
		rc = load(file, len, PASS, d);
		cf_alloc_fail_after(0);
		CHECK(rc == 0 || rc == CF_ENOMEM);
	}
	CHECK(rc == 0);
	cf_free(file);
	rc = CF_ENOMEM;
	for (uint64_t n = 1; n < 50 && rc != 0; n++) {
		cf_alloc_fail_after(n);
		rc = cf_device_save(d, NULL, 0, &file, &len);
		cf_alloc_fail_after(0);
		CHECK(rc == 0 || rc == CF_ENOMEM);
		CHECK((rc == 0) == (file != NULL));
	}
	CHECK(rc == 0);
	cf_free_wipe(file, len);
	cf_device_free(d);
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
	             {"EINVAL", CF_EINVAL}};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(codes[i].name, name) == 0)
			return codes[i].code;
	return 1;
}

static bool
hex_eq(const struct th_vec *v, const char *key, const uint8_t *p, size_t n)
{
	const char *hex = th_vec_get(v, key);
	uint8_t *want = NULL;
	size_t wlen = 0;
	bool ok = false;

	if (hex != NULL && (want = th_unhex(hex, &wlen)) != NULL)
		ok = wlen == n && memcmp(want, p, n) == 0;
	free(want);
	return ok;
}

static void
check_vector(const struct th_vec *v)
{
	const char *res = th_vec_get(v, "result");
	const char *pass = th_vec_get(v, "pass");
	struct cf_device *d = NULL;
	uint8_t *file = NULL;
	size_t len = 0;
	int rc;

	CHECK(res != NULL);
	if (res == NULL || (file = th_unhex(th_vec_get(v, "file"), &len)) == NULL)
		return;
	rc = cf_device_load(file, len, pass, pass != NULL ? strlen(pass) : 0, &d);
	CHECK(rc == err_code(res));
	if (rc == 0) {
		CHECK(hex_eq(v, "id", d->id, 32));
		CHECK(hex_eq(v, "sign_pk", cf_signkey_pk(d->sign), 32));
		CHECK(hex_eq(v, "box_pk", cf_boxkey_pk(d->box), 32));
		CHECK(strcmp(d->name, th_vec_get(v, "device_name")) == 0);
		CHECK(d->created == strtoll(th_vec_get(v, "created"), NULL, 10));
	}
	cf_device_free(d);
	free(file);
}

CF_TEST(vectors)
{
	CHECK(th_vec_each("device.txt", check_vector) >= 8);
}

static void
print_case(const char *name, const uint8_t *file, size_t len, const char *pass, const char *res,
           const struct cf_device *d)
{
	printf("name = %s\n", name);
	th_print_hex("file", file, len);
	if (pass != NULL)
		printf("pass = %s\n", pass);
	printf("result = %s\n", res);
	if (d != NULL) {
		th_print_hex("id", d->id, 32);
		th_print_hex("sign_pk", cf_signkey_pk(d->sign), 32);
		th_print_hex("box_pk", cf_boxkey_pk(d->box), 32);
		printf("device_name = %s\ncreated = %lld\n", d->name, (long long)d->created);
	}
	printf("\n");
}

CF_TEST(gen_vectors)
{
	struct cf_device *d = NULL;
	uint8_t *file = NULL;
	uint8_t *b = NULL;
	size_t len = 0;

	if (getenv("CF_GEN_VECTORS") == NULL)
		return;
	d = fixed_device();
	printf("# Device key files (docs/format.md 12). Generated once by CF_GEN_VECTORS=1\n"
	       "# test_device: sign seed 01..20, box secret 21..40, name \"laptop\".\n"
	       "# The locked files use opslimit 1, memlimit 8 KiB to keep the tests fast.\n\n");
	CHECK(cf_device_save(d, NULL, 0, &file, &len) == 0);
	b = malloc(len + 1);
	print_case("plain", file, len, NULL, "ok", d);
	print_case("plain, truncated by one byte", file, len - 1, NULL, "ETRUNC", NULL);
	memcpy(b, file, len);
	b[len] = 0;
	print_case("plain, one trailing byte", b, len + 1, NULL, "EFORMAT", NULL);
	memcpy(b, file, len);
	b[5] = 2;
	print_case("plain, wrong version", b, len, NULL, "EVERSION", NULL);
	free(b);
	cf_free_wipe(file, len);

	CHECK(cf_device_save_kdf(d, PASS, strlen(PASS), &small_kdf, &file, &len) == 0);
	b = malloc(len + 1);
	print_case("locked", file, len, PASS, "ok", d);
	print_case("locked, wrong passphrase", file, len, "correct horsf", "EAUTH", NULL);
	print_case("locked, no passphrase", file, len, NULL, "EINVAL", NULL);
	memcpy(b, file, len);
	b[len - 30] ^= 0x08;
	print_case("locked, one bit flipped in the ciphertext", b, len, PASS, "EAUTH", NULL);
	memcpy(b, file, len);
	b[30] ^= 0x01;
	print_case("locked, one bit flipped in the salt", b, len, PASS, "EAUTH", NULL);
	memcpy(b, file, len);
	b[24] ^= 0x01; /* memlimit 8192 -> 8193: bound into the associated data */
	print_case("locked, one bit flipped in memlimit", b, len, PASS, "EAUTH", NULL);
	print_case("locked, truncated by one byte", file, len - 1, PASS, "EAUTH", NULL);
	print_case("locked, truncated inside the KDF head", file, 20, PASS, "ETRUNC", NULL);
	memcpy(b, file, len);
	b[len] = 0;
	print_case("locked, one trailing byte", b, len + 1, PASS, "EAUTH", NULL);
	memcpy(b, file, len);
	b[5] = 2;
	print_case("locked, wrong version", b, len, PASS, "EVERSION", NULL);
	memcpy(b, file, len);
	b[16] = 17; /* opslimit 17 */
	print_case("locked, opslimit over 16", b, len, PASS, "ETOOBIG", NULL);
	memcpy(b, file, len);
	b[19] = 1; /* memlimit + 2^40 */
	print_case("locked, memlimit over 4 GiB", b, len, PASS, "ETOOBIG", NULL);
	free(b);
	cf_free(file);
	cf_device_free(d);
}
