-- etcd-medic-api: 2
-- Actions: each change a procedure makes, declared once. A step's actions(ctx) returns a list of them; the plan
-- prints each as the equivalent oc/etcdctl command line, --dry-run sends the ones the API can rehearse with
-- dryRun=All, and the run carries them out and verifies each. One kind per kind of change:
--
--   actions.snapshot{to=, endpoints=}                  etcdctl snapshot save (streamed, SHA-256 checked)
--   actions.move_aside{node=, paths={...}, into=, dir_key=}  mkdir a new directory on the node, mv each path into it
--   actions.member_remove{id=, name=, peer_urls=}      etcdctl member remove ID
--   actions.secret_delete{namespace=, name=, uid=, resource_version=}   oc delete secret, with preconditions
--   actions.merge_patch{path=, object=, body=}         oc patch OBJECT --type=merge -p BODY
--   actions.set_field{path=, object=, field={...}, value=, retry=, on_failure=}   make one field exactly VALUE again
--   actions.wait{what=, timeout=, interval=, settle=, poll=}   wait until poll() -> done, progress[, steady];
--                                                      with settle=S also until steady (default: done; or the
--                                                      ctx:now() time since when it is) has held S s
--   actions.command{argv={...}}                        a program on this machine (a site's own tool)
--   actions.archive / seal / copy_to_node / prune       the platform's backup pair (medic/actions/backup.lua)
--   actions.object_delete / object_create / bmc_secret_create   Machines, hosts, Nodes (medic/actions/objects.lua)
--   actions.csr_approve{node=, timeout=, interval=}    oc adm certificate approve, a new node's CSRs only
--                                                      (medic/actions/csr_approve.lua)
--
-- Every action may also carry record = { journal_key = value, ... }: written to the journal before it runs, so a
-- resumed run knows what this one was about to do; and guard = function(ctx): re-checks the world right before.
local json = require "medic.json"
local check = require("medic.procedure.failure").check
local quote = require("medic.procedure.arguments").quote
local openshift = require "medic.openshift"
local host = require "medic.host"

local actions = {}

local function define(kind, methods)
	methods.__index = methods
	actions[kind] = function(fields)
		fields.kind = kind
		return setmetatable(fields, methods)
	end
end




local function through(ctx)
	local pod = ctx.cluster.etcd_pod
	return pod and ("   (through " .. pod .. ")") or ""
end

------------------------------------------------------------------------------------------------ etcd

define("snapshot", {
	lines = function(a, ctx)
		return { "etcdctl snapshot save " .. a.to .. through(ctx) .. "; the copy is checked (bolt header, SHA-256)" }
	end,
	run = function(a, ctx)
		local dir = a.to:match("^(.*)/[^/]+$")
		if dir then check(require("medic.journal").ensure_dir(dir)) end
		local ok, err = ctx.cluster:etcd_client()
		if ok then ok, err = ok:snapshot(a.to, { endpoints = a.endpoints }) end
		if not ok and a.on_failure then ctx:stop("failed", "cannot take a snapshot: " .. tostring(err)) end
		if not ok then
			ctx:stop("refused", "no backup: cannot take a snapshot (" .. tostring(err) .. "); take one and pass "
				.. "--backup PATH")
		end
		a.size, a.sha256, a.revision = ok.size, ok.sha256, ok.revision
		ctx:say("saved %s (%d bytes)", a.to, ok.size or 0)
	end,
	-- snapshot() checked the SHA-256 as it saved: no second read of the whole file, only that it is there whole
	verify = function(a)
		local f = io.open(a.to, "rb")
		local size = f and f:seek("end")
		if f then f:close() end
		return size == a.size, "the backup is not on disk as saved: " .. a.to
	end,
})

define("member_remove", {
	lines = function(a, ctx)
		return { string.format("etcdctl member remove %s   (name %s, peer %s)%s", a.id, a.name or "?",
			table.concat(a.peer_urls or {}, ","), through(ctx)) }
	end,
	run = function(a, ctx)
		local c = check(ctx.cluster:etcd_client())
		local ok, err, code = c:member_remove(a.id)
		if not ok and code ~= "MemberNotFound" then
			-- A timeout says nothing about the outcome: read the list again, never resend blindly.
			local listed = ctx.cluster:member_listed(a.id)
			if listed ~= false then ctx:stop("failed", "member remove " .. a.id .. " failed: " .. tostring(err)) end
		end
		ctx:say("Member %s removed", a.id)
	end,
	verify = function(a, ctx)
		return ctx.cluster:member_listed(a.id) == false, "member " .. a.id .. " is still listed"
	end,
})

------------------------------------------------------------------------------------------------ node files

define("move_aside", require "medic.actions.move_aside")

------------------------------------------------------------------------------------------------ the backup

for kind, methods in pairs(require "medic.actions.backup") do define(kind, methods) end

------------------------------------------------------------------------------------------------ other API objects

for kind, methods in pairs(require "medic.actions.objects") do define(kind, methods) end
define("csr_approve", require "medic.actions.csr_approve")

------------------------------------------------------------------------------------------------ API objects

define("secret_delete", {
	lines = function(a)
		return { string.format("oc delete secret -n %s %s   (preconditions: uid %s, resourceVersion %s)",
			a.namespace, a.name, a.uid, a.resource_version) }
	end,
	path = function(a) return openshift.ns_path(a.namespace, "secrets", a.name) end,
	request = function(a, ctx, dry)
		local preconditions = { uid = a.uid, resourceVersion = a.resource_version }
		return ctx.cluster:k8s():delete(a:path(), { preconditions = preconditions, dryRun = dry and "All" or nil })
	end,
	rehearse = function(a, ctx) check(a:request(ctx, true)) end,
	run = function(a, ctx)
		local ok, err, code = a:request(ctx, false)
		if ok or code == "NotFound" then
			ctx:say("secret %s deleted", a.name)
		elseif code == "Conflict" then
			local now = ctx.cluster:k8s():get(a:path())
			if now and now.metadata.uid == a.uid then
				ctx:stop("failed", "secret " .. a.name .. " changed since the plan: run again")
			end
			ctx:say("secret %s was re-issued meanwhile: left alone", a.name)
		else
			ctx:stop("failed", "cannot delete secret " .. a.name .. ": " .. tostring(err))
		end
	end,
	verify = function(a, ctx)
		local now, err, code = ctx.cluster:k8s():get(a:path())
		if not now and code ~= "NotFound" then
			return false, "cannot read secret " .. a.name .. ": " .. tostring(err)
		end
		return not now or now.metadata.uid ~= a.uid, "secret " .. a.name .. " is still there"
	end,
})

-- Has every field the merge patch sets the value it sets (null: absent)?
local function applied(current, body)
	if body == json.null then return current == nil or current == json.null end
	if type(body) ~= "table" or #body > 0 then return openshift.same(current, body) end
	if type(current) ~= "table" then return false end
	for k, v in pairs(body) do
		if not applied(current[k], v) then return false end
	end
	return true
end

local function patch(ctx, a, body, dry)
	return ctx.cluster:k8s():patch(a.path, body, "merge", dry and { dryRun = "All" } or nil)
end

define("merge_patch", {
	lines = function(a)
		return { "oc patch " .. a.object .. " --type=merge -p '" .. json.encode(a.body) .. "'" }
	end,
	rehearse = function(a, ctx) check(patch(ctx, a, a.body, true)) end,
	run = function(a, ctx)
		local ok, err = patch(ctx, a, a.body)
		-- A lost answer says nothing about the outcome: what the object holds now decides.
		if not ok and not a:verify(ctx) then
			ctx:stop("failed", "oc patch " .. a.object .. " failed: " .. tostring(err))
		end
	end,
	verify = function(a, ctx)
		local obj = ctx.cluster:k8s():get(a.path)
		return obj ~= nil and applied(obj, a.body), "the patch of " .. a.object .. " did not stick"
	end,
})

local function field_of(obj, field)
	for _, k in ipairs(field) do
		if type(obj) ~= "table" then return nil end
		obj = obj[k]
	end
	return obj
end

local function nest(field, value)
	for i = #field, 1, -1 do value = { [field[i]] = value } end
	return value
end

local function field_patch(a, current)
	local value = a.value
	if value == nil or value == json.null then value = json.null
	elseif type(value) == "table" and type(current) == "table" then value = openshift.merge_diff(current, value) end
	return nest(a.field, value)
end

-- The same merge patch towards a recorded value is safe to send again: a transient failure (a 500, a lost
-- connection, a timeout) is retried for `retry` seconds rather than leaving the field as it is.
define("set_field", {
	lines = function(a)
		local value = a.value == nil and json.null or a.value
		return { "oc patch " .. a.object .. " --type=merge -p '" .. json.encode(nest(a.field, value)) .. "'   (exactly "
			.. "as before: keys added since are removed)" }
	end,
	rehearse = function(a, ctx)
		local obj = check(ctx.cluster:k8s():get(a.path))
		check(patch(ctx, a, field_patch(a, field_of(obj, a.field)), true))
	end,
	run = function(a, ctx)
		local last, body
		local ok = ctx:wait { what = "patching " .. a.object, timeout = a.retry or 0, interval = 3, poll = function()
			local obj, err = ctx.cluster:k8s():get(a.path)
			if not obj then last = err; return false, "cannot read " .. a.object .. ": " .. tostring(err) end
			body = field_patch(a, field_of(obj, a.field))
			local done, perr = patch(ctx, a, body)
			last = perr
			return done ~= nil, not done and ("the patch failed: " .. tostring(perr) .. "; trying again") or nil
		end }
		if not ok then
			local by_hand = json.encode(body or nest(a.field, a.value == nil and json.null or a.value))
			ctx:stop("failed", string.format("%s (%s). Run the same command again, or by hand: oc patch %s "
				.. "--type=merge -p '%s'", a.on_failure or ("cannot patch " .. a.object), tostring(last), a.object, by_hand))
		end
	end,
	verify = function(a, ctx)
		local obj = ctx.cluster:k8s():get(a.path)
		return obj ~= nil and openshift.same(field_of(obj, a.field), a.value),
			table.concat(a.field, ".") .. " of " .. a.object .. " differs from what it should be"
	end,
})

------------------------------------------------------------------------------------------------ waiting, commands

define("wait", {
	lines = function(a)
		return { string.format("wait up to %gs for %s%s", a.timeout, a.what,
			a.settle and a.settle > 0 and string.format(" (stable for %gs)", a.settle) or "") }
	end,
	run = function(a, ctx)
		local since
		local ok, err = ctx:wait { what = a.what, timeout = a.timeout, interval = a.interval, poll = function()
			local done, line, steady = a.poll(ctx)
			if steady == nil then steady = done end
			if type(steady) == "number" then since = steady else since = steady and (since or ctx:now()) or nil end
			if not done or not a.settle or a.settle <= 0 then return done, line end
			if not since then return false, line end
			local held = ctx:now() - since
			if held >= a.settle then return true, line end
			-- the count on a terminal; piped, one line (the same line 15 times reads as a log of nothing)
			if not host.isatty("stdout") then return false, string.format("%s; settling for %gs", line, a.settle) end
			return false, string.format("%s; settling (%ds of %gs)", line, math.floor(held), a.settle)
		end }
		if not ok then ctx:stop("failed", err) end
	end,
})

local function command_text(argv)
	local words = {}
	for i, w in ipairs(argv) do words[i] = quote(w) end
	return table.concat(words, " ")
end

define("command", {
	lines = function(a) return { command_text(a.argv) .. "   (on this machine)" } end,
	run = function(a, ctx)
		local ok, how, code = os.execute(command_text(a.argv))
		if not ok then
			ctx:stop("failed", string.format("%s %s %s", a.argv[1], how == "exit" and "exited" or how, code))
		end
	end,
})

return actions
