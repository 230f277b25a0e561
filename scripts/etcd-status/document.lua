-- etcd-medic-api: 2
-- etcd-status -o json: the report as one JSON document, schema docs/etcd-status.schema.json (schemaVersion 1).
-- A change that removes or renames a field, or changes its type, is a new schemaVersion; adding one is not.
local json = require "medic.json"
local openshift = require "medic.openshift"

local document = {}

document.SCHEMA_VERSION = 1

local function null_or(v) if v == nil then return json.null end return v end

local function strings(list)
	local out = json.array()
	for _, v in ipairs(list or {}) do out[#out + 1] = tostring(v) end
	return out
end

local function status_by_id(etcd)
	local by = {}
	for _, s in ipairs((etcd or {}).status or {}) do
		if s.id and not s.error then by[s.id] = s end
	end
	return by
end

local function health_error(state, m)
	for _, url in ipairs(m.client_urls or {}) do
		for _, h in ipairs(state.health or {}) do
			if h.endpoint == url and h.error then return tostring(h.error) end
		end
	end
end

local function members(state)
	local out, st = json.array(), status_by_id(state.etcd)
	for _, m in ipairs(state.members or {}) do
		local s = st[m.id] or {}
		out[#out + 1] = {
			id = m.id, name = m.name, started = m.name ~= "", is_learner = m.is_learner == true,
			peer_urls = strings(m.peer_urls), client_urls = strings(m.client_urls),
			healthy = (state.healthy or {})[m.id] == true, error = null_or(health_error(state, m)),
			is_leader = null_or(s.is_leader), db_size = null_or(s.db_size), db_size_in_use = null_or(s.db_size_in_use),
			revision = null_or(s.revision), raft_index = null_or(s.raft_index), version = null_or(s.version),
		}
	end
	return out
end

local function pods(state)
	local names, out = {}, json.array()
	for node in pairs(state.pods or {}) do names[#names + 1] = node end
	table.sort(names)
	for _, node in ipairs(names) do
		local p = state.pods[node]
		out[#out + 1] = { name = p.metadata.name, node = node, state = openshift.pod_state(p),
			ready = openshift.pod_ready(p), revision = null_or(((p.metadata or {}).labels or {}).revision) }
	end
	for _, n in ipairs(state.nodes or {}) do
		if not (state.pods or {})[n.metadata.name] then
			out[#out + 1] = { name = json.null, node = n.metadata.name, state = "no etcd pod", ready = false,
				revision = json.null }
		end
	end
	return out
end

local function operator(state)
	local cr = state.cr
	if not cr then return json.null end
	local st = cr.status or {}
	local nodes, conditions = json.array(), json.array()
	for _, ns in ipairs(st.nodeStatuses or {}) do
		nodes[#nodes + 1] = { node = ns.nodeName, current_revision = ns.currentRevision or 0,
			target_revision = ns.targetRevision or 0 }
	end
	for _, c in ipairs(st.conditions or {}) do
		conditions[#conditions + 1] = { type = c.type, status = c.status, reason = null_or(c.reason),
			message = null_or(c.message), last_transition_time = null_or(c.lastTransitionTime) }
	end
	local over = (cr.spec or {}).unsupportedConfigOverrides
	return { latest_revision = st.latestAvailableRevision or 0, node_statuses = nodes, conditions = conditions,
		unsupported_config_overrides = type(over) == "table" and next(over) and over or json.null }
end

local function findings(state)
	local out = json.array()
	for _, f in ipairs(state.findings or {}) do
		out[#out + 1] = { code = f.code, severity = f.severity, subject = f.subject, summary = f.summary,
			evidence = f.evidence, next = f.next }
	end
	return out
end

-- The document from etcd-status's ctx.state.
function document.encode(state)
	local v = state.verdict
	return json.encode {
		schemaVersion = document.SCHEMA_VERSION,
		verdict = { state = v.state, summary = v.summary, next = null_or(v.next) },
		findings = findings(state), members = members(state), pods = pods(state), operator = operator(state),
	}
end

return document
