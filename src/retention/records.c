/*
 * records.c - the codecs of forget and prune records (docs/format.md 16.1, 16.3).
 */
#include "records.h"

#include <string.h>

#include "../base/base.h"
#include "../buf/buf.h"
#include "../device/device.h"
#include "../reader/reader.h"

#define RECORD_VERSION 1

static const char forget_label[] = "coffer.v1.forget";
static const char prune_label[] = "coffer.v1.prune";

/* The signed context: label || repo_id. */
static size_t
sig_context(uint8_t *ctx, uint8_t kind, const uint8_t repo_id[static 32])
{
	const char *label = kind == CF_FORGET_KIND ? forget_label : prune_label;
	size_t n = strlen(label);

	memcpy(ctx, label, n);
	memcpy(ctx + n, repo_id, 32);
	return n + 32;
}

static int
start(struct cf_buf *b, uint8_t kind, const struct cf_device *d, int64_t time)
{
	const uint8_t prefix[8] = {'C', 'O', 'F', 'R', kind, RECORD_VERSION, 0, 0};
	int rc;

	cf_buf_init(b, CF_RECORD_MAX_BYTES);
	if ((rc = cf_buf_put(b, prefix, sizeof(prefix))) != 0 ||
	    (rc = cf_buf_put(b, d->id, CF_ID_BYTES)) != 0 || (rc = cf_buf_i64be(b, time)) != 0)
		return rc;
	return 0;
}

/* Sign what @b holds, append the signature and hand the object out. */
static int
finish(struct cf_buf *b, uint8_t kind, const uint8_t repo_id[static 32], const struct cf_device *d,
       uint8_t **out, size_t *len)
{
	uint8_t ctx[64];
	uint8_t sig[CF_SIG_BYTES];
	size_t clen = sig_context(ctx, kind, repo_id);
	int rc;

	if ((rc = cf_sign2(sig, d->sign, ctx, clen, b->p, b->len)) != 0 ||
	    (rc = cf_buf_put(b, sig, sizeof(sig))) != 0)
		return rc;
	cf_buf_detach(b, out, len);
	return 0;
}

static bool ids_sorted(const uint8_t (*ids)[CF_ID_BYTES], size_t n);

static int
forget_cmp(const struct cf_forget_entry *a, const struct cf_forget_entry *b)
{
	int c = memcmp(a->device, b->device, CF_ID_BYTES);

	if (c != 0)
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq ? 1 : 0;
}

static int
forget_entries_check(const struct cf_forget_entry *e, size_t n, size_t nsup)
{
	if ((n == 0 && nsup == 0) || n > CF_FORGET_MAX_ENTRIES || nsup > CF_FORGET_MAX_SUP)
		return CF_EFORMAT;
	for (size_t i = 0; i < n; i++)
		if (e[i].seq == 0 || (i > 0 && forget_cmp(&e[i - 1], &e[i]) >= 0))
			return CF_EFORMAT;
	return 0;
}

int
cf_forget_record_seal(const uint8_t repo_id[static 32], const struct cf_device *d, int64_t time,
                      const struct cf_forget_entry *e, size_t n, const uint8_t (*sup)[CF_ID_BYTES],
                      size_t nsup, uint8_t **out, size_t *len)
{
	struct cf_buf b;
	int rc;

	*out = NULL;
	*len = 0;
	if (forget_entries_check(e, n, nsup) != 0 ||
	    (nsup > 0 && (sup == NULL || !ids_sorted(sup, nsup))))
		return CF_EINVAL;
	if ((rc = start(&b, CF_FORGET_KIND, d, time)) != 0 ||
	    (rc = cf_buf_u32be(&b, (uint32_t)n)) != 0)
		goto out;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if ((rc = cf_buf_put(&b, e[i].device, CF_ID_BYTES)) != 0 ||
		    (rc = cf_buf_u64be(&b, e[i].seq)) != 0 ||
		    (rc = cf_buf_put(&b, e[i].hash, CF_HASH_BYTES)) != 0)
			break;
		rc = cf_buf_put(&b, e[i].prev, CF_HASH_BYTES);
	}
	if (rc == 0 && nsup > 0 &&
	    ((rc = cf_buf_u32be(&b, (uint32_t)nsup)) != 0 ||
	     (rc = cf_buf_put(&b, sup, nsup * CF_ID_BYTES)) != 0))
		goto out;
	if (rc == 0)
		rc = finish(&b, CF_FORGET_KIND, repo_id, d, out, len);
out:
	cf_buf_release(&b);
	return rc;
}

