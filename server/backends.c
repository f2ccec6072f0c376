/*
 * backends.c - which metadata store and blob store a command uses (cmd.h): by default
 * SQLite at DATA/cofferd.db and files under DATA/blobs; with --meta postgres://... and
 * --blobs s3://BUCKET?endpoint=...&region=... a PostgreSQL database and an S3 bucket that
 * several cofferd instances share (docs/operations.md). Secrets never come from the command
 * line: PostgreSQL's password from PGPASSWORD or PGPASSFILE, S3's keys from
 * AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the file COFFERD_S3_CREDENTIALS.
 */
#include <string.h>

#include "base/base.h"
#include "blobs.h"
#include "cmd.h"
#include "meta.h"

#define PATH_CAP 4096

static bool
has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* postgres://[user[:password]@]host...: refuse the password part. */
static int
check_pg_uri(const char *uri)
{
	const char *rest = strstr(uri, "://") + 3;
	const char *at = strchr(rest, '@');
	const char *slash = strchr(rest, '/');
	const char *colon = strchr(rest, ':');

	if (at != NULL && (slash == NULL || at < slash) && colon != NULL && colon < at)
		return cf_err_set(
		        CF_EINVAL,
		        "--meta: put the database password in PGPASSWORD or a PGPASSFILE, "
		        "not on the command line");
	if (strstr(uri, "password=") != NULL)
		return cf_err_set(CF_EINVAL, "--meta: no password= parameter; use PGPASSWORD or a "
		                             "PGPASSFILE");
	return 0;
}

bool
cfd_meta_shared(const struct cfd_args *a)
{
	return a->meta != NULL;
}

int
cfd_open_meta_any(const struct cfd_args *a, bool create, struct cfd_meta **out)
{
	char path[PATH_CAP];
	int rc;

	*out = NULL;
	if (a->meta != NULL) {
		if (!has_prefix(a->meta, "postgres://") && !has_prefix(a->meta, "postgresql://"))
			return cf_err_set(
			        CF_EINVAL,
			        "--meta wants a postgres:// URI (the default is SQLite in "
			        "the data directory)");
		if ((rc = check_pg_uri(a->meta)) != 0)
			return rc;
		return cfd_meta_open_pg(a->meta, create, out);
	}
	if ((rc = cfd_data_path(path, sizeof(path), a->data, "cofferd.db")) != 0)
		return rc;
	rc = cfd_meta_open_sqlite(path, create, out);
	if (rc == CF_ENOENT)
		return cf_err_set(rc, "no cofferd data in '%s' (run 'cofferd init --data %s')",
		                  a->data, a->data);
	return rc;
}

int
cfd_open_blobs_any(const struct cfd_args *a, bool create, struct cfd_blobs **out)
{
	char tmp[PATH_CAP];
	int rc;

	*out = NULL;
	if (a->blobs != NULL) {
		if (!has_prefix(a->blobs, "s3://"))
			return cf_err_set(
			        CF_EINVAL,
			        "--blobs wants an s3://BUCKET?endpoint=URL&region=R URI (the "
			        "default is files in the data directory)");
		/* uploads in flight wait here; the data directory belongs to one serve */
		if ((rc = cfd_data_path(tmp, sizeof(tmp), a->data, "s3tmp")) != 0)
			return rc;
		return cfd_blobs_open_s3(a->blobs, tmp, create, out);
	}
	if (create && (rc = cfd_blobs_create(a->data)) != 0)
		return rc;
	return cfd_blobs_open(a->data, out);
}
