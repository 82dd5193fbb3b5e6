/* test_store: the block store (identity, cache, CAR files, network through the
 * fault-injecting fixture tests/fixture/gateway.py) and the source options. */
/* clang-format off */
/* deps: store srcopts config carsrc car cache cache_pages cache_pin cache_scrub cache_write fetch fetch_net cid multibase multihash varint dynbuf errbuf log */
/* clang-format on */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "car.h"
#include "carsrc.h"
#include "check.h"
#include "log.h"
#include "multihash.h"
#include "srcopts.h"
#include "store.h"

extern char **environ;

static char tmp[64] = "/tmp/test_store.XXXXXX";
static char blockdir[128];
static int net_deadline_ms = 5000;

static int64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ms_sleep(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *fp = fopen(path, "wb");

	CHECK(fp && fwrite(p, 1, n, fp) == n, "writing %s", path);
	if (fp)
		fclose(fp);
}

/* A raw block served by the fixture (file named by its CID in blockdir). */
static struct cid serve_block(const uint8_t *p, size_t n)
{
	char path[512];
	struct cid c;

	cid_for_block(1, CID_CODEC_RAW, p, n, &c);
	snprintf(path, sizeof(path), "%s/%s", blockdir, cid_str(&c));
	write_file(path, p, n);
	return c;
}

/* ---- source options ---- */

static int parse(struct srcopts *o, int argc, char **argv, struct errbuf *e)
{
	int i = 0, rc;

	srcopts_init(o);
	while (i < argc) {
		rc = srcopts_parse_arg(o, argc, argv, &i, e);
		if (rc <= 0)
			return rc < 0 ? rc : -100 - i; /* not a source option */
	}
	return srcopts_finish(o, e);
}

