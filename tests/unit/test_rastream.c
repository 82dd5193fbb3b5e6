/* test_rastream: sequential-stream detection under reordered requests. */
/* deps: rastream */
#include <stdint.h>

#include "check.h"
#include "rastream.h"

#define MiB (1ull << 20)

/* A request for [off, off + 1 MiB). */
static uint64_t req(struct rastream *s, uint64_t off)
{
	return rastream_advance(s, off, off + MiB);
}

/* In-order reads open a window that doubles to RA_MAX, capped at twice what
 * the stream has read. */
static void test_in_order(void)
{
	struct rastream s = {0};
	uint64_t off, w = 0;

	CHECK_EQ_INT(req(&s, 0) == RA_MIN, 1);
	CHECK_EQ_INT(req(&s, MiB) == RA_MIN, 1); /* 2 × 2 MiB read = RA_MIN */
	CHECK_EQ_INT(req(&s, 2 * MiB) == 6 * MiB, 1);
	for (off = 3 * MiB; off < 200 * MiB; off += MiB)
		w = req(&s, off);
	CHECK_EQ_INT(w == RA_MAX, 1);
}

/* The kernel's readahead: the first burst in order (the reader waits for its
 * first page), then 8 MiB bursts answered last-first by the thread pool. The
 * stream must stay open; with a 4 MiB tolerance it was reset on every burst. */
static void test_bursts_answered_out_of_order(void)
{
	struct rastream s = {0};
	uint64_t burst, i, closed = 0;

	for (i = 0; i < 8; i++)
		req(&s, i * MiB);
	for (burst = 1; burst < 64; burst++)
		for (i = 8; i-- > 0;)
			closed += req(&s, (burst * 8 + i) * MiB) == 0;
	CHECK_EQ_INT((int)closed, 0);
	CHECK_EQ_INT(s.window == RA_MAX, 1);
}

/* Early in a stream the window is RA_MIN, smaller than a burst: the burst's
 * last request arriving first is ahead of the window but not a jump. Without a
 * window, the same distance is a random read. */
static void test_burst_ahead_of_small_window(void)
{
	struct rastream s = {0};
	struct rastream r = {0};

	req(&s, 0);
	CHECK_EQ_INT(s.window == RA_MIN, 1);
	CHECK_EQ_INT(req(&s, 1 + 7 * MiB) != 0, 1); /* 6 MiB past next_off: past the window */
	CHECK_EQ_INT(req(&s, MiB) != 0, 1);	    /* the overtaken ones follow */
	CHECK_EQ_INT(req(&s, 1 + RA_REORDER + 9 * MiB) == 0, 1); /* beyond: random */

	req(&r, 100 * MiB); /* a first read not at 0 opens nothing */
	CHECK_EQ_INT(r.window == 0, 1);
	CHECK_EQ_INT(req(&r, 108 * MiB) == 0, 1);
}

/* The largest overtaking still tolerated, and one just past it. */
static void test_reorder_bound(void)
{
	struct rastream s = {0};
	uint64_t off;

	for (off = 0; off < 64 * MiB; off += MiB)
		req(&s, off);
	CHECK_EQ_INT(req(&s, 64 * MiB - RA_REORDER - MiB) != 0, 1); /* ends RA_REORDER behind */
	CHECK_EQ_INT(req(&s, 64 * MiB - RA_REORDER - 2 * MiB) == 0, 1);
	CHECK_EQ_INT(s.next_off == 64 * MiB - RA_REORDER - MiB, 1); /* a new stream starts there */
}

/* llama.cpp: 4 MiB head, the tail, then everything from 0 again. */
static void test_head_tail_restart(void)
{
	struct rastream s = {0};
	uint64_t off, w = 0;

	for (off = 0; off < 4 * MiB; off += MiB)
		req(&s, off);
	CHECK_EQ_INT(req(&s, 207 * MiB) == 0, 1); /* far past the window: random */
	CHECK_EQ_INT(req(&s, 0) == 0, 1);	  /* far back: repositions */
	CHECK_EQ_INT(s.next_off == MiB, 1);
	CHECK_EQ_INT(req(&s, MiB) != 0, 1); /* and the next request opens a stream */
	for (off = 2 * MiB; off < 100 * MiB; off += MiB)
		w = req(&s, off);
	CHECK_EQ_INT(w == RA_MAX, 1);
}

/* Random 4 KiB reads far apart never open a window. */
static void test_random(void)
{
	struct rastream s = {0};
	uint64_t x = 88172645463325252ull, open = 0, off;
	int i;

	for (i = 0; i < 10000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		off = (x % (8ull << 30)) & ~4095ull;
		if (i && rastream_advance(&s, off, off + 4096))
			open++;
	}
	/* A window opens only when a read lands inside the last one's window
	 * (RA_MIN of 8 GiB), about 0.05% of the time. */
	CHECK(open < 20, "window opened %llu times", (unsigned long long)open);
}

int main(void)
{
	test_in_order();
	test_bursts_answered_out_of_order();
	test_burst_ahead_of_small_window();
	test_reorder_bound();
	test_head_tail_restart();
	test_random();
	return check_done("test_rastream");
}
