/*
 * cmd_recovery.c - recovery split / combine / unwrap: the recovery key as K-of-N shares
 * (docs/format.md 10.3). The library makes, reads and checks the shares (coffer/recovery.h);
 * this file writes the files (mode 0600, never over an existing file) and prints.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/recovery.h"

#include "cli.h"

#define SHARE_NAME_MAX sizeof("/coffer-share-255-of-255.txt")

/*
 * Usage:
 *   coffer -r REPO recovery split --threshold K --shares N --recovery-key-file FILE
 *                                 [--out DIR] [--to PUBFILE]...
 *   coffer recovery combine SHARE... [--recovery-key-file OUT]
 *   coffer recovery unwrap SHARE [--out FILE]
 */
static int
usage_error(const char *what)
{
	cli_error("recovery: %s", what);
	return EXIT_USAGE;
}

/* A count of 1..255 written in decimal digits only. */
static int
parse_count(const char *s, unsigned *out)
{
	unsigned v = 0;
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > 3)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v < 1 || v > CF_SHARES_MAX)
		return -1;
	*out = v;
	return 0;
}

/* Write @len bytes of @text to a new file @path (mode 0600); never replaces a file. */
static int
write_secret_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	size_t done = 0;
	int err = 0;

	if (fd < 0) {
		cli_error("cannot create '%s': %s", path, strerror(errno));
		return -1;
	}
	while (done < len) {
		ssize_t w = write(fd, text + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = w < 0 ? errno : EIO;
			break;
		}
		done += (size_t)w;
	}
	if (err == 0 && fsync(fd) != 0)
		err = errno;
	if (close(fd) != 0 && err == 0)
		err = errno;
	if (err != 0) {
		cli_error("cannot write '%s': %s", path, strerror(err));
		unlink(path);
		return -1;
	}
	return 0;
}

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* The output directory, made (0700) when missing. */
static int
out_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		cli_error("cannot create directory '%s': %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		cli_error("'%s' is not a directory", dir);
		return -1;
	}
	return 0;
}

/* DIR/coffer-share-<i>-of-<N>.txt for i = 1..N, none of which may exist yet. */
static char **
share_paths(const char *dir, unsigned n)
{
	size_t cap = strlen(dir) + SHARE_NAME_MAX;
	char **paths = calloc(n, sizeof(*paths));

	if (paths == NULL)
		return NULL;
	for (unsigned i = 0; i < n; i++) {
		if ((paths[i] = malloc(cap)) == NULL)
			goto fail;
		(void)snprintf(paths[i], cap, "%s/coffer-share-%u-of-%u.txt", dir, i + 1, n);
		if (exists(paths[i])) {
			cli_error("share file '%s' already exists", paths[i]);
			goto fail;
		}
	}
	return paths;
fail:
	for (unsigned i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	return NULL;
}

static void
free_paths(char **paths, unsigned n)
{
	for (unsigned i = 0; paths != NULL && i < n; i++)
		free(paths[i]);
	free(paths);
}

/* Write every share of @s to @paths; on a failure remove the ones written. */
static int
write_shares(const struct cf_shares *s, char **paths, unsigned n)
{
	char text[CF_SHARES_TEXT_MAX];
	unsigned i = 0;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		if (cf_shares_text(s, i, text, sizeof(text)) != 0) {
			cli_error("cannot encode share %u", i + 1);
			rc = -1;
			break;
		}
		rc = write_secret_file(paths[i], text, strlen(text));
		cf_shares_wipe(text, sizeof(text));
	}
	if (rc != 0)
		while (i-- > 0)
			unlink(paths[i]);
	return rc;
}

static void
print_split(const struct cli *c, const struct cf_shares *s, char **paths, unsigned k, unsigned n)
{
	char fp[65];

	cf_shares_fingerprint(s, fp);
	if (c->json) {
		printf("{\"message_type\":\"shares\",\"repository\":\"%s\",\"threshold\":%u,"
		       "\"shares\":%u,\"files\":[",
		       fp, k, n);
		for (unsigned i = 0; i < n; i++) {
			if (i > 0)
				putchar(',');
			json_cstr(stdout, paths[i]);
		}
		printf("]}\n");
		return;
	}
	for (unsigned i = 0; i < n; i++)
		printf("%s\n", paths[i]);
	if (!c->quiet && isatty(1))
		printf("\nAny %u of these %u files rebuild the recovery key of repository %.16s.\n"
		       "Give each to a different person; keep none of them with the key itself.\n",
		       k, n, fp);
}

