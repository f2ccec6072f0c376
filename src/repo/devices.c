/*
 * devices.c - changing the device chain: approve a joining device, revoke (remove + rotate),
 * rename, recover with the recovery key. Every change is one more signed entry, written
 * write-once under its sequence number, so two devices appending at once cannot both win.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../device/device.h"
#include "../keys/keys.h"
#include "../recovery/recovery.h"
#include "repo.h"

/* Append one entry of @type with @body, signed by this device (or the recovery key). */
static int
append_entry(struct cf_repo *r, uint8_t type, const struct cf_chain_body *b)
{
	struct cf_chain_state *cs = NULL;
	struct cf_chain_entry e;
	char name[17];
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	memset(&e, 0, sizeof(e));
	if ((rc = cf_chain_body_encode(type, b, &e.body, &e.body_len)) != 0)
		return cf_err_set(rc, "invalid device chain entry");
	e.seq = r->chain->head_seq + 1;
	memcpy(e.prev, r->chain->head, CF_HASH_BYTES);
	e.type = type;
	e.time = (int64_t)time(NULL);
	memcpy(e.signer, r->dev->id, CF_ID_BYTES);
	if ((rc = cf_chain_entry_seal(&e, r->dev->sign, &obj, &len)) != 0)
		goto out;
	(void)snprintf(name, sizeof(name), "%016llx", (unsigned long long)e.seq);
	rc = cf_store_put(r->store, CF_OBJ_CHAIN, name, obj, len);
	if (rc == CF_EEXIST) {
		rc = cf_err_set(CF_EEXIST, "another device changed the device chain meanwhile: "
		                           "run the command again");
		goto out;
	}
	/* verify what is now stored, as any client would, and remember it as seen */
	if (rc != 0 || (rc = cf_repo_load_chain(r->store, &cs)) != 0 ||
	    (rc = cf_home_record_head(r->home, cs)) != 0)
		goto out;
	cf_chain_state_free(r->chain);
	r->chain = cs;
	cs = NULL;
out:
	cf_chain_state_free(cs);
	cf_free(e.body);
	cf_free(obj);
	return rc;
}

/* Write the key slot of one recipient for @epoch: CK, and DK_sec unless backup-only. */
static int
put_slot(struct cf_repo *r, const uint8_t id[static CF_ID_BYTES],
         const uint8_t box_pk[static CF_BOX_PK_BYTES], uint32_t epoch, uint8_t role,
         const struct cf_boxkey *dk)
{
	struct cf_keyslot_params p;
	char name[80];
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	memset(&p, 0, sizeof(p));
	memcpy(p.repo_id, r->chain->repo_id, sizeof(p.repo_id));
	memcpy(p.recipient, id, CF_ID_BYTES);
	memcpy(p.recipient_box_pk, box_pk, CF_BOX_PK_BYTES);
	p.epoch = epoch;
	p.role = role;
	if ((rc = cf_keyslot_seal(&p, r->ck, role == CF_ROLE_BACKUP_ONLY ? NULL : dk, &obj,
	                          &len)) != 0)
		return rc;
	cf_keyslot_name(name, id, epoch);
	rc = cf_store_put(r->store, CF_OBJ_KEYS, name, obj, len);
	cf_free(obj);
	return rc == CF_EEXIST ? 0 : rc;
}

/* Only a full device or the recovery key may change the chain. */
static int
require_full(const struct cf_repo *r)
{
	if (r->role != CF_ROLE_FULL && r->role != CF_ROLE_RECOVERY)
		return cf_err_set(CF_EPERM, "only a full device can change the device chain");
	for (uint32_t e = 0; e < r->nepochs; e++)
		if (r->dk[e] == NULL)
			return cf_err_set(CF_ENOKEY, "this device lacks the data key of epoch %u",
			                  e);
	return 0;
}

/* Slots for a new member: every epoch for a full device, the current one for backup-only. */
static int
slots_for_new(struct cf_repo *r, const uint8_t id[static CF_ID_BYTES],
              const uint8_t box_pk[static CF_BOX_PK_BYTES], uint8_t role)
{
	int rc = 0;

	if (role == CF_ROLE_BACKUP_ONLY)
		return put_slot(r, id, box_pk, r->nepochs - 1, role, NULL);
	for (uint32_t e = 0; e < r->nepochs && rc == 0; e++)
		rc = put_slot(r, id, box_pk, e, role, r->dk[e]);
	return rc;
}

