/*
 * check.c - verify a repository: index objects, that every pack the index names exists,
 * every snapshot (signature, decryption) and every tree and chunk they reach; with
 * read-data, every byte of every pack (hash, header, each blob's AEAD and id); with
 * read-data-subset, the least recently verified part of the packs (docs/format.md 16.5).
 * Each problem is reported as an event; the walk goes on.
 */
#include "check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../compress/compress.h"
#include "verified.h"

void
cf_ck_problem(struct ck *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->problems++;
	cf_emit_item(&c->ev, CF_EV_PROBLEM, CF_EINTEGRITY, NULL, 0, "%s", msg);
}

static void
problem_last(struct ck *c)
{
	cf_ck_problem(c, "%s", cf_err_last());
}

static int
check_index(void *arg, const char *name, uint64_t size)
{
	struct ck *c = arg;
	struct cf_index_pack *packs = NULL;
	size_t npacks = 0;
	int rc;

	(void)size;
	rc = cf_repo_read_index(c->r, name, &packs, &npacks);
	if (rc == CF_ENOENT) {
		cf_err_clear(); /* replaced by a prune since the listing */
		return 0;
	}
	if (rc != 0) {
		problem_last(c);
		return rc == CF_ENOMEM ? rc : 0;
	}
	cf_index_packs_free(packs, npacks);
	return 0;
}

static int
note_pack(void *arg, const char *name, uint64_t size)
{
	struct ck *c = arg;
	struct cf_pack_entry e;
	uint8_t id[CF_ID_BYTES];

	(void)size;
	if (cf_unhex(id, sizeof(id), name, strlen(name)) != 0)
		return 0;
	memset(&e, 0, sizeof(e));
	memcpy(e.id, id, CF_ID_BYTES);
	return cf_index_add(c->packs_present, id, &e);
}

int
cf_ck_list_packs(struct ck *c)
{
	int rc;

	cf_index_free(c->packs_present);
	c->packs_present = NULL;
	if ((rc = cf_index_new(&c->packs_present)) != 0)
		return rc;
	return cf_store_list(c->r->store, CF_OBJ_PACK, note_pack, c);
}

/*
 * The key of "the blob at @e in pack @pack verified" in c->good_at: the whole location, as a
 * pack's header lists it and an index object records it (a forged index object may place a
 * blob of a genuine pack at the wrong offset).
 */
static void
good_key(uint8_t key[static CF_HASH_BYTES], const uint8_t pack[static CF_ID_BYTES],
         const struct cf_pack_entry *e)
{
	uint8_t b[2 * CF_ID_BYTES + 3 * 4 + 2];

	memcpy(b, pack, CF_ID_BYTES);
	memcpy(b + CF_ID_BYTES, e->id, CF_ID_BYTES);
	cf_put_u32be(b + 2 * CF_ID_BYTES, e->offset);
	cf_put_u32be(b + 2 * CF_ID_BYTES + 4, e->stored_len);
	cf_put_u32be(b + 2 * CF_ID_BYTES + 8, e->raw_len);
	b[2 * CF_ID_BYTES + 12] = e->type;
	b[2 * CF_ID_BYTES + 13] = e->comp;
	cf_hash(key, b, sizeof(b));
}

/*
 * With read-data: a copy of @id verified at a place the index records (a restore reads only
 * those; a good copy in a pack no index object names does not count). @read_now: packs of
 * such places not read yet are read first.
 */
static int
verified_in_place(struct ck *c, const uint8_t id[static CF_ID_BYTES], bool read_now, bool *ok)
{
	struct cf_blob_loc buf[CF_LOCS_STACK];
	struct cf_blob_loc *v = NULL;
	uint8_t key[CF_HASH_BYTES];
	size_t n = 0;
	int rc;

	*ok = false;
	if ((rc = cf_repo_locs(c->r, id, buf, &v, &n)) != 0)
		goto out;
	for (size_t i = 0; i < n && !*ok; i++) {
		if (read_now && (rc = cf_ck_read_once(c, v[i].pack)) != 0)
			break;
		good_key(key, v[i].pack, &v[i].e);
		*ok = cf_index_has(c->good_at, key);
	}
out:
	if (v != buf)
		cf_free(v);
	return rc;
}

