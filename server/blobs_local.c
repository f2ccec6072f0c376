/*
 * blobs_local.c - the local blob store: object bytes as files under DIR/blobs (blobs.h).
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

#define TMP_DIR ".tmp"
/* account/kind/fan-out: never deeper */
#define TREE_DEPTH_MAX 4

struct local_blobs {
	struct cfd_blobs base; /* first: a struct cfd_blobs * points to a local_blobs */
	int root;              /* DIR/blobs */
};

static const struct cfd_blobs_ops local_ops;

static int
sys_err(const char *what, const char *name)
{
	return cfd_blobs_sys_err(what, name);
}

static struct local_blobs *
local(struct cfd_blobs *b)
{
	CF_ASSERT(b->ops == &local_ops);
	return (struct local_blobs *)(void *)b;
}

int
cfd_blobs_create(const char *dir)
{
	char path[4096];
	int n;

	n = snprintf(path, sizeof(path), "%s/blobs", dir);
	if (n < 0 || (size_t)n + sizeof("/" TMP_DIR) > sizeof(path))
		return cf_err_set(CF_EINVAL, "data directory name too long");
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return sys_err("create", path);
	(void)snprintf(path, sizeof(path), "%s/blobs/" TMP_DIR, dir);
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return sys_err("create", path);
	return 0;
}

int
cfd_blobs_open(const char *dir, struct cfd_blobs **out)
{
	struct local_blobs *b = NULL;
	char path[4096];
	int n;

	*out = NULL;
	n = snprintf(path, sizeof(path), "%s/blobs", dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return cf_err_set(CF_EINVAL, "data directory name too long");
	b = cf_calloc(1, sizeof(*b));
	if (b == NULL)
		return CF_ENOMEM;
	b->base.ops = &local_ops;
	b->base.tmp = -1;
	b->root = open(path, CFD_DIR_FLAGS);
	if (b->root < 0) {
		int rc = sys_err("open", path);

		cf_free(b);
		return rc;
	}
	b->base.tmp = openat(b->root, TMP_DIR, CFD_DIR_FLAGS);
	if (b->base.tmp < 0) {
		int rc = sys_err("open", TMP_DIR);

		cfd_blobs_close(&b->base);
		return rc;
	}
	*out = &b->base;
	return 0;
}

static void
local_close(struct cfd_blobs *base)
{
	struct local_blobs *b = local(base);

	if (b->base.tmp >= 0)
		(void)close(b->base.tmp);
	(void)close(b->root);
	cf_free(b);
}

static int remove_tree(int parent, const char *name, int depth);

/* Remove the entries of the open directory @fd, descending at most @depth levels. */
static int
clear_dir(int fd, int depth)
{
	DIR *d = NULL;
	struct dirent *e = NULL;
	int rc = 0;
	int dup_fd = dup(fd);

	if (dup_fd < 0 || (d = fdopendir(dup_fd)) == NULL) {
		if (dup_fd >= 0)
			(void)close(dup_fd);
		return cf_err_set(CF_ESYS, "cannot read a blob directory");
	}
	/* NOLINTNEXTLINE(concurrency-mt-unsafe): this DIR stream is this call's alone */
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(fd, e->d_name, 0) == 0 || errno == ENOENT)
			continue;
		if ((errno != EISDIR && errno != EPERM) || depth == 0) {
			rc = sys_err("remove", e->d_name);
			continue;
		}
		rc = remove_tree(fd, e->d_name, depth - 1);
	}
	(void)closedir(d);
	return rc;
}

