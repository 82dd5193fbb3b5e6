/* multibase: text encodings of binary data. Pure, no I/O.
 *
 * Decoding: base32 lower ('b') and upper ('B'), base58btc ('z'), base36
 * lower/upper ('k'/'K'), base16 ('f'/'F'). Encoding: base32 lower, base58btc,
 * base36 lower, base16 lower. */
#ifndef MPACK_MULTIBASE_H
#define MPACK_MULTIBASE_H

#include <stddef.h>
#include <stdint.h>

#include "errbuf.h"

/* Longest base58/base36 text accepted (their decoding cost is quadratic). */
#define MBASE_BASEX_MAX 512

/* Decode `text` (len chars, NOT including a multibase prefix) in base `prefix`
 * (one of b B z k K f F) into out (capacity cap). Returns bytes written, or
 * -EINVAL with a message naming the bad character and its position (an index
 * into `text`; also for base32 padding, a bad base32/base16 length, non-zero
 * trailing base32 bits, base58/base36 text over MBASE_BASEX_MAX chars),
 * -EOVERFLOW if the result exceeds cap, -ENOTSUP for an unknown prefix. */
int mbase_decode(char prefix, const char *text, size_t len, uint8_t *out, size_t cap,
		 struct errbuf *e);

/* Encode data into out as a NUL-terminated string WITHOUT a prefix, in base
 * `prefix` (b z k f). Returns chars written (excluding NUL), -EOVERFLOW if
 * cap is too small, -ENOTSUP for an unsupported base. */
int mbase_encode(char prefix, const uint8_t *data, size_t len, char *out, size_t cap);

/* Raw base58btc without prefix (CIDv0 text). Same returns as above. */
int base58_decode(const char *text, size_t len, uint8_t *out, size_t cap, struct errbuf *e);
int base58_encode(const uint8_t *data, size_t len, char *out, size_t cap);

#endif
