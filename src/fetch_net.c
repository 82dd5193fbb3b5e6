/* fetch_net: the network thread of the fetcher. One curl multi handle, a pool
 * of reusable easy handles, per-attempt stall/deadline checks with millisecond
 * precision, and the mapping of HTTP answers onto fetch outcomes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fetch_int.h"
#include "log.h"
#include "multihash.h"
#include "version.h"

#define NET_BUFFER_SIZE (256L * 1024)
#define NET_ERRBODY_MAX 4096 /* bytes kept from a non-200 body */
#define NET_POLL_MAX_MS 1000

/* One attempt: owned by the network thread. */
struct fetch_xfer {
	struct fetch_xfer *next; /* in fetcher.active or fetcher.pool */
	struct fetcher *f;
	CURL *easy;
	struct fetch_req *req;
	int src;
	struct dynbuf body;
	uint64_t start_us, last_us;
	long status;	  /* of the latest status line */
	long long clen;	  /* Content-Length, -1 if none */
	long retry_after; /* seconds, -1 if none */
	int too_big, stream_error;
	char ctype[96];
	char url[FETCH_URL_MAX];
	char cerr[CURL_ERROR_SIZE];
};

void fetch_net_wake(struct fetcher *f)
{
	if (f->multi)
		curl_multi_wakeup(f->multi);
}

int fetch_net_init(struct fetcher *f, struct errbuf *e)
{
	long maxconn = (long)f->cfg.max_inflight * 2;

	f->multi = curl_multi_init();
	if (!f->multi)
		return err_set(e, -ENOMEM, "fetch: curl_multi_init failed");
	if (maxconn < (long)f->nsrc * 2)
		maxconn = (long)f->nsrc * 2;
	curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS, maxconn);
	curl_multi_setopt(f->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
	f->gw_headers = curl_slist_append(NULL, "Accept: application/vnd.ipld.raw");
	f->api_headers = curl_slist_append(NULL, "Expect:");
	if (!f->gw_headers || !f->api_headers)
		return err_set(e, -ENOMEM, "fetch: out of memory");
	return 0;
}

static void xfer_destroy(struct fetch_xfer *x)
{
	if (x->easy)
		curl_easy_cleanup(x->easy);
	dynbuf_free(&x->body);
	free(x);
}

void fetch_net_cleanup(struct fetcher *f)
{
	struct fetch_xfer *x;

	while ((x = f->active)) {
		f->active = x->next;
		curl_multi_remove_handle(f->multi, x->easy);
		xfer_destroy(x);
	}
	while ((x = f->pool)) {
		f->pool = x->next;
		xfer_destroy(x);
	}
	if (f->multi)
		curl_multi_cleanup(f->multi);
	f->multi = NULL;
	curl_slist_free_all(f->gw_headers);
	curl_slist_free_all(f->api_headers);
}

/* ---- curl callbacks ---- */

/* If the header line `buf` is "name: value", copy the trimmed value to out. */
static int header_value(const char *buf, size_t len, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name), n;

	if (len <= nl || strncasecmp(buf, name, nl) || buf[nl] != ':')
		return 0;
	buf += nl + 1;
	len -= nl + 1;
	while (len && (*buf == ' ' || *buf == '\t'))
		buf++, len--;
	while (len && (buf[len - 1] == '\r' || buf[len - 1] == '\n' || buf[len - 1] == ' '))
		len--;
	n = len < cap - 1 ? len : cap - 1;
	memcpy(out, buf, n);
	out[n] = '\0';
	return 1;
}

static long long parse_num(const char *s)
{
	long long v = 0;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++)
		if ((v = v * 10 + (*s - '0')) > (1ll << 40))
			return 1ll << 40;
	return *s ? -1 : v;
}

