/*
 * index_db_env.c - the environment of the on-disk chunk index (docs/format.md 13): opening
 * the file once per process, checking and replacing a damaged one, falling back to reading
 * a file that cannot be written, the lock that serialises updates between processes, the
 * trimming of the map, and the life of a handle.
 */
#define _DEFAULT_SOURCE 1 /* madvise(MADV_DONTNEED): Linux's, not POSIX's (cf_ixdb_trim_map) */

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/base.h"
#include "index.h"
#include "index_db_impl.h"

/* 64 GiB of address space (about 600 million locations); a full map falls back to memory. */

static pthread_mutex_t envs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct env *envs;

/* ---- the map ---- */

/*
 * On every fault in a file mapping the kernel also maps up to 16 neighbouring pages that are
 * cached ("fault-around"), so each random lookup would add up to 64 KiB to this process's
 * RSS: clean page cache, shared and reclaimable, but counted, and a backup looks up every
 * chunk. Unmapping what this process has mapped (the pages stay cached; a later read faults
 * them in again) keeps the count to what the last few lookups touched. A database under
 * TRIM_MIN bytes adds at most that: it is left mapped, since faulting it in again after every
 * trim cost a restore 8 % of its CPU (page faults and madvise, in a profile).
 */
void
cf_ixdb_trim_map(const struct env *e)
{
	MDB_envinfo info;
	MDB_stat st;
	size_t len;

	if (e->map == NULL || mdb_env_info(e->env, &info) != 0 || mdb_env_stat(e->env, &st) != 0)
		return;
	len = ((size_t)info.me_last_pgno + 1) * st.ms_psize;
	if (len >= TRIM_MIN)
		(void)madvise(e->map, len, MADV_DONTNEED);
}

/*
 * LMDB does not say where it mapped the file (mdb_env_info() only with MDB_FIXEDMAP), but a
 * value read through a read-only transaction lies in its page inside the map, and every page
 * starts with its own number (LMDB's page header): the map starts that many pages earlier.
 */
void
cf_ixdb_find_map(struct env *e)
{
	MDB_val key = cf_mdb_val("coffer", 6);
	MDB_envinfo info;
	MDB_txn *t = NULL;
	MDB_stat st;
	MDB_val val;
	uintptr_t page;
	size_t pgno = 0;

	if (e->map != NULL || mdb_env_info(e->env, &info) != 0 || mdb_env_stat(e->env, &st) != 0 ||
	    mdb_txn_begin(e->env, NULL, MDB_RDONLY, &t) != 0)
		return;
	if (mdb_get(t, e->meta, &key, &val) == 0) {
		page = (uintptr_t)val.mv_data & ~((uintptr_t)st.ms_psize - 1);
		memcpy(&pgno, (const void *)page, sizeof(pgno));
		if (pgno >= 2 && pgno <= info.me_last_pgno && pgno * st.ms_psize <= page)
			e->map = (void *)(page - pgno * st.ms_psize);
	}
	mdb_txn_abort(t);
}

/* ---- the environment ---- */

static int
open_dbis(struct env *e)
{
	unsigned c = e->rdonly ? 0 : MDB_CREATE;
	unsigned dup = MDB_DUPSORT | MDB_DUPFIXED;
	MDB_txn *t = NULL;
	int mrc;

	if ((mrc = mdb_txn_begin(e->env, NULL, e->rdonly ? MDB_RDONLY : 0, &t)) != 0)
		return mrc;
	if ((mrc = mdb_dbi_open(t, "meta", c, &e->meta)) != 0 ||
	    (mrc = mdb_dbi_open(t, "objects", c, &e->objs)) != 0 ||
	    (mrc = mdb_dbi_open(t, "objpacks", c | dup, &e->objpacks)) != 0 ||
	    (mrc = mdb_dbi_open(t, "packobjs", c | dup, &e->packobjs)) != 0 ||
	    (mrc = mdb_dbi_open(t, "packs", c, &e->packs)) != 0 ||
	    (mrc = mdb_dbi_open(t, "packids", c, &e->packids)) != 0 ||
	    (mrc = mdb_dbi_open(t, "packblobs", c, &e->packblobs)) != 0 ||
	    (mrc = mdb_dbi_open(t, "blobs", c | dup, &e->blobs)) != 0) {
		mdb_txn_abort(t);
		return mrc;
	}
	return mdb_txn_commit(t);
}

