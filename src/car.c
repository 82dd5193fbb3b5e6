/* car: CARv1 streaming reader and writer, CARv2 reader (contract in car.h). */
#include "car.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "dynbuf.h"
#include "multihash.h"
#include "varint.h"

#define CAR_READ_CHUNK	  (64u * 1024)		    /* smallest read asked of the callback */
#define CAR_SECTION_MAX	  (BLOCK_MAX + CID_MAX_BIN) /* CID + block */
#define CAR_BUF_CAP	  (CAR_SECTION_MAX + CAR_READ_CHUNK) /* read-ahead buffer cap */
#define CAR_V2_HEADER_LEN 40u				     /* after the 11-byte pragma */
#define CAR_V2_MAX_PAD	  CAR_MAX_HEADER		     /* bytes skipped before the v1 data */
#define CAR_NO_LIMIT	  UINT64_MAX

struct car_reader {
	car_read_fn rd;
	void *ctx;
	struct dynbuf buf; /* buf.data[pos..len) is read but not consumed */
	size_t pos;
	uint64_t abs;	/* input offset of buf.data[pos] */
	uint64_t limit; /* input offset where the v1 data ends (CARv2), else CAR_NO_LIMIT */
	int eof;	/* the callback returned 0 */
	int failed;	/* sticky error code after a failed call */
	int version;
	size_t nroots;
	struct cid roots[CAR_MAX_ROOTS];
};

/* ---- buffered input ---- */

static size_t rd_avail(const struct car_reader *r)
{
	size_t n = r->buf.len - r->pos;
	uint64_t left = r->limit - r->abs;

	return left < n ? (size_t)left : n;
}

static void rd_consume(struct car_reader *r, size_t n)
{
	r->pos += n;
	r->abs += n;
	if (r->pos == r->buf.len)
		r->pos = r->buf.len = 0;
}

/* Make n bytes (n ≤ CAR_SECTION_MAX) available at pos; fewer only at EOF or
 * at the CARv2 data limit. Reads in big chunks straight into the buffer.
 * Returns 0 or the callback's error (-EIO if it claims more than asked). */
static int rd_fill(struct car_reader *r, size_t n)
{
	size_t room;
	ssize_t got;
	int rc;

	if (r->limit - r->abs < n)
		n = (size_t)(r->limit - r->abs);
	if (rd_avail(r) >= n || r->eof)
		return 0;
	if (r->pos > 0) {
		memmove(r->buf.data, r->buf.data + r->pos, r->buf.len - r->pos);
		r->buf.len -= r->pos;
		r->pos = 0;
	}
	while (r->buf.len < n && !r->eof) {
		room = n - r->buf.len;
		if (room < CAR_READ_CHUNK)
			room = CAR_READ_CHUNK;
		if (room > r->buf.cap - r->buf.len)
			room = r->buf.cap - r->buf.len;
		rc = dynbuf_reserve(&r->buf, room);
		if (rc)
			return rc;
		room = r->buf.alloc - r->buf.len;
		got = r->rd(r->ctx, r->buf.data + r->buf.len, room);
		if (got < 0)
			return (int)got;
		if ((size_t)got > room)
			return -EIO;
		if (got == 0)
			r->eof = 1;
		r->buf.len += (size_t)got;
	}
	return 0;
}

/* A multiformats varint at pos. Returns bytes used (> 0), 0 if no input is
 * left, -EAGAIN if the input ends inside it, -EINVAL if malformed, or a read
 * error. */
static int rd_varint(struct car_reader *r, uint64_t *v)
{
	size_t avail;
	int rc;

	rc = rd_fill(r, 9);
	if (rc)
		return rc;
	avail = rd_avail(r);
	if (avail == 0)
		return 0;
	rc = varint_decode(r->buf.data + r->pos, avail < 9 ? avail : 9, v);
	if (rc > 0)
		rd_consume(r, (size_t)rc);
	return rc;
}

static int rd_error(int rc, uint64_t off, struct errbuf *e)
{
	return err_set(e, rc, "car: read failed at offset %" PRIu64 ": %s", off, strerror(-rc));
}

