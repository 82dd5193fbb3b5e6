/* test_car: CAR header encoding, writer, v1/v2 reader, malformed inputs. */
/* deps: car cid multibase multihash varint dynbuf errbuf */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "car.h"
#include "check.h"
#include "dynbuf.h"
#include "multihash.h"
#include "varint.h"

static const uint8_t hello_cid[36] = {
    0x01, 0x55, 0x12, 0x20, 0xa9, 0x48, 0x90, 0x4f, 0x2f, 0x0f, 0x47, 0x9b,
    0x8f, 0x81, 0x97, 0x69, 0x4b, 0x30, 0x18, 0x4b, 0x0d, 0x2e, 0xd1, 0xc1,
    0xcd, 0x2a, 0x1e, 0xc0, 0xfb, 0x85, 0xd2, 0x99, 0xa1, 0x92, 0xa4, 0x47,
};

/* The 108-byte CARv1 of "hello world\n" (ipfs-formats.md), built here from its parts. */
static uint8_t hello_car[108];

static void build_hello_car(void)
{
	uint8_t *p = hello_car;

	*p++ = 0x3a;
	*p++ = 0xa2;
	*p++ = 0x65;
	memcpy(p, "roots", 5), p += 5;
	*p++ = 0x81;
	*p++ = 0xd8;
	*p++ = 0x2a;
	*p++ = 0x58;
	*p++ = 0x25;
	*p++ = 0x00;
	memcpy(p, hello_cid, 36), p += 36;
	*p++ = 0x67;
	memcpy(p, "version", 7), p += 7;
	*p++ = 0x01;
	*p++ = 0x30;
	memcpy(p, hello_cid, 36), p += 36;
	memcpy(p, "hello world\n", 12), p += 12;
	CHECK_EQ_INT(p - hello_car, 108);
}

/* Memory input handed out `chunk` bytes at a time (0: all asked), or failing at `fail_at`. */
struct mem {
	const uint8_t *p;
	size_t len, pos, chunk, fail_at;
	int fail, overread;
};

