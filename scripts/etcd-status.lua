-- etcd-medic-api: 2
-- Read-only report: etcd members, health, pods, operator revisions and conditions, findings, and a one-line verdict.
--
-- Nothing is changed. Each finding names its next step; the verdict says "healthy", or which procedure applies and
-- the command to run. `-o json` prints the same as one JSON document (docs/etcd-status.schema.json); the exit code
-- is 0 healthy, 1 could not check, 4 warnings, 5 critical findings (docs/etcd-status.md).
local procedure = require "medic.procedure"
local openshift = require "medic.openshift"
local json = require "medic.json"
local gopts = require "medic.options"
local ui = require "medic.ui"
local perms = require "medic.permissions"
local finding = require "etcd-status.finding"
local readings = require "etcd-status.readings"
local document = require "etcd-status.document"
local report = require "etcd-status.report"

-- A number of seconds, not negative: an option's check (refused before any request).
local function seconds(v)
	if v >= 0 then return true end
	return nil, "must be 0 or more seconds, not " .. tostring(v)
end

local P = procedure.new {
	name = "etcd-status",
	title = "A read-only report: etcd pods, members and health, the operator's revisions, findings with their next "
		.. "steps, and a verdict",
	read_only = true,

	-- What the verdict sends the admin to (a site file may point at its own runbooks).
	facts = {
		crashloop = "etcd-medic run replace-crashlooping-member --node %s",
		machine_not_running = "etcd-medic run replace-unhealthy-member --node %s",
		quorum_restore = "see the etcd disaster recovery (quorum restore) documentation",
		etcd_cr = "/apis/operator.openshift.io/v1/etcds/cluster",
		not_repairs = { backup = true }, -- procedures whose unfinished run is listed but changes no verdict
		nospace = "etcd-medic run defrag",
		-- The finding modules, each `check(ctx) -> {findings}` (docs/etcd-status.md); a site file may add its own.
		findings = { "etcd-status.members", "etcd-status.etcd", "etcd-status.operator", "etcd-status.certs",
			"etcd-status.backups" },
	},

	-- What it reads in the cluster (medic.permissions): `etcd-medic rbac` prints it as RBAC.
	permissions = {
		perms.CLUSTER_ID, perms.NETWORK, perms.ETCDCTL,
		{ "list", "nodes", at = "cluster", why = "the control-plane nodes" },
		{ "get", "etcds.operator.openshift.io", at = "cluster", why = "the operator's revisions and conditions" },
		{ "get", "clusteroperators.config.openshift.io", at = "cluster", why = "the release (certificate rotation)" },
		{ "get", "secrets", optional = true, why = "certificate expiry (tls.crt only; no key is read or printed)" },
		{ "get", "secrets", at = "ns:openshift-config", optional = true, why = "the signer CAs before 4.16" },
		{ "get list", "configmaps", why = "runs left unfinished (the journals in the cluster)" },
		{ "create update", "configmaps", optional = true, why = "the report's ConfigMap (--report-configmap)" },
	},

	-- As a Job (etcd-medic manifests etcd-status): the -o json document in its log (and, in a pod, in the ConfigMap
	-- etcd-medic-report), its exit code the verdict's severity.
	job = { args = { "-o", "json" } },

	options = {
		{ name = "namespace", arg = "NS", default = gopts.namespace or "openshift-etcd", help = "the etcd namespace" },
		{ name = "state-dir", arg = "DIR", help = "where the repairs' journals are (default: the procedures' default)" },
		{ name = "report-configmap", arg = "NAME", help = "also keep the report (-o json's document, the verdict, the "
			.. "exit code) in this ConfigMap of the namespace; in a pod etcd-medic-report unless NAME is none" },
		{ name = "output", arg = "FORMAT", choices = { "human", "json" }, default = "human",
			help = "human (the report), or json: one JSON document (docs/etcd-status.schema.json); also -o json" },
		{ name = "learner-grace", arg = "SECONDS", number = true, default = 300, check = seconds,
			help = "a learner older than this is stuck (a warning; younger: info)" },
		{ name = "rollout-grace", arg = "SECONDS", number = true, default = 1800, check = seconds,
			help = "a node behind the latest revision for longer than this is stuck (a warning; shorter: info)" },
		{ name = "backup-dir", arg = "DIR", help = "check the newest backup in DIR on this machine (default: "
			.. "STATE_DIR/backups, else /home/core/assets/backup, when one of them exists)" },
		{ name = "backup-max-age", arg = "HOURS", number = true, default = 24,
			help = "a newest backup older than this is a finding (a warning)" },
	},

	state = {
		nodes = "the control-plane nodes",
		pods = "the etcd pods, by node name",
		members = "the member list (nil when it cannot be read)",
		health = "endpoint health of every member",
		healthy = "member ID -> healthy",
		alarms = "the alarms read with the health (etcd-status.readings reads them only without)",
		members_error = "why the member list could not be read",
		rollout = "the operator's rollout state (nil when etcd/cluster cannot be read)",
		repairs = "unfinished journals of this cluster: { {path=, procedure=, node=, started=} ... }",
		cr = "etcds.operator.openshift.io/cluster (nil when it cannot be read)",
		etcd = "status, alarms and hashes of the members (etcd-status.readings)",
		findings = "the findings, sorted, severity first",
		verdict = "{ state =, summary =, next = }",
	},
}

