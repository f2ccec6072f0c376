/*
 * coffer/recovery.h - recovery shares: split a repository's recovery key K-of-N (Shamir over
 * GF(256)), optionally wrapping each share to a contact's X25519 public key, and rebuild the
 * key from any K share files (docs/format.md section 10.3).
 *
 * A struct cf_shares is a set of shares: the N made by cf_shares_split(), or the ones read by
 * cf_shares_load(). Shares are secrets: the set keeps them in memory that is wiped when it is
 * freed, and the text it hands out must be wiped with cf_shares_wipe() after use. The library
 * never prints and never writes share files: the program does (mode 0600, never overwriting).
 * A set is not thread-safe; distinct sets may be used from different threads.
 */
#ifndef CF_RECOVERY_PUBLIC_H
#define CF_RECOVERY_PUBLIC_H

#include <stdbool.h>
#include <stddef.h>

#include "coffer/common.h"

/* Room for the text of one share file (comment lines and the share line, NUL included). */
#define CF_SHARES_TEXT_MAX 1024
/* Room for a recovery code: 56 symbols in 14 groups of 4 joined by '-', and a NUL. */
#define CF_SHARES_CODE_BYTES 70
/* Limits of a split: 2 <= threshold <= count <= CF_SHARES_MAX. */
#define CF_SHARES_MAX 255

struct cf_opts;
struct cf_shares;

/*
 * cf_shares_split() - read the recovery key from @o's "recovery-key-file", check that it is
 * the recovery key of the repository at "repo" (its device chain is verified from genesis),
 * and split it into @count shares of which any @threshold rebuild it. When "to" is given
 * (exactly @count times: each a file holding an X25519 public key as 64 hex digits on one
 * line, '#' comment lines allowed), share i is wrapped to the key of the i-th file.
 * *@out: a new set (cf_shares_free). Returns 0, CF_EINVAL (limits, "to" count, a public key
 * or recovery key file that does not hold one, a low-order public key, no "repo"),
 * CF_ENOENT / CF_ETOOBIG / CF_ESYS (a file cannot be read), CF_ENOREPO, CF_ENOKEY (the key is
 * not this repository's recovery key), CF_EINTEGRITY (the device chain does not verify) or
 * CF_ENOMEM. cf_err_last() says what failed, naming the file.
 */
CF_API int cf_shares_split(const struct cf_opts *o, unsigned threshold, unsigned count,
                           struct cf_shares **out) CF_MUST_CHECK;

/* cf_shares_new() - an empty set to load share files into. 0 or CF_ENOMEM. */
CF_API int cf_shares_new(struct cf_shares **out) CF_MUST_CHECK;

/*
 * cf_shares_load() - read the share file at @path into @s. A share wrapped to this device is
 * unwrapped with the device key of @o's home (COFFER_HOME; "passphrase-file" or
 * COFFER_PASSPHRASE_FILE for a protected key), loaded on the first wrapped share. The share
 * must fit the ones already in @s: same repository, same split, another index. Returns 0,
 * CF_EFORMAT (not a share file), CF_EVERSION, CF_EINTEGRITY (checksum mismatch: mistyped or
 * damaged), CF_ENOKEY (wrapped to another key, or no device key), CF_EAUTH (wrapped to this
 * device but it does not open: damaged or altered), CF_EINVAL (it does not fit the others:
 * another repository or split, a repeated index), CF_ETOOBIG, CF_ENOENT, CF_ESYS or
 * CF_ENOMEM; cf_err_last() names @path (and the share it clashes with). @s is unchanged on
 * failure. @s must come from cf_shares_new() (a split set aborts: API misuse).
 */
CF_API int cf_shares_load(struct cf_shares *s, const struct cf_opts *o,
                          const char *path) CF_MUST_CHECK;

/*
 * cf_shares_combine() - rebuild the recovery key from every share of @s and write its code
 * (NUL-terminated) to @code (@cap at least CF_SHARES_CODE_BYTES; wipe it after use). The
 * result must reproduce the keycheck the shares carry, so fewer shares than the threshold,
 * or an altered share, give an error and never a wrong key. When @o names a "repo", the key
 * must also be the recovery key of that repository. Returns 0, CF_EINVAL (no shares, or
 * fewer than the threshold), CF_EINTEGRITY (the shares do not rebuild the key they were
 * split from: cf_err_last() names the odd share when one can be singled out), CF_ENOKEY (not
 * the recovery key of "repo"), or as cf_shares_split() for opening "repo".
 */
CF_API int cf_shares_combine(const struct cf_shares *s, const struct cf_opts *o, char *code,
                             size_t cap) CF_MUST_CHECK;

/* cf_shares_count() - the number of shares in @s. */
CF_API size_t cf_shares_count(const struct cf_shares *s);
/* cf_shares_threshold() - K of the shares in @s (0 when empty). */
CF_API unsigned cf_shares_threshold(const struct cf_shares *s);
/* cf_shares_index() - the index (1..255) of the @i-th share of @s (@i < count). */
CF_API unsigned cf_shares_index(const struct cf_shares *s, size_t i);
/* cf_shares_wrapped() - the @i-th share is wrapped to a contact (split with "to"). */
CF_API bool cf_shares_wrapped(const struct cf_shares *s, size_t i);
/* cf_shares_was_wrapped() - the @i-th share was read wrapped and unwrapped by this device. */
CF_API bool cf_shares_was_wrapped(const struct cf_shares *s, size_t i);
/* cf_shares_fingerprint() - the repository fingerprint, 64 hex + NUL into @out ("" if empty). */
CF_API void cf_shares_fingerprint(const struct cf_shares *s, char *out);

/*
 * cf_shares_text() - the share file of the @i-th share of @s (@i < count): comment lines
 * then the share line, NUL-terminated, into @out (@cap at least CF_SHARES_TEXT_MAX). A plain
 * share's text is a secret: wipe it with cf_shares_wipe(). Returns 0 or CF_ETOOBIG (@cap).
 */
CF_API int cf_shares_text(const struct cf_shares *s, size_t i, char *out, size_t cap) CF_MUST_CHECK;

/* cf_shares_free() - wipe and free @s. NULL is a no-op. */
CF_API void cf_shares_free(struct cf_shares *s);
/* cf_shares_wipe() - overwrite @len bytes at @p with zeros in a way the compiler keeps. */
CF_API void cf_shares_wipe(void *p, size_t len);

#endif
