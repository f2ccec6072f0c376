/*
 * shares_cmd.c - the commands of include/coffer/recovery.h on top of shares.c: split the
 * recovery key of a repository (checked against its device chain), wrap shares to contacts,
 * load share files (unwrapping with this device's key), combine them. Every message names
 * the file it is about; the program prints it.
 */
#include <stdio.h>
#include <string.h>

#include "coffer/recovery.h"

#include "../base/base.h"
#include "../chain/chain.h"
#include "../device/device.h"
#include "../repo/repo.h"
#include "../store/store.h"
#include "recovery.h"
#include "shares.h"

static_assert(CF_SHARES_CODE_BYTES == CF_RECOVERY_TEXT_BYTES, "public code size");
static_assert(CF_SHARES_MAX == CF_SHARE_MAX, "public share limit");

struct share_meta {
	char *path;       /* the file it was read from; NULL for a split */
	bool was_wrapped; /* read wrapped, unwrapped with this device's key */
};

struct cf_shares {
	struct cf_share *v; /* @cap slots, wiped when freed */
	struct share_meta *meta;
	size_t n;
	size_t cap;
	unsigned count;        /* N of a split; 0 for loaded shares */
	struct cf_device *dev; /* this device, loaded for the first wrapped share */
};

static int
shares_alloc(size_t cap, struct cf_shares **out)
{
	struct cf_shares *s = cf_calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return CF_ENOMEM;
	s->cap = cap;
	if ((s->meta = cf_calloc(cap, sizeof(*s->meta))) == NULL) {
		cf_free(s);
		return CF_ENOMEM;
	}
	*out = s;
	return 0;
}

void
cf_shares_free(struct cf_shares *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		cf_free(s->meta[i].path);
	cf_share_array_free(s->v, s->cap);
	cf_free(s->meta);
	cf_device_free(s->dev);
	cf_free(s);
}

int
cf_shares_new(struct cf_shares **out)
{
	struct cf_shares *s = NULL;
	int rc;

	if ((rc = shares_alloc(CF_SHARE_MAX, &s)) != 0)
		return rc;
	if ((s->v = cf_calloc(CF_SHARE_MAX, sizeof(*s->v))) == NULL) {
		cf_shares_free(s);
		return CF_ENOMEM;
	}
	*out = s;
	return 0;
}

/* Read a recovery key file, the way cf_repo_open() does. */
static int
load_recovery_key(const char *path, struct cf_key **out)
{
	uint8_t *file = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if ((rc = cf_read_file(path, CF_RECOVERY_FILE_MAX, &file, &len)) != 0)
		return rc;
	if (cf_recovery_parse_file(file, len, out) != 0)
		rc = cf_err_set(CF_EINVAL, "'%s' does not hold a valid recovery key", path);
	cf_free_wipe(file, len);
	return rc;
}

/*
 * Open the repository of @o and check that @rk is its recovery key (and, when @want_fp is
 * not NULL, that it is the repository with that fingerprint). Its fingerprint goes to @fp.
 */
static int
check_repository(const struct cf_opts *o, const struct cf_key *rk, const uint8_t *want_fp,
                 uint8_t fp[static CF_HASH_BYTES])
{
	const char *loc = cf_opts_get(o, "repo");
	struct cf_store *st = NULL;
	struct cf_chain_state *cs = NULL;
	struct cf_device *rec = NULL;
	char hex[2 * CF_HASH_BYTES + 1];
	int rc;

	if (loc == NULL || *loc == '\0')
		return cf_err_set(CF_EUSAGE, "no repository given (use -r or COFFER_REPO)");
	if ((rc = cf_store_open_local(loc, false, &st)) != 0)
		goto out;
	if ((rc = cf_repo_load_chain(st, &cs)) != 0) {
		if (rc == CF_EAUTH || rc == CF_EFORMAT)
			rc = cf_err_wrap(CF_EINTEGRITY, "device chain of '%s' does not verify",
			                 loc);
		goto out;
	}
	cf_hex(hex, cs->fingerprint, CF_HASH_BYTES);
	if (want_fp != NULL && !cf_ct_eq(want_fp, cs->fingerprint, CF_HASH_BYTES)) {
		rc = cf_err_set(CF_EINVAL, "the shares are not of repository '%s' (%.16s)", loc,
		                hex);
		goto out;
	}
	if ((rc = cf_recovery_identity(rk, &rec)) != 0)
		goto out;
	if (!cf_ct_eq(rec->id, cs->recovery.id, CF_ID_BYTES)) {
		rc = cf_err_set(CF_ENOKEY, "this recovery key does not belong to repository '%s'",
		                loc);
		goto out;
	}
	memcpy(fp, cs->fingerprint, CF_HASH_BYTES);
out:
	cf_device_free(rec);
	cf_chain_state_free(cs);
	cf_store_free(st);
	return rc;
}

