/* The `scripts` and `eject` commands: what the binary carries, listed and written out for editing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "commands.h"
#include "loader.h"

#define MAX_LIBS 64

void medic_script_description(lua_State *L, const char *src, size_t len, const char *name)
{
	const char *p = src, *end = src + len;
	size_t namelen = strlen(name);

	for (int line = 0; line < 10 && p < end; line++) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *e = eol ? eol : end, *t = p + 2;
		if (line == 0 && p[0] == '#')
			goto next;
		if (e - p < 2 || p[0] != '-' || p[1] != '-')
			break;
		while (t < e && (*t == ' ' || *t == '-'))
			t++;
		if (t == e || memmem(t, (size_t)(e - t), "etcd-medic-api:", 15))
			goto next;
		if ((size_t)(e - t) > namelen && memcmp(t, name, namelen) == 0 && t[namelen] == ':')
			for (t += namelen + 1; t < e && *t == ' '; t++)
				;
		lua_pushlstring(L, t, (size_t)(e - t));
		return;
next:
		p = e + 1;
	}
	lua_pushliteral(L, "");
}

/* entries[name] = {description, origin} (origin: "" for embedded, else the file). */
static void add_entry(lua_State *L, int entries, const char *name, const char *src, size_t len,
		      const char *origin)
{
	lua_createtable(L, 2, 0);
	medic_script_description(L, src, len, name);
	lua_rawseti(L, -2, 1);
	lua_pushstring(L, origin);
	lua_rawseti(L, -2, 2);
	lua_setfield(L, entries, name);
}

static void add_embedded(lua_State *L, int entries)
{
	for (const struct embedded_file *f = embedded_files; f->name; f++) {
		size_t n = strlen(f->name);
		if (strchr(f->name, '/') || n < 5 || strcmp(f->name + n - 4, ".lua") != 0)
			continue;
		lua_pushlstring(L, f->name, n - 4);
		add_entry(L, entries, lua_tostring(L, -1), f->data, f->size, "");
		lua_pop(L, 1);
	}
}

static void add_dir(lua_State *L, int entries, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (e->d_name[0] == '.' || n < 5 || strcmp(e->d_name + n - 4, ".lua") != 0)
			continue;
		lua_pushfstring(L, "%s/%s", dir, e->d_name);
		if (medic_load_file(L, lua_tostring(L, -1)) == LUA_OK) { /* only files that compile are scripts */
			FILE *f = fopen(lua_tostring(L, -2), "rb");
			char head[2048];
			size_t len = f ? fread(head, 1, sizeof head, f) : 0;
			if (f)
				fclose(f);
			lua_pushlstring(L, e->d_name, n - 4);
			add_entry(L, entries, lua_tostring(L, -1), head, len, lua_tostring(L, -3));
			lua_pop(L, 1);
		}
		lua_pop(L, 2);
	}
	closedir(d);
}

int medic_cmd_scripts(lua_State *L, const struct medic_options *opts)
{
	int width = 0;

	lua_newtable(L);
	add_embedded(L, lua_gettop(L));
	for (int i = opts->nscript_path - 1; i >= 0; i--) /* the first --script-path wins */
		add_dir(L, lua_gettop(L), opts->script_path[i]);
	lua_getglobal(L, "table");
	lua_getfield(L, -1, "sort");
	lua_newtable(L);
	for (lua_pushnil(L); lua_next(L, -5); lua_pop(L, 1)) {
		lua_pushvalue(L, -2);
		lua_rawseti(L, -4, (lua_Integer)lua_rawlen(L, -4) + 1);
		width = (int)lua_rawlen(L, -2) > width ? (int)lua_rawlen(L, -2) : width;
	}
	lua_pushvalue(L, -1);
	lua_insert(L, -3);
	lua_call(L, 1, 0);
	for (lua_Integer i = 1; lua_rawgeti(L, -1, i) == LUA_TSTRING; i++) {
		lua_gettable(L, -4);
		lua_rawgeti(L, -1, 1);
		lua_rawgeti(L, -2, 2);
		lua_rawgeti(L, -4, i);
		printf("  %-*s  %s%s%s%s\n", width, lua_tostring(L, -1), lua_tostring(L, -3),
		       *lua_tostring(L, -2) ? " (" : "", lua_tostring(L, -2), *lua_tostring(L, -2) ? ")" : "");
		lua_pop(L, 4);
	}
	lua_pop(L, 4);
	return 0;
}

/* {====== eject */