/* Prefix, signer and time; @r then stands at the body. */
static int
read_start(struct cf_reader *r, const uint8_t *obj, size_t len, uint8_t kind,
           uint8_t signer[static CF_ID_BYTES], int64_t *time)
{
	int rc;

	if (len < CF_SIG_BYTES)
		return CF_ETRUNC;
	if (len > CF_RECORD_MAX_BYTES)
		return CF_EFORMAT;
	cf_reader_init(r, obj, len - CF_SIG_BYTES);
	if ((rc = cf_reader_prefix(r, kind)) != 0 || (rc = cf_reader_copy(r, signer, 32)) != 0 ||
	    (rc = cf_reader_i64be(r, time)) != 0)
		return rc;
	return 0;
}

/* A count, checked against its limit and against the bytes that remain. */
static int
read_count(struct cf_reader *r, uint32_t min, uint32_t max, size_t item, uint32_t *n)
{
	int rc;

	if ((rc = cf_reader_u32be(r, n)) != 0)
		return rc;
	if (*n < min || *n > max)
		return CF_EFORMAT;
	if ((size_t)*n * item > r->left)
		return CF_ETRUNC;
	return 0;
}

/* The optional list of records this one supersedes: present means at least one. */
static int
parse_superseded(struct cf_reader *r, struct cf_forget_record *f)
{
	uint32_t n = 0;
	int rc;

	if ((rc = read_count(r, 1, CF_FORGET_MAX_SUP, CF_ID_BYTES, &n)) != 0)
		return rc;
	if ((f->sup = cf_calloc(n, CF_ID_BYTES)) == NULL)
		return CF_ENOMEM;
	f->nsup = n;
	if ((rc = cf_reader_copy(r, f->sup, (size_t)n * CF_ID_BYTES)) != 0)
		return rc;
	return ids_sorted((const uint8_t(*)[CF_ID_BYTES])f->sup, n) ? 0 : CF_EFORMAT;
}

static int
parse_forget(struct cf_reader *r, struct cf_forget_record *f)
{
	uint32_t n = 0;
	int rc;

	if ((rc = read_count(r, 0, CF_FORGET_MAX_ENTRIES, CF_FORGET_ENTRY_BYTES, &n)) != 0)
		return rc;
	if (n > 0 && (f->entries = cf_calloc(n, sizeof(*f->entries))) == NULL)
		return CF_ENOMEM;
	f->count = n;
	for (size_t i = 0; i < n; i++) {
		struct cf_forget_entry *e = &f->entries[i];

		if ((rc = cf_reader_copy(r, e->device, CF_ID_BYTES)) != 0 ||
		    (rc = cf_reader_u64be(r, &e->seq)) != 0 ||
		    (rc = cf_reader_copy(r, e->hash, CF_HASH_BYTES)) != 0 ||
		    (rc = cf_reader_copy(r, e->prev, CF_HASH_BYTES)) != 0)
			return rc;
	}
	if (r->left > 0 && (rc = parse_superseded(r, f)) != 0)
		return rc;
	if ((rc = cf_reader_end(r)) != 0)
		return rc;
	return forget_entries_check(f->entries, f->count, f->nsup);
}

int
cf_forget_record_parse(const uint8_t *obj, size_t len, struct cf_forget_record *out)
{
	struct cf_reader r;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = read_start(&r, obj, len, CF_FORGET_KIND, out->signer, &out->time)) != 0 ||
	    (rc = parse_forget(&r, out)) != 0)
		cf_forget_record_release(out);
	return rc;
}

void
cf_forget_record_release(struct cf_forget_record *f)
{
	cf_free(f->entries);
	cf_free(f->sup);
	memset(f, 0, sizeof(*f));
}

static bool
ids_sorted(const uint8_t (*ids)[CF_ID_BYTES], size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (memcmp(ids[i - 1], ids[i], CF_ID_BYTES) >= 0)
			return false;
	return true;
}

static bool
seqs_sorted(const struct cf_device_seq *s, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (memcmp(s[i - 1].device, s[i].device, CF_ID_BYTES) >= 0)
			return false;
	return true;
}

int
cf_condemn_record_seal(const uint8_t repo_id[static 32], const struct cf_device *d, int64_t time,
                       const uint8_t (*packs)[CF_ID_BYTES], size_t n, uint8_t **out, size_t *len)
{
	struct cf_buf b;
	int rc;

	*out = NULL;
	*len = 0;
	if (n == 0 || n > CF_CONDEMN_MAX_PACKS || !ids_sorted(packs, n))
		return CF_EINVAL;
	if ((rc = start(&b, CF_PRUNE_KIND, d, time)) != 0 ||
	    (rc = cf_buf_u8(&b, CF_PRUNE_CONDEMN)) != 0 ||
	    (rc = cf_buf_u32be(&b, (uint32_t)n)) != 0 ||
	    (rc = cf_buf_put(&b, packs, n * CF_ID_BYTES)) != 0 ||
	    (rc = finish(&b, CF_PRUNE_KIND, repo_id, d, out, len)) != 0)
		goto out;
out:
	cf_buf_release(&b);
	return rc;
}

