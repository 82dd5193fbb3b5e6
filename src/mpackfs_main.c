/* mpackfs: mount ModelPacks and IPFS directories as a read-only, verified FUSE filesystem. */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "log.h"
#include "srcopts.h"
#include "version.h"

#define EXIT_USAGE 2

struct mount_ctx {
	struct srcopts so;
	struct store *store;
	int log_level;
	unsigned read_ahead_kb;
	char *car_copies[STORE_MAX_CARS]; /* -o car= values (borrowed by so) */
	size_t ncar_copies;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mpackfs [options] MOUNTPOINT\n\n"
		"Mounts ModelPacks and IPFS directories read-only at MOUNTPOINT: looking up\n"
		"MOUNTPOINT/<cid> fetches, verifies and shows that pack lazily.\n\n"
		"Source options:\n%s\n"
		"Mount options:\n"
		"  -f                  stay in the foreground (log to stderr)\n"
		"  -d                  FUSE debug output (implies -f)\n"
		"  -s                  single-threaded\n"
		"  -o OPT[,OPT...]     mount options: allow_other, and the source options as\n"
		"                      api=URL, gateways=URL|URL, car=FILE, cache_dir=DIR,\n"
		"                      cache_size=SIZE, offline, timeout=SECS, log_level=LEVEL,\n"
		"                      read_ahead_kb=N\n"
		"  --log-level LEVEL   error, warn, info or debug (default warn)\n"
		"  --read-ahead-kb N   kernel readahead for the mount (default 4096; 0 = leave)\n"
		"  --version           print the version\n"
		"  --help              this text\n\n"
		"See mpackfs(1).\n",
		srcopts_help());
}

/* One -o key (possibly key=value) of ours; 1 if consumed, 0 if it is libfuse's. */
static int mount_opt(struct mount_ctx *m, char *kv, struct errbuf *e)
{
	static const char *const map[][2] = {
		{"api", "api"},		    {"car", "car"},	      {"cache_dir", "cache-dir"},
		{"cache_size", "cache-size"}, {"offline", "offline"}, {"timeout", "timeout"},
		{"no_cache", "no-cache"},
	};
	char *val = strchr(kv, '=');
	size_t i;

	if (val)
		*val++ = '\0';
	if (!strcmp(kv, "log_level")) {
		m->log_level = val ? log_level_parse(val) : -1;
		return m->log_level < 0 ? err_set(e, -EINVAL, "-o log_level: expected error, "
						 "warn, info or debug") : 1;
	}
	if (!strcmp(kv, "read_ahead_kb") && val) {
		m->read_ahead_kb = (unsigned)strtoul(val, NULL, 10);
		return 1;
	}
	if (!strcmp(kv, "gateways") && val) {
		char *save = NULL, *g;
		int rc = 1;

		for (g = strtok_r(val, "|", &save); g && rc > 0; g = strtok_r(NULL, "|", &save))
			rc = srcopts_set(&m->so, "gateway", g, e);
		return rc;
	}
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(kv, map[i][0])) {
			if (!strcmp(kv, "car") && val && m->ncar_copies < STORE_MAX_CARS)
				val = m->car_copies[m->ncar_copies++] = strdup(val);
			return srcopts_set(&m->so, map[i][1], val, e);
		}
	if (val)
		val[-1] = '=';
	return 0;
}

/* Split a -o list: our keys are applied, the rest go back to libfuse. */
static int split_o(struct mount_ctx *m, const char *list, struct fuse_args *fa, struct errbuf *e)
{
	char *copy = strdup(list), *save = NULL, *kv;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	for (kv = strtok_r(copy, ",", &save); kv && rc >= 0; kv = strtok_r(NULL, ",", &save)) {
		rc = mount_opt(m, kv, e);
		if (rc == 0) {
			fuse_opt_add_arg(fa, "-o");
			fuse_opt_add_arg(fa, kv);
		}
	}
	free(copy);
	return rc < 0 ? rc : 0;
}

/* mount.fuse3 runs "mpackfs SOURCE MOUNTPOINT -o ...": a leading source is ignored. */
static int parse_args(struct mount_ctx *m, int argc, char **argv, struct fuse_args *fa,
		      struct errbuf *e)
{
	const char *pos[2];
	int i = 1, rc, npos = 0;

	fuse_opt_add_arg(fa, argv[0]);
	while (i < argc) {
		const char *a = argv[i];

		rc = srcopts_parse_arg(&m->so, argc, argv, &i, e);
		if (rc < 0)
			return rc;
		if (rc > 0)
			continue;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
			printf("mpackfs %s (libfuse %s)\n", MPACK_VERSION, fuse_pkgversion());
			exit(0);
		} else if (!strcmp(a, "--log-level") || !strncmp(a, "--log-level=", 12)) {
			const char *v = a[11] == '=' ? a + 12 : (i + 1 < argc ? argv[++i] : "");

			m->log_level = log_level_parse(v);
			if (m->log_level < 0)
				return err_set(e, -EINVAL, "--log-level: expected error, warn, "
							   "info or debug, got '%s'", v);
		} else if (!strcmp(a, "--read-ahead-kb") || !strncmp(a, "--read-ahead-kb=", 16)) {
			const char *v = a[15] == '=' ? a + 16 : (i + 1 < argc ? argv[++i] : "");

			m->read_ahead_kb = (unsigned)strtoul(v, NULL, 10);
		} else if (!strcmp(a, "-o") || !strncmp(a, "-o", 2)) {
			const char *v = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);

