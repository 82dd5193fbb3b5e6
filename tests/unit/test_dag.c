/* test_dag: UnixFS file reads, extents, directories (flat and HAMT) and path
 * resolution over a store opened offline on a temporary cache seeded by hand. */
/* clang-format off */
/* deps: dag store carsrc car cache cache_pages cache_pin cache_scrub cache_write fetch fetch_net manifest unixfs dagpb cid multibase multihash varint dynbuf errbuf log */
/* clang-format on */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dag.h"
#include "log.h"
#include "manifest.h"
#include "multihash.h"

static struct store *S;

#include "seeded_store.h"

static struct cid raw_leaf(const char *s)
{
	return put_block(CID_CODEC_RAW, s, strlen(s), 1);
}

/* File (or Raw) node with inline data and children of the given sizes. */
static struct cid file_node(int type, const char *data, const struct cid *kids,
			    const uint64_t *sizes, size_t n, int put)
{
	struct ufs_data u = {0};
	size_t i;

	u.type = type;
	if (data) {
		u.data = (const uint8_t *)data;
		u.data_len = strlen(data);
		u.has_data = true;
	}
	u.blocksizes = (uint64_t *)sizes;
	u.nblocksizes = n;
	u.filesize = u.data_len;
	for (i = 0; i < n; i++)
		u.filesize += sizes[i];
	u.has_filesize = true;
	return pb_node_put(&u, kids, NULL, n, put);
}

static int open_file(const struct cid *c, struct dag_file **f, struct errbuf *e)
{
	return dag_file_open(S, c, NULL, f, e);
}

static void check_read(struct dag_file *f, uint64_t off, size_t len, const char *want)
{
	char buf[256];
	struct errbuf e = {{0}};
	ssize_t got;

	memset(buf, 0, sizeof(buf));
	got = dag_file_read(f, off, len, buf, NULL, &e);
	CHECK(got == (ssize_t)strlen(want) && !memcmp(buf, want, strlen(want)),
	      "read(%llu, %zu) = %zd '%.*s', want '%s' (%s)", (unsigned long long)off, len, got,
	      got > 0 ? (int)got : 0, buf, want, e.msg);
}

/* Every (off, len) window of the file against the expected content. */
static void check_all_windows(struct dag_file *f, const char *want)
{
	size_t n = strlen(want), off, len;
	char sub[256];

	for (off = 0; off <= n; off++)
		for (len = 0; len <= n - off + 2; len++) {
			size_t k = off + len > n ? n - off : len;

			memcpy(sub, want + off, k);
			sub[k] = '\0';
			check_read(f, off, len, sub);
		}
}

static void test_raw_children_and_inline(void)
{
	struct cid kids[3] = {raw_leaf("abc"), raw_leaf("defg"), raw_leaf("hijklmnop")};
	uint64_t sizes[3] = {3, 4, 9};
	struct dag_extent x[8];
	struct dag_file *f;
	struct errbuf e;
	struct cid root = file_node(UFS_FILE, "HEAD", kids, sizes, 3, 1);
	int n;

	CHECK_EQ_INT(open_file(&root, &f, &e), 0);
	CHECK_EQ_INT(dag_file_size(f), 20);
	CHECK(cid_equal(dag_file_cid(f), &root), "dag_file_cid");
	n = dag_file_extents(f, 0, 20, x, 8, NULL, &e);
	CHECK_EQ_INT(n, 4);
	CHECK(x[0].inline_data && cid_equal(&x[0].leaf, &root) && x[0].len == 4 &&
		  x[0].file_off == 0 && x[0].leaf_data_off > 0,
	      "inline extent");
	CHECK(!x[1].inline_data && cid_equal(&x[1].leaf, &kids[0]) && x[1].file_off == 4 &&
		  x[1].len == 3 && x[1].leaf_data_off == 0,
	      "raw extent 1");
	CHECK(x[3].file_off == 11 && x[3].len == 9, "raw extent 3");
	n = dag_file_extents(f, 8, 1, x, 8, NULL, &e); /* one byte inside "defg" */
	CHECK(n == 1 && cid_equal(&x[0].leaf, &kids[1]) && x[0].file_off == 7, "extent at 8");
	n = dag_file_extents(f, 5, 100, x, 2, NULL, &e); /* max respected */
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(dag_file_extents(f, 20, 5, x, 8, NULL, &e), 0);
	check_all_windows(f, "HEADabcdefghijklmnop");
	dag_file_free(f);
}

