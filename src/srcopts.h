/* srcopts: the block-source options shared by every mpack subcommand and the
 * mpackfs mount, resolved through config (files, environment, flags) into a
 * struct store_cfg, with the origin of every value in o->conf.
 *
 * Flags (each also accepted as --name=VALUE):
 *   --config FILE     read only this config file (instead of /etc/mpackfs.conf
 *                     and ~/.config/mpackfs/config)
 *   --gateway URL     trustless HTTP gateway; repeatable, tried in the order given
 *   --api URL         Kubo RPC API (tried before every gateway)
 *   --car FILE        CAR file (v1 or v2) used as a local, verified block source;
 *                     repeatable, up to STORE_MAX_CARS; checked before the network
 *   --offline         cache and CAR files only, no network
 *   --cache-dir DIR   block cache directory
 *   --cache-size SIZE cache size limit: bytes, or a number with K, M, G or T
 *                     (binary multiples; "10G", "512M", "1.5G", optional "B"/"iB")
 *   --no-cache        do not open the cache (every block comes from CARs/network)
 *   --timeout SECS    per-block deadline in seconds (fractions allowed)
 *   --connect-timeout SECS, --stall-timeout SECS, --max-inflight N,
 *   --max-per-source N, --retries N, --ca-file FILE, --log-level LEVEL
 * An empty --gateway or --api value means "none".
 *
 * Precedence per key: flags > environment (MPACKFS_API, MPACKFS_GATEWAYS,
 * MPACKFS_CACHE_DIR, MPACKFS_CACHE_SIZE, MPACKFS_OFFLINE, MPACKFS_TIMEOUT,
 * MPACKFS_LOG_LEVEL; MPACKFS_CONFIG names the config file) > config files >
 * defaults (see config.h and mpackfs.conf(5)). One rule spans keys: when the
 * command line names any source (--api or --gateway), the sources are exactly
 * the command line's (an API or gateways from lower layers are dropped) and
 * the mount is online unless --offline is given too.
 *
 * Defaults:
 *   sources     the local Kubo API http://127.0.0.1:5001, then the gateways
 *               http://127.0.0.1:8080, https://trustless-gateway.link, https://ipfs.io
 *   cache dir   cache_default_dir() (cfg.cache.dir stays NULL)
 *   cache size  CACHE_DEFAULT_MAX_BYTES (20 GiB)
 *   timeouts    fetch_cfg_defaults (deadline 60 s) */
#ifndef MPACK_SRCOPTS_H
#define MPACK_SRCOPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "errbuf.h"
#include "store.h"

#define SRCOPTS_DEFAULT_API	 CONFIG_DEFAULT_API
#define SRCOPTS_DEFAULT_GATEWAYS CONFIG_DEFAULT_GATEWAYS

struct srcopts {
	struct store_cfg cfg; /* the result, valid after srcopts_finish; its strings
			       * (CAR paths, cache dir) live in conf's pool */
	struct config conf;   /* every setting with its origin, complete after finish */
	int log_level;	      /* enum log_level, after finish */
	/* private */
	const char *config_file; /* --config value (borrowed) */
};

/* Defaults; no file or environment read yet. */
void srcopts_init(struct srcopts *o);

/* Apply one option by flag name (without dashes: "gateway", "api", "car",
 * "offline", "cache-dir", "cache-size", "no-cache", "timeout", ...). value is
 * NULL for the flags that take none (offline, no-cache). Values are copied.
 * Returns 1 if applied, 0 if name is not a source option, -EINVAL (bad or
 * missing value; message names the option), -ENOSPC (too many values). */
int srcopts_set(struct srcopts *o, const char *name, const char *value, struct errbuf *e);

/* Set any config key (mount-only ones too) at the command-line layer; where is
 * the spelling shown as its origin ("--read-ahead-kb"; copied). 0 or -errno. */
int srcopts_set_key(struct srcopts *o, int key, const char *value, const char *where,
		    struct errbuf *e);

/* A mount -o option in config-file spelling ("cache_dir=/x", "offline",
 * "gateways=URL|URL", "config=FILE", "allow_other"); value NULL when the
 * option has no '='. A boolean without value means true. Returns 1 if it is
 * ours (applied), 0 if not (leave it to libfuse), -errno on a bad value. */
int srcopts_mount_opt(struct srcopts *o, const char *key, const char *value, struct errbuf *e);

/* Add an alias from "NAME=CID" at the command-line layer. 0 or -EINVAL. */
int srcopts_alias(struct srcopts *o, const char *spec, const char *where, struct errbuf *e);

/* Try to consume argv[*i] ("--name", "--name VALUE", "--name=VALUE"). On a
 * match sets *i to the index of the next unconsumed argument and returns 1;
 * returns 0 (*i unchanged) if argv[*i] is not a source option; -EINVAL /
 * -ENOSPC as srcopts_set (message names the option). Mount-only keys are not
 * source options. */
int srcopts_parse_arg(struct srcopts *o, int argc, char **argv, int *i, struct errbuf *e);

/* After all options: read the config files and the environment, then build
 * o->cfg and o->log_level. A log level set anywhere but the defaults is
 * applied with log_init(NULL, level, 0). Returns 0, or -EINVAL / -ENOENT /
 * -ENOSPC / -errno with a message naming the file and line, the variable or
 * the flag. */
int srcopts_finish(struct srcopts *o, struct errbuf *e);

/* Parse a size ("10G", "512M", "4096", "1.5GiB"). 0 or -EINVAL. */
int srcopts_parse_size(const char *s, uint64_t *out);

/* Help text for the options above (for --help output). */
const char *srcopts_help(void);

#endif
