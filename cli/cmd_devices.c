/*
 * cmd_devices.c - devices list / join / approve / revoke / rename, and recover.
 */
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int
devices_list(struct cli *c, struct cf_repo *r)
{
	char fp[65];
	char head[32];
	char id[65];
	char by[65];
	char when[64];
	char pub[65];
	size_t n = cf_repo_ndevices(r);

	cf_repo_fingerprint(r, fp);
	cf_repo_head_code(r, head);
	cf_repo_self_public(r, pub);
	if (c->json) {
		printf("{\"fingerprint\":\"%s\",\"head\":\"%s\",\"devices\":[", fp, head);
		for (size_t i = 0; i < n; i++) {
			cf_repo_device_id_hex(r, i, id);
			cf_repo_device_added_by(r, i, by);
			fmt_time(when, sizeof(when), cf_repo_device_added_at(r, i), 0, true);
			printf("%s{\"id\":\"%s\",\"name\":", i > 0 ? "," : "", id);
			json_cstr(stdout, cf_repo_device_name(r, i));
			printf(",\"role\":\"%s\",\"added_by\":", cf_repo_device_role(r, i));
			json_cstr(stdout, by);
			printf(",\"added\":\"%s\",\"removed\":%s,\"self\":%s}", when,
			       cf_repo_device_removed(r, i) ? "true" : "false",
			       cf_repo_device_is_self(r, i) ? "true" : "false");
		}
		printf("],\"public_key\":\"%s\"}\n", pub);
		return EXIT_OK;
	}
	printf("repository fingerprint: %s\nchain head:             %s\n\n", fp, head);
	printf("%-16s  %-20s  %-11s  %-19s  %s\n", "ID", "Name", "Role", "Added", "Added by");
	for (size_t i = 0; i < n; i++) {
		cf_repo_device_id_hex(r, i, id);
		cf_repo_device_added_by(r, i, by);
		fmt_time(when, sizeof(when), cf_repo_device_added_at(r, i), 0, false);
		printf("%.16s  %-20s  %-11s  %-19s  %s%s%s\n", id, cf_repo_device_name(r, i),
		       cf_repo_device_role(r, i), when, by,
		       cf_repo_device_removed(r, i) ? "  (revoked)" : "",
		       cf_repo_device_is_self(r, i) ? "  (this device)" : "");
	}
	printf("\nthis device's public key: %s\n", pub);
	return EXIT_OK;
}

static int
devices_join(struct cli *c)
{
	char code[32];
	int rc = ask_passphrase(c) != 0 ? CF_ENOMEM : cf_devices_join(c->o, code, sizeof(code));

	if (rc != 0) {
		cli_error_rc(rc, "cannot join");
		return cli_exit_code(rc);
	}
	if (c->json) {
		printf("{\"message_type\":\"join_requested\",\"code\":\"%s\"}\n", code);
		return EXIT_OK;
	}
	printf("pairing code: %s\n\n"
	       "On a full device of this repository, run:\n"
	       "  coffer -r %s devices approve %s\n"
	       "and check that it shows this device's name and the same code. Then this device\n"
	       "can use the repository.\n",
	       code, cf_opts_get(c->o, "repo"), code);
	return EXIT_OK;
}

/*
 * On a terminal, ask unless --yes: the user compares the name with the new device's. With no
 * terminal (a script), the code given on the command line is the consent, as DESIGN's
 * contract has it: "devices approve CODE" approves. The code covers the new device's keys, not
 * the role it asks for (a storage side could serve an older request of the same keys):
 * --role, when given, must be the role asked for.
 */
static char refusal[128]; /* why confirm() said no, when it was not the user */

static bool
confirm(void *arg, const char *name, const char *role, const char *code)
{
	struct cli *c = arg;
	const char *want = cf_opts_get(c->o, "role");
	char answer[16];

	if (want != NULL && strcmp(want, role) != 0) {
		(void)snprintf(refusal, sizeof(refusal),
		               "not approved: the join request asks for role '%s', not '%s'", role,
		               want);
		return false;
	}
	fprintf(stderr, "add device '%s' as %s, pairing code %s\n", name, role, code);
	if (cf_opts_get(c->o, "yes") != NULL || !isatty(0))
		return true;
	fprintf(stderr, "approve? [y/N] ");
	if (fgets(answer, sizeof(answer), stdin) == NULL)
		return false;
	return answer[0] == 'y' || answer[0] == 'Y';
}

static int
devices_change(struct cli *c, struct cf_repo *r, const char *sub)
{
	const char *role = cf_opts_get(c->o, "role");
	int rc = 0;

	if (strcmp(sub, "approve") == 0 && role != NULL && strcmp(role, "full") != 0 &&
	    strcmp(role, "backup-only") != 0) {
		cli_error("--role must be 'full' or 'backup-only'");
		return EXIT_USAGE;
	}
	if (strcmp(sub, "approve") == 0 && c->nargs == 2)
		rc = cf_devices_approve(r, c->args[1], confirm, c);
	else if (strcmp(sub, "revoke") == 0 && c->nargs == 2)
		rc = cf_devices_revoke(r, c->args[1]);
	else if (strcmp(sub, "rename") == 0 && c->nargs == 3)
		rc = cf_devices_rename(r, c->args[1], c->args[2]);
	else {
		cli_error("usage: coffer devices [list | join | approve CODE | revoke ID | "
		          "rename ID NAME]");
		return EXIT_USAGE;
	}
	if (rc != 0) {
		if (refusal[0] != '\0')
			cli_error("%s", refusal);
		else
			cli_error_rc(rc, sub);
		return cli_exit_code(rc);
	}
	if (!c->quiet && !c->json)
		printf("%s: done\n", sub);
	return EXIT_OK;
}

int
cmd_devices(struct cli *c)
{
	const char *sub = c->nargs > 0 ? c->args[0] : "list";
	struct cf_repo *r = NULL;
	int rc;

	if (strcmp(sub, "join") == 0) {
		if (c->nargs != 1) {
			cli_error("usage: coffer devices join [--role full|backup-only]");
			return EXIT_USAGE;
		}
		return devices_join(c);
	}
	if (strcmp(sub, "list") == 0 && c->nargs > 1) {
		cli_error("usage: coffer devices list");
		return EXIT_USAGE;
	}
	if (strcmp(sub, "list") != 0 && strcmp(sub, "approve") != 0 && strcmp(sub, "revoke") != 0 &&
	    strcmp(sub, "rename") != 0) {
		cli_error("unknown devices command '%s'", sub);
		return EXIT_USAGE;
	}
	if ((rc = open_repo(c, &r)) != 0)
		return cli_exit_code(rc);
	if (strcmp(sub, "list") == 0)
		rc = devices_list(c, r);
	else
		rc = devices_change(c, r, sub);
	cf_repo_free(r);
	return rc;
}

int
cmd_recover(struct cli *c)
{
	int rc;

	if (c->nargs > 0) {
		cli_error("recover takes no arguments");
		return EXIT_USAGE;
	}
	if ((rc = ask_passphrase(c)) != 0 || (rc = cf_recover(c->o)) != 0) {
		cli_error_rc(rc, "cannot recover");
		return cli_exit_code(rc);
	}
	if (!c->quiet)
		printf("this machine is now a full device of the repository\n");
	return EXIT_OK;
}
