-- The action move_aside (scripts/medic/actions/move_aside.lua) on a local node handle over a temporary root: the
-- manifest and the data dir moved into a new directory; a data dir the kernel will not rename (EBUSY: a bind mount
-- that its device number does not show) has its contents moved into a directory inside it instead, and the step
-- verifies; nothing is left half-moved.
local node = require "medic.node"
local aside = require "medic.actions.move_aside"
local spec = require "spec"
local test, eq = spec.it, spec.eq

local function sh(cmd) assert(os.execute(cmd), cmd) end

local function exists(path)
	local f = io.open(path, "rb")
	if f then f:close() end
	return f ~= nil
end

-- A node root with a manifest and a data dir, and a handle on it whose move of `busy` fails as rename(2) of a
-- mount point does.
local function world(busy)
	local root = spec.tmpdir()
	sh(("mkdir -p %s/etc/kubernetes/manifests %s/var/lib/etcd/member %s/var/lib/aside"):format(root, root, root))
	sh(("echo pod > %s/etc/kubernetes/manifests/etcd-pod.yaml; echo wal > %s/var/lib/etcd/member/wal"):format(root, root))
	local h = assert(node.open_local { root = root })
	local handle = setmetatable({}, { __index = function(_, k)
		if k == "move" then
			return function(_, src, dst)
				if src == busy then return nil, "move " .. src .. ": Device or resource busy", "Busy" end
				return h:move(src, dst)
			end
		end
		local v = h[k]
		return type(v) == "function" and function(_, ...) return v(h, ...) end or v
	end })
	local said = {}
	local ctx = { journal = {}, opts = {}, node = function() return handle end,
		say = function(_, fmt, ...) said[#said + 1] = fmt:format(...) end,
		stop = function(_, _, msg) error(msg, 0) end }
	return root, ctx, said
end

local function action()
	return { node = "master-0", paths = { "/etc/kubernetes/manifests/etcd-pod.yaml", "/var/lib/etcd" },
		into = "/var/lib/aside/run-1", dir_key = "aside" }
end

test("move_aside: both paths moved into a new directory, recorded, verified", function()
	local root, ctx = world(nil)
	local a = action()
	aside.run(a, ctx)
	eq(ctx.journal.aside, "/var/lib/aside/run-1", "journal")
	eq(exists(root .. "/var/lib/aside/run-1/etcd-pod.yaml"), true, "manifest moved")
	eq(exists(root .. "/var/lib/aside/run-1/etcd/member/wal"), true, "data dir moved")
	eq(exists(root .. "/var/lib/etcd"), false, "data dir gone")
	eq(aside.verify(a, ctx), true, "verify")
	sh("rm -rf " .. root)
end)

test("move_aside: a data dir that cannot be renamed (EBUSY) has its contents moved inside it; verified", function()
	local root, ctx, said = world("/var/lib/etcd")
	local a = action()
	aside.run(a, ctx)
	eq(exists(root .. "/var/lib/aside/run-1/etcd-pod.yaml"), true, "manifest moved")
	eq(exists(root .. "/var/lib/etcd/run-1/member/wal"), true, "contents moved inside the busy directory")
	eq(exists(root .. "/var/lib/etcd/member"), false, "no member dir left for etcd to start from")
	spec.contains(table.concat(said, "\n"), "cannot be renamed (busy", "said why")
	eq(aside.verify(a, ctx), true, "verify")
	sh("rm -rf " .. root)
end)

spec.done()
