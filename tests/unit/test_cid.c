/* test_cid: CID parsing, decoding, formatting and conversion against ipfs-formats.md vectors. */
/* deps: cid multibase varint errbuf */
#include <errno.h>
#include <stdint.h>

#include "check.h"
#include "cid.h"

#define HW_RAW	  "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
#define HW_RAW_Z  "zb2rhi36Gc9GJWijLEL6zW45MBux5FcFv5gJmjXA7VAMozEXY"
#define HW_RAW_K  "k2cwuecvan95uqzq14dj3a18wx6av6tgr73nxvopxn3j5kvyr0apys7b"
#define HW_RAW_F  "f01551220a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"
#define HW_PB_V0  "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
#define HW_PB_V1  "bafybeicg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mby"
#define HW_PB_Z	  "zdj7WaCPMsy3FP2whSwpFXHjDEaTVmjnddYSn5W2Gdn4aEZFj"
#define EMPTY_RAW "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
#define TEST_RAW  "bafkreie7q3iidccmpvszul7kudcvvuavuo7u6gzlbobczuk5nqk3b4akba"
#define DIR_V0	  "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
#define DIR_V1	  "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"
#define FILE_V0	  "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
#define FILE_V1	  "bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y"

static const uint8_t HW_RAW_BIN[36] = {
    0x01, 0x55, 0x12, 0x20, 0xa9, 0x48, 0x90, 0x4f, 0x2f, 0x0f, 0x47, 0x9b,
    0x8f, 0x81, 0x97, 0x69, 0x4b, 0x30, 0x18, 0x4b, 0x0d, 0x2e, 0xd1, 0xc1,
    0xcd, 0x2a, 0x1e, 0xc0, 0xfb, 0x85, 0xd2, 0x99, 0xa1, 0x92, 0xa4, 0x47,
};
/* Kubo's dag-pb leaf for "hello world\n" */
static const char HW_LEAF[] = "\x0a\x12\x08\x02\x12\x0chello world\n\x18\x0c";
static const uint8_t EMPTY_FILE[] = {0x0a, 0x04, 0x08, 0x02, 0x18, 0x00};
static const uint8_t EMPTY_DIR[] = {0x0a, 0x02, 0x08, 0x01};

static int parse(const char *s, struct cid *c)
{
	struct errbuf e = {""};
	int rc = cid_parse(s, strlen(s), c, &e);

	CHECK(rc == 0, "parse %s: %s", s, e.msg);
	return rc;
}

/* cid_format of c must equal want, and want must parse back to c. */
static void check_text(const struct cid *c, const char *want)
{
	char buf[CID_MAX_TEXT];
	struct cid back;

	CHECK_EQ_INT(cid_format(c, buf, sizeof(buf)), strlen(want));
	CHECK_EQ_STR(buf, want);
	CHECK_EQ_STR(cid_str(c), want);
	if (parse(want, &back) == 0)
		CHECK(cid_equal(c, &back), "%s does not round-trip", want);
}

