/* test_fetch: verified block fetching against the fault-injecting fixture
 * (tests/fixture/gateway.py). */
/* deps: fetch fetch_net cid multibase varint multihash errbuf log dynbuf */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "check.h"
#include "cid.h"
#include "fetch.h"
#include "log.h"
#include "multihash.h"

extern char **environ;

#define NBLOCKS 200
#define BLKSZ	4096

struct fixture {
	pid_t pid;
	int port;
	char url[64];
	char label[32];
};

static char tmpdir[PATH_MAX], blockdir[PATH_MAX + 16];
static char fixture_py[PATH_MAX];
static struct fixture A, B;
static uint8_t blocks[NBLOCKS][BLKSZ];
static struct cid cids[NBLOCKS];

/* ---- helpers: time, files, processes ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *fp = fopen(path, "wb");

	if (!fp || fwrite(p, 1, n, fp) != n) {
		perror(path);
		exit(2);
	}
	fclose(fp);
}

static void random_bytes(uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(rand() >> 7);
}

/* Writes a block file named by its raw CIDv1 into dir. */
static void put_block(const char *dir, const uint8_t *p, size_t n, struct cid *c)
{
	char path[PATH_MAX + 400], text[CID_MAX_TEXT];

	cid_for_block(1, CID_CODEC_RAW, p, n, c);
	cid_format(c, text, sizeof(text));
	snprintf(path, sizeof(path), "%s/%s", dir, text);
	write_file(path, p, n);
}

static void find_fixture(void)
{
	char exe[PATH_MAX];
	ssize_t n;
	char *s;

	if (access("tests/fixture/gateway.py", R_OK) == 0) {
		snprintf(fixture_py, sizeof(fixture_py), "tests/fixture/gateway.py");
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	for (int i = 0; i < 2 && (s = strrchr(exe, '/')); i++)
		*s = '\0';
	snprintf(fixture_py, sizeof(fixture_py), "%.3000s/tests/fixture/gateway.py", exe);
}

/* Spawns argv, waits for it to write its port into port_file. */
static int spawn_with_port(char *const argv[], const char *port_file, pid_t *pid)
{
	uint64_t end = now_ms() + 10000;
	FILE *fp;
	int port = 0, st;

	unlink(port_file);
	if (posix_spawn(pid, argv[0], NULL, NULL, argv, environ)) {
		perror("posix_spawn");
		exit(2);
	}
	while (now_ms() < end) {
		if ((fp = fopen(port_file, "r"))) {
			if (fscanf(fp, "%d", &port) != 1)
				port = 0;
			fclose(fp);
			if (port > 0)
				return port;
		}
		if (waitpid(*pid, &st, WNOHANG) == *pid)
			break;
		sleep_ms(20);
	}
	fprintf(stderr, "test_fetch: %s did not start\n", argv[1]);
	exit(2);
}

static void fixture_start(struct fixture *fx, const char *name)
{
	char pf[PATH_MAX + 64];
	char *argv[] = {"/usr/bin/python3", fixture_py,	   "--port", "0", "--blocks",
			blockdir,	    "--port-file", pf,	     NULL};

	snprintf(pf, sizeof(pf), "%s/%s.port", tmpdir, name);
	fx->port = spawn_with_port(argv, pf, &fx->pid);
	snprintf(fx->url, sizeof(fx->url), "http://127.0.0.1:%d", fx->port);
	snprintf(fx->label, sizeof(fx->label), "127.0.0.1:%d", fx->port);
}

static void proc_stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

/* A port nobody listens on: bind port 0, note it, close. */
static int closed_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl)) {
		perror("closed_port");
		exit(2);
	}
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* ---- control plane over libcurl ---- */

struct resp {
	char buf[65536];
	size_t len;
};

static size_t resp_write(char *p, size_t s, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t k = s * n, room = sizeof(r->buf) - 1 - r->len;

	memcpy(r->buf + r->len, p, k < room ? k : room);
	r->len += k < room ? k : room;
	r->buf[r->len] = '\0';
	return s * n;
}

/* POST (body != NULL) or GET; returns the HTTP status. */
static long ctl(const struct fixture *fx, const char *path, const void *body, size_t blen,
		struct resp *out)
{
	static struct resp scratch;
	char url[600];
	long code = 0;
	CURL *h = curl_easy_init();

	out = out ? out : &scratch;
	out->len = 0;
	out->buf[0] = '\0';
	snprintf(url, sizeof(url), "%s%s", fx->url, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, resp_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)blen);
	}
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	return code;
}

static void fault(const struct fixture *fx, const char *json)
{
	long code = ctl(fx, "/_fixture/faults", json, strlen(json), NULL);

	CHECK(code == 200, "setting fault %s: HTTP %ld", json, code);
}

static void reset_fixtures(void)
{
	ctl(&A, "/_fixture/reset", "", 0, NULL);
	ctl(&B, "/_fixture/reset", "", 0, NULL);
}

static void add_block(const struct fixture *fx, const uint8_t *p, size_t n, struct cid *c)
{
	char path[CID_MAX_TEXT + 40], text[CID_MAX_TEXT];

	cid_for_block(1, CID_CODEC_RAW, p, n, c);
	cid_format(c, text, sizeof(text));
	snprintf(path, sizeof(path), "/_fixture/add?cid=%s", text);
	CHECK(ctl(fx, path, p, n, NULL) == 200, "adding a block to %s", fx->url);
}

/* Number after "key": in the fixture's stats JSON (-1 if absent). */
static long stat_num(const struct fixture *fx, const char *key)
{
	struct resp r;
	char pat[160];
	const char *p;

	if (ctl(fx, "/_fixture/stats", NULL, 0, &r) != 200)
		return -1;
	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(r.buf, pat);
	return p ? strtol(p + strlen(pat), NULL, 10) : 0;
}

