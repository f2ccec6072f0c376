/*
 * blobs_s3.c - the S3 blob store (blobs.h): objects at s3://BUCKET/<account>/<kind>/<name>,
 * uploads in flight in a local temporary directory until they are committed.
 *
 * Write-once: a commit PUTs with If-None-Match: *, and the object's SHA-256 goes with it as
 * x-amz-meta-sha256. The metadata layer gave the caller the name (a PENDING row), so an
 * object already under it (412) is ours from before: the same bytes (an earlier attempt
 * whose answer was lost) make the commit a success; other bytes are a crash's leftover, and
 * are deleted and written again. Bodies over 32 MiB go as a multipart upload, which S3
 * cannot make conditional, so the same check is made with a HEAD beforehand.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "blobs_impl.h"
#include "s3.h"

#define SINGLE_PUT_MAX ((uint64_t)32 * 1024 * 1024)
#define PART_BYTES     ((uint64_t)16 * 1024 * 1024)
#define READ_MEM_MAX   ((uint64_t)1024 * 1024) /* larger reads are spooled to a file */
#define KEY_TEXT_MAX   (CFD_ACCOUNT_MAX + 16 + CF_OBJ_NAME_MAX + 3)

struct s3_blobs {
	struct cfd_blobs base; /* first: a struct cfd_blobs * points to an s3_blobs */
	struct cfd_s3 *s3;
};

static const struct cfd_blobs_ops s3_ops;

static struct cfd_s3 *
client(struct cfd_blobs *b)
{
	CF_ASSERT(b->ops == &s3_ops);
	return ((struct s3_blobs *)(void *)b)->s3;
}

/* "<account>/<kind>/<name>" */
static int
obj_key(const struct cfd_obj_key *k, char key[static KEY_TEXT_MAX])
{
	int rc;
	int n;

	if ((rc = cfd_blobs_key_check(k)) != 0)
		return rc;
	n = snprintf(key, KEY_TEXT_MAX, "%s/%s/%s", k->account, cf_obj_kind_dir(k->kind), k->name);
	return n > 0 && (size_t)n < KEY_TEXT_MAX ? 0 : CF_EINTERNAL;
}

/* 0: @key holds @size bytes with SHA-256 @sha; 1: other bytes; 2: nothing. */
static int
same_object(struct cfd_s3 *s, const char *key, uint64_t size, const char *sha)
{
	char meta[CFD_S3_SHA_HEX + 1];
	uint64_t got = 0;
	int rc = cfd_s3_head(s, key, &got, meta);

	if (rc == CF_ENOENT)
		return 2;
	if (rc != 0)
		return rc;
	return got == size && strcmp(meta, sha) == 0 ? 0 : 1;
}

static int
commit_single(struct cfd_s3 *s, const char *key, const struct cfd_upload *u, const char *sha)
{
	struct cfd_s3_body body;
	int rc;

	memset(&body, 0, sizeof(body));
	body.fd = u->fd;
	body.len = u->size;
	memcpy(body.sha, sha, CFD_S3_SHA_HEX + 1);
	if ((rc = cfd_s3_put(s, key, &body, sha, true)) != CF_EEXIST)
		return rc;
	if ((rc = same_object(s, key, u->size, sha)) <= 0)
		return rc;
	if (rc == 1 && (rc = cfd_s3_delete(s, key)) != 0)
		return rc;
	rc = cfd_s3_put(s, key, &body, sha, true);
	if (rc == CF_EEXIST) { /* nobody else writes under a name we hold */
		errno = 0;
		rc = cf_err_set(CF_ESYS, "'s3://%s/%s' was written again while being replaced",
		                cfd_s3_bucket(s), key);
	}
	return rc;
}

static int
commit_multipart(struct cfd_s3 *s, const char *key, const struct cfd_upload *u, const char *sha)
{
	int rc;

	if ((rc = same_object(s, key, u->size, sha)) <= 0)
		return rc;
	if (rc == 1 && (rc = cfd_s3_delete(s, key)) != 0)
		return rc;
	return cfd_s3_put_multipart(s, key, u->fd, u->size, PART_BYTES, sha);
}

static int
s3_commit(struct cfd_blobs *b, struct cfd_upload *u, const struct cfd_obj_key *k)
{
	char key[KEY_TEXT_MAX];
	char sha[CFD_S3_SHA_HEX + 1];
	int rc;

	if ((rc = obj_key(k, key)) != 0)
		return rc;
	cf_hex(sha, u->hash, sizeof(u->hash));
	if (u->size > SINGLE_PUT_MAX)
		return commit_multipart(client(b), key, u, sha);
	return commit_single(client(b), key, u, sha);
}

static int
s3_size(struct cfd_blobs *b, const struct cfd_obj_key *k, uint64_t *size)
{
	char key[KEY_TEXT_MAX];
	int rc;

	if ((rc = obj_key(k, key)) != 0)
		return rc;
	return cfd_s3_head(client(b), key, size, NULL);
}

