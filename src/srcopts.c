/* srcopts: the shared block-source options, resolved through config (see srcopts.h). */
#include "srcopts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

_Static_assert(CONFIG_MAX_LIST <= STORE_MAX_CARS, "every configured CAR fits the store");

void srcopts_init(struct srcopts *o)
{
	memset(o, 0, sizeof(*o));
	config_init(&o->conf);
	fetch_cfg_defaults(&o->cfg.fetch);
	o->log_level = LOG_LVL_WARN;
}

int srcopts_parse_size(const char *s, uint64_t *out)
{
	return config_parse_size(s, out);
}

int srcopts_set_key(struct srcopts *o, int key, const char *value, const char *where,
		    struct errbuf *e)
{
	struct config_origin org = {CONFIG_FLAG, config_intern(&o->conf, where), 0};

	if (!org.where)
		return err_set(e, -ENOSPC, "%s: configuration too large", where);
	return config_set(&o->conf, key, value, &org, e);
}

int srcopts_set(struct srcopts *o, const char *name, const char *value, struct errbuf *e)
{
	int key = config_key_by_flag(name), rc;

	if (key < 0 || config_keys[key].mount_only)
		return 0;
	if (config_keys[key].type == CONFIG_T_BOOL) {
		if (value)
			return err_set(e, -EINVAL, "--%s takes no value", name);
		value = "true";
	} else if (!value) {
		return err_set(e, -EINVAL, "--%s needs a value", name);
	}
	rc = srcopts_set_key(o, key, value, config_keys[key].flag, e);
	return rc ? rc : 1;
}

/* -o gateways=URL|URL...: appended at the command-line layer (empty: none). */
static int srcopts_gateways_opt(struct srcopts *o, const char *value, struct errbuf *e)
{
	char buf[CONFIG_LINE_MAX], *tok, *save = NULL;
	int rc;

	if (strlen(value) >= sizeof(buf))
		return err_set(e, -EINVAL, "-o gateways: too long");
	strcpy(buf, value);
	rc = *value ? 0 : srcopts_set_key(o, CONFIG_GATEWAY, "", "-o gateways", e);
	for (tok = strtok_r(buf, "|", &save); tok && !rc; tok = strtok_r(NULL, "|", &save))
		rc = srcopts_set_key(o, CONFIG_GATEWAY, tok, "-o gateways", e);
	return rc ? rc : 1;
}

int srcopts_mount_opt(struct srcopts *o, const char *key, const char *value, struct errbuf *e)
{
	char where[64];
	int k, rc;

	if (!strcmp(key, "config")) {
		if (!value || !*value)
			return err_set(e, -EINVAL, "-o config needs a file name");
		o->config_file = config_intern(&o->conf, value);
		return o->config_file ? 1 : err_set(e, -ENOSPC, "-o config: too long");
	}
	if (!strcmp(key, "gateways"))
		return value ? srcopts_gateways_opt(o, value, e)
			     : err_set(e, -EINVAL, "-o gateways needs a value");
	k = config_key_find(key);
	if (k < 0)
		return 0;
	snprintf(where, sizeof(where), "-o %s", config_keys[k].name);
	if (!value && config_keys[k].type != CONFIG_T_BOOL)
		return err_set(e, -EINVAL, "%s needs a value", where);
	rc = srcopts_set_key(o, k, value ? value : "true", where, e);
	return rc ? rc : 1;
}

int srcopts_alias(struct srcopts *o, const char *spec, const char *where, struct errbuf *e)
{
	struct config_origin org = {CONFIG_FLAG, config_intern(&o->conf, where), 0};
	char buf[CONFIG_LINE_MAX], *eq;

	if (!org.where || strlen(spec) >= sizeof(buf))
		return err_set(e, -EINVAL, "%s: too long", where);
	strcpy(buf, spec);
	eq = strchr(buf, '=');
	if (!eq)
		return err_set(e, -EINVAL, "%s: expected NAME=CID, got '%.100s'", where, spec);
	*eq = '\0';
	return config_alias_set(&o->conf, buf, eq + 1, &org, e);
}

