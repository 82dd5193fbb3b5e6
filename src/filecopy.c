/* filecopy: verified, contiguous copies of fully cached files. */
#include "filecopy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "multihash.h"

#define FC_MAX_EXTENTS 64
#define FC_TMP_PREFIX  ".tmp."
#define FC_TMP_LEN     (sizeof(FC_TMP_PREFIX) - 1)
#define FC_TMP_STALE_S 600 /* a temporary file untouched this long was left by a crash */
#define FC_MAX_ENTRIES 4096

int filecopy_dir(const char *cache_dir, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/%s", cache_dir, FILECOPY_SUBDIR);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int copy_path(const char *dir, const struct cid *root, char *buf, size_t cap)
{
	char cs[CID_MAX_TEXT];
	int n;

	if (cid_format(root, cs, sizeof(cs)) == 0)
		return -EINVAL;
	n = snprintf(buf, cap, "%s/%s", dir, cs);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int filecopy_open(const char *dir, const struct cid *root, uint64_t size)
{
	char path[4096];
	struct stat st;
	int fd, rc;

	if ((rc = copy_path(dir, root, path, sizeof(path))) < 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size) {
		log_warn("filecopy: %s is not a %llu-byte file: removed", path,
			 (unsigned long long)size);
		close(fd);
		unlink(path);
		return -EIO;
	}
	(void)futimens(fd, NULL); /* used now: last to be evicted */
	return fd;
}

/* ---- the budget ---- */

struct fc_entry {
	char name[CID_MAX_TEXT];
	uint64_t size;
	int64_t mtime;
};

static int entry_cmp(const void *a, const void *b)
{
	const struct fc_entry *x = a, *y = b;

	return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

/* List the copies (not temporary files; stale ones are removed on the way). */
static int list_copies(const char *dir, struct fc_entry **out, size_t *n, uint64_t *total)
{
	DIR *d = opendir(dir);
	struct fc_entry *v = NULL;
	struct dirent *de;
	struct stat st;
	size_t cap = 0;

	*n = 0;
	*total = 0;
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)) && *n < FC_MAX_ENTRIES) {
		if (de->d_name[0] == '.' && strncmp(de->d_name, FC_TMP_PREFIX, FC_TMP_LEN))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (!strncmp(de->d_name, FC_TMP_PREFIX, FC_TMP_LEN)) {
			if (time(NULL) - st.st_mtime > FC_TMP_STALE_S)
				unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		if (strlen(de->d_name) >= CID_MAX_TEXT)
			continue;
		if (*n == cap) {
			struct fc_entry *nv = realloc(v, (cap ? cap * 2 : 16) * sizeof(*v));

			if (!nv)
				break;
			v = nv;
			cap = cap ? cap * 2 : 16;
		}
		strcpy(v[*n].name, de->d_name);
		v[*n].size = (uint64_t)st.st_size;
		v[*n].mtime = (int64_t)st.st_mtime;
		*total += (uint64_t)st.st_size;
		(*n)++;
	}
	closedir(d);
	*out = v;
	return 0;
}

uint64_t filecopy_bytes(const char *dir)
{
	struct fc_entry *v = NULL;
	uint64_t total;
	size_t n;

	if (list_copies(dir, &v, &n, &total) < 0)
		total = 0;
	free(v);
	return total;
}

/* Remove least recently used copies until `need` more bytes fit the budget. */
static void make_room(const char *dir, uint64_t need, uint64_t budget)
{
	struct fc_entry *v = NULL;
	uint64_t total;
	size_t n, i;
	char path[4096];

	if (list_copies(dir, &v, &n, &total) < 0 || total + need <= budget) {
		free(v);
		return;
	}
	qsort(v, n, sizeof(*v), entry_cmp);
	for (i = 0; i < n && total + need > budget; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, v[i].name);
		if (unlink(path) == 0) {
			total -= v[i].size;
			log_info("filecopy: removed %s (%llu bytes) to make room", v[i].name,
				 (unsigned long long)v[i].size);
		}
	}
	free(v);
}

/* ---- making a copy ---- */

static int pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Calls fn for every extent of df in order; stops at its first non-zero. */
static int each_extent(struct dag_file *df, const struct store_get_opts *o,
		       int (*fn)(void *ctx, const struct dag_extent *x), void *ctx,
		       struct errbuf *e)
{
	struct dag_extent ext[FC_MAX_EXTENTS];
	uint64_t off = 0, size = dag_file_size(df);
	int n, i, rc;

	while (off < size) {
		n = dag_file_extents(df, off, size - off, ext, FC_MAX_EXTENTS, o, e);
		if (n <= 0)
			return n < 0 ? n : -EIO;
		for (i = 0; i < n; i++)
			if ((rc = fn(ctx, &ext[i])))
				return rc;
		off = ext[n - 1].file_off + ext[n - 1].len;
	}
	return 0;
}

