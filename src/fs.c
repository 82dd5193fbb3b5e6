/* fs: the FUSE low-level filesystem (lookup, attributes, directories, reads, xattrs). */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs_int.h"
#include "log.h"

/* One mount per process; the tree is created after daemonize, before serving. */
static struct fs_holder {
	struct fstree *tree;
	const char *mountpoint;
	unsigned read_ahead_kb;
	pthread_once_t tune_once;
} fs_holder = {.tune_once = PTHREAD_ONCE_INIT};

static void fs_tune_once(void)
{
	if (fs_holder.read_ahead_kb)
		fs_tune_bdi(fs_holder.mountpoint, fs_holder.read_ahead_kb);
}

/* The kernel sets the mount's readahead from our INIT reply, after init()
 * returns; raise it on the first open, once INIT is certainly done. */
void fs_tune_readahead(void)
{
	pthread_once(&fs_holder.tune_once, fs_tune_once);
}

static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fs_handle handles = {&handles, &handles, NULL};

void fs_handle_track(struct fs_handle *h, void (*free_fn)(struct fs_handle *h))
{
	h->free_fn = free_fn;
	pthread_mutex_lock(&handles_lock);
	h->prev = &handles;
	h->next = handles.next;
	handles.next->prev = h;
	handles.next = h;
	pthread_mutex_unlock(&handles_lock);
}

void fs_handle_untrack(struct fs_handle *h)
{
	pthread_mutex_lock(&handles_lock);
	h->prev->next = h->next;
	h->next->prev = h->prev;
	h->prev = h->next = h;
	pthread_mutex_unlock(&handles_lock);
}

/* After the loop: no request runs, so nothing else holds these. */
static void fs_handles_free(void)
{
	struct fs_handle *h;
	unsigned n = 0;

	while ((h = handles.next) != &handles) {
		fs_handle_untrack(h);
		h->free_fn(h);
		n++;
	}
	if (n)
		log_debug("freed %u handles the kernel did not release", n);
}

struct fstree *fs_tree(fuse_req_t req)
{
	return ((struct fs_holder *)fuse_req_userdata(req))->tree;
}

static int req_interrupted(void *ctx)
{
	return fuse_req_interrupted((fuse_req_t)ctx);
}

void fs_get_opts(fuse_req_t req, int prio, struct store_get_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->prio = prio;
	o->interrupted = req_interrupted;
	o->ictx = req;
}

/* Content never changes: cache names and attributes for a day, except the
 * control files and aliases, which may change between mounts. */
static double timeout_for(const struct fsn *n)
{
	if (n->ino == FSTREE_INO_ROOT || n->ino == FSTREE_INO_STATS || !n->pack)
		return 1.0;
	return 86400.0;
}

static void reply_error(fuse_req_t req, const char *what, int rc, const struct errbuf *e)
{
	if (rc != -ENOENT && rc != -EINTR)
		log_warn("%s: %s", what, e->msg[0] ? e->msg : strerror(-rc));
	fuse_reply_err(req, -rc);
}

static void op_init(void *ud, struct fuse_conn_info *conn)
{
	(void)ud;
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fstree *t = fs_tree(req);
	struct fuse_entry_param ep;
	struct store_get_opts o;
	struct errbuf e = {{0}};
	struct fsn *n;
	int rc;

	fs_get_opts(req, FETCH_PRIO_DEMAND, &o);
	memset(&ep, 0, sizeof(ep));
	rc = fstree_lookup(t, parent, name, &o, &n, &e);
	if (rc == -ENOENT && parent == FSTREE_INO_ROOT &&
	    cid_parse(name, strlen(name), &(struct cid){0}, NULL) < 0) {
		ep.ino = 0; /* not a CID: let the kernel remember briefly */
		ep.entry_timeout = 1.0;
		fuse_reply_entry(req, &ep);
		return;
	}
	if (rc == 0)
		rc = fstree_stat(t, n, &o, &ep.attr, &e);
	if (rc < 0) {
		char what[300];

		snprintf(what, sizeof(what), "lookup %s", name);
		if (rc == -ENOENT && parent == FSTREE_INO_ROOT)
			log_warn("%s: no source has this pack (%s)", what, e.msg);
		if (rc == -ETIMEDOUT && parent == FSTREE_INO_ROOT)
			rc = -EIO; /* a pack that cannot be fetched in time: EIO, never cached */
		reply_error(req, what, rc, &e);
		return;
	}
	ep.ino = n->ino;
	ep.generation = 1;
	ep.attr_timeout = ep.entry_timeout = timeout_for(n);
	fuse_reply_entry(req, &ep);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fstree *t = fs_tree(req);
	struct store_get_opts o;
	struct errbuf e = {{0}};
	struct stat st;
	struct fsn *n = fstree_get(t, ino);
	int rc;

	(void)fi;
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fs_get_opts(req, FETCH_PRIO_DEMAND, &o);
	rc = fstree_stat(t, n, &o, &st, &e);
	if (rc < 0) {
		reply_error(req, "getattr", rc, &e);
		return;
	}
	fuse_reply_attr(req, &st, timeout_for(n));
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fsn *n = fstree_get(fs_tree(req), ino);

	if (!n || n->kind != FSN_SYMLINK)
		fuse_reply_err(req, n ? EINVAL : ENOENT);
	else
		fuse_reply_readlink(req, n->link);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 1 << 20;
	sv.f_frsize = 4096;
	sv.f_namemax = 255;
	sv.f_flag = ST_RDONLY | ST_NOSUID | ST_NODEV;
	fuse_reply_statfs(req, &sv);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req); /* nodes live until unmount */
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	(void)count;
	(void)f;
	fuse_reply_none(req);
}

