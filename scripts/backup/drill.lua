-- etcd-medic-api: 2
-- The restore drill (--verify-restore): proves a backup on this machine, touching nothing of the cluster.
--   the snapshot: restored into a throwaway data dir (etcdutl snapshot restore, else etcdctl's, as the platform's
--     restore does), a throwaway etcd started on it on loopback, its revision compared with the snapshot's, its keys
--     counted, then stopped; the restored database's key count compared with the snapshot's (snapshot status);
--   the tarball: listed, and each component's pod manifest read back (a Pod, at the revision of its directory).
-- It needs etcd and etcdutl or etcdctl on PATH (the testbed uses Debian's etcd-server and etcd-client).
local backup = require "medic.backup"
local json = require "medic.json"
local host = require "medic.host"
local quote = require("medic.procedure.arguments").quote

local drill = {}
local run = backup.read_command

local function on_path(name)
	return os.execute("command -v " .. quote(name) .. " >/dev/null 2>&1") and name or nil
end

-- etcdctl in a clean environment: the admin's ETCDCTL_* (the cluster's endpoints, say) must not reach the drill's.
local function etcdctl(args)
	local argv = { "env", "-i", "PATH=" .. (os.getenv("PATH") or "/usr/bin:/bin"), "ETCDCTL_API=3", "etcdctl" }
	return table.move(args, 1, #args, #argv + 1, argv)
end

-- The tool that restores and reads snapshots: etcdutl (etcd 3.5 and later), else etcdctl (3.4).
local function snapshot_tool()
	local tool = on_path("etcdutl")
	if tool then return { tool } end
	if on_path("etcdctl") then return etcdctl {} end
end

local function with(base, more)
	local out = table.move(base, 1, #base, 1, {})
	return table.move(more, 1, #more, #out + 1, out)
end

-- snapshot status -w json: {revision=, totalKey=, ...}
local function status_of(tool, db)
	local out, err = run(with(tool, { "snapshot", "status", db, "-w", "json" }))
	local doc = out and json.decode(out:match("{.*}") or "")
	if type(doc) ~= "table" then return nil, "snapshot status " .. db .. ": " .. tostring(err or out) end
	return doc
end

local function free_ports()
	local base = 20000 + math.random(0, 19999) * 2
	return base, base + 1
end

local function start_etcd(dir, client, peer)
	local c, p = "http://127.0.0.1:" .. client, "http://127.0.0.1:" .. peer
	local argv = { "etcd", "--name", "drill", "--data-dir", dir .. "/data", "--listen-client-urls", c,
		"--advertise-client-urls", c, "--listen-peer-urls", p, "--initial-advertise-peer-urls", p,
		"--initial-cluster", "drill=" .. p }
	local words = {}
	for i, w in ipairs(argv) do words[i] = quote(w) end
	local pipe = io.popen(table.concat(words, " ") .. " >" .. quote(dir .. "/etcd.log") .. " 2>&1 & echo $!")
	local pid = math.tointeger(tonumber(pipe:read("l") or ""))
	pipe:close()
	return pid, c
end

-- endpoint status of the throwaway etcd, polled for up to 30 s: its revision, or nil and why
local function wait_revision(endpoint)
	local deadline, last = host.now() + 30, nil
	for _ = 1, 150 do
		local out, err = run(etcdctl { "--endpoints", endpoint, "endpoint", "status", "-w", "json" })
		local doc = out and json.decode(out:match("%[.*%]") or "")
		if type(doc) == "table" and doc[1] then return doc[1].Status.header.revision end
		last = err or out
		if host.now() >= deadline then break end
		host.sleep(0.2)
	end
	return nil, "the throwaway etcd did not answer: " .. tostring(last)
end

local function count_keys(endpoint)
	local out, err = run(etcdctl { "--endpoints", endpoint, "get", "", "--prefix", "--keys-only", "--limit", "1",
		"-w", "json" }) -- (3.4 has no --count-only; the answer's count is every key in the range)
	local doc = out and json.decode(out)
	if type(doc) ~= "table" then return nil, "counting keys: " .. tostring(err) end
	return doc.count or 0
end

-- Restores, starts, compares. Returns {revision=, keys=, expected_keys=} or nil and why. expected_keys: the
-- cluster's count at the snapshot's revision (the manifest's), when known.
local function snapshot_drill(snapshot, dir, expected_keys)
	local tool = snapshot_tool()
	if not tool or not on_path("etcd") then return nil, "etcd and etcdutl (or etcdctl) are needed on PATH" end
	local want, err = status_of(tool, snapshot)
	if not want then return nil, err end
	for _ = 1, 3 do
		local client, peer = free_ports()
		local peer_url = "http://127.0.0.1:" .. peer
		os.execute("rm -rf " .. quote(dir .. "/data"))
		local ok
		ok, err = run(with(tool, { "snapshot", "restore", snapshot, "--data-dir", dir .. "/data", "--name", "drill",
			"--initial-cluster", "drill=" .. peer_url, "--initial-advertise-peer-urls", peer_url }))
		if not ok then return nil, "snapshot restore: " .. err end
		local pid, endpoint = start_etcd(dir, client, peer)
		local rev, keys
		rev, err = wait_revision(endpoint)
		if rev then keys, err = count_keys(endpoint) end
		if pid then os.execute("kill " .. pid .. " 2>/dev/null; sleep 0.3; kill -9 " .. pid .. " 2>/dev/null") end
		if rev and keys then
			if rev ~= math.max(want.revision, 1) then -- (an empty key space: the status says 0, etcd starts at 1)
				return nil, ("the restored etcd is at revision %s, the snapshot at %s"):format(rev, want.revision)
			end
			if expected_keys and keys ~= expected_keys then
				return nil, ("the restored etcd holds %d keys, the cluster held %d at revision %s"):format(keys,
					expected_keys, want.revision)
			end
			return { revision = rev, keys = keys, expected_keys = expected_keys }
		end
	end
	return nil, err
end

-- Each component's <component>-pod.yaml read back from the tarball: a Pod, labelled with its directory's revision.
local function tarball_drill(tarball, revisions)
	local list, err = backup.list_tarball(tarball)
	if not list then return nil, err end
	local ok, why = backup.check_listing(list, revisions)
	if not ok then return nil, why end
	local read = {}
	for _, c in ipairs(backup.COMPONENTS) do
		local rev = revisions[c.name]
		local member = backup.resource_dir(c.name, rev) .. "/" .. c.name .. "-pod.yaml"
		local text = run { "tar", "-xzOf", tarball, member }
		local labelled = text and (text:find('"revision":%s*"' .. rev .. '"') or text:find("revision:%s*[\"']?"
			.. rev .. "[\"']?%s"))
		if not (text and text:find("Pod", 1, true) and labelled) then
			return nil, member .. " is not the pod manifest of revision " .. rev
		end
		read[#read + 1] = c.name .. "-pod.yaml (revision " .. rev .. ")"
	end
	return { entries = #list, manifests = read }
end

-- The drill on a pair: {snapshot=..., tarball=...} or nil and why. The throwaway directory is removed after.
function drill.run(snapshot, tarball, revisions, expected_keys)
	local dir = run { "mktemp", "-d", "-t", "etcd-medic-drill.XXXXXX" }
	if not dir then return nil, "cannot make a temporary directory" end
	dir = dir:gsub("%s+$", "")
	local snap, err = snapshot_drill(snapshot, dir, expected_keys)
	os.execute("rm -rf " .. quote(dir))
	if not snap then return nil, err end
	local tar
	tar, err = tarball_drill(tarball, revisions)
	if not tar then return nil, err end
	return { snapshot = snap, tarball = tar }
end

-- The action: restore_drill{snapshot=, tarball=, revisions=, manifest=}
drill.action = {
	kind = "restore_drill",
	lines = function(a)
		return { "etcdutl (or etcdctl) snapshot restore " .. a.snapshot .. " into a temporary dir; etcd on 127.0.0.1; "
			.. "compare revision and keys (on this machine)",
			"tar -tzf " .. a.tarball .. "; tar -xzOf each <component>-pod.yaml" }
	end,
	run = function(a, ctx)
		local f = io.open(a.manifest, "rb")
		local doc = f and json.decode(f:read("a"))
		if f then f:close() end
		local keys = type(doc) == "table" and doc.snapshot and math.tointeger(doc.snapshot.keys)
		local res, err = drill.run(a.snapshot, a.tarball, a.revisions, keys)
		if not res then ctx:stop("failed", "the restore drill failed: " .. tostring(err)) end
		ctx:say("restored and started: revision %d as the snapshot says; %d keys%s", res.snapshot.revision,
			res.snapshot.keys, keys and ", as the cluster held at that revision" or " (no count to compare with)")
		ctx:say("tarball: %d entries; read back %s", res.tarball.entries, table.concat(res.tarball.manifests, ", "))
		a.result = res
	end,
}
drill.action.__index = drill.action

function drill.new(fields) return setmetatable(fields, drill.action) end

return drill
