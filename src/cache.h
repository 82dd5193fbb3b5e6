/* cache: the persistent, verified block cache in LMDB. The only module that
 * uses LMDB.
 *
 * Blocks are keyed by multihash, so CIDv0/v1 and raw/dag-pb CIDs of the same
 * bytes share one entry. Callers put only blocks they have verified; the cache
 * itself re-verifies only in cache_scrub.
 *
 * Size: `max_bytes` bounds the sum of block payload bytes. A put that would
 * exceed it first evicts least-recently-used unpinned blocks. The LMDB file is
 * mapped with max_bytes + max_bytes/4 + 64 MiB, so the file never grows past
 * that (the stated margin covers B-tree pages and fragmentation). MDB_MAP_FULL
 * → evict more, retry; if everything left is pinned, -ENOSPC.
 *
 * Access times: reads never open a write transaction. Touches are queued in
 * memory and written in one batch by the cache's maintenance thread (when half
 * of CACHE_TOUCH_BATCH are queued, every second, and at close). A writable
 * cache owns that thread from cache_open to cache_close; it also syncs the
 * environment after commits (at most every 30 s) and clears stale reader slots.
 *
 * Pins: cache_pin_add(root, block) records that `block` belongs to pinned pack
 * `root`; pinned blocks are never evicted. cache_unpin(root) drops the pack's
 * pins (blocks pinned by another root stay pinned).
 *
 * Packs: a small table of known pack roots (manifest or directory CIDs) with a
 * label, so the filesystem can list the packs whose manifests are cached.
 *
 * Concurrency: one struct cache may be used from many threads. Several
 * processes may open the same directory at once (the mount and the CLI).
 * Crash safety: a kill -9 at any moment leaves a cache that opens and whose
 * every block verifies (LMDB's copy-on-write; MDB_NOSYNC with an
 * mdb_env_sync every 30 s and at cache_close: a process crash loses
 * nothing; a power loss may lose the puts since the last sync, and on a file
 * system that reorders writes may leave a cache LMDB reports as corrupt).
 * Never use a struct cache across fork().
 *
 * Page cache: see cache_put_stream and cache_drop (cache_pages.c). */
#ifndef MPACK_CACHE_H
#define MPACK_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cid.h"
#include "errbuf.h"

#define CACHE_TOUCH_BATCH	1024
#define CACHE_TRIM_BYTES	(16ull << 20) /* views between unmapping the map (RSS) */
#define CACHE_AROUND		(4ull << 20)  /* read each side of a cold view's block */
#define CACHE_DEFAULT_MAX_BYTES (20ull << 30)

struct cache;

struct cache_opts {
	const char *dir;    /* created (mode 0700) if missing */
	uint64_t max_bytes; /* 0 → CACHE_DEFAULT_MAX_BYTES */
	bool readonly;	    /* open read-only (no puts, no touches) */
	bool direct_reads;  /* allow cache_view_pread (data.mdb opened O_DIRECT) */
};

/* Open or create. Returns 0; -EACCES/-ENOENT/-EINVAL etc. with a message
 * naming the directory and LMDB's reason. */
int cache_open(const struct cache_opts *o, struct cache **out, struct errbuf *e);
/* Flush touches, sync, close. NULL is a no-op. */
void cache_close(struct cache *c);

/* A zero-copy view of a cached block. data points into LMDB's map and stays
 * valid until cache_view_release; hold it briefly (it pins a read snapshot).
 * Views may be held by many threads at once. Every CACHE_TRIM_BYTES viewed, the
 * process unmaps the map's pages (they stay in the page cache), so RSS stays
 * bounded however much is read. */
struct cache_view {
	const uint8_t *data;
	size_t len;
	void *txn; /* private */
	bool cold; /* its first page was not in memory: its block is being read */
};
/* 0 with *v filled, -ENOENT if absent, -EIO on LMDB errors. Records a hit or
 * miss and queues a touch on hit. A view whose pages are not in memory is
 * cold (v->cold) and starts reading them, and CACHE_AROUND bytes of data.mdb
 * after them; with CACHE_VIEW_DIRECT it starts nothing: the caller reads a
 * cold view's bytes with cache_view_pread, not through the map. */
#define CACHE_VIEW_DIRECT 1u
int cache_view_get(struct cache *c, const struct cid *cid, struct cache_view *v, unsigned flags);
void cache_view_release(struct cache *c, struct cache_view *v);
/* True if cache_view_pread can work: direct_reads was asked for and data.mdb
 * takes O_DIRECT reads. False for NULL. */
bool cache_reads_direct(struct cache *c);
/* Reads bytes [from, from+len) of a cold view's value from disk into buf,
 * bypassing the page cache: a sequential reader of cached blocks then neither
 * fills memory with a second copy of them nor pays to touch fresh pages. buf
 * is 4096-aligned with room for cap bytes (len plus up to 8 KiB of alignment).
 * Returns where byte `from` starts in buf; -ENOTSUP (view not cold, direct
 * reads off or refused: read the view instead), -ENOBUFS (cap too small),
 * -EIO or -errno (the read failed). Hold the view meanwhile: it keeps the
 * value's pages from being reused. */
