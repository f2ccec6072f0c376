/*
 * cofferd.h - limits and small types shared by the modules of cofferd, the multi-account
 * backup service (docs/format.md section 15). Nothing here is part of libcoffer.
 */
#ifndef CFD_COFFERD_H
#define CFD_COFFERD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* docs/format.md 15: account names are 1..64 of [a-z0-9_-]. */
#define CFD_ACCOUNT_MAX 64
/* Limits applied before authentication (15.1). */
#define CFD_HEADERS_MAX ((size_t)8 * 1024)
#define CFD_PATH_MAX    512u
#define CFD_QUERY_MAX   512u
#define CFD_URI_MAX     (CFD_PATH_MAX + 1 + CFD_QUERY_MAX)
/* Limits applied after authentication. */
#define CFD_BODY_MAX       ((uint64_t)256 * 1024 * 1024)
#define CFD_LIST_MAX       10000u
#define CFD_PENDING_JOINS  16u
#define CFD_SKEW_SECONDS   300
#define CFD_NONCE_SECONDS  600
#define CFD_NONCE_BYTES    16
#define CFD_TOKEN_BYTES    32 /* random bytes of an enrollment token, shown as hex */
#define CFD_TOKEN_TEXT_MAX 128

/* A device's role as the server knows it: the chain's roles, plus pending join requests. */
enum cfd_role {
	CFD_ROLE_PENDING = 0,
	CFD_ROLE_FULL = 1,
	CFD_ROLE_BACKUP_ONLY = 2,
	CFD_ROLE_RECOVERY = 3,
};

/* One object of one account. All three strings are validated before a key is built. */
struct cfd_obj_key {
	const char *account;
	enum cf_obj_kind kind;
	const char *name;
};

/* cfd_account_name_valid() - 1..CFD_ACCOUNT_MAX of [a-z0-9_-], NUL-terminated. */
bool cfd_account_name_valid(const char *name);
/*
 * cfd_obj_name_check() - the name shape each kind has in docs/format.md 3 and 10.1: chain
 * 16 hex digits, packs/index/snapshots/requests 64 hex digits, keys any cf_obj_name_valid()
 * name. 0 or CF_EINVAL.
 */
int cfd_obj_name_check(enum cf_obj_kind kind, const char *name);
/* cfd_kind_content_addressed() - packs, index and snapshots: the name is H(object) in hex. */
bool cfd_kind_content_addressed(enum cf_obj_kind kind);
/* cfd_kind_max_size() - the largest body accepted for @kind (at most CFD_BODY_MAX). */
uint64_t cfd_kind_max_size(enum cf_obj_kind kind);
/* cfd_kind_prefix_byte() - the "kind" byte of the 8-byte object prefix (docs/format.md 3). */
uint8_t cfd_kind_prefix_byte(enum cf_obj_kind kind);
/*
 * cfd_span() - how many bytes come before @sep (or the end) in what is left of @r, without
 * consuming them.
 */
struct cf_reader;
size_t cfd_span(const struct cf_reader *r, uint8_t sep);
/*
 * cfd_parse_decimal() - the @n bytes at @s (not NUL-terminated) as a decimal number of at
 * most 20 digits in [0, @max]. 0 or CF_EFORMAT.
 */
int cfd_parse_decimal(const char *s, size_t n, uint64_t max, uint64_t *out);
/* cfd_now() - unix seconds. */
int64_t cfd_now(void);
/*
 * cfd_parse_duration() - "7d", "12h", "30m", "45s" or plain seconds, at most 100 years.
 * 0 or CF_EINVAL.
 */
int cfd_parse_duration(const char *s, int64_t *out);

#endif
