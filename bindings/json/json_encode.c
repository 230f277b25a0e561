/* medic_json_encode: Lua value -> JSON text (the other half of bindings/json/json.c).
 * Why not cjson.encode: lua-cjson 2.1 writes every number with 14 significant digits (so 2^53 comes out
 * as 9.007199254741e+15) and cannot tell an empty array from an empty object. */
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json/json.h"

#define ARRAY_MT "medic.json.array"
#define BUFFER_MT "medic.json.buffer"

/* Output text, in a userdata so that an error anywhere (even a memory error) frees it through __gc. */
struct sbuf {
	char *p;
	size_t n, cap;
	const char *err;
	int depth;
};

struct key {
	const char *s;
	size_t n;
};

static int encode_value(lua_State *L, struct sbuf *b, int idx);

static int sbuf_gc(lua_State *L)
{
	struct sbuf *b = lua_touserdata(L, 1);

	free(b->p);
	b->p = NULL;
	return 0;
}

static int fail(struct sbuf *b, const char *msg)
{
	if (!b->err)
		b->err = msg;
	return -1;
}

static int put(struct sbuf *b, const char *s, size_t n)
{
	if (b->cap - b->n < n) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap - b->n < n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return fail(b, "out of memory");
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	return 0;
}

static int puts_(struct sbuf *b, const char *s)
{
	return put(b, s, strlen(s));
}

static int encode_string(struct sbuf *b, const char *s, size_t n)
{
	char esc[8];
	size_t run = 0;

	if (put(b, "\"", 1) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *rep = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
			: c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
		if (!rep && c >= 0x20 && c != 0x7f)
			continue;
		if (!rep)
			snprintf(esc, sizeof esc, "\\u%04x", c), rep = esc;
		if (put(b, s + run, i - run) < 0 || puts_(b, rep) < 0)
			return -1;
		run = i + 1;
	}
	if (put(b, s + run, n - run) < 0)
		return -1;
	return put(b, "\"", 1);
}

/* Integers exactly; floats with the fewest digits that read back as the same double. */
static int encode_number(lua_State *L, struct sbuf *b, int idx)
{
	char buf[64];

	if (lua_isinteger(L, idx)) {
		snprintf(buf, sizeof buf, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
		return puts_(b, buf);
	}
	double v = lua_tonumber(L, idx);
	if (!isfinite(v))
		return fail(b, "cannot encode NaN or infinity");
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	/* a float beyond 2^53 written as an integer would decode as a string: mark it a float */
	if (fabs(v) > 9007199254740992.0 && strspn(buf, "-0123456789") == strlen(buf))
		strcat(buf, ".0");
	return puts_(b, buf);
}

static int is_marked_array(lua_State *L, int idx)
{
	int yes = 0;

	if (lua_getmetatable(L, idx)) {
		luaL_getmetatable(L, ARRAY_MT);
		yes = lua_rawequal(L, -1, -2);
		lua_pop(L, 2);
	}
	return yes;
}

/* Counts the keys of the table at idx; *all_int says whether every key is a positive integer. */
static lua_Integer count_keys(lua_State *L, int idx, int *all_int, int *all_str)
{
	lua_Integer n = 0;

	*all_int = *all_str = 1;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1)
			*all_int = 0;
		if (lua_type(L, -1) != LUA_TSTRING)
			*all_str = 0;
		n++;
	}
	return n;
}

static int encode_array(lua_State *L, struct sbuf *b, int idx, lua_Integer n)
{
	if (put(b, "[", 1) < 0)
		return -1;
	for (lua_Integer i = 1; i <= n; i++) {
		if ((i > 1 && put(b, ",", 1) < 0))
			return -1;
		if (lua_rawgeti(L, idx, i) == LUA_TNIL)
			return fail(b, "cannot encode a sparse array");
		if (encode_value(L, b, lua_gettop(L)) < 0)
			return -1;
		lua_pop(L, 1);
	}
	return put(b, "]", 1);
}

