-- etcd-medic-api: 2
-- A procedure's command line: its own options and the ones every procedure has, parsed, checked, shown by --help,
-- and written back as the command that resumes the run.
--
-- An option: { name = "wait-timeout", arg = "SECONDS", default = 1800, help = "...",
--              flag = true | number = true | choices = {...} | check = function(value) -> ok, why }
-- Its value is ctx.opts[key] with the dashes as underscores (ctx.opts.wait_timeout).
local failure = require "medic.procedure.failure"

local arguments = {}

arguments.COMMON = {
	{ name = "dry-run", flag = true,
		help = "read only: print every mutation with its values, send deletes and patches with dryRun=All" },
	{ name = "yes", flag = true, help = "do not ask for confirmation" },
	{ name = "state-dir", arg = "DIR",
		help = "where the journal is kept (default $XDG_STATE_HOME/etcd-medic or ~/.local/state/etcd-medic)" },
	{ name = "journal", arg = "WHERE", choices = { "auto", "file", "cluster" }, default = "auto",
		help = "where the journal is kept: file (--state-dir), cluster (a ConfigMap in the etcd namespace), or auto: "
			.. "an unfinished one wherever it is, else cluster in a pod and file elsewhere" },
	{ name = "site", arg = "FILE.lua", help = "site file: facts, option defaults, hooks, replaced steps" },
	{ name = "help", flag = true, help = "show this help" },
}

function arguments.key(name) return (name:gsub("-", "_")) end

