/* The command line of DESIGN.md, parsed with getopt_long into struct medic_cli (no Lua here, so it is
 * unit-tested alone). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"

const char medic_usage[] =
	"usage: etcd-medic [OPTIONS] COMMAND [ARGS...]\n"
	"\n"
	"commands:\n"
	"  run NAME|FILE [ARGS...]  run a shipped script by name, or a Lua file (ARGS go to the script)\n"
	"  repl                     interactive Lua REPL (the default when stdin is a terminal)\n"
	"  -e CHUNK                 run a chunk of Lua (repeatable; runs before COMMAND, if any)\n"
	"  scripts                  list the shipped scripts with their descriptions\n"
	"  eject NAME [DIR] [--libraries]   write a shipped script (and its own NAME/ helpers) to DIR (default .)\n"
	"                           for editing; --libraries: the engine's and bindings' Lua libraries too\n"
	"  rbac NAME [-o json]      the ServiceAccount, Roles and bindings that exactly cover what NAME may do\n"
	"  manifests NAME [--schedule CRON] [--image IMAGE] [--yes] [-- ARGS...]\n"
	"                           that RBAC and a Job (a CronJob) running NAME in the cluster (docs/in-cluster.md)\n"
	"  --version, --help\n"
	"\n"
	"options:\n"
	"  --kubeconfig FILE        kubeconfig to use (default $KUBECONFIG, ~/.kube/config, in-cluster)\n"
	"  --context NAME           kubeconfig context\n"
	"  -n, --namespace NS       namespace of the etcd pods (default openshift-etcd)\n"
	"  --etcd-endpoints URLS    talk to etcd directly (comma-separated https:// URLs)\n"
	"  --etcd-cacert FILE, --etcd-cert FILE, --etcd-key FILE   TLS files for direct etcd access\n"
	"  -v, --verbose            debug lines on stderr (secrets redacted)\n"
	"  --log-json FILE          append an audit log, one JSON object per line (file mode 0600)\n"
	"  --no-color               no colour (also when NO_COLOR is set or output is not a terminal)\n"
	"  --script-path DIR        look for scripts and medic/ libraries in DIR first (repeatable)\n"
	"\n"
	"exit codes: 0 done, 1 failed, 2 usage error, 3 refused by a safety check, 130 interrupted\n"
	"See etcd-medic(1).\n";

enum { OPT_KUBECONFIG = 256, OPT_CONTEXT, OPT_ENDPOINTS, OPT_CACERT, OPT_CERT, OPT_KEY, OPT_LOG_JSON,
       OPT_NO_COLOR, OPT_SCRIPT_PATH, OPT_VERSION, OPT_LIBRARIES };

static const struct option long_options[] = {
	{"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
	{"context", required_argument, NULL, OPT_CONTEXT},
	{"namespace", required_argument, NULL, 'n'},
	{"etcd-endpoints", required_argument, NULL, OPT_ENDPOINTS},
	{"etcd-cacert", required_argument, NULL, OPT_CACERT},
	{"etcd-cert", required_argument, NULL, OPT_CERT},
	{"etcd-key", required_argument, NULL, OPT_KEY},
	{"verbose", no_argument, NULL, 'v'},
	{"log-json", required_argument, NULL, OPT_LOG_JSON},
	{"no-color", no_argument, NULL, OPT_NO_COLOR},
	{"script-path", required_argument, NULL, OPT_SCRIPT_PATH},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, OPT_VERSION},
	{"libraries", no_argument, NULL, OPT_LIBRARIES}, /* eject's own */
	{NULL, 0, NULL, 0}
};

static int usage_error(struct medic_cli *cli, const char *fmt, const char *what)
{
	snprintf(cli->error, sizeof cli->error, fmt, what);
	return 2;
}

static int add_to(const char **list, int *n, int max, const char *value)
{
	if (*n >= max)
		return -1;
	list[(*n)++] = value;
	return 0;
}

