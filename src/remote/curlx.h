/*
 * curlx.h - what the library's libcurl clients share: the coffer client's requests to cofferd
 * (remote_http.c) and cofferd's S3 client (server/s3.c). A pool of easy handles, the options
 * every transfer has, and the loop that runs a request's attempts with jittered exponential
 * backoff between them. What an answer means (which failures are worth another attempt,
 * what the messages say) stays with each client.
 */
#ifndef CF_CURLX_H
#define CF_CURLX_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "../base/compat.h"

/* The most idle easy handles a pool can keep. */
#define CF_CURLX_POOL_MAX 16

/*
 * Idle easy handles, each with its live connection, for the requests of any thread: an
 * easy handle is used by one thread at a time, and consecutive requests of a thread reuse
 * a connection. Caller-provided storage; all zeroes is a released pool.
 */
struct cf_curlx_pool {
	pthread_mutex_t lock;
	bool ready; /* lock initialised */
	size_t max;
	size_t n;
	CURL *idle[CF_CURLX_POOL_MAX];
};

/*
 * cf_curlx_pool_init() - initialise libcurl's global state (once per process, never undone:
 * curl_global_cleanup() is not thread-safe) and @p, an empty pool keeping at most @max
 * (1 .. CF_CURLX_POOL_MAX) idle handles. Returns 0, CF_ESYS ("cannot initialise libcurl") or
 * CF_ENOMEM; on failure @p may still be given to cf_curlx_pool_release().
 */
int cf_curlx_pool_init(struct cf_curlx_pool *p, size_t max) CF_MUST_CHECK;
/* cf_curlx_pool_release() - free the idle handles. A zeroed or released @p is a no-op. */
void cf_curlx_pool_release(struct cf_curlx_pool *p);
/*
 * cf_curlx_pool_take() - an idle handle (options reset, connection kept) or a new one;
 * NULL when out of memory. Give it back with cf_curlx_pool_give(). Thread-safe.
 */
CURL *cf_curlx_pool_take(struct cf_curlx_pool *p);
/* cf_curlx_pool_give() - keep @h for a later request, or free it when @p is full. */
void cf_curlx_pool_give(struct cf_curlx_pool *p, CURL *h);

/*
 * cf_curlx_set_basics() - the options every transfer of ours has: the error text into
 * @errbuf (CURL_ERROR_SIZE bytes), no signals, http and https only, no redirects, a 10 s
 * connect timeout, TCP keepalive, and an abort below 1 KiB/s for @low_speed_s seconds.
 * Returns 0, or CF_EINTERNAL when libcurl refuses one.
 */
int cf_curlx_set_basics(CURL *h, char *errbuf, long low_speed_s) CF_MUST_CHECK;
/* cf_curlx_add_header() - append the header @line (copied) to *@list. 0 or CF_ENOMEM. */
int cf_curlx_add_header(struct curl_slist **list, const char *line) CF_MUST_CHECK;

/* A request for cf_curlx_perform(): the client's steps and its retry policy. */
struct cf_curlx_req {
	/*
	 * setup() - prepare the attempt on the handle in *@h: forget what an earlier attempt
	 * received, set the options (CURLOPT_ERRORBUFFER to @errbuf) and append the headers to
	 * *@hdrs, setting CURLOPT_HTTPHEADER to the list. Returns 0 or an error with a message.
	 */
	int (*setup)(void *arg, char *errbuf, struct curl_slist **hdrs);
	/*
	 * finish() - the outcome of curl_easy_perform(), @c, as a cf code, with the text libcurl
	 * left in @errbuf; *@transient: whether another attempt may do better.
	 */
	int (*finish)(void *arg, CURLcode c, const char *errbuf, bool *transient);
	void *arg;
	CURL **h;            /* the client's slot for the attempt's handle; NULL after */
	unsigned *attempts;  /* the client's count: the attempt in progress, from 1 */
	unsigned tries;      /* attempts at most, at least 1 */
	unsigned backoff_ms; /* before the second attempt; doubles (shift capped at 16) */
};

/*
 * cf_curlx_perform() - run @req's attempts, each on a handle of @pool, until one is not
 * transient or @req->tries are made; before attempt n + 1, sleep backoff_ms << (n - 1)
 * times a random 0.5 .. 1.5. Returns the last attempt's code (CF_ENOMEM when no handle
 * could be made); *@transient is the last finish()'s verdict (false when it was not
 * called). Thread-safe for different requests.
 */
int cf_curlx_perform(struct cf_curlx_pool *pool, const struct cf_curlx_req *req,
                     bool *transient) CF_MUST_CHECK;

#endif
