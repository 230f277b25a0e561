/* etcd-medic's entry point, shaped like lua.c: main parses the command line, sets up, and lua_pcalls one
 * function (pmain); everything that can raise runs inside it. */
#include <curl/curl.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "commands.h"
#include "host.h"
#include "incluster.h"
#include "loader.h"
#include "repl.h"
#include "state.h"

struct run {
	int argc;
	char **argv;
	struct medic_cli *cli;
	int exit_code;
};

/* The global arg table, as lua.c builds it: arg[0] the script, arg[1..n] its arguments, the host's own
** arguments at negative indices. */
static void create_arg_table(lua_State *L, const struct run *r)
{
	int script = r->cli->script_index;

	lua_createtable(L, r->argc - script, script + 1);
	for (int i = 0; i < r->argc; i++) {
		lua_pushstring(L, r->argv[i]);
		lua_rawseti(L, -2, i - script);
	}
	lua_setglobal(L, "arg");
}

static int run_chunks(lua_State *L, const struct medic_cli *cli)
{
	for (int i = 0; i < cli->nchunks; i++) {
		int status = medic_load_buffer(L, cli->chunks[i], strlen(cli->chunks[i]), "(command line)");
		if (status == LUA_OK)
			status = medic_docall(L, 0, 0);
		if (status != LUA_OK)
			return medic_report(L, "etcd-medic: ");
	}
	return 0;
}

/* run NAME|FILE ARGS...: the script gets ARGS as `...` (and in arg). */
static int run_script(lua_State *L, const struct medic_cli *cli)
{
	int status = medic_load_script(L, cli->operands[0], &cli->opts);
	int n = cli->noperands - 1;

	if (status != LUA_OK)
		return medic_report(L, "etcd-medic: ");
	luaL_checkstack(L, n, "too many script arguments");
	for (int i = 1; i <= n; i++)
		lua_pushstring(L, cli->operands[i]);
	if (medic_docall(L, n, 0) != LUA_OK)
		return medic_report(L, "etcd-medic: ");
	return 0;
}

static int dispatch(lua_State *L, struct run *r)
{
	struct medic_cli *cli = r->cli;
	int code;

	create_arg_table(L, r);
	if ((code = run_chunks(L, cli)) != 0)
		return code;
	switch (cli->cmd) {
	case CMD_RUN: return run_script(L, cli);
	case CMD_REPL: return medic_repl(L);
	case CMD_SCRIPTS: return medic_cmd_scripts(L, &cli->opts);
	case CMD_RBAC: return medic_cmd_incluster(L, "rbac", cli->operands, cli->noperands);
	case CMD_MANIFESTS: return medic_cmd_incluster(L, "manifests", cli->operands, cli->noperands);
	case CMD_EJECT: {
		const char *dir = cli->noperands > 1 ? cli->operands[1] : ".";
		return medic_cmd_eject(L, cli->operands[0], dir, cli->eject_libraries);
	}
	default: return cli->nchunks > 0 ? 0 : medic_repl(L);
	}
}

static int pmain(lua_State *L)
{
	struct run *r = lua_touserdata(L, 1);

	r->exit_code = dispatch(L, r);
	return 0;
}

static int print_version(void)
{
	printf("etcd-medic %s (script API %d, %s)\n", MEDIC_VERSION, MEDIC_API_VERSION, LUA_RELEASE);
	return 0;
}

static int run_lua(struct run *r, struct medic_output *out)
{
	lua_State *L = medic_state_new(&r->cli->opts);

	if (!L) {
		fprintf(stderr, "etcd-medic: cannot create the Lua state (out of memory)\n");
		return 1;
	}
	medic_host_preload(L, out);
	lua_pushcfunction(L, pmain);
	lua_pushlightuserdata(L, r);
	if (lua_pcall(L, 1, 0, 0) != LUA_OK)
		r->exit_code = medic_report(L, "etcd-medic: ");
	lua_close(L); /* runs the __gc of handles scripts left open */
	return r->exit_code;
}

int main(int argc, char **argv)
{
	struct medic_cli cli;
	struct medic_output out;
	struct run r = {argc, argv, &cli, 0};
	char err[512];
	int code;

	if (medic_cli_parse(&cli, argc, argv) != 0) {
		fprintf(stderr, "etcd-medic: %s\nusage: etcd-medic [OPTIONS] run NAME|FILE [ARGS...] | repl | "
			"-e CHUNK | scripts | eject NAME [DIR] [--libraries] | rbac NAME | manifests NAME\n"
			"Try 'etcd-medic --help' for the options.\n", cli.error);
		return 2;
	}
	if (cli.cmd == CMD_HELP)
		return fputs(medic_usage, stdout) == EOF;
	if (cli.cmd == CMD_VERSION)
		return print_version();
	/* Output that can no longer be written (a `| tee` that died with the same Ctrl-C) must never stop a run
	 * before its cleanup: a write to a closed pipe fails with EPIPE instead of killing the process. */
	signal(SIGPIPE, SIG_IGN);
	if (medic_output_open(&out, &cli.opts, err, sizeof err) != 0) {
		fprintf(stderr, "etcd-medic: %s\n", err);
		return 1;
	}
	code = run_lua(&r, &out);
	curl_global_cleanup(); /* a no-op unless a binding loaded libcurl: bindings/base/curl_lazy.c */
	medic_output_close(&out);
	return code;
}
