/* test_multibase: base32/base58btc/base36/base16 vectors, round trips and bad input. */
/* deps: multibase errbuf */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "multibase.h"

struct vec {
	char prefix;
	const char *data; /* NUL-free except the explicit zero bytes counted in len */
	size_t len;
	const char *text;
};

/* multibase spec "yes mani !" vectors (with 0, 1, 2 leading zero bytes) and RFC 4648. */
static const struct vec VECS[] = {
    {'b', "yes mani !", 10, "pfsxgidnmfxgsibb"},
    {'z', "yes mani !", 10, "7paNL19xttacUY"},
    {'k', "yes mani !", 10, "2lcpzo5yikidynfl"},
    {'f', "yes mani !", 10, "796573206d616e692021"},
    {'b', "\0yes mani !", 11, "ab4wk4zanvqw42jaee"},
    {'z', "\0yes mani !", 11, "17paNL19xttacUY"},
    {'k', "\0yes mani !", 11, "02lcpzo5yikidynfl"},
    {'f', "\0yes mani !", 11, "00796573206d616e692021"},
    {'b', "\0\0yes mani !", 12, "aaahszltebwwc3tjeaqq"},
    {'z', "\0\0yes mani !", 12, "117paNL19xttacUY"},
    {'k', "\0\0yes mani !", 12, "002lcpzo5yikidynfl"},
    {'b', "", 0, ""},
    {'b', "f", 1, "my"},
    {'b', "fo", 2, "mzxq"},
    {'b', "foo", 3, "mzxw6"},
    {'b', "foob", 4, "mzxw6yq"},
    {'b', "fooba", 5, "mzxw6ytb"},
    {'b', "foobar", 6, "mzxw6ytboi"},
    {'z', "", 0, ""},
    {'z', "\0\0\0", 3, "111"},
    {'k', "\0", 1, "0"},
    {'f', "", 0, ""},
};

static void test_vectors(void)
{
	size_t i;

	for (i = 0; i < sizeof(VECS) / sizeof(VECS[0]); i++) {
		const struct vec *t = &VECS[i];
		struct errbuf e = {""};
		uint8_t bin[64];
		char txt[128];
		int n;

		n = mbase_encode(t->prefix, (const uint8_t *)t->data, t->len, txt, sizeof(txt));
		CHECK_EQ_INT(n, strlen(t->text));
		CHECK_EQ_STR(txt, t->text);
		n = mbase_decode(t->prefix, t->text, strlen(t->text), bin, sizeof(bin), &e);
		CHECK_EQ_INT(n, t->len);
		CHECK(n >= 0 && memcmp(bin, t->data, t->len) == 0, "decode %c%s: %s", t->prefix,
		      t->text, e.msg);
	}
}

static void test_upper(void)
{
	struct errbuf e = {""};
	uint8_t bin[64];
	int n;

	n = mbase_decode('B', "PFSXGIDNMFXGSIBB", 16, bin, sizeof(bin), &e);
	CHECK(n == 10 && memcmp(bin, "yes mani !", 10) == 0, "B: %d %s", n, e.msg);
	n = mbase_decode('K', "2LCPZO5YIKIDYNFL", 16, bin, sizeof(bin), &e);
	CHECK(n == 10 && memcmp(bin, "yes mani !", 10) == 0, "K: %d %s", n, e.msg);
	n = mbase_decode('F', "796573206D616E692021", 20, bin, sizeof(bin), &e);
	CHECK(n == 10 && memcmp(bin, "yes mani !", 10) == 0, "F: %d %s", n, e.msg);
	n = base58_decode("7paNL19xttacUY", 14, bin, sizeof(bin), &e);
	CHECK(n == 10 && memcmp(bin, "yes mani !", 10) == 0, "base58_decode: %d", n);
	{
		char txt[32];

		CHECK_EQ_INT(base58_encode((const uint8_t *)"yes mani !", 10, txt, sizeof(txt)),
			     14);
		CHECK_EQ_STR(txt, "7paNL19xttacUY");
	}
}

