-- medic.node on the shared testbed (tests/integration/run sets TESTBED_DIR and KUBECONFIG): a remote handle on
-- a node moves the etcd static pod manifest and data dir aside as the procedure does, the member's etcd stops;
-- moved back, it starts again; the debug pod and its namespace are gone afterwards, also when the chunk
-- raises midway, is interrupted with Ctrl-C, or leaves the handle open until exit (__gc). The files are
-- checked where the testbed keeps them (TESTBED_DIR/nodes/NODE/root) and by `testbed status`, not through
-- the handle.
local k8s = require "medic.k8s"
local node = require "medic.node"
local host = require "medic.host"
local json = require "medic.json"

local DIR = assert(os.getenv("TESTBED_DIR"), "TESTBED_DIR is not set (run through tests/integration/run)")
local MEDIC = os.getenv("MEDIC") or "build/etcd-medic"
local MANIFEST, DATA = "/etc/kubernetes/manifests/etcd-pod.yaml", "/var/lib/etcd"
local kc = assert(k8s.connect {})

local function wait(what, timeout, fn)
	local deadline = host.now() + timeout
	while not fn() do
		if host.now() > deadline then
			error("timed out after " .. timeout .. "s waiting for " .. what, 2)
		end
		host.sleep(0.2)
	end
end

local function on_disk(name, path)
	local f = io.open(DIR .. "/nodes/" .. name .. "/root" .. path, "rb")
	if f then
		f:close()
	end
	return f ~= nil
end

local function etcd_running(name)
	local pod = kc:get("/api/v1/namespaces/openshift-etcd/pods/etcd-" .. name)
	for _, cs in ipairs(pod and pod.status and pod.status.containerStatuses or {}) do
		if cs.name == "etcd" then
			return cs.state and cs.state.running ~= nil and cs.ready
		end
	end
	return false
end

-- `testbed status DIR`: the testbed's own view (processes from /proc, files from the node directory)
local function status()
	local p = assert(io.popen("tests/testbed/testbed status '" .. DIR .. "'"))
	local doc = assert(json.decode(p:read("a")))
	p:close()
	return doc
end

local function has(list, item)
	for _, v in ipairs(list or {}) do
		if v == item then
			return true
		end
	end
	return false
end

local function debug_pods(doc)
	local n = 0
	for _, pod in ipairs(doc.pods or {}) do
		if pod.namespace:find("^openshift%-debug%-") or pod.name:find("%-debug%-") then
			n = n + 1
		end
	end
	return n
end

local function gone(path)
	local obj, _, code = kc:get(path)
	return obj == nil and code == "NotFound"
end

local function debug_objects_gone(namespace, pod)
	wait("debug pod " .. pod .. " to go", 30,
		function() return gone("/api/v1/namespaces/" .. namespace .. "/pods/" .. pod) end)
	wait("namespace " .. namespace .. " to go", 30, function() return gone("/api/v1/namespaces/" .. namespace) end)
end

