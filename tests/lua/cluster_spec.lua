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

spec.done()
