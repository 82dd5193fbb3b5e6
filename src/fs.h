/* fs: the FUSE low-level filesystem. The only module that includes
 * fuse_lowlevel.h. It maps kernel requests onto fstree (namespace) and dag
 * (file content through the verified store).
 *
 * Reads: offset → leaf extents → store blocks (zero-copy LMDB views where the
 * leaf is raw) → one fuse_reply_data. keep_cache on every content file, long
 * entry/attr timeouts (content never changes), never direct_io for content so
 * MAP_SHARED and MAP_PRIVATE mmap both work. A sequential reader grows a
 * readahead window (whole leaves, fetched in parallel at READAHEAD priority)
 * sized by rastream.h; random readers get none. Every request is served by
 * the multi-threaded loop; nothing is serialised per file handle. Interrupted
 * requests return EINTR; every wait is bounded by the store deadline. */
#ifndef MPACK_FS_H
#define MPACK_FS_H

#include <stdbool.h>

#include "fstree.h"

struct fuse_args;

struct fs_run_opts {
	const char *mountpoint;
	bool foreground;
	bool debug;
	bool single_thread;
	unsigned max_threads;	/* 0 → libfuse default */
	unsigned read_ahead_kb; /* written to the mount's bdi if possible; 0 = leave */
	bool passthrough;	/* serve fully cached files from verified copies (fs_pt.c) */
	bool cold_direct;	/* opens of uncached files bypass the page cache (fs_pt.c) */
	/* Called after the mount and daemonize, before serving: open the store
	 * and the tree here (threads and LMDB must start after fork). */
	int (*start)(void *ctx, struct fstree **tree);
	void (*stop)(void *ctx, struct fstree *tree);
	void *ctx;
};

/* Mount, daemonize unless foreground, call start, serve until unmounted or
 * SIGINT/SIGTERM/SIGHUP, then stop and unmount. Returns the process exit
 * status (0 ok, 1 failure). */
int fs_run(struct fuse_args *args, const struct fs_run_opts *o);

#endif
