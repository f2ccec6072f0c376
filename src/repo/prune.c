/*
 * prune.c - two-phase prune without a lock (docs/format.md 16.4). Phase 1 condemns packs
 * no snapshot needs (after copying out what partly used packs still hold) and records every
 * device's newest snapshot; phase 2, once every device has written past that record (or
 * the grace period is over), copies out whatever a backup that was already running reused,
 * then deletes. Every step writes before it deletes, so a kill at any point is harmless.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../compress/compress.h"
#include "../device/device.h"
#include "../retention/policy.h"
#include "../retention/records.h"
#include "repo.h"

#define PRUNE_GRACE_DEFAULT (24 * 3600)
#define PRUNE_DEPTH_MAX     4096u

/* One pack as one index object lists it. */
struct occ {
	char index[2 * CF_ID_BYTES + 1];
	struct cf_index_pack p;
};

struct pr {
	struct cf_repo *r;
	struct cf_events ev;
	uint64_t *st;
	bool dry;
	uint64_t max_repack;
	int64_t grace;
	struct cf_zctx *z;
	struct cf_occs {
		struct occ *v;
		size_t n;
	} occ;
	struct cf_index *live;     /* blob ids some snapshot needs */
	struct cf_index *trees;    /* trees walked */
	struct cf_index *fresh;    /* blobs this run wrote to new packs */
	struct cf_index *dropped;  /* packs phase 2 deletes */
	struct cf_index *verified; /* live blobs read back from a pack that stays */
	struct cf_pack_writer *w[2];
	uint8_t (*condemn)[CF_ID_BYTES]; /* packs phase 1 condemns */
	size_t ncondemn;
	size_t condemn_cap;
};

/* ---- reading every index object ---- */

static int
load_occ(void *arg, const char *name, uint64_t size)
{
	struct pr *p = arg;
	struct cf_index_pack *packs = NULL;
	size_t npacks = 0;
	struct occ *nv = NULL;
	int rc;

	(void)size;
	if ((rc = cf_repo_read_index(p->r, name, &packs, &npacks)) == CF_ENOENT) {
		cf_err_clear(); /* replaced by a concurrent prune since the listing */
		return 0;
	}
	if (rc != 0)
		return rc;
	if ((nv = cf_realloc(p->occ.v, (p->occ.n + npacks) * sizeof(*nv))) == NULL) {
		cf_index_packs_free(packs, npacks);
		return CF_ENOMEM;
	}
	p->occ.v = nv;
	for (size_t i = 0; i < npacks; i++) {
		struct occ *o = &nv[p->occ.n++];

		(void)snprintf(o->index, sizeof(o->index), "%s", name);
		o->p = packs[i];
	}
	cf_free(packs); /* the entries moved into the occurrences */
	return 0;
}

static bool
same_pack(const struct occ *a, const struct occ *b)
{
	return memcmp(a->p.id, b->p.id, CF_ID_BYTES) == 0;
}

/* By pack, then by index object: the occurrences of one pack lie together. */
static int
occ_cmp(const void *x, const void *y)
{
	const struct occ *a = x;
	const struct occ *b = y;
	int c = memcmp(a->p.id, b->p.id, CF_ID_BYTES);

	return c != 0 ? c : strcmp(a->index, b->index);
}

static int
load_occs(struct pr *p)
{
	int rc;

	for (size_t i = 0; i < p->occ.n; i++)
		cf_free(p->occ.v[i].p.entries);
	cf_free(p->occ.v);
	memset(&p->occ, 0, sizeof(p->occ));
	if ((rc = cf_store_list(p->r->store, CF_OBJ_INDEX, load_occ, p)) != 0)
		return rc;
	if (p->occ.n > 1)
		qsort(p->occ.v, p->occ.n, sizeof(*p->occ.v), occ_cmp);
	/* the chunk index as of now (lookups prefer packs that stay) */
	cf_repo_unload_index(p->r);
	return cf_repo_load_index(p->r);
}

