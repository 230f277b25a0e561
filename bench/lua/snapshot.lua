-- bench: `etcdctl snapshot save PATH` done by etcd-medic (direct: the v3 gateway, mTLS, ETCDCTL_* env).
local etcd = require "medic.etcd"
local path = assert(arg[1], "usage: snapshot.lua PATH")
local c = assert(etcd.connect { endpoints = { os.getenv("ETCDCTL_ENDPOINTS") }, cacert = os.getenv("ETCDCTL_CACERT"),
	cert = os.getenv("ETCDCTL_CERT"), key = os.getenv("ETCDCTL_KEY") })
local res = assert(c:snapshot(path))
print(res.size, res.sha256)
