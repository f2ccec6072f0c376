/*
 * join.c - join requests of new devices and their pairing codes (docs/format.md 10.1).
 */
#include <string.h>

#include "../base/base.h"
#include "../buf/buf.h"
#include "../chain/chain.h"
#include "../reader/reader.h"
#include "device.h"

#define JOIN_KIND    7
#define JOIN_VERSION 1

static const char join_label[] = "coffer.v1.join";
static const char pairing_label[] = "coffer.v1.pairing";
static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

int
cf_join_request_seal(const struct cf_device *d, uint8_t role, int64_t time, uint8_t **out,
                     size_t *len)
{
	static const uint8_t prefix[8] = {'C', 'O', 'F', 'R', JOIN_KIND, JOIN_VERSION, 0, 0};
	uint8_t sig[CF_SIG_BYTES];
	struct cf_buf b;
	int rc;

	*out = NULL;
	*len = 0;
	if (role != CF_ROLE_FULL && role != CF_ROLE_BACKUP_ONLY)
		return CF_EINVAL;
	cf_buf_init(&b, CF_JOIN_MAX_BYTES);
	if ((rc = cf_buf_put(&b, prefix, sizeof(prefix))) != 0 ||
	    (rc = cf_buf_put(&b, cf_signkey_pk(d->sign), CF_SIGN_PK_BYTES)) != 0 ||
	    (rc = cf_buf_put(&b, cf_boxkey_pk(d->box), CF_BOX_PK_BYTES)) != 0 ||
	    (rc = cf_buf_u8(&b, role)) != 0 || (rc = cf_buf_i64be(&b, time)) != 0 ||
	    (rc = cf_buf_str8(&b, d->name, strlen(d->name))) != 0 ||
	    (rc = cf_sign2(sig, d->sign, join_label, sizeof(join_label) - 1, b.p, b.len)) != 0 ||
	    (rc = cf_buf_put(&b, sig, sizeof(sig))) != 0)
		goto out;
	cf_buf_detach(&b, out, len);
out:
	cf_buf_release(&b);
	return rc;
}

static int
parse_request(struct cf_reader *r, struct cf_join_request *req)
{
	const uint8_t *name = NULL;
	size_t n = 0;
	int rc;

	if ((rc = cf_reader_prefix(r, JOIN_KIND)) != 0)
		return rc;
	if ((rc = cf_reader_copy(r, req->sign_pk, sizeof(req->sign_pk))) != 0 ||
	    (rc = cf_reader_copy(r, req->box_pk, sizeof(req->box_pk))) != 0 ||
	    (rc = cf_reader_u8(r, &req->role)) != 0 || (rc = cf_reader_i64be(r, &req->time)) != 0 ||
	    (rc = cf_reader_str8(r, 64, &name, &n)) != 0)
		return rc == CF_ETOOBIG ? CF_EFORMAT : rc;
	if ((req->role != CF_ROLE_FULL && req->role != CF_ROLE_BACKUP_ONLY) ||
	    !cf_device_name_valid((const char *)name, n))
		return CF_EFORMAT;
	memcpy(req->name, name, n);
	req->name[n] = '\0';
	return 0;
}

int
cf_join_request_open(const uint8_t *obj, size_t len, struct cf_join_request *req)
{
	struct cf_reader r;
	int rc;

	memset(req, 0, sizeof(*req));
	if (len < CF_SIG_BYTES)
		return CF_ETRUNC;
	cf_reader_init(&r, obj, len - CF_SIG_BYTES);
	if ((rc = parse_request(&r, req)) != 0 || (rc = cf_reader_end(&r)) != 0)
		goto out;
	if ((rc = cf_verify2(obj + len - CF_SIG_BYTES, req->sign_pk, join_label,
	                     sizeof(join_label) - 1, obj, len - CF_SIG_BYTES)) != 0)
		goto out;
	cf_device_id_of(req->id, req->sign_pk, req->box_pk);
out:
	if (rc != 0)
		memset(req, 0, sizeof(*req));
	return rc;
}

void
cf_pairing_code(const uint8_t sign_pk[static CF_SIGN_PK_BYTES],
                const uint8_t box_pk[static CF_BOX_PK_BYTES],
                char out[static CF_PAIRING_CODE_BYTES])
{
	uint8_t keys[CF_SIGN_PK_BYTES + CF_BOX_PK_BYTES];
	uint8_t h[CF_HASH_BYTES];
	size_t o = 0;

	memcpy(keys, sign_pk, CF_SIGN_PK_BYTES);
	memcpy(keys + CF_SIGN_PK_BYTES, box_pk, CF_BOX_PK_BYTES);
	cf_hash2(h, pairing_label, sizeof(pairing_label) - 1, keys, sizeof(keys));
	/* 80 bits = 16 symbols of 5 bits, most significant first */
	for (size_t i = 0; i < 16; i++) {
		size_t bit = i * 5;
		unsigned v = ((unsigned)h[bit / 8] << 8 | h[bit / 8 + 1]) >> (11 - bit % 8);

		if (i > 0 && i % 4 == 0)
			out[o++] = '-';
		out[o++] = b32[v & 31];
	}
	out[o] = '\0';
}

/* Normalise one symbol of a typed code; 0 for separators. */
static char
norm(char c)
{
	if (c >= 'a' && c <= 'z')
		c = (char)(c - 'a' + 'A');
	if (c == 'O')
		return '0';
	if (c == 'I' || c == 'L')
		return '1';
	if (c == '-' || c == ' ')
		return 0;
	return c;
}

bool
cf_pairing_code_equal(const char *a, const char *b)
{
	for (;;) {
		while (*a != '\0' && norm(*a) == 0)
			a++;
		while (*b != '\0' && norm(*b) == 0)
			b++;
		if (*a == '\0' || *b == '\0')
			return *a == *b;
		if (norm(*a) != norm(*b))
			return false;
		a++;
		b++;
	}
}
