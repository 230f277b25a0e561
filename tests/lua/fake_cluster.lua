-- etcd-medic-api: 2
-- A fake OpenShift cluster for specs: three control-plane nodes, master-1's etcd pod crash-looping and its member
-- unhealthy, served through fake medic.k8s and medic.etcd modules (the transports; everything above them is real).
-- fake.install() puts them in package.loaded; fake.calls lists every request; fake.writes the ones that were not
-- dry runs.
local fake = { calls = {}, writes = {} }

local NODES = { ["master-0"] = "10.0.0.10", ["master-1"] = "10.0.0.11", ["master-2"] = "10.0.0.12" }
local IDS = { ["master-0"] = "1a2b3c4d5e6f7081", ["master-1"] = "62bcf33650a7170a", ["master-2"] = "7f00aa11bb22cc33" }
fake.BROKEN = "master-1"

local function node(name)
	return { metadata = { name = name, labels = { ["node-role.kubernetes.io/master"] = "" } },
		status = {
			addresses = { { type = "InternalIP", address = NODES[name] }, { type = "Hostname", address = name } },
			conditions = { { type = "Ready", status = "True" } } } }
end

local function container(name, ok)
	local state = ok and { running = {} } or { waiting = { reason = "CrashLoopBackOff" } }
	return { name = name, ready = ok, restartCount = ok and 0 or 7, state = state }
end

local function pod(name, prefix)
	local ok = name ~= fake.BROKEN or prefix
	return { metadata = { name = (prefix or "etcd") .. "-" .. name, labels = { ["k8s-app"] = "etcd", revision = "7" } },
		spec = { nodeName = name },
		status = { phase = "Running", conditions = { { type = "Ready", status = ok and "True" or "False" } },
			containerStatuses = { container("etcd", ok), container("etcdctl", true) } } }
end

