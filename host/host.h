#ifndef MEDIC_HOST_H
#define MEDIC_HOST_H
#include <lua.h>
#include "output.h"

/* Registers "medic.host" in package.preload: the host's services to scripts (time, sleep, logging, the
 * terminal, Ctrl-C hold-off); out lives as long as the Lua state. */
void medic_host_preload(lua_State *L, struct medic_output *out);

#endif