/* Options of split, checked before anything is read. */
static int
split_args(const struct cli *c, unsigned *k, unsigned *n)
{
	size_t nto = 0;

	if (c->nargs != 1)
		return usage_error("split takes no arguments besides its options");
	if (parse_count(cf_opts_get(c->o, "threshold"), k) != 0 ||
	    parse_count(cf_opts_get(c->o, "shares"), n) != 0)
		return usage_error("split needs --threshold K and --shares N (numbers 2..255)");
	if (*k < 2 || *k > *n)
		return usage_error("want 2 <= threshold K <= shares N <= 255");
	while (cf_opts_nth(c->o, "to", nto) != NULL)
		nto++;
	if (nto != 0 && nto != *n)
		return usage_error("give --to once per share (N times), or not at all");
	if (cf_opts_get(c->o, "recovery-key-file") == NULL)
		return usage_error("split needs --recovery-key-file FILE (the key to split)");
	if (cf_opts_get(c->o, "repo") == NULL)
		return usage_error("split needs the repository (-r REPO or COFFER_REPO)");
	return 0;
}

static int
recovery_split(struct cli *c)
{
	const char *dir = cf_opts_get(c->o, "out") != NULL ? cf_opts_get(c->o, "out") : ".";
	struct cf_shares *s = NULL;
	char **paths = NULL;
	unsigned k = 0;
	unsigned n = 0;
	int rc;

	if ((rc = split_args(c, &k, &n)) != 0)
		return rc;
	if (out_dir(dir) != 0 || (paths = share_paths(dir, n)) == NULL)
		return EXIT_ERROR;
	if ((rc = cf_shares_split(c->o, k, n, &s)) != 0) {
		cli_error_rc(rc, "cannot split the recovery key");
		rc = cli_exit_code(rc);
		goto out;
	}
	if (write_shares(s, paths, n) != 0) {
		rc = EXIT_ERROR;
		goto out;
	}
	print_split(c, s, paths, k, n);
out:
	cf_shares_free(s);
	free_paths(paths, n);
	return rc;
}

/* Read every share file named on the command line into a new set. */
static int
load_shares(struct cli *c, size_t first, struct cf_shares **out)
{
	struct cf_shares *s = NULL;
	int rc;

	*out = NULL;
	if ((rc = cf_shares_new(&s)) != 0) {
		cli_error_rc(rc, "cannot load shares");
		return EXIT_ERROR;
	}
	for (size_t i = first; i < c->nargs; i++) {
		if ((rc = cf_shares_load(s, c->o, c->args[i])) != 0) {
			cli_error_rc(rc, "cannot read share");
			cf_shares_free(s);
			return EXIT_ERROR;
		}
	}
	*out = s;
	return 0;
}

/* The recovery key file, as 'coffer init --recovery-key-file' writes it. */
static int
write_key_file(const char *path, const char *fp, const char *code)
{
	char text[512];
	int n = snprintf(text, sizeof(text),
	                 "# Coffer recovery key of repository %s\n"
	                 "# Keep it offline: it can read and restore every backup of this "
	                 "repository.\n"
	                 "%s\n",
	                 fp, code);
	int rc = n > 0 && (size_t)n < sizeof(text) ? write_secret_file(path, text, (size_t)n) : -1;

	cf_shares_wipe(text, sizeof(text));
	return rc;
}

/* The rebuilt key: its code, or where it was written (@keyfile). */
static void
print_combined(const struct cli *c, const char *fp, const char *code, const char *keyfile,
               size_t nshares)
{
	if (c->json) {
		printf("{\"message_type\":\"recovery_key\",\"repository\":\"%s\",", fp);
		if (keyfile != NULL) {
			printf("\"file\":");
			json_cstr(stdout, keyfile);
		} else {
			printf("\"recovery_key\":\"%s\"", code);
		}
		printf("}\n");
	} else if (keyfile == NULL) {
		printf("recovery key of repository %s, rebuilt from %zu shares:\n\n  %s\n\n", fp,
		       nshares, code);
	} else if (!c->quiet) {
		printf("recovery key of repository %s written to %s\n", fp, keyfile);
	}
}

