/* Unit tests of host/cli.c (the command-line parser), compiled in: host/ objects are not in unit tests. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "../../host/cli.c"

#define ARGV(...) (char *[]){"etcd-medic", __VA_ARGS__, NULL}
#define ARGC(a) ((int)(sizeof(a) / sizeof *(a)) - 1)

static int parse(struct medic_cli *cli, char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	return medic_cli_parse(cli, argc, argv);
}

static void test_run_passes_script_options_through(void **state)
{
	struct medic_cli cli;
	char **argv = ARGV("-v", "--kubeconfig", "/k", "run", "replace-crashlooping-member", "--node", "m1", "--yes",
			   "--dry-run", "-v", "-n", "x");
	(void)state;
	assert_int_equal(parse(&cli, argv), 0);
	assert_int_equal(cli.cmd, CMD_RUN);
	assert_true(cli.opts.verbose);
	assert_string_equal(cli.opts.kubeconfig, "/k");
	assert_null(cli.opts.namespace); /* "-n x" after the script name is the script's */
	assert_int_equal(cli.noperands, 8);
	assert_string_equal(cli.operands[0], "replace-crashlooping-member");
	assert_string_equal(cli.operands[1], "--node");
	assert_string_equal(cli.operands[7], "x");
	assert_int_equal(cli.script_index, 5);
}

static void test_global_options(void **state)
{
	struct medic_cli cli;
	char **argv = ARGV("--context", "c", "-n", "ns", "--etcd-endpoints", "https://127.0.0.1:2379", "--etcd-cacert",
			   "ca", "--etcd-cert", "cert", "--etcd-key", "key", "--log-json", "log", "--no-color",
			   "--script-path", "d1", "--script-path=d2", "run", "--namespace=ns2", "f.lua");
	(void)state;
	assert_int_equal(parse(&cli, argv), 0);
	assert_string_equal(cli.opts.context, "c");
	assert_string_equal(cli.opts.namespace, "ns2"); /* between the command and the script: still global */
	assert_string_equal(cli.opts.etcd_endpoints, "https://127.0.0.1:2379");
	assert_string_equal(cli.opts.etcd_cacert, "ca");
	assert_string_equal(cli.opts.etcd_cert, "cert");
	assert_string_equal(cli.opts.etcd_key, "key");
	assert_string_equal(cli.opts.log_json, "log");
	assert_true(cli.opts.no_color);
	assert_int_equal(cli.opts.nscript_path, 2);
	assert_string_equal(cli.opts.script_path[1], "d2");
	assert_string_equal(cli.operands[0], "f.lua");
}

static void test_commands(void **state)
{
	struct medic_cli cli;
	(void)state;
	assert_int_equal(parse(&cli, ARGV("-e", "x=1", "-e", "print(x)")), 0);
	assert_int_equal(cli.cmd, CMD_NONE);
	assert_int_equal(cli.nchunks, 2);
	assert_string_equal(cli.chunks[1], "print(x)");
	assert_int_equal(parse(&cli, ARGV("repl")), 0);
	assert_int_equal(cli.cmd, CMD_REPL);
	assert_int_equal(parse(&cli, ARGV("scripts")), 0);
	assert_int_equal(cli.cmd, CMD_SCRIPTS);
	assert_int_equal(parse(&cli, ARGV("eject", "name", "dir")), 0);
	assert_int_equal(cli.cmd, CMD_EJECT);
	assert_int_equal(cli.noperands, 2);
	assert_int_equal(cli.eject_libraries, 0);
	assert_int_equal(parse(&cli, ARGV("eject", "name", "--libraries", "dir")), 0);
	assert_int_equal(cli.eject_libraries, 1);
	assert_int_equal(cli.noperands, 2);
	assert_string_equal(cli.operands[1], "dir");
	assert_int_equal(parse(&cli, ARGV("eject", "--libraries", "name")), 0);
	assert_int_equal(cli.eject_libraries, 1);
	assert_int_equal(cli.noperands, 1);
	assert_int_equal(parse(&cli, ARGV("--version")), 0);
	assert_int_equal(cli.cmd, CMD_VERSION);
	assert_int_equal(parse(&cli, ARGV("--help", "--bogus")), 0);
	assert_int_equal(cli.cmd, CMD_HELP);
	assert_int_equal(parse(&cli, ARGV("run", "--", "-odd.lua", "a")), 0);
	assert_string_equal(cli.operands[0], "-odd.lua");
}

static void test_incluster_commands(void **state)
{
	struct medic_cli cli;
	(void)state;
	assert_int_equal(parse(&cli, ARGV("-n", "e", "manifests", "backup", "--schedule", "0 * * * *", "-n", "x")), 0);
	assert_int_equal(cli.cmd, CMD_MANIFESTS);
	assert_string_equal(cli.opts.namespace, "e"); /* before the command: global; after NAME: the command's */
	assert_int_equal(cli.noperands, 5);
	assert_string_equal(cli.operands[0], "backup");
	assert_string_equal(cli.operands[2], "0 * * * *");
	assert_int_equal(parse(&cli, ARGV("rbac", "defrag", "-o", "json")), 0);
	assert_int_equal(cli.cmd, CMD_RBAC);
	assert_int_equal(cli.noperands, 3);
	assert_int_equal(parse(&cli, ARGV("manifests")), 2);
	assert_string_equal(cli.error, "manifests needs a script NAME");
}

static void test_usage_errors(void **state)
{
	struct medic_cli cli;
	char **bad[] = {ARGV("frob"), ARGV("--bogus"), ARGV("-x"), ARGV("run"), ARGV("-e"), ARGV("--kubeconfig"),
			ARGV("repl", "extra"), ARGV("scripts", "x"), ARGV("eject"), ARGV("eject", "a", "b", "c"),
			ARGV("run", "--bogus", "x"), ARGV("--libraries", "scripts"), ARGV("eject", "a", "b", "c", "--libraries")};
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(parse(&cli, bad[i]), 2);
		assert_true(cli.error[0] != '\0');
	}
	parse(&cli, ARGV("--bogus"));
	assert_string_equal(cli.error, "unknown option '--bogus'");
	parse(&cli, ARGV("--kubeconfig"));
	assert_string_equal(cli.error, "option '--kubeconfig' needs an argument");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_passes_script_options_through),
		cmocka_unit_test(test_global_options),
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_incluster_commands),
		cmocka_unit_test(test_usage_errors),
	};
	return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
