/* test_manifest: ModelPack manifest parsing, validation, emission and round trips. */
/* deps: manifest cid multibase varint dynbuf errbuf */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "manifest.h"

#define CID1		 "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
#define CID1_Z		 "zb2rhi36Gc9GJWijLEL6zW45MBux5FcFv5gJmjXA7VAMozEXY"
#define CID0		 "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
#define HEX		 "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"
#define SHA		 "sha256:" HEX
#define ENT(name)	 "{\"filename\":\"" name "\",\"cid\":\"" CID1 "\"}"
#define SH(list)	 "{\"shards\":[" list "]}"
#define SHX(extra, list) "{" extra ",\"shards\":[" list "]}"

static const char FULL[] =
    "{\n"
    "  \"modelpack\": 1, \"name\": \"tiny-llama\", \"version\": \"1.0\",\n"
    "  \"format\": \"safetensors\", \"license\": \"apache-2.0\",\n"
    "  \"config\": {\"hidden_size\": 64, \"layers\": [1, 2.5, \"x\"], \"rope\": {\"theta\": "
    "1e4}},\n"
    "  \"shards\": [\n"
    "    {\"filename\": \"model-00001-of-00002.safetensors\", \"cid\": \"" CID1 "\",\n"
    "     \"sha256\": \"" SHA "\", \"size\": 12},\n"
    "    {\"size\": 0, \"sha256\": \"" HEX "\", \"cid\": \"" CID0 "\",\n"
    "     \"filename\": \"model-00002-of-00002.safetensors\", \"future\": [1]}\n"
    "  ],\n"
    "  \"tokenizer\": {\"filename\": \"tokenizer.json\", \"cid\": \"" CID1_Z
    "\", \"size\": 9007199254740991},\n"
    "  \"files\": [{\"filename\": \"sub/dir/mod\xc3\xa8le-\xe6\x97\xa5.json\", \"cid\": \"" CID1
    "\"},\n"
    "            {\"filename\": \"a-x\", \"cid\": \"" CID1 "\", \"size\": 1e3},\n"
    "            {\"filename\": \"a.b\", \"cid\": \"" CID1 "\"},\n"
    "            {\"filename\": \"sub/MODEL_PACK.json\", \"cid\": \"" CID1 "\"},\n"
    "            {\"filename\": \".mpackfsx\", \"cid\": \"" CID1 "\"}],\n"
    "  \"provenance\": {\"created\": \"2025-01-02T03:04:05Z\", \"tool\": \"mpack 0.1.0\",\n"
    "                 \"directory\": "
    "\"bafybeicg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mby\"},\n"
    "  \"unknown_top\": {\"ignored\": true}\n"
    "}\n";

static int parse(const char *json, struct manifest **m, struct errbuf *e)
{
	e->msg[0] = '\0';
	return manifest_parse(json, strlen(json), m, e);
}

/* Parse must fail with code and a message containing want. */
static void expect_err_len(const char *json, size_t len, int code, const char *want)
{
	struct manifest *m = (struct manifest *)1;
	struct errbuf e = {""};
	int rc = manifest_parse(json, len, &m, &e);

	CHECK(rc == code, "rc %d != %d for %.120s (msg: %s)", rc, code, json, e.msg);
	CHECK(m == NULL, "out not NULL on error for %.120s", json);
	CHECK(strstr(e.msg, want) != NULL, "message \"%s\" lacks \"%s\" (input %.120s)", e.msg,
	      want, json);
	manifest_free(rc ? NULL : m);
}

static void expect_err(const char *json, const char *want)
{
	expect_err_len(json, strlen(json), -EINVAL, want);
}

static void expect_ok(const char *json)
{
	struct manifest *m = NULL;
	struct errbuf e = {""};

	CHECK(parse(json, &m, &e) == 0, "should parse: %.160s (%s)", json, e.msg);
	manifest_free(m);
}

