/*
 * cf_forge.c - a test tool that plays the malicious server (tests/system/test_trust.py).
 *
 * It writes repository objects directly, as a storage side that controls every byte may:
 * chain entries signed by any key file and stored under any sequence number (overwriting is
 * allowed), key slots carrying junk keys, snapshots signed by a revoked device; and it tries
 * to decrypt a snapshot with every data key a device's key slots give it. Test-only: it is
 * built with the library's internal headers and never installed.
 *
 *   cf_forge keygen OUT [--name N]          a fresh device key file; prints its id
 *   cf_forge keyinfo FILE                   prints "<id> <sign_pk> <box_pk>" (hex)
 *   cf_forge append REPO --signer-key FILE --type T [--signer-id HEX] [--seq N] [--prev HEX]
 *           [--device-key FILE | --sign-pk HEX --box-pk HEX] [--role full|backup-only]
 *           [--name N] [--device HEX] [--last-seq N] [--epoch N] [--dk-pub HEX] [--as N]
 *                                           T: add-device remove-device rotate
 *                                           set-recovery rename; stored as chain/<seq>
 *                                           (or chain/<N> with --as); prints its hash
 *   cf_forge keyslot REPO --for-device-key FILE --epoch N [--role full|backup-only|recovery]
 *                                           a slot named for that device, junk CK and DK
 *   cf_forge snapshot REPO --signer-key FILE --seq N [--prev HEX] [--epoch N]
 *                                           a snapshot signed by that key; prints its id
 *   cf_forge try-snapshot REPO SNAPFILE --device-key FILE [--keys DIR]
 *                                           exit 0 if one of the device's slots opens it,
 *                                           3 if none does
 *   cf_forge poison-index REPO              as the device in COFFER_HOME (a backup-only one
 *                                           is enough: it holds K_index), store a copy of
 *                                           every data pack with each blob's ciphertext
 *                                           altered, and one index object naming the copies
 *                                           whose name sorts before every other; REPO may be
 *                                           a cofferd URL. Prints the number of copies.
 *   cf_forge misplace-index REPO            the same, but naming the genuine data packs with
 *                                           every blob one byte short (such a location sorts
 *                                           before the true one, so restore meets a copy
 *                                           that fails in a pack that also holds the good
 *                                           one). Prints the number of packs named.
 *
 * Exit status: 0 done, 1 error, 2 usage, 3 try-snapshot found no key that opens.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain/chain.h"
#include "device/device.h"
#include "index/index.h"
#include "keys/keys.h"
#include "repo/repo.h"
#include "snapshot/snapshot.h"

#define MAX_OPTS  24
#define EXIT_NONE 3

struct args {
	const char *pos[3];
	size_t npos;
	const char *key[MAX_OPTS];
	const char *val[MAX_OPTS];
	size_t n;
};

static int
usage(const char *what)
{
	fprintf(stderr, "cf_forge: usage: %s\n", what);
	return 2;
}

static int
fail(int rc, const char *what)
{
	const char *m = cf_err_last();

	fprintf(stderr, "cf_forge: %s: %s%s%s\n", what, cf_strerror(rc), m[0] != '\0' ? ": " : "",
	        m);
	return 1;
}

/* Every "--key value" pair is an option; everything else is positional. */
static int
parse_args(int argc, char **argv, struct args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 2; i < argc; i++) {
		if (strncmp(argv[i], "--", 2) != 0) {
			if (a->npos == 3)
				return -1;
			a->pos[a->npos++] = argv[i];
			continue;
		}
		if (i + 1 >= argc || a->n == MAX_OPTS)
			return -1;
		a->key[a->n] = argv[i] + 2;
		a->val[a->n++] = argv[++i];
	}
	return 0;
}

static const char *
opt(const struct args *a, const char *key)
{
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->key[i], key) == 0)
			return a->val[i];
	return NULL;
}

static int
opt_hex(const struct args *a, const char *key, uint8_t *out, size_t n)
{
	const char *s = opt(a, key);

	if (s == NULL || cf_unhex(out, n, s, strlen(s)) != 0)
		return cf_err_set(CF_EINVAL, "--%s needs %zu bytes of hex", key, n);
	return 0;
}

