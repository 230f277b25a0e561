-- etcd-medic-api: 1
-- OpenShift etcd helpers: etcd pods and their states, members matched to nodes, revisions, quorum gate, secrets,
-- patches.
--
-- Plain functions over decoded API objects (so they are easy to test and to reuse by hand in the REPL), plus a
-- few that read through a medic.k8s client. Facts and their sources: reference/openshift.md §0, §1, §4, §6.
local json = require "medic.json"

local M = {}

M.OVERRIDE_KEY = "useUnsupportedUnsafeNonHANonProductionUnstableEtcd"
M.ETCD_CR = "/apis/operator.openshift.io/v1/etcds/cluster"
M.CLUSTER_VERSION = "/apis/config.openshift.io/v1/clusterversions/version"

local function ns_path(ns, kind, name)
	return "/api/v1/namespaces/" .. ns .. "/" .. kind .. (name and ("/" .. name) or "")
end
M.ns_path = ns_path

------------------------------------------------------------------------------------------------ names

-- A node name as Kubernetes accepts it (DNS-1123 subdomain).
function M.valid_node_name(name)
	if type(name) ~= "string" or #name == 0 or #name > 253 then return false end
	for label in (name .. "."):gmatch("([^.]*)%.") do
		if not label:match("^[a-z0-9]$") and not label:match("^[a-z0-9][a-z0-9%-]*[a-z0-9]$") then return false end
	end
	return true
end

-- The per-node secrets the procedure deletes (peer, serving, metrics), in the document's order.
function M.secret_names(node)
	return { "etcd-peer-" .. node, "etcd-serving-" .. node, "etcd-serving-metrics-" .. node }
end

function M.pod_name(node) return "etcd-" .. node end

------------------------------------------------------------------------------------------------ objects

function M.condition(obj, ctype)
	for _, c in ipairs(((obj or {}).status or {}).conditions or {}) do
		if c.type == ctype then return c end
	end
end

function M.container_status(pod, name)
	for _, s in ipairs((pod.status or {}).containerStatuses or {}) do
		if s.name == name then return s end
	end
end

function M.pod_ready(pod)
	local c = M.condition(pod, "Ready")
	return (pod.status or {}).phase == "Running" and c ~= nil and c.status == "True"
end

function M.container_running(pod, name)
	local s = M.container_status(pod, name)
	return s ~= nil and (s.state or {}).running ~= nil
end

-- Is the pod's etcd container crash-looping? Between restarts it shows terminated/Error rather than
-- waiting/CrashLoopBackOff (reference/openshift.md §4.1), so both count. Returns bool, a short state text.
function M.crashlooping(pod)
	local s = M.container_status(pod, "etcd")
	if not s then return false, "no etcd container status" end
	local st = s.state or {}
	if st.waiting and (st.waiting.reason == "CrashLoopBackOff" or st.waiting.reason == "Error") then
		return true, st.waiting.reason .. ", " .. tostring(s.restartCount or 0) .. " restarts"
	end
	if st.terminated and (st.terminated.exitCode or 0) ~= 0 then
		return true, "terminated (" .. tostring(st.terminated.reason or st.terminated.exitCode) .. "), " ..
			tostring(s.restartCount or 0) .. " restarts"
	end
	local last = (s.lastState or {}).terminated
	if st.running and not s.ready and last and (last.exitCode or 0) ~= 0 and (s.restartCount or 0) >= 1 then
		-- restarted again after failing: between two crashes it runs for a moment
		return true, "running again after " .. tostring(s.restartCount) .. " failed starts, not ready"
	end
	if st.running then return false, s.ready and "running, ready" or "running, not ready" end
	return false, st.waiting and ("waiting: " .. tostring(st.waiting.reason)) or "unknown state"
end

