/* walk: enumerate every block of a pack through the store, for the mpack
 * operator commands (info, prefetch, verify, export, pin).
 *
 * A pack is one of:
 *   WALK_PACK_MANIFEST  a UnixFS file whose bytes parse as a ModelPack manifest:
 *                       the manifest's own blocks, then each entry's file DAG in
 *                       manifest order;
 *   WALK_PACK_DIR       a UnixFS directory (flat or HAMT): its directory and
 *                       shard nodes and every file, symlink and subdirectory
 *                       below, depth first in link order;
 *   WALK_PACK_FILE      any other UnixFS file: its DAG.
 *
 * Blocks are visited depth first in link order, so the `content` the callbacks
 * see for the blocks of one file, concatenated, is that file's bytes (when
 * every block is fetched: WALK_LEAVES, not WALK_DISTINCT). The walk gets
 * dag-pb blocks through the store (it has to read their links); raw blocks are
 * leaves and are only fetched with WALK_LEAVES. While descending, the next
 * few siblings are queued with store_prefetch so transfers overlap.
 *
 * Every block is checked against what its parent says: a file child's UnixFS
 * size must equal the parent's blocksize (and a raw leaf's length, when
 * fetched), a file DAG may hold only file nodes, depth is capped. A failure
 * (block unavailable, malformed, inconsistent) goes to ops->fail with the CID
 * and the reason, and the walk continues with the next sibling; without a
 * fail callback the walk stops with that error.
 *
 * Not thread-safe: one walk per thread. */
#ifndef MPACK_WALK_H
#define MPACK_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cid.h"
#include "errbuf.h"
#include "manifest.h"
#include "store.h"

#define WALK_MAX_BLOCKS	 (1u << 24) /* distinct blocks one walk may visit */
#define WALK_DIR_DEPTH	 128	    /* nested directories */
#define WALK_PATH_MAX	 4096
#define WALK_WINDOW	 16		   /* default prefetch window */
#define WALK_MANIFEST_AS "MODEL_PACK.json" /* path reported for a manifest's own blocks */

enum walk_pack_kind {
	WALK_PACK_MANIFEST,
	WALK_PACK_DIR,
	WALK_PACK_FILE,
};

/* An opened pack. */
struct walk_pack {
	struct cid root;
	int kind;	    /* enum walk_pack_kind */
	struct manifest *m; /* WALK_PACK_MANIFEST: the parsed manifest (owned) */
	uint8_t *manifest;  /* its bytes (owned) */
	size_t manifest_len;
	uint64_t size;		       /* WALK_PACK_FILE / MANIFEST: the root file's size */
	char not_manifest[ERRBUF_MAX]; /* a small file that starts with '{' but did not
					  parse as a manifest: why (else "") */
};

/* Fetch the root and decide what it is. A small file (≤ MANIFEST_MAX_BYTES)
 * is read and parsed as a manifest. Returns 0, or the store's / parser's
 * error (-ENOENT, -ETIMEDOUT, -EIO, -EINVAL for a malformed root, -EINTR).
 * Free with walk_pack_free. */
int walk_pack_open(struct store *s, const struct cid *root, const struct store_get_opts *o,
		   struct walk_pack **out, struct errbuf *e);
void walk_pack_free(struct walk_pack *p);
/* Resolve "CID[/path]" (dag_resolve: UnixFS directories and manifest file names), then
 * walk_pack_open the result. */
int walk_pack_open_arg(struct store *s, const char *arg, const struct store_get_opts *o,
		       struct walk_pack **out, struct errbuf *e);
const char *walk_pack_kind_name(int kind); /* "manifest" "directory" "file" */

/* Kinds of file in a walk. */
enum walk_role {
	WALK_ROLE_MANIFEST, /* the manifest's own file */
	WALK_ROLE_ENTRY,    /* a manifest entry (entry is set) */
	WALK_ROLE_TREE,	    /* a file of a directory tree */
	WALK_ROLE_SINGLE,   /* the root of a WALK_PACK_FILE */
};

