/* mpack config: print the effective configuration and where each value came from. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "jsonw.h"
#include "srcopts.h"

#define CONFIG_JSON_CAP (4u << 20)

static const char *const layer_names[] = {"default", "system", "user", "env", "flag"};

static void config_usage(FILE *f)
{
	int k;

	fprintf(f,
		"usage: mpack config [--json] [--config FILE] [source options]\n\n"
		"Prints the configuration mpack and mpackfs would use, one setting a line, each\n"
		"with its origin: default, FILE:LINE, env NAME or flag --x. The text form is a\n"
		"valid config file. Precedence per key: flags > environment > config files >\n"
		"defaults. Exits 2 when a file, variable or flag is invalid.\n\n"
		"  --json             one JSON object: files, settings, aliases\n\n%s\n"
		"config file keys (also mpackfs -o KEY=VALUE):\n",
		srcopts_help());
	for (k = 0; k < CONFIG_NKEYS; k++)
		fprintf(f, "  %-16s %s%s\n", config_keys[k].name, config_keys[k].help,
			config_keys[k].mount_only ? " (mount only)" : "");
	fprintf(f, "  [aliases]        NAME = CID lines: symlinks in the mount root\n\n"
		   "See mpackfs.conf(5).\n");
}

/* A value needs quotes if it would not read back as itself. */
static bool needs_quotes(const char *v)
{
	size_t n = strlen(v);

	return n && (v[0] == ' ' || v[0] == '\t' || v[0] == '"' || v[0] == '#' || v[n - 1] == ' ' ||
		     v[n - 1] == '\t' || strstr(v, " #") || strstr(v, "\t#"));
}

static void print_line(FILE *f, const char *key, const char *value, const struct config_origin *o)
{
	char line[CONFIG_LINE_MAX + 300], ob[CONFIG_LINE_MAX];
	const char *q = needs_quotes(value) ? "\"" : "";

	snprintf(line, sizeof(line), "%s = %s%s%s", key, q, value, q);
	fprintf(f, "%-56s # %s\n", line, config_origin_str(o, ob, sizeof(ob)));
}

static void print_text(const struct config *c, FILE *f)
{
	const struct config_entry *en;
	size_t i;
	int k;

	fprintf(f, "# mpack config: each setting with its origin\n# files:");
	for (i = 0; i < c->nfiles; i++)
		fprintf(f, " %s (%s)", c->files[i].path, c->files[i].loaded ? "read" : "absent");
	fprintf(f, "%s\n", c->nfiles ? "" : " none");
	for (k = 0; k < CONFIG_NKEYS; k++) {
		en = &c->ent[k];
		if (en->n == 0 && !config_keys[k].list) {
			fprintf(f, "# %s is not set\n", config_keys[k].name);
			continue;
		}
		if (en->n == 0)
			print_line(f, config_keys[k].name, "", &en->origin);
		for (i = 0; i < en->n; i++)
			print_line(f, config_keys[k].name, en->v[i].text, &en->v[i].origin);
	}
	if (c->naliases)
		fprintf(f, "\n[aliases]\n");
	for (i = 0; i < c->naliases; i++)
		print_line(f, c->aliases[i].name, c->aliases[i].cid, &c->aliases[i].origin);
}

/* One scalar value in its JSON type. */
static void json_value(struct jsonw *w, const struct config *c, int k)
{
	const char *s = config_str(c, k);

	if (!s || (!*s && config_keys[k].type == CONFIG_T_URL)) {
		jw_null(w);
		return;
	}
	switch (config_keys[k].type) {
	case CONFIG_T_BOOL:
		jw_bool(w, config_bool(c, k));
		break;
	case CONFIG_T_SIZE:
		jw_u64(w, config_size(c, k));
		break;
	case CONFIG_T_SECS:
		jw_dbl(w, config_ms(c, k) / 1000.0);
		break;
	case CONFIG_T_INT:
		jw_i64(w, config_int(c, k));
		break;
	default:
		jw_str(w, s);
	}
}

