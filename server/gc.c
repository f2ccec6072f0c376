/*
 * gc.c - final removal of soft-deleted objects and crash recovery (gc.h).
 *
 * A row is PURGING before its file goes and is dropped after, so a crash in between leaves
 * a PURGING row that the next run or start finishes; the name stays taken until then, so no
 * new upload can land on a file that is about to be removed.
 */
#include "gc.h"

#include <string.h>

#include "base/base.h"

struct gc_ctx {
	struct cfd_meta *m;
	struct cfd_blobs *b;
	struct cfd_gc_stats *st;
	int64_t cutoff; /* recovery: PENDING rows created after it are left alone */
};

static int
purge_one(void *arg, const struct cfd_obj_info *o)
{
	struct gc_ctx *g = arg;
	struct cfd_obj_key k = {o->account, o->kind, o->name};

	if (o->state == CFD_OBJ_PENDING && o->created > g->cutoff)
		return 0; /* perhaps another instance's upload in flight */
	if (cfd_blobs_remove(g->b, &k) != 0 || g->m->ops->object_purge(g->m, &k) != 0) {
		g->st->failed++;
		return 0; /* the row stays PURGING; the next run tries again */
	}
	g->st->objects++;
	g->st->bytes += o->size;
	return 0;
}

int
cfd_gc_run(struct cfd_meta *m, struct cfd_blobs *b, int64_t retention, int64_t now,
           struct cfd_gc_stats *st)
{
	struct gc_ctx g = {m, b, st, INT64_MAX};

	memset(st, 0, sizeof(*st));
	return m->ops->expired_claim(m, now - retention, purge_one, &g);
}

int
cfd_gc_recover(struct cfd_meta *m, struct cfd_blobs *b, int64_t cutoff, struct cfd_gc_stats *st)
{
	struct gc_ctx g = {m, b, st, cutoff};

	memset(st, 0, sizeof(*st));
	return m->ops->unfinished_list(m, purge_one, &g);
}

int64_t
cfd_gc_retention(struct cfd_meta *m)
{
	int64_t v = 0;

	if (m->ops->setting_get(m, CFD_RETENTION_KEY, &v) != 0 || v < 0)
		return CFD_RETENTION_DEFAULT;
	return v;
}