static int
recovery_combine(struct cli *c)
{
	const char *keyfile = cf_opts_get(c->o, "recovery-key-file");
	struct cf_shares *s = NULL;
	char code[CF_SHARES_CODE_BYTES];
	char fp[65];
	int rc;

	if (c->nargs < 2)
		return usage_error("combine needs the share files: combine SHARE...");
	if (keyfile != NULL && exists(keyfile)) {
		cli_error("recovery key file '%s' already exists", keyfile);
		return EXIT_ERROR;
	}
	if ((rc = load_shares(c, 1, &s)) != 0)
		return rc;
	if ((rc = cf_shares_combine(s, c->o, code, sizeof(code))) != 0) {
		cli_error_rc(rc, "cannot combine the shares");
		rc = rc == CF_ENOKEY || rc == CF_ENOREPO ? cli_exit_code(rc) : EXIT_ERROR;
		goto out;
	}
	cf_shares_fingerprint(s, fp);
	if (keyfile != NULL && write_key_file(keyfile, fp, code) != 0)
		rc = EXIT_ERROR;
	else
		print_combined(c, fp, code, keyfile, cf_shares_count(s));
out:
	cf_shares_wipe(code, sizeof(code));
	cf_shares_free(s);
	return rc;
}

static int
recovery_unwrap(struct cli *c)
{
	const char *out = cf_opts_get(c->o, "out");
	struct cf_shares *s = NULL;
	char text[CF_SHARES_TEXT_MAX];
	int rc;

	if (c->nargs != 2)
		return usage_error("unwrap takes one share file: unwrap SHARE [--out FILE]");
	if (out != NULL && exists(out)) {
		cli_error("'%s' already exists", out);
		return EXIT_ERROR;
	}
	if ((rc = load_shares(c, 1, &s)) != 0)
		return rc;
	if (!cf_shares_was_wrapped(s, 0)) {
		cli_error("share '%s' is not wrapped: it can be used as it is", c->args[1]);
		rc = EXIT_ERROR;
	} else if (cf_shares_text(s, 0, text, sizeof(text)) != 0) {
		cli_error("cannot encode share '%s'", c->args[1]);
		rc = EXIT_ERROR;
	} else if (out == NULL) {
		fputs(text, stdout);
	} else if (write_secret_file(out, text, strlen(text)) != 0) {
		rc = EXIT_ERROR;
	} else if (!c->quiet) {
		printf("%s\n", out);
	}
	cf_shares_wipe(text, sizeof(text));
	cf_shares_free(s);
	return rc;
}

/* Write a new recovery key file: comment lines, then the code; mode 0600, never over a file. */
static int
write_new_key(const char *path, const char *code)
{
	FILE *f = NULL;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		cli_error("cannot create '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return EXIT_ERROR;
	}
	fprintf(f,
	        "# Coffer recovery key (replaces the previous one)\n"
	        "# Keep it offline: it can read and restore every backup of this repository.\n"
	        "%s\n",
	        code);
	if (fflush(f) != 0 || fsync(fd) != 0 || fclose(f) != 0) {
		cli_error("cannot write '%s'", path);
		return EXIT_ERROR;
	}
	return EXIT_OK;
}

/* recovery rotate [--out FILE]: a new recovery key; the old one reads nothing new. */
static int
recovery_rotate(struct cli *c)
{
	const char *out = cf_opts_get(c->o, "out");
	struct cf_repo *r = NULL;
	char code[128];
	int rc;

	if (c->nargs != 1)
		return usage_error("rotate takes no arguments besides --out FILE");
	if (out != NULL && access(out, F_OK) == 0) {
		cli_error("'%s' already exists", out);
		return EXIT_ERROR;
	}
	if ((rc = open_repo(c, &r)) != 0)
		return cli_exit_code(rc);
	rc = cf_recovery_rotate(r, code, sizeof(code));
	cf_repo_free(r);
	if (rc != 0) {
		cli_error_rc(rc, "cannot replace the recovery key");
		return cli_exit_code(rc);
	}
	if (out != NULL)
		rc = write_new_key(out, code);
	else
		printf("new recovery key (the old one no longer opens anything new):\n\n  %s\n\n",
		       code);
	cf_memzero(code, sizeof(code));
	return rc;
}

int
cmd_recovery(struct cli *c)
{
	const char *sub = c->nargs > 0 ? c->args[0] : NULL;

	if (sub == NULL)
		return usage_error("recovery needs a command: split, combine, unwrap or rotate");
	if (strcmp(sub, "split") == 0)
		return recovery_split(c);
	if (strcmp(sub, "combine") == 0)
		return recovery_combine(c);
	if (strcmp(sub, "unwrap") == 0)
		return recovery_unwrap(c);
	if (strcmp(sub, "rotate") == 0)
		return recovery_rotate(c);
	cli_error("unknown recovery command '%s' (split, combine, unwrap or rotate)", sub);
	return EXIT_USAGE;
}
