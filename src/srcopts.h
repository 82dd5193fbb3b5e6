/* srcopts: the block-source options shared by every mpack subcommand and the
 * mpackfs mount, parsed into a struct store_cfg.
 *
 * Options (each also accepted as --name=VALUE):
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
 *
 * Defaults:
 *   sources     the local Kubo API http://127.0.0.1:5001, then the gateways
 *               http://127.0.0.1:8080, https://trustless-gateway.link, https://ipfs.io
 *   cache dir   cache_default_dir(): $XDG_CACHE_HOME/mpackfs, else ~/.cache/mpackfs
 *               (/var/cache/mpackfs for root)
 *   cache size  CACHE_DEFAULT_MAX_BYTES (20 GiB)
 *   timeout     the fetch deadline (fetch_cfg_defaults: 60 s)
 *
 * When any --gateway or --api is given, the sources are exactly those (the API
 * first, then the gateways in order). Otherwise the environment replaces the
 * defaults:
 *   MPACKFS_API        the API URL ("" → no API)
 *   MPACKFS_GATEWAYS   gateway URLs separated by ',' or '|' ("" → no gateways)
 *   MPACKFS_CACHE_DIR  the cache directory, unless --cache-dir is given
 *   MPACKFS_OFFLINE=1  offline, unless --gateway or --api is given
 * Flags always win over the environment. */
#ifndef MPACK_SRCOPTS_H
#define MPACK_SRCOPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errbuf.h"
#include "store.h"

#define SRCOPTS_DEFAULT_API "http://127.0.0.1:5001"
#define SRCOPTS_DEFAULT_GATEWAYS                                                                   \
	"http://127.0.0.1:8080,https://trustless-gateway.link,https://ipfs.io"

struct srcopts {
	struct store_cfg cfg; /* the result, valid after srcopts_finish */
	/* private */
	char api[512];
	char gateways[FETCH_MAX_SOURCES][512];
	size_t ngateways;
	bool have_api;
	bool flag_sources; /* a --gateway or --api was given */
	bool env_sources;  /* sources came from MPACKFS_API / MPACKFS_GATEWAYS */
	bool flag_cache_dir;
	char cache_dir[4096];
	double timeout_s; /* 0 = default */
};

/* Defaults; no environment read yet. */
void srcopts_init(struct srcopts *o);

/* Apply one option by name (without dashes: "gateway", "api", "car",
 * "offline", "cache-dir", "cache-size", "no-cache", "timeout"). value is NULL
 * for the flags that take none. CAR paths are borrowed (must outlive the
 * store_cfg). Returns 1 if applied, 0 if name is not a source option,
 * -EINVAL (bad or missing value; message says which option), -ENOSPC (too
 * many gateways or CARs). */
int srcopts_set(struct srcopts *o, const char *name, const char *value, struct errbuf *e);

/* Try to consume argv[*i] ("--name", "--name VALUE", "--name=VALUE"). On a
 * match sets *i to the index of the next unconsumed argument and returns 1;
 * returns 0 (*i unchanged) if argv[*i] is not a source option; -EINVAL /
 * -ENOSPC as srcopts_set (message names the option). */
int srcopts_parse_arg(struct srcopts *o, int argc, char **argv, int *i, struct errbuf *e);

/* After all options: read the environment, fill default sources, build
 * o->cfg.fetch. Returns 0 or -EINVAL (bad URL from flags or environment). */
int srcopts_finish(struct srcopts *o, struct errbuf *e);

/* Parse a size ("10G", "512M", "4096", "1.5GiB"). 0 or -EINVAL. */
int srcopts_parse_size(const char *s, uint64_t *out);

/* Help text for the options above (for --help output). */
const char *srcopts_help(void);

#endif
