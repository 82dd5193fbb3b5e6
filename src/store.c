/* store: verified block access: identity → cache → memory → CAR files → network.
 *
 * DESIGN (see store.h for the contract).
 * - One mutex, s->lock, protects the flight table, every flight's fields, the
 *   memory LRU and the flight counts; each flight has its own condition
 *   variable (CLOCK_MONOTONIC) on that mutex. No cache, fetch or CAR call is
 *   made with the lock held (the memory LRU is plain memory and is touched
 *   under it).
 * - A flight lives in the table from submit until its result arrives. The
 *   fetch callback (a fetch verify thread) first puts the block into the cache,
 *   then, under the lock, unlinks the flight, records the result and
 *   broadcasts. A flight is freed by whoever sees it done with no waiters left.
 * - Closing the race "miss in the cache, then the flight finishes before we
 *   look in the table": a new flight's creator re-checks the cache after
 *   inserting it; since a finished flight put its block before unlinking, the
 *   re-check sees it.
 * - Memory LRU: blocks that could not be cached (no cache, -ENOSPC) and blocks
 *   read from CAR files (which are not copied into the cache: the CAR already
 *   is local storage) are kept in a small LRU (STORE_MEM_MAX bytes), so a block
 *   read twice in a row, or prefetched before it is read, is not transferred
 *   again. */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "carsrc.h"
#include "log.h"
#include "multihash.h"

#define STORE_BUCKETS  1024
#define STORE_MEM_MAX  (32u << 20)
#define STORE_POLL_MS  50
#define STORE_GRACE_MS 2000 /* beyond fetch's deadline, so fetch reports first */

struct store_flight {
	struct store_flight *next; /* hash chain */
	struct store *store;
	struct cid cid;
	uint64_t hash;
	pthread_cond_t cond;
	int waiters; /* store_get callers and blocks still using data */
	bool done, cached, in_table;
	bool retired; /* cache put finished, out of the table */
	int status;
	int prio;      /* FETCH_PRIO_* it was launched with */
	uint8_t *data; /* result bytes (owned), kept until the last waiter leaves */
	size_t len;
	char why[ERRBUF_MAX];
};

struct store_mem {
	struct store_mem *prev, *next; /* most recent first */
	struct cid cid;
	uint8_t *data;
	size_t len;
};

struct store {
	struct cache *cache;
	struct carsrc *cars;
	struct fetcher *fetch;
	bool offline;
	int deadline_ms;
	pthread_mutex_t lock;
	struct store_flight *table[STORE_BUCKETS]; /* protected by lock */
	int nflights;				   /* protected by lock */
	struct store_mem *mem_head, *mem_tail;	   /* protected by lock */
	size_t mem_bytes;			   /* protected by lock */
	struct store_stats st;			   /* updated atomically */
};

#define STORE_ADD(s, field, n) __atomic_fetch_add(&(s)->st.field, (n), __ATOMIC_RELAXED)
#define STORE_INC(s, field)    STORE_ADD(s, field, 1)

/* ---- memory LRU (caller holds s->lock) ---- */

static void store_mem_unlink(struct store *s, struct store_mem *m)
{
	if (m->prev)
		m->prev->next = m->next;
	else
		s->mem_head = m->next;
	if (m->next)
		m->next->prev = m->prev;
	else
		s->mem_tail = m->prev;
	s->mem_bytes -= m->len;
}

static void store_mem_free(struct store_mem *m)
{
	free(m->data);
	free(m);
}

static struct store_mem *store_mem_find(struct store *s, const struct cid *cid)
{
	struct store_mem *m;

	for (m = s->mem_head; m; m = m->next)
		if (cid_mh_equal(&m->cid, cid))
			return m;
	return NULL;
}

