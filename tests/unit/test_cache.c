/* test_cache: unit tests of the LMDB block cache (put/get, LRU, pins, scrub, threads,
 * several processes, map full, map resize). */
/* deps: cache cache_pages cache_write cache_pin cache_scrub */
/* deps: cid multihash multibase varint errbuf log dynbuf */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache.h"
#include "cache_int.h"
#include "check.h"
#include "cid.h"
#include "log.h"
#include "multihash.h"

static char base_dir[] = "/tmp/test_cache.XXXXXX";
static int dir_seq;

static char *new_dir(void)
{
	static char path[4][256];
	char *p = path[dir_seq % 4];

	snprintf(p, sizeof(path[0]), "%s/c%d", base_dir, dir_seq++);
	return p;
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Deterministic block `idx` of a stream `seed`, with its raw CIDv1. */
static void make_block(uint64_t seed, uint64_t idx, uint8_t *buf, size_t len, struct cid *cid)
{
	uint64_t s = (seed * 0x9e3779b97f4a7c15ull) ^ (idx + 1) ^ 0x5bd1e995;

	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0)
			rng_next(&s);
		buf[i] = (uint8_t)(s >> (8 * (i % 8)));
	}
	cid_for_block(1, CID_CODEC_RAW, buf, len, cid);
}

static struct cache *open_cache(const char *dir, uint64_t max, bool ro)
{
	struct cache_opts o = {.dir = dir, .max_bytes = max, .readonly = ro};
	struct cache *c = NULL;
	struct errbuf e = {{0}};
	int rc = cache_open(&o, &c, &e);

	CHECK(rc == 0, "cache_open %s: %d %s", dir, rc, e.msg);
	return c;
}

static void check_consistent(struct cache *c, const char *when)
{
	struct errbuf e = {{0}};
	int rc = cache_check_consistency(c, &e);

	CHECK(rc == 0, "%s: inconsistent: %s", when, e.msg);
}

/* 0 if cid is cached with exactly data/len. */
static int view_matches(struct cache *c, const struct cid *cid, const void *data, size_t len)
{
	struct cache_view v;
	int rc = cache_view_get(c, cid, &v, 0);

	if (rc)
		return rc;
	rc = v.len == len && (len == 0 || memcmp(v.data, data, len) == 0) ? 0 : -EBADMSG;
	cache_view_release(c, &v);
	return rc;
}

static int put_block_as(struct cache *c, uint64_t seed, uint64_t idx, size_t len, bool stream)
{
	static uint8_t buf[BLOCK_MAX + 1];
	struct cid cid;

	make_block(seed, idx, buf, len, &cid);
	return stream ? cache_put_stream(c, &cid, buf, len) : cache_put(c, &cid, buf, len);
}

static int put_block(struct cache *c, uint64_t seed, uint64_t idx, size_t len)
{
	return put_block_as(c, seed, idx, len, false);
}

static bool has_block(struct cache *c, uint64_t seed, uint64_t idx, size_t len)
{
	static uint8_t buf[BLOCK_MAX];
	struct cid cid;

	make_block(seed, idx, buf, len, &cid);
	return cache_has(c, &cid) == 1;
}

