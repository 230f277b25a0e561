-- etcd-medic-api: 2
-- One run at a time per cluster: a coordination.k8s.io/v1 Lease "etcd-medic" in the etcd namespace, taken before
-- the first change, renewed while the run goes on, released at its end, and taken over only when it has expired
-- (nobody renewed it for leaseDurationSeconds) or when its holder is a process of this machine that is gone (a run
-- killed with SIGKILL, resumed at once) or a pod that has ended (a Job's try, killed; the next try takes over).
-- Another holder refuses the run (exit 3), naming it and since when.
local failure = require "medic.procedure.failure"
local host = require "medic.host"
local process = require "medic.process"

local lease = {}

lease.NAME = "etcd-medic"
lease.DURATION = 60 -- seconds; renewed every third of it while the run waits

local function path(ns) return "/apis/coordination.k8s.io/v1/namespaces/" .. ns .. "/leases/" .. lease.NAME end

local function pid() return process.pid() end
local function hostname() return process.hostname() or "localhost" end

-- The pod this run is in (a Job's): POD_NAMESPACE/POD_NAME when the manifest passes them (downward API), else the
-- service account's namespace and the hostname, which is the pod's name. nil outside a pod.
local function pod_of(ctx)
	if not ctx.cluster:in_pod() then return nil end
	local ns = os.getenv("POD_NAMESPACE") or process.read_line("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
	return (ns or ctx.cluster.namespace) .. "/" .. (os.getenv("POD_NAME") or hostname())
end

-- "etcd-medic replace-crashlooping-member (kube:admin) on HOST pid 1234", or "... in pod NS/NAME pid 1"
function lease.identity(ctx)
	local who = ctx.cluster:k8s():whoami()
	local pod = pod_of(ctx)
	return string.format("etcd-medic %s (%s) %s pid %d", ctx.procedure.name, who and who.username or "?",
		pod and ("in pod " .. pod) or ("on " .. hostname()), pid() or 0)
end

-- MicroTime, as the API writes it: 2026-12-03T09:30:00.000000Z
local function now_micro() return os.date("!%Y-%m-%dT%H:%M:%S.000000Z") end

local function epoch(stamp)
	local y, mo, d, h, mi, s = tostring(stamp):match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
	if not y then return nil end
	local t = os.time { year = y, month = mo, day = d, hour = h, min = mi, sec = s, isdst = false }
	return t + (os.time() - os.time(os.date("!*t"))) -- os.time reads the table as local time
end

local function expired(spec)
	local renewed = epoch(spec.renewTime or spec.acquireTime)
	return not spec.holderIdentity or spec.holderIdentity == ""
		or (renewed ~= nil and os.time() > renewed + (spec.leaseDurationSeconds or lease.DURATION))
end

-- A holder pod that has ended (a Job's pod killed and replaced by the next try) or is gone; or this same pod's
-- earlier container (restarted in place: the holder's pid is not this process).
local function pod_gone(ctx, pod, holder_pid)
	if pod == pod_of(ctx) then return tonumber(holder_pid) ~= pid() end
	local ns, name = pod:match("^([^/]+)/(.+)$")
	local p, _, code = ctx.cluster:k8s():get("/api/v1/namespaces/" .. tostring(ns) .. "/pods/" .. tostring(name))
	if not p then return code == "NotFound" end
	local phase = (p.status or {}).phase
	return phase == "Succeeded" or phase == "Failed"
end

-- A holder on this machine whose process is gone (its run was killed), or in a pod that has ended: its lease is
-- ours to take over.
local function holder_gone(ctx, identity)
	local pod, in_pid = tostring(identity):match(" in pod (%S+) pid (%d+)$")
	if pod then return pod_gone(ctx, pod, in_pid) end
	local on, holder_pid = tostring(identity):match(" on (%S+) pid (%d+)$")
	if on ~= hostname() or not holder_pid then return false end
	return not os.execute("kill -0 " .. holder_pid .. " 2>/dev/null")
end

local function spec_of(identity, transitions)
	local t = now_micro()
	return { holderIdentity = identity, leaseDurationSeconds = lease.DURATION, acquireTime = t, renewTime = t,
		leaseTransitions = transitions }
end

local function refuse_held(spec)
	failure.refuse(string.format("another run holds this cluster: %s, since %s (lease %s, renewed %s). Wait for it "
		.. "to end; a lease nobody renews expires after %ds", spec.holderIdentity, tostring(spec.acquireTime),
		lease.NAME, tostring(spec.renewTime), spec.leaseDurationSeconds or lease.DURATION))
end

local function create(kc, ns, identity)
	local obj = { apiVersion = "coordination.k8s.io/v1", kind = "Lease",
		metadata = { name = lease.NAME, namespace = ns }, spec = spec_of(identity, 0) }
	local made, err, code = kc:create("/apis/coordination.k8s.io/v1/namespaces/" .. ns .. "/leases", obj)
	if made then return made end
	if code == "AlreadyExists" or code == "Conflict" then return nil end
	failure.fail("cannot take the lease " .. lease.NAME .. " in " .. ns .. ": " .. tostring(err))
end

-- Takes the lease for ctx's run. Returns nothing; raises a refusal when another run holds it.
function lease.take(ctx)
	local kc, ns = ctx.cluster:k8s(), ctx.cluster.namespace
	local identity = lease.identity(ctx)
	for _ = 1, 3 do
		local current, err, code = kc:get(path(ns))
		if not current and code ~= "NotFound" then
			failure.fail("cannot read the lease " .. lease.NAME .. ": " .. tostring(err))
		end
		if not current then
			current = create(kc, ns, identity)
		elseif expired(current.spec or {}) or holder_gone(ctx, current.spec.holderIdentity) then
			current.spec = spec_of(identity, ((current.spec or {}).leaseTransitions or 0) + 1)
			current = kc:update(path(ns), current) -- resourceVersion: a concurrent taker makes this a Conflict
		else
			refuse_held(current.spec)
		end
		if current then
			ctx.lease = { object = current, identity = identity, renewed = host.now() }
			return
		end
	end
	failure.refuse("the lease " .. lease.NAME .. " changed hands while this run tried to take it; run again")
end

-- Refuses while another live run holds the lease, before this run's prerequisites read the cluster: that run's
-- changes in progress would be judged as the state to repair. Reads only; lease.take still takes it before a change.
function lease.check_free(ctx)
	local current, err, code = ctx.cluster:k8s():get(path(ctx.cluster.namespace))
	if not current then
		if code == "NotFound" then return end
		failure.fail("cannot read the lease " .. lease.NAME .. ": " .. tostring(err))
	end
	local spec = current.spec or {}
	if not expired(spec) and not holder_gone(ctx, spec.holderIdentity) then refuse_held(spec) end
end

-- Renews the lease when a third of its duration has passed since the last renewal. Raises when it was lost.
function lease.keep(ctx)
	local held = ctx.lease
	if not held or host.now() - held.renewed < lease.DURATION / 3 then return end
	local obj = held.object
	obj.spec.renewTime = now_micro()
	local renewed, _, code = ctx.cluster:k8s():update(path(ctx.cluster.namespace), obj)
	if renewed then
		held.object, held.renewed = renewed, host.now()
	elseif code == "Conflict" or code == "NotFound" then
		ctx.lease = nil
		failure.fail("this run lost the lease " .. lease.NAME .. " (another run took it over): stopping here")
	end -- another failure (a passing 500) is tried again at the next renewal
end

-- Releases the lease (a delete with its uid as precondition: never another run's). Best effort.
function lease.release(ctx)
	local held = ctx.lease
	if not held then return end
	ctx.lease = nil
	-- uninterrupted: after a Ctrl-C the release must still reach the server, or the next run waits for the expiry
	host.uninterrupted(function()
		ctx.cluster:k8s():delete(path(ctx.cluster.namespace), { preconditions = { uid = held.object.metadata.uid } })
	end)
end

return lease