/* Takes ownership of data. */
static void store_mem_put(struct store *s, const struct cid *cid, uint8_t *data, size_t len)
{
	struct store_mem *m;

	if (len > STORE_MEM_MAX / 4 || store_mem_find(s, cid) || !(m = calloc(1, sizeof(*m)))) {
		free(data);
		return;
	}
	m->cid = *cid;
	m->data = data;
	m->len = len;
	while (s->mem_tail && s->mem_bytes + len > STORE_MEM_MAX) {
		struct store_mem *old = s->mem_tail;

		store_mem_unlink(s, old);
		store_mem_free(old);
	}
	m->next = s->mem_head;
	if (s->mem_head)
		s->mem_head->prev = m;
	s->mem_head = m;
	if (!s->mem_tail)
		s->mem_tail = m;
	s->mem_bytes += len;
}

static void store_mem_put_copy(struct store *s, const struct cid *cid, const uint8_t *data,
			       size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		return;
	memcpy(copy, data, len);
	store_mem_put(s, cid, copy, len);
}

/* Copy a remembered block into b. 1 if found, 0 if not, -ENOMEM. */
static int store_mem_take(struct store *s, const struct cid *cid, struct store_block *b)
{
	struct store_mem *m = store_mem_find(s, cid);

	if (!m)
		return 0;
	b->owned = malloc(m->len ? m->len : 1);
	if (!b->owned)
		return -ENOMEM;
	memcpy(b->owned, m->data, m->len);
	b->data = b->owned;
	b->len = m->len;
	if (m != s->mem_head) { /* move to front */
		store_mem_unlink(s, m);
		s->mem_bytes += m->len;
		m->prev = NULL;
		m->next = s->mem_head;
		s->mem_head->prev = m;
		s->mem_head = m;
		if (!s->mem_tail)
			s->mem_tail = m;
	}
	return 1;
}

/* ---- open / close ---- */

static int store_open_cache(struct store *s, const struct store_cfg *cfg, struct errbuf *e)
{
	struct cache_opts co = cfg->cache;
	char dir[4096];

	if (cfg->no_cache)
		return 0;
	if (!co.dir)
		co.dir = cache_default_dir(dir, sizeof(dir));
	return cache_open(&co, &s->cache, e);
}

