/* unixfs: the UnixFS Data message and node views built on dag-pb. Pure, no I/O.
 *
 * Type numbers are the real ones: Raw=0, Directory=1, File=2, Metadata=3,
 * Symlink=4, HAMTShard=5. blocksizes may come unpacked (tag 0x20 each) or packed
 * (0x22); encoding writes unpacked, as Kubo does. */
#ifndef MPACK_UNIXFS_H
#define MPACK_UNIXFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cid.h"
#include "dagpb.h"
#include "dynbuf.h"
#include "errbuf.h"

enum ufs_type {
	UFS_RAW = 0,
	UFS_DIRECTORY = 1,
	UFS_FILE = 2,
	UFS_METADATA = 3,
	UFS_SYMLINK = 4,
	UFS_HAMT = 5,
};

struct ufs_data {
	int type;
	const uint8_t *data; /* borrowed; NULL if absent */
	size_t data_len;
	bool has_data;
	uint64_t filesize;
	bool has_filesize;
	uint64_t *blocksizes; /* owned (ufs_data_free) */
	size_t nblocksizes;
	uint64_t hash_type;
	bool has_hash_type;
	uint64_t fanout;
	bool has_fanout;
	uint32_t mode;
	bool has_mode;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	bool has_mtime;
};

/* Decode a UnixFS Data message. Returns 0 or -EINVAL with a message. */
int ufs_decode(const uint8_t *buf, size_t len, struct ufs_data *out, struct errbuf *e);
void ufs_data_free(struct ufs_data *d);
/* Append the encoding of d (fields in number order, only those present). */
int ufs_encode(const struct ufs_data *d, struct dynbuf *out);

/* A decoded, validated block as the reader sees it. */
enum unode_kind {
	UNODE_FILE,    /* raw leaf, or dag-pb File/Raw node */
	UNODE_DIR,     /* dag-pb Directory */
	UNODE_HAMT,    /* dag-pb HAMTShard */
	UNODE_SYMLINK, /* dag-pb Symlink; target in data */
};

struct unode {
	struct cid cid;
	int kind;
	uint64_t size;	     /* file: total bytes; symlink: target length; dirs: 0 */
	const uint8_t *data; /* file: inline bytes before children; symlink: target */
	size_t data_len;
	struct pb_node pb;	 /* links (empty for raw leaves) */
	uint64_t *offsets;	 /* file with links: nlinks+1 starts, offsets[0]=data_len */
	uint64_t fanout;	 /* HAMT */
	const uint8_t *bitfield; /* HAMT: Data.Data bitfield (big-endian) */
	size_t bitfield_len;
	uint32_t mode; /* 0 if absent */
	int64_t mtime; /* seconds; 0 if absent */
	bool has_mtime;
	uint8_t *block; /* owned copy of the block bytes */
	size_t block_len;
};

/* Parse and validate a block already verified against cid. Raw-codec CIDs give
 * a leaf file; dag-pb gives File/Raw/Directory/HAMT/Symlink. Checks: file links
 * count == blocksizes count; filesize == data_len + sum(blocksizes) when links
 * exist (and == data_len for a leaf when filesize is present); HAMT fanout a
 * power of two ≤ 1024 with hashType 0x22; Metadata and unknown types rejected.
 * Other codecs → -ENOTSUP. Copies the block; caller frees with unode_free. */
int unode_parse(const struct cid *cid, const uint8_t *block, size_t len, struct unode **out,
		struct errbuf *e);
void unode_free(struct unode *n);

/* For a file node with links: index of the child holding byte `off`
 * (off < size and off >= data_len). Returns index or -ERANGE. */
int unode_child_at(const struct unode *n, uint64_t off);

/* murmur3-x64-64 as UnixFS HAMT uses it: murmur3_x64_128 seed 0, first 64
 * bits, as a big-endian value. */
uint64_t hamt_hash(const void *key, size_t len);

#endif
