/*
 * seqs.c - per-device snapshot sequences (docs/format.md 10.2): every device numbers its
 * snapshots 1, 2, 3... and links each to the previous one's hash, all under its signature.
 * A storage side that withholds, deletes or rolls back snapshots leaves a gap, a broken link
 * or a sequence lower than one this device has already seen, and is caught here. Only clear
 * headers and signatures are read, so backup-only devices check too.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../buf/buf.h"
#include "../device/device.h"
#include "../retention/records.h"
#include "repo.h"

#define SEQS_FILE_MAX (1u << 22)

struct seq_rec {
	uint8_t device[CF_ID_BYTES];
	uint64_t seq;
	uint8_t prev[CF_HASH_BYTES];
	uint8_t hash[CF_HASH_BYTES];
	bool forgotten; /* from a forget record (docs/format.md 16.1) */
};

/* A bad snapshot object met in the listing: its name and the message naming it. */
struct seq_bad {
	char name[CF_OBJ_NAME_MAX + 1]; /* whole: a longer name cut to an id would name another */
	char msg[256];
};

struct seq_list {
	struct cf_repo *r;
	const struct cf_events *ev;
	struct seq_rec *v;
	size_t n;
	size_t cap;
	uint64_t problems;
	char first[1024];
	uint8_t *seen; /* the seen file, read before anything is listed; NULL: none */
	size_t nseen;
	struct seq_bad *bad; /* bad objects met in the listing, noted once records are read */
	size_t nbad;
};

static void seq_problem(struct seq_list *l, const char *fmt, ...) CF_PRINTF(2, 3);

static void
seq_problem(struct seq_list *l, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (l->problems++ == 0)
		(void)snprintf(l->first, sizeof(l->first), "%s", msg);
	cf_emit_item(l->ev, CF_EV_PROBLEM, CF_EINTEGRITY, NULL, 0, "%s", msg);
}

/*
 * A snapshot object that is damaged or forged: kept aside until the forget records are read
 * (a forgotten one awaiting deletion is nothing to report), then reported and left out. It
 * fails nothing by itself (P10: the other snapshots still list and restore); a gap it leaves
 * in a sequence is explained only when the next snapshot or this device's seen file names it.
 */
static int bad_snapshot(struct seq_list *l, const char *name, const char *fmt, ...) CF_PRINTF(3, 4);

static int
bad_snapshot(struct seq_list *l, const char *name, const char *fmt, ...)
{
	struct seq_bad *nv = NULL;
	size_t sz = 0;
	va_list ap;

	if (cf_size_mul(l->nbad + 1, sizeof(*nv), &sz) != 0 ||
	    (nv = cf_realloc(l->bad, sz)) == NULL)
		return CF_ENOMEM;
	l->bad = nv;
	nv = &l->bad[l->nbad++];
	(void)snprintf(nv->name, sizeof(nv->name), "%s", name);
	va_start(ap, fmt);
	(void)vsnprintf(nv->msg, sizeof(nv->msg), fmt, ap);
	va_end(ap);
	return 0;
}

/* Report and note the bad objects that no forget record covers. */
static int
note_bad(struct seq_list *l)
{
	int rc = 0;

	for (size_t i = 0; i < l->nbad && rc == 0; i++) {
		if (cf_repo_forgotten_name(l->r, l->bad[i].name))
			continue;
		cf_emit_item(l->ev, CF_EV_PROBLEM, CF_EINTEGRITY, NULL, 0, "%s", l->bad[i].msg);
		rc = cf_repo_note_bad_snapshot(l->r, l->bad[i].name, l->bad[i].msg);
	}
	return rc;
}

/* Is @hash the name of a snapshot object left out as bad? */
static bool
bad_hash(const struct seq_list *l, const uint8_t hash[static CF_HASH_BYTES])
{
	static_assert(CF_HASH_BYTES == CF_ID_BYTES, "a snapshot's id is its hash");
	return cf_repo_is_bad_id(l->r, hash);
}