static int
chunk_problem(struct ck *c, const uint8_t id[static CF_ID_BYTES], const char *what)
{
	char idhex[2 * CF_ID_BYTES + 1];

	cf_id_name(idhex, id);
	cf_ck_problem(c, "snapshot %.16s: '%s': chunk %.16s is %s", c->snap, cf_path_cstr(&c->path),
	              idhex, what);
	return 0;
}

/* Not found where the walk looked: put off while walking, "missing" while deciding. */
static int
missing_or_later(struct ck *c, const uint8_t id[static CF_ID_BYTES])
{
	return c->final ? chunk_problem(c, id, "missing")
	                : cf_ck_put_off(c, CK_LATER_CHUNK, c->snap, id, CF_ENOENT);
}

int
cf_ck_chunk(struct ck *c, const uint8_t id[static CF_ID_BYTES])
{
	struct cf_blob_loc loc;
	bool ok = false;
	int rc;

	/* not indexed: the index may have been read while a prune replaced an index object */
	if (cf_repo_lookup(c->r, id, &loc) != 0)
		return missing_or_later(c, id);
	if (c->read_all) {
		/* deciding, the packs of its places are read first (once each) */
		if ((rc = verified_in_place(c, id, c->final, &ok)) != 0 || ok)
			return rc;
		if (!c->final)
			return cf_ck_put_off(c, CK_LATER_CHUNK, c->snap, id, CF_ENOENT);
		if (cf_index_has(c->damaged, id))
			return chunk_problem(c, id, "damaged");
		return chunk_problem(c, id,
		                     cf_ck_vanished(c, loc.pack) ? "missing" : "not verified");
	}
	/* in a pack that was missing or did not read: decided with the index read again */
	if (cf_ck_vanished(c, loc.pack))
		return missing_or_later(c, id);
	/* damaged: no copy of it verified (a forged copy does not hurt a good one) */
	if (cf_index_has(c->damaged, id) && !cf_index_has(c->good, id))
		return chunk_problem(c, id, "damaged");
	return 0;
}

static int
check_parts(struct ck *c, const struct cf_node *n)
{
	int rc = 0;

	for (size_t i = 0; i < n->nparts && rc == 0; i++)
		if (!n->parts[i].hole)
			rc = cf_ck_chunk(c, n->parts[i].id);
	return rc;
}

int
cf_ck_tree(struct ck *c, const uint8_t id[static CF_ID_BYTES])
{
	static const uint8_t nopack[CF_ID_BYTES];
	struct cf_pack_entry e;
	struct cf_tree *t = NULL;
	size_t saved = 0;
	int rc;

	if (cf_index_has(c->seen_trees, id))
		return 0;
	if (cf_ck_tree_known_bad(c, id))
		return cf_ck_tree_failed(
		        c, id,
		        cf_err_set(CF_ENOENT, "it did not load where another snapshot has it"));
	if ((rc = cf_repo_load_tree(c->r, id, c->z, &t)) != 0)
		return rc == CF_ENOMEM ? rc : cf_ck_tree_failed(c, id, rc);
	/* seen once loaded: one that failed is decided for each snapshot that has it */
	memset(&e, 0, sizeof(e));
	memcpy(e.id, id, CF_ID_BYTES);
	if ((rc = cf_index_add(c->seen_trees, nopack, &e)) != 0)
		goto out;
	for (size_t i = 0; i < t->count && rc == 0; i++) {
		const struct cf_node *n = &t->nodes[i];

		if ((rc = cf_path_push(&c->path, n->name, n->name_len, &saved)) != 0)
			break;
		rc = n->type == CF_NODE_DIR ? cf_ck_tree(c, n->subtree) : check_parts(c, n);
		cf_path_pop(&c->path, saved);
	}
out:
	cf_tree_free(t);
	return rc;
}

int
cf_ck_snapshot_tree(struct ck *c, const char *name, bool *opened)
{
	struct cf_snapshot *s = NULL;
	int rc;

	*opened = false;
	if ((rc = cf_repo_open_snapshot(c->r, name, &s)) != 0)
		return rc;
	*opened = true;
	c->snap = name;
	cf_path_pop(&c->path, 0);
	rc = cf_ck_tree(c, s->tree);
	cf_snapshot_free(s);
	return rc;
}