int store_open(const struct store_cfg *cfg, struct store **out, struct errbuf *e)
{
	struct store *s;
	int rc;

	*out = NULL;
	if (cfg->ncars > STORE_MAX_CARS)
		return err_set(e, -EINVAL, "store: more than %d CAR files", STORE_MAX_CARS);
	s = calloc(1, sizeof(*s));
	if (!s)
		return err_set(e, -ENOMEM, "store: out of memory");
	pthread_mutex_init(&s->lock, NULL);
	s->offline = cfg->offline;
	s->deadline_ms = cfg->fetch.deadline_ms > 0 ? cfg->fetch.deadline_ms : 60000;
	rc = store_open_cache(s, cfg, e);
	if (!rc && cfg->ncars)
		rc = carsrc_open(cfg->cars, cfg->ncars, &s->cars, e);
	if (!rc && !cfg->offline && cfg->fetch.nsources)
		rc = fetcher_new(&cfg->fetch, &s->fetch, e);
	if (rc) {
		store_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void store_close(struct store *s)
{
	struct store_mem *m;

	if (!s)
		return;
	fetcher_free(s->fetch); /* callbacks for pending flights run (-ECANCELED) */
	while ((m = s->mem_head)) {
		store_mem_unlink(s, m);
		store_mem_free(m);
	}
	cache_close(s->cache);
	carsrc_free(s->cars);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

struct cache *store_cache(struct store *s)
{
	return s->cache;
}

/* ---- flights ---- */

static struct store_flight *store_flight_find(struct store *s, const struct cid *cid, uint64_t h)
{
	struct store_flight *f;

	for (f = s->table[h % STORE_BUCKETS]; f; f = f->next)
		if (f->hash == h && cid_mh_equal(&f->cid, cid))
			return f;
	return NULL;
}

static struct store_flight *store_flight_new(struct store *s, const struct cid *cid, uint64_t h)
{
	struct store_flight *f = calloc(1, sizeof(*f));
	pthread_condattr_t ca;

	if (!f)
		return NULL;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cond, &ca);
	pthread_condattr_destroy(&ca);
	f->store = s;
	f->cid = *cid;
	f->hash = h;
	f->in_table = true;
	f->next = s->table[h % STORE_BUCKETS];
	s->table[h % STORE_BUCKETS] = f;
	s->nflights++;
	return f;
}

static void store_flight_unlink(struct store *s, struct store_flight *f)
{
	struct store_flight **pp = &s->table[f->hash % STORE_BUCKETS];

	if (!f->in_table)
		return;
	while (*pp && *pp != f)
		pp = &(*pp)->next;
	if (*pp)
		*pp = f->next;
	f->in_table = false;
	s->nflights--;
}

static void store_flight_free(struct store_flight *f)
{
	pthread_cond_destroy(&f->cond);
	free(f->data);
	free(f);
}

/* Record a flight's result (data owned, may be NULL). Frees the flight if
 * nobody waits for it. Called without the lock. */
/* Results reach waiters as soon as they are verified (publish); the cache put
 * happens after, and only then does the flight leave the table (retire), so a
 * reader arriving meanwhile joins it instead of fetching again. */
static void store_publish(struct store *s, struct store_flight *f, int status, uint8_t *data,
			  size_t len, const char *why)
{
	pthread_mutex_lock(&s->lock);
	f->done = true;
	f->status = status;
	f->data = data;
	f->len = len;
	snprintf(f->why, sizeof(f->why), "%s", why ? why : "");
	if (f->waiters)
		pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&s->lock);
}

static void store_retire(struct store *s, struct store_flight *f, bool cached)
{
	bool last;

	pthread_mutex_lock(&s->lock);
	store_flight_unlink(s, f);
	f->cached = cached;
	f->retired = true;
	last = f->waiters == 0;
	if (!last)
		pthread_cond_broadcast(&f->cond); /* for until_cached waiters */
	if (f->status == 0 && f->data && !cached) {
		if (last) {
			store_mem_put(s, &f->cid, f->data, f->len);
			f->data = NULL;
		} else {
			store_mem_put_copy(s, &f->cid, f->data, f->len);
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (last)
		store_flight_free(f);
}

static void store_complete(struct store *s, struct store_flight *f, int status, uint8_t *data,
			   size_t len, bool cached, const char *why)
{
	store_publish(s, f, status, data, len, why);
	store_retire(s, f, cached);
}

/* fetch's done callback, on a fetch verify thread: data is verified. Waiters
 * are woken before the cache put, which then runs on this thread. */
static void store_fetch_done(void *ctx, int status, const struct cid *cid, uint8_t *data,
			     size_t len, const char *why)
{
	struct store_flight *f = ctx;
	struct store *s = f->store;
	bool cached = false;
	int rc;

	if (status == 0) {
		STORE_INC(s, fetched);
		STORE_ADD(s, fetched_bytes, len);
		log_debug("store: %s: fetched, %zu bytes", cid_str(cid), len);
	}
	store_publish(s, f, status, data, len, why);
	if (status == 0 && s->cache) {
		/* A demand fetch is often a random reader, who may come back for the
		 * rest of the block: leave its pages to the kernel. */
		rc = f->prio == FETCH_PRIO_DEMAND ? cache_put(s->cache, cid, data, len)
						  : cache_put_stream(s->cache, cid, data, len);
		cached = rc == 0;
		if (rc)
			log_debug("store: %s: not cached: %s", cid_str(cid), strerror(-rc));
	}
	store_retire(s, f, cached);
}

/* Start the transfer for a flight this thread created. */
static void store_launch(struct store *s, struct store_flight *f, int prio)
{
	int rc;

	if (s->cache && cache_has(s->cache, &f->cid) == 1) {
		store_complete(s, f, 0, NULL, 0, true, NULL);
		return;
	}
	f->prio = prio;
	rc = fetcher_submit(s->fetch, &f->cid, prio, store_fetch_done, f);
	if (rc)
		store_complete(s, f, rc, NULL, 0, false, "cannot queue the request");
}

/* Join the flight for cid, or start one. Returns the flight with this waiter
 * counted; NULL with *rc = 1 (b filled from memory) or -errno. */
static struct store_flight *store_join(struct store *s, const struct cid *cid, int prio,
				       struct store_block *b, int *rc)
{
	uint64_t h = cid_hash(cid);
	struct store_flight *f;
	bool created = false;

	pthread_mutex_lock(&s->lock);
	f = store_flight_find(s, cid, h);
	if (f) {
		f->waiters++;
		STORE_INC(s, singleflight_joins);
	} else {
		*rc = store_mem_take(s, cid, b);
		if (!*rc && !(f = store_flight_new(s, cid, h)))
			*rc = -ENOMEM;
		if (f) {
			f->waiters = 1;
			created = true;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (created)
		store_launch(s, f, prio);
	return f;
}

static int64_t store_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int store_wait(struct store *s, struct store_flight *f, const struct store_get_opts *o,
		      struct errbuf *e)
{
	int limit = o && o->deadline_ms > 0 ? o->deadline_ms : s->deadline_ms + STORE_GRACE_MS;
	int64_t now = store_now_ms(), deadline = now + limit, wake;
	struct timespec ts;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	while (!f->done || (o && o->until_cached && !f->retired)) {
		if (o && o->interrupted && o->interrupted(o->ictx)) {
			rc = -EINTR;
			break;
		}
		now = store_now_ms();
		if (now >= deadline) {
			rc = -ETIMEDOUT;
			break;
		}
		wake = o && o->interrupted && now + STORE_POLL_MS < deadline ? now + STORE_POLL_MS
									     : deadline;
		ts.tv_sec = wake / 1000;
		ts.tv_nsec = (wake % 1000) * 1000000;
		pthread_cond_timedwait(&f->cond, &s->lock, &ts);
	}
	pthread_mutex_unlock(&s->lock);
	if (rc == -EINTR)
		return err_set(e, rc, "interrupted");
	if (rc)
		return err_set(e, rc, "no answer within %d ms", limit);
	return 0;
}

/* Hand a finished flight's result to one waiter: a reference to the flight's
 * bytes (no copy), else a cache view. -EAGAIN: the block left the cache
 * between the put and this view; the caller retries. */
static unsigned store_vflags(const struct store_get_opts *o)
{
	return o && o->direct ? CACHE_VIEW_DIRECT : 0;
}

static int store_deliver(struct store *s, struct store_flight *f, struct store_block *b,
			 unsigned vflags, struct errbuf *e)
{
	if (f->status)
		return err_set(e, f->status, "%s", f->why[0] ? f->why : strerror(-f->status));
	pthread_mutex_lock(&s->lock);
	if (f->data) {
		f->waiters++; /* held by the block until store_block_release */
		b->flight = f;
		b->data = f->data;
		b->len = f->len;
	}
	pthread_mutex_unlock(&s->lock);
	if (b->flight)
		return 0;
	if (f->cached && s->cache && cache_view_get(s->cache, &f->cid, &b->view, vflags) == 0) {
		b->data = b->view.data;
		b->len = b->view.len;
		b->from_cache = 1;
		return 0;
	}
	return -EAGAIN;
}

static void store_leave(struct store *s, struct store_flight *f)
{
	bool last;

	pthread_mutex_lock(&s->lock);
	last = --f->waiters == 0 && f->retired;
	pthread_mutex_unlock(&s->lock);
	if (last)
		store_flight_free(f);
}

static int store_get_remote(struct store *s, const struct cid *cid, const struct store_get_opts *o,
			    struct store_block *b, struct errbuf *e)
{
	int prio = o ? o->prio : FETCH_PRIO_DEMAND, tries, rc = 0;
	struct store_flight *f;

	for (tries = 0; tries < 3; tries++) {
		f = store_join(s, cid, prio, b, &rc);
		if (!f)
			return rc == 1 ? 0 : err_set(e, rc, "out of memory");
		rc = store_wait(s, f, o, e);
		if (!rc)
			rc = store_deliver(s, f, b, store_vflags(o), e);
		store_leave(s, f);
		if (rc != -EAGAIN)
			return rc;
	}
	return err_set(e, -EIO, "block left the cache while being read");
}

/* Identity, cache, memory, CAR. 1 found, 0 not found locally, -errno. *car_rc
 * receives a CAR failure other than "absent". */
static int store_get_local(struct store *s, const struct cid *cid, unsigned vflags,
			   struct store_block *b, int *car_rc, struct errbuf *e)
{
	uint8_t *data;
	size_t len;
	int rc;

	if (cid->mh_code == MH_IDENTITY) {
		b->owned = malloc(cid->digest_len ? cid->digest_len : 1);
		if (!b->owned)
			return err_set(e, -ENOMEM, "out of memory");
		memcpy(b->owned, cid_digest(cid), cid->digest_len);
		b->data = b->owned;
		b->len = cid->digest_len;
		return 1;
	}
	rc = mh_supported(cid, e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, -ENOTSUP, "unsupported multihash 0x%llx",
			       (unsigned long long)cid->mh_code);
	if (s->cache && cache_view_get(s->cache, cid, &b->view, vflags) == 0) {
		b->data = b->view.data;
		b->len = b->view.len;
		b->from_cache = 1;
		STORE_INC(s, cache_hits);
		return 1;
	}
	pthread_mutex_lock(&s->lock);
	rc = store_mem_take(s, cid, b);
	pthread_mutex_unlock(&s->lock);
	if (rc)
		return rc < 0 ? err_set(e, rc, "out of memory") : 1;
	if (!s->cars)
		return 0;
	rc = carsrc_get(s->cars, cid, &data, &len, e);
	if (rc == 0) {
		STORE_INC(s, car_hits);
		pthread_mutex_lock(&s->lock);
		store_mem_put_copy(s, cid, data, len);
		pthread_mutex_unlock(&s->lock);
		b->owned = data;
		b->data = data;
		b->len = len;
		return 1;
	}
	if (rc != -ENOENT) {
		if (rc == -EIO)
			STORE_INC(s, verify_failures);
		log_warn("store: %s: %s", cid_str(cid), e->msg);
		*car_rc = rc;
	}
	return 0;
}

static void store_count_failure(struct store *s, int rc)
{
	switch (rc) {
	case -ENOENT:
		STORE_INC(s, not_found);
		break;
	case -ETIMEDOUT:
		STORE_INC(s, timeouts);
		break;
	case -EINTR:
		STORE_INC(s, interrupted);
		break;
	default:
		STORE_INC(s, errors);
		break;
	}
}

int store_get(struct store *s, const struct cid *cid, const struct store_get_opts *o,
	      struct store_block *b, struct errbuf *e)
{
	struct errbuf le, car_e;
	int rc, car_rc = 0;

	memset(b, 0, sizeof(*b));
	le.msg[0] = '\0';
	STORE_INC(s, gets);
	rc = store_get_local(s, cid, store_vflags(o), b, &car_rc, &car_e);
	if (rc < 0)
		le = car_e;
	else if (rc == 0 && o && o->local_only)
		return err_set(e, -EAGAIN, "%s: not local", cid_str(cid));
	else if (rc == 0 && s->fetch)
		rc = store_get_remote(s, cid, o, b, &le);
	else if (rc == 0 && car_rc)
		rc = err_set(&le, car_rc, "%s", car_e.msg);
	else if (rc == 0)
		rc = err_set(&le, -ENOENT, "not in the cache%s, and %s",
			     s->cars ? " or CAR files" : "",
			     s->offline ? "offline" : "no network sources");
	if (rc == 1)
		rc = 0;
	if (rc == 0)
		return 0;
	store_count_failure(s, rc);
	if (rc == -EINTR)
		log_debug("store: %s: %s", cid_str(cid), le.msg);
	else
		log_warn("store: %s: %s", cid_str(cid), le.msg);
	if (e)
		*e = le;
	return rc;
}

void store_block_release(struct store *s, struct store_block *b)
{
	if (b->from_cache)
		cache_view_release(s->cache, &b->view);
	if (b->flight)
		store_leave(s, b->flight);
	free(b->owned);
	memset(b, 0, sizeof(*b));
}

void store_block_readaround(struct store *s, const struct store_block *b)
{
	if (b->from_cache)
		cache_view_readaround(s->cache, &b->view);
}

void store_drop_pages(struct store *s, const struct cid *cid)
{
	if (s->cache)
		cache_drop(s->cache, cid);
}

static int store_prefetch_as(struct store *s, const struct cid *cid, int prio, bool advise)
{
	uint64_t h = cid_hash(cid);
	struct store_flight *f = NULL;
	int rc;

	if (advise && s->cache && cache_advise(s->cache, cid) == 0)
		return 0; /* cached: only start reading it from disk */
	if (store_has_local(s, cid))
		return 0;
	rc = mh_supported(cid, NULL);
	if (rc <= 0)
		return rc < 0 ? rc : -ENOTSUP;
	if (!s->fetch)
		return -ENOENT;
	rc = 0;
	pthread_mutex_lock(&s->lock);
	if (!store_flight_find(s, cid, h) && !store_mem_find(s, cid)) {
		f = store_flight_new(s, cid, h);
		rc = f ? 0 : -ENOMEM;
	}
	pthread_mutex_unlock(&s->lock);
	if (f)
		store_launch(s, f, prio);
	return rc;
}

int store_prefetch(struct store *s, const struct cid *cid, int prio)
{
	return store_prefetch_as(s, cid, prio, true);
}

int store_prefetch_remote(struct store *s, const struct cid *cid, int prio)
{
	return store_prefetch_as(s, cid, prio, false);
}

bool store_reads_direct(struct store *s)
{
	return cache_reads_direct(s->cache);
}

ssize_t store_block_pread(struct store *s, const struct store_block *b, size_t from, size_t len,
			  void *buf, size_t cap)
{
	ssize_t at =
	    b->from_cache ? cache_view_pread(s->cache, &b->view, from, len, buf, cap) : -ENOTSUP;

	if (at >= 0)
		STORE_ADD(s, direct_bytes, len);
	return at;
}

int store_has_local(struct store *s, const struct cid *cid)
{
	int found;

	if (cid->mh_code == MH_IDENTITY)
		return 1;
	if (s->cache && cache_has(s->cache, cid) == 1)
		return 1;
	if (carsrc_has(s->cars, cid))
		return 1;
	pthread_mutex_lock(&s->lock);
	found = store_mem_find(s, cid) != NULL;
	pthread_mutex_unlock(&s->lock);
	return found;
}

void store_stats_get(struct store *s, struct store_stats *st)
{
	struct fetch_source_stats src[FETCH_MAX_SOURCES];
	size_t i, n = s->fetch ? fetcher_stats(s->fetch, src, FETCH_MAX_SOURCES) : 0;

	pthread_mutex_lock(&s->lock);
	*st = s->st;
	st->in_flight = s->nflights;
	pthread_mutex_unlock(&s->lock);
	for (i = 0; i < n && i < FETCH_MAX_SOURCES; i++)
		st->verify_failures += src[i].verify_failures;
}

size_t store_source_stats(struct store *s, struct fetch_source_stats *out, size_t max)
{
	return s->fetch ? fetcher_stats(s->fetch, out, max) : 0;
}
