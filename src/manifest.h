/* manifest: the ModelPack manifest (MODEL_PACK.json), parse and emit. Pure.
 * The format is specified in docs/FORMAT.md. This is the only module that
 * touches cJSON objects for manifests.
 *
 * Parsing accepts what simple publishers write (only `shards` with
 * {filename, cid, sha256}; no `size`, no `modelpack`; `tokenizer` absent) and
 * rejects with a message naming the field and the problem
 * ("shards[2].filename: component \"..\" is not allowed"). Filenames are
 * relative paths: components non-empty, not "." or "..", no NUL, no control
 * characters, no backslash-free tricks, each ≤ 255 bytes, whole ≤ 4096,
 * unique across the pack. Emission uses a stable key order. */
#ifndef MPACK_MANIFEST_H
#define MPACK_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cid.h"
#include "errbuf.h"

#define MANIFEST_MAX_BYTES   (16u << 20) /* larger manifests are refused */
#define MANIFEST_MAX_ENTRIES 100000
#define MANIFEST_VERSION     1

enum mf_role {
	MF_SHARD,
	MF_TOKENIZER,
	MF_FILE,
};

struct mf_entry {
	char *filename; /* owned, validated relative path */
	struct cid cid;
	uint8_t sha256[32];
	bool has_sha256;
	uint64_t size;
	bool has_size;
	int role; /* enum mf_role */
};

struct manifest {
	int modelpack; /* 0 when the field was absent */
	char *name;    /* owned, may be NULL */
	char *version;
	char *format;
	char *license;
	char *config_json;	  /* owned compact JSON text of `config`, or NULL */
	char *provenance_json;	  /* owned compact JSON text of `provenance`, or NULL */
	struct mf_entry *entries; /* shards first (in file order), then tokenizer, then files */
	size_t nentries;
};

/* Parse len bytes of JSON. Returns 0, -EINVAL (message names field and
 * problem), -EFBIG over MANIFEST_MAX_BYTES, -ENOMEM. Caller frees *out with
 * manifest_free. */
int manifest_parse(const char *json, size_t len, struct manifest **out, struct errbuf *e);
void manifest_free(struct manifest *m);

/* Emit m as pretty JSON with a stable key order: modelpack, name, version,
 * format, license, config, shards, tokenizer, files, provenance. Returns a
 * malloc'd NUL-terminated string (caller frees) or NULL on ENOMEM. */
char *manifest_emit(const struct manifest *m);

/* Validate one relative path as the manifest rules require. 0 or -EINVAL. */
int manifest_check_path(const char *path, size_t len, struct errbuf *e);

/* Find an entry by exact filename; NULL if absent. */
const struct mf_entry *manifest_find(const struct manifest *m, const char *filename);

/* "sha256:<64 hex>" parsing/formatting helpers. */
int manifest_parse_sha256(const char *text, uint8_t out[32], struct errbuf *e);
void manifest_format_sha256(const uint8_t sha[32], char out[72]);

#endif
