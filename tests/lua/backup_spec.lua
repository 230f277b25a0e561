-- Spec of scripts/medic/backup.lua: the platform's names, a static pod's revision as cluster-backup.sh finds it,
-- the tarball's listing checked and read on this machine (a real tar, a cut one refused), the pair found in a
-- directory as cluster-restore.sh would take it, backups grouped by stamp for --keep, node.sha256_file.
local backup = require "medic.backup"
local node = require "medic.node"
local spec = require "spec"
local test, eq, tmpdir, write = spec.it, spec.eq, spec.tmpdir, spec.write

local REVS = { ["kube-apiserver"] = 9, ["kube-controller-manager"] = 6, ["kube-scheduler"] = 5, etcd = 3 }

local function static_pod_tree(root, revs)
	for comp, rev in pairs(revs) do
		local dir = ("%s/static-pod-resources/%s-pod-%d"):format(root, comp, rev)
		assert(os.execute("mkdir -p '" .. dir .. "/configmaps'"))
		write(dir .. "/" .. comp .. "-pod.yaml", ('{"kind":"Pod","metadata":{"labels":{"revision":"%d"}}}'):format(rev))
	end
end

test("names as cluster-backup.sh writes them, with the dirty marking before the extension", function()
	local s, t, m = backup.names("2024-05-01_101500", false)
	eq(s, "snapshot_2024-05-01_101500.db")
	eq(t, "static_kuberesources_2024-05-01_101500.tar.gz")
	eq(m, "etcd-medic-backup_2024-05-01_101500.json")
	s, t = backup.names("2024-05-01_101500", true)
	eq(s, "snapshot_2024-05-01_101500__POSSIBLY_DIRTY__.db")
	eq(t, "static_kuberesources_2024-05-01_101500__POSSIBLY_DIRTY__.tar.gz")
	assert(backup.stamp(0) == "1970-01-01_000000", "the stamp is %F_%H%M%S in UTC")
end)

test("a static pod's revision: the resource dir its manifest mounts, checked against its revision label", function()
	local pod = { metadata = { name = "kube-apiserver-m0", labels = { revision = "9" } }, spec = { volumes = {
		{ name = "resource-dir", hostPath = { path = "/etc/kubernetes/static-pod-resources/kube-apiserver-pod-9" } },
		{ name = "cert-dir", hostPath = { path = "/etc/kubernetes/static-pod-resources/kube-apiserver-certs" } } } } }
	eq(backup.revision_of(pod, "kube-apiserver"), 9)
	pod.metadata.labels.revision = "8"
	local rev, why = backup.revision_of(pod, "kube-apiserver")
	eq(rev, nil, "disagreeing label")
	assert(why:find("mounts revision 9 but is labelled revision 8", 1, true), why)
	pod.spec.volumes = {}
	eq(backup.revision_of(pod, "kube-apiserver"), 8, "the label alone")
	pod.metadata.labels = {}
	eq(backup.revision_of(pod, "kube-apiserver"), nil, "no revision at all")
end)

test("a real tarball is listed and checked; a cut one and one missing a component are refused", function()
	local d = tmpdir()
	static_pod_tree(d .. "/root", REVS)
	static_pod_tree(d .. "/root", { etcd = 2 }) -- an older revision on the node, not in the tarball
	local paths = table.concat(backup.paths(REVS), " ")
	assert(os.execute(("tar -czf %s/t.tar.gz -C %s/root %s"):format(d, d, paths)))
	local list = assert(backup.list_tarball(d .. "/t.tar.gz"))
	assert(backup.check_listing(list, REVS))
	eq(backup.revisions_in(list).etcd, 3, "revisions_in")
	local ok, why = backup.check_listing(list, { ["kube-apiserver"] = 9, ["kube-controller-manager"] = 6,
		["kube-scheduler"] = 5, etcd = 2 })
	eq(ok, nil, "another etcd revision")
	assert(why:find("etcd-pod-2/etcd-pod.yaml", 1, true), why)
	assert(os.execute(("head -c 300 %s/t.tar.gz > %s/cut.tar.gz"):format(d, d)))
	local cut, err = backup.list_tarball(d .. "/cut.tar.gz")
	eq(cut, nil, "a cut tarball")
	assert(err:find("not a whole gzip'd tar", 1, true), err)
	os.execute("rm -rf '" .. d .. "'")
end)

test("find_pair takes the newest of each, as cluster-restore.sh's ls -v | tail -1; backups group by stamp", function()
	local d = tmpdir()
	for _, stamp in ipairs { "2024-05-01_101500", "2024-05-02_090000", "2024-05-02_090001__POSSIBLY_DIRTY__" } do
		local s, t, m = backup.names(stamp, false)
		write(d .. "/" .. s, "s"); write(d .. "/" .. t, "t"); write(d .. "/" .. m, "{}")
	end
	write(d .. "/static_kuberesources_2024-05-03_000000.tar.gz.Ab12Cd", "a temporary of a cut run")
	local s, t = backup.find_pair(d)
	eq(s, d .. "/snapshot_2024-05-02_090001__POSSIBLY_DIRTY__.db")
	eq(t, d .. "/static_kuberesources_2024-05-02_090001__POSSIBLY_DIRTY__.tar.gz")
	local list = backup.backups(d)
	eq(#list, 3, "three backups")
	eq(list[1].stamp, "2024-05-01_101500", "oldest first")
	eq(#list[1].files, 3, "snapshot, tarball, manifest")
	eq(#backup.leftovers(d, { "static_kuberesources_2024-05-03_000000.tar.gz" }), 1, "the temporary is a leftover")
	os.execute("rm -rf '" .. d .. "'")
end)

test("node.sha256_file is sha256sum's", function()
	local d = tmpdir()
	write(d .. "/abc", "abc")
	local hex, size = node.sha256_file(d .. "/abc")
	eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
	eq(size, 3)
	local none, err, code = node.sha256_file(d .. "/none")
	eq(none, nil)
	eq(code, "IOError", err)
	os.execute("rm -rf '" .. d .. "'")
end)

spec.done()
