/*
 * cf_metatest.c - the contracts of server/meta.h checked against any metadata backend, for
 * tests/system/test_meta_pg.sh: accounts, tokens, devices, reserve/commit/abort/purge, exact
 * quota edges, write-once and enrollment races between threads and between two handles
 * (two "instances"), nonce replays across handles, soft deletion, expiry, listing order and
 * pagination, crash-recovery walks. Test-only, never installed.
 *
 *   cf_metatest URI                    every check; two handles on URI
 *   cf_metatest --pause URI            reconnect check: work, print "paused", wait for a line
 *                                      on stdin (the database restarts meanwhile), then check
 *                                      the same handle still works
 *   cf_metatest --deadlock URI         retry check: make an object, print "ready ACCOUNT",
 *                                      wait for a line on stdin (another session locks the
 *                                      object's row meanwhile), then purge it
 *   cf_metatest --open [--create] URI  open and close: prints "ok" or the error
 *
 * URI: sqlite:PATH (a new file, created by the first handle) or postgres://... (the schema is
 * created if missing). Account names start with a per-run prefix, so runs can share a
 * database. Prints "N passed, N failed". Exit: 0, 1 (a check failed), 2 (usage, cannot open).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "meta.h"
#include "meta_sqlite.h"

#define NOW     INT64_C(1700000000)
#define THREADS 16
#define NLIST   600
#define BIG     (UINT64_C(1) << 40)

static int g_pass;
static int g_fail;
static bool g_pg;
static char g_prefix[32];

static void
check(bool ok, int line, const char *expr)
{
	if (ok) {
		g_pass++;
		return;
	}
	g_fail++;
	(void)fprintf(stderr, "cf_metatest: FAIL line %d: %s (last error: %s)\n", line, expr,
	              cf_err_last());
}

static void
check_rc(int got, int want, int line, const char *expr)
{
	if (got == want) {
		g_pass++;
		return;
	}
	g_fail++;
	(void)fprintf(stderr, "cf_metatest: FAIL line %d: %s: %s, want %s (last error: %s)\n", line,
	              expr, cf_strerror(got), cf_strerror(want), cf_err_last());
}

#define CHECK(x)           check((x), __LINE__, #x)
#define CHECK_RC(call, rc) check_rc((call), (rc), __LINE__, #call)

/* ---- helpers ---- */

static const char *
acct(char *buf, size_t cap, const char *what)
{
	(void)snprintf(buf, cap, "%s%s", g_prefix, what);
	return buf;
}

static bool
ours(const char *account, const char *what)
{
	char want[CFD_ACCOUNT_MAX + 1];

	return strcmp(account, acct(want, sizeof(want), what)) == 0;
}

static struct cfd_obj_key
key(const char *account, enum cf_obj_kind kind, const char *name)
{
	struct cfd_obj_key k = {account, kind, name};

	return k;
}

static void
fill(uint8_t *p, size_t n, uint8_t v)
{
	memset(p, v, n);
}

static struct cfd_device
device(uint8_t id, uint8_t role, bool removed)
{
	struct cfd_device d;

	memset(&d, 0, sizeof(d));
	fill(d.id, sizeof(d.id), id);
	fill(d.sign_pk, sizeof(d.sign_pk), (uint8_t)(id ^ 0x5a));
	d.role = role;
	d.removed = removed;
	return d;
}

static int
account_new(struct cfd_meta *m, const char *name, uint64_t quota, uint8_t token)
{
	uint8_t hash[CF_HASH_BYTES];

	fill(hash, sizeof(hash), token);
	return m->ops->account_create(m, name, quota, hash, NOW);
}

/* Reserve and commit one object. */
static int
put(struct cfd_meta *m, const struct cfd_obj_key *k, uint64_t size)
{
	int rc = m->ops->object_reserve(m, k, size, NOW, 0);

	return rc != 0 ? rc : m->ops->object_commit(m, k, NOW, NULL);
}

static uint64_t
used_of(struct cfd_meta *m, const char *account)
{
	struct cfd_account a;

	return m->ops->account_get(m, account, &a) == 0 ? a.used : UINT64_MAX;
}

static int
state_of(struct cfd_meta *m, const struct cfd_obj_key *k)
{
	struct cfd_obj_info o;
	int rc = m->ops->object_get(m, k, &o);

	return rc != 0 ? rc : (int)o.state;
}

/* ---- threads: N calls at once, alternating between two handles ---- */

struct race;
typedef int race_fn(struct race *r, struct cfd_meta *m, int i);

struct race {
	struct cfd_meta *m[2];
	race_fn *fn;
	const char *account;
	pthread_barrier_t start;
	int rc[THREADS];
	int i;
	pthread_mutex_t lock;
};

static void *
race_thread(void *arg)
{
	struct race *r = arg;
	int i;

	CF_ASSERT(pthread_mutex_lock(&r->lock) == 0);
	i = r->i++;
	CF_ASSERT(pthread_mutex_unlock(&r->lock) == 0);
	(void)pthread_barrier_wait(&r->start);
	r->rc[i] = r->fn(r, r->m[i % 2], i);
	return NULL;
}

static void
race_run(struct race *r, struct cfd_meta *m1, struct cfd_meta *m2, race_fn *fn)
{
	pthread_t t[THREADS];

	r->m[0] = m1;
	r->m[1] = m2;
	r->fn = fn;
	r->i = 0;
	CF_ASSERT(pthread_mutex_init(&r->lock, NULL) == 0);
	CF_ASSERT(pthread_barrier_init(&r->start, NULL, THREADS) == 0);
	for (int i = 0; i < THREADS; i++)
		CF_ASSERT(pthread_create(&t[i], NULL, race_thread, r) == 0);
	for (int i = 0; i < THREADS; i++)
		CF_ASSERT(pthread_join(t[i], NULL) == 0);
	(void)pthread_barrier_destroy(&r->start);
	(void)pthread_mutex_destroy(&r->lock);
}

