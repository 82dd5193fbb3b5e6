/* test_filecopy: verified file copies (the backing files of passthrough) over a
 * store opened offline on a temporary cache seeded by hand: the copy's bytes,
 * the size check on open, local-only making, a leaf that fails verification,
 * the stop callback, the byte budget and its LRU, and clear. */
/* clang-format off */
/* deps: filecopy dag store carsrc car cache cache_pages cache_pin cache_scrub cache_write fetch fetch_net manifest unixfs dagpb cid multibase multihash varint dynbuf errbuf log */
/* clang-format on */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "dag.h"
#include "filecopy.h"
#include "log.h"
#include "unixfs.h"

#define LEAF  5000
#define NLEAF 3
#define FSIZE (LEAF * NLEAF)

static struct store *S;
static char copies[4096];

#include "seeded_store.h"

struct tfile {
	struct cid root, leaves[NLEAF];
	uint8_t bytes[FSIZE];
};

/* A File node over NLEAF raw leaves of seeded random bytes. put_mask: which
 * leaves go into the cache; the root always does. */
static void make_file(struct tfile *f, unsigned seed, unsigned put_mask)
{
	uint64_t sizes[NLEAF];
	struct ufs_data u = {0};
	int i;

	srand(seed);
	for (i = 0; i < FSIZE; i++)
		f->bytes[i] = (uint8_t)rand();
	for (i = 0; i < NLEAF; i++) {
		f->leaves[i] =
		    put_block(CID_CODEC_RAW, f->bytes + i * LEAF, LEAF, (put_mask >> i) & 1);
		sizes[i] = LEAF;
	}
	u.type = UFS_FILE;
	u.blocksizes = sizes;
	u.nblocksizes = NLEAF;
	u.filesize = FSIZE;
	u.has_filesize = true;
	f->root = pb_node_put(&u, f->leaves, NULL, NLEAF, 1);
}

static int make_copy(const struct tfile *f, uint64_t budget, int (*stop)(void *), void *ctx,
		     struct errbuf *e)
{
	struct dag_file *df;
	int rc;

	memset(e, 0, sizeof(*e));
	rc = dag_file_open(S, &f->root, NULL, &df, e);
	CHECK(rc == 0, "dag_file_open: %s", e->msg);
	if (rc)
		return rc;
	rc = filecopy_make(S, df, copies, budget, stop, ctx, e);
	dag_file_free(df);
	return rc;
}

static void copy_path(const struct tfile *f, char *buf, size_t cap)
{
	char cs[CID_MAX_TEXT];

	cid_format(&f->root, cs, sizeof(cs));
	snprintf(buf, cap, "%s/%s", copies, cs);
}

