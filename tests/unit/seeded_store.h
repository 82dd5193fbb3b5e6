/* seeded_store.h: an offline store on a fresh temporary cache, seeded by hand,
 * for unit tests that read DAGs (test_dag, test_filecopy). Include after
 * check.h; the test defines `static struct store *S;` before including it. */
#ifndef MPACK_SEEDED_STORE_H
#define MPACK_SEEDED_STORE_H

#include <stdio.h>
#include <stdlib.h>

#include <string.h>

#include "cid.h"
#include "dagpb.h"
#include "dynbuf.h"
#include "store.h"
#include "unixfs.h"

/* Open S offline on a new directory made from tmpl (a mkdtemp template,
 * rewritten in place). False if it could not. */
static inline bool seeded_store_open(char *tmpl, const char *name)
{
	struct store_cfg cfg = {0};
	struct errbuf e = {{0}};

	log_init(name, LOG_LVL_ERROR, 0);
	CHECK(mkdtemp(tmpl) != NULL, "mkdtemp");
	cfg.cache.dir = tmpl;
	cfg.cache.max_bytes = 64 << 20;
	cfg.offline = true;
	CHECK(store_open(&cfg, &S, &e) == 0, "store_open: %s", e.msg);
	return S != NULL;
}

static inline void seeded_store_close(const char *dir)
{
	char cmd[4200];

	store_close(S);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0, "cleanup");
}

/* The CIDv1 of a block; put into the cache if put. */
static inline struct cid put_block(uint64_t codec, const void *data, size_t len, int put)
{
	struct cid c;

	CHECK(cid_for_block(1, codec, data, len, &c) == 0, "cid_for_block");
	if (put)
		CHECK(cache_put(store_cache(S), &c, data, len) == 0, "cache_put %s", cid_str(&c));
	return c;
}

/* A dag-pb node: UnixFS Data from u, links to kids (names optional, tsize
 * 100); put into the cache if put. */
static inline struct cid pb_node_put(const struct ufs_data *u, const struct cid *kids,
				     const char *const *names, size_t n, int put)
{
	struct pb_link links[64];
	struct pb_node pb = {0};
	struct dynbuf ud, blk;
	struct cid c;
	size_t i;

	dynbuf_init(&ud, 1 << 20);
	dynbuf_init(&blk, 1 << 20);
	CHECK(ufs_encode(u, &ud) == 0, "ufs_encode");
	memset(links, 0, sizeof(links));
	for (i = 0; i < n; i++) {
		links[i].cid = kids[i];
		links[i].has_name = true;
		links[i].name = (const uint8_t *)(names ? names[i] : "");
		links[i].name_len = names ? strlen(names[i]) : 0;
		links[i].has_tsize = true;
		links[i].tsize = 100;
	}
	pb.links = links;
	pb.nlinks = n;
	pb.data = ud.data;
	pb.data_len = ud.len;
	pb.has_data = true;
	CHECK(pb_encode(&pb, &blk) == 0, "pb_encode");
	c = put_block(CID_CODEC_DAG_PB, blk.data, blk.len, put);
	dynbuf_free(&ud);
	dynbuf_free(&blk);
	return c;
}

#endif
