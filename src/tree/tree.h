/*
 * tree.h - the canonical directory encoding (docs/format.md section 7).
 */
#ifndef CF_TREE_H
#define CF_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/compat.h"
#include "../crypto/crypto.h"

#define CF_TREE_MAX_BYTES   (64u * 1024 * 1024)
#define CF_TREE_MAX_ENTRIES (1u << 24)
#define CF_NAME_MAX         255
#define CF_TARGET_MAX       4095
#define CF_XATTR_MAX_COUNT  1024
#define CF_XATTR_VALUE_MAX  65536
#define CF_PARTS_MAX        (1u << 24)

enum cf_node_type {
	CF_NODE_FILE = 1,
	CF_NODE_DIR = 2,
	CF_NODE_SYMLINK = 3,
	CF_NODE_HARDLINK = 4,
	CF_NODE_FIFO = 5,
	CF_NODE_CHARDEV = 6,
	CF_NODE_BLOCKDEV = 7,
};

struct cf_xattr {
	uint8_t *name; /* heap; 1..255 bytes, no NUL */
	size_t name_len;
	uint8_t *value; /* heap; may be NULL when value_len is 0 */
	size_t value_len;
};

/* A content part of a file: a chunk, or a hole of @len zero bytes. */
struct cf_part {
	bool hole;
	uint8_t id[CF_ID_BYTES]; /* chunk only */
	uint64_t len;            /* chunk: raw_len (1 .. 8 MiB); hole: >= 1 */
};

/* One directory entry. Every pointer is owned by the node and freed by cf_node_release(). */
struct cf_node {
	uint8_t *name;
	size_t name_len;
	uint8_t type; /* enum cf_node_type */
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint8_t *user;
	size_t user_len;
	uint8_t *group;
	size_t group_len;
	int64_t mtime_s;
	uint32_t mtime_ns;
	int64_t ctime_s;
	uint32_t ctime_ns;
	uint64_t size;
	uint64_t dev;
	uint64_t ino;
	uint32_t nlink;
	uint64_t rdev;
	uint8_t *target;
	size_t target_len;
	struct cf_xattr *xattrs;
	size_t nxattrs;
	struct cf_part *parts;
	size_t nparts;
	uint8_t subtree[CF_ID_BYTES];
};

struct cf_tree {
	struct cf_node *nodes;
	size_t count;
	size_t cap;
};

/* cf_node_release() - free everything @n owns and zero it. */
void cf_node_release(struct cf_node *n);

/* cf_tree_new() - an empty tree. 0 or CF_ENOMEM. */
int cf_tree_new(struct cf_tree **out) CF_MUST_CHECK;
void cf_tree_free(struct cf_tree *t);
/*
 * cf_tree_push() - move *@n into @t (the node is zeroed after, ownership transferred).
 * Returns 0, CF_ETOOBIG or CF_ENOMEM (on failure *@n is unchanged and still the caller's).
 */
int cf_tree_push(struct cf_tree *t, struct cf_node *n) CF_MUST_CHECK;
/*
 * cf_tree_reserve() - make room for @n more nodes without moving them again. Returns 0,
 * CF_ETOOBIG (count + @n over CF_TREE_MAX_ENTRIES) or CF_ENOMEM.
 */
int cf_tree_reserve(struct cf_tree *t, size_t n) CF_MUST_CHECK;
/*
 * cf_node_valid() - whether @n satisfies every per-entry rule of docs/format.md section 7
 * (name, type, mode, ranges, fields only for the types that use them, parts adding up to
 * size), exactly as cf_tree_decode() requires of each entry. Order is not checked here.
 */
bool cf_node_valid(const struct cf_node *n);
/* cf_tree_sort() - sort nodes by name in the canonical order. */
void cf_tree_sort(struct cf_tree *t);
/* cf_name_cmp() - canonical name order: bytewise, shorter first on a common prefix. */
int cf_name_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
/*
 * cf_tree_find() - binary search of a sorted tree for @name; the node or NULL.
 */
const struct cf_node *cf_tree_find(const struct cf_tree *t, const uint8_t *name, size_t len);

/*
 * cf_tree_encode() - the canonical bytes of a sorted tree (cf_free). Every node is
 * validated as the decoder would. Returns 0, CF_EINVAL (unsorted, duplicate name or invalid
 * node), CF_ETOOBIG or CF_ENOMEM.
 */
int cf_tree_encode(const struct cf_tree *t, uint8_t **out, size_t *len) CF_MUST_CHECK;
/*
 * cf_tree_decode() - parse tree bytes (already authenticated). Returns 0, CF_EFORMAT,
 * CF_EVERSION, CF_ETRUNC, CF_ETOOBIG or CF_ENOMEM.
 */
int cf_tree_decode(const uint8_t *p, size_t len, struct cf_tree **out) CF_MUST_CHECK;

#endif
