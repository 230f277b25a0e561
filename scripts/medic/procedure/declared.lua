-- etcd-medic-api: 2
-- Declared tables: a procedure names the fields its steps hand on (ctx.state), the keys it keeps in its journal
-- (ctx.journal) and its facts (ctx.facts); reading or writing a name it did not declare raises at once, so a
-- misspelt key is an error and not a silent nil.
local declared = {}

local function undeclared(what, key, names)
	local known = {}
	for k in pairs(names) do known[#known + 1] = tostring(k) end
	table.sort(known)
	error(string.format("%s has no field '%s' (declared: %s)", what, tostring(key), table.concat(known, ", ")), 3)
end

-- A table that holds only the fields in `names` (name -> description); `store` keeps the values.
-- on_set(key, value), if given, runs after each assignment (the journal writes itself there).
function declared.table(what, names, store, on_set)
	store = store or {}
	return setmetatable({}, {
		__index = function(_, k)
			if names[k] == nil then undeclared(what, k, names) end
			return store[k]
		end,
		__newindex = function(_, k, v)
			if names[k] == nil then undeclared(what, k, names) end
			store[k] = v
			if on_set then on_set(k, v) end
		end,
		__pairs = function() return next, store, nil end,
		__name = what,
	})
end

return declared
