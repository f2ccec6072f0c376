/*
 * meta_walk.c - the batched walks both metadata implementations share (meta.h): rows are
 * fetched a batch at a time, each batch under the store's own locking or transaction, and
 * handed to the caller's function outside it, so that function may call the store again
 * (gc purges from inside a walk).
 */
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "meta.h"

int
cfd_walk_accounts(struct cfd_meta *m, cfd_account_batch_fn *batch, size_t cap, cfd_account_fn *fn,
                  void *arg)
{
	struct cfd_account *rows = cf_calloc(cap, sizeof(*rows));
	char after[CFD_ACCOUNT_MAX + 1] = "";
	size_t n = 0;
	int rc = 0;

	if (rows == NULL)
		return CF_ENOMEM;
	do {
		if ((rc = batch(m, after, rows, &n)) != 0)
			break;
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = fn(arg, &rows[i]);
		if (n > 0)
			memcpy(after, rows[n - 1].name, sizeof(after));
	} while (rc == 0 && n == cap);
	cf_free(rows);
	return rc;
}

int
cfd_walk_objects(struct cfd_meta *m, cfd_obj_batch_fn *batch, const void *which,
                 const struct cfd_obj_info *start, size_t cap, cfd_obj_fn *fn, void *arg)
{
	struct cfd_obj_info *rows = cf_calloc(cap, sizeof(*rows));
	struct cfd_obj_info cursor = *start;
	size_t n = 0;
	int rc = 0;

	if (rows == NULL)
		return CF_ENOMEM;
	do {
		if ((rc = batch(m, which, &cursor, rows, &n)) != 0)
			break;
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = fn(arg, &rows[i]);
		if (n > 0)
			cursor = rows[n - 1];
	} while (rc == 0 && n == cap);
	cf_free(rows);
	return rc;
}

int
cfd_walk_listing(struct cfd_meta *m, cfd_list_batch_fn *batch, const struct cfd_list_query *lq,
                 uint32_t cap, cfd_obj_fn *fn, void *arg)
{
	struct cfd_obj_info *rows = cf_calloc(cap, sizeof(*rows));
	char cursor[CF_OBJ_NAME_MAX + 1];
	uint32_t limit = lq->limit;
	size_t n = 0;
	int rc = 0;

	if (rows == NULL)
		return CF_ENOMEM;
	(void)snprintf(cursor, sizeof(cursor), "%s", lq->after);
	while (limit > 0) {
		uint32_t want = limit < cap ? limit : cap;

		if ((rc = batch(m, lq, cursor, want, rows, &n)) != 0)
			break;
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = fn(arg, &rows[i]);
		/* cppcheck-suppress knownConditionTrueFalse ; batch() sets n */
		if (rc != 0 || n < want)
			break;
		memcpy(cursor, rows[n - 1].name, sizeof(cursor));
		limit -= want;
	}
	cf_free(rows);
	return rc;
}
