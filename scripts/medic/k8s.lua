-- etcd-medic-api: 2
-- medic.k8s: the Kubernetes/OpenShift API for scripts and the REPL.
--
--   local k8s = require "medic.k8s"
--   local kc = assert(k8s.connect{})            -- --kubeconfig/--context, $KUBECONFIG, ~/.kube/config, in-cluster
--   local pods = assert(kc:list("/api/v1/namespaces/openshift-etcd/pods", {labelSelector = "app=etcd"}))
--   local r = assert(kc:exec{namespace = "openshift-etcd", pod = "etcd-a", container = "etcdctl",
--                            command = {"etcdctl", "member", "list", "-w", "json"}})
--   print(r.exit_code, r.stdout, r.stderr)
--
-- Every method returns its result, or nil, message, code, status on an expected failure. code is the
-- Kubernetes Status reason ("NotFound", "Conflict", "Forbidden", "Unauthorized", "AlreadyExists",
-- "Invalid", "Expired", "TooManyRequests", "InternalError", ...) or a transport code ("ConnectFailed",
-- "TLS", "Timeout", "ConnectionLost", "TooLarge", "Interrupted", "InvalidConfig"); status is the decoded Status
-- object (with .code, the HTTP status) when the server sent one. Misuse (wrong argument types) raises.
--
-- Retries follow client-go: a 429 or 5xx that carries Retry-After is retried after that many seconds (any
-- method: the server says it did not act); a connection failure is retried for reads (GET) only, and for
-- writes only when nothing was sent (ConnectFailed). A write that may have been applied is never resent:
-- the caller gets the error and re-reads.

local core = require "medic.k8s.core"
local host = require "medic.host"
local json = require "medic.json"
local options = require "medic.options"

local k8s = {}
local Client = {}
Client.__index = Client

local DEFAULTS = {
	retries = 10,          -- attempts after the first, for retryable failures
	max_retry_wait = 30,   -- seconds: a longer Retry-After is capped
	list_limit = 500,      -- page size for list
	watch_timeout = 300,   -- seconds: how long watch runs before it returns "Timeout"
}

