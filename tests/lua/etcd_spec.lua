-- medic.etcd without a server: via_exec against a fake k8s client that replays etcdctl 3.4.23 outputs recorded
-- on a local 3-member TLS cluster, the gateway mapping on recorded gateway answers from the same cluster, and
-- the ID and error contracts. The real gateway and real etcdctl are in tests/integration/etcd_test.lua.
local etcd = require "medic.etcd"
local core = require "medic.etcd.core"
local json = require "medic.json"

local spec = require "spec"
local test = spec.it

local function eq(got, want, what)
	if got ~= want then
		error(string.format("%s: got %s, want %s", what or "value", tostring(got), tostring(want)), 2)
	end
end

local function same(got, want, what)
	eq(json.encode(got), json.encode(want), what)
end

local function fails_with(code, definite, ok, msg, got, def)
	if ok ~= nil or got ~= code or def ~= definite then
		error(string.format("want nil, _, %q, %s; got %s, %s, %s, %s", code, tostring(definite), tostring(ok),
			tostring(msg), tostring(got), tostring(def)), 2)
	end
end

---------------------------------------------------------------------------------------------------------
-- Recorded outputs (etcd 3.4.23; n4 is a learner added with `member add --learner` and never started), byte
-- for byte, cut into pieces after commas and newlines.

local ETCDCTL_MEMBERS = '{"header":{"cluster_id":2604092019873441488,"member_id":5643101488640687061,'
	.. '"raft_term":2},"members":[{"ID":2224029443123835983,"peerURLs":["https://127.0.0.1:23798"],'
	.. '"isLearner":true},{"ID":5643101488640687061,"name":"n1","peerURLs":["https://127.0.0.1:23792"],'
	.. '"clientURLs":["https://127.0.0.1:23791"]},{"ID":14658350327962927806,"name":"n2",'
	.. '"peerURLs":["https://127.0.0.1:23794"],"clientURLs":["https://127.0.0.1:23793"]},'
	.. '{"ID":16625465052083301473,"name":"n3","peerURLs":["https://127.0.0.1:23796"],'
	.. '"clientURLs":["https://127.0.0.1:23795"]}]}\n'
local GATEWAY_MEMBERS = '{"header":{"cluster_id":"2604092019873441488","member_id":"5643101488640687061",'
	.. '"raft_term":"2"},"members":[{"ID":"2224029443123835983","peerURLs":["https://127.0.0.1:23798"],'
	.. '"isLearner":true},{"ID":"5643101488640687061","name":"n1","peerURLs":["https://127.0.0.1:23792"],'
	.. '"clientURLs":["https://127.0.0.1:23791"]},{"ID":"14658350327962927806","name":"n2",'
	.. '"peerURLs":["https://127.0.0.1:23794"],"clientURLs":["https://127.0.0.1:23793"]},'
	.. '{"ID":"16625465052083301473","name":"n3","peerURLs":["https://127.0.0.1:23796"],'
	.. '"clientURLs":["https://127.0.0.1:23795"]}]}'
-- etcdctl member list -w table, the reference for IDs:
--   1edd56febf67f44f unstarted, 4e5052e7cde7fbd5 n1, cb6cebf5c37602be n2, e6b984611f18ac61 n3
local ETCDCTL_ADD = '{"header":{"cluster_id":2604092019873441488,"member_id":14658350327962927806,"raft_term":2},'
	.. '"member":{"ID":2224029443123835983,"peerURLs":["https://127.0.0.1:23798"],"isLearner":true},'
	.. '"members":[{"ID":2224029443123835983,"peerURLs":["https://127.0.0.1:23798"],"isLearner":true},'
	.. '{"ID":5643101488640687061,"name":"n1","peerURLs":["https://127.0.0.1:23792"],'
	.. '"clientURLs":["https://127.0.0.1:23791"]}]}'
local ETCDCTL_REMOVE = '{"header":{"cluster_id":2604092019873441488,"member_id":16625465052083301473,'
	.. '"raft_term":2},"members":[{"ID":5643101488640687061,"name":"n1","peerURLs":["https://127.0.0.1:23792"],'
	.. '"clientURLs":["https://127.0.0.1:23791"]}]}'
local ETCDCTL_HEALTH_ONE_DOWN = '[{"endpoint":"https://127.0.0.1:23791","health":true,"took":"3.358706ms"},'
	.. '{"endpoint":"https://127.0.0.1:23793","health":true,"took":"903.138µs"},'
	.. '{"endpoint":"https://127.0.0.1:23795","health":false,"took":"5.000431726s",'
	.. '"error":"context deadline exceeded"}]\n'