/* The first occurrence of pack @id (occurrences are sorted by pack), or p->occ.n. */
static size_t
occ_find(const struct pr *p, const uint8_t id[static CF_ID_BYTES])
{
	size_t lo = 0;
	size_t hi = p->occ.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(p->occ.v[mid].p.id, id, CF_ID_BYTES) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- the live set ---- */

static int
walk_tree(struct pr *p, const uint8_t id[static CF_ID_BYTES], unsigned depth)
{
	struct cf_tree *t = NULL;
	int rc;

	if (cf_index_has(p->trees, id))
		return 0;
	if (depth > PRUNE_DEPTH_MAX)
		return cf_err_set(CF_EINTEGRITY, "trees nest deeper than %u levels",
		                  PRUNE_DEPTH_MAX);
	if ((rc = cf_index_add_id(p->trees, id)) != 0 || (rc = cf_index_add_id(p->live, id)) != 0)
		return rc;
	if ((rc = cf_repo_load_tree(p->r, id, p->z, &t)) != 0)
		return rc; /* a tree that cannot be read: prune nothing (check will say why) */
	for (size_t i = 0; i < t->count && rc == 0; i++) {
		const struct cf_node *n = &t->nodes[i];

		if (n->type == CF_NODE_DIR) {
			rc = walk_tree(p, n->subtree, depth + 1);
			continue;
		}
		for (size_t k = 0; k < n->nparts && rc == 0; k++)
			if (!n->parts[k].hole)
				rc = cf_index_add_id(p->live, n->parts[k].id);
	}
	cf_tree_free(t);
	return rc;
}

/* Walk one verified snapshot; gone only if a forget record says so, else prune stops. */
static int
walk_snapshot(struct pr *p, const uint8_t id[static CF_ID_BYTES])
{
	char name[2 * CF_ID_BYTES + 1];
	struct cf_snapshot *s = NULL;
	int rc;

	cf_id_name(name, id);
	rc = cf_repo_open_snapshot(p->r, name, &s);
	if (rc == CF_ENOENT && (rc = cf_repo_reload_records(p->r)) == 0) {
		if (cf_repo_is_forgotten(p->r, id))
			return 0; /* forgotten by another device meanwhile */
		return cf_err_set(CF_EINTEGRITY,
		                  "snapshots/%s was listed but cannot be read: nothing is pruned",
		                  name);
	}
	if (rc != 0)
		return rc;
	rc = walk_tree(p, s->tree, 0);
	cf_snapshot_free(s);
	return rc;
}

/*
 * Add what every snapshot needs (trees already walked are skipped): exactly the snapshots
 * whose sequences were just verified. They are listed before the index objects are read: a
 * backup stores its index objects before its snapshot, so every blob a listed snapshot
 * names is in the index read after.
 */
/*
 * A snapshot object that is damaged or forged stops prune: what only that snapshot reaches
 * would be deleted, and with it any chance of restoring it from a repaired object.
 */
static int
no_bad_snapshots(const struct cf_repo *r)
{
	if (r->nbad == 0)
		return 0;
	return cf_err_set(CF_EINTEGRITY,
	                  "%s; prune does not delete anything while a snapshot "
	                  "cannot be read",
	                  r->bad_msgs[0]);
}

static int
mark_live(struct pr *p)
{
	int rc;

	if ((rc = cf_repo_verify_seqs(p->r, &p->ev)) != 0 || (rc = no_bad_snapshots(p->r)) != 0 ||
	    (rc = load_occs(p)) != 0)
		return rc;
	for (size_t i = 0; i < p->r->nheads && rc == 0; i++)
		rc = walk_snapshot(p, p->r->heads[i]);
	return rc;
}

/* ---- writing blobs to new packs ---- */

static bool
pack_exists(struct cf_repo *r, const char *name)
{
	uint64_t size = 0;

	if (cf_store_size(r->store, CF_OBJ_PACK, name, &size) == 0)
		return true;
	cf_err_clear();
	return false;
}

static int
flush_writer(struct pr *p, int slot)
{
	struct cf_pack_writer *w = p->w[slot];
	struct cf_index_pack ip;
	uint8_t *pack = NULL;
	size_t len = 0;
	int rc;

	p->w[slot] = NULL;
	if (w == NULL)
		return 0;
	memset(&ip, 0, sizeof(ip));
	if ((rc = cf_pack_writer_finish(w, &pack, &len, ip.id)) == 0) {
		const struct cf_pack_entry *e = cf_pack_writer_entries(w, &ip.count);

		ip.len = len;
		if ((ip.entries = cf_memdup(e, ip.count * sizeof(*e))) == NULL)
			rc = CF_ENOMEM;
		else
			rc = cf_repo_store_pack(p->r, pack, len, &ip, NULL);
	}
	cf_free(ip.entries);
	cf_free(pack);
	cf_pack_writer_free(w);
	return rc;
}

static int
flush_writers(struct pr *p)
{
	int rc = flush_writer(p, 0);

	return rc != 0 ? rc : flush_writer(p, 1);
}

/* Copy one verified blob, whose stored bytes are @stored, into a new pack. */
static int
copy_blob(struct pr *p, const uint8_t *stored, const struct cf_key *pk,
          const struct cf_pack_entry *e, const char *pname)
{
	struct cf_repo *r = p->r;
	int slot = e->type == CF_BLOB_TREE ? 1 : 0;
	uint8_t *payload = NULL;
	size_t len = 0;
	int rc;

	if (cf_index_has(p->fresh, e->id))
		return 0;
	if (cf_blob_open_payload(pk, r->chain->repo_id, e, stored, e->stored_len, p->z, r->k_id,
	                         &payload, &len) != 0)
		return cf_err_set(CF_EINTEGRITY,
		                  "packs/%s: a blob still in use is damaged; run 'coffer check "
		                  "--read-data'",
		                  pname);
	if (p->w[slot] == NULL &&
	    (rc = cf_pack_writer_new(r->chain->repo_id, r->epoch, r->chain->dk_pub[r->epoch],
	                             &p->w[slot])) != 0)
		goto out;
	rc = cf_pack_writer_add(p->w[slot], e->type, e->comp, e->id, e->raw_len, payload, len);
	if (rc == CF_ETOOBIG) { /* this pack is full: close it and start another */
		if ((rc = flush_writer(p, slot)) != 0 ||
		    (rc = cf_pack_writer_new(r->chain->repo_id, r->epoch,
		                             r->chain->dk_pub[r->epoch], &p->w[slot])) != 0)
			goto out;
		rc = cf_pack_writer_add(p->w[slot], e->type, e->comp, e->id, e->raw_len, payload,
		                        len);
	}
	if (rc == 0)
		rc = cf_index_add_id(p->fresh, e->id);
	if (rc == 0 && cf_pack_writer_bytes(p->w[slot]) >= CF_PACK_TARGET_BYTES)
		rc = flush_writer(p, slot);
out:
	cf_free_wipe(payload, len);
	return rc;
}

/* A range of pack @name; CF_ENOENT passes through, other short reads are damage. */
static int
get_range(struct pr *p, const char *name, uint64_t off, size_t len, uint8_t **out)
{
	size_t got = 0;
	int rc = cf_store_get(p->r->store, CF_OBJ_PACK, name, off, len, CF_PACK_MAX_BYTES, out,
	                      &got);

	if (rc == CF_ETRUNC || (rc == 0 && got != len)) {
		cf_free(*out);
		*out = NULL;
		return cf_err_set(CF_EINTEGRITY, "packs/%s is truncated", name);
	}
	return rc;
}

/* The entries of pack @name from its own encrypted header, read by range. */
static int
pack_entries(struct pr *p, const char *name, const struct cf_key *pk, struct cf_pack_entry **ents,
             size_t *n)
{
	uint8_t *tr = NULL;
	uint8_t *hdr = NULL;
	uint64_t size = 0;
	uint64_t off = 0;
	uint32_t hlen = 0;
	int rc;

	if ((rc = cf_store_size(p->r->store, CF_OBJ_PACK, name, &size)) != 0)
		return rc;
	if (size < CF_PACK_TRAILER_BYTES)
		return cf_err_set(CF_EINTEGRITY, "packs/%s is truncated", name);
	if ((rc = get_range(p, name, size - CF_PACK_TRAILER_BYTES, CF_PACK_TRAILER_BYTES, &tr)) !=
	    0)
		return rc;
	if (cf_pack_locate_header(tr, size, p->r->chain->repo_id, pk, &off, &hlen) != 0) {
		rc = cf_err_set(CF_EINTEGRITY, "packs/%s: trailer does not decrypt", name);
		goto out;
	}
	if ((rc = get_range(p, name, off, hlen, &hdr)) != 0)
		goto out;
	if (cf_pack_open_header(hdr, hlen, off, p->r->chain->repo_id, pk, ents, n) != 0)
		rc = cf_err_set(CF_EINTEGRITY, "packs/%s: header does not decrypt", name);
out:
	cf_free(tr);
	cf_free(hdr);
	return rc;
}

/*
 * Copy the blobs of pack @id that @need says to, reading only its header and those blobs.
 * What the pack holds comes from its own authenticated header, never from index objects:
 * those are sealed with a key backup-only devices hold, so they may lie.
 */
static int
copy_out(struct pr *p, const uint8_t id[static CF_ID_BYTES],
         bool (*need)(struct pr *, const struct cf_pack_entry *))
{
	char name[2 * CF_ID_BYTES + 1];
	const struct cf_key *pk = NULL;
	struct cf_pack_entry *ents = NULL;
	size_t n = 0;
	int rc;

	cf_id_name(name, id);
	rc = cf_repo_pack_key(p->r, id, &pk);
	if (rc == 0)
		rc = pack_entries(p, name, pk, &ents, &n);
	if (rc == CF_ENOENT || (rc == CF_EINTEGRITY && !pack_exists(p->r, name))) {
		cf_err_clear();
		return 0; /* deleted by an earlier, interrupted run after its copies were stored */
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		uint8_t *stored = NULL;

		if (!need(p, &ents[i]))
			continue;
		if ((rc = get_range(p, name, ents[i].offset, ents[i].stored_len, &stored)) == 0)
			rc = copy_blob(p, stored, pk, &ents[i], name);
		cf_free(stored);
	}
	cf_free(ents);
	return rc;
}

/* ---- phase 1 ---- */

/* A blob some snapshot needs and that this run has not copied yet. */
static bool
live_uncopied(struct pr *p, const struct cf_pack_entry *e)
{
	return cf_index_has(p->live, e->id) && !cf_index_has(p->fresh, e->id);
}

static int
push_condemn(struct pr *p, const uint8_t id[static CF_ID_BYTES])
{
	if (p->ncondemn == p->condemn_cap) {
		size_t ncap = p->condemn_cap == 0 ? 64 : p->condemn_cap * 2;
		uint8_t(*nv)[CF_ID_BYTES] = cf_realloc(p->condemn, ncap * CF_ID_BYTES);

		if (nv == NULL)
			return CF_ENOMEM;
		p->condemn = nv;
		p->condemn_cap = ncap;
	}
	memcpy(p->condemn[p->ncondemn++], id, CF_ID_BYTES);
	return 0;
}

/*
 * Decide one pack from all its occurrences @o[0..n): keep, condemn, or repack and condemn. A
 * blob counts as live in every pack an index object says holds it: trusting one location
 * over another would let a forged index object get the genuine copy condemned.
 */
static int
judge_pack(struct pr *p, const struct occ *o, size_t n, uint64_t *repacked)
{
	uint64_t live = 0;
	uint64_t total = 0;
	int rc;

	if (cf_repo_is_condemned(p->r, o->p.id))
		return 0;
	for (size_t k = 0; k < n; k++) {
		for (size_t i = 0; i < o[k].p.count; i++) {
			const struct cf_pack_entry *e = &o[k].p.entries[i];

			if (k == 0)
				total += e->stored_len;
			if (cf_index_has(p->live, e->id))
				live += e->stored_len;
		}
	}
	if (live > 0) {
		/* repack when dead blobs hold at least 5 % of the pack, within the budget */
		if (live > total || (total - live) * 20 < total || *repacked + live > p->max_repack)
			return 0;
		*repacked += live;
		p->st[CF_PRUNE_PACKS_REPACKED]++;
		p->st[CF_PRUNE_BYTES_REPACKED] += live;
		if (!p->dry && (rc = copy_out(p, o->p.id, live_uncopied)) != 0)
			return rc;
	}
	p->st[CF_PRUNE_PACKS_CONDEMNED]++;
	return push_condemn(p, o->p.id);
}

static int
id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CF_ID_BYTES);
}

