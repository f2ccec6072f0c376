/*
 * chain.h - the device chain: entry codec, genesis body, verification from genesis
 * (docs/format.md section 10).
 */
#ifndef CF_CHAIN_H
#define CF_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/compat.h"
#include "../chunk/chunk.h"
#include "../crypto/crypto.h"

#define CF_CHAIN_BODY_MAX  65536u
#define CF_CHAIN_MAX_BYTES (CF_CHAIN_BODY_MAX + 256u)
#define CF_DEVICE_NAME_MAX 64
#define CF_CHAIN_MAX_LEN   100000u

enum cf_chain_type {
	CF_CHAIN_GENESIS = 1,
	CF_CHAIN_ADD_DEVICE = 2,
	CF_CHAIN_REMOVE_DEVICE = 3,
	CF_CHAIN_ROTATE = 4,
	CF_CHAIN_SET_RECOVERY = 5,
	CF_CHAIN_RENAME = 6,
};

enum cf_role {
	CF_ROLE_FULL = 1,
	CF_ROLE_BACKUP_ONLY = 2,
	CF_ROLE_RECOVERY = 3,
};

struct cf_chain_entry {
	uint64_t seq;
	uint8_t prev[CF_HASH_BYTES];
	uint8_t type;
	int64_t time;
	uint8_t signer[CF_ID_BYTES];
	uint8_t *body; /* heap */
	size_t body_len;
	uint8_t sig[CF_SIG_BYTES];
	uint8_t hash[CF_HASH_BYTES]; /* H(encoded entry) */
};

struct cf_genesis {
	uint8_t repo_id[32];
	struct cf_chunk_params chunk;
	uint8_t ck_check[32];
	uint8_t dk_pub[CF_BOX_PK_BYTES];
	uint8_t dev_sign_pk[CF_SIGN_PK_BYTES];
	uint8_t dev_box_pk[CF_BOX_PK_BYTES];
	uint8_t dev_role;
	char dev_name[CF_DEVICE_NAME_MAX + 1];
	uint8_t rec_sign_pk[CF_SIGN_PK_BYTES];
	uint8_t rec_box_pk[CF_BOX_PK_BYTES];
};

/* cf_device_id_of() - device_id = H("coffer.v1.device-id" || sign_pk || box_pk). */
void cf_device_id_of(uint8_t out[static CF_ID_BYTES], const uint8_t sign_pk[static 32],
                     const uint8_t box_pk[static 32]);

/*
 * cf_device_name_valid() - true when the @len bytes at @name are a valid device name:
 * 1..CF_DEVICE_NAME_MAX bytes, none of them an ASCII control character (0x00-0x1f, 0x7f).
 * Shared by the genesis body, the device key file and cf_device_new(). Thread-safe.
 */
bool cf_device_name_valid(const char *name, size_t len);

/*
 * cf_chain_entry_seal() - fill e->sig by signing with @sk (whose device id must be e->signer)
 * and encode. *@out is the object (cf_free); e->hash is set. 0, CF_ETOOBIG or CF_ENOMEM.
 */
int cf_chain_entry_seal(struct cf_chain_entry *e, const struct cf_signkey *sk, uint8_t **out,
                        size_t *len) CF_MUST_CHECK;
/*
 * cf_chain_entry_decode() - parse an entry and compute its hash; the signature is NOT checked
 * (cf_chain_verify does, with the signer's key from the chain). *@out: free with
 * cf_chain_entry_free. Returns 0, CF_EFORMAT, CF_EVERSION, CF_ETRUNC, CF_ETOOBIG or CF_ENOMEM.
 */
int cf_chain_entry_decode(const uint8_t *p, size_t len, struct cf_chain_entry **out) CF_MUST_CHECK;
void cf_chain_entry_free(struct cf_chain_entry *e);
/*
 * cf_chain_entry_verify_sig() - check e's signature under @sign_pk. 0 or CF_EAUTH (also
 * CF_ENOMEM: the signed bytes are encoded again to be checked).
 */
int cf_chain_entry_verify_sig(const struct cf_chain_entry *e,
                              const uint8_t sign_pk[static CF_SIGN_PK_BYTES]) CF_MUST_CHECK;

