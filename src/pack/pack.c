/*
 * pack.c - packs: blobs sealed under a per-pack key, an encrypted header listing them, random
 * padding to a Padmé length and a trailer that locates the header (docs/format.md section 5).
 */
#include "pack.h"

#include <string.h>

#include "../base/base.h"
#include "../buf/buf.h"
#include "../compress/compress.h"
#include "../reader/reader.h"

#define PREFIX_BYTES     8
#define KIND_PACK        3
#define FORMAT_V1        1
#define WRAPPED_BYTES    (CF_KEY_BYTES + CF_WRAP_OVERHEAD)
#define TRAILER_PLAIN    12 /* header_off u64 || header_len u32 */
#define HDR_PLAIN_MIN    (4 + CF_PACK_ENTRY_BYTES)
#define HDR_PLAIN_MAX    (4 + (size_t)CF_PACK_ENTRY_BYTES * CF_PACK_MAX_ENTRIES)
#define ENTRIES_INIT_CAP 64
/* The header's limits as size_t, so comparisons need no implicit widening. */
#define PACK_MAX     ((size_t)CF_PACK_MAX_BYTES)
#define TREE_RAW_MAX ((size_t)CF_TREE_RAW_MAX)

static_assert(CF_PACK_HEAD_BYTES == PREFIX_BYTES + 4 + WRAPPED_BYTES, "pack head layout");
static_assert(CF_PACK_TRAILER_BYTES == CF_AEAD_OVERHEAD + TRAILER_PLAIN, "pack trailer layout");
static_assert(CF_PACK_ENTRY_BYTES == 1 + 1 + CF_ID_BYTES + 4 + 4 + 4, "pack entry layout");

static const char magic[4] = {'C', 'O', 'F', 'R'};
static const char label_pk[] = "coffer.v1.pack-key";
static const char label_blob[] = "coffer.v1.blob";
static const char label_hdr[] = "coffer.v1.pack-header";
static const char label_tr[] = "coffer.v1.pack-trailer";

#define LABEL_LEN(l)  (sizeof(l) - 1)
#define AD_PK_BYTES   (LABEL_LEN(label_pk) + 32 + PREFIX_BYTES + 4)
#define AD_BLOB_BYTES (LABEL_LEN(label_blob) + 32 + 1 + 1 + 4 + CF_ID_BYTES)
#define AD_HDR_BYTES  (LABEL_LEN(label_hdr) + 32)
#define AD_TR_BYTES   (LABEL_LEN(label_tr) + 32 + 8)

/*
 * Two modes: in memory the pack grows in @pack; streamed, each piece is sealed into
 * @scratch (reused, so a backup touches no fresh memory per pack) and handed to the sink,
 * and the pack id is hashed on the way.
 */
struct cf_pack_writer {
	uint8_t repo_id[32];
	struct cf_key *key;
	struct cf_buf pack; /* in memory: the pack from offset 0 up to the end of the last blob */
	cf_pack_sink_fn *sink; /* streamed: where the bytes go; NULL in memory */
	void *sink_arg;
	struct cf_hash_ctx *hash; /* streamed: SHA-256 of the bytes sent so far */
	struct cf_buf scratch;    /* streamed: the piece being sealed */
	uint64_t len;             /* bytes of the pack so far */
	struct cf_pack_entry *entries;
	size_t n;
	size_t cap;
	size_t blob_bytes; /* stored bytes of the blobs added so far */
	bool finished;
	bool broken; /* streamed: a start or a write failed, the pack is lost */
};

/* floor(log2(v)) for v >= 1. */
static unsigned
log2_u64(uint64_t v)
{
	unsigned n = 0;

	while (v > 1) {
		v >>= 1;
		n++;
	}
	return n;
}

uint64_t
cf_padme(uint64_t len)
{
	unsigned e;
	unsigned s;
	uint64_t mask;

	if (len < 2)
		return len;
	e = log2_u64(len);
	s = log2_u64(e) + 1;
	mask = (UINT64_C(1) << (e - s)) - 1;
	/* Only lengths within 2^57 of 2^64 would overflow; no caller comes near. */
	if (len > UINT64_MAX - mask)
		return UINT64_MAX;
	return (len + mask) & ~mask;
}

