-- etcd-medic-api: 2
-- The ctx every check, step and action gets:
--   ctx.opts      the options' values (declared by the procedure's options; an unknown name raises)
--   ctx.facts     the document's facts (the procedure's facts table, as the site file changed it)
--   ctx.state     what the prerequisites find and the steps hand on (declared; an undeclared name raises)
--   ctx.journal   what is kept across runs (declared; an assignment is written to the journal file before it returns)
--   ctx.cluster   the cluster (medic.cluster): ctx.cluster:k8s(), :etcd_client(), :read_members(), ...
--   ctx.dry_run, ctx.resuming
--   ctx.running   true once a step runs for real (the plan is over): a skip/done can tell "will it run?" from "did it?"
--   ctx:stop(outcome, message)   end the run: "nothing to do", "refused", "failed" (medic.procedure.failure)
--   ctx:say(fmt, ...)   ctx:wait{...}   ctx:sleep(s)   ctx:now()   ctx:node(name)
--   ctx:confirm(question)   a site's own approval, asked on the terminal (--yes answers it)
--   ctx:need_permissions()   refused unless the user may do what the procedure declares (its permissions)
--   ctx:finished(step)   ctx:planned(step)
local declared = require "medic.procedure.declared"
local failure = require "medic.procedure.failure"
local journal = require "medic.journal"
local journal_configmap = require "medic.journal.configmap"
local journal_file = require "medic.journal.file"
local arguments = require "medic.procedure.arguments"
local audit = require "medic.procedure.audit"
local host = require "medic.host"
local lease = require "medic.procedure.lease"
local ui = require "medic.ui"

local Ctx = {}
Ctx.__index = Ctx

local context = {}

-- context.new(proc, opts, args): a ctx for one run of `proc`; the journal is opened by context.open_journal.
function context.new(proc, opts, args)
	local option_names = {}
	for _, o in ipairs(arguments.all(proc)) do option_names[arguments.key(o.name)] = true end
	local cluster = require("medic.cluster").new { namespace = opts.namespace }
	return setmetatable({
		procedure = proc, args = args, dry_run = opts.dry_run == true, cluster = cluster,
		opts = declared.table("ctx.opts", option_names, opts),
		facts = declared.table("ctx.facts", proc.facts, proc.facts),
		state = declared.table("ctx.state", proc.state_names, {}),
		plans = {}, handles = {},
	}, Ctx)
end

function Ctx.stop(_, outcome, message) failure.raise(outcome, message) end

function Ctx.say(_, fmt, ...) ui.say("      " .. fmt, ...) end

function Ctx.now() return host.now() end

-- Sleeps `seconds`; Ctrl-C ends the run ("interrupted", exit 130).
function Ctx.sleep(_, seconds)
	local slept, why = host.sleep(seconds)
	if not slept then failure.raise("interrupted", why or "interrupted") end
end

-- ctx:confirm(question): a site's own approval (a change ticket, a second pair of eyes), from a hook. --yes answers
-- yes; else the question is asked on the terminal. A "no" ends the run ("not confirmed", exit 1); with no terminal to
-- ask on and no --yes the run is refused (exit 3): a question nobody can answer is never taken as a yes. A dry run
-- asks nothing. Every answer is an audit record in --log-json. Returns true.
function Ctx:confirm(question)
	question = tostring(question)
	if self.dry_run then
		self:say("would ask: %s (a dry run asks nothing)", question)
		return true
	end
	local by = self.opts.yes and "--yes"
	if not by and not self.procedure.can_ask() then
		audit.asked(question, "refused: no terminal to ask on, and no --yes")
		failure.refuse("the site file asks \"" .. question .. "\" and there is no terminal to ask on: run on a "
			.. "terminal, or answer yes in advance with --yes")
	end
	if not by and not self.procedure.prompt(question) then
		audit.asked(question, "answered no at the prompt")
		failure.fail("not confirmed: " .. question)
	end
	by = by or "answered yes at the prompt"
	audit.asked(question, by)
	self:say("%s: yes (%s)", question, by)
	return true
end

