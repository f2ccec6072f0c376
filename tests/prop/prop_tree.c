/*
 * prop_tree.c - properties of the canonical tree encoding (docs/format.md section 7):
 *   - random valid trees round-trip: decode(encode(t)) == t and the re-encoding is byte-exact;
 *   - canonicality: any single-byte mutation of an encoded tree either fails to decode or
 *     decodes to a tree that re-encodes to exactly the mutated bytes;
 *   - every proper prefix and every extension by one byte fails to decode.
 * Seeded (CF_TEST_SEED replays a failure).
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "harness.h"
#include "tree/tree.h"

#define ROUNDS        200
#define MUTATIONS     400
#define CHUNK_RAW_MAX (8u * 1024 * 1024)

static uint64_t
rnd(uint64_t n)
{
	return n == 0 ? 0 : th_rand() % n;
}

static uint8_t *
rnd_bytes(size_t len)
{
	uint8_t *p = NULL;

	if (len == 0)
		return NULL;
	p = cf_malloc(len);
	if (p == NULL)
		abort();
	th_randbuf(p, len);
	return p;
}

/* Names: short, over a small alphabet (to make prefixes and ties likely) or any bytes. */
static void
rnd_name(uint8_t **p, size_t *len, size_t max)
{
	static const char alpha[] = "ab.\n\xff";
	size_t n = 1 + (size_t)rnd(rnd(4) == 0 ? max : 4);

	*p = cf_malloc(n);
	if (*p == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		uint8_t c = rnd(2) ? (uint8_t)alpha[rnd(sizeof(alpha) - 1)] : (uint8_t)th_rand();

		(*p)[i] = c == '/' || c == 0 ? 'x' : c;
	}
	if (n <= 2 && (*p)[0] == '.' && (n == 1 || (*p)[1] == '.'))
		(*p)[0] = 'd';
	*len = n;
}

static int
xattr_cmp(const void *a, const void *b)
{
	const struct cf_xattr *x = a;
	const struct cf_xattr *y = b;

	return cf_name_cmp(x->name, x->name_len, y->name, y->name_len);
}

static void
rnd_xattrs(struct cf_node *n)
{
	size_t count = rnd(4) == 0 ? (size_t)rnd(6) : 0;
	size_t k = 0;

	if (count == 0)
		return;
	n->xattrs = cf_calloc(count, sizeof(*n->xattrs));
	if (n->xattrs == NULL)
		abort();
	for (size_t i = 0; i < count; i++) {
		struct cf_xattr *x = &n->xattrs[i];

		rnd_name(&x->name, &x->name_len, CF_NAME_MAX);
		x->value_len = (size_t)rnd(rnd(8) == 0 ? 300 : 8);
		x->value = rnd_bytes(x->value_len);
	}
	n->nxattrs = count;
	qsort(n->xattrs, count, sizeof(*n->xattrs), xattr_cmp);
	/* Drop duplicates: names must be strictly increasing. */
	for (size_t i = 0; i < count; i++) {
		struct cf_xattr *x = &n->xattrs[i];

		if (k > 0 && xattr_cmp(&n->xattrs[k - 1], x) == 0) {
			cf_free(x->name);
			cf_free(x->value);
			continue;
		}
		n->xattrs[k++] = *x;
	}
	n->nxattrs = k;
}

static void
rnd_parts(struct cf_node *n)
{
	size_t count = (size_t)rnd(5);

	n->size = 0;
	if (count == 0)
		return;
	n->parts = cf_calloc(count, sizeof(*n->parts));
	if (n->parts == NULL)
		abort();
	for (size_t i = 0; i < count; i++) {
		struct cf_part *p = &n->parts[i];

		p->hole = rnd(3) == 0;
		if (p->hole) {
			p->len = 1 + rnd(rnd(2) ? 1ull << 40 : 100);
		} else {
			th_randbuf(p->id, sizeof(p->id));
			p->len = 1 + rnd(rnd(4) == 0 ? CHUNK_RAW_MAX : 5000);
		}
		n->size += p->len;
	}
	n->nparts = count;
}

