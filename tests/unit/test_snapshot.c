/*
 * test_snapshot.c - snapshot objects (docs/format.md section 8): seal/open round trips, the
 * head, body and envelope checks, signature checks, known-answer vectors
 * (tests/vectors/snapshot.txt) with fixed keys, and allocation failures.
 *
 * CF_GEN_VECTORS=1 prints a fresh snapshot.txt on stdout instead of running the tests.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "crypto/crypto.h"
#include "harness.h"
#include "snapshot/snapshot.h"

#define REPO_ID_BYTES 32
#define BODY_OFF      188

/* ---- fixed keys ---- */

struct keys {
	uint8_t repo_id[REPO_ID_BYTES];
	struct cf_boxkey *dk;
	struct cf_signkey *sk;
	struct cf_signkey *other;
	uint8_t device_id[CF_ID_BYTES];
};

static void
fill(uint8_t *p, size_t n, uint8_t start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(start + i);
}

static void
keys_init(struct keys *k)
{
	uint8_t secret[32];
	struct cf_hash_ctx *h = NULL;
	struct cf_boxkey *dev_box = NULL;

	memset(k, 0, sizeof(*k));
	fill(k->repo_id, sizeof(k->repo_id), 0x00);
	fill(secret, sizeof(secret), 0x40);
	CHECK(cf_boxkey_from_secret(secret, &k->dk) == 0);
	fill(secret, sizeof(secret), 0x80);
	CHECK(cf_signkey_from_seed(secret, &k->sk) == 0);
	fill(secret, sizeof(secret), 0xc0);
	CHECK(cf_signkey_from_seed(secret, &k->other) == 0);
	fill(secret, sizeof(secret), 0x20);
	CHECK(cf_boxkey_from_secret(secret, &dev_box) == 0);
	/* device_id = H("coffer.v1.device-id" || sign_pk || box_pk), docs/format.md 1.2 */
	CHECK(cf_hash_ctx_new(&h) == 0);
	cf_hash_ctx_update(h, "coffer.v1.device-id", strlen("coffer.v1.device-id"));
	cf_hash_ctx_update(h, cf_signkey_pk(k->sk), CF_SIGN_PK_BYTES);
	cf_hash_ctx_update(h, cf_boxkey_pk(dev_box), CF_BOX_PK_BYTES);
	cf_hash_ctx_final(h, k->device_id);
	cf_hash_ctx_free(h);
	cf_boxkey_free(dev_box);
}

static void
keys_release(struct keys *k)
{
	cf_boxkey_free(k->dk);
	cf_signkey_free(k->sk);
	cf_signkey_free(k->other);
}

/* ---- sample snapshots ---- */

static void
add_path(struct cf_snapshot *s, const char *p)
{
	CHECK(cf_snapshot_add_path(s, p) == 0);
}

static void
add_tag(struct cf_snapshot *s, const char *t)
{
	CHECK(cf_snapshot_add_tag(s, t) == 0);
}

/* The first snapshot of a device: no predecessor, empty host, no tags. */
static struct cf_snapshot *
snap_first(const struct keys *k)
{
	struct cf_snapshot *s = NULL;

	CHECK(cf_snapshot_new(&s) == 0);
	s->head.epoch = 0;
	memcpy(s->head.device, k->device_id, CF_ID_BYTES);
	s->head.seq = 1;
	s->time_s = 1700000000;
	s->time_ns = 0;
	s->username = cf_strdup("root");
	add_path(s, "/");
	fill(s->tree, sizeof(s->tree), 0x10);
	s->stats.dirs = 1;
	s->stats.duration_ns = 12345;
	return s;
}

/* A later one: previous hash, odd bytes in strings, tags, a parent, large numbers. */
static struct cf_snapshot *
snap_later(const struct keys *k)
{
	struct cf_snapshot *s = NULL;

	CHECK(cf_snapshot_new(&s) == 0);
	s->head.epoch = 3;
	memcpy(s->head.device, k->device_id, CF_ID_BYTES);
	s->head.seq = 7;
	fill(s->head.prev, sizeof(s->head.prev), 0xa0);
	s->time_s = -1;
	s->time_ns = 999999999;
	s->host = cf_strdup("host\nname\xff");
	s->username = cf_strdup("");
	add_path(s, "/home/u/Documents");
	add_path(s, "/srv/\xe2\x98\x83 snow\x01");
	add_tag(s, "daily");
	add_tag(s, "tag with spaces\n");
	fill(s->tree, sizeof(s->tree), 0x30);
	fill(s->parent, sizeof(s->parent), 0x50);
	s->stats.files_new = 1;
	s->stats.files_changed = 2;
	s->stats.files_unmodified = 3;
	s->stats.dirs = 4;
	s->stats.data_added = 5;
	s->stats.total_bytes = UINT64_MAX;
	s->stats.duration_ns = 1ull << 40;
	return s;
}

