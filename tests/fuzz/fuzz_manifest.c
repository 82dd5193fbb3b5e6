/* fuzz_manifest: manifest_parse on arbitrary bytes; parse, emit, parse, emit must be stable. */
/* deps: manifest cid multibase varint dynbuf errbuf */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int same_entry(const struct mf_entry *a, const struct mf_entry *b)
{
	return strcmp(a->filename, b->filename) == 0 && cid_mh_equal(&a->cid, &b->cid) &&
	       a->cid.codec == b->cid.codec && a->cid.version == b->cid.version &&
	       a->has_sha256 == b->has_sha256 &&
	       (!a->has_sha256 || memcmp(a->sha256, b->sha256, 32) == 0) &&
	       a->has_size == b->has_size && (!a->has_size || a->size == b->size) &&
	       a->role == b->role;
}

static int same_manifest(const struct manifest *a, const struct manifest *b)
{
	size_t i;

	if (a->modelpack != b->modelpack || a->nentries != b->nentries ||
	    !same_str(a->name, b->name) || !same_str(a->version, b->version) ||
	    !same_str(a->format, b->format) || !same_str(a->license, b->license) ||
	    !same_str(a->config_json, b->config_json) ||
	    !same_str(a->provenance_json, b->provenance_json))
		return 0;
	for (i = 0; i < a->nentries; i++) {
		if (!same_entry(&a->entries[i], &b->entries[i]))
			return 0;
		if (manifest_find(b, a->entries[i].filename) != &b->entries[i])
			abort(); /* filenames are unique, so find returns this entry */
	}
	return 1;
}

static void roundtrip(const struct manifest *m)
{
	struct manifest *m2 = NULL;
	struct errbuf e = {""};
	char *a, *b;

	a = manifest_emit(m);
	if (!a)
		abort();
	if (manifest_parse(a, strlen(a), &m2, &e) != 0)
		abort(); /* emitted text must parse */
	b = manifest_emit(m2);
	if (!b || strcmp(a, b) != 0 || !same_manifest(m, m2))
		abort();
	free(a);
	free(b);
	manifest_free(m2);
}

static void sha_roundtrip(const uint8_t *data, size_t size)
{
	char text[80], out[72];
	uint8_t sha[32], sha2[32];

	if (size >= sizeof(text))
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	if (manifest_parse_sha256(text, sha, NULL) != 0)
		return;
	manifest_format_sha256(sha, out);
	if (manifest_parse_sha256(out, sha2, NULL) != 0 || memcmp(sha, sha2, 32) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest *m = NULL;
	struct errbuf e = {""};
	int rc;

	rc = manifest_parse((const char *)data, size, &m, &e);
	if (rc == 0) {
		if (!m)
			abort();
		roundtrip(m);
		manifest_free(m);
	} else if (m || e.msg[0] == '\0') {
		abort(); /* every failure carries a message and no result */
	}
	if (manifest_check_path((const char *)data, size, &e) == 0 &&
	    (size == 0 || data[0] == '/' || memchr(data, '\0', size)))
		abort();
	sha_roundtrip(data, size);
	return 0;
}
