/*
 * blobs.c - object bytes on the local filesystem (blobs.h).
 */
#include "blobs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "buf/buf.h"

#define TMP_DIR      ".tmp"
#define TMP_NAME_MAX 48
#define PREFIX_BYTES 8
#define DIR_FLAGS    (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
/* account/kind/fan-out: never deeper */
#define TREE_DEPTH_MAX 4

struct cfd_blobs {
	int root; /* DIR/blobs */
	int tmp;  /* DIR/blobs/.tmp */
};

struct cfd_upload {
	struct cfd_blobs *b;
	int fd;
	char tmpname[TMP_NAME_MAX];
	struct cf_hash_ctx *h;
	uint64_t size;
	uint8_t prefix[PREFIX_BYTES];
	struct cf_buf kept;
	bool keep;
	bool finished;
	bool committed;
};

static int
sys_err(const char *what, const char *name)
{
	return cf_err_set(errno == ENOENT ? CF_ENOENT : CF_ESYS, "cannot %s '%s'", what, name);
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
	struct cfd_blobs *b = NULL;
	char path[4096];
	int n;

	*out = NULL;
	n = snprintf(path, sizeof(path), "%s/blobs", dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return cf_err_set(CF_EINVAL, "data directory name too long");
	b = cf_calloc(1, sizeof(*b));
	if (b == NULL)
		return CF_ENOMEM;
	b->tmp = -1;
	b->root = open(path, DIR_FLAGS);
	if (b->root < 0) {
		int rc = sys_err("open", path);

		cf_free(b);
		return rc;
	}
	b->tmp = openat(b->root, TMP_DIR, DIR_FLAGS);
	if (b->tmp < 0) {
		int rc = sys_err("open", TMP_DIR);

		cfd_blobs_close(b);
		return rc;
	}
	*out = b;
	return 0;
}

void
cfd_blobs_close(struct cfd_blobs *b)
{
	if (b == NULL)
		return;
	if (b->tmp >= 0)
		(void)close(b->tmp);
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
	int fd = openat(parent, name, DIR_FLAGS);
	int rc;

	if (fd < 0)
		return errno == ENOENT ? 0 : sys_err("open", name);
	rc = clear_dir(fd, depth);
	(void)close(fd);
	if (rc == 0 && unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
		rc = sys_err("remove", name);
	return rc;
}

int
cfd_blobs_clean_tmp(struct cfd_blobs *b)
{
	return clear_dir(b->tmp, 0);
}

int
cfd_blobs_remove_account(struct cfd_blobs *b, const char *account)
{
	if (!cfd_account_name_valid(account))
		return CF_EINVAL;
	return remove_tree(b->root, account, TREE_DEPTH_MAX);
}

/* ---- paths ---- */

/* Open (with @create: make first) the directory @name under @parent; fsync @parent if made. */
static int
open_subdir(int parent, const char *name, bool create, int *out)
{
	*out = openat(parent, name, DIR_FLAGS);
	if (*out >= 0)
		return 0;
	if (errno != ENOENT || !create)
		return sys_err("open", name);
	if (mkdirat(parent, name, 0700) != 0 && errno != EEXIST)
		return sys_err("create", name);
	if (fsync(parent) != 0)
		return sys_err("sync the parent of", name);
	*out = openat(parent, name, DIR_FLAGS);
	return *out >= 0 ? 0 : sys_err("open", name);
}

/* The directory holding @k: account, kind, and for packs the two-hex-digit fan-out. */
static int
open_obj_dir(struct cfd_blobs *b, const struct cfd_obj_key *k, bool create, int *out)
{
	const char *kind = cf_obj_kind_dir(k->kind);
	char fan[3] = {0};
	int a = -1;
	int d = -1;
	int rc;

	*out = -1;
	if (kind == NULL || !cfd_account_name_valid(k->account) ||
	    cfd_obj_name_check(k->kind, k->name) != 0)
		return cf_err_set(CF_EINVAL, "invalid object key");
	if ((rc = open_subdir(b->root, k->account, create, &a)) != 0)
		goto out;
	if ((rc = open_subdir(a, kind, create, &d)) != 0)
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

int
cfd_blobs_open_read(struct cfd_blobs *b, const struct cfd_obj_key *k, int *fd, uint64_t *size)
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
read_all(int fd, uint8_t *p, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

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
	uint8_t *p = NULL;
	uint64_t size = 0;
	int fd = -1;
	int rc;

	*out = NULL;
	*len = 0;
	if ((rc = cfd_blobs_open_read(b, k, &fd, &size)) != 0)
		return rc;
	if (size > max) {
		rc = cf_err_set(CF_ETOOBIG, "'%s' is too large", k->name);
		goto out;
	}
	p = cf_malloc((size_t)size);
	if (p == NULL) {
		rc = CF_ENOMEM;
		goto out;
	}
	if ((rc = read_all(fd, p, (size_t)size)) != 0)
		goto out;
	*out = p;
	*len = (size_t)size;
	p = NULL;
out:
	cf_free(p);
	(void)close(fd);
	return rc;
}

int
cfd_blobs_remove(struct cfd_blobs *b, const struct cfd_obj_key *k)
{
	int dir = -1;
	int rc;

	if ((rc = open_obj_dir(b, k, false, &dir)) != 0)
		return rc == CF_ENOENT ? 0 : rc;
	if (unlinkat(dir, k->name, 0) != 0 && errno != ENOENT)
		rc = sys_err("remove", k->name);
	else if (fsync(dir) != 0)
		rc = sys_err("sync the directory of", k->name);
	(void)close(dir);
	return rc;
}

/* ---- uploads ---- */

int
cfd_upload_new(struct cfd_blobs *b, size_t keep_max, struct cfd_upload **out)
{
	struct cfd_upload *u = NULL;
	uint8_t rnd[16];
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
	cf_random(rnd, sizeof(rnd));
	cf_hex(u->tmpname, rnd, sizeof(rnd));
	memcpy(u->tmpname + 2 * sizeof(rnd), ".tmp", sizeof(".tmp"));
	u->fd = openat(b->tmp, u->tmpname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	               0600);
	if (u->fd < 0) {
		rc = sys_err("create", u->tmpname);
		goto out;
	}
	*out = u;
	u = NULL;
out:
	cfd_upload_free(u);
	return rc;
}

static int
write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return cf_err_set(CF_ESYS, "cannot write an upload");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
cfd_upload_write(struct cfd_upload *u, const uint8_t *p, size_t len)
{
	int rc;

	CF_ASSERT(!u->finished);
	if (u->size < PREFIX_BYTES) {
		size_t n = PREFIX_BYTES - (size_t)u->size;

		memcpy(u->prefix + u->size, p, n < len ? n : len);
	}
	if (u->keep && (rc = cf_buf_put(&u->kept, p, len)) != 0)
		return rc;
	if ((rc = write_all(u->fd, p, len)) != 0)
		return rc;
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
	return u->size >= PREFIX_BYTES ? u->prefix : NULL;
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
	cf_hash_ctx_final(u->h, hash);
	if (fsync(u->fd) != 0)
		return sys_err("sync", u->tmpname);
	return 0;
}

int
cfd_upload_commit(struct cfd_upload *u, const struct cfd_obj_key *k)
{
	int dir = -1;
	int rc;

	CF_ASSERT(u->finished && !u->committed);
	if ((rc = open_obj_dir(u->b, k, true, &dir)) != 0)
		return rc;
	if (renameat(u->b->tmp, u->tmpname, dir, k->name) != 0) {
		rc = sys_err("store", k->name);
		goto out;
	}
	u->committed = true;
	if (fsync(dir) != 0)
		rc = sys_err("sync the directory of", k->name);
out:
	(void)close(dir);
	return rc;
}

void
cfd_upload_free(struct cfd_upload *u)
{
	if (u == NULL)
		return;
	if (u->fd >= 0) {
		(void)close(u->fd);
		if (!u->committed)
			(void)unlinkat(u->b->tmp, u->tmpname, 0);
	}
	cf_hash_ctx_free(u->h);
	cf_buf_release(&u->kept);
	cf_free(u);
}
