/*
 * chain_verify.c - verify a device chain from genesis and build the state it describes
 * (docs/format.md section 10).
 *
 * Each entry goes through the same steps: its link (seq and prev), its signer (a full, not
 * removed device of the chain so far, or the recovery key), its signature, then its body,
 * applied by one function per entry type. The genesis entry is the exception: its signer is
 * the device its body introduces, so the body is decoded before the signature is checked.
 */
#include <string.h>

#include "../base/base.h"
#include "chain.h"

static const char recovery_name[] = "recovery key";

static int
state_add_device(struct cf_chain_state *s, const struct cf_chain_device *d)
{
	struct cf_chain_device *nd = NULL;
	size_t bytes = 0;

	if (cf_size_mul(s->ndevices + 1, sizeof(*nd), &bytes) != 0)
		return CF_ENOMEM;
	if ((nd = cf_realloc(s->devices, bytes)) == NULL)
		return CF_ENOMEM;
	s->devices = nd;
	s->devices[s->ndevices++] = *d;
	return 0;
}

static int
state_add_epoch(struct cf_chain_state *s, const uint8_t dk_pub[static CF_BOX_PK_BYTES])
{
	uint8_t(*nk)[CF_BOX_PK_BYTES] = NULL;
	size_t bytes = 0;

	if (s->nepochs == UINT32_MAX ||
	    cf_size_mul((size_t)s->nepochs + 1, sizeof(*nk), &bytes) != 0)
		return CF_ENOMEM;
	if ((nk = cf_realloc(s->dk_pub, bytes)) == NULL)
		return CF_ENOMEM;
	s->dk_pub = nk;
	memcpy(s->dk_pub[s->nepochs++], dk_pub, CF_BOX_PK_BYTES);
	return 0;
}

/* seq counts from 0 and prev is the hash of the entry before (zeros for genesis). */
static int
check_link(const struct cf_chain_state *s, const struct cf_chain_entry *e, size_t i)
{
	static const uint8_t zeros[CF_HASH_BYTES];
	const uint8_t *want = i == 0 ? zeros : s->head;

	if (e->seq != (uint64_t)i)
		return cf_err_set(CF_EINTEGRITY, "chain entry %zu: sequence number is %llu", i,
		                  (unsigned long long)e->seq);
	if (memcmp(e->prev, want, CF_HASH_BYTES) != 0)
		return cf_err_set(CF_EINTEGRITY, "chain entry %zu: does not link to entry %zu", i,
		                  i == 0 ? i : i - 1);
	return 0;
}

/* The signer of a later entry: a full device that was not removed, or the recovery key. */
static int
find_signer(const struct cf_chain_state *s, const struct cf_chain_entry *e, size_t i,
            const struct cf_chain_device **out)
{
	*out = NULL;
	for (size_t k = 0; k < s->ndevices; k++) {
		const struct cf_chain_device *d = &s->devices[k];

		if (memcmp(d->id, e->signer, CF_ID_BYTES) != 0)
			continue;
		if (d->removed || d->role != CF_ROLE_FULL)
			break;
		*out = d;
		return 0;
	}
	if (memcmp(s->recovery.id, e->signer, CF_ID_BYTES) == 0) {
		*out = &s->recovery;
		return 0;
	}
	return cf_err_set(CF_EINTEGRITY, "chain entry %zu: signer is not a trusted device", i);
}

static int
check_sig(const struct cf_chain_entry *e, size_t i, const uint8_t sign_pk[static CF_SIGN_PK_BYTES])
{
	int rc = cf_chain_entry_verify_sig(e, sign_pk);

	if (rc == CF_EAUTH)
		return cf_err_set(CF_EAUTH, "chain entry %zu: bad signature", i);
	return rc;
}

