-- etcd-medic-api: 2
-- The REPL's cluster object on the fake cluster (tests/lua/fake_cluster.lua): what its results print as.
package.path = "tests/lua/?.lua;" .. package.path
local spec = require "spec"
local fake = require "fake_cluster"
fake.install()
local cluster = require("medic.cluster").new {}

spec.it("cluster:health() names each endpoint's member, as etcd-status does", function()
	local health = assert(cluster:health())
	local text = tostring(health)
	spec.contains(text, "https://10.0.0.10:2379 (master-0) is healthy", "a healthy member")
	spec.contains(text, "https://10.0.0.11:2379 (master-1) is unhealthy", "the broken member")
end)

spec.it("cluster:step refuses an unknown step at once, naming the steps", function()
	local ok, msg = cluster:step("bogus")
	spec.eq(ok, nil, "refused")
	spec.contains(msg, "no step 'bogus'", "message")
	spec.contains(msg, "remove-member", "the steps")
end)

spec.it("cluster:node for a node that does not exist is refused at once, no debug pod made", function()
	local before = #fake.writes
	local h, msg, code = cluster:node("no-such-node")
	spec.eq(h, nil, "no handle")
	spec.contains(msg, "no node named no-such-node", "message")
	spec.eq(code, "NotFound", "code")
	spec.eq(#fake.writes, before, "nothing created")
end)

-- etcd-status with a namespace typo: said as such, not as a lost quorum.
spec.it("etcd-status -n with a namespace that does not exist says so, not 'disaster recovery'", function()
	local dir = spec.tmpdir()
	spec.write(dir .. "/run.lua", [[
package.path = "tests/lua/?.lua;" .. package.path
require("fake_cluster").install()
return assert(loadfile("scripts/etcd-status.lua"))(...)
]])
	local _, out, err = spec.medic("run " .. spec.q(dir .. "/run.lua") .. " -n opnshift-etcd --state-dir "
		.. spec.q(dir .. "/state"))
	spec.contains(out, "the namespace opnshift-etcd does not exist; is -n/--namespace right?", "verdict; " .. err)
	spec.lacks(out, "disaster recovery", "verdict")
	os.execute("rm -rf " .. spec.q(dir))
end)

spec.done()
