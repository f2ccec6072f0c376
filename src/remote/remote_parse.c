/*
 * remote_parse.c - the pure parts of the cofferd client (docs/format.md section 15): the
 * repository URL, the request signature of 15.1, listing pages, Content-Range and the
 * mapping of HTTP statuses to error codes and messages. No network here, so all of it is
 * unit-tested and fuzzed without a server.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../base/base.h"
#include "../reader/reader.h"
#include "remote.h"

#define SIG_LABEL     "coffer.v1.http\n"
#define SIG_LABEL_LEN (sizeof(SIG_LABEL) - 1)
#define U64_DIGITS    20
/* "NAME SIZE" without its newline, plus a NUL. */
#define LINE_MAX_BYTES (CF_OBJ_NAME_MAX + 1 + U64_DIGITS + 1)
/* The most of a server's own text that goes into a message. */
#define SERVER_TEXT_MAX 200

bool
cf_remote_url_is(const char *location)
{
	return location != NULL && (strncasecmp(location, "http://", 7) == 0 ||
	                            strncasecmp(location, "https://", 8) == 0);
}

static int
bad_url(const char *url, const char *why)
{
	return cf_err_set(
	        CF_EINVAL,
	        "invalid repository URL '%.300s': %s (expected http(s)://HOST:PORT/ACCOUNT)", url,
	        why);
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_host_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
	       c == '.';
}

static bool
is_ipv6_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
	       c == '.';
}

static bool
is_account_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || c == '_' || c == '-';
}

/* The host at *@pp: a DNS name or IPv4 address, or "[IPv6]"; *@pp moves past it. */
static int
url_host(const char *url, const char **pp, struct cf_remote_url *u)
{
	const char *p = *pp;
	size_t n = 0;

	if (*p == '[') {
		n = 1;
		while (n < CF_REMOTE_HOST_MAX && is_ipv6_char(p[n]))
			n++;
		if (p[n] != ']' || n < 3)
			return bad_url(url, "invalid IPv6 address");
		n++;
	} else {
		while (n <= CF_REMOTE_HOST_MAX && is_host_char(p[n]))
			n++;
		if (n == 0)
			return bad_url(url, "no host");
		if (n > CF_REMOTE_HOST_MAX)
			return bad_url(url, "host name too long");
		if (p[0] == '-' || p[0] == '.')
			return bad_url(url, "invalid host name");
	}
	if (p[n] != ':' && p[n] != '/' && p[n] != '\0')
		return bad_url(url, "invalid character in the host");
	memcpy(u->host, p, n);
	u->host[n] = '\0';
	*pp = p + n;
	return 0;
}

/* An optional ":PORT" at *@pp, 1..65535 in decimal without leading zeros. */
static int
url_port(const char *url, const char **pp, struct cf_remote_url *u)
{
	const char *p = *pp;
	char digits[6];
	uint64_t v = 0;
	size_t n = 0;

	if (*p != ':')
		return 0;
	p++;
	while (n < sizeof(digits) - 1 && is_digit(p[n])) {
		digits[n] = p[n];
		n++;
	}
	digits[n] = '\0';
	if (n == 0 || is_digit(p[n]) || digits[0] == '0' || cf_parse_u64(digits, 1, 65535, &v) != 0)
		return bad_url(url, "the port must be a number from 1 to 65535");
	u->port = (uint16_t)v;
	*pp = p + n;
	return 0;
}

/* "/ACCOUNT" and an optional single trailing '/', then the end of the URL. */
static int
url_account(const char *url, const char *p, struct cf_remote_url *u)
{
	size_t n = 0;

	if (*p != '/')
		return bad_url(url, "no account");
	p++;
	while (n <= CF_REMOTE_ACCOUNT_MAX && is_account_char(p[n]))
		n++;
	if (n == 0)
		return bad_url(url, "no account");
	if (n > CF_REMOTE_ACCOUNT_MAX)
		return bad_url(url, "the account name is longer than 64 characters");
	memcpy(u->account, p, n);
	u->account[n] = '\0';
	p += n;
	if (*p == '/')
		p++;
	if (*p != '\0')
		return bad_url(url, "the account name must be 1..64 of a-z, 0-9, '_' and '-', "
		                    "with nothing after it");
	return 0;
}

int
cf_remote_url_parse(const char *url, struct cf_remote_url *out)
{
	struct cf_remote_url u;
	const char *p = NULL;
	int rc;

	memset(&u, 0, sizeof(u));
	memset(out, 0, sizeof(*out));
	if (url == NULL)
		return cf_err_set(CF_EINVAL, "no repository URL given");
	if (strncasecmp(url, "https://", 8) == 0) {
		u.tls = true;
		u.port = 443;
		p = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		u.port = 80;
		p = url + 7;
	} else {
		return bad_url(url, "the scheme must be http:// or https://");
	}
	if ((rc = url_host(url, &p, &u)) != 0 || (rc = url_port(url, &p, &u)) != 0 ||
	    (rc = url_account(url, p, &u)) != 0)
		return rc;
	*out = u;
	return 0;
}

