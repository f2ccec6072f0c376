/*
 * main.c - coffer: argument parsing and command dispatch.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"

static const struct cli_flag no_flags[] = {{NULL, NULL, false, NULL}};

static const struct cli_flag init_flags[] = {
        {"--device-name", NULL, true, "device-name"},
        {"--recovery-key-file", NULL, true, "recovery-key-out"},
        {"--token", NULL, true, "token"},
        {NULL, NULL, false, NULL},
};

static const struct cli_flag backup_flags[] = {
        {"--tag", NULL, true, "tag"},
        {"--host", NULL, true, "host"},
        {"--exclude", "-e", true, "exclude"},
        {"--exclude-file", NULL, true, "exclude-file"},
        {"--one-file-system", "-x", false, "one-file-system"},
        {"--dry-run", "-n", false, "dry-run"},
        {"--parent", NULL, true, "parent"},
        {"--time", NULL, true, "time"},
        {NULL, NULL, false, NULL},
};

static const struct cli_flag filter_flags[] = {
        {"--host", NULL, true, "host"},
        {"--tag", NULL, true, "tag"},
        {"--path", NULL, true, "path"},
        {NULL, NULL, false, NULL},
};

static const struct cli_flag ls_flags[] = {
        {"-l", "--long", false, "long"},
        {NULL, NULL, false, NULL},
};

static const struct cli_flag restore_flags[] = {
        {"--target", "-t", true, "target"},  {"--include", "-i", true, "include"},
        {"--verify", NULL, false, "verify"}, {"--workers", NULL, true, "workers"},
        {NULL, NULL, false, NULL},
};

static const struct cli_flag devices_flags[] = {
        {"--role", NULL, true, "role"},
        {"--device-name", NULL, true, "device-name"},
        {"--yes", "-y", false, "yes"},
        {NULL, NULL, false, NULL},
};

static const struct cli_flag recover_flags[] = {
        {"--device-name", NULL, true, "device-name"},
        {NULL, NULL, false, NULL},
};

static const struct cli_flag recovery_flags[] = {
        {"--threshold", NULL, true, "threshold"},
        {"--shares", NULL, true, "shares"},
        {"--to", NULL, true, "to"},
        {"--out", NULL, true, "out"},
        {NULL, NULL, false, NULL},
};

static const struct cli_flag check_flags[] = {
        {"--read-data", NULL, false, "read-data"},
        {"--read-data-subset", NULL, true, "read-data-subset"},
        {NULL, NULL, false, NULL},
};

static const struct cli_flag forget_flags[] = {
        {"--keep-last", NULL, true, "keep-last"},
        {"--keep-within", NULL, true, "keep-within"},
        {"--keep-hourly", NULL, true, "keep-hourly"},
        {"--keep-daily", NULL, true, "keep-daily"},
        {"--keep-weekly", NULL, true, "keep-weekly"},
        {"--keep-monthly", NULL, true, "keep-monthly"},
        {"--keep-yearly", NULL, true, "keep-yearly"},
        {"--keep-tag", NULL, true, "keep-tag"},
        {"--host", NULL, true, "host"},
        {"--tag", NULL, true, "tag"},
        {"--path", NULL, true, "path"},
        {"--dry-run", "-n", false, "dry-run"},
        {"--prune", NULL, false, "prune"},
        {"--max-repack-size", NULL, true, "max-repack-size"},
        {"--grace", NULL, true, "grace"},
        {NULL, NULL, false, NULL},
};

static const struct cli_flag prune_flags[] = {
        {"--dry-run", "-n", false, "dry-run"},
        {"--max-repack-size", NULL, true, "max-repack-size"},
        {"--grace", NULL, true, "grace"},
        {NULL, NULL, false, NULL},
};

static int cmd_help(struct cli *c);

static const struct cli_cmd commands[] = {
        {"init", cmd_init, init_flags, "init [--device-name NAME] [--recovery-key-file FILE]",
         "Create a repository, this device's identity (if needed) and a recovery key.\n"
         "  --device-name NAME        name of this device (default: host name)\n"
         "  --recovery-key-file FILE  write the recovery key to FILE (mode 0600) instead of\n"
         "                            printing it\n"
         "  --token TOKEN             enrollment token (cofferd repositories only)\n"},
        {"backup", cmd_backup, backup_flags,
         "backup [--tag T]... [--host H] [--exclude GLOB]... [--exclude-file F]\n"
         "              [--one-file-system] [--dry-run] PATH...",
         "Back up PATHs into a new snapshot. Unchanged files are not read again.\n"
         "  --tag T               add a tag (repeatable)\n"
         "  --host H              record H as the host name\n"
         "  -e, --exclude GLOB    leave out names or paths matching GLOB (repeatable)\n"
         "  --exclude-file F      read exclude patterns from F, one per line\n"
         "  -x, --one-file-system do not cross file system boundaries\n"
         "  -n, --dry-run         do everything but write to the repository\n"
         "  --parent SNAPSHOT     compare against SNAPSHOT instead of the latest of this host\n"
         "  --time T              record T as the snapshot's time (2026-01-31T12:00:00Z,\n"
         "                        '2026-01-31 12:00' local time, or @UNIXSECONDS)\n"
         "Exit 3 when the snapshot was written but some files could not be read.\n"},
        {"snapshots", cmd_snapshots, filter_flags, "snapshots [--host H] [--tag T] [--path P]",
         "List snapshots, oldest first.\n"
         "  --host H   only snapshots of host H\n"
         "  --tag T    only snapshots with tag T (repeatable: all must match)\n"
         "  --path P   only snapshots that include path P\n"},
        {"ls", cmd_ls, ls_flags, "ls SNAPSHOT [PATH] [-l]",
         "List the contents of a snapshot (everything, or PATH and its entries).\n"
         "  -l, --long   mode, owner, size and modification time too\n"},
        {"restore", cmd_restore, restore_flags,
         "restore SNAPSHOT --target DIR [--include PATH]... [--verify]",
         "Restore a snapshot into DIR (created if missing).\n"
         "  -t, --target DIR     where to restore\n"
         "  -i, --include PATH   restore only PATH (repeatable)\n"
         "  --verify             read every restored chunk back and check it\n"
         "  --workers N          threads writing files (default: 4 per CPU, at most 8; 0: none)\n"
         "Exit 13 when damaged data was found (the affected files are named and left out).\n"},
        {"diff", cmd_diff, no_flags, "diff SNAPSHOT SNAPSHOT",
         "Show what changed between two snapshots: + added, - removed, M content changed,\n"
         "U metadata changed, T type changed.\n"},
        {"check", cmd_check, check_flags, "check [--read-data | --read-data-subset PERCENT]",
         "Verify the repository's structure, every snapshot and tree.\n"
         "  --read-data                 also read and verify every byte of every pack\n"
         "  --read-data-subset PERCENT  read PERCENT (0 < P <= 100, e.g. 5 or 2.5%) of the\n"
         "                              packs, those verified least recently first; run\n"
         "                              daily with 5, every pack is read within 20 days\n"
         "Exit 13 when a problem was found.\n"},
        {"version", cmd_version, no_flags, "version", "Print the version.\n"},
        {"help", cmd_help, no_flags, "help [COMMAND]", "Show help for coffer or a command.\n"},
        {"undelete", cmd_undelete, no_flags, "undelete",
         "Bring back, on a cofferd repository, every object a full device deleted that the\n"
         "server still keeps (its retention window, 7 days by default). Full devices only.\n"},
        {"forget", cmd_forget, forget_flags,
         "forget [--keep-within DURATION] [--keep-last N]\n"
         "              [--keep-hourly|daily|weekly|monthly|yearly N] [--keep-tag T]...\n"
         "              [--host H] [--tag T] [--path P] [--dry-run] [--prune] [SNAPSHOT...]",
         "Remove snapshots by policy, or the SNAPSHOTs named. Snapshots are grouped by the\n"
         "device that wrote them, host and paths; each rule keeps a snapshot, and a snapshot\n"
         "no rule keeps is removed.\n"
         "  --keep-last N          the N newest\n"
         "  --keep-within D        those within D of the newest (D like 7d, 2w, 1y6m, 36h)\n"
         "  --keep-hourly N        the newest of each of the last N hours (by time window:\n"
         "  --keep-daily N         an hour, day, week, month or year without a snapshot\n"
         "  --keep-weekly N        counts too)\n"
         "  --keep-monthly N\n"
         "  --keep-yearly N\n"
         "  --keep-tag T           every snapshot tagged T (repeatable)\n"
         "  --host H, --tag T, --path P   consider only matching snapshots\n"
         "  -n, --dry-run          print what would be kept and removed, and why\n"
         "  --prune                run prune afterwards\n"
         "Snapshots dated more than an hour ahead of this clock are kept and never counted,\n"
         "so forged future-dated snapshots cannot push genuine ones out.\n"},
        {"prune", cmd_prune, prune_flags, "prune [--dry-run] [--max-repack-size SIZE] [--grace D]",
         "Free the space of forgotten snapshots without locking anyone out. Unused packs are\n"
         "condemned now and deleted by a later prune, once every device has written a newer\n"
         "snapshot or the grace period has passed; running backups never lose data.\n"
         "  -n, --dry-run            print what would be done\n"
         "  --max-repack-size SIZE   copy at most SIZE of live data out of partly used packs\n"
         "                           (like 500M or 2G; default: no limit)\n"
         "  --grace D                delete condemned packs after D even if a device has not\n"
         "                           written since (default 24h; keep it above your longest\n"
         "                           backup)\n"},
        {"devices", cmd_devices, devices_flags,
         "devices [list | join | approve CODE | revoke ID | rename ID NAME]\n"
         "              [--role full|backup-only] [--device-name NAME] [--yes]",
         "Manage the devices that hold keys of this repository.\n"
         "  list            devices, roles, who added them; the repository fingerprint and a\n"
         "                  short code of the current chain head to compare between devices\n"
         "  join            (on a new device) ask to join; prints a pairing code\n"
         "  approve CODE    (on a full device) add the device whose request has CODE\n"
         "  revoke ID       remove a device and rotate the data key: it reads nothing new\n"
         "  rename ID NAME  rename a device\n"
         "  --role R        join as 'full' (default) or 'backup-only' (can back up, never read)\n"
         "  --device-name N name of this device when joining (default: host name)\n"
         "  --yes           approve without asking\n"},
        {"recover", cmd_recover, recover_flags,
         "recover --recovery-key-file FILE [--device-name NAME]",
         "Add this machine as a full device using the recovery key (on a blank machine).\n"},
        {"recovery", cmd_recovery, recovery_flags,
         "recovery [split --threshold K --shares N [--to FILE]... [--out DIR]\n"
         "              | combine SHARE... | unwrap SHARE | rotate [--out FILE]]",
         "Split the recovery key into N shares of which any K rebuild it, or rebuild it.\n"
         "  --threshold K   shares needed to rebuild the key\n"
         "  --shares N      shares written\n"
         "  --to FILE       wrap a share to a contact's public key (repeat: one per share)\n"
         "  --out DIR       where share files are written (default: the current directory)\n"
         "  --recovery-key-file FILE  the recovery key to split, or where combine writes it\n"
         "  rotate          replace the recovery key (and the data key): the old one opens\n"
         "                  nothing new; --out FILE writes the new key to FILE\n"},
        {NULL, NULL, NULL, NULL, NULL},
};

static void
usage(FILE *f)
{
	fputs("usage: coffer [-r REPO] [--json] [-q] [-v] COMMAND [ARGS]\n\n"
	      "Global options:\n"
	      "  -r, --repo REPO           repository directory (env COFFER_REPO)\n"
	      "  --json                    machine-readable output\n"
	      "  -q, --quiet               no progress\n"
	      "  -v, --verbose             more output\n"
	      "  --recovery-key-file FILE  read with the recovery key instead of this device\n\n"
	      "Commands:\n",
	      f);
	for (const struct cli_cmd *c = commands; c->name != NULL; c++)
		fprintf(f, "  coffer %s\n", c->usage);
	fputs("\nEnvironment: COFFER_REPO, COFFER_HOME (device identity), COFFER_CACHE,\n"
	      "COFFER_PASSPHRASE_FILE. Exit codes: 0 ok, 1 error, 2 usage, 3 some files not\n"
	      "read, 10 no repository, 12 no key slot opens, 13 integrity error.\n"
	      "Run 'coffer COMMAND --help' for a command's options.\n",
	      f);
}

static const struct cli_cmd *
find_cmd(const char *name)
{
	for (const struct cli_cmd *c = commands; c->name != NULL; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

static const struct cli_flag *
find_flag(const struct cli_flag *flags, const char *arg)
{
	for (const struct cli_flag *f = flags; f->name != NULL; f++)
		if (strcmp(f->name, arg) == 0 || (f->alias != NULL && strcmp(f->alias, arg) == 0))
			return f;
	return NULL;
}

/*
 * The value of option @a: @inl when it came as --name=VALUE, else the next argument (*i
 * advanced). NULL, with the error printed, when there is none.
 */
