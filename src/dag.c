/* dag: UnixFS files, directories (flat and HAMT) and path resolution over the
 * store (contract in dag.h).
 *
 * DESIGN. A dag_file keeps its root and the internal nodes it has fetched in a
 * small hash table keyed by multihash (f->lock protects the table; nodes are
 * immutable once inserted and freed only by dag_file_free, so a reader uses a
 * node pointer without the lock). Leaves are not kept: raw leaves are not
 * fetched to compute extents (their size comes from the parent); dag-pb
 * children must be fetched to learn whether they are leaves, so they are
 * prefetched together first, and a dag-pb leaf's bytes are then read through
 * the store again (a cache view, or the store's memory LRU without a cache). */
#include "dag.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "manifest.h"

#define DAG_BUCKETS	 256
#define DAG_NODES_MAX	 (64u << 20) /* bytes of internal nodes kept per file */
#define DAG_READ_EXTENTS 16

struct dag_nent {
	struct dag_nent *next;
	struct unode *n;
};

struct dag_file {
	struct store *s;
	struct unode *root;
	pthread_mutex_t lock;
	struct dag_nent *table[DAG_BUCKETS]; /* protected by lock */
	size_t node_bytes;		     /* protected by lock */
};

/* Fetch a block and parse it as a UnixFS node. */
static int dag_fetch(struct store *s, const struct cid *cid, const struct store_get_opts *o,
		     struct unode **out, struct errbuf *e)
{
	struct store_block b;
	int rc;

	*out = NULL;
	rc = store_get(s, cid, o, &b, e);
	if (rc)
		return err_prefix(e, rc, "dag: %s", cid_str(cid));
	rc = unode_parse(cid, b.data, b.len, out, e);
	store_block_release(s, &b);
	return rc ? err_prefix(e, rc, "dag: %s", cid_str(cid)) : 0;
}

/* ---- the node table ---- */

static const struct unode *dag_node_find(struct dag_file *f, const struct cid *cid)
{
	struct dag_nent *en;

	if (cid_mh_equal(&f->root->cid, cid))
		return f->root;
	pthread_mutex_lock(&f->lock);
	for (en = f->table[cid_hash(cid) % DAG_BUCKETS]; en; en = en->next)
		if (cid_mh_equal(&en->n->cid, cid))
			break;
	pthread_mutex_unlock(&f->lock);
	return en ? en->n : NULL;
}

/* Keep an internal node. Returns the kept node (n, or an equal one another
 * thread kept first, then n is freed); NULL if the table is full (the caller
 * keeps ownership of n). */
static const struct unode *dag_node_keep(struct dag_file *f, struct unode *n)
{
	struct dag_nent *en, **head = &f->table[cid_hash(&n->cid) % DAG_BUCKETS];
	const struct unode *kept = NULL;

	pthread_mutex_lock(&f->lock);
	for (en = *head; en; en = en->next)
		if (cid_mh_equal(&en->n->cid, &n->cid))
			kept = en->n;
	if (!kept && f->node_bytes + n->block_len <= DAG_NODES_MAX && (en = malloc(sizeof(*en)))) {
		en->n = n;
		en->next = *head;
		*head = en;
		f->node_bytes += n->block_len;
		kept = n;
		n = NULL;
	}
	pthread_mutex_unlock(&f->lock);
	if (kept && n)
		unode_free(n);
	return kept;
}

/* ---- open ---- */

int dag_file_open(struct store *s, const struct cid *root, const struct store_get_opts *o,
		  struct dag_file **out, struct errbuf *e)
{
	struct dag_file *f;
	struct unode *n;
	int rc;