/* The whole pack's length once a header for @count entries follows blobs ending at @blob_end. */
static uint64_t
pack_total(uint64_t blob_end, size_t count)
{
	uint64_t hdr = CF_AEAD_OVERHEAD + 4 + (uint64_t)count * CF_PACK_ENTRY_BYTES;

	return cf_padme(blob_end + hdr + CF_PACK_TRAILER_BYTES);
}

int
cf_pack_entry_valid(const struct cf_pack_entry *e)
{
	uint64_t payload;

	if (e->type != CF_BLOB_DATA && e->type != CF_BLOB_TREE)
		return CF_EFORMAT;
	if (e->raw_len == 0 ||
	    e->raw_len > (e->type == CF_BLOB_DATA ? CF_DATA_RAW_MAX : CF_TREE_RAW_MAX))
		return CF_EFORMAT;
	if (e->stored_len <= CF_BLOB_OVERHEAD)
		return CF_EFORMAT;
	payload = e->stored_len - CF_BLOB_OVERHEAD;
	/* A frame is stored only when it is smaller than the plaintext (format.md 5.1). */
	if (e->comp == 0)
		return payload == e->raw_len ? 0 : CF_EFORMAT;
	if (e->comp == 1)
		return payload < e->raw_len ? 0 : CF_EFORMAT;
	return CF_EFORMAT;
}

int
cf_pack_entries_check(const struct cf_pack_entry *e, size_t n, uint64_t end)
{
	uint64_t pos = CF_PACK_HEAD_BYTES;

	for (size_t i = 0; i < n; i++) {
		if (e[i].offset < pos || (uint64_t)e[i].offset + e[i].stored_len > end)
			return CF_EFORMAT;
		pos = (uint64_t)e[i].offset + e[i].stored_len;
	}
	return 0;
}

int
cf_pack_entry_put(struct cf_buf *b, const struct cf_pack_entry *e)
{
	int rc;

	if ((rc = cf_buf_u8(b, e->type)) != 0 || (rc = cf_buf_u8(b, e->comp)) != 0 ||
	    (rc = cf_buf_put(b, e->id, CF_ID_BYTES)) != 0 ||
	    (rc = cf_buf_u32be(b, e->offset)) != 0 || (rc = cf_buf_u32be(b, e->stored_len)) != 0 ||
	    (rc = cf_buf_u32be(b, e->raw_len)) != 0)
		return rc;
	return 0;
}

int
cf_pack_entry_get(struct cf_reader *r, struct cf_pack_entry *e)
{
	int rc;

	if ((rc = cf_reader_u8(r, &e->type)) != 0 || (rc = cf_reader_u8(r, &e->comp)) != 0 ||
	    (rc = cf_reader_copy(r, e->id, CF_ID_BYTES)) != 0 ||
	    (rc = cf_reader_u32be(r, &e->offset)) != 0 ||
	    (rc = cf_reader_u32be(r, &e->stored_len)) != 0 ||
	    (rc = cf_reader_u32be(r, &e->raw_len)) != 0)
		return rc;
	return 0;
}

/* AD_pk = "coffer.v1.pack-key" || repo_id || bytes 0..11 of the pack. */
static void
ad_pk(uint8_t ad[static AD_PK_BYTES], const uint8_t repo_id[static 32],
      const uint8_t head[static PREFIX_BYTES + 4])
{
	memcpy(ad, label_pk, LABEL_LEN(label_pk));
	memcpy(ad + LABEL_LEN(label_pk), repo_id, 32);
	memcpy(ad + LABEL_LEN(label_pk) + 32, head, PREFIX_BYTES + 4);
}

