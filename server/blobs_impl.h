/*
 * blobs_impl.h - what the two blob stores (blobs_local.c, blobs_s3.c) share with the
 * interface in blobs.c: the operations each store provides, the common part of a store,
 * and the upload, which is the same for both until it is committed.
 */
#ifndef CFD_BLOBS_IMPL_H
#define CFD_BLOBS_IMPL_H

#include "blobs.h"
#include "buf/buf.h"
#include "fs/fs.h"

#define CFD_TMP_NAME_MAX 48
#define CFD_PREFIX_BYTES 8
#define CFD_DIR_FLAGS    (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

struct cfd_blobs_ops {
	/* store the finished upload @u as @k (u->tmp_moved when its file went with it) */
	int (*commit)(struct cfd_blobs *b, struct cfd_upload *u, const struct cfd_obj_key *k);
	int (*size)(struct cfd_blobs *b, const struct cfd_obj_key *k, uint64_t *size);
	int (*read_range)(struct cfd_blobs *b, const struct cfd_obj_key *k, uint64_t off,
	                  uint64_t len, struct cfd_blob_part *out);
	int (*remove)(struct cfd_blobs *b, const struct cfd_obj_key *k);
	int (*remove_account)(struct cfd_blobs *b, const char *account);
	int (*clean_tmp)(struct cfd_blobs *b);
	/* close b->tmp and whatever else the store holds, and free it */
	void (*close)(struct cfd_blobs *b);
};

/* The first member of each store's struct. */
struct cfd_blobs {
	const struct cfd_blobs_ops *ops;
	int tmp; /* directory of uploads in flight (and of S3 spools) */
};

struct cfd_upload {
	struct cfd_blobs *b;
	int fd;               /* read-write: the S3 store reads it back */
	uint8_t *stage;       /* for direct writes; NULL: through the page cache */
	struct cf_fs_out out; /* the upload written into fd */
	char tmpname[CFD_TMP_NAME_MAX];
	struct cf_hash_ctx *h;
	uint64_t size;
	uint8_t hash[CF_HASH_BYTES]; /* set by cfd_upload_finish() */
	uint8_t prefix[CFD_PREFIX_BYTES];
	struct cf_buf kept;
	bool keep;
	bool finished;
	bool committed;
	bool tmp_moved; /* the file is no longer in the temporary directory */
};

/*
 * cfd_blobs_tmp_file() - create a new file with a random name ("<32 hex>.tmp") in b->tmp,
 * read-write, mode 0600. @name receives the name.
 */
int cfd_blobs_tmp_file(struct cfd_blobs *b, char name[static CFD_TMP_NAME_MAX],
                       int *fd) CF_MUST_CHECK;
/* cfd_blobs_sys_err() - CF_ENOENT or CF_ESYS (by errno): "cannot @what '@name'". */
int cfd_blobs_sys_err(const char *what, const char *name);
/* cfd_blobs_key_check() - the key's kind, account and name are valid. 0 or CF_EINVAL. */
int cfd_blobs_key_check(const struct cfd_obj_key *k) CF_MUST_CHECK;

#endif
