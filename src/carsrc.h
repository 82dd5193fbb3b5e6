/* carsrc: CAR files (v1 or v2) as an indexed, verified block source.
 *
 * Each file is opened once; its header is checked with the car reader and
 * its sections are scanned with pread (block bytes are skipped, not read), so
 * opening a 20 GB CAR costs one small read per block. The index maps a block's
 * multihash to (file, offset, length) in an open-addressing hash table; the
 * first occurrence of a multihash wins. carsrc_get reads the block with pread
 * and verifies it with mh_verify every time: a CAR is never trusted.
 * The index is immutable after carsrc_open, so every call below is thread-safe. */
#ifndef MPACK_CARSRC_H
#define MPACK_CARSRC_H

#include <stddef.h>
#include <stdint.h>

#include "cid.h"
#include "errbuf.h"

struct carsrc;

/* Open and index n CAR files. Returns 0; -ENOENT/-EACCES etc. (cannot open),
 * -EINVAL (malformed: the message names the file and the byte offset),
 * -EFBIG (a section over BLOCK_MAX), -ENOMEM. n may be 0. */
int carsrc_open(const char *const *paths, size_t n, struct carsrc **out, struct errbuf *e);
/* NULL is a no-op. */
void carsrc_free(struct carsrc *c);

/* 1 if some CAR holds a block with c's multihash, else 0. */
int carsrc_has(const struct carsrc *c, const struct cid *cid);

/* Read and verify the block. Returns 0 with *data malloc'd (caller frees) and
 * *len; -ENOENT if no CAR holds it; -EIO (read error, short file, or hash
 * mismatch: the message names the file and offset); -ENOTSUP (unsupported
 * hash function); -ENOMEM. */
int carsrc_get(const struct carsrc *c, const struct cid *cid, uint8_t **data, size_t *len,
	       struct errbuf *e);

/* Blocks indexed (distinct multihashes). */
size_t carsrc_count(const struct carsrc *c);

#endif
