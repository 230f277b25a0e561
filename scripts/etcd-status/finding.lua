-- etcd-medic-api: 2
-- etcd-status's findings: the one shape every finding module returns, how they are ordered, and the exit code they
-- make (docs/etcd-status.md is the contract).
--
--   { code = "MEMBER_UNHEALTHY", severity = "critical"|"warning"|"info", subject = "master-1",
--     summary = "one line", evidence = { key = "string" or number, ... }, next = "etcd-medic run ..." }
local finding = {}

finding.SEVERITIES = { "critical", "warning", "info" }
local RANK = { critical = 1, warning = 2, info = 3 }
local FIELDS = { code = true, severity = true, subject = true, summary = true, evidence = true, next = true }

-- The exit codes of `etcd-medic run etcd-status` (1 "could not check" is the procedure engine's "failed").
finding.EXIT = { healthy = 0, could_not_check = 1, warning = 4, critical = 5 }

-- nil when f has the shape above, else why not.
function finding.problem(f)
	if type(f) ~= "table" then return "a finding is a table, not a " .. type(f) end
	for k in pairs(f) do
		if not FIELDS[k] then return "a finding has no field '" .. tostring(k) .. "'" end
	end
	if type(f.code) ~= "string" or not f.code:match("^[A-Z][A-Z0-9_]*$") then
		return "code must be UPPER_SNAKE, not " .. tostring(f.code)
	end
	if not RANK[f.severity] then return f.code .. ": severity must be critical, warning or info" end
	for _, k in ipairs { "subject", "summary", "next" } do
		if type(f[k]) ~= "string" or f[k] == "" then return f.code .. ": " .. k .. " must be a non-empty string" end
	end
	if type(f.evidence) ~= "table" then return f.code .. ": evidence must be a table" end
	for k, v in pairs(f.evidence) do
		if type(k) ~= "string" or (type(v) ~= "string" and math.type(v) == nil) then
			return f.code .. ": evidence " .. tostring(k) .. " must be a string or a number"
		end
	end
end

-- A finding, checked: raises (naming what is wrong) when the shape is not the contract's.
function finding.new(f)
	local why = finding.problem(f)
	if why then error("finding: " .. why, 2) end
	return f
end

-- Severity first (critical, warning, info), then code, then subject: a stable order for people and diffs.
function finding.sort(list)
	table.sort(list, function(a, b)
		if a.severity ~= b.severity then return RANK[a.severity] < RANK[b.severity] end
		if a.code ~= b.code then return a.code < b.code end
		return a.subject < b.subject
	end)
	return list
end

-- The worst severity in the list, or nil when it is empty.
function finding.worst(list)
	local worst
	for _, f in ipairs(list) do
		if not worst or RANK[f.severity] < RANK[worst] then worst = f.severity end
	end
	return worst
end

-- 5 with a critical finding, 4 with a warning, else 0 (info findings do not count).
function finding.exit_code(list)
	local worst = finding.worst(list)
	return worst == "critical" and finding.EXIT.critical or worst == "warning" and finding.EXIT.warning
		or finding.EXIT.healthy
end

-- Runs every module named in `modules` (required by name, each `check(ctx) -> {findings}`) and returns their
-- findings, checked and sorted. A module that raises, or returns a finding of the wrong shape, is itself a finding
-- (CHECK_FAILED, warning): the report is then incomplete, and says which part is missing.
function finding.collect(modules, ctx)
	local all = {}
	for _, name in ipairs(modules) do
		local ok, result = pcall(function() return require(name).check(ctx) end)
		local why = not ok and tostring(result) or type(result) ~= "table" and "check(ctx) returned no list" or nil
		for _, f in ipairs(ok and type(result) == "table" and result or {}) do
			local bad = finding.problem(f)
			if bad then why = why or bad else all[#all + 1] = f end
		end
		if why then
			all[#all + 1] = { code = "CHECK_FAILED", severity = "warning", subject = name,
				summary = "the " .. name .. " checks could not run: " .. why, evidence = { error = why },
				next = "etcd-medic -v run etcd-status (the debug lines say which request failed)" }
		end
	end
	return finding.sort(all)
end

return finding
