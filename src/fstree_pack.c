/* fstree_pack: loading packs (manifests, UnixFS directories, single files) into the tree. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fstree_int.h"
#include "log.h"
#include "unixfs.h"

#define FST_PATH_MAX 8192

/* Path of n inside its pack, e.g. "bafy…/a/b" (lock held). */
static void node_path_locked(struct fstree *t, const struct fsn *n, char *buf, size_t cap)
{
	const struct fsn *chain[DAG_MAX_DEPTH * 8];
	size_t depth = 0, off = 0;

	while (n && n->ino != FSTREE_INO_ROOT && depth < sizeof(chain) / sizeof(chain[0])) {
		chain[depth++] = n;
		n = fst_find_locked(t, n->parent);
	}
	buf[0] = '\0';
	while (depth-- > 0 && off < cap) {
		int w = snprintf(buf + off, cap - off, "%s%s", off ? "/" : "", chain[depth]->name);

		if (w < 0)
			break;
		off += (size_t)w;
	}
}

static struct fsn *child_locked(struct fstree *t, struct fsn *dir, int kind, const char *name)
{
	char path[FST_PATH_MAX];
	size_t n;

	node_path_locked(t, dir, path, sizeof(path));
	n = strlen(path);
	snprintf(path + n, sizeof(path) - n, "/%s", name);
	return fst_add_child_locked(t, dir, kind, name, path);
}

/* Directory node for a/b/ inside a manifest pack, created on demand (lock held). */
static struct fsn *mkdirs_locked(struct fstree *t, struct fsn *top, char *path, char **leaf)
{
	struct fsn *d = top, *k;
	char *slash;

	while ((slash = strchr(path, '/'))) {
		*slash = '\0';
		k = fst_kid_find_locked(t, d, path);
		if (!k) {
			k = child_locked(t, d, FSN_DIR, path);
			if (!k)
				return NULL;
			k->kids_loaded = true;
		}
		if (k->kind != FSN_DIR)
			return NULL; /* the manifest module rejects file/dir clashes */
		d = k;
		path = slash + 1;
	}
	*leaf = path;
	return d;
}

static struct fsn *mem_file_locked(struct fstree *t, struct fsn *dir, const char *name,
				   const void *data, size_t len)
{
	struct fsn *n = child_locked(t, dir, FSN_MEM, name);

	if (!n)
		return NULL;
	n->mem = malloc(len ? len : 1);
	if (!n->mem)
		return NULL;
	memcpy(n->mem, data, len);
	n->size = len;
	return n;
}

static int build_manifest_tree_locked(struct fstree *t, struct fsn *top, const uint8_t *raw,
				      size_t rawlen)
{
	const struct manifest *m = top->pack->m;
	struct fsn *d, *f;
	char *path, *leaf;
	size_t i;

	for (i = 0; i < m->nentries; i++) {
		const struct mf_entry *en = &m->entries[i];

		path = strdup(en->filename);
		if (!path)
			return -ENOMEM;
		d = mkdirs_locked(t, top, path, &leaf);
		f = d ? child_locked(t, d, FSN_FILE, leaf) : NULL;
		free(path);
		if (!f)
			return -ENOMEM;
		f->cid = en->cid;
		f->size = en->size;
		f->size_known = en->has_size;
		memcpy(f->sha256, en->sha256, 32);
		f->has_sha256 = en->has_sha256;
	}
	if (!mem_file_locked(t, top, "MODEL_PACK.json", raw, rawlen))
		return -ENOMEM;
	if (m->config_json && !fst_kid_find_locked(t, top, "config.json")) {
		size_t n = strlen(m->config_json);
		char *txt = malloc(n + 2);

		if (!txt)
			return -ENOMEM;
		memcpy(txt, m->config_json, n);
		txt[n] = '\n';
		f = mem_file_locked(t, top, "config.json", txt, n + 1);
		free(txt);
		if (!f)
			return -ENOMEM;
	}
	return 0;
}

static int get_node(struct fstree *t, const struct cid *cid, const struct store_get_opts *o,
		    struct unode **out, struct errbuf *e)
{
	struct store_block b;
	int rc;

	rc = store_get(t->cfg.store, cid, o, &b, e);
	if (rc < 0)
		return rc;
	rc = unode_parse(cid, b.data, b.len, out, e);
	store_block_release(t->cfg.store, &b);
	if (rc < 0)
		return err_prefix(e, -EIO, "%s", cid_str(cid));
	return 0;
}