static ssize_t mem_read(void *ctx, void *buf, size_t n)
{
	struct mem *m = ctx;

	if (m->fail && m->pos >= m->fail_at)
		return -EIO;
	if (m->overread)
		return (ssize_t)n + 1;
	if (m->chunk && n > m->chunk)
		n = m->chunk;
	if (n > m->len - m->pos)
		n = m->len - m->pos;
	if (n)
		memcpy(buf, m->p + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static int mem_write(void *ctx, const void *buf, size_t n)
{
	return dynbuf_append(ctx, buf, n);
}

static int fail_write(void *ctx, const void *buf, size_t n)
{
	(void)ctx, (void)buf, (void)n;
	return -ENOSPC;
}

static struct cid hello(void)
{
	struct cid c;
	size_t used;

	CHECK_EQ_INT(cid_decode(hello_cid, 36, &c, &used, NULL), 0);
	return c;
}

/* Open buf; returns the reader or NULL with the code in *rc. */
static struct car_reader *open_mem(struct mem *m, const uint8_t *p, size_t len, size_t chunk,
				   int *rc, struct errbuf *e)
{
	struct car_reader *r = NULL;

	memset(m, 0, sizeof(*m));
	m->p = p;
	m->len = len;
	m->chunk = chunk;
	e->msg[0] = 0;
	*rc = car_reader_open(mem_read, m, &r, e);
	return r;
}

/* Expect car_reader_open to fail with code and a message containing want. */
static void open_fails(const uint8_t *p, size_t len, int code, const char *want)
{
	struct errbuf e;
	struct mem m;
	int rc;
	struct car_reader *r = open_mem(&m, p, len, 0, &rc, &e);

	CHECK(rc == code && !r, "open: rc %d, want %d (%s)", rc, code, e.msg);
	CHECK(strstr(e.msg, want), "open: message \"%s\" lacks \"%s\"", e.msg, want);
	car_reader_free(r);
}

/* Expect the header to open, `skip` sections to be read, then the next to fail. */
static void nth_fails(const uint8_t *p, size_t len, int skip, int code, const char *want)
{
	const uint8_t *blk;
	struct errbuf e;
	struct cid c;
	struct mem m;
	size_t blen;
	int rc;
	struct car_reader *r = open_mem(&m, p, len, 0, &rc, &e);

	CHECK(rc == 0, "next_fails: open failed: %s", e.msg);
	if (!r)
		return;
	while (skip-- > 0)
		CHECK_EQ_INT(car_reader_next(r, &c, &blk, &blen, NULL, &e), 1);
	rc = car_reader_next(r, &c, &blk, &blen, NULL, &e);
	CHECK(rc == code, "next: rc %d, want %d (%s)", rc, code, e.msg);
	CHECK(strstr(e.msg, want), "next: message \"%s\" lacks \"%s\"", e.msg, want);
	rc = car_reader_next(r, &c, &blk, &blen, NULL, &e);
	CHECK(rc == code, "next after error: rc %d, want %d", rc, code);
	car_reader_free(r);
}

static void next_fails(const uint8_t *p, size_t len, int code, const char *want)
{
	nth_fails(p, len, 0, code, want);
}

static void test_hello_vector(void)
{
	struct cid root = hello(), c;
	struct dynbuf out;
	struct car_writer *w = NULL;
	struct car_reader *r;
	const uint8_t *blk;
	uint8_t hdr[128];
	struct errbuf e;
	struct mem m;
	uint64_t off;
	size_t blen, chunk;
	int rc;

	CHECK_EQ_INT(car_header_encode(&root, 1, hdr, sizeof(hdr)), 59);
	CHECK(!memcmp(hdr, hello_car, 59), "header bytes differ from the vector");
	CHECK_EQ_INT(car_header_encode(&root, 1, hdr, 58), -EOVERFLOW);
	CHECK_EQ_INT(car_header_encode(&root, 1, NULL, 0), -EOVERFLOW);

	dynbuf_init(&out, 1 << 20);
	CHECK_EQ_INT(car_writer_new(mem_write, &out, &root, 1, &w), 0);
	CHECK_EQ_INT(car_writer_offset(w), 59);
	CHECK_EQ_INT(car_writer_put(w, &root, "hello world\n", 12), 0);
	CHECK_EQ_INT(car_writer_offset(w), 108);
	CHECK(out.len == 108 && !memcmp(out.data, hello_car, 108), "writer output differs");
	car_writer_free(w);
	dynbuf_free(&out);

	for (chunk = 0; chunk < 4; chunk++) { /* whole, then 1, 2, 3 bytes per read */
		r = open_mem(&m, hello_car, 108, chunk, &rc, &e);
		CHECK(rc == 0 && r, "open hello (chunk %zu): %s", chunk, e.msg);
		if (!r)
			continue;
		CHECK_EQ_INT(car_reader_version(r), 1);
		CHECK_EQ_INT(car_reader_nroots(r), 1);
		CHECK(cid_equal(car_reader_root(r, 0), &root), "root differs");
		CHECK(car_reader_root(r, 1) == NULL, "root 1 should be NULL");
		rc = car_reader_next(r, &c, &blk, &blen, &off, &e);
		CHECK_EQ_INT(rc, 1);
		if (rc == 1) {
			CHECK(cid_equal(&c, &root), "section CID differs");
			CHECK(blen == 12 && !memcmp(blk, "hello world\n", 12), "block differs");
			CHECK_EQ_INT(off, 96);
			CHECK_EQ_INT(mh_verify(&c, blk, blen, NULL), 0);
		}
		CHECK_EQ_INT(car_reader_next(r, &c, &blk, &blen, &off, &e), 0);
		CHECK_EQ_INT(car_reader_next(r, &c, &blk, &blen, &off, &e), 0);
		car_reader_free(r);
	}
}

static void test_roots(void)
{
	static const uint8_t empty_roots[] = {0x11, 0xa2, 0x65, 'r', 'o', 'o', 't', 's', 0x80,
					      0x67, 'v',  'e',	'r', 's', 'i', 'o', 'n', 0x01};
	static const uint8_t ident_root[] = {0xd8, 0x2a, 0x45, 0x00, 0x01, 0x55, 0x00, 0x00};
	struct cid roots[CAR_MAX_ROOTS + 1];
	uint8_t hdr[16384];
	struct car_reader *r;
	struct errbuf e;
	struct mem m;
	int n, rc, i;

	CHECK_EQ_INT(car_header_encode(NULL, 0, hdr, sizeof(hdr)), (int)sizeof(empty_roots));
	CHECK(!memcmp(hdr, empty_roots, sizeof(empty_roots)), "empty roots header differs");
	r = open_mem(&m, empty_roots, sizeof(empty_roots), 0, &rc, &e);
	CHECK(rc == 0 && r && car_reader_nroots(r) == 0, "empty roots: %s", e.msg);
	car_reader_free(r);

	roots[0] = hello();
	CHECK_EQ_INT(cid_parse("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o", 46, &roots[1], &e),
		     0);
	CHECK_EQ_INT(cid_parse("bafkqaaa", 8, &roots[2], &e), 0);
	n = car_header_encode(roots, 3, hdr, sizeof(hdr));
	CHECK_EQ_INT(n, 1 + 1 + 6 + 1 + (2 + 2 + 1 + 36) + (2 + 2 + 1 + 34) + 8 + 8 + 1);
	CHECK(n > 0 && !memcmp(hdr + n - 1 - 8 - 8, ident_root, 8),
	      "identity root encoding differs");
	r = open_mem(&m, hdr, (size_t)n, 1, &rc, &e);
	CHECK(rc == 0 && r, "3 roots: %s", e.msg);
	if (r) {
		CHECK_EQ_INT(car_reader_nroots(r), 3);
		for (i = 0; i < 3; i++)
			CHECK(cid_equal(car_reader_root(r, (size_t)i), &roots[i]), "root %d", i);
		CHECK_EQ_INT(
		    car_reader_next(r, &roots[3], &(const uint8_t *){0}, &(size_t){0}, NULL, &e),
		    0);
		car_reader_free(r);
	}

	for (i = 0; i <= CAR_MAX_ROOTS; i++)
		roots[i] = roots[i % 3];
	n = car_header_encode(roots, CAR_MAX_ROOTS, hdr, sizeof(hdr));
	CHECK(n > 200 && hdr[0] & 0x80, "64-root header should have a 2-byte length (%d)", n);
	r = open_mem(&m, hdr, (size_t)n, 7, &rc, &e);
	CHECK(rc == 0 && r && car_reader_nroots(r) == CAR_MAX_ROOTS, "64 roots: %s", e.msg);
	if (r)
		CHECK(cid_equal(car_reader_root(r, 63), &roots[0]), "root 63 differs");
	car_reader_free(r);
	n = car_header_encode(roots, CAR_MAX_ROOTS + 1, hdr, sizeof(hdr));
	open_fails(hdr, (size_t)n, -EINVAL, "65 roots exceed the limit of 64");
}

/* A header (hello root) followed by `extra`: the file under test. */
static size_t with_header(uint8_t *out, const uint8_t *extra, size_t n)
{
	memcpy(out, hello_car, 59);
	memcpy(out + 59, extra, n);
	return 59 + n;
}

/* Replace the header map in a varint(len)+map with `map`. */
static size_t raw_header(uint8_t *out, const uint8_t *map, size_t n)
{
	size_t v = varint_encode(n, out);

	memcpy(out + v, map, n);
	return v + n;
}

#define HDR_FAILS(bytes, code, want)                                                               \
	do {                                                                                       \
		static const uint8_t map_[] = bytes;                                               \
		uint8_t buf_[256];                                                                 \
		open_fails(buf_, raw_header(buf_, map_, sizeof(map_)), code, want);                \
	} while (0)
#define B(...)                                                                                     \
	{                                                                                          \
		__VA_ARGS__                                                                        \
	}
#define ROOTS_K 0x65, 'r', 'o', 'o', 't', 's'
#define VERS_K	0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n'

static void test_bad_headers(void)
{
	uint8_t buf[4096];
	size_t n;

	open_fails(NULL, 0, -EINVAL, "no header");
	open_fails((const uint8_t *)"\x80", 1, -EINVAL, "truncated header length");
	open_fails((const uint8_t *)"\x80\x00", 2, -EINVAL, "bad header length varint");
	open_fails((const uint8_t *)"\x00", 1, -EINVAL, "zero-length header");
	open_fails(hello_car, 40, -EINVAL, "truncated header at offset 0 (39 of 58 bytes)");
	n = varint_encode(CAR_MAX_HEADER + 1, buf);
	open_fails(buf, n, -EINVAL, "header of 1048577 bytes exceeds the 1 MiB limit");
	HDR_FAILS(B(0x80), -EINVAL, "expected a map, got CBOR array");
	HDR_FAILS(B(0xbf, VERS_K, 0x01, 0xff), -EINVAL, "indefinite-length CBOR map");
	HDR_FAILS(B(0xa2, ROOTS_K, 0x9f, 0xff, VERS_K, 0x01), -EINVAL,
		  "indefinite-length CBOR array");
	HDR_FAILS(B(0xb8, 0x01, VERS_K, 0x01), -EINVAL, "non-minimal CBOR encoding of 1");
	HDR_FAILS(B(0xa1, VERS_K, 0x18, 0x01), -EINVAL, "non-minimal");
	HDR_FAILS(B(0xa1, VERS_K, 0x19, 0x00, 0x01), -EINVAL, "non-minimal");
	HDR_FAILS(B(0xa1, VERS_K, 0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0), -EINVAL,
		  "unexpected CBOR float");
	HDR_FAILS(B(0xa1, VERS_K, 0x1c), -EINVAL, "reserved CBOR byte 0x1c");
	HDR_FAILS(B(0xa1, VERS_K, 0x61, '1'), -EINVAL, "version is a CBOR text string");
	HDR_FAILS(B(0xa2, ROOTS_K, 0x80, VERS_K, 0x20), -EINVAL, "unsupported CAR version -1");
	HDR_FAILS(B(0xa2, ROOTS_K, 0x80, VERS_K, 0x03), -EINVAL, "unsupported CAR version 3");
	HDR_FAILS(B(0xa1, VERS_K, 0x01), -EINVAL, "CARv1 header has no roots");
	HDR_FAILS(B(0xa1, ROOTS_K, 0x80), -EINVAL, "header has no version");
	HDR_FAILS(B(0xa2, VERS_K, 0x01, VERS_K, 0x01), -EINVAL, "duplicate key \"version\"");
	HDR_FAILS(B(0xa3, ROOTS_K, 0x80, VERS_K, 0x01, ROOTS_K, 0x80), -EINVAL,
		  "duplicate key \"roots\"");
	HDR_FAILS(B(0xa2, 0x63, 'f', 'o', 'o', 0x01, VERS_K, 0x01), -EINVAL, "unknown key \"foo\"");
	HDR_FAILS(B(0xa1, 0x62, 0x01, 0x02, 0x01), -EINVAL, "unknown key of 2 bytes");
	HDR_FAILS(B(0xa1, 0x01, 0x01), -EINVAL, "expected a text key, got CBOR unsigned integer");
	HDR_FAILS(B(0xa2, ROOTS_K, 0x01, VERS_K, 0x01), -EINVAL, "expected an array of roots");
	HDR_FAILS(B(0xa2, ROOTS_K, 0x81, 0x44, 0x00, 0x01, 0x55, 0x00, VERS_K, 0x01), -EINVAL,
		  "expected a CID (tag 42), got CBOR byte string");
	HDR_FAILS(
	    B(0xa2, ROOTS_K, 0x81, 0xd8, 0x2b, 0x45, 0x00, 0x01, 0x55, 0x00, 0x00, VERS_K, 0x01),
	    -EINVAL, "root 0 has tag 43, not 42");
	HDR_FAILS(B(0xa2, ROOTS_K, 0x81, 0xd8, 0x2a, 0x64, 0x00, 0x01, 0x55, 0x00, VERS_K, 0x01),
		  -EINVAL, "expected CID bytes, got CBOR text string");
	HDR_FAILS(B(0xa2, ROOTS_K, 0x81, 0xd8, 0x2a, 0x44, 0x01, 0x55, 0x00, 0x00, VERS_K, 0x01),
		  -EINVAL, "root 0 lacks the 0x00 CID prefix");
	HDR_FAILS(B(0xa2, ROOTS_K, 0x81, 0xd8, 0x2a, 0x40, VERS_K, 0x01), -EINVAL,
		  "root 0 lacks the 0x00 CID prefix");
	HDR_FAILS(B(0xa2, ROOTS_K, 0x81, 0xd8, 0x2a, 0x44, 0x00, 0x02, 0x55, 0x00, VERS_K, 0x01),
		  -EINVAL, "car: header: root 0: ");
	HDR_FAILS(B(0xa2, ROOTS_K, 0x81, 0xd8, 0x2a, 0x46, 0x00, 0x01, 0x55, 0x00, 0x00, 0x07,
		    VERS_K, 0x01),
		  -EINVAL, "root 0 has 1 bytes after the CID");
	HDR_FAILS(B(0xa2, ROOTS_K, 0x81, 0xd8, 0x2a, 0x58, 0x30, 0x00), -EINVAL, "CBOR ends early");
	HDR_FAILS(B(0xa2, ROOTS_K, 0x80, VERS_K, 0x01, 0x00), -EINVAL,
		  "1 trailing bytes after the CBOR map");
	HDR_FAILS(B(0xa2, ROOTS_K, 0x80, VERS_K), -EINVAL, "CBOR ends early");
	HDR_FAILS(B(0xa1, 0x7a, 0xff, 0xff, 0xff, 0xff), -EINVAL, "CBOR ends early");
	/* CARv2-looking pragmas that are wrong */
	HDR_FAILS(B(0xa1, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'N', 0x02), -EINVAL,
		  "unknown key \"versioN\"");
	HDR_FAILS(B(0xa2, ROOTS_K, 0x80, VERS_K, 0x02), -EINVAL,
		  "CARv2 pragma must not have roots");
	HDR_FAILS(B(0xa1, VERS_K, 0x02), -EINVAL, "truncated CARv2 header at offset 11");
}

static void test_bad_sections(void)
{
	uint8_t *big, buf[512];
	size_t n;

	n = with_header(buf, hello_car + 59, 41);
	next_fails(buf, n, -EINVAL, "truncated section at offset 59 (40 of 48 bytes)");
	next_fails(buf, 60, -EINVAL, "truncated section at offset 59 (0 of 48 bytes)");
	n = with_header(buf, (const uint8_t *)"\x80", 1);
	next_fails(buf, n, -EINVAL, "truncated section length at offset 59");
	n = with_header(buf, (const uint8_t *)"\xff\xff", 2);
	next_fails(buf, n, -EINVAL, "truncated section length at offset 59");
	n = with_header(buf, (const uint8_t *)"\x80\x00", 2);
	next_fails(buf, n, -EINVAL, "bad section length varint at offset 59");
	n = with_header(buf, (const uint8_t *)"\x00", 1);
	next_fails(buf, n, -EINVAL, "zero-length section at offset 59");
	n = with_header(buf, (const uint8_t *)"\x05\x02\x55\x12\x20\x00", 6);
	next_fails(buf, n, -EINVAL, "car: section at offset 59: ");
	n = with_header(buf, (const uint8_t *)"\x05\x01\x55\x12\x20\x00", 6);
	next_fails(buf, n, -EINVAL, "car: section at offset 59: ");
	n = 59 + varint_encode(BLOCK_MAX + CID_MAX_BIN + 1, buf + 59);
	memcpy(buf, hello_car, 59);
	next_fails(buf, n, -EFBIG, "section of 2097321 bytes exceeds the 2 MiB block limit");
	n = 59 + varint_encode(BLOCK_MAX + CID_MAX_BIN, buf + 59);
	next_fails(buf, n, -EINVAL, "truncated section at offset 59 (0 of 2097320 bytes)");
	n = 59 + varint_encode(UINT64_MAX >> 1, buf + 59);
	next_fails(buf, n, -EFBIG, "exceeds the 2 MiB block limit");

	/* a well-formed section whose block is one byte over BLOCK_MAX */
	big = calloc(1, 59 + 4 + 36 + BLOCK_MAX + 1);
	if (!big)
		return;
	memcpy(big, hello_car, 59);
	n = 59 + varint_encode(36 + BLOCK_MAX + 1, big + 59);
	memcpy(big + n, hello_cid, 36);
	next_fails(big, n + 36 + BLOCK_MAX + 1, -EFBIG,
		   "block of 2097153 bytes exceeds the 2 MiB block limit");
	free(big);
}

static void test_read_errors(void)
{
	struct car_reader *r = NULL;
	const uint8_t *blk;
	struct errbuf e;
	struct cid c;
	struct mem m;
	size_t blen;
	uint8_t buf[256];
	size_t n = with_header(buf, hello_car + 59, 49);
	int rc;

	memcpy(buf + n, hello_car + 59, 49);
	n += 49;
	memset(&m, 0, sizeof(m));
	m.p = buf, m.len = n, m.fail = 1;
	rc = car_reader_open(mem_read, &m, &r, &e);
	CHECK(rc == -EIO && !r, "read error in header: %d", rc);
	CHECK(strstr(e.msg, "read failed at offset 0"), "message: %s", e.msg);

	memset(&m, 0, sizeof(m));
	m.p = buf, m.len = n, m.chunk = 20, m.fail = 1, m.fail_at = 120;
	rc = car_reader_open(mem_read, &m, &r, &e);
	CHECK(rc == 0 && r, "open: %s", e.msg);
	if (r) {
		CHECK_EQ_INT(car_reader_next(r, &c, &blk, &blen, NULL, &e), 1);
		rc = car_reader_next(r, &c, &blk, &blen, NULL, &e);
		CHECK(rc == -EIO && strstr(e.msg, "read failed"), "rc %d: %s", rc, e.msg);
		rc = car_reader_next(r, &c, &blk, &blen, NULL, &e);
		CHECK(rc == -EIO && strstr(e.msg, "earlier error"), "sticky: rc %d: %s", rc, e.msg);
		car_reader_free(r);
	}

	memset(&m, 0, sizeof(m));
	m.p = buf, m.len = n, m.overread = 1;
	rc = car_reader_open(mem_read, &m, &r, &e);
	CHECK(rc == -EIO && !r, "callback over-read: %d", rc);
	car_reader_free(NULL);
	car_writer_free(NULL);
}

/* Wrap v1 bytes in a CARv2: pragma, header, `pad` zero bytes, v1, then `tail` junk. */
static size_t make_v2(uint8_t *out, const uint8_t *v1, size_t v1len, uint64_t dsize, size_t pad,
		      size_t tail)
{
	static const uint8_t pragma[11] = {0x0a, 0xa1, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 2};
	uint64_t doff = 51 + pad, ioff = doff + v1len;
	size_t i;

	memcpy(out, pragma, 11);
	memset(out + 11, 0, 40 + pad);
	out[11] = 0x80; /* characteristics: fully indexed (ignored) */
	for (i = 0; i < 8; i++) {
		out[27 + i] = (uint8_t)(doff >> (8 * i));
		out[35 + i] = (uint8_t)(dsize >> (8 * i));
		out[43 + i] = (uint8_t)(ioff >> (8 * i));
	}
	memcpy(out + doff, v1, v1len);
	memset(out + doff + v1len, 0xee, tail);
	return (size_t)doff + v1len + tail;
}

static void test_v2(void)
{
	static const uint8_t pragma2[] = {0xa1, VERS_K, 0x02};
	struct cid root = hello(), c;
	struct car_reader *r;
	const uint8_t *blk;
	uint8_t buf[1024], inner[32];
	struct errbuf e;
	struct mem m;
	uint64_t off;
	size_t n, blen, chunk;
	int rc;

	n = make_v2(buf, hello_car, 108, 108, 5, 30);
	for (chunk = 0; chunk < 3; chunk++) {
		r = open_mem(&m, buf, n, chunk * 7, &rc, &e);
		CHECK(rc == 0 && r, "v2 open: %s", e.msg);
		if (!r)
			continue;
		CHECK_EQ_INT(car_reader_version(r), 2);
		CHECK(car_reader_nroots(r) == 1 && cid_equal(car_reader_root(r, 0), &root),
		      "v2 root");
		rc = car_reader_next(r, &c, &blk, &blen, &off, &e);
		CHECK(rc == 1 && blen == 12 && !memcmp(blk, "hello world\n", 12), "v2 block");
		CHECK_EQ_INT(off, 51 + 5 + 96);
		CHECK_EQ_INT(car_reader_next(r, &c, &blk, &blen, &off, &e), 0);
		car_reader_free(r);
	}
	n = make_v2(buf, hello_car, 108, 59, 0, 0); /* data size: header only */
	r = open_mem(&m, buf, n, 0, &rc, &e);
	CHECK(rc == 0 && r && car_reader_next(r, &c, &blk, &blen, &off, &e) == 0, "v2 no blocks");
	car_reader_free(r);

	n = make_v2(buf, hello_car, 108, 100, 0, 0);
	next_fails(buf, n, -EINVAL, "truncated section at offset 110 (40 of 48 bytes)");
	n = make_v2(buf, hello_car, 108, 60, 0, 0);
	next_fails(buf, n, -EINVAL, "truncated section at offset 110 (0 of 48 bytes)");
	n = make_v2(buf, hello_car, 108, 200, 0, 0);
	nth_fails(buf, n, 1, -EINVAL, "truncated CARv2 data: input ends at offset 159");
	n = make_v2(buf, hello_car, 107, 107, 0, 0);
	nth_fails(buf, n, 0, -EINVAL, "truncated section at offset 110 (47 of 48 bytes)");
	n = make_v2(buf, hello_car, 108, 30, 0, 0);
	open_fails(buf, n, -EINVAL, "CARv2 inner header: car: truncated header at offset 51");
	n = make_v2(buf, hello_car, 108, 108, 0, 0);
	buf[27] = 50;
	open_fails(buf, n, -EINVAL, "CARv2 data offset 50 overlaps the header");
	n = make_v2(buf, hello_car, 108, 108, 0, 0);
	buf[27] = 200;
	open_fails(buf, n, -EINVAL, "input ends at offset 159 before the data offset");
	buf[29] = 0x20; /* data offset 2 MiB + 200 */
	open_fails(buf, n, -EINVAL, "leaves more than 1 MiB of padding");
	n = make_v2(buf, hello_car, 108, UINT64_MAX - 10, 0, 0);
	open_fails(buf, n, -EINVAL, "overflows");
	open_fails(buf, 40, -EINVAL, "truncated CARv2 header at offset 11");
	n = raw_header(inner, pragma2, sizeof(pragma2));
	n = make_v2(buf, inner, n, n, 0, 0);
	open_fails(buf, n, -EINVAL, "CARv2 inner header is not a CARv1 header");
}

static void put_random_blocks(struct car_writer *w, uint8_t *data, size_t *lens, struct cid *cids,
			      size_t count)
{
	size_t i, j, off = 0;
	uint32_t x = 12345;

	for (i = 0; i < count; i++) {
		lens[i] = i == count - 1 ? BLOCK_MAX : (i * 7919 * 131) % 300000;
		if (i == 3)
			lens[i] = 0;
		for (j = 0; j < lens[i]; j++) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			data[off + j] = (uint8_t)x;
		}
		CHECK_EQ_INT(cid_for_block(1, CID_CODEC_RAW, data + off, lens[i], &cids[i]), 0);
		CHECK_EQ_INT(car_writer_put(w, &cids[i], data + off, lens[i]), 0);
		off += lens[i];
	}
}

/* Many blocks, one of BLOCK_MAX, read back with awkward chunk sizes. */
static void test_roundtrip(void)
{
	enum { COUNT = 24 };
	struct cid cids[COUNT], root = hello(), c;
	size_t lens[COUNT], i, chunk, blen, off;
	struct car_writer *w = NULL;
	struct car_reader *r;
	const uint8_t *blk;
	struct dynbuf out;
	uint8_t *data = malloc((size_t)COUNT * 300000 + BLOCK_MAX);
	static const size_t chunks[] = {0, 1000, 65535, 65537, 1 << 20};
	struct errbuf e;
	struct mem m;
	uint64_t boff;
	int rc;

	if (!data)
		return;
	dynbuf_init(&out, 64u << 20);
	CHECK_EQ_INT(car_writer_new(mem_write, &out, &root, 1, &w), 0);
	put_random_blocks(w, data, lens, cids, COUNT);
	CHECK_EQ_INT(car_writer_offset(w), out.len);
	CHECK_EQ_INT(car_writer_put(w, &root, data, BLOCK_MAX + 1), -EFBIG);
	car_writer_free(w);
	for (chunk = 0; chunk < sizeof(chunks) / sizeof(chunks[0]); chunk++) {
		r = open_mem(&m, out.data, out.len, chunks[chunk], &rc, &e);
		CHECK(rc == 0 && r, "roundtrip open: %s", e.msg);
		for (i = 0, off = 0; r && i < COUNT; off += lens[i], i++) {
			rc = car_reader_next(r, &c, &blk, &blen, &boff, &e);
			CHECK(rc == 1, "block %zu: rc %d %s", i, rc, e.msg);
			if (rc != 1)
				break;
			CHECK(cid_equal(&c, &cids[i]) && blen == lens[i], "block %zu differs", i);
			CHECK(!memcmp(blk, data + off, blen), "block %zu bytes differ", i);
			CHECK(boff + blen <= out.len && !memcmp(out.data + boff, blk, blen),
			      "block %zu offset %llu wrong", i, (unsigned long long)boff);
			CHECK_EQ_INT(mh_verify(&c, blk, blen, NULL), 0);
		}
		if (r)
			CHECK_EQ_INT(car_reader_next(r, &c, &blk, &blen, &boff, &e), 0);
		car_reader_free(r);
	}
	dynbuf_free(&out);
	free(data);
}

static void test_writer_errors(void)
{
	struct car_writer *w = (struct car_writer *)1;
	struct cid root = hello(), empty;
	struct dynbuf out;

	CHECK_EQ_INT(car_writer_new(fail_write, NULL, &root, 1, &w), -ENOSPC);
	CHECK(w == NULL, "writer should be NULL after failure");
	dynbuf_init(&out, 70);
	CHECK_EQ_INT(car_writer_new(mem_write, &out, &root, 1, &w), 0);
	CHECK_EQ_INT(car_writer_put(w, &root, "hello world\n", 12), -EFBIG); /* cap 70 */
	CHECK_EQ_INT(car_writer_offset(w), 59);
	memset(&empty, 0, sizeof(empty));
	CHECK_EQ_INT(car_writer_put(w, &empty, "", 0), -EINVAL);
	car_writer_free(w);
	dynbuf_free(&out);
}

int main(void)
{
	build_hello_car();
	test_hello_vector();
	test_roots();
	test_bad_headers();
	test_bad_sections();
	test_read_errors();
	test_v2();
	test_roundtrip();
	test_writer_errors();
	return check_done("test_car");
}
