/*
 * route.h - the request target and the few headers cofferd reads, parsed from bounded
 * text before anything else is done (docs/format.md 15):
 *
 *   /healthz  /metrics
 *   /v1/ACCOUNT/enroll
 *   /v1/ACCOUNT/KIND/[?after=NAME&limit=N]    listing (also without the final '/')
 *   /v1/ACCOUNT/KIND/NAME[?undelete]          one object
 *
 * The path is taken exactly as sent (no percent-decoding: no valid name needs it).
 */
#ifndef CFD_ROUTE_H
#define CFD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cofferd.h"

#define CFD_RANGE_HEADER_MAX 64

enum cfd_route_type {
	CFD_ROUTE_HEALTHZ,
	CFD_ROUTE_METRICS,
	CFD_ROUTE_ENROLL,
	CFD_ROUTE_LIST,
	CFD_ROUTE_OBJECT,
};

struct cfd_route {
	enum cfd_route_type type;
	char account[CFD_ACCOUNT_MAX + 1];
	enum cf_obj_kind kind;
	char name[CF_OBJ_NAME_MAX + 1];
	bool undelete;                   /* object: "?undelete" */
	char after[CF_OBJ_NAME_MAX + 1]; /* list: "" for the start */
	uint32_t limit;                  /* list: 1..CFD_LIST_MAX */
	bool deleted;                    /* list: "deleted=1": soft-deleted objects only */
};

/*
 * cfd_route_parse() - parse @path (@path_len bytes, at most CFD_PATH_MAX) and @query
 * (@query_len bytes, at most CFD_QUERY_MAX; the text after '?'). Returns 0, CF_ENOENT (no
 * such route: 404) or CF_EFORMAT (a route with a malformed account, name or query: 400).
 * Thread-safe.
 */
int cfd_route_parse(const char *path, size_t path_len, const char *query, size_t query_len,
                    struct cfd_route *out) CF_MUST_CHECK;
/*
 * cfd_range_parse() - "bytes=A-B", "bytes=A-" or "bytes=-N" against an object of @size
 * bytes: the first byte *@off and the count *@n (B past the end is clamped, as RFC 9110
 * says). 0, CF_EFORMAT (malformed: 400) or CF_ETRUNC (not satisfiable: 416).
 */
int cfd_range_parse(const char *v, size_t len, uint64_t size, uint64_t *off,
                    uint64_t *n) CF_MUST_CHECK;

#endif
