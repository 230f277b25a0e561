-- Spec of the journal's two stores (medic.journal.file, medic.journal.configmap) behind medic.journal, over a fake
-- API that keeps ConfigMaps as the API server does (resourceVersion, Conflict, AlreadyExists, uid preconditions,
-- label selectors), and of where a run's journal goes (context.open_journal: --journal auto|file|cluster).
package.path = "tests/lua/?.lua;" .. package.path
local spec = require "spec"
local journal = require "medic.journal"
local configmap = require "medic.journal.configmap"
local json = require "medic.json"

local NS = "openshift-etcd"

-- A fake client: objects by path, a resourceVersion counter, and `before_update` to change an object behind the
-- writer's back (another writer) once.
local function fake_kc()
	local kc = { objects = {}, rv = 10, calls = {} }
	local function stored(obj)
		kc.rv = kc.rv + 1
		obj.metadata.resourceVersion = tostring(kc.rv)
		obj.metadata.uid = obj.metadata.uid or ("uid-" .. kc.rv)
		return json.decode(json.encode(obj))
	end
	function kc.get(_, path)
		kc.calls[#kc.calls + 1] = "GET " .. path
		local o = kc.objects[path]
		if o then return json.decode(json.encode(o)) end
		return nil, "not found", "NotFound"
	end
	function kc.create(_, path, obj)
		local key = path .. "/" .. obj.metadata.name
		if kc.objects[key] then return nil, "exists", "AlreadyExists" end
		kc.objects[key] = stored(obj)
		return kc.objects[key]
	end
	function kc.update(_, path, obj)
		if kc.before_update then kc.before_update(path); kc.before_update = nil end
		local cur = kc.objects[path]
		if not cur then return nil, "not found", "NotFound" end
		if cur.metadata.resourceVersion ~= obj.metadata.resourceVersion then return nil, "conflict", "Conflict" end
		kc.objects[path] = stored(obj)
		return kc.objects[path]
	end
	function kc.delete(_, path, opts)
		local cur = kc.objects[path]
		if not cur then return nil, "not found", "NotFound" end
		if opts and opts.preconditions and opts.preconditions.uid ~= cur.metadata.uid then
			return nil, "conflict", "Conflict"
		end
		kc.objects[path] = nil
		return {}
	end
	function kc.list(_, path, opts)
		local items, want = {}, {}
		for k, v in ((opts or {}).labelSelector or ""):gmatch("([^,=]+)=([^,]+)") do want[k] = v end
		for p, o in pairs(kc.objects) do
			local ok = p:sub(1, #path + 1) == path .. "/"
			for k, v in pairs(want) do ok = ok and (o.metadata.labels or {})[k] == v end
			if ok then items[#items + 1] = json.decode(json.encode(o)) end
		end
		return { items = items }
	end
	return kc
end

local PATH = "/api/v1/namespaces/" .. NS .. "/configmaps/etcd-medic-journal-fake"

spec.it("a journal in a ConfigMap: created on the first write, read back by another process, finished aside", function()
	local kc = fake_kc()
	local store = configmap.new(kc, NS)
	local name = store:journal_name("fake", "cluster-id")
	spec.eq(name, "etcd-medic-journal-fake", "one journal per procedure in the cluster")
	local j = assert(journal.open(store, name))
	spec.eq(kc.objects[PATH], nil, "nothing written before the first record")
	j:set("member_id", "62bcf33650a7170a")
	j:step("remove-member", "changed")
	local obj = kc.objects[PATH]
	spec.eq(obj.metadata.labels["etcd-medic.openshift.io/state"], "running", "state label")
	spec.eq(obj.metadata.labels["etcd-medic.openshift.io/journal"], "fake", "procedure label")
	spec.contains(obj.data["journal.json"], "62bcf33650a7170a", "the record")
	local again = assert(journal.open(configmap.new(kc, NS), name)) -- another pod
	spec.eq(again:resuming(), true, "an unfinished run is resumed")
	spec.eq(again:get("member_id"), "62bcf33650a7170a", "the record survives the process")
	spec.eq(#assert(journal.unfinished(configmap.new(kc, NS))), 1, "listed as unfinished")
	local where = assert(again:finish("done"))
	spec.contains(where, "configmap " .. NS .. "/etcd-medic-journal-fake-done-", "finished aside")
	spec.eq(kc.objects[PATH], nil, "the active one is gone")
	spec.eq(#assert(journal.unfinished(configmap.new(kc, NS))), 0, "a finished run is not listed")
	spec.eq(journal.open(configmap.new(kc, NS), name):resuming(), false, "the next run starts afresh")
end)

spec.it("a write that meets another writer's change is refused; its own lost write is taken over", function()
	local kc = fake_kc()
	local j = assert(journal.open(configmap.new(kc, NS), "etcd-medic-journal-fake"))
	j:set("a", 1)
	kc.before_update = function(path) -- another process writes in between
		local o = kc.objects[path]
		o.metadata.annotations["etcd-medic.openshift.io/writer"] = "someone-else"
		kc.rv = kc.rv + 1
		o.metadata.resourceVersion = tostring(kc.rv)
	end
	local ok, err = pcall(j.set, j, "b", 2)
	spec.eq(ok, false, "refused")
	spec.contains(err.message, "another run", "names why")
	local j2 = assert(journal.open(configmap.new(kc, NS), "etcd-medic-journal-fake"))
	j2:set("c", 3)
	kc.before_update = function(path) -- this process's own write landed but its answer was lost
		kc.rv = kc.rv + 1
		kc.objects[path].metadata.resourceVersion = tostring(kc.rv)
	end
	j2:set("d", 4)
	spec.contains(kc.objects[PATH].data["journal.json"], '"d":4', "written over its own change")
end)

spec.it("a journal record that looks like a secret, or one too large for a ConfigMap, is not written", function()
	local kc = fake_kc()
	local j = assert(journal.open(configmap.new(kc, NS), "etcd-medic-journal-fake"))
	local ok, err = pcall(j.set, j, "token", "sha256~abcdefghijklmnop")
	spec.eq(ok, false, "a token is refused")
	spec.contains(err.message, "secret data", "says why")
	spec.eq(kc.objects[PATH], nil, "nothing written")
	j = assert(journal.open(configmap.new(kc, NS), "etcd-medic-journal-fake"))
	ok, err = pcall(j.set, j, "big", string.rep("x", 1048577))
	spec.eq(ok, false, "more than 1 MiB is refused")
	spec.contains(err.message, "more than a ConfigMap holds", "says why")
	j = assert(journal.open(configmap.new(kc, NS), "etcd-medic-journal-fake"))
	j:set("secrets", { ["etcd-peer-master-1"] = "uid-1" }) -- names and uids of secrets are not secret data
	spec.contains(kc.objects[PATH].data["journal.json"], "etcd-peer-master-1", "kept")
end)

spec.it("finished journals: the newest five kept per procedure", function()
	local kc = fake_kc()
	for i = 1, 7 do
		local j = assert(journal.open(configmap.new(kc, NS), "etcd-medic-journal-fake"))
		j:set("n", i)
		local stamp = string.format("20261203T1600%02dZ", i)
		j.doc.status = "done"
		assert(j:save())
		assert(j.store:finish(j.name, stamp))
	end
	local done = kc:list("/api/v1/namespaces/" .. NS .. "/configmaps",
		{ labelSelector = "etcd-medic.openshift.io/state=done" })
	spec.eq(#done.items, 5, "five kept")
	local names = {}
	for _, o in ipairs(done.items) do names[o.metadata.name] = true end
	spec.eq(names["etcd-medic-journal-fake-done-20261203t160001z"], nil, "the oldest went")
	spec.eq(names["etcd-medic-journal-fake-done-20261203t160007z"], true, "the newest stays")
end)

spec.it("the file store keeps its layout: NAME-CLUSTER.journal, 0600, moved aside when done", function()
	local dir = os.tmpname()
	os.remove(dir)
	local store = require("medic.journal.file").new(dir)
	local name = store:journal_name("fake", "c/1")
	spec.eq(name, "fake-c_1", "the cluster's key made safe")
	local j = assert(journal.open(store, name))
	j:set("x", 1)
	spec.eq(#assert(journal.unfinished(dir, "c/1")), 1, "listed by directory and cluster")
	local done = assert(j:finish("done"))
	spec.contains(done, dir .. "/fake-c_1.done-", "moved aside")
	os.execute("rm -rf '" .. dir .. "'")
end)

spec.done()
