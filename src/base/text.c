/*
 * text.c - hex and number parsing for user- and file-supplied text.
 */
#include <sodium.h>
#include <string.h>

#include "base.h"

void
cf_hex(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

int
cf_unhex(uint8_t *out, size_t outlen, const char *in, size_t inlen)
{
	size_t got = 0;
	const char *end = NULL;

	if (inlen != 2 * outlen)
		return CF_EFORMAT;
	if (sodium_hex2bin(out, outlen, in, inlen, NULL, &got, &end) != 0 || got != outlen ||
	    end != in + inlen)
		return CF_EFORMAT;
	return 0;
}

int
cf_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0' || strlen(s) > 20)
		return CF_EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return CF_EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return CF_EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v < min || v > max)
		return CF_EINVAL;
	*out = v;
	return 0;
}

int
cf_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "kmgtp";
	char num[24];
	size_t n = strlen(s);
	unsigned shift = 0;
	uint64_t v = 0;
	const char *u = NULL;

	if (n == 0 || n >= sizeof(num))
		return CF_EINVAL;
	memcpy(num, s, n + 1);
	if (n > 1 && (num[n - 1] == 'b' || num[n - 1] == 'B') &&
	    (num[n - 2] < '0' || num[n - 2] > '9'))
		num[--n] = '\0';
	if ((u = strchr(units, num[n - 1] | 0x20)) != NULL &&
	    (num[n - 1] < '0' || num[n - 1] > '9')) {
		shift = 10u * (unsigned)(u - units + 1);
		num[--n] = '\0';
	}
	if (cf_parse_u64(num, 0, UINT64_MAX >> shift, &v) != 0)
		return CF_EINVAL;
	*out = v << shift;
	return 0;
}
