/* config: settings from files, environment and flags with their origins (see config.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cache.h"
#include "cid.h"
#include "fetch.h"
#include "fstree.h"
#include "log.h"

#define CONFIG_PATH_MAX 4096

const struct config_keydef config_keys[CONFIG_NKEYS] = {
    [CONFIG_API] = {"api", "--api", "MPACKFS_API", CONFIG_T_URL, false, false, 0, 0,
		    "Kubo RPC API URL, tried before every gateway; empty: no API"},
    [CONFIG_GATEWAY] = {"gateway", "--gateway", "MPACKFS_GATEWAYS", CONFIG_T_URL, true, false, 0, 0,
			"trustless HTTP gateway URL; repeatable, tried in order"},
    [CONFIG_CAR] = {"car", "--car", NULL, CONFIG_T_PATH, true, false, 0, 0,
		    "CAR file used as a local verified block source; repeatable"},
    [CONFIG_OFFLINE] = {"offline", "--offline", "MPACKFS_OFFLINE", CONFIG_T_BOOL, false, false, 0,
			0, "cache and CAR files only, no network"},
    [CONFIG_NO_CACHE] = {"no_cache", "--no-cache", NULL, CONFIG_T_BOOL, false, false, 0, 0,
			 "run without the block cache"},
    [CONFIG_CACHE_DIR] = {"cache_dir", "--cache-dir", "MPACKFS_CACHE_DIR", CONFIG_T_PATH, false,
			  false, 0, 0, "block cache directory"},
    [CONFIG_CACHE_SIZE] = {"cache_size", "--cache-size", "MPACKFS_CACHE_SIZE", CONFIG_T_SIZE, false,
			   false, 0, 0, "cache size limit (10G, 512M, bytes)"},
    [CONFIG_TIMEOUT] = {"timeout", "--timeout", "MPACKFS_TIMEOUT", CONFIG_T_SECS, false, false, 0,
			0, "deadline for one block, seconds"},
    [CONFIG_CONNECT_TIMEOUT] = {"connect_timeout", "--connect-timeout", NULL, CONFIG_T_SECS, false,
				false, 0, 0, "TCP/TLS connect timeout, seconds"},
    [CONFIG_STALL_TIMEOUT] = {"stall_timeout", "--stall-timeout", NULL, CONFIG_T_SECS, false, false,
			      0, 0, "abort a transfer idle this long, seconds"},
    [CONFIG_MAX_INFLIGHT] = {"max_inflight", "--max-inflight", NULL, CONFIG_T_INT, false, false, 1,
			     256, "concurrent block requests in total"},
    [CONFIG_MAX_PER_SOURCE] = {"max_per_source", "--max-per-source", NULL, CONFIG_T_INT, false,
			       false, 1, 64, "concurrent block requests per source, at most"},
    [CONFIG_SOURCE_WINDOW] = {"source_window", "--source-window", NULL, CONFIG_T_SIZE, false, false,
			      0, 0, "bytes of blocks in flight per source"},
    [CONFIG_RETRIES] = {"retries", "--retries", NULL, CONFIG_T_INT, false, false, 0, 10,
			"retries per source after a transient error"},
    [CONFIG_CA_FILE] = {"ca_file", "--ca-file", NULL, CONFIG_T_PATH, false, false, 0, 0,
			"CA certificates for HTTPS (default: the system's)"},
    [CONFIG_LOG_LEVEL] = {"log_level", "--log-level", "MPACKFS_LOG_LEVEL", CONFIG_T_LEVEL, false,
			  false, 0, 0, "error, warn, info or debug"},
    [CONFIG_READ_AHEAD_KB] = {"read_ahead_kb", "--read-ahead-kb", NULL, CONFIG_T_INT, false, true,
			      0, 1 << 20, "kernel readahead of the mount, KiB; 0: leave"},
    [CONFIG_ALLOW_OTHER] = {"allow_other", NULL, NULL, CONFIG_T_BOOL, false, true, 0, 0,
			    "let other users read the mount"},
    [CONFIG_MAX_THREADS] = {"max_threads", NULL, NULL, CONFIG_T_INT, false, true, 1, 1024,
			    "FUSE worker threads at most"},
    [CONFIG_DIRECT_READS] = {"direct_reads", NULL, NULL, CONFIG_T_BOOL, false, true, 0, 0,
			     "read cached blocks not in memory with O_DIRECT"},
    [CONFIG_PASSTHROUGH] = {"passthrough", NULL, NULL, CONFIG_T_BOOL, false, true, 0, 0,
			    "let the kernel read fully cached files from verified copies"},
    [CONFIG_COLD_DIRECT] = {"cold_direct", NULL, NULL, CONFIG_T_BOOL, false, true, 0, 0,
			    "reads of files not yet cached bypass the kernel page cache"},
};

const char *config_intern(struct config *c, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p;

	if (n > sizeof(c->pool) - c->pool_used)
		return NULL;
	p = c->pool + c->pool_used;
	memcpy(p, s, n);
	c->pool_used += n;
	return p;
}

/* Record a default value (never fails for the built-in texts). */
static void config_default(struct config *c, int key, const char *text)
{
	struct config_entry *en = &c->ent[key];
	const char *p = config_intern(c, text);

	if (!p || en->n >= CONFIG_MAX_LIST)
		return;
	en->v[en->n].text = p;
	en->v[en->n].origin = en->origin;
	en->n++;
}

