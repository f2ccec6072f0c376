/*
 * test_buf.c - struct cf_buf: encodings, the hard maximum (CF_ETOOBIG), allocation
 * failure (CF_ENOMEM) leaving the buffer as it was, reset/release/detach, and wiping of
 * secret buffers.
 */
#include <string.h>

#include "base/base.h"
#include "buf/buf.h"
#include "harness.h"

static bool
buf_is(const struct cf_buf *b, const void *want, size_t len)
{
	return b->len == len && (len == 0 || memcmp(b->p, want, len) == 0);
}

static bool
buf_sane(const struct cf_buf *b)
{
	return b->len <= b->cap && b->cap <= b->max && (b->cap == 0 || b->p != NULL);
}

CF_TEST(buf_init_is_empty_and_allocates_nothing)
{
	struct cf_buf b;

	cf_buf_init(&b, 100);
	CHECK(b.p == NULL && b.len == 0 && b.cap == 0 && b.max == 100 && !b.secret);
	cf_buf_release(&b);
	cf_buf_init_secret(&b, 100);
	CHECK(b.p == NULL && b.len == 0 && b.cap == 0 && b.max == 100 && b.secret);
	cf_buf_release(&b);
	cf_buf_release(&b); /* twice is harmless */
}

CF_TEST(buf_integer_encodings_are_big_endian)
{
	static const uint8_t want[] = {
	        0x7f,                                           /* u8 */
	        0x01, 0x02,                                     /* u16 */
	        0xde, 0xad, 0xbe, 0xef,                         /* u32 */
	        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* u64 */
	        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, /* i64 -2 */
	        0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* i64 min */
	        0x00, 0x00, 0x00,                               /* zero(3) */
	};
	struct cf_buf b;

	cf_buf_init(&b, 1024);
	CHECK(cf_buf_u8(&b, 0x7f) == 0);
	CHECK(cf_buf_u16be(&b, 0x0102) == 0);
	CHECK(cf_buf_u32be(&b, 0xdeadbeef) == 0);
	CHECK(cf_buf_u64be(&b, 0x0102030405060708ull) == 0);
	CHECK(cf_buf_i64be(&b, -2) == 0);
	CHECK(cf_buf_i64be(&b, INT64_MIN) == 0);
	CHECK(cf_buf_zero(&b, 3) == 0);
	CHECK(buf_is(&b, want, sizeof(want)));
	CHECK(buf_sane(&b));
	cf_buf_release(&b);
}

CF_TEST(buf_strings_carry_length_prefix)
{
	static const uint8_t want[] = {3, 'a', 'b', 'c', 0, 2, 'x', 'y', 0, 0, 0};
	struct cf_buf b;

	cf_buf_init(&b, 64);
	CHECK(cf_buf_str8(&b, "abc", 3) == 0);
	CHECK(cf_buf_str16(&b, "xy", 2) == 0);
	CHECK(cf_buf_str8(&b, NULL, 0) == 0);
	CHECK(cf_buf_str16(&b, NULL, 0) == 0);
	CHECK(buf_is(&b, want, sizeof(want)));
	cf_buf_release(&b);
}

CF_TEST(buf_string_length_limits)
{
	static uint8_t big[65536 + 1];
	struct cf_buf b;

	cf_buf_init(&b, 1 << 20);
	CHECK(cf_buf_str8(&b, big, 255) == 0);
	CHECK(b.len == 256 && b.p[0] == 255);
	CHECK(cf_buf_str8(&b, big, 256) == CF_ETOOBIG);
	CHECK(b.len == 256);
	CHECK(cf_buf_str16(&b, big, 65535) == 0);
	CHECK(b.len == 256 + 2 + 65535 && b.p[256] == 0xff && b.p[257] == 0xff);
	CHECK(cf_buf_str16(&b, big, 65536) == CF_ETOOBIG);
	CHECK(b.len == 256 + 2 + 65535);
	cf_buf_release(&b);
}

