#ifndef MEDIC_INCLUSTER_H
#define MEDIC_INCLUSTER_H
#include <lua.h>

/* `etcd-medic rbac NAME ...` and `etcd-medic manifests NAME ...`: calls their Lua half, medic.incluster's
 * main(command, NAME, ARGS...), which prints the objects. Returns the exit code. */
int medic_cmd_incluster(lua_State *L, const char *command, char **operands, int noperands);

#endif
