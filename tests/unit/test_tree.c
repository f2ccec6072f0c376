/*
 * test_tree.c - the canonical tree encoding (docs/format.md section 7): round trips, every
 * rejection rule on both sides, known-answer vectors (tests/vectors/tree.txt), allocation
 * failures and decode speed.
 *
 * CF_GEN_VECTORS=1 prints a fresh tree.txt on stdout instead of running the tests.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "harness.h"
#include "tree/tree.h"

/* ---- building nodes ---- */

static uint64_t next_ino = 100;

static uint8_t *
dup_or_null(const void *p, size_t n)
{
	uint8_t *q = NULL;

	if (n == 0)
		return NULL;
	q = cf_memdup(p, n);
	CHECK(q != NULL);
	return q;
}

static struct cf_node
mk_node_n(const void *name, size_t len, uint8_t type)
{
	struct cf_node n;

	memset(&n, 0, sizeof(n));
	n.name = dup_or_null(name, len);
	n.name_len = len;
	n.type = type;
	n.mode = type == CF_NODE_DIR ? 0755 : 0644;
	n.uid = 1000;
	n.gid = 100;
	n.user = dup_or_null("alice", 5);
	n.user_len = 5;
	n.group = dup_or_null("users", 5);
	n.group_len = 5;
	n.mtime_s = 1700000000;
	n.mtime_ns = 123456789;
	n.ctime_s = 1700000001;
	n.ctime_ns = 5;
	n.dev = 2049;
	n.ino = next_ino++;
	n.nlink = 1;
	if (type == CF_NODE_SYMLINK) {
		n.target = dup_or_null("target", 6);
		n.target_len = 6;
	}
	if (type == CF_NODE_DIR)
		memset(n.subtree, 0xab, sizeof(n.subtree));
	if (type == CF_NODE_CHARDEV || type == CF_NODE_BLOCKDEV)
		n.rdev = 0x0801;
	return n;
}

static struct cf_node
mk_node(const char *name, uint8_t type)
{
	return mk_node_n(name, strlen(name), type);
}

static void
add_xattr(struct cf_node *n, const char *name, const void *v, size_t vlen)
{
	struct cf_xattr *x = cf_realloc(n->xattrs, (n->nxattrs + 1) * sizeof(*x));

	CHECK(x != NULL);
	n->xattrs = x;
	x = &n->xattrs[n->nxattrs++];
	x->name = dup_or_null(name, strlen(name));
	x->name_len = strlen(name);
	x->value = dup_or_null(v, vlen);
	x->value_len = vlen;
}

static void
add_xattr_s(struct cf_node *n, const char *name, const char *v)
{
	add_xattr(n, name, v, strlen(v));
}

static void
add_part(struct cf_node *n, bool hole, uint8_t idbyte, uint64_t len)
{
	struct cf_part *p = cf_realloc(n->parts, (n->nparts + 1) * sizeof(*p));

	CHECK(p != NULL);
	n->parts = p;
	p = &n->parts[n->nparts++];
	memset(p, 0, sizeof(*p));
	p->hole = hole;
	if (!hole)
		memset(p->id, idbyte, sizeof(p->id));
	p->len = len;
	n->size += len;
}

static void
push(struct cf_tree *t, struct cf_node *n)
{
	CHECK(cf_tree_push(t, n) == 0);
}

static void
push_new(struct cf_tree *t, const char *name, uint8_t type)
{
	struct cf_node n = mk_node(name, type);

	push(t, &n);
}

/* ---- comparing ---- */

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
	for (size_t i = 0; i < a->nxattrs; i++) {
		const struct cf_xattr *x = &a->xattrs[i];
		const struct cf_xattr *y = &b->xattrs[i];

		if (!bytes_eq(x->name, x->name_len, y->name, y->name_len) ||
		    !bytes_eq(x->value, x->value_len, y->value, y->value_len))
			return false;
	}
	for (size_t i = 0; i < a->nparts; i++) {
		const struct cf_part *p = &a->parts[i];
		const struct cf_part *q = &b->parts[i];

		if (p->hole != q->hole || p->len != q->len || memcmp(p->id, q->id, sizeof(p->id)))
			return false;
	}
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

/* ---- text dump of decoded fields (for the vectors) ---- */

struct sb {
	char *p;
	size_t len;
	size_t cap;
};

__attribute__((format(printf, 2, 3))) static void
sb_printf(struct sb *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(s->p == NULL ? NULL : s->p + s->len, s->cap - s->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			abort();
		if (s->len + (size_t)n < s->cap)
			break;
		s->cap = (s->cap + (size_t)n + 1) * 2;
		s->p = realloc(s->p, s->cap);
		if (s->p == NULL)
			abort();
	}
	s->len += (size_t)n;
}

static void
sb_hex(struct sb *s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sb_printf(s, "%02x", p[i]);
	if (n == 0)
		sb_printf(s, "-");
}

