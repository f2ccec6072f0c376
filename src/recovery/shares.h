/*
 * shares.h - recovery shares: the recovery key split K-of-N with Shamir's scheme over GF(256),
 * one share per text line (docs/format.md section 10.3). These functions touch no file and no
 * repository; shares_cmd.c builds the commands of include/coffer/recovery.h on them.
 *
 * A struct cf_share holds a secret (the 32 share bytes) whenever it is not wrapped: keep it in
 * memory that is wiped (cf_share_array_free, cf_wipe) and never copy it anywhere plain.
 */
#ifndef CF_SHARES_H
#define CF_SHARES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/compat.h"
#include "../crypto/crypto.h"

#define CF_SHARE_BYTES       32 /* one share: the polynomials at x = index */
#define CF_SHARE_K_MIN       2
#define CF_SHARE_MAX         255 /* indexes 1..255: the non-zero elements of GF(256) */
#define CF_SHARE_SPLIT_BYTES 4   /* random id of one split */
#define CF_SHARE_CHECK_BYTES 4   /* keycheck: first bytes of BLAKE2b("coffer.v1.share-key" || RK) */
#define CF_SHARE_WRAP_BYTES  (CF_SHARE_BYTES + CF_WRAP_OVERHEAD)
/* Longest share line accepted (as written: plain 175 bytes at most, wrapped 381) and file. */
#define CF_SHARE_LINE_MAX 512
#define CF_SHARE_FILE_MAX 4096

static_assert(CF_SHARE_BYTES == CF_KEY_BYTES, "a share has the size of the recovery key");

struct cf_share {
	uint8_t fingerprint[CF_HASH_BYTES]; /* the repository's genesis hash */
	uint8_t k;                          /* threshold, 2..255 */
	uint8_t x;                          /* index, 1..255 */
	uint8_t split[CF_SHARE_SPLIT_BYTES];
	uint8_t keycheck[CF_SHARE_CHECK_BYTES];
	bool wrapped;
	uint8_t recipient[CF_BOX_PK_BYTES]; /* wrapped only: the contact's X25519 key */
	uint8_t wrap[CF_SHARE_WRAP_BYTES];  /* wrapped only: Wrap(recipient, ad, y) */
	uint8_t y[CF_SHARE_BYTES];          /* plain only: the share (secret) */
};

/* cf_share_keycheck() - the first CF_SHARE_CHECK_BYTES of BLAKE2b-256(label || @rk). */
void cf_share_keycheck(uint8_t out[static CF_SHARE_CHECK_BYTES], const struct cf_key *rk);

/*
 * cf_share_split() - split @rk into @n plain shares with indexes 1..@n of which any @k rebuild
 * it, for the repository @fingerprint, under a fresh random split id. The polynomials'
 * coefficients come from libsodium (randombytes_buf). *@out: an array of @n shares, freed with
 * cf_share_array_free(). Returns 0, CF_EINVAL (not 2 <= @k <= @n <= 255) or CF_ENOMEM.
 * Thread-safe.
 */
int cf_share_split(const struct cf_key *rk, const uint8_t fingerprint[static CF_HASH_BYTES],
                   unsigned k, unsigned n, struct cf_share **out) CF_MUST_CHECK;
/* cf_share_array_free() - wipe and free @n shares. NULL is a no-op. */
void cf_share_array_free(struct cf_share *v, size_t n);

/*
 * cf_share_wrap() - wrap the plain share @s to the X25519 public key @pk (docs/format.md 1.1)
 * with the share's header fields as associated data; the plain bytes are wiped. Returns 0,
 * CF_EINVAL (already wrapped) or CF_EAUTH (@pk is a low-order point; @s is unchanged).
 */