static int
race_count(const struct race *r, int rc)
{
	int n = 0;

	for (int i = 0; i < THREADS; i++)
		n += r->rc[i] == rc;
	return n;
}

/* ---- accounts, tokens ---- */

struct names {
	char prefix[CFD_ACCOUNT_MAX + 1];
	int n;
	bool ordered;
	char last[CFD_ACCOUNT_MAX + 1];
};

static int
collect_account(void *arg, const struct cfd_account *a)
{
	struct names *s = arg;

	if (strcmp(a->name, s->last) <= 0)
		s->ordered = false;
	(void)snprintf(s->last, sizeof(s->last), "%s", a->name);
	s->n += strncmp(a->name, s->prefix, strlen(s->prefix)) == 0;
	return 0;
}

static int
stop_account(void *arg, const struct cfd_account *a)
{
	(void)a;
	return ++*(int *)arg == 2 ? 7 : 0;
}

static void
test_account_list(struct cfd_meta *m1, struct cfd_meta *m2)
{
	struct names s = {.ordered = true};
	char name[CFD_ACCOUNT_MAX + 1];
	char what[16];
	int calls = 0;

	for (int i = 69; i >= 0; i--) { /* more than one batch, created out of order */
		(void)snprintf(what, sizeof(what), "list-%02d", i);
		CHECK_RC(account_new(i % 2 ? m1 : m2, acct(name, sizeof(name), what), 10, 1), 0);
	}
	(void)acct(s.prefix, sizeof(s.prefix), "list-");
	CHECK_RC(m2->ops->account_list(m2, collect_account, &s), 0);
	CHECK(s.n == 70);
	CHECK(s.ordered);
	CHECK_RC(m1->ops->account_list(m1, stop_account, &calls), 7);
	CHECK(calls == 2);
}

static void
test_accounts(struct cfd_meta *m1, struct cfd_meta *m2)
{
	char a[CFD_ACCOUNT_MAX + 1];
	struct cfd_account info;
	uint8_t tok[CF_HASH_BYTES];

	(void)acct(a, sizeof(a), "acc");
	fill(tok, sizeof(tok), 1);
	CHECK_RC(account_new(m1, a, 1000, 1), 0);
	CHECK_RC(account_new(m2, a, 5, 2), CF_EEXIST);
	CHECK_RC(m2->ops->account_get(m2, a, &info), 0);
	CHECK(strcmp(info.name, a) == 0 && info.quota == 1000 && info.used == 0);
	CHECK(info.created == NOW && !info.enrolled && info.ndevices == 0);
	CHECK_RC(m1->ops->account_get(m1, "mt-no-such-account", &info), CF_ENOENT);
	CHECK_RC(m1->ops->account_create(m1, "mt-too-big", UINT64_MAX, tok, NOW), CF_ETOOBIG);
	CHECK_RC(m2->ops->token_check(m2, a, tok), 0);
	fill(tok, sizeof(tok), 2);
	CHECK_RC(m2->ops->token_check(m2, a, tok), CF_EAUTH);
	CHECK_RC(m1->ops->token_check(m1, "mt-no-such-account", tok), CF_EAUTH);
	CHECK_RC(m1->ops->account_delete(m1, a), 0);
	CHECK_RC(m2->ops->account_delete(m2, a), CF_ENOENT);
	CHECK_RC(m2->ops->account_get(m2, a, &info), CF_ENOENT);
	test_account_list(m1, m2);
}

/* ---- devices and enrollment ---- */

static int
commit_chain(struct cfd_meta *m, const char *a, const char *name, const struct cfd_commit *c)
{
	struct cfd_obj_key k = key(a, CF_OBJ_CHAIN, name);
	int rc = m->ops->object_reserve(m, &k, 10, NOW, 0);

	return rc != 0 ? rc : m->ops->object_commit(m, &k, NOW + 1, c);
}

static void
test_enroll(struct cfd_meta *m1, struct cfd_meta *m2, const char *a)
{
	struct cfd_device devs[4] = {
	        device(1, CFD_ROLE_FULL, false), device(2, CFD_ROLE_BACKUP_ONLY, false),
	        device(3, CFD_ROLE_RECOVERY, false), device(4, CFD_ROLE_RECOVERY, false)};
	struct cfd_commit c = {.devices = devs, .ndevices = 4, .recovery_id = devs[2].id};
	struct cfd_obj_key k2 = key(a, CF_OBJ_CHAIN, "0000000000000002");
	uint8_t tok[CF_HASH_BYTES];
	uint8_t pk[CF_SIGN_PK_BYTES];
	struct cfd_account info;
	struct cfd_device d;

	fill(tok, sizeof(tok), 9);
	c.token_hash = tok;
	CHECK_RC(commit_chain(m1, a, "0000000000000001", &c), 0);
	CHECK_RC(m2->ops->account_get(m2, a, &info), 0);
	CHECK(info.enrolled && info.ndevices == 2);
	CHECK_RC(m2->ops->token_check(m2, a, tok), CF_EAUTH);
	CHECK_RC(m2->ops->device_key(m2, devs[0].id, pk), 0);
	CHECK(memcmp(pk, devs[0].sign_pk, sizeof(pk)) == 0);
	CHECK_RC(m1->ops->device_key(m1, devs[3].id, pk), CF_ENOENT); /* retired recovery */
	CHECK_RC(m1->ops->device_get(m1, a, devs[3].id, &d), 0);
	CHECK(d.removed && d.role == CFD_ROLE_RECOVERY);
	CHECK_RC(m1->ops->device_get(m1, a, devs[2].id, &d), 0);
	CHECK(!d.removed && memcmp(d.id, devs[2].id, CF_ID_BYTES) == 0);
	/* a stale token: the whole commit is undone, the object stays PENDING */
	CHECK_RC(commit_chain(m2, a, "0000000000000002", &c), CF_EAUTH);
	CHECK(state_of(m1, &k2) == CFD_OBJ_PENDING);
	CHECK_RC(m1->ops->object_abort(m1, &k2), 0);
}

