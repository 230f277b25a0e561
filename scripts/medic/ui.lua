-- etcd-medic-api: 2
-- Output for scripts and the REPL: step headers, ok/changed/skipped/failed marks, progress lines, aligned
-- tables, pretty printing.
--
-- Colour and the spinner only on a terminal (never with --no-color or NO_COLOR); plain lines otherwise, so
-- a run piped to a file reads as a log. Everything printed passes host.redact first, so a secret that
-- slips into a message still does not reach the screen.
local host = require "medic.host"

local ui = {}

local stdout, stderr = io.stdout, io.stderr
local NULL = require("medic.json").null

local COLORS = { reset = "\27[0m", bold = "\27[1m", dim = "\27[2m", red = "\27[31m", green = "\27[32m",
	yellow = "\27[33m", blue = "\27[34m", cyan = "\27[36m" }

-- ui.colored(text, color) -> text wrapped in the colour's escape codes when stdout may be coloured.
function ui.colored(text, color)
	if not host.color("stdout") or not COLORS[color] then return text end
	return COLORS[color] .. text .. COLORS.reset
end

-- A line to stdout. When stdout is closed (a `| tee` that a Ctrl-C to the process group ended too), the run goes on:
-- its cleanup must not stop for output nobody reads. Said once on stderr, and the lines that follow go to stderr
-- (the summary and the command that resumes reach the terminal); --log-json keeps the record.
local stdout_closed = false
local function emit(s)
	if stdout_closed then
		stderr:write(host.redact(s), "\n")
		return
	end
	local ok = stdout:write(host.redact(s), "\n") and stdout:flush()
	if not ok then
		stdout_closed = true
		stderr:write("etcd-medic: standard output is closed; the run goes on, its output on stderr (its record: "
			.. "--log-json)\n", host.redact(s), "\n")
		host.log("warn", "output", "standard output is closed; the run goes on")
	end
end

-- ui.say(fmt, ...): a line of the run's output, formatted and redacted.
function ui.say(fmt, ...) emit(string.format(fmt, ...)) end

-- ui.step(title [, index, total]): a step header, "==> [3/9] Remove the unhealthy member".
function ui.step(title, index, total)
	local counter = index and (total and ("[%d/%d] "):format(index, total) or ("[%d] "):format(index)) or ""
	emit(ui.colored("==> " .. counter .. title, "bold"))
	host.log("debug", "step", counter .. title)
end

local MARKS = {
	ok = { "ok", "green" }, changed = { "changed", "yellow" }, skipped = { "skipped", "dim" },
	failed = { "FAILED", "red" }, info = { "info", "blue" }, warn = { "WARNING", "yellow" },
	dry_run = { "dry-run", "cyan" }, refused = { "REFUSED", "red" },
}

-- ui.mark(status, message): "    [changed] message"; status is one of ok, changed, skipped, failed, info,
-- warn, dry_run, refused. ui.ok(msg), ui.changed(msg), ... are the same with the status built in.
function ui.mark(status, message)
	local m = MARKS[status] or { tostring(status), "bold" }
	local label = ("%-9s"):format("[" .. m[1] .. "]")
	local line = "    " .. ui.colored(label, m[2]) .. " " .. tostring(message or "")
	if status == "failed" or status == "refused" or status == "warn" then
		stderr:write(host.redact(line), "\n")
		stderr:flush()
	else
		emit(line)
	end
	host.log("debug", "mark", m[1] .. ": " .. tostring(message or ""))
end
for status in pairs(MARKS) do ui[status] = function(message) ui.mark(status, message) end end

-- ui.confirm(question) -> true if the operator answers y or yes on stdin; false otherwise (also at EOF).
function ui.confirm(question)
	stdout:write(question, " [y/N] ")
	stdout:flush()
	local answer = io.stdin:read("l")
	return answer ~= nil and (answer:lower() == "y" or answer:lower() == "yes")
end

