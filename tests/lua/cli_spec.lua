-- The command line, run as a user would: exit codes, how script arguments arrive, global options,
-- --script-path and script-directory precedence over the embedded copies, eject, scripts, API header check.
local spec = require "spec"
local it, eq, q = spec.it, spec.eq, spec.q
local medic = spec.medic

local dir = spec.tmpdir()

local function script(name, text)
	local path = dir .. "/" .. name
	spec.write(path, text)
	return path
end

it("--version and --help exit 0", function()
	local code, out = medic("--version")
	eq(code, 0)
	spec.contains(out, "etcd-medic ")
	spec.contains(out, "script API 2")
	code, out = medic("--help")
	eq(code, 0)
	spec.contains(out, "run NAME|FILE")
end)

it("usage errors exit 2 with a message on stderr", function()
	for _, args in ipairs { "frobnicate", "--bogus", "run", "-e", "scripts extra", "eject", "eject a b c",
		"--kubeconfig" } do
		local code, out, err = medic(args)
		eq(code, 2, args)
		eq(out, "", args)
		spec.contains(err, "etcd-medic: ", args)
	end
end)

it("failures exit 1 with file and line; refusals with their own code, without a traceback", function()
	local code, _, err = medic("-e " .. q("error('boom')"))
	eq(code, 1)
	spec.contains(err, "(command line):1: boom")
	code, _, err = medic("run " .. q(script("raise.lua", "local x = 1\nerror('bad thing')\n")))
	eq(code, 1)
	spec.contains(err, "raise.lua:2: bad thing")
	code, _, err = medic("-e " .. q("error({exit_code = 3, message = 'refusing: member m2 answers health checks'})"))
	eq(code, 3)
	eq(err, "etcd-medic: refusing: member m2 answers health checks\n")
	code = medic("-e " .. q("error({message = 'no code'})"))
	eq(code, 1)
	code, _, err = medic("run " .. q(script("syntax.lua", "local = 1\n")))
	eq(code, 1)
	spec.contains(err, "syntax.lua:1:")
end)

it("a missing, directory or binary script is a clear error, not a crash", function()
	local code, _, err = medic("run no-such-script")
	eq(code, 2)
	spec.contains(err, "no script named 'no-such-script'")
	code, _, err = medic("run etcd-stats")
	eq(code, 2)
	spec.contains(err, "did you mean 'etcd-status'?")
	code, _, err = medic("run " .. q(dir .. "/missing.lua"))
	eq(code, 1)
	spec.contains(err, "No such file")
	code, _, err = medic("run " .. q(dir .. "/"))
	eq(code, 1)
	spec.contains(err, "directory")
	code, _, err = medic("run " .. q(script("bin.lua", "\27Lua\84\0\25\147\r\n\26\n")))
	eq(code, 1)
	spec.contains(err, "bin.lua")
end)