static size_t net_header(char *buf, size_t size, size_t n, void *arg)
{
	struct fetch_xfer *x = arg;
	size_t len = size * n;
	char v[128];

	x->last_us = fetch_now_us();
	if (len > 9 && !memcmp(buf, "HTTP/", 5)) {
		const char *sp = memchr(buf, ' ', len);

		x->status = sp && sp + 4 <= buf + len ? strtol(sp + 1, NULL, 10) : 0;
		x->clen = -1;
		x->retry_after = -1;
		x->ctype[0] = '\0';
		return len;
	}
	if (header_value(buf, len, "content-length", v, sizeof(v))) {
		x->clen = parse_num(v);
		if (x->status / 100 == 2 && x->clen > (long long)BLOCK_MAX) {
			x->too_big = 1;
			return 0; /* abort before the body */
		}
		if (x->status == 200 && x->clen > 0)
			dynbuf_reserve(&x->body, (size_t)x->clen);
		return len;
	}
	if (header_value(buf, len, "content-type", x->ctype, sizeof(x->ctype)))
		return len;
	if (header_value(buf, len, "retry-after", v, sizeof(v))) {
		long long ra = parse_num(v);

		x->retry_after = ra < 0 ? -1 : ra > 3600 ? 3600 : (long)ra;
	} else if (header_value(buf, len, "x-stream-error", v, sizeof(v)) && v[0]) {
		x->stream_error = 1;
	}
	return len;
}

static size_t net_write(char *buf, size_t size, size_t n, void *arg)
{
	struct fetch_xfer *x = arg;
	size_t len = size * n;
	int rc;

	x->last_us = fetch_now_us();
	if (x->status != 200) {
		if (x->body.len < NET_ERRBODY_MAX)
			dynbuf_append(&x->body, buf,
				      len < NET_ERRBODY_MAX - x->body.len
					  ? len
					  : NET_ERRBODY_MAX - x->body.len);
		return len;
	}
	rc = dynbuf_append(&x->body, buf, len);
	if (rc) {
		x->too_big = rc == -EFBIG;
		return 0;
	}
	return len;
}

/* ---- starting an attempt ---- */

static struct fetch_xfer *xfer_get(struct fetcher *f)
{
	struct fetch_xfer *x = f->pool;

	if (x) {
		f->pool = x->next;
		curl_easy_reset(x->easy);
	} else {
		x = calloc(1, sizeof(*x));
		if (!x)
			return NULL;
		x->easy = curl_easy_init();
		if (!x->easy) {
			free(x);
			return NULL;
		}
	}
	x->f = f;
	x->next = NULL;
	dynbuf_init(&x->body, BLOCK_MAX);
	x->status = 0;
	x->clen = -1;
	x->retry_after = -1;
	x->too_big = x->stream_error = 0;
	x->ctype[0] = x->cerr[0] = '\0';
	return x;
}

static void xfer_put(struct fetcher *f, struct fetch_xfer *x)
{
	dynbuf_free(&x->body);
	x->req = NULL;
	x->next = f->pool;
	f->pool = x;
}

static void xfer_setopt(struct fetcher *f, struct fetch_xfer *x, const struct fetch_source_cfg *s)
{
	CURL *h = x->easy;

	curl_easy_setopt(h, CURLOPT_URL, x->url);
	curl_easy_setopt(h, CURLOPT_PRIVATE, x);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->cerr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, net_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, net_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)f->cfg.connect_timeout_ms);
	/* Backstop for the stall check in net_check_active(). */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
			 (long)(f->cfg.stall_timeout_ms + 999) / 1000 + 1);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, NET_BUFFER_SIZE);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (f->cfg.ca_path[0])
		curl_easy_setopt(h, CURLOPT_CAINFO, f->cfg.ca_path);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "mpackfs/" MPACK_VERSION);
	if (s->kind == FETCH_SRC_API) {
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, f->api_headers);
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, f->gw_headers);
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
}

/* Starts the attempt chosen by net_dispatch (slot already taken). Returns 1 if
 * r finished (could not start) and must be completed by the caller. */
static int net_start(struct fetcher *f, struct fetch_req *r, uint64_t now)
{
	const struct fetch_source_cfg *s = &f->src[r->src].cfg;
	struct fetch_xfer *x = xfer_get(f);
	int fin;

	if (x) {
		if (s->kind == FETCH_SRC_API)
			snprintf(x->url, sizeof(x->url), "%s/api/v0/block/get?arg=%s", s->url,
				 r->cidtext);
		else
			snprintf(x->url, sizeof(x->url), "%s/ipfs/%s?format=raw", s->url,
				 r->cidtext);
		x->req = r;
		x->src = r->src;
		x->start_us = x->last_us = now;
		xfer_setopt(f, x, s);
		if (curl_multi_add_handle(f->multi, x->easy) == CURLM_OK) {
			x->next = f->active;
			f->active = x;
			return 0;
		}
		xfer_put(f, x);
	}
	pthread_mutex_lock(&f->lock);
	fin = fetch_req_answer(f, r, r->src, FETCH_OUT_FATAL, "cannot start transfer", 0, now);
	pthread_mutex_unlock(&f->lock);
	return fin;
}

