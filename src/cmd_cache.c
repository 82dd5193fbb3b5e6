/* cmd_cache: `mpack cache stats|gc|scrub|clear`: look after the local block cache. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>

#include "cmd.h"
#include "filecopy.h"
#include "jsonw.h"
#include "progress.h"

#define CC_JSON_CAP (64u << 20)

struct cc {
	const char *sub;
	bool json, yes;
	bool has_target;
	uint64_t target;
	struct srcopts so;
	char dir[PATH_MAX];
	struct cache *c;
	struct jsonw w; /* lists gathered for stats */
	uint64_t npacks, nroots, nbad;
};

static void cc_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: mpack cache stats [--json]\n"
	    "       mpack cache gc [--target SIZE] [--json]\n"
	    "       mpack cache scrub [--json]\n"
	    "       mpack cache clear --yes\n"
	    "options for all: --cache-dir DIR, --cache-size SIZE\n\n"
	    "  stats   blocks, payload bytes, size limit, pinned blocks, size of the data\n"
	    "          file, known packs and pinned roots\n"
	    "  gc      evict least recently used unpinned blocks now, down to the limit\n"
	    "          (--cache-size, default 20G) or to --target SIZE\n"
	    "  scrub   hash every cached block again; remove the ones that do not match\n"
	    "          (they are fetched again when next needed) and list them\n"
	    "  clear   remove every block, pin, pack and file copy; needs --yes\n\n"
	    "  --json      one JSON object:\n"
	    "              stats {\"dir\",\"blocks\",\"bytes\",\"max_bytes\",\"pinned_blocks\",\n"
	    "                "
	    "\"file_bytes\",\"packs\":[{\"cid\",\"label\"}],\"pinned_roots\":[CID]}\n"
	    "              gc {\"dir\",\"evicted\",\"bytes\",\"target\"}\n"
	    "              scrub {\"dir\",\"checked\",\"removed\",\"bad\":[{\"cid\",\"error\"}]}\n"
	    "  -h, --help  this help\n\n"
	    "Exit status: 0 done (scrub: also when it removed bad blocks, which it lists),\n"
	    "1 the cache could not be opened or an operation failed, 2 usage error.\n");
}

/* ---- stats ---- */

static int cc_pack(void *ctx, const struct cid *root, const char *label)
{
	struct cc *cc = ctx;

	if (!cc->json && !cc->npacks)
		printf("packs:\n");
	cc->npacks++;
	if (!cc->json) {
		printf("  %s%s%s\n", cid_str(root), label ? " " : "", label ? label : "");
		return 0;
	}
	jw_obj(&cc->w);
	jw_kstr(&cc->w, "cid", cid_str(root));
	jw_kstr(&cc->w, "label", label);
	jw_obj_end(&cc->w);
	return 0;
}

static int cc_root(void *ctx, const struct cid *root)
{
	struct cc *cc = ctx;

	if (!cc->json && !cc->nroots)
		printf("pinned roots:\n");
	cc->nroots++;
	if (cc->json)
		jw_str(&cc->w, cid_str(root));
	else
		printf("  %s\n", cid_str(root));
	return 0;
}