int srcopts_parse_arg(struct srcopts *o, int argc, char **argv, int *i, struct errbuf *e)
{
	const char *arg = argv[*i], *eq, *value = NULL;
	bool is_config, is_bool;
	char name[32];
	size_t n;
	int rc, key;

	if (strncmp(arg, "--", 2))
		return 0;
	arg += 2;
	eq = strchr(arg, '=');
	n = eq ? (size_t)(eq - arg) : strlen(arg);
	if (n == 0 || n >= sizeof(name))
		return 0;
	memcpy(name, arg, n);
	name[n] = '\0';
	is_config = !strcmp(name, "config");
	key = config_key_by_flag(name);
	if (!is_config && (key < 0 || config_keys[key].mount_only))
		return 0;
	is_bool = !is_config && config_keys[key].type == CONFIG_T_BOOL;
	if (eq) {
		value = eq + 1;
	} else if (!is_bool) {
		if (*i + 1 >= argc)
			return err_set(e, -EINVAL, "--%s needs a value", name);
		value = argv[++*i];
	}
	if (is_config) {
		if (!*value)
			return err_set(e, -EINVAL, "--config needs a file name");
		o->config_file = value;
		rc = 1;
	} else {
		rc = srcopts_set(o, name, value, e);
	}
	if (rc == 1)
		++*i;
	return rc;
}

/* A source named on the command line replaces every lower-layer source and
 * implies online (unless --offline is on the command line as well). */
static int srcopts_flag_sources(struct srcopts *o, struct errbuf *e)
{
	struct config *c = &o->conf;
	const struct config_entry *api = &c->ent[CONFIG_API], *gw = &c->ent[CONFIG_GATEWAY];
	struct config_origin org;
	int rc = 0;

	if (api->layer != CONFIG_FLAG && gw->layer != CONFIG_FLAG)
		return 0;
	org = api->layer == CONFIG_FLAG ? api->origin : gw->origin;
	if (api->layer != CONFIG_FLAG)
		rc = config_set(c, CONFIG_API, "", &org, e);
	if (!rc && gw->layer != CONFIG_FLAG)
		rc = config_set(c, CONFIG_GATEWAY, "", &org, e);
	if (!rc && c->ent[CONFIG_OFFLINE].layer != CONFIG_FLAG)
		rc = config_set(c, CONFIG_OFFLINE, "false", &org, e);
	return rc;
}

static int srcopts_sources(struct srcopts *o, struct errbuf *e)
{
	const struct config_entry *api = &o->conf.ent[CONFIG_API];
	const struct config_entry *gw = &o->conf.ent[CONFIG_GATEWAY];
	struct fetch_cfg *f = &o->cfg.fetch;
	char ob[CONFIG_LINE_MAX];
	size_t i;
	int rc;

	f->nsources = 0;
	if (api->n && api->v[0].text[0]) {
		rc = fetch_cfg_add_source(f, FETCH_SRC_API, api->v[0].text, e);
		if (rc)
			return err_prefix(e, rc, "%s",
					  config_origin_str(&api->v[0].origin, ob, sizeof(ob)));
	}
	for (i = 0; i < gw->n; i++) {
		rc = fetch_cfg_add_source(f, FETCH_SRC_GATEWAY, gw->v[i].text, e);
		if (rc)
			return err_prefix(e, rc, "%s",
					  config_origin_str(&gw->v[i].origin, ob, sizeof(ob)));
	}
	return 0;
}