static void test_hello_raw(void)
{
	struct cid c, b;
	char buf[CID_MAX_TEXT];
	size_t used = 0;

	if (parse(HW_RAW, &c))
		return;
	CHECK_EQ_INT(c.version, 1);
	CHECK_EQ_INT(c.codec, CID_CODEC_RAW);
	CHECK_EQ_INT(c.mh_code, 0x12);
	CHECK_EQ_INT(c.len, 36);
	CHECK_EQ_INT(c.mh_off, 2);
	CHECK_EQ_INT(c.mh_len, 34);
	CHECK_EQ_INT(c.digest_off, 4);
	CHECK_EQ_INT(c.digest_len, 32);
	CHECK(memcmp(c.bin, HW_RAW_BIN, 36) == 0, "binary form");
	CHECK(cid_mh(&c) == c.bin + 2 && cid_digest(&c) == c.bin + 4, "accessors");
	CHECK_EQ_INT(cid_decode(HW_RAW_BIN, 36, &b, &used, NULL), 0);
	CHECK_EQ_INT(used, 36);
	CHECK(cid_equal(&c, &b), "decode == parse");
	CHECK_EQ_INT(cid_for_block(1, CID_CODEC_RAW, "hello world\n", 12, &b), 0);
	CHECK(cid_equal(&c, &b), "cid_for_block(hello world)");
	check_text(&c, HW_RAW);
	/* other bases, and parsing them back */
	CHECK_EQ_INT(cid_format_base(&c, 'z', buf, sizeof(buf)), strlen(HW_RAW_Z));
	CHECK_EQ_STR(buf, HW_RAW_Z);
	CHECK_EQ_INT(cid_format_base(&c, 'k', buf, sizeof(buf)), strlen(HW_RAW_K));
	CHECK_EQ_STR(buf, HW_RAW_K);
	CHECK_EQ_INT(cid_format_base(&c, 'f', buf, sizeof(buf)), strlen(HW_RAW_F));
	CHECK_EQ_STR(buf, HW_RAW_F);
	CHECK_EQ_INT(cid_format_base(&c, 'b', buf, sizeof(buf)), strlen(HW_RAW));
	CHECK_EQ_STR(buf, HW_RAW);
	if (parse(HW_RAW_Z, &b) == 0)
		CHECK(cid_equal(&c, &b), "base58btc form");
	if (parse(HW_RAW_K, &b) == 0)
		CHECK(cid_equal(&c, &b), "base36 form");
	if (parse(HW_RAW_F, &b) == 0)
		CHECK(cid_equal(&c, &b), "base16 form");
	if (parse("BAFKREIFJJCIE6LYPI6NY7AMXNFFTAGCLBUXNDQONFIPMB64F2KM2DEVEI4", &b) == 0)
		CHECK(cid_equal(&c, &b), "base32 upper form");
	if (parse("K2CWUECVAN95UQZQ14DJ3A18WX6AV6TGR73NXVOPXN3J5KVYR0APYS7B", &b) == 0)
		CHECK(cid_equal(&c, &b), "base36 upper form");
	if (parse("F01551220A948904F2F0F479B8F8197694B30184B0D2ED1C1CD2A1EC0FB85D299A192A447",
		  &b) == 0)
		CHECK(cid_equal(&c, &b), "base16 upper form");
	/* too small buffers */
	CHECK_EQ_INT(cid_format_base(&c, 'b', buf, 59), -EOVERFLOW);
	CHECK_EQ_INT(cid_format_base(&c, 'b', buf, 60), 59);
	CHECK_EQ_INT(cid_format_base(&c, 'b', buf, 1), -EOVERFLOW);
	CHECK_EQ_INT(cid_format(&c, buf, 10), 0);
	CHECK_EQ_STR(buf, "");
	CHECK_EQ_INT(cid_format_base(&c, 'B', buf, sizeof(buf)), -ENOTSUP);
	CHECK_EQ_INT(cid_format_base(&c, 'x', buf, sizeof(buf)), -ENOTSUP);
	CHECK_EQ_INT(cid_format_base(&c, '\0', buf, sizeof(buf)), -ENOTSUP);
}