static void test_open_errors(void)
{
	struct cache_opts o = {0};
	struct cache *c = (struct cache *)1;
	struct errbuf e = {{0}};
	char path[300];
	int fd, rc;

	rc = cache_open(&o, &c, &e);
	CHECK_EQ_INT(rc, -EINVAL);
	CHECK(c == NULL, "out not cleared");
	CHECK(strstr(e.msg, "directory"), "msg: %s", e.msg);

	/* a regular file where the directory should be */
	snprintf(path, sizeof(path), "%s/afile", base_dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	o.dir = path;
	rc = cache_open(&o, &c, &e);
	CHECK_EQ_INT(rc, -ENOTDIR);
	CHECK(strstr(e.msg, path), "msg: %s", e.msg);

	/* a foreign data.mdb */
	o.dir = new_dir();
	mkdir(o.dir, 0700);
	snprintf(path, sizeof(path), "%s/data.mdb", o.dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	for (int i = 0; i < 64; i++)
		CHECK(write(fd, "this is not an LMDB file, just some text..\n", 44) == 44, "write");
	close(fd);
	rc = cache_open(&o, &c, &e);
	CHECK_EQ_INT(rc, -EINVAL);
	CHECK(strstr(e.msg, o.dir) && strstr(e.msg, "LMDB"), "msg: %s", e.msg);

	/* read-only where there is nothing */
	o.dir = new_dir();
	o.readonly = true;
	rc = cache_open(&o, &c, &e);
	CHECK_EQ_INT(rc, -ENOENT);
	CHECK(strstr(e.msg, o.dir), "msg: %s", e.msg);
	mkdir(o.dir, 0700);
	rc = cache_open(&o, &c, &e);
	CHECK_EQ_INT(rc, -ENOENT);
	CHECK(strstr(e.msg, o.dir), "msg: %s", e.msg);

	o.readonly = false;
	o.max_bytes = 1ull << 62;
	rc = cache_open(&o, &c, &e);
	CHECK_EQ_INT(rc, -EINVAL);
	CHECK(strstr(e.msg, "too large"), "msg: %s", e.msg);
	cache_close(NULL);
}

static void test_round_trip(void)
{
	static uint8_t buf[BLOCK_MAX + 1];
	struct cache *c = open_cache(new_dir(), 4 << 20, false);
	struct cache_stats st;
	struct cache_view v;
	struct cid cid, v0, v1pb, bad;

	make_block(1, 1, buf, 1000, &cid);
	CHECK_EQ_INT(cache_has(c, &cid), 0);
	CHECK_EQ_INT(cache_view_get(c, &cid, &v, 0), -ENOENT);
	CHECK(v.txn == NULL && v.data == NULL, "view not cleared on miss");
	CHECK_EQ_INT(cache_put(c, &cid, buf, 1000), 0);
	CHECK_EQ_INT(cache_put(c, &cid, buf, 1000), 0); /* already present */
	CHECK_EQ_INT(cache_has(c, &cid), 1);
	CHECK_EQ_INT(view_matches(c, &cid, buf, 1000), 0);

	/* CIDv0, CIDv1 dag-pb and raw of the same bytes share one entry */
	cid_for_block(0, CID_CODEC_DAG_PB, buf + 1000, 500, &v0);
	memcpy(buf + 2000, buf + 1000, 500);
	CHECK_EQ_INT(cache_put(c, &v0, buf + 1000, 500), 0);
	cid_to_v1(&v0, &v1pb);
	CHECK_EQ_INT(view_matches(c, &v1pb, buf + 2000, 500), 0);
	cid_for_block(1, CID_CODEC_RAW, buf + 2000, 500, &v1pb);
	CHECK_EQ_INT(view_matches(c, &v1pb, buf + 2000, 500), 0);
	CHECK_EQ_INT(cache_put(c, &v1pb, buf + 2000, 500), 0);

	/* empty block */
	cid_for_block(1, CID_CODEC_RAW, buf, 0, &bad);
	CHECK_EQ_INT(cache_put(c, &bad, buf, 0), 0);
	CHECK_EQ_INT(view_matches(c, &bad, buf, 0), 0);

	CHECK_EQ_INT(cache_stats_get(c, &st), 0);
	CHECK_EQ_INT(st.blocks, 3);
	CHECK_EQ_INT(st.bytes, 1500);
	CHECK_EQ_INT(st.max_bytes, 4 << 20);
	CHECK_EQ_INT(st.puts, 3);
	CHECK_EQ_INT(st.hits, 4);
	CHECK_EQ_INT(st.misses, 1);
	CHECK(st.file_bytes > 0, "file_bytes %llu", (unsigned long long)st.file_bytes);

	/* refusals */
	make_block(1, 2, buf, BLOCK_MAX + 1, &cid);
	CHECK_EQ_INT(cache_put(c, &cid, buf, BLOCK_MAX + 1), -EFBIG);
	make_block(1, 3, buf, BLOCK_MAX, &cid);
	CHECK_EQ_INT(cache_put(c, &cid, buf, BLOCK_MAX), 0);
	CHECK_EQ_INT(view_matches(c, &cid, buf, BLOCK_MAX), 0);
	memset(&bad, 0, sizeof(bad));
	CHECK_EQ_INT(cache_put(c, &bad, buf, 10), -EINVAL);
	CHECK_EQ_INT(cache_view_get(c, &bad, &v, 0), -EINVAL);
	CHECK_EQ_INT(cache_has(c, &bad), 0);
	CHECK_EQ_INT(cache_put(c, &cid, NULL, 10), -EINVAL);

	CHECK_EQ_INT(cache_delete(c, &cid), 0);
	CHECK_EQ_INT(cache_delete(c, &cid), -ENOENT);
	CHECK_EQ_INT(cache_has(c, &cid), 0);
	check_consistent(c, "round trip");
	cache_close(c);
}

static void test_readonly_and_reopen(void)
{
	static uint8_t buf[4096];
	const char *dir = new_dir();
	struct cache *c = open_cache(dir, 1 << 20, false);
	struct cache_stats st;
	struct cid cid;
	int i;

	for (i = 0; i < 20; i++)
		CHECK_EQ_INT(put_block(c, 2, i, 100 + i), 0);
	memset(&cid, 0, sizeof(cid));
	CHECK_EQ_INT(cache_pack_add(c, &cid, NULL), -EINVAL);
	cache_close(c);

	c = open_cache(dir, 1 << 20, true);
	if (!c)
		return;
	make_block(2, 3, buf, 103, &cid);
	CHECK_EQ_INT(view_matches(c, &cid, buf, 103), 0);
	CHECK_EQ_INT(cache_put(c, &cid, buf, 103), -EROFS);
	CHECK_EQ_INT(cache_delete(c, &cid), -EROFS);
	CHECK_EQ_INT(cache_pin_add(c, &cid, &cid), -EROFS);
	CHECK_EQ_INT(cache_gc(c, 0, NULL), -EROFS);
	CHECK_EQ_INT(cache_clear(c), -EROFS);
	CHECK_EQ_INT(cache_stats_get(c, &st), 0);
	CHECK_EQ_INT(st.blocks, 20);
	cache_close(c);

	c = open_cache(dir, 1 << 20, false);
	for (i = 0; i < 20; i++)
		CHECK(has_block(c, 2, i, 100 + i), "block %d lost on reopen", i);
	check_consistent(c, "reopen");
	cache_close(c);
}

/* Waits up to ms for the maintenance thread to flush the touch queue; 0 once
 * it is empty. */
static int wait_maintained(struct cache *c, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (atomic_load(&c->tq_n) == 0)
			return 0;
		usleep(10000);
	}
	return -1;
}

/* Fills a 10-block cache, reads `a`, flushes touches by `how`, adds one: b must
 * go. how 0: cache_maintain; 1: the touch that fills half the queue wakes the
 * maintenance thread (within 300 ms, before its first round a second after
 * open); 2: that once-a-second round, with nothing called. In case 1 the kick
 * comes with the last touch: one more could land after the thread's flush and
 * wait for the next round. */
static void lru_case(int how)
{
	struct cache *c = open_cache(new_dir(), 10 * 1000, false);
	static uint8_t buf[1000];
	struct cid a;
	int i;

	for (i = 0; i < 10; i++)
		CHECK_EQ_INT(put_block(c, 3, i, 1000), 0);
	make_block(3, 0, buf, 1000, &a);
	CHECK_EQ_INT(view_matches(c, &a, buf, 1000), 0);
	if (how == 0) {
		cache_maintain(c);
	} else if (how == 1) {
		struct cid j;

		make_block(3, 9, buf, 1000, &j);
		for (i = 1; i < CACHE_TOUCH_BATCH / 2; i++)
			CHECK_EQ_INT(view_matches(c, &j, buf, 1000), 0);
	}
	if (how)
		CHECK(wait_maintained(c, how == 1 ? 300 : 3000) == 0,
		      "touches not flushed in time (how %d): %u queued", how,
		      atomic_load(&c->tq_n));
	CHECK_EQ_INT(put_block(c, 3, 10, 1000), 0);
	CHECK(has_block(c, 3, 0, 1000), "recently read block evicted (how %d)", how);
	CHECK(!has_block(c, 3, 1, 1000), "LRU block kept (how %d)", how);
	CHECK(has_block(c, 3, 2, 1000), "second LRU block evicted (how %d)", how);
	check_consistent(c, "lru");
	cache_close(c);
}

static void test_lru(void)
{
	lru_case(0);
	lru_case(1);
	lru_case(2);
}

static void test_random_workload(void)
{
	const uint64_t max = 256 << 10;
	struct cache *c = open_cache(new_dir(), max, false);
	static uint8_t buf[16384];
	uint64_t s = 42, bound = max + max / 4 + CACHE_MAP_SLACK;
	struct cache_stats st;
	struct cid cid;
	int over = 0, bad = 0, hits = 0;

	for (int i = 0; i < 3000; i++) {
		uint64_t idx = rng_next(&s) % 400;
		size_t len = 1 + idx * 37 % 16000;

		if (rng_next(&s) % 3 == 0) {
			make_block(4, idx, buf, len, &cid);
			int rc = view_matches(c, &cid, buf, len);

			bad += rc != 0 && rc != -ENOENT;
			hits += rc == 0;
			continue;
		}
		CHECK_EQ_INT(put_block(c, 4, idx, len), 0);
		cache_stats_get(c, &st);
		over += st.bytes > max;
		if (i % 500 == 0)
			cache_maintain(c);
	}
	CHECK_EQ_INT(over, 0);
	CHECK_EQ_INT(bad, 0);
	CHECK(hits > 50, "only %d hits", hits);
	cache_stats_get(c, &st);
	CHECK(st.evictions > 100, "only %llu evictions", (unsigned long long)st.evictions);
	CHECK(st.file_bytes <= bound, "file %llu > %llu", (unsigned long long)st.file_bytes,
	      (unsigned long long)bound);
	check_consistent(c, "random workload");
	cache_close(c);
}

static int count_root(void *ctx, const struct cid *root)
{
	(void)root;
	(*(int *)ctx)++;
	return 0;
}

static int stop_at_first(void *ctx, const struct cid *root)
{
	*(struct cid *)ctx = *root;
	return 7;
}

static void test_pins(void)
{
	struct cache *c = open_cache(new_dir(), 20 * 1000, false);
	static uint8_t buf[1000];
	struct cid root, root2, blk[5], got;
	struct cache_stats st;
	uint64_t ev;
	int n = 0;

	cid_for_block(1, CID_CODEC_DAG_PB, "root", 4, &root);
	cid_for_block(0, CID_CODEC_DAG_PB, "root2", 5, &root2);
	/* pin 0,1 before they are cached, 2,3 after; 3 also by root2 */
	for (int i = 0; i < 5; i++)
		make_block(5, i, buf, 1000, &blk[i]);
	CHECK_EQ_INT(cache_pin_add(c, &root, &blk[0]), 0);
	CHECK_EQ_INT(cache_pin_add(c, &root, &blk[1]), 0);
	for (int i = 0; i < 5; i++)
		CHECK_EQ_INT(put_block(c, 5, i, 1000), 0);
	CHECK_EQ_INT(cache_pin_add(c, &root, &blk[2]), 0);
	CHECK_EQ_INT(cache_pin_add(c, &root, &blk[3]), 0);
	CHECK_EQ_INT(cache_pin_add(c, &root, &blk[3]), 0); /* twice: no-op */
	CHECK_EQ_INT(cache_pin_add(c, &root2, &blk[3]), 0);
	CHECK(cache_is_pinned(c, &blk[0]) && cache_is_pinned(c, &blk[3]), "not pinned");
	CHECK(!cache_is_pinned(c, &blk[4]), "4 pinned");
	cache_stats_get(c, &st);
	CHECK_EQ_INT(st.pinned_blocks, 4);
	CHECK_EQ_INT(cache_pins_foreach(c, count_root, &n), 0);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(cache_pins_foreach(c, stop_at_first, &got), 7);
	CHECK(cid_equal(&got, &root) || cid_equal(&got, &root2), "foreach root differs");
	check_consistent(c, "pins");

	/* a workload far over max_bytes keeps the pinned blocks */
	for (int i = 100; i < 200; i++)
		CHECK_EQ_INT(put_block(c, 5, i, 1000), 0);
	for (int i = 0; i < 4; i++)
		CHECK(has_block(c, 5, i, 1000), "pinned block %d evicted", i);
	CHECK(!has_block(c, 5, 4, 1000), "unpinned block 4 kept");
	CHECK_EQ_INT(cache_gc(c, 0, &ev), 0);
	CHECK_EQ_INT(ev, 16);
	cache_stats_get(c, &st);
	CHECK_EQ_INT(st.bytes, 4000);
	CHECK_EQ_INT(st.blocks, 4);
	for (int i = 0; i < 4; i++)
		CHECK(has_block(c, 5, i, 1000), "pinned block %d gone after gc", i);

	/* unpin: blocks pinned by another root stay */
	CHECK_EQ_INT(cache_unpin(c, &root), 0);
	CHECK_EQ_INT(cache_unpin(c, &root), -ENOENT);
	CHECK(!cache_is_pinned(c, &blk[0]) && cache_is_pinned(c, &blk[3]), "unpin wrong");
	n = 0;
	cache_pins_foreach(c, count_root, &n);
	CHECK_EQ_INT(n, 1);
	check_consistent(c, "unpin");
	CHECK_EQ_INT(cache_gc(c, 0, &ev), 0);
	CHECK_EQ_INT(ev, 3);
	CHECK(has_block(c, 5, 3, 1000) && !has_block(c, 5, 0, 1000), "gc after unpin");
	CHECK_EQ_INT(cache_unpin(c, &root2), 0);
	cache_stats_get(c, &st);
	CHECK_EQ_INT(st.pinned_blocks, 0);
	check_consistent(c, "unpin 2");
	cache_close(c);
}

static void test_enospc(void)
{
	struct cache *c = open_cache(new_dir(), 10 * 1000, false);
	static uint8_t buf[1000];
	struct cid root, b;
	struct cache_stats st;

	cid_for_block(1, CID_CODEC_DAG_PB, "r", 1, &root);
	for (int i = 0; i < 10; i++) {
		CHECK_EQ_INT(put_block(c, 6, i, 1000), 0);
		make_block(6, i, buf, 1000, &b);
		CHECK_EQ_INT(cache_pin_add(c, &root, &b), 0);
	}
	CHECK_EQ_INT(put_block(c, 6, 99, 1000), -ENOSPC);
	CHECK_EQ_INT(put_block(c, 6, 98, 1), -ENOSPC);
	CHECK_EQ_INT(put_block(c, 6, 97, 20000), -ENOSPC); /* over max_bytes */
	cache_stats_get(c, &st);
	CHECK_EQ_INT(st.blocks, 10);
	CHECK_EQ_INT(cache_unpin(c, &root), 0);
	CHECK_EQ_INT(put_block(c, 6, 99, 1000), 0);
	CHECK(!has_block(c, 6, 0, 1000), "oldest unpinned block kept");
	check_consistent(c, "enospc");
	cache_close(c);
}

static void test_gc_clear(void)
{
	struct cache *c = open_cache(new_dir(), 1 << 20, false);
	struct cache_stats st;
	struct cid root;
	uint64_t ev;
	static uint8_t b[100];
	struct cid bc;

	for (int i = 0; i < 3000; i++)
		CHECK_EQ_INT(put_block(c, 7, i, 100), 0);
	CHECK_EQ_INT(cache_gc(c, 150000, &ev), 0);
	cache_stats_get(c, &st);
	CHECK(st.bytes <= 150000 && st.bytes > 149000, "bytes %llu", (unsigned long long)st.bytes);
	CHECK_EQ_INT(ev, 1500);
	CHECK(!has_block(c, 7, 1499, 100) && has_block(c, 7, 1500, 100), "gc order");
	CHECK_EQ_INT(cache_gc(c, 1 << 30, &ev), 0);
	CHECK_EQ_INT(ev, 0);

	cid_for_block(1, CID_CODEC_DAG_PB, "p", 1, &root);
	make_block(7, 2000, b, 100, &bc);
	CHECK_EQ_INT(cache_pin_add(c, &root, &bc), 0);
	CHECK_EQ_INT(cache_pack_add(c, &root, "llama"), 0);
	CHECK_EQ_INT(cache_clear(c), 0);
	cache_stats_get(c, &st);
	CHECK(st.blocks == 0 && st.bytes == 0 && st.pinned_blocks == 0, "not cleared");
	CHECK(!cache_is_pinned(c, &bc), "pin survived clear");
	int n = 0;
	cache_pins_foreach(c, count_root, &n);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(put_block(c, 7, 1, 100), 0);
	check_consistent(c, "clear");
	cache_close(c);
}

struct pack_seen {
	int n, labelled;
	char label[64];
};

static int pack_cb(void *ctx, const struct cid *root, const char *label)
{
	struct pack_seen *s = ctx;

	(void)root;
	s->n++;
	if (label) {
		s->labelled++;
		snprintf(s->label, sizeof(s->label), "%s", label);
	}
	return 0;
}

static void test_packs(void)
{
	struct cache *c = open_cache(new_dir(), 1 << 20, false);
	struct pack_seen s = {0};
	struct cid a, b;
	char long_label[CACHE_LABEL_MAX + 2];

	cid_for_block(1, CID_CODEC_DAG_PB, "a", 1, &a);
	cid_for_block(1, CID_CODEC_DAG_PB, "b", 1, &b);
	CHECK_EQ_INT(cache_pack_add(c, &a, "first"), 0);
	CHECK_EQ_INT(cache_pack_add(c, &a, "llama-3 8B"), 0); /* relabel */
	CHECK_EQ_INT(cache_pack_add(c, &b, NULL), 0);
	memset(long_label, 'x', sizeof(long_label) - 1);
	long_label[sizeof(long_label) - 1] = '\0';
	CHECK_EQ_INT(cache_pack_add(c, &b, long_label), -ENAMETOOLONG);
	CHECK_EQ_INT(cache_packs_foreach(c, pack_cb, &s), 0);
	CHECK_EQ_INT(s.n, 2);
	CHECK_EQ_INT(s.labelled, 1);
	CHECK_EQ_STR(s.label, "llama-3 8B");
	cache_close(c);
}

static uint64_t last_txnid(struct cache *c)
{
	MDB_envinfo info;

	mdb_env_info(c->env, &info);
	return (uint64_t)info.me_last_txnid;
}

static int packs_count(struct cache *c, struct pack_seen *s)
{
	memset(s, 0, sizeof(*s));
	CHECK_EQ_INT(cache_packs_foreach(c, pack_cb, s), 0);
	return s->n;
}

/* cache_pack_add rewrites nothing it already holds; cache_pack_note leaves the
 * write to the maintenance thread (within its one-second round) or to close,
 * also past a full queue. */
static void test_pack_note(void)
{
	const char *dir = new_dir();
	struct cache *c = open_cache(dir, 1 << 20, false);
	struct pack_seen s;
	struct cid a, many[CACHE_PACK_PENDING + 4];
	char name[16], long_label[CACHE_LABEL_MAX + 2];
	uint64_t id;
	int i;

	cid_for_block(1, CID_CODEC_DAG_PB, "a", 1, &a);
	CHECK_EQ_INT(cache_pack_add(c, &a, "same"), 0);
	id = last_txnid(c);
	CHECK_EQ_INT(cache_pack_add(c, &a, "same"), 0);
	CHECK(last_txnid(c) == id, "an unchanged pack record was written again");
	CHECK_EQ_INT(cache_pack_add(c, &a, "relabelled"), 0);
	CHECK(last_txnid(c) == id + 1, "a new label was not written");
	cache_close(c);

	c = open_cache(dir, 1 << 20, false);
	CHECK(c->maint_running, "no maintenance thread on a writable cache");
	cid_for_block(1, CID_CODEC_DAG_PB, "b", 1, &many[0]);
	CHECK_EQ_INT(cache_pack_note(c, &many[0], "noted"), 0);
	for (i = 0; i < 300 && packs_count(c, &s) < 2; i++)
		usleep(10000);
	CHECK_EQ_INT(s.n, 2);
	memset(long_label, 'x', sizeof(long_label) - 1);
	long_label[sizeof(long_label) - 1] = '\0';
	CHECK_EQ_INT(cache_pack_note(c, &a, long_label), -ENAMETOOLONG);
	CHECK_EQ_INT(cache_pack_note(c, NULL, "x"), -EINVAL);
	for (i = 1; i < (int)(sizeof(many) / sizeof(many[0])); i++) {
		snprintf(name, sizeof(name), "p%d", i);
		cid_for_block(1, CID_CODEC_DAG_PB, name, strlen(name), &many[i]);
		CHECK_EQ_INT(cache_pack_note(c, &many[i], name), 0);
	}
	cache_close(c); /* writes what is still queued */

	c = open_cache(dir, 1 << 20, false);
	CHECK_EQ_INT(packs_count(c, &s), (int)(sizeof(many) / sizeof(many[0])) + 1);
	cache_close(c);
	c = open_cache(dir, 1 << 20, true);
	CHECK_EQ_INT(cache_pack_note(c, &a, "ro"), -EROFS);
	cache_close(c);
}

static int bad_seen;

static void bad_cb(void *ctx, const struct cid *cid, const char *why)
{
	(void)cid;
	bad_seen++;
	CHECK(strstr(why, (const char *)ctx) || strstr(why, "metadata"), "why: %s", why);
}

/* Rewrites the value of a block behind the cache's back (the cache must be closed). */
static void corrupt(const char *dir, const struct cid *cid, const void *val, size_t len)
{
	MDB_env *env;
	MDB_txn *t;
	MDB_dbi dbi;
	MDB_val k = {cid->mh_len, (void *)cid_mh(cid)}, v = {len, (void *)val};
	int rc;

	mdb_env_create(&env);
	mdb_env_set_maxdbs(env, 8);
	rc = mdb_env_open(env, dir, 0, 0600);
	CHECK(rc == 0, "direct open: %s", mdb_strerror(rc));
	if (rc == 0 && (rc = mdb_txn_begin(env, NULL, 0, &t)) == 0) {
		rc = mdb_dbi_open(t, "blocks", 0, &dbi);
		if (!rc)
			rc = mdb_put(t, dbi, &k, &v, 0);
		CHECK(rc == 0, "direct put: %s", mdb_strerror(rc));
		mdb_txn_commit(t);
	}
	mdb_env_close(env);
}

static void test_scrub(void)
{
	const char *dir = new_dir();
	struct cache *c = open_cache(dir, 1 << 20, false);
	static uint8_t buf[4000];
	struct cid c1, c2;
	uint64_t checked, removed;

	for (int i = 0; i < 600; i++)
		CHECK_EQ_INT(put_block(c, 8, i, 1000 + i), 0);
	CHECK_EQ_INT(cache_scrub(c, bad_cb, "mismatch", &checked, &removed), 0);
	CHECK_EQ_INT(checked, 600);
	CHECK_EQ_INT(removed, 0);
	cache_close(c);

	make_block(8, 10, buf, 1010, &c1);
	buf[5] ^= 1; /* same length, one bit flipped */
	corrupt(dir, &c1, buf, 1010);
	make_block(8, 500, buf, 1500, &c2);
	corrupt(dir, &c2, buf, 700); /* truncated */

	c = open_cache(dir, 1 << 20, false);
	bad_seen = 0;
	CHECK_EQ_INT(cache_scrub(c, bad_cb, "mismatch", &checked, &removed), 0);
	CHECK_EQ_INT(checked, 600);
	CHECK_EQ_INT(removed, 2);
	CHECK_EQ_INT(bad_seen, 2);
	CHECK_EQ_INT(cache_has(c, &c1), 0);
	CHECK_EQ_INT(cache_has(c, &c2), 0);
	CHECK(has_block(c, 8, 11, 1011), "good block removed");
	check_consistent(c, "scrub");
	CHECK_EQ_INT(cache_scrub(c, NULL, NULL, &checked, &removed), 0);
	CHECK_EQ_INT(checked, 598);
	CHECK_EQ_INT(removed, 0);
	cache_close(c);
}

struct worker {
	struct cache *c;
	uint64_t seed;
	int errors, hits;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t *buf = malloc(8192);
	uint64_t s = w->seed;
	struct cid cid;

	for (int i = 0; i < 3000; i++) {
		uint64_t idx = rng_next(&s) % 300;
		size_t len = 1 + idx * 29 % 8000;
		int rc;

		make_block(9, idx, buf, len, &cid);
		if (rng_next(&s) % 2) {
			rc = cache_put(w->c, &cid, buf, len);
			w->errors += rc != 0;
		} else {
			rc = view_matches(w->c, &cid, buf, len);
			w->errors += rc != 0 && rc != -ENOENT;
			w->hits += rc == 0;
		}
		if (i % 1000 == 999)
			cache_maintain(w->c);
	}
	free(buf);
	return NULL;
}

static void test_threads(void)
{
	struct cache *c = open_cache(new_dir(), 512 << 10, false);
	struct worker w[4];
	pthread_t th[4];
	struct cache_stats st;

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){.c = c, .seed = 100 + i};
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ_INT(w[i].errors, 0);
		CHECK(w[i].hits > 50, "thread %d: %d hits", i, w[i].hits);
	}
	cache_stats_get(c, &st);
	CHECK(st.bytes <= 512 << 10, "bytes %llu", (unsigned long long)st.bytes);
	check_consistent(c, "threads");
	cache_close(c);
}

