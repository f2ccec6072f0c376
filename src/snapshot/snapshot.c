/*
 * snapshot.c - the snapshot record in memory and its body encoding (snap_plain of
 * docs/format.md section 8). The envelope (head, wrapped key, AEAD, signature) is in
 * snapshot_object.c.
 */
#include "snapshot.h"

#include <string.h>

#include "../base/base.h"
#include "../buf/buf.h"
#include "../reader/reader.h"

#define NS_PER_S 1000000000u
/* The body has to fit in an object of at most CF_SNAPSHOT_MAX_BYTES with its envelope. */
#define PLAIN_MAX (CF_SNAPSHOT_MAX_BYTES - CF_SNAPSHOT_MIN_BYTES)
#define NSTATS    7

int
cf_snapshot_new(struct cf_snapshot **out)
{
	*out = cf_calloc(1, sizeof(**out));
	return *out == NULL ? CF_ENOMEM : 0;
}

static void
free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cf_free(v[i]);
	cf_free(v);
}

void
cf_snapshot_free(struct cf_snapshot *s)
{
	if (s == NULL)
		return;
	cf_free(s->host);
	cf_free(s->username);
	free_strings(s->paths, s->npaths);
	free_strings(s->tags, s->ntags);
	cf_free(s);
}

/* Append a copy of @str to the list @v of @n strings (lists are short: at most 4096). */
static int
append_string(char ***v, size_t *n, const char *str)
{
	char **nv = NULL;
	char *copy = NULL;

	if ((copy = cf_strdup(str)) == NULL)
		return CF_ENOMEM;
	if ((nv = cf_realloc(*v, (*n + 1) * sizeof(*nv))) == NULL) {
		cf_free(copy);
		return CF_ENOMEM;
	}
	nv[*n] = copy;
	*v = nv;
	(*n)++;
	return 0;
}

int
cf_snapshot_add_path(struct cf_snapshot *s, const char *path)
{
	if (s->npaths >= CF_SNAPSHOT_MAX_PATHS || strlen(path) > CF_SNAPSHOT_PATH_MAX)
		return CF_ETOOBIG;
	return append_string(&s->paths, &s->npaths, path);
}

int
cf_snapshot_add_tag(struct cf_snapshot *s, const char *tag)
{
	if (s->ntags >= CF_SNAPSHOT_MAX_TAGS || strlen(tag) > CF_SNAPSHOT_TAG_MAX)
		return CF_ETOOBIG;
	return append_string(&s->tags, &s->ntags, tag);
}

static bool
path_ok(const char *p)
{
	size_t n = p == NULL ? 0 : strlen(p);

	return n >= 1 && n <= CF_SNAPSHOT_PATH_MAX && p[0] == '/';
}

static bool
tag_ok(const char *t)
{
	size_t n = t == NULL ? 0 : strlen(t);

	return n >= 1 && n <= CF_SNAPSHOT_TAG_MAX;
}

static bool
text_ok(const char *s)
{
	return s == NULL || strlen(s) <= CF_SNAPSHOT_TEXT_MAX;
}

/* Every body field in range, as cf_snapshot_parse_plain() requires. */
static bool
plain_valid(const struct cf_snapshot *s)
{
	if (s->time_ns >= NS_PER_S || !text_ok(s->host) || !text_ok(s->username))
		return false;
	if (s->npaths < 1 || s->npaths > CF_SNAPSHOT_MAX_PATHS || s->ntags > CF_SNAPSHOT_MAX_TAGS)
		return false;
	for (size_t i = 0; i < s->npaths; i++)
		if (!path_ok(s->paths[i]))
			return false;
	for (size_t i = 0; i < s->ntags; i++)
		if (!tag_ok(s->tags[i]))
			return false;
	return true;
}

static int
put_text(struct cf_buf *b, const char *s)
{
	return cf_buf_str16(b, s, s == NULL ? 0 : strlen(s));
}

static int
put_lists(struct cf_buf *b, const struct cf_snapshot *s)
{
	int rc;

	if ((rc = cf_buf_u16be(b, (uint16_t)s->npaths)) != 0)
		return rc;
	for (size_t i = 0; i < s->npaths; i++)
		if ((rc = put_text(b, s->paths[i])) != 0)
			return rc;
	if ((rc = cf_buf_u16be(b, (uint16_t)s->ntags)) != 0)
		return rc;
	for (size_t i = 0; i < s->ntags; i++)
		if ((rc = cf_buf_str8(b, s->tags[i], strlen(s->tags[i]))) != 0)
			return rc;
	return 0;
}

static void
stats_array(const struct cf_snapshot_stats *st, uint64_t v[static NSTATS])
{
	v[0] = st->files_new;
	v[1] = st->files_changed;
	v[2] = st->files_unmodified;
	v[3] = st->dirs;
	v[4] = st->data_added;
	v[5] = st->total_bytes;
	v[6] = st->duration_ns;
}

