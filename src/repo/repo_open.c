/*
 * repo_open.c - create a repository (init) and open one: verify the device chain from
 * genesis, compare it with the head this device has seen, open our key slots and check the
 * keys they carry against the chain.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../device/device.h"
#include "../keys/keys.h"
#include "../recovery/recovery.h"
#include "../remote/remote.h"
#include "repo.h"

/*
 * cf_repo_open_store() - the store a location names: a cofferd account for http(s):// URLs
 * (requests signed by @dev, which must outlive the store), else a local directory.
 */
int
cf_repo_open_store(const char *loc, bool create, const struct cf_device *dev,
                   struct cf_remote_auth *auth, struct cf_store **out)
{
	uint64_t size = 0;
	int rc;

	*out = NULL;
	if (!cf_remote_url_is(loc))
		return cf_store_open_local(loc, create, out);
	memset(auth, 0, sizeof(*auth));
	if (dev != NULL) {
		auth->sign = dev->sign;
		memcpy(auth->device, dev->id, CF_ID_BYTES);
	}
	if ((rc = cf_store_open_remote(loc, dev != NULL ? auth : NULL, out)) != 0 || create)
		return rc;
	rc = cf_store_size(*out, CF_OBJ_CHAIN, "0000000000000000", &size);
	if (rc == CF_ENOENT || rc == CF_ENOREPO)
		rc = cf_err_set(CF_ENOREPO, "repository '%s' does not exist", loc);
	if (rc != 0) {
		cf_store_free(*out);
		*out = NULL;
	}
	return rc;
}

struct chain_list {
	uint64_t n;
};

static int
count_entry(void *arg, const char *name, uint64_t size)
{
	struct chain_list *cl = arg;

	(void)name;
	(void)size;
	cl->n++;
	return 0;
}

static void
seq_name(char out[17], uint64_t seq)
{
	(void)snprintf(out, 17, "%016llx", (unsigned long long)seq);
}

static void
free_entries(struct cf_chain_entry **entries, size_t n)
{
	if (entries == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		cf_chain_entry_free(entries[i]);
	cf_free(entries);
}

/* Fetch and decode chain entry @seq. */
static int
fetch_entry(struct cf_store *st, uint64_t seq, struct cf_chain_entry **out)
{
	char name[17];
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	seq_name(name, seq);
	rc = cf_store_get(st, CF_OBJ_CHAIN, name, 0, SIZE_MAX, CF_CHAIN_MAX_BYTES, &obj, &len);
	if (rc == CF_ENOENT || rc == CF_ETOOBIG)
		rc = cf_err_set(CF_EINTEGRITY, "device chain entry %llu is missing or too large",
		                (unsigned long long)seq);
	if (rc != 0)
		return rc;
	if ((rc = cf_chain_entry_decode(obj, len, out)) != 0)
		rc = cf_err_set(CF_EINTEGRITY, "device chain entry %llu is malformed: %s",
		                (unsigned long long)seq, cf_strerror(rc));
	else if ((*out)->seq != seq) {
		rc = cf_err_set(CF_EINTEGRITY,
		                "device chain entry %llu is stored under another name",
		                (unsigned long long)seq);
		cf_chain_entry_free(*out);
		*out = NULL;
	}
	cf_free(obj);
	return rc;
}

static int
load_entries(struct cf_store *st, struct cf_chain_entry ***out, size_t *n)
{
	struct chain_list cl = {0};
	struct cf_chain_entry **v = NULL;
	size_t i = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = cf_store_list(st, CF_OBJ_CHAIN, count_entry, &cl)) != 0)
		return rc;
	if (cl.n == 0)
		return cf_err_set(CF_ENOREPO, "repository '%s' has no device chain",
		                  cf_store_location(st));
	if (cl.n > CF_CHAIN_MAX_LEN)
		return cf_err_set(CF_EINTEGRITY, "device chain has too many entries");
	if ((v = cf_calloc((size_t)cl.n, sizeof(*v))) == NULL)
		return CF_ENOMEM;
	for (i = 0; i < cl.n; i++) {
		if ((rc = fetch_entry(st, i, &v[i])) != 0)
			goto out;
	}
	*out = v;
	*n = (size_t)cl.n;
	v = NULL;
