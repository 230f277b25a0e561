/* Unit tests of bindings/json/json.c and json_encode.c through their C entry points (medic_json_decode/encode). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <lauxlib.h>
#include <lualib.h>
#include "json/json.h"

int luaopen_medic_json(lua_State *L);

static int setup(void **state)
{
	lua_State *L = luaL_newstate();

	luaL_openlibs(L);
	*state = L;
	return 0;
}

static int teardown(void **state)
{
	lua_close(*state);
	return 0;
}

/* Decodes s; asserts success and leaves the value on the stack. */
static void decode_ok(lua_State *L, const char *s)
{
	int top = lua_gettop(L);

	assert_int_equal(medic_json_decode(L, s, strlen(s)), 1);
	assert_int_equal(lua_gettop(L), top + 1);
}

/* Decodes s; asserts failure and returns the message (kept on the stack). */
static const char *decode_err(lua_State *L, const char *s)
{
	int top = lua_gettop(L);

	assert_int_equal(medic_json_decode(L, s, strlen(s)), 2);
	assert_int_equal(lua_gettop(L), top + 2);
	assert_true(lua_isnil(L, -2));
	return lua_tostring(L, -1);
}

static void test_small_integers_are_integers(void **state)
{
	lua_State *L = *state;

	decode_ok(L, "7");
	assert_true(lua_isinteger(L, -1));
	assert_int_equal(lua_tointeger(L, -1), 7);
	decode_ok(L, "-42");
	assert_int_equal(lua_tointeger(L, -1), -42);
	decode_ok(L, "9007199254740992"); /* 2^53: still exact in a double */
	assert_true(lua_isinteger(L, -1));
	assert_int_equal(lua_tointeger(L, -1), 9007199254740992LL);
}

static void assert_exact_string(lua_State *L, const char *digits)
{
	decode_ok(L, digits);
	assert_int_equal(lua_type(L, -1), LUA_TSTRING);
	assert_string_equal(lua_tostring(L, -1), digits);
}

static void test_big_integers_stay_exact_strings(void **state)
{
	lua_State *L = *state;

	assert_exact_string(L, "9007199254740993");      /* 2^53 + 1 */
	assert_exact_string(L, "15323219374994545507");  /* an etcd member ID */
	assert_exact_string(L, "18446744073709551615");  /* 2^64 - 1 */
	assert_exact_string(L, "-9223372036854775809");  /* below int64 */
	assert_exact_string(L, "-9007199254740993");
	assert_exact_string(L, "123456789012345678901234567890");
}

static void test_floats(void **state)
{
	lua_State *L = *state;

	decode_ok(L, "1.5");
	assert_false(lua_isinteger(L, -1));
	assert_true(lua_tonumber(L, -1) == 1.5);
	decode_ok(L, "-2.5e-3");
	assert_true(lua_tonumber(L, -1) == -2.5e-3);
	decode_ok(L, "1E2");
	assert_false(lua_isinteger(L, -1));
	assert_true(lua_tonumber(L, -1) == 100.0);
}

static void test_rejects_non_json_numbers(void **state)
{
	lua_State *L = *state;
	const char *bad[] = {"NaN", "-NaN", "Infinity", "-Infinity", "0x1F", "0X10", "01", "+1", "1.", ".5", "1e",
			     "1e+", "-", "--1", "1e999", "[nan]"};

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		const char *msg = decode_err(L, bad[i]);
		assert_non_null(strstr(msg, "invalid JSON at byte"));
	}
}

static void test_truncated_and_garbage(void **state)
{
	lua_State *L = *state;
	const char *bad[] = {"", " ", "[1", "{\"a\":1", "{\"a\"", "\"abc", "[1,]", "{\"a\":1,}", "[1] 2", "tru",
			     "nul", "{'a':1}", "\"a\x01\"", "\"\\x\"", "\"\\ud800\"", "\"\\u12\"", "// c\n1"};

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		decode_err(L, bad[i]);
	assert_non_null(strstr(decode_err(L, "[1, 2"), "truncated"));
}

static void test_nesting_is_bounded(void **state)
{
	lua_State *L = *state;
	char deep[2 * (MEDIC_JSON_MAX_DEPTH + 1) + 1], ok[2 * MEDIC_JSON_MAX_DEPTH + 1];

	memset(deep, '[', MEDIC_JSON_MAX_DEPTH + 1);
	memset(deep + MEDIC_JSON_MAX_DEPTH + 1, ']', MEDIC_JSON_MAX_DEPTH + 1);
	deep[sizeof deep - 1] = 0;
	assert_non_null(strstr(decode_err(L, deep), "nesting too deep"));
	memset(ok, '[', MEDIC_JSON_MAX_DEPTH);
	memset(ok + MEDIC_JSON_MAX_DEPTH, ']', MEDIC_JSON_MAX_DEPTH);
	ok[sizeof ok - 1] = 0;
	decode_ok(L, ok);
}

static void test_strings_and_escapes(void **state)
{
	lua_State *L = *state;

	decode_ok(L, "\"a\\\"b\\\\c\\/d\\n\\u00e9\\ud83d\\ude00\"");
	assert_string_equal(lua_tostring(L, -1), "a\"b\\c/d\n\xc3\xa9\xf0\x9f\x98\x80");
	decode_ok(L, "\"\\u0000x\"");
	assert_int_equal(lua_rawlen(L, -1), 2);
}

