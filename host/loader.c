/* Finding and loading scripts: files on disk win over the copies embedded in the binary (lsyncd's
 * "embedded but overridable" runner), and every chunk passes the script API version check. */
#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "base/log.h"
#include "loader.h"

#define MAX_SCRIPT_SIZE (16 << 20)
#define HEADER_LINES 10
#define API_TAG "etcd-medic-api:"

const struct embedded_file *medic_embedded_find(const char *name)
{
	for (const struct embedded_file *f = embedded_files; f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

/* The N of "-- etcd-medic-api: N" in the leading comment block (after an optional #! line), or -1. */
static long api_version_of(const char *src, size_t len)
{
	const char *p = src, *end = src + len;

	for (int line = 0; line < HEADER_LINES && p < end; line++) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
		if (!(line == 0 && n >= 2 && p[0] == '#' && p[1] == '!')) {
			if (n < 2 || p[0] != '-' || p[1] != '-')
				return -1;
			const char *tag = memmem(p, n, API_TAG, sizeof API_TAG - 1);
			if (tag)
				return strtol(tag + sizeof API_TAG - 1, NULL, 10);
		}
		p += n + 1;
	}
	return -1;
}

int medic_api_check(const char *src, size_t len, const char *display, char *err, size_t errlen)
{
	long v = api_version_of(src, len);

	if (v < 0 || v == MEDIC_API_VERSION)
		return 0;
	snprintf(err, errlen,
		 "%s was written for etcd-medic script API %ld, but this etcd-medic (%s) provides API %d.\n"
		 "Use an etcd-medic release that provides API %ld, or eject a fresh copy of the script "
		 "(etcd-medic eject NAME DIR) and carry your changes over to it.",
		 display, v, MEDIC_VERSION, MEDIC_API_VERSION, v);
	return -1;
}

int medic_load_buffer(lua_State *L, const char *src, size_t len, const char *display)
{
	char err[512];

	if (medic_api_check(src, len, display, err, sizeof err) != 0) {
		lua_pushstring(L, err);
		return LUA_ERRSYNTAX;
	}
	if (memchr(src, '\0', len < 4096 ? len : 4096)) {
		lua_pushfstring(L, "%s: not a Lua source file (binary data)", display);
		return LUA_ERRSYNTAX;
	}
	if (len > 0 && src[0] == '#') { /* a "#!" line, skipped as lua.c does (its newline kept: lines still match) */
		const char *eol = memchr(src, '\n', len);
		len -= eol ? (size_t)(eol - src) : len;
		src = eol ? eol : src + len;
	}
	lua_pushfstring(L, "@%s", display);
	int status = luaL_loadbufferx(L, src, len, lua_tostring(L, -1), "t");
	lua_remove(L, -2);
	return status;
}

/* Reads the whole file into a Lua string (so nothing C-owned is live if loading raises). */
static int read_file(lua_State *L, const char *path)
{
	struct stat st;
	FILE *f = fopen(path, "rb");
	int saved;

	if (!f || fstat(fileno(f), &st) != 0 || S_ISDIR(st.st_mode) || st.st_size > MAX_SCRIPT_SIZE) {
		saved = errno;
		int dir = f && S_ISDIR(st.st_mode), big = f && !dir && st.st_size > MAX_SCRIPT_SIZE;
		if (f)
			fclose(f);
		lua_pushfstring(L, "cannot read %s: %s", path,
				dir ? "it is a directory" : big ? "file too large for a script" : strerror(saved));
		return LUA_ERRFILE;
	}
	char *buf = lua_newuserdatauv(L, (size_t)st.st_size + 1, 0); /* Lua-owned: safe if anything raises */
	size_t n = fread(buf, 1, (size_t)st.st_size, f);
	saved = ferror(f) ? errno : 0;
	fclose(f);
	if (saved) {
		lua_pop(L, 1);
		lua_pushfstring(L, "cannot read %s: %s", path, strerror(saved));
		return LUA_ERRFILE;
	}
	lua_pushlstring(L, buf, n);
	lua_remove(L, -2);
	return LUA_OK;
}

int medic_load_file(lua_State *L, const char *path)
{
	size_t len;
	int status = read_file(L, path);

	if (status != LUA_OK)
		return status;
	const char *src = lua_tolstring(L, -1, &len);
	status = medic_load_buffer(L, src, len, path);
	lua_remove(L, -2);
	return status;
}

static int load_embedded(lua_State *L, const struct embedded_file *f)
{
	lua_pushfstring(L, "[embedded]/%s", f->name);
	int status = medic_load_buffer(L, f->data, f->size, lua_tostring(L, -1));
	lua_remove(L, -2);
	return status;
}

static int is_path(const char *s)
{
	size_t n = strlen(s);

	return strchr(s, '/') != NULL || (n > 4 && strcmp(s + n - 4, ".lua") == 0);
}

/* Appends DIR/?.lua (the script's directory) to package.path, behind the --script-path dirs. */
static void add_script_dir(lua_State *L, const char *file)
{
	const char *slash = strrchr(file, '/');
	const char *old;

	lua_getglobal(L, "package");
	lua_getfield(L, -1, "path");
	old = lua_tostring(L, -1);
	if (slash)
		lua_pushlstring(L, file, (size_t)(slash - file) + 1);
	else
		lua_pushliteral(L, "./");
	lua_pushfstring(L, "%s%s%s?.lua", old, *old ? ";" : "", lua_tostring(L, -1));
	lua_setfield(L, -4, "path");
	lua_pop(L, 3);
}

/* Edit distance of a and b (names under 64 characters; longer ones are far from everything). */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64], diag, up;

	if (la >= 64 || lb >= 64)
		return 64;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			up = row[j];
			size_t best = (up < row[j - 1] ? up : row[j - 1]) + 1;
			size_t subst = diag + (a[i - 1] != b[j - 1]);
			row[j] = best < subst ? best : subst;
			diag = up;
		}
	}
	return row[lb];
}