static int
put_record(struct cf_repo *r, const uint8_t *obj, size_t len, uint8_t id[static CF_ID_BYTES])
{
	char name[2 * CF_ID_BYTES + 1];
	int rc;

	cf_hash(id, obj, len);
	cf_id_name(name, id);
	rc = cf_store_put(r->store, CF_OBJ_PRUNE, name, obj, len);
	return rc == CF_EEXIST ? 0 : rc;
}

/*
 * The observe record of condemn record @cid: every device's newest sequence number, which
 * r->dev_seqs must hold from a listing made after the condemn record was stored. @out (may
 * be NULL) gets the record as parsed, @name its name.
 */
static int
write_observe(struct pr *p, const uint8_t cid[static CF_ID_BYTES], struct cf_prune_record *out,
              char *name)
{
	struct cf_repo *r = p->r;
	uint8_t oid[CF_ID_BYTES];
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	if ((rc = cf_observe_record_seal(r->chain->repo_id, r->dev, (int64_t)time(NULL), cid,
	                                 r->dev_seqs, r->ndev_seqs, &obj, &len)) == 0 &&
	    (rc = put_record(r, obj, len, oid)) == 0 && out != NULL) {
		cf_id_name(name, oid);
		rc = cf_prune_record_parse(obj, len, out);
	}
	cf_free(obj);
	return rc;
}