/* Child process: puts and reads blocks of its own stream and of the shared one. */
static int child_main(const char *dir, uint64_t seed, uint64_t max)
{
	struct cache *c = open_cache(dir, max, false);
	uint8_t *buf = malloc(70000);
	uint64_t s = seed;
	struct cid cid;
	int errors = 0, failed0 = check_failed;

	if (!c)
		return 2;
	for (int i = 0; i < 1500; i++) {
		uint64_t idx = rng_next(&s) % 200;
		uint64_t stream = rng_next(&s) % 2 ? seed : 10;
		size_t len = 1 + idx * 331 % 65000;
		int rc;

		make_block(stream, idx, buf, len, &cid);
		if (i % 3) {
			rc = cache_put(c, &cid, buf, len);
			errors += rc != 0;
		} else {
			rc = view_matches(c, &cid, buf, len);
			errors += rc != 0 && rc != -ENOENT;
		}
	}
	free(buf);
	cache_close(c);
	if (errors)
		fprintf(stderr, "child %llu: %d errors\n", (unsigned long long)seed, errors);
	return errors ? 1 : check_failed > failed0 ? 3 : 0;
}

static pid_t spawn_child(const char *dir, uint64_t seed, uint64_t max)
{
	char s[32], m[32];
	pid_t pid;

	snprintf(s, sizeof(s), "%llu", (unsigned long long)seed);
	snprintf(m, sizeof(m), "%llu", (unsigned long long)max);
	pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", "test_cache", "--child", dir, s, m, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void test_processes(void)
{
	const char *dir = new_dir();
	const uint64_t max = 2 << 20;
	pid_t pids[2];
	struct cache *c;
	int status, rc;
	uint64_t checked, removed;
	struct cache_stats st;

	pids[0] = spawn_child(dir, 11, max);
	pids[1] = spawn_child(dir, 12, max);
	rc = child_main(dir, 13, max);
	CHECK_EQ_INT(rc, 0);
	for (int i = 0; i < 2; i++) {
		CHECK(waitpid(pids[i], &status, 0) == pids[i], "waitpid");
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d status %#x", i,
		      status);
	}
	c = open_cache(dir, max, false);
	check_consistent(c, "processes");
	CHECK_EQ_INT(cache_scrub(c, NULL, NULL, &checked, &removed), 0);
	CHECK_EQ_INT(removed, 0);
	cache_stats_get(c, &st);
	CHECK(st.bytes <= max && st.blocks == checked && checked > 20, "bytes %llu blocks %llu",
	      (unsigned long long)st.bytes, (unsigned long long)st.blocks);
	cache_close(c);
}