/* Pushes the unknown script's error: exit 2 (usage), with the closest shipped name (at most 3 edits away, or one
** that contains the name given) as "did you mean". */
static int no_such_script(lua_State *L, const char *name)
{
	size_t best_d = 4, d;
	char base[64], best[64] = "";

	for (const struct embedded_file *f = embedded_files; f->name; f++) {
		size_t n = strlen(f->name);
		if (strchr(f->name, '/') || n < 5 || n - 4 >= sizeof base || strcmp(f->name + n - 4, ".lua") != 0)
			continue;
		snprintf(base, sizeof base, "%.*s", (int)(n - 4), f->name);
		d = *name && strstr(base, name) ? 3 : distance(name, base);
		if (d < best_d) {
			best_d = d;
			snprintf(best, sizeof best, "%s", base);
		}
	}
	lua_createtable(L, 0, 2);
	lua_pushinteger(L, 2);
	lua_setfield(L, -2, "exit_code");
	if (*best)
		lua_pushfstring(L, "no script named '%s'; did you mean '%s'? (see: etcd-medic scripts)", name, best);
	else
		lua_pushfstring(L, "no script named '%s' (see: etcd-medic scripts; a file path needs a '/' or .lua)",
				name);
	lua_setfield(L, -2, "message");
	return LUA_ERRFILE;
}

int medic_load_script(lua_State *L, const char *name, const struct medic_options *opts)
{
	const struct embedded_file *f;
	struct stat st;

	if (is_path(name)) {
		add_script_dir(L, name);
		medic_log(MEDIC_LOG_DEBUG, "script", "running %s", name);
		return medic_load_file(L, name);
	}
	for (int i = 0; i < opts->nscript_path; i++) {
		lua_pushfstring(L, "%s/%s.lua", opts->script_path[i], name);
		if (stat(lua_tostring(L, -1), &st) == 0) {
			medic_log(MEDIC_LOG_DEBUG, "script", "running %s (from --script-path)", lua_tostring(L, -1));
			int status = medic_load_file(L, lua_tostring(L, -1));
			lua_remove(L, -2);
			return status;
		}
		lua_pop(L, 1);
	}
	lua_pushfstring(L, "%s.lua", name);
	f = medic_embedded_find(lua_tostring(L, -1));
	lua_pop(L, 1);
	if (f) {
		medic_log(MEDIC_LOG_DEBUG, "script", "running the built-in %s", f->name);
		return load_embedded(L, f);
	}
	return no_such_script(L, name);
}

/* package.searchers[2]: package.path first, then the embedded file "medic/x.lua" for "medic.x". */
static int search_module(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	int status;

	lua_getglobal(L, "package");
	lua_getfield(L, -1, "searchpath");
	lua_pushvalue(L, 1);
	lua_getfield(L, -3, "path");
	lua_call(L, 2, 2);
	if (!lua_isnil(L, -2)) {
		const char *path = lua_tostring(L, -2);
		if ((status = medic_load_file(L, path)) != LUA_OK)
			return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, path,
					  lua_tostring(L, -1));
		medic_log(MEDIC_LOG_DEBUG, "script", "module %s from %s", name, path);
		lua_pushstring(L, path);
		return 2;
	}
	const char *notfound = lua_tostring(L, -1);
	const char *file = luaL_gsub(L, name, ".", "/");
	const struct embedded_file *f = medic_embedded_find(lua_pushfstring(L, "%s.lua", file));
	if (!f) {
		lua_pushfstring(L, "%s\n\tno embedded module '%s'", notfound ? notfound : "", lua_tostring(L, -1));
		return 1;
	}
	if (load_embedded(L, f) != LUA_OK)
		return luaL_error(L, "error loading embedded module '%s':\n\t%s", name, lua_tostring(L, -1));
	lua_pushfstring(L, "[embedded]/%s", f->name);
	return 2;
}

void medic_searcher_install(lua_State *L, const struct medic_options *opts)
{
	luaL_Buffer b;

	lua_getglobal(L, "package");
	luaL_buffinit(L, &b);
	for (int i = 0; i < opts->nscript_path; i++) {
		luaL_addstring(&b, i ? ";" : "");
		luaL_addstring(&b, opts->script_path[i]);
		luaL_addstring(&b, "/?.lua");
	}
	luaL_pushresult(&b);
	lua_setfield(L, -2, "path");
	lua_pushliteral(L, "");
	lua_setfield(L, -2, "cpath");
	lua_getfield(L, -1, "searchers");
	lua_pushcfunction(L, search_module);
	lua_rawseti(L, -2, 2);
	for (lua_Integer i = (lua_Integer)luaL_len(L, -1); i > 2; i--) {
		lua_pushnil(L);
		lua_rawseti(L, -2, i);
	}
	lua_pop(L, 2);
}
