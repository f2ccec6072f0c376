/*
 * http_chain.c - chain appends and enrollment: the server verifies the whole device chain
 * with the new entry appended, with the client's own code (cf_chain_verify), and keeps the
 * roles and removals the verified chain gives (docs/format.md 10 and 15).
 *
 * Appends are serialised by the reservation of the entry's name: entry n can be reserved
 * by one upload only, and entry n+1 verifies only once entry n is live.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "chain/chain.h"
#include "http.h"

#define SEQ_NAME_BYTES 17

struct chain_names {
	uint64_t next;
	bool broken;
};

static void
seq_name(char out[static SEQ_NAME_BYTES], uint64_t seq)
{
	(void)snprintf(out, SEQ_NAME_BYTES, "%016" PRIx64, seq);
}

/* The stored entries must be named 0, 1, 2... with no gap. */
static int
count_entry(void *arg, const struct cfd_obj_info *o)
{
	struct chain_names *cn = arg;
	char want[SEQ_NAME_BYTES];

	seq_name(want, cn->next);
	if (strcmp(o->name, want) != 0)
		cn->broken = true;
	cn->next++;
	return 0;
}

static int
stored_length(struct cfd_server *srv, const char *account, uint64_t *n)
{
	struct cfd_meta *m = srv->meta;
	struct cfd_list_query q = {account, CF_OBJ_CHAIN, "", CF_CHAIN_MAX_LEN, false};
	struct chain_names cn = {0, false};
	int rc;

	if ((rc = m->ops->object_list(m, &q, count_entry, &cn)) != 0)
		return rc;
	if (cn.broken)
		return cf_err_set(CF_EINTEGRITY, "the stored chain of '%s' has a gap", account);
	*n = cn.next;
	return 0;
}

static int
load_entry(struct cfd_server *srv, const char *account, uint64_t seq, struct cf_chain_entry **out)
{
	char name[SEQ_NAME_BYTES];
	struct cfd_obj_key k = {account, CF_OBJ_CHAIN, name};
	uint8_t *p = NULL;
	size_t len = 0;
	int rc;

	seq_name(name, seq);
	if ((rc = cfd_blobs_read(srv->blobs, &k, CF_CHAIN_MAX_BYTES, &p, &len)) != 0)
		return rc;
	rc = cf_chain_entry_decode(p, len, out);
	cf_free(p);
	return rc;
}

/* The entry's name must be the next sequence number, and its own seq field the same. */
static int
decode_next(const char *name, uint64_t n, const uint8_t *p, size_t len, struct cf_chain_entry **out)
{
	char want[SEQ_NAME_BYTES];
	int rc;

	seq_name(want, n);
	if (strcmp(name, want) != 0)
		return cf_err_set(CF_EINVAL, "chain entry '%s' is not the next one (%s)", name,
		                  want);
	if ((rc = cf_chain_entry_decode(p, len, out)) != 0)
		return rc;
	if ((*out)->seq != n)
		return cf_err_set(CF_EFORMAT, "chain entry '%s' says seq %" PRIu64, name,
		                  (*out)->seq);
	return 0;
}

static int
devices_of(const struct cf_chain_state *st, struct cfd_chain_devices *out)
{
	size_t n = st->ndevices + 1;

	out->devices = cf_calloc(n, sizeof(*out->devices));
	if (out->devices == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; i < st->ndevices; i++) {
		struct cfd_device *d = &out->devices[i];

		memcpy(d->id, st->devices[i].id, CF_ID_BYTES);
		memcpy(d->sign_pk, st->devices[i].sign_pk, CF_SIGN_PK_BYTES);
		d->role =
		        st->devices[i].role == CF_ROLE_FULL ? CFD_ROLE_FULL : CFD_ROLE_BACKUP_ONLY;
		d->removed = st->devices[i].removed;
	}
	memcpy(out->devices[n - 1].id, st->recovery.id, CF_ID_BYTES);
	memcpy(out->devices[n - 1].sign_pk, st->recovery.sign_pk, CF_SIGN_PK_BYTES);
	out->devices[n - 1].role = CFD_ROLE_RECOVERY;
	memcpy(out->recovery_id, st->recovery.id, CF_ID_BYTES);
	out->ndevices = n;
	return 0;
}

int
cfd_chain_check(struct cfd_server *srv, const char *account, const char *name, const uint8_t *p,
                size_t len, struct cfd_chain_devices *out)
{
	struct cf_chain_entry **e = NULL;
	struct cf_chain_state *st = NULL;
	uint64_t n = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = stored_length(srv, account, &n)) != 0)
		return rc;
	if (n >= CF_CHAIN_MAX_LEN)
		return cf_err_set(CF_ETOOBIG, "the chain of '%s' is full", account);
	e = cf_calloc((size_t)n + 1, sizeof(struct cf_chain_entry *));
	if (e == NULL)
		return CF_ENOMEM;
	for (uint64_t i = 0; i < n; i++) {
		if ((rc = load_entry(srv, account, i, &e[i])) != 0)
			goto out;
	}
	if ((rc = decode_next(name, n, p, len, &e[n])) != 0 ||
	    (rc = cf_chain_verify(e, (size_t)n + 1, &st)) != 0)
		goto out;
	rc = devices_of(st, out);
out:
	for (uint64_t i = 0; i <= n; i++)
		cf_chain_entry_free(e[i]);
	cf_free(e);
	cf_chain_state_free(st);
	return rc;
}

void
cfd_chain_devices_release(struct cfd_chain_devices *d)
{
	cf_free(d->devices);
	memset(d, 0, sizeof(*d));
}