/* Small blocks cost more pages than their size: the page budget keeps the file in the map. */
static void test_small_blocks(void)
{
	const uint64_t max = 2 << 20;
	uint64_t saved = cache_map_slack, bound;
	struct cache_stats st;
	struct cache *c;
	int fails = 0;

	cache_map_slack = 2 << 20;
	bound = max + max / 4 + cache_map_slack;
	c = open_cache(new_dir(), max, false);
	cache_map_slack = saved;
	for (int i = 0; i < 30000 && c; i++)
		fails += put_block(c, 14, i, 40 + i % 64) != 0;
	CHECK_EQ_INT(fails, 0);
	cache_stats_get(c, &st);
	CHECK(st.file_bytes <= bound, "file %llu > %llu", (unsigned long long)st.file_bytes,
	      (unsigned long long)bound);
	CHECK(st.bytes < max / 2, "page budget never reached: %llu bytes",
	      (unsigned long long)st.bytes);
	CHECK(st.blocks > 1000, "only %llu blocks kept", (unsigned long long)st.blocks);
	CHECK(has_block(c, 14, 29999, 40 + 29999 % 64), "last block missing");
	check_consistent(c, "small blocks");
	cache_close(c);
}

/* A view held while others write pins old pages: the map fills, puts get -ENOSPC (after the
 * MAP_FULL retries), and work again once the view is released. */