static char *
dump_node(const struct cf_node *n)
{
	struct sb s = {NULL, 0, 0};

	sb_printf(&s, "name=");
	sb_hex(&s, n->name, n->name_len);
	sb_printf(&s, " type=%u mode=%04o uid=%u gid=%u user=", n->type, n->mode, n->uid, n->gid);
	sb_hex(&s, n->user, n->user_len);
	sb_printf(&s, " group=");
	sb_hex(&s, n->group, n->group_len);
	sb_printf(&s, " mtime=%lld.%09u ctime=%lld.%09u size=%llu dev=%llu ino=%llu nlink=%u",
	          (long long)n->mtime_s, n->mtime_ns, (long long)n->ctime_s, n->ctime_ns,
	          (unsigned long long)n->size, (unsigned long long)n->dev,
	          (unsigned long long)n->ino, n->nlink);
	sb_printf(&s, " rdev=%llu target=", (unsigned long long)n->rdev);
	sb_hex(&s, n->target, n->target_len);
	sb_printf(&s, " xattrs=%zu", n->nxattrs);
	for (size_t i = 0; i < n->nxattrs; i++) {
		sb_printf(&s, i == 0 ? ":" : ",");
		sb_hex(&s, n->xattrs[i].name, n->xattrs[i].name_len);
		sb_printf(&s, "=");
		sb_hex(&s, n->xattrs[i].value, n->xattrs[i].value_len);
	}
	sb_printf(&s, " parts=%zu", n->nparts);
	for (size_t i = 0; i < n->nparts; i++) {
		sb_printf(&s, i == 0 ? ":" : ",");
		if (n->parts[i].hole) {
			sb_printf(&s, "hole/%llu", (unsigned long long)n->parts[i].len);
			continue;
		}
		sb_hex(&s, n->parts[i].id, sizeof(n->parts[i].id));
		sb_printf(&s, "/%llu", (unsigned long long)n->parts[i].len);
	}
	sb_printf(&s, " subtree=");
	sb_hex(&s, n->subtree, sizeof(n->subtree));
	return s.p;
}

/* ---- the sample trees of the vectors ---- */

static struct cf_tree *
tree_files(void)
{
	struct cf_tree *t = NULL;
	struct cf_node n;

	CHECK(cf_tree_new(&t) == 0);
	n = mk_node("a.txt", CF_NODE_FILE);
	add_part(&n, false, 0x11, 8u * 1024 * 1024);
	add_part(&n, true, 0, 4096);
	add_part(&n, false, 0x22, 1);
	push(t, &n);
	n = mk_node("b", CF_NODE_HARDLINK);
	n.nlink = 2;
	add_part(&n, false, 0x33, 700);
	push(t, &n);
	n = mk_node("empty", CF_NODE_FILE);
	push(t, &n);
	n = mk_node("sparse", CF_NODE_FILE);
	add_part(&n, true, 0, 1ull << 40);
	push(t, &n);
	cf_tree_sort(t);
	return t;
}

static struct cf_tree *
tree_types(void)
{
	struct cf_tree *t = NULL;
	struct cf_node n;

	CHECK(cf_tree_new(&t) == 0);
	n = mk_node("dir", CF_NODE_DIR);
	n.mode = 01777;
	push(t, &n);
	n = mk_node("link", CF_NODE_SYMLINK);
	cf_free(n.target);
	n.target = dup_or_null("../x/\ny\xff", 8);
	n.target_len = 8;
	n.size = 8;
	push(t, &n);
	n = mk_node("pipe", CF_NODE_FIFO);
	push(t, &n);
	n = mk_node("tty", CF_NODE_CHARDEV);
	n.rdev = 0x0401;
	push(t, &n);
	n = mk_node("sda", CF_NODE_BLOCKDEV);
	n.mode = 06660;
	push(t, &n);
	n = mk_node("null-dev", CF_NODE_CHARDEV);
	n.rdev = 0;
	push(t, &n);
	cf_tree_sort(t);
	return t;
}

static struct cf_tree *
tree_xattrs(void)
{
	struct cf_tree *t = NULL;
	struct cf_node n;
	static const uint8_t bin[] = {0x00, 0xff, 0x0a, 0x00};

	CHECK(cf_tree_new(&t) == 0);
	n = mk_node("f", CF_NODE_FILE);
	add_xattr_s(&n, "security.selinux", "unconfined_u:object_r:user_home_t:s0");
	add_xattr_s(&n, "user", "short");
	add_xattr_s(&n, "user.a", "");
	add_xattr(&n, "user.b", bin, sizeof(bin));
	add_part(&n, false, 0x44, 12);
	push(t, &n);
	n = mk_node("d", CF_NODE_DIR);
	add_xattr(&n, "system.posix_acl_default", "\x02\x00\x00\x00", 4);
	push(t, &n);
	cf_tree_sort(t);
	return t;
}

static struct cf_tree *
tree_weird(void)
{
	struct cf_tree *t = NULL;
	struct cf_node n;
	uint8_t long_name[CF_NAME_MAX];

	memset(long_name, 'z', sizeof(long_name));
	CHECK(cf_tree_new(&t) == 0);
	n = mk_node("new\nline", CF_NODE_FILE);
	cf_free(n.user);
	n.user = dup_or_null("\xff\xfe\n", 3);
	n.user_len = 3;
	cf_free(n.group);
	n.group = NULL;
	n.group_len = 0;
	n.mtime_s = -86400;
	n.mtime_ns = 999999999;
	n.ctime_s = INT64_MIN;
	n.uid = UINT32_MAX;
	n.gid = 0;
	push(t, &n);
	n = mk_node_n("\xff\xfe", 2, CF_NODE_FILE);
	n.dev = UINT64_MAX;
	n.ino = UINT64_MAX;
	n.nlink = UINT32_MAX;
	push(t, &n);
	push_new(t, "...", CF_NODE_FIFO);
	push_new(t, "..a", CF_NODE_FIFO);
	push_new(t, ".hidden", CF_NODE_DIR);
	push_new(t, "a b", CF_NODE_FIFO);
	push_new(t, "a", CF_NODE_FIFO);
	n = mk_node_n(long_name, sizeof(long_name), CF_NODE_FIFO);
	push(t, &n);
	push_new(t, "\x01", CF_NODE_FIFO);
	cf_tree_sort(t);
	return t;
}

typedef struct cf_tree *tree_maker(void);

static const struct {
	const char *name;
	tree_maker *make;
} samples[] = {
        {"files", tree_files},
        {"types", tree_types},
        {"xattrs", tree_xattrs},
        {"weird", tree_weird},
};

/* ---- vectors ---- */

