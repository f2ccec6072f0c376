/*
 * chain.c - device chain entries and the genesis body (docs/format.md section 10).
 */
#include "chain.h"

#include <string.h>

#include "../base/base.h"
#include "../buf/buf.h"
#include "../reader/reader.h"

#define KIND_CHAIN 1
/* prefix 8 | seq 8 | prev 32 | type 1 | time 8 | signer 32 | body length 4 */
#define ENTRY_HEAD_BYTES (8 + 8 + CF_HASH_BYTES + 1 + 8 + CF_ID_BYTES + 4)
/* The largest genesis body: every field, and a name of CF_DEVICE_NAME_MAX bytes. */
#define GENESIS_MAX_BYTES (32 + 12 + 32 + 32 + 32 + 32 + 1 + 1 + CF_DEVICE_NAME_MAX + 32 + 32)

static_assert(ENTRY_HEAD_BYTES == 93, "chain entry header layout");
static_assert(ENTRY_HEAD_BYTES + CF_CHAIN_BODY_MAX + CF_SIG_BYTES <= CF_CHAIN_MAX_BYTES,
              "largest entry fits CF_CHAIN_MAX_BYTES");
static_assert(GENESIS_MAX_BYTES <= CF_CHAIN_BODY_MAX, "genesis body fits an entry");

static const char sig_label[] = "coffer.v1.chain";
static const char id_label[] = "coffer.v1.device-id";

void
cf_device_id_of(uint8_t out[static CF_ID_BYTES], const uint8_t sign_pk[static 32],
                const uint8_t box_pk[static 32])
{
	uint8_t keys[64];

	memcpy(keys, sign_pk, 32);
	memcpy(keys + 32, box_pk, 32);
	cf_hash2(out, id_label, sizeof(id_label) - 1, keys, sizeof(keys));
}

bool
cf_device_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > CF_DEVICE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* The object prefix of docs/format.md 3. */
static int
put_prefix(struct cf_buf *b, uint8_t kind)
{
	int rc;

	if ((rc = cf_buf_put(b, "COFR", 4)) != 0 || (rc = cf_buf_u8(b, kind)) != 0 ||
	    (rc = cf_buf_u8(b, 1)) != 0 || (rc = cf_buf_u16be(b, 0)) != 0)
		return rc;
	return 0;
}

static int
read_prefix(struct cf_reader *r, uint8_t kind)
{
	return cf_reader_prefix(r, kind);
}

/* Every byte of the entry before the signature. */
static int
encode_unsigned(const struct cf_chain_entry *e, struct cf_buf *b)
{
	int rc;

	if (e->body_len > CF_CHAIN_BODY_MAX)
		return CF_ETOOBIG;
	if ((rc = put_prefix(b, KIND_CHAIN)) != 0 || (rc = cf_buf_u64be(b, e->seq)) != 0 ||
	    (rc = cf_buf_put(b, e->prev, sizeof(e->prev))) != 0 ||
	    (rc = cf_buf_u8(b, e->type)) != 0 || (rc = cf_buf_i64be(b, e->time)) != 0 ||
	    (rc = cf_buf_put(b, e->signer, sizeof(e->signer))) != 0 ||
	    (rc = cf_buf_u32be(b, (uint32_t)e->body_len)) != 0 ||
	    (rc = cf_buf_put(b, e->body, e->body_len)) != 0)
		return rc;
	return 0;
}

int
cf_chain_entry_seal(struct cf_chain_entry *e, const struct cf_signkey *sk, uint8_t **out,
                    size_t *len)
{
	struct cf_buf b;
	int rc;

	*out = NULL;
	*len = 0;
	cf_buf_init(&b, CF_CHAIN_MAX_BYTES);
	if ((rc = encode_unsigned(e, &b)) != 0)
		goto out;
	if ((rc = cf_sign2(e->sig, sk, sig_label, sizeof(sig_label) - 1, b.p, b.len)) != 0)
		goto out;
	if ((rc = cf_buf_put(&b, e->sig, sizeof(e->sig))) != 0)
		goto out;
	cf_hash(e->hash, b.p, b.len);
	cf_buf_detach(&b, out, len);
out:
	cf_buf_release(&b);
	return rc;
}

/* The fixed fields up to and including the body length. */
static int
decode_head(struct cf_reader *r, struct cf_chain_entry *e, uint32_t *body_len)
{
	int rc;

	if ((rc = read_prefix(r, KIND_CHAIN)) != 0 || (rc = cf_reader_u64be(r, &e->seq)) != 0 ||
	    (rc = cf_reader_copy(r, e->prev, sizeof(e->prev))) != 0 ||
	    (rc = cf_reader_u8(r, &e->type)) != 0 || (rc = cf_reader_i64be(r, &e->time)) != 0 ||
	    (rc = cf_reader_copy(r, e->signer, sizeof(e->signer))) != 0 ||
	    (rc = cf_reader_u32be(r, body_len)) != 0)
		return rc;
	if (*body_len > CF_CHAIN_BODY_MAX)
		return CF_ETOOBIG;
	/* Version 1 knows types 1 to 6; cf_chain_verify() decides which it can apply. */
	if (e->type < CF_CHAIN_GENESIS || e->type > CF_CHAIN_RENAME)
		return CF_EFORMAT;
	return 0;
}

