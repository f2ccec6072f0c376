/*
 * restore.c - write a snapshot's tree into a target directory. Every name is created with
 * *at() calls relative to an open directory and O_NOFOLLOW, so a symlink planted in the
 * target cannot redirect a write outside it. Every chunk is verified before it is written;
 * a file with a damaged chunk is removed and reported, and the rest goes on.
 */
#define _GNU_SOURCE 1 /* mknodat's device numbers, utimensat on symlinks */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../compress/compress.h"
#include "../fs/fs.h"
#include "repo.h"

struct link_seen {
	uint64_t dev;
	uint64_t ino;
	uint8_t *rel; /* path below the target, no leading '/' */
	size_t len;
};

/*
 * What a thread writing files holds: its decompression context and the direct-I/O stage for
 * large files (NULL until the first one, or when out of memory: then the page cache).
 */
struct rs_wk {
	struct cf_zctx *z;
	uint8_t *stage;
	struct cf_blob_cache runs; /* pack bytes last fetched */
};

/*
 * Regular files for a worker: one large file, or up to RS_BATCH small ones in walk order
 * (several directories), whose chunks are often neighbours in a pack and so come together.
 * A file that opened its directory again (@owns) holds that descriptor and a reference to the
 * directory's tree for the files after it in the same directory.
 */
#define RS_BATCH       256
#define RS_BATCH_BYTES ((uint64_t)8 << 20)
#define RS_ALONE_MIN   ((uint64_t)4 << 20) /* files from this size on: a job of their own */
/*
 * Directory descriptors the jobs queued and running may hold together, and one batch alone:
 * far under the usual limit of 1,024 open files, which the walk, the workers' files and
 * cofferd's connections share.
 */
#define RS_DIR_FDS       64
#define RS_BATCH_DIR_FDS 16
struct rs_file {
	const struct cf_node *n;
	char *path; /* in the snapshot, for messages */
	int dfd;
	bool owns;
	struct rs_tree *rt;
};
struct rs_job {
	size_t nfiles;
	size_t nowned; /* files with @owns: directory descriptors held */
	uint64_t bytes;
	struct rs_file f[RS_BATCH];
};

struct rs {
	struct cf_repo *r;
	const struct cf_opts *o;
	struct cf_events ev;
	struct rs_wk wk;            /* the walking thread's */
	struct cf_blob_cache trees; /* windows of tree packs, for the walk */
	struct cf_path path;
	char **inc;
	bool *inc_hit; /* each --include matched something */
	size_t ninc;
	bool root;
	uid_t euid;
	gid_t egid;
	bool verify;
	int target;
	struct link_seen *links;
	size_t nlinks;
	size_t links_cap;
	uint64_t damaged;
	uint64_t failed;
	struct cf_progress progress;
	pthread_mutex_t mu;    /* events, counters and progress, shared with the workers */
	struct rs_pool *pool;  /* NULL: everything on this thread */
	struct rs_job batch;   /* small files not yet handed to the pool */
	struct dir_meta *dirs; /* directories whose metadata waits for their files */
	size_t ndirs;
	size_t dirs_cap;
};

/* A tree shared by the jobs of its files: freed when the last one is done. */
struct rs_tree {
	struct cf_tree *t;
	atomic_int refs;
	bool sgid; /* its directory has (or may have) the set-group-ID bit: see create_mode() */
};

/* A directory's metadata, applied after every file inside it was written. */
struct dir_meta {
	char *rel; /* below the target, no leading '/' */
	struct rs_tree *rt;
	const struct cf_node *n;
};

#define RS_QUEUE       64
#define RS_MAX_WORKERS 8
/*
 * Files from this size on are written past the page cache (cf_fs_out): copying into new
 * page-cache pages was most of a restore's CPU. Smaller ones are not worth a synchronous
 * device write each.
 */
#define RS_DIRECT_MIN ((uint64_t)256 << 10)
/* Chunk ids looked ahead for a run of neighbours in a pack. */
#define RS_AHEAD 64

struct rs_worker {
	struct rs_pool *p;
	pthread_t th;
	struct rs_wk w;
};

struct rs_pool {
	struct rs *s;
	pthread_mutex_t mu;
	pthread_cond_t not_empty;
	pthread_cond_t not_full; /* a queue slot, or directory descriptors, became free */
	struct rs_job q[RS_QUEUE];
	size_t head;
	size_t count;
	size_t dir_fds; /* held by the jobs queued and running */
	bool closing;
	struct rs_worker wk[RS_MAX_WORKERS];
	int n;
};

/* Inclusion: the node is selected, or lies above something selected, or neither. */
enum sel { SEL_NONE, SEL_ANCESTOR, SEL_ALL };

