/*
 * chain_body.c - bodies of the entries after genesis: add-device, remove-device, rotate,
 * set-recovery, rename (docs/format.md 10).
 */
#include <string.h>

#include "../base/base.h"
#include "../buf/buf.h"
#include "../reader/reader.h"
#include "chain.h"

#define BODY_MAX 256

int
cf_chain_body_encode(uint8_t type, const struct cf_chain_body *b, uint8_t **out, size_t *len)
{
	size_t namelen = strnlen(b->name, sizeof(b->name));
	bool named = type == CF_CHAIN_ADD_DEVICE || type == CF_CHAIN_RENAME;
	struct cf_buf w;
	int rc = 0;

	*out = NULL;
	*len = 0;
	if (type < CF_CHAIN_ADD_DEVICE || type > CF_CHAIN_RENAME)
		return CF_EINVAL;
	if (named && !cf_device_name_valid(b->name, namelen))
		return CF_EINVAL;
	if (type == CF_CHAIN_ADD_DEVICE && b->role != CF_ROLE_FULL &&
	    b->role != CF_ROLE_BACKUP_ONLY)
		return CF_EINVAL;
	cf_buf_init(&w, BODY_MAX);
	switch ((enum cf_chain_type)type) {
	case CF_CHAIN_ADD_DEVICE:
		if ((rc = cf_buf_put(&w, b->sign_pk, sizeof(b->sign_pk))) != 0 ||
		    (rc = cf_buf_put(&w, b->box_pk, sizeof(b->box_pk))) != 0 ||
		    (rc = cf_buf_u8(&w, b->role)) != 0)
			goto out;
		rc = cf_buf_str8(&w, b->name, namelen);
		break;
	case CF_CHAIN_REMOVE_DEVICE:
		if ((rc = cf_buf_put(&w, b->device, sizeof(b->device))) == 0)
			rc = cf_buf_u64be(&w, b->last_seq);
		break;
	case CF_CHAIN_ROTATE:
		if ((rc = cf_buf_u32be(&w, b->epoch)) == 0)
			rc = cf_buf_put(&w, b->dk_pub, sizeof(b->dk_pub));
		break;
	case CF_CHAIN_SET_RECOVERY:
		if ((rc = cf_buf_put(&w, b->sign_pk, sizeof(b->sign_pk))) == 0)
			rc = cf_buf_put(&w, b->box_pk, sizeof(b->box_pk));
		break;
	case CF_CHAIN_RENAME:
		if ((rc = cf_buf_put(&w, b->device, sizeof(b->device))) == 0)
			rc = cf_buf_str8(&w, b->name, namelen);
		break;
	case CF_CHAIN_GENESIS:
		rc = CF_EINVAL;
		break;
	}
out:
	if (rc == 0)
		cf_buf_detach(&w, out, len);
	cf_buf_release(&w);
	return rc;
}

static int
read_name(struct cf_reader *r, struct cf_chain_body *b)
{
	const uint8_t *name = NULL;
	size_t n = 0;
	int rc;

	if ((rc = cf_reader_str8(r, CF_DEVICE_NAME_MAX, &name, &n)) != 0)
		return rc == CF_ETOOBIG ? CF_EFORMAT : rc;
	if (!cf_device_name_valid((const char *)name, n))
		return CF_EFORMAT;
	memcpy(b->name, name, n);
	b->name[n] = '\0';
	return 0;
}

static int
decode_fields(uint8_t type, struct cf_reader *r, struct cf_chain_body *b)
{
	int rc = CF_EFORMAT;

	switch ((enum cf_chain_type)type) {
	case CF_CHAIN_ADD_DEVICE:
		if ((rc = cf_reader_copy(r, b->sign_pk, sizeof(b->sign_pk))) != 0 ||
		    (rc = cf_reader_copy(r, b->box_pk, sizeof(b->box_pk))) != 0 ||
		    (rc = cf_reader_u8(r, &b->role)) != 0 || (rc = read_name(r, b)) != 0)
			return rc;
		return b->role == CF_ROLE_FULL || b->role == CF_ROLE_BACKUP_ONLY ? 0 : CF_EFORMAT;
	case CF_CHAIN_REMOVE_DEVICE:
		if ((rc = cf_reader_copy(r, b->device, sizeof(b->device))) != 0)
			return rc;
		return cf_reader_u64be(r, &b->last_seq);
	case CF_CHAIN_ROTATE:
		if ((rc = cf_reader_u32be(r, &b->epoch)) != 0)
			return rc;
		return cf_reader_copy(r, b->dk_pub, sizeof(b->dk_pub));
	case CF_CHAIN_SET_RECOVERY:
		if ((rc = cf_reader_copy(r, b->sign_pk, sizeof(b->sign_pk))) != 0)
			return rc;
		return cf_reader_copy(r, b->box_pk, sizeof(b->box_pk));
	case CF_CHAIN_RENAME:
		if ((rc = cf_reader_copy(r, b->device, sizeof(b->device))) != 0)
			return rc;
		return read_name(r, b);
	case CF_CHAIN_GENESIS:
		break;
	}
	return rc;
}

int
cf_chain_body_decode(uint8_t type, const uint8_t *p, size_t len, struct cf_chain_body *b)
{
	struct cf_reader r;
	int rc;

	memset(b, 0, sizeof(*b));
	cf_reader_init(&r, p, len);
	if ((rc = decode_fields(type, &r, b)) == 0)
		rc = cf_reader_end(&r);
	if (rc != 0)
		memset(b, 0, sizeof(*b));
	return rc;
}