/* Printable ASCII without space: what may go in a signed path or query. */
static bool
printable_field(const char *s, size_t max, bool may_be_empty)
{
	size_t n = strnlen(s, max + 1);

	if (n > max || (n == 0 && !may_be_empty))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return false;
	}
	return true;
}

static bool
lower_hex_field(const char *s, size_t len)
{
	if (strnlen(s, len + 1) != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
	}
	return true;
}

static bool
method_field(const char *s)
{
	size_t n = strnlen(s, CF_REMOTE_METHOD_MAX + 1);

	if (n == 0 || n > CF_REMOTE_METHOD_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 'A' || s[i] > 'Z')
			return false;
	}
	return true;
}

int
cf_remote_canonical(const struct cf_remote_sig_in *in, char *out, size_t cap, size_t *len)
{
	int n;

	*len = 0;
	if (cap > 0)
		out[0] = '\0';
	if (!method_field(in->method) || in->path[0] != '/' ||
	    !printable_field(in->path, CF_REMOTE_PATH_MAX, false) ||
	    !printable_field(in->query, CF_REMOTE_QUERY_MAX, true) ||
	    !lower_hex_field(in->content_sha256, CF_REMOTE_SHA_HEX) ||
	    !lower_hex_field(in->nonce, CF_REMOTE_NONCE_HEX))
		return cf_err_set(CF_EINVAL, "invalid request to sign");
	n = snprintf(out, cap, SIG_LABEL "%s\n%s\n%s\n%s\n%" PRId64 "\n%s", in->method, in->path,
	             in->query, in->content_sha256, in->time, in->nonce);
	if (n < 0 || (size_t)n >= cap)
		return CF_ETOOBIG;
	*len = (size_t)n;
	return 0;
}

int
cf_remote_authorization(const struct cf_remote_auth *auth, const struct cf_remote_sig_in *in,
                        char *out, size_t cap)
{
	char canon[CF_REMOTE_CANON_MAX];
	char dev[2 * CF_ID_BYTES + 1];
	char sighex[2 * CF_SIG_BYTES + 1];
	uint8_t sig[CF_SIG_BYTES];
	size_t len = 0;
	int n;
	int rc;

	if (cap > 0)
		out[0] = '\0';
	if ((rc = cf_remote_canonical(in, canon, sizeof(canon), &len)) != 0)
		return rc;
	/* The label is the first part of the signed bytes: Ed25519 over the whole string. */
	if ((rc = cf_sign2(sig, auth->sign, canon, SIG_LABEL_LEN, canon + SIG_LABEL_LEN,
	                   len - SIG_LABEL_LEN)) != 0)
		return rc;
	cf_hex(dev, auth->device, CF_ID_BYTES);
	cf_hex(sighex, sig, sizeof(sig));
	n = snprintf(out, cap, "Coffer-Ed25519 device=%s,time=%" PRId64 ",nonce=%s,sig=%s", dev,
	             in->time, in->nonce, sighex);
	if (n < 0 || (size_t)n >= cap)
		return CF_ETOOBIG;
	return 0;
}

/*
 * A decimal u64 as the server writes it: 1..20 digits, no sign, no leading zero (except
 * "0" itself), no overflow. One spelling per number, so a listing cannot be ambiguous.
 */
static int
strict_u64(const char *s, uint64_t *out)
{
	size_t n = strnlen(s, U64_DIGITS + 1);

	if (n == 0 || n > U64_DIGITS || (s[0] == '0' && n > 1))
		return CF_EFORMAT;
	return cf_parse_u64(s, 0, UINT64_MAX, out) == 0 ? 0 : CF_EFORMAT;
}

/* The next line of @r without its '\n' into @line (@cap); a missing '\n' is malformed. */
static int
read_line(struct cf_reader *r, char *line, size_t cap)
{
	size_t n = 0;
	uint8_t c = 0;

	for (;;) {
		if (cf_reader_u8(r, &c) != 0)
			return CF_EFORMAT;
		if (c == '\n')
			break;
		if (c == '\0' || n + 1 >= cap)
			return CF_EFORMAT;
		line[n++] = (char)c;
	}
	line[n] = '\0';
	return 0;
}

/* Split "NAME SIZE" in place and check both parts. */
static int
parse_entry(char *line, const char **name, uint64_t *size)
{
	char *sp = strchr(line, ' ');

	if (sp == NULL)
		return CF_EFORMAT;
	*sp = '\0';
	if (cf_obj_name_valid(line) != 0)
		return CF_EFORMAT;
	*name = line;
	return strict_u64(sp + 1, size);
}

