/*
 * blobs.h - cofferd's object bytes, in one of two stores behind one interface:
 *
 *   local (blobs_local.c)   DIR/blobs/<account>/<kind>/<name>  (packs: packs/<first 2 hex>/<name>)
 *                           DIR/blobs/.tmp/<random>.tmp         uploads in flight (".tmp" is no
 * account) S3 (blobs_s3.c)         s3://BUCKET/<account>/<kind>/<name>, uploads in flight in a
 * local temporary directory
 *
 * Both stores share the upload: it is written to a temporary file while its SHA-256 is
 * computed and is stored only when complete and checked (cfd_upload_commit), so no reader
 * ever sees part of an object. The local store renames the file into place, with every path
 * component opened relative to a directory descriptor with O_NOFOLLOW; the S3 store sends it
 * with a create-only PUT (a multipart upload over 32 MiB). Callers pass names already
 * validated (cfd_account_name_valid, cfd_obj_name_check); a store checks them again.
 *
 * A store is thread-safe; one upload is used by one thread at a time. Errors: 0, CF_ENOENT,
 * CF_ESYS (message names the path or the S3 key, and for S3 the HTTP status), CF_ENOMEM,
 * and as listed.
 */
#ifndef CFD_BLOBS_H
#define CFD_BLOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cofferd.h"
#include "crypto/crypto.h"

struct cfd_blobs;
struct cfd_upload;

/*
 * Some bytes of an object for a reader: @len bytes at offset @off of the file @fd when
 * @fd >= 0 (the consumer closes it), else @len bytes at @mem (the consumer cf_free()s it).
 */
struct cfd_blob_part {
	int fd;
	uint64_t off;
	uint8_t *mem;
	uint64_t len;
};

/* cfd_blobs_create() - make DIR/blobs and DIR/blobs/.tmp (mode 0700): the local store. */
int cfd_blobs_create(const char *dir) CF_MUST_CHECK;
/* cfd_blobs_open() - open the local store DIR/blobs. *@out: cfd_blobs_close(). */
int cfd_blobs_open(const char *dir, struct cfd_blobs **out) CF_MUST_CHECK;
/*
 * cfd_blobs_open_s3() - open the S3 store named by @uri:
 *
 *   s3://BUCKET?endpoint=http://127.0.0.1:7480&region=us-east-1
 *
 * endpoint (required) is http:// or https://, host and optional port, no path; region
 * defaults to us-east-1; query values may be percent-encoded. Credentials come from the
 * environment, never from @uri: the file named by COFFERD_S3_CREDENTIALS if that is set
 * (two lines, the access key id then the secret, or AWS_ACCESS_KEY_ID=... and
 * AWS_SECRET_ACCESS_KEY=... lines; it must not be accessible to group or others), else
 * AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. @tmpdir (made, mode 0700, if missing) holds
 * uploads in flight and large reads being spooled; it must be this process's alone, since
 * cfd_blobs_clean_tmp() empties it of such files. With @create the bucket is created
 * (one that exists and is ours is fine), else it must exist and be usable (checked with one
 * request). Errors: CF_EINVAL (a bad URI or credentials; the message never contains the
 * secret), CF_ENOENT (no bucket), CF_ESYS (the store refused or could not be reached).
 * *@out: cfd_blobs_close().
 */
int cfd_blobs_open_s3(const char *uri, const char *tmpdir, bool create,
                      struct cfd_blobs **out) CF_MUST_CHECK;
/* cfd_blobs_close() - close either store. NULL: no-op. */
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
 * cfd_upload_commit() - store the finished upload as @k. The caller holds the name (a
 * PENDING row), so an object already there is a leftover of a crash and is replaced. Local:
 * rename the file to @k's path (creating its directories) and fsync the directories
 * involved. S3: PUT with If-None-Match: * and the SHA-256 as x-amz-meta-sha256; an object
 * already there with the same SHA-256 is success, one with another is deleted first.
 */
int cfd_upload_commit(struct cfd_upload *u, const struct cfd_obj_key *k) CF_MUST_CHECK;
/* cfd_upload_free() - close, and remove the temporary file unless moved. NULL: no-op. */
void cfd_upload_free(struct cfd_upload *u);

/* cfd_blobs_size() - the size of an object; CF_ENOENT when it is not stored. */
int cfd_blobs_size(struct cfd_blobs *b, const struct cfd_obj_key *k, uint64_t *size) CF_MUST_CHECK;
/*
 * cfd_blobs_read_range() - @len bytes at @off of an object (the range must lie within the
 * object) as *@out, which the caller consumes or releases with cfd_blob_part_release().
 * Local: the open file at @off. S3: a ranged GET, into memory up to 1 MiB, else spooled
 * into an unlinked temporary file.
 */
int cfd_blobs_read_range(struct cfd_blobs *b, const struct cfd_obj_key *k, uint64_t off,
                         uint64_t len, struct cfd_blob_part *out) CF_MUST_CHECK;
/* cfd_blob_part_release() - close or free what @p holds; it is empty after. */
void cfd_blob_part_release(struct cfd_blob_part *p);
/* cfd_blobs_read() - the whole object into *@out (cf_free); CF_ETOOBIG over @max. */
int cfd_blobs_read(struct cfd_blobs *b, const struct cfd_obj_key *k, size_t max, uint8_t **out,
                   size_t *len) CF_MUST_CHECK;
/* cfd_blobs_remove() - remove an object; a missing one is not an error. */
int cfd_blobs_remove(struct cfd_blobs *b, const struct cfd_obj_key *k) CF_MUST_CHECK;
/* cfd_blobs_remove_account() - remove every object of @account. */
int cfd_blobs_remove_account(struct cfd_blobs *b, const char *account) CF_MUST_CHECK;

#endif