static void test_srcopts(void)
{
	char *a1[] = {"--gateway",
		      "http://127.0.0.1:1/",
		      "--api=http://127.0.0.1:2",
		      "--gateway=https://gw.example",
		      "--car",
		      "x.car",
		      "--car",
		      "y.car",
		      "--cache-size",
		      "512M",
		      "--timeout",
		      "1.5",
		      "--cache-dir",
		      "/tmp/cd"};
	char *a2[] = {"--offline", "--no-cache"};
	char *bad1[] = {"--gateway"};
	char *bad2[] = {"--cache-size", "12Q"};
	char *bad3[] = {"--gateway", "ftp://x"};
	char *bad4[] = {"--timeout", "-1"};
	char *bad5[] = {"--offline=yes"};
	char *other[] = {"--json"};
	struct srcopts o;
	struct errbuf e;
	uint64_t v;

	CHECK(srcopts_parse_size("10G", &v) == 0 && v == 10ull << 30, "10G");
	CHECK(srcopts_parse_size("512M", &v) == 0 && v == 512ull << 20, "512M");
	CHECK(srcopts_parse_size("4096", &v) == 0 && v == 4096, "bytes");
	CHECK(srcopts_parse_size("1.5GiB", &v) == 0 && v == 3ull << 29, "1.5GiB");
	CHECK(srcopts_parse_size("2kb", &v) == 0 && v == 2048, "2kb");
	CHECK_EQ_INT(srcopts_parse_size("", &v), -EINVAL);
	CHECK_EQ_INT(srcopts_parse_size("-1G", &v), -EINVAL);
	CHECK_EQ_INT(srcopts_parse_size("10GG", &v), -EINVAL);
	CHECK_EQ_INT(srcopts_parse_size("G", &v), -EINVAL);

	unsetenv("MPACKFS_API");
	unsetenv("MPACKFS_GATEWAYS");
	unsetenv("MPACKFS_OFFLINE");
	unsetenv("MPACKFS_CACHE_DIR");
	CHECK_EQ_INT(parse(&o, 14, a1, &e), 0);
	CHECK_EQ_INT(o.cfg.fetch.nsources, 3);
	CHECK(o.cfg.fetch.sources[0].kind == FETCH_SRC_API &&
		  !strcmp(o.cfg.fetch.sources[0].url, "http://127.0.0.1:2"),
	      "API first: %s", o.cfg.fetch.sources[0].url);
	CHECK(!strcmp(o.cfg.fetch.sources[1].url, "http://127.0.0.1:1") &&
		  !strcmp(o.cfg.fetch.sources[2].url, "https://gw.example"),
	      "gateways in order");
	CHECK(o.cfg.ncars == 2 && !strcmp(o.cfg.cars[1], "y.car"), "cars");
	CHECK(o.cfg.cache.max_bytes == 512ull << 20, "cache size");
	CHECK(o.cfg.fetch.deadline_ms == 1500, "timeout %d", o.cfg.fetch.deadline_ms);
	CHECK(o.cfg.cache.dir && !strcmp(o.cfg.cache.dir, "/tmp/cd"), "cache dir");
	CHECK(!o.cfg.offline && !o.cfg.no_cache, "flags off");

	/* defaults, then the environment */
	CHECK_EQ_INT(parse(&o, 2, a2, &e), 0);
	CHECK(o.cfg.offline && o.cfg.no_cache, "--offline --no-cache");
	CHECK(o.cfg.fetch.nsources == 4 && o.cfg.fetch.sources[0].kind == FETCH_SRC_API &&
		  !strcmp(o.cfg.fetch.sources[0].url, SRCOPTS_DEFAULT_API) &&
		  !strcmp(o.cfg.fetch.sources[3].url, "https://ipfs.io"),
	      "default sources (%zu)", o.cfg.fetch.nsources);
	CHECK(o.cfg.cache.dir == NULL, "default cache dir is the cache's own");
	setenv("MPACKFS_API", "", 1);
	setenv("MPACKFS_GATEWAYS", "http://127.0.0.1:7|http://127.0.0.1:8, http://127.0.0.1:9", 1);
	setenv("MPACKFS_CACHE_DIR", "/tmp/envcache", 1);
	setenv("MPACKFS_OFFLINE", "1", 1);
	CHECK_EQ_INT(parse(&o, 0, a2, &e), 0);
	CHECK(o.cfg.fetch.nsources == 3 && o.cfg.fetch.sources[0].kind == FETCH_SRC_GATEWAY &&
		  !strcmp(o.cfg.fetch.sources[2].url, "http://127.0.0.1:9"),
	      "MPACKFS_GATEWAYS (%zu)", o.cfg.fetch.nsources);
	CHECK(o.cfg.offline && !strcmp(o.cfg.cache.dir, "/tmp/envcache"), "env offline/cache");
	CHECK_EQ_INT(parse(&o, 14, a1, &e), 0); /* flags win */
	CHECK(o.cfg.fetch.nsources == 3 && !o.cfg.offline && !strcmp(o.cfg.cache.dir, "/tmp/cd"),
	      "flags override the environment");
	setenv("MPACKFS_GATEWAYS", "gopher://x", 1);
	CHECK_EQ_INT(parse(&o, 0, a2, &e), -EINVAL);
	CHECK(strstr(e.msg, "MPACKFS_GATEWAYS") != NULL, "msg: %s", e.msg);
	unsetenv("MPACKFS_API");
	unsetenv("MPACKFS_GATEWAYS");
	unsetenv("MPACKFS_OFFLINE");
	unsetenv("MPACKFS_CACHE_DIR");

	CHECK_EQ_INT(parse(&o, 1, bad1, &e), -EINVAL);
	CHECK(strstr(e.msg, "--gateway needs a value") != NULL, "msg: %s", e.msg);
	CHECK_EQ_INT(parse(&o, 2, bad2, &e), -EINVAL);
	CHECK(strstr(e.msg, "--cache-size") != NULL, "msg: %s", e.msg);
	CHECK_EQ_INT(parse(&o, 2, bad3, &e), -EINVAL);
	CHECK(strstr(e.msg, "ftp://x") != NULL, "msg: %s", e.msg);
	CHECK_EQ_INT(parse(&o, 2, bad4, &e), -EINVAL);
	CHECK(strstr(e.msg, "--timeout") != NULL, "msg: %s", e.msg);
	CHECK_EQ_INT(parse(&o, 1, bad5, &e), -EINVAL);
	CHECK_EQ_INT(parse(&o, 1, other, &e), -100); /* left for the command */
	CHECK(strstr(srcopts_help(), "--gateway URL") != NULL, "help text");
}

/* ---- local sources ---- */

static struct store *open_store(const char *cache, bool offline, const char *const *cars,
				size_t ncars, const char *const *gws, size_t ngw, struct errbuf *e)
{
	struct store_cfg cfg = {0};
	struct store *s = NULL;
	size_t i;

	fetch_cfg_defaults(&cfg.fetch);
	cfg.fetch.deadline_ms = net_deadline_ms;
	cfg.fetch.backoff_ms = 10;
	cfg.cache.dir = cache;
	cfg.cache.max_bytes = 64 << 20;
	cfg.no_cache = cache == NULL;
	cfg.offline = offline;
	for (i = 0; i < ncars; i++)
		cfg.cars[i] = cars[i];
	cfg.ncars = ncars;
	for (i = 0; i < ngw; i++)
		CHECK(fetch_cfg_add_source(&cfg.fetch, FETCH_SRC_GATEWAY, gws[i], e) == 0, "url");
	CHECK(store_open(&cfg, &s, e) == 0, "store_open: %s", e->msg);
	return s;
}

