/* medic.json: a strict JSON decoder with exact integers, and the Lua module around it and json_encode.c.
 * Why not cjson.decode: lua-cjson 2.1 turns every number into a double, so etcd member IDs such as
 * 15323219374994545507 come back rounded and 7 comes back as 7.0. This scanner keeps integers exact and
 * shares cjson's null (a light userdata NULL), so both modules' values mix. */
#include <errno.h>
#include <lauxlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json/json.h"

#define ARRAY_MT "medic.json.array" /* registry key of the metatable that marks a table as a JSON array */
#define EXACT_LIMIT 9007199254740992ULL /* 2^53: larger integers do not all fit a double */

struct decoder {
	lua_State *L;
	const char *s, *p, *end;
	char *scratch; /* room for one unescaped string, owned by a userdata on the Lua stack */
	const char *err;
	int depth;
};

static int decode_value(struct decoder *d);

static void push_array_mt(lua_State *L)
{
	if (luaL_newmetatable(L, ARRAY_MT)) {
		lua_pushliteral(L, "array");
		lua_setfield(L, -2, "__jsontype");
	}
}

static int fail(struct decoder *d, const char *msg)
{
	if (!d->err)
		d->err = msg;
	return -1;
}

static void skip_space(struct decoder *d)
{
	while (d->p < d->end && (*d->p == ' ' || *d->p == '\t' || *d->p == '\n' || *d->p == '\r'))
		d->p++;
}

static int literal(struct decoder *d, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(d->end - d->p) < n || memcmp(d->p, word, n) != 0)
		return fail(d, "unexpected character");
	d->p += n;
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Reads the 4 hex digits after "\u" at d->p; returns the code unit or -1. */
static long read_u16(struct decoder *d)
{
	long v = 0;

	if (d->end - d->p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = hexval((unsigned char)d->p[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	d->p += 4;
	return v;
}

static char *put_utf8(char *o, unsigned long cp)
{
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xC0 | (cp >> 6));
		*o++ = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xE0 | (cp >> 12));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*o++ = (char)(0x80 | (cp & 0x3F));
	} else {
		*o++ = (char)(0xF0 | (cp >> 18));
		*o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*o++ = (char)(0x80 | (cp & 0x3F));
	}
	return o;
}

/* After "\u": one code point, joining a surrogate pair; lone surrogates are invalid. */
static char *unescape_unicode(struct decoder *d, char *o)
{
	long hi = read_u16(d), lo;

	if (hi < 0)
		return fail(d, "invalid \\u escape"), NULL;
	if (hi >= 0xDC00 && hi <= 0xDFFF)
		return fail(d, "lone UTF-16 surrogate in \\u escape"), NULL;
	if (hi < 0xD800 || hi > 0xDBFF)
		return put_utf8(o, (unsigned long)hi);
	if (d->end - d->p < 2 || d->p[0] != '\\' || d->p[1] != 'u')
		return fail(d, "lone UTF-16 surrogate in \\u escape"), NULL;
	d->p += 2;
	lo = read_u16(d);
	if (lo < 0xDC00 || lo > 0xDFFF)
		return fail(d, "lone UTF-16 surrogate in \\u escape"), NULL;
	return put_utf8(o, 0x10000 + (((unsigned long)hi - 0xD800) << 10) + ((unsigned long)lo - 0xDC00));
}

static char *unescape_one(struct decoder *d, char *o)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *hit;

	if (d->p >= d->end)
		return fail(d, "unterminated string"), NULL;
	if (*d->p == 'u') {
		d->p++;
		return unescape_unicode(d, o);
	}
	hit = *d->p ? strchr(from, *d->p) : NULL;
	if (!hit)
		return fail(d, "invalid escape in string"), NULL;
	d->p++;
	*o++ = to[hit - from];
	return o;
}

/* At the opening quote: pushes the string. Strings without escapes are pushed straight from the input. */
static int decode_string(struct decoder *d)
{
	const char *start = ++d->p;
	char *o = d->scratch;

	while (d->p < d->end && *d->p != '"' && *d->p != '\\' && (unsigned char)*d->p >= 0x20)
		d->p++;
	if (d->p >= d->end)
		return fail(d, "unterminated string (input truncated?)");
	if (*d->p == '"') {
		lua_pushlstring(d->L, start, (size_t)(d->p++ - start));
		return 0;
	}
	if (*d->p != '\\')
		return fail(d, "control character in string");
	memcpy(o, start, (size_t)(d->p - start));
	o += d->p - start;
	while (d->p < d->end && *d->p != '"') {
		unsigned char c = (unsigned char)*d->p++;
		if (c < 0x20)
			return fail(d, "control character in string");
		if (c != '\\')
			*o++ = (char)c;
		else if (!(o = unescape_one(d, o)))
			return -1;
	}
	if (d->p >= d->end)
		return fail(d, "unterminated string (input truncated?)");
	d->p++;
	lua_pushlstring(d->L, d->scratch, (size_t)(o - d->scratch));
	return 0;
}

