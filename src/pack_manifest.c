/* pack_manifest: the ModelPack manifest of a walked directory: roles, shard
 * order, format, config and provenance. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "manifest.h"
#include "pack_int.h"
#include "version.h"

const char *pack_role_name(int role)
{
	switch (role) {
	case PACK_SHARD:
		return "shard";
	case PACK_TOKENIZER:
		return "tokenizer";
	case PACK_SUMS:
		return "sha256sums";
	default:
		return "file";
	}
}

bool pack_is_shard(const char *path)
{
	static const char *const ext[] = {".safetensors", ".gguf", ".bin", ".pt", ".pth"};
	size_t n = strlen(path), i, k;

	for (i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		k = strlen(ext[i]);
		if (n > k && !strcmp(path + n - k, ext[i]) && path[n - k - 1] != '/')
			return true;
	}
	return false;
}

int pack_natural_cmp(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
	size_t lx, ly;
	int r;

	while (*x && *y) {
		if (isdigit(*x) && isdigit(*y)) {
			while (*x == '0' && isdigit(x[1]))
				x++;
			while (*y == '0' && isdigit(y[1]))
				y++;
			for (lx = 0; isdigit(x[lx]); lx++)
				;
			for (ly = 0; isdigit(y[ly]); ly++)
				;
			if (lx != ly)
				return lx < ly ? -1 : 1;
			r = memcmp(x, y, lx);
			if (r)
				return r < 0 ? -1 : 1;
			x += lx;
			y += ly;
			continue;
		}
		if (*x != *y)
			return *x < *y ? -1 : 1;
		x++;
		y++;
	}
	if (*x || *y)
		return *x ? 1 : -1;
	return strcmp(a, b);
}

/* ---- distinct blocks and the CAR ---- */

static int pk_created(time_t *t, struct errbuf *e)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	unsigned long long v = 0;
	size_t i;

	if (!s || !*s) {
		*t = time(NULL);
		return 0;
	}
	for (i = 0; s[i]; i++) {
		if (!isdigit((unsigned char)s[i]) || i >= 12)
			return err_set(e, -EINVAL,
				       "SOURCE_DATE_EPOCH: \"%s\" is not a time in "
				       "seconds",
				       s);
		v = v * 10 + (unsigned long long)(s[i] - '0');
	}
	*t = (time_t)v;
	return 0;
}

static char *pk_provenance(const struct pk_ctx *c, const struct cid *dir, time_t t)
{
	const struct imp_params *p = &c->o->imp;
	char created[40], cid[CID_MAX_TEXT], *s;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return NULL;
	cid_format(dir, cid, sizeof(cid));
	if (asprintf(&s,
		     "{\"tool\":\"mpack %s\",\"created\":\"%s\",\"directory\":\"%s\","
		     "\"chunker\":\"size-%zu\",\"layout\":\"balanced\",\"max_links\":%zu,"
		     "\"cid_version\":%d,\"raw_leaves\":%s}",
		     MPACK_VERSION, created, cid, p->chunk_size, p->max_links, p->cid_version,
		     p->raw_leaves ? "true" : "false") < 0)
		return NULL;
	return s;
}

/* The top-level config.json text if it was packed and looks like a JSON
 * object; NULL otherwise (with a warning when it is unusable). */
