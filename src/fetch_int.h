/* fetch_int: internals shared by fetch.c (requests, queues, verify pool) and
 * fetch_net.c (the libcurl network thread). Not a public contract.
 *
 * Locking: one mutex, fetcher.lock, protects every request list, the per-source
 * counters and stats, and the in-flight/pending counts. Request bookkeeping
 * (fetch_req_*) is called with the lock held; done callbacks are always called
 * without it. The curl multi handle, the easy handles and struct fetch_xfer
 * belong to the network thread alone (curl_multi_wakeup is the only curl call
 * made from other threads). */
#ifndef MPACK_FETCH_INT_H
#define MPACK_FETCH_INT_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include <curl/curl.h>

#include "dynbuf.h"
#include "fetch.h"

#define FETCH_WHY_MAX		     1024
#define FETCH_ANSWER_MAX	     160
#define FETCH_LABEL_MAX		     80
#define FETCH_URL_MAX		     (sizeof(((struct fetch_source_cfg *)0)->url) + CID_MAX_TEXT + 40)
#define FETCH_NPRIO		     3
#define FETCH_SLOTS_MIN		     4		  /* per source, unless max_per_source is lower */
#define FETCH_BLOCK_GUESS	     (256u << 10) /* block size before a source answered */
#define FETCH_RETRY_AFTER_MAX_MS     60000
#define FETCH_RETRY_AFTER_DEFAULT_MS 1000

/* What one attempt on one source came to. */
enum fetch_outcome {
	FETCH_OUT_NOTFOUND, /* 404/410/451, Kubo "not found": next source at once */
	FETCH_OUT_RETRY,    /* 5xx, reset, truncation, stall: same source again, backoff */
	FETCH_OUT_COOL,	    /* 429: cool the source for retry_ms, prefer another source */
	FETCH_OUT_FATAL,    /* this source cannot serve the request: next source */
	FETCH_OUT_MISMATCH, /* body failed verification: next source */
	FETCH_OUT_DEADLINE, /* request deadline passed during the attempt: -ETIMEDOUT */
	FETCH_OUT_CANCEL,   /* fetcher shutting down: -ECANCELED */
};

/* Per-request state of one source. */
enum { FETCH_SRC_OPEN, FETCH_SRC_NOTFOUND, FETCH_SRC_FAILED };

struct fetch_req {
	struct fetch_req *next; /* link in exactly one list (queue, timers, verify) */
	struct cid cid;
	char cidtext[CID_MAX_TEXT];
	int prio;
	fetch_done_fn done;
	void *ctx;
	uint64_t submit_us;
	uint64_t deadline_us;	/* 0 = none */
	uint64_t not_before_us; /* while waiting in the timer list */
	int src;		/* source of the current or last attempt, -1 before any */
	int status;		/* final status once finished */
	uint8_t attempts[FETCH_MAX_SOURCES];
	uint8_t state[FETCH_MAX_SOURCES];
	char answer[FETCH_ANSWER_MAX]; /* latest answer of `src`, not yet in why */
	uint8_t *body;		       /* while queued for verification (owned) */
	size_t body_len;
	uint64_t latency_us;
	size_t why_len;
	char why[FETCH_WHY_MAX];
};

struct fetch_src {
	struct fetch_source_cfg cfg;
	char label[FETCH_LABEL_MAX]; /* "127.0.0.1:8080" or "api" in why-lines */
	/* protected by fetcher.lock */
	struct fetch_source_stats st;
	int consec_fail;
	uint64_t cool_until_us;
	uint64_t retry_until_us; /* a 429's Retry-After: nothing is sent before this */
	uint64_t block_avg;	 /* moving average of verified body sizes, 0 = none yet */
};

/* Lock held: how many requests source s may have in flight (its byte window at its
 * recent block size, within [FETCH_SLOTS_MIN, max_per_source]). */
int fetch_src_slots(const struct fetcher *f, const struct fetch_src *s);

