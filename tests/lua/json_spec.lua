-- medic.json: exact integers, strictness, round trips, null and arrays (the C units are in tests/unit/test_json.c).
local spec = require "spec"
local json = require "medic.json"
local it, eq = spec.it, spec.eq

it("integers come back as Lua integers, big ones as exact strings", function()
	local t = json.decode("[15323219374994545507, 7, 9007199254740993, -9007199254740993, 9007199254740992, 1.5]")
	eq(t[1], "15323219374994545507")
	eq(t[2], 7)
	eq(t[3], "9007199254740993")
	eq(t[4], "-9007199254740993")
	eq(t[5], 9007199254740992)
	eq(t[6], 1.5)
	eq(json.decode("18446744073709551615"), "18446744073709551615")
end)

it("invalid input gives nil and a message", function()
	for _, bad in ipairs { "NaN", "Infinity", "0x1F", "[1,]", "{\"a\":1", "", "01", "[1] 2" } do
		local v, msg = json.decode(bad)
		eq(v, nil, bad)
		spec.contains(msg, "invalid JSON at byte", bad)
	end
	local deep = ("["):rep(1000) .. ("]"):rep(1000)
	local v, msg = json.decode(deep)
	eq(v, nil)
	spec.contains(msg, "nesting too deep")
end)

it("misuse raises", function()
	eq(pcall(json.decode, {}), false)
	eq(pcall(json.encode, print), false)
	eq(pcall(json.encode, 0 / 0), false)
	eq(pcall(json.encode, { 1, nil, 3 }), false)
	local cyclic = {}
	cyclic.self = cyclic
	local ok, err = pcall(json.encode, cyclic)
	eq(ok, false)
	spec.contains(err, "nesting too deep")
end)

it("round trips keep types, nulls, empty arrays and objects", function()
	local text = '{"a":[1,2.5,"x",null,true,false],"b":{},"c":[],"d":{"e":"15323219374994545507"}}'
	eq(json.encode(json.decode(text)), text)
	eq(json.encode(json.array {}), "[]")
	eq(json.encode({}), "{}")
	eq(json.encode(json.array()), "[]")
	eq(json.is_array(json.decode("[]")), true)
	eq(json.is_array({}), false)
	eq(json.encode { b = 1, a = 2 }, '{"a":2,"b":1}')
	eq(json.encode(math.maxinteger), "9223372036854775807")
	eq(json.encode("\1\"\\\n"), '"\\u0001\\"\\\\\\n"')
end)

it("null is cjson's null", function()
	eq(json.null, require("cjson").null)
	eq(json.decode("null"), json.null)
	eq(json.decode('{"a":null}').a, json.null)
end)

spec.done()
