/* cache: the persistent block cache in LMDB — environment, transactions, read path, stats.
 *
 * DESIGN
 * Files: cache.c (env, txn pool and gate, views, stats, maintenance), cache_write.c (put,
 * eviction, touches, delete, gc, clear), cache_pin.c (pins, packs), cache_scrub.c (scrub,
 * consistency check). cache_int.h holds what they share.
 *
 * Environment: <dir>/data.mdb and lock.mdb. MDB_NOSYNC: commits reach the page cache, so a
 * killed process loses nothing; cache_maintain (if there were commits) and cache_close
 * fsync. MDB_NOTLS: a read txn belongs to its view, not to the thread, so a thread may hold
 * several views and a view may be released by another thread. 512 reader slots. Map size
 * max_bytes + max_bytes/4 + 64 MiB, or the size of an existing larger file.
 *
 * Named databases (mh = multihash bytes; integers little-endian unless said):
 *   blocks  mh → block bytes
 *   meta    mh → {u64 seq, u32 size, u32 pins}
 *   lru     big-endian u64 seq ‖ mh → "" — unpinned blocks only, least recently used first
 *   pins    root mh → block mh (dupsort)
 *   pinrev  block mh → root mh (dupsort): a pin may name a block not cached yet, and a put
 *           must see that it is pinned
 *   roots   root mh → root binary CID (for cache_pins_foreach)
 *   packs   root binary CID → label
 *   info    "totals" → {u64 bytes, blocks, next_seq, pinned_blocks, pinned_bytes};
 *           "format" → u32 1
 * Every write txn updates "totals" with the data, so all processes sharing the cache agree.
 *
 * Writes: each API call is one write txn; LMDB's write lock serialises writers across threads
 * and processes. A put beyond max_bytes evicts from the head of "lru" in the same txn (and
 * fails with -ENOSPC, evicting nothing, if the unpinned bytes cannot make room). Small blocks
 * cost more pages than their size, so a put also checks the pages in use (sum of mdb_stat
 * over the databases): above max_bytes * 1.25 it evicts twice its size and at least two
 * blocks, keeping the 64 MiB slack free for what LMDB needs beyond live pages (copies made
 * by a txn, pages freed by the last two txns, pages pinned by readers, fragmentation).
 * Should MDB_MAP_FULL still happen (e.g. a view held for long while others write), the txn
 * is aborted, stale readers are cleared, an eviction of 2×len + 1% of max_bytes (doubling
 * each time) is committed in small txns, and the write is retried; pages freed by txn N are
 * reusable from txn N+2 on, hence several tries. Still full → -ENOSPC.
 *
 * Reads: a pool of reset read txns (mdb_txn_renew is cheaper than mdb_txn_begin). A view owns
 * its txn until released. A hit appends its key to the touch queue (tq_lock); once the queue
 * is half full it wakes the cache's maintenance thread, which flushes it in one write txn,
 * moving each key still cached to a fresh seq; a full queue drops touches (LRU order is
 * approximate). Reads never write: no write txn runs on the read path.
 *
 * Maintenance: a writable cache runs one thread (started by cache_open, joined by cache_close)
 * that runs every CACHE_MAINT_MS and when kicked: touch flush, mdb_env_sync after commits at
 * most every CACHE_SYNC_SECONDS (a sync every second cost cold random readers a third of
 * their throughput), stale-reader check every CACHE_CHECK_SECONDS.
 *
 * A thread may write while it holds views (MDB_NOTLS permits a write txn beside
 * read txns), but held views pin old pages: hold them briefly.
 *
 * Map resize: a process opened with a larger max_bytes may grow the file past our map; txn
 * begin then fails with MDB_MAP_RESIZED and mdb_env_set_mapsize(env, 0) must run while no txn
 * of this process is open (it may move the map). The gate (gate_lock, active, remapping)
 * counts open txns and lets one thread wait for active == 0. A thread holding views never
 * waits at the gate (that would deadlock the remapper) and cannot remap: its call fails -EIO.
 *
 * Locks: gate_lock and tq_lock are leaves (held for a few instructions, or released by the
 * condvar wait). flush_lock is held across a write txn (and so across the gate); a thread
 * that holds views only ever trylocks it.
 *
 * Stale reader slots (a process killed inside a read txn) are cleared with mdb_reader_check
 * at open, on MAP_FULL and every 10 s from cache_maintain. Never use a struct cache across
 * fork().
 */
