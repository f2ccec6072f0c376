/*
 * chunk.h - keyed FastCDC with normalized chunking (docs/format.md section 4).
 */
#ifndef CF_CHUNK_H
#define CF_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/compat.h"

struct cf_key;

#define CF_CHUNK_MIN_DEFAULT (256u * 1024)
#define CF_CHUNK_AVG_DEFAULT (512u * 1024)
#define CF_CHUNK_MAX_DEFAULT (8u * 1024 * 1024)
/* Hard limit on any chunk's size, whatever the genesis entry says. */
#define CF_CHUNK_MAX_LIMIT (8u * 1024 * 1024)

struct cf_chunk_params {
	uint32_t min;
	uint32_t avg; /* a power of two */
	uint32_t max;
};

/* The gear table, derived from CK. Not secret itself, but derived from a secret: wiped on free. */
struct cf_chunker;

/*
 * cf_chunk_params_valid() - 0 when 64 <= min < avg < max <= CF_CHUNK_MAX_LIMIT and avg is a
 * power of two with log2(avg) >= 8; else CF_EFORMAT.
 */
int cf_chunk_params_valid(const struct cf_chunk_params *p) CF_MUST_CHECK;

/*
 * cf_chunker_new() - derive K_gear from @ck and build the gear table.
 * @p: validated parameters (copied). Returns 0, CF_EFORMAT (bad params) or CF_ENOMEM.
 */
int cf_chunker_new(const struct cf_key *ck, const struct cf_chunk_params *p,
                   struct cf_chunker **out) CF_MUST_CHECK;
void cf_chunker_free(struct cf_chunker *c);

/*
 * cf_chunker_cut() - length of the next chunk at the start of @data. @len must be at least
 * params.max unless @data holds the rest of the stream (its end is a chunk end). Returns a
 * value in [1, min(len, max)] for len > 0, 0 for len == 0. Pure and thread-safe.
 */
size_t cf_chunker_cut(const struct cf_chunker *c, const uint8_t *data, size_t len);

/*
 * Where an undecided cut left off (cf_chunker_cut_more). Zero it before each new chunk; the
 * cut returned resets it.
 */
struct cf_cut_state {
	size_t pos; /* bytes of the chunk already scanned */
	uint64_t h; /* the gear hash at pos */
};

/*
 * cf_chunker_cut_more() - cf_chunker_cut() for a stream that arrives in pieces: @data[0..@len)
 * is the chunk's data so far, @eof says whether the stream ends there. Returns the chunk's
 * length, exactly as cf_chunker_cut() on the whole stream would, or 0 when that needs more
 * data (only when !@eof and @len < params.max). Scans each byte once: @st remembers where the
 * previous undecided call stopped. Pure and thread-safe.
 */
size_t cf_chunker_cut_more(const struct cf_chunker *c, const uint8_t *data, size_t len, bool eof,
                           struct cf_cut_state *st);

/* cf_chunker_max() - the chunker's maximum chunk size. */
size_t cf_chunker_max(const struct cf_chunker *c);

/* cf_chunker_gear() - entry @i of the gear table, for known-answer tests. */
uint64_t cf_chunker_gear(const struct cf_chunker *c, uint8_t i);

#endif