/* A contact's public key file: 64 hex digits on the one line that is not a '#' comment. */
static int
load_public_key(const char *path, uint8_t pk[static CF_BOX_PK_BYTES])
{
	uint8_t *file = NULL;
	size_t len = 0;
	size_t start = 0;
	size_t end = 0;
	int rc;

	if ((rc = cf_read_file(path, CF_SHARE_FILE_MAX, &file, &len)) != 0)
		return rc;
	if (cf_share_find_line(file, len, &start, &end) != 0 ||
	    end - start != 2 * CF_BOX_PK_BYTES ||
	    cf_unhex(pk, CF_BOX_PK_BYTES, (const char *)file + start, end - start) != 0)
		rc = cf_err_set(
		        CF_EINVAL,
		        "'%s' does not hold an X25519 public key (64 hex digits on one line)",
		        path);
	cf_free(file);
	return rc;
}

/* The public keys of the "to" options; @n of them, or none (*@out NULL). */
static int
load_public_keys(const struct cf_opts *o, unsigned n, uint8_t (**out)[CF_BOX_PK_BYTES])
{
	uint8_t(*pks)[CF_BOX_PK_BYTES] = NULL;
	size_t nto = 0;
	int rc = 0;

	*out = NULL;
	while (cf_opts_nth(o, "to", nto) != NULL)
		nto++;
	if (nto == 0)
		return 0;
	if (nto != n)
		return cf_err_set(CF_EINVAL,
		                  "--to given %zu times: give it once per share (%u) or not at all",
		                  nto, n);
	if ((pks = cf_calloc(n, sizeof(*pks))) == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; i < nto && rc == 0; i++)
		rc = load_public_key(cf_opts_nth(o, "to", i), pks[i]);
	if (rc != 0) {
		cf_free(pks);
		return rc;
	}
	*out = pks;
	return 0;
}

/* Wrap share i to the i-th public key. */
static int
wrap_all(struct cf_shares *s, const struct cf_opts *o, uint8_t (*pks)[CF_BOX_PK_BYTES])
{
	for (size_t i = 0; i < s->n; i++) {
		if (cf_share_wrap(&s->v[i], pks[i]) != 0)
			return cf_err_set(CF_EINVAL, "'%s' is not a usable public key",
			                  cf_opts_nth(o, "to", i));
	}
	return 0;
}

int
cf_shares_split(const struct cf_opts *o, unsigned threshold, unsigned count, struct cf_shares **out)
{
	const char *rkf = cf_opts_get(o, "recovery-key-file");
	uint8_t(*pks)[CF_BOX_PK_BYTES] = NULL;
	struct cf_shares *s = NULL;
	struct cf_key *rk = NULL;
	uint8_t fp[CF_HASH_BYTES];
	int rc;

	*out = NULL;
	if (threshold < CF_SHARE_K_MIN || threshold > count || count > CF_SHARE_MAX)
		return cf_err_set(CF_EINVAL, "want 2 <= threshold <= shares <= 255, not %u of %u",
		                  threshold, count);
	if (rkf == NULL)
		return cf_err_set(CF_EINVAL, "no recovery key given (--recovery-key-file FILE)");
	if ((rc = load_public_keys(o, count, &pks)) != 0 ||
	    (rc = load_recovery_key(rkf, &rk)) != 0 ||
	    (rc = check_repository(o, rk, NULL, fp)) != 0 || (rc = shares_alloc(count, &s)) != 0 ||
	    (rc = cf_share_split(rk, fp, threshold, count, &s->v)) != 0)
		goto out;
	s->n = count;
	s->count = count;
	if (pks != NULL && (rc = wrap_all(s, o, pks)) != 0)
		goto out;
	*out = s;
	s = NULL;
out:
	cf_shares_free(s);
	cf_key_free(rk);
	cf_free(pks);
	return rc;
}

/* Unwrap a share read wrapped, with this device's key (loaded once). */
static int
unwrap_mine(struct cf_shares *s, const struct cf_opts *o, const char *path, struct cf_share *sh)
{
	char *home = NULL;
	char hex[2 * CF_BOX_PK_BYTES + 1];
	int rc = 0;

	if (s->dev == NULL) {
		if ((rc = cf_home_dir(o, &home)) == 0)
			rc = cf_home_load_device(home, o, false, NULL, &s->dev);
		cf_free(home);
		if (rc != 0)
			return cf_err_wrap(
			        rc, "share '%s' is wrapped, and this device's key is needed", path);
	}
	rc = cf_share_unwrap(sh, s->dev->box);
	if (rc == CF_ENOKEY) {
		cf_hex(hex, sh->recipient, CF_BOX_PK_BYTES);
		return cf_err_set(rc,
		                  "share '%s' is wrapped to another key (%.16s...): its holder can "
		                  "unwrap it with 'coffer recovery unwrap'",
		                  path, hex);
	}
	if (rc != 0)
		return cf_err_set(CF_EAUTH,
		                  "share '%s' is wrapped to this device but does not open: it is "
		                  "damaged or was altered",
		                  path);
	return 0;
}

