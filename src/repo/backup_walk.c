/*
 * backup_walk.c - the directory walk: openat/fstatat all the way down (no path is ever
 * longer than one name, so trees deeper than PATH_MAX work), one tree blob per directory
 * written after its children (post-order), intermediate directories above the given paths.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../compress/compress.h"
#include "../fs/fs.h"
#include "backup.h"

#define NAMES_MAX (1u << 24)

/* Cached uid/gid -> name lookups (most trees have one owner). */
static int
owner_name(struct bk *b, int slot, uint32_t id, uint8_t **out, size_t *len)
{
	if (!b->uname_valid[slot] || b->uname_id[slot] != id) {
		if (slot == 0)
			cf_fs_user_name(id, b->uname_cache[0], sizeof(b->uname_cache[0]));
		else
			cf_fs_group_name(id, b->uname_cache[1], sizeof(b->uname_cache[1]));
		b->uname_id[slot] = id;
		b->uname_valid[slot] = true;
	}
	*len = strlen(b->uname_cache[slot]);
	if (*len == 0)
		return 0;
	*out = cf_memdup(b->uname_cache[slot], *len);
	return *out == NULL ? CF_ENOMEM : 0;
}

static uint8_t
node_type(mode_t m)
{
	if (S_ISREG(m))
		return CF_NODE_FILE;
	if (S_ISDIR(m))
		return CF_NODE_DIR;
	if (S_ISLNK(m))
		return CF_NODE_SYMLINK;
	if (S_ISFIFO(m))
		return CF_NODE_FIFO;
	if (S_ISCHR(m))
		return CF_NODE_CHARDEV;
	if (S_ISBLK(m))
		return CF_NODE_BLOCKDEV;
	return 0;
}

int
cf_bk_fill_node(struct bk *b, const uint8_t *name, size_t nlen, const struct stat *st,
                struct cf_node *n)
{
	int rc;

	memset(n, 0, sizeof(*n));
	if ((n->name = cf_memdup(name, nlen)) == NULL)
		return CF_ENOMEM;
	n->name_len = nlen;
	n->type = node_type(st->st_mode);
	n->mode = (uint32_t)(st->st_mode & 07777);
	n->uid = (uint32_t)st->st_uid;
	n->gid = (uint32_t)st->st_gid;
	n->mtime_s = (int64_t)st->st_mtim.tv_sec;
	n->mtime_ns = (uint32_t)st->st_mtim.tv_nsec;
	n->ctime_s = (int64_t)st->st_ctim.tv_sec;
	n->ctime_ns = (uint32_t)st->st_ctim.tv_nsec;
	n->dev = (uint64_t)st->st_dev;
	n->ino = (uint64_t)st->st_ino;
	n->nlink = (uint32_t)st->st_nlink;
	if (n->type == CF_NODE_CHARDEV || n->type == CF_NODE_BLOCKDEV)
		n->rdev = (uint64_t)st->st_rdev;
	if ((rc = owner_name(b, 0, n->uid, &n->user, &n->user_len)) != 0)
		return rc;
	return owner_name(b, 1, n->gid, &n->group, &n->group_len);
}

/* --exclude patterns match the whole path or the last name (like restic's basic globs). */
static bool
excluded(const struct bk *b, const char *name)
{
	const char *path = cf_path_cstr(&b->path);

	for (size_t i = 0; i < b->nexcludes; i++) {
		const char *pat = b->excludes[i];

		if (fnmatch(pat, path, 0) == 0 || fnmatch(pat, name, 0) == 0)
			return true;
		if (pat[0] == '/' && strncmp(path, pat, strlen(pat)) == 0 &&
		    path[strlen(pat)] == '/')
			return true;
	}
	return false;
}

struct name_list {
	char **v;
	size_t n;
	size_t cap;
};

static void
names_free(struct name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		cf_free(l->v[i]);
	cf_free(l->v);
}

static int
name_cmp_qsort(const void *a, const void *b)
{
	const char *x = *(char *const *)a;
	const char *y = *(char *const *)b;

	return cf_name_cmp((const uint8_t *)x, strlen(x), (const uint8_t *)y, strlen(y));
}

