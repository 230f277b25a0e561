-- etcd-medic-api: 2
-- Journal storage in the cluster: a ConfigMap etcd-medic-journal-PROCEDURE in the etcd namespace, its
-- data["journal.json"] the journal. What a pod keeps (no home directory survives a pod), and what every run of the
-- cluster finds, wherever it runs. Writes are safe: an update carries the resourceVersion read, and a Conflict is
-- read again: taken over when the last writer was this process (its own write whose answer was lost), refused
-- when another wrote; the text is bounded by the ConfigMap's 1 MiB and must hold nothing the redaction would hide.
-- A finished journal becomes etcd-medic-journal-PROCEDURE-done-STAMP (the newest KEEP_DONE kept per procedure).
local host = require "medic.host"
local json = require "medic.json"
local process = require "medic.process"

local configmap = {}
local Store = {}
Store.__index = Store

configmap.PREFIX = "etcd-medic-journal-"
configmap.KEY = "journal.json"
configmap.MAX_BYTES = 1048576 -- a ConfigMap's data, all values together (core.MaxSecretSize)
configmap.KEEP_DONE = 5
local MANAGED, PROC, STATE, WRITER = "app.kubernetes.io/managed-by", "etcd-medic.openshift.io/journal",
	"etcd-medic.openshift.io/state", "etcd-medic.openshift.io/writer"

-- This process, as the writer of a journal: host, pid and start time (pids are reused, pod names are not).
local function writer_id()
	return string.format("%s/%s/%s", process.hostname() or "?", process.pid() or 0, process.start_ticks() or 0)
end

-- configmap.new(kc, ns) -> a store of journals in namespace ns of kc's cluster.
function configmap.new(kc, ns)
	return setmetatable({ kc = kc, ns = ns, kind = "cluster", objects = {}, writer = writer_id() }, Store)
end

-- One cluster: the ConfigMap's name needs no cluster key.
function Store.journal_name(_, procedure) return configmap.PREFIX .. procedure end

function Store:path(name)
	return "/api/v1/namespaces/" .. self.ns .. "/configmaps" .. (name and ("/" .. name) or "")
end

function Store:where(name) return "configmap " .. self.ns .. "/" .. name end

local function failed(what, name, err) return nil, string.format("cannot %s configmap %s: %s", what, name, err) end

-- The journal's text, or nil when there is none; nil, message when it cannot be read.
function Store:load(name)
	local obj, err, code = self.kc:get(self:path(name))
	if not obj then
		if code == "NotFound" then return nil end
		return failed("read", name, err)
	end
	self.objects[name] = obj
	return (obj.data or {})[configmap.KEY] or ""
end

local function object(self, name, text, state)
	return { apiVersion = "v1", kind = "ConfigMap",
		metadata = { name = name, namespace = self.ns,
			labels = { [MANAGED] = "etcd-medic", [PROC] = name:sub(#configmap.PREFIX + 1):gsub("%-done%-.*$", ""),
				[STATE] = state },
			annotations = { [WRITER] = self.writer } },
		data = { [configmap.KEY] = text } }
end

local function check_text(text)
	if #text > configmap.MAX_BYTES then
		return nil, string.format("the journal is %d bytes, more than a ConfigMap holds (%d)", #text,
			configmap.MAX_BYTES)
	end
	local doc = json.decode(text) -- each record is checked (the journal's own "data" key is what redaction hides)
	for key, value in pairs(doc.data or {}) do
		local one = json.encode { [key] = value }
		if host.redact(one) ~= one then
			return nil, "the journal's " .. key .. " looks like secret data; the journal is not written to the cluster"
		end
	end
	return true
end

-- After a Conflict or AlreadyExists: the object as it is now, when this process wrote it last (ours to update).
local function ours_again(self, name)
	local now = self.kc:get(self:path(name))
	if not now then return nil end
	local writer = ((now.metadata or {}).annotations or {})[WRITER]
	if writer == self.writer then return now end
	return nil, writer or "another writer"
end

local function put(self, name, text, state)
	local want, seen = object(self, name, text, state), self.objects[name]
	for _ = 1, 3 do
		local saved, err, code
		if seen then
			want.metadata.resourceVersion, want.metadata.uid = seen.metadata.resourceVersion, seen.metadata.uid
			saved, err, code = self.kc:update(self:path(name), want)
		else
			saved, err, code = self.kc:create(self:path(), want)
		end
		if saved then self.objects[name] = saved; return true end
		if code == "NotFound" then
			seen = nil
		elseif code == "Conflict" or code == "AlreadyExists" then
			local who
			seen, who = ours_again(self, name)
			if not seen and self.objects[name] then
				return failed("write", name, "another run (" .. tostring(who) .. ") wrote it since this run read it")
			end
		else
			return failed("write", name, err)
		end
	end
	return failed("write", name, "it kept changing")
end

function Store:save(name, text)
	local ok, err = check_text(text)
	if not ok then return nil, err end
	return put(self, name, text, "running")
end

function Store:remove(name)
	local obj = self.objects[name]
	if not obj then return end
	self.kc:delete(self:path(name), { preconditions = { uid = obj.metadata.uid } })
	self.objects[name] = nil
end

-- Keeps the newest KEEP_DONE finished journals of the procedure of `name`; best effort.
local function prune(self, name)
	local list = self.kc:list(self:path(), { labelSelector = PROC .. "=" .. name:sub(#configmap.PREFIX + 1)
		.. "," .. STATE .. "=done" })
	local names = {}
	for _, o in ipairs(list and list.items or {}) do names[#names + 1] = o.metadata.name end
	table.sort(names, function(a, b) return a > b end)
	for i = configmap.KEEP_DONE + 1, #names do self.kc:delete(self:path(names[i])) end
end

-- The finished journal is copied to NAME-done-STAMP and the active one deleted. Returns where it is now.
function Store:finish(name, stamp)
	local done, text = name .. "-done-" .. stamp:lower(), self:load(name)
	if not text then return nil, "the journal " .. name .. " is gone" end
	local made, err = self.kc:create(self:path(), object(self, done, text, "done"))
	if not made then return failed("create", done, err) end
	self:remove(name)
	prune(self, name)
	return self:where(done)
end

-- The active journals in the namespace: { {name=, procedure=} ... } (one cluster: `key` is not needed).
function Store:active()
	local list, err = self.kc:list(self:path(), { labelSelector = MANAGED .. "=etcd-medic," .. STATE .. "=running" })
	if not list then return nil, err end
	local found = {}
	for _, o in ipairs(list.items or {}) do
		found[#found + 1] = { name = o.metadata.name, procedure = (o.metadata.labels or {})[PROC] }
	end
	return found
end

return configmap
