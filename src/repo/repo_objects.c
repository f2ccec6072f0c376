/*
 * repo_objects.c - reading repository objects: the index, blobs, trees, snapshots.
 * Everything read is checked before it is used: content-addressed objects against their
 * names, blobs against their ids, snapshots against their signer in the chain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../compress/compress.h"
#include "../device/device.h"
#include "../retention/records.h"
#include "repo.h"

void
cf_id_name(char *out, const uint8_t id[static CF_ID_BYTES])
{
	cf_hex(out, id, CF_ID_BYTES);
}

int
cf_repo_can_read(const struct cf_repo *r)
{
	if (r->role == CF_ROLE_BACKUP_ONLY || r->dk == NULL || r->dk[r->epoch] == NULL)
		return cf_err_set(CF_ENOKEY,
		                  "this device is backup-only: it cannot read snapshots, "
		                  "trees or file data");
	return 0;
}

/* Get a whole content-addressed object and check that it hashes to its name. */
int
cf_repo_get_verified(struct cf_repo *r, enum cf_obj_kind kind, const char *name, size_t max,
                     uint8_t **out, size_t *len)
{
	uint8_t want[CF_HASH_BYTES];
	uint8_t got[CF_HASH_BYTES];
	int rc;

	if ((rc = cf_store_get(r->store, kind, name, 0, SIZE_MAX, max, out, len)) != 0)
		return rc == CF_ETOOBIG ? cf_err_set(CF_EINTEGRITY, "%s/%s is too large",
		                                     cf_obj_kind_dir(kind), name)
		                        : rc;
	cf_hash(got, *out, *len);
	if (cf_unhex(want, sizeof(want), name, strlen(name)) != 0 ||
	    memcmp(want, got, sizeof(want)) != 0) {
		cf_free(*out);
		*out = NULL;
		return cf_err_set(CF_EINTEGRITY,
		                  "%s/%s does not match its name (damaged or swapped)",
		                  cf_obj_kind_dir(kind), name);
	}
	return 0;
}

int
cf_repo_read_index(struct cf_repo *r, const char *name, struct cf_index_pack **packs,
                   size_t *npacks)
{
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	*packs = NULL;
	*npacks = 0;
	if ((rc = cf_repo_get_verified(r, CF_OBJ_INDEX, name, CF_INDEX_MAX_BYTES, &obj, &len)) != 0)
		return rc;
	rc = cf_index_decode(r->k_index, r->chain->repo_id, obj, len, packs, npacks);
	cf_free(obj);
	if (rc == CF_ENOMEM)
		return rc;
	if (rc != 0)
		return cf_err_set(CF_EINTEGRITY, "index/%s does not decrypt or parse: %s", name,
		                  cf_strerror(rc));
	return 0;
}

/* The index objects of the store, for the chunk index (index_db.c). */
struct index_src {
	struct cf_repo *r;
	bool skipping; /* leave out objects that do not read or check */
	int rc;        /* the first error of the store or of an object */
};

static int
src_list(void *arg, int (*fn)(void *fnarg, const char *name, uint64_t size), void *fnarg)
{
	struct index_src *s = arg;
	int rc = cf_store_list(s->r->store, CF_OBJ_INDEX, fn, fnarg);

	if (rc != 0 && rc != CF_ENOMEM && s->rc == 0)
		s->rc = rc;
	return rc;
}

static int
src_read(void *arg, const char *name, struct cf_index_pack **packs, size_t *npacks)
{
	struct index_src *s = arg;
	int rc = cf_repo_read_index(s->r, name, packs, npacks);

	if (rc == 0 || rc == CF_ENOMEM)
		return rc;
	if (rc == CF_ENOENT || s->skipping) {
		cf_err_clear(); /* replaced by a prune since the listing, or left to check */
		return CF_ENOENT;
	}
	if (s->rc == 0)
		s->rc = rc;
	return rc;
}

static int
load_index(struct cf_repo *r, bool skipping)
{
	struct index_src s = {r, skipping, 0};
	struct cf_ixdb_source src = {src_list, src_read, &s};
	char *path = NULL;
	int rc;

	if (r->ixdb != NULL)
		return 0;
	if ((rc = cf_repo_load_records(r)) != 0)
		return rc;
	if ((path = cf_cache_file(r, "index.lmdb")) != NULL) {
		rc = cf_ixdb_open(path, r->chain->repo_id, &src, &r->ixdb);
		cf_free(path);
		if (rc == 0 || rc == CF_ENOMEM || s.rc != 0)
			return rc;
	}
	/* the cache cannot be used (never a reason to fail): the index in memory */
	cf_err_clear();
	return cf_ixdb_load(&src, &r->ixdb);
}

