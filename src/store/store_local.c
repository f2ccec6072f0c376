/*
 * store_local.c - the local directory store (docs/format.md section 14).
 *
 * Every path is opened relative to a descriptor of the repository directory held for the
 * life of the store, so object paths stay short and a rename of the repository path while it
 * is open cannot redirect writes. The only shared state is that descriptor, which is never
 * changed after open: puts and gets from many threads need no lock, and write-once follows
 * from link(), which the kernel makes atomic.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../base/base.h"
#include "../crypto/crypto.h"
#include "../fs/fs.h"
#include "store.h"

#define GENESIS      "chain/0000000000000000"
#define TMP_DIR      "tmp"
#define RAND_BYTES   ((size_t)16)
#define REL_MAX      (sizeof("snapshots/") + 3 + CF_OBJ_NAME_MAX + 8)
#define OPEN_DIR_FL  (O_RDONLY | O_DIRECTORY | O_CLOEXEC)
#define TMP_NAME_MAX (sizeof(TMP_DIR) + 2 * RAND_BYTES + sizeof(".tmp"))
#define TMP_STALE_S  ((time_t)24 * 60 * 60)

static_assert(TMP_NAME_MAX <= CF_STORE_TMP_NAME_MAX, "temporary name fits cf_store_tmp");

struct local {
	int dfd;               /* the repository directory */
	char *path;            /* as the user named it, for messages */
	atomic_bool swept;     /* stale temporary files were removed (by the first writer) */
	atomic_bool no_direct; /* the file system refused a direct read: use the page cache */
};

/* Direct reads in local stores opened from now on (cf_store_local_direct_reads()). */
static atomic_bool direct_reads = true;

void
cf_store_local_direct_reads(bool on)
{
	atomic_store(&direct_reads, on);
}

static DIR *open_dir(const struct local *l, const char *rel);

/* The subdirectories made by create, in the order they are made. */
static const char *const repo_dirs[] = {"chain",    "keys",    "packs", "index", "snapshots",
                                        "requests", "forgets", "prune", TMP_DIR};

static bool
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/*
 * The path of an object below the repository. Packs fan out by the first two characters of
 * their id, so those must be hex digits (ids always are); a pack name that cannot fan out is
 * rejected rather than stored where no listing would find it.
 */
static int
obj_rel(char *buf, enum cf_obj_kind kind, const char *name)
{
	int n;

	if (kind == CF_OBJ_PACK) {
		if (!is_hex(name[0]) || !is_hex(name[1]))
			return cf_err_set(CF_EINVAL, "invalid pack name '%s'", name);
		n = snprintf(buf, REL_MAX, "packs/%c%c/%s", name[0], name[1], name);
	} else {
		n = snprintf(buf, REL_MAX, "%s/%s", cf_obj_kind_dir(kind), name);
	}
	if (n < 0 || (size_t)n >= REL_MAX)
		return cf_err_set(CF_EINTERNAL, "object path too long");
	return 0;
}

/* The directory part of @rel (which always has one '/'), into @buf of REL_MAX. */
static void
rel_dir(char *buf, const char *rel)
{
	const char *slash = strrchr(rel, '/');
	size_t n = slash == NULL ? 0 : (size_t)(slash - rel);

	memcpy(buf, rel, n);
	buf[n] = '\0';
}

static int
fsync_dirat(const struct local *l, const char *rel)
{
	int fd;

	fd = openat(l->dfd, rel, OPEN_DIR_FL);
	if (fd < 0)
		return cf_err_set(CF_ESYS, "cannot open '%s/%s'", l->path, rel);
	if (fsync(fd) != 0) {
		int rc = cf_err_set(CF_ESYS, "cannot sync '%s/%s'", l->path, rel);

		(void)close(fd);
		return rc;
	}
	(void)close(fd);
	return 0;
}