static char *emit_roundtrip(const char *json)
{
	struct manifest *m = NULL, *m2 = NULL;
	struct errbuf e = {""};
	char *a = NULL, *b = NULL;

	CHECK(parse(json, &m, &e) == 0, "parse: %s", e.msg);
	if (!m)
		return NULL;
	a = manifest_emit(m);
	CHECK(a != NULL, "emit");
	if (a) {
		CHECK(parse(a, &m2, &e) == 0, "reparse of emitted text: %s\n%s", e.msg, a);
		b = m2 ? manifest_emit(m2) : NULL;
		CHECK(b && strcmp(a, b) == 0, "emit not stable:\n%s\n---\n%s", a, b ? b : "(null)");
		CHECK(m2 && m2->nentries == m->nentries, "entry count changed");
	}
	free(b);
	manifest_free(m);
	manifest_free(m2);
	return a;
}

static void test_full(void)
{
	struct manifest *m = NULL;
	struct errbuf e = {""};
	const struct mf_entry *en;
	uint8_t sha[32];

	CHECK_EQ_INT(parse(FULL, &m, &e), 0);
	CHECK(m != NULL, "parse: %s", e.msg);
	if (!m)
		return;
	CHECK_EQ_INT(m->modelpack, 1);
	CHECK_EQ_STR(m->name, "tiny-llama");
	CHECK_EQ_STR(m->version, "1.0");
	CHECK_EQ_STR(m->format, "safetensors");
	CHECK_EQ_STR(m->license, "apache-2.0");
	CHECK_EQ_STR(m->config_json,
		     "{\"hidden_size\":64,\"layers\":[1,2.5,\"x\"],\"rope\":{\"theta\":10000}}");
	CHECK(m->provenance_json && strstr(m->provenance_json, "\"tool\":\"mpack 0.1.0\""),
	      "provenance %s", m->provenance_json ? m->provenance_json : "(null)");
	CHECK_EQ_INT(m->nentries, 8);
	if (m->nentries != 8)
		goto out;
	manifest_parse_sha256(SHA, sha, NULL);
	en = &m->entries[0];
	CHECK_EQ_STR(en->filename, "model-00001-of-00002.safetensors");
	CHECK_EQ_INT(en->role, MF_SHARD);
	CHECK(en->has_sha256 && memcmp(en->sha256, sha, 32) == 0, "shard 0 sha");
	CHECK(en->has_size && en->size == 12, "shard 0 size");
	CHECK_EQ_INT(en->cid.version, 1);
	CHECK_EQ_INT(en->cid.codec, CID_CODEC_RAW);
	en = &m->entries[1];
	CHECK_EQ_STR(en->filename, "model-00002-of-00002.safetensors");
	CHECK(en->has_sha256 && memcmp(en->sha256, sha, 32) == 0, "bare hex sha");
	CHECK(en->has_size && en->size == 0, "size 0");
	CHECK_EQ_INT(en->cid.version, 0);
	en = &m->entries[2];
	CHECK_EQ_INT(en->role, MF_TOKENIZER);
	CHECK_EQ_STR(en->filename, "tokenizer.json");
	CHECK(!en->has_sha256, "tokenizer has no sha");
	CHECK(en->has_size && en->size == 9007199254740991ull, "2^53-1 size");
	CHECK(cid_equal(&en->cid, &m->entries[0].cid), "base58 v1 CID equals base32 form");
	CHECK_EQ_INT(m->entries[3].role, MF_FILE);
	CHECK_EQ_STR(m->entries[3].filename, "sub/dir/mod\xc3\xa8le-\xe6\x97\xa5.json");
	CHECK(m->entries[3].has_size == false, "no size");
	CHECK(m->entries[4].size == 1000, "1e3 is 1000");
	CHECK_EQ_STR(m->entries[7].filename, ".mpackfsx");
	CHECK(manifest_find(m, "tokenizer.json") == &m->entries[2], "find tokenizer");
	CHECK(manifest_find(m, "sub/dir") == NULL, "find directory");
	CHECK(manifest_find(m, "nope") == NULL, "find missing");
out:
	manifest_free(m);
}

