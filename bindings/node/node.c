/* medic.node.core: the local node backend (a handle on a directory tree, normally the node's "/") and the
 * helpers the Lua half (scripts/medic/node.lua) shares with its remote backend: path and node-name
 * validation. Waiting and Ctrl-C hold-off are medic.host's (host/host.c).
 * File work is in fsroot.c, fsmove.c and fstree.c, which have no Lua in them. */
#include <errno.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/errors.h"
#include "node/fsdigest.h"
#include "node/fsmove.h"
#include "node/fsroot.h"

#define LOCAL_MT "medic.node.Local"
#define BOX_MT "medic.node.box"
#define READ_DEFAULT_MAX (16u << 20)
#define READ_LIMIT (1u << 30)

struct local {
	struct fs_root root;
	char dir[FS_PATH_MAX];
};

/* Memory that C fills and Lua may fail to copy (out of memory raises): the box's __gc frees it. */
struct box {
	struct fs_names names;
	char *buf;
};

static int push_error(lua_State *L, const struct fs_error *e)
{
	lua_pushnil(L);
	lua_pushstring(L, e->msg);
	lua_pushstring(L, e->code);
	return 3;
}

static struct box *new_box(lua_State *L)
{
	struct box *b = lua_newuserdatauv(L, sizeof *b, 0);

	memset(b, 0, sizeof *b);
	luaL_setmetatable(L, BOX_MT);
	return b;
}

static int box_gc(lua_State *L)
{
	struct box *b = luaL_checkudata(L, 1, BOX_MT);

	fs_names_free(&b->names);
	free(b->buf);
	b->buf = NULL;
	return 0;
}

static struct local *check_open(lua_State *L)
{
	struct local *h = luaL_checkudata(L, 1, LOCAL_MT);

	if (h->root.fd < 0)
		luaL_error(L, "node handle is closed");
	return h;
}

/* Argument arg as a clean path in out; 0, or -1 with *e set (not absolute, NUL, '..' escaping, too long). */
static int check_path(lua_State *L, int arg, char out[FS_PATH_MAX], struct fs_error *e)
{
	size_t len;
	const char *p = luaL_checklstring(L, arg, &len);

	return fs_path_clean(p, len, out, e);
}

/* node.clean_path(p) -> "/normal/form" | nil, message, "InvalidArgument" */
static int l_clean_path(lua_State *L)
{
	char p[FS_PATH_MAX];
	struct fs_error e;

	if (check_path(L, 1, p, &e) < 0)
		return push_error(L, &e);
	lua_pushstring(L, p);
	return 1;
}

/* node.sha256_file(path) -> hex, size | nil, message, "IOError"   (a file of this machine: `sha256sum PATH`) */
static int l_sha256_file(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	char hex[65], err[512];
	uint64_t size = 0;

	if (fs_sha256_file(path, hex, &size, err, sizeof err) != 0) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		lua_pushstring(L, MEDIC_E_IO_ERROR);
		return 3;
	}
	lua_pushstring(L, hex);
	lua_pushinteger(L, (lua_Integer)size);
	return 2;
}

/* node.valid_node_name(name) -> true | nil, message, "InvalidArgument"  (a DNS-1123 subdomain, at most 253) */
static int l_valid_node_name(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);

	if (fs_valid_subdomain(s, len)) {
		lua_pushboolean(L, 1);
		return 1;
	}
	char shown[68];
	size_t n = 0;
	for (size_t i = 0; i < len && n < 64; i++)	/* untrusted: shown printable and short */
		shown[n++] = s[i] > 0x20 && s[i] < 0x7f ? s[i] : '?';
	memcpy(shown + n, len > 64 ? "..." : "", len > 64 ? 4 : 1);
	lua_pushnil(L);
	lua_pushfstring(L, "invalid node name \"%s\": not a DNS-1123 subdomain "
			"(lower-case letters, digits, '-' and '.', at most 253 bytes)", shown);
	lua_pushstring(L, MEDIC_E_INVALID_ARGUMENT);
	return 3;
}

/* node.open_local{root="/", force_copy=false} -> handle | nil, message, code
 * root: the directory that stands for the node's "/"; force_copy (tests): move copies even on one file
 * system, as if rename had said EXDEV. */
