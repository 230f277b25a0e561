#include <lauxlib.h>
#include <time.h>
#include "base/clock.h"
#include "base/interrupt.h"

int medic_lua_sleep(lua_State *L)
{
	lua_Number left = luaL_checknumber(L, 1);

	luaL_argcheck(L, left >= 0 && left <= 86400, 1, "between 0 and 86400 seconds");
	while (left > 0 && !medic_interrupted()) {
		lua_Number step = left < 0.02 ? left : 0.02;
		struct timespec ts = {0, (long)(step * 1e9)};
		nanosleep(&ts, NULL);
		left -= step;
	}
	if (medic_interrupted()) {
		lua_pushnil(L);
		lua_pushliteral(L, "interrupted");
		lua_pushliteral(L, "Interrupted");
		return 3;
	}
	lua_pushboolean(L, 1);
	return 1;
}

int medic_lua_now(lua_State *L)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
	return 1;
}
