/* cache_write: write transactions of the block cache — put, eviction, touches, delete, gc,
 * clear (see the DESIGN comment in cache.c). */
#include "cache_int.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "multihash.h"

#define CACHE_WRITE_TRIES   5		 /* attempts of one write on MDB_MAP_FULL */
#define CACHE_EVICT_BATCH   1024	 /* evictions per txn in gc */
#define CACHE_RECOVER_BATCH 64		 /* evictions per txn after MDB_MAP_FULL (few pages) */
#define CACHE_EXTRA_MIN	    (1ull << 20) /* smallest eviction made for MAP_FULL */

/* Runs fn in one write txn with the totals loaded; commits if it returns 0. Returns 0, a
 * positive errno or an MDB_* code (MDB_MAP_FULL is for cache_write to handle). */
int cache_write_once(struct cache *c, cache_wfn fn, void *arg)
{
	struct cache_w w = {.c = c};
	int rc;

	if ((rc = cache_wtxn_begin(c, &w.txn)))
		return rc;
	rc = cache_totals_read(c, w.txn, &w.t);
	w.t0 = w.t;
	if (!rc)
		rc = fn(&w, arg);
	if (!rc && memcmp(&w.t, &w.t0, sizeof(w.t)))
		rc = cache_totals_write(c, w.txn, &w.t);
	if (!rc)
		rc = mdb_txn_commit(w.txn);
	else
		mdb_txn_abort(w.txn);
	cache_wtxn_done(c);
	if (!rc) {
		atomic_store(&c->dirty, true);
		atomic_fetch_add(&c->evictions, w.evicted);
		atomic_fetch_add(&c->puts, w.stored);
	}
	return rc;
}

int cache_block_remove(struct cache_w *w, MDB_val *mh, uint64_t *size)
{
	struct cache *c = w->c;
	struct cache_meta m;
	uint8_t lk[CACHE_LRU_KEY_MAX];
	MDB_val lv = {0, lk};
	int rc;

	if ((rc = cache_meta_get(c, w->txn, mh, &m)))
		return rc;
	rc = mdb_del(w->txn, c->db_blocks, mh, NULL);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	if ((rc = mdb_del(w->txn, c->db_meta, mh, NULL)))
		return rc;
	if (m.pins) {
		w->t.pinned_blocks -= w->t.pinned_blocks ? 1 : 0;
		w->t.pinned_bytes -= m.size < w->t.pinned_bytes ? m.size : w->t.pinned_bytes;
	} else {
		lv.mv_size = cache_lru_key(m.seq, mh, lk);
		rc = mdb_del(w->txn, c->db_lru, &lv, NULL);
		if (rc && rc != MDB_NOTFOUND)
			return rc;
	}
	w->t.blocks -= w->t.blocks ? 1 : 0;
	w->t.bytes -= m.size < w->t.bytes ? m.size : w->t.bytes;
	if (size)
		*size = m.size;
	return 0;
}

/* Evicts from the head of "lru" until `need` bytes and `min_n` blocks, or `max_n` blocks, are
 * gone (or the LRU is empty). */
static int cache_evict(struct cache_w *w, uint64_t need, uint64_t min_n, uint64_t max_n,
		       uint64_t *freed, uint64_t *n)
{
	struct cache_key key;
	MDB_cursor *cur;
	MDB_val k, d, mh = {0, key.b};
	uint64_t size;
	int rc;

	*freed = *n = 0;
	if ((rc = mdb_cursor_open(w->txn, w->c->db_lru, &cur)))
		return rc;
	while ((*freed < need || *n < min_n) && *n < max_n) {
		if ((rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST)))
			break;
		key.len = 0;
		if (k.mv_size > 8 && k.mv_size <= CACHE_LRU_KEY_MAX) {
			key.len = (uint16_t)(k.mv_size - 8);
			memcpy(key.b, (uint8_t *)k.mv_data + 8, key.len);
		}
		if ((rc = mdb_cursor_del(cur, 0)))
			break;
		if (!key.len)
			continue; /* malformed entry: dropped */
		mh.mv_size = key.len;
		rc = cache_block_remove(w, &mh, &size);
		if (rc == MDB_NOTFOUND)
			continue; /* entry without a block: dropped */
		if (rc)
			break;
		*freed += size;
		(*n)++;
		w->evicted++;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Bytes of the pages in use by every database in this txn (the free list excepted). */
static int cache_used_bytes(struct cache_w *w, uint64_t *out)
{
	struct cache *c = w->c;
	MDB_dbi dbs[] = {1 /* main */, c->db_blocks, c->db_meta,  c->db_lru, c->db_pins,
			 c->db_pinrev, c->db_roots,  c->db_packs, c->db_info};
	uint64_t pages = 2; /* meta pages */
	MDB_stat st = {0};
	int rc;

	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		if ((rc = mdb_stat(w->txn, dbs[i], &st)))
			return rc;
		pages += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
	}
	*out = pages * st.ms_psize;
	return 0;
}

