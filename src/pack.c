/* pack: walk a model directory, import it as UnixFS, write SHA256SUMS, the
 * manifest and optionally a CAR of every block. See pack.h for the rules.
 *
 * DESIGN: one pass. The directory is walked depth first; each file is read
 * once, its bytes going to the importer and to a whole-file sha256. Blocks
 * come back through pk_block, which counts distinct blocks (a set of
 * version/codec/digest keys) and appends new ones to the CAR. Directory nodes
 * are built bottom-up as their walk ends; the top level gets SHA256SUMS first.
 * The CAR header names the manifest CID, known only at the end: a header of
 * the same length over a dummy CID is written first and overwritten last. */
#include "pack_int.h"

#include "fdio.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "car.h"
#include "dynbuf.h"
#include "log.h"
#include "manifest.h"
#include "multihash.h"
#include "version.h"

static int pk_set_grow(struct pk_ctx *c)
{
	size_t slots = c->set_slots ? c->set_slots * 2 : 4096, i, h;
	uint8_t *set = calloc(slots, PK_KEY), *k;

	if (!set)
		return -ENOMEM;
	for (i = 0; i < c->set_slots; i++) {
		k = c->set + i * PK_KEY;
		if (!k[0])
			continue;
		memcpy(&h, k + 2, sizeof(h));
		for (h %= slots; set[h * PK_KEY]; h = (h + 1) % slots)
			;
		memcpy(set + h * PK_KEY, k, PK_KEY);
	}
	free(c->set);
	c->set = set;
	c->set_slots = slots;
	return 0;
}

/* 1 if the block is new (and now recorded), 0 if seen, -errno. */
static int pk_set_add(struct pk_ctx *c, const struct cid *cid)
{
	uint8_t key[PK_KEY];
	size_t h;
	int rc;

	if (cid->mh_code != MH_SHA2_256 || cid->digest_len != 32 || cid->codec > 0xff)
		return -EINVAL;
	if (c->set_used * 2 >= c->set_slots) {
		rc = pk_set_grow(c);
		if (rc)
			return rc;
	}
	key[0] = (uint8_t)(cid->version + 1);
	key[1] = (uint8_t)cid->codec;
	memcpy(key + 2, cid_digest(cid), 32);
	memcpy(&h, key + 2, sizeof(h));
	for (h %= c->set_slots; c->set[h * PK_KEY]; h = (h + 1) % c->set_slots)
		if (!memcmp(c->set + h * PK_KEY, key, PK_KEY))
			return 0;
	memcpy(c->set + h * PK_KEY, key, PK_KEY);
	c->set_used++;
	return 1;
}

static int pk_flush(struct pk_ctx *c)
{
	int rc = fd_write_all(c->car_fd, c->wbuf, c->wlen);

	c->wlen = 0;
	return rc;
}

static int pk_car_write(void *ctx, const void *buf, size_t n)
{
	struct pk_ctx *c = ctx;
	int rc;

	if (c->wlen + n > PK_WBUF || n >= PK_DIRECT) {
		rc = pk_flush(c);
		if (rc || n >= PK_DIRECT)
			return rc ? rc : fd_write_all(c->car_fd, buf, n);
	}
	memcpy(c->wbuf + c->wlen, buf, n);
	c->wlen += n;
	return 0;
}

static int pk_block(void *ctx, const struct cid *cid, const uint8_t *data, size_t len)
{
	struct pk_ctx *c = ctx;
	int rc = pk_set_add(c, cid);

	if (rc <= 0)
		return rc;
	c->blocks++;
	c->bytes += len;
	if (!c->cw)
		return 0;
	rc = car_writer_put(c->cw, cid, data, len);
	if (rc) {
		c->have_msg = true;
		err_set(c->e, rc, "%s: %s", c->car_tmp, strerror(-rc));
	}
	return rc;
}

static bool pk_same(const struct pk_id *id, const struct stat *st)
{
	return id->set && id->dev == st->st_dev && id->ino == st->st_ino;
}

static void pk_note(struct pk_id *id, const char *path)
{
	struct stat st;

	if (path && stat(path, &st) == 0) {
		id->dev = st.st_dev;
		id->ino = st.st_ino;
		id->set = true;
	}
}