int
cf_repo_load_index(struct cf_repo *r)
{
	return load_index(r, false);
}

int
cf_repo_load_index_skipping(struct cf_repo *r)
{
	return load_index(r, true);
}

void
cf_repo_unload_index(struct cf_repo *r)
{
	cf_ixdb_free(r->ixdb);
	r->ixdb = NULL;
}

int
cf_repo_each_pack(struct cf_repo *r, int (*fn)(void *arg, const uint8_t pack[static CF_ID_BYTES]),
                  void *arg)
{
	if (r->ixdb == NULL)
		return CF_EINTERNAL;
	return cf_ixdb_each_pack(r->ixdb, fn, arg);
}

int
cf_repo_locs(const struct cf_repo *r, const uint8_t id[static CF_ID_BYTES],
             struct cf_blob_loc buf[static CF_LOCS_STACK], struct cf_blob_loc **v, size_t *n)
{
	size_t got = 0;
	int rc;

	*v = buf;
	*n = 0;
	if (r->ixdb == NULL)
		return 0;
	if ((rc = cf_ixdb_locs(r->ixdb, id, buf, CF_LOCS_STACK, n)) != 0 || *n <= CF_LOCS_STACK)
		return rc;
	/* many copies (an index object may be forged): every one must be reachable */
	if ((*v = cf_calloc(*n, sizeof(**v))) == NULL) {
		*v = buf;
		*n = 0;
		return CF_ENOMEM;
	}
	if ((rc = cf_ixdb_locs(r->ixdb, id, *v, *n, &got)) == 0 && got != *n)
		rc = CF_EINTERNAL; /* the snapshot does not change */
	return rc;
}

int
cf_repo_lookup(const struct cf_repo *r, const uint8_t id[static CF_ID_BYTES],
               struct cf_blob_loc *out)
{
	struct cf_blob_loc buf[CF_LOCS_STACK];
	struct cf_blob_loc *v = NULL;
	size_t n = 0;
	int rc;

	if ((rc = cf_repo_locs(r, id, buf, &v, &n)) == 0 && n == 0)
		rc = CF_ENOENT;
	if (rc == 0) {
		size_t pick = 0;

		while (pick < n && cf_repo_is_condemned(r, v[pick].pack))
			pick++;
		*out = v[pick < n ? pick : 0];
	}
	if (v != buf)
		cf_free(v);
	return rc;
}

int
cf_repo_put_index(struct cf_repo *r, const struct cf_index_pack *packs, size_t npacks, size_t *len)
{
	char name[2 * CF_ID_BYTES + 1];
	uint8_t iid[CF_ID_BYTES];
	uint8_t *idx = NULL;
	size_t ilen = 0;
	int rc;

	if ((rc = cf_index_encode(r->k_index, r->chain->repo_id, packs, npacks, &idx, &ilen,
	                          iid)) != 0)
		return rc;
	cf_id_name(name, iid);
	rc = cf_store_put(r->store, CF_OBJ_INDEX, name, idx, ilen);
	cf_free(idx);
	if (rc == CF_EEXIST) { /* the same packs indexed again: same bytes, nothing to add */
		cf_err_clear();
		rc = 0;
	}
	if (rc == 0 && len != NULL)
		*len = ilen;
	return rc;
}

int
cf_repo_store_pack(struct cf_repo *r, const uint8_t *pack, size_t len,
                   const struct cf_index_pack *ip, size_t *ilen)
{
	char name[2 * CF_ID_BYTES + 1];
	int rc;

	cf_id_name(name, ip->id);
	if ((rc = cf_store_put(r->store, CF_OBJ_PACK, name, pack, len)) != 0)
		return rc;
	return cf_repo_put_index(r, ip, 1, ilen);
}

int
cf_repo_store_pack_tmp(struct cf_repo *r, struct cf_store_tmp *t, const struct cf_index_pack *ip,
                       size_t *ilen)
{
	char name[2 * CF_ID_BYTES + 1];
	int rc;

	if (t->len != ip->len)
		return cf_err_set(CF_EINTERNAL, "pack of %llu bytes in a file of %llu",
		                  (unsigned long long)ip->len, (unsigned long long)t->len);
	cf_id_name(name, ip->id);
	if ((rc = cf_store_put_tmp(r->store, CF_OBJ_PACK, name, t, ip->id)) != 0)
		return rc;
	return cf_repo_put_index(r, ip, 1, ilen);
}

