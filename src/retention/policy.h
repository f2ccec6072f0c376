/*
 * policy.h - which snapshots a retention policy keeps (docs/format.md 16.2). Pure: no
 * repository, no clock; the caller passes "now".
 */
#ifndef CF_POLICY_H
#define CF_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/compat.h"

/* A snapshot more than this far ahead of the deciding clock is future-dated. */
#define CF_FUTURE_SKEW_S 3600

enum cf_period {
	CF_PERIOD_HOURLY,
	CF_PERIOD_DAILY,
	CF_PERIOD_WEEKLY,
	CF_PERIOD_MONTHLY,
	CF_PERIOD_YEARLY,
	CF_NPERIODS,
};

/* Why a snapshot is kept (bits); 0: removed. */
enum cf_keep_why {
	CF_KEEP_LAST = 1u << 0,
	CF_KEEP_WITHIN = 1u << 1,
	CF_KEEP_HOURLY = 1u << 2, /* CF_KEEP_HOURLY << period */
	CF_KEEP_DAILY = 1u << 3,
	CF_KEEP_WEEKLY = 1u << 4,
	CF_KEEP_MONTHLY = 1u << 5,
	CF_KEEP_YEARLY = 1u << 6,
	CF_KEEP_TAG = 1u << 7,
	CF_KEEP_FUTURE = 1u << 8,
};

struct cf_keep_policy {
	uint32_t last;
	int64_t within_s; /* 0: not used */
	uint32_t periods[CF_NPERIODS];
	const char *const *tags;
	size_t ntags;
};

struct cf_policy_item {
	int64_t time_s;
	uint32_t time_ns;
	size_t group; /* items decide per group (host and paths) */
	const char *const *tags;
	size_t ntags;
	uint32_t why; /* out */
};

/* cf_policy_empty() - no rule at all (forgetting by policy needs one). */
bool cf_policy_empty(const struct cf_keep_policy *p);
/*
 * cf_policy_apply() - set @items[i].why for every item, in any order, deciding each group
 * alone against the clock @now. 0 or CF_ENOMEM.
 */
int cf_policy_apply(const struct cf_keep_policy *p, struct cf_policy_item *items, size_t n,
                    int64_t now) CF_MUST_CHECK;
/* cf_keep_why_text() - "last, daily, tag T" (at most @cap bytes, NUL-terminated). */
void cf_keep_why_text(uint32_t why, const struct cf_keep_policy *p, const struct cf_policy_item *it,
                      char *out, size_t cap);
/* cf_period_of() - the calendar period (local time) number of @t; larger is later. */
int64_t cf_period_of(int64_t t, enum cf_period k);
/*
 * cf_parse_duration() - "1y2m3w4d5h" (y 365 days, m 30 days, w, d, h; each once at most, in
 * that order) into seconds. 0 or CF_EINVAL.
 */
int cf_parse_duration(const char *s, int64_t *out) CF_MUST_CHECK;
/*
 * cf_parse_time() - "YYYY-MM-DDTHH:MM:SSZ" (UTC), "YYYY-MM-DD HH:MM[:SS]" (local time) or
 * "@SECONDS" into unix seconds. 0 or CF_EINVAL.
 */
int cf_parse_time(const char *s, int64_t *out) CF_MUST_CHECK;

#endif
