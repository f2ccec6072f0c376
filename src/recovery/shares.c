/*
 * shares.c - recovery shares (docs/format.md section 10.3): Shamir's scheme over GF(256) from
 * libgfshare, the share line codec and wrapping to a contact. shares_cmd.c builds the
 * commands of include/coffer/recovery.h on these.
 *
 * Randomness. libgfshare draws the polynomials' coefficients from its global
 * gfshare_fill_rand: NULL in Debian's 2.0.0, random() in older releases and in the filler it
 * offers (gfshare_bad_idea_but_fill_rand_using_random), which is predictable and would give the
 * key away to anyone holding one share. use_sodium_rand() points it at cf_random() (libsodium's
 * randombytes_buf) once, before any libgfshare context exists, and every split and combine
 * asserts it is still ours. gfshare_ctx_free() calls it too, to overwrite its buffers.
 *
 * Timing. libgfshare multiplies in GF(256) through log/exp tables indexed by share and secret
 * bytes, and skips zero bytes with a branch: not constant-time. That is acceptable here
 * because split and combine are offline, local, one-shot operations on the user's own
 * machine: nothing remote can time them, they cannot be repeated at an attacker's request,
 * and code that could observe this process's cache lines could as well read its memory.
 * Everything else that touches a share (the base32 payload, checksums, comparisons) is
 * branch-free on secret values.
 *
 * Why a keycheck. Any K shares interpolate to some 32 bytes; K-1 shares, a share of another
 * split or an altered share give a wrong key silently. Every share line carries the first 4
 * bytes of BLAKE2b-256("coffer.v1.share-key" || RK), and a combined key must reproduce them
 * (a wrong key passes with probability 2^-32). It tells share holders 32 bits of a hash of RK;
 * the other 224 bits stay unknown to anyone with fewer than K shares.
 *
 * The Crockford base32 codec below repeats the branch-free one of recovery.c (its helpers are
 * static there); the payload here is share || checksum with a different checksum.
 */
#include "shares.h"

#include <libgfshare.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "../base/base.h"
#include "../reader/reader.h"
#include "recovery.h"

#define SUM_BYTES 3                            /* checksum of a plain share line */
#define RAW_BYTES (CF_SHARE_BYTES + SUM_BYTES) /* what the 56 symbols carry */
#define SYMBOLS   56                           /* base32 symbols of RAW_BYTES */
#define GROUP     4                            /* symbols between dashes */
#define HDR_BYTES (CF_HASH_BYTES + 1 + 1 + CF_SHARE_SPLIT_BYTES + CF_SHARE_CHECK_BYTES)
#define LABEL_LEN (sizeof(share_label) - 1)
#define AD_BYTES  (LABEL_LEN + HDR_BYTES)
#define NTOKENS   6 /* magic, fingerprint, K, index, split, keycheck; then the payload */
#define HEXW_LEN  (2 + 2 * CF_BOX_PK_BYTES + 1 + 2 * CF_SHARE_WRAP_BYTES) /* "w:pk:wrap" */

static_assert(RAW_BYTES * 8 == SYMBOLS * 5, "56 symbols carry a share and its checksum");

static const char share_label[] = "coffer.v1.share";
static const char keycheck_label[] = "coffer.v1.share-key";
static const char magic[] = "coffer-share-1";
static const char magic_family[] = "coffer-share-";

/* ---- libgfshare's random source ---- */

static void
fill_rand(unsigned char *p, unsigned int n)
{
	cf_random(p, n);
}

static pthread_once_t rand_once = PTHREAD_ONCE_INIT;

static void
set_rand(void)
{
	gfshare_fill_rand = fill_rand;
}

/* Must run before any gfshare_ctx is made: see the top of this file. */
static void
use_sodium_rand(void)
{
	CF_ASSERT(pthread_once(&rand_once, set_rand) == 0);
	CF_ASSERT(gfshare_fill_rand == fill_rand);
}

/* ---- fields hashed and authenticated ---- */

/* fingerprint || K || index || split || keycheck: what the checksum and the wrap bind. */
static void
header(const struct cf_share *s, uint8_t out[static HDR_BYTES])
{
	uint8_t *p = out;

	memcpy(p, s->fingerprint, CF_HASH_BYTES);
	p += CF_HASH_BYTES;
	*p++ = s->k;
	*p++ = s->x;
	memcpy(p, s->split, CF_SHARE_SPLIT_BYTES);
	p += CF_SHARE_SPLIT_BYTES;
	memcpy(p, s->keycheck, CF_SHARE_CHECK_BYTES);
}

