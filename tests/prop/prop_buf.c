/*
 * prop_buf.c - random operation sequences on struct cf_buf and struct cf_reader checked
 * against a plain model (OpenSSH test_sshbuf_fuzz.c). Seeded by th_seed(); a failure
 * prints CF_TEST_SEED to replay it.
 *
 * Writer: each sequence draws a maximum, a secret flag and a few hundred operations of
 * random sizes; the model is a flat array. After every operation the return code must be
 * the one the model predicts (CF_ETOOBIG past the maximum or a string limit, CF_ENOMEM when
 * an injected allocation failure meets a needed growth, else 0), the bytes must equal the
 * model, and a failed operation must change nothing. At reset, detach and the end of a
 * sequence the buffer is read back with cf_reader field by field, every cut prefix must
 * fail with CF_ETRUNC and one trailing byte with CF_EFORMAT.
 *
 * Reader: random getters on random input against an offset model.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "buf/buf.h"
#include "harness.h"
#include "reader/reader.h"

#define SEQS       2000
#define OPS        300
#define POOL_BYTES ((size_t)70 * 1024)
#define RSEQS      10000
#define ROPS       64
#define RINPUT_MAX 600

enum op {
	OP_PUT,
	OP_ZERO,
	OP_U8,
	OP_U16,
	OP_U32,
	OP_U64,
	OP_I64,
	OP_STR8,
	OP_STR16,
	OP_SPACE,
	OP_RESERVE,
	OP_RESET,
	OP_DETACH,
	OP_RELEASE,
	OP_COUNT
};

/* One successfully written field, for reading the buffer back. */
struct field {
	enum op op;
	size_t off; /* where its bytes start in the model */
	size_t len; /* payload bytes (strings: without the prefix) */
	uint64_t v; /* integer value */
};

struct model {
	uint8_t *p;
	size_t len;
	struct field f[OPS];
	size_t nf;
};

static uint8_t pool[POOL_BYTES];

static size_t
rnd(size_t n)
{
	return n == 0 ? 0 : (size_t)(th_rand() % n);
}

/* Mostly small sizes, some medium, a few near the string limits or large. */
static size_t
draw_len(enum op op)
{
	size_t k = rnd(16);

	if (op == OP_STR8 && k < 3)
		return 250 + rnd(12);
	if (op == OP_STR16 && k < 2)
		return 65530 + rnd(12);
	if (k < 9)
		return rnd(17);
	if (k < 14)
		return rnd(400);
	return rnd(6000);
}

static size_t
draw_max(void)
{
	switch (rnd(5)) {
	case 0:
		return rnd(65);
	case 1:
		return rnd(1025);
	case 2:
		return rnd(16385);
	case 3:
		return 16384 + rnd(131072);
	default:
		return 300 + rnd(300);
	}
}

static uint64_t
model_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

