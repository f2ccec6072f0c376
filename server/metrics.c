/*
 * metrics.c - counters behind /metrics (metrics.h).
 */
#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"

#define RENDER_MAX ((size_t)64 * 1024)
#define LINE_MAX_  1024

static const char *const methods[] = {"GET", "HEAD", "PUT", "POST", "DELETE", "other"};
static const unsigned statuses[] = {200, 201, 204, 206, 400, 401, 403, 404,
                                    405, 409, 411, 413, 416, 500, 503, 0};
static const char *const err_names[CFD_ERRK_COUNT] = {
        [CFD_ERRK_MALFORMED] = "malformed", [CFD_ERRK_AUTH] = "auth",
        [CFD_ERRK_REPLAY] = "replay",       [CFD_ERRK_SKEW] = "skew",
        [CFD_ERRK_FORBIDDEN] = "forbidden", [CFD_ERRK_NOTFOUND] = "not_found",
        [CFD_ERRK_CONFLICT] = "conflict",   [CFD_ERRK_TOOLARGE] = "too_large",
        [CFD_ERRK_QUOTA] = "quota",         [CFD_ERRK_HASH] = "content_hash",
        [CFD_ERRK_CHAIN] = "chain",         [CFD_ERRK_IO] = "io",
        [CFD_ERRK_BUSY] = "busy",           [CFD_ERRK_ABORTED] = "aborted",
};
/* Latency bucket bounds in microseconds. */
static const uint64_t bounds_us[] = {1000,    5000,    10000,   50000,    100000,   250000,  500000,
                                     1000000, 2500000, 5000000, 10000000, 30000000, 60000000};

#define NMETHODS CF_ARRAY_LEN(methods)
#define NSTATUS  CF_ARRAY_LEN(statuses)
#define NBOUNDS  CF_ARRAY_LEN(bounds_us)

static _Atomic uint64_t requests[NMETHODS][NSTATUS];
static _Atomic uint64_t bytes_in;
static _Atomic uint64_t bytes_out;
static _Atomic uint64_t errors[CFD_ERRK_COUNT];
static _Atomic uint64_t buckets[NBOUNDS + 1];
static _Atomic uint64_t latency_us_sum;
static _Atomic int64_t uploads;

static size_t
method_index(const char *m)
{
	for (size_t i = 0; i + 1 < NMETHODS; i++) {
		if (strcmp(m, methods[i]) == 0)
			return i;
	}
	return NMETHODS - 1;
}

static size_t
status_index(unsigned status)
{
	for (size_t i = 0; i + 1 < NSTATUS; i++) {
		if (statuses[i] == status)
			return i;
	}
	return NSTATUS - 1;
}

void
cfd_metrics_request(const char *method, unsigned status, uint64_t in, uint64_t out, uint64_t micros)
{
	size_t b = 0;

	atomic_fetch_add_explicit(&requests[method_index(method)][status_index(status)], 1,
	                          memory_order_relaxed);
	atomic_fetch_add_explicit(&bytes_in, in, memory_order_relaxed);
	atomic_fetch_add_explicit(&bytes_out, out, memory_order_relaxed);
	while (b < NBOUNDS && micros > bounds_us[b])
		b++;
	atomic_fetch_add_explicit(&buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&latency_us_sum, micros, memory_order_relaxed);
}

void
cfd_metrics_error(enum cfd_err_kind kind)
{
	if ((unsigned)kind < CFD_ERRK_COUNT)
		atomic_fetch_add_explicit(&errors[kind], 1, memory_order_relaxed);
}

void
cfd_metrics_uploads(int delta)
{
	atomic_fetch_add_explicit(&uploads, delta, memory_order_relaxed);
}

static int CF_PRINTF(2, 3) line(struct cf_buf *b, const char *fmt, ...)
{
	char tmp[LINE_MAX_];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return CF_EINTERNAL;
	return cf_buf_put(b, tmp, (size_t)n);
}

static uint64_t
get(_Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static int
render_requests(struct cf_buf *b)
{
	int rc;

	if ((rc = line(b, "# HELP cofferd_requests_total Requests by method and status.\n"
	                  "# TYPE cofferd_requests_total counter\n")) != 0)
		return rc;
	for (size_t m = 0; m < NMETHODS; m++) {
		for (size_t s = 0; s < NSTATUS; s++) {
			uint64_t v = get(&requests[m][s]);

			if (v != 0 &&
			    (rc = line(b,
			               "cofferd_requests_total{method=\"%s\",code=\"%u\"} "
			               "%" PRIu64 "\n",
			               methods[m], statuses[s], v)) != 0)
				return rc;
		}
	}
	return 0;
}

static int
render_errors(struct cf_buf *b)
{
	int rc;

	if ((rc = line(b, "# HELP cofferd_errors_total Refused or failed requests by cause.\n"
	                  "# TYPE cofferd_errors_total counter\n")) != 0)
		return rc;
	for (size_t k = 0; k < CFD_ERRK_COUNT; k++) {
		if ((rc = line(b, "cofferd_errors_total{kind=\"%s\"} %" PRIu64 "\n", err_names[k],
		               get(&errors[k]))) != 0)
			return rc;
	}
	return 0;
}

static int
render_latency(struct cf_buf *b)
{
	uint64_t cum = 0;
	int rc;

	if ((rc = line(b, "# HELP cofferd_request_duration_seconds Time from request line to "
	                  "response.\n# TYPE cofferd_request_duration_seconds histogram\n")) != 0)
		return rc;
	for (size_t i = 0; i <= NBOUNDS; i++) {
		cum += get(&buckets[i]);
		if (i < NBOUNDS)
			rc = line(b,
			          "cofferd_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64
			          "\n",
			          (double)bounds_us[i] / 1e6, cum);
		else
			rc = line(b,
			          "cofferd_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64
			          "\n",
			          cum);
		if (rc != 0)
			return rc;
	}
	return line(b,
	            "cofferd_request_duration_seconds_sum %.6f\n"
	            "cofferd_request_duration_seconds_count %" PRIu64 "\n",
	            (double)get(&latency_us_sum) / 1e6, cum);
}

static int
render_bytes(struct cf_buf *b)
{
	return line(b,
	            "# HELP cofferd_received_bytes_total Request body bytes received.\n"
	            "# TYPE cofferd_received_bytes_total counter\n"
	            "cofferd_received_bytes_total %" PRIu64 "\n"
	            "# HELP cofferd_sent_bytes_total Response body bytes sent.\n"
	            "# TYPE cofferd_sent_bytes_total counter\n"
	            "cofferd_sent_bytes_total %" PRIu64 "\n"
	            "# HELP cofferd_uploads_in_flight Uploads being received.\n"
	            "# TYPE cofferd_uploads_in_flight gauge\n"
	            "cofferd_uploads_in_flight %" PRId64 "\n",
	            get(&bytes_in), get(&bytes_out),
	            atomic_load_explicit(&uploads, memory_order_relaxed));
}

int
cfd_metrics_render(struct cf_buf *out)
{
	int rc;

	cf_buf_init(out, RENDER_MAX);
	if ((rc = render_requests(out)) != 0 || (rc = render_bytes(out)) != 0 ||
	    (rc = render_errors(out)) != 0 || (rc = render_latency(out)) != 0)
		cf_buf_release(out);
	return rc;
}
