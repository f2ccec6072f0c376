/*
 * backup_pipe.c - the backup's worker threads.
 *
 * Two stages, each with a bounded queue: compress/encrypt workers take blobs and fill packs;
 * store threads take finished packs and write each one followed by its index object (packs
 * before index: docs/format.md 3). Storing is a stage of its own because every object is
 * fsynced: a worker that waited for the disk would leave its core idle.
 */
#include <string.h>

#include "../compress/compress.h"
#include "backup.h"

/*
 * Blobs queued per worker, and in all. With one per worker, the workers often found the
 * queue empty while the reading thread waited for a core (three busy threads on two):
 * 2.95-3.03 s for the 1 GiB bench set, against 2.78-2.84 s with four; eight gave nothing
 * more. The total stays at what one per worker allowed with the most workers, so the
 * plaintext in the queue is at most QUEUE_MAX chunks of up to 8 MiB.
 */
#define QUEUE_PER_WORKER 4
#define MAX_WORKERS      16
#define QUEUE_MAX        (MAX_WORKERS + 1)
#define STORE_THREADS    3
#define STORE_QUEUE      4 /* finished packs waiting for the disk (in temporary files) */
#define ZSTD_LEVEL       1

/* A finished pack on its way to the store: in a temporary file of the store, not in memory. */
struct bk_done {
	struct cf_store_tmp *tmp;
	struct cf_index_pack ip;
	uint64_t min_seq; /* lowest data job number in the pack; 0: none */
};

/* A bounded FIFO of fixed-size items, guarded by the pipe's mutex. */
struct bk_queue {
	void *items;
	size_t size; /* bytes per item */
	size_t cap;
	size_t head;
	size_t count;
	bool closing;
	pthread_cond_t not_empty;
	pthread_cond_t not_full;
};

struct bk_worker {
	struct bk_pipe *p;
	pthread_t th;
	struct cf_zctx *z;
	struct cf_pack_writer *w[2]; /* data, tree; kept for the whole backup (restarted) */
	struct cf_store_tmp *tmp[2]; /* the file of the writer's open pack; NULL: none open */
	uint8_t *cbuf;
	size_t ccap;
	/* Data jobs not yet durable that this worker holds (guarded by the pipe's mutex):
	 * the job being processed, and the lowest one in its open data pack; 0: none. */
	uint64_t cur_seq;
	uint64_t pack_seq;
};

/* What a store thread is started with: the pipe and its slot in store_seq. */
struct bk_store_arg {
	struct bk_pipe *p;
	size_t slot;
};

struct bk_pipe {
	struct cf_repo *r;
	pthread_mutex_t mu;
	struct bk_queue jobs;
	struct bk_queue done;
	int nworkers;
	int started;
	int nstore;
	struct bk_worker workers[MAX_WORKERS];
	pthread_t store_th[STORE_THREADS];
	struct bk_store_arg store_arg[STORE_THREADS];
	uint64_t store_seq[STORE_THREADS]; /* min_seq of the pack each store thread holds */
	uint64_t submitted;                /* data jobs numbered so far */
	uint64_t durable_cap;              /* after a failure: durable when it happened */
	atomic_int err;
	char errmsg[1024];
};

static int
queue_init(struct bk_queue *q, size_t size, size_t cap)
{
	memset(q, 0, sizeof(*q));
	q->size = size;
	q->cap = cap;
	if ((q->items = cf_calloc(cap, size)) == NULL)
		return CF_ENOMEM;
	pthread_cond_init(&q->not_empty, NULL);
	pthread_cond_init(&q->not_full, NULL);
	return 0;
}

static void *
queue_slot(struct bk_queue *q, size_t i)
{
	return (uint8_t *)q->items + ((q->head + i) % q->cap) * q->size;
}

static const void *
queue_slot_c(const struct bk_queue *q, size_t i)
{
	return (const uint8_t *)q->items + ((q->head + i) % q->cap) * q->size;
}