static int
check_snapshot(void *arg, const char *name, uint64_t size)
{
	static const uint8_t none[CF_ID_BYTES];
	struct ck *c = arg;
	bool opened = false;
	int rc;

	(void)size;
	if (cf_repo_forgotten_name(c->r, name))
		return 0; /* forgotten; its object awaits deletion (docs/format.md 16.1) */
	rc = cf_ck_snapshot_tree(c, name, &opened);
	if (opened || rc == CF_ENOMEM)
		return rc;
	/* forgotten since the records were read, or withheld (a listed name may be any length) */
	if (rc == CF_ENOENT && strlen(name) == 2 * CF_ID_BYTES)
		return cf_ck_put_off(c, CK_LATER_SNAPSHOT, name, none, rc);
	problem_last(c);
	return 0;
}

/*
 * Every snapshot the sequence check saw: those listed then (not forgotten) when it passed,
 * or, when it found a problem, every snapshot object, to name all that is wrong.
 */
static int
check_snapshots(struct ck *c)
{
	char name[2 * CF_ID_BYTES + 1];
	int rc = 0;

	if (!c->r->seqs_verified)
		return cf_store_list(c->r->store, CF_OBJ_SNAPSHOT, check_snapshot, c);
	for (size_t i = 0; i < c->r->nheads && rc == 0; i++) {
		cf_id_name(name, c->r->heads[i]);
		rc = check_snapshot(c, name, 0);
	}
	return rc;
}

/* Remember a damaged blob so the snapshot walk can name the files that use it. */
static int
note_damaged(struct ck *c, const struct cf_pack_entry *e)
{
	static const uint8_t nopack[CF_ID_BYTES];

	return cf_index_add(c->damaged, nopack, e);
}

/* A blob verified: in some pack, and (when the pack matched its name) in pack @id. */
static int
note_good(struct ck *c, const uint8_t id[static CF_ID_BYTES], const struct cf_pack_entry *e,
          bool named)
{
	uint8_t key[CF_HASH_BYTES];

	if (!c->read_all) /* read-data asks good_at only */
		return cf_index_add_id(c->good, e->id);
	if (!named)
		return 0;
	good_key(key, id, e);
	return cf_index_add_id(c->good_at, key);
}

/* Decrypt and verify every blob of pack @id, @named when its bytes match its name. */
static int
check_blobs(struct ck *c, const uint8_t id[static CF_ID_BYTES], const char *name,
            const uint8_t *pack, size_t len, const struct cf_key *pk, bool named)
{
	struct cf_pack_entry *ents = NULL;
	uint8_t *out = NULL;
	size_t n = 0;
	int rc = 0;

	if (cf_pack_read_header(pack, len, c->r->chain->repo_id, pk, &ents, &n) != 0) {
		cf_ck_problem(c, "packs/%s: header does not decrypt or parse", name);
		return 0;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct cf_pack_entry *e = &ents[i];

		if ((out = cf_malloc(e->raw_len)) == NULL) {
			rc = CF_ENOMEM;
			break;
		}
		if (cf_blob_open(pk, c->r->chain->repo_id, e, pack + e->offset, e->stored_len, c->z,
		                 c->r->k_id, out) != 0) {
			char idhex[2 * CF_ID_BYTES + 1];

			cf_id_name(idhex, e->id);
			cf_ck_problem(c, "packs/%s: blob %.16s is damaged", name, idhex);
			rc = note_damaged(c, e);
		} else {
			rc = note_good(c, id, e, named);
		}
		cf_free_wipe(out, e->raw_len);
	}
	cf_free(ents);
	return rc;
}

