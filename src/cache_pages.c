/* cache_pages: how the cache uses the kernel's page cache and its own map.
 *
 * - Views touch pages of LMDB's map; every CACHE_TRIM_BYTES they are unmapped
 *   again so RSS stays bounded (cache_trim_map).
 * - A block a sequential reader consumed has its pages dropped
 *   (cache_drop): its bytes now live in the reader's page cache.
 * - Stream puts (cache_put_stream) start writing their pages in batches of
 *   CACHE_WB_BATCH and drop them CACHE_WB_LAG bytes of such puts later
 *   (cache_put_writeback), so
 *   a stream of puts recycles a bounded set of pages instead of filling memory
 *   with a second copy of the pack.
 * - cache_advise reads a block's pages ahead (MADV_WILLNEED).
 * - The map is MADV_RANDOM (MDB_NORDAHEAD), so a B-tree walk reads only the
 *   pages it needs, not the device's readahead (8 MiB here) around each.
 *   A view whose first page is not in memory reads its block and CACHE_AROUND
 *   bytes after it (cache_view_advise); a random reader's, CACHE_AROUND before
 *   it as well (cache_view_readaround): the blocks a reader likely wants next,
 *   which the kernel's fault read-around used to bring. */
#include "cache_int.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"

/* Calls fn on each mapping of data.mdb in /proc/self/maps (LMDB does not
 * expose its map address without MDB_FIXEDMAP). */
struct cache_vma {
	uintptr_t lo, hi;
	uint64_t pgoff; /* the file offset at lo */
};

static void cache_maps_foreach(struct cache *c,
			       void (*fn)(struct cache *c, const struct cache_vma *m, void *arg),
			       void *arg)
{
	unsigned long lo, hi, ino;
	unsigned long long pgoff;
	struct cache_vma m;
	unsigned maj, mn;
	char line[4200];
	struct stat st;
	FILE *f;

	if (stat(c->data_path, &st) != 0)
		return;
	f = fopen("/proc/self/maps", "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx %*s %llx %x:%x %lu", &lo, &hi, &pgoff, &maj, &mn, &ino) ==
			6 &&
		    ino == st.st_ino && makedev(maj, mn) == st.st_dev) {
			m = (struct cache_vma){lo, hi, pgoff};
			fn(c, &m, arg);
		}
	fclose(f);
}

static void cache_unmap_range(struct cache *c, const struct cache_vma *m, void *arg)
{
	(void)c;
	(void)arg;
	madvise((void *)m->lo, m->hi - m->lo, MADV_DONTNEED);
}

/* Notes the mapping that holds address *arg. Caller holds map_lock. */
static void cache_note_map(struct cache *c, const struct cache_vma *m, void *arg)
{
	uintptr_t at = *(const uintptr_t *)arg;

	if (at >= m->lo && at < m->hi) {
		c->map_lo = m->lo;
		c->map_hi = m->hi;
		c->map_pgoff = m->pgoff;
	}
}

void cache_forget_map(struct cache *c)
{
	pthread_mutex_lock(&c->map_lock);
	c->map_lo = c->map_hi = 0;
	pthread_mutex_unlock(&c->map_lock);
}

/* Pages a view touched stay mapped, and count in this process's RSS, although
 * they are clean page cache. Every CACHE_TRIM_BYTES of views, unmap them all
 * (MADV_DONTNEED on a read-only shared file map only drops our mapping). Runs
 * with this thread's txn still open, so no remap can move the map meanwhile. */
void cache_trim_map(struct cache *c, size_t len)
{
	if (atomic_fetch_add(&c->view_bytes, len) + len < CACHE_TRIM_BYTES)
		return;
	atomic_store(&c->view_bytes, 0);
	cache_maps_foreach(c, cache_unmap_range, NULL);
}

/* Locates a value (a pointer into the map, under an open txn) in data.mdb:
 * 0 with *off, or -1. Exact: the map moves only in cache_remap, which runs
 * with no txn open and forgets the noted mapping, and the offset comes from
 * the same /proc/self/maps line as the range that holds the value. */
static int cache_value_off(struct cache *c, const void *data, size_t len, uint64_t *off)
{
	uintptr_t lo = (uintptr_t)data, hi = lo + len;
	int rc = -1;

	pthread_mutex_lock(&c->map_lock);
	if (lo < c->map_lo || hi > c->map_hi)
		cache_maps_foreach(c, cache_note_map, &lo);
	if (lo >= c->map_lo && hi <= c->map_hi) {
		*off = c->map_pgoff + (lo - c->map_lo);
		rc = 0;
	}
	pthread_mutex_unlock(&c->map_lock);
	return rc;
}

