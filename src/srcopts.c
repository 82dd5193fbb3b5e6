/* srcopts: parsing of the shared block-source options (see srcopts.h). */
#include "srcopts.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void srcopts_init(struct srcopts *o)
{
	memset(o, 0, sizeof(*o));
	fetch_cfg_defaults(&o->cfg.fetch);
}

int srcopts_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "kmgt";
	const char *u;
	char *end;
	double v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v))
		return -EINVAL;
	u = *end ? strchr(units, tolower((unsigned char)*end)) : NULL;
	if (u) {
		v *= (double)(1ull << (10 * (u - units + 1)));
		end++;
		if (*end == 'i' || *end == 'I')
			end++;
	}
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end || v >= 18446744073709551615.0)
		return -EINVAL;
	*out = (uint64_t)v;
	return 0;
}

static int srcopts_add_gateway(struct srcopts *o, const char *url, struct errbuf *e)
{
	size_t n = strlen(url);

	if (o->ngateways >= FETCH_MAX_SOURCES)
		return err_set(e, -ENOSPC, "too many gateways (at most %d)", FETCH_MAX_SOURCES);
	if (n == 0 || n >= sizeof(o->gateways[0]))
		return err_set(e, -EINVAL, "gateway URL '%s' is empty or too long", url);
	memcpy(o->gateways[o->ngateways++], url, n + 1);
	return 0;
}

static int srcopts_set_api(struct srcopts *o, const char *url, struct errbuf *e)
{
	size_t n = strlen(url);

	if (n == 0 || n >= sizeof(o->api))
		return err_set(e, -EINVAL, "API URL '%s' is empty or too long", url);
	memcpy(o->api, url, n + 1);
	o->have_api = true;
	return 0;
}

/* Drop the environment/default sources the first time a flag names one. */
static void srcopts_flag_source(struct srcopts *o)
{
	if (!o->flag_sources) {
		o->flag_sources = true;
		o->have_api = false;
		o->ngateways = 0;
	}
}

static int srcopts_set_timeout(struct srcopts *o, const char *value, struct errbuf *e)
{
	char *end;
	double t;

	errno = 0;
	t = strtod(value, &end);
	if (errno || end == value || *end || !isfinite(t) || t <= 0 || t > 86400)
		return err_set(e, -EINVAL,
			       "--timeout: '%s' is not a number of seconds in (0, 86400]", value);
	o->timeout_s = t;
	return 0;
}

static int srcopts_set_valued(struct srcopts *o, const char *name, const char *value,
			      struct errbuf *e)
{
	uint64_t sz;

	if (!strcmp(name, "gateway")) {
		srcopts_flag_source(o);
		return srcopts_add_gateway(o, value, e);
	}
	if (!strcmp(name, "api")) {
		srcopts_flag_source(o);
		return srcopts_set_api(o, value, e);
	}
	if (!strcmp(name, "car")) {
		if (o->cfg.ncars >= STORE_MAX_CARS)
			return err_set(e, -ENOSPC, "too many CAR files (at most %d)",
				       STORE_MAX_CARS);
		o->cfg.cars[o->cfg.ncars++] = value;
		return 0;
	}
	if (!strcmp(name, "cache-dir")) {
		if (!*value || strlen(value) >= sizeof(o->cache_dir))
			return err_set(e, -EINVAL, "--cache-dir: empty or too long");
		strcpy(o->cache_dir, value);
		o->flag_cache_dir = true;
		return 0;
	}
	if (!strcmp(name, "cache-size")) {
		if (srcopts_parse_size(value, &sz) || sz == 0)
			return err_set(e, -EINVAL,
				       "--cache-size: '%s' is not a size (like 10G, 512M, 4096)",
				       value);
		o->cfg.cache.max_bytes = sz;
		return 0;
	}
	return srcopts_set_timeout(o, value, e);
}

static const char *const srcopts_valued[] = {"gateway",	  "api",	"car",
					     "cache-dir", "cache-size", "timeout"};

static int srcopts_takes_value(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(srcopts_valued) / sizeof(srcopts_valued[0]); i++)
		if (!strcmp(name, srcopts_valued[i]))
			return 1;
	return 0;
}

int srcopts_set(struct srcopts *o, const char *name, const char *value, struct errbuf *e)
{
	int rc;

	if (!strcmp(name, "offline") || !strcmp(name, "no-cache")) {
		if (value)
			return err_set(e, -EINVAL, "--%s takes no value", name);
		if (name[0] == 'o')
			o->cfg.offline = true;
		else
			o->cfg.no_cache = true;
		return 1;
	}
	if (!srcopts_takes_value(name))
		return 0;
	if (!value)
		return err_set(e, -EINVAL, "--%s needs a value", name);
	rc = srcopts_set_valued(o, name, value, e);
	return rc ? rc : 1;
}

