/*
 * meta.h - cofferd's metadata behind one interface: accounts, devices, objects, nonces and
 * settings. meta_sqlite.c implements it over SQLite; a PostgreSQL implementation fills the
 * same table of operations for several stateless cofferd instances.
 *
 * Objects have a state. LIVE objects are visible (unless soft-deleted: deleted_at != 0).
 * A PENDING row is written when an upload is accepted and before its body arrives: it
 * reserves the name (write-once races end at the primary key) and the quota. A PURGING row
 * is an object being removed for good. PENDING and PURGING rows lock their name; after a
 * crash the rows left in those states are finished by removing their blob and the row
 * (cfd_gc_recover()).
 *
 * Every operation is atomic (one transaction where it reads and writes) and thread-safe.
 * Unless written otherwise each returns 0, CF_ENOENT, CF_ENOMEM or CF_ESYS (a database
 * error, with its message in cf_err_last()).
 */
#ifndef CFD_META_H
#define CFD_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cofferd.h"
#include "crypto/crypto.h"

enum cfd_obj_state {
	CFD_OBJ_LIVE = 0,
	CFD_OBJ_PENDING = 1,
	CFD_OBJ_PURGING = 2,
};

struct cfd_account {
	char name[CFD_ACCOUNT_MAX + 1];
	uint64_t quota;
	uint64_t used; /* live, soft-deleted and reserved objects */
	int64_t created;
	bool enrolled;     /* the token was burned by an enrollment */
	uint64_t ndevices; /* full and backup-only devices, not removed */
};

struct cfd_device {
	uint8_t id[CF_ID_BYTES];
	uint8_t sign_pk[CF_SIGN_PK_BYTES];
	uint8_t role; /* enum cfd_role */
	bool removed;
};

struct cfd_obj_info {
	char account[CFD_ACCOUNT_MAX + 1];
	enum cf_obj_kind kind;
	char name[CF_OBJ_NAME_MAX + 1];
	uint64_t size;
	int64_t created;
	int64_t deleted_at; /* 0: not deleted */
	enum cfd_obj_state state;
};

/* What a commit does besides making the object live, in the same transaction. */
struct cfd_commit {
	/* enrollment: the account's token hash must still be this one; it is then burned */
	const uint8_t *token_hash;
	/*
	 * devices of the account to write: a device of the chain replaces the row of its id; a
	 * CFD_ROLE_PENDING device (a join request) is added only when the id has no row.
	 */
	const struct cfd_device *devices;
	size_t ndevices;
	/* with a chain: the current recovery id; other recovery rows are marked removed */
	const uint8_t *recovery_id;
};

/* A listing: live, not deleted objects of one kind, names after @after in byte order. */
struct cfd_list_query {
	const char *account;
	enum cf_obj_kind kind;
	const char *after; /* "" for the start */
	uint32_t limit;
	bool deleted; /* soft-deleted objects instead of live ones */
};

typedef int cfd_account_fn(void *arg, const struct cfd_account *a);
typedef int cfd_obj_fn(void *arg, const struct cfd_obj_info *o);

struct cfd_meta;

struct cfd_meta_ops {
	void (*close)(struct cfd_meta *m);

	/* account_create: CF_EEXIST when the name is taken. */
	int (*account_create)(struct cfd_meta *m, const char *name, uint64_t quota,
	                      const uint8_t token_hash[static CF_HASH_BYTES], int64_t now);
	int (*account_get)(struct cfd_meta *m, const char *name, struct cfd_account *out);
	int (*account_list)(struct cfd_meta *m, cfd_account_fn *fn, void *arg);
	/* account_delete: the account and every row of it (devices, objects). */
	int (*account_delete)(struct cfd_meta *m, const char *name);
	/*
	 * token_check: CF_EAUTH unless the account exists, is not enrolled and its token hash
	 * equals @token_hash (compared in constant time).
	 */
	int (*token_check)(struct cfd_meta *m, const char *name,
	                   const uint8_t token_hash[static CF_HASH_BYTES]);

	/* device_key: the signing key of a device that is not removed, in any account. */
	int (*device_key)(struct cfd_meta *m, const uint8_t id[static CF_ID_BYTES],
	                  uint8_t sign_pk[static CF_SIGN_PK_BYTES]);
	int (*device_get)(struct cfd_meta *m, const char *account,
	                  const uint8_t id[static CF_ID_BYTES], struct cfd_device *out);