int cf_share_wrap(struct cf_share *s, const uint8_t pk[static CF_BOX_PK_BYTES]) CF_MUST_CHECK;
/*
 * cf_share_unwrap() - open the wrapped share @s with @box. Returns 0 (@s is plain now),
 * CF_EINVAL (not wrapped), CF_ENOKEY (wrapped to another key; @s unchanged) or CF_EAUTH (it
 * is addressed to @box but does not open: damaged or altered; @s unchanged).
 */
int cf_share_unwrap(struct cf_share *s, const struct cf_boxkey *box) CF_MUST_CHECK;

/*
 * cf_share_encode() - the share line of @s (no newline) into @out, NUL-terminated. It holds
 * the secret share when @s is plain: wipe it. Returns 0 or CF_ETOOBIG (@cap below
 * CF_SHARE_LINE_MAX + 1 is always refused, so the result never depends on the share).
 */
int cf_share_encode(const struct cf_share *s, char *out, size_t cap) CF_MUST_CHECK;
/*
 * cf_share_parse_line() - decode one share line of @len bytes (no newline; blanks at either
 * end are ignored) into @out. The payload of a plain share may be typed in any case, with or
 * without '-' and spaces between symbols, O for 0 and I/L for 1; it is decoded without
 * branching on its value. Returns 0, CF_EFORMAT (malformed), CF_EVERSION (a share line of
 * another format version), CF_EINTEGRITY (the checksum does not match: a typing error or
 * damage) or CF_ETOOBIG (longer than CF_SHARE_LINE_MAX). @out is wiped on failure.
 */
int cf_share_parse_line(const uint8_t *line, size_t len, struct cf_share *out) CF_MUST_CHECK;
/*
 * cf_share_parse_file() - the one share line of a share file: blank lines and lines whose
 * first non-blank character is '#' are ignored. Returns as cf_share_parse_line(), CF_EFORMAT
 * when there is not exactly one other line, or CF_ETOOBIG (over CF_SHARE_FILE_MAX).
 */
int cf_share_parse_file(const uint8_t *file, size_t len, struct cf_share *out) CF_MUST_CHECK;

/*
 * cf_share_find_line() - the one line of @file that is neither blank nor a '#' comment, with
 * blanks trimmed: *@start, *@end are offsets into @file. Also used for public key files.
 * Returns 0 or CF_EFORMAT (no such line, or more than one).
 */
int cf_share_find_line(const uint8_t *file, size_t len, size_t *start, size_t *end) CF_MUST_CHECK;

/* What keeps two shares from being combined. */
enum cf_share_clash {
	CF_SHARE_FITS = 0,    /* same repository, split and key; different indexes */
	CF_SHARE_OTHER_REPO,  /* fingerprints differ */
	CF_SHARE_OTHER_SPLIT, /* split id, threshold or keycheck differ */
	CF_SHARE_SAME_INDEX,  /* same index, different bytes (or one wrapped, one plain) */
	CF_SHARE_DUPLICATE,   /* the same share twice (for wrapped ones: the same wrap) */
};

/* cf_share_clash() - whether @a and @b (either may be wrapped) may be combined. */
enum cf_share_clash cf_share_clash(const struct cf_share *a, const struct cf_share *b);

/*
 * cf_share_combine() - rebuild the recovery key from @n plain shares and check it against
 * their keycheck. Every share given is used, so one share that does not fit the others makes
 * the result fail the check instead of being ignored. Returns 0 (*@out: a new key), CF_EINVAL
 * (fewer shares than the threshold, a wrapped share, or two shares that clash: call
 * cf_share_clash() for which), or CF_EINTEGRITY (the result fails the keycheck: a share was
 * altered, checksum included, or the threshold field was changed) and sets *@odd to the
 * position of the one share whose removal leaves a set that passes, or to SIZE_MAX when no
 * single share is to blame (always so when @n equals the threshold). CF_ENOMEM too.
 */
int cf_share_combine(const struct cf_share *v, size_t n, struct cf_key **out,
                     size_t *odd) CF_MUST_CHECK;

#endif
