/*
 * records_state.c - which snapshots are forgotten and which packs are condemned, from the
 * forget and prune records of trusted devices (docs/format.md 16.1, 16.3). A record signed
 * by anyone else (a removed device, a backup-only device, the storage side) is ignored:
 * it could otherwise hide snapshots or rush a deletion.
 */
#include <stdio.h>
#include <string.h>

#include "../buf/buf.h"
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

/* Trusted forget records, gathered before any is used: some may supersede others. */
struct forget_load {
	struct cf_repo *r;
	struct cf_forget_record *v;
	char (*names)[2 * CF_ID_BYTES + 1];
	size_t n;
	struct cf_index *superseded;
	bool new_superseded; /* superseded ids not yet remembered in COFFER_HOME */
};

static int
keep_forget(struct forget_load *fl, const char *name, struct cf_forget_record *f)
{
	struct cf_forget_record *nv = cf_realloc(fl->v, (fl->n + 1) * sizeof(*nv));
	char(*nn)[2 * CF_ID_BYTES + 1] = NULL;

	if (nv == NULL)
		return CF_ENOMEM;
	fl->v = nv;
	if ((nn = cf_realloc(fl->names, (fl->n + 1) * sizeof(*nn))) == NULL)
		return CF_ENOMEM;
	fl->names = nn;
	nv[fl->n] = *f;
	memset(f, 0, sizeof(*f));
	(void)snprintf(nn[fl->n], sizeof(*nn), "%s", name);
	fl->n++;
	return 0;
}

static int
load_forget(void *arg, const char *name, uint64_t size)
{
	struct forget_load *fl = arg;
	struct cf_forget_record f;
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	(void)size;
	memset(&f, 0, sizeof(f));
	rc = cf_repo_get_verified(fl->r, CF_OBJ_FORGET, name, CF_RECORD_MAX_BYTES, &obj, &len);
	if (rc != 0) {
		if (rc == CF_ENOMEM || rc == CF_ESYS)
			return rc;
		cf_err_clear();
		return 0;
	}
	if (cf_forget_record_parse(obj, len, &f) == 0 &&
	    signed_by_trusted(fl->r, obj, len, CF_FORGET_KIND, f.signer))
		rc = keep_forget(fl, name, &f);
	cf_forget_record_release(&f);
	cf_free(obj);
	return rc;
}

/*
 * COFFER_HOME/repos/<fingerprint>/superseded: ids of forget records this device has seen
 * superseded. A storage side that later withholds the superseding record and shows the old
 * one again does not hide the snapshots from this device (docs/format.md 16.1).
 */
static char *
superseded_path(const struct cf_repo *r)
{
	char fp[2 * CF_HASH_BYTES + 1];
	size_t n = strlen(r->home) + sizeof("/repos//superseded") + sizeof(fp);
	char *p = cf_malloc(n);

	cf_hex(fp, r->chain->fingerprint, CF_HASH_BYTES);
	if (p != NULL)
		(void)snprintf(p, n, "%s/repos/%s/superseded", r->home, fp);
	return p;
}

static int
remembered_superseded(struct forget_load *fl)
{
	char *path = superseded_path(fl->r);
	uint8_t *file = NULL;
	size_t len = 0;
	int rc;

	if (path == NULL)
		return CF_ENOMEM;
	rc = cf_read_file(path, (size_t)CF_FORGET_MAX_SUP * 65 * 64, &file, &len);
	cf_free(path);
	if (rc != 0) {
		cf_err_clear();
		return rc == CF_ENOMEM ? rc : 0; /* none yet, or unreadable: nothing remembered */
	}
	rc = 0;
	for (size_t s = 0; s + 64 <= len && rc == 0; s += 65) {
		uint8_t id[CF_ID_BYTES];

		if (cf_unhex(id, sizeof(id), (const char *)file + s, 64) == 0)
			rc = cf_index_add_id(fl->superseded, id);
	}
	cf_free(file);
	return rc;
}

static int
add_superseded(struct forget_load *fl, const uint8_t id[static CF_ID_BYTES])
{
	if (cf_index_has(fl->superseded, id))
		return 0;
	fl->new_superseded = true;
	return cf_index_add_id(fl->superseded, id);
}

static int
note_one(void *arg, const uint8_t id[static CF_ID_BYTES])
{
	struct cf_buf *b = arg;
	char hex[2 * CF_ID_BYTES + 2];

	cf_hex(hex, id, CF_ID_BYTES);
	hex[2 * CF_ID_BYTES] = '\n';
	return cf_buf_put(b, hex, 2 * CF_ID_BYTES + 1);
}

/* Remember every superseded id (best effort: it is a cache of what was seen). */
static void
remember_superseded(struct forget_load *fl)
{
	char *path = NULL;
	struct cf_buf b;

	if (!fl->new_superseded || (path = superseded_path(fl->r)) == NULL)
		return;
	cf_buf_init(&b, (size_t)1 << 26);
	/* not remembered this time on failure; the records still count */
	if (cf_index_each_id(fl->superseded, note_one, &b) != 0 ||
	    cf_write_file_atomic(path, b.p != NULL ? b.p : (const uint8_t *)"", b.len, 0600) != 0)
		cf_err_clear();
	cf_buf_release(&b);
	cf_free(path);
}

/* Use the records no trusted record (or this device's memory) supersedes. */
static int
load_forgets(struct cf_repo *r)
{
	struct forget_load fl;
	int rc;

	memset(&fl, 0, sizeof(fl));
	fl.r = r;
	if ((rc = cf_index_new(&fl.superseded)) != 0 || (rc = remembered_superseded(&fl)) != 0 ||
	    (rc = cf_store_list(r->store, CF_OBJ_FORGET, load_forget, &fl)) != 0)
		goto out;
	for (size_t i = 0; i < fl.n && rc == 0; i++)
		for (size_t k = 0; k < fl.v[i].nsup && rc == 0; k++)
			rc = add_superseded(&fl, fl.v[i].sup[k]);
	for (size_t i = 0; i < fl.n && rc == 0; i++) {
		uint8_t id[CF_ID_BYTES];

		if (cf_unhex(id, sizeof(id), fl.names[i], strlen(fl.names[i])) == 0 &&
		    !cf_index_has(fl.superseded, id))
			rc = push_forget(r->rec, fl.names[i], &fl.v[i]);
	}
	if (rc == 0)
		remember_superseded(&fl);
out:
	for (size_t i = 0; i < fl.n; i++)
		cf_forget_record_release(&fl.v[i]);
	cf_free(fl.v);
	cf_free(fl.names);
	cf_index_free(fl.superseded);
	return rc;
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
	    (rc = cf_index_new(&r->rec->condemned)) != 0 || (rc = load_forgets(r)) != 0 ||
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