static int
opt_u64(const struct args *a, const char *key, uint64_t dflt, uint64_t *out)
{
	const char *s = opt(a, key);

	*out = dflt;
	if (s != NULL && cf_parse_u64(s, 0, UINT64_MAX, out) != 0)
		return cf_err_set(CF_EINVAL, "--%s needs a number", key);
	return 0;
}

static int
load_device(const char *path, struct cf_device **out)
{
	uint8_t *file = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (path == NULL)
		return cf_err_set(CF_EINVAL, "a device key file is required");
	if ((rc = cf_read_file(path, CF_DEVICE_FILE_MAX, &file, &len)) != 0)
		return rc;
	rc = cf_device_load(file, len, NULL, 0, out);
	cf_free_wipe(file, len);
	return rc;
}

/* REPO/<dir>/<name> into a new string. */
static char *
repo_path(const char *repo, const char *dir, const char *name)
{
	size_t n = strlen(repo) + strlen(dir) + strlen(name) + 3;
	char *p = cf_malloc(n);

	if (p != NULL)
		(void)snprintf(p, n, "%s/%s/%s", repo, dir, name);
	return p;
}

static int
read_obj(const char *repo, const char *dir, const char *name, uint8_t **out, size_t *len)
{
	char *p = repo_path(repo, dir, name);
	int rc;

	if (p == NULL)
		return CF_ENOMEM;
	rc = cf_read_file(p, CF_SNAPSHOT_MAX_BYTES, out, len);
	cf_free(p);
	return rc;
}

static int
write_obj(const char *repo, const char *dir, const char *name, const uint8_t *obj, size_t len)
{
	char *p = repo_path(repo, dir, name);
	int rc;

	if (p == NULL)
		return CF_ENOMEM;
	rc = cf_write_file_atomic(p, obj, len, 0644);
	cf_free(p);
	return rc;
}

/* The number of entries in REPO/chain (names of 16 hex digits). */
static int
chain_count(const char *repo, uint64_t *n)
{
	char *p = repo_path(repo, "chain", "");
	struct dirent *de = NULL;
	DIR *d = NULL;

	*n = 0;
	if (p == NULL)
		return CF_ENOMEM;
	d = opendir(p);
	cf_free(p);
	if (d == NULL)
		return cf_err_set(CF_ESYS, "cannot list the chain of '%s'", repo);
	while ((de = readdir(d)) != NULL)
		*n += strlen(de->d_name) == 16 && strspn(de->d_name, "0123456789abcdef") == 16;
	(void)closedir(d);
	return 0;
}

/* H() of the stored chain entry @seq. */
static int
entry_hash(const char *repo, uint64_t seq, uint8_t hash[static CF_HASH_BYTES])
{
	char name[17];
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	(void)snprintf(name, sizeof(name), "%016llx", (unsigned long long)seq);
	if ((rc = read_obj(repo, "chain", name, &obj, &len)) != 0)
		return rc;
	cf_hash(hash, obj, len);
	cf_free(obj);
	return 0;
}

/* The repository id, from the genesis entry (its signature is not checked). */
static int
repo_id_of(const char *repo, uint8_t id[static 32])
{
	struct cf_chain_entry *e = NULL;
	struct cf_genesis g;
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	if ((rc = read_obj(repo, "chain", "0000000000000000", &obj, &len)) != 0)
		return rc;
	if ((rc = cf_chain_entry_decode(obj, len, &e)) == 0 &&
	    (rc = cf_genesis_decode(e->body, e->body_len, &g)) == 0)
		memcpy(id, g.repo_id, 32);
	cf_chain_entry_free(e);
	cf_free(obj);
	return rc;
}

static int
cmd_keygen(const struct args *a)
{
	const char *name = opt(a, "name");
	struct cf_device *d = NULL;
	char hex[2 * CF_ID_BYTES + 1];
	uint8_t *file = NULL;
	size_t len = 0;
	int rc;

	if (a->npos != 1)
		return usage("cf_forge keygen OUT [--name N]");
	if ((rc = cf_device_new(name != NULL ? name : "forged", &d)) != 0 ||
	    (rc = cf_device_save(d, NULL, 0, &file, &len)) != 0 ||
	    (rc = cf_write_file_atomic(a->pos[0], file, len, 0600)) != 0) {
		cf_free_wipe(file, len);
		cf_device_free(d);
		return fail(rc, "keygen");
	}
	cf_hex(hex, d->id, CF_ID_BYTES);
	printf("%s\n", hex);
	cf_free_wipe(file, len);
	cf_device_free(d);
	return 0;
}