static const struct {
	const char *name;
	int rc;
} errnames[] = {
        {"OK", 0},
        {"EFORMAT", CF_EFORMAT},
        {"ETRUNC", CF_ETRUNC},
        {"ETOOBIG", CF_ETOOBIG},
        {"EVERSION", CF_EVERSION},
        {"ENOMEM", CF_ENOMEM},
};

static const char *
err_name(int rc)
{
	for (size_t i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (errnames[i].rc == rc)
			return errnames[i].name;
	return "?";
}

static int
err_code(const char *name)
{
	for (size_t i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (strcmp(errnames[i].name, name) == 0)
			return errnames[i].rc;
	return 1;
}

/* A must-fail sibling: @p, @n given, the error the decoder returns recorded (never 0). */
static void
gen_fail(const char *base, const char *what, const uint8_t *p, size_t n)
{
	struct cf_tree *t = NULL;
	int rc = cf_tree_decode(p, n, &t);

	if (rc == 0) {
		fprintf(stderr, "gen: %s-%s decodes\n", base, what);
		abort();
	}
	printf("name = %s-%s\n", base, what);
	th_print_hex("hex", p, n);
	printf("error = %s\n\n", err_name(rc));
}

/* A one-entry tree whose name is then overwritten on the wire by @to (same length). */
static void
gen_name_patch(const char *what, const uint8_t *to, size_t len)
{
	struct cf_tree *t = NULL;
	struct cf_node n = mk_node_n("xyz", len, CF_NODE_FIFO);
	uint8_t *q = NULL;
	size_t qn = 0;

	CHECK(cf_tree_new(&t) == 0);
	push(t, &n);
	CHECK(cf_tree_encode(t, &q, &qn) == 0);
	/* The first entry's name starts after magic 4, version 1, count 4, length 2. */
	CHECK(q[9] == 0 && q[10] == len);
	memcpy(q + 11, to, len);
	gen_fail("one", what, q, qn);
	cf_free(q);
	cf_tree_free(t);
}

/* A one-entry tree with its one-byte name cut out and the length set to 0. */
static void
gen_name_empty(void)
{
	struct cf_tree *t = NULL;
	struct cf_node n = mk_node("x", CF_NODE_FIFO);
	uint8_t *q = NULL;
	size_t qn = 0;

	CHECK(cf_tree_new(&t) == 0);
	push(t, &n);
	CHECK(cf_tree_encode(t, &q, &qn) == 0);
	CHECK(q[10] == 1 && q[11] == 'x');
	q[10] = 0;
	memmove(q + 11, q + 12, qn - 12);
	gen_fail("one", "name-empty", q, qn - 1);
	cf_free(q);
	cf_tree_free(t);
}

/* The entries of a two-node tree swapped: "unsorted". */
static void
gen_unsorted(void)
{
	struct cf_tree *t = NULL;
	uint8_t *a = NULL, *b = NULL, *both = NULL;
	size_t alen = 0, blen = 0;

	CHECK(cf_tree_new(&t) == 0);
	push_new(t, "b", CF_NODE_FIFO);
	CHECK(cf_tree_encode(t, &b, &blen) == 0);
	cf_tree_free(t);
	CHECK(cf_tree_new(&t) == 0);
	push_new(t, "a", CF_NODE_FIFO);
	CHECK(cf_tree_encode(t, &a, &alen) == 0);
	cf_tree_free(t);
	both = cf_malloc(alen + blen - 9);
	CHECK(both != NULL);
	memcpy(both, b, blen);
	both[8] = 2;
	memcpy(both + blen, a + 9, alen - 9);
	gen_fail("pair", "unsorted", both, alen + blen - 9);
	both[blen + 2] = 'b'; /* "b" twice */
	gen_fail("pair", "duplicate", both, alen + blen - 9);
	cf_free(a);
	cf_free(b);
	cf_free(both);
}

static void
gen_siblings(const char *base, const uint8_t *p, size_t n)
{
	uint8_t *q = cf_malloc(n + 1);

	CHECK(q != NULL);
	memcpy(q, p, n);
	q[10] ^= 0x02; /* the first name's length */
	gen_fail(base, "bitflip-namelen", q, n);
	q[10] ^= 0x02;
	q[8] ^= 0x01; /* the entry count */
	gen_fail(base, "bitflip-count", q, n);
	q[8] ^= 0x01;
	gen_fail(base, "truncated", q, n - 1);
	q[n] = 0;
	gen_fail(base, "trailing", q, n + 1);
	q[4] = 2;
	gen_fail(base, "version", q, n);
	q[4] = 1;
	q[0] = 'X';
	gen_fail(base, "magic", q, n);
	cf_free(q);
}

static void
gen_vectors(void)
{
	printf("# tree.txt - known answers for docs/format.md section 7 (test_tree.c).\n"
	       "# Valid records: hex decodes to count entries, entryN the decoded fields,\n"
	       "# and re-encodes to the same bytes. Must-fail records: error is the code.\n"
	       "# Regenerate: CF_GEN_VECTORS=1 ./test_tree (never edit released vectors).\n\n");
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		struct cf_tree *t = samples[i].make();
		uint8_t *p = NULL;
		size_t n = 0;

		CHECK(cf_tree_encode(t, &p, &n) == 0);
		printf("name = %s\n", samples[i].name);
		th_print_hex("hex", p, n);
		printf("count = %zu\n", t->count);
		for (size_t j = 0; j < t->count; j++) {
			char *d = dump_node(&t->nodes[j]);

			printf("entry%zu = %s\n", j, d);
			free(d);
		}
		printf("\n");
		if (i == 0 || i == 3)
			gen_siblings(samples[i].name, p, n);
		cf_free(p);
		cf_tree_free(t);
	}
	gen_unsorted();
	gen_name_patch("name-dotdot", (const uint8_t *)"..", 2);
	gen_name_patch("name-dot", (const uint8_t *)".", 1);
	gen_name_patch("name-slash", (const uint8_t *)"a/", 2);
	gen_name_patch("name-nul", (const uint8_t *)"a\0", 2);
	gen_name_empty();
	printf("name = empty\nhex = 434654520100000000\ncount = 0\n\n");
}

static void
check_vector(const struct th_vec *v)
{
	const char *hex = th_vec_get(v, "hex");
	const char *err = th_vec_get(v, "error");
	const char *count = th_vec_get(v, "count");
	struct cf_tree *t = NULL;
	uint8_t *p = NULL, *q = NULL;
	size_t n = 0, qn = 0;
	char key[32];
	int rc;

	CHECK(hex != NULL && (p = th_unhex(hex, &n)) != NULL);
	if (p == NULL)
		return;
	rc = cf_tree_decode(p, n, &t);
	if (err != NULL) {
		CHECK(rc == err_code(err));
		if (rc != err_code(err))
			fprintf(stderr, "vector %s: got %d\n", th_vec_get(v, "name"), rc);
		goto out;
	}
	CHECK(rc == 0 && count != NULL);
	if (rc != 0 || count == NULL)
		goto out;
	CHECK(t->count == strtoull(count, NULL, 10));
	for (size_t i = 0; i < t->count; i++) {
		char *d = dump_node(&t->nodes[i]);
		const char *want = NULL;

		snprintf(key, sizeof(key), "entry%zu", i);
		want = th_vec_get(v, key);
		CHECK(want != NULL && strcmp(want, d) == 0);
		free(d);
	}
	CHECK(cf_tree_encode(t, &q, &qn) == 0);
	CHECK(qn == n && memcmp(p, q, n) == 0);
out:
	cf_free(q);
	cf_tree_free(t);
	free(p);
}

CF_TEST(tree_vectors)
{
	FILE *f = fopen(th_vector_path("tree.txt"), "r");
	struct th_vec v = {0};
	int records = 0;

	CHECK(f != NULL);
	if (f == NULL)
		return;
	while (th_vec_next(f, &v)) {
		check_vector(&v);
		records++;
	}
	th_vec_clear(&v);
	fclose(f);
	CHECK(records >= 20);
}

/* ---- round trips ---- */

static void
round_trip(struct cf_tree *t)
{
	struct cf_tree *d = NULL;
	uint8_t *p = NULL, *q = NULL;
	size_t n = 0, qn = 0;

	CHECK(cf_tree_encode(t, &p, &n) == 0);
	CHECK(cf_tree_decode(p, n, &d) == 0);
	CHECK(d != NULL && tree_eq(t, d));
	CHECK(cf_tree_encode(d, &q, &qn) == 0);
	CHECK(qn == n && memcmp(p, q, n) == 0);
	cf_free(p);
	cf_free(q);
	cf_tree_free(d);
}

CF_TEST(tree_round_trip_samples)
{
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		struct cf_tree *t = samples[i].make();

		round_trip(t);
		cf_tree_free(t);
	}
}

