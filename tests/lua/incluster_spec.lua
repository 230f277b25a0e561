-- etcd-medic-api: 2
-- Spec of medic.permissions (a procedure's declared permissions: the SelfSubjectAccessReviews, the RBAC),
-- medic.incluster.yaml, .manifests, and the `rbac` and `manifests` commands.
package.path = "tests/lua/?.lua;" .. package.path
local spec = require "spec"
local json = require "medic.json"
local perms = require "medic.permissions"
local rbac = require "medic.incluster.rbac"
local manifests = require "medic.incluster.manifests"
local yaml = require "medic.incluster.yaml"
local it, eq, contains, lacks = spec.it, spec.eq, spec.contains, spec.lacks

local DECL = {
	perms.ETCDCTL,
	{ "get delete", "secrets" },
	{ "create get delete", "pods", at = "debug" },
	{ "get patch", "etcds.operator.openshift.io", at = "cluster" },
	{ "use", "securitycontextconstraints.security.openshift.io", at = "cluster", names = { "privileged" } },
	{ "get", "imagestreams.image.openshift.io", at = "ns:openshift", optional = true },
}
local ENV = { namespace = "openshift-etcd", exec_verb = "get" }

local function find(list, pred)
	for _, x in ipairs(list) do if pred(x) then return x end end
end

it("queries: one per verb, namespace and name; exec with the cluster's verb; optional ones not asked", function()
	local q = perms.queries(DECL, ENV)
	local descr = {}
	for i, x in ipairs(q) do descr[i] = perms.describe(x) end
	local all = table.concat(descr, "; ")
	contains(all, "get pods/exec in openshift-etcd")
	lacks(all, "create pods/exec")
	contains(all, "delete secrets in openshift-etcd")
	contains(all, "patch etcds.operator.openshift.io;")
	contains(all, "use securitycontextconstraints.security.openshift.io named privileged")
	lacks(all, "imagestreams")
	eq(find(q, function(x) return x.resource == "etcds" end).namespace, false, "a cluster-scoped query")
end)

it("queries: the debug pod's namespace is --debug-namespace, and there is none with --local", function()
	local q = perms.queries(DECL, { namespace = "openshift-etcd", debug_namespace = "dbg", exec_verb = "create" })
	eq(find(q, function(x) return x.verb == "create" and x.resource == "pods" and not x.subresource end).namespace,
		"dbg")
	q = perms.queries(DECL, { namespace = "openshift-etcd", ["local"] = true, exec_verb = "create" })
	eq(find(q, function(x) return x.verb == "create" and x.resource == "pods" and not x.subresource end), nil)
end)

it("rbac: a ServiceAccount, a ClusterRole for the cluster, a Role per namespace, rules merged per resource", function()
	local objs = rbac.objects({ name = "x", permissions = DECL }, ENV)
	eq(objs[1].kind, "ServiceAccount")
	eq(objs[1].metadata.name, "etcd-medic-x")
	eq(objs[2].kind, "ClusterRole")
	eq(objs[3].kind, "ClusterRoleBinding")
	eq(objs[4].kind, "Role")
	eq(objs[4].metadata.namespace, "openshift-etcd", "the etcd namespace first")
	eq(objs[6].metadata.namespace, "openshift")
	local pods = find(objs[4].rules, function(r) return r.resources[1] == "pods" end)
	eq(table.concat(pods.verbs, ","), "create,delete,get,list", "list (etcdctl) and the debug pod's verbs")
	local exec = find(objs[4].rules, function(r) return r.resources[1] == "pods/exec" end)
	eq(table.concat(exec.verbs, ","), "create,get", "exec granted with both verbs")
	local scc = find(objs[2].rules, function(r) return r.resources[1] == "securitycontextconstraints" end)
	eq(scc.resourceNames[1], "privileged")
	eq(objs[5].subjects[1].namespace, "openshift-etcd")
	eq(objs[5].roleRef.kind, "Role")
end)

it("rbac: another etcd namespace gets its own ClusterRole and ClusterRoleBinding", function()
	local objs = rbac.objects({ name = "x", permissions = DECL }, { namespace = "my-etcd" })
	eq(objs[2].metadata.name, "etcd-medic-x-my-etcd")
	eq(objs[3].roleRef.name, "etcd-medic-x-my-etcd")
	eq(objs[4].metadata.name, "etcd-medic-x", "a Role keeps the name: it is in its namespace")
end)

it("yaml: strings quoted, empty maps {} and arrays [], lists of maps", function()
	local out = yaml.documents { { apiVersion = "v1", kind = "X", metadata = { name = "true" },
		spec = { empty = {}, none = json.array {}, list = { { a = "1", b = 2 }, "s" }, flag = false } } }
	contains(out, '---\napiVersion: "v1"\nkind: "X"\nmetadata:\n  name: "true"\n')
	contains(out, "  empty: {}\n")
	contains(out, "  none: []\n")
	contains(out, '  list:\n    - a: "1"\n      b: 2\n    - "s"\n')
	contains(out, "  flag: false\n")
end)

local PROC = { name = "fix", permissions = DECL }
local STATUS = { name = "etcd-status", permissions = DECL, read_only = true }
local BACKUP = { name = "backup", permissions = DECL, job = { yes = true, control_plane = true,
	args = { "--node", "$(NODE_NAME)" } } }
local function command(proc, o)
	o.namespace = o.namespace or "openshift-etcd"
	local job = manifests.objects(proc, o)[1]
	local spec_ = job.kind == "CronJob" and job.spec.jobTemplate.spec or job.spec
	return table.concat(spec_.template.spec.containers[1].command, " "), spec_.template.spec, job
end

it("manifests: a repair runs --dry-run unless asked --yes; a report neither; backup --yes on a control-plane node",
	function()
		eq(command(PROC, {}), "etcd-medic run fix --dry-run")
		eq(command(PROC, { yes = true, args = { "--node", "m1" } }), "etcd-medic run fix --yes --node m1")
		eq(command(STATUS, {}), "etcd-medic run etcd-status")
		local cmd, pod = command(BACKUP, { namespace = "my-etcd" })
		eq(cmd, "etcd-medic run backup --yes --namespace my-etcd --node $(NODE_NAME)")
		eq(pod.nodeSelector["node-role.kubernetes.io/master"], "")
		eq(pod.serviceAccountName, "etcd-medic-backup")
		eq(select(2, command(PROC, {})).nodeSelector, nil, "a repair may run anywhere")
		local _, _, cron = command(BACKUP, { schedule = "0 * * * *" })
		eq(cron.kind, "CronJob")
		eq(cron.spec.concurrencyPolicy, "Forbid")
	end)

it("etcd-medic rbac/manifests: usage errors exit 2, naming what is wrong", function()
	local rc, _, err = spec.medic("rbac etcd-status --schedule '0 * * * *'")
	eq(rc, 2)
	contains(err, "--schedule is an option of manifests")
	rc, _, err = spec.medic("manifests no-such-script")
	eq(rc, 2)
	contains(err, "no script named 'no-such-script'")
	rc, _, err = spec.medic("manifests backup --schedule 'every hour'")
	eq(rc, 2)
	contains(err, "cron expression")
	rc, _, err = spec.medic("rbac")
	eq(rc, 2)
	contains(err, "rbac needs a script NAME")
end)

it("etcd-medic manifests backup -o json: the RBAC, then the Job, as one List", function()
	local rc, out = spec.medic("manifests backup -o json --image registry.example/etcd-medic:1")
	eq(rc, 0)
	local list = json.decode(out)
	eq(list.kind, "List")
	eq(list.items[1].kind, "ServiceAccount")
	local job = list.items[#list.items]
	eq(job.kind, "Job")
	eq(job.spec.template.spec.containers[1].image, "registry.example/etcd-medic:1")
end)

it("every shipped procedure declares permissions, and etcd-medic rbac prints them", function()
	for _, name in ipairs { "etcd-status", "backup", "defrag", "replace-crashlooping-member" } do
		local rc, out = spec.medic("rbac " .. name)
		eq(rc, 0, name)
		contains(out, 'kind: "ClusterRole"', name)
		contains(out, 'name: "etcd-medic-' .. name .. '"', name)
	end
end)

spec.done()
