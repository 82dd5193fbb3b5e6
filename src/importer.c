/* importer: UnixFS files (fixed-size chunker, balanced layout), directories and
 * symlinks, built exactly as Kubo and the JS reference importer build them.
 *
 * DESIGN: the balanced layout batches leaves max_links at a time into parents,
 * then batches those parents, until one node remains. Streaming keeps one
 * pending list per tree level; a level that fills up is reduced at once into
 * a parent on the level above (it would be batched the same way at the end).
 * finish() reduces the partial levels bottom-up. A file of one leaf is its own
 * root (the JS importer's reduceSingleLeafToSelf). */
#include "importer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dagpb.h"
#include "dynbuf.h"
#include "unixfs.h"

#define IMP_LINKS_MAX	    8192
#define IMP_DEPTH_MAX	    64
#define IMP_NODE_CAP	    (4u << 20) /* encoded node scratch limit */
#define IMP_SHARD_THRESHOLD 262144     /* ipfs-unixfs-importer shardSplitThresholdBytes */

/* One finished node waiting for its parent. */
struct imp_ref {
	struct cid cid;
	uint64_t size;	/* file bytes below it */
	uint64_t tsize; /* cumulative block bytes */
};

struct imp_level {
	struct imp_ref *refs; /* max_links entries, allocated on first use */
	size_t n;
};

struct imp_file {
	struct imp_params p;
	imp_block_fn fn;
	void *ctx;
	uint8_t *chunk; /* partial chunk (chunk_size bytes) */
	size_t chunk_len;
	uint64_t leaves;
	struct imp_level lv[IMP_DEPTH_MAX];
	struct pb_link *links; /* scratch for parents: max_links entries */
	uint64_t *bsizes;
	struct dynbuf data; /* scratch: UnixFS Data */
	struct dynbuf node; /* scratch: encoded PBNode */
	int err;	    /* sticky error */
	bool finished;
};

static const uint8_t imp_empty[1];

void imp_params_profile(struct imp_params *p, int profile)
{
	switch (profile) {
	case IMP_PROFILE_KUBO_V0:
		*p = (struct imp_params){
		    .cid_version = 0, .raw_leaves = false, .chunk_size = 262144, .max_links = 174};
		break;
	case IMP_PROFILE_KUBO_V1:
		*p = (struct imp_params){
		    .cid_version = 1, .raw_leaves = true, .chunk_size = 262144, .max_links = 174};
		break;
	default:
		*p = (struct imp_params){
		    .cid_version = 1, .raw_leaves = true, .chunk_size = 1048576, .max_links = 1024};
		break;
	}
}

int imp_params_check(const struct imp_params *p, struct errbuf *e)
{
	if (p->cid_version != 0 && p->cid_version != 1)
		return err_set(e, -EINVAL, "importer: CID version %d (must be 0 or 1)",
			       p->cid_version);
	if (p->raw_leaves && p->cid_version == 0)
		return err_set(e, -EINVAL, "importer: raw leaves need CIDv1");
	if (p->chunk_size < 1 || p->chunk_size > IMP_CHUNK_MAX)
		return err_set(e, -EINVAL, "importer: chunk size %zu out of range 1..%u",
			       p->chunk_size, IMP_CHUNK_MAX);
	if (p->max_links < 2 || p->max_links > IMP_LINKS_MAX)
		return err_set(e, -EINVAL, "importer: max links %zu out of range 2..%u",
			       p->max_links, IMP_LINKS_MAX);
	return 0;
}

/* Encode a PBNode with the UnixFS data d and links, hash it, hand it to fn. */
static int imp_emit_node(int version, const struct ufs_data *d, struct pb_link *links,
			 size_t nlinks, struct dynbuf *dbuf, struct dynbuf *nbuf, imp_block_fn fn,
			 void *ctx, struct cid *cid)
{
	struct pb_node pn = {0};
	int rc;

	dynbuf_reset(dbuf);
	dynbuf_reset(nbuf);
	rc = ufs_encode(d, dbuf);
	if (rc)
		return rc;
	pn.data = dbuf->data ? dbuf->data : imp_empty;
	pn.data_len = dbuf->len;
	pn.has_data = true;
	pn.links = links;
	pn.nlinks = nlinks;
	rc = pb_encode(&pn, nbuf);
	if (rc)
		return rc;
	rc = cid_for_block(version, CID_CODEC_DAG_PB, nbuf->data, nbuf->len, cid);
	if (rc)
		return rc;
	return fn(ctx, cid, nbuf->data, nbuf->len);
}

