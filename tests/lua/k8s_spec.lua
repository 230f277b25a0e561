-- medic.k8s without a server: connect errors naming file and field, misuse raising, URL and query
-- percent-encoding (seen in the transport error of a refused connection), the exec exit-code rules,
-- and the handle's idempotent close.
local spec = require "spec"
local it, eq = spec.it, spec.eq
local k8s = require "medic.k8s"

local dir = spec.tmpdir()

local function kubeconfig(name, user, server)
	local path = dir .. "/" .. name
	spec.write(path, ([[
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: u
  user: %s
contexts:
- name: x
  context: {cluster: c, user: u, namespace: ns1}
current-context: x
]]):format(server or "https://127.0.0.1:1", user))
	return path
end

it("connect: errors name the file and the field, with code Config", function()
	local _, msg, code = k8s.connect { kubeconfig = dir .. "/missing" }
	eq(code, "InvalidConfig")
	spec.contains(msg, dir .. "/missing")
	local bad = kubeconfig("bad", "{client-certificate: nope.crt, client-key: nope.key}")
	_, msg, code = k8s.connect { kubeconfig = bad }
	eq(code, "InvalidConfig")
	spec.contains(msg, "users[0].user.client-certificate")
	_, msg = k8s.connect { kubeconfig = kubeconfig("ctx", "{token: t}"), context = "other" }
	spec.contains(msg, 'context "other" not found')
	spec.write(dir .. "/garbage", "clusters: [\n")
	_, msg = k8s.connect { kubeconfig = dir .. "/garbage" }
	spec.contains(msg, "not valid YAML")
end)

it("connect: namespace from the context unless given; info has no secrets", function()
	local kc = assert(k8s.connect { kubeconfig = kubeconfig("ok", "{token: sekrit-token}"), namespace = false })
	local info = kc:info()
	eq(info.auth, "token")
	eq(info.context, "x")
	for _, v in pairs(info) do spec.lacks(tostring(v), "sekrit") end
	kc:close()
	kc:close()
	local ok = pcall(kc.get, kc, "/api")
	eq(ok, false, "a closed client raises")
end)

it("paths and query values are percent-encoded; a refused connection is ConnectFailed", function()
	local kc <close> = assert(k8s.connect { kubeconfig = kubeconfig("refused", "{token: t}"), retries = 0,
		connect_timeout = 2 })
	local obj, msg, code = kc:get("/api/v1/namespaces/a b/pods/x%y", { labelSelector = "app=etcd,x in (a,b)" })
	eq(obj, nil)
	eq(code, "ConnectFailed")
	spec.contains(msg, "GET /api/v1/namespaces/a%20b/pods/x%25y?labelSelector=app%3Detcd%2Cx%20in%20%28a%2Cb%29")
	msg = select(2, kc:request { path = "/x", query = { command = { "etcdctl", "member list" }, b = true } })
	spec.contains(msg, "/x?b=true&command=etcdctl&command=member%20list")
	eq(pcall(kc.get, kc, "no-slash"), false, "a relative path raises")
	eq(pcall(kc.request, kc, { path = "/x", query = { [1] = "v" } }), false, "a non-string key raises")
	eq(pcall(kc.patch, kc, "/x", {}, "bogus"), false, "an unknown patch type raises")
	eq(pcall(kc.exec, kc, { pod = "p", command = "ls" }), false, "command must be a list")
end)

it("exec exit codes from the channel-3 Status", function()
	eq(k8s.exit_code('{"metadata":{},"status":"Success"}'), 0)
	eq(k8s.exit_code('{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: 3",' ..
		'"reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}'), 3)
	local rc, msg, code, st = k8s.exit_code('{"status":"Failure","reason":"InternalError","message":"runtime failed"}')
	eq(rc, nil)
	eq(code, "InternalError")
	spec.contains(msg, "runtime failed")
	eq(st.reason, "InternalError")
	rc, msg, code = k8s.exit_code(nil)
	eq(rc, nil)
	eq(code, "ConnectionLost")
	spec.contains(msg, "exec: ")
	rc, msg, code = k8s.exit_code("not json")
	eq(rc, nil)
	eq(code, "BadResponse")
	spec.contains(msg, "exec: ")
	rc, msg, code = k8s.exit_code('{"status":"Failure","reason":"NonZeroExitCode",' ..
		'"details":{"causes":[{"reason":"ExitCode","message":"x"}]}}')
	eq(rc, nil)
	eq(code, "NonZeroExitCode", "an unreadable exit code is an error, not a number")
	spec.contains(msg, "exec: ")
end)

