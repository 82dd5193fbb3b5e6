/* cmd_publish: `mpack publish CID --api URL [--pin]`: stream a pack's CAR to a Kubo
 * daemon's /api/v0/dag/import and check that it took the root.
 *
 * DESIGN. A writer thread walks the pack and writes the CAR into a pipe
 * (cmd_export_car); the main thread's libcurl read callback (fetch_post) reads the other
 * end, so the CAR is never held in memory or on disk. The writer records its result
 * before it closes the pipe, so the reader that sees EOF knows whether the CAR is
 * complete, and aborts the upload if not. If the POST ends early, the main thread closes
 * the read end: the writer's next write fails with EPIPE and it exits. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "cmd.h"
#include "fdio.h"
#include "fetch_post.h"
#include "jsonw.h"
#include "walk.h"

#define PUB_TEXT 1024

struct pub {
	struct store *s;
	struct walk_pack *p;
	struct cid *roots;
	size_t nroots;
	int fds[2];
	int wrc; /* the writer's result; set before it closes fds[1] */
	struct errbuf we;
	struct cmd_export_stats st;
	const char *api;
	bool pin, json;
};

static void pub_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: mpack publish [--pin] [--json] [SOURCE OPTIONS] CID\n\n"
	    "Upload a pack to an IPFS (Kubo) daemon: its complete CAR (as 'mpack export'\n"
	    "writes it) is streamed to the daemon's /api/v0/dag/import, and the root the\n"
	    "daemon reports must be CID. The daemon is the Kubo RPC API of the source\n"
	    "options (--api URL, else MPACKFS_API, else " SRCOPTS_DEFAULT_API "); blocks\n"
	    "not held locally are fetched from the other sources first.\n\n"
	    "  --pin         ask the daemon to pin the pack (pin-roots=true; for a manifest\n"
	    "                the CAR's roots are the manifest and every file it names, so\n"
	    "                the daemon pins them all)\n"
	    "  --json        print {\"cid\",\"api\",\"blocks\",\"bytes\",\"pinned\",\"roots\"}\n"
	    "  -h, --help    this help\n\n%s\n"
	    "Exit status: 0 published, 1 a block could not be had, the daemon refused the\n"
	    "CAR (its message is shown) or did not report the root, 2 usage error.\n",
	    srcopts_help());
}

/* ---- the CAR producer ---- */

static int pub_pipe_write(void *ctx, const void *buf, size_t n)
{
	return fd_write_all(((struct pub *)ctx)->fds[1], buf, n);
}

static void *pub_writer(void *arg)
{
	struct pub *pb = arg;
	int rc = cmd_export_car(pb->s, pb->p, pb->roots, pb->nroots, pub_pipe_write, pb, NULL,
				&pb->st, &pb->we);

	__atomic_store_n(&pb->wrc, rc ? rc : 1, __ATOMIC_RELEASE);
	close(pb->fds[1]);
	return NULL;
}

static ssize_t pub_read(void *ctx, void *buf, size_t n)
{
	struct pub *pb = ctx;
	ssize_t got;

	do
		got = read(pb->fds[0], buf, n);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return -errno;
	if (got == 0 && __atomic_load_n(&pb->wrc, __ATOMIC_ACQUIRE) != 1)
		return -EIO; /* the CAR is incomplete: abort the upload */
	return got;
}

/* The pack root, then (pinning a manifest) every distinct entry CID. */
static int pub_roots(struct pub *pb)
{
	const struct manifest *m = pb->p->m;
	size_t i, k, n = 1 + (pb->pin && m ? m->nentries : 0);

	pb->roots = calloc(n, sizeof(*pb->roots));
	if (!pb->roots)
		return -ENOMEM;
	pb->roots[pb->nroots++] = pb->p->root;
	for (i = 0; pb->pin && m && i < m->nentries; i++) {
		for (k = 0; k < pb->nroots; k++)
			if (cid_equal(&pb->roots[k], &m->entries[i].cid))
				break;
		if (k == pb->nroots)
			pb->roots[pb->nroots++] = m->entries[i].cid;
	}
	return 0;
}

/* ---- the daemon's answer ---- */

