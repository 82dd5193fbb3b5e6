/* fstree: the mpackfs namespace — nodes, inode numbers and pack loading. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "multihash.h"
#include "unixfs.h"
#include "version.h"
#include "fstree_int.h"

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Stable inode number of (pack, path); callers resolve collisions by probing. */
uint64_t fst_ino_for(const struct cid *pack, const char *path)
{
	uint64_t h = 0xcbf29ce484222325ull;

	if (pack)
		h = fnv1a(h, cid_mh(pack), pack->mh_len);
	h = fnv1a(h, "\0", 1);
	h = fnv1a(h, path, strlen(path));
	h ^= h >> 33;
	h &= 0x7fffffffffffffffull;
	return h < FSTREE_INO_FIRST ? h + FSTREE_INO_FIRST : h;
}

uint64_t fstree_pack_ino(const struct cid *root, const char *name)
{
	return fst_ino_for(root, name);
}

struct fsn *fst_find_locked(struct fstree *t, uint64_t ino)
{
	struct fsn *n;

	for (n = t->buckets[ino % FSTREE_HASH_BUCKETS]; n; n = n->hnext)
		if (n->ino == ino)
			return n;
	return NULL;
}

struct fsn *fstree_get(struct fstree *t, uint64_t ino)
{
	struct fsn *n;

	pthread_mutex_lock(&t->lock);
	n = fst_find_locked(t, ino);
	pthread_mutex_unlock(&t->lock);
	return n;
}

void fst_node_free(struct fsn *n)
{
	if (!n)
		return;
	free(n->name);
	free(n->mem);
	free(n->link);
	free(n->kids);
	dag_file_free(n->df);
	free(n);
}

struct fsn *fst_node_new(int kind, const char *name, uint64_t parent, struct fs_pack *p)
{
	struct fsn *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->name = strdup(name);
	if (!n->name) {
		free(n);
		return NULL;
	}
	n->kind = kind;
	n->parent = parent;
	n->pack = p;
	n->mtime = p ? p->mtime : 0;
	return n;
}

/* Insert with a free inode number near `want`; the tree lock is held. */
void fst_insert_locked(struct fstree *t, struct fsn *n, uint64_t want)
{
	while (fst_find_locked(t, want))
		want = want + 1 < FSTREE_INO_FIRST ? FSTREE_INO_FIRST : want + 1;
	n->ino = want;
	n->hnext = t->buckets[want % FSTREE_HASH_BUCKETS];
	t->buckets[want % FSTREE_HASH_BUCKETS] = n;
	t->nnodes++;
}

int fst_kid_add(struct fsn *dir, uint64_t ino)
{
	uint64_t *k;

	if (dir->nkids == dir->kids_cap) {
		size_t cap = dir->kids_cap ? dir->kids_cap * 2 : 8;

		k = realloc(dir->kids, cap * sizeof(*k));
		if (!k)
			return -ENOMEM;
		dir->kids = k;
		dir->kids_cap = cap;
	}
	dir->kids[dir->nkids++] = ino;
	return 0;
}

struct fsn *fst_kid_find_locked(struct fstree *t, struct fsn *dir, const char *name)
{
	size_t i;
	struct fsn *k;

	for (i = 0; i < dir->nkids; i++) {
		k = fst_find_locked(t, dir->kids[i]);
		if (k && !strcmp(k->name, name))
			return k;
	}
	return NULL;
}

/* Add a child to dir (lock held). path is the node's path inside its pack. */
struct fsn *fst_add_child_locked(struct fstree *t, struct fsn *dir, int kind, const char *name,
				 const char *path)
{
	struct fsn *n = fst_node_new(kind, name, dir->ino, dir->pack);

	if (!n)
		return NULL;
	if (fst_kid_add(dir, 0) < 0) {
		fst_node_free(n);
		return NULL;
	}
	fst_insert_locked(t, n, fst_ino_for(dir->pack ? &dir->pack->root : NULL, path));
	dir->kids[dir->nkids - 1] = n->ino;
	return n;
}

static int64_t parse_rfc3339(const char *s)
{
	struct tm tm;
	char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return 0;
	return (int64_t)timegm(&tm);
}

