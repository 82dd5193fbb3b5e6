/* car: CAR v1 streaming reader and writer, CAR v2 reader. Pure: the caller
 * supplies the bytes through a read callback; no file handling here.
 *
 * The reader parses the header (DAG-CBOR {roots, version}) just far enough to
 * get the roots, then yields sections one at a time. It does NOT verify blocks:
 * callers verify with mh_verify (roots are never trusted). CARv2 input is
 * detected by its pragma; the embedded v1 payload is read, the index ignored.
 * Limits: header ≤ 1 MiB, section ≤ BLOCK_MAX + CID_MAX_BIN; a section length
 * past the end of input is an error, never a huge allocation. */
#ifndef MPACK_CAR_H
#define MPACK_CAR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cid.h"
#include "errbuf.h"

#define CAR_MAX_ROOTS  64
#define CAR_MAX_HEADER (1u << 20)

/* Reads up to n bytes into buf; returns bytes read (0 at EOF) or -errno. */
typedef ssize_t (*car_read_fn)(void *ctx, void *buf, size_t n);
/* Writes all n bytes; returns 0 or -errno. */
typedef int (*car_write_fn)(void *ctx, const void *buf, size_t n);

struct car_reader;

/* Read the header. Returns 0, -EINVAL (malformed; message says why), or the
 * read callback's error. */
int car_reader_open(car_read_fn rd, void *ctx, struct car_reader **out, struct errbuf *e);
void car_reader_free(struct car_reader *r);

int car_reader_version(const struct car_reader *r); /* 1 or 2 */
size_t car_reader_nroots(const struct car_reader *r);
const struct cid *car_reader_root(const struct car_reader *r, size_t i);

/* Next section. Returns 1 with *cid, *block, *len set (block borrowed until
 * the next call or free), 0 at a clean end, -EINVAL for malformed or
 * truncated data, -EFBIG for an oversized section. *offset (may be NULL)
 * receives the offset of the block bytes from the start of the input, so a
 * caller can index a seekable file. */
int car_reader_next(struct car_reader *r, struct cid *cid, const uint8_t **block, size_t *len,
		    uint64_t *offset, struct errbuf *e);

/* Encoded CARv1 header for the given roots into out (cap bytes). Returns the
 * length or -EOVERFLOW. Its length depends only on the roots' binary lengths,
 * so a writer can reserve it and rewrite it once the root is known. */
int car_header_encode(const struct cid *roots, size_t nroots, uint8_t *out, size_t cap);

struct car_writer;
int car_writer_new(car_write_fn wr, void *ctx, const struct cid *roots, size_t nroots,
		   struct car_writer **out);
/* Append one section. Returns 0 or the write callback's error; -EFBIG if
 * len > BLOCK_MAX and -EINVAL for an empty CID (sections the reader would
 * refuse are never written). */
int car_writer_put(struct car_writer *w, const struct cid *cid, const void *block, size_t len);
/* Bytes written so far (header included). */
uint64_t car_writer_offset(const struct car_writer *w);
void car_writer_free(struct car_writer *w);

#endif
