/*
 * curlx.c - the libcurl plumbing the coffer client and cofferd's S3 client share (curlx.h).
 */
#include "curlx.h"

#include <errno.h>
#include <time.h>

#include "../base/base.h"
#include "../crypto/crypto.h"

#define CONNECT_TIMEOUT_S 10L
#define LOW_SPEED_BYTES   1024L
#define BACKOFF_SHIFT_MAX 16u

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void
global_init(void)
{
	/* Never undone: curl_global_cleanup() is not thread-safe and a pool may be made again. */
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int
cf_curlx_pool_init(struct cf_curlx_pool *p, size_t max)
{
	if (max == 0 || max > CF_CURLX_POOL_MAX)
		cf_misuse("cf_curlx_pool_init: pool size out of range");
	if (pthread_once(&global_once, global_init) != 0 || global_rc != CURLE_OK) {
		errno = 0;
		return cf_err_set(CF_ESYS, "cannot initialise libcurl");
	}
	if (pthread_mutex_init(&p->lock, NULL) != 0)
		return CF_ENOMEM;
	p->ready = true;
	p->max = max;
	p->n = 0;
	return 0;
}

void
cf_curlx_pool_release(struct cf_curlx_pool *p)
{
	for (size_t i = 0; i < p->n; i++)
		curl_easy_cleanup(p->idle[i]);
	p->n = 0;
	if (p->ready)
		(void)pthread_mutex_destroy(&p->lock);
	p->ready = false;
}

CURL *
cf_curlx_pool_take(struct cf_curlx_pool *p)
{
	CURL *h = NULL;

	(void)pthread_mutex_lock(&p->lock);
	if (p->n > 0)
		h = p->idle[--p->n];
	(void)pthread_mutex_unlock(&p->lock);
	if (h == NULL)
		return curl_easy_init();
	curl_easy_reset(h); /* the options go, the connection stays */
	return h;
}

void
cf_curlx_pool_give(struct cf_curlx_pool *p, CURL *h)
{
	(void)pthread_mutex_lock(&p->lock);
	if (p->n < p->max) {
		p->idle[p->n++] = h;
		h = NULL;
	}
	(void)pthread_mutex_unlock(&p->lock);
	if (h != NULL)
		curl_easy_cleanup(h);
}

int
cf_curlx_set_basics(CURL *h, char *errbuf, long low_speed_s)
{
	int bad = 0;

	bad |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_BYTES) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, low_speed_s) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
	return bad ? CF_EINTERNAL : 0;
}

int
cf_curlx_add_header(struct curl_slist **list, const char *line)
{
	struct curl_slist *n = curl_slist_append(*list, line);

	if (n == NULL)
		return CF_ENOMEM;
	*list = n;
	return 0;
}

/* Sleep before attempt @n + 1: the first delay doubled n - 1 times, times 0.5 .. 1.5. */
static void
backoff(unsigned first_ms, unsigned n)
{
	uint64_t ms = (uint64_t)first_ms << (n - 1 < BACKOFF_SHIFT_MAX ? n - 1 : BACKOFF_SHIFT_MAX);
	uint16_t jitter = 0;
	struct timespec ts;

	cf_random(&jitter, sizeof(jitter));
	ms = ms / 2 + ms * jitter / 65536;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* One attempt on an easy handle from the pool. */
static int
attempt(struct cf_curlx_pool *pool, const struct cf_curlx_req *req, bool *transient)
{
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE];
	CURL *h = NULL;
	int rc;

	*transient = false;
	errbuf[0] = '\0';
	h = cf_curlx_pool_take(pool);
	if (h == NULL)
		return CF_ENOMEM;
	*req->h = h;
	if ((rc = req->setup(req->arg, errbuf, &hdrs)) == 0)
		rc = req->finish(req->arg, curl_easy_perform(h), errbuf, transient);
	/* The header list must outlive the transfer, and the pooled handle must not point to it. */
	(void)curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	cf_curlx_pool_give(pool, h);
	*req->h = NULL;
	return rc;
}

int
cf_curlx_perform(struct cf_curlx_pool *pool, const struct cf_curlx_req *req, bool *transient)
{
	int rc = 0;

	for (*req->attempts = 1;; (*req->attempts)++) {
		rc = attempt(pool, req, transient);
		if (!*transient || *req->attempts >= req->tries)
			break;
		backoff(req->backoff_ms, *req->attempts);
	}
	return rc;
}
