-- etcd-medic-api: 2
-- What etcd-status reads beyond the member list, for the finding modules: every member's endpoint status, the
-- alarms, the KV hashes at a common revision, and the backend quota. Each reading that fails leaves its field nil
-- (the findings then say nothing about it) and a note of why.
local openshift = require "medic.openshift"

local readings = {}

local GIB = 1024 * 1048576
readings.DEFAULT_QUOTA = 8 * GIB -- the operator's default backend quota on OpenShift

local function started_urls(members)
	local urls = {}
	for _, m in ipairs(members) do
		local url = openshift.client_urls(m)[1]
		if m.name ~= "" and url then urls[#urls + 1] = url end
	end
	return urls
end

-- The lowest revision every member that answered has reached: all of them can hash the key space at it.
local function common_revision(status)
	local rev
	for _, s in ipairs(status) do
		if not s.error and s.revision and (not rev or s.revision < rev) then rev = s.revision end
	end
	return rev
end

-- { {endpoint=, id=, hash=, compact_revision=} ... } at `rev`, or nil and why not (etcd 3.4's JSON gateway has no
-- HashKV: Unsupported).
local function hashes(client, status, rev)
	local out = {}
	for _, s in ipairs(status) do
		if not s.error then
			local h, err, code = client:hashkv(s.endpoint, rev)
			if not h then
				if code == "Unsupported" then return nil, "this transport has no HashKV (etcd 3.4's JSON gateway)" end
				return nil, string.format("hashkv of %s at revision %d: %s", s.endpoint, rev, tostring(err))
			end
			out[#out + 1] = { endpoint = s.endpoint, id = s.id, hash = h.hash, compact_revision = h.compact_revision }
		end
	end
	return out
end

-- { status = rows|nil, alarms = rows|nil, hashes = rows|nil, hash_revision =, hash_note = why not compared };
-- `alarms`: those the health reading already read (cluster:read_members), else they are asked for here.
function readings.etcd(client, members, alarms)
	local e = {}
	local urls = started_urls(members)
	if not client or #urls == 0 then return e end
	e.status = client:status { endpoints = urls }
	e.alarms = alarms or client:alarms { endpoints = urls }
	local rev = e.status and common_revision(e.status)
	if rev then
		e.hash_revision = rev
		e.hashes, e.hash_note = hashes(client, e.status, rev)
	else
		e.hash_note = "no member answered endpoint status"
	end
	return e
end

local function flag_value(args, env)
	for _, a in ipairs(args or {}) do
		local v = tostring(a):match("%-%-quota%-backend%-bytes=(%d+)")
		if v then return math.tointeger(tonumber(v)), "--quota-backend-bytes" end
	end
	for _, v in ipairs(env or {}) do
		if v.name == "ETCD_QUOTA_BACKEND_BYTES" and tonumber(v.value) then
			return math.tointeger(tonumber(v.value)), "ETCD_QUOTA_BACKEND_BYTES"
		end
	end
end

-- The backend quota: the etcd container's --quota-backend-bytes (or its ETCD_QUOTA_BACKEND_BYTES), else the
-- operator's spec.backendQuotaGiB (4.13+; what it renders into the pod), else OpenShift's default, 8 GiB.
-- Returns { bytes =, source = "where it was read" }.
function readings.quota(pods, cr)
	local names = {}
	for node in pairs(pods or {}) do names[#names + 1] = node end
	table.sort(names)
	for _, node in ipairs(names) do
		local pod = pods[node]
		for _, c in ipairs((pod.spec or {}).containers or {}) do
			if c.name == "etcd" then
				local bytes, how = flag_value(c.args, c.env)
				if not bytes then
					for _, line in ipairs(c.command or {}) do
						bytes, how = flag_value({ line }, nil)
						if bytes then break end
					end
				end
				if bytes then return { bytes = bytes, source = how .. " of " .. pod.metadata.name } end
			end
		end
	end
	local gib = (((cr or {}).spec) or {}).backendQuotaGiB
	if math.type(gib) and gib > 0 then
		return { bytes = math.tointeger(gib * GIB), source = "etcd/cluster spec.backendQuotaGiB" }
	end
	return { bytes = readings.DEFAULT_QUOTA, source = "OpenShift's default (8 GiB)" }
end

return readings