/* Requests the fixture saw for one block. */
static long stat_mh(const struct fixture *fx, const struct cid *c)
{
	char hex[2 * CID_MAX_BIN + 1];
	int i;

	for (i = 0; i < c->mh_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", cid_mh(c)[i]);
	return stat_num(fx, hex);
}

/* ---- fetch results ---- */

static pthread_mutex_t res_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t res_cond = PTHREAD_COND_INITIALIZER;
static int res_seq;

struct result {
	int called;
	int status;
	uint8_t *data;
	size_t len;
	int seq;
	uint64_t at_ms;
	char why[1024];
};

static void on_done(void *ctx, int status, const struct cid *cid, uint8_t *data, size_t len,
		    const char *why)
{
	struct result *r = ctx;

	(void)cid;
	pthread_mutex_lock(&res_lock);
	r->called++;
	r->status = status;
	r->data = data;
	r->len = len;
	r->seq = res_seq++;
	r->at_ms = now_ms();
	snprintf(r->why, sizeof(r->why), "%s", why ? why : "");
	pthread_cond_broadcast(&res_cond);
	pthread_mutex_unlock(&res_lock);
}

/* Waits until n results were delivered (or timeout); returns how many were. */
static int wait_results(struct result *rs, int n, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	int i, got;

	pthread_mutex_lock(&res_lock);
	for (;;) {
		for (got = 0, i = 0; i < n; i++)
			got += rs[i].called > 0;
		if (got == n || now_ms() >= end)
			break;
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&res_cond, &res_lock, &ts);
	}
	pthread_mutex_unlock(&res_lock);
	return got;
}

static void result_free(struct result *r)
{
	free(r->data);
	memset(r, 0, sizeof(*r));
}

static void base_cfg(struct fetch_cfg *c)
{
	fetch_cfg_defaults(c);
	c->connect_timeout_ms = 1000;
	c->stall_timeout_ms = 2000;
	c->deadline_ms = 8000;
	c->backoff_ms = 20;
	c->backoff_max_ms = 200;
}

static void add_src(struct fetch_cfg *c, int kind, const char *url)
{
	struct errbuf e;
	int rc = fetch_cfg_add_source(c, kind, url, &e);

	CHECK(rc == 0, "add source %s: %s", url, e.msg);
}

static struct fetcher *mk(const struct fetch_cfg *c)
{
	struct fetcher *f = NULL;
	struct errbuf e;
	int rc = fetcher_new(c, &f, &e);

	CHECK(rc == 0 && f, "fetcher_new: %d %s", rc, e.msg);
	if (!f)
		exit(1);
	return f;
}

/* Submits one request and waits for it. */
static int fetch1(struct fetcher *f, const struct cid *c, struct result *r)
{
	int rc;

	memset(r, 0, sizeof(*r));
	rc = fetcher_submit(f, c, FETCH_PRIO_DEMAND, on_done, r);
	CHECK(rc == 0, "submit: %d", rc);
	if (rc)
		return rc;
	CHECK(wait_results(r, 1, 20000) == 1, "callback within 20 s");
	CHECK(r->called == 1, "callback called once, not %d", r->called);
	return r->status;
}

static int same_block(const struct result *r, int i)
{
	return r->status == 0 && r->data && r->len == BLKSZ && !memcmp(r->data, blocks[i], BLKSZ);
}

static struct fetch_source_stats st_of(struct fetcher *f, int i)
{
	struct fetch_source_stats st[FETCH_MAX_SOURCES];

	fetcher_stats(f, st, FETCH_MAX_SOURCES);
	return st[i];
}

/* ---- tests ---- */

static void test_cfg(void)
{
	struct fetch_cfg c;
	struct fetcher *f = NULL;
	struct errbuf e;
	int i, rc;

	fetch_cfg_defaults(&c);
	CHECK_EQ_INT(c.max_inflight, 32);
	CHECK_EQ_INT(c.max_per_source, 24);
	CHECK(c.source_window == 8u << 20, "source_window %llu",
	      (unsigned long long)c.source_window);
	CHECK_EQ_INT(c.deadline_ms, 60000);
	CHECK_EQ_INT(c.nsources, 0);
	rc = fetch_cfg_add_source(&c, FETCH_SRC_GATEWAY, "ftp://x", &e);
	CHECK(rc == -EINVAL && strstr(e.msg, "http://"), "ftp: %d %s", rc, e.msg);
	rc = fetch_cfg_add_source(&c, FETCH_SRC_GATEWAY, "http://", &e);
	CHECK(rc == -EINVAL && strstr(e.msg, "no host"), "empty host: %d %s", rc, e.msg);
	rc = fetch_cfg_add_source(&c, FETCH_SRC_GATEWAY, "http://h:0", &e);
	CHECK(rc == -EINVAL && strstr(e.msg, "port"), "port 0: %d %s", rc, e.msg);
	rc = fetch_cfg_add_source(&c, FETCH_SRC_GATEWAY, "http://h:70000", &e);
	CHECK(rc == -EINVAL && strstr(e.msg, "port"), "port 70000: %d %s", rc, e.msg);
	rc = fetch_cfg_add_source(&c, FETCH_SRC_GATEWAY, "http://h/a b", &e);
	CHECK(rc == -EINVAL && strstr(e.msg, "space"), "space: %d %s", rc, e.msg);
	rc = fetch_cfg_add_source(&c, FETCH_SRC_GATEWAY, "http://h/?q=1", &e);
	CHECK(rc == -EINVAL && strstr(e.msg, "query"), "query: %d %s", rc, e.msg);
	rc = fetch_cfg_add_source(&c, FETCH_SRC_GATEWAY, "http://user@h", &e);
	CHECK(rc == -EINVAL && strstr(e.msg, "'@'"), "userinfo: %d %s", rc, e.msg);
	rc = fetch_cfg_add_source(&c, 9, "http://h", &e);
	CHECK(rc == -EINVAL && strstr(e.msg, "kind"), "kind: %d %s", rc, e.msg);
	CHECK_EQ_INT(c.nsources, 0);
	rc = fetch_cfg_add_source(&c, FETCH_SRC_API, "HTTP://127.0.0.1:5001//", &e);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_STR(c.sources[0].url, "HTTP://127.0.0.1:5001");
	rc = fetch_cfg_add_source(&c, FETCH_SRC_GATEWAY, "https://[::1]:8080/gw/", &e);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_STR(c.sources[1].url, "https://[::1]:8080/gw");
	for (i = 2; i < FETCH_MAX_SOURCES; i++)
		fetch_cfg_add_source(&c, FETCH_SRC_GATEWAY, "http://h", &e);
	rc = fetch_cfg_add_source(&c, FETCH_SRC_GATEWAY, "http://h", &e);
	CHECK(rc == -ENOSPC && strstr(e.msg, "16"), "17th source: %d %s", rc, e.msg);

	fetch_cfg_defaults(&c);
	rc = fetcher_new(&c, &f, &e);
	CHECK(rc == -EINVAL && !f && strstr(e.msg, "sources"), "no sources: %d %s", rc, e.msg);
}