struct walk_file {
	const char *path; /* in the pack ("" for WALK_ROLE_SINGLE); borrowed for the walk */
	struct cid cid;
	int role;		      /* enum walk_role */
	const struct mf_entry *entry; /* WALK_ROLE_ENTRY: the manifest entry, else NULL */
	size_t index;		      /* 0, 1, ... over the files of the walk */
	uint64_t size;		      /* UnixFS size once the root block is read */
	bool size_known;
	bool failed; /* a block of this file went to ops->fail */
};

enum walk_block_kind {
	WALK_BK_FILE,	 /* dag-pb file node (internal, or a leaf) */
	WALK_BK_LEAF,	 /* raw leaf */
	WALK_BK_DIR,	 /* dag-pb directory */
	WALK_BK_HAMT,	 /* HAMT shard */
	WALK_BK_SYMLINK, /* symlink */
	WALK_BK_PROBED,	 /* WALK_PROBE: a dag-pb block not held locally, not fetched */
};

struct walk_block {
	struct cid cid;
	int kind;		      /* enum walk_block_kind */
	const struct walk_file *file; /* the file the block belongs to; NULL for dirs */
	const char *path;	      /* directory path for dir/shard/symlink blocks */
	const uint8_t *data;	      /* the block when fetched (borrowed for the call) */
	size_t len;		      /* its length; for an unfetched raw leaf: the parent's
					 blocksize (= its length); for PROBED: 0 */
	const uint8_t *content;	      /* file bytes this block holds (fetched blocks) */
	size_t content_len;
	uint64_t content_bytes; /* file bytes in this block (unfetched: per the parent;
				   PROBED: the whole subtree) */
	bool was_local;		/* in the cache or a CAR before the walk touched it */
	bool dup;		/* seen earlier in this walk (never with WALK_DISTINCT) */
};

struct walk_ops {
	/* Start (end = false) and end (end = true) of each file. May be NULL. */
	int (*file)(void *ctx, struct walk_file *f, bool end);
	/* Each block. May be NULL. */
	int (*block)(void *ctx, const struct walk_block *b);
	/* A block could not be visited (cid, -errno, reason); its subtree is
	 * skipped. Return 0 to go on. NULL: the walk stops with the error. */
	int (*fail)(void *ctx, const struct walk_file *f, const struct cid *cid, int err,
		    const char *why);
};

#define WALK_LEAVES   0x1u /* fetch raw leaves too; their bytes reach ops->block */
#define WALK_DISTINCT 0x2u /* each block once: repeats are neither reported nor descended */
#define WALK_PROBE                                                                                 \
	0x4u /* no network for possible leaves: a dag-pb block not held locally                    \
		whose subtree has ≤ BLOCK_MAX file bytes is reported PROBED */
#define WALK_VERIFY                                                                                \
	0x8u /* hash every block it gets again (mh_verify), cached ones too,                       \
		the first time it is seen; a mismatch goes to ops->fail */

struct walk_opts {
	unsigned flags;
	const char *const *only; /* select files by path (a directory path selects what is
				    below it); the manifest's own blocks and the directory
				    nodes on the way are always visited. NULL: everything */
	size_t nonly;
	bool *only_hit;		   /* optional, nonly flags: which selections matched */
	int window;		   /* siblings prefetched ahead; 0 → WALK_WINDOW, < 0 none */
	struct store_get_opts get; /* prio, deadline, interrupt for every get */
};

/* Walk p. Callbacks return 0 to go on; any other value stops the walk and is
 * returned. Returns 0 when the walk is complete (failures reported through
 * ops->fail included), -EFBIG past WALK_MAX_BLOCKS, -ENOMEM, -EINTR, or a
 * callback's value. */
int walk_run(struct store *s, const struct walk_pack *p, const struct walk_opts *o,
	     const struct walk_ops *ops, void *ctx, struct errbuf *e);

/* A set of multihashes (for callers that dedupe on their own). */
struct walk_set;
struct walk_set *walk_set_new(void);
void walk_set_free(struct walk_set *ws);
/* 1 if cid was added, 0 if already present, -ENOMEM / -EFBIG. */
int walk_set_add(struct walk_set *ws, const struct cid *cid);
size_t walk_set_count(const struct walk_set *ws);

#endif
