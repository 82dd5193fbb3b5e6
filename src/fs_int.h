/* fs_int: internals shared by the fs_*.c files of the FUSE module. */
#ifndef MPACK_FS_INT_H
#define MPACK_FS_INT_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "fstree.h"
#include "store.h"

struct fstree *fs_tree(fuse_req_t req);
/* Store options for a request: priority, interrupt polling. */
void fs_get_opts(fuse_req_t req, int prio, struct store_get_opts *o);

void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);

/* An open file or directory. An unmount by signal can end the loop before the
 * kernel's RELEASE for every open arrives: fs_run frees what is still tracked
 * once no request runs any more. Track on open, untrack on release. */
struct fs_handle {
	struct fs_handle *prev, *next;
	void (*free_fn)(struct fs_handle *h);
};

void fs_handle_track(struct fs_handle *h, void (*free_fn)(struct fs_handle *h));
void fs_handle_untrack(struct fs_handle *h);

/* Passthrough and cold-direct opens (fs_pt.c). install: take over the
 * session's I/O to negotiate the FS_INIT_* features in `want` at INIT, and
 * start the copy worker for passthrough; before the loop. -errno if it cannot
 * (the mount then works without). stop: end the worker; after the loop. */
#define FS_INIT_PASSTHROUGH 1u
#define FS_INIT_DIO_MMAP    2u /* FUSE_DIRECT_IO_ALLOW_MMAP, for cold_direct */
int fs_pt_install(struct fuse_session *se, struct fstree *t, unsigned want);
/* The kernel agreed to FUSE_DIRECT_IO_ALLOW_MMAP: an open may be answered
 * FOPEN_DIRECT_IO and still be mapped shared. */
bool fs_pt_cold_direct(void);
void fs_pt_stop(void);
/* Every read request calls this: copies wait for the mount to be idle. */
void fs_pt_note_read(void);
/* For an open of n (size bytes): > 0 is the backing id to reply with
 * (fs_pt_reply_open), 0 a cached open. *counted: call fs_pt_end on release,
 * with passthrough = (result > 0). */
int fs_pt_begin(struct fsn *n, uint64_t size, bool *counted);
void fs_pt_end(struct fsn *n, bool passthrough);
/* fuse_reply_open, for passthrough if backing_id > 0. */
void fs_pt_reply_open(fuse_req_t req, struct fuse_file_info *fi, int backing_id);

/* Once per mount, after INIT: raise the mount's readahead. */
void fs_tune_readahead(void);

/* Raise the mount's read_ahead_kb (best effort, needs root). */
void fs_tune_bdi(const char *mountpoint, unsigned kb);

#endif
