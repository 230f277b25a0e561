-- medic.node: the local handle on a temporary directory, and the remote handle against a fake k8s client
-- whose exec really runs the argv with `chroot ROOT` over a static busybox (as root; else those parts skip).
local node = require "medic.node"

local spec = require "spec"
local test = spec.it

local function sh(cmd)
	assert(os.execute(cmd), cmd)
end

local function q(s)
	return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function tmpdir()
	local p = io.popen("mktemp -d /tmp/medic-node-spec-XXXXXX")
	local dir = p:read("l")
	p:close()
	return dir
end

local function eq(got, want, what)
	if got ~= want then
		error(string.format("%s: got %s, want %s", what or "value", tostring(got), tostring(want)), 2)
	end
end

local function fails_with(code, ok, msg, got)
	if ok ~= nil or got ~= code then
		error(string.format("want nil, _, %q; got %s, %s, %s", code, tostring(ok), tostring(msg), tostring(got)), 2)
	end
end

local function write(path, content)
	local f = assert(io.open(path, "wb"))
	f:write(content)
	f:close()
end

-- the same behaviour from either handle; root is the directory behind "/"
local function common(h, root)
	sh("mkdir -p " .. q(root .. "/etc/kubernetes/manifests") .. " " .. q(root .. "/var/lib/etcd/member"))
	write(root .. "/etc/kubernetes/manifests/etcd-pod.yaml", "kind: Pod\n")
	write(root .. "/var/lib/etcd/member/wal", "wal\0bytes")
	write(root .. "/odd name\nwith newline", "x")
	eq(h:exists("/etc/kubernetes/manifests/etcd-pod.yaml"), true, "exists")
	eq(h:exists("/nope"), false, "exists missing")
	eq(h:exists("/etc/kubernetes/manifests/etcd-pod.yaml/x"), false, "exists below a file")
	local st = assert(h:stat("/var/lib/etcd/member/wal"))
	eq(st.type, "file")
	eq(st.size, 9)
	eq(math.type(st.mtime), "integer")
	eq(assert(h:stat("/var/lib/etcd")).type, "directory")
	fails_with("NotFound", h:stat("/var/lib/none"))
	local names = {}
	for _, n in ipairs(assert(h:list("/"))) do
		if n ~= "bin" then	-- the remote test's busybox
			names[#names + 1] = n
		end
	end
	eq(table.concat(names, "|"), "etc|odd name\nwith newline|var", "list /")
	eq(#assert(h:list("/var/lib/etcd/member")), 1, "list")
	fails_with("NotFound", h:list("/none"))
	eq(h:read("/var/lib/etcd/member/wal"), "wal\0bytes", "read")
	fails_with("TooLarge", h:read("/var/lib/etcd/member/wal", 4))
	fails_with("IsADirectory", h:read("/var/lib/etcd"))
	fails_with("InvalidArgument", h:read("/../etc/passwd"))
	fails_with("InvalidArgument", h:stat("relative"))
	fails_with("InvalidArgument", h:stat("/a\0b"))

	local backup = "/var/lib/etcd-backup-1"
	assert(h:mkdir(backup .. "/deep", { parents = true, mode = "0700" }))
	eq(assert(h:stat(backup .. "/deep")).mode, 448, "mode")
	fails_with("AlreadyExists", h:mkdir(backup))
	assert(h:mkdir(backup, { parents = true }))
	local ok, how = h:move("/etc/kubernetes/manifests/etcd-pod.yaml", backup .. "/etcd-pod.yaml")
	eq(ok, true, "move manifest")
	eq(how, "rename", "how")
	assert(h:move("/var/lib/etcd", backup .. "/etcd"))
	eq(h:exists("/var/lib/etcd"), false, "data dir gone")
	eq(h:read(backup .. "/etcd/member/wal"), "wal\0bytes", "moved content")
	-- never overwrites: an existing file, an existing directory
	write(root .. "/var/lib/etcd-backup-1/taken", "mine")
	fails_with("AlreadyExists", h:move(backup .. "/etcd-pod.yaml", backup .. "/taken"))
	fails_with("AlreadyExists", h:move(backup .. "/etcd-pod.yaml", backup .. "/deep"))
	eq(h:read(backup .. "/taken"), "mine", "not overwritten")
	fails_with("InvalidArgument", h:move(backup, backup .. "/deep/x"))
	fails_with("NotFound", h:move("/missing", "/elsewhere"))
	assert(h:move(backup .. "/etcd", "/var/lib/etcd"))
	eq(h:read("/var/lib/etcd/member/wal"), "wal\0bytes", "moved back")
end

test("open_local: methods", function()
	local root = tmpdir()
	local h <close> = assert(node.open_local { root = root })
	common(h, root)
	sh("rm -rf " .. q(root))
end)

test("open_local: force_copy copies, closed handle raises, <close> closes", function()
	local root = tmpdir()
	local h = assert(node.open_local { root = root, force_copy = true })
	sh("mkdir -p " .. q(root .. "/a/b"))
	write(root .. "/a/b/f", "data")
	local ok, how = h:move("/a", "/c")
	eq(ok, true)
	eq(how, "copy")
	eq(h:read("/c/b/f"), "data")
	h:close()
	h:close()
	assert(not pcall(h.stat, h, "/c"), "closed handle must raise")
	local outer
	do
		local h2 <close> = assert(node.open_local { root = root })
		outer = h2
	end
	assert(tostring(outer):find("closed"), "closed by <close>")
	fails_with("NotFound", node.open_local { root = root .. "/none" })
	assert(not pcall(node.open_local, { root = "relative" }))
	sh("rm -rf " .. q(root))
end)

test("valid_node_name and clean_path", function()
	assert(node.valid_node_name("master-0.example.com"))
	fails_with("InvalidArgument", node.valid_node_name("Master_0"))
	fails_with("InvalidArgument", node.valid_node_name("a/../b"))
	fails_with("InvalidArgument", node.valid_node_name(""))
	eq(node.clean_path("/a//b/./c/.."), "/a/b")
	fails_with("InvalidArgument", node.clean_path("/.."))
end)

-- A fake client: records API calls; pods become Running after `pending` gets; exec runs argv under
-- `chroot root` (the argv starts with "chroot", "/host"), quoting each word for the shell of io.popen.
local function fake_kc(root, opts)
	opts = opts or {}
	local kc = { calls = {}, objects = {}, gets = 0 }
	local function log(...) kc.calls[#kc.calls + 1] = table.concat({ ... }, " ") end
	function kc:create(path, obj)
		log("create", path)
		if obj.kind == "Pod" and opts.fail_pod then
			return nil, "pods is forbidden", "Forbidden"
		end
		self.objects[path .. "/" .. obj.metadata.name] = obj
		return obj
	end
	function kc:get(path)
		log("get", path)
		if opts.raise_on_get and path:find("/pods/") then
			error("interrupted", 0)
		end
		local nodename = path:match("^/api/v1/nodes/(.+)$")
		if nodename and not opts.no_node then return { kind = "Node", metadata = { name = nodename } } end
		local obj = self.objects[path]
		if not obj then
			return nil, path .. " not found", "NotFound"
		end
		if obj.kind == "Pod" then
			self.gets = self.gets + 1
			local running = not opts.never_runs and self.gets > (opts.pending or 2)
			obj.status = { phase = running and "Running" or "Pending",
				containerStatuses = { { name = "container-00", state = running and { running = {} }
					or { waiting = { reason = "ContainerCreating" } } } } }
		end
		return obj
	end
	function kc:delete(path)
		log("delete", path)
		if not self.objects[path] then
			return nil, "not found", "NotFound"
		end
		self.objects[path] = nil
		return { kind = "Status", status = "Success" }
	end
	function kc:exec(req)
		local argv = req.command
		assert(argv[1] == "chroot" and argv[2] == "/host", "every exec is chroot /host")
		assert(self.objects["/api/v1/namespaces/" .. req.namespace .. "/pods/" .. req.pod], "exec into a live pod")
		local words = { "chroot", q(root) }
		for i = 3, #argv do
			words[#words + 1] = q(argv[i])
		end
		local err = os.tmpname()
		local p = io.popen(table.concat(words, " ") .. " 2>" .. err, "r")
		local out = p:read("a")
		local _, _, status = p:close()
		local f = io.open(err, "rb")
		local stderr = f:read("a")
		f:close()
		os.remove(err)
		return { stdout = out, stderr = stderr, exit_code = status }
	end
	return kc
end

local function busybox_root()
	local root = tmpdir()
	sh("mkdir -p " .. q(root .. "/bin"))
	sh("cp /bin/busybox " .. q(root .. "/bin/busybox"))
	for _, tool in ipairs { "stat", "find", "mkdir", "mv", "head", "rm", "sh", "cp", "diff" } do
		sh("ln -s busybox " .. q(root .. "/bin/" .. tool))
	end
	return root
end

local is_root = io.popen("id -u"):read("l") == "0"

local function count(t, pattern)
	local n = 0
	for _, c in ipairs(t) do
		if c:find(pattern) then
			n = n + 1
		end
	end
	return n
end

test("open_remote: the debug pod, methods through chroot /host, cleanup on close", function()
	if not is_root then
		print("skip (chroot needs root)")
		return
	end
	local root = busybox_root()
	local kc = fake_kc(root)
	local h = assert(node.open_remote(kc, "master-0.example.com", { image = "busybox:test" }))
	assert(h.namespace:match("^openshift%-debug%-%w+$"), h.namespace)
	assert(h.pod:match("^master%-0examplecom%-debug%-%w+$"), h.pod)
	local ns = kc.objects["/api/v1/namespaces/" .. h.namespace]
	eq(ns.metadata.labels["pod-security.kubernetes.io/enforce"], "privileged", "namespace label")
	local pod = kc.objects["/api/v1/namespaces/" .. h.namespace .. "/pods/" .. h.pod]
	local ps, c = pod.spec, pod.spec.containers[1]
	eq(ps.nodeName, "master-0.example.com")
	eq(ps.hostPID, true)
	eq(ps.hostNetwork, true)
	eq(ps.restartPolicy, "Never")
	eq(ps.volumes[1].hostPath.path, "/")
	eq(c.volumeMounts[1].mountPath, "/host")
	eq(c.securityContext.privileged, true)
	eq(c.image, "busybox:test")
	assert(kc.gets >= 3, "waited for Running")
	common(h, root)
	local mark = #kc.calls
	assert(h:close())
	assert(h:close())
	eq(count(kc.calls, "^delete"), 2, "pod and namespace deleted")
	eq(#kc.calls, mark + 2, "close deletes exactly twice")
	assert(not pcall(h.stat, h, "/"), "closed handle must raise")
	eq(next(kc.objects), nil, "nothing left")
	sh("rm -rf " .. q(root))
end)

test("open_remote: a move across file systems (busybox, onto a tmpfs): copy, never overwrites, "
	.. "a failed copy is removed", function()
	if not is_root then
		print("skip (needs root)")
		return
	end
	local root = busybox_root()
	sh("mkdir -p " .. q(root .. "/mnt") .. " " .. q(root .. "/var/lib/etcd/member"))
	if not os.execute("mount -t tmpfs -o size=4m tmpfs " .. q(root .. "/mnt") .. " 2>/dev/null") then
		print("skip (no tmpfs mount here)")
		sh("rm -rf " .. q(root))
		return
	end
	local ok, err = pcall(function()
		write(root .. "/var/lib/etcd/member/wal", "across")
		local h <close> = assert(node.open_remote(fake_kc(root), "master-0", { image = "x" }))
		local moved, how = h:move("/var/lib/etcd", "/mnt/etcd")
		eq(moved, true, "moved")
		eq(how, "copy", "how")
		eq(h:exists("/var/lib/etcd"), false, "source gone")
		eq(h:read("/mnt/etcd/member/wal"), "across", "content")
		sh("mkdir " .. q(root .. "/var/lib/etcd"))
		fails_with("AlreadyExists", h:move("/mnt/etcd", "/var/lib/etcd"))
		eq(h:read("/mnt/etcd/member/wal"), "across", "source kept")
		-- a copy that fails halfway (the 4 MiB tmpfs fills up): the partial copy goes, the source stays
		sh("mkdir -p " .. q(root .. "/big") .. " && echo small > " .. q(root .. "/big/a")
			.. " && head -c 6000000 /dev/zero > " .. q(root .. "/big/b"))
		fails_with("NoSpace", h:move("/big", "/mnt/big"))
		eq(h:exists("/mnt/big"), false, "no partial copy at dst")
		eq(#assert(h:list("/mnt")), 1, "no temporary copy left")
		eq(assert(h:stat("/big/b")).size, 6000000, "source whole")
		eq(h:read("/big/a"), "small\n", "source whole")
	end)
	sh("umount " .. q(root .. "/mnt") .. " && rm -rf " .. q(root))
	assert(ok, err)
end)

test("open_remote: <close> deletes the pod when the chunk raises", function()
	local kc = fake_kc("/nonexistent")
	local ok = pcall(function()
		local _ <close> = assert(node.open_remote(kc, "master-1", { image = "x" }))
		error("boom")
	end)
	eq(ok, false)
	eq(next(kc.objects), nil, "pod and namespace gone after the error")
end)

test("open_remote: a given namespace is used and kept; image from the image stream", function()
	local kc = fake_kc("/nonexistent")
	kc.objects["/api/v1/namespaces/debug"] = { kind = "Namespace" }
	kc.objects[node.tools_imagestream] = { status = { tags = { { tag = "latest",
		items = { { dockerImageReference = "quay.io/x/tools@sha256:abc" } } } } } }
	local h = assert(node.open_remote(kc, "master-2", { namespace = "debug" }))
	local pod = kc.objects["/api/v1/namespaces/debug/pods/" .. h.pod]
	eq(pod.spec.containers[1].image, "quay.io/x/tools@sha256:abc", "image stream")
	h:close()
	assert(kc.objects["/api/v1/namespaces/debug"], "given namespace kept")
	eq(count(kc.calls, "^create /api/v1/namespaces$"), 0, "no namespace created")
	kc.objects[node.tools_imagestream] = nil
	eq(node.resolve_image(kc), node.fallback_image, "fallback image")
end)

test("open_remote: bad names never reach the API; failures clean up", function()
	local kc = fake_kc("/nonexistent")
	fails_with("InvalidArgument", node.open_remote(kc, "../etc", { image = "x" }))
	fails_with("InvalidArgument", node.open_remote(kc, "Node_1", { image = "x" }))
	eq(#kc.calls, 0, "no API call for an invalid node name")
	assert(not pcall(node.open_remote, kc, "m", { namespace = "a/b" }))
	assert(not pcall(node.open_remote, kc, "m", { timeout = -1 }))
	kc = fake_kc("/nonexistent", { never_runs = true })
	fails_with("Timeout", node.open_remote(kc, "master-0", { image = "x", timeout = 0.3 }))
	eq(next(kc.objects), nil, "pod and namespace deleted after the timeout")
	kc = fake_kc("/nonexistent", { raise_on_get = true })
	local ok, err = pcall(node.open_remote, kc, "master-0", { image = "x" })
	eq(ok, false, "the error goes on up")
	eq(err, "interrupted", "the same error")
	eq(next(kc.objects), nil, "pod and namespace deleted when waiting raised (Ctrl-C)")
	kc = fake_kc("/nonexistent", { fail_pod = true })
	fails_with("Forbidden", node.open_remote(kc, "master-0", { image = "x" }))
	kc = fake_kc("/nonexistent", { no_node = true })
	fails_with("NotFound", node.open_remote(kc, "master-9", { image = "x" }))
	eq(count(kc.calls, "^create "), 0, "no debug pod for a node that does not exist")
	eq(next(kc.objects), nil, "namespace deleted after the pod was refused")
end)

spec.done()
