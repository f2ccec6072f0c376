/*
 * cmd_retention.c - coffer forget and coffer prune (docs/format.md 16).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A library refusal of the options is a usage error. */
static int
retention_exit(int rc, const char *what)
{
	cli_error_rc(rc, what);
	return rc == CF_EINVAL ? EXIT_USAGE : cli_exit_code(rc);
}

static void
plan_line(const struct cf_forget_plan *p, size_t i, bool dry)
{
	const struct cf_snapshot *s = cf_forget_plan_snapshot(p, i);
	bool keep = cf_forget_plan_keep(p, i);
	char why[256];
	char id[65];
	char t[64];
	uint32_t ns = 0;

	cf_snapshot_id_hex(s, id);
	fmt_time(t, sizeof(t), cf_snapshot_time(s, &ns), ns, false);
	cf_forget_plan_reasons(p, i, why, sizeof(why));
	printf("  %-12s %.8s  %s  %s\n",
	       keep  ? "keep"
	       : dry ? "would remove"
	             : "remove",
	       id, t, keep ? why : "");
}

/* Each group (host and paths), newest snapshot first. */
static void
plan_text(const struct cf_forget_plan *p, bool dry)
{
	size_t n = cf_forget_plan_count(p);
	bool *done = calloc(n > 0 ? n : 1, sizeof(*done));

	if (done == NULL)
		return;
	for (size_t i = n; i-- > 0;) {
		const struct cf_snapshot *s = cf_forget_plan_snapshot(p, i);
		char dev[65];

		if (done[i])
			continue;

		cf_snapshot_device_hex(s, dev);
		printf("device %.16s, host %s, paths", dev, cf_snapshot_host(s));
		for (size_t k = 0; k < cf_snapshot_npaths(s); k++)
			printf(" %s", cf_snapshot_path(s, k));
		printf(":\n");
		for (size_t k = i + 1; k-- > 0;) {
			if (done[k] || cf_forget_plan_group(p, k) != cf_forget_plan_group(p, i))
				continue;
			done[k] = true;
			plan_line(p, k, dry);
		}
	}
	free(done);
}

/* {"dry_run":..,"snapshots":[{snapshot..,"action","group","reasons"}],"removed":N} */
static int
plan_json(const struct cf_forget_plan *p, bool dry, size_t removed)
{
	size_t n = cf_forget_plan_count(p);

	printf("{\"dry_run\":%s,\"snapshots\":[", dry ? "true" : "false");
	for (size_t i = 0; i < n; i++) {
		bool keep = cf_forget_plan_keep(p, i);
		char why[256];
		char *extra = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&extra, &len);

		if (m == NULL)
			return CF_ENOMEM;
		cf_forget_plan_reasons(p, i, why, sizeof(why));
		fprintf(m,
		        ",\"action\":\"%s\",\"group\":%zu,\"reasons\":", keep ? "keep" : "remove",
		        cf_forget_plan_group(p, i));
		json_cstr(m, keep ? why : "");
		if (fclose(m) != 0) {
			free(extra);
			return CF_ENOMEM;
		}
		snapshot_json(cf_forget_plan_snapshot(p, i), i == 0, extra);
		free(extra);
	}
	printf("],\"removed\":%zu}\n", removed);
	return 0;
}

static void
prune_event(void *arg, const struct cf_event *ev)
{
	struct cli *c = arg;

	if (cf_event_kind(ev) == CF_EV_WARNING && !c->quiet)
		fprintf(stderr, "coffer: note: %s\n", cf_event_message(ev));
	else if (cf_event_kind(ev) == CF_EV_PROGRESS)
		progress_event(c, ev, "pruning");
}