out:
	free_entries(v, i);
	return rc;
}

int
cf_repo_load_chain(struct cf_store *st, struct cf_chain_state **out)
{
	struct cf_chain_entry **v = NULL;
	size_t n = 0;
	int rc;

	if ((rc = load_entries(st, &v, &n)) != 0)
		return rc;
	rc = cf_chain_verify(v, n, out);
	free_entries(v, n);
	return rc;
}

/* Open one key slot of ours and check its keys against the chain. */
static int
open_slot(struct cf_repo *r, uint32_t epoch, bool *found)
{
	char name[80];
	uint8_t *obj = NULL;
	size_t len = 0;
	uint8_t check[CF_KEY_BYTES];
	uint32_t e = 0;
	uint8_t role = 0;
	struct cf_key *ck = NULL;
	struct cf_boxkey *dk = NULL;
	int rc;

	*found = false;
	cf_keyslot_name(name, r->dev->id, epoch);
	rc = cf_store_get(r->store, CF_OBJ_KEYS, name, 0, SIZE_MAX, CF_KEYSLOT_MAX_BYTES, &obj,
	                  &len);
	if (rc == CF_ENOENT || rc == CF_ETOOBIG)
		return 0;
	if (rc != 0)
		return rc;
	rc = cf_keyslot_open(obj, len, r->chain->repo_id, r->dev->id, r->dev->box, &e, &role, &ck,
	                     &dk);
	cf_free(obj);
	/* The slot is named for us: if it does not open, it was damaged or replaced. */
	if (rc == CF_EAUTH || (rc == 0 && e != epoch)) {
		cf_key_free(ck);
		cf_boxkey_free(dk);
		return cf_err_set(CF_EINTEGRITY, "key slot '%s' does not open: damaged or replaced",
		                  name);
	}
	if (rc != 0)
		return cf_err_set(CF_EINTEGRITY, "key slot '%s' is malformed: %s", name,
		                  cf_strerror(rc));
	cf_kdf_bytes(check, ck, "coffer.v1.ck-check");
	if (!cf_ct_eq(check, r->chain->ck_check, sizeof(check)) || role != r->role ||
	    (dk != NULL && !cf_ct_eq(cf_boxkey_pk(dk), r->chain->dk_pub[epoch], CF_BOX_PK_BYTES))) {
		rc = cf_err_set(CF_EINTEGRITY,
		                "key slot '%s' carries keys the device chain does not vouch for",
		                name);
		goto out;
	}
	*found = true;
	if (r->ck == NULL) {
		r->ck = ck;
		ck = NULL;
	}
	r->dk[epoch] = dk;
	dk = NULL;
out:
	cf_key_free(ck);
	cf_boxkey_free(dk);
	return rc;
}

/* Find our role in the chain, then open every epoch's slot we have. */
static int
open_slots(struct cf_repo *r)
{
	const struct cf_chain_device *d = cf_chain_find_device(r->chain, r->dev->id);
	char hex[2 * CF_ID_BYTES + 1];
	uint32_t missing = UINT32_MAX;
	bool any = false;
	int rc;

	cf_hex(hex, r->dev->id, CF_ID_BYTES);
	hex[16] = '\0';
	if (memcmp(r->chain->recovery.id, r->dev->id, CF_ID_BYTES) == 0)
		r->role = CF_ROLE_RECOVERY;
	else if (d != NULL && !d->removed)
		r->role = d->role;
	else if (r->with_recovery_key)
		return cf_err_set(CF_ENOKEY, "this recovery key does not belong to repository '%s'",
		                  cf_store_location(r->store));
	else
		return cf_err_set(CF_ENOKEY, "this device (%s) is not a member of repository '%s'",
		                  hex, cf_store_location(r->store));
	r->nepochs = r->chain->nepochs;
	r->epoch = r->nepochs - 1;
	if ((r->dk = cf_calloc(r->nepochs, sizeof(*r->dk))) == NULL)
		return CF_ENOMEM;
	for (uint32_t e = 0; e < r->nepochs; e++) {
		bool found = false;

		if ((rc = open_slot(r, e, &found)) != 0)
			return rc;
		any = any || found;
		if (!found && missing == UINT32_MAX)
			missing = e;
	}
	/* full devices and the recovery key get a slot for every epoch: a gap was withheld */
	if (r->role != CF_ROLE_BACKUP_ONLY && missing != UINT32_MAX)
		return cf_err_set(CF_EINTEGRITY,
		                  "the key slot of epoch %u for this %s (%s) is missing from '%s' "
		                  "(withheld or deleted)",
		                  missing, r->role == CF_ROLE_RECOVERY ? "recovery key" : "device",
		                  hex, cf_store_location(r->store));
	if (!any)
		return cf_err_set(CF_EINTEGRITY,
		                  "no key slot of repository '%s' is left for this "
		                  "device (%s): withheld or deleted",
		                  cf_store_location(r->store), hex);
	return 0;
}

