#include <lauxlib.h>

/* Placeholder until this module's issue lands: an empty module table. */
int luaopen_medic_node_core(lua_State *L);
int luaopen_medic_node_core(lua_State *L)
{
	lua_newtable(L);
	return 1;
}