/* checksum = BLAKE2b-256("coffer.v1.share" || header || share)[0..3]. */
static void
checksum(uint8_t out[static SUM_BYTES], const struct cf_share *s)
{
	uint8_t msg[HDR_BYTES + CF_SHARE_BYTES];
	uint8_t h[CF_HASH_BYTES];

	header(s, msg);
	memcpy(msg + HDR_BYTES, s->y, CF_SHARE_BYTES);
	cf_blake2b(h, share_label, LABEL_LEN, msg, sizeof(msg));
	memcpy(out, h, SUM_BYTES);
	cf_wipe(msg, sizeof(msg));
	cf_wipe(h, sizeof(h));
}

/* The associated data of a wrapped share: "coffer.v1.share" || header. */
static void
wrap_ad(const struct cf_share *s, uint8_t out[static AD_BYTES])
{
	memcpy(out, share_label, LABEL_LEN);
	header(s, out + LABEL_LEN);
}

static void
keycheck_of(uint8_t out[static CF_SHARE_CHECK_BYTES], const uint8_t rk[static CF_KEY_BYTES])
{
	uint8_t h[CF_HASH_BYTES];

	cf_blake2b(h, keycheck_label, sizeof(keycheck_label) - 1, rk, CF_KEY_BYTES);
	memcpy(out, h, CF_SHARE_CHECK_BYTES);
	cf_wipe(h, sizeof(h));
}

void
cf_share_keycheck(uint8_t out[static CF_SHARE_CHECK_BYTES], const struct cf_key *rk)
{
	keycheck_of(out, cf_key_view(rk));
}

/* ---- the share line ---- */

int
cf_share_encode(const struct cf_share *s, char *out, size_t cap)
{
	char fp[2 * CF_HASH_BYTES + 1];
	char split[2 * CF_SHARE_SPLIT_BYTES + 1];
	char kc[2 * CF_SHARE_CHECK_BYTES + 1];
	uint8_t raw[RAW_BYTES];
	int n;

	if (cap < CF_SHARE_LINE_MAX + 1)
		return CF_ETOOBIG;
	cf_hex(fp, s->fingerprint, CF_HASH_BYTES);
	cf_hex(split, s->split, CF_SHARE_SPLIT_BYTES);
	cf_hex(kc, s->keycheck, CF_SHARE_CHECK_BYTES);
	n = snprintf(out, cap, "%s %s %u %u %s %s ", magic, fp, (unsigned)s->k, (unsigned)s->x,
	             split, kc);
	CF_ASSERT(n > 0 && (size_t)n + HEXW_LEN < cap);
	if (s->wrapped) {
		memcpy(out + n, "w:", 2);
		cf_hex(out + n + 2, s->recipient, CF_BOX_PK_BYTES);
		out[n + 2 + 2 * CF_BOX_PK_BYTES] = ':';
		cf_hex(out + n + 3 + 2 * CF_BOX_PK_BYTES, s->wrap, CF_SHARE_WRAP_BYTES);
		return 0;
	}
	memcpy(raw, s->y, CF_SHARE_BYTES);
	checksum(raw + CF_SHARE_BYTES, s);
	cf_b32_encode35(raw, out + n);
	cf_wipe(raw, sizeof(raw));
	return 0;
}