/* Makes room for a block of len bytes: payload bytes stay ≤ max_bytes (ENOSPC if the
 * unpinned blocks cannot make room), and while the pages in use exceed max_bytes * 1.25 plus
 * half the slack (small blocks cost more than their size) each put also evicts twice its size
 * and at least two blocks, so the file stops growing and the other half of the slack stays
 * free for LMDB's own needs. */
static int cache_make_room(struct cache_w *w, size_t len)
{
	struct cache *c = w->c;
	uint64_t need = 0, min_n = 0, freed, n, used, unpinned;
	int rc;

	if (w->t.bytes + len > c->max_bytes) {
		need = w->t.bytes + len - c->max_bytes;
		unpinned =
		    w->t.bytes - (w->t.pinned_bytes < w->t.bytes ? w->t.pinned_bytes : w->t.bytes);
		if (need > unpinned)
			return ENOSPC;
	}
	if ((rc = cache_used_bytes(w, &used)))
		return rc;
	if (used + len > c->max_bytes + c->max_bytes / 4 + c->slack / 2) {
		need = need > 2 * len ? need : 2 * len;
		min_n = 2;
	}
	if (!need && !min_n)
		return 0;
	if ((rc = cache_evict(w, need, min_n, UINT64_MAX, &freed, &n)))
		return rc;
	if (w->t.bytes + len > c->max_bytes)
		return ENOSPC;
	return 0;
}

struct cache_evict_arg {
	uint64_t need, max_n, freed, n;
};

static int cache_evict_fn(struct cache_w *w, void *arg)
{
	struct cache_evict_arg *a = arg;

	return cache_evict(w, a->need, 0, a->max_n, &a->freed, &a->n);
}

/* Commits the eviction of `bytes` in small txns (a full map has few pages for their copies).
 * ENOSPC if nothing was evictable. */
static int cache_evict_bytes(struct cache *c, uint64_t bytes)
{
	uint64_t done = 0, blocks = 0;
	int rc;

	while (done < bytes) {
		struct cache_evict_arg a = {.need = bytes - done, .max_n = CACHE_RECOVER_BATCH};

		if ((rc = cache_write_once(c, cache_evict_fn, &a)))
			return rc;
		if (!a.n)
			break;
		done += a.freed;
		blocks += a.n;
	}
	return blocks ? 0 : ENOSPC;
}

/* At most one warning every 10 s. */
static void cache_warn_full(struct cache *c)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (ts.tv_sec - atomic_load(&c->last_full_warn) < 10)
		return;
	atomic_store(&c->last_full_warn, (long long)ts.tv_sec);
	log_warn("cache: %s: LMDB map full even after evicting (views held for long?)", c->dir);
}

/* cache_write_once, retried on MDB_MAP_FULL after evicting more; `room` is the size of what
 * the write adds. Returns 0, a positive errno (ENOSPC when full) or an MDB_* code. */
int cache_write(struct cache *c, cache_wfn fn, void *arg, uint64_t room)
{
	uint64_t extra = 0;
	int rc;

	for (int i = 0;; i++) {
		rc = cache_write_once(c, fn, arg);
		if (rc != MDB_MAP_FULL || i + 1 >= CACHE_WRITE_TRIES)
			break;
		mdb_reader_check(c->env, NULL);
		extra = extra ? extra * 2 : 2 * room + c->max_bytes / 100 + CACHE_EXTRA_MIN;
		log_debug("cache: %s: map full, evicting %llu bytes", c->dir,
			  (unsigned long long)extra);
		if ((rc = cache_evict_bytes(c, extra)))
			break;
	}
	if (rc == MDB_MAP_FULL) {
		cache_warn_full(c);
		rc = ENOSPC;
	}
	return rc;
}

/* ---- touches ---- */

