/*
 * metrics.h - counters for /metrics (Prometheus text exposition format 0.0.4): requests by
 * method and status, bytes in and out, errors by kind, a latency histogram, uploads in
 * flight. Lock-free (C11 atomics); every function is thread-safe.
 */
#ifndef CFD_METRICS_H
#define CFD_METRICS_H

#include <stdint.h>

#include "buf/buf.h"

enum cfd_err_kind {
	CFD_ERRK_MALFORMED,
	CFD_ERRK_AUTH,
	CFD_ERRK_REPLAY,
	CFD_ERRK_SKEW,
	CFD_ERRK_FORBIDDEN,
	CFD_ERRK_NOTFOUND,
	CFD_ERRK_CONFLICT,
	CFD_ERRK_TOOLARGE,
	CFD_ERRK_QUOTA,
	CFD_ERRK_HASH,
	CFD_ERRK_CHAIN,
	CFD_ERRK_IO,
	CFD_ERRK_BUSY,
	CFD_ERRK_ABORTED,
	CFD_ERRK_COUNT
};

/* cfd_metrics_request() - one finished request; @method is any text, @status 0 if none. */
void cfd_metrics_request(const char *method, unsigned status, uint64_t in, uint64_t out,
                         uint64_t micros);
void cfd_metrics_error(enum cfd_err_kind kind);
/* cfd_metrics_uploads() - change the uploads-in-flight gauge by @delta (+1 / -1). */
void cfd_metrics_uploads(int delta);
/* cfd_metrics_render() - the exposition text into @out (initialised here). */
int cfd_metrics_render(struct cf_buf *out) CF_MUST_CHECK;

#endif
