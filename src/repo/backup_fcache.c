/*
 * backup_fcache.c - the backup's use of the files cache (docs/format.md 13): files read in
 * full are remembered once their chunks are durable; a later backup without a matching
 * parent takes their chunks from the cache instead of reading them again.
 *
 * The cache never fails a backup: any error of its file closes it for the rest of the run.
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../fcache/fcache.h"
#include "../fs/fs.h"
#include "backup.h"

#define COMMIT_ENTRIES 4096
#define COMMIT_NS      250000000ull
#define RACY_NS        20000000ll   /* fine timestamps: the coarse clock lags a tick */
#define RACY_COARSE_NS 2000000000ll /* whole-second (or FAT's 2 s) timestamps */
#define MAX_AGE        (90ull * 24 * 3600)
#define PARTIAL_STEP   (8ull << 20)

/* A file read in full, waiting until the pipe has stored every job up to @dep. */
struct fc_wait {
	struct cf_fcache_key key;
	struct cf_fcache_entry e;
	uint64_t dep;
};

static void
fc_disable(struct bk *b)
{
	cf_fcache_close(b->fc);
	b->fc = NULL;
	cf_err_clear();
}

void
cf_bk_fc_open(struct bk *b)
{
	char *path = cf_cache_file(b->r, "files.lmdb");

	if (path != NULL && cf_fcache_open(path, b->r->chain->repo_id, &b->fc) != 0)
		b->fc = NULL;
	cf_free(path);
	cf_err_clear();
	b->fc_commit_ns = cf_mono_ns();
}

static void
fill_id(struct cf_fcache_id *id, const struct stat *st)
{
	id->ino = (uint64_t)st->st_ino;
	id->size = (uint64_t)st->st_size;
	id->mtime_s = (int64_t)st->st_mtim.tv_sec;
	id->mtime_ns = (uint32_t)st->st_mtim.tv_nsec;
	id->ctime_s = (int64_t)st->st_ctim.tv_sec;
	id->ctime_ns = (uint32_t)st->st_ctim.tv_nsec;
}

static bool
same_id(const struct cf_fcache_id *a, const struct stat *st)
{
	struct cf_fcache_id b;

	fill_id(&b, st);
	return a->ino == b.ino && a->size == b.size && a->mtime_s == b.mtime_s &&
	       a->mtime_ns == b.mtime_ns && a->ctime_s == b.ctime_s && a->ctime_ns == b.ctime_ns;
}

/* Open the file to read its attributes and check, on the descriptor, that it is the one. */
static int
attrs_if_same(struct bk *b, int dfd, const char *name, const struct cf_fcache_entry *e,
              struct cf_node *n, bool *same)
{
	struct stat st;
	int fd = cf_fs_open_noatime(dfd, name);
	int rc = 0;

	*same = false;
	if (fd < 0)
		return cf_err_set(CF_ESYS, "cannot open '%s'", cf_path_cstr(&b->path));
	if (fstat(fd, &st) == 0 && same_id(&e->id, &st)) {
		if ((rc = cf_fs_read_xattrs(fd, &n->xattrs, &n->nxattrs)) != 0)
			rc = cf_err_wrap(rc, "'%s'", cf_path_cstr(&b->path));
		*same = rc == 0;
	}
	(void)close(fd);
	return rc;
}

static int wait_push(struct bk *b, const struct fc_wait *w);

/* An entry used but not written for a third of its life is written again (nothing to wait
 * for: its chunks are stored), so the sweep keeps it. */
static void
refresh(struct bk *b, const struct cf_fcache_key *key, const struct cf_fcache_entry *e)
{
	uint64_t now = (uint64_t)time(NULL);
	struct fc_wait w;

	if (b->pipe == NULL || e->seen > now || now - e->seen < MAX_AGE / 3)
		return;
	memset(&w, 0, sizeof(w));
	w.key = *key;
	w.e = *e;
	w.e.seen = now;
	w.dep = cf_pipe_submitted(b->pipe); /* a chunk may be live only as queued by this run */
	if (e->nparts > 0 &&
	    (w.e.parts = cf_memdup(e->parts, e->nparts * sizeof(*e->parts))) == NULL)
		return;
	if (wait_push(b, &w) != 0)
		cf_fcache_entry_release(&w.e);
}