/* ---- text dumps ---- */

struct sb {
	char *p;
	size_t len;
	size_t cap;
};

__attribute__((format(printf, 2, 3))) static void
sb_printf(struct sb *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(s->p == NULL ? NULL : s->p + s->len, s->cap - s->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			abort();
		if (s->len + (size_t)n < s->cap)
			break;
		s->cap = (s->cap + (size_t)n + 1) * 2;
		s->p = realloc(s->p, s->cap);
		if (s->p == NULL)
			abort();
	}
	s->len += (size_t)n;
}

static void
sb_hex(struct sb *s, const void *v, size_t n)
{
	const uint8_t *p = v;

	for (size_t i = 0; i < n; i++)
		sb_printf(s, "%02x", p[i]);
	if (n == 0)
		sb_printf(s, "-");
}

static char *
dump_head(const struct cf_snapshot_head *h)
{
	struct sb s = {NULL, 0, 0};

	sb_printf(&s, "epoch=%u device=", h->epoch);
	sb_hex(&s, h->device, sizeof(h->device));
	sb_printf(&s, " seq=%llu prev=", (unsigned long long)h->seq);
	sb_hex(&s, h->prev, sizeof(h->prev));
	return s.p;
}

static void
sb_list(struct sb *s, const char *key, char **v, size_t n)
{
	sb_printf(s, " %s=%zu", key, n);
	for (size_t i = 0; i < n; i++) {
		sb_printf(s, i == 0 ? ":" : ",");
		sb_hex(s, v[i], strlen(v[i]));
	}
}

static char *
dump_body(const struct cf_snapshot *x)
{
	struct sb s = {NULL, 0, 0};
	const struct cf_snapshot_stats *st = &x->stats;

	sb_printf(&s, "time=%lld.%09u host=", (long long)x->time_s, x->time_ns);
	sb_hex(&s, x->host, x->host == NULL ? 0 : strlen(x->host));
	sb_printf(&s, " username=");
	sb_hex(&s, x->username, x->username == NULL ? 0 : strlen(x->username));
	sb_list(&s, "paths", x->paths, x->npaths);
	sb_list(&s, "tags", x->tags, x->ntags);
	sb_printf(&s, " tree=");
	sb_hex(&s, x->tree, sizeof(x->tree));
	sb_printf(&s, " parent=");
	sb_hex(&s, x->parent, sizeof(x->parent));
	sb_printf(&s, " stats=%llu,%llu,%llu,%llu,%llu,%llu,%llu",
	          (unsigned long long)st->files_new, (unsigned long long)st->files_changed,
	          (unsigned long long)st->files_unmodified, (unsigned long long)st->dirs,
	          (unsigned long long)st->data_added, (unsigned long long)st->total_bytes,
	          (unsigned long long)st->duration_ns);
	return s.p;
}

static bool
snap_eq(const struct cf_snapshot *a, const struct cf_snapshot *b)
{
	char *x = dump_body(a);
	char *y = dump_body(b);
	char *hx = dump_head(&a->head);
	char *hy = dump_head(&b->head);
	bool eq = strcmp(x, y) == 0 && strcmp(hx, hy) == 0;

	free(x);
	free(y);
	free(hx);
	free(hy);
	return eq;
}

/* ---- error names ---- */

static const struct {
	const char *name;
	int rc;
} errnames[] = {
        {"OK", 0},
        {"EFORMAT", CF_EFORMAT},
        {"ETRUNC", CF_ETRUNC},
        {"ETOOBIG", CF_ETOOBIG},
        {"EVERSION", CF_EVERSION},
        {"EAUTH", CF_EAUTH},
        {"ENOMEM", CF_ENOMEM},
};