/* A large range goes to a file nobody else can open: unlinked as soon as it is made. */
static int
spool(struct cfd_blobs *b, const char *key, uint64_t off, uint64_t len, struct cfd_blob_part *out)
{
	char name[CFD_TMP_NAME_MAX];
	int fd = -1;
	int rc;

	if ((rc = cfd_blobs_tmp_file(b, name, &fd)) != 0)
		return rc;
	if (unlinkat(b->tmp, name, 0) != 0) {
		rc = cfd_blobs_sys_err("remove", name);
		goto out;
	}
	if ((rc = cfd_s3_get_fd(client(b), key, off, len, fd)) != 0)
		goto out;
	*out = (struct cfd_blob_part){fd, 0, NULL, len};
	fd = -1;
out:
	if (fd >= 0)
		(void)close(fd);
	return rc;
}

static int
s3_read_range(struct cfd_blobs *b, const struct cfd_obj_key *k, uint64_t off, uint64_t len,
              struct cfd_blob_part *out)
{
	char key[KEY_TEXT_MAX];
	uint8_t *mem = NULL;
	int rc;

	if ((rc = obj_key(k, key)) != 0)
		return rc;
	if (len > READ_MEM_MAX)
		return spool(b, key, off, len, out);
	if ((rc = cfd_s3_get_mem(client(b), key, off, len, &mem)) != 0)
		return rc;
	*out = (struct cfd_blob_part){-1, 0, mem, len};
	return 0;
}

static int
s3_remove(struct cfd_blobs *b, const struct cfd_obj_key *k)
{
	char key[KEY_TEXT_MAX];
	int rc;

	if ((rc = obj_key(k, key)) != 0)
		return rc;
	return cfd_s3_delete(client(b), key);
}

static int
delete_listed(void *arg, const char *key, uint64_t size)
{
	(void)size;
	return cfd_s3_delete(arg, key);
}

static int
s3_remove_account(struct cfd_blobs *b, const char *account)
{
	char prefix[CFD_ACCOUNT_MAX + 2];

	(void)snprintf(prefix, sizeof(prefix), "%s/", account);
	return cfd_s3_list(client(b), prefix, delete_listed, client(b));
}

/* Only names cfd_blobs_tmp_file() makes: the directory may hold other things. */
static bool
tmp_name(const char *s)
{
	size_t n = strlen(s);

	if (n != 32 + sizeof(".tmp") - 1 || strcmp(s + 32, ".tmp") != 0)
		return false;
	for (size_t i = 0; i < 32; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

static int
s3_clean_tmp(struct cfd_blobs *b)
{
	DIR *d = NULL;
	struct dirent *e = NULL;
	int rc = 0;
	int fd = dup(b->tmp);

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			(void)close(fd);
		return cf_err_set(CF_ESYS, "cannot read the temporary directory");
	}
	/* NOLINTNEXTLINE(concurrency-mt-unsafe): this DIR stream is this call's alone */
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (tmp_name(e->d_name) && unlinkat(b->tmp, e->d_name, 0) != 0 && errno != ENOENT)
			rc = cfd_blobs_sys_err("remove", e->d_name);
	}
	(void)closedir(d);
	return rc;
}

static void
s3_close(struct cfd_blobs *base)
{
	struct s3_blobs *b = (struct s3_blobs *)(void *)base;

	if (b->base.tmp >= 0)
		(void)close(b->base.tmp);
	cfd_s3_free(b->s3);
	cf_free(b);
}

static const struct cfd_blobs_ops s3_ops = {
        .commit = s3_commit,
        .size = s3_size,
        .read_range = s3_read_range,
        .remove = s3_remove,
        .remove_account = s3_remove_account,
        .clean_tmp = s3_clean_tmp,
        .close = s3_close,
};

static int
open_tmpdir(const char *path, int *out)
{
	*out = open(path, CFD_DIR_FLAGS);
	if (*out >= 0)
		return 0;
	if (errno != ENOENT)
		return cfd_blobs_sys_err("open", path);
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return cfd_blobs_sys_err("create", path);
	*out = open(path, CFD_DIR_FLAGS);
	return *out >= 0 ? 0 : cfd_blobs_sys_err("open", path);
}

int
cfd_blobs_open_s3(const char *uri, const char *tmpdir, bool create, struct cfd_blobs **out)
{
	struct s3_blobs *b = NULL;
	int rc;

	*out = NULL;
	b = cf_calloc(1, sizeof(*b));
	if (b == NULL)
		return CF_ENOMEM;
	b->base.ops = &s3_ops;
	b->base.tmp = -1;
	if ((rc = cfd_s3_open_uri(uri, &b->s3)) != 0 ||
	    (rc = open_tmpdir(tmpdir, &b->base.tmp)) != 0)
		goto out;
	rc = create ? cfd_s3_bucket_create(b->s3) : cfd_s3_bucket_check(b->s3);
	if (rc != 0)
		goto out;
	*out = &b->base;
	b = NULL;
out:
	if (b != NULL)
		s3_close(&b->base);
	return rc;
}