#include "cache_int.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define CACHE_MAX_READERS     512
#define CACHE_MAX_BYTES_LIMIT (1ull << 50)
#define CACHE_CHECK_SECONDS   10
#define CACHE_MAINT_MS	      1000 /* maintenance thread period */
#define CACHE_SYNC_SECONDS    30   /* the thread syncs commits at most this often */

uint64_t cache_map_slack = CACHE_MAP_SLACK;

static _Thread_local int cache_tl_views; /* views this thread holds (gate deadlock rule) */

static const struct {
	const char *name;
	unsigned flags;
	size_t off;
} cache_dbs[] = {
    {"blocks", 0, offsetof(struct cache, db_blocks)},
    {"meta", 0, offsetof(struct cache, db_meta)},
    {"lru", 0, offsetof(struct cache, db_lru)},
    {"pins", MDB_DUPSORT, offsetof(struct cache, db_pins)},
    {"pinrev", MDB_DUPSORT, offsetof(struct cache, db_pinrev)},
    {"roots", 0, offsetof(struct cache, db_roots)},
    {"packs", 0, offsetof(struct cache, db_packs)},
    {"info", 0, offsetof(struct cache, db_info)},
};

/* ---- errors ---- */

static int cache_errno(int rc)
{
	if (rc >= 0)
		return -rc;
	switch (rc) {
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_CORRUPTED:
	case MDB_INCOMPATIBLE:
	case MDB_PAGE_NOTFOUND:
		return -EINVAL;
	}
	return -EIO;
}

/* Maps an internal code (0, positive errno, MDB_*) to -errno; logs unexpected failures. */
int cache_rc(struct cache *c, int rc, const char *what)
{
	if (!rc)
		return 0;
	if (rc != MDB_NOTFOUND && rc != ENOENT && rc != ENOSPC)
		log_warn("cache: %s: %s: %s", c->dir, what, mdb_strerror(rc));
	if (rc < 0 && cache_errno(rc) == -EINVAL)
		return -EIO; /* a damaged file met after open is an I/O error to callers */
	return cache_errno(rc);
}

/* ---- encodings ---- */

int cache_key_of(const struct cid *cid, MDB_val *k)
{
	if (!cid || cid->len > CID_MAX_BIN || cid->mh_len == 0 || cid->mh_len > CACHE_KEY_MAX ||
	    (size_t)cid->mh_off + cid->mh_len > cid->len)
		return -EINVAL;
	k->mv_data = (void *)cid_mh(cid);
	k->mv_size = cid->mh_len;
	return 0;
}

void cache_meta_enc(const struct cache_meta *m, uint8_t out[CACHE_META_SIZE])
{
	cache_put_le64(out, m->seq);
	cache_put_le64(out + 8, (uint64_t)m->size | (uint64_t)m->pins << 32);
}

int cache_meta_dec(const MDB_val *v, struct cache_meta *m)
{
	const uint8_t *p = v->mv_data;
	uint64_t x;

	if (v->mv_size != CACHE_META_SIZE)
		return MDB_CORRUPTED;
	m->seq = cache_get_le64(p);
	x = cache_get_le64(p + 8);
	m->size = (uint32_t)x;
	m->pins = (uint32_t)(x >> 32);
	return 0;
}