-- One short word-ish summary of a pod for tables: "Running 4/4", "CrashLoopBackOff 3/4 (7 restarts)".
function M.pod_state(pod)
	local statuses = (pod.status or {}).containerStatuses or {}
	local ready, restarts, reason = 0, 0, nil
	for _, s in ipairs(statuses) do
		if s.ready then ready = ready + 1 end
		restarts = restarts + (s.restartCount or 0)
		local w = (s.state or {}).waiting
		local t = (s.state or {}).terminated
		if not reason and w and w.reason then reason = w.reason end
		if not reason and t then reason = t.reason or "Terminated" end
	end
	return string.format("%s %d/%d, %d restarts", reason or (pod.status or {}).phase or "Unknown", ready, #statuses,
		restarts)
end

function M.is_control_plane(node)
	local labels = (node.metadata or {}).labels or {}
	return labels["node-role.kubernetes.io/master"] ~= nil or labels["node-role.kubernetes.io/control-plane"] ~= nil
end

function M.internal_ip(node)
	for _, a in ipairs((node.status or {}).addresses or {}) do
		if a.type == "InternalIP" then return a.address end
	end
end

function M.node_ready(node)
	local c = M.condition(node, "Ready")
	return c ~= nil and c.status == "True"
end

-- The host of a URL: "https://10.0.0.1:2380" -> "10.0.0.1", "https://[fd00::1]:2380" -> "fd00::1".
function M.url_host(url)
	if type(url) ~= "string" then return nil end
	return url:match("^%a[%w+.-]*://%[([^%]]+)%]") or url:match("^%a[%w+.-]*://([^:/]+)")
end

------------------------------------------------------------------------------------------------ members

local function has_peer_ip(member, ip)
	for _, u in ipairs(member.peer_urls or {}) do
		if M.url_host(u) == ip then return true end
	end
	return false
end
M.has_peer_ip = has_peer_ip

-- Finds the member of `node`: its name AND a peer URL host must both match (never a substring).
-- Returns member, or nil and why: "none" (no member has either), or "mismatch" with a message naming the
-- member whose name and IP disagree.
function M.match_member(members, node, ip)
	local exact, partial
	for _, m in ipairs(members) do
		local by_name, by_ip = m.name == node, has_peer_ip(m, ip)
		if by_name and by_ip then exact = m
		elseif (by_name or by_ip) and m.name ~= "" then partial = m end
	end
	if exact then return exact end
	if partial then
		return nil, "mismatch", string.format("member %s is named %s with peer URLs %s, but node %s has InternalIP %s",
			partial.id, partial.name, table.concat(partial.peer_urls or {}, ","), node, tostring(ip))
	end
	return nil, "none"
end

-- Health per member ID: true when one of the member's client URLs reported healthy. A member without
-- client URLs (added, never started) is unhealthy.
function M.health_by_member(members, health)
	local by_endpoint = {}
	for _, h in ipairs(health or {}) do by_endpoint[h.endpoint] = h end
	local result = {}
	for _, m in ipairs(members) do
		local ok = false
		for _, u in ipairs(m.client_urls or {}) do
			local h = by_endpoint[u]
			if h and h.healthy then ok = true end
		end
		result[m.id] = ok
	end
	return result
end

