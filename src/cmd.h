/* cmd: the mpack subcommands. Each cmd_<name> lives in cmd_<name>.c, parses its
 * own arguments (argv[0] is the subcommand name), prints --help, and returns
 * the process exit status:
 *   0 success, 1 the operation failed (verification, fetch, I/O),
 *   2 usage error (bad option or argument; message on stderr).
 * Messages on stderr have the form "mpack CMD: <what>: <why>". */
#ifndef MPACK_CMD_H
#define MPACK_CMD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "car.h"
#include "errbuf.h"
#include "srcopts.h"

#define EXIT_USAGE 2

int cmd_config(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_car(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_prefetch(int argc, char **argv);
int cmd_pin(int argc, char **argv);
int cmd_unpin(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_publish(int argc, char **argv);
int cmd_cache(int argc, char **argv);
int cmd_init_template(int argc, char **argv);

/* prefetch and pin (cmd_prefetch.c): cmd names the command in messages; pin pins
 * every block of the pack under its root before the missing ones are fetched. */
int cmd_prefetch_run(int argc, char **argv, const char *cmd, bool pin);

/* export and publish (cmd_export.c): write a CARv1 of pack p with the given roots
 * through wr, every block once, each hashed again first (WALK_VERIFY); get may be
 * NULL. Returns 0, the writer's error, or the walk's (message in e). */
struct cmd_export_stats {
	uint64_t blocks, bytes;
};
struct walk_pack;
int cmd_export_car(struct store *s, const struct walk_pack *p, const struct cid *roots,
		   size_t nroots, car_write_fn wr, void *ctx, const struct store_get_opts *get,
		   struct cmd_export_stats *st, struct errbuf *e);

/* Shared by the argument loops of the operator commands. */
enum cmd_arg {
	CMD_ARG_OTHER, /* not a common argument: the command looks at argv[*i] */
	CMD_ARG_TAKEN, /* a source option: *i now indexes the next argument */
	CMD_ARG_HELP,  /* -h or --help */
	CMD_ARG_BAD,   /* bad source option (message printed) */
};

/* -h/--help, or a block-source option (srcopts_parse_arg) when so is non-NULL. */
int cmd_arg_common(const char *cmd, struct srcopts *so, int argc, char **argv, int *i);

/* Prints "mpack CMD: <message> (try 'mpack CMD --help')"; returns EXIT_USAGE. */
int cmd_usage_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* srcopts_finish with the error reported as a usage error. 0 or EXIT_USAGE. */
int cmd_finish_sources(const char *cmd, struct srcopts *so);

/* Flushes stdout; 0, or 1 with a message if writing failed. */
int cmd_flush(const char *cmd);

/* The argument loop of commands that take one CID[/path], --json and the source
 * options. Returns 0, -1 when --help was printed by usage, or EXIT_USAGE. */
int cmd_args_cid(const char *cmd, void (*usage)(FILE *f), int argc, char **argv, struct srcopts *so,
		 const char **arg, bool *json);

#endif