int cache_meta_get(struct cache *c, MDB_txn *txn, const MDB_val *mh, struct cache_meta *m)
{
	MDB_val k = *mh, v;
	int rc = mdb_get(txn, c->db_meta, &k, &v);

	return rc ? rc : cache_meta_dec(&v, m);
}

int cache_meta_put(struct cache *c, MDB_txn *txn, const MDB_val *mh, const struct cache_meta *m)
{
	uint8_t buf[CACHE_META_SIZE];
	MDB_val k = *mh, v = {sizeof(buf), buf};

	cache_meta_enc(m, buf);
	return mdb_put(txn, c->db_meta, &k, &v, 0);
}

size_t cache_lru_key(uint64_t seq, const MDB_val *mh, uint8_t out[CACHE_LRU_KEY_MAX])
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(seq >> (56 - 8 * i));
	memcpy(out + 8, mh->mv_data, mh->mv_size);
	return 8 + mh->mv_size;
}

static MDB_val cache_info_key(const char *name)
{
	MDB_val k = {strlen(name), (void *)name};

	return k;
}

int cache_totals_read(struct cache *c, MDB_txn *txn, struct cache_totals *t)
{
	MDB_val k = cache_info_key("totals"), v;
	const uint8_t *p;
	int rc = mdb_get(txn, c->db_info, &k, &v);

	if (rc)
		return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
	if (v.mv_size != CACHE_TOTALS_SIZE)
		return MDB_CORRUPTED;
	p = v.mv_data;
	t->bytes = cache_get_le64(p);
	t->blocks = cache_get_le64(p + 8);
	t->next_seq = cache_get_le64(p + 16);
	t->pinned_blocks = cache_get_le64(p + 24);
	t->pinned_bytes = cache_get_le64(p + 32);
	return 0;
}

int cache_totals_write(struct cache *c, MDB_txn *txn, const struct cache_totals *t)
{
	uint8_t buf[CACHE_TOTALS_SIZE];
	MDB_val k = cache_info_key("totals"), v = {sizeof(buf), buf};

	cache_put_le64(buf, t->bytes);
	cache_put_le64(buf + 8, t->blocks);
	cache_put_le64(buf + 16, t->next_seq);
	cache_put_le64(buf + 24, t->pinned_blocks);
	cache_put_le64(buf + 32, t->pinned_bytes);
	return mdb_put(txn, c->db_info, &k, &v, 0);
}

/* ---- the gate and transactions ---- */

static void cache_gate_enter_locked(struct cache *c)
{
	while (c->remapping && cache_tl_views <= 0)
		pthread_cond_wait(&c->gate_cv, &c->gate_lock);
	c->active++;
}

static void cache_gate_leave_locked(struct cache *c)
{
	if (--c->active == 0 && c->remapping)
		pthread_cond_broadcast(&c->gate_cv);
}

/* True if this thread holds views: it must not wait for anything a remap waits for. */
bool cache_views_held(void)
{
	return cache_tl_views > 0;
}

/* Adopts the map size another process grew the file to. 0 or an LMDB code. */
static int cache_remap(struct cache *c)
{
	int rc;

	if (cache_tl_views > 0)
		return MDB_MAP_RESIZED;
	pthread_mutex_lock(&c->gate_lock);
	if (c->remapping) {
		while (c->remapping)
			pthread_cond_wait(&c->gate_cv, &c->gate_lock);
		pthread_mutex_unlock(&c->gate_lock);
		return 0;
	}
	c->remapping = true;
	while (c->active > 0)
		pthread_cond_wait(&c->gate_cv, &c->gate_lock);
	rc = mdb_env_set_mapsize(c->env, 0);
	cache_forget_map(c); /* the map may have moved */
	c->remapping = false;
	pthread_cond_broadcast(&c->gate_cv);
	pthread_mutex_unlock(&c->gate_lock);
	if (!rc)
		log_info("cache: %s: adopted the map size grown by another process", c->dir);
	return rc;
}