CF_TEST(tree_empty)
{
	struct cf_tree *t = NULL;
	uint8_t *p = NULL;
	size_t n = 0;

	CHECK(cf_tree_new(&t) == 0);
	CHECK(cf_tree_encode(t, &p, &n) == 0);
	CHECK(n == 9 && memcmp(p, "CFTR\x01\0\0\0\0", 9) == 0);
	cf_tree_free(t);
	CHECK(cf_tree_decode(p, n, &t) == 0 && t->count == 0);
	CHECK(cf_tree_find(t, (const uint8_t *)"a", 1) == NULL);
	cf_tree_free(t);
	cf_free(p);
	cf_tree_free(NULL);
	cf_node_release(NULL);
}

/* ---- order, push, find ---- */

CF_TEST(tree_name_order)
{
	const uint8_t *a = (const uint8_t *)"ab";
	const uint8_t *ff = (const uint8_t *)"\xff";

	CHECK(cf_name_cmp(a, 1, a, 2) < 0);
	CHECK(cf_name_cmp(a, 2, a, 1) > 0);
	CHECK(cf_name_cmp(a, 2, a, 2) == 0);
	CHECK(cf_name_cmp(a, 0, a, 0) == 0);
	CHECK(cf_name_cmp(a, 0, a, 1) < 0);
	CHECK(cf_name_cmp(ff, 1, a, 2) > 0); /* unsigned bytes */
	CHECK(cf_name_cmp((const uint8_t *)"b", 1, a, 2) > 0);
}

CF_TEST(tree_push_sort_find)
{
	struct cf_tree *t = NULL;
	struct cf_node n;
	const char *names[] = {"zeta", "a", "ab", "\xff", "B", "aa", "m"};
	const struct cf_node *f = NULL;

	CHECK(cf_tree_new(&t) == 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		n = mk_node(names[i], CF_NODE_FIFO);
		CHECK(cf_tree_push(t, &n) == 0);
		CHECK(n.name == NULL && n.user == NULL && n.name_len == 0); /* moved */
	}
	cf_tree_sort(t);
	for (size_t i = 1; i < t->count; i++)
		CHECK(cf_name_cmp(t->nodes[i - 1].name, t->nodes[i - 1].name_len, t->nodes[i].name,
		                  t->nodes[i].name_len) < 0);
	CHECK(memcmp(t->nodes[0].name, "B", 1) == 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		f = cf_tree_find(t, (const uint8_t *)names[i], strlen(names[i]));
		CHECK(f != NULL &&
		      bytes_eq(f->name, f->name_len, (const uint8_t *)names[i], strlen(names[i])));
	}
	CHECK(cf_tree_find(t, (const uint8_t *)"z", 1) == NULL);
	CHECK(cf_tree_find(t, (const uint8_t *)"aaa", 3) == NULL);
	CHECK(cf_tree_find(t, (const uint8_t *)"", 0) == NULL);
	round_trip(t);
	cf_tree_free(t);
}