CF_TEST(buf_max_is_a_hard_limit)
{
	uint8_t data[300];
	struct cf_buf b;

	memset(data, 0xa5, sizeof(data));
	cf_buf_init(&b, 300);
	CHECK(cf_buf_put(&b, data, 200) == 0);
	CHECK(cf_buf_put(&b, data, 101) == CF_ETOOBIG); /* 301 > 300 */
	CHECK(buf_is(&b, data, 200));
	CHECK(cf_buf_put(&b, data, 100) == 0); /* exactly max */
	CHECK(buf_is(&b, data, 300));
	CHECK(b.cap == 300); /* growth is clamped to max */
	CHECK(cf_buf_u8(&b, 1) == CF_ETOOBIG);
	CHECK(cf_buf_u16be(&b, 1) == CF_ETOOBIG);
	CHECK(cf_buf_u32be(&b, 1) == CF_ETOOBIG);
	CHECK(cf_buf_u64be(&b, 1) == CF_ETOOBIG);
	CHECK(cf_buf_i64be(&b, 1) == CF_ETOOBIG);
	CHECK(cf_buf_zero(&b, 1) == CF_ETOOBIG);
	CHECK(cf_buf_reserve(&b, 1) == CF_ETOOBIG);
	CHECK(cf_buf_reserve(&b, SIZE_MAX) == CF_ETOOBIG); /* len + n overflows */
	CHECK(cf_buf_put(&b, data, 0) == 0);
	CHECK(cf_buf_reserve(&b, 0) == 0);
	CHECK(buf_is(&b, data, 300));
	CHECK(buf_sane(&b));
	cf_buf_release(&b);
}

CF_TEST(buf_partial_fit_appends_nothing)
{
	uint8_t *sp = NULL;
	struct cf_buf b;

	cf_buf_init(&b, 10);
	CHECK(cf_buf_put(&b, "1234567", 7) == 0);
	CHECK(cf_buf_u32be(&b, 0) == CF_ETOOBIG);
	CHECK(cf_buf_u64be(&b, 0) == CF_ETOOBIG);
	CHECK(cf_buf_str8(&b, "abc", 3) == CF_ETOOBIG); /* prefix would fit, bytes would not */
	CHECK(cf_buf_str16(&b, "ab", 2) == CF_ETOOBIG);
	CHECK(cf_buf_append_space(&b, 4, &sp) == CF_ETOOBIG && sp == NULL);
	CHECK(buf_is(&b, "1234567", 7));
	CHECK(cf_buf_str8(&b, "ab", 2) == 0);
	CHECK(buf_is(&b, "1234567\002ab", 10));
	cf_buf_release(&b);
}

CF_TEST(buf_zero_max)
{
	uint8_t *sp = NULL;
	struct cf_buf b;

	cf_buf_init(&b, 0);
	CHECK(cf_buf_put(&b, "x", 1) == CF_ETOOBIG);
	CHECK(cf_buf_put(&b, "x", 0) == 0);
	CHECK(cf_buf_append_space(&b, 0, &sp) == 0);
	CHECK(cf_buf_str8(&b, NULL, 0) == CF_ETOOBIG);
	CHECK(b.len == 0 && b.cap == 0);
	cf_buf_release(&b);
}

CF_TEST(buf_append_space_and_growth)
{
	struct cf_buf b;
	uint8_t *sp = NULL;
	bool ok = true;

	cf_buf_init(&b, SIZE_MAX);
	for (size_t i = 0; i < 1000; i++) {
		if (cf_buf_append_space(&b, 1000, &sp) != 0) {
			ok = false;
			break;
		}
		memset(sp, (int)(i & 0xff), 1000);
	}
	CHECK(ok);
	CHECK(b.len == 1000 * 1000);
	for (size_t i = 0; ok && i < 1000; i++)
		ok = b.p[i * 1000] == (uint8_t)i && b.p[i * 1000 + 999] == (uint8_t)i;
	CHECK(ok);
	CHECK(buf_sane(&b));
	cf_buf_release(&b);
}

CF_TEST(buf_reset_keeps_memory)
{
	struct cf_buf b;
	uint8_t *p = NULL;
	size_t cap = 0;

	cf_buf_init(&b, 4096);
	CHECK(cf_buf_put(&b, "abcdef", 6) == 0);
	p = b.p;
	cap = b.cap;
	cf_buf_reset(&b);
	CHECK(b.len == 0 && b.p == p && b.cap == cap);
	CHECK(cf_buf_put(&b, "xy", 2) == 0);
	CHECK(buf_is(&b, "xy", 2));
	cf_buf_release(&b);
	CHECK(b.p == NULL && b.len == 0 && b.cap == 0 && b.max == 4096);
	CHECK(cf_buf_put(&b, "z", 1) == 0); /* usable again after release */
	CHECK(buf_is(&b, "z", 1));
	cf_buf_release(&b);
}

