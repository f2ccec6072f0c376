/*
 * fs.c - Linux specifics: extended attributes, SEEK_DATA/SEEK_HOLE, O_NOATIME, O_DIRECT.
 * _GNU_SOURCE is defined here only, because these calls are Linux's, not POSIX's.
 */
#define _GNU_SOURCE 1

#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../base/base.h"
#include "../tree/tree.h"

#define XATTR_LIST_MAX_BYTES 65536

void
cf_fs_xattrs_free(struct cf_xattr *x, size_t n)
{
	if (x == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		cf_free(x[i].name);
		cf_free(x[i].value);
	}
	cf_free(x);
}

int
cf_fs_xattrs_dup(const struct cf_xattr *x, size_t n, struct cf_xattr **out)
{
	struct cf_xattr *v = NULL;

	*out = NULL;
	if (n == 0)
		return 0;
	if ((v = cf_calloc(n, sizeof(*v))) == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i].name = cf_memdup(x[i].name, x[i].name_len);
		v[i].name_len = x[i].name_len;
		v[i].value = x[i].value_len > 0 ? cf_memdup(x[i].value, x[i].value_len) : NULL;
		v[i].value_len = x[i].value_len;
		if (v[i].name == NULL || (x[i].value_len > 0 && v[i].value == NULL)) {
			cf_fs_xattrs_free(v, n);
			return CF_ENOMEM;
		}
	}
	*out = v;
	return 0;
}

static int
xattr_cmp(const void *a, const void *b)
{
	const struct cf_xattr *x = a;
	const struct cf_xattr *y = b;

	return cf_name_cmp(x->name, x->name_len, y->name, y->name_len);
}

/* Read the value of attribute @name into @x. */
static int
read_value(int fd, const char *name, struct cf_xattr *x)
{
	uint8_t buf[CF_XATTR_VALUE_MAX];
	ssize_t n = fgetxattr(fd, name, buf, sizeof(buf));

	if (n < 0)
		return errno == ERANGE ? cf_err_set(CF_ETOOBIG, "attribute '%s' is too large", name)
		                       : cf_err_set(CF_ESYS, "cannot read attribute '%s'", name);
	if ((x->name = cf_memdup(name, strlen(name))) == NULL)
		return CF_ENOMEM;
	x->name_len = strlen(name);
	if (n > 0 && (x->value = cf_memdup(buf, (size_t)n)) == NULL)
		return CF_ENOMEM;
	x->value_len = (size_t)n;
	return 0;
}

int
cf_fs_read_xattrs(int fd, struct cf_xattr **out, size_t *n)
{
	char list[XATTR_LIST_MAX_BYTES];
	struct cf_xattr *v = NULL;
	ssize_t len = flistxattr(fd, list, sizeof(list));
	size_t count = 0;
	size_t i = 0;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (len < 0)
		return errno == ENOTSUP || errno == EPERM
		               ? 0
		               : cf_err_set(CF_ESYS, "cannot list attributes");
	for (ssize_t p = 0; p < len; p += (ssize_t)strlen(list + p) + 1)
		count++;
	if (count == 0)
		return 0;
	if (count > CF_XATTR_MAX_COUNT)
		return cf_err_set(CF_ETOOBIG, "too many extended attributes");
	if ((v = cf_calloc(count, sizeof(*v))) == NULL)
		return CF_ENOMEM;
	for (ssize_t p = 0; p < len && i < count; p += (ssize_t)strlen(list + p) + 1) {
		if (strlen(list + p) == 0 || strlen(list + p) > CF_NAME_MAX)
			continue;
		rc = read_value(fd, list + p, &v[i]);
		if (rc == CF_ESYS && errno == ENODATA) /* removed meanwhile */
			continue;
		if (rc != 0)
			goto out;
		i++;
	}
	qsort(v, i, sizeof(*v), xattr_cmp);
	*out = v;
	*n = i;
	v = NULL;
out:
	cf_fs_xattrs_free(v, count);
	return rc;
}

int
cf_fs_write_xattrs(int fd, const struct cf_xattr *x, size_t n)
{
	char name[CF_NAME_MAX + 1];
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		memcpy(name, x[i].name, x[i].name_len);
		name[x[i].name_len] = '\0';
		if (fsetxattr(fd, name, x[i].value != NULL ? x[i].value : (const uint8_t *)"",
		              x[i].value_len, 0) != 0 &&
		    rc == 0)
			rc = cf_err_set(CF_ESYS, "cannot set attribute '%s'", name);
	}
	return rc;
}

