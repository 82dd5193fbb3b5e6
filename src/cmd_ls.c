/* cmd_ls: `mpack ls CID[/PATH]`: list a UnixFS directory, a manifest's root, or a
 * directory a manifest's paths imply. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>

#include "cmd.h"
#include "dag.h"
#include "jsonw.h"
#include "walk.h"

#define LS_MAX_ENTRIES (1u << 22)
#define LS_JSON_CAP    (512u << 20)

enum { LS_FILE, LS_DIR, LS_SYMLINK };

struct ls_ent {
	char *name;
	int type;
	uint64_t size;
	bool size_known, has_cid;
	struct cid cid;
};

struct ls {
	struct store *s;
	struct ls_ent *ents;
	size_t n, cap;
};

static void ls_usage(FILE *f)
{
	fprintf(f,
		"usage: mpack ls [--json] [SOURCE OPTIONS] CID[/PATH]\n\n"
		"List a directory: a UnixFS directory (flat or HAMT-sharded), the root of a\n"
		"ModelPack manifest (its files and the directories their paths imply, plus\n"
		"MODEL_PACK.json), or a directory inside a manifest (MANIFEST_CID/shards).\n"
		"A file is listed alone. Text output: TYPE SIZE CID NAME per line.\n\n"
		"  --json        {\"path\":ARG,\"entries\":[{\"name\",\"type\":\"file\"|\"dir\"|\n"
		"                \"symlink\",\"size\":N|null,\"cid\":CID|null}]}\n"
		"  -h, --help    this help\n\n%s\n"
		"Exit status: 0 ok, 1 not found or unreadable, 2 usage error.\n",
		srcopts_help());
}

static const char *ls_type(int t)
{
	return t == LS_DIR ? "dir" : t == LS_SYMLINK ? "symlink" : "file";
}

static struct ls_ent *ls_add(struct ls *l, const char *name, size_t len)
{
	struct ls_ent *grown, *x;

	if (l->n >= LS_MAX_ENTRIES)
		return NULL;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 32;
		grown = realloc(l->ents, l->cap * sizeof(*grown));
		if (!grown)
			return NULL;
		l->ents = grown;
	}
	x = &l->ents[l->n];
	memset(x, 0, sizeof(*x));
	x->name = strndup(name, len);
	if (!x->name)
		return NULL;
	l->n++;
	return x;
}

/* Type and size of a directory entry: raw blocks are files; dag-pb nodes are read. */
static int ls_stat(struct ls *l, struct ls_ent *x, struct errbuf *e)
{
	struct store_block b;
	struct unode *n;
	int rc;

	if (x->cid.codec == CID_CODEC_RAW && x->size_known)
		return 0;
	rc = store_get(l->s, &x->cid, NULL, &b, e);
	if (rc)
		return err_prefix(e, rc, "%s: %s", x->name, cid_str(&x->cid));
	rc = unode_parse(&x->cid, b.data, b.len, &n, e);
	store_block_release(l->s, &b);
	if (rc)
		return err_prefix(e, rc, "%s: %s", x->name, cid_str(&x->cid));
	x->type = n->kind == UNODE_FILE ? LS_FILE : n->kind == UNODE_SYMLINK ? LS_SYMLINK : LS_DIR;
	x->size = n->size;
	x->size_known = x->type != LS_DIR;
	unode_free(n);
	return 0;
}

static int ls_dirent(void *ctx, const char *name, const struct cid *cid, uint64_t tsize)
{
	struct ls *l = ctx;
	struct ls_ent *x = ls_add(l, name, strlen(name));

	if (!x)
		return -ENOMEM;
	x->cid = *cid;
	x->has_cid = true;
	x->size = tsize;
	x->size_known = cid->codec == CID_CODEC_RAW;
	if (cid->codec != CID_CODEC_RAW)
		store_prefetch(l->s, cid, FETCH_PRIO_READAHEAD);
	return 0;
}

static int ls_dir(struct ls *l, const struct cid *dir, struct errbuf *e)
{
	size_t i;
	int rc = dag_dir_list(l->s, dir, NULL, ls_dirent, l, e);

	if (rc == -ENOMEM)
		return err_set(e, rc, "out of memory");
	for (i = 0; !rc && i < l->n; i++)
		rc = ls_stat(l, &l->ents[i], e);
	return rc;
}

/* A manifest entry under prefix (or the directory its path implies); whole: rest is the
 * entry itself (a file named on the command line). */
static int ls_manifest_one(struct ls *l, const struct mf_entry *en, const char *rest, bool whole)
{
	const char *slash = whole ? NULL : strchr(rest, '/');
	struct ls_ent *x;
	size_t i, n = slash ? (size_t)(slash - rest) : strlen(rest);

	if (slash)
		for (i = 0; i < l->n; i++)
			if (l->ents[i].type == LS_DIR && strlen(l->ents[i].name) == n &&
			    !memcmp(l->ents[i].name, rest, n))
				return 0;
	x = ls_add(l, rest, n);
	if (!x)
		return -ENOMEM;
	x->type = slash ? LS_DIR : LS_FILE;
	if (!slash) {
		x->cid = en->cid;
		x->has_cid = true;
		x->size = en->size;
		x->size_known = en->has_size;
	}
	return 0;
}

static int ls_manifest(struct ls *l, const struct walk_pack *p, const char *prefix,
		       struct errbuf *e)
{
	const struct manifest *m = p->m;
	size_t i, pl = strlen(prefix);
	struct ls_ent *x;
	int rc = 0;