	*out = NULL;
	rc = dag_fetch(s, root, o, &n, e);
	if (rc)
		return rc;
	if (n->kind == UNODE_DIR || n->kind == UNODE_HAMT) {
		unode_free(n);
		return err_set(e, -EISDIR, "dag: %s is a directory", cid_str(root));
	}
	if (n->kind != UNODE_FILE) {
		unode_free(n);
		return err_set(e, -EINVAL, "dag: %s is a symlink, not a file", cid_str(root));
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		unode_free(n);
		return err_set(e, -ENOMEM, "dag: out of memory");
	}
	f->s = s;
	f->root = n;
	pthread_mutex_init(&f->lock, NULL);
	*out = f;
	return 0;
}

void dag_file_free(struct dag_file *f)
{
	struct dag_nent *en, *next;
	size_t i;

	if (!f)
		return;
	for (i = 0; i < DAG_BUCKETS; i++)
		for (en = f->table[i]; en; en = next) {
			next = en->next;
			unode_free(en->n);
			free(en);
		}
	unode_free(f->root);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

uint64_t dag_file_size(const struct dag_file *f)
{
	return f->root->size;
}

const struct cid *dag_file_cid(const struct dag_file *f)
{
	return &f->root->cid;
}

/* ---- extents ---- */

struct dag_walk {
	struct dag_file *f;
	uint64_t off, end; /* requested range, clipped to the file */
	struct dag_extent *out;
	size_t max, n;
	const struct store_get_opts *o;
	struct errbuf *e;
};

/* 0, or 1 when out is full (stop walking). */
static int dag_emit(struct dag_walk *w, const struct unode *n, uint64_t file_off, int inl)
{
	struct dag_extent *x;

	if (w->n >= w->max)
		return 1;
	x = &w->out[w->n++];
	x->leaf = n->cid;
	x->file_off = file_off;
	x->leaf_data_off = n->data ? (uint64_t)(n->data - n->block) : 0;
	x->len = n->data_len;
	x->inline_data = inl;
	return w->n >= w->max;
}

static int dag_emit_raw(struct dag_walk *w, const struct cid *leaf, uint64_t file_off, uint64_t len)
{
	struct dag_extent *x;

	if (w->n >= w->max)
		return 1;
	x = &w->out[w->n++];
	x->leaf = *leaf;
	x->file_off = file_off;
	x->leaf_data_off = 0;
	x->len = len;
	x->inline_data = 0;
	return w->n >= w->max;
}

/* Children [first, ...) of n that overlap the range. */
static int dag_child_first(const struct dag_walk *w, const struct unode *n, uint64_t base)
{
	if (w->off <= base + n->offsets[0])
		return 0;
	return unode_child_at(n, w->off - base);
}

/* Queue the dag-pb children the walk will need (when there are several), so
 * they transfer in parallel instead of one by one. */
static void dag_prefetch_children(struct dag_walk *w, const struct unode *n, uint64_t base,
				  int first)
{
	size_t i, want = w->max - w->n, count = 0, last = (size_t)first;

	for (i = (size_t)first; i < n->pb.nlinks && base + n->offsets[i] < w->end; i++) {
		if (count >= want)
			break;
		if (n->pb.links[i].cid.codec != CID_CODEC_RAW && n->offsets[i + 1] > n->offsets[i])
			count++;
		last = i;
	}
	if (count < 2)
		return;
	for (i = (size_t)first; i <= last; i++) {
		const struct cid *c = &n->pb.links[i].cid;

		if (c->codec != CID_CODEC_RAW && !dag_node_find(w->f, c))
			store_prefetch(w->f->s, c, FETCH_PRIO_READAHEAD);
	}
}

static int dag_walk_node(struct dag_walk *w, const struct unode *n, uint64_t base, int depth);

/* One dag-pb child: fetch it (or find it kept), check its size, descend. */
static int dag_walk_child(struct dag_walk *w, const struct unode *n, size_t i, uint64_t base,
			  int depth)
{
	const struct cid *c = &n->pb.links[i].cid;
	uint64_t csize = n->offsets[i + 1] - n->offsets[i];
	const struct unode *child = dag_node_find(w->f, c);
	struct unode *fetched = NULL;
	int rc;

	if (!child) {
		rc = dag_fetch(w->f->s, c, w->o, &fetched, w->e);
		if (rc == -EINVAL || rc == -ENOTSUP) /* a malformed block inside a file */
			rc = -EIO;
		if (rc)
			return rc;
		if (fetched->kind != UNODE_FILE) {
			unode_free(fetched);
			return err_set(w->e, -EIO, "dag: %s child %zu is not file data",
				       cid_str(&n->cid), i);
		}
		child = fetched;
	}
	if (child->size != csize) {
		rc = err_set(w->e, -EIO, "dag: %s child %zu is %llu bytes, parent says %llu",
			     cid_str(&n->cid), i, (unsigned long long)child->size,
			     (unsigned long long)csize);
		unode_free(fetched);
		return rc;
	}
	if (child->pb.nlinks == 0) { /* a dag-pb leaf: not kept */
		rc = dag_emit(w, child, base + n->offsets[i], 0);
		unode_free(fetched);
		return rc;
	}
	if (fetched) {
		const struct unode *kept = dag_node_keep(w->f, fetched);

		if (kept) {
			child = kept;
			fetched = NULL;
		}
	}
	rc = dag_walk_node(w, child, base + n->offsets[i], depth + 1);
	unode_free(fetched);
	return rc;
}

static int dag_walk_node(struct dag_walk *w, const struct unode *n, uint64_t base, int depth)
{
	size_t i;
	int rc, first;

	if (depth > DAG_MAX_DEPTH)
		return err_set(w->e, -EIO, "dag: %s: file DAG deeper than %d levels",
			       cid_str(&w->f->root->cid), DAG_MAX_DEPTH);
	if (n->pb.nlinks == 0)
		return n->data_len ? dag_emit(w, n, base, 0) : 0;
	if (n->data_len && w->off < base + n->data_len) {
		rc = dag_emit(w, n, base, 1);
		if (rc)
			return rc;
	}
	first = dag_child_first(w, n, base);
	if (first < 0)
		return 0;
	dag_prefetch_children(w, n, base, first);
	for (i = (size_t)first; i < n->pb.nlinks && base + n->offsets[i] < w->end; i++) {
		uint64_t csize = n->offsets[i + 1] - n->offsets[i];

		if (csize == 0)
			continue;
		if (n->pb.links[i].cid.codec == CID_CODEC_RAW)
			rc = dag_emit_raw(w, &n->pb.links[i].cid, base + n->offsets[i], csize);
		else
			rc = dag_walk_child(w, n, i, base, depth);
		if (rc)
			return rc;
	}
	return 0;
}

int dag_file_extents(struct dag_file *f, uint64_t off, uint64_t len, struct dag_extent *out,
		     size_t max, const struct store_get_opts *o, struct errbuf *e)
{
	struct dag_walk w = {.f = f, .off = off, .out = out, .max = max, .o = o, .e = e};
	uint64_t size = dag_file_size(f);
	struct errbuf le;
	int rc;

	if (!e)
		w.e = &le;

	if (off >= size || len == 0 || max == 0)
		return 0;
	w.end = len > size - off ? size : off + len;
	if (max > INT_MAX)
		w.max = INT_MAX;
	rc = dag_walk_node(&w, f->root, 0, 0);
	return rc < 0 ? rc : (int)w.n;
}

/* ---- reads ---- */

/* Copy k bytes starting `skip` bytes into extent x's content. */
static int dag_copy_extent(struct dag_file *f, const struct dag_extent *x, uint64_t skip, size_t k,
			   uint8_t *dst, const struct store_get_opts *o, struct errbuf *e)
{
	const struct unode *n = dag_node_find(f, &x->leaf);
	struct store_block b;
	int rc = 0;

	if (n) {
		if (x->leaf_data_off + skip + k > n->block_len)
			return err_set(e, -EIO, "dag: %s: extent outside the block",
				       cid_str(&x->leaf));
		memcpy(dst, n->block + x->leaf_data_off + skip, k);
		return 0;
	}
	rc = store_get(f->s, &x->leaf, o, &b, e);
	if (rc)
		return err_prefix(e, rc, "dag: leaf %s", cid_str(&x->leaf));
	if (x->leaf.codec == CID_CODEC_RAW && b.len != x->len)
		rc = err_set(e, -EIO, "dag: leaf %s is %zu bytes, parent says %llu",
			     cid_str(&x->leaf), b.len, (unsigned long long)x->len);
	else if (x->leaf_data_off + x->len > b.len)
		rc = err_set(e, -EIO, "dag: leaf %s: content outside the block", cid_str(&x->leaf));
	else
		memcpy(dst, b.data + x->leaf_data_off + skip, k);
	store_block_release(f->s, &b);
	return rc;
}

int dag_extent_read(struct dag_file *f, const struct dag_extent *x, uint64_t skip, size_t len,
		    void *dst, const struct store_get_opts *o, struct errbuf *e)
{
	if (skip > x->len || len > x->len - skip)
		return err_set(e, -EIO, "dag: read of %zu bytes at %llu outside a %llu-byte extent",
			       len, (unsigned long long)skip, (unsigned long long)x->len);
	return dag_copy_extent(f, x, skip, len, dst, o, e);
}

ssize_t dag_file_read(struct dag_file *f, uint64_t off, size_t len, void *dst,
		      const struct store_get_opts *o, struct errbuf *e)
{
	struct dag_extent x[DAG_READ_EXTENTS];
	uint64_t size = dag_file_size(f), cur, end;
	size_t done = 0, k;
	int n, i, rc;

	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	while (done < len) {
		n = dag_file_extents(f, off + done, len - done, x, DAG_READ_EXTENTS, o, e);
		if (n < 0)
			return n;
		if (n == 0)
			return err_set(e, -EIO, "dag: %s: no data at offset %llu",
				       cid_str(&f->root->cid), (unsigned long long)(off + done));
		for (i = 0; i < n && done < len; i++) {
			cur = off + done;
			end = x[i].file_off + x[i].len;
			if (x[i].file_off > cur || end <= cur)
				return err_set(e, -EIO, "dag: %s: hole at offset %llu",
					       cid_str(&f->root->cid), (unsigned long long)cur);
			k = end - cur < len - done ? (size_t)(end - cur) : len - done;
			rc = dag_copy_extent(f, &x[i], cur - x[i].file_off, k,
					     (uint8_t *)dst + done, o, e);
			if (rc)
				return rc;
			done += k;
		}
	}
	return (ssize_t)done;
}

int dag_file_slurp(struct store *s, const struct cid *root, size_t cap,
		   const struct store_get_opts *o, uint8_t **out, size_t *len, struct errbuf *e)
{
	struct dag_file *f;
	uint8_t *buf;
	uint64_t size;
	ssize_t got;
	int rc;

	*out = NULL;
	*len = 0;
	rc = dag_file_open(s, root, o, &f, e);
	if (rc)
		return rc;
	size = dag_file_size(f);
	if (size > cap) {
		dag_file_free(f);
		return err_set(e, -EFBIG, "dag: %s is %llu bytes (limit %zu)", cid_str(root),
			       (unsigned long long)size, cap);
	}
	buf = malloc((size_t)size + 1);
	if (!buf) {
		dag_file_free(f);
		return err_set(e, -ENOMEM, "dag: out of memory for %llu bytes",
			       (unsigned long long)size);
	}
	got = dag_file_read(f, 0, (size_t)size, buf, o, e);
	dag_file_free(f);
	if (got != (ssize_t)size) {
		free(buf);
		return got < 0 ? (int)got : err_set(e, -EIO, "dag: %s: short read", cid_str(root));
	}
	buf[size] = '\0';
	*out = buf;
	*len = (size_t)size;
	return 0;
}

/* ---- directories ---- */

/* Hex digits of a HAMT link-name prefix: the length of hex(fanout - 1). */
static size_t dag_hamt_prefix_len(uint64_t fanout)
{
	uint64_t v = fanout - 1;
	size_t w = 0;

	do {
		w++;
		v >>= 4;
	} while (v);
	return w;
}

static int dag_is_hex(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'A' && p[i] <= 'F') ||
		      (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return 1;
}

/* A usable entry name: 1..NAME_MAX bytes, no '/' or NUL, not "." or "..". */
static int dag_name_ok(const uint8_t *name, size_t len)
{
	return len > 0 && len <= NAME_MAX && !memchr(name, '/', len) && !memchr(name, 0, len) &&
	       !(len == 1 && name[0] == '.') && !(len == 2 && name[0] == '.' && name[1] == '.');
}

static int dag_entry(const struct unode *dir, const struct pb_link *l, const uint8_t *name,
		     size_t len, dag_dirent_fn fn, void *ctx)
{
	char buf[NAME_MAX + 1];

	if (!dag_name_ok(name, len)) {
		log_warn("dag: %s: skipping an entry with an unusable name (%zu bytes)",
			 cid_str(&dir->cid), len);
		return 0;
	}
	memcpy(buf, name, len);
	buf[len] = '\0';
	return fn(ctx, buf, &l->cid, l->tsize);
}

/* A HAMT sub-shard: fetched, must be a HAMT with the parent's fanout. */
static int dag_fetch_shard(struct store *s, const struct unode *parent, const struct cid *c,
			   const struct store_get_opts *o, struct unode **out, struct errbuf *e)
{
	int rc = dag_fetch(s, c, o, out, e);

	if (rc)
		return rc;
	if ((*out)->kind != UNODE_HAMT || (*out)->fanout != parent->fanout) {
		unode_free(*out);
		*out = NULL;
		return err_set(e, -EIO, "dag: HAMT %s: sub-shard %s is not a HAMT with fanout %llu",
			       cid_str(&parent->cid), cid_str(c),
			       (unsigned long long)parent->fanout);
	}
	return 0;
}

static int dag_list_hamt(struct store *s, const struct unode *n, const struct store_get_opts *o,
			 dag_dirent_fn fn, void *ctx, int depth, struct errbuf *e)
{
	size_t i, plen = dag_hamt_prefix_len(n->fanout);
	struct unode *sub;
	int rc = 0;

	if (depth > DAG_MAX_DEPTH)
		return err_set(e, -EIO, "dag: HAMT %s deeper than %d levels", cid_str(&n->cid),
			       DAG_MAX_DEPTH);
	for (i = 0; i < n->pb.nlinks && !rc; i++) {
		const struct pb_link *l = &n->pb.links[i];

		if (l->name_len < plen || !dag_is_hex(l->name, plen))
			return err_set(e, -EIO, "dag: HAMT %s link %zu has no %zu-hex-digit prefix",
				       cid_str(&n->cid), i, plen);
		if (l->name_len > plen) {
			rc = dag_entry(n, l, l->name + plen, l->name_len - plen, fn, ctx);
			continue;
		}
		rc = dag_fetch_shard(s, n, &l->cid, o, &sub, e);
		if (rc)
			return rc;
		rc = dag_list_hamt(s, sub, o, fn, ctx, depth + 1, e);
		unode_free(sub);
	}
	return rc;
}

static int dag_list_node(struct store *s, const struct unode *n, const struct store_get_opts *o,
			 dag_dirent_fn fn, void *ctx, struct errbuf *e)
{
	size_t i;
	int rc = 0;

	if (n->kind == UNODE_HAMT)
		return dag_list_hamt(s, n, o, fn, ctx, 0, e);
	if (n->kind != UNODE_DIR)
		return err_set(e, -ENOTDIR, "dag: %s is not a directory", cid_str(&n->cid));
	for (i = 0; i < n->pb.nlinks && !rc; i++)
		rc = dag_entry(n, &n->pb.links[i], n->pb.links[i].name, n->pb.links[i].name_len, fn,
			       ctx);
	return rc;
}

int dag_dir_list(struct store *s, const struct cid *dir, const struct store_get_opts *o,
		 dag_dirent_fn fn, void *ctx, struct errbuf *e)
{
	struct unode *n;
	int rc = dag_fetch(s, dir, o, &n, e);

	if (rc)
		return rc;
	rc = dag_list_node(s, n, o, fn, ctx, e);
	unode_free(n);
	return rc;
}

static int dag_link_is(const struct pb_link *l, const uint8_t *prefix, size_t plen,
		       const char *name, size_t len)
{
	return l->name_len == plen + len &&
	       !strncasecmp((const char *)l->name, (const char *)prefix, plen) &&
	       !memcmp(l->name + plen, name, len);
}

/* Follow the name's hash bits down the shards. n is borrowed. */
static int dag_lookup_hamt(struct store *s, const struct unode *n, const char *name, size_t len,
			   const struct store_get_opts *o, struct cid *out, struct errbuf *e)
{
	uint64_t h = hamt_hash(name, len), idx;
	size_t plen = dag_hamt_prefix_len(n->fanout), i, bits = 0, level, shard;
	struct unode *cur = NULL, *sub;
	uint8_t prefix[8];
	int rc = -ENOENT;

	while ((1ull << bits) < n->fanout)
		bits++;
	for (level = 0;; level++) {
		if ((level + 1) * bits > 64 || level > DAG_MAX_DEPTH) {
			rc = err_set(e, -EIO, "dag: HAMT %s deeper than the 64-bit hash",
				     cid_str(&n->cid));
			break;
		}
		idx = (h >> (64 - (level + 1) * bits)) & (n->fanout - 1);
		snprintf((char *)prefix, sizeof(prefix), "%0*llX", (int)plen,
			 (unsigned long long)idx);
		shard = SIZE_MAX;
		for (i = 0; i < n->pb.nlinks; i++) {
			if (dag_link_is(&n->pb.links[i], prefix, plen, name, len)) {
				*out = n->pb.links[i].cid;
				rc = 0;
				goto out;
			}
			if (dag_link_is(&n->pb.links[i], prefix, plen, "", 0))
				shard = i;
		}
		if (shard == SIZE_MAX) {
			rc = err_set(e, -ENOENT, "dag: %.*s: no such entry", (int)len, name);
			break;
		}
		rc = dag_fetch_shard(s, n, &n->pb.links[shard].cid, o, &sub, e);
		if (rc)
			break;
		unode_free(cur);
		cur = sub;
		n = cur;
	}
out:
	unode_free(cur);
	return rc;
}

/* Look name up in an already fetched directory node. */
static int dag_lookup_node(struct store *s, const struct unode *n, const char *name, size_t len,
			   const struct store_get_opts *o, struct cid *out, struct errbuf *e)
{
	size_t i;

	if (n->kind == UNODE_HAMT)
		return dag_lookup_hamt(s, n, name, len, o, out, e);
	if (n->kind != UNODE_DIR)
		return err_set(e, -ENOTDIR, "dag: %s is not a directory", cid_str(&n->cid));
	for (i = 0; i < n->pb.nlinks; i++)
		if (n->pb.links[i].name_len == len && !memcmp(n->pb.links[i].name, name, len)) {
			*out = n->pb.links[i].cid;
			return 0;
		}
	return err_set(e, -ENOENT, "dag: %.*s: no such entry", (int)len, name);
}

int dag_dir_lookup(struct store *s, const struct cid *dir, const char *name,
		   const struct store_get_opts *o, struct cid *out, struct errbuf *e)
{
	size_t len = strlen(name);
	struct unode *n;
	int rc;

	if (!dag_name_ok((const uint8_t *)name, len))
		return err_set(e, -EINVAL, "dag: '%.100s' is not a valid entry name", name);
	rc = dag_fetch(s, dir, o, &n, e);
	if (rc)
		return rc;
	rc = dag_lookup_node(s, n, name, len, o, out, e);
	unode_free(n);
	return rc;
}

/* ---- paths ---- */

/* Each component of path (after the CID) is non-empty and not "." or "..". */
static int dag_check_path(const char *p, struct errbuf *e)
{
	const char *c = p, *slash;
	size_t n;

	while (c) {
		slash = strchr(c, '/');
		n = slash ? (size_t)(slash - c) : strlen(c);
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return err_set(e, -EINVAL, "dag: path component '%.*s' is not allowed",
				       (int)n, c);
		if (n > NAME_MAX)
			return err_set(e, -ENAMETOOLONG, "dag: path component of %zu bytes", n);
		c = slash ? slash + 1 : NULL;
	}
	return 0;
}

/* cur is a file: if it is a ModelPack manifest, find `rest` in it. */
static int dag_resolve_manifest(struct store *s, const struct unode *cur, const char *rest,
				const struct store_get_opts *o, struct cid *out, struct errbuf *e)
{
	const struct mf_entry *en;
	struct manifest *m;
	uint8_t *json;
	size_t len;
	int rc;

	if (cur->size > MANIFEST_MAX_BYTES)
		return err_set(e, -ENOTDIR, "dag: %s is a file, not a directory or manifest",
			       cid_str(&cur->cid));
	rc = dag_file_slurp(s, &cur->cid, MANIFEST_MAX_BYTES, o, &json, &len, e);
	if (rc)
		return rc;
	rc = manifest_parse((const char *)json, len, &m, e);
	free(json);
	if (rc)
		return err_set(e, -ENOTDIR, "dag: %s is a file, not a directory or manifest",
			       cid_str(&cur->cid));
	en = manifest_find(m, rest);
	if (en)
		*out = en->cid;
	else
		rc = err_set(e, -ENOENT, "dag: %.200s: not in manifest %s", rest,
			     cid_str(&cur->cid));
	manifest_free(m);
	return rc;
}

/* One step from cur along the path at *p. Sets *done when a manifest took
 * the whole rest of the path. */
static int dag_resolve_step(struct store *s, struct cid *cur, const char **p, int *done,
			    const struct store_get_opts *o, struct errbuf *e)
{
	const char *c = *p, *slash = strchr(c, '/');
	size_t n = slash ? (size_t)(slash - c) : strlen(c);
	struct unode *node;
	int rc;

	rc = dag_fetch(s, cur, o, &node, e);
	if (rc)
		return rc;
	if (node->kind == UNODE_DIR || node->kind == UNODE_HAMT) {
		rc = dag_lookup_node(s, node, c, n, o, cur, e);
		*p = slash ? slash + 1 : NULL;
	} else if (node->kind == UNODE_FILE) {
		rc = dag_resolve_manifest(s, node, c, o, cur, e);
		*done = 1;
	} else {
		rc = err_set(e, -ENOTDIR, "dag: %s is a symlink (not followed)", cid_str(cur));
	}
	unode_free(node);
	return rc;
}

int dag_resolve(struct store *s, const char *path, const struct store_get_opts *o, struct cid *out,
		struct errbuf *e)
{
	const char *p = path, *slash;
	struct cid cur;
	int rc, done = 0;

	if (!strncmp(p, "/ipfs/", 6))
		p += 6;
	slash = strchr(p, '/');
	rc = cid_parse(p, slash ? (size_t)(slash - p) : strlen(p), &cur, e);
	if (rc)
		return err_prefix(e, rc, "dag: %.200s", path);
	p = slash ? slash + 1 : NULL;
	if (p) {
		rc = dag_check_path(p, e);
		if (rc)
			return rc;
	}
	while (p && !done) {
		rc = dag_resolve_step(s, &cur, &p, &done, o, e);
		if (rc)
			return rc;
	}
	*out = cur;
	return 0;
}
