/* fetch: configuration, request queues and bookkeeping, verify threads.
 * The libcurl side (the network thread) is in fetch_net.c; fetch_int.h holds
 * the shared structures and the locking rules. */
#include "fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fetch_int.h"
#include "log.h"
#include "multihash.h"

void fetch_cfg_defaults(struct fetch_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->connect_timeout_ms = 5000;
	c->stall_timeout_ms = 20000;
	c->deadline_ms = 60000;
	c->max_inflight = 32;
	c->max_per_source = 24;
	c->source_window = 8u << 20;
	c->retries = 2;
	c->backoff_ms = 100;
	c->backoff_max_ms = 5000;
	c->cooldown_after = 3;
	c->cooldown_ms = 30000;
	c->verify_threads = 2;
}

/* Length of the scheme prefix ("http://" or "https://"), 0 if neither. */
static size_t url_scheme_len(const char *url)
{
	if (!strncasecmp(url, "http://", 7))
		return 7;
	if (!strncasecmp(url, "https://", 8))
		return 8;
	return 0;
}

static int host_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '-' || ch == '_';
}

/* Checks host[:port][/path] after the scheme. */
static int url_check_rest(const char *url, const char *p, struct errbuf *e)
{
	const char *h = p;
	long port = 0;

	if (*p == '[') {
		while (*++p && (host_char(*p) || *p == ':'))
			;
		if (*p != ']' || p == h + 1)
			return err_set(e, -EINVAL, "fetch: bad IPv6 host in URL '%.200s'", url);
		p++;
	} else {
		while (host_char(*p))
			p++;
		if (p == h)
			return err_set(e, -EINVAL, "fetch: no host in URL '%.200s'", url);
	}
	if (*p == ':') {
		const char *d = ++p;

		while (*p >= '0' && *p <= '9' && p - d < 6)
			port = port * 10 + (*p++ - '0');
		if (p == d || port < 1 || port > 65535)
			return err_set(e, -EINVAL, "fetch: bad port in URL '%.200s'", url);
	}
	if (*p && *p != '/')
		return err_set(e, -EINVAL,
			       "fetch: unexpected character '%c' in host of URL '%.200s'", *p, url);
	for (; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '?' || *p == '#')
			return err_set(e, -EINVAL,
				       "fetch: URL '%.200s' path has a space, control character, "
				       "query or fragment",
				       url);
	return 0;
}

int fetch_cfg_add_source(struct fetch_cfg *c, int kind, const char *url, struct errbuf *e)
{
	struct fetch_source_cfg *s;
	size_t n, sl;
	int rc;

	if (kind != FETCH_SRC_API && kind != FETCH_SRC_GATEWAY)
		return err_set(e, -EINVAL, "fetch: unknown source kind %d", kind);
	if (c->nsources >= FETCH_MAX_SOURCES)
		return err_set(e, -ENOSPC, "fetch: more than %d sources", FETCH_MAX_SOURCES);
	n = strlen(url);
	if (n >= sizeof(s->url))
		return err_set(e, -EINVAL, "fetch: source URL longer than %zu bytes",
			       sizeof(s->url) - 1);
	sl = url_scheme_len(url);
	if (!sl)
		return err_set(e, -EINVAL,
			       "fetch: source URL '%.200s' must start with http:// or "
			       "https://",
			       url);
	rc = url_check_rest(url, url + sl, e);
	if (rc)
		return rc;
	s = &c->sources[c->nsources];
	memcpy(s->url, url, n + 1);
	while (n > sl && s->url[n - 1] == '/')
		s->url[--n] = '\0';
	s->kind = kind;
	c->nsources++;
	return 0;
}

static void cfg_sanitize(struct fetch_cfg *c)
{
	struct fetch_cfg d;

	fetch_cfg_defaults(&d);
#define FIX_POS(field)                                                                             \
	if (c->field <= 0)                                                                         \
	c->field = d.field
	FIX_POS(connect_timeout_ms);
	FIX_POS(stall_timeout_ms);
	FIX_POS(max_inflight);
	FIX_POS(max_per_source);
	FIX_POS(cooldown_after);
	FIX_POS(cooldown_ms);
	FIX_POS(verify_threads);
	FIX_POS(source_window);
#undef FIX_POS
	if (c->deadline_ms < 0)
		c->deadline_ms = 0; /* no deadline */
	if (c->retries < 0)
		c->retries = 0;
	if (c->retries > 100)
		c->retries = 100;
	if (c->backoff_ms < 0)
		c->backoff_ms = 0;
	if (c->backoff_max_ms < c->backoff_ms)
		c->backoff_max_ms = c->backoff_ms;
	if (c->verify_threads > 64)
		c->verify_threads = 64;
}

