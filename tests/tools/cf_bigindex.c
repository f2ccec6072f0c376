/*
 * cf_bigindex.c - a test tool that makes a repository's chunk index big without storing the
 * data (tests/system/test_big_index.sh): it writes index objects holding N synthetic entries,
 * random blob ids in made-up packs, sealed with K_index of the device in COFFER_HOME. Each
 * made-up pack is stored as a small placeholder object named by its hash, so a plain check
 * finds every pack the index names; the entries point past a placeholder's end, so only a
 * lookup ever uses them (their ids are random: no real chunk matches one). Test-only: built
 * with the library's internal headers, never installed.
 *
 *   cf_bigindex REPO N [PER_OBJECT]     N entries, PER_OBJECT (default 65536) per index
 *                                       object, 1024 per pack; prints the objects written
 *
 * Exit status: 0 done, 1 error, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "crypto/crypto.h"
#include "index/index.h"
#include "repo/repo.h"

#define PER_PACK    1024u
#define STORED_LEN  (1000u + CF_BLOB_OVERHEAD)
#define RAW_LEN     (1024u * 1024)
#define DEF_PER_OBJ 65536u

static int
fail(int rc, const char *what)
{
	const char *m = cf_err_last();

	fprintf(stderr, "cf_bigindex: %s: %s%s%s\n", what, cf_strerror(rc),
	        m[0] != '\0' ? ": " : "", m);
	return 1;
}

/* Store a placeholder for made-up pack number @seq; its id is the hash of its bytes. */
static int
placeholder(struct cf_repo *r, uint64_t seq, const uint8_t salt[static 16],
            uint8_t id[static CF_ID_BYTES])
{
	char name[2 * CF_ID_BYTES + 1];
	char text[96];
	int n = snprintf(text, sizeof(text), "cf_bigindex placeholder pack %llu ",
	                 (unsigned long long)seq);

	memcpy(text + n, salt, 16); /* another run, another pack */
	cf_hash(id, text, (size_t)n + 16);
	cf_id_name(name, id);
	return cf_store_put(r->store, CF_OBJ_PACK, name, (const uint8_t *)text, (size_t)n + 16);
}

/* One pack of @count synthetic entries. */
static int
fill_pack(struct cf_index_pack *p, size_t count)
{
	p->count = count;
	if ((p->entries = cf_calloc(count, sizeof(*p->entries))) == NULL)
		return CF_ENOMEM;
	for (size_t k = 0; k < count; k++) {
		struct cf_pack_entry *e = &p->entries[k];

		cf_random(e->id, CF_ID_BYTES);
		e->type = CF_BLOB_DATA;
		e->comp = 1;
		e->offset = CF_PACK_HEAD_BYTES + (uint32_t)k * STORED_LEN;
		e->stored_len = STORED_LEN;
		e->raw_len = RAW_LEN;
	}
	p->len = CF_PACK_HEAD_BYTES + (uint64_t)count * STORED_LEN + (1u << 20);
	return 0;
}

/* One index object of @n entries. */
static int
write_object(struct cf_repo *r, size_t n, uint64_t *seq, const uint8_t salt[static 16])
{
	size_t np = (n + PER_PACK - 1) / PER_PACK;
	struct cf_index_pack *packs = cf_calloc(np, sizeof(*packs));
	int rc = packs == NULL ? CF_ENOMEM : 0;

	for (size_t i = 0; i < np && rc == 0; i++) {
		size_t count = i + 1 < np ? PER_PACK : n - i * PER_PACK;

		if ((rc = placeholder(r, (*seq)++, salt, packs[i].id)) == 0)
			rc = fill_pack(&packs[i], count);
	}
	if (rc == 0)
		rc = cf_repo_put_index(r, packs, np, NULL);
	cf_index_packs_free(packs, np);
	return rc;
}

int
main(int argc, char **argv)
{
	struct cf_opts *o = NULL;
	struct cf_repo *r = NULL;
	uint64_t total = 0;
	uint64_t per = DEF_PER_OBJ;
	uint64_t seq = 0;
	uint64_t nobj = 0;
	uint8_t salt[16];
	int rc;

	if (cf_init() != 0)
		return 1;
	if (argc < 3 || argc > 4 || cf_parse_u64(argv[2], 1, UINT64_C(1) << 34, &total) != 0 ||
	    (argc == 4 && cf_parse_u64(argv[3], 1, CF_INDEX_MAX_ENTRIES, &per) != 0)) {
		fprintf(stderr, "usage: cf_bigindex REPO N [PER_OBJECT]\n");
		return 2;
	}
	cf_random(salt, sizeof(salt));
	if ((rc = cf_opts_new(&o)) != 0 || (rc = cf_opts_add(o, "repo", argv[1])) != 0 ||
	    (rc = cf_repo_open(o, &r)) != 0)
		goto out;
	for (uint64_t done = 0; done < total && rc == 0; nobj++) {
		size_t n = (size_t)(total - done < per ? total - done : per);

		rc = write_object(r, n, &seq, salt);
		done += n;
	}
	if (rc == 0)
		printf("%llu\n", (unsigned long long)nobj);
out:
	cf_repo_free(r);
	cf_opts_free(o);
	return rc != 0 ? fail(rc, "cannot write the index") : 0;
}