/* ---- header CBOR (just enough DAG-CBOR for {roots, version}) ---- */

struct cbor {
	const uint8_t *p, *end;
};

static const char *const cbor_major_names[8] = {
    "unsigned integer",
    "negative integer",
    "byte string",
    "text string",
    "array",
    "map",
    "tag",
    "float or simple value",
};

/* One item head: major type and argument. Definite, minimal encodings only. */
static int cb_head(struct cbor *c, int *major, uint64_t *val, struct errbuf *e)
{
	uint8_t ib, ai;
	size_t n, i;
	uint64_t v = 0;

	if (c->p >= c->end)
		return err_set(e, -EINVAL, "car: header: CBOR ends early");
	ib = *c->p++;
	*major = ib >> 5;
	ai = ib & 31;
	if (*major == 7)
		return err_set(e, -EINVAL, "car: header: unexpected CBOR %s (0x%02x)",
			       cbor_major_names[7], ib);
	if (ai == 31)
		return err_set(e, -EINVAL, "car: header: indefinite-length CBOR %s not allowed",
			       cbor_major_names[*major]);
	if (ai > 27)
		return err_set(e, -EINVAL, "car: header: reserved CBOR byte 0x%02x", ib);
	if (ai < 24) {
		*val = ai;
		return 0;
	}
	n = (size_t)1 << (ai - 24);
	if ((size_t)(c->end - c->p) < n)
		return err_set(e, -EINVAL, "car: header: CBOR ends early");
	for (i = 0; i < n; i++)
		v = v << 8 | c->p[i];
	c->p += n;
	if (v < (ai == 24 ? 24 : (uint64_t)1 << (8 * (n / 2))))
		return err_set(e, -EINVAL, "car: header: non-minimal CBOR encoding of %" PRIu64, v);
	*val = v;
	return 0;
}

static int cb_expect(struct cbor *c, int major, uint64_t *val, const char *what, struct errbuf *e)
{
	int got, rc;

	rc = cb_head(c, &got, val, e);
	if (rc)
		return rc;
	if (got != major)
		return err_set(e, -EINVAL, "car: header: expected %s, got CBOR %s", what,
			       cbor_major_names[got]);
	return 0;
}

/* Argument of a byte/text string: its length, checked against what is left. */
static int cb_string(struct cbor *c, int major, uint64_t *len, const char *what, struct errbuf *e)
{
	int rc = cb_expect(c, major, len, what, e);

	if (rc)
		return rc;
	if (*len > (uint64_t)(c->end - c->p))
		return err_set(e, -EINVAL, "car: header: CBOR ends early");
	return 0;
}

static int cb_root(struct cbor *c, size_t i, struct cid *out, struct errbuf *e)
{
	uint64_t tag, blen;
	size_t used;
	int rc;

	rc = cb_expect(c, 6, &tag, "a CID (tag 42)", e);
	if (rc)
		return rc;
	if (tag != 42)
		return err_set(e, -EINVAL, "car: header: root %zu has tag %" PRIu64 ", not 42", i,
			       tag);
	rc = cb_string(c, 2, &blen, "CID bytes", e);
	if (rc)
		return rc;
	if (blen < 1 || c->p[0] != 0)
		return err_set(e, -EINVAL, "car: header: root %zu lacks the 0x00 CID prefix", i);
	rc = cid_decode(c->p + 1, (size_t)blen - 1, out, &used, e);
	if (rc)
		return err_prefix(e, -EINVAL, "car: header: root %zu", i);
	if (used != blen - 1)
		return err_set(e, -EINVAL, "car: header: root %zu has %zu bytes after the CID", i,
			       (size_t)blen - 1 - used);
	c->p += blen;
	return 0;
}

