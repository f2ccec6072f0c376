/*
 * policy.c - retention by time windows (docs/format.md 16.2). Each window rule counts
 * calendar periods back from the newest genuine snapshot, so snapshots dated far ahead are
 * never counted and cannot push genuine ones out.
 */
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../base/base.h"

bool
cf_policy_empty(const struct cf_keep_policy *p)
{
	if (p->last > 0 || p->within_s > 0 || p->ntags > 0)
		return false;
	for (int k = 0; k < CF_NPERIODS; k++)
		if (p->periods[k] > 0)
			return false;
	return true;
}

/* Days from 1970-01-01 to a civil date (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era;
	int64_t yoe;
	int64_t doy;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static int64_t
floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int64_t
cf_period_of(int64_t t, enum cf_period k)
{
	time_t tt = (time_t)t;
	struct tm tm;
	int64_t year;
	int64_t days;

	if (localtime_r(&tt, &tm) == NULL)
		return floor_div(t, 3600); /* out of range for the C library: hours will do */
	year = (int64_t)tm.tm_year + 1900;
	days = days_from_civil(year, tm.tm_mon + 1, tm.tm_mday);
	switch (k) {
	case CF_PERIOD_HOURLY:
		return days * 24 + tm.tm_hour;
	case CF_PERIOD_DAILY:
		return days;
	case CF_PERIOD_WEEKLY:
		return floor_div(days + 3, 7); /* 1970-01-01 was a Thursday; weeks start Monday */
	case CF_PERIOD_MONTHLY:
		return year * 12 + tm.tm_mon;
	case CF_PERIOD_YEARLY:
	case CF_NPERIODS:
	default:
		return year;
	}
}

static bool
has_tag(const struct cf_policy_item *it, const char *tag)
{
	for (size_t i = 0; i < it->ntags; i++)
		if (strcmp(it->tags[i], tag) == 0)
			return true;
	return false;
}

/* Newest first. */
static int
by_time_desc(const void *a, const void *b)
{
	const struct cf_policy_item *x = *(const struct cf_policy_item *const *)a;
	const struct cf_policy_item *y = *(const struct cf_policy_item *const *)b;

	if (x->time_s != y->time_s)
		return x->time_s > y->time_s ? -1 : 1;
	if (x->time_ns != y->time_ns)
		return x->time_ns > y->time_ns ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* One window rule over a group sorted newest first; @v[0..n) are all genuine. */
static void
apply_period(const struct cf_keep_policy *p, enum cf_period k, struct cf_policy_item **v, size_t n)
{
	int64_t ref;
	int64_t taken;

	if (p->periods[k] == 0 || n == 0)
		return;
	ref = cf_period_of(v[0]->time_s, k);
	taken = ref + 1;
	for (size_t i = 0; i < n; i++) {
		int64_t q = cf_period_of(v[i]->time_s, k);

		if (q >= taken)
			continue; /* not the newest of its period */
		if (ref - q >= (int64_t)p->periods[k])
			break; /* outside the window */
		v[i]->why |= (uint32_t)CF_KEEP_HOURLY << k;
		taken = q;
	}
}

/* Decide one group, @v sorted newest first. */
static void
apply_group(const struct cf_keep_policy *p, struct cf_policy_item **v, size_t n, int64_t now)
{
	size_t first = 0; /* the newest genuine snapshot */

	for (size_t i = 0; i < n; i++) {
		v[i]->why = 0;
		for (size_t t = 0; t < p->ntags; t++)
			if (has_tag(v[i], p->tags[t]))
				v[i]->why |= CF_KEEP_TAG;
	}
	while (first < n && now <= INT64_MAX - CF_FUTURE_SKEW_S &&
	       v[first]->time_s > now + CF_FUTURE_SKEW_S)
		v[first++]->why |= CF_KEEP_FUTURE;
	v += first;
	n -= first;
	for (size_t i = 0; i < n && i < p->last; i++)
		v[i]->why |= CF_KEEP_LAST;
	/* v[0] is the newest: v[0] - v[i] fits in a u64 for any two times (no i64 overflow). */
	for (size_t i = 0; i < n && p->within_s > 0; i++)
		if ((uint64_t)v[0]->time_s - (uint64_t)v[i]->time_s <= (uint64_t)p->within_s)
			v[i]->why |= CF_KEEP_WITHIN;
	for (int k = 0; k < CF_NPERIODS; k++)
		apply_period(p, (enum cf_period)k, v, n);
}

static int
by_group(const void *a, const void *b)
{
	const struct cf_policy_item *x = *(const struct cf_policy_item *const *)a;
	const struct cf_policy_item *y = *(const struct cf_policy_item *const *)b;

	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	return by_time_desc(a, b);
}

int
cf_policy_apply(const struct cf_keep_policy *p, struct cf_policy_item *items, size_t n, int64_t now)
{
	struct cf_policy_item **v = NULL;

	if (n == 0)
		return 0;
	if ((v = cf_calloc(n, sizeof(*v))) == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; i < n; i++)
		v[i] = &items[i];
	qsort(v, n, sizeof(*v), by_group);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && v[j]->group == v[i]->group;)
			j++;
		apply_group(p, v + i, j - i, now);
	}
	cf_free(v);
	return 0;
}

