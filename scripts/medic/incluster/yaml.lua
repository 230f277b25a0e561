-- etcd-medic-api: 2
-- Kubernetes objects (plain Lua tables, as medic.json decodes them) written as YAML for `kubectl apply -f -`:
-- keys in a fixed order (apiVersion, kind, metadata first, then sorted), every string quoted as JSON quotes it (a
-- valid YAML scalar, so "true", "0700" or "*" stay strings), empty tables as {} or [] (json.array marks a list).
local json = require "medic.json"

local M = {}

local FIRST = { apiVersion = 1, kind = 2, metadata = 3, name = 4, namespace = 5 }

local ARRAY = getmetatable(json.array {})

-- A sequence (or a table json.array marked, even empty) is a YAML list; anything else a mapping.
local function is_list(t)
	if ARRAY and getmetatable(t) == ARRAY then return true end
	local n = 0
	for _ in pairs(t) do n = n + 1 end
	return n > 0 and n == #t
end

local function key(k)
	return k:match("^[%w][%w%.%-_/]*$") and k or json.encode(k)
end

local function sorted_keys(t)
	local keys = {}
	for k in pairs(t) do keys[#keys + 1] = k end
	table.sort(keys, function(a, b)
		local fa, fb = FIRST[a] or 99, FIRST[b] or 99
		if fa ~= fb then return fa < fb end
		return a < b
	end)
	return keys
end

local function scalar(v)
	if type(v) == "string" then return json.encode(v) end
	return tostring(v)
end

local emit

-- A value after "key:" or "- ": inline when it is a scalar or empty, else on the lines below.
local function value(out, v, indent, lead)
	if type(v) ~= "table" then out[#out + 1] = lead .. " " .. scalar(v); return end
	if next(v) == nil then out[#out + 1] = lead .. (is_list(v) and " []" or " {}"); return end
	out[#out + 1] = lead
	emit(out, v, indent)
end

function emit(out, t, indent)
	local pad = string.rep("  ", indent)
	if is_list(t) then
		for _, v in ipairs(t) do
			if type(v) == "table" and next(v) and not is_list(v) then -- "- key: v" then the rest under it
				local sub = {}
				emit(sub, v, indent + 1)
				sub[1] = pad .. "- " .. sub[1]:sub(#pad + 3)
				for _, l in ipairs(sub) do out[#out + 1] = l end
			else
				value(out, v, indent + 1, pad .. "-")
			end
		end
		return
	end
	for _, k in ipairs(sorted_keys(t)) do value(out, t[k], indent + 1, pad .. key(k) .. ":") end
end

-- M.documents(list) -> the objects as one YAML stream ("---" before each).
function M.documents(list)
	local out = {}
	for _, obj in ipairs(list) do
		out[#out + 1] = "---"
		emit(out, obj, 0)
	end
	return table.concat(out, "\n") .. "\n"
end

return M
