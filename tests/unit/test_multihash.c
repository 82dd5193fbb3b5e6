/* test_multihash: block verification (sha2-256, identity, unsupported), streaming sha2-256. */
/* deps: multihash cid multibase varint errbuf */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "multihash.h"

#define HW_RAW	  "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
#define HW_HEX	  "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"
#define EMPTY_HEX "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC_HEX	  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static void parse(const char *s, struct cid *c)
{
	struct errbuf e = {""};

	CHECK_EQ_INT(cid_parse(s, strlen(s), c, &e), 0);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static void test_sha256_verify(void)
{
	struct errbuf e = {""};
	struct cid c;
	char want[256];
	uint8_t md[32];
	char mdhex[65];

	parse(HW_RAW, &c);
	CHECK_EQ_INT(mh_verify(&c, "hello world\n", 12, &e), 0);
	CHECK_EQ_INT(mh_supported(&c, &e), 1);
	CHECK_EQ_INT(mh_verify(&c, "hello world!", 12, &e), -EIO);
	mh_sha256("hello world!", 12, md);
	hex(md, 32, mdhex);
	snprintf(want, sizeof(want), "block %s hash mismatch: expected %s, got %s", HW_RAW, HW_HEX,
		 mdhex);
	CHECK_EQ_STR(e.msg, want);
	CHECK_EQ_INT(mh_verify(&c, "hello world\n", 11, &e), -EIO);
	CHECK_EQ_INT(mh_verify(&c, NULL, 0, &e), -EIO);
	CHECK(strstr(e.msg, "got " EMPTY_HEX) != NULL, "%s", e.msg);
	CHECK_EQ_INT(mh_verify(&c, "hello world!", 12, NULL), -EIO);
	/* v0 dag-pb leaf */
	{
		static const char leaf[] = "\x0a\x12\x08\x02\x12\x0chello world\n\x18\x0c";

		parse("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o", &c);
		CHECK_EQ_INT(mh_verify(&c, leaf, sizeof(leaf) - 1, &e), 0);
		CHECK_EQ_INT(mh_verify(&c, "hello world\n", 12, &e), -EIO);
		CHECK(strstr(e.msg, "block QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o hash "
				    "mismatch: expected 46d44814") != NULL,
		      "%s", e.msg);
	}
}

static void test_identity(void)
{
	struct errbuf e = {""};
	struct cid c;
	uint8_t big[128];

	parse("bafkqaaa", &c);
	CHECK_EQ_INT(mh_verify(&c, NULL, 0, &e), 0);
	CHECK_EQ_INT(mh_verify(&c, "", 0, &e), 0);
	CHECK_EQ_INT(mh_supported(&c, &e), 1);
	CHECK_EQ_INT(mh_verify(&c, "x", 1, &e), -EIO);
	CHECK_EQ_STR(e.msg, "block bafkqaaa hash mismatch: expected (empty), got 78");
	parse("bafkqaa3bmjrq", &c); /* identity "abc" */
	CHECK_EQ_INT(mh_verify(&c, "abc", 3, &e), 0);
	CHECK_EQ_INT(mh_verify(&c, "abd", 3, &e), -EIO);
	CHECK(strstr(e.msg, "expected 616263, got 616264") != NULL, "%s", e.msg);
	CHECK_EQ_INT(mh_verify(&c, "abcd", 4, &e), -EIO);
	memset(big, 'q', sizeof(big));
	CHECK_EQ_INT(cid_from_digest(1, CID_CODEC_RAW, MH_IDENTITY, big, 128, &c), 0);
	CHECK_EQ_INT(mh_verify(&c, big, 128, &e), 0);
	big[127] = 'r';
	CHECK_EQ_INT(mh_verify(&c, big, 128, &e), -EIO);
	CHECK(strstr(e.msg, "hash mismatch: expected 7171") != NULL && strstr(e.msg, "...") != NULL,
	      "long digests are cut: %s", e.msg);
}

static void test_too_big(void)
{
	struct errbuf e = {""};
	uint8_t *buf = calloc(1, BLOCK_MAX + 1);
	struct cid c, blake;
	uint8_t dg[32] = {1};

	CHECK(buf != NULL, "calloc");
	if (!buf)
		return;
	CHECK_EQ_INT(cid_for_block(1, CID_CODEC_RAW, buf, BLOCK_MAX, &c), 0);
	CHECK_EQ_INT(mh_verify(&c, buf, BLOCK_MAX, &e), 0);
	CHECK_EQ_INT(mh_verify(&c, buf, BLOCK_MAX + 1, &e), -EFBIG);
	CHECK(strstr(e.msg, "2097153 bytes, over the 2097152-byte limit") != NULL, "%s", e.msg);
	/* size is checked before the hash function */
	CHECK_EQ_INT(cid_from_digest(1, CID_CODEC_RAW, 0x1e, dg, 32, &blake), 0);
	CHECK_EQ_INT(mh_verify(&blake, buf, BLOCK_MAX + 1, &e), -EFBIG);
	free(buf);
}

static void unsupported(uint64_t code, size_t dlen, const char *needle)
{
	struct errbuf e = {""};
	uint8_t dg[64];
	struct cid c;

	memset(dg, 7, sizeof(dg));
	CHECK_EQ_INT(cid_from_digest(1, CID_CODEC_RAW, code, dg, dlen, &c), 0);
	CHECK_EQ_INT(mh_verify(&c, dg, dlen, &e), -ENOTSUP);
	CHECK(strstr(e.msg, needle) != NULL, "\"%s\" lacks \"%s\"", e.msg, needle);
	CHECK(strstr(e.msg, cid_str(&c)) != NULL, "\"%s\" lacks the CID", e.msg);
	e.msg[0] = '\0';
	CHECK_EQ_INT(mh_supported(&c, &e), 0);
	CHECK(strstr(e.msg, needle) != NULL, "mh_supported: \"%s\"", e.msg);
}

static void test_unsupported(void)
{
	struct errbuf e = {""};
	struct cid c;

	unsupported(0x11, 20, "unsupported multihash 0x11 (sha1)");
	unsupported(0x13, 64, "unsupported multihash 0x13 (sha2-512)");
	unsupported(0x1e, 32, "unsupported multihash 0x1e (blake3)");
	unsupported(0xb220, 32, "unsupported multihash 0xb220 (blake2b-256)");
	unsupported(0x1234, 16, "unsupported multihash 0x1234 in block");
	parse("bafkr4iabaeaqcaibaeaqcaibaeaqcaibaeaqcaibaeaqcaibaeaqcaibae", &c);
	CHECK_EQ_INT(mh_verify(&c, "x", 1, &e), -ENOTSUP);
	CHECK(strstr(e.msg, "0x1e (blake3)") != NULL, "%s", e.msg);
	parse("bafk2bzaceabaeaqcaibaeaqcaibaeaqcaibaeaqcaibaeaqcaibaeaqcaibae", &c);
	CHECK_EQ_INT(mh_verify(&c, "x", 1, &e), -ENOTSUP);
	CHECK(strstr(e.msg, "0xb220 (blake2b-256)") != NULL, "%s", e.msg);
}

static void test_names(void)
{
	char buf[24];

	CHECK_EQ_STR(mh_name(0x00, buf, sizeof(buf)), "identity");
	CHECK_EQ_STR(mh_name(0x11, buf, sizeof(buf)), "sha1");
	CHECK_EQ_STR(mh_name(0x12, buf, sizeof(buf)), "sha2-256");
	CHECK_EQ_STR(mh_name(0x13, buf, sizeof(buf)), "sha2-512");
	CHECK_EQ_STR(mh_name(0x1e, buf, sizeof(buf)), "blake3");
	CHECK_EQ_STR(mh_name(0xb220, buf, sizeof(buf)), "blake2b-256");
	CHECK_EQ_STR(mh_name(0x1234, buf, sizeof(buf)), "0x1234");
	CHECK_EQ_STR(mh_name(UINT64_MAX, buf, sizeof(buf)), "0xffffffffffffffff");
	CHECK_EQ_STR(mh_name(0x1234, NULL, 0), "unknown");
}

static void test_streaming(void)
{
	static const char msg[] = "The quick brown fox jumps over the lazy dog, many times over.";
	struct mh_sha256 s;
	uint8_t a[32], b[32];
	char h[65];
	size_t i;

	mh_sha256("", 0, a);
	hex(a, 32, h);
	CHECK_EQ_STR(h, EMPTY_HEX);
	mh_sha256(NULL, 0, a);
	hex(a, 32, h);
	CHECK_EQ_STR(h, EMPTY_HEX);
	mh_sha256("abc", 3, a);
	hex(a, 32, h);
	CHECK_EQ_STR(h, ABC_HEX);
	CHECK_EQ_INT(mh_sha256_init(&s), 0);
	for (i = 0; i < sizeof(msg) - 1; i += 7)
		mh_sha256_update(&s, msg + i, i + 7 < sizeof(msg) - 1 ? 7 : sizeof(msg) - 1 - i);
	mh_sha256_update(&s, NULL, 0);
	mh_sha256_final(&s, b);
	CHECK(s.ctx == NULL, "final frees the context");
	mh_sha256_free(&s); /* safe after final */
	mh_sha256(msg, sizeof(msg) - 1, a);
	CHECK(memcmp(a, b, 32) == 0, "streaming == one-shot");
	CHECK_EQ_INT(mh_sha256_init(&s), 0);
	mh_sha256_update(&s, "abc", 3);
	mh_sha256_free(&s); /* abandon without final */
	CHECK(s.ctx == NULL, "free clears ctx");
}

int main(void)
{
	test_sha256_verify();
	test_identity();
	test_too_big();
	test_unsupported();
	test_names();
	test_streaming();
	return check_done("test_multihash");
}
