#ifndef MEDIC_STATE_H
#define MEDIC_STATE_H
#include <lua.h>
#include "options.h"

/* A Lua state with the standard libraries, the preloaded C modules, medic.options and the script search
 * (host/loader.c); NULL, with a message on stderr, if it cannot be made. */
lua_State *medic_state_new(const struct medic_options *opts);
/* Calls the function below narg arguments with a traceback handler (lua.c's docall); returns the lua_pcall
 * status. During the call, Ctrl-C sets medic_interrupt_set(1) and raises "interrupted" at the next Lua
 * instruction (a second Ctrl-C kills the process). */
int medic_docall(lua_State *L, int narg, int nres);

/* host.held(fn, ...) -> fn's results (its error raised again). A Ctrl-C while fn runs is held back until fn
 * returns, then takes effect (an "interrupted" error at the next instruction); a second Ctrl-C still kills the
 * process. For one change sent to a server: cut short, its outcome would be unknown (it may land after the
 * cleanup has looked), so its answer is awaited (bounded by the request's timeout). */
int medic_held_call(lua_State *L);

/* Reports the error at the top of the stack on stderr (and pops it): a structured error ({exit_code=,
 * message=}) by its message alone (not at all when its `said` is true: the script printed it already), anything
 * else with its traceback. Returns the exit code it stands
 * for: exit_code of a structured error, 130 after Ctrl-C, else 1. prefix: "etcd-medic: " or "". */
int medic_report(lua_State *L, const char *prefix);

#endif
