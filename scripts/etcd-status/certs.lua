-- etcd-medic-api: 2
-- etcd-status findings about etcd's certificates: the two signer CAs (etcd-signer, etcd-metric-signer) and each
-- control-plane node's peer, serving and metrics serving certificates, read from their Secrets' tls.crt with
-- medic.x509. Only public fields are read (tls.key is never decoded); no Secret data is printed or logged.
--
-- Where they live and who renews them (openshift/cluster-etcd-operator, pkg/tlshelpers and
-- pkg/operator/etcdcertsigner, release branches):
--   signers   before 4.16: openshift-config, 10 years (the installer's), never rotated by the operator;
--             4.16 and later: openshift-etcd, 5 years, rotated by the operator after 4.2 years; the alerts
--             etcdSignerCAExpirationWarning (< 730 days) and etcdSignerCAExpirationCritical (< 365 days) fire
--             on them, and the documentation's "Rotating the etcd certificate" renews one by hand.
--   leaves    openshift-etcd/etcd-{peer,serving,serving-metrics}-NODE, 3 years, copied into etcd-all-certs;
--             renewed by the operator from 4.9 on once less than 20% of their life is left (4.16 and later:
--             after 2.2 of the 3 years); 4.8 and earlier renew a certificate only when its secret is missing.
local x509 = require "medic.x509"
local base64 = require "medic.base64"
local openshift = require "medic.openshift"

local certs = {}

local DAY = 86400

certs.FACTS = {
	signers = { { name = "etcd-signer", what = "etcd signer CA" },
		{ name = "etcd-metric-signer", what = "etcd metrics signer CA" } },
	signer_namespaces = { "openshift-etcd", "openshift-config" }, -- the 4.16+ place first
	signer_warning_days = 730, -- etcdSignerCAExpirationWarning
	signer_critical_days = 365, -- etcdSignerCAExpirationCritical
	leaves = { { prefix = "etcd-peer-", what = "peer" }, { prefix = "etcd-serving-", what = "serving" },
		{ prefix = "etcd-serving-metrics-", what = "metrics serving" } },
	aggregate = "etcd-all-certs", -- every node's certificates, "etcd-peer-NODE.crt" (4.8 and later)
	leaf_renew_fraction = 0.2, -- the 4.9-4.15 operator renews below this share of the lifetime (4.16+: earlier)
	leaf_critical_days = 30,
	leaf_renewal_since = "4.9",
	signer_rotation_since = "4.16",
	rotate_doc = "the OpenShift documentation, \"etcd certificates\": Rotating the etcd certificate "
		.. "(https://docs.openshift.com/container-platform/4.16/security/certificate_types_descriptions/"
		.. "etcd-certificates.html)",
	signer_controller = "oc get etcd cluster -o jsonpath='{.status.conditions[?(@.type==\"EtcdCertSignerController"
		.. "Degraded\")]}'; oc logs -n openshift-etcd-operator deployment/etcd-operator | grep -i cert",
}

------------------------------------------------------------------------------------------------ reading

-- The first certificate of a PEM text (a leaf's tls.crt carries the signer after it), or nil and why.
local function first_cert(pem)
	local list, why = x509.read(pem)
	if not list then return nil, why end
	return list[1]
end

-- A Secret's tls.crt (or another key of its data), decoded; nil, why, code when missing or unreadable.
local function secret_pem(kc, ns, name, key)
	local s, msg, code = kc:get(openshift.ns_path(ns, "secrets", name))
	if not s then return nil, msg, code end
	local b64 = (s.data or {})[key or "tls.crt"]
	if not b64 then return nil, "secret " .. ns .. "/" .. name .. " has no " .. (key or "tls.crt"), "NotFound" end
	local pem, why = base64.decode(b64)
	if not pem then return nil, ns .. "/" .. name .. ": " .. why, "InvalidArgument" end
	return pem
end

local function days(seconds) return math.floor(seconds / DAY) end

local function date(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", t) end

-- "expires on DATE (N days left)" or "expired on DATE".
local function when(not_after, now, extra)
	if not_after <= now then return "expired on " .. date(not_after) end
	return string.format("expires on %s (%d days left%s)", date(not_after), days(not_after - now), extra or "")
end

local function evidence(ns, name, c, now)
	return { secret_name = ns .. "/" .. name, not_after = date(c.not_after), not_before = date(c.not_before),
		days_left = days(c.not_after - now), subject = c.subject, issuer = c.issuer, serial = c.serial }
end

------------------------------------------------------------------------------------------------ findings

local function unreadable(ns, name, why, code)
	local forbidden = code == "Forbidden" or code == "Unauthorized"
	return { code = "CERT_UNREADABLE", severity = forbidden and "info" or "warning", subject = ns .. "/" .. name,
		summary = "cannot read the certificate of " .. ns .. "/" .. name .. ": " .. tostring(why),
		evidence = { secret_name = ns .. "/" .. name, error = tostring(why), error_code = tostring(code) },
		next = forbidden and ("oc auth can-i get secrets -n " .. ns .. " (etcd-status needs to read it)")
			or ("oc get secret -n " .. ns .. " " .. name .. " -o jsonpath='{.data.tls\\.crt}' | base64 -d | "
				.. "openssl x509 -noout -dates") }
end

-- Severity of a signer with `left` seconds of validity, as the alerts rate it (nil: nothing to say).
function certs.signer_severity(left, facts)
	if left < facts.signer_critical_days * DAY then return "critical" end
	if left < facts.signer_warning_days * DAY then return "warning" end
end

function certs.signer_next(signer, ns, rotates, facts)
	if ns == "openshift-etcd" then
		return "oc get secret -n openshift-etcd " .. signer .. " -o yaml > " .. signer .. "_backup_secret.yaml; "
			.. "oc delete secret -n openshift-etcd " .. signer .. "; oc wait --for=condition=Progressing=False "
			.. "--timeout=15m clusteroperator/etcd (" .. facts.rotate_doc .. ")"
	end
	return (rotates and "the operator has not moved the signer to openshift-etcd yet: " .. facts.signer_controller
		or "this release's operator never rotates the signer in openshift-config: upgrade to 4.16 or later "
			.. "(its operator rotates it) before it expires, or ask Red Hat support for this release's "
			.. "signer renewal; " .. facts.rotate_doc)
end

function certs.signer_finding(s, c, now, facts, rotates)
	local left = c.not_after - now
	local severity = left <= 0 and "critical" or certs.signer_severity(left, facts)
	if not severity then return nil end
	local e = evidence(s.ns, s.name, c, now)
	e.alert = left < facts.signer_critical_days * DAY and "etcdSignerCAExpirationCritical"
		or "etcdSignerCAExpirationWarning"
	return { code = left <= 0 and "SIGNER_CA_EXPIRED" or "SIGNER_CA_EXPIRING", severity = severity,
		subject = s.ns .. "/" .. s.name, evidence = e, next = certs.signer_next(s.name, s.ns, rotates, facts),
		summary = "the " .. s.what .. " " .. when(c.not_after, now) }
end

-- A leaf: expired or under leaf_critical_days: critical; past the operator's renewal point: warning.
function certs.leaf_severity(c, now, facts)
	local left, life = c.not_after - now, math.max(1, c.not_after - c.not_before)
	if left < facts.leaf_critical_days * DAY then return "critical" end
	if left / life < facts.leaf_renew_fraction then return "warning" end
end

function certs.leaf_next(secret, ns, severity, renews, facts)
	local delete = "oc delete secret -n " .. ns .. " " .. secret .. " (the operator issues a new one from the "
		.. "signer and rolls it out in a new revision)"
	if severity == "warning" and renews then
		return "the operator renews it by itself and has not: " .. facts.signer_controller
	end
	return delete
end

function certs.leaf_finding(l, c, now, facts, renews)
	local severity = certs.leaf_severity(c, now, facts)
	if not severity then return nil end
	local left = c.not_after - now
	local e = evidence(l.ns, l.name, c, now)
	e.node, e.kind = l.node, l.what
	return { code = left <= 0 and "CERT_EXPIRED" or "CERT_EXPIRING", severity = severity, subject = l.node,
		evidence = e, next = certs.leaf_next(l.name, l.ns, severity, renews, facts),
		summary = string.format("the %s certificate of %s (%s) %s", l.what, l.node, l.name,
			when(c.not_after, now, severity == "warning" and ", past the operator's renewal point" or nil)) }
end

------------------------------------------------------------------------------------------------ checks

-- The signer's Secret: in openshift-etcd (4.16+), else openshift-config. nil, why, code when in neither.
local function find_signer(kc, signer, facts)
	local why, code
	for _, ns in ipairs(facts.signer_namespaces) do
		local pem, msg, c = secret_pem(kc, ns, signer.name)
		if pem then return { ns = ns, name = signer.name, what = signer.what, pem = pem } end
		if c ~= "NotFound" then return nil, msg, c, ns end
		why, code = why or msg, code or c
	end
	return nil, why, code, facts.signer_namespaces[#facts.signer_namespaces]
end

local function check_signers(kc, now, facts, version, out)
	local rotates = openshift.at_least(version, facts.signer_rotation_since)
	for _, signer in ipairs(facts.signers) do
		local s, why, code, ns = find_signer(kc, signer, facts)
		local c, bad
		if s then c, bad = first_cert(s.pem) end
		if not s then
			out[#out + 1] = unreadable(ns, signer.name, why, code)
		elseif not c then
			out[#out + 1] = unreadable(s.ns, signer.name, bad, "InvalidArgument")
		else
			out[#out + 1] = certs.signer_finding(s, c, now, facts, rotates)
		end
	end
end

-- One node's leaf: its own Secret, else its entry in etcd-all-certs (aggregate() reads that one only when needed:
-- it holds every node's keys too).
local function leaf_pem(kc, ns, name, aggregate)
	local pem, why, code = secret_pem(kc, ns, name)
	if pem or code ~= "NotFound" then return pem, why, code end
	local data = aggregate()
	local key = name .. ".crt"
	if data and data[key] then
		local apem, awhy = base64.decode(data[key])
		return apem, awhy, apem == nil and "InvalidArgument" or nil
	end
	return nil, why, code
end

local function missing(ns, name, node, facts)
	return { code = "CERT_MISSING", severity = "warning", subject = node,
		summary = "no secret " .. ns .. "/" .. name .. " and no entry in " .. facts.aggregate,
		evidence = { secret_name = ns .. "/" .. name, node = node },
		next = "the operator issues missing certificates; if it does not: " .. facts.signer_controller }
end

local function check_leaves(kc, ns, nodes, now, facts, version, out)
	local agg
	local function aggregate()
		agg = agg or kc:get(openshift.ns_path(ns, "secrets", facts.aggregate)) or {}
		return agg.data
	end
	local renews = openshift.at_least(version, facts.leaf_renewal_since)
	for _, n in ipairs(nodes) do
		local node = n.metadata.name
		for _, kind in ipairs(facts.leaves) do
			local name = kind.prefix .. node
			local pem, why, code = leaf_pem(kc, ns, name, aggregate)
			local c, bad
			if pem then c, bad = first_cert(pem) end
			if code == "NotFound" then
				out[#out + 1] = missing(ns, name, node, facts)
			elseif not c then
				out[#out + 1] = unreadable(ns, name, pem and bad or why, pem and "InvalidArgument" or code)
			else
				out[#out + 1] = certs.leaf_finding({ ns = ns, name = name, node = node, what = kind.what }, c, now,
					facts, renews)
			end
		end
	end
end

-- Without the right to read Secrets in a namespace, one finding for it, not one per Secret.
local function one_forbidden_per_namespace(list)
	local out, seen = {}, {}
	for _, f in ipairs(list) do
		local ns = f.code == "CERT_UNREADABLE" and f.severity == "info" and f.subject:match("^([^/]+)/")
		if not ns then
			out[#out + 1] = f
		elseif seen[ns] then
			seen[ns].evidence.secrets = seen[ns].evidence.secrets + 1
		else
			seen[ns] = f
			f.subject, f.evidence.secrets = ns, 1
			f.summary = "cannot read the certificates' Secrets in " .. ns .. ": " .. f.evidence.error
			out[#out + 1] = f
		end
	end
	return out
end

-- check(ctx) -> {findings}. Reads ctx.cluster:k8s(), ctx.nodes (or ctx.state.nodes), ctx.namespace (or
-- ctx.opts.namespace), ctx.now (default: the clock), ctx.facts.certs (a site file's changes to certs.FACTS).
function certs.check(ctx)
	local kc = ctx.cluster:k8s()
	local facts = setmetatable((ctx.facts or {}).certs or {}, { __index = certs.FACTS })
	local now = ctx.now or os.time()
	local ns = ctx.namespace or (ctx.opts or {}).namespace or "openshift-etcd"
	local nodes = ctx.nodes or (ctx.state or {}).nodes or openshift.etcd_nodes(kc)
	local version = openshift.operator_version(kc:get(openshift.ETCD_OPERATOR))
	local out = {}
	check_signers(kc, now, facts, version, out)
	check_leaves(kc, ns, nodes, now, facts, version, out)
	return one_forbidden_per_namespace(out)
end

return certs
