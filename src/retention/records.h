/*
 * records.h - forget records and prune records (docs/format.md 16.1, 16.3): signed, clear
 * objects that let every device tell a forgotten snapshot from a withheld one and keep
 * backups away from packs a prune is about to delete.
 */
#ifndef CF_RECORDS_H
#define CF_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "../base/compat.h"
#include "../crypto/crypto.h"

#define CF_FORGET_KIND        8
#define CF_PRUNE_KIND         9
#define CF_FORGET_MAX_ENTRIES 65536u
#define CF_FORGET_ENTRY_BYTES 104u
#define CF_FORGET_MAX_SUP     4096u
#define CF_CONDEMN_MAX_PACKS  262144u
#define CF_OBSERVE_MAX_SEQS   65536u
#define CF_RECORD_MAX_BYTES   (9u * 1024 * 1024)

struct cf_device;

/* One forgotten snapshot: the fields of its clear head that sequence checks use. */
struct cf_forget_entry {
	uint8_t device[CF_ID_BYTES];
	uint64_t seq;
	uint8_t hash[CF_HASH_BYTES];
	uint8_t prev[CF_HASH_BYTES];
};

struct cf_forget_record {
	uint8_t signer[CF_ID_BYTES];
	int64_t time;
	size_t count;
	struct cf_forget_entry *entries;
	size_t nsup;
	uint8_t (*sup)[CF_ID_BYTES]; /* ids of forget records this one supersedes */
};

enum cf_prune_type {
	CF_PRUNE_CONDEMN = 1,
	CF_PRUNE_OBSERVE = 2,
};

struct cf_device_seq {
	uint8_t device[CF_ID_BYTES];
	uint64_t seq;
};

struct cf_prune_record {
	uint8_t signer[CF_ID_BYTES];
	int64_t time;
	uint8_t type;
	uint8_t condemn[CF_ID_BYTES]; /* observe: the condemn record's id */
	size_t count;
	uint8_t (*packs)[CF_ID_BYTES]; /* condemn */
	struct cf_device_seq *seqs;    /* observe */
};

/*
 * cf_forget_record_seal() - @n entries (sorted by device then seq, no pair twice, seq >= 1)
 * and @nsup ids of records it supersedes (sorted, unique; @n + @nsup >= 1), signed by @d.
 * *@out (cf_free) is the whole object. 0, CF_EINVAL or CF_ENOMEM.
 */
int cf_forget_record_seal(const uint8_t repo_id[static 32], const struct cf_device *d, int64_t time,
                          const struct cf_forget_entry *e, size_t n,
                          const uint8_t (*sup)[CF_ID_BYTES], size_t nsup, uint8_t **out,
                          size_t *len) CF_MUST_CHECK;
/*
 * cf_forget_record_parse() - parse (not verify) a forget record. Free with
 * cf_forget_record_release(). 0, CF_EFORMAT, CF_EVERSION, CF_ETRUNC or CF_ENOMEM.
 */
int cf_forget_record_parse(const uint8_t *obj, size_t len,
                           struct cf_forget_record *out) CF_MUST_CHECK;
void cf_forget_record_release(struct cf_forget_record *f);

/*
 * cf_condemn_record_seal() / cf_observe_record_seal() - prune records signed by @d. Packs and
 * device sequences must be sorted and unique. 0, CF_EINVAL or CF_ENOMEM.
 */
int cf_condemn_record_seal(const uint8_t repo_id[static 32], const struct cf_device *d,
                           int64_t time, const uint8_t (*packs)[CF_ID_BYTES], size_t n,
                           uint8_t **out, size_t *len) CF_MUST_CHECK;
int cf_observe_record_seal(const uint8_t repo_id[static 32], const struct cf_device *d,
                           int64_t time, const uint8_t condemn[static CF_ID_BYTES],
                           const struct cf_device_seq *seqs, size_t n, uint8_t **out,
                           size_t *len) CF_MUST_CHECK;
/* cf_prune_record_parse() - parse (not verify). 0, CF_EFORMAT, CF_EVERSION, CF_ETRUNC, ENOMEM. */
int cf_prune_record_parse(const uint8_t *obj, size_t len,
                          struct cf_prune_record *out) CF_MUST_CHECK;
void cf_prune_record_release(struct cf_prune_record *p);

/*
 * cf_record_verify() - check the signature of a forget (@kind 8) or prune (@kind 9) record
 * against the signer's @pk. 0, CF_EAUTH or CF_EFORMAT.
 */
int cf_record_verify(const uint8_t *obj, size_t len, const uint8_t repo_id[static 32], uint8_t kind,
                     const uint8_t pk[static CF_SIGN_PK_BYTES]) CF_MUST_CHECK;

#endif