static int pk_car_open(struct pk_ctx *c, int version)
{
	static const uint8_t zero[32];
	const char *path = c->o->car_path;
	struct stat st;
	struct cid dummy;
	int rc;

	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return err_set(c->e, -EINVAL, "%s: the CAR must be a regular file", path);
	if (asprintf(&c->car_tmp, "%s.tmp", path) < 0) {
		c->car_tmp = NULL;
		return err_set(c->e, -ENOMEM, "%s: out of memory", path);
	}
	c->car_fd = open(c->car_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (c->car_fd < 0)
		return err_set(c->e, -errno, "%s: %s", c->car_tmp, strerror(errno));
	if (fstat(c->car_fd, &st) || !S_ISREG(st.st_mode))
		return err_set(c->e, -EINVAL, "%s: the CAR must be a regular file", c->car_tmp);
	c->skip[2] = (struct pk_id){st.st_dev, st.st_ino, true};
	c->wbuf = malloc(PK_WBUF);
	if (!c->wbuf)
		return err_set(c->e, -ENOMEM, "%s: out of memory", path);
	cid_from_digest(version, CID_CODEC_DAG_PB, MH_SHA2_256, zero, 32, &dummy);
	rc = car_writer_new(pk_car_write, c, &dummy, 1, &c->cw);
	if (rc)
		return err_set(c->e, rc, "%s: %s", c->car_tmp, strerror(-rc));
	return 0;
}

/* Flush, put the real root into the header, sync, rename into place. */
static int pk_car_close(struct pk_ctx *c, const struct cid *root)
{
	uint8_t hdr[512];
	int n, rc;

	rc = pk_flush(c);
	n = car_header_encode(root, 1, hdr, sizeof(hdr));
	if (!rc && (n < 0 || (uint64_t)n > car_writer_offset(c->cw)))
		rc = -EIO;
	if (!rc && pwrite(c->car_fd, hdr, (size_t)n, 0) != n)
		rc = errno ? -errno : -EIO;
	if (!rc && fdatasync(c->car_fd))
		rc = -errno;
	if (close(c->car_fd) && !rc)
		rc = -errno;
	c->car_fd = -1;
	if (!rc && rename(c->car_tmp, c->o->car_path))
		rc = -errno;
	if (rc)
		return err_set(c->e, rc, "%s: %s", c->o->car_path, strerror(-rc));
	return 0;
}

/* ---- files ---- */

static int pk_add_file(struct pk_ctx *c, const char *rel, const struct imp_result *r,
		       const uint8_t sha[32], int role)
{
	struct pack_file *f;

	if (c->nfiles == c->cfiles) {
		size_t n = c->cfiles ? c->cfiles * 2 : 64;

		f = realloc(c->files, n * sizeof(*f));
		if (!f)
			return err_set(c->e, -ENOMEM, "%s: out of memory", rel);
		c->files = f;
		c->cfiles = n;
	}
	f = &c->files[c->nfiles];
	f->path = strdup(rel);
	if (!f->path)
		return err_set(c->e, -ENOMEM, "%s: out of memory", rel);
	f->cid = r->cid;
	memcpy(f->sha256, sha, 32);
	f->size = r->size;
	f->role = role;
	c->nfiles++;
	if (c->fn)
		c->fn(c->fctx, f);
	return 0;
}

static int pk_import_err(struct pk_ctx *c, const char *path, int rc)
{
	if (c->have_msg)
		return rc;
	return err_set(c->e, rc, "%s: %s", path, strerror(-rc));
}

/* Import fd (or mem/len when fd < 0) as one file, with its sha256. */
static int pk_import(struct pk_ctx *c, int fd, const void *mem, size_t len, const char *path,
		     struct imp_result *r, uint8_t sha[32])
{
	struct imp_file *f;
	struct mh_sha256 s;
	ssize_t n;
	int rc;

	rc = imp_file_new(&c->o->imp, pk_block, c, &f);
	if (rc)
		return pk_import_err(c, path, rc);
	if (mh_sha256_init(&s)) {
		imp_file_free(f);
		return pk_import_err(c, path, -ENOMEM);
	}
	if (fd < 0) {
		mh_sha256_update(&s, mem, len);
		rc = imp_file_write(f, mem, len);
	}
	while (fd >= 0 && !rc) {
		n = read(fd, c->rbuf, c->rlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : 0;
			break;
		}
		mh_sha256_update(&s, c->rbuf, (size_t)n);
		rc = imp_file_write(f, c->rbuf, (size_t)n);
	}
	if (!rc)
		rc = imp_file_finish(f, r);
	mh_sha256_final(&s, sha);
	mh_sha256_free(&s);
	imp_file_free(f);
	return rc ? pk_import_err(c, path, rc) : 0;
}

static int pk_role(const char *rel)
{
	if (pack_is_shard(rel))
		return PACK_SHARD;
	if (!strcmp(rel, "tokenizer.json"))
		return PACK_TOKENIZER;
	return PACK_FILE;
}

static int pk_file(struct pk_ctx *c, const char *full, const char *rel, struct imp_result *r)
{
	struct errbuf pe;
	uint8_t sha[32];
	int fd, rc;

	if (manifest_check_path(rel, strlen(rel), &pe))
		return err_set(c->e, -EINVAL, "%s: name not allowed in a manifest: %s", full,
			       pe.msg);
	fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return err_set(c->e, -errno, "%s: %s", full, strerror(errno));
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = pk_import(c, fd, NULL, 0, full, r, sha);
	close(fd);
	if (rc)
		return rc;
	return pk_add_file(c, rel, r, sha, pk_role(rel));
}

static int pk_symlink(struct pk_ctx *c, const char *full, struct imp_result *r)
{
	char target[PATH_MAX + 1];
	ssize_t n = readlink(full, target, sizeof(target));
	int rc;

	if (n < 0)
		return err_set(c->e, -errno, "%s: %s", full, strerror(errno));
	if ((size_t)n >= sizeof(target))
		return err_set(c->e, -ENAMETOOLONG, "%s: symlink target too long", full);
	target[n] = '\0';
	rc = imp_symlink_build(&c->o->imp, target, pk_block, c, r);
	return rc ? pk_import_err(c, full, rc) : 0;
}

static int pk_path_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pack_file *)a)->path, ((const struct pack_file *)b)->path);
}

