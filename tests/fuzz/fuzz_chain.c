/*
 * fuzz_chain.c - libFuzzer harness for the device chain codec and genesis verification.
 *
 * The input is (a) decoded as a chain entry and, when it decodes, verified as a one-entry
 * chain; (b) decoded as a genesis body. A body that decodes is also given a fixed device
 * key, sealed into a genesis entry and verified, so the checks behind the signature
 * (role, chunk parameters, state building) are reached too.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "chain/chain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static struct cf_signkey *dev_sign;
static struct cf_boxkey *dev_box;

static bool
setup(void)
{
	static bool done;
	uint8_t seed[32];

	if (done)
		return dev_sign != NULL && dev_box != NULL;
	done = true;
	if (cf_init() != 0)
		return false;
	for (size_t i = 0; i < 32; i++)
		seed[i] = (uint8_t)(i + 1);
	if (cf_signkey_from_seed(seed, &dev_sign) != 0 ||
	    cf_boxkey_from_secret(seed, &dev_box) != 0)
		return false;
	return true;
}

static void
verify_entry_bytes(const uint8_t *p, size_t len)
{
	struct cf_chain_entry *e = NULL;
	struct cf_chain_state *st = NULL;

	if (cf_chain_entry_decode(p, len, &e) != 0)
		return;
	if (cf_chain_verify(&e, 1, &st) == 0) {
		(void)cf_chain_find_device(st, st->devices[0].id);
		cf_chain_state_free(st);
	}
	cf_chain_entry_free(e);
}

/* Re-key a decoded genesis body to the fixed device and verify it as a signed entry. */
static void
verify_as_genesis(struct cf_genesis *g)
{
	struct cf_chain_entry e;
	uint8_t *body = NULL;
	uint8_t *obj = NULL;
	size_t blen = 0;
	size_t olen = 0;

	memcpy(g->dev_sign_pk, cf_signkey_pk(dev_sign), 32);
	memcpy(g->dev_box_pk, cf_boxkey_pk(dev_box), 32);
	if (cf_genesis_encode(g, &body, &blen) != 0)
		return;
	memset(&e, 0, sizeof(e));
	e.type = CF_CHAIN_GENESIS;
	cf_device_id_of(e.signer, g->dev_sign_pk, g->dev_box_pk);
	e.body = body;
	e.body_len = blen;
	if (cf_chain_entry_seal(&e, dev_sign, &obj, &olen) == 0)
		verify_entry_bytes(obj, olen);
	cf_free(obj);
	cf_free(body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct cf_genesis g;

	if (!setup())
		return 0;
	verify_entry_bytes(data, len);
	if (cf_genesis_decode(data, len, &g) == 0)
		verify_as_genesis(&g);
	/* the bodies of the other entry types: decode, and re-encode what decodes */
	for (uint8_t type = CF_CHAIN_ADD_DEVICE; type <= CF_CHAIN_RENAME; type++) {
		struct cf_chain_body b;
		uint8_t *enc = NULL;
		size_t elen = 0;

		if (cf_chain_body_decode(type, data, len, &b) != 0)
			continue;
		if (cf_chain_body_encode(type, &b, &enc, &elen) != 0 || elen != len ||
		    memcmp(enc, data, len) != 0)
			abort(); /* a body that decodes must re-encode to the same bytes */
		cf_free(enc);
	}
	return 0;
}
