/*
 * pack.h - packs: encrypted blobs with an encrypted header, padded with Padmé
 * (docs/format.md section 5).
 */
#ifndef CF_PACK_H
#define CF_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/compat.h"
#include "../crypto/crypto.h"

struct cf_zctx;

#define CF_PACK_HEAD_BYTES    116
#define CF_PACK_TRAILER_BYTES 52
#define CF_PACK_ENTRY_BYTES   46
#define CF_PACK_MAX_BYTES     (128u * 1024 * 1024)
#define CF_PACK_TARGET_BYTES  (16u * 1024 * 1024)
#define CF_PACK_MAX_ENTRIES   (1u << 20)
#define CF_BLOB_OVERHEAD      CF_AEAD_OVERHEAD
#define CF_DATA_RAW_MAX       (8u * 1024 * 1024)
#define CF_TREE_RAW_MAX       (64u * 1024 * 1024)

enum cf_blob_type {
	CF_BLOB_DATA = 1,
	CF_BLOB_TREE = 2,
};

/* One blob's place in a pack; the same record appears in pack headers and index objects. */
struct cf_pack_entry {
	uint8_t type;
	uint8_t comp; /* 0 plain, 1 zstd */
	uint8_t id[CF_ID_BYTES];
	uint32_t offset;
	uint32_t stored_len;
	uint32_t raw_len;
};

/* cf_padme() - Padmé length for @len (docs/format.md 5.2). */
uint64_t cf_padme(uint64_t len);

/* cf_pack_entry_valid() - range checks of one entry (type, comp, raw_len limits). 0 or CF_EFORMAT.
 */
int cf_pack_entry_valid(const struct cf_pack_entry *e) CF_MUST_CHECK;
/* Encode/decode one 46-byte entry (shared with the index codec). */
struct cf_buf;
struct cf_reader;
int cf_pack_entry_put(struct cf_buf *b, const struct cf_pack_entry *e) CF_MUST_CHECK;
int cf_pack_entry_get(struct cf_reader *r, struct cf_pack_entry *e) CF_MUST_CHECK;
/*
 * cf_pack_entries_check() - @n entries (each already cf_pack_entry_valid()) lie in increasing
 * offset order, without overlap, inside [CF_PACK_HEAD_BYTES, @end). 0 or CF_EFORMAT.
 * cf_pack_entry_get() only decodes; parsers call both checks.
 */
int cf_pack_entries_check(const struct cf_pack_entry *e, size_t n, uint64_t end) CF_MUST_CHECK;

/*
 * Writer. Not thread-safe; one per thread. The pack key is made at cf_pack_writer_new() and
 * wrapped to @dk_pub with the repository id and epoch as associated data.
 * cf_pack_writer_new() returns 0, CF_ENOMEM, or CF_EAUTH when @dk_pub is a low-order point.
 */
struct cf_pack_writer;

int cf_pack_writer_new(const uint8_t repo_id[static 32], uint32_t epoch,
                       const uint8_t dk_pub[static CF_BOX_PK_BYTES],
                       struct cf_pack_writer **out) CF_MUST_CHECK;
void cf_pack_writer_free(struct cf_pack_writer *w);
/*
 * Streamed writers hold no pack in memory: every piece goes to a sink as soon as it is
 * sealed (the head at start, each blob as it is added, the tail at finish), front to back,
 * and the pack id is hashed on the way. A sink writes all @len bytes of @p or returns a
 * negative error (with a message) and then takes nothing more.
 */
typedef int cf_pack_sink_fn(void *arg, const uint8_t *p, size_t len);
/*
 * cf_pack_writer_new_stream() - a writer that sends its pack to @sink(@arg, ...) (borrowed
 * until the pack is finished or the writer restarted or freed). The head is sent at once.
 * Returns 0, CF_ENOMEM, CF_EAUTH (as cf_pack_writer_new()) or the sink's error.
 */
int cf_pack_writer_new_stream(const uint8_t repo_id[static 32], uint32_t epoch,
                              const uint8_t dk_pub[static CF_BOX_PK_BYTES], cf_pack_sink_fn *sink,
                              void *arg, struct cf_pack_writer **out) CF_MUST_CHECK;
