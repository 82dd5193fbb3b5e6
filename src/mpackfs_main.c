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
#include "memtune.h"
#include "srcopts.h"
#include "version.h"

#define EXIT_USAGE 2
#define FUSE_CONF  "/etc/fuse.conf"

struct mount_ctx {
	struct srcopts so;
	struct store *store;
	const char *alias_names[CONFIG_MAX_ALIASES]; /* borrowed from so.conf */
	const char *alias_cids[CONFIG_MAX_ALIASES];
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mpackfs [options] [SOURCE] MOUNTPOINT\n\n"
		"Mounts ModelPacks and IPFS directories read-only at MOUNTPOINT: looking up\n"
		"MOUNTPOINT/<cid> fetches, verifies and shows that pack lazily. SOURCE (as\n"
		"passed by mount(8)) is ignored.\n\n"
		"%s\n"
		"Mount options:\n"
		"  -f                  stay in the foreground (log to stderr, else syslog)\n"
		"  -d                  FUSE debug output (implies -f)\n"
		"  -s                  single-threaded\n"
		"  -o OPT[,OPT...]     every config file key as KEY=VALUE (booleans also bare):\n"
		"                      api=URL, gateway=URL, gateways=URL|URL, car=FILE,\n"
		"                      offline, cache_dir=DIR, cache_size=SIZE, timeout=SECS,\n"
		"                      log_level=LEVEL, read_ahead_kb=N, allow_other,\n"
		"                      max_threads=N, ...; config=FILE, alias=NAME=CID; other\n"
		"                      options go to FUSE\n"
		"  --alias NAME=CID    show NAME in the mount root as a symlink to CID\n"
		"  --read-ahead-kb N   kernel readahead for the mount (default 4096; 0 = leave)\n"
		"  --version           print the version\n"
		"  --help              this text\n\n"
		"See mpackfs(1) and mpackfs.conf(5).\n",
		srcopts_help());
}

/* One -o key (possibly key=value) of ours; 1 if consumed, 0 if it is libfuse's. */
static int mount_opt(struct mount_ctx *m, char *kv, struct errbuf *e)
{
	char *val = strchr(kv, '=');
	int rc;

	if (val)
		*val++ = '\0';
	if (!strcmp(kv, "alias")) {
		rc = val ? srcopts_alias(&m->so, val, "-o alias", e)
			 : err_set(e, -EINVAL, "-o alias needs NAME=CID");
		return rc < 0 ? rc : 1;
	}
	rc = srcopts_mount_opt(&m->so, kv, val, e);
	if (rc == 0 && val)
		val[-1] = '=';
	return rc;
}

/* Split a -o list: our keys are applied, the rest go back to libfuse. */
static int split_o(struct mount_ctx *m, const char *list, struct fuse_args *fa, struct errbuf *e)
{
	char *copy = strdup(list), *save = NULL, *kv;
	int rc = 0;

	if (!copy)
		return err_set(e, -ENOMEM, "out of memory");
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

/* "--name VALUE" or "--name=VALUE" for an mpackfs-only flag; NULL if a is not it. */
static const char *flag_value(const char *a, const char *name, int argc, char **argv, int *i)
{
	size_t n = strlen(name);

	if (strncmp(a, name, n) || (a[n] && a[n] != '='))
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	return *i + 1 < argc ? argv[++*i] : "";
}

/* One argument that is not a source option. 0, or -EINVAL. */
static int parse_one(struct mount_ctx *m, int argc, char **argv, int *i, struct fuse_args *fa,
		     const char **pos, int *npos, struct errbuf *e)
{
	const char *a = argv[*i], *v;

	if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
		usage(stdout);
		exit(0);
	} else if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
		printf("mpackfs %s (libfuse %s)\n", MPACK_VERSION, fuse_pkgversion());
		exit(0);
	} else if ((v = flag_value(a, "--read-ahead-kb", argc, argv, i))) {
		return srcopts_set_key(&m->so, CONFIG_READ_AHEAD_KB, v, "--read-ahead-kb", e);
	} else if ((v = flag_value(a, "--alias", argc, argv, i))) {
		return srcopts_alias(&m->so, v, "--alias", e);
	} else if (!strncmp(a, "-o", 2)) {
		v = a[2] ? a + 2 : (*i + 1 < argc ? argv[++*i] : NULL);
		if (!v)
			return err_set(e, -EINVAL, "-o needs a list of options");
		return split_o(m, v, fa, e);
	} else if (!strncmp(a, "--", 2)) {
		return err_set(e, -EINVAL, "unknown option '%s' (see mpackfs --help)", a);
	} else if (a[0] == '-' && a[1]) {
		fuse_opt_add_arg(fa, a);
	} else if (*npos < 2) {
		pos[(*npos)++] = a;
	} else {
		return err_set(e, -EINVAL,
			       "unexpected argument '%s' (usage: mpackfs [options] "
			       "MOUNTPOINT)",
			       a);
	}
	return 0;
}