/* O_DIRECT wants the file offset, length and buffer aligned; 4096 suits
 * every block device. A filesystem that wants more fails with EINVAL, and
 * direct reads are then turned off for good. */
#define CACHE_DIO_ALIGN 4096u

bool cache_reads_direct(struct cache *c)
{
	return c && atomic_load_explicit(&c->direct_ok, memory_order_relaxed);
}

ssize_t cache_view_pread(struct cache *c, const struct cache_view *v, size_t from, size_t len,
			 void *buf, size_t cap)
{
	const uint64_t a = CACHE_DIO_ALIGN;
	uint64_t off, lo, hi, done = 0;
	ssize_t n;

	if (!cache_reads_direct(c) || !v->cold || !len || from > v->len || len > v->len - from ||
	    ((uintptr_t)buf & (a - 1)) || cache_value_off(c, v->data, v->len, &off))
		return -ENOTSUP;
	lo = (off + from) & ~(a - 1);
	hi = (off + from + len + a - 1) & ~(a - 1);
	if (hi - lo > cap)
		return -ENOBUFS;
	while (lo + done < hi) {
		n = pread(c->direct_fd, (char *)buf + done, (size_t)(hi - lo - done),
			  (off_t)(lo + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EINVAL && done == 0) {
			if (atomic_exchange(&c->direct_ok, false))
				log_warn("cache: %s: O_DIRECT reads rejected (%s); reading through "
					 "the page cache",
					 c->dir, strerror(errno));
			return -ENOTSUP;
		}
		if (n < 0)
			return -errno;
		if (n == 0 ||
		    n % (ssize_t)a) /* never short within the file: values end inside it */
			return -EIO;
		done += (uint64_t)n;
	}
	return (ssize_t)(off + from - lo);
}

/* The whole pages of data.mdb a value occupies (overflow pages hold only that
 * value, so rounding out to pages touches nobody else's bytes): 0, or -1. */
static int cache_value_pages(struct cache *c, const struct cache_view *v, uintptr_t *lo,
			     struct cache_range *file)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), hi;
	uint64_t off;

	if (c->data_fd < 0 || !v->len || cache_value_off(c, v->data, v->len, &off))
		return -1;
	*lo = (uintptr_t)v->data & ~(pg - 1);
	hi = ((uintptr_t)v->data + v->len + pg - 1) & ~(pg - 1);
	file->off = off - ((uintptr_t)v->data - *lo);
	file->len = hi - *lo;
	return 0;
}

static void cache_drop_pages(struct cache *c, const struct cache_view *v, void *arg)
{
	struct cache_range r;
	uintptr_t lo;

	(void)arg;
	if (cache_value_pages(c, v, &lo, &r))
		return;
	madvise((void *)lo, r.len, MADV_DONTNEED);
	posix_fadvise(c->data_fd, (off_t)r.off, (off_t)r.len, POSIX_FADV_DONTNEED);
}

static void cache_note_pages(struct cache *c, const struct cache_view *v, void *arg)
{
	uintptr_t lo;

	if (cache_value_pages(c, v, &lo, arg))
		*(struct cache_range *)arg = (struct cache_range){0, 0};
}

/* Looks a block up by key and calls fn on its mapped bytes inside the read txn. */
static int cache_with_key(struct cache *c, MDB_val *k,
			  void (*fn)(struct cache *c, const struct cache_view *v, void *arg),
			  void *arg)
{
	struct cache_view v = {0};
	MDB_val d;
	MDB_txn *t;
	int rc;

	if (cache_rtxn_get(c, &t))
		return -EIO;
	rc = mdb_get(t, c->db_blocks, k, &d);
	if (rc == 0) {
		v.data = d.mv_data;
		v.len = d.mv_size;
		fn(c, &v, arg);
	}
	cache_rtxn_put(c, t);
	return rc == 0 ? 0 : rc == MDB_NOTFOUND ? -ENOENT : -EIO;
}

/* wb_lock held: adds cur to the span of puts not yet written. Returns in *go the
 * span to start writing now, or go->len 0. */
