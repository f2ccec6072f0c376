/*
 * prop_pipeline.c - the backup pipeline gives the same snapshot whatever its thread count
 * and timing (src/repo/backup_pipe.c). For random trees (a few dozen files from 0 bytes to a
 * few MiB: empty, random, compressible, duplicated, prefix-shared, sparse; hard links,
 * symlinks, nested directories):
 *   - backed up into fresh repositories that share one set of keys (copies of one freshly
 *     created repository and device, so K_id and the chunker are the same), with 1, 2, 4 and
 *     8 workers: the snapshots have the same tree, and the repositories hold the same blobs,
 *     each in exactly one pack;
 *   - backed up again into one repository with the other worker counts (under other host
 *     names, so there is no parent and every file is read and chunked again): the same tree,
 *     and nothing added: no data blob, no pack, no index object;
 *   - every snapshot restores byte-identical to the source;
 *   - backups that fail at a random fsync() (packs, index objects, directories) leave files
 *     cache entries (docs/format.md 13) that name only blobs the index objects hold: the
 *     pipeline never reports a job stored that the failure lost (without the cap on
 *     cf_pipe_durable() after a failure, every seed fails this).
 * "The same tree" is the tree of the directory holding the sources, which covers their own
 * metadata and everything below. The root tree is left out: it holds the metadata of
 * "/tmp", which other programs change at any time, so a backup may add its own new root
 * tree (checked to be exactly that) and nothing else.
 * The library offers no timing hook, so this file interposes fsync() (store threads) and
 * ZSTD_compress2() (workers) and, in half the backups, sleeps or yields in them at random.
 * Seeded: CF_TEST_SEED replays the trees and every random choice; the repository keys
 * (hence the chunk boundaries) and the scheduler's own timing are new in every run.
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "coffer/coffer.h"

#include "base/base.h"
#include "compress/compress.h"
#include "fcache/fcache.h"
#include "harness.h"
#include "repo/repo.h"

#define ROUNDS      3
#define ROUNDS_FAIL 12
#define NWORKERS    4
#define FILES_MIN   24
#define FILES_MAX   48
#define DIRS_MAX    8
#define TOTAL_MAX   (32u << 20) /* bytes of file content per tree, about */
#define PATH_BYTES  512

static const int worker_counts[NWORKERS] = {1, 2, 4, 8};

static char sroot[64]; /* the random trees */
static char wroot[64]; /* repositories and restores */

/* ---- timing jitter, interposed on the library's calls ---- */

static int (*real_fsync)(int);
static size_t (*real_compress2)(ZSTD_CCtx *, void *, size_t, const void *, size_t);
static atomic_int jitter_on;
static atomic_uint_fast64_t jitter_ctr;
static atomic_uint_fast64_t jitter_calls; /* interposed calls seen, jittered or not */
static uint64_t jitter_seed;              /* set before any thread starts */
static atomic_int fsync_fail_at;          /* fail the n-th fsync() from now on; 0: none */
static atomic_int fsync_seen;

static void *
next_symbol(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p == NULL) {
		fprintf(stderr, "prop_pipeline: no next '%s'\n", name);
		abort();
	}
	return p;
}

/* Resolved before main(), while there is one thread: the others only read them. */
__attribute__((constructor)) static void
jitter_init(void)
{
	void *p = next_symbol("fsync");

	memcpy(&real_fsync, &p, sizeof(p));
	p = next_symbol("ZSTD_compress2");
	memcpy(&real_compress2, &p, sizeof(p));
}

static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* In a jittery run: a quarter of the calls sleep up to 2 ms, another quarter yield. */
static void
jitter(void)
{
	struct timespec ts;
	uint64_t z;

	atomic_fetch_add(&jitter_calls, 1);
	if (atomic_load(&jitter_on) == 0)
		return;
	z = mix64(jitter_seed ^ atomic_fetch_add(&jitter_ctr, 1));
	if (z % 4 == 1) {
		(void)sched_yield();
	} else if (z % 4 == 0) {
		ts.tv_sec = 0;
		ts.tv_nsec = (long)((z >> 8) % 2000) * 1000;
		(void)nanosleep(&ts, NULL);
	}
}

int
fsync(int fd)
{
	int at = atomic_load(&fsync_fail_at);

	jitter();
	if (at > 0 && atomic_fetch_add(&fsync_seen, 1) + 1 == at) {
		errno = EIO;
		return -1;
	}
	return real_fsync(fd);
}

