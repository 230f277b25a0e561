#ifndef MEDIC_REPL_H
#define MEDIC_REPL_H
#include <lua.h>

/* The REPL: with a terminal on stdin, line editing (libedit, loaded then: host/edit_lazy.c), history,
 * completion, multi-line input and pretty-printed results; otherwise the whole of stdin runs as one chunk.
 * Returns the exit code (1 on a terminal if libedit cannot be loaded, with the reason on stderr). */
int medic_repl(lua_State *L);

#endif