static void test_objects_arrays_null(void **state)
{
	lua_State *L = *state;

	decode_ok(L, " {\"members\": [ {\"ID\": 15323219374994545507, \"name\": \"m1\"} ], \"x\": null, \"t\": true} ");
	assert_int_equal(lua_getfield(L, -1, "members"), LUA_TTABLE);
	assert_int_equal(lua_rawlen(L, -1), 1);
	lua_rawgeti(L, -1, 1);
	lua_getfield(L, -1, "ID");
	assert_string_equal(lua_tostring(L, -1), "15323219374994545507");
	lua_pop(L, 3);
	assert_int_equal(lua_getfield(L, -1, "x"), LUA_TLIGHTUSERDATA);
	assert_null(lua_touserdata(L, -1));
	lua_pop(L, 1);
	assert_int_equal(lua_getfield(L, -1, "t"), LUA_TBOOLEAN);
}

/* Encodes the result of the Lua expression expr and compares with want (NULL: encoding must fail). */
static void encode_is(lua_State *L, const char *expr, const char *want)
{
	char chunk[512];

	snprintf(chunk, sizeof chunk, "local json = require 'medic.json' return %s", expr);
	luaL_requiref(L, "medic.json", luaopen_medic_json, 0);
	lua_pop(L, 1);
	assert_int_equal(luaL_dostring(L, chunk), LUA_OK);
	int n = medic_json_encode(L, -1);
	if (want) {
		assert_int_equal(n, 1);
		assert_string_equal(lua_tostring(L, -1), want);
	} else {
		assert_int_equal(n, 2);
		assert_true(lua_isnil(L, -2));
		assert_non_null(lua_tostring(L, -1));
	}
	lua_settop(L, 0);
}

static void test_encode(void **state)
{
	lua_State *L = *state;

	encode_is(L, "{b = 1, a = {1, 2, 3}, c = 'x\"\\n'}", "{\"a\":[1,2,3],\"b\":1,\"c\":\"x\\\"\\n\"}");
	encode_is(L, "{}", "{}");
	encode_is(L, "json.array{}", "[]");
	encode_is(L, "json.decode('[]')", "[]");
	encode_is(L, "json.null", "null");
	encode_is(L, "9007199254740993", "9007199254740993");
	encode_is(L, "math.mininteger", "-9223372036854775808");
	encode_is(L, "0.1", "0.1");
	encode_is(L, "1/3", "0.3333333333333333");
	encode_is(L, "'\\1'", "\"\\u0001\"");
	encode_is(L, "0/0", NULL);
	encode_is(L, "math.huge", NULL);
	encode_is(L, "print", NULL);
	encode_is(L, "{1, nil, 3}", NULL);
	encode_is(L, "{1, x = 2}", NULL);
	encode_is(L, "{[true] = 1}", NULL);
	encode_is(L, "(function() local t = {} t.t = t return t end)()", NULL);
}

static void test_round_trip(void **state)
{
	lua_State *L = *state;
	const char *docs[] = {"{\"a\":[1,2.5,\"3\",null,true,false,{},[]],\"b\":{\"c\":\"15323219374994545507\"}}",
			      "[-9007199254740992,9007199254740992]", "\"\\u0001\\\"\\\\\""};

	for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
		decode_ok(L, docs[i]);
		assert_int_equal(medic_json_encode(L, -1), 1);
		assert_string_equal(lua_tostring(L, -1), docs[i]);
		lua_settop(L, 0);
	}
}

/* Every prefix and many one-byte mutations of a valid document: no crash, no over-read (run under ASan by
 * make test-asan), a balanced stack, and either a value or nil + message. */
static void test_mutations_are_safe(void **state)
{
	lua_State *L = *state;
	const char *doc = "{\"members\":[{\"ID\":15323219374994545507,\"name\":\"m\\u00e91\",\"peerURLs\":"
			  "[\"https://10.0.0.1:2380\"],\"isLearner\":false,\"x\":-1.5e3}],\"n\":null}";
	const char alphabet[] = "{}[]\",:\\u0-+.eE1tfn \x01\xff";
	size_t len = strlen(doc);
	char buf[256];
	unsigned seed = 7;

	for (size_t n = 0; n <= len; n++) {
		int rc = medic_json_decode(L, doc, n);
		assert_int_equal(lua_gettop(L), rc);
		lua_settop(L, 0);
	}
	for (int round = 0; round < 20000; round++) {
		memcpy(buf, doc, len);
		for (int k = 0; k < 3; k++) {
			seed = seed * 1103515245u + 12345u;
			buf[(seed >> 8) % len] = alphabet[(seed >> 20) % (sizeof alphabet - 1)];
		}
		char *copy = malloc(len); /* exact size: ASan sees any read past the end */
		memcpy(copy, buf, len);
		int rc = medic_json_decode(L, copy, len);
		free(copy);
		assert_int_equal(lua_gettop(L), rc);
		if (rc == 2)
			assert_true(lua_isnil(L, 1) && lua_isstring(L, 2));
		lua_settop(L, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_small_integers_are_integers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_integers_stay_exact_strings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_floats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejects_non_json_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_and_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nesting_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_strings_and_escapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_objects_arrays_null, setup, teardown),
		cmocka_unit_test_setup_teardown(test_encode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mutations_are_safe, setup, teardown),
	};
	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