static int
cmd_keyinfo(const struct args *a)
{
	struct cf_device *d = NULL;
	char id[2 * CF_ID_BYTES + 1];
	char spk[2 * CF_SIGN_PK_BYTES + 1];
	char bpk[2 * CF_BOX_PK_BYTES + 1];
	int rc;

	if (a->npos != 1)
		return usage("cf_forge keyinfo FILE");
	if ((rc = load_device(a->pos[0], &d)) != 0)
		return fail(rc, "keyinfo");
	cf_hex(id, d->id, CF_ID_BYTES);
	cf_hex(spk, cf_signkey_pk(d->sign), CF_SIGN_PK_BYTES);
	cf_hex(bpk, cf_boxkey_pk(d->box), CF_BOX_PK_BYTES);
	printf("%s %s %s\n", id, spk, bpk);
	cf_device_free(d);
	return 0;
}

static int
type_of(const char *s, uint8_t *type)
{
	static const char *const names[] = {"add-device", "remove-device", "rotate", "set-recovery",
	                                    "rename"};

	for (size_t i = 0; s != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*type = (uint8_t)(CF_CHAIN_ADD_DEVICE + i);
			return 0;
		}
	}
	return cf_err_set(CF_EINVAL, "--type: unknown entry type");
}

static uint8_t
role_of(const char *s)
{
	if (s == NULL || strcmp(s, "full") == 0)
		return CF_ROLE_FULL;
	if (strcmp(s, "backup-only") == 0)
		return CF_ROLE_BACKUP_ONLY;
	return strcmp(s, "recovery") == 0 ? CF_ROLE_RECOVERY : 0;
}

/* sign_pk and box_pk of the body: from --device-key, else from --sign-pk and --box-pk. */
static int
body_keys(const struct args *a, struct cf_chain_body *b)
{
	struct cf_device *d = NULL;
	int rc;

	if (opt(a, "device-key") == NULL) {
		if ((rc = opt_hex(a, "sign-pk", b->sign_pk, sizeof(b->sign_pk))) != 0)
			return rc;
		return opt_hex(a, "box-pk", b->box_pk, sizeof(b->box_pk));
	}
	if ((rc = load_device(opt(a, "device-key"), &d)) != 0)
		return rc;
	memcpy(b->sign_pk, cf_signkey_pk(d->sign), sizeof(b->sign_pk));
	memcpy(b->box_pk, cf_boxkey_pk(d->box), sizeof(b->box_pk));
	cf_device_free(d);
	return 0;
}

/* The body fields a type needs, from the options. */
static int
body_of(const struct args *a, uint8_t type, struct cf_chain_body *b)
{
	const char *name = opt(a, "name");
	uint64_t v = 0;
	int rc = 0;

	memset(b, 0, sizeof(*b));
	(void)snprintf(b->name, sizeof(b->name), "%s", name != NULL ? name : "forged");
	b->role = role_of(opt(a, "role"));
	if (type == CF_CHAIN_ADD_DEVICE || type == CF_CHAIN_SET_RECOVERY)
		rc = body_keys(a, b);
	else if (type == CF_CHAIN_REMOVE_DEVICE || type == CF_CHAIN_RENAME)
		rc = opt_hex(a, "device", b->device, sizeof(b->device));
	else if ((rc = opt_u64(a, "epoch", 0, &v)) == 0)
		rc = v > UINT32_MAX ? cf_err_set(CF_EINVAL, "--epoch is too large")
		                    : opt_hex(a, "dk-pub", b->dk_pub, sizeof(b->dk_pub));
	b->epoch = (uint32_t)v;
	if (rc == 0 && (rc = opt_u64(a, "last-seq", 0, &v)) == 0)
		b->last_seq = v;
	return rc;
}

/* seq, prev, signer and time of the entry: the next free place unless told otherwise. */
static int
entry_head(const struct args *a, const char *repo, const struct cf_device *signer,
           struct cf_chain_entry *e)
{
	uint64_t n = 0;
	int rc;

