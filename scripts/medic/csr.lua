-- etcd-medic-api: 2
-- A new node's certificate signing requests, checked as the OpenShift documentation ("Approving the certificate
-- signing requests for your machines") tells an admin to check them before `oc adm certificate approve`:
--   client   the node-bootstrapper's request for the kubelet's client certificate: signer
--            kubernetes.io/kube-apiserver-client-kubelet, requestor
--            system:serviceaccount:openshift-machine-config-operator:node-bootstrapper, usages digital signature,
--            (key encipherment,) client auth; only while the node has no Node yet (its kubelet has not registered)
--   serving  the node's own request for its serving certificate: signer kubernetes.io/kubelet-serving, requestor
--            system:node:NAME in group system:nodes, usages digital signature, (key encipherment,) server auth
-- and in both the PKCS#10 request's subject is CN=system:node:NAME, O=system:nodes (openshift/cluster-machine-approver
-- checks the same, then its Machine). Anything else is not the node's.
local base64 = require "medic.base64"

local csr = {}

csr.COLLECTION = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
csr.CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
csr.SERVING_SIGNER = "kubernetes.io/kubelet-serving"
csr.BOOTSTRAPPER = "system:serviceaccount:openshift-machine-config-operator:node-bootstrapper"

local CN, O = "\85\4\3", "\85\4\10" -- the OIDs 2.5.4.3 (commonName) and 2.5.4.10 (organizationName)

------------------------------------------------------------------------------------------------ the request (DER)

-- One DER element at i: its tag, where its content starts and ends (inclusive), where the next element starts.
local function element(der, i)
	local tag, len = der:byte(i), der:byte(i + 1)
	if not tag or not len then return nil end
	local start = i + 2
	if len >= 0x80 then
		local n = len - 0x80
		if n < 1 or n > 3 then return nil end
		len = 0
		for k = 0, n - 1 do len = len * 256 + (der:byte(start + k) or 0) end
		start = start + n
	end
	local last = start + len - 1
	if last > #der then return nil end
	return tag, start, last, last + 1
end