static void
test_devices(struct cfd_meta *m1, struct cfd_meta *m2)
{
	struct cfd_device pend = device(7, CFD_ROLE_PENDING, false);
	struct cfd_device dup = device(1, CFD_ROLE_PENDING, false);
	struct cfd_device gone = device(2, CFD_ROLE_BACKUP_ONLY, true);
	struct cfd_commit c = {.devices = &pend, .ndevices = 1};
	char a[CFD_ACCOUNT_MAX + 1];
	char req[2 * CF_ID_BYTES + 1];
	struct cfd_obj_key kr;
	struct cfd_account info;
	struct cfd_device d;

	(void)acct(a, sizeof(a), "dev");
	CHECK_RC(account_new(m1, a, BIG, 9), 0);
	test_enroll(m1, m2, a);
	/* a join request adds a pending device; its purge removes it */
	cf_hex(req, pend.id, CF_ID_BYTES);
	kr = key(a, CF_OBJ_REQUEST, req);
	CHECK_RC(m2->ops->object_reserve(m2, &kr, 10, NOW, CFD_PENDING_JOINS), 0);
	CHECK_RC(m2->ops->object_commit(m2, &kr, NOW, &c), 0);
	CHECK_RC(m1->ops->device_get(m1, a, pend.id, &d), 0);
	CHECK(d.role == CFD_ROLE_PENDING && !d.removed);
	/* a pending device never replaces a row of its id */
	dup.sign_pk[0] ^= 1;
	c.devices = &dup;
	CHECK_RC(commit_chain(m1, a, "0000000000000003", &c), 0);
	CHECK_RC(m2->ops->device_get(m2, a, dup.id, &d), 0);
	CHECK(d.role == CFD_ROLE_FULL && d.sign_pk[0] == (uint8_t)(1 ^ 0x5a));
	CHECK_RC(m1->ops->object_purge(m1, &kr), 0);
	CHECK_RC(m1->ops->device_get(m1, a, pend.id, &d), CF_ENOENT);
	/* a chain device row is replaced */
	c.devices = &gone;
	CHECK_RC(commit_chain(m2, a, "0000000000000004", &c), 0);
	CHECK_RC(m1->ops->device_key(m1, gone.id, d.sign_pk), CF_ENOENT);
	CHECK_RC(m1->ops->account_get(m1, a, &info), 0);
	CHECK(info.ndevices == 1);
	CHECK_RC(m1->ops->device_get(m1, "mt-no-such-account", gone.id, &d), CF_ENOENT);
}

/* Enrollments racing on one token, each with its own chain object: one burns it. */
static int
enroll_one(struct race *r, struct cfd_meta *m, int i)
{
	struct cfd_device d = device((uint8_t)(0x40 + i), CFD_ROLE_FULL, false);
	struct cfd_commit c = {.devices = &d, .ndevices = 1};
	uint8_t tok[CF_HASH_BYTES];
	char name[32];

	fill(tok, sizeof(tok), 3);
	c.token_hash = tok;
	(void)snprintf(name, sizeof(name), "%016x", (unsigned)(i + 1));
	return commit_chain(m, r->account, name, &c);
}

static void
test_enroll_race(struct cfd_meta *m1, struct cfd_meta *m2)
{
	char a[CFD_ACCOUNT_MAX + 1];
	struct cfd_account info;
	struct race r;

	memset(&r, 0, sizeof(r));
	r.account = acct(a, sizeof(a), "enroll");
	CHECK_RC(account_new(m1, a, BIG, 3), 0);
	race_run(&r, m1, m2, enroll_one);
	CHECK(race_count(&r, 0) == 1);
	CHECK(race_count(&r, CF_EAUTH) == THREADS - 1);
	CHECK_RC(m2->ops->account_get(m2, a, &info), 0);
	CHECK(info.enrolled && info.ndevices == 1);
}

/* ---- objects and quotas ---- */