int
cf_ck_read_pack(void *arg, const char *name, uint64_t size)
{
	struct ck *c = arg;
	uint8_t want[CF_HASH_BYTES];
	uint8_t got[CF_HASH_BYTES];
	const struct cf_key *pk = NULL;
	uint8_t *pack = NULL;
	size_t len = 0;
	bool named = false;
	int err;
	int rc;

	(void)size;
	if (cf_unhex(want, sizeof(want), name, strlen(name)) != 0)
		return 0;
	rc = cf_store_get(c->r->store, CF_OBJ_PACK, name, 0, SIZE_MAX, CF_PACK_MAX_BYTES, &pack,
	                  &len);
	if (rc == CF_ENOENT) {
		cf_err_clear(); /* deleted since the listing: cf_ck_recheck() decides */
		return cf_index_add_id(c->unread, want);
	}
	if (rc == CF_ENOMEM)
		return rc;
	/* read (or tried: a pack that fails is not fetched again) */
	if ((err = cf_index_add_id(c->read, want)) != 0 || rc != 0) {
		if (rc != 0)
			cf_ck_problem(c, "packs/%s cannot be read: %s", name, cf_strerror(rc));
		cf_free(pack);
		return err;
	}
	cf_hash(got, pack, len);
	/* on a mismatch, still look inside: which blobs are damaged names the files hit */
	named = memcmp(want, got, sizeof(want)) == 0;
	if (!named)
		cf_ck_problem(c, "packs/%s does not match its name (damaged or swapped)", name);
	if (cf_repo_pack_key(c->r, want, &pk) != 0)
		problem_last(c);
	else
		rc = check_blobs(c, want, name, pack, len, pk, named);
	cf_free(pack);
	return rc;
}

/* With read-data, a pack the index names that read-data's own listing left out is read too. */
static int
read_named(void *arg, const uint8_t pack[static CF_ID_BYTES])
{
	return cf_ck_read_once(arg, pack);
}

int
cf_ck_read_once(struct ck *c, const uint8_t pack[static CF_ID_BYTES])
{
	char name[2 * CF_ID_BYTES + 1];

	if (cf_index_has(c->read, pack) || cf_index_has(c->unread, pack))
		return 0;
	cf_id_name(name, pack);
	return cf_ck_read_pack(c, name, 0);
}

/*
 * Read and verify the first @want packs of @vs. A pack is recorded as verified now only when
 * it raised no problem: a damaged one loses its line and so stays first in line.
 */
static int
read_listed(struct ck *c, struct cf_verified *vs, size_t want)
{
	struct cf_progress p;
	int rc = 0;

	memset(&p, 0, sizeof(p));
	p.files_total = want;
	for (size_t i = 0; i < want; i++)
		p.bytes_total += vs->v[i].size;
	for (size_t i = 0; i < want && rc == 0; i++) {
		uint64_t before = c->problems;
		size_t unread = cf_index_count(c->unread);

		rc = cf_ck_read_pack(c, vs->v[i].name, vs->v[i].size);
		vs->v[i].known =
		        rc == 0 && c->problems == before && cf_index_count(c->unread) == unread;
		vs->v[i].when = (uint64_t)time(NULL);
		p.files++;
		p.bytes += vs->v[i].size;
		cf_emit_progress(&c->ev, &p, false);
	}
	cf_emit_progress(&c->ev, &p, true); /* the last counts: packs read */
	return rc;
}

/* read-data (@micro is 100%) or read-data-subset (@rolling: oldest verification first). */
static int
read_data(struct ck *c, uint32_t micro, bool rolling)
{
	struct cf_verified vs;
	int rc;

	memset(&vs, 0, sizeof(vs));
	if ((rc = cf_repo_can_read(c->r)) != 0 || (rc = cf_verified_list(c->r, &vs)) != 0)
		goto out;
	if (rolling)
		cf_verified_load(c->r, &vs);
	if ((rc = read_listed(c, &vs, cf_subset_count(micro, vs.n))) != 0)
		goto out;
	if ((rc = cf_verified_save(c->r, &vs)) != 0) {
		/* a cache: the check stands, only the rotation does not move on */
		cf_emit_item(&c->ev, CF_EV_WARNING, 0, NULL, 0,
		             "cannot record the verified packs: %s",
		             cf_err_last()[0] != '\0' ? cf_err_last() : cf_strerror(rc));
		cf_err_clear();
		rc = 0;
	}
out:
	cf_verified_release(&vs);
	return rc;
}

/* Deletions the server still keeps are worth a word: they can be undone. */
static void
note_deleted(struct ck *c)
{
	uint64_t n = 0;

	if (cf_repo_count_deleted(c->r, &n) != 0) {
		cf_err_clear();
		return;
	}
	if (n > 0)
		cf_emit_item(&c->ev, CF_EV_WARNING, 0, NULL, 0,
		             "%llu object(s) were deleted and are still kept by the server: "
		             "'coffer undelete' brings them back",
		             (unsigned long long)n);
}

