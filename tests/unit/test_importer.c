/* test_importer: UnixFS importer vectors, layout structure and streaming invariance. */
/* deps: importer unixfs dagpb cid multibase multihash varint dynbuf errbuf */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dagpb.h"
#include "importer.h"
#include "multihash.h"
#include "unixfs.h"

#define MAXBLK 64

/* Records every block the importer emits. */
struct rec {
	size_t n;
	struct cid cids[MAXBLK];
	uint8_t *blocks[MAXBLK];
	size_t lens[MAXBLK];
	uint64_t total;	    /* bytes of all blocks */
	uint8_t digest[32]; /* running hash of the block sequence */
	struct mh_sha256 seq;
	int fail_at; /* return -EIO at this call (1-based), 0 never */
};

static int rec_fn(void *ctx, const struct cid *cid, const uint8_t *data, size_t len)
{
	struct rec *r = ctx;
	struct errbuf e;

	if (r->fail_at && (int)r->n + 1 == r->fail_at)
		return -EIO;
	CHECK(mh_verify(cid, data, len, &e) == 0, "block %zu does not verify: %s", r->n, e.msg);
	mh_sha256_update(&r->seq, cid->bin, cid->len);
	mh_sha256_update(&r->seq, data, len);
	if (r->n < MAXBLK) {
		r->cids[r->n] = *cid;
		r->blocks[r->n] = malloc(len ? len : 1);
		memcpy(r->blocks[r->n], data, len);
		r->lens[r->n] = len;
	}
	r->n++;
	r->total += len;
	return 0;
}

static void rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	mh_sha256_init(&r->seq);
}

static void rec_done(struct rec *r)
{
	size_t i;

	mh_sha256_final(&r->seq, r->digest);
	for (i = 0; i < r->n && i < MAXBLK; i++)
		free(r->blocks[i]);
}

static void params(struct imp_params *p, int v, bool raw, size_t cs, size_t ml)
{
	p->cid_version = v;
	p->raw_leaves = raw;
	p->chunk_size = cs;
	p->max_links = ml;
}

/* Import buf in pieces of `step` bytes (0 = one write). */
static int import_buf(const struct imp_params *p, const uint8_t *buf, size_t len, size_t step,
		      struct rec *r, struct imp_result *res)
{
	struct imp_file *f;
	size_t off = 0;
	int rc;

	rc = imp_file_new(p, rec_fn, r, &f);
	if (rc)
		return rc;
	while (!rc && off < len) {
		size_t n = step && step < len - off ? step : len - off;

		rc = imp_file_write(f, buf + off, n);
		off += n;
	}
	if (!rc)
		rc = imp_file_finish(f, res);
	imp_file_free(f);
	return rc;
}

static void check_cid(const struct cid *c, const char *want)
{
	char text[CID_MAX_TEXT];

	cid_format(c, text, sizeof(text));
	CHECK_EQ_STR(text, want);
}

