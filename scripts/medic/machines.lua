-- etcd-medic-api: 2
-- The Machine API's objects as a procedure reads and rebuilds them: Machines and ControlPlaneMachineSets
-- (machine.openshift.io) and BareMetalHosts (metal3.io), in openshift-machine-api. Plain tables in, plain tables
-- out; the requests go through a medic.k8s client. The changes themselves are actions (medic.actions.machines).
--
--   machines.path(name) / machines.cpms_path() / machines.host_path(name) / machines.secret_path(name)
--   machines.control_plane(kc) -> the control-plane Machines (sorted by name) | nil, err, code
--   machines.of_node(kc, node) -> the Node's Machine | nil, why, code       (its annotation, else a nodeRef)
--   machines.cpms(kc) -> the ControlPlaneMachineSet "cluster" | nil (none, or Inactive: see machines.cpms_active)
--   machines.host_of(kc, machine) -> its BareMetalHost | nil, why, code
--   machines.phase(m), machines.deleting(m), machines.failure_domain(m), machines.node_name(m), machines.ips(m)
--   machines.host_state(h) -> status.provisioning.state ("available", "provisioned", ...)
--   machines.clone(m, name) -> a new Machine from m: status, spec.providerID, annotations and the server's metadata
--                              stripped, named `name` (the document's "save, edit, apply")
--   machines.clone_host(h, name, over) -> a new BareMetalHost from h (its BMC, boot MAC, boot mode, root device hints,
--                              each replaced by over.*), not externally provisioned, no consumer, no image,
--                              credentials in over.credentials_name
--   machines.next_name(name, taken) -> the same base with the next free number ("x-master-0" -> "x-master-3")
--   machines.credentials{username=, password=} / machines.credentials_file(path) / machines.credentials_of(secret)
--                           -> BMC credentials that never print, never encode and never reach a journal or a log
local machines = {}

machines.NAMESPACE = "openshift-machine-api"
machines.ROLE_LABEL = "machine.openshift.io/cluster-api-machine-role"
machines.NODE_ANNOTATION = "machine.openshift.io/machine" -- on the Node: "NAMESPACE/NAME" of its Machine
machines.HOST_ANNOTATION = "metal3.io/BareMetalHost" -- on the Machine: "NAMESPACE/NAME" of its host
machines.HOOK = "EtcdQuorumOperator" -- the etcd operator's preDrain hook on control-plane Machines (4.11 and later)

local MACHINES = "/apis/machine.openshift.io/v1beta1/namespaces/%s/machines"
local CPMS = "/apis/machine.openshift.io/v1/namespaces/%s/controlplanemachinesets/cluster"
local HOSTS = "/apis/metal3.io/v1alpha1/namespaces/%s/baremetalhosts"

function machines.collection(ns) return MACHINES:format(ns or machines.NAMESPACE) end
function machines.path(name, ns) return machines.collection(ns) .. "/" .. name end
function machines.cpms_path(ns) return CPMS:format(ns or machines.NAMESPACE) end
function machines.host_collection(ns) return HOSTS:format(ns or machines.NAMESPACE) end
function machines.host_path(name, ns) return machines.host_collection(ns) .. "/" .. name end
function machines.secret_path(name, ns)
	return "/api/v1/namespaces/" .. (ns or machines.NAMESPACE) .. "/secrets" .. (name and ("/" .. name) or "")
end

------------------------------------------------------------------------------------------------ reading

local function meta(obj) return obj and obj.metadata or {} end

function machines.phase(m) return (m and m.status or {}).phase or "(no phase)" end
function machines.deleting(obj) return meta(obj).deletionTimestamp ~= nil end
function machines.node_name(m) return (((m or {}).status or {}).nodeRef or {}).name end

-- The Machine's InternalIP addresses (what the operator matches members against).
function machines.ips(m)
	local out = {}
	for _, a in ipairs(((m or {}).status or {}).addresses or {}) do
		if a.type == "InternalIP" then out[#out + 1] = a.address end
	end
	return out
end

-- Its failure domain as the CPMS spreads them: the zone label the actuator sets, else the provider's placement.
function machines.failure_domain(m)
	local labels = meta(m).labels or {}
	local zone = labels["machine.openshift.io/zone"]
	if zone and zone ~= "" then return zone end
	local v = ((((m or {}).spec or {}).providerSpec or {}).value) or {}
	local placement = v.placement or {}
	return placement.availabilityZone or v.zone or placement.zone or v.failureDomain
end

function machines.control_plane(kc, ns)
	local list, err, code = kc:list(machines.collection(ns), { labelSelector = machines.ROLE_LABEL .. "=master" })
	if not list then return nil, err, code end
	local items = list.items or {}
	table.sort(items, function(a, b) return meta(a).name < meta(b).name end)
	return items
end

local function split_ref(ref)
	local ns, name = tostring(ref or ""):match("^([^/]+)/([^/]+)$")
	return ns, name
end

-- The Node's Machine: by the annotation the node link controller sets, else the control-plane Machine whose
-- status.nodeRef names it (a Machine whose Node is gone keeps its nodeRef).
function machines.of_node(kc, node_name, node)
	local ns, name = split_ref(node and (meta(node).annotations or {})[machines.NODE_ANNOTATION])
	if name then
		local m, err, code = kc:get(machines.path(name, ns))
		if m or code ~= "NotFound" then return m, err, code end
	end
	local list, err, code = machines.control_plane(kc)
	if not list then return nil, err, code end
	for _, m in ipairs(list) do
		if machines.node_name(m) == node_name then return m end
	end
	return nil, "no Machine of node " .. node_name, "NotFound"
end

-- The ControlPlaneMachineSet, and whether it is Active (an Inactive one replaces nothing).
function machines.cpms(kc, ns)
	local set, err, code = kc:get(machines.cpms_path(ns))
	if not set and code ~= "NotFound" then return nil, err, code end
	return set
end

function machines.cpms_active(set) return set ~= nil and (set.spec or {}).state == "Active" end

function machines.host_of(kc, m)
	local ns, name = split_ref((meta(m).annotations or {})[machines.HOST_ANNOTATION])
	if not name then return nil, "Machine " .. tostring(meta(m).name) .. " names no BareMetalHost", "NotFound" end
	return kc:get(machines.host_path(name, ns))
end

function machines.host_state(h) return ((((h or {}).status or {}).provisioning) or {}).state or "(no state)" end

------------------------------------------------------------------------------------------------ cloning

local function deep_copy(v)
	if type(v) ~= "table" then return v end
	local out = {}
	for k, x in pairs(v) do out[k] = deep_copy(x) end
	return setmetatable(out, getmetatable(v)) -- json.array's marker survives
end

-- What the server sets and a new object must not carry.
local SERVER_SET = { "uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink",
	"deletionTimestamp", "deletionGracePeriodSeconds", "finalizers", "ownerReferences", "annotations" }

local function fresh_metadata(old, name)
	local md = deep_copy(old or {})
	for _, k in ipairs(SERVER_SET) do md[k] = nil end
	md.name, md.generateName = name, nil
	return md
end

function machines.clone(m, name)
	local new = deep_copy(m)
	new.status = nil
	new.metadata = fresh_metadata(m.metadata, name)
	new.spec = new.spec or {}
	new.spec.providerID = nil
	return new
end

-- A new BareMetalHost from the old one, as the document writes it: its hardware (BMC address, boot MAC, boot mode,
-- root device hints) unless `over` gives other values, its user data; online; not externally provisioned (the
-- installer's hosts are; a new one must be provisioned); no consumer or image (the new Machine's claim sets them).
function machines.clone_host(h, name, over)
	over = over or {}
	local spec = deep_copy((h or {}).spec or {})
	local new = { apiVersion = h and h.apiVersion or "metal3.io/v1alpha1", kind = "BareMetalHost",
		metadata = fresh_metadata(h and h.metadata, name), spec = spec }
	for _, k in ipairs { "consumerRef", "image", "customDeploy" } do spec[k] = nil end
	spec.externallyProvisioned = false
	spec.bmc = spec.bmc or {}
	spec.bmc.address = over.bmc_address or spec.bmc.address
	spec.bmc.credentialsName = over.credentials_name or spec.bmc.credentialsName
	if over.disable_certificate_verification ~= nil then
		spec.bmc.disableCertificateVerification = over.disable_certificate_verification
	end
	spec.bootMACAddress = over.boot_mac or spec.bootMACAddress
	spec.bootMode = over.boot_mode or spec.bootMode
	spec.rootDeviceHints = over.root_device_hints or spec.rootDeviceHints
	spec.online = true
	return new
end

-- The same base with the next number: one more than the highest number any name with that base has, so a name the
-- old Machine (still being deleted) or an earlier replacement holds is never reused.
function machines.next_name(name, taken)
	local base, n = name:match("^(.-)(%d+)$")
	if not base then base, n = name .. "-", -1 end
	local high = tonumber(n)
	for _, t in ipairs(taken or {}) do
		local b, k = t:match("^(.-)(%d+)$")
		if b == base and tonumber(k) > high then high = tonumber(k) end
	end
	return base .. (high + 1)
end

------------------------------------------------------------------------------------------------ BMC credentials

-- Credentials are an opaque value: the strings live in a table keyed weakly by it, out of reach of pairs, ui.print,
-- json.encode, the audit's copy of an action and the journal. Only machines.secret_data reads them, to build the
-- body of the one request that creates the Secret.
local hidden = setmetatable({}, { __mode = "k" })
local Credentials = {
	__tostring = function() return "BMC credentials ([REDACTED])" end,
	__pairs = function() return function() return nil end, nil, nil end,
	__index = function() return nil end,
	__newindex = function() error("BMC credentials are read only", 2) end,
	__name = "medic.machines.credentials",
	__metatable = "BMC credentials",
}

function machines.credentials(t)
	assert(type(t) == "table" and type(t.username) == "string" and type(t.password) == "string",
		"machines.credentials{username=, password=}")
	local c = setmetatable({}, Credentials)
	hidden[c] = { username = t.username, password = t.password }
	return c
end

function machines.is_credentials(v) return type(v) == "table" and hidden[v] ~= nil end

-- From a file an admin wrote: two lines "username=..." and "password=..." (or "username: ..."). The file must not
-- be readable by others (mode 0600 or stricter), as ssh's keys. Returns credentials | nil, why.
function machines.credentials_file(path)
	local f, err = io.open(path, "r")
	if not f then return nil, "cannot read " .. path .. ": " .. tostring(err) end
	local t = {}
	for line in f:lines() do
		local k, v = line:match("^%s*([%w_]+)%s*[:=]%s*(.-)%s*$")
		if k == "username" or k == "password" then t[k] = v end
	end
	f:close()
	if not t.username or not t.password or t.password == "" then
		return nil, path .. " must hold a line username=... and a line password=..."
	end
	return machines.credentials(t)
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(s)
	return ((s:gsub(".", function(c)
		local b, bits = c:byte(), ""
		for i = 8, 1, -1 do bits = bits .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
		return bits
	end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
		if #x < 6 then return "" end
		local n = 0
		for i = 1, 6 do n = n + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
		return B64:sub(n + 1, n + 1)
	end) .. ({ "", "==", "=" })[#s % 3 + 1])
end

local function unbase64(s)
	s = s:gsub("[^%w%+/=]", "")
	return (s:gsub(".", function(x)
		if x == "=" then return "" end
		local r, f = "", (B64:find(x, 1, true) - 1)
		for i = 6, 1, -1 do r = r .. (f % 2 ^ i - f % 2 ^ (i - 1) > 0 and "1" or "0") end
		return r
	end):gsub("%d%d%d?%d?%d?%d?%d?%d?", function(x)
		if #x ~= 8 then return "" end
		local c = 0
		for i = 1, 8 do c = c + (x:sub(i, i) == "1" and 2 ^ (8 - i) or 0) end
		return string.char(c)
	end))
end

machines.base64 = base64 -- for the specs

-- The credentials an existing BMC Secret holds (its data.username and data.password).
function machines.credentials_of(secret)
	local data = (secret or {}).data or {}
	if type(data.username) ~= "string" or type(data.password) ~= "string" then
		return nil, "the BMC secret holds no username and password"
	end
	return machines.credentials { username = unbase64(data.username), password = unbase64(data.password) }
end

-- The body of the Secret that holds them: built at the moment of the request, never kept.
function machines.secret_body(name, credentials, ns)
	local c = assert(hidden[credentials], "machines.secret_body: not BMC credentials")
	return { apiVersion = "v1", kind = "Secret", type = "Opaque",
		metadata = { name = name, namespace = ns or machines.NAMESPACE },
		data = { username = base64(c.username), password = base64(c.password) } }
end

return machines
