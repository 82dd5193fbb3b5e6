/* fs_dir: directory listing for the FUSE module. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dynbuf.h"
#include "fs_int.h"
#include "log.h"

#define FS_DIR_MAX_BYTES (64u << 20)

struct dirbuf {
	struct fs_handle link; /* first: the registry frees through it */
	atomic_int refs;       /* the open directory, plus each readdir in progress */
	struct dynbuf b;
	fuse_req_t req;
};

static int dir_add(struct dirbuf *d, const char *name, fuse_ino_t ino, mode_t mode)
{
	struct stat st;
	size_t need;
	int rc;

	memset(&st, 0, sizeof(st));
	st.st_ino = ino;
	st.st_mode = mode;
	need = fuse_add_direntry(d->req, NULL, 0, name, NULL, 0);
	rc = dynbuf_reserve(&d->b, need);
	if (rc < 0)
		return rc;
	fuse_add_direntry(d->req, (char *)d->b.data + d->b.len, need, name, &st,
			  (off_t)(d->b.len + need));
	d->b.len += need;
	return 0;
}

static mode_t mode_of(const struct fsn *n)
{
	switch (n->kind) {
	case FSN_DIR:
	case FSN_UFS_DIR:
		return S_IFDIR;
	case FSN_SYMLINK:
		return S_IFLNK;
	default:
		return S_IFREG;
	}
}

struct root_ctx {
	struct dirbuf *d;
	struct fstree *t;
	struct fsn *root;
	int rc;
};

/* Cached packs not looked up yet in this mount. */
static int add_cached_pack(void *ctx, const struct cid *root, const char *label)
{
	struct root_ctx *rc = ctx;
	char name[CID_MAX_TEXT];
	struct fsn *k;

	(void)label;
	cid_format(root, name, sizeof(name));
	if (fstree_lookup_loaded(rc->t, FSTREE_INO_ROOT, name, &k) == 0)
		return 0;
	rc->rc = dir_add(rc->d, name, fstree_pack_ino(root, name), S_IFDIR);
	return rc->rc;
}

static int fill_dir(fuse_req_t req, struct fstree *t, struct fsn *dir, struct dirbuf *d,
		    struct errbuf *e)
{
	struct store_get_opts o;
	uint64_t *kids = NULL;
	size_t n, i;
	struct fsn *k;
	int rc;

	fs_get_opts(req, FETCH_PRIO_DEMAND, &o);
	rc = fstree_children(t, dir, &o, &kids, &n, e);
	if (rc < 0)
		return rc;
	rc = dir_add(d, ".", dir->ino, S_IFDIR);
	if (!rc)
		rc = dir_add(d, "..", dir->parent, S_IFDIR);
	for (i = 0; !rc && i < n; i++) {
		k = fstree_get(t, kids[i]);
		if (k)
			rc = dir_add(d, k->name, k->ino, mode_of(k));
	}
	free(kids);
	if (!rc && dir->ino == FSTREE_INO_ROOT && store_cache(fstree_store(t))) {
		struct root_ctx rctx = {d, t, dir, 0};

		cache_packs_foreach(store_cache(fstree_store(t)), add_cached_pack, &rctx);
		rc = rctx.rc;
	}
	return rc < 0 ? err_set(e, rc, "directory listing too large") : 0;
}

static void dirbuf_free(struct fs_handle *h)
{
	struct dirbuf *d = (struct dirbuf *)h;

	dynbuf_free(&d->b);
	free(d);
}

void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fstree *t = fs_tree(req);
	struct fsn *dir = fstree_get(t, ino);
	struct errbuf e = {{0}};
	struct dirbuf *d;
	int rc;

	if (!dir) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	dynbuf_init(&d->b, FS_DIR_MAX_BYTES);
	atomic_init(&d->refs, 1);
	d->req = req;
	rc = fill_dir(req, t, dir, d, &e);
	if (rc < 0) {
		if (rc != -ENOTDIR && rc != -EINTR)
			log_warn("opendir %s: %s", dir->name, e.msg);
		dynbuf_free(&d->b);
		free(d);
		fuse_reply_err(req, -rc);
		return;
	}
	d->req = NULL;
	fs_handle_track(&d->link, dirbuf_free);
	fi->fh = (uint64_t)(uintptr_t)d;
	if (dir->pack) {
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	fuse_reply_open(req, fi);
}

static void dirbuf_put(struct dirbuf *d)
{
	if (atomic_fetch_sub(&d->refs, 1) == 1)
		dirbuf_free(&d->link);
}

void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct dirbuf *d = (struct dirbuf *)(uintptr_t)fi->fh;

	(void)ino;
	atomic_fetch_add(&d->refs, 1); /* releasedir may run once the reply is out */
	if (off < 0 || (size_t)off >= d->b.len)
		size = 0;
	else if (size > d->b.len - (size_t)off)
		size = d->b.len - (size_t)off;
	fuse_reply_buf(req, size ? (const char *)d->b.data + off : NULL, size);
	dirbuf_put(d);
}

void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dirbuf *d = (struct dirbuf *)(uintptr_t)fi->fh;

	(void)ino;
	fs_handle_untrack(&d->link);
	dirbuf_put(d);
	fuse_reply_err(req, 0);
}