/* Why-line labels: host[:port] of the URL; Kubo RPC sources are "api". */
static void src_labels(struct fetcher *f)
{
	size_t i, napi = 0;

	for (i = 0; i < f->nsrc; i++)
		napi += f->src[i].cfg.kind == FETCH_SRC_API;
	for (i = 0; i < f->nsrc; i++) {
		struct fetch_src *s = &f->src[i];
		const char *h = s->cfg.url + url_scheme_len(s->cfg.url);
		int hl = (int)strcspn(h, "/");

		if (s->cfg.kind == FETCH_SRC_API && napi == 1)
			snprintf(s->label, sizeof(s->label), "api");
		else if (s->cfg.kind == FETCH_SRC_API)
			snprintf(s->label, sizeof(s->label), "api %.*s", hl, h);
		else
			snprintf(s->label, sizeof(s->label), "%.*s", hl, h);
		snprintf(s->st.url, sizeof(s->st.url), "%s", s->cfg.url);
		s->st.kind = s->cfg.kind;
	}
}

/* ---- request bookkeeping (lock held) ---- */

void fetch_queue_push(struct fetcher *f, struct fetch_req *r)
{
	int p = r->prio;

	r->next = NULL;
	if (f->qtail[p])
		f->qtail[p]->next = r;
	else
		f->qhead[p] = r;
	f->qtail[p] = r;
	if (r->deadline_us && r->deadline_us < f->next_expire_us)
		f->next_expire_us = r->deadline_us;
}

/* A request coming back from an attempt goes before newer ones of its priority. */
static void queue_push_front(struct fetcher *f, struct fetch_req *r)
{
	int p = r->prio;

	r->next = f->qhead[p];
	f->qhead[p] = r;
	if (!f->qtail[p])
		f->qtail[p] = r;
	f->kick = 1;
	if (r->deadline_us && r->deadline_us < f->next_expire_us)
		f->next_expire_us = r->deadline_us;
}

void fetch_verify_push(struct fetcher *f, struct fetch_req *r)
{
	r->next = NULL;
	if (f->vtail)
		f->vtail->next = r;
	else
		f->vhead = r;
	f->vtail = r;
	pthread_cond_signal(&f->vcond);
}

static int src_cooling(const struct fetch_src *s, uint64_t now)
{
	return now < s->cool_until_us;
}

int fetch_src_slots(const struct fetcher *f, const struct fetch_src *s)
{
	uint64_t avg = s->block_avg ? s->block_avg : FETCH_BLOCK_GUESS;
	uint64_t n = f->cfg.source_window / avg;
	int max = f->cfg.max_per_source, min = max < FETCH_SLOTS_MIN ? max : FETCH_SLOTS_MIN;

	return n >= (uint64_t)max ? max : n <= (uint64_t)min ? min : (int)n;
}

int fetch_req_pick(struct fetcher *f, const struct fetch_req *r, uint64_t now)
{
	size_t i;
	int first = -1;

	for (i = 0; i < f->nsrc; i++) {
		if (r->state[i] != FETCH_SRC_OPEN)
			continue;
		if (!src_cooling(&f->src[i], now))
			return (int)i;
		if (first < 0)
			first = (int)i;
	}
	return first;
}

void fetch_req_why(struct fetch_req *r, const char *label, const char *text)
{
	size_t cap = sizeof(r->why) - r->why_len;
	int n;

	if (cap <= 1)
		return;
	n = snprintf(r->why + r->why_len, cap, "%s%s%s%s", r->why_len ? "; " : "",
		     label ? label : "", label ? ": " : "", text);
	r->why_len = n < 0 ? r->why_len : (size_t)n >= cap ? sizeof(r->why) - 1 : r->why_len + n;
}

