/*
 * backup.h - the backup engine's parts: the worker pipeline (compress, encrypt, pack,
 * store) fed by the walker on the main thread, which reads, chunks and hashes.
 */
#ifndef CF_BACKUP_H
#define CF_BACKUP_H

#include <stdatomic.h>
#include <sys/stat.h>

#include "repo.h"

struct cf_zctx;
struct cf_fcache;
struct fc_wait;

/* One blob to store: the plaintext (owned by the job until a worker frees it). */
struct bk_job {
	uint8_t type;
	uint8_t id[CF_ID_BYTES];
	uint8_t *data;
	size_t len;
	uint64_t seq; /* data jobs: 1, 2, ... in submission order (set by cf_pipe_submit) */
};

struct bk_pipe;

/* pipe_start() - start @nworkers workers storing into @r. */
int cf_pipe_start(struct cf_repo *r, int nworkers, struct bk_pipe **out) CF_MUST_CHECK;
/*
 * pipe_submit() - hand a job to the workers (blocks while the queue is full). The job's data
 * is taken over in every case. Returns 0, or the first error a worker hit.
 */
int cf_pipe_submit(struct bk_pipe *p, struct bk_job *job) CF_MUST_CHECK;
/* pipe_finish() - drain the queue, flush every open pack and its index, stop the workers.
 * Returns 0 or the first error any worker hit (its message restored on this thread). */
int cf_pipe_finish(struct bk_pipe *p) CF_MUST_CHECK;
/* cf_pipe_submitted() - how many data jobs were submitted so far. */
uint64_t cf_pipe_submitted(struct bk_pipe *p);
/*
 * cf_pipe_durable() - the highest n such that data jobs 1..n are all stored in packs whose
 * index objects are stored too (a job deduplicated against the repository never enters the
 * pipe). After a failure it stops below the first job the failure may have lost.
 */
uint64_t cf_pipe_durable(struct bk_pipe *p);
void cf_pipe_free(struct bk_pipe *p);

/* Hard links seen during one backup: (dev, ino) -> the first node's content. */
struct hl_entry {
	uint64_t dev;
	uint64_t ino;
	struct cf_part *parts;
	size_t nparts;
	struct cf_xattr *xattrs;
	size_t nxattrs;
	uint64_t size;
};

struct hl_map {
	struct hl_entry *v;
	size_t n;
	size_t cap;
	size_t *slots; /* open addressing over v: index + 1, 0 empty; a power of two */
	size_t nslots;
};

/* The file being read, for partial files cache entries (backup_fcache.c). */
struct fc_cur {
	bool active;
	struct stat st;          /* its identity before the read */
	const struct cf_node *n; /* its parts so far */
	uint64_t *deps;          /* per part: the job count when it was queued (0: stored) */
	size_t cap;
	uint64_t written; /* bytes the last partial entry covers */
};

/* The state of one backup run. */
struct bk {
	struct cf_repo *r;
	const struct cf_opts *o;
	struct cf_events ev;
	struct bk_pipe *pipe;
	struct cf_index *pending; /* blobs queued in this run */
	struct cf_zctx *z;        /* for reading the parent's trees */
	struct cf_path path;
	struct hl_map hl;
	uint8_t *rbuf; /* file data read ahead of the chunker: max chunk + READ_STEP */
	size_t rcap;
	struct cf_cut_state cut; /* the chunker's progress on the undecided tail of rbuf */
	bool dry_run;
	bool fatal;       /* the pipeline failed: stop, write no snapshot */
	bool cache_trees; /* backup-only: keep our trees locally, we cannot read them back */
	bool one_fs;
	dev_t root_dev;
	char **excludes;
	size_t nexcludes;
	struct cf_snapshot_stats st;
	struct cf_fcache *fc; /* the files cache; NULL: not used */
	struct fc_wait *fcw;  /* files read, waiting for their chunks to be durable */
	size_t fcw_n;
	size_t fcw_cap;
	uint64_t fc_commit_ns; /* monotonic time of the last commit */
	struct fc_cur fcur;
	uint64_t files_cached; /* files taken from the files cache, not read */
	uint64_t bytes_read;   /* file bytes read and chunked */
	uint64_t errors;
	uint64_t files_done;
	uint64_t bytes_done;
	struct cf_progress progress;
	atomic_uint_fast64_t scan_files;
	atomic_uint_fast64_t scan_bytes;
	atomic_bool scan_done;
	char uname_cache[2][256];
	uint32_t uname_id[2];
	bool uname_valid[2];
};

