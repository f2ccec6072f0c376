/*
 * records_state.c - which snapshots are forgotten and which packs are condemned, from the
 * forget and prune records of trusted devices (docs/format.md 16.1, 16.3). A record signed
 * by anyone else (a removed device, a backup-only device, the storage side) is ignored:
 * it could otherwise hide snapshots or rush a deletion.
 */
#include <stdio.h>
#include <string.h>

#include "../retention/records.h"
#include "repo.h"

const struct cf_chain_device *
cf_repo_trusted_signer(const struct cf_repo *r, const uint8_t id[static CF_ID_BYTES])
{
	const struct cf_chain_device *d = cf_chain_find_device(r->chain, id);

	if (d == NULL || d->removed || d->role != CF_ROLE_FULL)
		return NULL;
	return d;
}

/* A record is used only when it hashes to its name, parses and a trusted device signed it. */
static bool
signed_by_trusted(struct cf_repo *r, const uint8_t *obj, size_t len, uint8_t kind,
                  const uint8_t signer[static CF_ID_BYTES])
{
	const struct cf_chain_device *d = cf_repo_trusted_signer(r, signer);

	return d != NULL && cf_record_verify(obj, len, r->chain->repo_id, kind, d->sign_pk) == 0;
}

static int
push_forget(struct cf_records *rec, const char *name, const struct cf_forget_record *f)
{
	struct cf_forget_entry *ne = NULL;
	struct cf_forget_ref *nr = NULL;
	int rc;

	ne = cf_realloc(rec->forgot, (rec->nforgot + f->count) * sizeof(*ne));
	if (ne == NULL)
		return CF_ENOMEM;
	rec->forgot = ne;
	nr = cf_realloc(rec->forgets, (rec->nforgets + 1) * sizeof(*nr));
	if (nr == NULL)
		return CF_ENOMEM;
	rec->forgets = nr;
	for (size_t i = 0; i < f->count; i++) {
		if ((rc = cf_index_add_id(rec->forgotten, f->entries[i].hash)) != 0)
			return rc;
		rec->forgot[rec->nforgot++] = f->entries[i];
	}
	(void)snprintf(nr[rec->nforgets].name, sizeof(nr->name), "%s", name);
	nr[rec->nforgets].first = rec->nforgot - f->count;
	nr[rec->nforgets].count = f->count;
	memcpy(nr[rec->nforgets].signer, f->signer, CF_ID_BYTES);
	rec->nforgets++;
	return 0;
}

static int
load_forget(void *arg, const char *name, uint64_t size)
{
	struct cf_repo *r = arg;
	struct cf_forget_record f;
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	(void)size;
	memset(&f, 0, sizeof(f));
	if ((rc = cf_repo_get_verified(r, CF_OBJ_FORGET, name, CF_RECORD_MAX_BYTES, &obj, &len)) !=
	    0)
		goto skip;
	if (cf_forget_record_parse(obj, len, &f) == 0 &&
	    signed_by_trusted(r, obj, len, CF_FORGET_KIND, f.signer))
		rc = push_forget(r->rec, name, &f);
	cf_forget_record_release(&f);
	cf_free(obj);
	return rc;
skip:
	if (rc == CF_ENOMEM || rc == CF_ESYS)
		return rc;
	cf_err_clear();
	return 0;
}

static int
push_condemn(struct cf_records *rec, const char *name, struct cf_prune_record *p)
{
	struct cf_condemn *nc = cf_realloc(rec->conds, (rec->nconds + 1) * sizeof(*nc));
	struct cf_condemn *c = NULL;
	int rc;

	if (nc == NULL)
		return CF_ENOMEM;
	rec->conds = nc;
	c = &nc[rec->nconds];
	memset(c, 0, sizeof(*c));
	if ((c->rec = cf_malloc(sizeof(*c->rec))) == NULL)
		return CF_ENOMEM;
	*c->rec = *p;
	memset(p, 0, sizeof(*p));
	(void)snprintf(c->name, sizeof(c->name), "%s", name);
	rec->nconds++;
	for (size_t i = 0; i < c->rec->count; i++)
		if ((rc = cf_index_add_id(rec->condemned, c->rec->packs[i])) != 0)
			return rc;
	return 0;
}

/* Observe records found before their condemn record wait here. */
struct prune_load {
	struct cf_repo *r;
	struct cf_prune_record *obs;
	char (*obs_names)[2 * CF_ID_BYTES + 1];
	size_t nobs;
};

