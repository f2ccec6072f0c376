/*
 * index.c - index objects (docs/format.md section 6): which blobs each pack holds, sealed
 * under K_index.
 */
#include "index.h"

#include <string.h>

#include "../base/base.h"
#include "../buf/buf.h"
#include "../reader/reader.h"

#define PREFIX_BYTES 8
#define KIND_INDEX   4
#define FORMAT_V1    1
/* pack_id 32 | pack_len u64 | count u32 */
#define PACK_HEAD_BYTES (CF_ID_BYTES + 8 + 4)
/* The smallest pack: head, one blob of one byte, a header of one entry, the trailer. */
#define PACK_MIN_BYTES                                                                             \
	(CF_PACK_HEAD_BYTES + CF_BLOB_OVERHEAD + 1 + CF_AEAD_OVERHEAD + 4 + CF_PACK_ENTRY_BYTES +  \
	 CF_PACK_TRAILER_BYTES)

/* The header's limits as size_t / u64, so comparisons need no implicit widening. */
#define INDEX_MAX ((size_t)CF_INDEX_MAX_BYTES)
#define PACK_MAX  ((uint64_t)CF_PACK_MAX_BYTES)

static const char magic[4] = {'C', 'O', 'F', 'R'};
static const char label_index[] = "coffer.v1.index";

#define AD_BYTES (sizeof(label_index) - 1 + 32 + PREFIX_BYTES)

/* The largest index_plain the count limits allow. */
#define PLAIN_MAX                                                                                  \
	((size_t)CF_INDEX_MAX_ENTRIES * CF_PACK_ENTRY_BYTES +                                      \
	 (size_t)CF_INDEX_MAX_PACKS * PACK_HEAD_BYTES + 4)

static_assert(PREFIX_BYTES + CF_AEAD_OVERHEAD + PLAIN_MAX <= INDEX_MAX,
              "the count limits keep an index object under its byte limit");

/* AD = "coffer.v1.index" || repo_id || prefix. */
static void
make_ad(uint8_t ad[static AD_BYTES], const uint8_t repo_id[static 32],
        const uint8_t prefix[static PREFIX_BYTES])
{
	memcpy(ad, label_index, sizeof(label_index) - 1);
	memcpy(ad + sizeof(label_index) - 1, repo_id, 32);
	memcpy(ad + sizeof(label_index) - 1 + 32, prefix, PREFIX_BYTES);
}

/* One pack's record: its length, then entries that are valid and in order inside it. */
static int
pack_valid(uint64_t pack_len, const struct cf_pack_entry *e, size_t count)
{
	if (pack_len < PACK_MIN_BYTES || pack_len > PACK_MAX)
		return CF_EFORMAT;
	for (size_t i = 0; i < count; i++)
		if (cf_pack_entry_valid(&e[i]) != 0)
			return CF_EFORMAT;
	return cf_pack_entries_check(e, count, pack_len - CF_PACK_TRAILER_BYTES);
}

/* Limits of format.md 6 for encoding, and the plaintext's length. */
static int
encode_size(const struct cf_index_pack *packs, size_t npacks, size_t *plain_len)
{
	size_t total = 0;

	*plain_len = 0;
	if (npacks == 0)
		return CF_EINVAL;
	if (npacks > CF_INDEX_MAX_PACKS)
		return CF_ETOOBIG;
	for (size_t i = 0; i < npacks; i++) {
		if (packs[i].count == 0)
			return CF_EINVAL;
		if (packs[i].count > CF_PACK_MAX_ENTRIES ||
		    packs[i].count > CF_INDEX_MAX_ENTRIES - total)
			return CF_ETOOBIG;
		total += packs[i].count;
		if (pack_valid(packs[i].len, packs[i].entries, packs[i].count) != 0)
			return CF_EINVAL;
	}
	/* At most PLAIN_MAX: no overflow. */
	*plain_len = 4 + npacks * PACK_HEAD_BYTES + total * CF_PACK_ENTRY_BYTES;
	return 0;
}

static int
encode_plain(struct cf_buf *b, const struct cf_index_pack *packs, size_t npacks)
{
	int rc;

	if ((rc = cf_buf_u32be(b, (uint32_t)npacks)) != 0)
		return rc;
	for (size_t i = 0; i < npacks; i++) {
		if ((rc = cf_buf_put(b, packs[i].id, CF_ID_BYTES)) != 0 ||
		    (rc = cf_buf_u64be(b, packs[i].len)) != 0 ||
		    (rc = cf_buf_u32be(b, (uint32_t)packs[i].count)) != 0)
			return rc;
		for (size_t j = 0; j < packs[i].count; j++)
			if ((rc = cf_pack_entry_put(b, &packs[i].entries[j])) != 0)
				return rc;
	}
	return 0;
}

