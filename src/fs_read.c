/* fs_read: open, read (zero-copy from the cache where possible), readahead, release.
 *
 * A cached block already in memory is replied straight from LMDB's map. For a
 * sequential reader, one that is not is read from disk with O_DIRECT into this
 * thread's buffer (store_block_pread): a model load then puts one copy in
 * memory (the mount's), not two, and the CPU touches no freshly read cache
 * pages. A random reader's go through the map, whose read-around serves the
 * small requests that follow (a 4 KiB request read directly is a disk read). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "fs.h"
#include "fs_int.h"
#include "log.h"
#include "rastream.h"

#define FS_MAX_EXTENTS 64
#define FS_DROP_MAX    128	   /* consumed leaves waiting to have their cache pages dropped */
#define FS_DROP_LAG    (16u << 20) /* beyond request reordering and page-fault read-around */

/* A leaf whose last byte a sequential reader has been sent. */
struct fh_drop {
	struct cid leaf;
	uint64_t end; /* file offset just past the leaf */
};

struct fh {
	struct fs_handle link; /* first: the registry frees through it */
	atomic_int refs;       /* the open file, plus each read in progress */
	struct fsn *n;
	struct dag_file *df; /* FSN_FILE; borrowed from the node */
	char *mem;	     /* FSN_STATS snapshot, owned */
	size_t mem_len;
	pthread_mutex_t lock;		   /* protects the readahead state below */
	struct rastream ra;		   /* is the reader sequential; its window */
	uint64_t ra_end;		   /* prefetch issued up to here */
	atomic_bool seq;		   /* the reader looks sequential (window open) */
	bool pt_counted;		   /* fs_pt_begin counted this open */
	bool pt;			   /* served from the file's copy by the kernel */
	struct fh_drop drops[FS_DROP_MAX]; /* oldest first */
	unsigned ndrops;
};

static void drops_advance(struct fstree *t, struct fh *h, const struct fh_drop *add, int nadd,
			  uint64_t off);

/* A reference for the duration of one request: the kernel may release the file
 * as soon as our reply is written, while this thread still finishes up. */
static struct fh *fh_get(struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;

	atomic_fetch_add(&h->refs, 1);
	return h;
}

static void fh_free(struct fs_handle *link)
{
	struct fh *h = (struct fh *)link;

	pthread_mutex_destroy(&h->lock);
	free(h->mem);
	free(h);
}

static void fh_put(struct fh *h)
{
	if (atomic_fetch_sub(&h->refs, 1) == 1)
		fh_free(&h->link);
}

/* A file whose first leaf is not cached is read cold: answer its open
 * FOPEN_DIRECT_IO (cold_direct), so our replies go straight into the reader's
 * buffer instead of filling new page-cache pages that a one-pass reader never
 * reads again. Its blocks land in the cache; later opens are cached ones. */
static bool open_cold(struct fstree *t, struct dag_file *df, const struct store_get_opts *o)
{
	struct dag_extent ext;

	if (!fs_pt_cold_direct() || dag_file_size(df) == 0 ||
	    dag_file_extents(df, 0, 1, &ext, 1, o, NULL) != 1 || ext.inline_data)
		return false;
	return store_has_local(fstree_store(t), &ext.leaf) == 0;
}

