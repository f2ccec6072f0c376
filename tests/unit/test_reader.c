/*
 * test_reader.c - struct cf_reader: big-endian getters, truncation (CF_ETRUNC) at every
 * prefix of a record, trailing bytes (cf_reader_end: CF_EFORMAT), length prefixes over
 * their maximum (CF_ETOOBIG), borrowed views, and a failed getter consuming nothing.
 */
#include <string.h>

#include "buf/buf.h"
#include "harness.h"
#include "reader/reader.h"

static const uint8_t ints[] = {
        0x7f,                                           /* u8 */
        0x01, 0x02,                                     /* u16 */
        0xde, 0xad, 0xbe, 0xef,                         /* u32 */
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* u64 */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, /* i64 -2 */
};

CF_TEST(reader_integers_known_answers)
{
	struct cf_reader r;
	uint8_t a = 0;
	uint16_t b = 0;
	uint32_t c = 0;
	uint64_t d = 0;
	int64_t e = 0;

	cf_reader_init(&r, ints, sizeof(ints));
	CHECK(cf_reader_u8(&r, &a) == 0 && a == 0x7f);
	CHECK(cf_reader_u16be(&r, &b) == 0 && b == 0x0102);
	CHECK(cf_reader_u32be(&r, &c) == 0 && c == 0xdeadbeef);
	CHECK(cf_reader_u64be(&r, &d) == 0 && d == 0x0102030405060708ull);
	CHECK(cf_reader_end(&r) == CF_EFORMAT); /* the i64 is still there */
	CHECK(cf_reader_i64be(&r, &e) == 0 && e == -2);
	CHECK(cf_reader_end(&r) == 0);
	CHECK(r.left == 0);
}

/* Read the record of ints[]; the first error, or cf_reader_end()'s result. */
static int
parse_ints(const uint8_t *p, size_t len)
{
	struct cf_reader r;
	uint8_t a = 0;
	uint16_t b = 0;
	uint32_t c = 0;
	uint64_t d = 0;
	int64_t e = 0;
	int rc;

	cf_reader_init(&r, p, len);
	if ((rc = cf_reader_u8(&r, &a)) != 0 || (rc = cf_reader_u16be(&r, &b)) != 0 ||
	    (rc = cf_reader_u32be(&r, &c)) != 0 || (rc = cf_reader_u64be(&r, &d)) != 0 ||
	    (rc = cf_reader_i64be(&r, &e)) != 0)
		return rc;
	return cf_reader_end(&r);
}

CF_TEST(reader_every_prefix_truncates_and_trailing_fails)
{
	uint8_t longer[sizeof(ints) + 1];

	for (size_t n = 0; n < sizeof(ints); n++)
		CHECK(parse_ints(ints, n) == CF_ETRUNC);
	CHECK(parse_ints(ints, sizeof(ints)) == 0);
	memcpy(longer, ints, sizeof(ints));
	longer[sizeof(ints)] = 0;
	CHECK(parse_ints(longer, sizeof(longer)) == CF_EFORMAT);
}

CF_TEST(reader_failed_getter_consumes_nothing)
{
	static const uint8_t three[] = {1, 2, 3};
	struct cf_reader r;
	uint32_t v32 = 7;
	uint64_t v64 = 7;
	int64_t i64 = 7;
	const uint8_t *view = three;
	uint8_t dst[4] = {9, 9, 9, 9};

	cf_reader_init(&r, three, sizeof(three));
	CHECK(cf_reader_u32be(&r, &v32) == CF_ETRUNC && v32 == 7);
	CHECK(cf_reader_u64be(&r, &v64) == CF_ETRUNC && v64 == 7);
	CHECK(cf_reader_i64be(&r, &i64) == CF_ETRUNC && i64 == 7);
	CHECK(cf_reader_view(&r, 4, &view) == CF_ETRUNC && view == NULL);
	CHECK(cf_reader_copy(&r, dst, 4) == CF_ETRUNC && dst[0] == 9);
	CHECK(cf_reader_skip(&r, 4) == CF_ETRUNC);
	CHECK(cf_reader_skip(&r, SIZE_MAX) == CF_ETRUNC);
	CHECK(r.p == three && r.left == 3);
	CHECK(cf_reader_copy(&r, dst, 3) == 0 && dst[0] == 1 && dst[2] == 3 && dst[3] == 9);
	CHECK(cf_reader_end(&r) == 0);
}

CF_TEST(reader_view_borrows_input)
{
	static const uint8_t in[] = {'h', 'e', 'a', 'd', 'b', 'o', 'd', 'y'};
	struct cf_reader r;
	const uint8_t *v = NULL;

	cf_reader_init(&r, in, sizeof(in));
	CHECK(cf_reader_view(&r, 0, &v) == 0 && v == in);
	CHECK(cf_reader_view(&r, 4, &v) == 0 && v == in);
	CHECK(cf_reader_skip(&r, 1) == 0);
	CHECK(cf_reader_view(&r, 3, &v) == 0 && v == in + 5);
	CHECK(cf_reader_end(&r) == 0);
	CHECK(cf_reader_view(&r, 0, &v) == 0);
	CHECK(cf_reader_view(&r, 1, &v) == CF_ETRUNC && v == NULL);
}

