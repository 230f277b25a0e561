-- medic.etcd against real etcd 3.4 (no fakes):
--   Part 1, a private 3-member TLS cluster (tests/integration/etcd_cluster.sh), for what changes membership:
--     members() equals `etcdctl member list`; health with one member down; remove it, MemberNotFound on a
--     second remove, re-add it as a learner, promote it once it caught up, etcdctl agreeing at each step;
--     a ~100 MiB database snapshotted in a child process with its peak memory measured, and accepted by
--     `etcdctl snapshot status` and `etcdctl snapshot restore` (which checks the SHA-256 trailer): over gRPC
--     with mutual TLS (h2), over gRPC on plain http (h2c), and through an HTTP/1.1-only proxy, where it falls
--     back to the JSON gateway; a fragmented database defragmented member by member, hashkv, move_leader.
--   Part 2, the shared testbed (when TESTBED_DIR is set), left as found: the gateway (ETCDCTL_* from the
--     runner) and via_exec (etcdctl in an etcd pod through medic.k8s) return the same members, health and
--     status, and the same members as `etcdctl member list`; via_exec's maintenance (hashkv as etcdctl's, one
--     member defragmented, leadership moved away and back).
local etcd = require "medic.etcd"
local json = require "medic.json"

package.path = (arg[0]:match("^(.*)/") or ".") .. "/../lua/?.lua;" .. package.path
local spec = require "spec"
local test = spec.it

local function eq(got, want, what)
	if got ~= want then
		error(string.format("%s: got %s, want %s", what or "value", tostring(got), tostring(want)), 2)
	end
end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Runs a shell command; returns its stdout and whether it exited 0.
local function sh(cmd)
	local p = assert(io.popen(cmd, "r"))
	local out = p:read("a")
	local ok = p:close()
	return out, ok == true
end

local function must(cmd)
	local out, ok = sh(cmd)
	if not ok then error("command failed: " .. cmd .. "\n" .. out, 2) end
	return out
end

-- Polls fn until it returns a truthy value or the deadline passes (no fixed sleeps).
local function poll(seconds, what, fn)
	local deadline = os.time() + seconds
	repeat
		local v = fn()
		if v then return v end
		os.execute("sleep 0.2")
	until os.time() > deadline
	error("timed out waiting for " .. what, 2)
end