static void
rnd_type_fields(struct cf_node *n)
{
	switch ((enum cf_node_type)n->type) {
	case CF_NODE_FILE:
	case CF_NODE_HARDLINK:
		rnd_parts(n);
		break;
	case CF_NODE_DIR:
		th_randbuf(n->subtree, sizeof(n->subtree));
		break;
	case CF_NODE_SYMLINK:
		n->target_len = 1 + (size_t)rnd(rnd(8) == 0 ? CF_TARGET_MAX : 40);
		n->target = rnd_bytes(n->target_len);
		break;
	case CF_NODE_CHARDEV:
	case CF_NODE_BLOCKDEV:
		n->rdev = rnd(2) ? th_rand() : 0;
		break;
	case CF_NODE_FIFO:
		break;
	}
}

static void
rnd_node(struct cf_node *n)
{
	memset(n, 0, sizeof(*n));
	rnd_name(&n->name, &n->name_len, CF_NAME_MAX);
	n->type = (uint8_t)(1 + rnd(7));
	n->mode = (uint32_t)rnd(010000);
	n->uid = (uint32_t)th_rand();
	n->gid = (uint32_t)th_rand();
	n->user_len = (size_t)rnd(rnd(4) == 0 ? 256 : 10);
	n->user = rnd_bytes(n->user_len);
	n->group_len = (size_t)rnd(10);
	n->group = rnd_bytes(n->group_len);
	n->mtime_s = (int64_t)th_rand();
	n->mtime_ns = (uint32_t)rnd(1000000000);
	n->ctime_s = (int64_t)rnd(2000000000);
	n->ctime_ns = (uint32_t)rnd(1000000000);
	n->size = th_rand();
	n->dev = th_rand();
	n->ino = th_rand();
	n->nlink = (uint32_t)th_rand();
	rnd_type_fields(n);
	rnd_xattrs(n);
}

/* A random valid tree: random nodes, sorted, duplicates dropped. */
static struct cf_tree *
rnd_tree(void)
{
	struct cf_tree *t = NULL;
	struct cf_node n;
	size_t count = (size_t)rnd(rnd(4) == 0 ? 60 : 8);
	size_t k = 0;

	if (cf_tree_new(&t) != 0)
		abort();
	for (size_t i = 0; i < count; i++) {
		rnd_node(&n);
		CHECK(cf_node_valid(&n));
		if (cf_tree_push(t, &n) != 0)
			abort();
	}
	cf_tree_sort(t);
	for (size_t i = 0; i < t->count; i++) {
		struct cf_node *x = &t->nodes[i];

		if (k > 0 && cf_name_cmp(t->nodes[k - 1].name, t->nodes[k - 1].name_len, x->name,
		                         x->name_len) == 0) {
			cf_node_release(x);
			continue;
		}
		t->nodes[k++] = *x;
	}
	t->count = k;
	return t;
}

static bool
bytes_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static bool
node_eq(const struct cf_node *a, const struct cf_node *b)
{
	if (!bytes_eq(a->name, a->name_len, b->name, b->name_len) || a->type != b->type ||
	    a->mode != b->mode || a->uid != b->uid || a->gid != b->gid ||
	    !bytes_eq(a->user, a->user_len, b->user, b->user_len) ||
	    !bytes_eq(a->group, a->group_len, b->group, b->group_len) || a->mtime_s != b->mtime_s ||
	    a->mtime_ns != b->mtime_ns || a->ctime_s != b->ctime_s || a->ctime_ns != b->ctime_ns ||
	    a->size != b->size || a->dev != b->dev || a->ino != b->ino || a->nlink != b->nlink ||
	    a->rdev != b->rdev || !bytes_eq(a->target, a->target_len, b->target, b->target_len) ||
	    a->nxattrs != b->nxattrs || a->nparts != b->nparts ||
	    memcmp(a->subtree, b->subtree, sizeof(a->subtree)) != 0)
		return false;
	for (size_t i = 0; i < a->nxattrs; i++)
		if (!bytes_eq(a->xattrs[i].name, a->xattrs[i].name_len, b->xattrs[i].name,
		              b->xattrs[i].name_len) ||
		    !bytes_eq(a->xattrs[i].value, a->xattrs[i].value_len, b->xattrs[i].value,
		              b->xattrs[i].value_len))
			return false;
	for (size_t i = 0; i < a->nparts; i++)
		if (a->parts[i].hole != b->parts[i].hole || a->parts[i].len != b->parts[i].len ||
		    memcmp(a->parts[i].id, b->parts[i].id, CF_ID_BYTES) != 0)
			return false;
	return true;
}