static void test_minimal(void)
{
	static const char min[] = "{\"shards\":[{\"filename\":\"model.safetensors\",\"cid\":\"" CID1
				  "\",\"sha256\":\"" SHA "\"}]}";
	static const char want[] = "{\n"
				   "  \"shards\": [\n"
				   "    {\n"
				   "      \"filename\": \"model.safetensors\",\n"
				   "      \"cid\": \"" CID1 "\",\n"
				   "      \"sha256\": \"" SHA "\"\n"
				   "    }\n"
				   "  ]\n"
				   "}\n";
	struct manifest *m = NULL;
	struct errbuf e = {""};
	char *out;

	CHECK_EQ_INT(parse(min, &m, &e), 0);
	if (m) {
		CHECK_EQ_INT(m->modelpack, 0);
		CHECK(m->name == NULL && m->config_json == NULL && m->provenance_json == NULL,
		      "absent fields are NULL");
		CHECK_EQ_INT(m->nentries, 1);
		CHECK(m->entries[0].has_sha256 && !m->entries[0].has_size, "flags");
	}
	manifest_free(m);
	out = emit_roundtrip(min);
	CHECK(out && strcmp(out, want) == 0, "minimal emit:\n%s", out ? out : "(null)");
	free(out);
}

static void test_valid_variants(void)
{
	expect_ok("{\"shards\":[],"
		  "\"files\":[" ENT("README.md") "]}");
	expect_ok("{\"shards\":[" ENT("m") "],\"tokenizer\":null,\"name\":null,\"files\":null,"
					   "\"modelpack\":null,\"config\":null}");
	expect_ok(SH("{\"filename\":\"m\",\"cid\":\"" CID1 "\",\"sha256\":null,\"size\":null}"));
	expect_ok("\xef\xbb\xbf" SH(ENT("m")));	 /* UTF-8 BOM */
	expect_ok(" \t\r\n" SH(ENT("m")) " \n"); /* JSON whitespace around */
	expect_ok(SH(ENT("ab") "," ENT("a/b") "," ENT("a-/x") "," ENT("b/a")));
	expect_ok(SH(ENT("x/y/z") "," ENT("x/y/w") "," ENT("x/yy")));
	expect_ok(SH("{\"filename\":\"m\",\"cid\":\"" CID1 "\",\"size\":-0}"));
	expect_ok(SHX("\"name\":\"caf\xc3\xa9 \xf0\x9f\xa6\x99\",\"config\":{\"k\":\"\\u00e9\\n\"}",
		      ENT("m")));
}

static void test_emit(void)
{
	static const char *const order[] = {
	    "\"modelpack\"", "\"name\"",   "\"version\"",   "\"format\"", "\"license\"",
	    "\"config\"",    "\"shards\"", "\"tokenizer\"", "\"files\"",  "\"provenance\""};
	const char *prev = NULL, *p;
	char *out = emit_roundtrip(FULL);
	size_t i;

	CHECK(out != NULL, "emit full");
	if (!out)
		return;
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		p = strstr(out, order[i]);
		CHECK(p && (!prev || p > prev), "key %s out of order", order[i]);
		prev = p;
	}
	CHECK(strstr(out, "\"sha256\": \"" SHA "\",\n      \"size\": 0") != NULL,
	      "bare hex is emitted with prefix, then size");
	CHECK(strstr(out, "\"size\": 9007199254740991") != NULL, "big size printed exactly");
	CHECK(strstr(out, "\"size\": 1000\n") != NULL, "1e3 printed as 1000");
	CHECK(strstr(out, CID1_Z) == NULL, "v1 CID normalised to base32");
	CHECK(strstr(out, CID0) != NULL, "v0 CID stays v0");
	CHECK(strstr(out, "unknown_top") == NULL && strstr(out, "future") == NULL,
	      "unknown keys dropped");
	CHECK(strstr(out, "\"theta\": 10000") != NULL, "config re-emitted");
	free(out);
	out = emit_roundtrip("{\"shards\":[],\"files\":[" ENT("f") "]}");
	CHECK(out && strstr(out, "\"shards\": []") != NULL, "empty shards kept: %s",
	      out ? out : "(null)");
	free(out);
}

