/* walk: enumerate every block of a pack (manifest, directory tree or file) through the
 * store (contract in walk.h).
 *
 * DESIGN. A depth-first recursion over UnixFS nodes. A dag-pb block is fetched, parsed
 * into a unode (which owns a copy of the block), reported while the store's block (often
 * a cache view) is still held, released, then its children are visited: nothing is held
 * across the recursion but the parsed node. Before descending into child i the walk queues
 * child i + window with store_prefetch, so a cold walk keeps several transfers going.
 * A multihash set remembers what was visited (dup flag, WALK_DISTINCT). */
#include "walk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dag.h"
#include "dynbuf.h"
#include "log.h"
#include "multihash.h"
#include "unixfs.h"

#define WALK_SNIFF 64 /* bytes read to decide whether a small file may be a manifest */

/* ---- the multihash set: open addressing over offsets into an arena ---- */

struct walk_set {
	struct dynbuf arena; /* entries: u8 length, multihash bytes */
	uint32_t *slots;     /* 0 = empty, else arena offset + 1 */
	size_t nslots, count;
};

struct walk_set *walk_set_new(void)
{
	struct walk_set *ws = calloc(1, sizeof(*ws));

	if (!ws)
		return NULL;
	dynbuf_init(&ws->arena, (size_t)WALK_MAX_BLOCKS * 40);
	ws->nslots = 1024;
	ws->slots = calloc(ws->nslots, sizeof(*ws->slots));
	if (!ws->slots) {
		free(ws);
		return NULL;
	}
	return ws;
}

void walk_set_free(struct walk_set *ws)
{
	if (!ws)
		return;
	dynbuf_free(&ws->arena);
	free(ws->slots);
	free(ws);
}

size_t walk_set_count(const struct walk_set *ws)
{
	return ws->count;
}

static uint64_t walk_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--)
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

/* The slot holding mh, or the empty slot where it would go. */
static size_t walk_set_find(const struct walk_set *ws, const uint8_t *mh, size_t n)
{
	size_t i = walk_hash(mh, n) & (ws->nslots - 1);
	const uint8_t *ent;

	while (ws->slots[i]) {
		ent = ws->arena.data + ws->slots[i] - 1;
		if (ent[0] == n && !memcmp(ent + 1, mh, n))
			return i;
		i = (i + 1) & (ws->nslots - 1);
	}
	return i;
}

static int walk_set_grow(struct walk_set *ws)
{
	uint32_t *old = ws->slots;
	size_t i, j, nold = ws->nslots;
	const uint8_t *ent;

	ws->slots = calloc(nold * 2, sizeof(*ws->slots));
	if (!ws->slots) {
		ws->slots = old;
		return -ENOMEM;
	}
	ws->nslots = nold * 2;
	for (i = 0; i < nold; i++) {
		if (!old[i])
			continue;
		ent = ws->arena.data + old[i] - 1;
		j = walk_set_find(ws, ent + 1, ent[0]);
		ws->slots[j] = old[i];
	}
	free(old);
	return 0;
}

int walk_set_add(struct walk_set *ws, const struct cid *cid)
{
	const uint8_t *mh = cid_mh(cid);
	uint8_t n = (uint8_t)cid->mh_len;
	size_t i, off;
	int rc;

	if (cid->mh_len > 255)
		return -EINVAL;
	i = walk_set_find(ws, mh, n);
	if (ws->slots[i])
		return 0;
	if (ws->count >= WALK_MAX_BLOCKS)
		return -EFBIG;
	off = ws->arena.len;
	if (off >= UINT32_MAX - 256)
		return -EFBIG;
	rc = dynbuf_append(&ws->arena, &n, 1);
	if (!rc)
		rc = dynbuf_append(&ws->arena, mh, n);
	if (rc)
		return rc;
	ws->slots[i] = (uint32_t)off + 1;
	ws->count++;
	if (ws->count * 2 > ws->nslots)
		return walk_set_grow(ws) ? -ENOMEM : 1;
	return 1;
}

