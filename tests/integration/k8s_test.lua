-- medic.k8s against the shared testbed (TESTBED_DIR and KUBECONFIG from tests/integration/run): lists with
-- pagination, Status errors, merge and JSON patch read back, delete preconditions and dryRun, watch (with
-- a dropped stream resumed), exec (stdout, stderr, exit codes 0 and 3, stdin, 5 MiB of output, stdout
-- streamed to a file; an etcd snapshot taken through exec and copied out), the
-- limited kubeconfig (Forbidden), faults through `testbed fault` (429 + Retry-After retried, a dropped GET
-- retried, a 500 on DELETE reported once and not retried), a wrong CA, an exec credential plugin, -v
-- logging without the token, and exec on a v4-only server (a 4.7-profile testbed of its own).
-- The shared cluster is left as found: the test's ConfigMaps are deleted and annotations removed.
local k8s = require "medic.k8s"
local json = require "medic.json"
local host = require "medic.host"

local DIR = assert(os.getenv("TESTBED_DIR"), "TESTBED_DIR is not set (run through tests/integration/run)")
local MEDIC = os.getenv("MEDIC") or "build/etcd-medic"
local TESTBED = "tests/testbed/testbed"
local NS = "openshift-etcd"
local PODS = "/api/v1/namespaces/" .. NS .. "/pods"
local CMS = "/api/v1/namespaces/" .. NS .. "/configmaps"

package.path = (arg[0]:match("^(.*)/") or ".") .. "/../lua/?.lua;" .. package.path
local spec = require "spec"
local test = spec.it

local function eq(got, want, what)
	if got ~= want then
		error(("%s: got %s, want %s"):format(what or "value", tostring(got), tostring(want)), 2)
	end
end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function sh(cmd)
	local p = assert(io.popen(cmd .. " 2>&1", "r"))
	local out = p:read("a")
	return out, p:close() == true
end

local function fault(args)
	local out, ok = sh(TESTBED .. " fault " .. q(DIR) .. " " .. args)
	assert(ok, "testbed fault " .. args .. ": " .. out)
end

local function write(path, text)
	local f = assert(io.open(path, "w"))
	f:write(text)
	f:close()
end

local kc = assert(k8s.connect { namespace = NS })
local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -m 700 " .. q(tmp)))

-- A healthy etcd pod to exec into (the etcdctl container runs in every etcd pod).
local function healthy_pod()
	local pods = assert(kc:list(PODS, { labelSelector = "app=etcd" }))
	for _, p in ipairs(pods.items) do
		if p.status and p.status.phase == "Running" then
			local ready = true
			for _, cs in ipairs(p.status.containerStatuses or {}) do ready = ready and cs.ready == true end
			if ready then return p.metadata.name end
		end
	end
	error("no healthy etcd pod")
end