size_t
ZSTD_compress2(ZSTD_CCtx *cctx, void *dst, size_t dstCapacity, const void *src, size_t srcSize)
{
	jitter();
	return real_compress2(cctx, dst, dstCapacity, src, srcSize);
}

/* ---- random trees ---- */

static uint64_t
rnd(uint64_t n)
{
	return n == 0 ? 0 : th_rand() % n;
}

static void run_cmd(const char *fmt, ...) CF_PRINTF(1, 2);

/* Run a shell command; a non-zero status fails the test. */
static void
run_cmd(const char *fmt, ...)
{
	char cmd[3 * PATH_BYTES];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0) {
		fprintf(stderr, "  command failed: %s\n", cmd);
		CHECK(!"command failed");
	}
}

struct content {
	uint8_t *p;
	size_t len;
};

static size_t
rnd_size(size_t budget)
{
	uint64_t k = rnd(100);
	size_t n;

	if (k < 8)
		n = 0;
	else if (k < 55)
		n = 1 + (size_t)rnd(64 << 10);
	else if (k < 85)
		n = (64 << 10) + (size_t)rnd(960 << 10);
	else
		n = (1 << 20) + (size_t)rnd(3 << 20);
	return n > budget ? (size_t)rnd(budget + 1) : n;
}

/* Compressible: a short random pattern repeated, with a few random bytes sprinkled in. */
static void
fill_compressible(uint8_t *p, size_t n)
{
	uint8_t pat[64];
	size_t plen = 1 + (size_t)rnd(sizeof(pat));

	th_randbuf(pat, plen);
	for (size_t i = 0; i < n; i++)
		p[i] = rnd(64) == 0 ? (uint8_t)th_rand() : pat[i % plen];
}

/* New content: random, compressible, text, a copy of an earlier file, or one extended. */
static void
rnd_content(struct content *c, const struct content *prev, size_t nprev, size_t *budget)
{
	const struct content *src = nprev > 0 ? &prev[rnd(nprev)] : NULL;
	uint64_t kind = rnd(6);
	size_t n = rnd_size(*budget);
	size_t off = 0;

	if (kind == 4 && src != NULL) /* a duplicate */
		n = src->len;
	if (kind == 5 && src != NULL) /* an earlier file, then more: shares its first chunks */
		n = src->len + n;
	c->len = n;
	c->p = cf_malloc(n);
	if (c->p == NULL)
		abort();
	if ((kind == 4 || kind == 5) && src != NULL) {
		memcpy(c->p, src->p, src->len);
		off = src->len;
	}
	if (kind == 0 || kind == 1 || kind >= 4)
		th_randbuf(c->p + off, n - off);
	else if (kind == 2)
		fill_compressible(c->p + off, n - off);
	else
		for (size_t i = off; i < n; i++)
			c->p[i] = (uint8_t) "the quick brown fox jumps\n"[(i / 7 + i) % 26];
	*budget -= n < *budget ? n : *budget;
}

static void
write_all(const char *path, const uint8_t *p, size_t n, bool sparse)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	size_t done = 0;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	/* sparse: a hole before the content, which is written at its offset in the file */
	if (sparse && n > 0) {
		CHECK(ftruncate(fd, (off_t)n + (1 << 20)) == 0);
		CHECK(lseek(fd, 1 << 20, SEEK_SET) == 1 << 20);
	}
	while (done < n) {
		ssize_t w = write(fd, p + done, n - done);

		CHECK(w > 0);
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	CHECK(close(fd) == 0);
}