/* @sh (from @path) must fit every share already in @s. */
static int
check_fits(const struct cf_shares *s, const char *path, const struct cf_share *sh)
{
	for (size_t i = 0; i < s->n; i++) {
		const char *other = s->meta[i].path;

		switch (cf_share_clash(&s->v[i], sh)) {
		case CF_SHARE_FITS:
			continue;
		case CF_SHARE_OTHER_REPO:
			return cf_err_set(CF_EINVAL,
			                  "share '%s' is of another repository than share '%s'",
			                  path, other);
		case CF_SHARE_OTHER_SPLIT:
			return cf_err_set(
			        CF_EINVAL,
			        "share '%s' is from another split than share '%s' (shares "
			        "of different splits do not combine)",
			        path, other);
		case CF_SHARE_SAME_INDEX:
			return cf_err_set(CF_EINVAL,
			                  "share '%s' has the same index (%u) as share '%s' but "
			                  "different bytes: one of them was altered",
			                  path, (unsigned)sh->x, other);
		case CF_SHARE_DUPLICATE:
			return cf_err_set(CF_EINVAL,
			                  "share '%s' is the same share as '%s' (index %u)", path,
			                  other, (unsigned)sh->x);
		}
		return CF_EINTERNAL;
	}
	return 0;
}

/* A parse error of @path in words. */
static int
parse_error(int rc, const char *path)
{
	switch (rc) {
	case CF_EINTEGRITY:
		return cf_err_set(
		        rc, "share '%s' is mistyped or damaged: its checksum does not match", path);
	case CF_EVERSION:
		return cf_err_set(rc, "share '%s' has a format version this coffer does not read",
		                  path);
	case CF_ETOOBIG:
		return cf_err_set(rc, "share '%s' is too large to be a share file", path);
	default:
		return cf_err_set(CF_EFORMAT,
		                  "'%s' is not a coffer recovery share (one line 'coffer-share-1 "
		                  "...', '#' comments)",
		                  path);
	}
}

int
cf_shares_load(struct cf_shares *s, const struct cf_opts *o, const char *path)
{
	struct cf_share sh;
	uint8_t *file = NULL;
	size_t len = 0;
	char *copy = NULL;
	bool was_wrapped = false;
	int rc;

	memset(&sh, 0, sizeof(sh));
	if (s->count != 0)
		cf_misuse("cf_shares_load: the set was made by cf_shares_split");
	if (s->n == s->cap)
		return cf_err_set(CF_EINVAL, "share '%s': more shares than there can be indexes",
		                  path);
	if ((rc = cf_read_file(path, CF_SHARE_FILE_MAX, &file, &len)) != 0)
		goto out;
	if ((rc = cf_share_parse_file(file, len, &sh)) != 0) {
		rc = parse_error(rc, path);
		goto out;
	}
	was_wrapped = sh.wrapped;
	if ((sh.wrapped && (rc = unwrap_mine(s, o, path, &sh)) != 0) ||
	    (rc = check_fits(s, path, &sh)) != 0)
		goto out;
	if ((copy = cf_strdup(path)) == NULL) {
		rc = CF_ENOMEM;
		goto out;
	}
	s->v[s->n] = sh;
	s->meta[s->n].path = copy;
	s->meta[s->n].was_wrapped = was_wrapped;
	s->n++;
out:
	cf_wipe(&sh, sizeof(sh));
	cf_free_wipe(file, len);
	return rc;
}

/* "'a', 'b', 'c'" into @out, cut short with "..." when it does not fit. */
static void
path_list(const struct cf_shares *s, char *out, size_t cap)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < s->n; i++) {
		const char *p = s->meta[i].path != NULL ? s->meta[i].path : "?";
		int w = snprintf(out + o, cap - o, "%s'%s'", i > 0 ? ", " : "", p);

		if (w < 0 || (size_t)w >= cap - o) {
			(void)snprintf(out + (o < cap - 4 ? o : cap - 4), 4, "...");
			return;
		}
		o += (size_t)w;
	}
}

