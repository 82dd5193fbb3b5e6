/* manifest: parse, validate and emit the ModelPack manifest (MODEL_PACK.json, docs/FORMAT.md). */
#include "manifest.h"

#include "dynbuf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MF_MAX_STR	 1024		    /* name, version, format, license */
#define MF_MAX_PATH	 4096		    /* whole filename */
#define MF_MAX_COMPONENT 255		    /* one path component */
#define MF_MAX_SIZE	 9007199254740991.0 /* 2^53 - 1: every integer up to it is exact */
#define MF_MAX_EMIT	 (4 * (size_t)MANIFEST_MAX_BYTES) /* emitted text */
#define MF_RESERVED_FILE "MODEL_PACK.json"
#define MF_RESERVED_DIR	 ".mpackfs"

enum {
	K_MODELPACK,
	K_NAME,
	K_VERSION,
	K_FORMAT,
	K_LICENSE,
	K_CONFIG,
	K_SHARDS,
	K_TOKENIZER,
	K_FILES,
	K_PROVENANCE,
	K_COUNT
};
static const char *const mf_top_keys[K_COUNT] = {
    "modelpack", "name",   "version",	"format", "license",
    "config",	 "shards", "tokenizer", "files",  "provenance",
};

enum { E_FILENAME, E_CID, E_SHA256, E_SIZE, E_COUNT };
static const char *const mf_entry_keys[E_COUNT] = {"filename", "cid", "sha256", "size"};

/* Length of the valid UTF-8 sequence at s (n > 0 bytes available), or 0 if invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t mf_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	uint32_t cp, min;
	size_t need, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1, cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		need = 2, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n <= need)
		return 0;
	for (i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need + 1;
}

static int mf_check_component(const unsigned char *c, size_t n, size_t off, struct errbuf *e)
{
	if (n == 0)
		return err_set(e, -EINVAL, "empty component at byte %zu (\"//\")", off);
	if (n == 1 && c[0] == '.')
		return err_set(e, -EINVAL, "component \".\" is not allowed");
	if (n == 2 && c[0] == '.' && c[1] == '.')
		return err_set(e, -EINVAL, "component \"..\" is not allowed");
	if (n > MF_MAX_COMPONENT)
		return err_set(e, -EINVAL,
			       "component at byte %zu is %zu bytes, over the limit of %d", off, n,
			       MF_MAX_COMPONENT);
	return 0;
}

int manifest_check_path(const char *path, size_t len, struct errbuf *e)
{
	const unsigned char *p = (const unsigned char *)path;
	size_t i = 0, start = 0, n;
	int rc;

	if (!path || len == 0)
		return err_set(e, -EINVAL, "empty path");
	if (len > MF_MAX_PATH)
		return err_set(e, -EINVAL, "path is %zu bytes, over the limit of %d", len,
			       MF_MAX_PATH);
	if (p[0] == '/')
		return err_set(e, -EINVAL, "absolute path (leading '/'); paths are relative");
	while (i < len) {
		if (p[i] == 0)
			return err_set(e, -EINVAL, "NUL byte at %zu", i);
		if (p[i] < 0x20 || p[i] == 0x7f)
			return err_set(e, -EINVAL, "control character 0x%02x at byte %zu", p[i], i);
		if (p[i] == '\\')
			return err_set(e, -EINVAL, "backslash at byte %zu is not allowed", i);
		if (p[i] == '/') {
			if (i + 1 == len)
				return err_set(e, -EINVAL, "trailing '/'");
			rc = mf_check_component(p + start, i - start, start, e);
			if (rc)
				return rc;
			start = ++i;
			continue;
		}
		n = mf_utf8_len(p + i, len - i);
		if (!n)
			return err_set(e, -EINVAL, "invalid UTF-8 at byte %zu", i);
		i += n;
	}
	return mf_check_component(p + start, len - start, start, e);
}

int manifest_parse_sha256(const char *text, uint8_t out[32], struct errbuf *e)
{
	static const char pfx[] = "sha256:";
	uint8_t tmp[32];
	size_t off = 0, len, i;
	unsigned char c;
	int v;

	if (!text)
		return err_set(e, -EINVAL, "sha256: missing");
	if (strncmp(text, pfx, sizeof(pfx) - 1) == 0)
		off = sizeof(pfx) - 1;
	len = strlen(text + off);
	if (len != 64)
		return err_set(e, -EINVAL,
			       "sha256: expected \"sha256:\" and 64 hex digits, got %zu characters "
			       "after the prefix",
			       len);
	for (i = 0; i < 64; i++) {
		c = (unsigned char)text[off + i];
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v = (c | 0x20) - 'a' + 10;
		else if (c > 0x20 && c < 0x7f)
			return err_set(e, -EINVAL, "sha256: bad hex digit '%c' at %zu", c, off + i);
		else
			return err_set(e, -EINVAL, "sha256: bad hex digit 0x%02x at %zu", c,
				       off + i);
		if (i % 2 == 0)
			tmp[i / 2] = (uint8_t)(v << 4);
		else
			tmp[i / 2] |= (uint8_t)v;
	}
	memcpy(out, tmp, sizeof(tmp));
	return 0;
}

void manifest_format_sha256(const uint8_t sha[32], char out[72])
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	memcpy(out, "sha256:", 7);
	for (i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[sha[i] >> 4];
		out[8 + 2 * i] = hex[sha[i] & 15];
	}
	out[71] = '\0';
}

void manifest_free(struct manifest *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->nentries; i++)
		free(m->entries[i].filename);
	free(m->entries);
	free(m->name);
	free(m->version);
	free(m->format);
	free(m->license);
	free(m->config_json);
	free(m->provenance_json);
	free(m);
}

const struct mf_entry *manifest_find(const struct manifest *m, const char *filename)
{
	size_t i;

	if (!m || !filename)
		return NULL;
	for (i = 0; i < m->nentries; i++)
		if (strcmp(m->entries[i].filename, filename) == 0)
			return &m->entries[i];
	return NULL;
}

/* ---- parsing ---- */

