/*
 * blobs.h - cofferd's object bytes on the local filesystem:
 *
 *   DIR/blobs/<account>/<kind>/<name>             (packs: packs/<first 2 hex>/<name>)
 *   DIR/blobs/.tmp/<random>.tmp                   uploads in flight (".tmp" is no account)
 *
 * An upload is written to a temporary file while its SHA-256 is computed, fsynced, and
 * renamed into place only when complete and checked, so no reader ever sees part of an
 * object. Every path component is opened relative to a directory descriptor with
 * O_NOFOLLOW; callers pass names already validated (cfd_account_name_valid,
 * cfd_obj_name_check), so nothing can step outside DIR/blobs.
 *
 * The blob store is thread-safe; one upload is used by one thread at a time. Errors: 0,
 * CF_ENOENT, CF_ESYS (message names the path), CF_ENOMEM, and as listed.
 */
#ifndef CFD_BLOBS_H
#define CFD_BLOBS_H

#include <stddef.h>
#include <stdint.h>

#include "cofferd.h"
#include "crypto/crypto.h"

struct cfd_blobs;
struct cfd_upload;

/* cfd_blobs_create() - make DIR/blobs and DIR/blobs/.tmp (mode 0700). */
int cfd_blobs_create(const char *dir) CF_MUST_CHECK;
/* cfd_blobs_open() - open DIR/blobs. *@out: cfd_blobs_close(). */
int cfd_blobs_open(const char *dir, struct cfd_blobs **out) CF_MUST_CHECK;
void cfd_blobs_close(struct cfd_blobs *b);
/* cfd_blobs_clean_tmp() - remove every temporary file (at start, before any upload). */
int cfd_blobs_clean_tmp(struct cfd_blobs *b) CF_MUST_CHECK;

/*
 * cfd_upload_new() - a new temporary file. With @keep_max > 0 the body is also kept in
 * memory (at most @keep_max bytes, CF_ETOOBIG past it) for objects the server parses.
 */
int cfd_upload_new(struct cfd_blobs *b, size_t keep_max, struct cfd_upload **out) CF_MUST_CHECK;
/* cfd_upload_write() - append and hash @len bytes. */
int cfd_upload_write(struct cfd_upload *u, const uint8_t *p, size_t len) CF_MUST_CHECK;
uint64_t cfd_upload_size(const struct cfd_upload *u);
/* cfd_upload_prefix() - the first 8 bytes (the object prefix), NULL when fewer arrived. */
const uint8_t *cfd_upload_prefix(const struct cfd_upload *u);
/* cfd_upload_kept() - the body kept in memory (cfd_upload_new with @keep_max), or NULL. */
const uint8_t *cfd_upload_kept(const struct cfd_upload *u, size_t *len);
/* cfd_upload_finish() - fsync the file and give its SHA-256; no write after this. */
int cfd_upload_finish(struct cfd_upload *u, uint8_t hash[static CF_HASH_BYTES]) CF_MUST_CHECK;
/*
 * cfd_upload_commit() - rename the finished file to @k's path (creating its directories) and
 * fsync the directories involved. The caller holds the name (a PENDING row), so an existing
 * file there is a leftover of a crash and is replaced.
 */
int cfd_upload_commit(struct cfd_upload *u, const struct cfd_obj_key *k) CF_MUST_CHECK;
/* cfd_upload_free() - close, and remove the temporary file unless committed. NULL: no-op. */
void cfd_upload_free(struct cfd_upload *u);

/* cfd_blobs_open_read() - an O_RDONLY descriptor (the caller closes it) and the size. */
int cfd_blobs_open_read(struct cfd_blobs *b, const struct cfd_obj_key *k, int *fd,
                        uint64_t *size) CF_MUST_CHECK;
/* cfd_blobs_read() - the whole object into *@out (cf_free); CF_ETOOBIG over @max. */
int cfd_blobs_read(struct cfd_blobs *b, const struct cfd_obj_key *k, size_t max, uint8_t **out,
                   size_t *len) CF_MUST_CHECK;
/* cfd_blobs_remove() - unlink an object; a missing one is not an error. */
int cfd_blobs_remove(struct cfd_blobs *b, const struct cfd_obj_key *k) CF_MUST_CHECK;
/* cfd_blobs_remove_account() - remove DIR/blobs/<account> and everything below it. */
int cfd_blobs_remove_account(struct cfd_blobs *b, const char *account) CF_MUST_CHECK;

#endif