			if (!v)
				return err_set(e, -EINVAL, "-o needs a list of options");
			rc = split_o(m, v, fa, e);
			if (rc < 0)
				return rc;
		} else if (!strncmp(a, "--", 2)) {
			return err_set(e, -EINVAL, "unknown option '%s' (see mpackfs --help)", a);
		} else if (a[0] == '-' && a[1]) {
			fuse_opt_add_arg(fa, a);
		} else if (npos < 2) {
			pos[npos++] = a;
		} else {
			return err_set(e, -EINVAL, "unexpected argument '%s' (usage: mpackfs "
						   "[options] MOUNTPOINT)", a);
		}
		i++;
	}
	if (npos)
		fuse_opt_add_arg(fa, pos[npos - 1]);
	return 0;
}

static int mount_start(void *ctx, struct fstree **tree)
{
	struct mount_ctx *m = ctx;
	struct fstree_cfg tc;
	struct errbuf e = {{0}};
	int timeout_ms = m->so.cfg.fetch.deadline_ms;

	if (store_open(&m->so.cfg, &m->store, &e) < 0) {
		log_error("cannot open the block store: %s", e.msg);
		return -1;
	}
	memset(&tc, 0, sizeof(tc));
	tc.store = m->store;
	tc.uid = getuid();
	tc.gid = getgid();
	tc.timeout_ms = timeout_ms;
	if (fstree_new(&tc, tree, &e) < 0) {
		log_error("%s", e.msg);
		store_close(m->store);
		return -1;
	}
	return 0;
}

static void mount_stop(void *ctx, struct fstree *tree)
{
	struct mount_ctx *m = ctx;

	fstree_free(tree);
	store_close(m->store);
	m->store = NULL;
}

/* Fail early, on the terminal, for what would otherwise fail after daemonizing. */
static int preflight(struct mount_ctx *m, struct errbuf *e)
{
	struct cache *c;
	size_t i;

	for (i = 0; i < m->so.cfg.ncars; i++)
		if (access(m->so.cfg.cars[i], R_OK) != 0)
			return err_set(e, -errno, "--car %s: %s", m->so.cfg.cars[i], strerror(errno));
	if (m->so.cfg.no_cache)
		return 0;
	if (cache_open(&m->so.cfg.cache, &c, e) < 0)
		return -EINVAL;
	cache_close(c);
	return 0;
}

int main(int argc, char **argv)
{
	struct fuse_args fa = FUSE_ARGS_INIT(0, NULL);
	struct fuse_cmdline_opts fo;
	struct fs_run_opts ro;
	struct mount_ctx m;
	struct errbuf e = {{0}};
	size_t i;
	int rc;

	memset(&m, 0, sizeof(m));
	m.log_level = LOG_LVL_WARN;
	m.read_ahead_kb = 4096;
	srcopts_init(&m.so);
	if (parse_args(&m, argc, argv, &fa, &e) < 0 || srcopts_finish(&m.so, &e) < 0) {
		fprintf(stderr, "mpackfs: %s\n", e.msg);
		return EXIT_USAGE;
	}
	fuse_opt_add_arg(&fa, "-o");
	fuse_opt_add_arg(&fa, "ro,default_permissions,fsname=mpackfs,subtype=mpackfs");
	if (fuse_parse_cmdline(&fa, &fo) != 0)
		return EXIT_USAGE;
	if (!fo.mountpoint) {
		fprintf(stderr, "mpackfs: no mountpoint given (usage: mpackfs [options] "
				"MOUNTPOINT)\n");
		return EXIT_USAGE;
	}
	log_init("mpackfs", fo.debug ? LOG_LVL_DEBUG : m.log_level, !fo.foreground);
	rc = preflight(&m, &e);
	if (rc < 0) {
		fprintf(stderr, "mpackfs: %s\n", e.msg);
		return 1;
	}
	memset(&ro, 0, sizeof(ro));
	ro.mountpoint = fo.mountpoint;
	ro.foreground = fo.foreground;
	ro.debug = fo.debug;
	ro.single_thread = fo.singlethread;
	ro.read_ahead_kb = m.read_ahead_kb;
	ro.start = mount_start;
	ro.stop = mount_stop;
	ro.ctx = &m;
	rc = fs_run(&fa, &ro);
	free(fo.mountpoint);
	fuse_opt_free_args(&fa);
	for (i = 0; i < m.ncar_copies; i++)
		free(m.car_copies[i]);
	return rc;
}