bool
cf_repo_has_live(const struct cf_repo *r, const uint8_t id[static CF_ID_BYTES])
{
	struct cf_blob_loc loc;

	/* a condemned location comes first only when there is no other */
	if (cf_repo_lookup(r, id, &loc) != 0) {
		cf_err_clear(); /* an unreadable cache entry: store the data again */
		return false;
	}
	return !cf_repo_is_condemned(r, loc.pack);
}

/* Unwrap a pack's key from its head with the data key of the pack's epoch. */
static int
unwrap_pack_key(struct cf_repo *r, const char *name, struct cf_key **out)
{
	uint8_t *head = NULL;
	size_t len = 0;
	uint32_t epoch = 0;
	int rc;

	if ((rc = cf_store_get(r->store, CF_OBJ_PACK, name, 0, CF_PACK_HEAD_BYTES,
	                       CF_PACK_MAX_BYTES, &head, &len)) != 0)
		return rc == CF_ETRUNC || rc == CF_ETOOBIG
		               ? cf_err_set(CF_EINTEGRITY, "packs/%s is truncated or too large",
		                            name)
		               : rc;
	if ((rc = cf_pack_head_epoch(head, len, &epoch)) != 0) {
		rc = cf_err_set(CF_EINTEGRITY, "packs/%s has a malformed head", name);
		goto out;
	}
	if (epoch >= r->nepochs || r->dk[epoch] == NULL) {
		rc = cf_err_set(CF_ENOKEY,
		                "packs/%s is sealed to epoch %u, whose key this device "
		                "does not hold",
		                name, epoch);
		goto out;
	}
	if ((rc = cf_pack_open_key(head, len, r->chain->repo_id, r->dk[epoch], out)) != 0)
		rc = cf_err_set(CF_EINTEGRITY,
		                "packs/%s: the pack key does not open (damaged or "
		                "forged)",
		                name);
out:
	cf_free(head);
	return rc;
}

int
cf_repo_pack_key(struct cf_repo *r, const uint8_t pack[static CF_ID_BYTES],
                 const struct cf_key **out)
{
	char name[2 * CF_ID_BYTES + 1];
	struct cf_key *k = NULL;
	int rc = 0;

	*out = NULL;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->npkeys; i++) {
		if (memcmp(r->pkeys[i].pack, pack, CF_ID_BYTES) == 0) {
			*out = r->pkeys[i].key;
			goto out;
		}
	}
	cf_id_name(name, pack);
	if ((rc = unwrap_pack_key(r, name, &k)) != 0)
		goto out;
	if (r->npkeys == r->pkeys_cap) {
		size_t ncap = r->pkeys_cap == 0 ? 64 : r->pkeys_cap * 2;
		struct pack_key_slot *np = cf_realloc(r->pkeys, ncap * sizeof(*np));

		if (np == NULL) {
			rc = CF_ENOMEM;
			goto out;
		}
		r->pkeys = np;
		r->pkeys_cap = ncap;
	}
	memcpy(r->pkeys[r->npkeys].pack, pack, CF_ID_BYTES);
	r->pkeys[r->npkeys].key = k;
	*out = k;
	k = NULL;
	r->npkeys++;
out:
	pthread_mutex_unlock(&r->lock);
	cf_key_free(k);
	return rc;
}

/* A pack read's result @rc: a pack missing or shorter than its index says is damage to blob @id. */
static int
pack_read_error(int rc, const uint8_t id[static CF_ID_BYTES], const char *pack)
{
	char idhex[2 * CF_ID_BYTES + 1];

	if (rc != CF_ENOENT && rc != CF_ETRUNC)
		return rc;
	cf_id_name(idhex, id);
	return cf_err_set(CF_EINTEGRITY, "blob %.16s: pack %.16s is missing or truncated", idhex,
	                  pack);
}

/* Fetch bytes [@off, @off + @len) of @loc's pack. */
static int
fetch_range(struct cf_repo *r, const uint8_t id[static CF_ID_BYTES], const struct cf_blob_loc *loc,
            uint64_t off, size_t len, uint8_t **out, size_t *outlen)
{
	char name[2 * CF_ID_BYTES + 1];
	int rc;

	cf_id_name(name, loc->pack);
	rc = cf_store_get(r->store, CF_OBJ_PACK, name, off, len, CF_PACK_MAX_BYTES, out, outlen);
	return pack_read_error(rc, id, name);
}