int cache_rtxn_get(struct cache *c, MDB_txn **out)
{
	for (int tries = 0;; tries++) {
		MDB_txn *t = NULL;
		int rc;

		pthread_mutex_lock(&c->gate_lock);
		cache_gate_enter_locked(c);
		if (c->npool)
			t = c->pool[--c->npool];
		pthread_mutex_unlock(&c->gate_lock);
		rc = t ? mdb_txn_renew(t) : mdb_txn_begin(c->env, NULL, MDB_RDONLY, &t);
		if (!rc) {
			*out = t;
			return 0;
		}
		if (t)
			mdb_txn_abort(t);
		pthread_mutex_lock(&c->gate_lock);
		cache_gate_leave_locked(c);
		pthread_mutex_unlock(&c->gate_lock);
		if (rc != MDB_MAP_RESIZED || tries)
			return rc;
		if ((rc = cache_remap(c)))
			return rc;
	}
}

void cache_rtxn_put(struct cache *c, MDB_txn *t)
{
	mdb_txn_reset(t);
	pthread_mutex_lock(&c->gate_lock);
	if (c->npool < CACHE_POOL_MAX) {
		c->pool[c->npool++] = t;
		t = NULL;
	}
	cache_gate_leave_locked(c);
	pthread_mutex_unlock(&c->gate_lock);
	if (t)
		mdb_txn_abort(t);
}

int cache_wtxn_begin(struct cache *c, MDB_txn **out)
{
	for (int tries = 0;; tries++) {
		int rc;

		pthread_mutex_lock(&c->gate_lock);
		cache_gate_enter_locked(c);
		pthread_mutex_unlock(&c->gate_lock);
		rc = mdb_txn_begin(c->env, NULL, 0, out);
		if (!rc)
			return 0;
		cache_wtxn_done(c);
		if (rc != MDB_MAP_RESIZED || tries)
			return rc;
		if ((rc = cache_remap(c)))
			return rc;
	}
}

/* After the commit or abort of a txn from cache_wtxn_begin. */
void cache_wtxn_done(struct cache *c)
{
	pthread_mutex_lock(&c->gate_lock);
	cache_gate_leave_locked(c);
	pthread_mutex_unlock(&c->gate_lock);
}

/* ---- open and close ---- */

static int cache_mkdirs(const char *dir, struct errbuf *e)
{
	char path[PATH_MAX];
	size_t n = strlen(dir);
	struct stat st;

	if (n >= sizeof(path))
		return err_set(e, -ENAMETOOLONG, "cache: directory name too long");
	memcpy(path, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0700) && errno != EEXIST)
			return err_set(e, -errno, "cache: cannot create %s: %s", path,
				       strerror(errno));
		path[i] = dir[i];
	}
	if (stat(dir, &st))
		return err_set(e, -errno, "cache: %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return err_set(e, -ENOTDIR, "cache: %s is not a directory", dir);
	return 0;
}