-- A procedure's own options, then the common ones: all of them, or for a read-only procedure (a report, which
-- changes nothing and keeps no journal) --site and --help only.
function arguments.all(proc)
	local list = {}
	for _, o in ipairs(proc.options) do list[#list + 1] = o end
	for _, o in ipairs(arguments.COMMON) do
		if not proc.read_only or o.name == "site" or o.name == "help" then list[#list + 1] = o end
	end
	return list
end

function arguments.find(proc, name)
	for _, o in ipairs(arguments.all(proc)) do
		if o.name == name or arguments.key(o.name) == name then return o end
	end
end

local function convert(o, value)
	if o.number then
		value = tonumber(value) or failure.usage("--" .. o.name .. " wants a number, not '" .. tostring(value) .. "'")
	end
	if o.choices then
		for _, c in ipairs(o.choices) do if c == value then return value end end
		failure.usage("--" .. o.name .. " must be one of " .. table.concat(o.choices, ", "))
	end
	if o.check then -- checked here, before any request is made; a value that fails it is refused (exit 3)
		local ok, why = o.check(value)
		if not ok then
			failure.refuse("--" .. o.name .. ": " .. tostring(why or "invalid value") .. "; nothing was changed")
		end
	end
	return value
end

-- Global options typed after the script's name, as kubectl users do: the connection's are taken as if they came
-- first (the cluster is connected only later); those the host acts on at start-up are named with where to put them.
local TAKEN = { kubeconfig = true, context = true }
local HOST_ONLY = { ["-v"] = true, ["--verbose"] = true, ["--log-json"] = true, ["--no-color"] = true,
	["--script-path"] = true, ["--etcd-endpoints"] = true, ["--etcd-cacert"] = true, ["--etcd-cert"] = true,
	["--etcd-key"] = true }

local function global_option(a, args, i)
	local name, inline = a:match("^%-%-([%w%-]+)=(.*)$")
	name = name or a:match("^%-%-([%w%-]+)$")
	if name and TAKEN[name] then
		local v = inline or args[i + 1]
		if v == nil then failure.usage("--" .. name .. " needs a value") end
		require("medic.options")[name] = v
		return inline and i + 1 or i + 2
	end
	local flag = a:match("^(%-%-?[%w%-]+)")
	if flag and HOST_ONLY[flag] then
		failure.usage(flag .. " is a global option: put it before `run` (etcd-medic " .. flag .. " ... run NAME ...)")
	end
end

-- Parses "--name value", "--name=value" and "--flag" (and -h, -n for --namespace, -o for a procedure's --output);
-- returns the given options keyed by their Lua name.
function arguments.parse(proc, args)
	local given, i = {}, 1
	while i <= #args do
		local a = args[i]
		if a == "-h" then a = "--help" elseif a == "-n" then a = "--namespace"
		elseif a == "-o" and arguments.find(proc, "output") then a = "--output" end
		local next_i = global_option(a, args, i)
		if next_i then i = next_i; goto continue end
		local name, inline = a:match("^%-%-([%w%-]+)=(.*)$")
		name = name or a:match("^%-%-([%w%-]+)$")
		local o = name and arguments.find(proc, name)
		if not o then failure.usage("unknown argument '" .. a .. "' (see --help)") end
		if o.flag then
			if inline then failure.usage("--" .. o.name .. " takes no value") end
			given[arguments.key(o.name)] = true
		else
			local v = inline
			if not v then
				i = i + 1
				v = args[i]
				if v == nil then failure.usage("--" .. o.name .. " needs a value") end
			end
			given[arguments.key(o.name)] = convert(o, v)
		end
		i = i + 1
		::continue::
	end
	return given
end

-- The options' values: each default (the script's, then the site file's) overridden by the command line.
function arguments.resolve(proc, given)
	local opts = {}
	for _, o in ipairs(arguments.all(proc)) do opts[arguments.key(o.name)] = o.default end
	for k, v in pairs(given) do opts[k] = v end
	return opts
end

-- Options from a table ({node = "master-1", yes = true}) as the argument list that says the same.
function arguments.from_table(t)
	local args = {}
	for k, v in pairs(t or {}) do
		local flag = "--" .. tostring(k):gsub("_", "-")
		if v == true then
			args[#args + 1] = flag
		elseif v ~= false then
			args[#args + 1] = flag
			args[#args + 1] = tostring(v)
		end
	end
	return args
end

function arguments.help(proc)
	local lines = { "usage: etcd-medic run " .. proc.name .. " [OPTIONS]", "", proc.title or "", "", "options:" }
	for _, o in ipairs(arguments.all(proc)) do
		local left = "  --" .. o.name .. (o.arg and (" " .. o.arg) or "")
		local default = o.default ~= nil and not o.flag and ("  (default: " .. tostring(o.default) .. ")") or ""
		lines[#lines + 1] = string.format("%-30s %s%s", left, o.help or "", default)
	end
	if not proc.read_only then
		lines[#lines + 1] = ""
		lines[#lines + 1] = "steps: " .. table.concat(proc:step_names(), ", ")
	end
	return table.concat(lines, "\n")
end

-- A word as a shell reads it back: as it is when it can be, else in single quotes.
function arguments.quote(a)
	a = tostring(a)
	if a:find("^[%w%-%._/=:,@+]+$") then return a end
	return "'" .. a:gsub("'", "'\\''") .. "'"
end
local quote = arguments.quote

-- The global options this process was given (medic.options), as etcd-medic's command line says them.
local function global_options()
	local g, words = require "medic.options", {}
	local function add(flag, value) if value then words[#words + 1] = flag; words[#words + 1] = quote(value) end end
	add("--kubeconfig", g.kubeconfig)
	add("--context", g.context)
	if g.namespace ~= "openshift-etcd" then add("-n", g.namespace) end
	for _, dir in ipairs(g.script_path or {}) do add("--script-path", dir) end
	add("--etcd-endpoints", g.etcd_endpoints)
	add("--etcd-cacert", g.etcd_cacert)
	add("--etcd-cert", g.etcd_cert)
	add("--etcd-key", g.etcd_key)
	add("--log-json", g.log_json)
	if g.verbose then words[#words + 1] = "-v" end
	return words
end

-- The command that resumes this run: the same global options, the same script (by name when shipped, by its
-- file when a copy runs), the same arguments less --dry-run.
function arguments.command_line(proc, args)
	local parts = { "etcd-medic" }
	for _, w in ipairs(global_options()) do parts[#parts + 1] = w end
	parts[#parts + 1] = "run"
	parts[#parts + 1] = proc.file and quote(proc.file) or proc.name
	local i = 1
	while i <= #args do
		local a, name = args[i], args[i]:match("^%-%-([%w%-]+)")
		if name and TAKEN[name] then -- said with the global options already
			i = i + (a:find("=", 1, true) and 1 or 2)
		else
			if a ~= "--dry-run" then parts[#parts + 1] = quote(a) end
			i = i + 1
		end
	end
	return table.concat(parts, " ")
end

return arguments
