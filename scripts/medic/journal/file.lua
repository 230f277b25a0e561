-- etcd-medic-api: 2
-- Journal storage in a file: one private (0600) JSON file per procedure and cluster in the state directory,
-- NAME-CLUSTERID.journal, replaced atomically on each write (a private temporary file, then rename), so a kill -9
-- leaves either the old or the new journal, never half of one; moved aside as NAME-CLUSTERID.done-TIME.journal at
-- the end. The other backend is medic.journal.configmap; medic.journal is the journal over either.
local file = {}
local Store = {}
Store.__index = Store

local function shell_quote(s)
	return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- The state directory: --state-dir, else $XDG_STATE_HOME/etcd-medic, else ~/.local/state/etcd-medic.
function file.state_dir(override)
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
function file.ensure_dir(dir)
	if made[dir] then return true end
	if not shell("umask 077 && mkdir -p -- " .. shell_quote(dir)) then
		return nil, "cannot create the state directory " .. dir
	end
	made[dir] = true
	return true
end

-- Writes data to path atomically with mode 0600. Lua's io cannot choose a file mode, so the empty file is
-- made by a shell with umask 077; opening an existing file for writing keeps its mode.
function file.write_private(path, data)
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

-- file.new(dir) -> a store of journals in dir.
function file.new(dir)
	return setmetatable({ dir = dir, kind = "file" }, Store)
end

local function safe(s) return (tostring(s):gsub("[^%w%.%-_]", "_")) end

-- The journal's name for a procedure and a cluster: several clusters share one directory.
function Store.journal_name(_, procedure, key)
	return procedure .. (key and key ~= "" and ("-" .. safe(key)) or "")
end

function Store:where(name) return self.dir .. "/" .. name .. ".journal" end

-- The journal's text, or nil when there is none.
function Store:load(name)
	local f = io.open(self:where(name), "r")
	if not f then return nil end
	local s = f:read("a")
	f:close()
	return s
end

function Store:save(name, text)
	local ok, err = file.ensure_dir(self.dir)
	if not ok then return nil, err end
	return file.write_private(self:where(name), text)
end

function Store:remove(name) os.remove(self:where(name)) end

-- Moves the finished journal aside (NAME.done-STAMP.journal). Returns where it is now, or nil, message.
function Store:finish(name, stamp)
	local done = self.dir .. "/" .. name .. ".done-" .. stamp .. ".journal"
	local ok, err = os.rename(self:where(name), done)
	if not ok then return nil, err end
	return done
end

-- The names of the active journals of the cluster `key`, each with its procedure: { {name=, procedure=} ... }.
function Store:active(key)
	local found, p = {}, io.popen("ls -1 -- " .. shell_quote(self.dir) .. " 2>/dev/null")
	for entry in p:lines() do
		local proc = entry:match("^(.+)%-" .. safe(key):gsub("%p", "%%%0") .. "%.journal$")
		if proc then found[#found + 1] = { name = entry:gsub("%.journal$", ""), procedure = proc } end
	end
	p:close()
	return found
end

return file