	if ((rc = chain_count(repo, &n)) != 0 || (rc = opt_u64(a, "seq", n, &e->seq)) != 0)
		return rc;
	if (opt(a, "prev") != NULL)
		rc = opt_hex(a, "prev", e->prev, sizeof(e->prev));
	else if (e->seq > 0)
		rc = entry_hash(repo, e->seq - 1, e->prev);
	if (rc != 0)
		return rc;
	memcpy(e->signer, signer->id, CF_ID_BYTES);
	if (opt(a, "signer-id") != NULL)
		rc = opt_hex(a, "signer-id", e->signer, sizeof(e->signer));
	e->time = (int64_t)time(NULL);
	return rc;
}

static int
cmd_append(const struct args *a)
{
	struct cf_device *signer = NULL;
	struct cf_chain_entry e;
	struct cf_chain_body b;
	char name[17];
	char hex[2 * CF_HASH_BYTES + 1];
	uint8_t *obj = NULL;
	size_t len = 0;
	uint64_t as = 0;
	int rc;

	memset(&e, 0, sizeof(e));
	if (a->npos != 1)
		return usage("cf_forge append REPO --signer-key FILE --type T [fields]");
	if ((rc = type_of(opt(a, "type"), &e.type)) != 0 ||
	    (rc = load_device(opt(a, "signer-key"), &signer)) != 0 ||
	    (rc = body_of(a, e.type, &b)) != 0 ||
	    (rc = cf_chain_body_encode(e.type, &b, &e.body, &e.body_len)) != 0 ||
	    (rc = entry_head(a, a->pos[0], signer, &e)) != 0 ||
	    (rc = cf_chain_entry_seal(&e, signer->sign, &obj, &len)) != 0)
		goto out;
	if ((rc = opt_u64(a, "as", e.seq, &as)) != 0)
		goto out;
	(void)snprintf(name, sizeof(name), "%016llx", (unsigned long long)as);
	if ((rc = write_obj(a->pos[0], "chain", name, obj, len)) != 0)
		goto out;
	cf_hex(hex, e.hash, CF_HASH_BYTES);
	printf("%s\n", hex);
out:
	cf_free(e.body);
	cf_free(obj);
	cf_device_free(signer);
	return rc == 0 ? 0 : fail(rc, "append");
}

static int
cmd_keyslot(const struct args *a)
{
	struct cf_keyslot_params p;
	struct cf_device *d = NULL;
	struct cf_key *ck = NULL;
	struct cf_boxkey *dk = NULL;
	char name[80];
	uint8_t *obj = NULL;
	size_t len = 0;
	uint64_t epoch = 0;
	int rc;

	memset(&p, 0, sizeof(p));
	if (a->npos != 1)
		return usage("cf_forge keyslot REPO --for-device-key FILE --epoch N [--role R]");
	if ((rc = load_device(opt(a, "for-device-key"), &d)) != 0 ||
	    (rc = opt_u64(a, "epoch", 0, &epoch)) != 0 ||
	    (rc = repo_id_of(a->pos[0], p.repo_id)) != 0 || (rc = cf_key_new_random(&ck)) != 0 ||
	    (rc = cf_boxkey_new(&dk)) != 0)
		goto out;
	memcpy(p.recipient, d->id, CF_ID_BYTES);
	memcpy(p.recipient_box_pk, cf_boxkey_pk(d->box), CF_BOX_PK_BYTES);
	p.epoch = (uint32_t)epoch;
	p.role = role_of(opt(a, "role"));
	if ((rc = cf_keyslot_seal(&p, ck, dk, &obj, &len)) != 0)
		goto out;
	cf_keyslot_name(name, d->id, p.epoch);
	rc = write_obj(a->pos[0], "keys", name, obj, len);
out:
	cf_free(obj);
	cf_key_free(ck);
	cf_boxkey_free(dk);
	cf_device_free(d);
	return rc == 0 ? 0 : fail(rc, "keyslot");
}

/* The newest epoch's DK_pub (or --epoch's), from the verified chain. */
static int
dk_pub_of(const struct args *a, const char *repo, uint32_t *epoch,
          uint8_t dk_pub[static CF_BOX_PK_BYTES])
{
	struct cf_chain_state *cs = NULL;
	struct cf_store *st = NULL;
	uint64_t e = 0;
	int rc;

	if ((rc = cf_store_open_local(repo, false, &st)) != 0 ||
	    (rc = cf_repo_load_chain(st, &cs)) != 0 ||
	    (rc = opt_u64(a, "epoch", cs->nepochs - 1, &e)) != 0)
		goto out;
	if (e >= cs->nepochs) {
		rc = cf_err_set(CF_EINVAL, "the chain has no epoch %llu", (unsigned long long)e);
		goto out;
	}
	*epoch = (uint32_t)e;
	memcpy(dk_pub, cs->dk_pub[e], CF_BOX_PK_BYTES);
out:
	cf_chain_state_free(cs);
	cf_store_free(st);
	return rc;
}