static char *pk_config(const struct pk_ctx *c)
{
	char *path = pk_join(c->dir, "config.json"), *buf = NULL;
	size_t i, n = 0;
	ssize_t r;
	int fd = -1;

	for (i = 0; i < c->nfiles; i++)
		if (!strcmp(c->files[i].path, "config.json"))
			break;
	if (!path || i == c->nfiles)
		goto out;
	if (c->files[i].size > PACK_CONFIG_MAX) {
		log_warn("pack: %s: larger than %u bytes; left out of the manifest", path,
			 PACK_CONFIG_MAX);
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	buf = fd < 0 ? NULL : malloc(PACK_CONFIG_MAX + 1);
	while (buf && n < PACK_CONFIG_MAX && (r = read(fd, buf + n, PACK_CONFIG_MAX - n)) > 0)
		n += (size_t)r;
	if (buf) {
		buf[n] = '\0';
		for (i = 0; isspace((unsigned char)buf[i]); i++)
			;
		if (buf[i] != '{' || strlen(buf) != n) {
			log_warn("pack: %s: not a JSON object; left out of the manifest", path);
			free(buf);
			buf = NULL;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return buf;
}

static const char *pk_format(const struct pk_ctx *c)
{
	static const char *const fmt[][2] = {{".gguf", "gguf"},
					     {".safetensors", "safetensors"},
					     {".bin", "pytorch"},
					     {".pt", "pytorch"},
					     {".pth", "pytorch"}};
	size_t i, k, n, l;

	for (k = 0; k < sizeof(fmt) / sizeof(fmt[0]); k++)
		for (i = 0; i < c->nfiles; i++) {
			n = strlen(c->files[i].path);
			l = strlen(fmt[k][0]);
			if (c->files[i].role == PACK_SHARD && n > l &&
			    !strcmp(c->files[i].path + n - l, fmt[k][0]))
				return fmt[k][1];
		}
	return NULL;
}

static int pk_shard_cmp(const void *a, const void *b)
{
	return pack_natural_cmp(((const struct mf_entry *)a)->filename,
				((const struct mf_entry *)b)->filename);
}

/* Entries: shards (natural order), the tokenizer, then files (path order). */
static int pk_entries(const struct pk_ctx *c, struct manifest *m)
{
	static const int order[] = {PACK_SHARD, PACK_TOKENIZER, PACK_FILE};
	size_t i, k, nshards = 0;

	m->entries = calloc(c->nfiles ? c->nfiles : 1, sizeof(*m->entries));
	if (!m->entries)
		return -ENOMEM;
	for (k = 0; k < 3; k++) {
		for (i = 0; i < c->nfiles; i++) {
			const struct pack_file *f = &c->files[i];
			struct mf_entry *en = &m->entries[m->nentries];

			if (f->role != order[k])
				continue;
			en->filename = strdup(f->path);
			if (!en->filename)
				return -ENOMEM;
			en->cid = f->cid;
			memcpy(en->sha256, f->sha256, 32);
			en->has_sha256 = en->has_size = true;
			en->size = f->size;
			en->role = k == 0 ? MF_SHARD : k == 1 ? MF_TOKENIZER : MF_FILE;
			m->nentries++;
		}
		if (k == 0)
			nshards = m->nentries;
	}
	qsort(m->entries, nshards, sizeof(*m->entries), pk_shard_cmp);
	return 0;
}

static char *pk_strdup0(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

/* Build and emit the manifest text; the round trip through manifest_parse
 * checks that readers will accept it. */
int pk_manifest(struct pk_ctx *c, const struct cid *dir, char **text)
{
	struct manifest *m = calloc(1, sizeof(*m)), *back = NULL;
	char *rp = realpath(c->dir, NULL), *base;
	const char *fmt = pk_format(c);
	struct errbuf pe;
	time_t t = 0;
	int rc = pk_created(&t, c->e);

	base = rp ? strrchr(rp, '/') + 1 : NULL;
	if (!rc && m) {
		m->modelpack = MANIFEST_VERSION;
		m->name = pk_strdup0(c->o->name ? c->o->name : base);
		m->version = pk_strdup0(c->o->version);
		m->format = pk_strdup0(fmt);
		m->config_json = pk_config(c);
		m->provenance_json = pk_provenance(c, dir, t);
		rc = m->provenance_json ? pk_entries(c, m) : -ENOMEM;
		*text = rc ? NULL : manifest_emit(m);
		if (!rc && !*text && m->config_json) {
			log_warn("pack: %s/config.json: does not parse; left out of the manifest",
				 c->dir);
			free(m->config_json);
			m->config_json = NULL;
			*text = manifest_emit(m);
		}
		if (!rc && !*text)
			rc = -ENOMEM;
		if (!rc && manifest_parse(*text, strlen(*text), &back, &pe))
			rc = err_set(c->e, -EINVAL, "%s: manifest does not parse back: %s", c->dir,
				     pe.msg);
	} else if (!rc) {
		rc = -ENOMEM;
	}
	if (rc == -ENOMEM)
		err_set(c->e, rc, "%s: out of memory", c->dir);
	manifest_free(back);
	manifest_free(m);
	free(rp);
	return rc;
}

/* ---- the whole run ---- */
