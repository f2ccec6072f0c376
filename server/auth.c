/*
 * auth.c - parsing and checking request signatures (auth.h, docs/format.md 15.1).
 *
 * The header is parsed through a struct cf_reader, every field length-checked before it
 * is decoded; hex is decoded with the constant-time cf_unhex(). Nothing here compares
 * secret bytes (signatures are checked by libsodium), and tools/lint.sh keeps memcmp out.
 */
#include "auth.h"

#include <string.h>

#include "base/base.h"
#include "reader/reader.h"

#define SEEN_DEVICE 1u
#define SEEN_TIME   2u
#define SEEN_NONCE  4u
#define SEEN_SIG    8u
#define SEEN_ALL    15u
#define CANON_MAX   (sizeof(CFD_AUTH_LABEL) + 16 + CFD_URI_MAX + CFD_SHA256_HEX + 64)

bool
cfd_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

/* Byte equality of public text (never used on secrets). */
static bool
text_is(const uint8_t *p, size_t n, const char *s)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != (uint8_t)s[i])
			return false;
	}
	return true;
}

static void
skip_spaces(struct cf_reader *r)
{
	struct cf_reader t = *r;
	const uint8_t *c = NULL;

	while (cf_reader_view(&t, 1, &c) == 0 && *c == ' ')
		*r = t;
}

static int
hex_field(const uint8_t *v, size_t n, uint8_t *out, size_t outlen)
{
	if (n != 2 * outlen || !cfd_lower_hex((const char *)v, n))
		return CF_EFORMAT;
	return cf_unhex(out, outlen, (const char *)v, n);
}

static int
time_field(const uint8_t *v, size_t n, struct cfd_auth *a)
{
	uint64_t t = 0;

	if (n == 0 || n > CFD_TIME_TEXT_MAX)
		return CF_EFORMAT;
	memcpy(a->time_text, v, n);
	a->time_text[n] = '\0';
	if (cf_parse_u64(a->time_text, 0, INT64_MAX, &t) != 0)
		return CF_EFORMAT;
	a->time = (int64_t)t;
	return 0;
}

static int
apply_param(const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen, struct cfd_auth *a,
            unsigned *seen)
{
	unsigned bit = 0;
	int rc = CF_EFORMAT;

	if (text_is(k, klen, "device")) {
		bit = SEEN_DEVICE;
		rc = hex_field(v, vlen, a->device, sizeof(a->device));
	} else if (text_is(k, klen, "time")) {
		bit = SEEN_TIME;
		rc = time_field(v, vlen, a);
	} else if (text_is(k, klen, "nonce")) {
		bit = SEEN_NONCE;
		rc = hex_field(v, vlen, a->nonce, sizeof(a->nonce));
		if (rc == 0)
			memcpy(a->nonce_hex, v, vlen);
	} else if (text_is(k, klen, "sig")) {
		bit = SEEN_SIG;
		rc = hex_field(v, vlen, a->sig, sizeof(a->sig));
	}
	if (rc != 0 || (*seen & bit) != 0)
		return CF_EFORMAT;
	*seen |= bit;
	return 0;
}

/* One "key=value" and the ',' after it, if any. */
static int
next_param(struct cf_reader *r, struct cfd_auth *a, unsigned *seen)
{
	const uint8_t *k = NULL;
	const uint8_t *v = NULL;
	size_t klen = 0;
	size_t vlen = 0;
	int rc;

	skip_spaces(r);
	klen = cfd_span(r, '=');
	if ((rc = cf_reader_view(r, klen, &k)) != 0 || (rc = cf_reader_skip(r, 1)) != 0)
		return CF_EFORMAT;
	vlen = cfd_span(r, ',');
	if ((rc = cf_reader_view(r, vlen, &v)) != 0)
		return CF_EFORMAT;
	if ((rc = apply_param(k, klen, v, vlen, a, seen)) != 0)
		return rc;
	if (r->left > 0 && cf_reader_skip(r, 1) != 0)
		return CF_EFORMAT;
	return 0;
}

int
cfd_auth_parse(const char *v, size_t len, struct cfd_auth *out)
{
	struct cf_reader r;
	const uint8_t *scheme = NULL;
	unsigned seen = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > CFD_AUTH_HEADER_MAX)
		return CF_ETOOBIG;
	cf_reader_init(&r, (const uint8_t *)v, len);
	if (cf_reader_view(&r, strlen(CFD_AUTH_SCHEME), &scheme) != 0 ||
	    !text_is(scheme, strlen(CFD_AUTH_SCHEME), CFD_AUTH_SCHEME) || cfd_span(&r, ' ') != 0)
		return CF_EFORMAT;
	while (r.left > 0 && seen != SEEN_ALL) {
		if ((rc = next_param(&r, out, &seen)) != 0)
			goto out;
	}
	rc = seen == SEEN_ALL && r.left == 0 ? 0 : CF_EFORMAT;
out:
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

int
cfd_auth_canonical(const struct cfd_auth *a, const struct cfd_auth_msg *m, struct cf_buf *out)
{
	int rc;

	cf_buf_init(out, CANON_MAX);
	if ((rc = cf_buf_put(out, m->method, strlen(m->method))) != 0 ||
	    (rc = cf_buf_u8(out, '\n')) != 0 || (rc = cf_buf_put(out, m->path, m->path_len)) != 0 ||
	    (rc = cf_buf_u8(out, '\n')) != 0 ||
	    (rc = cf_buf_put(out, m->query, m->query_len)) != 0 ||
	    (rc = cf_buf_u8(out, '\n')) != 0 ||
	    (rc = cf_buf_put(out, m->content_sha256, CFD_SHA256_HEX)) != 0 ||
	    (rc = cf_buf_u8(out, '\n')) != 0 ||
	    (rc = cf_buf_put(out, a->time_text, strlen(a->time_text))) != 0 ||
	    (rc = cf_buf_u8(out, '\n')) != 0 ||
	    (rc = cf_buf_put(out, a->nonce_hex, strlen(a->nonce_hex))) != 0)
		cf_buf_release(out);
	return rc;
}

int
cfd_auth_verify(const struct cfd_auth *a, const uint8_t pk[static CF_SIGN_PK_BYTES],
                const struct cfd_auth_msg *m)
{
	struct cf_buf b;
	int rc;

	if ((rc = cfd_auth_canonical(a, m, &b)) != 0)
		return rc == CF_ENOMEM ? rc : CF_EAUTH;
	rc = cf_verify2(a->sig, pk, CFD_AUTH_LABEL, strlen(CFD_AUTH_LABEL), b.p, b.len);
	cf_buf_release(&b);
	return rc;
}

bool
cfd_auth_time_ok(int64_t t, int64_t now)
{
	return t <= now + CFD_SKEW_SECONDS && t >= now - CFD_SKEW_SECONDS;
}