/*
 * Decrypt and verify blob @id, stored at @loc, from its @slen stored bytes into @plain, which
 * holds the entry's raw_len bytes. On failure nothing of the blob is left in it (cf_blob_open()
 * wipes what it wrote).
 */
static int
open_stored_into(struct cf_repo *r, const uint8_t id[static CF_ID_BYTES],
                 const struct cf_blob_loc *loc, const uint8_t *stored, size_t slen,
                 struct cf_zctx *z, uint8_t *plain)
{
	char idhex[2 * CF_ID_BYTES + 1];
	char name[2 * CF_ID_BYTES + 1];
	const struct cf_key *pk = NULL;
	int rc;

	if ((rc = cf_repo_pack_key(r, loc->pack, &pk)) != 0)
		return rc;
	if (cf_blob_open(pk, r->chain->repo_id, &loc->e, stored, slen, z, r->k_id, plain) != 0) {
		cf_id_name(idhex, id);
		cf_id_name(name, loc->pack);
		return cf_err_set(CF_EINTEGRITY, "blob %.16s in pack %.16s is damaged", idhex,
		                  name);
	}
	return 0;
}

/* open_stored_into() into a new buffer, *@out. */
static int
open_stored(struct cf_repo *r, const uint8_t id[static CF_ID_BYTES], const struct cf_blob_loc *loc,
            const uint8_t *stored, size_t slen, struct cf_zctx *z, uint8_t **out)
{
	uint8_t *plain = NULL;
	int rc;

	if ((plain = cf_malloc(loc->e.raw_len)) == NULL)
		return CF_ENOMEM;
	if ((rc = open_stored_into(r, id, loc, stored, slen, z, plain)) != 0) {
		cf_free_wipe(plain, loc->e.raw_len);
		return rc;
	}
	*out = plain;
	return 0;
}

/* Read and verify blob @id at @loc into a new buffer. */
static int
read_at(struct cf_repo *r, const uint8_t id[static CF_ID_BYTES], const struct cf_blob_loc *loc,
        struct cf_zctx *z, uint8_t **out)
{
	uint8_t *stored = NULL;
	size_t slen = 0;
	int rc;

	if ((rc = fetch_range(r, id, loc, loc->e.offset, loc->e.stored_len, &stored, &slen)) != 0)
		return rc;
	rc = open_stored(r, id, loc, stored, slen, z, out);
	cf_free(stored);
	return rc;
}

/*
 * The copy of @id at @failed did not verify: try every other copy an index object records. An
 * index object is sealed with a key backup-only devices hold, so the first location may be
 * a forged one, even in a genuine pack at a wrong offset; a genuine copy elsewhere, in the
 * same pack too, must still be found (P5).
 */
static int
read_elsewhere(struct cf_repo *r, const uint8_t id[static CF_ID_BYTES],
               const struct cf_blob_loc *failed, struct cf_zctx *z, uint8_t **out, size_t *len)
{
	struct cf_blob_loc buf[CF_LOCS_STACK];
	struct cf_blob_loc *v = NULL;
	size_t n = 0;
	int rc;

	if ((rc = cf_repo_locs(r, id, buf, &v, &n)) == 0)
		rc = CF_EINTEGRITY;
	for (size_t i = 0; i < n && rc == CF_EINTEGRITY; i++) {
		if (memcmp(v[i].pack, failed->pack, CF_ID_BYTES) == 0 &&
		    v[i].e.offset == failed->e.offset && v[i].e.stored_len == failed->e.stored_len)
			continue;
		if (read_at(r, id, &v[i], z, out) == 0) {
			*len = v[i].e.raw_len;
			cf_err_clear();
			rc = 0;
		}
	}
	if (v != buf)
		cf_free(v);
	return rc;
}

bool
cf_repo_verify_live_copy(struct cf_repo *r, const uint8_t id[static CF_ID_BYTES], struct cf_zctx *z)
{
	struct cf_blob_loc buf[CF_LOCS_STACK];
	struct cf_blob_loc *v = NULL;
	uint8_t *out = NULL;
	size_t n = 0;
	bool ok = false;

	if (cf_repo_locs(r, id, buf, &v, &n) != 0)
		n = 0;
	for (size_t i = 0; i < n && !ok; i++) {
		if (cf_repo_is_condemned(r, v[i].pack) || read_at(r, id, &v[i], z, &out) != 0)
			continue;
		cf_free_wipe(out, v[i].e.raw_len);
		ok = true;
	}
	if (v != buf)
		cf_free(v);
	cf_err_clear();
	return ok;
}

