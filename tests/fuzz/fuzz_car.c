/* fuzz_car: the CAR reader over arbitrary bytes, with short reads; invariants on success. */
/* deps: car cid multibase multihash varint dynbuf errbuf */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "car.h"
#include "dynbuf.h"
#include "multihash.h"

#define FUZZ_MAX_SECTIONS 4096

struct fz_in {
	const uint8_t *p;
	size_t len, pos;
	unsigned calls;
};

/* Hands out short, varying reads to exercise the reader's buffering. */
static ssize_t fz_read(void *ctx, void *buf, size_t n)
{
	struct fz_in *in = ctx;
	size_t want = 1 + (in->calls++ * 2654435761u) % 97;

	if (in->calls % 5 == 0)
		want = n;
	if (want > n)
		want = n;
	if (want > in->len - in->pos)
		want = in->len - in->pos;
	if (want)
		memcpy(buf, in->p + in->pos, want);
	in->pos += want;
	return (ssize_t)want;
}

static int fz_write(void *ctx, const void *buf, size_t n)
{
	return dynbuf_append(ctx, buf, n);
}

struct fz_section {
	struct cid cid;
	uint64_t off;
	size_t len;
};

/* Re-read our own encoding of a clean parse: same roots, same sections. */
static void fz_reread(const struct dynbuf *out, struct car_reader *orig, const uint8_t *data,
		      const struct fz_section *s, size_t n)
{
	struct fz_in in = {out->data, out->len, 0, 0};
	struct car_reader *r;
	const uint8_t *blk;
	struct errbuf e;
	struct cid c;
	size_t i, len;

	if (car_reader_open(fz_read, &in, &r, &e))
		abort();
	if (car_reader_nroots(r) != car_reader_nroots(orig) || car_reader_version(r) != 1)
		abort();
	for (i = 0; i < car_reader_nroots(r); i++)
		if (!cid_equal(car_reader_root(r, i), car_reader_root(orig, i)))
			abort();
	for (i = 0; i < n; i++) {
		if (car_reader_next(r, &c, &blk, &len, NULL, &e) != 1)
			abort();
		if (!cid_equal(&c, &s[i].cid) || len != s[i].len ||
		    memcmp(blk, data + s[i].off, len))
			abort();
	}
	if (car_reader_next(r, &c, &blk, &len, NULL, &e) != 0)
		abort();
	car_reader_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = {data, size, 0, 0};
	static struct fz_section secs[FUZZ_MAX_SECTIONS];
	struct car_writer *w = NULL;
	struct car_reader *r;
	struct cid roots[CAR_MAX_ROOTS];
	const uint8_t *blk;
	struct dynbuf out;
	struct errbuf e;
	size_t i, n = 0, len;
	uint64_t off;
	int rc;

	if (car_reader_open(fz_read, &in, &r, &e))
		return 0;
	for (i = 0; i < car_reader_nroots(r); i++)
		roots[i] = *car_reader_root(r, i);
	dynbuf_init(&out, 2 * size + 1024);
	if (car_writer_new(fz_write, &out, roots, car_reader_nroots(r), &w))
		abort();
	while ((rc = car_reader_next(r, &secs[n].cid, &blk, &len, &off, &e)) == 1) {
		if (off > size || len > size - off || memcmp(data + off, blk, len))
			abort(); /* the offset must point at the block in the input */
		(void)mh_verify(&secs[n].cid, blk, len, &e);
		if (car_writer_put(w, &secs[n].cid, blk, len))
			abort();
		secs[n].off = off;
		secs[n].len = len;
		if (++n == FUZZ_MAX_SECTIONS)
			break;
	}
	if (rc == 0 && car_writer_offset(w) != out.len)
		abort();
	if (rc == 0)
		fz_reread(&out, r, data, secs, n);
	car_writer_free(w);
	car_reader_free(r);
	dynbuf_free(&out);
	return 0;
}
