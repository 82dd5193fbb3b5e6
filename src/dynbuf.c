/* dynbuf: a growable byte buffer with a hard cap. */
#include "dynbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void dynbuf_init(struct dynbuf *b, size_t cap)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
}

int dynbuf_reserve(struct dynbuf *b, size_t n)
{
	size_t want, na;
	uint8_t *p;

	if (n > b->cap || b->len > b->cap - n)
		return -EFBIG;
	want = b->len + n;
	if (want <= b->alloc)
		return 0;
	na = b->alloc ? b->alloc : 256;
	while (na < want)
		na = na > SIZE_MAX / 2 ? want : na * 2;
	if (na > b->cap)
		na = b->cap;
	p = realloc(b->data, na);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->alloc = na;
	return 0;
}

int dynbuf_append(struct dynbuf *b, const void *p, size_t n)
{
	int rc;

	if (n == 0)
		return 0;
	rc = dynbuf_reserve(b, n);
	if (rc)
		return rc;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void dynbuf_reset(struct dynbuf *b)
{
	b->len = 0;
}

void dynbuf_free(struct dynbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
}

uint8_t *dynbuf_take(struct dynbuf *b, size_t *len)
{
	uint8_t *p = b->data;

	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	return p;
}