/* SHA256SUMS text, sorted by path, in sha256sum's format. Caller frees. */
static int pk_sums_text(struct pk_ctx *c, char **out, size_t *len)
{
	static const char hex[] = "0123456789abcdef";
	struct dynbuf b;
	char line[80];
	size_t i, k;
	int rc = 0;

	qsort(c->files, c->nfiles, sizeof(*c->files), pk_path_cmp);
	dynbuf_init(&b, PK_SUMS_MAX);
	for (i = 0; i < c->nfiles && !rc; i++) {
		for (k = 0; k < 32; k++) {
			line[2 * k] = hex[c->files[i].sha256[k] >> 4];
			line[2 * k + 1] = hex[c->files[i].sha256[k] & 15];
		}
		memcpy(line + 64, "  ", 2);
		rc = dynbuf_append(&b, line, 66);
		if (!rc)
			rc = dynbuf_append(&b, c->files[i].path, strlen(c->files[i].path));
		if (!rc)
			rc = dynbuf_append(&b, "\n", 1);
	}
	if (!rc)
		rc = dynbuf_append(&b, "", 1); /* NUL, not counted */
	if (rc) {
		dynbuf_free(&b);
		return err_set(c->e, rc, "%s: %s", PACK_SUMS_NAME, strerror(-rc));
	}
	*out = (char *)dynbuf_take(&b, len);
	*len -= 1;
	return 0;
}

