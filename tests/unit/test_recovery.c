/*
 * test_recovery.c - the recovery key text and identity (docs/format.md 9).
 *
 * CF_GEN_VECTORS=1 prints tests/vectors/recovery.txt (deterministic: fixed keys).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "chain/chain.h"
#include "device/device.h"
#include "harness.h"
#include "recovery/recovery.h"

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static void
fill(uint8_t *p, size_t n, uint8_t start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(start + i);
}

/* A plain reference encoder, written straight from the spec with a table lookup. */
static void
ref_encode(const uint8_t rk[32], char out[70])
{
	uint8_t raw[35];
	uint8_t msg[24 + 32];
	uint8_t h[32];
	size_t o = 0;

	memcpy(msg, "coffer.v1.recovery-check", 24);
	memcpy(msg + 24, rk, 32);
	crypto_generichash(h, 32, msg, sizeof(msg), NULL, 0);
	memcpy(raw, rk, 32);
	memcpy(raw + 32, h, 3);
	for (size_t s = 0; s < 56; s++) {
		unsigned v = 0;

		for (size_t b = 0; b < 5; b++) {
			size_t bit = s * 5 + b;

			v = (v << 1) | (((unsigned)raw[bit / 8] >> (7 - bit % 8)) & 1u);
		}
		if (s > 0 && s % 4 == 0)
			out[o++] = '-';
		out[o++] = alphabet[v];
	}
	out[o] = '\0';
}

static struct cf_key *
key_from(const uint8_t b[32])
{
	struct cf_key *k = NULL;

	CHECK(cf_key_new_from(b, &k) == 0);
	return k;
}

/* Decode @text and compare with @want (NULL: expect failure @rc). */
static int
decode(const char *text, const uint8_t *want)
{
	struct cf_key *k = NULL;
	int rc = cf_recovery_decode(text, strlen(text), &k);

	CHECK((rc == 0) == (k != NULL));
	if (rc == 0 && want != NULL)
		CHECK(memcmp(cf_key_view(k), want, 32) == 0);
	cf_key_free(k);
	return rc;
}

CF_TEST(encode_matches_reference)
{
	uint8_t rk[32];
	char got[CF_RECOVERY_TEXT_BYTES];
	char want[70];

	for (int i = 0; i < 200; i++) {
		struct cf_key *k = NULL;

		if (i == 0)
			memset(rk, 0, 32);
		else if (i == 1)
			memset(rk, 0xff, 32);
		else
			th_randbuf(rk, 32);
		k = key_from(rk);
		cf_recovery_encode(k, got);
		ref_encode(rk, want);
		CHECK(strcmp(got, want) == 0);
		CHECK(strlen(got) == 69);
		CHECK(decode(got, rk) == 0);
		cf_key_free(k);
	}
}

CF_TEST(decode_variants)
{
	uint8_t rk[32];
	char text[70];
	char v[256];
	size_t o = 0;

	fill(rk, 32, 0);
	ref_encode(rk, text);
	/* Lower case, no dashes, spaces instead of dashes, extra spaces and dashes. */
	for (size_t i = 0; text[i] != '\0'; i++)
		v[i] = (char)(text[i] >= 'A' && text[i] <= 'Z' ? text[i] + 32 : text[i]);
	v[69] = '\0';
	CHECK(decode(v, rk) == 0);
	for (size_t i = 0; text[i] != '\0'; i++)
		if (text[i] != '-')
			v[o++] = text[i];
	v[o] = '\0';
	CHECK(o == 56 && decode(v, rk) == 0);
	for (size_t i = 0; text[i] != '\0'; i++)
		v[i] = text[i] == '-' ? ' ' : text[i];
	v[69] = '\0';
	CHECK(decode(v, rk) == 0);
	o = 0;
	for (size_t i = 0; text[i] != '\0'; i++) {
		v[o++] = ' ';
		v[o++] = text[i];
		v[o++] = '-';
	}
	v[o] = '\0';
	CHECK(decode(v, rk) == 0);
}