static void test_dagpb_leaves_and_nesting(void)
{
	struct cid l1 = file_node(UFS_FILE, "hello ", NULL, NULL, 0, 1);
	struct cid l2 = file_node(UFS_RAW, "wor", NULL, NULL, 0, 1);
	struct cid l3 = raw_leaf("ld");
	struct cid l4 = file_node(UFS_RAW, "!!", NULL, NULL, 0, 1);
	struct cid mid_kids[2] = {l2, l3};
	uint64_t mid_sizes[2] = {3, 2};
	struct cid mid = file_node(UFS_FILE, NULL, mid_kids, mid_sizes, 2, 1);
	struct cid empty = raw_leaf("");
	struct cid kids[4] = {l1, mid, empty, l4};
	uint64_t sizes[4] = {6, 5, 0, 2};
	struct cid root = file_node(UFS_FILE, NULL, kids, sizes, 4, 1);
	struct dag_extent x[8];
	struct dag_file *f;
	struct errbuf e;
	int n;

	CHECK_EQ_INT(open_file(&root, &f, &e), 0);
	CHECK_EQ_INT(dag_file_size(f), 13);
	n = dag_file_extents(f, 0, 13, x, 8, NULL, &e);
	CHECK_EQ_INT(n, 4); /* the empty child yields nothing */
	CHECK(cid_equal(&x[0].leaf, &l1) && x[0].leaf_data_off > 0 && !x[0].inline_data,
	      "dag-pb leaf extent wraps its data");
	CHECK(cid_equal(&x[2].leaf, &l3) && x[2].file_off == 9 && x[2].len == 2, "nested raw");
	check_all_windows(f, "hello world!!");
	dag_file_free(f);

	/* a one-block dag-pb file and a one-block raw file */
	CHECK_EQ_INT(open_file(&l1, &f, &e), 0);
	check_all_windows(f, "hello ");
	dag_file_free(f);
	CHECK_EQ_INT(open_file(&l3, &f, &e), 0);
	check_read(f, 0, 10, "ld");
	dag_file_free(f);
}

static void test_size_mismatch(void)
{
	struct cid kids[2] = {raw_leaf("12345"), raw_leaf("6789")};
	uint64_t lie[2] = {5, 5};
	struct cid root = file_node(UFS_FILE, NULL, kids, lie, 2, 1);
	struct cid inner_kids[1] = {raw_leaf("xy")};
	uint64_t inner_size[1] = {2};
	struct cid inner = file_node(UFS_FILE, NULL, inner_kids, inner_size, 1, 1);
	uint64_t outer_lie[1] = {3};
	struct cid outer = file_node(UFS_FILE, NULL, &inner, outer_lie, 1, 1);
	struct dag_extent x[4];
	struct dag_file *f;
	struct errbuf e;
	char buf[16];

	CHECK_EQ_INT(open_file(&root, &f, &e), 0);
	check_read(f, 0, 5, "12345");
	CHECK_EQ_INT(dag_file_read(f, 0, 10, buf, NULL, &e), -EIO);
	CHECK(strstr(e.msg, "is 4 bytes, parent says 5") != NULL, "msg: %s", e.msg);
	dag_file_free(f);

	CHECK_EQ_INT(open_file(&outer, &f, &e), 0);
	CHECK_EQ_INT(dag_file_extents(f, 0, 3, x, 4, NULL, &e), -EIO);
	CHECK(strstr(e.msg, "child 0 is 2 bytes, parent says 3") != NULL, "msg: %s", e.msg);
	CHECK_EQ_INT(dag_file_read(f, 0, 3, buf, NULL, &e), -EIO);
	dag_file_free(f);
}