/* Add a device: slots first (useless without the entry), then the entry that vouches. */
static int
add_member(struct cf_repo *r, const uint8_t sign_pk[static 32], const uint8_t box_pk[static 32],
           uint8_t role, const char *name)
{
	struct cf_chain_body b;
	uint8_t id[CF_ID_BYTES];
	int rc;

	memset(&b, 0, sizeof(b));
	cf_device_id_of(id, sign_pk, box_pk);
	if (cf_chain_find_device(r->chain, id) != NULL)
		return cf_err_set(CF_EEXIST, "device '%s' is already a member", name);
	memcpy(b.sign_pk, sign_pk, CF_SIGN_PK_BYTES);
	memcpy(b.box_pk, box_pk, CF_BOX_PK_BYTES);
	b.role = role;
	(void)snprintf(b.name, sizeof(b.name), "%s", name);
	if ((rc = slots_for_new(r, id, box_pk, role)) != 0)
		return rc;
	return append_entry(r, CF_CHAIN_ADD_DEVICE, &b);
}

struct find_req {
	struct cf_repo *r;
	const char *code;
	struct cf_join_request req;
	char name[CF_OBJ_NAME_MAX + 1];
	int found;
	bool roles_differ; /* two requests with the code ask for different roles */
};

static int
match_request(void *arg, const char *name, uint64_t size)
{
	struct find_req *f = arg;
	struct cf_join_request req;
	char code[CF_PAIRING_CODE_BYTES];
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	(void)size;
	rc = cf_store_get(f->r->store, CF_OBJ_REQUEST, name, 0, SIZE_MAX, CF_JOIN_MAX_BYTES, &obj,
	                  &len);
	if (rc != 0)
		return rc == CF_ENOENT || rc == CF_ETOOBIG ? 0 : rc;
	rc = cf_join_request_open(obj, len, &req);
	cf_free(obj);
	if (rc != 0)
		return 0; /* not a valid request: ignored, it can add no one */
	cf_pairing_code(req.sign_pk, req.box_pk, code);
	if (!cf_pairing_code_equal(code, f->code))
		return 0;
	if (f->found > 0 && f->req.role != req.role)
		f->roles_differ = true;
	f->req = req;
	(void)snprintf(f->name, sizeof(f->name), "%s", name);
	f->found++;
	return 0;
}

int
cf_devices_approve(struct cf_repo *r, const char *code, cf_confirm_fn *confirm, void *arg)
{
	struct find_req f;
	char shown[CF_PAIRING_CODE_BYTES];
	int rc;

	memset(&f, 0, sizeof(f));
	f.r = r;
	f.code = code;
	if ((rc = require_full(r)) != 0 ||
	    (rc = cf_store_list(r->store, CF_OBJ_REQUEST, match_request, &f)) != 0)
		return rc;
	if (f.found == 0)
		return cf_err_set(CF_ENOENT, "no join request has the pairing code '%s'", code);
	/* a storage side could serve an older request of the same keys asking for more */
	if (f.roles_differ)
		return cf_err_set(CF_EINVAL,
		                  "join requests with the pairing code '%s' ask for different "
		                  "roles: run 'coffer devices join' again on the new device",
		                  code);
	cf_pairing_code(f.req.sign_pk, f.req.box_pk, shown);
	if (confirm != NULL &&
	    !confirm(arg, f.req.name, f.req.role == CF_ROLE_FULL ? "full" : "backup-only", shown))
		return cf_err_set(CF_ECANCELED, "not approved");
	if ((rc = add_member(r, f.req.sign_pk, f.req.box_pk, f.req.role, f.req.name)) != 0)
		return rc;
	/* the request is spent; a leftover one can add no one else (the entry is in the chain) */
	if (cf_store_delete(r->store, CF_OBJ_REQUEST, f.name) != 0)
		cf_err_clear();
	return 0;
}

/*
 * The store of a device that is not a member yet: cofferd answers nothing else before its
 * join request is in, so the repository's existence shows when the chain is read after it.
 */
static int
open_for_join(const char *loc, const struct cf_device *dev, struct cf_remote_auth *auth,
              struct cf_store **out)
{
	if (!cf_remote_url_is(loc))
		return cf_store_open_local(loc, false, out);
	memset(auth, 0, sizeof(*auth));
	auth->sign = dev->sign;
	memcpy(auth->device, dev->id, CF_ID_BYTES);
	return cf_store_open_remote(loc, auth, out);
}