static const char *
err_name(int rc)
{
	for (size_t i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (errnames[i].rc == rc)
			return errnames[i].name;
	return "?";
}

static int
err_code(const char *name)
{
	for (size_t i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (name != NULL && strcmp(errnames[i].name, name) == 0)
			return errnames[i].rc;
	return 1;
}

/* ---- seal helper ---- */

static uint8_t *
seal(struct cf_snapshot *s, const struct keys *k, const struct cf_signkey *sk, size_t *len)
{
	uint8_t *obj = NULL;

	CHECK(cf_snapshot_seal(s, k->repo_id, cf_boxkey_pk(k->dk), sk, &obj, len) == 0);
	return obj;
}

/* The three answers for an object: read_head, verify (device key) and open. */
struct answers {
	int head;
	int verify;
	int open;
};

static struct answers
ask(const uint8_t *obj, size_t len, const uint8_t repo_id[static 32], const struct keys *k,
    struct cf_snapshot **opened)
{
	struct answers a;
	struct cf_snapshot_head h;
	struct cf_snapshot *s = NULL;

	a.head = cf_snapshot_read_head(obj, len, &h);
	a.verify = cf_snapshot_verify(obj, len, repo_id, cf_signkey_pk(k->sk));
	a.open = cf_snapshot_open(obj, len, repo_id, k->dk, &s);
	CHECK((a.open == 0) == (s != NULL));
	if (opened != NULL)
		*opened = s;
	else
		cf_snapshot_free(s);
	return a;
}

/* ---- vectors ---- */

static void
gen_record(const char *name, const struct keys *k, const uint8_t *repo_id, const uint8_t *obj,
           size_t len)
{
	struct cf_snapshot *s = NULL;
	struct answers a = ask(obj, len, repo_id, k, &s);
	uint8_t secret[32];
	uint8_t id[CF_HASH_BYTES];

	printf("name = %s\n", name);
	th_print_hex("repo_id", repo_id, REPO_ID_BYTES);
	fill(secret, sizeof(secret), 0x40);
	th_print_hex("dk_sk", secret, sizeof(secret));
	th_print_hex("sign_seed", cf_signkey_seed(k->sk), CF_SIGN_SEED_BYTES);
	th_print_hex("hex", obj, len);
	printf("head_rc = %s\nverify_rc = %s\nopen_rc = %s\n", err_name(a.head), err_name(a.verify),
	       err_name(a.open));
	if (s != NULL) {
		char *h = dump_head(&s->head);
		char *b = dump_body(s);

		cf_hash(id, obj, len);
		th_print_hex("id", id, sizeof(id));
		printf("head = %s\nbody = %s\n", h, b);
		free(h);
		free(b);
	}
	printf("\n");
	cf_snapshot_free(s);
}

static void
gen_siblings(const struct keys *k, const char *base, const uint8_t *obj, size_t len)
{
	uint8_t *q = cf_malloc(len + 1);
	uint8_t other_repo[REPO_ID_BYTES];
	char name[64];

	CHECK(q != NULL);
	memcpy(q, obj, len);
#define SIB(what, l)                                                                               \
	do {                                                                                       \
		snprintf(name, sizeof(name), "%s-%s", base, what);                                 \
		gen_record(name, k, k->repo_id, q, l);                                             \
	} while (0)
	q[BODY_OFF + 30] ^= 0x04;
	SIB("bitflip-body", len);
	q[BODY_OFF + 30] ^= 0x04;
	q[8] ^= 0x80;
	SIB("bitflip-epoch", len);
	q[8] ^= 0x80;
	q[100] ^= 0x01;
	SIB("bitflip-wrapped-key", len);
	q[100] ^= 0x01;
	q[len - 1] ^= 0x10;
	SIB("bitflip-sig", len);
	q[len - 1] ^= 0x10;
	SIB("truncated", len - 1);
	SIB("truncated-head", 100);
	q[len] = 0;
	SIB("trailing", len + 1);
	q[5] = 2;
	SIB("version", len);
	q[5] = 1;
	q[4] = 3;
	SIB("kind", len);
	q[4] = 5;
#undef SIB
	memset(other_repo, 0xee, sizeof(other_repo));
	snprintf(name, sizeof(name), "%s-wrong-repo", base);
	gen_record(name, k, other_repo, q, len);
	cf_free(q);
}

static void
gen_vectors(void)
{
	struct keys k;
	struct cf_snapshot *s = NULL;
	uint8_t *obj = NULL;
	size_t len = 0;

	keys_init(&k);
	printf("# snapshot.txt - known answers for docs/format.md section 8 (test_snapshot.c).\n"
	       "# dk_sk: X25519 secret of DK; sign_seed: Ed25519 seed of the device key that\n"
	       "# verify checks against. *_rc: the answers of cf_snapshot_read_head, verify and\n"
	       "# open. When open succeeds, id/head/body are the expected decoded fields.\n"
	       "# Regenerate: CF_GEN_VECTORS=1 ./test_snapshot (never edit released vectors).\n\n");
	s = snap_first(&k);
	obj = seal(s, &k, k.sk, &len);
	gen_record("first", &k, k.repo_id, obj, len);
	gen_siblings(&k, "first", obj, len);
	cf_free(obj);
	cf_snapshot_free(s);

	s = snap_later(&k);
	obj = seal(s, &k, k.sk, &len);
	gen_record("later", &k, k.repo_id, obj, len);
	cf_free(obj);
	obj = seal(s, &k, k.other, &len);
	gen_record("later-other-signer", &k, k.repo_id, obj, len);
	cf_free(obj);
	cf_snapshot_free(s);
	keys_release(&k);
}

static void
check_vector(const struct th_vec *v)
{
	const char *name = th_vec_get(v, "name");
	const char *want = NULL;
	uint8_t *repo = NULL, *dksk = NULL, *seed = NULL, *obj = NULL, *id = NULL;
	size_t rl = 0, dl = 0, sl = 0, ol = 0, il = 0;
	struct keys k;
	struct cf_snapshot *s = NULL;
	struct answers a;

	memset(&k, 0, sizeof(k));
	repo = th_unhex(th_vec_get(v, "repo_id"), &rl);
	dksk = th_unhex(th_vec_get(v, "dk_sk"), &dl);
	seed = th_unhex(th_vec_get(v, "sign_seed"), &sl);
	obj = th_unhex(th_vec_get(v, "hex"), &ol);
	CHECK(repo != NULL && rl == 32 && dksk != NULL && dl == 32 && seed != NULL && sl == 32 &&
	      obj != NULL);
	if (repo == NULL || dksk == NULL || seed == NULL || obj == NULL)
		goto out;
	CHECK(cf_boxkey_from_secret(dksk, &k.dk) == 0);
	CHECK(cf_signkey_from_seed(seed, &k.sk) == 0);
	a = ask(obj, ol, repo, &k, &s);
	CHECK(a.head == err_code(th_vec_get(v, "head_rc")));
	CHECK(a.verify == err_code(th_vec_get(v, "verify_rc")));
	CHECK(a.open == err_code(th_vec_get(v, "open_rc")));
	if (a.head != err_code(th_vec_get(v, "head_rc")) ||
	    a.verify != err_code(th_vec_get(v, "verify_rc")) ||
	    a.open != err_code(th_vec_get(v, "open_rc")))
		fprintf(stderr, "vector %s: %d %d %d\n", name, a.head, a.verify, a.open);
	if (s != NULL) {
		char *h = dump_head(&s->head);
		char *b = dump_body(s);

		id = th_unhex(th_vec_get(v, "id"), &il);
		CHECK(id != NULL && il == CF_ID_BYTES && memcmp(id, s->id, il) == 0);
		CHECK((want = th_vec_get(v, "head")) != NULL && strcmp(want, h) == 0);
		CHECK((want = th_vec_get(v, "body")) != NULL && strcmp(want, b) == 0);
		free(h);
		free(b);
	}
out:
	cf_snapshot_free(s);
	keys_release(&k);
	free(repo);
	free(dksk);
	free(seed);
	free(obj);
	free(id);
}

CF_TEST(snapshot_vectors)
{
	FILE *f = fopen(th_vector_path("snapshot.txt"), "r");
	struct th_vec v = {0};
	int records = 0;

	CHECK(f != NULL);
	if (f == NULL)
		return;
	while (th_vec_next(f, &v)) {
		check_vector(&v);
		records++;
	}
	th_vec_clear(&v);
	fclose(f);
	CHECK(records >= 13);
}

/* ---- round trips ---- */

CF_TEST(snapshot_round_trip)
{
	struct keys k;
	struct cf_snapshot *(*makers[])(const struct keys *) = {snap_first, snap_later};

	keys_init(&k);
	for (size_t i = 0; i < 2; i++) {
		struct cf_snapshot *s = makers[i](&k);
		struct cf_snapshot *o = NULL;
		struct cf_snapshot_head h;
		uint8_t id[CF_HASH_BYTES];
		uint8_t *obj = NULL;
		size_t len = 0;

		obj = seal(s, &k, k.sk, &len);
		cf_hash(id, obj, len);
		CHECK(memcmp(id, s->id, sizeof(id)) == 0);
		CHECK(cf_snapshot_read_head(obj, len, &h) == 0);
		CHECK(h.epoch == s->head.epoch && h.seq == s->head.seq &&
		      memcmp(h.device, s->head.device, CF_ID_BYTES) == 0 &&
		      memcmp(h.prev, s->head.prev, CF_HASH_BYTES) == 0);
		CHECK(cf_snapshot_verify(obj, len, k.repo_id, cf_signkey_pk(k.sk)) == 0);
		CHECK(cf_snapshot_verify(obj, len, k.repo_id, cf_signkey_pk(k.other)) == CF_EAUTH);
		CHECK(cf_snapshot_open(obj, len, k.repo_id, k.dk, &o) == 0);
		CHECK(o != NULL && snap_eq(s, o) && memcmp(o->id, id, sizeof(id)) == 0);
		/* Strings come back NUL-terminated, even empty ones. */
		CHECK(o != NULL && o->host != NULL && o->username != NULL);
		cf_free(obj);
		cf_snapshot_free(s);
		cf_snapshot_free(o);
	}
	keys_release(&k);
}

CF_TEST(snapshot_wrong_keys)
{
	struct keys k;
	struct cf_snapshot *s = NULL;
	struct cf_snapshot *o = NULL;
	struct cf_boxkey *other_dk = NULL;
	uint8_t other_repo[REPO_ID_BYTES];
	uint8_t *obj = NULL;
	size_t len = 0;

	keys_init(&k);
	s = snap_later(&k);
	obj = seal(s, &k, k.sk, &len);
	CHECK(cf_boxkey_new(&other_dk) == 0);
	CHECK(cf_snapshot_open(obj, len, k.repo_id, other_dk, &o) == CF_EAUTH && o == NULL);
	memcpy(other_repo, k.repo_id, sizeof(other_repo));
	other_repo[31] ^= 1;
	CHECK(cf_snapshot_open(obj, len, other_repo, k.dk, &o) == CF_EAUTH && o == NULL);
	CHECK(cf_snapshot_verify(obj, len, other_repo, cf_signkey_pk(k.sk)) == CF_EAUTH);
	cf_boxkey_free(other_dk);
	cf_free(obj);
	cf_snapshot_free(s);
	keys_release(&k);
}

/* Every single-bit flip is caught: by the signature always, by the AEAD outside the sig. */
CF_TEST(snapshot_every_bit_flip)
{
	struct keys k;
	struct cf_snapshot *s = NULL;
	uint8_t *obj = NULL;
	size_t len = 0;

	keys_init(&k);
	s = snap_first(&k);
	obj = seal(s, &k, k.sk, &len);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			struct answers a;

			obj[i] ^= (uint8_t)(1u << bit);
			a = ask(obj, len, k.repo_id, &k, NULL);
			CHECK(a.verify == CF_EAUTH || (i < 84 && a.verify == CF_EFORMAT));
			if (i >= len - CF_SIG_BYTES)
				CHECK(a.open == 0);
			else
				CHECK(a.open != 0);
			obj[i] ^= (uint8_t)(1u << bit);
		}
	}
	CHECK(ask(obj, len, k.repo_id, &k, NULL).open == 0);
	for (size_t i = 0; i < len; i++) {
		struct answers a = ask(obj, i, k.repo_id, &k, NULL);

		CHECK(a.verify != 0 && a.open != 0);
	}
	cf_free(obj);
	cf_snapshot_free(s);
	keys_release(&k);
}