/* A new, unlinked pack node (and pack) for root; classifies its root block. */
static int pack_prepare(struct fstree *t, const char *name, const struct cid *root,
			const struct store_get_opts *o, struct fs_pack **pp, struct fsn **np,
			uint8_t **raw, size_t *rawlen, struct errbuf *e)
{
	struct unode *u = NULL;
	struct fs_pack *p;
	struct fsn *n;
	int rc, kind;

	rc = get_node(t, root, o, &u, e);
	if (rc < 0)
		return rc;
	*raw = NULL;
	kind = u->kind == UNODE_FILE ? FSN_FILE : FSN_UFS_DIR;
	if (u->kind == UNODE_SYMLINK) {
		unode_free(u);
		return err_set(e, -ENOENT, "%s is a symlink, not a pack", name);
	}
	p = calloc(1, sizeof(*p));
	n = p ? fst_node_new(kind, name, FSTREE_INO_ROOT, p) : NULL;
	if (!n) {
		free(p);
		unode_free(u);
		return err_set(e, -ENOMEM, "out of memory");
	}
	p->root = *root;
	p->mtime = u->has_mtime ? u->mtime : t->mount_time;
	n->mtime = p->mtime;
	n->cid = *root;
	if (kind == FSN_FILE) {
		n->size = u->size;
		n->size_known = true;
		if (u->size <= MANIFEST_MAX_BYTES &&
		    dag_file_slurp(t->cfg.store, root, MANIFEST_MAX_BYTES, o, raw, rawlen, e) ==
			0 &&
		    manifest_parse((const char *)*raw, *rawlen, &p->m, NULL) == 0) {
			n->kind = FSN_DIR;
			n->kids_loaded = true;
			p->mtime = n->mtime = fst_manifest_mtime(p->m, p->mtime);
			if (p->m->name)
				p->label = strdup(p->m->name);
		}
	}
	unode_free(u);
	*pp = p;
	*np = n;
	return 0;
}

static int load_pack(struct fstree *t, struct fsn *root, const char *name,
		     const struct store_get_opts *o, struct fsn **out, struct errbuf *e)
{
	struct fs_pack *p = NULL;
	struct fsn *n = NULL, *old;
	uint8_t *raw = NULL;
	size_t rawlen = 0;
	struct cid cid;
	int rc;

	if (cid_parse(name, strlen(name), &cid, NULL) < 0)
		return err_set(e, -ENOENT, "not a CID");
	rc = pack_prepare(t, name, &cid, o, &p, &n, &raw, &rawlen, e);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&t->lock);
	old = fst_kid_find_locked(t, root, name);
	if (old) {
		pthread_mutex_unlock(&t->lock);
		manifest_free(p->m);
		free(p->label);
		free(p);
		fst_node_free(n);
		free(raw);
		*out = old;
		return 0;
	}
	p->next = t->packs;
	t->packs = p;
	rc = fst_kid_add(root, 0);
	if (rc == 0) {
		fst_insert_locked(t, n, fst_ino_for(&cid, name));
		root->kids[root->nkids - 1] = n->ino;
		p->ino = n->ino;
		if (p->m)
			rc = build_manifest_tree_locked(t, n, raw, rawlen);
	} else {
		fst_node_free(n);
	}
	pthread_mutex_unlock(&t->lock);
	free(raw);
	if (rc < 0)
		return err_set(e, rc, "loading pack %s: out of memory", name);
	if (store_cache(t->cfg.store))
		cache_pack_note(store_cache(t->cfg.store), &cid, p->label);
	log_info("pack %s loaded (%s)", name,
		 p->m		       ? "ModelPack manifest"
		 : n->kind == FSN_FILE ? "UnixFS file"
				       : "UnixFS directory");
	*out = n;
	return 0;
}

/* True if a symlink target stays inside the pack from a link at depth. */
static bool link_target_ok(const char *target, int depth)
{
	const char *p = target, *q;
	size_t len;

	if (!*target || *target == '/')
		return false;
	while (*p) {
		q = strchrnul(p, '/');
		len = (size_t)(q - p);
		if (len == 2 && !memcmp(p, "..", 2))
			depth--;
		else if (len && !(len == 1 && *p == '.'))
			depth++;
		if (depth < 0)
			return false;
		p = *q ? q + 1 : q;
	}
	return true;
}

struct ufs_ent {
	char *name;
	struct cid cid;
	uint64_t tsize;
	int kind;
	uint64_t size;
	char *link;
	int64_t mtime;
};

struct ufs_list {
	struct ufs_ent *v;
	size_t n, cap;
};

static int collect_ent(void *ctx, const char *name, const struct cid *cid, uint64_t tsize)
{
	struct ufs_list *l = ctx;
	struct ufs_ent *v;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;

		v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	l->v[l->n].name = strdup(name);
	if (!l->v[l->n].name)
		return -ENOMEM;
	l->v[l->n].cid = *cid;
	l->v[l->n].tsize = tsize;
	l->n++;
	return 0;
}

static void ufs_list_free(struct ufs_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].link);
	}
	free(l->v);
}

/* Kind, size and target of one entry. Raw leaves need no fetch: their size is the Tsize. */
static int classify_ent(struct fstree *t, struct ufs_ent *en, const struct store_get_opts *o,
			struct errbuf *e)
{
	struct unode *u;
	int rc;