/* mtime of a manifest pack: provenance.created when present. */
int64_t fst_manifest_mtime(const struct manifest *m, int64_t fallback)
{
	const char *p, *q;
	char buf[64];
	int64_t t;

	if (!m->provenance_json)
		return fallback;
	p = strstr(m->provenance_json, "\"created\":\"");
	if (!p)
		return fallback;
	p += strlen("\"created\":\"");
	q = strchr(p, '"');
	if (!q || (size_t)(q - p) >= sizeof(buf))
		return fallback;
	memcpy(buf, p, q - p);
	buf[q - p] = '\0';
	t = parse_rfc3339(buf);
	return t > 0 ? t : fallback;
}

int fstree_new(const struct fstree_cfg *cfg, struct fstree **out, struct errbuf *e)
{
	struct fstree *t = calloc(1, sizeof(*t));
	struct fsn *root, *ctl, *st, *ver, *al;
	char vbuf[64];
	size_t i;
	struct cid c;

	if (!t)
		return err_set(e, -ENOMEM, "fstree: out of memory");
	pthread_mutex_init(&t->lock, NULL);
	t->cfg = *cfg;
	t->mount_time = time(NULL);
	root = fst_node_new(FSN_DIR, "", FSTREE_INO_ROOT, NULL);
	ctl = fst_node_new(FSN_DIR, FSTREE_CTL_NAME, FSTREE_INO_ROOT, NULL);
	st = fst_node_new(FSN_STATS, "stats", FSTREE_INO_CTL, NULL);
	ver = fst_node_new(FSN_MEM, "version", FSTREE_INO_CTL, NULL);
	if (!root || !ctl || !st || !ver)
		goto nomem;
	fst_insert_locked(t, root, FSTREE_INO_ROOT);
	fst_insert_locked(t, ctl, FSTREE_INO_CTL);
	fst_insert_locked(t, st, FSTREE_INO_STATS);
	fst_insert_locked(t, ver, FSTREE_INO_VERSION);
	root->mtime = ctl->mtime = st->mtime = ver->mtime = t->mount_time;
	snprintf(vbuf, sizeof(vbuf), "mpackfs %s\n", MPACK_VERSION);
	ver->mem = (uint8_t *)strdup(vbuf);
	ver->size = strlen(vbuf);
	if (!ver->mem || fst_kid_add(root, FSTREE_INO_CTL) || fst_kid_add(ctl, FSTREE_INO_STATS) ||
	    fst_kid_add(ctl, FSTREE_INO_VERSION))
		goto nomem_tree;
	root->kids_loaded = ctl->kids_loaded = true;
	for (i = 0; i < cfg->naliases; i++) {
		if (cid_parse(cfg->alias_cids[i], strlen(cfg->alias_cids[i]), &c, e) < 0) {
			fstree_free(t);
			return err_prefix(e, -EINVAL, "alias %s", cfg->alias_names[i]);
		}
		al = fst_add_child_locked(t, root, FSN_SYMLINK, cfg->alias_names[i],
					  cfg->alias_names[i]);
		if (!al || !(al->link = strdup(cfg->alias_cids[i])))
			goto nomem_tree;
		al->mtime = t->mount_time;
	}
	*out = t;
	return 0;
nomem:
	fst_node_free(root);
	fst_node_free(ctl);
	fst_node_free(st);
	fst_node_free(ver);
nomem_tree:
	fstree_free(t);
	return err_set(e, -ENOMEM, "fstree: out of memory");
}