/*
 * cf_pack_writer_restart() - begin a new pack with a new key on a streamed writer (after a
 * finish, or abandoning the current pack), sending it to @sink(@arg, ...). The writer keeps
 * its buffers, so a backup touches no fresh memory per pack. Returns as
 * cf_pack_writer_new_stream(); after a failure the writer only accepts another restart or
 * cf_pack_writer_free(). Calling it on an in-memory writer is misuse (abort).
 */
int cf_pack_writer_restart(struct cf_pack_writer *w, uint32_t epoch,
                           const uint8_t dk_pub[static CF_BOX_PK_BYTES], cf_pack_sink_fn *sink,
                           void *arg) CF_MUST_CHECK;
/*
 * cf_pack_writer_add() - encrypt one blob into the pack. @payload is the plaintext (@comp 0)
 * or its zstd frame (@comp 1) of a @raw_len-byte plaintext with id @id.
 * Returns 0, CF_ETOOBIG (pack would pass CF_PACK_MAX_BYTES or CF_PACK_MAX_ENTRIES; add it to a
 * new pack) or CF_ENOMEM.
 * Also CF_EINVAL, and nothing is added, when the blob breaks cf_pack_entry_valid() (type, comp,
 * raw_len limits; @comp 0 needs @len == @raw_len, @comp 1 needs 0 < @len < @raw_len, as
 * cf_compress() guarantees) or the writer is finished. On any error the writer is unchanged,
 * except a streamed writer whose sink failed (the sink's error): its pack is lost, and every
 * later add or finish returns CF_EINVAL.
 */
int cf_pack_writer_add(struct cf_pack_writer *w, uint8_t type, uint8_t comp,
                       const uint8_t id[static CF_ID_BYTES], uint32_t raw_len,
                       const uint8_t *payload, size_t len) CF_MUST_CHECK;
/* cf_pack_writer_bytes() - bytes of blobs added so far (close the pack at CF_PACK_TARGET_BYTES). */
size_t cf_pack_writer_bytes(const struct cf_pack_writer *w);
/* cf_pack_writer_count() - blobs added so far. */
size_t cf_pack_writer_count(const struct cf_pack_writer *w);
/* cf_pack_writer_entries() - view of the entries added so far (valid until the next add). */
const struct cf_pack_entry *cf_pack_writer_entries(const struct cf_pack_writer *w, size_t *n);
/*
 * cf_pack_writer_finish() - append the header, padding and trailer. On success *@pack is the
 * whole pack (caller frees with cf_free), *@len its length and @id its SHA-256. The writer
 * keeps its entries (for the index) but accepts no more blobs.
 * Returns 0, CF_EINVAL (no blobs) or CF_ENOMEM.
 * CF_EINVAL also after a successful finish; a failed finish can be retried.
 * In-memory writers only (misuse, abort, on a streamed one).
 */
int cf_pack_writer_finish(struct cf_pack_writer *w, uint8_t **pack, size_t *len,
                          uint8_t id[static CF_ID_BYTES]) CF_MUST_CHECK;
/*
 * cf_pack_writer_finish_stream() - send the header, padding and trailer to the sink; *@len
 * gets the pack's length and @id its SHA-256 (of every byte sent since the start). The
 * writer keeps its entries but accepts no more blobs until restarted. Returns 0, CF_EINVAL
 * (no blobs, finished, or a write failed before), CF_ENOMEM (retry possible) or the sink's
 * error (the pack is lost). Streamed writers only (misuse, abort, on an in-memory one).
 */
int cf_pack_writer_finish_stream(struct cf_pack_writer *w, uint64_t *len,
                                 uint8_t id[static CF_ID_BYTES]) CF_MUST_CHECK;

/*
 * Reader side.
 * cf_pack_head_epoch() - the epoch in the first CF_PACK_HEAD_BYTES bytes of a pack (checks the
 * prefix). Returns 0, CF_ETRUNC, CF_EFORMAT or CF_EVERSION.
 */
