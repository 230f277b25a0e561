/* libFuzzer target: medic.json's decoder on arbitrary bytes, and the round trip of what it accepts:
 * encode(decode(s)) must encode again to the same text (the encoder is canonical: sorted keys, exact
 * integers, big integers as strings). Build and run with `make fuzz`; seeds in fuzz/corpus/json/. */
#include <lauxlib.h>
#include <lualib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "json/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Encodes the value on top of the stack; leaves the text (or nil) on top and returns it (or NULL). */
static const char *encode_top(lua_State *L, size_t *len)
{
	int n = medic_json_encode(L, lua_gettop(L));
	if (n == 2) {
		lua_pop(L, 1); /* the message; nil stays */
		return NULL;
	}
	return lua_tolstring(L, -1, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static lua_State *L;
	if (!L) {
		L = luaL_newstate();
		luaL_openlibs(L);
	}
	lua_settop(L, 0);
	if (medic_json_decode(L, (const char *)data, size) != 1)
		return 0;
	size_t len1, len2;
	const char *t1 = encode_top(L, &len1);
	if (!t1)
		return 0; /* e.g. a float that is inf after decoding 1e999 is refused by the encoder: fine */
	if (medic_json_decode(L, t1, len1) != 1)
		abort(); /* the encoder wrote something the decoder refuses */
	const char *t2 = encode_top(L, &len2);
	if (!t2 || len1 != len2 || memcmp(t1, t2, len1) != 0)
		abort(); /* not a fixed point */
	return 0;
}