static void test_local(void)
{
	char cache[128];
	struct store_block b;
	struct store_stats st;
	struct store *s;
	struct errbuf e;
	struct cid id, c, blake;
	uint8_t digest[32] = {1, 2, 3};

	snprintf(cache, sizeof(cache), "%s/local", tmp);
	s = open_store(cache, true, NULL, 0, NULL, 0, &e);
	if (!s)
		return;
	CHECK(store_cache(s) != NULL, "cache opened");
	CHECK(cid_from_digest(1, CID_CODEC_RAW, MH_IDENTITY, (const uint8_t *)"inline", 6, &id) ==
		  0,
	      "identity cid");
	CHECK(store_get(s, &id, NULL, &b, &e) == 0 && b.len == 6 && !memcmp(b.data, "inline", 6),
	      "identity block: %s", e.msg);
	store_block_release(s, &b);
	CHECK_EQ_INT(store_has_local(s, &id), 1);
	CHECK_EQ_INT(store_prefetch(s, &id, FETCH_PRIO_PREFETCH), 0);

	cid_from_digest(1, CID_CODEC_RAW, 0x1e, digest, 32, &blake);
	CHECK_EQ_INT(store_get(s, &blake, NULL, &b, &e), -ENOTSUP);
	CHECK(strstr(e.msg, "0x1e") != NULL || strstr(e.msg, "blake3") != NULL, "msg: %s", e.msg);

	cid_for_block(1, CID_CODEC_RAW, "local", 5, &c);
	CHECK_EQ_INT(store_get(s, &c, NULL, &b, &e), -ENOENT);
	CHECK(strstr(e.msg, "offline") != NULL, "msg: %s", e.msg);
	CHECK(b.data == NULL && b.owned == NULL, "nothing returned on failure");
	CHECK_EQ_INT(store_has_local(s, &c), 0);
	CHECK_EQ_INT(store_prefetch(s, &c, FETCH_PRIO_PREFETCH), -ENOENT);
	CHECK_EQ_INT(cache_put(store_cache(s), &c, "local", 5), 0);
	CHECK_EQ_INT(store_has_local(s, &c), 1);
	CHECK(store_get(s, &c, NULL, &b, &e) == 0 && b.len == 5 && b.from_cache, "cache hit");
	store_block_release(s, &b);
	store_stats_get(s, &st);
	CHECK(st.gets == 4 && st.cache_hits == 1 && st.not_found == 1 && st.errors == 1,
	      "stats gets %llu hits %llu nf %llu err %llu", (unsigned long long)st.gets,
	      (unsigned long long)st.cache_hits, (unsigned long long)st.not_found,
	      (unsigned long long)st.errors);
	CHECK_EQ_INT(store_source_stats(s, NULL, 0), 0);
	store_close(s);

	/* no cache, no sources, not offline: opens; gets fail cleanly */
	s = open_store(NULL, false, NULL, 0, NULL, 0, &e);
	CHECK(s && store_cache(s) == NULL, "no cache");
	if (s) {
		CHECK_EQ_INT(store_get(s, &c, NULL, &b, &e), -ENOENT);
		CHECK(strstr(e.msg, "no network sources") != NULL, "msg: %s", e.msg);
		store_close(s);
	}
}

/* ---- CAR files ---- */

static int car_out(void *ctx, const void *p, size_t n)
{
	return fwrite(p, 1, n, ctx) == n ? 0 : -EIO;
}

static uint8_t car_blocks[3][3000];
static struct cid car_cids[4];

/* Three good blocks and one section whose bytes do not match its CID. */
static void write_car(const char *path)
{
	struct car_writer *w;
	FILE *fp = fopen(path, "wb");
	int i;

	for (i = 0; i < 3; i++) {
		fill(car_blocks[i], sizeof(car_blocks[i]), 7u + (unsigned)i);
		cid_for_block(1, CID_CODEC_RAW, car_blocks[i], sizeof(car_blocks[i]), &car_cids[i]);
	}
	cid_for_block(1, CID_CODEC_RAW, "the real bytes", 14, &car_cids[3]);
	CHECK(fp && car_writer_new(car_out, fp, car_cids, 1, &w) == 0, "car writer");
	for (i = 0; i < 3; i++)
		car_writer_put(w, &car_cids[i], car_blocks[i], sizeof(car_blocks[i]));
	car_writer_put(w, &car_cids[3], "liar bytes here", 15);
	car_writer_put(w, &car_cids[0], car_blocks[1], sizeof(car_blocks[1])); /* dup: ignored */
	car_writer_free(w);
	fclose(fp);
}

