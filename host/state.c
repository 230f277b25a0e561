#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>
#include <lua-cjson.h>
#include <signal.h>
#include "base/interrupt.h"
#include "loader.h"
#include "state.h"

int luaopen_medic_json(lua_State *L);
int luaopen_medic_k8s_core(lua_State *L);
int luaopen_medic_etcd_core(lua_State *L);
int luaopen_medic_node_core(lua_State *L);
int luaopen_medic_x509(lua_State *L);

/* C modules; their Lua halves (medic.k8s, medic.etcd, medic.node) are Lua files in scripts/medic/. */
static const luaL_Reg preloaded[] = {
	{"cjson", luaopen_cjson},
	{"medic.json", luaopen_medic_json},
	{"medic.k8s.core", luaopen_medic_k8s_core},
	{"medic.etcd.core", luaopen_medic_etcd_core},
	{"medic.node.core", luaopen_medic_node_core},
	{"medic.x509", luaopen_medic_x509},
	{NULL, NULL}
};

static void preload_modules(lua_State *L)
{
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	for (const luaL_Reg *m = preloaded; m->name; m++) {
		lua_pushcfunction(L, m->func);
		lua_setfield(L, -2, m->name);
	}
	lua_pop(L, 1);
}

static void set_string(lua_State *L, const char *key, const char *value)
{
	if (value) {
		lua_pushstring(L, value);
		lua_setfield(L, -2, key);
	}
}

static int open_options(lua_State *L)
{
	const struct medic_options *o = lua_touserdata(L, lua_upvalueindex(1));

	lua_newtable(L);
	set_string(L, "kubeconfig", o->kubeconfig);
	set_string(L, "context", o->context);
	set_string(L, "namespace", o->namespace ? o->namespace : "openshift-etcd");
	set_string(L, "etcd_endpoints", o->etcd_endpoints);
	set_string(L, "etcd_cacert", o->etcd_cacert);
	set_string(L, "etcd_cert", o->etcd_cert);
	set_string(L, "etcd_key", o->etcd_key);
	set_string(L, "log_json", o->log_json);
	lua_pushboolean(L, o->verbose);
	lua_setfield(L, -2, "verbose");
	lua_pushboolean(L, o->no_color);
	lua_setfield(L, -2, "no_color");
	lua_createtable(L, o->nscript_path, 0);
	for (int i = 0; i < o->nscript_path; i++) {
		lua_pushstring(L, o->script_path[i]);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "script_path");
	lua_pushinteger(L, MEDIC_API_VERSION);
	lua_setfield(L, -2, "api_version");
	lua_pushliteral(L, MEDIC_VERSION);
	lua_setfield(L, -2, "version");
	return 1;
}

/* The libraries, preloads, searcher and options, in protected mode (a memory error is reported, not a panic). */
static int setup_state(lua_State *L)
{
	const struct medic_options *opts = lua_touserdata(L, 1);

	luaL_openlibs(L);
	preload_modules(L);
	medic_searcher_install(L, opts);
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushlightuserdata(L, (void *)opts);
	lua_pushcclosure(L, open_options, 1);
	lua_setfield(L, -2, "medic.options");
	return 0;
}

lua_State *medic_state_new(const struct medic_options *opts)
{
	lua_State *L = luaL_newstate();

	if (!L)
		return NULL;
	lua_pushcfunction(L, setup_state);
	lua_pushlightuserdata(L, (void *)opts);
	if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
		fprintf(stderr, "etcd-medic: setting up Lua: %s\n", lua_tostring(L, -1));
		lua_close(L);
		return NULL;
	}
	return L;
}

/* {====== Ctrl-C, as lua.c does it: the handler only sets the shared flag (libcurl's progress callback
** and the bindings' waits poll it) and a hook; the hook raises "interrupted" in Lua's own time, so
** to-be-closed variables and pcall-protected cleanup still run. A second Ctrl-C kills the process. */
static lua_State *volatile signal_L; /* the one C global a signal handler needs */

static void interrupt_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	lua_sethook(L, NULL, 0, 0);
	lua_pushliteral(L, "interrupted");
	lua_error(L);
}

#define HOOK_MASK (LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT)

/* While a change is in flight (medic_held_call), a Ctrl-C is held back until its answer is in. */
static volatile sig_atomic_t holding, held_back;

static void on_sigint(int sig)
{
	signal(sig, SIG_DFL);
	if (holding) {
		held_back = 1;
		return;
	}
	medic_interrupt_set(1);
	if (signal_L)
		lua_sethook(signal_L, interrupt_hook, HOOK_MASK, 1);
}

int medic_held_call(lua_State *L)
{
	int was = holding, rc;

	luaL_checktype(L, 1, LUA_TFUNCTION);
	holding = 1;
	rc = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
	holding = was;
	if (!was && held_back) { /* the Ctrl-C that came meanwhile takes effect now */
		held_back = 0;
		medic_interrupt_set(1);
		lua_sethook(L, interrupt_hook, HOOK_MASK, 1);
	}
	if (rc != LUA_OK)
		return lua_error(L);
	return lua_gettop(L);
}
/* }====== */

/* Message handler of every call: a traceback for strings; a structured error ({exit_code=, message=})
** passes through untouched, since it is a decision to report, not a bug to debug. */
static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);

	if (msg == NULL && !lua_isnoneornil(L, 1)) {
		if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) {
			msg = lua_tostring(L, -1);
		} else if (lua_type(L, 1) == LUA_TTABLE) {
			lua_settop(L, 1);
			return 1;
		} else {
			msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
		}
	}
	if (medic_interrupted() && msg && strcmp(msg, "interrupted") == 0)
		return 1; /* Ctrl-C is not a bug either: no traceback */
	luaL_traceback(L, L, msg, 1);
	return 1;
}

int medic_docall(lua_State *L, int narg, int nres)
{
	int base = lua_gettop(L) - narg;
	void (*previous)(int);
	int status;

	lua_pushcfunction(L, traceback);
	lua_insert(L, base);
	signal_L = L;
	previous = signal(SIGINT, on_sigint);
	status = lua_pcall(L, narg, nres, base);
	signal(SIGINT, previous == SIG_ERR ? SIG_DFL : previous); /* the REPL keeps its own between chunks */
	signal_L = NULL;
	lua_remove(L, base);
	return status;
}

/* exit_code of a structured error, clamped to 1..255. */
static int structured_exit_code(lua_State *L, int idx)
{
	int isnum;
	lua_Integer code;

	lua_getfield(L, idx, "exit_code");
	code = lua_tointegerx(L, -1, &isnum);
	lua_pop(L, 1);
	return isnum && code > 0 && code < 256 ? (int)code : 1;
}

int medic_report(lua_State *L, const char *prefix)
{
	int code = 1;
	const char *msg;

	if (lua_type(L, -1) == LUA_TTABLE) {
		code = structured_exit_code(L, -1);
		lua_getfield(L, -1, "said"); /* printed already (to stdout, on a terminal): not a second time */
		int said = lua_toboolean(L, -1);
		lua_getfield(L, -2, "message");
		msg = lua_tostring(L, -1);
		if (!said)
			fprintf(stderr, "%s%s\n", prefix, msg ? msg : "(error without a message)");
		lua_pop(L, 3);
	} else {
		msg = lua_tostring(L, -1);
		fprintf(stderr, "%s%s\n", prefix, msg ? msg : "(error object is not a string)");
		lua_pop(L, 1);
	}
	fflush(stderr);
	return medic_interrupted() ? 130 : code;
}