/* Move the current source's pending answer into the why-line. */
static void req_flush_answer(struct fetcher *f, struct fetch_req *r)
{
	char text[FETCH_ANSWER_MAX + 32];
	int s = r->src;

	if (s < 0 || !r->answer[0])
		return;
	if (r->attempts[s] > 1)
		snprintf(text, sizeof(text), "%s (%d attempts)", r->answer, r->attempts[s]);
	else
		snprintf(text, sizeof(text), "%s", r->answer);
	fetch_req_why(r, f->src[s].label, text);
	r->answer[0] = '\0';
}

void fetch_req_begin(struct fetcher *f, struct fetch_req *r, int s)
{
	struct fetch_src *src = &f->src[s];

	if (r->src >= 0 && r->src != s)
		req_flush_answer(f, r); /* leaving a source that may still answer later */
	r->src = s;
	f->inflight++;
	src->st.in_flight++;
	src->st.requests++;
	src->st.retries += r->attempts[s] > 0;
	if (r->attempts[s] < UINT8_MAX)
		r->attempts[s]++;
}

static void req_finish(struct fetcher *f, struct fetch_req *r, int status, const char *note)
{
	req_flush_answer(f, r);
	if (note)
		fetch_req_why(r, NULL, note);
	r->status = status;
	r->next = NULL;
}

/* Backoff before attempt n+1 on one source: backoff_ms * 2^(n-1), capped,
 * jitter ±50%. */
static uint64_t backoff_us(struct fetcher *f, int attempts)
{
	uint64_t b = (uint64_t)f->cfg.backoff_ms;
	int i;

	for (i = 1; i < attempts && b < (uint64_t)f->cfg.backoff_max_ms; i++)
		b *= 2;
	if (b > (uint64_t)f->cfg.backoff_max_ms)
		b = (uint64_t)f->cfg.backoff_max_ms;
	f->rng ^= f->rng << 13;
	f->rng ^= f->rng >> 7;
	f->rng ^= f->rng << 17;
	return (b * 1000) / 2 + f->rng % (b * 1000 + 1);
}

static void src_failed(struct fetcher *f, int s, uint64_t now)
{
	struct fetch_src *src = &f->src[s];
	uint64_t until;

	if (++src->consec_fail < f->cfg.cooldown_after)
		return;
	src->consec_fail = 0;
	until = now + (uint64_t)f->cfg.cooldown_ms * 1000;
	if (until > src->cool_until_us) {
		src->cool_until_us = until;
		log_info("fetch: source %s cooling down for %d ms after %d failures", src->cfg.url,
			 f->cfg.cooldown_ms, f->cfg.cooldown_after);
	}
}

/* Updates source stats and the request's per-source state for one answer. */
static void answer_account(struct fetcher *f, struct fetch_req *r, int s, int out, int retry_ms,
			   uint64_t now)
{
	struct fetch_src *src = &f->src[s];
	uint64_t until;

	switch (out) {
	case FETCH_OUT_NOTFOUND:
		src->st.not_found++;
		src->consec_fail = 0;
		r->state[s] = FETCH_SRC_NOTFOUND;
		return;
	case FETCH_OUT_MISMATCH:
		src->st.verify_failures++;
		src_failed(f, s, now);
		r->state[s] = FETCH_SRC_FAILED;
		return;
	case FETCH_OUT_FATAL:
		src->st.errors++;
		src_failed(f, s, now);
		r->state[s] = FETCH_SRC_FAILED;
		return;
	case FETCH_OUT_COOL:
		until = now + (uint64_t)retry_ms * 1000;
		if (until > src->cool_until_us)
			src->cool_until_us = until;
		if (until > src->retry_until_us)
			src->retry_until_us = until;
		/* fall through */
	default:
		src->st.errors++;
		src_failed(f, s, now);
		if (r->attempts[s] > f->cfg.retries)
			r->state[s] = FETCH_SRC_FAILED;
	}
}

static int req_all_notfound(const struct fetcher *f, const struct fetch_req *r)
{
	size_t i;

	for (i = 0; i < f->nsrc; i++)
		if (r->state[i] != FETCH_SRC_NOTFOUND)
			return 0;
	return 1;
}

