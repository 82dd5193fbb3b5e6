/* multihash: verify a block's bytes against its CID. Pure, no I/O.
 *
 * sha2-256 goes through OpenSSL's EVP (SHA-NI where the CPU has it); identity
 * compares the digest with the data. Every other hash function is rejected with
 * an error naming its code: nothing is ever returned unverified. */
#ifndef MPACK_MULTIHASH_H
#define MPACK_MULTIHASH_H

#include <stddef.h>
#include <stdint.h>

#include "cid.h"
#include "errbuf.h"

#define MH_IDENTITY	0x00
#define MH_SHA2_256	0x12
#define MH_IDENTITY_MAX 128		   /* longest inline identity digest accepted */
#define BLOCK_MAX	(2u * 1024 * 1024) /* largest block accepted from anywhere */

/* Check that `data` hashes to c's multihash. Returns 0; -EIO on mismatch
 * ("block bafk… hash mismatch: expected <hex>, got <hex>"); -EFBIG over BLOCK_MAX
 * (checked first); -ENOTSUP for an unsupported hash function ("unsupported
 * multihash 0x1e (blake3) in block bafk…"). */
int mh_verify(const struct cid *c, const void *data, size_t len, struct errbuf *e);

/* 1 if c's multihash function is one mh_verify accepts, else 0 with a message in e. */
int mh_supported(const struct cid *c, struct errbuf *e);

/* Streaming sha2-256 for large data (files, not blocks). */
struct mh_sha256 {
	void *ctx; /* EVP_MD_CTX, owned */
};
int mh_sha256_init(struct mh_sha256 *s);
void mh_sha256_update(struct mh_sha256 *s, const void *p, size_t n);
void mh_sha256_final(struct mh_sha256 *s, uint8_t out[32]); /* also frees ctx */
void mh_sha256_free(struct mh_sha256 *s);		    /* safe after final */

/* One-shot sha2-256. */
void mh_sha256(const void *p, size_t n, uint8_t out[32]);

/* Name of a multihash code for messages ("sha2-256", "blake3", "0x1234"). */
const char *mh_name(uint64_t code, char *buf, size_t cap);

#endif
