-- etcd-medic-api: 2
-- What a procedure may do in the cluster, declared once (procedure.new{permissions = {...}}) and used twice: checked
-- before any change (ctx:need_permissions: SelfSubjectAccessReviews naming what is missing) and printed as the
-- least-privilege RBAC of a service account that runs it (`etcd-medic rbac NAME`, medic.incluster).
--
-- A declaration is a list of rules, or of lists of rules (a library's own set, such as medic.debugpod's):
--   { "VERB VERB ...", "RESOURCE[.GROUP][/SUBRESOURCE]", at = WHERE, why = "what it is for",
--     names = { "NAME" ... } (only these objects: RBAC's resourceNames), optional = true (granted, never required:
--     the procedure goes on without it) }
-- WHERE is where the rule applies:
--   nil          the etcd namespace (--namespace, openshift-etcd)
--   "cluster"    cluster-scoped resources (a ClusterRole)
--   "components" the namespaces of the static pods a backup saves (medic.backup.COMPONENTS)
--   "debug"      the namespace of the debug pods (--debug-namespace, else the etcd namespace); not with --local
--   "ns:NAME"    the namespace NAME
-- `pods/exec` is granted with both verbs a client may be authorized with (get: a WebSocket exec until Kubernetes
-- 1.35; create: SPDY, and WebSocket from 1.35), and checked with the one this cluster uses (cluster:exec_verb()).
local M = {}

-- Every procedure that changes the cluster holds the Lease (medic.procedure.lease): one run per cluster.
M.LEASE = { "get create update delete", "leases.coordination.k8s.io", why = "one run per cluster (the Lease)" }
-- The journal in the cluster (medic.journal.configmap): a run in a pod keeps it there, and every run looks there first.
M.JOURNAL = { "get list create update delete", "configmaps", why = "the journal (a ConfigMap; one per cluster)" }
-- The cluster's ID (cluster:id(), from ClusterVersion): one journal per cluster.
M.CLUSTER_ID = { "get", "clusterversions.config.openshift.io", at = "cluster", why = "the cluster's ID" }
-- The cluster's network (openshift.preferred_internal_ip): which of a node's addresses its member has (IPv4/IPv6).
M.NETWORK = { "get", "networks.config.openshift.io", at = "cluster", names = { "cluster" },
	why = "which node address a member has (the service network's family)" }
-- Reading etcd through an etcd pod (etcd.via_exec): find a Ready pod, run etcdctl in it.
M.ETCDCTL = {
	{ "list", "pods", why = "the etcd pods" },
	{ "get create", "pods/exec", why = "etcdctl in an etcd pod" },
}
-- A node's files through a debug pod (medic.node.open_remote, medic.debugpod): the node checked, the debug image
-- from the tools image stream, the pod created, awaited, exec'ed into and deleted. In a pod of its own, the
-- debug pod is privileged: OpenShift admits it only if the user may `use` the privileged SCC (a cluster-admin may).
M.DEBUG_POD = {
	{ "get", "nodes", at = "cluster", why = "the node exists" },
	{ "get", "imagestreams.image.openshift.io", at = "ns:openshift", names = { "tools" }, optional = true,
		why = "the debug image (openshift/tools; else --debug-image or the fallback)" },
	{ "create get delete", "pods", at = "debug", why = "the debug pod" },
	{ "get create", "pods/exec", at = "debug", why = "commands on the node" },
	{ "use", "securitycontextconstraints.security.openshift.io", at = "cluster", names = { "privileged" },
		why = "the debug pod is privileged (OpenShift's SCC admission)" },
}

-- A backup (medic.backup, as cluster-backup.sh): no component Progressing, their static pods' revisions on the node.
M.BACKUP = {
	{ "get", "clusteroperators.config.openshift.io", at = "cluster", why = "no component Progressing" },
	{ "list", "pods", at = "components", why = "the static pods' revisions" },
}

-- "pods/exec" -> "pods", "", "exec"; "leases.coordination.k8s.io" -> "leases", "coordination.k8s.io", nil
local function parse_resource(s)
	local base, sub = s:match("^([^/]+)/?(.*)$")
	local resource, group = base:match("^([^.]+)%.?(.*)$")
	return resource, group, sub ~= "" and sub or nil
end

local function words(s)
	local out = {}
	for w in s:gmatch("%S+") do out[#out + 1] = w end
	return out
end

local function add_rules(out, decl)
	if type(decl[1]) == "table" then
		for _, d in ipairs(decl) do add_rules(out, d) end
		return out
	end
	assert(type(decl[1]) == "string" and type(decl[2]) == "string", "a permission: { \"VERBS\", \"RESOURCE\" }")
	local resource, group, sub = parse_resource(decl[2])
	out[#out + 1] = { verbs = words(decl[1]), resource = resource, group = group, subresource = sub,
		at = decl.at, why = decl.why, names = decl.names, optional = decl.optional }
	return out
end

-- permissions.rules(decl) -> { {verbs={...}, resource=, group= ("" for the core group), subresource=, at=, why=,
-- names=, optional=} ... }
function M.rules(decl) return add_rules({}, decl or {}) end

-- The namespaces a rule applies in ({false} for a cluster-scoped one); env = {namespace=, debug_namespace=,
-- ["local"]=}. A "debug" rule has none with --local.
function M.namespaces(rule, env)
	local at = rule.at
	if at == "cluster" then return { false } end
	if at == "components" then
		local list = {}
		for _, c in ipairs(require("medic.backup").COMPONENTS) do list[#list + 1] = c.namespace end
		return list
	end
	if at == "debug" then return env["local"] and {} or { env.debug_namespace or env.namespace } end
	if at and at:match("^ns:") then return { at:sub(4) } end
	assert(at == nil, "permission: unknown at = " .. tostring(at))
	return { env.namespace }
end

-- The SelfSubjectAccessReviews that check a declaration: { {verb=, resource=, subresource=, group=, namespace=,
-- name=} ...}
-- (namespace false: cluster-scoped), one per verb and namespace, each asked once; the optional rules are not asked.
-- env.exec_verb: the verb this cluster authorizes an exec with.
function M.queries(decl, env)
	local out, seen = {}, {}
	for _, r in ipairs(M.rules(decl)) do
		if r.optional then goto next_rule end
		local verbs = (r.resource == "pods" and r.subresource == "exec" and env.exec_verb) and { env.exec_verb }
			or r.verbs
		for _, ns in ipairs(M.namespaces(r, env)) do
			for _, verb in ipairs(verbs) do
				for _, name in ipairs(r.names or { false }) do
					local key = table.concat({ verb, r.group, r.resource, r.subresource or "", tostring(ns),
						tostring(name) }, "|")
					if not seen[key] then
						seen[key] = true
						out[#out + 1] = { verb = verb, resource = r.resource, subresource = r.subresource,
							group = r.group ~= "" and r.group or nil, namespace = ns, name = name or nil }
					end
				end
			end
		end
		::next_rule::
	end
	return out
end

-- "get pods/exec in openshift-etcd", "use securitycontextconstraints.security.openshift.io/privileged" (in messages)
function M.describe(q)
	return string.format("%s %s%s%s%s%s", q.verb, q.resource, q.group and ("." .. q.group) or "",
		q.subresource and ("/" .. q.subresource) or "", q.name and (" named " .. q.name) or "",
		q.namespace and (" in " .. q.namespace) or "")
end

return M