static void test_submit_rejects(void)
{
	struct fetch_cfg c;
	struct fetcher *f;
	struct result r;
	struct cid idc, b3;
	uint8_t d[32] = {1, 2, 3};

	base_cfg(&c);
	add_src(&c, FETCH_SRC_GATEWAY, A.url);
	f = mk(&c);
	memset(&r, 0, sizeof(r));
	cid_for_block(1, CID_CODEC_RAW, "abc", 3, &idc);
	cid_from_digest(1, CID_CODEC_RAW, MH_IDENTITY, (const uint8_t *)"abc", 3, &idc);
	CHECK_EQ_INT(fetcher_submit(f, &idc, FETCH_PRIO_DEMAND, on_done, &r), -EINVAL);
	cid_from_digest(1, CID_CODEC_RAW, 0x1e, d, 32, &b3);
	CHECK_EQ_INT(fetcher_submit(f, &b3, FETCH_PRIO_DEMAND, on_done, &r), -ENOTSUP);
	CHECK_EQ_INT(fetcher_submit(f, &cids[0], 7, on_done, &r), -EINVAL);
	CHECK_EQ_INT(fetcher_submit(f, &cids[0], FETCH_PRIO_DEMAND, NULL, &r), -EINVAL);
	CHECK_EQ_INT(fetcher_pending(f), 0);
	fetcher_free(f);
	CHECK_EQ_INT(r.called, 0);
}

static void test_ok(void)
{
	struct fetch_cfg c;
	struct fetcher *f;
	struct fetch_source_stats st;
	struct result r;
	struct cid v0;

	reset_fixtures();
	base_cfg(&c);
	add_src(&c, FETCH_SRC_GATEWAY, A.url);
	f = mk(&c);
	CHECK_EQ_INT(fetch1(f, &cids[0], &r), 0);
	CHECK(same_block(&r, 0), "gateway: got the block (len %zu)", r.len);
	result_free(&r);
	/* The CIDv0 form of the same multihash: the gateway finds the block by it. */
	cid_from_digest(0, CID_CODEC_DAG_PB, MH_SHA2_256, cid_digest(&cids[1]), 32, &v0);
	CHECK_EQ_INT(fetch1(f, &v0, &r), 0);
	CHECK(same_block(&r, 1), "gateway by CIDv0");
	result_free(&r);
	st = st_of(f, 0);
	CHECK(st.requests == 2 && st.ok == 2 && st.bytes == 2 * BLKSZ && st.errors == 0,
	      "stats: requests %llu ok %llu bytes %llu", (unsigned long long)st.requests,
	      (unsigned long long)st.ok, (unsigned long long)st.bytes);
	CHECK(st.latency_us_sum > 0 && st.latency_us_max > 0 && st.kind == FETCH_SRC_GATEWAY,
	      "latency recorded");
	CHECK_EQ_STR(st.url, A.url);
	CHECK_EQ_INT(stat_mh(&A, &cids[0]), 1);
	CHECK_EQ_INT(fetcher_pending(f), 0);
	fetcher_free(f);

	base_cfg(&c);
	add_src(&c, FETCH_SRC_API, A.url);
	f = mk(&c);
	CHECK_EQ_INT(fetch1(f, &cids[2], &r), 0);
	CHECK(same_block(&r, 2), "api: got the block");
	result_free(&r);
	CHECK_EQ_INT(stat_num(&A, "/api/v0/block/get"), 1);
	CHECK_EQ_INT(st_of(f, 0).ok, 1);
	fetcher_free(f);
}

static void test_not_found(void)
{
	struct fetch_cfg c;
	struct fetcher *f;
	struct result r;
	struct cid only_b, none;
	uint8_t x[BLKSZ], y[100];
	char want[96];

	reset_fixtures();
	random_bytes(x, sizeof(x));
	random_bytes(y, sizeof(y));
	add_block(&B, x, sizeof(x), &only_b);
	cid_for_block(1, CID_CODEC_RAW, y, sizeof(y), &none);
	base_cfg(&c);
	add_src(&c, FETCH_SRC_GATEWAY, A.url);
	add_src(&c, FETCH_SRC_GATEWAY, B.url);
	f = mk(&c);
	CHECK_EQ_INT(fetch1(f, &only_b, &r), 0);
	CHECK(r.len == sizeof(x) && !memcmp(r.data, x, sizeof(x)), "failover: block from B");
	result_free(&r);
	CHECK_EQ_INT(st_of(f, 0).not_found, 1);
	CHECK_EQ_INT(st_of(f, 1).ok, 1);
	CHECK_EQ_INT(st_of(f, 0).cooling, 0);

	CHECK_EQ_INT(fetch1(f, &none, &r), -ENOENT);
	CHECK(r.data == NULL, "no data on failure");
	snprintf(want, sizeof(want), "%s: 404 not found", A.label);
	CHECK(strstr(r.why, want), "why names A: %s", r.why);
	snprintf(want, sizeof(want), "%s: 404 not found", B.label);
	CHECK(strstr(r.why, want), "why names B: %s", r.why);
	result_free(&r);
	fetcher_free(f);

	/* Kubo's "not found" error (HTTP 500 + JSON) is a not-found, not a retry. */
	base_cfg(&c);
	add_src(&c, FETCH_SRC_API, A.url);
	f = mk(&c);
	CHECK_EQ_INT(fetch1(f, &none, &r), -ENOENT);
	CHECK(strstr(r.why, "api: 500 block was not found locally"), "api why: %s", r.why);
	CHECK(!strstr(r.why, "attempts"), "not retried: %s", r.why);
	result_free(&r);
	CHECK_EQ_INT(st_of(f, 0).not_found, 1);
	CHECK_EQ_INT(st_of(f, 0).retries, 0);
	fetcher_free(f);
}

