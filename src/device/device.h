/*
 * device.h - a device identity and its key file (docs/format.md section 12).
 */
#ifndef CF_DEVICE_H
#define CF_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/compat.h"
#include "../crypto/crypto.h"

#define CF_DEVICE_FILE_MAX 4096
/* Argon2id parameters written by cf_device_save() with a passphrase. */
#define CF_DEVICE_OPSLIMIT 3
#define CF_DEVICE_MEMLIMIT (64u * 1024 * 1024)

struct cf_device {
	struct cf_signkey *sign;
	struct cf_boxkey *box;
	uint8_t id[CF_ID_BYTES];
	char name[65];
	int64_t created;
};

/*
 * cf_device_new() - fresh keys. @name: 1..64 bytes, no control characters. 0, CF_EINVAL,
 * CF_ENOMEM.
 */
int cf_device_new(const char *name, struct cf_device **out) CF_MUST_CHECK;
/*
 * cf_device_from_keys() - a device from existing secrets (recovery identities). @sign_seed and
 * @box_sk are copied. 0, CF_EINVAL or CF_ENOMEM.
 */
int cf_device_from_keys(const uint8_t sign_seed[static 32], const uint8_t box_sk[static 32],
                        const char *name, int64_t created, struct cf_device **out) CF_MUST_CHECK;
void cf_device_free(struct cf_device *d);

/*
 * cf_device_save() - encode the key file. With @pass (not NULL) the payload is encrypted
 * under Argon2id(@pass) with CF_DEVICE_OPSLIMIT/MEMLIMIT. *@out (cf_free_wipe when plain).
 * Returns 0, CF_ENOMEM.
 */
int cf_device_save(const struct cf_device *d, const char *pass, size_t passlen, uint8_t **out,
                   size_t *len) CF_MUST_CHECK;
/* cf_device_file_locked() - true when the file bytes say a passphrase is needed. */
bool cf_device_file_locked(const uint8_t *file, size_t len);
/*
 * cf_device_load() - decode a key file; @pass is used only when the file is locked.
 * Returns 0, CF_EFORMAT, CF_EVERSION, CF_ETRUNC, CF_ETOOBIG (KDF limits out of range),
 * CF_EINVAL (locked and no passphrase), CF_EAUTH (wrong passphrase) or CF_ENOMEM.
 */
int cf_device_load(const uint8_t *file, size_t len, const char *pass, size_t passlen,
                   struct cf_device **out) CF_MUST_CHECK;

/* The Argon2id limits a key file may ask for (docs/format.md 12), checked before Argon2id runs. */
#define CF_DEVICE_OPSLIMIT_MIN 1
#define CF_DEVICE_OPSLIMIT_MAX 16
#define CF_DEVICE_MEMLIMIT_MIN ((uint64_t)8 * 1024)
#define CF_DEVICE_MEMLIMIT_MAX ((uint64_t)4 * 1024 * 1024 * 1024)

struct cf_device_kdf {
	uint64_t opslimit;
	uint64_t memlimit; /* bytes */
};

/*
 * cf_device_save_kdf() - cf_device_save() with a passphrase and chosen Argon2id limits @kdf
 * (tests, fuzz seeds, slow machines). @pass must not be NULL. Returns 0, CF_EINVAL (@kdf
 * outside the limits above) or CF_ENOMEM.
 */
int cf_device_save_kdf(const struct cf_device *d, const char *pass, size_t passlen,
                       const struct cf_device_kdf *kdf, uint8_t **out, size_t *len) CF_MUST_CHECK;
/*
 * cf_device_file_kdf() - the Argon2id limits a locked key file asks for, without running it;
 * *@kdf is zeroed for an unlocked file. Returns 0, CF_EFORMAT, CF_EVERSION, CF_ETRUNC or
 * CF_ETOOBIG (limits out of range, or a file over CF_DEVICE_FILE_MAX).
 */
int cf_device_file_kdf(const uint8_t *file, size_t len, struct cf_device_kdf *kdf) CF_MUST_CHECK;
/*
 * cf_device_parse_plain() - decode the plaintext "plain" of a key file (after decryption).
 * Exposed for fuzzing. Returns 0, CF_EFORMAT, CF_ETRUNC or CF_ENOMEM.
 */
int cf_device_parse_plain(const uint8_t *p, size_t len, struct cf_device **out) CF_MUST_CHECK;

/* ---- join requests (docs/format.md 10.1) ---- */

#define CF_JOIN_MAX_BYTES     512
#define CF_PAIRING_CODE_BYTES 20 /* 16 symbols, 3 dashes, NUL */

struct cf_join_request {
	uint8_t sign_pk[CF_SIGN_PK_BYTES];
	uint8_t box_pk[CF_BOX_PK_BYTES];
	uint8_t id[CF_ID_BYTES];
	uint8_t role;
	int64_t time;
	char name[65];
};

/*
 * cf_join_request_seal() - the request of device @d asking for @role, signed by @d.
 * *@out heap (cf_free). 0, CF_EINVAL (role) or CF_ENOMEM.
 */
int cf_join_request_seal(const struct cf_device *d, uint8_t role, int64_t time, uint8_t **out,
                         size_t *len) CF_MUST_CHECK;
/*
 * cf_join_request_open() - parse a request and check its self-signature.
 * 0, CF_EFORMAT, CF_EVERSION, CF_ETRUNC or CF_EAUTH.
 */
int cf_join_request_open(const uint8_t *obj, size_t len, struct cf_join_request *req) CF_MUST_CHECK;
/* cf_pairing_code() - the 80-bit code of a device's keys, "XXXX-XXXX-XXXX-XXXX". */
void cf_pairing_code(const uint8_t sign_pk[static CF_SIGN_PK_BYTES],
                     const uint8_t box_pk[static CF_BOX_PK_BYTES],
                     char out[static CF_PAIRING_CODE_BYTES]);
/* cf_pairing_code_equal() - compare codes ignoring case, '-' and spaces, O/0, I/L/1. */
bool cf_pairing_code_equal(const char *a, const char *b);

#endif