int
cf_repo_read_blob(struct cf_repo *r, const uint8_t id[static CF_ID_BYTES], struct cf_zctx *z,
                  uint8_t **out, size_t *len)
{
	char idhex[2 * CF_ID_BYTES + 1];
	struct cf_blob_loc loc;
	char msg[512];
	int rc;

	*out = NULL;
	*len = 0;
	if ((rc = cf_repo_can_read(r)) != 0 || (rc = cf_repo_load_index(r)) != 0)
		return rc;
	if ((rc = cf_repo_lookup(r, id, &loc)) != 0) {
		if (rc != CF_ENOENT)
			return rc;
		cf_id_name(idhex, id);
		return cf_err_set(CF_EINTEGRITY, "blob %.16s is not in the index", idhex);
	}
	if ((rc = read_at(r, id, &loc, z, out)) == 0) {
		*len = loc.e.raw_len;
		return 0;
	}
	if (rc != CF_EINTEGRITY)
		return rc;
	(void)snprintf(msg, sizeof(msg), "%s", cf_err_last());
	if ((rc = read_elsewhere(r, id, &loc, z, out, len)) == CF_EINTEGRITY)
		return cf_err_set(CF_EINTEGRITY, "%s", msg); /* no good copy: the first failure */
	return rc;
}

void
cf_blob_cache_release(struct cf_blob_cache *c)
{
	for (size_t i = 0; i < CF_CACHE_RUNS; i++)
		cf_rbuf_free(&c->w[i].buf);
	memset(c, 0, sizeof(*c));
}

/* Where @run's bytes hold all of @loc's blob, the offset of its first byte in them. */
static bool
run_holds(const struct cf_blob_run *run, const struct cf_blob_loc *loc, size_t *at)
{
	if (run->data == NULL || memcmp(run->pack, loc->pack, CF_ID_BYTES) != 0 ||
	    loc->e.offset < run->off || loc->e.offset + (uint64_t)loc->e.stored_len > run->end)
		return false;
	*at = (size_t)(loc->e.offset - run->off);
	return true;
}

/*
 * The end of the run from @first over those of @ids that follow it closely in its pack. Blobs
 * of other packs in between are passed over: each backup worker writes its own pack, so a
 * file's chunks alternate between them.
 */
static uint64_t
run_end(const struct cf_repo *r, const struct cf_blob_loc *first, const uint8_t *const *ids,
        size_t n)
{
	uint64_t end = first->e.offset + (uint64_t)first->e.stored_len;
	struct cf_blob_loc loc;

	for (size_t i = 0; i < n; i++) {
		uint64_t next_end = 0;

		if (cf_repo_lookup(r, ids[i], &loc) != 0 ||
		    memcmp(loc.pack, first->pack, CF_ID_BYTES) != 0 || loc.e.offset < end)
			continue;
		if (loc.e.offset - end > CF_RUN_GAP)
			break;
		next_end = loc.e.offset + (uint64_t)loc.e.stored_len;
		if (next_end - first->e.offset > CF_RUN_MAX)
			break;
		end = next_end;
	}
	return end;
}

/* Fetch bytes [@start, @end) of @loc's pack into @run, which holds blob @id then. */
static int
run_fetch(struct cf_repo *r, struct cf_blob_run *run, const struct cf_blob_loc *loc,
          const uint8_t id[static CF_ID_BYTES], uint64_t start, uint64_t end)
{
	char name[2 * CF_ID_BYTES + 1];
	int rc;

	run->data = NULL;
	cf_id_name(name, loc->pack);
	rc = cf_store_get_buf(r->store, CF_OBJ_PACK, name, start, (size_t)(end - start),
	                      CF_PACK_MAX_BYTES, &run->buf, &run->data);
	if (rc != 0)
		return pack_read_error(rc, id, name);
	memcpy(run->pack, loc->pack, CF_ID_BYTES);
	run->off = start;
	run->end = end;
	return 0;
}

/*
 * Blob @id at @loc from @run's bytes at @at; when @run is NULL or the blob fails there, read
 * alone: every failure is decided, and reported, by the one-blob path and its other copies.
 */
