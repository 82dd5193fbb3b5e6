/* cmd_cat: `mpack cat CID[/path]`: stream a UnixFS file to stdout, leaf by
 * leaf, each leaf verified before any of its bytes is written, with the next
 * few leaves prefetched so a cold read runs several transfers at once. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "fdio.h"
#include "dag.h"
#include "log.h"
#include "multihash.h"
#include "srcopts.h"
#include "store.h"

#define CAT_BATCH 32 /* extents asked for at once */
#define CAT_AHEAD 8  /* leaves prefetched ahead of the one being written */
#define CAT_EPIPE 1  /* internal: the reader went away */

static void cat_usage(FILE *f)
{
	fprintf(f,
		"usage: mpack cat [OPTIONS] CID[/PATH]\n\n"
		"Write a UnixFS file to standard output, verifying every block against its\n"
		"CID before writing it. PATH walks UnixFS directories and ModelPack manifests\n"
		"(CID/file.gguf, MANIFEST_CID/shards/model-00001.gguf).\n\n"
		"  -h, --help         this help\n\n%s",
		srcopts_help());
}

/* 0, CAT_EPIPE, or -errno. */
static int cat_write(const uint8_t *p, size_t n, struct errbuf *e)
{
	int rc = fd_write_all(STDOUT_FILENO, p, n);

	if (rc == -EPIPE)
		return CAT_EPIPE;
	if (rc < 0)
		return err_set(e, rc, "writing to standard output: %s", strerror(-rc));
	return 0;
}

static void cat_prefetch(struct store *s, const struct dag_extent *x, int i, int n)
{
	if (i < n && !x[i].inline_data)
		store_prefetch(s, &x[i].leaf, FETCH_PRIO_READAHEAD);
}

/* Write extents [0, n) from offset *off on; advances *off. */
static int cat_extents(struct store *s, struct dag_file *f, const struct dag_extent *x, int n,
		       uint64_t *off, uint8_t *buf, struct errbuf *e)
{
	struct store_get_opts o = {.prio = FETCH_PRIO_DEMAND};
	uint64_t skip, left;
	size_t k;
	int i, j, rc;

	for (j = 1; j <= CAT_AHEAD; j++)
		cat_prefetch(s, x, j, n);
	for (i = 0; i < n; i++) {
		cat_prefetch(s, x, i + CAT_AHEAD + 1, n);
		if (x[i].file_off > *off || x[i].file_off + x[i].len <= *off)
			return err_set(e, -EIO, "no data at offset %llu", (unsigned long long)*off);
		if (x[i].len > BLOCK_MAX)
			return err_set(e, -EIO, "leaf %s claims %llu bytes (more than a block)",
				       cid_str(&x[i].leaf), (unsigned long long)x[i].len);
		skip = *off - x[i].file_off;
		left = x[i].len - skip;
		k = (size_t)left;
		rc = dag_extent_read(f, &x[i], skip, k, buf, &o, e);
		if (!rc)
			rc = cat_write(buf, k, e);
		if (rc)
			return rc;
		*off += k;
	}
	return 0;
}

static int cat_file(struct store *s, const struct cid *cid, struct errbuf *e)
{
	struct store_get_opts o = {.prio = FETCH_PRIO_DEMAND};
	struct dag_extent x[CAT_BATCH];
	struct dag_file *f;
	uint64_t off = 0, size;
	uint8_t *buf;
	int n, rc;

	rc = dag_file_open(s, cid, &o, &f, e);
	if (rc)
		return rc;
	size = dag_file_size(f);
	buf = malloc(BLOCK_MAX);
	rc = buf ? 0 : err_set(e, -ENOMEM, "out of memory");
	while (!rc && off < size) {
		n = dag_file_extents(f, off, size - off, x, CAT_BATCH, &o, e);
		if (n <= 0)
			rc = n < 0 ? n
				   : err_set(e, -EIO, "no data at offset %llu",
					     (unsigned long long)off);
		else
			rc = cat_extents(s, f, x, n, &off, buf, e);
	}
	free(buf);
	dag_file_free(f);
	return rc;
}

/* Parse arguments into so and *path. 0, 1 (--help shown), or EXIT_USAGE. */
static int cat_args(int argc, char **argv, struct srcopts *so, const char **path)
{
	struct errbuf e;
	int i = 1, rc;

	while (i < argc) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			cat_usage(stdout);
			return 1;
		}
		rc = srcopts_parse_arg(so, argc, argv, &i, &e);
		if (rc < 0) {
			fprintf(stderr, "mpack cat: %s\n", e.msg);
			return EXIT_USAGE;
		}
		if (rc == 1)
			continue;
		if (!strcmp(argv[i], "--") && i + 1 < argc && !*path) {
			*path = argv[i + 1];
			i += 2;
			continue;
		}
		if (argv[i][0] == '-' || *path) {
			fprintf(stderr, "mpack cat: unexpected argument '%s' (try --help)\n",
				argv[i]);
			return EXIT_USAGE;
		}
		*path = argv[i++];
	}
	if (!*path) {
		cat_usage(stderr);
		return EXIT_USAGE;
	}
	if (srcopts_finish(so, &e)) {
		fprintf(stderr, "mpack cat: %s\n", e.msg);
		return EXIT_USAGE;
	}
	return 0;
}

int cmd_cat(int argc, char **argv)
{
	struct srcopts so;
	struct errbuf e = {{0}};
	struct store *s = NULL;
	const char *path = NULL;
	struct cid cid;
	int rc;

	srcopts_init(&so);
	rc = cat_args(argc, argv, &so, &path);
	if (rc)
		return rc == 1 ? 0 : rc;
	signal(SIGPIPE, SIG_IGN);
	rc = store_open(&so.cfg, &s, &e);
	if (!rc)
		rc = dag_resolve(s, path, NULL, &cid, &e);
	if (!rc)
		rc = cat_file(s, &cid, &e);
	store_close(s);
	if (rc == CAT_EPIPE)
		return 0;
	if (rc) {
		fprintf(stderr, "mpack cat: %s: %s\n", path, e.msg);
		return 1;
	}
	return 0;
}
