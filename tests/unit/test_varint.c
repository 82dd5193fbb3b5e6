/* test_varint: multiformats and protobuf varints, vectors and malformed input. */
/* deps: varint */
#include <errno.h>
#include <stdint.h>

#include "check.h"
#include "varint.h"

struct vec {
	uint64_t v;
	size_t n;
	uint8_t b[VARINT_MAX];
};

static const struct vec VECS[] = {
    {0, 1, {0x00}},
    {1, 1, {0x01}},
    {127, 1, {0x7f}},
    {128, 2, {0x80, 0x01}},
    {255, 2, {0xff, 0x01}},
    {300, 2, {0xac, 0x02}},
    {16384, 3, {0x80, 0x80, 0x01}},
    {0x55, 1, {0x55}},
    {0x70, 1, {0x70}},
    {0xb220, 3, {0xa0, 0xe4, 0x02}},
    {INT64_MAX, 9, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
};

static void test_vectors(void)
{
	size_t i;

	for (i = 0; i < sizeof(VECS) / sizeof(VECS[0]); i++) {
		const struct vec *t = &VECS[i];
		uint8_t buf[VARINT_MAX + 1];
		uint64_t v = 0;

		CHECK_EQ_INT(varint_encode(t->v, buf), t->n);
		CHECK(memcmp(buf, t->b, t->n) == 0, "encode %llu", (unsigned long long)t->v);
		CHECK_EQ_INT(varint_size(t->v), t->n);
		CHECK_EQ_INT(varint_decode(t->b, t->n, &v), t->n);
		CHECK(v == t->v, "decode %llu got %llu", (unsigned long long)t->v,
		      (unsigned long long)v);
		v = 0;
		CHECK_EQ_INT(varint_decode_pb(t->b, t->n, &v), t->n);
		CHECK(v == t->v, "pb decode %llu", (unsigned long long)t->v);
		/* bytes after the varint are not consumed */
		memcpy(buf, t->b, t->n);
		buf[t->n] = 0xff;
		CHECK_EQ_INT(varint_decode(buf, t->n + 1, &v), t->n);
	}
}

static void test_u64_max(void)
{
	const uint8_t max[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	const uint8_t over[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
	const uint8_t b63[10] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
	uint8_t buf[VARINT_MAX];
	uint64_t v = 0;

	CHECK_EQ_INT(varint_encode(UINT64_MAX, buf), 10);
	CHECK(memcmp(buf, max, 10) == 0, "encode UINT64_MAX");
	CHECK_EQ_INT(varint_size(UINT64_MAX), 10);
	CHECK_EQ_INT(varint_decode_pb(max, 10, &v), 10);
	CHECK(v == UINT64_MAX, "pb UINT64_MAX");
	CHECK_EQ_INT(varint_decode_pb(b63, 10, &v), 10);
	CHECK(v == (1ull << 63), "pb 2^63");
	/* multiformats varints stop at 9 bytes (63 bits) */
	CHECK_EQ_INT(varint_decode(max, 10, &v), -EINVAL);
	CHECK_EQ_INT(varint_decode(b63, 10, &v), -EINVAL);
	CHECK_EQ_INT(varint_decode(max, 9, &v), -EINVAL);
	/* 10th byte over 1 overflows uint64 */
	CHECK_EQ_INT(varint_decode_pb(over, 10, &v), -EINVAL);
}

static void test_malformed(void)
{
	const uint8_t c80[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80};
	const uint8_t nm1[] = {0x80, 0x00};
	const uint8_t nm2[] = {0xff, 0x00};
	const uint8_t nm3[] = {0x81, 0x80, 0x00};
	const uint8_t pb11[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x00};
	uint64_t v = 42;

	CHECK_EQ_INT(varint_decode(c80, 0, &v), -EAGAIN);
	CHECK_EQ_INT(varint_decode(c80, 1, &v), -EAGAIN);
	CHECK_EQ_INT(varint_decode(c80, 8, &v), -EAGAIN);
	CHECK_EQ_INT(varint_decode(c80, 9, &v), -EINVAL);
	CHECK_EQ_INT(varint_decode_pb(c80, 0, &v), -EAGAIN);
	CHECK_EQ_INT(varint_decode_pb(c80, 9, &v), -EAGAIN);
	CHECK_EQ_INT(varint_decode_pb(c80, 11, &v), -EINVAL);
	CHECK_EQ_INT(varint_decode(nm1, 2, &v), -EINVAL);
	CHECK_EQ_INT(varint_decode_pb(nm1, 2, &v), -EINVAL);
	CHECK_EQ_INT(varint_decode(nm2, 2, &v), -EINVAL);
	CHECK_EQ_INT(varint_decode(nm3, 3, &v), -EINVAL);
	CHECK_EQ_INT(varint_decode_pb(nm3, 3, &v), -EINVAL);
	CHECK_EQ_INT(varint_decode_pb(pb11, 11, &v), -EINVAL);
	CHECK(v == 42, "out untouched on error, got %llu", (unsigned long long)v);
}

/* Every value around each power of two survives encode → decode. */
static void test_roundtrip(void)
{
	int bit, d, bad = 0;

	for (bit = 0; bit < 64; bit++) {
		for (d = -1; d <= 1; d++) {
			uint64_t x = (1ull << bit) + (uint64_t)(int64_t)d, y = 0;
			uint8_t buf[VARINT_MAX];
			size_t n = varint_encode(x, buf);
			int r = varint_decode_pb(buf, n, &y);

			if (r != (int)n || y != x || varint_size(x) != n)
				bad++;
			r = varint_decode(buf, n, &y);
			if (x >> 63 ? r != -EINVAL : (r != (int)n || y != x))
				bad++;
		}
	}
	CHECK_EQ_INT(bad, 0);
}

int main(void)
{
	test_vectors();
	test_u64_max();
	test_malformed();
	test_roundtrip();
	return check_done("test_varint");
}