/* ---- encoder rejections: each one a single defect in an otherwise valid tree ---- */

typedef void node_defect(struct cf_node *n);

static void
d_empty_name(struct cf_node *n)
{
	n->name_len = 0;
}
static void
d_dot(struct cf_node *n)
{
	memcpy(n->name, ".", 1);
	n->name_len = 1;
}
static void
d_dotdot(struct cf_node *n)
{
	memcpy(n->name, "..", 2);
	n->name_len = 2;
}
static void
d_slash(struct cf_node *n)
{
	n->name[1] = '/';
}
static void
d_nul(struct cf_node *n)
{
	n->name[0] = '\0';
}
static void
d_long_name(struct cf_node *n)
{
	uint8_t *p = cf_realloc(n->name, CF_NAME_MAX + 1);

	CHECK(p != NULL);
	memset(p, 'x', CF_NAME_MAX + 1);
	n->name = p;
	n->name_len = CF_NAME_MAX + 1;
}
static void
d_type0(struct cf_node *n)
{
	n->type = 0;
}
static void
d_type8(struct cf_node *n)
{
	n->type = 8;
}
static void
d_mode(struct cf_node *n)
{
	n->mode = 0100644;
}
static void
d_mtime_ns(struct cf_node *n)
{
	n->mtime_ns = 1000000000;
}
static void
d_ctime_ns(struct cf_node *n)
{
	n->ctime_ns = UINT32_MAX;
}
static void
d_target(struct cf_node *n)
{
	n->target = dup_or_null("t", 1);
	n->target_len = 1;
}
static void
d_rdev(struct cf_node *n)
{
	n->rdev = 1;
}
static void
d_subtree(struct cf_node *n)
{
	n->subtree[31] = 1;
}
static void
d_size(struct cf_node *n)
{
	n->size++;
}
static void
d_part(struct cf_node *n)
{
	add_part(n, false, 1, 10);
}
static void
d_hole0(struct cf_node *n)
{
	add_part(n, true, 0, 0);
}
static void
d_chunk0(struct cf_node *n)
{
	add_part(n, false, 1, 0);
}
static void
d_chunk_big(struct cf_node *n)
{
	add_part(n, false, 1, 8u * 1024 * 1024 + 1);
}
static void
d_hole_id(struct cf_node *n)
{
	add_part(n, true, 0, 5);
	n->parts[n->nparts - 1].id[0] = 1;
}
static void
d_sum_overflow(struct cf_node *n)
{
	add_part(n, true, 0, UINT64_MAX);
	add_part(n, true, 0, 2);
	n->size = 1;
}
static void
d_xattr_order(struct cf_node *n)
{
	add_xattr(n, "user.b", "1", 1);
	add_xattr(n, "user.a", "2", 1);
}
static void
d_xattr_dup(struct cf_node *n)
{
	add_xattr(n, "user.a", "1", 1);
	add_xattr(n, "user.a", "2", 1);
}
static void
d_xattr_prefix(struct cf_node *n)
{
	add_xattr(n, "user.ab", "1", 1);
	add_xattr(n, "user.a", "2", 1);
}
static void
d_xattr_nul(struct cf_node *n)
{
	add_xattr(n, "user.a", "1", 1);
	n->xattrs[0].name[1] = '\0';
}
static void
d_xattr_empty(struct cf_node *n)
{
	add_xattr(n, "", "1", 1);
}
static void
d_xattr_big(struct cf_node *n)
{
	add_xattr(n, "user.a", "", 0);
	n->xattrs[0].value = cf_calloc(1, CF_XATTR_VALUE_MAX + 1);
	n->xattrs[0].value_len = CF_XATTR_VALUE_MAX + 1;
}
static void
d_user_null(struct cf_node *n)
{
	cf_free(n->user);
	n->user = NULL;
}

static const struct {
	const char *name;
	uint8_t type;
	node_defect *fn;
} defects[] = {
        {"empty name", CF_NODE_FILE, d_empty_name},
        {"dot", CF_NODE_DIR, d_dot},
        {"dotdot", CF_NODE_DIR, d_dotdot},
        {"slash", CF_NODE_FILE, d_slash},
        {"nul", CF_NODE_FILE, d_nul},
        {"long name", CF_NODE_FILE, d_long_name},
        {"type 0", CF_NODE_FIFO, d_type0},
        {"type 8", CF_NODE_FIFO, d_type8},
        {"mode", CF_NODE_FILE, d_mode},
        {"mtime_ns", CF_NODE_FILE, d_mtime_ns},
        {"ctime_ns", CF_NODE_FILE, d_ctime_ns},
        {"target on file", CF_NODE_FILE, d_target},
        {"target on dir", CF_NODE_DIR, d_target},
        {"rdev on file", CF_NODE_FILE, d_rdev},
        {"rdev on fifo", CF_NODE_FIFO, d_rdev},
        {"subtree on file", CF_NODE_FILE, d_subtree},
        {"subtree on symlink", CF_NODE_SYMLINK, d_subtree},
        {"size != parts", CF_NODE_FILE, d_size},
        {"parts on dir", CF_NODE_DIR, d_part},
        {"parts on fifo", CF_NODE_FIFO, d_part},
        {"parts on symlink", CF_NODE_SYMLINK, d_part},
        {"hole 0", CF_NODE_FILE, d_hole0},
        {"chunk 0", CF_NODE_HARDLINK, d_chunk0},
        {"chunk > 8 MiB", CF_NODE_FILE, d_chunk_big},
        {"hole with id", CF_NODE_FILE, d_hole_id},
        {"sum overflow", CF_NODE_FILE, d_sum_overflow},
        {"xattr order", CF_NODE_FILE, d_xattr_order},
        {"xattr duplicate", CF_NODE_DIR, d_xattr_dup},
        {"xattr prefix order", CF_NODE_FILE, d_xattr_prefix},
        {"xattr nul", CF_NODE_FILE, d_xattr_nul},
        {"xattr empty name", CF_NODE_FILE, d_xattr_empty},
        {"xattr value too big", CF_NODE_FILE, d_xattr_big},
        {"user NULL with length", CF_NODE_FILE, d_user_null},
};