ssize_t cache_view_pread(struct cache *c, const struct cache_view *v, size_t from, size_t len,
			 void *buf, size_t cap);
/* For a random reader's cold view: also start reading CACHE_AROUND bytes of
 * data.mdb before its block. With the read after it, this is what the kernel's
 * fault read-around does, for block data only: the map is MADV_RANDOM, so
 * B-tree lookups read single pages. No-op for a warm view. */
void cache_view_readaround(struct cache *c, const struct cache_view *v);
/* Drop a cached block's pages from the page cache (and this process's map):
 * for a block a sequential reader has consumed, whose bytes now live in the
 * reader's own page cache, so memory holds one copy, not two. Dirty pages are
 * never dropped. No hit, miss or touch is recorded. 0, -ENOENT, -EIO. */
int cache_drop(struct cache *c, const struct cid *cid);

/* Start reading a cached block's pages from disk in the background
 * (MADV_WILLNEED), so a later view finds them in memory. 0, -ENOENT if the
 * block is not cached, -EIO. No touch, no hit or miss counted. */
int cache_advise(struct cache *c, const struct cid *cid);

/* 1 if present, 0 if not (no touch, no hit/miss counted). */
int cache_has(struct cache *c, const struct cid *cid);

/* Store a verified block. Already present → 0 (touches it). Returns 0,
 * -ENOSPC when it cannot fit even after evicting every unpinned block,
 * -EFBIG over BLOCK_MAX, -EROFS if read-only, -EIO. */
int cache_put(struct cache *c, const struct cid *cid, const void *data, size_t len);
/* cache_put for blocks that stream past (sequential reads, prefetch, import):
 * also starts writing the block back at once and drops its pages CACHE_WB_LAG
 * bytes of such puts later, so filling the cache keeps a bounded set of pages
 * instead of a second in-memory copy of the pack. Use cache_put for a random
 * reader's blocks: it may come back for the rest of the block. */
int cache_put_stream(struct cache *c, const struct cid *cid, const void *data, size_t len);

/* Remove one block (used by scrub and tests). 0 or -ENOENT. */
int cache_delete(struct cache *c, const struct cid *cid);

/* Pins. */
int cache_pin_add(struct cache *c, const struct cid *root, const struct cid *block);
int cache_unpin(struct cache *c, const struct cid *root);
/* Calls fn for each pinned root; stops early if fn returns non-zero. */
int cache_pins_foreach(struct cache *c, int (*fn)(void *ctx, const struct cid *root), void *ctx);
bool cache_is_pinned(struct cache *c, const struct cid *block);

/* Known packs (for listing /models). label may be NULL. cache_pack_add writes
 * at once (no write txn if root is already there with this label).
 * cache_pack_note is for a hot path such as a FUSE lookup: it queues the
 * record for the maintenance thread (next round, at the latest at close) and
 * writes at once only when no thread runs or its queue is full. Both: 0,
 * -EINVAL, -ENAMETOOLONG (label over 1024 bytes), -EROFS, -ENOMEM, or a write
 * error. */
int cache_pack_add(struct cache *c, const struct cid *root, const char *label);
int cache_pack_note(struct cache *c, const struct cid *root, const char *label);
int cache_packs_foreach(struct cache *c,
			int (*fn)(void *ctx, const struct cid *root, const char *label), void *ctx);

/* Evict unpinned LRU blocks until payload bytes ≤ target. *evicted (may be NULL)
 * receives the count. */
int cache_gc(struct cache *c, uint64_t target_bytes, uint64_t *evicted);
/* Remove every block, pin and pack. */
int cache_clear(struct cache *c);

/* Re-verify every block with mh_verify; delete bad ones. fn (may be NULL) is
 * told of each bad block. Reports counts. */
int cache_scrub(struct cache *c, void (*bad)(void *ctx, const struct cid *cid, const char *why),
		void *ctx, uint64_t *checked, uint64_t *removed);

/* Housekeeping: flush queued touches, env sync, stale readers. Cheap if idle.
 * The maintenance thread does the same on its own; callers need not. */
void cache_maintain(struct cache *c);

struct cache_stats {
	uint64_t blocks;
	uint64_t bytes; /* payload bytes */
	uint64_t max_bytes;
	uint64_t pinned_blocks;
	uint64_t file_bytes;			/* size of the LMDB data file */
	uint64_t hits, misses, puts, evictions; /* this process */
};
int cache_stats_get(struct cache *c, struct cache_stats *s);

/* The cache's directory (borrowed until cache_close). */
const char *cache_path(const struct cache *c);

/* Default directory: $XDG_CACHE_HOME/mpackfs, else $HOME/.cache/mpackfs, and
 * /var/cache/mpackfs for root. Writes into buf; returns buf. */
const char *cache_default_dir(char *buf, size_t cap);

#endif
