-- etcd-medic-api: 2
-- A procedure as a Kubernetes Job (or, with a schedule, a CronJob) that runs it with its own service account
-- (medic.incluster.rbac): `etcd-medic manifests NAME`. How a procedure runs unattended is declared with it,
-- procedure.new{job = {...}}:
--   yes = true            it asks nothing a Job could not answer (a report, a backup): run with --yes
--   control_plane = true  it runs on a control-plane node (node selector and tolerations), its name in $(NODE_NAME)
--   args = {...}          its arguments in a Job ($(NODE_NAME) is the node the pod runs on)
-- A repair gets --yes only when asked (manifests --yes); without it the Job runs --dry-run: its log is the plan.
local rbac = require "medic.incluster.rbac"

local M = {}

M.STATE = "/var/lib/etcd-medic" -- XDG_STATE_HOME: the journal and a backup's local copy (an emptyDir)

local CONTROL_PLANE = {
	nodeSelector = { ["node-role.kubernetes.io/master"] = "" },
	tolerations = {
		{ key = "node-role.kubernetes.io/master", operator = "Exists", effect = "NoSchedule" },
		{ key = "node-role.kubernetes.io/control-plane", operator = "Exists", effect = "NoSchedule" },
		-- an unhealthy control plane is when this runs: stay on a node that is not Ready or unreachable
		{ key = "node.kubernetes.io/not-ready", operator = "Exists", effect = "NoExecute" },
		{ key = "node.kubernetes.io/unreachable", operator = "Exists", effect = "NoExecute" },
	},
}

-- The script's command line in the Job: NAME, then --yes or --dry-run, the declared args, the user's args.
function M.command(proc, opts)
	local job, cmd = proc.job or {}, { "etcd-medic", "run", proc.name }
	if not proc.read_only then cmd[#cmd + 1] = (job.yes or opts.yes) and "--yes" or "--dry-run" end
	if opts.namespace ~= "openshift-etcd" then
		cmd[#cmd + 1] = "--namespace"
		cmd[#cmd + 1] = opts.namespace
	end
	for _, list in ipairs { job.args or {}, opts.args or {} } do
		for _, a in ipairs(list) do cmd[#cmd + 1] = a end
	end
	return cmd
end

local function container(proc, opts)
	return {
		name = "etcd-medic", image = opts.image, command = M.command(proc, opts),
		env = {
			{ name = "XDG_STATE_HOME", value = M.STATE },
			{ name = "NODE_NAME", valueFrom = { fieldRef = { fieldPath = "spec.nodeName" } } },
		},
		resources = { requests = { cpu = "10m", memory = "64Mi" }, limits = { memory = "512Mi" } },
		securityContext = { allowPrivilegeEscalation = false, readOnlyRootFilesystem = true,
			capabilities = { drop = { "ALL" } } },
		volumeMounts = { { name = "state", mountPath = M.STATE }, { name = "tmp", mountPath = "/tmp" } },
		terminationMessagePolicy = "FallbackToLogsOnError",
	}
end

local function pod_spec(proc, opts)
	local spec = {
		serviceAccountName = rbac.name(proc.name),
		restartPolicy = "Never", -- each retry a new pod, its log kept; a repair resumes from its journal
		priorityClassName = "system-cluster-critical",
		securityContext = { runAsNonRoot = true, seccompProfile = { type = "RuntimeDefault" } },
		containers = { container(proc, opts) },
		volumes = { { name = "state", emptyDir = {} }, { name = "tmp", emptyDir = {} } },
	}
	if (proc.job or {}).control_plane then
		spec.nodeSelector, spec.tolerations = CONTROL_PLANE.nodeSelector, CONTROL_PLANE.tolerations
	end
	return spec
end

local function job_spec(proc, opts)
	local labels = rbac.labels(proc.name)
	return {
		backoffLimit = proc.read_only and 1 or 3,
		activeDeadlineSeconds = 3600,
		ttlSecondsAfterFinished = 86400,
		template = { metadata = { labels = labels }, spec = pod_spec(proc, opts) },
	}
end

-- M.objects(proc, opts) -> { Job or CronJob }; opts = {namespace=, image=, schedule=, yes=, args={...}}.
function M.objects(proc, opts)
	local name = rbac.name(proc.name)
	local metadata = { name = name, namespace = opts.namespace, labels = rbac.labels(proc.name) }
	if not opts.schedule then
		return { { apiVersion = "batch/v1", kind = "Job", metadata = metadata, spec = job_spec(proc, opts) } }
	end
	return { { apiVersion = "batch/v1", kind = "CronJob", metadata = metadata, spec = {
		schedule = opts.schedule, concurrencyPolicy = "Forbid", startingDeadlineSeconds = 300,
		successfulJobsHistoryLimit = 3, failedJobsHistoryLimit = 3,
		jobTemplate = { metadata = { labels = rbac.labels(proc.name) }, spec = job_spec(proc, opts) },
	} } }
end

return M