static bool
is_blank(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* The next run of non-blank bytes; the blank that ends it is consumed. */
static int
next_token(struct cf_reader *r, const uint8_t **tok, size_t *len)
{
	const uint8_t *c = NULL;

	*tok = NULL;
	*len = 0;
	while (cf_reader_view(r, 1, &c) == 0) {
		if (is_blank(*c) && *tok == NULL)
			continue;
		if (is_blank(*c))
			break;
		if (*tok == NULL)
			*tok = c;
		(*len)++;
	}
	return *tok == NULL ? CF_EFORMAT : 0;
}

/* @n bytes at @p equal the first @n chars of @s (public text, so an early exit is fine). */
static bool
text_eq(const uint8_t *p, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\0' || p[i] != (uint8_t)s[i])
			return false;
	return true;
}

static bool
token_is(const uint8_t *tok, size_t len, const char *s)
{
	return len == strlen(s) && text_eq(tok, s, len);
}

/* A decimal in [@min, @max] of 1 to 3 digits, without leading zeros. */
static int
parse_small(const uint8_t *tok, size_t len, unsigned min, unsigned max, uint8_t *out)
{
	unsigned v = 0;

	if (len == 0 || len > 3 || tok[0] == '0')
		return CF_EFORMAT;
	for (size_t i = 0; i < len; i++) {
		if (tok[i] < '0' || tok[i] > '9')
			return CF_EFORMAT;
		v = v * 10 + (unsigned)(tok[i] - '0');
	}
	if (v < min || v > max)
		return CF_EFORMAT;
	*out = (uint8_t)v;
	return 0;
}

static int
parse_hex(const uint8_t *tok, size_t len, uint8_t *out, size_t n)
{
	if (len != 2 * n)
		return CF_EFORMAT;
	return cf_unhex(out, n, (const char *)tok, len);
}

/* The six header tokens of a share line. */
static int
parse_header(struct cf_reader *r, struct cf_share *s)
{
	const uint8_t *t[NTOKENS];
	size_t l[NTOKENS];
	int rc;

	for (size_t i = 0; i < NTOKENS; i++)
		if ((rc = next_token(r, &t[i], &l[i])) != 0)
			return rc;
	if (!token_is(t[0], l[0], magic)) {
		size_t fl = strlen(magic_family);

		return l[0] > fl && text_eq(t[0], magic_family, fl) ? CF_EVERSION : CF_EFORMAT;
	}
	if ((rc = parse_hex(t[1], l[1], s->fingerprint, CF_HASH_BYTES)) != 0 ||
	    (rc = parse_small(t[2], l[2], CF_SHARE_K_MIN, CF_SHARE_MAX, &s->k)) != 0 ||
	    (rc = parse_small(t[3], l[3], 1, CF_SHARE_MAX, &s->x)) != 0 ||
	    (rc = parse_hex(t[4], l[4], s->split, CF_SHARE_SPLIT_BYTES)) != 0 ||
	    (rc = parse_hex(t[5], l[5], s->keycheck, CF_SHARE_CHECK_BYTES)) != 0)
		return CF_EFORMAT;
	return 0;
}

/* "w:" recipient (64 hex) ":" wrapped share (208 hex), nothing else. */
static int
parse_wrapped(const uint8_t *p, size_t len, struct cf_share *s)
{
	struct cf_reader r;
	const uint8_t *v = NULL;
	int rc;

	cf_reader_init(&r, p, len);
	if ((rc = cf_reader_view(&r, 2, &v)) != 0 || !token_is(v, 2, "w:") ||
	    (rc = cf_reader_view(&r, 2 * CF_BOX_PK_BYTES, &v)) != 0 ||
	    (rc = parse_hex(v, 2 * CF_BOX_PK_BYTES, s->recipient, CF_BOX_PK_BYTES)) != 0 ||
	    (rc = cf_reader_view(&r, 1, &v)) != 0 || *v != ':' ||
	    (rc = cf_reader_view(&r, 2 * CF_SHARE_WRAP_BYTES, &v)) != 0 ||
	    (rc = parse_hex(v, 2 * CF_SHARE_WRAP_BYTES, s->wrap, CF_SHARE_WRAP_BYTES)) != 0 ||
	    (rc = cf_reader_end(&r)) != 0)
		return CF_EFORMAT;
	s->wrapped = true;
	return 0;
}

/* The 56 symbols of share || checksum, checked. */
static int
parse_plain(const uint8_t *p, size_t len, struct cf_share *s)
{
	uint8_t raw[RAW_BYTES];
	uint8_t sum[SUM_BYTES];
	int rc;

	if ((rc = cf_b32_decode35(p, len, raw)) != 0)
		goto out;
	memcpy(s->y, raw, CF_SHARE_BYTES);
	checksum(sum, s);
	if (!cf_ct_eq(sum, raw + CF_SHARE_BYTES, SUM_BYTES))
		rc = CF_EINTEGRITY;
out:
	cf_wipe(raw, sizeof(raw));
	cf_wipe(sum, sizeof(sum));
	return rc;
}

int
cf_share_parse_line(const uint8_t *line, size_t len, struct cf_share *out)
{
	struct cf_reader r;
	const uint8_t *rest = NULL;
	size_t n = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > CF_SHARE_LINE_MAX)
		return CF_ETOOBIG;
	cf_reader_init(&r, line, len);
	if ((rc = parse_header(&r, out)) != 0)
		goto out;
	n = r.left;
	if ((rc = cf_reader_view(&r, n, &rest)) != 0)
		goto out;
	while (n > 0 && is_blank(rest[0])) {
		rest++;
		n--;
	}
	while (n > 0 && is_blank(rest[n - 1]))
		n--;
	if (n >= 2 && rest[0] == 'w' && rest[1] == ':')
		rc = parse_wrapped(rest, n, out);
	else
		rc = parse_plain(rest, n, out);
out:
	if (rc != 0)
		cf_wipe(out, sizeof(*out));
	return rc;
}

