/* store: the one trustworthy way to get a block by CID.
 *
 * Order: identity CIDs inline → LMDB cache → CAR files → network sources (the
 * Kubo RPC API and gateways, in configured order, through fetch). Every block
 * that does not come from the cache is verified (mh_verify) before it is
 * returned or cached; bad bytes are dropped, counted and logged with their
 * source, and the next source is tried. Verified blocks are put in the cache.
 *
 * DESIGN. Singleflight: concurrent store_get calls for one multihash share one
 * flight (a table of in-flight requests, protected by store->lock); the first
 * caller submits to fetch, later callers wait on the flight's condition
 * variable. Waiters wait with the request's deadline and poll an optional
 * interrupt callback every 50 ms (FUSE interrupts → -EINTR). Readahead and
 * prefetch use store_prefetch, which submits at a lower priority without
 * waiting. Results are delivered from fetch's verify threads, which also do
 * the cache put, so a demand reader never waits for hashing on the network
 * thread. Lock order: store->lock, then a flight's lock is never nested with
 * cache or fetch calls (no lock is held across cache, fetch or CAR I/O). */
#ifndef MPACK_STORE_H
#define MPACK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "cid.h"
#include "errbuf.h"
#include "fetch.h"

#define STORE_MAX_CARS 16

struct store_cfg {
	struct cache_opts cache; /* cache.dir NULL → cache_default_dir(); */
	bool no_cache;		 /* run without a cache (tests, one-shot cat) */
	const char *cars[STORE_MAX_CARS];
	size_t ncars;
	struct fetch_cfg fetch; /* sources: api and gateways in order */
	bool offline;		/* cache and CAR files only */
};

struct store;

/* Opens the cache, indexes the CAR files (a malformed CAR is an error naming
 * the file and offset), starts fetch unless offline or no sources. */
int store_open(const struct store_cfg *cfg, struct store **out, struct errbuf *e);
void store_close(struct store *s);

/* A verified block: a zero-copy cache view, a reference to a just-fetched
 * block's bytes, or an owned heap copy; release with store_block_release. */
struct store_block {
	const uint8_t *data;
	size_t len;
	/* private */
	struct cache_view view;
	uint8_t *owned;
	struct store_flight *flight; /* bytes borrowed from a finished fetch */
	int from_cache;
};

struct store_get_opts {
	int prio;		       /* FETCH_PRIO_* */
	int deadline_ms;	       /* 0 → the fetch deadline */
	int (*interrupted)(void *ctx); /* may be NULL; non-zero → give up with -EINTR */
	void *ictx;
	bool until_cached; /* return only after the cache put of a fetched block */
	bool direct;	   /* a cached block not in memory is left on disk: the
			    * caller reads it with store_block_pread */
	bool local_only;   /* never fetch: -EAGAIN, not logged, if not local */
};

/* Blocking get. Returns 0 with *b filled; -ENOENT (no source has it),
 * -ETIMEDOUT, -EIO (every source failed or lied; why in e), -EINTR,
 * -ENOTSUP (unsupported hash function), -EAGAIN (o->local_only and the block
 * is not in the cache, memory or a CAR). */
int store_get(struct store *s, const struct cid *cid, const struct store_get_opts *o,
	      struct store_block *b, struct errbuf *e);
void store_block_release(struct store *s, struct store_block *b);
/* True if the cache can serve store_block_pread (see cache_reads_direct). */
bool store_reads_direct(struct store *s);
/* cache_view_pread of a block got with opts.direct: -ENOTSUP unless it came
 * from the cache and was not in memory (then use b->data as usual). */
ssize_t store_block_pread(struct store *s, const struct store_block *b, size_t from, size_t len,
			  void *buf, size_t cap);
/* For a random reader: if b came from the cache and was not in memory, also
 * read its neighbours in the cache file (cache_view_readaround). */
void store_block_readaround(struct store *s, const struct store_block *b);
/* Drop a cached block's pages from the page cache (cache_drop): for blocks a
 * sequential reader has consumed. No-op without a cache or if not cached. */
void store_drop_pages(struct store *s, const struct cid *cid);

/* Fire-and-forget fetch into the cache (no-op if in flight; if cached, its
 * pages are read from disk in the background so the coming read is warm).
 * Returns 0 if queued or present, -errno if it cannot be queued. */
int store_prefetch(struct store *s, const struct cid *cid, int prio);
/* store_prefetch that leaves a cached block on disk, for readers using
 * store_block_pread: it would only read the block a second time. */
int store_prefetch_remote(struct store *s, const struct cid *cid, int prio);

/* 1 if the block is in the cache or a CAR (no network), 0 otherwise. */
int store_has_local(struct store *s, const struct cid *cid);

/* The cache (NULL with no_cache). Borrowed. */
struct cache *store_cache(struct store *s);

struct store_stats {
	uint64_t gets, cache_hits, car_hits, fetched, fetched_bytes, verify_failures;
	uint64_t errors, timeouts, not_found, interrupted;
	uint64_t singleflight_joins;
	uint64_t direct_bytes; /* bytes read with store_block_pread */
	int in_flight;
};
void store_stats_get(struct store *s, struct store_stats *st);
/* Per-source stats from fetch (0 when offline). */
size_t store_source_stats(struct store *s, struct fetch_source_stats *out, size_t max);

#endif
