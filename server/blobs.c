/*
 * blobs.c - the blob store interface (blobs.h): uploads, which both stores share until
 * they are committed, and the calls each store answers in its own way.
 */
#include "blobs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "blobs_impl.h"

int
cfd_blobs_sys_err(const char *what, const char *name)
{
	return cf_err_set(errno == ENOENT ? CF_ENOENT : CF_ESYS, "cannot %s '%s'", what, name);
}

int
cfd_blobs_key_check(const struct cfd_obj_key *k)
{
	if (cf_obj_kind_dir(k->kind) == NULL || !cfd_account_name_valid(k->account) ||
	    cfd_obj_name_check(k->kind, k->name) != 0)
		return cf_err_set(CF_EINVAL, "invalid object key");
	return 0;
}

int
cfd_blobs_tmp_file(struct cfd_blobs *b, char name[static CFD_TMP_NAME_MAX], int *fd)
{
	uint8_t rnd[16];

	cf_random(rnd, sizeof(rnd));
	cf_hex(name, rnd, sizeof(rnd));
	memcpy(name + 2 * sizeof(rnd), ".tmp", sizeof(".tmp"));
	*fd = openat(b->tmp, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	return *fd >= 0 ? 0 : cfd_blobs_sys_err("create", name);
}

void
cfd_blobs_close(struct cfd_blobs *b)
{
	if (b != NULL)
		b->ops->close(b);
}

int
cfd_blobs_clean_tmp(struct cfd_blobs *b)
{
	return b->ops->clean_tmp(b);
}

int
cfd_blobs_remove_account(struct cfd_blobs *b, const char *account)
{
	if (!cfd_account_name_valid(account))
		return CF_EINVAL;
	return b->ops->remove_account(b, account);
}

int
cfd_blobs_remove(struct cfd_blobs *b, const struct cfd_obj_key *k)
{
	return b->ops->remove(b, k);
}

int
cfd_blobs_size(struct cfd_blobs *b, const struct cfd_obj_key *k, uint64_t *size)
{
	*size = 0;
	return b->ops->size(b, k, size);
}

int
cfd_blobs_read_range(struct cfd_blobs *b, const struct cfd_obj_key *k, uint64_t off, uint64_t len,
                     struct cfd_blob_part *out)
{
	*out = (struct cfd_blob_part){-1, 0, NULL, 0};
	return b->ops->read_range(b, k, off, len, out);
}

void
cfd_blob_part_release(struct cfd_blob_part *p)
{
	if (p->fd >= 0)
		(void)close(p->fd);
	cf_free(p->mem);
	*p = (struct cfd_blob_part){-1, 0, NULL, 0};
}

static int
pread_all(int fd, uint8_t *p, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, p + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return cf_err_set(CF_ESYS, "cannot read a blob");
		got += (size_t)n;
	}
	return 0;
}

int
cfd_blobs_read(struct cfd_blobs *b, const struct cfd_obj_key *k, size_t max, uint8_t **out,
               size_t *len)
{
	struct cfd_blob_part part = {-1, 0, NULL, 0};
	uint8_t *p = NULL;
	uint64_t size = 0;
	int rc;

	*out = NULL;
	*len = 0;
	if ((rc = cfd_blobs_size(b, k, &size)) != 0)
		return rc;
	if (size > max)
		return cf_err_set(CF_ETOOBIG, "'%s' is too large", k->name);
	if ((rc = cfd_blobs_read_range(b, k, 0, size, &part)) != 0)
		return rc;
	if (part.fd < 0) { /* already in memory */
		p = part.mem;
		part.mem = NULL;
	} else if ((p = cf_malloc((size_t)size)) == NULL) {
		rc = CF_ENOMEM;
		goto out;
	} else if ((rc = pread_all(part.fd, p, (size_t)size, part.off)) != 0) {
		goto out;
	}
	*out = p;
	*len = (size_t)size;
	p = NULL;
out:
	cf_free(p);
	cfd_blob_part_release(&part);
	return rc;
}

/* ---- uploads ---- */

int
cfd_upload_new(struct cfd_blobs *b, size_t keep_max, struct cfd_upload **out)
{
	struct cfd_upload *u = NULL;
	int rc;

	*out = NULL;
	u = cf_calloc(1, sizeof(*u));
	if (u == NULL)
		return CF_ENOMEM;
	u->b = b;
	u->fd = -1;
	u->keep = keep_max > 0;
	cf_buf_init(&u->kept, keep_max);
	if ((rc = cf_hash_ctx_new(&u->h)) != 0)
		goto out;
	if ((rc = cfd_blobs_tmp_file(b, u->tmpname, &u->fd)) != 0)
		goto out;
	/* past the page cache: written once, read back rarely (a restore, a scrub, S3) */
	u->stage = cf_fs_stage_new();
	cf_fs_out_start(&u->out, u->fd, u->stage);
	*out = u;
	u = NULL;
out:
	cfd_upload_free(u);
	return rc;
}

int
cfd_upload_write(struct cfd_upload *u, const uint8_t *p, size_t len)
{
	int rc;

	CF_ASSERT(!u->finished);
	if (u->size < CFD_PREFIX_BYTES) {
		size_t n = CFD_PREFIX_BYTES - (size_t)u->size;

		memcpy(u->prefix + u->size, p, n < len ? n : len);
	}
	if (u->keep && (rc = cf_buf_put(&u->kept, p, len)) != 0)
		return rc;
	if (cf_fs_out_write(&u->out, p, len) != 0)
		return cf_err_set(CF_ESYS, "cannot write an upload");
	cf_hash_ctx_update(u->h, p, len);
	u->size += len;
	return 0;
}

uint64_t
cfd_upload_size(const struct cfd_upload *u)
{
	return u->size;
}

const uint8_t *
cfd_upload_prefix(const struct cfd_upload *u)
{
	return u->size >= CFD_PREFIX_BYTES ? u->prefix : NULL;
}

const uint8_t *
cfd_upload_kept(const struct cfd_upload *u, size_t *len)
{
	*len = u->kept.len;
	return u->keep ? u->kept.p : NULL;
}

int
cfd_upload_finish(struct cfd_upload *u, uint8_t hash[static CF_HASH_BYTES])
{
	CF_ASSERT(!u->finished);
	u->finished = true;
	cf_hash_ctx_final(u->h, u->hash);
	memcpy(hash, u->hash, CF_HASH_BYTES);
	if (cf_fs_out_finish(&u->out, u->size) != 0)
		return cf_err_set(CF_ESYS, "cannot write an upload");
	if (fsync(u->fd) != 0)
		return cfd_blobs_sys_err("sync", u->tmpname);
	return 0;
}

int
cfd_upload_commit(struct cfd_upload *u, const struct cfd_obj_key *k)
{
	int rc;

	CF_ASSERT(u->finished && !u->committed);
	if ((rc = u->b->ops->commit(u->b, u, k)) != 0)
		return rc;
	u->committed = true;
	return 0;
}

void
cfd_upload_free(struct cfd_upload *u)
{
	if (u == NULL)
		return;
	if (u->fd >= 0) {
		(void)close(u->fd);
		if (!u->tmp_moved)
			(void)unlinkat(u->b->tmp, u->tmpname, 0);
	}
	cf_hash_ctx_free(u->h);
	cf_buf_release(&u->kept);
	cf_fs_stage_free(u->stage);
	cf_free(u);
}
