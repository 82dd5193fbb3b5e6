/* test_unixfs: UnixFS Data codec, unode_parse validation, child lookup, and the HAMT hash. */
/* deps: unixfs dagpb cid multibase multihash varint errbuf dynbuf */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cid.h"
#include "dagpb.h"
#include "dynbuf.h"
#include "unixfs.h"

/* Root block of 'abcdefghij' in 4-byte chunks with dag-pb leaves (CIDv0), from
 * ipfs-unixfs-importer 17 (node, cwd tests/): importer([{path:'f', content}], bs,
 * {cidVersion:0, rawLeaves:false, chunker:fixedSize({chunkSize:4})}). */
static const char FILE_V0_HEX[] =
    "12280a22122077b751cb5c0d7d3a0b00aeac45ecda55bb94d850f7bf2fd67c239606041825e0120018"
    "0c12280a2212201141168365795fa8ab9937d284b7d609ea00836ea15cbd5ca851603540e75f7012"
    "00180c12280a221220bc8fa75a4b63ecc3fa0bad4daddb2502efda5b29c0824dcdba881664b6de44d3"
    "1200180a0a0a0802180a200420042002";
/* A HAMT root: importer([{path:'h/a'}, {path:'h/hello'}, {path:'h/model.safetensors'}], bs,
 * {cidVersion:1, rawLeaves:true, shardSplitThresholdBytes:1}). */
static const char HAMT_HEX[] =
    "122d0a2401551220559aead08264d5795d3909718cdd05abd49572e84fe55590eef31a88a08fdffd12"
    "03383561180112310a2401551220fc686c314491e1f68bf1899fc54b2327353c44dd1ab4ed56538ef6"
    "23edd1e8661207434268656c6c6f1802123d0a24015512206b23c0d5f35d1b11f9b683f0b0a617355d"
    "eb11277d91ae091d399c655b87940d121345316d6f64656c2e7361666574656e736f727318010a2608"
    "05121d02000008000000000000000020000000000000000000000000000000002822308002";

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s) / 2, i;
	unsigned v;

	if (n > cap)
		abort();
	for (i = 0; i < n; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			abort();
		out[i] = (uint8_t)v;
	}
	return n;
}

/* ---- ufs_decode / ufs_encode ---- */

static void test_ufs_hello(void)
{
	static const uint8_t d[] = {0x08, 0x02, 0x12, 0x0c, 'h', 'e', 'l',  'l',  'o',
				    ' ',  'w',	'o',  'r',  'l', 'd', '\n', 0x18, 0x0c};
	struct ufs_data u;
	struct errbuf e = {""};
	struct dynbuf b;

	CHECK_EQ_INT(ufs_decode(d, sizeof(d), &u, &e), 0);
	CHECK_EQ_INT(u.type, UFS_FILE);
	CHECK(u.has_data && u.data == d + 4 && u.data_len == 12, "hello data");
	CHECK(u.has_filesize && u.filesize == 12, "hello filesize");
	CHECK(!u.has_mode && !u.has_mtime && !u.has_fanout && !u.has_hash_type, "absent fields");
	CHECK_EQ_INT(u.nblocksizes, 0);
	dynbuf_init(&b, 1024);
	CHECK_EQ_INT(ufs_encode(&u, &b), 0);
	CHECK(b.len == sizeof(d) && !memcmp(b.data, d, sizeof(d)), "hello re-encodes");
	dynbuf_free(&b);
	ufs_data_free(&u);
}

static void ufs_round_trip(const struct ufs_data *in, const char *what)
{
	struct ufs_data u;
	struct errbuf e = {""};
	struct dynbuf b;
	size_t i;

	dynbuf_init(&b, 1 << 20);
	CHECK_EQ_INT(ufs_encode(in, &b), 0);
	CHECK(ufs_decode(b.data, b.len, &u, &e) == 0, "%s: decode: %s", what, e.msg);
	CHECK(u.type == in->type && u.has_data == in->has_data && u.data_len == in->data_len,
	      "%s: type/data", what);
	CHECK(u.has_filesize == in->has_filesize && u.filesize == in->filesize, "%s: size", what);
	CHECK(u.nblocksizes == in->nblocksizes, "%s: nblocksizes", what);
	for (i = 0; i < u.nblocksizes && i < in->nblocksizes; i++)
		CHECK(u.blocksizes[i] == in->blocksizes[i], "%s: blocksize %zu", what, i);
	CHECK(u.has_hash_type == in->has_hash_type && u.hash_type == in->hash_type, "%s: ht", what);
	CHECK(u.has_fanout == in->has_fanout && u.fanout == in->fanout, "%s: fanout", what);
	CHECK(u.has_mode == in->has_mode && u.mode == in->mode, "%s: mode", what);
	CHECK(u.has_mtime == in->has_mtime && u.mtime_sec == in->mtime_sec &&
		  u.mtime_nsec == in->mtime_nsec,
	      "%s: mtime %lld.%u", what, (long long)u.mtime_sec, u.mtime_nsec);
	ufs_data_free(&u);
	dynbuf_free(&b);
}

