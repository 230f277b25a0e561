#ifndef MEDIC_LOADER_H
#define MEDIC_LOADER_H
#include <lua.h>
#include <stddef.h>
#include "embedded.h"
#include "options.h"

/* Script loading: every chunk from disk or from the binary passes the API header check
 * ("-- etcd-medic-api: N" in the leading comment lines; a file without one is accepted). */

/* The embedded file with this name ("medic/ui.lua"), or NULL. */
const struct embedded_file *medic_embedded_find(const char *name);

/* 0 if src may run on this host; else -1 with a message in err ("FILE was written for API N ..."). */
int medic_api_check(const char *src, size_t len, const char *display, char *err, size_t errlen);

/* Load a chunk (text only) after the API check. Push the function and return LUA_OK, or push a
 * message and return an error status. */
int medic_load_buffer(lua_State *L, const char *src, size_t len, const char *display);
int medic_load_file(lua_State *L, const char *path);

/* `run NAME|FILE`: a FILE (contains '/' or ends in .lua) is loaded from disk and its directory joins the
 * module search path; a NAME is looked up as NAME.lua in the --script-path dirs, then in the binary.
 * Pushes the function and returns LUA_OK, or pushes a message and returns an error status. */
int medic_load_script(lua_State *L, const char *name_or_file, const struct medic_options *opts);

/* require: package.preload first, then package.path (the --script-path dirs, then the running script's
 * directory), then the embedded medic/ libraries. Called once by medic_state_new. */
void medic_searcher_install(lua_State *L, const struct medic_options *opts);

#endif
