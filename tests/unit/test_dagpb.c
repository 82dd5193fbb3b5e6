/* test_dagpb: dag-pb decode/encode against Kubo/JS vectors, round trips, and bad input. */
/* deps: dagpb cid multibase multihash varint errbuf dynbuf */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cid.h"
#include "dagpb.h"
#include "dynbuf.h"

/* Blocks below were produced by ipfs-unixfs-importer 17 (run with node in tests/):
 * importer([{path:'f', content:'abcdefghij'}], blockstore,
 *   {cidVersion:0, rawLeaves:false, chunker:fixedSize({chunkSize:4})}) → root block. */
static const char FILE_V0_HEX[] =
    "12280a22122077b751cb5c0d7d3a0b00aeac45ecda55bb94d850f7bf2fd67c239606041825e0120018"
    "0c12280a2212201141168365795fa8ab9937d284b7d609ea00836ea15cbd5ca851603540e75f7012"
    "00180c12280a221220bc8fa75a4b63ecc3fa0bad4daddb2502efda5b29c0824dcdba881664b6de44d3"
    "1200180a0a0a0802180a200420042002";
static const char FILE_V0_CID[] = "QmYTFs2wfcExaFPELk9EA6LRYWjTGDcJ7V1k8uVaQqBxFx";
/* Same with {cidVersion:1, rawLeaves:true}. */
static const char FILE_V1_HEX[] =
    "122a0a240155122088d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f0315891200"
    "1804122a0a2401551220e5e088a0b66163a0a26a5e053d2a4496dc16ab6e0e3dd1adf2d16aa84a078c9d"
    "12001804122a0a2401551220c9df9c3f2963b19b9b95f58c4d33b053fa9f8586dd6ee04126e52a868f88"
    "2108120018020a0a0802180a200420042002";
static const char FILE_V1_CID[] = "bafybeie7i44qke6q6cwjgear5vsoxxypcnnx34owdyqvf6z7rtcgkycacu";
/* Directory d/{a.txt:"A", b.txt:"BB"}, {cidVersion:1, rawLeaves:true}. */
static const char DIR_HEX[] =
    "122f0a2401551220559aead08264d5795d3909718cdd05abd49572e84fe55590eef31a88a08fdffd12"
    "05612e7478741801122f0a2401551220fc686c314491e1f68bf1899fc54b2327353c44dd1ab4ed5653"
    "8ef623edd1e8661205622e74787418020a020801";
