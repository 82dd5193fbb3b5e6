/* cmd_util: argument and output helpers shared by the mpack subcommands. */
#include <stdarg.h>
#include <string.h>

#include "cmd.h"

int cmd_arg_common(const char *cmd, struct srcopts *so, int argc, char **argv, int *i)
{
	struct errbuf e;
	int rc;

	if (!strcmp(argv[*i], "-h") || !strcmp(argv[*i], "--help"))
		return CMD_ARG_HELP;
	if (!so)
		return CMD_ARG_OTHER;
	rc = srcopts_parse_arg(so, argc, argv, i, &e);
	if (rc < 0) {
		fprintf(stderr, "mpack %s: %s (try 'mpack %s --help')\n", cmd, e.msg, cmd);
		return CMD_ARG_BAD;
	}
	return rc == 1 ? CMD_ARG_TAKEN : CMD_ARG_OTHER;
}

int cmd_usage_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mpack %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try 'mpack %s --help')\n", cmd);
	return EXIT_USAGE;
}

int cmd_finish_sources(const char *cmd, struct srcopts *so)
{
	struct errbuf e;

	if (srcopts_finish(so, &e) == 0)
		return 0;
	fprintf(stderr, "mpack %s: %s\n", cmd, e.msg);
	return EXIT_USAGE;
}

int cmd_flush(const char *cmd)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	fprintf(stderr, "mpack %s: writing to standard output failed\n", cmd);
	return 1;
}

int cmd_args_cid(const char *cmd, void (*usage)(FILE *f), int argc, char **argv, struct srcopts *so,
		 const char **arg, bool *json)
{
	int i = 1;

	while (i < argc) {
		switch (cmd_arg_common(cmd, so, argc, argv, &i)) {
		case CMD_ARG_HELP:
			usage(stdout);
			return -1;
		case CMD_ARG_BAD:
			return EXIT_USAGE;
		case CMD_ARG_TAKEN:
			continue;
		}
		if (!strcmp(argv[i], "--json"))
			*json = true;
		else if (argv[i][0] == '-' && argv[i][1])
			return cmd_usage_err(cmd, "unknown option '%s'", argv[i]);
		else if (*arg)
			return cmd_usage_err(cmd, "unexpected argument '%s'", argv[i]);
		else
			*arg = argv[i];
		i++;
	}
	if (!*arg)
		return cmd_usage_err(cmd, "missing CID");
	return cmd_finish_sources(cmd, so);
}
