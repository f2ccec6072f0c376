/*
 * log.c - cofferd's log lines on stderr (STYLE.md 16): one line per request with an id,
 * the device's short id, method, path, status, bytes and duration; never a header value,
 * a token, a key or payload bytes. Peers can make the server log, so lines are
 * rate-limited: past LINES_PER_SECOND in one second they are counted, and the count is
 * reported once the next second starts.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "http.h"

#define LINES_PER_SECOND 500
#define LOG_LINE_MAX     1024
#define LOG_PATH_MAX     160

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t log_second;
static unsigned log_count;
static uint64_t log_dropped;

/* Whether a line may be written now; reports what was dropped in the last busy second. */
static bool
log_admit(void)
{
	int64_t now = cfd_now();
	uint64_t dropped = 0;
	bool ok = false;

	CF_ASSERT(pthread_mutex_lock(&log_lock) == 0);
	if (now != log_second) {
		log_second = now;
		log_count = 0;
		dropped = log_dropped;
		log_dropped = 0;
	}
	ok = log_count < LINES_PER_SECOND;
	if (ok)
		log_count++;
	else
		log_dropped++;
	CF_ASSERT(pthread_mutex_unlock(&log_lock) == 0);
	if (dropped > 0)
		(void)fprintf(stderr, "cofferd: %" PRIu64 " log lines suppressed\n", dropped);
	return ok;
}

void
cfd_log(const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	va_list ap;

	if (!log_admit())
		return;
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* one fprintf per line: stdio locks the stream, so threads do not interleave */
	(void)fprintf(stderr, "cofferd: %s\n", line);
}

/* The path as sent, reduced to characters that cannot forge or break a log line. */
static void
safe_path(const struct cfd_req *r, char *out, size_t cap)
{
	size_t n = r->target_too_long ? 0 : r->path_len;
	size_t o = 0;

	if (r->target_too_long) {
		(void)snprintf(out, cap, "(request target over %u bytes)", CFD_URI_MAX);
		return;
	}
	for (size_t i = 0; i < n && o + 4 < cap; i++) {
		char c = r->target[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '/' || c == '-' || c == '_' || c == '.';

		out[o++] = '?';
		if (ok)
			out[o - 1] = c;
	}
	if (o < n)
		out[o++] = '~'; /* shortened */
	out[o] = '\0';
}

void
cfd_log_request(const struct cfd_req *r, uint64_t micros)
{
	char path[LOG_PATH_MAX];
	char dev[17] = "-";

	safe_path(r, path, sizeof(path));
	if (r->authed)
		cf_hex(dev, r->dev.id, 8);
	cfd_log("req=%" PRIu64 " dev=%s %s %s %u in=%" PRIu64 " out=%" PRIu64 " ms=%.3f%s", r->id,
	        dev, r->method[0] != '\0' ? r->method : "-", path, r->status, r->bytes_in,
	        r->bytes_out, (double)micros / 1000.0, r->status == 0 ? " aborted" : "");
}