/* Lock held: take queued requests into free slots, DEMAND first. Returns them
 * linked through ->next, each with r->src set and its slot counted. */
static struct fetch_req *net_dispatch(struct fetcher *f, uint64_t now)
{
	struct fetch_req *start = NULL, **tail = &start, **pp, *r, *prev;
	int p, s, open = 0;
	size_t i;

	for (i = 0; i < f->nsrc; i++)
		open += f->src[i].st.in_flight < fetch_src_slots(f, &f->src[i]);
	for (p = 0; p < FETCH_NPRIO; p++) {
		pp = &f->qhead[p];
		prev = NULL;
		while ((r = *pp) && open > 0 && f->inflight < f->cfg.max_inflight) {
			s = fetch_req_pick(f, r, now);
			if (s < 0 || f->src[s].st.in_flight >= fetch_src_slots(f, &f->src[s])) {
				prev = r;
				pp = &r->next;
				continue;
			}
			*pp = r->next;
			if (f->qtail[p] == r)
				f->qtail[p] = prev;
			if (f->src[s].retry_until_us > now) { /* only a 429'd source is left */
				fetch_timer_push(f, r, f->src[s].retry_until_us);
				continue;
			}
			r->next = NULL;
			*tail = r;
			tail = &r->next;
			fetch_req_begin(f, r, s);
			if (f->src[s].st.in_flight == fetch_src_slots(f, &f->src[s]))
				open--;
		}
	}
	return start;
}

/* ---- finishing an attempt ---- */

/* Copies the "Message" string of Kubo's error JSON into out. 0 if found. */
static int kubo_message(const uint8_t *body, size_t len, char *out, size_t cap)
{
	static const char key[] = "\"Message\"";
	const uint8_t *p = memmem(body, len, key, sizeof(key) - 1), *end = body + len;
	size_t n = 0;

	if (!p || cap == 0)
		return -1;
	for (p += sizeof(key) - 1; p < end && (*p == ' ' || *p == ':' || *p == '\t'); p++)
		;
	if (p >= end || *p++ != '"')
		return -1;
	for (; p < end && *p != '"' && n + 1 < cap; p++) {
		uint8_t ch = *p;

		if (ch == '\\' && p + 1 < end) {
			ch = *++p;
			if (ch == 'u') {
				p += p + 4 < end ? 4 : 0;
				ch = '?';
			} else if (ch == 'n' || ch == 't' || ch == 'r') {
				ch = ' ';
			}
		}
		out[n++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
	}
	out[n] = '\0';
	return 0;
}

static int ctype_ok(const char *ct)
{
	size_t n = strcspn(ct, "; \t");

	if (!ct[0])
		return 1;
	return (n == 24 && !strncasecmp(ct, "application/vnd.ipld.raw", n)) ||
	       (n == 24 && !strncasecmp(ct, "application/octet-stream", n));
}

static int classify_curl(struct fetch_xfer *x, CURLcode rc, char *msg, size_t cap)
{
	int stall_ms = x->f->cfg.stall_timeout_ms;
	long oserr = 0;

	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		if (curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &oserr) != CURLE_OK)
			oserr = 0;
		if (oserr == ECONNREFUSED)
			snprintf(msg, cap, "connection refused");
		else
			snprintf(msg, cap, "cannot connect: %.100s",
				 oserr ? strerror((int)oserr) : x->cerr);
		return FETCH_OUT_RETRY;
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(msg, cap, "cannot resolve host");
		return FETCH_OUT_RETRY;
	case CURLE_OPERATION_TIMEDOUT:
		if (x->status == 0)
			snprintf(msg, cap, "connect timeout after %d ms",
				 x->f->cfg.connect_timeout_ms);
		else
			snprintf(msg, cap, "timeout after %d ms", stall_ms);
		return FETCH_OUT_RETRY;
	case CURLE_PARTIAL_FILE:
		snprintf(msg, cap, "truncated (%zu of %lld bytes)", x->body.len, x->clen);
		return FETCH_OUT_RETRY;
	case CURLE_GOT_NOTHING:
		snprintf(msg, cap, "connection closed without a response");
		return FETCH_OUT_RETRY;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		snprintf(msg, cap, "connection reset");
		return FETCH_OUT_RETRY;
	case CURLE_TOO_MANY_REDIRECTS:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
		snprintf(msg, cap, "%.120s", x->cerr[0] ? x->cerr : curl_easy_strerror(rc));
		return FETCH_OUT_FATAL;
	default:
		snprintf(msg, cap, "%.120s", x->cerr[0] ? x->cerr : curl_easy_strerror(rc));
		return FETCH_OUT_RETRY;
	}
}