-- In json mode nothing but the document goes to stdout: the sections read and remember, and print nothing.
local quiet = false
local function say(fmt, ...) if not quiet then ui.say(fmt, ...) end end
local function section(title) say(""); say("%s", title) end

------------------------------------------------------------------------------------------------ sections

local function pods(ctx)
	local ns = ctx.opts.namespace
	ctx.state.nodes = openshift.etcd_nodes(ctx.cluster:k8s())
	local by_node = {}
	section("etcd pods (" .. ns .. "):")
	for _, p in ipairs(openshift.etcd_pods(ctx.cluster:k8s(), ns)) do
		by_node[p.spec.nodeName] = p
		say("  %-40s %-30s %s%s", p.metadata.name, p.spec.nodeName or "?", openshift.pod_state(p),
			openshift.pod_ready(p) and ", Ready" or ", not Ready")
	end
	for _, n in ipairs(ctx.state.nodes) do
		if not by_node[n.metadata.name] then say("  (no etcd pod on %s)", n.metadata.name) end
	end
	ctx.state.pods = by_node
end

-- With a NOSPACE alarm every etcd pod fails its readiness probe, while etcdctl still answers in each: then a pod
-- whose etcdctl container runs will do (as defrag does), else the member list would look lost.
local function through_any_pod(ctx)
	if ctx.cluster.client or gopts.etcd_endpoints then return end
	local list = openshift.etcd_pods(ctx.cluster:k8s(), ctx.opts.namespace)
	if openshift.healthy_pod(list) then return end
	for _, p in ipairs(list) do
		if openshift.container_running(p, "etcdctl") then
			ctx.cluster.etcd_pod = p.metadata.name
			ctx.cluster.client = openshift.etcd_client(ctx.cluster:k8s(), ctx.opts.namespace, p, gopts)
			return
		end
	end
end

local function members(ctx)
	through_any_pod(ctx)
	local list, health, healthy, alarms = ctx.cluster:read_members()
	local pod = ctx.cluster.etcd_pod
	section("members" .. ((pod and pod ~= "(direct)") and (" (through " .. pod .. ")") or "") .. ":")
	if not list then
		ctx.state.members_error = tostring(health)
		say("  cannot read the member list: %s", ctx.state.members_error)
		return
	end
	ctx.state.members, ctx.state.health, ctx.state.healthy, ctx.state.alarms = list, health, healthy, alarms
	for _, line in ipairs(openshift.member_table(list)) do say("  %s", line) end
	say("")
	for _, line in ipairs(openshift.health_lines(health, list)) do say("  %s", line) end
end

local function bad_condition(c)
	return (c.type:match("Degraded$") and c.status == "True") or (c.type:match("Available$") and c.status ~= "True")
		or (c.type:match("Progressing$") and c.status == "True")