/* One option; returns 0, or 2 for a usage error. */
static int take_option(struct medic_cli *cli, int c, char **argv)
{
	struct medic_options *o = &cli->opts;

	switch (c) {
	case OPT_KUBECONFIG: o->kubeconfig = optarg; break;
	case OPT_CONTEXT: o->context = optarg; break;
	case 'n': o->namespace = optarg; break;
	case OPT_ENDPOINTS: o->etcd_endpoints = optarg; break;
	case OPT_CACERT: o->etcd_cacert = optarg; break;
	case OPT_CERT: o->etcd_cert = optarg; break;
	case OPT_KEY: o->etcd_key = optarg; break;
	case 'v': o->verbose = 1; break;
	case OPT_LOG_JSON: o->log_json = optarg; break;
	case OPT_NO_COLOR: o->no_color = 1; break;
	case 'h': cli->cmd = CMD_HELP; break;
	case OPT_VERSION: cli->cmd = CMD_VERSION; break;
	case OPT_LIBRARIES: cli->eject_libraries = 1; break;
	case OPT_SCRIPT_PATH:
		if (add_to(o->script_path, &o->nscript_path, (int)(sizeof o->script_path / sizeof *o->script_path),
			   optarg) < 0)
			return usage_error(cli, "too many --script-path options%s", "");
		break;
	case 'e':
		if (add_to(cli->chunks, &cli->nchunks, MEDIC_MAX_CHUNKS, optarg) < 0)
			return usage_error(cli, "too many -e options%s", "");
		break;
	case ':': return usage_error(cli, "option '%s' needs an argument", argv[optind - 1]);
	default: return usage_error(cli, "unknown option '%s'", argv[optind - 1]);
	}
	return 0;
}

/* Options from argv[optind] up to the first operand ("+": getopt stops there and permutes nothing). */
static int parse_options(struct medic_cli *cli, int argc, char **argv)
{
	int c, rc;

	while ((c = getopt_long(argc, argv, "+:e:n:vh", long_options, NULL)) != -1) {
		if ((rc = take_option(cli, c, argv)) != 0)
			return rc;
		if (cli->cmd == CMD_HELP || cli->cmd == CMD_VERSION)
			return 0; /* whatever follows, --help helps */
	}
	return 0;
}

static const struct { const char *name; enum medic_command cmd; } commands[] = {
	{"run", CMD_RUN}, {"repl", CMD_REPL}, {"scripts", CMD_SCRIPTS}, {"eject", CMD_EJECT}, {"rbac", CMD_RBAC},
	{"manifests", CMD_MANIFESTS},
	{"help", CMD_HELP}, {"version", CMD_VERSION},
};

/* eject NAME [DIR] --libraries: the flag after NAME too (getopt stops at NAME). Drops it from the operands,
** keeping their order, and returns how many are left. */
static int take_libraries_flag(struct medic_cli *cli)
{
	int kept = 0;

	for (int i = 0; i < cli->noperands; i++) {
		if (strcmp(cli->operands[i], "--libraries") == 0)
			cli->eject_libraries = 1;
		else
			cli->operands[kept++] = cli->operands[i];
	}
	return kept;
}

static int command_operands(struct medic_cli *cli, int argc, char **argv)
{
	int n = argc - optind;

	cli->operands = argv + optind;
	cli->noperands = n;
	if (cli->cmd == CMD_RUN && n < 1)
		return usage_error(cli, "run needs a script NAME or FILE%s", "");
	if ((cli->cmd == CMD_RBAC || cli->cmd == CMD_MANIFESTS) && n < 1)
		return usage_error(cli, "%s needs a script NAME", argv[optind - 1]);
	if (cli->cmd == CMD_RUN)
		cli->script_index = optind;
	if (cli->cmd == CMD_EJECT)
		n = cli->noperands = take_libraries_flag(cli);
	if (cli->eject_libraries && cli->cmd != CMD_EJECT)
		return usage_error(cli, "--libraries is an option of eject%s", "");
	if (cli->cmd == CMD_EJECT && (n < 1 || n > 2))
		return usage_error(cli, "usage: etcd-medic eject NAME [DIR] [--libraries]%s", "");
	if ((cli->cmd == CMD_REPL || cli->cmd == CMD_SCRIPTS) && n > 0)
		return usage_error(cli, "unexpected argument '%s'", argv[optind]);
	return 0;
}

int medic_cli_parse(struct medic_cli *cli, int argc, char **argv)
{
	int rc;

	memset(cli, 0, sizeof *cli);
	cli->script_index = argc;
	optind = 0; /* glibc: full reinitialisation, so the parser can run more than once (tests) */
	opterr = 0;
	if ((rc = parse_options(cli, argc, argv)) != 0 || cli->cmd == CMD_HELP || cli->cmd == CMD_VERSION)
		return rc;
	if (optind >= argc)
		return 0;
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		if (strcmp(argv[optind], commands[i].name) == 0)
			cli->cmd = commands[i].cmd;
	if (cli->cmd == CMD_NONE)
		return usage_error(cli, "unknown command '%s'", argv[optind]);
	optind++;
	if (cli->cmd == CMD_HELP || cli->cmd == CMD_VERSION)
		return 0;
	if ((rc = parse_options(cli, argc, argv)) != 0)
		return rc;
	return command_operands(cli, argc, argv);
}