static void
fill_genesis_devices(const struct cf_genesis *g, int64_t time, struct cf_chain_device *dev,
                     struct cf_chain_device *rec)
{
	memset(dev, 0, sizeof(*dev));
	cf_device_id_of(dev->id, g->dev_sign_pk, g->dev_box_pk);
	memcpy(dev->sign_pk, g->dev_sign_pk, sizeof(dev->sign_pk));
	memcpy(dev->box_pk, g->dev_box_pk, sizeof(dev->box_pk));
	dev->role = g->dev_role;
	memcpy(dev->name, g->dev_name, sizeof(dev->name));
	memcpy(dev->added_by, dev->id, sizeof(dev->added_by));
	dev->added_at = time;

	memset(rec, 0, sizeof(*rec));
	cf_device_id_of(rec->id, g->rec_sign_pk, g->rec_box_pk);
	memcpy(rec->sign_pk, g->rec_sign_pk, sizeof(rec->sign_pk));
	memcpy(rec->box_pk, g->rec_box_pk, sizeof(rec->box_pk));
	rec->role = CF_ROLE_RECOVERY;
	memcpy(rec->name, recovery_name, sizeof(recovery_name));
	memcpy(rec->added_by, dev->id, sizeof(rec->added_by));
	rec->added_at = time;
}

static int
apply_genesis(struct cf_chain_state *s, const struct cf_chain_entry *e, const struct cf_genesis *g)
{
	struct cf_chain_device dev;
	int rc;

	fill_genesis_devices(g, e->time, &dev, &s->recovery);
	if (memcmp(dev.id, s->recovery.id, CF_ID_BYTES) == 0)
		return cf_err_set(CF_EFORMAT,
		                  "chain entry 0: the recovery key is the genesis device");
	memcpy(s->repo_id, g->repo_id, sizeof(s->repo_id));
	memcpy(s->fingerprint, e->hash, sizeof(s->fingerprint));
	s->chunk = g->chunk;
	memcpy(s->ck_check, g->ck_check, sizeof(s->ck_check));
	if ((rc = state_add_epoch(s, g->dk_pub)) != 0 || (rc = state_add_device(s, &dev)) != 0)
		return rc;
	return 0;
}

/* Genesis: the body names its signer, so it is decoded first, then the signature checked. */
static int
verify_genesis(struct cf_chain_state *s, const struct cf_chain_entry *e)
{
	struct cf_genesis g;
	uint8_t id[CF_ID_BYTES];
	int rc;

	if (e->type != CF_CHAIN_GENESIS)
		return cf_err_set(CF_EFORMAT, "chain entry 0: not a genesis entry");
	if (cf_genesis_decode(e->body, e->body_len, &g) != 0)
		return cf_err_set(CF_EFORMAT, "chain entry 0: malformed genesis body");
	cf_device_id_of(id, g.dev_sign_pk, g.dev_box_pk);
	if (memcmp(id, e->signer, CF_ID_BYTES) != 0)
		return cf_err_set(CF_EINTEGRITY,
		                  "chain entry 0: signer is not the device of the genesis entry");
	if ((rc = check_sig(e, 0, g.dev_sign_pk)) != 0)
		return rc;
	if (g.dev_role != CF_ROLE_FULL)
		return cf_err_set(CF_EFORMAT, "chain entry 0: genesis device is not a full device");
	if (cf_chunk_params_valid(&g.chunk) != 0)
		return cf_err_set(CF_EFORMAT, "chain entry 0: invalid chunk parameters");
	return apply_genesis(s, e, &g);
}

/* Decode the body of entry @i, naming it in the error. */
static int
body_of(const struct cf_chain_entry *e, size_t i, struct cf_chain_body *b)
{
	if (cf_chain_body_decode(e->type, e->body, e->body_len, b) != 0)
		return cf_err_set(CF_EFORMAT, "chain entry %zu: malformed body", i);
	return 0;
}

/* A device of the chain that is not removed, by id; NULL if none. */
static struct cf_chain_device *
live_device(struct cf_chain_state *s, const uint8_t id[static CF_ID_BYTES])
{
	for (size_t k = 0; k < s->ndevices; k++)
		if (memcmp(s->devices[k].id, id, CF_ID_BYTES) == 0 && !s->devices[k].removed)
			return &s->devices[k];
	return NULL;
}

