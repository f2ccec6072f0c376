/*
 * lmdbx.h - what the LMDB caches (the chunk index, src/index/index_db*.c, and the files
 * cache, src/fcache/) share: values, telling a damaged file, replacing one.
 */
#ifndef CF_LMDBX_H
#define CF_LMDBX_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 64 GiB of address space (only what is used takes disk and memory); 1 GiB on 32-bit. */
#define CF_MDB_MAP_BYTES ((size_t)(sizeof(size_t) >= 8 ? (64ull << 30) : (1ull << 30)))

/* cf_mdb_val() - an MDB_val over @n bytes at @p (LMDB only reads what it is given). */
static inline MDB_val
cf_mdb_val(const void *p, size_t n)
{
	MDB_val v;

	v.mv_size = n;
	v.mv_data = (void *)(uintptr_t)p;
	return v;
}

/* cf_mdb_damaged() - @mrc says the file is not one LMDB can use: replace it. */
bool cf_mdb_damaged(int mrc);
/*
 * cf_mdb_check_size() - 0, or MDB_INVALID when the file is shorter than the last page its
 * meta page names (reading there would fault instead of failing).
 */
int cf_mdb_check_size(MDB_env *env);
/* cf_mdb_remove() - remove the file @path and its "-lock" file, best effort. */
void cf_mdb_remove(const char *path);

#endif