-- Voting members, learners and healthy counts; quorum of the voting members.
function M.member_counts(members, healthy_by_id)
	local voting, learners, healthy = 0, 0, 0
	for _, m in ipairs(members) do
		if m.is_learner then learners = learners + 1 else voting = voting + 1 end
		if healthy_by_id[m.id] then healthy = healthy + 1 end
	end
	return { voting = voting, learners = learners, healthy = healthy, quorum = voting // 2 + 1 }
end

------------------------------------------------------------------------------------------------ printing

local function center(s, w)
	local left = (w - #s) // 2
	return string.rep(" ", left) .. s .. string.rep(" ", w - #s - left)
end

-- `etcdctl member list -w table`, as lines.
function M.member_table(members)
	local head = { "ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER" }
	local rows = {}
	for _, m in ipairs(members) do
		rows[#rows + 1] = { m.id, (m.started == false or m.name == "") and "unstarted" or "started", m.name or "",
			table.concat(m.peer_urls or {}, ","), table.concat(m.client_urls or {}, ","), m.is_learner and "true" or "false" }
	end
	local widths = {}
	for i, h in ipairs(head) do
		widths[i] = #h
		for _, r in ipairs(rows) do widths[i] = math.max(widths[i], #r[i]) end
	end
	local sep = "+"
	for _, w in ipairs(widths) do sep = sep .. string.rep("-", w + 2) .. "+" end
	local function line(cells, fmt)
		local parts = {}
		for i, c in ipairs(cells) do parts[i] = " " .. fmt(c, widths[i]) .. " " end
		return "|" .. table.concat(parts, "|") .. "|"
	end
	local out = { sep, line(head, center), sep }
	for _, r in ipairs(rows) do out[#out + 1] = line(r, function(c, w) return string.rep(" ", w - #c) .. c end) end
	out[#out + 1] = sep
	return out
end

local function took_text(took)
	if type(took) == "number" then return string.format("%.6fms", took < 60 and took * 1000 or took) end
	return tostring(took or "?")
end

-- `etcdctl endpoint health --cluster`, as lines.
function M.health_lines(health)
	local out = {}
	local sorted = {}
	for _, h in ipairs(health or {}) do sorted[#sorted + 1] = h end
	table.sort(sorted, function(a, b) return tostring(a.endpoint) < tostring(b.endpoint) end)
	for _, h in ipairs(sorted) do
		if h.healthy then
			out[#out + 1] = string.format("%s is healthy: successfully committed proposal: took = %s", h.endpoint,
				took_text(h.took))
		else
			out[#out + 1] = string.format("%s is unhealthy: failed to commit proposal: %s", h.endpoint,
				tostring(h.error or "unknown error"))
		end
	end
	return out
end

------------------------------------------------------------------------------------------------ operator

-- "4.14.3" -> 4, 14 (nil when unknown).
function M.parse_version(v)
	local major, minor = tostring(v or ""):match("^v?(%d+)%.(%d+)")
	return tonumber(major), tonumber(minor)
end

-- The quorum gate (the operator refuses a rollout that is not fault tolerant) exists from 4.8 on
-- (reference/openshift.md §0.2, §1.5). Unknown versions are treated as gated: the override is restored anyway.
function M.has_quorum_gate(version)
	local major, minor = M.parse_version(version)
	if not major then return true end
	return major > 4 or (major == 4 and minor >= 8)
end

-- The cluster version: the completed history entry, else the desired one.
function M.cluster_version(cv)
	local st = (cv or {}).status or {}
	for _, h in ipairs(st.history or {}) do
		if h.state == "Completed" then return h.version end
	end
	return (st.desired or {}).version
end

-- Rollout state from the etcd CR: latest revision, per-node revisions, and whether a rollout is in progress.
function M.rollout(cr)
	local st = (cr or {}).status or {}
	local latest = st.latestAvailableRevision or 0
	local r = { latest = latest, nodes = {}, at_latest = 0, total = 0, in_progress = false }
	for _, ns in ipairs(st.nodeStatuses or {}) do
		r.total = r.total + 1
		r.nodes[ns.nodeName] = ns
		local pending = (ns.targetRevision or 0) ~= 0 and ns.targetRevision ~= ns.currentRevision
		if ns.currentRevision == latest and not pending then r.at_latest = r.at_latest + 1 else r.in_progress = true end
	end
	local c = M.condition(cr, "NodeInstallerProgressing")
	if c and c.status == "True" then r.in_progress = true end
	return r
end

-- A unique reason, written as the document writes it: single-master-recovery-$(date --rfc-3339=ns).
function M.redeploy_reason()
	local p = io.popen("date --rfc-3339=ns 2>/dev/null")
	local stamp = p and p:read("l")
	if p then p:close() end
	if not stamp or stamp == "" then
		stamp = os.date("!%Y-%m-%d %H:%M:%S") .. string.format(".%09d+00:00", math.random(0, 999999999))
	end
	return "single-master-recovery-" .. stamp
end

function M.redeploy_patch(reason) return { spec = { forceRedeploymentReason = reason } } end

function M.override_patch() return { spec = { unsupportedConfigOverrides = { [M.OVERRIDE_KEY] = true } } } end

function M.override_set(cr)
	local o = ((cr or {}).spec or {}).unsupportedConfigOverrides
	return type(o) == "table" and o[M.OVERRIDE_KEY] == true
end

local function is_null(v) return v == nil or v == json.null end

-- Deep equality of decoded JSON values (nil and json.null are equal).
function M.same(a, b)
	if is_null(a) and is_null(b) then return true end
	if type(a) ~= "table" or type(b) ~= "table" then return a == b end
	for k, v in pairs(a) do if not M.same(v, b[k]) then return false end end
	for k, v in pairs(b) do if a[k] == nil and not is_null(v) then return false end end
	return true
end

-- The JSON merge patch (RFC 7386) that turns `current` into exactly `target`.
function M.merge_diff(current, target)
	if is_null(target) then return json.null end
	if type(target) ~= "table" or type(current) ~= "table" or #target > 0 or #current > 0 then return target end
	local patch = {}
	for k, v in pairs(target) do
		if not M.same(current[k], v) then patch[k] = M.merge_diff(current[k], v) end
	end
	for k in pairs(current) do
		if target[k] == nil then patch[k] = json.null end
	end
	return patch
end

-- The patch that restores spec.unsupportedConfigOverrides to `previous` (json.null or nil: absent).
function M.restore_patch(current, previous)
	local value
	if is_null(previous) then value = json.null
	elseif type(current) == "table" and type(previous) == "table" then value = M.merge_diff(current, previous)
	else value = previous end
	return { spec = { unsupportedConfigOverrides = value } }
end

------------------------------------------------------------------------------------------------ reads

local function must(value, msg, code)
	if value == nil then error({ exit_code = 1, message = tostring(msg), code = code }, 0) end
	return value
end
M.must = must

-- The etcd pods (label k8s-app=etcd, as the current document lists them), sorted by node name.
function M.etcd_pods(kc, ns)
	local list = must(kc:list(ns_path(ns, "pods"), { labelSelector = "k8s-app=etcd" }))
	local pods = {}
	for _, p in ipairs(list.items or {}) do
		if (p.metadata.name or ""):match("^etcd%-") and not p.metadata.name:match("guard") then pods[#pods + 1] = p end
	end
	table.sort(pods, function(a, b) return tostring(a.spec.nodeName) < tostring(b.spec.nodeName) end)
	return pods
end

function M.control_plane_nodes(kc)
	local list = must(kc:list("/api/v1/nodes"))
	local nodes = {}
	for _, n in ipairs(list.items or {}) do
		if M.is_control_plane(n) then nodes[#nodes + 1] = n end
	end
	table.sort(nodes, function(a, b) return a.metadata.name < b.metadata.name end)
	return nodes
end

-- An etcd pod to work through: Ready, its etcdctl container running, not on `exclude_node`.
function M.healthy_pod(pods, exclude_node)
	for _, p in ipairs(pods) do
		if p.spec.nodeName ~= exclude_node and M.pod_ready(p) and M.container_running(p, "etcdctl") then return p end
	end
end

-- An etcd client: direct when --etcd-endpoints is given, else etcdctl in the etcdctl container of `pod`.
function M.etcd_client(kc, ns, pod, gopts)
	local etcd = require "medic.etcd"
	if gopts and gopts.etcd_endpoints and gopts.etcd_endpoints ~= "" then
		local endpoints = {}
		for e in gopts.etcd_endpoints:gmatch("[^,%s]+") do endpoints[#endpoints + 1] = e end
		return must(etcd.connect { endpoints = endpoints, cacert = gopts.etcd_cacert, cert = gopts.etcd_cert,
			key = gopts.etcd_key })
	end
	return must(etcd.via_exec(kc, { namespace = ns, pod = pod.metadata.name, container = "etcdctl" }))
end

return M