static bool
id_in_use(const struct cf_chain_state *s, const uint8_t id[static CF_ID_BYTES])
{
	return cf_chain_find_device(s, id) != NULL || memcmp(s->recovery.id, id, CF_ID_BYTES) == 0;
}

static int
apply_add_device(struct cf_chain_state *s, const struct cf_chain_entry *e, size_t i,
                 const struct cf_chain_device *signer)
{
	struct cf_chain_device d;
	struct cf_chain_body b;
	int rc;

	if ((rc = body_of(e, i, &b)) != 0)
		return rc;
	memset(&d, 0, sizeof(d));
	cf_device_id_of(d.id, b.sign_pk, b.box_pk);
	if (id_in_use(s, d.id))
		return cf_err_set(CF_EINTEGRITY, "chain entry %zu: the device is already known", i);
	memcpy(d.sign_pk, b.sign_pk, sizeof(d.sign_pk));
	memcpy(d.box_pk, b.box_pk, sizeof(d.box_pk));
	d.role = b.role;
	memcpy(d.name, b.name, sizeof(d.name));
	memcpy(d.added_by, signer->id, sizeof(d.added_by)); /* before the array may move */
	d.added_at = e->time;
	return state_add_device(s, &d);
}

static size_t
live_full_devices(const struct cf_chain_state *s)
{
	size_t n = 0;

	for (size_t k = 0; k < s->ndevices; k++)
		n += !s->devices[k].removed && s->devices[k].role == CF_ROLE_FULL;
	return n;
}

static int
apply_remove_device(struct cf_chain_state *s, const struct cf_chain_entry *e, size_t i,
                    const struct cf_chain_device *signer)
{
	struct cf_chain_device *d = NULL;
	struct cf_chain_body b;
	int rc;

	(void)signer;
	if ((rc = body_of(e, i, &b)) != 0)
		return rc;
	if ((d = live_device(s, b.device)) == NULL)
		return cf_err_set(CF_EINTEGRITY, "chain entry %zu: removes an unknown device", i);
	d->removed = true;
	d->last_seq = b.last_seq;
	s->rotate_pending = true;
	if (live_full_devices(s) == 0)
		return cf_err_set(CF_EINTEGRITY, "chain entry %zu: removes the last full device",
		                  i);
	return 0;
}

static int
apply_rotate(struct cf_chain_state *s, const struct cf_chain_entry *e, size_t i,
             const struct cf_chain_device *signer)
{
	static const uint8_t zeros[CF_BOX_PK_BYTES];
	struct cf_chain_body b;
	int rc;

	(void)signer;
	if ((rc = body_of(e, i, &b)) != 0)
		return rc;
	if (b.epoch != s->nepochs || memcmp(b.dk_pub, zeros, sizeof(zeros)) == 0)
		return cf_err_set(CF_EINTEGRITY, "chain entry %zu: rotates to a wrong epoch or key",
		                  i);
	s->rotate_pending = false;
	return state_add_epoch(s, b.dk_pub);
}

static int
apply_set_recovery(struct cf_chain_state *s, const struct cf_chain_entry *e, size_t i,
                   const struct cf_chain_device *signer)
{
	struct cf_chain_device rec;
	struct cf_chain_body b;
	int rc;

	if ((rc = body_of(e, i, &b)) != 0)
		return rc;
	memset(&rec, 0, sizeof(rec));
	cf_device_id_of(rec.id, b.sign_pk, b.box_pk);
	if (id_in_use(s, rec.id))
		return cf_err_set(CF_EINTEGRITY,
		                  "chain entry %zu: the recovery key is already known", i);
	memcpy(rec.sign_pk, b.sign_pk, sizeof(rec.sign_pk));
	memcpy(rec.box_pk, b.box_pk, sizeof(rec.box_pk));
	rec.role = CF_ROLE_RECOVERY;
	memcpy(rec.name, recovery_name, sizeof(recovery_name));
	memcpy(rec.added_by, signer->id, sizeof(rec.added_by));
	rec.added_at = e->time;
	s->recovery = rec;
	return 0;
}