static void test_hello(void)
{
	static const uint8_t leaf[] = {0x0a, 0x12, 0x08, 0x02, 0x12, 0x0c, 'h', 'e',  'l',  'l',
				       'o',  ' ',  'w',	 'o',  'r',  'l',  'd', '\n', 0x18, 0x0c};
	const char *hw = "hello world\n";
	struct imp_params p;
	struct imp_result res;
	struct rec r;

	imp_params_profile(&p, IMP_PROFILE_MODELPACK);
	rec_init(&r);
	CHECK_EQ_INT(import_buf(&p, (const uint8_t *)hw, 12, 0, &r, &res), 0);
	check_cid(&res.cid, "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4");
	CHECK_EQ_INT(r.n, 1);
	CHECK_EQ_INT(res.size, 12);
	CHECK_EQ_INT(res.tsize, 12);
	CHECK(r.lens[0] == 12 && !memcmp(r.blocks[0], hw, 12), "raw leaf is the content");
	rec_done(&r);

	imp_params_profile(&p, IMP_PROFILE_KUBO_V0);
	rec_init(&r);
	CHECK_EQ_INT(import_buf(&p, (const uint8_t *)hw, 12, 5, &r, &res), 0);
	check_cid(&res.cid, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
	CHECK_EQ_INT(r.n, 1);
	CHECK_EQ_INT(res.tsize, sizeof(leaf));
	CHECK(r.lens[0] == sizeof(leaf) && !memcmp(r.blocks[0], leaf, sizeof(leaf)),
	      "dag-pb leaf bytes");
	rec_done(&r);

	params(&p, 1, false, 262144, 174);
	rec_init(&r);
	CHECK_EQ_INT(import_buf(&p, (const uint8_t *)hw, 12, 0, &r, &res), 0);
	check_cid(&res.cid, "bafybeicg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mby");
	rec_done(&r);
}

static void test_empty(void)
{
	static const uint8_t node[] = {0x0a, 0x04, 0x08, 0x02, 0x18, 0x00};
	struct imp_params p;
	struct imp_result res;
	struct rec r;

	imp_params_profile(&p, IMP_PROFILE_KUBO_V1);
	rec_init(&r);
	CHECK_EQ_INT(import_buf(&p, NULL, 0, 0, &r, &res), 0);
	check_cid(&res.cid, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
	CHECK_EQ_INT(r.n, 1);
	CHECK_EQ_INT(res.size, 0);
	CHECK_EQ_INT(res.tsize, 0);
	rec_done(&r);

	imp_params_profile(&p, IMP_PROFILE_KUBO_V0);
	rec_init(&r);
	CHECK_EQ_INT(import_buf(&p, NULL, 0, 0, &r, &res), 0);
	check_cid(&res.cid, "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
	CHECK(r.lens[0] == sizeof(node) && !memcmp(r.blocks[0], node, sizeof(node)),
	      "empty dag-pb file node bytes");
	CHECK_EQ_INT(res.tsize, 6);
	rec_done(&r);

	params(&p, 1, false, 1024, 4);
	rec_init(&r);
	CHECK_EQ_INT(import_buf(&p, NULL, 0, 0, &r, &res), 0);
	check_cid(&res.cid, "bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y");
	rec_done(&r);
}

static void test_empty_dir(void)
{
	static const uint8_t node[] = {0x0a, 0x02, 0x08, 0x01};
	struct imp_params p;
	struct imp_result res;
	struct errbuf e;
	struct rec r;

	imp_params_profile(&p, IMP_PROFILE_KUBO_V0);
	rec_init(&r);
	CHECK_EQ_INT(imp_dir_build(&p, NULL, 0, rec_fn, &r, &res, &e), 0);
	check_cid(&res.cid, "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn");
	CHECK(r.n == 1 && r.lens[0] == 4 && !memcmp(r.blocks[0], node, 4), "empty dir bytes");
	CHECK_EQ_INT(res.tsize, 4);
	CHECK_EQ_INT(res.size, 0);
	rec_done(&r);

	imp_params_profile(&p, IMP_PROFILE_MODELPACK);
	rec_init(&r);
	CHECK_EQ_INT(imp_dir_build(&p, NULL, 0, rec_fn, &r, &res, &e), 0);
	check_cid(&res.cid, "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354");
	rec_done(&r);
}

/* Decode a file parent block and check its links and sizes. */
static void check_parent(const uint8_t *blk, size_t len, size_t nlinks, uint64_t filesize)
{
	struct pb_node pn;
	struct ufs_data d;
	struct errbuf e;
	uint64_t sum = 0;
	size_t i;

	if (pb_decode(blk, len, &pn, &e)) {
		CHECK(0, "parent does not decode: %s", e.msg);
		return;
	}
	CHECK_EQ_INT(pn.nlinks, nlinks);
	if (ufs_decode(pn.data, pn.data_len, &d, &e) == 0) {
		CHECK_EQ_INT(d.type, UFS_FILE);
		CHECK_EQ_INT(d.filesize, filesize);
		CHECK_EQ_INT(d.nblocksizes, nlinks);
		for (i = 0; i < d.nblocksizes; i++)
			sum += d.blocksizes[i];
		CHECK_EQ_INT(sum, filesize);
		ufs_data_free(&d);
	} else {
		CHECK(0, "parent data does not decode: %s", e.msg);
	}
	for (i = 0; i < pn.nlinks; i++)
		CHECK(pn.links[i].has_name && pn.links[i].name_len == 0 && pn.links[i].has_tsize,
		      "link %zu: empty Name and Tsize present", i);
	pb_node_free(&pn);
}

static void test_layout(void)
{
	uint8_t buf[10 * 7 + 3];
	struct imp_params p;
	struct imp_result res;
	struct rec r;
	size_t i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	/* exactly 3 chunks, fanout 4: one parent over 3 raw leaves */
	params(&p, 1, true, 10, 4);
	rec_init(&r);
	CHECK_EQ_INT(import_buf(&p, buf, 30, 0, &r, &res), 0);
	CHECK_EQ_INT(r.n, 4);
	CHECK_EQ_INT(res.size, 30);
	CHECK_EQ_INT(res.tsize, 30 + r.lens[3]);
	CHECK_EQ_INT(res.cid.codec, CID_CODEC_DAG_PB);
	check_parent(r.blocks[3], r.lens[3], 3, 30);
	rec_done(&r);

	/* 8 chunks (7 full + 3 bytes), fanout 4: two parents (4+4) and a root over them */
	rec_init(&r);
	CHECK_EQ_INT(import_buf(&p, buf, sizeof(buf), 0, &r, &res), 0);
	CHECK_EQ_INT(r.n, 8 + 2 + 1);
	check_parent(r.blocks[4], r.lens[4], 4, 40);
	check_parent(r.blocks[9], r.lens[9], 4, 33);
	check_parent(r.blocks[10], r.lens[10], 2, 73);
	CHECK(cid_equal(&res.cid, &r.cids[10]), "root is the last block");
	CHECK_EQ_INT(res.tsize, r.total);
	rec_done(&r);

	/* 5 chunks, fanout 4: a parent over 4, a parent over 1, a root over both */
	rec_init(&r);
	CHECK_EQ_INT(import_buf(&p, buf, 45, 0, &r, &res), 0);
	CHECK_EQ_INT(r.n, 5 + 2 + 1);
	check_parent(r.blocks[6], r.lens[6], 1, 5);
	check_parent(r.blocks[7], r.lens[7], 2, 45);
	CHECK_EQ_INT(res.tsize, r.total);
	rec_done(&r);
}

/* Any split of the input gives the same blocks in the same order. */
static void test_streaming(void)
{
	static const size_t steps[] = {0, 1, 2, 3, 7, 99, 100, 101, 4096};
	size_t len = 37 * 100 + 51, i;
	uint8_t *buf = malloc(len), ref[32];
	struct imp_params p;
	struct imp_result res, first;
	struct rec r;
	int pass;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(rand() & 0xff);
	for (pass = 0; pass < 2; pass++) {
		params(&p, pass, pass == 1, 100, 3);
		for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
			rec_init(&r);
			CHECK_EQ_INT(import_buf(&p, buf, len, steps[i], &r, &res), 0);
			rec_done(&r);
			CHECK_EQ_INT(res.size, len);
			CHECK_EQ_INT(res.tsize, r.total);
			if (i == 0) {
				first = res;
				memcpy(ref, r.digest, 32);
				continue;
			}
			CHECK(cid_equal(&res.cid, &first.cid), "step %zu: root differs", steps[i]);
			CHECK(!memcmp(ref, r.digest, 32), "step %zu: block sequence differs",
			      steps[i]);
		}
	}
	free(buf);
}

static void test_params(void)
{
	struct imp_params p;
	struct imp_file *f = NULL;
	struct errbuf e;
	struct rec r;

	imp_params_profile(&p, IMP_PROFILE_MODELPACK);
	CHECK(p.cid_version == 1 && p.raw_leaves && p.chunk_size == 1048576 && p.max_links == 1024,
	      "modelpack profile");
	imp_params_profile(&p, IMP_PROFILE_KUBO_V0);
	CHECK(p.cid_version == 0 && !p.raw_leaves && p.chunk_size == 262144 && p.max_links == 174,
	      "kubo profile");
	imp_params_profile(&p, IMP_PROFILE_KUBO_V1);
	CHECK(p.cid_version == 1 && p.raw_leaves && p.chunk_size == 262144 && p.max_links == 174,
	      "kubo-v1 profile");
	CHECK_EQ_INT(imp_params_check(&p, &e), 0);

	params(&p, 0, true, 1024, 4);
	CHECK_EQ_INT(imp_params_check(&p, &e), -EINVAL);
	CHECK(strstr(e.msg, "raw leaves"), "%s", e.msg);
	CHECK_EQ_INT(imp_file_new(&p, rec_fn, &r, &f), -EINVAL);
	CHECK(f == NULL, "no file on error");
	params(&p, 2, true, 1024, 4);
	CHECK_EQ_INT(imp_params_check(&p, &e), -EINVAL);
	CHECK(strstr(e.msg, "CID version"), "%s", e.msg);
	params(&p, 1, true, 0, 4);
	CHECK_EQ_INT(imp_params_check(&p, &e), -EINVAL);
	CHECK(strstr(e.msg, "chunk size"), "%s", e.msg);
	params(&p, 1, true, IMP_CHUNK_MAX + 1, 4);
	CHECK_EQ_INT(imp_params_check(&p, &e), -EINVAL);
	params(&p, 1, true, IMP_CHUNK_MAX, 4);
	CHECK_EQ_INT(imp_params_check(&p, &e), 0);
	params(&p, 1, true, 1024, 1);
	CHECK_EQ_INT(imp_params_check(&p, &e), -EINVAL);
	CHECK(strstr(e.msg, "max links"), "%s", e.msg);
	params(&p, 1, true, 1024, 8193);
	CHECK_EQ_INT(imp_params_check(&p, &e), -EINVAL);
	params(&p, 1, false, 1, 2);
	CHECK_EQ_INT(imp_params_check(&p, &e), 0);
}

static void test_errors(void)
{
	uint8_t buf[100] = {1};
	struct imp_params p;
	struct imp_file *f;
	struct imp_result res;
	struct rec r;

	params(&p, 1, true, 10, 2);
	rec_init(&r);
	r.fail_at = 3;
	CHECK_EQ_INT(imp_file_new(&p, rec_fn, &r, &f), 0);
	CHECK_EQ_INT(imp_file_write(f, buf, 19), 0);
	CHECK_EQ_INT(imp_file_write(f, buf, 1), -EIO); /* the parent of leaves 1-2 fails */
	CHECK_EQ_INT(imp_file_write(f, buf, 1), -EIO); /* sticky */
	CHECK_EQ_INT(imp_file_finish(f, &res), -EIO);
	imp_file_free(f);
	rec_done(&r);

	rec_init(&r);
	CHECK_EQ_INT(imp_file_new(&p, rec_fn, &r, &f), 0);
	CHECK_EQ_INT(imp_file_finish(f, &res), 0);
	CHECK_EQ_INT(imp_file_finish(f, &res), -EINVAL);
	CHECK_EQ_INT(imp_file_write(f, buf, 1), -EINVAL);
	imp_file_free(f);
	imp_file_free(NULL);
	rec_done(&r);
}

static void test_dir(void)
{
	struct imp_dirent ents[3];
	struct imp_params p;
	struct imp_result res, leaf;
	struct pb_node pn;
	struct errbuf e;
	struct rec r;

	imp_params_profile(&p, IMP_PROFILE_KUBO_V1);
	rec_init(&r);
	CHECK_EQ_INT(import_buf(&p, (const uint8_t *)"test", 4, 0, &r, &leaf), 0);
	check_cid(&leaf.cid, "bafkreie7q3iidccmpvszul7kudcvvuavuo7u6gzlbobczuk5nqk3b4akba");
	ents[0] = (struct imp_dirent){"b", leaf};
	ents[1] = (struct imp_dirent){"a.txt", leaf};
	ents[2] = (struct imp_dirent){"a", leaf};
	CHECK_EQ_INT(imp_dir_build(&p, ents, 3, rec_fn, &r, &res, &e), 0);
	CHECK_EQ_STR(ents[0].name, "a");
	CHECK_EQ_STR(ents[1].name, "a.txt");
	CHECK_EQ_INT(res.tsize, r.lens[1] + 3 * 4);
	if (pb_decode(r.blocks[1], r.lens[1], &pn, &e) == 0) {
		CHECK_EQ_INT(pn.nlinks, 3);
		CHECK(pn.nlinks == 3 && pn.links[2].name_len == 1 && pn.links[2].name[0] == 'b' &&
			  pn.links[2].tsize == 4,
		      "third link is b");
		CHECK(pn.data_len == 2 && pn.data[0] == 0x08 && pn.data[1] == 0x01,
		      "directory data 08 01");
		pb_node_free(&pn);
	} else {
		CHECK(0, "dir node does not decode: %s", e.msg);
	}

	ents[1].name = "a";
	CHECK_EQ_INT(imp_dir_build(&p, ents, 3, rec_fn, &r, &res, &e), -EINVAL);
	CHECK(strstr(e.msg, "duplicate"), "%s", e.msg);
	ents[1].name = "x/y";
	CHECK_EQ_INT(imp_dir_build(&p, ents, 3, rec_fn, &r, &res, &e), -EINVAL);
	CHECK(strstr(e.msg, "'/'"), "%s", e.msg);
	ents[1].name = "";
	CHECK_EQ_INT(imp_dir_build(&p, ents, 3, rec_fn, &r, &res, &e), -EINVAL);
	CHECK(strstr(e.msg, "empty"), "%s", e.msg);
	rec_done(&r);
}

static void test_symlink(void)
{
	static const uint8_t node[] = {0x0a, 0x0a, 0x08, 0x04, 0x12, 0x06,
				       't',  'a',  'r',	 'g',  'e',  't'};
	struct imp_params p;
	struct imp_result res;
	struct rec r;

	imp_params_profile(&p, IMP_PROFILE_KUBO_V0);
	rec_init(&r);
	CHECK_EQ_INT(imp_symlink_build(&p, "target", rec_fn, &r, &res), 0);
	CHECK(r.n == 1 && r.lens[0] == sizeof(node) && !memcmp(r.blocks[0], node, sizeof(node)),
	      "symlink node bytes");
	CHECK_EQ_INT(res.tsize, sizeof(node));
	CHECK_EQ_INT(res.cid.version, 0);
	rec_done(&r);
}

struct hamt_count {
	bool hamt; /* check HAMT link names */
	size_t blocks, leaves, shards;
	struct cid last;
	uint8_t *last_block;
	size_t last_len;
};

static int hamt_fn(void *ctx, const struct cid *cid, const uint8_t *data, size_t len)
{
	struct hamt_count *h = ctx;
	struct pb_node pn;
	struct errbuf e;
	size_t i;

	h->blocks++;
	if (h->hamt && pb_decode(data, len, &pn, &e) == 0) {
		for (i = 0; i < pn.nlinks; i++) {
			CHECK(pn.links[i].name_len >= 2 && isxdigit(pn.links[i].name[0]) &&
				  !islower(pn.links[i].name[0]) && !islower(pn.links[i].name[1]),
			      "link name starts with 2 uppercase hex digits");
			CHECK(i == 0 || memcmp(pn.links[i - 1].name, pn.links[i].name, 2) < 0,
			      "links in slot order");
			if (pn.links[i].name_len == 2)
				h->shards++;
			else
				h->leaves++;
		}
		pb_node_free(&pn);
	}
	free(h->last_block);
	h->last = *cid;
	h->last_block = malloc(len);
	memcpy(h->last_block, data, len);
	h->last_len = len;
	return 0;
}

/* Past 256 KiB of estimated links a directory becomes a HAMT (fanout 256). */
static void test_hamt(void)
{
	enum { N = 1100 };
	static char names[N][256];
	struct imp_dirent *ents = calloc(N, sizeof(*ents));
	struct hamt_count h = {.hamt = true};
	struct imp_params p;
	struct imp_result leaf, res;
	struct unode *u;
	struct errbuf e;
	struct rec r;
	size_t i;

	imp_params_profile(&p, IMP_PROFILE_KUBO_V0);
	rec_init(&r);
	CHECK_EQ_INT(import_buf(&p, (const uint8_t *)"x", 1, 0, &r, &leaf), 0);
	rec_done(&r);
	for (i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "%05zu-%0*d", i, 230, 0);
		ents[i] = (struct imp_dirent){names[i], leaf};
	}
	/* 1100 * (236 + 34) > 262144 */
	CHECK_EQ_INT(imp_dir_build(&p, ents, N, hamt_fn, &h, &res, &e), 0);
	CHECK_EQ_INT(h.leaves, N);
	CHECK_EQ_INT(h.shards, h.blocks - 1);
	CHECK(cid_equal(&h.last, &res.cid), "root shard emitted last");
	if (unode_parse(&res.cid, h.last_block, h.last_len, &u, &e) == 0) {
		CHECK_EQ_INT(u->kind, UNODE_HAMT);
		CHECK_EQ_INT(u->fanout, 256);
		unode_free(u);
	} else {
		CHECK(0, "HAMT root does not parse: %s", e.msg);
	}
	free(h.last_block);
	/* one entry fewer than the threshold stays flat */
	memset(&h, 0, sizeof(h));
	CHECK_EQ_INT(imp_dir_build(&p, ents, 262144 / 270, hamt_fn, &h, &res, &e), 0);
	CHECK_EQ_INT(h.blocks, 1);
	free(h.last_block);
	free(ents);
}

int main(void)
{
	test_hello();
	test_empty();
	test_empty_dir();
	test_layout();
	test_streaming();
	test_params();
	test_errors();
	test_dir();
	test_symlink();
	test_hamt();
	return check_done("test_importer");
}