void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fstree *t = fs_tree(req);
	struct fsn *n = fstree_get(t, ino);
	struct store_get_opts o;
	struct errbuf e = {{0}};
	struct fh *h;
	int rc = 0, bid = 0;

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fs_tune_readahead();
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (n->kind == FSN_DIR || n->kind == FSN_UFS_DIR) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&h->lock, NULL);
	atomic_init(&h->refs, 1);
	h->n = n;
	if (n->kind == FSN_FILE) {
		fs_get_opts(req, FETCH_PRIO_DEMAND, &o);
		rc = fstree_open_file(t, n, &o, &h->df, &e);
	} else if (n->kind == FSN_STATS) {
		h->mem = fstree_stats_json(t);
		h->mem_len = h->mem ? strlen(h->mem) : 0;
		rc = h->mem ? 0 : -ENOMEM;
		fi->direct_io = 1; /* generated per open; size unknown to stat */
	}
	if (rc < 0) {
		if (rc != -EINTR)
			log_warn("open %s: %s", n->name, e.msg[0] ? e.msg : strerror(-rc));
		free(h->mem);
		free(h);
		fuse_reply_err(req, -rc);
		return;
	}
	if (n->kind != FSN_STATS)
		fi->keep_cache = 1;
	fi->noflush = 1;
	if (h->df)
		bid = fs_pt_begin(n, dag_file_size(h->df), &h->pt_counted);
	h->pt = bid > 0;
	if (bid <= 0 && h->df && open_cold(t, h->df, &o)) {
		fi->direct_io = 1;
		atomic_fetch_add(&fstree_pt(t)->direct_opens, 1);
	}
	fs_handle_track(&h->link, fh_free);
	fi->fh = (uint64_t)(uintptr_t)h;
	fs_pt_reply_open(req, fi, bid);
}

void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;

	(void)ino;
	fs_handle_untrack(&h->link);
	if (h->pt_counted)
		fs_pt_end(h->n, h->pt);
	if (h->df)
		drops_advance(fs_tree(req), h, NULL, 0, UINT64_MAX);
	fh_put(h);
	fuse_reply_err(req, 0);
}

/* A reader served by direct reads reads a cached leaf when it asks for it, not
 * ahead: reading it into the page cache first would only read it twice. */
static void fs_prefetch(struct fstree *t, const struct cid *leaf, int prio, bool direct)
{
	if (direct)
		store_prefetch_remote(fstree_store(t), leaf, prio);
	else
		store_prefetch(fstree_store(t), leaf, prio);
}

/* Grow the window on sequential access and prefetch whole leaves ahead. */
static void ra_advance(struct fstree *t, struct fh *h, uint64_t off, size_t size)
{
	struct store_get_opts o = {.prio = FETCH_PRIO_READAHEAD};
	struct dag_extent ext[FS_MAX_EXTENTS];
	uint64_t end = off + size, from, to, window, fsize = dag_file_size(h->df);
	bool direct = store_reads_direct(fstree_store(t)); /* the stream is sequential */
	int n, i;

	pthread_mutex_lock(&h->lock);
	window = rastream_advance(&h->ra, off, end);
	atomic_store_explicit(&h->seq, window != 0, memory_order_relaxed);
	from = h->ra_end > end ? h->ra_end : end;
	to = end + window < fsize ? end + window : fsize;
	if (to > from)
		h->ra_end = to;
	pthread_mutex_unlock(&h->lock);
	while (to > from) {
		n = dag_file_extents(h->df, from, to - from, ext, FS_MAX_EXTENTS, &o, NULL);
		if (n <= 0)
			return;
		for (i = 0; i < n; i++)
			if (!ext[i].inline_data)
				fs_prefetch(t, &ext[i].leaf, FETCH_PRIO_READAHEAD, direct);
		from = ext[n - 1].file_off + ext[n - 1].len;
	}
}

/* Queue consumed leaves; drop the cache pages of those the reader has left
 * FS_DROP_LAG behind, all of them if `off` is UINT64_MAX. Not at once: a
 * request for a leaf's head may still come after another thread served its
 * tail, and a page fault in the map reads around it (half the device's
 * readahead each way), which would bring a just-dropped neighbour back. */
static void drops_advance(struct fstree *t, struct fh *h, const struct fh_drop *add, int nadd,
			  uint64_t off)
{
	struct fh_drop out[FS_DROP_MAX + FS_MAX_EXTENTS];
	unsigned nout = 0, i, keep = 0;

	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->ndrops; i++) {
		if (h->drops[i].end + FS_DROP_LAG <= off || off == UINT64_MAX)
			out[nout++] = h->drops[i];
		else
			h->drops[keep++] = h->drops[i];
	}
	h->ndrops = keep;
	for (i = 0; i < (unsigned)nadd; i++) {
		if (h->ndrops == FS_DROP_MAX) { /* full: the oldest goes now */
			out[nout++] = h->drops[0];
			memmove(h->drops, h->drops + 1, (FS_DROP_MAX - 1) * sizeof(h->drops[0]));
			h->ndrops--;
		}
		h->drops[h->ndrops++] = add[i];
	}
	pthread_mutex_unlock(&h->lock);
	for (i = 0; i < nout; i++)
		store_drop_pages(fstree_store(t), &out[i].leaf);
}

