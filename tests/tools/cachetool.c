/* cachetool: drives the block cache from a separate process, for the crash test (writer loop
 * killed with SIGKILL, then check) and for throughput measurements.
 *
 *   cachetool writer DIR MAX_BYTES SEED [SLACK]   put/read/pin forever; exit 3 if a read
 *                                                 block does not verify, 2 on other errors
 *   cachetool check DIR MAX_BYTES [SLACK]         consistency check + scrub; prints one line
 *                                                 of key=value; exit 0 if clean
 *   cachetool bench DIR MIB                       put and view_get throughput, 1 MiB blocks
 */
/* deps: cache cache_pages cache_write cache_pin cache_scrub cid multihash multibase varint errbuf log dynbuf */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "cache_int.h"
#include "cid.h"
#include "multihash.h"

static uint64_t rng(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void fill(uint8_t *buf, size_t len, uint64_t seed)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t x = rng(&s);

		memcpy(buf + i, &x, len - i < 8 ? len - i : 8);
	}
}

static struct cache *open_or_die(const char *dir, uint64_t max, bool ro)
{
	struct cache_opts o = {.dir = dir, .max_bytes = max, .readonly = ro};
	struct cache *c;
	struct errbuf e;
	int rc = cache_open(&o, &c, &e);

	if (rc) {
		fprintf(stderr, "cachetool: %s (%d)\n", e.msg, rc);
		exit(2);
	}
	return c;
}

static size_t pick_size(uint64_t *s)
{
	uint64_t r = rng(s) % 100;

	if (r < 10)
		return 1 + rng(s) % 200; /* tiny */
	if (r < 85)
		return 1 + rng(s) % (256 << 10);
	return (512 << 10) + rng(s) % (BLOCK_MAX - (512 << 10) + 1);
}

/* Reads a recent block and verifies it; 3 on corruption. */
static int writer_read(struct cache *c, const struct cid *cid)
{
	struct cache_view v;
	struct errbuf e;
	int rc = cache_view_get(c, cid, &v, 0);

	if (rc == -ENOENT)
		return 0;
	if (rc) {
		fprintf(stderr, "cachetool: view_get: %d\n", rc);
		return 2;
	}
	rc = mh_verify(cid, v.data, v.len, &e);
	cache_view_release(c, &v);
	if (rc) {
		fprintf(stderr, "cachetool: read block does not verify: %s\n", e.msg);
		return 3;
	}
	return 0;
}

static int writer(const char *dir, uint64_t max, uint64_t seed)
{
	static struct cid recent[64];
	struct cache *c = open_or_die(dir, max, false);
	uint8_t *buf = malloc(BLOCK_MAX);
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
	struct cid root;
	int nrecent = 0, rc;

	cid_for_block(1, CID_CODEC_DAG_PB, &seed, sizeof(seed), &root);
	for (uint64_t i = 0;; i++) {
		size_t len = pick_size(&s);
		struct cid cid;

		fill(buf, len, rng(&s));
		cid_for_block(1, CID_CODEC_RAW, buf, len, &cid);
		rc = cache_put(c, &cid, buf, len);
		if (rc && rc != -ENOSPC) {
			fprintf(stderr, "cachetool: put: %d\n", rc);
			return 2;
		}
		recent[nrecent++ % 64] = cid;
		if ((rc = writer_read(c, &recent[rng(&s) % (nrecent < 64 ? nrecent : 64)])))
			return rc;
		if (len < 4096 && rng(&s) % 4 == 0)
			cache_pin_add(c, &root, &cid);
		if (i % 97 == 96)
			cache_unpin(c, &root);
		if (i % 50 == 0)
			cache_maintain(c);
		if (i == 0) {
			printf("running\n");
			fflush(stdout);
		}
	}
}

static int check(const char *dir, uint64_t max, uint64_t slack)
{
	struct cache *c = open_or_die(dir, max, false);
	uint64_t m = max + max / 4 + slack, bound = (m + 0xffff) & ~0xffffull;
	uint64_t checked = 0, removed = 0;
	struct cache_stats st;
	struct errbuf e = {{0}};
	int consistent = cache_check_consistency(c, &e) == 0;
	int rc = cache_scrub(c, NULL, NULL, &checked, &removed);

	cache_stats_get(c, &st);
	printf("scrub_rc=%d checked=%llu removed=%llu blocks=%llu bytes=%llu pinned=%llu "
	       "file=%llu bound=%llu consistent=%d\n",
	       rc, (unsigned long long)checked, (unsigned long long)removed,
	       (unsigned long long)st.blocks, (unsigned long long)st.bytes,
	       (unsigned long long)st.pinned_blocks, (unsigned long long)st.file_bytes,
	       (unsigned long long)bound, consistent);
	if (!consistent)
		printf("inconsistent: %s\n", e.msg);
	cache_close(c);
	return rc || removed || !consistent || st.file_bytes > bound || st.bytes > max;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int bench(const char *dir, int mib)
{
	const size_t len = 1 << 20;
	struct cache *c = open_or_die(dir, (uint64_t)mib * 2 << 20, false);
	uint8_t *data = malloc((size_t)mib * len);
	struct cid *cids = calloc((size_t)mib, sizeof(*cids));
	volatile uint64_t sum = 0;
	double t0, t1, t2, t3;
	int rounds = 5;

	for (int i = 0; i < mib; i++) {
		fill(data + (size_t)i * len, len, (uint64_t)i + 77);
		cid_for_block(1, CID_CODEC_RAW, data + (size_t)i * len, len, &cids[i]);
	}
	t0 = now();
	for (int i = 0; i < mib; i++)
		if (cache_put(c, &cids[i], data + (size_t)i * len, len))
			return 2;
	cache_maintain(c); /* includes the fsync */
	t1 = now();
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < mib; i++) {
			struct cache_view v;

			if (cache_view_get(c, &cids[i], &v, 0))
				return 2;
			sum += v.data[r * 4096 % len];
			cache_view_release(c, &v);
		}
	t2 = now();
	for (int i = 0; i < mib; i++) {
		struct cache_view v;

		if (cache_view_get(c, &cids[i], &v, 0))
			return 2;
		for (size_t j = 0; j < len; j += 64)
			sum += v.data[j];
		cache_view_release(c, &v);
	}
	t3 = now();
	printf("put: %.0f MiB/s (%d x 1 MiB, with fsync)\n", mib / (t1 - t0), mib);
	printf("view_get+release: %.0f views/s (%.2f us each)\n", rounds * mib / (t2 - t1),
	       (t2 - t1) * 1e6 / (rounds * mib));
	printf("view_get + read every cache line: %.0f MiB/s\n", mib / (t3 - t2));
	cache_close(c);
	free(data);
	free(cids);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && !strcmp(argv[1], "writer")) {
		if (argc >= 6)
			cache_map_slack = strtoull(argv[5], NULL, 10);
		return writer(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10));
	}
	if (argc >= 4 && !strcmp(argv[1], "check")) {
		if (argc >= 5)
			cache_map_slack = strtoull(argv[4], NULL, 10);
		return check(argv[2], strtoull(argv[3], NULL, 10), cache_map_slack);
	}
	if (argc == 4 && !strcmp(argv[1], "bench"))
		return bench(argv[2], atoi(argv[3]));
	fprintf(stderr, "usage: cachetool writer DIR MAX SEED [SLACK] | check DIR MAX [SLACK] | "
			"bench DIR MIB\n");
	return 64;
}