end

local function operator(ctx)
	local cr = ctx.cluster:k8s():get(ctx.facts.etcd_cr)
	ctx.state.cr = cr
	section("operator (etcd/cluster):")
	if not cr then say("  cannot read etcd/cluster"); return end
	local r = openshift.rollout(cr)
	if r.total > 0 then
		ctx.state.rollout = r
		say("  latest revision %d; %d of %d nodes at it%s", r.latest, r.at_latest, r.total,
			r.in_progress and " (rollout in progress)" or "")
	else -- no status yet (a new cluster), or a copy without it (an Insights archive)
		say("  no node revisions reported (etcd/cluster has no status.nodeStatuses)")
	end
	for _, st in ipairs((cr.status or {}).nodeStatuses or {}) do
		say("    %-40s current %s%s", st.nodeName, tostring(st.currentRevision),
			(st.targetRevision or 0) ~= 0 and (" target " .. tostring(st.targetRevision)) or "")
	end
	local over = (cr.spec or {}).unsupportedConfigOverrides
	if type(over) == "table" and next(over) then say("  unsupportedConfigOverrides: %s", json.encode(over)) end
	for _, c in ipairs((cr.status or {}).conditions or {}) do
		if bad_condition(c) or c.type == "EtcdMembersAvailable" then
			say("  %-38s %-5s %s", c.type, c.status, c.message or c.reason or "")
		end
	end
end

------------------------------------------------------------------------------------------------ findings

-- What the finding modules read (docs/etcd-status.md, "The finding modules"): the sections' readings, plus the
-- members' status, alarms and hashes, the quota, and the cluster handle for modules that read more.
local function finding_ctx(ctx)
	local st = ctx.state
	local client = st.members and ctx.cluster.client
	st.etcd = st.members and readings.etcd(client, st.members, st.alarms) or {}
	return {
		now = os.time(), namespace = ctx.opts.namespace, opts = ctx.opts, cluster = ctx.cluster,
		nodes = st.nodes or {}, network = ctx.cluster:k8s():get(openshift.NETWORK), pods = st.pods or {},
		members = st.members, healthy = st.healthy, health = st.health, members_error = st.members_error,
		etcd = st.etcd, quota = readings.quota(st.pods, st.cr), cr = st.cr,
	}
end