static void test_bad_top(void)
{
	expect_err("[]", "manifest: top level must be a JSON object");
	expect_err("\"x\"", "top level must be a JSON object");
	expect_err("null", "top level must be a JSON object");
	expect_err("", "manifest: invalid JSON near byte 0");
	expect_err("{\"shards\":[", "manifest: invalid JSON near byte");
	expect_err(SH(ENT("m")) " x", "manifest: invalid JSON near byte 98");
	expect_err(SH(ENT("m")) "{}", "invalid JSON near byte");
	expect_err("{\"shards\":[" ENT("m") ",]}", "invalid JSON");
	expect_err_len(SH(ENT("m")) "\0", sizeof(SH(ENT("m"))), -EINVAL,
		       "manifest: NUL byte at 97");
	expect_err_len("{\"sh\0ards\":[]}", 14, -EINVAL, "manifest: NUL byte at 4");
	expect_err(SHX("\"modelpack\":2", ENT("m")),
		   "modelpack: version 2 is not supported (this mpack reads 1)");
	expect_err(SHX("\"modelpack\":0", ENT("m")), "modelpack: must be the integer 1");
	expect_err(SHX("\"modelpack\":-1", ENT("m")), "modelpack: must be the integer 1");
	expect_err(SHX("\"modelpack\":1.5", ENT("m")), "modelpack: must be the integer 1");
	expect_err(SHX("\"modelpack\":\"1\"", ENT("m")), "modelpack: must be the integer 1");
	expect_err(SHX("\"modelpack\":true", ENT("m")), "modelpack: must be the integer 1");
	expect_err(SHX("\"name\":5", ENT("m")), "name: must be a string");
	expect_err(SHX("\"version\":[]", ENT("m")), "version: must be a string");
	expect_err(SHX("\"format\":{}", ENT("m")), "format: must be a string");
	expect_err(SHX("\"license\":true", ENT("m")), "license: must be a string");
	expect_err(SHX("\"name\":\"a\\u001bb\"", ENT("m")),
		   "name: control character 0x1b at byte 1");
	expect_err(SHX("\"license\":\"a\x7f\"", ENT("m")), "license: control character 0x7f");
	expect_err(SHX("\"version\":\"\xff\"", ENT("m")), "version: invalid UTF-8 at byte 0");
	expect_err(SHX("\"config\":[]", ENT("m")), "config: must be an object");
	expect_err(SHX("\"config\":\"x\"", ENT("m")), "config: must be an object");
	expect_err(SHX("\"provenance\":1", ENT("m")), "provenance: must be an object");
	expect_err("{\"name\":\"x\"}", "shards: missing (required)");
	expect_err("{\"shards\":null}", "shards: missing");
	expect_err("{\"shards\":{}}", "shards: must be an array");
	expect_err("{\"shards\":[]}", "shards: must not be empty");
	expect_err("{\"shards\":[],\"files\":[]}", "shards: must not be empty");
	expect_err("{\"shards\":[],\"tokenizer\":" ENT("t") "}", "shards: must not be empty");
	expect_err(SHX("\"tokenizer\":[]", ENT("m")), "tokenizer: must be an object");
	expect_err(SHX("\"tokenizer\":\"t\"", ENT("m")), "tokenizer: must be an object");
	expect_err(SHX("\"files\":{}", ENT("m")), "files: must be an array");
	expect_err(SHX("\"files\":[5]", ENT("m")), "files[0]: must be an object");
	expect_err(SH("1"), "shards[0]: must be an object");
	expect_err(SH(ENT("m") ",[]"), "shards[1]: must be an object");
	expect_err("{\"shards\":[" ENT("m") "],\"shards\":[" ENT("n") "]}",
		   "manifest: duplicate key \"shards\"");
	expect_err(SHX("\"name\":\"a\",\"name\":\"b\"", ENT("m")),
		   "manifest: duplicate key \"name\"");
}