/* Every name in the directory, sorted in tree order. */
static int
read_names(int dfd, struct name_list *l)
{
	struct dirent *e = NULL;
	DIR *d = NULL;
	int fd = dup(dfd);
	int rc = 0;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			(void)close(fd);
		return CF_ESYS;
	}
	for (;;) {
		errno = 0;
		if ((e = readdir(d)) == NULL)
			break;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (l->n == l->cap) {
			size_t ncap = l->cap == 0 ? 64 : l->cap * 2;
			char **nv = ncap > NAMES_MAX ? NULL : cf_realloc(l->v, ncap * sizeof(*nv));

			if (nv == NULL) {
				rc = ncap > NAMES_MAX ? CF_ETOOBIG : CF_ENOMEM;
				break;
			}
			l->v = nv;
			l->cap = ncap;
		}
		if ((l->v[l->n] = cf_strdup(e->d_name)) == NULL) {
			rc = CF_ENOMEM;
			break;
		}
		l->n++;
	}
	if (rc == 0 && errno != 0)
		rc = CF_ESYS;
	(void)closedir(d);
	if (rc == 0 && l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), name_cmp_qsort);
	return rc;
}

/* Report an entry that could not be read; the walk goes on without it. */
static int
item_failed(struct bk *b, int rc)
{
	if (b->fatal || (rc != CF_ESYS && rc != CF_ETOOBIG))
		return rc;
	b->errors++;
	cf_emit_item(&b->ev, CF_EV_ITEM_ERROR, rc, b->path.p, b->path.len, "%s", cf_err_last());
	return 0;
}

static int
encode_and_store(struct bk *b, struct cf_tree *t, uint8_t id[static CF_ID_BYTES])
{
	uint8_t *enc = NULL;
	size_t len = 0;
	int rc;

	if ((rc = cf_tree_encode(t, &enc, &len)) != 0)
		return cf_err_wrap(rc, "cannot encode the tree of '%s'", cf_path_cstr(&b->path));
	rc = cf_bk_store_blob(b, CF_BLOB_TREE, enc, len, id);
	if (rc == 0 && b->cache_trees)
		(void)cf_cache_put_tree(b->r, id, enc, len);
	cf_free_wipe(enc, len);
	return rc;
}

/* A subdirectory: open it without following links, read its attributes, walk it. */
static int
walk_subdir(struct bk *b, int dfd, const char *name, const struct stat *st,
            const struct cf_node *prev, struct cf_node *n)
{
	struct cf_tree *pt = NULL;
	int fd = -1;
	int rc;

	b->st.dirs++;
	if (b->one_fs && st->st_dev != b->root_dev)
		return cf_bk_dir(b, -1, NULL, n->subtree);
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return cf_err_set(CF_ESYS, "cannot open directory '%s'", cf_path_cstr(&b->path));
	if ((rc = cf_fs_read_xattrs(fd, &n->xattrs, &n->nxattrs)) != 0) {
		rc = cf_err_wrap(rc, "'%s'", cf_path_cstr(&b->path));
		goto out;
	}
	if (prev != NULL && prev->type == CF_NODE_DIR &&
	    (rc = cf_bk_load_prev(b, prev->subtree, &pt)) != 0)
		goto out;
	rc = cf_bk_dir(b, fd, pt, n->subtree);
out:
	cf_tree_free(pt);
	(void)close(fd);
	return rc;
}