static void test_missing_and_kinds(void)
{
	struct cid gone = put_block(CID_CODEC_RAW, "not stored", 10, 0);
	uint64_t sz[1] = {10};
	struct cid root = file_node(UFS_FILE, NULL, &gone, sz, 1, 1);
	struct cid absent_root = file_node(UFS_FILE, "zz", NULL, NULL, 0, 0);
	struct ufs_data u = {.type = UFS_DIRECTORY};
	struct cid dir = pb_node_put(&u, NULL, NULL, 0, 1);
	struct ufs_data sl = {
	    .type = UFS_SYMLINK, .data = (const uint8_t *)"t", .data_len = 1, .has_data = true};
	struct cid link = pb_node_put(&sl, NULL, NULL, 0, 1);
	struct dag_file *f;
	struct errbuf e;
	char buf[16];

	CHECK_EQ_INT(open_file(&root, &f, &e), 0);
	CHECK_EQ_INT(dag_file_read(f, 0, 10, buf, NULL, &e), -ENOENT);
	CHECK(strstr(e.msg, cid_str(&gone)) != NULL, "names the missing block: %s", e.msg);
	dag_file_free(f);
	CHECK_EQ_INT(open_file(&absent_root, &f, &e), -ENOENT);
	CHECK_EQ_INT(open_file(&dir, &f, &e), -EISDIR);
	CHECK(strstr(e.msg, "directory") != NULL, "msg: %s", e.msg);
	CHECK_EQ_INT(open_file(&link, &f, &e), -EINVAL);
	CHECK(strstr(e.msg, "symlink") != NULL, "msg: %s", e.msg);
}

static void test_depth_cap(void)
{
	struct cid c = raw_leaf("x");
	uint64_t one[1] = {1};
	struct dag_file *f;
	struct errbuf e;
	char buf[2];
	int i;

	for (i = 0; i < DAG_MAX_DEPTH + 3; i++)
		c = file_node(UFS_FILE, NULL, &c, one, 1, 1);
	CHECK_EQ_INT(open_file(&c, &f, &e), 0);
	CHECK_EQ_INT(dag_file_read(f, 0, 1, buf, NULL, &e), -EIO);
	CHECK(strstr(e.msg, "deeper") != NULL, "msg: %s", e.msg);
	dag_file_free(f);
}

struct reader_arg {
	struct dag_file *f;
	const char *want;
	int bad;
};

static void *reader_main(void *p)
{
	struct reader_arg *a = p;
	size_t n = strlen(a->want), off, len;
	char buf[256];
	int round;

	for (round = 0; round < 20; round++)
		for (off = 0; off < n; off += 3) {
			len = (off * 7 + round) % (n - off) + 1;
			if (dag_file_read(a->f, off, len, buf, NULL, NULL) != (ssize_t)len ||
			    memcmp(buf, a->want + off, len))
				a->bad++;
		}
	return NULL;
}