int
cf_observe_record_seal(const uint8_t repo_id[static 32], const struct cf_device *d, int64_t time,
                       const uint8_t condemn[static CF_ID_BYTES], const struct cf_device_seq *seqs,
                       size_t n, uint8_t **out, size_t *len)
{
	struct cf_buf b;
	int rc;

	*out = NULL;
	*len = 0;
	if (n > CF_OBSERVE_MAX_SEQS || !seqs_sorted(seqs, n))
		return CF_EINVAL;
	if ((rc = start(&b, CF_PRUNE_KIND, d, time)) != 0 ||
	    (rc = cf_buf_u8(&b, CF_PRUNE_OBSERVE)) != 0 ||
	    (rc = cf_buf_put(&b, condemn, CF_ID_BYTES)) != 0 ||
	    (rc = cf_buf_u32be(&b, (uint32_t)n)) != 0)
		goto out;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if ((rc = cf_buf_put(&b, seqs[i].device, CF_ID_BYTES)) == 0)
			rc = cf_buf_u64be(&b, seqs[i].seq);
	}
	if (rc == 0)
		rc = finish(&b, CF_PRUNE_KIND, repo_id, d, out, len);
out:
	cf_buf_release(&b);
	return rc;
}

static int
parse_condemn(struct cf_reader *r, struct cf_prune_record *p)
{
	uint32_t n = 0;
	int rc;

	if ((rc = read_count(r, 1, CF_CONDEMN_MAX_PACKS, CF_ID_BYTES, &n)) != 0)
		return rc;
	if ((p->packs = cf_calloc(n, CF_ID_BYTES)) == NULL)
		return CF_ENOMEM;
	p->count = n;
	if ((rc = cf_reader_copy(r, p->packs, (size_t)n * CF_ID_BYTES)) != 0)
		return rc;
	return ids_sorted((const uint8_t(*)[CF_ID_BYTES])p->packs, n) ? 0 : CF_EFORMAT;
}

static int
parse_observe(struct cf_reader *r, struct cf_prune_record *p)
{
	uint32_t n = 0;
	int rc;

	if ((rc = cf_reader_copy(r, p->condemn, CF_ID_BYTES)) != 0 ||
	    (rc = read_count(r, 0, CF_OBSERVE_MAX_SEQS, CF_ID_BYTES + 8, &n)) != 0)
		return rc;
	if (n > 0 && (p->seqs = cf_calloc(n, sizeof(*p->seqs))) == NULL)
		return CF_ENOMEM;
	p->count = n;
	for (size_t i = 0; i < n; i++)
		if ((rc = cf_reader_copy(r, p->seqs[i].device, CF_ID_BYTES)) != 0 ||
		    (rc = cf_reader_u64be(r, &p->seqs[i].seq)) != 0)
			return rc;
	return seqs_sorted(p->seqs, n) ? 0 : CF_EFORMAT;
}

int
cf_prune_record_parse(const uint8_t *obj, size_t len, struct cf_prune_record *out)
{
	struct cf_reader r;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = read_start(&r, obj, len, CF_PRUNE_KIND, out->signer, &out->time)) != 0 ||
	    (rc = cf_reader_u8(&r, &out->type)) != 0)
		goto out;
	if (out->type == CF_PRUNE_CONDEMN)
		rc = parse_condemn(&r, out);
	else if (out->type == CF_PRUNE_OBSERVE)
		rc = parse_observe(&r, out);
	else
		rc = CF_EFORMAT;
	if (rc == 0)
		rc = cf_reader_end(&r);
out:
	if (rc != 0)
		cf_prune_record_release(out);
	return rc;
}

void
cf_prune_record_release(struct cf_prune_record *p)
{
	cf_free(p->packs);
	cf_free(p->seqs);
	memset(p, 0, sizeof(*p));
}

int
cf_record_verify(const uint8_t *obj, size_t len, const uint8_t repo_id[static 32], uint8_t kind,
                 const uint8_t pk[static CF_SIGN_PK_BYTES])
{
	uint8_t ctx[64];
	size_t clen;

	if ((kind != CF_FORGET_KIND && kind != CF_PRUNE_KIND) || len < CF_SIG_BYTES)
		return CF_EFORMAT;
	clen = sig_context(ctx, kind, repo_id);
	return cf_verify2(obj + len - CF_SIG_BYTES, pk, ctx, clen, obj, len - CF_SIG_BYTES);
}
