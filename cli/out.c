/*
 * out.c - output helpers: one-line errors, JSON strings of arbitrary bytes, sizes, times,
 * progress on a terminal.
 */
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "cli.h"

void
cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("coffer: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
cli_exit_code(int rc)
{
	switch (rc) {
	case CF_OK:
		return EXIT_OK;
	case CF_ENOREPO:
		return EXIT_NOREPO;
	case CF_ENOKEY:
		return EXIT_NOKEY;
	case CF_EINTEGRITY:
	case CF_EAUTH:
	case CF_EROLLBACK:
		return EXIT_INTEGRITY;
	case CF_EPARTIAL:
		return EXIT_PARTIAL;
	case CF_EUSAGE:
		return EXIT_USAGE;
	default:
		return EXIT_ERROR;
	}
}

/* Print the library's message for @rc, or @what and the code's name when it has none. */
void
cli_error_rc(int rc, const char *what)
{
	const char *m = cf_err_last();

	if (m[0] != '\0')
		cli_error("%s", m);
	else
		cli_error("%s: %s", what, cf_strerror(rc));
}

size_t
cli_report_damaged(const struct cf_repo *r, bool errors)
{
	static size_t told; /* a second lookup (diff) does not repeat them */
	const char *m = NULL;
	size_t first = told;

	for (; (m = cf_snapshots_damaged_view(r, told)) != NULL; told++) {
		if (errors)
			cli_error("%s", m);
		else
			cli_error("warning: %s (left out; 'coffer check' reports it)", m);
	}
	return told - first;
}

/* Length of a valid UTF-8 sequence at @p (at most @left bytes), 0 if invalid. */
static size_t
utf8_len(const uint8_t *p, size_t left)
{
	size_t n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
	uint32_t cp = 0;

	if (p[0] < 0x80)
		return 1;
	if (n == 0 || p[0] > 0xf4 || n > left)
		return 0;
	cp = p[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * A JSON string of arbitrary bytes. Bytes that are not valid UTF-8 become the lone
 * surrogates U+DC80..U+DCFF (Python's "surrogateescape"), so names round-trip.
 */
void
json_str(FILE *f, const uint8_t *p, size_t len)
{
	fputc('"', f);
	for (size_t i = 0; i < len;) {
		size_t n = utf8_len(p + i, len - i);

		if (n == 0) {
			fprintf(f, "\\udc%02x", p[i]);
			i++;
		} else if (p[i] == '"' || p[i] == '\\') {
			fprintf(f, "\\%c", p[i++]);
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			fprintf(f, "\\u%04x", p[i++]);
		} else {
			fwrite(p + i, 1, n, f);
			i += n;
		}
	}
	fputc('"', f);
}

void
json_cstr(FILE *f, const char *s)
{
	json_str(f, (const uint8_t *)s, strlen(s));
}

void
print_bytes(FILE *f, const uint8_t *p, size_t len)
{
	fwrite(p, 1, len, f);
}

void
fmt_size(char *out, size_t cap, uint64_t bytes)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, cap, "%llu B", (unsigned long long)bytes);
	else
		snprintf(out, cap, "%.3f %s", v, units[u]);
}

/* Local time's offset from UTC in minutes at @t (tm_gmtoff is not POSIX). */
static long
utc_offset_minutes(time_t t, const struct tm *local)
{
	struct tm utc;
	long days = 0;

	if (gmtime_r(&t, &utc) == NULL)
		return 0;
	days = local->tm_year != utc.tm_year ? (local->tm_year > utc.tm_year ? 1 : -1)
	                                     : local->tm_yday - utc.tm_yday;
	return days * 1440 + (local->tm_hour - utc.tm_hour) * 60 + (local->tm_min - utc.tm_min);
}

void
fmt_time(char *out, size_t cap, int64_t sec, uint32_t nsec, bool rfc3339)
{
	struct tm tm;
	time_t t = (time_t)sec;
	char zone[32];
	long off = 0;

	if (localtime_r(&t, &tm) == NULL) {
		snprintf(out, cap, "%lld", (long long)sec);
		return;
	}
	if (!rfc3339) {
		strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm);
		return;
	}
	off = utc_offset_minutes(t, &tm);
	if (off == 0)
		snprintf(zone, sizeof(zone), "Z");
	else
		snprintf(zone, sizeof(zone), "%c%02ld:%02ld", off < 0 ? '-' : '+',
		         (off < 0 ? -off : off) / 60, (off < 0 ? -off : off) % 60);
	snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%09u%s", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, nsec, zone);
}

void
fmt_mode(char *out, enum cf_node_kind k, uint32_t mode)
{
	static const char kinds[] = "?-dl-pcb";
	const char *rwx = "rwxrwxrwx";

	out[0] = (size_t)k < sizeof(kinds) - 1 ? kinds[k] : '?';
	for (int i = 0; i < 9; i++)
		out[1 + i] = (mode & (1u << (8 - i))) != 0 ? rwx[i] : '-';
	if (mode & 04000)
		out[3] = (mode & 0100) ? 's' : 'S';
	if (mode & 02000)
		out[6] = (mode & 010) ? 's' : 'S';
	if (mode & 01000)
		out[9] = (mode & 01) ? 't' : 'T';
	out[10] = '\0';
}

static double
mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "[0:12] 1234 files, 1.234 GiB, 123.4 MiB/s, ETA 0:40" on one rewritten line. */
void
progress_event(struct cli *c, const struct cf_event *ev, const char *verb)
{
	static double start;
	char done[32];
	char rate[32];
	char eta[32] = "";
	uint64_t bytes = cf_event_counter(ev, CF_CTR_BYTES_DONE);
	uint64_t total = cf_event_counter(ev, CF_CTR_BYTES_TOTAL);
	double el;

	if (!c->progress)
		return;
	if (start == 0)
		start = mono_seconds();
	el = mono_seconds() - start;
	fmt_size(done, sizeof(done), bytes);
	fmt_size(rate, sizeof(rate), el > 0 ? (uint64_t)((double)bytes / el) : 0);
	if (total > bytes && bytes > 0 && el > 0) {
		double left = (double)(total - bytes) / ((double)bytes / el);

		snprintf(eta, sizeof(eta), ", ETA %d:%02d", (int)left / 60, (int)left % 60);
	}
	fprintf(stderr, "\r\033[K[%d:%02d] %s %llu files, %s, %s/s%s", (int)el / 60, (int)el % 60,
	        verb, (unsigned long long)cf_event_counter(ev, CF_CTR_FILES_DONE), done, rate, eta);
	fflush(stderr);
}

void
progress_clear(struct cli *c)
{
	if (c->progress)
		fputs("\r\033[K", stderr);
}
