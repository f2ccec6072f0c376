/*
 * backup.c - one backup run: arguments, parent snapshot, the walk, the pipeline, and the
 * snapshot written last (packs, then index, then snapshot: a crash leaves no snapshot).
 */
#include "backup.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../compress/compress.h"
#include "../device/device.h"
#include "../fs/fs.h"
#include "../retention/policy.h"

/* Bytes read at a time beyond the largest chunk: the read buffer is max + READ_STEP. */
#define READ_STEP (1u << 20)

#define EXCLUDE_FILE_MAX (1u << 20)

struct cf_backup_result {
	uint8_t id[CF_ID_BYTES];
	struct cf_snapshot_stats st;
	uint64_t files_cached;
	uint64_t bytes_read;
};

/* Compare paths component-wise: '/' sorts before every other byte. */
static int
path_cmp(const void *a, const void *b)
{
	const unsigned char *x = *(const unsigned char *const *)a;
	const unsigned char *y = *(const unsigned char *const *)b;

	for (; *x != '\0' && *x == *y; x++, y++)
		;
	if (*x == *y)
		return 0;
	if (*x == '/' || *y == '\0')
		return *y == '\0' ? 1 : -1;
	if (*y == '/' || *x == '\0')
		return *x == '\0' ? -1 : 1;
	return *x < *y ? -1 : 1;
}

/* Lexically clean an absolute path: no "//", ".", ".." or trailing '/'. In place. */
static void
clean_path(char *p)
{
	char *w = p;
	const char *r = p;

	while (*r != '\0') {
		while (*r == '/')
			r++;
		if (*r == '\0')
			break;
		if (r[0] == '.' && (r[1] == '/' || r[1] == '\0')) {
			r++;
			continue;
		}
		if (r[0] == '.' && r[1] == '.' && (r[2] == '/' || r[2] == '\0')) {
			r += 2;
			while (w > p && *--w != '/')
				;
			continue;
		}
		*w++ = '/';
		while (*r != '\0' && *r != '/')
			*w++ = *r++;
	}
	if (w == p)
		*w++ = '/';
	*w = '\0';
}