/* O reads as 0, I and L as 1, in either case. */
CF_TEST(decode_aliases)
{
	static const char *ones[] = {"I", "i", "L", "l"};
	uint8_t rk[32];
	char text[70];
	char v[70];
	int zeros = 0;
	int nones = 0;

	memset(rk, 0, 32);
	rk[0] = 0x08; /* the first symbol is 00001: a 1 */
	ref_encode(rk, text);
	for (int k = 0; k < 4; k++) {
		memcpy(v, text, 70);
		for (size_t i = 0; v[i] != '\0'; i++) {
			if (v[i] == '0') {
				v[i] = k % 2 == 0 ? 'O' : 'o';
				zeros++;
			} else if (v[i] == '1') {
				v[i] = ones[k][0];
				nones++;
			}
		}
		CHECK(decode(v, rk) == 0);
	}
	CHECK(zeros > 0 && nones > 0);
}

CF_TEST(decode_must_fail)
{
	uint8_t rk[32];
	char text[70];
	char v[80];
	struct cf_key *k = NULL;
	int missed = 0;

	fill(rk, 32, 7);
	ref_encode(rk, text);
	CHECK(decode(text, rk) == 0);
	/* 55 and 57 symbols. */
	memcpy(v, text, 70);
	v[68] = '\0';
	CHECK(decode(v, NULL) == CF_EFORMAT);
	memcpy(v, text, 70);
	v[69] = 'A';
	v[70] = '\0';
	CHECK(decode(v, NULL) == CF_EFORMAT);
	CHECK(decode("", NULL) == CF_EFORMAT);
	CHECK(decode("----", NULL) == CF_EFORMAT);
	/* Every byte that is not a symbol, an alias or a separator, in the first place. */
	for (int c = 1; c < 256; c++) {
		if (c == '-' || c == ' ' || (c < 128 && strchr(alphabet, c) != NULL) ||
		    (c < 128 && strchr("abcdefghjkmnpqrstvwxyzOoIiLl", c) != NULL))
			continue;
		memcpy(v, text, 70);
		v[0] = (char)c;
		CHECK(decode(v, NULL) == CF_EFORMAT);
	}
	memcpy(v, text, 70);
	v[10] = '\0';
	CHECK(cf_recovery_decode(v, 69, &k) == CF_EFORMAT && k == NULL); /* a NUL inside */
	/* Any one symbol changed breaks the checksum. */
	for (size_t i = 0; i < 69; i++) {
		if (text[i] == '-')
			continue;
		for (size_t a = 0; a < 32; a++) {
			if (alphabet[a] == text[i])
				continue;
			memcpy(v, text, 70);
			v[i] = alphabet[a];
			if (decode(v, NULL) != CF_EFORMAT)
				missed++;
		}
	}
	CHECK(missed == 0);
}

static int
parse(const char *file, const uint8_t *want)
{
	struct cf_key *k = NULL;
	int rc = cf_recovery_parse_file((const uint8_t *)file, strlen(file), &k);

	CHECK((rc == 0) == (k != NULL));
	if (rc == 0 && want != NULL)
		CHECK(memcmp(cf_key_view(k), want, 32) == 0);
	cf_key_free(k);
	return rc;
}

