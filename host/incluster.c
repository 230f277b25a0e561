/* The `rbac` and `manifests` commands: a procedure put in the cluster. Their work is in Lua
 * (scripts/medic/incluster.lua), where the procedures' declarations are; this is the call. */
#include <lauxlib.h>
#include "incluster.h"
#include "state.h"

int medic_cmd_incluster(lua_State *L, const char *command, char **operands, int noperands)
{
	lua_getglobal(L, "require");
	lua_pushliteral(L, "medic.incluster");
	if (medic_docall(L, 1, 1) != LUA_OK)
		return medic_report(L, "etcd-medic: ");
	lua_getfield(L, -1, "main");
	lua_pushstring(L, command);
	luaL_checkstack(L, noperands, "too many arguments");
	for (int i = 0; i < noperands; i++)
		lua_pushstring(L, operands[i]);
	if (medic_docall(L, noperands + 1, 1) != LUA_OK)
		return medic_report(L, "etcd-medic: ");
	return (int)luaL_optinteger(L, -1, 1);
}
