/*
 * test_base.c - src/base: allocator wrappers and their fault hook, error messages
 * (escaping, errno text, wrapping, per-thread storage), hex and number parsing, byte
 * order and checked arithmetic.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include "base/base.h"
#include "harness.h"

/* ---- allocation ---- */

CF_TEST(alloc_zero_sizes_give_valid_pointers)
{
	void *p = cf_malloc(0);
	void *q = cf_calloc(0, 16);
	void *r = cf_calloc(16, 0);
	void *s = cf_realloc(NULL, 0);

	CHECK(p != NULL);
	CHECK(q != NULL);
	CHECK(r != NULL);
	CHECK(s != NULL);
	cf_free(p);
	cf_free(q);
	cf_free(r);
	cf_free(s);
	cf_free(NULL);
	cf_free_wipe(NULL, 100);
}

CF_TEST(alloc_calloc_zeroes_and_realloc_keeps)
{
	uint8_t *p = cf_calloc(64, 4);
	uint8_t *q = NULL;
	bool zero = true;

	CHECK(p != NULL);
	if (p == NULL)
		return;
	for (size_t i = 0; i < 256; i++)
		zero = zero && p[i] == 0;
	CHECK(zero);
	for (size_t i = 0; i < 256; i++)
		p[i] = (uint8_t)i;
	q = cf_realloc(p, 1 << 20);
	CHECK(q != NULL);
	if (q == NULL) {
		cf_free(p);
		return;
	}
	for (size_t i = 0; i < 256; i++)
		zero = zero && q[i] == (uint8_t)i;
	CHECK(zero);
	cf_free_wipe(q, 1 << 20);
}

CF_TEST(alloc_strdup_memdup)
{
	static const uint8_t bytes[] = {0, 1, 2, 0xff};
	char *s = cf_strdup("coffer");
	uint8_t *m = cf_memdup(bytes, sizeof(bytes));
	uint8_t *e = cf_memdup(bytes, 0);

	CHECK(s != NULL && strcmp(s, "coffer") == 0);
	CHECK(m != NULL && memcmp(m, bytes, sizeof(bytes)) == 0);
	CHECK(e != NULL);
	cf_free(s);
	cf_free(m);
	cf_free(e);
}

CF_TEST(alloc_fail_after_nth_call)
{
	void *p[4] = {NULL, NULL, NULL, NULL};

	cf_alloc_fail_after(3);
	p[0] = cf_malloc(10);
	p[1] = cf_malloc(10);
	p[2] = cf_malloc(10); /* the third call after the hook: fails */
	p[3] = cf_malloc(10); /* and every later one */
	CHECK(p[0] != NULL);
	CHECK(p[1] != NULL);
	CHECK(p[2] == NULL);
	CHECK(p[3] == NULL);
	CHECK(cf_calloc(1, 1) == NULL);
	CHECK(cf_realloc(p[0], 100) == NULL); /* p[0] stays valid */
	CHECK(cf_strdup("x") == NULL);
	CHECK(cf_memdup("x", 1) == NULL);
	cf_alloc_fail_after(0);
	p[2] = cf_malloc(10);
	CHECK(p[2] != NULL);
	for (size_t i = 0; i < 4; i++)
		cf_free(p[i]);
}

CF_TEST(alloc_fail_after_one_fails_first_call_of_each_kind)
{
	cf_alloc_fail_after(1);
	CHECK(cf_malloc(1) == NULL);
	cf_alloc_fail_after(1);
	CHECK(cf_calloc(1, 1) == NULL);
	cf_alloc_fail_after(1);
	CHECK(cf_realloc(NULL, 1) == NULL);
	cf_alloc_fail_after(0);
}

CF_TEST(alloc_fail_after_counts_every_kind)
{
	void *a = NULL;
	void *b = NULL;
	void *c = NULL;

	cf_alloc_fail_after(3);
	a = cf_calloc(2, 2);
	b = cf_realloc(NULL, 8);
	c = cf_malloc(8);
	cf_alloc_fail_after(0);
	CHECK(a != NULL);
	CHECK(b != NULL);
	CHECK(c == NULL);
	cf_free(a);
	cf_free(b);
	cf_free(c);
}

/* ---- error names and messages ---- */