static void
test_objects(struct cfd_meta *m1, struct cfd_meta *m2)
{
	char a[CFD_ACCOUNT_MAX + 1];
	struct cfd_obj_key p1;
	struct cfd_obj_key p2;
	struct cfd_obj_key k;
	struct cfd_obj_info o;

	p1 = key(acct(a, sizeof(a), "obj"), CF_OBJ_PACK, "p1");
	p2 = key(a, CF_OBJ_PACK, "p2");
	CHECK_RC(account_new(m1, a, 1000, 1), 0);
	CHECK_RC(m1->ops->object_reserve(m1, &p1, 100, NOW, 0), 0);
	CHECK_RC(m2->ops->object_get(m2, &p1, &o), 0);
	CHECK(o.state == CFD_OBJ_PENDING && o.size == 100 && o.kind == CF_OBJ_PACK);
	CHECK(strcmp(o.account, a) == 0 && strcmp(o.name, "p1") == 0 && o.deleted_at == 0);
	CHECK(used_of(m2, a) == 100);
	CHECK_RC(m2->ops->object_reserve(m2, &p1, 100, NOW, 0), CF_EEXIST);
	CHECK(used_of(m1, a) == 100);
	CHECK_RC(m2->ops->object_commit(m2, &p1, NOW + 5, NULL), 0);
	CHECK_RC(m1->ops->object_get(m1, &p1, &o), 0);
	CHECK(o.state == CFD_OBJ_LIVE && o.created == NOW + 5);
	CHECK_RC(m1->ops->object_commit(m1, &p1, NOW, NULL), CF_ENOENT);
	CHECK_RC(m1->ops->object_abort(m1, &p1), CF_ENOENT);
	CHECK(state_of(m2, &p1) == CFD_OBJ_LIVE);
	CHECK_RC(m1->ops->object_reserve(m1, &p2, 50, NOW, 0), 0);
	CHECK_RC(m2->ops->object_abort(m2, &p2), 0);
	CHECK_RC(m1->ops->object_abort(m1, &p2), CF_ENOENT);
	CHECK(state_of(m1, &p2) == CF_ENOENT && used_of(m1, a) == 100);
	CHECK_RC(m2->ops->object_purge(m2, &p1), 0);
	CHECK_RC(m1->ops->object_purge(m1, &p1), CF_ENOENT);
	CHECK(state_of(m1, &p1) == CF_ENOENT && used_of(m1, a) == 0);
	k = key("mt-no-such-account", CF_OBJ_PACK, "p1");
	CHECK_RC(m1->ops->object_reserve(m1, &k, 1, NOW, 0), CF_ENOENT);
	CHECK_RC(m1->ops->object_reserve(m1, &p1, UINT64_MAX, NOW, 0), CF_ETOOBIG);
	/* max_live counts rows of the kind in any state */
	k = key(a, CF_OBJ_KEYS, "k1");
	CHECK_RC(m1->ops->object_reserve(m1, &k, 1, NOW, 2), 0);
	k.name = "k2";
	CHECK_RC(put(m2, &k, 1), 0);
	k.name = "k3";
	CHECK_RC(m2->ops->object_reserve(m2, &k, 1, NOW, 2), CF_EPERM);
	CHECK_RC(m2->ops->object_reserve(m2, &k, 1, NOW, 3), 0);
}

static void
test_quota_edges(struct cfd_meta *m1, struct cfd_meta *m2)
{
	char a[CFD_ACCOUNT_MAX + 1];
	char z[CFD_ACCOUNT_MAX + 1];
	struct cfd_obj_key k;

	k = key(acct(a, sizeof(a), "quota"), CF_OBJ_PACK, "a");
	CHECK_RC(account_new(m1, a, 1000, 1), 0);
	CHECK_RC(m1->ops->object_reserve(m1, &k, 1000, NOW, 0), 0); /* exactly the quota */
	k.name = "b";
	CHECK_RC(m2->ops->object_reserve(m2, &k, 1, NOW, 0), CF_ETOOBIG);
	k.name = "a";
	CHECK_RC(m2->ops->object_abort(m2, &k), 0);
	k.name = "c";
	CHECK_RC(m1->ops->object_reserve(m1, &k, 1001, NOW, 0), CF_ETOOBIG);
	k.name = "d";
	CHECK_RC(put(m1, &k, 999), 0);
	k.name = "e";
	CHECK_RC(m2->ops->object_reserve(m2, &k, 1, NOW, 0), 0);
	k.name = "f";
	CHECK_RC(m1->ops->object_reserve(m1, &k, 1, NOW, 0), CF_ETOOBIG);
	k.name = "d"; /* soft-deleted objects still count */
	CHECK_RC(m1->ops->object_delete(m1, &k, NOW), 0);
	k.name = "f";
	CHECK_RC(m2->ops->object_reserve(m2, &k, 1, NOW, 0), CF_ETOOBIG);
	k.name = "d";
	CHECK_RC(m2->ops->object_purge(m2, &k), 0);
	CHECK(used_of(m1, a) == 1);
	k.name = "f";
	CHECK_RC(m1->ops->object_reserve(m1, &k, 999, NOW, 0), 0);
	CHECK(used_of(m2, a) == 1000);
	k = key(acct(z, sizeof(z), "quota0"), CF_OBJ_PACK, "z");
	CHECK_RC(account_new(m2, z, 0, 1), 0);
	CHECK_RC(m1->ops->object_reserve(m1, &k, 0, NOW, 0), 0);
	k.name = "y";
	CHECK_RC(m1->ops->object_reserve(m1, &k, 1, NOW, 0), CF_ETOOBIG);
}

/* Each thread reserves 100 bytes under its own name; the quota holds 10 of them. */
static int
reserve_own(struct race *r, struct cfd_meta *m, int i)
{
	char name[16];
	struct cfd_obj_key k;

	(void)snprintf(name, sizeof(name), "q%02d", i);
	k = key(r->account, CF_OBJ_PACK, name);
	return m->ops->object_reserve(m, &k, 100, NOW, 0);
}

/* Every thread reserves the same name: write-once. */
static int
reserve_same(struct race *r, struct cfd_meta *m, int i)
{
	struct cfd_obj_key k = key(r->account, CF_OBJ_CHAIN, "0000000000000005");

	return m->ops->object_reserve(m, &k, (uint64_t)i + 1, NOW, 0);
}

