/*
 * backup_pipe.c - worker threads that compress, encrypt and pack blobs, then store each
 * finished pack followed by its index object (packs before index: docs/format.md 3).
 */
#include <string.h>

#include "../compress/compress.h"
#include "backup.h"

#define QUEUE_PER_WORKER 2
#define MAX_WORKERS      16
#define ZSTD_LEVEL       1

struct bk_worker {
	struct bk_pipe *p;
	pthread_t th;
	struct cf_zctx *z;
	struct cf_pack_writer *w[2]; /* data, tree */
	uint8_t *cbuf;
	size_t ccap;
};

struct bk_pipe {
	struct cf_repo *r;
	pthread_mutex_t mu;
	pthread_cond_t not_empty;
	pthread_cond_t not_full;
	struct bk_job *ring;
	size_t cap;
	size_t head;
	size_t count;
	bool closing;
	int nworkers;
	int started;
	struct bk_worker workers[MAX_WORKERS];
	atomic_int err;
	char errmsg[1024];
	uint64_t stored;
};

/* Record the first error; later ones are dropped. Called with p->mu held or not. */
static void
pipe_fail(struct bk_pipe *p, int rc)
{
	pthread_mutex_lock(&p->mu);
	if (p->err == 0) {
		p->err = rc;
		cf_err_copy(p->errmsg, sizeof(p->errmsg));
	}
	pthread_cond_broadcast(&p->not_full);
	pthread_mutex_unlock(&p->mu);
}

/* Store a finished pack, then an index object that names its blobs. */
static int
store_pack(struct bk_pipe *p, struct cf_pack_writer *w)
{
	struct cf_repo *r = p->r;
	struct cf_index_pack ip;
	char name[2 * CF_ID_BYTES + 1];
	uint8_t iid[CF_ID_BYTES];
	uint8_t *pack = NULL;
	uint8_t *idx = NULL;
	size_t plen = 0;
	size_t ilen = 0;
	int rc;

	memset(&ip, 0, sizeof(ip));
	if ((rc = cf_pack_writer_finish(w, &pack, &plen, ip.id)) != 0)
		return rc;
	ip.len = plen;
	{
		const struct cf_pack_entry *ents = cf_pack_writer_entries(w, &ip.count);

		if ((ip.entries = cf_memdup(ents, ip.count * sizeof(*ents))) == NULL) {
			rc = CF_ENOMEM;
			goto out;
		}
	}
	cf_id_name(name, ip.id);
	if ((rc = cf_store_put(r->store, CF_OBJ_PACK, name, pack, plen)) != 0)
		goto out;
	if ((rc = cf_index_encode(r->k_index, r->chain->repo_id, &ip, 1, &idx, &ilen, iid)) != 0)
		goto out;
	cf_id_name(name, iid);
	if ((rc = cf_store_put(r->store, CF_OBJ_INDEX, name, idx, ilen)) != 0)
		goto out;
	pthread_mutex_lock(&p->mu);
	p->stored += plen + ilen;
	pthread_mutex_unlock(&p->mu);
out:
	cf_free(ip.entries);
	cf_free(pack);
	cf_free(idx);
	return rc;
}

static int
flush_writer(struct bk_worker *wk, int slot)
{
	int rc = 0;

	if (wk->w[slot] != NULL && cf_pack_writer_count(wk->w[slot]) > 0)
		rc = store_pack(wk->p, wk->w[slot]);
	cf_pack_writer_free(wk->w[slot]);
	wk->w[slot] = NULL;
	return rc;
}