/* A lying source: bytes that fail verification never reach the callback. */
static void test_liar(const char *mode, int bi)
{
	struct fetch_cfg c;
	struct fetcher *f;
	struct result r;
	char json[128];

	reset_fixtures();
	snprintf(json, sizeof(json), "{\"mode\": \"%s\"}", mode);
	fault(&A, json);
	base_cfg(&c);
	add_src(&c, FETCH_SRC_GATEWAY, A.url);
	add_src(&c, FETCH_SRC_GATEWAY, B.url);
	f = mk(&c);
	CHECK_EQ_INT(fetch1(f, &cids[bi], &r), 0);
	CHECK(same_block(&r, bi), "%s: only the honest bytes delivered", mode);
	result_free(&r);
	CHECK_EQ_INT(st_of(f, 0).verify_failures, 1);
	CHECK_EQ_INT(st_of(f, 0).ok, 0);
	CHECK_EQ_INT(st_of(f, 1).ok, 1);
	CHECK_EQ_INT(stat_mh(&A, &cids[bi]), 1); /* not retried on the same liar */
	fetcher_free(f);

	base_cfg(&c);
	add_src(&c, FETCH_SRC_API, A.url);
	f = mk(&c);
	fault(&A, json);
	CHECK_EQ_INT(fetch1(f, &cids[bi + 1], &r), -EIO);
	CHECK(r.data == NULL && r.len == 0, "%s: no data from a liar", mode);
	CHECK(strstr(r.why, "api: hash mismatch"), "%s why: %s", mode, r.why);
	result_free(&r);
	fetcher_free(f);
}

static void test_truncate(void)
{
	struct fetch_cfg c;
	struct fetcher *f;
	struct fetch_source_stats st;
	struct result r;

	reset_fixtures();
	fault(&A, "{\"mode\": \"truncate\"}");
	base_cfg(&c);
	c.retries = 1;
	add_src(&c, FETCH_SRC_GATEWAY, A.url);
	add_src(&c, FETCH_SRC_GATEWAY, B.url);
	f = mk(&c);
	CHECK_EQ_INT(fetch1(f, &cids[10], &r), 0);
	CHECK(same_block(&r, 10), "truncate: block from B");
	result_free(&r);
	st = st_of(f, 0);
	CHECK(st.errors == 2 && st.retries == 1 && st.requests == 2,
	      "truncate: A tried twice (errors %llu retries %llu)", (unsigned long long)st.errors,
	      (unsigned long long)st.retries);
	fetcher_free(f);

	base_cfg(&c);
	c.retries = 1;
	add_src(&c, FETCH_SRC_GATEWAY, A.url);
	f = mk(&c);
	CHECK_EQ_INT(fetch1(f, &cids[11], &r), -EIO);
	CHECK(strstr(r.why, "truncated (2048 of 4096 bytes) (2 attempts)"), "why: %s", r.why);
	result_free(&r);
	fetcher_free(f);
}

static void test_retry_5xx(void)
{
	struct fetch_cfg c;
	struct fetcher *f;
	struct fetch_source_stats st;
	struct result r;
	int k;

	for (k = 0; k < 2; k++) {
		reset_fixtures();
		fault(&A, "{\"mode\": \"500\", \"count\": 1}");
		base_cfg(&c);
		add_src(&c, k ? FETCH_SRC_API : FETCH_SRC_GATEWAY, A.url);
		f = mk(&c);
		CHECK_EQ_INT(fetch1(f, &cids[12 + k], &r), 0);
		CHECK(same_block(&r, 12 + k), "500 then ok (%s)", k ? "api" : "gateway");
		result_free(&r);
		st = st_of(f, 0);
		CHECK(st.errors == 1 && st.retries == 1 && st.ok == 1,
		      "500 retried: errors %llu retries %llu ok %llu",
		      (unsigned long long)st.errors, (unsigned long long)st.retries,
		      (unsigned long long)st.ok);
		CHECK_EQ_INT(stat_mh(&A, &cids[12 + k]), 2);
		fetcher_free(f);
	}
	/* Always 500: gives up after retries with the message in why. */
	reset_fixtures();
	fault(&A, "{\"mode\": \"500\"}");
	base_cfg(&c);
	add_src(&c, FETCH_SRC_API, A.url);
	f = mk(&c);
	CHECK_EQ_INT(fetch1(f, &cids[14], &r), -EIO);
	CHECK(strstr(r.why, "api: 500 fixture: injected internal error (3 attempts)"), "why: %s",
	      r.why);
	result_free(&r);
	fetcher_free(f);
}

static void test_429(void)
{
	struct fetch_cfg c;
	struct fetcher *f;
	struct fetch_source_stats st;
	struct result r;
	uint64_t t0;

	reset_fixtures();
	fault(&A, "{\"mode\": \"429\", \"retry_after\": 1, \"count\": 1}");
	base_cfg(&c);
	add_src(&c, FETCH_SRC_GATEWAY, A.url);
	add_src(&c, FETCH_SRC_GATEWAY, B.url);
	f = mk(&c);
	t0 = now_ms();
	CHECK_EQ_INT(fetch1(f, &cids[20], &r), 0);
	CHECK(same_block(&r, 20), "429: block from B");
	CHECK(now_ms() - t0 < 900, "429: B asked at once, not after Retry-After");
	result_free(&r);
	st = st_of(f, 0);
	CHECK(st.cooling == 1 && st.errors == 1, "A cooling after 429 (cooling %d)", st.cooling);
	/* While A cools down, requests go straight to B. */
	CHECK_EQ_INT(fetch1(f, &cids[21], &r), 0);
	result_free(&r);
	CHECK_EQ_INT(stat_mh(&A, &cids[21]), 0);
	CHECK_EQ_INT(st_of(f, 1).ok, 2);
	while (now_ms() < t0 + 1100)
		sleep_ms(10);
	CHECK_EQ_INT(st_of(f, 0).cooling, 0);
	CHECK_EQ_INT(fetch1(f, &cids[22], &r), 0);
	result_free(&r);
	CHECK_EQ_INT(stat_mh(&A, &cids[22]), 1);
	CHECK_EQ_INT(st_of(f, 0).ok, 1);
	fetcher_free(f);
}