/* A random tree under @src; returns its content bytes. */
static size_t
make_tree(const char *src)
{
	char dirs[DIRS_MAX + 1][PATH_BYTES];
	char path[PATH_BYTES + 32];
	struct content files[FILES_MAX] = {{NULL, 0}};
	size_t ndirs = 2 + (size_t)rnd(DIRS_MAX - 1);
	size_t nfiles = FILES_MIN + (size_t)rnd(FILES_MAX - FILES_MIN + 1);
	size_t budget = TOTAL_MAX;
	size_t total = 0;

	CHECK(mkdir(src, 0755) == 0);
	snprintf(dirs[0], sizeof(dirs[0]), "%s", src);
	for (size_t i = 1; i <= ndirs; i++) {
		snprintf(dirs[i], sizeof(dirs[i]), "%s/d%zu", dirs[rnd(i)], i);
		CHECK(mkdir(dirs[i], 0755) == 0);
	}
	for (size_t i = 0; i < nfiles; i++) {
		const char *dir = dirs[rnd(ndirs + 1)];

		rnd_content(&files[i], files, i, &budget);
		snprintf(path, sizeof(path), "%s/f%zu", dir, i);
		write_all(path, files[i].p, files[i].len, rnd(16) == 0);
		total += files[i].len;
		if (rnd(8) == 0) { /* a hard link elsewhere, named after the file */
			char link_path[PATH_BYTES + 32];

			snprintf(link_path, sizeof(link_path), "%s/h%zu", dirs[rnd(ndirs + 1)], i);
			CHECK(link(path, link_path) == 0);
		}
		if (rnd(16) == 0) {
			char sym[PATH_BYTES + 32];

			snprintf(sym, sizeof(sym), "%s/s%zu", dir, i);
			CHECK(symlink(path, sym) == 0);
		}
	}
	for (size_t i = 0; i < nfiles; i++)
		cf_free(files[i].p);
	return total;
}

/* ---- repositories ---- */

static struct cf_opts *
opts_for(const char *dir, const char *host, int workers)
{
	struct cf_opts *o = NULL;
	char v[PATH_BYTES + 32];
	char w[16];
	bool ok;

	if (cf_opts_new(&o) != 0)
		abort();
	snprintf(v, sizeof(v), "%s/repo", dir);
	ok = cf_opts_add(o, "repo", v) == 0;
	snprintf(v, sizeof(v), "%s/home", dir);
	ok = ok && cf_opts_add(o, "home", v) == 0;
	snprintf(v, sizeof(v), "%s/cache", dir);
	ok = ok && cf_opts_add(o, "cache", v) == 0;
	snprintf(w, sizeof(w), "%d", workers);
	ok = ok && cf_opts_add(o, "workers", w) == 0;
	ok = ok && (host == NULL || cf_opts_add(o, "host", host) == 0);
	if (!ok)
		abort();
	return o;
}

static void
report(const char *what, int rc)
{
	if (rc != 0)
		fprintf(stderr, "  %s: %s: %s\n", what, cf_strerror(rc), cf_err_last());
}

/* Every blob the index objects name (sorted by id), and how many packs and index objects. */
struct blob {
	uint8_t id[CF_ID_BYTES];
	uint8_t type;
	uint32_t raw_len;
};

struct blob_set {
	struct cf_repo *r;
	struct blob *v;
	size_t n;
	size_t cap;
	size_t npacks;
	size_t nindex;
};

static void
blob_push(struct blob_set *bs, const struct cf_pack_entry *e)
{
	struct blob *b = NULL;

	if (bs->n == bs->cap) {
		size_t ncap = bs->cap == 0 ? 256 : bs->cap * 2;

		if ((b = cf_realloc(bs->v, ncap * sizeof(*b))) == NULL)
			abort();
		bs->v = b;
		bs->cap = ncap;
	}
	b = &bs->v[bs->n++];
	memcpy(b->id, e->id, CF_ID_BYTES);
	b->type = e->type;
	b->raw_len = e->raw_len;
}

static int
add_index(void *arg, const char *name, uint64_t size)
{
	struct blob_set *bs = arg;
	struct cf_index_pack *packs = NULL;
	size_t npacks = 0;
	int rc;

	(void)size;
	bs->nindex++;
	if ((rc = cf_repo_read_index(bs->r, name, &packs, &npacks)) != 0)
		return rc;
	for (size_t i = 0; i < npacks; i++)
		for (size_t k = 0; k < packs[i].count; k++)
			blob_push(bs, &packs[i].entries[k]);
	cf_index_packs_free(packs, npacks);
	return 0;
}

static int
count_pack(void *arg, const char *name, uint64_t size)
{
	(void)name;
	(void)size;
	((struct blob_set *)arg)->npacks++;
	return 0;
}

static int
blob_cmp(const void *a, const void *b)
{
	return memcmp(((const struct blob *)a)->id, ((const struct blob *)b)->id, CF_ID_BYTES);
}