struct mf_ctx {
	struct manifest *m;
	size_t nshards, ntok; /* entries [0, nshards) are shards, then ntok tokenizers */
	struct errbuf *e;
};

static bool mf_present(const cJSON *j)
{
	return j && !cJSON_IsNull(j);
}

/* The label of entry i for messages: "shards[3]", "tokenizer", "files[0]". */
static const char *mf_label(const struct mf_ctx *c, size_t i, char *buf, size_t cap)
{
	if (i < c->nshards)
		snprintf(buf, cap, "shards[%zu]", i);
	else if (i < c->nshards + c->ntok)
		snprintf(buf, cap, "tokenizer");
	else
		snprintf(buf, cap, "files[%zu]", i - c->nshards - c->ntok);
	return buf;
}

/* Sort the members of obj into slots by name; a known key twice is an error (JSON
 * parsers disagree on which one wins). Unknown keys are ignored. */
static int mf_collect(const cJSON *obj, const char *const *names, size_t n, const cJSON **slots,
		      const char *where, struct errbuf *e)
{
	const cJSON *it;
	size_t k;

	for (it = obj->child; it; it = it->next) {
		if (!it->string)
			continue;
		for (k = 0; k < n; k++)
			if (strcmp(it->string, names[k]) == 0)
				break;
		if (k == n)
			continue;
		if (slots[k])
			return err_set(e, -EINVAL, "%s: duplicate key \"%s\"", where, names[k]);
		slots[k] = it;
	}
	return 0;
}

/* Bytes of a free-text field: valid UTF-8, no control characters. */
static int mf_check_text(const char *field, const char *s, size_t len, struct errbuf *e)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	while (i < len) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return err_set(e, -EINVAL, "%s: control character 0x%02x at byte %zu",
				       field, p[i], i);
		n = mf_utf8_len(p + i, len - i);
		if (!n)
			return err_set(e, -EINVAL, "%s: invalid UTF-8 at byte %zu", field, i);
		i += n;
	}
	return 0;
}

static int mf_get_str(const cJSON *j, const char *field, char **out, struct errbuf *e)
{
	size_t len;
	int rc;

	if (!mf_present(j))
		return 0;
	if (!cJSON_IsString(j) || !j->valuestring)
		return err_set(e, -EINVAL, "%s: must be a string", field);
	len = strlen(j->valuestring);
	if (len > MF_MAX_STR)
		return err_set(e, -EINVAL, "%s: %zu bytes, over the limit of %d", field, len,
			       MF_MAX_STR);
	rc = mf_check_text(field, j->valuestring, len, e);
	if (rc)
		return rc;
	*out = strdup(j->valuestring);
	return *out ? 0 : err_set(e, -ENOMEM, "manifest: out of memory");
}