static int cc_stats(struct cc *cc)
{
	char a[24], b[24], d[24], f[24], cdir[4096];
	struct cache_stats st;
	uint64_t copies = 0;
	int rc = cache_stats_get(cc->c, &st);

	if (rc)
		return rc;
	if (filecopy_dir(cc->dir, cdir, sizeof(cdir)) == 0)
		copies = filecopy_bytes(cdir);
	if (!cc->json) {
		printf("cache    %s\nblocks   %" PRIu64 "\nbytes    %" PRIu64 " (%s)\n"
		       "max      %" PRIu64 " (%s)\npinned   %" PRIu64 " blocks\nfile     %" PRIu64
		       " (%s)\ncopies   %" PRIu64 " (%s)\n",
		       cc->dir, st.blocks, st.bytes, progress_bytes(st.bytes, a, sizeof(a)),
		       st.max_bytes, progress_bytes(st.max_bytes, b, sizeof(b)), st.pinned_blocks,
		       st.file_bytes, progress_bytes(st.file_bytes, d, sizeof(d)), copies,
		       progress_bytes(copies, f, sizeof(f)));
		rc = cache_packs_foreach(cc->c, cc_pack, cc);
		return rc ? rc : cache_pins_foreach(cc->c, cc_root, cc);
	}
	jw_obj(&cc->w);
	jw_kstr(&cc->w, "dir", cc->dir);
	jw_ku64(&cc->w, "blocks", st.blocks);
	jw_ku64(&cc->w, "bytes", st.bytes);
	jw_ku64(&cc->w, "max_bytes", st.max_bytes);
	jw_ku64(&cc->w, "pinned_blocks", st.pinned_blocks);
	jw_ku64(&cc->w, "file_bytes", st.file_bytes);
	jw_ku64(&cc->w, "copy_bytes", copies);
	jw_key(&cc->w, "packs");
	jw_arr(&cc->w);
	rc = cache_packs_foreach(cc->c, cc_pack, cc);
	jw_arr_end(&cc->w);
	jw_key(&cc->w, "pinned_roots");
	jw_arr(&cc->w);
	if (!rc)
		rc = cache_pins_foreach(cc->c, cc_root, cc);
	jw_arr_end(&cc->w);
	jw_obj_end(&cc->w);
	return rc;
}

/* ---- gc, scrub, clear ---- */

static int cc_gc(struct cc *cc)
{
	struct cache_stats st;
	uint64_t evicted = 0, target;
	int rc = cache_stats_get(cc->c, &st);

	if (rc)
		return rc;
	target = cc->has_target ? cc->target : st.max_bytes;
	rc = cache_gc(cc->c, target, &evicted);
	if (rc || (rc = cache_stats_get(cc->c, &st)))
		return rc;
	if (!cc->json) {
		printf("evicted %" PRIu64 " blocks; %" PRIu64 " bytes cached (target %" PRIu64
		       ")\n",
		       evicted, st.bytes, target);
		if (st.bytes > target)
			printf("the rest is pinned ('mpack unpin CID' releases it)\n");
		return 0;
	}
	jw_obj(&cc->w);
	jw_kstr(&cc->w, "dir", cc->dir);
	jw_ku64(&cc->w, "evicted", evicted);
	jw_ku64(&cc->w, "bytes", st.bytes);
	jw_ku64(&cc->w, "target", target);
	jw_obj_end(&cc->w);
	return 0;
}

static void cc_bad(void *ctx, const struct cid *cid, const char *why)
{
	struct cc *cc = ctx;

	cc->nbad++;
	if (!cc->json) {
		printf("removed %s: %s\n", cid_str(cid), why);
		return;
	}
	jw_obj(&cc->w);
	jw_kstr(&cc->w, "cid", cid_str(cid));
	jw_kstr(&cc->w, "error", why);
	jw_obj_end(&cc->w);
}

static int cc_scrub(struct cc *cc)
{
	uint64_t checked = 0, removed = 0;
	int rc;

	if (cc->json) {
		jw_obj(&cc->w);
		jw_kstr(&cc->w, "dir", cc->dir);
		jw_key(&cc->w, "bad");
		jw_arr(&cc->w);
	}
	rc = cache_scrub(cc->c, cc_bad, cc, &checked, &removed);
	if (!cc->json) {
		printf("checked %" PRIu64 " blocks, removed %" PRIu64 " bad\n", checked, removed);
		return rc;
	}
	jw_arr_end(&cc->w);
	jw_ku64(&cc->w, "checked", checked);
	jw_ku64(&cc->w, "removed", removed);
	jw_obj_end(&cc->w);
	return rc;
}

static int cc_clear(struct cc *cc)
{
	char cdir[4096];
	int rc = cache_clear(cc->c), n = 0;

	if (!rc && filecopy_dir(cc->dir, cdir, sizeof(cdir)) == 0 && (n = filecopy_clear(cdir)) < 0)
		fprintf(stderr, "mpack cache: %s: %s\n", cdir, strerror(-n));
	if (!rc)
		printf("cleared %s\n", cc->dir);
	return rc ? rc : (n < 0 ? n : 0);
}

/* ---- arguments, main ---- */

