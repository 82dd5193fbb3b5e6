/* dagpb: the dag-pb protobuf codec (PBNode / PBLink). Pure, no I/O.
 *
 * Decoding is strict: within a PBLink the fields Hash(1), Name(2), Tsize(3)
 * appear at most once each and in that order; a PBNode has at most one Data(1)
 * field and any number of Links(2); Links and Data may come in either order
 * (canonical is all Links, then Data), but Links never interleave with Data
 * after it. Unknown fields, wrong wire types, truncation, trailing bytes and
 * Hash fields that are not a valid binary CID are errors.
 * Encoding always writes the canonical form (Links before Data). */
#ifndef MPACK_DAGPB_H
#define MPACK_DAGPB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cid.h"
#include "dynbuf.h"
#include "errbuf.h"

#define DAGPB_MAX_LINKS 65536 /* more links than fit in a 2 MiB block anyway */

struct pb_link {
	struct cid cid;
	const uint8_t *name; /* borrowed from the decoded buffer; NULL if absent */
	size_t name_len;
	bool has_name;
	uint64_t tsize;
	bool has_tsize;
};

struct pb_node {
	const uint8_t *data; /* borrowed; NULL if absent */
	size_t data_len;
	bool has_data;
	struct pb_link *links; /* owned array (free with pb_node_free) */
	size_t nlinks;
};

/* Decode buf into out. Borrowed pointers stay valid while buf does.
 * Returns 0 or -EINVAL with a message ("dag-pb: link 3: Name before Hash").
 * On error out holds nothing to free. */
int pb_decode(const uint8_t *buf, size_t len, struct pb_node *out, struct errbuf *e);
void pb_node_free(struct pb_node *n);

/* Append the canonical encoding of n to out. Returns 0, -EFBIG if out's cap is
 * exceeded, -ENOMEM. Links with has_name write the Name field (even if empty,
 * as Kubo does for file links); has_tsize likewise. */
int pb_encode(const struct pb_node *n, struct dynbuf *out);

/* Low-level protobuf field reader, shared with unixfs.c (added by the dagpb
 * implementer). Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32. */
#define PB_WT_VARINT  0
#define PB_WT_FIXED64 1
#define PB_WT_LEN     2
#define PB_WT_FIXED32 5

struct pb_field {
	uint64_t num;	     /* field number */
	int wt;		     /* wire type */
	uint64_t val;	     /* varint / fixed value, or payload length for wire type 2 */
	const uint8_t *body; /* wire type 2: payload (borrowed from buf); else NULL */
	size_t start;	     /* offset of the tag in buf */
};

/* Read the field at buf[*pos..len) and advance *pos past it. Varints must be
 * minimal (varint_decode_pb); a length-delimited payload must fit in the
 * remaining bytes; wire types 3, 4, 6, 7 are rejected. `base` is added to byte
 * offsets in messages, which begin with `what`. Returns 0 or -EINVAL. */
int pb_field_read(const uint8_t *buf, size_t len, size_t *pos, size_t base, const char *what,
		  struct pb_field *f, struct errbuf *e);

#endif
