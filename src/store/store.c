/*
 * store.c - the generic store wrapper: checks kinds and names once for every implementation,
 * then delegates to its ops (docs/format.md sections 3 and 14).
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../base/base.h"
#include "../fs/fs.h"

/* Where anonymous temporary files go without $TMPDIR: disk, not memory, on most systems. */
#define TMPDIR_DEFAULT "/var/tmp"
#define LOAD_STEP      ((size_t)1 << 20)
#define STAGE_POOL     8

struct cf_store {
	struct cf_store_ops ops;
	void *ctx;
	char *location;
	char *tmpdir; /* $TMPDIR at open, or NULL */
	/* Stages for direct I/O, kept for the next temporary file: fresh memory costs faults. */
	pthread_mutex_t stage_mu;
	uint8_t *stages[STAGE_POOL];
	size_t nstages;
};

/* The list callback wrapper: drops names that no implementation may hand out. */
struct list_filter {
	cf_store_list_fn *fn;
	void *arg;
};

static const char *const kind_dirs[] = {
        [CF_OBJ_CHAIN] = "chain",    [CF_OBJ_KEYS] = "keys",          [CF_OBJ_PACK] = "packs",
        [CF_OBJ_INDEX] = "index",    [CF_OBJ_SNAPSHOT] = "snapshots", [CF_OBJ_REQUEST] = "requests",
        [CF_OBJ_FORGET] = "forgets", [CF_OBJ_PRUNE] = "prune",
};

const char *
cf_obj_kind_dir(enum cf_obj_kind kind)
{
	if (!cf_obj_kind_valid(kind))
		return NULL;
	return kind_dirs[kind];
}

bool
cf_obj_kind_valid(enum cf_obj_kind kind)
{
	return kind >= CF_OBJ_CHAIN && kind <= CF_OBJ_PRUNE;
}

int
cf_obj_kind_parse(const char *dir, enum cf_obj_kind *out)
{
	for (int k = CF_OBJ_CHAIN; k <= CF_OBJ_PRUNE; k++) {
		if (strcmp(dir, kind_dirs[k]) == 0) {
			*out = (enum cf_obj_kind)k;
			return 0;
		}
	}
	return CF_EINVAL;
}

int
cf_obj_name_valid(const char *name)
{
	size_t n;

	if (name == NULL)
		return CF_EINVAL;
	n = strnlen(name, CF_OBJ_NAME_MAX + 1);
	if (n == 0 || n > CF_OBJ_NAME_MAX)
		return CF_EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-'))
			return CF_EINVAL;
	}
	return 0;
}

/* Kind and name checks shared by every per-object call; the message names what was wrong. */
static int
check_obj(enum cf_obj_kind kind, const char *name)
{
	if (!cf_obj_kind_valid(kind))
		return cf_err_set(CF_EINVAL, "invalid object kind %d", (int)kind);
	if (cf_obj_name_valid(name) != 0)
		return cf_err_set(CF_EINVAL, "invalid object name '%.*s'", CF_OBJ_NAME_MAX,
		                  name == NULL ? "" : name);
	return 0;
}

int
cf_store_new(const struct cf_store_ops *ops, void *ctx, const char *location, struct cf_store **out)
{
	struct cf_store *s = NULL;
	const char *v = NULL;

	*out = NULL;
	s = cf_calloc(1, sizeof(*s));
	if (s == NULL)
		return CF_ENOMEM;
	s->location = cf_strdup(location);
	if (s->location == NULL) {
		cf_free(s);
		return CF_ENOMEM;
	}
	v = getenv("TMPDIR"); /* NOLINT(concurrency-mt-unsafe): read once, at open */
	if (v != NULL && *v != '\0' && (s->tmpdir = cf_strdup(v)) == NULL) {
		cf_free(s->location);
		cf_free(s);
		return CF_ENOMEM;
	}
	s->ops = *ops;
	s->ctx = ctx;
	pthread_mutex_init(&s->stage_mu, NULL);
	*out = s;
	return 0;
}