	/*
	 * object_reserve: a PENDING row of @size bytes counted in the account's quota.
	 * CF_EEXIST when the name has a row in any state (write-once), CF_ETOOBIG over the
	 * quota, CF_EPERM when @max_live > 0 and the account already has that many objects of
	 * the kind, CF_ENOENT without the account.
	 */
	int (*object_reserve)(struct cfd_meta *m, const struct cfd_obj_key *k, uint64_t size,
	                      int64_t now, uint32_t max_live);
	/*
	 * object_commit: PENDING becomes LIVE and @c (may be NULL) is applied. CF_ENOENT when the
	 * row is not PENDING, CF_EAUTH when @c->token_hash no longer matches.
	 */
	int (*object_commit)(struct cfd_meta *m, const struct cfd_obj_key *k, int64_t now,
	                     const struct cfd_commit *c);
	/* object_abort: drop a PENDING row and release its quota. */
	int (*object_abort)(struct cfd_meta *m, const struct cfd_obj_key *k);
	/* object_get: the row in any state. */
	int (*object_get)(struct cfd_meta *m, const struct cfd_obj_key *k,
	                  struct cfd_obj_info *out);
	/* object_list: at most @q->limit objects; @fn's non-zero return stops and is returned. */
	int (*object_list)(struct cfd_meta *m, const struct cfd_list_query *q, cfd_obj_fn *fn,
	                   void *arg);
	/* object_delete: soft delete of a LIVE object (CF_ENOENT if deleted already). */
	int (*object_delete)(struct cfd_meta *m, const struct cfd_obj_key *k, int64_t now);
	/* object_undelete: clear deleted_at of a LIVE object (0 also when it was not deleted). */
	int (*object_undelete)(struct cfd_meta *m, const struct cfd_obj_key *k);
	/* object_claim: a LIVE object (deleted or not) becomes PURGING (hard delete). */
	int (*object_claim)(struct cfd_meta *m, const struct cfd_obj_key *k);
	/*
	 * object_purge: remove a row in any state and release its quota; for a join request
	 * also the pending device it introduced.
	 */
	int (*object_purge)(struct cfd_meta *m, const struct cfd_obj_key *k);
	/* deleted_list: every soft-deleted LIVE object, oldest deletion first. */
	int (*deleted_list)(struct cfd_meta *m, cfd_obj_fn *fn, void *arg);
	/*
	 * expired_claim: soft-deleted objects with deleted_at <= @cutoff become PURGING, then
	 * @fn is called for every PURGING row.
	 */
	int (*expired_claim)(struct cfd_meta *m, int64_t cutoff, cfd_obj_fn *fn, void *arg);
	/* unfinished_list: every PENDING or PURGING row (crash recovery). */
	int (*unfinished_list)(struct cfd_meta *m, cfd_obj_fn *fn, void *arg);

	/*
	 * nonce_use: record @nonce of device @id until @expires. CF_EEXIST when it is recorded
	 * and not expired (a replay).
	 */
	int (*nonce_use)(struct cfd_meta *m, const uint8_t id[static CF_ID_BYTES],
	                 const uint8_t nonce[static CFD_NONCE_BYTES], int64_t now, int64_t expires);
	int (*nonce_prune)(struct cfd_meta *m, int64_t now);

	/* Integer settings ("retention"); setting_get gives CF_ENOENT when unset. */
	int (*setting_get)(struct cfd_meta *m, const char *key, int64_t *out);
	int (*setting_set)(struct cfd_meta *m, const char *key, int64_t value);
};

/*
 * meta_walk.c: batched walks for implementations. A batch function fills at most the
 * walk's capacity of rows after the cursor (@after: an account name; @cursor: the last
 * object row, or the walk's start) and sets *@n; fewer than the capacity ends the walk.
 */
typedef int cfd_account_batch_fn(struct cfd_meta *m, const char *after, struct cfd_account *rows,
                                 size_t *n);
typedef int cfd_obj_batch_fn(struct cfd_meta *m, const void *which,
                             const struct cfd_obj_info *cursor, struct cfd_obj_info *rows,
                             size_t *n);
/* A listing (@lq: after, limit) fetched @cap rows at a time, names after @after. */
typedef int cfd_list_batch_fn(struct cfd_meta *m, const struct cfd_list_query *lq,
                              const char *after, uint32_t want, struct cfd_obj_info *rows,
                              size_t *n);
int cfd_walk_listing(struct cfd_meta *m, cfd_list_batch_fn *batch, const struct cfd_list_query *lq,
                     uint32_t cap, cfd_obj_fn *fn, void *arg) CF_MUST_CHECK;
int cfd_walk_accounts(struct cfd_meta *m, cfd_account_batch_fn *batch, size_t cap,
                      cfd_account_fn *fn, void *arg) CF_MUST_CHECK;
int cfd_walk_objects(struct cfd_meta *m, cfd_obj_batch_fn *batch, const void *which,
                     const struct cfd_obj_info *start, size_t cap, cfd_obj_fn *fn,
                     void *arg) CF_MUST_CHECK;

/* Implementations embed this as their first member. */
struct cfd_meta {
	const struct cfd_meta_ops *ops;
};

/*
 * cfd_meta_open_sqlite() - open (with @create: create, refusing an existing file) the SQLite
 * database at @path in WAL mode. *@out: close with m->ops->close(m). Returns 0, CF_ENOENT
 * (no database and !@create), CF_EEXIST (@create over a database), CF_ESYS or CF_ENOMEM.
 */
int cfd_meta_open_sqlite(const char *path, bool create, struct cfd_meta **out) CF_MUST_CHECK;

/*
 * cfd_meta_open_pg() - connect to the PostgreSQL database @conninfo (a libpq URI,
 * postgres://user@host:port/db; a password is better given by PGPASSWORD or a passfile
 * than in the URI) shared by several cofferd instances. With @create the schema is created
 * or upgraded to this build's version (server/sql/pg, in one transaction; nothing to do
 * when it is current); without it a database whose schema is missing or older is refused.
 * Connections are pooled (at most 8, opened on demand); a broken one is reset and the
 * operation tried again once. *@out: close with m->ops->close(m) once no operation runs.
 * Returns 0, CF_EINVAL (malformed @conninfo), CF_ENOENT (schema missing or older, without
 * @create), CF_EVERSION (schema newer than this build), CF_ESYS (cannot connect, database
 * error; cf_err_last() never shows the password) or CF_ENOMEM.
 *
 * Differences from SQLite: deleted_list is in deletion order, as written above (SQLite's
 * walks by name); a connection lost while COMMIT is in flight gives CF_ESYS ("outcome
 * unknown"), not a retry that could refuse the operation as its own replay.
 */
int cfd_meta_open_pg(const char *conninfo, bool create, struct cfd_meta **out) CF_MUST_CHECK;

/* cfd_meta_close() - m->ops->close(m); NULL is a no-op. */
void cfd_meta_close(struct cfd_meta *m);

#endif
