/* mpack: the ModelPack command line (pack, car, cat, prefetch, verify, ...). */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "memtune.h"
#include "version.h"

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct subcommand subcommands[] = {
    {"pack", cmd_pack, "pack a model directory into a ModelPack (manifest, CIDs, CAR)"},
    {"car", cmd_car, "inspect a CAR file: roots and verified blocks"},
    {"cat", cmd_cat, "write a file (CID or CID/path) to stdout, verifying every block"},
    {"info", cmd_info, "describe a pack: manifest fields, files, sizes, CIDs, cached share"},
    {"ls", cmd_ls, "list a directory (UnixFS, manifest root or manifest subdirectory)"},
    {"prefetch", cmd_prefetch, "fetch every missing block of a pack into the cache"},
    {"pin", cmd_pin, "fetch a pack and pin it in the cache (never evicted)"},
    {"unpin", cmd_unpin, "drop a pack's pins"},
    {"verify", cmd_verify, "re-hash every block and check every file's sha256"},
    {"import", cmd_import, "verify the blocks of CAR files and put them in the cache"},
    {"export", cmd_export, "write a complete CAR of a pack"},
    {"publish", cmd_publish, "upload a pack's CAR to a Kubo daemon (dag/import)"},
    {"cache", cmd_cache, "cache stats, gc, scrub, clear"},
    {"init-template", cmd_init_template, "write a manifest template, or --check a manifest"},
    {"config", cmd_config, "print the effective configuration and where each value comes from"},
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: mpack COMMAND [OPTIONS] [ARGS]\n\ncommands:\n");
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %-14s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(f, "\nRun 'mpack COMMAND --help' for a command's options. See mpack(1).\n");
}

int main(int argc, char **argv)
{
	size_t i;

	memtune_init();
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("mpack %s\n", MPACK_VERSION);
		return 0;
	}
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "mpack: unknown command '%s' (try 'mpack --help')\n", argv[1]);
	return EXIT_USAGE;
}