-- Refuses (exit 3, before any change) unless the user may do each of `wanted`: the procedure's declared
-- permissions (procedure.new{permissions = ...}, medic.permissions) when nil, else a list of {verb=, resource=,
-- subresource=, group=, namespace=}. One SelfSubjectAccessReview each; the refusal names every permission missing.
-- Returns "ok".
function Ctx:need_permissions(wanted)
	local perms = require "medic.permissions"
	if not wanted then
		local o = {} -- the options a procedure may not have (--local, --debug-namespace) read as nil
		for k, v in pairs(self.opts) do o[k] = v end
		wanted = perms.queries(self.procedure.permissions, { namespace = o.namespace,
			debug_namespace = o.debug_namespace, ["local"] = o["local"], exec_verb = self.cluster:exec_verb() })
	end
	local missing = {}
	for _, q in ipairs(wanted) do
		local allowed, err = self.cluster:k8s():can_i(q)
		if allowed ~= true then
			missing[#missing + 1] = perms.describe(q) .. ((err and err ~= "") and (" (" .. tostring(err) .. ")") or "")
		end
	end
	if #missing > 0 then
		self:stop("refused", "missing permissions: " .. table.concat(missing, "; ") .. ". Run as a cluster-admin user"
			.. " or a service account with `etcd-medic rbac " .. self.procedure.name .. "`'s role.")
	end
	return "ok"
end

function Ctx:state_dir()
	local dir, err = journal.state_dir(self.opts.state_dir)
	if not dir then failure.usage(err) end
	return dir
end

-- Did step `name` finish (changed or ok) in this run or the one this run resumes?
function Ctx:finished(name)
	local status = self.record:step_status(name)
	return status == "changed" or status == "ok"
end

-- Is step `name` in this run's plan (it has work to do)?
function Ctx:planned(name) return self.plans[name] ~= nil end

-- A handle on node `name`'s files (medic.node): native with --local, else through a debug pod. Kept for the
-- step and closed after it (ctx:close_nodes), so that one debug pod serves all of a step's actions.
function Ctx:node(name)
	if not self.handles[name] then
		local o, h, err = self.opts
		if o["local"] then
			h, err = require("medic.node").open_local { root = o.root }
		else
			h, err = self.cluster:node(name, { image = o.debug_image, namespace = o.debug_namespace or o.namespace })
		end
		if not h then self:stop("failed", "cannot open node " .. name .. ": " .. tostring(err)) end
		self.handles[name] = h
	end
	return self.handles[name]
end

function Ctx:close_nodes()
	for name, h in pairs(self.handles) do
		pcall(h.close, h)
		self.handles[name] = nil
	end
end

-- Polls `poll()` until it returns true, printing its progress line when it changes; bounded by time and count.
--   ctx:wait{what="...", timeout=SECONDS, interval=SECONDS, poll=function() -> done, progress end}
-- Returns true, or nil and a message naming the last progress seen. Ctrl-C ends it (exit 130).
function Ctx:wait(w)
	local interval, timeout = w.interval or 2, w.timeout or 600
	local deadline = host.now() + timeout
	local last, progress
	for _ = 1, math.max(2, math.ceil(timeout / math.max(interval, 0.05)) * 4) do
		local done
		done, progress = w.poll()
		if progress and progress ~= last then
			self:say("%s", progress)
			last = progress
		end
		if done then return true end
		if host.now() >= deadline then break end
		lease.keep(self)
		self:sleep(interval)
	end
	return nil, string.format("timed out after %ds waiting for %s (last: %s)", timeout, w.what or "a condition",
		tostring(progress or "nothing"))
end

-- The store of a new journal: the cluster's when asked, or in a pod (auto); else the state directory's.
local function new_store(ctx, cluster_store)
	local mode = ctx.opts.journal or "auto"
	if mode == "cluster" or (mode == "auto" and ctx.cluster:in_pod()) then return cluster_store end
	return journal_file.new(ctx:state_dir())
end

-- One journal per cluster, wherever it runs: an unfinished run recorded in the cluster is resumed from there (a Job's
-- pod, or a laptop's --journal cluster), also by a run elsewhere; two unfinished journals of one cluster refuse.
local function choose(ctx, proc, key)
	local cstore = journal_configmap.new(ctx.cluster:k8s(), ctx.cluster.namespace)
	local store, mode = new_store(ctx, cstore), ctx.opts.journal or "auto"
	local cj, cerr = journal.open(cstore, cstore:journal_name(proc, key))
	if store == cstore then return cj, cerr end
	local fj, ferr = journal.open(store, store:journal_name(proc, key))
	if not (cj and cj:resuming()) then
		if cerr and mode == "auto" then ui.say("note: the journals in the cluster cannot be read (%s)", cerr) end
		return fj, ferr
	end
	if mode == "file" or (fj and fj:resuming()) then
		failure.refuse(string.format("an unfinished run of %s is recorded in %s%s: finish it first (run again with "
			.. "--journal cluster), or move it away if it is stale", proc, cj.path,
			fj and fj:resuming() and (" and another in " .. fj.path) or ""))
	end
	return cj
end

-- Opens the journal of this run (one per procedure and cluster) and binds ctx.journal to its declared keys.
function context.open_journal(ctx, key)
	local j, err = choose(ctx, ctx.procedure.name, key)
	if not j then failure.refuse(err) end
	if ctx.dry_run then j:in_memory() end -- a dry run leaves no trace
	ctx.record, ctx.resuming = j, j:resuming()
	ctx.journal = declared.table("ctx.journal", ctx.procedure.journal_names, j.doc.data, function(k, v) j:set(k, v) end)
	return j
end

return context