struct fc_job {
	struct store *s;
	struct dag_file *df;
	const struct store_get_opts *o;
	int fd;
	int (*stop)(void *ctx);
	void *ctx;
	struct errbuf *e;
};

static int leaf_is_local(void *ctx, const struct dag_extent *x)
{
	struct fc_job *j = ctx;

	return x->inline_data || store_has_local(j->s, &x->leaf) ? 0 : -EAGAIN;
}

static int copy_extent(void *ctx, const struct dag_extent *x)
{
	struct fc_job *j = ctx;
	struct store_block b;
	uint8_t small[4096];
	int rc;

	if (j->stop && j->stop(j->ctx))
		return -ECANCELED;
	if (x->inline_data) {
		if (x->len > sizeof(small))
			return err_set(j->e, -EIO, "filecopy: inline data of %llu bytes",
				       (unsigned long long)x->len);
		rc = dag_extent_read(j->df, x, 0, (size_t)x->len, small, j->o, j->e);
		return rc < 0 ? rc : pwrite_all(j->fd, small, (size_t)x->len, x->file_off);
	}
	/* local_only: a leaf evicted since the check is -EAGAIN, never fetched */
	if ((rc = store_get(j->s, &x->leaf, j->o, &b, j->e)) < 0)
		return rc;
	if ((rc = mh_verify(&x->leaf, b.data, b.len, j->e)) == 0) {
		if (x->leaf_data_off > b.len || x->len > b.len - x->leaf_data_off)
			rc = err_set(j->e, -EIO, "filecopy: leaf %s holds %zu bytes, not %llu",
				     cid_str(&x->leaf), b.len, (unsigned long long)x->len);
		else
			rc = pwrite_all(j->fd, b.data + x->leaf_data_off, (size_t)x->len,
					x->file_off);
	}
	store_block_release(j->s, &b);
	store_drop_pages(j->s, &x->leaf);
	return rc;
}

static int write_copy(struct fc_job *j, const char *tmp, uint64_t size)
{
	int rc;

	j->fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (j->fd < 0)
		return err_set(j->e, -errno, "filecopy: %s: %s", tmp, strerror(errno));
	rc = size ? -posix_fallocate(j->fd, 0, (off_t)size) : 0;
	if (rc == -EOPNOTSUPP || rc == -EINVAL)
		rc = 0;
	if (rc == 0)
		rc = each_extent(j->df, j->o, copy_extent, j, j->e);
	if (rc == 0 && fdatasync(j->fd) != 0)
		rc = -errno;
	if (close(j->fd) != 0 && rc == 0)
		rc = -errno;
	if (rc < 0 && !j->e->msg[0])
		err_set(j->e, rc, "filecopy: %s: %s", tmp, strerror(-rc));
	return rc;
}

int filecopy_make(struct store *s, struct dag_file *df, const char *dir, uint64_t budget,
		  int (*stop)(void *ctx), void *ctx, struct errbuf *e)
{
	static atomic_uint seq;
	struct store_get_opts o = {.prio = FETCH_PRIO_PREFETCH, .local_only = true};
	struct fc_job j = {.s = s, .df = df, .o = &o, .fd = -1, .stop = stop, .ctx = ctx, .e = e};
	char final[4096], tmp[4200], cs[CID_MAX_TEXT];
	uint64_t size = dag_file_size(df);
	struct stat st;
	int rc;

	if (size > budget)
		return -EFBIG;
	if ((rc = copy_path(dir, dag_file_cid(df), final, sizeof(final))) < 0)
		return rc;
	if (stat(final, &st) == 0 && (uint64_t)st.st_size == size)
		return 0;
	if (each_extent(df, &o, leaf_is_local, &j, NULL) < 0)
		return -EAGAIN; /* a leaf, or an internal node, is not local */
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return err_set(e, -errno, "filecopy: %s: %s", dir, strerror(errno));
	make_room(dir, size, budget);
	cid_format(dag_file_cid(df), cs, sizeof(cs));
	snprintf(tmp, sizeof(tmp), "%s/" FC_TMP_PREFIX "%s.%d.%u", dir, cs, (int)getpid(),
		 atomic_fetch_add(&seq, 1));
	rc = write_copy(&j, tmp, size);
	if (rc == 0 && rename(tmp, final) != 0)
		rc = err_set(e, -errno, "filecopy: rename to %s: %s", final, strerror(errno));
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int filecopy_clear(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    unlinkat(dirfd(d), de->d_name, 0) == 0)
			n++;
	closedir(d);
	return n;
}
