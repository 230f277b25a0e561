-- Modules are preloaded and requiring them leaves the global table untouched; every shipped file carries
-- the script API header.
local spec = require "spec"
local it, eq = spec.it, spec.eq

local function globals()
	local names = {}
	for k in pairs(_G) do names[#names + 1] = tostring(k) end
	table.sort(names)
	return table.concat(names, " ")
end

it("requiring the modules leaves _G untouched", function()
	local before = globals()
	for _, name in ipairs { "medic.json", "cjson", "medic.options", "medic.host", "medic.ui" } do
		assert(require(name), name)
	end
	for _, name in ipairs { "medic.etcd", "medic.k8s", "medic.node", "medic.cluster", "medic.procedure" } do
		pcall(require, name) -- those of other helpers, when they exist
	end
	eq(globals(), before)
end)

it("C modules are preloaded", function()
	for _, name in ipairs { "medic.json", "cjson", "medic.options", "medic.host" } do
		eq(type(package.preload[name]), "function", name)
	end
end)

it("medic.options carries the defaults", function()
	local o = require "medic.options"
	eq(o.namespace, "openshift-etcd")
	eq(o.api_version, 2)
	eq(type(o.version), "string")
	eq(o.verbose, false)
end)

it("every shipped script and library starts with the API header", function()
	local p = io.popen("find scripts -name '*.lua' 2>/dev/null")
	local n = 0
	for path in p:lines() do
		local f = assert(io.open(path))
		local head = f:read("l")
		f:close()
		eq(head, "-- etcd-medic-api: 2", path)
		n = n + 1
	end
	p:close()
	assert(n > 0, "run from the repository root")
end)

it("an embedded library loads from the binary", function()
	package.loaded["medic.ui"] = nil
	local ui, where = require("medic.ui")
	eq(type(ui.format), "function")
	eq(where, "[embedded]/medic/ui.lua")
end)

spec.done()