static int srcopts_fetch(struct srcopts *o, struct errbuf *e)
{
	const struct config *c = &o->conf;
	struct fetch_cfg *f = &o->cfg.fetch;
	const char *ca = config_str(c, CONFIG_CA_FILE);

	f->deadline_ms = config_ms(c, CONFIG_TIMEOUT);
	f->connect_timeout_ms = config_ms(c, CONFIG_CONNECT_TIMEOUT);
	f->stall_timeout_ms = config_ms(c, CONFIG_STALL_TIMEOUT);
	if (f->connect_timeout_ms > f->deadline_ms)
		f->connect_timeout_ms = f->deadline_ms;
	if (f->stall_timeout_ms > f->deadline_ms)
		f->stall_timeout_ms = f->deadline_ms;
	f->max_inflight = (int)config_int(c, CONFIG_MAX_INFLIGHT);
	f->max_per_source = (int)config_int(c, CONFIG_MAX_PER_SOURCE);
	f->source_window = config_size(c, CONFIG_SOURCE_WINDOW);
	f->retries = (int)config_int(c, CONFIG_RETRIES);
	f->ca_path[0] = '\0';
	if (ca && strlen(ca) >= sizeof(f->ca_path))
		return err_set(e, -EINVAL, "ca_file: path longer than %zu bytes",
			       sizeof(f->ca_path) - 1);
	if (ca)
		strcpy(f->ca_path, ca);
	return 0;
}

int srcopts_finish(struct srcopts *o, struct errbuf *e)
{
	struct config *c = &o->conf;
	const struct config_entry *cars = &c->ent[CONFIG_CAR];
	size_t i;
	int rc;

	rc = srcopts_flag_sources(o, e);
	if (!rc)
		rc = config_load_files(c, o->config_file, e);
	if (!rc)
		rc = config_load_env(c, e);
	if (!rc)
		rc = srcopts_sources(o, e);
	if (!rc)
		rc = srcopts_fetch(o, e);
	if (rc)
		return rc;
	o->cfg.ncars = cars->n;
	for (i = 0; i < cars->n; i++)
		o->cfg.cars[i] = cars->v[i].text;
	o->cfg.offline = config_bool(c, CONFIG_OFFLINE);
	o->cfg.no_cache = config_bool(c, CONFIG_NO_CACHE);
	o->cfg.cache.dir = c->ent[CONFIG_CACHE_DIR].layer == CONFIG_DEFAULT
			       ? NULL
			       : config_str(c, CONFIG_CACHE_DIR);
	o->cfg.cache.max_bytes = config_size(c, CONFIG_CACHE_SIZE);
	o->cfg.cache.direct_reads = config_bool(c, CONFIG_DIRECT_READS);
	o->log_level = config_level(c);
	if (c->ent[CONFIG_LOG_LEVEL].layer != CONFIG_DEFAULT)
		log_init(NULL, o->log_level, 0);
	return 0;
}

const char *srcopts_help(void)
{
	return "block sources:\n"
	       "  --config FILE      read only this config file (default /etc/mpackfs.conf,\n"
	       "                     then ~/.config/mpackfs/config)\n"
	       "  --gateway URL      trustless gateway (repeatable, tried in order)\n"
	       "  --api URL          Kubo RPC API (tried before the gateways)\n"
	       "  --car FILE         CAR file as a local verified block source (repeatable)\n"
	       "  --offline          cache and CAR files only, no network\n"
	       "  --cache-dir DIR    block cache directory (default ~/.cache/mpackfs)\n"
	       "  --cache-size SIZE  cache limit, e.g. 10G, 512M, bytes (default 20G)\n"
	       "  --no-cache         do not use the block cache\n"
	       "  --timeout SECS     per-block deadline (default 60)\n"
	       "  --connect-timeout SECS, --stall-timeout SECS, --max-inflight N,\n"
	       "  --max-per-source N, --retries N, --ca-file FILE, --log-level LEVEL\n"
	       "default sources: API " SRCOPTS_DEFAULT_API ", then gateways\n"
	       "  " SRCOPTS_DEFAULT_GATEWAYS "\n"
	       "a --gateway or --api replaces every source of the config files and environment.\n"
	       "environment: MPACKFS_API, MPACKFS_GATEWAYS, MPACKFS_CACHE_DIR, "
	       "MPACKFS_CACHE_SIZE,\n"
	       "  MPACKFS_OFFLINE, MPACKFS_TIMEOUT, MPACKFS_LOG_LEVEL, MPACKFS_CONFIG;\n"
	       "  flags > environment > config files > defaults. See mpackfs.conf(5).\n";
}
