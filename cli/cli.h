/*
 * cli.h - the coffer command-line program: argument parsing, output, exit codes.
 * All printing of the project happens here and in server/.
 */
#ifndef CF_CLI_H
#define CF_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "coffer/coffer.h"

/* Exit codes of the contract (../shared/DESIGN.md section 8). */
enum cli_exit {
	EXIT_OK = 0,
	EXIT_ERROR = 1,
	EXIT_USAGE = 2,
	EXIT_PARTIAL = 3,
	EXIT_NOREPO = 10,
	EXIT_NOKEY = 12,
	EXIT_INTEGRITY = 13,
};

struct cli {
	struct cf_opts *o; /* everything parsed, as library options */
	bool json;
	bool quiet;
	int verbose;
	bool progress; /* stderr is a terminal and not quiet */
	char **args;   /* positional arguments after the command */
	size_t nargs;
	const char *cmd;
};

/* A command's flags: name, whether it takes a value, and the option key it sets. */
struct cli_flag {
	const char *name;  /* "--tag" or "-l" */
	const char *alias; /* another spelling, or NULL */
	bool value;
	const char *key; /* library option key */
};

struct cli_cmd {
	const char *name;
	int (*run)(struct cli *c);
	const struct cli_flag *flags;
	const char *usage;
	const char *help;
};

/* out.c */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_error_rc(int rc, const char *what);
/*
 * cli_report_damaged() - name each snapshot object @r left out as damaged or forged, and
 * not named before: as errors (@errors), else as warnings. Returns how many it named.
 */
size_t cli_report_damaged(const struct cf_repo *r, bool errors);
int cli_exit_code(int rc);
void json_str(FILE *f, const uint8_t *p, size_t len);
void json_cstr(FILE *f, const char *s);
void print_bytes(FILE *f, const uint8_t *p, size_t len);
void fmt_size(char *out, size_t cap, uint64_t bytes);
void fmt_time(char *out, size_t cap, int64_t sec, uint32_t nsec, bool rfc3339);
void fmt_mode(char *out, enum cf_node_kind k, uint32_t mode);
void progress_event(struct cli *c, const struct cf_event *ev, const char *verb);
void progress_clear(struct cli *c);
int open_repo(struct cli *c, struct cf_repo **out);
/* snapshot_json() - one snapshot as a JSON object; @extra (raw JSON members) goes last. */
void snapshot_json(const struct cf_snapshot *s, bool first, const char *extra);
int ask_passphrase(struct cli *c);

/* commands */
int cmd_init(struct cli *c);
int cmd_backup(struct cli *c);
int cmd_snapshots(struct cli *c);
int cmd_ls(struct cli *c);
int cmd_restore(struct cli *c);
int cmd_diff(struct cli *c);
int cmd_check(struct cli *c);
int cmd_version(struct cli *c);
int cmd_devices(struct cli *c);
int cmd_recover(struct cli *c);
int cmd_recovery(struct cli *c);
int cmd_undelete(struct cli *c);
int cmd_forget(struct cli *c);
int cmd_prune(struct cli *c);

#endif