/* An object member stored as compact JSON text. */
static int mf_get_obj(const cJSON *j, const char *field, char **out, struct errbuf *e)
{
	char *text;

	if (!mf_present(j))
		return 0;
	if (!cJSON_IsObject(j))
		return err_set(e, -EINVAL, "%s: must be an object", field);
	text = cJSON_PrintUnformatted(j);
	if (text)
		*out = strdup(text);
	cJSON_free(text);
	return *out ? 0 : err_set(e, -ENOMEM, "manifest: out of memory");
}

/* A JSON number that is an integer in [0, 2^53 - 1]. */
static bool mf_is_uint(double d)
{
	return d >= 0 && d <= MF_MAX_SIZE && (double)(uint64_t)d == d;
}

static int mf_get_modelpack(const cJSON *j, int *out, struct errbuf *e)
{
	if (!mf_present(j))
		return 0;
	if (!cJSON_IsNumber(j) || !mf_is_uint(j->valuedouble) || j->valuedouble < 1)
		return err_set(e, -EINVAL, "modelpack: must be the integer %d", MANIFEST_VERSION);
	if (j->valuedouble > MANIFEST_VERSION)
		return err_set(e, -EINVAL,
			       "modelpack: version %.15g is not supported (this mpack reads %d)",
			       j->valuedouble, MANIFEST_VERSION);
	*out = MANIFEST_VERSION;
	return 0;
}

static int mf_get_size(const cJSON *j, const char *where, struct mf_entry *out, struct errbuf *e)
{
	double d;

	if (!mf_present(j))
		return 0;
	if (!cJSON_IsNumber(j))
		return err_set(e, -EINVAL, "%s.size: must be a number", where);
	d = j->valuedouble;
	if (d < 0)
		return err_set(e, -EINVAL, "%s.size: must not be negative", where);
	if (!(d <= MF_MAX_SIZE))
		return err_set(e, -EINVAL, "%s.size: larger than 2^53 - 1 (9007199254740991)",
			       where);
	if ((double)(uint64_t)d != d)
		return err_set(e, -EINVAL, "%s.size: must be an integer", where);
	out->size = (uint64_t)d;
	out->has_size = true;
	return 0;
}

static int mf_get_filename(const cJSON *j, const char *where, const char **out, struct errbuf *e)
{
	const char *s;
	size_t len;
	int rc;

	if (!mf_present(j))
		return err_set(e, -EINVAL, "%s.filename: missing", where);
	if (!cJSON_IsString(j) || !j->valuestring)
		return err_set(e, -EINVAL, "%s.filename: must be a string", where);
	s = j->valuestring;
	len = strlen(s);
	rc = manifest_check_path(s, len, e);
	if (rc)
		return err_prefix(e, rc, "%s.filename", where);
	if (strcmp(s, MF_RESERVED_FILE) == 0)
		return err_set(e, -EINVAL,
			       "%s.filename: \"%s\" is a reserved name (the mount shows the "
			       "manifest itself there)",
			       where, MF_RESERVED_FILE);
	if (strncmp(s, MF_RESERVED_DIR, sizeof(MF_RESERVED_DIR) - 1) == 0 &&
	    (s[sizeof(MF_RESERVED_DIR) - 1] == '\0' || s[sizeof(MF_RESERVED_DIR) - 1] == '/'))
		return err_set(e, -EINVAL, "%s.filename: \"%s\" is a reserved name", where,
			       MF_RESERVED_DIR);
	*out = s;
	return 0;
}

static int mf_get_cid(const cJSON *j, const char *where, struct cid *out, struct errbuf *e)
{
	int rc;

	if (!mf_present(j))
		return err_set(e, -EINVAL, "%s.cid: missing", where);
	if (!cJSON_IsString(j) || !j->valuestring)
		return err_set(e, -EINVAL, "%s.cid: must be a string", where);
	rc = cid_parse(j->valuestring, strlen(j->valuestring), out, e);
	if (rc)
		return err_prefix(e, rc, "%s.cid", where);
	if (out->codec != CID_CODEC_RAW && out->codec != CID_CODEC_DAG_PB)
		return err_set(e, -EINVAL,
			       "%s.cid: codec 0x%" PRIx64
			       " cannot hold a file (need raw or dag-pb)",
			       where, out->codec);
	return 0;
}

