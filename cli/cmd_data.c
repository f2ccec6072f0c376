/*
 * cmd_data.c - backup, restore, ls, diff.
 */
#include <string.h>

#include "cli.h"

/* Item errors and warnings to stderr (and to stdout as JSON lines with --json). */
static void
item_event(struct cli *c, const struct cf_event *ev)
{
	enum cf_event_kind k = cf_event_kind(ev);
	size_t plen = 0;
	const uint8_t *path = cf_event_path(ev, &plen);

	progress_clear(c);
	if (k == CF_EV_ITEM_ERROR)
		cli_error("%s", cf_event_message(ev));
	else if (!c->quiet)
		fprintf(stderr, "coffer: note: %s\n", cf_event_message(ev));
	if (c->json) {
		printf("{\"message_type\":\"%s\",\"error\":",
		       k == CF_EV_ITEM_ERROR ? "error" : "warning");
		json_cstr(stdout, cf_event_message(ev));
		printf(",\"item\":");
		json_str(stdout, path != NULL ? path : (const uint8_t *)"", plen);
		printf("}\n");
	}
}

static void
backup_event(void *arg, const struct cf_event *ev)
{
	struct cli *c = arg;

	if (cf_event_kind(ev) == CF_EV_PROGRESS)
		progress_event(c, ev, "backup:");
	else
		item_event(c, ev);
}

static void
backup_summary(struct cli *c, const struct cf_backup_result *res, bool dry)
{
	char id[65];
	char added[32];
	char total[32];
	double secs = (double)cf_backup_result_stat(res, CF_STAT_DURATION_NS) / 1e9;

	cf_backup_result_id_hex(res, id);
	if (c->json) {
		printf("{\"message_type\":\"summary\",\"snapshot_id\":");
		if (dry)
			printf("null");
		else
			printf("\"%s\"", id);
		printf(",\"files_new\":%llu,\"files_changed\":%llu,\"files_unmodified\":%llu,"
		       "\"dirs\":%llu,\"data_added\":%llu,\"total_bytes_processed\":%llu,"
		       "\"total_duration\":%.6f,\"files_cached\":%llu,\"bytes_read\":%llu,"
		       "\"dry_run\":%s}\n",
		       (unsigned long long)cf_backup_result_stat(res, CF_STAT_FILES_NEW),
		       (unsigned long long)cf_backup_result_stat(res, CF_STAT_FILES_CHANGED),
		       (unsigned long long)cf_backup_result_stat(res, CF_STAT_FILES_UNMODIFIED),
		       (unsigned long long)cf_backup_result_stat(res, CF_STAT_DIRS),
		       (unsigned long long)cf_backup_result_stat(res, CF_STAT_DATA_ADDED),
		       (unsigned long long)cf_backup_result_stat(res, CF_STAT_TOTAL_BYTES), secs,
		       (unsigned long long)cf_backup_result_stat(res, CF_STAT_FILES_CACHED),
		       (unsigned long long)cf_backup_result_stat(res, CF_STAT_BYTES_READ),
		       dry ? "true" : "false");
		return;
	}
	if (c->quiet)
		return;
	fmt_size(added, sizeof(added), cf_backup_result_stat(res, CF_STAT_DATA_ADDED));
	fmt_size(total, sizeof(total), cf_backup_result_stat(res, CF_STAT_TOTAL_BYTES));
	printf("Files:  %llu new, %llu changed, %llu unmodified\n",
	       (unsigned long long)cf_backup_result_stat(res, CF_STAT_FILES_NEW),
	       (unsigned long long)cf_backup_result_stat(res, CF_STAT_FILES_CHANGED),
	       (unsigned long long)cf_backup_result_stat(res, CF_STAT_FILES_UNMODIFIED));
	if (cf_backup_result_stat(res, CF_STAT_FILES_CACHED) > 0)
		printf("        %llu of them taken from the files cache, not read again\n",
		       (unsigned long long)cf_backup_result_stat(res, CF_STAT_FILES_CACHED));
	printf("Dirs:   %llu\n", (unsigned long long)cf_backup_result_stat(res, CF_STAT_DIRS));
	printf("Added to the repository: %s\n", added);
	printf("processed %s in %.2f s\n", total, secs);
	if (dry)
		printf("dry run: nothing was written\n");
	else
		printf("snapshot %.8s saved\n", id);
}

int
cmd_backup(struct cli *c)
{
	struct cf_backup_result *res = NULL;
	struct cf_repo *r = NULL;
	int rc;

	if (c->nargs == 0) {
		cli_error("backup needs at least one PATH");
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < c->nargs; i++)
		if (cf_opts_add(c->o, "path", c->args[i]) != 0)
			return EXIT_ERROR;
	if (c->progress && cf_opts_add(c->o, "progress", "1") != 0)
		return EXIT_ERROR;
	if ((rc = open_repo(c, &r)) != 0)
		return cli_exit_code(rc);
	rc = cf_backup(r, c->o, backup_event, c, &res);
	(void)cli_report_damaged(r, false);
	progress_clear(c);
	if (res != NULL)
		backup_summary(c, res, cf_opts_get(c->o, "dry-run") != NULL);
	if (rc == CF_EPARTIAL)
		cli_error("snapshot written, but some files could not be read (named above)");
	else if (rc != 0)
		cli_error_rc(rc, "backup failed");
	cf_backup_result_free(res);
	cf_repo_free(r);
	return cli_exit_code(rc);
}

/* Resolve a SNAPSHOT argument, printing the error. */
static int
find_snapshot(struct cf_repo *r, const char *ref, struct cf_snapshot **out)
{
	int rc = cf_snapshot_find(r, ref, out);

	(void)cli_report_damaged(r, false);
	if (rc != 0)
		cli_error_rc(rc, "cannot find snapshot");
	return rc;
}

