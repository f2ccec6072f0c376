/*
 * orphans.c - packs stored without their index object: a backup was killed between the two
 * writes. A full device reads such a pack's own (encrypted) header and writes the missing
 * index object, so the next backup reuses the pack instead of uploading its data again
 * (P11). Backup-only devices cannot read pack headers; they lose at most the packs that were
 * between the two writes.
 */
#include <string.h>

#include "repo.h"

struct orphans {
	struct cf_repo *r;
	struct cf_index *indexed; /* pack ids that have an index object */
	size_t adopted;
};

static int
note_indexed(void *arg, const uint8_t pack[static CF_ID_BYTES])
{
	struct orphans *o = arg;

	return cf_index_add_id(o->indexed, pack);
}

/* Read one whole pack, check its name, decrypt its header and index it. */
static int
adopt(struct orphans *o, const char *name, const uint8_t id[static CF_ID_BYTES])
{
	struct cf_repo *r = o->r;
	struct cf_index_pack ip;
	const struct cf_key *pk = NULL;
	uint8_t got[CF_HASH_BYTES];
	uint8_t *pack = NULL;
	size_t plen = 0;
	int rc;

	memset(&ip, 0, sizeof(ip));
	if (cf_store_get(r->store, CF_OBJ_PACK, name, 0, SIZE_MAX, CF_PACK_MAX_BYTES, &pack,
	                 &plen) != 0)
		goto skip;
	cf_hash(got, pack, plen);
	/* a damaged or foreign pack is left for check to report, never indexed */
	if (memcmp(got, id, CF_HASH_BYTES) != 0 || cf_repo_pack_key(r, id, &pk) != 0 ||
	    cf_pack_read_header(pack, plen, r->chain->repo_id, pk, &ip.entries, &ip.count) != 0)
		goto skip;
	memcpy(ip.id, id, CF_ID_BYTES);
	ip.len = plen;
	if ((rc = cf_repo_put_index(r, &ip, 1, NULL)) != 0)
		goto out;
	o->adopted++;
	goto out;
skip:
	cf_err_clear();
	rc = 0;
out:
	cf_free(ip.entries);
	cf_free(pack);
	return rc;
}

static int
check_pack(void *arg, const char *name, uint64_t size)
{
	struct orphans *o = arg;
	uint8_t id[CF_ID_BYTES];

	(void)size;
	if (cf_unhex(id, sizeof(id), name, strlen(name)) != 0 || cf_index_has(o->indexed, id) ||
	    cf_repo_is_condemned(o->r, id))
		return 0; /* indexed, or condemned by a prune (docs/format.md 16.4) */
	return adopt(o, name, id);
}

int
cf_repo_adopt_orphans(struct cf_repo *r, size_t *adopted)
{
	struct orphans o;
	int rc;

	*adopted = 0;
	if (cf_repo_can_read(r) != 0) {
		cf_err_clear();
		return 0;
	}
	memset(&o, 0, sizeof(o));
	o.r = r;
	if ((rc = cf_repo_load_records(r)) != 0 || (rc = cf_repo_load_index(r)) != 0 ||
	    (rc = cf_index_new(&o.indexed)) != 0 ||
	    (rc = cf_repo_each_pack(r, note_indexed, &o)) != 0 ||
	    (rc = cf_store_list(r->store, CF_OBJ_PACK, check_pack, &o)) != 0)
		goto out;
	*adopted = o.adopted;
	/* the index objects just written join the index: it is read again */
	if (o.adopted > 0) {
		cf_repo_unload_index(r);
		rc = cf_repo_load_index(r);
	}
out:
	cf_index_free(o.indexed);
	return rc;
}