-- The elements inside the constructed element whose content is [from, to].
local function children(der, from, to)
	local out, i = {}, from
	while i <= to do
		local tag, s, e, nxt = element(der, i)
		if not tag or e > to then return nil end
		out[#out + 1] = { tag = tag, s = s, e = e }
		i = nxt
	end
	return out
end

-- The subject of a PKCS#10 request (DER): { cn = {...}, o = {...} }, or nil.
local function subject_of(der)
	local tag, s, e = element(der, 1)
	if tag ~= 0x30 then return nil end
	local outer = children(der, s, e)
	local info = outer and outer[1] and outer[1].tag == 0x30 and children(der, outer[1].s, outer[1].e)
	local name = info and info[2]
	if not name or name.tag ~= 0x30 then return nil end
	local out = { cn = {}, o = {} }
	for _, set in ipairs(children(der, name.s, name.e) or {}) do
		for _, atv in ipairs(set.tag == 0x31 and children(der, set.s, set.e) or {}) do
			local kv = atv.tag == 0x30 and children(der, atv.s, atv.e)
			if kv and kv[1] and kv[1].tag == 0x06 and kv[2] then
				local oid, value = der:sub(kv[1].s, kv[1].e), der:sub(kv[2].s, kv[2].e)
				if oid == CN then out.cn[#out.cn + 1] = value elseif oid == O then out.o[#out.o + 1] = value end
			end
		end
	end
	return out
end

-- csr.subject(spec_request) -> { cn = {...}, o = {...} } | nil, why: spec.request is the base64 of a PEM request.
function csr.subject(request)
	local pem = base64.decode(request or "")
	local body = pem and pem:match("%-%-%-%-%-BEGIN CERTIFICATE REQUEST%-%-%-%-%-(.-)%-%-%-%-%-END CERTIFICATE REQUEST")
	local der = body and base64.decode((body:gsub("%s", "")))
	local subject = der and subject_of(der)
	if not subject then return nil, "its request is not a PEM certificate request" end
	return subject
end

------------------------------------------------------------------------------------------------ the checks

local function set_of(list)
	local out = {}
	for _, v in ipairs(list or {}) do out[v] = true end
	return out
end

local function usages_are(got, want)
	local g = set_of(got)
	g["key encipherment"] = nil -- an RSA key's request asks for it too
	for w in pairs(want) do if not g[w] then return false end end
	for k in pairs(g) do if not want[k] then return false end end
	return true
end

local SHAPES = {
	client = { signer = csr.CLIENT_SIGNER, usages = { ["digital signature"] = true, ["client auth"] = true } },
	serving = { signer = csr.SERVING_SIGNER, usages = { ["digital signature"] = true, ["server auth"] = true } },
}

local BOOTSTRAPPER_GROUPS = { "system:serviceaccounts:openshift-machine-config-operator", "system:serviceaccounts",
	"system:authenticated" }

local function same_set(a, b)
	local sa, sb, n = set_of(a), set_of(b), 0
	for k in pairs(sa) do
		if not sb[k] then return false end
		n = n + 1
	end
	for _ in pairs(sb) do n = n - 1 end
	return n == 0
end

-- As the machine-approver checks the requestor: the node-bootstrapper in exactly its groups; the node itself in
-- system:nodes and system:authenticated.
local function requestor_ok(kind, spec, node)
	if kind == "client" then return spec.username == csr.BOOTSTRAPPER and same_set(spec.groups, BOOTSTRAPPER_GROUPS) end
	local g = set_of(spec.groups)
	return spec.username == "system:node:" .. node and g["system:nodes"] == true and g["system:authenticated"] == true
end

-- csr.kind(obj, node) -> "client" | "serving" when obj is one of node's two requests, else nil, why.
function csr.kind(obj, node)
	local spec = obj.spec or {}
	local kind = spec.signerName == csr.CLIENT_SIGNER and "client" or spec.signerName == csr.SERVING_SIGNER and "serving"
	if not kind then return nil, "signer " .. tostring(spec.signerName) end
	local subject, why = csr.subject(spec.request)
	if not subject then return nil, why end
	if #subject.cn ~= 1 or subject.cn[1] ~= "system:node:" .. node then
		return nil, "its subject is CN=" .. table.concat(subject.cn, ",") .. ", not system:node:" .. node
	end
	if not set_of(subject.o)["system:nodes"] then return nil, "its subject's O has no system:nodes" end
	if not requestor_ok(kind, spec, node) then
		return nil, "requestor " .. tostring(spec.username) .. " in " .. table.concat(spec.groups or {}, ", ")
	end
	if not usages_are(spec.usages, SHAPES[kind].usages) then
		return nil, "usages " .. table.concat(spec.usages or {}, ", ")
	end
	return kind
end

-- "Approved", "Denied", "Failed" or "Pending"
function csr.condition(obj)
	local seen = {}
	for _, c in ipairs((obj.status or {}).conditions or {}) do
		if c.status == nil or c.status == "True" then seen[c.type] = true end
	end
	return seen.Denied and "Denied" or seen.Failed and "Failed" or seen.Approved and "Approved" or "Pending"
end

-- The object to PUT to .../NAME/approval, as `oc adm certificate approve` sends it.
function csr.approved_copy(obj, why)
	local copy = { apiVersion = "certificates.k8s.io/v1", kind = "CertificateSigningRequest", metadata = obj.metadata,
		spec = obj.spec, status = { conditions = {} } }
	for i, c in ipairs((obj.status or {}).conditions or {}) do copy.status.conditions[i] = c end
	copy.status.conditions[#copy.status.conditions + 1] = { type = "Approved", status = "True",
		reason = "EtcdMedicApprove", message = why }
	return copy
end

local function names_node(obj, node)
	local subject = csr.subject((obj.spec or {}).request)
	return (obj.spec or {}).username == "system:node:" .. node
		or (subject ~= nil and subject.cn[1] == "system:node:" .. node)
end

-- csr.of_node(kc, node) -> { pending = {obj...} (the node's, to approve), approved = {client=, serving=},
-- others = {{obj=, why=}...} (pending, naming the node, not in its shape) } | nil, err
function csr.of_node(kc, node)
	local list, err = kc:list(csr.COLLECTION)
	if not list then return nil, err end
	local out = { pending = {}, approved = {}, others = {} }
	local registered = nil
	for _, obj in ipairs(list.items or {}) do
		local kind, why = csr.kind(obj, node)
		local state = csr.condition(obj)
		if kind == "client" and state == "Pending" then
			if registered == nil then registered = kc:get("/api/v1/nodes/" .. node) ~= nil end
			if registered then kind, why = nil, "a client CSR, and node " .. node .. " is registered already" end
		end
		if kind and state == "Pending" then out.pending[#out.pending + 1] = obj
		elseif kind and state == "Approved" then out.approved[kind] = true
		elseif not kind and state == "Pending" and names_node(obj, node) then
			out.others[#out.others + 1] = { obj = obj, why = why }
		end
	end
	return out
end

function csr.approval_path(name) return csr.COLLECTION .. "/" .. name .. "/approval" end

return csr