static int mf_parse_entry(const cJSON *j, const char *where, int role, struct mf_entry *out,
			  struct errbuf *e)
{
	const cJSON *k[E_COUNT] = {0};
	const char *name = NULL;
	int rc;

	if (!cJSON_IsObject(j))
		return err_set(e, -EINVAL, "%s: must be an object", where);
	rc = mf_collect(j, mf_entry_keys, E_COUNT, k, where, e);
	if (!rc)
		rc = mf_get_filename(k[E_FILENAME], where, &name, e);
	if (!rc)
		rc = mf_get_cid(k[E_CID], where, &out->cid, e);
	if (!rc && mf_present(k[E_SHA256])) {
		if (!cJSON_IsString(k[E_SHA256]) || !k[E_SHA256]->valuestring)
			return err_set(e, -EINVAL, "%s.sha256: must be a string", where);
		rc = manifest_parse_sha256(k[E_SHA256]->valuestring, out->sha256, e);
		if (rc)
			return err_prefix(e, rc, "%s.sha256", where);
		out->has_sha256 = true;
	}
	if (!rc)
		rc = mf_get_size(k[E_SIZE], where, out, e);
	if (rc)
		return rc;
	out->role = role;
	out->filename = strdup(name);
	return out->filename ? 0 : err_set(e, -ENOMEM, "manifest: out of memory");
}

/* Parse the entries of one list (or the single tokenizer) onto the end of m->entries. */
static int mf_parse_list(struct mf_ctx *c, const cJSON *j, const char *field, int role)
{
	struct manifest *m = c->m;
	const cJSON *it;
	char where[48];
	size_t i = 0;
	int rc;

	if (role == MF_TOKENIZER) {
		snprintf(where, sizeof(where), "%s", field);
		rc = mf_parse_entry(j, where, role, &m->entries[m->nentries], c->e);
		if (!rc)
			m->nentries++;
		return rc;
	}
	cJSON_ArrayForEach(it, j)
	{
		snprintf(where, sizeof(where), "%s[%zu]", field, i++);
		rc = mf_parse_entry(it, where, role, &m->entries[m->nentries], c->e);
		if (rc)
			return rc;
		m->nentries++;
	}
	return 0;
}

/* Check the shapes of shards/tokenizer/files, count and allocate the entries. */
static int mf_alloc_entries(struct mf_ctx *c, const cJSON **k)
{
	const cJSON *sh = k[K_SHARDS], *tok = k[K_TOKENIZER], *fl = k[K_FILES];
	size_t nfiles = 0, total;

	if (!mf_present(sh))
		return err_set(c->e, -EINVAL, "shards: missing (required)");
	if (!cJSON_IsArray(sh))
		return err_set(c->e, -EINVAL, "shards: must be an array");
	if (mf_present(tok) && !cJSON_IsObject(tok))
		return err_set(c->e, -EINVAL, "tokenizer: must be an object");
	if (mf_present(fl) && !cJSON_IsArray(fl))
		return err_set(c->e, -EINVAL, "files: must be an array");
	c->nshards = (size_t)cJSON_GetArraySize(sh);
	c->ntok = mf_present(tok) ? 1 : 0;
	if (mf_present(fl))
		nfiles = (size_t)cJSON_GetArraySize(fl);
	if (c->nshards == 0 && nfiles == 0)
		return err_set(c->e, -EINVAL,
			       "shards: must not be empty (unless files lists at least one entry)");
	total = c->nshards + c->ntok + nfiles;
	if (total > MANIFEST_MAX_ENTRIES)
		return err_set(c->e, -EINVAL, "manifest: %zu entries, over the limit of %d", total,
			       MANIFEST_MAX_ENTRIES);
	c->m->entries = calloc(total, sizeof(*c->m->entries));
	if (!c->m->entries)
		return err_set(c->e, -ENOMEM, "manifest: out of memory");
	return 0;
}

/* Path order in which '/' sorts before every other byte, so that "a/…" directly
 * follows "a" and a file/directory clash shows up between neighbours. */
static int mf_path_cmp(const void *pa, const void *pb)
{
	const struct mf_entry *a = *(const struct mf_entry *const *)pa;
	const struct mf_entry *b = *(const struct mf_entry *const *)pb;
	const unsigned char *x = (const unsigned char *)a->filename;
	const unsigned char *y = (const unsigned char *)b->filename;
	int kx, ky;

	while (*x && *x == *y)
		x++, y++;
	kx = *x == '/' ? 1 : *x ? *x + 1 : 0;
	ky = *y == '/' ? 1 : *y ? *y + 1 : 0;
	if (kx != ky)
		return kx - ky;
	return (a > b) - (a < b); /* equal names: file order */
}