static int
open_or_alone(struct cf_repo *r, const struct cf_blob_run *run, size_t at,
              const struct cf_blob_loc *loc, const uint8_t id[static CF_ID_BYTES],
              struct cf_zctx *z, uint8_t **out, size_t *len)
{
	if (run != NULL &&
	    open_stored(r, id, loc, run->data + at, loc->e.stored_len, z, out) == 0) {
		*len = loc->e.raw_len;
		return 0;
	}
	cf_err_clear();
	return cf_repo_read_blob(r, id, z, out, len);
}

/* Look @id up for a read through a run or window; false: read it alone. */
static bool
locate(struct cf_repo *r, const uint8_t id[static CF_ID_BYTES], struct cf_blob_loc *loc)
{
	return cf_repo_can_read(r) == 0 && cf_repo_load_index(r) == 0 &&
	       cf_repo_lookup(r, id, loc) == 0;
}

/* The run of @c that holds @loc's blob, or NULL. */
static const struct cf_blob_run *
cache_find(const struct cf_blob_cache *c, const struct cf_blob_loc *loc, size_t *at)
{
	for (size_t i = 0; i < CF_CACHE_RUNS; i++)
		if (run_holds(&c->w[i], loc, at))
			return &c->w[i];
	return NULL;
}

/*
 * Fetch [@start, @end) of @loc's pack, of @size bytes (0: not known), in place of @c's oldest
 * run. The run, or NULL.
 */
static const struct cf_blob_run *
cache_fetch(struct cf_repo *r, struct cf_blob_cache *c, const struct cf_blob_loc *loc,
            const uint8_t id[static CF_ID_BYTES], uint64_t start, uint64_t end, uint64_t size,
            size_t *at)
{
	size_t i = c->next;

	c->next = (c->next + 1) % CF_CACHE_RUNS;
	c->sizes[i] = 0;
	if (run_fetch(r, &c->w[i], loc, id, start, end) != 0 || !run_holds(&c->w[i], loc, at))
		return NULL;
	c->sizes[i] = size;
	return &c->w[i];
}

/* The run of @c holding @ids[0], at *@at, fetched when none does; NULL: read it alone. */
static const struct cf_blob_run *
run_for(struct cf_repo *r, struct cf_blob_cache *c, const uint8_t *const *ids, size_t n,
        struct cf_blob_loc *loc, size_t *at)
{
	const struct cf_blob_run *w = NULL;

	if (n == 0)
		cf_misuse("cf_repo_read_blob_run: no blob");
	if (locate(r, ids[0], loc) && (w = cache_find(c, loc, at)) == NULL)
		w = cache_fetch(r, c, loc, ids[0], loc->e.offset, run_end(r, loc, ids + 1, n - 1),
		                0, at);
	return w;
}

int
cf_repo_read_blob_run(struct cf_repo *r, struct cf_blob_cache *c, const uint8_t *const *ids,
                      size_t n, struct cf_zctx *z, uint8_t **out, size_t *len)
{
	const struct cf_blob_run *w = NULL;
	struct cf_blob_loc loc;
	size_t at = 0;

	*out = NULL;
	*len = 0;
	w = run_for(r, c, ids, n, &loc, &at);
	return open_or_alone(r, w, at, &loc, ids[0], z, out, len);
}

int
cf_repo_blob_len_error(const uint8_t id[static CF_ID_BYTES], size_t len, size_t want)
{
	char idhex[2 * CF_ID_BYTES + 1];

	cf_id_name(idhex, id);
	return cf_err_set(CF_EINTEGRITY, "blob %.16s: %zu bytes, the tree says %zu", idhex, len,
	                  want);
}

int
cf_repo_read_blob_run_into(struct cf_repo *r, struct cf_blob_cache *c, const uint8_t *const *ids,
                           size_t n, struct cf_zctx *z, uint8_t *dst, size_t len)
{
	const struct cf_blob_run *w = NULL;
	struct cf_blob_loc loc;
	size_t at = 0;
	uint8_t *p = NULL;
	size_t plen = 0;
	int rc;

	w = run_for(r, c, ids, n, &loc, &at);
	/* the length is checked before a byte is written: @dst holds exactly @len */
	if (w != NULL && loc.e.raw_len == len &&
	    open_stored_into(r, ids[0], &loc, w->data + at, loc.e.stored_len, z, dst) == 0)
		return 0;
	cf_err_clear();
	if ((rc = cf_repo_read_blob(r, ids[0], z, &p, &plen)) != 0)
		return rc;
	if (plen == len)
		memcpy(dst, p, len);
	else
		rc = cf_repo_blob_len_error(ids[0], plen, len);
	cf_free_wipe(p, plen);
	return rc;
}