static void test_hello_dagpb(void)
{
	struct cid v0, v1, blk, conv;
	char buf[CID_MAX_TEXT];

	if (parse(HW_PB_V0, &v0) || parse(HW_PB_V1, &v1))
		return;
	CHECK_EQ_INT(v0.version, 0);
	CHECK_EQ_INT(v0.codec, CID_CODEC_DAG_PB);
	CHECK_EQ_INT(v0.len, 34);
	CHECK_EQ_INT(v0.mh_off, 0);
	CHECK_EQ_INT(v0.mh_len, 34);
	CHECK_EQ_INT(v0.digest_off, 2);
	CHECK_EQ_INT(v0.digest_len, 32);
	CHECK(v0.bin[0] == 0x12 && v0.bin[1] == 0x20, "v0 binary starts 12 20");
	CHECK_EQ_INT(v1.version, 1);
	CHECK_EQ_INT(v1.codec, CID_CODEC_DAG_PB);
	CHECK(!cid_equal(&v0, &v1), "v0 and v1 differ as CIDs");
	CHECK(cid_mh_equal(&v0, &v1), "v0 and v1 share the multihash");
	CHECK(cid_hash(&v0) == cid_hash(&v1), "hash by multihash");
	CHECK_EQ_INT(cid_for_block(0, CID_CODEC_DAG_PB, HW_LEAF, sizeof(HW_LEAF) - 1, &blk), 0);
	check_text(&blk, HW_PB_V0);
	CHECK_EQ_INT(cid_for_block(1, CID_CODEC_DAG_PB, HW_LEAF, sizeof(HW_LEAF) - 1, &blk), 0);
	check_text(&blk, HW_PB_V1);
	CHECK_EQ_INT(cid_to_v1(&v0, &conv), 0);
	CHECK(cid_equal(&conv, &v1), "v0 → v1");
	CHECK_EQ_INT(cid_to_v0(&v1, &conv), 0);
	CHECK(cid_equal(&conv, &v0), "v1 → v0");
	CHECK_EQ_INT(cid_to_v0(&v0, &conv), 0);
	CHECK(cid_equal(&conv, &v0), "v0 → v0");
	CHECK_EQ_INT(cid_to_v1(&v1, &conv), 0);
	CHECK(cid_equal(&conv, &v1), "v1 → v1");
	conv = v0; /* in place */
	CHECK_EQ_INT(cid_to_v1(&conv, &conv), 0);
	CHECK(cid_equal(&conv, &v1), "v0 → v1 in place");
	CHECK_EQ_INT(cid_format_base(&v1, 'z', buf, sizeof(buf)), strlen(HW_PB_Z));
	CHECK_EQ_STR(buf, HW_PB_Z);
	CHECK_EQ_INT(cid_format_base(&v0, 'b', buf, sizeof(buf)), -ENOTSUP);
	CHECK_EQ_INT(cid_format(&v0, buf, 46), 0);
	CHECK_EQ_INT(cid_format(&v0, buf, 47), 46);
}

static void test_other_vectors(void)
{
	static const uint8_t bafkqaaa_bin[] = {0x01, 0x55, 0x00, 0x00};
	struct cid c, d, v0;
	size_t used;

	CHECK_EQ_INT(cid_for_block(1, CID_CODEC_RAW, NULL, 0, &c), 0);
	check_text(&c, EMPTY_RAW);
	CHECK_EQ_INT(cid_for_block(1, CID_CODEC_RAW, "test", 4, &c), 0);
	check_text(&c, TEST_RAW);
	if (parse("bafkqaaa", &c) == 0) {
		CHECK_EQ_INT(c.mh_code, 0x00);
		CHECK_EQ_INT(c.codec, CID_CODEC_RAW);
		CHECK_EQ_INT(c.digest_len, 0);
		CHECK_EQ_INT(c.len, 4);
		CHECK_EQ_INT(c.mh_len, 2);
		CHECK(memcmp(c.bin, bafkqaaa_bin, 4) == 0, "bafkqaaa bytes");
		CHECK_EQ_INT(cid_decode(bafkqaaa_bin, 4, &d, &used, NULL), 0);
		CHECK(cid_equal(&c, &d), "bafkqaaa decode");
		CHECK_EQ_INT(cid_from_digest(1, CID_CODEC_RAW, 0x00, NULL, 0, &d), 0);
		check_text(&d, "bafkqaaa");
		CHECK_EQ_INT(cid_to_v0(&c, &d), -EINVAL);
	}
	CHECK_EQ_INT(cid_from_digest(1, CID_CODEC_RAW, 0x00, (const uint8_t *)"abc", 3, &c), 0);
	check_text(&c, "bafkqaa3bmjrq");
	CHECK_EQ_INT(cid_for_block(0, CID_CODEC_DAG_PB, EMPTY_DIR, sizeof(EMPTY_DIR), &v0), 0);
	check_text(&v0, DIR_V0);
	CHECK_EQ_INT(cid_for_block(1, CID_CODEC_DAG_PB, EMPTY_DIR, sizeof(EMPTY_DIR), &c), 0);
	check_text(&c, DIR_V1);
	CHECK(cid_mh_equal(&c, &v0), "empty dir v0/v1 share multihash");
	CHECK_EQ_INT(cid_for_block(0, CID_CODEC_DAG_PB, EMPTY_FILE, sizeof(EMPTY_FILE), &v0), 0);
	check_text(&v0, FILE_V0);
	CHECK_EQ_INT(cid_for_block(1, CID_CODEC_DAG_PB, EMPTY_FILE, sizeof(EMPTY_FILE), &c), 0);
	check_text(&c, FILE_V1);
	CHECK_EQ_INT(cid_to_v1(&v0, &d), 0);
	CHECK(cid_equal(&c, &d), "empty file v0 → v1");
	/* raw and dag-pb CIDs of one digest: same multihash, different CIDs */
	CHECK_EQ_INT(cid_for_block(1, CID_CODEC_RAW, EMPTY_FILE, sizeof(EMPTY_FILE), &d), 0);
	CHECK(cid_mh_equal(&c, &d) && !cid_equal(&c, &d), "raw vs dag-pb");
	CHECK_EQ_INT(cid_to_v0(&d, &v0), -EINVAL);
	CHECK_EQ_INT(cid_for_block(0, CID_CODEC_RAW, "x", 1, &d), -EINVAL);
	CHECK_EQ_INT(cid_for_block(2, CID_CODEC_RAW, "x", 1, &d), -EINVAL);
}