static const char DIR_CID[] = "bafybeicyrpfpdz54a5ajjvg4rdacr4j3dxstaknfupb3g3ahs5yzp6dmoa";

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s) / 2, i;
	unsigned v;

	if (n > cap)
		abort();
	for (i = 0; i < n; i++) {
		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void cid_text_of(int version, const uint8_t *b, size_t len, char *out)
{
	struct cid c;

	if (cid_for_block(version, CID_CODEC_DAG_PB, b, len, &c) != 0) {
		strcpy(out, "(cid_for_block failed)");
		return;
	}
	cid_format(&c, out, CID_MAX_TEXT);
}

/* Encode n and compare with the expected bytes. */
static void check_encodes_to(const struct pb_node *n, const uint8_t *want, size_t want_len,
			     const char *what)
{
	struct dynbuf b;
	int rc;

	dynbuf_init(&b, 1 << 20);
	rc = pb_encode(n, &b);
	CHECK(rc == 0, "%s: pb_encode rc %d", what, rc);
	CHECK(b.len == want_len && (want_len == 0 || memcmp(b.data, want, want_len) == 0),
	      "%s: re-encoding differs (%zu vs %zu bytes)", what, b.len, want_len);
	dynbuf_free(&b);
}

static void test_hello_leaf(void)
{
	static const uint8_t blk[] = {0x0a, 0x12, 0x08, 0x02, 0x12, 0x0c, 'h', 'e',  'l',  'l',
				      'o',  ' ',  'w',	'o',  'r',  'l',  'd', '\n', 0x18, 0x0c};
	struct pb_node n;
	struct errbuf e = {""};
	char txt[CID_MAX_TEXT];

	CHECK_EQ_INT(pb_decode(blk, sizeof(blk), &n, &e), 0);
	CHECK(n.has_data && n.data == blk + 2 && n.data_len == 18, "data field");
	CHECK_EQ_INT(n.nlinks, 0);
	CHECK(n.links == NULL, "no links array");
	check_encodes_to(&n, blk, sizeof(blk), "hello leaf");
	cid_text_of(0, blk, sizeof(blk), txt);
	CHECK_EQ_STR(txt, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
	cid_text_of(1, blk, sizeof(blk), txt);
	CHECK_EQ_STR(txt, "bafybeicg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mby");
	pb_node_free(&n);
}

static void test_empty_nodes(void)
{
	static const uint8_t dir[] = {0x0a, 0x02, 0x08, 0x01};
	static const uint8_t file[] = {0x0a, 0x04, 0x08, 0x02, 0x18, 0x00};
	struct pb_node n;
	struct errbuf e = {""};
	char txt[CID_MAX_TEXT];

	CHECK_EQ_INT(pb_decode(dir, sizeof(dir), &n, &e), 0);
	CHECK(n.has_data && n.data_len == 2 && n.nlinks == 0, "empty dir fields");
	check_encodes_to(&n, dir, sizeof(dir), "empty dir");
	pb_node_free(&n);
	cid_text_of(0, dir, sizeof(dir), txt);
	CHECK_EQ_STR(txt, "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn");
	cid_text_of(1, dir, sizeof(dir), txt);
	CHECK_EQ_STR(txt, "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354");

	CHECK_EQ_INT(pb_decode(file, sizeof(file), &n, &e), 0);
	CHECK(n.has_data && n.data_len == 4 && n.nlinks == 0, "empty file fields");
	check_encodes_to(&n, file, sizeof(file), "empty file");
	pb_node_free(&n);
	cid_text_of(0, file, sizeof(file), txt);
	CHECK_EQ_STR(txt, "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
	cid_text_of(1, file, sizeof(file), txt);
	CHECK_EQ_STR(txt, "bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y");

	/* A zero-length buffer is a node with neither Data nor Links. */
	CHECK_EQ_INT(pb_decode(file, 0, &n, &e), 0);
	CHECK(!n.has_data && n.data == NULL && n.nlinks == 0, "empty buffer");
	check_encodes_to(&n, NULL, 0, "empty node");
	pb_node_free(&n);
}

/* A Kubo-style file root: links with empty Name (12 00) and Tsize. */
static void test_kubo_file_v0(void)
{
	static const char *const chunks[] = {"abcd", "efgh", "ij"};
	uint8_t blk[512], leaf[32];
	struct pb_node n;
	struct errbuf e = {""};
	struct cid want;
	char txt[CID_MAX_TEXT];
	size_t len = unhex(FILE_V0_HEX, blk, sizeof(blk)), i, cl;

	CHECK_EQ_INT(pb_decode(blk, len, &n, &e), 0);
	CHECK_EQ_INT(n.nlinks, 3);
	CHECK(n.has_data && n.data_len == 10, "root data");
	for (i = 0; i < n.nlinks && i < 3; i++) {
		const struct pb_link *l = &n.links[i];

		CHECK(l->has_name && l->name_len == 0, "link %zu: empty name present", i);
		CHECK(l->has_tsize && l->tsize == (i < 2 ? 12u : 10u), "link %zu tsize", i);
		CHECK_EQ_INT(l->cid.version, 0);
		/* leaf = 0a LEN 08 02 12 n <chunk> 18 n */
		cl = strlen(chunks[i]);
		leaf[0] = 0x0a;
		leaf[1] = (uint8_t)(cl + 6);
		leaf[2] = 0x08;
		leaf[3] = 0x02;
		leaf[4] = 0x12;
		leaf[5] = (uint8_t)cl;
		memcpy(leaf + 6, chunks[i], cl);
		leaf[6 + cl] = 0x18;
		leaf[7 + cl] = (uint8_t)cl;
		CHECK_EQ_INT(cid_for_block(0, CID_CODEC_DAG_PB, leaf, cl + 8, &want), 0);
		CHECK(cid_equal(&l->cid, &want), "link %zu CID is the leaf's", i);
	}
	check_encodes_to(&n, blk, len, "kubo file v0");
	cid_text_of(0, blk, len, txt);
	CHECK_EQ_STR(txt, FILE_V0_CID);
	pb_node_free(&n);
}

static void test_raw_leaves_and_dir(void)
{
	static const char *const chunks[] = {"abcd", "efgh", "ij"};
	uint8_t blk[512];
	struct pb_node n;
	struct errbuf e = {""};
	struct cid want;
	char txt[CID_MAX_TEXT];
	size_t len = unhex(FILE_V1_HEX, blk, sizeof(blk)), i;

	CHECK_EQ_INT(pb_decode(blk, len, &n, &e), 0);
	CHECK_EQ_INT(n.nlinks, 3);
	for (i = 0; i < n.nlinks && i < 3; i++) {
		CHECK_EQ_INT(cid_for_block(1, CID_CODEC_RAW, chunks[i], strlen(chunks[i]), &want),
			     0);
		CHECK(cid_equal(&n.links[i].cid, &want), "raw link %zu", i);
		CHECK(n.links[i].has_name && n.links[i].name_len == 0, "raw link %zu name", i);
	}
	check_encodes_to(&n, blk, len, "file v1");
	cid_text_of(1, blk, len, txt);
	CHECK_EQ_STR(txt, FILE_V1_CID);
	pb_node_free(&n);

	len = unhex(DIR_HEX, blk, sizeof(blk));
	CHECK_EQ_INT(pb_decode(blk, len, &n, &e), 0);
	CHECK_EQ_INT(n.nlinks, 2);
	if (n.nlinks == 2) {
		CHECK(n.links[0].name_len == 5 && !memcmp(n.links[0].name, "a.txt", 5), "name a");
		CHECK(n.links[1].name_len == 5 && !memcmp(n.links[1].name, "b.txt", 5), "name b");
		CHECK(n.links[0].tsize == 1 && n.links[1].tsize == 2, "dir tsizes");
	}
	check_encodes_to(&n, blk, len, "dir");
	cid_text_of(1, blk, len, txt);
	CHECK_EQ_STR(txt, DIR_CID);
	pb_node_free(&n);
}

static bool links_equal(const struct pb_link *a, const struct pb_link *b)
{
	if (!cid_equal(&a->cid, &b->cid) || a->has_name != b->has_name ||
	    a->has_tsize != b->has_tsize || a->name_len != b->name_len)
		return false;
	if (a->name_len && memcmp(a->name, b->name, a->name_len))
		return false;
	return !a->has_tsize || a->tsize == b->tsize;
}

/* Build nodes by hand, encode, decode, compare. */
static void test_round_trip(void)
{
	struct pb_link links[4];
	struct pb_node n = {0}, d;
	struct errbuf e = {""};
	struct dynbuf b;
	size_t i;

	memset(links, 0, sizeof(links));
	for (i = 0; i < 4; i++)
		CHECK_EQ_INT(cid_for_block((int)(i & 1), i & 1 ? CID_CODEC_RAW : CID_CODEC_DAG_PB,
					   &i, sizeof(i), &links[i].cid),
			     0);
	links[0].name = (const uint8_t *)"first";
	links[0].name_len = 5;
	links[0].has_name = true;
	links[0].tsize = 1ULL << 40;
	links[0].has_tsize = true;
	links[1].has_name = true; /* empty name */
	links[2].tsize = UINT64_MAX;
	links[2].has_tsize = true;
	/* links[3]: Hash only */
	n.links = links;
	n.nlinks = 4;
	n.data = (const uint8_t *)"\x08\x02";
	n.data_len = 2;
	n.has_data = true;
	for (int with_data = 0; with_data < 2; with_data++) {
		n.has_data = with_data;
		dynbuf_init(&b, 4096);
		CHECK_EQ_INT(pb_encode(&n, &b), 0);
		CHECK_EQ_INT(pb_decode(b.data, b.len, &d, &e), 0);
		CHECK_EQ_INT(d.nlinks, 4);
		CHECK(d.has_data == n.has_data, "has_data round trip");
		if (with_data)
			CHECK(d.data_len == 2 && !memcmp(d.data, "\x08\x02", 2), "data round trip");
		for (i = 0; i < d.nlinks && i < 4; i++)
			CHECK(links_equal(&d.links[i], &links[i]), "link %zu round trip", i);
		check_encodes_to(&d, b.data, b.len, "re-encode");
		pb_node_free(&d);
		dynbuf_free(&b);
	}

	/* Output cap: -EFBIG and the buffer is left as it was. */
	dynbuf_init(&b, 20);
	dynbuf_append(&b, "xy", 2);
	CHECK_EQ_INT(pb_encode(&n, &b), -EFBIG);
	CHECK_EQ_INT(b.len, 2);
	dynbuf_free(&b);
}

/* Data before Links is accepted; re-encoding puts Links first. */
static void test_links_after_data(void)
{
	uint8_t buf[128], canon[128];
	struct pb_node n;
	struct errbuf e = {""};
	struct cid c;
	struct dynbuf b;
	size_t len = 0, clen = 0;

	CHECK_EQ_INT(cid_for_block(1, CID_CODEC_RAW, "x", 1, &c), 0);
	buf[len++] = 0x0a; /* Data = 08 02 */
	buf[len++] = 0x02;
	buf[len++] = 0x08;
	buf[len++] = 0x02;
	for (int i = 0; i < 2; i++) {
		buf[len++] = 0x12;
		buf[len++] = (uint8_t)(2 + c.len);
		buf[len++] = 0x0a;
		buf[len++] = (uint8_t)c.len;
		memcpy(buf + len, c.bin, c.len);
		len += c.len;
	}
	memcpy(canon, buf + 4, len - 4);
	memcpy(canon + len - 4, buf, 4);
	clen = len;
	CHECK_EQ_INT(pb_decode(buf, len, &n, &e), 0);
	CHECK(n.nlinks == 2 && n.has_data && n.data_len == 2, "links after data decoded");
	CHECK(n.nlinks == 2 && !n.links[1].has_name && !n.links[1].has_tsize, "hash-only link");
	dynbuf_init(&b, 4096);
	CHECK_EQ_INT(pb_encode(&n, &b), 0);
	CHECK(b.len == clen && !memcmp(b.data, canon, clen), "canonical order on encode");
	dynbuf_free(&b);
	pb_node_free(&n);
	CHECK_EQ_INT(pb_decode(canon, clen, &n, &e), 0);
	pb_node_free(&n);
}

/* Expect pb_decode to fail with -EINVAL and a message containing `sub`. */
static void bad(const uint8_t *buf, size_t len, const char *sub, int line)
{
	struct pb_node n;
	struct errbuf e = {""};
	int rc;

	memset(&n, 0x5a, sizeof(n));
	rc = pb_decode(buf, len, &n, &e);
	CHECK(rc == -EINVAL, "line %d: rc %d (%s)", line, rc, e.msg);
	CHECK(strstr(e.msg, sub) != NULL, "line %d: message \"%s\" lacks \"%s\"", line, e.msg, sub);
	CHECK(n.links == NULL && n.nlinks == 0, "line %d: out not cleared on error", line);
	if (rc == 0)
		pb_node_free(&n);
}

#define BAD(sub, ...)                                                                              \
	do {                                                                                       \
		static const uint8_t b_[] = {__VA_ARGS__};                                         \
		bad(b_, sizeof(b_), sub, __LINE__);                                                \
	} while (0)

/* Identity CID 01 55 00 00 (4 bytes) keeps hand-written links short. */
#define ID_CID	0x01, 0x55, 0x00, 0x00
#define ID_LINK 0x12, 0x06, 0x0a, 0x04, ID_CID

static void test_bad_node(void)
{
	BAD("duplicate Data field", 0x0a, 0x00, 0x0a, 0x00);
	BAD("Links on both sides of Data", ID_LINK, 0x0a, 0x00, ID_LINK);
	BAD("link 1 at byte 10", ID_LINK, 0x0a, 0x00, ID_LINK);
	BAD("unknown field 5", 0x28, 0x01);
	BAD("unknown field 5", 0x2d, 0x01, 0x02, 0x03, 0x04); /* fixed32 */
	BAD("unknown field 3", 0x19, 1, 2, 3, 4, 5, 6, 7, 8); /* fixed64 */
	BAD("unknown field 0", 0x02, 0x00);
	BAD("Data field has wire type 0", 0x08, 0x01);
	BAD("Links field has wire type 0", 0x10, 0x01);
	BAD("truncated length-delimited field at byte 0", 0x0a, 0x05, 0x01, 0x02);
	BAD("truncated length-delimited field at byte 2", 0x0a, 0x00, 0x12, 0x01);
	BAD("truncated field tag", 0x80);
	BAD("truncated varint", 0x0a);
	BAD("truncated varint", 0x0a, 0xff);
	BAD("malformed varint", 0x0a, 0x80, 0x00); /* non-minimal length */
	BAD("malformed field tag", 0x8a, 0x00, 0x00);
	BAD("unsupported wire type 3", 0x0b);
	BAD("unsupported wire type 4", 0x0c);
	BAD("truncated fixed-size field", 0x2d, 0x01);
	/* a huge length must not wrap the bounds check */
	BAD("truncated length-delimited", 0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0x01);
}

static void test_bad_links(void)
{
	BAD("link 0: Name before Hash", 0x12, 0x08, 0x12, 0x00, 0x0a, 0x04, ID_CID);
	BAD("link 0: Tsize before Name", 0x12, 0x0a, 0x0a, 0x04, ID_CID, 0x18, 0x01, 0x12, 0x00);
	BAD("link 0: Tsize before Hash", 0x12, 0x08, 0x18, 0x01, 0x0a, 0x04, ID_CID);
	BAD("link 0: duplicate Hash", 0x12, 0x0c, 0x0a, 0x04, ID_CID, 0x0a, 0x04, ID_CID);
	BAD("link 0: duplicate Name", 0x12, 0x0a, 0x0a, 0x04, ID_CID, 0x12, 0x00, 0x12, 0x00);
	BAD("link 0: duplicate Tsize", 0x12, 0x0a, 0x0a, 0x04, ID_CID, 0x18, 0x01, 0x18, 0x01);
	BAD("link 0: missing Hash", 0x12, 0x02, 0x12, 0x00);
	BAD("link 0: missing Hash", 0x12, 0x00);
	BAD("link 0: unknown field 4", 0x12, 0x08, 0x0a, 0x04, ID_CID, 0x20, 0x01);
	BAD("link 0: Tsize has wrong wire type 2", 0x12, 0x08, 0x0a, 0x04, ID_CID, 0x1a, 0x00);
	BAD("link 0: Hash has wrong wire type 0", 0x12, 0x02, 0x08, 0x01);
	BAD("link 0: Name has wrong wire type 0", 0x12, 0x08, 0x0a, 0x04, ID_CID, 0x10, 0x01);
	BAD("link 0: Hash", 0x12, 0x05, 0x0a, 0x03, 0x01, 0x55, 0x00);	     /* truncated CID */
	BAD("link 0: Hash", 0x12, 0x06, 0x0a, 0x04, 0x02, 0x55, 0x00, 0x00); /* version 2 */
	BAD("link 0: Hash has 1 bytes after the CID", 0x12, 0x07, 0x0a, 0x05, ID_CID, 0x00);
	BAD("link 2: Name before Hash", ID_LINK, ID_LINK, 0x12, 0x08, 0x12, 0x00, 0x0a, 0x04,
	    ID_CID);
	BAD("link 0: truncated length-delimited field at byte 2", 0x12, 0x02, 0x0a, 0x04);
	BAD("link 1: truncated varint", ID_LINK, 0x12, 0x07, 0x0a, 0x04, ID_CID, 0x18);
}

/* Link count limit: exactly DAGPB_MAX_LINKS decodes, one more does not. */
static void test_max_links(void)
{
	static const uint8_t link[] = {ID_LINK};
	size_t n = DAGPB_MAX_LINKS + 1, i;
	uint8_t *buf = malloc(n * sizeof(link));
	struct pb_node node;
	struct errbuf e = {""};

	if (!buf)
		abort();
	for (i = 0; i < n; i++)
		memcpy(buf + i * sizeof(link), link, sizeof(link));
	CHECK_EQ_INT(pb_decode(buf, (n - 1) * sizeof(link), &node, &e), 0);
	CHECK_EQ_INT(node.nlinks, DAGPB_MAX_LINKS);
	pb_node_free(&node);
	bad(buf, n * sizeof(link), "more than 65536 links", __LINE__);
	free(buf);
}

int main(void)
{
	test_hello_leaf();
	test_empty_nodes();
	test_kubo_file_v0();
	test_raw_leaves_and_dir();
	test_round_trip();
	test_links_after_data();
	test_bad_node();
	test_bad_links();
	test_max_links();
	return check_done("test_dagpb");
}