/* Build the node for one directory entry. Returns CF_ENOENT for entries to leave out. */
static int
walk_entry(struct bk *b, int dfd, const char *name, const struct cf_tree *prev, struct cf_node *n)
{
	const struct cf_node *pn = NULL;
	struct stat st;
	char target[CF_TARGET_MAX + 2];
	ssize_t tl;
	int rc;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return cf_err_set(CF_ESYS, "cannot stat '%s'", cf_path_cstr(&b->path));
	if (S_ISSOCK(st.st_mode)) {
		cf_emit_item(&b->ev, CF_EV_WARNING, 0, b->path.p, b->path.len,
		             "skipping socket '%s'", cf_path_cstr(&b->path));
		return CF_ENOENT;
	}
	if (node_type(st.st_mode) == 0)
		return CF_ENOENT;
	if ((rc = cf_bk_fill_node(b, (const uint8_t *)name, strlen(name), &st, n)) != 0)
		return rc;
	if (prev != NULL)
		pn = cf_tree_find(prev, (const uint8_t *)name, strlen(name));
	switch ((enum cf_node_type)n->type) {
	case CF_NODE_FILE:
	case CF_NODE_HARDLINK:
		b->st.total_bytes += (uint64_t)st.st_size;
		return cf_bk_file(b, dfd, name, &st, pn, n);
	case CF_NODE_DIR:
		return walk_subdir(b, dfd, name, &st, pn, n);
	case CF_NODE_SYMLINK:
		tl = readlinkat(dfd, name, target, sizeof(target));
		if (tl <= 0 || (size_t)tl > CF_TARGET_MAX)
			return cf_err_set(tl < 0 ? CF_ESYS : CF_ETOOBIG, "cannot read link '%s'",
			                  cf_path_cstr(&b->path));
		if ((n->target = cf_memdup(target, (size_t)tl)) == NULL)
			return CF_ENOMEM;
		n->target_len = (size_t)tl;
		return 0;
	case CF_NODE_FIFO:
	case CF_NODE_CHARDEV:
	case CF_NODE_BLOCKDEV:
		return 0;
	}
	return CF_ENOENT;
}

int
cf_bk_dir(struct bk *b, int dfd, const struct cf_tree *prev, uint8_t id[static CF_ID_BYTES])
{
	struct name_list names = {0};
	struct cf_tree *t = NULL;
	struct cf_node n;
	size_t saved = 0;
	int rc;

	memset(&n, 0, sizeof(n));
	if ((rc = cf_tree_new(&t)) != 0)
		return rc;
	if (dfd >= 0 && (rc = read_names(dfd, &names)) != 0) {
		rc = cf_err_set(rc, "cannot read directory '%s'", cf_path_cstr(&b->path));
		if ((rc = item_failed(b, rc)) != 0)
			goto out;
	}
	for (size_t i = 0; i < names.n; i++) {
		if ((rc = cf_path_push(&b->path, (const uint8_t *)names.v[i], strlen(names.v[i]),
		                       &saved)) != 0)
			goto out;
		if (!excluded(b, names.v[i])) {
			rc = walk_entry(b, dfd, names.v[i], prev, &n);
			if (rc == 0)
				rc = cf_tree_push(t, &n);
			else if (rc == CF_ENOENT)
				rc = 0;
			else
				rc = item_failed(b, rc);
			cf_node_release(&n);
		}
		cf_path_pop(&b->path, saved);
		if (rc != 0)
			goto out;
		cf_bk_progress(b, false);
	}
	rc = encode_and_store(b, t, id);
out:
	cf_node_release(&n);
	names_free(&names);
	cf_tree_free(t);
	return rc;
}

/* Length of the path component of @p starting at @off. */
static size_t
comp_len(const char *p, size_t off)
{
	const char *slash = strchr(p + off, '/');

	return slash != NULL ? (size_t)(slash - (p + off)) : strlen(p + off);
}

/* One of the given paths itself: walk it as an entry of its (opened) parent directory. */
static int
root_target(struct bk *b, const char *parent, const char *name, const struct cf_tree *prev,
            struct cf_node *n)
{
	struct stat st;
	int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (pfd < 0)
		return cf_err_set(CF_ESYS, "cannot open directory '%s'", parent);
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		b->root_dev = st.st_dev;
	rc = walk_entry(b, pfd, name, prev, n);
	(void)close(pfd);
	return rc;
}

struct roots_ctx {
	char **paths;
	size_t n;
	size_t off; /* where this level's component starts in each path */
	const char *dir;
};

static int roots_level(struct bk *b, const struct roots_ctx *c, const struct cf_tree *prev,
                       uint8_t id[static CF_ID_BYTES]);

/* An intermediate directory above the given paths: its metadata, then the level below. */
static int
root_between(struct bk *b, const struct roots_ctx *c, const char *full, const char *name,
             const struct cf_node *pn, struct cf_node *n)
{
	struct cf_tree *pt = NULL;
	struct roots_ctx sub = *c;
	struct stat st;
	int rc;

	if (stat(full, &st) != 0)
		return cf_err_set(CF_ESYS, "cannot stat '%s'", full);
	if (!S_ISDIR(st.st_mode))
		return cf_err_set(CF_ESYS, "'%s' is not a directory", full);
	if ((rc = cf_bk_fill_node(b, (const uint8_t *)name, strlen(name), &st, n)) != 0)
		return rc;
	n->type = CF_NODE_DIR;
	if (pn != NULL && pn->type == CF_NODE_DIR &&
	    (rc = cf_bk_load_prev(b, pn->subtree, &pt)) != 0)
		return rc;
	sub.off = c->off + strlen(name) + 1;
	sub.dir = full;
	rc = roots_level(b, &sub, pt, n->subtree);
	cf_tree_free(pt);
	return rc;
}

