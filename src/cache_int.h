/* cache_int.h: internals shared by cache.c, cache_write.c, cache_pin.c and cache_scrub.c.
 * Not for other modules: the contract is cache.h. */
#ifndef MPACK_CACHE_INT_H
#define MPACK_CACHE_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "cache.h"

#define CACHE_KEY_MAX	  CID_MAX_BIN	      /* longest multihash key */
#define CACHE_LRU_KEY_MAX (8 + CACHE_KEY_MAX) /* big-endian seq + multihash */
#define CACHE_POOL_MAX	  64		      /* reset read txns kept for reuse */
#define CACHE_LABEL_MAX	  1024		      /* longest pack label */
#define CACHE_MAP_SLACK	  (64ull << 20)	      /* map size margin (see cache.h) */
#define CACHE_META_SIZE	  16
#define CACHE_TOTALS_SIZE 40
#define CACHE_FORMAT	  1

/* Map size margin over max_bytes + max_bytes/4. Tests lower it (before cache_open) to
 * reach MDB_MAP_FULL quickly; nothing else writes it. */
extern uint64_t cache_map_slack;

struct cache_key {
	uint16_t len;
	uint8_t b[CACHE_KEY_MAX];
};

/* "info"/"totals": kept equal to the data by updating it in the same write txn. */
struct cache_totals {
	uint64_t bytes;	 /* payload bytes of every block */
	uint64_t blocks; /* entries in "blocks" (= "meta") */
	uint64_t next_seq;
	uint64_t pinned_blocks; /* cached blocks with pins > 0 */
	uint64_t pinned_bytes;
};

/* "meta" value: 16 bytes little-endian. */
struct cache_meta {
	uint64_t seq;  /* position in "lru" (if pins == 0) */
	uint32_t size; /* payload bytes */
	uint32_t pins; /* roots pinning this block */
};

#define CACHE_PACK_PENDING 16 /* pack notes waiting for the maintenance thread */

/* A stream's put pages are dropped CACHE_WB_LAG bytes of puts later. A
 * reader trails the puts of its prefetch by up to its readahead window
 * (rastream.h RA_MAX, 64 MiB): dropped sooner, the block it asks for is read
 * back from disk. Slots: LAG / MIN, so small blocks do not shorten the lag. */
#define CACHE_WB_MIN   (64u << 10)   /* smaller blocks are left to the kernel */
#define CACHE_WB_LAG   (64ull << 20) /* bytes put before their pages are dropped */
#define CACHE_WB_SLOTS 1024
/* Write-back starts once CACHE_WB_BATCH bytes of puts wait for it, as one request
 * over their span when each put lies within CACHE_WB_GAP of it (puts into a growing
 * file are nearly adjacent), so the device gets few large writes, not one per put. */
#define CACHE_WB_BATCH (4u << 20)
#define CACHE_WB_GAP   (1u << 20)

struct cache {
	MDB_env *env;
	MDB_dbi db_blocks, db_meta, db_lru, db_pins, db_pinrev, db_roots, db_packs, db_info;
	char *dir;
	char *data_path; /* dir/data.mdb */
	uint64_t max_bytes;
	uint64_t slack; /* cache_map_slack at open */
	bool readonly;
	bool want_direct; /* open direct_fd (cache_opts.direct_reads) */

	pthread_mutex_t gate_lock; /* protects pool, npool, active, remapping */
	pthread_cond_t gate_cv;
	MDB_txn *pool[CACHE_POOL_MAX];
	int npool;
	int active;	/* txns (read or write) open in this process */
	bool remapping; /* a thread waits for active == 0 to adopt a new map size */

	pthread_mutex_t tq_lock; /* protects tq and writes of tq_n */
	struct cache_key *tq;	 /* queued touches (CACHE_TOUCH_BATCH) */
	atomic_uint tq_n;
	pthread_mutex_t flush_lock; /* serialises touch flushes; protects tq_spare */
	struct cache_key *tq_spare;

	pthread_mutex_t maint_lock; /* protects maint_stop, maint_kicked; with maint_cv */
	pthread_cond_t maint_cv;    /* wakes the maintenance thread */
	pthread_t maint;
	bool maint_running, maint_stop, maint_kicked;