local function sorted_names()
	local names = {}
	for n in pairs(NODES) do names[#names + 1] = n end
	table.sort(names)
	return names
end

local function objects()
	local o = {
		["/apis/config.openshift.io/v1/clusterversions/version"] = { spec = { clusterID = "fake-cluster" },
			status = { history = { { state = "Completed", version = "4.14.3" } } } },
		["/apis/operator.openshift.io/v1/etcds/cluster"] = { spec = {}, status = { latestAvailableRevision = 7,
			nodeStatuses = {} } },
	}
	for _, n in ipairs(sorted_names()) do
		o["/api/v1/nodes/" .. n] = node(n)
		table.insert(o["/apis/operator.openshift.io/v1/etcds/cluster"].status.nodeStatuses,
			{ nodeName = n, currentRevision = 7 })
	end
	for _, s in ipairs { "etcd-peer-", "etcd-serving-", "etcd-serving-metrics-", "etcd-site-client-" } do
		local name = s .. fake.BROKEN
		o["/api/v1/namespaces/openshift-etcd/secrets/" .. name] = { metadata = { name = name, uid = "uid-" .. name,
			resourceVersion = "42" } }
	end
	return o
end

local Client = {}
Client.__index = Client

function Client:get(path)
	fake.calls[#fake.calls + 1] = "GET " .. path
	local obj = self.objects[path] or fake.leases[path]
	if obj then return obj end
	return nil, path .. " not found", "NotFound"
end

-- Pods: the etcd pods in openshift-etcd; the other control-plane static pods (the backup reads their revision
-- label) in their namespaces, on the node a fieldSelector spec.nodeName=NODE names.
function Client.list(_, path, opts)
	fake.calls[#fake.calls + 1] = "LIST " .. path
	local items = {}
	local on = opts and opts.fieldSelector and opts.fieldSelector:match("^spec%.nodeName=(.+)$")
	local other = path:match("^/api/v1/namespaces/openshift%-(kube%-[%w%-]+)/pods$")
	if path == "/api/v1/nodes" then
		for _, n in ipairs(sorted_names()) do items[#items + 1] = node(n) end
	elseif other or path == "/api/v1/namespaces/openshift-etcd/pods" then -- no other namespace has any pods
		for _, n in ipairs(sorted_names()) do
			if not on or on == n then items[#items + 1] = pod(n, other) end
		end
	end
	return { items = items }
end

local function write(verb, path, opts)
	fake.calls[#fake.calls + 1] = verb .. " " .. path
	if not (opts and opts.dryRun == "All") then fake.writes[#fake.writes + 1] = verb .. " " .. path end
	return {}
end

-- Leases are kept for real (create, update with resourceVersion, delete with a uid precondition): fake.leases.
fake.leases, fake.version = {}, 100

local function stored(obj)
	fake.version = fake.version + 1
	obj.metadata.resourceVersion = tostring(fake.version)
	obj.metadata.uid = obj.metadata.uid or ("uid-" .. fake.version)
	return obj
end

function Client.create(_, path, obj)
	write("POST", path)
	local key = path .. "/" .. obj.metadata.name
	if fake.leases[key] then return nil, "already exists", "AlreadyExists" end
	fake.leases[key] = stored(obj)
	return obj
end

function Client.update(_, path, obj)
	write("PUT", path)
	local cur = fake.leases[path]
	if not cur then return nil, "not found", "NotFound" end
	if cur.metadata.resourceVersion ~= obj.metadata.resourceVersion then return nil, "conflict", "Conflict" end
	fake.leases[path] = stored(obj)
	return obj
end

function Client.patch(_, path, _, _, opts) return write("PATCH", path, opts) end

function Client.delete(_, path, opts)
	if fake.leases[path] then
		if opts and opts.preconditions and opts.preconditions.uid ~= fake.leases[path].metadata.uid then
			return nil, "conflict", "Conflict"
		end
		fake.leases[path] = nil
	end
	return write("DELETE", path, opts)
end

function Client.whoami(_) return { username = "fake:admin" } end
function Client.request(_, req)
	if req.path == "/version" then return { major = "1", minor = "27", gitVersion = "v1.27.6" } end
	return nil, req.path .. " not found", "NotFound"
end
function Client.can_i(_) return true end
function Client.info(_) return { server = "https://fake:6443" } end

local Etcd = {}
Etcd.__index = Etcd

function Etcd.members(_)
	local list = {}
	for _, n in ipairs(sorted_names()) do
		list[#list + 1] = { id = IDS[n], name = n, peer_urls = { "https://" .. NODES[n] .. ":2380" },
			client_urls = { "https://" .. NODES[n] .. ":2379" }, is_learner = false, started = true }
	end
	return list
end

function Etcd.health(_)
	local list = {}
	for _, n in ipairs(sorted_names()) do
		list[#list + 1] = { endpoint = "https://" .. NODES[n] .. ":2379", healthy = n ~= fake.BROKEN, took = 0.01,
			error = n == fake.BROKEN and "context deadline exceeded" or nil }
	end
	return list
end

function Etcd.member_remove(_, id) return write("MEMBER-REMOVE", id) end

-- endpoint status, alarms and hashkv of the members that answer (not the broken one): a small, unfragmented database.
function Etcd.status(_, opts)
	local list = {}
	for _, url in ipairs(opts.endpoints) do
		local n
		for name, ip in pairs(NODES) do if url == "https://" .. ip .. ":2379" then n = name end end
		list[#list + 1] = n == fake.BROKEN and { endpoint = url, error = "context deadline exceeded" } or
			{ endpoint = url, id = IDS[n], db_size = 25 * 1048576, db_size_in_use = 20 * 1048576, revision = 9000,
				raft_index = 12000, is_leader = n == "master-0", version = "3.5.9" }
	end
	return list
end
function Etcd.alarms(_) return {} end
function Etcd.hashkv(_, endpoint, rev)
	return { endpoint = endpoint, hash = 4242, compact_revision = 8000, revision = rev }
end

function fake.install()
	package.loaded["medic.k8s"] = { connect = function() return setmetatable({ objects = objects() }, Client) end }
	package.loaded["medic.etcd"] = {
		via_exec = function() return setmetatable({}, Etcd) end,
		check_snapshot = function() return nil, "no snapshot in the fake cluster" end,
	}
end

return fake
