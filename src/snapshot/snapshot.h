/*
 * snapshot.h - snapshot objects: clear header, wrapped key, encrypted body, device signature
 * (docs/format.md section 8).
 */
#ifndef CF_SNAPSHOT_H
#define CF_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "../base/compat.h"
#include "../crypto/crypto.h"

#define CF_SNAPSHOT_HEAD_BYTES 84
#define CF_SNAPSHOT_MAX_BYTES  (1u << 20)
#define CF_SNAPSHOT_MAX_PATHS  4096
#define CF_SNAPSHOT_PATH_MAX   4095
#define CF_SNAPSHOT_MAX_TAGS   256
#define CF_SNAPSHOT_TAG_MAX    255
#define CF_SNAPSHOT_TEXT_MAX   4095 /* host and username */
/* Head, wrapped key, nonce, AEAD tag and signature: an object with an empty body. */
#define CF_SNAPSHOT_MIN_BYTES (CF_SNAPSHOT_HEAD_BYTES + 104 + 24 + 16 + 64)

struct cf_snapshot_head {
	uint32_t epoch;
	uint8_t device[CF_ID_BYTES];
	uint64_t seq;
	uint8_t prev[CF_HASH_BYTES];
};

struct cf_snapshot_stats {
	uint64_t files_new;
	uint64_t files_changed;
	uint64_t files_unmodified;
	uint64_t dirs;
	uint64_t data_added;
	uint64_t total_bytes;
	uint64_t duration_ns;
};

/*
 * A decoded snapshot. Strings are NUL-terminated heap copies (a NUL inside a stored string is
 * a format error); all owned by the snapshot.
 */
struct cf_snapshot {
	struct cf_snapshot_head head;
	uint8_t id[CF_ID_BYTES]; /* H(object), set by seal and open */
	int64_t time_s;
	uint32_t time_ns;
	char *host;
	char *username;
	char **paths;
	size_t npaths;
	char **tags;
	size_t ntags;
	uint8_t tree[CF_ID_BYTES];
	uint8_t parent[CF_ID_BYTES]; /* zeros: none */
	struct cf_snapshot_stats stats;
};

/* cf_snapshot_new() - an empty snapshot to fill in. 0 or CF_ENOMEM. */
int cf_snapshot_new(struct cf_snapshot **out) CF_MUST_CHECK;
void cf_snapshot_free(struct cf_snapshot *s);
/* cf_snapshot_add_path() / cf_snapshot_add_tag() - append a copy. 0, CF_ETOOBIG or CF_ENOMEM. */
int cf_snapshot_add_path(struct cf_snapshot *s, const char *path) CF_MUST_CHECK;
int cf_snapshot_add_tag(struct cf_snapshot *s, const char *tag) CF_MUST_CHECK;

/*
 * cf_snapshot_seal() - encode, encrypt to @dk_pub (epoch s->head.epoch) and sign with @sk.
 * Sets s->id. *@out is the object (cf_free). Returns 0, CF_EINVAL (a field out of range),
 * CF_ETOOBIG or CF_ENOMEM.
 */
int cf_snapshot_seal(struct cf_snapshot *s, const uint8_t repo_id[static 32],
                     const uint8_t dk_pub[static CF_BOX_PK_BYTES], const struct cf_signkey *sk,
                     uint8_t **out, size_t *len) CF_MUST_CHECK;
/*
 * cf_snapshot_read_head() - parse the clear header of an object (no key needed).
 * Returns 0, CF_ETRUNC, CF_EFORMAT, CF_EVERSION or CF_ETOOBIG.
 */
int cf_snapshot_read_head(const uint8_t *obj, size_t len, struct cf_snapshot_head *h) CF_MUST_CHECK;
/*
 * cf_snapshot_verify() - check the device signature with @sign_pk. 0, CF_EAUTH or CF_EFORMAT
 * (any envelope cf_snapshot_read_head() refuses). Also CF_ENOMEM: the signed message is
 * assembled in memory.
 */
int cf_snapshot_verify(const uint8_t *obj, size_t len, const uint8_t repo_id[static 32],
                       const uint8_t sign_pk[static CF_SIGN_PK_BYTES]) CF_MUST_CHECK;
/*
 * cf_snapshot_open() - decrypt with the epoch's data secret key and parse. Does not check the
 * signature (call cf_snapshot_verify first). Returns 0, CF_EAUTH, CF_EFORMAT, CF_EVERSION,
 * CF_ETRUNC, CF_ETOOBIG or CF_ENOMEM.
 */
int cf_snapshot_open(const uint8_t *obj, size_t len, const uint8_t repo_id[static 32],
                     const struct cf_boxkey *dk, struct cf_snapshot **out) CF_MUST_CHECK;

/*
 * Internal: the snapshot body (snap_plain of docs/format.md 8) without the envelope, for
 * cf_snapshot_seal()/cf_snapshot_open(), tests and the fuzzer.
 *
 * cf_snapshot_encode_plain() - the body bytes of @s in *@out (wipe and free with
 * cf_free_wipe(*@out, *@len)). Head fields are not part of the body and are not checked.
 * Returns 0, CF_EINVAL (a field out of range: no path or more than CF_SNAPSHOT_MAX_PATHS, a
 * path empty, relative or over CF_SNAPSHOT_PATH_MAX, a tag empty or over CF_SNAPSHOT_TAG_MAX,
 * more than CF_SNAPSHOT_MAX_TAGS tags, host or username over CF_SNAPSHOT_TEXT_MAX,
 * time_ns >= 10^9), CF_ETOOBIG (the object would exceed CF_SNAPSHOT_MAX_BYTES) or CF_ENOMEM.
 */
int cf_snapshot_encode_plain(const struct cf_snapshot *s, uint8_t **out, size_t *len) CF_MUST_CHECK;
/*
 * cf_snapshot_parse_plain() - parse body bytes (already authenticated) into a new snapshot
 * whose head and id are zero. Returns 0, CF_EFORMAT, CF_ETRUNC, CF_ETOOBIG or CF_ENOMEM.
 */
int cf_snapshot_parse_plain(const uint8_t *p, size_t len, struct cf_snapshot **out) CF_MUST_CHECK;

#endif
