-- Inputs libFuzzer found (kept in fuzz/corpus/*), checked here as plain assertions.
local spec = require "spec"
local json = require "medic.json"
local it, eq = spec.it, spec.eq

it("json: -0 keeps its sign and the round trip is a fixed point (fuzz/json crash-negative-zero)", function()
	local v = json.decode("-0")
	eq(math.type(v), "float")
	eq(1 / v, -math.huge)
	eq(json.encode(v), "-0")
	eq(json.encode(json.decode("-0.0")), "-0")
	eq(json.encode(json.decode("[0,-0,-0e0]")), "[0,-0,-0]")
	eq(math.type(json.decode("0")), "integer")
end)

it("json: a float beyond 2^53 stays a float (fuzz/json crash-float-beyond-2p53)", function()
	local v = json.decode("9.007199254740994e15")
	eq(math.type(v), "float")
	eq(json.encode(v), "9007199254740994.0")
	eq(json.decode(json.encode(v)), v)
	eq(json.encode(json.decode("9007199254740994")), '"9007199254740994"') -- an integer token: exact text
	eq(json.encode(2.0), "2")
end)

it("json: every kept fuzz input round-trips to a fixed point", function()
	local dir = (arg and arg[0] or ""):match("^(.*)/tests/lua/") or "."
	local p = io.popen("ls " .. dir .. "/fuzz/corpus/json 2>/dev/null")
	local n = 0
	for name in p:lines() do
		local f = assert(io.open(dir .. "/fuzz/corpus/json/" .. name, "rb"))
		local v = json.decode(f:read("a"))
		f:close()
		local t1 = v ~= nil and json.encode(v)
		if t1 then eq(json.encode(json.decode(t1)), t1, name) end
		n = n + 1
	end
	p:close()
	assert(n > 0, "no corpus found")
end)

spec.done()