static void test_bad_entries(void)
{
	expect_err(SH("{\"cid\":\"" CID1 "\"}"), "shards[0].filename: missing");
	expect_err(SH("{\"filename\":null,\"cid\":\"" CID1 "\"}"), "shards[0].filename: missing");
	expect_err(SH("{\"filename\":5,\"cid\":\"" CID1 "\"}"),
		   "shards[0].filename: must be a string");
	expect_err(SH(ENT("a") ",{\"filename\":\"m\"}"), "shards[1].cid: missing");
	expect_err(SH("{\"filename\":\"m\",\"cid\":5}"), "shards[0].cid: must be a string");
	expect_err(SH(ENT("a") ",{\"filename\":\"m\",\"cid\":\"bafy!!!\"}"),
		   "shards[1].cid: cid: ");
	expect_err(SH("{\"filename\":\"m\",\"cid\":\"\"}"), "shards[0].cid: cid: ");
	expect_err(SH("{\"filename\":\"m\",\"cid\":\" " CID1 "\"}"), "shards[0].cid: cid: ");
	expect_err(SHX("\"tokenizer\":{\"filename\":\"t\",\"cid\":\"Qm\"}", ENT("m")),
		   "tokenizer.cid: cid: ");
	expect_err(SH("{\"filename\":\"m\",\"cid\":\"" CID1 "\",\"sha256\":5}"),
		   "shards[0].sha256: must be a string");
	expect_err(SH("{\"filename\":\"m\",\"cid\":\"" CID1 "\",\"sha256\":\"sha256:abc\"}"),
		   "shards[0].sha256: sha256: expected");
	expect_err(
	    SH("{\"filename\":\"m\",\"cid\":\"" CID1
	       "\",\"sha256\":\"sha256:g948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d29"
	       "9a192a447\"}"),
	    "shards[0].sha256: sha256: bad hex digit 'g' at 7");
	expect_err(SH("{\"filename\":\"m\",\"cid\":\"" CID1 "\",\"sha256\":\"sha512:" HEX "\"}"),
		   "shards[0].sha256: sha256: expected");
	expect_err(SH("{\"filename\":\"m\",\"cid\":\"" CID1 "\",\"sha256\":\"" HEX "0\"}"),
		   "shards[0].sha256: sha256: expected");
	expect_err(SH("{\"filename\":\"m\",\"cid\":\"" CID1 "\",\"size\":\"12\"}"),
		   "shards[0].size: must be a number");
	expect_err(SH("{\"filename\":\"m\",\"cid\":\"" CID1 "\",\"size\":-1}"),
		   "shards[0].size: must not be negative");
	expect_err(SH("{\"filename\":\"m\",\"cid\":\"" CID1 "\",\"size\":1.5}"),
		   "shards[0].size: must be an integer");
	expect_err(SH("{\"filename\":\"m\",\"cid\":\"" CID1 "\",\"size\":9007199254740992}"),
		   "shards[0].size: larger than 2^53 - 1");
	expect_err(SH("{\"filename\":\"m\",\"cid\":\"" CID1 "\",\"size\":9007199254740993}"),
		   "shards[0].size: larger than");
	expect_err(SH("{\"filename\":\"m\",\"cid\":\"" CID1 "\",\"size\":1e400}"),
		   "shards[0].size: larger than");
	expect_err(SH("{\"filename\":\"m\",\"cid\":\"" CID1 "\",\"size\":true}"),
		   "shards[0].size: must be a number");
	expect_err(SH("{\"filename\":\"m\",\"cid\":\"" CID1 "\",\"cid\":\"" CID1 "\"}"),
		   "shards[0]: duplicate key \"cid\"");
}