local nodes = assert(kc:list("/api/v1/nodes")).items
local name = nodes[#nodes].metadata.name
wait("etcd on " .. name .. " to run", 120, function() return etcd_running(name) end)

-- 1. aside and back, as the procedure does
local ns, pod
do
	local h <close> = assert(node.open_remote(kc, name, { timeout = 60 }))
	ns, pod = h.namespace, h.pod
	assert(kc:get("/api/v1/namespaces/" .. ns .. "/pods/" .. pod), "the debug pod exists while the handle is open")
	local aside = "/var/lib/etcd-medic-test-" .. os.time()
	assert(h:mkdir(aside, { parents = true, mode = "0700" }))
	assert(h:exists(MANIFEST) and h:exists(DATA), "manifest and data dir in place")
	local names = assert(h:list("/etc/kubernetes/manifests"))
	assert(#names >= 1, "manifests listed")
	assert(h:read(MANIFEST):find("etcd", 1, true), "the manifest reads")
	local ok, how = h:move(MANIFEST, aside .. "/etcd-pod.yaml")
	assert(ok and how == "rename", "manifest moved by rename")
	assert(h:move(DATA, aside .. "/etcd"))
	assert(not on_disk(name, MANIFEST) and on_disk(name, aside .. "/etcd-pod.yaml"), "manifest aside on the node")
	assert(h:stat(aside .. "/etcd").type == "directory", "data dir aside")
	local _, _, code = h:move(aside .. "/etcd-pod.yaml", aside .. "/etcd")
	assert(code == "AlreadyExists", "never overwrites")
	wait("etcd on " .. name .. " to stop", 60, function() return not etcd_running(name) end)
	local st
	wait("the etcd process on " .. name .. " to end", 60, function()
		st = status()
		return #st.nodes[name].etcd_processes == 0
	end)
	local files = st.nodes[name].files
	assert(has(files["var/lib"], aside .. "/etcd/"), "status shows the data dir aside")
	assert(not has(files["var/lib"], DATA .. "/"), "status shows no data dir in place")
	assert(not has(files["etc/kubernetes/manifests"], MANIFEST), "status shows no manifest in place")
	assert(debug_pods(st) == 1, "status shows the one debug pod")
	assert(h:move(aside .. "/etcd", DATA))
	assert(h:move(aside .. "/etcd-pod.yaml", MANIFEST))
	assert(on_disk(name, MANIFEST), "manifest back on the node")
	wait("etcd on " .. name .. " to run again", 120, function() return etcd_running(name) end)
end
debug_objects_gone(ns, pod)
assert(debug_pods(status()) == 0, "status shows no debug pod")
print("ok   aside and back; etcd stopped and started; debug pod and namespace gone")

-- 2. the chunk raises midway: <close> still deletes them
local ok, err = pcall(function()
	local h <close> = assert(node.open_remote(kc, name, { timeout = 60 }))
	ns, pod = h.namespace, h.pod
	error("midway")
end)
assert(not ok and tostring(err):find("midway"), err)
debug_objects_gone(ns, pod)
print("ok   a raising chunk leaves no debug pod or namespace")

-- 3. Ctrl-C in `etcd-medic -e` while a remote handle is open: exit 130, nothing left behind
local marker = os.tmpname()
local chunk = string.format([[
local kc = require("medic.k8s").connect{}
local n <close> = assert(require("medic.node").open_remote(kc, %q, {timeout = 60}))
local f = io.open(%q, "w") f:write(n.namespace, " ", n.pod) f:close()
while true do require("medic.host").sleep(0.05) end]], name, marker)
local script = os.tmpname()
local f = assert(io.open(script, "w"))
f:write(chunk)
f:close()
local proc = io.popen(string.format("%s run %s & echo $!; wait $!; echo \"exit $?\"", MEDIC, script))
local pid = proc:read("l")
wait("the chunk to open its handle", 90, function()
	local m = io.open(marker)
	local s = m and m:read("a")
	if m then m:close() end
	if s and s:find(" ") then
		ns, pod = s:match("^(%S+) (%S+)")
		return true
	end
end)
assert(os.execute("kill -INT " .. pid))
local rest = proc:read("a")
proc:close()
os.remove(marker)
os.remove(script)
assert(rest:find("exit 130", 1, true), "interrupted run exits 130: " .. rest)
debug_objects_gone(ns, pod)
print("ok   Ctrl-C leaves no debug pod or namespace")

-- 4. a handle left open (no close, no <close>) is closed by __gc when etcd-medic exits
local out = io.popen(string.format("%s -e %s 2>&1", MEDIC, "'" .. string.format([[
local kc = require("medic.k8s").connect{}
local n = assert(require("medic.node").open_remote(kc, %q, {timeout = 60}))
print(n.namespace, n.pod)]], name) .. "'"))
ns, pod = out:read("a"):match("(%S+)%s+(%S+)")
out:close()
assert(ns and pod, "the chunk printed its debug pod")
debug_objects_gone(ns, pod)
print("ok   a handle left open is closed at exit (__gc)")