static int
apply_rename(struct cf_chain_state *s, const struct cf_chain_entry *e, size_t i,
             const struct cf_chain_device *signer)
{
	struct cf_chain_device *d = NULL;
	struct cf_chain_body b;
	int rc;

	(void)signer;
	if ((rc = body_of(e, i, &b)) != 0)
		return rc;
	if ((d = live_device(s, b.device)) == NULL)
		return cf_err_set(CF_EINTEGRITY, "chain entry %zu: renames an unknown device", i);
	memcpy(d->name, b.name, sizeof(d->name));
	return 0;
}

/* @signer may point into s->devices: copy what is needed before state_add_device() moves it. */
static int
apply_entry(struct cf_chain_state *s, const struct cf_chain_entry *e, size_t i,
            const struct cf_chain_device *signer)
{
	switch ((enum cf_chain_type)e->type) {
	case CF_CHAIN_GENESIS:
		return cf_err_set(CF_EFORMAT, "chain entry %zu: a second genesis entry", i);
	case CF_CHAIN_ADD_DEVICE:
		return apply_add_device(s, e, i, signer);
	case CF_CHAIN_REMOVE_DEVICE:
		return apply_remove_device(s, e, i, signer);
	case CF_CHAIN_ROTATE:
		return apply_rotate(s, e, i, signer);
	case CF_CHAIN_SET_RECOVERY:
		return apply_set_recovery(s, e, i, signer);
	case CF_CHAIN_RENAME:
		return apply_rename(s, e, i, signer);
	}
	return cf_err_set(CF_EFORMAT, "chain entry %zu: unknown entry type %u", i,
	                  (unsigned)e->type);
}

static int
verify_entry(struct cf_chain_state *s, const struct cf_chain_entry *e, size_t i)
{
	const struct cf_chain_device *signer = NULL;
	int rc;

	if ((rc = check_link(s, e, i)) != 0)
		return rc;
	if (i == 0) {
		if ((rc = verify_genesis(s, e)) != 0)
			return rc;
	} else {
		if ((rc = find_signer(s, e, i, &signer)) != 0 ||
		    (rc = check_sig(e, i, signer->sign_pk)) != 0 ||
		    (rc = apply_entry(s, e, i, signer)) != 0)
			return rc;
	}
	memcpy(s->head, e->hash, sizeof(s->head));
	s->head_seq = e->seq;
	return 0;
}

int
cf_chain_verify(struct cf_chain_entry *const *entries, size_t n, struct cf_chain_state **out)
{
	struct cf_chain_state *s = NULL;
	int rc = 0;

	*out = NULL;
	if (n == 0)
		return cf_err_set(CF_EFORMAT, "the chain is empty");
	if (n > CF_CHAIN_MAX_LEN)
		return cf_err_set(CF_ETOOBIG, "the chain has more than %u entries",
		                  CF_CHAIN_MAX_LEN);
	if ((s = cf_calloc(1, sizeof(*s))) == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if ((rc = verify_entry(s, entries[i], i)) != 0)
			goto out;
	}
	*out = s;
	s = NULL;
out:
	cf_chain_state_free(s);
	return rc;
}

void
cf_chain_state_free(struct cf_chain_state *s)
{
	if (s == NULL)
		return;
	cf_free(s->devices);
	cf_free(s->dk_pub);
	cf_free(s);
}

const struct cf_chain_device *
cf_chain_find_device(const struct cf_chain_state *s, const uint8_t id[static CF_ID_BYTES])
{
	for (size_t k = 0; k < s->ndevices; k++) {
		if (memcmp(s->devices[k].id, id, CF_ID_BYTES) == 0)
			return &s->devices[k];
	}
	return NULL;
}