static int cache_env_open(struct cache *c, struct errbuf *e)
{
	uint64_t m = c->max_bytes, map = m + m / 4 + c->slack;
	/* MDB_NORDAHEAD: a B-tree page fault reads that page, not 8 MiB around
	 * it; a cold view reads its block and what follows (cache_view_advise). */
	unsigned flags = MDB_NOSYNC | MDB_NOTLS | MDB_NORDAHEAD | (c->readonly ? MDB_RDONLY : 0);
	struct stat st;
	int rc;

	if (stat(c->data_path, &st) == 0 && (uint64_t)st.st_size > map)
		map = (uint64_t)st.st_size;
	map = (map + 0xffff) & ~0xffffull;
	if ((rc = mdb_env_create(&c->env)))
		return err_set(e, cache_errno(rc), "cache: %s: %s", c->dir, mdb_strerror(rc));
	if ((rc = mdb_env_set_maxdbs(c->env, sizeof(cache_dbs) / sizeof(cache_dbs[0]))) ||
	    (rc = mdb_env_set_maxreaders(c->env, CACHE_MAX_READERS)) ||
	    (rc = mdb_env_set_mapsize(c->env, (size_t)map)) ||
	    (rc = mdb_env_open(c->env, c->dir, flags, 0600))) {
		mdb_env_close(c->env);
		c->env = NULL;
		return err_set(e, cache_errno(rc),
			       "cache: %s: cannot open the LMDB environment: %s", c->dir,
			       mdb_strerror(rc));
	}
	mdb_reader_check(c->env, NULL);
	if (mdb_env_get_fd(c->env, &c->data_fd))
		c->data_fd = -1;
	if (c->want_direct) {
		c->direct_fd = open(c->data_path, O_RDONLY | O_DIRECT | O_CLOEXEC);
		if (c->direct_fd < 0)
			log_info("cache: %s: no O_DIRECT (%s); reading through the page cache",
				 c->dir, strerror(errno));
		atomic_store(&c->direct_ok, c->direct_fd >= 0);
	}
	return 0;
}

/* Checks (or, in a new cache, writes) "format" and "totals". */
static int cache_info_init(struct cache *c, MDB_txn *t, struct errbuf *e)
{
	MDB_val k = cache_info_key("format"), v;
	struct cache_totals tot = {0};
	uint8_t fmt[4] = {CACHE_FORMAT, 0, 0, 0};
	int rc = mdb_get(t, c->db_info, &k, &v);

	if (rc == MDB_NOTFOUND && !c->readonly) {
		v.mv_size = sizeof(fmt);
		v.mv_data = fmt;
		if ((rc = mdb_put(t, c->db_info, &k, &v, 0)) ||
		    (rc = cache_totals_write(c, t, &tot)))
			return err_set(e, cache_errno(rc), "cache: %s: cannot initialise: %s",
				       c->dir, mdb_strerror(rc));
		return 0;
	}
	if (rc)
		return err_set(e, cache_errno(rc), "cache: %s: no cache format record: %s", c->dir,
			       mdb_strerror(rc));
	if (v.mv_size != 4 || memcmp(v.mv_data, fmt, 4))
		return err_set(e, -EINVAL, "cache: %s: unsupported cache format (expected %d)",
			       c->dir, CACHE_FORMAT);
	if ((rc = cache_totals_read(c, t, &tot)))
		return err_set(e, -EINVAL, "cache: %s: damaged totals record: %s", c->dir,
			       mdb_strerror(rc));
	return 0;
}

static int cache_dbs_open(struct cache *c, struct errbuf *e)
{
	MDB_txn *t;
	int rc = mdb_txn_begin(c->env, NULL, c->readonly ? MDB_RDONLY : 0, &t);

	if (rc)
		return err_set(e, cache_errno(rc), "cache: %s: %s", c->dir, mdb_strerror(rc));
	for (size_t i = 0; i < sizeof(cache_dbs) / sizeof(cache_dbs[0]); i++) {
		unsigned flags = cache_dbs[i].flags | (c->readonly ? 0 : MDB_CREATE);
		MDB_dbi *dbi = (MDB_dbi *)((char *)c + cache_dbs[i].off);

		rc = mdb_dbi_open(t, cache_dbs[i].name, flags, dbi);
		if (rc) {
			mdb_txn_abort(t);
			return err_set(e, rc == MDB_NOTFOUND ? -ENOENT : cache_errno(rc),
				       "cache: %s: cannot open database \"%s\": %s", c->dir,
				       cache_dbs[i].name, mdb_strerror(rc));
		}
	}
	if ((rc = cache_info_init(c, t, e))) {
		mdb_txn_abort(t);
		return rc;
	}
	if ((rc = mdb_txn_commit(t)))
		return err_set(e, cache_errno(rc), "cache: %s: %s", c->dir, mdb_strerror(rc));
	return 0;
}