static int key_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);

	return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* Keys sorted, so the same table always gives the same text (stable audit logs and tests). The key
 * strings stay alive: they are keys of the table being encoded. */
static int encode_object(lua_State *L, struct sbuf *b, int idx, lua_Integer n)
{
	struct key *keys = lua_newuserdatauv(L, (size_t)n * sizeof *keys + 1, 0);
	lua_Integer i = 0;

	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		keys[i].s = lua_tolstring(L, -1, &keys[i].n);
		i++;
	}
	qsort(keys, (size_t)n, sizeof *keys, key_cmp);
	if (put(b, "{", 1) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if ((i > 0 && put(b, ",", 1) < 0) || encode_string(b, keys[i].s, keys[i].n) < 0 || put(b, ":", 1) < 0)
			return -1;
		lua_pushlstring(L, keys[i].s, keys[i].n);
		lua_rawget(L, idx);
		if (encode_value(L, b, lua_gettop(L)) < 0)
			return -1;
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return put(b, "}", 1);
}

static int encode_table(lua_State *L, struct sbuf *b, int idx)
{
	int all_int, all_str, rc;
	lua_Integer n;

	if (++b->depth > MEDIC_JSON_MAX_DEPTH)
		return fail(b, "nesting too deep (a cycle?)");
	if (!lua_checkstack(L, 6))
		return fail(b, "out of stack space");
	if (is_marked_array(L, idx))
		rc = encode_array(L, b, idx, (lua_Integer)lua_rawlen(L, idx));
	else if ((n = count_keys(L, idx, &all_int, &all_str)) == 0)
		rc = puts_(b, "{}");
	else if (all_int && (lua_Integer)lua_rawlen(L, idx) == n)
		rc = encode_array(L, b, idx, n);
	else if (all_int)
		rc = fail(b, "cannot encode a sparse array");
	else if (!all_str)
		rc = fail(b, "cannot encode a table with mixed or non-string keys");
	else
		rc = encode_object(L, b, idx, n);
	b->depth--;
	return rc;
}

static int encode_value(lua_State *L, struct sbuf *b, int idx)
{
	size_t n;
	const char *s;

	switch (lua_type(L, idx)) {
	case LUA_TNIL: return puts_(b, "null");
	case LUA_TBOOLEAN: return puts_(b, lua_toboolean(L, idx) ? "true" : "false");
	case LUA_TNUMBER: return encode_number(L, b, idx);
	case LUA_TSTRING: s = lua_tolstring(L, idx, &n); return encode_string(b, s, n);
	case LUA_TTABLE: return encode_table(L, b, idx);
	case LUA_TLIGHTUSERDATA:
		if (lua_touserdata(L, idx) == NULL)
			return puts_(b, "null");
		/* fall through */
	default: return fail(b, lua_pushfstring(L, "cannot encode a %s", luaL_typename(L, idx)));
	}
}

int medic_json_encode(lua_State *L, int idx)
{
	struct sbuf *b;
	int top;

	idx = lua_absindex(L, idx);
	luaL_checkstack(L, 8, "json");
	b = lua_newuserdatauv(L, sizeof *b, 0);
	memset(b, 0, sizeof *b);
	if (luaL_newmetatable(L, BUFFER_MT)) {
		lua_pushcfunction(L, sbuf_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	top = lua_gettop(L);
	if (encode_value(L, b, idx) < 0) {
		lua_pushstring(L, b->err); /* copied while the message is still anchored above top */
		lua_replace(L, top);
		lua_settop(L, top);
		lua_pushnil(L);
		lua_insert(L, top);
		return 2;
	}
	lua_settop(L, top);
	lua_pushlstring(L, b->p ? b->p : "", b->n);
	free(b->p);
	b->p = NULL;
	lua_replace(L, top);
	return 1;
}