void
cf_store_free(struct cf_store *s)
{
	if (s == NULL)
		return;
	if (s->ops.free != NULL)
		s->ops.free(s->ctx);
	for (size_t i = 0; i < s->nstages; i++)
		cf_fs_stage_free(s->stages[i]);
	pthread_mutex_destroy(&s->stage_mu);
	cf_free(s->location);
	cf_free(s->tmpdir);
	cf_free(s);
}

const char *
cf_store_location(const struct cf_store *s)
{
	return s->location;
}

int
cf_store_put(struct cf_store *s, enum cf_obj_kind kind, const char *name, const uint8_t *p,
             size_t len)
{
	int rc;

	if ((rc = check_obj(kind, name)) != 0)
		return rc;
	return s->ops.put(s->ctx, kind, name, p, len);
}

/* NOLINTBEGIN(readability-function-size): its 8 parameters are the store.h contract */
int
cf_store_get(struct cf_store *s, enum cf_obj_kind kind, const char *name, uint64_t off, size_t len,
             size_t max, uint8_t **out, size_t *outlen)
{
	int rc;

	*out = NULL;
	*outlen = 0;
	if ((rc = check_obj(kind, name)) != 0)
		return rc;
	return s->ops.get(s->ctx, kind, name, off, len, max, out, outlen);
}
/* NOLINTEND(readability-function-size) */

void
cf_rbuf_free(struct cf_rbuf *b)
{
	cf_free(b->p);
	b->p = NULL;
	b->cap = 0;
}

/* The generic cf_store_get_buf(): a get() whose buffer then replaces @b's. */
/* NOLINTBEGIN(readability-function-size): its 8 parameters are the store.h contract */
static int
get_buf_by_get(struct cf_store *s, enum cf_obj_kind kind, const char *name, uint64_t off,
               size_t len, size_t max, struct cf_rbuf *b, const uint8_t **data)
{
	uint8_t *p = NULL;
	size_t n = 0;
	int rc;

	if ((rc = s->ops.get(s->ctx, kind, name, off, len, max, &p, &n)) != 0)
		return rc;
	if (n != len) {
		cf_free(p);
		return cf_err_set(CF_ETRUNC, "object '%s/%s': short read", cf_obj_kind_dir(kind),
		                  name);
	}
	cf_rbuf_free(b);
	b->p = p;
	b->cap = n;
	*data = p;
	return 0;
}

int
cf_store_get_buf(struct cf_store *s, enum cf_obj_kind kind, const char *name, uint64_t off,
                 size_t len, size_t max, struct cf_rbuf *b, const uint8_t **data)
{
	int rc;

	*data = NULL;
	if (len == SIZE_MAX)
		cf_misuse("cf_store_get_buf: length SIZE_MAX");
	if ((rc = check_obj(kind, name)) != 0)
		return rc;
	if (s->ops.get_buf == NULL)
		return get_buf_by_get(s, kind, name, off, len, max, b, data);
	return s->ops.get_buf(s->ctx, kind, name, off, len, max, b, data);
}
/* NOLINTEND(readability-function-size) */

int
cf_store_size(struct cf_store *s, enum cf_obj_kind kind, const char *name, uint64_t *size)
{
	int rc;

	*size = 0;
	if ((rc = check_obj(kind, name)) != 0)
		return rc;
	return s->ops.size(s->ctx, kind, name, size);
}

static int
list_filter_cb(void *arg, const char *name, uint64_t size)
{
	const struct list_filter *lf = arg;

	if (cf_obj_name_valid(name) != 0)
		return 0;
	return lf->fn(lf->arg, name, size);
}

int
cf_store_list(struct cf_store *s, enum cf_obj_kind kind, cf_store_list_fn *fn, void *arg)
{
	struct list_filter lf = {.fn = fn, .arg = arg};

	if (!cf_obj_kind_valid(kind))
		return cf_err_set(CF_EINVAL, "invalid object kind %d", (int)kind);
	return s->ops.list(s->ctx, kind, list_filter_cb, &lf);
}

