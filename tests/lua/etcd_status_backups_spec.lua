-- scripts/etcd-status/backups.lua on real directories: which directory is checked (asked, the default ones, none),
-- the newest backup's age, a pair that is not whole (a file missing, sizes against the manifest), a dirty one.
local spec = require "spec"
local backups = require "etcd-status.backups"
local backup = require "medic.backup"
local node = require "medic.node"
local it, eq, q, write = spec.it, spec.eq, spec.q, spec.write

local root = spec.tmpdir()
local NOW = 1800000000 -- 2027-01-15T08:00:00Z
local h = node.open_local { root = "/" }

-- A backup as `etcd-medic run backup` leaves it: the pair and the manifest with their sizes.
local function pair(dir, stamp, opts)
	opts = opts or {}
	os.execute("mkdir -p " .. q(dir))
	local s, t, m = backup.names(stamp, opts.dirty)
	write(dir .. "/" .. s, ("s"):rep(100))
	if not opts.no_tarball then write(dir .. "/" .. t, ("t"):rep(50)) end
	write(dir .. "/" .. m, ('{"format":1,"snapshot":{"size":%d},"static_kuberesources":{"size":50}}')
		:format(opts.manifest_size or 100))
end

local function codes(list)
	local out = {}
	for _, f in ipairs(list) do out[#out + 1] = f.code .. "/" .. f.severity end
	table.sort(out)
	return table.concat(out, " ")
end

it("the stamp is UTC, as cluster-backup.sh's date +%F_%H%M%S on RHCOS", function()
	eq(backups.stamp_time("2027-01-15_080000"), NOW)
	eq(backups.stamp_time("2027-01-15_080000__POSSIBLY_DIRTY__"), NOW)
	eq(backups.stamp_time("garbage"), nil)
end)

it("which directory: --backup-dir (asked), else STATE_DIR/backups, else the node's, else none", function()
	local exists = function(d) return h:exists(d) end
	eq(select(2, backups.directory({ backup_dir = "/x" }, exists)), true)
	local rel = backups.directory({ backup_dir = "bk" }, exists)
	eq(rel:sub(1, 1), "/", "a relative --backup-dir is made absolute")
	eq(backups.directory({ state_dir = root .. "/state" }, exists), nil, "nothing there: nothing checked")
	os.execute("mkdir -p " .. q(root .. "/state/backups"))
	local dir, asked = backups.directory({ state_dir = root .. "/state" }, exists)
	eq(dir, root .. "/state/backups")
	eq(asked, false)
	eq(backups.directory({ state_dir = root .. "/none" }, function(d) return d == backup.NODE_DIR end),
		backup.NODE_DIR, "on a node, the documentation's directory")
end)

it("a whole, fresh backup: nothing to say; older than the limit: BACKUP_OLD", function()
	local dir = root .. "/fresh"
	pair(dir, "2027-01-14_070000")
	pair(dir, "2027-01-15_070000")
	eq(codes(backups.check_dir(h, dir, NOW, 24, true)), "")
	local old = backups.check_dir(h, dir, NOW + 2 * 86400, 24, true)
	eq(codes(old), "BACKUP_OLD/warning")
	eq(old[1].evidence.stamp, "2027-01-15_070000", "the newest one")
	eq(old[1].evidence.age_hours, 49)
	spec.contains(old[1].next, "etcd-medic run backup --dir " .. dir)
	eq(codes(backups.check_dir(h, dir, NOW + 2 * 86400, 72, true)), "", "--backup-max-age 72")
end)

it("not whole: a snapshot without its tarball, or sizes other than the manifest's", function()
	local dir = root .. "/cut"
	pair(dir, "2027-01-15_070000", { no_tarball = true })
	local f = backups.check_dir(h, dir, NOW, 24, true)
	eq(codes(f), "BACKUP_INCOMPLETE/warning")
	spec.contains(f[1].summary, "without its static_kuberesources tarball")
	dir = root .. "/sizes"
	pair(dir, "2027-01-15_070000", { manifest_size = 4096 })
	f = backups.check_dir(h, dir, NOW, 24, true)
	eq(codes(f), "BACKUP_INCOMPLETE/warning")
	spec.contains(f[1].summary, "snapshot_2027-01-15_070000.db is 100 bytes, the manifest says 4096")
end)

it("no backup, and a possibly dirty one", function()
	os.execute("mkdir -p " .. q(root .. "/empty"))
	eq(codes(backups.check_dir(h, root .. "/empty", NOW, 24, true)), "BACKUP_MISSING/warning")
	pair(root .. "/dirty", "2027-01-15_070000", { dirty = true })
	eq(codes(backups.check_dir(h, root .. "/dirty", NOW, 24, true)), "BACKUP_POSSIBLY_DIRTY/info")
end)

it("check(ctx): an asked directory that does not exist is a finding; no directory at all is none", function()
	local f = backups.check { opts = { backup_dir = root .. "/nope" }, now = NOW }
	eq(codes(f), "BACKUP_MISSING/warning")
	spec.contains(f[1].summary, "does not exist")
	eq(codes(backups.check { opts = { state_dir = root .. "/none" }, now = NOW }), "")
	pair(root .. "/state/backups", "2027-01-10_070000")
	eq(codes(backups.check { opts = { state_dir = root .. "/state", backup_max_age = 24 }, now = NOW }),
		"BACKUP_OLD/warning")
end)

h:close()
os.execute("rm -rf " .. q(root))
spec.done()