static const char *
option_value(int argc, char **argv, int *i, const char *a, const char *inl)
{
	if (inl != NULL)
		return inl;
	if (*i + 1 >= argc) {
		cli_error("option '%s' needs a value", a);
		return NULL;
	}
	return argv[++*i];
}

/*
 * Global flags may stand anywhere. Returns 1 when consumed (with *i advanced), 0 if not.
 * @a is the option's name, @inl its --name=VALUE value or NULL.
 */
static int
global_flag(struct cli *c, int argc, char **argv, int *i, const char *a, const char *inl, int *err)
{
	const char *key = NULL;
	const char *v = NULL;

	if (strcmp(a, "--json") == 0)
		c->json = true;
	else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0)
		c->quiet = true;
	else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0)
		c->verbose++;
	else if (strcmp(a, "-r") == 0 || strcmp(a, "--repo") == 0)
		key = "repo";
	else if (strcmp(a, "--recovery-key-file") == 0 &&
	         (c->cmd == NULL || strcmp(c->cmd, "init") != 0))
		key = "recovery-key-file";
	else
		return 0;
	if (key == NULL) {
		if (inl != NULL) {
			cli_error("option '%s' takes no value", a);
			*err = EXIT_USAGE;
		}
		return 1;
	}
	if ((v = option_value(argc, argv, i, a, inl)) == NULL)
		*err = EXIT_USAGE;
	else if (cf_opts_add(c->o, key, v) != 0)
		*err = EXIT_ERROR;
	return 1;
}

