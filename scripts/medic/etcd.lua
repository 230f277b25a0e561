-- etcd-medic-api: 2
-- medic.etcd: etcd membership, health, status, alarms and snapshots, through either of two transports with
-- the same methods and the same result shapes:
--   etcd.connect{endpoints=, cacert=, cert=, key=, timeout=}   the v3 JSON gateway over HTTPS with mutual TLS
--   etcd.via_exec(kc, {namespace=, pod=, container="etcdctl"}) etcdctl inside a running etcd pod (kc:exec)
--
-- Member IDs are lower-case hex strings exactly as etcdctl prints them ("62bcf33650a7170a"), never numbers.
-- An ID argument is parsed as hex the way `etcdctl member remove` parses it, so an all-digit ID such as
-- "1234" is hex too; a Lua number raises (it may already have been rounded).
--
-- Failures return nil, message, code, definite. definite is true when the request was certainly not applied
-- and false when it may have been (a timeout, a lost connection, a leader change): after an indefinite
-- failure of member_add/remove/promote, re-read members() and decide; never resend blindly.
-- Codes: MemberNotFound, Unhealthy, NotEnoughStarted, LearnerNotReady, NotLearner, TooManyLearners,
-- MemberExists, PeerURLExists, InvalidID, Timeout, LeaderChanged, NoLeader, Unavailable, ConnectFailed, TLS,
-- ConnectionLost, Interrupted, Forbidden, Unauthorized, NoSpace, SnapshotFailed, BadResponse, EtcdError, ...
local core = require "medic.etcd.core"
local json = require "medic.json"
local host = require "medic.host"

local etcd = {}

local HEALTH_KEY = "aGVhbHRo"   -- base64("health"): the key etcdctl endpoint health reads
local ALARM_NAMES = { [0] = "NONE", [1] = "NOSPACE", [2] = "CORRUPT" }

---------------------------------------------------------------------------------------------------------
-- Mapping: the gateway's JSON and etcdctl's -w json carry the same protobuf field names; they differ only
-- in how 64-bit numbers arrive (decimal strings vs numbers, which medic.json keeps exact) and in enums
-- (names vs numbers). One set of functions serves both transports, so their results are identical.

local function hex_id(v)
	if v == nil then return nil end
	local h, err = core.id_hex(v)
	if not h then error(err, 0) end
	return h
end

local function int(v)
	if v == nil then return 0 end
	local n = math.tointeger(tonumber(v))
	if n == nil then error("bad integer from etcd: " .. tostring(v), 0) end
	return n
end

local function strings(list)
	local out = {}
	for i, s in ipairs(list or {}) do out[i] = s end
	return out
end

local map = {}

function map.member(m)
	local name = m.name or ""
	return {
		id = hex_id(m.ID),
		name = name,
		peer_urls = strings(m.peerURLs),
		client_urls = strings(m.clientURLs),
		is_learner = m.isLearner == true,
		started = name ~= "",   -- as etcdctl's STATUS column: a member that never started has no name
	}
end

function map.members(doc)
	local out = {}
	for i, m in ipairs(doc.members or {}) do out[i] = map.member(m) end
	return out
end

function map.status(endpoint, s)
	local header = s.header or {}
	local leader = hex_id(s.leader)
	if leader == "0" then leader = nil end
	return {
		endpoint = endpoint,
		id = hex_id(header.member_id),
		version = s.version,
		db_size = int(s.dbSize),
		db_size_in_use = int(s.dbSizeInUse),
		leader = leader,                 -- nil while the member knows no leader
		is_leader = leader ~= nil and leader == hex_id(header.member_id),
		raft_term = int(s.raftTerm),
		raft_index = int(s.raftIndex),
		raft_applied_index = int(s.raftAppliedIndex),
		revision = int(header.revision),
		is_learner = s.isLearner == true,
		errors = strings(s.errors),
	}
end

