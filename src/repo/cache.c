/*
 * cache.c - the local cache (COFFER_CACHE/<fingerprint>/): what a backup-only device needs to
 * back up incrementally although it cannot read the repository's trees: its own last trees,
 * kept as written, and which snapshot was the last for a set of paths. Everything here can be
 * lost: without it the next backup reads every file again (and uploads nothing twice).
 * A cached tree is used only when its keyed MAC matches its id.
 */
#include <stdio.h>
#include <string.h>

#include "../device/device.h"
#include "repo.h"

#define PARENT_FILE_BYTES (2 * CF_ID_BYTES)

/* COFFER_CACHE/<fingerprint>/<sub>/<name>; the directories are created when @mk. */
static char *
cache_path(const struct cf_repo *r, const char *sub, const char *name, bool mk)
{
	char fp[2 * CF_HASH_BYTES + 1];
	size_t n = strlen(r->cache) + sizeof(fp) + strlen(sub) + strlen(name) + 4;
	char *p = cf_malloc(n);

	if (p == NULL)
		return NULL;
	cf_hex(fp, r->chain->fingerprint, CF_HASH_BYTES);
	(void)snprintf(p, n, "%s/%s/%s", r->cache, fp, sub);
	if (mk && cf_mkdir_p(p, 0700) != 0) {
		cf_free(p);
		return NULL;
	}
	(void)snprintf(p, n, "%s/%s/%s/%s", r->cache, fp, sub, name);
	return p;
}

char *
cf_cache_file(const struct cf_repo *r, const char *name)
{
	char fp[2 * CF_HASH_BYTES + 1];
	size_t n = strlen(r->cache) + sizeof(fp) + strlen(name) + 3;
	char *p = cf_malloc(n);

	if (p == NULL)
		return NULL;
	cf_hex(fp, r->chain->fingerprint, CF_HASH_BYTES);
	(void)snprintf(p, n, "%s/%s", r->cache, fp);
	if (cf_mkdir_p(p, 0700) != 0) {
		cf_err_clear();
		cf_free(p);
		return NULL;
	}
	(void)snprintf(p, n, "%s/%s/%s", r->cache, fp, name);
	return p;
}

int
cf_cache_put_tree(struct cf_repo *r, const uint8_t id[static CF_ID_BYTES], const uint8_t *p,
                  size_t len)
{
	char name[2 * CF_ID_BYTES + 1];
	char *path = NULL;
	int rc;

	cf_id_name(name, id);
	if ((path = cache_path(r, "trees", name, true)) == NULL)
		return 0; /* a cache that cannot be written is only slower */
	rc = cf_write_file_atomic(path, p, len, 0600);
	cf_free(path);
	cf_err_clear();
	(void)rc;
	return 0;
}

int
cf_cache_get_tree(struct cf_repo *r, const uint8_t id[static CF_ID_BYTES], struct cf_tree **out)
{
	char name[2 * CF_ID_BYTES + 1];
	uint8_t mac[CF_ID_BYTES];
	char *path = NULL;
	uint8_t *p = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	cf_id_name(name, id);
	if ((path = cache_path(r, "trees", name, false)) == NULL)
		return CF_ENOMEM;
	rc = cf_read_file(path, CF_TREE_MAX_BYTES, &p, &len);
	cf_free(path);
	if (rc != 0)
		return CF_ENOENT;
	cf_mac(mac, r->k_id, p, len);
	if (memcmp(mac, id, CF_ID_BYTES) != 0 || cf_tree_decode(p, len, out) != 0)
		rc = CF_ENOENT; /* damaged cache: ignore it */
	cf_free_wipe(p, len);
	cf_err_clear();
	return rc;
}

/* The cache key of a backup's paths: H(host NUL path NUL path ...). */
static void
parent_name(const char *host, char **paths, size_t n, char out[static 2 * CF_HASH_BYTES + 1])
{
	struct cf_hash_ctx *h = NULL;
	uint8_t d[CF_HASH_BYTES];

	memset(d, 0, sizeof(d));
	if (cf_hash_ctx_new(&h) == 0) {
		cf_hash_ctx_update(h, host, strlen(host) + 1);
		for (size_t i = 0; i < n; i++)
			cf_hash_ctx_update(h, paths[i], strlen(paths[i]) + 1);
		cf_hash_ctx_final(h, d);
		cf_hash_ctx_free(h);
	}
	cf_hex(out, d, CF_HASH_BYTES);
}

int
cf_cache_put_parent(struct cf_repo *r, const char *host, char **paths, size_t n,
                    const uint8_t snap[static CF_ID_BYTES], const uint8_t tree[static CF_ID_BYTES])
{
	char name[2 * CF_HASH_BYTES + 1];
	uint8_t rec[PARENT_FILE_BYTES];
	char *path = NULL;

	parent_name(host, paths, n, name);
	if ((path = cache_path(r, "parents", name, true)) == NULL)
		return 0;
	memcpy(rec, snap, CF_ID_BYTES);
	memcpy(rec + CF_ID_BYTES, tree, CF_ID_BYTES);
	if (cf_write_file_atomic(path, rec, sizeof(rec), 0600) != 0)
		cf_err_clear();
	cf_free(path);
	return 0;
}

int
cf_cache_get_parent(struct cf_repo *r, const char *host, char **paths, size_t n,
                    uint8_t snap[static CF_ID_BYTES], uint8_t tree[static CF_ID_BYTES])
{
	char name[2 * CF_HASH_BYTES + 1];
	char *path = NULL;
	uint8_t *p = NULL;
	size_t len = 0;
	int rc;

	parent_name(host, paths, n, name);
	if ((path = cache_path(r, "parents", name, false)) == NULL)
		return CF_ENOMEM;
	rc = cf_read_file(path, PARENT_FILE_BYTES, &p, &len);
	cf_free(path);
	cf_err_clear();
	if (rc != 0 || len != PARENT_FILE_BYTES) {
		cf_free(p);
		return CF_ENOENT;
	}
	memcpy(snap, p, CF_ID_BYTES);
	memcpy(tree, p + CF_ID_BYTES, CF_ID_BYTES);
	cf_free(p);
	return 0;
}