int
cf_remote_list_parse(struct cf_remote_page *pg, const uint8_t *p, size_t len)
{
	struct cf_reader r;
	char line[LINE_MAX_BYTES];
	const char *name = NULL;
	uint64_t size = 0;

	pg->last[0] = '\0';
	pg->count = 0;
	cf_reader_init(&r, p, len);
	while (r.left > 0) {
		int rc;

		if ((rc = read_line(&r, line, sizeof(line))) != 0 ||
		    (rc = parse_entry(line, &name, &size)) != 0)
			return rc;
		/* Strictly increasing names: no duplicates, and every page makes progress. */
		if (pg->count >= pg->limit ||
		    strcmp(name, pg->count == 0 ? pg->after : pg->last) <= 0)
			return CF_EFORMAT;
		memcpy(pg->last, name, strlen(name) + 1);
		pg->count++;
		if ((rc = pg->fn(pg->arg, name, size)) != 0)
			return rc;
	}
	return 0;
}

/* Up to 20 digits of *@pp ending at @stop into a strict u64; *@pp moves past @stop. */
static int
range_number(const char **pp, char stop, uint64_t *out)
{
	char digits[U64_DIGITS + 1];
	const char *p = *pp;
	size_t n = 0;

	while (n < U64_DIGITS && is_digit(p[n])) {
		digits[n] = p[n];
		n++;
	}
	digits[n] = '\0';
	if (p[n] != stop || strict_u64(digits, out) != 0)
		return CF_EFORMAT;
	*pp = p + n + (stop == '\0' ? 0 : 1);
	return 0;
}

int
cf_remote_content_range(const char *v, struct cf_remote_range *out)
{
	struct cf_remote_range cr;
	const char *p = v;

	memset(&cr, 0, sizeof(cr));
	memset(out, 0, sizeof(*out));
	if (v == NULL || strncmp(p, "bytes ", 6) != 0)
		return CF_EFORMAT;
	p += 6;
	if (p[0] == '*' && p[1] == '/') {
		p += 2;
		cr.unsatisfied = true;
	} else if (range_number(&p, '-', &cr.first) != 0 || range_number(&p, '/', &cr.last) != 0) {
		return CF_EFORMAT;
	}
	if (range_number(&p, '\0', &cr.total) != 0)
		return CF_EFORMAT;
	if (!cr.unsatisfied && (cr.first > cr.last || cr.last >= cr.total))
		return CF_EFORMAT;
	*out = cr;
	return 0;
}

int
cf_remote_status_rc(long status)
{
	if (status >= 200 && status <= 299)
		return 0;
	if (status == 400)
		return CF_EFORMAT;
	if (status == 401)
		return CF_ENOKEY;
	if (status == 403)
		return CF_EPERM;
	if (status == 404)
		return CF_ENOENT;
	if (status == 409)
		return CF_EEXIST;
	if (status == 413)
		return CF_ETOOBIG;
	if (status == 416)
		return CF_ETRUNC;
	return CF_ESYS;
}

bool
cf_remote_status_transient(long status)
{
	return status == 408 || status == 429 || status == 502 || status == 503 || status == 504;
}

/* ": the server says: TEXT" with the first line of @text, or "". */
static void
server_says(char *out, size_t cap, const char *text)
{
	size_t n = 0;

	out[0] = '\0';
	if (text == NULL)
		return;
	while (text[n] != '\0' && text[n] != '\r' && text[n] != '\n' && n < SERVER_TEXT_MAX)
		n++;
	if (n > 0)
		(void)snprintf(out, cap, ": the server says: %.*s", (int)n, text);
}

int
cf_remote_status_err(long status, const char *method, const char *what, const char *location,
                     const char *text)
{
	char says[SERVER_TEXT_MAX + 32];
	int rc = cf_remote_status_rc(status);

	server_says(says, sizeof(says), text);
	errno = 0; /* CF_ESYS here is not a system call's failure: no errno text */
	switch (rc) {
	case CF_EFORMAT:
		return cf_err_set(rc, "'%s' refused %s '%s' as malformed (400)%s", location, method,
		                  what, says);
	case CF_ENOKEY:
		return cf_err_set(rc,
		                  "the server does not accept this device: %s '%s' on '%s' "
		                  "answered 401%s",
		                  method, what, location, says);
	case CF_EPERM:
		return cf_err_set(rc, "not allowed for this device: %s '%s' on '%s' answered 403%s",
		                  method, what, location, says);
	case CF_ENOENT:
		return cf_err_set(rc, "object '%s' not found on '%s'", what, location);
	case CF_EEXIST:
		return cf_err_set(rc, "object '%s' already exists on '%s'", what, location);
	case CF_ETOOBIG:
		return cf_err_set(rc,
		                  "cannot store '%s' on '%s': quota exceeded or object too "
		                  "large (413)%s",
		                  what, location, says);
	case CF_ETRUNC:
		return cf_err_set(rc, "object '%s' on '%s': range past its end (416)", what,
		                  location);
	default:
		return cf_err_set(rc, "unexpected answer %ld from '%s' to %s '%s'%s", status,
		                  location, method, what, says);
	}
}
