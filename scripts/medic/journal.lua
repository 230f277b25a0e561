-- etcd-medic-api: 2
-- Procedure journal: a private (0600) JSON file in the state directory keeping what cannot be re-read.
--
-- A procedure writes here only what it could not observe again after a mutation: the removed member's ID,
-- the previous unsupportedConfigOverrides, the secrets' UIDs, the redeployment reason. Each write replaces
-- the whole file atomically (write a private temporary file, then rename), so a kill -9 leaves either the
-- old or the new journal, never half of one. The journal is created lazily, on the first write, so a
-- read-only or dry run leaves nothing behind.
local json = require "medic.json"

local journal = {}
journal.__index = journal

local function shell_quote(s)
	return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- The state directory: --state-dir, else $XDG_STATE_HOME/etcd-medic, else ~/.local/state/etcd-medic.
function journal.state_dir(override)
	if override and override ~= "" then return override end
	local xdg = os.getenv("XDG_STATE_HOME")
	if xdg and xdg ~= "" then return xdg .. "/etcd-medic" end
	local home = os.getenv("HOME")
	if not home or home == "" then return nil, "neither $XDG_STATE_HOME nor $HOME is set; pass --state-dir DIR" end
	return home .. "/.local/state/etcd-medic"
end

-- os.execute(cmd) -> true or false. While the shell runs, this process ignores SIGINT (system() does): a Ctrl-C to
-- the process group reaches only the shell, so the shell killed by it is this run's interrupt (exit 130), never a
-- file that cannot be made, and never lost (a run that went on to the end after a Ctrl-C).
local function shell(cmd)
	local ok, how, code = os.execute(cmd)
	if not ok and how == "signal" and (code == 2 or code == 15) then
		error({ outcome = "interrupted", exit_code = 130, message = "interrupted" }, 0)
	end
	return ok == true
end

-- Creates dir (and parents) private to the user, once per process. Returns true or nil, message.
local made = {}
function journal.ensure_dir(dir)
	if made[dir] then return true end
	if not shell("umask 077 && mkdir -p -- " .. shell_quote(dir)) then
		return nil, "cannot create the state directory " .. dir
	end
	made[dir] = true
	return true
end

-- Writes data to path atomically with mode 0600. Lua's io cannot choose a file mode, so the empty file is
-- made by a shell with umask 077; opening an existing file for writing keeps its mode.
function journal.write_private(path, data)
	local tmp = path .. ".tmp"
	os.remove(tmp)
	if not shell("umask 077 && : > " .. shell_quote(tmp)) then
		return nil, "cannot create " .. tmp
	end
	local f, err = io.open(tmp, "w")
	if not f then return nil, err end
	local ok, werr = f:write(data)
	f:close()
	if not ok then os.remove(tmp); return nil, werr end
	local renamed, rerr = os.rename(tmp, path)
	if not renamed then os.remove(tmp); return nil, rerr end
	return true
end

local function read_file(path)
	local f = io.open(path, "r")
	if not f then return nil end
	local s = f:read("a")
	f:close()
	return s
end

-- Format 2 (the declared journal keys of medic.procedure) keeps format 1's layout and keys: a format 1 journal
-- left by an older etcd-medic is read and resumed as it is.
function journal.empty(name)
	return { procedure = name, format = 2, status = "new", steps = {}, data = {} }
end

-- Opens (without creating) the journal of `name` in `dir`. An existing, unfinished journal is loaded.
-- Returns the journal object, or nil, message when the file exists but cannot be read as a journal.
function journal.open(dir, name)
	local self = setmetatable({ dir = dir, name = name, path = dir .. "/" .. name .. ".journal" }, journal)
	local text = read_file(self.path)
	if not text then
		self.doc = journal.empty(name)
		return self
	end
	local ok, doc, err = pcall(json.decode, text)
	if not ok then doc, err = nil, doc end
	if type(doc) ~= "table" or type(doc.data) ~= "table" or type(doc.steps) ~= "table" or (doc.format or 1) > 2 then
		return nil, "the journal " .. self.path .. " is damaged (" .. tostring(err or "not a journal") ..
			"); move it away to start over"
	end
	self.doc, self.existed = doc, true
	return self
end

-- The unfinished journals in dir of the cluster `key` (any procedure): { {path=, procedure=, node=, started=} ... }.
function journal.unfinished(dir, key)
	local found, p = {}, io.popen("ls -1 -- " .. shell_quote(dir) .. " 2>/dev/null")
	for name in p:lines() do
		local proc = name:match("^(.+)%-" .. key:gsub("[^%w%.%-_]", "_"):gsub("%p", "%%%0") .. "%.journal$")
		local j = proc and journal.open(dir, name:gsub("%.journal$", ""))
		if j and j:resuming() then
			found[#found + 1] = { path = j.path, procedure = proc, node = j.doc.data.node, started = j.doc.started }
		end
	end
	p:close()
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
	local ok, err = journal.ensure_dir(self.dir)
	if not ok then return nil, err end
	self.doc.updated = now()
	self.doc.started = self.doc.started or self.doc.updated
	return journal.write_private(self.path, json.encode(self.doc))
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
	if not self.existed then os.remove(self.path) end
	self.doc = journal.empty(self.name)
end

-- Keeps the records in memory only (a dry run must leave no trace).
function journal:in_memory()
	self.save = function() return true end
	self.finish = function() return true end
end

-- Marks the run finished and moves the file aside (NAME.done-TIMESTAMP.journal), so the next incident
-- starts fresh while the record of this one is kept.
function journal:finish(status)
	if not self.existed and self.doc.status == "new" then return true end
	self.doc.status = status or "done"
	must(self:save())
	local done = self.dir .. "/" .. self.name .. ".done-" .. os.date("!%Y%m%dT%H%M%SZ") .. ".journal"
	local ok, err = os.rename(self.path, done)
	if not ok then return nil, err end
	self.done_path = done
	return done
end

return journal