int
cf_snapshot_encode_plain(const struct cf_snapshot *s, uint8_t **out, size_t *len)
{
	struct cf_buf b;
	uint64_t stats[NSTATS];
	int rc;

	*out = NULL;
	*len = 0;
	if (!plain_valid(s))
		return CF_EINVAL;
	cf_buf_init_secret(&b, PLAIN_MAX);
	stats_array(&s->stats, stats);
	if ((rc = cf_buf_i64be(&b, s->time_s)) != 0 || (rc = cf_buf_u32be(&b, s->time_ns)) != 0 ||
	    (rc = put_text(&b, s->host)) != 0 || (rc = put_text(&b, s->username)) != 0 ||
	    (rc = put_lists(&b, s)) != 0 || (rc = cf_buf_put(&b, s->tree, sizeof(s->tree))) != 0 ||
	    (rc = cf_buf_put(&b, s->parent, sizeof(s->parent))) != 0)
		goto out;
	for (size_t i = 0; i < NSTATS; i++)
		if ((rc = cf_buf_u64be(&b, stats[i])) != 0)
			goto out;
	cf_buf_detach(&b, out, len);
out:
	cf_buf_release(&b);
	return rc;
}

/* A NUL-terminated copy of @len input bytes; a NUL inside is a format error. */
static int
dup_text(const uint8_t *p, size_t len, char **out)
{
	char *s = NULL;

	*out = NULL;
	if (len > 0 && memchr(p, '\0', len) != NULL)
		return CF_EFORMAT;
	if ((s = cf_malloc(len + 1)) == NULL)
		return CF_ENOMEM;
	if (len > 0)
		memcpy(s, p, len);
	s[len] = '\0';
	*out = s;
	return 0;
}

static int
get_text16(struct cf_reader *r, size_t max, char **out)
{
	const uint8_t *p = NULL;
	size_t len = 0;
	int rc;

	if ((rc = cf_reader_str16(r, max, &p, &len)) != 0)
		return rc;
	return dup_text(p, len, out);
}

static int
get_paths(struct cf_reader *r, struct cf_snapshot *s)
{
	uint16_t count = 0;
	int rc;

	if ((rc = cf_reader_u16be(r, &count)) != 0)
		return rc;
	if (count == 0)
		return CF_EFORMAT;
	if (count > CF_SNAPSHOT_MAX_PATHS)
		return CF_ETOOBIG;
	/* A path takes at least 3 bytes: its length and a '/'. */
	if (count > r->left / 3)
		return CF_ETRUNC;
	if ((s->paths = cf_calloc(count, sizeof(*s->paths))) == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; i < count; i++) {
		if ((rc = get_text16(r, CF_SNAPSHOT_PATH_MAX, &s->paths[i])) != 0)
			return rc;
		s->npaths++;
		if (s->paths[i][0] != '/')
			return CF_EFORMAT;
	}
	return 0;
}

static int
get_tags(struct cf_reader *r, struct cf_snapshot *s)
{
	uint16_t count = 0;
	const uint8_t *p = NULL;
	size_t len = 0;
	int rc;

	if ((rc = cf_reader_u16be(r, &count)) != 0)
		return rc;
	if (count > CF_SNAPSHOT_MAX_TAGS)
		return CF_ETOOBIG;
	if (count > r->left / 2)
		return CF_ETRUNC;
	if (count > 0 && (s->tags = cf_calloc(count, sizeof(*s->tags))) == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; i < count; i++) {
		if ((rc = cf_reader_str8(r, CF_SNAPSHOT_TAG_MAX, &p, &len)) != 0)
			return rc;
		if (len == 0)
			return CF_EFORMAT;
		if ((rc = dup_text(p, len, &s->tags[i])) != 0)
			return rc;
		s->ntags++;
	}
	return 0;
}

static int
get_tail(struct cf_reader *r, struct cf_snapshot *s)
{
	uint64_t v[NSTATS];
	int rc;

	if ((rc = cf_reader_copy(r, s->tree, sizeof(s->tree))) != 0 ||
	    (rc = cf_reader_copy(r, s->parent, sizeof(s->parent))) != 0)
		return rc;
	for (size_t i = 0; i < NSTATS; i++)
		if ((rc = cf_reader_u64be(r, &v[i])) != 0)
			return rc;
	s->stats.files_new = v[0];
	s->stats.files_changed = v[1];
	s->stats.files_unmodified = v[2];
	s->stats.dirs = v[3];
	s->stats.data_added = v[4];
	s->stats.total_bytes = v[5];
	s->stats.duration_ns = v[6];
	return cf_reader_end(r);
}

int
cf_snapshot_parse_plain(const uint8_t *p, size_t len, struct cf_snapshot **out)
{
	struct cf_snapshot *s = NULL;
	struct cf_reader r;
	int rc;

	*out = NULL;
	if (len > PLAIN_MAX)
		return CF_ETOOBIG;
	cf_reader_init(&r, p, len);
	if ((rc = cf_snapshot_new(&s)) != 0)
		return rc;
	if ((rc = cf_reader_i64be(&r, &s->time_s)) != 0 ||
	    (rc = cf_reader_u32be(&r, &s->time_ns)) != 0)
		goto out;
	if (s->time_ns >= NS_PER_S) {
		rc = CF_EFORMAT;
		goto out;
	}
	if ((rc = get_text16(&r, CF_SNAPSHOT_TEXT_MAX, &s->host)) != 0 ||
	    (rc = get_text16(&r, CF_SNAPSHOT_TEXT_MAX, &s->username)) != 0 ||
	    (rc = get_paths(&r, s)) != 0 || (rc = get_tags(&r, s)) != 0 ||
	    (rc = get_tail(&r, s)) != 0)
		goto out;
	*out = s;
	s = NULL;
out:
	cf_snapshot_free(s);
	return rc;
}