static void test_map_full(void)
{
	const uint64_t max = 4 << 20;
	uint64_t saved = cache_map_slack, bound;
	static uint8_t buf[65536];
	struct cache_stats st;
	struct cache_view v;
	struct cache *c;
	struct cid cid;
	int i, rc = 0, ok = 0;

	cache_map_slack = 1 << 20;
	bound = max + max / 4 + cache_map_slack;
	c = open_cache(new_dir(), max, false);
	cache_map_slack = saved;
	if (!c)
		return;
	for (i = 0; i < 64; i++)
		CHECK_EQ_INT(put_block(c, 17, i, 65536), 0);
	make_block(17, 63, buf, 65536, &cid);
	CHECK_EQ_INT(cache_view_get(c, &cid, &v, 0), 0);
	log_init("test_cache", LOG_LVL_ERROR, 0); /* the "map full" warning is expected */
	for (i = 64; i < 400 && rc == 0; i++)
		rc = put_block(c, 17, i, 65536);
	log_init("test_cache", LOG_LVL_WARN, 0);
	CHECK_EQ_INT(rc, -ENOSPC);
	CHECK(i < 400, "map never filled");
	cache_stats_get(c, &st);
	CHECK(st.file_bytes <= bound, "file %llu > %llu", (unsigned long long)st.file_bytes,
	      (unsigned long long)bound);
	CHECK(v.len == 65536 && memcmp(v.data, buf, 65536) == 0, "held view changed");
	cache_view_release(c, &v);
	for (int j = 0; j < 20; j++)
		ok += put_block(c, 17, 1000 + j, 65536) == 0;
	CHECK(ok >= 18, "only %d puts after release", ok);
	check_consistent(c, "map full");
	cache_close(c);
}

