/*
 * check_later.c - what a prune running beside `check` may explain, decided at the end
 * (docs/format.md 16.4). Nothing locks one against the other, so the walk may meet a pack
 * the index names that the listing lacks, a pack read-data listed that is gone when read, a
 * tree that does not load, or a snapshot object that is gone. Each is put off; at the end the
 * forget and prune records and the index are read again and the packs listed again, and each
 * is decided against them: a prune deletes a pack only after replacing every index object
 * that names it and copying out what a snapshot still needs, and a forgotten snapshot's
 * object before its packs. A server that withholds or deletes objects cannot pass for a prune:
 * a chunk or tree is found again through the fresh index in a pack that is listed (a tree:
 * and loads; with read-data, a chunk: in a copy that verified at a place the index records),
 * or it is a problem; a snapshot is gone only when a trusted forget record names it.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"

int
cf_ck_later_init(struct ck *c)
{
	int rc;

	if ((rc = cf_index_new(&c->gone)) != 0 || (rc = cf_index_new(&c->unread)) != 0 ||
	    (rc = cf_index_new(&c->failed_trees)) != 0 || (rc = cf_index_new(&c->later_keys)) != 0)
		return rc;
	return 0;
}

void
cf_ck_later_release(struct ck *c)
{
	for (size_t i = 0; i < c->nlater; i++) {
		cf_free(c->later[i].path);
		cf_free(c->later[i].why);
	}
	cf_free(c->later);
	c->later = NULL;
	c->nlater = c->later_cap = 0;
	cf_index_free(c->gone);
	cf_index_free(c->unread);
	cf_index_free(c->failed_trees);
	cf_index_free(c->later_keys);
	c->gone = c->unread = c->failed_trees = c->later_keys = NULL;
}

/* A pack the index names that the listing lacks: missing, unless a prune deleted it since. */
int
cf_ck_note_gone(void *arg, const uint8_t pack[static CF_ID_BYTES])
{
	struct ck *c = arg;

	return cf_index_has(c->packs_present, pack) ? 0 : cf_index_add_id(c->gone, pack);
}

bool
cf_ck_vanished(const struct ck *c, const uint8_t pack[static CF_ID_BYTES])
{
	if (cf_index_has(c->unread, pack))
		return true;
	return c->final ? !cf_index_has(c->packs_present, pack) : cf_index_has(c->gone, pack);
}

/* The key of @tag @snap @id in c->later_keys (@snap: a snapshot name, or ""). */
static void
later_key(uint8_t key[static CF_HASH_BYTES], char tag, const char *snap,
          const uint8_t id[static CF_ID_BYTES])
{
	uint8_t buf[1 + 2 * CF_ID_BYTES + CF_ID_BYTES];
	size_t n = strnlen(snap, 2 * CF_ID_BYTES);

	buf[0] = (uint8_t)tag;
	memcpy(buf + 1, snap, n);
	memcpy(buf + 1 + n, id, CF_ID_BYTES);
	cf_hash(key, buf, 1 + n + CF_ID_BYTES);
}

/* *@first: @tag @snap @id was not seen before; it is now. */
static int
first_time(struct ck *c, char tag, const char *snap, const uint8_t id[static CF_ID_BYTES],
           bool *first)
{
	uint8_t key[CF_HASH_BYTES];

	later_key(key, tag, snap, id);
	*first = !cf_index_has(c->later_keys, key);
	return *first ? cf_index_add_id(c->later_keys, key) : 0;
}

static const char *
why_text(int rc)
{
	return cf_err_last()[0] != '\0' ? cf_err_last() : cf_strerror(rc);
}

int
cf_ck_put_off(struct ck *c, enum ck_later_kind kind, const char *snap,
              const uint8_t id[static CF_ID_BYTES], int rc)
{
	const char *path = cf_path_cstr(&c->path);
	struct ck_later *l = NULL;
	bool first = true;
	int err;

	CF_ASSERT(!c->final); /* deciding walks later[]: it must not move */
	/* a chunk is kept for each file that has it; a tree or snapshot once for each snapshot */
	if (kind != CK_LATER_CHUNK && (err = first_time(c, (char)kind, snap, id, &first)) != 0)
		return err;
	if (!first) {
		cf_err_clear();
		return 0;
	}
	if (c->nlater == c->later_cap) {
		size_t ncap = c->later_cap == 0 ? 8 : c->later_cap * 2;

		if ((l = cf_realloc(c->later, ncap * sizeof(*l))) == NULL)
			return CF_ENOMEM;
		c->later = l;
		c->later_cap = ncap;
	}
	l = &c->later[c->nlater];
	memset(l, 0, sizeof(*l));
	l->kind = kind;
	(void)snprintf(l->snap, sizeof(l->snap), "%s", snap);
	memcpy(l->id, id, CF_ID_BYTES);
	if ((l->path = cf_strdup(path[0] == '/' ? path + 1 : path)) == NULL ||
	    (l->why = cf_strdup(why_text(rc))) == NULL) {
		cf_free(l->path);
		l->path = NULL;
		return CF_ENOMEM;
	}
	cf_err_clear();
	c->nlater++;
	return 0;
}

bool
cf_ck_tree_known_bad(const struct ck *c, const uint8_t id[static CF_ID_BYTES])
{
	uint8_t key[CF_HASH_BYTES];

	if (!c->final)
		return cf_index_has(c->failed_trees, id);
	/* deciding: one that failed again is not fetched a third time */
	later_key(key, 'F', "", id);
	return cf_index_has(c->later_keys, key);
}