/* "name (id prefix)" of a device, for messages. */
static void
who(const struct cf_repo *r, const uint8_t id[static CF_ID_BYTES], char *out, size_t cap)
{
	const struct cf_chain_device *d = cf_chain_find_device(r->chain, id);
	char hex[2 * CF_ID_BYTES + 1];

	cf_hex(hex, id, CF_ID_BYTES);
	(void)snprintf(out, cap, "device '%s' (%.16s)", d != NULL ? d->name : "?", hex);
}

static int
push(struct seq_list *l, const struct seq_rec *rec)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap == 0 ? 64 : l->cap * 2;
		struct seq_rec *nv = cf_realloc(l->v, ncap * sizeof(*nv));

		if (nv == NULL)
			return CF_ENOMEM;
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = *rec;
	return 0;
}

/* Read one snapshot's clear header and check who signed it. */
static int
collect_head(void *arg, const char *name, uint64_t size)
{
	struct seq_list *l = arg;
	struct cf_snapshot_head h;
	const struct cf_chain_device *d = NULL;
	struct seq_rec rec;
	uint8_t *obj = NULL;
	size_t len = 0;
	int rc;

	(void)size;
	rc = cf_store_get(l->r->store, CF_OBJ_SNAPSHOT, name, 0, SIZE_MAX, CF_SNAPSHOT_MAX_BYTES,
	                  &obj, &len);
	if (rc == CF_ENOENT)
		return 0;
	if (rc != 0 && rc != CF_ETOOBIG)
		return rc;
	memset(&rec, 0, sizeof(rec));
	cf_hash(rec.hash, obj, len);
	if (rc != 0 || cf_snapshot_read_head(obj, len, &h) != 0 ||
	    cf_unhex(rec.prev, sizeof(rec.prev), name, strlen(name)) != 0 ||
	    memcmp(rec.prev, rec.hash, CF_HASH_BYTES) != 0)
		rc = bad_snapshot(l, name, "snapshot %.16s is malformed or does not match its name",
		                  name);
	else if ((d = cf_chain_find_device(l->r->chain, h.device)) == NULL ||
	         cf_snapshot_verify(obj, len, l->r->chain->repo_id, d->sign_pk) != 0)
		rc = bad_snapshot(l, name,
		                  "snapshot %.16s is not signed by a device of this repository",
		                  name);
	else if (d->removed && h.seq > d->last_seq)
		rc = bad_snapshot(
		        l, name,
		        "snapshot %.16s was written by revoked device '%s' after its revocation",
		        name, d->name);
	else {
		memcpy(rec.device, h.device, CF_ID_BYTES);
		rec.seq = h.seq;
		memcpy(rec.prev, h.prev, CF_HASH_BYTES);
		rc = push(l, &rec);
	}
	cf_free(obj);
	return rc == CF_ETOOBIG ? 0 : rc;
}

static int
rec_cmp(const void *a, const void *b)
{
	const struct seq_rec *x = a;
	const struct seq_rec *y = b;
	int c = memcmp(x->device, y->device, CF_ID_BYTES);

	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq ? 1 : 0;
}

/* Forgotten snapshots stand in the sequence as their forget entries. */
static int
add_forgotten(struct seq_list *l)
{
	const struct cf_records *rec = l->r->rec;
	int rc = 0;

	for (size_t i = 0; i < rec->nforgot && rc == 0; i++) {
		struct seq_rec s;

		memcpy(s.device, rec->forgot[i].device, CF_ID_BYTES);
		s.seq = rec->forgot[i].seq;
		memcpy(s.prev, rec->forgot[i].prev, CF_HASH_BYTES);
		memcpy(s.hash, rec->forgot[i].hash, CF_HASH_BYTES);
		s.forgotten = true;
		rc = push(l, &s);
	}
	return rc;
}

/*
 * In the sorted list, one (device, seq) may appear as a snapshot and as forget entries: they
 * must be the same snapshot; keep one.
 */