CF_TEST(reader_empty_input)
{
	struct cf_reader r;
	uint8_t v = 0;
	const uint8_t *p = NULL;
	size_t len = 9;

	cf_reader_init(&r, NULL, 0);
	CHECK(cf_reader_end(&r) == 0);
	CHECK(cf_reader_u8(&r, &v) == CF_ETRUNC);
	CHECK(cf_reader_str8(&r, 255, &p, &len) == CF_ETRUNC && p == NULL && len == 0);
	CHECK(cf_reader_skip(&r, 0) == 0);
	CHECK(cf_reader_copy(&r, &v, 0) == 0);
	CHECK(cf_reader_end(&r) == 0);
}

CF_TEST(reader_str8_and_str16)
{
	static const uint8_t in[] = {3, 'a', 'b', 'c', 0, 2, 'x', 'y', 0, 0, 0};
	struct cf_reader r;
	const uint8_t *p = NULL;
	size_t len = 0;

	cf_reader_init(&r, in, sizeof(in));
	CHECK(cf_reader_str8(&r, 3, &p, &len) == 0 && len == 3 && p == in + 1);
	CHECK(cf_reader_str16(&r, 2, &p, &len) == 0 && len == 2 && memcmp(p, "xy", 2) == 0);
	CHECK(cf_reader_str8(&r, 0, &p, &len) == 0 && len == 0);
	CHECK(cf_reader_str16(&r, 0, &p, &len) == 0 && len == 0);
	CHECK(cf_reader_end(&r) == 0);
}

CF_TEST(reader_string_over_max_is_toobig)
{
	static const uint8_t s8[] = {5, 'a', 'b', 'c', 'd', 'e'};
	static const uint8_t s16[] = {0x01, 0x00, 'a'}; /* declares 256 bytes */
	struct cf_reader r;
	const uint8_t *p = s8;
	size_t len = 9;

	cf_reader_init(&r, s8, sizeof(s8));
	CHECK(cf_reader_str8(&r, 4, &p, &len) == CF_ETOOBIG);
	CHECK(p == NULL && len == 0);
	CHECK(r.p == s8 && r.left == sizeof(s8));
	CHECK(cf_reader_str8(&r, 5, &p, &len) == 0 && len == 5);
	/* the limit is checked before the bytes are looked at */
	cf_reader_init(&r, s16, sizeof(s16));
	CHECK(cf_reader_str16(&r, 255, &p, &len) == CF_ETOOBIG);
	CHECK(cf_reader_str16(&r, 256, &p, &len) == CF_ETRUNC);
	CHECK(p == NULL && len == 0);
	CHECK(r.p == s16 && r.left == sizeof(s16));
}

CF_TEST(reader_string_length_beyond_input_truncates)
{
	static const uint8_t s8[] = {4, 'a', 'b', 'c'};
	static const uint8_t s16[] = {0xff, 0xff, 'a', 'b'};
	static const uint8_t half[] = {0x00};
	struct cf_reader r;
	const uint8_t *p = NULL;
	size_t len = 0;

	cf_reader_init(&r, s8, sizeof(s8));
	CHECK(cf_reader_str8(&r, 255, &p, &len) == CF_ETRUNC);
	CHECK(r.p == s8 && r.left == sizeof(s8)); /* the length byte is not consumed */
	cf_reader_init(&r, s16, sizeof(s16));
	CHECK(cf_reader_str16(&r, 65535, &p, &len) == CF_ETRUNC);
	CHECK(r.left == sizeof(s16));
	cf_reader_init(&r, half, sizeof(half));
	CHECK(cf_reader_str16(&r, 65535, &p, &len) == CF_ETRUNC);
	CHECK(r.left == 1);
}

/* A record written with cf_buf reads back field for field. */
CF_TEST(reader_round_trip_with_buf)
{
	struct cf_buf b;
	struct cf_reader r;
	const uint8_t *p = NULL;
	size_t len = 0;
	uint8_t v8 = 0;
	uint64_t v64 = 0;
	int64_t i64 = 0;
	uint8_t tail[3] = {0};

	cf_buf_init(&b, 1024);
	CHECK(cf_buf_u8(&b, 1) == 0);
	CHECK(cf_buf_str8(&b, "name", 4) == 0);
	CHECK(cf_buf_u64be(&b, UINT64_MAX - 1) == 0);
	CHECK(cf_buf_i64be(&b, INT64_MIN) == 0);
	CHECK(cf_buf_str16(&b, "payload", 7) == 0);
	CHECK(cf_buf_put(&b, "end", 3) == 0);

	cf_reader_init(&r, b.p, b.len);
	CHECK(cf_reader_u8(&r, &v8) == 0 && v8 == 1);
	CHECK(cf_reader_str8(&r, 64, &p, &len) == 0 && len == 4 && memcmp(p, "name", 4) == 0);
	CHECK(cf_reader_u64be(&r, &v64) == 0 && v64 == UINT64_MAX - 1);
	CHECK(cf_reader_i64be(&r, &i64) == 0 && i64 == INT64_MIN);
	CHECK(cf_reader_str16(&r, 64, &p, &len) == 0 && len == 7 && memcmp(p, "payload", 7) == 0);
	CHECK(cf_reader_end(&r) == CF_EFORMAT);
	CHECK(cf_reader_copy(&r, tail, sizeof(tail)) == 0 && memcmp(tail, "end", 3) == 0);
	CHECK(cf_reader_end(&r) == 0);
	cf_buf_release(&b);
}
