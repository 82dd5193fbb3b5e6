/* cmd_info: `mpack info CID`: what a pack is (manifest fields, files with sizes, CIDs,
 * sha256) and how much of each file is held locally. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>

#include "cmd.h"
#include "jsonw.h"
#include "log.h"
#include "progress.h"
#include "walk.h"

#define INFO_DEADLINE_MS 5000 /* for internal nodes that are not local */
#define INFO_JSON_CAP	 (256u << 20)

struct info_file {
	char *path;
	struct cid cid;
	int role; /* enum mf_role, or -1 for a tree file */
	const struct mf_entry *en;
	uint64_t size, cached;
	bool size_known;
	char *error; /* the root could not be read */
};

struct info {
	const struct walk_pack *p;
	struct info_file *files;
	size_t nfiles, cap;
	struct info_file *cur;
};

static void info_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: mpack info [--json] [SOURCE OPTIONS] CID[/PATH]\n\n"
	    "Describe a pack: a ModelPack manifest CID (name, version, format, license and\n"
	    "its files), a UnixFS directory CID (the files of its tree) or a file CID.\n"
	    "For each file: role, size, CID, sha256 (from the manifest) and the share of\n"
	    "its bytes held locally (cache or --car files). Leaves are never fetched to\n"
	    "compute that share; internal DAG nodes may be, with a short deadline.\n\n"
	    "  --json        one JSON object: {\"cid\",\"kind\",\"name\",\"version\",\"format\",\n"
	    "                "
	    "\"license\",\"files\":[{\"path\",\"role\",\"cid\",\"size\",\"sha256\",\n"
	    "                \"cached_bytes\",\"cached_percent\"}],\"total_bytes\",\n"
	    "                \"cached_bytes\",\"cached_percent\"}\n"
	    "  -h, --help    this help\n\n%s\n"
	    "A file whose root block cannot be read is shown with the manifest's size (or\n"
	    "'?') and 0%% cached, with a note on stderr.\n\n"
	    "Exit status: 0 ok, 1 the pack's root could not be read, 2 usage error.\n",
	    srcopts_help());
}

static const char *info_role(const struct info_file *f)
{
	static const char *const names[] = {"shard", "tokenizer", "file"};

	return f->role >= 0 && f->role <= MF_FILE ? names[f->role] : "file";
}

static double info_pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 100.0;
}

