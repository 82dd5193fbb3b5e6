/* fetch: verified block transfers from the Kubo RPC API and trustless HTTP
 * gateways. The only module that uses libcurl.
 *
 * DESIGN. One network thread drives a curl multi handle (keep-alive connection
 * reuse, HTTP/1.1). Requests wait in a priority queue (FETCH_PRIO_DEMAND before
 * READAHEAD before PREFETCH; FIFO within a priority) until a slot is free
 * (max_inflight in total; per source, source_window bytes at the source's recent
 * block size, between FETCH_SLOTS_MIN and max_per_source). Each request walks the
 * sources in configured order. A finished body is handed to a pool of verify
 * threads, so hashing never serialises behind the network thread; a body that
 * fails verification is counted, logged with CID and source, dropped, and the
 * next source is tried. The done callback only ever sees verified bytes.
 *
 * Per attempt: connect timeout, stall timeout (no bytes for stall_ms), body cap
 * BLOCK_MAX enforced while receiving (and from Content-Length up front),
 * redirects only to http/https (at most 3), TLS verification on. Per request: a
 * deadline. Failure policy: 404/410/451 (and Kubo's "not found"/"block was not
 * found locally" errors) → next source at once; 429 → honour Retry-After (capped
 * at 60 s) by cooling the source down, next source; 5xx, resets, truncation,
 * stalls → retry the same source up to `retries` times with exponential backoff
 * and jitter, then next source. `cooldown_after` consecutive failures put a
 * source on cool-down for cooldown_ms (skipped while cooling, unless every
 * source is cooling). When all sources fail the callback gets -ENOENT if every
 * source said not found, -ETIMEDOUT if the deadline passed, else -EIO, plus one
 * line listing what each source answered.
 * Memory: at most max_inflight bodies of ≤ BLOCK_MAX each, plus the bodies
 * queued for verification (bounded by the same in-flight slots: a slot is
 * freed only after verification). */
#ifndef MPACK_FETCH_H
#define MPACK_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "cid.h"
#include "errbuf.h"

enum fetch_source_kind {
	FETCH_SRC_API,	   /* Kubo RPC: POST {url}/api/v0/block/get?arg=CID */
	FETCH_SRC_GATEWAY, /* trustless: GET {url}/ipfs/{cid}?format=raw, Accept raw */
};

enum fetch_prio {
	FETCH_PRIO_DEMAND = 0,
	FETCH_PRIO_READAHEAD = 1,
	FETCH_PRIO_PREFETCH = 2,
};

#define FETCH_MAX_SOURCES 16

struct fetch_source_cfg {
	int kind;
	char url[512]; /* base URL without trailing slash */
};

struct fetch_cfg {
	struct fetch_source_cfg sources[FETCH_MAX_SOURCES];
	size_t nsources;
	int connect_timeout_ms; /* default 5000 */
	int stall_timeout_ms;	/* default 20000 */
	int deadline_ms;	/* per request, default 60000 */
	int max_inflight;	/* default 32 */
	int max_per_source;	/* default 24 */
	uint64_t source_window; /* bytes, default 8 MiB; 0 = default */
	int retries;		/* per source, default 2 */
	int backoff_ms;		/* first backoff, default 100; doubles, jitter ±50% */
	int backoff_max_ms;	/* default 5000 */
	int cooldown_after;	/* consecutive failures, default 3 */
	int cooldown_ms;	/* default 30000 */
	int verify_threads;	/* default 2 */
	char ca_path[512];	/* empty = system default */
};

/* Fill defaults (no sources). */
void fetch_cfg_defaults(struct fetch_cfg *c);
/* Add a source; -EINVAL for a URL that is not http(s)://host[:port][/path],
 * -ENOSPC past FETCH_MAX_SOURCES. Trailing '/' is stripped. */
int fetch_cfg_add_source(struct fetch_cfg *c, int kind, const char *url, struct errbuf *e);

struct fetcher;

/* Starts the network and verify threads. Call after any fork()/daemonize. */
int fetcher_new(const struct fetch_cfg *cfg, struct fetcher **out, struct errbuf *e);
/* Cancels outstanding requests (callbacks get -ECANCELED) and joins threads. */
void fetcher_free(struct fetcher *f);

/* Called exactly once per submit, from a fetch thread (never call fetcher_free
 * from it: it would join its own thread; fetcher_submit is fine). On success status is 0
 * and data (malloc'd, ownership passes to the callback: free() it) holds the
 * verified block. On failure data is NULL, status is -ENOENT, -ETIMEDOUT,
 * -EIO or -ECANCELED and why is one line saying what each source answered. */
typedef void (*fetch_done_fn)(void *ctx, int status, const struct cid *cid, uint8_t *data,
			      size_t len, const char *why);

/* Queue a request. Identity CIDs and unsupported hash functions fail at once
 * (callback not called; returns -EINVAL / -ENOTSUP). Returns 0 when queued.
 * Callers deduplicate concurrent requests for one CID (see store). */
int fetcher_submit(struct fetcher *f, const struct cid *cid, int prio, fetch_done_fn done,
		   void *ctx);

struct fetch_source_stats {
	char url[512];
	int kind;
	uint64_t requests, ok, not_found, errors, verify_failures, retries;
	uint64_t bytes;
	uint64_t latency_us_sum; /* over ok responses */
	uint64_t latency_us_max;
	int in_flight;
	int slots;   /* requests it may have in flight now */
	int cooling; /* 1 while on cool-down */
};
/* Copies up to max entries; returns the number of sources. */
size_t fetcher_stats(struct fetcher *f, struct fetch_source_stats *out, size_t max);
/* Requests queued or in flight. */
int fetcher_pending(struct fetcher *f);

#endif