int imp_file_new(const struct imp_params *p, imp_block_fn fn, void *ctx, struct imp_file **out)
{
	struct imp_file *f;

	*out = NULL;
	if (imp_params_check(p, NULL) || !fn)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->p = *p;
	f->fn = fn;
	f->ctx = ctx;
	f->chunk = malloc(p->chunk_size);
	if (!f->chunk) {
		free(f);
		return -ENOMEM;
	}
	dynbuf_init(&f->data, IMP_NODE_CAP);
	dynbuf_init(&f->node, IMP_NODE_CAP);
	*out = f;
	return 0;
}

void imp_file_free(struct imp_file *f)
{
	size_t i;

	if (!f)
		return;
	for (i = 0; i < IMP_DEPTH_MAX; i++)
		free(f->lv[i].refs);
	free(f->links);
	free(f->bsizes);
	free(f->chunk);
	dynbuf_free(&f->data);
	dynbuf_free(&f->node);
	free(f);
}

static int imp_reduce(struct imp_file *f, size_t level);

/* Append r to a level; reduce the level into its parent as soon as it is full. */
static int imp_push(struct imp_file *f, size_t level, const struct imp_ref *r)
{
	struct imp_level *l;

	if (level >= IMP_DEPTH_MAX)
		return -EFBIG;
	l = &f->lv[level];
	if (!l->refs) {
		l->refs = malloc(f->p.max_links * sizeof(*l->refs));
		if (!l->refs)
			return -ENOMEM;
	}
	l->refs[l->n++] = *r;
	if (l->n == f->p.max_links)
		return imp_reduce(f, level);
	return 0;
}

/* Build a File parent over the pending refs of a level, push it one level up. */
static int imp_reduce(struct imp_file *f, size_t level)
{
	struct imp_level *l = &f->lv[level];
	struct ufs_data d = {.type = UFS_FILE, .has_filesize = true};
	struct imp_ref parent = {0};
	size_t i, n = 0;
	int rc;

	if (!f->links) {
		f->links = calloc(f->p.max_links, sizeof(*f->links));
		f->bsizes = calloc(f->p.max_links, sizeof(*f->bsizes));
		if (!f->links || !f->bsizes)
			return -ENOMEM;
	}
	for (i = 0; i < l->n; i++) {
		const struct imp_ref *r = &l->refs[i];

		if (r->size == 0) /* empty leaves are not linked (JS filter) */
			continue;
		f->links[n] = (struct pb_link){.cid = r->cid,
					       .name = imp_empty,
					       .has_name = true,
					       .tsize = r->tsize,
					       .has_tsize = true};
		f->bsizes[n++] = r->size;
		parent.size += r->size;
		parent.tsize += r->tsize;
	}
	d.filesize = parent.size;
	d.blocksizes = f->bsizes;
	d.nblocksizes = n;
	rc = imp_emit_node(f->p.cid_version, &d, f->links, n, &f->data, &f->node, f->fn, f->ctx,
			   &parent.cid);
	if (rc)
		return rc;
	parent.tsize += f->node.len;
	l->n = 0;
	return imp_push(f, level + 1, &parent);
}

static int imp_leaf(struct imp_file *f, const uint8_t *p, size_t n)
{
	struct imp_ref r = {.size = n};
	int rc;

	if (!p)
		p = imp_empty;
	if (f->p.raw_leaves) {
		rc = cid_for_block(1, CID_CODEC_RAW, p, n, &r.cid);
		if (!rc)
			rc = f->fn(f->ctx, &r.cid, p, n);
		r.tsize = n;
	} else {
		struct ufs_data d = {.type = UFS_FILE,
				     .data = p,
				     .data_len = n,
				     .has_data = n > 0,
				     .filesize = n,
				     .has_filesize = true};

		rc = imp_emit_node(f->p.cid_version, &d, NULL, 0, &f->data, &f->node, f->fn, f->ctx,
				   &r.cid);
		r.tsize = f->node.len;
	}
	if (rc)
		return rc;
	f->leaves++;
	return imp_push(f, 0, &r);
}