static void
merge_same(struct seq_list *l)
{
	size_t w = 0;
	char dev[128];

	for (size_t k = 0; k < l->n; k++) {
		struct seq_rec *prev = w > 0 ? &l->v[w - 1] : NULL;

		if (prev != NULL && rec_cmp(prev, &l->v[k]) == 0) {
			if (memcmp(prev->hash, l->v[k].hash, CF_HASH_BYTES) != 0 ||
			    memcmp(prev->prev, l->v[k].prev, CF_HASH_BYTES) != 0) {
				who(l->r, prev->device, dev, sizeof(dev));
				seq_problem(l, "%s: snapshot %llu is recorded twice, differently",
				            dev, (unsigned long long)prev->seq);
			}
			prev->forgotten = prev->forgotten || l->v[k].forgotten;
			continue;
		}
		l->v[w++] = l->v[k];
	}
	l->n = w;
}

/*
 * Within one device's run [i, j): sequences 1..n, each linked to the one before. One missing
 * snapshot is explained when its object was left out as bad and the next one names it.
 */
static void
check_run(struct seq_list *l, size_t i, size_t j)
{
	static const uint8_t zeros[CF_HASH_BYTES];
	const uint8_t *prev = zeros;
	uint64_t want = 1;
	char dev[128];

	who(l->r, l->v[i].device, dev, sizeof(dev));
	for (size_t k = i; k < j; k++, want++) {
		if (l->v[k].seq == want + 1 && bad_hash(l, l->v[k].prev)) {
			want++; /* reported as bad already */
			prev = l->v[k].prev;
		}
		if (l->v[k].seq != want) {
			seq_problem(l,
			            "%s: snapshot %llu is missing or duplicated (withheld, deleted "
			            "or forged)",
			            dev, (unsigned long long)want);
			return;
		}
		if (memcmp(l->v[k].prev, prev, CF_HASH_BYTES) != 0) {
			seq_problem(l, "%s: snapshot %llu does not follow snapshot %llu", dev,
			            (unsigned long long)want, (unsigned long long)want - 1);
			return;
		}
		prev = l->v[k].hash;
	}
}

static char *
seqs_path(const struct cf_repo *r)
{
	char fp[2 * CF_HASH_BYTES + 1];
	size_t n = strlen(r->home) + sizeof("/repos//seqs") + sizeof(fp);
	char *p = cf_malloc(n);

	cf_hex(fp, r->chain->fingerprint, CF_HASH_BYTES);
	if (p != NULL)
		(void)snprintf(p, n, "%s/repos/%s/seqs", r->home, fp);
	return p;
}

/* The snapshot of @device with @seq in the sorted list, or NULL. */
static const struct seq_rec *
find_rec(const struct seq_list *l, const uint8_t device[static CF_ID_BYTES], uint64_t seq)
{
	for (size_t k = 0; k < l->n; k++)
		if (memcmp(l->v[k].device, device, CF_ID_BYTES) == 0 && l->v[k].seq == seq)
			return &l->v[k];
	return NULL;
}

/* A line "<device hex> <seq> <hash hex>" of the seen file (@line is changed); false if bad. */
static bool
parse_seen(char *line, uint8_t device[static CF_ID_BYTES], uint64_t *seq,
           uint8_t hash[static CF_HASH_BYTES])
{
	char *sp1 = strchr(line, ' ');
	char *sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;

	if (sp2 == NULL)
		return false;
	*sp1 = '\0';
	*sp2 = '\0';
	return cf_unhex(device, CF_ID_BYTES, line, strlen(line)) == 0 &&
	       cf_parse_u64(sp1 + 1, 1, UINT64_MAX, seq) == 0 &&
	       cf_unhex(hash, CF_HASH_BYTES, sp2 + 1, strlen(sp2 + 1)) == 0;
}

/* Call @fn for every well-formed line of the seen file @file. */
static void
each_seen(const uint8_t *file, size_t len,
          void (*fn)(void *, const uint8_t *, uint64_t, const uint8_t *), void *arg)
{
	for (size_t s = 0; file != NULL && s < len;) {
		uint8_t device[CF_ID_BYTES];
		uint8_t hash[CF_HASH_BYTES];
		uint64_t seq = 0;
		size_t e = s;
		char line[256];

		while (e < len && file[e] != '\n')
			e++;
		if (e - s < sizeof(line)) {
			memcpy(line, file + s, e - s);
			line[e - s] = '\0';
			if (parse_seen(line, device, &seq, hash))
				fn(arg, device, seq, hash);
		}
		s = e + 1;
	}
}