/* Decoding must fail with `code` and a message containing `needle`. */
static void bad(char prefix, const char *text, int code, const char *needle)
{
	struct errbuf e = {""};
	uint8_t bin[64];
	int n = mbase_decode(prefix, text, strlen(text), bin, sizeof(bin), &e);

	CHECK(n == code, "%c\"%s\": got %d want %d (%s)", prefix, text, n, code, e.msg);
	CHECK(strstr(e.msg, needle) != NULL, "%c\"%s\": message \"%s\" lacks \"%s\"", prefix, text,
	      e.msg, needle);
}

static void test_bad_input(void)
{
	bad('b', "my======", -EINVAL, "padding '=' at 2");
	bad('b', "my!", -EINVAL, "bad base32 character '!' at 2");
	bad('b', "m1", -EINVAL, "bad base32 character '1' at 1");
	bad('b', "MY", -EINVAL, "bad base32 character 'M' at 0");
	bad('B', "my", -EINVAL, "bad base32 character 'm' at 0");
	bad('b', "my y", -EINVAL, "bad base32 character ' ' at 2");
	bad('b', "my\n", -EINVAL, "bad base32 character 0x0a at 2");
	bad('b', "m", -EINVAL, "bad base32 length 1");
	bad('b', "mzx", -EINVAL, "bad base32 length 3");
	bad('b', "mzxw6y", -EINVAL, "bad base32 length 6");
	bad('b', "mz", -EINVAL, "non-zero trailing bits");
	bad('z', "7paNL19xttac0Y", -EINVAL, "bad base58 character '0' at 12");
	bad('z', "O", -EINVAL, "bad base58 character 'O' at 0");
	bad('z', "1I", -EINVAL, "bad base58 character 'I' at 1");
	bad('z', "l", -EINVAL, "bad base58 character 'l'");
	bad('z', "ab+", -EINVAL, "bad base58 character '+' at 2");
	bad('k', "2LCP", -EINVAL, "bad base36 character 'L' at 1");
	bad('K', "2lcp", -EINVAL, "bad base36 character 'l' at 1");
	bad('k', "2lc_", -EINVAL, "bad base36 character '_' at 3");
	bad('f', "abc", -EINVAL, "odd number of base16 digits (3)");
	bad('f', "0g", -EINVAL, "bad base16 character 'g' at 1");
	bad('f', "AB", -EINVAL, "bad base16 character 'A' at 0");
	bad('F', "ab", -EINVAL, "bad base16 character 'a' at 0");
	bad('x', "abc", -ENOTSUP, "unsupported multibase prefix 'x'");
	bad('m', "abc", -ENOTSUP, "unsupported multibase prefix 'm'");
	bad('\0', "abc", -ENOTSUP, "unsupported multibase prefix 0x00");
}

