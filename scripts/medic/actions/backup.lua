-- etcd-medic-api: 2
-- The backup's actions (medic.backup says what the pair is):
--
--   archive{node=, paths={...}, to=, revisions=, root=}   tar czf of the node's /etc/kubernetes PATHS, streamed to TO
--                                                          through the debug pod (root: read natively, --local)
--   seal{staging=, dir=, snapshot=, tarball=, manifest=, revisions=, fields=}   check the pair in the staging
--                                                          directory, write its manifest, move all three into DIR
--   copy_to_node{node=, files={...}, dir=, root=}          the files, also on the node (checked by SHA-256 there)
--   prune{dir=, keep=, current=}                           keep the newest KEEP backups in DIR
--
-- Nothing looks complete before it is: the tarball and the snapshot are made in a hidden staging directory beside
-- DIR (kc:exec's stdout_file: a temporary NAME.XXXXXX renamed when whole), and move to their platform names only
-- once both are checked. A run cut short leaves only the staging directory, which its resume reuses.
local backup = require "medic.backup"
local journal = require "medic.journal"
local node = require "medic.node"
local check = require("medic.procedure.failure").check
local quote = require("medic.procedure.arguments").quote

local M = {}

local function basename(p) return p:match("([^/]+)$") end
local function dirname(p) return p:match("^(.*)/[^/]+$") or "." end

local function words(argv)
	local out = {}
	for i, w in ipairs(argv) do out[i] = quote(w) end
	return table.concat(out, " ")
end

-- Removes what a run cut short left of NAME in its directory (NAME.XXXXXX).
local function remove_leftovers(path)
	for _, p in ipairs(backup.leftovers(dirname(path), { basename(path) })) do os.remove(p) end
end

------------------------------------------------------------------------------------------------ archive

M.archive = {}

local function tar_argv(a, out)
	local argv = { "tar", "-czf", out, "-C", (a.root and a.root ~= "/" and a.root or "") .. backup.BASE }
	for _, p in ipairs(a.paths) do argv[#argv + 1] = p end
	return argv
end

function M.archive.lines(a)
	if a.root then return { words(tar_argv(a, a.to)) .. "   (on this machine, the node's files)" } end
	return { "oc debug node/" .. a.node .. " -- chroot /host " .. words(tar_argv(a, "-")) .. " > " .. a.to
		.. "   (streamed; 0600; there only when whole)" }
end

-- Natively (--local): tar on this machine into a temporary name, renamed when tar has succeeded.
local function archive_local(a)
	local tmp = a.to .. ".partial"
	local ok, how, code = os.execute("umask 077 && " .. words(tar_argv(a, tmp)))
	if not ok then
		os.remove(tmp)
		return nil, ("tar %s %s"):format(how, tostring(code))
	end
	return os.rename(tmp, a.to)
end

function M.archive.run(a, ctx)
	check(journal.ensure_dir(dirname(a.to)))
	remove_leftovers(a.to)
	local ok, err
	if a.root then
		ok, err = archive_local(a)
	else
		local res, msg = ctx:node(a.node):run(tar_argv(a, "-"), { stdout_file = a.to, timeout = a.timeout or 3600 })
		ok = res and res.exit_code == 0
		err = res and ("tar exited " .. tostring(res.exit_code) .. ": " .. (res.stderr or ""):gsub("%s+$", "")) or msg
	end
	if not ok then ctx:stop("failed", "cannot archive the static pod resources on " .. a.node .. ": " .. tostring(err)) end
	local hex, size = node.sha256_file(a.to)
	a.size, a.sha256 = size, hex
	ctx:say("saved %s (%d bytes)", a.to, size or 0)
end

function M.archive.verify(a)
	local list, err = backup.list_tarball(a.to)
	if not list then return false, err end
	local ok, why = backup.check_listing(list, a.revisions)
	return ok == true, why
end

------------------------------------------------------------------------------------------------ seal

M.seal = {}

function M.seal.lines(a)
	return { "check " .. a.snapshot .. " (bolt header, SHA-256 trailer) and " .. a.tarball .. " (read to its end: "
		.. "the four components at their revisions); write " .. a.manifest .. " (sizes, SHA-256); move them into "
		.. a.dir }
end

local function staged(a, name) return a.staging .. "/" .. name end

-- How many keys the cluster held at the snapshot's revision (what a restore of it must show); nil when that
-- revision is compacted already or etcd cannot be asked: the manifest then says nothing about it.
local function keys_at(ctx, revision)
	local c = ctx.cluster:etcd_client()
	local n = c and c:count_keys { revision = (revision or 0) > 0 and revision or nil }
	return n
end

function M.seal.run(a, ctx)
	local final = { a.snapshot, a.tarball, a.manifest }
	local done = io.open(a.dir .. "/" .. a.manifest, "rb")
	if done then done:close(); return end -- sealed by the run this one resumes
	local info, err = backup.check_pair(staged(a, a.snapshot), staged(a, a.tarball), a.revisions)
	if not info then ctx:stop("failed", "the backup does not check out: " .. tostring(err)) end
	for _, k in ipairs { "snapshot", "tarball" } do info[k].path = a.dir .. "/" .. a[k] end
	info.snapshot.keys = keys_at(ctx, info.snapshot.revision)
	check(journal.write_private(staged(a, a.manifest), backup.manifest(info, a.fields)))
	for _, name in ipairs(final) do -- the manifest last: its presence says the pair is whole
		local ok, why = os.rename(staged(a, name), a.dir .. "/" .. name)
		if not ok then ctx:stop("failed", "cannot move " .. name .. " into " .. a.dir .. ": " .. tostring(why)) end
	end
	for _, left in ipairs(backup.list_dir(a.staging)) do os.remove(a.staging .. "/" .. left) end -- a cut run's temps
	os.remove(a.staging)
	a.info = info
	ctx:say("%s: %d bytes, sha256 %s, etcd revision %s", a.dir .. "/" .. a.snapshot, info.snapshot.size,
		info.snapshot.sha256, tostring(info.snapshot.revision))
	ctx:say("%s: %d bytes, sha256 %s", a.dir .. "/" .. a.tarball, info.tarball.size, info.tarball.sha256)
end

function M.seal.verify(a)
	for _, name in ipairs { a.snapshot, a.tarball, a.manifest } do
		local f = io.open(a.dir .. "/" .. name, "rb")
		if not f then return false, name .. " is not in " .. a.dir end
		f:close()
	end
	return true
end

------------------------------------------------------------------------------------------------ copy to the node

M.copy_to_node = {}

local CHUNK = 8 * 1024 * 1024

function M.copy_to_node.lines(a)
	local lines = {}
	for _, f in ipairs(a.files) do
		lines[#lines + 1] = (a.root and "cp " or ("oc debug node/" .. a.node .. " -- cp (streamed) ")) .. f .. " "
			.. a.dir .. "/" .. basename(f) .. "   (0600, checked by SHA-256 there)"
	end
	return lines
end

-- Appends the file to PART on the node in chunks of CHUNK bytes: `head -c N` ends after N bytes even where exec
-- cannot close stdin (v4). The one shell here is a fixed text; the size and the path come as its arguments.
local function upload(h, src, part)
	check(h:run({ "rm", "-f", "--", part }))
	local f <close> = assert(io.open(src, "rb"))
	while true do
		local chunk = f:read(CHUNK)
		if not chunk then return true end
		local res, msg = h:run({ "sh", "-c", 'umask 077 && head -c "$1" >> "$2"', "sh", tostring(#chunk), part },
			{ stdin = chunk, timeout = 600 })
		if not res or res.exit_code ~= 0 then
			return nil, "cannot write " .. part .. ": " .. tostring(res and res.stderr or msg)
		end
	end
end

local function copy_remote(a, ctx, h, src, dst)
	if h:exists(dst) then ctx:say("%s is already on %s", dst, a.node); return end
	local part = dst .. ".partial"
	local ok, err = upload(h, src, part)
	if not ok then ctx:stop("failed", err) end
	local res = check(h:run({ "sha256sum", "--", part }))
	local want = node.sha256_file(src)
	if (res.stdout or ""):match("^(%x+)") ~= want then
		h:run({ "rm", "-f", "--", part })
		ctx:stop("failed", "the copy of " .. basename(src) .. " on " .. a.node .. " differs from this machine's")
	end
	check(h:move(part, dst))
end

local function copy_local(a, ctx, src, dst)
	local out = (a.root == "/" and "" or a.root) .. dst
	local there = io.open(out, "rb")
	if there then there:close(); ctx:say("%s is already there", out); return end
	local data = assert(io.open(src, "rb"))
	local part = out .. ".partial"
	check(journal.write_private(part, ""))
	local w = assert(io.open(part, "wb"))
	for chunk in function() return data:read(CHUNK) end do w:write(chunk) end
	data:close(); w:close()
	if node.sha256_file(part) ~= node.sha256_file(src) then ctx:stop("failed", "the copy of " .. src .. " differs") end
	check(os.rename(part, out))
end

function M.copy_to_node.run(a, ctx)
	local h = not a.root and ctx:node(a.node)
	if h then check(h:mkdir(a.dir, { parents = true, mode = "0700" }))
	else check(journal.ensure_dir((a.root == "/" and "" or a.root) .. a.dir)) end
	for _, src in ipairs(a.files) do
		local dst = a.dir .. "/" .. basename(src)
		if h then copy_remote(a, ctx, h, src, dst) else copy_local(a, ctx, src, dst) end
		ctx:say("%s on %s", dst, a.node)
	end
end

------------------------------------------------------------------------------------------------ prune

M.prune = {}

function M.prune.lines(a)
	return { ("rm the backups in %s older than the newest %d (never the one just taken)"):format(a.dir, a.keep) }
end

function M.prune.run(a, ctx)
	local list = backup.backups(a.dir)
	for i = 1, #list - a.keep do
		local b = list[i]
		if b.stamp ~= a.current then
			for _, name in ipairs(b.files) do
				local ok, err = os.remove(a.dir .. "/" .. name)
				if not ok then ctx:stop("failed", "cannot remove " .. name .. ": " .. tostring(err)) end
			end
			ctx:say("removed the backup of %s (%s)", b.stamp, table.concat(b.files, ", "))
		end
	end
end

function M.prune.verify(a)
	local n = #backup.backups(a.dir)
	return n <= a.keep, n .. " backups left in " .. a.dir
end

return M