static void
model_put_be(struct model *m, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		m->p[m->len + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	m->len += n;
}

/* Bytes the operation appends (prefix included), and its own limit error if any. */
static size_t
op_need(enum op op, size_t len, int *limit_rc)
{
	static const size_t fixed[] = {
	        [OP_U8] = 1, [OP_U16] = 2, [OP_U32] = 4, [OP_U64] = 8, [OP_I64] = 8};

	*limit_rc = 0;
	switch (op) {
	case OP_U8:
	case OP_U16:
	case OP_U32:
	case OP_U64:
	case OP_I64:
		return fixed[op];
	case OP_STR8:
		*limit_rc = len > UINT8_MAX ? CF_ETOOBIG : 0;
		return 1 + len;
	case OP_STR16:
		*limit_rc = len > UINT16_MAX ? CF_ETOOBIG : 0;
		return 2 + len;
	case OP_PUT:
	case OP_ZERO:
	case OP_SPACE:
	case OP_RESERVE:
		return len;
	case OP_RESET:
	case OP_DETACH:
	case OP_RELEASE:
	case OP_COUNT:
		break;
	}
	return 0;
}

/* Run one appending operation on @b; @src holds its bytes, @v its integer value. */
static int
run_append(struct cf_buf *b, enum op op, const uint8_t *src, size_t len, uint64_t v)
{
	uint8_t *sp = NULL;
	int rc = 0;

	switch (op) {
	case OP_PUT:
		return cf_buf_put(b, src, len);
	case OP_ZERO:
		return cf_buf_zero(b, len);
	case OP_U8:
		return cf_buf_u8(b, (uint8_t)v);
	case OP_U16:
		return cf_buf_u16be(b, (uint16_t)v);
	case OP_U32:
		return cf_buf_u32be(b, (uint32_t)v);
	case OP_U64:
		return cf_buf_u64be(b, v);
	case OP_I64:
		return cf_buf_i64be(b, (int64_t)v);
	case OP_STR8:
		return cf_buf_str8(b, src, len);
	case OP_STR16:
		return cf_buf_str16(b, src, len);
	case OP_SPACE:
		if ((rc = cf_buf_append_space(b, len, &sp)) == 0 && len > 0)
			memcpy(sp, src, len);
		return rc;
	case OP_RESERVE:
		return cf_buf_reserve(b, len);
	case OP_RESET:
	case OP_DETACH:
	case OP_RELEASE:
	case OP_COUNT:
		break;
	}
	return CF_EINTERNAL;
}

/* Apply a successful append to the model. */
static void
model_append(struct model *m, enum op op, const uint8_t *src, size_t len, uint64_t v)
{
	struct field *f = &m->f[m->nf];

	if (op == OP_RESERVE)
		return;
	f->op = op;
	f->len = len;
	f->v = v;
	if (op == OP_STR8 || op == OP_STR16)
		model_put_be(m, len, op == OP_STR8 ? 1 : 2);
	f->off = m->len;
	switch (op) {
	case OP_U8:
		model_put_be(m, v & 0xff, 1);
		break;
	case OP_U16:
		model_put_be(m, v & 0xffff, 2);
		break;
	case OP_U32:
		model_put_be(m, v & 0xffffffff, 4);
		break;
	case OP_U64:
	case OP_I64:
		model_put_be(m, v, 8);
		break;
	case OP_ZERO:
		memset(m->p + m->len, 0, len);
		m->len += len;
		break;
	case OP_PUT:
	case OP_STR8:
	case OP_STR16:
	case OP_SPACE:
		if (len > 0)
			memcpy(m->p + m->len, src, len);
		m->len += len;
		break;
	case OP_RESERVE:
	case OP_RESET:
	case OP_DETACH:
	case OP_RELEASE:
	case OP_COUNT:
		break;
	}
	m->nf++;
}

static uint64_t
int_mask(enum op op)
{
	switch (op) {
	case OP_U8:
		return 0xff;
	case OP_U16:
		return 0xffff;
	case OP_U32:
		return 0xffffffff;
	case OP_U64:
	case OP_I64:
	case OP_PUT:
	case OP_ZERO:
	case OP_STR8:
	case OP_STR16:
	case OP_SPACE:
	case OP_RESERVE:
	case OP_RESET:
	case OP_DETACH:
	case OP_RELEASE:
	case OP_COUNT:
		break;
	}
	return UINT64_MAX;
}

/* Read one field of @m back from @r; 0 when it matches, else the reader's error. */
static int
read_field(struct cf_reader *r, const struct model *m, const struct field *f)
{
	const uint8_t *p = NULL;
	size_t len = 0;
	uint8_t v8 = 0;
	uint16_t v16 = 0;
	uint32_t v32 = 0;
	uint64_t v64 = 0;
	int64_t i64 = 0;
	int rc = 0;

	switch (f->op) {
	case OP_U8:
		rc = cf_reader_u8(r, &v8);
		v64 = v8;
		break;
	case OP_U16:
		rc = cf_reader_u16be(r, &v16);
		v64 = v16;
		break;
	case OP_U32:
		rc = cf_reader_u32be(r, &v32);
		v64 = v32;
		break;
	case OP_U64:
		rc = cf_reader_u64be(r, &v64);
		break;
	case OP_I64:
		rc = cf_reader_i64be(r, &i64);
		v64 = (uint64_t)i64;
		break;
	case OP_STR8:
		rc = cf_reader_str8(r, f->len, &p, &len);
		break;
	case OP_STR16:
		rc = cf_reader_str16(r, f->len, &p, &len);
		break;
	case OP_PUT:
	case OP_ZERO:
	case OP_SPACE:
		rc = cf_reader_view(r, f->len, &p);
		len = f->len;
		break;
	case OP_RESERVE:
	case OP_RESET:
	case OP_DETACH:
	case OP_RELEASE:
	case OP_COUNT:
		return CF_EINTERNAL;
	}
	if (rc != 0)
		return rc;
	if (f->op == OP_PUT || f->op == OP_ZERO || f->op == OP_SPACE || f->op == OP_STR8 ||
	    f->op == OP_STR16)
		return len == f->len && (len == 0 || memcmp(p, m->p + f->off, len) == 0)
		               ? 0
		               : CF_EINTERNAL;
	return v64 == (f->v & int_mask(f->op)) ? 0 : CF_EINTERNAL;
}

/* Parse the first @n bytes of @bytes as the fields of @m; the first error or end's result. */
static int
read_back(const uint8_t *bytes, size_t n, const struct model *m)
{
	struct cf_reader r;
	int rc;

	cf_reader_init(&r, bytes, n);
	for (size_t i = 0; i < m->nf; i++)
		if ((rc = read_field(&r, m, &m->f[i])) != 0)
			return rc;
	return cf_reader_end(&r);
}

/* The buffer's bytes read back as written; any cut fails; one more byte is trailing. */
static void
check_read_back(const uint8_t *bytes, size_t len, const struct model *m)
{
	uint8_t *longer = malloc(len + 1);
	size_t cut = 0;

	CHECK(read_back(bytes, len, m) == 0);
	if (len > 0) {
		cut = rnd(len);
		CHECK(read_back(bytes, cut, m) == CF_ETRUNC);
		CHECK(read_back(bytes, len - 1, m) == CF_ETRUNC);
	}
	CHECK(longer != NULL);
	if (longer == NULL)
		return;
	if (len > 0)
		memcpy(longer, bytes, len);
	longer[len] = (uint8_t)th_rand();
	CHECK(read_back(longer, len + 1, m) == CF_EFORMAT);
	free(longer);
}

static void
check_state(const struct cf_buf *b, const struct model *m)
{
	CHECK(b->len == m->len);
	CHECK(b->len <= b->cap && b->cap <= b->max);
	CHECK(b->cap == 0 || b->p != NULL);
	CHECK(b->len == 0 || memcmp(b->p, m->p, b->len) == 0);
}

static void
clear_reset(struct cf_buf *b, const struct model *m)
{
	uint8_t *oldp = b->p;
	size_t oldcap = b->cap;
	bool wiped = true;

	cf_buf_reset(b);
	CHECK(b->len == 0 && b->p == oldp && b->cap == oldcap);
	for (size_t i = 0; b->secret && i < m->len; i++)
		wiped = wiped && b->p[i] == 0;
	CHECK(wiped);
}

static void
clear_detach(struct cf_buf *b, const struct model *m)
{
	uint8_t *oldp = b->p;
	uint8_t *out = NULL;
	size_t outlen = 0;

	cf_buf_detach(b, &out, &outlen);
	CHECK(out == oldp && outlen == m->len);
	CHECK(b->p == NULL && b->len == 0 && b->cap == 0);
	if (b->secret)
		cf_free_wipe(out, outlen);
	else
		cf_free(out);
}

/* Reset, detach or release: read the contents back first, then empty both. */
static void
run_clear(struct cf_buf *b, struct model *m, enum op op)
{
	if (b->len > 0)
		check_read_back(b->p, b->len, m);
	if (op == OP_RESET) {
		clear_reset(b, m);
	} else if (op == OP_DETACH) {
		clear_detach(b, m);
	} else {
		cf_buf_release(b);
		CHECK(b->p == NULL && b->len == 0 && b->cap == 0);
	}
	m->len = 0;
	m->nf = 0;
}

static void
run_one_op(struct cf_buf *b, struct model *m)
{
	enum op op = (enum op)rnd(OP_COUNT + 6); /* appends are drawn more often */
	size_t len = 0;
	size_t need = 0;
	uint64_t v = th_rand();
	const uint8_t *src = NULL;
	bool inject = rnd(20) == 0;
	int want = 0;
	int rc = 0;

	if (op >= OP_COUNT)
		op = (enum op)rnd(OP_RESERVE);
	if (op == OP_RESET || op == OP_DETACH || op == OP_RELEASE) {
		if (rnd(4) == 0)
			run_clear(b, m, op);
		return;
	}
	len = draw_len(op);
	src = pool + rnd(POOL_BYTES - len);
	need = op_need(op, len, &want);
	if (want == 0 && need > b->max - m->len)
		want = CF_ETOOBIG;
	if (want == 0 && inject && m->len + need > b->cap)
		want = CF_ENOMEM;
	if (inject)
		cf_alloc_fail_after(1);
	rc = run_append(b, op, src, len, v);
	cf_alloc_fail_after(0);
	CHECK(rc == want);
	if (rc == 0 && op == OP_RESERVE)
		CHECK(b->cap - b->len >= len);
	if (rc == 0)
		model_append(m, op, src, len, v);
	check_state(b, m);
}

CF_TEST(prop_buf_random_sequences_match_model)
{
	struct cf_buf b;
	struct model m;

	th_randbuf(pool, sizeof(pool));
	for (size_t s = 0; s < SEQS; s++) {
		size_t max = draw_max();

		m.p = malloc(max + 1);
		m.len = 0;
		m.nf = 0;
		CHECK(m.p != NULL);
		if (m.p == NULL)
			return;
		if (rnd(2) == 0)
			cf_buf_init_secret(&b, max);
		else
			cf_buf_init(&b, max);
		for (size_t i = 0; i < OPS; i++)
			run_one_op(&b, &m);
		if (b.len > 0)
			check_read_back(b.p, b.len, &m);
		cf_buf_release(&b);
		free(m.p);
	}
}

/* ---- reader against an offset model ---- */

/* An integer getter (@k: u8, u16, u32, u64, i64); returns its code, *@n its width. */
static int
reader_int(struct cf_reader *r, size_t k, const uint8_t *at, size_t *n)
{
	static const size_t width[] = {1, 2, 4, 8, 8};
	uint8_t v8 = 0;
	uint16_t v16 = 0;
	uint32_t v32 = 0;
	uint64_t v64 = 0;
	int64_t i64 = 0;
	uint64_t v = 0;
	int rc = 0;

	*n = width[k];
	if (k == 0) {
		rc = cf_reader_u8(r, &v8);
		v = v8;
	} else if (k == 1) {
		rc = cf_reader_u16be(r, &v16);
		v = v16;
	} else if (k == 2) {
		rc = cf_reader_u32be(r, &v32);
		v = v32;
	} else if (k == 3) {
		rc = cf_reader_u64be(r, &v64);
		v = v64;
	} else {
		rc = cf_reader_i64be(r, &i64);
		v = (uint64_t)i64;
	}
	CHECK(rc != 0 || v == model_be(at, *n));
	return rc;
}

/* view (@k 0), copy (1) or skip (2) of @n bytes at @at. */
static int
reader_bytes(struct cf_reader *r, size_t k, const uint8_t *at, size_t n)
{
	uint8_t dst[RINPUT_MAX + 8];
	const uint8_t *p = at;
	int rc = 0;

	if (k == 0) {
		rc = cf_reader_view(r, n, &p);
		CHECK(rc == 0 ? p == at : p == NULL);
	} else if (k == 1) {
		rc = cf_reader_copy(r, dst, n);
		CHECK(rc != 0 || n == 0 || memcmp(dst, at, n) == 0);
	} else {
		rc = cf_reader_skip(r, n);
	}
	return rc;
}

/* str8 (@w 1) or str16 (@w 2) at @at with @left bytes left; *@n the bytes it should take. */
static int
reader_str(struct cf_reader *r, size_t w, const uint8_t *at, size_t left, size_t *n)
{
	size_t max = rnd(300);
	size_t declared = left < w ? 0 : (size_t)model_be(at, w);
	const uint8_t *p = at;
	size_t plen = 99;
	int want = 0;
	int rc = 0;

	*n = w + declared;
	/* the prefix first, then its limit, then the bytes it declares */
	if (left >= w && declared > max)
		want = CF_ETOOBIG;
	else if (left < *n)
		want = CF_ETRUNC;
	rc = w == 1 ? cf_reader_str8(r, max, &p, &plen) : cf_reader_str16(r, max, &p, &plen);
	CHECK(rc == want);
	if (rc == 0)
		CHECK(p == at + w && plen == declared);
	else
		CHECK(p == NULL && plen == 0);
	return rc;
}

/*
 * One random getter on @r over @in (@len bytes) with the model offset *@off. Returns
 * false when the reader and the model disagree on the position, which ends the sequence
 * (the model could otherwise run past the input).
 */
static bool
reader_one_op(struct cf_reader *r, const uint8_t *in, size_t len, size_t *off)
{
	size_t left = len - *off;
	size_t k = rnd(9);
	size_t n = rnd(2) == 0 ? rnd(left + 3) : rnd(8);
	int rc = 0;

	if (k < 5)
		rc = reader_int(r, k, in + *off, &n);
	else if (k < 8)
		rc = reader_bytes(r, k - 5, in + *off, n);
	else
		rc = reader_str(r, rnd(2) + 1, in + *off, left, &n);
	/* fixed-size getters fail exactly when fewer bytes are left (reader_str checks its own) */
	if (k < 8)
		CHECK(rc == (left < n ? CF_ETRUNC : 0));
	if (rc == 0)
		*off += n;
	if (*off > len || r->left != len - *off || r->p != in + *off) {
		th_fail(__FILE__, __LINE__, "reader position differs from the model");
		return false;
	}
	CHECK(cf_reader_end(r) == (*off == len ? 0 : CF_EFORMAT));
	return true;
}

CF_TEST(prop_reader_random_getters_match_model)
{
	for (size_t s = 0; s < RSEQS; s++) {
		struct cf_reader r;
		size_t len = rnd(RINPUT_MAX + 1);
		size_t off = 0;
		/* an exact-size heap block, so ASan sees any read past its end */
		uint8_t *in = malloc(len == 0 ? 1 : len);

		CHECK(in != NULL);
		if (in == NULL)
			return;
		th_randbuf(in, len);
		/* small length prefixes now and then, so strings often fit */
		for (size_t i = 0; i < len; i++)
			if (rnd(4) == 0)
				in[i] = (uint8_t)rnd(24);
		cf_reader_init(&r, in, len);
		for (size_t i = 0; i < ROPS; i++)
			if (!reader_one_op(&r, in, len, &off))
				break;
		free(in);
	}
}