struct fetch_xfer; /* fetch_net.c */

struct fetcher {
	struct fetch_cfg cfg;
	size_t nsrc;
	struct fetch_src src[FETCH_MAX_SOURCES];
	pthread_mutex_t lock;
	pthread_cond_t vcond; /* verify queue non-empty or vstop */
	/* protected by lock */
	struct fetch_req *qhead[FETCH_NPRIO], *qtail[FETCH_NPRIO];
	struct fetch_req *timers; /* waiting for a backoff to end (unordered) */
	struct fetch_req *vhead, *vtail;
	int inflight; /* transfers plus bodies waiting for or under verification */
	int pending;  /* submitted, callback not yet called */
	int stop, vstop;
	int kick; /* slots freed or requests requeued since the network thread's last round */
	uint64_t next_expire_us; /* no queued/timer deadline before this */
	uint64_t rng;
	/* threads */
	pthread_t net;
	pthread_t *verifiers;
	int nverifiers;
	int net_started;
	/* network thread only (after start) */
	CURLM *multi;
	struct curl_slist *gw_headers;
	struct curl_slist *api_headers;
	struct fetch_xfer *active; /* transfers in the multi handle */
	struct fetch_xfer *pool;   /* idle easy handles, kept for reuse */
};

static inline uint64_t fetch_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* fetch.c, lock held unless said otherwise. */
/* Pick the source for the next attempt: the first open source that is not
 * cooling, else the first open one; -1 if none is open. */
int fetch_req_pick(struct fetcher *f, const struct fetch_req *r, uint64_t now);
/* Put r on the timer list until `until`. */
void fetch_timer_push(struct fetcher *f, struct fetch_req *r, uint64_t until);
/* Take a slot for an attempt of r on source s (counts, stats, attempts). */
void fetch_req_begin(struct fetcher *f, struct fetch_req *r, int s);
/* Record that an attempt of r on source s ended with `out` (`msg` says how;
 * retry_ms for FETCH_OUT_COOL). Frees the slot, updates stats, then requeues
 * r (queue or timer) and returns 0, or finishes it and returns 1: the caller
 * must then call fetch_req_complete() after dropping the lock. */
int fetch_req_answer(struct fetcher *f, struct fetch_req *r, int s, int out, const char *msg,
		     int retry_ms, uint64_t now);
/* Append "label: text" to r's why-line. */
void fetch_req_why(struct fetch_req *r, const char *label, const char *text);
/* Mark r (already out of every list) finished with -ETIMEDOUT / -ECANCELED. */
void fetch_req_expire(struct fetcher *f, struct fetch_req *r);
void fetch_req_cancel(struct fetcher *f, struct fetch_req *r);
/* Without the lock: call r's done callback with r->status (or the verified
 * body when status is 0) and free r. */
void fetch_req_complete(struct fetcher *f, struct fetch_req *r);
/* Queue r again at the tail of its priority. */
void fetch_queue_push(struct fetcher *f, struct fetch_req *r);
/* Hand a received body to the verify threads (slot stays taken). */
void fetch_verify_push(struct fetcher *f, struct fetch_req *r);
/* Move timers that are due to the front of the queue; returns the earliest
 * remaining not_before (UINT64_MAX if none). */
uint64_t fetch_timers_run(struct fetcher *f, uint64_t now);
/* Take queued or waiting requests whose deadline passed out of their lists,
 * finished with -ETIMEDOUT, linked through ->next: complete them unlocked. */
struct fetch_req *fetch_expire_run(struct fetcher *f, uint64_t now);
/* Without the lock: cancel and complete everything queued or on a timer. */
void fetch_cancel_queued(struct fetcher *f);

/* fetch_net.c */
int fetch_net_init(struct fetcher *f, struct errbuf *e); /* multi handle, headers */
void *fetch_net_main(void *arg);
void fetch_net_wake(struct fetcher *f);
void fetch_net_cleanup(struct fetcher *f); /* after the thread was joined */

#endif
