-- etcd-medic-api: 2
-- The README's site file, run as written: `--dry-run` of replace-crashlooping-member on a fake cluster
-- (tests/lua/fake_cluster.lua) shows the replaced backup step and the changed secret names in its plan, and
-- sends nothing but dry runs.
package.path = "tests/lua/?.lua;" .. package.path
local spec = require "spec"

-- The indented block that starts with "-- site.lua" in README.md, unindented.
local function readme_example()
	local lines, inside = {}, false
	for line in io.lines("README.md") do
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

spec.it("the README's site example is at most 20 lines", function()
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

os.execute("rm -rf " .. spec.q(dir))
spec.done()