static int cb_roots(struct cbor *c, struct cid *roots, size_t *nroots, struct errbuf *e)
{
	uint64_t n;
	size_t i;
	int rc;

	rc = cb_expect(c, 4, &n, "an array of roots", e);
	if (rc)
		return rc;
	if (n > CAR_MAX_ROOTS)
		return err_set(e, -EINVAL, "car: header: %" PRIu64 " roots exceed the limit of %d",
			       n, CAR_MAX_ROOTS);
	for (i = 0; i < n; i++) {
		rc = cb_root(c, i, &roots[i], e);
		if (rc)
			return rc;
	}
	*nroots = (size_t)n;
	return 0;
}

static int cb_version(struct cbor *c, int64_t *version, struct errbuf *e)
{
	uint64_t v;
	int major, rc;

	rc = cb_head(c, &major, &v, e);
	if (rc)
		return rc;
	if (major != 0 && major != 1)
		return err_set(e, -EINVAL, "car: header: version is a CBOR %s, not an integer",
			       cbor_major_names[major]);
	*version = major == 1 || v > INT64_MAX ? -1 : (int64_t)v;
	return 0;
}

static int key_printable(const uint8_t *k, size_t n)
{
	size_t i;

	if (n > 32)
		return 0;
	for (i = 0; i < n; i++)
		if (k[i] < 0x20 || k[i] > 0x7e || k[i] == '"')
			return 0;
	return 1;
}

/* Parse the header map. *has_roots tells whether a "roots" key was present. */
static int hdr_parse(const uint8_t *p, size_t len, int64_t *version, int *has_roots,
		     struct cid *roots, size_t *nroots, struct errbuf *e)
{
	struct cbor c = {p, p + len};
	uint64_t n, i, klen;
	const uint8_t *k;
	int has_version = 0, rc;

	*has_roots = 0;
	rc = cb_expect(&c, 5, &n, "a map", e);
	for (i = 0; !rc && i < n; i++) {
		rc = cb_string(&c, 3, &klen, "a text key", e);
		if (rc)
			break;
		k = c.p;
		c.p += klen;
		if (klen == 5 && !memcmp(k, "roots", 5) && !*has_roots) {
			*has_roots = 1;
			rc = cb_roots(&c, roots, nroots, e);
		} else if (klen == 7 && !memcmp(k, "version", 7) && !has_version) {
			has_version = 1;
			rc = cb_version(&c, version, e);
		} else if ((klen == 5 && !memcmp(k, "roots", 5)) ||
			   (klen == 7 && !memcmp(k, "version", 7))) {
			rc = err_set(e, -EINVAL, "car: header: duplicate key \"%.*s\"", (int)klen,
				     (const char *)k);
		} else if (key_printable(k, (size_t)klen)) {
			rc = err_set(e, -EINVAL, "car: header: unknown key \"%.*s\"", (int)klen,
				     (const char *)k);
		} else {
			rc = err_set(e, -EINVAL, "car: header: unknown key of %" PRIu64 " bytes",
				     klen);
		}
	}
	if (rc)
		return rc;
	if (c.p != c.end)
		return err_set(e, -EINVAL, "car: header: %zu trailing bytes after the CBOR map",
			       (size_t)(c.end - c.p));
	if (!has_version)
		return err_set(e, -EINVAL, "car: header has no version");
	return 0;
}

/* ---- reader ---- */

