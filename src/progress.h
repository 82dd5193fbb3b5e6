/* progress: transfer progress for long mpack commands (prefetch, pin).
 *
 * Two forms:
 *   PROGRESS_BAR   one line on stderr, rewritten in place with "\r" (for a
 *                  terminal): bar, percent, bytes done/total, rate, ETA, blocks;
 *                  redrawn at most 10 times a second, cleared by progress_end.
 *   PROGRESS_JSON  JSON lines on stdout, at most 2 a second:
 *                  {"done_bytes":N,"total_bytes":N,"blocks_done":N,"blocks_total":N,
 *                   "rate":BYTES_PER_S}
 *                  and a final line from progress_end with "done":true and the
 *                  caller's summary members.
 *   PROGRESS_NONE  nothing.
 * The rate counts only bytes transferred in this run (progress_set's `moved`),
 * averaged over the last few seconds, so blocks found already present do not
 * inflate it. Not thread-safe: call from one thread. */
#ifndef MPACK_PROGRESS_H
#define MPACK_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "jsonw.h"

enum progress_mode {
	PROGRESS_NONE,
	PROGRESS_BAR,
	PROGRESS_JSON,
};

#define PROGRESS_BAR_HZ	 10
#define PROGRESS_JSON_HZ 2

struct progress_counts {
	uint64_t done_bytes, total_bytes;
	uint64_t blocks_done, blocks_total;
	uint64_t moved; /* bytes transferred by this run (for the rate) */
};

struct progress {
	int mode;
	const char *label; /* shown before the bar ("prefetch") */
	struct progress_counts last;
	double start, last_draw;
	double win_t[8]; /* ring of (time, moved) samples for the rate */
	uint64_t win_b[8];
	int win_n, win_i;
	int drawn_width; /* columns of the bar line on screen */
};

/* PROGRESS_BAR if fd 2 is a terminal, else PROGRESS_JSON. */
int progress_auto_mode(void);

void progress_init(struct progress *p, int mode, const char *label);
/* New counts; draws if enough time has passed (or force). */
void progress_set(struct progress *p, const struct progress_counts *c, bool force);
/* Bytes per second over the last few seconds. */
double progress_rate(const struct progress *p);
/* Clears the bar (BAR) or prints the final JSON line (JSON): the counts, "rate",
 * "done":true, then the members written by extra(w, ctx) (may be NULL). */
void progress_end(struct progress *p, void (*extra)(struct jsonw *w, void *ctx), void *ctx);

/* "1.5 GiB", "512 B" into buf (≥ 16 bytes). */
const char *progress_bytes(uint64_t n, char *buf, int cap);

#endif
