/* cmd_car: `mpack car ls FILE [--json]`, list a CAR's roots and verify every block. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "car.h"
#include "cid.h"
#include "cmd.h"
#include "jsonw.h"
#include "multihash.h"

struct car_ls {
	const char *path;
	int fd;
	int json;
	uint64_t nblocks;
	uint64_t nbad;
};

static void car_usage(FILE *f)
{
	fprintf(f,
		"usage: mpack car ls [--json] FILE\n"
		"\n"
		"List a CAR file's roots and blocks (CARv1 or CARv2), verifying every block\n"
		"against its CID. FILE '-' reads standard input.\n"
		"\n"
		"Text output: 'root CID' lines, then one 'CID SIZE ok|BAD' line per block.\n"
		"\n"
		"options:\n"
		"  --json      print one JSON object instead:\n"
		"              {\"version\":1,\"roots\":[CID...],\n"
		"               \"blocks\":[{\"cid\":CID,\"size\":N,\"ok\":true}...],\"bad\":0}\n"
		"              (plus \"error\":MESSAGE if the CAR is malformed)\n"
		"  -h, --help  show this help\n"
		"\n"
		"Exit status: 0 every block verified, 1 a block failed verification or the\n"
		"CAR is malformed or unreadable, 2 usage error.\n");
}

static ssize_t car_fd_read(void *ctx, void *buf, size_t n)
{
	int fd = *(const int *)ctx;
	ssize_t got;

	do
		got = read(fd, buf, n);
	while (got < 0 && errno == EINTR);
	return got < 0 ? -errno : got;
}

static void ls_roots(const struct car_ls *ls, const struct car_reader *r)
{
	char text[CID_MAX_TEXT];
	size_t i, n = car_reader_nroots(r);

	if (ls->json)
		printf("{\"version\":%d,\"roots\":[", car_reader_version(r));
	for (i = 0; i < n; i++) {
		cid_format(car_reader_root(r, i), text, sizeof(text));
		if (ls->json) {
			if (i)
				putchar(',');
			jw_fput_str(stdout, text);
		} else {
			printf("root %s\n", text);
		}
	}
	if (ls->json)
		printf("],\"blocks\":[");
}

static void ls_block(struct car_ls *ls, const struct cid *cid, const uint8_t *block, size_t len,
		     uint64_t offset)
{
	char text[CID_MAX_TEXT];
	struct errbuf e;
	int ok;

	ok = mh_verify(cid, block, len, &e) == 0;
	if (!ok) {
		ls->nbad++;
		fprintf(stderr, "mpack car: %s: block at offset %" PRIu64 ": %s\n", ls->path,
			offset, e.msg);
	}
	cid_format(cid, text, sizeof(text));
	if (ls->json) {
		if (ls->nblocks)
			putchar(',');
		printf("{\"cid\":");
		jw_fput_str(stdout, text);
		printf(",\"size\":%zu,\"ok\":%s}", len, ok ? "true" : "false");
	} else {
		printf("%s %zu %s\n", text, len, ok ? "ok" : "BAD");
	}
	ls->nblocks++;
}

/* Streams the sections; returns the exit status. */
static int ls_run(struct car_ls *ls)
{
	struct car_reader *r;
	const uint8_t *block;
	struct errbuf e;
	struct cid cid;
	uint64_t offset;
	size_t len;
	int rc;

	rc = car_reader_open(car_fd_read, &ls->fd, &r, &e);
	if (rc) {
		fprintf(stderr, "mpack car: %s: %s\n", ls->path, e.msg);
		return 1;
	}
	ls_roots(ls, r);
	while ((rc = car_reader_next(r, &cid, &block, &len, &offset, &e)) == 1)
		ls_block(ls, &cid, block, len, offset);
	car_reader_free(r);
	if (rc < 0)
		fprintf(stderr, "mpack car: %s: %s\n", ls->path, e.msg);
	else if (ls->nbad)
		fprintf(stderr,
			"mpack car: %s: %" PRIu64 " of %" PRIu64 " blocks failed verification\n",
			ls->path, ls->nbad, ls->nblocks);
	if (ls->json) {
		printf("],\"bad\":%" PRIu64, ls->nbad);
		if (rc < 0) {
			printf(",\"error\":");
			jw_fput_str(stdout, e.msg);
		}
		printf("}\n");
	}
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "mpack car: writing output: %s\n", strerror(errno));
		return 1;
	}
	return rc < 0 || ls->nbad ? 1 : 0;
}

static int car_ls_main(int argc, char **argv)
{
	struct car_ls ls = {.path = NULL, .fd = -1};
	int i, opts = 1, status;

	for (i = 1; i < argc; i++) {
		if (opts && !strcmp(argv[i], "--")) {
			opts = 0;
		} else if (opts && (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))) {
			car_usage(stdout);
			return 0;
		} else if (opts && !strcmp(argv[i], "--json")) {
			ls.json = 1;
		} else if (opts && argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "mpack car: unknown option '%s' (try 'mpack car --help')\n",
				argv[i]);
			return EXIT_USAGE;
		} else if (ls.path) {
			fprintf(stderr, "mpack car: ls takes one FILE (got '%s' and '%s')\n",
				ls.path, argv[i]);
			return EXIT_USAGE;
		} else {
			ls.path = argv[i];
		}
	}
	if (!ls.path) {
		fprintf(stderr, "mpack car: ls: missing FILE\n");
		car_usage(stderr);
		return EXIT_USAGE;
	}
	ls.fd = strcmp(ls.path, "-") ? open(ls.path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (ls.fd < 0) {
		fprintf(stderr, "mpack car: %s: %s\n", ls.path, strerror(errno));
		return 1;
	}
	status = ls_run(&ls);
	if (ls.fd != STDIN_FILENO)
		close(ls.fd);
	return status;
}

int cmd_car(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "mpack car: missing subcommand\n");
		car_usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		car_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "ls"))
		return car_ls_main(argc - 1, argv + 1);
	fprintf(stderr, "mpack car: unknown subcommand '%s' (try 'mpack car --help')\n", argv[1]);
	return EXIT_USAGE;
}
