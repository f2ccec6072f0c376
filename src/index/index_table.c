/*
 * index_table.c - the in-memory chunk index: blob id -> (pack, entry).
 *
 * Open addressing with linear probing, keyed by the first 8 bytes of the id: ids are keyed
 * MACs, so those bytes are already uniformly distributed. Pack ids are interned in their own
 * array (each distinct id stored once) and slots hold a 32-bit pack number, so a slot is the
 * id, the pack number and the entry's fields: 52 bytes. The table doubles at 70 % load.
 */
#include <string.h>

#include "../base/base.h"
#include "index.h"

#define SLOTS_INIT     1024
#define PACK_HASH_INIT 64
#define LOAD_NUM       7 /* grow past 7/10 full */
#define LOAD_DEN       10
#define PACK_NUM_LIMIT (UINT32_MAX - 1)

struct slot {
	uint8_t id[CF_ID_BYTES];
	uint32_t pack; /* pack number + 1; 0 marks an empty slot */
	uint32_t offset;
	uint32_t stored_len;
	uint32_t raw_len;
	uint8_t type;
	uint8_t comp;
};

struct pack_id {
	uint8_t b[CF_ID_BYTES];
};

struct cf_index {
	struct slot *slots;
	size_t cap; /* a power of two */
	size_t count;
	struct pack_id *packs; /* interned pack ids, by pack number */
	size_t npacks;
	size_t packs_cap;
	uint32_t *phash; /* pack number + 1 by hash of the pack id; 0 empty */
	size_t phash_cap;
	uint32_t last; /* pack number + 1 of the last interned pack (index files add by pack) */
};

/* The first 8 bytes of a uniformly random id, as a number. */
static size_t
key_of(const uint8_t id[static CF_ID_BYTES])
{
	uint64_t k;

	memcpy(&k, id, sizeof(k));
	return (size_t)k;
}

static bool
over_load(size_t count, size_t cap)
{
	return count * LOAD_DEN >= cap * LOAD_NUM;
}

int
cf_index_new(struct cf_index **out)
{
	struct cf_index *ix = NULL;

	*out = NULL;
	if ((ix = cf_calloc(1, sizeof(*ix))) == NULL)
		return CF_ENOMEM;
	if ((ix->slots = cf_calloc(SLOTS_INIT, sizeof(*ix->slots))) == NULL ||
	    (ix->phash = cf_calloc(PACK_HASH_INIT, sizeof(*ix->phash))) == NULL) {
		cf_index_free(ix);
		return CF_ENOMEM;
	}
	ix->cap = SLOTS_INIT;
	ix->phash_cap = PACK_HASH_INIT;
	*out = ix;
	return 0;
}

void
cf_index_free(struct cf_index *ix)
{
	if (ix == NULL)
		return;
	cf_free(ix->slots);
	cf_free(ix->packs);
	cf_free(ix->phash);
	cf_free(ix);
}