/* Append @item (copied); waits while full. False when the pipe failed first. Lock held. */
static bool
queue_push(struct bk_pipe *p, struct bk_queue *q, const void *item)
{
	while (q->count == q->cap && p->err == 0)
		pthread_cond_wait(&q->not_full, &p->mu);
	if (p->err != 0)
		return false;
	memcpy(queue_slot(q, q->count), item, q->size);
	q->count++;
	pthread_cond_signal(&q->not_empty);
	return true;
}

/* Take the oldest item into @item; false when the queue is closed and empty. Lock held. */
static bool
queue_pop(struct bk_pipe *p, struct bk_queue *q, void *item)
{
	while (q->count == 0 && !q->closing)
		pthread_cond_wait(&q->not_empty, &p->mu);
	if (q->count == 0)
		return false;
	memcpy(item, queue_slot(q, 0), q->size);
	q->head = (q->head + 1) % q->cap;
	q->count--;
	pthread_cond_signal(&q->not_full);
	return true;
}

static void
queue_close(struct bk_pipe *p, struct bk_queue *q)
{
	if (q->items == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	q->closing = true;
	pthread_cond_broadcast(&q->not_empty);
	pthread_mutex_unlock(&p->mu);
}

static void
queue_release(struct bk_queue *q)
{
	if (q->items == NULL)
		return;
	cf_free(q->items);
	pthread_cond_destroy(&q->not_empty);
	pthread_cond_destroy(&q->not_full);
	q->items = NULL;
}

/* The lowest of @lo and @seq, where 0 means "nothing held". */
static uint64_t
lowest(uint64_t lo, uint64_t seq)
{
	return seq != 0 && seq < lo ? seq : lo;
}

/*
 * Every data job still somewhere in the pipe is in the job queue (oldest first), is a
 * worker's current job or in its open data pack, in a finished pack waiting for the store,
 * or in the pack a store thread is writing. The lowest of those, less one, is durable.
 */
static uint64_t
durable_locked(const struct bk_pipe *p)
{
	uint64_t lo = p->submitted + 1;

	for (size_t i = 0; i < p->jobs.count; i++)
		lo = lowest(lo, ((const struct bk_job *)queue_slot_c(&p->jobs, i))->seq);
	for (int i = 0; i < p->nworkers; i++) {
		lo = lowest(lo, p->workers[i].cur_seq);
		lo = lowest(lo, p->workers[i].pack_seq);
	}
	for (size_t i = 0; i < p->done.count; i++)
		lo = lowest(lo, ((const struct bk_done *)queue_slot_c(&p->done, i))->min_seq);
	for (int i = 0; i < STORE_THREADS; i++)
		lo = lowest(lo, p->store_seq[i]);
	return lo - 1;
}

/*
 * Record the first error; later ones are dropped. Wakes every waiter. What is durable stops
 * here: every job the failure may lose is still held where cf_pipe_durable() looks, and the
 * threads go on popping (and dropping) work, which must not count as stored.
 */
static void
pipe_fail(struct bk_pipe *p, int rc)
{
	pthread_mutex_lock(&p->mu);
	if (p->err == 0) {
		p->err = rc;
		p->durable_cap = durable_locked(p);
		cf_err_copy(p->errmsg, sizeof(p->errmsg));
	}
	pthread_cond_broadcast(&p->jobs.not_full);
	pthread_cond_broadcast(&p->done.not_full);
	pthread_mutex_unlock(&p->mu);
}

static void
done_release(struct bk_done *d)
{
	cf_store_tmp_free(d->tmp); /* removes the file unless it was stored */
	cf_free(d->ip.entries);
	memset(d, 0, sizeof(*d));
}

/* Store a finished pack, then an index object that names its blobs. */
static int
store_done(struct bk_pipe *p, const struct bk_done *d)
{
	return cf_repo_store_pack_tmp(p->r, d->tmp, &d->ip, NULL);
}

static void *
store_main(void *arg)
{
	const struct bk_store_arg *a = arg;
	struct bk_pipe *p = a->p;
	size_t slot = a->slot;
	struct bk_done d;
	bool got;
	int rc;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		got = queue_pop(p, &p->done, &d);
		if (got)
			p->store_seq[slot] = d.min_seq;
		pthread_mutex_unlock(&p->mu);
		if (!got)
			break;
		rc = p->err == 0 ? store_done(p, &d) : 0;
		done_release(&d);
		if (rc != 0)
			pipe_fail(p, rc);
		else { /* stored, or dropped after a failure (durable_cap holds then) */
			pthread_mutex_lock(&p->mu);
			p->store_seq[slot] = 0;
			pthread_mutex_unlock(&p->mu);
		}
	}
	return NULL;
}