static void json_setting(struct jsonw *w, const struct config *c, int k)
{
	const struct config_entry *en = &c->ent[k];
	char ob[CONFIG_LINE_MAX];
	size_t i;

	jw_key(w, config_keys[k].name);
	jw_obj(w);
	jw_key(w, "value");
	if (config_keys[k].list) {
		jw_arr(w);
		for (i = 0; i < en->n; i++)
			jw_str(w, en->v[i].text);
		jw_arr_end(w);
	} else {
		json_value(w, c, k);
	}
	jw_kstr(w, "origin",
		config_origin_str(en->n ? &en->v[0].origin : &en->origin, ob, sizeof(ob)));
	jw_kstr(w, "layer", layer_names[en->layer]);
	if (config_keys[k].list) {
		jw_key(w, "origins");
		jw_arr(w);
		for (i = 0; i < en->n; i++)
			jw_str(w, config_origin_str(&en->v[i].origin, ob, sizeof(ob)));
		jw_arr_end(w);
	}
	jw_kbool(w, "mount_only", config_keys[k].mount_only);
	jw_obj_end(w);
}

static int print_json(const struct config *c, FILE *f)
{
	struct jsonw w;
	char ob[CONFIG_LINE_MAX];
	const char *text;
	size_t i;
	int k, rc = 0;

	jw_init(&w, CONFIG_JSON_CAP);
	jw_obj(&w);
	jw_key(&w, "files");
	jw_arr(&w);
	for (i = 0; i < c->nfiles; i++) {
		jw_obj(&w);
		jw_kstr(&w, "path", c->files[i].path);
		jw_kstr(&w, "layer", layer_names[c->files[i].layer]);
		jw_kbool(&w, "loaded", c->files[i].loaded);
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_key(&w, "settings");
	jw_obj(&w);
	for (k = 0; k < CONFIG_NKEYS; k++)
		json_setting(&w, c, k);
	jw_obj_end(&w);
	jw_key(&w, "aliases");
	jw_obj(&w);
	for (i = 0; i < c->naliases; i++) {
		jw_key(&w, c->aliases[i].name);
		jw_obj(&w);
		jw_kstr(&w, "cid", c->aliases[i].cid);
		jw_kstr(&w, "origin", config_origin_str(&c->aliases[i].origin, ob, sizeof(ob)));
		jw_kstr(&w, "layer", layer_names[c->aliases[i].origin.layer]);
		jw_obj_end(&w);
	}
	jw_obj_end(&w);
	jw_obj_end(&w);
	text = jw_text(&w);
	if (!text)
		rc = -ENOMEM;
	else
		fprintf(f, "%s\n", text);
	jw_free(&w);
	return rc;
}

int cmd_config(int argc, char **argv)
{
	struct srcopts *so = malloc(sizeof(*so));
	bool json = false;
	int i = 1, rc = 0;

	if (!so) {
		fprintf(stderr, "mpack config: out of memory\n");
		return 1;
	}
	srcopts_init(so);
	while (i < argc && !rc) {
		switch (cmd_arg_common("config", so, argc, argv, &i)) {
		case CMD_ARG_HELP:
			config_usage(stdout);
			free(so);
			return 0;
		case CMD_ARG_BAD:
			rc = EXIT_USAGE;
			break;
		case CMD_ARG_TAKEN:
			break;
		default:
			if (strcmp(argv[i], "--json"))
				rc = cmd_usage_err("config", "unexpected argument '%s'", argv[i]);
			json = true;
			i++;
		}
	}
	if (!rc)
		rc = cmd_finish_sources("config", so);
	if (!rc && json && print_json(&so->conf, stdout) < 0) {
		fprintf(stderr, "mpack config: out of memory\n");
		rc = 1;
	} else if (!rc && !json) {
		print_text(&so->conf, stdout);
	}
	if (!rc)
		rc = cmd_flush("config");
	free(so);
	return rc;
}
