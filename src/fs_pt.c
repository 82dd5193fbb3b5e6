/* fs_pt: FUSE passthrough from verified file copies.
 *
 * Once a file's verified copy exists (filecopy.h), its opens are answered with
 * FOPEN_PASSTHROUGH and the copy as backing file: the kernel then reads and
 * maps the copy itself, at local-disk speed, and no read of it reaches us.
 *
 * DESIGN. libfuse 3.14 (Debian 12) has no passthrough API (3.17 has), so this
 * module installs its own read and writev on the session
 * (fuse_session_custom_io) and edits three messages in flight:
 * - the INIT request: does the kernel offer FUSE_PASSTHROUGH;
 * - the INIT reply: ask for it, with max_stack_depth 1 (the mount can still be
 *   an overlayfs lower layer; a cache on a stacked filesystem cannot back it);
 * - the OPEN reply of an open this thread chose for passthrough: set
 *   FOPEN_PASSTHROUGH and the backing id, clear FOPEN_KEEP_CACHE (the kernel
 *   refuses the pair). libfuse reads, handles and replies to a request on one
 *   thread and our open replies synchronously, so thread-local state ties the
 *   reply to its request; the reply's unique is checked too.
 *
 * The same INIT edit asks for FUSE_DIRECT_IO_ALLOW_MMAP (kernel 6.6+): a file
 * opened FOPEN_DIRECT_IO can then still be mapped shared, so fs_open may open
 * files not yet cached that way (fs_pt_cold_direct): a cold read's bytes go
 * from our reply straight into the reader's buffer, not into new page-cache
 * pages first. A mapping of such a file goes through the page cache as usual.
 *
 * The kernel fails (EIO) a passthrough open of an inode open cached, and the
 * reverse. So per inode one kind is used only while the other's count is
 * zero. A file with no copy is opened cached; a copy is queued on its open and
 * on its last release. One worker thread (nice 19) makes copies one at a
 * time, only from local blocks, and only once the mount has served no read
 * for FS_PT_IDLE_MS: copying never competes with a reader. The next open with
 * no cached open left uses the copy. A backing id lives while its inode has
 * passthrough opens.
 *
 * Lock: pt.lock protects the fsn pt_* fields and the queue. It is never held
 * across I/O or a reply. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "filecopy.h"
#include "fs_int.h"
#include "log.h"

/* From the kernel's fuse.h 7.40, newer than Debian 12's headers. */
#define PT_INIT_EXT	    (1u << 30)
#define PT_FLAGS2_PASSTHRU  (1u << (37 - 32))
#define PT_FLAGS2_DIO_MMAP  (1u << (36 - 32))
#define PT_FOPEN_KEEP_CACHE (1u << 1)
#define PT_FOPEN_PASSTHRU   (1u << 7)
struct pt_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define PT_IOC_BACKING_OPEN  _IOW(229, 1, struct pt_backing_map)
#define PT_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

#define FS_PT_QUEUE	64
#define FS_PT_IDLE_MS	1000
#define FS_PT_MIN_BYTES (1u << 20) /* smaller files gain nothing from a copy */

enum { PT_COPY_IDLE, PT_COPY_QUEUED, PT_COPY_FAILED };

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct fstree *tree;
	int fd; /* the session's /dev/fuse */
	uint64_t budget;
	struct fstree_pt *fig; /* active, opens, copies, dir: in the tree, for stats */
	unsigned want;	       /* FS_INIT_* */
	atomic_uint offered;   /* the INIT request's flags2 */
	atomic_bool stopping;
	bool worker_started;
	pthread_t worker;
	struct fsn *queue[FS_PT_QUEUE]; /* protected by lock */
	unsigned qhead, qlen;
	atomic_uint_fast64_t last_read_ms;
} pt = {.lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .fd = -1};

static __thread uint64_t t_unique;
static __thread uint32_t t_opcode;
static __thread int t_backing; /* the open this thread is replying to */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the session's I/O ---- */

static ssize_t pt_read(int fd, void *buf, size_t len, void *ud)
{
	ssize_t n = read(fd, buf, len);
	const struct fuse_in_header *h = buf;

	(void)ud;
	if (n < (ssize_t)sizeof(*h))
		return n;
	t_unique = h->unique;
	t_opcode = h->opcode;
	if (h->opcode == FUSE_INIT && (size_t)n >= sizeof(*h) + 5 * sizeof(uint32_t)) {
		const uint32_t *in = (const uint32_t *)(h + 1); /* major minor ra flags flags2 */

		atomic_store(&pt.offered, in[3] & PT_INIT_EXT ? in[4] : 0);
	}
	return n;
}