static int
ck_init(struct ck *c, struct cf_repo *r, cf_event_fn *fn, void *arg)
{
	int rc;

	memset(c, 0, sizeof(*c));
	c->r = r;
	c->ev.fn = fn;
	c->ev.arg = arg;
	if ((rc = cf_zctx_new(1, &c->z)) != 0 || (rc = cf_index_new(&c->seen_trees)) != 0 ||
	    (rc = cf_index_new(&c->damaged)) != 0 || (rc = cf_index_new(&c->good)) != 0 ||
	    (rc = cf_index_new(&c->read)) != 0 || (rc = cf_index_new(&c->good_at)) != 0 ||
	    (rc = cf_ck_later_init(c)) != 0)
		return rc;
	return 0;
}

/* How much data to read: @micro millionths of a percent of the packs (0: none). */
static int
read_mode(const struct cf_opts *o, uint32_t *micro, bool *rolling)
{
	const char *subset = cf_opts_get(o, "read-data-subset");

	*micro = 0;
	*rolling = subset != NULL;
	if (subset == NULL) {
		*micro = cf_opts_flag(o, "read-data") ? CF_SUBSET_MAX_MICRO : 0;
		return 0;
	}
	if (cf_opts_flag(o, "read-data"))
		return cf_err_set(CF_EINVAL, "read-data and read-data-subset exclude each other");
	return cf_subset_parse(subset, micro);
}

int
cf_check_validate(const struct cf_opts *o)
{
	uint32_t micro = 0;
	bool rolling = false;

	return read_mode(o, &micro, &rolling);
}

int
cf_check(struct cf_repo *r, const struct cf_opts *o, cf_event_fn *fn, void *arg)
{
	struct ck c;
	uint32_t micro = 0;
	bool rolling = false;
	int rc;

	if ((rc = read_mode(o, &micro, &rolling)) != 0)
		return rc;
	if ((rc = ck_init(&c, r, fn, arg)) != 0)
		goto out;
	/*
	 * The snapshots first, the index after: a backup stores its index objects before its
	 * snapshot, so every snapshot verified here finds its blobs in the index read next.
	 */
	r->seqs_verified = false; /* set again only when this check passes */
	rc = cf_repo_verify_seqs(r, &c.ev);
	if (rc == CF_EINTEGRITY)
		c.problems++;
	else if (rc != 0)
		goto out;
	c.problems += r->nbad; /* each reported already */
	/* every index object is checked; the index leaves out those that fail */
	if ((rc = cf_store_list(r->store, CF_OBJ_INDEX, check_index, &c)) != 0 ||
	    (rc = cf_repo_load_index_skipping(r)) != 0)
		goto out;
	if ((rc = cf_ck_list_packs(&c)) != 0 ||
	    (rc = cf_repo_each_pack(r, cf_ck_note_gone, &c)) != 0)
		goto out;
	c.read_all = micro == CF_SUBSET_MAX_MICRO && !rolling;
	if (micro > 0 && (rc = read_data(&c, micro, rolling)) != 0)
		goto out;
	if (c.read_all && (rc = cf_repo_each_pack(r, read_named, &c)) != 0)
		goto out;
	/* after read-data, so files using a damaged blob are named */
	if (cf_repo_can_read(r) == 0 && (rc = check_snapshots(&c)) != 0)
		goto out;
	c.snap = ""; /* it named the listing's buffer */
	/* last: the walk above used the index it verified, which reloading would replace */
	if ((rc = cf_ck_recheck(&c)) != 0)
		goto out;
	note_deleted(&c);
	rc = c.problems > 0 ? CF_EINTEGRITY : 0;
out:
	cf_zctx_free(c.z);
	cf_index_free(c.seen_trees);
	cf_index_free(c.packs_present);
	cf_ck_later_release(&c);
	cf_index_free(c.damaged);
	cf_index_free(c.good);
	cf_index_free(c.read);
	cf_index_free(c.good_at);
	cf_path_release(&c.path);
	return rc;
}