static void
test_races(struct cfd_meta *m1, struct cfd_meta *m2)
{
	char a[CFD_ACCOUNT_MAX + 1];
	char w[CFD_ACCOUNT_MAX + 1];
	struct cfd_obj_key k;
	struct cfd_obj_info o;
	struct race r;

	memset(&r, 0, sizeof(r));
	r.account = acct(a, sizeof(a), "race-quota");
	CHECK_RC(account_new(m1, a, 1000, 1), 0);
	race_run(&r, m1, m2, reserve_own);
	CHECK(race_count(&r, 0) == 10);
	CHECK(race_count(&r, CF_ETOOBIG) == THREADS - 10);
	CHECK(used_of(m2, a) == 1000);

	memset(&r, 0, sizeof(r));
	r.account = acct(w, sizeof(w), "race-once");
	CHECK_RC(account_new(m2, w, BIG, 1), 0);
	race_run(&r, m1, m2, reserve_same);
	CHECK(race_count(&r, 0) == 1);
	CHECK(race_count(&r, CF_EEXIST) == THREADS - 1);
	k = key(w, CF_OBJ_CHAIN, "0000000000000005");
	CHECK_RC(m1->ops->object_get(m1, &k, &o), 0);
	CHECK(used_of(m1, w) == o.size); /* only the winner's bytes are counted */
}

/* ---- nonces ---- */

/* A nonce of this run only: @v with the run's prefix mixed in. */
static void
run_nonce(uint8_t n[static CFD_NONCE_BYTES], uint8_t v)
{
	fill(n, CFD_NONCE_BYTES, v);
	for (size_t i = 0; g_prefix[i] != '\0'; i++)
		n[i % CFD_NONCE_BYTES] ^= (uint8_t)g_prefix[i];
}

static int
nonce_same(struct race *r, struct cfd_meta *m, int i)
{
	uint8_t id[CF_ID_BYTES];
	uint8_t n[CFD_NONCE_BYTES];

	(void)r;
	(void)i;
	fill(id, sizeof(id), 0x77);
	run_nonce(n, 0x99);
	return m->ops->nonce_use(m, id, n, NOW, NOW + 600);
}

static void
test_nonces(struct cfd_meta *m1, struct cfd_meta *m2)
{
	uint8_t id[CF_ID_BYTES];
	uint8_t id2[CF_ID_BYTES];
	uint8_t n[CFD_NONCE_BYTES];
	struct race r;

	fill(id, sizeof(id), 0x66);
	fill(id2, sizeof(id2), 0x67);
	run_nonce(n, 0x11);
	CHECK_RC(m1->ops->nonce_use(m1, id, n, NOW, NOW + 10), 0);
	CHECK_RC(m2->ops->nonce_use(m2, id, n, NOW + 1, NOW + 11), CF_EEXIST);  /* other instance */
	CHECK_RC(m1->ops->nonce_use(m1, id, n, NOW + 10, NOW + 20), CF_EEXIST); /* expires == now */
	CHECK_RC(m2->ops->nonce_use(m2, id2, n, NOW, NOW + 10), 0);             /* another device */
	CHECK_RC(m2->ops->nonce_use(m2, id, n, NOW + 11, NOW + 21), 0); /* expired: new again */
	CHECK_RC(m1->ops->nonce_use(m1, id, n, NOW + 12, NOW + 22), CF_EEXIST);
	CHECK_RC(m1->ops->nonce_prune(m1, NOW + 30), 0);
	CHECK_RC(m2->ops->nonce_use(m2, id, n, NOW + 30, NOW + 40), 0);

	memset(&r, 0, sizeof(r));
	race_run(&r, m1, m2, nonce_same);
	CHECK(race_count(&r, 0) == 1);
	CHECK(race_count(&r, CF_EEXIST) == THREADS - 1);
}

/* ---- soft deletion, expiry, recovery walks ---- */

struct seen {
	struct cfd_meta *m; /* with it, each row handed over is purged */
	const char *what;   /* account suffix the rows must have to be counted */
	int n;
	int64_t last_deleted;
	bool ordered;
	char names[8][CF_OBJ_NAME_MAX + 1];
};

static int
seen_row(void *arg, const struct cfd_obj_info *o)
{
	struct seen *s = arg;
	struct cfd_obj_key k = key(o->account, o->kind, o->name);

	if (!ours(o->account, s->what))
		return 0;
	if (o->deleted_at < s->last_deleted)
		s->ordered = false;
	s->last_deleted = o->deleted_at;
	if (s->n < 8)
		(void)snprintf(s->names[s->n], sizeof(s->names[0]), "%s", o->name);
	s->n++;
	return s->m != NULL ? s->m->ops->object_purge(s->m, &k) : 0;
}

static void
seen_init(struct seen *s, struct cfd_meta *purge_with, const char *what)
{
	memset(s, 0, sizeof(*s));
	s->m = purge_with;
	s->what = what;
	s->ordered = true;
	s->last_deleted = INT64_MIN;
}

