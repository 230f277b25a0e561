-- etcd-medic-api: 2
-- This process, as other runs see it: its pid, its start time and the host's name, read from /proc (a run's
-- identity in the Lease and as a journal's writer). read_line is the one-line file read they share.
local process = {}

-- The first line of a file, or nil when it cannot be read.
function process.read_line(path)
	local f = io.open(path, "r")
	if not f then return nil end
	local line = f:read("l")
	f:close()
	return line
end

local function stat() return process.read_line("/proc/self/stat") or "" end

function process.pid() return tonumber(stat():match("^(%d+)")) end

-- Clock ticks since boot when this process started (field 22 of /proc/self/stat): a pid reused later differs here.
function process.start_ticks() return tonumber(stat():match("%) %S+" .. string.rep(" %S+", 18) .. " (%d+)")) end

function process.hostname() return process.read_line("/proc/sys/kernel/hostname") end

return process