/* The pack writers' sink: the pack's temporary file. */
static int
tmp_sink(void *arg, const uint8_t *p, size_t len)
{
	return cf_store_tmp_write(arg, p, len);
}

/* Drop the worker's pack of one type; with @writer_too also its writer (after a failure). */
static void
drop_pack(struct bk_worker *wk, int slot, bool writer_too)
{
	cf_store_tmp_free(wk->tmp[slot]);
	wk->tmp[slot] = NULL;
	if (writer_too) {
		cf_pack_writer_free(wk->w[slot]);
		wk->w[slot] = NULL;
	}
}

/* Open a pack of one type, if none is: a new temporary file, and the writer (re)started on it. */
static int
open_pack(struct bk_worker *wk, int slot)
{
	struct cf_repo *r = wk->p->r;
	const uint8_t *dk_pub = r->chain->dk_pub[r->epoch];
	int rc;

	if (wk->tmp[slot] != NULL)
		return 0;
	if ((rc = cf_store_tmp_new(r->store, &wk->tmp[slot])) != 0)
		return rc;
	if (wk->w[slot] == NULL)
		rc = cf_pack_writer_new_stream(r->chain->repo_id, r->epoch, dk_pub, tmp_sink,
		                               wk->tmp[slot], &wk->w[slot]);
	else
		rc = cf_pack_writer_restart(wk->w[slot], r->epoch, dk_pub, tmp_sink, wk->tmp[slot]);
	if (rc != 0)
		drop_pack(wk, slot, true);
	return rc;
}

/* Finish the worker's pack of one type and hand its file to the store threads. */
static int
flush_writer(struct bk_worker *wk, int slot)
{
	struct cf_pack_writer *w = wk->w[slot];
	const struct cf_pack_entry *ents = NULL;
	struct bk_done d;
	bool queued = false;
	int rc = 0;

	memset(&d, 0, sizeof(d));
	d.tmp = wk->tmp[slot];
	wk->tmp[slot] = NULL;
	if (d.tmp == NULL || cf_pack_writer_count(w) == 0)
		goto out;
	if ((rc = cf_pack_writer_finish_stream(w, &d.ip.len, d.ip.id)) != 0 ||
	    (rc = cf_store_tmp_finish(d.tmp)) != 0)
		goto out;
	ents = cf_pack_writer_entries(w, &d.ip.count);
	if ((d.ip.entries = cf_memdup(ents, d.ip.count * sizeof(*ents))) == NULL) {
		rc = CF_ENOMEM;
		goto out;
	}
	pthread_mutex_lock(&wk->p->mu);
	if (slot == 0)
		d.min_seq = wk->pack_seq;
	queued = queue_push(wk->p, &wk->p->done, &d);
	if (queued && slot == 0)
		wk->pack_seq = 0; /* the pack holds them now; until here they were the worker's */
	pthread_mutex_unlock(&wk->p->mu);
out:
	if (!queued)
		done_release(&d);
	if (rc != 0) { /* the writer may hold a lost pack: start afresh */
		cf_pack_writer_free(w);
		wk->w[slot] = NULL;
	}
	return rc;
}