int
cf_share_find_line(const uint8_t *file, size_t len, size_t *start, size_t *end)
{
	*start = 0;
	*end = 0;
	return cf_text_one_line(file, len, start, end);
}

int
cf_share_parse_file(const uint8_t *file, size_t len, struct cf_share *out)
{
	size_t start = 0;
	size_t end = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > CF_SHARE_FILE_MAX)
		return CF_ETOOBIG;
	if ((rc = cf_share_find_line(file, len, &start, &end)) != 0)
		return rc;
	return cf_share_parse_line(file + start, end - start, out);
}

/* ---- wrapping ---- */

int
cf_share_wrap(struct cf_share *s, const uint8_t pk[static CF_BOX_PK_BYTES])
{
	uint8_t ad[AD_BYTES];
	int rc;

	if (s->wrapped)
		return CF_EINVAL;
	wrap_ad(s, ad);
	if ((rc = cf_wrap(s->wrap, pk, ad, sizeof(ad), s->y, CF_SHARE_BYTES)) != 0) {
		cf_wipe(s->wrap, sizeof(s->wrap));
		return rc;
	}
	memcpy(s->recipient, pk, CF_BOX_PK_BYTES);
	cf_wipe(s->y, sizeof(s->y));
	s->wrapped = true;
	return 0;
}

int
cf_share_unwrap(struct cf_share *s, const struct cf_boxkey *box)
{
	uint8_t ad[AD_BYTES];
	uint8_t y[CF_SHARE_BYTES];

	if (!s->wrapped)
		return CF_EINVAL;
	if (!cf_ct_eq(s->recipient, cf_boxkey_pk(box), CF_BOX_PK_BYTES))
		return CF_ENOKEY;
	wrap_ad(s, ad);
	if (cf_unwrap(y, box, ad, sizeof(ad), s->wrap, sizeof(s->wrap)) != 0) {
		cf_wipe(y, sizeof(y));
		return CF_EAUTH;
	}
	memcpy(s->y, y, CF_SHARE_BYTES);
	cf_wipe(y, sizeof(y));
	cf_wipe(s->wrap, sizeof(s->wrap));
	cf_wipe(s->recipient, sizeof(s->recipient));
	s->wrapped = false;
	return 0;
}

/* ---- split and combine ---- */

void
cf_share_array_free(struct cf_share *v, size_t n)
{
	if (v != NULL)
		cf_free_wipe(v, n * sizeof(*v));
}

int
cf_share_split(const struct cf_key *rk, const uint8_t fingerprint[static CF_HASH_BYTES], unsigned k,
               unsigned n, struct cf_share **out)
{
	gfshare_ctx *ctx = NULL;
	struct cf_share *v = NULL;
	uint8_t xs[CF_SHARE_MAX];
	uint8_t secret[CF_SHARE_BYTES];
	uint8_t split[CF_SHARE_SPLIT_BYTES];
	int rc = 0;

	*out = NULL;
	if (k < CF_SHARE_K_MIN || k > n || n > CF_SHARE_MAX)
		return CF_EINVAL;
	use_sodium_rand();
	if ((v = cf_calloc(n, sizeof(*v))) == NULL)
		return CF_ENOMEM;
	for (unsigned i = 0; i < n; i++)
		xs[i] = (uint8_t)(i + 1); /* x = 0 would be the secret itself */
	if ((ctx = gfshare_ctx_init_enc(xs, n, (unsigned char)k, CF_SHARE_BYTES)) == NULL) {
		rc = CF_ENOMEM;
		goto out;
	}
	memcpy(secret, cf_key_view(rk), CF_SHARE_BYTES);
	gfshare_ctx_enc_setsecret(ctx, secret); /* draws K-1 random coefficients per byte */
	cf_random(split, sizeof(split));
	for (unsigned i = 0; i < n; i++) {
		memcpy(v[i].fingerprint, fingerprint, CF_HASH_BYTES);
		v[i].k = (uint8_t)k;
		v[i].x = xs[i];
		memcpy(v[i].split, split, sizeof(split));
		cf_share_keycheck(v[i].keycheck, rk);
		gfshare_ctx_enc_getshare(ctx, (unsigned char)i, v[i].y);
	}
	*out = v;
	v = NULL;
out:
	if (ctx != NULL)
		gfshare_ctx_free(ctx); /* overwrites the coefficients with random bytes */
	cf_wipe(secret, sizeof(secret));
	cf_share_array_free(v, n);
	return rc;
}

