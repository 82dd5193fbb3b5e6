/* dag: reading UnixFS files and walking directories through the store.
 *
 * A struct dag_file is an opened file DAG: its root node and the internal
 * (non-leaf) nodes fetched so far, kept in memory (a 2 GiB file with 1 MiB
 * leaves has ~3 internal nodes), so mapping an offset to a leaf costs no I/O
 * after the first touch. Leaves are never kept here: they are read through the
 * store (cache views). Balanced and trickle layouts, raw and dag-pb leaves,
 * inline data in interior nodes all work. Thread-safe: many readers may share
 * one dag_file (internal nodes are added under a mutex).
 *
 * Validation: a child's decoded size must equal the parent's blocksize for it,
 * else -EIO ("dag: <cid> child 3 is 1000 bytes, parent says 1024"); depth is
 * capped at DAG_MAX_DEPTH. */
#ifndef MPACK_DAG_H
#define MPACK_DAG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cid.h"
#include "errbuf.h"
#include "store.h"
#include "unixfs.h"

#define DAG_MAX_DEPTH 32

struct dag_file;

/* Fetch and parse the root. -EISDIR if it is a directory, -EINVAL for a
 * symlink or malformed node. */
int dag_file_open(struct store *s, const struct cid *root, const struct store_get_opts *o,
		  struct dag_file **out, struct errbuf *e);
void dag_file_free(struct dag_file *f);
uint64_t dag_file_size(const struct dag_file *f);
const struct cid *dag_file_cid(const struct dag_file *f);

/* A piece of file content inside one leaf block. */
struct dag_extent {
	struct cid leaf;	/* the block holding the bytes */
	uint64_t file_off;	/* where the leaf's content starts in the file */
	uint64_t leaf_data_off; /* offset of the content inside the leaf block
				   (0 for raw leaves; dag-pb leaves wrap it) */
	uint64_t len;		/* content bytes in this leaf */
	int inline_data;	/* content is inline data of an internal node */
};

/* The leaves covering [off, off+len) in order, at most max of them. Fetches
 * internal nodes as needed (with o). Returns the number of extents written,
 * or -errno. */
int dag_file_extents(struct dag_file *f, uint64_t off, uint64_t len, struct dag_extent *out,
		     size_t max, const struct store_get_opts *o, struct errbuf *e);

/* Read [off, off+len) into dst. Returns bytes read (short only at EOF) or
 * -errno. Every byte comes from a verified block. */
ssize_t dag_file_read(struct dag_file *f, uint64_t off, size_t len, void *dst,
		      const struct store_get_opts *o, struct errbuf *e);

/* Copy len bytes of extent x's content, starting skip bytes into it, into
 * dst: one leaf read without walking the DAG again (added for `mpack cat`,
 * which gets the extents once and reads them in order). The leaf comes through
 * the store, verified; a raw leaf whose length is not x->len, or a range
 * outside the extent, is -EIO. x must come from dag_file_extents on f. */
int dag_extent_read(struct dag_file *f, const struct dag_extent *x, uint64_t skip, size_t len,
		    void *dst, const struct store_get_opts *o, struct errbuf *e);

/* Directory listing (flat or HAMT-sharded): calls fn for each entry with its
 * name, CID and link Tsize; stops if fn returns non-zero (that value is
 * returned). Names containing '/' or NUL, "." and ".." are skipped with a
 * warning (hostile directories). */
typedef int (*dag_dirent_fn)(void *ctx, const char *name, const struct cid *cid, uint64_t tsize);
int dag_dir_list(struct store *s, const struct cid *dir, const struct store_get_opts *o,
		 dag_dirent_fn fn, void *ctx, struct errbuf *e);

/* Look up one name in a directory (HAMT lookups follow only the needed
 * shards). -ENOENT if absent, -ENOTDIR if dir is not a directory. */
int dag_dir_lookup(struct store *s, const struct cid *dir, const char *name,
		   const struct store_get_opts *o, struct cid *out, struct errbuf *e);

/* Resolve "CID[/a/b/c]": through UnixFS directories, and through a ModelPack
 * manifest (a file whose bytes parse as a manifest) by filename. Writes the
 * target CID. */
int dag_resolve(struct store *s, const char *path, const struct store_get_opts *o, struct cid *out,
		struct errbuf *e);

/* Fetch a whole small file (≤ cap bytes) into a malloc'd buffer (manifests). */
int dag_file_slurp(struct store *s, const struct cid *root, size_t cap,
		   const struct store_get_opts *o, uint8_t **out, size_t *len, struct errbuf *e);

#endif