/* Write @p to a new temporary file @rel, durable on return; on failure nothing is left. */
static int
write_tmp(const struct local *l, const char *rel, const uint8_t *p, size_t len)
{
	int fd;
	int rc;

	fd = openat(l->dfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return cf_err_set(CF_ESYS, "cannot create '%s/%s'", l->path, rel);
	if (cf_write_all(fd, p, len) != 0 || fsync(fd) != 0) {
		rc = cf_err_set(CF_ESYS, "cannot write '%s/%s'", l->path, rel);
		(void)close(fd);
		goto fail;
	}
	if (close(fd) != 0) {
		rc = cf_err_set(CF_ESYS, "cannot write '%s/%s'", l->path, rel);
		goto fail;
	}
	return 0;
fail:
	(void)unlinkat(l->dfd, rel, 0);
	return rc;
}

/*
 * Make packs/<xx>/ if missing, and make its entry in packs/ durable. The sync runs even when
 * the directory already existed: another thread may have made it and not synced it yet, and
 * our object must not be acknowledged before its directory is on disk. One more fsync per
 * pack is nothing next to writing the pack.
 */
static int
ensure_fanout(const struct local *l, const char *dir)
{
	if (mkdirat(l->dfd, dir, 0700) != 0 && errno != EEXIST)
		return cf_err_set(CF_ESYS, "cannot create '%s/%s'", l->path, dir);
	return fsync_dirat(l, "packs");
}

/*
 * Give the durable temporary file @tmp its object name, then drop the temporary name and
 * make the new entry durable. On failure @tmp is left for the caller to remove.
 */
static int
commit_tmp(const struct local *l, enum cf_obj_kind kind, const char *name, const char *tmp)
{
	char rel[REL_MAX];
	char dir[REL_MAX];
	int rc;

	if ((rc = obj_rel(rel, kind, name)) != 0)
		return rc;
	rel_dir(dir, rel);
	if (kind == CF_OBJ_PACK && (rc = ensure_fanout(l, dir)) != 0)
		return rc;
	/* link() never replaces an existing name: this is what makes objects write-once. */
	if (linkat(l->dfd, tmp, l->dfd, rel, 0) != 0) {
		if (errno == EEXIST)
			return cf_err_set(CF_EEXIST, "object '%s/%s' already exists",
			                  cf_obj_kind_dir(kind), name);
		return cf_err_set(CF_ESYS, "cannot write '%s/%s'", l->path, rel);
	}
	(void)unlinkat(l->dfd, tmp, 0);
	return fsync_dirat(l, dir);
}

/* A fresh name tmp/<random>.tmp into @buf of TMP_NAME_MAX. */
static void
tmp_name(char *buf)
{
	uint8_t rnd[RAND_BYTES];
	char hex[2 * RAND_BYTES + 1];

	cf_random(rnd, sizeof(rnd));
	cf_hex(hex, rnd, sizeof(rnd));
	(void)snprintf(buf, TMP_NAME_MAX, "%s/%s.tmp", TMP_DIR, hex);
}

static int
local_put(void *ctx, enum cf_obj_kind kind, const char *name, const uint8_t *p, size_t len)
{
	const struct local *l = ctx;
	char rel[REL_MAX];
	char tmp[TMP_NAME_MAX];
	int rc;

	if ((rc = obj_rel(rel, kind, name)) != 0)
		return rc;
	tmp_name(tmp);
	if ((rc = write_tmp(l, tmp, p, len)) != 0)
		return rc;
	if ((rc = commit_tmp(l, kind, name, tmp)) != 0)
		(void)unlinkat(l->dfd, tmp, 0);
	return rc;
}

/*
 * Whether tmp/@name is a temporary file that no live process holds (see local_tmp_open())
 * and nobody has written for a day.
 */
static bool
tmp_stale(int dfd, const char *name, time_t now)
{
	size_t n = strlen(name);
	struct stat st;
	bool stale;
	int fd;

	if (n < sizeof(".tmp") || strcmp(name + n - 4, ".tmp") != 0)
		return false;
	/* a young file is never opened: nothing to learn, and no lock to disturb */
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_mtime >= now - TMP_STALE_S)
		return false;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	stale = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_mtime < now - TMP_STALE_S &&
	        !cf_fs_locked_ofd(fd);
	(void)close(fd);
	return stale;
}

