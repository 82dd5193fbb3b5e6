/* varint: unsigned LEB128 as used by multiformats and protobuf. Pure, no I/O.
 *
 * Multiformats varints must be minimal and at most 9 bytes (63 bits); protobuf
 * allows 10 bytes. Both readers reject non-minimal encodings. */
#ifndef MPACK_VARINT_H
#define MPACK_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define VARINT_MAX 10 /* bytes a uint64 can take */

/* Decode a multiformats varint (≤ 9 bytes, minimal) from buf[0..len).
 * Returns bytes consumed (> 0), -EAGAIN if buf ends inside the varint,
 * -EINVAL if it is longer than 9 bytes or not minimal. */
int varint_decode(const uint8_t *buf, size_t len, uint64_t *out);

/* Same for a protobuf varint (≤ 10 bytes, minimal, value fits uint64). */
int varint_decode_pb(const uint8_t *buf, size_t len, uint64_t *out);

/* Encode v into out (room for VARINT_MAX). Returns bytes written. */
size_t varint_encode(uint64_t v, uint8_t *out);

/* Bytes varint_encode would write. */
size_t varint_size(uint64_t v);

#endif