-- A real HTTPS server on 127.0.0.1 (tests/unit/https_server.py: its own CA, server and client certificates;
-- /echo reports the client certificate's CN): kubeconfigs with client certificates from files, from -data,
-- from an exec plugin, and tls-server-name, all the way through medic.k8s.
local function start_server()
	local sdir = dir .. "/server"
	os.execute("mkdir " .. spec.q(sdir) .. " && python3 tests/unit/https_server.py " .. spec.q(sdir) ..
		" >/dev/null 2>&1 &")
	local host = require "medic.host"
	local deadline = host.now() + 30
	while not spec.read(sdir .. "/port") and host.now() < deadline do host.sleep(0.1) end
	return sdir, assert(spec.read(sdir .. "/port"), "the test server did not start")
end

local sdir, port = start_server()

local function tls_kubeconfig(name, cluster, user)
	local path = dir .. "/" .. name
	spec.write(path, ([[
clusters: [{name: c, cluster: {%s}}]
users: [{name: u, user: {%s}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
]]):format(cluster, user))
	return path
end

local function base64(path)
	local p = io.popen("base64 -w0 " .. spec.q(path))
	local b = p:read("a")
	p:close()
	return b
end

it("client certificate and key from files (relative to the kubeconfig) and from -data", function()
	local ca = "server: 'https://127.0.0.1:" .. port .. "', certificate-authority: server/ca.crt"
	local kc <close> = assert(k8s.connect { kubeconfig = tls_kubeconfig("files", ca,
		"client-certificate: server/client.crt, client-key: server/client.key") })
	eq(kc:info().auth, "client-certificate")
	local r = assert(kc:get("/echo"))
	eq(r.cn, "client", "the server saw our client certificate")
	eq(r.auth, "", "no Authorization header")
	local kd <close> = assert(k8s.connect { kubeconfig = tls_kubeconfig("data",
		"server: 'https://127.0.0.1:" .. port .. "', certificate-authority-data: " .. base64(sdir .. "/ca.crt"),
		"client-certificate-data: " .. base64(sdir .. "/client.crt") .. ", client-key-data: " ..
		base64(sdir .. "/client.key")) })
	eq(assert(kd:get("/echo")).cn, "client")
end)

it("an exec plugin's client certificate (PEM in ExecCredential) and its token; a failing plugin", function()
	spec.write(dir .. "/plugin.py", [[
import json, sys
d = sys.argv[1]
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
    "status": {"clientCertificateData": open(d + "/client.crt").read(), "clientKeyData": open(d + "/client.key").read(),
               "token": "plugin-token"}}))
]])
	local kc <close> = assert(k8s.connect { kubeconfig = tls_kubeconfig("exec",
		"server: 'https://127.0.0.1:" .. port .. "', certificate-authority: server/ca.crt",
		"exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: python3, args: [" .. dir .. "/plugin.py, "
			.. sdir .. "]}") })
	local r = assert(kc:get("/echo"))
	eq(r.cn, "client")
	eq(r.auth, "Bearer plugin-token")
	local _, msg, code = k8s.connect { kubeconfig = tls_kubeconfig("exec-fails",
		"server: 'https://127.0.0.1:" .. port .. "'",
		"exec: {apiVersion: client.authentication.k8s.io/v1, command: false, installHint: 'install the plugin'}") }
	eq(code, "InvalidConfig")
	spec.contains(msg, "exec plugin false failed (exit status 1): install the plugin")
end)

it("tls-server-name: connect to one name, verify another", function()
	local ca = "certificate-authority: server/ca.crt, server: 'https://localhost:" .. port .. "'"
	local bad <close> = assert(k8s.connect { kubeconfig = tls_kubeconfig("noname", ca, "token: t"), retries = 0 })
	local _, _, code = bad:get("/echo")
	eq(code, "TLS", "localhost is not in the certificate")
	local kc <close> = assert(k8s.connect { kubeconfig = tls_kubeconfig("sni", ca .. ", tls-server-name: medic.test",
		"token: t") })
	eq(assert(kc:get("/echo")).auth, "Bearer t")
end)

it("a plain-text 429 without retries left is TooManyRequests with the text", function()
	local kc <close> = assert(k8s.connect { kubeconfig = tls_kubeconfig("plain",
		"server: 'https://127.0.0.1:" .. port .. "', certificate-authority: server/ca.crt", "token: t"), retries = 0 })
	local _, msg, code, st = kc:get("/retry")
	eq(code, "TooManyRequests")
	eq(st.code, 429)
	spec.contains(msg, "Too many requests")
	local _, _, code2, st2 = kc:get("/nothing-here")
	eq(code2, "NotFound")
	eq(st2.code, 404)
end)

spec.write(sdir .. "/stop", "")
local host = require "medic.host"
local deadline = host.now() + 5 -- the server leaves within 0.1 s of the stop file; then its files can go
while io.open(sdir .. "/port") and host.now() < deadline do
	if os.execute("pgrep -f " .. spec.q("https_server.py " .. sdir) .. " >/dev/null") ~= true then break end
	host.sleep(0.1)
end
os.execute("rm -rf " .. spec.q(dir))
spec.done()