static int l_open_local(lua_State *L)
{
	size_t len = 1;
	const char *dir = "/";
	struct fs_error e;

	if (!lua_isnoneornil(L, 1)) {
		luaL_checktype(L, 1, LUA_TTABLE);
		lua_getfield(L, 1, "root");
		if (!lua_isnil(L, -1))
			dir = luaL_checklstring(L, -1, &len);
		lua_getfield(L, 1, "force_copy");
	} else {
		lua_pushnil(L);
		lua_pushnil(L);
	}
	if (len >= FS_PATH_MAX || strlen(dir) != len || dir[0] != '/')
		return luaL_argerror(L, 1, "root must be an absolute path without NUL, shorter than 4096 bytes");
	struct local *h = lua_newuserdatauv(L, sizeof *h, 0);
	h->root.fd = -1;
	h->root.force_copy = lua_toboolean(L, -2);
	memcpy(h->dir, dir, len + 1);
	luaL_setmetatable(L, LOCAL_MT);
	if (fs_root_open(&h->root, dir, &e) < 0)
		return push_error(L, &e);
	return 1;
}

/* h:exists(p) -> true | false | nil, message, code   (a dangling symlink exists) */
static int l_exists(lua_State *L)
{
	struct local *h = check_open(L);
	char p[FS_PATH_MAX];
	struct fs_error e;
	struct stat st;

	if (check_path(L, 2, p, &e) < 0 || fs_lstat(&h->root, p, &st, &e) < 0) {
		if (strcmp(e.code, MEDIC_E_NOT_FOUND) && strcmp(e.code, MEDIC_E_NOT_A_DIRECTORY))
			return push_error(L, &e);
		lua_pushboolean(L, 0);
		return 1;
	}
	lua_pushboolean(L, 1);
	return 1;
}

static const char *type_name(mode_t m)
{
	return S_ISREG(m) ? "file" : S_ISDIR(m) ? "directory" : S_ISLNK(m) ? "link" : S_ISFIFO(m) ? "fifo"
	     : S_ISSOCK(m) ? "socket" : S_ISCHR(m) ? "char" : S_ISBLK(m) ? "block" : "unknown";
}

static void set_int(lua_State *L, const char *k, lua_Integer v)
{
	lua_pushinteger(L, v);
	lua_setfield(L, -2, k);
}

/* h:stat(p) -> {type=, size=, mode=, mtime=, uid=, gid=} | nil, message, code
 * Of the entry itself (a symlink is type "link"). type: file directory link fifo socket char block;
 * mode: the permission bits as an integer (0644 is 420); mtime: seconds since the epoch. */
static int l_stat(lua_State *L)
{
	struct local *h = check_open(L);
	char p[FS_PATH_MAX];
	struct fs_error e;
	struct stat st;

	if (check_path(L, 2, p, &e) < 0 || fs_lstat(&h->root, p, &st, &e) < 0)
		return push_error(L, &e);
	lua_createtable(L, 0, 7);
	lua_pushstring(L, type_name(st.st_mode));
	lua_setfield(L, -2, "type");
	set_int(L, "size", (lua_Integer)st.st_size);
	set_int(L, "mode", (lua_Integer)(st.st_mode & 07777));
	set_int(L, "mtime", (lua_Integer)st.st_mtim.tv_sec);
	set_int(L, "uid", (lua_Integer)st.st_uid);
	set_int(L, "gid", (lua_Integer)st.st_gid);
	set_int(L, "dev", (lua_Integer)st.st_dev);
	return 1;
}