static enum sel
select_node(struct rs *s)
{
	const char *p = cf_path_cstr(&s->path);
	size_t pl = strlen(p);
	enum sel best = SEL_NONE;

	if (s->ninc == 0)
		return SEL_ALL;
	for (size_t i = 0; i < s->ninc; i++) {
		size_t il = strlen(s->inc[i]);

		if (pl == il && strcmp(p, s->inc[i]) == 0)
			s->inc_hit[i] = true;
		if (pl >= il && strncmp(p, s->inc[i], il) == 0 && (p[il] == '\0' || p[il] == '/'))
			return SEL_ALL;
		if (il > pl && strncmp(p, s->inc[i], pl) == 0 && s->inc[i][pl] == '/')
			best = SEL_ANCESTOR;
	}
	return best;
}

/* Report a failed item at @path, naming it: "cannot restore '/a/b': <why>". */
static void
report_at(struct rs *s, const char *path, int code, const char *what)
{
	char why[1024];

	cf_err_copy(why, sizeof(why));
	pthread_mutex_lock(&s->mu);
	if (code == CF_EINTEGRITY)
		s->damaged++;
	else
		s->failed++;
	cf_emit_item(&s->ev, CF_EV_ITEM_ERROR, code, (const uint8_t *)path, strlen(path),
	             "%s '%s': %s", what, path, why);
	pthread_mutex_unlock(&s->mu);
}

static void
report(struct rs *s, int code, const char *what)
{
	report_at(s, cf_path_cstr(&s->path), code, what);
}

/* Remove whatever is at @name (not following links) so a new entry can be made. */
static int
clear_name(int dfd, const char *name)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : CF_ESYS;
	if (unlinkat(dfd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0)
		return CF_ESYS;
	return 0;
}