/* The string value of "key" in a JSON text (first occurrence), unescaped into out. */
static bool pub_json_str(const char *text, const char *key, char *out, size_t cap)
{
	char pat[64];
	const char *p;
	size_t n = 0;

	snprintf(pat, sizeof(pat), "\"%s\"", key);
	p = strstr(text, pat);
	if (!p)
		return false;
	p += strlen(pat);
	p += strspn(p, " \t\r\n");
	if (*p++ != ':')
		return false;
	p += strspn(p, " \t\r\n");
	if (*p++ != '"')
		return false;
	for (; *p && *p != '"' && n + 1 < cap; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			out[n++] = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p == 'u' ? '?' : *p;
			if (*p == 'u')
				p += strnlen(p + 1, 4);
		} else {
			out[n++] = (unsigned char)*p < 0x20 ? '?' : *p;
		}
	}
	out[n] = '\0';
	return *p == '"' || n + 1 == cap;
}

/* A non-200 answer: Kubo's {"Message": ...}, or the start of the body. */
static int pub_http_error(const struct fetch_post_resp *r, struct errbuf *e)
{
	char msg[PUB_TEXT];

	if (pub_json_str((const char *)r->body, "Message", msg, sizeof(msg)))
		return err_set(e, -EIO, "daemon answered HTTP %ld: %s", r->status, msg);
	return err_set(e, -EIO, "daemon answered HTTP %ld: %.200s", r->status,
		       r->len ? (const char *)r->body : "(empty body)");
}

/* One NDJSON line: a root (counted in *found if it is ours) or an error. */
static int pub_line(struct pub *pb, char *line, size_t *found, struct errbuf *e)
{
	char text[PUB_TEXT], pinerr[PUB_TEXT];
	struct cid cid;

	if (pub_json_str(line, "Message", text, sizeof(text)))
		return err_set(e, -EIO, "daemon: %s", text);
	if (!strstr(line, "\"Root\"") || !pub_json_str(line, "/", text, sizeof(text)))
		return 0;
	if (pub_json_str(line, "PinErrorMsg", pinerr, sizeof(pinerr)) && pinerr[0])
		return err_set(e, -EIO, "daemon could not pin %s: %s", text, pinerr);
	if (cid_parse(text, strlen(text), &cid, NULL))
		return err_set(e, -EIO, "daemon reported a root that is not a CID: %.100s", text);
	if (cid_mh_equal(&cid, &pb->p->root))
		(*found)++;
	return 0;
}

static int pub_answer(struct pub *pb, const struct fetch_post_resp *r, struct errbuf *e)
{
	char *line, *save = NULL;
	size_t found = 0;
	int rc = 0;

	if (r->status != 200)
		return pub_http_error(r, e);
	for (line = strtok_r((char *)r->body, "\n", &save); line && !rc;
	     line = strtok_r(NULL, "\n", &save))
		rc = pub_line(pb, line, &found, e);
	if (!rc && !found)
		rc = err_set(e, -EIO, "daemon did not report root %s in its answer",
			     cid_str(&pb->p->root));
	return rc;
}

/* ---- main ---- */

static int pub_post(struct pub *pb, struct errbuf *e)
{
	struct fetch_post_req req = {.field = "file",
				     .filename = "pack.car",
				     .content_type = "application/vnd.ipld.car",
				     .read = pub_read,
				     .ctx = pb};
	struct fetch_post_resp resp;
	pthread_t th;
	char url[sizeof(((struct fetch_source_cfg *)0)->url) + 64];
	int rc;

	snprintf(url, sizeof(url), "%s/api/v0/dag/import?pin-roots=%s", pb->api,
		 pb->pin ? "true" : "false");
	req.url = url;
	if (pipe2(pb->fds, O_CLOEXEC))
		return err_set(e, -errno, "pipe: %s", strerror(errno));
	if ((rc = pthread_create(&th, NULL, pub_writer, pb))) {
		close(pb->fds[0]);
		close(pb->fds[1]);
		return err_set(e, -rc, "cannot start the CAR writer: %s", strerror(rc));
	}
	rc = fetch_post_multipart(&req, &resp, e);
	close(pb->fds[0]); /* a writer still writing now fails with EPIPE */
	pthread_join(th, NULL);
	if (pb->wrc != 1 && pb->wrc != -EPIPE) { /* EPIPE: the upload ended first */
		if (!rc)
			free(resp.body);
		*e = pb->we;
		return pb->wrc;
	}
	if (rc)
		return rc;
	rc = pub_answer(pb, &resp, e);
	if (!rc && pb->wrc != 1)
		rc = err_set(e, -EIO, "upload ended before the CAR was complete");
	free(resp.body);
	return rc;
}