static void test_ufs_round_trips(void)
{
	uint64_t bs[] = {262144, 0, UINT64_MAX, 7};
	struct ufs_data d;

	memset(&d, 0, sizeof(d));
	d.type = UFS_FILE;
	d.data = (const uint8_t *)"xy";
	d.data_len = 2;
	d.has_data = true;
	d.filesize = 1ULL << 50;
	d.has_filesize = true;
	d.blocksizes = bs;
	d.nblocksizes = 4;
	d.mode = 0755;
	d.has_mode = true;
	d.mtime_sec = -1;
	d.mtime_nsec = 999999999;
	d.has_mtime = true;
	ufs_round_trip(&d, "file with everything");
	d.mtime_sec = INT64_MIN;
	d.mtime_nsec = 0;
	ufs_round_trip(&d, "mtime min, no nanos");
	d.mtime_sec = 1700000000;
	ufs_round_trip(&d, "mtime positive");

	memset(&d, 0, sizeof(d));
	d.type = UFS_HAMT;
	d.hash_type = 0x22;
	d.has_hash_type = true;
	d.fanout = 256;
	d.has_fanout = true;
	ufs_round_trip(&d, "hamt");
	d.type = UFS_RAW;
	d.has_hash_type = d.has_fanout = false;
	d.hash_type = d.fanout = 0;
	ufs_round_trip(&d, "bare raw");
}

static void test_ufs_encode_bytes(void)
{
	static const uint8_t want[] = {0x08, 0x02, 0x18, 0x09, 0x20, 0x04, 0x20, 0x05, 0x38, 0xa4,
				       0x03, 0x42, 0x07, 0x08, 0x05, 0x15, 0x06, 0x00, 0x00, 0x00};
	uint64_t bs[] = {4, 5};
	struct ufs_data d;
	struct dynbuf b;

	memset(&d, 0, sizeof(d));
	d.type = UFS_FILE;
	d.filesize = 9;
	d.has_filesize = true;
	d.blocksizes = bs;
	d.nblocksizes = 2;
	d.mode = 0644;
	d.has_mode = true;
	d.mtime_sec = 5;
	d.mtime_nsec = 6;
	d.has_mtime = true;
	dynbuf_init(&b, 1024);
	CHECK_EQ_INT(ufs_encode(&d, &b), 0);
	CHECK(b.len == sizeof(want) && !memcmp(b.data, want, sizeof(want)),
	      "fields in number order, blocksizes unpacked (%zu bytes)", b.len);
	dynbuf_free(&b);
	dynbuf_init(&b, 5); /* too small: -EFBIG, buffer unchanged */
	CHECK_EQ_INT(ufs_encode(&d, &b), -EFBIG);
	CHECK_EQ_INT(b.len, 0);
	dynbuf_free(&b);
}