/* ---- head checks ---- */

CF_TEST(snapshot_read_head_rejects)
{
	struct keys k;
	struct cf_snapshot *s = NULL;
	struct cf_snapshot_head h;
	uint8_t *obj = NULL;
	uint8_t *big = NULL;
	size_t len = 0;

	keys_init(&k);
	s = snap_later(&k);
	obj = seal(s, &k, k.sk, &len);
	CHECK(cf_snapshot_read_head(obj, CF_SNAPSHOT_MIN_BYTES, &h) == 0);
	CHECK(cf_snapshot_read_head(obj, CF_SNAPSHOT_MIN_BYTES - 1, &h) == CF_ETRUNC);
	big = cf_calloc(1, CF_SNAPSHOT_MAX_BYTES + 1);
	CHECK(big != NULL);
	memcpy(big, obj, len);
	CHECK(cf_snapshot_read_head(big, CF_SNAPSHOT_MAX_BYTES, &h) == 0);
	CHECK(cf_snapshot_read_head(big, CF_SNAPSHOT_MAX_BYTES + 1, &h) == CF_ETOOBIG);
	cf_free(big);
	obj[0] = 'X';
	CHECK(cf_snapshot_read_head(obj, len, &h) == CF_EFORMAT);
	obj[0] = 'C';
	obj[4] = 1; /* a chain entry */
	CHECK(cf_snapshot_read_head(obj, len, &h) == CF_EFORMAT);
	obj[4] = 5;
	obj[5] = 0;
	CHECK(cf_snapshot_read_head(obj, len, &h) == CF_EVERSION);
	CHECK(cf_snapshot_verify(obj, len, k.repo_id, cf_signkey_pk(k.sk)) == CF_EFORMAT);
	obj[5] = 1;
	obj[7] = 1;
	CHECK(cf_snapshot_read_head(obj, len, &h) == CF_EFORMAT);
	obj[7] = 0;
	cf_put_u64be(obj + 44, 0); /* seq 0 */
	CHECK(cf_snapshot_read_head(obj, len, &h) == CF_EFORMAT);
	cf_put_u64be(obj + 44, 1); /* seq 1 with a prev */
	CHECK(cf_snapshot_read_head(obj, len, &h) == CF_EFORMAT);
	memset(obj + 52, 0, 32);
	CHECK(cf_snapshot_read_head(obj, len, &h) == 0 && h.seq == 1 && h.epoch == 3);
	cf_put_u64be(obj + 44, 2); /* seq 2 without one */
	CHECK(cf_snapshot_read_head(obj, len, &h) == CF_EFORMAT);
	cf_free(obj);
	cf_snapshot_free(s);
	keys_release(&k);
}