static int
make_dir(int dfd, const char *name)
{
	struct stat st;

	if (mkdirat(dfd, name, 0700) != 0) {
		if (errno != EEXIST || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			return -1;
		if (!S_ISDIR(st.st_mode) &&
		    (unlinkat(dfd, name, 0) != 0 || mkdirat(dfd, name, 0700) != 0))
			return -1;
	}
	return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Owner, attributes, mode, times of an open file or directory. */
static int
set_meta_fd(struct rs *s, int fd, const struct cf_node *n)
{
	struct timespec ts[2];
	struct stat st;
	bool known = fstat(fd, &st) == 0;
	bool owner = s->root && (!known || st.st_uid != n->uid || st.st_gid != n->gid);
	int rc = 0;

	if (owner && fchown(fd, (uid_t)n->uid, (gid_t)n->gid) != 0)
		rc = cf_err_set(CF_ESYS, "cannot set owner");
	if (rc == 0)
		rc = cf_fs_write_xattrs(fd, n->xattrs, n->nxattrs);
	/* a chown clears set-id bits; a new file often has its mode already (create_file) */
	if (rc == 0 && (owner || !known || (st.st_mode & 07777) != (n->mode & 07777)) &&
	    fchmod(fd, (mode_t)n->mode) != 0)
		rc = cf_err_set(CF_ESYS, "cannot set mode");
	ts[0].tv_sec = (time_t)n->mtime_s;
	ts[0].tv_nsec = (long)n->mtime_ns;
	ts[1] = ts[0];
	if (rc == 0 && futimens(fd, ts) != 0)
		rc = cf_err_set(CF_ESYS, "cannot set times");
	return rc;
}

/* Owner and times of an entry that cannot be opened (symlink, fifo, device). */
static int
set_meta_at(struct rs *s, int dfd, const char *name, const struct cf_node *n)
{
	struct timespec ts[2];

	if (s->root && fchownat(dfd, name, (uid_t)n->uid, (gid_t)n->gid, AT_SYMLINK_NOFOLLOW) != 0)
		return cf_err_set(CF_ESYS, "cannot set owner");
	if (n->type != CF_NODE_SYMLINK && fchmodat(dfd, name, (mode_t)n->mode, 0) != 0)
		return cf_err_set(CF_ESYS, "cannot set mode");
	ts[0].tv_sec = (time_t)n->mtime_s;
	ts[0].tv_nsec = (long)n->mtime_ns;
	ts[1] = ts[0];
	if (utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) != 0)
		return cf_err_set(CF_ESYS, "cannot set times");
	return 0;
}

/* Read back a written chunk and check it against its id (--verify). */
static int
verify_chunk(struct rs *s, int fd, const struct cf_part *p, uint64_t off)
{
	uint8_t id[CF_ID_BYTES];
	uint8_t *buf = cf_malloc((size_t)p->len);
	size_t got = 0;
	int rc = 0;

	if (buf == NULL)
		return CF_ENOMEM;
	while (got < p->len) {
		ssize_t n = pread(fd, buf + got, (size_t)p->len - got, (off_t)(off + got));

		if (n <= 0) {
			rc = cf_err_set(CF_ESYS, "cannot read back");
			goto out;
		}
		got += (size_t)n;
	}
	cf_mac(id, s->r->k_id, buf, got);
	if (memcmp(id, p->id, CF_ID_BYTES) != 0)
		rc = cf_err_set(CF_EINTEGRITY, "the bytes written do not verify");
out:
	cf_free_wipe(buf, (size_t)p->len);
	return rc;
}

/* The stage for @n's contents: large files only, and not when each chunk is read back. */
static uint8_t *
stage_for(struct rs *s, struct rs_wk *w, const struct cf_node *n)
{
	if (n->size < RS_DIRECT_MIN || s->verify)
		return NULL;
	if (w->stage == NULL)
		w->stage = cf_fs_stage_new();
	return w->stage;
}

/* Up to RS_AHEAD ids of the chunks from part @i of @files[0] on, holes skipped. */
static size_t
ids_ahead(const struct rs_file *files, size_t nfiles, size_t i, const uint8_t *ids[static RS_AHEAD])
{
	size_t n = 0;

	for (size_t f = 0; f < nfiles && n < RS_AHEAD; f++, i = 0)
		for (; i < files[f].n->nparts && n < RS_AHEAD; i++)
			if (!files[f].n->parts[i].hole)
				ids[n++] = files[f].n->parts[i].id;
	return n;
}

/*
 * Chunk @p (@ids[0]) into @out: decrypted and decompressed straight into the direct-I/O stage
 * when it has room, else through a buffer of its own.
 */
static int
put_part(struct rs *s, struct rs_wk *w, struct cf_fs_out *out, const struct cf_part *p,
         const uint8_t *const *ids, size_t nids)
{
	uint8_t *room = NULL;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc;

	if (cf_fs_out_space(out, (size_t)p->len, &room) != 0)
		return cf_err_set(CF_ESYS, "cannot write");
	if (room != NULL) {
		if ((rc = cf_repo_read_blob_run_into(s->r, &w->runs, ids, nids, w->z, room,
		                                     (size_t)p->len)) != 0)
			return rc;
		return cf_fs_out_commit(out, (size_t)p->len) != 0
		               ? cf_err_set(CF_ESYS, "cannot write")
		               : 0;
	}
	if ((rc = cf_repo_read_blob_run(s->r, &w->runs, ids, nids, w->z, &data, &len)) != 0)
		return rc;
	if (len != p->len)
		rc = cf_repo_blob_len_error(p->id, len, (size_t)p->len);
	else if (cf_fs_out_write(out, data, len) != 0)
		rc = cf_err_set(CF_ESYS, "cannot write");
	cf_free_wipe(data, len);
	return rc;
}

/*
 * Write @files[0]'s parts front to back, holes as holes, then set the size. The files after
 * it (@nfiles in all) are written next: their chunks may come in the same run.
 */
static int
write_content(struct rs *s, struct rs_wk *w, int fd, const struct rs_file *files, size_t nfiles)
{
	const struct cf_node *n = files[0].n;
	const uint8_t *ids[RS_AHEAD];
	struct cf_fs_out out;
	uint64_t off = 0;
	int rc = 0;

	cf_fs_out_start(&out, fd, stage_for(s, w, n));
	for (size_t i = 0; i < n->nparts && rc == 0; i++) {
		const struct cf_part *p = &n->parts[i];

		if (p->hole) {
			if (cf_fs_out_hole(&out, p->len) != 0)
				rc = cf_err_set(CF_ESYS, "cannot write");
			off += p->len;
			continue;
		}
		if ((rc = put_part(s, w, &out, p, ids, ids_ahead(files, nfiles, i, ids))) != 0)
			break;
		if (s->verify && (rc = verify_chunk(s, fd, p, off)) != 0)
			break;
		off += p->len;
		pthread_mutex_lock(&s->mu);
		s->progress.bytes += p->len;
		cf_emit_progress(&s->ev, &s->progress, false);
		pthread_mutex_unlock(&s->mu);
	}
	if (rc == 0 && cf_fs_out_finish(&out, n->size) != 0)
		rc = cf_err_set(CF_ESYS, "cannot write or set the size");
	return rc;
}

static struct link_seen *
link_find(struct rs *s, const struct cf_node *n)
{
	for (size_t i = 0; i < s->nlinks; i++)
		if (s->links[i].dev == n->dev && s->links[i].ino == n->ino)
			return &s->links[i];
	return NULL;
}

static int
link_add(struct rs *s, const struct cf_node *n)
{
	struct link_seen *l = NULL;

	if (s->nlinks == s->links_cap) {
		size_t ncap = s->links_cap == 0 ? 16 : s->links_cap * 2;

		if ((l = cf_realloc(s->links, ncap * sizeof(*l))) == NULL)
			return CF_ENOMEM;
		s->links = l;
		s->links_cap = ncap;
	}
	l = &s->links[s->nlinks];
	l->dev = n->dev;
	l->ino = n->ino;
	l->len = s->path.len - 1;
	if ((l->rel = cf_memdup(s->path.p + 1, l->len + 1)) == NULL)
		return CF_ENOMEM;
	s->nlinks++;
	return 0;
}

/* Open the directory holding @rel (below the target), following no symbolic link. */
static int
open_parent(struct rs *s, const struct link_seen *l, const char **last)
{
	char *p = (char *)l->rel; /* NUL-terminated copy owned by the link record */
	char *slash = strrchr(p, '/');
	int fd;

	if (slash == NULL) {
		*last = p;
		return dup(s->target);
	}
	*slash = '\0';
	fd = cf_fs_open_beneath(s->target, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	*slash = '/';
	*last = slash + 1;
	return fd;
}

/* A second name of an inode already restored: link it. False when that is not possible. */
static bool
relink(struct rs *s, int dfd, const char *name, const struct cf_node *n)
{
	struct link_seen *l = n->nlink > 1 ? link_find(s, n) : NULL;
	const char *last = NULL;
	int pfd = -1;
	bool ok = false;

	if (l == NULL || (pfd = open_parent(s, l, &last)) < 0)
		return false;
	ok = clear_name(dfd, name) == 0 && linkat(pfd, last, dfd, name, 0) == 0;
	(void)close(pfd);
	return ok;
}

/*
 * The permission bits to create @n with in @rt's directory. Its own (less the umask, so
 * set_meta_fd() seldom needs a chmod) when the new file already has its final owner and group:
 * always without root, which changes neither; with root, when they are root's and the directory
 * does not impose its group. Else only the owner's, so that no one else can open the file
 * while it is written under another owner or group. Set-id bits come after the owner.
 */
static mode_t
create_mode(const struct rs *s, const struct rs_tree *rt, const struct cf_node *n)
{
	if (!s->root || (n->uid == s->euid && n->gid == s->egid && !rt->sgid))
		return (mode_t)(n->mode & 0777);
	return (mode_t)(n->mode & 0700);
}

/* A new empty file at @name, replacing whatever is there (a fresh target has nothing). */
static int
create_file(int dfd, const char *name, mode_t mode)
{
	const int fl = O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	int fd = openat(dfd, name, fl, mode);

	if (fd < 0 && errno == EEXIST && clear_name(dfd, name) == 0)
		fd = openat(dfd, name, fl, mode);
	return fd;
}

/* Create and fill one file, then its metadata. Runs on a worker or on the walking thread. */
static void
write_file(struct rs *s, struct rs_wk *w, const struct rs_file *files, size_t nfiles)
{
	const struct cf_node *n = files[0].n;
	const char *path = files[0].path;
	int dfd = files[0].dfd;
	char name[CF_NAME_MAX + 1];
	int fd = -1;
	int rc;

	memcpy(name, n->name, n->name_len);
	name[n->name_len] = '\0';
	if ((fd = create_file(dfd, name, create_mode(s, files[0].rt, n))) < 0) {
		(void)cf_err_set(CF_ESYS, "cannot create");
		report_at(s, path, CF_ESYS, "cannot restore");
		return;
	}
	rc = write_content(s, w, fd, files, nfiles);
	if (rc == 0)
		rc = set_meta_fd(s, fd, n);
	(void)close(fd);
	if (rc == CF_EINTEGRITY || rc == CF_EAUTH || (rc != 0 && rc != CF_ESYS)) {
		/* never leave wrong or partial bytes behind under the file's name */
		(void)unlinkat(dfd, name, 0);
		report_at(s, path, rc == CF_ENOMEM ? rc : CF_EINTEGRITY, "cannot restore");
	} else if (rc != 0) {
		report_at(s, path, rc, "cannot restore");
	}
}

static int batch_add(struct rs *s, struct rs_tree *rt, int dfd, const struct cf_node *n);

static void
restore_file(struct rs *s, struct rs_tree *rt, int dfd, const char *name, const struct cf_node *n)
{
	struct rs_file one = {0};

	pthread_mutex_lock(&s->mu);
	s->progress.files++;
	pthread_mutex_unlock(&s->mu);
	if (relink(s, dfd, name, n))
		return;
	/* hard links stay on this thread: the first name must exist before the others */
	if (s->pool != NULL && n->nlink <= 1) {
		int rc = batch_add(s, rt, dfd, n);

		if (rc != 0)
			report(s, rc, "cannot restore");
		return;
	}
	one.n = n;
	one.dfd = dfd;
	one.rt = rt;
	if ((one.path = cf_strdup(cf_path_cstr(&s->path))) == NULL) {
		report(s, CF_ENOMEM, "cannot restore");
		return;
	}
	write_file(s, &s->wk, &one, 1);
	cf_free(one.path);
	if (n->nlink > 1 && link_add(s, n) != 0)
		report(s, CF_ENOMEM, "cannot restore");
}

static void
restore_special(struct rs *s, int dfd, const char *name, const struct cf_node *n)
{
	char target[CF_TARGET_MAX + 1];
	int rc = 0;

	if (clear_name(dfd, name) != 0) {
		report(s, cf_err_set(CF_ESYS, "cannot replace"), "cannot restore");
		return;
	}
	switch ((enum cf_node_type)n->type) {
	case CF_NODE_SYMLINK:
		memcpy(target, n->target, n->target_len);
		target[n->target_len] = '\0';
		rc = symlinkat(target, dfd, name);
		break;
	case CF_NODE_FIFO:
		rc = mkfifoat(dfd, name, 0600);
		break;
	case CF_NODE_CHARDEV:
	case CF_NODE_BLOCKDEV:
		rc = mknodat(dfd, name, (n->type == CF_NODE_CHARDEV ? S_IFCHR : S_IFBLK) | 0600,
		             (dev_t)n->rdev);
		break;
	case CF_NODE_FILE:
	case CF_NODE_HARDLINK:
	case CF_NODE_DIR:
		return;
	}
	if (rc != 0) {
		report(s, cf_err_set(CF_ESYS, "cannot create"), "cannot restore");
		return;
	}
	if (set_meta_at(s, dfd, name, n) != 0)
		report(s, CF_ESYS, "cannot restore");
}

static void
rs_tree_put(struct rs_tree *rt)
{
	if (rt != NULL && atomic_fetch_sub(&rt->refs, 1) == 1) {
		cf_tree_free(rt->t);
		cf_free(rt);
	}
}

/* Keep a directory's metadata for the end, when no file inside it is still being written. */
static int
defer_dir_meta(struct rs *s, struct rs_tree *rt, const struct cf_node *n)
{
	struct dir_meta *d = NULL;

	if (s->ndirs == s->dirs_cap) {
		size_t ncap = s->dirs_cap == 0 ? 64 : s->dirs_cap * 2;

		if ((d = cf_realloc(s->dirs, ncap * sizeof(*d))) == NULL)
			return CF_ENOMEM;
		s->dirs = d;
		s->dirs_cap = ncap;
	}
	d = &s->dirs[s->ndirs];
	if ((d->rel = cf_strdup(cf_path_cstr(&s->path) + 1)) == NULL)
		return CF_ENOMEM;
	atomic_fetch_add(&rt->refs, 1);
	d->rt = rt;
	d->n = n;
	s->ndirs++;
	return 0;
}

static int restore_tree(struct rs *s, int dfd, const uint8_t id[static CF_ID_BYTES]);

static int
restore_dir(struct rs *s, struct rs_tree *rt, int dfd, const char *name, const struct cf_node *n,
            enum sel sel)
{
	int fd = make_dir(dfd, name);
	int rc = 0;

	if (fd < 0) {
		report(s, cf_err_set(CF_ESYS, "cannot create directory"), "cannot restore");
		return 0;
	}
	rc = restore_tree(s, fd, n->subtree);
	if (rc == 0 && sel == SEL_ALL) {
		if (s->pool != NULL)
			rc = defer_dir_meta(s, rt, n);
		else if (set_meta_fd(s, fd, n) != 0)
			report(s, CF_ESYS, "cannot restore");
	}
	(void)close(fd);
	return rc;
}

/* Restore one node of a tree. Only errors that stop the whole restore are returned. */
static int
restore_node(struct rs *s, struct rs_tree *rt, int dfd, const struct cf_node *n)
{
	char name[CF_NAME_MAX + 1];
	size_t saved = 0;
	enum sel sel;
	int rc = 0;

	if ((rc = cf_path_push(&s->path, n->name, n->name_len, &saved)) != 0)
		return rc;
	memcpy(name, n->name, n->name_len);
	name[n->name_len] = '\0';
	sel = select_node(s);
	if (sel == SEL_NONE || (sel == SEL_ANCESTOR && n->type != CF_NODE_DIR))
		goto out;
	if (n->type == CF_NODE_DIR)
		rc = restore_dir(s, rt, dfd, name, n, sel);
	else if (n->type == CF_NODE_FILE || n->type == CF_NODE_HARDLINK)
		restore_file(s, rt, dfd, name, n);
	else
		restore_special(s, dfd, name, n);
out:
	cf_path_pop(&s->path, saved);
	return rc;
}

static int
restore_tree(struct rs *s, int dfd, const uint8_t id[static CF_ID_BYTES])
{
	struct stat st;
	struct rs_tree *rt = NULL;
	struct cf_tree *t = NULL;
	int rc;

	if ((rc = cf_repo_load_tree_win(s->r, &s->trees, id, s->wk.z, &t)) != 0) {
		if (rc != CF_EINTEGRITY)
			return rc;
		report(s, rc, "cannot restore directory");
		return 0;
	}
	if ((rt = cf_malloc(sizeof(*rt))) == NULL) {
		cf_tree_free(t);
		return CF_ENOMEM;
	}
	rt->t = t;
	atomic_init(&rt->refs, 1);
	rt->sgid = s->root && (fstat(dfd, &st) != 0 || (st.st_mode & S_ISGID) != 0);
	for (size_t i = 0; i < t->count && rc == 0; i++)
		rc = restore_node(s, rt, dfd, &t->nodes[i]);
	rs_tree_put(rt);
	return rc;
}

/* ---- the worker pool ---- */

static void
job_release(struct rs_job *j)
{
	for (size_t i = 0; i < j->nfiles; i++) {
		struct rs_file *f = &j->f[i];

		if (f->owns) {
			(void)close(f->dfd);
			rs_tree_put(f->rt);
		}
		cf_free(f->path);
	}
	memset(j, 0, sizeof(*j));
}

/* A file of a batch and where its first chunk is stored, to write the batch in pack order. */
struct rs_where {
	struct cf_blob_loc loc; /* zero: no chunk, or not found (read alone, reported then) */
	size_t i;
};

static int
where_cmp(const void *a, const void *b)
{
	const struct rs_where *x = a;
	const struct rs_where *y = b;
	int c = memcmp(x->loc.pack, y->loc.pack, CF_ID_BYTES);

	if (c != 0)
		return c;
	return x->loc.e.offset < y->loc.e.offset ? -1 : x->loc.e.offset > y->loc.e.offset;
}

/*
 * The order to write a batch's files in: by where their first chunks are. The backup wrote
 * small files into the packs of several workers, so in walk order neighbours in a pack are
 * rarely neighbours in the batch. Returns the files, reordered, in @out.
 */
static void
order_by_pack(struct rs *s, const struct rs_job *j, struct rs_file out[static RS_BATCH])
{
	struct rs_where v[RS_BATCH];

	memset(v, 0, sizeof(v));
	for (size_t i = 0; i < j->nfiles; i++) {
		const struct cf_node *n = j->f[i].n;

		v[i].i = i;
		for (size_t k = 0; k < n->nparts; k++) {
			if (!n->parts[k].hole) {
				if (cf_repo_lookup(s->r, n->parts[k].id, &v[i].loc) != 0)
					memset(&v[i].loc, 0, sizeof(v[i].loc));
				break;
			}
		}
	}
	qsort(v, j->nfiles, sizeof(v[0]), where_cmp);
	for (size_t i = 0; i < j->nfiles; i++)
		out[i] = j->f[v[i].i];
}

/* Write a job's files in pack order, each with the ones after it to look ahead into. */
static void
job_run(struct rs *s, struct rs_wk *w, struct rs_job *j)
{
	struct rs_file order[RS_BATCH];

	order_by_pack(s, j, order);
	for (size_t i = 0; i < j->nfiles; i++)
		write_file(s, w, &order[i], j->nfiles - i);
	job_release(j);
}

/* A worker: jobs until the queue is closed and empty. */
static void *
pool_main(void *arg)
{
	struct rs_worker *wk = arg;
	struct rs_pool *p = wk->p;
	struct rs_job j;
	size_t fds;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->count == 0 && !p->closing)
			pthread_cond_wait(&p->not_empty, &p->mu);
		if (p->count == 0) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		j = p->q[p->head];
		p->head = (p->head + 1) % RS_QUEUE;
		p->count--;
		pthread_cond_signal(&p->not_full);
		pthread_mutex_unlock(&p->mu);
		fds = j.nowned;
		job_run(p->s, &wk->w, &j);
		pthread_mutex_lock(&p->mu);
		p->dir_fds -= fds;
		pthread_cond_signal(&p->not_full);
		pthread_mutex_unlock(&p->mu);
	}
	return NULL;
}

