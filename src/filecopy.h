/* filecopy: verified, contiguous copies of fully cached files, the backing
 * files of FUSE passthrough (see fs_pt.c).
 *
 * A copy is <dir>/<file root CID>: the file's bytes in order, nothing else.
 * It is made only when every leaf of the file is local (cache or CAR). Each
 * leaf is hashed again against its CID while it is copied, the copy is written
 * under a temporary name, fdatasync'd, then renamed: a file at its final name
 * is complete and verified, also after a crash. Copies are bounded by a byte
 * budget: making one first removes the least recently used others (mtime,
 * which filecopy_open refreshes).
 *
 * Thread-safe: no shared state. Two makers of one file race on the rename and
 * both copies are identical. */
#ifndef MPACK_FILECOPY_H
#define MPACK_FILECOPY_H

#include <stdbool.h>
#include <stdint.h>

#include "cid.h"
#include "dag.h"
#include "errbuf.h"
#include "store.h"

#define FILECOPY_SUBDIR "copies" /* inside the cache directory */

/* The copies directory of a cache directory, written into buf (NUL-terminated).
 * -ENAMETOOLONG if it does not fit. */
int filecopy_dir(const char *cache_dir, char *buf, size_t cap);

/* Open root's copy read-only and mark it used. Returns an fd (caller closes),
 * -ENOENT if there is none, -EIO if its size is not `size` (the bad copy is
 * removed, with a log line). */
int filecopy_open(const char *dir, const struct cid *root, uint64_t size);

/* Make df's copy in dir (created if missing) unless it exists, from local
 * blocks only: it never fetches. stop (may be
 * NULL) is polled between leaves; non-zero gives up with -ECANCELED.
 * Returns 0 (made or present); -EAGAIN a leaf is not local; -EFBIG the file is
 * larger than budget; -EIO a leaf failed verification (why in e); -ECANCELED;
 * or -errno from the disk (why in e). Nothing is left behind on failure. */
int filecopy_make(struct store *s, struct dag_file *df, const char *dir, uint64_t budget,
		  int (*stop)(void *ctx), void *ctx, struct errbuf *e);

/* Remove every copy (and leftover temporary files) in dir. Returns the number
 * removed, or -errno. A missing dir is 0. */
int filecopy_clear(const char *dir);

/* Total bytes of the copies in dir (0 if none or missing). */
uint64_t filecopy_bytes(const char *dir);

#endif