/* ---- seal checks ---- */

static int
seal_rc(struct cf_snapshot *s, const struct keys *k)
{
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc = cf_snapshot_seal(s, k->repo_id, cf_boxkey_pk(k->dk), k->sk, &obj, &len);

	CHECK((rc == 0) == (obj != NULL));
	cf_free(obj);
	return rc;
}

static void
set_string(char **dst, const char *v)
{
	cf_free(*dst);
	*dst = cf_strdup(v);
	CHECK(*dst != NULL);
}

CF_TEST(snapshot_seal_rejects)
{
	struct keys k;
	struct cf_snapshot *s = NULL;
	uint8_t zero_pk[CF_BOX_PK_BYTES] = {0};
	uint8_t *obj = NULL;
	size_t len = 0;
	char *long_text = NULL;

	keys_init(&k);
	s = snap_later(&k);
	CHECK(seal_rc(s, &k) == 0);
	s->head.seq = 0;
	CHECK(seal_rc(s, &k) == CF_EINVAL);
	s->head.seq = 1; /* with a prev */
	CHECK(seal_rc(s, &k) == CF_EINVAL);
	s->head.seq = 7;
	s->time_ns = 1000000000;
	CHECK(seal_rc(s, &k) == CF_EINVAL);
	s->time_ns = 0;
	set_string(&s->paths[1], "relative/path");
	CHECK(seal_rc(s, &k) == CF_EINVAL);
	set_string(&s->paths[1], "");
	CHECK(seal_rc(s, &k) == CF_EINVAL);
	set_string(&s->paths[1], "/ok");
	set_string(&s->tags[0], "");
	CHECK(seal_rc(s, &k) == CF_EINVAL);
	set_string(&s->tags[0], "ok");
	long_text = cf_calloc(1, CF_SNAPSHOT_TEXT_MAX + 2);
	CHECK(long_text != NULL);
	memset(long_text, 'h', CF_SNAPSHOT_TEXT_MAX + 1);
	set_string(&s->host, long_text);
	CHECK(seal_rc(s, &k) == CF_EINVAL);
	long_text[CF_SNAPSHOT_TEXT_MAX] = '\0';
	set_string(&s->host, long_text);
	CHECK(seal_rc(s, &k) == 0);
	cf_free(s->host);
	s->host = NULL; /* NULL is the empty string */
	CHECK(seal_rc(s, &k) == 0);
	CHECK(cf_snapshot_seal(s, k.repo_id, zero_pk, k.sk, &obj, &len) == CF_EINVAL);
	CHECK(obj == NULL && len == 0);
	cf_free(long_text);
	cf_snapshot_free(s);
	CHECK(cf_snapshot_new(&s) == 0);
	s->head.seq = 1;
	CHECK(seal_rc(s, &k) == CF_EINVAL); /* no path */
	cf_snapshot_free(s);
	keys_release(&k);
}