/* Adds to the set at -1 the embedded libraries that src requires ("medic.x" -> "medic/x.lua"), and theirs. */
static void collect_requires(lua_State *L, const char *src, size_t len)
{
	const char *p = src, *end = src + len;

	while ((p = memmem(p, (size_t)(end - p), "require", 7)) != NULL && lua_rawlen(L, -1) < MAX_LIBS) {
		p += 7;
		while (p < end && (*p == ' ' || *p == '('))
			p++;
		if (p >= end || (*p != '"' && *p != '\''))
			continue;
		const char *q = memchr(p + 1, *p, (size_t)(end - p - 1));
		if (!q || q - p > 100)
			continue;
		const char *file = luaL_gsub(L, lua_pushlstring(L, p + 1, (size_t)(q - p - 1)), ".", "/");
		const struct embedded_file *f = medic_embedded_find(lua_pushfstring(L, "%s.lua", file));
		lua_getfield(L, -4, lua_tostring(L, -1));
		int seen = !lua_isnil(L, -1);
		lua_pop(L, 1);
		if (f && !seen) {
			lua_pushboolean(L, 1);
			lua_setfield(L, -5, f->name);
			lua_pushvalue(L, -4);
			lua_pushstring(L, f->name);
			lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
			collect_requires(L, f->data, f->size);
			lua_pop(L, 1);
		}
		lua_pop(L, 3);
		p = q + 1;
	}
}

static int mkdirs(const char *path)
{
	char buf[4096];

	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
		return -1;
	for (char *s = buf + 1; *s; s++)
		if (*s == '/') {
			*s = 0;
			if (mkdir(buf, 0755) != 0 && errno != EEXIST)
				return -1;
			*s = '/';
		}
	return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int write_new_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	size_t done = 0;

	if (fd < 0)
		return -1;
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);
		if (n <= 0) {
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	return close(fd);
}

/* Adds the embedded file `name` to the list at -1 (a sequence, and a set of the names in it) unless it is in. */
static void add_file(lua_State *L, const char *name)
{
	if (lua_getfield(L, -1, name) == LUA_TNIL) {
		lua_pushboolean(L, 1);
		lua_setfield(L, -3, name);
		lua_pushstring(L, name);
		lua_rawseti(L, -3, (lua_Integer)lua_rawlen(L, -3) + 1);
	}
	lua_pop(L, 1);
}

/* The files to write, as a sequence of embedded names at -1: the script first, then its own helpers (every file
** under NAME/), and with `libraries` every embedded library it requires, transitively. */
static int eject_list(lua_State *L, const char *name, int libraries)
{
	const struct embedded_file *f = medic_embedded_find(lua_pushfstring(L, "%s.lua", name));
	size_t n = strlen(name);

	lua_pop(L, 1);
	if (!f || strchr(name, '/')) {
		fprintf(stderr, "etcd-medic: no shipped script named '%s' (see: etcd-medic scripts)\n", name);
		return -1;
	}
	lua_newtable(L);
	add_file(L, f->name);
	if (libraries)
		collect_requires(L, f->data, f->size);
	for (const struct embedded_file *h = embedded_files; h->name; h++)
		if (strncmp(h->name, name, n) == 0 && h->name[n] == '/')
			add_file(L, h->name);
	return 0;
}

/* Refuses if any target exists: prints them all and returns -1. */
static int refuse_existing(lua_State *L, const char *dir)
{
	struct stat st;
	int clash = 0;

	for (lua_Integer i = 1; lua_rawgeti(L, -1, i) == LUA_TSTRING; i++) {
		const char *path = lua_pushfstring(L, "%s/%s", dir, lua_tostring(L, -1));
		if (lstat(path, &st) == 0) {
			fprintf(stderr, "etcd-medic: %s exists; eject does not overwrite\n", path);
			clash = 1;
		}
		lua_pop(L, 2);
	}
	lua_pop(L, 1);
	if (clash)
		fprintf(stderr, "etcd-medic: nothing written. Move those files away or eject into another DIR.\n");
	return clash ? -1 : 0;
}

int medic_cmd_eject(lua_State *L, const char *name, const char *dir, int libraries)
{
	if (eject_list(L, name, libraries) != 0 || refuse_existing(L, dir) != 0)
		return 1;
	for (lua_Integer i = 1; lua_rawgeti(L, -1, i) == LUA_TSTRING; i++) {
		const struct embedded_file *f = medic_embedded_find(lua_tostring(L, -1));
		const char *path = lua_pushfstring(L, "%s/%s", dir, f->name);
		const char *slash = strrchr(path, '/');
		lua_pushlstring(L, path, (size_t)(slash - path));
		if (mkdirs(lua_tostring(L, -1)) != 0 || write_new_file(path, f->data, f->size) != 0) {
			fprintf(stderr, "etcd-medic: cannot write %s: %s\n", path, strerror(errno));
			return 1;
		}
		printf("wrote %s\n", path);
		lua_pop(L, 3);
	}
	lua_pop(L, 1);
	if (libraries)
		printf("The libraries written (medic/) take precedence over the ones built into etcd-medic: fixes\n"
		       "that later versions ship in them do not reach this copy until you eject again.\n");
	else
		printf("Only the script (and its own %s/ helpers, if it has any) was written: it runs on the\n"
		       "libraries built into etcd-medic (the procedure engine, the bindings' Lua halves), so fixes\n"
		       "shipped later reach it. To copy and change those too: etcd-medic eject %s DIR --libraries\n",
		       name, name);
	printf("Edit it, then run it with: etcd-medic run %s/%s.lua\n", dir, name);
	return 0;
}
/* }====== */