/* The size of @loc's pack: known from a window on it, else asked of the store. */
static int
pack_size(struct cf_repo *r, const struct cf_blob_cache *c, const struct cf_blob_loc *loc,
          uint64_t *size)
{
	char name[2 * CF_ID_BYTES + 1];

	for (size_t i = 0; i < CF_CACHE_RUNS; i++) {
		if (c->sizes[i] != 0 && memcmp(c->w[i].pack, loc->pack, CF_ID_BYTES) == 0) {
			*size = c->sizes[i];
			return 0;
		}
	}
	cf_id_name(name, loc->pack);
	return cf_store_size(r->store, CF_OBJ_PACK, name, size);
}

/* The window of @c that holds @loc's blob, fetched in place of the oldest if none does. */
static const struct cf_blob_run *
window_for(struct cf_repo *r, struct cf_blob_cache *c, const uint8_t id[static CF_ID_BYTES],
           const struct cf_blob_loc *loc, size_t *at)
{
	uint64_t blob_end = loc->e.offset + (uint64_t)loc->e.stored_len;
	uint64_t start = loc->e.offset & ~(CF_RUN_ALIGN - 1);
	const struct cf_blob_run *w = cache_find(c, loc, at);
	uint64_t size = 0;
	uint64_t end;

	if (w != NULL || pack_size(r, c, loc, &size) != 0)
		return w;
	end = size > start && size - start > CF_RUN_MAX ? start + CF_RUN_MAX : size;
	if (end < blob_end)
		end = blob_end; /* a blob past the window, or a pack shorter than its index says */
	return cache_fetch(r, c, loc, id, start, end, size, at);
}

int
cf_repo_load_tree(struct cf_repo *r, const uint8_t id[static CF_ID_BYTES], struct cf_zctx *z,
                  struct cf_tree **out)
{
	return cf_repo_load_tree_win(r, NULL, id, z, out);
}

int
cf_repo_load_tree_win(struct cf_repo *r, struct cf_blob_cache *tw,
                      const uint8_t id[static CF_ID_BYTES], struct cf_zctx *z, struct cf_tree **out)
{
	char idhex[2 * CF_ID_BYTES + 1];
	const struct cf_blob_run *w = NULL;
	struct cf_blob_loc loc;
	uint8_t *p = NULL;
	size_t len = 0;
	size_t at = 0;
	int rc;

	*out = NULL;
	if (tw != NULL && locate(r, id, &loc))
		w = window_for(r, tw, id, &loc, &at);
	if ((rc = open_or_alone(r, w, at, &loc, id, z, &p, &len)) != 0)
		return rc;
	if ((rc = cf_tree_decode(p, len, out)) != 0) {
		cf_id_name(idhex, id);
		rc = cf_err_set(CF_EINTEGRITY, "tree %.16s is malformed: %s", idhex,
		                cf_strerror(rc));
	}
	cf_free_wipe(p, len);
	return rc;
}

int
cf_repo_open_snapshot(struct cf_repo *r, const char *name, struct cf_snapshot **out)
{
	struct cf_snapshot_head h;
	const struct cf_chain_device *d = NULL;
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if ((rc = cf_repo_can_read(r)) != 0)
		return rc;
	if ((rc = cf_repo_get_verified(r, CF_OBJ_SNAPSHOT, name, CF_SNAPSHOT_MAX_BYTES, &obj,
	                               &len)) != 0)
		return rc;
	if ((rc = cf_snapshot_read_head(obj, len, &h)) != 0) {
		rc = cf_err_set(CF_EINTEGRITY, "snapshot %.16s is malformed", name);
		goto out;
	}
	if ((d = cf_chain_find_device(r->chain, h.device)) != NULL && d->removed &&
	    h.seq > d->last_seq) {
		rc = cf_err_set(CF_EINTEGRITY,
		                "snapshot %.16s was written by device '%s' after its revocation",
		                name, d->name);
		goto out;
	}
	if (d == NULL || cf_snapshot_verify(obj, len, r->chain->repo_id, d->sign_pk) != 0) {
		rc = cf_err_set(CF_EINTEGRITY,
		                "snapshot %.16s is not signed by a device of this repository",
		                name);
		goto out;
	}
	if (h.epoch >= r->nepochs || r->dk[h.epoch] == NULL) {
		rc = cf_err_set(CF_ENOKEY,
		                "snapshot %.16s is sealed to epoch %u, whose key this "
		                "device does not hold",
		                name, h.epoch);
		goto out;
	}
	if ((rc = cf_snapshot_open(obj, len, r->chain->repo_id, r->dk[h.epoch], out)) != 0)
		rc = cf_err_set(CF_EINTEGRITY, "snapshot %.16s does not decrypt: %s", name,
		                cf_strerror(rc));
out:
	cf_free(obj);
	return rc;
}