/* A CID that is valid but names a dag-cbor node cannot be a file. */
static void test_bad_codec(void)
{
	uint8_t digest[32] = {1, 2, 3};
	char cid[CID_MAX_TEXT], json[512];
	struct cid c;

	CHECK_EQ_INT(cid_from_digest(1, CID_CODEC_DAG_CBOR, 0x12, digest, 32, &c), 0);
	CHECK(cid_format(&c, cid, sizeof(cid)) > 0, "format dag-cbor cid");
	snprintf(json, sizeof(json), SH("{\"filename\":\"m\",\"cid\":\"%s\"}"), cid);
	expect_err(json, "shards[0].cid: codec 0x71 cannot hold a file");
}

static void test_bad_paths(void)
{
	char comp[600], json[700];

	expect_err(SH(ENT("../a")), "shards[0].filename: component \"..\" is not allowed");
	expect_err(SH(ENT("a/..")), "shards[0].filename: component \"..\" is not allowed");
	expect_err(SH(ENT("a/./b")), "shards[0].filename: component \".\" is not allowed");
	expect_err(SH(ENT(".")), "shards[0].filename: component \".\" is not allowed");
	expect_err(SH(ENT("a//b")), "shards[0].filename: empty component at byte 2");
	expect_err(SH(ENT("/a")), "shards[0].filename: absolute path (leading '/')");
	expect_err(SH(ENT("a/")), "shards[0].filename: trailing '/'");
	expect_err(SH(ENT("")), "shards[0].filename: empty path");
	expect_err(SH(ENT("a\\u0001b")), "shards[0].filename: control character 0x01 at byte 1");
	expect_err(SH(ENT("a\\tb")), "shards[0].filename: control character 0x09");
	expect_err(SH(ENT("a\x7f")), "shards[0].filename: control character 0x7f at byte 1");
	expect_err(SH(ENT("a\\\\b")), "shards[0].filename: backslash at byte 1");
	expect_err(SH(ENT("x/\xc3\x28")), "shards[0].filename: invalid UTF-8 at byte 2");
	expect_err(SH(ENT("\xc0\xaf")), "shards[0].filename: invalid UTF-8 at byte 0");
	expect_err(SH(ENT("\xed\xa0\x80")), "shards[0].filename: invalid UTF-8");
	expect_err(SH(ENT("a\\u0000b")), "\\u0000 escape at byte 25 is not allowed");
	expect_err(SH(ENT("MODEL_PACK.json")), "shards[0].filename: \"MODEL_PACK.json\" is a "
					       "reserved name");
	expect_err(SH(ENT(".mpackfs")), "shards[0].filename: \".mpackfs\" is a reserved name");
	expect_err(SH(ENT("m") "," ENT(".mpackfs/x")),
		   "shards[1].filename: \".mpackfs\" is a reserved");
	memset(comp, 'c', 256);
	comp[256] = '\0';
	snprintf(json, sizeof(json), SH(ENT("ok/%s")), comp);
	expect_err(json,
		   "shards[0].filename: component at byte 3 is 256 bytes, over the limit of 255");
	comp[255] = '\0';
	snprintf(json, sizeof(json), SH(ENT("ok/%s")), comp);
	expect_ok(json);
}

static void test_conflicts(void)
{
	expect_err("{\"shards\":[" ENT("model.safetensors") "],\"files\":[" ENT("a") "," ENT(
		       "b") "," ENT("c") "," ENT("model.safetensors") "]}",
		   "files[3].filename: duplicate of shards[0].filename \"model.safetensors\"");
	expect_err(SHX("\"tokenizer\":" ENT("t.json"), ENT("t.json")),
		   "tokenizer.filename: duplicate of shards[0].filename \"t.json\"");
	expect_err(SH(ENT("x") "," ENT("y") "," ENT("x")),
		   "shards[2].filename: duplicate of shards[0].filename \"x\"");
	expect_err(
	    "{\"shards\":[" ENT("a") "],\"files\":[" ENT("a-x") "," ENT("a.b") "," ENT("a/b") "]}",
	    "files[2].filename: \"a/b\" conflicts with shards[0].filename \"a\" (a file "
	    "cannot also be a directory)");
	expect_err(SH(ENT("d/e/f/g") "," ENT("d/e.txt") "," ENT("d/e")),
		   "shards[2].filename: \"d/e\" conflicts with shards[0].filename \"d/e/f/g\"");
}

