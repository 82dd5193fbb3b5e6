/* cmd_import: `mpack import FILE.car...`: verify every block of CAR files and put the
 * good ones in the cache; record the roots that are packs in the cache's pack table. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "car.h"
#include "cmd.h"
#include "jsonw.h"
#include "multihash.h"
#include "walk.h"

#define IM_MAX_FILES 1024
#define IM_SHOW_BAD  5

struct im_file {
	const char *path;
	uint64_t blocks, added, present, bad;
	struct cid roots[CAR_MAX_ROOTS];
	int kinds[CAR_MAX_ROOTS]; /* walk_pack_kind, or -1 when not a readable pack */
	size_t nroots;
	char error[ERRBUF_MAX];
};

struct im {
	struct store *s;
	struct cache *c;
	struct im_file files[IM_MAX_FILES];
	size_t nfiles;
	bool json;
	int fd;
};

static void im_usage(FILE *f)
{
	fprintf(f,
		"usage: mpack import [--json] [--cache-dir DIR] [--cache-size SIZE] FILE.car...\n\n"
		"Read CAR files (v1 or v2; '-' is standard input), verify every block against\n"
		"its CID and put the good ones in the cache. Bad blocks are reported and not\n"
		"stored. Roots that are packs (a ModelPack manifest or a directory) are recorded\n"
		"in the cache's pack list, so mpackfs shows them offline.\n\n"
		"  --json        one JSON object: {\"files\":[{\"path\",\"blocks\",\"new\",\n"
		"                \"present\",\"bad\",\"roots\":[{\"cid\",\"kind\"}],\"error\"}],\n"
		"                \"new\",\"present\",\"bad\"}\n"
		"  -h, --help    this help\n\n"
		"Exit status: 0 every block verified and was stored, 1 a bad block, a\n"
		"malformed CAR or a cache error, 2 usage error.\n");
}

static ssize_t im_read(void *ctx, void *buf, size_t n)
{
	int fd = *(const int *)ctx;
	ssize_t got;

	do
		got = read(fd, buf, n);
	while (got < 0 && errno == EINTR);
	return got < 0 ? -errno : got;
}

/* One section: verify, then store. 0, or -errno for a cache failure that stops. */
static int im_block(struct im *im, struct im_file *f, const struct cid *cid, const uint8_t *data,
		    size_t len)
{
	struct errbuf e;
	int rc;

	f->blocks++;
	if (mh_verify(cid, data, len, &e)) {
		if (f->bad++ < IM_SHOW_BAD)
			fprintf(stderr, "mpack import: %s: %s: %s (not stored)\n", f->path,
				cid_str(cid), e.msg);
		return 0;
	}
	if (cid->mh_code == MH_IDENTITY || cache_has(im->c, cid) == 1) { /* identity: inline */
		f->present++;
		return 0;
	}
	rc = cache_put_stream(im->c, cid, data, len);
	if (rc) {
		snprintf(f->error, sizeof(f->error), "%s: cache: %s", cid_str(cid),
			 rc == -ENOSPC ? "full (everything left is pinned)" : strerror(-rc));
		return rc;
	}
	f->added++;
	return 0;
}

/* Which roots are packs: opened from the cache (offline store) now that it holds them. */
static void im_roots(struct im *im, struct im_file *f, const struct car_reader *r)
{
	struct walk_pack *p;
	struct errbuf e;
	size_t i;

	f->nroots = car_reader_nroots(r);
	for (i = 0; i < f->nroots; i++) {
		f->roots[i] = *car_reader_root(r, i);
		f->kinds[i] = -1;
		if (walk_pack_open(im->s, &f->roots[i], NULL, &p, &e))
			continue;
		f->kinds[i] = p->kind;
		if (p->kind != WALK_PACK_FILE)
			cache_pack_add(im->c, &f->roots[i], p->m ? p->m->name : NULL);
		walk_pack_free(p);
	}
}

