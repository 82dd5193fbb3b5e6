/* fstree_int: internals shared by fstree.c (nodes) and fstree_pack.c (loading). */
#ifndef MPACK_FSTREE_INT_H
#define MPACK_FSTREE_INT_H

#include "fstree.h"

#define FSTREE_HASH_BUCKETS 4096
#define FSTREE_INO_FIRST    16

struct fstree {
	pthread_mutex_t lock; /* protects everything below and node fields after creation */
	struct fsn *buckets[FSTREE_HASH_BUCKETS];
	size_t nnodes;
	struct fs_pack *packs;
	struct fstree_cfg cfg;
	int64_t mount_time;
	struct fstree_pt pt;
};

uint64_t fst_ino_for(const struct cid *pack, const char *path);
struct fsn *fst_find_locked(struct fstree *t, uint64_t ino);
struct fsn *fst_node_new(int kind, const char *name, uint64_t parent, struct fs_pack *p);
void fst_node_free(struct fsn *n);
void fst_insert_locked(struct fstree *t, struct fsn *n, uint64_t want);
int fst_kid_add(struct fsn *dir, uint64_t ino);
struct fsn *fst_kid_find_locked(struct fstree *t, struct fsn *dir, const char *name);
struct fsn *fst_add_child_locked(struct fstree *t, struct fsn *dir, int kind, const char *name,
				 const char *path);
void fst_opts_with_deadline(const struct fstree *t, const struct store_get_opts *in,
			    struct store_get_opts *out);
int64_t fst_manifest_mtime(const struct manifest *m, int64_t fallback);

#endif