static void
test_soft_delete(struct cfd_meta *m1, struct cfd_meta *m2, const char *a)
{
	struct cfd_obj_key k = key(a, CF_OBJ_SNAPSHOT, "s1");
	struct cfd_obj_info o;
	struct seen s;

	CHECK_RC(m1->ops->object_delete(m1, &k, NOW + 300), 0);
	CHECK_RC(m2->ops->object_delete(m2, &k, NOW + 301), CF_ENOENT);
	CHECK_RC(m2->ops->object_get(m2, &k, &o), 0);
	CHECK(o.state == CFD_OBJ_LIVE && o.deleted_at == NOW + 300);
	CHECK_RC(m2->ops->object_undelete(m2, &k), 0);
	CHECK_RC(m1->ops->object_undelete(m1, &k), 0); /* not deleted: still 0 */
	CHECK_RC(m1->ops->object_get(m1, &k, &o), 0);
	CHECK(o.deleted_at == 0);
	CHECK_RC(m1->ops->object_delete(m1, &k, NOW + 300), 0);
	k.name = "s2";
	CHECK_RC(m2->ops->object_delete(m2, &k, NOW + 100), 0);
	k.name = "s3";
	CHECK_RC(m1->ops->object_delete(m1, &k, NOW + 200), 0);
	k.name = "s4"; /* PENDING: not deletable */
	CHECK_RC(m1->ops->object_delete(m1, &k, NOW), CF_ENOENT);
	CHECK_RC(m1->ops->object_undelete(m1, &k), CF_ENOENT);
	CHECK_RC(m1->ops->object_claim(m1, &k), CF_ENOENT);
	seen_init(&s, NULL, "sd");
	CHECK_RC(m2->ops->deleted_list(m2, seen_row, &s), 0);
	CHECK(s.n == 3);
	if (g_pg) /* meta.h: oldest deletion first (meta_sqlite.c walks by name) */
		CHECK(s.ordered && strcmp(s.names[0], "s2") == 0 && strcmp(s.names[2], "s1") == 0);
}

static void
test_expiry(struct cfd_meta *m1, struct cfd_meta *m2)
{
	char a[CFD_ACCOUNT_MAX + 1];
	struct cfd_obj_key k;
	struct seen s;

	k = key(acct(a, sizeof(a), "sd"), CF_OBJ_SNAPSHOT, "s1");
	CHECK_RC(account_new(m1, a, BIG, 1), 0);
	for (const char *n = "1235"; *n != '\0'; n++) {
		char name[3] = {'s', *n, '\0'};

		k.name = name;
		CHECK_RC(put(*n == '2' ? m2 : m1, &k, 10), 0);
	}
	k.name = "s4";
	CHECK_RC(m2->ops->object_reserve(m2, &k, 10, NOW, 0), 0);
	test_soft_delete(m1, m2, a);
	/* deleted at NOW+100 and NOW+200 expire at cutoff NOW+200; NOW+300 does not */
	seen_init(&s, m2, "sd");
	CHECK_RC(m1->ops->expired_claim(m1, NOW + 200, seen_row, &s), 0);
	CHECK(s.n == 2);
	k.name = "s2";
	CHECK(state_of(m1, &k) == CF_ENOENT);
	k.name = "s1";
	CHECK(state_of(m1, &k) == CFD_OBJ_LIVE);
	CHECK(used_of(m2, a) == 30);
	k.name = "s5";
	CHECK_RC(m1->ops->object_claim(m1, &k), 0);
	CHECK_RC(m2->ops->object_claim(m2, &k), CF_ENOENT);
	CHECK(state_of(m2, &k) == CFD_OBJ_PURGING);
	CHECK_RC(m2->ops->object_reserve(m2, &k, 1, NOW, 0), CF_EEXIST); /* the name stays taken */
	CHECK_RC(m1->ops->object_undelete(m1, &k), CF_ENOENT);
	seen_init(&s, NULL, "sd");
	CHECK_RC(m2->ops->unfinished_list(m2, seen_row, &s), 0);
	CHECK(s.n == 2 && strcmp(s.names[0], "s4") == 0 && strcmp(s.names[1], "s5") == 0);
	seen_init(&s, m1, "sd"); /* recovery: purge what it is handed */
	CHECK_RC(m1->ops->unfinished_list(m1, seen_row, &s), 0);
	CHECK(s.n == 2 && used_of(m1, a) == 10);
	seen_init(&s, NULL, "sd");
	CHECK_RC(m2->ops->unfinished_list(m2, seen_row, &s), 0);
	CHECK(s.n == 0);
}

/* ---- listing ---- */

struct listing {
	int n;
	int stop_at; /* return 5 at this call (1-based), 0: never */
	bool ordered;
	char last[CF_OBJ_NAME_MAX + 1];
};

static int
list_row(void *arg, const struct cfd_obj_info *o)
{
	struct listing *l = arg;

	if (strcmp(o->name, l->last) <= 0 || o->state != CFD_OBJ_LIVE)
		l->ordered = false;
	(void)snprintf(l->last, sizeof(l->last), "%s", o->name);
	return ++l->n == l->stop_at ? 5 : 0;
}

static int
list(struct cfd_meta *m, struct cfd_list_query *q, struct listing *l)
{
	memset(l, 0, sizeof(*l));
	l->ordered = true;
	return m->ops->object_list(m, q, list_row, l);
}

/* Names with '-' (0x2d), which sorts before the digits in byte order, in a shuffled order. */
static void
list_name(char *buf, size_t cap, int i)
{
	(void)snprintf(buf, cap, "%03x%s", (unsigned)(i / 3),
	               i % 3 == 0   ? ""
	               : i % 3 == 1 ? "-0"
	                            : "0");
}

static void
list_fill(struct cfd_meta *m1, struct cfd_meta *m2, const char *a)
{
	char name[16];
	struct cfd_obj_key k;

	for (int j = 0; j < NLIST; j++) {
		int i = (j * 7) % NLIST; /* 7 and NLIST coprime: a permutation */

		list_name(name, sizeof(name), i);
		k = key(a, CF_OBJ_INDEX, name);
		CHECK_RC(put(j % 2 ? m1 : m2, &k, 1), 0);
	}
	k = key(a, CF_OBJ_INDEX, "zz-pending");
	CHECK_RC(m1->ops->object_reserve(m1, &k, 1, NOW, 0), 0);
	k = key(a, CF_OBJ_INDEX, "zz-deleted");
	CHECK_RC(put(m1, &k, 1), 0);
	CHECK_RC(m1->ops->object_delete(m1, &k, NOW), 0);
	k = key(a, CF_OBJ_PACK, "other-kind");
	CHECK_RC(put(m2, &k, 1), 0);
}