CF_TEST(parse_file)
{
	uint8_t rk[32];
	char text[70];
	char f[600];
	char *big = NULL;

	fill(rk, 32, 3);
	ref_encode(rk, text);
	snprintf(f, sizeof(f), "%s", text);
	CHECK(parse(f, rk) == 0);
	snprintf(f, sizeof(f), "%s\n", text);
	CHECK(parse(f, rk) == 0);
	snprintf(f, sizeof(f),
	         "# Coffer recovery key\r\n  # for repository 0123\r\n\r\n\t%s \t\r\n\n# end\n",
	         text);
	CHECK(parse(f, rk) == 0);
	snprintf(f, sizeof(f), "# only a comment\n\n");
	CHECK(parse(f, NULL) == CF_EFORMAT);
	CHECK(parse("", NULL) == CF_EFORMAT);
	snprintf(f, sizeof(f), "%s\n%s\n", text, text);
	CHECK(parse(f, NULL) == CF_EFORMAT);
	snprintf(f, sizeof(f), "%s\nnot a comment\n", text);
	CHECK(parse(f, NULL) == CF_EFORMAT);
	snprintf(f, sizeof(f), "%s # trailing comment\n", text);
	CHECK(parse(f, NULL) == CF_EFORMAT);
	/* Size limit: a file of exactly CF_RECOVERY_FILE_MAX bytes is read, one more is not. */
	big = malloc(CF_RECOVERY_FILE_MAX + 2);
	memset(big, '\n', CF_RECOVERY_FILE_MAX + 1);
	big[0] = '#';
	memcpy(big + 100, text, 69);
	big[CF_RECOVERY_FILE_MAX] = '\0';
	CHECK(parse(big, rk) == 0);
	big[CF_RECOVERY_FILE_MAX] = '\n';
	big[CF_RECOVERY_FILE_MAX + 1] = '\0';
	CHECK(parse(big, NULL) == CF_ETOOBIG);
	free(big);
}

CF_TEST(identity)
{
	uint8_t rk[32];
	struct cf_key *k = NULL;
	struct cf_key *seed = NULL;
	struct cf_key *box = NULL;
	struct cf_signkey *sk = NULL;
	struct cf_boxkey *bk = NULL;
	struct cf_device *d = NULL;
	uint8_t id[32];

	fill(rk, 32, 0x55);
	k = key_from(rk);
	CHECK(cf_recovery_identity(k, &d) == 0);
	CHECK(cf_kdf(k, "coffer.v1.recovery-sign", &seed) == 0);
	CHECK(cf_kdf(k, "coffer.v1.recovery-box", &box) == 0);
	CHECK(cf_signkey_from_seed(cf_key_view(seed), &sk) == 0);
	CHECK(cf_boxkey_from_secret(cf_key_view(box), &bk) == 0);
	if (d != NULL && sk != NULL && bk != NULL) {
		CHECK(memcmp(cf_signkey_pk(d->sign), cf_signkey_pk(sk), 32) == 0);
		CHECK(memcmp(cf_boxkey_pk(d->box), cf_boxkey_pk(bk), 32) == 0);
		cf_device_id_of(id, cf_signkey_pk(sk), cf_boxkey_pk(bk));
		CHECK(memcmp(d->id, id, 32) == 0);
		CHECK(strcmp(d->name, "recovery key") == 0);
	}
	cf_device_free(d);
	cf_signkey_free(sk);
	cf_boxkey_free(bk);
	cf_key_free(seed);
	cf_key_free(box);
	cf_key_free(k);
}

CF_TEST(survives_allocation_failures)
{
	uint8_t rk[32];
	char text[70];
	struct cf_key *k = NULL;
	struct cf_device *d = NULL;
	int rc = CF_ENOMEM;

	fill(rk, 32, 9);
	ref_encode(rk, text);
	for (uint64_t n = 1; n < 20 && rc != 0; n++) {
		cf_alloc_fail_after(n);
		rc = decode(text, rk);
		cf_alloc_fail_after(0);
		CHECK(rc == 0 || rc == CF_ENOMEM);
	}
	CHECK(rc == 0);
	k = key_from(rk);
	rc = CF_ENOMEM;
	for (uint64_t n = 1; n < 20 && rc != 0; n++) {
		cf_alloc_fail_after(n);
		rc = cf_recovery_identity(k, &d);
		cf_alloc_fail_after(0);
		CHECK(rc == 0 || rc == CF_ENOMEM);
		CHECK((rc == 0) == (d != NULL));
		cf_device_free(d);
		d = NULL;
	}
	CHECK(rc == 0);
	cf_key_free(k);
}