/*
 * Remove temporary files that a crashed writer left in tmp/. Best effort: tmp/ is never
 * listed, so a leftover only costs disk space. Writers hold open-file-description locks,
 * which closing a candidate here cannot drop, even one of this process's own.
 */
static void
sweep_tmp(const struct local *l)
{
	time_t now = time(NULL);
	DIR *d = NULL;
	struct dirent *de;

	if ((d = open_dir(l, TMP_DIR)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) { /* NOLINT(concurrency-mt-unsafe): stream is ours */
		if (tmp_stale(dirfd(d), de->d_name, now))
			(void)unlinkat(dirfd(d), de->d_name, 0);
	}
	(void)closedir(d);
}

/*
 * A pack file may stay open for as long as a backup runs without adding to it, so besides
 * its age a sweeper checks the write lock taken here, which other processes see until this
 * one ends, crash or not. It is only a hint (without locks the age alone decides): if the
 * file goes anyway, its commit fails cleanly.
 */
static int
local_tmp_open(void *ctx, struct cf_store_tmp *t)
{
	struct local *l = ctx;
	size_t n = strlen(l->path) + 1 + TMP_NAME_MAX;

	if (!atomic_exchange(&l->swept, true))
		sweep_tmp(l);
	if ((t->where = cf_malloc(n)) == NULL)
		return CF_ENOMEM;
	tmp_name(t->name);
	(void)snprintf(t->where, n, "%s/%s", l->path, t->name);
	t->fd = openat(l->dfd, t->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (t->fd < 0) {
		t->name[0] = '\0';
		return cf_err_set(CF_ESYS, "cannot create '%s'", t->where);
	}
	(void)cf_fs_lock_ofd(t->fd);
	cf_store_tmp_direct(t);
	return 0;
}

/* The bytes are in the file already: make them durable and link the file into place. */
static int
local_put_tmp(void *ctx, enum cf_obj_kind kind, const char *name, struct cf_store_tmp *t,
              const uint8_t sha256[static 32])
{
	const struct local *l = ctx;
	int rc;

	(void)sha256;
	if (fsync(t->fd) != 0)
		return cf_err_set(CF_ESYS, "cannot write '%s'", t->where);
	if ((rc = commit_tmp(l, kind, name, t->name)) != 0)
		return rc;
	t->name[0] = '\0'; /* commit_tmp() removed the temporary name */
	return 0;
}

static void
local_tmp_drop(void *ctx, struct cf_store_tmp *t)
{
	const struct local *l = ctx;

	(void)unlinkat(l->dfd, t->name, 0);
	t->name[0] = '\0';
}

static int
not_found(enum cf_obj_kind kind, const char *name)
{
	return cf_err_set(CF_ENOENT, "object '%s/%s' not found", cf_obj_kind_dir(kind), name);
}

/* Open an object for reading and check it is a regular file; *@size gets its length. */
static int
open_obj(const struct local *l, enum cf_obj_kind kind, const char *name, int *fdp, uint64_t *size)
{
	char rel[REL_MAX];
	struct stat st;
	int fd;
	int rc;

	*fdp = -1;
	if ((rc = obj_rel(rel, kind, name)) != 0)
		return rc;
	fd = openat(l->dfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return not_found(kind, name);
		return cf_err_set(CF_ESYS, "cannot open '%s/%s'", l->path, rel);
	}
	if (fstat(fd, &st) != 0) {
		rc = cf_err_set(CF_ESYS, "cannot stat '%s/%s'", l->path, rel);
		(void)close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		(void)close(fd);
		errno = 0;
		return cf_err_set(CF_ESYS, "cannot read '%s/%s': not a regular file", l->path, rel);
	}
	*fdp = fd;
	*size = (uint64_t)st.st_size;
	return 0;
}

/*
 * Resolve the range [@off, @off + @len) of an object of @size bytes into a byte count before
 * anything is allocated. As store.h says, @max bounds the object, not the range: an object
 * larger than @max is refused (CF_ETOOBIG) even for a small range, so a store cannot make a
 * reader accept an object no writer could have made. A range past the end is CF_ETRUNC.
 */
static int
range_len(uint64_t size, uint64_t off, size_t len, size_t max, size_t *n)
{
	uint64_t end;

	if (size > max)
		return CF_ETOOBIG;
	if (off > size)
		return CF_ETRUNC;
	if (len == SIZE_MAX)
		end = size;
	else if (cf_u64_add(off, len, &end) != 0 || end > size)
		return CF_ETRUNC;
	*n = (size_t)(end - off);
	return 0;
}

/*
 * Open object @kind/@name for a read of [@off, @off + @len) (@len SIZE_MAX: to the end): *@fd
 * and *@n, the byte count, or the refusal of range_len() with its message.
 */
static int
open_range(const struct local *l, enum cf_obj_kind kind, const char *name, uint64_t off, size_t len,
           size_t max, int *fd, size_t *n)
{
	uint64_t size = 0;
	int rc;

	if ((rc = open_obj(l, kind, name, fd, &size)) != 0)
		return rc;
	if ((rc = range_len(size, off, len, max, n)) == 0)
		return 0;
	(void)close(*fd);
	*fd = -1;
	if (rc == CF_ETOOBIG)
		return cf_err_set(rc, "object '%s/%s' of %llu bytes is over the limit %zu",
		                  cf_obj_kind_dir(kind), name, (unsigned long long)size, max);
	return cf_err_set(rc, "object '%s/%s' of %llu bytes: range at %llu past its end",
	                  cf_obj_kind_dir(kind), name, (unsigned long long)size,
	                  (unsigned long long)off);
}

/*
 * The error of a read that failed (@rc -1, errno) or met the end early (@rc 1). Objects are
 * write-once, so a file shorter than fstat said is damage.
 */
static int
read_error(const struct local *l, enum cf_obj_kind kind, const char *name, int rc)
{
	if (rc > 0)
		return cf_err_set(CF_ETRUNC, "object '%s/%s' shrank while being read",
		                  cf_obj_kind_dir(kind), name);
	if (errno == ENOMEM)
		return CF_ENOMEM;
	return cf_err_set(CF_ESYS, "cannot read object '%s/%s' in '%s'", cf_obj_kind_dir(kind),
	                  name, l->path);
}

/*
 * pread() into @p, room for @cap bytes, from @off until at least @need of them are in (a
 * read may bring more, up to @cap). 0; 1 when the file ends first; -1 with errno. With
 * @blocks (a direct read of whole blocks), a short read that stops inside a block before
 * @need is EINVAL: the caller goes on through the page cache.
 */
static int
pread_min(int fd, uint8_t *p, size_t cap, uint64_t off, size_t need, bool blocks)
{
	size_t got = 0;

	while (got < need) {
		ssize_t n;

		if (off + got > (uint64_t)INT64_MAX) {
			errno = EOVERFLOW;
			return -1;
		}
		n = pread(fd, p + got, cap - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 1;
		got += (size_t)n;
		if (blocks && got < need && got % CF_FS_ALIGN != 0) {
			errno = EINVAL;
			return -1;
		}
	}
	return 0;
}

static int
read_at(int fd, uint8_t *p, size_t len, uint64_t off)
{
	return pread_min(fd, p, len, off, len, false);
}

/* NOLINTBEGIN(readability-function-size): its 8 parameters are the store.h contract */
static int
local_get(void *ctx, enum cf_obj_kind kind, const char *name, uint64_t off, size_t len, size_t max,
          uint8_t **out, size_t *outlen)
{
	const struct local *l = ctx;
	uint8_t *buf = NULL;
	size_t n = 0;
	int fd = -1;
	int rc;

	if ((rc = open_range(l, kind, name, off, len, max, &fd, &n)) != 0)
		return rc;
	if ((buf = cf_malloc(n)) == NULL) {
		rc = CF_ENOMEM;
		goto out;
	}
	if ((rc = read_at(fd, buf, n, off)) != 0) {
		rc = read_error(l, kind, name, rc);
		goto out;
	}
	*out = buf;
	*outlen = n;
	buf = NULL;
out:
	cf_free(buf);
	(void)close(fd);
	return rc;
}
/* NOLINTEND(readability-function-size) */

/*
 * Make @b hold at least @n bytes at a CF_FS_ALIGN boundary; its old bytes are not kept. It
 * grows at least twofold, up to CF_RBUF_KEEP: runs differ in length from read to read, and
 * a new buffer is new memory to fault in (a restore that grew its buffers to the exact size
 * allocated 192 MiB for 8 workers, 21 buffers each). A buffer grown past CF_RBUF_KEEP for one
 * large read is given back at the next smaller one.
 */
static int
rbuf_reserve(struct cf_rbuf *b, size_t n)
{
	size_t grown = b->cap > CF_RBUF_KEEP / 2 ? CF_RBUF_KEEP : 2 * b->cap;
	size_t want;
	void *p = NULL;

	if (n < CF_FS_ALIGN)
		n = CF_FS_ALIGN;
	if (b->p != NULL && b->cap >= n && (uintptr_t)b->p % CF_FS_ALIGN == 0 &&
	    (b->cap <= CF_RBUF_KEEP || n > CF_RBUF_KEEP))
		return 0;
	want = n <= CF_RBUF_KEEP && grown > n ? grown : n;
	if ((p = cf_malloc_aligned(CF_FS_ALIGN, want)) == NULL)
		return CF_ENOMEM;
	cf_rbuf_free(b);
	b->p = p;
	b->cap = want;
	return 0;
}

/*
 * Read whole blocks [@start, @end) of @fd with O_DIRECT into @b, which then holds at least
 * @need bytes from @start (the file may end inside the last block). -1 with errno EINVAL: the
 * file system takes no direct reads, read through the page cache instead.
 */
static int
read_direct(int fd, struct cf_rbuf *b, uint64_t start, uint64_t end, size_t need)
{
	if (cf_fs_set_direct(fd, true) != 0)
		return -1;
	return pread_min(fd, b->p, (size_t)(end - start), start, need, true);
}

/*
 * Read [@off, @off + @n) of @fd into @b, directly when the file system allows it; *@data:
 * where the bytes start. 0, 1 (the file ended first) or -1 (errno).
 */
static int
read_into(struct local *l, int fd, uint64_t off, size_t n, struct cf_rbuf *b, const uint8_t **data)
{
	/* off + n is at most the file's size (range_len()), so none of this wraps */
	uint64_t start = off & ~(uint64_t)(CF_FS_ALIGN - 1);
	uint64_t end = (off + n + CF_FS_ALIGN - 1) & ~(uint64_t)(CF_FS_ALIGN - 1);
	int rc;

	if (!atomic_load(&l->no_direct)) {
		if (rbuf_reserve(b, (size_t)(end - start)) != 0) {
			errno = ENOMEM;
			return -1;
		}
		rc = read_direct(fd, b, start, end, (size_t)(off + n - start));
		if (rc == 0)
			*data = b->p + (off - start);
		if (rc >= 0 || errno != EINVAL)
			return rc;
		atomic_store(&l->no_direct, true);
		if (cf_fs_set_direct(fd, false) != 0)
			return -1;
	}
	if (rbuf_reserve(b, n) != 0) {
		errno = ENOMEM;
		return -1;
	}
	if ((rc = read_at(fd, b->p, n, off)) == 0)
		*data = b->p;
	return rc;
}

/* NOLINTBEGIN(readability-function-size): its 8 parameters are the store.h contract */
static int
local_get_buf(void *ctx, enum cf_obj_kind kind, const char *name, uint64_t off, size_t len,
              size_t max, struct cf_rbuf *b, const uint8_t **data)
{
	struct local *l = ctx;
	size_t n = 0;
	int fd = -1;
	int rc;

	if ((rc = open_range(l, kind, name, off, len, max, &fd, &n)) != 0)
		return rc;
	if (n > SIZE_MAX - 2 * CF_FS_ALIGN) /* no room to widen it to whole blocks */
		rc = cf_err_set(CF_ETOOBIG, "object '%s/%s': a range of %zu bytes is too large",
		                cf_obj_kind_dir(kind), name, n);
	else if ((rc = read_into(l, fd, off, n, b, data)) != 0) {
		*data = NULL;
		rc = read_error(l, kind, name, rc);
	}
	(void)close(fd);
	return rc;
}
/* NOLINTEND(readability-function-size) */

static int
local_size(void *ctx, enum cf_obj_kind kind, const char *name, uint64_t *size)
{
	const struct local *l = ctx;
	char rel[REL_MAX];
	struct stat st;
	int rc;

	if ((rc = obj_rel(rel, kind, name)) != 0)
		return rc;
	if (fstatat(l->dfd, rel, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			return not_found(kind, name);
		return cf_err_set(CF_ESYS, "cannot stat '%s/%s'", l->path, rel);
	}
	if (!S_ISREG(st.st_mode)) {
		errno = 0;
		return cf_err_set(CF_ESYS, "cannot read '%s/%s': not a regular file", l->path, rel);
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

/* What one directory listing needs; @prefix is the fan-out directory name for packs. */
struct list_job {
	const struct local *l;
	const char *rel;
	const char *prefix;
	cf_store_list_fn *fn;
	void *arg;
};

/* Call the listing's callback for one entry, if it is a regular file with a valid name. */
static int
list_entry(const struct list_job *j, int dfd, const char *name)
{
	struct stat st;

	if (cf_obj_name_valid(name) != 0)
		return 0;
	if (j->prefix != NULL && strncmp(name, j->prefix, 2) != 0)
		return 0; /* a pack outside its fan-out directory could never be read */
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			return 0; /* deleted while we list */
		return cf_err_set(CF_ESYS, "cannot stat '%s/%s/%s'", j->l->path, j->rel, name);
	}
	if (!S_ISREG(st.st_mode))
		return 0;
	return j->fn(j->arg, name, (uint64_t)st.st_size);
}

static DIR *
open_dir(const struct local *l, const char *rel)
{
	DIR *d;
	int fd;

	fd = openat(l->dfd, rel, OPEN_DIR_FL);
	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (d == NULL) {
		int e = errno;

		(void)close(fd);
		errno = e;
	}
	return d;
}

/*
 * Each DIR stream is used by one thread only, so readdir() is safe here; glibc documents the
 * race as per stream.
 */
typedef int list_each_fn(const struct list_job *j, int dfd, const char *name);

static int
list_dir(const struct list_job *j, list_each_fn *each)
{
	DIR *d = NULL;
	int rc = 0;

	d = open_dir(j->l, j->rel);
	if (d == NULL)
		return cf_err_set(CF_ESYS, "cannot open '%s/%s'", j->l->path, j->rel);
	for (;;) {
		struct dirent *de;

		errno = 0;
		de = readdir(d); /* NOLINT(concurrency-mt-unsafe): stream is ours alone */
		if (de == NULL) {
			if (errno != 0)
				rc = cf_err_set(CF_ESYS, "cannot read '%s/%s'", j->l->path, j->rel);
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		if ((rc = each(j, dirfd(d), de->d_name)) != 0)
			break;
	}
	(void)closedir(d);
	return rc;
}

/* For packs/: descend into each two-hex-digit fan-out directory. */
static int
list_fanout(const struct list_job *j, int dfd, const char *name)
{
	char rel[sizeof("packs/xx")];
	struct list_job sub = *j;
	struct stat st;

	if (strlen(name) != 2 || !is_hex(name[0]) || !is_hex(name[1]))
		return 0;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
		return 0;
	(void)snprintf(rel, sizeof(rel), "packs/%s", name);
	sub.rel = rel;
	sub.prefix = name;
	return list_dir(&sub, list_entry);
}

static int
local_list(void *ctx, enum cf_obj_kind kind, cf_store_list_fn *fn, void *arg)
{
	struct list_job j = {
	        .l = ctx,
	        .rel = cf_obj_kind_dir(kind),
	        .prefix = NULL,
	        .fn = fn,
	        .arg = arg,
	};

	if (kind == CF_OBJ_PACK)
		return list_dir(&j, list_fanout);
	return list_dir(&j, list_entry);
}

static int
local_del(void *ctx, enum cf_obj_kind kind, const char *name)
{
	const struct local *l = ctx;
	char rel[REL_MAX];
	char dir[REL_MAX];
	int rc;

	if ((rc = obj_rel(rel, kind, name)) != 0)
		return rc;
	if (unlinkat(l->dfd, rel, 0) != 0) {
		if (errno == ENOENT)
			return not_found(kind, name);
		return cf_err_set(CF_ESYS, "cannot remove '%s/%s'", l->path, rel);
	}
	rel_dir(dir, rel);
	return fsync_dirat(l, dir);
}

static void
local_free(void *ctx)
{
	struct local *l = ctx;

	if (l == NULL)
		return;
	if (l->dfd >= 0)
		(void)close(l->dfd);
	cf_free(l->path);
	cf_free(l);
}

static const struct cf_store_ops local_ops = {
        .put = local_put,
        .get = local_get,
        .get_buf = local_get_buf,
        .size = local_size,
        .list = local_list,
        .del = local_del,
        .free = local_free,
        .tmp_open = local_tmp_open,
        .put_tmp = local_put_tmp,
        .tmp_drop = local_tmp_drop,
};

/*
 * The directory that holds @path, for making a new entry in it durable: "a/b/" -> "a",
 * "b" -> ".", "/b" -> "/". Heap, or NULL.
 */
static char *
parent_of(const char *path)
{
	size_t n = strlen(path);
	char *p;

	while (n > 1 && path[n - 1] == '/')
		n--;
	while (n > 0 && path[n - 1] != '/')
		n--;
	while (n > 1 && path[n - 1] == '/')
		n--;
	if (n == 0)
		return cf_strdup(".");
	p = cf_malloc(n + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, path, n);
	p[n] = '\0';
	return p;
}

static int
fsync_path(const char *path)
{
	int fd;
	int rc = 0;

	fd = open(path, OPEN_DIR_FL);
	if (fd < 0)
		return cf_err_set(CF_ESYS, "cannot open '%s'", path);
	if (fsync(fd) != 0)
		rc = cf_err_set(CF_ESYS, "cannot sync '%s'", path);
	(void)close(fd);
	return rc;
}

/* mkdir @path (it may exist) and make a new entry durable in its parent. */
static int
make_root(const char *path)
{
	char *parent = NULL;
	int rc;

	if (mkdir(path, 0700) != 0) {
		if (errno == EEXIST)
			return 0;
		return cf_err_set(CF_ESYS, "cannot create '%s'", path);
	}
	parent = parent_of(path);
	if (parent == NULL)
		return CF_ENOMEM;
	rc = fsync_path(parent);
	cf_free(parent);
	return rc;
}

/* Whether the directory @rel of @l holds any entry; a missing directory holds none. */
static int
dir_has_entries(const struct local *l, const char *rel, bool *has)
{
	DIR *d;
	int rc = 0;

	*has = false;
	d = open_dir(l, rel);
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		return cf_err_set(CF_ESYS, "cannot open '%s/%s'", l->path, rel);
	}
	for (;;) {
		struct dirent *de;

		errno = 0;
		de = readdir(d); /* NOLINT(concurrency-mt-unsafe): stream is ours alone */
		if (de == NULL) {
			if (errno != 0)
				rc = cf_err_set(CF_ESYS, "cannot read '%s/%s'", l->path, rel);
			break;
		}
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			*has = true;
			break;
		}
	}
	(void)closedir(d);
	return rc;
}

/*
 * Refuse to create over a repository, or over a directory whose object directories already
 * hold something (a half-deleted repository); leftovers in tmp/ do not count, so a create
 * interrupted before the first chain entry can simply be run again.
 */
static int
check_empty(const struct local *l)
{
	struct stat st;
	bool has = false;
	int rc;

	if (fstatat(l->dfd, GENESIS, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return cf_err_set(CF_EEXIST, "repository '%s' already exists", l->path);
	for (size_t i = 0; i < CF_ARRAY_LEN(repo_dirs); i++) {
		if (strcmp(repo_dirs[i], TMP_DIR) == 0)
			continue;
		if ((rc = dir_has_entries(l, repo_dirs[i], &has)) != 0)
			return rc;
		if (has)
			return cf_err_set(
			        CF_EEXIST,
			        "cannot create a repository in '%s': '%s/%s' is not empty", l->path,
			        l->path, repo_dirs[i]);
	}
	return 0;
}

static int
make_subdirs(const struct local *l)
{
	for (size_t i = 0; i < CF_ARRAY_LEN(repo_dirs); i++) {
		if (mkdirat(l->dfd, repo_dirs[i], 0700) != 0 && errno != EEXIST)
			return cf_err_set(CF_ESYS, "cannot create '%s/%s'", l->path, repo_dirs[i]);
	}
	if (fsync(l->dfd) != 0)
		return cf_err_set(CF_ESYS, "cannot sync '%s'", l->path);
	return 0;
}

/* Open the repository directory of @l; without @create, a repository must be there. */
static int
open_root(struct local *l, bool create)
{
	struct stat st;
	int rc;

	if (create && (rc = make_root(l->path)) != 0)
		return rc;
	l->dfd = open(l->path, OPEN_DIR_FL);
	if (l->dfd < 0) {
		if (!create && (errno == ENOENT || errno == ENOTDIR))
			return cf_err_set(CF_ENOREPO, "repository '%s' does not exist", l->path);
		return cf_err_set(CF_ESYS, "cannot open '%s'", l->path);
	}
	if (create) {
		if ((rc = check_empty(l)) != 0)
			return rc;
		return make_subdirs(l);
	}
	if (fstatat(l->dfd, GENESIS, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return cf_err_set(CF_ENOREPO, "repository '%s' does not exist", l->path);
		return cf_err_set(CF_ESYS, "cannot open '%s/%s'", l->path, GENESIS);
	}
	return 0;
}

int
cf_store_open_local(const char *path, bool create, struct cf_store **out)
{
	struct local *l = NULL;
	int rc;

	*out = NULL;
	l = cf_calloc(1, sizeof(*l));
	if (l == NULL)
		return CF_ENOMEM;
	l->dfd = -1;
	atomic_init(&l->swept, false);
	atomic_init(&l->no_direct, !atomic_load(&direct_reads));
	l->path = cf_strdup(path);
	if (l->path == NULL) {
		rc = CF_ENOMEM;
		goto out;
	}
	if ((rc = open_root(l, create)) != 0)
		goto out;
	if ((rc = cf_store_new(&local_ops, l, path, out)) != 0)
		goto out;
	l = NULL; /* the store owns it now */
out:
	local_free(l);
	return rc;
}
