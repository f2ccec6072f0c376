/*
 * verified.h - the rolling data check (docs/format.md 16.5): which packs to read next, and
 * COFFER_CACHE/<fingerprint>/verified, the text file that remembers when each pack was last
 * read and found intact.
 */
#ifndef CF_VERIFIED_H
#define CF_VERIFIED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo.h"

/* The largest P of --read-data-subset, in millionths of a percent (100%). */
#define CF_SUBSET_MAX_MICRO 100000000u

/* One pack of the store, with what the state file says about it. */
struct cf_vpack {
	uint8_t id[CF_ID_BYTES];
	char name[2 * CF_ID_BYTES + 1];
	uint64_t size;
	uint64_t when; /* unix time of the last clean verification, if @known */
	uint64_t tie;  /* random: orders packs verified at the same second */
	bool known;
};

/* The packs of a repository, in the order they are to be read. */
struct cf_verified {
	struct cf_vpack *v;
	size_t n;
	size_t cap;
};

/*
 * cf_subset_parse() - parse a --read-data-subset value: a decimal number 0 < P <= 100,
 * optionally followed by '%' ("5", "5%", "2.5%"). Digits past the sixth decimal round up.
 * @micro: P in millionths of a percent (1 .. CF_SUBSET_MAX_MICRO).
 * Returns 0 or CF_EINVAL with a message naming @s. The only parser of that value.
 */
int cf_subset_parse(const char *s, uint32_t *micro) CF_MUST_CHECK;

/* cf_subset_count() - ceil(@micro / 10^8 * @n), at least 1 when @n > 0; exact. */
size_t cf_subset_count(uint32_t micro, size_t n);

/*
 * cf_verified_list() - fill @vs (zeroed by the caller) with every pack of @r's store, none
 * known yet. Returns 0, CF_ENOMEM or a store error. Release with cf_verified_release().
 */
int cf_verified_list(struct cf_repo *r, struct cf_verified *vs) CF_MUST_CHECK;

/*
 * cf_verified_load() - read the state file and note, for each listed pack, when it was last
 * verified; then order @vs least recently verified first (never verified first, ties in
 * random order). A missing, unreadable or malformed file or line is ignored: it is a cache.
 */
void cf_verified_load(struct cf_repo *r, struct cf_verified *vs);

/*
 * cf_verified_save() - write the state file atomically: one line per known pack of @vs
 * (packs no longer in the store are thereby dropped). Returns 0 or an error with a message.
 */
int cf_verified_save(struct cf_repo *r, const struct cf_verified *vs) CF_MUST_CHECK;

/* cf_verified_release() - free what @vs holds; it can be reused after cf_verified_list(). */
void cf_verified_release(struct cf_verified *vs);

#endif
