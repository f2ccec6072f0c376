/*
 * cmd_repo.c - init, snapshots, check, version.
 */
#include <errno.h>
#include <fcntl.h>
#include <qrencode.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

/* Read a passphrase from the terminal without echo. */
int
ask_passphrase(struct cli *c)
{
	struct termios old;
	struct termios quiet;
	char buf[1024];
	size_t n = 0;
	int rc = 0;

	if (!cf_device_needs_passphrase(c->o) || !isatty(0))
		return 0;
	if (tcgetattr(0, &old) != 0)
		return 0;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	fputs("passphrase of this device's key: ", stderr);
	(void)tcsetattr(0, TCSAFLUSH, &quiet);
	if (fgets(buf, sizeof(buf), stdin) == NULL)
		buf[0] = '\0';
	(void)tcsetattr(0, TCSAFLUSH, &old);
	fputc('\n', stderr);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	if (cf_opts_add(c->o, "passphrase", buf) != 0)
		rc = -1;
	cf_memzero(buf, sizeof(buf));
	return rc;
}

int
open_repo(struct cli *c, struct cf_repo **out)
{
	int rc;

	if (ask_passphrase(c) != 0)
		return CF_ENOMEM;
	rc = cf_repo_open(c->o, out);

	if (rc != 0)
		cli_error_rc(rc, "cannot open repository");
	return rc;
}