/* A small valid snapshot body signed by --signer-key, in the head it is told. */
static int
forge_snapshot(const struct args *a, const struct cf_device *signer, struct cf_snapshot *s,
               uint8_t dk_pub[static CF_BOX_PK_BYTES])
{
	int rc;

	memcpy(s->head.device, signer->id, CF_ID_BYTES);
	if ((rc = opt_u64(a, "seq", 1, &s->head.seq)) != 0 ||
	    (opt(a, "prev") != NULL &&
	     (rc = opt_hex(a, "prev", s->head.prev, sizeof(s->head.prev))) != 0) ||
	    (rc = dk_pub_of(a, a->pos[0], &s->head.epoch, dk_pub)) != 0)
		return rc;
	s->time_s = (int64_t)time(NULL);
	if ((s->host = cf_strdup("forged")) == NULL)
		return CF_ENOMEM;
	return cf_snapshot_add_path(s, "/forged");
}

static int
cmd_snapshot(const struct args *a)
{
	struct cf_device *signer = NULL;
	struct cf_snapshot *s = NULL;
	uint8_t repo_id[32];
	uint8_t dk_pub[CF_BOX_PK_BYTES];
	char hex[2 * CF_ID_BYTES + 1];
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	if (a->npos != 1)
		return usage("cf_forge snapshot REPO --signer-key FILE --seq N [--prev HEX]");
	if ((rc = load_device(opt(a, "signer-key"), &signer)) != 0 ||
	    (rc = repo_id_of(a->pos[0], repo_id)) != 0 || (rc = cf_snapshot_new(&s)) != 0 ||
	    (rc = forge_snapshot(a, signer, s, dk_pub)) != 0 ||
	    (rc = cf_snapshot_seal(s, repo_id, dk_pub, signer->sign, &obj, &len)) != 0)
		goto out;
	cf_hex(hex, s->id, CF_ID_BYTES);
	if ((rc = write_obj(a->pos[0], "snapshots", hex, obj, len)) == 0)
		printf("%s\n", hex);
out:
	cf_free(obj);
	cf_snapshot_free(s);
	cf_device_free(signer);
	return rc == 0 ? 0 : fail(rc, "snapshot");
}

/* What try-snapshot collects: the device, the repository and the data keys its slots give. */
struct held {
	const char *dir;
	const struct cf_device *dev;
	uint8_t repo_id[32];
	struct cf_boxkey *dk[64];
	uint32_t epoch[64];
	size_t ndk;
	size_t nslots;
};

/* Open one slot file of ours; keep its DK_sec (a backup-only slot has none). */
static void
open_held_slot(struct held *h, const char *name)
{
	char *p = repo_path(h->dir, "", name);
	struct cf_key *ck = NULL;
	struct cf_boxkey *dk = NULL;
	uint8_t *obj = NULL;
	size_t len = 0;
	uint32_t epoch = 0;
	uint8_t role = 0;

	if (p == NULL || cf_read_file(p, CF_KEYSLOT_MAX_BYTES, &obj, &len) != 0)
		goto out;
	if (cf_keyslot_open(obj, len, h->repo_id, h->dev->id, h->dev->box, &epoch, &role, &ck,
	                    &dk) != 0)
		goto out;
	h->nslots++;
	if (dk != NULL && h->ndk < sizeof(h->dk) / sizeof(h->dk[0])) {
		h->epoch[h->ndk] = epoch;
		h->dk[h->ndk++] = dk;
		dk = NULL;
	}
out:
	cf_key_free(ck);
	cf_boxkey_free(dk);
	cf_free(obj);
	cf_free(p);
}

static int
collect_slots(struct held *h)
{
	char prefix[2 * CF_ID_BYTES + 1];
	struct dirent *de = NULL;
	DIR *d = opendir(h->dir);

	if (d == NULL)
		return cf_err_set(CF_ESYS, "cannot list '%s'", h->dir);
	cf_hex(prefix, h->dev->id, CF_ID_BYTES);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			open_held_slot(h, de->d_name);
	(void)closedir(d);
	return 0;
}

