/*
 * cmd.h - cofferd's commands (main.c: init, serve; admin.c: admin) and their shared argument
 * parsing and messages. The commands own all printing and exit codes.
 *
 *   cofferd init --data DIR
 *   cofferd serve --data DIR --listen HOST:PORT [--tls-cert F --tls-key F] [--retention 7d]
 *                 [--threads N] [--timeout S] [--grace S]
 *   cofferd admin --data DIR create-account NAME --quota SIZE
 *   cofferd admin --data DIR list-accounts | list-deletions | gc | delete-account NAME
 *                 [--retention D]
 */
#ifndef CFD_CMD_H
#define CFD_CMD_H

#include <stddef.h>

#include "meta.h"

#define CFD_EXIT_OK    0
#define CFD_EXIT_ERR   1
#define CFD_EXIT_USAGE 2
#define CFD_POS_MAX    3

struct cfd_args {
	const char *pos[CFD_POS_MAX];
	size_t npos;
	const char *data;
	const char *listen;
	const char *tls_cert;
	const char *tls_key;
	const char *retention;
	const char *threads;
	const char *timeout;
	const char *grace;
	const char *quota;
	const char *meta;  /* postgres://... (default: SQLite in the data directory) */
	const char *blobs; /* s3://... (default: files in the data directory) */
};

/* cfd_args_parse() - "--name value" options and positionals from argv[@first]. 0 or -1. */
int cfd_args_parse(int argc, char **argv, int first, struct cfd_args *a);
/* cfd_fail() - print "cofferd: WHAT: message" for @rc; returns CFD_EXIT_ERR. */
int cfd_fail(int rc, const char *what);
/* cfd_usage() - print the usage text on stderr; returns CFD_EXIT_USAGE. */
int cfd_usage(void);
/* cfd_data_path() - DIR/@leaf into @out (@cap bytes). 0 or CF_EINVAL (too long). */
int cfd_data_path(char *out, size_t cap, const char *dir, const char *leaf);
/*
 * backends.c: cfd_open_meta_any() / cfd_open_blobs_any() - the stores @a names (--meta,
 * --blobs) or those of the data directory; @create makes them (schema, bucket, directories).
 * cfd_meta_shared() - the metadata may be shared with other instances.
 */
struct cfd_blobs;
int cfd_open_meta_any(const struct cfd_args *a, bool create, struct cfd_meta **out) CF_MUST_CHECK;
int cfd_open_blobs_any(const struct cfd_args *a, bool create, struct cfd_blobs **out) CF_MUST_CHECK;
bool cfd_meta_shared(const struct cfd_args *a);

int cfd_cmd_admin(const struct cfd_args *a);

#endif
