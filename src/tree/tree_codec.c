/*
 * tree_codec.c - the canonical byte encoding of a directory (docs/format.md section 7).
 *
 * There is exactly one encoding of a tree: the decoder accepts only what the encoder would
 * write (sorted unique names, every field in range, no field for a type that does not use it,
 * no trailing bytes), so decode(encode(t)) == t and encode(decode(x)) == x. Tree ids are MACs
 * of these bytes, so canonicality is what makes unchanged directories deduplicate.
 */
#include <string.h>

#include "../base/base.h"
#include "../buf/buf.h"
#include "../reader/reader.h"
#include "tree.h"

#define TREE_MAGIC      "CFTR"
#define TREE_MAGIC_LEN  4
#define TREE_VERSION    1
#define TREE_HEADER_LEN (TREE_MAGIC_LEN + 1 + 4)
/* The limit as a size_t, so no arithmetic on it happens in unsigned int. */
#define TREE_MAX_BYTES   ((size_t)CF_TREE_MAX_BYTES)
#define PART_TAG_CHUNK   0
#define PART_TAG_HOLE    1
#define XATTR_MIN_BYTES  (1 + 1 + 4)           /* name str8 of 1 byte, vlen */
#define PART_CHUNK_BYTES (1 + CF_ID_BYTES + 4) /* tag, id, raw_len */
#define PART_HOLE_BYTES  (1 + 8)               /* tag, len */

/*
 * The smallest possible entry (a one-byte name, empty strings, no xattrs, no parts or
 * subtree): a count is checked against the bytes left with it before anything is allocated.
 */
#define ENTRY_MIN_BYTES                                                                            \
	((2 + 1) + 1 + 4 + 4 + 4 + 1 + 1 + (8 + 4) + (8 + 4) + 8 + 8 + 8 + 4 + 8 + 2 + 2)
static_assert(ENTRY_MIN_BYTES == 82, "tree entry layout");

static bool
is_file(uint8_t type)
{
	return type == CF_NODE_FILE || type == CF_NODE_HARDLINK;
}

/* Exact encoded size of a valid node; CF_ETOOBIG if it cannot be represented. */
static int
node_wire_size(const struct cf_node *n, size_t *out)
{
	size_t sz = ENTRY_MIN_BYTES - 1 + n->name_len + n->user_len + n->group_len + n->target_len;

	for (size_t i = 0; i < n->nxattrs; i++)
		if (cf_size_add(sz, 1 + n->xattrs[i].name_len + 4 + n->xattrs[i].value_len, &sz))
			return CF_ETOOBIG;
	if (is_file(n->type)) {
		if (cf_size_add(sz, 4, &sz) != 0)
			return CF_ETOOBIG;
		for (size_t i = 0; i < n->nparts; i++) {
			size_t p = n->parts[i].hole ? PART_HOLE_BYTES : PART_CHUNK_BYTES;

			if (cf_size_add(sz, p, &sz) != 0)
				return CF_ETOOBIG;
		}
	} else if (n->type == CF_NODE_DIR && cf_size_add(sz, CF_ID_BYTES, &sz) != 0) {
		return CF_ETOOBIG;
	}
	*out = sz;
	return 0;
}

/* Every node valid, names strictly increasing; the exact output size in *@out. */
static int
check_tree(const struct cf_tree *t, size_t *out)
{
	size_t total = TREE_HEADER_LEN;
	size_t sz = 0;
	int rc;

	*out = 0;
	if (t->count > CF_TREE_MAX_ENTRIES)
		return CF_ETOOBIG;
	for (size_t i = 0; i < t->count; i++) {
		const struct cf_node *n = &t->nodes[i];

		if (!cf_node_valid(n))
			return CF_EINVAL;
		if (i > 0 && cf_name_cmp(n[-1].name, n[-1].name_len, n->name, n->name_len) >= 0)
			return CF_EINVAL;
		if ((rc = node_wire_size(n, &sz)) != 0)
			return rc;
		if (cf_size_add(total, sz, &total) != 0 || total > TREE_MAX_BYTES)
			return CF_ETOOBIG;
	}
	*out = total;
	return 0;
}

