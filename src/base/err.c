/*
 * err.c - error names and the per-thread message behind cf_err_last().
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base.h"

#define MSG_MAX 1024

static _Thread_local char last_msg[MSG_MAX];

const char *
cf_strerror(int err)
{
	switch ((enum cf_err)err) {
	case CF_OK:
		return "success";
	case CF_ENOMEM:
		return "out of memory";
	case CF_ESYS:
		return "system error";
	case CF_EFORMAT:
		return "malformed data";
	case CF_ETRUNC:
		return "data truncated";
	case CF_ETOOBIG:
		return "size over limit";
	case CF_EAUTH:
		return "authentication failed";
	case CF_EINTERNAL:
		return "internal error";
	case CF_ENOENT:
		return "not found";
	case CF_EEXIST:
		return "already exists";
	case CF_EVERSION:
		return "unsupported format version";
	case CF_EINTEGRITY:
		return "integrity error";
	case CF_ENOKEY:
		return "no key slot opens with this key";
	case CF_ENOREPO:
		return "repository does not exist";
	case CF_EINVAL:
		return "invalid argument";
	case CF_EROLLBACK:
		return "rollback detected";
	case CF_EPERM:
		return "not allowed for this device";
	case CF_EPARTIAL:
		return "some items failed";
	case CF_ECANCELED:
		return "interrupted";
	case CF_EUSAGE:
		return "usage error";
	}
	return "unknown error";
}

const char *
cf_err_last(void)
{
	return last_msg;
}

void
cf_err_clear(void)
{
	last_msg[0] = '\0';
}

/*
 * utf8_len() - the length of the valid UTF-8 sequence at @s (RFC 3629: no overlong forms,
 * surrogates or code points over U+10FFFF), or 0 when it is not one or encodes a C1
 * control (U+0080..U+009F, which terminals obey like ESC). Stops at the NUL terminator,
 * which is never a continuation byte.
 */
static size_t
utf8_len(const unsigned char *s)
{
	uint32_t cp = 0;
	uint32_t lo = 0;
	size_t n = 0;

	if (*s >= 0xc2 && *s <= 0xdf) {
		n = 2;
		cp = *s & 0x1fu;
		lo = 0xa0;
	} else if (*s >= 0xe0 && *s <= 0xef) {
		n = 3;
		cp = *s & 0x0fu;
		lo = 0x800;
	} else if (*s >= 0xf0 && *s <= 0xf4) {
		n = 4;
		cp = *s & 0x07u;
		lo = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if (cp < lo || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * Copy @src into last_msg escaping control bytes, DEL and bytes that are not valid UTF-8,
 * so a message is one line of text. @src may be last_msg itself (cf_err_restore of the
 * current message): escaping is then the identity and no byte is written ahead of a read.
 */
static void
store_escaped(const char *src)
{
	static const char hexd[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0;
	size_t n = 0;

	while (*s != '\0' && o + 5 < MSG_MAX) {
		n = *s < 0x80 ? 1 : utf8_len(s);
		if (n == 0 || *s < 0x20 || *s == 0x7f) {
			last_msg[o++] = '\\';
			last_msg[o++] = 'x';
			last_msg[o++] = hexd[*s >> 4];
			last_msg[o++] = hexd[*s & 15];
			s++;
			continue;
		}
		while (n-- > 0)
			last_msg[o++] = (char)*s++;
	}
	last_msg[o] = '\0';
}

int
cf_err_setv(int rc, const char *fmt, va_list ap)
{
	char tmp[MSG_MAX];
	int saved = errno;
	int n;

	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	if (n < 0)
		tmp[0] = '\0';
	if (rc == CF_ESYS && saved != 0) {
		char ebuf[128];
		size_t used = strlen(tmp);

		if (strerror_r(saved, ebuf, sizeof(ebuf)) != 0)
			(void)snprintf(ebuf, sizeof(ebuf), "errno %d", saved);
		(void)snprintf(tmp + used, sizeof(tmp) - used, ": %s", ebuf);
	}
	store_escaped(tmp);
	errno = saved;
	return rc;
}

int
cf_err_set(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = cf_err_setv(rc, fmt, ap);
	va_end(ap);
	return rc;
}

int
cf_err_wrap(int rc, const char *fmt, ...)
{
	char prev[MSG_MAX];
	char ctx[MSG_MAX];
	va_list ap;

	memcpy(prev, last_msg, sizeof(prev));
	va_start(ap, fmt);
	(void)vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	if (prev[0] == '\0')
		return cf_err_set(rc, "%s: %s", ctx, cf_strerror(rc));
	return cf_err_set(rc, "%s: %s", ctx, prev);
}

void
cf_err_copy(char *dst, size_t cap)
{
	if (cap == 0)
		return;
	(void)snprintf(dst, cap, "%s", last_msg);
}

void
cf_err_restore(const char *msg)
{
	store_escaped(msg);
}