void
cf_keep_why_text(uint32_t why, const struct cf_keep_policy *p, const struct cf_policy_item *it,
                 char *out, size_t cap)
{
	static const char *const names[] = {"last",   "within",  "hourly", "daily",
	                                    "weekly", "monthly", "yearly"};
	size_t o = 0;

	if (cap == 0)
		return;
	out[0] = '\0';
	for (size_t b = 0; b < CF_ARRAY_LEN(names) && o < cap; b++)
		if (why & (1u << b))
			o += (size_t)snprintf(out + o, cap - o, "%s%s", o > 0 ? ", " : "",
			                      names[b]);
	for (size_t t = 0; (why & CF_KEEP_TAG) && t < p->ntags && o < cap; t++)
		if (has_tag(it, p->tags[t]))
			o += (size_t)snprintf(out + o, cap - o, "%stag %s", o > 0 ? ", " : "",
			                      p->tags[t]);
	if ((why & CF_KEEP_FUTURE) && o < cap)
		(void)snprintf(out + o, cap - o, "%sfuture-dated, not counted", o > 0 ? ", " : "");
}

int
cf_parse_duration(const char *s, int64_t *out)
{
	static const char units[] = "ymwdh";
	static const int64_t secs[] = {365 * 86400, 30 * 86400, 7 * 86400, 86400, 3600};
	const char *p = s;
	size_t next = 0;
	int64_t total = 0;

	*out = 0;
	if (*p == '\0')
		return CF_EINVAL;
	while (*p != '\0') {
		int64_t v = 0;
		const char *u = NULL;

		if (*p < '0' || *p > '9')
			return CF_EINVAL;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (v > 1000000)
				return CF_EINVAL;
			v = v * 10 + (*p - '0');
		}
		if (*p == '\0' || (u = strchr(units, *p)) == NULL || (size_t)(u - units) < next)
			return CF_EINVAL;
		next = (size_t)(u - units) + 1;
		total += v * secs[u - units];
		p++;
	}
	if (total <= 0)
		return CF_EINVAL;
	*out = total;
	return 0;
}

static bool
all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* The value of @n digits already checked by all_digits(). */
static int
digits(const char *s, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* Days in month @m (1..12) of year @y: "2026-02-31" is refused, not read as March 3. */
static int
month_days(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

int
cf_parse_time(const char *s, int64_t *out)
{
	struct tm tm;
	size_t n = strlen(s);
	int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
	uint64_t u = 0;
	time_t t;

	*out = 0;
	if (s[0] == '@') {
		if (cf_parse_u64(s + 1, 0, (uint64_t)INT64_MAX / 2, &u) != 0)
			return CF_EINVAL;
		*out = (int64_t)u;
		return 0;
	}
	/* YYYY-MM-DD?HH:MM[:SS][Z] */
	if ((n != 16 && n != 19 && n != 20) || !all_digits(s, 4) || s[4] != '-' ||
	    !all_digits(s + 5, 2) || s[7] != '-' || !all_digits(s + 8, 2) ||
	    (s[10] != 'T' && s[10] != ' ') || !all_digits(s + 11, 2) || s[13] != ':' ||
	    !all_digits(s + 14, 2) || (n >= 19 && (s[16] != ':' || !all_digits(s + 17, 2))) ||
	    (n == 20 && s[19] != 'Z'))
		return CF_EINVAL;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	sec = n >= 19 ? digits(s + 17, 2) : 0;
	if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 || mi > 59 || sec > 60)
		return CF_EINVAL;
	if (n == 20) {
		*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	tm.tm_isdst = -1;
	if ((t = mktime(&tm)) == (time_t)-1)
		return CF_EINVAL;
	*out = (int64_t)t;
	return 0;
}