	atomic_bool dirty;	     /* commits since the last env sync */
	atomic_llong last_check;     /* monotonic seconds of the last stale-reader check */
	atomic_llong last_sync;	     /* monotonic seconds of the maintenance thread's last sync */
	atomic_llong last_full_warn; /* monotonic seconds of the last "map full" warning */
	atomic_ullong hits, misses, puts, evictions;
	atomic_ullong view_bytes; /* bytes viewed since the map was last trimmed */
	pthread_mutex_t map_lock; /* protects map_lo, map_hi, map_pgoff */
	uintptr_t map_lo, map_hi; /* a mapping of data.mdb, as last found in /proc/self/maps */
	uint64_t map_pgoff;	  /* the file offset at map_lo */
	pthread_mutex_t wb_lock;  /* protects the write-back ring */
	struct cache_range {
		uint64_t off, len;
	} wb[CACHE_WB_SLOTS];
	unsigned wb_head, wb_n;
	uint64_t wb_bytes;
	struct {
		uint64_t lo, hi, bytes; /* file span and bytes of the puts not yet written */
	} wb_span;
	int data_fd;	       /* LMDB's fd of data.mdb (borrowed) */
	int direct_fd;	       /* data.mdb opened O_DIRECT (owned), or -1 */
	atomic_bool direct_ok; /* direct_fd works */

	pthread_mutex_t pk_lock; /* protects pk, pk_n */
	struct cache_pack_note {
		uint8_t root[CID_MAX_BIN];
		uint16_t len;
		char *label; /* owned; NULL for none */
	} pk[CACHE_PACK_PENDING];
	unsigned pk_n;
};

/* A write transaction with the totals loaded (saved again before commit). */
struct cache_w {
	struct cache *c;
	MDB_txn *txn;
	struct cache_totals t, t0;
	uint64_t evicted; /* blocks evicted in this txn */
	uint64_t stored;  /* blocks inserted in this txn */
};

typedef int (*cache_wfn)(struct cache_w *w, void *arg);

/* cache.c */
int cache_rtxn_get(struct cache *c, MDB_txn **out);
void cache_rtxn_put(struct cache *c, MDB_txn *t);
int cache_wtxn_begin(struct cache *c, MDB_txn **out);
void cache_wtxn_done(struct cache *c);
int cache_rc(struct cache *c, int rc, const char *what);
int cache_has_key(struct cache *c, MDB_dbi dbi, MDB_val *k);
bool cache_views_held(void);
int cache_key_of(const struct cid *cid, MDB_val *k);
void cache_meta_enc(const struct cache_meta *m, uint8_t out[CACHE_META_SIZE]);
int cache_meta_dec(const MDB_val *v, struct cache_meta *m);
int cache_totals_read(struct cache *c, MDB_txn *txn, struct cache_totals *t);
int cache_totals_write(struct cache *c, MDB_txn *txn, const struct cache_totals *t);
size_t cache_lru_key(uint64_t seq, const MDB_val *mh, uint8_t out[CACHE_LRU_KEY_MAX]);
int cache_meta_get(struct cache *c, MDB_txn *txn, const MDB_val *mh, struct cache_meta *m);
int cache_meta_put(struct cache *c, MDB_txn *txn, const MDB_val *mh, const struct cache_meta *m);

/* cache_pin.c: write the pack notes queued so far (maintenance thread, close). */
void cache_packs_flush(struct cache *c);

/* cache_pages.c */
void cache_trim_map(struct cache *c, size_t len);
/* Forget where data.mdb is mapped: after a remap, which may move the map. */
void cache_forget_map(struct cache *c);
void cache_view_advise(struct cache *c, struct cache_view *v, unsigned flags);
void cache_put_writeback(struct cache *c, MDB_val *mh);

/* Wake the maintenance thread now (the touch queue is filling). */
void cache_maint_kick(struct cache *c);

/* cache_write.c */
int cache_write(struct cache *c, cache_wfn fn, void *arg, uint64_t room);
int cache_write_once(struct cache *c, cache_wfn fn, void *arg);
int cache_block_remove(struct cache_w *w, MDB_val *mh, uint64_t *size);
int cache_touch_flush(struct cache *c, bool wait);
void cache_touch_queue(struct cache *c, const MDB_val *mh);

/* cache_scrub.c: checks that totals, meta, lru and blocks agree, in one read txn. For tests
 * and tools (slow on a big cache). 0 or -EIO with the first disagreement in e. */
int cache_check_consistency(struct cache *c, struct errbuf *e);
/* Raw CIDv1 for a multihash key (what scrub verifies with). 0 or -EINVAL. */
int cache_cid_of_key(const uint8_t *mh, size_t len, struct cid *out);

static inline void cache_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t cache_get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

#endif