static int
put_attrs(struct cf_buf *b, const struct cf_node *n)
{
	int rc;

	if ((rc = cf_buf_str16(b, n->name, n->name_len)) != 0 ||
	    (rc = cf_buf_u8(b, n->type)) != 0 || (rc = cf_buf_u32be(b, n->mode)) != 0 ||
	    (rc = cf_buf_u32be(b, n->uid)) != 0 || (rc = cf_buf_u32be(b, n->gid)) != 0 ||
	    (rc = cf_buf_str8(b, n->user, n->user_len)) != 0 ||
	    (rc = cf_buf_str8(b, n->group, n->group_len)) != 0 ||
	    (rc = cf_buf_i64be(b, n->mtime_s)) != 0 || (rc = cf_buf_u32be(b, n->mtime_ns)) != 0 ||
	    (rc = cf_buf_i64be(b, n->ctime_s)) != 0 || (rc = cf_buf_u32be(b, n->ctime_ns)) != 0 ||
	    (rc = cf_buf_u64be(b, n->size)) != 0 || (rc = cf_buf_u64be(b, n->dev)) != 0 ||
	    (rc = cf_buf_u64be(b, n->ino)) != 0 || (rc = cf_buf_u32be(b, n->nlink)) != 0 ||
	    (rc = cf_buf_u64be(b, n->rdev)) != 0 ||
	    (rc = cf_buf_str16(b, n->target, n->target_len)) != 0)
		return rc;
	return 0;
}

static int
put_xattrs(struct cf_buf *b, const struct cf_node *n)
{
	int rc;

	if ((rc = cf_buf_u16be(b, (uint16_t)n->nxattrs)) != 0)
		return rc;
	for (size_t i = 0; i < n->nxattrs; i++) {
		const struct cf_xattr *x = &n->xattrs[i];

		if ((rc = cf_buf_str8(b, x->name, x->name_len)) != 0 ||
		    (rc = cf_buf_u32be(b, (uint32_t)x->value_len)) != 0 ||
		    (rc = cf_buf_put(b, x->value, x->value_len)) != 0)
			return rc;
	}
	return 0;
}

static int
put_part(struct cf_buf *b, const struct cf_part *p)
{
	int rc;

	if (p->hole) {
		if ((rc = cf_buf_u8(b, PART_TAG_HOLE)) != 0)
			return rc;
		return cf_buf_u64be(b, p->len);
	}
	if ((rc = cf_buf_u8(b, PART_TAG_CHUNK)) != 0 ||
	    (rc = cf_buf_put(b, p->id, sizeof(p->id))) != 0)
		return rc;
	return cf_buf_u32be(b, (uint32_t)p->len);
}

static int
put_content(struct cf_buf *b, const struct cf_node *n)
{
	int rc;

	if (n->type == CF_NODE_DIR)
		return cf_buf_put(b, n->subtree, sizeof(n->subtree));
	if (!is_file(n->type))
		return 0;
	if ((rc = cf_buf_u32be(b, (uint32_t)n->nparts)) != 0)
		return rc;
	for (size_t i = 0; i < n->nparts; i++)
		if ((rc = put_part(b, &n->parts[i])) != 0)
			return rc;
	return 0;
}

int
cf_tree_encode(const struct cf_tree *t, uint8_t **out, size_t *len)
{
	struct cf_buf b;
	size_t total = 0;
	int rc;

	*out = NULL;
	*len = 0;
	cf_buf_init(&b, TREE_MAX_BYTES);
	if ((rc = check_tree(t, &total)) != 0 || (rc = cf_buf_reserve(&b, total)) != 0)
		goto out;
	if ((rc = cf_buf_put(&b, TREE_MAGIC, TREE_MAGIC_LEN)) != 0 ||
	    (rc = cf_buf_u8(&b, TREE_VERSION)) != 0 ||
	    (rc = cf_buf_u32be(&b, (uint32_t)t->count)) != 0)
		goto out;
	for (size_t i = 0; i < t->count; i++) {
		const struct cf_node *n = &t->nodes[i];

		if ((rc = put_attrs(&b, n)) != 0 || (rc = put_xattrs(&b, n)) != 0 ||
		    (rc = put_content(&b, n)) != 0)
			goto out;
	}
	/* The size computed up front is the size written: a mismatch is a bug here. */
	CF_ASSERT(b.len == total);
	cf_buf_detach(&b, out, len);
out:
	cf_buf_release(&b);
	return rc;
}