/* Write data to path atomically (path.tmp, fsync, rename). */
static int pk_write_file(const char *path, const void *data, size_t len, struct errbuf *e)
{
	char *tmp;
	int fd, rc;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return err_set(e, -ENOMEM, "%s: out of memory", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = err_set(e, -errno, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return rc;
	}
	rc = fd_write_all(fd, data, len);
	if (!rc && fdatasync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc) {
		unlink(tmp);
		err_set(e, rc, "%s: %s", path, strerror(-rc));
	}
	free(tmp);
	return rc;
}

char *pk_join(const char *a, const char *b)
{
	char *s;

	if (!*a)
		return strdup(b);
	return asprintf(&s, "%s/%s", a, b) < 0 ? NULL : s;
}

/* Import SHA256SUMS, write it to DIR, add it to the top-level entries. */
static int pk_sums(struct pk_ctx *c, struct imp_dirent *ent)
{
	struct imp_result r;
	uint8_t sha[32];
	char *text = NULL, *path;
	size_t len = 0;
	int rc;

	if (c->nfiles == 0)
		return err_set(c->e, -ENOENT, "%s: no files to pack", c->dir);
	rc = pk_sums_text(c, &text, &len);
	if (rc)
		return rc;
	path = pk_join(c->dir, PACK_SUMS_NAME);
	rc = path ? 0 : err_set(c->e, -ENOMEM, "out of memory");
	if (!rc)
		rc = pk_import(c, -1, text, len, path, &r, sha);
	if (!rc)
		rc = pk_write_file(path, text, len, c->e);
	if (!rc)
		rc = pk_add_file(c, PACK_SUMS_NAME, &r, sha, PACK_SUMS);
	free(text);
	free(path);
	ent->name = PACK_SUMS_NAME;
	ent->r = r;
	return rc;
}

static bool pk_skip_name(const char *name, bool top)
{
	if (name[0] == '.')
		return true; /* hidden, and "." ".." */
	return top &&
	       (!strcmp(name, PACK_MANIFEST_NAME) || !strcmp(name, PACK_SUMS_NAME) ||
		!strcmp(name, PACK_MANIFEST_NAME ".tmp") || !strcmp(name, PACK_SUMS_NAME ".tmp"));
}

static int pk_str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in the directory full, sorted bytewise, skipped ones left out. */
static int pk_list(struct pk_ctx *c, const char *full, bool top, char ***out, size_t *n)
{
	DIR *d = opendir(full);
	struct dirent *de;
	char **v = NULL, **nv;
	size_t cap = 0;
	int rc = 0;

	*n = 0;
	if (!d)
		return err_set(c->e, -errno, "%s: %s", full, strerror(errno));
	while (!rc && (errno = 0, de = readdir(d))) {
		if (pk_skip_name(de->d_name, top))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
		}
		v[*n] = strdup(de->d_name);
		rc = v[*n] ? 0 : -ENOMEM;
		*n += !rc;
	}
	if (!rc && errno)
		rc = -errno;
	closedir(d);
	if (*n > 1)
		qsort(v, *n, sizeof(*v), pk_str_cmp);
	*out = v;
	return rc ? err_set(c->e, rc, "%s: %s", full, strerror(-rc)) : 0;
}

static int pk_walk(struct pk_ctx *c, const char *rel, int depth, struct imp_result *res);

/* One directory entry: fills ent->r, or returns 1 to skip the entry. */
static int pk_entry(struct pk_ctx *c, const char *rel, int depth, struct imp_result *r)
{
	char *full = pk_join(c->dir, rel);
	struct stat st;
	int rc;

	if (!full)
		return err_set(c->e, -ENOMEM, "%s: out of memory", rel);
	if (lstat(full, &st)) {
		rc = err_set(c->e, -errno, "%s: %s", full, strerror(errno));
	} else if (S_ISDIR(st.st_mode)) {
		rc = pk_walk(c, rel, depth + 1, r);
	} else if (S_ISLNK(st.st_mode)) {
		rc = pk_symlink(c, full, r);
	} else if (!S_ISREG(st.st_mode)) {
		log_warn("pack: %s: not a regular file, directory or symlink; skipped", full);
		rc = 1;
	} else if (pk_same(&c->skip[0], &st) || pk_same(&c->skip[1], &st) ||
		   pk_same(&c->skip[2], &st)) {
		rc = 1; /* one of our outputs */
	} else {
		rc = pk_file(c, full, rel, r);
	}
	free(full);
	return rc;
}

static int pk_walk(struct pk_ctx *c, const char *rel, int depth, struct imp_result *res)
{
	char *full = pk_join(c->dir, rel), **names = NULL, *crel;
	struct imp_dirent *ents = NULL;
	struct errbuf de;
	size_t n = 0, i, k = 0;
	int rc;

	if (!full)
		return err_set(c->e, -ENOMEM, "out of memory");
	if (depth > PACK_DEPTH_MAX) {
		rc = err_set(c->e, -ELOOP, "%s: deeper than %d levels", full, PACK_DEPTH_MAX);
		goto out;
	}
	rc = pk_list(c, full, depth == 0, &names, &n);
	if (!rc) {
		ents = calloc(n + 1, sizeof(*ents));
		rc = ents ? 0 : err_set(c->e, -ENOMEM, "%s: out of memory", full);
	}
	for (i = 0; i < n && !rc; i++) {
		crel = pk_join(rel, names[i]);
		rc = crel ? pk_entry(c, crel, depth, &ents[k].r)
			  : err_set(c->e, -ENOMEM, "%s: out of memory", full);
		free(crel);
		if (rc == 0)
			ents[k++].name = names[i];
		rc = rc > 0 ? 0 : rc;
	}
	if (!rc && depth == 0)
		rc = pk_sums(c, &ents[k++]);
	if (!rc) {
		rc = imp_dir_build(&c->o->imp, ents, k, pk_block, c, res, &de);
		if (rc && !c->have_msg)
			err_set(c->e, rc, "%s: %s", full, de.msg);
	}
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(ents);
	free(full);
	return rc;
}

