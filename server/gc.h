/*
 * gc.h - removing soft-deleted objects once the retention window has passed, and finishing
 * what a crash left half done (docs/format.md 15.2). Used by `serve` (at start and hourly)
 * and by `cofferd admin gc`.
 */
#ifndef CFD_GC_H
#define CFD_GC_H

#include <stdint.h>

#include "blobs.h"
#include "meta.h"

#define CFD_RETENTION_DEFAULT ((int64_t)7 * 86400)
#define CFD_RETENTION_KEY     "retention"

struct cfd_gc_stats {
	uint64_t objects;
	uint64_t bytes;
	uint64_t failed;
};

/*
 * cfd_gc_run() - remove for good every object soft-deleted at or before @now - @retention:
 * its row is claimed (PURGING), its file removed, then its row. Returns 0 (see @st for what
 * was removed and what failed, left for the next run), CF_ESYS or CF_ENOMEM.
 */
int cfd_gc_run(struct cfd_meta *m, struct cfd_blobs *b, int64_t retention, int64_t now,
               struct cfd_gc_stats *st) CF_MUST_CHECK;
/*
 * cfd_gc_recover() - finish what a crash left: every PURGING row, and every PENDING row (an
 * upload cut off) created at or before @cutoff: its blob and row are removed, its quota
 * released. A server alone on its metadata passes INT64_MAX at start, before serving; with
 * shared metadata, now - CFD_PENDING_STALE, so other instances' uploads are left alone.
 */
#define CFD_PENDING_STALE ((int64_t)6 * 3600)
int cfd_gc_recover(struct cfd_meta *m, struct cfd_blobs *b, int64_t cutoff,
                   struct cfd_gc_stats *st) CF_MUST_CHECK;
/* cfd_gc_retention() - the retention window recorded by `serve`, or the default. */
int64_t cfd_gc_retention(struct cfd_meta *m);

#endif
