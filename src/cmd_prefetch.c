/* cmd_prefetch: `mpack prefetch CID [FILE...]`: bring every block of a pack into the
 * cache, N transfers at a time, with progress; optionally pin it (`mpack pin` too).
 *
 * DESIGN. Two phases. The walk (main thread) reads the pack's structure: it fetches the
 * dag-pb nodes it must read (queuing siblings ahead) and lists every distinct block with
 * its size and whether it is already local. Then N worker threads take the missing
 * blocks from that list (a cursor under pf->lock) and store_get them, which verifies and
 * caches each one; the main thread redraws the progress every 100 ms. Counters are
 * updated with atomics; the list and the failure records are protected by pf->lock.
 * An interrupted run leaves every block it got in the cache: the next run finds them
 * local and fetches only the rest. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "dynbuf.h"
#include "progress.h"
#include "walk.h"

#define PF_JOBS_DEFAULT 8
#define PF_JOBS_MAX	64
#define PF_MAX_FILES	1024
#define PF_SHOW_FAIL	5
#define PF_LIST_CAP	((size_t)1 << 31)

/* A record in pf->list: u8 cid length, u8 state, u32 size (LE), CID bytes. */
enum { PF_PRESENT, PF_MISSING, PF_FAILED };
#define PF_HDR 6

struct pf_fail {
	char cid[CID_MAX_TEXT];
	char why[ERRBUF_MAX];
};

struct pf {
	const char *cmd;
	struct store *s;
	struct walk_pack *pack;
	struct dynbuf list;
	pthread_mutex_t lock;
	size_t cursor;			    /* protected by lock: next record to look at */
	struct pf_fail fails[PF_SHOW_FAIL]; /* protected by lock */
	uint64_t nfail;			    /* protected by lock */
	/* atomics */
	uint64_t done_bytes, total_bytes, blocks_done, blocks_total, moved;
	uint64_t present, fetched;
	int workers_left;
	struct progress prog;
	/* options */
	const char *arg;
	const char *files[PF_MAX_FILES];
	size_t nfiles;
	int jobs, mode;
	bool pin, pinned;
};

static volatile sig_atomic_t pf_sigint;

static void pf_on_sigint(int sig)
{
	(void)sig;
	pf_sigint = 1;
}

static int pf_interrupted(void *ctx)
{
	(void)ctx;
	return pf_sigint;
}

#define PF_ADD(p, f, n) __atomic_fetch_add(&(p)->f, (n), __ATOMIC_RELAXED)
#define PF_GET(p, f)	__atomic_load_n(&(p)->f, __ATOMIC_RELAXED)

static void pf_usage(FILE *f, const char *cmd)
{
	fprintf(
	    f,
	    "usage: mpack %s [-j N] [--json|--quiet]%s [SOURCE OPTIONS] CID [FILE...]\n\n"
	    "Fetch every block of a pack (manifest, directory or file) that is not in the\n"
	    "cache yet, N at a time, verifying each. FILE... limits it to those files or\n"
	    "directories of the pack (the manifest and the directories on the way are\n"
	    "always fetched). Blocks already cached (or in a --car file) are skipped, so an\n"
	    "interrupted run continues where it stopped.%s\n\n"
	    "  -j, --jobs N  transfers at once (default %d, at most %d)\n"
	    "%s"
	    "  --json        JSON progress lines on stdout even on a terminal\n"
	    "  --quiet       no progress output, only the summary\n"
	    "  -h, --help    this help\n\n"
	    "Progress: on a terminal a bar on stderr; otherwise JSON lines on stdout, at\n"
	    "most 2 a second: {\"done_bytes\",\"total_bytes\",\"blocks_done\",\"blocks_total\",\n"
	    "\"rate\"}, then {\"done\":true,...,\"present\",\"fetched\",\"failed\",\"errors\"}.\n\n"
	    "%s\nExit status: 0 every block is local, 1 some block could not be fetched\n"
	    "(the first few are listed) or interrupted, 2 usage error.\n",
	    cmd, strcmp(cmd, "pin") ? " [--pin]" : "",
	    strcmp(cmd, "pin")
		? ""
		: "\nEvery block is pinned under CID first: never evicted once cached.",
	    PF_JOBS_DEFAULT, PF_JOBS_MAX,
	    strcmp(cmd, "pin") ? "  --pin         pin every block under CID (see mpack pin)\n" : "",
	    srcopts_help());
}

