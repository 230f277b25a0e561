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
	eq(code, "Config")
	spec.contains(msg, dir .. "/missing")
	local bad = kubeconfig("bad", "{client-certificate: nope.crt, client-key: nope.key}")
	_, msg, code = k8s.connect { kubeconfig = bad }
	eq(code, "Config")
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
	_, msg = kc:request { path = "/x", query = { command = { "etcdctl", "member list" }, b = true } }
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
	eq(code, "ConnectionLost")
	rc, msg, code = k8s.exit_code("not json")
	eq(code, "BadResponse")
	rc, msg, code = k8s.exit_code('{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"x"}]}}')
	eq(code, "NonZeroExitCode", "an unreadable exit code is an error, not a number")
end)

spec.done()
