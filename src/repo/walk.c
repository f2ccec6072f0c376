/*
 * walk.c - read-only walks over snapshot trees: ls and diff.
 */
#include <string.h>

#include "../compress/compress.h"
#include "repo.h"

struct walker {
	struct cf_repo *r;
	struct cf_events ev;
	struct cf_zctx *z;
	struct cf_path path;
};

static void
emit_node(struct walker *w, enum cf_event_kind kind, int code, const struct cf_node *n)
{
	struct cf_event e;

	if (w->ev.fn == NULL)
		return;
	memset(&e, 0, sizeof(e));
	e.kind = kind;
	e.code = code;
	e.path = w->path.p;
	e.path_len = w->path.len;
	e.node = n;
	w->ev.fn(w->ev.arg, &e);
}

/* Emit every node below tree @id, depth first, each directory before its contents. */
static int
ls_tree(struct walker *w, const uint8_t id[static CF_ID_BYTES], bool recurse, int code,
        enum cf_event_kind kind)
{
	struct cf_tree *t = NULL;
	size_t saved = 0;
	int rc;

	if ((rc = cf_repo_load_tree(w->r, id, w->z, &t)) != 0)
		return rc;
	for (size_t i = 0; i < t->count && rc == 0; i++) {
		const struct cf_node *n = &t->nodes[i];

		if ((rc = cf_path_push(&w->path, n->name, n->name_len, &saved)) != 0)
			break;
		emit_node(w, kind, code, n);
		if (recurse && n->type == CF_NODE_DIR)
			rc = ls_tree(w, n->subtree, true, code, kind);
		cf_path_pop(&w->path, saved);
	}
	cf_tree_free(t);
	return rc;
}

static int
walker_init(struct walker *w, struct cf_repo *r, cf_event_fn *fn, void *arg)
{
	memset(w, 0, sizeof(*w));
	w->r = r;
	w->ev.fn = fn;
	w->ev.arg = arg;
	return cf_zctx_new(1, &w->z);
}

static void
walker_release(struct walker *w)
{
	cf_zctx_free(w->z);
	cf_path_release(&w->path);
}

/* Follow @want (like "/home/u") down from the root; *@out is a copy of the node found. */
static int
find_path(struct walker *w, const uint8_t root[static CF_ID_BYTES], const char *want,
          struct cf_node *out, struct cf_tree **holder)
{
	uint8_t cur[CF_ID_BYTES];
	const char *p = want;
	struct cf_tree *t = NULL;
	size_t saved = 0;
	int rc;

	memcpy(cur, root, CF_ID_BYTES);
	*holder = NULL;
	while (*p == '/')
		p++;
	while (*p != '\0') {
		const char *end = strchr(p, '/');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		const struct cf_node *n = NULL;

		cf_tree_free(t);
		t = NULL;
		if ((rc = cf_repo_load_tree(w->r, cur, w->z, &t)) != 0)
			return rc;
		if ((n = cf_tree_find(t, (const uint8_t *)p, len)) == NULL) {
			cf_tree_free(t);
			return cf_err_set(CF_ENOENT, "'%s' is not in the snapshot", want);
		}
		if ((rc = cf_path_push(&w->path, n->name, n->name_len, &saved)) != 0) {
			cf_tree_free(t);
			return rc;
		}
		*out = *n;
		memcpy(cur, n->subtree, CF_ID_BYTES);
		p += len;
		while (*p == '/')
			p++;
		if (*p != '\0' && n->type != CF_NODE_DIR) {
			cf_tree_free(t);
			return cf_err_set(CF_ENOENT, "'%s' is not in the snapshot", want);
		}
	}
	*holder = t;
	return 0;
}

int
cf_ls(struct cf_repo *r, const struct cf_snapshot *snap, const struct cf_opts *o, cf_event_fn *fn,
      void *arg)
{
	const char *want = cf_opts_get(o, "path");
	struct cf_tree *holder = NULL;
	struct cf_node n;
	struct walker w;
	int rc;

	memset(&n, 0, sizeof(n));
	if ((rc = cf_repo_can_read(r)) != 0 || (rc = walker_init(&w, r, fn, arg)) != 0)
		return rc;
	if (want == NULL || strspn(want, "/") == strlen(want)) {
		rc = ls_tree(&w, snap->tree, true, 0, CF_EV_ENTRY);
		goto out;
	}
	if ((rc = find_path(&w, snap->tree, want, &n, &holder)) != 0)
		goto out;
	emit_node(&w, CF_EV_ENTRY, 0, &n);
	if (n.type == CF_NODE_DIR)
		rc = ls_tree(&w, n.subtree, false, 0, CF_EV_ENTRY);
out:
	cf_tree_free(holder);
	walker_release(&w);
	return rc;
}

static bool
same_content(const struct cf_node *a, const struct cf_node *b)
{
	if (a->nparts != b->nparts || a->size != b->size)
		return false;
	for (size_t i = 0; i < a->nparts; i++) {
		if (a->parts[i].hole != b->parts[i].hole || a->parts[i].len != b->parts[i].len ||
		    memcmp(a->parts[i].id, b->parts[i].id, CF_ID_BYTES) != 0)
			return false;
	}
	return true;
}