/* Moves a cached block to the tail of the LRU. Absent blocks are skipped. */
static int cache_touch_one(struct cache_w *w, MDB_val *mh)
{
	struct cache *c = w->c;
	struct cache_meta m;
	uint8_t lk[CACHE_LRU_KEY_MAX];
	MDB_val lv = {0, lk}, empty = {0, NULL};
	int rc = cache_meta_get(c, w->txn, mh, &m);

	if (rc)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (!m.pins) {
		lv.mv_size = cache_lru_key(m.seq, mh, lk);
		rc = mdb_del(w->txn, c->db_lru, &lv, NULL);
		if (rc && rc != MDB_NOTFOUND)
			return rc;
		lv.mv_size = cache_lru_key(w->t.next_seq, mh, lk);
		if ((rc = mdb_put(w->txn, c->db_lru, &lv, &empty, 0)))
			return rc;
	}
	m.seq = w->t.next_seq++;
	return cache_meta_put(c, w->txn, mh, &m);
}

void cache_touch_queue(struct cache *c, const MDB_val *mh)
{
	unsigned n;

	pthread_mutex_lock(&c->tq_lock);
	n = atomic_load_explicit(&c->tq_n, memory_order_relaxed);
	if (n < CACHE_TOUCH_BATCH && mh->mv_size <= CACHE_KEY_MAX) {
		c->tq[n].len = (uint16_t)mh->mv_size;
		memcpy(c->tq[n].b, mh->mv_data, mh->mv_size);
		atomic_store(&c->tq_n, n + 1);
	}
	pthread_mutex_unlock(&c->tq_lock);
	if (n + 1 == CACHE_TOUCH_BATCH / 2)
		cache_maint_kick(c);
}

struct cache_touch_arg {
	struct cache_key *keys;
	unsigned n;
};

static int cache_touch_fn(struct cache_w *w, void *arg)
{
	struct cache_touch_arg *a = arg;
	int rc;

	for (unsigned i = 0; i < a->n; i++) {
		MDB_val mh = {a->keys[i].len, a->keys[i].b};

		if ((rc = cache_touch_one(w, &mh)))
			return rc;
	}
	return 0;
}

/* Writes the queued touches in one txn. !wait: give up if another thread is flushing.
 * Touches are advisory: on failure they are dropped (and logged). A thread holding views
 * never waits for flush_lock: its holder may wait for a remap that waits for those views. */
int cache_touch_flush(struct cache *c, bool wait)
{
	struct cache_touch_arg a;
	int rc = 0;

	if (wait && !cache_views_held())
		pthread_mutex_lock(&c->flush_lock);
	else if (pthread_mutex_trylock(&c->flush_lock))
		return 0;
	pthread_mutex_lock(&c->tq_lock);
	a.keys = c->tq;
	c->tq = c->tq_spare;
	c->tq_spare = a.keys;
	a.n = atomic_load(&c->tq_n);
	atomic_store(&c->tq_n, 0);
	pthread_mutex_unlock(&c->tq_lock);
	if (a.n && (rc = cache_write_once(c, cache_touch_fn, &a)))
		log_debug("cache: %s: %u touches dropped: %s", c->dir, a.n, mdb_strerror(rc));
	pthread_mutex_unlock(&c->flush_lock);
	return rc;
}

/* ---- put, delete ---- */

static int cache_insert(struct cache_w *w, MDB_val *mh, const void *data, size_t len)
{
	struct cache *c = w->c;
	struct cache_meta m = {.seq = w->t.next_seq++, .size = (uint32_t)len};
	uint8_t lk[CACHE_LRU_KEY_MAX];
	MDB_val d = {len, (void *)data}, k = *mh, pv, lv = {0, lk}, empty = {0, NULL};
	MDB_cursor *cur;
	size_t npins = 0;
	int rc;

	if ((rc = mdb_cursor_open(w->txn, c->db_pinrev, &cur)))
		return rc;
	rc = mdb_cursor_get(cur, &k, &pv, MDB_SET);
	if (!rc)
		rc = mdb_cursor_count(cur, &npins);
	mdb_cursor_close(cur);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	m.pins = (uint32_t)npins;
	if ((rc = mdb_put(w->txn, c->db_blocks, mh, &d, 0)) ||
	    (rc = cache_meta_put(c, w->txn, mh, &m)))
		return rc;
	if (m.pins) {
		w->t.pinned_blocks++;
		w->t.pinned_bytes += len;
	} else {
		lv.mv_size = cache_lru_key(m.seq, mh, lk);
		if ((rc = mdb_put(w->txn, c->db_lru, &lv, &empty, 0)))
			return rc;
	}
	w->t.blocks++;
	w->t.bytes += len;
	w->stored++;
	return 0;
}

