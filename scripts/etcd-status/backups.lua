-- etcd-medic-api: 2
-- etcd-status findings about the newest backup in a backup directory of this machine, in the layout
-- `etcd-medic run backup` (and the platform's cluster-backup.sh) writes: snapshot_STAMP.db and
-- static_kuberesources_STAMP.tar.gz, and etcd-medic's manifest etcd-medic-backup_STAMP.json beside them.
--
-- Which directory: --backup-dir DIR when given (then no backup there is a finding); else the first of these that
-- exists on this machine: STATE_DIR/backups (what `etcd-medic run backup` writes by default) and
-- /home/core/assets/backup (the documentation's directory, when etcd-status runs on a control-plane node). When
-- none exists, nothing is checked and nothing is said: a laptop that never took a backup is not a finding unless
-- asked with --backup-dir.
--
-- Cheap checks only (etcd-status runs every hour): names, sizes and the manifest; `etcd-medic run backup` and
-- cluster-restore.sh read the files in full.
local backup = require "medic.backup"
local journal = require "medic.journal"
local json = require "medic.json"
local node = require "medic.node"
local openshift = require "medic.openshift"

local backups = {}

backups.FACTS = {
	max_age_hours = 24, -- a daily backup; etcd-status's --backup-max-age changes it
	node_dir = backup.NODE_DIR,
	take = "etcd-medic run backup --dir %s",
}

------------------------------------------------------------------------------------------------ the directory

-- The directory to check and whether it was asked for; nil when there is none to check.
function backups.directory(opts, exists)
	local given = opts.backup_dir
	if given and given ~= "" then
		return given:sub(1, 1) == "/" and given or ((os.getenv("PWD") or ".") .. "/" .. given), true
	end
	local state = journal.state_dir(opts.state_dir)
	for _, dir in ipairs { state and (state .. "/backups"), backups.FACTS.node_dir } do
		if exists(dir) then return dir, false end
	end
end

-- "2026-12-03_154501" (cluster-backup.sh's date +%F_%H%M%S, UTC) -> Unix seconds.
function backups.stamp_time(stamp)
	local d, h, m, s = stamp:match("^(%d%d%d%d%-%d%d%-%d%d)_(%d%d)(%d%d)(%d%d)")
	return d and openshift.epoch(d .. "T" .. h .. ":" .. m .. ":" .. s .. "Z")
end

-- The newest backup of the listing { {stamp=, files={...}}, ... } (medic.backup's, oldest first) with a
-- snapshot, else the newest of any kind.
local function newest(list)
	for i = #list, 1, -1 do
		local b = list[i]
		if b.files[1] and backups.has(b, "snapshot") then return b end
	end
	return list[#list]
end

-- Does backup b hold its snapshot / tarball / manifest?
function backups.has(b, what)
	local snapshot, tarball, manifest = backup.names(b.stamp, false)
	local want = ({ snapshot = snapshot, tarball = tarball, manifest = manifest })[what]
	for _, f in ipairs(b.files) do
		if f == want then return true end
	end
	return false
end

------------------------------------------------------------------------------------------------ checks

local function finding(code, severity, dir, summary, evidence, next_step)
	evidence.dir = dir
	return { code = code, severity = severity, subject = dir, summary = summary, evidence = evidence,
		next = next_step }
end

-- What the manifest says against what is on disk: nil when they agree, else why not.
local function manifest_problem(h, dir, b)
	local snapshot, tarball, manifest = backup.names(b.stamp, false)
	local text = h:read(dir .. "/" .. manifest, 1 << 20)
	local doc = text and json.decode(text)
	if type(doc) ~= "table" then return manifest .. " is not etcd-medic's manifest (unreadable JSON)" end
	for key, name in pairs { snapshot = snapshot, static_kuberesources = tarball } do
		local want = type(doc[key]) == "table" and doc[key].size
		local st = h:stat(dir .. "/" .. name)
		if st and want and st.size ~= want then
			return string.format("%s is %d bytes, the manifest says %d", name, st.size, want)
		end
	end
end

-- Snapshot and tarball both there, and the manifest (when there is one) agrees with their sizes.
local function incomplete(h, dir, b)
	local snapshot, tarball = backup.names(b.stamp, false)
	if not backups.has(b, "snapshot") then return "a static_kuberesources tarball without its snapshot " .. snapshot end
	if not backups.has(b, "tarball") then return "the snapshot without its static_kuberesources tarball " .. tarball end
	for _, name in ipairs { snapshot, tarball } do
		local st = h:stat(dir .. "/" .. name)
		if not st or st.size == 0 then return name .. " is empty" end
	end
	if backups.has(b, "manifest") then return manifest_problem(h, dir, b) end
end

-- Findings about DIR as h (a node handle) sees it at `now`; max_age in hours; asked: --backup-dir was given.
function backups.check_dir(h, dir, now, max_age, asked)
	local take = backups.FACTS.take:format(dir)
	local list = backup.backups(dir)
	local b = newest(list)
	if not b then
		return { finding("BACKUP_MISSING", "warning", dir, "no backup in " .. dir, { asked = asked and 1 or 0 }, take) }
	end
	local out, taken = {}, backups.stamp_time(b.stamp)
	local ev = { stamp = b.stamp, files = table.concat(b.files, " ") }
	local why = incomplete(h, dir, b)
	if why then
		out[#out + 1] = finding("BACKUP_INCOMPLETE", "warning", dir, "the newest backup (" .. b.stamp
			.. ") is not whole: " .. why, ev, take .. " (a new pair; cluster-restore.sh takes the newest of each)")
	end
	local age = taken and (now - taken)
	if age and age > max_age * 3600 then
		out[#out + 1] = finding("BACKUP_OLD", "warning", dir, string.format("the newest backup (%s) is %.1f hours "
			.. "old (more than %s)", b.stamp, age / 3600, tostring(max_age)),
			{ stamp = b.stamp, age_hours = math.floor(age / 3600), max_age_hours = max_age }, take)
	end
	if b.stamp:find(backup.DIRTY, 1, true) then
		out[#out + 1] = finding("BACKUP_POSSIBLY_DIRTY", "info", dir, "the newest backup (" .. b.stamp .. ") was "
			.. "taken during a rollout (" .. backup.DIRTY .. ")", { stamp = b.stamp }, take .. " once no "
			.. "ClusterOperator is Progressing")
	end
	return out
end

-- check(ctx) -> {findings}. Reads ctx.opts.backup_dir, .backup_max_age (hours), .state_dir; ctx.now.
function backups.check(ctx)
	local opts = ctx.opts or {}
	local h <close> = node.open_local { root = "/" }
	local dir, asked = backups.directory(opts, function(d) return h:exists(d) end)
	if not dir then return {} end
	if not h:exists(dir) then
		return { finding("BACKUP_MISSING", "warning", dir, dir .. " does not exist on this machine", { asked = 1 },
			backups.FACTS.take:format(dir)) }
	end
	local max_age = tonumber(opts.backup_max_age) or backups.FACTS.max_age_hours
	return backups.check_dir(h, dir, ctx.now or os.time(), max_age, asked)
end

return backups