/* Another process opened with a larger max_bytes grows the file past our map. */
static void test_map_resize(void)
{
	const char *dir = new_dir();
	uint64_t saved = cache_map_slack;
	static uint8_t buf[65536];
	struct cache *c;
	struct cid cid;
	pid_t pid;
	int status, ok = 0;

	cache_map_slack = 256 << 10;
	c = open_cache(dir, 1 << 20, false); /* map 1.5 MiB */
	cache_map_slack = saved;
	pid = spawn_child(dir, 15, 32 << 20); /* puts up to ~30 MiB */
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status),
	      "child status %#x", status);
	for (uint64_t idx = 0; idx < 200; idx++) {
		size_t len = 1 + idx * 331 % 65000;

		make_block(15, idx, buf, len, &cid);
		ok += view_matches(c, &cid, buf, len) == 0;
	}
	CHECK(ok > 50, "only %d blocks seen after the map grew", ok);
	CHECK_EQ_INT(put_block(c, 16, 1, 1000), 0);
	check_consistent(c, "resize");
	cache_close(c);
}

/* Resident pages of dir/data.mdb in the page cache (mincore on a fresh map). */
static size_t resident_pages(const char *dir)
{
	char path[300];
	unsigned char *vec;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n, in = 0;
	struct stat st;
	void *map;
	int fd;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0)
		return 0;
	n = ((size_t)st.st_size + pg - 1) / pg;
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	vec = malloc(n);
	if (map != MAP_FAILED && vec && mincore(map, (size_t)st.st_size, vec) == 0)
		for (size_t i = 0; i < n; i++)
			in += vec[i] & 1;
	free(vec);
	if (map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
	close(fd);
	return in;
}

/* Views of `nblocks` 1 MiB blocks, each released with or without dropping its
 * pages; returns the data file's resident pages afterwards. */
static size_t view_all_seed(const char *dir, uint64_t seed, int nblocks, bool drop)
{
	static uint8_t buf[1 << 20];
	struct cache_view v;
	struct cache *c = open_cache(dir, 256 << 20, true);
	struct cid cid;
	int bad = 0;

	if (!c)
		return 0;
	for (int i = 0; i < nblocks; i++) {
		make_block(seed, (uint64_t)i, buf, sizeof(buf), &cid);
		CHECK_EQ_INT(cache_view_get(c, &cid, &v, 0), 0);
		bad += v.len != sizeof(buf) || memcmp(v.data, buf, sizeof(buf)) != 0;
		cache_view_release(c, &v);
		if (drop)
			CHECK_EQ_INT(cache_drop(c, &cid), 0);
	}
	CHECK_EQ_INT(bad, 0);
	cache_close(c);
	return resident_pages(dir);
}

static size_t view_all(const char *dir, int nblocks, bool drop)
{
	return view_all_seed(dir, 23, nblocks, drop);
}

/* A dropped view leaves its block out of the page cache, and reads back intact.
 * Needs a disk-backed directory: page cache advice is a no-op on tmpfs. */
static void test_view_drop(void)
{
	char dir[] = "/var/tmp/test_cache_drop.XXXXXX", cmd[100];
	const int nblocks = 8;
	struct cache *c;
	size_t kept, dropped, again, pg = (size_t)sysconf(_SC_PAGESIZE);

	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp %s: %s", dir, strerror(errno));
		return;
	}
	c = open_cache(dir, 64 << 20, false);
	for (int i = 0; c && i < nblocks; i++)
		CHECK_EQ_INT(put_block(c, 23, (uint64_t)i, 1 << 20), 0);
	cache_close(c); /* syncs: the pages are clean, so they can be dropped */
	kept = view_all(dir, nblocks, false);
	dropped = view_all(dir, nblocks, true);
	again = view_all(dir, nblocks, false); /* dropped pages are read back from disk */
	CHECK(kept >= (size_t)nblocks * ((1 << 20) / pg), "only %zu pages resident after views",
	      kept);
	CHECK(dropped < (size_t)nblocks * ((1 << 20) / pg) / 8,
	      "%zu pages resident after dropping, %zu before", dropped, kept);
	CHECK(again >= kept - 16, "%zu pages after re-reading, %zu before", again, kept);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
}

/* Drops every page of dir/data.mdb from the page cache; 0 or -1. */
static int drop_data_file(const char *dir)
{
	char path[300];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	rc = fdatasync(fd) || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) ? -1 : 0;
	close(fd);
	return rc;
}

/* Resident pages of data.mdb once its readahead settles (up to 2 s). */
static size_t resident_settled(const char *dir)
{
	size_t last = resident_pages(dir), now;

	for (int i = 0; i < 40; i++) {
		usleep(50 * 1000);
		now = resident_pages(dir);
		if (now == last && i >= 2)
			break;
		last = now;
	}
	return last;
}

/* Pages a plain map fault in the middle of data.mdb makes resident: the
 * device's read-around, against which the cache's own map is measured. */
static size_t plain_fault_pages(const char *dir, size_t size)
{
	char path[300];
	size_t before = resident_pages(dir);
	volatile uint8_t sink;
	void *map;
	int fd;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return 0;
	sink = ((const uint8_t *)map)[size / 2];
	(void)sink;
	munmap(map, size);
	return resident_settled(dir) - before;
}

/* The map is MADV_RANDOM: a lookup on a cold page cache reads the B-tree pages
 * it walks, not the device's read-around of each (which, measured by a plain
 * map fault of the same file, brings most of it). A cold view reads its block
 * and what follows; cache_view_readaround reads what precedes it too. */
static void test_view_readaround(void)
{
	char dir[] = "/var/tmp/test_cache_ra.XXXXXX", cmd[100];
	static uint8_t buf[32 << 10];
	const int nblocks = 64, mid = 40;
	struct stat st;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), blk = sizeof(buf) / pg, total, plain;
	size_t before, after, viewed, around;
	struct cache_view v = {0};
	struct cache *c;
	struct cid cid;

	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp %s: %s", dir, strerror(errno));
		return;
	}
	c = open_cache(dir, 64 << 20, false);
	for (int i = 0; c && i < nblocks; i++)
		CHECK_EQ_INT(put_block(c, 37, (uint64_t)i, sizeof(buf)), 0);
	cache_close(c);
	snprintf(cmd, sizeof(cmd), "%s/data.mdb", dir);
	total = stat(cmd, &st) == 0 ? (size_t)st.st_size / pg : 0;
	CHECK_EQ_INT(drop_data_file(dir), 0);
	plain = plain_fault_pages(dir, total * pg);
	CHECK(plain >= (size_t)nblocks * blk / 2,
	      "a plain fault read %zu of %zu pages: this device reads no pages around a fault, so "
	      "the test cannot tell",
	      plain, total);

	CHECK_EQ_INT(drop_data_file(dir), 0);
	before = resident_settled(dir);
	c = open_cache(dir, 64 << 20, true);
	make_block(37, (uint64_t)mid, buf, sizeof(buf), &cid);
	CHECK_EQ_INT(c ? cache_has(c, &cid) : 0, 1);
	after = resident_settled(dir);
	CHECK(after - before <= 32,
	      "open and a lookup made %zu of %zu pages resident (a plain "
	      "fault: %zu)",
	      after - before, total, plain);

	CHECK_EQ_INT(c ? cache_view_get(c, &cid, &v, 0) : -1, 0);
	CHECK(v.cold, "a view of dropped pages is not marked cold");
	viewed = resident_settled(dir);
	CHECK(viewed - after >= (size_t)(nblocks - mid) * blk,
	      "a cold view made %zu pages resident; its block and the %d after it are %zu",
	      viewed - after, nblocks - mid - 1, (size_t)(nblocks - mid) * blk);
	CHECK(viewed - after < (size_t)(nblocks - mid + 8) * blk,
	      "a cold view made %zu pages resident: it read before its block too", viewed - after);
	if (c && v.data)
		cache_view_readaround(c, &v);
	around = resident_settled(dir);
	CHECK(around - viewed >= (size_t)(mid - 8) * blk,
	      "cache_view_readaround made %zu pages resident; the %d blocks before are %zu",
	      around - viewed, mid, (size_t)mid * blk);
	cache_view_release(c, &v);
	CHECK_EQ_INT(c ? cache_view_get(c, &cid, &v, 0) : -1, 0);
	CHECK(!v.cold, "a view of resident pages is marked cold");
	cache_view_release(c, &v);
	cache_close(c);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
}