static void
test_listing(struct cfd_meta *m1, struct cfd_meta *m2)
{
	char a[CFD_ACCOUNT_MAX + 1];
	struct cfd_list_query q = {.kind = CF_OBJ_INDEX, .after = "", .limit = CFD_LIST_MAX};
	char last[CF_OBJ_NAME_MAX + 1];
	struct listing l;
	int pages = 0;
	int total = 0;

	q.account = acct(a, sizeof(a), "list");
	CHECK_RC(account_new(m1, a, BIG, 1), 0);
	list_fill(m1, m2, a);
	CHECK_RC(list(m2, &q, &l), 0);
	CHECK(l.n == NLIST && l.ordered);
	q.after = "000-0"; /* "000" < "000-0" < "0000" < "001" ... */
	CHECK_RC(list(m1, &q, &l), 0);
	CHECK(l.n == NLIST - 2);
	q.limit = 250; /* pages: 250, 250, 100 */
	q.after = "";
	do {
		CHECK_RC(list(pages % 2 ? m1 : m2, &q, &l), 0);
		CHECK(l.ordered);
		total += l.n;
		pages++;
		(void)snprintf(last, sizeof(last), "%s", l.last);
		q.after = last;
	} while (l.n == 250 && pages < 10);
	CHECK(pages == 3 && total == NLIST);
	q.after = "";
	q.limit = 0;
	CHECK_RC(list(m1, &q, &l), 0);
	CHECK(l.n == 0);
	q.limit = CFD_LIST_MAX;
	CHECK_RC(m1->ops->object_list(m1, &q, list_row, &(struct listing){.stop_at = 3}), 5);
	q.deleted = true;
	CHECK_RC(list(m2, &q, &l), 0);
	CHECK(l.n == 1 && strcmp(l.last, "zz-deleted") == 0);
}

/* ---- settings, account deletion ---- */

static void
test_settings(struct cfd_meta *m1, struct cfd_meta *m2)
{
	char k[CFD_ACCOUNT_MAX + 1];
	int64_t v = 0;

	(void)acct(k, sizeof(k), "retention");
	CHECK_RC(m1->ops->setting_get(m1, k, &v), CF_ENOENT);
	CHECK_RC(m1->ops->setting_set(m1, k, 86400), 0);
	CHECK_RC(m2->ops->setting_get(m2, k, &v), 0);
	CHECK(v == 86400);
	CHECK_RC(m2->ops->setting_set(m2, k, -1), 0);
	CHECK_RC(m1->ops->setting_get(m1, k, &v), 0);
	CHECK(v == -1);
}

static void
test_account_delete(struct cfd_meta *m1, struct cfd_meta *m2)
{
	struct cfd_device d = device(0x31, CFD_ROLE_FULL, false);
	struct cfd_commit c = {.devices = &d, .ndevices = 1};
	char a[CFD_ACCOUNT_MAX + 1];
	uint8_t pk[CF_SIGN_PK_BYTES];
	struct cfd_obj_key k;

	k = key(acct(a, sizeof(a), "gone"), CF_OBJ_PACK, "x");
	CHECK_RC(account_new(m1, a, BIG, 1), 0);
	CHECK_RC(commit_chain(m1, a, "0000000000000001", &c), 0);
	CHECK_RC(put(m2, &k, 5), 0);
	CHECK_RC(m2->ops->account_delete(m2, a), 0);
	CHECK(state_of(m1, &k) == CF_ENOENT);
	CHECK_RC(m1->ops->device_key(m1, d.id, pk), CF_ENOENT);
	CHECK_RC(account_new(m1, a, BIG, 1), 0); /* the name is free again */
	CHECK(state_of(m2, &k) == CF_ENOENT);
}

/*
 * SQLite: a nonce is committed at synchronous=NORMAL, and the next write is at FULL again
 * (meta_sqlite.c): an object is durable before its 201 whatever came before it.
 */
static void
test_sync_levels(struct cfd_meta *m)
{
	char a[CFD_ACCOUNT_MAX + 1];
	uint8_t id[CF_ID_BYTES];
	uint8_t n[CFD_NONCE_BYTES];
	struct cfd_obj_key k;

	if (g_pg)
		return;
	fill(id, sizeof(id), 0x68);
	for (int round = 0; round < 3; round++) {
		run_nonce(n, (uint8_t)(0x21 + round));
		CHECK_RC(m->ops->nonce_use(m, id, n, NOW, NOW + 600), 0);
		CHECK(sq_sync_level(m) == 1);
		run_nonce(n, (uint8_t)(0x31 + round));
		CHECK_RC(m->ops->nonce_use(m, id, n, NOW, NOW + 600), 0);
		CHECK(sq_sync_level(m) == 1);
		if (round == 0)
			CHECK_RC(account_new(m, acct(a, sizeof(a), "sync"), BIG, 1), 0);
		k = key(a, CF_OBJ_PACK, round == 0 ? "s0" : round == 1 ? "s1" : "s2");
		CHECK_RC(put(m, &k, 1), 0);
		CHECK(sq_sync_level(m) == 2);
	}
}