/* Hand the batch being gathered to the workers. */
static void
batch_flush(struct rs *s)
{
	struct rs_pool *p = s->pool;

	if (s->batch.nfiles == 0)
		return;
	pthread_mutex_lock(&p->mu);
	while (p->count == RS_QUEUE ||
	       (p->dir_fds > 0 && p->dir_fds + s->batch.nowned > RS_DIR_FDS))
		pthread_cond_wait(&p->not_full, &p->mu);
	p->q[(p->head + p->count) % RS_QUEUE] = s->batch;
	p->count++;
	p->dir_fds += s->batch.nowned;
	pthread_cond_signal(&p->not_empty);
	pthread_mutex_unlock(&p->mu);
	memset(&s->batch, 0, sizeof(s->batch));
}

/*
 * Give @n, in directory @dfd of tree @rt, to the workers: a large file as a job of its own,
 * small files gathered into a batch until it is full.
 */
static int
batch_add(struct rs *s, struct rs_tree *rt, int dfd, const struct cf_node *n)
{
	struct rs_job *b = &s->batch;
	struct rs_file *f = &b->f[b->nfiles];
	bool large = n->size >= RS_ALONE_MIN;

	if (b->nfiles > 0 && large) {
		batch_flush(s);
		f = &b->f[0];
	}
	memset(f, 0, sizeof(*f));
	if ((f->path = cf_strdup(cf_path_cstr(&s->path))) == NULL)
		return CF_ENOMEM;
	if (b->nfiles > 0 && f[-1].rt == rt) {
		f->dfd = f[-1].dfd; /* the same directory: its descriptor is held */
		f->rt = rt;
	} else if ((f->dfd = dup(dfd)) >= 0) {
		f->owns = true;
		f->rt = rt;
		atomic_fetch_add(&rt->refs, 1);
		b->nowned++;
	} else {
		cf_free(f->path);
		f->path = NULL;
		return cf_err_set(CF_ESYS, "cannot open its directory again");
	}
	f->n = n;
	b->nfiles++;
	b->bytes += n->size;
	if (large || b->nfiles == RS_BATCH || b->bytes >= RS_BATCH_BYTES ||
	    b->nowned == RS_BATCH_DIR_FDS)
		batch_flush(s);
	return 0;
}