static void cache_wb_batch(struct cache *c, const struct cache_range *cur, struct cache_range *go)
{
	uint64_t end = cur->off + cur->len;
	bool far = cur->off > c->wb_span.hi + CACHE_WB_GAP || end + CACHE_WB_GAP < c->wb_span.lo;

	go->len = 0;
	if (c->wb_span.bytes && far) { /* start the old span, begin a new one */
		*go = (struct cache_range){c->wb_span.lo, c->wb_span.hi - c->wb_span.lo};
		c->wb_span.bytes = 0;
	}
	if (!c->wb_span.bytes) {
		c->wb_span.lo = cur->off;
		c->wb_span.hi = end;
	}
	c->wb_span.lo = cur->off < c->wb_span.lo ? cur->off : c->wb_span.lo;
	c->wb_span.hi = end > c->wb_span.hi ? end : c->wb_span.hi;
	c->wb_span.bytes += cur->len;
	if (!go->len && c->wb_span.bytes >= CACHE_WB_BATCH) {
		*go = (struct cache_range){c->wb_span.lo, c->wb_span.hi - c->wb_span.lo};
		c->wb_span.bytes = 0;
	}
}

void cache_put_writeback(struct cache *c, MDB_val *mh)
{
	struct cache_range cur = {0, 0}, r = {0, 0}, go;

	if (cache_with_key(c, mh, cache_note_pages, &cur) || cur.len < CACHE_WB_MIN)
		return; /* small blocks: not worth a wait on their write-back */
	pthread_mutex_lock(&c->wb_lock);
	cache_wb_batch(c, &cur, &go);
	if (c->wb_n == CACHE_WB_SLOTS || c->wb_bytes > CACHE_WB_LAG) {
		r = c->wb[c->wb_head];
		c->wb_head = (c->wb_head + 1) % CACHE_WB_SLOTS;
		c->wb_n--;
		c->wb_bytes -= r.len;
	}
	c->wb[(c->wb_head + c->wb_n++) % CACHE_WB_SLOTS] = cur;
	c->wb_bytes += cur.len;
	pthread_mutex_unlock(&c->wb_lock);
	if (go.len)
		sync_file_range(c->data_fd, (off_t)go.off, (off_t)go.len, SYNC_FILE_RANGE_WRITE);
	if (r.len) {
		sync_file_range(c->data_fd, (off_t)r.off, (off_t)r.len,
				SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
				    SYNC_FILE_RANGE_WAIT_AFTER);
		posix_fadvise(c->data_fd, (off_t)r.off, (off_t)r.len, POSIX_FADV_DONTNEED);
	}
}

static void cache_advise_view(struct cache *c, const struct cache_view *v, void *arg)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo = (uintptr_t)v->data & ~(pg - 1), hi = (uintptr_t)v->data + v->len;

	(void)c;
	(void)arg;
	if (v->len)
		madvise((void *)lo, hi - lo, MADV_WILLNEED);
}

/* Without read-around, each first touch of a view's page would read that page
 * alone: when its first page is not in memory, read the block and what follows
 * (one request, so the device gets large reads). */
void cache_view_advise(struct cache *c, struct cache_view *v, unsigned flags)
{
	struct cache_range r;
	unsigned char res = 1;
	uintptr_t lo;

	if (cache_value_pages(c, v, &lo, &r) || mincore((void *)lo, 1, &res) || (res & 1))
		return;
	v->cold = true;
	if (flags & CACHE_VIEW_DIRECT)
		return; /* the caller reads it with cache_view_pread */
	posix_fadvise(c->data_fd, (off_t)r.off, (off_t)(r.len + CACHE_AROUND), POSIX_FADV_WILLNEED);
}

void cache_view_readaround(struct cache *c, const struct cache_view *v)
{
	struct cache_range r;
	uintptr_t lo;
	off_t from;

	if (!v->cold || cache_value_pages(c, v, &lo, &r))
		return;
	from = r.off > CACHE_AROUND ? (off_t)(r.off - CACHE_AROUND) : 0;
	if ((uint64_t)from < r.off)
		posix_fadvise(c->data_fd, from, (off_t)r.off - from, POSIX_FADV_WILLNEED);
}

int cache_drop(struct cache *c, const struct cid *cid)
{
	MDB_val k;

	return cache_key_of(cid, &k) ? -EINVAL : cache_with_key(c, &k, cache_drop_pages, NULL);
}

int cache_advise(struct cache *c, const struct cid *cid)
{
	MDB_val k;

	return cache_key_of(cid, &k) ? -EINVAL : cache_with_key(c, &k, cache_advise_view, NULL);
}
