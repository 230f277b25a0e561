#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>
#include <lua-cjson.h>
#include "embedded.h"
#include "state.h"

int luaopen_medic_json(lua_State *L);
int luaopen_medic_k8s_core(lua_State *L);
int luaopen_medic_etcd_core(lua_State *L);
int luaopen_medic_node_core(lua_State *L);

/* C modules; their Lua halves (medic.k8s, medic.etcd, medic.node) are Lua files in scripts/medic/. */
static const luaL_Reg preloaded[] = {
	{"cjson", luaopen_cjson},
	{"medic.json", luaopen_medic_json},
	{"medic.k8s.core", luaopen_medic_k8s_core},
	{"medic.etcd.core", luaopen_medic_etcd_core},
	{"medic.node.core", luaopen_medic_node_core},
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

const struct embedded_file *medic_embedded_find(const char *name);
const struct embedded_file *medic_embedded_find(const char *name)
{
	for (const struct embedded_file *f = embedded_files; f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

/* package.searchers entry for the shipped libraries: "medic.procedure" -> embedded "medic/procedure.lua".
 * It runs after Lua's own path searcher, which the host points at --script-path dirs first, so an
 * ejected or edited copy wins over the embedded one. */
static int search_embedded(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	luaL_Buffer b;

	luaL_buffinit(L, &b);
	for (const char *p = name; *p; p++)
		luaL_addchar(&b, *p == '.' ? '/' : *p);
	luaL_addstring(&b, ".lua");
	luaL_pushresult(&b);
	const struct embedded_file *f = medic_embedded_find(lua_tostring(L, -1));
	if (!f) {
		lua_pushfstring(L, "no embedded script '%s'", lua_tostring(L, -1));
		return 1;
	}
	lua_pushfstring(L, "=[embedded]/%s", f->name);
	if (luaL_loadbuffer(L, f->data, f->size, lua_tostring(L, -1)) != LUA_OK)
		return lua_error(L);
	lua_pushfstring(L, "[embedded]/%s", f->name);
	return 2;
}

static void install_searcher(lua_State *L, const struct medic_options *opts)
{
	luaL_Buffer b;

	lua_getglobal(L, "package");
	luaL_buffinit(L, &b);
	for (int i = 0; i < opts->nscript_path; i++) {
		luaL_addstring(&b, opts->script_path[i]);
		luaL_addstring(&b, "/?.lua;");
	}
	luaL_addstring(&b, "./?.lua");
	luaL_pushresult(&b);
	lua_setfield(L, -2, "path");
	lua_pushliteral(L, "");
	lua_setfield(L, -2, "cpath");
	lua_getfield(L, -1, "searchers");
	lua_pushcfunction(L, search_embedded);
	lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
	lua_pop(L, 2);
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
	lua_pushinteger(L, MEDIC_API_VERSION);
	lua_setfield(L, -2, "api_version");
	lua_pushliteral(L, MEDIC_VERSION);
	lua_setfield(L, -2, "version");
	return 1;
}

lua_State *medic_state_new(const struct medic_options *opts)
{
	lua_State *L = luaL_newstate();

	if (!L)
		return NULL;
	luaL_openlibs(L);
	preload_modules(L);
	install_searcher(L, opts);
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushlightuserdata(L, (void *)opts);
	lua_pushcclosure(L, open_options, 1);
	lua_setfield(L, -2, "medic.options");
	lua_pop(L, 1);
	return L;
}

static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);

	if (msg == NULL && !lua_isnoneornil(L, 1)) {
		if (lua_type(L, 1) == LUA_TTABLE)
			return 1; /* a structured error ({exit_code=, message=}) passes through untouched */
		msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	}
	luaL_traceback(L, L, msg, 1);
	return 1;
}

int medic_docall(lua_State *L, int narg, int nres)
{
	int base = lua_gettop(L) - narg;

	lua_pushcfunction(L, traceback);
	lua_insert(L, base);
	int status = lua_pcall(L, narg, nres, base);
	lua_remove(L, base);
	return status;
}
