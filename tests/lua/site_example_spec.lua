-- etcd-medic-api: 2
-- The site file of docs/usage.md, run as written: `--dry-run` of replace-crashlooping-member on a fake cluster
-- (tests/lua/fake_cluster.lua) shows the replaced backup step and the changed secret names in its plan, and
-- sends nothing but dry runs.
package.path = "tests/lua/?.lua;" .. package.path
local spec = require "spec"

-- The indented block that starts with "-- site.lua" in docs/usage.md, unindented.
local function readme_example()
	local lines, inside = {}, false
	for line in io.lines("docs/usage.md") do
		if line:match("^    %-%- site%.lua") then inside = true end
		if inside and not line:match("^    ") then break end
		if inside then lines[#lines + 1] = line:sub(5) end
	end
	return table.concat(lines, "\n") .. "\n"
end

local dir = spec.tmpdir()
local example = readme_example()
spec.write(dir .. "/site.lua", example)
spec.write(dir .. "/run.lua", [[
package.path = "tests/lua/?.lua;" .. package.path
local fake = require "fake_cluster"
fake.install()
local script = assert(loadfile("scripts/replace-crashlooping-member.lua"))
local code = script(...)
io.stderr:write("writes: ", #fake.writes, "\n")
return code
]])

spec.it("the site example of docs/usage.md is at most 20 lines", function()
	local n = select(2, example:gsub("\n", ""))
	spec.eq(n > 5 and n <= 20, true, "lines: " .. n)
end)

local code, out, err = spec.medic("run " .. spec.q(dir .. "/run.lua") .. " --dry-run --node master-1 --state-dir "
	.. spec.q(dir .. "/state") .. " --site " .. spec.q(dir .. "/site.lua"))

spec.it("--dry-run with the site file exits 0 and sends no write", function()
	spec.eq(code, 0, "exit code; stderr: " .. tostring(err) .. "\nstdout: " .. tostring(out))
	spec.contains(err, "writes: 0", "writes")
end)

spec.it("the plan shows the site's backup tool instead of a snapshot", function()
	spec.contains(out, "/usr/local/bin/etcd-site-backup master-1   (on this machine)", "plan")
	spec.lacks(out, "etcdctl snapshot save", "plan")
end)

spec.it("the plan deletes the secrets the site's facts name", function()
	spec.contains(out, "oc delete secret -n openshift-etcd etcd-site-client-master-1", "plan")
	spec.contains(out, "oc delete secret -n openshift-etcd etcd-peer-master-1", "plan")
	spec.contains(out, "accepted (dryRun=All): oc delete secret -n openshift-etcd etcd-site-client-master-1",
		"rehearsal")
end)

spec.it("the rest of the plan is the document's", function()
	spec.contains(out, "etcdctl member remove 62bcf33650a7170a", "plan")
	spec.contains(out, "mv /etc/kubernetes/manifests/etcd-pod.yaml /var/lib/etcd-backup/etcd-medic-", "plan")
	spec.contains(out, "oc patch etcd/cluster --type=merge", "plan")
	spec.contains(out, "site: preflight ok", "the after hook")
end)

-- docs/procedures.md's approval pause (the ```lua block with ctx:confirm), on the same fake cluster: it loads, its
-- hook is named before the plan, and a dry run asks nothing (ctx:confirm itself: tests/lua/procedure_spec.lua).
local function confirm_example()
	local text = spec.read("docs/procedures.md")
	for block in text:gmatch("```lua\n(.-)```") do
		if block:find("ctx:confirm", 1, true) then return block end
	end
end
spec.write(dir .. "/approve.lua", assert(confirm_example(), "no ctx:confirm example in docs/procedures.md"))
local acode, aout, aerr = spec.medic("run " .. spec.q(dir .. "/run.lua") .. " --dry-run --node master-1 --state-dir "
	.. spec.q(dir .. "/state") .. " --site " .. spec.q(dir .. "/approve.lua"))

spec.it("docs/procedures.md's ctx:confirm example: named before the plan; the dry run asks nothing", function()
	spec.eq(acode, 0, "exit code; stderr: " .. tostring(aerr) .. "\nstdout: " .. tostring(aout))
	spec.contains(aout, "before: remove-member", "the site line names the hook")
	spec.lacks(aout, "[y/N]", "no question")
end)

os.execute("rm -rf " .. spec.q(dir))
spec.done()