CF_TEST(err_strerror_names_every_code)
{
	const char *seen[-CF_EUSAGE + 1] = {NULL};

	for (int e = 0; e >= CF_EUSAGE; e--) {
		const char *s = cf_strerror(e);

		CHECK(s != NULL && s[0] != '\0');
		CHECK(strcmp(s, "unknown error") != 0);
		for (int j = 0; j < -e; j++)
			CHECK(strcmp(seen[j], s) != 0);
		seen[-e] = s;
	}
	CHECK(strcmp(cf_strerror(1), "unknown error") == 0);
	CHECK(strcmp(cf_strerror(CF_EUSAGE - 1), "unknown error") == 0);
	CHECK(strcmp(cf_strerror(INT_MIN), "unknown error") == 0);
}

CF_TEST(err_set_returns_code_and_stores_message)
{
	cf_err_clear();
	CHECK(strcmp(cf_err_last(), "") == 0);
	CHECK(cf_err_set(CF_EFORMAT, "bad %s at %d", "header", 7) == CF_EFORMAT);
	CHECK(strcmp(cf_err_last(), "bad header at 7") == 0);
	cf_err_clear();
	CHECK(strcmp(cf_err_last(), "") == 0);
}

CF_TEST(err_set_escapes_control_characters_to_one_line)
{
	const char *m = NULL;

	CHECK(cf_err_set(CF_EINVAL, "cannot open '%s'", "a\nb\rc\td\x1b[2Je\x7f") == CF_EINVAL);
	m = cf_err_last();
	CHECK(strcmp(m, "cannot open 'a\\x0ab\\x0dc\\x09d\\x1b[2Je\\x7f'") == 0);
	CHECK(strchr(m, '\n') == NULL);
	CHECK(strchr(m, '\r') == NULL);
	(void)cf_err_set(CF_EINVAL, "%s", "\x01\x1f x");
	CHECK(strcmp(cf_err_last(), "\\x01\\x1f x") == 0);
}