static void
check_vector(const struct th_vec *v)
{
	const char *text = th_vec_get(v, "text");
	const char *res = th_vec_get(v, "result");
	const char *rk_hex = th_vec_get(v, "rk");
	const char *id_hex = th_vec_get(v, "recovery_id");
	struct cf_key *k = NULL;
	struct cf_device *d = NULL;
	char enc[CF_RECOVERY_TEXT_BYTES];
	uint8_t *rk = NULL;
	uint8_t *id = NULL;
	size_t n = 0;
	int rc;

	CHECK(text != NULL && res != NULL);
	if (text == NULL || res == NULL)
		return;
	rc = cf_recovery_decode(text, strlen(text), &k);
	CHECK(rc == (strcmp(res, "ok") == 0 ? 0 : CF_EFORMAT));
	if (rc != 0)
		return;
	rk = th_unhex(rk_hex != NULL ? rk_hex : "", &n);
	CHECK(rk != NULL && n == 32 && memcmp(cf_key_view(k), rk, 32) == 0);
	cf_recovery_encode(k, enc);
	for (size_t i = 0; i < strlen(enc) && strlen(text) == 69; i++)
		CHECK(enc[i] == (text[i] >= 'a' && text[i] <= 'z' ? text[i] - 32 : text[i]));
	if (id_hex != NULL && (id = th_unhex(id_hex, &n)) != NULL) {
		CHECK(cf_recovery_identity(k, &d) == 0);
		CHECK(d != NULL && n == 32 && memcmp(d->id, id, 32) == 0);
	}
	cf_device_free(d);
	cf_key_free(k);
	free(rk);
	free(id);
}

CF_TEST(vectors)
{
	CHECK(th_vec_each("recovery.txt", check_vector) >= 6);
}

static void
gen_key(const char *name, const uint8_t rk[32])
{
	struct cf_key *k = key_from(rk);
	struct cf_device *d = NULL;
	char text[CF_RECOVERY_TEXT_BYTES];

	cf_recovery_encode(k, text);
	CHECK(cf_recovery_identity(k, &d) == 0);
	printf("name = %s\n", name);
	th_print_hex("rk", rk, 32);
	printf("text = %s\nresult = ok\n", text);
	if (d != NULL)
		th_print_hex("recovery_id", d->id, 32);
	printf("\n");
	cf_device_free(d);
	cf_key_free(k);
}

CF_TEST(gen_vectors)
{
	uint8_t rk[32];
	char text[70];
	char v[80];

	if (getenv("CF_GEN_VECTORS") == NULL)
		return;
	printf("# Recovery key text and identity (docs/format.md 9). Generated by\n"
	       "# CF_GEN_VECTORS=1 test_recovery.\n\n");
	fill(rk, 32, 0);
	gen_key("rk 00..1f", rk);
	memset(rk, 0xff, 32);
	gen_key("rk all ff", rk);
	fill(rk, 32, 0x80);
	gen_key("rk 80..9f", rk);
	ref_encode(rk, text);
	for (size_t i = 0; i < 70; i++)
		v[i] = (char)(text[i] >= 'A' && text[i] <= 'Z' ? text[i] + 32 : text[i]);
	printf("name = rk 80..9f, lower case\ntext = %s\nresult = ok\n", v);
	th_print_hex("rk", rk, 32);
	printf("\n");
	memcpy(v, text, 70);
	v[0] = v[0] == 'A' ? 'B' : 'A';
	printf("name = rk 80..9f, first symbol changed\ntext = %s\nresult = EFORMAT\n\n", v);
	memcpy(v, text, 70);
	v[68] = '\0';
	printf("name = rk 80..9f, 55 symbols\ntext = %s\nresult = EFORMAT\n\n", v);
	memcpy(v, text, 70);
	v[69] = 'Q';
	v[70] = '\0';
	printf("name = rk 80..9f, 57 symbols\ntext = %s\nresult = EFORMAT\n\n", v);
	memcpy(v, text, 70);
	v[1] = 'U';
	printf("name = rk 80..9f, U is not a symbol\ntext = %s\nresult = EFORMAT\n\n", v);
}
