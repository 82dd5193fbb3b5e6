/* cmd_pack: `mpack pack DIR` — build a ModelPack (SHA256SUMS, manifest, CIDs, CAR). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "jsonw.h"
#include "pack.h"

struct cp_args {
	struct pack_opts o;
	const char *dir;
	int profile;
	long long chunk_size, max_links, cid_version; /* -1 when not given */
	int raw;				      /* -1 not given, 0 no, 1 yes */
	bool json, quiet;
};

static void cp_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: mpack pack DIR [--out FILE] [--car FILE] [--name NAME] [--version V]\n"
	    "                  [--profile modelpack|kubo|kubo-v1] [--chunk-size N]\n"
	    "                  [--max-links N] [--cid-version 0|1] [--raw-leaves|--no-raw-leaves]\n"
	    "                  [--json] [--quiet]\n"
	    "\n"
	    "Hashes every file of DIR (hidden files skipped), writes DIR/SHA256SUMS and the\n"
	    "manifest (default DIR/MODEL_PACK.json), and prints one 'added CID PATH' line per\n"
	    "file, the directory CID, and last the manifest CID (the model version).\n"
	    "  --car FILE      also write a CARv1 of every block, rooted at the manifest\n"
	    "  --profile P     modelpack (default: CIDv1, raw leaves, 1 MiB chunks, 1024 links),\n"
	    "                  kubo (ipfs add defaults: CIDv0, 256 KiB, 174 links), kubo-v1\n"
	    "  --json          print one JSON object instead\n"
	    "  --quiet         print only the manifest CID\n");
}

static int cp_usage_err(const char *fmt, const char *arg)
{
	fprintf(stderr, "mpack pack: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (try 'mpack pack --help')\n");
	return EXIT_USAGE;
}

static int cp_num(const char *s, const char *opt, long long max, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > max || s[0] == '-' || s[0] == '+') {
		fprintf(stderr, "mpack pack: %s: bad number \"%s\" (try 'mpack pack --help')\n",
			opt, s);
		return EXIT_USAGE;
	}
	*out = v;
	return 0;
}

enum {
	OPT_OUT = 256,
	OPT_CAR,
	OPT_NAME,
	OPT_VERSION,
	OPT_CHUNK,
	OPT_LINKS,
	OPT_CIDV,
	OPT_RAW,
	OPT_NORAW,
	OPT_PROFILE,
	OPT_JSON,
	OPT_QUIET,
	OPT_HELP
};

static const struct option cp_opts[] = {
    {"out", required_argument, NULL, OPT_OUT},
    {"car", required_argument, NULL, OPT_CAR},
    {"name", required_argument, NULL, OPT_NAME},
    {"version", required_argument, NULL, OPT_VERSION},
    {"chunk-size", required_argument, NULL, OPT_CHUNK},
    {"max-links", required_argument, NULL, OPT_LINKS},
    {"cid-version", required_argument, NULL, OPT_CIDV},
    {"raw-leaves", no_argument, NULL, OPT_RAW},
    {"no-raw-leaves", no_argument, NULL, OPT_NORAW},
    {"profile", required_argument, NULL, OPT_PROFILE},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static int cp_profile(const char *s, int *out)
{
	if (!strcmp(s, "modelpack"))
		*out = IMP_PROFILE_MODELPACK;
	else if (!strcmp(s, "kubo"))
		*out = IMP_PROFILE_KUBO_V0;
	else if (!strcmp(s, "kubo-v1"))
		*out = IMP_PROFILE_KUBO_V1;
	else
		return cp_usage_err("unknown profile \"%s\" (modelpack, kubo, kubo-v1)", s);
	return 0;
}

/* Returns 0 to go on, EXIT_USAGE, or -1 for --help (exit 0). */
static int cp_opt(struct cp_args *a, int c)
{
	switch (c) {
	case OPT_OUT:
		a->o.out_path = optarg;
		return 0;
	case OPT_CAR:
		a->o.car_path = optarg;
		return 0;
	case OPT_NAME:
		a->o.name = optarg;
		return 0;
	case OPT_VERSION:
		a->o.version = optarg;
		return 0;
	case OPT_CHUNK:
		return cp_num(optarg, "--chunk-size", IMP_CHUNK_MAX, &a->chunk_size);
	case OPT_LINKS:
		return cp_num(optarg, "--max-links", 1 << 20, &a->max_links);
	case OPT_CIDV:
		return cp_num(optarg, "--cid-version", 1, &a->cid_version);
	case OPT_RAW:
		a->raw = 1;
		return 0;
	case OPT_NORAW:
		a->raw = 0;
		return 0;
	case OPT_PROFILE:
		return cp_profile(optarg, &a->profile);
	case OPT_JSON:
		a->json = true;
		return 0;
	case OPT_QUIET:
		a->quiet = true;
		return 0;
	case OPT_HELP:
		cp_usage(stdout);
		return -1;
	default:
		fprintf(stderr, "(try 'mpack pack --help')\n");
		return EXIT_USAGE;
	}
}

/* Profile first, then explicit flags; --cid-version implies the leaf kind. */
static int cp_params(struct cp_args *a)
{
	struct imp_params *p = &a->o.imp;
	struct errbuf e;

	imp_params_profile(p, a->profile);
	if (a->chunk_size >= 0)
		p->chunk_size = (size_t)a->chunk_size;
	if (a->max_links >= 0)
		p->max_links = (size_t)a->max_links;
	if (a->cid_version >= 0) {
		p->cid_version = (int)a->cid_version;
		p->raw_leaves = a->cid_version == 1;
	}
	if (a->raw >= 0)
		p->raw_leaves = a->raw == 1;
	if (p->raw_leaves && p->cid_version == 0)
		return cp_usage_err("%s", "--raw-leaves needs CIDv1 (--cid-version 1)");
	if (imp_params_check(p, &e))
		return cp_usage_err("%s", e.msg);
	return 0;
}

static int cp_parse(int argc, char **argv, struct cp_args *a)
{
	int c, rc;

	memset(a, 0, sizeof(*a));
	a->chunk_size = a->max_links = a->cid_version = -1;
	a->raw = -1;
	a->profile = IMP_PROFILE_MODELPACK;
	optind = 1;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "h", cp_opts, NULL)) != -1) {
		rc = cp_opt(a, c == 'h' ? OPT_HELP : c);
		if (rc)
			return rc;
	}
	if (optind >= argc)
		return cp_usage_err("%s", "missing DIR");
	if (optind + 1 < argc)
		return cp_usage_err("unexpected argument \"%s\"", argv[optind + 1]);
	a->dir = argv[optind];
	if (!*a->dir)
		return cp_usage_err("%s", "empty DIR");
	return cp_params(a);
}