/* Maps a finished attempt to an outcome; -1 means "verify the body". */
static int classify(struct fetch_xfer *x, CURLcode rc, char *msg, size_t cap, int *retry_ms)
{
	int api = x->f->src[x->src].cfg.kind == FETCH_SRC_API;
	char km[FETCH_ANSWER_MAX - 16];
	long st = x->status;

	if (x->too_big) {
		snprintf(msg, cap, "body over the %u MiB block limit", BLOCK_MAX >> 20);
		return FETCH_OUT_FATAL;
	}
	if (rc != CURLE_OK)
		return classify_curl(x, rc, msg, cap);
	if (st == 200 && x->stream_error) {
		snprintf(msg, cap, "stream error after the body began");
		return FETCH_OUT_RETRY;
	}
	if (st == 200 && !api && !ctype_ok(x->ctype)) {
		snprintf(msg, cap, "wrong content type '%.60s'", x->ctype);
		return FETCH_OUT_FATAL;
	}
	if (st == 200)
		return -1;
	if (!api && (st == 404 || st == 410 || st == 451)) {
		snprintf(msg, cap, "%ld %s", st,
			 st == 404   ? "not found"
			 : st == 410 ? "gone"
				     : "unavailable for legal reasons");
		return FETCH_OUT_NOTFOUND;
	}
	if (st == 429) {
		*retry_ms =
		    x->retry_after < 0 ? FETCH_RETRY_AFTER_DEFAULT_MS : (int)x->retry_after * 1000;
		if (*retry_ms > FETCH_RETRY_AFTER_MAX_MS)
			*retry_ms = FETCH_RETRY_AFTER_MAX_MS;
		snprintf(msg, cap, "429 too many requests (retry after %d ms)", *retry_ms);
		return FETCH_OUT_COOL;
	}
	if (api && st >= 400 &&
	    !kubo_message(x->body.data ? x->body.data : (const uint8_t *)"", x->body.len, km,
			  sizeof(km))) {
		snprintf(msg, cap, "%ld %.120s", st, km);
		if (strcasestr(km, "not found"))
			return FETCH_OUT_NOTFOUND;
		return st >= 500 ? FETCH_OUT_RETRY : FETCH_OUT_FATAL;
	}
	snprintf(msg, cap, "HTTP %ld", st);
	return st >= 500 ? FETCH_OUT_RETRY : FETCH_OUT_FATAL;
}

static void active_unlink(struct fetcher *f, struct fetch_xfer *x)
{
	struct fetch_xfer **pp;

	for (pp = &f->active; *pp; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			return;
		}
}

/* Ends attempt x with outcome `out` (or hands the body to verification when
 * out < 0); the xfer goes back to the pool. */
static void net_end(struct fetcher *f, struct fetch_xfer *x, int out, const char *msg, int retry_ms)
{
	struct fetch_req *r = x->req;
	uint64_t now = fetch_now_us();
	int fin = 0;

	curl_multi_remove_handle(f->multi, x->easy);
	active_unlink(f, x);
	if (out < 0) {
		r->body = dynbuf_take(&x->body, &r->body_len);
		r->latency_us = now - x->start_us;
		if (!r->body)
			r->body = malloc(1); /* empty block: still verified */
	}
	if (out != FETCH_OUT_CANCEL && out != FETCH_OUT_DEADLINE && out >= 0)
		log_debug("fetch: %s from %s: %s", r->cidtext, f->src[x->src].cfg.url, msg);
	pthread_mutex_lock(&f->lock);
	if (out < 0 && r->body)
		fetch_verify_push(f, r);
	else
		fin = fetch_req_answer(f, r, x->src, out < 0 ? FETCH_OUT_FATAL : out,
				       out < 0 ? "out of memory" : msg, retry_ms, now);
	pthread_mutex_unlock(&f->lock);
	xfer_put(f, x);
	if (fin)
		fetch_req_complete(f, r);
}

