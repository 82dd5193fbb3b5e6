/* cmd_export: `mpack export CID -o FILE.car`: a complete CARv1 of a pack (the manifest's
 * blocks and every block of every file, each once; or a whole UnixFS tree), written to
 * FILE.tmp and renamed. Missing blocks come from the sources. Also the CAR writer that
 * `mpack publish` streams. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "cmd.h"
#include "jsonw.h"
#include "walk.h"

#define EX_BUFFER (1u << 20)

struct ex_ctx {
	struct car_writer *cw;
	struct cmd_export_stats *st;
};

struct ex_file {
	FILE *f;
	int err; /* first write error (-errno) */
};

static volatile sig_atomic_t ex_sigint;

static void ex_on_sigint(int sig)
{
	(void)sig;
	ex_sigint = 1;
}

static int ex_interrupted(void *ctx)
{
	(void)ctx;
	return ex_sigint;
}

static void ex_usage(FILE *f)
{
	fprintf(f,
		"usage: mpack export [--json] [SOURCE OPTIONS] CID -o FILE.car\n\n"
		"Write a complete CARv1 of a pack rooted at CID: for a ModelPack manifest its own\n"
		"blocks and every block of every file it names; for a directory the whole UnixFS\n"
		"tree; for a file its DAG. Each block appears once and is hashed again before\n"
		"it is written; blocks not held locally are fetched from the sources. The CAR is\n"
		"written to FILE.car.tmp and renamed when complete ('-' writes to standard\n"
		"output). 'mpack import' reads it back into a cache.\n\n"
		"  -o, --out FILE  the CAR file to write\n"
		"  --json          print {\"cid\",\"path\",\"blocks\",\"bytes\"} when done\n"
		"  -h, --help      this help\n\n%s\n"
		"Exit status: 0 written, 1 a block could not be had or the file could not be\n"
		"written (nothing is left at FILE), 2 usage error.\n",
		srcopts_help());
}

static int ex_block(void *ctx, const struct walk_block *b)
{
	struct ex_ctx *x = ctx;
	int rc;

	if (!b->data) /* PROBED or unfetched: cannot happen with WALK_LEAVES */
		return -EIO;
	rc = car_writer_put(x->cw, &b->cid, b->data, b->len);
	if (rc)
		return rc;
	x->st->blocks++;
	x->st->bytes += b->len;
	return 0;
}

int cmd_export_car(struct store *s, const struct walk_pack *p, const struct cid *roots,
		   size_t nroots, car_write_fn wr, void *ctx, const struct store_get_opts *get,
		   struct cmd_export_stats *st, struct errbuf *e)
{
	static const struct walk_ops ops = {NULL, ex_block, NULL};
	struct walk_opts wo = {.flags = WALK_LEAVES | WALK_DISTINCT | WALK_VERIFY};
	struct ex_ctx x = {.st = st};
	int rc;

	memset(st, 0, sizeof(*st));
	if (get)
		wo.get = *get;
	rc = car_writer_new(wr, ctx, roots, nroots, &x.cw);
	if (rc)
		return err_set(e, rc, "writing the CAR header: %s", strerror(-rc));
	e->msg[0] = '\0';
	rc = walk_run(s, p, &wo, &ops, &x, e);
	if (rc && !e->msg[0])
		err_set(e, rc, "writing the CAR: %s", strerror(-rc));
	car_writer_free(x.cw);
	return rc;
}

/* ---- the output file ---- */

static int ex_write(void *ctx, const void *buf, size_t n)
{
	struct ex_file *o = ctx;

	if (!o->err && fwrite(buf, 1, n, o->f) != n)
		o->err = errno ? -errno : -EIO;
	return o->err;
}

static int ex_open(const char *path, char **tmp, struct ex_file *o, struct errbuf *e)
{
	int fd;

	*tmp = NULL;
	if (!strcmp(path, "-")) {
		o->f = stdout;
		return 0;
	}
	if (asprintf(tmp, "%s.tmp", path) < 0) {
		*tmp = NULL;
		return err_set(e, -ENOMEM, "out of memory");
	}
	fd = open(*tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || !(o->f = fdopen(fd, "wb"))) {
		int rc = -errno;

		if (fd >= 0)
			close(fd);
		return err_set(e, rc, "%s: %s", *tmp, strerror(-rc));
	}
	setvbuf(o->f, NULL, _IOFBF, EX_BUFFER);
	return 0;
}