int imp_file_write(struct imp_file *f, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t cs = f->p.chunk_size, take;
	int rc = 0;

	if (f->err)
		return f->err;
	if (f->finished)
		return -EINVAL;
	while (len > 0 && !rc) {
		if (f->chunk_len == 0 && len >= cs) { /* whole chunk in place: no copy */
			rc = imp_leaf(f, p, cs);
			p += cs;
			len -= cs;
			continue;
		}
		take = cs - f->chunk_len < len ? cs - f->chunk_len : len;
		memcpy(f->chunk + f->chunk_len, p, take);
		f->chunk_len += take;
		p += take;
		len -= take;
		if (f->chunk_len == cs) {
			f->chunk_len = 0;
			rc = imp_leaf(f, f->chunk, cs);
		}
	}
	if (rc)
		f->err = rc;
	return rc;
}

static bool imp_has_above(const struct imp_file *f, size_t level)
{
	size_t i;

	for (i = level + 1; i < IMP_DEPTH_MAX; i++)
		if (f->lv[i].n)
			return true;
	return false;
}

int imp_file_finish(struct imp_file *f, struct imp_result *out)
{
	size_t i;
	int rc = 0;

	if (f->err)
		return f->err;
	if (f->finished)
		return -EINVAL;
	f->finished = true;
	if (f->chunk_len > 0 || f->leaves == 0) /* the empty file still has one leaf */
		rc = imp_leaf(f, f->chunk, f->chunk_len);
	f->chunk_len = 0;
	for (i = 0; !rc && i < IMP_DEPTH_MAX; i++) {
		struct imp_level *l = &f->lv[i];
		bool above = imp_has_above(f, i);

		if (l->n == 0)
			continue;
		if (!above && l->n == 1 && (i > 0 || f->leaves == 1)) {
			out->cid = l->refs[0].cid;
			out->size = l->refs[0].size;
			out->tsize = l->refs[0].tsize;
			return 0;
		}
		rc = imp_reduce(f, i);
	}
	if (!rc)
		rc = -EFBIG; /* deeper than IMP_DEPTH_MAX: cannot happen with max_links ≥ 2 */
	f->err = rc;
	return rc;
}

int imp_symlink_build(const struct imp_params *p, const char *target, imp_block_fn fn, void *ctx,
		      struct imp_result *out)
{
	size_t n = strlen(target);
	struct ufs_data d = {
	    .type = UFS_SYMLINK, .data = (const uint8_t *)target, .data_len = n, .has_data = n > 0};
	struct dynbuf dbuf, nbuf;
	int rc;

	if (imp_params_check(p, NULL))
		return -EINVAL;
	dynbuf_init(&dbuf, IMP_NODE_CAP);
	dynbuf_init(&nbuf, IMP_NODE_CAP);
	rc = imp_emit_node(p->cid_version, &d, NULL, 0, &dbuf, &nbuf, fn, ctx, &out->cid);
	out->size = n;
	out->tsize = nbuf.len;
	dynbuf_free(&dbuf);
	dynbuf_free(&nbuf);
	return rc;
}

static int imp_name_cmp(const void *a, const void *b)
{
	const struct imp_dirent *x = a, *y = b;

	return strcmp(x->name, y->name); /* compares as unsigned char: bytewise */
}

/* Sort, then reject empty, '/'-containing and duplicate names. Returns the
 * links-bytes size estimate (name bytes + binary CID bytes per link). */
static int imp_dir_check(struct imp_dirent *ents, size_t n, uint64_t *estimate, struct errbuf *e)
{
	size_t i;

	*estimate = 0;
	if (n > 1)
		qsort(ents, n, sizeof(*ents), imp_name_cmp);
	for (i = 0; i < n; i++) {
		const char *name = ents[i].name;

		if (!name || !*name)
			return err_set(e, -EINVAL, "importer: empty directory entry name");
		if (strchr(name, '/'))
			return err_set(e, -EINVAL, "importer: entry name \"%s\" contains '/'",
				       name);
		if (i > 0 && !strcmp(name, ents[i - 1].name))
			return err_set(e, -EINVAL, "importer: duplicate entry name \"%s\"", name);
		*estimate += strlen(name) + ents[i].r.cid.len;
	}
	return 0;
}

/* ---- HAMT sharded directories (fanout 256, murmur3-x64-64), as
 * ipfs-unixfs-importer and Kubo build them. Level L of the trie uses byte L % 8
 * (top byte first) of hash number L / 8, where hash 0 is hamt_hash(name) and
 * hash k > 0 is hamt_hash(name || byte k). A slot holding one entry links it
 * as "XX<name>"; a slot holding more links a sub-shard as "XX". */