/* 429 from A, B lacks the block: back to A, but only after Retry-After. */
static void test_429_wait(void)
{
	struct fetch_cfg c;
	struct fetcher *f;
	struct result r;
	struct cid only_a;
	uint8_t x[1000];
	uint64_t t0;

	reset_fixtures();
	fault(&A, "{\"mode\": \"429\", \"retry_after\": 1, \"count\": 1}");
	random_bytes(x, sizeof(x));
	add_block(&A, x, sizeof(x), &only_a);
	base_cfg(&c);
	add_src(&c, FETCH_SRC_GATEWAY, A.url);
	add_src(&c, FETCH_SRC_GATEWAY, B.url);
	f = mk(&c);
	t0 = now_ms();
	CHECK_EQ_INT(fetch1(f, &only_a, &r), 0);
	CHECK(r.len == sizeof(x) && !memcmp(r.data, x, sizeof(x)), "429 then 404: block from A");
	CHECK(now_ms() - t0 >= 950 && now_ms() - t0 < 3000,
	      "A asked again after Retry-After: %llu ms", (unsigned long long)(now_ms() - t0));
	result_free(&r);
	CHECK_EQ_INT(stat_mh(&A, &only_a), 2);
	CHECK_EQ_INT(stat_mh(&B, &only_a), 1);
	fetcher_free(f);

	/* A single source that says 429: wait Retry-After, then ask again. */
	reset_fixtures();
	fault(&A, "{\"mode\": \"429\", \"retry_after\": 1, \"count\": 1}");
	base_cfg(&c);
	add_src(&c, FETCH_SRC_GATEWAY, A.url);
	f = mk(&c);
	t0 = now_ms();
	CHECK_EQ_INT(fetch1(f, &cids[23], &r), 0);
	CHECK(now_ms() - t0 >= 950 && now_ms() - t0 < 3000, "waited Retry-After: %llu ms",
	      (unsigned long long)(now_ms() - t0));
	result_free(&r);
	fetcher_free(f);
}

static void test_reset(void)
{
	struct fetch_cfg c;
	struct fetcher *f;
	struct result r;

	reset_fixtures();
	fault(&A, "{\"mode\": \"reset\", \"count\": 1}");
	base_cfg(&c);
	add_src(&c, FETCH_SRC_GATEWAY, A.url);
	f = mk(&c);
	CHECK_EQ_INT(fetch1(f, &cids[30], &r), 0);
	CHECK(same_block(&r, 30), "reset then ok");
	result_free(&r);
	CHECK_EQ_INT(st_of(f, 0).retries, 1);
	fault(&A, "{\"mode\": \"reset\"}");
	CHECK_EQ_INT(fetch1(f, &cids[31], &r), -EIO);
	CHECK(strstr(r.why, A.label) && (strstr(r.why, "reset") || strstr(r.why, "closed")),
	      "why: %s", r.why);
	result_free(&r);
	fetcher_free(f);
}

static void test_stall(void)
{
	struct fetch_cfg c;
	struct fetcher *f;
	struct result r;
	uint64_t t0, dt;

	reset_fixtures();
	fault(&A, "{\"mode\": \"stall\", \"stall_s\": 10}");
	base_cfg(&c);
	c.stall_timeout_ms = 300;
	c.deadline_ms = 700;
	add_src(&c, FETCH_SRC_GATEWAY, A.url);
	f = mk(&c);
	t0 = now_ms();
	CHECK_EQ_INT(fetch1(f, &cids[40], &r), -ETIMEDOUT);
	dt = now_ms() - t0;
	CHECK(dt >= 650 && dt < 900, "stall: -ETIMEDOUT after %llu ms (deadline 700)",
	      (unsigned long long)dt);
	CHECK(strstr(r.why, "timeout after 300 ms") && strstr(r.why, "deadline of 700 ms passed"),
	      "why: %s", r.why);
	result_free(&r);
	fetcher_free(f);

	/* Stall on A, no retries: B answers well within the deadline. */
	base_cfg(&c);
	c.stall_timeout_ms = 300;
	c.retries = 0;
	add_src(&c, FETCH_SRC_GATEWAY, A.url);
	add_src(&c, FETCH_SRC_GATEWAY, B.url);
	f = mk(&c);
	t0 = now_ms();
	CHECK_EQ_INT(fetch1(f, &cids[41], &r), 0);
	dt = now_ms() - t0;
	CHECK(same_block(&r, 41) && dt >= 290 && dt < 800, "stall: failover after %llu ms",
	      (unsigned long long)dt);
	result_free(&r);
	fetcher_free(f);
}

static void test_deadline_queued(void)
{
	struct fetch_cfg c;
	struct fetcher *f;
	struct result r[3];
	uint64_t t0;
	int i;

	reset_fixtures();
	fault(&A, "{\"mode\": \"stall\", \"stall_s\": 10}");
	base_cfg(&c);
	c.max_inflight = 1;
	c.deadline_ms = 500;
	add_src(&c, FETCH_SRC_GATEWAY, A.url);
	f = mk(&c);
	memset(r, 0, sizeof(r));
	t0 = now_ms();
	for (i = 0; i < 3; i++)
		CHECK_EQ_INT(fetcher_submit(f, &cids[50 + i], FETCH_PRIO_DEMAND, on_done, &r[i]),
			     0);
	CHECK_EQ_INT(wait_results(r, 3, 5000), 3);
	for (i = 0; i < 3; i++) {
		CHECK(r[i].status == -ETIMEDOUT && r[i].at_ms - t0 >= 490 && r[i].at_ms - t0 < 650,
		      "request %d: status %d after %llu ms", i, r[i].status,
		      (unsigned long long)(r[i].at_ms - t0));
		CHECK(strstr(r[i].why, "deadline of 500 ms passed"), "why: %s", r[i].why);
	}
	CHECK(strstr(r[0].why, "no answer before the deadline"), "in flight: %s", r[0].why);
	CHECK_EQ_INT(stat_mh(&A, &cids[51]), 0); /* never left the queue */
	CHECK_EQ_INT(fetcher_pending(f), 0);
	fetcher_free(f);
}