/* Flush, fsync, close and rename (or just flush stdout). */
static int ex_close(const char *path, const char *tmp, struct ex_file *o, int rc, struct errbuf *e)
{
	if (!tmp)
		return rc	      ? rc
		       : fflush(o->f) ? err_set(e, -errno, "stdout: %s", strerror(errno))
				      : 0;
	if (!rc && (fflush(o->f) || fsync(fileno(o->f))))
		rc = err_set(e, -errno, "%s: %s", tmp, strerror(errno));
	if (fclose(o->f) && !rc)
		rc = err_set(e, -errno, "%s: %s", tmp, strerror(errno));
	if (!rc && rename(tmp, path))
		rc = err_set(e, -errno, "%s: %s", path, strerror(errno));
	if (rc)
		unlink(tmp);
	return rc;
}

/* ---- main ---- */

static int ex_args(int argc, char **argv, struct srcopts *so, const char **arg, const char **out,
		   bool *json)
{
	int i = 1;

	while (i < argc) {
		switch (cmd_arg_common("export", so, argc, argv, &i)) {
		case CMD_ARG_HELP:
			ex_usage(stdout);
			return -1;
		case CMD_ARG_BAD:
			return EXIT_USAGE;
		case CMD_ARG_TAKEN:
			continue;
		}
		if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--out")) {
			if (++i >= argc)
				return cmd_usage_err("export", "%s needs a FILE", argv[i - 1]);
			*out = argv[i];
		} else if (!strncmp(argv[i], "--out=", 6)) {
			*out = argv[i] + 6;
		} else if (!strcmp(argv[i], "--json")) {
			*json = true;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return cmd_usage_err("export", "unknown option '%s'", argv[i]);
		} else if (*arg) {
			return cmd_usage_err("export", "unexpected argument '%s'", argv[i]);
		} else {
			*arg = argv[i];
		}
		i++;
	}
	if (!*arg)
		return cmd_usage_err("export", "missing CID");
	if (!*out || !**out)
		return cmd_usage_err("export", "missing -o FILE.car");
	return cmd_finish_sources("export", so);
}

static void ex_report(const struct walk_pack *p, const char *out, const struct cmd_export_stats *st,
		      bool json)
{
	FILE *f = strcmp(out, "-") ? stdout : stderr;
	struct jsonw w;

	if (!json) {
		fprintf(f, "exported %s: %" PRIu64 " blocks, %" PRIu64 " bytes to %s\n",
			cid_str(&p->root), st->blocks, st->bytes, out);
		return;
	}
	jw_init(&w, 1 << 16);
	jw_obj(&w);
	jw_kstr(&w, "cid", cid_str(&p->root));
	jw_kstr(&w, "path", out);
	jw_ku64(&w, "blocks", st->blocks);
	jw_ku64(&w, "bytes", st->bytes);
	jw_obj_end(&w);
	if (jw_text(&w))
		fprintf(f, "%s\n", jw_text(&w));
	jw_free(&w);
}

int cmd_export(int argc, char **argv)
{
	struct store_get_opts get = {.interrupted = ex_interrupted};
	struct cmd_export_stats st = {0};
	struct walk_pack *p = NULL;
	struct ex_file o = {0};
	struct srcopts so;
	struct errbuf e = {{0}};
	struct store *s = NULL;
	const char *arg = NULL, *out = NULL;
	char *tmp = NULL;
	bool json = false;
	int rc;

	srcopts_init(&so);
	rc = ex_args(argc, argv, &so, &arg, &out, &json);
	if (rc)
		return rc < 0 ? 0 : rc;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, ex_on_sigint);
	rc = store_open(&so.cfg, &s, &e);
	if (!rc)
		rc = walk_pack_open_arg(s, arg, &get, &p, &e);
	if (!rc && !(rc = ex_open(out, &tmp, &o, &e))) {
		rc = cmd_export_car(s, p, &p->root, 1, ex_write, &o, &get, &st, &e);
		if (o.err && (!rc || rc == o.err))
			rc = err_set(&e, o.err, "%s: %s", tmp ? tmp : "stdout", strerror(-o.err));
		rc = ex_close(out, tmp, &o, rc, &e);
	}
	if (rc)
		fprintf(stderr, "mpack export: %s: %s\n", arg, e.msg[0] ? e.msg : strerror(-rc));
	else
		ex_report(p, out, &st, json);
	free(tmp);
	walk_pack_free(p);
	store_close(s);
	return rc ? 1 : cmd_flush("export");
}