static void
blob_set_load(struct cf_repo *r, struct blob_set *bs)
{
	int rc;

	memset(bs, 0, sizeof(*bs));
	bs->r = r;
	rc = cf_store_list(r->store, CF_OBJ_INDEX, add_index, bs);
	if (rc == 0)
		rc = cf_store_list(r->store, CF_OBJ_PACK, count_pack, bs);
	report("reading the index", rc);
	CHECK(rc == 0);
	if (bs->n > 0)
		qsort(bs->v, bs->n, sizeof(*bs->v), blob_cmp);
	/* each blob stored once: no two workers ever pack the same chunk */
	for (size_t i = 1; i < bs->n; i++)
		CHECK(blob_cmp(&bs->v[i - 1], &bs->v[i]) != 0);
}

static bool
blob_set_has(const struct blob_set *bs, const uint8_t id[static CF_ID_BYTES])
{
	struct blob key;

	memcpy(key.id, id, CF_ID_BYTES);
	return bs->n > 0 && bsearch(&key, bs->v, bs->n, sizeof(key), blob_cmp) != NULL;
}

/* @a and @b name the same blobs but for their root trees @ra and @rb. */
static bool
blob_set_equal(const struct blob_set *a, const uint8_t ra[static CF_ID_BYTES],
               const struct blob_set *b, const uint8_t rb[static CF_ID_BYTES])
{
	size_t i = 0;
	size_t k = 0;

	for (;;) {
		if (i < a->n && memcmp(a->v[i].id, ra, CF_ID_BYTES) == 0)
			i++;
		if (k < b->n && memcmp(b->v[k].id, rb, CF_ID_BYTES) == 0)
			k++;
		if (i == a->n || k == b->n)
			break;
		if (blob_cmp(&a->v[i], &b->v[k]) != 0 || a->v[i].type != b->v[k].type ||
		    a->v[i].raw_len != b->v[k].raw_len)
			return false;
		i++;
		k++;
	}
	return i == a->n && k == b->n;
}

/* What one backup made. */
struct shot {
	char snap[65];             /* snapshot id, hex */
	uint8_t root[CF_ID_BYTES]; /* its root tree */
	uint8_t top[CF_ID_BYTES];  /* the tree of the directory the sources live in */
	uint64_t added;            /* bytes of new blobs, by the backup's own count */
};

/*
 * The tree of directory @path in the snapshot whose root tree is @root: from there down,
 * nothing may depend on the worker count (the root tree holds the metadata of "/tmp").
 */
static int
find_tree(struct cf_repo *r, const uint8_t root[static CF_ID_BYTES], const char *path,
          uint8_t out[static CF_ID_BYTES])
{
	struct cf_zctx *z = NULL;
	struct cf_tree *t = NULL;
	uint8_t id[CF_ID_BYTES];
	const char *p = path;
	int rc;

	memcpy(id, root, CF_ID_BYTES);
	if ((rc = cf_zctx_new(1, &z)) != 0)
		return rc;
	for (p += strspn(p, "/"); rc == 0 && *p != '\0'; p += strspn(p, "/")) {
		size_t len = strcspn(p, "/");
		const struct cf_node *n = NULL;

		if ((rc = cf_repo_load_tree(r, id, z, &t)) != 0)
			break;
		n = cf_tree_find(t, (const uint8_t *)p, len);
		if (n == NULL || n->type != CF_NODE_DIR)
			rc = cf_err_set(CF_ENOENT, "'%.*s' is not a directory in the snapshot",
			                (int)len, p);
		else
			memcpy(id, n->subtree, CF_ID_BYTES);
		cf_tree_free(t);
		t = NULL;
		p += len;
	}
	cf_zctx_free(z);
	if (rc == 0)
		memcpy(out, id, CF_ID_BYTES);
	return rc;
}

/* One backup of @src with the options @o, with jitter half of the time. */
static void
backup_once(struct cf_repo *r, struct cf_opts *o, const char *src, struct shot *out)
{
	struct cf_backup_result *res = NULL;
	struct cf_snapshot *s = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	out->added = UINT64_MAX;
	atomic_store(&jitter_on, rnd(2) == 0);
	if ((rc = cf_opts_add(o, "path", src)) != 0 ||
	    (rc = cf_backup(r, o, NULL, NULL, &res)) != 0)
		report("backup", rc);
	atomic_store(&jitter_on, 0);
	CHECK(rc == 0);
	if (rc != 0)
		goto out;
	out->added = cf_backup_result_stat(res, CF_STAT_DATA_ADDED);
	cf_backup_result_id_hex(res, out->snap);
	if ((rc = cf_snapshot_find(r, out->snap, &s)) != 0 ||
	    (rc = find_tree(r, s->tree, sroot, out->top)) != 0)
		report("reading the snapshot", rc);
	CHECK(rc == 0);
	if (s != NULL)
		memcpy(out->root, s->tree, CF_ID_BYTES);
out:
	cf_snapshot_release(s);
	cf_backup_result_free(res);
}