static int mf_check_pair(const struct mf_ctx *c, const struct mf_entry *a, const struct mf_entry *b)
{
	const struct mf_entry *first = a < b ? a : b, *second = a < b ? b : a;
	char l1[48], l2[48];
	size_t la = strlen(a->filename);

	mf_label(c, (size_t)(first - c->m->entries), l1, sizeof(l1));
	mf_label(c, (size_t)(second - c->m->entries), l2, sizeof(l2));
	if (strcmp(a->filename, b->filename) == 0)
		return err_set(c->e, -EINVAL, "%s.filename: duplicate of %s.filename \"%.200s\"",
			       l2, l1, first->filename);
	if (strncmp(a->filename, b->filename, la) == 0 && b->filename[la] == '/')
		return err_set(c->e, -EINVAL,
			       "%s.filename: \"%.150s\" conflicts with %s.filename \"%.150s\" (a "
			       "file cannot also be a directory)",
			       l2, second->filename, l1, first->filename);
	return 0;
}

/* Filenames are unique, and no filename is a directory prefix of another. */
static int mf_check_tree(const struct mf_ctx *c)
{
	const struct manifest *m = c->m;
	const struct mf_entry **v;
	size_t i;
	int rc = 0;

	if (m->nentries < 2)
		return 0;
	v = malloc(m->nentries * sizeof(*v));
	if (!v)
		return err_set(c->e, -ENOMEM, "manifest: out of memory");
	for (i = 0; i < m->nentries; i++)
		v[i] = &m->entries[i];
	qsort(v, m->nentries, sizeof(*v), mf_path_cmp);
	for (i = 0; i + 1 < m->nentries && !rc; i++)
		rc = mf_check_pair(c, v[i], v[i + 1]);
	free(v);
	return rc;
}

/* Validate a JSON number token (cJSON accepts "+1", "01", ".5", "1."). Returns its length
 * or 0 when malformed. */