function map.alarms(doc)
	local out = {}
	for _, a in ipairs(doc.alarms or {}) do
		local kind = a.alarm
		if math.type(kind) == "integer" then kind = ALARM_NAMES[kind] or "UNKNOWN" end
		out[#out + 1] = { member_id = hex_id(a.memberID or 0), alarm = kind or "NONE" }
	end
	return out
end

-- Go's time.Duration text ("2.095242ms", "903.138µs", "1.5s", "1m2.5s") in seconds.
function map.duration(text)
	if type(text) ~= "string" then return nil end
	local unit = { h = 3600, m = 60, s = 1, ms = 1e-3, ["µs"] = 1e-6, ["us"] = 1e-6, ns = 1e-9 }
	local total, rest = 0, text
	for _ = 1, 8 do
		if rest == "" then return total end
		local num, u, tail = rest:match("^([%d%.]+)([a-zµ]+)(.*)$")
		if not num or not unit[u] then return nil end
		total, rest = total + tonumber(num) * unit[u], tail
	end
	return nil
end

-- etcdctl endpoint health (3.5 and later) marks every endpoint unhealthy while any alarm is active,
-- because the alarm list is cluster-wide. Both transports do the same, whatever etcdctl's version.
local function apply_alarms(entries, alarms)
	local names = {}
	for _, a in ipairs(alarms) do
		if a.alarm ~= "NONE" then names[#names + 1] = a.alarm end
	end
	if #names == 0 then return end
	for _, e in ipairs(entries) do
		if e.healthy then
			e.healthy = false
			e.error = "Active Alarm(s): " .. table.concat(names, " ")
		end
	end
end

local function by_endpoint(a, b) return a.endpoint < b.endpoint end

-- Finishes health(): sorted entries, alarms applied (unless opts.alarms is false); returns entries, alarms ({} when
-- not asked for, nil when they could not be read).
local function with_alarms(conn, entries, opts)
	table.sort(entries, by_endpoint)
	if opts and opts.alarms == false then return entries, {} end
	local answered = {}
	for _, e in ipairs(entries) do
		if e.healthy then answered[#answered + 1] = e.endpoint end
	end
	-- asked of the members that just answered: etcdctl's client may wait its whole timeout on a dead one
	local alarms, msg = conn:alarms(#answered > 0 and { endpoints = answered } or nil)
	if not alarms then
		for _, e in ipairs(entries) do
			if e.healthy then e.healthy, e.error = false, "Unable to fetch the alarm list: " .. msg end
		end
		return entries, nil
	end
	apply_alarms(entries, alarms)
	return entries, alarms
end

-- Runs a mapping function; bad data from etcd becomes an error return, not a raise.
local function mapped(fn, ...)
	local ok, res = pcall(fn, ...)
	if ok then return res end
	return nil, "unexpected answer from etcd: " .. tostring(res), "BadResponse", false
end

local function check_id(method, id)
	if type(id) ~= "string" then
		error(method .. ": member ID must be a hex string as etcdctl prints it, not a " .. type(id), 3)
	end
	return core.id_dec(id)   -- decimal, or nil, message, "InvalidID"
end

local function check_peer_urls(urls)
	if type(urls) == "string" then urls = { urls } end
	if type(urls) ~= "table" or #urls == 0 then
		error("member_add: peer_urls must be a non-empty list of URLs", 3)
	end
	for i, u in ipairs(urls) do
		if type(u) ~= "string" or not u:match("^https?://.") then
			error("member_add: peer_urls[" .. i .. "] is not an http(s) URL", 3)
		end
	end
	return urls
end

---------------------------------------------------------------------------------------------------------
-- Transport 1: the JSON gateway (conn is the C core's connection: one reused HTTPS client per endpoint).

local Gateway = {}
Gateway.__index = Gateway

-- Errors after which a read may be retried on another endpoint (the next member may well answer).
local FAILOVER = { ConnectFailed = true, TLS = true, Timeout = true, ConnectionLost = true, Unavailable = true,
	NoLeader = true, LeaderChanged = true, HTTPError = true, EtcdError = true, BadResponse = true }

-- One POST to one endpoint: the decoded answer and the seconds it took, or nil, message, code, definite.
function Gateway:post(base, path, body, timeout)
	local status, text, seconds_or_code, definite, seconds = self.conn:request(base, path, json.encode(body), timeout)
	if not status then return nil, text, seconds_or_code, definite, seconds end
	local doc = json.decode(text)
	if status == 200 and type(doc) == "table" then return doc, seconds_or_code end
	if status == 200 then return nil, base .. ": not JSON from the etcd gateway", "BadResponse", false end
	-- not JSON (a proxy's page, "Not Found"): one line of it is enough
	local message = type(doc) == "table" and (doc.message or doc.error) or text:gsub("%s+", " "):sub(1, 200)
	local grpc = type(doc) == "table" and math.tointeger(doc.code) or nil
	local code, def = core.classify(message, grpc, status)
	return nil, base .. ": " .. tostring(message), code, def
end

-- Tries fn(endpoint) on each configured endpoint, starting with the last one that answered.
function Gateway:each_endpoint(fn)
	local n, msg, code, def = #self.endpoints
	for k = 0, n - 1 do
		local i = (self.preferred - 1 + k) % n + 1
		local res
		res, msg, code, def = fn(self.endpoints[i])
		if res ~= nil then
			self.preferred = i
			return res, msg, self.endpoints[i]
		end
		if not FAILOVER[code] then break end
	end
	return nil, msg, code, def
end

function Gateway:read(path, body)
	return self:each_endpoint(function(base) return self:post(base, path, body) end)
end

-- Writes go to one endpoint; only a request that certainly never left (connect or TLS failure) moves on.
function Gateway:write(path, body)
	local n, msg, code, def = #self.endpoints
	for k = 0, n - 1 do
		local i = (self.preferred - 1 + k) % n + 1
		local doc
		doc, msg, code, def = self:post(self.endpoints[i], path, body)
		if doc then
			self.preferred = i
			return doc
		end
		if not (def and (code == "ConnectFailed" or code == "TLS")) then break end
	end
	return nil, msg, code, def
end

-- members() -> { {id=, name=, peer_urls={}, client_urls={}, is_learner=, started=} ... } in etcd's order.
-- Linearizable: etcd 3.5 honours {"linearizable":true}; 3.4 ignores it and answers from the member's local
-- state, so a linearizable read on the same endpoint goes first: after it, that member has applied every
-- membership change committed before the call.
function Gateway:members()
	local doc, msg, code, def = self:each_endpoint(function(base)
		local ok, m, c, d = self:post(base, "/v3/kv/range", { key = HEALTH_KEY, count_only = true })
		if not ok then return nil, m, c, d end
		return self:post(base, "/v3/cluster/member/list", { linearizable = true })
	end)
	if not doc then return nil, msg, code, def end
	return mapped(map.members, doc)
end

-- count_keys([{revision=N}]) -> the number of keys in the whole key space (at revision N: as a snapshot taken then
-- holds it) | nil, message, code, definite ("Compacted" style errors pass through as etcd words them)
function Gateway:count_keys(opts)
	local body = { key = "AA==", range_end = "AA==", count_only = true, revision = opts and opts.revision or nil }
	local doc, msg, code, def = self:read("/v3/kv/range", body)
	if not doc then return nil, msg, code, def end
	return math.tointeger(tonumber(doc.count or 0))
end

-- member_add{peer_urls={url...}, learner=bool} -> member, members | nil, message, code, definite
-- member is the new member (name "", started false until it starts); members the list after the change.
function Gateway:member_add(opts)
	local urls = check_peer_urls(type(opts) == "table" and opts.peer_urls or nil)
	local doc, msg, code, def = self:write("/v3/cluster/member/add",
		{ peerURLs = json.array(urls), isLearner = opts.learner == true })
	if not doc then return nil, msg, code, def end
	local member, err = mapped(map.member, doc.member or {})
	if not member then return nil, err, "BadResponse", false end
	return member, mapped(map.members, doc)
end

local function change(self, method, path, id)
	local dec, msg, code = check_id(method, id)
	if not dec then return nil, msg, code, true end
	local doc, m, c, d = self:write(path, { ID = dec })
	if not doc then return nil, m, c, d end
	return mapped(map.members, doc)
end

-- member_remove(id) -> members (the remaining ones) | nil, message, code, definite
function Gateway:member_remove(id) return change(self, "member_remove", "/v3/cluster/member/remove", id) end

-- member_promote(id) -> members | nil, message, code, definite ("LearnerNotReady" until it caught up)
function Gateway:member_promote(id) return change(self, "member_promote", "/v3/cluster/member/promote", id) end

local function client_urls(members)
	local urls = {}
	for _, m in ipairs(members) do
		for _, u in ipairs(m.client_urls) do urls[#urls + 1] = u end
	end
	return urls
end

-- The endpoints of health/status: endpoints= if given; with cluster=true every member's client URLs; else the
-- configured ones.
function Gateway:targets(opts)
	if opts and opts.endpoints then return strings(opts.endpoints) end
	if not (opts and opts.cluster) then return strings(self.endpoints) end
	local members, msg, code, def = self:members()
	if not members then return nil, msg, code, def end
	return client_urls(members)
end

-- alarms([{endpoints=}]) -> { {member_id=, alarm="NOSPACE"|"CORRUPT"} ... }  (the gateway tries its endpoints in
-- turn; endpoints= matters through a pod)
function Gateway:alarms()
	local doc, msg, code, def = self:read("/v3/maintenance/alarm", { action = "GET" })
	if not doc then return nil, msg, code, def end
	return mapped(map.alarms, doc)
end

-- health{cluster=true | endpoints={url...} [, timeout=, brief={url...}]} -> { {endpoint=, healthy=, took=seconds,
-- error=} ... } (sorted by endpoint), alarms (as alarms() returns them; {} with alarms=false, nil when the list
-- could not be read).
-- Healthy as etcdctl endpoint health: a linearizable read of key "health" succeeds (permission denied counts
-- as healthy), and no alarm is active. timeout: seconds per endpoint (default 5, etcdctl's). brief: endpoints of a
-- member expected down (stopped, crash-looping), given BRIEF_S seconds, so that it does not hold the reading up.
-- alarms=false: the alarm list is not read (a look while waiting; a verdict reads it).
local BRIEF_S = 1

local function brief_set(opts)
	local set = {}
	for _, url in ipairs(opts and opts.brief or {}) do set[url] = true end
	return set
end

function Gateway:health(opts)
	local targets, msg, code, def = self:targets(opts)
	if not targets then return nil, msg, code, def end
	local out, brief = {}, brief_set(opts)
	for _, ep in ipairs(targets) do
		local timeout = brief[ep] and BRIEF_S or (opts and opts.timeout)
		local doc, took_or_msg, c, _, seconds = self:post(ep, "/v3/kv/range", { key = HEALTH_KEY }, timeout)
		local healthy = doc ~= nil or c == "Forbidden"
		out[#out + 1] = { endpoint = ep, healthy = healthy, took = doc and took_or_msg or seconds,
			error = not healthy and took_or_msg or nil }
	end
	return with_alarms(self, out, opts)
end

-- status{cluster=true} -> { {endpoint=, id=, version=, db_size=, db_size_in_use=, leader=, is_leader=,
-- raft_term=, raft_index=, raft_applied_index=, revision=, is_learner=, errors={}} or {endpoint=, error=} ... }
function Gateway:status(opts)
	local targets, msg, code, def = self:targets(opts)
	if not targets then return nil, msg, code, def end
	local out = {}
	for _, ep in ipairs(targets) do
		local doc, err = self:post(ep, "/v3/maintenance/status", {})
		local entry
		if doc then entry, err = mapped(map.status, ep, doc) end
		out[#out + 1] = entry or { endpoint = ep, error = err }
	end
	table.sort(out, by_endpoint)
	return out
end

-- snapshot(path [, {timeout=seconds}]) -> {size=, sha256=, revision=, endpoint=, path=, transport=[, version=]}
-- The file is what `etcdctl snapshot save` writes (bolt database + its 32-byte SHA-256 trailer, checked),
-- mode 0600, written atomically. transport: "grpc" (Maintenance/Snapshot over HTTP/2, as etcdctl), or
-- "gateway" (the JSON gateway, only when gRPC got no gRPC answer at all); version: etcd 3.6's storage version.
-- revision is read from the saved database, as `etcdctl snapshot status` reads it (the largest revision among
-- its keys; 0 for an empty store); should the file not parse, it is the revision the same member reported just
-- before the transfer began (a lower bound).
function Gateway:snapshot(path, opts)
	if type(path) ~= "string" or path == "" then error("snapshot: path must be a file name", 2) end
	local st, msg, code, def = self:each_endpoint(function(base)
		local doc, m, c, d = self:post(base, "/v3/maintenance/status", {})
		if not doc then return nil, m, c, d end
		return { base = base, revision = int((doc.header or {}).revision) }
	end)
	if not st then return nil, msg, code, def end
	local res, m, c = self.conn:snapshot(st.base, path, opts and opts.timeout)
	if not res then return nil, m, c, true end
	res.revision = res.revision or st.revision
	res.endpoint, res.path = st.base, path
	return res
end

---------------------------------------------------------------------------------------------------------
-- Maintenance: defragment, alarm_disarm, move_leader, hashkv (the same contracts on both transports).

-- defragment(endpoint [, {timeout=seconds}]) -> {endpoint=, took=seconds} | nil, message, code, definite
-- `etcdctl defrag` of one member: it blocks that member (no reads, no writes, no heartbeats answered) until the
-- rewrite ends. timeout: default DEFRAG_TIMEOUT, the documentation's --command-timeout.
local DEFRAG_TIMEOUT = 30

function Gateway:defragment(endpoint, opts)
	if type(endpoint) ~= "string" or endpoint == "" then error("defragment: endpoint must be a client URL", 2) end
	local t0 = host.now()
	local doc, msg, code, def = self:post(endpoint, "/v3/maintenance/defragment", {},
		opts and opts.timeout or DEFRAG_TIMEOUT)
	if not doc then return nil, msg, code, def end
	return { endpoint = endpoint, took = host.now() - t0 }
end

-- alarm_disarm() -> the alarms disarmed ({} when none was active), as alarms() returns them
-- `etcdctl alarm disarm`: every active alarm deactivated, one request each. Disarming NOSPACE while the database
-- is still above its quota only lets the next write raise it again: the caller checks the size first.
function Gateway:alarm_disarm()
	local active, msg, code, def = self:alarms()
	if not active then return nil, msg, code, def end
	local done = {}
	for _, a in ipairs(active) do
		local kind = 0
		for n, name in pairs(ALARM_NAMES) do if name == a.alarm then kind = n end end
		local doc, m, c, d = self:write("/v3/maintenance/alarm",
			{ action = "DEACTIVATE", memberID = core.id_dec(a.member_id), alarm = kind })
		if not doc then return nil, m, c, d end
		done[#done + 1] = a
	end
	return done
end

-- The leader's status entry among every member's, or nil, message, code, definite.
local function leader_of(conn)
	local list, msg, code, def = conn:status { cluster = true }
	if not list then return nil, msg, code, def end
	for _, s in ipairs(list) do
		if s.is_leader then return s end
	end
	return nil, "no member reports itself the leader", "NoLeader", true
end

-- move_leader(id) -> {from=hex, to=hex} | nil, message, code, definite
-- `etcdctl move-leader ID`: the leader hands leadership to voting member id. Already the leader: nothing is sent.
-- Both transports: checks id, finds the leader, and calls send(leader, decimal id, hex id) unless id leads already.
local function move_leader(conn, id, send)
	local dec, msg, code = check_id("move_leader", id)
	if not dec then return nil, msg, code, true end
	local leader, m, c, d = leader_of(conn)
	if not leader then return nil, m, c, d end
	local to = hex_id(dec)
	if leader.id == to then return { from = to, to = to } end
	local ok
	ok, m, c, d = send(leader, dec, to)
	if not ok then return nil, m, c, d end
	return { from = leader.id, to = to }
end

function Gateway:move_leader(id)
	return move_leader(self, id, function(leader, dec)
		return self:post(leader.endpoint, "/v3/maintenance/transfer-leadership", { targetID = dec })
	end)
end

-- hashkv(endpoint, rev) -> {endpoint=, hash=, compact_revision=, revision=} | nil, message, code, definite
-- `etcdctl endpoint hashkv --rev REV` of one member: the hash of its keys up to rev (0: its newest revision).
-- Members that agree hash the same at the same rev; a rev already compacted away is an error (Compacted).
-- The gateway of etcd 3.4 routes no HashKV (its path serves Hash): Unsupported there.
local function check_rev(rev)
	if math.type(rev) ~= "integer" or rev < 0 then error("hashkv: rev must be a revision (an integer >= 0)", 3) end
end

function map.hashkv(endpoint, h)
	return { endpoint = endpoint, hash = int(h.hash), compact_revision = int(h.compact_revision),
		revision = int((h.header or {}).revision) }
end

function Gateway:hashkv(endpoint, rev)
	if type(endpoint) ~= "string" or endpoint == "" then error("hashkv: endpoint must be a client URL", 2) end
	check_rev(rev)
	local doc, msg, code, def = self:post(endpoint, "/v3/maintenance/hashkv", { revision = rev })
	if not doc and tostring(msg):find("Not Found", 1, true) then
		return nil, endpoint .. ": the JSON gateway of etcd 3.4 has no HashKV (3.5 has): use the exec transport",
			"Unsupported", true
	end
	if not doc then return nil, msg, code, def end
	return mapped(map.hashkv, endpoint, doc)
end

-- close(): idempotent; also __close and __gc.
function Gateway:close() self.conn:close() end
Gateway.__close = Gateway.close
Gateway.__gc = Gateway.close
function Gateway:__tostring() return tostring(self.conn) end

local function option_default(value, name)
	if value ~= nil then return value end
	local ok, options = pcall(require, "medic.options")
	return ok and options[name] or nil
end

-- etcd.connect{endpoints={url...}|"url,url", cacert=, cert=, key=, timeout=seconds}
--   -> connection | nil, message, code
-- Missing fields default to --etcd-endpoints, --etcd-cacert, --etcd-cert, --etcd-key. timeout (default 5 s)
-- bounds each request; the snapshot has its own (default 30 minutes).
function etcd.connect(opts)
	opts = opts or {}
	if type(opts) ~= "table" then error("etcd.connect: expected a table of options", 2) end
	local endpoints = option_default(opts.endpoints, "etcd_endpoints")
	if endpoints == nil then
		error("etcd.connect: no endpoints: pass endpoints= or --etcd-endpoints", 2)
	end
	local conn, msg, code = core.connect {
		endpoints = endpoints,
		cacert = option_default(opts.cacert, "etcd_cacert"),
		cert = option_default(opts.cert, "etcd_cert"),
		key = option_default(opts.key, "etcd_key"),
		timeout = opts.timeout,
	}
	if not conn then return nil, msg, code end
	return setmetatable({ conn = conn, endpoints = conn:endpoints(), preferred = 1, transport = "gateway" }, Gateway)
end

---------------------------------------------------------------------------------------------------------
-- Transport 2: etcdctl in a running etcd pod, through the Kubernetes binding's exec (what `oc rsh` does).

local Exec = {}
Exec.__index = Exec

-- Exec failures that mean etcdctl never ran.
local EXEC_DEFINITE = { ConnectFailed = true, TLS = true, NotFound = true, Forbidden = true,
	Unauthorized = true, BadRequest = true, Invalid = true }

local function join(a, b)
	local out = table.move(a, 1, #a, 1, {})
	return table.move(b, 1, #b, #out + 1, out)
end

-- The message etcdctl gave: its last "Error: ..." line, else the last line of stderr.
local function etcdctl_error(stderr, stdout)
	local last, err
	for line in (stderr or ""):gmatch("[^\n]+") do
		last = line
		err = line:match("^Error:%s*(.*)$") or err
	end
	return err or last or (stdout or ""):match("[^\n]+") or "etcdctl failed"
end

-- Runs argv in the pod (for timeout seconds, default 300); returns stdout, stderr, exit_code (0 or, with
-- allow_fail, any) or nil, msg, code, def.
function Exec:run(argv, allow_fail, timeout)
	local r, msg, code = self.kc:exec { namespace = self.namespace, pod = self.pod, container = self.container,
		command = argv, timeout = timeout }
	if not r then return nil, msg, code, EXEC_DEFINITE[code] == true end
	if r.exit_code ~= 0 and not allow_fail then
		local text = etcdctl_error(r.stderr, r.stdout)
		local c, def = core.classify(text)
		local prog = argv[1] == "env" and argv[3] or argv[1]   -- env NAME=VALUE prog ...
		return nil, self.pod .. ": " .. prog .. ": " .. text, c, def
	end
	return r.stdout or "", r.stderr or "", r.exit_code
end

-- etcdctl ARGS in the pod; opts: endpoints={url...} (through the environment: etcdctl refuses an --endpoints flag
-- that shadows the pod's ETCDCTL_ENDPOINTS), timeout= (--command-timeout, default the client's).
function Exec:etcdctl(args, allow_fail, opts)
	local argv, timeout = { "etcdctl" }, opts and opts.timeout or self.timeout
	if opts and opts.endpoints then
		argv = { "env", "ETCDCTL_ENDPOINTS=" .. table.concat(opts.endpoints, ","), "etcdctl" }
	end
	for _, a in ipairs(args) do argv[#argv + 1] = a end
	if timeout then argv[#argv + 1] = ("--command-timeout=%ds"):format(math.ceil(timeout)) end
	return self:run(argv, allow_fail)
end

-- etcdctl ... -w json, decoded (64-bit numbers exact through medic.json).
function Exec:json(args, allow_fail, opts)
	local out, msg, code, def = self:etcdctl(args, allow_fail, opts)
	if not out then return nil, msg, code, def end
	local doc, err = json.decode(out)
	if doc == nil then
		if code ~= 0 and code ~= nil then
			local c, d = core.classify(etcdctl_error(msg, out))
			return nil, self.pod .. ": " .. etcdctl_error(msg, out), c, d
		end
		return nil, self.pod .. ": etcdctl printed no JSON: " .. tostring(err), "BadResponse", false
	end
	return doc, msg
end

-- The methods below keep the Gateway's contracts (arguments, results, codes, definite); only what differs
-- is noted. member_add also takes name= (etcdctl wants one; default "new-member"; etcd ignores it).
function Exec:members()
	local doc, msg, code, def = self:json { "member", "list", "-w", "json" }
	if not doc then return nil, msg, code, def end
	return mapped(map.members, doc)
end

function Exec:member_add(opts)
	local urls = check_peer_urls(type(opts) == "table" and opts.peer_urls or nil)
	-- etcdctl wants a name to print ETCD_INITIAL_CLUSTER; etcd itself learns the name when the member starts.
	local args = { "member", "add", opts.name or "new-member", "--peer-urls=" .. table.concat(urls, ","), "-w", "json" }
	if opts.learner then table.insert(args, 5, "--learner") end
	local doc, msg, code, def = self:json(args)
	if not doc then return nil, msg, code, def end
	local member, err = mapped(map.member, doc.member or {})
	if not member then return nil, err, "BadResponse", false end
	return member, mapped(map.members, doc)
end

local function exec_change(self, method, verb, id)
	local dec, msg, code = check_id(method, id)
	if not dec then return nil, msg, code, true end
	local doc, m, c, d = self:json { "member", verb, core.id_hex(dec), "-w", "json" }
	if not doc then return nil, m, c, d end
	return mapped(map.members, doc)
end

function Exec:member_remove(id) return exec_change(self, "member_remove", "remove", id) end
function Exec:member_promote(id) return exec_change(self, "member_promote", "promote", id) end

-- opts.endpoints: ask these (etcdctl's client may otherwise wait its timeout on a member that is down).
function Exec:alarms(opts)
	local doc, msg, code, def = self:json({ "alarm", "list", "-w", "json" }, false, opts)
	if not doc then return nil, msg, code, def end
	return mapped(map.alarms, doc)
end

-- One `etcdctl endpoint health` (it exits 1 when an endpoint is unhealthy but still prints the JSON list); its
-- entries are added to out.
function Exec:health_into(out, opts)
	local args = { "endpoint", "health", "-w", "json" }
	if opts.cluster then args[#args + 1] = "--cluster" end
	local list, msg, code, def = self:json(args, true, opts)
	if not list then return nil, msg, code, def end
	for _, h in ipairs(list) do
		out[#out + 1] = { endpoint = h.endpoint, healthy = h.health == true, took = map.duration(h.took),
			error = (h.error ~= nil and h.error ~= "") and h.error or nil }
	end
	return out
end

-- brief= endpoints go to an etcdctl of their own with BRIEF_S seconds (etcdctl has one timeout for all).
function Exec:health(opts)
	opts = opts or {}
	local brief, out = brief_set(opts), {}
	if not next(brief) then
		local ok, msg, code, def = self:health_into(out, opts)
		if not ok then return nil, msg, code, def end
		return with_alarms(self, out, opts)
	end
	local all = opts.endpoints
	if not all then
		local members, msg, code, def = self:members()
		if not members then return nil, msg, code, def end
		all = client_urls(members)
	end
	local rest, down = {}, {}
	for _, ep in ipairs(all) do
		table.insert(brief[ep] and down or rest, ep)
	end
	for _, part in ipairs { { endpoints = rest, timeout = opts.timeout }, { endpoints = down, timeout = BRIEF_S } } do
		if #part.endpoints > 0 then
			local ok, msg, code, def = self:health_into(out, part)
			if not ok then return nil, msg, code, def end
		end
	end
	return with_alarms(self, out, opts)
end

-- etcdctl endpoint status leaves out endpoints it cannot reach and names them on stderr.
function Exec:status(opts)
	local args = { "endpoint", "status", "-w", "json" }
	if opts and opts.cluster then args[#args + 1] = "--cluster" end
	local list, stderr, code, def = self:json(args, true)
	if not list then return nil, stderr, code, def end
	local out = {}
	for _, e in ipairs(list) do
		local entry, err = mapped(map.status, e.Endpoint, e.Status or {})
		out[#out + 1] = entry or { endpoint = e.Endpoint, error = err }
	end
	for ep, err in (stderr or ""):gmatch("Failed to get the status of endpoint (%S+) %(([^\n]*)%)") do
		out[#out + 1] = { endpoint = ep, error = err }
	end
	table.sort(out, by_endpoint)
	return out
end

function Exec:count_keys(opts)
	local args = { "get", "", "--prefix", "--keys-only", "--limit=1", "-w", "json" }
	if opts and opts.revision then args[#args + 1] = "--rev=" .. opts.revision end
	local doc, msg, code, def = self:json(args)
	if not doc then return nil, msg, code, def end
	return math.tointeger(tonumber(doc.count or 0))
end

-- snapshot(path [, {endpoints={url...}, timeout=1800}]): `etcdctl snapshot save` in the pod, to a temporary
-- file in the container's /tmp, streamed out to PATH on this machine with `cat` (constant memory; PATH appears,
-- mode 0600, only when the copy is whole), checked as the direct transfer is (bbolt magic, SHA-256 trailer),
-- and removed from the container in every case. endpoints: the members to take it from, tried in order
-- (default: those of the pod's endpoints that answer `endpoint status`). transport is "exec".
-- The snapshot is staged in the container's /tmp (the node's disk, or an emptyDir) before it is copied out: there
-- must be room for the whole database there (dbSize from `endpoint status -w json`, and 10% to spare). Returns
-- true (also when df or the size cannot be read), or nil and why.
function Exec:room_for_snapshot(status_json)
	local doc = json.decode(status_json)
	local size = type(doc) == "table" and doc[1] and doc[1].Status and tonumber(doc[1].Status.dbSize)
	local out = self:run({ "df", "-Pk", "/tmp" }, true)
	local free_kib = type(out) == "string" and tonumber(out:match("\n%S+%s+%d+%s+%d+%s+(%d+)"))
	if not size or not free_kib or free_kib * 1024 >= size * 1.1 then return true end
	return nil, ("%s: no room in /tmp for the snapshot (%d MiB free, the database is %d MiB)"):format(self.pod,
		free_kib // 1024, size // 1048576), "NoSpace", true
end

function Exec:snapshot(path, opts)
	if type(path) ~= "string" or path == "" then error("snapshot: path must be a file name", 2) end
	opts = opts or {}
	local timeout = opts.timeout or 1800
	local candidates, msg, code, def = opts.endpoints, nil, nil, nil
	if not candidates then
		local endpoints
		endpoints, msg, code, def = self:status()
		if not endpoints then return nil, msg, code, def end
		candidates = {}
		for _, e in ipairs(endpoints) do
			if not e.error then candidates[#candidates + 1] = e.endpoint end
		end
		if #candidates == 0 then return nil, self.pod .. ": no etcd endpoint answered", "Unavailable", true end
	end
	local in_pod = ("/tmp/etcd-medic-snapshot-%d-%d.db"):format(os.time(), math.random(1, 1e9))
	local from, ok
	for _, ep in ipairs(candidates) do
		-- (through env: etcdctl refuses an --endpoints flag that shadows the pod's ETCDCTL_ENDPOINTS)
		local env = { "env", "ETCDCTL_ENDPOINTS=" .. ep, "etcdctl" }
		-- etcdctl 3.4's snapshot save waits forever for an endpoint that does not answer: ask it first (5 s at most)
		ok, msg, code, def = self:run(join(env, { "endpoint", "status", "--command-timeout=5s", "-w", "json" }))
		if ok then ok, msg, code, def = self:room_for_snapshot(ok) end
		if ok then ok, msg, code, def = self:run(join(env, { "snapshot", "save", in_pod }), false, timeout) end
		if ok then from = ep break end
	end
	if from then ok, msg, code, def = self:copy_out(in_pod, path, timeout) end
	self:run({ "rm", "-f", in_pod, in_pod .. ".part" }, true)
	if not ok then return nil, msg, code, def end
	local res, m, c = core.check_snapshot(path)
	if not res then
		os.remove(path)
		return nil, self.pod .. ": the copied snapshot is not usable: " .. m, c, true
	end
	res.endpoint, res.path, res.transport = from, path, "exec"
	return res
end

-- Streams a file of the container to path on this machine; true or nil, message, code, definite.
function Exec:copy_out(file, path, timeout)
	local r, msg, code = self.kc:exec { namespace = self.namespace, pod = self.pod, container = self.container,
		command = { "cat", file }, stdout_file = path, timeout = timeout }
	if not r then return nil, msg, code, true end
	if r.exit_code ~= 0 then
		return nil, ("%s: cat %s: %s"):format(self.pod, file, etcdctl_error(r.stderr, "")), "SnapshotFailed", true
	end
	return true
end

-- Maintenance through etcdctl (the Gateway's contracts above). defragment: `etcdctl defrag` of that endpoint,
-- etcdctl's --command-timeout the timeout (the exec is given 30 s more).
function Exec:defragment(endpoint, opts)
	if type(endpoint) ~= "string" or endpoint == "" then error("defragment: endpoint must be a client URL", 2) end
	local timeout = opts and opts.timeout or DEFRAG_TIMEOUT
	local argv = { "env", "ETCDCTL_ENDPOINTS=" .. endpoint, "etcdctl", "defrag",
		("--command-timeout=%ds"):format(math.ceil(timeout)) }
	local t0 = host.now()
	local out, msg, code, def = self:run(argv, false, timeout + 30)
	if not out then return nil, msg, code, def end
	return { endpoint = endpoint, took = host.now() - t0 }
end

function Exec:alarm_disarm()
	local doc, msg, code, def = self:json { "alarm", "disarm", "-w", "json" }
	if not doc then return nil, msg, code, def end
	return mapped(map.alarms, doc)
end

-- move_leader: etcdctl finds the leader among the pod's ETCDCTL_ENDPOINTS (every member's) and asks it.
function Exec:move_leader(id)
	return move_leader(self, id, function(_, _, to) return self:etcdctl { "move-leader", to } end)
end

function Exec:hashkv(endpoint, rev)
	if type(endpoint) ~= "string" or endpoint == "" then error("hashkv: endpoint must be a client URL", 2) end
	check_rev(rev)
	local list, msg, code, def = self:json({ "endpoint", "hashkv", "--rev=" .. rev, "-w", "json" }, false,
		{ endpoints = { endpoint } })
	if not list then return nil, msg, code, def end
	local e = type(list) == "table" and list[1]
	if not e or not e.HashKV then return nil, self.pod .. ": etcdctl printed no hash", "BadResponse", false end
	return mapped(map.hashkv, endpoint, e.HashKV)
end

function Exec.close() end -- nothing to release: every call is an exec of its own in the pod
Exec.__close = Exec.close
function Exec:__tostring()
	return ("etcd via exec (%s/%s, container %s)"):format(self.namespace, self.pod, self.container)
end

-- etcd.via_exec(kc, {namespace=, pod=, container="etcdctl", timeout=}) -> connection-like object
-- kc is a medic.k8s client (anything with kc:exec{namespace=, pod=, container=, command=} returning
-- {stdout=, stderr=, exit_code=}). The pod's ETCDCTL_* environment says which endpoints and certificates
-- etcdctl uses; timeout becomes etcdctl's --command-timeout (its default is 5 s).
function etcd.via_exec(kc, opts)
	if kc == nil or kc.exec == nil then error("etcd.via_exec: the first argument must be a medic.k8s client", 2) end
	opts = opts or {}
	if type(opts.pod) ~= "string" then error("etcd.via_exec: pod= (the etcd pod's name) is required", 2) end
	return setmetatable({
		kc = kc,
		namespace = opts.namespace or option_default(nil, "namespace") or "openshift-etcd",
		pod = opts.pod,
		container = opts.container or "etcdctl",
		timeout = opts.timeout,
		transport = "exec",
	}, Exec)
end

-- Hex <-> decimal for IDs (exact; for scripts that talk to the gateway themselves or print both forms).
function etcd.id_to_decimal(id)
	local dec, msg, code = check_id("id_to_decimal", id)
	return dec, msg, code
end
etcd.id_from_decimal = core.id_hex

-- etcd.check_snapshot(path) -> {size=, sha256=, revision=} | nil, message, "SnapshotFailed"
-- A snapshot file already on disk: bbolt's magic and the SHA-256 trailer `etcdctl snapshot save` appends.
function etcd.check_snapshot(path)
	if type(path) ~= "string" or path == "" then error("etcd.check_snapshot: path must be a file name", 2) end
	local res, msg, code = core.check_snapshot(path)
	return res, msg, code
end

etcd._map = map   -- for the specs
return etcd