int
cf_devices_join(const struct cf_opts *o, char *code, size_t cap)
{
	const char *role_s = cf_opts_get(o, "role");
	const char *loc = cf_opts_get(o, "repo");
	uint8_t role = CF_ROLE_FULL;
	struct cf_remote_auth auth;
	struct cf_device *dev = NULL;
	struct cf_store *st = NULL;
	struct cf_chain_state *cs = NULL;
	char *home = NULL;
	char name[2 * CF_ID_BYTES + 1];
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	if (cap < CF_PAIRING_CODE_BYTES)
		cf_misuse("cf_devices_join: code buffer too small");
	if (role_s != NULL && strcmp(role_s, "backup-only") == 0)
		role = CF_ROLE_BACKUP_ONLY;
	else if (role_s != NULL && strcmp(role_s, "full") != 0)
		return cf_err_set(CF_EUSAGE, "--role must be 'full' or 'backup-only'");
	if (loc == NULL || *loc == '\0')
		return cf_err_set(CF_EUSAGE, "no repository given (use -r or COFFER_REPO)");
	if ((rc = cf_home_dir(o, &home)) != 0 ||
	    (rc = cf_home_load_device(home, o, true, cf_opts_get(o, "device-name"), &dev)) != 0 ||
	    (rc = open_for_join(loc, dev, &auth, &st)) != 0 ||
	    (rc = cf_join_request_seal(dev, role, (int64_t)time(NULL), &obj, &len)) != 0)
		goto out;
	/* the request first: on cofferd it is what lets this device read the chain */
	cf_hex(name, dev->id, CF_ID_BYTES);
	rc = cf_store_put(st, CF_OBJ_REQUEST, name, obj, len);
	if (rc == CF_EEXIST) /* asked before: the same keys give the same code */
		rc = 0;
	if (rc != 0 || (rc = cf_repo_load_chain(st, &cs)) != 0)
		goto out;
	if (cf_chain_find_device(cs, dev->id) != NULL) {
		rc = cf_err_set(CF_EEXIST, "this device is already a member of the repository");
		goto out;
	}
	if ((rc = cf_home_record_head(home, cs)) != 0)
		goto out;
	cf_pairing_code(cf_signkey_pk(dev->sign), cf_boxkey_pk(dev->box), code);
out:
	cf_free(obj);
	cf_chain_state_free(cs);
	cf_store_free(st);
	cf_device_free(dev);
	cf_free(home);
	return rc;
}

/* Resolve a device id prefix (at least 8 hex digits) among the chain's devices. */
static int
find_by_prefix(const struct cf_repo *r, const char *ref, const struct cf_chain_device **out)
{
	char hex[2 * CF_ID_BYTES + 1];
	size_t n = strlen(ref);

	*out = NULL;
	if (n < 8 || n > 2 * CF_ID_BYTES)
		return cf_err_set(CF_EUSAGE, "give at least 8 hex digits of a device id, not '%s'",
		                  ref);
	for (size_t i = 0; i < r->chain->ndevices; i++) {
		const struct cf_chain_device *d = &r->chain->devices[i];

		cf_hex(hex, d->id, CF_ID_BYTES);
		if (d->removed || strncmp(hex, ref, n) != 0)
			continue;
		if (*out != NULL)
			return cf_err_set(CF_EUSAGE, "device id '%s' is ambiguous", ref);
		*out = d;
	}
	if (*out == NULL)
		return cf_err_set(CF_ENOENT, "no device '%s' in this repository", ref);
	return 0;
}

/* Is @ref the prefix of a device that was removed? */
static bool
removed_by_prefix(const struct cf_repo *r, const char *ref)
{
	char hex[2 * CF_ID_BYTES + 1];
	size_t n = strlen(ref);

	for (size_t i = 0; n >= 8 && i < r->chain->ndevices; i++) {
		cf_hex(hex, r->chain->devices[i].id, CF_ID_BYTES);
		if (r->chain->devices[i].removed && strncmp(hex, ref, n) == 0) {
			cf_err_clear();
			return true;
		}
	}
	return false;
}

/* New epoch: a fresh data key pair, its public half in the chain, the secret in slots of
 * the remaining full devices and the recovery key only. */