static int
remove_tree(int parent, const char *name, int depth)
{
	int fd = openat(parent, name, CFD_DIR_FLAGS);
	int rc;

	if (fd < 0)
		return errno == ENOENT ? 0 : sys_err("open", name);
	rc = clear_dir(fd, depth);
	(void)close(fd);
	if (rc == 0 && unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
		rc = sys_err("remove", name);
	return rc;
}

static int
local_clean_tmp(struct cfd_blobs *b)
{
	return clear_dir(b->tmp, 0);
}

static int
local_remove_account(struct cfd_blobs *b, const char *account)
{
	return remove_tree(local(b)->root, account, TREE_DEPTH_MAX);
}

/* ---- paths ---- */

/* Open (with @create: make first) the directory @name under @parent; fsync @parent if made. */
static int
open_subdir(int parent, const char *name, bool create, int *out)
{
	*out = openat(parent, name, CFD_DIR_FLAGS);
	if (*out >= 0)
		return 0;
	if (errno != ENOENT || !create)
		return sys_err("open", name);
	if (mkdirat(parent, name, 0700) != 0 && errno != EEXIST)
		return sys_err("create", name);
	if (fsync(parent) != 0)
		return sys_err("sync the parent of", name);
	*out = openat(parent, name, CFD_DIR_FLAGS);
	return *out >= 0 ? 0 : sys_err("open", name);
}

/* The directory holding @k: account, kind, and for packs the two-hex-digit fan-out. */
static int
open_obj_dir(struct local_blobs *b, const struct cfd_obj_key *k, bool create, int *out)
{
	char fan[3] = {0};
	int a = -1;
	int d = -1;
	int rc;

	*out = -1;
	if ((rc = cfd_blobs_key_check(k)) != 0)
		return rc;
	if ((rc = open_subdir(b->root, k->account, create, &a)) != 0)
		goto out;
	if ((rc = open_subdir(a, cf_obj_kind_dir(k->kind), create, &d)) != 0)
		goto out;
	if (k->kind == CF_OBJ_PACK) {
		memcpy(fan, k->name, 2);
		(void)close(a);
		a = d;
		d = -1;
		if ((rc = open_subdir(a, fan, create, &d)) != 0)
			goto out;
	}
	*out = d;
	d = -1;
out:
	if (a >= 0)
		(void)close(a);
	if (d >= 0)
		(void)close(d);
	return rc;
}

/* An O_RDONLY descriptor of @k's file and its size. */
static int
open_read(struct local_blobs *b, const struct cfd_obj_key *k, int *fd, uint64_t *size)
{
	struct stat st;
	int dir = -1;
	int f = -1;
	int rc;

	*fd = -1;
	if ((rc = open_obj_dir(b, k, false, &dir)) != 0)
		return rc;
	f = openat(dir, k->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (f < 0) {
		rc = sys_err("open", k->name);
		goto out;
	}
	if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = cf_err_set(CF_ESYS, "'%s' is not a regular file", k->name);
		goto out;
	}
	*size = (uint64_t)st.st_size;
	*fd = f;
	f = -1;
out:
	if (f >= 0)
		(void)close(f);
	(void)close(dir);
	return rc;
}

static int
local_size(struct cfd_blobs *b, const struct cfd_obj_key *k, uint64_t *size)
{
	int fd = -1;
	int rc = open_read(local(b), k, &fd, size);

	if (rc == 0)
		(void)close(fd);
	return rc;
}

static int
local_read_range(struct cfd_blobs *b, const struct cfd_obj_key *k, uint64_t off, uint64_t len,
                 struct cfd_blob_part *out)
{
	uint64_t size = 0;
	int fd = -1;
	int rc;

	if ((rc = open_read(local(b), k, &fd, &size)) != 0)
		return rc;
	if (off > size || len > size - off) {
		(void)close(fd);
		return cf_err_set(CF_ESYS, "'%s' is shorter than the range asked for", k->name);
	}
	*out = (struct cfd_blob_part){fd, off, NULL, len};
	return 0;
}

static int
local_remove(struct cfd_blobs *b, const struct cfd_obj_key *k)
{
	int dir = -1;
	int rc;

	if ((rc = open_obj_dir(local(b), k, false, &dir)) != 0)
		return rc == CF_ENOENT ? 0 : rc;
	if (unlinkat(dir, k->name, 0) != 0 && errno != ENOENT)
		rc = sys_err("remove", k->name);
	else if (fsync(dir) != 0)
		rc = sys_err("sync the directory of", k->name);
	(void)close(dir);
	return rc;
}

static int
local_commit(struct cfd_blobs *b, struct cfd_upload *u, const struct cfd_obj_key *k)
{
	int dir = -1;
	int rc;

	if ((rc = open_obj_dir(local(b), k, true, &dir)) != 0)
		return rc;
	if (renameat(b->tmp, u->tmpname, dir, k->name) != 0) {
		rc = sys_err("store", k->name);
		goto out;
	}
	u->tmp_moved = true;
	if (fsync(dir) != 0)
		rc = sys_err("sync the directory of", k->name);
out:
	(void)close(dir);
	return rc;
}

static const struct cfd_blobs_ops local_ops = {
        .commit = local_commit,
        .size = local_size,
        .read_range = local_read_range,
        .remove = local_remove,
        .remove_account = local_remove_account,
        .clean_tmp = local_clean_tmp,
        .close = local_close,
};