/* Try every held data key on the snapshot; 0 when one opens it, EXIT_NONE otherwise. */
static int
try_keys(const struct held *h, const char *snapfile)
{
	struct cf_snapshot *s = NULL;
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	if ((rc = cf_read_file(snapfile, CF_SNAPSHOT_MAX_BYTES, &obj, &len)) != 0)
		return fail(rc, "try-snapshot");
	for (size_t i = 0; i < h->ndk; i++) {
		if (cf_snapshot_open(obj, len, h->repo_id, h->dk[i], &s) == 0) {
			printf("opened with the data key of epoch %u (host %s)\n", h->epoch[i],
			       s->host != NULL ? s->host : "");
			cf_snapshot_free(s);
			cf_free(obj);
			return 0;
		}
	}
	printf("none of %zu data keys from %zu key slots opens it\n", h->ndk, h->nslots);
	cf_free(obj);
	return EXIT_NONE;
}

static int
cmd_try_snapshot(const struct args *a)
{
	struct cf_device *dev = NULL;
	struct held h;
	char *keys = NULL;
	int rc;

	memset(&h, 0, sizeof(h));
	if (a->npos != 2)
		return usage("cf_forge try-snapshot REPO SNAPFILE --device-key FILE [--keys DIR]");
	if ((keys = repo_path(a->pos[0], "keys", "")) == NULL)
		return fail(CF_ENOMEM, "try-snapshot");
	h.dir = opt(a, "keys") != NULL ? opt(a, "keys") : keys;
	if ((rc = load_device(opt(a, "device-key"), &dev)) != 0 ||
	    (rc = repo_id_of(a->pos[0], h.repo_id)) != 0)
		goto out;
	h.dev = dev;
	if ((rc = collect_slots(&h)) != 0)
		goto out;
	rc = try_keys(&h, a->pos[1]);
out:
	for (size_t i = 0; i < h.ndk; i++)
		cf_boxkey_free(h.dk[i]);
	cf_device_free(dev);
	cf_free(keys);
	return rc < 0 ? fail(rc, "try-snapshot") : rc;
}

/* ---- poison-index ---- */

struct poison {
	struct cf_repo *r;
	struct cf_index_pack *copies;
	size_t n;
	char first[2 * CF_ID_BYTES + 1]; /* the smallest index object name */
	bool misplace;                   /* misplace-index: the genuine packs, blobs cut short */
};

/* Store an altered copy of data pack @p and remember it with @p's entries. */
static int
poison_pack(struct poison *z, const struct cf_index_pack *p)
{
	char name[2 * CF_ID_BYTES + 1];
	struct cf_index_pack *nv = NULL;
	uint8_t *pack = NULL;
	size_t len = 0;
	int rc;

	cf_id_name(name, p->id);
	if ((rc = cf_store_get(z->r->store, CF_OBJ_PACK, name, 0, SIZE_MAX, CF_PACK_MAX_BYTES,
	                       &pack, &len)) != 0)
		return rc;
	for (size_t k = 0; k < p->count; k++)
		if (p->entries[k].offset + 30u < len)
			pack[p->entries[k].offset + 30] ^= 1; /* inside the blob's ciphertext */
	if ((nv = cf_realloc(z->copies, (z->n + 1) * sizeof(*nv))) == NULL) {
		cf_free(pack);
		return CF_ENOMEM;
	}
	z->copies = nv;
	nv[z->n] = *p;
	if ((nv[z->n].entries = cf_memdup(p->entries, p->count * sizeof(*p->entries))) == NULL) {
		cf_free(pack);
		return CF_ENOMEM;
	}
	cf_hash(nv[z->n].id, pack, len);
	cf_id_name(name, nv[z->n].id);
	rc = cf_store_put(z->r->store, CF_OBJ_PACK, name, pack, len);
	cf_free(pack);
	z->n += rc == 0;
	return rc;
}