/* backup_file.c */
int cf_bk_file(struct bk *b, int dfd, const char *name, const struct stat *st,
               const struct cf_node *prev, struct cf_node *n) CF_MUST_CHECK;
/* cf_bk_parts_live() - every chunk of @parts is live in the repository or queued now. */
bool cf_bk_parts_live(const struct bk *b, const struct cf_part *parts, size_t n);
int cf_bk_store_blob(struct bk *b, uint8_t type, const uint8_t *data, size_t len,
                     uint8_t id[static CF_ID_BYTES]) CF_MUST_CHECK;
void cf_bk_progress(struct bk *b, bool force);
void cf_hl_release(struct hl_map *m);

/* backup_fcache.c: the files cache. None of these fail the backup over the cache's file. */
void cf_bk_fc_open(struct bk *b);
/*
 * cf_bk_fc_lookup() - when the cache has this path with @st's identity and every chunk is
 * still stored: a complete entry fills @n (parts, size, attributes read from the file) and
 * sets *@hit; a partial one fills @n's parts and size with the prefix it names and sets
 * *@from to the offset where reading goes on (0: read the whole file).
 */
int cf_bk_fc_lookup(struct bk *b, int dfd, const char *name, const struct stat *st,
                    struct cf_node *n, bool *hit, uint64_t *from) CF_MUST_CHECK;
/*
 * cf_bk_fc_begin() / cf_bk_fc_part() / cf_bk_fc_end() - a file is read (from the start or
 * from a partial entry's end: @n's parts so far are stored), one part (a chunk or a hole)
 * was added to @n, the read is over.
 */
void cf_bk_fc_begin(struct bk *b, const struct stat *st, const struct cf_node *n,
                    const struct timespec *t0);
void cf_bk_fc_part(struct bk *b);
void cf_bk_fc_end(struct bk *b);
/* cf_bk_fc_note() - remember @n, read in full from a file with identity @st since @t0. */
void cf_bk_fc_note(struct bk *b, const struct stat *st, const struct cf_node *n,
                   const struct timespec *t0);
/* cf_bk_fc_flush() - write what is durable now (@all: whatever the time since the last). */
void cf_bk_fc_flush(struct bk *b, bool all);
void cf_bk_fc_close(struct bk *b, bool sweep);

/* backup_scan.c: counts files and bytes ahead of the walk (for the ETA). */
struct scan;
int cf_scan_start(struct bk *b, char **paths, size_t npaths, struct scan **out) CF_MUST_CHECK;
void cf_scan_stop(struct scan *s);

/* cf_bk_load_prev() - a tree of the parent: from the repository, or, on a backup-only
 * device, from the local cache (*@out NULL when not cached: no parent for that directory). */
int cf_bk_load_prev(struct bk *b, const uint8_t id[static CF_ID_BYTES],
                    struct cf_tree **out) CF_MUST_CHECK;

/* backup_walk.c */
int cf_bk_fill_node(struct bk *b, const uint8_t *name, size_t nlen, const struct stat *st,
                    struct cf_node *n) CF_MUST_CHECK;
int cf_bk_dir(struct bk *b, int dfd, const struct cf_tree *prev,
              uint8_t id[static CF_ID_BYTES]) CF_MUST_CHECK;
int cf_bk_roots(struct bk *b, char **paths, size_t npaths, const struct cf_tree *prev,
                uint8_t id[static CF_ID_BYTES]) CF_MUST_CHECK;

#endif
