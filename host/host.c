/* medic.host: what only the host knows or does, for scripts and for the Lua halves of the bindings
 * (scripts/medic/): a monotonic clock and an interruptible sleep (bindings/base/clock.c), log and audit
 * lines through the one sink (output.c, redacted by bindings/base/log.c), the terminal (isatty, colour,
 * width, -v), and running cleanup with Ctrl-C held off (bindings/base/interrupt.c). */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "base/clock.h"
#include "base/errors.h"
#include "base/interrupt.h"
#include "base/log.h"
#include "json/json.h"
#include "host.h"
#include "state.h"

static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};

/* host.now() -> seconds on a monotonic clock (a float), for deadlines. */
static int host_now(lua_State *L)
{
	lua_pushnumber(L, (lua_Number)medic_clock_now());
	return 1;
}

/* host.sleep(seconds) -> true | nil, "interrupted", "Interrupted"
** 0..86400 seconds; Ctrl-C ends the wait at once. */
static int host_sleep(lua_State *L)
{
	lua_Number seconds = luaL_checknumber(L, 1);

	luaL_argcheck(L, seconds >= 0 && seconds <= 86400, 1, "between 0 and 86400 seconds");
	if (medic_clock_sleep((double)seconds) != 0) {
		lua_pushnil(L);
		lua_pushliteral(L, "interrupted");
		lua_pushstring(L, MEDIC_E_INTERRUPTED);
		return 3;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* host.uninterrupted(fn, ...) -> true, results... | false, error
** Runs fn protected with the Ctrl-C flag cleared, so cleanup (deleting a debug pod, restoring an override)
** is not cut short by the interrupt that caused it; the flag is set again afterwards if it was set before
** or during. */
static int host_uninterrupted(lua_State *L)
{
	int was = medic_interrupted(), rc;

	luaL_checktype(L, 1, LUA_TFUNCTION);
	medic_interrupt_set(0);
	rc = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
	medic_interrupt_set(was || medic_interrupted());
	lua_pushboolean(L, rc == LUA_OK);
	lua_insert(L, 1);
	return lua_gettop(L);
}

static struct medic_output *get_output(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

static int check_fd(lua_State *L, int arg)
{
	static const char *const names[] = {"stdin", "stdout", "stderr", NULL};

	return luaL_checkoption(L, arg, "stdout", names);
}

/* host.isatty([which]) -> boolean; which is "stdin", "stdout" (default) or "stderr". */
static int host_isatty(lua_State *L)
{
	lua_pushboolean(L, isatty(check_fd(L, 1)));
	return 1;
}

/* host.color([which]) -> boolean: may we colour that stream (terminal, no --no-color, no NO_COLOR)? */
static int host_color(lua_State *L)
{
	lua_pushboolean(L, medic_output_color(get_output(L)->opts, check_fd(L, 1)));
	return 1;
}

/* host.width() -> columns of the terminal on stdout (else $COLUMNS, else 80). */
static int host_width(lua_State *L)
{
	struct winsize ws;
	const char *cols = getenv("COLUMNS");
	long n = cols ? strtol(cols, NULL, 10) : 0;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		n = ws.ws_col;
	lua_pushinteger(L, n > 0 && n < 10000 ? n : 80);
	return 1;
}

/* host.verbose() -> boolean (-v given). */
static int host_verbose(lua_State *L)
{
	lua_pushboolean(L, get_output(L)->opts->verbose);
	return 1;
}

/* host.log(level, topic, msg): level "debug"|"info"|"warn"|"error". Redacted; debug and info reach
** stderr only with -v; all levels reach --log-json. */
static int host_log(lua_State *L)
{
	int level = luaL_checkoption(L, 1, NULL, level_names);
	const char *topic = luaL_checkstring(L, 2);
	const char *msg = luaL_checkstring(L, 3);

	medic_log((enum medic_log_level)level, topic, "%s", msg);
	return 0;
}

/* Pushes a redacted copy of the string at idx (medic_redact works in place on a copy owned by Lua). */
static const char *push_redacted(lua_State *L, int idx)
{
	size_t n;
	const char *s = lua_tolstring(L, idx, &n);
	char *copy = lua_newuserdatauv(L, n + 1, 0);

	memcpy(copy, s, n + 1);
	medic_redact(copy);
	lua_pushstring(L, copy);
	lua_remove(L, -2);
	return lua_tostring(L, -1);
}

/* host.audit(topic, msg [, fields]): one "audit" record in --log-json (fields: a table, JSON-encoded
** under "fields"); echoed on stderr with -v. Everything is redacted. Raises if fields cannot be encoded. */
static int host_audit(lua_State *L)
{
	struct medic_output *out = get_output(L);
	const char *topic = luaL_checkstring(L, 1), *fields = NULL;

	luaL_checkstring(L, 2);
	lua_settop(L, 3);
	if (!lua_isnil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		if (medic_json_encode(L, 3) == 2)
			return luaL_error(L, "host.audit: fields: %s", lua_tostring(L, -1));
		fields = push_redacted(L, -1);
		if (medic_json_decode(L, fields, strlen(fields)) == 2) { /* redaction broke the JSON: keep it as text */
			lua_pop(L, 2);
			medic_json_encode(L, -1);
			fields = lua_tostring(L, -1);
		} else {
			lua_pop(L, 1);
		}
	}
	medic_output_audit(out, topic, push_redacted(L, 2), fields);
	return 0;
}

/* host.redact(s) -> s with bearer tokens, private keys, Secret data... replaced by [REDACTED]. */
static int host_redact(lua_State *L)
{
	luaL_checkstring(L, 1);
	push_redacted(L, 1);
	return 1;
}

static const luaL_Reg host_funcs[] = {
	{"now", host_now},
	{"sleep", host_sleep},
	{"uninterrupted", host_uninterrupted},
	{"held", medic_held_call},
	{"log", host_log},
	{"audit", host_audit},
	{"redact", host_redact},
	{"isatty", host_isatty},
	{"color", host_color},
	{"width", host_width},
	{"verbose", host_verbose},
	{NULL, NULL}
};

static int luaopen_medic_host(lua_State *L)
{
	luaL_newlibtable(L, host_funcs);
	lua_pushvalue(L, lua_upvalueindex(1));
	luaL_setfuncs(L, host_funcs, 1);
	return 1;
}

void medic_host_preload(lua_State *L, struct medic_output *out)
{
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushlightuserdata(L, out);
	lua_pushcclosure(L, luaopen_medic_host, 1);
	lua_setfield(L, -2, "medic.host");
	lua_pop(L, 1);
}
