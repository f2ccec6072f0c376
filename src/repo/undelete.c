/*
 * undelete.c - bring back what a full device deleted on cofferd, within the operator's
 * retention window (docs/format.md 15.2), and tell check about it.
 */
#include <string.h>

#include "../retention/records.h"
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

/* One forget record: keep only the snapshots still gone (a new record), drop the old one. */
static int
unforget_record(struct cf_repo *r, const struct cf_forget_ref *f)
{
	struct cf_forget_entry *keep = NULL;
	uint8_t old[1][CF_ID_BYTES];
	size_t n = 0;
	int rc = 0;

	if ((keep = cf_calloc(f->count, sizeof(*keep))) == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; i < f->count; i++)
		if (!cf_repo_snapshot_present(r, r->rec->forgot[f->first + i].hash))
			keep[n++] = r->rec->forgot[f->first + i];
	/* the new record names the old one as superseded: showing the old one again hides nothing
	 */
	if (n < f->count && (rc = cf_unhex(old[0], CF_ID_BYTES, f->name, strlen(f->name))) == 0 &&
	    (rc = cf_forget_write(r, keep, n, (const uint8_t(*)[CF_ID_BYTES])old, 1)) == 0)
		rc = cf_store_delete(r->store, CF_OBJ_FORGET, f->name);
	cf_free(keep);
	return rc;
}

/*
 * Undeleted snapshots come back only when the forget records that named them go: a full
 * device rewrites each record without them (docs/format.md 16.1).
 */
static int
unforget(struct cf_repo *r)
{
	int rc;

	if (r->role != CF_ROLE_FULL)
		return 0; /* the recovery key signs no records: recover as a device first */
	if ((rc = cf_repo_reload_records(r)) != 0)
		return rc;
	for (size_t k = 0; k < r->rec->nforgets && rc == 0; k++)
		rc = unforget_record(r, &r->rec->forgets[k]);
	return rc != 0 ? rc : cf_repo_reload_records(r);
}

int
cf_undelete(struct cf_repo *r, uint64_t *count)
{
	int rc = walk_deleted(r, true, count);

	return rc != 0 ? rc : unforget(r);
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