#define FS_DBUF_CAP ((1u << 20) + FS_MAX_EXTENTS * 8192u) /* a request, aligned per extent */

static pthread_key_t fs_dbuf_key;
static bool fs_dbuf_key_ok;
static pthread_once_t fs_dbuf_once = PTHREAD_ONCE_INIT;

static void fs_dbuf_key_init(void)
{
	fs_dbuf_key_ok = pthread_key_create(&fs_dbuf_key, free) == 0;
	if (!fs_dbuf_key_ok)
		log_warn("direct reads: no thread key; reading through the page cache");
}

/* This thread's buffer for direct reads, FS_DBUF_CAP bytes, freed when the
 * thread exits; NULL if it cannot be had (the map is used instead). */
static char *fs_dbuf(void)
{
	void *p;

	pthread_once(&fs_dbuf_once, fs_dbuf_key_init);
	if (!fs_dbuf_key_ok)
		return NULL;
	p = pthread_getspecific(fs_dbuf_key);
	if (!p && posix_memalign(&p, 4096, FS_DBUF_CAP) == 0 &&
	    pthread_setspecific(fs_dbuf_key, p)) {
		free(p);
		p = NULL;
	}
	return p;
}

/* Zero-copy when every extent is a raw leaf; otherwise read into a buffer. */
static int read_extents(fuse_req_t req, struct fstree *t, struct fh *h, uint64_t off, size_t size,
			struct errbuf *e)
{
	struct dag_extent ext[FS_MAX_EXTENTS];
	struct store_block blk[FS_MAX_EXTENTS];
	struct iovec iov[FS_MAX_EXTENTS];
	struct fh_drop done[FS_MAX_EXTENTS];
	struct store_get_opts o;
	bool seq = atomic_load_explicit(&h->seq, memory_order_relaxed);
	int n, i, ndone = 0, got = 0, rc = 0;
	/* a sequential reader's requests are large and read once: direct; a random
	 * reader's are small, and the read-around of the map serves its next ones */
	char *dbuf = seq && store_reads_direct(fstree_store(t)) ? fs_dbuf() : NULL;
	size_t dused = 0;
	ssize_t at;

	fs_get_opts(req, FETCH_PRIO_DEMAND, &o);
	n = dag_file_extents(h->df, off, size, ext, FS_MAX_EXTENTS, &o, e);
	if (n < 0)
		return n;
	o.direct = dbuf != NULL; /* for the leaves only: dag-pb nodes are read from the map */
	for (i = 0; i < n; i++)
		if (ext[i].inline_data || ext[i].leaf.codec != CID_CODEC_RAW)
			return 1; /* caller falls back to copying */
	for (i = 1; i < n; i++)	  /* start the other fetches before waiting on the first */
		fs_prefetch(t, &ext[i].leaf, FETCH_PRIO_DEMAND, dbuf != NULL);
	for (got = 0; got < n && rc == 0; got++)
		rc = store_get(fstree_store(t), &ext[got].leaf, &o, &blk[got], e);
	if (rc < 0) {
		got--;
		goto out;
	}
	for (i = 0; i < n; i++) {
		uint64_t start = off > ext[i].file_off ? off - ext[i].file_off : 0;
		uint64_t stop = off + size - ext[i].file_off;

		if (stop > ext[i].len)
			stop = ext[i].len;
		if (ext[i].leaf_data_off + stop > blk[i].len) {
			rc = err_set(e, -EIO, "leaf %s shorter than its extent",
				     cid_str(&ext[i].leaf));
			goto out;
		}
		iov[i].iov_base = (char *)blk[i].data + ext[i].leaf_data_off + start;
		iov[i].iov_len = stop - start;
		at = dbuf
			 ? store_block_pread(fstree_store(t), &blk[i], ext[i].leaf_data_off + start,
					     stop - start, dbuf + dused, FS_DBUF_CAP - dused)
			 : -ENOTSUP;
		if (at >= 0) { /* read from disk into dbuf: no page cache to read around or drop */
			iov[i].iov_base = dbuf + dused + at;
			dused += ((size_t)at + iov[i].iov_len + 4095) & ~(size_t)4095;
			continue;
		}
		if (at != -ENOTSUP && at != -ENOBUFS) {
			rc = err_set(e, (int)at, "leaf %s: reading the cache: %s",
				     cid_str(&ext[i].leaf), strerror((int)-at));
			goto out;
		}
		if (!seq)
			store_block_readaround(fstree_store(t), &blk[i]);
		if (seq && stop == ext[i].len)
			done[ndone++] = (struct fh_drop){ext[i].leaf, ext[i].file_off + ext[i].len};
	}
	fuse_reply_iov(req, iov, n); /* one writev from the cache's map and dbuf */
	drops_advance(t, h, done, ndone, off);
out:
	for (i = 0; i < got; i++)
		store_block_release(fstree_store(t), &blk[i]);
	return rc;
}

