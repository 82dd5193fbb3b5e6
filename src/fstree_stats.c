/* fstree_stats: the JSON behind /.mpackfs/stats. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filecopy.h"
#include "fstree_int.h"
#include "jsonw.h"
#include "version.h"

#define STATS_MAX_BYTES (4u << 20)

static void store_json(struct jsonw *w, struct store *s)
{
	struct store_stats st;

	store_stats_get(s, &st);
	jw_key(w, "store");
	jw_obj(w);
	jw_ku64(w, "gets", st.gets);
	jw_ku64(w, "cache_hits", st.cache_hits);
	jw_ku64(w, "car_hits", st.car_hits);
	jw_ku64(w, "fetched", st.fetched);
	jw_ku64(w, "fetched_bytes", st.fetched_bytes);
	jw_ku64(w, "verify_failures", st.verify_failures);
	jw_ku64(w, "errors", st.errors);
	jw_ku64(w, "timeouts", st.timeouts);
	jw_ku64(w, "not_found", st.not_found);
	jw_ku64(w, "interrupted", st.interrupted);
	jw_ku64(w, "singleflight_joins", st.singleflight_joins);
	jw_ku64(w, "direct_bytes", st.direct_bytes);
	jw_ku64(w, "in_flight", (uint64_t)(st.in_flight > 0 ? st.in_flight : 0));
	jw_obj_end(w);
}

static void passthrough_json(struct jsonw *w, struct fstree_pt *pt)
{
	jw_key(w, "passthrough");
	jw_obj(w);
	jw_kbool(w, "active", atomic_load(&pt->active));
	jw_ku64(w, "opens", atomic_load(&pt->opens));
	jw_ku64(w, "copies_made", atomic_load(&pt->copies));
	jw_ku64(w, "copy_bytes", pt->dir[0] ? filecopy_bytes(pt->dir) : 0);
	jw_obj_end(w);
	jw_key(w, "cold_direct");
	jw_obj(w);
	jw_kbool(w, "active", atomic_load(&pt->cold_direct));
	jw_ku64(w, "opens", atomic_load(&pt->direct_opens));
	jw_obj_end(w);
}

static void cache_json(struct jsonw *w, struct cache *c)
{
	struct cache_stats cs;

	jw_key(w, "cache");
	if (!c || cache_stats_get(c, &cs) < 0) {
		jw_null(w);
		return;
	}
	jw_obj(w);
	jw_ku64(w, "blocks", cs.blocks);
	jw_ku64(w, "bytes", cs.bytes);
	jw_ku64(w, "max_bytes", cs.max_bytes);
	jw_ku64(w, "pinned_blocks", cs.pinned_blocks);
	jw_ku64(w, "file_bytes", cs.file_bytes);
	jw_ku64(w, "hits", cs.hits);
	jw_ku64(w, "misses", cs.misses);
	jw_ku64(w, "puts", cs.puts);
	jw_ku64(w, "evictions", cs.evictions);
	jw_obj_end(w);
}

static void sources_json(struct jsonw *w, struct store *s)
{
	struct fetch_source_stats ss[FETCH_MAX_SOURCES];
	size_t n, i;

	n = store_source_stats(s, ss, FETCH_MAX_SOURCES);
	jw_key(w, "sources");
	jw_arr(w);
	for (i = 0; i < n && i < FETCH_MAX_SOURCES; i++) {
		jw_obj(w);
		jw_kstr(w, "url", ss[i].url);
		jw_kstr(w, "kind", ss[i].kind == FETCH_SRC_API ? "api" : "gateway");
		jw_ku64(w, "requests", ss[i].requests);
		jw_ku64(w, "ok", ss[i].ok);
		jw_ku64(w, "not_found", ss[i].not_found);
		jw_ku64(w, "errors", ss[i].errors);
		jw_ku64(w, "verify_failures", ss[i].verify_failures);
		jw_ku64(w, "retries", ss[i].retries);
		jw_ku64(w, "bytes", ss[i].bytes);
		jw_kdbl(w, "latency_ms_avg",
			ss[i].ok ? (double)ss[i].latency_us_sum / (double)ss[i].ok / 1000.0 : 0.0);
		jw_kdbl(w, "latency_ms_max", (double)ss[i].latency_us_max / 1000.0);
		jw_ku64(w, "in_flight", (uint64_t)(ss[i].in_flight > 0 ? ss[i].in_flight : 0));
		jw_ku64(w, "slots", (uint64_t)(ss[i].slots > 0 ? ss[i].slots : 0));
		jw_kbool(w, "cooling", ss[i].cooling);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

/* Snapshot of a pack's file nodes (lock held while copying pointers only). */
static void pack_json(struct jsonw *w, struct fstree *t, struct fs_pack *p)
{
	struct fsn *n, **files = NULL;
	size_t nf = 0, cap = 0, i, b;
	uint64_t total = 0;
	double cached = 0, pct;

	pthread_mutex_lock(&t->lock);
	for (b = 0; b < FSTREE_HASH_BUCKETS; b++)
		for (n = t->buckets[b]; n; n = n->hnext) {
			if (n->pack != p || n->kind != FSN_FILE)
				continue;
			if (nf == cap) {
				struct fsn **v;

				cap = cap ? cap * 2 : 16;
				v = realloc(files, cap * sizeof(*v));
				if (!v)
					break;
				files = v;
			}
			files[nf++] = n;
		}
	pthread_mutex_unlock(&t->lock);
	for (i = 0; i < nf; i++) {
		total += files[i]->size;
		if (fstree_cached_percent(t, files[i], &pct) == 0)
			cached += pct / 100.0 * (double)files[i]->size;
	}
	free(files);
	jw_obj(w);
	jw_kstr(w, "cid", cid_str(&p->root));
	jw_kstr(w, "label", p->label);
	jw_kstr(w, "kind", p->m ? "modelpack" : "unixfs");
	jw_ku64(w, "files", nf);
	jw_ku64(w, "bytes", total);
	jw_ku64(w, "cached_bytes", (uint64_t)cached);
	jw_kdbl(w, "fetched_pct", total ? 100.0 * cached / (double)total : 100.0);
	jw_obj_end(w);
}

char *fstree_stats_json(struct fstree *t)
{
	struct jsonw w;
	struct fs_pack *p, *head;
	const char *txt;
	char *out = NULL;

	jw_init(&w, STATS_MAX_BYTES);
	jw_obj(&w);
	jw_kstr(&w, "version", MPACK_VERSION);
	jw_ku64(&w, "uptime_s", (uint64_t)(time(NULL) - t->mount_time));
	store_json(&w, t->cfg.store);
	cache_json(&w, store_cache(t->cfg.store));
	passthrough_json(&w, &t->pt);
	sources_json(&w, t->cfg.store);
	pthread_mutex_lock(&t->lock);
	head = t->packs; /* packs are prepended only; the list below head is immutable */
	pthread_mutex_unlock(&t->lock);
	jw_key(&w, "packs");
	jw_arr(&w);
	for (p = head; p; p = p->next)
		pack_json(&w, t, p);
	jw_arr_end(&w);
	jw_obj_end(&w);
	txt = jw_text(&w);
	if (txt) {
		out = malloc(strlen(txt) + 2);
		if (out) {
			strcpy(out, txt);
			strcat(out, "\n");
		}
	}
	jw_free(&w);
	return out;
}
