/*
 * auth.h - request signatures (docs/format.md 15.1):
 *
 *   Authorization: Coffer-Ed25519 device=<64 hex>,time=<unix seconds>,nonce=<32 hex>,sig=<128 hex>
 *   sig = Ed25519 over "coffer.v1.http\n" METHOD "\n" PATH "\n" QUERY "\n" CONTENT_SHA256 "\n"
 *                      TIME "\n" NONCE
 *
 * PATH and QUERY are the exact bytes of the request target before and after its '?' (QUERY
 * is empty without one); TIME and NONCE are the header's text. Parameters may come in any
 * order, each exactly once, separated by ',' and optional spaces; hex is lowercase.
 */
#ifndef CFD_AUTH_H
#define CFD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf/buf.h"
#include "cofferd.h"
#include "crypto/crypto.h"

#define CFD_AUTH_HEADER_MAX 512
#define CFD_AUTH_SCHEME     "Coffer-Ed25519"
#define CFD_AUTH_LABEL      "coffer.v1.http\n"
#define CFD_SHA256_HEX      64
#define CFD_TIME_TEXT_MAX   19
/* SHA-256 of nothing: the content hash of every request without a body */
#define CFD_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct cfd_auth {
	uint8_t device[CF_ID_BYTES];
	int64_t time;
	char time_text[CFD_TIME_TEXT_MAX + 1];
	uint8_t nonce[CFD_NONCE_BYTES];
	char nonce_hex[2 * CFD_NONCE_BYTES + 1];
	uint8_t sig[CF_SIG_BYTES];
};

/* What the signature covers besides the header's own fields. */
struct cfd_auth_msg {
	const char *method;
	const char *path;
	size_t path_len;
	const char *query;
	size_t query_len;
	const char *content_sha256; /* CFD_SHA256_HEX lowercase hex digits */
};

/*
 * cfd_auth_parse() - parse the Authorization value @v of @len bytes (need not be
 * NUL-terminated). 0, CF_ETOOBIG (over CFD_AUTH_HEADER_MAX) or CF_EFORMAT. Thread-safe.
 */
int cfd_auth_parse(const char *v, size_t len, struct cfd_auth *out) CF_MUST_CHECK;
/* cfd_auth_canonical() - the signed bytes after the label, into @out (cf_buf_release). */
int cfd_auth_canonical(const struct cfd_auth *a, const struct cfd_auth_msg *m,
                       struct cf_buf *out) CF_MUST_CHECK;
/* cfd_auth_verify() - check the signature under @pk. 0, CF_EAUTH or CF_ENOMEM. */
int cfd_auth_verify(const struct cfd_auth *a, const uint8_t pk[static CF_SIGN_PK_BYTES],
                    const struct cfd_auth_msg *m) CF_MUST_CHECK;
/* cfd_auth_time_ok() - @t within CFD_SKEW_SECONDS of @now. */
bool cfd_auth_time_ok(int64_t t, int64_t now);
/* cfd_lower_hex() - the @n chars at @s are lowercase hex digits. */
bool cfd_lower_hex(const char *s, size_t n);

#endif