static void test_dead(void)
{
	struct fetch_cfg c;
	struct fetcher *f;
	struct result r;
	char u1[64], u2[64], l1[64], l2[64];
	int p1 = closed_port(), p2 = closed_port();
	uint64_t t0;

	base_cfg(&c);
	c.retries = 1;
	snprintf(u1, sizeof(u1), "http://127.0.0.1:%d", p1);
	snprintf(u2, sizeof(u2), "http://127.0.0.1:%d/", p2);
	add_src(&c, FETCH_SRC_GATEWAY, u1);
	add_src(&c, FETCH_SRC_API, u2);
	f = mk(&c);
	t0 = now_ms();
	CHECK_EQ_INT(fetch1(f, &cids[60], &r), -EIO);
	CHECK(now_ms() - t0 < 2000, "dead sources fail fast");
	snprintf(l1, sizeof(l1), "127.0.0.1:%d: connection refused (2 attempts)", p1);
	snprintf(l2, sizeof(l2), "api: connection refused (2 attempts)");
	CHECK(strstr(r.why, l1) && strstr(r.why, l2), "why: %s", r.why);
	result_free(&r);
	CHECK_EQ_INT(st_of(f, 0).errors, 2);
	fetcher_free(f);
}

static void test_oversize(void)
{
	struct fetch_cfg c;
	struct fetcher *f;
	struct result r;
	struct cid big;
	uint8_t *p = malloc(BLOCK_MAX + 4096);
	char path[PATH_MAX + 400], text[CID_MAX_TEXT], json[400];
	uint64_t t0;

	reset_fixtures();
	random_bytes(p, BLOCK_MAX + 4096);
	cid_for_block(1, CID_CODEC_RAW, p, 64, &big); /* a name whose hash won't match */
	cid_format(&big, text, sizeof(text));
	snprintf(path, sizeof(path), "%s/%s", blockdir, text);
	write_file(path, p, BLOCK_MAX + 4096);
	base_cfg(&c);
	add_src(&c, FETCH_SRC_GATEWAY, A.url);
	f = mk(&c);
	t0 = now_ms();
	CHECK_EQ_INT(fetch1(f, &big, &r), -EIO);
	CHECK(strstr(r.why, "body over the 2 MiB block limit"), "why: %s", r.why);
	CHECK(!strstr(r.why, "attempts"), "not retried: %s", r.why);
	result_free(&r);
	/* No Content-Length: the cap is enforced while receiving. */
	snprintf(json, sizeof(json), "{\"mode\": \"no_length\", \"cids\": [\"%s\"]}", text);
	fault(&A, json);
	CHECK_EQ_INT(fetch1(f, &big, &r), -EIO);
	CHECK(strstr(r.why, "body over the 2 MiB block limit"), "streamed why: %s", r.why);
	CHECK(now_ms() - t0 < 2000, "oversize fails fast");
	result_free(&r);
	/* A no-length body under the cap is fine. */
	CHECK_EQ_INT(fetch1(f, &cids[61], &r), 0);
	CHECK(same_block(&r, 61), "no_length small block");
	result_free(&r);
	fetcher_free(f);
	unlink(path);
	free(p);
}

static void test_content_type(void)
{
	struct fetch_cfg c;
	struct fetcher *f;
	struct result r;

	reset_fixtures();
	fault(&A, "{\"mode\": \"wrong_type\"}");
	base_cfg(&c);
	add_src(&c, FETCH_SRC_GATEWAY, A.url);
	f = mk(&c);
	CHECK_EQ_INT(fetch1(f, &cids[62], &r), -EIO);
	CHECK(strstr(r.why, "wrong content type 'text/html'"), "why: %s", r.why);
	result_free(&r);
	fetcher_free(f);
}

static void test_redirect(void)
{
	struct fetch_cfg c;
	struct fetcher *f;
	struct result r;
	char json[200];

	reset_fixtures();
	snprintf(json, sizeof(json), "{\"mode\": \"redirect\", \"to\": \"%s\"}", B.url);
	fault(&A, json);
	base_cfg(&c);
	c.retries = 0;
	add_src(&c, FETCH_SRC_GATEWAY, A.url);
	f = mk(&c);
	CHECK_EQ_INT(fetch1(f, &cids[63], &r), 0);
	CHECK(same_block(&r, 63), "redirect to B followed");
	result_free(&r);
	CHECK_EQ_INT(stat_mh(&B, &cids[63]), 1);
	fault(&A, "{\"mode\": \"redirect\", \"to\": \"file:///etc\"}");
	CHECK_EQ_INT(fetch1(f, &cids[64], &r), -EIO);
	CHECK(strstr(r.why, A.label) && strcasestr(r.why, "protocol"), "file redirect: %s", r.why);
	result_free(&r);
	snprintf(json, sizeof(json), "{\"mode\": \"redirect\", \"to\": \"%s\"}", A.url);
	fault(&A, json);
	CHECK_EQ_INT(fetch1(f, &cids[65], &r), -EIO);
	CHECK(strcasestr(r.why, "redirects"), "redirect loop: %s", r.why);
	CHECK_EQ_INT(stat_mh(&A, &cids[65]), 4); /* the request and 3 redirects */
	result_free(&r);
	fetcher_free(f);
}