/* varint(length) + CBOR map at the current position. */
static int car_read_header(struct car_reader *r, int64_t *version, int *has_roots, struct errbuf *e)
{
	uint64_t off = r->abs, hlen;
	int rc;

	rc = rd_varint(r, &hlen);
	if (rc == 0)
		return err_set(e, -EINVAL, "car: no header: input ends at offset %" PRIu64, off);
	if (rc == -EAGAIN)
		return err_set(e, -EINVAL, "car: truncated header length at offset %" PRIu64, off);
	if (rc == -EINVAL)
		return err_set(e, -EINVAL, "car: bad header length varint at offset %" PRIu64, off);
	if (rc < 0)
		return rd_error(rc, off, e);
	if (hlen == 0)
		return err_set(e, -EINVAL, "car: zero-length header at offset %" PRIu64, off);
	if (hlen > CAR_MAX_HEADER)
		return err_set(e, -EINVAL,
			       "car: header of %" PRIu64 " bytes exceeds the 1 MiB limit", hlen);
	rc = rd_fill(r, (size_t)hlen);
	if (rc)
		return rd_error(rc, r->abs, e);
	if (rd_avail(r) < hlen)
		return err_set(e, -EINVAL,
			       "car: truncated header at offset %" PRIu64 " (%zu of %" PRIu64
			       " bytes)",
			       off, rd_avail(r), hlen);
	rc = hdr_parse(r->buf.data + r->pos, (size_t)hlen, version, has_roots, r->roots, &r->nroots,
		       e);
	rd_consume(r, (size_t)hlen);
	return rc;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Skip n bytes (n ≤ CAR_V2_MAX_PAD); -EINVAL if the input ends first. */
static int rd_skip(struct car_reader *r, uint64_t n, struct errbuf *e)
{
	size_t a;
	int rc;

	while (n > 0) {
		rc = rd_fill(r, n < CAR_READ_CHUNK ? (size_t)n : CAR_READ_CHUNK);
		if (rc)
			return rd_error(rc, r->abs, e);
		a = rd_avail(r);
		if (a == 0)
			return err_set(e, -EINVAL,
				       "car: truncated CARv2: input ends at offset %" PRIu64
				       " before the data offset",
				       r->abs);
		if (a > n)
			a = (size_t)n;
		rd_consume(r, a);
		n -= a;
	}
	return 0;
}

/* After the pragma: the fixed header, padding, then the inner v1 header. */
static int car_open_v2(struct car_reader *r, struct errbuf *e)
{
	uint64_t hoff = r->abs, doff, dsize;
	const uint8_t *h;
	int64_t version;
	int has_roots, rc;

	rc = rd_fill(r, CAR_V2_HEADER_LEN);
	if (rc)
		return rd_error(rc, r->abs, e);
	if (rd_avail(r) < CAR_V2_HEADER_LEN)
		return err_set(e, -EINVAL, "car: truncated CARv2 header at offset %" PRIu64, hoff);
	h = r->buf.data + r->pos;
	doff = le64(h + 16);
	dsize = le64(h + 24);
	rd_consume(r, CAR_V2_HEADER_LEN);
	if (doff < r->abs)
		return err_set(e, -EINVAL,
			       "car: CARv2 data offset %" PRIu64 " overlaps the header (< %" PRIu64
			       ")",
			       doff, r->abs);
	if (doff - r->abs > CAR_V2_MAX_PAD)
		return err_set(
		    e, -EINVAL,
		    "car: CARv2 data offset %" PRIu64 " leaves more than 1 MiB of padding", doff);
	if (dsize > UINT64_MAX - 1 - doff)
		return err_set(e, -EINVAL, "car: CARv2 data size %" PRIu64 " overflows", dsize);
	rc = rd_skip(r, doff - r->abs, e);
	if (rc)
		return rc;
	r->limit = doff + dsize;
	rc = car_read_header(r, &version, &has_roots, e);
	if (rc)
		return err_prefix(e, rc, "car: CARv2 inner header");
	if (version != 1 || !has_roots)
		return err_set(e, -EINVAL, "car: CARv2 inner header is not a CARv1 header");
	return 0;
}

int car_reader_open(car_read_fn rd, void *ctx, struct car_reader **out, struct errbuf *e)
{
	struct car_reader *r;
	int64_t version = 0;
	int has_roots = 0, rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return err_set(e, -ENOMEM, "car: out of memory");
	r->rd = rd;
	r->ctx = ctx;
	r->limit = CAR_NO_LIMIT;
	dynbuf_init(&r->buf, CAR_BUF_CAP);
	rc = car_read_header(r, &version, &has_roots, e);
	if (!rc && version == 1 && !has_roots)
		rc = err_set(e, -EINVAL, "car: CARv1 header has no roots");
	else if (!rc && version == 2 && has_roots)
		rc = err_set(e, -EINVAL, "car: CARv2 pragma must not have roots");
	else if (!rc && version == 2)
		rc = car_open_v2(r, e);
	else if (!rc && version != 1)
		rc = err_set(e, -EINVAL, "car: unsupported CAR version %" PRId64, version);
	if (rc) {
		car_reader_free(r);
		return rc;
	}
	r->version = (int)version;
	*out = r;
	return 0;
}

void car_reader_free(struct car_reader *r)
{
	if (!r)
		return;
	dynbuf_free(&r->buf);
	free(r);
}

int car_reader_version(const struct car_reader *r)
{
	return r->version;
}

size_t car_reader_nroots(const struct car_reader *r)
{
	return r->nroots;
}

const struct cid *car_reader_root(const struct car_reader *r, size_t i)
{
	return i < r->nroots ? &r->roots[i] : NULL;
}

/* The section's varint length; 0 at a clean end, 1 with *slen set, or -errno. */
static int next_length(struct car_reader *r, uint64_t *slen, struct errbuf *e)
{
	uint64_t off = r->abs;
	int rc;

	if (r->abs == r->limit)
		return 0;
	rc = rd_varint(r, slen);
	if (rc == 0 && r->limit != CAR_NO_LIMIT)
		return err_set(e, -EINVAL,
			       "car: truncated CARv2 data: input ends at offset %" PRIu64
			       " before the data size (end %" PRIu64 ")",
			       off, r->limit);
	if (rc == 0)
		return 0;
	if (rc == -EAGAIN)
		return err_set(e, -EINVAL, "car: truncated section length at offset %" PRIu64, off);
	if (rc == -EINVAL)
		return err_set(e, -EINVAL, "car: bad section length varint at offset %" PRIu64,
			       off);
	if (rc < 0)
		return rd_error(rc, off, e);
	if (*slen == 0)
		return err_set(e, -EINVAL, "car: zero-length section at offset %" PRIu64, off);
	if (*slen > CAR_SECTION_MAX)
		return err_set(e, -EFBIG,
			       "car: section of %" PRIu64 " bytes exceeds the 2 MiB block limit"
			       " (offset %" PRIu64 ")",
			       *slen, off);
	return 1;
}

static int next_section(struct car_reader *r, struct cid *cid, const uint8_t **block, size_t *len,
			uint64_t *offset, struct errbuf *e)
{
	uint64_t off = r->abs, slen;
	const uint8_t *p;
	size_t used;
	int rc;

	rc = next_length(r, &slen, e);
	if (rc <= 0)
		return rc;
	rc = rd_fill(r, (size_t)slen);
	if (rc)
		return rd_error(rc, r->abs, e);
	if (rd_avail(r) < slen)
		return err_set(e, -EINVAL,
			       "car: truncated section at offset %" PRIu64 " (%zu of %" PRIu64
			       " bytes)",
			       off, rd_avail(r), slen);
	p = r->buf.data + r->pos;
	rc = cid_decode(p, (size_t)slen, cid, &used, e);
	if (rc)
		return err_prefix(e, -EINVAL, "car: section at offset %" PRIu64, off);
	if (slen - used > BLOCK_MAX)
		return err_set(e, -EFBIG,
			       "car: block of %" PRIu64 " bytes exceeds the 2 MiB block limit"
			       " (offset %" PRIu64 ")",
			       slen - used, off);
	*block = p + used;
	*len = (size_t)slen - used;
	if (offset)
		*offset = r->abs + used;
	rd_consume(r, (size_t)slen);
	return 1;
}

int car_reader_next(struct car_reader *r, struct cid *cid, const uint8_t **block, size_t *len,
		    uint64_t *offset, struct errbuf *e)
{
	int rc;

	if (r->failed)
		return err_set(e, r->failed, "car: reader stopped after an earlier error");
	rc = next_section(r, cid, block, len, offset, e);
	if (rc < 0)
		r->failed = rc;
	return rc;
}

/* ---- header encoding and writer ---- */

/* Minimal CBOR head for (major, v) into out (if non-NULL); returns its size. */
static size_t cb_put(uint8_t *out, int major, uint64_t v)
{
	size_t n, i;
	uint8_t ai;

	if (v < 24) {
		n = 0;
		ai = (uint8_t)v;
	} else if (v <= 0xff) {
		n = 1;
		ai = 24;
	} else if (v <= 0xffff) {
		n = 2;
		ai = 25;
	} else if (v <= 0xffffffffu) {
		n = 4;
		ai = 26;
	} else {
		n = 8;
		ai = 27;
	}
	if (out) {
		out[0] = (uint8_t)(major << 5 | ai);
		for (i = 0; i < n; i++)
			out[1 + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	}
	return 1 + n;
}

static size_t cb_put_text(uint8_t *out, const char *s)
{
	size_t n = strlen(s), h = cb_put(out, 3, n);

	if (out)
		memcpy(out + h, s, n);
	return h + n;
}

/* The CBOR map {roots, version: 1} into out (if non-NULL); returns its size. */
static size_t hdr_body(const struct cid *roots, size_t nroots, uint8_t *out)
{
	size_t n = 0, i;

	n += cb_put(out ? out + n : NULL, 5, 2);
	n += cb_put_text(out ? out + n : NULL, "roots");
	n += cb_put(out ? out + n : NULL, 4, nroots);
	for (i = 0; i < nroots; i++) {
		n += cb_put(out ? out + n : NULL, 6, 42);
		n += cb_put(out ? out + n : NULL, 2, (uint64_t)roots[i].len + 1);
		if (out) {
			out[n] = 0;
			memcpy(out + n + 1, roots[i].bin, roots[i].len);
		}
		n += 1 + roots[i].len;
	}
	n += cb_put_text(out ? out + n : NULL, "version");
	n += cb_put(out ? out + n : NULL, 0, 1);
	return n;
}

int car_header_encode(const struct cid *roots, size_t nroots, uint8_t *out, size_t cap)
{
	size_t body, total;

	body = hdr_body(roots, nroots, NULL);
	total = varint_size(body) + body;
	if (total > cap || total > INT_MAX)
		return -EOVERFLOW;
	hdr_body(roots, nroots, out + varint_encode(body, out));
	return (int)total;
}

struct car_writer {
	car_write_fn wr;
	void *ctx;
	uint64_t off;
};

int car_writer_new(car_write_fn wr, void *ctx, const struct cid *roots, size_t nroots,
		   struct car_writer **out)
{
	struct car_writer *w;
	size_t body, size;
	uint8_t *hdr;
	int n, rc;

	*out = NULL;
	body = hdr_body(roots, nroots, NULL);
	size = varint_size(body) + body;
	w = calloc(1, sizeof(*w));
	hdr = malloc(size);
	if (!w || !hdr) {
		free(w);
		free(hdr);
		return -ENOMEM;
	}
	n = car_header_encode(roots, nroots, hdr, size);
	rc = n < 0 ? n : wr(ctx, hdr, (size_t)n);
	free(hdr);
	if (rc) {
		free(w);
		return rc;
	}
	w->wr = wr;
	w->ctx = ctx;
	w->off = (uint64_t)n;
	*out = w;
	return 0;
}

int car_writer_put(struct car_writer *w, const struct cid *cid, const void *block, size_t len)
{
	uint8_t head[VARINT_MAX + CID_MAX_BIN];
	size_t n;
	int rc;

	if (len > BLOCK_MAX)
		return -EFBIG;
	if (cid->len == 0 || cid->len > CID_MAX_BIN)
		return -EINVAL;
	n = varint_encode((uint64_t)cid->len + len, head);
	memcpy(head + n, cid->bin, cid->len);
	n += cid->len;
	rc = w->wr(w->ctx, head, n);
	if (rc)
		return rc;
	w->off += n;
	if (len) {
		rc = w->wr(w->ctx, block, len);
		if (rc)
			return rc;
		w->off += len;
	}
	return 0;
}

uint64_t car_writer_offset(const struct car_writer *w)
{
	return w->off;
}

void car_writer_free(struct car_writer *w)
{
	free(w);
}