static int cc_opt(struct cc *cc, int argc, char **argv, int *i)
{
	const char *a = argv[*i], *v = NULL;

	if (!strcmp(a, "--json")) {
		cc->json = true;
	} else if (!strcmp(a, "--yes")) {
		cc->yes = true;
	} else if (!strcmp(a, "--target") || !strncmp(a, "--target=", 9)) {
		v = a[8] == '=' ? a + 9 : ++*i < argc ? argv[*i] : NULL;
		if (!v || srcopts_parse_size(v, &cc->target))
			return cmd_usage_err("cache",
					     "--target: '%s' is not a size (like 10G, "
					     "512M, 0)",
					     v ? v : "");
		cc->has_target = true;
	} else if (a[0] == '-' && a[1]) {
		return cmd_usage_err("cache", "unknown option '%s'", a);
	} else if (cc->sub) {
		return cmd_usage_err("cache", "unexpected argument '%s'", a);
	} else {
		cc->sub = a;
	}
	return 0;
}

static int cc_args(struct cc *cc, int argc, char **argv)
{
	int i = 1, rc;

	while (i < argc) {
		switch (cmd_arg_common("cache", &cc->so, argc, argv, &i)) {
		case CMD_ARG_HELP:
			cc_usage(stdout);
			return -1;
		case CMD_ARG_BAD:
			return EXIT_USAGE;
		case CMD_ARG_TAKEN:
			continue;
		}
		if ((rc = cc_opt(cc, argc, argv, &i)))
			return rc;
		i++;
	}
	if (!cc->sub)
		return cmd_usage_err("cache", "missing subcommand (stats, gc, scrub or clear)");
	if (strcmp(cc->sub, "stats") && strcmp(cc->sub, "gc") && strcmp(cc->sub, "scrub") &&
	    strcmp(cc->sub, "clear"))
		return cmd_usage_err("cache", "unknown subcommand '%s'", cc->sub);
	if (cc->has_target && strcmp(cc->sub, "gc"))
		return cmd_usage_err("cache", "--target is an option of 'cache gc'");
	if (!strcmp(cc->sub, "clear") && !cc->yes)
		return cmd_usage_err("cache", "clear removes every cached block: add --yes");
	if (cc->yes && strcmp(cc->sub, "clear"))
		return cmd_usage_err("cache", "--yes is an option of 'cache clear'");
	if (cc->json && !strcmp(cc->sub, "clear"))
		return cmd_usage_err("cache", "clear has no --json output");
	return cmd_finish_sources("cache", &cc->so);
}

static int cc_open(struct cc *cc, struct errbuf *e)
{
	struct cache_opts o = cc->so.cfg.cache;

	if (o.dir)
		snprintf(cc->dir, sizeof(cc->dir), "%s", o.dir);
	else
		cache_default_dir(cc->dir, sizeof(cc->dir));
	o.dir = cc->dir;
	return cache_open(&o, &cc->c, e);
}

static int cc_run(struct cc *cc)
{
	if (!strcmp(cc->sub, "stats"))
		return cc_stats(cc);
	if (!strcmp(cc->sub, "gc"))
		return cc_gc(cc);
	if (!strcmp(cc->sub, "scrub"))
		return cc_scrub(cc);
	return cc_clear(cc);
}

int cmd_cache(int argc, char **argv)
{
	struct cc *cc = calloc(1, sizeof(*cc));
	struct errbuf e = {{0}};
	int rc;

	if (!cc) {
		fprintf(stderr, "mpack cache: out of memory\n");
		return 1;
	}
	srcopts_init(&cc->so);
	rc = cc_args(cc, argc, argv);
	if (rc) {
		free(cc);
		return rc < 0 ? 0 : rc;
	}
	jw_init(&cc->w, CC_JSON_CAP);
	rc = cc_open(cc, &e);
	if (rc) {
		fprintf(stderr, "mpack cache: %s: %s\n", cc->sub, e.msg);
	} else {
		rc = cc_run(cc);
		if (rc)
			fprintf(stderr, "mpack cache: %s: %s: %s\n", cc->sub, cc->dir,
				strerror(-rc));
		else if (cc->json && jw_text(&cc->w))
			printf("%s\n", jw_text(&cc->w));
	}
	cache_close(cc->c);
	jw_free(&cc->w);
	free(cc);
	return rc ? 1 : cmd_flush("cache");
}