CF_TEST(tree_encode_rejects_invalid_nodes)
{
	for (size_t i = 0; i < sizeof(defects) / sizeof(defects[0]); i++) {
		struct cf_tree *t = NULL;
		struct cf_node n = mk_node("ok", defects[i].type);
		uint8_t *p = NULL;
		size_t len = 0;
		int rc;

		defects[i].fn(&n);
		CHECK(!cf_node_valid(&n));
		CHECK(cf_tree_new(&t) == 0);
		push(t, &n);
		rc = cf_tree_encode(t, &p, &len);
		CHECK(rc == CF_EINVAL && p == NULL && len == 0);
		if (rc != CF_EINVAL)
			fprintf(stderr, "defect '%s' encoded (rc %d)\n", defects[i].name, rc);
		if (strcmp(defects[i].name, "user NULL with length") == 0)
			t->nodes[0].user_len = 0;
		cf_tree_free(t);
	}
}

CF_TEST(tree_encode_rejects_order)
{
	struct cf_tree *t = NULL;
	uint8_t *p = NULL;
	size_t len = 0;

	CHECK(cf_tree_new(&t) == 0);
	push_new(t, "b", CF_NODE_FIFO);
	push_new(t, "a", CF_NODE_FIFO);
	CHECK(cf_tree_encode(t, &p, &len) == CF_EINVAL);
	cf_tree_sort(t);
	CHECK(cf_tree_encode(t, &p, &len) == 0);
	cf_free(p);
	push_new(t, "b", CF_NODE_FIFO);
	CHECK(cf_tree_encode(t, &p, &len) == CF_EINVAL); /* duplicate */
	cf_tree_free(t);
	CHECK(cf_tree_new(&t) == 0);
	push_new(t, "ab", CF_NODE_FIFO);
	push_new(t, "a", CF_NODE_FIFO);
	CHECK(cf_tree_encode(t, &p, &len) == CF_EINVAL); /* shorter first */
	cf_tree_free(t);
}

CF_TEST(tree_valid_edges)
{
	struct cf_tree *t = NULL;
	struct cf_node n;
	uint8_t target[CF_TARGET_MAX];

	memset(target, 'T', sizeof(target));
	CHECK(cf_tree_new(&t) == 0);
	n = mk_node("chunk-max", CF_NODE_FILE);
	add_part(&n, false, 9, 8u * 1024 * 1024);
	push(t, &n);
	n = mk_node("long-target", CF_NODE_SYMLINK);
	cf_free(n.target);
	n.target = dup_or_null(target, sizeof(target));
	n.target_len = sizeof(target);
	push(t, &n);
	n = mk_node("many-xattrs", CF_NODE_FIFO);
	for (unsigned i = 0; i < CF_XATTR_MAX_COUNT; i++) {
		char name[16];

		snprintf(name, sizeof(name), "u.%05u", i);
		add_xattr(&n, name, "v", 1);
	}
	push(t, &n);
	n = mk_node("big-xattr", CF_NODE_FIFO);
	add_xattr(&n, "user.big", "", 0);
	n.xattrs[0].value = cf_calloc(1, CF_XATTR_VALUE_MAX);
	n.xattrs[0].value_len = CF_XATTR_VALUE_MAX;
	push(t, &n);
	n = mk_node("zero-subtree", CF_NODE_DIR);
	memset(n.subtree, 0, sizeof(n.subtree));
	push(t, &n);
	cf_tree_sort(t);
	round_trip(t);
	cf_tree_free(t);
}

/* ---- decoder rejections on crafted bytes ---- */

static int
decode_rc(const uint8_t *p, size_t n)
{
	struct cf_tree *t = NULL;
	int rc = cf_tree_decode(p, n, &t);

	CHECK((rc == 0) == (t != NULL));
	cf_tree_free(t);
	return rc;
}

/* Encode a one-entry tree holding @n and return its bytes. */
static uint8_t *
encode_one(struct cf_node *n, size_t *len)
{
	struct cf_tree *t = NULL;
	uint8_t *p = NULL;

	CHECK(cf_tree_new(&t) == 0);
	push(t, n);
	CHECK(cf_tree_encode(t, &p, len) == 0);
	cf_tree_free(t);
	return p;
}

CF_TEST(tree_decode_every_prefix_fails)
{
	struct cf_tree *t = tree_files();
	uint8_t *p = NULL;
	size_t n = 0;

	CHECK(cf_tree_encode(t, &p, &n) == 0);
	for (size_t i = 0; i < n; i++)
		CHECK(decode_rc(p, i) != 0);
	CHECK(decode_rc(p, n) == 0);
	cf_free(p);
	cf_tree_free(t);
}

/* Offsets in a one-entry tree whose name is "ab", user "alice", group "users". */
#define OFF_NAME     11
#define OFF_TYPE     13
#define OFF_MODE     14
#define OFF_MTIME_NS (OFF_MODE + 4 + 4 + 4 + 6 + 6 + 8)
#define OFF_RDEV     (OFF_MTIME_NS + 4 + 8 + 4 + 8 + 8 + 8 + 4)
#define OFF_TARGET   (OFF_RDEV + 8)
#define OFF_NXATTR   (OFF_TARGET + 2)

