/* config: mpackfs settings from config files, the environment and the command
 * line, with the origin of every value (see mpackfs.conf(5)).
 *
 * Layers, lowest first: built-in defaults, CONFIG_SYSTEM_FILE, the user file
 * ($XDG_CONFIG_HOME/mpackfs/config, else ~/.config/mpackfs/config), the
 * environment (MPACKFS_*), the command line. An explicit file (--config FILE,
 * else $MPACKFS_CONFIG) replaces both files and sits in the user layer.
 *
 * Per key, the highest layer that sets it wins, whatever order the layers are
 * loaded in. A list key (gateway, car) set in a layer replaces the whole list
 * of the lower layers; within one layer repeated settings append; an empty
 * value empties the list. Aliases ([aliases] section, --alias) merge by name,
 * the higher layer winning per name.
 *
 * Every value is validated when it is set, even if a higher layer overrides it,
 * so a bad line is always an error. Strings are copied into a fixed pool inside
 * struct config (no heap, nothing to free).
 *
 * File format: `key = value` lines; `#` starts a comment at the beginning of a
 * line or after whitespace; blank lines are ignored; a value may be wrapped in
 * double quotes; `[aliases]` starts the alias section (`name = CID` lines),
 * `[mpackfs]` returns to the main section. Keys may be written with '-' for '_'.
 * Paths in files must be absolute. Errors read "FILE:LINE: ...". */
#ifndef MPACK_CONFIG_H
#define MPACK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errbuf.h"

#define CONFIG_SYSTEM_FILE "/etc/mpackfs.conf"
#define CONFIG_DEFAULT_API "http://127.0.0.1:5001"
#define CONFIG_DEFAULT_GATEWAYS                                                                    \
	"http://127.0.0.1:8080,https://trustless-gateway.link,https://ipfs.io"

#define CONFIG_MAX_LIST	      16 /* entries of one list key (gateway, car) */
#define CONFIG_MAX_ALIASES    64
#define CONFIG_ALIAS_NAME_MAX 255	   /* bytes */
#define CONFIG_POOL	      (64 * 1024)  /* bytes for every string of a config */
#define CONFIG_FILE_MAX	      (256 * 1024) /* a larger config file is an error */
#define CONFIG_LINE_MAX	      4096

enum config_layer {
	CONFIG_DEFAULT,
	CONFIG_SYSTEM, /* CONFIG_SYSTEM_FILE */
	CONFIG_USER,   /* the user file, or the explicit --config / $MPACKFS_CONFIG file */
	CONFIG_ENV,
	CONFIG_FLAG,
};

enum config_key {
	CONFIG_API,
	CONFIG_GATEWAY,
	CONFIG_CAR,
	CONFIG_OFFLINE,
	CONFIG_NO_CACHE,
	CONFIG_CACHE_DIR,
	CONFIG_CACHE_SIZE,
	CONFIG_TIMEOUT,
	CONFIG_CONNECT_TIMEOUT,
	CONFIG_STALL_TIMEOUT,
	CONFIG_MAX_INFLIGHT,
	CONFIG_MAX_PER_SOURCE,
	CONFIG_SOURCE_WINDOW,
	CONFIG_RETRIES,
	CONFIG_CA_FILE,
	CONFIG_LOG_LEVEL,
	CONFIG_READ_AHEAD_KB, /* mount only */
	CONFIG_ALLOW_OTHER,   /* mount only */
	CONFIG_MAX_THREADS,   /* mount only */
	CONFIG_DIRECT_READS,  /* mount only */
	CONFIG_PASSTHROUGH,   /* mount only */
	CONFIG_COLD_DIRECT,   /* mount only */
	CONFIG_NKEYS
};

enum config_type {
	CONFIG_T_URL,	/* http(s) URL; api: "" = no API */
	CONFIG_T_PATH,	/* non-empty; absolute in files */
	CONFIG_T_BOOL,	/* true/false, yes/no, on/off, 1/0 */
	CONFIG_T_SIZE,	/* bytes or K/M/G/T (binary), > 0 */
	CONFIG_T_SECS,	/* seconds in (0, 86400], fractions allowed */
	CONFIG_T_INT,	/* integer in [min, max] */
	CONFIG_T_LEVEL, /* error, warn, info, debug */
};