CF_TEST(snapshot_limits)
{
	struct keys k;
	struct cf_snapshot *s = NULL;
	char *path = NULL;

	keys_init(&k);
	CHECK(cf_snapshot_new(&s) == 0);
	s->head.seq = 1;
	path = cf_calloc(1, CF_SNAPSHOT_PATH_MAX + 2);
	CHECK(path != NULL);
	memset(path, 'p', CF_SNAPSHOT_PATH_MAX + 1);
	path[0] = '/';
	CHECK(cf_snapshot_add_path(s, path) == CF_ETOOBIG);
	path[CF_SNAPSHOT_PATH_MAX] = '\0';
	/* 300 paths of 4095 bytes: over the 1 MiB object limit. */
	for (int i = 0; i < 300; i++)
		CHECK(cf_snapshot_add_path(s, path) == 0);
	CHECK(seal_rc(s, &k) == CF_ETOOBIG);
	cf_snapshot_free(s);
	CHECK(cf_snapshot_new(&s) == 0);
	s->head.seq = 1;
	for (int i = 0; i < CF_SNAPSHOT_MAX_PATHS; i++)
		CHECK(cf_snapshot_add_path(s, "/a") == 0);
	CHECK(cf_snapshot_add_path(s, "/a") == CF_ETOOBIG);
	for (int i = 0; i < CF_SNAPSHOT_MAX_TAGS; i++)
		CHECK(cf_snapshot_add_tag(s, "t") == 0);
	CHECK(cf_snapshot_add_tag(s, "t") == CF_ETOOBIG);
	memset(path, 't', CF_SNAPSHOT_TAG_MAX + 1);
	path[CF_SNAPSHOT_TAG_MAX + 1] = '\0';
	CHECK(cf_snapshot_add_tag(s, path) == CF_ETOOBIG);
	CHECK(s->npaths == CF_SNAPSHOT_MAX_PATHS && s->ntags == CF_SNAPSHOT_MAX_TAGS);
	CHECK(seal_rc(s, &k) == 0);
	cf_free(path);
	cf_snapshot_free(s);
	cf_snapshot_free(NULL);
	keys_release(&k);
}

