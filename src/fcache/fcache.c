/*
 * fcache.c - the files cache in LMDB (docs/format.md 13).
 */
#include "fcache.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/base.h"
#include "../chunk/chunk.h"
#include "../crypto/crypto.h"
#include "../lmdbx/lmdbx.h"
#include "../reader/reader.h"

#define VERSION    1u
#define META_BYTES (4 + 32)
#define SWEEP_GAP  (24u * 3600u)

struct cf_fcache {
	char *path;
	MDB_env *env;
	MDB_dbi meta;
	MDB_dbi files;
	MDB_txn *rd; /* reset between lookups */
	MDB_txn *wr; /* open while puts wait for a commit */
	size_t pending;
	struct cf_buf enc;
};

/* ---- entry codec ---- */

int
cf_fcache_encode(const struct cf_fcache_entry *e, struct cf_buf *out)
{
	const struct cf_fcache_id *id = &e->id;
	int rc;

	if (e->nparts > CF_FCACHE_PARTS_MAX)
		return CF_EINVAL;
	if ((rc = cf_buf_u64be(out, id->ino)) != 0 || (rc = cf_buf_u64be(out, id->size)) != 0 ||
	    (rc = cf_buf_i64be(out, id->mtime_s)) != 0 ||
	    (rc = cf_buf_u32be(out, id->mtime_ns)) != 0 ||
	    (rc = cf_buf_i64be(out, id->ctime_s)) != 0 ||
	    (rc = cf_buf_u32be(out, id->ctime_ns)) != 0 || (rc = cf_buf_u64be(out, e->seen)) != 0 ||
	    (rc = cf_buf_u64be(out, e->done)) != 0 ||
	    (rc = cf_buf_u32be(out, (uint32_t)e->nparts)) != 0)
		return rc;
	for (size_t i = 0; i < e->nparts; i++) {
		const struct cf_part *p = &e->parts[i];

		if ((rc = cf_buf_u8(out, p->hole ? 1 : 0)) != 0 ||
		    (rc = cf_buf_u64be(out, p->len)) != 0)
			return rc;
		rc = p->hole ? cf_buf_zero(out, CF_ID_BYTES) : cf_buf_put(out, p->id, CF_ID_BYTES);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
decode_part(struct cf_reader *r, struct cf_part *p)
{
	static const uint8_t zero[CF_ID_BYTES];
	uint8_t hole = 0;
	int rc;

	if ((rc = cf_reader_u8(r, &hole)) != 0 || (rc = cf_reader_u64be(r, &p->len)) != 0 ||
	    (rc = cf_reader_copy(r, p->id, CF_ID_BYTES)) != 0)
		return rc;
	if (hole > 1 || p->len == 0 || (hole == 0 && p->len > CF_CHUNK_MAX_LIMIT) ||
	    (hole == 1 && memcmp(p->id, zero, CF_ID_BYTES) != 0))
		return CF_EFORMAT;
	p->hole = hole == 1;
	return 0;
}

static int
decode_head(struct cf_reader *r, struct cf_fcache_entry *e, uint32_t *n)
{
	struct cf_fcache_id *id = &e->id;
	int rc;

	if ((rc = cf_reader_u64be(r, &id->ino)) != 0 || (rc = cf_reader_u64be(r, &id->size)) != 0 ||
	    (rc = cf_reader_i64be(r, &id->mtime_s)) != 0 ||
	    (rc = cf_reader_u32be(r, &id->mtime_ns)) != 0 ||
	    (rc = cf_reader_i64be(r, &id->ctime_s)) != 0 ||
	    (rc = cf_reader_u32be(r, &id->ctime_ns)) != 0 ||
	    (rc = cf_reader_u64be(r, &e->seen)) != 0 || (rc = cf_reader_u64be(r, &e->done)) != 0 ||
	    (rc = cf_reader_u32be(r, n)) != 0)
		return rc;
	if (id->mtime_ns >= 1000000000u || id->ctime_ns >= 1000000000u || e->done > id->size)
		return CF_EFORMAT;
	return *n > CF_FCACHE_PARTS_MAX ? CF_ETOOBIG : 0;
}

int
cf_fcache_decode(const uint8_t *p, size_t len, struct cf_fcache_entry *e)
{
	struct cf_reader r;
	uint64_t total = 0;
	uint32_t n = 0;
	int rc;

	memset(e, 0, sizeof(*e));
	cf_reader_init(&r, p, len);
	if ((rc = decode_head(&r, e, &n)) != 0)
		return rc;
	if ((size_t)n * CF_FCACHE_PART != len - CF_FCACHE_HEAD) /* len >= HEAD: head parsed */
		return (size_t)n * CF_FCACHE_PART > len - CF_FCACHE_HEAD ? CF_ETRUNC : CF_EFORMAT;
	if (n > 0 && (e->parts = cf_calloc(n, sizeof(*e->parts))) == NULL)
		return CF_ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		if ((rc = decode_part(&r, &e->parts[i])) != 0)
			goto fail;
		e->nparts++;
		if (total + e->parts[i].len < total) { /* a hole may be as long as it likes */
			rc = CF_EFORMAT;
			goto fail;
		}
		total += e->parts[i].len;
	}
	if (total != e->done || (rc = cf_reader_end(&r)) != 0) {
		rc = CF_EFORMAT;
		goto fail;
	}
	return 0;
fail:
	cf_fcache_entry_release(e);
	return rc;
}

void
cf_fcache_entry_release(struct cf_fcache_entry *e)
{
	cf_free(e->parts);
	memset(e, 0, sizeof(*e));
}

void
cf_fcache_key(struct cf_fcache_key *key, const uint8_t *path, size_t len)
{
	size_t slash = len;

	while (slash > 0 && path[slash - 1] != '/')
		slash--;
	cf_hash(key->b, path, slash); /* the directory with its '/' */
	cf_hash(key->b + CF_HASH_BYTES, path + slash, len - slash);
	key->len = 2 * CF_HASH_BYTES;
}

/* ---- the LMDB file ---- */

static int
db_err(const struct cf_fcache *fc, int mrc, const char *what)
{
	if (mrc == ENOMEM)
		return CF_ENOMEM;
	errno = mrc > 0 ? mrc : 0;
	if (mrc > 0)
		return cf_err_set(CF_ESYS, "files cache '%s': %s", fc->path, what);
	return cf_err_set(CF_ESYS, "files cache '%s': %s: %s", fc->path, what, mdb_strerror(mrc));
}

static void
encode_meta(uint8_t m[static META_BYTES], const uint8_t repo_id[static 32])
{
	cf_put_u32be(m, VERSION);
	memcpy(m + 4, repo_id, 32);
}

/* Open the databases; entries of another version or repository are dropped. */
static int
open_dbis(struct cf_fcache *fc, const uint8_t repo_id[static 32])
{
	uint8_t want[META_BYTES];
	MDB_val key = cf_mdb_val("coffer", 6);
	MDB_val val;
	MDB_txn *t = NULL;
	int mrc;

	encode_meta(want, repo_id);
	if ((mrc = mdb_txn_begin(fc->env, NULL, 0, &t)) != 0)
		return mrc;
	if ((mrc = mdb_dbi_open(t, "meta", MDB_CREATE, &fc->meta)) != 0 ||
	    (mrc = mdb_dbi_open(t, "files", MDB_CREATE, &fc->files)) != 0)
		goto fail;
	mrc = mdb_get(t, fc->meta, &key, &val);
	if (mrc == 0 && val.mv_size == sizeof(want) && memcmp(val.mv_data, want, sizeof(want)) == 0)
		return mdb_txn_commit(t);
	if ((mrc != 0 && mrc != MDB_NOTFOUND) || (mrc = mdb_drop(t, fc->files, 0)) != 0 ||
	    (mrc = mdb_drop(t, fc->meta, 0)) != 0)
		goto fail;
	val = cf_mdb_val(want, sizeof(want));
	if ((mrc = mdb_put(t, fc->meta, &key, &val, 0)) != 0)
		goto fail;
	return mdb_txn_commit(t);
fail:
	mdb_txn_abort(t);
	return mrc;
}

static int
env_start(struct cf_fcache *fc, const uint8_t repo_id[static 32])
{
	unsigned flags = MDB_NOSUBDIR | MDB_NOTLS | MDB_NORDAHEAD | MDB_NOMETASYNC;
	int mrc;

	if ((mrc = mdb_env_create(&fc->env)) != 0) {
		fc->env = NULL;
		return mrc;
	}
	if ((mrc = mdb_env_set_mapsize(fc->env, CF_MDB_MAP_BYTES)) != 0 ||
	    (mrc = mdb_env_set_maxdbs(fc->env, 2)) != 0 ||
	    (mrc = mdb_env_open(fc->env, fc->path, flags, 0600)) != 0 ||
	    (mrc = cf_mdb_check_size(fc->env)) != 0 || (mrc = open_dbis(fc, repo_id)) != 0 ||
	    (mrc = mdb_txn_begin(fc->env, NULL, MDB_RDONLY, &fc->rd)) != 0) {
		mdb_env_close(fc->env);
		fc->env = NULL;
		fc->rd = NULL;
		return mrc;
	}
	mdb_txn_reset(fc->rd);
	return 0;
}

int
cf_fcache_open(const char *path, const uint8_t repo_id[static 32], struct cf_fcache **out)
{
	struct cf_fcache *fc = NULL;
	int dead = 0;
	int mrc;

	*out = NULL;
	if ((fc = cf_calloc(1, sizeof(*fc))) == NULL ||
	    (fc->path = cf_memdup(path, strlen(path) + 1)) == NULL) {
		cf_free(fc);
		return CF_ENOMEM;
	}
	cf_buf_init(&fc->enc,
	            (size_t)CF_FCACHE_HEAD + (size_t)CF_FCACHE_PARTS_MAX * CF_FCACHE_PART);
	mrc = env_start(fc, repo_id);
	if (cf_mdb_damaged(mrc)) {
		cf_mdb_remove(path); /* a cache: start empty */
		mrc = env_start(fc, repo_id);
	}
	if (mrc != 0) {
		int rc = db_err(fc, mrc, "cannot open");

		cf_fcache_close(fc);
		return rc;
	}
	(void)mdb_reader_check(fc->env, &dead); /* reader slots of processes that died */
	*out = fc;
	return 0;
}

/* The transaction lookups use: the open write, else the reset read renewed. */
static int
read_txn(struct cf_fcache *fc, MDB_txn **t)
{
	int mrc;

	*t = fc->wr;
	if (*t != NULL)
		return 0;
	if ((mrc = mdb_txn_renew(fc->rd)) != 0)
		return db_err(fc, mrc, "cannot begin a read");
	*t = fc->rd;
	return 0;
}

int
cf_fcache_get(struct cf_fcache *fc, const struct cf_fcache_key *key, struct cf_fcache_entry *e,
              bool *found)
{
	MDB_val k = cf_mdb_val(key->b, key->len);
	MDB_val v;
	MDB_txn *t = NULL;
	int mrc;
	int rc;

	*found = false;
	memset(e, 0, sizeof(*e));
	if ((rc = read_txn(fc, &t)) != 0)
		return rc;
	mrc = mdb_get(t, fc->files, &k, &v);
	if (mrc == 0) {
		rc = cf_fcache_decode(v.mv_data, v.mv_size, e);
		*found = rc == 0;
		rc = rc == CF_ENOMEM ? rc : 0; /* a malformed entry is a miss */
	} else if (mrc != MDB_NOTFOUND) {
		rc = db_err(fc, mrc, "cannot read");
	}
	if (t == fc->rd)
		mdb_txn_reset(fc->rd);
	return rc;
}

int
cf_fcache_put(struct cf_fcache *fc, const struct cf_fcache_key *key,
              const struct cf_fcache_entry *e)
{
	MDB_val k = cf_mdb_val(key->b, key->len);
	MDB_val v;
	int mrc;
	int rc;

	cf_buf_reset(&fc->enc);
	if ((rc = cf_fcache_encode(e, &fc->enc)) != 0)
		return rc;
	if (fc->wr == NULL && (mrc = mdb_txn_begin(fc->env, NULL, 0, &fc->wr)) != 0) {
		fc->wr = NULL;
		return db_err(fc, mrc, "cannot begin a write");
	}
	v = cf_mdb_val(fc->enc.p, fc->enc.len);
	if ((mrc = mdb_put(fc->wr, fc->files, &k, &v, 0)) != 0)
		return db_err(fc, mrc, "cannot write");
	fc->pending++;
	return 0;
}

size_t
cf_fcache_pending(const struct cf_fcache *fc)
{
	return fc->pending;
}

int
cf_fcache_commit(struct cf_fcache *fc)
{
	int mrc;

	if (fc->wr == NULL)
		return 0;
	mrc = mdb_txn_commit(fc->wr);
	fc->wr = NULL;
	fc->pending = 0;
	return mrc == 0 ? 0 : db_err(fc, mrc, "cannot commit");
}

/* Delete, in the open write, every entry whose seen is older than @cutoff. */
static int
sweep_old(struct cf_fcache *fc, uint64_t cutoff, size_t *removed)
{
	MDB_cursor *c = NULL;
	MDB_val k;
	MDB_val v;
	int mrc;

	if ((mrc = mdb_cursor_open(fc->wr, fc->files, &c)) != 0)
		return db_err(fc, mrc, "cannot open a cursor");
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		/* seen is at offset 40; an entry too short to be one goes too */
		if (v.mv_size >= CF_FCACHE_HEAD &&
		    cf_get_u64be((const uint8_t *)v.mv_data + 40) >= cutoff)
			continue;
		if ((mrc = mdb_cursor_del(c, 0)) != 0)
			break;
		(*removed)++;
	}
	mdb_cursor_close(c);
	return mrc == 0 || mrc == MDB_NOTFOUND ? 0 : db_err(fc, mrc, "cannot sweep");
}