static void cache_free(struct cache *c)
{
	while (c->npool > 0)
		mdb_txn_abort(c->pool[--c->npool]);
	if (c->env)
		mdb_env_close(c->env);
	if (c->direct_fd >= 0)
		close(c->direct_fd);
	pthread_mutex_destroy(&c->gate_lock);
	pthread_cond_destroy(&c->gate_cv);
	pthread_mutex_destroy(&c->tq_lock);
	pthread_mutex_destroy(&c->flush_lock);
	pthread_mutex_destroy(&c->wb_lock);
	pthread_mutex_destroy(&c->map_lock);
	pthread_mutex_destroy(&c->maint_lock);
	pthread_cond_destroy(&c->maint_cv);
	while (c->pk_n > 0)
		free(c->pk[--c->pk_n].label);
	pthread_mutex_destroy(&c->pk_lock);
	free(c->tq);
	free(c->tq_spare);
	free(c->dir);
	free(c->data_path);
	free(c);
}

static struct cache *cache_alloc(const struct cache_opts *o)
{
	struct cache *c = calloc(1, sizeof(*c));
	pthread_condattr_t ca;

	if (!c)
		return NULL;
	pthread_mutex_init(&c->gate_lock, NULL);
	pthread_cond_init(&c->gate_cv, NULL);
	pthread_mutex_init(&c->tq_lock, NULL);
	pthread_mutex_init(&c->flush_lock, NULL);
	pthread_mutex_init(&c->wb_lock, NULL);
	pthread_mutex_init(&c->map_lock, NULL);
	pthread_mutex_init(&c->maint_lock, NULL);
	pthread_mutex_init(&c->pk_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->maint_cv, &ca);
	pthread_condattr_destroy(&ca);
	c->data_fd = -1;
	c->direct_fd = -1;
	c->want_direct = o->direct_reads;
	c->max_bytes = o->max_bytes ? o->max_bytes : CACHE_DEFAULT_MAX_BYTES;
	c->readonly = o->readonly;
	c->slack = cache_map_slack;
	c->dir = strdup(o->dir);
	c->tq = calloc(CACHE_TOUCH_BATCH, sizeof(*c->tq));
	c->tq_spare = calloc(CACHE_TOUCH_BATCH, sizeof(*c->tq_spare));
	if (c->dir && asprintf(&c->data_path, "%s/data.mdb", o->dir) < 0)
		c->data_path = NULL;
	if (!c->dir || !c->data_path || !c->tq || !c->tq_spare) {
		cache_free(c);
		return NULL;
	}
	return c;
}

static void cache_maintain_every(struct cache *c, long long sync_s);

static void *cache_maint_main(void *arg)
{
	struct cache *c = arg;
	struct timespec ts;

	pthread_mutex_lock(&c->maint_lock);
	while (!c->maint_stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += CACHE_MAINT_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		while (!c->maint_kicked && !c->maint_stop &&
		       pthread_cond_timedwait(&c->maint_cv, &c->maint_lock, &ts) == 0)
			; /* a kick before the wait is not lost: maint_kicked stays set */
		if (c->maint_stop)
			break;
		c->maint_kicked = false;
		pthread_mutex_unlock(&c->maint_lock);
		cache_maintain_every(c, CACHE_SYNC_SECONDS);
		pthread_mutex_lock(&c->maint_lock);
	}
	pthread_mutex_unlock(&c->maint_lock);
	return NULL;
}

static int cache_maint_start(struct cache *c, struct errbuf *e)
{
	int rc;

	if ((rc = pthread_create(&c->maint, NULL, cache_maint_main, c)))
		return err_set(e, -rc, "cache: %s: maintenance thread: %s", c->dir, strerror(rc));
	c->maint_running = true;
	return 0;
}