CF_TEST(tree_decode_rejects_fields)
{
	struct cf_node n = mk_node("ab", CF_NODE_FIFO);
	uint8_t *p = NULL;
	size_t len = 0;

	p = encode_one(&n, &len);
	CHECK(len == 9 + 83 + 5 + 5);
	CHECK(decode_rc(p, len) == 0);
	p[OFF_TYPE] = 0;
	CHECK(decode_rc(p, len) == CF_EFORMAT);
	p[OFF_TYPE] = 8;
	CHECK(decode_rc(p, len) == CF_EFORMAT);
	p[OFF_TYPE] = CF_NODE_FIFO;
	p[OFF_MODE + 2] = 0x10; /* 010000: a file-type bit */
	CHECK(decode_rc(p, len) == CF_EFORMAT);
	p[OFF_MODE + 2] = 0x01;
	CHECK(decode_rc(p, len) == 0);
	cf_put_u32be(p + OFF_MTIME_NS, 1000000000);
	CHECK(decode_rc(p, len) == CF_EFORMAT);
	cf_put_u32be(p + OFF_MTIME_NS, 999999999);
	CHECK(decode_rc(p, len) == 0);
	p[OFF_RDEV + 7] = 1; /* rdev on a fifo */
	CHECK(decode_rc(p, len) == CF_EFORMAT);
	p[OFF_RDEV + 7] = 0;
	p[OFF_TYPE] = CF_NODE_CHARDEV;
	CHECK(decode_rc(p, len) == 0);
	p[OFF_TYPE] = CF_NODE_SYMLINK; /* a symlink needs a target */
	CHECK(decode_rc(p, len) == CF_EFORMAT);
	p[OFF_TYPE] = CF_NODE_DIR; /* a dir needs 32 more bytes */
	CHECK(decode_rc(p, len) == CF_ETRUNC);
	p[OFF_TYPE] = CF_NODE_FILE; /* a file needs nparts */
	CHECK(decode_rc(p, len) == CF_ETRUNC);
	p[OFF_TYPE] = CF_NODE_FIFO;
	p[OFF_NXATTR] = 0x04;
	p[OFF_NXATTR + 1] = 0x01; /* 1025 xattrs */
	CHECK(decode_rc(p, len) == CF_ETOOBIG);
	p[OFF_NXATTR] = 0;
	CHECK(decode_rc(p, len) == CF_ETRUNC);
	p[OFF_NXATTR + 1] = 0;
	p[OFF_NAME] = 'a';
	p[OFF_NAME + 1] = 0;
	CHECK(decode_rc(p, len) == CF_EFORMAT);
	cf_free(p);
}

CF_TEST(tree_decode_rejects_header)
{
	uint8_t h[9 + 82];

	memset(h, 0, sizeof(h));
	memcpy(h, "CFTR\x01", 5);
	CHECK(decode_rc(h, 9) == 0);
	CHECK(decode_rc(h, 8) == CF_ETRUNC);
	CHECK(decode_rc(h, 0) == CF_ETRUNC);
	CHECK(decode_rc(h, 10) == CF_EFORMAT);
	h[4] = 0;
	CHECK(decode_rc(h, 9) == CF_EVERSION);
	h[4] = 1;
	h[3] = 'r';
	CHECK(decode_rc(h, 9) == CF_EFORMAT);
	h[3] = 'R';
	cf_put_u32be(h + 5, CF_TREE_MAX_ENTRIES + 1);
	CHECK(decode_rc(h, 9) == CF_ETOOBIG);
	cf_put_u32be(h + 5, CF_TREE_MAX_ENTRIES);
	CHECK(decode_rc(h, 9) == CF_ETRUNC); /* more entries than bytes could hold */
	cf_put_u32be(h + 5, 2);
	CHECK(decode_rc(h, sizeof(h)) == CF_ETRUNC);
	cf_put_u32be(h + 5, 1);
	CHECK(decode_rc(h, sizeof(h)) == CF_EFORMAT); /* an empty name */
}

CF_TEST(tree_decode_rejects_parts)
{
	struct cf_node n = mk_node("f", CF_NODE_FILE);
	uint8_t *p = NULL;
	size_t len = 0;
	size_t tag = 0;

	add_part(&n, true, 0, 10);
	p = encode_one(&n, &len);
	tag = len - 9;
	CHECK(p[tag] == 1 && p[len - 1] == 10);
	CHECK(decode_rc(p, len) == 0);
	p[tag] = 2; /* unknown tag */
	CHECK(decode_rc(p, len) == CF_EFORMAT);
	p[tag] = 1;
	p[len - 1] = 0; /* hole of 0 bytes (and size mismatch) */
	CHECK(decode_rc(p, len) == CF_EFORMAT);
	p[len - 1] = 11; /* size mismatch */
	CHECK(decode_rc(p, len) == CF_EFORMAT);
	p[len - 1] = 10;
	cf_put_u32be(p + tag - 4, CF_PARTS_MAX + 1);
	CHECK(decode_rc(p, len) == CF_ETOOBIG);
	cf_put_u32be(p + tag - 4, 2);
	CHECK(decode_rc(p, len) == CF_ETRUNC);
	cf_free(p);

	n = mk_node("f", CF_NODE_FILE);
	add_part(&n, false, 7, 8u * 1024 * 1024);
	p = encode_one(&n, &len);
	CHECK(decode_rc(p, len) == 0);
	p[len - 2] = 1; /* raw_len 8 MiB + 1 */
	CHECK(decode_rc(p, len) == CF_EFORMAT);
	cf_put_u32be(p + len - 4, 0);
	CHECK(decode_rc(p, len) == CF_EFORMAT);
	cf_free(p);
}