static int
run_prune(struct cli *c, struct cf_repo *r)
{
	uint64_t st[CF_PRUNE_NSTATS];
	bool dry = cf_opts_get(c->o, "dry-run") != NULL;
	char rep[32];
	char freed[32];
	int rc;

	memset(st, 0, sizeof(st));
	rc = cf_prune(r, c->o, prune_event, c, st);
	progress_clear(c);
	if (rc != 0)
		return retention_exit(rc, "prune failed");
	if (c->json) {
		printf("{\"dry_run\":%s,\"packs_condemned\":%llu,\"packs_repacked\":%llu,"
		       "\"bytes_repacked\":%llu,\"packs_deleted\":%llu,\"bytes_freed\":%llu,"
		       "\"blobs_resurrected\":%llu,\"packs_waiting\":%llu}\n",
		       dry ? "true" : "false", (unsigned long long)st[CF_PRUNE_PACKS_CONDEMNED],
		       (unsigned long long)st[CF_PRUNE_PACKS_REPACKED],
		       (unsigned long long)st[CF_PRUNE_BYTES_REPACKED],
		       (unsigned long long)st[CF_PRUNE_PACKS_DELETED],
		       (unsigned long long)st[CF_PRUNE_BYTES_FREED],
		       (unsigned long long)st[CF_PRUNE_BLOBS_RESURRECTED],
		       (unsigned long long)st[CF_PRUNE_PACKS_WAITING]);
	} else if (!c->quiet) {
		fmt_size(rep, sizeof(rep), st[CF_PRUNE_BYTES_REPACKED]);
		fmt_size(freed, sizeof(freed), st[CF_PRUNE_BYTES_FREED]);
		printf("%s%llu pack%s condemned (%llu repacked, %s copied), %llu deleted (%s "
		       "freed), %llu waiting for running backups or the grace period\n",
		       dry ? "dry run: " : "", (unsigned long long)st[CF_PRUNE_PACKS_CONDEMNED],
		       st[CF_PRUNE_PACKS_CONDEMNED] == 1 ? "" : "s",
		       (unsigned long long)st[CF_PRUNE_PACKS_REPACKED], rep,
		       (unsigned long long)st[CF_PRUNE_PACKS_DELETED], freed,
		       (unsigned long long)st[CF_PRUNE_PACKS_WAITING]);
	}
	return EXIT_OK;
}

int
cmd_forget(struct cli *c)
{
	struct cf_forget_plan *p = NULL;
	struct cf_repo *r = NULL;
	bool dry = cf_opts_get(c->o, "dry-run") != NULL;
	size_t removed = 0;
	size_t n = 0;
	size_t kept = 0;
	int rc;

	if ((rc = open_repo(c, &r)) != 0)
		return cli_exit_code(rc);
	rc = cf_forget_plan(r, c->o, (const char *const *)c->args, c->nargs, &p);
	(void)cli_report_damaged(r, false); /* left out of the plan: never forgotten by it */
	if (rc != 0) {
		rc = retention_exit(rc, "cannot decide what to forget");
		goto out;
	}
	if (!dry && (rc = cf_forget_apply(r, p, &removed)) != 0) {
		rc = retention_exit(rc, "cannot forget snapshots");
		goto out;
	}
	n = cf_forget_plan_count(p);
	for (size_t i = 0; i < n; i++)
		kept += cf_forget_plan_keep(p, i);
	if (c->json) { /* a line; with --prune the prune's own line follows */
		if ((rc = plan_json(p, dry, removed)) != 0)
			rc = retention_exit(rc, "cannot print the plan");
	} else if (!c->quiet && !c->json) {
		plan_text(p, dry);
		printf("%zu snapshot%s kept, %zu %s\n", kept, kept == 1 ? "" : "s", n - kept,
		       dry ? "would be removed" : "removed");
	}
	if (rc == 0 && !dry && cf_opts_get(c->o, "prune") != NULL)
		rc = run_prune(c, r);
out:
	cf_forget_plan_free(p);
	cf_repo_free(r);
	return rc;
}

int
cmd_prune(struct cli *c)
{
	struct cf_repo *r = NULL;
	int rc;

	if (c->nargs > 0) {
		cli_error("prune takes no arguments");
		return EXIT_USAGE;
	}
	if ((rc = open_repo(c, &r)) != 0)
		return cli_exit_code(rc);
	rc = run_prune(c, r);
	cf_repo_free(r);
	return rc;
}