int
cf_ck_tree_failed(struct ck *c, const uint8_t id[static CF_ID_BYTES], int rc)
{
	char idhex[2 * CF_ID_BYTES + 1];
	bool first = false;
	int err;

	if (!c->final) {
		if ((err = cf_index_add_id(c->failed_trees, id)) != 0)
			return err;
		return cf_ck_put_off(c, CK_LATER_TREE, c->snap, id, rc);
	}
	cf_id_name(idhex, id);
	if ((err = first_time(c, 'F', "", id, &first)) == 0 &&
	    (err = first_time(c, 'T', c->snap, id, &first)) == 0 && first)
		cf_ck_problem(c, "snapshot %.16s: '%s': tree %.16s does not load: %s", c->snap,
		              cf_path_cstr(&c->path), idhex, why_text(rc));
	cf_err_clear();
	return err;
}

static int
report_unlisted(struct ck *c, const uint8_t pack[static CF_ID_BYTES])
{
	char name[2 * CF_ID_BYTES + 1];

	cf_id_name(name, pack);
	cf_ck_problem(c, "packs/%s is named by the index but missing", name);
	return 0;
}

static int
report_unread(struct ck *c, const uint8_t pack[static CF_ID_BYTES])
{
	char name[2 * CF_ID_BYTES + 1];

	cf_id_name(name, pack);
	cf_ck_problem(c, "packs/%s cannot be read: %s", name, cf_strerror(CF_ENOENT));
	return 0;
}

/* Listed again after it was missing: read-data has not read it yet. */
static int
read_again(struct ck *c, const uint8_t pack[static CF_ID_BYTES])
{
	int rc = cf_ck_read_once(c, pack);

	if (rc != 0)
		return rc;
	return cf_index_has(c->unread, pack) ? report_unread(c, pack) : 0;
}

/* Each pack the fresh index names: decided if it was missing or did not read. */
static int
decide_pack(void *arg, const uint8_t pack[static CF_ID_BYTES])
{
	struct ck *c = arg;

	if (cf_index_has(c->unread, pack))
		return report_unread(c, pack);
	if (!cf_index_has(c->gone, pack))
		return 0;
	if (!cf_index_has(c->packs_present, pack))
		return report_unlisted(c, pack);
	return c->read_all ? read_again(c, pack) : 0;
}

/* The fresh index or listing could not be had: what waited for them is reported as seen. */
static int
report_as_seen_unlisted(void *arg, const uint8_t pack[static CF_ID_BYTES])
{
	struct ck *c = arg;

	return cf_index_has(c->unread, pack) ? 0 : report_unlisted(c, pack);
}

static int
report_as_seen_unread(void *arg, const uint8_t pack[static CF_ID_BYTES])
{
	return report_unread(arg, pack);
}

static int
report_as_seen(struct ck *c, int rc)
{
	cf_ck_problem(c, "cannot read the index again to tell a prune from damage: %s",
	              why_text(rc));
	cf_err_clear();
	for (size_t i = 0; i < c->nlater; i++)
		cf_ck_problem(c, "snapshot %.16s: '%s': %s", c->later[i].snap, c->later[i].path,
		              c->later[i].why);
	if ((rc = cf_index_each_id(c->gone, report_as_seen_unlisted, c)) != 0)
		return rc;
	return cf_index_each_id(c->unread, report_as_seen_unread, c);
}

/* One put-off thing, where the walk met it, against the fresh index. */
static int
decide_later(struct ck *c, const struct ck_later *l)
{
	size_t saved = 0;
	bool opened = false;
	int rc;

	c->snap = l->snap;
	cf_path_pop(&c->path, 0);
	if (l->path[0] != '\0' &&
	    (rc = cf_path_push(&c->path, (const uint8_t *)l->path, strlen(l->path), &saved)) != 0)
		return rc;
	switch (l->kind) {
	case CK_LATER_SNAPSHOT:
		rc = cf_ck_snapshot_tree(c, l->snap, &opened);
		if (!opened && rc != CF_ENOMEM) {
			cf_ck_problem(c, "snapshot %.16s cannot be read: %s", l->snap,
			              why_text(rc));
			cf_err_clear();
			rc = 0;
		}
		return rc;
	case CK_LATER_TREE:
		return cf_ck_tree(c, l->id);
	case CK_LATER_CHUNK:
		return cf_ck_chunk(c, l->id);
	}
	return 0;
}

int
cf_ck_recheck(struct ck *c)
{
	int rc;

	if (cf_index_count(c->gone) == 0 && cf_index_count(c->unread) == 0 && c->nlater == 0)
		return 0;
	cf_repo_unload_index(c->r);
	if ((rc = cf_repo_reload_records(c->r)) != 0 ||
	    (rc = cf_repo_load_index_skipping(c->r)) != 0 || (rc = cf_ck_list_packs(c)) != 0)
		return rc == CF_ENOMEM ? rc : report_as_seen(c, rc);
	c->final = true;
	if ((rc = cf_repo_each_pack(c->r, decide_pack, c)) != 0)
		return rc;
	for (size_t i = 0; i < c->nlater && rc == 0; i++)
		if (!cf_repo_forgotten_name(c->r, c->later[i].snap))
			rc = decide_later(c, &c->later[i]);
	return rc;
}
