-- etcd-medic-api: 2
-- How a run stops early, in one place. A step (or a check, or an action) that returns has done its part; one that
-- cannot goes on calls ctx:stop(outcome, message) with one of the outcomes below. Any other error raised on the way
-- (a library's, a Lua error) counts as "failed", and Ctrl-C as "interrupted".
-- The error value is { outcome =, exit_code =, message = }: the host turns exit_code into the process's status.
local failure = {}

failure.EXIT = {
	["nothing to do"] = 0, -- the cluster does not need this procedure: the run ends, successfully
	failed = 1, -- something did not work; what was done is kept in the journal and a re-run resumes
	usage = 2, -- the command line or the site file is wrong
	refused = 3, -- a safety check said no; nothing was changed
	interrupted = 130, -- Ctrl-C
}

-- said: the message was printed already, to stdout on a terminal, so the host does not print it again on stderr.
function failure.raise(outcome, message, said)
	local code = failure.EXIT[outcome]
	if not code then error("unknown outcome '" .. tostring(outcome) .. "' (see medic.procedure.failure)", 2) end
	error({ outcome = outcome, exit_code = code, message = message, said = said }, 0)
end

-- Raises err again, marked said when its message has just been printed to stdout on a terminal.
function failure.reraise(err, said)
	if type(err) == "table" then err.said = said end
	error(err, 0)
end

function failure.usage(message) failure.raise("usage", message) end
function failure.refuse(message) failure.raise("refused", message) end
function failure.fail(message) failure.raise("failed", message) end

-- value, or (a nil, message, code return) a "failed" stop that says the message and code.
function failure.check(value, message, code)
	if value == nil then failure.fail(tostring(message) .. (code and (" (" .. code .. ")") or "")) end
	return value
end

function failure.message(err)
	if type(err) == "table" then return tostring(err.message or err.msg or err.code or "error") end
	return tostring(err)
end

function failure.is_interrupt(err)
	local text = type(err) == "table" and (err.code or err.message) or err
	return type(text) == "string" and text:lower():find("interrupt", 1, true) ~= nil
end

-- The outcome of any error value: one of failure.EXIT's names.
function failure.outcome(err)
	if failure.is_interrupt(err) then return "interrupted" end
	if type(err) == "table" and err.outcome then return err.outcome end
	if type(err) == "table" and err.exit_code == 3 then return "refused" end
	if type(err) == "table" and err.exit_code == 2 then return "usage" end
	return "failed"
end

return failure