static ssize_t pt_writev(int fd, struct iovec *iov, int count, void *ud)
{
	struct fuse_out_header *oh = iov[0].iov_base;

	(void)ud;
	if (count < 2 || oh->unique != t_unique || oh->error)
		return writev(fd, iov, count);
	if (t_opcode == FUSE_INIT && iov[1].iov_len >= 40) {
		uint32_t *out = iov[1].iov_base; /* word 3 flags, 8 flags2, 9 max_stack_depth */
		unsigned offered = atomic_load(&pt.offered);

		if ((pt.want & FS_INIT_PASSTHROUGH) && (offered & PT_FLAGS2_PASSTHRU)) {
			out[3] |= PT_INIT_EXT;
			out[8] |= PT_FLAGS2_PASSTHRU;
			out[9] = 1;
			atomic_store(&pt.fig->active, true);
		}
		if ((pt.want & FS_INIT_DIO_MMAP) && (offered & PT_FLAGS2_DIO_MMAP)) {
			out[3] |= PT_INIT_EXT;
			out[8] |= PT_FLAGS2_DIO_MMAP;
			atomic_store(&pt.fig->cold_direct, true);
		}
	} else if (t_opcode == FUSE_OPEN && t_backing > 0 && iov[1].iov_len >= 16) {
		uint32_t *out = iov[1].iov_base; /* fh (2 words), open_flags, backing_id */

		out[2] = (out[2] & ~PT_FOPEN_KEEP_CACHE) | PT_FOPEN_PASSTHRU;
		out[3] = (uint32_t)t_backing;
	}
	return writev(fd, iov, count);
}

/* ---- the copy worker ---- */

/* Polled between leaves: wait while the mount serves reads; stop at unmount. */
static int pt_copy_pause(void *ctx)
{
	(void)ctx;
	while (!atomic_load(&pt.stopping) &&
	       now_ms() - atomic_load(&pt.last_read_ms) < FS_PT_IDLE_MS)
		usleep(100 * 1000);
	return atomic_load(&pt.stopping);
}

static void pt_copy(struct fsn *n)
{
	struct store_get_opts o = {.prio = FETCH_PRIO_PREFETCH, .local_only = true};
	struct errbuf e = {{0}};
	struct dag_file *df;
	uint64_t t0;
	int rc, state = PT_COPY_IDLE;

	if (pt_copy_pause(NULL))
		return;
	t0 = now_ms();
	rc = fstree_open_file(pt.tree, n, &o, &df, &e);
	if (rc == 0)
		rc = filecopy_make(fstree_store(pt.tree), df, pt.fig->dir, pt.budget, pt_copy_pause,
				   NULL, &e);
	if (rc == 0) {
		atomic_fetch_add(&pt.fig->copies, 1);
		log_info("passthrough: %s copied (%" PRIu64 " bytes, %" PRIu64 " ms)", n->name,
			 dag_file_size(df), now_ms() - t0);
	} else if (rc == -EFBIG || (rc != -EAGAIN && rc != -ECANCELED)) {
		state = PT_COPY_FAILED;
		log_warn("passthrough: no copy of %s: %s", n->name,
			 rc == -EFBIG ? "larger than the cache's max_bytes"
				      : (e.msg[0] ? e.msg : strerror(-rc)));
	}
	pthread_mutex_lock(&pt.lock);
	n->pt_copy = (uint8_t)state;
	pthread_mutex_unlock(&pt.lock);
}

static void *pt_worker(void *arg)
{
	struct fsn *n;

	(void)arg;
	setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
	pthread_mutex_lock(&pt.lock);
	while (!atomic_load(&pt.stopping)) {
		if (!pt.qlen) {
			pthread_cond_wait(&pt.cv, &pt.lock);
			continue;
		}
		n = pt.queue[pt.qhead];
		pt.qhead = (pt.qhead + 1) % FS_PT_QUEUE;
		pt.qlen--;
		pthread_mutex_unlock(&pt.lock);
		pt_copy(n);
		pthread_mutex_lock(&pt.lock);
	}
	pthread_mutex_unlock(&pt.lock);
	return NULL;
}

/* Under pt.lock. The open or release that queues counts as activity: the
 * copy waits FS_PT_IDLE_MS from it, not only from the last read, so it never
 * runs between an open and that opener's first read. */
static void pt_queue_locked(struct fsn *n)
{
	if (n->pt_copy != PT_COPY_IDLE || pt.qlen == FS_PT_QUEUE || !pt.worker_started)
		return;
	atomic_store_explicit(&pt.last_read_ms, now_ms(), memory_order_relaxed);
	n->pt_copy = PT_COPY_QUEUED;
	pt.queue[(pt.qhead + pt.qlen) % FS_PT_QUEUE] = n;
	pt.qlen++;
	pthread_cond_signal(&pt.cv);
}

/* ---- the API ---- */

