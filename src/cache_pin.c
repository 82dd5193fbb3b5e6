/* cache_pin: pinned roots (blocks that are never evicted) and the table of known packs. */
#include "cache_int.h"

#include <errno.h>
#include <stdlib.h>

#include "dynbuf.h"
#include "log.h"

#define CACHE_LIST_CAP (64u << 20) /* bytes of roots or packs listed at once */

/* ---- pins ---- */

struct cache_pin_arg {
	MDB_val root, block, root_bin;
};

static int cache_pin_fn(struct cache_w *w, void *arg)
{
	struct cache_pin_arg *a = arg;
	struct cache *c = w->c;
	struct cache_meta m;
	uint8_t lk[CACHE_LRU_KEY_MAX];
	MDB_val lv = {0, lk};
	int rc = mdb_put(w->txn, c->db_roots, &a->root, &a->root_bin, MDB_NOOVERWRITE);

	if (rc && rc != MDB_KEYEXIST)
		return rc;
	rc = mdb_put(w->txn, c->db_pins, &a->root, &a->block, MDB_NODUPDATA);
	if (rc)
		return rc == MDB_KEYEXIST ? 0 : rc;
	rc = mdb_put(w->txn, c->db_pinrev, &a->block, &a->root, MDB_NODUPDATA);
	if (rc && rc != MDB_KEYEXIST)
		return rc;
	if ((rc = cache_meta_get(c, w->txn, &a->block, &m)))
		return rc == MDB_NOTFOUND ? 0 : rc; /* pinned before it is cached */
	if (m.pins++ == 0) {
		lv.mv_size = cache_lru_key(m.seq, &a->block, lk);
		rc = mdb_del(w->txn, c->db_lru, &lv, NULL);
		if (rc && rc != MDB_NOTFOUND)
			return rc;
		w->t.pinned_blocks++;
		w->t.pinned_bytes += m.size;
	}
	return cache_meta_put(c, w->txn, &a->block, &m);
}

int cache_pin_add(struct cache *c, const struct cid *root, const struct cid *block)
{
	struct cache_pin_arg a;

	if (!c || cache_key_of(root, &a.root) || cache_key_of(block, &a.block))
		return -EINVAL;
	if (c->readonly)
		return -EROFS;
	a.root_bin.mv_size = root->len;
	a.root_bin.mv_data = (void *)root->bin;
	return cache_rc(c, cache_write(c, cache_pin_fn, &a, 0), "pin");
}

/* Drops one (root, block) pin; an unpinned cached block goes back to its LRU position. */
static int cache_unpin_block(struct cache_w *w, MDB_val *root, MDB_val *block)
{
	struct cache *c = w->c;
	struct cache_meta m;
	uint8_t lk[CACHE_LRU_KEY_MAX];
	MDB_val lv = {0, lk}, empty = {0, NULL};
	int rc = mdb_del(w->txn, c->db_pinrev, block, root);

	if (rc && rc != MDB_NOTFOUND)
		return rc;
	if ((rc = cache_meta_get(c, w->txn, block, &m)))
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (m.pins == 0)
		return 0;
	if (--m.pins == 0) {
		lv.mv_size = cache_lru_key(m.seq, block, lk);
		if ((rc = mdb_put(w->txn, c->db_lru, &lv, &empty, 0)))
			return rc;
		w->t.pinned_blocks -= w->t.pinned_blocks ? 1 : 0;
		w->t.pinned_bytes -= m.size < w->t.pinned_bytes ? m.size : w->t.pinned_bytes;
	}
	return cache_meta_put(c, w->txn, block, &m);
}