/* Restore snapshot @id into @dir/restore (0 to 4 restore workers) and compare with @src. */
static void
restore_check(struct cf_repo *r, const char *dir, const char *id, const char *src)
{
	struct cf_snapshot *s = NULL;
	struct cf_opts *o = opts_for(dir, NULL, 1);
	char target[PATH_BYTES + 32];
	char workers[16];
	int rc;

	snprintf(target, sizeof(target), "%s/restore", dir);
	snprintf(workers, sizeof(workers), "%d", (int)rnd(5));
	if ((rc = cf_opts_add(o, "target", target)) != 0 ||
	    (rc = cf_opts_add(o, "workers", workers)) != 0 ||
	    (rc = cf_snapshot_find(r, id, &s)) != 0 || (rc = cf_restore(r, s, o, NULL, NULL)) != 0)
		report("restore", rc);
	CHECK(rc == 0);
	run_cmd("diff -r --no-dereference -q %s %s%s", src, target, src);
	run_cmd("rm -rf %s", target); /* keep the disk use of a round small */
	cf_snapshot_release(s);
	cf_opts_free(o);
}

/* The template: one fresh repository and device, copied for every worker count. */
static void
make_template(const char *tpl)
{
	struct cf_opts *o = opts_for(tpl, NULL, 1);
	char code[128];
	int rc;

	CHECK(mkdir(tpl, 0700) == 0);
	rc = cf_repo_create(o, code, sizeof(code));
	report("creating the repository", rc);
	CHECK(rc == 0);
	cf_opts_free(o);
}

static uint64_t
raw_bytes(const struct blob_set *bs)
{
	uint64_t n = 0;

	for (size_t i = 0; i < bs->n; i++)
		n += bs->v[i].raw_len;
	return n;
}

struct round {
	char src[PATH_BYTES];
	char tpl[PATH_BYTES];
	char dir[NWORKERS][PATH_BYTES + 16];
	struct shot shot[NWORKERS];
	struct blob_set blobs[NWORKERS];
};

/* Phase 1: the same tree into copies of one fresh repository, one per worker count. */
static void
fresh_repos(struct round *rd)
{
	for (int i = 0; i < NWORKERS; i++) {
		struct cf_repo *r = NULL;
		struct cf_opts *o = NULL;
		int rc;

		snprintf(rd->dir[i], sizeof(rd->dir[i]), "%s-w%d", rd->tpl, worker_counts[i]);
		run_cmd("cp -a %s %s", rd->tpl, rd->dir[i]);
		o = opts_for(rd->dir[i], "prop", worker_counts[i]);
		if ((rc = cf_repo_open(o, &r)) != 0)
			report("opening the repository copy", rc);
		CHECK(rc == 0);
		if (rc == 0) {
			backup_once(r, o, rd->src, &rd->shot[i]);
			blob_set_load(r, &rd->blobs[i]);
			CHECK(rd->shot[i].added == raw_bytes(&rd->blobs[i]));
			restore_check(r, rd->dir[i], rd->shot[i].snap, rd->src);
		}
		cf_repo_free(r);
		cf_opts_free(o);
		if (i > 0) {
			CHECK(memcmp(rd->shot[i].top, rd->shot[0].top, CF_ID_BYTES) == 0);
			CHECK(blob_set_equal(&rd->blobs[i], rd->shot[i].root, &rd->blobs[0],
			                     rd->shot[0].root));
		}
	}
	CHECK(rd->blobs[0].n > 0 && rd->blobs[0].nindex > 0 && rd->blobs[0].npacks > 0);
}

/*
 * After a backup of unchanged files into a repository that has them: what is new is at
 * most the snapshot's root tree (when "/tmp" changed meanwhile), in one pack and one index.
 */
