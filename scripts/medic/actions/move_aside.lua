-- etcd-medic-api: 2
-- The action move_aside{node=, paths={...}, into=DIR, dir_key=}: each path on the node moved into a new directory
-- DIR (DIR-2, DIR-3, ... when it exists; never overwriting), whose name the journal keeps under dir_key.
--
-- A path that is a mount point (a disk of its own: /var/lib/etcd on the documented "move etcd to a different
-- disk") cannot be renamed (EBUSY). Its contents move instead into a new directory inside it, named like DIR, on
-- that same disk; etcd starts a new member there as from an empty data dir (it only looks for `member`). Every
-- move is decided, and its destination checked free, before the first one is made. A bind mount of the same file
-- system shows no device change: its rename fails with EBUSY, and then its contents move the same way.
local aside = {}

local function basename(path) return path:match("([^/]+)/*$") end
local function parent(path) return path:match("^(.*)/[^/]+/*$") or "/" end

local check = require("medic.procedure.failure").check

-- A new directory `into` (or into-2, into-3, ... when it exists).
local function fresh_dir(handle, into)
	for i = 1, 20 do
		local dir = i == 1 and into or (into .. "-" .. i)
		if not handle:exists(dir) then return dir end
	end
	return nil, "20 directories named " .. into .. "* exist already"
end

local function is_mount_point(handle, path, st)
	if st.type ~= "directory" then return false end
	local up = handle:stat(parent(path))
	return up ~= nil and up.dev ~= nil and up.dev ~= st.dev
end

-- The moves of a mount point's contents into a new directory inside it, named like dir; and that directory.
local function contents_moves(handle, src, dir)
	local inner, list = src .. "/" .. basename(dir), {}
	for _, name in ipairs(check(handle:list(src))) do
		if name ~= basename(dir) then list[#list + 1] = { src = src .. "/" .. name, dst = inner .. "/" .. name } end
	end
	return list, inner
end

-- The moves for one path: { {src=, dst=}, ... }, or {} when it is not there (a note says why).
local function moves_of(ctx, handle, src, dir)
	local st = handle:stat(src)
	if not st then
		local dst = dir .. "/" .. basename(src)
		ctx:say(handle:exists(dst) and "%s is already in %s" or "%s is not there: moved already (by hand?)", src, dir)
		return {}
	end
	if not is_mount_point(handle, src, st) then return { { src = src, dst = dir .. "/" .. basename(src) } } end
	local list, inner = contents_moves(handle, src, dir)
	ctx:say("%s is a mount point (a disk of its own): its contents go to %s, on the same disk", src, inner)
	return list, inner
end

-- One move; a directory the kernel will not rename (EBUSY) is a mount point that its device number did not show
-- (a bind mount of the same file system): its contents move into it instead, as for any mount point.
local function move_one(ctx, handle, m, dir)
	local ok, msg, code = handle:move(m.src, m.dst)
	if ok or code ~= "Busy" then return check(ok, msg, code) end
	local list, inner = contents_moves(handle, m.src, dir)
	ctx:say("%s cannot be renamed (busy: a mount point): its contents go to %s, on the same disk", m.src, inner)
	for _, c in ipairs(list) do
		if handle:exists(c.dst) ~= false then
			ctx:stop("failed", c.dst .. " exists: " .. m.src .. " was not moved; move it away and run again")
		end
	end
	check(handle:mkdir(inner, { parents = true }))
	for _, c in ipairs(list) do check(handle:move(c.src, c.dst)) end
end

-- Every move decided, every destination free, before the first move. fresh: dir was just found not to exist, so
-- nothing is in it yet.
local function decide(ctx, handle, a, dir, fresh)
	local all, dirs = {}, { dir }
	for _, path in ipairs(a.paths) do
		local list, inner = moves_of(ctx, handle, path, dir)
		if inner then dirs[#dirs + 1] = inner end
		for _, m in ipairs(list) do
			local free = fresh and parent(m.dst) == dir
			if not free and handle:exists(m.dst) ~= false then
				ctx:stop("failed", m.dst .. " exists on " .. a.node .. ": nothing was moved; move it away and run again")
			end
			all[#all + 1] = m
		end
	end
	return all, dirs
end

function aside.lines(a, ctx)
	local prefix = ctx.opts["local"] and "" or ("oc debug node/" .. a.node .. " -- chroot /host ")
	local dir = a.dir_key and ctx.journal[a.dir_key] or a.into
	local lines = { prefix .. "mkdir -p " .. dir }
	for _, p in ipairs(a.paths) do lines[#lines + 1] = prefix .. "mv " .. p .. " " .. dir .. "/" .. basename(p) end
	lines[#lines + 1] = "(a path that is a mount point keeps its place: its contents go into " .. basename(dir)
		.. "/ inside it, on the same disk)"
	return lines
end

function aside.run(a, ctx)
	local handle = ctx:node(a.node)
	local dir = a.dir_key and ctx.journal[a.dir_key]
	local fresh = dir == nil
	if fresh then
		dir = check(fresh_dir(handle, a.into))
		if a.dir_key then ctx.journal[a.dir_key] = dir end
	end
	local moves, dirs = decide(ctx, handle, a, dir, fresh)
	for _, d in ipairs(dirs) do check(handle:mkdir(d, { parents = true })) end
	a.dir, a.moved = dir, {}
	for _, m in ipairs(moves) do
		move_one(ctx, handle, m, dir)
		a.moved[#a.moved + 1] = m
		ctx:say("moved %s to %s", m.src, m.dst)
	end
end

-- Each path is gone, or (a mount point) holds nothing but the directory its contents went to.
function aside.verify(a, ctx)
	local handle = ctx:node(a.node)
	for _, src in ipairs(a.paths) do
		local st = handle:stat(src)
		if st and st.type ~= "directory" then return false, src .. " is still there on " .. a.node end
		local left = st and handle:list(src) or {}
		if #left > 1 or (left[1] and left[1] ~= basename(a.dir)) then
			return false, src .. " (a mount point) still holds " .. table.concat(left, ", ") .. " on " .. a.node
		end
	end
	return true
end

return aside
