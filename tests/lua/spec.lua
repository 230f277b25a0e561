-- etcd-medic-api: 2
-- A tiny spec helper for tests/lua/*_spec.lua: spec.it(name, fn), assertions, spec.medic(...) to run the
-- binary, spec.done() exits non-zero if anything failed.
local spec = {}
local ran, failures = 0, 0

function spec.it(name, fn)
	ran = ran + 1
	local ok, err = xpcall(fn, debug.traceback)
	if ok then
		print("ok   " .. name)
	else
		failures = failures + 1
		print("FAIL " .. name .. "\n" .. tostring(err))
	end
end

local function show(v)
	return type(v) == "string" and ("%q"):format(v) or tostring(v)
end

function spec.eq(got, want, what)
	if got ~= want or math.type(got) ~= math.type(want) then
		error(("%s: want %s (%s), got %s (%s)"):format(what or "value", show(want), math.type(want) or type(want),
			show(got), math.type(got) or type(got)), 2)
	end
end

function spec.contains(s, part, what)
	if type(s) ~= "string" or not s:find(part, 1, true) then
		error(("%s: %s does not contain %s"):format(what or "text", show(s), show(part)), 2)
	end
end

function spec.lacks(s, part, what)
	if type(s) == "string" and s:find(part, 1, true) then
		error(("%s: %s contains %s"):format(what or "text", show(s), show(part)), 2)
	end
end

function spec.q(s)
	return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- The etcd-medic binary under test: $MEDIC, else the one running this spec.
function spec.binary()
	local bin = os.getenv("MEDIC")
	if not bin then
		local i = -1
		while arg[i - 1] do i = i - 1 end
		bin = arg[i]
	end
	return bin
end

function spec.tmpdir()
	local p = io.popen("mktemp -d /tmp/medic-spec-XXXXXX")
	local dir = p:read("l")
	p:close()
	return dir
end

function spec.write(path, text)
	local f = assert(io.open(path, "w"))
	f:write(text)
	f:close()
end

function spec.read(path)
	local f = io.open(path, "r")
	if not f then return nil end
	local s = f:read("a")
	f:close()
	return s
end

-- spec.medic(args [, stdin [, env]]) -> exit code, stdout, stderr. args: a shell-quoted string.
function spec.medic(args, stdin, env)
	local dir = spec.tmpdir()
	if stdin then spec.write(dir .. "/in", stdin) end
	local cmd = ("%s %s %s <%s >%s/out 2>%s/err"):format(env or "", spec.q(spec.binary()), args,
		stdin and (dir .. "/in") or "/dev/null", dir, dir)
	local _, _, code = os.execute(cmd)
	local out, err = spec.read(dir .. "/out"), spec.read(dir .. "/err")
	os.execute("rm -rf " .. spec.q(dir))
	return code, out, err
end

-- spec.check_ctx(ctx) -> ctx, given what a procedure's check uses of its context: ctx:say (kept in ctx.said) and
-- ctx:stop, which raises as the engine's does (refused: exit 3, else 1).
function spec.check_ctx(ctx)
	ctx.said = ctx.said or {}
	function ctx:say(fmt, ...) self.said[#self.said + 1] = fmt:format(...) end
	function ctx.stop(_, outcome, msg)
		error({ outcome = outcome, exit_code = outcome == "refused" and 3 or 1, message = msg }, 0)
	end
	return ctx
end

-- spec.stopped(want_exit, fn) -> the message of the stop fn must end in, with that exit code.
function spec.stopped(want_exit, fn)
	local ok, err = pcall(fn)
	spec.eq(ok, false, "stopped")
	spec.eq(type(err) == "table" and err.exit_code, want_exit, "exit code " .. want_exit .. " ("
		.. tostring(type(err) == "table" and err.message or err) .. ")")
	return type(err) == "table" and err.message or tostring(err)
end

-- spec.realdata() -> the directory of the captures of real clusters, found by tests/testbed/fidelity.py's one rule
-- ($REALDATA, ../shared/realdata up the tree, the main worktree's, the origin checkout's); an error when missing.
function spec.realdata()
	local p = io.popen("cd tests/testbed && python3 -c 'import fidelity; print(fidelity.realdata_root())' 2>&1")
	local out = p:read("a")
	p:close()
	local root = out:match("^(/[^\n]*)\n$")
	return root or error("no captures of real clusters (REALDATA or ../shared/realdata): " .. out, 2)
end

-- spec.find_realdata(pattern) -> the first capture file whose path matches the find(1) -path pattern, and its text.
function spec.find_realdata(pattern)
	local root = spec.realdata()
	local p = io.popen("find " .. spec.q(root) .. " -path " .. spec.q(pattern) .. " | sort | head -n 1")
	local path = p:read("l")
	p:close()
	return path, assert(path and spec.read(path), "no capture matching " .. pattern .. " under " .. root)
end

-- spec.fail(msg): a failure outside any spec.it (a fixture that could not start, say).
function spec.fail(msg)
	failures = failures + 1
	print("FAIL " .. msg)
end

function spec.done()
	print(("%d ran, %d failed"):format(ran, failures))
	os.exit(failures == 0 and 0 or 1)
end

return spec