/* h:list(p) -> { name, ... } sorted bytewise, without "." and ".." | nil, message, code */
static int l_list(lua_State *L)
{
	struct local *h = check_open(L);
	char p[FS_PATH_MAX];
	struct fs_error e;
	struct box *b;

	if (check_path(L, 2, p, &e) < 0)
		return push_error(L, &e);
	b = new_box(L);
	if (fs_list(&h->root, p, &b->names, &e) < 0)
		return push_error(L, &e);
	lua_createtable(L, (int)b->names.n, 0);
	for (size_t i = 0; i < b->names.n; i++) {
		lua_pushstring(L, b->names.v[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	fs_names_free(&b->names);
	return 1;
}

/* An octal mode from an integer (448) or a string of octal digits ("0700"); def when absent. */
static int opt_mode(lua_State *L, int idx, int def)
{
	lua_Integer m;

	if (lua_isnil(L, idx))
		return def;
	if (lua_type(L, idx) == LUA_TSTRING) {
		char *end;
		const char *s = lua_tostring(L, idx);
		m = (lua_Integer)strtol(s, &end, 8);
		if (*s == '\0' || *end != '\0')
			m = -1;
	} else {
		m = luaL_checkinteger(L, idx);
	}
	if (m < 0 || m > 07777)
		luaL_error(L, "mode must be 0..07777 (an integer, or a string of octal digits)");
	return (int)m;
}

/* h:mkdir(p, {parents=false, mode=0755}) -> true | nil, message, code
 * Without parents an existing p is "AlreadyExists"; with parents, like mkdir -p (an existing directory is fine).
 * mode: integer or octal string ("0700"), set exactly (no umask) on the directories created. */
static int l_mkdir(lua_State *L)
{
	struct local *h = check_open(L);
	char p[FS_PATH_MAX];
	struct fs_error e;
	int parents = 0, mode = 0755;

	if (!lua_isnoneornil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		parents = lua_getfield(L, 3, "parents") != LUA_TNIL && lua_toboolean(L, -1);
		lua_getfield(L, 3, "mode");
		mode = opt_mode(L, -1, 0755);
	}
	if (check_path(L, 2, p, &e) < 0 || fs_mkdir(&h->root, p, parents, mode, &e) < 0)
		return push_error(L, &e);
	lua_pushboolean(L, 1);
	return 1;
}

/* h:move(src, dst) -> true, "rename" | true, "copy" | nil, message, code
 * Never replaces dst (code "AlreadyExists"). On one file system an atomic rename; across file systems a copy
 * (owners, modes, times, xattrs) under a temporary name beside dst, fsync, byte-for-byte verify, rename
 * to dst, then the source is removed; a failure before that removes the copy and leaves the source
 * whole. "SourceNotRemoved": the copy is complete and verified at dst, but removing src failed partway. */
static int l_move(lua_State *L)
{
	struct local *h = check_open(L);
	char src[FS_PATH_MAX], dst[FS_PATH_MAX];
	enum fs_move_how how = FS_MOVED_RENAME;
	struct fs_error e;

	if (check_path(L, 2, src, &e) < 0 || check_path(L, 3, dst, &e) < 0 ||
	    fs_move(&h->root, src, dst, &how, &e) < 0)
		return push_error(L, &e);
	lua_pushboolean(L, 1);
	lua_pushstring(L, how == FS_MOVED_COPY ? "copy" : "rename");
	return 2;
}

/* h:read(p [, max=16 MiB]) -> contents | nil, message, code   (a regular file; larger than max: "TooLarge") */
static int l_read(lua_State *L)
{
	struct local *h = check_open(L);
	lua_Integer max = luaL_optinteger(L, 3, READ_DEFAULT_MAX);
	char p[FS_PATH_MAX];
	struct fs_error e;
	struct box *b;
	size_t len;

	luaL_argcheck(L, max >= 0 && max <= READ_LIMIT, 3, "max must be 0..1 GiB");
	if (check_path(L, 2, p, &e) < 0)
		return push_error(L, &e);
	b = new_box(L);
	if (fs_read(&h->root, p, (size_t)max, &b->buf, &len, &e) < 0)
		return push_error(L, &e);
	lua_pushlstring(L, b->buf, len);
	free(b->buf);
	b->buf = NULL;
	return 1;
}

/* h:close() -> nothing; idempotent, also __gc and __close */
static int l_close(lua_State *L)
{
	struct local *h = luaL_checkudata(L, 1, LOCAL_MT);

	fs_root_close(&h->root);
	return 0;
}

static int l_tostring(lua_State *L)
{
	struct local *h = luaL_checkudata(L, 1, LOCAL_MT);

	lua_pushfstring(L, "node.local(%s)%s", h->dir, h->root.fd < 0 ? " (closed)" : "");
	return 1;
}

static const luaL_Reg local_methods[] = {
	{"exists", l_exists},
	{"stat", l_stat},
	{"list", l_list},
	{"mkdir", l_mkdir},
	{"move", l_move},
	{"read", l_read},
	{"close", l_close},
	{NULL, NULL}
};

static const luaL_Reg local_meta[] = {
	{"__gc", l_close},
	{"__close", l_close},
	{"__tostring", l_tostring},
	{NULL, NULL}
};

static const luaL_Reg functions[] = {
	{"open_local", l_open_local},
	{"clean_path", l_clean_path},
	{"valid_node_name", l_valid_node_name},
	{"sha256_file", l_sha256_file},
	{NULL, NULL}
};

int luaopen_medic_node_core(lua_State *L);
int luaopen_medic_node_core(lua_State *L)
{
	luaL_newmetatable(L, LOCAL_MT);
	luaL_setfuncs(L, local_meta, 0);
	luaL_newlib(L, local_methods);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
	luaL_newmetatable(L, BOX_MT);
	lua_pushcfunction(L, box_gc);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);
	luaL_newlib(L, functions);
	return 1;
}
