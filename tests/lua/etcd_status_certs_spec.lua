-- scripts/etcd-status/certs.lua: the thresholds of the operator's alerts (signers) and renewal rules (leaves), the
-- next step for each case (where the signer lives, which release renews what), Secrets read through a small
-- in-memory API (real certificates, made by openssl at test time), and no key material in any finding.
local spec = require "spec"
local certs = require "etcd-status.certs"
local it, eq, q = spec.it, spec.eq, spec.q

local DAY = 86400
local NOW = 1800000000
local F = certs.FACTS

local function cert(not_before, not_after)
	return { not_before = not_before, not_after = not_after, subject = "CN=x", issuer = "CN=etcd-signer", serial = "01" }
end

it("signers: the alerts' thresholds, 730 days a warning, 365 days critical, expired critical", function()
	local s = { ns = "openshift-etcd", name = "etcd-signer", what = "etcd signer CA" }
	eq(certs.signer_finding(s, cert(0, NOW + 731 * DAY), NOW, F, true), nil)
	local w = certs.signer_finding(s, cert(0, NOW + 729 * DAY), NOW, F, true)
	eq(w.severity, "warning")
	eq(w.code, "SIGNER_CA_EXPIRING")
	eq(w.evidence.alert, "etcdSignerCAExpirationWarning")
	eq(w.evidence.days_left, 729)
	local c = certs.signer_finding(s, cert(0, NOW + 364 * DAY), NOW, F, true)
	eq(c.severity, "critical")
	eq(c.evidence.alert, "etcdSignerCAExpirationCritical")
	local e = certs.signer_finding(s, cert(0, NOW - 1), NOW, F, true)
	eq(e.code, "SIGNER_CA_EXPIRED")
	eq(e.severity, "critical")
	spec.contains(e.summary, "expired on 2027-01-15T07:59:59Z")
end)

it("signer next step: 4.16+ (openshift-etcd) the documented rotation; before, no rotation by the operator", function()
	local new = certs.signer_next("etcd-signer", "openshift-etcd", true, F)
	spec.contains(new, "oc delete secret -n openshift-etcd etcd-signer")
	spec.contains(new, "oc wait --for=condition=Progressing=False --timeout=15m clusteroperator/etcd")
	spec.contains(new, "Rotating the etcd certificate")
	local old = certs.signer_next("etcd-metric-signer", "openshift-config", false, F)
	spec.contains(old, "never rotates the signer in openshift-config: upgrade to 4.16 or later")
	spec.lacks(old, "oc delete secret")
end)

it("leaves: critical under 30 days or expired; a warning past the operator's 20% renewal point", function()
	local life = 3 * 365 * DAY
	eq(certs.leaf_severity(cert(NOW - life + 300 * DAY, NOW + 300 * DAY), NOW, F), nil)
	eq(certs.leaf_severity(cert(NOW - life + 200 * DAY, NOW + 200 * DAY), NOW, F), "warning", "18%")
	eq(certs.leaf_severity(cert(NOW - DAY, NOW + 29 * DAY), NOW, F), "critical", "a short certificate, 29 days")
	eq(certs.leaf_severity(cert(NOW - DAY, NOW + 40 * DAY), NOW, F), nil, "40 of 41 days left")
	local l = { ns = "openshift-etcd", name = "etcd-peer-master-0", node = "master-0", what = "peer" }
	local e = certs.leaf_finding(l, cert(NOW - life, NOW - 5), NOW, F, true)
	eq(e.code, "CERT_EXPIRED")
	eq(e.subject, "master-0")
	eq(e.evidence.kind, "peer")
	spec.contains(e.next, "oc delete secret -n openshift-etcd etcd-peer-master-0")
end)

it("leaf next step: 4.9+ renews by itself (a warning names its controller); 4.8 needs the secret deleted", function()
	local l = { ns = "openshift-etcd", name = "etcd-serving-master-2", node = "master-2", what = "serving" }
	local life = 3 * 365 * DAY
	local renews = certs.leaf_finding(l, cert(NOW - life + 100 * DAY, NOW + 100 * DAY), NOW, F, true)
	eq(renews.severity, "warning")
	spec.contains(renews.next, "EtcdCertSignerControllerDegraded")
	local old = certs.leaf_finding(l, cert(NOW - life + 100 * DAY, NOW + 100 * DAY), NOW, F, false)
	spec.contains(old.next, "oc delete secret -n openshift-etcd etcd-serving-master-2")
end)

------------------------------------------------------------------------------------------------ check(ctx)

local dir = spec.tmpdir()
local function openssl(args) assert(os.execute("openssl " .. args .. " >/dev/null 2>&1"), args) end