static void
check_nothing_added(const struct blob_set *before, const struct blob_set *after,
                    const struct shot *sh)
{
	uint64_t bytes = 0;
	size_t fresh = 0;

	for (size_t i = 0; i < after->n; i++) {
		if (blob_set_has(before, after->v[i].id))
			continue;
		CHECK(after->v[i].type == CF_BLOB_TREE);
		CHECK(memcmp(after->v[i].id, sh->root, CF_ID_BYTES) == 0);
		bytes += after->v[i].raw_len;
		fresh++;
	}
	CHECK(after->n == before->n + fresh);
	CHECK(sh->added == bytes);
	CHECK(after->npacks == before->npacks + fresh);
	CHECK(after->nindex == before->nindex + fresh);
}

/* Phase 2: the other worker counts into the first repository, in a random order. */
static void
same_repo(struct round *rd)
{
	int order[NWORKERS - 1] = {1, 2, 3};
	struct blob_set before;
	struct cf_repo *r = NULL;
	struct cf_opts *o = NULL;
	int rc;

	for (int i = NWORKERS - 2; i > 0; i--) {
		int k = (int)rnd((uint64_t)i + 1);
		int t = order[i];

		order[i] = order[k];
		order[k] = t;
	}
	o = opts_for(rd->dir[0], NULL, 1);
	rc = cf_repo_open(o, &r);
	report("opening the repository", rc);
	CHECK(rc == 0);
	cf_opts_free(o);
	for (int j = 0; rc == 0 && j < NWORKERS - 1; j++) {
		int i = order[j];
		struct blob_set after;
		struct shot sh;
		char host[32];

		blob_set_load(r, &before);
		snprintf(host, sizeof(host), "prop-%d", worker_counts[i]); /* no parent */
		o = opts_for(rd->dir[0], host, worker_counts[i]);
		backup_once(r, o, rd->src, &sh);
		cf_opts_free(o);
		CHECK(memcmp(sh.top, rd->shot[0].top, CF_ID_BYTES) == 0);
		blob_set_load(r, &after);
		check_nothing_added(&before, &after, &sh);
		cf_free(before.v);
		cf_free(after.v);
		restore_check(r, rd->dir[0], sh.snap, rd->src);
	}
	cf_repo_free(r);
}

CF_TEST(thread_count_does_not_change_the_snapshot)
{
	struct round *rd[ROUNDS];
	size_t total[ROUNDS];

	/* now, and flushed: a sanitizer that halts the run leaves no harness summary */
	printf("seed %llu (CF_TEST_SEED replays it)\n", (unsigned long long)th_seed());
	fflush(stdout);
	jitter_seed = th_rand();
	snprintf(sroot, sizeof(sroot), "/tmp/cf-prop-pipeline-src-XXXXXX");
	snprintf(wroot, sizeof(wroot), "/tmp/cf-prop-pipeline-XXXXXX");
	CHECK(mkdtemp(sroot) != NULL && mkdtemp(wroot) != NULL);
	/* every source first: nothing above them changes while they are backed up */
	for (int i = 0; i < ROUNDS; i++) {
		if ((rd[i] = cf_calloc(1, sizeof(*rd[i]))) == NULL)
			abort();
		snprintf(rd[i]->src, sizeof(rd[i]->src), "%s/t%d", sroot, i);
		snprintf(rd[i]->tpl, sizeof(rd[i]->tpl), "%s/r%d", wroot, i);
		total[i] = make_tree(rd[i]->src);
	}
	for (int i = 0; i < ROUNDS; i++) {
		make_template(rd[i]->tpl);
		fresh_repos(rd[i]);
		same_repo(rd[i]);
		printf("round %d: %zu bytes, %zu blobs, tree %02x%02x%02x%02x, packs with 1/2/4/8 "
		       "workers: %zu/%zu/%zu/%zu\n",
		       i, total[i], rd[i]->blobs[0].n, rd[i]->shot[0].top[0], rd[i]->shot[0].top[1],
		       rd[i]->shot[0].top[2], rd[i]->shot[0].top[3], rd[i]->blobs[0].npacks,
		       rd[i]->blobs[1].npacks, rd[i]->blobs[2].npacks, rd[i]->blobs[3].npacks);
		for (int k = 0; k < NWORKERS; k++)
			cf_free(rd[i]->blobs[k].v);
		cf_free(rd[i]);
	}
	/* the interposition took: the jitter runs really were jittery */
	printf("%llu interposed calls, %llu of them in jittery runs\n",
	       (unsigned long long)atomic_load(&jitter_calls),
	       (unsigned long long)atomic_load(&jitter_ctr));
	CHECK(atomic_load(&jitter_calls) > 0);
	run_cmd("rm -rf %s %s", sroot, wroot);
}