/* Draw the code as a QR code with half-block characters (two modules per character). */
static void
print_qr(const char *code)
{
	QRcode *qr = QRcode_encodeString(code, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	int w = 0;

	if (qr == NULL)
		return;
	w = qr->width;
	for (int y = -2; y < w + 2; y += 2) {
		fputs("  ", stdout);
		for (int x = -2; x < w + 2; x++) {
			bool top = y >= 0 && y < w && x >= 0 && x < w && (qr->data[y * w + x] & 1);
			bool bot = y + 1 >= 0 && y + 1 < w && x >= 0 && x < w &&
			           (qr->data[(y + 1) * w + x] & 1);

			/* dark modules print as spaces on a light block background */
			fputs(top ? (bot ? " " : "\xe2\x96\x84")
			          : (bot ? "\xe2\x96\x80" : "\xe2\x96\x88"),
			      stdout);
		}
		fputc('\n', stdout);
	}
	QRcode_free(qr);
}

static int
write_recovery_file(const char *path, const char *fp, const char *code)
{
	char text[512];
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	int n = snprintf(
	        text, sizeof(text),
	        "# Coffer recovery key of repository %s\n"
	        "# Keep it offline: it can read and restore every backup of this repository.\n"
	        "%s\n",
	        fp, code);
	bool ok = fd >= 0 && n > 0 && write(fd, text, (size_t)n) == n && fsync(fd) == 0;

	cf_memzero(text, sizeof(text));
	if (fd >= 0)
		close(fd);
	if (!ok) {
		cli_error("cannot write recovery key file '%s': %s", path, strerror(errno));
		if (fd >= 0)
			unlink(path);
		return EXIT_ERROR;
	}
	return EXIT_OK;
}

int
cmd_init(struct cli *c)
{
	const char *keyfile = NULL;
	struct cf_repo *r = NULL;
	char code[128];
	char fp[65];
	int rc;

	if (c->nargs > 0) {
		cli_error("init takes no arguments");
		return EXIT_USAGE;
	}
	keyfile = cf_opts_get(c->o, "recovery-key-out");
	if (keyfile != NULL && access(keyfile, F_OK) == 0) {
		cli_error("recovery key file '%s' already exists", keyfile);
		return EXIT_ERROR;
	}
	if ((rc = cf_repo_create(c->o, code, sizeof(code))) != 0) {
		cli_error_rc(rc, "cannot create repository");
		return cli_exit_code(rc);
	}
	if ((rc = cf_repo_open(c->o, &r)) != 0) {
		cli_error_rc(rc, "cannot open the new repository");
		cf_memzero(code, sizeof(code));
		return cli_exit_code(rc);
	}
	cf_repo_fingerprint(r, fp);
	cf_repo_free(r);
	if (keyfile != NULL)
		rc = write_recovery_file(keyfile, fp, code);
	if (c->json) {
		printf("{\"message_type\":\"initialized\",\"id\":\"%s\"", fp);
		if (keyfile == NULL)
			printf(",\"recovery_key\":\"%s\"", code);
		printf("}\n");
	} else {
		printf("created repository %s\n", fp);
		if (keyfile != NULL) {
			printf("recovery key written to %s\n", keyfile);
		} else {
			printf("\nRecovery key (shown only this once; store it offline):\n\n  "
			       "%s\n\n",
			       code);
			if (isatty(1))
				print_qr(code);
		}
	}
	cf_memzero(code, sizeof(code));
	return rc;
}

void
snapshot_json(const struct cf_snapshot *s, bool first, const char *extra)
{
	char id[65];
	char tree[65];
	char parent[65];
	char dev[65];
	char t[64];
	uint32_t ns = 0;
	int64_t sec = cf_snapshot_time(s, &ns);

	cf_snapshot_id_hex(s, id);
	cf_snapshot_tree_hex(s, tree);
	cf_snapshot_parent_hex(s, parent);
	cf_snapshot_device_hex(s, dev);
	fmt_time(t, sizeof(t), sec, ns, true);
	printf("%s{\"id\":\"%s\",\"short_id\":\"%.8s\",\"time\":\"%s\",\"host\":", first ? "" : ",",
	       id, id, t);
	json_cstr(stdout, cf_snapshot_host(s));
	printf(",\"username\":");
	json_cstr(stdout, cf_snapshot_username(s));
	printf(",\"paths\":[");
	for (size_t i = 0; i < cf_snapshot_npaths(s); i++) {
		printf(i > 0 ? "," : "");
		json_cstr(stdout, cf_snapshot_path(s, i));
	}
	printf("],\"tags\":[");
	for (size_t i = 0; i < cf_snapshot_ntags(s); i++) {
		printf(i > 0 ? "," : "");
		json_cstr(stdout, cf_snapshot_tag(s, i));
	}
	printf("],\"tree\":\"%s\",\"device\":\"%s\",\"parent\":", tree, dev);
	if (parent[0] != '\0')
		printf("\"%s\"", parent);
	else
		printf("null");
	printf(",\"seq\":%llu%s}", (unsigned long long)cf_snapshot_seq(s),
	       extra != NULL ? extra : "");
}

static void
snapshot_line(const struct cf_snapshot *s)
{
	char id[65];
	char t[64];
	uint32_t ns = 0;
	int64_t sec = cf_snapshot_time(s, &ns);

	cf_snapshot_id_hex(s, id);
	fmt_time(t, sizeof(t), sec, ns, false);
	printf("%.8s  %s  %-12s ", id, t, cf_snapshot_host(s));
	for (size_t i = 0; i < cf_snapshot_ntags(s); i++)
		printf("%s%s", i > 0 ? "," : "", cf_snapshot_tag(s, i));
	printf("%s", cf_snapshot_ntags(s) > 0 ? "  " : "");
	for (size_t i = 0; i < cf_snapshot_npaths(s); i++)
		printf("%s%s", i > 0 ? " " : "", cf_snapshot_path(s, i));
	printf("\n");
}

int
cmd_snapshots(struct cli *c)
{
	struct cf_snapshot **v = NULL;
	struct cf_repo *r = NULL;
	size_t n = 0;
	int rc;

	if (c->nargs > 0) {
		cli_error("snapshots takes no arguments");
		return EXIT_USAGE;
	}
	if ((rc = open_repo(c, &r)) != 0)
		return cli_exit_code(rc);
	if ((rc = cf_snapshots_list(r, c->o, &v, &n)) != 0) {
		cli_error_rc(rc, "cannot list snapshots");
		goto out;
	}
	if (c->json)
		printf("[");
	else if (n > 0)
		printf("ID        Time                 Host         Tags  Paths\n");
	for (size_t i = 0; i < n; i++) {
		if (c->json)
			snapshot_json(v[i], i == 0, NULL);
		else
			snapshot_line(v[i]);
	}
	if (c->json)
		printf("]\n");
	else
		printf("%zu snapshot%s\n", n, n == 1 ? "" : "s");
	cf_snapshots_free(v, n);
	if (cli_report_damaged(r, true) > 0)
		rc = CF_EINTEGRITY; /* listed what reads; named what does not (P10) */
out:
	cf_repo_free(r);
	return cli_exit_code(rc);
}

struct check_out {
	struct cli *c;
	char **msgs; /* --json: problems collected for the final object */
	size_t n;
	bool read_data;      /* a progress event came: packs were read */
	uint64_t packs_read; /* from the last progress event */
};

/* A problem: a line on stderr, and with --json also an entry of the final object. */
static void
check_note(struct check_out *co, const char *msg)
{
	char **nv = NULL;

	cli_error("%s", msg);
	if (!co->c->json) {
		co->n++;
		return;
	}
	if ((nv = realloc(co->msgs, (co->n + 1) * sizeof(*nv))) == NULL)
		return;
	co->msgs = nv;
	if ((co->msgs[co->n] = strdup(msg)) != NULL)
		co->n++;
}

static void
check_event(void *arg, const struct cf_event *ev)
{
	struct check_out *co = arg;

	if (cf_event_kind(ev) == CF_EV_PROGRESS) {
		co->read_data = true;
		co->packs_read = cf_event_counter(ev, CF_CTR_FILES_DONE);
	} else if (cf_event_kind(ev) == CF_EV_PROBLEM) {
		check_note(co, cf_event_message(ev));
	} else if (cf_event_kind(ev) == CF_EV_WARNING && !co->c->quiet) {
		fprintf(stderr, "coffer: note: %s\n", cf_event_message(ev));
	}
}

static void
check_print_json(struct check_out *co, bool ok)
{
	printf("{\"ok\":%s,\"errors\":[", ok ? "true" : "false");
	for (size_t i = 0; i < co->n; i++) {
		printf(i > 0 ? "," : "");
		json_cstr(stdout, co->msgs[i]);
		free(co->msgs[i]);
	}
	/* packs_read only when data was read: a plain check keeps {"ok", "errors"} */
	printf("]");
	if (co->read_data)
		printf(",\"packs_read\":%llu", (unsigned long long)co->packs_read);
	printf("}\n");
	free(co->msgs);
}

int
cmd_check(struct cli *c)
{
	struct check_out co = {c, NULL, 0, false, 0};
	struct cf_repo *r = NULL;
	int rc;

	if (c->nargs > 0) {
		cli_error("check takes no arguments");
		return EXIT_USAGE;
	}
	if (cf_check_validate(c->o) != 0) {
		cli_error("%s", cf_err_last());
		return EXIT_USAGE;
	}
	rc = ask_passphrase(c) != 0 ? CF_ENOMEM : cf_repo_open(c->o, &r);
	/* a repository that does not open is reported whatever the reason; a check that ran
	 * has already reported each problem it found */
	if (r == NULL || (rc = cf_check(r, c->o, check_event, &co)) != CF_EINTEGRITY)
		if (rc != 0)
			check_note(&co, cf_err_last()[0] != '\0' ? cf_err_last() : cf_strerror(rc));
	if (c->json) {
		check_print_json(&co, rc == 0);
	} else {
		if (co.read_data && !c->quiet)
			printf("%llu pack%s read\n", (unsigned long long)co.packs_read,
			       co.packs_read == 1 ? "" : "s");
		if (rc == 0)
			printf("no errors were found\n");
	}
	cf_repo_free(r);
	return cli_exit_code(rc);
}

int
cmd_version(struct cli *c)
{
	if (c->nargs > 0) {
		cli_error("version takes no arguments");
		return EXIT_USAGE;
	}
	if (c->json)
		printf("{\"version\":\"%s\",\"format\":%d}\n", cf_version(), cf_format_version());
	else
		printf("coffer %s (repository format %d)\n", cf_version(), cf_format_version());
	return EXIT_OK;
}

int
cmd_undelete(struct cli *c)
{
	struct cf_repo *r = NULL;
	uint64_t n = 0;
	int rc;

	if (c->nargs > 0) {
		cli_error("undelete takes no arguments");
		return EXIT_USAGE;
	}
	if ((rc = open_repo(c, &r)) != 0)
		return cli_exit_code(rc);
	if ((rc = cf_undelete(r, &n)) != 0)
		cli_error_rc(rc, "cannot undelete");
	else if (c->json)
		printf("{\"message_type\":\"undeleted\",\"objects\":%llu}\n",
		       (unsigned long long)n);
	else if (!c->quiet)
		printf("%llu object(s) brought back\n", (unsigned long long)n);
	cf_repo_free(r);
	return cli_exit_code(rc);
}
