/*
 * chunk.c - keyed FastCDC with normalized chunking (docs/format.md section 4).
 */
#include "chunk.h"

#include <string.h>

#include "../base/base.h"
#include "../crypto/crypto.h"

#define GEAR_ENTRIES 256
#define GEAR_BYTES   (GEAR_ENTRIES * 8)

static const char gear_label[] = "coffer.v1.gear";

struct cf_chunker {
	uint64_t gear[GEAR_ENTRIES];
	uint64_t mask_s; /* i < avg: harder to cut (log2(avg) + 2 bits) */
	uint64_t mask_l; /* i >= avg: easier to cut (log2(avg) - 2 bits) */
	struct cf_chunk_params p;
};

static unsigned
log2_u32(uint32_t v)
{
	unsigned n = 0;

	while (v > 1) {
		v >>= 1;
		n++;
	}
	return n;
}

/* The top @bits bits of a u64 set: the FastCDC test looks at the oldest bytes of the window. */
static uint64_t
top_bits(unsigned bits)
{
	return ~UINT64_C(0) << (64 - bits);
}

int
cf_chunk_params_valid(const struct cf_chunk_params *p)
{
	if (p->min < 64 || p->min >= p->avg || p->avg >= p->max || p->max > CF_CHUNK_MAX_LIMIT)
		return CF_EFORMAT;
	if ((p->avg & (p->avg - 1)) != 0 || log2_u32(p->avg) < 8)
		return CF_EFORMAT;
	return 0;
}

/* gear[0..255]: the ChaCha20-IETF keystream of K_gear with a zero nonce, little-endian u64s. */
static void
gear_fill(uint64_t gear[static GEAR_ENTRIES], const struct cf_key *k_gear)
{
	uint8_t ks[GEAR_BYTES];

	cf_keystream(ks, sizeof(ks), k_gear);
	for (size_t i = 0; i < GEAR_ENTRIES; i++) {
		uint64_t v = 0;

		for (size_t j = 0; j < 8; j++)
			v |= (uint64_t)ks[i * 8 + j] << (8 * j);
		gear[i] = v;
	}
	cf_wipe(ks, sizeof(ks));
}

int
cf_chunker_new(const struct cf_key *ck, const struct cf_chunk_params *p, struct cf_chunker **out)
{
	struct cf_chunker *c = NULL;
	struct cf_key *k_gear = NULL;
	unsigned lg;
	int rc;

	*out = NULL;
	if ((rc = cf_chunk_params_valid(p)) != 0)
		return rc;
	if ((c = cf_calloc(1, sizeof(*c))) == NULL) {
		rc = CF_ENOMEM;
		goto out;
	}
	if ((rc = cf_kdf(ck, gear_label, &k_gear)) != 0)
		goto out;
	gear_fill(c->gear, k_gear);
	lg = log2_u32(p->avg);
	c->mask_s = top_bits(lg + 2);
	c->mask_l = top_bits(lg - 2);
	c->p = *p;
	*out = c;
	c = NULL;
out:
	cf_key_free(k_gear);
	cf_chunker_free(c);
	return rc;
}

void
cf_chunker_free(struct cf_chunker *c)
{
	cf_free_wipe(c, c == NULL ? 0 : sizeof(*c));
}

size_t
cf_chunker_max(const struct cf_chunker *c)
{
	return c->p.max;
}

uint64_t
cf_chunker_gear(const struct cf_chunker *c, uint8_t i)
{
	return c->gear[i];
}

/*
 * Roll the gear hash over data[i..end) and return the index just past the first position
 * where (h & mask) == 0, or 0 when there is none. The hot loop: one load, one shift-add and
 * one test per byte, with the hash kept in a register.
 */
static inline size_t
scan(const uint64_t *gear, const uint8_t *data, size_t i, size_t end, uint64_t mask, uint64_t *hp)
{
	uint64_t h = *hp;

	for (; i < end; i++) {
		h = (h << 1) + gear[data[i]];
		if ((h & mask) == 0) {
			*hp = h;
			return i + 1;
		}
	}
	*hp = h;
	return 0;
}

size_t
cf_chunker_cut(const struct cf_chunker *c, const uint8_t *data, size_t len)
{
	size_t end = len < c->p.max ? len : c->p.max;
	size_t mid = end < c->p.avg ? end : c->p.avg;
	uint64_t h = 0;
	size_t n;

	if (len <= c->p.min)
		return len;
	if ((n = scan(c->gear, data, c->p.min, mid, c->mask_s, &h)) != 0)
		return n;
	if ((n = scan(c->gear, data, mid, end, c->mask_l, &h)) != 0)
		return n;
	return end;
}

size_t
cf_chunker_cut_more(const struct cf_chunker *c, const uint8_t *data, size_t len, bool eof,
                    struct cf_cut_state *st)
{
	bool final = eof || len >= c->p.max;
	size_t end = len < c->p.max ? len : c->p.max;
	size_t mid = c->p.avg; /* the mask changes here, wherever the data ends */
	size_t i = st->pos > c->p.min ? st->pos : c->p.min;
	uint64_t h = st->pos > c->p.min ? st->h : 0;
	size_t n = 0;

	if (len <= c->p.min)
		return final ? len : 0;
	if (i < mid && i < end)
		n = scan(c->gear, data, i, mid < end ? mid : end, c->mask_s, &h);
	if (n == 0 && end > mid)
		n = scan(c->gear, data, i > mid ? i : mid, end, c->mask_l, &h);
	if (n != 0 || final) {
		memset(st, 0, sizeof(*st));
		return n != 0 ? n : end;
	}
	st->pos = end;
	st->h = h;
	return 0;
}