/* The newest sequence of @device in the sorted list; 0: none. */
static uint64_t
newest_seq(const struct seq_list *l, const uint8_t device[static CF_ID_BYTES])
{
	uint64_t n = 0;

	for (size_t k = 0; k < l->n; k++)
		if (memcmp(l->v[k].device, device, CF_ID_BYTES) == 0 && l->v[k].seq > n)
			n = l->v[k].seq;
	return n;
}

/*
 * Is snapshot @seq of @device, missing from the list, the bad object named @hash, in its
 * place: named as prev by the listed one after it, or right after the newest listed? Any
 * other snapshot missing is a gap, whatever bad objects there are.
 */
static bool
bad_in_place(const struct seq_list *l, const uint8_t device[static CF_ID_BYTES], uint64_t seq,
             const uint8_t hash[static CF_HASH_BYTES])
{
	const struct seq_rec *next = find_rec(l, device, seq + 1);

	if (!bad_hash(l, hash))
		return false;
	if (next != NULL)
		return memcmp(next->prev, hash, CF_HASH_BYTES) == 0;
	return newest_seq(l, device) + 1 == seq;
}

/* One recorded head: is it still there, unchanged? */
static void
check_recorded(void *arg, const uint8_t *device, uint64_t seq, const uint8_t *hash)
{
	struct seq_list *l = arg;
	const struct seq_rec *rec = NULL;
	char dev[128];

	who(l->r, device, dev, sizeof(dev));
	if ((rec = find_rec(l, device, seq)) == NULL && bad_in_place(l, device, seq, hash))
		return; /* there, but damaged: reported as such */
	if (rec == NULL)
		seq_problem(l, "%s: snapshot %llu, seen before, is gone (rollback or deletion)",
		            dev, (unsigned long long)seq);
	else if (memcmp(rec->hash, hash, CF_HASH_BYTES) != 0)
		seq_problem(l, "%s: snapshot %llu differs from the one seen before", dev,
		            (unsigned long long)seq);
}

/*
 * The seen file is read before the listings: a snapshot another process of this device
 * writes (and records as seen) meanwhile is then neither listed nor expected, instead of
 * expected and not listed (a false "gone").
 */
static int
read_seen(struct seq_list *l)
{
	char *path = seqs_path(l->r);
	int rc;

	if (path == NULL)
		return CF_ENOMEM;
	rc = cf_read_file(path, SEQS_FILE_MAX, &l->seen, &l->nseen);
	cf_free(path);
	if (rc == CF_ENOENT) {
		cf_err_clear();
		l->seen = NULL;
		l->nseen = 0;
		return 0;
	}
	return rc;
}

static void
check_against_seen(struct seq_list *l)
{
	each_seen(l->seen, l->nseen, check_recorded, l);
}

/* The heads to record, and the file's own lines that are newer than ours. */
struct seen_merge {
	const struct seq_list *l;
	struct cf_buf *b;
	int rc;
};

static int
put_seen(struct cf_buf *b, const uint8_t *device, uint64_t seq, const uint8_t *hash)
{
	char dev[2 * CF_ID_BYTES + 1];
	char hx[2 * CF_HASH_BYTES + 1];
	char line[256];

	cf_hex(dev, device, CF_ID_BYTES);
	cf_hex(hx, hash, CF_HASH_BYTES);
	(void)snprintf(line, sizeof(line), "%s %llu %s\n", dev, (unsigned long long)seq, hx);
	return cf_buf_put(b, line, strlen(line));
}

/* The newest head of @device in the list, or NULL. */
static const struct seq_rec *
newest_of(const struct seq_list *l, const uint8_t *device)
{
	const struct seq_rec *best = NULL;

	for (size_t k = 0; k < l->n; k++)
		if (memcmp(l->v[k].device, device, CF_ID_BYTES) == 0)
			best = &l->v[k]; /* sorted by seq within a device */
	return best;
}