/* The condemn record, then (after a fresh listing) the observe record. */
static int
write_records(struct pr *p)
{
	struct cf_repo *r = p->r;
	uint8_t cid[CF_ID_BYTES];
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	qsort(p->condemn, p->ncondemn, CF_ID_BYTES, id_cmp);
	for (size_t done = 0; done < p->ncondemn; done += CF_CONDEMN_MAX_PACKS) {
		size_t n = p->ncondemn - done;

		n = n > CF_CONDEMN_MAX_PACKS ? CF_CONDEMN_MAX_PACKS : n;
		if ((rc = cf_condemn_record_seal(r->chain->repo_id, r->dev, (int64_t)time(NULL),
		                                 (const uint8_t(*)[CF_ID_BYTES])p->condemn + done,
		                                 n, &obj, &len)) != 0 ||
		    (rc = put_record(r, obj, len, cid)) != 0)
			goto out;
		cf_free(obj);
		obj = NULL;
		/* listed after the condemn record is stored: a backup still running started before
		 */
		if ((rc = cf_repo_verify_seqs(r, NULL)) != 0 || (rc = no_bad_snapshots(r)) != 0 ||
		    (rc = write_observe(p, cid, NULL, NULL)) != 0)
			goto out;
	}
	rc = 0;
out:
	cf_free(obj);
	return rc;
}

