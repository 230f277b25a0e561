-- etcd-medic-api: 2
-- Actions on API objects other than the etcd operator's (the Machine API's Machines and BareMetalHosts, Nodes, a
-- BMC Secret):
--
--   object_delete{path=, object=, uid=}              oc delete OBJECT (precondition: the uid seen in the plan)
--   object_create{path=, object=, body=, ours=}      oc create -f - (BODY); path is the collection; an object of that
--                                                    name already there counts as made by an earlier run when
--                                                    ours(existing) says so, else the step fails
--   bmc_secret_create{namespace=, name=, credentials=}   oc create secret generic NAME (username, password): the
--                                                    credentials (medic.machines.credentials) are in no plan line, no
--                                                    journal, no audit record and no log
--   unblock{path=, object=, after=, interval=}      the document's last resort for a deletion that hangs: if OBJECT
--                                                    is still there after AFTER s, its finalizers are removed (what
--                                                    they guard, an instance or a host, may be left as it is)
--   keep{what=, record={...}}                        nothing changes: what cannot be read again later (a Machine
--                                                    before its deletion) is written to the journal (its record)
--
-- Every one that changes something is rehearsed with dryRun=All in --dry-run.
local json = require "medic.json"
local machines = require "medic.machines"
local check = require("medic.procedure.failure").check

local M = {}

local function kc(ctx) return ctx.cluster:k8s() end

M.object_delete = {
	lines = function(a)
		return { string.format("oc delete %s   (precondition: uid %s)", a.object, tostring(a.uid)) }
	end,
	request = function(a, ctx, dry)
		return kc(ctx):delete(a.path, { preconditions = a.uid and { uid = a.uid } or nil, dryRun = dry and "All" or nil })
	end,
	rehearse = function(a, ctx) check(a:request(ctx, true)) end,
	run = function(a, ctx)
		local ok, err, code = a:request(ctx, false)
		if ok or code == "NotFound" then return ctx:say("%s deleted", a.object) end
		if code == "Conflict" then
			ctx:stop("failed", a.object .. " is another object than the one planned (its uid changed): nothing deleted; "
				.. "run again to re-plan")
		end
		ctx:stop("failed", "cannot delete " .. a.object .. ": " .. tostring(err))
	end,
	-- deleted: gone, replaced by another object, or marked for deletion (its finalizers run; a wait follows)
	verify = function(a, ctx)
		local now, err, code = kc(ctx):get(a.path)
		if not now and code ~= "NotFound" then return false, "cannot read " .. a.object .. ": " .. tostring(err) end
		return not now or now.metadata.uid ~= a.uid or machines.deleting(now), a.object .. " is still there"
	end,
}

M.object_create = {
	lines = function(a)
		return { string.format("oc create -f - <<'EOF'   (%s)", a.object), json.encode(a.body), "EOF" }
	end,
	rehearse = function(a, ctx) check(kc(ctx):create(a.path, a.body, { dryRun = "All" })) end,
	run = function(a, ctx)
		local made, err, code = kc(ctx):create(a.path, a.body)
		if made then return ctx:say("%s created", a.object) end
		if code ~= "AlreadyExists" and code ~= "Conflict" then
			-- a lost answer says nothing about the outcome: what is there now decides
			if a:verify(ctx) then return ctx:say("%s created", a.object) end
			ctx:stop("failed", "cannot create " .. a.object .. ": " .. tostring(err))
		end
		local there = kc(ctx):get(a.path .. "/" .. a.body.metadata.name)
		if not (there and a.ours and a.ours(there)) then
			ctx:stop("failed", a.object .. " exists already and is not the one this procedure makes; look at it, then run "
				.. "again")
		end
		ctx:say("%s was made by an earlier run", a.object)
	end,
	verify = function(a, ctx)
		return kc(ctx):get(a.path .. "/" .. a.body.metadata.name) ~= nil, a.object .. " is not there"
	end,
}

M.bmc_secret_create = {
	lines = function(a)
		return { string.format("oc create secret generic %s -n %s --from-literal=username=[REDACTED] "
			.. "--from-literal=password=[REDACTED]", a.name, a.namespace) }
	end,
	body = function(a) return machines.secret_body(a.name, a.credentials, a.namespace) end,
	rehearse = function(a, ctx)
		check(kc(ctx):create(machines.secret_path(nil, a.namespace), a:body(), { dryRun = "All" }))
	end,
	run = function(a, ctx)
		local made, err, code = kc(ctx):create(machines.secret_path(nil, a.namespace), a:body())
		if made or code == "AlreadyExists" then return ctx:say("secret %s created", a.name) end
		if a:verify(ctx) then return ctx:say("secret %s created", a.name) end
		ctx:stop("failed", "cannot create the BMC secret " .. a.name .. ": " .. tostring(err))
	end,
	verify = function(a, ctx)
		return kc(ctx):get(machines.secret_path(a.name, a.namespace)) ~= nil, "secret " .. a.name .. " is not there"
	end,
}

M.unblock = {
	lines = function(a)
		return { string.format("if %s is still there after %gs: oc patch %s --type=merge -p "
			.. "'{\"metadata\":{\"finalizers\":null}}'", a.object, a.after, a.object) }
	end,
	run = function(a, ctx)
		local gone = ctx:wait { what = a.object .. " to go", timeout = a.after, interval = a.interval, poll = function()
			local now, _, code = kc(ctx):get(a.path)
			return not now and code == "NotFound", now and (a.object .. " still there") or nil
		end }
		if gone then return end
		ctx:say("%s is still there after %gs: removing its finalizers", a.object, a.after)
		local ok, err, code = kc(ctx):patch(a.path, { metadata = { finalizers = json.null } }, "merge")
		if not ok and code ~= "NotFound" then
			ctx:stop("failed", "cannot remove the finalizers of " .. a.object .. ": " .. tostring(err))
		end
	end,
}

M.keep = {
	lines = function(a) return { "keep in the journal: " .. a.what } end,
	run = function() end,
}

return M