/* The same payload wrapped as a CARv2. */
static void write_car_v2(const char *v1, const char *v2)
{
	static const uint8_t pragma[11] = {0x0a, 0xa1, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 2};
	uint8_t hdr[40] = {0}, *body;
	FILE *in = fopen(v1, "rb"), *out = fopen(v2, "wb");
	long n;
	int i;

	fseek(in, 0, SEEK_END);
	n = ftell(in);
	fseek(in, 0, SEEK_SET);
	body = malloc((size_t)n);
	CHECK(fread(body, 1, (size_t)n, in) == (size_t)n, "read v1");
	for (i = 0; i < 8; i++) {
		hdr[16 + i] = (uint8_t)((uint64_t)51 >> (8 * i));
		hdr[24 + i] = (uint8_t)((uint64_t)n >> (8 * i));
	}
	fwrite(pragma, 1, 11, out);
	fwrite(hdr, 1, 40, out);
	fwrite(body, 1, (size_t)n, out);
	fwrite("trailing index bytes", 1, 20, out); /* past the data size: ignored */
	fclose(in);
	fclose(out);
	free(body);
}

static void test_car(void)
{
	char v1[128], v2[128], junk[128], trunc[128], *cars[1];
	struct store_block b;
	struct store_stats st;
	struct carsrc *cs;
	struct store *s;
	struct errbuf e;
	uint8_t buf[4096];
	FILE *fp;
	size_t n;

	snprintf(v1, sizeof(v1), "%s/a.car", tmp);
	snprintf(v2, sizeof(v2), "%s/a2.car", tmp);
	snprintf(junk, sizeof(junk), "%s/junk.car", tmp);
	snprintf(trunc, sizeof(trunc), "%s/trunc.car", tmp);
	write_car(v1);
	write_car_v2(v1, v2);
	write_file(junk, "this is not a CAR file at all", 29);
	fp = fopen(v1, "rb");
	n = fread(buf, 1, 2000, fp); /* cut inside the first block */
	fclose(fp);
	write_file(trunc, buf, n);

	cars[0] = v1;
	CHECK(carsrc_open((const char *const *)cars, 1, &cs, &e) == 0, "carsrc: %s", e.msg);
	CHECK_EQ_INT(carsrc_count(cs), 4);
	carsrc_free(cs);
	cars[0] = junk;
	CHECK(carsrc_open((const char *const *)cars, 1, &cs, &e) == -EINVAL && !cs, "junk CAR");
	CHECK(strstr(e.msg, junk) != NULL, "names the file: %s", e.msg);
	cars[0] = trunc;
	CHECK_EQ_INT(carsrc_open((const char *const *)cars, 1, &cs, &e), -EINVAL);
	CHECK(strstr(e.msg, "truncated") && strstr(e.msg, "offset"), "msg: %s", e.msg);
	cars[0] = "/nonexistent/x.car";
	CHECK_EQ_INT(carsrc_open((const char *const *)cars, 1, &cs, &e), -ENOENT);

	{
		const char *both[2] = {v2, v1};
		int i;

		s = open_store(NULL, true, both, 1, NULL, 0, &e); /* the v2 file alone */
		if (!s)
			return;
		for (i = 0; i < 3; i++) {
			CHECK(store_get(s, &car_cids[i], NULL, &b, &e) == 0 &&
				  b.len == sizeof(car_blocks[i]) &&
				  !memcmp(b.data, car_blocks[i], b.len),
			      "CARv2 block %d: %s", i, e.msg);
			store_block_release(s, &b);
		}
		CHECK_EQ_INT(store_get(s, &car_cids[3], NULL, &b, &e), -EIO);
		CHECK(strstr(e.msg, v2) != NULL && strstr(e.msg, "offset") != NULL, "msg: %s",
		      e.msg);
		CHECK_EQ_INT(store_has_local(s, &car_cids[1]), 1);
		store_stats_get(s, &st);
		CHECK(st.car_hits == 3 && st.verify_failures == 1, "car stats %llu %llu",
		      (unsigned long long)st.car_hits, (unsigned long long)st.verify_failures);
		store_close(s);
		s = open_store(NULL, true, both + 1, 1, NULL, 0, &e);
		CHECK(s && store_get(s, &car_cids[2], NULL, &b, &e) == 0, "CARv1: %s", e.msg);
		if (s) {
			store_block_release(s, &b);
			store_close(s);
		}
	}
	{
		struct store_cfg cfg = {0};

		cfg.no_cache = true;
		cfg.offline = true;
		cfg.cars[0] = junk;
		cfg.ncars = 1;
		CHECK(store_open(&cfg, &s, &e) == -EINVAL && s == NULL, "bad CAR fails store_open");
		CHECK(strstr(e.msg, junk) != NULL, "msg: %s", e.msg);
	}
}