static const char *skip_digits(const char *p, const char *end)
{
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	return p;
}

/* An integer token: a Lua integer when |n| <= 2^53 ("-0": the float -0.0), else its exact text as a string. */
static void push_integer(struct decoder *d, const char *tok, const char *end)
{
	int neg = *tok == '-';
	uint64_t v = 0;

	for (const char *q = tok + neg; q < end; q++) {
		if (v > (EXACT_LIMIT - (uint64_t)(*q - '0')) / 10) {
			lua_pushlstring(d->L, tok, (size_t)(end - tok));
			return;
		}
		v = v * 10 + (uint64_t)(*q - '0');
	}
	if (neg && v == 0)
		lua_pushnumber(d->L, -0.0); /* "-0": keep the sign (Lua integers have none), as encode writes -0.0 */
	else
		lua_pushinteger(d->L, neg ? -(lua_Integer)v : (lua_Integer)v);
}

static int push_float(struct decoder *d, const char *tok, size_t n)
{
	char buf[128];
	double v;

	if (n >= sizeof buf)
		return fail(d, "number too long");
	memcpy(buf, tok, n);
	buf[n] = 0;
	errno = 0;
	v = strtod(buf, NULL);
	if (errno == ERANGE && (v > 1 || v < -1))
		return fail(d, "number out of range");
	lua_pushnumber(d->L, v);
	return 0;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and nothing else: no hex, no '+', no leading zeros. */
static int decode_number(struct decoder *d)
{
	const char *tok = d->p, *p = d->p, *int_end;
	int is_float = 0;

	if (p < d->end && *p == '-')
		p++;
	if (p >= d->end || *p < '0' || *p > '9')
		return fail(d, "invalid number");
	int_end = *p == '0' ? p + 1 : skip_digits(p, d->end);
	p = int_end;
	if (p < d->end && *p == '.') {
		const char *frac = ++p;
		if ((p = skip_digits(p, d->end)) == frac)
			return fail(d, "invalid number");
		is_float = 1;
	}
	if (p < d->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < d->end && (*p == '+' || *p == '-'))
			p++;
		const char *exp = p;
		if ((p = skip_digits(p, d->end)) == exp)
			return fail(d, "invalid number");
		is_float = 1;
	}
	if (p < d->end && ((*p >= '0' && *p <= '9') || *p == 'x' || *p == 'X' || *p == '.'))
		return fail(d, "invalid number");
	d->p = p;
	if (!is_float) {
		push_integer(d, tok, p);
		return 0;
	}
	return push_float(d, tok, (size_t)(p - tok));
}

static int enter(struct decoder *d)
{
	if (++d->depth > MEDIC_JSON_MAX_DEPTH)
		return fail(d, "nesting too deep");
	if (!lua_checkstack(d->L, 4))
		return fail(d, "out of stack space");
	d->p++;
	skip_space(d);
	return 0;
}

/* After a member or element: ',' (then skip space) returns 1, the closing char returns 0. */
static int next_or_close(struct decoder *d, char close)
{
	skip_space(d);
	if (d->p < d->end && *d->p == ',') {
		d->p++;
		skip_space(d);
		return 1;
	}
	if (d->p < d->end && *d->p == close) {
		d->p++;
		d->depth--;
		return 0;
	}
	if (d->p >= d->end)
		return fail(d, "unexpected end of input (truncated?)");
	return fail(d, close == ']' ? "expected ',' or ']'" : "expected ',' or '}'");
}

static int decode_array(struct decoder *d)
{
	lua_Integer n = 0;
	int more;

	if (enter(d) < 0)
		return -1;
	lua_newtable(d->L);
	luaL_setmetatable(d->L, ARRAY_MT);
	if (d->p < d->end && *d->p == ']') {
		d->p++;
		d->depth--;
		return 0;
	}
	do {
		if (decode_value(d) < 0)
			return -1;
		lua_rawseti(d->L, -2, ++n);
	} while ((more = next_or_close(d, ']')) == 1);
	return more;
}

