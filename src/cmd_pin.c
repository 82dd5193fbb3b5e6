/* cmd_pin: `mpack pin CID` (fetch every block of a pack and pin it in the cache) and
 * `mpack unpin CID` (drop the pins; the blocks become evictable again). */
#include <errno.h>
#include <stdlib.h>

#include "cmd.h"
#include "dag.h"

int cmd_pin(int argc, char **argv)
{
	return cmd_prefetch_run(argc, argv, "pin", true);
}

static void unpin_usage(FILE *f)
{
	fprintf(f,
		"usage: mpack unpin [--cache-dir DIR] CID\n\n"
		"Drop the pins that 'mpack pin CID' or 'mpack prefetch --pin CID' made. The\n"
		"blocks stay cached but may be evicted again (blocks also pinned by another\n"
		"pack stay pinned). Nothing is fetched.\n\n"
		"  -h, --help    this help\n\n%s\n"
		"Exit status: 0 unpinned, 1 CID was not pinned or the cache failed,\n"
		"2 usage error.\n",
		srcopts_help());
}

static int unpin_args(int argc, char **argv, struct srcopts *so, const char **arg)
{
	int i = 1;

	while (i < argc) {
		switch (cmd_arg_common("unpin", so, argc, argv, &i)) {
		case CMD_ARG_HELP:
			unpin_usage(stdout);
			return -1;
		case CMD_ARG_BAD:
			return EXIT_USAGE;
		case CMD_ARG_TAKEN:
			continue;
		}
		if (argv[i][0] == '-' && argv[i][1])
			return cmd_usage_err("unpin", "unknown option '%s'", argv[i]);
		if (*arg)
			return cmd_usage_err("unpin", "unexpected argument '%s'", argv[i]);
		*arg = argv[i++];
	}
	if (!*arg)
		return cmd_usage_err("unpin", "missing CID");
	if (cmd_finish_sources("unpin", so))
		return EXIT_USAGE;
	if (so->cfg.no_cache)
		return cmd_usage_err("unpin", "--no-cache: pins live in the cache");
	so->cfg.offline = true; /* unpinning never needs the network */
	return 0;
}

int cmd_unpin(int argc, char **argv)
{
	struct srcopts so;
	struct errbuf e = {{0}};
	struct store *s = NULL;
	const char *arg = NULL;
	struct cid root;
	int rc;

	srcopts_init(&so);
	rc = unpin_args(argc, argv, &so, &arg);
	if (rc)
		return rc < 0 ? 0 : rc;
	rc = store_open(&so.cfg, &s, &e);
	if (!rc)
		rc = dag_resolve(s, arg, NULL, &root, &e);
	if (!rc) {
		rc = cache_unpin(store_cache(s), &root);
		if (rc == -ENOENT)
			err_set(&e, rc, "not pinned");
		else if (rc)
			err_set(&e, rc, "cache: %s", strerror(-rc));
	}
	store_close(s);
	if (rc) {
		fprintf(stderr, "mpack unpin: %s: %s\n", arg, e.msg);
		return 1;
	}
	printf("unpinned %s\n", cid_str(&root));
	return cmd_flush("unpin");
}
