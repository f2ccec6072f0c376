/*
 * fuzz_snapshot.c - libFuzzer harness for snapshot objects, with fixed keys:
 *   (a) the envelope: cf_snapshot_read_head(), cf_snapshot_verify(), cf_snapshot_open();
 *   (b) the body parser cf_snapshot_parse_plain() on the raw input, which the envelope
 *       only reaches after authentication. A body that parses must re-encode to the same
 *       bytes, and must survive seal then open with the fixed keys unchanged.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "crypto/crypto.h"
#include "snapshot/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static uint8_t repo_id[32];
static struct cf_boxkey *dk;
static struct cf_signkey *sk;

static void
init_keys(void)
{
	uint8_t secret[32];

	if (cf_init() != 0)
		abort();
	for (size_t i = 0; i < sizeof(secret); i++) {
		repo_id[i] = (uint8_t)i;
		secret[i] = (uint8_t)(0x40 + i); /* the DK of tests/vectors/snapshot.txt */
	}
	if (cf_boxkey_from_secret(secret, &dk) != 0)
		abort();
	for (size_t i = 0; i < sizeof(secret); i++)
		secret[i] = (uint8_t)(0x80 + i); /* its device signing seed */
	if (cf_signkey_from_seed(secret, &sk) != 0)
		abort();
}

static bool
same_strings(char **a, char **b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

static bool
same_body(const struct cf_snapshot *a, const struct cf_snapshot *b)
{
	return a->time_s == b->time_s && a->time_ns == b->time_ns &&
	       strcmp(a->host, b->host) == 0 && strcmp(a->username, b->username) == 0 &&
	       a->npaths == b->npaths && same_strings(a->paths, b->paths, a->npaths) &&
	       a->ntags == b->ntags && same_strings(a->tags, b->tags, a->ntags) &&
	       memcmp(a->tree, b->tree, sizeof(a->tree)) == 0 &&
	       memcmp(a->parent, b->parent, sizeof(a->parent)) == 0 &&
	       memcmp(&a->stats, &b->stats, sizeof(a->stats)) == 0;
}

static bool
same_head(const struct cf_snapshot_head *a, const struct cf_snapshot_head *b)
{
	return a->epoch == b->epoch && a->seq == b->seq &&
	       memcmp(a->device, b->device, sizeof(a->device)) == 0 &&
	       memcmp(a->prev, b->prev, sizeof(a->prev)) == 0;
}

/* A parsed body: canonical, and carried through a real object unchanged. */
static void
check_body(const uint8_t *data, size_t len, struct cf_snapshot *s)
{
	struct cf_snapshot *o = NULL;
	uint8_t *p = NULL;
	uint8_t *obj = NULL;
	size_t n = 0;
	size_t objlen = 0;
	int rc;

	if (cf_snapshot_encode_plain(s, &p, &n) != 0 || n != len || memcmp(p, data, len) != 0)
		abort();
	cf_free_wipe(p, n);
	s->head.seq = 1;
	rc = cf_snapshot_seal(s, repo_id, cf_boxkey_pk(dk), sk, &obj, &objlen);
	if (rc == CF_ETOOBIG)
		return;
	if (rc != 0 || cf_snapshot_verify(obj, objlen, repo_id, cf_signkey_pk(sk)) != 0 ||
	    cf_snapshot_open(obj, objlen, repo_id, dk, &o) != 0 || !same_body(s, o) ||
	    memcmp(o->id, s->id, sizeof(o->id)) != 0)
		abort();
	cf_snapshot_free(o);
	cf_free(obj);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static bool initialised;
	struct cf_snapshot_head h;
	struct cf_snapshot *s = NULL;
	int rc;

	if (!initialised) {
		init_keys();
		initialised = true;
	}
	rc = cf_snapshot_read_head(data, len, &h);
	if (cf_snapshot_verify(data, len, repo_id, cf_signkey_pk(sk)) == 0 && rc != 0)
		abort();
	if (cf_snapshot_open(data, len, repo_id, dk, &s) == 0) {
		if (rc != 0 || !same_head(&s->head, &h))
			abort();
		cf_snapshot_free(s);
		s = NULL;
	}
	if (cf_snapshot_parse_plain(data, len, &s) == 0) {
		check_body(data, len, s);
		cf_snapshot_free(s);
	}
	return 0;
}