/* mount.fuse3 runs "mpackfs SOURCE MOUNTPOINT -o ...": a leading source is ignored. */
static int parse_args(struct mount_ctx *m, int argc, char **argv, struct fuse_args *fa,
		      struct errbuf *e)
{
	const char *pos[2];
	int i = 1, rc, npos = 0;

	fuse_opt_add_arg(fa, argv[0]);
	while (i < argc) {
		rc = srcopts_parse_arg(&m->so, argc, argv, &i, e);
		if (rc < 0)
			return rc;
		if (rc > 0)
			continue;
		rc = parse_one(m, argc, argv, &i, fa, pos, &npos, e);
		if (rc < 0)
			return rc;
		i++;
	}
	if (npos)
		fuse_opt_add_arg(fa, pos[npos - 1]);
	return 0;
}

/* The daemon chdirs to "/": make a relative path absolute (copied into the config pool). */
static int abs_path(struct mount_ctx *m, const char **p, struct errbuf *e)
{
	char cwd[4096], buf[8192];

	if (!*p || (*p)[0] == '/')
		return 0;
	if (!getcwd(cwd, sizeof(cwd)))
		return err_set(e, -errno, "getcwd: %s", strerror(errno));
	if ((size_t)snprintf(buf, sizeof(buf), "%s/%s", cwd, *p) >= sizeof(buf))
		return err_set(e, -ENAMETOOLONG, "%s: path too long", *p);
	*p = config_intern(&m->so.conf, buf);
	return *p ? 0 : err_set(e, -ENOSPC, "%s: configuration too large", buf);
}

/* After srcopts_finish: absolute paths, FUSE options from the config. */
static int apply_config(struct mount_ctx *m, struct fuse_args *fa, struct errbuf *e)
{
	struct store_cfg *s = &m->so.cfg;
	const char *ca = s->fetch.ca_path[0] ? s->fetch.ca_path : NULL;
	char opt[64];
	size_t i;
	int rc = 0;

	if (!s->cache.dir) /* preflight opens the cache itself */
		s->cache.dir = config_str(&m->so.conf, CONFIG_CACHE_DIR);
	for (i = 0; i < s->ncars && !rc; i++)
		rc = abs_path(m, &s->cars[i], e);
	if (!rc)
		rc = abs_path(m, &s->cache.dir, e);
	if (!rc && ca && ca[0] != '/') {
		rc = abs_path(m, &ca, e);
		if (!rc && strlen(ca) >= sizeof(s->fetch.ca_path))
			rc = err_set(e, -ENAMETOOLONG, "ca_file %s: path too long", ca);
		if (!rc)
			strcpy(s->fetch.ca_path, ca);
	}
	if (rc)
		return rc;
	fuse_opt_add_arg(fa, "-o");
	fuse_opt_add_arg(fa, "ro,default_permissions,fsname=mpackfs,subtype=mpackfs");
	if (config_bool(&m->so.conf, CONFIG_ALLOW_OTHER)) {
		fuse_opt_add_arg(fa, "-o");
		fuse_opt_add_arg(fa, "allow_other");
	}
	if (m->so.conf.ent[CONFIG_MAX_THREADS].layer != CONFIG_DEFAULT) {
		snprintf(opt, sizeof(opt), "max_threads=%ld",
			 config_int(&m->so.conf, CONFIG_MAX_THREADS));
		fuse_opt_add_arg(fa, "-o");
		fuse_opt_add_arg(fa, opt);
	}
	for (i = 0; i < m->so.conf.naliases; i++) {
		m->alias_names[i] = m->so.conf.aliases[i].name;
		m->alias_cids[i] = m->so.conf.aliases[i].cid;
	}
	return 0;
}