static void config_default_ms(struct config *c, int key, int ms)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%g", ms / 1000.0);
	config_default(c, key, buf);
}

static void config_default_int(struct config *c, int key, long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", v);
	config_default(c, key, buf);
}

/* Bytes, as "8M" when a whole number of MiB. */
static void config_default_size(struct config *c, int key, uint64_t v)
{
	char buf[32];

	if (v && v % (1u << 20) == 0)
		snprintf(buf, sizeof(buf), "%lluM", (unsigned long long)(v >> 20));
	else
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	config_default(c, key, buf);
}

void config_init(struct config *c)
{
	struct fetch_cfg f;
	char buf[CONFIG_PATH_MAX], *save = NULL, *tok;
	int k;

	memset(c, 0, sizeof(*c));
	for (k = 0; k < CONFIG_NKEYS; k++)
		c->ent[k].origin.layer = CONFIG_DEFAULT;
	fetch_cfg_defaults(&f);
	config_default(c, CONFIG_API, CONFIG_DEFAULT_API);
	snprintf(buf, sizeof(buf), "%s", CONFIG_DEFAULT_GATEWAYS);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		config_default(c, CONFIG_GATEWAY, tok);
	config_default(c, CONFIG_OFFLINE, "false");
	config_default(c, CONFIG_NO_CACHE, "false");
	config_default(c, CONFIG_CACHE_DIR, cache_default_dir(buf, sizeof(buf)));
	config_default(c, CONFIG_CACHE_SIZE, "20G");
	config_default_ms(c, CONFIG_TIMEOUT, f.deadline_ms);
	config_default_ms(c, CONFIG_CONNECT_TIMEOUT, f.connect_timeout_ms);
	config_default_ms(c, CONFIG_STALL_TIMEOUT, f.stall_timeout_ms);
	config_default_int(c, CONFIG_MAX_INFLIGHT, f.max_inflight);
	config_default_int(c, CONFIG_MAX_PER_SOURCE, f.max_per_source);
	config_default_size(c, CONFIG_SOURCE_WINDOW, f.source_window);
	config_default_int(c, CONFIG_RETRIES, f.retries);
	config_default(c, CONFIG_LOG_LEVEL, "warn");
	config_default(c, CONFIG_READ_AHEAD_KB, "4096");
	config_default(c, CONFIG_ALLOW_OTHER, "false");
	config_default(c, CONFIG_MAX_THREADS, "10");
	config_default(c, CONFIG_DIRECT_READS, "true");
	config_default(c, CONFIG_PASSTHROUGH, "true");
	config_default(c, CONFIG_COLD_DIRECT, "true");
}

int config_key_find(const char *name)
{
	char norm[32];
	size_t i, n = strlen(name);
	int k;

	if (n >= sizeof(norm))
		return -1;
	for (i = 0; i <= n; i++)
		norm[i] = name[i] == '-' ? '_' : name[i];
	for (k = 0; k < CONFIG_NKEYS; k++)
		if (!strcmp(norm, config_keys[k].name))
			return k;
	return -1;
}

int config_key_by_flag(const char *name)
{
	int k;

	for (k = 0; k < CONFIG_NKEYS; k++)
		if (config_keys[k].flag && !strcmp(name, config_keys[k].flag + 2))
			return k;
	return -1;
}

int config_parse_size(const char *s, uint64_t *out)
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