static int
phase1(struct pr *p)
{
	uint64_t repacked = 0;
	int rc = 0;

	for (size_t i = 0, j; i < p->occ.n && rc == 0; i = j) {
		for (j = i + 1; j < p->occ.n && same_pack(&p->occ.v[i], &p->occ.v[j]);)
			j++;
		rc = judge_pack(p, &p->occ.v[i], j - i, &repacked);
	}
	if (rc != 0 || p->dry || p->ncondemn == 0)
		return rc;
	if ((rc = flush_writers(p)) != 0)
		return rc;
	return write_records(p);
}

/* ---- phase 2 ---- */

static uint64_t
current_seq(const struct cf_repo *r, const uint8_t device[static CF_ID_BYTES])
{
	for (size_t i = 0; i < r->ndev_seqs; i++)
		if (memcmp(r->dev_seqs[i].device, device, CF_ID_BYTES) == 0)
			return r->dev_seqs[i].seq;
	return 0;
}

static uint64_t
observed_seq(const struct cf_prune_record *obs, const uint8_t device[static CF_ID_BYTES])
{
	for (size_t i = 0; i < obs->count; i++)
		if (memcmp(obs->seqs[i].device, device, CF_ID_BYTES) == 0)
			return obs->seqs[i].seq;
	return 0;
}

