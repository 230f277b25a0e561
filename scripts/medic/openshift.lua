-- etcd-medic-api: 2
-- OpenShift etcd helpers: etcd pods and their states, members matched to nodes, revisions, quorum gate,
-- secrets, patches.
--
-- Plain functions over decoded API objects (so they are easy to test and to reuse by hand in the REPL), plus a
-- few that read through a medic.k8s client. Facts and their sources: reference/openshift.md §0, §1, §4, §6.
local json = require "medic.json"

local M = {}

M.ETCD_CR = "/apis/operator.openshift.io/v1/etcds/cluster"
M.CLUSTER_VERSION = "/apis/config.openshift.io/v1/clusterversions/version"
M.ETCD_OPERATOR = "/apis/config.openshift.io/v1/clusteroperators/etcd"
M.NETWORK = "/apis/config.openshift.io/v1/networks/cluster"
M.DEBUG_PRIORITY_CLASS = "openshift-user-critical" -- what `oc debug node/NAME` sets on its pod

local function ns_path(ns, kind, name)
	return "/api/v1/namespaces/" .. ns .. "/" .. kind .. (name and ("/" .. name) or "")
end
M.ns_path = ns_path

------------------------------------------------------------------------------------------------ names

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

-- Does the node run an etcd member? Control-plane nodes (labelled master up to 4.9, control-plane too from 4.10)
-- and, from 4.20, the arbiter node of a two-node cluster with an arbiter.
function M.runs_etcd(node)
	local labels = (node.metadata or {}).labels or {}
	return labels["node-role.kubernetes.io/master"] ~= nil or labels["node-role.kubernetes.io/control-plane"] ~= nil
		or labels["node-role.kubernetes.io/arbiter"] ~= nil
end

function M.internal_ip(node)
	for _, a in ipairs((node.status or {}).addresses or {}) do
		if a.type == "InternalIP" then return a.address end
	end
end

-- The node's IP as the operator uses it for its member (cluster-etcd-operator dnshelpers
-- GetPreferredInternalIPAddressForNodeName): the first InternalIP of the family of the cluster's first service
-- network (networks.config.openshift.io/cluster: status, else spec); without that network, the first InternalIP.
-- On a dual-stack cluster the first InternalIP can be of the other family.
function M.preferred_internal_ip(node, network)
	local nets = ((network or {}).status or {}).serviceNetwork
	if not nets or #nets == 0 then nets = ((network or {}).spec or {}).serviceNetwork or {} end
	if type(nets[1]) == "string" then
		local v6 = nets[1]:find(":", 1, true) ~= nil
		for _, a in ipairs((node.status or {}).addresses or {}) do
			if a.type == "InternalIP" and (tostring(a.address):find(":", 1, true) ~= nil) == v6 then return a.address end
		end
	end
	return M.internal_ip(node)
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

-- Finds the member of `node`: its name AND a peer URL host must both match (never a substring); else an unstarted
-- member (no name yet) added for the node's IP, as a half-done replacement leaves one behind.
-- Returns member, or nil and why: "none" (no member has either), or "mismatch" with a message naming the
-- member whose name and IP disagree.
function M.match_member(members, node, ip)
	local exact, partial, unstarted
	for _, m in ipairs(members) do
		local by_name, by_ip = m.name == node, has_peer_ip(m, ip)
		if by_name and by_ip then exact = m
		elseif by_ip and m.name == "" then unstarted = m
		elseif (by_name or by_ip) and m.name ~= "" then partial = m end
	end
	if exact then return exact end
	if unstarted and not partial then return unstarted end
	if partial then
		return nil, "mismatch", string.format("member %s is named %s with peer URLs %s, but node %s has InternalIP %s",
			partial.id, partial.name, table.concat(partial.peer_urls or {}, ","), node, tostring(ip))
	end
	return nil, "none"
end