/* ---- body parser ---- */

static uint8_t *
plain_of(const struct cf_snapshot *s, size_t *len)
{
	uint8_t *p = NULL;

	CHECK(cf_snapshot_encode_plain(s, &p, len) == 0);
	return p;
}

static int
parse_rc(const uint8_t *p, size_t len)
{
	struct cf_snapshot *s = NULL;
	int rc = cf_snapshot_parse_plain(p, len, &s);

	CHECK((rc == 0) == (s != NULL));
	cf_snapshot_free(s);
	return rc;
}

CF_TEST(snapshot_plain_parse)
{
	struct keys k;
	struct cf_snapshot *s = NULL;
	struct cf_snapshot *o = NULL;
	uint8_t *p = NULL;
	size_t len = 0;

	keys_init(&k);
	s = snap_first(&k);
	p = plain_of(s, &len);
	/* time 12 | host 2 | username 2+4 | npaths 2 | "/" 3 | ntags 2 | 64 | 56 */
	CHECK(len == 12 + 2 + 6 + 2 + 3 + 2 + 64 + 56);
	CHECK(cf_snapshot_parse_plain(p, len, &o) == 0);
	CHECK(o != NULL && o->head.seq == 0);
	memcpy(&o->head, &s->head, sizeof(o->head));
	CHECK(snap_eq(s, o));
	cf_snapshot_free(o);
	for (size_t i = 0; i < len; i++)
		CHECK(parse_rc(p, i) != 0);
	cf_free_wipe(p, len);
	p = plain_of(s, &len);
	/* time 0 | host 12 | username 14 | npaths 20 | path 22 "/" 24 | ntags 25 | tree 27 */
	cf_put_u32be(p + 8, 1000000000); /* time_ns */
	CHECK(parse_rc(p, len) == CF_EFORMAT);
	cf_put_u32be(p + 8, 0);
	p[16] = 'r';
	p[17] = '\0'; /* a NUL inside username */
	CHECK(parse_rc(p, len) == CF_EFORMAT);
	p[17] = 'o';
	p[24] = 'x'; /* the path "/" becomes "x": relative */
	CHECK(parse_rc(p, len) == CF_EFORMAT);
	p[24] = '/';
	p[21] = 0; /* npaths 0 */
	CHECK(parse_rc(p, len) == CF_EFORMAT);
	cf_put_u16be(p + 20, CF_SNAPSHOT_MAX_PATHS + 1);
	CHECK(parse_rc(p, len) == CF_ETOOBIG);
	cf_put_u16be(p + 20, 1);
	cf_put_u16be(p + 25, CF_SNAPSHOT_MAX_TAGS + 1);
	CHECK(parse_rc(p, len) == CF_ETOOBIG);
	cf_put_u16be(p + 25, 61); /* more tags than the 120 bytes left could hold */
	CHECK(parse_rc(p, len) == CF_ETRUNC);
	cf_put_u16be(p + 25, 1); /* one tag: the tree bytes misread as a tag */
	CHECK(parse_rc(p, len) != 0);
	cf_put_u16be(p + 25, 0);
	cf_put_u16be(p + 12, CF_SNAPSHOT_TEXT_MAX + 1); /* host too long */
	CHECK(parse_rc(p, len) == CF_ETOOBIG);
	cf_put_u16be(p + 12, 0);
	CHECK(parse_rc(p, len) == 0);
	cf_free_wipe(p, len);
	cf_snapshot_free(s);
	keys_release(&k);
}