static size_t mf_number_len(const char *s, size_t n)
{
	size_t i = 0, d;

	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (i < n && s[i] >= '1' && s[i] <= '9')
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return 0;
	if (i < n && s[i] == '.') {
		for (d = ++i; i < n && s[i] >= '0' && s[i] <= '9';)
			i++;
		if (i == d)
			return 0;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		if (++i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (d = i; i < n && s[i] >= '0' && s[i] <= '9';)
			i++;
		if (i == d)
			return 0;
	}
	return i;
}

/* What cJSON lets through but RFC 8259 forbids, plus "\u0000" (cJSON truncates the string
 * there): runs over a document cJSON already parsed, so strings are well delimited. */
static int mf_scan_json(const char *s, size_t len, struct errbuf *e)
{
	const unsigned char *p = (const unsigned char *)s;
	bool in_str = false;
	size_t i = 0, n;

	while (i < len) {
		if (in_str && p[i] == '\\') {
			if (i + 5 < len && p[i + 1] == 'u' && memcmp(p + i + 2, "0000", 4) == 0)
				return err_set(
				    e, -EINVAL,
				    "manifest: \\u0000 escape at byte %zu is not allowed", i);
			i += 2;
			continue;
		}
		if (p[i] < 0x20 &&
		    (in_str || (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')))
			return err_set(
			    e, -EINVAL,
			    "manifest: invalid JSON: raw control character 0x%02x at byte %zu",
			    p[i], i);
		if (p[i] == '"')
			in_str = !in_str;
		if (!in_str &&
		    (p[i] == '-' || p[i] == '+' || p[i] == '.' || (p[i] >= '0' && p[i] <= '9'))) {
			n = mf_number_len(s + i, len - i);
			if (!n || (i + n < len && strchr("+-.eE0123456789", p[i + n])))
				return err_set(e, -EINVAL,
					       "manifest: invalid JSON number at byte %zu", i);
			i += n;
			continue;
		}
		n = mf_utf8_len(p + i, len - i);
		if (!n)
			return err_set(e, -EINVAL, "manifest: invalid UTF-8 at byte %zu", i);
		i += n;
	}
	return 0;
}

static int mf_parse_tree(struct mf_ctx *c, const cJSON *root)
{
	const cJSON *k[K_COUNT] = {0};
	struct manifest *m = c->m;
	struct errbuf *e = c->e;
	int rc;

	if (!cJSON_IsObject(root))
		return err_set(e, -EINVAL, "manifest: top level must be a JSON object");
	rc = mf_collect(root, mf_top_keys, K_COUNT, k, "manifest", e);
	if (!rc)
		rc = mf_get_modelpack(k[K_MODELPACK], &m->modelpack, e);
	if (!rc)
		rc = mf_get_str(k[K_NAME], "name", &m->name, e);
	if (!rc)
		rc = mf_get_str(k[K_VERSION], "version", &m->version, e);
	if (!rc)
		rc = mf_get_str(k[K_FORMAT], "format", &m->format, e);
	if (!rc)
		rc = mf_get_str(k[K_LICENSE], "license", &m->license, e);
	if (!rc)
		rc = mf_get_obj(k[K_CONFIG], "config", &m->config_json, e);
	if (!rc)
		rc = mf_get_obj(k[K_PROVENANCE], "provenance", &m->provenance_json, e);
	if (!rc)
		rc = mf_alloc_entries(c, k);
	if (!rc)
		rc = mf_parse_list(c, k[K_SHARDS], "shards", MF_SHARD);
	if (!rc && c->ntok)
		rc = mf_parse_list(c, k[K_TOKENIZER], "tokenizer", MF_TOKENIZER);
	if (!rc && mf_present(k[K_FILES]))
		rc = mf_parse_list(c, k[K_FILES], "files", MF_FILE);
	if (!rc)
		rc = mf_check_tree(c);
	return rc;
}

int manifest_parse(const char *json, size_t len, struct manifest **out, struct errbuf *e)
{
	struct mf_ctx c = {.e = e};
	const char *end = NULL;
	cJSON *root = NULL;
	char *buf;
	int rc;

	*out = NULL;
	if (len > MANIFEST_MAX_BYTES)
		return err_set(e, -EFBIG, "manifest: %zu bytes, over the limit of %u", len,
			       MANIFEST_MAX_BYTES);
	if (len && memchr(json, '\0', len))
		return err_set(e, -EINVAL, "manifest: NUL byte at %zu",
			       (size_t)((const char *)memchr(json, '\0', len) - json));
	buf = malloc(len + 1);
	c.m = calloc(1, sizeof(*c.m));
	if (!buf || !c.m) {
		rc = err_set(e, -ENOMEM, "manifest: out of memory");
		goto out;
	}
	if (len)
		memcpy(buf, json, len);
	buf[len] = '\0';
	root = cJSON_ParseWithOpts(buf, &end, 1);
	if (!root) {
		rc = err_set(e, -EINVAL, "manifest: invalid JSON near byte %zu",
			     end && end >= buf && end <= buf + len ? (size_t)(end - buf) : 0);
		goto out;
	}
	rc = mf_parse_tree(&c, root);
	if (!rc)
		rc = mf_scan_json(buf, len, e);
out:
	cJSON_Delete(root);
	free(buf);
	if (rc)
		manifest_free(c.m);
	else
		*out = c.m;
	return rc;
}

/* ---- emission ---- */

static cJSON *mf_emit_entry(const struct mf_entry *en)
{
	char cid[CID_MAX_TEXT], sha[72], size[24];
	cJSON *o = cJSON_CreateObject();
	bool ok;

	if (!o || !en->filename || !cid_format(&en->cid, cid, sizeof(cid)))
		goto fail;
	ok = cJSON_AddStringToObject(o, "filename", en->filename) &&
	     cJSON_AddStringToObject(o, "cid", cid);
	if (ok && en->has_sha256) {
		manifest_format_sha256(en->sha256, sha);
		ok = cJSON_AddStringToObject(o, "sha256", sha) != NULL;
	}
	if (ok && en->has_size) {
		snprintf(size, sizeof(size), "%" PRIu64, en->size);
		ok = cJSON_AddRawToObject(o, "size", size) != NULL;
	}
	if (ok)
		return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

static bool mf_emit_role(cJSON *root, const struct manifest *m, const char *key, int role)
{
	cJSON *arr = NULL, *o;
	size_t i;

	if (role != MF_TOKENIZER) {
		arr = cJSON_AddArrayToObject(root, key);
		if (!arr)
			return false;
	}
	for (i = 0; i < m->nentries; i++) {
		if (m->entries[i].role != role)
			continue;
		o = mf_emit_entry(&m->entries[i]);
		if (!o)
			return false;
		if (!arr) { /* tokenizer: the first one */
			if (cJSON_AddItemToObject(root, key, o))
				return true;
			cJSON_Delete(o);
			return false;
		}
		if (!cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			return false;
		}
	}
	return true;
}

static bool mf_emit_str(cJSON *root, const char *key, const char *val)
{
	return !val || cJSON_AddStringToObject(root, key, val);
}

static bool mf_emit_obj(cJSON *root, const char *key, const char *json)
{
	cJSON *o;

	if (!json)
		return true;
	o = cJSON_Parse(json);
	if (!o)
		return false;
	if (cJSON_AddItemToObject(root, key, o))
		return true;
	cJSON_Delete(o);
	return false;
}

static bool mf_has_role(const struct manifest *m, int role)
{
	size_t i;

	for (i = 0; i < m->nentries; i++)
		if (m->entries[i].role == role)
			return true;
	return false;
}

/* Pretty printer: 2-space indent, "key": value, one member per line, empty containers as
 * {} and []. Scalars and keys are escaped by cJSON itself. */
static int mf_put(struct dynbuf *b, const char *s)
{
	return dynbuf_append(b, s, strlen(s));
}

static int mf_put_json(struct dynbuf *b, const cJSON *j)
{
	char *t = cJSON_PrintUnformatted(j);
	int rc;

	if (!t)
		return -ENOMEM;
	rc = mf_put(b, t);
	cJSON_free(t);
	return rc;
}

static int mf_newline(struct dynbuf *b, int depth)
{
	int rc = mf_put(b, "\n");

	while (!rc && depth-- > 0)
		rc = mf_put(b, "  ");
	return rc;
}

static int mf_print(struct dynbuf *b, const cJSON *j, int depth)
{
	bool obj = cJSON_IsObject(j);
	const cJSON *it;
	cJSON *key;
	int rc;

	if (!obj && !cJSON_IsArray(j))
		return mf_put_json(b, j);
	if (!j->child)
		return mf_put(b, obj ? "{}" : "[]");
	rc = mf_put(b, obj ? "{" : "[");
	for (it = j->child; it && !rc; it = it->next) {
		rc = mf_newline(b, depth + 1);
		if (!rc && obj) {
			key = cJSON_CreateStringReference(it->string ? it->string : "");
			rc = key ? mf_put_json(b, key) : -ENOMEM;
			cJSON_Delete(key);
			if (!rc)
				rc = mf_put(b, ": ");
		}
		if (!rc)
			rc = mf_print(b, it, depth + 1);
		if (!rc && it->next)
			rc = mf_put(b, ",");
	}
	if (!rc)
		rc = mf_newline(b, depth);
	return rc ? rc : mf_put(b, obj ? "}" : "]");
}

static cJSON *mf_emit_tree(const struct manifest *m)
{
	cJSON *root = cJSON_CreateObject();
	bool ok = root != NULL;

	if (ok && m->modelpack)
		ok = cJSON_AddNumberToObject(root, "modelpack", m->modelpack) != NULL;
	ok = ok && mf_emit_str(root, "name", m->name) && mf_emit_str(root, "version", m->version) &&
	     mf_emit_str(root, "format", m->format) && mf_emit_str(root, "license", m->license) &&
	     mf_emit_obj(root, "config", m->config_json) &&
	     mf_emit_role(root, m, "shards", MF_SHARD) &&
	     mf_emit_role(root, m, "tokenizer", MF_TOKENIZER);
	if (ok && mf_has_role(m, MF_FILE))
		ok = mf_emit_role(root, m, "files", MF_FILE);
	ok = ok && mf_emit_obj(root, "provenance", m->provenance_json);
	if (ok)
		return root;
	cJSON_Delete(root);
	return NULL;
}

char *manifest_emit(const struct manifest *m)
{
	struct dynbuf b;
	cJSON *root;
	int rc;

	if (!m || !(root = mf_emit_tree(m)))
		return NULL;
	dynbuf_init(&b, MF_MAX_EMIT);
	rc = mf_print(&b, root, 0);
	if (!rc)
		rc = dynbuf_append(&b, "\n", 2); /* newline and NUL */
	cJSON_Delete(root);
	if (rc) {
		dynbuf_free(&b);
		return NULL;
	}
	return (char *)dynbuf_take(&b, NULL);
}
