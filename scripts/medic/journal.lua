-- etcd-medic-api: 2
-- Procedure journal: what cannot be re-read, kept across runs in a store (one interface, two small backends):
--   medic.journal.file        a private (0600) JSON file in the state directory (a laptop, a node)
--   medic.journal.configmap   a ConfigMap in the etcd namespace (a pod: no home directory survives it)
-- A store has journal_name(procedure, key), where(name), load(name) -> text | nil [, message],
-- save(name, text) -> true | nil, message, remove(name), finish(name, stamp) -> where | nil, message, and
-- active(key) -> { {name=, procedure=} ... }.
--
-- A procedure writes here only what it could not observe again after a mutation: the removed member's ID,
-- the previous unsupportedConfigOverrides, the secrets' UIDs, the redeployment reason. Each write reaches the
-- store before it returns. The journal is created lazily, on the first write, so a read-only or dry run leaves
-- nothing behind.
local json = require "medic.json"
local file = require "medic.journal.file"

local journal = {}
journal.__index = journal

-- The file backend's helpers, which other modules use for their own private files (the backup's).
journal.state_dir, journal.ensure_dir, journal.write_private = file.state_dir, file.ensure_dir, file.write_private

-- Format 2 (the declared journal keys of medic.procedure) keeps format 1's layout and keys: a format 1 journal
-- left by an older etcd-medic is read and resumed as it is.
function journal.empty(name)
	return { procedure = name, format = 2, status = "new", steps = {}, data = {} }
end

local function decode(text, where)
	local ok, doc, err = pcall(json.decode, text)
	if not ok then doc, err = nil, doc end
	if type(doc) ~= "table" or type(doc.data) ~= "table" or type(doc.steps) ~= "table" or (doc.format or 1) > 2 then
		return nil, "the journal " .. where .. " is damaged (" .. tostring(err or "not a journal") ..
			"); move it away to start over"
	end
	return doc
end

-- Opens (without creating) the journal `name` of `store` (a store, or a directory: the file store there). An
-- unfinished journal is loaded; a finished one left in place is started afresh. Returns the journal object, or
-- nil, message when it exists but cannot be read as a journal.
function journal.open(store, name)
	if type(store) == "string" then store = file.new(store) end
	local self = setmetatable({ store = store, name = name, path = store:where(name) }, journal)
	local text, err = store:load(name)
	if err then return nil, err end
	self.doc = journal.empty(name)
	if not text then return self end
	local doc, derr = decode(text, self.path)
	if not doc then return nil, derr end
	if doc.status ~= "done" then self.doc, self.existed = doc, true end
	return self
end

-- The unfinished journals of the cluster `key` (any procedure) in `store` (or a directory):
-- { {path=, procedure=, node=, started=} ... }; nil, message when the store cannot be read.
function journal.unfinished(store, key)
	if type(store) == "string" then store = file.new(store) end
	local found, list, err = {}, store:active(key)
	if not list then return nil, err end
	for _, a in ipairs(list) do
		local j = journal.open(store, a.name)
		if j and j:resuming() then
			found[#found + 1] = { path = j.path, procedure = a.procedure, node = j.doc.data.node, started = j.doc.started }
		end
	end
	return found
end

-- True when a previous run left this journal unfinished (resume).
function journal:resuming()
	return self.existed == true and self.doc.status ~= "done"
end

function journal:get(key)
	return self.doc.data[key]
end

local function now()
	return os.date("!%Y-%m-%dT%H:%M:%SZ")
end

function journal:save()
	self.doc.updated = now()
	self.doc.started = self.doc.started or self.doc.updated
	return self.store:save(self.name, json.encode(self.doc))
end

local function must(ok, err)
	if not ok then error({ exit_code = 1, message = "cannot write the journal: " .. tostring(err) }, 0) end
	return ok
end

-- Records key = value and writes the journal before returning; raises if it cannot be written (a mutation
-- must not go ahead when its record cannot be kept).
function journal:set(key, value)
	self.doc.data[key] = value
	if self.doc.status == "new" then self.doc.status = "running" end
	return must(self:save())
end

-- Records a step's progress: "started" (intent, written before acting), then its final status.
function journal:step(name, status)
	self.doc.steps[name] = { status = status, at = now() }
	if self.doc.status == "new" then self.doc.status = "running" end
	return must(self:save())
end

function journal:step_status(name)
	local s = self.doc.steps[name]
	return s and s.status
end

-- Forgets a journal this run created when nothing was changed after all (a refusal in the first step).
function journal:discard()
	if not self.existed then self.store:remove(self.name) end
	self.doc = journal.empty(self.name)
end

-- Keeps the records in memory only (a dry run must leave no trace).
function journal:in_memory()
	self.save = function() return true end
	self.finish = function() return true end
end

-- Marks the run finished and moves the journal aside (NAME.done-TIMESTAMP), so the next incident starts fresh
-- while the record of this one is kept.
function journal:finish(status)
	if not self.existed and self.doc.status == "new" then return true end
	self.doc.status = status or "done"
	must(self:save())
	local done, err = self.store:finish(self.name, os.date("!%Y%m%dT%H%M%SZ"))
	if not done then return nil, err end
	self.done_path = done
	return done
end

return journal
