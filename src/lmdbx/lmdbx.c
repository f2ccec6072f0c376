/*
 * lmdbx.c - helpers shared by the LMDB caches.
 */
#include "lmdbx.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/base.h"

bool
cf_mdb_damaged(int mrc)
{
	return mrc == MDB_INVALID || mrc == MDB_VERSION_MISMATCH || mrc == MDB_CORRUPTED ||
	       mrc == MDB_PAGE_NOTFOUND;
}

int
cf_mdb_check_size(MDB_env *env)
{
	MDB_envinfo info;
	MDB_stat st;
	struct stat sb;
	int fd = -1;

	if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &st) != 0 ||
	    mdb_env_get_fd(env, &fd) != 0 || fstat(fd, &sb) != 0 || sb.st_size < 0)
		return MDB_INVALID;
	if ((uint64_t)sb.st_size < ((uint64_t)info.me_last_pgno + 1) * st.ms_psize)
		return MDB_INVALID;
	return 0;
}

void
cf_mdb_remove(const char *path)
{
	size_t n = strlen(path) + sizeof("-lock");
	char *lock = cf_malloc(n);

	(void)unlink(path);
	if (lock != NULL) {
		(void)snprintf(lock, n, "%s-lock", path);
		(void)unlink(lock);
	}
	cf_free(lock);
}
