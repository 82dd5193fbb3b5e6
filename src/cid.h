/* cid: content identifiers (CIDv0 and CIDv1), text and binary. Pure, no I/O.
 *
 * A struct cid is a self-contained value (no pointers): copy it freely.
 * Equality and hashing are by multihash, so CIDv0 and CIDv1 (dag-pb) of the same
 * bytes, and raw/dag-pb CIDs with equal digests, compare equal under
 * cid_mh_equal; cid_equal compares the whole binary form. */
#ifndef MPACK_CID_H
#define MPACK_CID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errbuf.h"

#define CID_CODEC_RAW	   0x55
#define CID_CODEC_DAG_PB   0x70
#define CID_CODEC_DAG_CBOR 0x71

#define CID_MAX_BIN  168 /* version + codec + mh code + len varints + 128-byte digest */
#define CID_MAX_TEXT 288 /* base32 of CID_MAX_BIN plus prefix and NUL */

struct cid {
	uint8_t version;  /* 0 or 1 */
	uint64_t codec;	  /* CID_CODEC_*; dag-pb for v0 */
	uint64_t mh_code; /* multihash function code (0x12 sha2-256, 0x00 identity) */
	uint16_t mh_off;  /* offset of the multihash inside bin */
	uint16_t mh_len;  /* bytes of the whole multihash (code + length + digest) */
	uint16_t digest_off;
	uint16_t digest_len;
	uint16_t len; /* bytes used in bin */
	uint8_t bin[CID_MAX_BIN];
};

/* Parse CID text: 46 chars starting "Qm" → v0; else a multibase prefix
 * (b B z k K f F). Whitespace is not allowed. Returns 0 or -EINVAL with a
 * message saying exactly what is wrong. */
int cid_parse(const char *text, size_t len, struct cid *out, struct errbuf *e);

/* Parse a binary CID at the start of buf. *used receives the bytes consumed
 * (callers that need the whole buffer to be one CID check *used == len).
 * Returns 0, -EINVAL (malformed, message says why). */
int cid_decode(const uint8_t *buf, size_t len, struct cid *out, size_t *used, struct errbuf *e);

/* Build a CID from a multihash (code + digest). version 0 requires dag-pb and
 * sha2-256/32. Returns 0 or -EINVAL. */
int cid_from_digest(int version, uint64_t codec, uint64_t mh_code, const uint8_t *digest,
		    size_t digest_len, struct cid *out);

/* Hash `data` with sha2-256 and build the CID (version 0 requires dag-pb).
 * Returns 0, -EINVAL (bad version/codec), -EIO if hashing fails. */
int cid_for_block(int version, uint64_t codec, const void *data, size_t len, struct cid *out);

/* Canonical text: v0 base58btc "Qm…", v1 base32 lower "b…". out must hold
 * CID_MAX_TEXT bytes. Returns length written (0 and "" if cap is too small). */
size_t cid_format(const struct cid *c, char *out, size_t cap);

/* Text in the given multibase (v1 only; b z k f), prefix included. Returns length
 * written, -ENOTSUP for v0 or other bases, -EOVERFLOW if cap is too small
 * (base16 of the largest CIDs needs more than CID_MAX_TEXT). */
int cid_format_base(const struct cid *c, char base, char *out, size_t cap);

/* Convenience for log lines: formats into a thread-local static buffer. */
const char *cid_str(const struct cid *c);

/* Pointer to the multihash bytes inside c (borrowed from c). */
static inline const uint8_t *cid_mh(const struct cid *c)
{
	return c->bin + c->mh_off;
}
static inline const uint8_t *cid_digest(const struct cid *c)
{
	return c->bin + c->digest_off;
}

bool cid_equal(const struct cid *a, const struct cid *b);    /* same binary CID */
bool cid_mh_equal(const struct cid *a, const struct cid *b); /* same multihash */
uint64_t cid_hash(const struct cid *c);			     /* hash of the multihash */

/* Convert between v0 and v1 (dag-pb sha2-256 only for v0). -EINVAL if impossible. */
int cid_to_v1(const struct cid *in, struct cid *out);
int cid_to_v0(const struct cid *in, struct cid *out);

#endif