/* Start @n workers, each with its context made first: a worker never fails to start. */
static int
pool_start(struct rs *s, int n)
{
	struct rs_pool *p = cf_calloc(1, sizeof(*p));

	if (p == NULL)
		return CF_ENOMEM;
	p->s = s;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->not_empty, NULL);
	pthread_cond_init(&p->not_full, NULL);
	for (int i = 0; i < n && i < RS_MAX_WORKERS; i++) {
		struct rs_worker *wk = &p->wk[p->n];

		wk->p = p;
		if (cf_zctx_new(1, &wk->w.z) != 0)
			break;
		if (pthread_create(&wk->th, NULL, pool_main, wk) != 0) {
			cf_zctx_free(wk->w.z);
			wk->w.z = NULL;
			break;
		}
		p->n++;
	}
	if (p->n > 0) {
		s->pool = p;
		return 0;
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->not_empty);
	pthread_cond_destroy(&p->not_full);
	cf_free(p);
	return 0;
}

/* Drain the queue and stop the workers (what a failed worker left is written here). */
static void
pool_finish(struct rs *s)
{
	struct rs_pool *p = s->pool;

	if (p == NULL)
		return;
	batch_flush(s);
	pthread_mutex_lock(&p->mu);
	p->closing = true;
	pthread_cond_broadcast(&p->not_empty);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->n; i++) {
		struct rs_wk *w = &p->wk[i].w;

		pthread_join(p->wk[i].th, NULL);
		cf_zctx_free(w->z);
		cf_fs_stage_free(w->stage);
		cf_blob_cache_release(&w->runs);
	}
	for (; p->count > 0; p->count--, p->head = (p->head + 1) % RS_QUEUE)
		job_run(s, &s->wk, &p->q[p->head]);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->not_empty);
	pthread_cond_destroy(&p->not_full);
	cf_free(p);
	s->pool = NULL;
}