/* Keys derived from CK, and the chunker. */
static int
derive_keys(struct cf_repo *r)
{
	int rc;

	if ((rc = cf_kdf(r->ck, "coffer.v1.chunk-id", &r->k_id)) != 0 ||
	    (rc = cf_kdf(r->ck, "coffer.v1.index", &r->k_index)) != 0)
		return rc;
	if ((rc = cf_chunker_new(r->ck, &r->chain->chunk, &r->chunker)) != 0)
		return cf_err_set(CF_EINTEGRITY,
		                  "the genesis entry's chunker parameters are invalid");
	return 0;
}

/* This device's identity: from COFFER_HOME, or the recovery key when one is given. */
static int
load_identity(struct cf_repo *r, const struct cf_opts *o)
{
	const char *rkf = cf_opts_get(o, "recovery-key-file");
	struct cf_key *rk = NULL;
	uint8_t *file = NULL;
	size_t len = 0;
	int rc;

	if (rkf == NULL)
		return cf_home_load_device(r->home, o, false, NULL, &r->dev);
	r->with_recovery_key = true;
	if ((rc = cf_read_file(rkf, CF_RECOVERY_FILE_MAX, &file, &len)) != 0)
		return rc;
	if ((rc = cf_recovery_parse_file(file, len, &rk)) != 0)
		rc = cf_err_set(CF_EINVAL, "'%s' does not hold a valid recovery key", rkf);
	else
		rc = cf_recovery_identity(rk, &r->dev);
	cf_key_free(rk);
	cf_free_wipe(file, len);
	return rc;
}