static void test_overflow(void)
{
	struct errbuf e = {""};
	uint8_t bin[16];
	char txt[64];

	CHECK_EQ_INT(mbase_decode('b', "pfsxgidnmfxgsibb", 16, bin, 9, &e), -EOVERFLOW);
	CHECK(strstr(e.msg, "longer than 9 bytes") != NULL, "%s", e.msg);
	CHECK_EQ_INT(mbase_decode('z', "7paNL19xttacUY", 14, bin, 9, &e), -EOVERFLOW);
	CHECK_EQ_INT(mbase_decode('z', "117paNL19xttacUY", 16, bin, 11, &e), -EOVERFLOW);
	CHECK_EQ_INT(mbase_decode('z', "1111", 4, bin, 3, &e), -EOVERFLOW);
	CHECK_EQ_INT(mbase_decode('k', "2lcpzo5yikidynfl", 16, bin, 9, &e), -EOVERFLOW);
	CHECK_EQ_INT(mbase_decode('f', "796573206d616e692021", 20, bin, 9, &e), -EOVERFLOW);
	CHECK_EQ_INT(mbase_decode('z', "7paNL19xttacUY", 14, bin, 10, &e), 10);
	CHECK_EQ_INT(mbase_decode('b', "pfsxgidnmfxgsibb", 16, bin, 10, &e), 10);
	/* encode needs room for the NUL too */
	CHECK_EQ_INT(mbase_encode('b', (const uint8_t *)"yes mani !", 10, txt, 16), -EOVERFLOW);
	CHECK_EQ_INT(mbase_encode('b', (const uint8_t *)"yes mani !", 10, txt, 17), 16);
	CHECK_EQ_INT(mbase_encode('z', (const uint8_t *)"yes mani !", 10, txt, 14), -EOVERFLOW);
	CHECK_EQ_INT(mbase_encode('z', (const uint8_t *)"yes mani !", 10, txt, 15), 14);
	CHECK_EQ_INT(mbase_encode('z', (const uint8_t *)"\0\0\0", 3, txt, 3), -EOVERFLOW);
	CHECK_EQ_INT(mbase_encode('k', (const uint8_t *)"yes mani !", 10, txt, 16), -EOVERFLOW);
	CHECK_EQ_INT(mbase_encode('f', (const uint8_t *)"yes mani !", 10, txt, 20), -EOVERFLOW);
	CHECK_EQ_INT(mbase_encode('f', (const uint8_t *)"yes mani !", 10, txt, 0), -EOVERFLOW);
	CHECK_EQ_INT(mbase_encode('B', (const uint8_t *)"x", 1, txt, sizeof(txt)), -ENOTSUP);
	CHECK_EQ_INT(mbase_encode('K', (const uint8_t *)"x", 1, txt, sizeof(txt)), -ENOTSUP);
	CHECK_EQ_INT(mbase_encode('x', (const uint8_t *)"x", 1, txt, sizeof(txt)), -ENOTSUP);
}

/* base58/base36 text is bounded: over MBASE_BASEX_MAX chars is refused up front. */
static void test_length_limit(void)
{
	static char text[MBASE_BASEX_MAX + 2];
	static uint8_t bin[1024];
	struct errbuf e = {""};
	int n;

	memset(text, '2', sizeof(text));
	n = mbase_decode('z', text, MBASE_BASEX_MAX + 1, bin, sizeof(bin), &e);
	CHECK_EQ_INT(n, -EINVAL);
	CHECK(strstr(e.msg, "base58 text too long (513 chars") != NULL, "%s", e.msg);
	n = mbase_decode('k', text, MBASE_BASEX_MAX + 1, bin, sizeof(bin), &e);
	CHECK_EQ_INT(n, -EINVAL);
	CHECK(strstr(e.msg, "base36 text too long") != NULL, "%s", e.msg);
	n = mbase_decode('z', text, MBASE_BASEX_MAX, bin, sizeof(bin), &e);
	CHECK(n > 0 && n < MBASE_BASEX_MAX, "512 chars decode: %d %s", n, e.msg);
}

/* Pseudo-random data (with runs of leading zeros) round-trips through every base. */
static void test_roundtrip(void)
{
	static const char bases[] = "bzkf";
	uint32_t seed = 12345;
	int bad_rt = 0, len, b, i;

	for (len = 0; len <= 80; len++) {
		uint8_t data[80], back[96];
		char txt[256];

		for (i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			data[i] = (uint8_t)(seed >> 16);
		}
		for (i = 0; i < len && i < len % 4; i++)
			data[i] = 0;
		for (b = 0; b < 4; b++) {
			int n = mbase_encode(bases[b], data, (size_t)len, txt, sizeof(txt));
			int m = n < 0 ? n
				      : mbase_decode(bases[b], txt, (size_t)n, back, sizeof(back),
						     NULL);

			if (n < 0 || m != len || memcmp(back, data, (size_t)len) != 0)
				bad_rt++;
		}
	}
	CHECK_EQ_INT(bad_rt, 0);
}

int main(void)
{
	test_vectors();
	test_upper();
	test_bad_input();
	test_overflow();
	test_length_limit();
	test_roundtrip();
	return check_done("test_multibase");
}