static int decode_object(struct decoder *d)
{
	int more;

	if (enter(d) < 0)
		return -1;
	lua_newtable(d->L);
	if (d->p < d->end && *d->p == '}') {
		d->p++;
		d->depth--;
		return 0;
	}
	do {
		if (d->p >= d->end || *d->p != '"')
			return fail(d, "expected a string key");
		if (decode_string(d) < 0)
			return -1;
		skip_space(d);
		if (d->p >= d->end || *d->p != ':')
			return fail(d, "expected ':'");
		d->p++;
		if (decode_value(d) < 0)
			return -1;
		lua_rawset(d->L, -3);
	} while ((more = next_or_close(d, '}')) == 1);
	return more;
}

static int decode_value(struct decoder *d)
{
	skip_space(d);
	if (d->p >= d->end)
		return fail(d, "unexpected end of input (truncated?)");
	switch (*d->p) {
	case '{': return decode_object(d);
	case '[': return decode_array(d);
	case '"': return decode_string(d);
	case 't': return lua_pushboolean(d->L, 1), literal(d, "true");
	case 'f': return lua_pushboolean(d->L, 0), literal(d, "false");
	case 'n': return lua_pushlightuserdata(d->L, NULL), literal(d, "null");
	case '-': return decode_number(d);
	default:
		if (*d->p >= '0' && *d->p <= '9')
			return decode_number(d);
		return fail(d, "unexpected character");
	}
}

static void push_error(struct decoder *d)
{
	if (d->p < d->end && (unsigned char)*d->p > 0x20 && (unsigned char)*d->p < 0x7f)
		lua_pushfstring(d->L, "invalid JSON at byte %d ('%c'): %s", (int)(d->p - d->s) + 1, *d->p, d->err);
	else
		lua_pushfstring(d->L, "invalid JSON at byte %d: %s", (int)(d->p - d->s) + 1, d->err);
}

int medic_json_decode(lua_State *L, const char *s, size_t len)
{
	struct decoder d = {L, s, s, s + len, NULL, NULL, 0};
	int base;

	luaL_checkstack(L, 8, "json");
	d.scratch = lua_newuserdatauv(L, len && memchr(s, '\\', len) ? len : 1, 0);
	base = lua_gettop(L);
	push_array_mt(L); /* created here too, so C callers need not open the module first */
	lua_settop(L, base);
	if (decode_value(&d) == 0) {
		skip_space(&d);
		if (d.p != d.end)
			fail(&d, "unexpected data after the value");
	}
	if (d.err) {
		lua_settop(L, base - 1);
		lua_pushnil(L);
		push_error(&d);
		return 2;
	}
	lua_remove(L, base);
	return 1;
}

/* json.decode(s) -> value | nil, message. Raises only if s is not a string. */
static int json_decode(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);

	return medic_json_decode(L, s, len);
}

/* json.encode(v) -> string. Raises for what JSON cannot hold (functions, NaN, sparse tables, cycles...). */
static int json_encode(lua_State *L)
{
	luaL_checkany(L, 1);
	if (medic_json_encode(L, 1) == 2)
		return luaL_error(L, "json.encode: %s", lua_tostring(L, -1));
	return 1;
}

/* json.array(t) -> t, marked to encode as an array (so an empty t gives "[]"). json.array() -> a new one. */
static int json_array(lua_State *L)
{
	if (lua_isnoneornil(L, 1)) {
		lua_settop(L, 0);
		lua_newtable(L);
	}
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	luaL_setmetatable(L, ARRAY_MT);
	return 1;
}

/* json.is_array(t) -> true if t came from a JSON array or was marked with json.array. */
static int json_is_array(lua_State *L)
{
	int yes = lua_getmetatable(L, 1) && luaL_getmetatable(L, ARRAY_MT) && lua_rawequal(L, -1, -2);

	lua_pushboolean(L, yes);
	return 1;
}

static const luaL_Reg json_funcs[] = {
	{"decode", json_decode},
	{"encode", json_encode},
	{"array", json_array},
	{"is_array", json_is_array},
	{NULL, NULL}
};

int luaopen_medic_json(lua_State *L);
int luaopen_medic_json(lua_State *L)
{
	push_array_mt(L);
	lua_pop(L, 1);
	luaL_newlib(L, json_funcs);
	lua_pushlightuserdata(L, NULL);
	lua_setfield(L, -2, "null");
	return 1;
}