/* RFC 8259 rules cJSON lets through. */
static void test_strict_json(void)
{
	expect_err("\x01" SH(ENT("m")),
		   "manifest: invalid JSON: raw control character 0x01 at byte 0");
	expect_err(SHX("\"x\":\"a\x01\"", ENT("m")), "raw control character 0x01 at byte 7");
	expect_err(SHX("\"x\":+1", ENT("m")), "manifest: invalid JSON near byte 5");
	expect_err(SHX("\"x\":01", ENT("m")), "invalid JSON number at byte 5");
	expect_err(SHX("\"x\":.5", ENT("m")), "invalid JSON near byte 5");
	expect_err(SHX("\"x\":1.", ENT("m")), "invalid JSON number");
	expect_err(SHX("\"x\":[1e]", ENT("m")), "invalid JSON");
	expect_err(SHX("\"x\":\"\\u0000\"", ENT("m")), "\\u0000 escape at byte 6");
	expect_err(SHX("\"\xfe\":1", ENT("m")), "manifest: invalid UTF-8 at byte 2");
	expect_err(SHX("\"config\":{\"k\":\"\xe2\x82\"}", ENT("m")), "manifest: invalid UTF-8");
	expect_ok(SHX("\"x\":[-0.5e+3,0,10,1E-2,\"\\\\u0000\"]", ENT("m")));
}

static void test_limits(void)
{
	size_t n = MANIFEST_MAX_ENTRIES + 1, i;
	char *big = malloc(n * 2 + 64), *p;

	if (!big)
		return;
	p = big + sprintf(big, "{\"shards\":[");
	for (i = 0; i < n; i++)
		p += sprintf(p, i ? ",1" : "1");
	strcpy(p, "]}");
	expect_err(big, "manifest: 100001 entries, over the limit of 100000");
	free(big);
	big = malloc(MANIFEST_MAX_BYTES + 1);
	if (!big)
		return;
	memset(big, ' ', MANIFEST_MAX_BYTES + 1);
	expect_err_len(big, MANIFEST_MAX_BYTES + 1, -EFBIG, "over the limit of 16777216");
	free(big);
}