static void cp_print_json(const struct pack_result *r)
{
	char cid[CID_MAX_TEXT], hex[65];
	size_t i, k;

	cid_format(&r->manifest_cid, cid, sizeof(cid));
	printf("{\"manifest_cid\":\"%s\",", cid);
	cid_format(&r->dir_cid, cid, sizeof(cid));
	printf("\"directory_cid\":\"%s\",\"manifest_path\":", cid);
	jw_fput_str(stdout, r->manifest_path);
	printf(",\"car_path\":");
	if (r->car_path)
		jw_fput_str(stdout, r->car_path);
	else
		printf("null");
	printf(",\"files\":[");
	for (i = 0; i < r->nfiles; i++) {
		const struct pack_file *f = &r->files[i];

		for (k = 0; k < 32; k++)
			snprintf(hex + 2 * k, 3, "%02x", f->sha256[k]);
		cid_format(&f->cid, cid, sizeof(cid));
		printf("%s{\"path\":", i ? "," : "");
		jw_fput_str(stdout, f->path);
		printf(",\"cid\":\"%s\",\"sha256\":\"%s\",\"size\":%" PRIu64 ",\"role\":\"%s\"}",
		       cid, hex, f->size, pack_role_name(f->role));
	}
	printf("],\"blocks\":%" PRIu64 ",\"bytes\":%" PRIu64 "}\n", r->blocks, r->bytes);
}

static void cp_progress(void *ctx, const struct pack_file *f)
{
	char cid[CID_MAX_TEXT];

	(void)ctx;
	cid_format(&f->cid, cid, sizeof(cid));
	printf("added %s %s\n", cid, f->path);
}

int cmd_pack(int argc, char **argv)
{
	struct pack_result *r;
	struct cp_args a;
	struct errbuf e;
	char cid[CID_MAX_TEXT];
	int rc;

	rc = cp_parse(argc, argv, &a);
	if (rc)
		return rc < 0 ? 0 : rc;
	rc = pack_run(a.dir, &a.o, a.json || a.quiet ? NULL : cp_progress, NULL, &r, &e);
	if (rc) {
		fflush(stdout);
		fprintf(stderr, "mpack pack: %s\n", e.msg);
		return 1;
	}
	if (a.json) {
		cp_print_json(r);
	} else {
		if (!a.quiet) {
			cid_format(&r->dir_cid, cid, sizeof(cid));
			printf("directory %s\n", cid);
		}
		cid_format(&r->manifest_cid, cid, sizeof(cid));
		printf("%s\n", cid);
	}
	pack_result_free(r);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "mpack pack: stdout: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