/* ---- network, through the fixture ---- */

struct fixture {
	pid_t pid;
	char url[64];
};

static struct fixture A, B;

static void fixture_script(char *out, size_t cap)
{
	char exe[PATH_MAX];
	ssize_t n;
	char *p;
	int i;

	if (access("tests/fixture/gateway.py", R_OK) == 0) {
		snprintf(out, cap, "tests/fixture/gateway.py");
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1); /* <repo>/build/test_store */
	exe[n > 0 ? n : 0] = '\0';
	for (i = 0; i < 2 && (p = strrchr(exe, '/')); i++)
		*p = '\0';
	snprintf(out, cap, "%.3000s/tests/fixture/gateway.py", exe);
}

static int fixture_start(struct fixture *fx, const char *name)
{
	char script[PATH_MAX], pf[256];
	char *argv[] = {"/usr/bin/python3", script, "--blocks", blockdir, "--port-file", pf, NULL};
	int64_t end = ms_now() + 10000;
	int port = 0;
	FILE *fp;

	fixture_script(script, sizeof(script));
	snprintf(pf, sizeof(pf), "%s/%s.port", tmp, name);
	if (posix_spawn(&fx->pid, argv[0], NULL, NULL, argv, environ))
		return -1;
	while (ms_now() < end && port <= 0) {
		ms_sleep(20);
		if ((fp = fopen(pf, "r"))) {
			if (fscanf(fp, "%d", &port) != 1)
				port = 0;
			fclose(fp);
		}
	}
	snprintf(fx->url, sizeof(fx->url), "http://127.0.0.1:%d", port);
	return port > 0 ? 0 : -1;
}

static void fixture_stop(struct fixture *fx)
{
	if (fx->pid > 0) {
		kill(fx->pid, SIGTERM);
		waitpid(fx->pid, NULL, 0);
		fx->pid = 0;
	}
}

struct body {
	char buf[1 << 16];
	size_t len;
};

static size_t body_write(char *p, size_t sz, size_t n, void *arg)
{
	struct body *b = arg;
	size_t k = sz * n, room = sizeof(b->buf) - 1 - b->len;

	if (k > room)
		k = room;
	memcpy(b->buf + b->len, p, k);
	b->len += k;
	b->buf[b->len] = '\0';
	return sz * n;
}