static void pub_report(const struct pub *pb)
{
	struct jsonw w;
	size_t i;

	if (!pb->json) {
		printf("published %s to %s: %" PRIu64 " blocks, %" PRIu64 " bytes%s\n",
		       cid_str(&pb->p->root), pb->api, pb->st.blocks, pb->st.bytes,
		       pb->pin ? ", pinned" : "");
		return;
	}
	jw_init(&w, 16u << 20);
	jw_obj(&w);
	jw_kstr(&w, "cid", cid_str(&pb->p->root));
	jw_kstr(&w, "api", pb->api);
	jw_ku64(&w, "blocks", pb->st.blocks);
	jw_ku64(&w, "bytes", pb->st.bytes);
	jw_kbool(&w, "pinned", pb->pin);
	jw_key(&w, "roots");
	jw_arr(&w);
	for (i = 0; i < pb->nroots; i++)
		jw_str(&w, cid_str(&pb->roots[i]));
	jw_arr_end(&w);
	jw_obj_end(&w);
	if (jw_text(&w))
		printf("%s\n", jw_text(&w));
	jw_free(&w);
}

static int pub_args(int argc, char **argv, struct srcopts *so, struct pub *pb, const char **arg)
{
	size_t i;
	int k = 1;

	while (k < argc) {
		switch (cmd_arg_common("publish", so, argc, argv, &k)) {
		case CMD_ARG_HELP:
			pub_usage(stdout);
			return -1;
		case CMD_ARG_BAD:
			return EXIT_USAGE;
		case CMD_ARG_TAKEN:
			continue;
		}
		if (!strcmp(argv[k], "--pin"))
			pb->pin = true;
		else if (!strcmp(argv[k], "--json"))
			pb->json = true;
		else if (argv[k][0] == '-' && argv[k][1])
			return cmd_usage_err("publish", "unknown option '%s'", argv[k]);
		else if (*arg)
			return cmd_usage_err("publish", "unexpected argument '%s'", argv[k]);
		else
			*arg = argv[k];
		k++;
	}
	if (!*arg)
		return cmd_usage_err("publish", "missing CID");
	if (cmd_finish_sources("publish", so))
		return EXIT_USAGE;
	for (i = 0; i < so->cfg.fetch.nsources; i++)
		if (so->cfg.fetch.sources[i].kind == FETCH_SRC_API)
			pb->api = so->cfg.fetch.sources[i].url;
	if (!pb->api)
		return cmd_usage_err("publish", "no Kubo API to publish to: give --api URL");
	return 0;
}

int cmd_publish(int argc, char **argv)
{
	struct pub pb = {.fds = {-1, -1}};
	struct srcopts so;
	struct errbuf e = {{0}};
	const char *arg = NULL;
	int rc;

	srcopts_init(&so);
	rc = pub_args(argc, argv, &so, &pb, &arg);
	if (rc)
		return rc < 0 ? 0 : rc;
	signal(SIGPIPE, SIG_IGN);
	rc = store_open(&so.cfg, &pb.s, &e);
	if (!rc)
		rc = walk_pack_open_arg(pb.s, arg, NULL, &pb.p, &e);
	if (!rc && pub_roots(&pb))
		rc = err_set(&e, -ENOMEM, "out of memory");
	if (!rc)
		rc = pub_post(&pb, &e);
	if (rc)
		fprintf(stderr, "mpack publish: %s: %s\n", arg, e.msg[0] ? e.msg : strerror(-rc));
	else
		pub_report(&pb);
	free(pb.roots);
	walk_pack_free(pb.p);
	store_close(pb.s);
	return rc ? 1 : cmd_flush("publish");
}