static void
run_all(struct cfd_meta *m1, struct cfd_meta *m2)
{
	test_accounts(m1, m2);
	test_devices(m1, m2);
	test_enroll_race(m1, m2);
	test_objects(m1, m2);
	test_quota_edges(m1, m2);
	test_races(m1, m2);
	test_nonces(m1, m2);
	test_sync_levels(m1);
	test_expiry(m1, m2);
	test_listing(m1, m2);
	test_settings(m1, m2);
	test_account_delete(m1, m2);
}

/* ---- reconnect: one handle across a database restart ---- */

static int
reserve_put(struct race *r, struct cfd_meta *m, int i)
{
	char name[16];
	struct cfd_obj_key k;
	struct cfd_account info;
	int rc;

	(void)snprintf(name, sizeof(name), "r%02d", i);
	k = key(r->account, CF_OBJ_PACK, name);
	if ((rc = m->ops->account_get(m, r->account, &info)) != 0)
		return rc;
	return put(m, &k, 1);
}

static void
run_pause(struct cfd_meta *m)
{
	char a[CFD_ACCOUNT_MAX + 1];
	struct cfd_list_query q = {.kind = CF_OBJ_PACK, .after = "", .limit = 100};
	char line[64];
	struct listing l;
	struct race r;

	memset(&r, 0, sizeof(r));
	r.account = acct(a, sizeof(a), "restart");
	q.account = a;
	CHECK_RC(account_new(m, a, BIG, 1), 0);
	race_run(&r, m, m, reserve_put); /* fills the pool */
	CHECK(race_count(&r, 0) == THREADS);
	(void)printf("paused\n");
	(void)fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		(void)fprintf(stderr, "cf_metatest: no line on stdin, going on\n");
	/* every pooled connection is broken now: each is reset once, transparently */
	CHECK(used_of(m, a) == THREADS);
	CHECK_RC(list(m, &q, &l), 0);
	CHECK(l.n == THREADS);
	memset(&r, 0, sizeof(r));
	r.account = a;
	race_run(&r, m, m, reserve_put); /* same names: all refused, by the database */
	CHECK(race_count(&r, CF_EEXIST) == THREADS);
	test_nonces(m, m);
}

/*
 * deadlock: object_purge of an object whose row another session (psql, driven by the test)
 * holds while it waits for the account row the purge has locked. With a longer
 * deadlock_timeout in that session, the purge is the victim; it must be tried again.
 */
static void
run_deadlock(struct cfd_meta *m)
{
	char a[CFD_ACCOUNT_MAX + 1];
	struct cfd_obj_key k = key(acct(a, sizeof(a), "dl"), CF_OBJ_PACK, "dl-x");
	char line[64];

	CHECK_RC(account_new(m, a, BIG, 1), 0);
	CHECK_RC(put(m, &k, 1), 0);
	(void)printf("ready %s\n", a);
	(void)fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		(void)fprintf(stderr, "cf_metatest: no line on stdin, going on\n");
	CHECK_RC(m->ops->object_purge(m, &k), 0);
	CHECK(state_of(m, &k) == CF_ENOENT && used_of(m, a) == 0);
}

/* ---- main ---- */

static int
meta_open(const char *uri, bool create, struct cfd_meta **out)
{
	if (strncmp(uri, "sqlite:", 7) == 0)
		return cfd_meta_open_sqlite(uri + 7, create, out);
	g_pg = true;
	return cfd_meta_open_pg(uri, create, out);
}

static int
open_only(const char *uri, bool create)
{
	struct cfd_meta *m = NULL;
	int rc = meta_open(uri, create, &m);

	if (rc != 0) {
		(void)printf("error: %s: %s\n", cf_strerror(rc), cf_err_last());
		return 1;
	}
	cfd_meta_close(m);
	(void)printf("ok\n");
	return 0;
}

static int
usage(void)
{
	(void)fputs("usage: cf_metatest [--pause | --deadlock | --open [--create]] "
	            "sqlite:PATH|postgres://...\n",
	            stderr);
	return 2;
}

int
main(int argc, char **argv)
{
	struct cfd_meta *m1 = NULL;
	struct cfd_meta *m2 = NULL;
	const char *uri = argv[argc - 1];
	bool pause = argc == 3 && strcmp(argv[1], "--pause") == 0;
	bool deadlock = argc == 3 && strcmp(argv[1], "--deadlock") == 0;
	bool opening = argc >= 3 && strcmp(argv[1], "--open") == 0;

	if (argc < 2 || (argc > 2 && !pause && !deadlock && !opening) ||
	    (opening && (argc > 4 || (argc == 4 && strcmp(argv[2], "--create") != 0))))
		return usage();
	if (cf_init() != 0) {
		(void)fputs("cf_metatest: cannot initialise\n", stderr);
		return 2;
	}
	(void)snprintf(g_prefix, sizeof(g_prefix), "mt%x%lx-", (unsigned)getpid(),
	               (unsigned long)time(NULL));
	if (opening)
		return open_only(uri, argc == 4);
	if (meta_open(uri, true, &m1) != 0 || (argc == 2 && meta_open(uri, false, &m2) != 0)) {
		(void)fprintf(stderr, "cf_metatest: cannot open: %s\n", cf_err_last());
		cfd_meta_close(m1);
		return 2;
	}
	if (pause)
		run_pause(m1);
	else if (deadlock)
		run_deadlock(m1);
	else
		run_all(m1, m2);
	cfd_meta_close(m2);
	cfd_meta_close(m1);
	(void)printf("%d passed, %d failed\n", g_pass, g_fail);
	return g_fail == 0 ? 0 : 1;
}
