/*
 * backup_file.c - one regular file: unchanged-file reuse, hard links, reading, chunking,
 * hashing and handing new chunks to the workers.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../fs/fs.h"
#include "backup.h"

void
cf_bk_progress(struct bk *b, bool force)
{
	struct cf_progress *p = &b->progress;

	p->files = b->files_done;
	p->bytes = b->bytes_done;
	p->errors = b->errors;
	if (atomic_load(&b->scan_done)) {
		p->files_total = atomic_load(&b->scan_files);
		p->bytes_total = atomic_load(&b->scan_bytes);
	}
	cf_emit_progress(&b->ev, p, force);
}

/* Queue a blob for storing unless the repository or this run already has it. */
int
cf_bk_store_blob(struct bk *b, uint8_t type, const uint8_t *data, size_t len,
                 uint8_t id[static CF_ID_BYTES])
{
	static const uint8_t nopack[CF_ID_BYTES];
	struct cf_pack_entry e;
	struct bk_job j;
	int rc;

	cf_mac(id, b->r->k_id, data, len);
	if (cf_repo_has_live(b->r, id) || cf_index_has(b->pending, id))
		return 0;
	memset(&e, 0, sizeof(e));
	e.type = type;
	memcpy(e.id, id, CF_ID_BYTES);
	e.raw_len = (uint32_t)len;
	if ((rc = cf_index_add(b->pending, nopack, &e)) != 0)
		return rc;
	b->st.data_added += len;
	if (b->dry_run)
		return 0;
	memset(&j, 0, sizeof(j));
	j.type = type;
	memcpy(j.id, id, CF_ID_BYTES);
	if ((j.data = cf_memdup(data, len)) == NULL)
		return CF_ENOMEM;
	j.len = len;
	if ((rc = cf_pipe_submit(b->pipe, &j)) != 0)
		b->fatal = true;
	return rc;
}

/* Append a part to the node's content list. */
static int
add_part(struct cf_node *n, size_t *cap, bool hole, const uint8_t *id, uint64_t len)
{
	struct cf_part *p = NULL;

	if (n->nparts == *cap) {
		size_t ncap = *cap == 0 ? 8 : *cap * 2;

		if (ncap > CF_PARTS_MAX || (p = cf_realloc(n->parts, ncap * sizeof(*p))) == NULL)
			return ncap > CF_PARTS_MAX ? CF_ETOOBIG : CF_ENOMEM;
		n->parts = p;
		*cap = ncap;
	}
	p = &n->parts[n->nparts++];
	memset(p, 0, sizeof(*p));
	p->hole = hole;
	p->len = len;
	if (!hole)
		memcpy(p->id, id, CF_ID_BYTES);
	return 0;
}

/*
 * Cut what is buffered into chunks. A tail whose cut needs more data stays (shorter than the
 * chunker's max; b->cut remembers how far it was scanned) unless at the end.
 */
static int
cut_chunks(struct bk *b, struct cf_node *n, size_t *cap, size_t *have, bool eof)
{
	size_t pos = 0;
	uint8_t id[CF_ID_BYTES];
	int rc;

	while (*have - pos > 0) {
		size_t c = cf_chunker_cut_more(b->r->chunker, b->rbuf + pos, *have - pos, eof,
		                               &b->cut);

		if (c == 0)
			break;
		if ((rc = cf_bk_store_blob(b, CF_BLOB_DATA, b->rbuf + pos, c, id)) != 0 ||
		    (rc = add_part(n, cap, false, id, c)) != 0)
			return rc;
		pos += c;
		b->bytes_done += c;
		n->size += c;
		cf_bk_fc_part(b);
		cf_bk_progress(b, false);
	}
	memmove(b->rbuf, b->rbuf + pos, *have - pos);
	*have -= pos;
	return 0;
}