static void test_from_digest(void)
{
	uint8_t dg[129];
	struct cid c;

	memset(dg, 0xab, sizeof(dg));
	CHECK_EQ_INT(cid_from_digest(1, CID_CODEC_RAW, 0x12, dg, 31, &c), -EINVAL);
	CHECK_EQ_INT(cid_from_digest(0, CID_CODEC_DAG_PB, 0x12, dg, 33, &c), -EINVAL);
	CHECK_EQ_INT(cid_from_digest(0, CID_CODEC_RAW, 0x12, dg, 32, &c), -EINVAL);
	CHECK_EQ_INT(cid_from_digest(0, CID_CODEC_DAG_PB, 0x1e, dg, 32, &c), -EINVAL);
	CHECK_EQ_INT(cid_from_digest(3, CID_CODEC_RAW, 0x12, dg, 32, &c), -EINVAL);
	CHECK_EQ_INT(cid_from_digest(-1, CID_CODEC_RAW, 0x12, dg, 32, &c), -EINVAL);
	CHECK_EQ_INT(cid_from_digest(1, CID_CODEC_RAW, 0x00, dg, 129, &c), -EINVAL);
	CHECK_EQ_INT(cid_from_digest(1, CID_CODEC_RAW, 0x1e, dg, 129, &c), -EINVAL);
	CHECK_EQ_INT(cid_from_digest(1, UINT64_MAX, 0x12, dg, 32, &c), -EINVAL);
	CHECK_EQ_INT(cid_from_digest(1, CID_CODEC_RAW, UINT64_MAX, dg, 32, &c), -EINVAL);
	/* largest accepted CID: 9-byte codec and code varints, 128-byte digest */
	CHECK_EQ_INT(cid_from_digest(1, INT64_MAX, INT64_MAX, dg, 128, &c), 0);
	CHECK_EQ_INT(c.len, 1 + 9 + 9 + 2 + 128);
	CHECK(c.len <= CID_MAX_BIN, "fits CID_MAX_BIN");
	CHECK_EQ_INT(c.digest_off, 21);
	CHECK_EQ_INT(c.mh_off, 10);
	CHECK_EQ_INT(c.mh_len, 9 + 2 + 128);
	CHECK(c.codec == INT64_MAX && c.mh_code == INT64_MAX, "big codes");
	{
		char buf[CID_MAX_TEXT];
		size_t n = cid_format(&c, buf, sizeof(buf));
		struct cid back;

		CHECK(n > 0 && n < CID_MAX_TEXT, "largest CID formats: %zu", n);
		if (parse(buf, &back) == 0)
			CHECK(cid_equal(&c, &back), "largest CID round trip");
		CHECK_EQ_INT(cid_format_base(&c, 'z', buf, sizeof(buf)) > 0, 1);
		if (parse(buf, &back) == 0)
			CHECK(cid_equal(&c, &back), "largest CID base58 round trip");
		CHECK_EQ_INT(cid_format_base(&c, 'k', buf, sizeof(buf)) > 0, 1);
		if (parse(buf, &back) == 0)
			CHECK(cid_equal(&c, &back), "largest CID base36 round trip");
		CHECK_EQ_INT(cid_format_base(&c, 'f', buf, sizeof(buf)), -EOVERFLOW);
	}
	/* other hash functions decode (verification rejects them later) */
	CHECK_EQ_INT(cid_from_digest(1, CID_CODEC_RAW, 0x1e, dg, 32, &c), 0);
	CHECK_EQ_INT(c.mh_code, 0x1e);
	CHECK_EQ_INT(cid_from_digest(1, CID_CODEC_RAW, 0xb220, dg, 32, &c), 0);
	CHECK_EQ_INT(c.mh_code, 0xb220);
	CHECK_EQ_INT(c.digest_off, 2 + 3 + 1);
	CHECK_EQ_INT(cid_from_digest(1, CID_CODEC_RAW, 0x13, dg, 64, &c), 0);
	CHECK_EQ_INT(c.digest_len, 64);
}