/* GET (json NULL) or POST json to the fixture's control plane; the HTTP status. */
static long ctl(const struct fixture *fx, const char *path, const char *json, struct body *out)
{
	static struct body scratch;
	char url[512];
	long code = 0;
	CURL *h = curl_easy_init();

	out = out ? out : &scratch;
	out->len = 0;
	out->buf[0] = '\0';
	snprintf(url, sizeof(url), "%s%s", fx->url, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	if (json)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	return code;
}

static void fault(const struct fixture *fx, const char *mode, const struct cid *c,
		  const char *extra)
{
	char json[512];

	snprintf(json, sizeof(json), "{\"mode\": \"%s\", \"cids\": [\"%s\"]%s}", mode, cid_str(c),
		 extra ? extra : "");
	CHECK(ctl(fx, "/_fixture/faults", json, NULL) == 200, "fault %s", json);
}

/* Requests the fixture saw for c's multihash. */
static long requests_for(const struct fixture *fx, const struct cid *c)
{
	struct body b;
	char pat[CID_MAX_BIN * 2 + 8];
	const uint8_t *mh = cid_mh(c);
	const char *p;
	size_t i;

	if (ctl(fx, "/_fixture/stats", NULL, &b) != 200)
		return -1;
	pat[0] = '"';
	for (i = 0; i < c->mh_len; i++)
		sprintf(pat + 1 + 2 * i, "%02x", mh[i]);
	strcat(pat, "\": ");
	p = strstr(b.buf, pat);
	return p ? strtol(p + strlen(pat), NULL, 10) : 0;
}

static struct store *net_store(const char *cache, const struct fixture *const *fx, size_t n,
			       struct errbuf *e)
{
	const char *urls[4];
	size_t i;

	for (i = 0; i < n; i++)
		urls[i] = fx[i]->url;
	return open_store(cache, false, NULL, 0, urls, n, e);
}

static struct cid new_block(uint8_t *buf, size_t n, unsigned seed, int served)
{
	struct cid c;

	fill(buf, n, seed);
	if (served)
		return serve_block(buf, n);
	cid_for_block(1, CID_CODEC_RAW, buf, n, &c);
	return c;
}

static int get_equals(struct store *s, const struct cid *c, const uint8_t *want, size_t n,
		      const struct store_get_opts *o, struct errbuf *e)
{
	struct store_block b;
	int rc = store_get(s, c, o, &b, e), same;

	if (rc)
		return rc;
	same = b.len == n && !memcmp(b.data, want, n);
	store_block_release(s, &b);
	return same ? 0 : -EBADMSG;
}

struct sf_arg {
	struct store *s;
	const struct cid *c;
	const uint8_t *want;
	size_t len;
	int rc;
};

static void *sf_main(void *p)
{
	struct sf_arg *a = p;
	struct errbuf e;

	a->rc = get_equals(a->s, a->c, a->want, a->len, NULL, &e);
	return NULL;
}

static uint8_t big[256 * 1024];

static void test_singleflight(void)
{
	const struct fixture *src[1] = {&A};
	struct sf_arg args[32];
	pthread_t t[32];
	struct store_stats st;
	struct store *s;
	struct errbuf e;
	struct cid c = new_block(big, sizeof(big), 100, 1);
	char cache[128];
	int i, ok = 0;

	snprintf(cache, sizeof(cache), "%s/sf", tmp);
	fault(&A, "slow", &c, ", \"rate\": 1048576"); /* 256 KiB in ~0.25 s */
	s = net_store(cache, src, 1, &e);
	if (!s)
		return;
	for (i = 0; i < 32; i++) {
		args[i] = (struct sf_arg){s, &c, big, sizeof(big), -1};
		pthread_create(&t[i], NULL, sf_main, &args[i]);
	}
	for (i = 0; i < 32; i++) {
		pthread_join(t[i], NULL);
		ok += args[i].rc == 0;
	}
	CHECK_EQ_INT(ok, 32);
	CHECK_EQ_INT(requests_for(&A, &c), 1);
	/* Waiters are woken before the cache put, so the flight may still be
	 * finishing its put (and the put's write-back) for a moment. */
	for (i = 0; i < 200; i++) {
		store_stats_get(s, &st);
		if (st.in_flight == 0)
			break;
		usleep(10000);
	}
	CHECK(st.fetched == 1 && st.singleflight_joins + st.cache_hits == 31 &&
		  st.singleflight_joins > 0 && st.in_flight == 0,
	      "fetched %llu joins %llu hits %llu", (unsigned long long)st.fetched,
	      (unsigned long long)st.singleflight_joins, (unsigned long long)st.cache_hits);
	store_close(s);
	s = open_store(cache, true, NULL, 0, NULL, 0, &e); /* the block is in the cache */
	CHECK(s && get_equals(s, &c, big, sizeof(big), NULL, &e) == 0, "offline after: %s", e.msg);
	store_close(s);
}

static void test_failover_and_lies(void)
{
	const struct fixture *ab[2] = {&A, &B};
	static const char *const modes[3] = {"corrupt", "wrong_block", "truncate"};
	struct fetch_source_stats ss[2];
	uint8_t buf[20000];
	struct store *s;
	struct errbuf e;
	char cache[128];
	struct cid c;
	int i;

	c = new_block(buf, sizeof(buf), 200, 1);
	fault(&A, "404", &c, NULL);
	s = net_store(NULL, ab, 2, &e);
	CHECK(s && get_equals(s, &c, buf, sizeof(buf), NULL, &e) == 0, "failover: %s", e.msg);
	CHECK(requests_for(&A, &c) == 1 && requests_for(&B, &c) == 1, "A then B");
	store_close(s);

	snprintf(cache, sizeof(cache), "%s/lies", tmp);
	for (i = 0; i < 3; i++) {
		c = new_block(buf, sizeof(buf), 300u + (unsigned)i, 1);
		fault(&A, modes[i], &c, NULL);
		s = net_store(cache, ab, 2, &e);
		if (!s)
			return;
		CHECK(get_equals(s, &c, buf, sizeof(buf), NULL, &e) == 0, "%s: %s", modes[i],
		      e.msg);
		CHECK(requests_for(&B, &c) == 1, "%s: the honest source served", modes[i]);
		CHECK(store_source_stats(s, ss, 2) == 2 && (i == 2 || ss[0].verify_failures >= 1),
		      "%s: verify failure counted on A", modes[i]);
		store_close(s);
		s = open_store(cache, true, NULL, 0, NULL, 0, &e);
		CHECK(s && get_equals(s, &c, buf, sizeof(buf), NULL, &e) == 0,
		      "%s: cache holds the good block: %s", modes[i], e.msg);
		store_close(s);
	}

	/* the only source lies: -EIO, nothing cached */
	c = new_block(buf, sizeof(buf), 400, 1);
	fault(&A, "corrupt", &c, NULL);
	s = net_store(cache, ab, 1, &e);
	CHECK(s && store_get(s, &c, NULL, &(struct store_block){0}, &e) == -EIO, "liar: %s", e.msg);
	store_close(s);
	s = open_store(cache, true, NULL, 0, NULL, 0, &e);
	CHECK(s && store_has_local(s, &c) == 0, "a lie is never cached");
	store_close(s);
}

static void test_all_fail(void)
{
	const struct fixture *ab[2] = {&A, &B};
	struct store_block b;
	uint8_t buf[1000];
	struct store *s;
	struct errbuf e;
	struct cid c = new_block(buf, sizeof(buf), 500, 0);

	s = net_store(NULL, ab, 2, &e);
	if (!s)
		return;
	CHECK_EQ_INT(store_get(s, &c, NULL, &b, &e), -ENOENT);
	CHECK(strstr(e.msg, A.url + 7) != NULL && strstr(e.msg, B.url + 7) != NULL,
	      "message lists every source: %s", e.msg);
	store_close(s);
}

static int64_t intr_at;

static int intr_cb(void *ctx)
{
	(void)ctx;
	return ms_now() >= intr_at;
}

static void test_deadline_interrupt(void)
{
	const struct fixture *a[1] = {&A};
	struct store_get_opts o = {.prio = FETCH_PRIO_DEMAND};
	struct store_block b;
	uint8_t buf[50000];
	struct store *s;
	struct errbuf e;
	struct cid c = new_block(buf, sizeof(buf), 600, 1);
	int64_t t0;
	int rc;

	fault(&A, "stall", &c, ", \"stall_s\": 4");
	s = net_store(NULL, a, 1, &e);
	if (!s)
		return;
	o.deadline_ms = 400;
	t0 = ms_now();
	rc = store_get(s, &c, &o, &b, &e);
	CHECK(rc == -ETIMEDOUT && ms_now() - t0 < 1400, "deadline: %d after %lld ms", rc,
	      (long long)(ms_now() - t0));
	o.deadline_ms = 0;
	o.interrupted = intr_cb;
	intr_at = ms_now() + 200;
	t0 = ms_now();
	rc = store_get(s, &c, &o, &b, &e);
	CHECK(rc == -EINTR && ms_now() - t0 < 1000, "interrupt: %d after %lld ms", rc,
	      (long long)(ms_now() - t0));
	store_close(s); /* cancels the stalled transfer */

	net_deadline_ms = 1000; /* fetch's own deadline reports first */
	s = net_store(NULL, a, 1, &e);
	net_deadline_ms = 5000;
	if (!s)
		return;
	t0 = ms_now();
	rc = store_get(s, &c, NULL, &b, &e);
	CHECK(rc == -ETIMEDOUT && ms_now() - t0 < 2000, "fetch deadline: %d after %lld ms (%s)", rc,
	      (long long)(ms_now() - t0), e.msg);
	store_close(s);
}

static void test_prefetch_memory(void)
{
	const struct fixture *a[1] = {&A};
	uint8_t buf[30000], buf2[30000];
	struct store_stats st;
	struct store *s;
	struct errbuf e;
	char cache[128];
	struct cid c = new_block(buf, sizeof(buf), 700, 1), c2;
	int64_t end;

	snprintf(cache, sizeof(cache), "%s/pf", tmp);
	s = net_store(cache, a, 1, &e);
	if (!s)
		return;
	CHECK_EQ_INT(store_prefetch(s, &c, FETCH_PRIO_PREFETCH), 0);
	CHECK_EQ_INT(store_prefetch(s, &c, FETCH_PRIO_PREFETCH), 0); /* joins, no 2nd request */
	for (end = ms_now() + 5000; ms_now() < end && !store_has_local(s, &c);)
		ms_sleep(10);
	CHECK(store_has_local(s, &c) == 1, "prefetched into the cache");
	CHECK(get_equals(s, &c, buf, sizeof(buf), NULL, &e) == 0, "get after prefetch");
	store_stats_get(s, &st);
	CHECK(requests_for(&A, &c) == 1 && st.cache_hits == 1, "one request, then a cache hit");
	{ /* local_only: a cached block is served; a missing one is -EAGAIN, never fetched */
		struct store_get_opts lo = {.prio = FETCH_PRIO_PREFETCH, .local_only = true};
		struct store_block blk;
		struct cid miss = new_block(buf2, sizeof(buf2), 750, 1);

		CHECK_EQ_INT(store_get(s, &c, &lo, &blk, &e), 0);
		if (blk.data)
			CHECK(blk.len == sizeof(buf) && !memcmp(blk.data, buf, sizeof(buf)),
			      "bytes");
		store_block_release(s, &blk);
		CHECK_EQ_INT(store_get(s, &miss, &lo, &blk, &e), -EAGAIN);
		ms_sleep(50);
		CHECK_EQ_INT(requests_for(&A, &miss), 0);
		CHECK_EQ_INT(store_has_local(s, &miss), 0);
		store_stats_get(s, &st);
		CHECK(st.errors == 0 && st.timeouts == 0 && st.in_flight == 0, "errors %llu",
		      (unsigned long long)st.errors);
	}
	store_close(s);

	/* without a cache, recent blocks are remembered in memory */
	c2 = new_block(buf2, sizeof(buf2), 800, 1);
	s = net_store(NULL, a, 1, &e);
	if (!s)
		return;
	CHECK(get_equals(s, &c2, buf2, sizeof(buf2), NULL, &e) == 0, "get 1");
	CHECK(get_equals(s, &c2, buf2, sizeof(buf2), NULL, &e) == 0, "get 2");
	CHECK_EQ_INT(requests_for(&A, &c2), 1);
	store_close(s);
}

/* A cache full of pinned blocks: fetched blocks are still delivered (owned
 * copies), just not cached, and remembered in memory. */
static void test_cache_full(void)
{
	const struct fixture *a[1] = {&A};
	static uint8_t pinned[90000], buf[50000];
	struct store_cfg cfg = {0};
	struct store_block b;
	struct store *s = NULL;
	struct errbuf e;
	char cache[128];
	struct cid pc, c = new_block(buf, sizeof(buf), 900, 1);
	int rc;

	snprintf(cache, sizeof(cache), "%s/full", tmp);
	fetch_cfg_defaults(&cfg.fetch);
	fetch_cfg_add_source(&cfg.fetch, FETCH_SRC_GATEWAY, a[0]->url, &e);
	cfg.cache.dir = cache;
	cfg.cache.max_bytes = 100000;
	CHECK(store_open(&cfg, &s, &e) == 0, "store_open: %s", e.msg);
	if (!s)
		return;
	fill(pinned, sizeof(pinned), 901);
	cid_for_block(1, CID_CODEC_RAW, pinned, sizeof(pinned), &pc);
	CHECK(cache_put(store_cache(s), &pc, pinned, sizeof(pinned)) == 0, "put pinned");
	CHECK(cache_pin_add(store_cache(s), &pc, &pc) == 0, "pin");
	CHECK_EQ_INT(cache_put(store_cache(s), &c, buf, sizeof(buf)), -ENOSPC);
	rc = store_get(s, &c, NULL, &b, &e);
	CHECK(rc == 0 && !b.from_cache && b.len == sizeof(buf) && !memcmp(b.data, buf, b.len),
	      "delivered though the cache is full: %d %s", rc, e.msg);
	if (rc == 0)
		store_block_release(s, &b);
	CHECK(cache_has(store_cache(s), &c) == 0, "not cached");
	CHECK(get_equals(s, &c, buf, sizeof(buf), NULL, &e) == 0, "again, from memory");
	CHECK_EQ_INT(requests_for(&A, &c), 1);
	store_close(s);
}

static void test_network(void)
{
	if (fixture_start(&A, "a") || fixture_start(&B, "b")) {
		CHECK(0, "the fixture tests/fixture/gateway.py did not start");
		fixture_stop(&A);
		fixture_stop(&B);
		return;
	}
	test_singleflight();
	test_failover_and_lies();
	test_all_fail();
	test_deadline_interrupt();
	test_prefetch_memory();
	test_cache_full();
	fixture_stop(&A);
	fixture_stop(&B);
}

int main(void)
{
	char cmd[128];

	log_init("test_store", LOG_LVL_ERROR, 0);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
	snprintf(blockdir, sizeof(blockdir), "%s/blocks", tmp);
	CHECK(mkdir(blockdir, 0700) == 0, "mkdir %s", blockdir);
	test_srcopts();
	test_local();
	test_car();
	test_network();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	CHECK(system(cmd) == 0, "cleanup");
	curl_global_cleanup();
	return check_done("test_store");
}
