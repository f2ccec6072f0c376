/*
 * recovery.h - the recovery key: typable encoding with a checksum, and the identity it
 * derives (docs/format.md section 9).
 */
#ifndef CF_RECOVERY_H
#define CF_RECOVERY_H

#include <stddef.h>
#include <stdint.h>

#include "../base/compat.h"
#include "../crypto/crypto.h"

/* 56 symbols in 14 groups of 4 with 13 dashes, plus NUL. */
#define CF_RECOVERY_TEXT_BYTES 70
#define CF_RECOVERY_FILE_MAX   4096

struct cf_device;

/* cf_recovery_encode() - the code for @rk into @out (NUL-terminated). */
void cf_recovery_encode(const struct cf_key *rk, char out[static CF_RECOVERY_TEXT_BYTES]);
/*
 * cf_recovery_decode() - decode a typed code of @len chars (case, '-' and spaces ignored,
 * O read as 0, I and L as 1). Returns 0, CF_EFORMAT (wrong length, bad symbol or checksum) or
 * CF_ENOMEM. Decoding does not branch on the key's value.
 */
int cf_recovery_decode(const char *text, size_t len, struct cf_key **out) CF_MUST_CHECK;
/*
 * cf_recovery_parse_file() - the one code line of a recovery key file ('#' lines ignored).
 * Returns as cf_recovery_decode(), or CF_ETOOBIG for an oversized file.
 */
int cf_recovery_parse_file(const uint8_t *file, size_t len, struct cf_key **out) CF_MUST_CHECK;
/*
 * cf_recovery_identity() - the recovery key's device-shaped identity (sign and box keys,
 * id), named "recovery key". 0 or CF_ENOMEM.
 */
int cf_recovery_identity(const struct cf_key *rk, struct cf_device **out) CF_MUST_CHECK;

/*
 * cf_text_one_line() - the one meaningful line of a small text file (recovery key, share):
 * blank lines and lines starting with '#' (after blanks) are skipped, blanks around the
 * line trimmed. *@start, *@end delimit it. Returns 0, or CF_EFORMAT when there is not
 * exactly one such line.
 */
/* Crockford base32 of 35 bytes: 56 symbols in 14 groups of 4 joined by '-' (base32.c). */
#define CF_B32_RAW_BYTES  35
#define CF_B32_TEXT_BYTES 70
/* cf_b32_encode35() - the grouped text of @raw, NUL-terminated. */
void cf_b32_encode35(const uint8_t raw[static CF_B32_RAW_BYTES],
                     char out[static CF_B32_TEXT_BYTES]);
/*
 * cf_b32_decode35() - exactly 56 symbols of @text (any case; O read as 0, I and L as 1; '-'
 * and ' ' between them ignored) into @raw. Returns 0 or CF_EFORMAT. The symbols' values
 * steer no branch; @raw is filled even on failure (wipe it).
 */
int cf_b32_decode35(const uint8_t *text, size_t len,
                    uint8_t raw[static CF_B32_RAW_BYTES]) CF_MUST_CHECK;

int cf_text_one_line(const uint8_t *file, size_t len, size_t *start, size_t *end) CF_MUST_CHECK;

#endif