static void test_ufs_packed_and_mtime(void)
{
	/* packed 22 03 [4, 300] then unpacked 20 07: order preserved */
	static const uint8_t p[] = {0x08, 0x02, 0x22, 0x03, 0x04, 0xac, 0x02, 0x20, 0x07};
	/* mtime Seconds = -1 (10-byte varint), nanos 500 */
	static const uint8_t m[] = {0x08, 0x01, 0x42, 0x10, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
				    0xff, 0xff, 0xff, 0xff, 0x01, 0x15, 0xf4, 0x01, 0x00, 0x00};
	static const uint8_t empty_mtime[] = {0x08, 0x01, 0x42, 0x00};
	struct ufs_data u;
	struct errbuf e = {""};

	CHECK_EQ_INT(ufs_decode(p, sizeof(p), &u, &e), 0);
	CHECK_EQ_INT(u.nblocksizes, 3);
	if (u.nblocksizes == 3)
		CHECK(u.blocksizes[0] == 4 && u.blocksizes[1] == 300 && u.blocksizes[2] == 7,
		      "packed blocksizes");
	ufs_data_free(&u);
	CHECK_EQ_INT(ufs_decode(m, sizeof(m), &u, &e), 0);
	CHECK(u.has_mtime && u.mtime_sec == -1 && u.mtime_nsec == 500, "negative mtime");
	ufs_data_free(&u);
	CHECK_EQ_INT(ufs_decode(empty_mtime, sizeof(empty_mtime), &u, &e), 0);
	CHECK(u.has_mtime && u.mtime_sec == 0 && u.mtime_nsec == 0, "empty mtime = epoch");
	ufs_data_free(&u);
}

static void ufs_bad(const uint8_t *buf, size_t len, const char *sub, int line)
{
	struct ufs_data u;
	struct errbuf e = {""};
	int rc;

	rc = ufs_decode(buf, len, &u, &e);
	CHECK(rc == -EINVAL, "line %d: rc %d (%s)", line, rc, e.msg);
	CHECK(strstr(e.msg, sub) != NULL, "line %d: \"%s\" lacks \"%s\"", line, e.msg, sub);
	CHECK(u.blocksizes == NULL, "line %d: not cleared", line);
	if (rc == 0)
		ufs_data_free(&u);
}

#define UBAD(sub, ...)                                                                             \
	do {                                                                                       \
		static const uint8_t b_[] = {__VA_ARGS__};                                         \
		ufs_bad(b_, sizeof(b_), sub, __LINE__);                                            \
	} while (0)

static void test_ufs_bad(void)
{
	uint8_t *big;
	size_t i, n = DAGPB_MAX_LINKS + 1;

	ufs_bad(NULL, 0, "missing Type", __LINE__);
	UBAD("missing Type", 0x18, 0x00);
	UBAD("unknown field 9", 0x08, 0x02, 0x48, 0x01);
	UBAD("unknown field 0", 0x08, 0x02, 0x02, 0x00);
	UBAD("Type field has wire type 2", 0x0a, 0x00);
	UBAD("Data field has wire type 0", 0x08, 0x02, 0x10, 0x01);
	UBAD("filesize field has wire type 5", 0x08, 0x02, 0x1d, 0, 0, 0, 0);
	UBAD("blocksizes field has wire type 1", 0x08, 0x02, 0x21, 0, 0, 0, 0, 0, 0, 0, 0);
	UBAD("mtime field has wire type 0", 0x08, 0x02, 0x40, 0x01);
	UBAD("duplicate Type", 0x08, 0x02, 0x08, 0x02);
	UBAD("duplicate Data", 0x08, 0x02, 0x12, 0x00, 0x12, 0x00);
	UBAD("duplicate filesize", 0x08, 0x02, 0x18, 0x00, 0x18, 0x00);
	UBAD("duplicate mtime", 0x08, 0x02, 0x42, 0x00, 0x42, 0x00);
	UBAD("Type 2147483648 out of range", 0x08, 0x80, 0x80, 0x80, 0x80, 0x08);
	UBAD("mode 4294967296 out of range", 0x08, 0x02, 0x38, 0x80, 0x80, 0x80, 0x80, 0x10);
	UBAD("truncated length-delimited field at byte 2", 0x08, 0x02, 0x12, 0x05, 'a');
	UBAD("truncated varint", 0x08);
	UBAD("bad varint in packed blocksizes", 0x08, 0x02, 0x22, 0x01, 0x80);
	UBAD("bad varint in packed blocksizes", 0x08, 0x02, 0x22, 0x02, 0x80, 0x00);
	UBAD("nanoseconds 1000000000 >= 1e9", 0x08, 0x02, 0x42, 0x07, 0x08, 0x01, 0x15, 0x00, 0xca,
	     0x9a, 0x3b);
	UBAD("mtime: unknown field 3", 0x08, 0x02, 0x42, 0x02, 0x18, 0x01);
	UBAD("mtime: FractionalNanoseconds has wire type 0", 0x08, 0x02, 0x42, 0x02, 0x10, 0x01);
	UBAD("mtime: Seconds has wire type 5", 0x08, 0x02, 0x42, 0x05, 0x0d, 0, 0, 0, 0);
	UBAD("mtime: field 1 duplicated or out of order", 0x08, 0x02, 0x42, 0x04, 0x08, 0x01, 0x08,
	     0x01);
	UBAD("mtime: field 1 duplicated or out of order", 0x08, 0x02, 0x42, 0x07, 0x15, 0, 0, 0, 0,
	     0x08, 0x01);
	UBAD("mtime: truncated fixed-size field", 0x08, 0x02, 0x42, 0x03, 0x15, 0x00, 0x00);

	/* blocksizes count limit, unpacked and packed */
	big = malloc(2 + 2 * n + 8);
	if (!big)
		abort();
	big[0] = 0x08;
	big[1] = 0x02;
	for (i = 0; i < n; i++) {
		big[2 + 2 * i] = 0x20;
		big[3 + 2 * i] = 0x01;
	}
	ufs_bad(big, 2 + 2 * n, "more than 65536 blocksizes", __LINE__);
	big[2] = 0x22; /* packed: 22 <len n varint> 01 x n */
	big[3] = (uint8_t)(0x80 | (n & 0x7f));
	big[4] = (uint8_t)(0x80 | ((n >> 7) & 0x7f));
	big[5] = (uint8_t)(n >> 14);
	memset(big + 6, 0x01, n);
	ufs_bad(big, 6 + n, "more than 65536 blocksizes", __LINE__);
	free(big);
}