int
cf_fs_open_noatime(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME | O_NONBLOCK);

	if (fd < 0 && errno == EPERM)
		fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	return fd;
}

int
cf_fs_next_data(int fd, uint64_t off, uint64_t size, uint64_t *start, uint64_t *end)
{
	off_t s;
	off_t e;

	if (off >= size)
		return CF_ENOENT;
	s = lseek(fd, (off_t)off, SEEK_DATA);
	if (s < 0)
		return errno == ENXIO ? CF_ENOENT : cf_err_set(CF_ESYS, "cannot seek");
	e = lseek(fd, s, SEEK_HOLE);
	if (e < 0)
		return cf_err_set(CF_ESYS, "cannot seek");
	*start = (uint64_t)s;
	*end = (uint64_t)e < size ? (uint64_t)e : size;
	if (*start >= size)
		return CF_ENOENT;
	return 0;
}

void
cf_fs_user_name(uint32_t uid, char *out, size_t cap)
{
	char buf[4096];
	struct passwd pw;
	struct passwd *res = NULL;

	out[0] = '\0';
	if (getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
		(void)snprintf(out, cap, "%s", res->pw_name);
}

void
cf_fs_group_name(uint32_t gid, char *out, size_t cap)
{
	char buf[4096];
	struct group gr;
	struct group *res = NULL;

	out[0] = '\0';
	if (getgrgid_r((gid_t)gid, &gr, buf, sizeof(buf), &res) == 0 && res != NULL)
		(void)snprintf(out, cap, "%s", res->gr_name);
}

int
cf_fs_set_direct(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, on ? fl | O_DIRECT : fl & ~O_DIRECT);
}

/* The component walk of cf_fs_open_beneath(), for kernels without openat2. */
static int
open_walk(int dfd, const char *rel, int flags)
{
	char part[CF_NAME_MAX + 1];
	int fd = dup(dfd);

	for (const char *p = rel; fd >= 0;) {
		const char *slash = strchr(p, '/');
		size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);
		int next;

		if (n == 0 || n > CF_NAME_MAX || (n <= 2 && strncmp(p, "..", n) == 0)) {
			(void)close(fd);
			errno = EINVAL;
			return -1;
		}
		memcpy(part, p, n);
		part[n] = '\0';
		next = slash != NULL
		               ? openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
		               : openat(fd, part, flags | O_NOFOLLOW);
		(void)close(fd);
		fd = next;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	return fd;
}

int
cf_fs_open_beneath(int dfd, const char *rel, int flags)
{
	struct open_how how;
	long fd;

	memset(&how, 0, sizeof(how));
	how.flags = (__u64)(unsigned int)(flags | O_NOFOLLOW);
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	fd = syscall(SYS_openat2, dfd, rel, &how, sizeof(how));
	if (fd >= 0 ||
	    (errno != ENOSYS && errno != EPERM && errno != E2BIG && errno != ENAMETOOLONG))
		return (int)fd;
	/* no openat2 (before Linux 5.6), filtered, or a path over PATH_MAX */
	return open_walk(dfd, rel, flags);
}

int
cf_fs_open_anon(const char *dir)
{
	static const char tmpl[] = "/coffer-XXXXXX";
	size_t n = strlen(dir);
	char *path = NULL;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	if ((path = cf_malloc(n + sizeof(tmpl))) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	memcpy(path, dir, n);
	memcpy(path + n, tmpl, sizeof(tmpl));
	if ((fd = mkostemp(path, O_CLOEXEC)) >= 0)
		(void)unlink(path);
	cf_free(path);
	return fd;
}

static void
whole_file(struct flock *fl)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = F_WRLCK;
	fl->l_whence = SEEK_SET;
}

int
cf_fs_lock_ofd(int fd)
{
	struct flock fl;

	whole_file(&fl);
	return fcntl(fd, F_OFD_SETLK, &fl);
}

bool
cf_fs_locked_ofd(int fd)
{
	struct flock fl;

	whole_file(&fl);
	return fcntl(fd, F_OFD_GETLK, &fl) != 0 || fl.l_type != F_UNLCK;
}
