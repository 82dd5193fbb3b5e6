/* fetch_post: one blocking HTTP POST whose multipart/form-data body is streamed from a
 * callback (Kubo RPC uploads such as /api/v0/dag/import). Part of the fetch module family:
 * the only other file that uses libcurl.
 *
 * The body length need not be known: the part is sent with chunked transfer encoding,
 * so a producer (a CAR writer thread feeding a pipe) never has to hold the whole body.
 * Redirects are not followed (a POST body cannot be replayed). Safe to call from any
 * thread; each call uses its own easy handle. */
#ifndef MPACK_FETCH_POST_H
#define MPACK_FETCH_POST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "errbuf.h"

#define FETCH_POST_RESPONSE_MAX (4u << 20) /* default cap on the response body */

/* Reads up to n bytes of the part's content into buf: the count, 0 at the end, or -errno
 * to abort the upload (fetch_post_multipart then returns that value). */
typedef ssize_t (*fetch_post_read_fn)(void *ctx, void *buf, size_t n);

struct fetch_post_req {
	const char *url;	  /* http:// or https:// */
	const char *field;	  /* form field name, e.g. "file" */
	const char *filename;	  /* Content-Disposition filename; may be NULL */
	const char *content_type; /* the part's type; NULL → application/octet-stream */
	fetch_post_read_fn read;
	void *ctx;
	int connect_timeout_ms; /* 0 → 5000 */
	int stall_timeout_ms;	/* no bytes either way for this long aborts; 0 → 60000 */
	int timeout_ms;		/* the whole request; 0 → no limit */
	size_t response_cap;	/* 0 → FETCH_POST_RESPONSE_MAX */
};

struct fetch_post_resp {
	long status;   /* HTTP status */
	uint8_t *body; /* malloc'd, NUL-terminated (not counted in len); caller frees */
	size_t len;
};

/* POST the request. Returns 0 once a response arrived, whatever its status (check
 * resp->status); else -ECONNREFUSED (cannot connect), -ETIMEDOUT (connect, stall or
 * overall timeout), -EFBIG (response over the cap), -EINVAL (bad URL or arguments),
 * -ENOMEM, the read callback's error, or -EIO (anything else; curl's reason in e).
 * On error resp holds nothing to free. */
int fetch_post_multipart(const struct fetch_post_req *r, struct fetch_post_resp *resp,
			 struct errbuf *e);

#endif
