/*
 * harness.c - runner for the unit and property tests (see harness.h).
 */
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"

#define MAX_TESTS 512

static struct {
	const char *name;
	th_fn *fn;
} tests[MAX_TESTS];
static int ntests;
static int cur_failed;
static uint64_t seed;
static uint64_t rng_state;
static bool seeded;

void
th_register(const char *name, th_fn *fn)
{
	if (ntests >= MAX_TESTS)
		abort();
	tests[ntests].name = name;
	tests[ntests].fn = fn;
	ntests++;
}

void
th_fail(const char *file, int line, const char *expr)
{
	fprintf(stderr, "  FAIL %s:%d: %s\n", file, line, expr);
	cur_failed++;
}

uint64_t
th_seed(void)
{
	const char *s = NULL;

	if (!seeded) {
		s = getenv("CF_TEST_SEED");
		if (s != NULL && cf_parse_u64(s, 0, UINT64_MAX, &seed) == 0)
			;
		else
			seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
		rng_state = seed;
		seeded = true;
	}
	return seed;
}

uint64_t
th_rand(void)
{
	uint64_t z;

	(void)th_seed();
	z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void
th_randbuf(void *p, size_t n)
{
	uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)th_rand();
}

const char *
th_vector_path(const char *name)
{
	static char path[4096];
	const char *dir = getenv("CF_VECTORS");

	snprintf(path, sizeof(path), "%s/%s", dir != NULL ? dir : "tests/vectors", name);
	return path;
}

uint8_t *
th_unhex(const char *hex, size_t *len)
{
	size_t n = strlen(hex);
	uint8_t *out = NULL;

	*len = 0;
	if (n % 2 != 0)
		return NULL;
	out = malloc(n / 2 + 1);
	if (out == NULL)
		return NULL;
	if (cf_unhex(out, n / 2, hex, n) != 0) {
		free(out);
		return NULL;
	}
	*len = n / 2;
	return out;
}

void
th_vec_clear(struct th_vec *v)
{
	for (int i = 0; i < v->nfields; i++) {
		free(v->key[i]);
		free(v->val[i]);
	}
	v->nfields = 0;
}

static char *
trim(char *s)
{
	char *e = NULL;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

bool
th_vec_next(FILE *f, struct th_vec *v)
{
	static char line[1 << 20];
	static int lineno;
	char *eq = NULL;
	char *s = NULL;

	th_vec_clear(v);
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		s = trim(line);
		if (*s == '#')
			continue;
		if (*s == '\0') {
			if (v->nfields > 0)
				return true;
			continue;
		}
		if ((eq = strchr(s, '=')) == NULL || v->nfields >= TH_VEC_FIELDS)
			continue;
		*eq = '\0';
		if (v->nfields == 0)
			v->line = lineno;
		v->key[v->nfields] = strdup(trim(s));
		v->val[v->nfields] = strdup(trim(eq + 1));
		v->nfields++;
	}
	lineno = 0;
	return v->nfields > 0;
}

int
th_vec_each(const char *name, void (*fn)(const struct th_vec *v))
{
	FILE *fp = fopen(th_vector_path(name), "r");
	struct th_vec v = {0};
	int n = 0;

	if (fp == NULL)
		return -1;
	while (th_vec_next(fp, &v)) {
		fn(&v);
		n++;
	}
	th_vec_clear(&v);
	fclose(fp);
	return n;
}

void
th_print_hex(const char *key, const void *p, size_t n)
{
	const uint8_t *b = p;

	printf("%s = ", key);
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
}

const char *
th_vec_get(const struct th_vec *v, const char *key)
{
	for (int i = 0; i < v->nfields; i++)
		if (strcmp(v->key[i], key) == 0)
			return v->val[i];
	return NULL;
}

int
main(void)
{
	int passed = 0;
	int failed = 0;

	if (cf_init() != 0) {
		fprintf(stderr, "cf_init failed\n");
		return 1;
	}
	for (int i = 0; i < ntests; i++) {
		cur_failed = 0;
		tests[i].fn();
		if (cur_failed == 0) {
			passed++;
		} else {
			failed++;
			fprintf(stderr, "FAILED %s", tests[i].name);
			if (seeded)
				fprintf(stderr, " (CF_TEST_SEED=%llu)", (unsigned long long)seed);
			fprintf(stderr, "\n");
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}

static void
rm_tree_at(int dfd, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if (unlinkat(dfd, name, 0) == 0)
		return;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			rm_tree_at(dirfd(d), de->d_name);
	}
	closedir(d);
	(void)unlinkat(dfd, name, AT_REMOVEDIR);
}

void
th_rm_tree(const char *path)
{
	rm_tree_at(AT_FDCWD, path);
}

char *
th_scratch(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char tmpl[512];
	char *p;

	snprintf(tmpl, sizeof(tmpl), "%s/cf_%s_XXXXXX", base != NULL ? base : "/tmp", tag);
	p = mkdtemp(tmpl);
	if (p == NULL) {
		fprintf(stderr, "harness: cannot make a scratch directory in %s\n", tmpl);
		abort();
	}
	return strdup(p);
}

char *
th_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);

	if (p == NULL)
		abort();
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

bool
th_exists(const char *dir, const char *name)
{
	char *p = th_join(dir, name);
	struct stat st;
	bool r = lstat(p, &st) == 0;

	free(p);
	return r;
}

size_t
th_count_entries(const char *dir, const char *name)
{
	char *p = th_join(dir, name);
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(p);

	if (d == NULL) {
		fprintf(stderr, "harness: cannot open directory %s\n", p);
		abort();
	}
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	free(p);
	return n;
}