int
cf_index_encode(const struct cf_key *k_index, const uint8_t repo_id[static 32],
                const struct cf_index_pack *packs, size_t npacks, uint8_t **out, size_t *outlen,
                uint8_t id[static CF_ID_BYTES])
{
	uint8_t ad[AD_BYTES];
	struct cf_buf plain;
	uint8_t *obj = NULL;
	size_t plain_len = 0;
	size_t len = 0;
	int rc;

	*out = NULL;
	*outlen = 0;
	cf_buf_init_secret(&plain, INDEX_MAX);
	if ((rc = encode_size(packs, npacks, &plain_len)) != 0)
		goto out;
	if ((rc = cf_buf_reserve(&plain, plain_len)) != 0 ||
	    (rc = encode_plain(&plain, packs, npacks)) != 0)
		goto out;
	CF_ASSERT(plain.len == plain_len);
	len = PREFIX_BYTES + CF_AEAD_OVERHEAD + plain_len;
	if ((obj = cf_malloc(len)) == NULL) {
		rc = CF_ENOMEM;
		goto out;
	}
	memcpy(obj, magic, sizeof(magic));
	obj[4] = KIND_INDEX;
	obj[5] = FORMAT_V1;
	obj[6] = 0;
	obj[7] = 0;
	make_ad(ad, repo_id, obj);
	cf_aead_seal(obj + PREFIX_BYTES, k_index, plain.p, plain.len, ad, sizeof(ad));
	cf_hash(id, obj, len);
	*out = obj;
	*outlen = len;
	obj = NULL;
out:
	cf_free(obj);
	cf_buf_release(&plain);
	return rc;
}

/* The 8-byte prefix of an index object: magic, kind 4, version 1, zero. */
static int
prefix_check(const uint8_t p[static PREFIX_BYTES])
{
	struct cf_reader r;

	cf_reader_init(&r, p, PREFIX_BYTES);
	return cf_reader_prefix(&r, KIND_INDEX);
}

/*
 * One pack record. Its count is checked against the per-pack limit, the object's running
 * total and the bytes present before it sizes the entry array.
 */
static int
parse_pack(struct cf_reader *r, struct cf_index_pack *p, size_t *total)
{
	uint32_t count = 0;
	int rc;

	if ((rc = cf_reader_copy(r, p->id, CF_ID_BYTES)) != 0 ||
	    (rc = cf_reader_u64be(r, &p->len)) != 0 || (rc = cf_reader_u32be(r, &count)) != 0)
		return rc;
	if (count == 0)
		return CF_EFORMAT;
	if (count > CF_PACK_MAX_ENTRIES || count > CF_INDEX_MAX_ENTRIES - *total)
		return CF_ETOOBIG;
	if (r->left / CF_PACK_ENTRY_BYTES < count)
		return CF_ETRUNC;
	if ((p->entries = cf_calloc(count, sizeof(*p->entries))) == NULL)
		return CF_ENOMEM;
	p->count = count;
	*total += count;
	for (size_t i = 0; i < count; i++)
		if ((rc = cf_pack_entry_get(r, &p->entries[i])) != 0)
			return rc;
	return pack_valid(p->len, p->entries, p->count);
}

int
cf_index_parse_plain(const uint8_t *plain, size_t len, struct cf_index_pack **packs, size_t *npacks)
{
	struct cf_index_pack *p = NULL;
	struct cf_reader r;
	uint32_t n = 0;
	size_t total = 0;
	int rc;

	*packs = NULL;
	*npacks = 0;
	cf_reader_init(&r, plain, len);
	if ((rc = cf_reader_u32be(&r, &n)) != 0)
		return rc;
	if (n == 0)
		return CF_EFORMAT;
	if (n > CF_INDEX_MAX_PACKS)
		return CF_ETOOBIG;
	/* Every pack record takes at least one entry's bytes. */
	if (r.left / (PACK_HEAD_BYTES + CF_PACK_ENTRY_BYTES) < n)
		return CF_ETRUNC;
	if ((p = cf_calloc(n, sizeof(*p))) == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; i < n; i++)
		if ((rc = parse_pack(&r, &p[i], &total)) != 0)
			goto out;
	if ((rc = cf_reader_end(&r)) != 0)
		goto out;
	*packs = p;
	*npacks = n;
	p = NULL;
out:
	cf_index_packs_free(p, n);
	return rc;
}

int
cf_index_decode(const struct cf_key *k_index, const uint8_t repo_id[static 32], const uint8_t *obj,
                size_t len, struct cf_index_pack **packs, size_t *npacks)
{
	uint8_t ad[AD_BYTES];
	const uint8_t *prefix = NULL;
	const uint8_t *c = NULL;
	uint8_t *plain = NULL;
	size_t plen = 0;
	struct cf_reader r;
	int rc;

	*packs = NULL;
	*npacks = 0;
	if (len > INDEX_MAX)
		return CF_ETOOBIG;
	cf_reader_init(&r, obj, len);
	if ((rc = cf_reader_view(&r, PREFIX_BYTES, &prefix)) != 0 ||
	    (rc = prefix_check(prefix)) != 0)
		return rc;
	if (r.left < CF_AEAD_OVERHEAD)
		return CF_ETRUNC;
	plen = r.left - CF_AEAD_OVERHEAD;
	if ((rc = cf_reader_view(&r, r.left, &c)) != 0)
		return rc;
	if ((plain = cf_malloc(plen)) == NULL)
		return CF_ENOMEM;
	make_ad(ad, repo_id, prefix);
	if (cf_aead_open(plain, k_index, c, plen + CF_AEAD_OVERHEAD, ad, sizeof(ad)) != 0) {
		rc = CF_EAUTH;
		goto out;
	}
	rc = cf_index_parse_plain(plain, plen, packs, npacks);
out:
	cf_free_wipe(plain, plen);
	return rc;
}

void
cf_index_packs_free(struct cf_index_pack *packs, size_t npacks)
{
	if (packs == NULL)
		return;
	for (size_t i = 0; i < npacks; i++)
		cf_free(packs[i].entries);
	cf_free(packs);
}
