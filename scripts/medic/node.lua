-- etcd-medic-api: 2
--- medic.node: a control-plane node's files, the same handle methods whether etcd-medic runs on the node
--- (open_local, native C) or reaches it through the API (open_remote, a debug pod as `oc debug node/NODE`
--- makes, every operation an argv exec of `chroot /host CMD ... -- PATH`, never a shell string).
---
---   local node = require "medic.node"
---   local n <close> = node.open_remote(kc, "master-0")   -- <close>: the pod and namespace go away when the
---   assert(n:mkdir("/var/lib/etcd-backup-1", {parents = true}))   -- block ends, also by an error or Ctrl-C
---   assert(n:move("/etc/kubernetes/manifests/etcd-pod.yaml", "/var/lib/etcd-backup-1/etcd-pod.yaml"))
---
--- Methods (both handles): exists(p) stat(p) list(p) mkdir(p, {parents=, mode=}) move(src, dst) read(p [, max])
--- close(). Paths are absolute and checked (no NUL, no ".." above "/", at most 4095 bytes); expected failures
--- return nil, message, code with code one of NotFound Exists Permission NotADirectory IsADirectory Invalid
--- TooLarge NoSpace ReadOnly Busy Unsupported VerifyFailed SourceNotRemoved Interrupted CommandFailed
--- Timeout (and the k8s binding's codes for API failures); using a closed handle raises.
local core = require "medic.node.core"
local debugpod = require "medic.debugpod"

local M = {
	open_local = core.open_local,
	clean_path = core.clean_path,
	valid_node_name = core.valid_node_name,
	sha256_file = core.sha256_file, -- (path) -> hex, size: a file of this machine, as sha256sum prints it
	-- the debug pod's defaults (to change them, set them in medic.debugpod)
	fallback_image = debugpod.fallback_image,
	tools_imagestream = debugpod.tools_imagestream,
	resolve_image = debugpod.resolve_image,
	pod_spec = debugpod.pod_spec,
}

local Remote = {}
Remote.__index = Remote

local READ_DEFAULT_MAX = 16 * 1024 * 1024

-- stderr of coreutils/busybox -> our stable codes
local STDERR_CODES = {
	{ "No such file or directory", "NotFound" },
	{ "File exists", "AlreadyExists" },
	{ "Directory not empty", "AlreadyExists" },
	{ "Permission denied", "Permission" },
	{ "Operation not permitted", "Permission" },
	{ "Not a directory", "NotADirectory" },
	{ "Is a directory", "IsADirectory" },
	{ "No space left", "NoSpace" },
	{ "Read%-only file system", "ReadOnly" },
	{ "[Rr]esource busy", "Busy" }, -- coreutils: "Device or resource busy"; busybox: "Resource busy"
}

local function failure(what, res)
	local err = (res.stderr or ""):gsub("%s+$", "")
	for _, m in ipairs(STDERR_CODES) do
		if err:find(m[1]) then
			return nil, what .. ": " .. err, m[2]
		end
	end
	return nil, string.format("%s: exit %s: %s", what, tostring(res.exit_code), err), "CommandFailed"
end

local function check_open(self)
	if self.closed then
		error("node handle is closed", 3)
	end
end

--- h:run(argv [, {timeout=, max_output=, stdin=, stdout_file=}]) -> {stdout=, stderr=, exit_code=} | nil, message, code
--- Runs `chroot /host argv...` in the debug pod (kc:exec; a non-zero exit is a result). For what the
--- methods do not cover, e.g. h:run{"crictl", "ps"}; argv words are never joined into a shell string.
--- stdout_file=PATH streams stdout to PATH on this machine (kc:exec: 0600, there only when whole).
function Remote:run(argv, opts)
	check_open(self)
	if type(argv) ~= "table" or #argv == 0 then
		error("run: argv must be a non-empty list of strings", 2)
	end
	opts = opts or {}
	local command = { "chroot", "/host" }
	table.move(argv, 1, #argv, 3, command)
	return self.kc:exec { namespace = self.namespace, pod = self.pod, container = debugpod.container, command = command,
		timeout = opts.timeout or self.exec_timeout, max_output = opts.max_output, stdin = opts.stdin,
		stdout_file = opts.stdout_file }
end

-- runs argv; ok -> res; a non-zero exit -> nil, message, code (from stderr); API failure passes through
local function run_ok(self, what, argv, opts)
	local res, msg, code = self:run(argv, opts)
	if not res then
		return nil, what .. ": " .. tostring(msg), code
	end
	if res.exit_code ~= 0 then
		return failure(what, res)
	end
	return res
end

local function clean(p)
	if type(p) ~= "string" then
		error("path must be a string", 3)
	end
	return core.clean_path(p)
end

local TYPES = {
	[0x8] = "file", [0x4] = "directory", [0xA] = "link", [0x1] = "fifo",
	[0xC] = "socket", [0x2] = "char", [0x6] = "block",
}

-- `stat -c "%f %s %Y %u %g %d"` output -> our stat table
local function parse_stat(line)
	local f, size, mtime, uid, gid, dev = line:match("^(%x+) (%d+) (%-?%d+) (%d+) (%d+) (%d+)")
	if not f then
		return nil
	end
	local raw = tonumber(f, 16)
	return {
		type = TYPES[raw >> 12] or "unknown", size = math.tointeger(tonumber(size)),
		mode = raw & 0xFFF, mtime = math.tointeger(tonumber(mtime)),
		uid = math.tointeger(tonumber(uid)), gid = math.tointeger(tonumber(gid)), dev = math.tointeger(tonumber(dev)),
	}
end

--- h:stat(p) -> {type=, size=, mode=, mtime=, uid=, gid=, dev=} | nil, message, code  (lstat: a link is "link")
function Remote:stat(p)
	check_open(self)
	local path, msg, code = clean(p)
	if not path then
		return nil, msg, code
	end
	local res
	res, msg, code = run_ok(self, "stat " .. path, { "stat", "-c", "%f %s %Y %u %g %d", "--", path })
	if not res then
		return nil, msg, code
	end
	local st = parse_stat(res.stdout)
	if not st then
		return nil, "stat " .. path .. ": unexpected output " .. string.format("%q", res.stdout), "CommandFailed"
	end
	return st
end

--- h:exists(p) -> true | false | nil, message, code
function Remote:exists(p)
	local st, msg, code = self:stat(p)
	if st then
		return true
	end
	if code == "NotFound" or code == "NotADirectory" then
		return false
	end
	return nil, msg, code
end

--- h:list(p) -> { name, ... } sorted bytewise | nil, message, code  (find -print0: any byte in a name is safe)
function Remote:list(p)
	check_open(self)
	local path, msg, code = clean(p)
	if not path then
		return nil, msg, code
	end
	local start = (path == "/" and "" or path) .. "/."
	local res
	res, msg, code = run_ok(self, "list " .. path,
		{ "find", start, "-mindepth", "1", "-maxdepth", "1", "-print0" })
	if not res then
		return nil, msg, code
	end
	local names, prefix = {}, start .. "/"
	for entry in res.stdout:gmatch("([^%z]+)%z") do
		if entry:sub(1, #prefix) ~= prefix then
			return nil, "list " .. path .. ": unexpected output", "CommandFailed"
		end
		names[#names + 1] = entry:sub(#prefix + 1)
	end
	table.sort(names)
	return names
end

local function octal_mode(mode)
	if mode == nil then
		return nil
	end
	local m = math.type(mode) == "integer" and mode or (type(mode) == "string" and mode:match("^[0-7]+$")
		and tonumber(mode, 8))
	if not m or m < 0 or m > 4095 then
		error("mode must be 0..07777 (an integer, or a string of octal digits)", 3)
	end
	return string.format("%04o", m)
end

--- h:mkdir(p, {parents=false, mode=0755}) -> true | nil, message, code  (mkdir [-p] [-m MODE] -- p)
function Remote:mkdir(p, opts)
	check_open(self)
	opts = opts or {}
	local mode = octal_mode(opts.mode)
	local path, msg, code = clean(p)
	if not path then
		return nil, msg, code
	end
	local argv = { "mkdir" }
	if opts.parents then
		argv[#argv + 1] = "-p"
	end
	if mode then
		table.move({ "-m", mode }, 1, 2, #argv + 1, argv)
	end
	table.move({ "--", path }, 1, 2, #argv + 1, argv)
	local res
	res, msg, code = run_ok(self, "mkdir " .. path, argv)
	if not res then
		return nil, msg, code
	end
	return true
end

--- h:read(p [, max=16 MiB]) -> contents | nil, message, code  (a regular file; larger than max: "TooLarge")
function Remote:read(p, max)
	check_open(self)
	max = max or READ_DEFAULT_MAX
	if math.type(max) ~= "integer" or max < 0 or max > 1 << 30 then
		error("max must be an integer 0..1 GiB", 2)
	end
	local st, msg, code = self:stat(p)
	if not st then
		return nil, msg, code
	end
	local path = clean(p)
	if st.type == "directory" then
		return nil, "read " .. path .. ": Is a directory", "IsADirectory"
	elseif st.type ~= "file" and st.type ~= "link" then
		return nil, "read " .. path .. ": not a regular file", "InvalidArgument"
	elseif st.type == "file" and st.size > max then
		return nil, string.format("read %s: larger than %d bytes", path, max), "TooLarge"
	end
	local res
	res, msg, code = run_ok(self, "read " .. path, { "head", "-c", tostring(max + 1), "--", path },
		{ max_output = max + 1 })
	if not res then
		return nil, msg, code
	elseif #res.stdout > max then
		return nil, string.format("read %s: larger than %d bytes", path, max), "TooLarge"
	end
	return res.stdout
end

local function parent(path)
	local dir = path:match("^(.*)/[^/]*$")
	return dir == "" and "/" or dir
end

-- device numbers of the two parents: same file system -> "rename", else "copy"
local function move_kind(self, src, dst)
	local res = run_ok(self, "stat", { "stat", "-c", "%d", "--", parent(src), parent(dst) })
	local a, b = (res and res.stdout or ""):match("^(%d+)%s+(%d+)")
	return a and a == b and "rename" or "copy"
end

-- Across file systems, with the steps in our hands (as the local backend does them): cp -a to a hidden
-- temporary name next to dst, diff -r -q (content and structure), mv -n -T onto dst (a rename on dst's
-- file system), then rm -rf the source. Until that rename a failure removes the temporary copy only.
local function move_across(self, s, d, what)
	local dir = parent(d)
	local tmp = (dir == "/" and "" or dir) .. "/.medic-move-" .. debugpod.random_suffix(10)
	local free, msg, code = self:exists(tmp)
	if free ~= false then
		return nil, what .. ": " .. (msg or ("the temporary name " .. tmp .. " is taken")), code or "AlreadyExists"
	end
	local long = { timeout = self.move_timeout }
	local ok
	ok, msg, code = run_ok(self, what .. " (copy)", { "cp", "-a", "--", s, tmp }, long)
	if ok then
		ok, msg, code = run_ok(self, what .. " (verify)", { "diff", "-r", "-q", "--", s, tmp }, long)
		if not ok and code == "CommandFailed" then
			msg, code = what .. ": the copy differs from the source", "VerifyFailed"
		end
	end
	if ok then
		ok, msg, code = run_ok(self, what, { "mv", "-n", "-T", "--", tmp, d })
		if ok and self:exists(tmp) ~= false then
			ok, msg, code = nil, what .. ": File exists", "AlreadyExists"
		end
	end
	if not ok then
		run_ok(self, "remove the partial copy", { "rm", "-rf", "--", tmp }, long)
		return nil, msg, code
	end
	ok, msg = run_ok(self, what .. " (remove the source)", { "rm", "-rf", "--", s }, long)
	if not ok then
		return nil, "copied " .. s .. " to " .. d .. " and verified it, but removing the source failed: " .. msg,
			"SourceNotRemoved"
	end
	return true, "copy"
end

--- h:move(src, dst) -> true, "rename" | true, "copy" | nil, message, code
--- Never replaces dst: it must not exist ("AlreadyExists"), and `mv -n -T` (GNU coreutils and busybox both have
--- them) will not replace one that appears meanwhile. On one file system (same device number) a rename
--- by mv, checked afterwards (src gone, dst of src's type and size). Across file systems copy + verify +
--- rename + remove the source, as in move_across; code "SourceNotRemoved" as in the local handle.
function Remote:move(src, dst)
	check_open(self)
	local s, msg, code = clean(src)
	if not s then
		return nil, msg, code
	end
	local d
	d, msg, code = clean(dst)
	if not d then
		return nil, msg, code
	end
	local what = "move " .. s .. " to " .. d
	if s == "/" or d == "/" or s == d or d:sub(1, #s + 1) == s .. "/" then
		return nil, what .. ": the destination is the source or inside it, or one is the root", "InvalidArgument"
	end
	local before
	before, msg, code = self:stat(s)
	if not before then
		return nil, what .. ": " .. msg, code
	end
	local present
	present, msg, code = self:exists(d)
	if present ~= false then
		return nil, what .. ": " .. (present and "File exists" or msg), present and "AlreadyExists" or code
	end
	if move_kind(self, s, d) == "copy" then
		return move_across(self, s, d, what)
	end
	local res
	res, msg, code = run_ok(self, what, { "mv", "-n", "-T", "--", s, d }, { timeout = self.move_timeout })
	if not res then
		return nil, msg, code
	end
	if self:exists(s) then
		return nil, what .. ": the source is still there (did the destination appear meanwhile?)", "AlreadyExists"
	end
	local after = self:stat(d)
	if not after or after.type ~= before.type or (before.type == "file" and after.size ~= before.size) then
		return nil, what .. ": the destination does not match the source after the move", "VerifyFailed"
	end
	return true, "rename"
end

--- h:close() -> true | nil, message, code   Deletes the debug pod, and the namespace if open_remote made it.
--- Idempotent; also __close and __gc. Runs with Ctrl-C held off, so an interrupt cannot cut it short.
function Remote:close()
	if self.closed then
		return true
	end
	self.closed = true
	return debugpod.stop(self.kc, self)
end

Remote.__close = function(self) self:close() end
Remote.__gc = function(self) pcall(self.close, self) end
Remote.__tostring = function(self)
	return string.format("node.remote(%s via %s/%s)%s", self.node, self.namespace, self.pod,
		self.closed and " (closed)" or "")
end

local function check_opts(opts)
	if type(opts) ~= "table" then
		error("open_remote: options must be a table", 3)
	end
	if opts.namespace ~= nil and (type(opts.namespace) ~= "string" or #opts.namespace > 63
			or not core.valid_node_name(opts.namespace) or opts.namespace:find(".", 1, true)) then
		error("open_remote: namespace must be a DNS-1123 label", 3)
	end
	if opts.image ~= nil and (type(opts.image) ~= "string" or opts.image == "" or opts.image:find("%s")) then
		error("open_remote: image must be a non-empty string without spaces", 3)
	end
	for _, k in ipairs { "timeout", "lifetime", "exec_timeout", "move_timeout" } do
		if opts[k] ~= nil and (type(opts[k]) ~= "number" or opts[k] <= 0) then
			error("open_remote: " .. k .. " must be a positive number of seconds", 3)
		end
	end
end

--- node.open_remote(kc, nodename, {image=, namespace=, timeout=300, lifetime=14400, priority_class=,
---                                  exec_timeout=300, move_timeout=3600}) -> handle | nil, message, code
--- Starts a privileged debug pod on the node with its "/" at /host, as `oc debug node/NODE` does, and waits
--- (at most timeout seconds) until it runs. image: default the openshift/tools image stream as oc resolves
--- it, else fallback_image. namespace: use that one (it must allow privileged pods; it is not deleted);
--- default a new namespace "openshift-debug-XXXXX" with the privileged pod-security labels, deleted with
--- the pod. lifetime: the pod ends itself after that long even if etcd-medic is killed. exec_timeout:
--- seconds one command may take; move_timeout: the same for mv (a copy across file systems takes time).
--- Close the handle (or hold it in a `<close>` variable) to delete the pod and the namespace; on any
--- failure here they are deleted before returning. Besides the common methods: h:run(argv), h.node,
--- h.namespace, h.pod.
function M.open_remote(kc, nodename, opts)
	opts = opts or {}
	if type(kc) ~= "table" and type(kc) ~= "userdata" then
		error("open_remote: the first argument must be a k8s client (k8s.connect)", 2)
	end
	if type(nodename) ~= "string" then
		error("open_remote: node name must be a string", 2)
	end
	check_opts(opts)
	local valid, msg, code = core.valid_node_name(nodename)
	if not valid then
		return nil, msg, code
	end
	-- the metatable first: whatever is created from here on is deleted by close, __close or __gc
	local h = setmetatable({ kc = kc, node = nodename, closed = false, exec_timeout = opts.exec_timeout or 300,
		move_timeout = opts.move_timeout or 3600 }, Remote)
	local ok
	ok, msg, code = debugpod.start(kc, nodename, opts, h)
	if not ok then
		h.closed = true
		return nil, msg, code
	end
	return h
end

return M
