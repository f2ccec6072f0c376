/*
 * test_fs.c - cf_fs_open_beneath(), how restore reopens its directories: a path below the
 * directory opens, in one call or, past PATH_MAX, component by component; a symbolic link
 * anywhere on the path, "..", or an absolute path is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs.h"
#include "harness.h"

#define DIR_FL (O_RDONLY | O_DIRECTORY | O_CLOEXEC)

static int
open_dir(const char *path)
{
	int fd = open(path, DIR_FL);

	CHECK(fd >= 0);
	return fd;
}

/* The inode of @fd equals that of @path. */
static bool
same_as(int fd, const char *path)
{
	struct stat a;
	struct stat b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev;
}

CF_TEST(a_path_below_opens_and_escapes_are_refused)
{
	char *dir = th_scratch("fs");
	char *a = th_join(dir, "a");
	char *ab = th_join(a, "b");
	char *link = th_join(dir, "link");
	int dfd = -1;
	int fd;

	CHECK_EQ(mkdir(a, 0700), 0);
	CHECK_EQ(mkdir(ab, 0700), 0);
	CHECK_EQ(symlink(a, link), 0);
	dfd = open_dir(dir);
	fd = cf_fs_open_beneath(dfd, "a/b", DIR_FL);
	CHECK(fd >= 0 && same_as(fd, ab));
	(void)close(fd);
	errno = 0;
	CHECK_EQ(cf_fs_open_beneath(dfd, "link/b", DIR_FL), -1); /* a link on the way */
	CHECK(errno == ELOOP || errno == EXDEV);
	CHECK_EQ(cf_fs_open_beneath(dfd, "link", DIR_FL), -1); /* a link at the end */
	CHECK_EQ(cf_fs_open_beneath(dfd, "a/../../x", DIR_FL), -1);
	CHECK_EQ(cf_fs_open_beneath(dfd, "/tmp", DIR_FL), -1);
	(void)close(dfd);
	th_rm_tree(dir);
	free(dir);
	free(a);
	free(ab);
	free(link);
}

/* Past PATH_MAX openat2 refuses the path; the walk opens it one component at a time. */
CF_TEST(a_path_past_path_max_opens_by_components)
{
	char *dir = th_scratch("fs");
	char name[201];
	char *rel = calloc(1, 25 * sizeof(name));
	int dfd = open_dir(dir);
	int cur = dup(dfd);
	int fd;

	CHECK(rel != NULL && cur >= 0);
	memset(name, 'd', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	for (int i = 0; i < 24; i++) { /* 24 * 201 bytes: well past PATH_MAX */
		int next;

		CHECK_EQ(mkdirat(cur, name, 0700), 0);
		next = openat(cur, name, DIR_FL);
		CHECK(next >= 0);
		(void)close(cur);
		cur = next;
		strcat(rel, i == 0 ? "" : "/");
		strcat(rel, name);
	}
	CHECK(strlen(rel) > PATH_MAX);
	fd = cf_fs_open_beneath(dfd, rel, DIR_FL);
	CHECK(fd >= 0);
	if (fd >= 0) {
		struct stat x;
		struct stat y;

		CHECK(fstat(fd, &x) == 0 && fstat(cur, &y) == 0 && x.st_ino == y.st_ino);
		(void)close(fd);
	}
	(void)close(cur);
	(void)close(dfd);
	th_rm_tree(dir);
	free(dir);
	free(rel);
}
