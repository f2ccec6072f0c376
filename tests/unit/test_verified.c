/*
 * test_verified.c - src/repo/verified.c: the --read-data-subset value (docs/format.md
 * 16.5: 0 < P <= 100, optionally followed by '%') and ceil(P/100 x packs), exactly.
 */
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "repo/verified.h"

static uint32_t
parse_ok(const char *s)
{
	uint32_t m = 0;

	CHECK_EQ(cf_subset_parse(s, &m), 0);
	return m;
}

CF_TEST(subset_parse_accepts_percentages)
{
	CHECK_EQ(parse_ok("5"), 5000000u);
	CHECK_EQ(parse_ok("5%"), 5000000u);
	CHECK_EQ(parse_ok("2.5%"), 2500000u);
	CHECK_EQ(parse_ok("100"), CF_SUBSET_MAX_MICRO);
	CHECK_EQ(parse_ok("100.000%"), CF_SUBSET_MAX_MICRO);
	CHECK_EQ(parse_ok("007.25"), 7250000u);
	CHECK_EQ(parse_ok("0.000001"), 1u);
	/* past the sixth decimal a non-zero digit rounds up, a zero does not */
	CHECK_EQ(parse_ok("0.0000001"), 1u);
	CHECK_EQ(parse_ok("1.0000000000"), 1000000u);
	CHECK_EQ(parse_ok("1.0000001"), 1000001u);
}

CF_TEST(subset_parse_rejects_the_rest)
{
	static const char *bad[] = {"",          "0",
	                            "0%",        "0.0",
	                            "00.000000", "101",
	                            "100.1",     "100.0000001",
	                            "abc",       "-5",
	                            "+5",        " 5",
	                            "5 ",        "5.",
	                            ".5",        "5%%",
	                            "%5",        "1e1",
	                            "0x10",      "5,5",
	                            "5.5.5",     "99999999999999999999999"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t m = 7;

		CHECK_EQ(cf_subset_parse(bad[i], &m), CF_EINVAL);
		CHECK_EQ(m, 0u);
		CHECK(strstr(cf_err_last(), "read-data-subset") != NULL);
	}
}

CF_TEST(subset_count_is_the_exact_ceiling)
{
	CHECK_EQ(cf_subset_count(20000000u, 0), 0u);
	CHECK_EQ(cf_subset_count(1u, 1), 1u);
	CHECK_EQ(cf_subset_count(20000000u, 24), 5u);
	CHECK_EQ(cf_subset_count(20000000u, 25), 5u);
	CHECK_EQ(cf_subset_count(20000000u, 26), 6u);
	CHECK_EQ(cf_subset_count(5000000u, 20), 1u);
	CHECK_EQ(cf_subset_count(5000000u, 21), 2u);
	CHECK_EQ(cf_subset_count(CF_SUBSET_MAX_MICRO, 12345), 12345u);
	CHECK_EQ(cf_subset_count(CF_SUBSET_MAX_MICRO - 1, 12345), 12345u);
	CHECK_EQ(cf_subset_count(1u, 100000000u), 1u);
	CHECK_EQ(cf_subset_count(1u, 100000001u), 2u);
	/* no overflow for any pack count */
	CHECK_EQ(cf_subset_count(CF_SUBSET_MAX_MICRO, SIZE_MAX), SIZE_MAX);
	CHECK_EQ(cf_subset_count(50000000u, SIZE_MAX), SIZE_MAX / 2 + 1);
}