int
cf_store_delete(struct cf_store *s, enum cf_obj_kind kind, const char *name)
{
	int rc;

	if ((rc = check_obj(kind, name)) != 0)
		return rc;
	return s->ops.del(s->ctx, kind, name);
}

/*
 * An anonymous temporary file in @dir (O_TMPFILE, or a name removed at once), so the system
 * frees its space when it is closed, even after a crash.
 */
static int
anon_open(const char *dir, struct cf_store_tmp *t)
{
	size_t n = strlen(dir) + 1;

	if ((t->where = cf_malloc(n)) == NULL)
		return CF_ENOMEM;
	memcpy(t->where, dir, n);
	if ((t->fd = cf_fs_open_anon(dir)) < 0)
		return cf_err_set(CF_ESYS, "cannot create a temporary file in '%s'", dir);
	return 0;
}

int
cf_store_tmp_new(struct cf_store *s, struct cf_store_tmp **out)
{
	struct cf_store_tmp *t = NULL;
	int rc;

	*out = NULL;
	if ((t = cf_calloc(1, sizeof(*t))) == NULL)
		return CF_ENOMEM;
	t->s = s;
	t->fd = -1;
	if (s->ops.tmp_open != NULL) {
		rc = s->ops.tmp_open(s->ctx, t);
	} else if (s->tmpdir != NULL) {
		rc = anon_open(s->tmpdir, t);
	} else if ((rc = anon_open(TMPDIR_DEFAULT, t)) == CF_ESYS) {
		cf_err_clear(); /* a system without /var/tmp */
		rc = anon_open("/tmp", t);
	}
	if (rc != 0) {
		cf_store_tmp_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

static uint8_t *
stage_get(struct cf_store *s)
{
	void *p = NULL;

	pthread_mutex_lock(&s->stage_mu);
	if (s->nstages > 0)
		p = s->stages[--s->nstages];
	pthread_mutex_unlock(&s->stage_mu);
	return p != NULL ? p : cf_fs_stage_new();
}

/* Hand @t's stage back to its store (or free it when the pool is full). */
static void
stage_put(struct cf_store_tmp *t)
{
	struct cf_store *s = t->s;

	if (t->stage == NULL)
		return;
	pthread_mutex_lock(&s->stage_mu);
	if (s->nstages < STAGE_POOL)
		s->stages[s->nstages++] = t->stage;
	else
		cf_fs_stage_free(t->stage);
	pthread_mutex_unlock(&s->stage_mu);
	t->stage = NULL;
	t->staged = 0;
}

void
cf_store_tmp_direct(struct cf_store_tmp *t)
{
	uint8_t *stage = stage_get(t->s);

	if (stage == NULL)
		return;
	if (cf_fs_set_direct(t->fd, true) != 0) {
		t->stage = stage;
		stage_put(t);
		return;
	}
	t->stage = stage;
	t->direct = true;
}

/* Back to writes through the page cache, for a tail that is not a whole block. */
static void
drop_direct(struct cf_store_tmp *t)
{
	(void)cf_fs_set_direct(t->fd, false);
	t->direct = false;
}

/* Write what is staged: the whole blocks directly, a tail through the page cache. */
static int
flush_stage(struct cf_store_tmp *t)
{
	size_t whole = t->staged & ~(CF_FS_ALIGN - 1);
	uint64_t off = t->len - t->staged;

	if (t->staged == 0)
		return 0;
	if (whole > 0 && cf_fs_pwrite_direct(t->fd, t->stage, whole, off, &t->direct) != 0)
		goto fail;
	if (whole < t->staged) {
		drop_direct(t);
		if (cf_fs_pwrite_direct(t->fd, t->stage + whole, t->staged - whole, off + whole,
		                        &t->direct) != 0)
			goto fail;
	}
	t->staged = 0;
	return 0;
fail:
	t->failed = true;
	return cf_err_set(CF_ESYS, "cannot write '%s'", t->where);
}

int
cf_store_tmp_finish(struct cf_store_tmp *t)
{
	int rc;

	if (t->failed || t->committed)
		return 0; /* the put says why */
	if ((rc = flush_stage(t)) != 0)
		return rc;
	if (t->direct)
		drop_direct(t); /* readers of the file (an upload) need no alignment */
	stage_put(t);
	return 0;
}

int
cf_store_tmp_write(struct cf_store_tmp *t, const uint8_t *p, size_t len)
{
	if (t->failed || t->committed)
		return cf_err_set(CF_EINVAL, "'%s' cannot be written any more", t->where);
	while (t->stage != NULL && len > 0) {
		size_t n = CF_FS_STAGE - t->staged < len ? CF_FS_STAGE - t->staged : len;
		int rc;

		memcpy(t->stage + t->staged, p, n);
		t->staged += n;
		t->len += n;
		p += n;
		len -= n;
		if (t->staged == CF_FS_STAGE && (rc = flush_stage(t)) != 0)
			return rc;
	}
	if (len > 0 && cf_fs_pwrite_direct(t->fd, p, len, t->len, &t->direct) != 0) {
		t->failed = true;
		return cf_err_set(CF_ESYS, "cannot write '%s'", t->where);
	}
	t->len += len;
	return 0;
}

int
cf_store_tmp_load(struct cf_store_tmp *t, uint8_t **out)
{
	uint8_t *buf = NULL;
	int rc;
	size_t len;
	size_t got = 0;

	*out = NULL;
	if ((rc = cf_store_tmp_finish(t)) != 0)
		return rc;
	if (t->len > SIZE_MAX - 1)
		return CF_ETOOBIG;
	len = (size_t)t->len;
	if ((buf = cf_malloc(len > 0 ? len : 1)) == NULL)
		return CF_ENOMEM;
	while (got < len) {
		size_t want = len - got < LOAD_STEP ? len - got : LOAD_STEP;
		ssize_t n = pread(t->fd, buf + got, want, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n == 0 ? cf_err_set(CF_ETRUNC, "'%s' shrank", t->where)
			            : cf_err_set(CF_ESYS, "cannot read '%s'", t->where);

			cf_free(buf);
			return rc;
		}
		got += (size_t)n;
	}
	*out = buf;
	return 0;
}

/* For a store that cannot put from a file: read it back and put the bytes. */
static int
put_loaded(struct cf_store *s, enum cf_obj_kind kind, const char *name, struct cf_store_tmp *t)
{
	uint8_t *buf = NULL;
	int rc;

	if ((rc = cf_store_tmp_load(t, &buf)) != 0)
		return rc;
	rc = s->ops.put(s->ctx, kind, name, buf, (size_t)t->len);
	cf_free(buf);
	return rc;
}

int
cf_store_put_tmp(struct cf_store *s, enum cf_obj_kind kind, const char *name,
                 struct cf_store_tmp *t, const uint8_t sha256[static 32])
{
	int rc;

	if ((rc = check_obj(kind, name)) != 0)
		return rc;
	if (t->s != s)
		cf_misuse("cf_store_put_tmp: a temporary file of another store");
	if (t->failed || t->committed)
		return cf_err_set(CF_EINVAL, "'%s' %s", t->where,
		                  t->failed ? "was not written completely" : "is already stored");
	if ((rc = cf_store_tmp_finish(t)) != 0)
		return rc;
	if (s->ops.put_tmp != NULL)
		rc = s->ops.put_tmp(s->ctx, kind, name, t, sha256);
	else
		rc = put_loaded(s, kind, name, t);
	if (rc == 0)
		t->committed = true;
	return rc;
}

void
cf_store_tmp_free(struct cf_store_tmp *t)
{
	if (t == NULL)
		return;
	if (!t->committed && t->name[0] != '\0' && t->s->ops.tmp_drop != NULL)
		t->s->ops.tmp_drop(t->s->ctx, t);
	if (t->fd >= 0)
		(void)close(t->fd);
	stage_put(t);
	cf_free(t->where);
	cf_free(t);
}