static int im_file(struct im *im, struct im_file *f)
{
	struct car_reader *r = NULL;
	const uint8_t *data;
	struct errbuf e;
	struct cid cid;
	size_t len;
	int rc;

	im->fd = strcmp(f->path, "-") ? open(f->path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (im->fd < 0) {
		rc = -errno;
		snprintf(f->error, sizeof(f->error), "%s", strerror(-rc));
		return rc;
	}
	rc = car_reader_open(im_read, &im->fd, &r, &e);
	while (!rc && (rc = car_reader_next(r, &cid, &data, &len, NULL, &e)) == 1)
		rc = im_block(im, f, &cid, data, len);
	if (!rc)
		im_roots(im, f, r);
	if (rc < 0 && !f->error[0])
		snprintf(f->error, sizeof(f->error), "%s", e.msg);
	car_reader_free(r);
	if (im->fd != STDIN_FILENO)
		close(im->fd);
	return rc;
}

static void im_json(const struct im *im, uint64_t added, uint64_t present, uint64_t bad)
{
	struct jsonw w;
	size_t i, k;

	jw_init(&w, 16u << 20);
	jw_obj(&w);
	jw_key(&w, "files");
	jw_arr(&w);
	for (i = 0; i < im->nfiles; i++) {
		const struct im_file *f = &im->files[i];

		jw_obj(&w);
		jw_kstr(&w, "path", f->path);
		jw_ku64(&w, "blocks", f->blocks);
		jw_ku64(&w, "new", f->added);
		jw_ku64(&w, "present", f->present);
		jw_ku64(&w, "bad", f->bad);
		jw_key(&w, "roots");
		jw_arr(&w);
		for (k = 0; k < f->nroots; k++) {
			jw_obj(&w);
			jw_kstr(&w, "cid", cid_str(&f->roots[k]));
			jw_kstr(&w, "kind",
				f->kinds[k] < 0 ? NULL : walk_pack_kind_name(f->kinds[k]));
			jw_obj_end(&w);
		}
		jw_arr_end(&w);
		jw_kstr(&w, "error", f->error[0] ? f->error : NULL);
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_ku64(&w, "new", added);
	jw_ku64(&w, "present", present);
	jw_ku64(&w, "bad", bad);
	jw_obj_end(&w);
	if (jw_text(&w))
		printf("%s\n", jw_text(&w));
	jw_free(&w);
}

static int im_report(const struct im *im)
{
	uint64_t added = 0, present = 0, bad = 0;
	int failed = 0;
	size_t i, k;

	for (i = 0; i < im->nfiles; i++) {
		const struct im_file *f = &im->files[i];

		added += f->added;
		present += f->present;
		bad += f->bad;
		failed |= f->error[0] != '\0' || f->bad;
		if (f->error[0])
			fprintf(stderr, "mpack import: %s: %s\n", f->path, f->error);
		if (im->json)
			continue;
		printf("%s: %" PRIu64 " blocks: %" PRIu64 " new, %" PRIu64
		       " already present, %" PRIu64 " bad\n",
		       f->path, f->blocks, f->added, f->present, f->bad);
		for (k = 0; k < f->nroots; k++)
			printf("  root %s (%s)\n", cid_str(&f->roots[k]),
			       f->kinds[k] < 0 ? "not a readable pack"
					       : walk_pack_kind_name(f->kinds[k]));
	}
	if (im->json)
		im_json(im, added, present, bad);
	return failed;
}

static int im_args(int argc, char **argv, struct im *im, struct srcopts *so)
{
	int i = 1, opts = 1;

	while (i < argc) {
		if (opts) {
			switch (cmd_arg_common("import", so, argc, argv, &i)) {
			case CMD_ARG_HELP:
				im_usage(stdout);
				return -1;
			case CMD_ARG_BAD:
				return EXIT_USAGE;
			case CMD_ARG_TAKEN:
				continue;
			}
		}
		if (opts && !strcmp(argv[i], "--"))
			opts = 0;
		else if (opts && !strcmp(argv[i], "--json"))
			im->json = true;
		else if (opts && argv[i][0] == '-' && argv[i][1])
			return cmd_usage_err("import", "unknown option '%s'", argv[i]);
		else if (im->nfiles >= IM_MAX_FILES)
			return cmd_usage_err("import", "too many files (at most %d)", IM_MAX_FILES);
		else
			im->files[im->nfiles++].path = argv[i];
		i++;
	}
	if (!im->nfiles)
		return cmd_usage_err("import", "missing FILE.car");
	if (cmd_finish_sources("import", so))
		return EXIT_USAGE;
	if (so->cfg.no_cache)
		return cmd_usage_err("import", "--no-cache: there is no cache to import into");
	so->cfg.offline = true; /* roots are checked against what was imported */
	return 0;
}

int cmd_import(int argc, char **argv)
{
	struct im *im = calloc(1, sizeof(*im));
	struct srcopts so;
	struct errbuf e = {{0}};
	size_t i;
	int rc;

	if (!im) {
		fprintf(stderr, "mpack import: out of memory\n");
		return 1;
	}
	srcopts_init(&so);
	rc = im_args(argc, argv, im, &so);
	if (rc) {
		free(im);
		return rc < 0 ? 0 : rc;
	}
	signal(SIGPIPE, SIG_IGN);
	rc = store_open(&so.cfg, &im->s, &e);
	if (rc) {
		fprintf(stderr, "mpack import: %s\n", e.msg);
		free(im);
		return 1;
	}
	im->c = store_cache(im->s);
	for (i = 0; i < im->nfiles; i++)
		if (im_file(im, &im->files[i]) < 0 && !im->files[i].error[0])
			snprintf(im->files[i].error, ERRBUF_MAX, "failed");
	rc = im_report(im) ? 1 : cmd_flush("import");
	store_close(im->s);
	free(im);
	return rc;
}