/* ---- manifest ---- */

static int pk_result(struct pk_ctx *c, const struct cid *mcid, const struct cid *dcid, char *mpath,
		     struct pack_result **out)
{
	struct pack_result *r = calloc(1, sizeof(*r));

	if (!r || (c->o->car_path && !(r->car_path = strdup(c->o->car_path)))) {
		free(r);
		return err_set(c->e, -ENOMEM, "out of memory");
	}
	qsort(c->files, c->nfiles, sizeof(*c->files), pk_path_cmp);
	r->manifest_cid = *mcid;
	r->dir_cid = *dcid;
	r->manifest_path = mpath;
	r->files = c->files;
	r->nfiles = c->nfiles;
	r->blocks = c->blocks;
	r->bytes = c->bytes;
	c->files = NULL;
	c->nfiles = 0;
	*out = r;
	return 0;
}

static int pk_setup(struct pk_ctx *c, char **mpath)
{
	const struct pack_opts *o = c->o;
	size_t cs = o->imp.chunk_size;
	struct stat st;
	int rc = imp_params_check(&o->imp, c->e);

	if (rc)
		return rc;
	if (stat(c->dir, &st))
		return err_set(c->e, -errno, "%s: %s", c->dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return err_set(c->e, -ENOTDIR, "%s: not a directory", c->dir);
	*mpath = o->out_path ? strdup(o->out_path) : pk_join(c->dir, PACK_MANIFEST_NAME);
	c->rlen = (PK_READ_MIN + cs - 1) / cs * cs;
	c->rbuf = malloc(c->rlen);
	if (!*mpath || !c->rbuf)
		return err_set(c->e, -ENOMEM, "out of memory");
	pk_note(&c->skip[0], *mpath);
	pk_note(&c->skip[1], o->car_path);
	return o->car_path ? pk_car_open(c, o->imp.cid_version) : 0;
}

static void pk_cleanup(struct pk_ctx *c, int rc)
{
	size_t i;

	car_writer_free(c->cw);
	if (c->car_fd >= 0)
		close(c->car_fd);
	if (rc && c->car_tmp)
		unlink(c->car_tmp);
	for (i = 0; i < c->nfiles; i++)
		free(c->files[i].path);
	free(c->files);
	free(c->car_tmp);
	free(c->set);
	free(c->rbuf);
	free(c->wbuf);
}

int pack_run(const char *dir, const struct pack_opts *o, pack_progress_fn fn, void *ctx,
	     struct pack_result **out, struct errbuf *e)
{
	struct pk_ctx c = {.o = o, .dir = dir, .e = e, .fn = fn, .fctx = ctx, .car_fd = -1};
	struct imp_result dres, mres;
	char *mpath = NULL, *text = NULL;
	uint8_t sha[32];
	int rc;

	*out = NULL;
	rc = pk_setup(&c, &mpath);
	if (!rc)
		rc = pk_walk(&c, "", 0, &dres);
	if (!rc)
		rc = pk_manifest(&c, &dres.cid, &text);
	if (!rc)
		rc = pk_import(&c, -1, text, strlen(text), mpath, &mres, sha);
	if (!rc)
		rc = pk_write_file(mpath, text, strlen(text), e);
	if (!rc && c.cw)
		rc = pk_car_close(&c, &mres.cid);
	if (!rc)
		rc = pk_result(&c, &mres.cid, &dres.cid, mpath, out);
	if (rc)
		free(mpath);
	free(text);
	pk_cleanup(&c, rc);
	return rc;
}

void pack_result_free(struct pack_result *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->nfiles; i++)
		free(r->files[i].path);
	free(r->files);
	free(r->manifest_path);
	free(r->car_path);
	free(r);
}
