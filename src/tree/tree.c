/*
 * tree.c - directory entries in memory: ownership, canonical order, lookup, and the per-entry
 * rules of docs/format.md section 7 shared by the encoder and the decoder.
 */
#include "tree.h"

#include <stdlib.h>
#include <string.h>

#include "../base/base.h"

#define NS_PER_S       1000000000u
#define CHUNK_RAW_MAX  (UINT64_C(8) << 20)
#define MODE_BITS      07777u
#define TREE_FIRST_CAP 16

void
cf_node_release(struct cf_node *n)
{
	if (n == NULL)
		return;
	cf_free(n->name);
	cf_free(n->user);
	cf_free(n->group);
	cf_free(n->target);
	for (size_t i = 0; i < n->nxattrs; i++) {
		cf_free(n->xattrs[i].name);
		cf_free(n->xattrs[i].value);
	}
	cf_free(n->xattrs);
	cf_free(n->parts);
	memset(n, 0, sizeof(*n));
}

int
cf_tree_new(struct cf_tree **out)
{
	*out = cf_calloc(1, sizeof(**out));
	return *out == NULL ? CF_ENOMEM : 0;
}

void
cf_tree_free(struct cf_tree *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->count; i++)
		cf_node_release(&t->nodes[i]);
	cf_free(t->nodes);
	cf_free(t);
}

int
cf_tree_reserve(struct cf_tree *t, size_t n)
{
	size_t need = 0;
	size_t ncap = t->cap < TREE_FIRST_CAP ? TREE_FIRST_CAP : t->cap;
	size_t bytes = 0;
	struct cf_node *np = NULL;

	if (cf_size_add(t->count, n, &need) != 0 || need > CF_TREE_MAX_ENTRIES)
		return CF_ETOOBIG;
	if (need <= t->cap)
		return 0;
	/* Geometric growth keeps a long run of pushes linear. */
	while (ncap < need)
		ncap *= 2;
	if (ncap > CF_TREE_MAX_ENTRIES)
		ncap = CF_TREE_MAX_ENTRIES;
	if (cf_size_mul(ncap, sizeof(*np), &bytes) != 0)
		return CF_ETOOBIG;
	if ((np = cf_realloc(t->nodes, bytes)) == NULL)
		return CF_ENOMEM;
	t->nodes = np;
	t->cap = ncap;
	return 0;
}

int
cf_tree_push(struct cf_tree *t, struct cf_node *n)
{
	int rc;

	if ((rc = cf_tree_reserve(t, 1)) != 0)
		return rc;
	t->nodes[t->count++] = *n;
	memset(n, 0, sizeof(*n));
	return 0;
}

int
cf_name_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t m = alen < blen ? alen : blen;
	int c = m > 0 ? memcmp(a, b, m) : 0;

	if (c != 0)
		return c < 0 ? -1 : 1;
	if (alen == blen)
		return 0;
	return alen < blen ? -1 : 1;
}

static int
node_cmp(const void *a, const void *b)
{
	const struct cf_node *x = a;
	const struct cf_node *y = b;

	return cf_name_cmp(x->name, x->name_len, y->name, y->name_len);
}

void
cf_tree_sort(struct cf_tree *t)
{
	if (t->count > 1)
		qsort(t->nodes, t->count, sizeof(t->nodes[0]), node_cmp);
}

const struct cf_node *
cf_tree_find(const struct cf_tree *t, const uint8_t *name, size_t len)
{
	size_t lo = 0;
	size_t hi = t->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct cf_node *n = &t->nodes[mid];
		int c = cf_name_cmp(n->name, n->name_len, name, len);

		if (c == 0)
			return n;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* A byte string that is either empty or backed by memory, at most @max bytes. */
static bool
bytes_ok(const uint8_t *p, size_t len, size_t max)
{
	return len <= max && (p != NULL || len == 0);
}

static bool
all_zero(const uint8_t *p, size_t len)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

/* Entry names: 1..255 bytes, no '/' and no NUL, not "." or "..". */
static bool
name_ok(const uint8_t *p, size_t len)
{
	if (len == 0 || !bytes_ok(p, len, CF_NAME_MAX))
		return false;
	if (memchr(p, '/', len) != NULL || memchr(p, '\0', len) != NULL)
		return false;
	if (p[0] == '.' && (len == 1 || (len == 2 && p[1] == '.')))
		return false;
	return true;
}

/* Extended attributes: names 1..255 bytes without NUL, strictly increasing; bounded values. */
static bool
xattrs_ok(const struct cf_node *n)
{
	if (n->nxattrs > CF_XATTR_MAX_COUNT || (n->xattrs == NULL && n->nxattrs > 0))
		return false;
	for (size_t i = 0; i < n->nxattrs; i++) {
		const struct cf_xattr *x = &n->xattrs[i];

		if (x->name_len == 0 || !bytes_ok(x->name, x->name_len, CF_NAME_MAX) ||
		    memchr(x->name, '\0', x->name_len) != NULL ||
		    !bytes_ok(x->value, x->value_len, CF_XATTR_VALUE_MAX))
			return false;
		if (i > 0 && cf_name_cmp(x[-1].name, x[-1].name_len, x->name, x->name_len) >= 0)
			return false;
	}
	return true;
}

/* File content: each part in range, and the part lengths add up to size exactly. */
static bool
parts_ok(const struct cf_node *n)
{
	uint64_t sum = 0;

	if (n->nparts > CF_PARTS_MAX || (n->parts == NULL && n->nparts > 0))
		return false;
	for (size_t i = 0; i < n->nparts; i++) {
		const struct cf_part *pt = &n->parts[i];

		if (pt->len == 0)
			return false;
		/* A hole has no id on the wire, so a set one could not round-trip. */
		if (pt->hole ? !all_zero(pt->id, sizeof(pt->id)) : pt->len > CHUNK_RAW_MAX)
			return false;
		if (cf_u64_add(sum, pt->len, &sum) != 0)
			return false;
	}
	return sum == n->size;
}

static bool
is_device(uint8_t type)
{
	return type == CF_NODE_CHARDEV || type == CF_NODE_BLOCKDEV;
}

static bool
is_file(uint8_t type)
{
	return type == CF_NODE_FILE || type == CF_NODE_HARDLINK;
}

/* The fields only some types carry: target, rdev, parts, subtree. */
static bool
type_fields_ok(const struct cf_node *n)
{
	if (n->type == CF_NODE_SYMLINK) {
		if (n->target_len == 0 || !bytes_ok(n->target, n->target_len, CF_TARGET_MAX))
			return false;
	} else if (n->target_len != 0) {
		return false;
	}
	if (!is_device(n->type) && n->rdev != 0)
		return false;
	if (is_file(n->type)) {
		if (!parts_ok(n))
			return false;
	} else if (n->nparts != 0) {
		return false;
	}
	return n->type == CF_NODE_DIR || all_zero(n->subtree, sizeof(n->subtree));
}

bool
cf_node_valid(const struct cf_node *n)
{
	if (!name_ok(n->name, n->name_len))
		return false;
	if (n->type < CF_NODE_FILE || n->type > CF_NODE_BLOCKDEV)
		return false;
	if ((n->mode & ~MODE_BITS) != 0)
		return false;
	if (!bytes_ok(n->user, n->user_len, CF_NAME_MAX) ||
	    !bytes_ok(n->group, n->group_len, CF_NAME_MAX))
		return false;
	if (n->mtime_ns >= NS_PER_S || n->ctime_ns >= NS_PER_S)
		return false;
	return type_fields_ok(n) && xattrs_ok(n);
}