/* AD_blob = "coffer.v1.blob" || repo_id || type u8 || comp u8 || raw_len u32 || id. */
static void
ad_blob(uint8_t ad[static AD_BLOB_BYTES], const uint8_t repo_id[static 32],
        const struct cf_pack_entry *e)
{
	uint8_t *p = ad;

	memcpy(p, label_blob, LABEL_LEN(label_blob));
	p += LABEL_LEN(label_blob);
	memcpy(p, repo_id, 32);
	p += 32;
	*p++ = e->type;
	*p++ = e->comp;
	cf_put_u32be(p, e->raw_len);
	p += 4;
	memcpy(p, e->id, CF_ID_BYTES);
}

/* AD_hdr = "coffer.v1.pack-header" || repo_id. */
static void
ad_hdr(uint8_t ad[static AD_HDR_BYTES], const uint8_t repo_id[static 32])
{
	memcpy(ad, label_hdr, LABEL_LEN(label_hdr));
	memcpy(ad + LABEL_LEN(label_hdr), repo_id, 32);
}

/* AD_tr = "coffer.v1.pack-trailer" || repo_id || T u64. */
static void
ad_tr(uint8_t ad[static AD_TR_BYTES], const uint8_t repo_id[static 32], uint64_t total)
{
	memcpy(ad, label_tr, LABEL_LEN(label_tr));
	memcpy(ad + LABEL_LEN(label_tr), repo_id, 32);
	cf_put_u64be(ad + LABEL_LEN(label_tr) + 32, total);
}

/*
 * Room for the next @n bytes of the pack: at its end in memory, or in the scratch buffer
 * when streamed. put_space() then takes them into the pack.
 */
static int
get_space(struct cf_pack_writer *w, size_t n, uint8_t **p)
{
	if (w->sink == NULL)
		return cf_buf_append_space(&w->pack, n, p);
	cf_buf_reset(&w->scratch);
	return cf_buf_append_space(&w->scratch, n, p);
}

/* Streamed, a failed write loses the pack: the sink's state is unknown. */
static int
put_space(struct cf_pack_writer *w, size_t n)
{
	int rc;

	if (w->sink != NULL) {
		if ((rc = w->sink(w->sink_arg, w->scratch.p, n)) != 0) {
			w->broken = true;
			return rc;
		}
		cf_hash_ctx_update(w->hash, w->scratch.p, n);
	}
	w->len += n;
	return 0;
}

/* prefix (kind 3) || epoch || Wrap(dk_pub, AD_pk, pack_key): the first 116 bytes. */
static int
put_head(struct cf_pack_writer *w, uint32_t epoch, const uint8_t dk_pub[static CF_BOX_PK_BYTES])
{
	uint8_t ad[AD_PK_BYTES];
	uint8_t *head = NULL;
	int rc;

	if ((rc = get_space(w, CF_PACK_HEAD_BYTES, &head)) != 0)
		return rc;
	memcpy(head, magic, sizeof(magic));
	head[4] = KIND_PACK;
	head[5] = FORMAT_V1;
	head[6] = 0;
	head[7] = 0;
	cf_put_u32be(head + PREFIX_BYTES, epoch);
	ad_pk(ad, w->repo_id, head);
	if ((rc = cf_wrap(head + PREFIX_BYTES + 4, dk_pub, ad, sizeof(ad), cf_key_view(w->key),
	                  CF_KEY_BYTES)) != 0)
		return rc;
	return put_space(w, CF_PACK_HEAD_BYTES);
}

/* A new pack key, and the head. */
static int
begin(struct cf_pack_writer *w, uint32_t epoch, const uint8_t dk_pub[static CF_BOX_PK_BYTES])
{
	int rc;

	if ((rc = cf_key_new_random(&w->key)) != 0)
		return rc;
	if (w->sink != NULL && (rc = cf_hash_ctx_new(&w->hash)) != 0)
		return rc;
	return put_head(w, epoch, dk_pub);
}

/* A writer with no pack started yet; NULL when out of memory. */
static struct cf_pack_writer *
writer_alloc(const uint8_t repo_id[static 32])
{
	struct cf_pack_writer *w = cf_calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	memcpy(w->repo_id, repo_id, 32);
	cf_buf_init(&w->pack, PACK_MAX);
	cf_buf_init(&w->scratch, PACK_MAX);
	return w;
}