int
cf_chain_entry_decode(const uint8_t *p, size_t len, struct cf_chain_entry **out)
{
	struct cf_chain_entry *e = NULL;
	const uint8_t *body = NULL;
	struct cf_reader r;
	uint32_t body_len = 0;
	int rc;

	*out = NULL;
	if (len > CF_CHAIN_MAX_BYTES)
		return CF_ETOOBIG;
	if ((e = cf_calloc(1, sizeof(*e))) == NULL)
		return CF_ENOMEM;
	cf_reader_init(&r, p, len);
	if ((rc = decode_head(&r, e, &body_len)) != 0 ||
	    (rc = cf_reader_view(&r, body_len, &body)) != 0 ||
	    (rc = cf_reader_copy(&r, e->sig, sizeof(e->sig))) != 0 || (rc = cf_reader_end(&r)) != 0)
		goto out;
	if ((e->body = cf_memdup(body, body_len)) == NULL) {
		rc = CF_ENOMEM;
		goto out;
	}
	e->body_len = body_len;
	cf_hash(e->hash, p, len);
	*out = e;
	e = NULL;
out:
	cf_chain_entry_free(e);
	return rc;
}

void
cf_chain_entry_free(struct cf_chain_entry *e)
{
	if (e == NULL)
		return;
	cf_free(e->body);
	cf_free(e);
}

int
cf_chain_entry_verify_sig(const struct cf_chain_entry *e,
                          const uint8_t sign_pk[static CF_SIGN_PK_BYTES])
{
	struct cf_buf b;
	int rc;

	/* The decoder is strict, so encoding the fields again gives the signed bytes back. */
	cf_buf_init(&b, CF_CHAIN_MAX_BYTES);
	if ((rc = encode_unsigned(e, &b)) != 0)
		goto out;
	rc = cf_verify2(e->sig, sign_pk, sig_label, sizeof(sig_label) - 1, b.p, b.len);
out:
	cf_buf_release(&b);
	return rc == CF_ETOOBIG ? CF_EAUTH : rc;
}

int
cf_genesis_encode(const struct cf_genesis *g, uint8_t **out, size_t *len)
{
	size_t namelen = strnlen(g->dev_name, sizeof(g->dev_name));
	struct cf_buf b;
	int rc;

	*out = NULL;
	*len = 0;
	if (!cf_device_name_valid(g->dev_name, namelen))
		return CF_EINVAL;
	cf_buf_init(&b, GENESIS_MAX_BYTES);
	if ((rc = cf_buf_put(&b, g->repo_id, sizeof(g->repo_id))) != 0 ||
	    (rc = cf_buf_u32be(&b, g->chunk.min)) != 0 ||
	    (rc = cf_buf_u32be(&b, g->chunk.avg)) != 0 ||
	    (rc = cf_buf_u32be(&b, g->chunk.max)) != 0 ||
	    (rc = cf_buf_put(&b, g->ck_check, sizeof(g->ck_check))) != 0 ||
	    (rc = cf_buf_put(&b, g->dk_pub, sizeof(g->dk_pub))) != 0 ||
	    (rc = cf_buf_put(&b, g->dev_sign_pk, sizeof(g->dev_sign_pk))) != 0 ||
	    (rc = cf_buf_put(&b, g->dev_box_pk, sizeof(g->dev_box_pk))) != 0 ||
	    (rc = cf_buf_u8(&b, g->dev_role)) != 0 ||
	    (rc = cf_buf_str8(&b, g->dev_name, namelen)) != 0 ||
	    (rc = cf_buf_put(&b, g->rec_sign_pk, sizeof(g->rec_sign_pk))) != 0 ||
	    (rc = cf_buf_put(&b, g->rec_box_pk, sizeof(g->rec_box_pk))) != 0)
		goto out;
	cf_buf_detach(&b, out, len);
out:
	cf_buf_release(&b);
	return rc;
}

int
cf_genesis_decode(const uint8_t *p, size_t len, struct cf_genesis *g)
{
	const uint8_t *name = NULL;
	size_t namelen = 0;
	struct cf_reader r;
	int rc;

	memset(g, 0, sizeof(*g));
	cf_reader_init(&r, p, len);
	if ((rc = cf_reader_copy(&r, g->repo_id, sizeof(g->repo_id))) != 0 ||
	    (rc = cf_reader_u32be(&r, &g->chunk.min)) != 0 ||
	    (rc = cf_reader_u32be(&r, &g->chunk.avg)) != 0 ||
	    (rc = cf_reader_u32be(&r, &g->chunk.max)) != 0 ||
	    (rc = cf_reader_copy(&r, g->ck_check, sizeof(g->ck_check))) != 0 ||
	    (rc = cf_reader_copy(&r, g->dk_pub, sizeof(g->dk_pub))) != 0 ||
	    (rc = cf_reader_copy(&r, g->dev_sign_pk, sizeof(g->dev_sign_pk))) != 0 ||
	    (rc = cf_reader_copy(&r, g->dev_box_pk, sizeof(g->dev_box_pk))) != 0 ||
	    (rc = cf_reader_u8(&r, &g->dev_role)) != 0 ||
	    (rc = cf_reader_str8(&r, CF_DEVICE_NAME_MAX, &name, &namelen)) != 0 ||
	    (rc = cf_reader_copy(&r, g->rec_sign_pk, sizeof(g->rec_sign_pk))) != 0 ||
	    (rc = cf_reader_copy(&r, g->rec_box_pk, sizeof(g->rec_box_pk))) != 0 ||
	    (rc = cf_reader_end(&r)) != 0)
		goto out;
	if (!cf_device_name_valid((const char *)name, namelen)) {
		rc = CF_EFORMAT;
		goto out;
	}
	memcpy(g->dev_name, name, namelen);
out:
	if (rc != 0)
		memset(g, 0, sizeof(*g));
	/* A name over its maximum is a malformed body, not a resource limit. */
	return rc == CF_ETOOBIG ? CF_EFORMAT : rc;
}