CF_TEST(err_set_keeps_utf8_and_escapes_invalid_bytes)
{
	/* valid: e-acute (2 bytes), euro sign (3), U+1F600 (4) */
	(void)cf_err_set(CF_EINVAL, "%s", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	CHECK(strcmp(cf_err_last(), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == 0);
	/* lone continuation, 0xff, overlong '/', surrogate U+D800, over U+10FFFF */
	(void)cf_err_set(CF_EINVAL, "%s",
	                 "a\x80"
	                 "b\xff"
	                 "c\xc0\xaf"
	                 "d\xed\xa0\x80"
	                 "e\xf4\x90\x80\x80");
	CHECK(strcmp(cf_err_last(),
	             "a\\x80b\\xffc\\xc0\\xafd\\xed\\xa0\\x80e\\xf4\\x90\\x80\\x80") == 0);
	/* a sequence cut by the end of the string, and one cut by an ASCII byte */
	(void)cf_err_set(CF_EINVAL, "%s", "x\xe2\x82");
	CHECK(strcmp(cf_err_last(), "x\\xe2\\x82") == 0);
	(void)cf_err_set(CF_EINVAL, "%s", "\xe2z");
	CHECK(strcmp(cf_err_last(), "\\xe2z") == 0);
	/* C1 control U+009B (CSI) is a control character too */
	(void)cf_err_set(CF_EINVAL, "%s",
	                 "\xc2\x9b"
	                 "31m");
	CHECK(strcmp(cf_err_last(), "\\xc2\\x9b31m") == 0);
	/* U+00A0 is the first code point after C1 and stays */
	(void)cf_err_set(CF_EINVAL, "%s", "\xc2\xa0");
	CHECK(strcmp(cf_err_last(), "\xc2\xa0") == 0);
}

CF_TEST(err_set_sys_appends_errno_text)
{
	char want[512];
	char etext[256];

	CHECK(strerror_r(ENOENT, etext, sizeof(etext)) == 0);
	(void)snprintf(want, sizeof(want), "cannot open 'x/y': %s", etext);
	errno = ENOENT;
	CHECK(cf_err_set(CF_ESYS, "cannot open '%s'", "x/y") == CF_ESYS);
	CHECK(strcmp(cf_err_last(), want) == 0);
	CHECK(errno == ENOENT); /* preserved for the caller */

	/* errno text only for CF_ESYS, and only when errno is set */
	errno = EACCES;
	(void)cf_err_set(CF_EFORMAT, "bad");
	CHECK(strcmp(cf_err_last(), "bad") == 0);
	errno = 0;
	(void)cf_err_set(CF_ESYS, "sys");
	CHECK(strcmp(cf_err_last(), "sys") == 0);
}

CF_TEST(err_long_message_is_truncated_and_terminated)
{
	static char big[4096];
	size_t n = 0;

	memset(big, 'a', sizeof(big) - 1);
	(void)cf_err_set(CF_EINVAL, "%s", big);
	n = strlen(cf_err_last());
	CHECK(n > 900 && n < 1024);
	/* every byte escapes to four: still bounded */
	memset(big, '\n', sizeof(big) - 1);
	(void)cf_err_set(CF_EINVAL, "%s", big);
	n = strlen(cf_err_last());
	CHECK(n > 900 && n < 1024);
	CHECK(n % 4 == 0);
	CHECK(strchr(cf_err_last(), '\n') == NULL);
	/* a long name with CF_ESYS: the message stays bounded */
	memset(big, 'b', sizeof(big) - 1);
	errno = EIO;
	(void)cf_err_set(CF_ESYS, "%s", big);
	CHECK(strlen(cf_err_last()) < 1024);
}

CF_TEST(err_wrap_prefixes_context)
{
	(void)cf_err_set(CF_ETRUNC, "short read");
	CHECK(cf_err_wrap(CF_ETRUNC, "pack '%s'", "p1") == CF_ETRUNC);
	CHECK(strcmp(cf_err_last(), "pack 'p1': short read") == 0);
	CHECK(cf_err_wrap(CF_ETRUNC, "repo") == CF_ETRUNC);
	CHECK(strcmp(cf_err_last(), "repo: pack 'p1': short read") == 0);
	cf_err_clear();
	CHECK(cf_err_wrap(CF_EAUTH, "chunk %d", 3) == CF_EAUTH);
	CHECK(strcmp(cf_err_last(), "chunk 3: authentication failed") == 0);
	(void)cf_err_set(CF_EINVAL, "x");
	(void)cf_err_wrap(CF_EINVAL, "%s", "a\nb");
	CHECK(strcmp(cf_err_last(), "a\\x0ab: x") == 0);
}

CF_TEST(err_copy_and_restore)
{
	char small[6];
	char full[64];

	(void)cf_err_set(CF_EINVAL, "hello world");
	cf_err_copy(small, sizeof(small));
	CHECK(strcmp(small, "hello") == 0);
	cf_err_copy(full, sizeof(full));
	CHECK(strcmp(full, "hello world") == 0);
	cf_err_copy(small, 0); /* writes nothing */
	CHECK(strcmp(small, "hello") == 0);
	cf_err_clear();
	cf_err_restore(full);
	CHECK(strcmp(cf_err_last(), "hello world") == 0);
	cf_err_restore("two\nlines\xff");
	CHECK(strcmp(cf_err_last(), "two\\x0alines\\xff") == 0);
	/* restoring the current message onto itself changes nothing */
	cf_err_restore(cf_err_last());
	CHECK(strcmp(cf_err_last(), "two\\x0alines\\xff") == 0);
}

static void *
err_thread(void *arg)
{
	char *out = arg;

	/* a new thread starts with no message and does not see the main thread's */
	if (cf_err_last()[0] == '\0')
		(void)cf_err_set(CF_ENOENT, "thread");
	cf_err_copy(out, 32);
	return NULL;
}

CF_TEST(err_message_is_per_thread)
{
	pthread_t t;
	char got[32] = "";

	(void)cf_err_set(CF_EINVAL, "main");
	CHECK(pthread_create(&t, NULL, err_thread, got) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(strcmp(got, "thread") == 0);
	CHECK(strcmp(cf_err_last(), "main") == 0);
}

/* ---- hex ---- */

CF_TEST(hex_encode_known_answer)
{
	static const uint8_t in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	char out[2 * sizeof(in) + 1];
	char empty[1] = {'x'};

	cf_hex(out, in, sizeof(in));
	CHECK(strcmp(out, "00017f80abff") == 0);
	cf_hex(empty, in, 0);
	CHECK(empty[0] == '\0');
}

CF_TEST(hex_decode_round_trip_and_case)
{
	uint8_t in[32];
	uint8_t back[32];
	char hex[65];
	uint8_t two[2];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 37 + 11);
	cf_hex(hex, in, sizeof(in));
	CHECK(cf_unhex(back, sizeof(back), hex, 64) == 0);
	CHECK(memcmp(in, back, sizeof(in)) == 0);
	CHECK(cf_unhex(two, 2, "ABcd", 4) == 0);
	CHECK(two[0] == 0xab && two[1] == 0xcd);
	CHECK(cf_unhex(two, 0, "", 0) == 0);
}

CF_TEST(hex_decode_rejects_malformed)
{
	uint8_t out[4];

	CHECK(cf_unhex(out, 4, "0011223", 7) == CF_EFORMAT);     /* odd */
	CHECK(cf_unhex(out, 4, "001122", 6) == CF_EFORMAT);      /* short */
	CHECK(cf_unhex(out, 4, "0011223344", 10) == CF_EFORMAT); /* long */
	CHECK(cf_unhex(out, 4, "0011223g", 8) == CF_EFORMAT);    /* not hex */
	CHECK(cf_unhex(out, 4, "00 11 22", 8) == CF_EFORMAT);    /* separators */
	CHECK(cf_unhex(out, 4, "0x112233", 8) == CF_EFORMAT);    /* prefix */
	CHECK(cf_unhex(out, 2,
	               "00\0"
	               "1",
	               4) == CF_EFORMAT); /* embedded NUL */
}

/* ---- numbers ---- */

CF_TEST(parse_u64_accepts_full_range)
{
	uint64_t v = 1;

	CHECK(cf_parse_u64("0", 0, UINT64_MAX, &v) == 0 && v == 0);
	CHECK(cf_parse_u64("42", 0, UINT64_MAX, &v) == 0 && v == 42);
	CHECK(cf_parse_u64("007", 0, UINT64_MAX, &v) == 0 && v == 7);
	CHECK(cf_parse_u64("18446744073709551615", 0, UINT64_MAX, &v) == 0 && v == UINT64_MAX);
	CHECK(cf_parse_u64("18446744073709551610", 0, UINT64_MAX, &v) == 0 && v == UINT64_MAX - 5);
}

CF_TEST(parse_u64_rejects_overflow)
{
	static const char *bad[] = {
	        "18446744073709551616",  "18446744073709551619", "18446744073709551620",
	        "19999999999999999999",  "99999999999999999999", "184467440737095516150",
	        "100000000000000000000",
	};
	uint64_t v = 99;

	for (size_t i = 0; i < CF_ARRAY_LEN(bad); i++) {
		CHECK(cf_parse_u64(bad[i], 0, UINT64_MAX, &v) == CF_EINVAL);
		CHECK(v == 99); /* untouched on failure */
	}
}

CF_TEST(parse_u64_rejects_garbage)
{
	static const char *bad[] = {
	        "",    "-1",  "+1",    " 1",  "1 ",  "1a",       "a1", "0x10",
	        "1e3", "1.0", "1,000", "\t1", "1\n", "\xd9\xa3", /* ARABIC-INDIC DIGIT THREE */
	};
	uint64_t v = 99;

	for (size_t i = 0; i < CF_ARRAY_LEN(bad); i++)
		CHECK(cf_parse_u64(bad[i], 0, UINT64_MAX, &v) == CF_EINVAL);
	CHECK(cf_parse_u64(NULL, 0, UINT64_MAX, &v) == CF_EINVAL);
	CHECK(v == 99);
}

CF_TEST(parse_u64_checks_range)
{
	uint64_t v = 0;

	CHECK(cf_parse_u64("10", 10, 20, &v) == 0 && v == 10);
	CHECK(cf_parse_u64("20", 10, 20, &v) == 0 && v == 20);
	CHECK(cf_parse_u64("9", 10, 20, &v) == CF_EINVAL);
	CHECK(cf_parse_u64("21", 10, 20, &v) == CF_EINVAL);
	CHECK(cf_parse_u64("0", 1, UINT64_MAX, &v) == CF_EINVAL);
	CHECK(cf_parse_u64("65536", 0, UINT16_MAX, &v) == CF_EINVAL);
	CHECK(cf_parse_u64("5", 5, 5, &v) == 0 && v == 5);
}

CF_TEST(parse_size_units)
{
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
	        {"0", 0},
	        {"1024", 1024},
	        {"512k", 512ull << 10},
	        {"512K", 512ull << 10},
	        {"16M", 16ull << 20},
	        {"16m", 16ull << 20},
	        {"50G", 50ull << 30},
	        {"50g", 50ull << 30},
	        {"2T", 2ull << 40},
	        {"2t", 2ull << 40},
	        {"1P", 1ull << 50},
	        {"16MB", 16ull << 20},
	        {"16mb", 16ull << 20},
	        {"4kB", 4ull << 10},
	        {"0G", 0},
	        {"16777215T", 16777215ull << 40},
	        {"18446744073709551615", UINT64_MAX},
	};
	uint64_t v = 0;

	for (size_t i = 0; i < CF_ARRAY_LEN(ok); i++) {
		v = 1;
		CHECK(cf_parse_size(ok[i].s, &v) == 0);
		CHECK(v == ok[i].v);
	}
}

CF_TEST(parse_size_rejects_invalid)
{
	static const char *bad[] = {
	        "",
	        "k",
	        "M",
	        "MB",
	        "B",
	        "16X",
	        "16 M",
	        "-1",
	        "-1M",
	        "1.5G",
	        "16MiB",
	        "M16",
	        "16MM",
	        "0x10M",
	        " 16M",
	        "16M ",
	        "16e",
	        "1Z",
	        "16Mb ",
	        "99999999999999999999999",
	        "16777216T", /* 2^64 */
	        "16384P",    /* 2^64 */
	        "18446744073709551616",
	        "17179869184G", /* 2^64 */
	};
	uint64_t v = 77;

	for (size_t i = 0; i < CF_ARRAY_LEN(bad); i++) {
		CHECK(cf_parse_size(bad[i], &v) == CF_EINVAL);
		if (cf_parse_size(bad[i], &v) != CF_EINVAL)
			fprintf(stderr, "  accepted '%s'\n", bad[i]);
	}
	CHECK(v == 77);
}

/* ---- byte order and checked arithmetic ---- */

CF_TEST(byte_order_known_answers)
{
	uint8_t b[8];

	cf_put_u16be(b, 0x0102);
	CHECK(b[0] == 1 && b[1] == 2 && cf_get_u16be(b) == 0x0102);
	cf_put_u32be(b, 0xdeadbeef);
	CHECK(b[0] == 0xde && b[3] == 0xef && cf_get_u32be(b) == 0xdeadbeef);
	cf_put_u64be(b, 0x0102030405060708ull);
	for (size_t i = 0; i < 8; i++)
		CHECK(b[i] == i + 1);
	CHECK(cf_get_u64be(b) == 0x0102030405060708ull);
	cf_put_u64be(b, UINT64_MAX);
	CHECK(cf_get_u64be(b) == UINT64_MAX);
	cf_put_u16be(b, 0xffff);
	CHECK(cf_get_u16be(b) == 0xffff);
}

CF_TEST(checked_arithmetic)
{
	size_t s = 0;
	uint64_t u = 0;

	CHECK(cf_size_add(1, 2, &s) == 0 && s == 3);
	CHECK(cf_size_add(SIZE_MAX, 1, &s) == -1);
	CHECK(cf_size_add(SIZE_MAX, 0, &s) == 0 && s == SIZE_MAX);
	CHECK(cf_size_mul(SIZE_MAX / 2, 2, &s) == 0);
	CHECK(cf_size_mul(SIZE_MAX / 2 + 1, 2, &s) == -1);
	CHECK(cf_size_mul(0, SIZE_MAX, &s) == 0 && s == 0);
	CHECK(cf_u64_add(UINT64_MAX - 1, 1, &u) == 0 && u == UINT64_MAX);
	CHECK(cf_u64_add(UINT64_MAX, 1, &u) == -1);
}
