-- bench: the cost of one operation inside a running script (connection reused), N times each (default 200).
-- Prints "etcd_member_list MS" and "k8s_get MS": the median milliseconds per operation.
local etcd = require "medic.etcd"
local host = require "medic.host"
local n = tonumber(arg[1] or 200)
local function median(t) table.sort(t) return t[(#t + 1) // 2] end
local function timed(name, fn)
	fn()   -- warm: connect, handshake
	local t = {}
	for i = 1, n do
		local t0 = host.now()
		fn()
		t[i] = (host.now() - t0) * 1000
	end
	print(string.format("%s %.3f", name, median(t)))
end
local eps = {}
for e in (os.getenv("ETCDCTL_ENDPOINTS") or ""):gmatch("[^,]+") do eps[#eps + 1] = e end
local c = assert(etcd.connect { endpoints = eps, cacert = os.getenv("ETCDCTL_CACERT"),
	cert = os.getenv("ETCDCTL_CERT"), key = os.getenv("ETCDCTL_KEY") })
timed("etcd_member_list", function() assert(c:members()) end)
local kc = assert(require("medic.k8s").connect {})
timed("k8s_get", function() assert(kc:get("/apis/operator.openshift.io/v1/etcds/cluster")) end)
