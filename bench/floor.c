/*
 * floor.c - the least CPU an initial backup of a tree needs: each primitive of the format,
 * through coffer's own wrappers, on one thread, with no pipeline, walk state, trees, files
 * cache, index or fsync. It reads every regular file under DIR whole, cuts it with the
 * repository's default chunker, and for each chunk computes the chunk id (HMAC-SHA-256),
 * compresses (zstd 1, kept when it pays), seals (XChaCha20-Poly1305), hashes the sealed
 * bytes as a pack id would, and writes them to OUT. It prints the CPU time of the whole and
 * the wall time of each step. Spread perfectly over N cores, CPU / N is the floor of a backup.
 *
 *   cf_floor DIR OUT
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "chunk/chunk.h"
#include "compress/compress.h"
#include "crypto/crypto.h"

enum step { READ, CUT, MAC, ZSTD, SEAL, HASH, WRITE, NSTEPS };

static const char *const step_names[NSTEPS] = {"read", "cut",  "mac",  "zstd",
                                               "seal", "hash", "write"};

struct floor {
	struct cf_chunker *chunker;
	struct cf_key *k_id;
	struct cf_key *k_seal;
	struct cf_zctx *z;
	struct cf_hash_ctx *pack;
	uint8_t *cbuf; /* compressed chunk */
	uint8_t *sbuf; /* sealed chunk */
	size_t cap;
	int out;
	double t[NSTEPS];
	uint64_t files;
	uint64_t bytes;
	uint64_t chunks;
};

static struct floor F;

static double
now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
cpu_now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Time since *@t into step @s; *@t moves on. */
static void
lap(enum step s, double *t)
{
	double n = now();

	F.t[s] += n - *t;
	*t = n;
}

static int
one_chunk(const uint8_t *p, size_t len, double *t)
{
	uint8_t id[CF_ID_BYTES];
	const uint8_t *m = p;
	size_t mlen = len;
	size_t clen = 0;
	bool used = false;

	cf_mac(id, F.k_id, p, len);
	lap(MAC, t);
	if (cf_compress(F.z, p, len, F.cbuf, F.cap, &clen, &used) != 0)
		return -1;
	if (used) {
		m = F.cbuf;
		mlen = clen;
	}
	lap(ZSTD, t);
	cf_aead_seal(F.sbuf, F.k_seal, m, mlen, id, sizeof(id));
	lap(SEAL, t);
	cf_hash_ctx_update(F.pack, F.sbuf, mlen + CF_AEAD_OVERHEAD);
	lap(HASH, t);
	if (cf_write_all(F.out, F.sbuf, mlen + CF_AEAD_OVERHEAD) != 0)
		return -1;
	lap(WRITE, t);
	F.chunks++;
	return 0;
}

/* Read @fd (@size bytes) whole, then cut it and process each chunk. */
static int
one_file(int fd, size_t size)
{
	uint8_t *data = size > 0 ? malloc(size) : NULL;
	double t = now();
	size_t have = 0;
	int rc = 0;

	if (size > 0 && data == NULL)
		return -1;
	while (have < size) {
		ssize_t n = read(fd, data + have, size - have);

		if (n <= 0)
			break;
		have += (size_t)n;
	}
	lap(READ, &t);
	for (size_t off = 0; off < have && rc == 0;) {
		size_t c = cf_chunker_cut(F.chunker, data + off, have - off);

		lap(CUT, &t);
		rc = one_chunk(data + off, c, &t);
		off += c;
	}
	F.bytes += have;
	free(data);
	return rc;
}

static int
visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	int fd;
	int rc;

	(void)ftw;
	if (type != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	rc = one_file(fd, (size_t)st->st_size);
	(void)close(fd);
	F.files++;
	return rc;
}

static int
setup(const char *out)
{
	struct cf_chunk_params cp = {CF_CHUNK_MIN_DEFAULT, CF_CHUNK_AVG_DEFAULT,
	                             CF_CHUNK_MAX_DEFAULT};
	struct cf_key *ck = NULL;
	int rc;

	F.cap = cf_compress_bound(CF_CHUNK_MAX_DEFAULT);
	if (cf_init() != 0 || cf_key_new_random(&ck) != 0 || cf_key_new_random(&F.k_id) != 0 ||
	    cf_key_new_random(&F.k_seal) != 0 || cf_chunker_new(ck, &cp, &F.chunker) != 0 ||
	    cf_zctx_new(1, &F.z) != 0 || cf_hash_ctx_new(&F.pack) != 0 ||
	    (F.cbuf = malloc(F.cap)) == NULL || (F.sbuf = malloc(F.cap + CF_AEAD_OVERHEAD)) == NULL)
		rc = -1;
	else
		rc = 0;
	cf_key_free(ck);
	if (rc == 0 && (F.out = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		rc = -1;
	return rc;
}

int
main(int argc, char **argv)
{
	uint8_t digest[CF_HASH_BYTES];
	double c0;
	double w0;

	if (argc != 3) {
		fprintf(stderr, "usage: cf_floor DIR OUT\n");
		return 2;
	}
	if (setup(argv[2]) != 0) {
		fprintf(stderr, "cf_floor: cannot set up (or open '%s')\n", argv[2]);
		return 1;
	}
	c0 = cpu_now();
	w0 = now();
	if (nftw(argv[1], visit, 64, FTW_PHYS) != 0) {
		fprintf(stderr, "cf_floor: failed in '%s'\n", argv[1]);
		return 1;
	}
	cf_hash_ctx_final(F.pack, digest);
	printf("%llu files, %llu bytes, %llu chunks: wall %.2f s, cpu %.2f s\n",
	       (unsigned long long)F.files, (unsigned long long)F.bytes,
	       (unsigned long long)F.chunks, now() - w0, cpu_now() - c0);
	for (int s = 0; s < NSTEPS; s++)
		printf("%s%s %.2f", s > 0 ? "  " : "", step_names[s], F.t[s]);
	printf("\n");
	(void)close(F.out);
	(void)unlink(argv[2]);
	return 0;
}
