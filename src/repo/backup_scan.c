/*
 * backup_scan.c - a thread that counts files and bytes ahead of the backup, so progress can
 * show an ETA. It only stats; errors are ignored (the walk reports them).
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "backup.h"

struct scan {
	struct bk *b;
	char **paths;
	size_t npaths;
	pthread_t th;
	atomic_bool stop;
};

static void
scan_dir(struct scan *s, int dfd)
{
	struct dirent *e = NULL;
	struct stat st;
	DIR *d = fdopendir(dfd);

	if (d == NULL) {
		(void)close(dfd);
		return;
	}
	while (!atomic_load(&s->stop) && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (S_ISREG(st.st_mode)) {
			atomic_fetch_add(&s->b->scan_files, 1);
			atomic_fetch_add(&s->b->scan_bytes, (uint64_t)st.st_size);
		} else if (S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd(d), e->d_name,
			                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (fd >= 0)
				scan_dir(s, fd);
		}
	}
	(void)closedir(d);
}

static void *
scan_main(void *arg)
{
	struct scan *s = arg;
	struct stat st;

	for (size_t i = 0; i < s->npaths && !atomic_load(&s->stop); i++) {
		int fd = -1;

		if (lstat(s->paths[i], &st) != 0)
			continue;
		if (S_ISREG(st.st_mode)) {
			atomic_fetch_add(&s->b->scan_files, 1);
			atomic_fetch_add(&s->b->scan_bytes, (uint64_t)st.st_size);
		} else if (S_ISDIR(st.st_mode) &&
		           (fd = open(s->paths[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
			scan_dir(s, fd);
		}
	}
	atomic_store(&s->b->scan_done, !atomic_load(&s->stop));
	return NULL;
}

int
cf_scan_start(struct bk *b, char **paths, size_t npaths, struct scan **out)
{
	struct scan *s = cf_calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return CF_ENOMEM;
	s->b = b;
	s->paths = paths;
	s->npaths = npaths;
	atomic_init(&s->stop, false);
	if (pthread_create(&s->th, NULL, scan_main, s) != 0) {
		cf_free(s);
		return 0; /* progress without totals: not worth failing a backup for */
	}
	*out = s;
	return 0;
}

void
cf_scan_stop(struct scan *s)
{
	if (s == NULL)
		return;
	atomic_store(&s->stop, true);
	pthread_join(s->th, NULL);
	cf_free(s);
}
