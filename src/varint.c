/* varint: unsigned LEB128 (multiformats and protobuf flavours), minimal encodings only. */
#include "varint.h"

#include <errno.h>

#define VARINT_MF_MAX 9 /* multiformats: 63 bits */

/* Read at most maxb bytes. The 10th byte of a protobuf varint carries only bit 63. */
static int varint_read(const uint8_t *buf, size_t len, size_t maxb, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < maxb; i++) {
		uint8_t b;

		if (i >= len)
			return -EAGAIN;
		b = buf[i];
		if (i == 9 && b > 1)
			return -EINVAL; /* past 64 bits, or an 11th byte follows */
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (b == 0 && i > 0)
				return -EINVAL; /* non-minimal: trailing zero group */
			*out = v;
			return (int)(i + 1);
		}
	}
	return -EINVAL; /* longer than maxb bytes */
}

int varint_decode(const uint8_t *buf, size_t len, uint64_t *out)
{
	return varint_read(buf, len, VARINT_MF_MAX, out);
}

int varint_decode_pb(const uint8_t *buf, size_t len, uint64_t *out)
{
	return varint_read(buf, len, VARINT_MAX, out);
}

size_t varint_encode(uint64_t v, uint8_t *out)
{
	size_t n = 0;

	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

size_t varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}