int fetch_req_answer(struct fetcher *f, struct fetch_req *r, int s, int out, const char *msg,
		     int retry_ms, uint64_t now)
{
	char note[64];
	int n;

	f->inflight--;
	f->src[s].st.in_flight--;
	f->kick = 1;
	if (out == FETCH_OUT_DEADLINE && r->answer[0]) {
		char prev[FETCH_ANSWER_MAX];

		memcpy(prev, r->answer, sizeof(prev));
		snprintf(r->answer, sizeof(r->answer), "%.80s, then %.60s", prev, msg);
	} else {
		snprintf(r->answer, sizeof(r->answer), "%s", msg);
	}
	if (out == FETCH_OUT_CANCEL || f->stop) {
		req_finish(f, r, -ECANCELED, "cancelled");
		return 1;
	}
	if (out != FETCH_OUT_DEADLINE)
		answer_account(f, r, s, out, retry_ms, now);
	if (r->state[s] != FETCH_SRC_OPEN)
		req_flush_answer(f, r);
	if (out == FETCH_OUT_DEADLINE || (r->deadline_us && now >= r->deadline_us)) {
		snprintf(note, sizeof(note), "deadline of %d ms passed", f->cfg.deadline_ms);
		req_finish(f, r, -ETIMEDOUT, note);
		return 1;
	}
	n = fetch_req_pick(f, r, now);
	if (n < 0) {
		req_finish(f, r, req_all_notfound(f, r) ? -ENOENT : -EIO, NULL);
		return 1;
	}
	if (n != s || r->state[s] != FETCH_SRC_OPEN) {
		queue_push_front(f, r);
		return 0;
	}
	fetch_timer_push(f, r,
			 now + (out == FETCH_OUT_COOL ? (uint64_t)retry_ms * 1000
						      : backoff_us(f, r->attempts[s])));
	return 0;
}

void fetch_timer_push(struct fetcher *f, struct fetch_req *r, uint64_t until)
{
	r->not_before_us = until;
	r->next = f->timers;
	f->timers = r;
	if (r->deadline_us && r->deadline_us < f->next_expire_us)
		f->next_expire_us = r->deadline_us;
}

void fetch_req_expire(struct fetcher *f, struct fetch_req *r)
{
	char note[64];

	snprintf(note, sizeof(note), "deadline of %d ms passed", f->cfg.deadline_ms);
	req_finish(f, r, -ETIMEDOUT, note);
}

void fetch_req_cancel(struct fetcher *f, struct fetch_req *r)
{
	req_finish(f, r, -ECANCELED, "cancelled");
}

uint64_t fetch_timers_run(struct fetcher *f, uint64_t now)
{
	struct fetch_req **pp = &f->timers, *r;
	uint64_t next = UINT64_MAX;

	while ((r = *pp)) {
		if (r->not_before_us <= now) {
			*pp = r->next;
			queue_push_front(f, r);
			continue;
		}
		if (r->not_before_us < next)
			next = r->not_before_us;
		pp = &r->next;
	}
	return next;
}

