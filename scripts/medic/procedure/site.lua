-- etcd-medic-api: 2
-- Site files: a site's changes to a procedure, in a few lines, without copying the script.
--   local site = ...
--   site.facts.secrets = { "etcd-peer-%s", "etcd-serving-%s", "etcd-serving-metrics-%s" }   -- the document's facts
--   site.options.backup_dir = "/srv/etcd-backups"                                           -- option defaults
--   site.before("remove-member", function(ctx, step) ... end)                               -- hooks ("*": every step)
--   site.after("*", function(ctx, step, status) ... end)
--   site.replace("backup", { title = "...", actions = function(ctx) return { ... } end })   -- a step, replaced whole
--   site.add_after("backup", { name = "approve", ... })                                     -- a step of the site's
--   site.actions: medic.actions, for a replaced or added step's actions
-- A fact or an option that the procedure does not have is refused, with its name.
local failure = require "medic.procedure.failure"
local arguments = require "medic.procedure.arguments"

local site = {}

-- The site API; what the file does is kept in `info` (shown before the plan: "before: remove-member; ...").
local function api(proc, info)
	local function note(kind, name) info[kind][#info[kind] + 1] = name end
	return {
		facts = {}, options = {}, procedure = proc, actions = require "medic.actions",
		before = function(name, fn) note("before", name); proc:before(name, fn) end,
		after = function(name, fn) note("after", name); proc:after(name, fn) end,
		replace = function(name, def) note("replaced", name); return proc:replace(name, def) end,
		add_after = function(name, def) note("added", tostring(def.name)); return proc:add_after(name, def) end,
		step = function(name) return (proc:find(name)) end,
	}
end

local function apply(proc, path, s)
	for k, v in pairs(s.facts) do
		if proc.facts[k] == nil then
			failure.usage("the site file " .. path .. " sets an unknown fact '" .. tostring(k) .. "'")
		end
		proc.facts[k] = v
	end
	for k, v in pairs(s.options) do
		local o = arguments.find(proc, k)
		if not o then
			failure.usage("the site file " .. path .. " sets an unknown option '" .. tostring(k) .. "'")
		end
		o.default = v
	end
end

-- Loads the site file at `path` into `proc`. A file that cannot be read or fails is a usage error (exit 2).
function site.load(proc, path)
	local chunk, err = loadfile(path, "t")
	if not chunk then failure.usage("cannot load the site file: " .. tostring(err)) end
	local info = { path = path, before = {}, after = {}, replaced = {}, added = {}, facts = {}, options = {} }
	local s = api(proc, info)
	local ok, ret = pcall(chunk, s)
	if ok and type(ret) == "function" then ok, ret = pcall(ret, s) end
	if not ok then
		if type(ret) == "table" and ret.exit_code then error(ret, 0) end
		failure.usage("the site file " .. path .. " failed: " .. failure.message(ret))
	end
	apply(proc, path, s)
	for k in pairs(s.facts) do info.facts[#info.facts + 1] = k end
	for k in pairs(s.options) do info.options[#info.options + 1] = k end
	table.sort(info.facts)
	table.sort(info.options)
	proc.site = info
end

return site
