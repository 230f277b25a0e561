-- etcd-medic-api: 2
-- The least-privilege RBAC of a service account that runs one procedure, made from its declared permissions
-- (procedure.new{permissions = ...}, medic.permissions): a ServiceAccount in the etcd namespace; what is namespaced
-- as a Role and RoleBinding in each namespace it applies in; what is cluster-scoped as a ClusterRole and
-- ClusterRoleBinding. Nothing more: a permission no rule declares is not granted.
local perms = require "medic.permissions"

local M = {}

-- The name of a procedure's service account, roles and bindings.
function M.name(procedure) return "etcd-medic-" .. procedure end

function M.labels(procedure)
	return { ["app.kubernetes.io/part-of"] = "etcd-medic", ["app.kubernetes.io/component"] = procedure }
end

local function meta(name, procedure, namespace)
	return { name = name, namespace = namespace or nil, labels = M.labels(procedure) }
end

local function add_verbs(rule, verbs)
	local have = {}
	for _, v in ipairs(rule.verbs) do have[v] = true end
	for _, v in ipairs(verbs) do
		if not have[v] then rule.verbs[#rule.verbs + 1], have[v] = v, true end
	end
	table.sort(rule.verbs)
end

-- The rules of one scope (a namespace, or "" for the cluster), merged by resource: one rule per resource and set of
-- names, the verbs of every declaration of it together.
local function add_rule(scope, r)
	local resource = r.resource .. (r.subresource and ("/" .. r.subresource) or "")
	local key = r.group .. "|" .. resource .. "|" .. table.concat(r.names or {}, ",")
	local rule = scope.index[key]
	if not rule then
		rule = { apiGroups = { r.group }, resources = { resource }, verbs = {}, resourceNames = r.names }
		scope.index[key], scope.rules[#scope.rules + 1] = rule, rule
	end
	add_verbs(rule, r.verbs)
end

-- scopes[""] (the cluster) and scopes[namespace], each {rules = {...}}, and their names in order: the cluster, the
-- etcd namespace, then the others sorted.
local function scopes_of(decl, env)
	local scopes, names = {}, {}
	for _, r in ipairs(perms.rules(decl)) do
		for _, ns in ipairs(perms.namespaces(r, env)) do
			local key = ns or ""
			if not scopes[key] then scopes[key], names[#names + 1] = { rules = {}, index = {} }, key end
			add_rule(scopes[key], r)
		end
	end
	table.sort(names, function(a, b)
		local ra, rb = a == "" and 0 or a == env.namespace and 1 or 2, b == "" and 0 or b == env.namespace and 1 or 2
		if ra ~= rb then return ra < rb end
		return a < b
	end)
	return scopes, names
end

local function binding(kind, name, procedure, namespace, sa)
	local role_kind = kind == "ClusterRoleBinding" and "ClusterRole" or "Role"
	return { apiVersion = "rbac.authorization.k8s.io/v1", kind = kind, metadata = meta(name, procedure, namespace),
		roleRef = { apiGroup = "rbac.authorization.k8s.io", kind = role_kind, name = name },
		subjects = { { kind = "ServiceAccount", name = sa.name, namespace = sa.namespace } } }
end

-- M.objects(proc, env) -> the list of objects, in the order `kubectl apply` creates them; env = {namespace=} (the
-- etcd namespace, where the service account lives; and debug_namespace=, ["local"]= as the procedure's options).
function M.objects(proc, env)
	local name = M.name(proc.name)
	local sa = { name = name, namespace = env.namespace }
	local out = { { apiVersion = "v1", kind = "ServiceAccount", metadata = meta(name, proc.name, env.namespace) } }
	-- cluster-scoped names are one per cluster: another etcd namespace's must not take over this one's binding
	local cluster_name = env.namespace == "openshift-etcd" and name or (name .. "-" .. env.namespace)
	local scopes, names = scopes_of(proc.permissions, env)
	for _, ns in ipairs(names) do
		local cluster = ns == ""
		local n = cluster and cluster_name or name
		out[#out + 1] = { apiVersion = "rbac.authorization.k8s.io/v1", kind = cluster and "ClusterRole" or "Role",
			metadata = meta(n, proc.name, not cluster and ns or nil), rules = scopes[ns].rules }
		out[#out + 1] = binding(cluster and "ClusterRoleBinding" or "RoleBinding", n, proc.name,
			not cluster and ns or nil, sa)
	end
	return out
end

return M