CF_TEST(buf_secret_reset_wipes)
{
	struct cf_buf b;
	bool zero = true;

	cf_buf_init_secret(&b, 4096);
	CHECK(cf_buf_put(&b, "secret key bytes", 16) == 0);
	cf_buf_reset(&b);
	CHECK(b.len == 0 && b.p != NULL);
	for (size_t i = 0; b.p != NULL && i < 16; i++)
		zero = zero && b.p[i] == 0;
	CHECK(zero);
	cf_buf_release(&b);
}

CF_TEST(buf_secret_grows_by_copy)
{
	struct cf_buf b;
	uint8_t chunk[1000];
	bool ok = true;

	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)(i * 7);
	cf_buf_init_secret(&b, 1 << 20);
	for (size_t i = 0; i < 100 && ok; i++)
		ok = cf_buf_put(&b, chunk, sizeof(chunk)) == 0;
	CHECK(ok);
	for (size_t i = 0; ok && i < 100; i++)
		ok = memcmp(b.p + i * sizeof(chunk), chunk, sizeof(chunk)) == 0;
	CHECK(ok);
	CHECK(buf_sane(&b));
	cf_buf_release(&b);
}

CF_TEST(buf_detach_hands_over)
{
	struct cf_buf b;
	uint8_t *p = NULL;
	size_t len = 99;

	cf_buf_init(&b, 64);
	cf_buf_detach(&b, &p, &len);
	CHECK(p == NULL && len == 0);
	CHECK(cf_buf_put(&b, "hello", 5) == 0);
	cf_buf_detach(&b, &p, &len);
	CHECK(len == 5 && p != NULL && memcmp(p, "hello", 5) == 0);
	CHECK(b.p == NULL && b.len == 0 && b.cap == 0);
	cf_free(p);
	CHECK(cf_buf_put(&b, "again", 5) == 0);
	CHECK(buf_is(&b, "again", 5));
	cf_buf_release(&b);

	cf_buf_init_secret(&b, 64);
	CHECK(cf_buf_put(&b, "k", 1) == 0);
	cf_buf_detach(&b, &p, &len);
	CHECK(len == 1 && p != NULL && p[0] == 'k');
	cf_free_wipe(p, len);
	cf_buf_release(&b);
}

static void
check_enomem_leaves_buffer(bool secret)
{
	struct cf_buf b;
	uint8_t big[1000];

	memset(big, 0x5a, sizeof(big));
	if (secret)
		cf_buf_init_secret(&b, 1 << 20);
	else
		cf_buf_init(&b, 1 << 20);
	cf_alloc_fail_after(1);
	CHECK(cf_buf_put(&b, "abc", 3) == CF_ENOMEM);
	cf_alloc_fail_after(0);
	CHECK(b.len == 0 && b.p == NULL && b.cap == 0);
	CHECK(cf_buf_put(&b, "abc", 3) == 0);
	cf_alloc_fail_after(1);
	CHECK(cf_buf_put(&b, "de", 2) == 0); /* fits: no allocation needed */
	CHECK(cf_buf_put(&b, big, sizeof(big)) == CF_ENOMEM);
	CHECK(cf_buf_str16(&b, big, sizeof(big)) == CF_ENOMEM);
	cf_alloc_fail_after(0);
	CHECK(buf_is(&b, "abcde", 5));
	CHECK(buf_sane(&b));
	CHECK(cf_buf_put(&b, big, sizeof(big)) == 0);
	CHECK(b.len == 1005);
	cf_buf_release(&b);
}

CF_TEST(buf_enomem_leaves_buffer_unchanged)
{
	check_enomem_leaves_buffer(false);
	check_enomem_leaves_buffer(true);
}

/* Fail each allocation in turn while building a buffer: a clean error and no leak. */
CF_TEST(buf_allocation_torture)
{
	uint8_t chunk[777];
	int rc = 0;

	memset(chunk, 1, sizeof(chunk));
	for (uint64_t n = 1; n < 64; n++) {
		struct cf_buf b;

		cf_buf_init_secret(&b, 1 << 20);
		cf_alloc_fail_after(n);
		rc = 0;
		for (size_t i = 0; i < 200 && rc == 0; i++)
			rc = cf_buf_put(&b, chunk, sizeof(chunk));
		cf_alloc_fail_after(0);
		CHECK(rc == 0 || rc == CF_ENOMEM);
		CHECK(buf_sane(&b));
		CHECK(b.len % sizeof(chunk) == 0);
		cf_buf_release(&b);
		if (rc == 0)
			break;
	}
	CHECK(rc == 0);
}