/* Why the shares of @s did not combine, in words. */
static int
combine_error(const struct cf_shares *s, int rc, size_t odd)
{
	char list[512];

	path_list(s, list, sizeof(list));
	if (rc == CF_EINVAL && s->n < s->v[0].k)
		return cf_err_set(CF_EINVAL, "%s: %zu share%s given, %u needed", list, s->n,
		                  s->n == 1 ? "" : "s", (unsigned)s->v[0].k);
	if (rc == CF_EINTEGRITY && odd != SIZE_MAX)
		return cf_err_set(rc,
		                  "share '%s' does not fit the others: it was altered (checksum "
		                  "included); combine without it",
		                  s->meta[odd].path);
	if (rc == CF_EINTEGRITY)
		return cf_err_set(
		        rc,
		        "%s: these shares do not rebuild the key they were split from: one "
		        "was altered (checksum included) or is not of this split",
		        list);
	return rc == CF_ENOMEM ? rc : cf_err_set(CF_EINTERNAL, "%s: cannot combine", list);
}

int
cf_shares_combine(const struct cf_shares *s, const struct cf_opts *o, char *code, size_t cap)
{
	struct cf_key *rk = NULL;
	uint8_t fp[CF_HASH_BYTES];
	size_t odd = SIZE_MAX;
	int rc;

	if (cap < CF_SHARES_CODE_BYTES)
		cf_misuse("cf_shares_combine: code buffer too small");
	code[0] = '\0';
	if (s->n == 0)
		return cf_err_set(CF_EINVAL, "no shares given");
	if ((rc = cf_share_combine(s->v, s->n, &rk, &odd)) != 0)
		return combine_error(s, rc, odd);
	if (cf_opts_get(o, "repo") != NULL &&
	    (rc = check_repository(o, rk, s->v[0].fingerprint, fp)) != 0)
		goto out;
	cf_recovery_encode(rk, code);
out:
	cf_key_free(rk);
	return rc;
}

size_t
cf_shares_count(const struct cf_shares *s)
{
	return s->n;
}

unsigned
cf_shares_threshold(const struct cf_shares *s)
{
	return s->n > 0 ? s->v[0].k : 0;
}

unsigned
cf_shares_index(const struct cf_shares *s, size_t i)
{
	CF_ASSERT(i < s->n);
	return s->v[i].x;
}

bool
cf_shares_wrapped(const struct cf_shares *s, size_t i)
{
	CF_ASSERT(i < s->n);
	return s->v[i].wrapped;
}

bool
cf_shares_was_wrapped(const struct cf_shares *s, size_t i)
{
	CF_ASSERT(i < s->n);
	return s->meta[i].was_wrapped;
}

void
cf_shares_fingerprint(const struct cf_shares *s, char *out)
{
	out[0] = '\0';
	if (s->n > 0)
		cf_hex(out, s->v[0].fingerprint, CF_HASH_BYTES);
}

/* The comment lines above a share line: what it is, and what to do with it. */
static int
share_comments(const struct cf_shares *s, const struct cf_share *sh, char *out, size_t cap)
{
	char fp[2 * CF_HASH_BYTES + 1];
	char of[24] = "";
	char pk[2 * CF_BOX_PK_BYTES + 1];
	unsigned more = sh->k - 1u;
	int n;
	int m;

	cf_hex(fp, sh->fingerprint, CF_HASH_BYTES);
	if (s->count != 0)
		(void)snprintf(of, sizeof(of), " of %u", s->count);
	if (sh->wrapped)
		cf_hex(pk, sh->recipient, CF_BOX_PK_BYTES);
	n = snprintf(out, cap,
	             "# Coffer recovery share %u%s of repository %s\n"
	             "# Any %u shares of this split rebuild its recovery key: "
	             "coffer recovery combine SHARE...\n",
	             (unsigned)sh->x, of, fp, (unsigned)sh->k);
	if (n < 0 || (size_t)n >= cap)
		return CF_ETOOBIG;
	if (sh->wrapped)
		m = snprintf(out + n, cap - (size_t)n,
		             "# Wrapped to the X25519 key %s: only its holder can open it\n"
		             "# ('coffer recovery unwrap' on that device).\n",
		             pk);
	else
		m = snprintf(out + n, cap - (size_t)n,
		             "# Keep it private and offline: with %u other share%s it can read "
		             "every backup.\n",
		             more, more == 1 ? "" : "s");
	return m < 0 ? m : n + m;
}

int
cf_shares_text(const struct cf_shares *s, size_t i, char *out, size_t cap)
{
	char line[CF_SHARE_LINE_MAX + 1];
	int n;
	int rc;

	CF_ASSERT(i < s->n);
	if (cap < CF_SHARES_TEXT_MAX)
		return CF_ETOOBIG;
	if ((rc = cf_share_encode(&s->v[i], line, sizeof(line))) != 0)
		goto out;
	n = share_comments(s, &s->v[i], out, cap);
	CF_ASSERT(n > 0 && (size_t)n < cap);
	n = snprintf(out + n, cap - (size_t)n, "%s\n", line) + n;
	CF_ASSERT(n > 0 && (size_t)n < cap);
out:
	cf_wipe(line, sizeof(line));
	return rc;
}

void
cf_shares_wipe(void *p, size_t len)
{
	cf_wipe(p, len);
}
