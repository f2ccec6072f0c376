/*
 * api.c - options, events and accessors of the public API (include/coffer/coffer.h).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "repo.h"

/* ---- options ---- */

int
cf_opts_new(struct cf_opts **out)
{
	*out = cf_calloc(1, sizeof(**out));
	return *out == NULL ? CF_ENOMEM : 0;
}

void
cf_opts_free(struct cf_opts *o)
{
	if (o == NULL)
		return;
	for (size_t i = 0; i < o->n; i++) {
		cf_free(o->keys[i]);
		cf_free_wipe(o->vals[i], strlen(o->vals[i])); /* a value may be a passphrase */
	}
	cf_free(o->keys);
	cf_free(o->vals);
	cf_free(o);
}

static int
opts_grow(struct cf_opts *o)
{
	size_t ncap = o->cap == 0 ? 16 : o->cap * 2;
	char **nk = NULL;
	char **nv = NULL;

	if ((nk = cf_realloc(o->keys, ncap * sizeof(*nk))) == NULL)
		return CF_ENOMEM;
	o->keys = nk;
	if ((nv = cf_realloc(o->vals, ncap * sizeof(*nv))) == NULL)
		return CF_ENOMEM;
	o->vals = nv;
	o->cap = ncap;
	return 0;
}

int
cf_opts_add(struct cf_opts *o, const char *key, const char *value)
{
	char *k = NULL;
	char *v = NULL;
	int rc;

	if (o->n == o->cap && (rc = opts_grow(o)) != 0)
		return rc;
	if ((k = cf_strdup(key)) == NULL || (v = cf_strdup(value)) == NULL) {
		cf_free(k);
		return CF_ENOMEM;
	}
	o->keys[o->n] = k;
	o->vals[o->n] = v;
	o->n++;
	return 0;
}

const char *
cf_opts_get(const struct cf_opts *o, const char *key)
{
	for (size_t i = o->n; i > 0; i--)
		if (strcmp(o->keys[i - 1], key) == 0)
			return o->vals[i - 1];
	return NULL;
}

const char *
cf_opts_nth(const struct cf_opts *o, const char *key, size_t nth)
{
	for (size_t i = 0; i < o->n; i++) {
		if (strcmp(o->keys[i], key) != 0)
			continue;
		if (nth == 0)
			return o->vals[i];
		nth--;
	}
	return NULL;
}

bool
cf_opts_flag(const struct cf_opts *o, const char *key)
{
	const char *v = cf_opts_get(o, key);

	return v != NULL && strcmp(v, "0") != 0;
}

/* ---- events ---- */

void
cf_emit_item(const struct cf_events *ev, enum cf_event_kind kind, int code, const uint8_t *path,
             size_t path_len, const char *fmt, ...)
{
	char msg[1024];
	struct cf_event e;
	va_list ap;

	if (ev == NULL || ev->fn == NULL)
		return;
	/* CF_OK: the message is complete, no errno text is appended a second time */
	va_start(ap, fmt);
	(void)cf_err_setv(CF_OK, fmt, ap);
	va_end(ap);
	cf_err_copy(msg, sizeof(msg));
	memset(&e, 0, sizeof(e));
	e.kind = kind;
	e.code = code;
	e.path = path;
	e.path_len = path_len;
	e.message = msg;
	ev->fn(ev->arg, &e);
}

#define PROGRESS_INTERVAL_NS 100000000ull

void
cf_emit_progress(const struct cf_events *ev, struct cf_progress *p, bool force)
{
	struct cf_event e;
	uint64_t t;

	if (ev == NULL || ev->fn == NULL)
		return;
	t = cf_mono_ns();
	if (!force && t - p->last_ns < PROGRESS_INTERVAL_NS)
		return;
	p->last_ns = t;
	memset(&e, 0, sizeof(e));
	e.kind = CF_EV_PROGRESS;
	e.ctr[CF_CTR_FILES_DONE] = p->files;
	e.ctr[CF_CTR_BYTES_DONE] = p->bytes;
	e.ctr[CF_CTR_FILES_TOTAL] = p->files_total;
	e.ctr[CF_CTR_BYTES_TOTAL] = p->bytes_total;
	e.ctr[CF_CTR_ERRORS] = p->errors;
	ev->fn(ev->arg, &e);
}

enum cf_event_kind
cf_event_kind(const struct cf_event *ev)
{
	return ev->kind;
}

const uint8_t *
cf_event_path(const struct cf_event *ev, size_t *len)
{
	*len = ev->path_len;
	return ev->path;
}