/* ---- a backup that fails part-way leaves no files cache entry for data it lost ---- */

/* COFFER_CACHE/<fingerprint>/files.lmdb under @dir/cache, or "" when there is none. */
static void
fcache_path(const char *dir, char *out, size_t cap)
{
	char cache[PATH_BYTES + 32];
	struct dirent *de;
	DIR *d;

	out[0] = '\0';
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	if ((d = opendir(cache)) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && strlen(de->d_name) < 80)
			snprintf(out, cap, "%s/%.80s/files.lmdb", cache, de->d_name);
	closedir(d);
}

/* Every entry of a file below @path names only blobs of @bs; *@n counts the entries. */
static void
check_entries(struct cf_fcache *fc, const struct blob_set *bs, const char *path, size_t *n)
{
	struct dirent *de;
	DIR *d = opendir(path);

	CHECK(d != NULL);
	while (d != NULL && (de = readdir(d)) != NULL) {
		char sub[PATH_BYTES];
		struct cf_fcache_entry e;
		struct cf_fcache_key key;
		struct stat st;
		bool found = false;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (lstat(sub, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			check_entries(fc, bs, sub, n);
			continue;
		}
		cf_fcache_key(&key, (const uint8_t *)sub, strlen(sub));
		CHECK(cf_fcache_get(fc, &key, &e, &found) == 0);
		for (size_t i = 0; found && i < e.nparts; i++)
			CHECK(e.parts[i].hole || blob_set_has(bs, e.parts[i].id));
		*n += found;
		cf_fcache_entry_release(&e);
	}
	if (d != NULL)
		closedir(d);
}

/*
 * Backups that fail at a random fsync() (a pack, an index object, a directory), with 1 to 8
 * workers: whatever the files cache recorded names only blobs the repository's index
 * objects hold (the pipeline reports nothing as stored that the failure lost).
 */
CF_TEST(failed_backup_caches_only_stored_files)
{
	size_t entries = 0;
	int failed = 0;

	snprintf(sroot, sizeof(sroot), "/tmp/cf-prop-fail-src-XXXXXX");
	snprintf(wroot, sizeof(wroot), "/tmp/cf-prop-fail-XXXXXX");
	CHECK(mkdtemp(sroot) != NULL && mkdtemp(wroot) != NULL);
	for (int round = 0; round < ROUNDS_FAIL; round++) {
		struct cf_backup_result *res = NULL;
		struct cf_fcache *fc = NULL;
		struct cf_repo *r = NULL;
		struct cf_opts *o = NULL;
		struct blob_set bs;
		char src[PATH_BYTES];
		char dir[PATH_BYTES];
		char fpath[PATH_BYTES + 200];
		struct timespec pause = {0, 60000000}; /* past the racy-entry margin */
		size_t n = 0;
		int rc;

		snprintf(src, sizeof(src), "%s/f%d", sroot, round);
		snprintf(dir, sizeof(dir), "%s/r%d", wroot, round);
		(void)make_tree(src);
		(void)nanosleep(&pause, NULL);
		make_template(dir);
		o = opts_for(dir, "fail", 1 + (int)rnd(8));
		rc = cf_repo_open(o, &r);
		report("opening the repository", rc);
		CHECK(rc == 0);
		if (rc != 0 || cf_opts_add(o, "path", src) != 0) {
			cf_opts_free(o);
			continue;
		}
		atomic_store(&fsync_seen, 0);
		atomic_store(&fsync_fail_at, 4 + (int)rnd(40));
		rc = cf_backup(r, o, NULL, NULL, &res);
		atomic_store(&fsync_fail_at, 0);
		failed += rc != 0;
		cf_err_clear();
		cf_backup_result_free(res);
		blob_set_load(r, &bs);
		fcache_path(dir, fpath, sizeof(fpath));
		if (fpath[0] != '\0' && cf_fcache_open(fpath, r->chain->repo_id, &fc) == 0) {
			check_entries(fc, &bs, src, &n);
			cf_fcache_close(fc);
		}
		entries += n;
		cf_free(bs.v);
		cf_repo_free(r);
		cf_opts_free(o);
	}
	printf("%d of %d backups failed; %zu files cache entries checked\n", failed, ROUNDS_FAIL,
	       entries);
	CHECK(failed > 0);
	run_cmd("rm -rf %s %s", sroot, wroot);
}
