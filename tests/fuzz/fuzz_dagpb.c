/* fuzz_dagpb: pb_decode/pb_encode round trips, ufs_decode/ufs_encode, and unode_parse. */
/* deps: unixfs dagpb cid multibase multihash varint errbuf dynbuf */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cid.h"
#include "dagpb.h"
#include "dynbuf.h"
#include "unixfs.h"

#define FUZZ_CAP (8u << 20)

static void links_must_match(const struct pb_link *a, const struct pb_link *b)
{
	if (!cid_equal(&a->cid, &b->cid) || a->has_name != b->has_name ||
	    a->name_len != b->name_len || a->has_tsize != b->has_tsize)
		abort();
	if (a->name_len && memcmp(a->name, b->name, a->name_len))
		abort();
	if (a->has_tsize && a->tsize != b->tsize)
		abort();
}

static void nodes_must_match(const struct pb_node *a, const struct pb_node *b)
{
	size_t i;

	if (a->has_data != b->has_data || a->data_len != b->data_len || a->nlinks != b->nlinks)
		abort();
	if (a->data_len && memcmp(a->data, b->data, a->data_len))
		abort();
	for (i = 0; i < a->nlinks; i++)
		links_must_match(&a->links[i], &b->links[i]);
}

/* decode → encode → decode gives the same fields; the second encoding is identical. */
static void pb_round_trip(const uint8_t *buf, size_t len)
{
	struct pb_node a, b;
	struct dynbuf out, out2;

	if (pb_decode(buf, len, &a, NULL))
		return;
	dynbuf_init(&out, FUZZ_CAP);
	dynbuf_init(&out2, FUZZ_CAP);
	if (pb_encode(&a, &out))
		abort();
	if (pb_decode(out.data, out.len, &b, NULL))
		abort();
	nodes_must_match(&a, &b);
	if (pb_encode(&b, &out2) || out2.len != out.len ||
	    (out.len && memcmp(out.data, out2.data, out.len)))
		abort();
	/* Varints are minimal and link fields ordered, so only Data-before-Links
	 * input can differ from its re-encoding, and never in length. */
	if (out.len != len)
		abort();
	if (!(a.has_data && a.nlinks && buf[0] == 0x0a) && len && memcmp(out.data, buf, len))
		abort();
	pb_node_free(&b);
	pb_node_free(&a);
	dynbuf_free(&out);
	dynbuf_free(&out2);
}

static void ufs_round_trip(const uint8_t *buf, size_t len)
{
	struct ufs_data a, b;
	struct dynbuf out;
	size_t i;

	if (ufs_decode(buf, len, &a, NULL))
		return;
	dynbuf_init(&out, FUZZ_CAP);
	if (ufs_encode(&a, &out))
		abort();
	if (ufs_decode(out.data, out.len, &b, NULL))
		abort();
	if (a.type != b.type || a.has_data != b.has_data || a.data_len != b.data_len ||
	    a.has_filesize != b.has_filesize || a.filesize != b.filesize ||
	    a.nblocksizes != b.nblocksizes || a.has_hash_type != b.has_hash_type ||
	    a.hash_type != b.hash_type || a.has_fanout != b.has_fanout || a.fanout != b.fanout ||
	    a.has_mode != b.has_mode || a.mode != b.mode || a.has_mtime != b.has_mtime ||
	    a.mtime_sec != b.mtime_sec || a.mtime_nsec != b.mtime_nsec)
		abort();
	if (a.data_len && memcmp(a.data, b.data, a.data_len))
		abort();
	for (i = 0; i < a.nblocksizes; i++)
		if (a.blocksizes[i] != b.blocksizes[i])
			abort();
	ufs_data_free(&a);
	ufs_data_free(&b);
	dynbuf_free(&out);
}

/* Every byte offset of a file maps to a child whose range holds it. */
static void unode_check(const struct unode *n)
{
	uint64_t probes[4];
	size_t i;
	int c;

	if (n->kind != UNODE_FILE || !n->offsets)
		return;
	if (n->offsets[0] != n->data_len || n->offsets[n->pb.nlinks] != n->size)
		abort();
	probes[0] = n->data_len;
	probes[1] = n->size - 1;
	probes[2] = n->data_len + (n->size - n->data_len) / 2;
	probes[3] = n->size;
	for (i = 0; i < 4; i++) {
		c = unode_child_at(n, probes[i]);
		if (probes[i] >= n->size || probes[i] < n->data_len) {
			if (c != -ERANGE)
				abort();
			continue;
		}
		if (c < 0 || (size_t)c >= n->pb.nlinks || n->offsets[c] > probes[i] ||
		    n->offsets[c + 1] <= probes[i])
			abort();
	}
}

static void unode_try(uint64_t codec, const uint8_t *buf, size_t len)
{
	static const uint8_t digest[32];
	struct unode *n = NULL;
	struct errbuf e;
	struct cid c;

	if (cid_from_digest(1, codec, 0x12, digest, sizeof(digest), &c))
		abort();
	if (unode_parse(&c, buf, len, &n, &e) == 0) {
		if (n->block_len != len)
			abort();
		unode_check(n);
		unode_free(n);
	} else if (n) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pb_round_trip(data, size);
	ufs_round_trip(data, size);
	unode_try(CID_CODEC_DAG_PB, data, size);
	unode_try(CID_CODEC_RAW, data, size);
	return 0;
}