/* Every device that can write has written past the observe record, or the grace is over. */
static bool
ripe(const struct pr *p, const struct cf_condemn *c, int64_t now)
{
	const struct cf_chain_state *cs = p->r->chain;

	if (c->obs == NULL)
		return false; /* a prune killed between its two records: the next one re-records */
	/* saturating: a record's time is signed by a trusted device but may be anything */
	if (c->obs->time <= now && (uint64_t)now - (uint64_t)c->obs->time >= (uint64_t)p->grace)
		return true;
	for (size_t i = 0; i < cs->ndevices; i++) {
		const struct cf_chain_device *d = &cs->devices[i];

		if (d->removed || d->role == CF_ROLE_RECOVERY)
			continue;
		if (current_seq(p->r, d->id) <= observed_seq(c->obs, d->id))
			return false;
	}
	return true;
}

/*
 * A live blob of a pack about to go needs a copy that stays: one in a pack nobody condemned,
 * read back and its id checked (an index object may point at a forged copy), else it is
 * copied out of the condemned pack. A running backup that reused a condemned pack's blob
 * ends up here.
 */
static bool
needs_rescue(struct pr *p, const struct cf_pack_entry *e)
{
	if (!live_uncopied(p, e) || cf_index_has(p->verified, e->id))
		return false;
	if (!cf_repo_verify_live_copy(p->r, e->id, p->z)) {
		p->st[CF_PRUNE_BLOBS_RESURRECTED]++;
		return true;
	}
	return cf_index_add_id(p->verified, e->id) != 0; /* out of memory: copy to be safe */
}

/* Does any index object say pack @id holds a live blob? Unindexed packs count as yes. */
static bool
maybe_live(struct pr *p, const uint8_t id[static CF_ID_BYTES])
{
	bool found = false;

	for (size_t i = occ_find(p, id);
	     i < p->occ.n && memcmp(p->occ.v[i].p.id, id, CF_ID_BYTES) == 0; i++) {
		found = true;
		for (size_t k = 0; k < p->occ.v[i].p.count; k++)
			if (live_uncopied(p, &p->occ.v[i].p.entries[k]))
				return true;
	}
	return !found;
}

static int
rescue(struct pr *p, const struct cf_condemn *c)
{
	int rc = 0;

	for (size_t i = 0; i < c->rec->count && rc == 0; i++)
		if (maybe_live(p, c->rec->packs[i]) && !p->dry)
			rc = copy_out(p, c->rec->packs[i], needs_rescue);
	return rc;
}

/* Replace index object @o[0].index (its occurrences @o[0..n)) by one without the dropped
 * packs, or by none. */