static void test_cooldown(void)
{
	struct fetch_cfg c;
	struct fetcher *f;
	struct result r;
	int i;

	reset_fixtures();
	fault(&A, "{\"mode\": \"500\"}");
	base_cfg(&c);
	c.retries = 0;
	c.cooldown_after = 2;
	add_src(&c, FETCH_SRC_GATEWAY, A.url);
	add_src(&c, FETCH_SRC_GATEWAY, B.url);
	f = mk(&c);
	for (i = 0; i < 3; i++) {
		CHECK_EQ_INT(fetch1(f, &cids[70 + i], &r), 0);
		result_free(&r);
	}
	CHECK_EQ_INT(st_of(f, 0).cooling, 1);
	CHECK_EQ_INT(stat_mh(&A, &cids[71]), 1);
	CHECK_EQ_INT(stat_mh(&A, &cids[72]), 0); /* skipped while cooling */
	CHECK_EQ_INT(st_of(f, 1).ok, 3);
	fetcher_free(f);
}

static void test_concurrent(void)
{
	static struct result r[NBLOCKS];
	struct fetch_cfg c;
	struct fetcher *f;
	uint64_t t0;
	int i, ok = 0;

	reset_fixtures();
	base_cfg(&c);
	add_src(&c, FETCH_SRC_GATEWAY, A.url);
	add_src(&c, FETCH_SRC_GATEWAY, B.url);
	f = mk(&c);
	memset(r, 0, sizeof(r));
	t0 = now_ms();
	for (i = 0; i < NBLOCKS; i++)
		CHECK_EQ_INT(fetcher_submit(f, &cids[i], i % 3, on_done, &r[i]), 0);
	CHECK_EQ_INT(wait_results(r, NBLOCKS, 20000), NBLOCKS);
	for (i = 0; i < NBLOCKS; i++) {
		ok += same_block(&r[i], i) && r[i].called == 1;
		result_free(&r[i]);
	}
	CHECK_EQ_INT(ok, NBLOCKS);
	CHECK_EQ_INT(fetcher_pending(f), 0);
	CHECK_EQ_INT(st_of(f, 0).ok + st_of(f, 1).ok, NBLOCKS);
	CHECK_EQ_INT(st_of(f, 0).in_flight + st_of(f, 1).in_flight, 0);
	printf("test_fetch: %d concurrent 4 KiB blocks in %llu ms\n", NBLOCKS,
	       (unsigned long long)(now_ms() - t0));
	fetcher_free(f);
}

static void test_priority(void)
{
	struct fetch_cfg c;
	struct fetcher *f;
	struct result slow, r[9];
	char json[400], text[CID_MAX_TEXT];
	int i, j, order_ok = 1;

	reset_fixtures();
	cid_format(&cids[80], text, sizeof(text));
	snprintf(json, sizeof(json), "{\"mode\": \"slow\", \"rate\": 10000, \"cids\": [\"%s\"]}",
		 text);
	fault(&A, json);
	base_cfg(&c);
	c.max_inflight = 1;
	add_src(&c, FETCH_SRC_GATEWAY, A.url);
	f = mk(&c);
	memset(&slow, 0, sizeof(slow));
	memset(r, 0, sizeof(r));
	CHECK_EQ_INT(fetcher_submit(f, &cids[80], FETCH_PRIO_DEMAND, on_done, &slow), 0);
	sleep_ms(100);
	/* Submitted lowest priority first. */
	for (i = 0; i < 9; i++)
		fetcher_submit(f, &cids[81 + i], FETCH_PRIO_PREFETCH - i / 3, on_done, &r[i]);
	CHECK_EQ_INT(fetcher_pending(f), 10);
	CHECK_EQ_INT(wait_results(r, 9, 10000), 9);
	CHECK(slow.called && same_block(&slow, 80), "slow block delivered");
	/* r[6..8] DEMAND, r[3..5] READAHEAD, r[0..2] PREFETCH; FIFO within each. */
	for (i = 0; i < 9; i++)
		for (j = 0; j < 9; j++)
			if (i / 3 > j / 3 || (i / 3 == j / 3 && i < j))
				order_ok &= r[i].seq < r[j].seq ? 1 : 0;
	CHECK(order_ok, "completion order by priority (seq %d %d %d | %d %d %d | %d %d %d)",
	      r[6].seq, r[7].seq, r[8].seq, r[3].seq, r[4].seq, r[5].seq, r[0].seq, r[1].seq,
	      r[2].seq);
	CHECK(slow.seq < r[6].seq, "the slow transfer finished first");
	result_free(&slow);
	for (i = 0; i < 9; i++) {
		CHECK(same_block(&r[i], 81 + i), "block %d", i);
		result_free(&r[i]);
	}
	fetcher_free(f);
}

static void test_cancel(void)
{
	struct fetch_cfg c;
	struct fetcher *f;
	struct result r[5];
	int i, ok = 0;

	reset_fixtures();
	fault(&A, "{\"mode\": \"stall\", \"stall_s\": 10}");
	base_cfg(&c);
	c.max_inflight = 2;
	add_src(&c, FETCH_SRC_GATEWAY, A.url);
	f = mk(&c);
	memset(r, 0, sizeof(r));
	for (i = 0; i < 5; i++)
		fetcher_submit(f, &cids[90 + i], FETCH_PRIO_READAHEAD, on_done, &r[i]);
	sleep_ms(100);
	CHECK_EQ_INT(fetcher_pending(f), 5);
	fetcher_free(f);
	for (i = 0; i < 5; i++)
		ok += r[i].called == 1 && r[i].status == -ECANCELED && !r[i].data;
	CHECK_EQ_INT(ok, 5);
	CHECK(strstr(r[0].why, "cancelled"), "why: %s", r[0].why);
}