static void test_threads(void)
{
	struct cid leaves[6], mids[2], root;
	uint64_t ls[3] = {4, 4, 4}, ms[2] = {12, 12};
	const char *parts[6] = {"aaaa", "bbbb", "cccc", "dddd", "eeee", "ffff"};
	struct reader_arg a[4];
	pthread_t t[4];
	struct dag_file *f;
	struct errbuf e;
	int i;

	for (i = 0; i < 6; i++)
		leaves[i] = file_node(UFS_RAW, parts[i], NULL, NULL, 0, 1);
	mids[0] = file_node(UFS_FILE, NULL, leaves, ls, 3, 1);
	mids[1] = file_node(UFS_FILE, NULL, leaves + 3, ls, 3, 1);
	root = file_node(UFS_FILE, NULL, mids, ms, 2, 1);
	CHECK_EQ_INT(open_file(&root, &f, &e), 0);
	for (i = 0; i < 4; i++) {
		a[i] = (struct reader_arg){f, "aaaabbbbccccddddeeeeffff", 0};
		pthread_create(&t[i], NULL, reader_main, &a[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ_INT(a[i].bad, 0);
	}
	dag_file_free(f);
}

static void test_slurp(void)
{
	struct cid kids[2] = {raw_leaf("0123"), raw_leaf("4567")};
	uint64_t sz[2] = {4, 4};
	struct cid root = file_node(UFS_FILE, NULL, kids, sz, 2, 1);
	struct errbuf e;
	uint8_t *buf;
	size_t len;

	CHECK_EQ_INT(dag_file_slurp(S, &root, 8, NULL, &buf, &len, &e), 0);
	CHECK(len == 8 && !memcmp(buf, "01234567", 8) && buf[8] == 0, "slurp");
	free(buf);
	CHECK_EQ_INT(dag_file_slurp(S, &root, 7, NULL, &buf, &len, &e), -EFBIG);
	CHECK(buf == NULL && strstr(e.msg, "limit 7") != NULL, "msg: %s", e.msg);
}

/* ---- directories ---- */

struct listing {
	char names[64][64];
	struct cid cids[64];
	int n;
	int stop_at; /* return 7 at this entry (0 = never) */
};

static int collect(void *ctx, const char *name, const struct cid *cid, uint64_t tsize)
{
	struct listing *l = ctx;

	(void)tsize;
	if (l->n < 64) {
		snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
		l->cids[l->n] = *cid;
	}
	l->n++;
	return l->stop_at && l->n == l->stop_at ? 7 : 0;
}

static int listing_has(const struct listing *l, const char *name, const struct cid *c)
{
	int i;

	for (i = 0; i < l->n && i < 64; i++)
		if (!strcmp(l->names[i], name))
			return cid_equal(&l->cids[i], c);
	return 0;
}

static struct cid dir_node(const char *const *names, const struct cid *kids, size_t n)
{
	struct ufs_data u = {.type = UFS_DIRECTORY};

	return pb_node_put(&u, kids, names, n, 1);
}

static struct cid file_a, file_b, subdir, topdir;

static void test_dirs(void)
{
	const char *sub_names[2] = {"a.bin", "b.txt"};
	const char *top_names[2] = {"readme", "sub"};
	struct cid sub_kids[2], top_kids[2], got;
	struct listing l = {0};
	struct errbuf e;

	file_a = raw_leaf("AAAA");
	file_b = raw_leaf("BBBB");
	sub_kids[0] = file_a;
	sub_kids[1] = file_b;
	subdir = dir_node(sub_names, sub_kids, 2);
	top_kids[0] = raw_leaf("read me");
	top_kids[1] = subdir;
	topdir = dir_node(top_names, top_kids, 2);

	CHECK_EQ_INT(dag_dir_list(S, &topdir, NULL, collect, &l, &e), 0);
	CHECK(l.n == 2 && listing_has(&l, "readme", &top_kids[0]) &&
		  listing_has(&l, "sub", &subdir),
	      "flat listing (%d entries)", l.n);
	memset(&l, 0, sizeof(l));
	l.stop_at = 1;
	CHECK_EQ_INT(dag_dir_list(S, &topdir, NULL, collect, &l, &e), 7);
	CHECK_EQ_INT(l.n, 1);
	CHECK_EQ_INT(dag_dir_lookup(S, &subdir, "b.txt", NULL, &got, &e), 0);
	CHECK(cid_equal(&got, &file_b), "lookup b.txt");
	CHECK_EQ_INT(dag_dir_lookup(S, &subdir, "c.txt", NULL, &got, &e), -ENOENT);
	CHECK(strstr(e.msg, "c.txt") != NULL, "msg: %s", e.msg);
	CHECK_EQ_INT(dag_dir_lookup(S, &subdir, "..", NULL, &got, &e), -EINVAL);
	CHECK_EQ_INT(dag_dir_lookup(S, &subdir, "x/y", NULL, &got, &e), -EINVAL);
	CHECK_EQ_INT(dag_dir_lookup(S, &file_a, "x", NULL, &got, &e), -ENOTDIR);
	CHECK_EQ_INT(dag_dir_list(S, &file_a, NULL, collect, &l, &e), -ENOTDIR);
	CHECK(strstr(e.msg, "not a directory") != NULL, "msg: %s", e.msg);
}

/* ---- HAMT, built the way the JS importer does (verified against it by
 * tests/oracle/trickle.mjs in the integration tests) ---- */

#define HN 40
static char hnames[HN][24];
static struct cid hcids[HN];

static unsigned hamt_index(const char *name, int level, int bits)
{
	uint64_t h = hamt_hash(name, strlen(name));

	return (unsigned)((h >> (64 - (level + 1) * bits)) & ((1u << bits) - 1));
}

/* A shard over the entries idx[0..n) at this level (fanout 16: one hex digit). */
static struct cid hamt_build(const int *idx, int n, int level, const char *hostile)
{
	struct ufs_data u = {.type = UFS_HAMT,
			     .has_data = true,
			     .hash_type = 0x22,
			     .has_hash_type = true,
			     .fanout = 16,
			     .has_fanout = true};
	char lnames[HN + 1][24];
	const char *lp[HN + 1];
	struct cid kids[HN + 1];
	uint8_t bitfield[2] = {0, 0};
	int bucket, i, nl = 0, sub[HN], ns;

	for (bucket = 0; bucket < 16; bucket++) {
		for (ns = 0, i = 0; i < n; i++)
			if ((int)hamt_index(hnames[idx[i]], level, 4) == bucket)
				sub[ns++] = idx[i];
		if (ns == 0)
			continue;
		bitfield[1 - bucket / 8] |= (uint8_t)(1u << (bucket % 8));
		if (ns == 1) {
			snprintf(lnames[nl], sizeof(lnames[0]), "%X%s", bucket, hnames[sub[0]]);
			kids[nl] = hcids[sub[0]];
		} else {
			snprintf(lnames[nl], sizeof(lnames[0]), "%X", bucket);
			kids[nl] = hamt_build(sub, ns, level + 1, NULL);
		}
		lp[nl] = lnames[nl];
		nl++;
	}
	if (hostile) { /* an extra entry whose name is unusable: listing skips it */
		snprintf(lnames[nl], sizeof(lnames[0]), "%s", hostile);
		lp[nl] = lnames[nl];
		kids[nl] = hcids[0];
		bitfield[0] |= 0x80; /* keep popcount == links (any free bit) */
		nl++;
	}
	u.data = bitfield;
	u.data_len = 2;
	return pb_node_put(&u, kids, lp, (size_t)nl, 1);
}

static struct cid hamt_root;

static void test_hamt(void)
{
	int idx[HN], i, found = 0, deep = 0;
	struct listing l = {0};
	struct errbuf e;
	struct cid got;
	char c;

	for (i = 0; i < HN; i++) {
		snprintf(hnames[i], sizeof(hnames[0]), "f%02d.bin", i % 100);
		hcids[i] = raw_leaf(hnames[i]);
		idx[i] = i;
		if (hamt_index(hnames[i], 0, 4) == hamt_index(hnames[(i + 1) % HN], 0, 4))
			deep++;
	}
	CHECK(deep > 0, "40 names in 16 buckets must collide (sub-shards exercised)");
	/* the bitfield bit for bucket 15 is free only if no name lands there */
	for (i = 0, c = 0; i < HN; i++)
		if (hamt_index(hnames[i], 0, 4) == 15)
			c = 1;
	hamt_root = hamt_build(idx, HN, 0, c ? NULL : "F..");
	CHECK_EQ_INT(dag_dir_list(S, &hamt_root, NULL, collect, &l, &e), 0);
	CHECK_EQ_INT(l.n, HN);
	for (i = 0; i < HN; i++)
		found += listing_has(&l, hnames[i], &hcids[i]);
	CHECK_EQ_INT(found, HN);
	for (i = 0; i < HN; i++) {
		CHECK(dag_dir_lookup(S, &hamt_root, hnames[i], NULL, &got, &e) == 0 &&
			  cid_equal(&got, &hcids[i]),
		      "HAMT lookup %s: %s", hnames[i], e.msg);
	}
	CHECK_EQ_INT(dag_dir_lookup(S, &hamt_root, "missing.bin", NULL, &got, &e), -ENOENT);
	CHECK_EQ_INT(dag_dir_lookup(S, &hamt_root, "f99.bin", NULL, &got, &e), -ENOENT);
}

/* ---- paths ---- */

static void test_resolve(void)
{
	char path[1024], json[2048], sha[72];
	uint8_t digest[32];
	struct cid got, manifest, notjson, kids[2];
	const char *names[2] = {"model", "notes"};
	struct cid top;
	struct errbuf e;

	mh_sha256("AAAA", 4, digest);
	manifest_format_sha256(digest, sha);
	snprintf(json, sizeof(json),
		 "{\"modelpack\": 1, \"name\": \"t\", \"shards\": [{\"filename\": "
		 "\"weights/a.bin\", \"cid\": \"%s\", \"sha256\": \"%s\", \"size\": 4}]}",
		 cid_str(&file_a), sha);
	manifest = raw_leaf(json);
	notjson = raw_leaf("just some text");
	kids[0] = manifest;
	kids[1] = notjson;
	top = dir_node(names, kids, 2);

	snprintf(path, sizeof(path), "%s/sub/a.bin", cid_str(&topdir));
	CHECK(dag_resolve(S, path, NULL, &got, &e) == 0 && cid_equal(&got, &file_a), "%s: %s", path,
	      e.msg);
	snprintf(path, sizeof(path), "/ipfs/%s/sub", cid_str(&topdir));
	CHECK(dag_resolve(S, path, NULL, &got, &e) == 0 && cid_equal(&got, &subdir), "%s", e.msg);
	CHECK(dag_resolve(S, cid_str(&file_b), NULL, &got, &e) == 0 && cid_equal(&got, &file_b),
	      "bare CID");
	snprintf(path, sizeof(path), "%s/weights/a.bin", cid_str(&manifest));
	CHECK(dag_resolve(S, path, NULL, &got, &e) == 0 && cid_equal(&got, &file_a),
	      "through a manifest: %s", e.msg);
	snprintf(path, sizeof(path), "%s/model/weights/a.bin", cid_str(&top));
	CHECK(dag_resolve(S, path, NULL, &got, &e) == 0 && cid_equal(&got, &file_a),
	      "directory then manifest: %s", e.msg);
	snprintf(path, sizeof(path), "%s/%s", cid_str(&hamt_root), hnames[7]);
	CHECK(dag_resolve(S, path, NULL, &got, &e) == 0 && cid_equal(&got, &hcids[7]),
	      "through a HAMT: %s", e.msg);
	snprintf(path, sizeof(path), "%s/weights/b.bin", cid_str(&manifest));
	CHECK_EQ_INT(dag_resolve(S, path, NULL, &got, &e), -ENOENT);
	CHECK(strstr(e.msg, "weights/b.bin") != NULL, "msg: %s", e.msg);
	snprintf(path, sizeof(path), "%s/notes/x", cid_str(&top));
	CHECK_EQ_INT(dag_resolve(S, path, NULL, &got, &e), -ENOTDIR);
	snprintf(path, sizeof(path), "%s/sub/a.bin/x", cid_str(&topdir));
	CHECK_EQ_INT(dag_resolve(S, path, NULL, &got, &e), -ENOTDIR);
	snprintf(path, sizeof(path), "%s/sub/nope", cid_str(&topdir));
	CHECK_EQ_INT(dag_resolve(S, path, NULL, &got, &e), -ENOENT);
	snprintf(path, sizeof(path), "%s/sub/../sub", cid_str(&topdir));
	CHECK_EQ_INT(dag_resolve(S, path, NULL, &got, &e), -EINVAL);
	CHECK(strstr(e.msg, "'..'") != NULL, "msg: %s", e.msg);
	snprintf(path, sizeof(path), "%s/./sub", cid_str(&topdir));
	CHECK_EQ_INT(dag_resolve(S, path, NULL, &got, &e), -EINVAL);
	snprintf(path, sizeof(path), "%s//sub", cid_str(&topdir));
	CHECK_EQ_INT(dag_resolve(S, path, NULL, &got, &e), -EINVAL);
	snprintf(path, sizeof(path), "%s/sub/", cid_str(&topdir));
	CHECK_EQ_INT(dag_resolve(S, path, NULL, &got, &e), -EINVAL);
	CHECK_EQ_INT(dag_resolve(S, "notacid/x", NULL, &got, &e), -EINVAL);
	CHECK_EQ_INT(dag_resolve(S, "", NULL, &got, &e), -EINVAL);
}

int main(void)
{
	char dir[] = "/tmp/test_dag.XXXXXX";

	if (!seeded_store_open(dir, "test_dag"))
		return check_done("test_dag");
	test_raw_children_and_inline();
	test_dagpb_leaves_and_nesting();
	test_size_mismatch();
	test_missing_and_kinds();
	test_depth_cap();
	test_threads();
	test_slurp();
	test_dirs();
	test_hamt();
	test_resolve();
	seeded_store_close(dir);
	return check_done("test_dag");
}