/* Handle the group of paths sharing component @name at this level. */
static int
root_group(struct bk *b, const struct roots_ctx *g, const char *name, const struct cf_tree *prev,
           struct cf_tree *t)
{
	const struct cf_node *pn = NULL;
	struct cf_node n;
	char *full = NULL;
	size_t flen = strlen(g->dir) + strlen(name) + 2;
	size_t saved = 0;
	int rc;

	memset(&n, 0, sizeof(n));
	if ((full = cf_malloc(flen)) == NULL)
		return CF_ENOMEM;
	(void)snprintf(full, flen, "%s%s%s", g->dir, strcmp(g->dir, "/") == 0 ? "" : "/", name);
	if ((rc = cf_path_push(&b->path, (const uint8_t *)name, strlen(name), &saved)) != 0)
		goto out;
	if (prev != NULL)
		pn = cf_tree_find(prev, (const uint8_t *)name, strlen(name));
	if (g->paths[0][g->off + strlen(name)] == '\0')
		rc = root_target(b, g->dir, name, prev, &n);
	else
		rc = root_between(b, g, full, name, pn, &n);
	if (rc == 0)
		rc = cf_tree_push(t, &n);
	else if (rc == CF_ENOENT)
		rc = 0;
	else
		rc = item_failed(b, rc);
	cf_path_pop(&b->path, saved);
out:
	cf_node_release(&n);
	cf_free(full);
	return rc;
}

static int
roots_level(struct bk *b, const struct roots_ctx *c, const struct cf_tree *prev,
            uint8_t id[static CF_ID_BYTES])
{
	struct cf_tree *t = NULL;
	char name[CF_NAME_MAX + 1];
	size_t i = 0;
	int rc;

	if ((rc = cf_tree_new(&t)) != 0)
		return rc;
	while (i < c->n) {
		struct roots_ctx g = *c;
		size_t len = comp_len(c->paths[i], c->off);
		size_t j = i + 1;

		if (len == 0 || len > CF_NAME_MAX) {
			rc = cf_err_set(CF_EINVAL, "invalid path '%s'", c->paths[i]);
			goto out;
		}
		memcpy(name, c->paths[i] + c->off, len);
		name[len] = '\0';
		while (j < c->n && comp_len(c->paths[j], c->off) == len &&
		       memcmp(c->paths[j] + c->off, name, len) == 0)
			j++;
		g.paths = c->paths + i;
		g.n = j - i;
		if ((rc = root_group(b, &g, name, prev, t)) != 0)
			goto out;
		i = j;
	}
	rc = encode_and_store(b, t, id);
out:
	cf_tree_free(t);
	return rc;
}

int
cf_bk_roots(struct bk *b, char **paths, size_t npaths, const struct cf_tree *prev,
            uint8_t id[static CF_ID_BYTES])
{
	struct roots_ctx c;
	struct stat st;
	int fd = -1;
	int rc;

	if (npaths == 1 && strcmp(paths[0], "/") == 0) {
		if ((fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0)
			return cf_err_set(CF_ESYS, "cannot open '/'");
		b->root_dev = st.st_dev;
		rc = cf_bk_dir(b, fd, prev, id);
		(void)close(fd);
		return rc;
	}
	c.paths = paths;
	c.n = npaths;
	c.off = 1;
	c.dir = "/";
	return roots_level(b, &c, prev, id);
}

int
cf_bk_load_prev(struct bk *b, const uint8_t id[static CF_ID_BYTES], struct cf_tree **out)
{
	*out = NULL;
	if (!b->cache_trees)
		return cf_repo_load_tree(b->r, id, b->z, out);
	if (cf_cache_get_tree(b->r, id, out) != 0)
		*out = NULL;
	return 0;
}