static int
drop_index(struct pr *p, struct occ *const *o, size_t n)
{
	struct cf_index_pack *keep = NULL;
	size_t nkeep = 0;
	int rc = 0;

	if ((keep = cf_calloc(n, sizeof(*keep))) == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!cf_index_has(p->dropped, o[i]->p.id))
			keep[nkeep++] = o[i]->p; /* borrowed */
	if (nkeep > 0)
		rc = cf_repo_put_index(p->r, keep, nkeep, NULL);
	cf_free(keep);
	if (rc == 0 &&
	    (rc = cf_store_delete(p->r->store, CF_OBJ_INDEX, o[0]->index)) == CF_ENOENT) {
		cf_err_clear();
		rc = 0;
	}
	return rc;
}

static int
delete_obj(struct cf_repo *r, enum cf_obj_kind kind, const char *name)
{
	int rc = cf_store_delete(r->store, kind, name);

	if (rc == CF_ENOENT) {
		cf_err_clear();
		return 0;
	}
	return rc;
}

static int
by_index_name(const void *x, const void *y)
{
	const struct occ *a = *(struct occ *const *)x;
	const struct occ *b = *(struct occ *const *)y;

	return strcmp(a->index, b->index);
}

/* Index objects first (a pack left without one is never adopted: it is condemned). */
static int
delete_dropped(struct pr *p)
{
	struct occ **v = NULL;
	int rc = 0;

	if (p->occ.n == 0)
		return 0;
	if ((v = cf_calloc(p->occ.n, sizeof(*v))) == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; i < p->occ.n; i++)
		v[i] = &p->occ.v[i];
	qsort(v, p->occ.n, sizeof(*v), by_index_name);
	for (size_t i = 0, j; i < p->occ.n && rc == 0; i = j) {
		bool hit = false;

		for (j = i; j < p->occ.n && strcmp(v[j]->index, v[i]->index) == 0; j++)
			hit = hit || cf_index_has(p->dropped, v[j]->p.id);
		if (hit)
			rc = drop_index(p, v + i, j - i);
	}
	cf_free(v);
	return rc;
}

static int
delete_packs(struct pr *p, const struct cf_condemn *c)
{
	char name[2 * CF_ID_BYTES + 1];
	int rc = 0;

	for (size_t i = 0; i < c->rec->count && rc == 0; i++) {
		uint64_t size = 0;

		cf_id_name(name, c->rec->packs[i]);
		if (cf_store_size(p->r->store, CF_OBJ_PACK, name, &size) != 0) {
			cf_err_clear();
			continue; /* gone already */
		}
		if ((rc = delete_obj(p->r, CF_OBJ_PACK, name)) == 0) {
			p->st[CF_PRUNE_PACKS_DELETED]++;
			p->st[CF_PRUNE_BYTES_FREED] += size;
		}
	}
	if (rc == 0 && (rc = delete_obj(p->r, CF_OBJ_PRUNE, c->obs_name)) == 0)
		rc = delete_obj(p->r, CF_OBJ_PRUNE, c->name);
	return rc;
}

/* A prune killed between its two records left a condemn record alone: observe it now. */
static int
observe_orphans(struct pr *p)
{
	struct cf_records *rec = p->r->rec;
	int rc = 0;

	for (size_t k = 0; k < rec->nconds && rc == 0; k++) {
		struct cf_condemn *c = &rec->conds[k];
		uint8_t cid[CF_ID_BYTES];

		if (c->obs != NULL || cf_unhex(cid, sizeof(cid), c->name, strlen(c->name)) != 0)
			continue;
		if ((c->obs = cf_calloc(1, sizeof(*c->obs))) == NULL)
			return CF_ENOMEM;
		if ((rc = write_observe(p, cid, c->obs, c->obs_name)) != 0) {
			cf_free(c->obs);
			c->obs = NULL;
		}
	}
	return rc;
}