/* Move an entry's chunks into @n: the whole file, or the first e->done bytes of it. */
static void
take_parts(struct bk *b, struct cf_fcache_entry *e, struct cf_node *n)
{
	n->parts = e->parts;
	n->nparts = e->nparts;
	n->size = e->done;
	e->parts = NULL;
	e->nparts = 0;
	b->bytes_done += e->done;
}

int
cf_bk_fc_lookup(struct bk *b, int dfd, const char *name, const struct stat *st, struct cf_node *n,
                bool *hit, uint64_t *from)
{
	struct cf_fcache_entry e;
	struct cf_fcache_key key;
	bool found = false;
	int rc;

	*hit = false;
	*from = 0;
	if (b->fc == NULL)
		return 0;
	cf_fcache_key(&key, b->path.p, b->path.len);
	if ((rc = cf_fcache_get(b->fc, &key, &e, &found)) != 0) {
		fc_disable(b);
		return rc == CF_ENOMEM ? rc : 0;
	}
	if (!found)
		return 0;
	if (same_id(&e.id, st) && cf_bk_parts_live(b, e.parts, e.nparts)) {
		if (e.done < e.id.size && e.nparts > 0) { /* partial: read on from its end */
			take_parts(b, &e, n);
			*from = n->size;
		} else if (e.done == e.id.size &&
		           (rc = attrs_if_same(b, dfd, name, &e, n, hit)) == 0 && *hit) {
			refresh(b, &key, &e);
			take_parts(b, &e, n);
			b->files_cached++;
		}
	}
	cf_fcache_entry_release(&e);
	return rc;
}

static int64_t
ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000ll + ts->tv_nsec;
}

/* Changed within a timestamp tick of when the read began: a later change could hide. */
static bool
racy(const struct stat *st, const struct timespec *t0)
{
	int64_t start = ts_ns(t0);
	int64_t m = ts_ns(&st->st_mtim);
	int64_t c = ts_ns(&st->st_ctim);
	int64_t margin =
	        st->st_mtim.tv_nsec == 0 && st->st_ctim.tv_nsec == 0 ? RACY_COARSE_NS : RACY_NS;

	return m > start - margin || c > start - margin;
}

static int
wait_push(struct bk *b, const struct fc_wait *w)
{
	if (b->fcw_n == b->fcw_cap) {
		size_t ncap = b->fcw_cap == 0 ? 64 : b->fcw_cap * 2;
		struct fc_wait *v = cf_realloc(b->fcw, ncap * sizeof(*v));

		if (v == NULL)
			return CF_ENOMEM;
		b->fcw = v;
		b->fcw_cap = ncap;
	}
	b->fcw[b->fcw_n++] = *w;
	return 0;
}

void
cf_bk_fc_note(struct bk *b, const struct stat *st, const struct cf_node *n,
              const struct timespec *t0)
{
	struct fc_wait w;

	if (b->fc == NULL || b->pipe == NULL || racy(st, t0))
		return;
	memset(&w, 0, sizeof(w));
	cf_fcache_key(&w.key, b->path.p, b->path.len);
	fill_id(&w.e.id, st);
	w.e.seen = (uint64_t)time(NULL);
	w.e.done = (uint64_t)st->st_size;
	w.dep = cf_pipe_submitted(b->pipe);
	if (n->nparts > CF_FCACHE_PARTS_MAX ||
	    (n->nparts > 0 &&
	     (w.e.parts = cf_memdup(n->parts, n->nparts * sizeof(*n->parts))) == NULL))
		return; /* not remembered: only read again next time */
	w.e.nparts = n->nparts;
	if (wait_push(b, &w) != 0)
		cf_fcache_entry_release(&w.e);
}

/* Put the waiting entries whose jobs are all at or below @durable, oldest first. */
static int
put_ready(struct bk *b, uint64_t durable)
{
	size_t i = 0;
	int rc = 0;

	while (i < b->fcw_n && b->fcw[i].dep <= durable &&
	       (rc = cf_fcache_put(b->fc, &b->fcw[i].key, &b->fcw[i].e)) == 0)
		cf_fcache_entry_release(&b->fcw[i++].e);
	if (i > 0) {
		memmove(b->fcw, b->fcw + i, (b->fcw_n - i) * sizeof(*b->fcw));
		b->fcw_n -= i;
	}
	return rc;
}