struct cache_put_arg {
	MDB_val mh;
	const void *data;
	size_t len;
};

static int cache_put_fn(struct cache_w *w, void *arg)
{
	struct cache_put_arg *a = arg;
	struct cache *c = w->c;
	struct cache_meta m;
	int rc = cache_meta_get(c, w->txn, &a->mh, &m);

	if (rc == 0)
		return cache_touch_one(w, &a->mh);
	if (rc != MDB_NOTFOUND)
		return rc;
	if ((rc = cache_make_room(w, a->len)))
		return rc;
	return cache_insert(w, &a->mh, a->data, a->len);
}

static int cache_put_any(struct cache *c, const struct cid *cid, const void *data, size_t len,
			 bool stream)
{
	struct cache_put_arg a = {.data = data, .len = len};
	int rc;

	if (!c || cache_key_of(cid, &a.mh) || (len && !data))
		return -EINVAL;
	if (c->readonly)
		return -EROFS;
	if (len > BLOCK_MAX)
		return -EFBIG;
	if (len > c->max_bytes)
		return -ENOSPC;
	if (cache_has_key(c, c->db_blocks, &a.mh)) { /* present: no write lock needed */
		cache_touch_queue(c, &a.mh);
		return 0;
	}
	rc = cache_write(c, cache_put_fn, &a, len);
	if (rc == 0 && stream)
		cache_put_writeback(c, &a.mh);
	if (rc == ENOSPC)
		log_debug("cache: %s: no room for a %zu-byte block", c->dir, len);
	return cache_rc(c, rc, "put");
}

int cache_put(struct cache *c, const struct cid *cid, const void *data, size_t len)
{
	return cache_put_any(c, cid, data, len, false);
}

int cache_put_stream(struct cache *c, const struct cid *cid, const void *data, size_t len)
{
	return cache_put_any(c, cid, data, len, true);
}

static int cache_delete_fn(struct cache_w *w, void *arg)
{
	return cache_block_remove(w, arg, NULL);
}

int cache_delete(struct cache *c, const struct cid *cid)
{
	MDB_val k;

	if (!c || cache_key_of(cid, &k))
		return -EINVAL;
	if (c->readonly)
		return -EROFS;
	return cache_rc(c, cache_write_once(c, cache_delete_fn, &k), "delete");
}

/* ---- gc, clear ---- */

struct cache_gc_arg {
	uint64_t target, n;
};

static int cache_gc_fn(struct cache_w *w, void *arg)
{
	struct cache_gc_arg *a = arg;
	uint64_t freed;

	a->n = 0;
	if (w->t.bytes <= a->target)
		return 0;
	return cache_evict(w, w->t.bytes - a->target, 0, CACHE_EVICT_BATCH, &freed, &a->n);
}

int cache_gc(struct cache *c, uint64_t target_bytes, uint64_t *evicted)
{
	uint64_t total = 0;
	int rc;

	if (evicted)
		*evicted = 0;
	if (!c)
		return -EINVAL;
	if (c->readonly)
		return -EROFS;
	cache_touch_flush(c, true);
	for (;;) {
		struct cache_gc_arg a = {.target = target_bytes};

		if ((rc = cache_write_once(c, cache_gc_fn, &a)))
			return cache_rc(c, rc, "gc");
		total += a.n;
		if (evicted)
			*evicted = total;
		if (a.n < CACHE_EVICT_BATCH)
			return 0;
	}
}

static int cache_clear_fn(struct cache_w *w, void *arg)
{
	struct cache *c = w->c;
	MDB_dbi dbs[] = {c->db_blocks, c->db_meta,  c->db_lru,	c->db_pins,
			 c->db_pinrev, c->db_roots, c->db_packs};
	uint64_t seq = w->t.next_seq;
	int rc;

	(void)arg;
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++)
		if ((rc = mdb_drop(w->txn, dbs[i], 0)))
			return rc;
	memset(&w->t, 0, sizeof(w->t));
	w->t.next_seq = seq;
	return 0;
}

int cache_clear(struct cache *c)
{
	if (!c)
		return -EINVAL;
	if (c->readonly)
		return -EROFS;
	pthread_mutex_lock(&c->tq_lock);
	atomic_store(&c->tq_n, 0);
	pthread_mutex_unlock(&c->tq_lock);
	return cache_rc(c, cache_write_once(c, cache_clear_fn, NULL), "clear");
}