-- The Status reason for an HTTP status without a Status body (a proxy, APF's plain-text 429).
local REASON_BY_HTTP = {
	[400] = "BadRequest", [401] = "Unauthorized", [403] = "Forbidden", [404] = "NotFound",
	[405] = "MethodNotAllowed", [406] = "NotAcceptable", [409] = "Conflict", [410] = "Expired",
	[413] = "RequestEntityTooLarge", [415] = "UnsupportedMediaType", [422] = "Invalid",
	[429] = "TooManyRequests", [500] = "InternalError", [503] = "ServiceUnavailable", [504] = "Timeout",
}

local PATCH_TYPES = {
	merge = "application/merge-patch+json",
	json = "application/json-patch+json",
	strategic = "application/strategic-merge-patch+json",
	apply = "application/apply-patch+yaml",
}

local function log(level, fmt, ...) host.log(level, "k8s", fmt:format(...)) end

-- k8s.connect{kubeconfig=, context=, namespace=, timeout=, connect_timeout=, max_body=, retries=,
--             max_retry_wait=, in_cluster=true} -> client | nil, message, "InvalidConfig"
-- Defaults come from the command line (require "medic.options"), then $KUBECONFIG, ~/.kube/config and
-- the in-cluster service account. namespace defaults to -n, then the context's namespace.
function k8s.connect(opts)
	opts = opts or {}
	if type(opts) ~= "table" then error("k8s.connect: expected a table of options", 2) end
	local c, msg, code = core.connect {
		kubeconfig = opts.kubeconfig or options.kubeconfig,
		context = opts.context or options.context,
		kubeconfig_env = os.getenv("KUBECONFIG"),
		home = os.getenv("HOME"),
		in_cluster = opts.in_cluster ~= false,
		timeout = opts.timeout, connect_timeout = opts.connect_timeout, max_body = opts.max_body,
	}
	if not c then return nil, msg, code end
	local info = c:info()
	local self = setmetatable({ core = c, info_ = info }, Client)
	self.namespace = opts.namespace or options.namespace or info.namespace or "default"
	for k, v in pairs(DEFAULTS) do self[k] = opts[k] or v end
	return self
end

-- kc:info() -> {server=, context=, cluster=, user=, namespace=, source=, auth=}: no secrets.
function Client:info()
	local t = {}
	for k, v in pairs(self.info_) do t[k] = v end
	t.namespace = self.namespace
	return t
end

-- kc:close(): idempotent; also on garbage collection and at the end of a <close> variable's scope.
function Client:close()
	if self.core then self.core:close() end
end
Client.__close = Client.close
Client.__gc = Client.close
function Client:__tostring() return "k8s client " .. tostring(self.info_.server) end

-- Turns an error response into message, code, status.
local function status_error(status, body, method, path)
	local obj = body ~= "" and json.decode(body) or nil
	if type(obj) == "table" and obj.kind == "Status" then
		obj.code = obj.code or status
		return obj.message or ("HTTP " .. status), obj.reason or REASON_BY_HTTP[status] or "HTTPError", obj
	end
	local text = body:sub(1, 200):gsub("%s+$", "")
	local reason = REASON_BY_HTTP[status] or (status >= 500 and "InternalError") or "HTTPError"
	return ("%s %s: HTTP %d%s"):format(method, path, status, text ~= "" and (": " .. text) or ""),
		reason, { kind = "Status", code = status, reason = reason, message = text }
end

local function is_json(info, body)
	local ct = info.content_type or ""
	return ct:find("json", 1, true) ~= nil or (ct == "" and body:match("^%s*[%[{]") ~= nil)
end

-- (a read that timed out is not repeated: at 3 a.m. a slow API server should be reported, not waited on 10 times)
local READ_RETRY = { ConnectFailed = true, ConnectionLost = true }
local WRITE_RETRY = { ConnectFailed = true }

-- A change sent to the server (not a GET): Ctrl-C waits for its answer (host.held), since a request cut short may
-- still land after the cleanup has looked (a quorum guard opened after it was seen closed); a second Ctrl-C kills.
local function held_raw(conn, args)
	return host.held(conn.raw, conn, args)
end

-- kc:request{method="GET", path=, query={...}, body=TABLE|STRING, content_type=, accept=, timeout=,
--            on_data=FUNCTION, retries=N}
-- -> decoded JSON (a table), or the text of a non-JSON body, or true for an empty one
--  | nil, message, code, status
function Client:request(req)
	if type(req) ~= "table" or type(req.path) ~= "string" then error("kc:request: expects {path=...}", 2) end
	local method = (req.method or "GET"):upper()
	local body = req.body
	if type(body) == "table" then
		local err
		body, err = json.encode(body)
		if not body then error("kc:request: body is not JSON-encodable: " .. tostring(err), 2) end
	end
	local reading = method == "GET" or method == "HEAD"
	local retries = req.retries or self.retries
	local send = reading and self.core.raw or held_raw
	for attempt = 0, retries do
		local status, text, info = send(self.core, {
			method = method, path = req.path, query = req.query, body = body, timeout = req.timeout,
			content_type = req.content_type, accept = req.accept, on_data = req.on_data,
		})
		local wait, msg, code, st
		if not status then
			msg, code = text, info
			if (reading and READ_RETRY[code]) or WRITE_RETRY[code] then wait = 1 end
		elseif status >= 200 and status < 300 then
			if req.on_data or text == "" then return true, info end
			if not is_json(info, text) then return text, info end
			local obj, err = json.decode(text)
			if obj == nil then
				return nil, ("%s %s: bad JSON in the response: %s"):format(method, req.path, err), "BadResponse"
			end
			return obj, info
		else
			msg, code, st = status_error(status, text, method, req.path)
			if (status == 429 or status >= 500) and info.retry_after then wait = info.retry_after end
		end
		if not wait or attempt == retries then return nil, msg, code, st end
		wait = math.min(wait, self.max_retry_wait)
		-- said without -v too: a silence of minutes at 3 a.m. reads as a hang
		log("warn", "%s %s: %s; retrying in %ds (%d/%d)", method, req.path, code, wait, attempt + 1, retries)
		local ok, imsg, icode = host.sleep(wait)
		if not ok then return nil, imsg, icode end
	end
end

local function with_dry_run(query, opts)
	if opts and opts.dryRun then
		query = query or {}
		query.dryRun = "All"
	end
	return query
end

-- kc:get(path, {query...}) -> object | nil, message, code, status
function Client:get(path, query)
	return self:request { path = path, query = query }
end

-- kc:list(path, {labelSelector=, fieldSelector=, limit=}) -> the List object with every page's items
function Client:list(path, opts)
	opts = opts or {}
	local query = { labelSelector = opts.labelSelector, fieldSelector = opts.fieldSelector,
		limit = opts.limit or self.list_limit, resourceVersion = opts.resourceVersion }
	local list, items = nil, {}
	for _ = 1, 100000 do
		local page, msg, code, st = self:request { path = path, query = query }
		if not page then
			if code == "Expired" and query.continue then
				-- the continue token expired: start again without paging, as client-go's pager does
				log("info", "list %s: continue token expired, listing in one page", path)
				query.continue, query.limit, items = nil, nil, {}
			else
				return nil, msg, code, st
			end
		else
			list = page
			for _, item in ipairs(type(page.items) == "table" and page.items or {}) do items[#items + 1] = item end
			local cont = page.metadata and page.metadata["continue"]
			if type(cont) ~= "string" or cont == "" then break end
			query.continue = cont
		end
	end
	list.items = json.array(items)
	if list.metadata then list.metadata["continue"] = nil end
	return list
end

-- kc:create(path, object, {dryRun=true}) -> the created object
function Client:create(path, obj, opts)
	return self:request { method = "POST", path = path, body = obj, query = with_dry_run(nil, opts) }
end

-- kc:update(path, object, {dryRun=true}) -> the stored object (PUT; needs metadata.resourceVersion)
function Client:update(path, obj, opts)
	return self:request { method = "PUT", path = path, body = obj, query = with_dry_run(nil, opts) }
end

-- kc:delete(path, {preconditions={uid=, resourceVersion=}, propagationPolicy=, gracePeriodSeconds=,
--                  dryRun=true}) -> the deleted object or a Status
function Client:delete(path, opts)
	opts = opts or {}
	local body = { kind = "DeleteOptions", apiVersion = "v1", preconditions = opts.preconditions,
		propagationPolicy = opts.propagationPolicy, gracePeriodSeconds = opts.gracePeriodSeconds,
		dryRun = opts.dryRun and json.array { "All" } or nil }
	return self:request { method = "DELETE", path = path, body = body }
end

-- kc:patch(path, body, "merge"|"json"|"strategic"|"apply", {dryRun=true, fieldManager=}) -> the object
function Client:patch(path, body, kind, opts)
	local ctype = PATCH_TYPES[kind or "merge"]
	if not ctype then error("kc:patch: patch type must be merge, json, strategic or apply", 2) end
	local query = with_dry_run(opts and opts.fieldManager and { fieldManager = opts.fieldManager } or nil, opts)
	return self:request { method = "PATCH", path = path, body = body, content_type = ctype, query = query }
end

-- Interprets the channel-3 Status of an exec: 0 on Success, the ExitCode cause on NonZeroExitCode.
function k8s.exit_code(status_text)
	if not status_text then return nil, "exec: the stream ended without an exit status", "ConnectionLost" end
	local st, err = json.decode(status_text)
	if type(st) ~= "table" then return nil, "exec: bad status on channel 3: " .. tostring(err), "BadResponse" end
	if st.status == "Success" then return 0 end
	if st.reason == "NonZeroExitCode" then
		for _, cause in ipairs(st.details and st.details.causes or {}) do
			local n = cause.reason == "ExitCode" and math.tointeger(tonumber(cause.message))
			if n then return n end
		end
	end
	return nil, "exec: " .. tostring(st.message or "the command failed"), st.reason or "ExecFailed", st
end

-- kc:exec{namespace=kc.namespace, pod=, container=, command={argv...}, stdin=STRING, timeout=300, stdout_file=PATH}
-- -> {stdout=, stderr=, exit_code=, protocol=} | nil, message, code, status
-- A non-zero exit is a result, not an error. stdin is closed after it is sent (v5); on a v4-only server
-- it cannot be closed, so a command that reads stdin to its end runs until the timeout.
-- stdout_file: stdout is streamed to PATH (mode 0600, any size, constant memory) instead of stdout=; the
-- file appears, atomically, only when the command exits 0; the result then has stdout_bytes=.
function Client:exec(opts)
	if type(opts) ~= "table" or type(opts.command) ~= "table" then error("kc:exec: expects {pod=, command={...}}", 2) end
	local r, msg, code, refused
	for attempt = 0, self.retries do
		r, msg, code, refused = self.core:exec {
			namespace = opts.namespace or self.namespace, pod = opts.pod, container = opts.container,
			command = opts.command, stdin = opts.stdin, timeout = opts.timeout, max_output = opts.max_output,
			stdout_file = opts.stdout_file,
		}
		if r then break end
		if not (refused and refused.status and refused.status > 0) then return nil, msg, code end
		-- A refused upgrade: the command did not run, so a 429/5xx with retryAfterSeconds is retried as request does.
		local m, c, st = status_error(refused.status, refused.body, "exec", opts.pod)
		local wait = (refused.status == 429 or refused.status >= 500) and type(st.details) == "table"
			and math.tointeger(st.details.retryAfterSeconds)
		if not wait or attempt == self.retries then return nil, m, c, st end
		wait = math.min(math.max(wait, 1), self.max_retry_wait)
		log("info", "exec %s: %s; retrying in %ds (%d/%d)", tostring(opts.pod), c, wait, attempt + 1, self.retries)
		local ok, imsg, icode = host.sleep(wait)
		if not ok then return nil, imsg, icode end
	end
	local rc, emsg, ecode, st = k8s.exit_code(r.status)
	if r.stdout_temp and rc == 0 then
		local ok, rmsg = os.rename(r.stdout_temp, opts.stdout_file)
		if not ok then rc, emsg, ecode = nil, "exec: " .. tostring(rmsg), "IOError" end
	end
	if r.stdout_temp and rc ~= 0 then os.remove(r.stdout_temp) end
	if not rc then return nil, emsg, ecode, st end
	return { stdout = r.stdout, stdout_bytes = r.stdout_bytes, stderr = r.stderr, exit_code = rc, protocol = r.protocol }
end

-- kc:can_i{verb=, resource=, group="", subresource=, name=, namespace=kc.namespace (false: cluster-wide)}
-- -> allowed (boolean), reason | nil, message, code, status
function Client:can_i(attrs)
	if type(attrs) ~= "table" or not attrs.verb then error("kc:can_i: expects {verb=, resource=, ...}", 2) end
	local ra = { verb = attrs.verb, resource = attrs.resource, group = attrs.group or "",
		subresource = attrs.subresource, name = attrs.name, version = attrs.version }
	if attrs.namespace ~= false then ra.namespace = attrs.namespace or self.namespace end
	local r, msg, code, st = self:create("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
		{ apiVersion = "authorization.k8s.io/v1", kind = "SelfSubjectAccessReview", spec = { resourceAttributes = ra } })
	if not r then return nil, msg, code, st end
	local s = r.status or {}
	return s.allowed == true, s.reason or s.evaluationError
end

-- kc:whoami() -> {username=, uid=, groups={...}} | nil, message, code, status
-- SelfSubjectReview (v1, v1beta1, v1alpha1), then OpenShift's users/~.
function Client:whoami()
	local msg, code, st
	for _, v in ipairs { "v1", "v1beta1", "v1alpha1" } do
		local r
		r, msg, code, st = self:create("/apis/authentication.k8s.io/" .. v .. "/selfsubjectreviews",
			{ apiVersion = "authentication.k8s.io/" .. v, kind = "SelfSubjectReview" })
		if r then
			local u = r.status and r.status.userInfo or {}
			return { username = u.username, uid = u.uid, groups = u.groups or {}, extra = u.extra }
		end
		if code ~= "NotFound" and code ~= "MethodNotAllowed" then return nil, msg, code, st end
	end
	local u
	u, msg, code, st = self:get("/apis/user.openshift.io/v1/users/~")
	if not u then return nil, msg, code, st end
	return { username = u.metadata and u.metadata.name, uid = u.metadata and u.metadata.uid, groups = u.groups or {} }
end

local WATCH_RESUME = { ConnectFailed = true, ConnectionLost = true, Timeout = true, TooManyRequests = true,
	InternalError = true, ServiceUnavailable = true }
local MAX_EVENT = 16 * 1024 * 1024

-- Splits a watch stream into events for handle(event) (which returns false to stop the stream).
local function event_reader(handle)
	local buf = ""
	return function(chunk)
		buf = buf .. chunk
		while true do
			local nl = buf:find("\n", 1, true)
			if not nl then break end
			local line = buf:sub(1, nl - 1)
			buf = buf:sub(nl + 1)
			if line:find("%S") and handle(line) == false then return false end
		end
		if #buf > MAX_EVENT then return handle(nil) end
	end
end

-- kc:watch(path, {labelSelector=, fieldSelector=, resourceVersion=, timeout=300}, fn) -> true | nil, msg, code, status
-- Calls fn{type="ADDED"|"MODIFIED"|"DELETED", object=} per event (bookmarks are not passed on); fn
-- returns false to stop, and watch then returns true. A dropped or ended stream is resumed from the
-- last resourceVersion seen; when that is too old (410 Expired), watch lists again, hands every current
-- object to fn as "ADDED" and goes on from the list's resourceVersion (deletions in the gap are not
-- seen). After timeout seconds it returns nil, "...", "Timeout".
function Client:watch(path, opts, fn)
	if type(path) ~= "string" or type(fn) ~= "function" then error("kc:watch: expects (path, opts, fn)", 2) end
	opts = opts or {}
	local deadline = host.now() + (opts.timeout or self.watch_timeout)
	local rv, stopped, failure = opts.resourceVersion, false, nil
	local failures = 0
	local expired, progress -- per stream: set at the top of the loop below, by handle() during the stream

	local function deliver(ev)
		if fn(ev) == false then stopped = true end
		return not stopped
	end
	local function handle(line)
		local ev = line and json.decode(line)
		if type(ev) ~= "table" or type(ev.type) ~= "string" then
			failure = { "watch " .. path .. ": bad event in the stream", line and "BadResponse" or "TooLarge" }
			return false
		end
		local obj = type(ev.object) == "table" and ev.object or {}
		if ev.type == "ERROR" then
			if obj.code == 410 or obj.reason == "Expired" or obj.reason == "Gone" then expired = true
			else failure = { obj.message or "watch error", obj.reason or "WatchError", obj } end
			return false
		end
		rv = obj.metadata and obj.metadata.resourceVersion or rv
		progress = true
		return ev.type == "BOOKMARK" or deliver(ev)
	end
	local function relist()
		local list, msg, code, st = self:list(path, opts)
		if not list then return nil, msg, code, st end
		rv = list.metadata and list.metadata.resourceVersion
		for _, item in ipairs(list.items) do
			if not deliver { type = "ADDED", object = item } then break end
		end
		return true
	end

	for _ = 1, 1000000 do
		local left = deadline - host.now()
		if left <= 0 then return nil, "watch " .. path .. ": timed out", "Timeout" end
		expired, progress = false, false
		local ok, msg, code, st = self:request { path = path, retries = 0, timeout = left + 5,
			query = { watch = "true", allowWatchBookmarks = "true", resourceVersion = rv,
				timeoutSeconds = math.max(1, math.floor(left)),
				labelSelector = opts.labelSelector, fieldSelector = opts.fieldSelector },
			on_data = event_reader(handle) }
		if stopped then return true end
		if failure then return nil, failure[1], failure[2], failure[3] end
		if expired or code == "Expired" or code == "Gone" then
			log("info", "watch %s: resourceVersion %s is too old; listing again", path, tostring(rv))
			local r, m, c, s = relist()
			if not r then return nil, m, c, s end
			if stopped then return true end
		elseif not ok and WATCH_RESUME[code] and deadline - host.now() > 0 then
			failures = progress and 1 or failures + 1 -- only failures in a row count
			if failures > self.retries then return nil, msg, code, st end
			log("info", "watch %s: %s; resuming from resourceVersion %s", path, code, tostring(rv))
			host.sleep(math.min(failures, 5))
		elseif not ok and code ~= "Timeout" then
			return nil, msg, code, st
		else
			failures = 0 -- the server ended the stream (timeoutSeconds): go on from rv
		end
	end
end

return k8s