	for (i = 0; !rc && i < m->nentries; i++) {
		const char *fn = m->entries[i].filename;

		if (pl && !strcmp(fn, prefix))
			rc = ls_manifest_one(l, &m->entries[i],
					     strrchr(fn, '/') ? strrchr(fn, '/') + 1 : fn, true);
		else if (!pl || (!strncmp(fn, prefix, pl) && fn[pl] == '/'))
			rc = ls_manifest_one(l, &m->entries[i], fn + (pl ? pl + 1 : 0), false);
	}
	if (!rc && !pl && (x = ls_add(l, WALK_MANIFEST_AS, strlen(WALK_MANIFEST_AS)))) {
		x->cid = p->root;
		x->has_cid = x->size_known = true;
		x->size = p->manifest_len;
	} else if (!rc && !pl) {
		rc = -ENOMEM;
	}
	if (rc)
		return err_set(e, rc, "out of memory");
	if (l->n == 0)
		return err_set(e, -ENOENT, "'%s' is not in manifest %s", prefix, cid_str(&p->root));
	for (i = 0; !rc && i < l->n; i++)
		if (l->ents[i].has_cid && !l->ents[i].size_known)
			rc = ls_stat(l, &l->ents[i], e);
	return rc;
}

static int ls_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ls_ent *)a)->name, ((const struct ls_ent *)b)->name);
}

/* Follow arg: directories by name, until a manifest takes the rest of the path. */
static int ls_run(struct ls *l, const char *arg, struct errbuf *e)
{
	const char *p = !strncmp(arg, "/ipfs/", 6) ? arg + 6 : arg, *slash = strchr(p, '/');
	struct walk_pack *pk = NULL;
	struct cid cur;
	char name[256] = "";
	size_t n;
	int rc = cid_parse(p, slash ? (size_t)(slash - p) : strlen(p), &cur, e);

	p = slash ? slash + 1 : "";
	while (!rc && !(rc = walk_pack_open(l->s, &cur, NULL, &pk, e))) {
		if (pk->kind == WALK_PACK_MANIFEST) {
			rc = ls_manifest(l, pk, p, e);
			if (l->n > 1)
				qsort(l->ents, l->n, sizeof(*l->ents), ls_cmp);
			break;
		}
		if (pk->kind == WALK_PACK_FILE && !*p) {
			rc = ls_dirent(l, name[0] ? name : cid_str(&cur), &cur, pk->size);
			if (!rc)
				rc = ls_stat(l, l->ents, e);
			break;
		}
		if (pk->kind == WALK_PACK_FILE)
			rc = err_set(e, -ENOTDIR, "%s is a file, not a directory", cid_str(&cur));
		if (rc || !*p) {
			rc = rc ? rc : ls_dir(l, &cur, e);
			break;
		}
		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || n >= sizeof(name)) {
			rc = err_set(e, -EINVAL, "bad path component in '%s'", arg);
		} else {
			memcpy(name, p, n);
			name[n] = '\0';
			rc = dag_dir_lookup(l->s, &cur, name, NULL, &cur, e);
		}
		p = slash ? slash + 1 : "";
		walk_pack_free(pk);
		pk = NULL;
	}
	walk_pack_free(pk);
	return rc;
}

static int ls_print(const struct ls *l, const char *arg, bool json)
{
	struct jsonw w;
	size_t i;
	int rc = 0;

	if (!json) {
		for (i = 0; i < l->n; i++) {
			const struct ls_ent *x = &l->ents[i];
			char sz[24] = "-";

			if (x->size_known)
				snprintf(sz, sizeof(sz), "%" PRIu64, x->size);
			printf("%-7s %14s %-61s %s\n", ls_type(x->type), sz,
			       x->has_cid ? cid_str(&x->cid) : "-", x->name);
		}
		return 0;
	}
	jw_init(&w, LS_JSON_CAP);
	jw_obj(&w);
	jw_kstr(&w, "path", arg);
	jw_key(&w, "entries");
	jw_arr(&w);
	for (i = 0; i < l->n; i++) {
		jw_obj(&w);
		jw_kstr(&w, "name", l->ents[i].name);
		jw_kstr(&w, "type", ls_type(l->ents[i].type));
		jw_key(&w, "size");
		l->ents[i].size_known ? jw_u64(&w, l->ents[i].size) : jw_null(&w);
		jw_kstr(&w, "cid", l->ents[i].has_cid ? cid_str(&l->ents[i].cid) : NULL);
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_obj_end(&w);
	if (jw_text(&w))
		printf("%s\n", jw_text(&w));
	else
		rc = 1;
	jw_free(&w);
	return rc;
}

int cmd_ls(int argc, char **argv)
{
	struct ls l = {0};
	struct srcopts so;
	struct errbuf e = {{0}};
	const char *arg = NULL;
	bool json = false;
	size_t i;
	int rc;

	srcopts_init(&so);
	rc = cmd_args_cid("ls", ls_usage, argc, argv, &so, &arg, &json);
	if (rc)
		return rc < 0 ? 0 : rc;
	signal(SIGPIPE, SIG_IGN);
	rc = store_open(&so.cfg, &l.s, &e);
	if (!rc)
		rc = ls_run(&l, arg, &e);
	if (rc) {
		fprintf(stderr, "mpack ls: %s: %s\n", arg, e.msg[0] ? e.msg : strerror(-rc));
		rc = 1;
	} else {
		rc = ls_print(&l, arg, json) | cmd_flush("ls");
	}
	for (i = 0; i < l.n; i++)
		free(l.ents[i].name);
	free(l.ents);
	store_close(l.s);
	return rc;
}
