/*
 * harness.h - a small unit-test harness: CF_TEST() registers a test, CHECK() records a
 * failure with file and line and continues. main() (harness.c) runs every test and
 * prints "N passed, N failed"; the exit status is non-zero when anything failed.
 *
 * Property tests take their seed from CF_TEST_SEED (printed on failure so a run can be
 * replayed) through th_seed() and draw numbers from th_rand().
 */
#ifndef CF_HARNESS_H
#define CF_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef void th_fn(void);

void th_register(const char *name, th_fn *fn);
void th_fail(const char *file, int line, const char *expr);
/* th_seed() - the property-test seed (CF_TEST_SEED or time-derived), printed on failure. */
uint64_t th_seed(void);
/* th_rand() - next number of a splitmix64 stream seeded by th_seed(). */
uint64_t th_rand(void);
/* th_randbuf() - fill @p with th_rand() bytes. */
void th_randbuf(void *p, size_t n);
/* th_vector_path() - "$CF_VECTORS/<name>" in a static buffer. */
const char *th_vector_path(const char *name);
/*
 * th_unhex() - decode a hex string into a new heap buffer (free with free()); NULL on a
 * malformed string. *@len gets the byte count.
 */
uint8_t *th_unhex(const char *hex, size_t *len);

/*
 * Vector files (tests/vectors/<module>.txt): records of "key = value" lines separated by
 * blank lines; '#' starts a comment line. th_vec_next() reads the next record into @v
 * (at most TH_VEC_FIELDS fields) and returns false at end of file.
 */
#define TH_VEC_FIELDS 16
struct th_vec {
	int nfields;
	char *key[TH_VEC_FIELDS];
	char *val[TH_VEC_FIELDS];
	int line;
};
bool th_vec_next(FILE *f, struct th_vec *v);
/*
 * th_vec_each() - call @fn for every record of the vector file @name (in $CF_VECTORS).
 * Returns the number of records, or -1 when the file cannot be opened.
 */
int th_vec_each(const char *name, void (*fn)(const struct th_vec *v));
/* th_print_hex() - "key = <hex>\n" on stdout, for the vector generators (CF_GEN_VECTORS=1). */
void th_print_hex(const char *key, const void *p, size_t n);
/* th_scratch() - a fresh directory $TMPDIR/cf_<tag>_XXXXXX (default /tmp); free() the path. */
char *th_scratch(const char *tag);
/* th_join() - "@a/@b" in a new heap string (free()). */
char *th_join(const char *a, const char *b);
/* th_exists() - whether @dir/@name exists (lstat). */
bool th_exists(const char *dir, const char *name);
/* th_count_entries() - the entries of directory @dir/@name not starting with '.'. */
size_t th_count_entries(const char *dir, const char *name);
/* th_rm_tree() - remove the tree at @path; no symlink is followed. */
void th_rm_tree(const char *path);
/* th_vec_get() - the value of @key in @v, or NULL. */
const char *th_vec_get(const struct th_vec *v, const char *key);
void th_vec_clear(struct th_vec *v);

#define CF_TEST(name)                                                                              \
	static void name(void);                                                                    \
	__attribute__((constructor)) static void reg_##name(void)                                  \
	{                                                                                          \
		th_register(#name, name);                                                          \
	}                                                                                          \
	static void name(void)

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			th_fail(__FILE__, __LINE__, #x);                                           \
	} while (0)

#define CHECK_EQ(a, b) CHECK((a) == (b))

#endif
