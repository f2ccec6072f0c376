/*
 * coffer/common.h - error codes and attribute macros shared by every public header.
 */
#ifndef CF_COMMON_H
#define CF_COMMON_H

#define CF_API        __attribute__((visibility("default")))
#define CF_MUST_CHECK __attribute__((warn_unused_result))

#include <stddef.h>

/*
 * Every fallible library function returns 0 or one of these negative codes.
 * cf_strerror() names them; cf_err_last() gives the message of the most recent
 * failure on this thread, naming the file or object involved.
 */
enum cf_err {
	CF_OK = 0,
	CF_ENOMEM = -1,    /* allocation failed */
	CF_ESYS = -2,      /* system call failed; the message carries errno's text */
	CF_EFORMAT = -3,   /* malformed bytes */
	CF_ETRUNC = -4,    /* input ends before a field */
	CF_ETOOBIG = -5,   /* a length or count over its limit */
	CF_EAUTH = -6,     /* decryption or signature check failed */
	CF_EINTERNAL = -7, /* a bug */
	CF_ENOENT = -8,    /* object or file does not exist */
	CF_EEXIST = -9,    /* object already exists (write-once) */
	CF_EVERSION = -10, /* unsupported format version */
	CF_EINTEGRITY =
	        -11,        /* content does not match its name, or the repository is inconsistent */
	CF_ENOKEY = -12,    /* no key slot of this repository opens with this key */
	CF_ENOREPO = -13,   /* the repository does not exist */
	CF_EINVAL = -14,    /* invalid argument given by the user */
	CF_EROLLBACK = -15, /* state older than one already seen */
	CF_EPERM = -16,     /* this device's role does not allow the operation */
	CF_EPARTIAL = -17,  /* finished, but some items failed (each reported) */
	CF_ECANCELED = -18, /* interrupted on request */
	CF_EUSAGE = -19,    /* an option or argument the user gave is missing or malformed */
};

/* cf_strerror() - a fixed lowercase description of an error code. Never NULL. Thread-safe. */
CF_API const char *cf_strerror(int err);

/*
 * cf_err_last() - the message of the last error recorded on this thread, e.g.
 * "cannot open '/x/y': permission denied", or "" when none. One line: control
 * characters of names are escaped. Valid until the next library call on this thread.
 */
CF_API const char *cf_err_last(void);

/* cf_err_clear() - forget the last recorded error of this thread. */
CF_API void cf_err_clear(void);

/* cf_memzero() - wipe @len bytes in a way the compiler cannot remove (sodium_memzero). */
CF_API void cf_memzero(void *p, size_t len);

/*
 * cf_init() - initialise the library (libsodium, hash backends). Call once from
 * main() before anything else. Returns 0 or CF_EINTERNAL.
 */
CF_API CF_MUST_CHECK int cf_init(void);

#endif