int
cf_fcache_sweep(struct cf_fcache *fc, uint64_t now, uint64_t max_age, size_t *removed)
{
	MDB_val key = cf_mdb_val("swept", 5);
	uint8_t stamp[8];
	MDB_val v;
	int mrc;
	int rc;

	*removed = 0;
	if ((rc = cf_fcache_commit(fc)) != 0)
		return rc;
	if ((mrc = mdb_txn_begin(fc->env, NULL, 0, &fc->wr)) != 0) {
		fc->wr = NULL;
		return db_err(fc, mrc, "cannot begin a write");
	}
	mrc = mdb_get(fc->wr, fc->meta, &key, &v);
	if (mrc == 0 && v.mv_size == 8 && cf_get_u64be(v.mv_data) <= now &&
	    now - cf_get_u64be(v.mv_data) < SWEEP_GAP) {
		mdb_txn_abort(fc->wr);
		fc->wr = NULL;
		return 0;
	}
	if ((rc = sweep_old(fc, now > max_age ? now - max_age : 0, removed)) != 0) {
		mdb_txn_abort(fc->wr);
		fc->wr = NULL;
		return rc;
	}
	cf_put_u64be(stamp, now);
	v = cf_mdb_val(stamp, sizeof(stamp));
	if ((mrc = mdb_put(fc->wr, fc->meta, &key, &v, 0)) != 0) {
		mdb_txn_abort(fc->wr);
		fc->wr = NULL;
		return db_err(fc, mrc, "cannot write");
	}
	return cf_fcache_commit(fc);
}

void
cf_fcache_close(struct cf_fcache *fc)
{
	if (fc == NULL)
		return;
	if (fc->wr != NULL)
		mdb_txn_abort(fc->wr);
	if (fc->rd != NULL)
		mdb_txn_abort(fc->rd);
	if (fc->env != NULL)
		mdb_env_close(fc->env);
	cf_buf_release(&fc->enc);
	cf_free(fc->path);
	cf_free(fc);
}
