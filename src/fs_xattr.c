/* fs_xattr: the user.mpack.* extended attributes. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fs_int.h"
#include "manifest.h"

static const char xattr_names[] =
    "user.mpack.cid\0user.mpack.sha256\0user.mpack.pack\0user.mpack.cached";

static void reply_value(fuse_req_t req, const char *v, size_t size)
{
	size_t len = strlen(v);

	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, v, len);
}

/* Value of one attribute into buf; -ENODATA if the node has none. */
static int xattr_value(struct fstree *t, struct fsn *n, const char *name, char *buf, size_t cap)
{
	bool has_cid =
	    n->kind == FSN_FILE || n->kind == FSN_UFS_DIR || (n->pack && n->pack->ino == n->ino);
	double pct;

	if (!strcmp(name, "user.mpack.cid") && has_cid) {
		cid_format(n->pack && n->pack->ino == n->ino ? &n->pack->root : &n->cid, buf, cap);
		return 0;
	}
	if (!strcmp(name, "user.mpack.sha256") && n->has_sha256) {
		char tmp[72];

		manifest_format_sha256(n->sha256, tmp);
		snprintf(buf, cap, "%s", tmp);
		return 0;
	}
	if (!strcmp(name, "user.mpack.pack") && n->pack) {
		fstree_pack_cid(n, buf, cap);
		return 0;
	}
	if (!strcmp(name, "user.mpack.cached") && (n->kind == FSN_FILE || n->kind == FSN_MEM)) {
		if (fstree_cached_percent(t, n, &pct) < 0)
			return -EIO;
		snprintf(buf, cap, "%.1f", pct);
		return 0;
	}
	return -ENODATA;
}

void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fstree *t = fs_tree(req);
	struct fsn *n = fstree_get(t, ino);
	char buf[CID_MAX_TEXT + 80];
	int rc;

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	rc = xattr_value(t, n, name, buf, sizeof(buf));
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		reply_value(req, buf, size);
}

void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fstree *t = fs_tree(req);
	struct fsn *n = fstree_get(t, ino);
	char list[sizeof(xattr_names)], buf[CID_MAX_TEXT + 80];
	const char *p;
	size_t len = 0;

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	for (p = xattr_names; p < xattr_names + sizeof(xattr_names); p += strlen(p) + 1) {
		if (xattr_value(t, n, p, buf, sizeof(buf)) < 0 && strcmp(p, "user.mpack.cached"))
			continue;
		if (!strcmp(p, "user.mpack.cached") && n->kind != FSN_FILE && n->kind != FSN_MEM)
			continue;
		memcpy(list + len, p, strlen(p) + 1);
		len += strlen(p) + 1;
	}
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, list, len);
}