static int
repo_alloc(const struct cf_opts *o, struct cf_repo **out)
{
	struct cf_repo *r = cf_calloc(1, sizeof(*r));
	int rc;

	*out = NULL;
	if (r == NULL)
		return CF_ENOMEM;
	if (pthread_mutex_init(&r->lock, NULL) != 0) {
		cf_free(r);
		return CF_ENOMEM;
	}
	if ((rc = cf_home_dir(o, &r->home)) != 0 || (rc = cf_cache_dir(o, &r->cache)) != 0) {
		cf_repo_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int
cf_repo_open(const struct cf_opts *o, struct cf_repo **out)
{
	const char *loc = cf_opts_get(o, "repo");
	struct cf_chain_entry **v = NULL;
	struct cf_repo *r = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	if (loc == NULL || *loc == '\0')
		return cf_err_set(CF_EUSAGE, "no repository given (use -r or COFFER_REPO)");
	if ((rc = repo_alloc(o, &r)) != 0)
		return rc;
	/*
	 * A local directory first, so a missing repository says so before a missing identity
	 * does; a cofferd store signs every request with the identity, so that comes first.
	 */
	if (!cf_remote_url_is(loc) &&
	    (rc = cf_repo_open_store(loc, false, NULL, &r->auth, &r->store)) != 0)
		goto out;
	if ((rc = load_identity(r, o)) != 0 ||
	    (r->store == NULL &&
	     (rc = cf_repo_open_store(loc, false, r->dev, &r->auth, &r->store)) != 0) ||
	    (rc = load_entries(r->store, &v, &n)) != 0)
		goto out;
	if ((rc = cf_chain_verify(v, n, &r->chain)) != 0) {
		if (rc == CF_EAUTH || rc == CF_EFORMAT)
			rc = cf_err_wrap(CF_EINTEGRITY, "device chain of '%s' does not verify",
			                 loc);
		goto out;
	}
	if ((rc = cf_home_check_head(r->home, v, n, r->chain)) != 0 || (rc = open_slots(r)) != 0 ||
	    (rc = cf_home_record_head(r->home, r->chain)) != 0 || (rc = derive_keys(r)) != 0)
		goto out;
	*out = r;
	r = NULL;
out:
	free_entries(v, n);
	cf_repo_free(r);
	return rc;
}

void
cf_repo_free(struct cf_repo *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->npkeys; i++)
		cf_key_free(r->pkeys[i].key);
	cf_free(r->pkeys);
	for (uint32_t e = 0; r->dk != NULL && e < r->nepochs; e++)
		cf_boxkey_free(r->dk[e]);
	cf_free(r->dk);
	cf_ixdb_free(r->ixdb);
	cf_records_free(r->rec);
	cf_free(r->dev_seqs);
	cf_free(r->heads);
	cf_repo_clear_bad(r);
	cf_chunker_free(r->chunker);
	cf_key_free(r->k_index);
	cf_key_free(r->k_id);
	cf_key_free(r->ck);
	cf_chain_state_free(r->chain);
	cf_device_free(r->dev);
	cf_store_free(r->store);
	cf_free(r->home);
	cf_free(r->cache);
	pthread_mutex_destroy(&r->lock);
	cf_free(r);
}

void
cf_repo_fingerprint(const struct cf_repo *r, char *out)
{
	cf_hex(out, r->chain->fingerprint, CF_HASH_BYTES);
}

/* ---- init ---- */

/* The new repository's secrets, held while init writes the first objects. */
struct init_keys {
	uint8_t repo_id[32];
	struct cf_key *ck;
	struct cf_boxkey *dk;
	struct cf_key *rk;
	struct cf_device *rec;
};

static void
init_keys_release(struct init_keys *k)
{
	cf_key_free(k->ck);
	cf_boxkey_free(k->dk);
	cf_key_free(k->rk);
	cf_device_free(k->rec);
}

static int
init_keys_make(struct init_keys *k)
{
	int rc;

	cf_random(k->repo_id, sizeof(k->repo_id));
	if ((rc = cf_key_new_random(&k->ck)) != 0 || (rc = cf_boxkey_new(&k->dk)) != 0 ||
	    (rc = cf_key_new_random(&k->rk)) != 0)
		return rc;
	return cf_recovery_identity(k->rk, &k->rec);
}

/* Encode and sign the genesis entry. */
static int
make_genesis(const struct init_keys *k, const struct cf_device *dev, uint8_t **out, size_t *len)
{
	struct cf_genesis g;
	struct cf_chain_entry e;
	int rc;

	memset(&g, 0, sizeof(g));
	memset(&e, 0, sizeof(e));
	memcpy(g.repo_id, k->repo_id, sizeof(g.repo_id));
	g.chunk.min = CF_CHUNK_MIN_DEFAULT;
	g.chunk.avg = CF_CHUNK_AVG_DEFAULT;
	g.chunk.max = CF_CHUNK_MAX_DEFAULT;
	cf_kdf_bytes(g.ck_check, k->ck, "coffer.v1.ck-check");
	memcpy(g.dk_pub, cf_boxkey_pk(k->dk), CF_BOX_PK_BYTES);
	memcpy(g.dev_sign_pk, cf_signkey_pk(dev->sign), CF_SIGN_PK_BYTES);
	memcpy(g.dev_box_pk, cf_boxkey_pk(dev->box), CF_BOX_PK_BYTES);
	g.dev_role = CF_ROLE_FULL;
	(void)snprintf(g.dev_name, sizeof(g.dev_name), "%s", dev->name);
	memcpy(g.rec_sign_pk, cf_signkey_pk(k->rec->sign), CF_SIGN_PK_BYTES);
	memcpy(g.rec_box_pk, cf_boxkey_pk(k->rec->box), CF_BOX_PK_BYTES);
	if ((rc = cf_genesis_encode(&g, &e.body, &e.body_len)) != 0)
		return rc;
	e.seq = 0;
	e.type = CF_CHAIN_GENESIS;
	e.time = (int64_t)time(NULL);
	memcpy(e.signer, dev->id, CF_ID_BYTES);
	rc = cf_chain_entry_seal(&e, dev->sign, out, len);
	cf_free(e.body);
	return rc;
}

/* Write the key slot of @recipient (role @role) for epoch 0. */
static int
put_slot(struct cf_store *st, const struct init_keys *k, const struct cf_device *recipient,
         uint8_t role)
{
	struct cf_keyslot_params p;
	char name[80];
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	memset(&p, 0, sizeof(p));
	memcpy(p.repo_id, k->repo_id, sizeof(p.repo_id));
	memcpy(p.recipient, recipient->id, CF_ID_BYTES);
	memcpy(p.recipient_box_pk, cf_boxkey_pk(recipient->box), CF_BOX_PK_BYTES);
	p.epoch = 0;
	p.role = role;
	if ((rc = cf_keyslot_seal(&p, k->ck, k->dk, &obj, &len)) != 0)
		return rc;
	cf_keyslot_name(name, recipient->id, 0);
	rc = cf_store_put(st, CF_OBJ_KEYS, name, obj, len);
	cf_free(obj);
	return rc;
}

/* Key slots first, the genesis entry last: the repository exists once chain/0 does. */
static int
write_repository(struct cf_store *st, const struct init_keys *k, const struct cf_device *dev,
                 const char *home, const char *token)
{
	struct cf_chain_state *cs = NULL;
	uint8_t *gen = NULL;
	size_t glen = 0;
	int rc;

	if ((rc = make_genesis(k, dev, &gen, &glen)) != 0)
		goto out;
	/* cofferd learns the account's first device from the genesis entry: enroll first */
	if (token != NULL && (rc = cf_remote_enroll(st, token, gen, glen)) != 0)
		goto out;
	if ((rc = put_slot(st, k, dev, CF_ROLE_FULL)) != 0 ||
	    (rc = put_slot(st, k, k->rec, CF_ROLE_RECOVERY)) != 0 ||
	    (token == NULL &&
	     (rc = cf_store_put(st, CF_OBJ_CHAIN, "0000000000000000", gen, glen)) != 0))
		goto out;
	if ((rc = cf_repo_load_chain(st, &cs)) != 0 || (rc = cf_home_record_head(home, cs)) != 0)
		goto out;
out:
	cf_chain_state_free(cs);
	cf_free(gen);
	return rc;
}

/* A cofferd account is created with its enrollment token; a directory needs none. */
static int
check_token(const char *loc, const char *token)
{
	if (cf_remote_url_is(loc) && token == NULL)
		return cf_err_set(CF_EUSAGE, "a cofferd repository needs the account's enrollment "
		                             "token: init --token TOKEN");
	if (!cf_remote_url_is(loc) && token != NULL)
		return cf_err_set(CF_EUSAGE, "--token is for cofferd repositories (http://...)");
	return 0;
}

int
cf_repo_create(const struct cf_opts *o, char *recovery_code, size_t cap)
{
	const char *loc = cf_opts_get(o, "repo");
	const char *token = cf_opts_get(o, "token");
	struct cf_remote_auth auth;
	struct init_keys k;
	struct cf_device *dev = NULL;
	struct cf_store *st = NULL;
	char *home = NULL;
	int rc;

	memset(&k, 0, sizeof(k));
	if (loc == NULL || *loc == '\0')
		return cf_err_set(CF_EUSAGE, "no repository given (use -r or COFFER_REPO)");
	if (cap < CF_RECOVERY_TEXT_BYTES)
		cf_misuse("cf_repo_create: recovery code buffer too small");
	if ((rc = cf_home_dir(o, &home)) != 0 ||
	    (rc = cf_home_load_device(home, o, true, cf_opts_get(o, "device-name"), &dev)) != 0 ||
	    (rc = check_token(loc, token)) != 0 ||
	    (rc = cf_repo_open_store(loc, true, dev, &auth, &st)) != 0 ||
	    (rc = init_keys_make(&k)) != 0 ||
	    (rc = write_repository(st, &k, dev, home, token)) != 0)
		goto out;
	cf_recovery_encode(k.rk, recovery_code);
out:
	init_keys_release(&k);
	cf_store_free(st);
	cf_device_free(dev);
	cf_free(home);
	return rc;
}