/* Sets one of the thread's flags under its lock and wakes it. */
static void cache_maint_wake(struct cache *c, bool *flag)
{
	pthread_mutex_lock(&c->maint_lock);
	*flag = true;
	pthread_cond_signal(&c->maint_cv);
	pthread_mutex_unlock(&c->maint_lock);
}

static void cache_maint_stop(struct cache *c)
{
	if (!c->maint_running)
		return;
	cache_maint_wake(c, &c->maint_stop);
	pthread_join(c->maint, NULL);
	c->maint_running = false;
}

void cache_maint_kick(struct cache *c)
{
	if (c->maint_running)
		cache_maint_wake(c, &c->maint_kicked);
}

int cache_open(const struct cache_opts *o, struct cache **out, struct errbuf *e)
{
	struct cache *c;
	struct stat st;
	int rc;

	if (out)
		*out = NULL;
	if (!o || !o->dir || !o->dir[0] || !out)
		return err_set(e, -EINVAL, "cache: no directory given");
	if (o->max_bytes > CACHE_MAX_BYTES_LIMIT)
		return err_set(e, -EINVAL, "cache: max size %llu bytes is too large",
			       (unsigned long long)o->max_bytes);
	if (!(c = cache_alloc(o)))
		return err_set(e, -ENOMEM, "cache: out of memory");
	if (c->readonly)
		rc = stat(c->dir, &st)
			 ? err_set(e, -errno, "cache: %s: %s", c->dir, strerror(errno))
			 : 0;
	else
		rc = cache_mkdirs(c->dir, e);
	if (!rc)
		rc = cache_env_open(c, e);
	if (!rc)
		rc = cache_dbs_open(c, e);
	if (!rc && !c->readonly)
		rc = cache_maint_start(c, e);
	if (rc) {
		cache_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void cache_close(struct cache *c)
{
	int rc;

	if (!c)
		return;
	cache_maint_stop(c);
	if (!c->readonly) {
		cache_packs_flush(c);
		cache_touch_flush(c, true);
		if (atomic_exchange(&c->dirty, false) && (rc = mdb_env_sync(c->env, 1)))
			log_warn("cache: %s: sync: %s", c->dir, mdb_strerror(rc));
	}
	cache_free(c);
}

/* ---- reads ---- */

int cache_view_get(struct cache *c, const struct cid *cid, struct cache_view *v, unsigned flags)
{
	MDB_val k, d;
	MDB_txn *t;
	int rc;

	v->data = NULL;
	v->len = 0;
	v->txn = NULL;
	v->cold = false;
	if (cache_key_of(cid, &k))
		return -EINVAL;
	if ((rc = cache_rtxn_get(c, &t))) {
		cache_rc(c, rc, "read txn");
		return -EIO;
	}
	rc = mdb_get(t, c->db_blocks, &k, &d);
	if (rc) {
		cache_rtxn_put(c, t);
		if (rc == MDB_NOTFOUND) {
			atomic_fetch_add_explicit(&c->misses, 1, memory_order_relaxed);
			return -ENOENT;
		}
		cache_rc(c, rc, "get");
		return -EIO;
	}
	atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
	v->data = d.mv_data;
	v->len = d.mv_size;
	v->txn = t;
	cache_tl_views++;
	cache_view_advise(c, v, flags);
	if (!c->readonly)
		cache_touch_queue(c, &k);
	return 0;
}

void cache_view_release(struct cache *c, struct cache_view *v)
{
	if (!c || !v || !v->txn)
		return;
	cache_trim_map(c, v->len);
	cache_rtxn_put(c, v->txn);
	cache_tl_views--;
	v->txn = NULL;
	v->data = NULL;
	v->len = 0;
}

/* 1 if `k` is in `dbi`, else 0 (errors count as absent). */
int cache_has_key(struct cache *c, MDB_dbi dbi, MDB_val *k)
{
	MDB_txn *t;
	MDB_val d;
	int rc;

	if ((rc = cache_rtxn_get(c, &t))) {
		cache_rc(c, rc, "read txn");
		return 0;
	}
	rc = mdb_get(t, dbi, k, &d);
	cache_rtxn_put(c, t);
	if (rc && rc != MDB_NOTFOUND)
		cache_rc(c, rc, "get");
	return rc == 0;
}

int cache_has(struct cache *c, const struct cid *cid)
{
	MDB_val k;

	if (cache_key_of(cid, &k))
		return 0;
	return cache_has_key(c, c->db_blocks, &k);
}

bool cache_is_pinned(struct cache *c, const struct cid *block)
{
	MDB_val k;

	if (cache_key_of(block, &k))
		return false;
	return cache_has_key(c, c->db_pinrev, &k) == 1;
}

/* ---- stats, maintenance ---- */

const char *cache_path(const struct cache *c)
{
	return c->dir;
}

int cache_stats_get(struct cache *c, struct cache_stats *s)
{
	struct cache_totals t;
	struct stat st;
	MDB_txn *txn;
	int rc;

	memset(s, 0, sizeof(*s));
	if ((rc = cache_rtxn_get(c, &txn)))
		return cache_rc(c, rc, "read txn");
	rc = cache_totals_read(c, txn, &t);
	cache_rtxn_put(c, txn);
	if (rc)
		return cache_rc(c, rc, "totals");
	s->blocks = t.blocks;
	s->bytes = t.bytes;
	s->max_bytes = c->max_bytes;
	s->pinned_blocks = t.pinned_blocks;
	if (stat(c->data_path, &st) == 0)
		s->file_bytes = (uint64_t)st.st_size;
	s->hits = atomic_load(&c->hits);
	s->misses = atomic_load(&c->misses);
	s->puts = atomic_load(&c->puts);
	s->evictions = atomic_load(&c->evictions);
	return 0;
}

/* Pack notes and touch flush, an env sync after commits if the last one is
 * sync_s seconds old, and the stale-reader check. */
static void cache_maintain_every(struct cache *c, long long sync_s)
{
	struct timespec ts;
	int rc, dead = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (!c->readonly) {
		cache_packs_flush(c);
		if (atomic_load(&c->tq_n))
			cache_touch_flush(c, true);
		if (ts.tv_sec - atomic_load(&c->last_sync) >= sync_s &&
		    atomic_exchange(&c->dirty, false)) {
			atomic_store(&c->last_sync, (long long)ts.tv_sec);
			if ((rc = mdb_env_sync(c->env, 1)))
				log_warn("cache: %s: sync: %s", c->dir, mdb_strerror(rc));
		}
	}
	if (ts.tv_sec - atomic_load(&c->last_check) >= CACHE_CHECK_SECONDS) {
		atomic_store(&c->last_check, (long long)ts.tv_sec);
		if (mdb_reader_check(c->env, &dead) == 0 && dead)
			log_info("cache: %s: cleared %d stale reader slots", c->dir, dead);
	}
}

void cache_maintain(struct cache *c)
{
	if (c)
		cache_maintain_every(c, 0);
}

const char *cache_default_dir(char *buf, size_t cap)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	struct passwd pw, *res = NULL;
	char tmp[1024];

	if (!buf || !cap)
		return buf;
	if (geteuid() == 0)
		snprintf(buf, cap, "/var/cache/mpackfs");
	else if (xdg && xdg[0] == '/')
		snprintf(buf, cap, "%s/mpackfs", xdg);
	else if (home && home[0] == '/')
		snprintf(buf, cap, "%s/.cache/mpackfs", home);
	else if (getpwuid_r(getuid(), &pw, tmp, sizeof(tmp), &res) == 0 && res && res->pw_dir &&
		 res->pw_dir[0] == '/')
		snprintf(buf, cap, "%s/.cache/mpackfs", res->pw_dir);
	else
		snprintf(buf, cap, "/var/tmp/mpackfs-%u", (unsigned)getuid());
	return buf;
}
