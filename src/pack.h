/* pack: turn a model directory into a ModelPack: SHA256SUMS, the UnixFS
 * directory CID, the manifest (MODEL_PACK.json) and its CID, optionally one
 * CARv1 holding every block, rooted at the manifest CID.
 *
 * The walk is `ipfs add -r DIR`'s: entries in bytewise name order, hidden
 * names (leading '.') skipped, empty directories kept, symlinks stored as
 * UnixFS symlinks (never followed, never manifest entries); other non-regular
 * files are skipped with a warning. The top-level names MODEL_PACK.json,
 * SHA256SUMS (and their ".tmp" siblings) are outputs and are never walked;
 * nor are the --out and --car files wherever they are. SHA256SUMS is
 * generated, written to DIR and added to the top-level directory node, so the
 * directory CID covers every walked file plus SHA256SUMS.
 *
 * Each file is read once in large pieces; the same bytes feed the importer and
 * a whole-file sha256. Memory is O(chunk size + tree depth * max links) per
 * file plus a small record per file and 40 bytes per distinct block.
 *
 * Manifest: modelpack 1; name (default DIR's basename); version if given;
 * format guessed from the shards (gguf, safetensors, pytorch); config = the
 * top-level config.json object if it parses; shards = *.safetensors *.gguf
 * *.bin *.pt *.pth at any depth in natural path order; tokenizer = top-level
 * tokenizer.json; files = everything else but SHA256SUMS, in path order;
 * provenance {tool, created, directory, chunker, layout, max_links,
 * cid_version, raw_leaves}. `created` is SOURCE_DATE_EPOCH when set, else
 * now. The manifest bytes are imported as a file with the same parameters:
 * that CID is the manifest CID. Outputs are written to FILE.tmp, then renamed. */
#ifndef MPACK_PACK_H
#define MPACK_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cid.h"
#include "errbuf.h"
#include "importer.h"

#define PACK_MANIFEST_NAME "MODEL_PACK.json"
#define PACK_SUMS_NAME	   "SHA256SUMS"
#define PACK_DEPTH_MAX	   128	      /* deeper trees are refused (-ELOOP) */
#define PACK_CONFIG_MAX	   (1u << 20) /* larger config.json is left out of the manifest */

/* Role of a packed file. */
enum pack_role {
	PACK_SHARD,	/* weights: manifest "shards" */
	PACK_TOKENIZER, /* top-level tokenizer.json */
	PACK_FILE,	/* manifest "files" */
	PACK_SUMS,	/* the generated SHA256SUMS (not a manifest entry) */
};

struct pack_opts {
	struct imp_params imp; /* checked with imp_params_check */
	const char *name;      /* NULL: basename of the directory */
	const char *version;   /* NULL: no "version" field */
	const char *out_path;  /* NULL: DIR/MODEL_PACK.json */
	const char *car_path;  /* NULL: no CAR; else must be (or become) a regular file */
};

struct pack_file {
	char *path; /* owned; relative to DIR, '/'-separated */
	struct cid cid;
	uint8_t sha256[32];
	uint64_t size;
	int role; /* enum pack_role */
};

struct pack_result {
	struct cid manifest_cid;
	struct cid dir_cid;
	char *manifest_path;	 /* owned */
	char *car_path;		 /* owned; NULL without a CAR */
	struct pack_file *files; /* owned; in path order (SHA256SUMS among them) */
	size_t nfiles;
	uint64_t blocks; /* distinct blocks (what the CAR holds) */
	uint64_t bytes;	 /* their total length */
};

/* Called once per file as soon as it is imported (walk order); f is borrowed
 * for the call. May be NULL. */
typedef void (*pack_progress_fn)(void *ctx, const struct pack_file *f);

/* Pack dir. Returns 0 and *out (free with pack_result_free), or -errno with
 * "<path>: <reason>" in e: -ENOENT/-ENOTDIR/-EACCES/-EIO for the directory,
 * a file or an output (-ENOENT also when there is no file to pack); -EINVAL for bad parameters or a
 * path the manifest rules refuse; -ELOOP past PACK_DEPTH_MAX; -ENOTSUP for a directory too large
 * for a flat node; -ENOMEM. On failure no output is left half-written (temp
 * files are removed; SHA256SUMS may already have been replaced). */
int pack_run(const char *dir, const struct pack_opts *o, pack_progress_fn fn, void *ctx,
	     struct pack_result **out, struct errbuf *e);
void pack_result_free(struct pack_result *r);

/* "shard" "tokenizer" "file" "sha256sums". */
const char *pack_role_name(int role);

/* True if a relative path names a weight file (by extension). */
bool pack_is_shard(const char *path);

/* Natural order: digit runs compare by value ("a-2" < "a-10"), then bytewise. */
int pack_natural_cmp(const char *a, const char *b);

#endif