	if (en->cid.codec == CID_CODEC_RAW) {
		en->kind = FSN_FILE;
		en->size = en->tsize;
		return 0;
	}
	rc = get_node(t, &en->cid, o, &u, e);
	if (rc < 0)
		return rc;
	if (u->kind == UNODE_FILE) {
		en->kind = FSN_FILE;
		en->size = u->size;
	} else if (u->kind == UNODE_SYMLINK) {
		en->kind = FSN_SYMLINK;
		en->link = strndup((const char *)u->data, u->data_len);
		if (!en->link || memchr(u->data, '\0', u->data_len))
			en->kind = -1;
	} else {
		en->kind = FSN_UFS_DIR;
	}
	en->mtime = u->has_mtime ? u->mtime : 0;
	unode_free(u);
	return 0;
}

static int depth_locked(struct fstree *t, const struct fsn *n)
{
	int d = 0;

	while (n && n->parent != FSTREE_INO_ROOT) {
		d++;
		n = fst_find_locked(t, n->parent);
	}
	return d;
}

static int load_ufs_dir(struct fstree *t, struct fsn *dir, const struct store_get_opts *o,
			struct errbuf *e)
{
	struct ufs_list l = {0};
	struct fsn *k;
	size_t i;
	int rc, depth;

	rc = dag_dir_list(t->cfg.store, &dir->cid, o, collect_ent, &l, e);
	for (i = 0; rc >= 0 && i < l.n; i++)
		if (l.v[i].cid.codec != CID_CODEC_RAW)
			store_prefetch(t->cfg.store, &l.v[i].cid, FETCH_PRIO_DEMAND);
	for (i = 0; rc >= 0 && i < l.n; i++)
		rc = classify_ent(t, &l.v[i], o, e);
	if (rc < 0) {
		ufs_list_free(&l);
		return rc;
	}
	pthread_mutex_lock(&t->lock);
	depth = depth_locked(t, dir);
	for (i = 0; !dir->kids_loaded && i < l.n; i++) {
		struct ufs_ent *en = &l.v[i];

		if (en->kind < 0 || (en->kind == FSN_SYMLINK && !link_target_ok(en->link, depth))) {
			log_warn("pack %s: skipping symlink %s: target leaves the pack",
				 cid_str(&dir->pack->root), en->name);
			continue;
		}
		k = child_locked(t, dir, en->kind, en->name);
		if (!k) {
			rc = -ENOMEM;
			break;
		}
		k->cid = en->cid;
		k->size = en->size;
		k->size_known = en->kind == FSN_FILE;
		k->link = en->link;
		en->link = NULL;
		if (en->mtime)
			k->mtime = en->mtime;
	}
	if (rc == 0)
		dir->kids_loaded = true;
	pthread_mutex_unlock(&t->lock);
	ufs_list_free(&l);
	return rc < 0 ? err_set(e, rc, "out of memory") : 0;
}

int fstree_children(struct fstree *t, struct fsn *dir, const struct store_get_opts *in,
		    uint64_t **kids, size_t *n, struct errbuf *e)
{
	struct store_get_opts o;
	int rc;

	if (dir->kind != FSN_DIR && dir->kind != FSN_UFS_DIR)
		return err_set(e, -ENOTDIR, "not a directory");
	fst_opts_with_deadline(t, in, &o);
	pthread_mutex_lock(&t->lock);
	rc = dir->kids_loaded;
	pthread_mutex_unlock(&t->lock);
	if (!rc) {
		rc = load_ufs_dir(t, dir, &o, e);
		if (rc < 0)
			return rc;
	}
	pthread_mutex_lock(&t->lock);
	*n = dir->nkids;
	*kids = malloc((dir->nkids ? dir->nkids : 1) * sizeof(**kids));
	if (*kids)
		memcpy(*kids, dir->kids, dir->nkids * sizeof(**kids));
	pthread_mutex_unlock(&t->lock);
	return *kids ? 0 : err_set(e, -ENOMEM, "out of memory");
}

int fstree_lookup(struct fstree *t, uint64_t parent, const char *name,
		  const struct store_get_opts *in, struct fsn **out, struct errbuf *e)
{
	struct store_get_opts o;
	struct fsn *dir, *k;
	uint64_t *kids;
	size_t n;
	int rc;

	dir = fstree_get(t, parent);
	if (!dir)
		return err_set(e, -ENOENT, "stale inode %llu", (unsigned long long)parent);
	fst_opts_with_deadline(t, in, &o);
	if (parent != FSTREE_INO_ROOT) {
		rc = fstree_children(t, dir, &o, &kids, &n, e);
		if (rc < 0)
			return rc;
		free(kids);
	}
	pthread_mutex_lock(&t->lock);
	k = fst_kid_find_locked(t, dir, name);
	pthread_mutex_unlock(&t->lock);
	if (k) {
		*out = k;
		return 0;
	}
	if (parent != FSTREE_INO_ROOT)
		return err_set(e, -ENOENT, "no such entry");
	return load_pack(t, dir, name, &o, out, e);
}

int fstree_lookup_loaded(struct fstree *t, uint64_t parent, const char *name, struct fsn **out)
{
	struct fsn *dir, *k = NULL;

	pthread_mutex_lock(&t->lock);
	dir = fst_find_locked(t, parent);
	if (dir)
		k = fst_kid_find_locked(t, dir, name);
	pthread_mutex_unlock(&t->lock);
	*out = k;
	return k ? 0 : -ENOENT;
}
