/* cache_scrub: re-verify cached blocks against their multihash, and a full consistency check
 * of the cache's tables for tests and tools. */
#include "cache_int.h"

#include <errno.h>
#include <stdlib.h>

#include "multihash.h"

#define CACHE_SCRUB_KEYS    256		/* blocks per read txn */
#define CACHE_SCRUB_BYTES   (64u << 20) /* bytes per read txn */
#define CACHE_SCRUB_KEY_MAX 511		/* LMDB's key limit */

struct cache_scrub_item {
	uint16_t len;
	uint8_t key[CACHE_SCRUB_KEY_MAX];
	struct errbuf why;
};

struct cache_scrub {
	struct cache *c;
	struct cache_scrub_item last; /* last key checked */
	bool started, end;
	unsigned nbad;
	struct cache_scrub_item bad[CACHE_SCRUB_KEYS];
};

int cache_cid_of_key(const uint8_t *mh, size_t len, struct cid *out)
{
	uint8_t bin[CID_MAX_BIN];
	size_t used;

	if (len == 0 || len + 2 > CID_MAX_BIN)
		return -EINVAL;
	bin[0] = 1;
	bin[1] = CID_CODEC_RAW;
	memcpy(bin + 2, mh, len);
	if (cid_decode(bin, len + 2, out, &used, NULL) || used != len + 2)
		return -EINVAL;
	return 0;
}

/* 0 if the block under k verifies and its metadata agrees; else the reason in e. */
static int cache_verify(struct cache *c, MDB_txn *t, MDB_val *k, const MDB_val *d, struct errbuf *e)
{
	struct cache_meta m;
	struct cid cid;
	int rc;

	if (cache_cid_of_key(k->mv_data, k->mv_size, &cid))
		return err_set(e, -EINVAL, "key is not a multihash");
	if ((rc = mh_verify(&cid, d->mv_data, d->mv_size, e)))
		return rc;
	if ((rc = cache_meta_get(c, t, k, &m)))
		return err_set(e, -EIO, "no metadata: %s", mdb_strerror(rc));
	if (m.size != d->mv_size)
		return err_set(e, -EIO, "metadata says %u bytes, block has %zu", m.size,
			       d->mv_size);
	return 0;
}