/* ---- opening a pack ---- */

const char *walk_pack_kind_name(int kind)
{
	return kind == WALK_PACK_MANIFEST ? "manifest"
	       : kind == WALK_PACK_DIR	  ? "directory"
					  : "file";
}

void walk_pack_free(struct walk_pack *p)
{
	if (!p)
		return;
	manifest_free(p->m);
	free(p->manifest);
	free(p);
}

/* 1 if the file's first bytes (after a BOM and white space) are '{'. */
static int walk_sniff(struct store *s, const struct cid *root, const struct store_get_opts *o,
		      struct errbuf *e)
{
	uint8_t buf[WALK_SNIFF];
	struct dag_file *f;
	ssize_t n, i = 0;
	int rc;

	rc = dag_file_open(s, root, o, &f, e);
	if (rc)
		return rc;
	n = dag_file_read(f, 0, sizeof(buf), buf, o, e);
	dag_file_free(f);
	if (n < 0)
		return (int)n;
	if (n >= 3 && buf[0] == 0xef && buf[1] == 0xbb && buf[2] == 0xbf)
		i = 3;
	while (i < n && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
		i++;
	return i < n && buf[i] == '{';
}

/* A small file: read it and try the manifest parser. */
static int walk_try_manifest(struct store *s, struct walk_pack *p, const struct store_get_opts *o,
			     struct errbuf *e)
{
	struct errbuf pe;
	int rc = walk_sniff(s, &p->root, o, e);

	if (rc <= 0)
		return rc;
	rc = dag_file_slurp(s, &p->root, MANIFEST_MAX_BYTES, o, &p->manifest, &p->manifest_len, e);
	if (rc)
		return rc;
	rc = manifest_parse((const char *)p->manifest, p->manifest_len, &p->m, &pe);
	if (rc == -ENOMEM)
		return err_set(e, rc, "out of memory");
	if (rc) {
		snprintf(p->not_manifest, sizeof(p->not_manifest), "%s", pe.msg);
		free(p->manifest);
		p->manifest = NULL;
		p->manifest_len = 0;
		return 0;
	}
	p->kind = WALK_PACK_MANIFEST;
	return 0;
}

int walk_pack_open(struct store *s, const struct cid *root, const struct store_get_opts *o,
		   struct walk_pack **out, struct errbuf *e)
{
	struct walk_pack *p;
	struct store_block b;
	struct unode *n;
	int rc;