static int
env_start(struct env *e, unsigned flags)
{
	unsigned all = flags | MDB_NOSUBDIR | MDB_NOTLS | MDB_NORDAHEAD;
	int mrc;

	if ((mrc = mdb_env_create(&e->env)) != 0) {
		e->env = NULL;
		return mrc;
	}
	/* MDB_NORDAHEAD: lookups are random; read-ahead would only fill memory */
	if ((mrc = mdb_env_set_mapsize(e->env, CF_MDB_MAP_BYTES)) != 0 ||
	    (mrc = mdb_env_set_maxdbs(e->env, NDBS)) != 0 ||
	    (mrc = mdb_env_open(e->env, e->path, all, 0600)) != 0 ||
	    (mrc = cf_mdb_check_size(e->env)) != 0 || (mrc = open_dbis(e)) != 0) {
		mdb_env_close(e->env);
		e->env = NULL;
	}
	return mrc;
}

/* Open the file once per process; a damaged one is replaced, a read-only one read. */
static int
env_open(struct env *e)
{
	int dead = 0;
	int mrc;

	if (e->env != NULL)
		return 0;
	e->rdonly = e->nolock = false;
	mrc = env_start(e, 0);
	if (mrc == EACCES || mrc == EROFS) {
		e->rdonly = true;
		mrc = env_start(e, MDB_RDONLY);
		if (mrc == EACCES) {
			/* LMDB writes its lock file even to read, but nothing stops us doing
			 * without it: writers are kept out by the shared lock held from now
			 * (hold_shared) */
			e->nolock = true;
			mrc = env_start(e, MDB_RDONLY | MDB_NOLOCK);
		}
	} else if (cf_mdb_damaged(mrc)) {
		cf_mdb_remove(e->path); /* a cache: rebuilt below */
		mrc = env_start(e, 0);
	}
	if (mrc != 0)
		return cf_ixdb_err(e, mrc, "cannot open");
	(void)mdb_reader_check(e->env, &dead); /* reader slots of processes that died */
	cf_ixdb_find_map(e);
	return 0;
}

static int
env_get(const char *path, struct env **out)
{
	struct env *e = NULL;
	int rc = 0;

	pthread_mutex_lock(&envs_lock);
	for (e = envs; e != NULL && strcmp(e->path, path) != 0; e = e->next)
		;
	if (e == NULL) {
		if ((e = cf_calloc(1, sizeof(*e))) == NULL ||
		    (e->path = cf_memdup(path, strlen(path) + 1)) == NULL ||
		    pthread_mutex_init(&e->sync, NULL) != 0) {
			if (e != NULL)
				cf_free(e->path);
			cf_free(e);
			e = NULL;
			rc = CF_ENOMEM;
		} else {
			e->held = -1;
			e->next = envs;
			envs = e;
		}
	}
	if (e != NULL)
		e->refs++;
	pthread_mutex_unlock(&envs_lock);
	*out = e;
	return rc;
}

static void
env_put(struct env *e)
{
	struct env **pp = NULL;

	pthread_mutex_lock(&envs_lock);
	if (--e->refs > 0) {
		pthread_mutex_unlock(&envs_lock);
		return;
	}
	for (pp = &envs; *pp != e; pp = &(*pp)->next)
		;
	*pp = e->next;
	pthread_mutex_unlock(&envs_lock);
	if (e->env != NULL)
		mdb_env_close(e->env);
	if (e->held >= 0)
		(void)close(e->held); /* writers may go on */
	pthread_mutex_destroy(&e->sync);
	cf_free(e->path);
	cf_free(e);
}