static int mount_start(void *ctx, struct fstree **tree)
{
	struct mount_ctx *m = ctx;
	struct fstree_cfg tc;
	struct errbuf e = {{0}};

	if (store_open(&m->so.cfg, &m->store, &e) < 0) {
		log_error("cannot open the block store: %s", e.msg);
		return -1;
	}
	memset(&tc, 0, sizeof(tc));
	tc.store = m->store;
	tc.uid = getuid();
	tc.gid = getgid();
	tc.timeout_ms = m->so.cfg.fetch.deadline_ms;
	tc.alias_names = m->alias_names;
	tc.alias_cids = m->alias_cids;
	tc.naliases = m->so.conf.naliases;
	if (fstree_new(&tc, tree, &e) < 0) {
		log_error("%s", e.msg);
		store_close(m->store);
		m->store = NULL;
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

/* 1 if /etc/fuse.conf has a "user_allow_other" line. */
static int fuse_conf_allows_other(void)
{
	FILE *f = fopen(FUSE_CONF, "re");
	char line[256], *s;
	int ok = 0;

	if (!f)
		return 0;
	while (!ok && fgets(line, sizeof(line), f)) {
		s = line + strspn(line, " \t");
		s[strcspn(s, " \t\r\n#")] = '\0';
		ok = !strcmp(s, "user_allow_other");
	}
	fclose(f);
	return ok;
}

/* Fail early, on the terminal, for what would otherwise fail after daemonizing. */
static int preflight(struct mount_ctx *m, struct errbuf *e)
{
	struct cache *c;
	size_t i;

	if (config_bool(&m->so.conf, CONFIG_ALLOW_OTHER) && getuid() != 0 &&
	    !fuse_conf_allows_other())
		return err_set(e, -EPERM,
			       "allow_other: only root may use it unless %s has a "
			       "line 'user_allow_other'",
			       FUSE_CONF);
	for (i = 0; i < m->so.cfg.ncars; i++)
		if (access(m->so.cfg.cars[i], R_OK) != 0)
			return err_set(e, -errno, "--car %s: %s", m->so.cfg.cars[i],
				       strerror(errno));
	if (m->so.cfg.no_cache)
		return 0;
	if (cache_open(&m->so.cfg.cache, &c, e) < 0)
		return -EINVAL;
	cache_close(c);
	return 0;
}

static int run(struct mount_ctx *m, struct fuse_args *fa, struct fuse_cmdline_opts *fo)
{
	struct fs_run_opts ro;
	struct errbuf e = {{0}};

	log_init("mpackfs", fo->debug ? LOG_LVL_DEBUG : m->so.log_level, !fo->foreground);
	if (preflight(m, &e) < 0) {
		fprintf(stderr, "mpackfs: %s\n", e.msg);
		return 1;
	}
	memset(&ro, 0, sizeof(ro));
	ro.mountpoint = fo->mountpoint;
	ro.foreground = fo->foreground;
	ro.debug = fo->debug;
	ro.single_thread = fo->singlethread;
	ro.max_threads = fo->max_threads;
	ro.read_ahead_kb = (unsigned)config_int(&m->so.conf, CONFIG_READ_AHEAD_KB);
	ro.passthrough = config_bool(&m->so.conf, CONFIG_PASSTHROUGH);
	ro.cold_direct = config_bool(&m->so.conf, CONFIG_COLD_DIRECT);
	ro.start = mount_start;
	ro.stop = mount_stop;
	ro.ctx = m;
	return fs_run(fa, &ro);
}

int main(int argc, char **argv)
{
	static struct mount_ctx m; /* large (the config pool): not on the stack */
	struct fuse_args fa = FUSE_ARGS_INIT(0, NULL);
	struct fuse_cmdline_opts fo;
	struct errbuf e = {{0}};
	int rc;

	log_init("mpackfs", LOG_LVL_WARN, 0);
	memtune_init();
	srcopts_init(&m.so);
	if (parse_args(&m, argc, argv, &fa, &e) < 0 || srcopts_finish(&m.so, &e) < 0 ||
	    apply_config(&m, &fa, &e) < 0) {
		fprintf(stderr, "mpackfs: %s\n", e.msg);
		fuse_opt_free_args(&fa);
		return EXIT_USAGE;
	}
	if (fuse_parse_cmdline(&fa, &fo) != 0) {
		fuse_opt_free_args(&fa);
		return EXIT_USAGE;
	}
	if (!fo.mountpoint) {
		fprintf(stderr, "mpackfs: no mountpoint given (usage: mpackfs [options] "
				"MOUNTPOINT)\n");
		fuse_opt_free_args(&fa);
		return EXIT_USAGE;
	}
	rc = run(&m, &fa, &fo);
	free(fo.mountpoint);
	fuse_opt_free_args(&fa);
	return rc;
}