/* ---- the block list ---- */

static int pf_list_add(struct pf *pf, const struct cid *cid, int state, uint64_t size)
{
	uint8_t hdr[PF_HDR];
	uint32_t sz = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
	int rc;

	hdr[0] = (uint8_t)cid->len;
	hdr[1] = (uint8_t)state;
	memcpy(hdr + 2, &sz, 4);
	rc = dynbuf_append(&pf->list, hdr, PF_HDR);
	return rc ? rc : dynbuf_append(&pf->list, cid->bin, cid->len);
}

/* Record at *pos: CID and size; advances *pos. 0 at the end. */
static int pf_list_next(const struct pf *pf, size_t *pos, struct cid *cid, uint32_t *size,
			uint8_t **state)
{
	uint8_t *r;
	size_t used;

	if (*pos + PF_HDR > pf->list.len)
		return 0;
	r = pf->list.data + *pos;
	*pos += PF_HDR + r[0];
	*state = &r[1];
	memcpy(size, r + 2, 4);
	return cid_decode(r + PF_HDR, r[0], cid, &used, NULL) == 0 ? 1 : -EINVAL;
}

static void pf_record_fail(struct pf *pf, const struct cid *cid, const char *why)
{
	pthread_mutex_lock(&pf->lock);
	if (pf->nfail < PF_SHOW_FAIL) {
		cid_format(cid, pf->fails[pf->nfail].cid, CID_MAX_TEXT);
		snprintf(pf->fails[pf->nfail].why, ERRBUF_MAX, "%s", why);
	}
	pf->nfail++;
	pthread_mutex_unlock(&pf->lock);
}

static void pf_show(struct pf *pf, bool force)
{
	struct progress_counts c = {
	    .done_bytes = PF_GET(pf, done_bytes),
	    .total_bytes = PF_GET(pf, total_bytes),
	    .blocks_done = PF_GET(pf, blocks_done),
	    .blocks_total = PF_GET(pf, blocks_total),
	    .moved = PF_GET(pf, moved),
	};

	progress_set(&pf->prog, &c, force);
}

/* ---- phase 1: the walk ---- */

static int pf_block(void *ctx, const struct walk_block *b)
{
	struct pf *pf = ctx;
	bool have = b->was_local || b->data;

	PF_ADD(pf, blocks_total, 1);
	PF_ADD(pf, total_bytes, b->len);
	if (have) {
		PF_ADD(pf, blocks_done, 1);
		PF_ADD(pf, done_bytes, b->len);
		PF_ADD(pf, present, b->was_local ? 1 : 0);
		PF_ADD(pf, fetched, b->was_local ? 0 : 1);
		PF_ADD(pf, moved, b->was_local ? 0 : b->len);
	}
	pf_show(pf, false);
	return pf_list_add(pf, &b->cid, have ? PF_PRESENT : PF_MISSING, b->len);
}

static int pf_fail(void *ctx, const struct walk_file *f, const struct cid *cid, int err,
		   const char *why)
{
	struct pf *pf = ctx;
	int rc;

	(void)f;
	(void)err;
	pf_record_fail(pf, cid, why);
	PF_ADD(pf, blocks_total, 1);
	rc = pf_list_add(pf, cid, PF_FAILED, 0);
	return rc;
}

/* ---- phase 2: the workers ---- */

static int pf_take(struct pf *pf, struct cid *cid, uint32_t *size)
{
	uint8_t *state;
	int rc;

	pthread_mutex_lock(&pf->lock);
	while ((rc = pf_list_next(pf, &pf->cursor, cid, size, &state)) == 1)
		if (*state == PF_MISSING)
			break;
	pthread_mutex_unlock(&pf->lock);
	return rc == 1;
}

