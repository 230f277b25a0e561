#ifndef MEDIC_COMMANDS_H
#define MEDIC_COMMANDS_H
#include <lua.h>
#include "options.h"

/* `etcd-medic scripts`: prints each shipped script (and each *.lua in the --script-path dirs) with the
 * one-line description from its header comment. Returns the exit code. */
int medic_cmd_scripts(lua_State *L, const struct medic_options *opts);

/* `etcd-medic eject NAME [DIR] [--libraries]`: writes DIR/NAME.lua and its own helpers (DIR/NAME/...), and with
 * `libraries` DIR/medic/X.lua for every embedded library it requires (transitively). Refuses (writing nothing) if
 * any of those files exists. Returns the exit code. */
int medic_cmd_eject(lua_State *L, const char *name, const char *dir, int libraries);

/* The description of a script: the first comment line of its header that is not the #! line or the
 * API tag, with a leading "NAME:" dropped. Pushes it (or "") onto the stack. */
void medic_script_description(lua_State *L, const char *src, size_t len, const char *name);

#endif