struct seq_scan {
	struct cf_repo *r;
	const uint8_t *device;
	uint64_t seq;
	uint8_t hash[CF_HASH_BYTES];
};

static int
scan_head(void *arg, const char *name, uint64_t size)
{
	struct seq_scan *s = arg;
	const struct cf_chain_device *d = NULL;
	uint8_t want[CF_HASH_BYTES];
	uint8_t got[CF_HASH_BYTES];
	struct cf_snapshot_head h;
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	(void)size;
	rc = cf_store_get(s->r->store, CF_OBJ_SNAPSHOT, name, 0, SIZE_MAX, CF_SNAPSHOT_MAX_BYTES,
	                  &obj, &len);
	if (rc != 0)
		return rc == CF_ENOENT ? 0 : rc;
	/* only a head that hashes to its name and that the device signed counts */
	if (cf_snapshot_read_head(obj, len, &h) == 0 &&
	    memcmp(h.device, s->device, CF_ID_BYTES) == 0 && h.seq > s->seq &&
	    (d = cf_chain_find_device(s->r->chain, h.device)) != NULL &&
	    cf_snapshot_verify(obj, len, s->r->chain->repo_id, d->sign_pk) == 0 &&
	    cf_unhex(want, sizeof(want), name, strlen(name)) == 0) {
		cf_hash(got, obj, len);
		if (memcmp(got, want, CF_HASH_BYTES) == 0) {
			s->seq = h.seq;
			memcpy(s->hash, got, CF_HASH_BYTES);
		}
	}
	cf_free(obj);
	return 0;
}

int
cf_repo_device_seq(struct cf_repo *r, const uint8_t device[static CF_ID_BYTES], uint64_t *seq,
                   uint8_t hash[static CF_HASH_BYTES])
{
	struct seq_scan s;
	int rc;

	memset(&s, 0, sizeof(s));
	s.r = r;
	s.device = device;
	if ((rc = cf_store_list(r->store, CF_OBJ_SNAPSHOT, scan_head, &s)) != 0 ||
	    (rc = cf_repo_load_records(r)) != 0)
		return rc;
	/* a forgotten snapshot still holds its number (docs/format.md 16.1) */
	for (size_t i = 0; i < r->rec->nforgot; i++) {
		const struct cf_forget_entry *e = &r->rec->forgot[i];

		if (memcmp(e->device, device, CF_ID_BYTES) == 0 && e->seq > s.seq) {
			s.seq = e->seq;
			memcpy(s.hash, e->hash, CF_HASH_BYTES);
		}
	}
	*seq = s.seq;
	memcpy(hash, s.hash, CF_HASH_BYTES);
	return 0;
}

int
cf_path_push(struct cf_path *pa, const uint8_t *name, size_t len, size_t *saved)
{
	size_t need = 0;

	*saved = pa->len;
	if (cf_size_add(pa->len, len + 2, &need) != 0)
		return CF_ETOOBIG;
	if (need > pa->cap) {
		size_t ncap = pa->cap < 256 ? 256 : pa->cap;
		uint8_t *np = NULL;

		while (ncap < need)
			ncap *= 2;
		if ((np = cf_realloc(pa->p, ncap)) == NULL)
			return CF_ENOMEM;
		pa->p = np;
		pa->cap = ncap;
	}
	if (pa->len == 0 || pa->p[pa->len - 1] != '/')
		pa->p[pa->len++] = '/';
	memcpy(pa->p + pa->len, name, len);
	pa->len += len;
	pa->p[pa->len] = '\0';
	return 0;
}

void
cf_path_pop(struct cf_path *pa, size_t saved)
{
	pa->len = saved;
	if (pa->p != NULL)
		pa->p[pa->len] = '\0';
}

void
cf_path_release(struct cf_path *pa)
{
	cf_free(pa->p);
	pa->p = NULL;
	pa->len = 0;
	pa->cap = 0;
}

const char *
cf_path_cstr(const struct cf_path *pa)
{
	return pa->p != NULL ? (const char *)pa->p : "/";
}
