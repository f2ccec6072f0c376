/*
 * test_torture.c - fail every allocation in turn through init, open, backup, list and
 * restore (curl's torture mode): each run must end with a clean error code, never a crash,
 * and LeakSanitizer (in the ASan build) must find no leak at exit.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/coffer.h"

#include "base/base.h"
#include "harness.h"

/* Every step up to FULL_STEPS, then about SAMPLES steps spread over the rest. */
#define FULL_STEPS 300
#define SAMPLES    300

static char root[64];

static void
write_file(const char *path, const char *text, size_t repeat)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f == NULL)
		return;
	for (size_t i = 0; i < repeat; i++)
		fputs(text, f);
	fclose(f);
}

static void
make_tree(void)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/src/sub", root);
	snprintf(p, sizeof(p), "mkdir -p %s/src/sub", root);
	CHECK(system(p) == 0);
	snprintf(p, sizeof(p), "%s/src/a.txt", root);
	write_file(p, "hello coffer\n", 25000); /* over 256 KiB: restored through the stage */
	snprintf(p, sizeof(p), "%s/src/sub/b.txt", root);
	write_file(p, "another file\n", 3);
	snprintf(p, sizeof(p), "%s/src/link", root);
	CHECK(symlink("a.txt", p) == 0);
}

static int
opts_for(struct cf_opts **o, int step)
{
	char v[512];
	int rc;

	if ((rc = cf_opts_new(o)) != 0)
		return rc;
	snprintf(v, sizeof(v), "%s/repo%d", root, step);
	if ((rc = cf_opts_add(*o, "repo", v)) != 0)
		return rc;
	snprintf(v, sizeof(v), "%s/home%d", root, step);
	if ((rc = cf_opts_add(*o, "home", v)) != 0)
		return rc;
	snprintf(v, sizeof(v), "%s/cache", root);
	if ((rc = cf_opts_add(*o, "cache", v)) != 0)
		return rc;
	snprintf(v, sizeof(v), "%s/src", root);
	if ((rc = cf_opts_add(*o, "path", v)) != 0)
		return rc;
	snprintf(v, sizeof(v), "%s/restore%d", root, step);
	return cf_opts_add(*o, "target", v);
}

/* One whole run; returns 0 only when every step succeeded. */
static int
run_once(int step)
{
	struct cf_backup_result *res = NULL;
	struct cf_snapshot **list = NULL;
	struct cf_snapshot *s = NULL;
	struct cf_opts *o = NULL;
	struct cf_repo *r = NULL;
	char code[128];
	size_t n = 0;
	int rc;

	if ((rc = opts_for(&o, step)) != 0 || (rc = cf_repo_create(o, code, sizeof(code))) != 0 ||
	    (rc = cf_repo_open(o, &r)) != 0 || (rc = cf_backup(r, o, NULL, NULL, &res)) != 0 ||
	    (rc = cf_snapshots_list(r, o, &list, &n)) != 0 ||
	    (rc = cf_snapshot_find(r, "latest", &s)) != 0 ||
	    (rc = cf_restore(r, s, o, NULL, NULL)) != 0)
		goto out;
	rc = n == 1 ? 0 : CF_EINTERNAL;
out:
	cf_snapshot_release(s);
	cf_snapshots_free(list, n);
	cf_backup_result_free(res);
	cf_repo_free(r);
	cf_opts_free(o);
	return rc;
}

static void
clean_step(int step)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "rm -rf %s/repo%d %s/home%d %s/restore%d", root, step, root,
	         step, root, step);
	CHECK(system(cmd) == 0);
}

CF_TEST(every_allocation_fails_cleanly)
{
	char cmd[2048];
	uint64_t before = 0;
	uint64_t total = 0;
	uint64_t stride = 1;
	int rc = -1;
	int runs = 0;

	snprintf(root, sizeof(root), "/tmp/cf-torture-XXXXXX");
	CHECK(mkdtemp(root) != NULL);
	make_tree();
	before = cf_alloc_count();
	rc = run_once(0); /* the whole flow once, counting its allocations */
	if (rc != 0)
		fprintf(stderr, "torture: %s: %s\n", cf_strerror(rc), cf_err_last());
	CHECK(rc == 0);
	total = cf_alloc_count() - before;
	snprintf(cmd, sizeof(cmd), "diff -r %s/src %s/restore0%s/src", root, root, root);
	CHECK(system(cmd) == 0);
	clean_step(0);
	if (total > FULL_STEPS)
		stride = (total - FULL_STEPS) / SAMPLES + 1;
	for (uint64_t n = 1; n <= total; n += n < FULL_STEPS ? 1 : stride) {
		cf_alloc_fail_after(n);
		rc = run_once(1);
		cf_alloc_fail_after(0);
		/* a clean error code, or success when the failed allocation was not needed */
		CHECK(rc <= 0 && rc >= CF_ECANCELED);
		clean_step(1);
		runs++;
	}
	printf("torture: %llu allocations in one run, %d runs with one failing\n",
	       (unsigned long long)total, runs);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	CHECK(system(cmd) == 0);
}
