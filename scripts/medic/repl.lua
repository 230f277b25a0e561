-- etcd-medic-api: 2
-- The REPL's Lua half (host/repl.c is the line editing): the predefined globals, `help`, and what an error typed
-- at the prompt is shown as.
local M = {}

local MODULES = { json = "medic.json", etcd = "medic.etcd", k8s = "medic.k8s", node = "medic.node", ui = "medic.ui" }

local HELP = [[
etcd-medic REPL: Lua %s with the cluster at hand (%s).

  cluster:pods()   cluster:members()   cluster:health()    the etcd pods, the member list, endpoint health
  kc = cluster:k8s()          the Kubernetes client: kc:get(path), kc:list(path), kc:patch(path, body, "merge")
  e = cluster:etcd()          an etcd client through a Ready etcd pod: e:members(), e:status(), e:alarms()
  n = cluster:node("NODE")    the node's files through a debug pod: n:list(dir), n:stat(p), n:read(p), n:close()
  json  etcd  k8s  node  ui   the modules (json.decode(s), k8s.connect{context = "..."}, ui.print(v), ...)

  Run the procedure by hand, one step at a time (each shows its plan and asks before it changes anything):
    cluster:steps()                              the steps of replace-crashlooping-member
    cluster:step("preflight", {node = "NODE"})   checks, and opens the journal `etcd-medic run` uses
    cluster:step("backup")                       then "stop-pod", "remove-member", ... in order
  A later `etcd-medic run replace-crashlooping-member --node NODE` resumes from the same journal.

Methods take a colon: cluster:members(), not cluster.members(). Tab completes names, Ctrl-C stops what runs,
Ctrl-D leaves; -v shows debug lines and the traceback of an error.
Documentation: `man etcd-medic`, and in the source tree docs/lua-api.md (the Lua API, "The REPL") and
docs/procedures.md (steps, journal, resume).]]

-- Where `cluster` points: the kubeconfig, context and namespace from the global options.
local function target()
	local o = require "medic.options"
	return string.format("kubeconfig %s, context %s, namespace %s", o.kubeconfig or os.getenv("KUBECONFIG")
		or "~/.kube/config", o.context or "(current)", o.namespace or "openshift-etcd")
end

-- `help` (typed bare, it prints itself) and `help()`: the page above.
M.help = setmetatable({}, {
	__tostring = function() return string.format(HELP, _VERSION:match("%d+%.%d+") or "", target()) end,
	__call = function(self) return self end,
})

-- `cluster`, made on first use: medic.cluster.new(global options), which connects lazily itself.
local function lazy_cluster(t, k)
	if k ~= "cluster" then return nil end
	local c = require("medic.cluster").new(require "medic.options")
	rawset(t, k, c)
	return c
end

-- Predefines json, etcd, k8s, node, ui, help and cluster: at once on a terminal (so that Tab completes it; making
-- it connects nothing), else on first use. A module that fails to load is simply not predefined.
function M.setup(env, interactive)
	for g, m in pairs(MODULES) do
		local ok, mod = pcall(require, m)
		if ok then rawset(env, g, mod) end
	end
	rawset(env, "help", M.help)
	setmetatable(env, { __index = lazy_cluster })
	if interactive then pcall(lazy_cluster, env, "cluster") end
end

-- The value the dotted name `path` ("cluster", "a.b") names in env, or nil; never raises.
local function lookup(env, path)
	local v = env
	for name in path:gmatch("[^.]+") do
		local ok, next_v = pcall(function() return v[name] end)
		if not ok or (type(next_v) ~= "table" and type(next_v) ~= "userdata" and type(next_v) ~= "string") then
			return nil
		end
		v = next_v
	end
	return v
end

-- Is obj.name a method (found through obj's metatable, not a field of obj itself, as a module's functions are)?
local function is_method(obj, name)
	local ok, f = pcall(function() return obj[name] end)
	if not ok or type(f) ~= "function" then return false end
	return type(obj) ~= "table" or rawget(obj, name) == nil
end

-- "obj.method(" in the chunk where obj is an object and method one of its methods: "obj:method(...)", else nil.
local function dot_call(env, chunk)
	for path, name, args in chunk:gmatch("([%a_][%w_%.]*)%.([%a_][%w_]*)%s*(%b())") do
		local obj = lookup(env, path)
		if obj ~= nil and is_method(obj, name) then return path .. ":" .. name .. args, path .. "." .. name .. args end
	end
	return nil
end

-- A method named without its call, as completion leaves it ("cluster:members" + Enter): how to call it, else nil.
local function uncalled(chunk, message)
	local name = message:find("function arguments expected near <eof>", 1, true) and chunk:match("([%w_.:]+)%s*$")
	return name and "a call needs parentheses: " .. name .. "()" or nil
end

-- What an error raised by a chunk typed at the prompt is shown as: the message without its traceback (unless -v),
-- for a method called with a dot how to call it, for a method without its parentheses the call.
function M.explain(env, chunk, message)
	local verbose = require("medic.options").verbose
	chunk, message = chunk or "", tostring(message)
	if not verbose then message = message:gsub("\nstack traceback:.*$", "") end
	local with_colon, as_typed = dot_call(env, chunk)
	local hint = with_colon and "use a colon: " .. with_colon .. " (" .. as_typed .. " calls the method without its "
		.. "object)" or uncalled(chunk, message)
	if not hint then return message end
	return verbose and hint .. "\n" .. message or hint
end

return M