CF_TEST(tree_decode_rejects_xattrs)
{
	struct cf_node n = mk_node("f", CF_NODE_FIFO);
	uint8_t *p = NULL;
	size_t len = 0;
	size_t x = 0;

	add_xattr(&n, "user.a", "1", 1);
	add_xattr(&n, "user.b", "2", 1);
	p = encode_one(&n, &len);
	CHECK(decode_rc(p, len) == 0);
	x = len - 2 * (1 + 6 + 4 + 1);
	CHECK(p[x] == 6 && p[x + 6] == 'a');
	p[x + 6 + 12] = 'a'; /* second name equal to the first */
	CHECK(decode_rc(p, len) == CF_EFORMAT);
	p[x + 6 + 12] = 'b';
	p[x + 6] = '\0';
	CHECK(decode_rc(p, len) == CF_EFORMAT);
	p[x + 6] = 'a';
	cf_put_u32be(p + x + 7, CF_XATTR_VALUE_MAX + 1);
	CHECK(decode_rc(p, len) == CF_ETOOBIG);
	cf_put_u32be(p + x + 7, 2);
	CHECK(decode_rc(p, len) != 0);
	cf_free(p);
}

/* ---- allocation failures: every one reported cleanly, nothing leaked (ASan) ---- */

CF_TEST(tree_alloc_failures)
{
	struct cf_tree *t = tree_xattrs();
	struct cf_tree *d = NULL;
	uint8_t *p = NULL, *q = NULL;
	size_t n = 0, qn = 0;
	int rc;
	bool decoded = false;
	bool encoded = false;

	CHECK(cf_tree_encode(t, &p, &n) == 0);
	for (uint64_t i = 1; i < 1000 && !decoded; i++) {
		cf_alloc_fail_after(i);
		rc = cf_tree_decode(p, n, &d);
		cf_alloc_fail_after(0);
		CHECK(rc == 0 || rc == CF_ENOMEM);
		decoded = rc == 0;
	}
	CHECK(decoded && tree_eq(t, d));
	for (uint64_t i = 1; i < 1000 && !encoded; i++) {
		cf_alloc_fail_after(i);
		rc = cf_tree_encode(d, &q, &qn);
		cf_alloc_fail_after(0);
		CHECK(rc == 0 || rc == CF_ENOMEM);
		encoded = rc == 0;
	}
	CHECK(encoded && qn == n && memcmp(p, q, n) == 0);
	cf_free(p);
	cf_free(q);
	cf_tree_free(t);
	cf_tree_free(d);
}

/* ---- size: the largest possible tree decodes in linear time ---- */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Encoded bytes of @count files with 8-digit names. */
static uint8_t *
encode_files(size_t count, size_t *len)
{
	struct cf_tree *t = NULL;
	uint8_t *p = NULL;
	char name[32];

	CHECK(cf_tree_new(&t) == 0);
	for (size_t i = 0; i < count; i++) {
		struct cf_node nd;

		memset(&nd, 0, sizeof(nd));
		snprintf(name, sizeof(name), "%08zu", i);
		nd.name = dup_or_null(name, 8);
		nd.name_len = 8;
		nd.type = CF_NODE_FILE;
		if (cf_tree_push(t, &nd) != 0)
			abort();
	}
	CHECK(cf_tree_encode(t, &p, len) == 0);
	cf_tree_free(t);
	return p;
}

/* The fastest of three decodes of @p, in seconds of CPU time. */
static double
decode_time(const uint8_t *p, size_t n, size_t count)
{
	double best = 1e9;

	for (int i = 0; i < 3; i++) {
		struct cf_tree *d = NULL;
		double t0 = now_s();
		double dt = 0;

		CHECK(cf_tree_decode(p, n, &d) == 0);
		dt = now_s() - t0;
		CHECK(d != NULL && d->count == count);
		if (d != NULL && count > 123456)
			CHECK(cf_tree_find(d, (const uint8_t *)"00123456", 8) == &d->nodes[123456]);
		cf_tree_free(d);
		best = dt < best ? dt : best;
	}
	return best;
}

CF_TEST(tree_large)
{
	size_t big = 700000; /* about 62 MiB: near CF_TREE_MAX_BYTES */
	size_t small = big / 8;
	uint8_t *p = NULL;
	uint8_t *q = NULL;
	size_t n = 0;
	size_t qn = 0;
	double tb = 0;
	double ts = 0;

	p = encode_files(big, &n);
	q = encode_files(small, &qn);
	tb = decode_time(p, n, big);
	ts = decode_time(q, qn, small);
	fprintf(stderr, "tree_large: %zu entries (%zu bytes) decode in %.3f s CPU, %zu in %.3f s\n",
	        big, n, tb, small, ts);
	/*
	 * Linear time: 8 times the entries take about 8 times the CPU time (up to about 16 as
	 * the big tree outgrows the caches). A ratio, not a wall-clock limit, so sanitizer and
	 * valgrind runs pass too; quadratic work would show as a ratio of 64 and more.
	 */
	CHECK(tb < 32 * ts + 0.05);
	cf_free(p);
	cf_free(q);
}

CF_TEST(tree_encode_too_big)
{
	struct cf_tree *t = NULL;
	struct cf_node n;
	uint8_t *p = NULL;
	size_t len = 0;
	char name[16];

	/* 1100 entries of 64 KiB xattr values: past the 64 MiB tree limit. */
	CHECK(cf_tree_new(&t) == 0);
	for (int i = 0; i < 1100; i++) {
		snprintf(name, sizeof(name), "%05d", i);
		n = mk_node(name, CF_NODE_FIFO);
		add_xattr(&n, "user.big", "", 0);
		n.xattrs[0].value = cf_calloc(1, CF_XATTR_VALUE_MAX);
		n.xattrs[0].value_len = CF_XATTR_VALUE_MAX;
		push(t, &n);
	}
	CHECK(cf_tree_encode(t, &p, &len) == CF_ETOOBIG && p == NULL);
	cf_tree_free(t);
}

__attribute__((constructor(200))) static void
maybe_generate(void)
{
	const char *g = getenv("CF_GEN_VECTORS");

	if (g == NULL || strcmp(g, "1") != 0)
		return;
	if (cf_init() != 0)
		abort();
	gen_vectors();
	fflush(stdout);
	exit(0);
}