static int cache_unpin_fn(struct cache_w *w, void *arg)
{
	struct cache *c = w->c;
	MDB_val *root = arg, k = *root, d, b;
	struct cache_key key;
	MDB_cursor *cur;
	int rc;

	if ((rc = mdb_cursor_open(w->txn, c->db_pins, &cur)))
		return rc;
	rc = mdb_cursor_get(cur, &k, &d, MDB_SET);
	if (rc == MDB_NOTFOUND) {
		mdb_cursor_close(cur);
		rc = mdb_del(w->txn, c->db_roots, root, NULL);
		return rc == 0 ? 0 : rc == MDB_NOTFOUND ? ENOENT : rc;
	}
	while (!rc) {
		if (d.mv_size > 0 && d.mv_size <= CACHE_KEY_MAX) {
			key.len = (uint16_t)d.mv_size;
			memcpy(key.b, d.mv_data, key.len);
			b.mv_size = key.len;
			b.mv_data = key.b;
			if ((rc = cache_unpin_block(w, root, &b)))
				break;
		}
		rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT_DUP);
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return rc;
	if ((rc = mdb_del(w->txn, c->db_pins, root, NULL)))
		return rc;
	rc = mdb_del(w->txn, c->db_roots, root, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int cache_unpin(struct cache *c, const struct cid *root)
{
	MDB_val k;

	if (!c || cache_key_of(root, &k))
		return -EINVAL;
	if (c->readonly)
		return -EROFS;
	return cache_rc(c, cache_write(c, cache_unpin_fn, &k, 0), "unpin");
}

/* ---- listing ---- */

/* Appends every (key, value) of dbi to b as u16 klen, u16 vlen, key, value. Entries longer
 * than 64 KiB are skipped. Copies, so callbacks run with no txn open. */
static int cache_collect(struct cache *c, MDB_dbi dbi, struct dynbuf *b)
{
	MDB_txn *t;
	MDB_cursor *cur;
	MDB_val k, v;
	uint8_t hdr[4];
	int rc;

	if ((rc = cache_rtxn_get(c, &t)))
		return cache_rc(c, rc, "read txn");
	if ((rc = mdb_cursor_open(t, dbi, &cur))) {
		cache_rtxn_put(c, t);
		return cache_rc(c, rc, "cursor");
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size > UINT16_MAX || v.mv_size > UINT16_MAX)
			continue;
		hdr[0] = (uint8_t)k.mv_size;
		hdr[1] = (uint8_t)(k.mv_size >> 8);
		hdr[2] = (uint8_t)v.mv_size;
		hdr[3] = (uint8_t)(v.mv_size >> 8);
		if (dynbuf_append(b, hdr, 4) || dynbuf_append(b, k.mv_data, k.mv_size) ||
		    dynbuf_append(b, v.mv_data, v.mv_size)) {
			rc = ENOMEM;
			break;
		}
	}
	mdb_cursor_close(cur);
	cache_rtxn_put(c, t);
	return rc == MDB_NOTFOUND ? 0 : cache_rc(c, rc, "list");
}

/* Next record of a cache_collect buffer; false at the end. */
static bool cache_record(const struct dynbuf *b, size_t *pos, MDB_val *k, MDB_val *v)
{
	const uint8_t *p = b->data + *pos;

	if (b->len - *pos < 4)
		return false;
	k->mv_size = p[0] | (size_t)p[1] << 8;
	v->mv_size = p[2] | (size_t)p[3] << 8;
	k->mv_data = (void *)(p + 4);
	v->mv_data = (void *)(p + 4 + k->mv_size);
	*pos += 4 + k->mv_size + v->mv_size;
	return true;
}

static bool cache_cid_of_bin(const MDB_val *v, struct cid *cid)
{
	size_t used;

	return v->mv_size <= CID_MAX_BIN &&
	       cid_decode(v->mv_data, v->mv_size, cid, &used, NULL) == 0 && used == v->mv_size;
}

int cache_pins_foreach(struct cache *c, int (*fn)(void *ctx, const struct cid *root), void *ctx)
{
	struct dynbuf b;
	struct cid cid;
	MDB_val k, v;
	size_t pos = 0;
	int rc;

	if (!c || !fn)
		return -EINVAL;
	dynbuf_init(&b, CACHE_LIST_CAP);
	rc = cache_collect(c, c->db_roots, &b);
	while (!rc && cache_record(&b, &pos, &k, &v))
		if (cache_cid_of_bin(&v, &cid))
			rc = fn(ctx, &cid);
	dynbuf_free(&b);
	return rc;
}

/* ---- packs ---- */

struct cache_pack_arg {
	MDB_val root, label;
};

static int cache_pack_fn(struct cache_w *w, void *arg)
{
	struct cache_pack_arg *a = arg;

	return mdb_put(w->txn, w->c->db_packs, &a->root, &a->label, 0);
}

static int cache_pack_check(struct cache *c, const struct cid *root, const char *label)
{
	if (!c || !root || root->len == 0 || root->len > CID_MAX_BIN)
		return -EINVAL;
	if (label && strlen(label) > CACHE_LABEL_MAX)
		return -ENAMETOOLONG;
	return c->readonly ? -EROFS : 0;
}

/* 1 if the table already holds root with this label: no write txn then. */
static int cache_pack_known(struct cache *c, const struct cache_pack_arg *a)
{
	MDB_txn *t;
	MDB_val v;
	int same = 0;

	if (cache_rtxn_get(c, &t))
		return 0;
	if (mdb_get(t, c->db_packs, (MDB_val *)&a->root, &v) == 0)
		same = v.mv_size == a->label.mv_size &&
		       (!v.mv_size || !memcmp(v.mv_data, a->label.mv_data, v.mv_size));
	cache_rtxn_put(c, t);
	return same;
}

static int cache_pack_write(struct cache *c, const uint8_t *root, size_t len, const char *label)
{
	struct cache_pack_arg a;

	a.root.mv_size = len;
	a.root.mv_data = (void *)root;
	a.label.mv_size = label ? strlen(label) : 0;
	a.label.mv_data = (void *)(label ? label : "");
	if (cache_pack_known(c, &a))
		return 0;
	return cache_rc(c, cache_write(c, cache_pack_fn, &a, a.label.mv_size), "pack add");
}

int cache_pack_add(struct cache *c, const struct cid *root, const char *label)
{
	int rc = cache_pack_check(c, root, label);

	return rc ? rc : cache_pack_write(c, root->bin, root->len, label);
}

int cache_pack_note(struct cache *c, const struct cid *root, const char *label)
{
	struct cache_pack_note *p = NULL;
	char *copy = NULL;
	unsigned i;
	int rc = cache_pack_check(c, root, label);

	if (rc)
		return rc;
	if (!c->maint_running)
		return cache_pack_write(c, root->bin, root->len, label);
	if (label && !(copy = strdup(label)))
		return -ENOMEM;
	pthread_mutex_lock(&c->pk_lock);
	for (i = 0; i < c->pk_n && !p; i++)
		if (c->pk[i].len == root->len && !memcmp(c->pk[i].root, root->bin, root->len))
			p = &c->pk[i];
	if (p)
		free(p->label); /* noted again: the newer label wins */
	else if (c->pk_n < CACHE_PACK_PENDING)
		p = &c->pk[c->pk_n++];
	if (p) {
		memcpy(p->root, root->bin, root->len);
		p->len = (uint16_t)root->len;
		p->label = copy;
	}
	pthread_mutex_unlock(&c->pk_lock);
	if (p)
		return 0;
	free(copy);
	return cache_pack_write(c, root->bin, root->len, label); /* queue full */
}

void cache_packs_flush(struct cache *c)
{
	struct cache_pack_note batch[CACHE_PACK_PENDING];
	unsigned i, n;
	int rc;

	pthread_mutex_lock(&c->pk_lock);
	n = c->pk_n;
	memcpy(batch, c->pk, n * sizeof(batch[0]));
	c->pk_n = 0;
	pthread_mutex_unlock(&c->pk_lock);
	for (i = 0; i < n; i++) {
		if ((rc = cache_pack_write(c, batch[i].root, batch[i].len, batch[i].label)))
			log_warn("cache: %s: recording a pack: %s", c->dir, strerror(-rc));
		free(batch[i].label);
	}
}

int cache_packs_foreach(struct cache *c,
			int (*fn)(void *ctx, const struct cid *root, const char *label), void *ctx)
{
	char label[CACHE_LABEL_MAX + 1];
	struct dynbuf b;
	struct cid cid;
	MDB_val k, v;
	size_t pos = 0;
	int rc;

	if (!c || !fn)
		return -EINVAL;
	dynbuf_init(&b, CACHE_LIST_CAP);
	rc = cache_collect(c, c->db_packs, &b);
	while (!rc && cache_record(&b, &pos, &k, &v)) {
		if (!cache_cid_of_bin(&k, &cid) || v.mv_size > CACHE_LABEL_MAX ||
		    memchr(v.mv_data, 0, v.mv_size))
			continue;
		memcpy(label, v.mv_data, v.mv_size);
		label[v.mv_size] = '\0';
		rc = fn(ctx, &cid, v.mv_size ? label : NULL);
	}
	dynbuf_free(&b);
	return rc;
}