/* A heap copy of @len input bytes; NULL for an empty string. */
static int
dup_bytes(const uint8_t *p, size_t len, uint8_t **out)
{
	*out = NULL;
	if (len == 0)
		return 0;
	if ((*out = cf_memdup(p, len)) == NULL)
		return CF_ENOMEM;
	return 0;
}

static int
get_str8(struct cf_reader *r, size_t max, uint8_t **out, size_t *len)
{
	const uint8_t *p = NULL;
	int rc;

	if ((rc = cf_reader_str8(r, max, &p, len)) != 0)
		return rc;
	return dup_bytes(p, *len, out);
}

static int
get_str16(struct cf_reader *r, size_t max, uint8_t **out, size_t *len)
{
	const uint8_t *p = NULL;
	int rc;

	if ((rc = cf_reader_str16(r, max, &p, len)) != 0)
		return rc;
	return dup_bytes(p, *len, out);
}

/* Name and identity fields. The type is checked at once: it decides what follows. */
static int
get_ident(struct cf_reader *r, struct cf_node *n)
{
	int rc;

	if ((rc = get_str16(r, CF_NAME_MAX, &n->name, &n->name_len)) != 0 ||
	    (rc = cf_reader_u8(r, &n->type)) != 0)
		return rc;
	if (n->type < CF_NODE_FILE || n->type > CF_NODE_BLOCKDEV)
		return CF_EFORMAT;
	if ((rc = cf_reader_u32be(r, &n->mode)) != 0 || (rc = cf_reader_u32be(r, &n->uid)) != 0 ||
	    (rc = cf_reader_u32be(r, &n->gid)) != 0 ||
	    (rc = get_str8(r, CF_NAME_MAX, &n->user, &n->user_len)) != 0 ||
	    (rc = get_str8(r, CF_NAME_MAX, &n->group, &n->group_len)) != 0)
		return rc;
	return 0;
}

static int
get_stat(struct cf_reader *r, struct cf_node *n)
{
	int rc;

	if ((rc = cf_reader_i64be(r, &n->mtime_s)) != 0 ||
	    (rc = cf_reader_u32be(r, &n->mtime_ns)) != 0 ||
	    (rc = cf_reader_i64be(r, &n->ctime_s)) != 0 ||
	    (rc = cf_reader_u32be(r, &n->ctime_ns)) != 0 ||
	    (rc = cf_reader_u64be(r, &n->size)) != 0 || (rc = cf_reader_u64be(r, &n->dev)) != 0 ||
	    (rc = cf_reader_u64be(r, &n->ino)) != 0 || (rc = cf_reader_u32be(r, &n->nlink)) != 0 ||
	    (rc = cf_reader_u64be(r, &n->rdev)) != 0 ||
	    (rc = get_str16(r, CF_TARGET_MAX, &n->target, &n->target_len)) != 0)
		return rc;
	return 0;
}

static int
get_xattrs(struct cf_reader *r, struct cf_node *n)
{
	uint16_t count = 0;
	uint32_t vlen = 0;
	const uint8_t *v = NULL;
	int rc;

	if ((rc = cf_reader_u16be(r, &count)) != 0)
		return rc;
	if (count > CF_XATTR_MAX_COUNT)
		return CF_ETOOBIG;
	if (count > r->left / XATTR_MIN_BYTES)
		return CF_ETRUNC;
	if (count > 0 && (n->xattrs = cf_calloc(count, sizeof(*n->xattrs))) == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; i < count; i++) {
		struct cf_xattr *x = &n->xattrs[i];

		/* Counted before the value so a failure below still frees the name. */
		n->nxattrs++;
		if ((rc = get_str8(r, CF_NAME_MAX, &x->name, &x->name_len)) != 0 ||
		    (rc = cf_reader_u32be(r, &vlen)) != 0)
			return rc;
		if (vlen > CF_XATTR_VALUE_MAX)
			return CF_ETOOBIG;
		if ((rc = cf_reader_view(r, vlen, &v)) != 0 || (rc = dup_bytes(v, vlen, &x->value)))
			return rc;
		x->value_len = vlen;
	}
	return 0;
}