-- A Kubernetes timestamp ("2026-12-03T12:46:27Z", UTC) in seconds since the epoch, as os.time() counts; nil if it
-- is not one. (Days from the civil date: H. Hinnant's algorithm.)
function M.epoch(ts)
	local y, mo, d, h, mi, s = tostring(ts):match("^(%d%d%d%d)-(%d%d)-(%d%d)T(%d%d):(%d%d):(%d%d)")
	if not y then return nil end
	y, mo = math.tointeger(y), math.tointeger(mo)
	if mo <= 2 then y = y - 1 end
	local era = y // 400
	local yoe = y - era * 400
	local doy = (153 * (mo > 2 and mo - 3 or mo + 9) + 2) // 5 + math.tointeger(d) - 1
	local days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
	return days * 86400 + math.tointeger(h) * 3600 + math.tointeger(mi) * 60 + math.tointeger(s)
end

-- A member's client URLs that a health check can reach: etcd 3.4.14 (OpenShift 4.8) also lists a unixs://IP:0 URL
-- per member, which is no socket anyone can dial.
function M.client_urls(m)
	local urls = {}
	for _, u in ipairs(m.client_urls or {}) do
		if not u:match("^unixs?://") then urls[#urls + 1] = u end
	end
	return urls
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

-- `etcdctl endpoint health --cluster`, as lines; with `members`, each endpoint is followed by its member's name.
function M.health_lines(health, members)
	local names = {}
	for _, m in ipairs(members or {}) do
		for _, u in ipairs(m.client_urls or {}) do names[u] = m.name ~= "" and m.name or "unstarted " .. m.id end
	end
	local out = {}
	local sorted = {}
	for _, h in ipairs(health or {}) do
		-- etcd 3.4.14 (OpenShift 4.8) lists a unixs:// client URL per member, which etcdctl --cluster cannot reach
		if not tostring(h.endpoint):match("^unixs?://") then sorted[#sorted + 1] = h end
	end
	table.sort(sorted, function(a, b) return tostring(a.endpoint) < tostring(b.endpoint) end)
	for _, h in ipairs(sorted) do
		if h.healthy then
			out[#out + 1] = string.format("%s%s is healthy: successfully committed proposal: took = %s", h.endpoint,
				names[h.endpoint] and (" (" .. names[h.endpoint] .. ")") or "", took_text(h.took))
		else
			out[#out + 1] = string.format("%s%s is unhealthy: failed to commit proposal: %s", h.endpoint,
				names[h.endpoint] and (" (" .. names[h.endpoint] .. ")") or "", tostring(h.error or "unknown error"))
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

-- Is `version` ("4.14.3") at least `since` ("4.8")? An unknown version counts as at least: a procedure then
-- does what the newer releases need (for the quorum gate: the override is opened, and restored anyway).
function M.at_least(version, since)
	local major, minor = M.parse_version(version)
	local want_major, want_minor = M.parse_version(since)
	if not major then return true end
	return major > want_major or (major == want_major and minor >= want_minor)
end

-- The version a ClusterOperator reports for itself (status.versions, name "operator"), or nil.
function M.operator_version(co)
	for _, v in ipairs(((co or {}).status or {}).versions or {}) do
		if v.name == "operator" and v.version and v.version ~= "" then return v.version end
	end
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

-- The nodes a rollout is installing now (a targetRevision not reached yet), and those it has not reached at all.
function M.nodes_installing(cr)
	local st, installing, behind = (cr or {}).status or {}, {}, {}
	for _, ns in ipairs(st.nodeStatuses or {}) do
		if (ns.targetRevision or 0) ~= 0 and ns.targetRevision ~= ns.currentRevision then
			installing[#installing + 1] = ns.nodeName
		elseif ns.currentRevision ~= (st.latestAvailableRevision or 0) then
			behind[#behind + 1] = ns.nodeName
		end
	end
	return installing, behind
end

-- A unique reason, written as the document writes it: `pattern` ("single-master-recovery-%s") with
-- $(date --rfc-3339=ns).
function M.redeploy_reason(pattern)
	local p = io.popen("date --rfc-3339=ns 2>/dev/null")
	local stamp = p and p:read("l")
	if p then p:close() end
	if not stamp or stamp == "" then
		stamp = os.date("!%Y-%m-%d %H:%M:%S") .. string.format(".%09d+00:00", math.random(0, 999999999))
	end
	return pattern:format(stamp)
end

local function is_null(v) return v == nil or v == json.null end

local BOOL = { ["1"] = true, t = true, T = true, TRUE = true, ["true"] = true, True = true,
	["0"] = false, f = false, F = false, FALSE = false, ["false"] = false, False = false }

-- A value as the operator reads an override: a boolean, or a string strconv.ParseBool accepts ("true", "1", "T",
-- ...); anything else is false (cluster-etcd-operator ceohelpers IsUnsupportedUnsafeEtcd).
function M.override_true(value)
	if type(value) == "boolean" then return value end
	if type(value) == "string" then return BOOL[value] == true end
	return false
end

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

-- The nodes that run etcd (M.runs_etcd), sorted by name: as many voting members as these are wanted.
function M.etcd_nodes(kc)
	local list = must(kc:list("/api/v1/nodes"))
	local nodes = {}
	for _, n in ipairs(list.items or {}) do
		if M.runs_etcd(n) then nodes[#nodes + 1] = n end
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
