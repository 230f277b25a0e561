-- etcd-medic-api: 2
-- The commands that put a shipped procedure in the cluster (host/commands.c calls incluster.main):
--   etcd-medic rbac NAME [-n NS] [-o yaml|json]
--       its service account, and the Roles, ClusterRole and bindings that exactly cover its declared permissions
--   etcd-medic manifests NAME [-n NS] [-o yaml|json] [--schedule CRON] [--image IMAGE] [--yes] [--no-rbac]
--                              [-- SCRIPT ARGS...]
--       the same RBAC, then a Job (a CronJob with --schedule) that runs it with that service account
-- Both print; `| kubectl apply -f -` (or oc) creates the objects. docs/in-cluster.md is the guide.
local json = require "medic.json"
local gopts = require "medic.options"
local rbac = require "medic.incluster.rbac"
local manifests = require "medic.incluster.manifests"
local yaml = require "medic.incluster.yaml"

local M = {}

M.IMAGE = "quay.io/etcd-medic/etcd-medic" -- the default image's repository; its tag is this version

local USAGE = {
	rbac = "usage: etcd-medic rbac NAME [-n NS] [-o yaml|json]",
	manifests = "usage: etcd-medic manifests NAME [-n NS] [-o yaml|json] [--schedule CRON] [--image IMAGE] [--yes] "
		.. "[--no-rbac] [-- SCRIPT ARGS...]",
}

local VALUE = { ["-n"] = "namespace", ["--namespace"] = "namespace", ["-o"] = "output", ["--output"] = "output",
	["--schedule"] = "schedule", ["--image"] = "image" }
local FLAG = { ["--yes"] = "yes", ["--no-rbac"] = "no_rbac" }
local MANIFESTS_ONLY = { schedule = true, image = true, yes = true, no_rbac = true, args = true }

local function usage_error(command, msg)
	io.stderr:write("etcd-medic " .. command .. ": " .. msg .. "\n" .. USAGE[command] .. "\n")
	return 2
end

-- The options after NAME: {namespace=, output=, schedule=, image=, yes=, no_rbac=, args=} or nil, message.
local function parse(args)
	local o, i = {}, 1
	while i <= #args do
		local a = args[i]
		local name, inline = a:match("^(%-%-[%w%-]+)=(.*)$")
		name = name or a
		if a == "--" then
			o.args = table.move(args, i + 1, #args, 1, {})
			break
		elseif VALUE[name] then
			local v = inline or args[i + 1]
			if not v then return nil, name .. " needs a value" end
			o[VALUE[name]] = v
			i = i + (inline and 1 or 2)
		elseif FLAG[a] then
			o[FLAG[a]], i = true, i + 1
		else
			return nil, "unknown argument '" .. a .. "'"
		end
	end
	return o
end

-- The shipped procedure NAME (or a copy in --script-path), loaded without running it.
local function load(name)
	if not name:match("^[%w][%w%-_]*$") then return nil, "'" .. name .. "' is not a script name (etcd-medic scripts)" end
	local procedure = require "medic.procedure"
	procedure.define_only = true
	local ok, proc = pcall(require, name)
	procedure.define_only = false
	if not ok and tostring(proc):find("module '" .. name .. "' not found", 1, true) then
		return nil, "no script named '" .. name .. "' (etcd-medic scripts lists them)"
	end
	if not ok then return nil, "cannot load " .. name .. ": " .. tostring(proc) end
	if getmetatable(proc) == nil or type(proc.permissions) ~= "table" or next(proc.permissions) == nil then
		return nil, name .. " declares no permissions (procedure.new{permissions = ...}): nothing to grant"
	end
	return proc
end

local function check(command, o)
	if command == "rbac" then
		for k in pairs(o) do
			if MANIFESTS_ONLY[k] then
				return nil, (k == "args" and "-- ARGS" or "--" .. k:gsub("_", "-")) .. " is an option of manifests"
			end
		end
	end
	if o.output and o.output ~= "yaml" and o.output ~= "json" then return nil, "-o must be yaml or json" end
	if o.schedule and select(2, o.schedule:gsub("%S+", "")) ~= 5 and not o.schedule:match("^@%a+$") then
		return nil, "--schedule wants a cron expression of 5 fields (\"0 */6 * * *\") or @hourly, @daily, ..."
	end
	if o.image and not o.image:match("^[%w][%w%.%-_/:@]*$") then return nil, "--image: not an image reference" end
	return true
end

local function print_objects(list, output)
	if output == "json" then
		io.write(json.encode { apiVersion = "v1", kind = "List", items = list }, "\n")
	else
		io.write(yaml.documents(list))
	end
end

-- incluster.main(command, NAME, args...) -> exit code (0, or 2 for a usage error)
function M.main(command, name, ...)
	local o, err = parse(table.pack(...))
	local ok
	if o then ok, err = check(command, o) end
	if not ok then return usage_error(command, err) end
	o.args = o.args or {}
	local proc
	proc, err = load(name)
	if not proc then return usage_error(command, err) end
	o.namespace = o.namespace or gopts.namespace or "openshift-etcd"
	o.image = o.image or (M.IMAGE .. ":" .. gopts.version)
	local list = rbac.objects(proc, { namespace = o.namespace })
	if command == "manifests" then
		if o.no_rbac then list = {} end
		for _, obj in ipairs(manifests.objects(proc, o)) do list[#list + 1] = obj end
	end
	print_objects(list, o.output)
	return 0
end

return M
