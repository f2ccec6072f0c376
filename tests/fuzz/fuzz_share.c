/*
 * fuzz_share.c - libFuzzer harness for recovery share text (docs/format.md 10.3): the share
 * file parser and the line parser on the raw input, a round trip through the encoder for
 * whatever parses, unwrapping with a fixed X25519 key (the box_sk of tests/vectors/shares.txt,
 * so seeds wrapped to it reach the plain side), and combining every line of the input that
 * parses as a share.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "recovery/shares.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

#define MAX_LINES 16

static struct cf_boxkey *box;

static bool
setup(void)
{
	static bool done;
	uint8_t sk[CF_BOX_SK_BYTES];

	if (done)
		return box != NULL;
	done = true;
	if (cf_init() != 0)
		return false;
	for (size_t i = 0; i < sizeof(sk); i++)
		sk[i] = (uint8_t)(0x40 + i);
	return cf_boxkey_from_secret(sk, &box) == 0;
}

/* What parses must encode to a line that parses to the same share. */
static void
round_trip(const struct cf_share *s)
{
	char line[CF_SHARE_LINE_MAX + 1];
	struct cf_share again;

	if (cf_share_encode(s, line, sizeof(line)) != 0 ||
	    cf_share_parse_line((const uint8_t *)line, strlen(line), &again) != 0 ||
	    !cf_ct_eq(&again, s, sizeof(again)))
		cf_misuse("share line does not round-trip");
	cf_wipe(line, sizeof(line));
	cf_wipe(&again, sizeof(again));
}

static void
check_share(struct cf_share *s)
{
	round_trip(s);
	if (s->wrapped && cf_share_unwrap(s, box) == 0)
		round_trip(s);
}

/* Every line that parses (wrapped ones unwrapped if they can be) goes into one combine. */
static void
combine_lines(const uint8_t *data, size_t len)
{
	struct cf_share v[MAX_LINES];
	struct cf_key *k = NULL;
	size_t n = 0;
	size_t pos = 0;
	size_t odd = 0;

	while (pos < len && n < MAX_LINES) {
		size_t e = pos;

		while (e < len && data[e] != '\n')
			e++;
		if (cf_share_parse_line(data + pos, e - pos, &v[n]) == 0 &&
		    (!v[n].wrapped || cf_share_unwrap(&v[n], box) == 0))
			n++;
		pos = e + 1;
	}
	if (n > 0 && cf_share_combine(v, n, &k, &odd) == 0) {
		uint8_t kc[CF_SHARE_CHECK_BYTES];

		cf_share_keycheck(kc, k);
		if (!cf_ct_eq(kc, v[0].keycheck, sizeof(kc)))
			cf_misuse("combined key fails its keycheck");
	}
	cf_key_free(k);
	cf_wipe(v, sizeof(v));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct cf_share s;

	if (!setup())
		return 0;
	if (cf_share_parse_file(data, len, &s) == 0)
		check_share(&s);
	if (cf_share_parse_line(data, len, &s) == 0)
		check_share(&s);
	cf_wipe(&s, sizeof(s));
	combine_lines(data, len);
	return 0;
}