static bool
same_xattrs(const struct cf_node *a, const struct cf_node *b)
{
	if (a->nxattrs != b->nxattrs)
		return false;
	for (size_t i = 0; i < a->nxattrs; i++) {
		const struct cf_xattr *x = &a->xattrs[i];
		const struct cf_xattr *y = &b->xattrs[i];

		if (x->name_len != y->name_len || x->value_len != y->value_len ||
		    memcmp(x->name, y->name, x->name_len) != 0 ||
		    (x->value_len > 0 && memcmp(x->value, y->value, x->value_len) != 0))
			return false;
	}
	return true;
}

static bool
same_meta(const struct cf_node *a, const struct cf_node *b)
{
	return a->mode == b->mode && a->uid == b->uid && a->gid == b->gid &&
	       a->mtime_s == b->mtime_s && a->mtime_ns == b->mtime_ns && a->rdev == b->rdev &&
	       a->target_len == b->target_len &&
	       (a->target_len == 0 || memcmp(a->target, b->target, a->target_len) == 0) &&
	       same_xattrs(a, b);
}

static int diff_trees(struct walker *w, const uint8_t a[static CF_ID_BYTES],
                      const uint8_t b[static CF_ID_BYTES]);

/* Both sides have the name: report what changed, descend into changed directories. */
static int
diff_pair(struct walker *w, const struct cf_node *x, const struct cf_node *y)
{
	bool xf = x->type == CF_NODE_FILE || x->type == CF_NODE_HARDLINK;
	bool yf = y->type == CF_NODE_FILE || y->type == CF_NODE_HARDLINK;

	if (x->type != y->type && !(xf && yf)) {
		emit_node(w, CF_EV_CHANGE, 'T', y);
		return 0;
	}
	if (xf && !same_content(x, y))
		emit_node(w, CF_EV_CHANGE, 'M', y);
	else if (!same_meta(x, y))
		emit_node(w, CF_EV_CHANGE, 'U', y);
	if (x->type == CF_NODE_DIR && memcmp(x->subtree, y->subtree, CF_ID_BYTES) != 0)
		return diff_trees(w, x->subtree, y->subtree);
	return 0;
}

/* One side only: the node and, for a directory, everything below it. */
static int
diff_side(struct walker *w, const struct cf_node *n, int code)
{
	emit_node(w, CF_EV_CHANGE, code, n);
	if (n->type == CF_NODE_DIR)
		return ls_tree(w, n->subtree, true, code, CF_EV_CHANGE);
	return 0;
}

/* Push the name of @x (or @y), report the side or the pair, pop. */
static int
diff_named(struct walker *w, const struct cf_node *x, const struct cf_node *y, int code)
{
	const struct cf_node *n = x != NULL ? x : y;
	size_t saved = 0;
	int rc;

	if (n == NULL)
		return CF_EINTERNAL;
	if ((rc = cf_path_push(&w->path, n->name, n->name_len, &saved)) != 0)
		return rc;
	if (x != NULL && y != NULL)
		rc = diff_pair(w, x, y);
	else
		rc = diff_side(w, n, code);
	cf_path_pop(&w->path, saved);
	return rc;
}

static int
diff_trees(struct walker *w, const uint8_t a[static CF_ID_BYTES],
           const uint8_t b[static CF_ID_BYTES])
{
	struct cf_tree *ta = NULL;
	struct cf_tree *tb = NULL;
	size_t i = 0;
	size_t j = 0;
	int rc;

	if ((rc = cf_repo_load_tree(w->r, a, w->z, &ta)) != 0 ||
	    (rc = cf_repo_load_tree(w->r, b, w->z, &tb)) != 0)
		goto out;
	while (rc == 0 && (i < ta->count || j < tb->count)) {
		const struct cf_node *x = i < ta->count ? &ta->nodes[i] : NULL;
		const struct cf_node *y = j < tb->count ? &tb->nodes[j] : NULL;
		int c = x == NULL   ? 1
		        : y == NULL ? -1
		                    : cf_name_cmp(x->name, x->name_len, y->name, y->name_len);

		if (c < 0 && x != NULL)
			rc = diff_named(w, x, NULL, '-');
		else if (c > 0 && y != NULL)
			rc = diff_named(w, NULL, y, '+');
		else if (x != NULL && y != NULL)
			rc = diff_named(w, x, y, 0);
		i += c <= 0 ? 1 : 0;
		j += c >= 0 ? 1 : 0;
	}
out:
	cf_tree_free(ta);
	cf_tree_free(tb);
	return rc;
}

int
cf_diff(struct cf_repo *r, const struct cf_snapshot *a, const struct cf_snapshot *b,
        cf_event_fn *fn, void *arg)
{
	struct walker w;
	int rc;

	if ((rc = cf_repo_can_read(r)) != 0 || (rc = walker_init(&w, r, fn, arg)) != 0)
		return rc;
	rc = diff_trees(&w, a->tree, b->tree);
	walker_release(&w);
	return rc;
}
