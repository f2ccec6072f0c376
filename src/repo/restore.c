/*
 * restore.c - write a snapshot's tree into a target directory. Every name is created with
 * *at() calls relative to an open directory and O_NOFOLLOW, so a symlink planted in the
 * target cannot redirect a write outside it. Every chunk is verified before it is written;
 * a file with a damaged chunk is removed and reported, and the rest goes on.
 */
#define _GNU_SOURCE 1 /* mknodat's device numbers, utimensat on symlinks */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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

struct rs {
	struct cf_repo *r;
	const struct cf_opts *o;
	struct cf_events ev;
	struct cf_zctx *z;
	struct cf_path path;
	char **inc;
	bool *inc_hit; /* each --include matched something */
	size_t ninc;
	bool root;
	bool verify;
	int target;
	struct link_seen *links;
	size_t nlinks;
	size_t links_cap;
	uint64_t damaged;
	uint64_t failed;
	struct cf_progress progress;
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

/* Report a failed item, naming it: "cannot restore '/a/b': <why>". */
static void
report(struct rs *s, int code, const char *what)
{
	char why[1024];

	if (code == CF_EINTEGRITY)
		s->damaged++;
	else
		s->failed++;
	cf_err_copy(why, sizeof(why));
	cf_emit_item(&s->ev, CF_EV_ITEM_ERROR, code, s->path.p, s->path.len, "%s '%s': %s", what,
	             cf_path_cstr(&s->path), why);
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
	int rc = 0;

	if (s->root && fchown(fd, (uid_t)n->uid, (gid_t)n->gid) != 0)
		rc = cf_err_set(CF_ESYS, "cannot set owner");
	if (rc == 0)
		rc = cf_fs_write_xattrs(fd, n->xattrs, n->nxattrs);
	if (rc == 0 && fchmod(fd, (mode_t)n->mode) != 0)
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

static int
write_all_at(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return CF_ESYS;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
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

/* Write each part at its offset; holes are skipped and the size set at the end. */
static int
write_content(struct rs *s, int fd, const struct cf_node *n)
{
	uint64_t off = 0;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = 0;

	for (size_t i = 0; i < n->nparts && rc == 0; i++) {
		const struct cf_part *p = &n->parts[i];

		if (!p->hole) {
			if ((rc = cf_repo_read_blob(s->r, p->id, s->z, &data, &len)) != 0)
				break;
			if (len != p->len)
				rc = cf_err_set(CF_EINTEGRITY,
				                "chunk length differs from the tree");
			else if (write_all_at(fd, data, len, off) != 0)
				rc = cf_err_set(CF_ESYS, "cannot write");
			else if (s->verify)
				rc = verify_chunk(s, fd, p, off);
			cf_free_wipe(data, len);
			data = NULL;
			s->progress.bytes += p->len;
			cf_emit_progress(&s->ev, &s->progress, false);
		}
		off += p->len;
	}
	if (rc == 0 && ftruncate(fd, (off_t)n->size) != 0)
		rc = cf_err_set(CF_ESYS, "cannot set the size");
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

/* Open the directory holding @rel (below the target), one component at a time. */
static int
open_parent(struct rs *s, const struct link_seen *l, const char **last)
{
	char *p = (char *)l->rel; /* NUL-terminated copy owned by the link record */
	int fd = dup(s->target);
	char *slash = NULL;

	while (fd >= 0 && (slash = strchr(p, '/')) != NULL) {
		int next = -1;

		*slash = '\0';
		next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		*slash = '/';
		(void)close(fd);
		fd = next;
		p = slash + 1;
	}
	*last = p;
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

static void
restore_file(struct rs *s, int dfd, const char *name, const struct cf_node *n)
{
	int fd = -1;
	int rc;

	s->progress.files++;
	if (relink(s, dfd, name, n))
		return;
	if (clear_name(dfd, name) != 0 ||
	    (fd = openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) <
	            0) {
		(void)cf_err_set(CF_ESYS, "cannot create");
		report(s, CF_ESYS, "cannot restore");
		return;
	}
	rc = write_content(s, fd, n);
	if (rc == 0)
		rc = set_meta_fd(s, fd, n);
	(void)close(fd);
	if (rc == CF_EINTEGRITY || rc == CF_EAUTH || (rc != 0 && rc != CF_ESYS)) {
		/* never leave wrong or partial bytes behind under the file's name */
		(void)unlinkat(dfd, name, 0);
		report(s, rc == CF_ENOMEM ? rc : CF_EINTEGRITY, "cannot restore");
		return;
	}
	if (rc != 0)
		report(s, rc, "cannot restore");
	else if (n->nlink > 1 && link_add(s, n) != 0)
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

static int restore_tree(struct rs *s, int dfd, const uint8_t id[static CF_ID_BYTES]);

static int
restore_dir(struct rs *s, int dfd, const char *name, const struct cf_node *n, enum sel sel)
{
	int fd = make_dir(dfd, name);
	int rc = 0;

	if (fd < 0) {
		report(s, cf_err_set(CF_ESYS, "cannot create directory"), "cannot restore");
		return 0;
	}
	rc = restore_tree(s, fd, n->subtree);
	if (rc == 0 && sel == SEL_ALL && set_meta_fd(s, fd, n) != 0)
		report(s, CF_ESYS, "cannot restore");
	(void)close(fd);
	return rc;
}

/* Restore one node of a tree. Only errors that stop the whole restore are returned. */
static int
restore_node(struct rs *s, int dfd, const struct cf_node *n)
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
		rc = restore_dir(s, dfd, name, n, sel);
	else if (n->type == CF_NODE_FILE || n->type == CF_NODE_HARDLINK)
		restore_file(s, dfd, name, n);
	else
		restore_special(s, dfd, name, n);
out:
	cf_path_pop(&s->path, saved);
	return rc;
}

static int
restore_tree(struct rs *s, int dfd, const uint8_t id[static CF_ID_BYTES])
{
	struct cf_tree *t = NULL;
	int rc;

	if ((rc = cf_repo_load_tree(s->r, id, s->z, &t)) != 0) {
		if (rc != CF_EINTEGRITY)
			return rc;
		report(s, rc, "cannot restore directory");
		return 0;
	}
	for (size_t i = 0; i < t->count && rc == 0; i++)
		rc = restore_node(s, dfd, &t->nodes[i]);
	cf_tree_free(t);
	return rc;
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

int
cf_restore(struct cf_repo *r, const struct cf_snapshot *snap, const struct cf_opts *o,
           cf_event_fn *fn, void *arg)
{
	const char *target = cf_opts_get(o, "target");
	struct rs s;
	int rc;

	memset(&s, 0, sizeof(s));
	s.r = r;
	s.o = o;
	s.ev.fn = fn;
	s.ev.arg = arg;
	s.root = geteuid() == 0;
	s.verify = cf_opts_flag(o, "verify");
	s.target = -1;
	if (target == NULL || *target == '\0')
		return cf_err_set(CF_EINVAL, "no target directory given (--target)");
	if ((rc = cf_repo_can_read(r)) != 0 || (rc = collect_includes(&s)) != 0 ||
	    (rc = cf_zctx_new(1, &s.z)) != 0 || (rc = cf_mkdir_p(target, 0700)) != 0)
		goto out;
	if ((s.target = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = cf_err_set(CF_ESYS, "cannot open target '%s'", target);
		goto out;
	}
	s.progress.bytes_total = snap->stats.total_bytes;
	s.progress.files_total =
	        snap->stats.files_new + snap->stats.files_changed + snap->stats.files_unmodified;
	if ((rc = restore_tree(&s, s.target, snap->tree)) != 0)
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
	cf_zctx_free(s.z);
	return rc;
}