/* A head another process recorded meanwhile, newer than what we saw, stays. */
static void
keep_newer(void *arg, const uint8_t *device, uint64_t seq, const uint8_t *hash)
{
	struct seen_merge *m = arg;
	const struct seq_rec *ours = newest_of(m->l, device);

	if (m->rc == 0 && (ours == NULL || ours->seq < seq))
		m->rc = put_seen(m->b, device, seq, hash);
}

/* The highest seq the file records for one device. */
struct file_head {
	const uint8_t *device;
	uint64_t seq;
};

static void
file_seq(void *arg, const uint8_t *device, uint64_t seq, const uint8_t *hash)
{
	struct file_head *fh = arg;

	(void)hash;
	if (memcmp(device, fh->device, CF_ID_BYTES) == 0 && seq > fh->seq)
		fh->seq = seq;
}

/*
 * Record the newest snapshot of every device as seen. Another process of this device may have
 * recorded newer heads since we read the file: those are kept, so a head never goes back.
 */
static int
record_seen(struct seq_list *l)
{
	char *path = seqs_path(l->r);
	char *lock = NULL;
	uint8_t *cur = NULL;
	size_t ncur = 0;
	struct seen_merge m;
	struct cf_buf b;
	int lockfd = -1;
	int rc = 0;

	if (path == NULL)
		return CF_ENOMEM;
	/* read and write under a lock: another process's head in between would be lost */
	if ((lock = cf_malloc(strlen(path) + sizeof(".lock"))) == NULL) {
		cf_free(path);
		return CF_ENOMEM;
	}
	(void)snprintf(lock, strlen(path) + sizeof(".lock"), "%s.lock", path);
	rc = cf_lock_file(lock, &lockfd);
	cf_free(lock);
	if (rc != 0) {
		cf_free(path);
		return rc;
	}
	if (cf_read_file(path, SEQS_FILE_MAX, &cur, &ncur) != 0) {
		cf_err_clear(); /* none yet, or unreadable: ours alone */
		cur = NULL;
		ncur = 0;
	}
	cf_buf_init(&b, SEQS_FILE_MAX);
	m.l = l;
	m.b = &b;
	m.rc = 0;
	each_seen(cur, ncur, keep_newer, &m);
	rc = m.rc;
	for (size_t k = 0; k < l->n && rc == 0; k++) {
		struct file_head fh = {l->v[k].device, 0};

		if (k + 1 < l->n && memcmp(l->v[k].device, l->v[k + 1].device, CF_ID_BYTES) == 0)
			continue; /* not the newest of its device */
		each_seen(cur, ncur, file_seq, &fh);
		if (fh.seq > l->v[k].seq)
			continue; /* the file's newer head was kept above */
		rc = put_seen(&b, l->v[k].device, l->v[k].seq, l->v[k].hash);
	}
	cf_free(cur);
	if (rc == 0)
		rc = cf_write_file_atomic(path, b.p != NULL ? b.p : (const uint8_t *)"", b.len,
		                          0600);
	(void)close(lockfd);
	cf_buf_release(&b);
	cf_free(path);
	return rc;
}

int
cf_repo_record_own(struct cf_repo *r, uint64_t seq, const uint8_t hash[static CF_HASH_BYTES])
{
	struct seq_rec rec;
	struct seq_list l;
	int rc;

	memset(&rec, 0, sizeof(rec));
	memset(&l, 0, sizeof(l));
	memcpy(rec.device, r->dev->id, CF_ID_BYTES);
	rec.seq = seq;
	memcpy(rec.hash, hash, CF_HASH_BYTES);
	l.r = r;
	l.v = &rec;
	l.n = 1;
	if ((rc = record_seen(&l)) != 0)
		return rc;
	r->own_seq = seq;
	memcpy(r->own_hash, hash, CF_HASH_BYTES);
	return 0;
}

