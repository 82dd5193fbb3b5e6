/* cmd_template: `mpack init-template --out FILE` writes a ModelPack manifest template,
 * commented through "_comment" members (readers ignore unknown keys), whose placeholder
 * CIDs are valid so it parses as it is; `mpack init-template --check FILE` validates a
 * hand-written manifest. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "manifest.h"

/* The CID and sha256 of the empty file: valid placeholders that say "replace me". */
#define TPL_CID "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
#define TPL_SHA "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const char tpl_text[] =
    "{\n"
    "  \"_comment\": \"ModelPack manifest template (format: docs/FORMAT.md, mpack(1)). Members "
    "whose names start with _ are ignored by readers: delete them when done. Every cid below is "
    "a placeholder (the empty file): replace each with the CID of your file, as 'ipfs add "
    "--cid-version 1 --raw-leaves FILE' or 'mpack pack DIR' prints it. Check the result with "
    "'mpack init-template --check FILE'.\",\n"
    "  \"modelpack\": 1,\n"
    "  \"name\": \"my-model\",\n"
    "  \"version\": \"1.0\",\n"
    "  \"format\": \"safetensors\",\n"
    "  \"license\": \"apache-2.0\",\n"
    "  \"config\": {\n"
    "    \"_comment\": \"optional: any JSON object, usually the model's config.json\"\n"
    "  },\n"
    "  \"shards\": [\n"
    "    {\n"
    "      \"_comment\": \"weight files, in order. filename: a relative path (no .., no "
    "leading /). cid: required. sha256 and size: optional, checked by mpack verify when "
    "present\",\n"
    "      \"filename\": \"model-00001-of-00002.safetensors\",\n"
    "      \"cid\": \"" TPL_CID "\",\n"
    "      \"sha256\": \"" TPL_SHA "\",\n"
    "      \"size\": 0\n"
    "    },\n"
    "    {\n"
    "      \"filename\": \"model-00002-of-00002.safetensors\",\n"
    "      \"cid\": \"" TPL_CID "\",\n"
    "      \"sha256\": \"" TPL_SHA "\",\n"
    "      \"size\": 0\n"
    "    }\n"
    "  ],\n"
    "  \"tokenizer\": {\n"
    "    \"_comment\": \"optional: one entry, the tokenizer file\",\n"
    "    \"filename\": \"tokenizer.json\",\n"
    "    \"cid\": \"" TPL_CID "\",\n"
    "    \"size\": 0\n"
    "  },\n"
    "  \"files\": [\n"
    "    {\n"
    "      \"_comment\": \"optional: every other file (configs, README, license)\",\n"
    "      \"filename\": \"config.json\",\n"
    "      \"cid\": \"" TPL_CID "\",\n"
    "      \"size\": 0\n"
    "    }\n"
    "  ],\n"
    "  \"provenance\": {\n"
    "    \"_comment\": \"optional: any JSON object saying where the pack came from\",\n"
    "    \"source\": \"https://huggingface.co/ORG/MODEL\"\n"
    "  }\n"
    "}\n";

static void tpl_usage(FILE *f)
{
	fprintf(
	    f, "usage: mpack init-template --out FILE [--force]\n"
	       "       mpack init-template --check FILE\n\n"
	       "--out writes a ModelPack manifest template to FILE ('-': standard output),\n"
	       "with \"_comment\" members explaining each part (readers ignore members they do\n"
	       "not know). Its CIDs are valid placeholders (the empty file), so it parses as\n"
	       "it is; replace them with your files' CIDs. An existing FILE is not overwritten\n"
	       "unless --force is given.\n\n"
	       "--check validates a hand-written manifest with the same rules mpack and mpackfs\n"
	       "apply, and prints 'ok' with a summary or the precise error (naming the member).\n\n"
	       "  -o, --out FILE  write the template\n"
	       "  --force         replace FILE if it exists\n"
	       "  --check FILE    validate FILE ('-': standard input)\n"
	       "  -h, --help      this help\n\n"
	       "Exit status: 0 written / valid, 1 FILE exists or cannot be written, or the\n"
	       "manifest is invalid, 2 usage error.\n");
}

