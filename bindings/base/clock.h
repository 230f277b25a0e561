#ifndef MEDIC_CLOCK_H
#define MEDIC_CLOCK_H
#include <lua.h>

/* Waiting and deadlines, shared by every module that polls: one implementation of an interruptible sleep
 * and a monotonic clock, registered under each module's own names. */

/* sleep(seconds) -> true | nil, "interrupted", "Interrupted"
 * Sleeps in 20 ms slices so that Ctrl-C (medic_interrupted()) ends the wait at once; 0..86400 seconds. */
int medic_lua_sleep(lua_State *L);
/* now() -> seconds on a monotonic clock (a float), for deadlines. */
int medic_lua_now(lua_State *L);

#endif