-- `etcdctl member list` (simple format: "id, status, name, peers, clients, learner") as members() shapes.
local function etcdctl_members(env)
	local out = must(env .. " etcdctl member list")
	local list = {}
	for line in out:gmatch("[^\n]+") do
		local id, status, name, peers, clients, learner = line:match("^(%x+), (%a+), ([^,]*), ([^,]*), ([^,]*), (%a+)$")
		assert(id, "unexpected etcdctl line: " .. line)
		local function split(s)
			local t = {}
			for u in s:gmatch("[^,%s]+") do t[#t + 1] = u end
			return t
		end
		list[#list + 1] = { id = id, started = status == "started", name = name, peer_urls = split(peers),
			client_urls = split(clients), is_learner = learner == "true" }
	end
	return list
end

local function sorted_by_id(list)
	table.sort(list, function(a, b) return a.id < b.id end)
	return list
end

local function same_members(got, want, what)
	eq(json.encode(sorted_by_id(got)), json.encode(sorted_by_id(want)), what)
end

local here = (arg and arg[0] or "tests/integration/etcd_test.lua"):match("^(.*)/[^/]*$") or "."
local medic = os.getenv("MEDIC") or "build/etcd-medic"

---------------------------------------------------------------------------------------------------------
-- Part 1: the private cluster.

local dir = must("mktemp -d /tmp/medic-etcd-test-XXXXXX"):gsub("%s+$", "")
local cluster = here .. "/etcd_cluster.sh"
local up_ok = select(2, sh(cluster .. " up " .. q(dir) .. " 2>&1"))
local env = ". " .. q(dir .. "/env") .. " &&"
local endpoints = must(env .. " echo $ETCDCTL_ENDPOINTS"):gsub("%s+$", "")
local function connect(t)
	return assert(etcd.connect { endpoints = endpoints, cacert = dir .. "/ca.crt", cert = dir .. "/client.crt",
		key = dir .. "/client.key", timeout = t or 5 })
end

local function member_named(list, name)
	for _, m in ipairs(list) do
		if m.name == name then return m end
	end
end

if not up_ok then
	spec.fail("could not start the private etcd cluster in " .. dir)
else
	local c = connect()
	local n3

	test("members() equals etcdctl member list", function()
		local ms = assert(c:members())
		eq(#ms, 3)
		same_members(ms, etcdctl_members(env), "members")
		n3 = member_named(ms, "n3")
		assert(n3 and #n3.id >= 1 and n3.id:match("^[0-9a-f]+$"), "hex id")
	end)

	test("count_keys(): the key space now and at an earlier revision, as etcdctl counts it", function()
		local before = assert(c:count_keys())
		local rev = assert(json.decode(must(env .. " etcdctl endpoint status -w json")))[1].Status.header.revision
		for i = 1, 3 do must(env .. " etcdctl put /count-keys/" .. i .. " v >/dev/null") end
		local now = assert(c:count_keys())
		eq(now, before + 3, "three keys more")
		eq(now, math.tointeger(tonumber(must(env .. " etcdctl get '' --prefix --keys-only | grep -c ."))), "etcdctl")
		eq(assert(c:count_keys { revision = rev }), before, "at the revision before the puts")
	end)

	test("health and status with one member down", function()
		must(cluster .. " stop " .. q(dir) .. " 3")
		local h, alarms = assert(c:health { cluster = true })
		eq(#h, 3, "entries")
		eq(#alarms, 0, "alarms")
		for _, e in ipairs(h) do
			local down = e.endpoint == n3.client_urls[1]
			eq(e.healthy, not down, e.endpoint .. " healthy")
			eq(e.error ~= nil, down, e.endpoint .. " error")
			assert(type(e.took) == "number" and e.took >= 0 and e.took < 6, "took in seconds")
		end
		local st = assert(c:status { cluster = true })
		local answered = 0
		for _, s in ipairs(st) do
			if s.endpoint == n3.client_urls[1] then
				assert(s.error, "status of the stopped member has an error")
			else
				answered = answered + 1
				assert(not s.error, s.endpoint .. ": " .. tostring(s.error))
				assert(s.version:match("^3%.%d+"), "version " .. tostring(s.version))
				assert(s.leader and s.leader:match("^[0-9a-f]+$"), "leader in hex")
				assert(s.db_size > 0 and s.raft_term > 0 and s.raft_index > 0, "numbers")
			end
		end
		eq(answered, 2)
		local dead = select(2, sh(env .. " etcdctl endpoint health --cluster >/dev/null 2>&1"))
		eq(dead, false, "etcdctl agrees the cluster is unhealthy")
	end)

	test("remove the stopped member; a second remove is MemberNotFound (definite)", function()
		local rest = assert(c:member_remove(n3.id))
		eq(#rest, 2)
		eq(member_named(rest, "n3"), nil)
		same_members(assert(c:members()), etcdctl_members(env), "after remove")
		local ok, msg, code, definite = c:member_remove(n3.id)
		eq(ok, nil)
		eq(code, "MemberNotFound", msg)
		eq(definite, true)
		ok, msg, code = c:member_remove("123456789abcdef")
		eq(ok, nil)
		eq(code, "MemberNotFound", msg)
	end)

	test("re-add as a learner; promote refused until it caught up, then done", function()
		-- "unhealthy cluster" is a definite refusal until the peers have been connected for 5 s: retry it.
		local answer = poll(30, "member_add to be accepted", function()
			local added, list_or_msg, code, definite = c:member_add { peer_urls = n3.peer_urls, learner = true }
			if not added and not (code == "Unhealthy" and definite) then
				error("member_add: " .. tostring(list_or_msg))
			end
			return added and { added, list_or_msg }
		end)
		local m, ms = answer[1], answer[2]
		eq(m.is_learner, true)
		eq(m.started, false)
		eq(#ms, 3)
		same_members(assert(c:members()), etcdctl_members(env), "after add")
		local ok, msg, code, definite = c:member_promote(m.id)
		eq(ok, nil)
		eq(code, "LearnerNotReady", msg)
		eq(definite, true)
		must(cluster .. " rejoin " .. q(dir) .. " 3")
		poll(60, "the learner to be promoted", function()
			local r, _, why = c:member_promote(m.id)
			if not r and why ~= "LearnerNotReady" then error("promote: " .. tostring(why)) end
			return r
		end)
		local now = assert(c:members())
		local back = member_named(now, "n3")
		assert(back, "n3 is back under its name")
		eq(back.id, m.id)
		eq(back.is_learner, false)
		same_members(now, etcdctl_members(env), "after promote")
		poll(30, "every member healthy", function()
			local h = c:health { cluster = true }
			if not h or #h ~= 3 then return false end
			for _, e in ipairs(h) do if not e.healthy then return false end end
			return true
		end)
	end)

	-- Snapshots base (an endpoint URL) into path in a child process; returns the result, the peak RSS in KiB and
	-- the child's stderr (its log, -v).
	local function snapshot_in_child(base, path)
		local chunk = ([[
local etcd = require "medic.etcd"
local c = assert(etcd.connect{endpoints=%q, cacert=%q, cert=%q, key=%q})
local s = assert(c:snapshot(%q))
print(require("medic.json").encode(s))]]):format(base, dir .. "/ca.crt", dir .. "/client.crt",
			dir .. "/client.key", path)
		local out = must("/usr/bin/time -f 'maxrss=%M' " .. q(medic) .. " -v -e " .. q(chunk) .. " 2>"
			.. q(dir .. "/time.txt"))
		local log = must("cat " .. q(dir .. "/time.txt"))
		return assert(json.decode(out)), tonumber(log:match("maxrss=(%d+)")), log
	end

	-- What every snapshot must be: a ~100 MiB file in constant memory, 0600, no temporary left, the trailer
	-- matching, accepted by `etcdctl snapshot status` at the revision reported.
	local function check_snapshot(s, rss_kib, path, what)
		assert(s.size > 100 * 1000 * 1000, "database size " .. s.size)
		print(("     %s: snapshot %d bytes over %s, peak RSS %d KiB"):format(what, s.size, s.transport, rss_kib))
		-- a sanitizer build's shadow memory and quarantine say nothing about our buffers: no bound there
		if (os.getenv("MEDIC_SANITIZED") or "") == "" then
			assert(rss_kib < 32 * 1024, "peak memory " .. rss_kib .. " KiB is not far below the database size")
		end
		eq(must("stat -c %a " .. q(path)):gsub("%s", ""), "600", "mode")
		eq(select(2, sh("ls " .. q(dir) .. " | grep -q " .. q(path:match("[^/]+$") .. "."))), false, "no temporary file left")
		local want = must("head -c -32 " .. q(path) .. " | sha256sum"):match("^(%x+)")
		eq(s.sha256, want, "sha256 is the trailer and matches the database")
		local st = assert(json.decode(must(env .. " etcdctl snapshot status -w json " .. q(path))))
		assert(st.revision >= s.revision, "revision from the db is at least the one reported")
		eq(st.revision, s.revision, "no writes ran during the snapshot: revisions agree")
	end

	local base = endpoints:match("^[^,]+")
	local plain = must(env .. " echo $ETCD_PLAIN_ENDPOINT"):gsub("%s+$", "")

	test("a 100 MiB snapshot over gRPC (mutual TLS, h2) in constant memory, accepted by etcdctl", function()
		-- 200 values of 512 KiB: the database grows to ~100 MiB.
		local body_value = must("head -c 524288 /dev/urandom | base64 -w0")
		for i = 1, 200 do
			local key = must("printf %s " .. q(("bulk/%04d"):format(i)) .. " | base64 -w0")
			local status, text = c.conn:request(base, "/v3/kv/put",
				'{"key":"' .. key .. '","value":"' .. body_value .. '"}', 30)
			eq(status, 200, "put " .. i .. ": " .. tostring(text))
		end
		local path = dir .. "/backup.db"
		local s, rss_kib, log = snapshot_in_child(base, path)
		eq(s.transport, "grpc", "transport")
		assert(log:find("over grpc", 1, true), "the log says gRPC: " .. log)
		check_snapshot(s, rss_kib, path, "TLS")
		must(env .. " etcdctl snapshot restore " .. q(path) .. " --data-dir " .. q(dir .. "/restored") .. " >/dev/null 2>&1")
	end)

	test("the same snapshot over gRPC on plain http (h2c)", function()
		local path = dir .. "/plain.db"
		local s, rss_kib = snapshot_in_child(plain, path)
		eq(s.transport, "grpc", "transport")
		check_snapshot(s, rss_kib, path, "plain http")
	end)

	test("without HTTP/2 on the way (an HTTP/1.1-only proxy), the snapshot falls back to the JSON gateway", function()
		local pidfile, portfile = dir .. "/proxy.pid", dir .. "/proxy.port"
		must("python3 " .. q(here .. "/h1_proxy.py") .. " " .. q(plain) .. " >" .. q(portfile)
			.. " 2>/dev/null </dev/null & echo $! >" .. q(pidfile))
		local ok, err = pcall(function()
			local p = poll(10, "the proxy's port", function()
				return must("cat " .. q(portfile)):match("^(%d+)\n")
			end)
			local path = dir .. "/fallback.db"
			local s, rss_kib, log = snapshot_in_child("http://127.0.0.1:" .. p, path)
			eq(s.transport, "gateway", "transport")
			assert(log:find("using the JSON gateway", 1, true), "the fallback is logged: " .. log)
			check_snapshot(s, rss_kib, path, "via an HTTP/1.1 proxy")
		end)
		sh("kill $(cat " .. q(pidfile) .. ") 2>/dev/null")
		if not ok then error(err, 0) end
	end)

	-- Maintenance: 24 MiB written and deleted, the history compacted; then defragment, hashkv, move_leader and
	-- alarm_disarm through the gateway, checked against etcd's own view (endpoint status, etcdctl hashkv).
	test("defragment shrinks each member; hashkv as etcdctl's; move_leader; alarm_disarm", function()
		must(env .. " head -c 1048576 /dev/urandom >" .. q(dir .. "/mib") .. " && for i in $(seq 1 24); do "
			.. "etcdctl put frag/$i <" .. q(dir .. "/mib") .. " >/dev/null || exit 1; done && "
			.. "etcdctl del --prefix frag/ >/dev/null")
		local rev = assert(c:status { cluster = true })[1].revision
		must(env .. " etcdctl compact " .. rev .. " --physical >/dev/null")
		-- each member compacts in the background, and bolt frees the pages at a later commit: a write per look
		local before = poll(20, "every member's dbSizeInUse to drop", function()
			must(env .. " etcdctl put frag-marker x >/dev/null")
			local st = assert(c:status { cluster = true })
			for _, s in ipairs(st) do
				if s.db_size - s.db_size_in_use <= 20 * 1048576 then return false end
			end
			return st
		end)
		for _, s in ipairs(before) do
			local r = assert(c:defragment(s.endpoint, { timeout = 60 }))
			eq(r.endpoint, s.endpoint, "endpoint")
			assert(type(r.took) == "number" and r.took >= 0, "took")
			local after = assert(c:status { endpoints = { s.endpoint } })[1]
			assert(after.db_size < s.db_size - 20 * 1048576, s.endpoint .. ": " .. s.db_size .. " -> " .. after.db_size)
		end
		local h, msg, code = c:hashkv(before[1].endpoint, rev)
		if h then   -- etcd 3.5 and later
			local want = json.decode(must(env .. " ETCDCTL_ENDPOINTS=" .. before[1].endpoint
				.. " etcdctl endpoint hashkv --rev=" .. rev .. " -w json"))
			eq(h.hash, math.tointeger(want[1].HashKV.hash), "etcdctl's hash")
		else
			eq(code, "Unsupported", msg)
		end
		local leader, follower
		for _, s in ipairs(before) do if s.is_leader then leader = s else follower = s end end
		local moved = assert(c:move_leader(follower.id))
		eq(moved.from, leader.id, "from")
		eq(moved.to, follower.id, "to")
		poll(10, "the new leader", function()
			local st = c:status { endpoints = { follower.endpoint } }
			return st and st[1].is_leader
		end)
		eq(#assert(c:alarm_disarm()), 0, "no alarm to disarm")
	end)

	c:close()
end
sh(cluster .. " down " .. q(dir) .. " 2>&1")
sh("rm -rf " .. q(dir))

---------------------------------------------------------------------------------------------------------
-- Part 2: the shared testbed, read-only.

local testbed = os.getenv("TESTBED_DIR")
if testbed and os.getenv("ETCDCTL_ENDPOINTS") then
	local g = assert(etcd.connect { endpoints = os.getenv("ETCDCTL_ENDPOINTS"), cacert = os.getenv("ETCDCTL_CACERT"),
		cert = os.getenv("ETCDCTL_CERT"), key = os.getenv("ETCDCTL_KEY") })
	local k8s_ok, k8s = pcall(require, "medic.k8s")
	local kc = k8s_ok and k8s.connect and k8s.connect { kubeconfig = testbed .. "/kubeconfig" }
	local x
	if kc then
		local pods = kc:list("/api/v1/namespaces/openshift-etcd/pods", { labelSelector = "app=etcd" })
		for _, p in ipairs(pods and pods.items or {}) do
			if p.status and p.status.phase == "Running" then
				x = etcd.via_exec(kc, { namespace = "openshift-etcd", pod = p.metadata.name })
				break
			end
		end
	end

	test("testbed: gateway members equal etcdctl member list", function()
		same_members(assert(g:members()), etcdctl_members(""), "members")
	end)

	test("testbed: via_exec returns what the gateway returns", function()
		assert(x, "no running etcd pod reachable through medic.k8s")
		same_members(assert(x:members()), assert(g:members()), "members")
		local function strip(list, ...)
			for _, e in ipairs(list) do
				for _, k in ipairs { ... } do e[k] = nil end
			end
			return json.encode(list)
		end
		eq(strip(assert(x:health { cluster = true }), "took"), strip(assert(g:health { cluster = true }), "took"), "health")
		-- version: etcd is 3.4.23 (the gateway says so); etcdctl in the pods prints the profile's (3.5.x)
		local moving = { "raft_index", "raft_applied_index", "db_size", "db_size_in_use", "revision", "version" }
		eq(strip(assert(x:status { cluster = true }), table.unpack(moving)),
			strip(assert(g:status { cluster = true }), table.unpack(moving)), "status")
		eq(json.encode(assert(x:alarms())), json.encode(assert(g:alarms())), "alarms")
	end)

	test("testbed: removing an unknown ID is MemberNotFound (definite) through both", function()
		for _, c in ipairs { g, x } do
			local ok, msg, code, definite = c:member_remove("123456789abcdef")
			eq(ok, nil)
			eq(code, "MemberNotFound", msg)
			eq(definite, true)
		end
	end)
	test("testbed: maintenance through via_exec: hashkv as etcdctl's, defragment, move_leader, alarm_disarm", function()
		assert(x, "no running etcd pod reachable through medic.k8s")
		local st = assert(g:status { cluster = true })
		local ep, rev = st[1].endpoint, st[1].revision
		local h = assert(x:hashkv(ep, rev))
		local want = json.decode(must("ETCDCTL_ENDPOINTS=" .. ep .. " etcdctl endpoint hashkv --rev=" .. rev
			.. " -w json"))
		eq(h.hash, math.tointeger(want[1].HashKV.hash), "etcdctl's hash")
		eq(h.endpoint, ep, "endpoint")
		local _, msg, code = g:hashkv(ep, rev)
		eq(code, "Unsupported", msg)   -- etcd 3.4's gateway
		local d = assert(x:defragment(ep, { timeout = 30 }))
		eq(d.endpoint, ep, "endpoint")
		eq(#assert(x:alarm_disarm()), 0, "no alarm to disarm")
		local leader, follower
		for _, s in ipairs(st) do if s.is_leader then leader = s else follower = s end end
		local same = assert(x:move_leader(leader.id))
		eq(same.from, same.to, "already the leader: nothing sent")
		local moved = assert(x:move_leader(follower.id))
		eq(moved.from, leader.id, "from")
		poll(10, "the new leader", function()
			for _, s in ipairs(g:status { cluster = true } or {}) do
				if s.is_leader then return s.id == follower.id end
			end
		end)
		assert(x:move_leader(leader.id))   -- as it was
	end)
	g:close()
else
	print("skip testbed part: TESTBED_DIR or ETCDCTL_ENDPOINTS not set")
end

spec.done()