/* The slot holding @id, or the empty slot where it would go. */
static size_t
find_slot(const struct slot *slots, size_t cap, const uint8_t id[static CF_ID_BYTES])
{
	size_t i = key_of(id) & (cap - 1);

	while (slots[i].pack != 0 && memcmp(slots[i].id, id, CF_ID_BYTES) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

static int
grow_slots(struct cf_index *ix)
{
	struct slot *ns = NULL;
	size_t ncap;

	if (cf_size_mul(ix->cap, 2, &ncap) != 0)
		return CF_ENOMEM;
	if ((ns = cf_calloc(ncap, sizeof(*ns))) == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; i < ix->cap; i++)
		if (ix->slots[i].pack != 0)
			ns[find_slot(ns, ncap, ix->slots[i].id)] = ix->slots[i];
	cf_free(ix->slots);
	ix->slots = ns;
	ix->cap = ncap;
	return 0;
}

/* The pack-hash position of @id, or the empty one where it would go. */
static size_t
find_pack(const struct cf_index *ix, const uint32_t *ph, size_t cap,
          const uint8_t id[static CF_ID_BYTES])
{
	size_t i = key_of(id) & (cap - 1);

	while (ph[i] != 0 && memcmp(ix->packs[ph[i] - 1].b, id, CF_ID_BYTES) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

static int
grow_packs(struct cf_index *ix)
{
	struct pack_id *np = NULL;
	uint32_t *nh = NULL;
	size_t ncap;
	size_t sz;

	if (ix->npacks == ix->packs_cap) {
		ncap = ix->packs_cap == 0 ? 16 : ix->packs_cap * 2;
		if (cf_size_mul(ncap, sizeof(*np), &sz) != 0 ||
		    (np = cf_realloc(ix->packs, sz)) == NULL)
			return CF_ENOMEM;
		ix->packs = np;
		ix->packs_cap = ncap;
	}
	if (!over_load(ix->npacks + 1, ix->phash_cap))
		return 0;
	ncap = ix->phash_cap * 2;
	if ((nh = cf_calloc(ncap, sizeof(*nh))) == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; i < ix->phash_cap; i++)
		if (ix->phash[i] != 0)
			nh[find_pack(ix, nh, ncap, ix->packs[ix->phash[i] - 1].b)] = ix->phash[i];
	cf_free(ix->phash);
	ix->phash = nh;
	ix->phash_cap = ncap;
	return 0;
}

/* *@num = pack number + 1 of @id, adding it when new. */
static int
intern_pack(struct cf_index *ix, const uint8_t id[static CF_ID_BYTES], uint32_t *num)
{
	size_t i;

	if (ix->last != 0 && memcmp(ix->packs[ix->last - 1].b, id, CF_ID_BYTES) == 0) {
		*num = ix->last;
		return 0;
	}
	i = find_pack(ix, ix->phash, ix->phash_cap, id);
	if (ix->phash[i] == 0) {
		if (ix->npacks >= PACK_NUM_LIMIT)
			return CF_ENOMEM;
		if (grow_packs(ix) != 0)
			return CF_ENOMEM;
		i = find_pack(ix, ix->phash, ix->phash_cap, id);
		memcpy(ix->packs[ix->npacks].b, id, CF_ID_BYTES);
		ix->phash[i] = (uint32_t)++ix->npacks;
	}
	ix->last = ix->phash[i];
	*num = ix->last;
	return 0;
}

int
cf_index_add(struct cf_index *ix, const uint8_t pack_id[static CF_ID_BYTES],
             const struct cf_pack_entry *e)
{
	struct slot *s = NULL;
	uint32_t num = 0;
	int rc;

	/* Grow first: once the pack is interned nothing below can fail. */
	if (over_load(ix->count + 1, ix->cap) && (rc = grow_slots(ix)) != 0)
		return rc;
	/* The pack is known even when all its blobs are already indexed elsewhere. */
	if ((rc = intern_pack(ix, pack_id, &num)) != 0)
		return rc;
	s = &ix->slots[find_slot(ix->slots, ix->cap, e->id)];
	if (s->pack != 0)
		return 0; /* first location wins */
	memcpy(s->id, e->id, CF_ID_BYTES);
	s->pack = num;
	s->offset = e->offset;
	s->stored_len = e->stored_len;
	s->raw_len = e->raw_len;
	s->type = e->type;
	s->comp = e->comp;
	ix->count++;
	return 0;
}

int
cf_index_add_pack(struct cf_index *ix, const struct cf_index_pack *p)
{
	for (size_t i = 0; i < p->count; i++) {
		int rc = cf_index_add(ix, p->id, &p->entries[i]);

		if (rc != 0)
			return rc;
	}
	return 0;
}

int
cf_index_add_id(struct cf_index *ix, const uint8_t id[static CF_ID_BYTES])
{
	static const uint8_t nopack[CF_ID_BYTES];
	struct cf_pack_entry e;

	memset(&e, 0, sizeof(e));
	memcpy(e.id, id, CF_ID_BYTES);
	return cf_index_add(ix, nopack, &e);
}

int
cf_index_lookup(const struct cf_index *ix, const uint8_t id[static CF_ID_BYTES],
                struct cf_blob_loc *out)
{
	const struct slot *s = &ix->slots[find_slot(ix->slots, ix->cap, id)];

	if (s->pack == 0)
		return CF_ENOENT;
	memcpy(out->pack, ix->packs[s->pack - 1].b, CF_ID_BYTES);
	memcpy(out->e.id, s->id, CF_ID_BYTES);
	out->e.type = s->type;
	out->e.comp = s->comp;
	out->e.offset = s->offset;
	out->e.stored_len = s->stored_len;
	out->e.raw_len = s->raw_len;
	return 0;
}

bool
cf_index_has(const struct cf_index *ix, const uint8_t id[static CF_ID_BYTES])
{
	return ix->slots[find_slot(ix->slots, ix->cap, id)].pack != 0;
}

size_t
cf_index_count(const struct cf_index *ix)
{
	return ix->count;
}

int
cf_index_each_pack(const struct cf_index *ix,
                   int (*fn)(void *arg, const uint8_t pack_id[static CF_ID_BYTES]), void *arg)
{
	for (size_t i = 0; i < ix->npacks; i++) {
		int rc = fn(arg, ix->packs[i].b);

		if (rc != 0)
			return rc;
	}
	return 0;
}

int
cf_index_each_id(const struct cf_index *ix,
                 int (*fn)(void *arg, const uint8_t id[static CF_ID_BYTES]), void *arg)
{
	for (size_t i = 0; i < ix->cap; i++) {
		int rc;

		if (ix->slots[i].pack == 0)
			continue;
		if ((rc = fn(arg, ix->slots[i].id)) != 0)
			return rc;
	}
	return 0;
}

int
cf_index_intern(struct cf_index *ix, const uint8_t pack_id[static CF_ID_BYTES], uint32_t *num)
{
	uint32_t n = 0;
	int rc;

	if ((rc = intern_pack(ix, pack_id, &n)) != 0)
		return rc;
	*num = n - 1;
	return 0;
}

const uint8_t *
cf_index_pack_id(const struct cf_index *ix, uint32_t num)
{
	CF_ASSERT(num < ix->npacks);
	return ix->packs[num].b;
}
