/*
 * admin.c - `cofferd admin`: accounts, deletions and gc, on the same database and blob
 * directory as a running `serve` (SQLite in WAL mode with a busy timeout; removals go
 * through the same PURGING rows as the server's own gc, so the two never race on a file).
 *
 * An enrollment token is 32 random bytes shown once as 64 hex digits; the database keeps
 * only SHA-256 of that text, and the token is wiped from memory once printed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "blobs.h"
#include "cmd.h"
#include "gc.h"

#define TIME_TEXT 32

static void
time_text(int64_t t, char out[static TIME_TEXT])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, TIME_TEXT, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(out, TIME_TEXT, "%" PRId64, t);
}

static int
create_account(struct cfd_meta *m, const struct cfd_args *a)
{
	uint8_t raw[CFD_TOKEN_BYTES];
	char token[2 * CFD_TOKEN_BYTES + 1];
	uint8_t hash[CF_HASH_BYTES];
	uint64_t quota = 0;
	int rc;

	if (a->npos != 3 || a->quota == NULL)
		return cfd_usage();
	if (!cfd_account_name_valid(a->pos[2]))
		return cfd_fail(cf_err_set(CF_EINVAL,
		                           "account names are 1..%d of [a-z0-9_-], not "
		                           "'%s'",
		                           CFD_ACCOUNT_MAX, a->pos[2]),
		                "create-account");
	if (cf_parse_size(a->quota, &quota) != 0 || quota == 0)
		return cfd_fail(
		        cf_err_set(CF_EINVAL, "--quota wants a size like 50G, not '%s'", a->quota),
		        "create-account");
	cf_random(raw, sizeof(raw));
	cf_hex(token, raw, sizeof(raw));
	cf_hash(hash, token, strlen(token));
	rc = m->ops->account_create(m, a->pos[2], quota, hash, cfd_now());
	if (rc == CF_EEXIST)
		rc = cf_err_set(rc, "account '%s' exists", a->pos[2]);
	if (rc == 0)
		(void)printf("%s\n", token);
	cf_wipe(raw, sizeof(raw));
	cf_wipe(token, sizeof(token));
	return rc == 0 ? CFD_EXIT_OK : cfd_fail(rc, "create-account");
}

static int
print_account(void *arg, const struct cfd_account *acc)
{
	char created[TIME_TEXT];

	(void)arg;
	time_text(acc->created, created);
	(void)printf("%s quota=%" PRIu64 " used=%" PRIu64 " devices=%" PRIu64 " %s created=%s\n",
	             acc->name, acc->quota, acc->used, acc->ndevices,
	             acc->enrolled ? "enrolled" : "awaiting-enrollment", created);
	return 0;
}

static int
print_deletion(void *arg, const struct cfd_obj_info *o)
{
	const int64_t *retention = arg;
	char deleted[TIME_TEXT];
	char purge[TIME_TEXT];

	time_text(o->deleted_at, deleted);
	time_text(o->deleted_at + *retention, purge);
	(void)printf("%s %s %s size=%" PRIu64 " deleted=%s purge-after=%s\n", o->account,
	             cf_obj_kind_dir(o->kind), o->name, o->size, deleted, purge);
	return 0;
}

static int
admin_retention(struct cfd_meta *m, const struct cfd_args *a, int64_t *out)
{
	*out = cfd_gc_retention(m);
	if (a->retention != NULL && cfd_parse_duration(a->retention, out) != 0)
		return cf_err_set(CF_EINVAL, "--retention wants a duration like 7d, not '%s'",
		                  a->retention);
	return 0;
}

static int
gc(struct cfd_meta *m, struct cfd_blobs *b, const struct cfd_args *a)
{
	struct cfd_gc_stats st = {0, 0, 0};
	int64_t retention = 0;
	int rc;

	if ((rc = admin_retention(m, a, &retention)) != 0 ||
	    (rc = cfd_gc_run(m, b, retention, cfd_now(), &st)) != 0)
		return cfd_fail(rc, "gc");
	(void)printf("removed %" PRIu64 " objects (%" PRIu64 " bytes)\n", st.objects, st.bytes);
	if (st.failed > 0)
		return cfd_fail(cf_err_set(CF_EPARTIAL, "%" PRIu64 " objects could not be removed",
		                           st.failed),
		                "gc");
	return CFD_EXIT_OK;
}

static int
delete_account(struct cfd_meta *m, struct cfd_blobs *b, const struct cfd_args *a)
{
	int rc;

	if (a->npos != 3)
		return cfd_usage();
	if (!cfd_account_name_valid(a->pos[2]))
		return cfd_fail(cf_err_set(CF_EINVAL, "invalid account name '%s'", a->pos[2]),
		                "delete-account");
	/* rows first: from then on every request for the account gets 404 */
	rc = m->ops->account_delete(m, a->pos[2]);
	if (rc == CF_ENOENT)
		rc = cf_err_set(rc, "no account '%s'", a->pos[2]);
	if (rc == 0)
		rc = cfd_blobs_remove_account(b, a->pos[2]);
	if (rc != 0)
		return cfd_fail(rc, "delete-account");
	(void)printf("deleted account '%s'\n", a->pos[2]);
	return CFD_EXIT_OK;
}

static int
run(struct cfd_meta *m, struct cfd_blobs *b, const struct cfd_args *a)
{
	const char *cmd = a->pos[1];
	int64_t retention = 0;
	int rc;

	if (strcmp(cmd, "create-account") == 0)
		return create_account(m, a);
	if (strcmp(cmd, "delete-account") == 0)
		return delete_account(m, b, a);
	if (a->npos != 2)
		return cfd_usage();
	if (strcmp(cmd, "list-accounts") == 0) {
		rc = m->ops->account_list(m, print_account, NULL);
		return rc == 0 ? CFD_EXIT_OK : cfd_fail(rc, "list-accounts");
	}
	if (strcmp(cmd, "list-deletions") == 0) {
		if ((rc = admin_retention(m, a, &retention)) == 0)
			rc = m->ops->deleted_list(m, print_deletion, &retention);
		return rc == 0 ? CFD_EXIT_OK : cfd_fail(rc, "list-deletions");
	}
	if (strcmp(cmd, "gc") == 0)
		return gc(m, b, a);
	return cfd_usage();
}

int
cfd_cmd_admin(const struct cfd_args *a)
{
	struct cfd_meta *m = NULL;
	struct cfd_blobs *b = NULL;
	int rc;

	if (a->data == NULL || a->npos < 2)
		return cfd_usage();
	if ((rc = cfd_open_meta_any(a, false, &m)) != 0 ||
	    (rc = cfd_open_blobs_any(a, false, &b)) != 0) {
		cfd_meta_close(m);
		return cfd_fail(rc, "admin");
	}
	rc = run(m, b, a);
	(void)fflush(stdout);
	cfd_blobs_close(b);
	cfd_meta_close(m);
	return rc;
}