static void pf_get_one(struct pf *pf, const struct cid *cid, uint32_t size)
{
	struct store_get_opts o = {
	    .prio = FETCH_PRIO_PREFETCH, .interrupted = pf_interrupted, .until_cached = true};
	struct store_block b;
	struct errbuf e;
	char why[160];
	bool was_local = store_has_local(pf->s, cid) == 1;

	if (store_get(pf->s, cid, &o, &b, &e)) {
		if (!pf_sigint)
			pf_record_fail(pf, cid, e.msg);
		return;
	}
	if (b.len != size) {
		snprintf(why, sizeof(why), "block is %zu bytes, its parent says %" PRIu32, b.len,
			 size);
		pf_record_fail(pf, cid, why);
	} else if (!b.from_cache && cache_has(store_cache(pf->s), cid) != 1) {
		pf_record_fail(pf, cid,
			       "fetched, but the cache did not keep it (full of pinned "
			       "blocks? see mpack cache stats)");
	} else {
		PF_ADD(pf, blocks_done, 1);
		PF_ADD(pf, done_bytes, size);
		if (was_local) {
			PF_ADD(pf, present, 1);
		} else {
			PF_ADD(pf, fetched, 1);
			PF_ADD(pf, moved, size);
		}
	}
	store_block_release(pf->s, &b);
}

static void *pf_worker(void *arg)
{
	struct pf *pf = arg;
	struct cid cid;
	uint32_t size;

	while (!pf_sigint && pf_take(pf, &cid, &size))
		pf_get_one(pf, &cid, size);
	PF_ADD(pf, workers_left, -1);
	return NULL;
}

static int pf_fetch_missing(struct pf *pf)
{
	pthread_t th[PF_JOBS_MAX];
	struct timespec nap = {0, 100 * 1000 * 1000};
	int i, started = 0;

	pf->workers_left = pf->jobs;
	for (i = 0; i < pf->jobs; i++) {
		if (pthread_create(&th[i], NULL, pf_worker, pf))
			break;
		started++;
	}
	PF_ADD(pf, workers_left, started - pf->jobs);
	if (!started)
		pf_worker(pf);
	while (PF_GET(pf, workers_left) > 0) {
		nanosleep(&nap, NULL);
		pf_show(pf, false);
	}
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	return 0;
}

/* ---- pins, summary ---- */

/* Pin every listed block under the root (blocks not cached yet are pinned when they are). */
static int pf_pin_all(struct pf *pf, struct errbuf *e)
{
	struct cache *c = store_cache(pf->s);
	size_t pos = 0;
	struct cid cid;
	uint32_t size;
	uint8_t *state;
	int rc;

	while ((rc = pf_list_next(pf, &pos, &cid, &size, &state)) == 1) {
		if (*state == PF_FAILED)
			continue;
		rc = cache_pin_add(c, &pf->pack->root, &cid);
		if (rc)
			return err_set(e, rc, "pinning %s: %s", cid_str(&cid), strerror(-rc));
	}
	if (rc < 0)
		return err_set(e, rc, "block list is corrupt");
	pf->pinned = true;
	return 0;
}