static const struct fuse_lowlevel_ops fs_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .readlink = op_readlink,
    .opendir = fs_opendir,
    .readdir = fs_readdir,
    .releasedir = fs_releasedir,
    .open = fs_open,
    .read = fs_read,
    .release = fs_release,
    .statfs = op_statfs,
    .getxattr = fs_getxattr,
    .listxattr = fs_listxattr,
};

/* Detach into the background (fuse_daemonize does the same, but returns to
 * the parent before the store is open). The parent waits for the child's
 * report and exits 0 only once the filesystem is ready to serve, so `mount`
 * and systemd see start-up failures. Returns the pipe to report on, or -1 in
 * the foreground. */
static int fs_detach(bool foreground)
{
	int p[2];
	char ok = 0;
	pid_t pid;

	if (foreground)
		return -1;
	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &ok, 1) != 1)
			ok = 0;
		_exit(ok ? 0 : 1);
	}
	close(p[0]);
	if (setsid() < 0)
		log_warn("setsid: %s", strerror(errno));
	return p[1];
}

/* Tell the waiting parent how start-up went; on success drop the terminal. */
static void fs_detach_done(int fd, bool ok)
{
	int null;

	if (fd < 0)
		return;
	if (ok && (null = open("/dev/null", O_RDWR)) >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
	if (write(fd, ok ? "1" : "", ok ? 1 : 0) < 0)
		log_warn("cannot notify the parent: %s", strerror(errno));
	close(fd);
}

int fs_run(struct fuse_args *args, const struct fs_run_opts *o)
{
	struct fuse_session *se;
	struct fuse_loop_config *lc = NULL;
	struct fstree *t = NULL;
	int rc = 1, notify;
	bool started;

	se = fuse_session_new(args, &fs_ops, sizeof(fs_ops), &fs_holder);
	if (!se)
		return 1;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, o->mountpoint) != 0)
		goto out_signals;
	notify = fs_detach(o->foreground);
	/* start() resolves relative paths from where the user ran us; afterwards
	 * go to "/" so the mount pins no directory. */
	started = o->start(o->ctx, &t) == 0;
	if (chdir("/") != 0)
		log_warn("chdir /: %s", strerror(errno));
	fs_detach_done(notify, started);
	if (!started)
		goto out_unmount;
	fs_holder.tree = t;
	fs_holder.mountpoint = o->mountpoint;
	fs_holder.read_ahead_kb = o->read_ahead_kb;
	if (o->passthrough || o->cold_direct)
		fs_pt_install(se, t,
			      (o->passthrough ? FS_INIT_PASSTHROUGH : 0) |
				  (o->cold_direct ? FS_INIT_DIO_MMAP : 0));
	log_info("mounted on %s", o->mountpoint);
	if (o->single_thread) {
		rc = fuse_session_loop(se);
	} else {
		lc = fuse_loop_cfg_create();
		if (o->max_threads)
			fuse_loop_cfg_set_max_threads(lc, o->max_threads);
		fuse_loop_cfg_set_clone_fd(lc, 1);
		rc = fuse_session_loop_mt(se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	rc = rc < 0 ? 1 : 0;
	fs_pt_stop();
	fs_handles_free();
	log_info("unmounting %s", o->mountpoint);
	o->stop(o->ctx, t);
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
	return rc;
}