/* Split "--name=VALUE" into @name (the option) and its value; NULL when @a is not so. */
static const char *
split_inline(const char *a, char *name, size_t cap)
{
	const char *eq = strchr(a, '=');

	if (a[0] != '-' || a[1] != '-' || eq == NULL || (size_t)(eq - a) >= cap)
		return NULL;
	memcpy(name, a, (size_t)(eq - a));
	name[eq - a] = '\0';
	return eq + 1;
}

static int
add_positional(struct cli *c, char *a)
{
	char **nv = realloc(c->args, (c->nargs + 1) * sizeof(*nv));

	if (nv == NULL)
		return EXIT_ERROR;
	c->args = nv;
	c->args[c->nargs++] = a;
	return 0;
}

/* Parse argv into @c. Returns 0, or an exit code to stop with. */
static int
parse(struct cli *c, int argc, char **argv, const struct cli_cmd **cmd)
{
	bool dashdash = false;
	int err = 0;

	for (int i = 1; i < argc && err == 0; i++) {
		const struct cli_flag *f = NULL;
		const char *inl = NULL;
		const char *v = NULL;
		char name[64];
		char *a = argv[i];

		if (dashdash || a[0] != '-' || strcmp(a, "-") == 0) {
			if (*cmd == NULL && (*cmd = find_cmd(a)) == NULL) {
				cli_error("unknown command '%s' (see 'coffer help')", a);
				return EXIT_USAGE;
			}
			if (c->cmd == NULL)
				c->cmd = a;
			else if (add_positional(c, a) != 0)
				return EXIT_ERROR;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			dashdash = true;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			if (*cmd != NULL)
				printf("usage: coffer %s\n\n%s", (*cmd)->usage, (*cmd)->help);
			else
				usage(stdout);
			return -1;
		}
		if ((inl = split_inline(a, name, sizeof(name))) != NULL)
			a = name;
		if (global_flag(c, argc, argv, &i, a, inl, &err))
			continue;
		if (*cmd == NULL || (f = find_flag((*cmd)->flags, a)) == NULL) {
			cli_error("unknown option '%s'%s%s", a, *cmd != NULL ? " for " : "",
			          *cmd != NULL ? (*cmd)->name : "");
			return EXIT_USAGE;
		}
		if (!f->value && inl != NULL) {
			cli_error("option '%s' takes no value", a);
			return EXIT_USAGE;
		}
		if (f->value && (v = option_value(argc, argv, &i, a, inl)) == NULL)
			return EXIT_USAGE;
		if (cf_opts_add(c->o, f->key, f->value ? v : "1") != 0)
			return EXIT_ERROR;
	}
	return err;
}