	*out = NULL;
	rc = store_get(s, root, o, &b, e);
	if (rc)
		return rc;
	rc = unode_parse(root, b.data, b.len, &n, e);
	store_block_release(s, &b);
	if (rc)
		return err_prefix(e, rc, "root %s", cid_str(root));
	p = calloc(1, sizeof(*p));
	if (!p) {
		unode_free(n);
		return err_set(e, -ENOMEM, "out of memory");
	}
	p->root = *root;
	p->kind = n->kind == UNODE_FILE ? WALK_PACK_FILE : WALK_PACK_DIR;
	p->size = n->kind == UNODE_FILE ? n->size : 0;
	if (n->kind == UNODE_SYMLINK)
		rc = err_set(e, -EINVAL, "%s is a symlink, not a pack", cid_str(root));
	else if (n->kind == UNODE_FILE && n->size <= MANIFEST_MAX_BYTES)
		rc = walk_try_manifest(s, p, o, e);
	unode_free(n);
	if (rc) {
		walk_pack_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int walk_pack_open_arg(struct store *s, const char *arg, const struct store_get_opts *o,
		       struct walk_pack **out, struct errbuf *e)
{
	struct cid cid;
	int rc = dag_resolve(s, arg, o, &cid, e);

	return rc ? rc : walk_pack_open(s, &cid, o, out, e);
}

/* ---- the walk ---- */

struct walk {
	struct store *s;
	const struct walk_pack *p;
	const struct walk_opts *o;
	const struct walk_ops *ops;
	void *ctx;
	struct errbuf *e;
	struct walk_set *seen;
	size_t nfiles;
	uint64_t hint; /* size of the current file's root as its referrer says, or UINT64_MAX */
	int window;
	char path[WALK_PATH_MAX + 1];
};

static int walk_stopped(const struct walk *w)
{
	const struct store_get_opts *g = &w->o->get;

	return g->interrupted && g->interrupted(g->ictx) ? err_set(w->e, -EINTR, "interrupted") : 0;
}

/* A block could not be visited: tell ops->fail, or stop. */
static int walk_fail(struct walk *w, struct walk_file *f, const struct cid *cid, int err,
		     const char *why)
{
	if (err == -EINTR || err == -ENOMEM)
		return err_set(w->e, err, "%s: %s", cid_str(cid), why);
	if (f)
		f->failed = true;
	if (!w->ops->fail)
		return err_set(w->e, err, "%s: %s", cid_str(cid), why);
	return w->ops->fail(w->ctx, f, cid, err, why);
}

static int walk_emit(struct walk *w, const struct walk_block *b)
{
	return w->ops->block ? w->ops->block(w->ctx, b) : 0;
}

/* Record cid as seen; *dup says whether it was already. */
static int walk_mark(struct walk *w, const struct cid *cid, bool *dup)
{
	int rc = walk_set_add(w->seen, cid);

	if (rc < 0)
		return err_set(w->e, rc, "%s",
			       rc == -EFBIG ? "pack has too many blocks" : "out of memory");
	*dup = rc == 0;
	return 0;
}

/* Queue a block the walk will fetch soon. */
static void walk_ahead_cid(struct walk *w, const struct cid *c)
{
	if ((w->o->flags & WALK_PROBE) ||
	    (c->codec == CID_CODEC_RAW && !(w->o->flags & WALK_LEAVES)))
		return;
	store_prefetch(w->s, c, FETCH_PRIO_READAHEAD);
}

/* Queue link i of n. */
static void walk_ahead(struct walk *w, const struct unode *n, size_t i)
{
	if (w->window > 0 && i < n->pb.nlinks)
		walk_ahead_cid(w, &n->pb.links[i].cid);
}

/* Before visiting link i of n: queue the links up to i + window (all of them at i = 0). */
static void walk_ahead_links(struct walk *w, const struct unode *n, size_t i)
{
	size_t k;

	if (w->window <= 0)
		return;
	for (k = i ? i + (size_t)w->window : 1; k <= i + (size_t)w->window; k++)
		walk_ahead(w, n, k);
}

/* store_get, then with WALK_VERIFY (first sight only) mh_verify. 0, or -errno with le. */
static int walk_get(struct walk *w, const struct cid *cid, bool dup, struct store_block *sb,
		    struct errbuf *le)
{
	int rc = store_get(w->s, cid, &w->o->get, sb, le);

	if (rc || !(w->o->flags & WALK_VERIFY) || dup)
		return rc;
	rc = mh_verify(cid, sb->data, sb->len, le);
	if (rc && sb->from_cache)
		err_prefix(le, rc, "cached copy is corrupt ('mpack cache scrub' removes it)");
	if (rc)
		store_block_release(w->s, sb);
	return rc;
}

/* Fetch and parse a dag-pb block. On failure reports it (return value of walk_fail). */
static int walk_fetch(struct walk *w, struct walk_file *f, const struct cid *cid, bool dup,
		      struct store_block *sb, struct unode **n, int *failed)
{
	struct errbuf le;
	int rc;

	*failed = 1;
	*n = NULL;
	rc = walk_get(w, cid, dup, sb, &le);
	if (rc)
		return walk_fail(w, f, cid, rc, le.msg);
	rc = unode_parse(cid, sb->data, sb->len, n, &le);
	if (rc) {
		store_block_release(w->s, sb);
		return walk_fail(w, f, cid, rc == -ENOMEM ? rc : -EIO, le.msg);
	}
	*failed = 0;
	return 0;
}

static int walk_fnode(struct walk *w, struct walk_file *f, const struct cid *cid, uint64_t want,
		      int depth);

/* A parsed file node (block still held in sb): check, report, release, children. */
static int walk_pbvisit(struct walk *w, struct walk_file *f, struct walk_block *b,
			struct store_block *sb, struct unode *n, uint64_t want, int depth)
{
	char why[160];
	size_t i;
	int rc;

	if (n->kind != UNODE_FILE || (want != UINT64_MAX && n->size != want)) {
		store_block_release(w->s, sb);
		if (n->kind != UNODE_FILE)
			snprintf(why, sizeof(why), "%s",
				 depth ? "not file data inside a file" : "is not a file");
		else
			snprintf(why, sizeof(why), "file node is %llu bytes, parent says %llu",
				 (unsigned long long)n->size, (unsigned long long)want);
		return walk_fail(w, f, &b->cid, -EIO, why);
	}
	if (depth == 0) {
		f->size = n->size;
		f->size_known = true;
	}
	b->kind = WALK_BK_FILE;
	b->data = sb->data;
	b->len = sb->len;
	b->content = n->data;
	b->content_len = n->data_len;
	b->content_bytes = n->data_len;
	rc = walk_emit(w, b);
	store_block_release(w->s, sb);
	for (i = 0; !rc && i < n->pb.nlinks; i++) {
		walk_ahead_links(w, n, i);
		rc = walk_fnode(w, f, &n->pb.links[i].cid, n->offsets[i + 1] - n->offsets[i],
				depth + 1);
	}
	return rc;
}

/* A raw leaf: reported without fetching unless WALK_LEAVES (or its size is unknown). */
static int walk_raw(struct walk *w, struct walk_file *f, struct walk_block *b, uint64_t want)
{
	uint64_t size = want != UINT64_MAX ? want : w->hint;
	struct store_block sb;
	struct errbuf le;
	char why[120];
	int rc;

	b->kind = WALK_BK_LEAF;
	if (want != UINT64_MAX && want > BLOCK_MAX)
		return walk_fail(w, f, &b->cid, -EIO, "raw leaf larger than a block");
	if (size != UINT64_MAX && !(w->o->flags & WALK_LEAVES) &&
	    (want != UINT64_MAX || !b->was_local || (w->o->flags & WALK_PROBE))) {
		if (!f->size_known && want == UINT64_MAX) {
			f->size = size; /* the referrer's word: the block was not read */
			f->size_known = true;
		}
		b->len = size <= BLOCK_MAX ? (size_t)size : 0;
		b->content_bytes = size;
		return walk_emit(w, b);
	}
	rc = walk_get(w, &b->cid, b->dup, &sb, &le);
	if (rc)
		return walk_fail(w, f, &b->cid, rc, le.msg);
	if (want != UINT64_MAX && sb.len != want) {
		store_block_release(w->s, &sb);
		snprintf(why, sizeof(why), "raw leaf is %zu bytes, parent says %llu", sb.len,
			 (unsigned long long)want);
		return walk_fail(w, f, &b->cid, -EIO, why);
	}
	if (want == UINT64_MAX) {
		f->size = sb.len;
		f->size_known = true;
	}
	b->data = b->content = sb.data;
	b->len = b->content_len = sb.len;
	b->content_bytes = sb.len;
	rc = walk_emit(w, b);
	store_block_release(w->s, &sb);
	return rc;
}

/* One block of a file DAG; want is the file bytes under it (UINT64_MAX for a root). */
static int walk_fnode(struct walk *w, struct walk_file *f, const struct cid *cid, uint64_t want,
		      int depth)
{
	struct walk_block b = {.cid = *cid, .file = f, .path = f->path};
	struct store_block sb;
	struct unode *n;
	int rc, failed;

	if ((rc = walk_stopped(w)) || (rc = walk_mark(w, cid, &b.dup)))
		return rc;
	if (b.dup && (w->o->flags & WALK_DISTINCT))
		return 0;
	if (depth > DAG_MAX_DEPTH)
		return walk_fail(w, f, cid, -EIO, "file DAG too deep");
	b.was_local = store_has_local(w->s, cid) == 1;
	if (cid->codec == CID_CODEC_RAW)
		return walk_raw(w, f, &b, want);
	if (cid->codec != CID_CODEC_DAG_PB)
		return walk_fail(w, f, cid, -EIO, "neither raw nor dag-pb: not UnixFS");
	if ((w->o->flags & WALK_PROBE) && !b.was_local && want <= BLOCK_MAX) {
		b.kind = WALK_BK_PROBED;
		b.content_bytes = want;
		return walk_emit(w, &b);
	}
	rc = walk_fetch(w, f, cid, b.dup, &sb, &n, &failed);
	if (failed)
		return rc;
	rc = walk_pbvisit(w, f, &b, &sb, n, want, depth);
	unode_free(n);
	return rc;
}

/* ---- selection ---- */

/* Is the file or directory at path selected by o->only (hits recorded in hit, if not NULL)?
 * Directories on the way to a selection are. */
static bool walk_selected(const struct walk_opts *o, bool *hit, const char *path, bool is_dir)
{
	size_t i, n = strlen(path), sn;
	bool want = false;

	if (!o->only || (is_dir && n == 0))
		return true;
	for (i = 0; i < o->nonly; i++) {
		const char *sel = o->only[i];

		sn = strlen(sel);
		if ((sn == n && !memcmp(sel, path, n)) ||
		    (n > sn && !memcmp(sel, path, sn) && path[sn] == '/')) {
			if (hit)
				hit[i] = true;
			want = true;
		} else if (is_dir && sn > n && !memcmp(sel, path, n) && sel[n] == '/') {
			want = true;
		}
	}
	return want;
}

static bool walk_want(struct walk *w, const char *path, bool is_dir)
{
	return walk_selected(w->o, w->o->only_hit, path, is_dir);
}

/* ---- files ---- */

static int walk_file_root(struct walk *w, const struct cid *cid, int role,
			  const struct mf_entry *en, uint64_t hint)
{
	struct walk_file f = {.path = w->path, .cid = *cid, .role = role, .entry = en};
	int rc;

	f.index = w->nfiles++;
	w->hint = hint;
	rc = w->ops->file ? w->ops->file(w->ctx, &f, false) : 0;
	if (!rc)
		rc = walk_fnode(w, &f, cid, UINT64_MAX, 0);
	if (!rc && w->ops->file)
		rc = w->ops->file(w->ctx, &f, true);
	return rc;
}

/* A dag-pb file found in a directory (already fetched). */
static int walk_tree_file(struct walk *w, struct walk_block *b, struct store_block *sb,
			  struct unode *n)
{
	struct walk_file f = {.path = w->path, .cid = b->cid, .role = WALK_ROLE_TREE};
	int rc;

	f.index = w->nfiles++;
	b->file = &f;
	rc = w->ops->file ? w->ops->file(w->ctx, &f, false) : 0;
	if (rc) {
		store_block_release(w->s, sb);
		return rc;
	}
	rc = walk_pbvisit(w, &f, b, sb, n, UINT64_MAX, 0);
	if (!rc && w->ops->file)
		rc = w->ops->file(w->ctx, &f, true);
	return rc;
}

/* ---- directories ---- */

static int walk_entry(struct walk *w, const struct cid *cid, uint64_t tsize, int depth);

/* Append "/name" (or "name" at the top) to w->path; returns the old length or -1. */
static int walk_path_push(struct walk *w, const uint8_t *name, size_t len)
{
	size_t old = strlen(w->path), sep = old ? 1 : 0;

	if (old + sep + len > WALK_PATH_MAX)
		return -1;
	if (sep)
		w->path[old] = '/';
	memcpy(w->path + old + sep, name, len);
	w->path[old + sep + len] = '\0';
	return (int)old;
}

static bool walk_name_ok(const uint8_t *name, size_t len)
{
	if (len == 0 || len > 255 || memchr(name, '/', len) || memchr(name, '\0', len))
		return false;
	return !((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'));
}

/* One named entry of a directory. */
static int walk_named(struct walk *w, const struct unode *dir, const struct pb_link *l,
		      const uint8_t *name, size_t len, int depth)
{
	int old, rc;

	if (!walk_name_ok(name, len)) {
		log_warn("walk: %s: skipping entry with an unusable name", cid_str(&dir->cid));
		return 0;
	}
	old = walk_path_push(w, name, len);
	if (old < 0)
		return walk_fail(w, NULL, &l->cid, -ENAMETOOLONG, "path too long");
	rc = walk_entry(w, &l->cid, l->has_tsize ? l->tsize : UINT64_MAX, depth + 1);
	w->path[old] = '\0';
	return rc;
}

static size_t walk_hamt_prefix(uint64_t fanout)
{
	size_t n = 0;
	uint64_t v = fanout - 1;

	do {
		n++;
		v >>= 4;
	} while (v);
	return n;
}

static int walk_dir_links(struct walk *w, const struct unode *n, int depth);

/* A HAMT child shard: same directory, same path. */
static int walk_shard(struct walk *w, const struct unode *parent, const struct cid *cid, int depth)
{
	struct walk_block b = {.cid = *cid, .kind = WALK_BK_HAMT, .path = w->path};
	struct store_block sb;
	struct unode *n;
	int rc, failed;

	if ((rc = walk_stopped(w)) || (rc = walk_mark(w, cid, &b.dup)))
		return rc;
	if (b.dup && (w->o->flags & WALK_DISTINCT))
		return 0;
	b.was_local = store_has_local(w->s, cid) == 1;
	rc = walk_fetch(w, NULL, cid, b.dup, &sb, &n, &failed);
	if (failed)
		return rc;
	b.data = sb.data;
	b.len = sb.len;
	if (n->kind != UNODE_HAMT || n->fanout != parent->fanout) {
		store_block_release(w->s, &sb);
		unode_free(n);
		return walk_fail(w, NULL, cid, -EIO,
				 "HAMT child is not a shard of the same fanout");
	}
	rc = walk_emit(w, &b);
	store_block_release(w->s, &sb);
	if (!rc)
		rc = walk_dir_links(w, n, depth);
	unode_free(n);
	return rc;
}

static int walk_dir_links(struct walk *w, const struct unode *n, int depth)
{
	size_t i, plen = n->kind == UNODE_HAMT ? walk_hamt_prefix(n->fanout) : 0;
	const struct pb_link *l;
	int rc = 0;

	for (i = 0; !rc && i < n->pb.nlinks; i++) {
		if (!w->o->only) /* a selection may skip most entries: fetch only those */
			walk_ahead_links(w, n, i);
		l = &n->pb.links[i];
		if (!l->has_name || l->name_len < plen) {
			log_warn("walk: %s: link %zu has no usable name", cid_str(&n->cid), i);
			continue;
		}
		if (plen && l->name_len == plen)
			rc = walk_shard(w, n, &l->cid, depth);
		else
			rc = walk_named(w, n, l, l->name + plen, l->name_len - plen, depth);
	}
	return rc;
}

/* The entry at w->path: a file, a directory or a symlink. */
static int walk_entry(struct walk *w, const struct cid *cid, uint64_t tsize, int depth)
{
	struct walk_block b = {.cid = *cid, .path = w->path};
	struct store_block sb;
	struct unode *n;
	int rc, failed;

	if (cid->codec == CID_CODEC_RAW)
		return walk_want(w, w->path, false)
			   ? walk_file_root(w, cid, WALK_ROLE_TREE, NULL, tsize)
			   : 0;
	if (depth > WALK_DIR_DEPTH)
		return walk_fail(w, NULL, cid, -ELOOP, "directories nested too deep");
	if (!walk_want(w, w->path, true))
		return 0;
	if ((rc = walk_stopped(w)) || (rc = walk_mark(w, cid, &b.dup)))
		return rc;
	if (b.dup && (w->o->flags & WALK_DISTINCT))
		return 0;
	b.was_local = store_has_local(w->s, cid) == 1;
	rc = walk_fetch(w, NULL, cid, b.dup, &sb, &n, &failed);
	if (failed)
		return rc;
	if (n->kind == UNODE_FILE) {
		rc = walk_want(w, w->path, false) ? walk_tree_file(w, &b, &sb, n)
						  : (store_block_release(w->s, &sb), 0);
		unode_free(n);
		return rc;
	}
	b.kind = n->kind == UNODE_DIR	 ? WALK_BK_DIR
		 : n->kind == UNODE_HAMT ? WALK_BK_HAMT
					 : WALK_BK_SYMLINK;
	b.data = sb.data;
	b.len = sb.len;
	rc = walk_emit(w, &b);
	store_block_release(w->s, &sb);
	if (!rc && b.kind != WALK_BK_SYMLINK)
		rc = walk_dir_links(w, n, depth);
	unode_free(n);
	return rc;
}

/* ---- the pack ---- */

/* Before visiting manifest entry i: queue the selected entries up to i + window. */
static void walk_ahead_entries(struct walk *w, size_t i)
{
	const struct manifest *m = w->p->m;
	size_t k;

	if (w->window <= 0)
		return;
	for (k = i ? i + (size_t)w->window : 0; k <= i + (size_t)w->window; k++)
		if (k < m->nentries &&
		    (!w->o->only || walk_selected(w->o, NULL, m->entries[k].filename, false)))
			walk_ahead_cid(w, &m->entries[k].cid);
}

static int walk_manifest(struct walk *w)
{
	const struct manifest *m = w->p->m;
	size_t i;
	int rc;

	snprintf(w->path, sizeof(w->path), "%s", WALK_MANIFEST_AS);
	rc = walk_file_root(w, &w->p->root, WALK_ROLE_MANIFEST, NULL, w->p->manifest_len);
	for (i = 0; !rc && i < m->nentries; i++) {
		const struct mf_entry *en = &m->entries[i];

		walk_ahead_entries(w, i);
		if (!walk_want(w, en->filename, false))
			continue;
		snprintf(w->path, sizeof(w->path), "%s", en->filename);
		rc = walk_file_root(w, &en->cid, WALK_ROLE_ENTRY, en,
				    en->has_size ? en->size : UINT64_MAX);
	}
	return rc;
}

int walk_run(struct store *s, const struct walk_pack *p, const struct walk_opts *o,
	     const struct walk_ops *ops, void *ctx, struct errbuf *e)
{
	static const struct walk_ops none;
	struct errbuf le;
	struct walk *w;
	int rc;

	w = calloc(1, sizeof(*w));
	if (!w || !(w->seen = walk_set_new())) {
		free(w);
		return err_set(e, -ENOMEM, "out of memory");
	}
	*w = (struct walk){.s = s,
			   .p = p,
			   .o = o,
			   .ops = ops ? ops : &none,
			   .ctx = ctx,
			   .e = e ? e : &le,
			   .seen = w->seen};
	w->window = o->window == 0 ? WALK_WINDOW : o->window;
	if (p->kind == WALK_PACK_MANIFEST)
		rc = walk_manifest(w);
	else if (p->kind == WALK_PACK_DIR)
		rc = walk_entry(w, &p->root, UINT64_MAX, 0);
	else
		rc = walk_file_root(w, &p->root, WALK_ROLE_SINGLE, NULL, p->size);
	walk_set_free(w->seen);
	free(w);
	return rc;
}
