/* cmd: the mpack subcommands. Each cmd_<name> lives in cmd_<name>.c, parses its
 * own arguments (argv[0] is the subcommand name), prints --help, and returns
 * the process exit status:
 *   0 success, 1 the operation failed (verification, fetch, I/O),
 *   2 usage error (bad option or argument; message on stderr). */
#ifndef MPACK_CMD_H
#define MPACK_CMD_H

#define EXIT_USAGE 2

int cmd_pack(int argc, char **argv);
int cmd_car(int argc, char **argv);
int cmd_cat(int argc, char **argv);

#endif