enum cf_share_clash
cf_share_clash(const struct cf_share *a, const struct cf_share *b)
{
	if (!cf_ct_eq(a->fingerprint, b->fingerprint, CF_HASH_BYTES))
		return CF_SHARE_OTHER_REPO;
	if (a->k != b->k || !cf_ct_eq(a->split, b->split, CF_SHARE_SPLIT_BYTES) ||
	    !cf_ct_eq(a->keycheck, b->keycheck, CF_SHARE_CHECK_BYTES))
		return CF_SHARE_OTHER_SPLIT;
	if (a->x != b->x)
		return CF_SHARE_FITS;
	if (a->wrapped != b->wrapped)
		return CF_SHARE_SAME_INDEX;
	if (a->wrapped)
		return cf_ct_eq(a->wrap, b->wrap, CF_SHARE_WRAP_BYTES) ? CF_SHARE_DUPLICATE
		                                                       : CF_SHARE_SAME_INDEX;
	return cf_ct_eq(a->y, b->y, CF_SHARE_BYTES) ? CF_SHARE_DUPLICATE : CF_SHARE_SAME_INDEX;
}

/* Lagrange interpolation at x = 0 over every share but the one at position @skip. */
static int
interpolate(const struct cf_share *v, size_t n, size_t skip, uint8_t out[static CF_KEY_BYTES])
{
	gfshare_ctx *ctx = NULL;
	uint8_t xs[CF_SHARE_MAX];
	uint8_t y[CF_SHARE_BYTES];
	unsigned m = 0;

	for (size_t j = 0; j < n; j++)
		if (j != skip)
			xs[m++] = v[j].x;
	if ((ctx = gfshare_ctx_init_dec(xs, m, CF_SHARE_BYTES)) == NULL)
		return CF_ENOMEM;
	m = 0;
	for (size_t j = 0; j < n; j++) {
		if (j == skip)
			continue;
		memcpy(y, v[j].y, CF_SHARE_BYTES); /* libgfshare wants a mutable pointer */
		gfshare_ctx_dec_giveshare(ctx, (unsigned char)m++, y);
	}
	gfshare_ctx_dec_extract(ctx, out);
	gfshare_ctx_free(ctx);
	cf_wipe(y, sizeof(y));
	return 0;
}

/* Interpolate without @skip and compare with the keycheck; *@ok, and the key in @rk. */
static int
try_combine(const struct cf_share *v, size_t n, size_t skip, uint8_t rk[static CF_KEY_BYTES],
            bool *ok)
{
	uint8_t kc[CF_SHARE_CHECK_BYTES];
	int rc;

	*ok = false;
	if ((rc = interpolate(v, n, skip, rk)) != 0)
		return rc;
	keycheck_of(kc, rk);
	*ok = cf_ct_eq(kc, v[0].keycheck, CF_SHARE_CHECK_BYTES);
	return 0;
}

/* With more shares than needed: the one share whose removal leaves a set that passes. */
static int
find_odd(const struct cf_share *v, size_t n, size_t *odd)
{
	uint8_t rk[CF_KEY_BYTES];
	size_t found = SIZE_MAX;
	bool ok = false;
	int rc = 0;

	for (size_t j = 0; j < n && rc == 0; j++) {
		if ((rc = try_combine(v, n, j, rk, &ok)) != 0 || !ok)
			continue;
		if (found != SIZE_MAX) {
			found = SIZE_MAX; /* two candidates: blame nobody */
			break;
		}
		found = j;
	}
	cf_wipe(rk, sizeof(rk));
	*odd = found;
	return rc;
}

/* Every share plain, none clashing with another, at least K of them. */
static bool
combinable(const struct cf_share *v, size_t n)
{
	if (n == 0 || n > CF_SHARE_MAX || n < v[0].k)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (v[i].wrapped)
			return false;
		for (size_t j = 0; j < i; j++)
			if (cf_share_clash(&v[j], &v[i]) != CF_SHARE_FITS)
				return false;
	}
	return true;
}

int
cf_share_combine(const struct cf_share *v, size_t n, struct cf_key **out, size_t *odd)
{
	uint8_t rk[CF_KEY_BYTES];
	bool ok = false;
	int rc;

	*out = NULL;
	*odd = SIZE_MAX;
	if (!combinable(v, n))
		return CF_EINVAL;
	use_sodium_rand();
	if ((rc = try_combine(v, n, SIZE_MAX, rk, &ok)) != 0)
		goto out;
	if (ok) {
		rc = cf_key_new_from(rk, out);
		goto out;
	}
	rc = CF_EINTEGRITY;
	if (n > v[0].k && find_odd(v, n, odd) != 0)
		*odd = SIZE_MAX;
out:
	cf_wipe(rk, sizeof(rk));
	return rc;
}