local function evidence_line(e)
	local keys, parts = {}, {}
	for k in pairs(e) do keys[#keys + 1] = k end
	table.sort(keys)
	for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. tostring(e[k]) end
	return table.concat(parts, " ")
end

local function findings(ctx)
	ctx.state.findings = finding.collect(ctx.facts.findings, finding_ctx(ctx))
	local list = ctx.state.findings
	section(#list == 0 and "findings: none" or string.format("findings (%d):", #list))
	for _, f in ipairs(list) do
		say("  %-8s %s %s: %s", f.severity:upper(), f.code, f.subject, f.summary)
		say("           next: %s", f.next)
		if next(f.evidence) then say("           evidence: %s", evidence_line(f.evidence)) end
	end
end

------------------------------------------------------------------------------------------------ verdict

-- The node of a member: by name, else by a peer URL's host against the nodes' InternalIPs.
local function node_of(ctx, m)
	for _, n in ipairs(ctx.state.nodes) do
		if n.metadata.name == m.name then return n end
	end
	local network = ctx.cluster:k8s():get(openshift.NETWORK)
	for _, n in ipairs(ctx.state.nodes) do
		if openshift.has_peer_ip(m, openshift.preferred_internal_ip(n, network)) then return n end
	end
end

-- A verdict: state (UPPER_SNAKE, for machines), summary (the line people read, state first), next (a command, or
-- nil when there is nothing to do).
local function verdict_is(state, text, next_step)
	return { state = state, summary = text, next = next_step }
end

local function all_healthy(ctx, count)
	local r = ctx.state.rollout
	local c = openshift.member_counts(ctx.state.members, ctx.state.healthy)
	if c.learners > 0 or (r and r.in_progress) then
		return verdict_is("RECOVERING", "RECOVERING: every member is healthy; a rollout or learner promotion is in "
			.. "progress", "etcd-medic run etcd-status again in a few minutes")
	end
	if c.voting ~= #ctx.state.nodes then
		return verdict_is("DEGRADED", string.format("DEGRADED: %d voting members for %d control-plane nodes", c.voting,
			#ctx.state.nodes), "see the findings")
	end
	return verdict_is("HEALTHY", string.format("HEALTHY: %d of %d members healthy, %s", count, count,
		r and ("every node at revision " .. r.latest) or "node revisions unknown"))
end

local function one_unhealthy(ctx, m)
	local node = node_of(ctx, m)
	local name = node and node.metadata.name or m.name
	local state = "ONE_MEMBER_UNHEALTHY"
	if node and not openshift.node_ready(node) then
		local cmd = ctx.facts.machine_not_running:format(name)
		return verdict_is(state, "ONE MEMBER UNHEALTHY (" .. name .. ", node not Ready): run " .. cmd, cmd)
	end
	local p = ctx.state.pods[name]
	if p and openshift.crashlooping(p) then
		local cmd = ctx.facts.crashloop:format(name)
		return verdict_is(state, "ONE MEMBER UNHEALTHY (" .. name .. ", etcd pod crash-looping): run " .. cmd, cmd)
	end
	return verdict_is(state, "ONE MEMBER UNHEALTHY (" .. tostring(name) .. ", " .. (p and openshift.pod_state(p)
		or "no etcd pod") .. "): look at the pod's logs before replacing it",
		"oc logs -n " .. ctx.opts.namespace .. " etcd-" .. tostring(name) .. " -c etcd")
end

-- No etcd pod at all in the namespace: a wrong -n (a typo, or not OpenShift's namespace), not a lost quorum.
local function no_pods(ctx)
	if next(ctx.state.pods) then return nil end
	local ns = ctx.opts.namespace
	local _, _, code = ctx.cluster:k8s():get("/api/v1/namespaces/" .. ns)
	local why = code == "NotFound" and ("the namespace " .. ns .. " does not exist") or ("no etcd pod in " .. ns)
	return verdict_is("UNKNOWN", "UNKNOWN: " .. why .. "; is -n/--namespace right? (OpenShift runs etcd in "
		.. "openshift-etcd)", "etcd-medic run etcd-status -n NAMESPACE")
end

-- A NOSPACE alarm makes every member's health false: that is no lost quorum, and the way out is a defragmentation.
local function nospace(ctx)
	for _, a in ipairs((ctx.state.etcd or {}).alarms or {}) do
		if a.alarm == "NOSPACE" then
			return verdict_is("NOSPACE", "NOSPACE: the database reached its quota and etcd refuses writes: run "
				.. ctx.facts.nospace, ctx.facts.nospace)
		end
	end
end

local function verdict_of(ctx)
	local list = ctx.state.members
	if not list then
		return no_pods(ctx) or verdict_is("UNKNOWN", "UNKNOWN: the member list cannot be read ("
			.. tostring(ctx.state.members_error) .. "); " .. ctx.facts.quorum_restore, ctx.facts.quorum_restore)
	end
	local alarm = nospace(ctx)
	if alarm then return alarm end
	local unhealthy = {}
	for _, m in ipairs(list) do
		if not ctx.state.healthy[m.id] and not m.is_learner then unhealthy[#unhealthy + 1] = m end
	end
	if #unhealthy == 0 then return all_healthy(ctx, #list) end
	if #unhealthy > 1 then
		return verdict_is("QUORUM_AT_RISK", string.format("QUORUM AT RISK: %d of %d members unhealthy; replacing one "
			.. "member will not do: %s", #unhealthy, #list, ctx.facts.quorum_restore), ctx.facts.quorum_restore)
	end
	return one_unhealthy(ctx, unhealthy[1])
end

-- Runs left unfinished on this cluster (journals in the state directory and in the cluster): said, with how to
-- resume.
local function repairs(ctx)
	local journal = require "medic.journal"
	local dir, found = journal.state_dir(ctx.opts.state_dir), {}
	local stores = { dir and require("medic.journal.file").new(dir),
		require("medic.journal.configmap").new(ctx.cluster:k8s(), ctx.opts.namespace) }
	for _, store in ipairs(stores) do
		local list, err = journal.unfinished(store, ctx.cluster:id())
		if not list then say("  (the journals in the cluster cannot be read: %s)", tostring(err)) end
		for _, r in ipairs(list or {}) do found[#found + 1] = r end
	end
	ctx.state.repairs = found
	if #found == 0 then return end
	section("runs left unfinished:")
	for _, r in ipairs(found) do
		say("  %s of %s, started %s (journal %s): resume with etcd-medic run %s --node %s", r.procedure,
			tostring(r.node), tostring(r.started), r.path, r.procedure, tostring(r.node))
	end
end

local function repair_in_progress(ctx)
	for _, r in ipairs(ctx.state.repairs) do
		if not ctx.facts.not_repairs[r.procedure] then
			local cmd = string.format("etcd-medic run %s --node %s", r.procedure, tostring(r.node))
			return verdict_is("REPAIR_IN_PROGRESS", string.format("REPAIR IN PROGRESS (%s): a %s run stopped before its "
				.. "end; resume with %s", tostring(r.node), r.procedure, cmd), cmd)
		end
	end
end

-- A healthy (or recovering) verdict with findings that need attention says so, and sends to the worst one's next
-- step.
local function with_findings(v, list)
	local worst = finding.worst(list)
	if (v.state ~= "HEALTHY" and v.state ~= "RECOVERING") or (worst ~= "critical" and worst ~= "warning") then
		return v
	end
	local n = 0
	for _, f in ipairs(list) do if f.severity ~= "info" then n = n + 1 end end
	return verdict_is(v.state, string.format("%s; %d finding(s) need attention", v.summary, n), list[1].next)
end

-- The process's exit code: 5 critical, 4 warning, 0 healthy; 1 (could not check) when the member list could not be
-- read or no etcd pod was found.
local function exit_code(ctx)
	if ctx.state.verdict.state == "UNKNOWN" then return finding.EXIT.could_not_check end
	return finding.exit_code(ctx.state.findings)
end

-- The report also in a ConfigMap (a Job's, for the fleet); a failure to write it is said, and changes no verdict.
local function publish(ctx, text, code)
	local name = report.name(ctx)
	if not name then return end
	local ok, err = report.publish(ctx.cluster:k8s(), ctx.opts.namespace, name, text, ctx.state.verdict, code)
	if not ok then io.stderr:write("etcd-status: the report is not in the cluster: ", tostring(err), "\n") end
	if ok then say("(report kept in configmap %s/%s)", ctx.opts.namespace, name) end
end

local function finish(ctx)
	local code = exit_code(ctx)
	local text = document.encode(ctx.state)
	if quiet then io.stdout:write(text, "\n"); io.stdout:flush() end
	publish(ctx, text, code)
	if code ~= 0 then
		error({ exit_code = code, said = true, message = "etcd-status: " .. ctx.state.verdict.summary }, 0)
	end
end

local function verdict(ctx)
	local v = repair_in_progress(ctx) or with_findings(verdict_of(ctx), ctx.state.findings)
	ctx.state.verdict = v
	section("verdict: " .. v.summary)
	finish(ctx)
end

local function start(ctx)
	quiet = ctx.opts.output == "json"
	pods(ctx)
end

P:report {
	{ "pods", "the etcd pods, and the control-plane nodes without one", start },
	{ "members", "the member list and every member's health, through a Ready etcd pod", members },
	{ "operator", "the operator's revisions, overrides and conditions", operator },
	{ "repairs", "runs left unfinished on this cluster (this machine's journals and the cluster's)", repairs },
	{ "findings", "every finding module's findings, severity first, each with its next step", findings },
	{ "verdict", "healthy, or which procedure applies and the command to run", verdict },
}

return P:main(...)
