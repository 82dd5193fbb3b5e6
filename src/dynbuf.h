/* dynbuf: a growable byte buffer with a hard cap (after curl's dynbuf).
 *
 * Growth beyond `cap` fails with -EFBIG and leaves the contents unchanged, so a
 * buffer fed by the network or a file can never grow without bound. */
#ifndef MPACK_DYNBUF_H
#define MPACK_DYNBUF_H

#include <stddef.h>
#include <stdint.h>

struct dynbuf {
	uint8_t *data; /* owned; NULL until the first append */
	size_t len;
	size_t alloc;
	size_t cap; /* hard limit on len */
};

void dynbuf_init(struct dynbuf *b, size_t cap);
/* 0, -EFBIG past the cap, -ENOMEM. */
int dynbuf_append(struct dynbuf *b, const void *p, size_t n);
int dynbuf_reserve(struct dynbuf *b, size_t n);
void dynbuf_reset(struct dynbuf *b); /* len = 0, keeps memory */
void dynbuf_free(struct dynbuf *b);  /* frees memory, len = 0 */
/* Hands the data to the caller (free with free()); the buffer is left empty. */
uint8_t *dynbuf_take(struct dynbuf *b, size_t *len);

#endif
