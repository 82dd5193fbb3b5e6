/* fstree: the mpackfs namespace — nodes, inode numbers and pack loading.
 * No FUSE here: fs.c translates kernel requests into these calls.
 *
 * Layout:
 *   /                      FSTREE_INO_ROOT; lookup of any valid CID text loads
 *                          that pack lazily; readdir lists packs in the cache
 *   /.mpackfs/{stats,version}
 *   /<cid>/...             a ModelPack (manifest CID), a UnixFS directory, or a
 *                          single UnixFS file (shown as a regular file)
 *   /<alias>               symlink to a CID (configured aliases)
 *
 * A ModelPack directory holds one file per manifest entry (nested paths become
 * directories), MODEL_PACK.json (the manifest's own bytes) and config.json
 * rendered from the manifest's `config` when the pack has no such file.
 *
 * Inode numbers are a hash of (pack multihash, path), so they are stable across
 * lookups and remounts. Nodes live until unmount (packs are small and their
 * number grows only with valid, fetchable CIDs).
 *
 * Locking: tree->lock protects the node table, child lists and node fields that
 * change after creation (kids, df, size_known). It is never held across store
 * or network I/O: loaders fetch first, then insert, and losers of a race free
 * their copy. */
#ifndef MPACK_FSTREE_H
#define MPACK_FSTREE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>

#include "cid.h"
#include "dag.h"
#include "errbuf.h"
#include "manifest.h"
#include "store.h"

#define FSTREE_INO_ROOT	   1
#define FSTREE_INO_CTL	   2
#define FSTREE_INO_STATS   3
#define FSTREE_INO_VERSION 4
#define FSTREE_CTL_NAME	   ".mpackfs"

enum fsn_kind {
	FSN_DIR,     /* directory with a static child list (root, ctl, manifest dirs) */
	FSN_UFS_DIR, /* UnixFS directory, children loaded on first use */
	FSN_FILE,    /* UnixFS file content (cid) */
	FSN_MEM,     /* bytes held in memory (MODEL_PACK.json, config.json, version) */
	FSN_STATS,   /* generated on open */
	FSN_SYMLINK,
};

struct fs_pack;

struct fsn {
	uint64_t ino;
	uint64_t parent;
	char *name; /* owned; "" for the root */
	int kind;
	struct fs_pack *pack; /* borrowed; NULL outside packs */
	struct cid cid;	      /* FSN_FILE, FSN_UFS_DIR */
	uint64_t size;	      /* FSN_FILE, FSN_MEM */
	bool size_known;      /* FSN_FILE: from the manifest or the root node */
	bool size_checked;    /* FSN_FILE: manifest size cross-checked with the DAG */
	uint8_t sha256[32];
	bool has_sha256;
	uint8_t *mem; /* FSN_MEM bytes, owned */
	char *link;   /* FSN_SYMLINK target, owned */
	int64_t mtime;
	uint64_t *kids; /* child inode numbers, owned */
	size_t nkids, kids_cap;
	bool kids_loaded;
	struct dag_file *df; /* FSN_FILE, opened on first open(), owned */
	struct fsn *hnext;   /* hash chain */
	/* FSN_FILE passthrough state, protected by fs_pt's lock */
	int pt_backing;	       /* the kernel's backing id while pt_opens > 0 */
	unsigned pt_opens;     /* opens served from the file's copy */
	unsigned cached_opens; /* opens served through us */
	uint8_t pt_copy;       /* fs_pt's copy state */
};

/* Passthrough and cold-direct figures for /.mpackfs/stats, kept by the fs
 * module. */
struct fstree_pt {
	atomic_bool active;		    /* the kernel agreed to passthrough */
	atomic_uint_fast64_t opens, copies; /* opens from a copy; copies made */
	atomic_bool cold_direct;	    /* cold opens bypass the page cache */
	atomic_uint_fast64_t direct_opens;  /* opens answered FOPEN_DIRECT_IO */
	char dir[4096];			    /* the copies directory; "" if none */
};

struct fs_pack {
	struct cid root;
	uint64_t ino;
	struct manifest *m; /* NULL for UnixFS packs */
	char *label;
	int64_t mtime;
	struct fs_pack *next;
};

struct fstree_cfg {
	struct store *store;
	uid_t uid;
	gid_t gid;
	int timeout_ms; /* deadline for loading a pack or a node */
	/* Aliases shown as symlinks in the root: name → CID text. */
	const char *const *alias_names;
	const char *const *alias_cids;
	size_t naliases;
};

struct fstree;

int fstree_new(const struct fstree_cfg *cfg, struct fstree **out, struct errbuf *e);
void fstree_free(struct fstree *t);
struct store *fstree_store(struct fstree *t);
/* The passthrough figures (borrowed until fstree_free). */
struct fstree_pt *fstree_pt(struct fstree *t);

/* Resolve name inside directory parent. On success *out is the child (borrowed
 * until fstree_free). -ENOENT, -ENOTDIR, -EIO, -ETIMEDOUT, -EINTR. o carries
 * the interrupt callback. */
int fstree_lookup(struct fstree *t, uint64_t parent, const char *name,
		  const struct store_get_opts *o, struct fsn **out, struct errbuf *e);

/* Like fstree_lookup, but only among children already loaded: no I/O.
 * 0 with *out set, or -ENOENT. */
int fstree_lookup_loaded(struct fstree *t, uint64_t parent, const char *name, struct fsn **out);

/* The inode number a pack named `name` (CID text) gets when it is looked up. */
uint64_t fstree_pack_ino(const struct cid *root, const char *name);

/* The node for an inode number, or NULL. */
struct fsn *fstree_get(struct fstree *t, uint64_t ino);

/* Fill st for n. May fetch the root block of a file of unknown size. */
int fstree_stat(struct fstree *t, struct fsn *n, const struct store_get_opts *o, struct stat *st,
		struct errbuf *e);

/* Make sure a directory's children are loaded; then *kids (n entries) is a snapshot
 * (malloc'd array of inode numbers, caller frees). */
int fstree_children(struct fstree *t, struct fsn *dir, const struct store_get_opts *o,
		    uint64_t **kids, size_t *n, struct errbuf *e);

/* Open the file's DAG (once per node) and cross-check its size with the
 * manifest: a mismatch is -EIO with a log line. Returns the shared dag_file. */
int fstree_open_file(struct fstree *t, struct fsn *n, const struct store_get_opts *o,
		     struct dag_file **out, struct errbuf *e);

/* Statistics as JSON (malloc'd, caller frees). */
char *fstree_stats_json(struct fstree *t);

/* Fraction of a file's bytes present in the cache, 0..100. -errno on error. */
int fstree_cached_percent(struct fstree *t, struct fsn *n, double *pct);

/* Pack CID text for a node inside a pack ("" outside packs). */
void fstree_pack_cid(const struct fsn *n, char *buf, size_t cap);

#endif
