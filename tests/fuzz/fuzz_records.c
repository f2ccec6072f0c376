/*
 * fuzz_records.c - libFuzzer harness for forget and prune records (docs/format.md 16.1, 16.3).
 * Whatever a parser accepts must keep the record's rules (counts in range, entries sorted and
 * unique, seq >= 1, the optional superseded list of forget records present only with
 * 1..4096 sorted, unique ids, entries + list not both empty) and re-encode to exactly the
 * bytes it was given: one encoding per record.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "buf/buf.h"
#include "retention/records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

/* The test_device signing key (tests/vectors/records.txt). */
static const uint8_t sign_pk[32] = {
        0x79, 0xb5, 0x56, 0x2e, 0x8f, 0xe6, 0x54, 0xf9, 0x40, 0x78, 0xb1,
        0x12, 0xe8, 0xa9, 0x8b, 0xa7, 0x90, 0x1f, 0x85, 0x3a, 0xe6, 0x95,
        0xbe, 0xd7, 0xe0, 0xe3, 0x91, 0x0b, 0xad, 0x04, 0x96, 0x64,
};

static bool
head_put(struct cf_buf *b, uint8_t kind, const uint8_t signer[32], int64_t time)
{
	const uint8_t prefix[8] = {'C', 'O', 'F', 'R', kind, 1, 0, 0};

	return cf_buf_put(b, prefix, sizeof(prefix)) == 0 && cf_buf_put(b, signer, 32) == 0 &&
	       cf_buf_i64be(b, time) == 0;
}

/* @b holds the re-encoded body: it must be the input less its signature. */
static bool
same_body(const struct cf_buf *b, const uint8_t *data, size_t len)
{
	return b->len + CF_SIG_BYTES == len && memcmp(b->p, data, b->len) == 0;
}

/* The optional list of 16.1: absent when nsup is 0, else nsup | nsup sorted, unique ids. */
static bool
superseded_put(struct cf_buf *b, const struct cf_forget_record *f)
{
	if (f->nsup == 0)
		return f->sup == NULL;
	if (f->nsup > CF_FORGET_MAX_SUP || f->sup == NULL ||
	    cf_buf_u32be(b, (uint32_t)f->nsup) != 0)
		return false;
	for (size_t i = 0; i < f->nsup; i++)
		if ((i > 0 && memcmp(f->sup[i - 1], f->sup[i], CF_ID_BYTES) >= 0) ||
		    cf_buf_put(b, f->sup[i], CF_ID_BYTES) != 0)
			return false;
	return true;
}

static bool
forget_ok(const struct cf_forget_record *f, const uint8_t *data, size_t len)
{
	struct cf_buf b;
	bool ok;

	if (f->count + f->nsup < 1 || f->count > CF_FORGET_MAX_ENTRIES ||
	    (f->count == 0) != (f->entries == NULL))
		return false;
	cf_buf_init(&b, CF_RECORD_MAX_BYTES);
	ok = head_put(&b, CF_FORGET_KIND, f->signer, f->time) &&
	     cf_buf_u32be(&b, (uint32_t)f->count) == 0;
	for (size_t i = 0; ok && i < f->count; i++) {
		const struct cf_forget_entry *e = &f->entries[i];
		const struct cf_forget_entry *p = i > 0 ? &f->entries[i - 1] : NULL;
		int c = p != NULL ? memcmp(p->device, e->device, CF_ID_BYTES) : -1;

		ok = e->seq >= 1 && (c < 0 || (c == 0 && p->seq < e->seq)) &&
		     cf_buf_put(&b, e->device, CF_ID_BYTES) == 0 && cf_buf_u64be(&b, e->seq) == 0 &&
		     cf_buf_put(&b, e->hash, CF_HASH_BYTES) == 0 &&
		     cf_buf_put(&b, e->prev, CF_HASH_BYTES) == 0;
	}
	ok = ok && superseded_put(&b, f) && same_body(&b, data, len);
	cf_buf_release(&b);
	return ok;
}

static bool
condemn_put(struct cf_buf *b, const struct cf_prune_record *p)
{
	if (p->count < 1 || p->count > CF_CONDEMN_MAX_PACKS || p->seqs != NULL ||
	    cf_buf_u32be(b, (uint32_t)p->count) != 0)
		return false;
	for (size_t i = 0; i < p->count; i++)
		if ((i > 0 && memcmp(p->packs[i - 1], p->packs[i], CF_ID_BYTES) >= 0) ||
		    cf_buf_put(b, p->packs[i], CF_ID_BYTES) != 0)
			return false;
	return true;
}

static bool
observe_put(struct cf_buf *b, const struct cf_prune_record *p)
{
	if (p->count > CF_OBSERVE_MAX_SEQS || p->packs != NULL ||
	    cf_buf_put(b, p->condemn, CF_ID_BYTES) != 0 || cf_buf_u32be(b, (uint32_t)p->count) != 0)
		return false;
	for (size_t i = 0; i < p->count; i++)
		if ((i > 0 && memcmp(p->seqs[i - 1].device, p->seqs[i].device, CF_ID_BYTES) >= 0) ||
		    cf_buf_put(b, p->seqs[i].device, CF_ID_BYTES) != 0 ||
		    cf_buf_u64be(b, p->seqs[i].seq) != 0)
			return false;
	return true;
}

static bool
prune_ok(const struct cf_prune_record *p, const uint8_t *data, size_t len)
{
	struct cf_buf b;
	bool ok;

	cf_buf_init(&b, CF_RECORD_MAX_BYTES);
	ok = head_put(&b, CF_PRUNE_KIND, p->signer, p->time) && cf_buf_u8(&b, p->type) == 0;
	if (ok && p->type == CF_PRUNE_CONDEMN)
		ok = condemn_put(&b, p);
	else if (ok && p->type == CF_PRUNE_OBSERVE)
		ok = observe_put(&b, p);
	else
		ok = false;
	ok = ok && same_body(&b, data, len);
	cf_buf_release(&b);
	return ok;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const uint8_t repo_id[32] = {0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
	                                    0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
	                                    0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77,
	                                    0x78, 0x79, 0x7a, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f};
	static bool ready;
	struct cf_forget_record f;
	struct cf_prune_record p;

	if (!ready) {
		if (cf_init() != 0)
			return 0;
		ready = true;
	}
	if (cf_forget_record_parse(data, len, &f) == 0) {
		if (!forget_ok(&f, data, len))
			__builtin_trap();
		cf_forget_record_release(&f);
	} else if (f.entries != NULL || f.count != 0 || f.sup != NULL || f.nsup != 0) {
		__builtin_trap(); /* a failed parse leaves nothing to free */
	}
	if (cf_prune_record_parse(data, len, &p) == 0) {
		if (!prune_ok(&p, data, len))
			__builtin_trap();
		cf_prune_record_release(&p);
	} else if (p.packs != NULL || p.seqs != NULL || p.count != 0) {
		__builtin_trap();
	}
	/* the signature check on any length and kind must not read out of bounds */
	if (cf_record_verify(data, len, repo_id, len > 4 ? data[4] : 8, sign_pk) == 0 &&
	    len < CF_SIG_BYTES)
		__builtin_trap();
	return 0;
}
