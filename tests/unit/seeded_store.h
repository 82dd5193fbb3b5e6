/* seeded_store.h: an offline store on a fresh temporary cache, seeded by hand,
 * for unit tests that read DAGs (test_dag, test_filecopy). Include after
 * check.h; the test defines `static struct store *S;` before including it. */
#ifndef MPACK_SEEDED_STORE_H
#define MPACK_SEEDED_STORE_H

#include <stdio.h>
#include <stdlib.h>

#include "cid.h"
#include "store.h"

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

#endif