static void pf_json_extra(struct jsonw *w, void *ctx)
{
	struct pf *pf = ctx;
	uint64_t i;

	jw_kstr(w, "cid", cid_str(&pf->pack->root));
	jw_ku64(w, "present", PF_GET(pf, present));
	jw_ku64(w, "fetched", PF_GET(pf, fetched));
	jw_ku64(w, "failed", pf->nfail);
	jw_kbool(w, "interrupted", pf_sigint != 0);
	jw_kbool(w, "pinned", pf->pinned);
	jw_key(w, "errors");
	jw_arr(w);
	for (i = 0; i < pf->nfail && i < PF_SHOW_FAIL; i++) {
		jw_obj(w);
		jw_kstr(w, "cid", pf->fails[i].cid);
		jw_kstr(w, "error", pf->fails[i].why);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

static void pf_summary(struct pf *pf)
{
	char done[24], total[24];
	uint64_t i;

	pf_show(pf, false);
	progress_end(&pf->prog, pf_json_extra, pf);
	if (pf->prog.mode != PROGRESS_JSON)
		printf("%s: %" PRIu64 " blocks (%s of %s): %" PRIu64 " already present, %" PRIu64
		       " fetched, %" PRIu64 " failed%s\n",
		       cid_str(&pf->pack->root), PF_GET(pf, blocks_total),
		       progress_bytes(PF_GET(pf, done_bytes), done, sizeof(done)),
		       progress_bytes(PF_GET(pf, total_bytes), total, sizeof(total)),
		       PF_GET(pf, present), PF_GET(pf, fetched), pf->nfail,
		       pf_sigint    ? ", interrupted"
		       : pf->pinned ? ", pinned"
				    : "");
	for (i = 0; i < pf->nfail && i < PF_SHOW_FAIL; i++)
		fprintf(stderr, "mpack %s: %s: %s\n", pf->cmd, pf->fails[i].cid, pf->fails[i].why);
	if (pf->nfail > PF_SHOW_FAIL)
		fprintf(stderr, "mpack %s: ... and %" PRIu64 " more blocks failed\n", pf->cmd,
			pf->nfail - PF_SHOW_FAIL);
	if (pf_sigint)
		fprintf(stderr, "mpack %s: interrupted; run it again to continue\n", pf->cmd);
}

/* ---- arguments ---- */

static int pf_jobs(struct pf *pf, const char *v)
{
	char *end;
	long n;

	errno = 0;
	n = v ? strtol(v, &end, 10) : 0;
	if (!v || errno || *end || end == v || n < 1 || n > PF_JOBS_MAX)
		return cmd_usage_err(pf->cmd, "-j: '%s' is not a number from 1 to %d", v ? v : "",
				     PF_JOBS_MAX);
	pf->jobs = (int)n;
	return 0;
}

/* One non-source argument at argv[*i]. */
static int pf_arg(struct pf *pf, int argc, char **argv, int *i)
{
	const char *a = argv[*i];

	if (!strcmp(a, "-j") || !strcmp(a, "--jobs"))
		return pf_jobs(pf, ++*i < argc ? argv[*i] : NULL);
	if (!strncmp(a, "--jobs=", 7))
		return pf_jobs(pf, a + 7);
	if (!strncmp(a, "-j", 2) && a[2])
		return pf_jobs(pf, a + 2);
	if (!strcmp(a, "--json"))
		pf->mode = PROGRESS_JSON;
	else if (!strcmp(a, "--quiet"))
		pf->mode = PROGRESS_NONE;
	else if (!strcmp(a, "--pin") && strcmp(pf->cmd, "pin"))
		pf->pin = true;
	else if (a[0] == '-' && a[1])
		return cmd_usage_err(pf->cmd, "unknown option '%s'", a);
	else if (!pf->arg)
		pf->arg = a;
	else if (pf->nfiles < PF_MAX_FILES)
		pf->files[pf->nfiles++] = a;
	else
		return cmd_usage_err(pf->cmd, "too many FILE arguments (at most %d)", PF_MAX_FILES);
	return 0;
}

static int pf_args(struct pf *pf, int argc, char **argv, struct srcopts *so)
{
	int i = 1, rc;

	while (i < argc) {
		switch (cmd_arg_common(pf->cmd, so, argc, argv, &i)) {
		case CMD_ARG_HELP:
			pf_usage(stdout, pf->cmd);
			return -1;
		case CMD_ARG_BAD:
			return EXIT_USAGE;
		case CMD_ARG_TAKEN:
			continue;
		}
		if ((rc = pf_arg(pf, argc, argv, &i)))
			return rc;
		i++;
	}
	if (!pf->arg)
		return cmd_usage_err(pf->cmd, "missing CID");
	if ((rc = cmd_finish_sources(pf->cmd, so)))
		return rc;
	if (so->cfg.no_cache)
		return cmd_usage_err(pf->cmd, "--no-cache: there is no cache to fill");
	return 0;
}

/* ---- main ---- */

static int pf_walk(struct pf *pf, struct errbuf *e)
{
	static const struct walk_ops ops = {NULL, pf_block, pf_fail};
	bool hit[PF_MAX_FILES] = {false};
	struct walk_opts wo = {.flags = WALK_DISTINCT, .only_hit = hit};
	size_t i;
	int rc;

	wo.get.interrupted = pf_interrupted;
	wo.get.prio = FETCH_PRIO_DEMAND;
	if (pf->nfiles) {
		wo.only = pf->files;
		wo.nonly = pf->nfiles;
	}
	rc = walk_run(pf->s, pf->pack, &wo, &ops, pf, e);
	if (rc == -ENOMEM || rc == -EFBIG)
		return err_set(e, rc, "%s",
			       rc == -EFBIG ? "block list too large" : "out of memory");
	for (i = 0; !rc && i < pf->nfiles; i++)
		if (!hit[i])
			rc = err_set(e, -ENOENT, "%s: not in the pack", pf->files[i]);
	return rc;
}

/* A pack larger than the cache cannot stay whole in it: say so before fetching. */
static void pf_check_room(struct pf *pf)
{
	struct cache_stats st;
	char a[24], b[24];

	if (cache_stats_get(store_cache(pf->s), &st) || PF_GET(pf, total_bytes) <= st.max_bytes)
		return;
	fprintf(stderr,
		"mpack %s: warning: the pack (%s) is larger than the cache limit (%s): blocks "
		"will be evicted as others arrive (see --cache-size)\n",
		pf->cmd, progress_bytes(PF_GET(pf, total_bytes), a, sizeof(a)),
		progress_bytes(st.max_bytes, b, sizeof(b)));
}

static int pf_run(struct pf *pf, struct srcopts *so, struct errbuf *e)
{
	struct store_get_opts o = {.interrupted = pf_interrupted};
	const struct manifest *m;
	int rc;

	rc = store_open(&so->cfg, &pf->s, e);
	if (!rc)
		rc = walk_pack_open_arg(pf->s, pf->arg, &o, &pf->pack, e);
	if (rc)
		return rc;
	progress_init(&pf->prog, pf->mode, pf->cmd);
	rc = pf_walk(pf, e);
	if (!rc && pf->pin && !pf_sigint) /* first, so that no fetched block is evicted */
		rc = pf_pin_all(pf, e);
	if (!rc && !pf_sigint) {
		pf_check_room(pf);
		rc = pf_fetch_missing(pf);
	}
	m = pf->pack->m;
	if (!rc && !pf_sigint && pf->pack->kind != WALK_PACK_FILE && !pf->nfail)
		cache_pack_add(store_cache(pf->s), &pf->pack->root, m ? m->name : NULL);
	pf_summary(pf);
	return rc;
}

int cmd_prefetch_run(int argc, char **argv, const char *cmd, bool pin)
{
	struct pf pf = {.cmd = cmd, .pin = pin, .jobs = PF_JOBS_DEFAULT};
	struct sigaction sa = {.sa_handler = pf_on_sigint, .sa_flags = (int)SA_RESETHAND};
	struct srcopts so;
	struct errbuf e = {{0}};
	int rc;

	pf.mode = progress_auto_mode();
	srcopts_init(&so);
	rc = pf_args(&pf, argc, argv, &so);
	if (rc)
		return rc < 0 ? 0 : rc;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	pthread_mutex_init(&pf.lock, NULL);
	dynbuf_init(&pf.list, PF_LIST_CAP);
	rc = pf_run(&pf, &so, &e);
	if (rc && rc != -EINTR)
		fprintf(stderr, "mpack %s: %s: %s\n", cmd, pf.arg,
			e.msg[0] ? e.msg : strerror(-rc));
	rc = rc || pf.nfail || pf_sigint ? 1 : cmd_flush(cmd);
	dynbuf_free(&pf.list);
	walk_pack_free(pf.pack);
	store_close(pf.s);
	pthread_mutex_destroy(&pf.lock);
	return rc;
}

int cmd_prefetch(int argc, char **argv)
{
	return cmd_prefetch_run(argc, argv, "prefetch", false);
}