/* Read [@start, @end) (@end UINT64_MAX: to end of file) and chunk it. */
static int
read_region(struct bk *b, int fd, uint64_t start, uint64_t end, struct cf_node *n, size_t *cap)
{
	uint64_t off = start;
	size_t have = 0;
	bool eof = false;
	int rc;

	memset(&b->cut, 0, sizeof(b->cut)); /* a region starts a chunk */
	while (!eof) {
		size_t want = b->rcap - have;
		ssize_t got;

		if (end != UINT64_MAX && end - off < want)
			want = (size_t)(end - off);
		got = want == 0 ? 0 : pread(fd, b->rbuf + have, want, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return cf_err_set(CF_ESYS, "cannot read '%s'", cf_path_cstr(&b->path));
		off += (uint64_t)got;
		have += (size_t)got;
		eof = got == 0 || (end != UINT64_MAX && off >= end);
		if ((rc = cut_chunks(b, n, cap, &have, eof)) != 0)
			return rc;
	}
	return 0;
}

/* A hole of @len bytes at the end of @n (done, for progress, as the scan counts st_size). */
static int
add_hole(struct bk *b, struct cf_node *n, size_t *cap, uint64_t len)
{
	int rc = add_part(n, cap, true, NULL, len);

	if (rc != 0)
		return rc;
	n->size += len;
	b->bytes_done += len;
	cf_bk_fc_part(b);
	return 0;
}

/*
 * A sparse file from @from (0, or a partial entry's end: a chunk boundary or the end of a
 * hole): chunk each data region, record the holes between.
 */
static int
read_sparse(struct bk *b, int fd, uint64_t from, uint64_t size, struct cf_node *n, size_t *cap)
{
	uint64_t off = from;
	uint64_t s = 0;
	uint64_t e = 0;
	int rc;

	while ((rc = cf_fs_next_data(fd, off, size, &s, &e)) == 0) {
		if (s > off && (rc = add_hole(b, n, cap, s - off)) != 0)
			return rc;
		if ((rc = read_region(b, fd, s, e, n, cap)) != 0)
			return rc;
		off = e;
	}
	if (rc != CF_ENOENT)
		return cf_err_wrap(rc, "cannot read '%s'", cf_path_cstr(&b->path));
	if (off < size && (rc = add_hole(b, n, cap, size - off)) != 0)
		return rc;
	return 0;
}

static bool
same_file(const struct stat *st, const struct cf_node *prev)
{
	return prev != NULL && (prev->type == CF_NODE_FILE || prev->type == CF_NODE_HARDLINK) &&
	       prev->size == (uint64_t)st->st_size && prev->ino == (uint64_t)st->st_ino &&
	       prev->mtime_s == (int64_t)st->st_mtim.tv_sec &&
	       prev->mtime_ns == (uint32_t)st->st_mtim.tv_nsec &&
	       prev->ctime_s == (int64_t)st->st_ctim.tv_sec &&
	       prev->ctime_ns == (uint32_t)st->st_ctim.tv_nsec;
}

/*
 * Reuse only what the repository still has: a parent, a cached tree or a files cache entry
 * may name chunks that were pruned since (or, for the files cache, never stored: a backup
 * that failed); such a file is read again. Never skip this: one index lookup per chunk.
 */
bool
cf_bk_parts_live(const struct bk *b, const struct cf_part *parts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct cf_part *p = &parts[i];

		if (!p->hole && !cf_repo_has_live(b->r, p->id) && !cf_index_has(b->pending, p->id))
			return false;
	}
	return true;
}

/* Copy content and attributes of an already known file into @n. */
static int
copy_content(struct cf_node *n, const struct cf_part *parts, size_t nparts,
             const struct cf_xattr *x, size_t nx)
{
	int rc;

	if (nparts > 0 && (n->parts = cf_memdup(parts, nparts * sizeof(*parts))) == NULL)
		return CF_ENOMEM;
	n->nparts = nparts;
	cf_fs_xattrs_free(n->xattrs, n->nxattrs);
	n->xattrs = NULL;
	n->nxattrs = 0;
	if ((rc = cf_fs_xattrs_dup(x, nx, &n->xattrs)) != 0)
		return rc;
	n->nxattrs = nx;
	return 0;
}