int cf_pack_head_epoch(const uint8_t *head, size_t len, uint32_t *epoch) CF_MUST_CHECK;
/*
 * cf_pack_open_key() - unwrap the pack key from the head with the epoch's data secret key.
 * Returns 0, CF_ETRUNC/CF_EFORMAT/CF_EVERSION or CF_EAUTH.
 */
int cf_pack_open_key(const uint8_t *head, size_t len, const uint8_t repo_id[static 32],
                     const struct cf_boxkey *dk, struct cf_key **pack_key) CF_MUST_CHECK;
/*
 * cf_pack_read_header() - decrypt the trailer and header of a whole pack (@pack, @len) and
 * return its entries (caller frees with cf_free). Checks every entry lies in the blob area,
 * in order and without overlap. Returns 0, CF_EAUTH, CF_EFORMAT, CF_ETOOBIG or CF_ENOMEM.
 */
int cf_pack_read_header(const uint8_t *pack, size_t len, const uint8_t repo_id[static 32],
                        const struct cf_key *pack_key, struct cf_pack_entry **entries,
                        size_t *n) CF_MUST_CHECK;
/*
 * Reading only the parts of a pack (ranged reads): cf_pack_locate_header() opens the trailer
 * (the last CF_PACK_TRAILER_BYTES bytes of a pack of @len bytes) and checks the layout;
 * cf_pack_open_header() decrypts and parses the @header_len header bytes found at
 * @header_off. Same checks and returns as cf_pack_read_header().
 */
int cf_pack_locate_header(const uint8_t trailer[static CF_PACK_TRAILER_BYTES], uint64_t len,
                          const uint8_t repo_id[static 32], const struct cf_key *key,
                          uint64_t *header_off, uint32_t *header_len) CF_MUST_CHECK;
int cf_pack_open_header(const uint8_t *header, size_t header_len, uint64_t header_off,
                        const uint8_t repo_id[static 32], const struct cf_key *pack_key,
                        struct cf_pack_entry **entries, size_t *n) CF_MUST_CHECK;
/*
 * cf_pack_header_parse() - parse a decrypted header_plain (@plain, @len) of a pack whose
 * header starts at @blob_end: count in 1 .. CF_PACK_MAX_ENTRIES, exactly count entries, each
 * valid, in order, inside [CF_PACK_HEAD_BYTES, @blob_end). *@entries (cf_free) gets *@n
 * entries. The count is checked against the bytes present before anything is allocated.
 * Used by cf_pack_read_header() and the fuzzer. Returns 0, CF_EFORMAT, CF_ETRUNC, CF_ETOOBIG
 * or CF_ENOMEM.
 */
int cf_pack_header_parse(const uint8_t *plain, size_t len, uint64_t blob_end,
                         struct cf_pack_entry **entries, size_t *n) CF_MUST_CHECK;
/*
 * cf_blob_open() - decrypt, decompress and verify one blob. @stored is the entry's
 * @e->stored_len bytes; @out receives exactly @e->raw_len bytes; the recomputed
 * MAC(@k_id, plaintext) must equal @e->id. Returns 0, CF_EAUTH (decryption or id mismatch;
 * @out wiped), CF_EFORMAT (bad compression) or CF_ETRUNC.
 */
int cf_blob_open(const struct cf_key *pack_key, const uint8_t repo_id[static 32],
                 const struct cf_pack_entry *e, const uint8_t *stored, size_t stored_len,
                 struct cf_zctx *z, const struct cf_key *k_id, uint8_t *out) CF_MUST_CHECK;

/*
 * cf_blob_open_payload() - like cf_blob_open() (decrypt, decompress, check the id), but hand
 * out the stored payload itself (the plaintext, or the zstd frame when @e->comp is 1) in a
 * new buffer (cf_free_wipe with *@len), so a blob can move to another pack without being
 * compressed again. Returns 0, CF_EAUTH, CF_EFORMAT, CF_ETRUNC or CF_ENOMEM.
 */
int cf_blob_open_payload(const struct cf_key *pack_key, const uint8_t repo_id[static 32],
                         const struct cf_pack_entry *e, const uint8_t *stored, size_t stored_len,
                         struct cf_zctx *z, const struct cf_key *k_id, uint8_t **payload,
                         size_t *len) CF_MUST_CHECK;

#endif