static int
push_observe(struct prune_load *pl, const char *name, struct cf_prune_record *p)
{
	struct cf_prune_record *no = cf_realloc(pl->obs, (pl->nobs + 1) * sizeof(*no));
	char(*nn)[2 * CF_ID_BYTES + 1] = NULL;

	if (no == NULL)
		return CF_ENOMEM;
	pl->obs = no;
	if ((nn = cf_realloc(pl->obs_names, (pl->nobs + 1) * sizeof(*nn))) == NULL)
		return CF_ENOMEM;
	pl->obs_names = nn;
	no[pl->nobs] = *p;
	memset(p, 0, sizeof(*p));
	(void)snprintf(nn[pl->nobs], sizeof(*nn), "%s", name);
	pl->nobs++;
	return 0;
}

static int
load_prune(void *arg, const char *name, uint64_t size)
{
	struct prune_load *pl = arg;
	struct cf_prune_record p;
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	(void)size;
	memset(&p, 0, sizeof(p));
	if ((rc = cf_repo_get_verified(pl->r, CF_OBJ_PRUNE, name, CF_RECORD_MAX_BYTES, &obj,
	                               &len)) != 0) {
		if (rc == CF_ENOMEM || rc == CF_ESYS)
			return rc;
		cf_err_clear();
		return 0;
	}
	if (cf_prune_record_parse(obj, len, &p) == 0 &&
	    signed_by_trusted(pl->r, obj, len, CF_PRUNE_KIND, p.signer))
		rc = p.type == CF_PRUNE_CONDEMN ? push_condemn(pl->r->rec, name, &p)
		                                : push_observe(pl, name, &p);
	cf_prune_record_release(&p);
	cf_free(obj);
	return rc;
}

/* Give each condemn record its observe record (the first trusted one naming it). */
static int
pair_observes(struct prune_load *pl)
{
	struct cf_records *rec = pl->r->rec;

	for (size_t i = 0; i < pl->nobs; i++) {
		for (size_t k = 0; k < rec->nconds; k++) {
			struct cf_condemn *c = &rec->conds[k];
			uint8_t cid[CF_ID_BYTES];

			if (c->obs != NULL ||
			    cf_unhex(cid, sizeof(cid), c->name, strlen(c->name)) != 0 ||
			    memcmp(cid, pl->obs[i].condemn, CF_ID_BYTES) != 0)
				continue;
			if ((c->obs = cf_malloc(sizeof(*c->obs))) == NULL)
				return CF_ENOMEM;
			*c->obs = pl->obs[i];
			memset(&pl->obs[i], 0, sizeof(pl->obs[i]));
			(void)snprintf(c->obs_name, sizeof(c->obs_name), "%s", pl->obs_names[i]);
			break;
		}
	}
	return 0;
}

void
cf_records_free(struct cf_records *rec)
{
	if (rec == NULL)
		return;
	for (size_t i = 0; i < rec->nconds; i++) {
		if (rec->conds[i].rec != NULL)
			cf_prune_record_release(rec->conds[i].rec);
		if (rec->conds[i].obs != NULL)
			cf_prune_record_release(rec->conds[i].obs);
		cf_free(rec->conds[i].rec);
		cf_free(rec->conds[i].obs);
	}
	cf_free(rec->conds);
	cf_free(rec->forgot);
	cf_free(rec->forgets);
	cf_index_free(rec->forgotten);
	cf_index_free(rec->condemned);
	cf_free(rec);
}

int
cf_repo_load_records(struct cf_repo *r)
{
	struct prune_load pl;
	int rc;

	if (r->rec != NULL)
		return 0;
	memset(&pl, 0, sizeof(pl));
	pl.r = r;
	if ((r->rec = cf_calloc(1, sizeof(*r->rec))) == NULL)
		return CF_ENOMEM;
	if ((rc = cf_index_new(&r->rec->forgotten)) != 0 ||
	    (rc = cf_index_new(&r->rec->condemned)) != 0 ||
	    (rc = cf_store_list(r->store, CF_OBJ_FORGET, load_forget, r)) != 0 ||
	    (rc = cf_store_list(r->store, CF_OBJ_PRUNE, load_prune, &pl)) != 0 ||
	    (rc = pair_observes(&pl)) != 0) {
		cf_records_free(r->rec);
		r->rec = NULL;
	}
	for (size_t i = 0; i < pl.nobs; i++)
		cf_prune_record_release(&pl.obs[i]);
	cf_free(pl.obs);
	cf_free(pl.obs_names);
	return rc;
}

int
cf_repo_reload_records(struct cf_repo *r)
{
	cf_records_free(r->rec);
	r->rec = NULL;
	return cf_repo_load_records(r);
}

bool
cf_repo_is_forgotten(const struct cf_repo *r, const uint8_t snap[static CF_ID_BYTES])
{
	return r->rec != NULL && cf_index_has(r->rec->forgotten, snap);
}

bool
cf_repo_is_condemned(const struct cf_repo *r, const uint8_t pack[static CF_ID_BYTES])
{
	return r->rec != NULL && cf_index_has(r->rec->condemned, pack);
}
