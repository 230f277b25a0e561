-- medic.x509 (bindings/x509/) and medic.base64: certificates made by openssl at test time and read from a real
-- cluster's capture (../shared/realdata, 4.8 on AWS), bad input refused with a clear error, keys never decoded,
-- libcrypto not loaded by require. The C units are in tests/unit/test_x509.c, the fuzz target fuzz/x509.c.
local spec = require "spec"
local x509 = require "medic.x509"
local base64 = require "medic.base64"
local it, eq, q = spec.it, spec.eq, spec.q

local function sh(cmd)
	local ok = os.execute(cmd .. " >/dev/null 2>&1")
	assert(ok, "failed: " .. cmd)
end

-- A CA and a leaf it signed, made now by the openssl command line (as tests/testbed/pki.py does).
local function make_pki(dir, days)
	sh(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout %s/ca.key -out %s/ca.crt "
		.. "-days %d -subj /OU=openshift/CN=etcd-signer -set_serial 0x00ff01 "
		.. "-addext basicConstraints=critical,CA:TRUE"):format(dir, dir, days))
	sh(("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout %s/leaf.key -out %s/leaf.csr "
		.. "-subj /O=system:etcd-peers/CN=system:etcd-peer:master-0"):format(dir, dir))
	sh(("openssl x509 -req -in %s/leaf.csr -CA %s/ca.crt -CAkey %s/ca.key -set_serial 0x0a0b -days 5 -out %s/leaf.crt")
		:format(dir, dir, dir, dir))
	return spec.read(dir .. "/ca.crt"), spec.read(dir .. "/leaf.crt"), spec.read(dir .. "/leaf.key")
end

local dir = spec.tmpdir()
local ca, leaf, key = make_pki(dir, 400)

it("reads every certificate of a bundle, in order, with its public fields", function()
	local list = assert(x509.read(leaf .. ca))
	eq(#list, 2)
	eq(list[1].subject, "CN=system:etcd-peer:master-0,O=system:etcd-peers")
	eq(list[1].common_name, "system:etcd-peer:master-0")
	eq(list[1].issuer, "CN=etcd-signer,OU=openshift")
	eq(list[1].serial, "0a0b")
	eq(list[1].is_ca, false)
	eq(list[1].not_after - list[1].not_before, 5 * 86400)
	eq(list[2].subject, "CN=etcd-signer,OU=openshift")
	eq(list[2].serial, "ff01", "the number's octets, as openssl prints it (DER's leading 00 is a sign byte)")
	eq(list[2].is_ca, true)
	eq(list[2].not_after - list[2].not_before, 400 * 86400)
	assert(math.abs(list[2].not_before - os.time()) < 120, "not_before is now, in Unix seconds")
end)

it("never returns or decodes key material: a key block beside the certificates is skipped", function()
	local list = assert(x509.read(key .. leaf .. "-----BEGIN RSA PRIVATE KEY-----\nnot base64!\n"
		.. "-----END RSA PRIVATE KEY-----\n" .. ca))
	eq(#list, 2)
	local fields = {}
	for k in pairs(list[1]) do fields[#fields + 1] = k end
	table.sort(fields)
	eq(table.concat(fields, " "), "common_name is_ca issuer not_after not_before serial subject")
	local v, msg, code = x509.read(key)
	eq(v, nil)
	eq(code, "InvalidArgument")
	spec.contains(msg, "no PEM certificate")
end)

it("bad input: a clear error and a code, never a crash", function()
	local cases = {
		{ "garbage", "no PEM certificate", "InvalidArgument" },
		{ "", "no PEM certificate", "InvalidArgument" },
		{ leaf:sub(1, 200), "without its END line", "InvalidArgument" },
		{ ca .. leaf:sub(1, #leaf - 10), "certificate 2 of the input: a BEGIN CERTIFICATE line without", "InvalidArgument" },
		{ "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n", "not a valid X.509 certificate",
			"InvalidArgument" },
		{ "-----BEGIN CERTIFICATE-----\n" .. key .. "-----END CERTIFICATE-----\n", "another BEGIN line",
			"InvalidArgument" },
		{ leaf:gsub("MII", "QQQ", 1), "not a valid X.509 certificate", "InvalidArgument" },
		{ ("x"):rep((4 << 20) + 1), "the limit is", "TooLarge" },
		{ ca:rep(1001), "more than 1000 certificates", "TooLarge" },
	}
	for i, c in ipairs(cases) do
		local v, msg, code = x509.read(c[1])
		eq(v, nil, "case " .. i)
		spec.contains(msg, c[2], "case " .. i)
		eq(code, c[3], "case " .. i)
	end
	eq(#assert(x509.read(ca:rep(1000))), 1000)
	eq(pcall(x509.read, {}), false, "not a string: misuse raises")
end)

it("requiring medic.x509 loads no libcrypto; the first certificate block to parse does", function()
	local chunk = [[
local function mapped() for l in io.lines("/proc/self/maps") do if l:find("libcrypto.so.3", 1, true) then
return true end end return false end
local x = require "medic.x509"; local before = mapped(); x.read("no certificate: nothing to parse")
local idle = mapped(); x.read("-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----")
print(before, idle, mapped())]]
	local code, out = spec.medic("-e " .. q(chunk))
	eq(code, 0)
	eq(out, "false\tfalse\ttrue\n")
end)

it("reads a real cluster's peer certificate (4.8 on AWS, a must-gather's secrets.yaml)", function()
	local _, text = spec.find_realdata("*aws*namespaces/openshift-etcd/core/secrets.yaml")
	local b64 = text:match("tls%.crt: (%S+)\n    tls%.key: %S+\n  kind: Secret\n  metadata:\n    annotations:\n"
		.. "      etcd%-operator%.alpha%.openshift%.io/cert%-secret%-node%-uid: 49e3273a")
	local list = assert(x509.read(assert(base64.decode(b64))))
	eq(#list, 2, "the leaf and the etcd-signer after it")
	eq(list[1].subject, "CN=system:etcd-peer:etcd-client,O=system:etcd-peers")
	eq(list[1].issuer, "CN=etcd-signer,OU=openshift")
	eq(list[1].not_after, 1722590400, "notAfter=Aug  2 09:20:00 2024 GMT (openssl x509 -enddate)")
	eq(list[1].serial, "04751232204de799")
	eq(list[2].common_name, "etcd-signer")
	eq(list[2].is_ca, true)
	eq(list[2].not_after - list[2].not_before, 315360001, "the installer's signer: 10 years (and a second)")
end)

it("base64 as the API server sends a Secret's data: strict", function()
	eq(base64.decode("Zm9vYg=="), "foob")
	eq(base64.decode("Zm9vYmE="), "fooba")
	eq(base64.decode(""), "")
	for _, bad in ipairs { "Zm9", "Zm9v!mFy", "Zg==Zg==", "Z===", "Zm9vYg=a" } do
		local v, msg = base64.decode(bad)
		eq(v, nil, bad)
		spec.contains(msg, "base64", bad)
	end
end)

os.execute("rm -rf " .. q(dir))
spec.done()