static bool
deps_reserve(struct fc_cur *c, size_t n)
{
	uint64_t *v;
	size_t ncap;

	if (n <= c->cap)
		return true;
	ncap = c->cap == 0 ? 64 : c->cap;
	while (ncap < n)
		ncap *= 2;
	if ((v = cf_realloc(c->deps, ncap * sizeof(*v))) == NULL)
		return false;
	c->deps = v;
	c->cap = ncap;
	return true;
}

/*
 * The file being read: its longest stored prefix (holes count, at most CF_FCACHE_PARTS_MAX
 * parts), once it grew by PARTIAL_STEP and by an eighth. Each entry holds every part so far,
 * so the steps grow with the file: writing a huge file's entries costs a bounded multiple of
 * its parts, not their square.
 */
static int
put_partial(struct bk *b, uint64_t durable)
{
	struct fc_cur *c = &b->fcur;
	struct cf_fcache_entry e;
	struct cf_fcache_key key;
	uint64_t done = 0;
	size_t k = 0;
	int rc;

	if (!c->active)
		return 0;
	while (k < c->n->nparts && k < CF_FCACHE_PARTS_MAX && c->deps[k] <= durable)
		done += c->n->parts[k++].len;
	if (k == 0 || done >= (uint64_t)c->st.st_size || done < c->written + PARTIAL_STEP ||
	    done < c->written + c->written / 8)
		return 0;
	memset(&e, 0, sizeof(e));
	fill_id(&e.id, &c->st);
	e.seen = (uint64_t)time(NULL);
	e.done = done;
	e.parts = c->n->parts;
	e.nparts = k;
	cf_fcache_key(&key, b->path.p, b->path.len);
	if ((rc = cf_fcache_put(b->fc, &key, &e)) == 0)
		c->written = done;
	return rc;
}

void
cf_bk_fc_flush(struct bk *b, bool all)
{
	char saved[1024];
	uint64_t durable;
	uint64_t now;

	if (b->fc == NULL || b->pipe == NULL)
		return;
	now = cf_mono_ns();
	if (!all && b->fcw_n < COMMIT_ENTRIES && now - b->fc_commit_ns < COMMIT_NS)
		return;
	durable = cf_pipe_durable(b->pipe);
	cf_err_copy(saved, sizeof(saved)); /* a failing cache must not wipe the caller's error */
	if (put_ready(b, durable) != 0 || put_partial(b, durable) != 0 ||
	    cf_fcache_commit(b->fc) != 0) {
		fc_disable(b);
		cf_err_restore(saved);
		return;
	}
	b->fc_commit_ns = now;
}

void
cf_bk_fc_begin(struct bk *b, const struct stat *st, const struct cf_node *n,
               const struct timespec *t0)
{
	struct fc_cur *c = &b->fcur;

	c->active = false;
	if (b->fc == NULL || b->pipe == NULL || racy(st, t0))
		return;
	if (!deps_reserve(c, n->nparts + 1))
		return;
	for (size_t i = 0; i < n->nparts; i++)
		c->deps[i] = 0; /* a partial entry's chunks: stored */
	c->st = *st;
	c->n = n;
	c->written = n->size;
	c->active = true;
}

void
cf_bk_fc_part(struct bk *b)
{
	struct fc_cur *c = &b->fcur;

	if (!c->active)
		return;
	if (!deps_reserve(c, c->n->nparts)) {
		c->active = false;
		return;
	}
	/* a hole has nothing to store */
	c->deps[c->n->nparts - 1] =
	        c->n->parts[c->n->nparts - 1].hole ? 0 : cf_pipe_submitted(b->pipe);
	cf_bk_fc_flush(b, false);
}

void
cf_bk_fc_end(struct bk *b)
{
	b->fcur.active = false;
	b->fcur.n = NULL;
}

void
cf_bk_fc_close(struct bk *b, bool sweep)
{
	size_t removed = 0;

	if (b->fc != NULL && sweep &&
	    cf_fcache_sweep(b->fc, (uint64_t)time(NULL), MAX_AGE, &removed) != 0)
		cf_err_clear();
	cf_fcache_close(b->fc);
	b->fc = NULL;
	for (size_t i = 0; i < b->fcw_n; i++)
		cf_fcache_entry_release(&b->fcw[i].e);
	cf_free(b->fcw);
	b->fcw = NULL;
	b->fcw_n = b->fcw_cap = 0;
	cf_free(b->fcur.deps);
	memset(&b->fcur, 0, sizeof(b->fcur));
}