/* Directory metadata last, deepest first, each directory opened again below the target. */
static void
apply_dir_metas(struct rs *s)
{
	for (size_t i = s->ndirs; i > 0; i--) {
		struct dir_meta *d = &s->dirs[i - 1];
		int fd = cf_fs_open_beneath(s->target, d->rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0 || set_meta_fd(s, fd, d->n) != 0) {
			(void)cf_err_set(CF_ESYS, "cannot set directory metadata");
			report_at(s, d->rel, CF_ESYS, "cannot restore");
		}
		if (fd >= 0)
			(void)close(fd);
		cf_free(d->rel);
		rs_tree_put(d->rt);
	}
	cf_free(s->dirs);
	s->dirs = NULL;
	s->ndirs = 0;
}

/* --include values, made absolute-looking and without a trailing '/'. */
static int
collect_includes(struct rs *s)
{
	const char *v = NULL;
	size_t n = 0;

	while (cf_opts_nth(s->o, "include", n) != NULL)
		n++;
	if (n == 0)
		return 0;
	if ((s->inc = cf_calloc(n, sizeof(*s->inc))) == NULL ||
	    (s->inc_hit = cf_calloc(n, sizeof(*s->inc_hit))) == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; (v = cf_opts_nth(s->o, "include", i)) != NULL; i++) {
		size_t len = strlen(v);
		char *p = cf_malloc(len + 2);

		if (p == NULL)
			return CF_ENOMEM;
		(void)snprintf(p, len + 2, "%s%s", v[0] == '/' ? "" : "/", v);
		len = strlen(p);
		while (len > 1 && p[len - 1] == '/')
			p[--len] = '\0';
		s->inc[s->ninc++] = p;
	}
	return 0;
}

