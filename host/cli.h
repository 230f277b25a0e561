#ifndef MEDIC_CLI_H
#define MEDIC_CLI_H
#include "options.h"

enum medic_command {
	CMD_NONE, CMD_RUN, CMD_REPL, CMD_SCRIPTS, CMD_EJECT, CMD_RBAC, CMD_MANIFESTS, CMD_HELP, CMD_VERSION
};

#define MEDIC_MAX_CHUNKS 16

/* The parsed command line. Global options may come before the command and between the command and its
 * first operand; everything after `run NAME` belongs to the script, untouched. */
struct medic_cli {
	struct medic_options opts;
	enum medic_command cmd;
	const char *chunks[MEDIC_MAX_CHUNKS]; /* -e CHUNK, in order; run before the command */
	int nchunks;
	char **operands; /* run: NAME|FILE then the script's arguments; eject: NAME [DIR]; rbac, manifests: NAME ARGS */
	int noperands;
	int script_index; /* run: index in argv of NAME|FILE (the arg table's 0), else argc */
	int eject_libraries; /* eject --libraries: the medic/ libraries too, not only the script and NAME/ */
	char error[256]; /* usage error, when medic_cli_parse returns 2 */
};

/* Parses argv into cli. Returns 0, or 2 with cli->error set (a usage error). Does not print. */
int medic_cli_parse(struct medic_cli *cli, int argc, char **argv);

/* The text of --help. */
extern const char medic_usage[];

#endif
