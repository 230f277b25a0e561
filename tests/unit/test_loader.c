/* Unit tests of host/loader.c (API header check, embedded lookup, module search order) and the script
 * description of host/commands.c, compiled in with a small embedded table of their own. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <lualib.h>
#include "../../host/loader.c"
#include "../../host/commands.c"

#define FILE_(name, text) {name, text, sizeof text - 1}
const struct embedded_file embedded_files[] = {
	FILE_("medic/lib.lua", "-- etcd-medic-api: 2\nreturn { from = 'embedded' }\n"),
	FILE_("medic/old.lua", "-- etcd-medic-api: 0\nreturn {}\n"),
	FILE_("tool.lua", "-- etcd-medic-api: 2\n-- tool: does a thing\nprint(1)\n"),
	{NULL, NULL, 0}
};

static int setup(void **state)
{
	static struct medic_options opts;
	lua_State *L = luaL_newstate();

	luaL_openlibs(L);
	medic_searcher_install(L, &opts);
	*state = L;
	return 0;
}

static int teardown(void **state)
{
	lua_close(*state);
	return 0;
}

static void test_api_check(void **state)
{
	char err[512];
	(void)state;
	assert_int_equal(medic_api_check("-- etcd-medic-api: 2\n", 21, "f", err, sizeof err), 0);
	assert_int_equal(medic_api_check("print(1)\n", 9, "f", err, sizeof err), 0); /* no header: accepted */
	assert_int_equal(medic_api_check("#!/bin/x\n-- hi\n-- etcd-medic-api: 7\n", 35, "my.lua", err, sizeof err), -1);
	assert_non_null(strstr(err, "my.lua was written for etcd-medic script API 7"));
	assert_non_null(strstr(err, "provides API 2"));
	/* only the leading comment block counts */
	assert_int_equal(medic_api_check("x = 1\n-- etcd-medic-api: 7\n", 26, "f", err, sizeof err), 0);
}

static void test_embedded_lookup(void **state)
{
	(void)state;
	assert_non_null(medic_embedded_find("medic/lib.lua"));
	assert_null(medic_embedded_find("medic/none.lua"));
	assert_null(medic_embedded_find("lib.lua"));
}

static void test_require_finds_embedded_and_checks_it(void **state)
{
	lua_State *L = *state;

	assert_int_equal(luaL_dostring(L, "return require('medic.lib').from"), LUA_OK);
	assert_string_equal(lua_tostring(L, -1), "embedded");
	assert_int_not_equal(luaL_dostring(L, "return require('medic.old')"), LUA_OK);
	assert_non_null(strstr(lua_tostring(L, -1), "API 0"));
	assert_int_not_equal(luaL_dostring(L, "return require('medic.none')"), LUA_OK);
	assert_non_null(strstr(lua_tostring(L, -1), "no embedded module"));
}

static void test_load_script_by_name_and_path(void **state)
{
	lua_State *L = *state;
	struct medic_options opts = {0};

	assert_int_equal(medic_load_script(L, "tool", &opts), LUA_OK);
	assert_int_equal(lua_type(L, -1), LUA_TFUNCTION);
	assert_int_not_equal(medic_load_script(L, "nothing", &opts), LUA_OK);
	assert_int_equal(lua_type(L, -1), LUA_TTABLE); /* {exit_code = 2, message = ...}: a usage error */
	assert_int_equal(lua_getfield(L, -1, "exit_code"), LUA_TNUMBER);
	assert_int_equal(lua_tointeger(L, -1), 2);
	lua_pop(L, 1);
	lua_getfield(L, -1, "message");
	assert_non_null(strstr(lua_tostring(L, -1), "no script named 'nothing'"));
	lua_pop(L, 1);
	assert_int_not_equal(medic_load_script(L, "/nonexistent/x.lua", &opts), LUA_OK);
	assert_non_null(strstr(lua_tostring(L, -1), "cannot read /nonexistent/x.lua"));
	assert_int_not_equal(medic_load_script(L, "/", &opts), LUA_OK);
	assert_non_null(strstr(lua_tostring(L, -1), "directory"));
}

static void test_description(void **state)
{
	lua_State *L = *state;

	medic_script_description(L, embedded_files[2].data, embedded_files[2].size, "tool");
	assert_string_equal(lua_tostring(L, -1), "does a thing");
	medic_script_description(L, "#!/x\n-- etcd-medic-api: 2\n-- Another one.\n", 41, "t");
	assert_string_equal(lua_tostring(L, -1), "Another one.");
	medic_script_description(L, "print(1)\n", 9, "t");
	assert_string_equal(lua_tostring(L, -1), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_api_check),
		cmocka_unit_test(test_embedded_lookup),
		cmocka_unit_test_setup_teardown(test_require_finds_embedded_and_checks_it, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_script_by_name_and_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_description, setup, teardown),
	};
	return cmocka_run_group_tests_name("loader", tests, NULL, NULL);
}