#define IMP_HAMT_FANOUT 256
#define IMP_HAMT_LEVELS 64

struct imp_hent {
	const struct imp_dirent *d;
	uint64_t h0;
	unsigned slot; /* at the level being built */
};

struct imp_hamt {
	const struct imp_params *p;
	imp_block_fn fn;
	void *ctx;
	struct imp_hent *tmp;
	struct errbuf *e;
};

static int imp_hamt_slot(struct imp_hent *h, unsigned level)
{
	uint64_t v = h->h0;
	size_t n;
	uint8_t *buf;

	if (level >= 8) {
		n = strlen(h->d->name);
		buf = malloc(n + 1);
		if (!buf)
			return -ENOMEM;
		memcpy(buf, h->d->name, n);
		buf[n] = (uint8_t)(level / 8);
		v = hamt_hash(buf, n + 1);
		free(buf);
	}
	h->slot = (unsigned)(v >> (56 - 8 * (level % 8))) & 0xff;
	return 0;
}

/* Stable counting sort of v by slot; start[s]..start[s+1] is slot s. */
static int imp_hamt_bucket(struct imp_hamt *hm, struct imp_hent *v, size_t n, unsigned level,
			   size_t start[IMP_HAMT_FANOUT + 1])
{
	size_t pos[IMP_HAMT_FANOUT], i;
	int rc;

	memset(start, 0, (IMP_HAMT_FANOUT + 1) * sizeof(*start));
	for (i = 0; i < n; i++) {
		rc = imp_hamt_slot(&v[i], level);
		if (rc)
			return rc;
		start[v[i].slot + 1]++;
	}
	for (i = 0; i < IMP_HAMT_FANOUT; i++) {
		start[i + 1] += start[i];
		pos[i] = start[i];
	}
	for (i = 0; i < n; i++)
		hm->tmp[pos[v[i].slot]++] = v[i];
	memcpy(v, hm->tmp, n * sizeof(*v));
	return 0;
}

static int imp_hamt_node(struct imp_hamt *hm, struct imp_hent *v, size_t n, unsigned level,
			 struct imp_result *out);

/* One link of a shard node: the entry itself or a sub-shard. */
static int imp_hamt_link(struct imp_hamt *hm, struct imp_hent *v, size_t n, unsigned level,
			 unsigned slot, struct pb_link *l)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *name = n == 1 ? v->d->name : "";
	size_t len = strlen(name);
	struct imp_result sub;
	char *label;
	int rc;

	if (n > 1) {
		rc = imp_hamt_node(hm, v, n, level + 1, &sub);
		if (rc)
			return rc;
	} else {
		sub = v->d->r;
	}
	label = malloc(len + 2);
	if (!label)
		return -ENOMEM;
	label[0] = hex[slot >> 4];
	label[1] = hex[slot & 15];
	memcpy(label + 2, name, len);
	*l = (struct pb_link){.cid = sub.cid,
			      .name = (const uint8_t *)label,
			      .name_len = len + 2,
			      .has_name = true,
			      .tsize = sub.tsize,
			      .has_tsize = true};
	return 0;
}

static int imp_hamt_emit(struct imp_hamt *hm, const uint8_t bits[32], struct pb_link *links,
			 size_t nl, struct imp_result *out)
{
	struct ufs_data d = {.type = UFS_HAMT,
			     .has_data = true,
			     .hash_type = 0x22,
			     .has_hash_type = true,
			     .fanout = IMP_HAMT_FANOUT,
			     .has_fanout = true};
	struct dynbuf dbuf, nbuf;
	size_t i, skip = 0;
	int rc;

	while (skip < 31 && !bits[skip]) /* big-endian, leading zero bytes dropped */
		skip++;
	d.data = bits + skip;
	d.data_len = 32 - skip;
	out->size = 0;
	out->tsize = 0;
	for (i = 0; i < nl; i++)
		out->tsize += links[i].tsize;
	dynbuf_init(&dbuf, IMP_NODE_CAP);
	dynbuf_init(&nbuf, IMP_NODE_CAP);
	rc = imp_emit_node(hm->p->cid_version, &d, links, nl, &dbuf, &nbuf, hm->fn, hm->ctx,
			   &out->cid);
	out->tsize += nbuf.len;
	dynbuf_free(&dbuf);
	dynbuf_free(&nbuf);
	return rc;
}

