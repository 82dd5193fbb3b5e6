/* rastream: tells a sequential reader from a random one by the offsets of its
 * read requests, and sizes its readahead window.
 *
 * A sequential reader's window starts at RA_MIN and doubles per request up to
 * RA_MAX, but never past twice what the stream has read, so a header read does
 * not queue a long prefetch ahead of the reader's jump elsewhere (llama.cpp
 * reads 4 MiB, then the file's tail). A request further past the furthest
 * one than both the window and RA_REORDER ends the stream, and so does one
 * more than RA_REORDER behind it. Without a stream, only a request that starts
 * at or before the end of the last one opens one.
 *
 * Why RA_REORDER: the kernel sends a sequential reader's readahead as several
 * requests at once (up to twice the mount's read_ahead_kb in flight), and the
 * multi-threaded loop answers them in any order. Requests of one stream so
 * arrive megabytes out of order, either way; taking that for a jump reset the
 * window dozens of times per file and cost warm reads a fifth of their
 * throughput.
 *
 * Not thread-safe: callers serialise calls per stream. No allocation, no
 * errors. */
#ifndef MPACK_RASTREAM_H
#define MPACK_RASTREAM_H

#include <stdint.h>

#define RA_MIN	   (4u << 20)
#define RA_MAX	   (64u << 20)
#define RA_REORDER (16u << 20)

struct rastream {
	uint64_t next_off; /* end of the furthest request seen */
	uint64_t window;   /* readahead window in bytes; 0: not sequential */
	uint64_t start;	   /* where the current stream began */
};

/* Accounts for a request for [off, end), end > off. Returns the window to read
 * ahead of `end` (s->window): 0 while the reader does not look sequential. */
uint64_t rastream_advance(struct rastream *s, uint64_t off, uint64_t end);

#endif