/* Keep the ids of the snapshots verified and not forgotten: what prune must walk. */
static int
keep_heads(struct seq_list *l)
{
	struct cf_repo *r = l->r;

	cf_free(r->heads);
	r->heads = NULL;
	r->nheads = 0;
	if (l->n == 0)
		return 0;
	if ((r->heads = cf_calloc(l->n, CF_ID_BYTES)) == NULL)
		return CF_ENOMEM;
	for (size_t k = 0; k < l->n; k++)
		if (!l->v[k].forgotten)
			memcpy(r->heads[r->nheads++], l->v[k].hash, CF_ID_BYTES);
	return 0;
}

/* Keep every device's newest sequence number (prune's observe record needs them). */
static int
keep_newest(struct seq_list *l)
{
	struct cf_repo *r = l->r;
	size_t n = 0;

	cf_free(r->dev_seqs);
	r->dev_seqs = NULL;
	r->ndev_seqs = 0;
	if (l->n == 0)
		return 0;
	if ((r->dev_seqs = cf_calloc(l->n, sizeof(*r->dev_seqs))) == NULL)
		return CF_ENOMEM;
	for (size_t k = 0; k < l->n; k++) {
		if (k + 1 < l->n && memcmp(l->v[k].device, l->v[k + 1].device, CF_ID_BYTES) == 0)
			continue;
		memcpy(r->dev_seqs[n].device, l->v[k].device, CF_ID_BYTES);
		r->dev_seqs[n++].seq = l->v[k].seq;
	}
	r->ndev_seqs = n;
	return keep_heads(l);
}

/* This device's newest snapshot in the seen file, when its object is there but bad. */
static void
own_bad_head(void *arg, const uint8_t *device, uint64_t seq, const uint8_t *hash)
{
	struct seq_list *l = arg;
	struct cf_repo *r = l->r;

	if (memcmp(device, r->dev->id, CF_ID_BYTES) == 0 && seq == r->own_seq + 1 &&
	    bad_hash(l, hash)) {
		r->own_seq = seq;
		memcpy(r->own_hash, hash, CF_HASH_BYTES);
	}
}

/*
 * Remember this device's newest snapshot: the next one it writes follows it, even when that
 * one's object is damaged now (the seen file names it).
 */
static void
note_own(struct seq_list *l)
{
	struct cf_repo *r = l->r;

	r->own_seq = 0;
	memset(r->own_hash, 0, sizeof(r->own_hash));
	for (size_t k = 0; k < l->n; k++) {
		if (memcmp(l->v[k].device, r->dev->id, CF_ID_BYTES) == 0 &&
		    l->v[k].seq > r->own_seq) {
			r->own_seq = l->v[k].seq;
			memcpy(r->own_hash, l->v[k].hash, CF_HASH_BYTES);
		}
	}
	each_seen(l->seen, l->nseen, own_bad_head, l);
	r->seqs_verified = true;
}

int
cf_repo_verify_seqs(struct cf_repo *r, const struct cf_events *ev)
{
	struct seq_list l;
	int rc;

	memset(&l, 0, sizeof(l));
	l.r = r;
	l.ev = ev;
	r->seqs_verified = false; /* a failed check leaves nothing trusted behind */
	/* seen, then heads, then records: a snapshot deleted meanwhile was recorded before */
	if ((rc = read_seen(&l)) != 0 ||
	    (rc = cf_store_list(r->store, CF_OBJ_SNAPSHOT, collect_head, &l)) != 0 ||
	    (rc = cf_repo_reload_records(r)) != 0 || (rc = add_forgotten(&l)) != 0 ||
	    (rc = note_bad(&l)) != 0)
		goto out;
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), rec_cmp);
	merge_same(&l);
	for (size_t i = 0, j; i < l.n; i = j) {
		for (j = i + 1; j < l.n && memcmp(l.v[j].device, l.v[i].device, CF_ID_BYTES) == 0;)
			j++;
		check_run(&l, i, j);
	}
	check_against_seen(&l);
	if (l.problems > 0) {
		rc = cf_err_set(CF_EINTEGRITY, "%s", l.first);
		goto out;
	}
	if ((rc = record_seen(&l)) == 0 && (rc = keep_newest(&l)) == 0)
		note_own(&l);
out:
	cf_free(l.bad);
	cf_free(l.seen);
	cf_free(l.v);
	return rc;
}