/* Moves the expired requests of one list onto *out; tail may be NULL. */
static void list_expire(struct fetcher *f, struct fetch_req **head, struct fetch_req **tail,
			uint64_t now, uint64_t *next, struct fetch_req **out)
{
	struct fetch_req **pp = head, *r, *prev = NULL;

	while ((r = *pp)) {
		if (!r->deadline_us || r->deadline_us > now) {
			if (r->deadline_us && r->deadline_us < *next)
				*next = r->deadline_us;
			prev = r;
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		if (tail && *tail == r)
			*tail = prev;
		fetch_req_expire(f, r);
		r->next = *out;
		*out = r;
	}
}

struct fetch_req *fetch_expire_run(struct fetcher *f, uint64_t now)
{
	struct fetch_req *out = NULL;
	uint64_t next = UINT64_MAX;
	int p;

	if (now < f->next_expire_us)
		return NULL;
	for (p = 0; p < FETCH_NPRIO; p++)
		list_expire(f, &f->qhead[p], &f->qtail[p], now, &next, &out);
	list_expire(f, &f->timers, NULL, now, &next, &out);
	f->next_expire_us = next;
	return out;
}

void fetch_req_complete(struct fetcher *f, struct fetch_req *r)
{
	pthread_mutex_lock(&f->lock);
	f->pending--;
	pthread_mutex_unlock(&f->lock);
	if (r->status == 0) {
		r->done(r->ctx, 0, &r->cid, r->body, r->body_len, NULL);
		r->body = NULL;
	} else {
		if (!r->why_len)
			fetch_req_why(r, NULL, "no source answered");
		r->done(r->ctx, r->status, &r->cid, NULL, 0, r->why);
	}
	free(r->body);
	free(r);
}

/* ---- verify threads ---- */

static void verify_one(struct fetcher *f, struct fetch_req *r)
{
	struct fetch_src *src = &f->src[r->src];
	struct errbuf e;
	uint64_t now;
	int rc, fin;

	e.msg[0] = '\0';
	rc = mh_verify(&r->cid, r->body, r->body_len, &e);
	if (rc) {
		log_warn("fetch: %s from %s: hash mismatch, dropped (%s)", r->cidtext, src->cfg.url,
			 e.msg);
		free(r->body);
		r->body = NULL;
	}
	now = fetch_now_us();
	pthread_mutex_lock(&f->lock);
	if (rc == 0) {
		f->inflight--;
		src->st.in_flight--;
		src->st.ok++;
		src->st.bytes += r->body_len;
		src->st.latency_us_sum += r->latency_us;
		src->block_avg =
		    src->block_avg ? (src->block_avg * 7 + r->body_len) / 8 : r->body_len;
		if (r->latency_us > src->st.latency_us_max)
			src->st.latency_us_max = r->latency_us;
		src->consec_fail = 0;
		src->cool_until_us = 0;
		r->status = 0;
		fin = 1;
	} else {
		fin = fetch_req_answer(
		    f, r, r->src, FETCH_OUT_MISMATCH,
		    rc == -EFBIG ? "block over the 2 MiB limit" : "hash mismatch", 0, now);
	}
	pthread_mutex_unlock(&f->lock);
	fetch_net_wake(f);
	if (fin)
		fetch_req_complete(f, r);
}

/* Fails every body still waiting for verification (shutdown). */
static void verify_cancel_all(struct fetcher *f)
{
	struct fetch_req *r;

	for (;;) {
		pthread_mutex_lock(&f->lock);
		r = f->vhead;
		if (r) {
			f->vhead = r->next;
			if (!f->vhead)
				f->vtail = NULL;
			f->inflight--;
			f->src[r->src].st.in_flight--;
			free(r->body);
			r->body = NULL;
			fetch_req_cancel(f, r);
		}
		pthread_mutex_unlock(&f->lock);
		if (!r)
			return;
		fetch_req_complete(f, r);
	}
}

static void *verify_main(void *arg)
{
	struct fetcher *f = arg;
	struct fetch_req *r;

	for (;;) {
		pthread_mutex_lock(&f->lock);
		while (!f->vhead && !f->vstop)
			pthread_cond_wait(&f->vcond, &f->lock);
		if (f->vstop) {
			pthread_mutex_unlock(&f->lock);
			verify_cancel_all(f);
			return NULL;
		}
		r = f->vhead;
		f->vhead = r->next;
		if (!f->vhead)
			f->vtail = NULL;
		pthread_mutex_unlock(&f->lock);
		verify_one(f, r);
	}
}

/* ---- lifecycle ---- */

static pthread_once_t fetch_curl_once = PTHREAD_ONCE_INIT;
static CURLcode fetch_curl_rc;

static void fetch_curl_init(void)
{
	fetch_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int fetcher_start(struct fetcher *f, struct errbuf *e)
{
	int i, rc;

	f->verifiers = calloc((size_t)f->cfg.verify_threads, sizeof(*f->verifiers));
	if (!f->verifiers)
		return err_set(e, -ENOMEM, "fetch: out of memory");
	for (i = 0; i < f->cfg.verify_threads; i++) {
		rc = pthread_create(&f->verifiers[i], NULL, verify_main, f);
		if (rc)
			return err_set(e, -rc, "fetch: cannot start verify thread: %s",
				       strerror(rc));
		f->nverifiers++;
	}
	rc = pthread_create(&f->net, NULL, fetch_net_main, f);
	if (rc)
		return err_set(e, -rc, "fetch: cannot start network thread: %s", strerror(rc));
	f->net_started = 1;
	return 0;
}

int fetcher_new(const struct fetch_cfg *cfg, struct fetcher **out, struct errbuf *e)
{
	struct fetcher *f;
	size_t i;
	int rc;

	*out = NULL;
	pthread_once(&fetch_curl_once, fetch_curl_init);
	if (fetch_curl_rc != CURLE_OK)
		return err_set(e, -EIO, "fetch: curl_global_init: %s",
			       curl_easy_strerror(fetch_curl_rc));
	if (cfg->nsources == 0 || cfg->nsources > FETCH_MAX_SOURCES)
		return err_set(e, -EINVAL, "fetch: %zu sources configured (need 1 to %d)",
			       cfg->nsources, FETCH_MAX_SOURCES);
	f = calloc(1, sizeof(*f));
	if (!f)
		return err_set(e, -ENOMEM, "fetch: out of memory");
	f->cfg = *cfg;
	cfg_sanitize(&f->cfg);
	f->nsrc = cfg->nsources;
	for (i = 0; i < f->nsrc; i++)
		f->src[i].cfg = cfg->sources[i];
	src_labels(f);
	f->next_expire_us = UINT64_MAX;
	f->rng = fetch_now_us() ^ (uint64_t)(uintptr_t)f ^ 0x9e3779b97f4a7c15ull;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->vcond, NULL);
	rc = fetch_net_init(f, e);
	if (!rc)
		rc = fetcher_start(f, e);
	if (rc) {
		fetcher_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

/* Fails whatever is still queued or waiting for a timer. */
void fetch_cancel_queued(struct fetcher *f)
{
	struct fetch_req *r;
	int p;

	for (;;) {
		pthread_mutex_lock(&f->lock);
		r = NULL;
		for (p = 0; p < FETCH_NPRIO && !r; p++) {
			r = f->qhead[p];
			if (r && !(f->qhead[p] = r->next))
				f->qtail[p] = NULL;
		}
		if (!r && (r = f->timers))
			f->timers = r->next;
		if (r)
			fetch_req_cancel(f, r);
		pthread_mutex_unlock(&f->lock);
		if (!r)
			return;
		fetch_req_complete(f, r);
	}
}

void fetcher_free(struct fetcher *f)
{
	int i;

	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = 1;
	pthread_mutex_unlock(&f->lock);
	if (f->net_started) {
		fetch_net_wake(f);
		pthread_join(f->net, NULL);
	}
	pthread_mutex_lock(&f->lock);
	f->vstop = 1;
	pthread_cond_broadcast(&f->vcond);
	pthread_mutex_unlock(&f->lock);
	for (i = 0; i < f->nverifiers; i++)
		pthread_join(f->verifiers[i], NULL);
	verify_cancel_all(f);
	fetch_cancel_queued(f);
	fetch_net_cleanup(f);
	free(f->verifiers);
	pthread_cond_destroy(&f->vcond);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

int fetcher_submit(struct fetcher *f, const struct cid *cid, int prio, fetch_done_fn done,
		   void *ctx)
{
	struct fetch_req *r;

	if (!done || prio < FETCH_PRIO_DEMAND || prio > FETCH_PRIO_PREFETCH)
		return -EINVAL;
	if (cid->mh_code == MH_IDENTITY)
		return -EINVAL;
	if (!mh_supported(cid, NULL))
		return -ENOTSUP;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->cid = *cid;
	cid_format(cid, r->cidtext, sizeof(r->cidtext));
	r->prio = prio;
	r->done = done;
	r->ctx = ctx;
	r->src = -1;
	r->submit_us = fetch_now_us();
	if (f->cfg.deadline_ms > 0)
		r->deadline_us = r->submit_us + (uint64_t)f->cfg.deadline_ms * 1000;
	pthread_mutex_lock(&f->lock);
	if (f->stop) {
		pthread_mutex_unlock(&f->lock);
		free(r);
		return -ECANCELED;
	}
	f->pending++;
	fetch_queue_push(f, r);
	pthread_mutex_unlock(&f->lock);
	fetch_net_wake(f);
	return 0;
}

size_t fetcher_stats(struct fetcher *f, struct fetch_source_stats *out, size_t max)
{
	uint64_t now = fetch_now_us();
	size_t i;

	pthread_mutex_lock(&f->lock);
	for (i = 0; i < f->nsrc && i < max; i++) {
		out[i] = f->src[i].st;
		out[i].cooling = src_cooling(&f->src[i], now);
		out[i].slots = fetch_src_slots(f, &f->src[i]);
	}
	pthread_mutex_unlock(&f->lock);
	return f->nsrc;
}

int fetcher_pending(struct fetcher *f)
{
	int n;

	pthread_mutex_lock(&f->lock);
	n = f->pending;
	pthread_mutex_unlock(&f->lock);
	return n;
}
