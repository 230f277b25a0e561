-- etcd-medic-api: 2
-- The REPL's `cluster`: a lazily connected view of the OpenShift etcd cluster, and the procedure's steps by hand.
--
--   cluster:members()            the member list (prints like `etcdctl member list -w table`)
--   cluster:health()             endpoint health of every member (prints like `etcdctl endpoint health --cluster`)
--   cluster:pods()               the etcd pods (prints like `oc get pods -l k8s-app=etcd -o wide`)
--   cluster:etcd([avoid_node])   an etcd client through a Ready etcd pod (or direct with --etcd-endpoints)
--   cluster:node(name)           a node handle (medic.node) through a debug pod on that node
--   cluster:k8s()                the medic.k8s client
--   cluster:steps()              the steps of replace-crashlooping-member
--   cluster:step(name, {node=, yes=, dry_run=, ...})   run one step (its check, plan, confirmation, run, verify)
--
-- Results are plain tables; their __tostring prints them the way the command-line tools do.
local openshift = require "medic.openshift"
local gopts = require "medic.options"

local M = {}
local Cluster = {}
Cluster.__index = Cluster

-- M.new{kubeconfig=, context=, namespace=}; defaults are the global options. Nothing connects until used.
function M.new(o)
	o = o or {}
	return setmetatable({ kubeconfig = o.kubeconfig or gopts.kubeconfig, context = o.context or gopts.context,
		namespace = o.namespace or gopts.namespace or "openshift-etcd" }, Cluster)
end

function Cluster:__tostring()
	return "cluster (namespace " .. self.namespace .. (self.kc and ", connected)" or ", not connected yet)")
end

function Cluster:k8s()
	if not self.kc then
		local k8s = require "medic.k8s"
		self.kc = openshift.must(k8s.connect { kubeconfig = self.kubeconfig, context = self.context })
	end
	return self.kc
end

-- What a failed first contact means, said as the admin must act on it (codes: docs/errors.md).
local CONTACT = {
	ConnectFailed = "cannot reach the API server %s (%s). Check its address and port (kubeconfig: %s) and the network",
	TLS = "the TLS connection to the API server %s failed (%s). Check the certificate authority the kubeconfig "
		.. "names (%s), or whether this is the server you meant",
	Unauthorized = "the API server %s rejected the credentials (%s): the token has expired or is wrong (kubeconfig: "
		.. "%s). Log in again with `oc login`",
	Timeout = "the API server %s did not answer in time (%s; kubeconfig: %s)",
}

-- Does this run in a pod (the connection is the in-cluster service account)? Its journal then lives in the cluster.
function Cluster:in_pod()
	return self:k8s():info().source == "in-cluster"
end

-- Can the API server be reached, and does it accept the credentials? A few quick tries (not minutes of retries on
-- a refused connection). Returns the user's name, or nil, a message saying what to do, and the code.
function Cluster:check_access()
	local kc = self:k8s()
	local info = kc:info()
	local ok, msg, code = kc:request { path = "/version", retries = 2 }
	self.server_version = type(ok) == "table" and ok or nil
	local who
	if ok then who, msg, code = kc:whoami() end
	if who then return who.username or "?" end
	if ok and not CONTACT[code] then return "(not told: " .. tostring(code) .. ")" end -- authenticated, not 401
	local fmt = CONTACT[code]
	if not fmt then return nil, "the API server " .. tostring(info.server) .. ": " .. tostring(msg), code end
	return nil, string.format(fmt, tostring(info.server), tostring(msg), tostring(info.source or "default")), code
end

-- The verb that authorizes an exec: a WebSocket exec (what medic.k8s speaks) is a GET, authorized as `get
-- pods/exec` until Kubernetes 1.35, which authorizes it as `create` as SPDY's POST always was.
function Cluster:exec_verb()
	local v = self.server_version or self:k8s():get("/version") -- read by the first contact
	local minor = tonumber(tostring(v and v.minor or ""):match("^%d+"))
	return (minor and minor >= 35) and "create" or "get"
end

-- The cluster's ID (ClusterVersion's spec.clusterID; else kube-system's uid; else the server): one journal per cluster.
function Cluster:id()
	if not self.cluster_id then
		local kc = self:k8s()
		local cv = kc:get(openshift.CLUSTER_VERSION)
		local ns = not (cv and cv.spec and cv.spec.clusterID) and (kc:get("/api/v1/namespaces/kube-system")
			or kc:get("/api/v1/namespaces/" .. self.namespace))
		self.cluster_id = (cv and cv.spec and cv.spec.clusterID) or (ns and ns.metadata and ns.metadata.uid)
			or kc:info().server or "default"
	end
	return self.cluster_id
end

local function printable(list, render)
	return setmetatable(list, { __tostring = function(t) return table.concat(render(t), "\n") end })
end

function Cluster:pods()
	local pods = openshift.etcd_pods(self:k8s(), self.namespace)
	return printable(pods, function(t)
		local lines = { string.format("%-40s %-34s %s", "NAME", "STATUS", "NODE") }
		for _, p in ipairs(t) do
			lines[#lines + 1] = string.format("%-40s %-34s %s", p.metadata.name,
				openshift.pod_state(p) .. (openshift.pod_ready(p) and "" or " (not Ready)"), tostring(p.spec.nodeName))
		end
		return lines
	end)
end