static int
absolute_path(const char *in, char **out)
{
	char cwd[4096];
	size_t n = 0;

	*out = NULL;
	if (in[0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL)
		return cf_err_set(CF_ESYS, "cannot find the current directory");
	n = (in[0] == '/' ? 0 : strlen(cwd) + 1) + strlen(in) + 1;
	if ((*out = cf_malloc(n)) == NULL)
		return CF_ENOMEM;
	if (in[0] == '/')
		(void)snprintf(*out, n, "%s", in);
	else
		(void)snprintf(*out, n, "%s/%s", cwd, in);
	clean_path(*out);
	return 0;
}

static void
free_strv(char **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		cf_free(v[i]);
	cf_free(v);
}

/* The "path" options, absolute, cleaned, checked to exist, sorted, nested ones dropped. */
static int
collect_paths(const struct cf_opts *o, char ***out, size_t *n)
{
	struct stat st;
	const char *p = NULL;
	char **v = NULL;
	size_t cnt = 0;
	size_t keep = 0;
	int rc = 0;

	while (cf_opts_nth(o, "path", cnt) != NULL)
		cnt++;
	if (cnt == 0)
		return cf_err_set(CF_EUSAGE, "nothing to back up: give at least one path");
	if (cnt > CF_SNAPSHOT_MAX_PATHS || (v = cf_calloc(cnt, sizeof(*v))) == NULL)
		return cnt > CF_SNAPSHOT_MAX_PATHS ? CF_ETOOBIG : CF_ENOMEM;
	for (size_t i = 0; i < cnt && rc == 0; i++) {
		p = cf_opts_nth(o, "path", i);
		if ((rc = absolute_path(p, &v[i])) == 0 && lstat(v[i], &st) != 0)
			rc = cf_err_set(CF_ESYS, "cannot back up '%s'", p);
	}
	if (rc != 0) {
		free_strv(v, cnt);
		return rc;
	}
	qsort(v, cnt, sizeof(*v), path_cmp);
	for (size_t i = 0; i < cnt; i++) {
		size_t pl = keep > 0 ? strlen(v[keep - 1]) : 0;

		if (keep > 0 &&
		    (strcmp(v[keep - 1], "/") == 0 || (strncmp(v[i], v[keep - 1], pl) == 0 &&
		                                       (v[i][pl] == '/' || v[i][pl] == '\0')))) {
			cf_free(v[i]);
			continue;
		}
		v[keep++] = v[i];
	}
	*out = v;
	*n = keep;
	return 0;
}

/* --exclude values and the non-empty, non-comment lines of --exclude-file. */
static int
collect_excludes(struct bk *b)
{
	const char *f = cf_opts_get(b->o, "exclude-file");
	uint8_t *file = NULL;
	size_t flen = 0;
	size_t cnt = 0;
	int rc = 0;

	while (cf_opts_nth(b->o, "exclude", cnt) != NULL)
		cnt++;
	if (f != NULL && (rc = cf_read_file(f, EXCLUDE_FILE_MAX, &file, &flen)) != 0)
		return rc;
	b->excludes = cf_calloc(cnt + flen / 2 + 1, sizeof(char *));
	if (b->excludes == NULL) {
		rc = CF_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < cnt; i++)
		if ((b->excludes[b->nexcludes++] = cf_strdup(cf_opts_nth(b->o, "exclude", i))) ==
		    NULL)
			rc = CF_ENOMEM;
	for (size_t s = 0; rc == 0 && s < flen;) {
		size_t e = s;

		while (e < flen && file[e] != '\n')
			e++;
		while (e > s && (file[e - 1] == '\r' || file[e - 1] == ' '))
			e--;
		if (e > s && file[s] != '#') {
			if ((b->excludes[b->nexcludes] = cf_malloc(e - s + 1)) == NULL) {
				rc = CF_ENOMEM;
				break;
			}
			memcpy(b->excludes[b->nexcludes], file + s, e - s);
			b->excludes[b->nexcludes++][e - s] = '\0';
		}
		while (s < flen && file[s] != '\n')
			s++;
		s++;
	}
out:
	cf_free(file);
	return rc;
}

static bool
same_paths(const struct cf_snapshot *s, char **paths, size_t n)
{
	if (s->npaths != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(s->paths[i], paths[i]) != 0)
			return false;
	return true;
}

/*
 * The parent: the newest snapshot of this host with the same paths. A backup-only device
 * cannot read snapshots: it remembers its own last one in the local cache instead.
 */
static int
find_parent(struct bk *b, const char *host, char **paths, size_t n, uint8_t snap[static 32],
            uint8_t tree[static 32], bool *found)
{
	const char *ref = cf_opts_get(b->o, "parent");
	struct cf_snapshot **v = NULL;
	struct cf_snapshot *one = NULL;
	size_t cnt = 0;
	int rc;

	*found = false;
	if (cf_repo_can_read(b->r) != 0) {
		cf_err_clear();
		*found = cf_cache_get_parent(b->r, host, paths, n, snap, tree) == 0;
		return 0;
	}
	if (ref != NULL) {
		if ((rc = cf_snapshot_find(b->r, ref, &one)) != 0)
			return rc;
		memcpy(snap, one->id, CF_ID_BYTES);
		memcpy(tree, one->tree, CF_ID_BYTES);
		*found = true;
		cf_snapshot_free(one);
		return 0;
	}
	if ((rc = cf_snapshots_list(b->r, NULL, &v, &cnt)) != 0)
		return rc;
	for (size_t i = cnt; i > 0 && !*found; i--) {
		if (strcmp(v[i - 1]->host, host) == 0 && same_paths(v[i - 1], paths, n)) {
			memcpy(snap, v[i - 1]->id, CF_ID_BYTES);
			memcpy(tree, v[i - 1]->tree, CF_ID_BYTES);
			*found = true;
		}
	}
	cf_snapshots_free(v, cnt);
	return 0;
}

/*
 * Two backups of this device at once would give two snapshots the same sequence number:
 * hold an exclusive lock on a file of this device's state for the repository meanwhile.
 * (A lock on this machine only; the repository itself is never locked.)
 */
static int
lock_device(const struct cf_repo *r, int *fd)
{
	char fp[2 * CF_HASH_BYTES + 1];
	char path[4200];

	cf_hex(fp, r->chain->fingerprint, CF_HASH_BYTES);
	(void)snprintf(path, sizeof(path), "%s/repos/%s/backup.lock", r->home, fp);
	return cf_lock_file(path, fd);
}

static void
host_name(const struct cf_opts *o, char *out, size_t cap)
{
	const char *h = cf_opts_get(o, "host");

	if (h != NULL) {
		(void)snprintf(out, cap, "%s", h);
		return;
	}
	if (gethostname(out, cap - 1) != 0)
		out[0] = '\0';
	out[cap - 1] = '\0';
}

/* Fill the snapshot's fields (everything but the tree and stats). */
static int
fill_snapshot(struct bk *b, const char *host, char **paths, size_t npaths, const uint8_t *parent,
              struct cf_snapshot *s)
{
	char user[256];
	struct timespec ts;
	const char *t = NULL;
	int rc;

	/* run() verified the sequences just before: this device's newest snapshot is known */
	s->head.seq = b->r->own_seq + 1;
	memcpy(s->head.prev, b->r->own_hash, CF_HASH_BYTES);
	s->head.epoch = b->r->epoch;
	memcpy(s->head.device, b->r->dev->id, CF_ID_BYTES);
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	s->time_s = (int64_t)ts.tv_sec;
	s->time_ns = (uint32_t)ts.tv_nsec;
	if ((t = cf_opts_get(b->o, "time")) != NULL) {
		if (cf_parse_time(t, &s->time_s) != 0)
			return cf_err_set(CF_EUSAGE,
			                  "--time: '%s' is not a time like 2026-01-31T12:00:00Z, "
			                  "'2026-01-31 12:00' or @1769860800",
			                  t);
		s->time_ns = 0;
	}
	cf_fs_user_name((uint32_t)geteuid(), user, sizeof(user));
	if ((s->host = cf_strdup(host)) == NULL || (s->username = cf_strdup(user)) == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; i < npaths; i++)
		if ((rc = cf_snapshot_add_path(s, paths[i])) != 0)
			return rc;
	for (size_t i = 0; (t = cf_opts_nth(b->o, "tag", i)) != NULL; i++)
		if ((rc = cf_snapshot_add_tag(s, t)) != 0)
			return cf_err_set(rc == CF_ETOOBIG ? CF_EUSAGE : rc, "invalid tag '%s'", t);
	if (parent != NULL)
		memcpy(s->parent, parent, CF_ID_BYTES);
	return 0;
}

/* The snapshot just stored reads back as stored: a storage side may garble it at once. */
static int
stored_intact(struct bk *b, const struct cf_snapshot *s)
{
	char name[2 * CF_ID_BYTES + 1];

	cf_id_name(name, s->id);
	if (!cf_repo_is_bad_snapshot(b->r, name))
		return 0;
	return cf_err_set(CF_EINTEGRITY, "snapshot %.16s was stored but reads back damaged", name);
}

static int
write_snapshot(struct bk *b, struct cf_snapshot *s)
{
	char name[2 * CF_ID_BYTES + 1];
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	if ((rc = cf_snapshot_seal(s, b->r->chain->repo_id, b->r->chain->dk_pub[b->r->epoch],
	                           b->r->dev->sign, &obj, &len)) != 0)
		return cf_err_wrap(rc, "cannot seal the snapshot");
	cf_id_name(name, s->id);
	rc = cf_store_put(b->r->store, CF_OBJ_SNAPSHOT, name, obj, len);
	cf_free(obj);
	return rc;
}

/*
 * Compress/encrypt workers: the "workers" option (1 .. 16, so tests can compare thread
 * counts; any count writes the same trees, ids being MACs of content), else one per CPU.
 */
static int
backup_workers(const struct cf_opts *o, int *n)
{
	const char *v = cf_opts_get(o, "workers");
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t w = 0;

	*n = ncpu > 0 ? (int)ncpu : 1;
	if (v == NULL)
		return 0;
	if (cf_parse_u64(v, 1, 16, &w) != 0)
		return cf_err_set(CF_EUSAGE, "workers: '%s' is not a number from 1 to 16", v);
	*n = (int)w;
	return 0;
}

static int
bk_init(struct bk *b, struct cf_repo *r, const struct cf_opts *o, cf_event_fn *fn, void *arg)
{
	size_t adopted = 0;
	int nworkers = 1;
	int rc;

	memset(b, 0, sizeof(*b));
	b->r = r;
	b->o = o;
	b->ev.fn = fn;
	b->ev.arg = arg;
	b->dry_run = cf_opts_flag(o, "dry-run");
	b->one_fs = cf_opts_flag(o, "one-file-system");
	b->rcap = cf_chunker_max(r->chunker) + READ_STEP;
	b->cache_trees = cf_repo_can_read(r) != 0 && !b->dry_run;
	cf_err_clear();
	if (r->role == CF_ROLE_RECOVERY)
		return cf_err_set(CF_EPERM, "the recovery key cannot write snapshots: run "
		                            "'coffer recover' to add this machine as a device");
	if ((rc = backup_workers(o, &nworkers)) != 0 ||
	    (!b->dry_run && (rc = cf_repo_finish_revocation(r)) != 0))
		return rc;
	if ((rc = collect_excludes(b)) != 0 || (rc = cf_index_new(&b->pending)) != 0 ||
	    (rc = cf_zctx_new(1, &b->z)) != 0 || (rc = cf_repo_load_index(r)) != 0 ||
	    (!b->dry_run && (rc = cf_repo_adopt_orphans(r, &adopted)) != 0))
		return rc;
	if ((b->rbuf = cf_malloc(b->rcap)) == NULL)
		return CF_ENOMEM;
	cf_bk_fc_open(b);
	if (!b->dry_run)
		return cf_pipe_start(r, nworkers, &b->pipe);
	return 0;
}

static void
bk_release(struct bk *b)
{
	cf_bk_fc_close(b, false);
	cf_pipe_free(b->pipe);
	cf_index_free(b->pending);
	cf_zctx_free(b->z);
	cf_free_wipe(b->rbuf, b->rcap);
	cf_path_release(&b->path);
	cf_hl_release(&b->hl);
	free_strv(b->excludes, b->nexcludes);
}

/* Walk, drain the workers, then write the snapshot. */
static int
run(struct bk *b, char **paths, size_t npaths, struct cf_backup_result *res)
{
	struct cf_snapshot *s = NULL;
	struct cf_tree *pt = NULL;
	struct scan *scan = NULL;
	uint8_t psnap[CF_ID_BYTES];
	uint8_t ptree[CF_ID_BYTES];
	bool has_parent = false;
	char host[256];
	uint64_t t0 = cf_mono_ns();
	int rc;

	host_name(b->o, host, sizeof(host));
	/* a withheld snapshot of ours would make us reuse its sequence number: check first */
	if ((rc = cf_repo_verify_seqs(b->r, NULL)) != 0 ||
	    (rc = find_parent(b, host, paths, npaths, psnap, ptree, &has_parent)) != 0 ||
	    (has_parent && (rc = cf_bk_load_prev(b, ptree, &pt)) != 0) ||
	    (rc = cf_snapshot_new(&s)) != 0 ||
	    (rc = fill_snapshot(b, host, paths, npaths, has_parent ? psnap : NULL, s)) != 0)
		goto out;
	if (cf_opts_flag(b->o, "progress") && (rc = cf_scan_start(b, paths, npaths, &scan)) != 0)
		goto out;
	rc = cf_bk_roots(b, paths, npaths, pt, s->tree);
	cf_scan_stop(scan);
	scan = NULL;
	if (b->pipe != NULL) {
		int frc = cf_pipe_finish(b->pipe);

		rc = rc != 0 ? rc : frc;
		cf_bk_fc_flush(b, true); /* after a failure too: what was stored before it */
	}
	if (rc != 0)
		goto out;
	cf_bk_fc_close(b, !b->dry_run);
	b->st.duration_ns = cf_mono_ns() - t0;
	s->stats = b->st;
	cf_bk_progress(b, true);
	if (!b->dry_run &&
	    ((rc = write_snapshot(b, s)) != 0 ||
	     (rc = cf_repo_record_own(b->r, s->head.seq, s->id)) != 0 ||
	     (rc = cf_repo_verify_seqs(b->r, NULL)) != 0 || (rc = stored_intact(b, s)) != 0))
		goto out;
	if (!b->dry_run && cf_repo_can_read(b->r) != 0) {
		cf_err_clear();
		(void)cf_cache_put_parent(b->r, host, paths, npaths, s->id, s->tree);
	}
	memcpy(res->id, s->id, CF_ID_BYTES);
	res->st = s->stats;
	res->files_cached = b->files_cached;
	res->bytes_read = b->bytes_read;
out:
	cf_scan_stop(scan);
	cf_tree_free(pt);
	cf_snapshot_free(s);
	return rc;
}

int
cf_backup(struct cf_repo *r, const struct cf_opts *o, cf_event_fn *fn, void *arg,
          struct cf_backup_result **res)
{
	struct cf_backup_result *out = NULL;
	struct bk b;
	char **paths = NULL;
	size_t npaths = 0;
	int lockfd = -1;
	int rc;

	*res = NULL;
	if ((rc = bk_init(&b, r, o, fn, arg)) != 0 ||
	    (rc = collect_paths(o, &paths, &npaths)) != 0 || (rc = lock_device(r, &lockfd)) != 0)
		goto out;
	if ((out = cf_calloc(1, sizeof(*out))) == NULL) {
		rc = CF_ENOMEM;
		goto out;
	}
	if ((rc = run(&b, paths, npaths, out)) != 0)
		goto out;
	*res = out;
	out = NULL;
	if (b.errors > 0)
		rc = CF_EPARTIAL;
out:
	if (lockfd >= 0)
		(void)close(lockfd);
	bk_release(&b);
	free_strv(paths, npaths);
	cf_free(out);
	/* the packs just written are not in the loaded index: reload it when next needed */
	cf_repo_unload_index(r);
	return rc;
}

void
cf_backup_result_free(struct cf_backup_result *res)
{
	cf_free(res);
}

void
cf_backup_result_id_hex(const struct cf_backup_result *res, char *out)
{
	cf_hex(out, res->id, CF_ID_BYTES);
}

uint64_t
cf_backup_result_stat(const struct cf_backup_result *res, enum cf_stat which)
{
	switch (which) {
	case CF_STAT_FILES_NEW:
		return res->st.files_new;
	case CF_STAT_FILES_CHANGED:
		return res->st.files_changed;
	case CF_STAT_FILES_UNMODIFIED:
		return res->st.files_unmodified;
	case CF_STAT_DIRS:
		return res->st.dirs;
	case CF_STAT_DATA_ADDED:
		return res->st.data_added;
	case CF_STAT_TOTAL_BYTES:
		return res->st.total_bytes;
	case CF_STAT_DURATION_NS:
		return res->st.duration_ns;
	case CF_STAT_FILES_CACHED:
		return res->files_cached;
	case CF_STAT_BYTES_READ:
		return res->bytes_read;
	}
	return 0;
}
