-- medic.csr: a new node's CSRs told from any other, as --approve-csrs (replace-unhealthy-member, UPI) decides which
-- to approve. The requests are real PKCS#10, made now by openssl (EC as the kubelet makes them, RSA too); every check
-- the documentation and the machine-approver make refuses a request that fails it.
local spec = require "spec"
local csr = require "medic.csr"
local it, eq, q = spec.it, spec.eq, spec.q

local dir = spec.tmpdir()

-- spec.request of a CSR for SUBJ (as the API holds it: the base64 of the PEM)
local function request(subj, key)
	local f = dir .. "/r.b64"
	local ok = os.execute(("openssl req -new -newkey %s -nodes -keyout %s -subj %s 2>/dev/null | base64 -w0 >%s")
		:format(key or "ec -pkeyopt ec_paramgen_curve:prime256v1", q(dir .. "/k"), q(subj), q(f)))
	assert(ok, "openssl req")
	return spec.read(f)
end

local NODE_SUBJ = "/O=system:nodes/CN=system:node:master-3"
local BOOT_GROUPS = { "system:serviceaccounts:openshift-machine-config-operator", "system:serviceaccounts",
	"system:authenticated" }

local function client(over)
	local o = { metadata = { name = "csr-c" }, spec = { signerName = csr.CLIENT_SIGNER, username = csr.BOOTSTRAPPER,
		groups = BOOT_GROUPS, usages = { "digital signature", "client auth" }, request = request(NODE_SUBJ) } }
	for k, v in pairs(over or {}) do o.spec[k] = v end
	return o
end

local function serving(over)
	local o = { metadata = { name = "csr-s" }, spec = { signerName = csr.SERVING_SIGNER,
		username = "system:node:master-3", groups = { "system:nodes", "system:authenticated" },
		usages = { "digital signature", "server auth" }, request = request(NODE_SUBJ) } }
	for k, v in pairs(over or {}) do o.spec[k] = v end
	return o
end

it("reads the subject of a real request", function()
	local s = assert(csr.subject(request("/O=system:nodes/O=other/CN=system:node:x")))
	eq(s.cn[1], "system:node:x")
	eq(#s.o, 2)
	eq(s.o[1], "system:nodes")
end)

it("tells the node's client and serving CSRs (an RSA key's key encipherment too)", function()
	eq(csr.kind(client(), "master-3"), "client")
	eq(csr.kind(serving(), "master-3"), "serving")
	eq(csr.kind(serving { usages = { "key encipherment", "digital signature", "server auth" },
		request = request(NODE_SUBJ, "rsa:2048") }, "master-3"), "serving")
end)

it("refuses every request that is not the node's", function()
	local cases = {
		{ client(), "master-4", "CN=system:node:master-3" },
		{ client { signerName = "kubernetes.io/kube-apiserver-client" }, "master-3", "signer" },
		{ client { username = "system:admin" }, "master-3", "requestor" },
		{ client { groups = { "system:authenticated" } }, "master-3", "requestor" },
		{ client { usages = { "digital signature", "client auth", "server auth" } }, "master-3", "usages" },
		{ client { request = request("/O=system:masters/CN=system:node:master-3") }, "master-3", "O has no" },
		{ client { request = request("/O=system:nodes/CN=system:admin") }, "master-3", "CN=system:admin" },
		{ serving { username = "system:node:master-0" }, "master-3", "requestor" },
		{ serving { groups = { "system:authenticated" } }, "master-3", "requestor" },
		{ serving { usages = { "digital signature", "client auth" } }, "master-3", "usages" },
		{ serving { request = "bm90IGEgcmVxdWVzdA==" }, "master-3", "not a PEM certificate request" },
		{ serving { request = "" }, "master-3", "not a PEM certificate request" },
	}
	for i, c in ipairs(cases) do
		local kind, why = csr.kind(c[1], c[2])
		eq(kind, nil, "case " .. i)
		spec.contains(why, c[3], "case " .. i)
	end
end)

it("reads the condition, and adds Approved as oc adm certificate approve does", function()
	local o = serving()
	eq(csr.condition(o), "Pending")
	local a = csr.approved_copy(o, "why")
	eq(csr.condition(a), "Approved")
	eq(a.status.conditions[1].reason, "EtcdMedicApprove")
	eq(csr.condition(o), "Pending", "the original is left as it was")
	eq(csr.condition { status = { conditions = { { type = "Approved", status = "True" }, { type = "Denied" } } } },
		"Denied")
	eq(csr.approval_path("csr-x"), "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-x/approval")
end)

os.execute("rm -rf " .. q(dir))
spec.done()