/* 1 true, 0 false, -1 not a boolean. */
static int config_parse_bool(const char *s)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	size_t i;

	for (i = 0; i < 4; i++) {
		if (!strcasecmp(s, yes[i]))
			return 1;
		if (!strcasecmp(s, no[i]))
			return 0;
	}
	return -1;
}

static int config_parse_secs(const char *s, double *out)
{
	char *end;
	double t;

	errno = 0;
	t = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(t) || t <= 0 || t > 86400)
		return -EINVAL;
	*out = t;
	return 0;
}

static int config_parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max || !isdigit((unsigned char)*s))
		return -EINVAL;
	*out = v;
	return 0;
}

static int config_check_url(const char *v, struct errbuf *e)
{
	struct fetch_cfg scratch;

	scratch.nsources = 0;
	return fetch_cfg_add_source(&scratch, FETCH_SRC_GATEWAY, v, e);
}

static int config_check_path(const char *v, int layer, struct errbuf *e)
{
	if (strlen(v) >= CONFIG_PATH_MAX)
		return err_set(e, -EINVAL, "path longer than %d bytes", CONFIG_PATH_MAX - 1);
	if ((layer == CONFIG_SYSTEM || layer == CONFIG_USER) && v[0] != '/')
		return err_set(e, -EINVAL, "'%.200s' is not an absolute path", v);
	return 0;
}

/* Validate v for k; the message has no location (the caller adds it). */
static int config_check(const struct config_keydef *k, const char *v, int layer, struct errbuf *e)
{
	uint64_t sz;
	double t;
	long n;

	if (!*v)
		return k->list || k->type == CONFIG_T_URL ? 0 : err_set(e, -EINVAL, "empty value");
	switch (k->type) {
	case CONFIG_T_URL:
		return config_check_url(v, e);
	case CONFIG_T_PATH:
		return config_check_path(v, layer, e);
	case CONFIG_T_BOOL:
		return config_parse_bool(v) < 0 ? err_set(e, -EINVAL,
							  "'%.100s' is not a boolean "
							  "(true or false)",
							  v)
						: 0;
	case CONFIG_T_SIZE:
		return config_parse_size(v, &sz) || sz == 0
			   ? err_set(e, -EINVAL, "'%.100s' is not a size (like 10G, 512M, 4096)", v)
			   : 0;
	case CONFIG_T_SECS:
		return config_parse_secs(v, &t) ? err_set(e, -EINVAL,
							  "'%.100s' is not a number of "
							  "seconds in (0, 86400]",
							  v)
						: 0;
	case CONFIG_T_INT:
		return config_parse_int(v, k->min, k->max, &n)
			   ? err_set(e, -EINVAL, "'%.100s' is not an integer in [%ld, %ld]", v,
				     k->min, k->max)
			   : 0;
	default:
		return log_level_parse(v) < 0 ? err_set(e, -EINVAL,
							"'%.100s' is not a log level "
							"(error, warn, info or debug)",
							v)
					      : 0;
	}
}

/* Prefix e with where the bad value came from. */
static int config_fail(const struct config_origin *o, const char *what, int rc, struct errbuf *e)
{
	switch (o->layer) {
	case CONFIG_SYSTEM:
	case CONFIG_USER:
		return err_prefix(e, rc, "%s:%u: %s", o->where, o->line, what);
	case CONFIG_ENV:
	case CONFIG_FLAG:
		return err_prefix(e, rc, "%s", o->where);
	default:
		return err_prefix(e, rc, "%s", what);
	}
}

int config_set(struct config *c, int key, const char *value, const struct config_origin *o,
	       struct errbuf *e)
{
	const struct config_keydef *k;
	struct config_entry *en;
	const char *text;
	size_t slot;
	int rc;

	if (key < 0 || key >= CONFIG_NKEYS || !value)
		return err_set(e, -EINVAL, "config: no key %d or no value", key);
	k = &config_keys[key];
	en = &c->ent[key];
	rc = config_check(k, value, o->layer, e);
	if (rc)
		return config_fail(o, k->name, rc, e);
	if (o->layer < en->layer)
		return 0;
	if (o->layer > en->layer)
		en->n = 0;
	en->layer = o->layer;
	en->origin = *o;
	if (k->list && !*value) {
		en->n = 0;
		return 0;
	}
	if (k->list && en->n >= CONFIG_MAX_LIST)
		return config_fail(o, k->name,
				   err_set(e, -ENOSPC, "more than %d values", CONFIG_MAX_LIST), e);
	text = config_intern(c, value);
	if (!text)
		return config_fail(o, k->name, err_set(e, -ENOSPC, "configuration too large"), e);
	slot = k->list ? en->n++ : 0;
	if (!k->list)
		en->n = 1;
	en->v[slot].text = text;
	en->v[slot].origin = *o;
	return 0;
}