/* Add one encoded payload to the worker's pack of that type, rolling packs as they fill. */
static int
add_blob(struct bk_worker *wk, const struct bk_job *j, uint8_t comp, const uint8_t *payload,
         size_t plen)
{
	int slot = j->type == CF_BLOB_TREE ? 1 : 0;
	int rc = 0;

	for (int attempt = 0; attempt < 2; attempt++) {
		if ((rc = open_pack(wk, slot)) != 0)
			return rc;
		rc = cf_pack_writer_add(wk->w[slot], j->type, comp, j->id, (uint32_t)j->len,
		                        payload, plen);
		if (rc != CF_ETOOBIG || cf_pack_writer_count(wk->w[slot]) == 0)
			break;
		if ((rc = flush_writer(wk, slot)) != 0)
			return rc;
	}
	if (rc == 0 && j->seq != 0) {
		pthread_mutex_lock(&wk->p->mu);
		if (wk->pack_seq == 0)
			wk->pack_seq = j->seq;
		pthread_mutex_unlock(&wk->p->mu);
	}
	if (rc == 0 && cf_pack_writer_bytes(wk->w[slot]) >= CF_PACK_TARGET_BYTES)
		rc = flush_writer(wk, slot);
	return rc;
}

static int
process(struct bk_worker *wk, const struct bk_job *j)
{
	size_t need = cf_compress_bound(j->len);
	size_t clen = 0;
	bool used = false;
	int rc;

	if (need > wk->ccap) {
		cf_free_wipe(wk->cbuf, wk->ccap);
		if ((wk->cbuf = cf_malloc(need)) == NULL) {
			wk->ccap = 0;
			return CF_ENOMEM;
		}
		wk->ccap = need;
	}
	if ((rc = cf_compress(wk->z, j->data, j->len, wk->cbuf, wk->ccap, &clen, &used)) != 0)
		return rc;
	if (used)
		return add_blob(wk, j, 1, wk->cbuf, clen);
	return add_blob(wk, j, 0, j->data, j->len);
}

static void *
worker_main(void *arg)
{
	struct bk_worker *wk = arg;
	struct bk_pipe *p = wk->p;
	struct bk_job j;
	bool got;
	int rc;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		got = queue_pop(p, &p->jobs, &j);
		if (got)
			wk->cur_seq = j.seq;
		pthread_mutex_unlock(&p->mu);
		if (!got)
			break;
		/* after a failure jobs are dropped; durable_cap keeps them from counting */
		rc = p->err == 0 ? process(wk, &j) : 0;
		cf_free_wipe(j.data, j.len);
		if (rc != 0)
			pipe_fail(p, rc); /* before cur_seq is cleared: the cap sees this job */
		pthread_mutex_lock(&p->mu);
		wk->cur_seq = 0;
		pthread_mutex_unlock(&p->mu);
	}
	for (int slot = 0; slot < 2; slot++) {
		if (p->err == 0 && (rc = flush_writer(wk, slot)) != 0)
			pipe_fail(p, rc);
		drop_pack(wk, slot, true);
	}
	return NULL;
}

/* Close the job queue, let the workers drain and flush, then the store threads; join all. */
static int
stop_threads(struct bk_pipe *p)
{
	queue_close(p, &p->jobs);
	for (int i = 0; i < p->started; i++)
		pthread_join(p->workers[i].th, NULL);
	p->started = 0;
	queue_close(p, &p->done);
	for (int i = 0; i < p->nstore; i++)
		pthread_join(p->store_th[i], NULL);
	p->nstore = 0;
	if (p->err != 0)
		cf_err_restore(p->errmsg);
	return p->err;
}