CF_TEST(snapshot_plain_trailing_and_empty_tag)
{
	struct keys k;
	struct cf_snapshot *s = NULL;
	uint8_t *p = NULL;
	uint8_t *q = NULL;
	size_t len = 0;

	keys_init(&k);
	s = snap_first(&k);
	add_tag(s, "x");
	p = plain_of(s, &len);
	q = cf_malloc(len + 1);
	CHECK(q != NULL);
	memcpy(q, p, len);
	q[len] = 0;
	CHECK(parse_rc(q, len) == 0);
	CHECK(parse_rc(q, len + 1) == CF_EFORMAT);
	/* ntags at 25: count 1, then str8 "x" at 27..28 */
	CHECK(q[27] == 1 && q[28] == 'x');
	q[27] = 0;
	CHECK(parse_rc(q, len) != 0);
	q[27] = 1;
	q[28] = '\0';
	CHECK(parse_rc(q, len) == CF_EFORMAT);
	cf_free(q);
	cf_free_wipe(p, len);
	cf_snapshot_free(s);
	keys_release(&k);
}

/* ---- allocation failures ---- */

CF_TEST(snapshot_alloc_failures)
{
	struct keys k;
	struct cf_snapshot *s = NULL;
	struct cf_snapshot *o = NULL;
	uint8_t *obj = NULL;
	size_t len = 0;
	bool done = false;
	int rc;

	keys_init(&k);
	s = snap_later(&k);
	for (uint64_t i = 1; i < 1000 && !done; i++) {
		cf_alloc_fail_after(i);
		rc = cf_snapshot_seal(s, k.repo_id, cf_boxkey_pk(k.dk), k.sk, &obj, &len);
		cf_alloc_fail_after(0);
		CHECK(rc == 0 || rc == CF_ENOMEM);
		CHECK((rc == 0) == (obj != NULL));
		done = rc == 0;
	}
	CHECK(done);
	done = false;
	for (uint64_t i = 1; i < 1000 && !done; i++) {
		cf_alloc_fail_after(i);
		rc = cf_snapshot_open(obj, len, k.repo_id, k.dk, &o);
		cf_alloc_fail_after(0);
		CHECK(rc == 0 || rc == CF_ENOMEM);
		done = rc == 0;
	}
	CHECK(done && o != NULL && snap_eq(s, o));
	done = false;
	for (uint64_t i = 1; i < 100 && !done; i++) {
		cf_alloc_fail_after(i);
		rc = cf_snapshot_verify(obj, len, k.repo_id, cf_signkey_pk(k.sk));
		cf_alloc_fail_after(0);
		CHECK(rc == 0 || rc == CF_ENOMEM);
		done = rc == 0;
	}
	CHECK(done);
	cf_free(obj);
	cf_snapshot_free(s);
	cf_snapshot_free(o);
	keys_release(&k);
}

__attribute__((constructor(200))) static void
maybe_generate(void)
{
	const char *g = getenv("CF_GEN_VECTORS");

	if (g == NULL || strcmp(g, "1") != 0)
		return;
	if (cf_init() != 0)
		abort();
	gen_vectors();
	fflush(stdout);
	exit(0);
}