void fstree_free(struct fstree *t)
{
	struct fsn *n, *next;
	struct fs_pack *p, *pn;
	size_t i;

	if (!t)
		return;
	for (i = 0; i < FSTREE_HASH_BUCKETS; i++)
		for (n = t->buckets[i]; n; n = next) {
			next = n->hnext;
			fst_node_free(n);
		}
	for (p = t->packs; p; p = pn) {
		pn = p->next;
		manifest_free(p->m);
		free(p->label);
		free(p);
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

struct store *fstree_store(struct fstree *t)
{
	return t->cfg.store;
}

struct fstree_pt *fstree_pt(struct fstree *t)
{
	return &t->pt;
}

void fst_opts_with_deadline(const struct fstree *t, const struct store_get_opts *in,
			    struct store_get_opts *out)
{
	*out = *in;
	if (!out->deadline_ms)
		out->deadline_ms = t->cfg.timeout_ms;
}

/* Size of a file node whose manifest entry had no size: from its root block. */
static int ensure_size(struct fstree *t, struct fsn *n, const struct store_get_opts *o,
		       struct errbuf *e)
{
	struct dag_file *df;
	int rc;

	pthread_mutex_lock(&t->lock);
	rc = n->size_known;
	pthread_mutex_unlock(&t->lock);
	if (rc)
		return 0;
	rc = fstree_open_file(t, n, o, &df, e);
	return rc < 0 ? rc : 0;
}

int fstree_stat(struct fstree *t, struct fsn *n, const struct store_get_opts *in, struct stat *st,
		struct errbuf *e)
{
	struct store_get_opts o;
	int rc;

	fst_opts_with_deadline(t, in, &o);
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_uid = t->cfg.uid;
	st->st_gid = t->cfg.gid;
	st->st_mtime = st->st_ctime = st->st_atime = n->mtime ? n->mtime : t->mount_time;
	st->st_blksize = 1 << 20;
	switch (n->kind) {
	case FSN_DIR:
	case FSN_UFS_DIR:
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		st->st_size = 4096;
		break;
	case FSN_SYMLINK:
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		st->st_size = (off_t)strlen(n->link);
		break;
	case FSN_FILE:
		rc = ensure_size(t, n, &o, e);
		if (rc < 0)
			return rc;
		/* fallthrough */
	default:
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		pthread_mutex_lock(&t->lock);
		st->st_size = (off_t)n->size;
		pthread_mutex_unlock(&t->lock);
		st->st_blocks = (st->st_size + 511) / 512;
		break;
	}
	return 0;
}

int fstree_open_file(struct fstree *t, struct fsn *n, const struct store_get_opts *in,
		     struct dag_file **out, struct errbuf *e)
{
	struct store_get_opts o;
	struct dag_file *df;
	uint64_t size;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	df = n->df;
	pthread_mutex_unlock(&t->lock);
	if (df) {
		*out = df;
		return 0;
	}
	fst_opts_with_deadline(t, in, &o);
	rc = dag_file_open(t->cfg.store, &n->cid, &o, &df, e);
	if (rc < 0)
		return rc;
	size = dag_file_size(df);
	pthread_mutex_lock(&t->lock);
	if (n->size_known && n->size != size) {
		rc = -EIO;
	} else if (!n->df) {
		n->df = df;
		n->size = size;
		n->size_known = true;
		df = NULL;
	}
	*out = n->df;
	pthread_mutex_unlock(&t->lock);
	if (rc < 0) {
		log_error("pack %s: %s: manifest says %llu bytes but the UnixFS root %s holds %llu",
			  n->pack ? cid_str(&n->pack->root) : "-", n->name,
			  (unsigned long long)n->size, cid_str(&n->cid), (unsigned long long)size);
		err_set(e, rc, "size mismatch between manifest and UnixFS root");
	}
	dag_file_free(df);
	return rc;
}

/* Bytes of df present locally (a 1 ms deadline keeps this off the network). */
static int cached_bytes(struct fstree *t, struct dag_file *df, uint64_t *have)
{
	struct store_get_opts o = {.prio = FETCH_PRIO_PREFETCH, .deadline_ms = 1};
	struct dag_extent ext[128];
	uint64_t off = 0, size = dag_file_size(df);
	int n, i;

	*have = 0;
	while (off < size) {
		n = dag_file_extents(df, off, size - off, ext, 128, &o, NULL);
		if (n <= 0)
			return n < 0 ? n : 0;
		for (i = 0; i < n; i++) {
			if (ext[i].inline_data || store_has_local(t->cfg.store, &ext[i].leaf))
				*have += ext[i].len;
			off = ext[i].file_off + ext[i].len;
		}
	}
	return 0;
}

int fstree_cached_percent(struct fstree *t, struct fsn *n, double *pct)
{
	struct store_get_opts o = {.prio = FETCH_PRIO_PREFETCH, .deadline_ms = 1};
	struct dag_file *df;
	uint64_t have;
	int rc;

	if (n->kind == FSN_MEM) {
		*pct = 100.0;
		return 0;
	}
	if (n->kind != FSN_FILE)
		return -EINVAL;
	if (!store_has_local(t->cfg.store, &n->cid)) {
		*pct = 0.0;
		return 0;
	}
	rc = fstree_open_file(t, n, &o, &df, NULL);
	if (rc < 0)
		return rc;
	rc = cached_bytes(t, df, &have);
	if (rc < 0)
		return rc;
	*pct = dag_file_size(df) ? 100.0 * (double)have / (double)dag_file_size(df) : 100.0;
	return 0;
}

void fstree_pack_cid(const struct fsn *n, char *buf, size_t cap)
{
	if (n->pack)
		cid_format(&n->pack->root, buf, cap);
	else if (cap)
		buf[0] = '\0';
}