static void read_file(fuse_req_t req, struct fstree *t, struct fh *h, uint64_t off, size_t size)
{
	struct store_get_opts o;
	struct errbuf e = {{0}};
	uint64_t fsize = dag_file_size(h->df);
	ssize_t got;
	char *buf;
	int rc;

	if (off >= fsize || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > fsize - off)
		size = (size_t)(fsize - off);
	rc = read_extents(req, t, h, off, size, &e);
	if (rc == 1) {
		fs_get_opts(req, FETCH_PRIO_DEMAND, &o);
		buf = malloc(size);
		got = buf ? dag_file_read(h->df, off, size, buf, &o, &e) : -ENOMEM;
		rc = got < 0 ? (int)got : 0;
		if (got >= 0)
			fuse_reply_buf(req, buf, (size_t)got);
		free(buf);
	}
	if (rc < 0) {
		if (rc != -EINTR)
			log_warn("read %s @%" PRIu64 "+%zu: %s", h->n->name, off, size,
				 e.msg[0] ? e.msg : strerror(-rc));
		fuse_reply_err(req, -rc);
		return;
	}
	ra_advance(t, h, off, size);
}

void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fh *h = fh_get(fi);
	const uint8_t *mem = NULL;
	size_t len = 0;

	(void)ino;
	if (h->df) {
		fs_pt_note_read();
		read_file(req, fs_tree(req), h, (uint64_t)off, size);
		fh_put(h);
		return;
	}
	if (h->n->kind == FSN_STATS) {
		mem = (const uint8_t *)h->mem;
		len = h->mem_len;
	} else if (h->n->kind == FSN_MEM) {
		mem = h->n->mem;
		len = h->n->size;
	}
	if ((uint64_t)off >= len) {
		size = 0;
		off = 0;
	} else if (size > len - (size_t)off) {
		size = len - (size_t)off;
	}
	fuse_reply_buf(req, size ? (const char *)mem + off : NULL, size);
	fh_put(h);
}

void fs_tune_bdi(const char *mountpoint, unsigned kb)
{
	char line[4096], path[128], mnt[4096];
	unsigned maj, min;
	FILE *f = fopen("/proc/self/mountinfo", "r");
	int found = 0;

	if (!f)
		return;
	/* stop at the match: a later line (a later mount) would overwrite maj:min */
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, mnt) == 3 &&
			!strcmp(mnt, mountpoint);
	fclose(f);
	if (!found)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", maj, min);
	f = fopen(path, "w");
	if (!f) {
		log_debug("cannot raise read_ahead_kb (%s): %s", path, strerror(errno));
		return;
	}
	fprintf(f, "%u\n", kb);
	fclose(f);
	log_info("read_ahead_kb=%u on %s", kb, path);
}
