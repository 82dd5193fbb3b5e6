/* pack_int: internals shared by pack.c (walk, import, CAR) and pack_manifest.c. */
#ifndef MPACK_PACK_INT_H
#define MPACK_PACK_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "car.h"
#include "pack.h"

#define PK_KEY	    34		/* version, codec, sha2-256 digest */
#define PK_WBUF	    (1u << 20)	/* CAR write buffer */
#define PK_DIRECT   (64u << 10) /* writes this large bypass the buffer */
#define PK_READ_MIN (1u << 20)	/* read size floor (a multiple of the chunk size) */
#define PK_SUMS_MAX (64u << 20) /* SHA256SUMS text limit */

struct pk_id {
	dev_t dev;
	ino_t ino;
	bool set;
};

struct pk_ctx {
	const struct pack_opts *o;
	const char *dir;
	struct errbuf *e;
	bool have_msg; /* e already holds the precise message */
	pack_progress_fn fn;
	void *fctx;
	struct pack_file *files;
	size_t nfiles, cfiles;
	uint8_t *set; /* open addressing, PK_KEY bytes per slot, byte 0 = 0 when free */
	size_t set_slots, set_used;
	uint64_t blocks, bytes;
	uint8_t *rbuf;
	size_t rlen;
	struct pk_id skip[3]; /* outputs never walked: --out, --car, CAR temp */
	int car_fd;
	char *car_tmp;
	struct car_writer *cw;
	uint8_t *wbuf;
	size_t wlen;
};

/* "a/b" (malloc'd, caller frees) or NULL on ENOMEM. */
char *pk_join(const char *a, const char *b);

/* Build the manifest for the walked pack (dir: the directory CID) and emit
 * its text (caller frees). 0 or -errno with the message in c->e. */
int pk_manifest(struct pk_ctx *c, const struct cid *dir, char **text);

#endif