/* MPACK_FETCH_BENCH=1: 1 MiB blocks from nginx on loopback. */
static void bench_nginx(void)
{
	enum { N = 64, SZ = 1 << 20 };
	static struct result r[N];
	static struct cid bc[N];
	char dir[PATH_MAX + 16], pf[PATH_MAX + 16], url[64], nginx_py[PATH_MAX];
	char *argv[] = {"/usr/bin/python3", nginx_py, "--blocks", dir, "--port-file", pf, NULL};
	uint8_t *p = malloc(SZ);
	struct fetch_cfg c;
	struct fetcher *f;
	pid_t pid;
	int i, port, ok, inflight[] = {1, 4, 16}, k;
	uint64_t t0, dt;

	snprintf(nginx_py, sizeof(nginx_py), "%s", fixture_py);
	strcpy(strrchr(nginx_py, '/'), "/nginx.py");
	snprintf(dir, sizeof(dir), "%s/big", tmpdir);
	snprintf(pf, sizeof(pf), "%s/nginx.port", tmpdir);
	mkdir(dir, 0755);
	for (i = 0; i < N; i++) {
		random_bytes(p, SZ);
		put_block(dir, p, SZ, &bc[i]);
	}
	port = spawn_with_port(argv, pf, &pid);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	for (k = 0; k < 3; k++) {
		base_cfg(&c);
		c.max_inflight = c.max_per_source = inflight[k];
		add_src(&c, FETCH_SRC_GATEWAY, url);
		f = mk(&c);
		memset(r, 0, sizeof(r));
		t0 = now_ms();
		for (i = 0; i < N; i++)
			fetcher_submit(f, &bc[i], FETCH_PRIO_DEMAND, on_done, &r[i]);
		wait_results(r, N, 30000);
		dt = now_ms() - t0;
		for (ok = 0, i = 0; i < N; i++) {
			ok += r[i].status == 0 && r[i].len == SZ;
			result_free(&r[i]);
		}
		CHECK_EQ_INT(ok, N);
		printf("bench: nginx, %d x 1 MiB, max_inflight %d: %llu ms, %.0f MiB/s\n", N,
		       inflight[k], (unsigned long long)dt, dt ? N * 1000.0 / (double)dt : 0.0);
		fetcher_free(f);
	}
	proc_stop(pid);
	free(p);
}

static int source_stats(struct fetcher *f, struct fetch_source_stats *st)
{
	return fetcher_stats(f, st, 1) == 1;
}

/* In flight per source: source_window bytes at the source's recent block size, at least
 * FETCH_SLOTS_MIN, at most max_per_source. `before` slots while no block size is known,
 * `after` once the source returned blocks of BLKSZ bytes. */
static void window_case(int max_per_source, uint64_t window, int before, int after)
{
	struct fetch_source_stats st;
	struct fetch_cfg c;
	struct fetcher *f;
	struct result r[24];
	int i, ok = 0;

	reset_fixtures();
	base_cfg(&c);
	c.max_inflight = 64;
	c.max_per_source = max_per_source;
	c.source_window = window;
	add_src(&c, FETCH_SRC_GATEWAY, A.url);
	f = mk(&c);
	CHECK(source_stats(f, &st) && st.slots == before,
	      "window %llu, cap %d: %d slots before an answer (want %d)",
	      (unsigned long long)window, max_per_source, st.slots, before);
	memset(r, 0, sizeof(r));
	for (i = 0; i < 4; i++) /* the source's blocks are BLKSZ bytes */
		fetcher_submit(f, &cids[110 + i], FETCH_PRIO_DEMAND, on_done, &r[i]);
	CHECK_EQ_INT(wait_results(r, 4, 5000), 4);
	for (i = 0; i < 4; i++) {
		ok += same_block(&r[i], 110 + i);
		result_free(&r[i]);
	}
	CHECK_EQ_INT(ok, 4);
	fault(&A, "{\"mode\": \"stall\", \"stall_s\": 10}");
	for (i = 0; i < 24; i++)
		fetcher_submit(f, &cids[120 + i], FETCH_PRIO_READAHEAD, on_done, &r[i]);
	for (i = 0; i < 100 && source_stats(f, &st) && st.in_flight < after; i++)
		sleep_ms(10);
	sleep_ms(150); /* no more may start */
	CHECK(source_stats(f, &st) && st.slots == after && st.in_flight == after,
	      "window %llu, cap %d: %d in flight, %d slots (want %d)", (unsigned long long)window,
	      max_per_source, st.in_flight, st.slots, after);
	CHECK_EQ_INT(fetcher_pending(f), 24);
	fetcher_free(f);
	for (i = 0; i < 24; i++)
		result_free(&r[i]);
}

static void test_window(void)
{
	window_case(16, 10 * BLKSZ, 4, 10); /* 4: the minimum, before sizes are known */
	window_case(6, 1u << 30, 6, 6);	    /* capped by max_per_source */
	window_case(2, 10 * BLKSZ, 2, 2);   /* a cap below the minimum wins */
	window_case(16, 2 * BLKSZ, 4, 4);   /* the minimum */
}

static void make_blocks(void)
{
	int i;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_fetch.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		exit(2);
	}
	snprintf(blockdir, sizeof(blockdir), "%s/blocks", tmpdir);
	mkdir(blockdir, 0755);
	srand((unsigned)time(NULL));
	for (i = 0; i < NBLOCKS; i++) {
		random_bytes(blocks[i], BLKSZ);
		put_block(blockdir, blocks[i], BLKSZ, &cids[i]);
	}
}

static void rm_rf(const char *dir)
{
	char path[PATH_MAX + 300];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_type == DT_DIR)
			rm_rf(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	log_init("test_fetch", LOG_LVL_ERROR, 0);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	find_fixture();
	make_blocks();
	fixture_start(&A, "a");
	fixture_start(&B, "b");

	test_cfg();
	test_submit_rejects();
	test_ok();
	test_not_found();
	test_liar("corrupt", 100);
	test_liar("wrong_block", 102);
	test_truncate();
	test_retry_5xx();
	test_429();
	test_429_wait();
	test_reset();
	test_stall();
	test_deadline_queued();
	test_dead();
	test_oversize();
	test_content_type();
	test_redirect();
	test_cooldown();
	test_concurrent();
	test_priority();
	test_cancel();
	test_window();
	if (getenv("MPACK_FETCH_BENCH"))
		bench_nginx();

	proc_stop(A.pid);
	proc_stop(B.pid);
	rm_rf(tmpdir);
	curl_global_cleanup();
	return check_done("test_fetch");
}