/* ---- unode_parse ---- */

struct fixture_link {
	const char *name; /* NULL: no Name field */
	uint64_t tsize;
};

/* Encode a dag-pb node whose Data is the UnixFS message u and whose links
 * point at distinct raw blocks. Returns the block (malloc'd) and its length. */
static uint8_t *make_node(const struct ufs_data *u, size_t nlinks, const char *const *names,
			  size_t *len)
{
	struct pb_link links[8];
	struct pb_node n;
	struct dynbuf data, blk;
	size_t i;

	if (nlinks > 8)
		abort();
	memset(links, 0, sizeof(links));
	for (i = 0; i < nlinks; i++) {
		if (cid_for_block(1, CID_CODEC_RAW, &i, sizeof(i), &links[i].cid))
			abort();
		links[i].has_name = true;
		links[i].name = (const uint8_t *)(names ? names[i] : "");
		links[i].name_len = strlen((const char *)links[i].name);
	}
	dynbuf_init(&data, 1 << 20);
	dynbuf_init(&blk, 1 << 20);
	if (u && ufs_encode(u, &data))
		abort();
	memset(&n, 0, sizeof(n));
	n.links = links;
	n.nlinks = nlinks;
	n.data = data.data;
	n.data_len = data.len;
	n.has_data = u != NULL;
	if (pb_encode(&n, &blk))
		abort();
	dynbuf_free(&data);
	return dynbuf_take(&blk, len);
}

static int parse_pb(const uint8_t *b, size_t len, struct unode **out, struct errbuf *e)
{
	struct cid c;

	if (cid_for_block(1, CID_CODEC_DAG_PB, b, len, &c))
		abort();
	return unode_parse(&c, b, len, out, e);
}