/* Entries in the copies directory, temporary files included. */
static int dir_entries(void)
{
	DIR *d = opendir(copies);
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

static void check_copy_bytes(const struct tfile *f)
{
	static uint8_t got[FSIZE + 1];
	int fd = filecopy_open(copies, &f->root, FSIZE);
	ssize_t n;

	CHECK(fd >= 0, "filecopy_open: %d", fd);
	if (fd < 0)
		return;
	n = pread(fd, got, sizeof(got), 0);
	CHECK(n == FSIZE && !memcmp(got, f->bytes, FSIZE), "copy holds %zd bytes", n);
	close(fd);
}

static void test_make_and_open(void)
{
	static struct tfile f;
	struct errbuf e;
	char path[4400];

	make_file(&f, 1, 7);
	CHECK_EQ_INT(make_copy(&f, 1 << 20, NULL, NULL, &e), 0);
	check_copy_bytes(&f);
	CHECK_EQ_INT(filecopy_bytes(copies), FSIZE);
	CHECK_EQ_INT(make_copy(&f, 1 << 20, NULL, NULL, &e), 0); /* present: kept */
	CHECK_EQ_INT(dir_entries(), 1);
	/* a copy of the wrong size is removed on open */
	copy_path(&f, path, sizeof(path));
	CHECK(truncate(path, FSIZE - 1) == 0, "truncate");
	CHECK_EQ_INT(filecopy_open(copies, &f.root, FSIZE), -EIO);
	CHECK(access(path, F_OK) != 0, "a wrong-size copy stays");
	CHECK_EQ_INT(filecopy_open(copies, &f.root, FSIZE), -ENOENT);
	CHECK_EQ_INT(make_copy(&f, 1 << 20, NULL, NULL, &e), 0); /* made again */
	check_copy_bytes(&f);
}

static void test_not_local(void)
{
	static struct tfile f;
	struct errbuf e;

	make_file(&f, 2, 5); /* the middle leaf is not cached: never fetched */
	CHECK_EQ_INT(make_copy(&f, 1 << 20, NULL, NULL, &e), -EAGAIN);
	CHECK_EQ_INT(filecopy_open(copies, &f.root, FSIZE), -ENOENT);
	CHECK_EQ_INT(dir_entries(), 1); /* only test_make_and_open's copy */
}

static void test_bad_leaf(void)
{
	static struct tfile f;
	static uint8_t wrong[LEAF];
	struct errbuf e;

	make_file(&f, 3, 5);
	memset(wrong, 0x5a, sizeof(wrong)); /* cached under the middle leaf's CID */
	CHECK(cache_put(store_cache(S), &f.leaves[1], wrong, sizeof(wrong)) == 0, "cache_put");
	CHECK_EQ_INT(make_copy(&f, 1 << 20, NULL, NULL, &e), -EIO);
	CHECK(strstr(e.msg, "hash mismatch") != NULL, "why: %s", e.msg);
	CHECK_EQ_INT(filecopy_open(copies, &f.root, FSIZE), -ENOENT);
	CHECK_EQ_INT(dir_entries(), 1); /* no temporary file left */
}

static int stop_now(void *ctx)
{
	return ++*(int *)ctx >= 2; /* let the first leaf through */
}

static void test_stop_and_budget(void)
{
	static struct tfile f;
	struct errbuf e;
	int polls = 0;

	make_file(&f, 4, 7);
	CHECK_EQ_INT(make_copy(&f, 1 << 20, stop_now, &polls, &e), -ECANCELED);
	CHECK(polls >= 2, "stop polled %d times", polls);
	CHECK_EQ_INT(dir_entries(), 1);
	CHECK_EQ_INT(make_copy(&f, FSIZE - 1, NULL, NULL, &e), -EFBIG);
	CHECK_EQ_INT(dir_entries(), 1);
}

/* Two copies fit a budget of 2.5 files; the third removes the least recently
 * opened one. */
static void test_lru(void)
{
	static struct tfile a, b, c;
	struct timespec old[2] = {{.tv_sec = 1000000}, {.tv_sec = 1000000}};
	struct errbuf e;
	char path[4400];
	int fd;

	CHECK_EQ_INT(filecopy_clear(copies), 1);
	CHECK_EQ_INT(dir_entries(), 0);
	make_file(&a, 5, 7);
	make_file(&b, 6, 7);
	make_file(&c, 7, 7);
	CHECK_EQ_INT(make_copy(&a, FSIZE * 5 / 2, NULL, NULL, &e), 0);
	CHECK_EQ_INT(make_copy(&b, FSIZE * 5 / 2, NULL, NULL, &e), 0);
	copy_path(&a, path, sizeof(path));
	CHECK(utimensat(AT_FDCWD, path, old, 0) == 0, "utimensat a");
	copy_path(&b, path, sizeof(path));
	old[0].tv_sec = old[1].tv_sec = 2000000;
	CHECK(utimensat(AT_FDCWD, path, old, 0) == 0, "utimensat b");
	fd = filecopy_open(copies, &a.root, FSIZE); /* a is now the most recent */
	CHECK(fd >= 0, "open a: %d", fd);
	if (fd >= 0)
		close(fd);
	CHECK_EQ_INT(make_copy(&c, FSIZE * 5 / 2, NULL, NULL, &e), 0);
	CHECK_EQ_INT(filecopy_open(copies, &b.root, FSIZE), -ENOENT);
	check_copy_bytes(&a);
	check_copy_bytes(&c);
	CHECK_EQ_INT(filecopy_bytes(copies), 2 * FSIZE);
	CHECK_EQ_INT(filecopy_clear(copies), 2);
	CHECK_EQ_INT(filecopy_bytes(copies), 0);
}

int main(void)
{
	char dir[] = "/var/tmp/test_filecopy.XXXXXX";

	if (!seeded_store_open(dir, "test_filecopy"))
		return check_done("test_filecopy");
	CHECK(filecopy_dir(dir, copies, sizeof(copies)) >= 0, "filecopy_dir");
	CHECK_EQ_INT(filecopy_bytes(copies), 0);
	CHECK_EQ_INT(filecopy_clear(copies), 0); /* missing dir */
	test_make_and_open();
	test_not_local();
	test_bad_leaf();
	test_stop_and_budget();
	test_lru();
	seeded_store_close(dir);
	return check_done("test_filecopy");
}