static size_t
hl_hash(uint64_t dev, uint64_t ino)
{
	uint64_t h = (ino ^ (dev * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;

	return (size_t)(h ^ (h >> 32));
}

static struct hl_entry *
hl_find(struct hl_map *m, uint64_t dev, uint64_t ino)
{
	size_t mask = m->nslots - 1;

	if (m->nslots == 0)
		return NULL;
	for (size_t i = hl_hash(dev, ino) & mask; m->slots[i] != 0; i = (i + 1) & mask) {
		struct hl_entry *e = &m->v[m->slots[i] - 1];

		if (e->dev == dev && e->ino == ino)
			return e;
	}
	return NULL;
}

static void
hl_slot_put(size_t *slots, size_t nslots, const struct hl_entry *e, size_t idx)
{
	size_t i = hl_hash(e->dev, e->ino) & (nslots - 1);

	while (slots[i] != 0)
		i = (i + 1) & (nslots - 1);
	slots[i] = idx + 1;
}

/* Keep the table at most half full: rebuild it twice as large. */
static int
hl_grow_slots(struct hl_map *m)
{
	size_t n = m->nslots == 0 ? 64 : m->nslots * 2;
	size_t *s;

	if ((m->n + 1) * 2 <= m->nslots)
		return 0;
	if ((s = cf_calloc(n, sizeof(*s))) == NULL)
		return CF_ENOMEM;
	for (size_t i = 0; i < m->n; i++)
		hl_slot_put(s, n, &m->v[i], i);
	cf_free(m->slots);
	m->slots = s;
	m->nslots = n;
	return 0;
}

static int
hl_add(struct hl_map *m, const struct cf_node *n)
{
	struct hl_entry *e = NULL;
	int rc;

	if ((rc = hl_grow_slots(m)) != 0)
		return rc;
	if (m->n == m->cap) {
		size_t ncap = m->cap == 0 ? 16 : m->cap * 2;

		if ((e = cf_realloc(m->v, ncap * sizeof(*e))) == NULL)
			return CF_ENOMEM;
		m->v = e;
		m->cap = ncap;
	}
	e = &m->v[m->n];
	memset(e, 0, sizeof(*e));
	e->dev = n->dev;
	e->ino = n->ino;
	e->size = n->size;
	if (n->nparts > 0 &&
	    (e->parts = cf_memdup(n->parts, n->nparts * sizeof(*n->parts))) == NULL)
		return CF_ENOMEM;
	e->nparts = n->nparts;
	if (cf_fs_xattrs_dup(n->xattrs, n->nxattrs, &e->xattrs) != 0) {
		cf_free(e->parts);
		return CF_ENOMEM;
	}
	e->nxattrs = n->nxattrs;
	hl_slot_put(m->slots, m->nslots, e, m->n);
	m->n++;
	return 0;
}

void
cf_hl_release(struct hl_map *m)
{
	for (size_t i = 0; i < m->n; i++) {
		cf_free(m->v[i].parts);
		cf_fs_xattrs_free(m->v[i].xattrs, m->v[i].nxattrs);
	}
	cf_free(m->v);
	cf_free(m->slots);
	memset(m, 0, sizeof(*m));
}

static bool
changed_while_read(const struct stat *a, const struct stat *b)
{
	return a->st_size != b->st_size || a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
	       a->st_mtim.tv_nsec != b->st_mtim.tv_nsec || a->st_ctim.tv_sec != b->st_ctim.tv_sec ||
	       a->st_ctim.tv_nsec != b->st_ctim.tv_nsec;
}

/* The opened file is the one the walk saw: same inode, size and times. */
static bool
same_opened(int fd, const struct stat *st)
{
	struct stat cur;

	return fstat(fd, &cur) == 0 && cur.st_ino == st->st_ino && !changed_while_read(st, &cur);
}

/* Drop the chunks a partial files cache entry gave @n: its first @from bytes. */
static void
forget_prefix(struct bk *b, struct cf_node *n, uint64_t from)
{
	cf_free(n->parts);
	n->parts = NULL;
	n->nparts = 0;
	n->size = 0;
	b->bytes_done -= from;
}

/*
 * Open, read and chunk the file from @from (0, or where the parts @n already has end); @n
 * gets its parts, size and attributes.
 */
static int
read_file(struct bk *b, int dfd, const char *name, const struct stat *st, struct cf_node *n,
          uint64_t from)
{
	bool sparse = (uint64_t)st->st_blocks * 512 < (uint64_t)st->st_size;
	struct timespec t0;
	struct stat after;
	size_t cap = n->nparts;
	int fd;
	int rc;

	(void)clock_gettime(CLOCK_REALTIME, &t0);
	if ((fd = cf_fs_open_noatime(dfd, name)) < 0)
		return cf_err_set(CF_ESYS, "cannot open '%s'", cf_path_cstr(&b->path));
	if (from > 0 && !same_opened(fd, st)) {
		forget_prefix(b, n, from); /* the path names another file now: read it all */
		from = 0;
		cap = 0;
	}
	if ((rc = cf_fs_read_xattrs(fd, &n->xattrs, &n->nxattrs)) != 0) {
		rc = cf_err_wrap(rc, "'%s'", cf_path_cstr(&b->path));
		goto out;
	}
	n->size = from;
	cf_bk_fc_begin(b, st, n, &t0);
	if (sparse)
		rc = read_sparse(b, fd, from, (uint64_t)st->st_size, n, &cap);
	else
		rc = read_region(b, fd, from, UINT64_MAX, n, &cap);
	cf_bk_fc_end(b);
	if (rc != 0)
		goto out;
	b->bytes_read += n->size - from;
	if (fstat(fd, &after) != 0)
		goto out;
	if (changed_while_read(st, &after))
		cf_emit_item(&b->ev, CF_EV_WARNING, 0, b->path.p, b->path.len,
		             "'%s' changed while it was read", cf_path_cstr(&b->path));
	else if (after.st_ino == st->st_ino)
		cf_bk_fc_note(b, st, n, &t0);
out:
	(void)close(fd);
	return rc;
}

int
cf_bk_file(struct bk *b, int dfd, const char *name, const struct stat *st,
           const struct cf_node *prev, struct cf_node *n)
{
	struct hl_entry *h = NULL;
	bool cached = false;
	uint64_t from = 0;
	int rc;

	b->files_done++;
	if (st->st_nlink > 1 && (h = hl_find(&b->hl, n->dev, n->ino)) != NULL) {
		n->type = CF_NODE_HARDLINK;
		n->size = h->size;
		return copy_content(n, h->parts, h->nparts, h->xattrs, h->nxattrs);
	}
	if (same_file(st, prev) && cf_bk_parts_live(b, prev->parts, prev->nparts)) {
		b->st.files_unmodified++;
		b->bytes_done += (uint64_t)st->st_size;
		n->size = prev->size;
		rc = copy_content(n, prev->parts, prev->nparts, prev->xattrs, prev->nxattrs);
	} else if ((rc = cf_bk_fc_lookup(b, dfd, name, st, n, &cached, &from)) == 0 &&
	           (cached || (rc = read_file(b, dfd, name, st, n, from)) == 0)) {
		if (prev != NULL)
			b->st.files_changed++;
		else
			b->st.files_new++;
	}
	if (rc == 0 && st->st_nlink > 1)
		rc = hl_add(&b->hl, n);
	cf_bk_fc_flush(b, false);
	return rc;
}