static int
cmd_help(struct cli *c)
{
	const struct cli_cmd *cmd = c->nargs > 0 ? find_cmd(c->args[0]) : NULL;

	if (c->nargs > 0 && cmd == NULL) {
		cli_error("unknown command '%s'", c->args[0]);
		return EXIT_USAGE;
	}
	if (cmd != NULL)
		printf("usage: coffer %s\n\n%s", cmd->usage, cmd->help);
	else
		usage(stdout);
	return EXIT_OK;
}

int
main(int argc, char **argv)
{
	struct rlimit rl = {0, 0};
	const struct cli_cmd *cmd = NULL;
	struct cli c;
	const char *env = getenv("COFFER_REPO");
	int rc;

	setrlimit(RLIMIT_CORE, &rl); /* no key material in core dumps */
	memset(&c, 0, sizeof(c));
	if (cf_init() != 0) {
		cli_error("cannot initialise the crypto library");
		return EXIT_ERROR;
	}
	if (cf_opts_new(&c.o) != 0)
		return EXIT_ERROR;
	if (env != NULL && *env != '\0' && cf_opts_add(c.o, "repo", env) != 0)
		return EXIT_ERROR;
	rc = parse(&c, argc, argv, &cmd);
	if (rc == 0 && cmd == NULL) {
		usage(stderr);
		rc = EXIT_USAGE;
	} else if (rc == 0) {
		c.progress = !c.quiet && !c.json && isatty(2);
		rc = cmd->run(&c);
	}
	cf_opts_free(c.o);
	free(c.args);
	return rc < 0 ? 0 : rc;
}