static int config_check_alias(const char *name, const char *cid, struct errbuf *e)
{
	struct cid parsed;
	size_t i, n = strlen(name);

	if (n == 0)
		return err_set(e, -EINVAL, "empty alias name");
	if (n > CONFIG_ALIAS_NAME_MAX)
		return err_set(e, -EINVAL, "alias name longer than %d bytes",
			       CONFIG_ALIAS_NAME_MAX);
	for (i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f || name[i] == '/' ||
		    name[i] == '=')
			return err_set(e, -EINVAL,
				       "alias name '%.100s' contains '/', '=' or a "
				       "control character",
				       name);
	if (!strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, FSTREE_CTL_NAME))
		return err_set(e, -EINVAL, "alias name '%s' is reserved", name);
	if (cid_parse(name, n, &parsed, NULL) == 0)
		return err_set(e, -EINVAL, "alias name '%.100s' is a CID", name);
	if (cid_parse(cid, strlen(cid), &parsed, e) < 0)
		return err_prefix(e, -EINVAL, "alias '%.100s'", name);
	return 0;
}

int config_alias_set(struct config *c, const char *name, const char *cid,
		     const struct config_origin *o, struct errbuf *e)
{
	struct config_alias *a = NULL;
	size_t i;
	int rc;

	rc = config_check_alias(name, cid, e);
	if (rc)
		return config_fail(o, "alias", rc, e);
	for (i = 0; i < c->naliases && !a; i++)
		if (!strcmp(c->aliases[i].name, name))
			a = &c->aliases[i];
	if (a && o->layer < a->origin.layer)
		return 0;
	if (!a) {
		if (c->naliases >= CONFIG_MAX_ALIASES)
			return config_fail(
			    o, "alias",
			    err_set(e, -ENOSPC, "more than %d aliases", CONFIG_MAX_ALIASES), e);
		a = &c->aliases[c->naliases];
		a->name = config_intern(c, name);
		if (!a->name)
			return config_fail(o, "alias",
					   err_set(e, -ENOSPC,
						   "configuration too "
						   "large"),
					   e);
		c->naliases++;
	}
	a->cid = config_intern(c, cid);
	if (!a->cid)
		return config_fail(o, "alias", err_set(e, -ENOSPC, "configuration too large"), e);
	a->origin = *o;
	return 0;
}

static char *config_trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* Cut a comment: '#' at the start or after whitespace. */
static void config_cut_comment(char *s)
{
	char *p;

	for (p = s; *p; p++)
		if (*p == '#' && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return;
		}
}

/* The value after '=': trimmed, comment cut, optional double quotes removed. */
static int config_value(char *s, char **out, struct errbuf *e)
{
	char *q;

	s = config_trim(s);
	if (*s != '"') {
		config_cut_comment(s);
		*out = config_trim(s);
		return 0;
	}
	q = strchr(s + 1, '"');
	if (!q)
		return err_set(e, -EINVAL, "missing closing '\"'");
	*q = '\0';
	q = config_trim(q + 1);
	if (*q && *q != '#')
		return err_set(e, -EINVAL, "text after the closing '\"'");
	*out = s + 1;
	return 0;
}

/* "[name]" line: 1 for [aliases], 0 for [mpackfs]. */
static int config_section(char *s, struct errbuf *e)
{
	char *end = strchr(s, ']'), *rest, *name;

	if (!end)
		return err_set(e, -EINVAL, "missing ']'");
	*end = '\0';
	rest = config_trim(end + 1);
	if (*rest && *rest != '#')
		return err_set(e, -EINVAL, "text after ']'");
	name = config_trim(s + 1);
	if (!strcmp(name, "aliases"))
		return 1;
	if (!strcmp(name, "mpackfs"))
		return 0;
	return err_set(e, -EINVAL, "unknown section '[%.100s]'", name);
}

/* Prefix a message of the line parser with FILE:LINE. */
static int config_at(const struct config_origin *o, int rc, struct errbuf *e)
{
	return err_prefix(e, rc, "%s:%u", o->where, o->line);
}

