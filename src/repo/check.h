/*
 * check.h - the state of one `check`, shared by check.c (the walk and read-data) and
 * check_later.c (what a prune running beside it may explain, decided at the end).
 */
#ifndef CF_REPO_CHECK_H
#define CF_REPO_CHECK_H

#include "repo.h"

/* What the walk puts off until cf_ck_recheck(): a snapshot object, a tree, or a chunk. */
enum ck_later_kind {
	CK_LATER_SNAPSHOT = 's',
	CK_LATER_TREE = 't',
	CK_LATER_CHUNK = 'c',
};

struct ck_later {
	enum ck_later_kind kind;
	char snap[2 * CF_ID_BYTES + 1];
	uint8_t id[CF_ID_BYTES]; /* the tree or chunk (zeros for a snapshot) */
	char *path;              /* below the snapshot's root, without the leading '/' */
	char *why;               /* why it did not load, as it was first seen */
};

struct ck {
	struct cf_repo *r;
	struct cf_events ev;
	struct cf_zctx *z;
	struct cf_index *seen_trees;    /* trees loaded and walked */
	struct cf_index *packs_present; /* pack ids found in the store */
	struct cf_index *damaged;       /* blob ids that failed verification (read-data) */
	struct cf_index *good;          /* blob ids with a copy that verified (read-data) */
	struct cf_index *good_at;       /* H(pack id || blob id): verified in that pack */
	struct cf_index *read;          /* packs read in full (read-data) */
	bool read_all;                  /* --read-data */
	struct cf_path path;
	uint64_t problems;
	const char *snap; /* name of the snapshot being walked */
	/* check_later.c */
	struct cf_index *gone;         /* packs the index named that the listing lacked */
	struct cf_index *unread;       /* packs read-data listed and then did not find */
	struct cf_index *failed_trees; /* trees that did not load: fetched once more, deciding */
	struct cf_index *later_keys;   /* what is already in later[] or reported */
	struct ck_later *later;
	size_t nlater;
	size_t later_cap;
	bool final; /* deciding: what does not load now is a problem */
};

void cf_ck_problem(struct ck *c, const char *fmt, ...) CF_PRINTF(2, 3);
/* cf_ck_list_packs() - every pack in the store now, into a fresh c->packs_present. */
int cf_ck_list_packs(struct ck *c) CF_MUST_CHECK;
/*
 * cf_ck_read_pack() - read and verify one whole pack (a cf_store_list callback); one that is
 * gone goes into c->unread. cf_ck_read_once() - the same for @pack unless it was read (or
 * found gone) already.
 */
int cf_ck_read_pack(void *arg, const char *name, uint64_t size) CF_MUST_CHECK;
int cf_ck_read_once(struct ck *c, const uint8_t pack[static CF_ID_BYTES]) CF_MUST_CHECK;
/* cf_ck_tree() / cf_ck_chunk() - walk tree @id / check chunk @id at c->path of c->snap. */
int cf_ck_tree(struct ck *c, const uint8_t id[static CF_ID_BYTES]) CF_MUST_CHECK;
int cf_ck_chunk(struct ck *c, const uint8_t id[static CF_ID_BYTES]) CF_MUST_CHECK;
/*
 * cf_ck_snapshot_tree() - open snapshot @name and walk it. *@opened false: it did not open,
 * the error is that of the opening (CF_ENOENT: not there).
 */
int cf_ck_snapshot_tree(struct ck *c, const char *name, bool *opened) CF_MUST_CHECK;

/*
 * check_later.c: cf_ck_later_init() / cf_ck_later_release(); cf_ck_note_gone() (a
 * cf_repo_each_pack callback after the first listing); cf_ck_put_off() - keep @kind @id
 * (where the walk is now, and why it did not load: @rc) for cf_ck_recheck(), which decides
 * at the end; cf_ck_vanished() - @pack is one cf_ck_recheck() must decide on.
 */
int cf_ck_later_init(struct ck *c) CF_MUST_CHECK;
void cf_ck_later_release(struct ck *c);
int cf_ck_note_gone(void *arg, const uint8_t pack[static CF_ID_BYTES]) CF_MUST_CHECK;
int cf_ck_put_off(struct ck *c, enum ck_later_kind kind, const char *snap,
                  const uint8_t id[static CF_ID_BYTES], int rc) CF_MUST_CHECK;
bool cf_ck_vanished(const struct ck *c, const uint8_t pack[static CF_ID_BYTES]);
/*
 * cf_ck_tree_known_bad() - tree @id failed before: not fetched again. cf_ck_tree_failed() -
 * tree @id did not load (@rc): put off while walking, a problem (once for each snapshot)
 * while deciding.
 */
bool cf_ck_tree_known_bad(const struct ck *c, const uint8_t id[static CF_ID_BYTES]);
int cf_ck_tree_failed(struct ck *c, const uint8_t id[static CF_ID_BYTES], int rc) CF_MUST_CHECK;
int cf_ck_recheck(struct ck *c) CF_MUST_CHECK;

#endif