-- {====== progress
local SPIN = { "|", "/", "-", "\\" }
local Progress = {}
Progress.__index = Progress

-- ui.progress(message) -> p; p:update([detail]) redraws one line with a spinner on a terminal (plain lines
-- otherwise, one per change of detail); p:done(status [, message]) ends it with a mark (see ui.mark).
-- p is to-be-closed: `local p <close> = ui.progress("waiting for etcd to stop")` ends the line on errors.
function ui.progress(message)
	local p = setmetatable({ message = message, tty = host.isatty("stdout"), n = 0, start = os.time() }, Progress)
	if not p.tty then emit(message .. " ...") end
	return p
end

function Progress:update(detail)
	self.n = self.n + 1
	local text = self.message .. (detail and (" (" .. tostring(detail) .. ")") or "")
	if self.tty then
		local line = ("%s %s  %ds"):format(SPIN[self.n % #SPIN + 1], text, os.time() - self.start)
		local width = host.width() - 1
		if #line > width then line = line:sub(1, width) end
		stdout:write("\r\27[K", host.redact(line))
		stdout:flush()
	elseif detail ~= nil and detail ~= self.last then
		emit("  " .. text)
	end
	self.last = detail
end

function Progress:done(status, message)
	if self.closed then return end
	self.closed = true
	if self.tty then stdout:write("\r\27[K") end
	ui.mark(status or "ok", message or self.message)
end

function Progress:__close(err)
	if not self.closed then self:done(err and "failed" or "ok") end
end
-- ui.wait(message, check [, {timeout = 300, interval = 1}]) -> the values of check | nil, message, "Timeout".
-- Polls check() until its first result is truthy, with a deadline; check may return false plus a detail
-- ("2 of 3 members healthy") that the progress line shows. Ctrl-C ends the wait (the run is interrupted).
function ui.wait(message, check, opts)
	opts = opts or {}
	local timeout, interval = opts.timeout or 300, opts.interval or 1
	local deadline = host.now() + timeout
	local p <close> = ui.progress(message)
	while true do
		local results = table.pack(check())
		if results[1] then
			p:done("ok", message)
			return table.unpack(results, 1, results.n)
		end
		p:update(results[2])
		local left = deadline - host.now()
		if left <= 0 then
			local why = ("%s: not done after %gs%s"):format(message, timeout,
				results[2] and (" (" .. tostring(results[2]) .. ")") or "")
			p:done("failed", why)
			return nil, why, "Timeout"
		end
		local ok, err, code = host.sleep(math.min(interval, left))
		if not ok then
			p:done("failed", message .. ": " .. err)
			return nil, err, code
		end
	end
end
-- }======

-- {====== tables
local function cell(v)
	if v == nil or v == NULL then return "" end
	if type(v) == "table" then
		local parts = {}
		for i, x in ipairs(v) do
			if i > 8 then parts[#parts + 1] = "..." break end
			parts[#parts + 1] = cell(x)
		end
		if #parts == 0 and next(v) ~= nil then return "{...}" end
		return table.concat(parts, ",")
	end
	return tostring(v)
end

-- Columns of an array of records: the given ones, or every key seen, "id" and "name" first, then sorted.
local function columns_of(rows, columns)
	if columns then return columns end
	local seen, cols = {}, {}
	for _, row in ipairs(rows) do
		for k in pairs(row) do
			if type(k) == "string" and not seen[k] then seen[k] = true cols[#cols + 1] = k end
		end
	end
	local rank = { id = 1, ID = 1, name = 2 }
	table.sort(cols, function(a, b)
		local ra, rb = rank[a] or 3, rank[b] or 3
		if ra ~= rb then return ra < rb end
		return a < b
	end)
	return cols
end

-- ui.table(rows [, columns]) -> string: an array of records as a boxed, aligned table like
-- `etcdctl -w table` (headers upper-cased; columns default to every key, id and name first).
function ui.table(rows, columns)
	local cols = columns_of(rows, columns)
	local width, cells = {}, {}
	for c, name in ipairs(cols) do width[c] = #name end
	for r, row in ipairs(rows) do
		cells[r] = {}
		for c, name in ipairs(cols) do
			cells[r][c] = cell(row[name])
			width[c] = math.max(width[c], utf8.len(cells[r][c]) or #cells[r][c])
		end
	end
	local function line(values, center)
		local out = {}
		for c, v in ipairs(values) do
			local pad = width[c] - (utf8.len(v) or #v)
			local left = center and pad // 2 or 0
			out[c] = " " .. (" "):rep(left) .. v .. (" "):rep(pad - left) .. " "
		end
		return "|" .. table.concat(out, "|") .. "|"
	end
	local rule = {}
	for c in ipairs(cols) do rule[c] = ("-"):rep(width[c] + 2) end
	rule = "+" .. table.concat(rule, "+") .. "+"
	local header = {}
	for c, name in ipairs(cols) do header[c] = name:upper() end
	local out = { rule, line(header, true), rule }
	for r in ipairs(rows) do out[#out + 1] = line(cells[r]) end
	out[#out + 1] = rule
	return table.concat(out, "\n")
end

-- ui.print_table(rows [, columns]): prints ui.table(rows, columns).
function ui.print_table(rows, columns)
	emit(ui.table(rows, columns))
end
-- }======

-- {====== pretty printing (the REPL prints results with ui.print)
local MAX_ITEMS, MAX_DEPTH = 200, 12

local function is_identifier(k)
	return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil
end

local function sorted_keys(t)
	local keys = {}
	for k in pairs(t) do keys[#keys + 1] = k end
	table.sort(keys, function(a, b)
		local ta, tb = type(a), type(b)
		if ta ~= tb then return ta < tb end
		if ta == "number" or ta == "string" then return a < b end
		return tostring(a) < tostring(b)
	end)
	return keys
end

local function is_sequence(t)
	local n = #t
	for k in pairs(t) do
		if math.type(k) ~= "integer" or k < 1 or k > n then return false end
	end
	return true
end

-- An array of at least two records of scalars (or short arrays), sharing keys: shown as a table.
local function is_record_array(t)
	if #t < 2 or not is_sequence(t) then return false end
	for _, row in ipairs(t) do
		if type(row) ~= "table" or #row > 0 or next(row) == nil then return false end
		for k, v in pairs(row) do
			if type(k) ~= "string" then return false end
			if type(v) == "table" then
				for _, x in pairs(v) do if type(x) == "table" then return false end end
			end
		end
	end
	return true
end

local format

-- Values never shown: a Secret's data and stringData (an object with kind "Secret", or metadata, type
-- and data like the items of a SecretList), and credential fields of a kubeconfig.
local SECRET_FIELDS = { token = true, password = true, ["client-key-data"] = true, ["id-token"] = true,
	["refresh-token"] = true, access_token = true }

local function secret_value(t, k)
	if SECRET_FIELDS[k] and type(t[k]) == "string" then return true end
	if k ~= "data" and k ~= "stringData" or type(t[k]) ~= "table" or next(t[k]) == nil then return false end
	return t.kind == "Secret" or (type(t.metadata) == "table" and type(t.type) == "string")
end

local function scalar(v)
	if v == NULL then return "null" end
	if type(v) == "string" then return ("%q"):format(v):gsub("\\\n", "\\n") end
	return tostring(v)
end

local function format_table(t, indent, seen, depth)
	if seen[t] then return "<cycle>" end
	if next(t) == nil then
		local mt = getmetatable(t)
		return (mt and mt.__jsontype == "array") and "[]" or "{}"
	end
	if depth >= MAX_DEPTH then return "{...}" end
	seen[t] = true
	local seq = is_sequence(t)
	local items, flat = {}, true
	for i, k in ipairs(sorted_keys(t)) do
		if i > MAX_ITEMS then items[#items + 1] = ("... (%d more)"):format(#sorted_keys(t) - MAX_ITEMS) break end
		local key = seq and "" or (is_identifier(k) and k .. " = " or "[" .. scalar(k) .. "] = ")
		local text = secret_value(t, k) and '"[REDACTED]"' or format(t[k], indent .. "  ", seen, depth + 1)
		if text:find("\n") then flat = false end
		items[#items + 1] = key .. text
	end
	seen[t] = nil
	local one_line = "{ " .. table.concat(items, ", ") .. " }"
	if flat and #one_line + #indent <= 78 then return one_line end
	return "{\n" .. indent .. "  " .. table.concat(items, ",\n" .. indent .. "  ") .. ",\n" .. indent .. "}"
end

format = function(v, indent, seen, depth)
	if type(v) ~= "table" then return scalar(v) end
	local mt = getmetatable(v)
	if mt and mt.__tostring then return tostring(v) end
	return format_table(v, indent, seen, depth)
end

-- ui.format(v) -> string: v pretty-printed (tables nested and indented, keys sorted, strings quoted, cycles
-- marked; an array of records as an aligned table).
function ui.format(v)
	local mt = type(v) == "table" and getmetatable(v)
	if type(mt) == "table" and mt.__tostring then return tostring(v) end -- a value that knows how it prints
	if type(v) == "table" and is_record_array(v) then return ui.table(v) end
	if type(v) == "string" and v:find("\n") then return v end
	return format(v, "", {}, 0)
end

-- ui.print(...): each value through ui.format, one per line (what the REPL does with results).
function ui.print(...)
	for i = 1, select("#", ...) do emit(ui.format((select(i, ...)))) end
end
-- }======

return ui