/* Checks the next batch of keys after s->last in one read txn; collects bad ones. */
static int cache_scrub_batch(struct cache_scrub *s, uint64_t *checked)
{
	struct cache *c = s->c;
	MDB_val k = {s->last.len, s->last.key}, d;
	size_t bytes = 0;
	unsigned n = 0;
	MDB_cursor *cur;
	MDB_txn *t;
	int rc;

	s->nbad = 0;
	if ((rc = cache_rtxn_get(c, &t)))
		return rc;
	if ((rc = mdb_cursor_open(t, c->db_blocks, &cur))) {
		cache_rtxn_put(c, t);
		return rc;
	}
	rc = mdb_cursor_get(cur, &k, &d, s->started ? MDB_SET_RANGE : MDB_FIRST);
	if (!rc && s->started && k.mv_size == s->last.len &&
	    !memcmp(k.mv_data, s->last.key, k.mv_size))
		rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
	for (; !rc && n < CACHE_SCRUB_KEYS && bytes < CACHE_SCRUB_BYTES;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		struct cache_scrub_item *b = &s->bad[s->nbad];

		if (k.mv_size > CACHE_SCRUB_KEY_MAX)
			continue;
		s->last.len = (uint16_t)k.mv_size;
		memcpy(s->last.key, k.mv_data, k.mv_size);
		s->started = true;
		if (cache_verify(c, t, &k, &d, &b->why)) {
			b->len = s->last.len;
			memcpy(b->key, k.mv_data, k.mv_size);
			s->nbad++;
		}
		n++;
		bytes += d.mv_size;
		(*checked)++;
	}
	s->end = rc == MDB_NOTFOUND;
	mdb_cursor_close(cur);
	cache_rtxn_put(c, t);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Deletes a bad block if it is still bad (it may have been replaced meanwhile). */
static int cache_scrub_del_fn(struct cache_w *w, void *arg)
{
	struct cache_scrub_item *b = arg;
	MDB_val k = {b->len, b->key}, d;
	struct errbuf e;
	int rc = mdb_get(w->txn, w->c->db_blocks, &k, &d);

	if (rc)
		return rc;
	if (cache_verify(w->c, w->txn, &k, &d, &e) == 0)
		return ENOENT;
	rc = cache_block_remove(w, &k, NULL);
	if (rc == MDB_NOTFOUND) /* a block without metadata: not in the totals */
		rc = mdb_del(w->txn, w->c->db_blocks, &k, NULL);
	return rc;
}

static void cache_scrub_report(const struct cache_scrub_item *b,
			       void (*bad)(void *ctx, const struct cid *cid, const char *why),
			       void *ctx)
{
	struct cid cid;

	if (!bad)
		return;
	if (cache_cid_of_key(b->key, b->len, &cid) &&
	    cid_from_digest(1, CID_CODEC_RAW, MH_IDENTITY, b->key,
			    b->len < MH_IDENTITY_MAX ? b->len : MH_IDENTITY_MAX, &cid))
		return;
	bad(ctx, &cid, b->why.msg);
}

int cache_scrub(struct cache *c, void (*bad)(void *ctx, const struct cid *cid, const char *why),
		void *ctx, uint64_t *checked, uint64_t *removed)
{
	struct cache_scrub *s;
	uint64_t nchecked = 0, nremoved = 0;
	int rc = 0;

	if (!c)
		return -EINVAL;
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	s->c = c;
	while (!s->end && !rc) {
		rc = cache_scrub_batch(s, &nchecked);
		for (unsigned i = 0; !rc && i < s->nbad; i++) {
			cache_scrub_report(&s->bad[i], bad, ctx);
			if (!c->readonly &&
			    cache_write_once(c, cache_scrub_del_fn, &s->bad[i]) == 0)
				nremoved++;
		}
	}
	free(s);
	if (checked)
		*checked = nchecked;
	if (removed)
		*removed = nremoved;
	return cache_rc(c, rc, "scrub");
}

/* ---- consistency ---- */

struct cache_census {
	struct cache_totals t;
	uint64_t unpinned;
};

/* Checks one meta entry against blocks, lru and pinrev. */
static int cache_check_meta(struct cache *c, MDB_txn *t, MDB_val *k, const MDB_val *v,
			    struct cache_census *n, struct errbuf *e)
{
	uint8_t lk[CACHE_LRU_KEY_MAX];
	MDB_val lv = {0, lk}, d;
	struct cache_meta m;
	MDB_cursor *cur;
	size_t pins = 0;
	int rc;

	if (cache_meta_dec(v, &m) || k->mv_size > CACHE_KEY_MAX)
		return err_set(e, -EIO, "cache: malformed meta entry");
	if (mdb_get(t, c->db_blocks, k, &d) || d.mv_size != m.size)
		return err_set(e, -EIO, "cache: meta entry without its block, or size differs");
	if ((rc = mdb_cursor_open(t, c->db_pinrev, &cur)))
		return err_set(e, -EIO, "cache: cursor: %s", mdb_strerror(rc));
	lv.mv_size = k->mv_size;
	memcpy(lk, k->mv_data, k->mv_size);
	if (mdb_cursor_get(cur, &lv, &d, MDB_SET) == 0)
		mdb_cursor_count(cur, &pins);
	mdb_cursor_close(cur);
	if (pins != m.pins)
		return err_set(e, -EIO, "cache: block has %u pins in meta, %zu in pinrev", m.pins,
			       pins);
	lv.mv_size = cache_lru_key(m.seq, k, lk);
	rc = mdb_get(t, c->db_lru, &lv, &d);
	if (m.pins ? rc != MDB_NOTFOUND : rc != 0)
		return err_set(e, -EIO, "cache: lru entry %s for a block with %u pins",
			       rc ? "missing" : "present", m.pins);
	if (m.seq >= n->t.next_seq)
		return err_set(e, -EIO, "cache: seq %llu beyond next_seq",
			       (unsigned long long)m.seq);
	n->t.blocks++;
	n->t.bytes += m.size;
	if (m.pins) {
		n->t.pinned_blocks++;
		n->t.pinned_bytes += m.size;
	} else {
		n->unpinned++;
	}
	return 0;
}

static int cache_check_txn(struct cache *c, MDB_txn *t, struct errbuf *e)
{
	struct cache_census n = {0};
	struct cache_totals tot;
	MDB_stat sb, sl;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if ((rc = cache_totals_read(c, t, &tot)))
		return err_set(e, -EIO, "cache: totals: %s", mdb_strerror(rc));
	n.t.next_seq = tot.next_seq;
	if ((rc = mdb_cursor_open(t, c->db_meta, &cur)))
		return err_set(e, -EIO, "cache: cursor: %s", mdb_strerror(rc));
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if ((rc = cache_check_meta(c, t, &k, &v, &n, e)))
			break;
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return rc < 0 && rc > -4096 ? rc : err_set(e, -EIO, "cache: %s", mdb_strerror(rc));
	if (mdb_stat(t, c->db_blocks, &sb) || mdb_stat(t, c->db_lru, &sl))
		return err_set(e, -EIO, "cache: mdb_stat failed");
	if (sb.ms_entries != n.t.blocks || sl.ms_entries != n.unpinned)
		return err_set(e, -EIO,
			       "cache: %zu blocks and %zu lru entries for %llu meta entries",
			       sb.ms_entries, sl.ms_entries, (unsigned long long)n.t.blocks);
	if (memcmp(&n.t, &tot, sizeof(tot)))
		return err_set(e, -EIO,
			       "cache: totals say %llu blocks %llu bytes %llu/%llu pinned, data "
			       "has %llu blocks %llu bytes %llu/%llu pinned",
			       (unsigned long long)tot.blocks, (unsigned long long)tot.bytes,
			       (unsigned long long)tot.pinned_blocks,
			       (unsigned long long)tot.pinned_bytes, (unsigned long long)n.t.blocks,
			       (unsigned long long)n.t.bytes, (unsigned long long)n.t.pinned_blocks,
			       (unsigned long long)n.t.pinned_bytes);
	return 0;
}

int cache_check_consistency(struct cache *c, struct errbuf *e)
{
	MDB_txn *t;
	int rc;

	if ((rc = cache_rtxn_get(c, &t)))
		return err_set(e, -EIO, "cache: read txn: %s", mdb_strerror(rc));
	rc = cache_check_txn(c, t, e);
	cache_rtxn_put(c, t);
	return rc;
}