/* cid_parse must fail with -EINVAL and a message containing needle. */
static void bad_text(const char *s, size_t len, const char *needle)
{
	struct errbuf e = {""};
	struct cid c;
	int rc = cid_parse(s, len, &c, &e);

	CHECK(rc == -EINVAL, "\"%.*s\": rc %d", (int)len, s, rc);
	CHECK(strstr(e.msg, needle) != NULL, "\"%.*s\": message \"%s\" lacks \"%s\"", (int)len, s,
	      e.msg, needle);
}

#define BAD(s, needle) bad_text((s), strlen(s), (needle))

static void test_bad_text(void)
{
	BAD("", "cid: empty string");
	bad_text(NULL, 0, "cid: empty string");
	BAD(" " HW_RAW, "cid: whitespace (0x20) at 0");
	BAD(HW_RAW "\n", "cid: whitespace (0x0a) at 59");
	BAD(HW_PB_V0 " ", "cid: whitespace (0x20) at 46");
	BAD("bafkrei\tfjj", "cid: whitespace (0x09) at 7");
	bad_text("bafk\0rei", 8, "cid: invalid character 0x00 at 4");
	BAD("bafk\xc3\xa9", "cid: invalid character 0xc3 at 4");
	BAD("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2dev!i4",
	    "cid: bad base32 character '!' at 55");
	BAD("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei1",
	    "bad base32 character '1' at 57");
	BAD("xafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",
	    "cid: unsupported multibase prefix 'x'");
	BAD("mAXESIA", "cid: unsupported multibase prefix 'm'");
	BAD("b", "cid: nothing after multibase prefix 'b'");
	BAD("z", "nothing after multibase prefix 'z'");
	BAD("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5",
	    "CIDv0 text must be 46 characters, got 45");
	BAD("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5oo",
	    "CIDv0 text must be 46 characters, got 47");
	BAD("Qm", "CIDv0 text must be 46 characters, got 2");
	BAD("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff0o", "bad base58 character '0' at 44");
	BAD("Qmzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "CIDv0 text must decode to 34 bytes");
	BAD("QmAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "CIDv0 text must decode to 34 bytes");
	/* v0 multihash wrapped in a multibase: invalid */
	BAD("bciqcg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mby", "first byte 0x12");
	BAD("z" HW_PB_V0, "first byte 0x12");
	BAD("f122046d44814b9c5af141c3aaab7c05dc5e844ead5f91f12858b021eba45768b4c0e",
	    "first byte 0x12");
}

/* Text that decodes fine but whose bytes are not one valid CIDv1. */
static void test_bad_decoded(void)
{
	static char longtext[600];

	/* versions 2 and 3, and 0 spelled as a varint */
	BAD("f02551220a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447",
	    "cid: version 2 is not supported");
	BAD("f03551220a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447",
	    "cid: version 3 is not supported");
	BAD("f00551220a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447",
	    "cid: version 0 is not supported");
	/* digest length */
	BAD("f0155121fa948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a4",
	    "cid: sha2-256 digest must be 32 bytes, got 31");
	BAD("f01551221a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a44700",
	    "cid: sha2-256 digest must be 32 bytes, got 33");
	BAD("f01551220a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a4",
	    "cid: truncated digest: 31 of 32 bytes");
	BAD("f01551220a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a44700",
	    "cid: trailing bytes after CID (36 of 37 bytes used)");
	BAD("f015500", "cid: truncated varint (digest length at byte 3)");
	BAD("f0155", "cid: truncated varint (multihash code at byte 2)");
	BAD("f01", "cid: truncated varint (codec at byte 1)");
	BAD("f0180", "cid: truncated varint (codec at byte 1)");
	BAD("f018000", "cid: bad varint (codec at byte 1)");
	BAD("f8000", "cid: bad varint (version at byte 0)");
	BAD("f8001", "cid: version 128 is not supported");
	BAD("f0155008101", "identity digest too long: 129 bytes (max 128)");
	BAD("f01551e8101", "multihash 0x1e digest too long: 129 bytes");
	BAD("f015", "odd number of base16 digits");
	BAD("bafkqaaa=", "padding");
	BAD("bafkqaa", "bad base32 length 6");
	BAD("bafkqaab", "non-zero trailing bits");
	memset(longtext, 'a', sizeof(longtext));
	longtext[0] = 'b';
	bad_text(longtext, sizeof(longtext), "cid: text too long (600 chars, max 512)");
	bad_text(longtext, 400, "cid: decodes to more than 168 bytes");
	longtext[0] = 'z';
	bad_text(longtext, 500, "cid: decodes to more than 168 bytes");
}

static void bad_bin(const uint8_t *b, size_t len, const char *needle)
{
	struct errbuf e = {""};
	struct cid c;
	size_t used = 999;
	int rc = cid_decode(b, len, &c, &used, &e);

	CHECK(rc == -EINVAL, "bin len %zu: rc %d", len, rc);
	CHECK(strstr(e.msg, needle) != NULL, "message \"%s\" lacks \"%s\"", e.msg, needle);
	CHECK_EQ_INT(used, 999);
}

static void test_bad_binary(void)
{
	uint8_t b[64];
	struct cid c;
	size_t used, i;

	bad_bin(HW_RAW_BIN, 0, "cid: empty binary CID");
	for (i = 1; i < 36; i++) {
		struct errbuf e = {""};

		CHECK_EQ_INT(cid_decode(HW_RAW_BIN, i, &c, &used, &e), -EINVAL);
		CHECK(strstr(e.msg, "truncated") != NULL, "len %zu: %s", i, e.msg);
	}
	memset(b, 0, sizeof(b));
	b[0] = 0x12;
	bad_bin(b, 1, "truncated CIDv0: 1 of 34 bytes");
	b[1] = 0x20;
	bad_bin(b, 33, "truncated CIDv0: 33 of 34 bytes");
	CHECK_EQ_INT(cid_decode(b, 40, &c, &used, NULL), 0);
	CHECK_EQ_INT(used, 34);
	CHECK_EQ_INT(c.version, 0);
	b[1] = 0x1f;
	bad_bin(b, 34, "got 12 1f");
	memcpy(b, HW_RAW_BIN, 36);
	b[0] = 0x02;
	bad_bin(b, 36, "cid: version 2 is not supported");
	b[0] = 0x03;
	bad_bin(b, 36, "cid: version 3 is not supported");
	b[0] = 0x81; /* version 0x81 0x00: non-minimal */
	b[1] = 0x00;
	bad_bin(b, 36, "cid: bad varint (version at byte 0)");
	/* trailing bytes are the caller's business in binary form */
	memcpy(b, HW_RAW_BIN, 36);
	b[36] = 0xee;
	CHECK_EQ_INT(cid_decode(b, 37, &c, &used, NULL), 0);
	CHECK_EQ_INT(used, 36);
}

/* cid_hash and cid_mh_equal depend on the multihash only. */
static void test_hash_equality(void)
{
	struct cid a, b, c;

	CHECK_EQ_INT(cid_for_block(1, CID_CODEC_RAW, "a", 1, &a), 0);
	CHECK_EQ_INT(cid_for_block(1, CID_CODEC_DAG_PB, "a", 1, &b), 0);
	CHECK_EQ_INT(cid_for_block(1, CID_CODEC_RAW, "b", 1, &c), 0);
	CHECK(cid_hash(&a) == cid_hash(&b), "codec does not change hash");
	CHECK(cid_hash(&a) != cid_hash(&c), "different digests hash apart");
	CHECK(!cid_mh_equal(&a, &c), "different multihash");
	CHECK(cid_equal(&a, &a), "reflexive");
	CHECK(!cid_equal(&a, &b), "codec differs");
}

int main(void)
{
	test_hello_raw();
	test_hello_dagpb();
	test_other_vectors();
	test_from_digest();
	test_bad_text();
	test_bad_decoded();
	test_bad_binary();
	test_hash_equality();
	return check_done("test_cid");
}