const char *
cf_event_message(const struct cf_event *ev)
{
	return ev->message != NULL ? ev->message : "";
}

int
cf_event_code(const struct cf_event *ev)
{
	return ev->code;
}

const struct cf_node *
cf_event_node(const struct cf_event *ev)
{
	return ev->node;
}

uint64_t
cf_event_counter(const struct cf_event *ev, enum cf_counter which)
{
	size_t i = (size_t)which;

	return i < CF_ARRAY_LEN(ev->ctr) ? ev->ctr[i] : 0;
}

/* ---- nodes ---- */

enum cf_node_kind
cf_node_kind(const struct cf_node *n)
{
	return (enum cf_node_kind)n->type;
}

const char *
cf_node_kind_name(enum cf_node_kind k)
{
	switch (k) {
	case CF_FILE:
		return "file";
	case CF_DIR:
		return "dir";
	case CF_SYMLINK:
		return "symlink";
	case CF_HARDLINK:
		return "hardlink";
	case CF_FIFO:
		return "fifo";
	case CF_CHARDEV:
		return "chardev";
	case CF_BLOCKDEV:
		return "blockdev";
	}
	return "unknown";
}

const uint8_t *
cf_node_name(const struct cf_node *n, size_t *len)
{
	*len = n->name_len;
	return n->name;
}

uint32_t
cf_node_mode(const struct cf_node *n)
{
	return n->mode;
}

uint32_t
cf_node_uid(const struct cf_node *n)
{
	return n->uid;
}

uint32_t
cf_node_gid(const struct cf_node *n)
{
	return n->gid;
}

const uint8_t *
cf_node_user(const struct cf_node *n, size_t *len)
{
	*len = n->user_len;
	return n->user;
}

const uint8_t *
cf_node_group(const struct cf_node *n, size_t *len)
{
	*len = n->group_len;
	return n->group;
}

uint64_t
cf_node_size(const struct cf_node *n)
{
	return n->size;
}

int64_t
cf_node_mtime(const struct cf_node *n, uint32_t *nsec)
{
	*nsec = n->mtime_ns;
	return n->mtime_s;
}

const uint8_t *
cf_node_target(const struct cf_node *n, size_t *len)
{
	*len = n->target_len;
	return n->target;
}

/* ---- snapshots ---- */

static bool
zero_id(const uint8_t id[static CF_ID_BYTES])
{
	uint8_t acc = 0;

	for (size_t i = 0; i < CF_ID_BYTES; i++)
		acc |= id[i];
	return acc == 0;
}

void
cf_snapshot_id_hex(const struct cf_snapshot *s, char *out)
{
	cf_hex(out, s->id, CF_ID_BYTES);
}

void
cf_snapshot_tree_hex(const struct cf_snapshot *s, char *out)
{
	cf_hex(out, s->tree, CF_ID_BYTES);
}

void
cf_snapshot_parent_hex(const struct cf_snapshot *s, char *out)
{
	if (zero_id(s->parent))
		out[0] = '\0';
	else
		cf_hex(out, s->parent, CF_ID_BYTES);
}

void
cf_snapshot_device_hex(const struct cf_snapshot *s, char *out)
{
	cf_hex(out, s->head.device, CF_ID_BYTES);
}

int64_t
cf_snapshot_time(const struct cf_snapshot *s, uint32_t *nsec)
{
	*nsec = s->time_ns;
	return s->time_s;
}

const char *
cf_snapshot_host(const struct cf_snapshot *s)
{
	return s->host;
}

const char *
cf_snapshot_username(const struct cf_snapshot *s)
{
	return s->username;
}

size_t
cf_snapshot_npaths(const struct cf_snapshot *s)
{
	return s->npaths;
}

const char *
cf_snapshot_path(const struct cf_snapshot *s, size_t i)
{
	return i < s->npaths ? s->paths[i] : NULL;
}

size_t
cf_snapshot_ntags(const struct cf_snapshot *s)
{
	return s->ntags;
}

const char *
cf_snapshot_tag(const struct cf_snapshot *s, size_t i)
{
	return i < s->ntags ? s->tags[i] : NULL;
}

uint64_t
cf_snapshot_seq(const struct cf_snapshot *s)
{
	return s->head.seq;
}

void
cf_snapshot_release(struct cf_snapshot *s)
{
	cf_snapshot_free(s);
}

const char *
cf_version(void)
{
	return CF_VERSION;
}

int
cf_format_version(void)
{
	return 1;
}
