/*
 * store.c - the generic store wrapper: checks kinds and names once for every implementation,
 * then delegates to its ops (docs/format.md sections 3 and 14).
 */
#include "store.h"

#include <stdint.h>
#include <string.h>

#include "../base/base.h"

struct cf_store {
	struct cf_store_ops ops;
	void *ctx;
	char *location;
};

/* The list callback wrapper: drops names that no implementation may hand out. */
struct list_filter {
	cf_store_list_fn *fn;
	void *arg;
};

static const char *const kind_dirs[] = {
        [CF_OBJ_CHAIN] = "chain",    [CF_OBJ_KEYS] = "keys",          [CF_OBJ_PACK] = "packs",
        [CF_OBJ_INDEX] = "index",    [CF_OBJ_SNAPSHOT] = "snapshots", [CF_OBJ_REQUEST] = "requests",
        [CF_OBJ_FORGET] = "forgets", [CF_OBJ_PRUNE] = "prune",
};

const char *
cf_obj_kind_dir(enum cf_obj_kind kind)
{
	if (!cf_obj_kind_valid(kind))
		return NULL;
	return kind_dirs[kind];
}

bool
cf_obj_kind_valid(enum cf_obj_kind kind)
{
	return kind >= CF_OBJ_CHAIN && kind <= CF_OBJ_PRUNE;
}

int
cf_obj_kind_parse(const char *dir, enum cf_obj_kind *out)
{
	for (int k = CF_OBJ_CHAIN; k <= CF_OBJ_PRUNE; k++) {
		if (strcmp(dir, kind_dirs[k]) == 0) {
			*out = (enum cf_obj_kind)k;
			return 0;
		}
	}
	return CF_EINVAL;
}

int
cf_obj_name_valid(const char *name)
{
	size_t n;

	if (name == NULL)
		return CF_EINVAL;
	n = strnlen(name, CF_OBJ_NAME_MAX + 1);
	if (n == 0 || n > CF_OBJ_NAME_MAX)
		return CF_EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-'))
			return CF_EINVAL;
	}
	return 0;
}

/* Kind and name checks shared by every per-object call; the message names what was wrong. */
static int
check_obj(enum cf_obj_kind kind, const char *name)
{
	if (!cf_obj_kind_valid(kind))
		return cf_err_set(CF_EINVAL, "invalid object kind %d", (int)kind);
	if (cf_obj_name_valid(name) != 0)
		return cf_err_set(CF_EINVAL, "invalid object name '%.*s'", CF_OBJ_NAME_MAX,
		                  name == NULL ? "" : name);
	return 0;
}

int
cf_store_new(const struct cf_store_ops *ops, void *ctx, const char *location, struct cf_store **out)
{
	struct cf_store *s = NULL;

	*out = NULL;
	s = cf_calloc(1, sizeof(*s));
	if (s == NULL)
		return CF_ENOMEM;
	s->location = cf_strdup(location);
	if (s->location == NULL) {
		cf_free(s);
		return CF_ENOMEM;
	}
	s->ops = *ops;
	s->ctx = ctx;
	*out = s;
	return 0;
}

void
cf_store_free(struct cf_store *s)
{
	if (s == NULL)
		return;
	if (s->ops.free != NULL)
		s->ops.free(s->ctx);
	cf_free(s->location);
	cf_free(s);
}

const char *
cf_store_location(const struct cf_store *s)
{
	return s->location;
}

int
cf_store_put(struct cf_store *s, enum cf_obj_kind kind, const char *name, const uint8_t *p,
             size_t len)
{
	int rc;

	if ((rc = check_obj(kind, name)) != 0)
		return rc;
	return s->ops.put(s->ctx, kind, name, p, len);
}

/* NOLINTBEGIN(readability-function-size): its 8 parameters are the store.h contract */
int
cf_store_get(struct cf_store *s, enum cf_obj_kind kind, const char *name, uint64_t off, size_t len,
             size_t max, uint8_t **out, size_t *outlen)
{
	int rc;

	*out = NULL;
	*outlen = 0;
	if ((rc = check_obj(kind, name)) != 0)
		return rc;
	return s->ops.get(s->ctx, kind, name, off, len, max, out, outlen);
}
/* NOLINTEND(readability-function-size) */

int
cf_store_size(struct cf_store *s, enum cf_obj_kind kind, const char *name, uint64_t *size)
{
	int rc;

	*size = 0;
	if ((rc = check_obj(kind, name)) != 0)
		return rc;
	return s->ops.size(s->ctx, kind, name, size);
}

static int
list_filter_cb(void *arg, const char *name, uint64_t size)
{
	const struct list_filter *lf = arg;

	if (cf_obj_name_valid(name) != 0)
		return 0;
	return lf->fn(lf->arg, name, size);
}

int
cf_store_list(struct cf_store *s, enum cf_obj_kind kind, cf_store_list_fn *fn, void *arg)
{
	struct list_filter lf = {.fn = fn, .arg = arg};

	if (!cf_obj_kind_valid(kind))
		return cf_err_set(CF_EINVAL, "invalid object kind %d", (int)kind);
	return s->ops.list(s->ctx, kind, list_filter_cb, &lf);
}

int
cf_store_delete(struct cf_store *s, enum cf_obj_kind kind, const char *name)
{
	int rc;

	if ((rc = check_obj(kind, name)) != 0)
		return rc;
	return s->ops.del(s->ctx, kind, name);
}
