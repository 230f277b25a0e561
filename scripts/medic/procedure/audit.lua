-- etcd-medic-api: 2
-- The run's record in --log-json, from which a change ticket can be written: one audit record for the start (who,
-- which cluster, which script and site file, the options), one for the confirmation (and one per question a site
-- file asks with ctx:confirm), one per action (the step, the
-- command line it stands for, its fields: member ID, node, paths, secret uid, patch body, backup file and its
-- SHA-256, and its result), and one for the outcome. host.audit redacts every record (no secret reaches it).
local host = require "medic.host"

local audit = {}

-- An action's fields that are data (its poll and guard functions are left out).
local function data_of(v, depth)
	if type(v) ~= "table" then return type(v) ~= "function" and v or nil end
	if depth > 4 then return "..." end
	local out = {}
	for k, x in pairs(v) do out[k] = data_of(x, depth + 1) end
	return out
end

local function plain(t)
	local out = {}
	for k, v in pairs(t) do out[k] = v end
	return out
end

function audit.start(proc, ctx, where)
	local who = ctx.cluster:k8s():whoami()
	local fields = { procedure = proc.name, user = who and who.username, args = ctx.args, options = plain(ctx.opts) }
	for _, l in ipairs(where) do fields[l[1]:gsub(" ", "_")] = l[2] end
	host.audit("start", proc.name .. " by " .. tostring(fields.user) .. " on " .. tostring(fields.cluster), fields)
end

function audit.confirmed(how)
	host.audit("confirmed", "the plan was confirmed: " .. how, { by = how })
end

-- A site's question (ctx:confirm) and how it was answered: "--yes", "answered yes at the prompt", or no.
function audit.asked(question, answer)
	host.audit("asked", question .. ": " .. answer, { question = question, answer = answer })
end

-- result: "done", or "failed" with the error's message.
function audit.action(step, a, line, result, message)
	host.audit("action", step.name .. ": " .. line, { step = step.name, kind = a.kind, command = line, result = result,
		error = message, fields = data_of(a, 0) })
end

function audit.outcome(proc, outcome, results, message)
	local steps = {}
	for _, step in ipairs(proc.steps) do steps[step.name] = (results[step.name] or {}).status or "not run" end
	host.audit("outcome", proc.name .. ": " .. outcome .. (message and (": " .. message) or ""),
		{ outcome = outcome, steps = steps, message = message })
end

return audit