int
cf_pack_writer_new(const uint8_t repo_id[static 32], uint32_t epoch,
                   const uint8_t dk_pub[static CF_BOX_PK_BYTES], struct cf_pack_writer **out)
{
	struct cf_pack_writer *w = NULL;
	int rc = CF_ENOMEM;

	*out = NULL;
	if ((w = writer_alloc(repo_id)) == NULL)
		goto out;
	if ((rc = begin(w, epoch, dk_pub)) != 0)
		goto out;
	*out = w;
	w = NULL;
out:
	cf_pack_writer_free(w);
	return rc;
}

int
cf_pack_writer_new_stream(const uint8_t repo_id[static 32], uint32_t epoch,
                          const uint8_t dk_pub[static CF_BOX_PK_BYTES], cf_pack_sink_fn *sink,
                          void *arg, struct cf_pack_writer **out)
{
	struct cf_pack_writer *w = NULL;
	int rc;

	*out = NULL;
	if ((w = writer_alloc(repo_id)) == NULL)
		return CF_ENOMEM;
	if ((rc = cf_pack_writer_restart(w, epoch, dk_pub, sink, arg)) != 0) {
		cf_pack_writer_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

int
cf_pack_writer_restart(struct cf_pack_writer *w, uint32_t epoch,
                       const uint8_t dk_pub[static CF_BOX_PK_BYTES], cf_pack_sink_fn *sink,
                       void *arg)
{
	int rc;

	if (sink == NULL || (w->sink == NULL && w->len > 0))
		cf_misuse("cf_pack_writer_restart: not a streamed writer");
	cf_key_free(w->key);
	w->key = NULL;
	cf_hash_ctx_free(w->hash);
	w->hash = NULL;
	w->sink = sink;
	w->sink_arg = arg;
	w->len = 0;
	w->n = 0;
	w->blob_bytes = 0;
	w->finished = false;
	w->broken = true; /* until the head is out */
	if ((rc = begin(w, epoch, dk_pub)) != 0)
		return rc;
	w->broken = false;
	return 0;
}

void
cf_pack_writer_free(struct cf_pack_writer *w)
{
	if (w == NULL)
		return;
	cf_key_free(w->key);
	cf_hash_ctx_free(w->hash);
	cf_buf_release(&w->pack);
	cf_buf_release(&w->scratch);
	cf_free(w->entries);
	cf_free(w);
}

size_t
cf_pack_writer_bytes(const struct cf_pack_writer *w)
{
	return w->blob_bytes;
}

size_t
cf_pack_writer_count(const struct cf_pack_writer *w)
{
	return w->n;
}

const struct cf_pack_entry *
cf_pack_writer_entries(const struct cf_pack_writer *w, size_t *n)
{
	*n = w->n;
	return w->entries;
}

/* Room for one more entry; the array doubles. */
static int
entries_reserve(struct cf_pack_writer *w)
{
	struct cf_pack_entry *ne = NULL;
	size_t ncap;
	size_t sz;

	if (w->n < w->cap)
		return 0;
	ncap = w->cap == 0 ? ENTRIES_INIT_CAP : w->cap * 2;
	if (cf_size_mul(ncap, sizeof(*ne), &sz) != 0)
		return CF_ENOMEM;
	if ((ne = cf_realloc(w->entries, sz)) == NULL)
		return CF_ENOMEM;
	w->entries = ne;
	w->cap = ncap;
	return 0;
}

int
cf_pack_writer_add(struct cf_pack_writer *w, uint8_t type, uint8_t comp,
                   const uint8_t id[static CF_ID_BYTES], uint32_t raw_len, const uint8_t *payload,
                   size_t len)
{
	struct cf_pack_entry e = {.type = type, .comp = comp, .raw_len = raw_len};
	uint8_t ad[AD_BLOB_BYTES];
	uint8_t *dst = NULL;
	int rc;

	if (w->finished || w->broken || len > TREE_RAW_MAX)
		return CF_EINVAL;
	memcpy(e.id, id, CF_ID_BYTES);
	e.offset = (uint32_t)w->len; /* < CF_PACK_MAX_BYTES, checked by the last add */
	e.stored_len = (uint32_t)(len + CF_BLOB_OVERHEAD);
	if (cf_pack_entry_valid(&e) != 0)
		return CF_EINVAL;
	if (w->n >= CF_PACK_MAX_ENTRIES ||
	    pack_total((uint64_t)e.offset + e.stored_len, w->n + 1) > PACK_MAX)
		return CF_ETOOBIG;
	if ((rc = entries_reserve(w)) != 0)
		return rc;
	if ((rc = get_space(w, e.stored_len, &dst)) != 0)
		return rc;
	ad_blob(ad, w->repo_id, &e);
	cf_aead_seal(dst, w->key, payload, len, ad, sizeof(ad));
	if ((rc = put_space(w, e.stored_len)) != 0)
		return rc;
	w->entries[w->n++] = e;
	w->blob_bytes += e.stored_len;
	return 0;
}

/* header_plain: count u32 || count x entry. */
static int
header_plain(const struct cf_pack_writer *w, struct cf_buf *hp)
{
	int rc;

	if ((rc = cf_buf_u32be(hp, (uint32_t)w->n)) != 0)
		return rc;
	for (size_t i = 0; i < w->n; i++)
		if ((rc = cf_pack_entry_put(hp, &w->entries[i])) != 0)
			return rc;
	return 0;
}

/*
 * Append header, padding and trailer. Room for all of it is made in one step first, so
 * nothing after it can fail (but a streamed write) and a failed finish leaves an in-memory
 * writer as it was.
 */
static int
seal_tail(struct cf_pack_writer *w, const struct cf_buf *hp)
{
	uint64_t header_off = w->len;
	size_t header_len = hp->len + CF_AEAD_OVERHEAD;
	uint64_t total = pack_total(header_off, w->n);
	uint8_t tr[TRAILER_PLAIN];
	uint8_t ad_h[AD_HDR_BYTES];
	uint8_t ad_t[AD_TR_BYTES];
	uint8_t *p = NULL;
	size_t pad;
	int rc;

	/* cf_pack_writer_add() kept the padded total within CF_PACK_MAX_BYTES. */
	CF_ASSERT(total <= PACK_MAX);
	pad = (size_t)(total - header_off) - header_len - CF_PACK_TRAILER_BYTES;
	if ((rc = get_space(w, (size_t)(total - header_off), &p)) != 0)
		return rc;
	ad_hdr(ad_h, w->repo_id);
	cf_aead_seal(p, w->key, hp->p, hp->len, ad_h, sizeof(ad_h));
	p += header_len;
	cf_random(p, pad);
	p += pad;
	cf_put_u64be(tr, header_off);
	cf_put_u32be(tr + 8, (uint32_t)header_len);
	ad_tr(ad_t, w->repo_id, total);
	cf_aead_seal(p, w->key, tr, sizeof(tr), ad_t, sizeof(ad_t));
	return put_space(w, (size_t)(total - header_off));
}

/* Header, padding and trailer, for either mode. */
static int
finish(struct cf_pack_writer *w)
{
	struct cf_buf hp;
	int rc;

	cf_buf_init_secret(&hp, HDR_PLAIN_MAX);
	if (w->finished || w->broken || w->n == 0) {
		rc = CF_EINVAL;
		goto out;
	}
	if ((rc = header_plain(w, &hp)) != 0)
		goto out;
	rc = seal_tail(w, &hp);
out:
	cf_buf_release(&hp);
	return rc;
}

int
cf_pack_writer_finish(struct cf_pack_writer *w, uint8_t **pack, size_t *len,
                      uint8_t id[static CF_ID_BYTES])
{
	int rc;

	*pack = NULL;
	*len = 0;
	if (w->sink != NULL)
		cf_misuse("cf_pack_writer_finish: a streamed writer");
	if ((rc = finish(w)) != 0)
		return rc;
	cf_hash(id, w->pack.p, w->pack.len);
	cf_buf_detach(&w->pack, pack, len);
	w->finished = true;
	return 0;
}

int
cf_pack_writer_finish_stream(struct cf_pack_writer *w, uint64_t *len,
                             uint8_t id[static CF_ID_BYTES])
{
	int rc;

	*len = 0;
	if (w->sink == NULL)
		cf_misuse("cf_pack_writer_finish_stream: an in-memory writer");
	if ((rc = finish(w)) != 0)
		return rc;
	cf_hash_ctx_final(w->hash, id);
	*len = w->len;
	w->finished = true;
	return 0;
}

/* The 8-byte object prefix of a pack: magic, kind 3, version 1, zero. */
static int
prefix_get(struct cf_reader *r)
{
	return cf_reader_prefix(r, KIND_PACK);
}

/* Parse the head: prefix and epoch, and a view of the wrapped key. */
static int
head_get(const uint8_t *head, size_t len, uint32_t *epoch, const uint8_t **wrapped)
{
	struct cf_reader r;
	int rc;

	*epoch = 0;
	*wrapped = NULL;
	if (len < CF_PACK_HEAD_BYTES)
		return CF_ETRUNC;
	cf_reader_init(&r, head, CF_PACK_HEAD_BYTES);
	if ((rc = prefix_get(&r)) != 0 || (rc = cf_reader_u32be(&r, epoch)) != 0 ||
	    (rc = cf_reader_view(&r, WRAPPED_BYTES, wrapped)) != 0)
		return rc;
	return cf_reader_end(&r);
}

int
cf_pack_head_epoch(const uint8_t *head, size_t len, uint32_t *epoch)
{
	const uint8_t *wrapped = NULL;

	return head_get(head, len, epoch, &wrapped);
}

int
cf_pack_open_key(const uint8_t *head, size_t len, const uint8_t repo_id[static 32],
                 const struct cf_boxkey *dk, struct cf_key **pack_key)
{
	const uint8_t *wrapped = NULL;
	uint8_t ad[AD_PK_BYTES];
	uint32_t epoch = 0;
	int rc;

	*pack_key = NULL;
	if ((rc = head_get(head, len, &epoch, &wrapped)) != 0)
		return rc;
	ad_pk(ad, repo_id, head);
	return cf_unwrap_key(dk, ad, sizeof(ad), wrapped, WRAPPED_BYTES, pack_key);
}

int
cf_pack_header_parse(const uint8_t *plain, size_t len, uint64_t blob_end,
                     struct cf_pack_entry **entries, size_t *n)
{
	struct cf_pack_entry *e = NULL;
	struct cf_reader r;
	uint32_t count = 0;
	int rc;

	*entries = NULL;
	*n = 0;
	cf_reader_init(&r, plain, len);
	if ((rc = cf_reader_u32be(&r, &count)) != 0)
		goto out;
	if (count == 0 || count > CF_PACK_MAX_ENTRIES) {
		rc = count == 0 ? CF_EFORMAT : CF_ETOOBIG;
		goto out;
	}
	/* The count must match the bytes present before it sizes an allocation. */
	if (r.left / CF_PACK_ENTRY_BYTES < count) {
		rc = CF_ETRUNC;
		goto out;
	}
	if (r.left != (size_t)count * CF_PACK_ENTRY_BYTES) {
		rc = CF_EFORMAT;
		goto out;
	}
	if ((e = cf_calloc(count, sizeof(*e))) == NULL) {
		rc = CF_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		if ((rc = cf_pack_entry_get(&r, &e[i])) != 0 ||
		    (rc = cf_pack_entry_valid(&e[i])) != 0)
			goto out;
	}
	if ((rc = cf_pack_entries_check(e, count, blob_end)) != 0 || (rc = cf_reader_end(&r)) != 0)
		goto out;
	*entries = e;
	*n = count;
	e = NULL;
out:
	cf_free(e);
	return rc;
}

/*
 * Open the trailer (bound to the total length @len) and check the header location it gives:
 * after the head, inside the pack, before the trailer, and of a length a header can have.
 */
int
cf_pack_locate_header(const uint8_t trailer[static CF_PACK_TRAILER_BYTES], uint64_t len,
                      const uint8_t repo_id[static 32], const struct cf_key *key,
                      uint64_t *header_off, uint32_t *header_len)
{
	uint8_t ad[AD_TR_BYTES];
	uint8_t tr[TRAILER_PLAIN];
	const uint8_t *c = trailer;
	uint64_t off = 0;
	uint32_t hlen = 0;

	*header_off = 0;
	*header_len = 0;
	if (len > PACK_MAX)
		return CF_ETOOBIG;
	if (len < CF_PACK_HEAD_BYTES + CF_PACK_TRAILER_BYTES)
		return CF_EFORMAT;
	ad_tr(ad, repo_id, len);
	if (cf_aead_open(tr, key, c, CF_PACK_TRAILER_BYTES, ad, sizeof(ad)) != 0)
		return CF_EAUTH;
	off = cf_get_u64be(tr);
	hlen = cf_get_u32be(tr + 8);
	if (hlen < HDR_PLAIN_MIN + CF_AEAD_OVERHEAD || hlen > HDR_PLAIN_MAX + CF_AEAD_OVERHEAD ||
	    off < CF_PACK_HEAD_BYTES || off > len - CF_PACK_TRAILER_BYTES ||
	    hlen > len - CF_PACK_TRAILER_BYTES - off)
		return CF_EFORMAT;
	/* The padding is exactly what Padmé adds: nothing else hides between header and trailer. */
	if (cf_padme(off + hlen + CF_PACK_TRAILER_BYTES) != len)
		return CF_EFORMAT;
	*header_off = off;
	*header_len = hlen;
	return 0;
}

int
cf_pack_read_header(const uint8_t *pack, size_t len, const uint8_t repo_id[static 32],
                    const struct cf_key *pack_key, struct cf_pack_entry **entries, size_t *n)
{
	const uint8_t *c = NULL;
	uint64_t header_off = 0;
	uint32_t header_len = 0;
	struct cf_reader r;
	int rc;

	*entries = NULL;
	*n = 0;
	if (len > PACK_MAX)
		return CF_ETOOBIG;
	if (len < CF_PACK_HEAD_BYTES + CF_PACK_TRAILER_BYTES)
		return CF_EFORMAT;
	if ((rc = cf_pack_locate_header(pack + len - CF_PACK_TRAILER_BYTES, len, repo_id, pack_key,
	                                &header_off, &header_len)) != 0)
		return rc;
	cf_reader_init(&r, pack, len);
	if ((rc = cf_reader_skip(&r, (size_t)header_off)) != 0 ||
	    (rc = cf_reader_view(&r, header_len, &c)) != 0)
		return rc;
	return cf_pack_open_header(c, header_len, header_off, repo_id, pack_key, entries, n);
}

int
cf_pack_open_header(const uint8_t *header, size_t header_len, uint64_t header_off,
                    const uint8_t repo_id[static 32], const struct cf_key *pack_key,
                    struct cf_pack_entry **entries, size_t *n)
{
	uint8_t ad[AD_HDR_BYTES];
	uint8_t *plain = NULL;
	size_t plen = 0;
	int rc;

	*entries = NULL;
	*n = 0;
	if (header_len < CF_AEAD_OVERHEAD)
		return CF_EFORMAT;
	plen = header_len - CF_AEAD_OVERHEAD;
	if ((plain = cf_malloc(plen > 0 ? plen : 1)) == NULL)
		return CF_ENOMEM;
	ad_hdr(ad, repo_id);
	if (cf_aead_open(plain, pack_key, header, header_len, ad, sizeof(ad)) != 0) {
		rc = CF_EAUTH;
		goto out;
	}
	rc = cf_pack_header_parse(plain, plen, header_off, entries, n);
out:
	cf_free_wipe(plain, plen);
	return rc;
}

/* Payload of a comp = 1 blob: open into scratch, then decompress into @out. */
static int
open_compressed(const struct cf_key *key, const uint8_t *ad, const struct cf_pack_entry *e,
                const uint8_t *stored, struct cf_zctx *z, uint8_t *out)
{
	size_t plen = e->stored_len - CF_BLOB_OVERHEAD;
	uint8_t *frame = NULL;
	int rc;

	CF_ASSERT(z != NULL);
	if ((frame = cf_malloc(plen)) == NULL)
		return CF_ENOMEM;
	if ((rc = cf_aead_open(frame, key, stored, e->stored_len, ad, AD_BLOB_BYTES)) != 0)
		rc = CF_EAUTH;
	else if (cf_decompress(z, frame, plen, out, e->raw_len) != 0)
		rc = CF_EFORMAT;
	cf_free_wipe(frame, plen);
	return rc;
}

int
cf_blob_open(const struct cf_key *pack_key, const uint8_t repo_id[static 32],
             const struct cf_pack_entry *e, const uint8_t *stored, size_t stored_len,
             struct cf_zctx *z, const struct cf_key *k_id, uint8_t *out)
{
	uint8_t ad[AD_BLOB_BYTES];
	uint8_t mac[CF_ID_BYTES];
	int rc;

	if (stored_len != e->stored_len)
		return stored_len < e->stored_len ? CF_ETRUNC : CF_EFORMAT;
	if (cf_pack_entry_valid(e) != 0)
		return CF_EFORMAT;
	ad_blob(ad, repo_id, e);
	/* A plain payload is exactly raw_len bytes: open it straight into @out. */
	if (e->comp == 0)
		rc = cf_aead_open(out, pack_key, stored, stored_len, ad, sizeof(ad));
	else
		rc = open_compressed(pack_key, ad, e, stored, z, out);
	if (rc != 0)
		goto out;
	cf_mac(mac, k_id, out, e->raw_len);
	if (!cf_ct_eq(mac, e->id, CF_ID_BYTES))
		rc = CF_EAUTH;
out:
	if (rc != 0)
		cf_wipe(out, e->raw_len);
	return rc;
}

int
cf_blob_open_payload(const struct cf_key *pack_key, const uint8_t repo_id[static 32],
                     const struct cf_pack_entry *e, const uint8_t *stored, size_t stored_len,
                     struct cf_zctx *z, const struct cf_key *k_id, uint8_t **payload, size_t *len)
{
	uint8_t ad[AD_BLOB_BYTES];
	uint8_t mac[CF_ID_BYTES];
	uint8_t *p = NULL;
	uint8_t *raw = NULL;
	size_t n = 0;
	int rc = 0;

	*payload = NULL;
	*len = 0;
	if (stored_len != e->stored_len)
		return stored_len < e->stored_len ? CF_ETRUNC : CF_EFORMAT;
	if (cf_pack_entry_valid(e) != 0)
		return CF_EFORMAT;
	n = e->stored_len - CF_BLOB_OVERHEAD;
	if ((p = cf_malloc(n)) == NULL)
		return CF_ENOMEM;
	ad_blob(ad, repo_id, e);
	if (cf_aead_open(p, pack_key, stored, stored_len, ad, sizeof(ad)) != 0) {
		rc = CF_EAUTH;
		goto out;
	}
	raw = p;
	if (e->comp != 0) {
		CF_ASSERT(z != NULL);
		if ((raw = cf_malloc(e->raw_len)) == NULL) {
			rc = CF_ENOMEM;
			goto out;
		}
		if (cf_decompress(z, p, n, raw, e->raw_len) != 0) {
			rc = CF_EFORMAT;
			goto out;
		}
	}
	cf_mac(mac, k_id, raw, e->raw_len);
	if (!cf_ct_eq(mac, e->id, CF_ID_BYTES))
		rc = CF_EAUTH;
out:
	if (raw != p)
		cf_free_wipe(raw, e->raw_len);
	if (rc != 0) {
		cf_free_wipe(p, n);
		return rc;
	}
	*payload = p;
	*len = n;
	return 0;
}