static int
phase2(struct pr *p)
{
	struct cf_repo *r = p->r;
	int64_t now = (int64_t)time(NULL);
	size_t nripe = 0;
	int rc;

	/* one listing for both: the devices' newest snapshots and the live set */
	if ((rc = mark_live(p)) != 0 || (!p->dry && (rc = observe_orphans(p)) != 0))
		return rc;
	for (size_t k = 0; k < r->rec->nconds; k++) {
		const struct cf_condemn *c = &r->rec->conds[k];
		bool ok = ripe(p, c, now);

		for (size_t i = 0; i < c->rec->count && rc == 0; i++)
			rc = ok ? cf_index_add_id(p->dropped, c->rec->packs[i]) : 0;
		if (!ok)
			p->st[CF_PRUNE_PACKS_WAITING] += c->rec->count;
		nripe += ok;
	}
	if (rc != 0 || nripe == 0)
		return rc;
	for (size_t k = 0; k < r->rec->nconds && rc == 0; k++)
		if (ripe(p, &r->rec->conds[k], now))
			rc = rescue(p, &r->rec->conds[k]);
	if (rc != 0 || p->dry || (rc = flush_writers(p)) != 0 || (rc = delete_dropped(p)) != 0)
		return rc;
	for (size_t k = 0; k < r->rec->nconds && rc == 0; k++)
		if (ripe(p, &r->rec->conds[k], now))
			rc = delete_packs(p, &r->rec->conds[k]);
	return rc;
}

/* ---- options and the whole run ---- */

static int
read_options(struct pr *p, const struct cf_opts *o)
{
	const char *v = cf_opts_get(o, "max-repack-size");

	p->dry = cf_opts_flag(o, "dry-run");
	p->max_repack = UINT64_MAX;
	p->grace = PRUNE_GRACE_DEFAULT;
	if (v != NULL && cf_parse_size(v, &p->max_repack) != 0)
		return cf_err_set(CF_EINVAL, "--max-repack-size: '%s' is not a size like 500M", v);
	if ((v = cf_opts_get(o, "grace")) != NULL) {
		if (strcmp(v, "0") == 0)
			p->grace = 0;
		else if (cf_parse_duration(v, &p->grace) != 0)
			return cf_err_set(CF_EINVAL,
			                  "--grace: '%s' is not a duration like 24h, 3d or 0", v);
	}
	return 0;
}

static void
pr_release(struct pr *p)
{
	for (size_t i = 0; i < p->occ.n; i++)
		cf_free(p->occ.v[i].p.entries);
	cf_free(p->occ.v);
	for (int s = 0; s < 2; s++)
		cf_pack_writer_free(p->w[s]);
	cf_index_free(p->live);
	cf_index_free(p->trees);
	cf_index_free(p->fresh);
	cf_index_free(p->dropped);
	cf_index_free(p->verified);
	cf_free(p->condemn);
	cf_zctx_free(p->z);
}

int
cf_prune(struct cf_repo *r, const struct cf_opts *o, cf_event_fn *fn, void *arg,
         uint64_t stats[CF_PRUNE_NSTATS])
{
	struct pr p;
	int rc;

	memset(stats, 0, CF_PRUNE_NSTATS * sizeof(*stats));
	memset(&p, 0, sizeof(p));
	p.r = r;
	p.st = stats;
	p.ev.fn = fn;
	p.ev.arg = arg;
	if (r->role != CF_ROLE_FULL)
		return cf_err_set(CF_EPERM, "only a full device can prune");
	if ((rc = read_options(&p, o)) != 0 || (rc = cf_repo_can_read(r)) != 0)
		return rc;
	if ((rc = cf_zctx_new(1, &p.z)) != 0 || (rc = cf_index_new(&p.live)) != 0 ||
	    (rc = cf_index_new(&p.trees)) != 0 || (rc = cf_index_new(&p.fresh)) != 0 ||
	    (rc = cf_index_new(&p.dropped)) != 0 || (rc = cf_index_new(&p.verified)) != 0)
		goto out;
	/* never prune a repository whose snapshot sequences do not add up (mark_live checks) */
	if ((!p.dry && (rc = cf_repo_delete_forgotten(r)) != 0) || (rc = mark_live(&p)) != 0 ||
	    (rc = phase1(&p)) != 0)
		goto out;
	rc = phase2(&p);
out:
	pr_release(&p);
	return rc;
}