/*
 * Workers writing files: "workers" option, else four per CPU. Their reads and writes are
 * direct and synchronous: in a profile of a 1 GiB restore each worker waited for the disk
 * about 40 % of the time, and with two per CPU the CPUs were idle a fifth of the time.
 */
static int
restore_workers(const struct cf_opts *o, int *out)
{
	const char *v = cf_opts_get(o, "workers");
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t n = 0;

	*out = ncpu > 0 && ncpu < RS_MAX_WORKERS / 4 ? (int)ncpu * 4 : RS_MAX_WORKERS;
	if (v == NULL)
		return 0;
	if (cf_parse_u64(v, 0, RS_MAX_WORKERS, &n) != 0)
		return cf_err_set(CF_EUSAGE, "workers: '%s' is not a number from 0 to %d", v,
		                  RS_MAX_WORKERS);
	*out = (int)n;
	return 0;
}

int
cf_restore(struct cf_repo *r, const struct cf_snapshot *snap, const struct cf_opts *o,
           cf_event_fn *fn, void *arg)
{
	const char *target = cf_opts_get(o, "target");
	int nworkers = 0;
	struct rs s;
	int rc;

	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.mu, NULL);
	s.r = r;
	s.o = o;
	s.ev.fn = fn;
	s.ev.arg = arg;
	s.root = geteuid() == 0;
	s.euid = geteuid();
	s.egid = getegid();
	s.verify = cf_opts_flag(o, "verify");
	s.target = -1;
	if (target == NULL || *target == '\0') {
		rc = cf_err_set(CF_EUSAGE, "no target directory given (--target)");
		goto out;
	}
	/* the index is loaded before the workers start: they only read it */
	if ((rc = restore_workers(o, &nworkers)) != 0 || (rc = cf_repo_can_read(r)) != 0 ||
	    (rc = cf_repo_load_index(r)) != 0 || (rc = collect_includes(&s)) != 0 ||
	    (rc = cf_zctx_new(1, &s.wk.z)) != 0 || (rc = cf_mkdir_p(target, 0700)) != 0)
		goto out;
	if ((s.target = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = cf_err_set(CF_ESYS, "cannot open target '%s'", target);
		goto out;
	}
	s.progress.bytes_total = snap->stats.total_bytes;
	s.progress.files_total =
	        snap->stats.files_new + snap->stats.files_changed + snap->stats.files_unmodified;
	if ((rc = pool_start(&s, nworkers)) != 0)
		goto out;
	rc = restore_tree(&s, s.target, snap->tree);
	pool_finish(&s);
	apply_dir_metas(&s);
	if (rc != 0)
		goto out;
	cf_emit_progress(&s.ev, &s.progress, true);
	for (size_t i = 0; i < s.ninc; i++) {
		if (!s.inc_hit[i]) {
			rc = cf_err_set(CF_ENOENT, "--include '%s' matches nothing in the snapshot",
			                s.inc[i]);
			goto out;
		}
	}
	if (s.damaged > 0)
		rc = cf_err_set(CF_EINTEGRITY,
		                "%llu item(s) could not be restored because the "
		                "repository is damaged",
		                (unsigned long long)s.damaged);
	else if (s.failed > 0)
		rc = cf_err_set(CF_EPARTIAL, "%llu item(s) could not be restored",
		                (unsigned long long)s.failed);
out:
	pool_finish(&s);
	apply_dir_metas(&s);
	if (s.target >= 0)
		(void)close(s.target);
	for (size_t i = 0; i < s.nlinks; i++)
		cf_free(s.links[i].rel);
	cf_free(s.links);
	for (size_t i = 0; i < s.ninc; i++)
		cf_free(s.inc[i]);
	cf_free(s.inc);
	cf_free(s.inc_hit);
	cf_path_release(&s.path);
	cf_zctx_free(s.wk.z);
	cf_fs_stage_free(s.wk.stage);
	cf_blob_cache_release(&s.wk.runs);
	cf_blob_cache_release(&s.trees);
	pthread_mutex_destroy(&s.mu);
	return rc;
}