/* Remember data pack @p with every entry one byte short (still valid): not stored anew. */
static int
misplace_pack(struct poison *z, const struct cf_index_pack *p)
{
	struct cf_index_pack *nv = NULL;

	if ((nv = cf_realloc(z->copies, (z->n + 1) * sizeof(*nv))) == NULL)
		return CF_ENOMEM;
	z->copies = nv;
	nv[z->n] = *p;
	if ((nv[z->n].entries = cf_memdup(p->entries, p->count * sizeof(*p->entries))) == NULL)
		return CF_ENOMEM;
	for (size_t k = 0; k < p->count; k++) {
		struct cf_pack_entry *e = &nv[z->n].entries[k];

		e->stored_len--;
		e->raw_len -= e->comp == 0; /* a plain payload is exactly raw_len */
	}
	z->n++;
	return 0;
}

static int
poison_index(void *arg, const char *name, uint64_t size)
{
	struct poison *z = arg;
	struct cf_index_pack *packs = NULL;
	size_t npacks = 0;
	int rc;

	(void)size;
	if (z->first[0] == '\0' || strcmp(name, z->first) < 0)
		(void)snprintf(z->first, sizeof(z->first), "%s", name);
	if ((rc = cf_repo_read_index(z->r, name, &packs, &npacks)) != 0)
		return rc;
	for (size_t i = 0; i < npacks && rc == 0; i++)
		if (packs[i].count > 0 && packs[i].entries[0].type == CF_BLOB_DATA)
			rc = z->misplace ? misplace_pack(z, &packs[i]) : poison_pack(z, &packs[i]);
	cf_index_packs_free(packs, npacks);
	return rc;
}

static int
forge_index(const struct args *a, bool misplace)
{
	const char *what = misplace ? "misplace-index" : "poison-index";
	struct cf_opts *o = NULL;
	struct poison z;
	int rc;

	memset(&z, 0, sizeof(z));
	z.misplace = misplace;
	if (a->npos != 1)
		return usage(misplace ? "cf_forge misplace-index REPO"
		                      : "cf_forge poison-index REPO");
	if ((rc = cf_opts_new(&o)) != 0 || (rc = cf_opts_add(o, "repo", a->pos[0])) != 0 ||
	    (rc = cf_repo_open(o, &z.r)) != 0 ||
	    (rc = cf_store_list(z.r->store, CF_OBJ_INDEX, poison_index, &z)) != 0)
		goto out;
	rc = z.n == 0 ? CF_ENOENT : 0;
	/* regenerate (fresh nonce each time) until the name sorts first: listings are in order */
	for (int tries = 0; rc == 0 && tries < 100000; tries++) {
		uint8_t iid[CF_ID_BYTES];
		char name[2 * CF_ID_BYTES + 1];
		uint8_t *idx = NULL;
		size_t ilen = 0;

		if ((rc = cf_index_encode(z.r->k_index, z.r->chain->repo_id, z.copies, z.n, &idx,
		                          &ilen, iid)) != 0)
			break;
		cf_id_name(name, iid);
		if (strcmp(name, z.first) < 0) {
			rc = cf_store_put(z.r->store, CF_OBJ_INDEX, name, idx, ilen);
			cf_free(idx);
			if (rc == 0)
				printf("%zu\n", z.n);
			goto out;
		}
		cf_free(idx);
	}
	if (rc == 0)
		rc = CF_EINTERNAL;
out:
	cf_index_packs_free(z.copies, z.n);
	cf_repo_free(z.r);
	cf_opts_free(o);
	return rc != 0 ? fail(rc, what) : 0;
}

static int
cmd_poison_index(const struct args *a)
{
	return forge_index(a, false);
}

static int
cmd_misplace_index(const struct args *a)
{
	return forge_index(a, true);
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(const struct args *);
	} cmds[] = {{"keygen", cmd_keygen},
	            {"keyinfo", cmd_keyinfo},
	            {"append", cmd_append},
	            {"keyslot", cmd_keyslot},
	            {"snapshot", cmd_snapshot},
	            {"try-snapshot", cmd_try_snapshot},
	            {"poison-index", cmd_poison_index},
	            {"misplace-index", cmd_misplace_index}};
	struct args a;

	if (cf_init() != 0) {
		fprintf(stderr, "cf_forge: cannot initialise the library\n");
		return 1;
	}
	if (argc < 2 || parse_args(argc, argv, &a) != 0)
		return usage(
		        "cf_forge keygen|keyinfo|append|keyslot|snapshot|try-snapshot|poison-index "
		        "...");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(&a);
	return usage(
	        "cf_forge keygen|keyinfo|append|keyslot|snapshot|try-snapshot|poison-index ...");
}