it("script arguments arrive untouched as ... and in arg", function()
	local path = script("args.lua", [[
local n = select("#", ...)
print(n, table.concat({...}, "|"))
print(arg[0], arg[1], arg[n], #arg)
local o = require "medic.options"
print(o.verbose, o.no_color, o.namespace, o.kubeconfig)
]])
	local code, out, err = medic("-v --no-color -n ns1 --kubeconfig /k run " .. q(path)
		.. " --node m1 --yes --dry-run -v -- x")
	eq(code, 0, err)
	local lines = {}
	for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
	eq(lines[1], "7\t--node|m1|--yes|--dry-run|-v|--|x")
	eq(lines[2], path .. "\t--node\tx\t7")
	eq(lines[3], "true\ttrue\tns1\t/k")
end)

it("global options may also come between the command and the script", function()
	local path = script("opt.lua", "print(require('medic.options').context)\n")
	local code, out = medic("run --context ctx1 " .. q(path) .. " --context not-mine")
	eq(code, 0)
	eq(out, "ctx1\n")
end)

it("-e chunks run in order, before the command", function()
	local code, out = medic("-e " .. q("x = 1") .. " -e " .. q("print(x + 1)"))
	eq(code, 0)
	eq(out, "2\n")
end)

it("a script written for another API version is refused with a clear message", function()
	local path = script("future.lua", "#!/usr/bin/env etcd-medic\n-- etcd-medic-api: 99\nprint('ran')\n")
	local code, out, err = medic("run " .. q(path))
	eq(code, 1)
	eq(out, "")
	spec.contains(err, path)
	spec.contains(err, "API 99")
	spec.contains(err, "provides API 2")
	spec.contains(err, "eject")
	code = medic("run " .. q(script("now.lua", "-- etcd-medic-api: 2\nprint('ran')\n")))
	eq(code, 0)
	local out2, err2
	code, out2, err2 = medic("run " .. q(script("bang.lua",
		"#!/usr/bin/env etcd-medic\n-- etcd-medic-api: 2\nprint('bang')\nerror('line 4')\n")))
	eq(code, 1)
	eq(out2, "bang\n")
	spec.contains(err2, "bang.lua:4: line 4")
end)

it("--script-path and the script's own directory win over the embedded libraries", function()
	os.execute("mkdir -p " .. q(dir .. "/sp/medic") .. " " .. q(dir .. "/own/medic"))
	spec.write(dir .. "/sp/medic/ui.lua", "-- etcd-medic-api: 2\nreturn { from = 'script-path' }\n")
	spec.write(dir .. "/own/medic/ui.lua", "-- etcd-medic-api: 2\nreturn { from = 'own-dir' }\n")
	spec.write(dir .. "/own/main.lua", "print(require('medic.ui').from)\n")
	local code, out = medic("run " .. q(dir .. "/own/main.lua"))
	eq(code, 0)
	eq(out, "own-dir\n")
	code, out = medic("--script-path " .. q(dir .. "/sp") .. " run " .. q(dir .. "/own/main.lua"))
	eq(code, 0)
	eq(out, "script-path\n")
	code, out = medic("-e " .. q("print(type(require('medic.ui').format))"))
	eq(code, 0)
	eq(out, "function\n")
	spec.write(dir .. "/sp/medic/bad.lua", "-- etcd-medic-api: 3\nreturn {}\n")
	local _, _, err = medic("--script-path " .. q(dir .. "/sp") .. " -e " .. q("require 'medic.bad'"))
	spec.contains(err, "API 3")
end)

it("a NAME found in --script-path runs instead of the shipped one", function()
	spec.write(dir .. "/sp/etcd-status.lua", "-- etcd-medic-api: 2\nprint('my etcd-status', ...)\n")
	local code, out = medic("--script-path " .. q(dir .. "/sp") .. " run etcd-status a")
	eq(code, 0)
	eq(out, "my etcd-status\ta\n")
end)

it("scripts lists the shipped scripts with their descriptions", function()
	local code, out = medic("scripts")
	eq(code, 0)
	for name in io.popen("ls scripts"):lines() do
		if name:match("%.lua$") then spec.contains(out, name:sub(1, -5)) end
	end
	spec.lacks(out, "(null)")
	spec.lacks(out, "etcd-medic-api")
end)

it("eject writes the script and its own helpers only; --libraries the libraries too; never overwrites", function()
	local name, first = "replace-crashlooping-member", "scripts/replace-crashlooping-member.lua"
	local out_dir = dir .. "/ejected"
	local code, out, err = medic("eject " .. q(name) .. " " .. q(out_dir))
	eq(code, 0, err)
	spec.contains(out, out_dir .. "/" .. name .. ".lua")
	spec.contains(out, "--libraries", "says how to get the libraries")
	eq(spec.read(out_dir .. "/" .. name .. ".lua"), spec.read(first))
	eq(spec.read(out_dir .. "/" .. name .. "/checks.lua"), spec.read("scripts/" .. name .. "/checks.lua"), "helper")
	eq(spec.read(out_dir .. "/medic/procedure.lua"), nil, "no library without --libraries")
	local lib_dir = dir .. "/ejected-libs"
	code, out, err = medic("eject " .. q(name) .. " " .. q(lib_dir) .. " --libraries")
	eq(code, 0, err)
	spec.contains(out, "take precedence", "says the libraries shadow the built-in ones")
	eq(spec.read(lib_dir .. "/" .. name .. "/progress.lua"), spec.read("scripts/" .. name .. "/progress.lua"), "helper")
	for lib in (spec.read(first)):gmatch("require%s*%(?%s*[\"'](medic%.[%w_.]+)[\"']") do
		local file = "scripts/" .. lib:gsub("%.", "/") .. ".lua"
		if spec.read(file) then eq(spec.read(lib_dir .. "/" .. lib:gsub("%.", "/") .. ".lua"), spec.read(file), lib) end
	end
	spec.write(out_dir .. "/" .. name .. ".lua", "-- edited\n")
	code, out, err = medic("eject " .. q(name) .. " " .. q(out_dir))
	eq(code, 1)
	eq(out, "")
	spec.contains(err, "does not overwrite")
	eq(spec.read(out_dir .. "/" .. name .. ".lua"), "-- edited\n")
	code, out, err = medic("eject no-such-script " .. q(out_dir))
	eq(code, 1)
	eq(out, "")
	spec.contains(err, "no shipped script")
end)

it("an ejected copy edited in place wins, libraries included", function()
	local out_dir = dir .. "/ejected2"
	local code = medic("eject etcd-status " .. q(out_dir) .. " --libraries")
	if code ~= 0 then return end
	spec.write(out_dir .. "/medic/ui.lua", "-- etcd-medic-api: 2\nreturn { edited = true }\n")
	spec.write(out_dir .. "/etcd-status.lua", "-- etcd-medic-api: 2\nprint(require('medic.ui').edited)\n")
	local out
	code, out = medic("run " .. q(out_dir .. "/etcd-status.lua"))
	eq(code, 0)
	eq(out, "true\n")
end)

it("stdin that is not a terminal runs as one chunk", function()
	local code, out = medic("repl", "local x = 1 +\n 2\nprint(x)\n")
	eq(code, 0)
	eq(out, "3\n")
	code, out = medic("", "print(40 + 2)\n")
	eq(code, 0)
	eq(out, "42\n")
	code, out = medic("repl", "1 + 1\n")
	eq(code, 0)
	eq(out, "2\n")
	local err
	code, out, err = medic("repl", "error('x')\n")
	eq(code, 1)
	eq(out, "")
	spec.contains(err, "x")
end)

it("--log-json writes redacted JSON lines to a 0600 file", function()
	local log = dir .. "/audit.log"
	local code = medic("--log-json " .. q(log) .. " -e " .. q([[
local out = require "medic.host"
out.audit("member_remove", "removed m1 with Authorization: Bearer sekrit-token-1", { id = "62bcf33650a7170a" })
out.log("debug", "http", "GET / token=sekrit-token-2")
out.audit("secret", "read", { secret = { kind = "Secret", data = { ["tls.key"] = "sekrit-token-3" } } })
]]))
	eq(code, 0)
	local text = spec.read(log)
	spec.lacks(text, "sekrit-token")
	local json = require "medic.json"
	local n = 0
	for line in text:gmatch("[^\n]+") do
		local rec = assert(json.decode(line))
		assert(rec.time and rec.level and rec.topic and rec.msg, line)
		n = n + 1
	end
	eq(n, 3)
	spec.contains(text, '"fields":{"id":"62bcf33650a7170a"}')
	eq(io.popen("stat -c %a " .. q(log)):read("l"), "600")
end)

it("Ctrl-C (SIGINT) ends a run with 130 after cleanup", function()
	local path = script("spin.lua", [[
local t <close> = setmetatable({}, { __close = function() print("cleaned up") io.stdout:flush() end })
print("started") io.stdout:flush()
while true do end
]])
	local out_file = dir .. "/spin.out"
	local cmd = ("%s run %s >%s 2>&1 & pid=$!; for i in $(seq 100); do grep -q started %s && break; sleep 0.05; done; "
		.. "kill -INT $pid; wait $pid; echo \"rc=$?\" >>%s"):format(q(spec.binary()), q(path), q(out_file), q(out_file),
		q(out_file))
	os.execute("bash -c " .. q(cmd))
	local out = spec.read(out_file)
	spec.contains(out, "cleaned up")
	spec.contains(out, "etcd-medic: interrupted")
	spec.contains(out, "rc=130")
end)

it("a procedure takes -h; a host-only global option after the script's name says where it goes", function()
	local code, out = medic("run replace-crashlooping-member -h")
	eq(code, 0)
	spec.contains(out, "usage: etcd-medic run replace-crashlooping-member")
	local code2, _, err = medic("run replace-crashlooping-member --node m-1 -v")
	eq(code2, 2)
	spec.contains(err, "-v is a global option: put it before `run`")
end)

it("an API server that refuses connections is said as such, in seconds, exit 1 (not missing permissions)", function()
	local kc = dir .. "/refused.kubeconfig"
	spec.write(kc, "apiVersion: v1\nkind: Config\nclusters:\n- cluster: {server: 'https://127.0.0.1:1'}\n  name: c\n"
		.. "contexts:\n- context: {cluster: c, user: u}\n  name: x\ncurrent-context: x\nusers:\n- name: u\n"
		.. "  user: {token: t}\n")
	local started = os.time()
	local code, _, err = medic("run replace-crashlooping-member --kubeconfig " .. q(kc) .. " --node m-1 --yes "
		.. "--state-dir " .. q(dir .. "/state-refused"))
	eq(code, 1)
	spec.contains(err, "cannot reach the API server https://127.0.0.1:1")
	spec.lacks(err, "permissions")
	eq(os.time() - started < 10, true, "said within 10 s")
end)

os.execute("rm -rf " .. q(dir))
spec.done()