static void test_check_path(void)
{
	struct errbuf e = {""};
	char path[5000];

	CHECK_EQ_INT(manifest_check_path("a/b/c.bin", 9, &e), 0);
	CHECK_EQ_INT(manifest_check_path("a/b/c.bin", 3, &e), 0); /* only "a/b" */
	CHECK_EQ_INT(manifest_check_path("..a/b..", 7, &e), 0);
	CHECK_EQ_INT(manifest_check_path("a\0b", 3, &e), -EINVAL);
	CHECK(strstr(e.msg, "NUL byte at 1") != NULL, "%s", e.msg);
	CHECK_EQ_INT(manifest_check_path("a/", 1, &e), 0);
	CHECK_EQ_INT(manifest_check_path("a/", 2, &e), -EINVAL);
	CHECK(strstr(e.msg, "trailing '/'") != NULL, "%s", e.msg);
	CHECK_EQ_INT(manifest_check_path("", 0, &e), -EINVAL);
	CHECK_EQ_INT(manifest_check_path(NULL, 0, &e), -EINVAL);
	CHECK_EQ_INT(manifest_check_path("\xe2\x82", 2, &e), -EINVAL); /* truncated */
	CHECK(strstr(e.msg, "invalid UTF-8 at byte 0") != NULL, "%s", e.msg);
	CHECK_EQ_INT(manifest_check_path("\xf4\x90\x80\x80", 4, &e), -EINVAL); /* > U+10FFFF */
	CHECK_EQ_INT(manifest_check_path("\xe0\x80\xaf", 3, &e), -EINVAL);     /* overlong */
	CHECK_EQ_INT(manifest_check_path("\xf4\x8f\xbf\xbf", 4, &e), 0);       /* U+10FFFF */
	CHECK_EQ_INT(manifest_check_path("\x80", 1, &e), -EINVAL);
	CHECK_EQ_INT(manifest_check_path("a\x1f", 2, &e), -EINVAL);
	CHECK(strstr(e.msg, "control character 0x1f") != NULL, "%s", e.msg);
	memset(path, 'a', sizeof(path));
	for (size_t i = 200; i < sizeof(path); i += 201)
		path[i] = '/';
	CHECK_EQ_INT(manifest_check_path(path, 4096, &e), path[4095] == '/' ? -EINVAL : 0);
	CHECK_EQ_INT(manifest_check_path(path, 4097, &e), -EINVAL);
	CHECK(strstr(e.msg, "path is 4097 bytes, over the limit of 4096") != NULL, "%s", e.msg);
	CHECK_EQ_INT(manifest_check_path(path, 255, &e), 0);
	memset(path, 'b', 300);
	CHECK_EQ_INT(manifest_check_path(path, 255, &e), 0);
	CHECK_EQ_INT(manifest_check_path(path, 256, &e), -EINVAL);
	CHECK(strstr(e.msg, "256 bytes, over the limit of 255") != NULL, "%s", e.msg);
	CHECK_EQ_INT(manifest_check_path("a/b", 3, NULL), 0);
	CHECK_EQ_INT(manifest_check_path("..", 2, NULL), -EINVAL);
}

static void test_sha256(void)
{
	static const char upper[] =
	    "A948904F2F0F479B8F8197694B30184B0D2ED1C1CD2A1EC0FB85D299A192A447";
	struct errbuf e = {""};
	uint8_t a[32], b[32], keep[32];
	char out[72];

	CHECK_EQ_INT(manifest_parse_sha256(SHA, a, &e), 0);
	CHECK_EQ_INT(a[0], 0xa9);
	CHECK_EQ_INT(a[31], 0x47);
	CHECK_EQ_INT(manifest_parse_sha256(upper, b, &e), 0);
	CHECK(memcmp(a, b, 32) == 0, "upper-case bare hex");
	manifest_format_sha256(b, out);
	CHECK_EQ_STR(out, SHA);
	memset(keep, 0x5a, 32);
	memcpy(b, keep, 32);
	CHECK_EQ_INT(manifest_parse_sha256("sha256:" HEX "z", b, &e), -EINVAL);
	CHECK(memcmp(b, keep, 32) == 0, "output untouched on error");
	CHECK_EQ_INT(manifest_parse_sha256("sha256:", b, &e), -EINVAL);
	CHECK(strstr(e.msg, "got 0 characters") != NULL, "%s", e.msg);
	CHECK_EQ_INT(manifest_parse_sha256("SHA256:" HEX, b, &e), -EINVAL);
	CHECK_EQ_INT(manifest_parse_sha256("sha256: a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec"
					   "0fb85d299a192a44",
					   b, &e),
		     -EINVAL);
	CHECK(strstr(e.msg, "bad hex digit 0x20 at 7") != NULL, "%s", e.msg);
	CHECK(memcmp(b, keep, 32) == 0, "output untouched on error");
	CHECK_EQ_INT(manifest_parse_sha256(NULL, b, &e), -EINVAL);
}

int main(void)
{
	test_full();
	test_minimal();
	test_valid_variants();
	test_emit();
	test_bad_top();
	test_bad_entries();
	test_bad_codec();
	test_bad_paths();
	test_conflicts();
	test_strict_json();
	test_limits();
	test_check_path();
	test_sha256();
	manifest_free(NULL);
	return check_done("test_manifest");
}