struct config_keydef {
	const char *name; /* file key and mpackfs -o key */
	const char *flag; /* command-line flag ("--cache-dir"); NULL if none */
	const char *env;  /* environment variable; NULL if none */
	int type;	  /* enum config_type */
	bool list;
	bool mount_only; /* used by mpackfs only */
	long min, max;	 /* CONFIG_T_INT */
	const char *help;
};

/* Where a value came from. where is a file path, an environment variable or
 * the flag as spelled ("--gateway", "-o gateways"); line is a file's line. */
struct config_origin {
	int layer; /* enum config_layer */
	const char *where;
	unsigned line;
};

struct config_val {
	const char *text; /* in the pool */
	struct config_origin origin;
};

struct config_entry {
	struct config_val v[CONFIG_MAX_LIST]; /* scalars use v[0] */
	size_t n;			      /* 0: unset (scalar) or empty (list) */
	int layer;			      /* layer of the current values */
	struct config_origin origin;	      /* of the last setting (also of an empty list) */
};

struct config_alias {
	const char *name, *cid;
	struct config_origin origin;
};

struct config_file {
	const char *path;
	int layer;
	bool loaded; /* false: did not exist (only allowed for the default files) */
};

struct config {
	struct config_entry ent[CONFIG_NKEYS];
	struct config_alias aliases[CONFIG_MAX_ALIASES];
	size_t naliases;
	struct config_file files[2];
	size_t nfiles;
	char pool[CONFIG_POOL];
	size_t pool_used;
};

/* The table of keys, indexed by enum config_key. */
extern const struct config_keydef config_keys[CONFIG_NKEYS];

/* Fill the built-in defaults (origin "default"). */
void config_init(struct config *c);

/* The key called name (file spelling; '-' accepted for '_'), or -1. */
int config_key_find(const char *name);
/* The key whose flag is "--" + name, or -1. */
int config_key_by_flag(const char *name);

/* Copy s into c's pool. NULL when the pool is full. */
const char *config_intern(struct config *c, const char *s);

/* Validate value for key and record it under o (o->where must outlive c, or
 * come from config_intern). Layering as described above; a lower layer than
 * the current one is validated and dropped. Errors name the origin
 * ("FILE:LINE: timeout: ...", "MPACKFS_TIMEOUT: ...", "--timeout: ..."):
 * -EINVAL bad value, -ENOSPC list or pool full. */
int config_set(struct config *c, int key, const char *value, const struct config_origin *o,
	       struct errbuf *e);

/* Validate and record alias name → cid. -EINVAL (bad name or CID), -ENOSPC. */
int config_alias_set(struct config *c, const char *name, const char *cid,
		     const struct config_origin *o, struct errbuf *e);

/* Parse a config file's text (path is used in messages and origins). */
int config_load_buf(struct config *c, const char *path, const char *buf, size_t len, int layer,
		    struct errbuf *e);
/* Read and parse a file. A missing file is -ENOENT if must_exist, else 0
 * (recorded as not loaded; an unreadable one is skipped with a warning).
 * -EINVAL parse errors, -EFBIG over CONFIG_FILE_MAX, -errno for I/O. */
int config_load_file(struct config *c, const char *path, int layer, bool must_exist,
		     struct errbuf *e);
/* explicit (a --config value) or $MPACKFS_CONFIG: that file only (must exist);
 * else CONFIG_SYSTEM_FILE and the user file, if present. */
int config_load_files(struct config *c, const char *explicit_path, struct errbuf *e);
/* Apply the MPACKFS_* variables. -EINVAL naming the variable. */
int config_load_env(struct config *c, struct errbuf *e);

/* Typed values of a (validated) key. A list key gives its first value. */
const char *config_str(const struct config *c, int key); /* NULL if unset */
bool config_bool(const struct config *c, int key);
long config_int(const struct config *c, int key);
int config_ms(const struct config *c, int key); /* CONFIG_T_SECS in milliseconds */
uint64_t config_size(const struct config *c, int key);
int config_level(const struct config *c); /* enum log_level */

/* "default", "/etc/mpackfs.conf:12", "env MPACKFS_API", "flag --gateway". */
const char *config_origin_str(const struct config_origin *o, char *buf, size_t cap);

/* Parse a size ("10G", "512M", "4096", "1.5GiB"). 0 or -EINVAL. */
int config_parse_size(const char *s, uint64_t *out);

#endif
