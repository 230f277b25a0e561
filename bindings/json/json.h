#ifndef MEDIC_JSON_H
#define MEDIC_JSON_H
#include <stddef.h>
#include <lua.h>

/* The one JSON <-> Lua converter (Lua module "medic.json"); the k8s and etcd bindings call it directly to
 * turn response bodies into Lua tables and request tables into bodies.
 *
 * Decoding: objects -> tables; arrays -> sequences marked as arrays (so they encode back as "[...]", also
 * when empty); null -> medic.json.null (a light userdata NULL, the same value as cjson.null); integers
 * with |n| <= 2^53 -> Lua integers (7, not 7.0); larger integers -> their exact decimal text as a string
 * ("15323219374994545507", never rounded); other numbers -> floats. Strict RFC 8259: NaN, Infinity,
 * hex, leading zeros, '+', trailing commas, comments and control characters in strings are rejected.
 * Nesting depth is bounded by MEDIC_JSON_MAX_DEPTH. */
#define MEDIC_JSON_MAX_DEPTH 128

/* Decodes s[0, len). Pushes the value and returns 1, or pushes nil and a message ("invalid JSON at byte
 * N: ...") and returns 2. Never raises except on memory errors; does not modify s. */
int medic_json_decode(lua_State *L, const char *s, size_t len);

/* Encodes the value at stack index idx. Pushes the JSON text and returns 1, or pushes nil and a message
 * and returns 2 (functions, userdata, NaN/inf, sparse or mixed tables, non-string object keys, nesting
 * beyond MEDIC_JSON_MAX_DEPTH, e.g. a cycle). Object keys are written sorted, so output is stable.
 * Never raises except on memory errors. */
int medic_json_encode(lua_State *L, int idx);

#endif