/* Write the template; -EEXIST unless force. */
static int tpl_write(const char *path, bool force, struct errbuf *e)
{
	char tmp[4096];
	size_t len = sizeof(tpl_text) - 1;
	int fd, rc = 0;

	if (!strcmp(path, "-"))
		return fwrite(tpl_text, 1, len, stdout) == len ? 0 : err_set(e, -EIO, "stdout");
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return err_set(e, -ENAMETOOLONG, "%s: name too long", path);
	if (!force && access(path, F_OK) == 0)
		return err_set(e, -EEXIST, "%s: exists (--force replaces it)", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return err_set(e, -errno, "%s: %s", tmp, strerror(errno));
	if (write(fd, tpl_text, len) != (ssize_t)len || fsync(fd))
		rc = err_set(e, -errno ? -errno : -EIO, "%s: %s", tmp, strerror(errno));
	if (close(fd) && !rc)
		rc = err_set(e, -errno, "%s: %s", tmp, strerror(errno));
	if (!rc && !force && link(tmp, path)) /* no overwrite: fails if path appeared */
		rc = err_set(e, -errno, "%s: %s", path, strerror(errno));
	else if (!rc && force && rename(tmp, path))
		rc = err_set(e, -errno, "%s: %s", path, strerror(errno));
	unlink(tmp);
	return rc;
}

static int tpl_read(const char *path, char **out, size_t *len, struct errbuf *e)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	size_t cap = MANIFEST_MAX_BYTES + 1, n = 0, got;
	char *buf;

	if (!f)
		return err_set(e, -errno, "%s", strerror(errno));
	buf = malloc(cap);
	if (!buf) {
		if (f != stdin)
			fclose(f);
		return err_set(e, -ENOMEM, "out of memory");
	}
	while (n < cap && (got = fread(buf + n, 1, cap - n, f)) > 0)
		n += got;
	if (ferror(f)) {
		free(buf);
		if (f != stdin)
			fclose(f);
		return err_set(e, -EIO, "read error");
	}
	if (f != stdin)
		fclose(f);
	*out = buf;
	*len = n;
	return 0;
}

static void tpl_summary(const struct manifest *m)
{
	size_t i, n[3] = {0, 0, 0}, placeholders = 0;
	struct cid ph;

	cid_parse(TPL_CID, strlen(TPL_CID), &ph, NULL);
	for (i = 0; i < m->nentries; i++) {
		if (m->entries[i].role >= MF_SHARD && m->entries[i].role <= MF_FILE)
			n[m->entries[i].role]++;
		placeholders += cid_mh_equal(&m->entries[i].cid, &ph);
	}
	printf("ok: %zu shards, %zu tokenizer, %zu other files%s%s\n", n[MF_SHARD], n[MF_TOKENIZER],
	       n[MF_FILE], m->name ? "; name " : "", m->name ? m->name : "");
	if (placeholders)
		printf("note: %zu entries still have the placeholder CID of the empty file\n",
		       placeholders);
}

static int tpl_check(const char *path)
{
	struct manifest *m = NULL;
	struct errbuf e;
	size_t len = 0;
	char *text = NULL;
	int rc = tpl_read(path, &text, &len, &e);

	if (!rc) {
		rc = manifest_parse(text, len, &m, &e);
		free(text);
	}
	if (rc) {
		fprintf(stderr, "mpack init-template: %s: %s\n", path, e.msg);
		return 1;
	}
	tpl_summary(m);
	manifest_free(m);
	return cmd_flush("init-template");
}

int cmd_init_template(int argc, char **argv)
{
	const char *out = NULL, *check = NULL;
	bool force = false;
	struct errbuf e;
	int i;

	for (i = 1; i < argc; i++) {
		if (cmd_arg_common("init-template", NULL, argc, argv, &i) == CMD_ARG_HELP) {
			tpl_usage(stdout);
			return 0;
		}
		if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--out") ||
		     !strcmp(argv[i], "--check")) &&
		    i + 1 >= argc)
			return cmd_usage_err("init-template", "%s needs a FILE", argv[i]);
		if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--out"))
			out = argv[++i];
		else if (!strncmp(argv[i], "--out=", 6))
			out = argv[i] + 6;
		else if (!strcmp(argv[i], "--check"))
			check = argv[++i];
		else if (!strncmp(argv[i], "--check=", 8))
			check = argv[i] + 8;
		else if (!strcmp(argv[i], "--force"))
			force = true;
		else
			return cmd_usage_err("init-template", "unexpected argument '%s'", argv[i]);
	}
	if (!out == !check || (out && !*out) || (check && !*check))
		return cmd_usage_err("init-template", "give either --out FILE or --check FILE");
	if (check && force)
		return cmd_usage_err("init-template", "--force goes with --out");
	if (check)
		return tpl_check(check);
	if (tpl_write(out, force, &e)) {
		fprintf(stderr, "mpack init-template: %s\n", e.msg);
		return 1;
	}
	if (strcmp(out, "-"))
		printf("wrote %s\n", out);
	return cmd_flush("init-template");
}
