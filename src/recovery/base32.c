/*
 * base32.c - Crockford base32 of 35 bytes (56 symbols in groups of 4), the text form of the
 * recovery key and of recovery shares (docs/format.md 9, 10.3). Symbols are mapped without
 * branches or table lookups that depend on their values: the key bits never steer control
 * flow. Only separators and the symbol count, which are public, are branched on.
 */
#include <string.h>

#include "../base/base.h"
#include "../crypto/crypto.h"
#include "recovery.h"

#define SYMBOLS 56 /* base32 symbols of CF_B32_RAW_BYTES */
#define GROUP   4  /* symbols between dashes */

static_assert(CF_B32_RAW_BYTES * 8 == SYMBOLS * 5, "56 symbols carry 35 bytes");

/* 1 when @v >= @k, for v, k < 2^31. */
static uint32_t
ge(uint32_t v, uint32_t k)
{
	return (k - 1u - v) >> 31;
}

/* All ones when lo <= c <= hi, else 0 (c, lo, hi < 2^31, lo >= 1). */
static uint32_t
in_range(uint32_t c, uint32_t lo, uint32_t hi)
{
	return 0u - (((lo - 1u - c) & (c - hi - 1u)) >> 31);
}

/* 0-9, then A-Z without I, L, O and U. */
static char
symbol_of(uint32_t v)
{
	uint32_t c = '0' + v;

	c += ge(v, 10) * ('A' - '9' - 1);
	c += ge(v, 18) + ge(v, 20) + ge(v, 22) + ge(v, 27);
	return (char)c;
}

/* The value of a symbol (any case; O is 0, I and L are 1); *@bad gets ones if not one. */
static uint32_t
symbol_value(uint8_t ch, uint32_t *bad)
{
	static const uint32_t spans[][3] = {
	        {'0', '9', '0'},     {'A', 'H', 'A' - 10}, {'J', 'K', 'A' - 9},
	        {'M', 'N', 'A' - 8}, {'P', 'T', 'A' - 7},  {'V', 'Z', 'A' - 6},
	        {'O', 'O', 'O'},     {'I', 'I', 'I' - 1},  {'L', 'L', 'L' - 1},
	};
	uint32_t c = ch;
	uint32_t v = 0;
	uint32_t ok = 0;

	c -= in_range(c, 'a', 'z') & 0x20;
	/* Every span is tested for every symbol: the work does not depend on the value. */
	for (size_t i = 0; i < CF_ARRAY_LEN(spans); i++) {
		uint32_t m = in_range(c, spans[i][0], spans[i][1]);

		v |= m & (c - spans[i][2]);
		ok |= m;
	}
	*bad |= ~ok;
	return v & 31u;
}

void
cf_b32_encode35(const uint8_t raw[static CF_B32_RAW_BYTES], char out[static CF_B32_TEXT_BYTES])
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t nsym = 0;
	size_t o = 0;

	for (size_t i = 0; i < CF_B32_RAW_BYTES; i++) {
		acc = (acc << 8) | raw[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			if (nsym > 0 && nsym % GROUP == 0)
				out[o++] = '-';
			out[o++] = symbol_of((acc >> bits) & 31u);
			nsym++;
		}
	}
	out[o] = '\0';
	cf_wipe(&acc, sizeof(acc));
}

int
cf_b32_decode35(const uint8_t *text, size_t len, uint8_t raw[static CF_B32_RAW_BYTES])
{
	uint32_t acc = 0;
	uint32_t bad = 0;
	unsigned bits = 0;
	size_t nsym = 0;
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (text[i] == '-' || text[i] == ' ')
			continue;
		if (nsym++ == SYMBOLS)
			break; /* one symbol too many */
		acc = (acc << 5) | symbol_value(text[i], &bad);
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			raw[o++] = (uint8_t)(acc >> bits);
		}
	}
	cf_wipe(&acc, sizeof(acc));
	return ((nsym == SYMBOLS) & (bad == 0)) ? 0 : CF_EFORMAT;
}
