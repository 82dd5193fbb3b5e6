/* multibase: base32 (RFC 4648, no padding), base58btc, base36 and base16 text codecs. */
#include "multibase.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

static const char MB_B32_LOWER[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char MB_B32_UPPER[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char MB_B58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
static const char MB_B36_LOWER[] = "0123456789abcdefghijklmnopqrstuvwxyz";
static const char MB_B36_UPPER[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
static const char MB_B16_LOWER[] = "0123456789abcdef";
static const char MB_B16_UPPER[] = "0123456789ABCDEF";

/* One alphabet: its characters, radix and name for messages. */
struct mb_alpha {
	const char *chars;
	unsigned radix;
	const char *name;
};

static const struct mb_alpha MB_ALPHA_B58 = {MB_B58, 58, "base58"};

/* Index of c in the alphabet, or -1. */
static int mb_index(const struct mb_alpha *a, char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = memchr(a->chars, c, a->radix);
	return p ? (int)(p - a->chars) : -1;
}

/* Message for a character outside the alphabet; unprintable ones as hex. */
static int mb_bad_char(struct errbuf *e, const char *name, char c, size_t pos)
{
	unsigned char u = (unsigned char)c;

	if (u >= 0x20 && u < 0x7f)
		return err_set(e, -EINVAL, "bad %s character '%c' at %zu", name, c, pos);
	return err_set(e, -EINVAL, "bad %s character 0x%02x at %zu", name, u, pos);
}

static int mb_overflow(struct errbuf *e, size_t cap)
{
	return err_set(e, -EOVERFLOW, "decoded data longer than %zu bytes", cap);
}

static void mb_reverse(uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n / 2; i++) {
		uint8_t t = p[i];

		p[i] = p[n - 1 - i];
		p[n - 1 - i] = t;
	}
}

static int b32_decode(const char *chars, const char *text, size_t len, uint8_t *out, size_t cap,
		      struct errbuf *e)
{
	const struct mb_alpha a = {chars, 32, "base32"};
	size_t i, n = 0, rem = len % 8;
	uint32_t acc = 0;
	unsigned bits = 0;

	for (i = 0; i < len; i++) {
		int v = mb_index(&a, text[i]);

		if (text[i] == '=')
			return err_set(e, -EINVAL, "base32 padding '=' at %zu is not allowed", i);
		if (v < 0)
			return mb_bad_char(e, "base32", text[i], i);
		acc = (acc << 5) | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			if (n >= cap)
				return mb_overflow(e, cap);
			out[n++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (rem == 1 || rem == 3 || rem == 6)
		return err_set(e, -EINVAL, "bad base32 length %zu (a final group of %zu chars)",
			       len, rem);
	if (acc != 0)
		return err_set(e, -EINVAL, "base32 text has non-zero trailing bits");
	return (int)n;
}

static int b16_decode(const char *chars, const char *text, size_t len, uint8_t *out, size_t cap,
		      struct errbuf *e)
{
	const struct mb_alpha a = {chars, 16, "base16"};
	size_t i;

	for (i = 0; i < len; i++)
		if (mb_index(&a, text[i]) < 0)
			return mb_bad_char(e, "base16", text[i], i);
	if (len % 2)
		return err_set(e, -EINVAL, "odd number of base16 digits (%zu)", len);
	if (len / 2 > cap)
		return mb_overflow(e, cap);
	for (i = 0; i < len; i += 2)
		out[i / 2] = (uint8_t)(mb_index(&a, text[i]) << 4 | mb_index(&a, text[i + 1]));
	return (int)(len / 2);
}

/* base58/base36: leading zero digits are zero bytes; the rest is a big number. The number
 * is built little-endian in out itself, so work is bounded by len * cap. */
static int bx_decode(const struct mb_alpha *a, const char *text, size_t len, uint8_t *out,
		     size_t cap, struct errbuf *e)
{
	size_t i, j, zeros = 0, n = 0;

	if (len > MBASE_BASEX_MAX)
		return err_set(e, -EINVAL, "%s text too long (%zu chars, max %d)", a->name, len,
			       MBASE_BASEX_MAX);
	for (i = 0; i < len; i++)
		if (mb_index(a, text[i]) < 0)
			return mb_bad_char(e, a->name, text[i], i);
	while (zeros < len && text[zeros] == a->chars[0])
		zeros++;
	for (i = zeros; i < len; i++) {
		uint32_t carry = (uint32_t)mb_index(a, text[i]);

		for (j = 0; j < n; j++) {
			carry += (uint32_t)out[j] * a->radix;
			out[j] = (uint8_t)carry;
			carry >>= 8;
		}
		for (; carry; carry >>= 8) {
			if (n >= cap)
				return mb_overflow(e, cap);
			out[n++] = (uint8_t)carry;
		}
	}
	if (zeros > cap - n)
		return mb_overflow(e, cap);
	mb_reverse(out, n);
	memmove(out + zeros, out, n);
	memset(out, 0, zeros);
	return (int)(zeros + n);
}

int mbase_decode(char prefix, const char *text, size_t len, uint8_t *out, size_t cap,
		 struct errbuf *e)
{
	static const struct mb_alpha b36l = {MB_B36_LOWER, 36, "base36"};
	static const struct mb_alpha b36u = {MB_B36_UPPER, 36, "base36"};

	if (cap > INT_MAX)
		cap = INT_MAX;
	switch (prefix) {
	case 'b':
		return b32_decode(MB_B32_LOWER, text, len, out, cap, e);
	case 'B':
		return b32_decode(MB_B32_UPPER, text, len, out, cap, e);
	case 'z':
		return bx_decode(&MB_ALPHA_B58, text, len, out, cap, e);
	case 'k':
		return bx_decode(&b36l, text, len, out, cap, e);
	case 'K':
		return bx_decode(&b36u, text, len, out, cap, e);
	case 'f':
		return b16_decode(MB_B16_LOWER, text, len, out, cap, e);
	case 'F':
		return b16_decode(MB_B16_UPPER, text, len, out, cap, e);
	}
	if ((unsigned char)prefix >= 0x20 && (unsigned char)prefix < 0x7f)
		return err_set(e, -ENOTSUP, "unsupported multibase prefix '%c'", prefix);
	return err_set(e, -ENOTSUP, "unsupported multibase prefix 0x%02x", (unsigned char)prefix);
}

static int b32_encode(const uint8_t *data, size_t len, char *out, size_t cap)
{
	size_t i, n = 0;
	uint32_t acc = 0;
	unsigned bits = 0;

	if (len > (size_t)INT_MAX / 2 || (len * 8 + 4) / 5 >= cap)
		return -EOVERFLOW;
	for (i = 0; i < len; i++) {
		acc = (acc << 8) | data[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[n++] = MB_B32_LOWER[(acc >> bits) & 31];
		}
		acc &= (1u << bits) - 1;
	}
	if (bits)
		out[n++] = MB_B32_LOWER[(acc << (5 - bits)) & 31];
	out[n] = '\0';
	return (int)n;
}

static int b16_encode(const uint8_t *data, size_t len, char *out, size_t cap)
{
	size_t i;

	if (len > (size_t)INT_MAX / 2 || len * 2 >= cap)
		return -EOVERFLOW;
	for (i = 0; i < len; i++) {
		out[2 * i] = MB_B16_LOWER[data[i] >> 4];
		out[2 * i + 1] = MB_B16_LOWER[data[i] & 15];
	}
	out[2 * len] = '\0';
	return (int)(2 * len);
}

/* Digits are built little-endian in out (as values), bounded by cap, then mapped. */
static int bx_encode(const struct mb_alpha *a, const uint8_t *data, size_t len, char *out,
		     size_t cap)
{
	size_t i, j, zeros = 0, n = 0, lim;

	if (cap > INT_MAX)
		cap = INT_MAX;
	while (zeros < len && data[zeros] == 0)
		zeros++;
	if (zeros >= cap)
		return -EOVERFLOW;
	lim = cap - 1 - zeros;
	for (i = zeros; i < len; i++) {
		uint32_t carry = data[i];

		for (j = 0; j < n; j++) {
			carry += (uint32_t)(uint8_t)out[j] << 8;
			out[j] = (char)(carry % a->radix);
			carry /= a->radix;
		}
		for (; carry; carry /= a->radix) {
			if (n >= lim)
				return -EOVERFLOW;
			out[n++] = (char)(carry % a->radix);
		}
	}
	mb_reverse((uint8_t *)out, n);
	memmove(out + zeros, out, n);
	memset(out, a->chars[0], zeros);
	for (i = zeros; i < zeros + n; i++)
		out[i] = a->chars[(uint8_t)out[i]];
	out[zeros + n] = '\0';
	return (int)(zeros + n);
}

int mbase_encode(char prefix, const uint8_t *data, size_t len, char *out, size_t cap)
{
	static const struct mb_alpha b36l = {MB_B36_LOWER, 36, "base36"};

	if (prefix != 'b' && prefix != 'z' && prefix != 'k' && prefix != 'f')
		return -ENOTSUP;
	if (cap == 0)
		return -EOVERFLOW;
	switch (prefix) {
	case 'b':
		return b32_encode(data, len, out, cap);
	case 'z':
		return bx_encode(&MB_ALPHA_B58, data, len, out, cap);
	case 'k':
		return bx_encode(&b36l, data, len, out, cap);
	default:
		return b16_encode(data, len, out, cap);
	}
}

int base58_decode(const char *text, size_t len, uint8_t *out, size_t cap, struct errbuf *e)
{
	return mbase_decode('z', text, len, out, cap, e);
}

int base58_encode(const uint8_t *data, size_t len, char *out, size_t cap)
{
	return mbase_encode('z', data, len, out, cap);
}