static int
get_part(struct cf_reader *r, struct cf_part *p)
{
	uint8_t tag = 0;
	uint32_t raw_len = 0;
	int rc;

	if ((rc = cf_reader_u8(r, &tag)) != 0)
		return rc;
	if (tag == PART_TAG_HOLE) {
		p->hole = true;
		return cf_reader_u64be(r, &p->len);
	}
	if (tag != PART_TAG_CHUNK)
		return CF_EFORMAT;
	if ((rc = cf_reader_copy(r, p->id, sizeof(p->id))) != 0 ||
	    (rc = cf_reader_u32be(r, &raw_len)) != 0)
		return rc;
	p->len = raw_len;
	return 0;
}

static int
get_parts(struct cf_reader *r, struct cf_node *n)
{
	uint32_t count = 0;
	int rc;

	if ((rc = cf_reader_u32be(r, &count)) != 0)
		return rc;
	if (count > CF_PARTS_MAX)
		return CF_ETOOBIG;
	if (count > r->left / PART_HOLE_BYTES)
		return CF_ETRUNC;
	if (count > 0 && (n->parts = cf_calloc(count, sizeof(*n->parts))) == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; i < count; i++) {
		if ((rc = get_part(r, &n->parts[i])) != 0)
			return rc;
		n->nparts++;
	}
	return 0;
}

/* One entry into @n (zeroed by the caller; on failure the caller releases it). */
static int
get_node(struct cf_reader *r, struct cf_node *n)
{
	int rc;

	if ((rc = get_ident(r, n)) != 0 || (rc = get_stat(r, n)) != 0 ||
	    (rc = get_xattrs(r, n)) != 0)
		return rc;
	if (is_file(n->type) && (rc = get_parts(r, n)) != 0)
		return rc;
	if (n->type == CF_NODE_DIR && (rc = cf_reader_copy(r, n->subtree, sizeof(n->subtree))) != 0)
		return rc;
	/* The same rules the encoder applies: one definition of a valid entry. */
	return cf_node_valid(n) ? 0 : CF_EFORMAT;
}

static int
get_header(struct cf_reader *r, uint32_t *count)
{
	const uint8_t *magic = NULL;
	uint8_t version = 0;
	int rc;

	if ((rc = cf_reader_view(r, TREE_MAGIC_LEN, &magic)) != 0)
		return rc;
	if (memcmp(magic, TREE_MAGIC, TREE_MAGIC_LEN) != 0)
		return CF_EFORMAT;
	if ((rc = cf_reader_u8(r, &version)) != 0)
		return rc;
	if (version != TREE_VERSION)
		return CF_EVERSION;
	if ((rc = cf_reader_u32be(r, count)) != 0)
		return rc;
	if (*count > CF_TREE_MAX_ENTRIES)
		return CF_ETOOBIG;
	if (*count > r->left / ENTRY_MIN_BYTES)
		return CF_ETRUNC;
	return 0;
}

int
cf_tree_decode(const uint8_t *p, size_t len, struct cf_tree **out)
{
	struct cf_tree *t = NULL;
	struct cf_node n;
	struct cf_reader r;
	uint32_t count = 0;
	int rc;

	*out = NULL;
	memset(&n, 0, sizeof(n));
	if (len > TREE_MAX_BYTES)
		return CF_ETOOBIG;
	cf_reader_init(&r, p, len);
	if ((rc = get_header(&r, &count)) != 0)
		return rc;
	if ((rc = cf_tree_new(&t)) != 0 || (rc = cf_tree_reserve(t, count)) != 0)
		goto out;
	for (size_t i = 0; i < count; i++) {
		if ((rc = get_node(&r, &n)) != 0)
			goto out;
		if (i > 0 && cf_name_cmp(t->nodes[i - 1].name, t->nodes[i - 1].name_len, n.name,
		                         n.name_len) >= 0) {
			rc = CF_EFORMAT;
			goto out;
		}
		t->nodes[t->count++] = n; /* moved: room was reserved */
		memset(&n, 0, sizeof(n));
	}
	rc = cf_reader_end(&r);
	if (rc == 0) {
		*out = t;
		t = NULL;
	}
out:
	cf_node_release(&n);
	cf_tree_free(t);
	return rc;
}