int srcopts_parse_arg(struct srcopts *o, int argc, char **argv, int *i, struct errbuf *e)
{
	const char *arg = argv[*i], *eq, *value = NULL;
	char name[32];
	size_t n;
	int rc;

	if (strncmp(arg, "--", 2))
		return 0;
	arg += 2;
	eq = strchr(arg, '=');
	n = eq ? (size_t)(eq - arg) : strlen(arg);
	if (n == 0 || n >= sizeof(name))
		return 0;
	memcpy(name, arg, n);
	name[n] = '\0';
	if (strcmp(name, "offline") && strcmp(name, "no-cache") && !srcopts_takes_value(name))
		return 0;
	if (eq) {
		value = eq + 1;
	} else if (srcopts_takes_value(name)) {
		if (*i + 1 >= argc)
			return err_set(e, -EINVAL, "--%s needs a value", name);
		value = argv[++*i];
	}
	rc = srcopts_set(o, name, value, e);
	if (rc == 1)
		++*i;
	return rc;
}

/* Gateways from a ',' or '|' separated list. */
static int srcopts_gateway_list(struct srcopts *o, const char *list, struct errbuf *e)
{
	char buf[8192], *tok, *save = NULL;
	int rc;

	if (strlen(list) >= sizeof(buf))
		return err_set(e, -EINVAL, "MPACKFS_GATEWAYS is too long");
	strcpy(buf, list);
	for (tok = strtok_r(buf, ",|", &save); tok; tok = strtok_r(NULL, ",|", &save)) {
		tok += strspn(tok, " \t");
		tok[strcspn(tok, " \t")] = '\0';
		if (!*tok)
			continue;
		rc = srcopts_add_gateway(o, tok, e);
		if (rc)
			return rc;
	}
	return 0;
}

/* Defaults, overridden by the environment (only when no source flag was given). */
static int srcopts_env_sources(struct srcopts *o, struct errbuf *e)
{
	const char *api = getenv("MPACKFS_API"), *gws = getenv("MPACKFS_GATEWAYS");
	const char *off = getenv("MPACKFS_OFFLINE");
	int rc;

	if (off && !strcmp(off, "1"))
		o->cfg.offline = true;
	o->env_sources = api || gws;
	if (!api)
		api = SRCOPTS_DEFAULT_API;
	if (*api) {
		rc = srcopts_set_api(o, api, e);
		if (rc)
			return err_prefix(e, rc, "MPACKFS_API");
	}
	rc = srcopts_gateway_list(o, gws ? gws : SRCOPTS_DEFAULT_GATEWAYS, e);
	return rc ? err_prefix(e, rc, "MPACKFS_GATEWAYS") : 0;
}

int srcopts_finish(struct srcopts *o, struct errbuf *e)
{
	struct fetch_cfg *f = &o->cfg.fetch;
	const char *dir = getenv("MPACKFS_CACHE_DIR");
	size_t i;
	int rc;

	if (!o->flag_sources) {
		rc = srcopts_env_sources(o, e);
		if (rc)
			return rc;
	}
	f->nsources = 0;
	if (o->have_api) {
		rc = fetch_cfg_add_source(f, FETCH_SRC_API, o->api, e);
		if (rc)
			return err_prefix(e, rc, "%s", o->env_sources ? "MPACKFS_API" : "--api");
	}
	for (i = 0; i < o->ngateways; i++) {
		rc = fetch_cfg_add_source(f, FETCH_SRC_GATEWAY, o->gateways[i], e);
		if (rc)
			return err_prefix(e, rc, "%s",
					  o->env_sources ? "MPACKFS_GATEWAYS" : "--gateway");
	}
	if (!o->flag_cache_dir && dir && *dir && strlen(dir) < sizeof(o->cache_dir))
		strcpy(o->cache_dir, dir);
	o->cfg.cache.dir = o->cache_dir[0] ? o->cache_dir : NULL;
	if (o->timeout_s > 0) {
		f->deadline_ms = (int)(o->timeout_s * 1000.0 + 0.999);
		if (f->stall_timeout_ms > f->deadline_ms)
			f->stall_timeout_ms = f->deadline_ms;
		if (f->connect_timeout_ms > f->deadline_ms)
			f->connect_timeout_ms = f->deadline_ms;
	}
	return 0;
}

const char *srcopts_help(void)
{
	return "block sources:\n"
	       "  --gateway URL      trustless gateway (repeatable, tried in order)\n"
	       "  --api URL          Kubo RPC API (tried before the gateways)\n"
	       "  --car FILE         CAR file as a local verified block source (repeatable)\n"
	       "  --offline          cache and CAR files only, no network\n"
	       "  --cache-dir DIR    block cache directory (default ~/.cache/mpackfs)\n"
	       "  --cache-size SIZE  cache limit, e.g. 10G, 512M, bytes (default 20G)\n"
	       "  --no-cache         do not use the block cache\n"
	       "  --timeout SECS     per-block deadline (default 60)\n"
	       "default sources: API " SRCOPTS_DEFAULT_API ", then gateways\n"
	       "  " SRCOPTS_DEFAULT_GATEWAYS "\n"
	       "environment: MPACKFS_API, MPACKFS_GATEWAYS, MPACKFS_CACHE_DIR, MPACKFS_OFFLINE=1\n"
	       "  replace the defaults; flags win.\n";
}
