/* TEMPORARY (issue 13), delete once scripts/medic/procedure.lua uses medic.host: the procedure engine still
 * asks for `require "medic.output"` (redact, sleep) and for medic.node.core's uninterrupted. Both now live in
 * medic.host; these two aliases keep the engine working unchanged until it is switched. */
#include <lauxlib.h>
#include "host.h"

static int require_host(lua_State *L)
{
	lua_getglobal(L, "require");
	lua_pushliteral(L, "medic.host");
	lua_call(L, 1, 1);
	return 1;
}

/* medic.node.core as before, plus uninterrupted = medic.host's. Upvalue 1: the real opener. */
static int open_node_core(lua_State *L)
{
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushvalue(L, 1);
	lua_call(L, 1, 1);
	require_host(L);
	lua_getfield(L, -1, "uninterrupted");
	lua_setfield(L, -3, "uninterrupted");
	lua_pop(L, 1);
	return 1;
}

void medic_compat_preload(lua_State *L)
{
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushcfunction(L, require_host);
	lua_setfield(L, -2, "medic.output");
	lua_getfield(L, -1, "medic.node.core");
	lua_pushcclosure(L, open_node_core, 1);
	lua_setfield(L, -2, "medic.node.core");
	lua_pop(L, 1);
}