test("list pods: every page followed, same items as one page", function()
	local all = assert(kc:list(PODS, { labelSelector = "app=etcd" }))
	assert(#all.items >= 3, "expected 3 etcd pods, got " .. #all.items)
	local paged = assert(kc:list(PODS, { labelSelector = "app=etcd", limit = 1 }))
	eq(#paged.items, #all.items, "items over pages")
	for i, p in ipairs(all.items) do eq(paged.items[i].metadata.name, p.metadata.name, "item " .. i) end
	assert(all.metadata.resourceVersion, "list resourceVersion")
	local none = assert(kc:list(PODS, { fieldSelector = "metadata.name=no-such-pod" }))
	eq(#none.items, 0, "fieldSelector")
	eq(json.encode(none.items), "[]", "an empty list stays an array")
end)

test("get: NotFound with the Status object", function()
	local obj, msg, code, st = kc:get(PODS .. "/no-such-pod")
	eq(obj, nil)
	eq(code, "NotFound", "code")
	eq(st.code, 404, "status code")
	assert(msg:find("no-such-pod", 1, true), msg)
end)

test("patch the etcd CR (merge and JSON patch) and read it back", function()
	local path = "/apis/operator.openshift.io/v1/etcds/cluster"
	local stamp = "k8s-test-" .. os.time()
	assert(kc:patch(path, { metadata = { annotations = { ["etcd-medic.test/k8s"] = stamp } } }))
	local cr = assert(kc:get(path))
	eq(cr.metadata.annotations["etcd-medic.test/k8s"], stamp, "merge patch read back")
	assert(kc:patch(path, { { op = "replace", path = "/metadata/annotations/etcd-medic.test~1k8s", value = "json" } },
		"json"))
	eq(assert(kc:get(path)).metadata.annotations["etcd-medic.test/k8s"], "json", "JSON patch read back")
	local dry = assert(kc:patch(path, { metadata = { annotations = { ["etcd-medic.test/k8s"] = "dry" } } }, "merge",
		{ dryRun = true }))
	eq(dry.metadata.annotations["etcd-medic.test/k8s"], "dry", "dry-run answer")
	eq(assert(kc:get(path)).metadata.annotations["etcd-medic.test/k8s"], "json", "dry run changed nothing")
	assert(kc:patch(path, { metadata = { annotations = { ["etcd-medic.test/k8s"] = json.null } } }))
	eq(assert(kc:get(path)).metadata.annotations["etcd-medic.test/k8s"], nil, "removed with null")
end)

test("create and delete with preconditions: Conflict on a stale uid, dryRun keeps the object", function()
	local name = "medic-k8s-test-delete"
	kc:delete(CMS .. "/" .. name)
	local cm = assert(kc:create(CMS, { apiVersion = "v1", kind = "ConfigMap", metadata = { name = name },
		data = { a = "1" } }))
	local _, _, code = kc:create(CMS, { metadata = { name = name } })
	eq(code, "AlreadyExists", "second create")
	local _, msg, code2, st = kc:delete(CMS .. "/" .. name, { preconditions = { uid = "00000000-stale" } })
	eq(code2, "Conflict", "stale uid")
	eq(st.code, 409, "status code")
	assert(msg:find("Precondition", 1, true) or msg:find("precondition", 1, true), msg)
	assert(kc:delete(CMS .. "/" .. name, { dryRun = true, preconditions = { uid = cm.metadata.uid } }))
	assert(kc:get(CMS .. "/" .. name), "dryRun delete kept it")
	assert(kc:delete(CMS .. "/" .. name,
		{ preconditions = { uid = cm.metadata.uid, resourceVersion = cm.metadata.resourceVersion } }))
	local _, _, code3 = kc:get(CMS .. "/" .. name)
	eq(code3, "NotFound", "after delete")
end)

test("watch pods: events, a change made from the callback, stop by returning false", function()
	local target = healthy_pod()
	local n = #assert(kc:list(PODS, { labelSelector = "app=etcd" })).items
	local seen, changed, stop = {}, false, false
	local ok, msg, code = kc:watch(PODS, { labelSelector = "app=etcd", timeout = 30 }, function(ev)
		seen[#seen + 1] = ev.type .. " " .. ev.object.metadata.name
		if not changed and #seen >= n then
			changed = true -- every pod came as ADDED: now change one, from inside the callback
			assert(kc:patch(PODS .. "/" .. target, { metadata = { annotations = { ["etcd-medic.test/watch"] = "1" } } }))
		end
		local a = ev.object.metadata.annotations
		stop = ev.type == "MODIFIED" and ev.object.metadata.name == target and a ~= nil and a["etcd-medic.test/watch"] == "1"
		return not stop
	end)
	assert(ok, tostring(msg) .. " " .. tostring(code) .. " after " .. table.concat(seen, ", "))
	assert(stop, "saw the MODIFIED event")
	assert(kc:patch(PODS .. "/" .. target, { metadata = { annotations = { ["etcd-medic.test/watch"] = json.null } } }))
	local _, _, tcode = kc:watch(PODS, { fieldSelector = "metadata.name=no-such-pod", timeout = 2 },
		function() return true end)
	eq(tcode, "Timeout", "a quiet watch ends at its timeout")
end)

test("watch: a dropped stream is resumed from the last resourceVersion", function()
	local name = "medic-k8s-test-watch"
	kc:delete(CMS .. "/" .. name)
	local cm = assert(kc:create(CMS, { metadata = { name = name }, data = { n = "0" } }))
	assert(kc:patch(CMS .. "/" .. name, { data = { n = "1" } }))
	fault("--method GET --path " .. q("/configmaps\\?.*watch") .. " --drop --count 1")
	local got = {}
	local ok, msg, code = kc:watch(CMS, { fieldSelector = "metadata.name=" .. name,
		resourceVersion = cm.metadata.resourceVersion, timeout = 30 }, function(ev)
		got[#got + 1] = ev.type .. " n=" .. tostring(ev.object.data and ev.object.data.n)
		return false
	end)
	assert(ok, tostring(msg) .. " " .. tostring(code))
	eq(got[1], "MODIFIED n=1", "the first event after the resume")
	-- the fault was used up by the watch: a request without retries now goes through
	assert(kc:request { path = CMS, retries = 0, query = { watch = "true", timeoutSeconds = 1,
		fieldSelector = "metadata.name=" .. name, resourceVersion = cm.metadata.resourceVersion },
		on_data = function() return false end })
	fault("--clear")
	assert(kc:delete(CMS .. "/" .. name))
end)

test("exec etcdctl member list -w json in a healthy pod: exit code 0", function()
	local r = assert(kc:exec { pod = healthy_pod(), container = "etcdctl",
		command = { "etcdctl", "member", "list", "-w", "json" } })
	eq(r.exit_code, 0, "exit code")
	local doc = assert(json.decode(r.stdout))
	assert(#doc.members >= 3, "members: " .. r.stdout)
	assert(r.protocol == "v5.channel.k8s.io" or r.protocol == "v4.channel.k8s.io", r.protocol)
end)

test("exec: stderr and exit code 3; stdin; 5 MiB of stdout", function()
	local pod = healthy_pod()
	local r = assert(kc:exec { pod = pod, container = "etcdctl",
		command = { "sh", "-c", "echo out; echo err >&2; exit 3" } })
	eq(r.exit_code, 3, "exit code")
	eq(r.stderr, "err\n", "stderr")
	eq(r.stdout, "out\n", "stdout")
	r = assert(kc:exec { pod = pod, container = "etcdctl", command = { "cat" }, stdin = "to stdin\n" })
	eq(r.stdout, "to stdin\n", "stdin echoed (closed with v5's close signal)")
	r = assert(kc:exec { pod = pod, container = "etcdctl", command = { "head", "-c", "5242880", "/dev/zero" } })
	eq(#r.stdout, 5242880, "large output")
	eq(r.exit_code, 0)
	local _, _, code = kc:exec { pod = "no-such-pod", container = "etcdctl", command = { "true" } }
	eq(code, "NotFound", "exec into a missing pod")
end)

local function files_in(dir)
	local out = sh("ls -A " .. q(dir))
	local n = 0
	for _ in out:gmatch("[^\n]+") do n = n + 1 end
	return n
end

test("exec with stdout_file: streamed to a 0600 file that appears only on exit 0", function()
	local pod, dir = healthy_pod(), tmp .. "/out"
	assert(os.execute("mkdir -m 700 " .. q(dir)))
	local path = dir .. "/stdout.bin"
	local r = assert(kc:exec { pod = pod, container = "etcdctl", stdout_file = path,
		command = { "sh", "-c", "head -c 5242880 /dev/zero; echo tail; echo err >&2" } })
	eq(r.exit_code, 0, "exit code")
	eq(r.stdout, nil, "stdout went to the file, not the result")
	eq(r.stdout_bytes, 5242885, "stdout_bytes")
	eq(r.stderr, "err\n", "stderr still gathered")
	local f = assert(io.open(path, "rb"))
	eq(f:seek("end"), 5242885, "file size")
	f:seek("set", 5242880)
	eq(f:read("a"), "tail\n", "the file's last bytes")
	f:close()
	eq(sh("stat -c %a " .. q(path)), "600\n", "mode")
	eq(files_in(dir), 1, "no temporary file left")
	-- a non-zero exit: no file, and the temporary is gone too
	r = assert(kc:exec { pod = pod, container = "etcdctl", stdout_file = dir .. "/partial",
		command = { "sh", "-c", "echo partial; exit 3" } })
	eq(r.exit_code, 3, "exit code")
	eq(io.open(dir .. "/partial"), nil, "no file after exit 3")
	eq(files_in(dir), 1, "no temporary file left after exit 3")
	local _, msg, code = kc:exec { pod = pod, container = "etcdctl", stdout_file = tmp .. "/no/such/dir/x",
		command = { "true" } }
	eq(code, "IOError", "an unwritable stdout_file: " .. tostring(msg))
end)

test("etcd.via_exec snapshot: taken in the pod, copied out to this machine, checked, removed from the pod", function()
	local etcd = require "medic.etcd"
	local c = etcd.via_exec(kc, { namespace = NS, pod = healthy_pod() })
	local path = tmp .. "/exec-snapshot.db"
	local function in_pod_files() return sh("ls /tmp | grep '^etcd-medic-snapshot-' || true") end
	local before = in_pod_files()
	local s = assert(c:snapshot(path))
	eq(s.transport, "exec", "transport")
	eq(s.path, path, "path")
	local f = assert(io.open(path, "rb"))
	eq(f:seek("end"), s.size, "size")
	f:close()
	local checked = assert(etcd.check_snapshot(path))
	eq(checked.sha256, s.sha256, "sha256 read back")
	eq(sh("stat -c %a " .. q(path)), "600\n", "mode")
	-- the testbed runs the etcdctl container's commands on this machine: its /tmp is ours
	eq(in_pod_files(), before, "the file in the pod was removed")
	local _, msg, code = c:snapshot(tmp .. "/two.db", { endpoints = { "https://127.0.0.1:1" } })
	assert(code and msg:find("127.0.0.1:1", 1, true), "an endpoint that does not answer: " .. tostring(msg))
	eq(io.open(tmp .. "/two.db"), nil, "no file after a failed snapshot")
end)

test("the limited kubeconfig: Forbidden, can_i false", function()
	local lim = assert(k8s.connect { kubeconfig = DIR .. "/kubeconfig-limited", namespace = NS })
	local _, msg, code, st = lim:exec { pod = healthy_pod(), container = "etcdctl", command = { "true" } }
	eq(code, "Forbidden", "exec: " .. tostring(msg))
	eq(st.code, 403)
	local allowed = lim:can_i { verb = "create", resource = "pods", subresource = "exec" }
	eq(allowed, false, "can_i create pods/exec")
	eq(assert(kc:can_i { verb = "create", resource = "pods", subresource = "exec" }), true, "admin can")
	lim:close()
	lim:close() -- idempotent
end)

test("whoami and info (no secrets in info)", function()
	local me = assert(kc:whoami())
	assert(type(me.username) == "string" and me.username ~= "", "username")
	local info = kc:info()
	eq(info.namespace, NS)
	for _, v in pairs(info) do assert(not tostring(v):find("sha256~", 1, true), "a token in info()") end
end)

test("429 with Retry-After is retried after the wait", function()
	local pod = healthy_pod()
	fault("--method GET --path " .. q("/pods/" .. pod .. "$") .. " --status 429 --retry-after 1 --count 2")
	local t0 = host.now()
	local p = assert(kc:get(PODS .. "/" .. pod))
	eq(p.metadata.name, pod)
	assert(host.now() - t0 >= 1.9, "waited Retry-After twice")
	fault("--clear")
end)

test("a dropped connection on a GET is retried", function()
	local pod = healthy_pod()
	fault("--method GET --path " .. q("/pods/" .. pod .. "$") .. " --drop --count 2")
	local p, msg = kc:get(PODS .. "/" .. pod)
	assert(p, msg)
	eq(p.metadata.name, pod)
	fault("--clear")
end)

test("a 500 on DELETE is reported and not retried", function()
	local name = "medic-k8s-test-500"
	kc:delete(CMS .. "/" .. name)
	assert(kc:create(CMS, { metadata = { name = name } }))
	fault("--method DELETE --path " .. q("/configmaps/" .. name .. "$") .. " --status 500 --count 2")
	local _, _, code = kc:delete(CMS .. "/" .. name)
	eq(code, "InternalError", "first delete")
	-- one fault is left: the client sent exactly one DELETE
	local _, _, code2 = kc:delete(CMS .. "/" .. name)
	eq(code2, "InternalError", "second delete meets the second fault")
	assert(kc:get(CMS .. "/" .. name), "still there")
	fault("--clear")
	assert(kc:delete(CMS .. "/" .. name))
end)

test("a wrong CA is a TLS error; a missing context names the file", function()
	local cfg = assert(io.open(os.getenv("KUBECONFIG"))):read("a")
	local other_ca = assert(io.open(DIR .. "/etcd/ca.crt")):read("a")
	local b64 = assert(sh("base64 -w0 " .. q(DIR .. "/etcd/ca.crt")))
	assert(other_ca:find("BEGIN CERTIFICATE", 1, true))
	local bad = cfg:gsub("certificate%-authority%-data: %S+", "certificate-authority-data: " .. b64)
	write(tmp .. "/bad-ca", bad)
	local c = assert(k8s.connect { kubeconfig = tmp .. "/bad-ca" })
	local _, msg, code = c:get(PODS)
	eq(code, "TLS", "wrong CA: " .. tostring(msg))
	c:close()
	local _, msg2, code2 = k8s.connect { kubeconfig = tmp .. "/bad-ca", context = "nope" }
	eq(code2, "InvalidConfig")
	assert(msg2:find(tmp .. "/bad-ca", 1, true) and msg2:find("nope", 1, true), msg2)
end)

test("an exec credential plugin (ExecCredential v1)", function()
	write(tmp .. "/plugin", "#!/bin/sh\n" ..
		"tok=$(sed -n 's/^ *token: *//p' \"$MEDIC_KC\" | head -n 1)\n" ..
		"printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\"," ..
		"\"status\":{\"token\":\"%s\"}}' \"$tok\"\n")
	assert(os.execute("chmod 700 " .. q(tmp .. "/plugin")))
	local cfg = assert(io.open(os.getenv("KUBECONFIG"))):read("a")
	cfg = cfg:gsub("\n    token: %S+", "\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n" ..
		"      command: ./plugin\n      interactiveMode: Never\n      env:\n      - name: MEDIC_KC\n" ..
		"        value: " .. os.getenv("KUBECONFIG"))
	write(tmp .. "/exec-kubeconfig", cfg)
	local c = assert(k8s.connect { kubeconfig = tmp .. "/exec-kubeconfig", namespace = NS })
	eq(c:info().auth, "exec")
	assert(c:get(PODS .. "/" .. healthy_pod()))
	c:close()
end)

test("-v logs method, path, status and duration, never the token", function()
	local out = sh(("%s -v -e %s"):format(q(MEDIC), q("local k = assert(require('medic.k8s').connect{}) " ..
		"assert(k:get('/api/v1/namespaces/openshift-etcd/pods'))")))
	assert(out:find("GET /api/v1/namespaces/openshift-etcd/pods", 1, true), out)
	assert(out:find("200", 1, true) and out:find("ms", 1, true), out)
	assert(not out:find("sha256~", 1, true), "token in the log")
end)

-- (three nodes: a one-node 4.7 testbed did not become healthy when tried)
test("exec on a v4-only server (4.7 profile, a testbed of its own)", function()
	local d = tmp .. "/v4"
	local out, ok = sh(TESTBED .. " up " .. q(d) .. " --names v4-0,v4-1,v4-2 --profile 4.7")
	if not ok then
		sh(TESTBED .. " down " .. q(d))
		error("4.7 testbed did not come up: " .. out:sub(-400))
	end
	local ok2, err = pcall(function()
		local c = assert(k8s.connect { kubeconfig = d .. "/kubeconfig", namespace = NS })
		local pods = assert(c:list(PODS, { labelSelector = "app=etcd" }))
		local r = assert(c:exec { pod = pods.items[1].metadata.name, container = "etcdctl",
			command = { "sh", "-c", "echo v4; echo e >&2; exit 3" } })
		eq(r.protocol, "v4.channel.k8s.io", "negotiated")
		eq(r.stdout, "v4\n")
		eq(r.stderr, "e\n")
		eq(r.exit_code, 3)
		r = assert(c:exec { pod = pods.items[1].metadata.name, container = "etcdctl",
			command = { "etcdctl", "member", "list", "-w", "json" } })
		eq(r.exit_code, 0)
		eq(#assert(json.decode(r.stdout)).members, 3, "members through v4")
		c:close()
	end)
	sh(TESTBED .. " down " .. q(d))
	assert(ok2, err)
end)

kc:close()
os.execute("rm -rf " .. q(tmp))
spec.done()