static void test_unode_hello(void)
{
	static const uint8_t blk[] = {0x0a, 0x12, 0x08, 0x02, 0x12, 0x0c, 'h', 'e',  'l',  'l',
				      'o',  ' ',  'w',	'o',  'r',  'l',  'd', '\n', 0x18, 0x0c};
	struct unode *n = NULL;
	struct errbuf e = {""};
	struct cid c;
	char txt[CID_MAX_TEXT];

	CHECK_EQ_INT(cid_parse("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o", 46, &c, &e), 0);
	CHECK_EQ_INT(unode_parse(&c, blk, sizeof(blk), &n, &e), 0);
	if (!n)
		return;
	CHECK_EQ_INT(n->kind, UNODE_FILE);
	CHECK_EQ_INT(n->size, 12);
	CHECK(n->data_len == 12 && !memcmp(n->data, "hello world\n", 12), "hello data");
	CHECK(n->data == n->block + 6, "data borrowed from the node's own copy");
	CHECK(n->block != blk && n->block_len == sizeof(blk), "block copied");
	CHECK(n->pb.nlinks == 0 && n->offsets == NULL, "leaf has no links");
	CHECK(n->mode == 0 && !n->has_mtime && n->mtime == 0, "no metadata");
	cid_format(&n->cid, txt, sizeof(txt));
	CHECK_EQ_STR(txt, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
	CHECK_EQ_INT(unode_child_at(n, 0), -ERANGE);
	unode_free(n);
	unode_free(NULL);
}

static void test_unode_raw_and_empty(void)
{
	static const uint8_t dir[] = {0x0a, 0x02, 0x08, 0x01};
	static const uint8_t file[] = {0x0a, 0x04, 0x08, 0x02, 0x18, 0x00};
	struct unode *n = NULL;
	struct errbuf e = {""};
	struct cid c;

	CHECK_EQ_INT(cid_for_block(1, CID_CODEC_RAW, "hello world\n", 12, &c), 0);
	CHECK_EQ_INT(unode_parse(&c, (const uint8_t *)"hello world\n", 12, &n, &e), 0);
	if (n) {
		CHECK(n->kind == UNODE_FILE && n->size == 12 && n->data == n->block &&
			  n->data_len == 12 && n->pb.nlinks == 0,
		      "raw leaf is a file of the whole block");
		unode_free(n);
	}
	CHECK_EQ_INT(unode_parse(&c, NULL, 0, &n, &e), 0); /* empty raw block */
	if (n) {
		CHECK(n->kind == UNODE_FILE && n->size == 0, "empty raw leaf");
		unode_free(n);
	}
	CHECK_EQ_INT(parse_pb(dir, sizeof(dir), &n, &e), 0);
	if (n) {
		CHECK(n->kind == UNODE_DIR && n->size == 0 && n->pb.nlinks == 0, "empty dir");
		unode_free(n);
	}
	CHECK_EQ_INT(parse_pb(file, sizeof(file), &n, &e), 0);
	if (n) {
		CHECK(n->kind == UNODE_FILE && n->size == 0 && n->data_len == 0, "empty file");
		unode_free(n);
	}
}

static void test_unode_kubo_file(void)
{
	uint8_t blk[512];
	size_t len = unhex(FILE_V0_HEX, blk, sizeof(blk));
	struct unode *n = NULL;
	struct errbuf e = {""};

	CHECK(parse_pb(blk, len, &n, &e) == 0, "kubo file: %s", e.msg);
	if (!n)
		return;
	CHECK(n->kind == UNODE_FILE && n->size == 10 && n->data_len == 0, "kubo file view");
	CHECK_EQ_INT(n->pb.nlinks, 3);
	CHECK(n->offsets && n->offsets[0] == 0 && n->offsets[1] == 4 && n->offsets[2] == 8 &&
		  n->offsets[3] == 10,
	      "offsets");
	CHECK_EQ_INT(unode_child_at(n, 0), 0);
	CHECK_EQ_INT(unode_child_at(n, 3), 0);
	CHECK_EQ_INT(unode_child_at(n, 4), 1);
	CHECK_EQ_INT(unode_child_at(n, 7), 1);
	CHECK_EQ_INT(unode_child_at(n, 8), 2);
	CHECK_EQ_INT(unode_child_at(n, 9), 2);
	CHECK_EQ_INT(unode_child_at(n, 10), -ERANGE);
	CHECK_EQ_INT(unode_child_at(n, UINT64_MAX), -ERANGE);
	unode_free(n);
}

/* Inline data plus children, one of them empty. */
static void test_unode_inline_and_empty_child(void)
{
	uint64_t bs[] = {3, 0, 5};
	struct ufs_data u = {.type = UFS_RAW,
			     .data = (const uint8_t *)"xy",
			     .data_len = 2,
			     .has_data = true,
			     .filesize = 10,
			     .has_filesize = true,
			     .blocksizes = bs,
			     .nblocksizes = 3,
			     .mode = 0640,
			     .has_mode = true,
			     .mtime_sec = 1234,
			     .mtime_nsec = 5,
			     .has_mtime = true};
	struct unode *n = NULL;
	struct errbuf e = {""};
	size_t len;
	uint8_t *blk = make_node(&u, 3, NULL, &len);

	CHECK(parse_pb(blk, len, &n, &e) == 0, "inline: %s", e.msg);
	free(blk);
	if (!n)
		return;
	CHECK(n->kind == UNODE_FILE && n->size == 10, "Type Raw reads as a file");
	CHECK(n->data_len == 2 && !memcmp(n->data, "xy", 2), "inline data");
	CHECK(n->data >= n->block && n->data + n->data_len <= n->block + n->block_len,
	      "inline data points into the copy");
	CHECK(n->offsets[0] == 2 && n->offsets[1] == 5 && n->offsets[2] == 5 && n->offsets[3] == 10,
	      "offsets with an empty child");
	CHECK(n->mode == 0640 && n->has_mtime && n->mtime == 1234, "mode and mtime copied");
	CHECK_EQ_INT(unode_child_at(n, 0), -ERANGE);
	CHECK_EQ_INT(unode_child_at(n, 1), -ERANGE);
	CHECK_EQ_INT(unode_child_at(n, 2), 0);
	CHECK_EQ_INT(unode_child_at(n, 4), 0);
	CHECK_EQ_INT(unode_child_at(n, 5), 2);
	CHECK_EQ_INT(unode_child_at(n, 9), 2);
	CHECK_EQ_INT(unode_child_at(n, 10), -ERANGE);
	unode_free(n);
}

static void test_unode_dir_symlink(void)
{
	static const char *const names[] = {"a.txt", "b"};
	struct ufs_data u = {.type = UFS_DIRECTORY};
	struct unode *n = NULL;
	struct errbuf e = {""};
	size_t len;
	uint8_t *blk = make_node(&u, 2, names, &len);

	CHECK(parse_pb(blk, len, &n, &e) == 0, "dir: %s", e.msg);
	free(blk);
	if (n) {
		CHECK(n->kind == UNODE_DIR && n->pb.nlinks == 2 && n->size == 0, "dir view");
		CHECK(n->pb.links[0].name >= n->block, "names borrowed from the copy");
		unode_free(n);
	}
	u.type = UFS_SYMLINK;
	u.data = (const uint8_t *)"../target";
	u.data_len = 9;
	u.has_data = true;
	blk = make_node(&u, 0, NULL, &len);
	CHECK(parse_pb(blk, len, &n, &e) == 0, "symlink: %s", e.msg);
	free(blk);
	if (n) {
		CHECK(n->kind == UNODE_SYMLINK && n->size == 9 && n->data_len == 9 &&
			  !memcmp(n->data, "../target", 9),
		      "symlink target");
		unode_free(n);
	}
}

static void test_unode_hamt(void)
{
	uint8_t blk[512];
	size_t len = unhex(HAMT_HEX, blk, sizeof(blk)), i;
	struct unode *n = NULL;
	struct errbuf e = {""};

	CHECK(parse_pb(blk, len, &n, &e) == 0, "hamt: %s", e.msg);
	if (!n)
		return;
	CHECK(n->kind == UNODE_HAMT && n->fanout == 256 && n->bitfield_len == 29, "hamt view");
	CHECK_EQ_INT(n->pb.nlinks, 3);
	/* Each link name is 2 hex digits of the bucket, then the entry name. The bucket is
	 * the top 8 bits of hamt_hash(name), and the bitfield (big-endian) has it set. */
	for (i = 0; i < n->pb.nlinks; i++) {
		const struct pb_link *l = &n->pb.links[i];
		char hex[3];
		unsigned bucket, want;
		size_t byte;

		CHECK(l->name_len > 2, "hamt link %zu name", i);
		if (l->name_len <= 2)
			continue;
		memcpy(hex, l->name, 2);
		hex[2] = 0;
		sscanf(hex, "%2X", &bucket);
		want = (unsigned)(hamt_hash(l->name + 2, l->name_len - 2) >> 56);
		CHECK(bucket == want, "link %zu bucket %02X, hash says %02X", i, bucket, want);
		byte = n->bitfield_len - 1 - want / 8;
		CHECK(want / 8 < n->bitfield_len && (n->bitfield[byte] >> (want % 8) & 1),
		      "bucket %u set in the big-endian bitfield", want);
	}
	unode_free(n);
}

/* Expect unode_parse of a dag-pb block to fail with `code` and message `sub`. */
static void unode_bad(const uint8_t *blk, size_t len, int code, const char *sub, int line)
{
	struct unode *n = (struct unode *)&n; /* must be reset to NULL */
	struct errbuf e = {""};
	int rc = parse_pb(blk, len, &n, &e);

	CHECK(rc == code, "line %d: rc %d, want %d (%s)", line, rc, code, e.msg);
	CHECK(strstr(e.msg, sub) != NULL, "line %d: \"%s\" lacks \"%s\"", line, e.msg, sub);
	CHECK(n == NULL, "line %d: *out not NULL on error", line);
	if (rc == 0)
		unode_free(n);
}

static void bad_node(const struct ufs_data *u, size_t nlinks, const char *const *names, int code,
		     const char *sub, int line)
{
	size_t len;
	uint8_t *blk = make_node(u, nlinks, names, &len);

	unode_bad(blk, len, code, sub, line);
	free(blk);
}

static void test_unode_bad_files(void)
{
	uint64_t bs[] = {4, 4, 2}, huge[] = {UINT64_MAX, 2};
	struct ufs_data u = {.type = UFS_FILE,
			     .filesize = 10,
			     .has_filesize = true,
			     .blocksizes = bs,
			     .nblocksizes = 3};

	bad_node(&u, 2, NULL, -EINVAL, "file has 2 links but 3 blocksizes", __LINE__);
	bad_node(&u, 0, NULL, -EINVAL, "file has 0 links but 3 blocksizes", __LINE__);
	u.filesize = 11;
	bad_node(&u, 3, NULL, -EINVAL, "filesize 11 != data length + sum of blocksizes 10",
		 __LINE__);
	u.has_filesize = false;
	u.filesize = 0;
	bad_node(&u, 3, NULL, -EINVAL, "file with links has no filesize", __LINE__);
	u.blocksizes = huge;
	u.nblocksizes = 2;
	u.has_filesize = true;
	u.filesize = 1;
	bad_node(&u, 2, NULL, -EINVAL, "blocksizes overflow at child 1", __LINE__);
	u.data = (const uint8_t *)"z";
	u.data_len = 1;
	u.has_data = true;
	u.blocksizes = huge;
	u.nblocksizes = 1;
	u.filesize = 0;
	bad_node(&u, 1, NULL, -EINVAL, "blocksizes overflow at child 0", __LINE__);
	u.nblocksizes = 0;
	u.filesize = 2;
	bad_node(&u, 0, NULL, -EINVAL, "leaf filesize 2 != data length 1", __LINE__);
	bad_node(NULL, 0, NULL, -EINVAL, "dag-pb node has no UnixFS Data", __LINE__);
	u.type = UFS_METADATA;
	bad_node(&u, 0, NULL, -ENOTSUP, "Metadata", __LINE__);
	u.type = 9;
	bad_node(&u, 0, NULL, -EINVAL, "unknown node Type 9", __LINE__);
	u.type = UFS_SYMLINK;
	bad_node(&u, 1, NULL, -EINVAL, "symlink node has 1 links", __LINE__);
}

static void test_unode_bad_dirs(void)
{
	static const char *const dotdot[] = {"ok", ".."}, *const dot[] = {"."},
				 *const slash[] = {"a/b"}, *const empty[] = {""};
	struct ufs_data u = {.type = UFS_DIRECTORY};
	struct ufs_data h = {.type = UFS_HAMT,
			     .hash_type = 0x22,
			     .has_hash_type = true,
			     .fanout = 256,
			     .has_fanout = true,
			     .data = (const uint8_t *)"\x01\x80",
			     .data_len = 2,
			     .has_data = true};
	static const uint8_t raw[] = {0x0a, 0x02, 0x08, 0x01};
	struct unode *n = NULL;
	struct errbuf e = {""};
	struct cid c;
	size_t len;
	uint8_t *blk;

	bad_node(&u, 2, dotdot, -EINVAL, "directory link 1 has an unsafe name", __LINE__);
	bad_node(&u, 1, dot, -EINVAL, "directory link 0 has an unsafe name", __LINE__);
	bad_node(&u, 1, slash, -EINVAL, "unsafe name", __LINE__);
	bad_node(&u, 1, empty, -EINVAL, "directory link 0 has no name", __LINE__);

	blk = make_node(&h, 2, NULL, &len); /* valid: two bits set, two links */
	CHECK(parse_pb(blk, len, &n, &e) == 0, "hamt ok: %s", e.msg);
	free(blk);
	unode_free(n);
	bad_node(&h, 1, NULL, -EINVAL, "HAMT bitfield has 2 bits set but 1 links", __LINE__);
	h.fanout = 1024;
	blk = make_node(&h, 2, NULL, &len);
	CHECK(parse_pb(blk, len, &n, &e) == 0, "hamt fanout 1024: %s", e.msg);
	free(blk);
	unode_free(n);
	h.fanout = 2048;
	bad_node(&h, 2, NULL, -EINVAL, "fanout 2048 is not a power of two", __LINE__);
	h.fanout = 255;
	bad_node(&h, 2, NULL, -EINVAL, "fanout 255", __LINE__);
	h.fanout = 1;
	bad_node(&h, 2, NULL, -EINVAL, "fanout 1", __LINE__);
	h.has_fanout = false;
	bad_node(&h, 2, NULL, -EINVAL, "fanout 0", __LINE__);
	h.has_fanout = true;
	h.fanout = 256;
	h.hash_type = 0x23;
	bad_node(&h, 2, NULL, -EINVAL, "HAMT hashType 0x23, want 0x22", __LINE__);
	h.has_hash_type = false;
	bad_node(&h, 2, NULL, -EINVAL, "HAMT hashType missing", __LINE__);

	/* pb and ufs errors propagate; other codecs are not UnixFS */
	unode_bad((const uint8_t *)"\x0a\x00\x0a\x00", 4, -EINVAL, "duplicate Data", __LINE__);
	unode_bad((const uint8_t *)"\x0a\x02\x18\x01", 4, -EINVAL, "missing Type", __LINE__);
	CHECK_EQ_INT(cid_for_block(1, CID_CODEC_DAG_CBOR, raw, sizeof(raw), &c), 0);
	n = (struct unode *)&c;
	CHECK_EQ_INT(unode_parse(&c, raw, sizeof(raw), &n, &e), -ENOTSUP);
	CHECK(strstr(e.msg, "unsupported codec 0x71") != NULL, "codec message: %s", e.msg);
	CHECK(n == NULL, "out cleared");
}

/* ---- hamt_hash ---- */

/* Vectors from @multiformats/murmur3 (tests/node_modules), cwd tests/:
 *   node -e "import('@multiformats/murmur3').then(async m => console.log(Buffer.from(
 *     await m.murmur364.encode(new TextEncoder().encode(S))).toString('hex')))"
 * The first 8 digest bytes read big-endian; ipfs-unixfs-importer's HAMT consumes
 * bits of those same bytes MSB-first (it reverses them, and hamt-sharding reads
 * the reversed buffer from the end). */
static void test_hamt_hash(void)
{
	static const struct {
		const char *s;
		uint64_t h;
	} v[] = {
	    {"", 0x0000000000000000ULL},
	    {"a", 0x85555565f6597889ULL},
	    {"hello", 0xcbd8a7b341bd9b02ULL},
	    {"model.safetensors", 0xe1379ead7c02b0d5ULL},
	    {"0123456789abcde", 0xa62dd5f6c0bf2351ULL},
	    {"0123456789abcdef", 0x4be06d94cf4ad1a7ULL},
	    {"tokenizer_config.json0123456789ab", 0x0c677a5982e74367ULL},
	    {"the quick brown fox jumps over the lazy dog", 0xbce4e9fee2ad86b3ULL},
	};
	static const uint8_t bytes[] = {0x80, 0xff, 0x00, 0xfe, 0x7f, 0x81, 0xc3, 0xa9, 0x01};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint64_t h = hamt_hash(v[i].s, strlen(v[i].s));

		CHECK(h == v[i].h, "hamt_hash(\"%s\") = %016llx, want %016llx", v[i].s,
		      (unsigned long long)h, (unsigned long long)v[i].h);
	}
	CHECK(hamt_hash(bytes, sizeof(bytes)) == 0xbf1fde5bab5ba78aULL, "high bytes");
}

int main(void)
{
	test_ufs_hello();
	test_ufs_round_trips();
	test_ufs_encode_bytes();
	test_ufs_packed_and_mtime();
	test_ufs_bad();
	test_unode_hello();
	test_unode_raw_and_empty();
	test_unode_kubo_file();
	test_unode_inline_and_empty_child();
	test_unode_dir_symlink();
	test_unode_hamt();
	test_unode_bad_files();
	test_unode_bad_dirs();
	test_hamt_hash();
	return check_done("test_unixfs");
}
