/* importer: UnixFS file and directory builder producing Kubo-identical CIDs.
 * Pure: blocks go to a caller callback; no file handling here.
 *
 * Files: fixed-size chunker plus the balanced layout (what `ipfs add` does).
 * Streaming: memory is O(chunk_size + depth * max_links), whatever the file size.
 * Profiles:
 *   IMP_PROFILE_MODELPACK  CIDv1, raw leaves, 1 MiB chunks, 1024 links (unixfs-v1-2025)
 *   IMP_PROFILE_KUBO_V0    CIDv0, dag-pb leaves, 256 KiB chunks, 174 links (Kubo default)
 *   IMP_PROFILE_KUBO_V1    CIDv1, raw leaves, 256 KiB chunks, 174 links (--cid-version=1)
 * Directories: one dag-pb Directory node, links sorted bytewise by name, Tsize
 * = cumulative size, as `ipfs add -r` builds them. */
#ifndef MPACK_IMPORTER_H
#define MPACK_IMPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cid.h"
#include "errbuf.h"

enum imp_profile {
	IMP_PROFILE_MODELPACK,
	IMP_PROFILE_KUBO_V0,
	IMP_PROFILE_KUBO_V1,
};

#define IMP_CHUNK_MAX (2u * 1024 * 1024 - 256) /* Kubo's largest chunk */

struct imp_params {
	int cid_version; /* 0 or 1 */
	bool raw_leaves; /* must be false with cid_version 0 */
	size_t chunk_size;
	size_t max_links; /* ≥ 2 */
};

void imp_params_profile(struct imp_params *p, int profile);
/* 0 or -EINVAL with a message (chunk size 1..IMP_CHUNK_MAX, max_links 2..8192,
 * raw leaves need CIDv1). */
int imp_params_check(const struct imp_params *p, struct errbuf *e);

/* Receives every block the importer creates, leaves first, exactly once per
 * node built (a block may repeat if content repeats). data is borrowed for the
 * call. Return 0 to continue or -errno to abort the import. */
typedef int (*imp_block_fn)(void *ctx, const struct cid *cid, const uint8_t *data, size_t len);

/* What a finished file or directory is, for the parent's link. */
struct imp_result {
	struct cid cid;
	uint64_t size;	/* file: content bytes; directory: 0 */
	uint64_t tsize; /* cumulative bytes of every block in the DAG (the link Tsize) */
};

struct imp_file;
int imp_file_new(const struct imp_params *p, imp_block_fn fn, void *ctx, struct imp_file **out);
/* Feed content; any split of the stream gives the same CIDs. Errors from the
 * callback are returned. */
int imp_file_write(struct imp_file *f, const void *data, size_t len);
int imp_file_finish(struct imp_file *f, struct imp_result *out);
void imp_file_free(struct imp_file *f);

/* Build a directory node over entries (any order: sorted here). Names must be
 * unique and contain no '/'. Emits the node through fn. Directories whose
 * estimated node size would exceed 256 KiB are built as a HAMT (fanout 256,
 * murmur3) exactly as Kubo and the JS importer do. */
struct imp_dirent {
	const char *name;
	struct imp_result r;
};
int imp_dir_build(const struct imp_params *p, struct imp_dirent *ents, size_t n, imp_block_fn fn,
		  void *ctx, struct imp_result *out, struct errbuf *e);

/* A symlink node (dag-pb Symlink with the target as data). */
int imp_symlink_build(const struct imp_params *p, const char *target, imp_block_fn fn, void *ctx,
		      struct imp_result *out);

#endif
