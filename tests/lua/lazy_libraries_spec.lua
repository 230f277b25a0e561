-- libcurl, libcrypto and libedit are loaded on first use (bindings/base/lazylib.c): starting, and requiring every
-- module, maps none of them; a libcrypto.so.3 that cannot be loaded does not stop the binary from starting,
-- and the first network call then fails with a clear error, not a crash.
local spec = require "spec"
local it, eq, q = spec.it, spec.eq, spec.q

local function mapped(soname)
	for line in io.lines("/proc/self/maps") do
		if line:find("/" .. soname, 1, true) then return true end
	end
	return false
end

it("requiring every module maps none of libcurl, libcrypto, libedit", function()
	for _, name in ipairs { "medic.json", "medic.etcd", "medic.k8s", "medic.node", "medic.procedure" } do
		assert(require(name), name)
	end
	eq(mapped("liblua5.4.so.0"), true, "the check itself sees mapped libraries")
	eq(mapped("libcurl.so.4"), false, "libcurl mapped")
	eq(mapped("libcrypto.so.3"), false, "libcrypto mapped")
	eq(mapped("libedit.so.2"), false, "libedit mapped")
end)

it("starts with an unloadable libcrypto.so.3; a snapshot then fails with a clear error", function()
	local dir = spec.tmpdir()
	spec.write(dir .. "/libcrypto.so.3", "") -- "file too short"
	local code, out, err = spec.medic("-e " .. q("print('started')"), nil, "LD_LIBRARY_PATH=" .. q(dir))
	eq(code, 0, "exit code (" .. tostring(err) .. ")")
	eq(out, "started\n")
	local snapshot = [[
local e = assert(require("medic.etcd").connect { endpoints = "http://127.0.0.1:1" })
print(e:snapshot(]] .. ("%q"):format(dir .. "/db") .. [[))]]
	code, out, err = spec.medic("-e " .. q(snapshot), nil, "LD_LIBRARY_PATH=" .. q(dir))
	eq(code, 0, "exit code (" .. tostring(err) .. ")")
	spec.contains(out, "could not be loaded: " .. dir .. "/libcrypto.so.3: file too short")
	os.execute("rm -rf " .. q(dir))
end)

spec.done()