/* One line (NUL-terminated, writable). *aliases tracks the section. */
static int config_line(struct config *c, const struct config_origin *o, char *s, bool *aliases,
		       struct errbuf *e)
{
	char *eq, *key, *value = NULL;
	int rc, k;

	s = config_trim(s);
	if (!*s || *s == '#')
		return 0;
	if (*s == '[') {
		rc = config_section(s, e);
		if (rc < 0)
			return config_at(o, rc, e);
		*aliases = rc == 1;
		return 0;
	}
	eq = strchr(s, '=');
	if (!eq)
		return config_at(o, err_set(e, -EINVAL, "expected 'key = value', got '%.60s'", s),
				 e);
	*eq = '\0';
	key = config_trim(s);
	if (!*key)
		return config_at(o, err_set(e, -EINVAL, "missing key before '='"), e);
	rc = config_value(eq + 1, &value, e);
	if (rc)
		return config_at(o, rc, e);
	if (*aliases)
		return config_alias_set(c, key, value, o, e);
	k = config_key_find(key);
	if (k < 0)
		return config_at(o, err_set(e, -EINVAL, "unknown key '%.100s'", key), e);
	return config_set(c, k, value, o, e);
}

int config_load_buf(struct config *c, const char *path, const char *buf, size_t len, int layer,
		    struct errbuf *e)
{
	struct config_origin o = {layer, config_intern(c, path), 0};
	char line[CONFIG_LINE_MAX];
	bool aliases = false;
	size_t off = 0, n;
	const char *nl;
	int rc;

	if (!o.where)
		return err_set(e, -ENOSPC, "%s: configuration too large", path);
	while (off < len) {
		nl = memchr(buf + off, '\n', len - off);
		n = nl ? (size_t)(nl - (buf + off)) : len - off;
		o.line++;
		if (n >= sizeof(line))
			return err_set(e, -EINVAL, "%s:%u: line longer than %d bytes", path, o.line,
				       CONFIG_LINE_MAX - 1);
		if (memchr(buf + off, '\0', n))
			return err_set(e, -EINVAL, "%s:%u: NUL byte", path, o.line);
		memcpy(line, buf + off, n);
		line[n] = '\0';
		off += n + (nl != NULL);
		rc = config_line(c, &o, line, &aliases, e);
		if (rc)
			return rc;
	}
	return 0;
}