static void
restore_event(void *arg, const struct cf_event *ev)
{
	struct cli *c = arg;

	if (cf_event_kind(ev) == CF_EV_PROGRESS)
		progress_event(c, ev, "restore:");
	else
		item_event(c, ev);
}

int
cmd_restore(struct cli *c)
{
	struct cf_snapshot *s = NULL;
	struct cf_repo *r = NULL;
	char id[65];
	int rc;

	if (c->nargs != 1 || cf_opts_get(c->o, "target") == NULL) {
		cli_error("usage: coffer restore SNAPSHOT --target DIR [--include PATH]...");
		return EXIT_USAGE;
	}
	if ((rc = open_repo(c, &r)) != 0)
		return cli_exit_code(rc);
	if ((rc = find_snapshot(r, c->args[0], &s)) != 0)
		goto out;
	rc = cf_restore(r, s, c->o, restore_event, c);
	progress_clear(c);
	if (rc != 0)
		cli_error_rc(rc, "restore failed");
	else if (!c->quiet && !c->json) {
		cf_snapshot_id_hex(s, id);
		printf("restored snapshot %.8s to %s\n", id, cf_opts_get(c->o, "target"));
	}
out:
	cf_snapshot_release(s);
	cf_repo_free(r);
	return rc == CF_EPARTIAL ? EXIT_ERROR : cli_exit_code(rc);
}

static void
ls_event(void *arg, const struct cf_event *ev)
{
	struct cli *c = arg;
	const struct cf_node *n = cf_event_node(ev);
	size_t plen = 0;
	const uint8_t *path = cf_event_path(ev, &plen);
	char mode[12];
	char t[64];
	uint32_t ns = 0;
	int64_t sec = 0;

	if (cf_event_kind(ev) != CF_EV_ENTRY || n == NULL)
		return;
	sec = cf_node_mtime(n, &ns);
	if (c->json) {
		fmt_time(t, sizeof(t), sec, ns, true);
		printf("{\"path\":");
		json_str(stdout, path, plen);
		printf(",\"type\":\"%s\",\"size\":%llu,\"mode\":%u,\"mtime\":\"%s\",\"uid\":%u,"
		       "\"gid\":%u}\n",
		       cf_node_kind_name(cf_node_kind(n)), (unsigned long long)cf_node_size(n),
		       cf_node_mode(n), t, cf_node_uid(n), cf_node_gid(n));
		return;
	}
	if (cf_opts_get(c->o, "long") != NULL) {
		fmt_mode(mode, cf_node_kind(n), cf_node_mode(n));
		fmt_time(t, sizeof(t), sec, ns, false);
		printf("%s %5u %5u %12llu %s ", mode, cf_node_uid(n), cf_node_gid(n),
		       (unsigned long long)cf_node_size(n), t);
	}
	print_bytes(stdout, path, plen);
	if (cf_opts_get(c->o, "long") != NULL && cf_node_kind(n) == CF_SYMLINK) {
		size_t tl = 0;
		const uint8_t *tg = cf_node_target(n, &tl);

		printf(" -> ");
		print_bytes(stdout, tg, tl);
	}
	printf("\n");
}

int
cmd_ls(struct cli *c)
{
	struct cf_snapshot *s = NULL;
	struct cf_repo *r = NULL;
	int rc;

	if (c->nargs < 1 || c->nargs > 2) {
		cli_error("usage: coffer ls SNAPSHOT [PATH] [-l]");
		return EXIT_USAGE;
	}
	if (c->nargs == 2 && cf_opts_add(c->o, "path", c->args[1]) != 0)
		return EXIT_ERROR;
	if ((rc = open_repo(c, &r)) != 0)
		return cli_exit_code(rc);
	if ((rc = find_snapshot(r, c->args[0], &s)) != 0)
		goto out;
	if ((rc = cf_ls(r, s, c->o, ls_event, c)) != 0)
		cli_error_rc(rc, "ls failed");
out:
	cf_snapshot_release(s);
	cf_repo_free(r);
	return cli_exit_code(rc);
}

static void
diff_event(void *arg, const struct cf_event *ev)
{
	struct cli *c = arg;
	size_t plen = 0;
	const uint8_t *path = cf_event_path(ev, &plen);
	int code = cf_event_code(ev);

	if (cf_event_kind(ev) != CF_EV_CHANGE)
		return;
	if (c->json) {
		printf("{\"message_type\":\"change\",\"path\":");
		json_str(stdout, path, plen);
		printf(",\"modifier\":\"%c\"}\n", code);
		return;
	}
	printf("%c    ", code);
	print_bytes(stdout, path, plen);
	printf("\n");
}

int
cmd_diff(struct cli *c)
{
	struct cf_snapshot *a = NULL;
	struct cf_snapshot *b = NULL;
	struct cf_repo *r = NULL;
	int rc;

	if (c->nargs != 2) {
		cli_error("usage: coffer diff SNAPSHOT SNAPSHOT");
		return EXIT_USAGE;
	}
	if ((rc = open_repo(c, &r)) != 0)
		return cli_exit_code(rc);
	if ((rc = find_snapshot(r, c->args[0], &a)) != 0 ||
	    (rc = find_snapshot(r, c->args[1], &b)) != 0)
		goto out;
	if ((rc = cf_diff(r, a, b, diff_event, c)) != 0)
		cli_error_rc(rc, "diff failed");
out:
	cf_snapshot_release(a);
	cf_snapshot_release(b);
	cf_repo_free(r);
	return cli_exit_code(rc);
}