local ETCDCTL_STATUS_ONE_DOWN = '[{"Endpoint":"https://127.0.0.1:23791",'
	.. '"Status":{"header":{"cluster_id":2604092019873441488,"member_id":5643101488640687061,"revision":1,'
	.. '"raft_term":2},"version":"3.4.23","dbSize":20480,"leader":5643101488640687061,"raftIndex":37,'
	.. '"raftTerm":2,"raftAppliedIndex":37,"dbSizeInUse":16384}},{"Endpoint":"https://127.0.0.1:23793",'
	.. '"Status":{"header":{"cluster_id":2604092019873441488,"member_id":14658350327962927806,"revision":1,'
	.. '"raft_term":2},"version":"3.4.23","dbSize":20480,"leader":5643101488640687061,"raftIndex":37,'
	.. '"raftTerm":2,"raftAppliedIndex":37,"dbSizeInUse":16384}}]\n'
local ETCDCTL_STATUS_STDERR = '{"level":"warn","ts":"2026-11-26T14:20:21.902Z",'
	.. '"caller":"clientv3/retry_interceptor.go:62","msg":"retrying of unary invoker failed",'
	.. '"target":"passthrough:///https://127.0.0.1:23795","attempt":0,'
	.. '"error":"rpc error: code = DeadlineExceeded desc = latest balancer error"}\n'
	.. 'Failed to get the status of endpoint https://127.0.0.1:23795 (context deadline exceeded)\n'
local GATEWAY_STATUS = '{"header":{"cluster_id":"2604092019873441488","member_id":"5643101488640687061",'
	.. '"revision":"1","raft_term":"2"},"version":"3.4.23","dbSize":"20480","leader":"5643101488640687061",'
	.. '"raftIndex":"37","raftTerm":"2","raftAppliedIndex":"37","dbSizeInUse":"16384"}'
local NOT_FOUND_STDERR = '{"level":"warn","ts":"2026-11-26T14:20:08.926Z",'
	.. '"caller":"clientv3/retry_interceptor.go:62","msg":"retrying of unary invoker failed",'
	.. '"target":"endpoint://client-bb8f/127.0.0.1:23791","attempt":0,'
	.. '"error":"rpc error: code = NotFound desc = etcdserver: member not found"}\n'
	.. 'Error: etcdserver: member not found\n'