static int
start_threads(struct bk_pipe *p)
{
	int rc;

	for (int i = 0; i < STORE_THREADS; i++) {
		p->store_arg[i].p = p;
		p->store_arg[i].slot = (size_t)i;
		if (pthread_create(&p->store_th[i], NULL, store_main, &p->store_arg[i]) != 0)
			return cf_err_set(CF_ESYS, "cannot start a store thread");
		p->nstore++;
	}
	for (int i = 0; i < p->nworkers; i++) {
		struct bk_worker *wk = &p->workers[i];

		wk->p = p;
		if ((rc = cf_zctx_new(ZSTD_LEVEL, &wk->z)) != 0)
			return rc;
		if (pthread_create(&wk->th, NULL, worker_main, wk) != 0)
			return cf_err_set(CF_ESYS, "cannot start a worker thread");
		p->started++;
	}
	return 0;
}

int
cf_pipe_start(struct cf_repo *r, int nworkers, struct bk_pipe **out)
{
	struct bk_pipe *p = NULL;
	size_t qcap;
	int rc;

	*out = NULL;
	if (nworkers < 1)
		nworkers = 1;
	if (nworkers > MAX_WORKERS)
		nworkers = MAX_WORKERS;
	if ((p = cf_calloc(1, sizeof(*p))) == NULL)
		return CF_ENOMEM;
	p->r = r;
	p->nworkers = nworkers;
	pthread_mutex_init(&p->mu, NULL);
	*out = p;
	qcap = (size_t)nworkers * QUEUE_PER_WORKER + 1;
	if (qcap > QUEUE_MAX)
		qcap = QUEUE_MAX;
	if ((rc = queue_init(&p->jobs, sizeof(struct bk_job), qcap)) != 0 ||
	    (rc = queue_init(&p->done, sizeof(struct bk_done), STORE_QUEUE)) != 0)
		return rc;
	if ((rc = start_threads(p)) != 0)
		(void)stop_threads(p);
	return rc;
}

int
cf_pipe_submit(struct bk_pipe *p, struct bk_job *job)
{
	bool queued;

	pthread_mutex_lock(&p->mu);
	job->seq = job->type == CF_BLOB_DATA ? ++p->submitted : 0;
	queued = queue_push(p, &p->jobs, job);
	pthread_mutex_unlock(&p->mu);
	if (!queued) {
		cf_free_wipe(job->data, job->len);
		cf_err_restore(p->errmsg);
	}
	job->data = NULL;
	return queued ? 0 : p->err;
}

uint64_t
cf_pipe_submitted(struct bk_pipe *p)
{
	uint64_t n;

	pthread_mutex_lock(&p->mu);
	n = p->submitted;
	pthread_mutex_unlock(&p->mu);
	return n;
}

uint64_t
cf_pipe_durable(struct bk_pipe *p)
{
	uint64_t d;

	pthread_mutex_lock(&p->mu);
	d = durable_locked(p);
	if (p->err != 0 && p->durable_cap < d)
		d = p->durable_cap;
	pthread_mutex_unlock(&p->mu);
	return d;
}

int
cf_pipe_finish(struct bk_pipe *p)
{
	return stop_threads(p);
}

void
cf_pipe_free(struct bk_pipe *p)
{
	if (p == NULL)
		return;
	(void)stop_threads(p);
	for (size_t i = 0; p->jobs.items != NULL && i < p->jobs.count; i++) {
		struct bk_job *j = queue_slot(&p->jobs, i);

		cf_free_wipe(j->data, j->len);
	}
	for (size_t i = 0; p->done.items != NULL && i < p->done.count; i++)
		done_release(queue_slot(&p->done, i));
	for (int i = 0; i < p->nworkers; i++) {
		cf_zctx_free(p->workers[i].z);
		cf_free_wipe(p->workers[i].cbuf, p->workers[i].ccap);
		drop_pack(&p->workers[i], 0, true);
		drop_pack(&p->workers[i], 1, true);
	}
	queue_release(&p->jobs);
	queue_release(&p->done);
	pthread_mutex_destroy(&p->mu);
	cf_free(p);
}