static int info_file_cb(void *ctx, struct walk_file *f, bool end)
{
	struct info *in = ctx;
	struct info_file *x, *grown;

	if (f->role == WALK_ROLE_MANIFEST)
		return 0;
	if (end) {
		in->cur->size = f->size;
		in->cur->size_known = f->size_known;
		if (!f->size_known && f->entry && f->entry->has_size) {
			in->cur->size = f->entry->size;
			in->cur->size_known = true;
		}
		in->cur = NULL;
		return 0;
	}
	if (in->nfiles == in->cap) {
		in->cap = in->cap ? in->cap * 2 : 16;
		grown = realloc(in->files, in->cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		in->files = grown;
	}
	x = &in->files[in->nfiles++];
	memset(x, 0, sizeof(*x));
	x->path = strdup(f->path);
	x->cid = f->cid;
	x->en = f->entry;
	x->role = f->entry ? f->entry->role : -1;
	in->cur = x;
	return x->path ? 0 : -ENOMEM;
}

static int info_block_cb(void *ctx, const struct walk_block *b)
{
	struct info *in = ctx;

	if (in->cur && b->was_local)
		in->cur->cached += b->content_bytes;
	return 0;
}

/* Blocks that cannot be had (in time) count as not cached. A file root that cannot be
 * read leaves the size to the manifest and is noted, but info still succeeds: the pack is
 * described, it is just not local. */
static int info_fail_cb(void *ctx, const struct walk_file *f, const struct cid *cid, int err,
			const char *why)
{
	struct info *in = ctx;

	(void)err;
	if (in->cur && f && cid_mh_equal(cid, &f->cid) && !in->cur->error)
		in->cur->error = strdup(why);
	return 0;
}

static void info_json_file(struct jsonw *w, const struct info_file *f)
{
	char sha[72];

	jw_obj(w);
	jw_kstr(w, "path", f->path);
	jw_kstr(w, "role", info_role(f));
	jw_kstr(w, "cid", cid_str(&f->cid));
	jw_key(w, "size");
	if (f->size_known)
		jw_u64(w, f->size);
	else
		jw_null(w);
	jw_key(w, "sha256");
	if (f->en && f->en->has_sha256) {
		manifest_format_sha256(f->en->sha256, sha);
		jw_str(w, sha);
	} else {
		jw_null(w);
	}
	jw_ku64(w, "cached_bytes", f->cached);
	jw_kdbl(w, "cached_percent", f->size_known ? info_pct(f->cached, f->size) : 0);
	if (f->error)
		jw_kstr(w, "error", f->error);
	jw_obj_end(w);
}

static void info_totals(const struct info *in, uint64_t *total, uint64_t *cached)
{
	size_t i;

	*total = *cached = 0;
	for (i = 0; i < in->nfiles; i++) {
		*total += in->files[i].size;
		*cached += in->files[i].cached;
	}
}

static int info_print_json(const struct info *in)
{
	const struct manifest *m = in->p->m;
	uint64_t total, cached;
	struct jsonw w;
	size_t i;
	int rc;

	info_totals(in, &total, &cached);
	jw_init(&w, INFO_JSON_CAP);
	jw_obj(&w);
	jw_kstr(&w, "cid", cid_str(&in->p->root));
	jw_kstr(&w, "kind", walk_pack_kind_name(in->p->kind));
	jw_kstr(&w, "name", m ? m->name : NULL);
	jw_kstr(&w, "version", m ? m->version : NULL);
	jw_kstr(&w, "format", m ? m->format : NULL);
	jw_kstr(&w, "license", m ? m->license : NULL);
	if (in->p->not_manifest[0])
		jw_kstr(&w, "manifest_error", in->p->not_manifest);
	jw_key(&w, "files");
	jw_arr(&w);
	for (i = 0; i < in->nfiles; i++)
		info_json_file(&w, &in->files[i]);
	jw_arr_end(&w);
	jw_ku64(&w, "total_bytes", total);
	jw_ku64(&w, "cached_bytes", cached);
	jw_kdbl(&w, "cached_percent", info_pct(cached, total));
	jw_obj_end(&w);
	rc = jw_text(&w) ? 0 : -ENOMEM;
	if (!rc)
		printf("%s\n", jw_text(&w));
	jw_free(&w);
	return rc;
}

static void info_print_text(const struct info *in)
{
	const struct manifest *m = in->p->m;
	char sz[24], sha[72];
	uint64_t total, cached;
	size_t i;

	info_totals(in, &total, &cached);
	printf("pack     %s (%s)\n", cid_str(&in->p->root), walk_pack_kind_name(in->p->kind));
	if (m) {
		printf("name     %s\n", m->name ? m->name : "-");
		printf("version  %s\n", m->version ? m->version : "-");
		printf("format   %s\n", m->format ? m->format : "-");
		printf("license  %s\n", m->license ? m->license : "-");
	} else if (in->p->not_manifest[0]) {
		printf("note     not a manifest: %s\n", in->p->not_manifest);
	}
	printf("files    %zu, %s, %.1f%% cached\n\n", in->nfiles,
	       progress_bytes(total, sz, sizeof(sz)), info_pct(cached, total));
	printf("%-9s %14s %7s  %-61s %s\n", "ROLE", "SIZE", "CACHED", "CID", "PATH");
	for (i = 0; i < in->nfiles; i++) {
		const struct info_file *f = &in->files[i];

		if (f->size_known)
			snprintf(sz, sizeof(sz), "%" PRIu64, f->size);
		else
			snprintf(sz, sizeof(sz), "?");
		printf("%-9s %14s %6.1f%%  %-61s %s\n", info_role(f), sz,
		       f->size_known ? info_pct(f->cached, f->size) : 0.0, cid_str(&f->cid),
		       f->path[0] ? f->path : "-");
		if (f->en && f->en->has_sha256) {
			manifest_format_sha256(f->en->sha256, sha);
			printf("%-9s %14s %7s  %s\n", "", "", "", sha);
		}
	}
}

static void info_free(struct info *in)
{
	size_t i;

	for (i = 0; i < in->nfiles; i++) {
		free(in->files[i].path);
		free(in->files[i].error);
	}
	free(in->files);
}

static int info_report(struct info *in, bool json)
{
	size_t i;

	if (json ? info_print_json(in) : (info_print_text(in), 0))
		return 1;
	for (i = 0; i < in->nfiles; i++)
		if (in->files[i].error)
			fprintf(stderr, "mpack info: %s: not readable now: %s\n",
				in->files[i].path[0] ? in->files[i].path
						     : cid_str(&in->files[i].cid),
				in->files[i].error);
	return 0;
}

int cmd_info(int argc, char **argv)
{
	static const struct walk_ops ops = {info_file_cb, info_block_cb, info_fail_cb};
	struct walk_opts wo = {.flags = WALK_PROBE, .window = -1};
	struct info in = {0};
	struct walk_pack *p = NULL;
	struct srcopts so;
	struct errbuf e = {{0}};
	struct store *s = NULL;
	const char *arg = NULL;
	bool json = false;
	int rc;

	srcopts_init(&so);
	rc = cmd_args_cid("info", info_usage, argc, argv, &so, &arg, &json);
	if (rc)
		return rc < 0 ? 0 : rc;
	signal(SIGPIPE, SIG_IGN);
	log_init(NULL, LOG_LVL_ERROR, 0); /* unreadable files get a note of their own */
	wo.get.deadline_ms = so.cfg.fetch.deadline_ms < INFO_DEADLINE_MS ? so.cfg.fetch.deadline_ms
									 : INFO_DEADLINE_MS;
	rc = store_open(&so.cfg, &s, &e);
	if (!rc)
		rc = walk_pack_open_arg(s, arg, NULL, &p, &e);
	in.p = p;
	if (!rc)
		rc = walk_run(s, p, &wo, &ops, &in, &e);
	if (rc) {
		fprintf(stderr, "mpack info: %s: %s\n", arg, e.msg[0] ? e.msg : strerror(-rc));
		rc = 1;
	} else {
		rc = info_report(&in, json);
		rc |= cmd_flush("info");
	}
	info_free(&in);
	walk_pack_free(p);
	store_close(s);
	return rc;
}