static bool
tree_eq(const struct cf_tree *a, const struct cf_tree *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++)
		if (!node_eq(&a->nodes[i], &b->nodes[i]))
			return false;
	return true;
}

/* @p decodes and re-encodes to itself, or does not decode at all. */
static void
check_canonical(const uint8_t *p, size_t n)
{
	struct cf_tree *t = NULL;
	uint8_t *q = NULL;
	size_t qn = 0;

	if (cf_tree_decode(p, n, &t) != 0)
		return;
	CHECK(cf_tree_encode(t, &q, &qn) == 0);
	CHECK(qn == n && memcmp(p, q, n) == 0);
	cf_free(q);
	cf_tree_free(t);
}

CF_TEST(prop_tree_round_trip)
{
	for (int round = 0; round < ROUNDS; round++) {
		struct cf_tree *t = rnd_tree();
		struct cf_tree *d = NULL;
		uint8_t *p = NULL, *q = NULL;
		size_t n = 0, qn = 0;

		CHECK(cf_tree_encode(t, &p, &n) == 0);
		CHECK(cf_tree_decode(p, n, &d) == 0);
		CHECK(d != NULL && tree_eq(t, d));
		CHECK(d != NULL && cf_tree_encode(d, &q, &qn) == 0);
		CHECK(qn == n && memcmp(p, q, n) == 0);
		for (size_t i = 0; i < t->count; i++)
			CHECK(cf_tree_find(d, t->nodes[i].name, t->nodes[i].name_len) ==
			      &d->nodes[i]);
		cf_free(p);
		cf_free(q);
		cf_tree_free(t);
		cf_tree_free(d);
	}
}

CF_TEST(prop_tree_mutations_canonical)
{
	int decoded = 0;

	for (int round = 0; round < ROUNDS / 4; round++) {
		struct cf_tree *t = rnd_tree();
		uint8_t *p = NULL;
		size_t n = 0;

		CHECK(cf_tree_encode(t, &p, &n) == 0);
		for (int m = 0; m < MUTATIONS && n > 0; m++) {
			size_t at = (size_t)rnd(n);
			uint8_t old = p[at];
			struct cf_tree *d = NULL;

			/* Half single-bit flips, half arbitrary byte values. */
			if (rnd(2))
				p[at] = (uint8_t)(old ^ (1u << rnd(8)));
			else
				p[at] = (uint8_t)th_rand();
			check_canonical(p, n);
			if (cf_tree_decode(p, n, &d) == 0)
				decoded++;
			cf_tree_free(d);
			p[at] = old;
		}
		cf_free(p);
		cf_tree_free(t);
	}
	/* Many mutations hit free-form bytes (ids, times, names) and still decode. */
	CHECK(decoded > 0);
}

CF_TEST(prop_tree_prefix_and_extension_fail)
{
	for (int round = 0; round < ROUNDS / 10; round++) {
		struct cf_tree *t = rnd_tree();
		struct cf_tree *d = NULL;
		uint8_t *p = NULL;
		uint8_t *q = NULL;
		size_t n = 0;

		CHECK(cf_tree_encode(t, &p, &n) == 0);
		for (size_t i = 0; i < n; i += 1 + (size_t)rnd(7)) {
			CHECK(cf_tree_decode(p, i, &d) != 0);
			CHECK(d == NULL);
		}
		q = cf_malloc(n + 1);
		if (q == NULL)
			abort();
		memcpy(q, p, n);
		q[n] = (uint8_t)th_rand();
		CHECK(cf_tree_decode(q, n + 1, &d) != 0);
		cf_free(q);
		cf_free(p);
		cf_tree_free(t);
	}
}