-- A CA (days of validity) and, optionally, a leaf signed by it; PEM texts.
local function make(name, days, leaf_days)
	local p = dir .. "/" .. name
	openssl(("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout %s-ca.key -out %s-ca.crt "
		.. "-days %d -subj /CN=%s -addext basicConstraints=critical,CA:TRUE"):format(p, p, days, name))
	if not leaf_days then return spec.read(p .. "-ca.crt"), spec.read(p .. "-ca.key") end
	openssl(("req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout %s.key -out %s.csr -subj /CN=l")
		:format(p, p))
	openssl(("x509 -req -in %s.csr -CA %s-ca.crt -CAkey %s-ca.key -days %d -out %s.crt"):format(p, p, p, leaf_days, p))
	return spec.read(p .. ".crt") .. spec.read(p .. "-ca.crt"), spec.read(p .. ".key")
end

local function b64(s)
	local p = io.popen("printf %s " .. q(s) .. " | base64 -w0")
	local out = p:read("a")
	p:close()
	return out
end

local function secret(crt, key) return { data = { ["tls.crt"] = b64(crt), ["tls.key"] = b64(key) } } end

local function fake_ctx(objects, version) -- version: what clusteroperator/etcd reports
	objects["/apis/config.openshift.io/v1/clusteroperators/etcd"] = { status = { versions = {
		{ name = "operator", version = version } } } }
	local kc = { get = function(_, path)
		if objects[path] then return objects[path] end
		return nil, path .. " not found", "NotFound"
	end }
	return { cluster = { k8s = function() return kc end }, namespace = "openshift-etcd",
		nodes = { { metadata = { name = "master-0" } }, { metadata = { name = "master-1" } } } }
end

local S = "/api/v1/namespaces/%s/secrets/%s"
local signer_crt, signer_key = make("etcd-signer", 3650)
local msigner_crt, msigner_key = make("etcd-metric-signer", 500)
local short_crt, short_key = make("short", 3650, 5)
local long_crt, long_key = make("long", 3650, 1000)

local function cluster(signer_ns)
	local o = {
		[S:format(signer_ns, "etcd-signer")] = secret(signer_crt, signer_key),
		[S:format(signer_ns, "etcd-metric-signer")] = secret(msigner_crt, msigner_key),
		[S:format("openshift-etcd", "etcd-all-certs")] = { data = {
			["etcd-serving-metrics-master-1.crt"] = b64(long_crt), ["etcd-serving-metrics-master-1.key"] = b64(long_key) } },
	}
	for _, n in ipairs { "master-0", "master-1" } do
		for _, k in ipairs { "etcd-peer-", "etcd-serving-", "etcd-serving-metrics-" } do
			o[S:format("openshift-etcd", k .. n)] = secret(long_crt, long_key)
		end
	end
	o[S:format("openshift-etcd", "etcd-peer-master-1")] = secret(short_crt, short_key)
	o[S:format("openshift-etcd", "etcd-serving-metrics-master-1")] = nil -- only in etcd-all-certs (read from there)
	o[S:format("openshift-etcd", "etcd-serving-master-0")] = { data = { ["tls.crt"] = b64("not a certificate") } }
	return o
end

local function by_code(list)
	local out = {}
	for _, f in ipairs(list) do out[f.code .. " " .. f.subject] = f end
	return out
end

