/*
 * undelete.c - bring back what a full device deleted on cofferd, within the operator's
 * retention window (docs/format.md 15.2), and tell check about it.
 */
#include <string.h>

#include "repo.h"

static const enum cf_obj_kind undeletable[] = {CF_OBJ_KEYS, CF_OBJ_PACK, CF_OBJ_INDEX,
                                               CF_OBJ_SNAPSHOT};

struct undo {
	struct cf_repo *r;
	enum cf_obj_kind kind;
	uint64_t count;
	bool restore; /* false: only count */
};

static int
undo_one(void *arg, const char *name, uint64_t size)
{
	struct undo *u = arg;
	int rc;

	(void)size;
	if (u->restore && (rc = cf_remote_undelete(u->r->store, u->kind, name)) != 0)
		return rc;
	u->count++;
	return 0;
}

/* Walk the soft-deleted objects of every kind, undeleting them when @restore. */
static int
walk_deleted(struct cf_repo *r, bool restore, uint64_t *count)
{
	struct undo u;
	int rc = 0;

	*count = 0;
	if (!cf_remote_url_is(cf_store_location(r->store)))
		return cf_err_set(CF_EINVAL,
		                  "'%s' is a directory: deletions there are immediate; "
		                  "undelete is for cofferd repositories",
		                  cf_store_location(r->store));
	if (r->role != CF_ROLE_FULL && r->role != CF_ROLE_RECOVERY)
		return cf_err_set(CF_EPERM, "only a full device can undelete");
	memset(&u, 0, sizeof(u));
	u.r = r;
	u.restore = restore;
	for (size_t i = 0; i < CF_ARRAY_LEN(undeletable) && rc == 0; i++) {
		u.kind = undeletable[i];
		rc = cf_remote_list_deleted(r->store, u.kind, undo_one, &u);
	}
	*count = u.count;
	return rc;
}

int
cf_undelete(struct cf_repo *r, uint64_t *count)
{
	return walk_deleted(r, true, count);
}

int
cf_repo_count_deleted(struct cf_repo *r, uint64_t *count)
{
	*count = 0;
	if (!cf_remote_url_is(cf_store_location(r->store)) ||
	    (r->role != CF_ROLE_FULL && r->role != CF_ROLE_RECOVERY))
		return 0;
	return walk_deleted(r, false, count);
}