/* Add one encoded payload to the worker's pack of that type, rolling packs as they fill. */
static int
add_blob(struct bk_worker *wk, const struct bk_job *j, uint8_t comp, const uint8_t *payload,
         size_t plen)
{
	struct cf_repo *r = wk->p->r;
	int slot = j->type == CF_BLOB_TREE ? 1 : 0;
	int rc;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (wk->w[slot] == NULL &&
		    (rc = cf_pack_writer_new(r->chain->repo_id, r->epoch,
		                             r->chain->dk_pub[r->epoch], &wk->w[slot])) != 0)
			return rc;
		rc = cf_pack_writer_add(wk->w[slot], j->type, comp, j->id, (uint32_t)j->len,
		                        payload, plen);
		if (rc != CF_ETOOBIG || cf_pack_writer_count(wk->w[slot]) == 0)
			break;
		if ((rc = flush_writer(wk, slot)) != 0)
			return rc;
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
		cf_free(wk->cbuf);
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

/* Take the next job; false when the queue is closed and empty. */
static bool
take(struct bk_pipe *p, struct bk_job *j)
{
	bool got = false;

	pthread_mutex_lock(&p->mu);
	while (p->count == 0 && !p->closing)
		pthread_cond_wait(&p->not_empty, &p->mu);
	if (p->count > 0) {
		*j = p->ring[p->head];
		p->head = (p->head + 1) % p->cap;
		p->count--;
		got = true;
		pthread_cond_signal(&p->not_full);
	}
	pthread_mutex_unlock(&p->mu);
	return got;
}

static void *
worker_main(void *arg)
{
	struct bk_worker *wk = arg;
	struct bk_pipe *p = wk->p;
	struct bk_job j;
	int rc;

	while (take(p, &j)) {
		rc = p->err == 0 ? process(wk, &j) : 0;
		/* the zstd frame may repeat plaintext: the compression buffer is wiped too */
		cf_free_wipe(j.data, j.len);
		if (rc != 0)
			pipe_fail(p, rc);
	}
	for (int slot = 0; slot < 2; slot++) {
		if (p->err != 0) {
			cf_pack_writer_free(wk->w[slot]);
			wk->w[slot] = NULL;
		} else if ((rc = flush_writer(wk, slot)) != 0) {
			pipe_fail(p, rc);
		}
	}
	return NULL;
}

/* Close the queue, let the workers drain it and flush, and join them. */
static int
stop_workers(struct bk_pipe *p)
{
	pthread_mutex_lock(&p->mu);
	p->closing = true;
	pthread_cond_broadcast(&p->not_empty);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->started; i++)
		pthread_join(p->workers[i].th, NULL);
	p->started = 0;
	if (p->err != 0)
		cf_err_restore(p->errmsg);
	return p->err;
}

int
cf_pipe_start(struct cf_repo *r, int nworkers, struct bk_pipe **out)
{
	struct bk_pipe *p = NULL;
	int rc = 0;

	*out = NULL;
	if (nworkers < 1)
		nworkers = 1;
	if (nworkers > MAX_WORKERS)
		nworkers = MAX_WORKERS;
	if ((p = cf_calloc(1, sizeof(*p))) == NULL)
		return CF_ENOMEM;
	p->r = r;
	p->nworkers = nworkers;
	p->cap = (size_t)nworkers * QUEUE_PER_WORKER + 1;
	if ((p->ring = cf_calloc(p->cap, sizeof(*p->ring))) == NULL) {
		cf_free(p);
		return CF_ENOMEM;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->not_empty, NULL);
	pthread_cond_init(&p->not_full, NULL);
	for (int i = 0; i < nworkers; i++) {
		struct bk_worker *wk = &p->workers[i];

		wk->p = p;
		if ((rc = cf_zctx_new(ZSTD_LEVEL, &wk->z)) != 0)
			break;
		if (pthread_create(&wk->th, NULL, worker_main, wk) != 0) {
			rc = cf_err_set(CF_ESYS, "cannot start a worker thread");
			break;
		}
		p->started++;
	}
	*out = p;
	if (rc != 0)
		(void)stop_workers(p);
	return rc;
}

int
cf_pipe_submit(struct bk_pipe *p, struct bk_job *job)
{
	int rc;

	pthread_mutex_lock(&p->mu);
	while (p->count == p->cap && p->err == 0)
		pthread_cond_wait(&p->not_full, &p->mu);
	rc = p->err;
	if (rc == 0) {
		p->ring[(p->head + p->count) % p->cap] = *job;
		p->count++;
		pthread_cond_signal(&p->not_empty);
	}
	pthread_mutex_unlock(&p->mu);
	if (rc != 0) {
		cf_free_wipe(job->data, job->len);
		cf_err_restore(p->errmsg);
	}
	job->data = NULL;
	return rc;
}

int
cf_pipe_finish(struct bk_pipe *p)
{
	return stop_workers(p);
}

uint64_t
cf_pipe_stored(const struct bk_pipe *p)
{
	return p->stored;
}

void
cf_pipe_free(struct bk_pipe *p)
{
	if (p == NULL)
		return;
	if (p->started > 0)
		(void)stop_workers(p);
	for (size_t i = 0; i < p->count; i++) {
		struct bk_job *j = &p->ring[(p->head + i) % p->cap];

		cf_free_wipe(j->data, j->len);
	}
	for (int i = 0; i < p->nworkers; i++) {
		cf_zctx_free(p->workers[i].z);
		cf_free_wipe(p->workers[i].cbuf, p->workers[i].ccap);
		cf_pack_writer_free(p->workers[i].w[0]);
		cf_pack_writer_free(p->workers[i].w[1]);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->not_empty);
	pthread_cond_destroy(&p->not_full);
	cf_free(p->ring);
	cf_free(p);
}