-- An etcd client through a Ready etcd pod not on `avoid_node` (the crash-looping one, say).
function Cluster:etcd(avoid_node)
	local pods = openshift.etcd_pods(self:k8s(), self.namespace)
	local pod = openshift.healthy_pod(pods, avoid_node)
	if not pod and not gopts.etcd_endpoints then
		return nil, "no Ready etcd pod" .. (avoid_node and " on another node" or "") .. " to work through", "Unhealthy"
	end
	self.etcd_pod = pod and pod.metadata.name or "(direct)"
	return openshift.etcd_client(self.kc, self.namespace, pod, gopts)
end

-- The client a procedure works through: cluster:etcd(cluster.avoid), kept; `fresh` picks a pod again.
function Cluster:etcd_client(fresh)
	if fresh or not self.client then
		local c, err, code = self:etcd(self.avoid)
		if not c then return nil, err, code end
		self.client = c
	end
	return self.client
end

-- The health reading's options for these members: every client URL; those of the member on node IP down_ip (one
-- expected down) brief.
local function health_opts(members, opts)
	local endpoints, brief = {}, {}
	for _, m in ipairs(members) do
		local down = opts.down_ip and openshift.has_peer_ip(m, opts.down_ip)
		for _, url in ipairs(openshift.client_urls(m)) do
			endpoints[#endpoints + 1] = url
			if down then brief[#brief + 1] = url end
		end
	end
	return { endpoints = endpoints, brief = brief, timeout = opts.timeout, alarms = opts.alarms }
end

-- Members and health, read live (never ETCDCTL_ENDPOINTS, which lags), through another pod if the first fails.
-- opts: down_ip= the IP of a node whose member is expected down (its health is given 1 s, not 5), timeout= seconds
-- for the others, alarms=false (not read). Returns members, health, healthy_by_id, the alarms read with the health
-- (as health() returns them); or nil, message.
function Cluster:read_members(opts)
	local last
	for attempt = 1, 2 do
		local c, err = self:etcd_client(attempt > 1)
		if c then
			local members, merr = c:members()
			local health, alarms, herr
			if members then health, alarms = c:health(health_opts(members, opts or {})) end
			if members and health then return members, health, openshift.health_by_member(members, health), alarms end
			if members then herr = alarms end
			last = merr or herr
		else
			last = err
		end
	end
	return nil, last
end

-- Is member `id` in the member list? true or false; nil and a message when the list cannot be read.
function Cluster:member_listed(id)
	local last
	for attempt = 1, 2 do
		local c, err = self:etcd_client(attempt > 1)
		local members
		if c then members, err = c:members() end
		if members then
			for _, m in ipairs(members) do if m.id == id then return true end end
			return false
		end
		last = err
	end
	return nil, last
end

function Cluster:members()
	local c, err, code = self:etcd()
	if not c then return nil, err, code end
	local members, merr, mcode = c:members()
	if not members then return nil, merr, mcode end
	return printable(members, openshift.member_table)
end

-- Prints each endpoint with its member's name ("https://10.0.0.11:2379 (master-1) is healthy: ...").
function Cluster:health()
	local c, err, code = self:etcd()
	if not c then return nil, err, code end
	local health, herr, hcode = c:health { cluster = true }
	if not health then return nil, herr, hcode end
	local members = c:members() -- only for the names: without them the URLs still print
	return printable(health, function(t) return openshift.health_lines(t, members) end)
end

-- A handle on node `name`'s files through a debug pod (image, namespace: opts, else the defaults), scheduled with
-- the priority class `oc debug node/NAME` gives its pods, so that it runs on a node under pressure too.
function Cluster:node(name, opts)
	local node = require "medic.node"
	opts = opts or {}
	return node.open_remote(self:k8s(), name, { image = opts.image, namespace = opts.namespace or self.namespace,
		priority_class = opts.priority_class or openshift.DEBUG_PRIORITY_CLASS })
end

-- The shipped procedure, loaded without running it (an ejected copy in the script path wins).
function Cluster:procedure()
	if not self.proc then
		local procedure = require "medic.procedure"
		procedure.define_only = true
		local ok, proc = pcall(require, "replace-crashlooping-member")
		procedure.define_only = false
		if not ok then error(proc, 0) end
		self.proc = proc
	end
	return self.proc
end

function Cluster:steps()
	local proc = self:procedure()
	local list = {}
	for i, s in ipairs(proc.steps) do list[i] = { name = s.name, title = s.title } end
	return printable(list, function(t)
		local lines = {}
		for i, s in ipairs(t) do lines[i] = string.format("%2d. %-20s %s", i, s.name, s.title or "") end
		return lines
	end)
end

-- Runs one step of replace-crashlooping-member. The first call (or one with options) starts a session:
-- the preflight runs and the journal is opened, exactly as `etcd-medic run` would, so steps done by hand and
-- a later `etcd-medic run replace-crashlooping-member` share one journal and resume each other.
function Cluster:step(name, options)
	local proc = self:procedure()
	if not proc:find(name) then -- said at once, before any preflight
		return nil, "no step '" .. tostring(name) .. "' (steps: " .. table.concat(proc:step_names(), ", ") .. ")"
	end
	if options or not self.session then
		options = options or {}
		if options.namespace == nil and self.namespace ~= "openshift-etcd" then options.namespace = self.namespace end
		local ctx, err = proc:session(options)
		if not ctx then return nil, err end
		self.session = ctx
	end
	if name == "preflight" then return "ok" end
	return proc:run_step(self.session, name)
end

return setmetatable(M, { __index = function(_, k)
	-- `require "medic.cluster"` is itself a ready cluster object with the global options.
	local default = rawget(M, "_default") or M.new()
	rawset(M, "_default", default)
	local v = default[k]
	if type(v) == "function" then return function(self, ...) return v(self == M and default or self, ...) end end
	return v
end })