static struct cache *open_direct(const char *dir, bool direct)
{
	struct cache_opts o = {.dir = dir, .max_bytes = 64 << 20, .direct_reads = direct};
	struct cache *c = NULL;
	struct errbuf e = {{0}};
	int rc = cache_open(&o, &c, &e);

	CHECK(rc == 0, "cache_open %s: %d %s", dir, rc, e.msg);
	return c;
}

/* 0 if cache_view_pread of [from, from+len) of v gives want's bytes there. */
static int pread_matches(struct cache *c, const struct cache_view *v, const uint8_t *want,
			 size_t from, size_t len)
{
	static uint8_t *buf;
	const size_t cap = (1 << 20) + 16384;
	ssize_t at;

	if (!buf && posix_memalign((void **)&buf, 4096, cap))
		return -ENOMEM;
	memset(buf, 0xa5, cap);
	at = cache_view_pread(c, v, from, len, buf, cap);
	if (at < 0)
		return (int)at;
	if ((size_t)at >= 4096 || memcmp(buf + at, want + from, len))
		return -EBADMSG;
	return 0;
}

/* Direct reads return a cold view's exact bytes at any offset without filling
 * the page cache (no read-ahead on a CACHE_VIEW_DIRECT view), also after the
 * map moved; a warm view, a bad range, a small or unaligned buffer and a cache
 * opened without direct_reads say no. Needs a disk-backed directory. */
static void test_view_pread(void)
{
	char dir[] = "/var/tmp/test_cache_dio.XXXXXX", cmd[100];
	static uint8_t want[1 << 20];
	const size_t lens[] = {1 << 20, (256 << 10) + 123, 5000, 70001};
	uint64_t saved = cache_map_slack;
	size_t before, after;
	struct cache_view v = {0};
	struct cache *c;
	struct cid cid;
	uint8_t *abuf = NULL;
	pid_t pid;
	int status;

	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp %s: %s", dir, strerror(errno));
		return;
	}
	c = open_cache(dir, 64 << 20, false);
	for (int i = 0; c && i < 8; i++) /* away from the pages that opening reads */
		CHECK_EQ_INT(put_block(c, 40, (uint64_t)i, 1 << 20), 0);
	for (int i = 0; c && i < 4; i++)
		CHECK_EQ_INT(put_block(c, 41, (uint64_t)i, lens[i]), 0);
	cache_close(c);
	CHECK_EQ_INT(drop_data_file(dir), 0);

	c = open_direct(dir, true);
	CHECK(cache_reads_direct(c), "no O_DIRECT reads of %s/data.mdb", dir);
	before = resident_settled(dir);
	for (int i = 0; c && i < 4; i++) {
		make_block(41, (uint64_t)i, want, lens[i], &cid);
		CHECK_EQ_INT(cache_view_get(c, &cid, &v, CACHE_VIEW_DIRECT), 0);
		CHECK(v.cold && v.len == lens[i], "block %d: cold %d len %zu", i, v.cold, v.len);
		CHECK_EQ_INT(pread_matches(c, &v, want, 0, lens[i]), 0);
		CHECK_EQ_INT(pread_matches(c, &v, want, lens[i] - 1, 1), 0);
		if (lens[i] > 9000) {
			CHECK_EQ_INT(pread_matches(c, &v, want, 1, 5000), 0);
			CHECK_EQ_INT(pread_matches(c, &v, want, 4095, lens[i] - 8191), 0);
		}
		CHECK_EQ_INT(pread_matches(c, &v, want, lens[i], 1), -ENOTSUP);
		CHECK_EQ_INT(pread_matches(c, &v, want, 0, lens[i] + 1), -ENOTSUP);
		CHECK_EQ_INT(pread_matches(c, &v, want, 0, 0), -ENOTSUP);
		cache_view_release(c, &v);
	}
	after = resident_settled(dir);
	CHECK(after - before <= 32, "direct reads made %zu pages of data.mdb resident",
	      after - before);

	make_block(41, 0, want, lens[0], &cid);
	CHECK_EQ_INT(c ? cache_view_get(c, &cid, &v, CACHE_VIEW_DIRECT) : -1, 0);
	CHECK(posix_memalign((void **)&abuf, 4096, 8192) == 0, "memalign");
	CHECK_EQ_INT(abuf ? (int)cache_view_pread(c, &v, 0, lens[0], abuf, 8192) : 0, -ENOBUFS);
	CHECK_EQ_INT(abuf ? (int)cache_view_pread(c, &v, 0, 10, abuf + 1, 8000) : 0, -ENOTSUP);
	free(abuf);
	cache_view_release(c, &v);
	CHECK_EQ_INT(c ? cache_view_get(c, &cid, &v, 0) : -1, 0); /* reads it into memory */
	for (size_t k = 0; v.data && k < v.len; k += 4096)
		CHECK(v.data[k] == want[k], "byte %zu differs", k);
	cache_view_release(c, &v);
	CHECK_EQ_INT(c ? cache_view_get(c, &cid, &v, CACHE_VIEW_DIRECT) : -1, 0);
	CHECK(!v.cold, "a view of resident pages is cold");
	CHECK_EQ_INT(pread_matches(c, &v, want, 0, 10), -ENOTSUP);
	cache_view_release(c, &v);
	cache_close(c);

	c = open_direct(dir, false);
	CHECK(!cache_reads_direct(c), "direct reads on without direct_reads");
	cache_close(c);

	/* The map moves when another process grows the file: offsets stay exact. */
	cache_map_slack = 256 << 10;
	c = open_direct(dir, true);
	cache_map_slack = saved;
	make_block(41, 1, want, lens[1], &cid);
	CHECK_EQ_INT(c ? cache_view_get(c, &cid, &v, CACHE_VIEW_DIRECT) : -1, 0);
	cache_view_release(c, &v); /* notes where the map is */
	pid = spawn_child(dir, 42, 48 << 20);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status),
	      "child status %#x", status);
	CHECK_EQ_INT(put_block(c, 43, 0, 1000), 0); /* this process remaps */
	CHECK_EQ_INT(drop_data_file(dir), 0);
	for (int i = 0; c && i < 3; i++) {
		make_block(41, (uint64_t)i, want, lens[i], &cid);
		CHECK_EQ_INT(cache_view_get(c, &cid, &v, CACHE_VIEW_DIRECT), 0);
		CHECK_EQ_INT(pread_matches(c, &v, want, 0, lens[i]), 0);
		cache_view_release(c, &v);
	}
	cache_close(c);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
}