static void net_read_msgs(struct fetcher *f)
{
	struct fetch_xfer *x;
	char msg[FETCH_ANSWER_MAX];
	CURLMsg *m;
	CURLcode rc;
	int left, out, retry_ms;

	while ((m = curl_multi_info_read(f->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		rc = m->data.result;
		x = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		if (!x)
			continue;
		retry_ms = 0;
		out = classify(x, rc, msg, sizeof(msg), &retry_ms);
		net_end(f, x, out, msg, retry_ms);
	}
}

/* Aborts attempts that stalled or whose request deadline passed. */
static void net_check_active(struct fetcher *f, uint64_t now)
{
	uint64_t stall = (uint64_t)f->cfg.stall_timeout_ms * 1000;
	struct fetch_xfer *x, *next;
	char msg[64];

	for (x = f->active; x; x = next) {
		next = x->next;
		if (x->req->deadline_us && now >= x->req->deadline_us) {
			net_end(f, x, FETCH_OUT_DEADLINE, "no answer before the deadline", 0);
		} else if (now - x->last_us >= stall) {
			snprintf(msg, sizeof(msg), "timeout after %d ms", f->cfg.stall_timeout_ms);
			net_end(f, x, FETCH_OUT_RETRY, msg, 0);
		}
	}
}

static int net_timeout_ms(struct fetcher *f, uint64_t now, uint64_t next)
{
	uint64_t stall = (uint64_t)f->cfg.stall_timeout_ms * 1000, d;
	struct fetch_xfer *x;
	long t = NET_POLL_MAX_MS;

	if (curl_multi_timeout(f->multi, &t) != CURLM_OK || t < 0 || t > NET_POLL_MAX_MS)
		t = NET_POLL_MAX_MS;
	for (x = f->active; x; x = x->next) {
		if (x->last_us + stall < next)
			next = x->last_us + stall;
		if (x->req->deadline_us && x->req->deadline_us < next)
			next = x->req->deadline_us;
	}
	if (next != UINT64_MAX) {
		d = next > now ? (next - now + 999) / 1000 : 0;
		if ((long)d < t)
			t = (long)d;
	}
	return (int)t;
}

static void complete_list(struct fetcher *f, struct fetch_req *r)
{
	struct fetch_req *next;

	for (; r; r = next) {
		next = r->next;
		fetch_req_complete(f, r);
	}
}

/* Lock held: one round of queue housekeeping. Returns requests to start and,
 * via *done, expired ones. */
static struct fetch_req *net_round(struct fetcher *f, uint64_t now, struct fetch_req **done)
{
	struct fetch_req *start;

	*done = fetch_expire_run(f, now);
	fetch_timers_run(f, now);
	start = net_dispatch(f, now);
	f->kick = 0;
	return start;
}

/* How long the network thread may sleep: 0 if work arrived since the round. */
static int net_sleep_ms(struct fetcher *f, uint64_t now)
{
	uint64_t next, t;
	int kick;

	pthread_mutex_lock(&f->lock);
	kick = f->kick;
	t = fetch_timers_run(f, now);
	next = f->next_expire_us < t ? f->next_expire_us : t;
	kick |= f->kick;
	pthread_mutex_unlock(&f->lock);
	return kick ? 0 : net_timeout_ms(f, now, next);
}

static void net_shutdown(struct fetcher *f)
{
	while (f->active)
		net_end(f, f->active, FETCH_OUT_CANCEL, "cancelled", 0);
	fetch_cancel_queued(f);
}

void *fetch_net_main(void *arg)
{
	struct fetcher *f = arg;
	struct fetch_req *start, *done, *r, *rn;
	uint64_t now;
	int running;

	for (;;) {
		now = fetch_now_us();
		pthread_mutex_lock(&f->lock);
		if (f->stop) {
			pthread_mutex_unlock(&f->lock);
			break;
		}
		start = net_round(f, now, &done);
		pthread_mutex_unlock(&f->lock);
		complete_list(f, done);
		for (r = start; r; r = rn) {
			rn = r->next;
			r->next = NULL;
			if (net_start(f, r, now))
				fetch_req_complete(f, r);
		}
		curl_multi_perform(f->multi, &running);
		net_read_msgs(f);
		now = fetch_now_us();
		net_check_active(f, now);
		curl_multi_poll(f->multi, NULL, 0, net_sleep_ms(f, now), NULL);
	}
	net_shutdown(f);
	return NULL;
}