/* Read at most CONFIG_FILE_MAX bytes of fd into *buf (caller frees). */
static int config_read_fd(int fd, const char *path, char **buf, size_t *len, struct errbuf *e)
{
	char *p = malloc(CONFIG_FILE_MAX + 1);
	size_t n = 0;
	ssize_t r;

	if (!p)
		return err_set(e, -ENOMEM, "%s: out of memory", path);
	while (n <= CONFIG_FILE_MAX) {
		r = read(fd, p + n, CONFIG_FILE_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(p);
			return err_set(e, -errno, "%s: %s", path, strerror(errno));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > CONFIG_FILE_MAX) {
		free(p);
		return err_set(e, -EFBIG, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
	}
	*buf = p;
	*len = n;
	return 0;
}

int config_load_file(struct config *c, const char *path, int layer, bool must_exist,
		     struct errbuf *e)
{
	struct config_file *cf = c->nfiles < 2 ? &c->files[c->nfiles] : NULL;
	char *buf = NULL;
	size_t len = 0;
	int fd, rc;

	if (cf) {
		cf->path = config_intern(c, path);
		cf->layer = layer;
		cf->loaded = false;
		c->nfiles += cf->path != NULL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && (errno == ENOENT || errno == ENOTDIR) && !must_exist)
		return 0;
	if (fd < 0 && errno == EACCES && !must_exist) {
		log_warn("config: %s: %s; skipped", path, strerror(errno));
		return 0;
	}
	if (fd < 0)
		return err_set(e, -errno, "%s: %s", path, strerror(errno));
	rc = config_read_fd(fd, path, &buf, &len, e);
	close(fd);
	if (rc)
		return rc;
	rc = config_load_buf(c, path, buf, len, layer, e);
	free(buf);
	if (!rc && cf)
		cf->loaded = true;
	return rc;
}

/* $XDG_CONFIG_HOME/mpackfs/config, else ~/.config/mpackfs/config; NULL if no home. */
static const char *config_user_path(char *buf, size_t cap)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	struct passwd pw, *res = NULL;
	char tmp[1024];

	if (xdg && xdg[0] == '/')
		snprintf(buf, cap, "%s/mpackfs/config", xdg);
	else if (home && home[0] == '/')
		snprintf(buf, cap, "%s/.config/mpackfs/config", home);
	else if (getpwuid_r(getuid(), &pw, tmp, sizeof(tmp), &res) == 0 && res && res->pw_dir &&
		 res->pw_dir[0] == '/')
		snprintf(buf, cap, "%s/.config/mpackfs/config", res->pw_dir);
	else
		return NULL;
	return buf;
}

int config_load_files(struct config *c, const char *explicit_path, struct errbuf *e)
{
	const char *env = getenv("MPACKFS_CONFIG"), *user;
	char buf[CONFIG_PATH_MAX];
	int rc;

	if (explicit_path && *explicit_path)
		return config_load_file(c, explicit_path, CONFIG_USER, true, e);
	if (env && *env)
		return config_load_file(c, env, CONFIG_USER, true, e);
	rc = config_load_file(c, CONFIG_SYSTEM_FILE, CONFIG_SYSTEM, false, e);
	if (rc)
		return rc;
	user = config_user_path(buf, sizeof(buf));
	return user ? config_load_file(c, user, CONFIG_USER, false, e) : 0;
}

/* MPACKFS_GATEWAYS: URLs separated by ',', '|' or blanks; "" means none. */
static int config_env_list(struct config *c, int key, const char *v, const struct config_origin *o,
			   struct errbuf *e)
{
	char buf[CONFIG_LINE_MAX * 2], *tok, *save = NULL;
	int rc;

	if (strlen(v) >= sizeof(buf))
		return err_set(e, -EINVAL, "%s: too long", o->where);
	strcpy(buf, v);
	rc = config_set(c, key, "", o, e);
	for (tok = strtok_r(buf, ",| \t", &save); tok && !rc; tok = strtok_r(NULL, ",| \t", &save))
		rc = config_set(c, key, tok, o, e);
	return rc;
}

int config_load_env(struct config *c, struct errbuf *e)
{
	struct config_origin o = {CONFIG_ENV, NULL, 0};
	const char *v;
	int k, rc;

	for (k = 0; k < CONFIG_NKEYS; k++) {
		if (!config_keys[k].env || !(v = getenv(config_keys[k].env)))
			continue;
		if (!*v && k != CONFIG_API && !config_keys[k].list)
			continue; /* an empty variable counts as unset */
		o.where = config_keys[k].env;
		rc = config_keys[k].list ? config_env_list(c, k, v, &o, e)
					 : config_set(c, k, v, &o, e);
		if (rc)
			return rc;
	}
	return 0;
}

const char *config_str(const struct config *c, int key)
{
	const struct config_entry *en = &c->ent[key];

	return en->n ? en->v[0].text : NULL;
}

bool config_bool(const struct config *c, int key)
{
	const char *s = config_str(c, key);

	return s && config_parse_bool(s) == 1;
}

long config_int(const struct config *c, int key)
{
	const char *s = config_str(c, key);

	return s ? strtol(s, NULL, 10) : 0;
}

int config_ms(const struct config *c, int key)
{
	const char *s = config_str(c, key);
	double t = 0;

	if (!s || config_parse_secs(s, &t))
		return 0;
	return (int)(t * 1000.0 + 0.999);
}

uint64_t config_size(const struct config *c, int key)
{
	const char *s = config_str(c, key);
	uint64_t v = 0;

	if (s)
		config_parse_size(s, &v);
	return v;
}

int config_level(const struct config *c)
{
	const char *s = config_str(c, CONFIG_LOG_LEVEL);
	int l = s ? log_level_parse(s) : -1;

	return l < 0 ? LOG_LVL_WARN : l;
}

const char *config_origin_str(const struct config_origin *o, char *buf, size_t cap)
{
	switch (o->layer) {
	case CONFIG_SYSTEM:
	case CONFIG_USER:
		snprintf(buf, cap, "%s:%u", o->where, o->line);
		break;
	case CONFIG_ENV:
		snprintf(buf, cap, "env %s", o->where);
		break;
	case CONFIG_FLAG:
		snprintf(buf, cap, "flag %s", o->where);
		break;
	default:
		snprintf(buf, cap, "default");
	}
	return buf;
}
