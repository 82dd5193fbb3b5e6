/* cmd_verify: `mpack verify CID`: hash every block of a pack again (cached copies
 * included: this is the check for cache corruption) and every file's whole sha256 against
 * the manifest, or against SHA256SUMS at the top of a directory pack. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>

#include "cmd.h"
#include "dag.h"
#include "jsonw.h"
#include "multihash.h"
#include "walk.h"

#define VF_SUMS_NAME "SHA256SUMS"
#define VF_SUMS_MAX  (64u << 20)
#define VF_JSON_CAP  (512u << 20)
#define VF_MAX_BAD   100000 /* bad blocks remembered for the report */

struct vf_sum {
	char *path;
	uint8_t sha[32];
	bool seen;
};

struct vf_file {
	char *path;
	struct cid cid;
	uint64_t size;
	uint8_t sha[32], want[32];
	bool has_want, hashed, ok;
	char *error;
};

struct vf_bad {
	struct cid cid;
	char *file; /* may be NULL */
	char *why;
};

struct vf {
	struct walk_pack *p;
	struct vf_sum *sums;
	size_t nsums;
	bool have_sums;
	struct vf_file *files;
	size_t nfiles, fcap;
	struct vf_bad *bad;
	size_t nbad, bcap;
	uint64_t blocks, bytes;
	struct mh_sha256 h; /* of the current file */
	bool hashing;
	bool json;
};

static volatile sig_atomic_t vf_sigint;

static void vf_on_sigint(int sig)
{
	(void)sig;
	vf_sigint = 1;
}

static int vf_interrupted(void *ctx)
{
	(void)ctx;
	return vf_sigint;
}

static void vf_usage(FILE *f)
{
	fprintf(f,
		"usage: mpack verify [--json] [SOURCE OPTIONS] CID\n\n"
		"Check a pack completely: every block is read (from the cache, CAR files or the\n"
		"network) and hashed again against its CID, cached copies included, then each\n"
		"file's sha256 is compared with the manifest's \"sha256\" (a manifest pack) or\n"
		"with the SHA256SUMS file at the top of a directory pack. A block whose cached\n"
		"copy is corrupt is reported with its CID: 'mpack cache scrub' removes such\n"
		"blocks, and the next read fetches them again.\n\n"
		"  --json        one JSON object: {\"cid\",\"kind\",\"ok\",\"blocks\",\"bytes\",\n"
		"                "
		"\"files\":[{\"path\",\"cid\",\"size\",\"sha256\",\"expected\",\"ok\",\n"
		"                \"error\"}],\"bad_blocks\":[{\"cid\",\"file\",\"error\"}]}\n"
		"  -h, --help    this help\n\n%s\n"
		"Exit status: 0 everything verified, 1 a block or file is bad or missing,\n"
		"2 usage error.\n",
		srcopts_help());
}

/* ---- SHA256SUMS ---- */

static int vf_sum_cmp(const void *a, const void *b)
{
	return strcmp(((const struct vf_sum *)a)->path, ((const struct vf_sum *)b)->path);
}

/* One "HEX  PATH" or "HEX *PATH" line; 0 if it is not one. */
static int vf_sum_line(struct vf *v, char *line, size_t cap)
{
	struct vf_sum *x;
	size_t len = strlen(line);

	if (len < 67 || (line[65] != ' ' && line[65] != '*') || line[64] != ' ')
		return 0;
	line[64] = '\0';
	if (v->nsums >= cap || manifest_parse_sha256(line, v->sums[v->nsums].sha, NULL))
		return 0;
	x = &v->sums[v->nsums];
	x->path = strdup(line + 66);
	x->seen = false;
	if (!x->path)
		return -ENOMEM;
	v->nsums++;
	return 0;
}

static int vf_parse_sums(struct vf *v, char *text, size_t len)
{
	size_t i, lines = 1, bad = 0;
	char *line, *save = NULL;
	int rc = 0;

	for (i = 0; i < len; i++)
		lines += text[i] == '\n';
	v->sums = calloc(lines, sizeof(*v->sums));
	if (!v->sums)
		return -ENOMEM;
	for (line = strtok_r(text, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save)) {
		size_t before = v->nsums;

		rc = vf_sum_line(v, line, lines);
		bad += v->nsums == before;
	}
	if (bad)
		fprintf(stderr, "mpack verify: %s: %zu lines are not 'SHA256  PATH' (ignored)\n",
			VF_SUMS_NAME, bad);
	qsort(v->sums, v->nsums, sizeof(*v->sums), vf_sum_cmp);
	v->have_sums = true;
	return rc;
}