/*
 * Genesis body codec. encode: *@out heap (cf_free); 0, CF_EINVAL (dev_name not valid, see
 * cf_device_name_valid) or CF_ENOMEM. decode: 0, CF_EFORMAT, CF_ETRUNC; it checks the layout
 * and the name, not the role or the chunk parameters (cf_chain_verify does); @g is zeroed on
 * failure.
 */
int cf_genesis_encode(const struct cf_genesis *g, uint8_t **out, size_t *len) CF_MUST_CHECK;
int cf_genesis_decode(const uint8_t *p, size_t len, struct cf_genesis *g) CF_MUST_CHECK;

/* A device as the verified chain knows it. */
struct cf_chain_device {
	uint8_t id[CF_ID_BYTES];
	uint8_t sign_pk[CF_SIGN_PK_BYTES];
	uint8_t box_pk[CF_BOX_PK_BYTES];
	uint8_t role;
	char name[CF_DEVICE_NAME_MAX + 1];
	uint8_t added_by[CF_ID_BYTES];
	int64_t added_at;
	bool removed;
	uint64_t last_seq; /* removed devices: their last snapshot sequence that counts */
};

/*
 * The body of an entry other than genesis (docs/format.md 10). Which fields a type uses:
 * add-device: sign_pk, box_pk, role, name; remove-device: device, last_seq; rotate: epoch,
 * dk_pub; set-recovery: sign_pk, box_pk; rename: device, name.
 */
struct cf_chain_body {
	uint8_t sign_pk[CF_SIGN_PK_BYTES];
	uint8_t box_pk[CF_BOX_PK_BYTES];
	uint8_t role;
	char name[CF_DEVICE_NAME_MAX + 1];
	uint8_t device[CF_ID_BYTES];
	uint64_t last_seq;
	uint32_t epoch;
	uint8_t dk_pub[CF_BOX_PK_BYTES];
};

/*
 * cf_chain_body_encode() / cf_chain_body_decode() - the body of an entry of @type (2..6).
 * encode: *@out heap (cf_free); 0, CF_EINVAL (bad name or role) or CF_ENOMEM. decode: 0 or
 * CF_EFORMAT / CF_ETRUNC (layout, name, role).
 */
int cf_chain_body_encode(uint8_t type, const struct cf_chain_body *b, uint8_t **out,
                         size_t *len) CF_MUST_CHECK;
int cf_chain_body_decode(uint8_t type, const uint8_t *p, size_t len,
                         struct cf_chain_body *b) CF_MUST_CHECK;

/* The state reached by verifying a chain from genesis. */
struct cf_chain_state {
	uint8_t repo_id[32];
	uint8_t fingerprint[CF_HASH_BYTES]; /* hash of genesis */
	uint8_t head[CF_HASH_BYTES];
	uint64_t head_seq;
	struct cf_chunk_params chunk;
	uint8_t ck_check[32];
	uint8_t (*dk_pub)[CF_BOX_PK_BYTES]; /* per epoch, 0 .. nepochs-1 */
	uint32_t nepochs;
	struct cf_chain_device *devices;
	size_t ndevices;
	struct cf_chain_device recovery;
	/* a device was removed after the last rotate: its epoch key must not seal new data */
	bool rotate_pending;
};

/*
 * cf_chain_verify() - verify @n decoded entries in order from genesis: seq 0..n-1, each
 * prev equal to the previous hash, each signature by a full, not removed device of the chain
 * so far (or the recovery key), the genesis signed by its own device, and every body valid.
 * *@out: free with cf_chain_state_free. Returns 0, CF_EINTEGRITY (a broken link or a
 * signer not trusted, with a message naming the entry), CF_EAUTH (bad signature),
 * CF_EFORMAT (bad body or unknown type; also an empty chain), CF_ETOOBIG (more than
 * CF_CHAIN_MAX_LEN entries) or CF_ENOMEM. Entry types 2 to 6 are refused with CF_EFORMAT
 * until their bodies are specified. cf_err_last() names the entry that failed.
 */
int cf_chain_verify(struct cf_chain_entry *const *entries, size_t n,
                    struct cf_chain_state **out) CF_MUST_CHECK;
void cf_chain_state_free(struct cf_chain_state *s);
/*
 * cf_chain_find_device() - the device with @id (removed ones included), or NULL. The recovery
 * key is not a device: it is s->recovery.
 */
const struct cf_chain_device *cf_chain_find_device(const struct cf_chain_state *s,
                                                   const uint8_t id[static CF_ID_BYTES]);

#endif