static int
rotate(struct cf_repo *r)
{
	struct cf_chain_body b;
	struct cf_boxkey *dk = NULL;
	struct cf_boxkey **ndk = NULL;
	uint32_t epoch = r->nepochs;
	int rc;

	memset(&b, 0, sizeof(b));
	if ((rc = cf_boxkey_new(&dk)) != 0)
		return rc;
	for (size_t i = 0; i < r->chain->ndevices && rc == 0; i++) {
		const struct cf_chain_device *d = &r->chain->devices[i];

		if (!d->removed && d->role == CF_ROLE_FULL)
			rc = put_slot(r, d->id, d->box_pk, epoch, CF_ROLE_FULL, dk);
	}
	if (rc == 0)
		rc = put_slot(r, r->chain->recovery.id, r->chain->recovery.box_pk, epoch,
		              CF_ROLE_RECOVERY, dk);
	b.epoch = epoch;
	memcpy(b.dk_pub, cf_boxkey_pk(dk), CF_BOX_PK_BYTES);
	if (rc == 0)
		rc = append_entry(r, CF_CHAIN_ROTATE, &b);
	/* keep the new epoch's key: what this run writes next is sealed to it */
	if (rc == 0 && (ndk = cf_realloc(r->dk, (size_t)(epoch + 1) * sizeof(*ndk))) == NULL)
		rc = CF_ENOMEM;
	if (rc == 0) {
		r->dk = ndk;
		r->dk[epoch] = dk;
		dk = NULL;
		r->nepochs = epoch + 1;
		r->epoch = epoch;
	}
	cf_boxkey_free(dk);
	return rc;
}

int
cf_repo_finish_revocation(struct cf_repo *r)
{
	int rc;

	if (!r->chain->rotate_pending)
		return 0;
	if ((rc = require_full(r)) != 0)
		return cf_err_set(CF_EPERM, "a revocation is unfinished and this device cannot "
		                            "finish it: run 'coffer devices revoke ID' on a full "
		                            "device first");
	return rotate(r);
}

int
cf_devices_revoke(struct cf_repo *r, const char *ref)
{
	const struct cf_chain_device *d = NULL;
	struct cf_chain_body b;
	uint8_t last[CF_HASH_BYTES];
	int rc;

	memset(&b, 0, sizeof(b));
	/* an earlier revocation that stopped after remove-device is finished first */
	if ((rc = require_full(r)) != 0 || (rc = cf_repo_finish_revocation(r)) != 0)
		return rc;
	if (find_by_prefix(r, ref, &d) != 0 && removed_by_prefix(r, ref))
		return 0; /* it was that revocation: done now */
	if ((rc = find_by_prefix(r, ref, &d)) != 0)
		return rc;
	if (memcmp(d->id, r->dev->id, CF_ID_BYTES) == 0)
		return cf_err_set(CF_EINVAL, "a device cannot revoke itself here: revoke it from "
		                             "another full device");
	if ((rc = cf_repo_device_seq(r, d->id, &b.last_seq, last)) != 0)
		return rc;
	/* its forget records stop counting once it is removed: this device vouches for them */
	if ((rc = cf_forget_resign(r, d->id)) != 0)
		return rc;
	memcpy(b.device, d->id, CF_ID_BYTES);
	/* b.last_seq: its later snapshots, if it writes any, are refused */
	if ((rc = append_entry(r, CF_CHAIN_REMOVE_DEVICE, &b)) != 0)
		return rc;
	return rotate(r);
}

int
cf_devices_rename(struct cf_repo *r, const char *ref, const char *name)
{
	const struct cf_chain_device *d = NULL;
	struct cf_chain_body b;
	int rc;

	memset(&b, 0, sizeof(b));
	if ((rc = require_full(r)) != 0 || (rc = find_by_prefix(r, ref, &d)) != 0)
		return rc;
	if (!cf_device_name_valid(name, strlen(name)))
		return cf_err_set(CF_EUSAGE, "invalid device name '%s'", name);
	memcpy(b.device, d->id, CF_ID_BYTES);
	(void)snprintf(b.name, sizeof(b.name), "%s", name);
	return append_entry(r, CF_CHAIN_RENAME, &b);
}

int
cf_recover(const struct cf_opts *o)
{
	struct cf_device *dev = NULL;
	struct cf_repo *r = NULL;
	int rc;

	if (cf_opts_get(o, "recovery-key-file") == NULL)
		return cf_err_set(CF_EUSAGE, "recover needs --recovery-key-file");
	if ((rc = cf_repo_open(o, &r)) != 0)
		return rc;
	if ((rc = cf_home_load_device(r->home, o, true, cf_opts_get(o, "device-name"), &dev)) != 0)
		goto out;
	if (cf_chain_find_device(r->chain, dev->id) != NULL) {
		rc = cf_err_set(CF_EEXIST, "this machine is already a device of the repository");
		goto out;
	}
	rc = add_member(r, cf_signkey_pk(dev->sign), cf_boxkey_pk(dev->box), CF_ROLE_FULL,
	                dev->name);
out:
	cf_device_free(dev);
	cf_repo_free(r);
	return rc;
}