/* Serialise updates between processes: "<path>-sync", read-locked when not writable. */
static int
lock_sync(const char *path, int *fd)
{
	size_t n = strlen(path) + sizeof("-sync");
	char *lp = cf_malloc(n);
	struct flock fl;
	int rc = 0;

	*fd = -1;
	if (lp == NULL)
		return CF_ENOMEM;
	memcpy(lp, path, n - sizeof("-sync"));
	memcpy(lp + n - sizeof("-sync"), "-sync", sizeof("-sync"));
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if ((*fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 &&
	    (errno == EACCES || errno == EROFS)) {
		*fd = open(lp, O_RDONLY | O_CLOEXEC);
		fl.l_type = F_RDLCK;
	}
	if (*fd < 0) {
		rc = cf_err_set(CF_ESYS, "cannot open '%s'", lp);
		goto out;
	}
	while (fcntl(*fd, F_SETLKW, &fl) != 0) {
		if (errno != EINTR) {
			rc = cf_err_set(CF_ESYS, "cannot lock '%s'", lp);
			(void)close(*fd);
			*fd = -1;
			break;
		}
	}
out:
	cf_free(lp);
	return rc;
}

/* ---- handles ---- */

/*
 * A file read without LMDB's lock file (MDB_NOLOCK) has no reader table to keep a writer
 * from reusing the pages a snapshot reads: keep the lock on "-sync" (@fd), shared, until
 * the environment is closed, so that writers, who take it exclusively, wait until then.
 * POSIX locks belong to the process and go with any close of the file: while it is held,
 * this process neither opens nor closes "-sync" again (cf_ixdb_open()).
 */
static int
hold_shared(struct env *e, int fd)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_RDLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLK, &fl) != 0) /* a downgrade, when it was exclusive: never waits */
		return cf_err_set(CF_ESYS, "cannot lock '%s-sync'", e->path);
	e->held = fd;
	return 0;
}

/* The read snapshot every lookup of this handle uses. */
static int
take_snapshot(struct cf_ixdb *db)
{
	int mrc;

	if ((mrc = mdb_txn_begin(db->e->env, NULL, MDB_RDONLY, &db->txn)) != 0) {
		db->txn = NULL;
		return cf_ixdb_err(db->e, mrc, "cannot begin a read");
	}
	if ((mrc = mdb_cursor_open(db->txn, db->e->blobs, &db->cur)) != 0) {
		db->cur = NULL;
		return cf_ixdb_err(db->e, mrc, "cannot open a cursor");
	}
	return 0;
}

int
cf_ixdb_new(struct cf_ixdb **out)
{
	struct cf_ixdb *db = cf_calloc(1, sizeof(*db));

	*out = NULL;
	if (db == NULL)
		return CF_ENOMEM;
	if (pthread_mutex_init(&db->lock, NULL) != 0) {
		cf_free(db);
		return CF_ENOMEM;
	}
	*out = db;
	return 0;
}

int
cf_ixdb_open(const char *path, const uint8_t repo_id[static 32], const struct cf_ixdb_source *src,
             struct cf_ixdb **out)
{
	struct cf_ixdb *db = NULL;
	int fd = -1;
	int rc;

	*out = NULL;
	if ((rc = cf_ixdb_new(&db)) != 0)
		return rc;
	if ((rc = env_get(path, &db->e)) != 0)
		goto out;
	pthread_mutex_lock(&db->e->sync);
	if ((db->e->held >= 0 || (rc = lock_sync(path, &fd)) == 0) && (rc = env_open(db->e)) == 0 &&
	    (rc = cf_ixdb_sync(db->e, repo_id, src)) == 0)
		rc = take_snapshot(db);
	if (rc == 0 && db->e->nolock && db->e->held < 0 && (rc = hold_shared(db->e, fd)) == 0)
		fd = -1;
	if (rc == 0) {
		cf_ixdb_find_map(db->e);
		cf_ixdb_trim_map(db->e);
	}
	if (fd >= 0)
		(void)close(fd); /* releases the lock */
	pthread_mutex_unlock(&db->e->sync);
	if (rc == 0) {
		*out = db;
		db = NULL;
	}
out:
	cf_ixdb_free(db);
	return rc;
}

void
cf_ixdb_free(struct cf_ixdb *db)
{
	if (db == NULL)
		return;
	if (db->cur != NULL)
		mdb_cursor_close(db->cur);
	if (db->txn != NULL)
		mdb_txn_abort(db->txn);
	if (db->e != NULL)
		env_put(db->e);
	cf_free(db->v);
	cf_index_free(db->packs);
	pthread_mutex_destroy(&db->lock);
	cf_free(db);
}