-- A fake medic.k8s client: answers keyed by the argv joined with spaces; records every call.
local function fake_kc(script)
	local kc = { calls = {} }
	function kc:exec(req)
		local key = table.concat(req.command, " "):gsub("/tmp/etcd%-medic%-snapshot%-%d+%-%d+%.db", "IN_POD")
		self.calls[#self.calls + 1] = { key = key, pod = req.pod, namespace = req.namespace, container = req.container }
		local r = script[key]
		if r == nil then error("fake kc: no answer for: " .. key) end
		if type(r) == "function" then return r(req) end
		return { stdout = r.stdout or "", stderr = r.stderr or "", exit_code = r.exit_code or 0 }
	end
	return kc
end

local function exec_with(script)
	local kc = fake_kc(script)
	return etcd.via_exec(kc, { namespace = "openshift-etcd", pod = "etcd-master-0" }), kc
end

---------------------------------------------------------------------------------------------------------

test("members via etcdctl: exact hex IDs, the unstarted learner, URLs", function()
	local x, kc = exec_with { ["etcdctl member list -w json"] = { stdout = ETCDCTL_MEMBERS } }
	local ms = assert(x:members())
	eq(#ms, 4, "members")
	eq(ms[1].id, "1edd56febf67f44f", "learner id")
	eq(ms[1].name, "", "unstarted name")
	eq(ms[1].started, false, "unstarted")
	eq(ms[1].is_learner, true, "learner")
	eq(#ms[1].client_urls, 0, "unstarted client urls")
	eq(ms[2].id, "4e5052e7cde7fbd5", "n1 id")
	eq(ms[3].id, "cb6cebf5c37602be", "n2 id (above 2^63)")
	eq(ms[4].id, "e6b984611f18ac61", "n3 id (above 2^63)")
	eq(ms[4].name, "n3")
	eq(ms[4].started, true)
	eq(ms[4].is_learner, false)
	eq(ms[4].peer_urls[1], "https://127.0.0.1:23796")
	eq(ms[4].client_urls[1], "https://127.0.0.1:23795")
	eq(math.type(ms[2].id), nil, "IDs are strings")
	eq(kc.calls[1].container, "etcdctl", "default container")
	eq(kc.calls[1].namespace, "openshift-etcd")
	eq(kc.calls[1].pod, "etcd-master-0")
end)

test("the gateway's answer maps to the same members as etcdctl's", function()
	local x = exec_with { ["etcdctl member list -w json"] = { stdout = ETCDCTL_MEMBERS } }
	local from_gateway = etcd._map.members(assert(json.decode(GATEWAY_MEMBERS)))
	same(from_gateway, assert(x:members()), "members")
end)

test("status maps the same from both; unreachable endpoints are listed with their error", function()
	local x = exec_with { ["etcdctl endpoint status -w json --cluster"] =
		{ stdout = ETCDCTL_STATUS_ONE_DOWN, stderr = ETCDCTL_STATUS_STDERR, exit_code = 1 } }
	local st = assert(x:status { cluster = true })
	eq(#st, 3, "entries")
	same(st[1], etcd._map.status("https://127.0.0.1:23791", assert(json.decode(GATEWAY_STATUS))), "n1 status")
	eq(st[1].id, "4e5052e7cde7fbd5")
	eq(st[1].leader, "4e5052e7cde7fbd5")
	eq(st[1].is_leader, true)
	eq(st[2].is_leader, false)
	eq(st[1].db_size, 20480)
	eq(math.type(st[1].raft_index), "integer")
	eq(st[1].raft_index, 37)
	eq(st[3].endpoint, "https://127.0.0.1:23795")
	-- a leader ID above 2^63 (a decimal string from both decoders), and no leader at all
	local big = etcd._map.status("e", assert(json.decode('{"header":{"member_id":"1"},"leader":"13966318342666752375"}')))
	eq(big.leader, "c1d2548932ac9177", "leader above 2^63")
	eq(etcd._map.status("e", { header = {}, leader = 0 }).leader, nil, "no leader")
	eq(st[3].error, "context deadline exceeded")
end)

test("health with one member down; took in seconds", function()
	local x = exec_with {
		["etcdctl endpoint health -w json --cluster"] = { stdout = ETCDCTL_HEALTH_ONE_DOWN, exit_code = 1,
			stderr = "Error: unhealthy cluster\n" },
		-- the alarm list is asked of the members that answered, not of the one that is down
		["env ETCDCTL_ENDPOINTS=https://127.0.0.1:23791,https://127.0.0.1:23793 etcdctl alarm list -w json"] =
			{ stdout = "{}\n" },
	}
	local h, alarms = assert(x:health { cluster = true })
	eq(#h, 3)
	eq(h[1].healthy, true)
	eq(h[1].error, nil)
	assert(math.abs(h[1].took - 0.003358706) < 1e-12, "took ms")
	assert(math.abs(h[2].took - 0.000903138) < 1e-12, "took µs")
	eq(h[3].healthy, false)
	eq(h[3].error, "context deadline exceeded")
	assert(math.abs(h[3].took - 5.000431726) < 1e-9, "took s")
	eq(#alarms, 0)
end)

test("an active alarm makes every endpoint unhealthy, as etcdctl 3.5 does", function()
	local x = exec_with {
		["etcdctl endpoint health -w json"] = { stdout = ETCDCTL_HEALTH_ONE_DOWN:gsub("false", "true") },
		-- etcdctl -w json prints the enum as a number (1 = NOSPACE)
		["env ETCDCTL_ENDPOINTS=https://127.0.0.1:23791,https://127.0.0.1:23793,https://127.0.0.1:23795 etcdctl alarm "
			.. "list -w json"] = { stdout = '{"alarms":[{"memberID":14658350327962927806,"alarm":1}]}' },
	}
	local h, alarms = assert(x:health())
	eq(alarms[1].member_id, "cb6cebf5c37602be")
	eq(alarms[1].alarm, "NOSPACE")
	for _, e in ipairs(h) do
		eq(e.healthy, false)
		eq(e.error, "Active Alarm(s): NOSPACE")
	end
	same(etcd._map.alarms(assert(json.decode('{"alarms":[{"memberID":"14658350327962927806","alarm":"NOSPACE"}]}'))),
		alarms, "gateway alarms map the same")
end)

test("member_remove sends canonical hex and returns the remaining members", function()
	local x, kc = exec_with { ["etcdctl member remove e6b984611f18ac61 -w json"] = { stdout = ETCDCTL_REMOVE } }
	local ms = assert(x:member_remove("E6B984611F18AC61"))
	eq(#ms, 1)
	eq(ms[1].id, "4e5052e7cde7fbd5")
	eq(kc.calls[1].key, "etcdctl member remove e6b984611f18ac61 -w json")
end)

test("member_remove errors: not found is definite, a timeout is not", function()
	local x = exec_with {
		["etcdctl member remove 1234 -w json"] = { stderr = NOT_FOUND_STDERR, exit_code = 1 },
		["etcdctl member remove 5678 -w json"] = { stderr = "Error: context deadline exceeded\n", exit_code = 1 },
		["etcdctl member remove 9abc -w json"] = { stderr = "Error: etcdserver: unhealthy cluster\n", exit_code = 1 },
		["etcdctl member remove def0 -w json"] = { exit_code = 1,
			stderr = "Error: etcdserver: re-configuration failed due to not enough started members\n" },
	}
	fails_with("MemberNotFound", true, x:member_remove("1234"))   -- all digits: hex, as etcdctl reads it
	fails_with("Timeout", false, x:member_remove("5678"))
	fails_with("Unhealthy", true, x:member_remove("9abc"))
	fails_with("NotEnoughStarted", true, x:member_remove("def0"))
end)

test("IDs: a number raises, a bad string fails without running anything", function()
	local x, kc = exec_with {}
	local ok, err = pcall(x.member_remove, x, 1234)
	eq(ok, false)
	assert(tostring(err):find("hex string", 1, true), err)
	ok = pcall(x.member_promote, x, 2 ^ 63)
	eq(ok, false, "float ID")
	fails_with("InvalidID", true, x:member_remove("0x12"))
	fails_with("InvalidID", true, x:member_remove("10000000000000000"))   -- 2^64
	fails_with("InvalidID", true, x:member_remove(""))
	eq(#kc.calls, 0, "no exec for bad IDs")
end)

test("member_add as a learner; member_promote not yet in sync", function()
	local x, kc = exec_with {
		["etcdctl member add new-member --peer-urls=https://127.0.0.1:23798 --learner -w json"] = { stdout = ETCDCTL_ADD },
		["etcdctl member promote 1edd56febf67f44f -w json"] = { exit_code = 1,
			stderr = "Error: etcdserver: can only promote a learner member which is in sync with leader\n" },
	}
	local m, ms = assert(x:member_add { peer_urls = { "https://127.0.0.1:23798" }, learner = true })
	eq(m.id, "1edd56febf67f44f")
	eq(m.is_learner, true)
	eq(m.started, false)
	eq(#ms, 2)
	fails_with("LearnerNotReady", true, x:member_promote(m.id))
	eq(pcall(x.member_add, x, { peer_urls = {} }), false, "empty peer_urls raise")
	eq(pcall(x.member_add, x, { peer_urls = { "127.0.0.1:2380" } }), false, "a URL without scheme raises")
	eq(#kc.calls, 2)
end)

test("exec failures: etcdctl never ran is definite; a lost stream is not", function()
	local kc = { exec = function(_, req)
		if req.pod == "gone" then return nil, "pods \"gone\" not found", "NotFound" end
		return nil, "exec stream closed", "ConnectionLost"
	end }
	fails_with("NotFound", true, etcd.via_exec(kc, { pod = "gone" }):member_remove("12"))
	fails_with("ConnectionLost", false, etcd.via_exec(kc, { pod = "etcd-0" }):member_remove("12"))
end)

-- A small file shaped like a snapshot: bbolt's magic at offset 16, and the SHA-256 trailer (from sha256sum)
-- unless bad_trailer.
local function write_snapshot(path, bad_trailer)
	local db = ("\0"):rep(16) .. "\xed\xda\x0c\xed" .. ("x"):rep(8172)
	local f = assert(io.open(path, "wb"))
	f:write(db)
	f:close()
	local hex = io.popen("sha256sum " .. path):read("l"):match("^%x+")
	f = assert(io.open(path, "ab"))
	f:write((hex:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)))
	if bad_trailer then f:seek("set", 100); f:write("y") end
	f:close()
	return hex
end

local function snapshot_script(extra)
	local ep = "env ETCDCTL_ENDPOINTS=https://127.0.0.1:23791 etcdctl "
	local script = {
		["etcdctl endpoint status -w json"] = { stdout = ETCDCTL_STATUS_ONE_DOWN },
		[ep .. "endpoint status --command-timeout=5s -w json"] = { stdout = '[{"Endpoint":"e","Status":{"dbSize":8192}}]' },
		["df -Pk /tmp"] = { stdout = extra.df or "Filesystem 1024-blocks Used Available Capacity Mounted on\n"
			.. "overlay 104857600 52428800 52428800 50% /\n" },
		[ep .. "snapshot save IN_POD"] = { stdout = "Snapshot saved at IN_POD\n" },
		["cat IN_POD"] = function(req)
			write_snapshot(req.stdout_file .. ".tmp", extra.bad_trailer)
			os.rename(req.stdout_file .. ".tmp", req.stdout_file)
			return { stdout_bytes = 8224, stderr = "", exit_code = 0 }
		end,
		["rm -f IN_POD IN_POD.part"] = { stdout = "" },
	}
	for k, v in pairs(extra) do if type(k) == "string" and k:find(" ") then script[k] = v end end
	return script
end

local function keys(calls)
	local out = {}
	for _, c in ipairs(calls) do out[#out + 1] = c.key end
	return table.concat(out, " | ")
end

test("snapshot via exec: saved in the pod, copied out with cat, checked, removed from the pod", function()
	local path = os.tmpname()
	local x, kc = exec_with(snapshot_script {})
	local s = assert(x:snapshot(path))
	eq(s.size, 8224)
	eq(s.sha256, write_snapshot(os.tmpname()))
	eq(s.endpoint, "https://127.0.0.1:23791", "the endpoint that answered")
	eq(s.transport, "exec")
	eq(keys(kc.calls), "etcdctl endpoint status -w json | env ETCDCTL_ENDPOINTS=https://127.0.0.1:23791 etcdctl "
		.. "endpoint status --command-timeout=5s -w json | df -Pk /tmp | env ETCDCTL_ENDPOINTS=https://127.0.0.1:23791 "
		.. "etcdctl snapshot save IN_POD | cat IN_POD | rm -f IN_POD IN_POD.part")
	-- the members preflight found healthy: no status probe of every endpoint first
	x, kc = exec_with(snapshot_script {})
	assert(x:snapshot(path, { endpoints = { "https://127.0.0.1:23791" } }))
	eq(#kc.calls, 5, keys(kc.calls))
	os.remove(path)
end)

test("snapshot via exec: a corrupt copy is removed; a failed save copies nothing; the pod is always cleaned", function()
	local path = os.tmpname()
	os.remove(path)
	local x, kc = exec_with(snapshot_script { bad_trailer = true })
	local _, msg, code = x:snapshot(path)
	eq(code, "SnapshotFailed", msg)
	assert(msg:find("SHA-256 mismatch", 1, true), msg)
	eq(io.open(path), nil, "the corrupt copy is gone")
	eq(kc.calls[#kc.calls].key, "rm -f IN_POD IN_POD.part")
	x, kc = exec_with(snapshot_script {
		["env ETCDCTL_ENDPOINTS=https://127.0.0.1:23791 etcdctl snapshot save IN_POD"] =
			{ stderr = "Error: rpc error: code = Unavailable desc = transport is closing\n", exit_code = 1 },
		["env ETCDCTL_ENDPOINTS=https://127.0.0.1:23793 etcdctl endpoint status --command-timeout=5s -w json"] =
			{ stderr = "Error: context deadline exceeded\n", exit_code = 1 } })
	_, msg = x:snapshot(path)
	assert(msg:find("etcd-master-0: etcdctl: context deadline exceeded", 1, true), msg)
	assert(keys(kc.calls):find("23793", 1, true), "the next endpoint that answered status is tried")
	assert(not keys(kc.calls):find("cat ", 1, true), "nothing copied: " .. keys(kc.calls))
	eq(kc.calls[#kc.calls].key, "rm -f IN_POD IN_POD.part")
end)

test("snapshot via exec: no room in the pod's /tmp for the database: not staged there", function()
	local path = os.tmpname()
	os.remove(path)
	local x, kc = exec_with(snapshot_script { df = "Filesystem 1024-blocks Used Available Capacity Mounted on\n"
		.. "overlay 1000 996 4 99% /\n" })
	local _, msg, code = x:snapshot(path, { endpoints = { "https://127.0.0.1:23791" } })
	eq(code, "NoSpace", msg)
	assert(msg:find("no room in /tmp for the snapshot (0 MiB free", 1, true), msg)
	assert(not keys(kc.calls):find("snapshot save", 1, true), "nothing saved: " .. keys(kc.calls))
end)

test("Go durations", function()
	local d = etcd._map.duration
	eq(d("1.5s"), 1.5)
	eq(d("1m2s"), 62)
	assert(math.abs(d("250ns") - 250e-9) < 1e-15)
	assert(math.abs(d("3µs") - 3e-6) < 1e-15)
	eq(d("garbage"), nil)
end)

test("core IDs and classification", function()
	eq(core.id_hex("18446744073709551615"), "ffffffffffffffff")
	eq(core.id_hex("9007199254740993"), "20000000000001")
	eq(core.id_hex(9007199254740992), "20000000000000")
	eq(core.id_hex("18446744073709551616"), nil, "2^64 is not an ID")
	eq(core.id_dec("ffffffffffffffff"), "18446744073709551615")
	eq(core.id_dec("8000000000000000"), "9223372036854775808")
	eq(core.id_dec("0"), "0")
	eq(etcd.id_to_decimal("10"), "16", "all digits are hex")
	eq(pcall(core.id_dec, 16), false, "numbers raise")
	eq(pcall(core.id_hex, 1.5), false, "floats raise")
	eq(select(2, core.classify("etcdserver: request timed out", 14, 503)), false)
	eq(core.classify("etcdserver: unhealthy cluster", 14, 503), "Unhealthy")
end)

test("connect: misuse raises, unreadable certificates fail with InvalidConfig", function()
	eq(pcall(etcd.connect, { endpoints = "127.0.0.1:2379" }), false, "no scheme")
	eq(pcall(etcd.connect, { endpoints = { 1 } }), false, "not a string")
	eq(pcall(etcd.connect, { endpoints = "https://127.0.0.1:1", cert = "/x" }), false, "cert without key")
	local ok, msg, code = etcd.connect { endpoints = "https://127.0.0.1:1", cacert = "/nonexistent/ca.crt" }
	eq(ok, nil)
	eq(code, "InvalidConfig")
	assert(msg:find("/nonexistent/ca.crt", 1, true), msg)
	local c = assert(etcd.connect { endpoints = "https://127.0.0.1:1/,https://127.0.0.1:2" })
	same(c.endpoints, { "https://127.0.0.1:1", "https://127.0.0.1:2" }, "endpoints")
	c:close()
	c:close()
	eq(pcall(c.members, c), false, "a closed connection raises")
end)

test("gateway: a refused connection is definite, reads and writes try every endpoint", function()
	-- ports 1 and 2 on loopback: nothing listens, the kernel refuses at once
	local c <close> = assert(etcd.connect { endpoints = { "http://127.0.0.1:1", "http://127.0.0.1:2" }, timeout = 2 })
	local ok, msg, code, definite = c:members()
	eq(ok, nil)
	eq(code, "ConnectFailed", msg)
	eq(definite, true)
	assert(msg:find("127.0.0.1:2", 1, true), "the last endpoint tried is named: " .. msg)
	fails_with("ConnectFailed", true, c:member_remove("62bcf33650a7170a"))
	local h = assert(c:health())
	eq(#h, 2)
	eq(h[1].healthy, false)
	assert(h[1].error and h[1].error:find("127.0.0.1:1", 1, true), "health error names the endpoint")
end)

---------------------------------------------------------------------------------------------------------
-- Maintenance (etcdctl 3.4.23 and its gateway on the testbed, a NOSPACE alarm raised by `testbed fragment`).

local ETCDCTL_ALARMS = '{"alarms":[{"memberID":11166166967735282866,"alarm":1}]}\n'
local GATEWAY_ALARMS = '{"alarms":[{"memberID":"11166166967735282866","alarm":"NOSPACE"}]}'
local ETCDCTL_HASHKV = '[{"Endpoint":"https://127.221.74.11:2379","HashKV":{"header":{"cluster_id":'
	.. '11791283347260930297,"member_id":6068492770290218421,"revision":94,"raft_term":4},"hash":1073489840,'
	.. '"compact_revision":92}}]\n'
local ETCDCTL_STATUS_3 = '[{"Endpoint":"https://127.221.74.11:2379","Status":{"header":{"member_id":'
	.. '6068492770290218421,"revision":94},"version":"3.4.23","dbSize":24576,"leader":6068492770290218421,'
	.. '"dbSizeInUse":20480}},{"Endpoint":"https://127.221.74.12:2379","Status":{"header":{"member_id":'
	.. '3048026810464349406,"revision":94},"version":"3.4.23","dbSize":24576,"leader":6068492770290218421,'
	.. '"dbSizeInUse":20480}}]\n'
local BAD_TRANSFEREE = '{"level":"warn","msg":"retrying of unary invoker failed","error":"rpc error: code = '
	.. 'FailedPrecondition desc = etcdserver: bad leader transferee"}\nError: etcdserver: bad leader transferee\n'

test("alarm_disarm via etcdctl: the alarms disarmed, as alarms() maps the gateway's", function()
	local x, kc = exec_with { ["etcdctl alarm disarm -w json"] = { stdout = ETCDCTL_ALARMS } }
	local done = assert(x:alarm_disarm())
	same(done, { { member_id = "9af631b23e8fecb2", alarm = "NOSPACE" } }, "disarmed")
	same(done, etcd._map.alarms(json.decode(GATEWAY_ALARMS)), "the gateway's shape")
	eq(#kc.calls, 1)
end)

test("defragment via etcdctl: one endpoint, --command-timeout, the exec given 30 s more", function()
	local seen
	local x = exec_with { ["env ETCDCTL_ENDPOINTS=https://127.221.74.11:2379 etcdctl defrag --command-timeout=45s"] =
		function(req)
			seen = req.timeout
			return { stdout = "Finished defragmenting etcd member[https://127.221.74.11:2379]\n", stderr = "",
				exit_code = 0 }
		end }
	local r = assert(x:defragment("https://127.221.74.11:2379", { timeout = 45 }))
	eq(r.endpoint, "https://127.221.74.11:2379")
	eq(math.type(r.took) ~= nil and r.took >= 0, true, "took")
	eq(seen, 75, "exec timeout")
	local y = exec_with { ["env ETCDCTL_ENDPOINTS=https://127.221.74.11:2379 etcdctl defrag --command-timeout=30s"] =
		{ stderr = "Error: context deadline exceeded\n", exit_code = 1 } }
	fails_with("Timeout", false, y:defragment("https://127.221.74.11:2379"))
end)

test("hashkv via etcdctl: the member's hash at rev, its compact revision", function()
	local x = exec_with { ["env ETCDCTL_ENDPOINTS=https://127.221.74.11:2379 etcdctl endpoint hashkv --rev=94 -w json"] =
		{ stdout = ETCDCTL_HASHKV } }
	same(assert(x:hashkv("https://127.221.74.11:2379", 94)), { endpoint = "https://127.221.74.11:2379",
		hash = 1073489840, compact_revision = 92, revision = 94 }, "hashkv")
	eq(pcall(x.hashkv, x, "https://127.221.74.11:2379", -1), false, "a negative rev raises")
	eq(pcall(x.hashkv, x, "https://127.221.74.11:2379", "94"), false, "a string rev raises")
end)

test("move_leader via etcdctl: from the leader the status names; nothing sent when already the leader", function()
	local x, kc = exec_with {
		["etcdctl endpoint status -w json --cluster"] = { stdout = ETCDCTL_STATUS_3 },
		["etcdctl move-leader 2a4cc43c27982cde"] = { stdout = "Leadership transferred from 54379e05b72cb5b5 to "
			.. "2a4cc43c27982cde\n" },
		["etcdctl move-leader 1234"] = { stderr = BAD_TRANSFEREE, exit_code = 1 },
	}
	same(assert(x:move_leader("2a4cc43c27982cde")), { from = "54379e05b72cb5b5", to = "2a4cc43c27982cde" }, "moved")
	same(assert(x:move_leader("54379e05b72cb5b5")), { from = "54379e05b72cb5b5", to = "54379e05b72cb5b5" }, "same")
	eq(kc.calls[#kc.calls].key, "etcdctl endpoint status -w json --cluster", "no move-leader for the leader")
	local ok, msg = x:move_leader("1234")
	eq(ok, nil)
	eq(tostring(msg):find("bad leader transferee", 1, true) ~= nil, true, msg)
	eq(pcall(x.move_leader, x, 1234), false, "a number raises")
end)

spec.done()