static int imp_hamt_node(struct imp_hamt *hm, struct imp_hent *v, size_t n, unsigned level,
			 struct imp_result *out)
{
	size_t start[IMP_HAMT_FANOUT + 1], nl = 0, i;
	struct pb_link *links;
	uint8_t bits[32] = {0};
	unsigned s;
	int rc;

	if (level >= IMP_HAMT_LEVELS)
		return err_set(hm->e, -EINVAL, "importer: HAMT deeper than %d levels",
			       IMP_HAMT_LEVELS);
	rc = imp_hamt_bucket(hm, v, n, level, start);
	links = rc ? NULL : calloc(IMP_HAMT_FANOUT, sizeof(*links));
	if (!rc && !links)
		rc = -ENOMEM;
	for (s = 0; s < IMP_HAMT_FANOUT && !rc; s++) {
		if (start[s] == start[s + 1])
			continue;
		bits[31 - s / 8] |= (uint8_t)(1u << (s % 8));
		rc = imp_hamt_link(hm, v + start[s], start[s + 1] - start[s], level, s, &links[nl]);
		nl += !rc;
	}
	if (!rc)
		rc = imp_hamt_emit(hm, bits, links, nl, out);
	for (i = 0; i < nl; i++)
		free((void *)links[i].name);
	free(links);
	return rc;
}

static int imp_hamt_build(const struct imp_params *p, struct imp_dirent *ents, size_t n,
			  imp_block_fn fn, void *ctx, struct imp_result *out, struct errbuf *e)
{
	struct imp_hamt hm = {.p = p, .fn = fn, .ctx = ctx, .e = e};
	struct imp_hent *v = calloc(n, sizeof(*v));
	size_t i;
	int rc = -ENOMEM;

	hm.tmp = calloc(n, sizeof(*hm.tmp));
	if (v && hm.tmp) {
		for (i = 0; i < n; i++) {
			v[i].d = &ents[i];
			v[i].h0 = hamt_hash(ents[i].name, strlen(ents[i].name));
		}
		e->msg[0] = '\0';
		rc = imp_hamt_node(&hm, v, n, 0, out);
	}
	free(v);
	free(hm.tmp);
	if (rc && !e->msg[0])
		err_set(e, rc, "importer: cannot build HAMT directory: %s", strerror(-rc));
	return rc;
}

int imp_dir_build(const struct imp_params *p, struct imp_dirent *ents, size_t n, imp_block_fn fn,
		  void *ctx, struct imp_result *out, struct errbuf *e)
{
	struct ufs_data d = {.type = UFS_DIRECTORY};
	struct dynbuf dbuf, nbuf;
	struct pb_link *links;
	struct errbuf local;
	uint64_t estimate, tsize = 0;
	size_t i;
	int rc;

	if (!e)
		e = &local;
	rc = imp_params_check(p, e);
	if (rc)
		return rc;
	rc = imp_dir_check(ents, n, &estimate, e);
	if (rc)
		return rc;
	if (estimate > IMP_SHARD_THRESHOLD)
		return imp_hamt_build(p, ents, n, fn, ctx, out, e);
	links = calloc(n ? n : 1, sizeof(*links));
	if (!links)
		return err_set(e, -ENOMEM, "importer: out of memory");
	for (i = 0; i < n; i++) {
		links[i] = (struct pb_link){.cid = ents[i].r.cid,
					    .name = (const uint8_t *)ents[i].name,
					    .name_len = strlen(ents[i].name),
					    .has_name = true,
					    .tsize = ents[i].r.tsize,
					    .has_tsize = true};
		tsize += ents[i].r.tsize;
	}
	dynbuf_init(&dbuf, IMP_NODE_CAP);
	dynbuf_init(&nbuf, IMP_NODE_CAP);
	rc = imp_emit_node(p->cid_version, &d, links, n, &dbuf, &nbuf, fn, ctx, &out->cid);
	out->size = 0;
	out->tsize = tsize + nbuf.len;
	dynbuf_free(&dbuf);
	dynbuf_free(&nbuf);
	free(links);
	if (rc)
		return err_set(e, rc, "importer: cannot build directory node: %s", strerror(-rc));
	return 0;
}