/* Puts write their pages back and drop them CACHE_WB_LAG bytes later, so a
 * stream of puts does not fill the page cache; every block still reads back. */
static void test_put_writeback(void)
{
	char dir[] = "/var/tmp/test_cache_wb.XXXXXX", cmd[100];
	const int nblocks = 96;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), res, bound;
	struct cache *c;

	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp %s: %s", dir, strerror(errno));
		return;
	}
	c = open_cache(dir, 256 << 20, false);
	for (int i = 0; c && i < nblocks; i++)
		CHECK_EQ_INT(put_block_as(c, 29, (uint64_t)i, 1 << 20, true), 0);
	res = resident_pages(dir);
	bound = (size_t)((CACHE_WB_LAG + (8ull << 20)) / pg);
	CHECK(res <= bound, "%zu pages of %d MiB put still resident (bound %zu)", res, nblocks,
	      bound);
	for (int i = 0; c && i < 48; i++) /* plain puts (random readers) keep their pages */
		CHECK_EQ_INT(put_block_as(c, 31, (uint64_t)i, 1 << 20, false), 0);
	CHECK(resident_pages(dir) >= res + 40 * ((1u << 20) / pg), "plain puts were dropped");
	cache_close(c);
	CHECK_EQ_INT(view_all_seed(dir, 29, nblocks, false) > 0, 1);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
}

/* Pages of data.mdb that are resident and dirty (write-back not started), from
 * /proc/self/pagemap and /proc/kpageflags (root only). -1 if they cannot be read. */
static long dirty_pages(const char *dir)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n;
	int fd, pm = open("/proc/self/pagemap", O_RDONLY), kf = open("/proc/kpageflags", O_RDONLY);
	volatile unsigned char sink = 0;
	unsigned char *vec = NULL;
	uint64_t ent, fl;
	char path[300];
	struct stat st;
	long dirty = -1;
	uint8_t *map;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	fd = open(path, O_RDONLY);
	if (fd < 0 || pm < 0 || kf < 0 || fstat(fd, &st) != 0 || st.st_size == 0)
		goto out;
	n = ((size_t)st.st_size + pg - 1) / pg;
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	vec = malloc(n);
	if (map == MAP_FAILED || !vec || mincore(map, (size_t)st.st_size, vec) != 0)
		goto unmap;
	dirty = 0;
	for (size_t i = 0; i < n && dirty >= 0; i++) {
		if (!(vec[i] & 1))
			continue;
		sink += map[i * pg]; /* resident: a minor fault maps it, no I/O */
		if (pread(pm, &ent, 8, (off_t)(((uintptr_t)map / pg + i) * 8)) != 8 ||
		    !(ent >> 63) || !(ent & ((1ull << 55) - 1)) ||
		    pread(kf, &fl, 8, (off_t)((ent & ((1ull << 55) - 1)) * 8)) != 8)
			dirty = -1; /* no PFN: not root */
		else
			dirty += (fl >> 4) & 1; /* KPF_DIRTY */
	}
unmap:
	if (map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
out:
	free(vec);
	if (fd >= 0)
		close(fd);
	if (pm >= 0)
		close(pm);
	if (kf >= 0)
		close(kf);
	(void)sink;
	return dirty;
}

/* Stream puts start their write-back together, once CACHE_WB_BATCH bytes wait for it:
 * until then their pages stay dirty; after it, they are written. */
static void test_put_writeback_batch(void)
{
	char dir[] = "/var/tmp/test_cache_wbb.XXXXXX", cmd[100];
	long per = (long)((1u << 20) / (size_t)sysconf(_SC_PAGESIZE)), d = -1;
	int nb = (int)(CACHE_WB_BATCH >> 20);
	struct cache *c;

	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp %s: %s", dir, strerror(errno));
		return;
	}
	c = open_cache(dir, 256 << 20, false);
	for (int i = 0; c && i < nb - 1; i++)
		CHECK_EQ_INT(put_block_as(c, 37, (uint64_t)i, 1 << 20, true), 0);
	d = dirty_pages(dir);
	CHECK(d >= (nb - 1) * per,
	      "%ld dirty pages after %d MiB of stream puts (want >= %ld: "
	      "write-back waits for %u MiB; needs root)",
	      d, nb - 1, (nb - 1) * per, CACHE_WB_BATCH >> 20);
	for (int i = nb - 1; c && i < nb + 1; i++)
		CHECK_EQ_INT(put_block_as(c, 37, (uint64_t)i, 1 << 20, true), 0);
	d = dirty_pages(dir); /* the batch's write-back was submitted: its pages are not dirty */
	CHECK(d >= 0 && d < 2 * per, "%ld dirty pages after %d MiB of stream puts (want < %ld)", d,
	      nb + 1, 2 * per);
	cache_close(c);
	CHECK_EQ_INT(view_all_seed(dir, 37, nb + 1, false) > 0, 1);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
}

static void test_default_dir(void)
{
	char buf[512];

	setenv("XDG_CACHE_HOME", "/xdg", 1);
	setenv("HOME", "/home/u", 1);
	cache_default_dir(buf, sizeof(buf));
	if (geteuid() == 0) {
		CHECK_EQ_STR(buf, "/var/cache/mpackfs");
		return;
	}
	CHECK_EQ_STR(buf, "/xdg/mpackfs");
	setenv("XDG_CACHE_HOME", "relative", 1);
	cache_default_dir(buf, sizeof(buf));
	CHECK_EQ_STR(buf, "/home/u/.cache/mpackfs");
	unsetenv("XDG_CACHE_HOME");
	cache_default_dir(buf, sizeof(buf));
	CHECK_EQ_STR(buf, "/home/u/.cache/mpackfs");
}

int main(int argc, char **argv)
{
	char cmd[300];

	if (argc == 5 && !strcmp(argv[1], "--child"))
		return child_main(argv[2], strtoull(argv[3], NULL, 10),
				  strtoull(argv[4], NULL, 10));
	if (!mkdtemp(base_dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_open_errors();
	test_round_trip();
	test_readonly_and_reopen();
	test_lru();
	test_random_workload();
	test_pins();
	test_enospc();
	test_gc_clear();
	test_packs();
	test_pack_note();
	test_scrub();
	test_threads();
	test_processes();
	test_small_blocks();
	test_map_full();
	test_map_resize();
	test_view_drop();
	test_view_readaround();
	test_view_pread();
	test_put_writeback();
	test_put_writeback_batch();
	test_default_dir();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", base_dir);
	return check_done("test_cache");
}