it("check(ctx): each Secret read, the findings with their evidence, the per-node ones from etcd-all-certs", function()
	local found = by_code(certs.check(fake_ctx(cluster("openshift-config"), "4.14.3")))
	local names = {}
	for k in pairs(found) do names[#names + 1] = k end
	table.sort(names)
	eq(table.concat(names, ", "), "CERT_EXPIRING master-1, CERT_UNREADABLE openshift-etcd/etcd-serving-master-0, "
		.. "SIGNER_CA_EXPIRING openshift-config/etcd-metric-signer")
	local leaf = found["CERT_EXPIRING master-1"]
	eq(leaf.severity, "critical")
	eq(leaf.evidence.secret_name, "openshift-etcd/etcd-peer-master-1")
	assert(leaf.evidence.days_left == 4 or leaf.evidence.days_left == 5, "5 days, less the seconds since openssl")
	eq(found["SIGNER_CA_EXPIRING openshift-config/etcd-metric-signer"].severity, "warning")
	spec.contains(found["SIGNER_CA_EXPIRING openshift-config/etcd-metric-signer"].next, "upgrade to 4.16 or later")
	spec.contains(found["CERT_UNREADABLE openshift-etcd/etcd-serving-master-0"].summary, "no PEM certificate")
end)

it("check(ctx) on 4.16: the signer in openshift-etcd, and its documented rotation as the next step", function()
	local found = by_code(certs.check(fake_ctx(cluster("openshift-etcd"), "4.16.2")))
	local f = assert(found["SIGNER_CA_EXPIRING openshift-etcd/etcd-metric-signer"])
	spec.contains(f.next, "oc delete secret -n openshift-etcd etcd-metric-signer")
end)

it("check(ctx): no key material in any finding; a Secret that cannot be read is said, not raised", function()
	local objects = cluster("openshift-config")
	objects[S:format("openshift-config", "etcd-signer")] = nil
	local list = certs.check(fake_ctx(objects, "4.14.3"))
	local keys = { signer_key, msigner_key, short_key, long_key }
	for _, f in ipairs(list) do
		local text = f.summary .. f.next
		for k, v in pairs(f.evidence) do text = text .. k .. tostring(v) end
		spec.lacks(text, "PRIVATE KEY")
		for _, k in ipairs(keys) do spec.lacks(text, b64(k):sub(1, 40)) end
	end
	local found = by_code(list)
	eq(found["CERT_UNREADABLE openshift-config/etcd-signer"].severity, "warning")
end)

it("check(ctx) without the right to read Secrets: one info finding per namespace, not one per Secret", function()
	local ctx = fake_ctx({}, "4.14.3")
	local get = ctx.cluster:k8s().get
	ctx.cluster:k8s().get = function(kc, path)
		if path:find("/secrets/", 1, true) then return nil, "secrets is forbidden", "Forbidden" end
		return get(kc, path)
	end
	local list = certs.check(ctx)
	eq(#list, 1, "the signers are looked for in openshift-etcd first: forbidden there, the search stops")
	local f = by_code(list)["CERT_UNREADABLE openshift-etcd"]
	eq(f.severity, "info")
	eq(f.evidence.secrets, 8, "2 signers and 2 nodes x 3")
	spec.contains(f.next, "oc auth can-i get secrets -n openshift-etcd")
end)

-- A real cluster's Secrets (4.8 on AWS, must-gather's secrets.yaml in ../shared/realdata): every item's name and
-- data, as the API server would serve them (must-gather keeps certificates and replaces keys by "N bytes long").
local function captured_secrets()
	local _, text = spec.find_realdata("*aws*namespaces/openshift-etcd/core/secrets.yaml")
	local objects, nodes, items = {}, {}, {}
	local starts = {}
	for pos in text:gmatch("\n()%- apiVersion: v1\n") do starts[#starts + 1] = pos end
	for i, pos in ipairs(starts) do items[i] = text:sub(pos, (starts[i + 1] or #text + 1) - 1) end
	for _, item in ipairs(items) do
		local name = item:match("\n  metadata:\n.-\n    name: (%S+)")
		local data = {}
		for k, v in (item:match("\n  data:\n(.-)\n  %a") or ""):gmatch("    (%S+): (%S+)") do data[k] = v end
		if name then objects[S:format("openshift-etcd", name)] = { data = data } end
		local node = name and name:match("^etcd%-peer%-(.+)$")
		if node then nodes[#nodes + 1] = { metadata = { name = node } } end
	end
	return objects, nodes
end

it("a real 4.8 cluster's certificates: none near expiry when captured; by 2024 past renewal, then expired", function()
	local objects, nodes = captured_secrets()
	eq(#nodes, 3, "etcd-peer-NODE for each of the 3 masters")
	local ctx = fake_ctx(objects, "4.8.0-0.nightly-2021-07-31-065602")
	ctx.nodes = nodes
	local function leaves(now)
		ctx.now = now
		local out = {}
		for _, f in ipairs(certs.check(ctx)) do
			if f.code:match("^CERT_EXP") then out[#out + 1] = f end
		end
		return out
	end
	eq(#leaves(os.time { year = 2021, month = 8, day = 4, hour = 0 }), 0, "fresh, the day after the capture")
	local late = leaves(1722590400 - 60 * DAY) -- 60 days before the peer certificates' notAfter (2024-08-02)
	eq(#late, 9, "3 nodes x peer, serving, metrics serving: under 20% of 3 years left")
	eq(late[1].severity, "warning")
	spec.contains(late[1].next, "oc delete secret -n openshift-etcd etcd-", "4.8 renews only a missing secret")
	local gone = leaves(1722590400 + DAY)
	eq(#gone, 9)
	eq(gone[1].code, "CERT_EXPIRED")
end)

os.execute("rm -rf " .. q(dir))
spec.done()