/* ---- listing ---- */

size_t
cf_repo_ndevices(const struct cf_repo *r)
{
	return r->chain->ndevices;
}

/* The i-th device; i must be below cf_repo_ndevices() (API misuse otherwise). */
static const struct cf_chain_device *
dev_at(const struct cf_repo *r, size_t i)
{
	if (i >= r->chain->ndevices)
		cf_misuse("device index out of range");
	return &r->chain->devices[i];
}

void
cf_repo_device_id_hex(const struct cf_repo *r, size_t i, char *out)
{
	cf_hex(out, dev_at(r, i)->id, CF_ID_BYTES);
}

const char *
cf_repo_device_name(const struct cf_repo *r, size_t i)
{
	return dev_at(r, i)->name;
}

const char *
cf_repo_device_role(const struct cf_repo *r, size_t i)
{
	return dev_at(r, i)->role == CF_ROLE_FULL ? "full" : "backup-only";
}

void
cf_repo_device_added_by(const struct cf_repo *r, size_t i, char *out)
{
	const struct cf_chain_device *d = dev_at(r, i);
	const struct cf_chain_device *by = cf_chain_find_device(r->chain, d->added_by);

	if (memcmp(d->added_by, d->id, CF_ID_BYTES) == 0)
		(void)snprintf(out, 65, "itself (repository creator)");
	else if (by != NULL)
		(void)snprintf(out, 65, "%s", by->name);
	else
		(void)snprintf(out, 65, "recovery key");
}

int64_t
cf_repo_device_added_at(const struct cf_repo *r, size_t i)
{
	return dev_at(r, i)->added_at;
}

bool
cf_repo_device_removed(const struct cf_repo *r, size_t i)
{
	return dev_at(r, i)->removed;
}

bool
cf_repo_device_is_self(const struct cf_repo *r, size_t i)
{
	return memcmp(dev_at(r, i)->id, r->dev->id, CF_ID_BYTES) == 0;
}

void
cf_repo_head_code(const struct cf_repo *r, char *out)
{
	char hex[2 * CF_HASH_BYTES + 1];

	/* 64 bits of the head hash, enough to compare by eye or over the phone */
	cf_hex(hex, r->chain->head, CF_HASH_BYTES);
	(void)snprintf(out, 32, "%llu:%.4s-%.4s-%.4s-%.4s", (unsigned long long)r->chain->head_seq,
	               hex, hex + 4, hex + 8, hex + 12);
}

void
cf_repo_self_public(const struct cf_repo *r, char *out)
{
	cf_hex(out, cf_boxkey_pk(r->dev->box), CF_BOX_PK_BYTES);
}

/*
 * A new recovery key: its slots for every epoch, the set-recovery entry that vouches for it,
 * then a new epoch, so the old key (lost, or in the wrong hands) reads nothing written next.
 */
int
cf_recovery_rotate(struct cf_repo *r, char *code, size_t cap)
{
	struct cf_device *rec = NULL;
	struct cf_key *rk = NULL;
	struct cf_chain_body b;
	int rc;

	memset(&b, 0, sizeof(b));
	if (cap < CF_RECOVERY_TEXT_BYTES)
		cf_misuse("cf_recovery_rotate: code buffer too small");
	if ((rc = require_full(r)) != 0 || (rc = cf_repo_finish_revocation(r)) != 0)
		return rc;
	if ((rc = cf_key_new_random(&rk)) != 0 || (rc = cf_recovery_identity(rk, &rec)) != 0)
		goto out;
	for (uint32_t e = 0; e < r->nepochs && rc == 0; e++)
		rc = put_slot(r, rec->id, cf_boxkey_pk(rec->box), e, CF_ROLE_RECOVERY, r->dk[e]);
	memcpy(b.sign_pk, cf_signkey_pk(rec->sign), CF_SIGN_PK_BYTES);
	memcpy(b.box_pk, cf_boxkey_pk(rec->box), CF_BOX_PK_BYTES);
	if (rc != 0 || (rc = append_entry(r, CF_CHAIN_SET_RECOVERY, &b)) != 0 ||
	    (rc = rotate(r)) != 0)
		goto out;
	cf_recovery_encode(rk, code);
out:
	cf_device_free(rec);
	cf_key_free(rk);
	return rc;
}