int fs_pt_install(struct fuse_session *se, struct fstree *t, unsigned want)
{
	static const struct fuse_custom_io io = {.read = pt_read, .writev = pt_writev};
	struct cache *c = store_cache(fstree_store(t));
	struct fstree_pt *fig = fstree_pt(t);
	struct cache_stats st;
	int rc;

	pt.tree = t;
	pt.fig = fig;
	if ((want & FS_INIT_PASSTHROUGH) &&
	    (!c || cache_stats_get(c, &st) != 0 ||
	     filecopy_dir(cache_path(c), fig->dir, sizeof(fig->dir)) < 0)) {
		fig->dir[0] = '\0';
		log_info("passthrough: off (no cache)");
		want &= ~FS_INIT_PASSTHROUGH;
	}
	if (!want)
		return -ENOTSUP;
	pt.want = want;
	pt.budget = (want & FS_INIT_PASSTHROUGH) ? st.max_bytes : 0;
	pt.fd = fuse_session_fd(se);
	if ((rc = fuse_session_custom_io(se, &io, pt.fd)) != 0) {
		log_warn("passthrough and cold_direct: off (libfuse refused custom I/O: %s)",
			 strerror(-rc));
		return rc;
	}
	if ((want & FS_INIT_PASSTHROUGH) && pthread_create(&pt.worker, NULL, pt_worker, NULL) == 0)
		pt.worker_started = true;
	return 0;
}

bool fs_pt_cold_direct(void)
{
	return pt.fig && atomic_load_explicit(&pt.fig->cold_direct, memory_order_relaxed);
}

void fs_pt_stop(void)
{
	if (!pt.worker_started)
		return;
	pthread_mutex_lock(&pt.lock);
	atomic_store(&pt.stopping, true);
	pthread_cond_broadcast(&pt.cv);
	pthread_mutex_unlock(&pt.lock);
	pthread_join(pt.worker, NULL);
	pt.worker_started = false;
}

void fs_pt_note_read(void)
{
	if (!pt.worker_started) /* set before the loop starts */
		return;
	atomic_store_explicit(&pt.last_read_ms, now_ms(), memory_order_relaxed);
}

static int pt_backing_open(const struct fsn *n, uint64_t size)
{
	struct pt_backing_map m = {0};
	int fd = filecopy_open(pt.fig->dir, &n->cid, size), id;

	if (fd < 0)
		return fd;
	m.fd = fd;
	id = ioctl(pt.fd, PT_IOC_BACKING_OPEN, &m);
	if (id < 0 && (errno == EPERM || errno == ELOOP || errno == EINVAL || errno == ENOTTY)) {
		id = -errno; /* lasting: no CAP_SYS_ADMIN, a stacked file system, an old kernel */
		log_warn("passthrough: off: the kernel refused %s/%s as a backing file: %s",
			 pt.fig->dir, cid_str(&n->cid), strerror(-id));
		atomic_store(&pt.fig->active, false);
	} else if (id < 0) {
		id = -errno;
		log_debug("passthrough: backing %s: %s", cid_str(&n->cid), strerror(-id));
	}
	close(fd);
	return id ? id : -EIO;
}

static void pt_backing_close(int id)
{
	uint32_t u = (uint32_t)id;

	if (id > 0 && ioctl(pt.fd, PT_IOC_BACKING_CLOSE, &u) != 0)
		log_debug("passthrough: closing backing %d: %s", id, strerror(errno));
}

int fs_pt_begin(struct fsn *n, uint64_t size, bool *counted)
{
	int id = -ENOENT, spare = 0;
	bool try_copy;

	*counted = false;
	if (!pt.fig || !atomic_load(&pt.fig->active) || size < FS_PT_MIN_BYTES)
		return 0;
	pthread_mutex_lock(&pt.lock);
	try_copy = n->pt_copy != PT_COPY_FAILED;
	if (n->pt_opens || n->cached_opens) {
		id = n->pt_opens ? n->pt_backing : 0;
		*(n->pt_opens ? &n->pt_opens : &n->cached_opens) += 1;
		pthread_mutex_unlock(&pt.lock);
		if (id > 0)
			atomic_fetch_add(&pt.fig->opens, 1);
		*counted = true;
		return id;
	}
	pthread_mutex_unlock(&pt.lock);
	if (try_copy)
		id = pt_backing_open(n, size);
	pthread_mutex_lock(&pt.lock);
	if (id > 0 && !n->cached_opens) {
		if (n->pt_opens) { /* another open set one up meanwhile */
			spare = id;
			id = n->pt_backing;
		}
		n->pt_backing = id;
		n->pt_opens++;
		atomic_fetch_add(&pt.fig->opens, 1);
	} else {
		spare = id > 0 ? id : 0;
		id = 0;
		n->cached_opens++;
		pt_queue_locked(n);
	}
	pthread_mutex_unlock(&pt.lock);
	pt_backing_close(spare);
	*counted = true;
	return id;
}

void fs_pt_end(struct fsn *n, bool passthrough)
{
	int id = 0;

	pthread_mutex_lock(&pt.lock);
	if (passthrough) {
		if (--n->pt_opens == 0) {
			id = n->pt_backing;
			n->pt_backing = 0;
		}
	} else if (--n->cached_opens == 0) {
		pt_queue_locked(n); /* a reader may have cached it all */
	}
	pthread_mutex_unlock(&pt.lock);
	pt_backing_close(id);
}

void fs_pt_reply_open(fuse_req_t req, struct fuse_file_info *fi, int backing_id)
{
	if (backing_id > 0)
		fi->keep_cache = 0;
	t_backing = backing_id;
	fuse_reply_open(req, fi);
	t_backing = 0;
}