/* SHA256SUMS at the top of a directory pack, if there is one. */
static int vf_load_sums(struct vf *v, struct store *s, struct errbuf *e)
{
	struct cid cid;
	uint8_t *text;
	size_t len;
	int rc = dag_dir_lookup(s, &v->p->root, VF_SUMS_NAME, NULL, &cid, e);

	if (rc == -ENOENT)
		return 0;
	if (!rc)
		rc = dag_file_slurp(s, &cid, VF_SUMS_MAX, NULL, &text, &len, e);
	if (rc)
		return err_prefix(e, rc, "%s", VF_SUMS_NAME);
	rc = vf_parse_sums(v, (char *)text, len);
	free(text);
	return rc ? err_set(e, rc, "out of memory") : 0;
}

static struct vf_sum *vf_sum_find(struct vf *v, const char *path)
{
	struct vf_sum key = {.path = (char *)path};

	return v->nsums ? bsearch(&key, v->sums, v->nsums, sizeof(*v->sums), vf_sum_cmp) : NULL;
}

/* ---- walk callbacks ---- */

static int vf_add_bad(struct vf *v, const struct cid *cid, const char *file, const char *why)
{
	struct vf_bad *grown, *x;

	if (v->nbad >= VF_MAX_BAD)
		return 0;
	if (v->nbad == v->bcap) {
		v->bcap = v->bcap ? v->bcap * 2 : 16;
		grown = realloc(v->bad, v->bcap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		v->bad = grown;
	}
	x = &v->bad[v->nbad++];
	x->cid = *cid;
	x->file = file ? strdup(file) : NULL;
	x->why = strdup(why);
	return x->why ? 0 : -ENOMEM;
}

static struct vf_file *vf_new_file(struct vf *v, const struct walk_file *f)
{
	struct vf_file *grown, *x;

	if (v->nfiles == v->fcap) {
		v->fcap = v->fcap ? v->fcap * 2 : 16;
		grown = realloc(v->files, v->fcap * sizeof(*grown));
		if (!grown)
			return NULL;
		v->files = grown;
	}
	x = &v->files[v->nfiles];
	memset(x, 0, sizeof(*x));
	x->path = strdup(f->path);
	x->cid = f->cid;
	if (!x->path)
		return NULL;
	v->nfiles++;
	return x;
}

static void vf_set_error(struct vf_file *x, const char *fmt, const char *a, const char *b)
{
	char buf[ERRBUF_MAX];

	snprintf(buf, sizeof(buf), fmt, a, b);
	if (!x->error)
		x->error = strdup(buf);
	x->ok = false;
}

/* What the file's sha256 should be: the manifest entry, or SHA256SUMS. */
static void vf_expect(struct vf *v, struct vf_file *x, const struct walk_file *f)
{
	struct vf_sum *sum;

	if (f->entry && f->entry->has_sha256) {
		memcpy(x->want, f->entry->sha256, 32);
		x->has_want = true;
	} else if (f->role == WALK_ROLE_TREE && (sum = vf_sum_find(v, f->path))) {
		memcpy(x->want, sum->sha, 32);
		x->has_want = true;
		sum->seen = true;
	}
}

static void vf_file_end(struct vf *v, struct vf_file *x, const struct walk_file *f)
{
	char a[72], b[72], sz[32];

	x->size = f->size;
	x->ok = !f->failed;
	mh_sha256_final(&v->h, x->sha);
	v->hashing = false;
	x->hashed = !f->failed;
	vf_expect(v, x, f);
	if (f->failed) {
		vf_set_error(x, "%s%s", "incomplete: a block is bad or missing", "");
	} else if (x->has_want && memcmp(x->sha, x->want, 32)) {
		manifest_format_sha256(x->want, a);
		manifest_format_sha256(x->sha, b);
		vf_set_error(x, "sha256 mismatch: expected %s, content has %s", a, b);
	} else if (f->entry && f->entry->has_size && f->entry->size != f->size) {
		snprintf(sz, sizeof(sz), "%" PRIu64, f->entry->size);
		snprintf(a, sizeof(a), "%" PRIu64, f->size);
		vf_set_error(x, "size mismatch: manifest says %s, content has %s", sz, a);
	}
}

static int vf_file_cb(void *ctx, struct walk_file *f, bool end)
{
	struct vf *v = ctx;
	struct vf_file *x;

	if (!end) {
		if (!vf_new_file(v, f))
			return -ENOMEM;
		if (mh_sha256_init(&v->h))
			return -ENOMEM;
		v->hashing = true;
		return 0;
	}
	x = &v->files[v->nfiles - 1];
	vf_file_end(v, x, f);
	return 0;
}

static int vf_block_cb(void *ctx, const struct walk_block *b)
{
	struct vf *v = ctx;

	if (!b->dup) {
		v->blocks++;
		v->bytes += b->len;
	}
	if (b->file && v->hashing && b->content_len)
		mh_sha256_update(&v->h, b->content, b->content_len);
	return 0;
}

static int vf_fail_cb(void *ctx, const struct walk_file *f, const struct cid *cid, int err,
		      const char *why)
{
	struct vf *v = ctx;

	(void)err;
	return vf_add_bad(v, cid, f ? f->path : NULL, why);
}

/* ---- report ---- */

static void vf_missing_sums(struct vf *v)
{
	size_t i;
	struct vf_file *x;
	struct walk_file f = {0};

	for (i = 0; i < v->nsums; i++) {
		if (v->sums[i].seen)
			continue;
		f.path = v->sums[i].path;
		x = vf_new_file(v, &f);
		if (!x)
			return;
		memcpy(x->want, v->sums[i].sha, 32);
		x->has_want = true;
		vf_set_error(x, "listed in %s%s but not in the directory", VF_SUMS_NAME, "");
	}
}

static bool vf_ok(const struct vf *v)
{
	size_t i;

	for (i = 0; i < v->nfiles; i++)
		if (!v->files[i].ok)
			return false;
	return v->nbad == 0;
}

static void vf_json_file(struct jsonw *w, const struct vf_file *x)
{
	char sha[72];

	jw_obj(w);
	jw_kstr(w, "path", x->path);
	jw_kstr(w, "cid", x->cid.len ? cid_str(&x->cid) : NULL);
	jw_ku64(w, "size", x->size);
	manifest_format_sha256(x->sha, sha);
	jw_kstr(w, "sha256", x->hashed ? sha : NULL);
	manifest_format_sha256(x->want, sha);
	jw_kstr(w, "expected", x->has_want ? sha : NULL);
	jw_kbool(w, "ok", x->ok);
	jw_kstr(w, "error", x->error);
	jw_obj_end(w);
}

static int vf_print_json(const struct vf *v)
{
	struct jsonw w;
	size_t i;
	int rc;

	jw_init(&w, VF_JSON_CAP);
	jw_obj(&w);
	jw_kstr(&w, "cid", cid_str(&v->p->root));
	jw_kstr(&w, "kind", walk_pack_kind_name(v->p->kind));
	jw_kbool(&w, "ok", vf_ok(v));
	jw_ku64(&w, "blocks", v->blocks);
	jw_ku64(&w, "bytes", v->bytes);
	jw_kbool(&w, "sha256sums", v->have_sums);
	jw_key(&w, "files");
	jw_arr(&w);
	for (i = 0; i < v->nfiles; i++)
		vf_json_file(&w, &v->files[i]);
	jw_arr_end(&w);
	jw_key(&w, "bad_blocks");
	jw_arr(&w);
	for (i = 0; i < v->nbad; i++) {
		jw_obj(&w);
		jw_kstr(&w, "cid", cid_str(&v->bad[i].cid));
		jw_kstr(&w, "file", v->bad[i].file);
		jw_kstr(&w, "error", v->bad[i].why);
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_obj_end(&w);
	rc = jw_text(&w) ? 0 : 1;
	if (!rc)
		printf("%s\n", jw_text(&w));
	jw_free(&w);
	return rc;
}

static void vf_print_text(const struct vf *v)
{
	size_t i, checked = 0, bad = 0;

	for (i = 0; i < v->nbad; i++)
		fprintf(stderr, "mpack verify: block %s%s%s: %s\n", cid_str(&v->bad[i].cid),
			v->bad[i].file ? " in " : "", v->bad[i].file ? v->bad[i].file : "",
			v->bad[i].why);
	for (i = 0; i < v->nfiles; i++) {
		const struct vf_file *x = &v->files[i];

		checked += x->has_want && x->ok;
		bad += !x->ok;
		if (!x->ok)
			fprintf(stderr, "mpack verify: %s: %s\n", x->path[0] ? x->path : "-",
				x->error ? x->error : "bad");
		printf("%-4s %s\n", x->ok ? "ok" : "BAD", x->path[0] ? x->path : cid_str(&x->cid));
	}
	printf("%s: %zu files (%zu sha256 checked), %" PRIu64 " blocks, %" PRIu64 " bytes: %s\n",
	       cid_str(&v->p->root), v->nfiles, checked, v->blocks, v->bytes,
	       vf_ok(v) ? "ok" : "FAILED");
	if (bad || v->nbad)
		printf("%zu bad files, %zu bad blocks\n", bad, v->nbad);
}

static void vf_free(struct vf *v)
{
	size_t i;

	if (v->hashing)
		mh_sha256_free(&v->h);
	for (i = 0; i < v->nsums; i++)
		free(v->sums[i].path);
	free(v->sums);
	for (i = 0; i < v->nfiles; i++) {
		free(v->files[i].path);
		free(v->files[i].error);
	}
	free(v->files);
	for (i = 0; i < v->nbad; i++) {
		free(v->bad[i].file);
		free(v->bad[i].why);
	}
	free(v->bad);
	walk_pack_free(v->p);
}

/* ---- main ---- */

/* The root block itself, hashed again before anything trusts it. */
static int vf_check_root(struct store *s, const char *arg, struct errbuf *e)
{
	struct store_block b;
	struct cid cid;
	int rc = dag_resolve(s, arg, NULL, &cid, e);

	if (!rc)
		rc = store_get(s, &cid, NULL, &b, e);
	if (rc)
		return rc;
	rc = mh_verify(&cid, b.data, b.len, e);
	if (rc && b.from_cache)
		err_prefix(e, rc, "cached copy is corrupt ('mpack cache scrub' removes it)");
	store_block_release(s, &b);
	return rc;
}

static int vf_run(struct vf *v, struct store *s, const char *arg, struct errbuf *e)
{
	static const struct walk_ops ops = {vf_file_cb, vf_block_cb, vf_fail_cb};
	struct walk_opts wo = {.flags = WALK_LEAVES | WALK_VERIFY};
	int rc;

	wo.get.interrupted = vf_interrupted;
	rc = vf_check_root(s, arg, e);
	if (!rc)
		rc = walk_pack_open_arg(s, arg, &wo.get, &v->p, e);
	if (!rc && v->p->kind == WALK_PACK_DIR)
		rc = vf_load_sums(v, s, e);
	if (!rc)
		rc = walk_run(s, v->p, &wo, &ops, v, e);
	if (rc == -ENOMEM)
		return err_set(e, rc, "out of memory");
	if (!rc)
		vf_missing_sums(v);
	return rc;
}

int cmd_verify(int argc, char **argv)
{
	struct vf v = {0};
	struct srcopts so;
	struct errbuf e = {{0}};
	struct store *s = NULL;
	const char *arg = NULL;
	int rc;

	srcopts_init(&so);
	rc = cmd_args_cid("verify", vf_usage, argc, argv, &so, &arg, &v.json);
	if (rc)
		return rc < 0 ? 0 : rc;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, vf_on_sigint);
	rc = store_open(&so.cfg, &s, &e);
	if (!rc)
		rc = vf_run(&v, s, arg, &e);
	if (rc) {
		fprintf(stderr, "mpack verify: %s: %s\n", arg, e.msg[0] ? e.msg : strerror(-rc));
		rc = 1;
	} else {
		rc = v.json ? vf_print_json(&v) : (vf_print_text(&v), 0);
		rc = rc || !vf_ok(&v) ? 1 : cmd_flush("verify");
	}
	vf_free(&v);
	store_close(s);
	return rc;
}
