-- etcd-medic-api: 2
-- The backup OpenShift restores: what cluster-backup.sh writes and cluster-restore.sh reads (the
-- cluster-etcd-operator's bindata/etcd/cluster-backup.sh and cluster-restore.sh). One directory holds the pair:
--
--   snapshot_<%F_%H%M%S>[__POSSIBLY_DIRTY__].db                  etcdctl snapshot save
--   static_kuberesources_<same>[__POSSIBLY_DIRTY__].tar.gz       tar czf of static-pod-resources/<component>-pod-<N>,
--                                                                relative to /etc/kubernetes, for the current N of
--                                                                kube-apiserver, kube-controller-manager,
--                                                                kube-scheduler and etcd
--
-- cluster-restore.sh takes the last of each (`ls -v | tail -1`) and needs both (errexit: no tarball, no restore).
-- cluster-backup.sh refuses while any of the four ClusterOperators is Progressing, unless --force, which adds
-- __POSSIBLY_DIRTY__ to both names. Here: the names, the revisions read from the pods, the Progressing check, and
-- the checks of a pair on this machine (the snapshot's bolt header and SHA-256 trailer, the tarball read to its
-- end by tar), the manifest beside them, finding the newest pair in a directory, and keeping the last N.
local etcd = require "medic.etcd"
local node = require "medic.node"
local quote = require("medic.procedure.arguments").quote

local M = {}

M.RESOURCES = "/etc/kubernetes/static-pod-resources"
M.BASE = "/etc/kubernetes" -- the tarball's paths are relative to this (cluster-backup.sh's CONFIG_FILE_DIR)
M.DIRTY = "__POSSIBLY_DIRTY__"
M.STAMP = "!%F_%H%M%S" -- date "+%F_%H%M%S" on the node, whose clock is UTC on RHCOS
M.NODE_DIR = "/home/core/assets/backup" -- the documentation's backup directory on the node
M.MANIFEST = "etcd-medic-backup_%s.json"

-- The four components cluster-backup.sh saves, and how their static pods are found (labels as on 4.x clusters).
M.COMPONENTS = {
	{ name = "kube-apiserver", namespace = "openshift-kube-apiserver", selector = "apiserver=true" },
	{ name = "kube-controller-manager", namespace = "openshift-kube-controller-manager",
		selector = "kube-controller-manager=true" },
	{ name = "kube-scheduler", namespace = "openshift-kube-scheduler", selector = "scheduler=true" },
	{ name = "etcd", namespace = "openshift-etcd", selector = "etcd=true" },
}

function M.clusteroperator_path(name) return "/apis/config.openshift.io/v1/clusteroperators/" .. name end

------------------------------------------------------------------------------------------------ names

function M.stamp(t) return os.date(M.STAMP, t) end

-- The pair's file names for a stamp: snapshot, tarball, manifest.
function M.names(stamp, dirty)
	local d = dirty and M.DIRTY or ""
	return "snapshot_" .. stamp .. d .. ".db", "static_kuberesources_" .. stamp .. d .. ".tar.gz",
		M.MANIFEST:format(stamp .. d)
end

-- The tarball's directory of a component at a revision (as tar lists it).
function M.resource_dir(component, revision)
	return ("static-pod-resources/%s-pod-%d"):format(component, revision)
end

------------------------------------------------------------------------------------------------ the cluster

-- A static pod's revision, as cluster-backup.sh finds it (the resource directory its manifest mounts), checked
-- against its `revision` label. Returns the revision, or nil and why.
function M.revision_of(pod, component)
	local pattern = "^" .. M.RESOURCES:gsub("%-", "%%-") .. "/" .. component:gsub("%-", "%%-") .. "%-pod%-(%d+)$"
	local from_volume
	for _, v in ipairs((pod.spec or {}).volumes or {}) do
		local n = v.hostPath and tostring(v.hostPath.path):match(pattern)
		if n then from_volume = math.tointeger(tonumber(n)) end
	end
	local label = math.tointeger(tonumber(((pod.metadata or {}).labels or {}).revision or ""))
	if from_volume and label and from_volume ~= label then
		return nil, ("pod %s mounts revision %d but is labelled revision %d"):format(pod.metadata.name, from_volume, label)
	end
	local rev = from_volume or label
	if not rev then return nil, "pod " .. pod.metadata.name .. " shows no revision" end
	return rev
end

-- The current revision of each component on a node, from its static pod there: { [component] = N }, or nil and why.
function M.revisions(kc, nodename, components)
	local out = {}
	for _, c in ipairs(components or M.COMPONENTS) do
		local list, err = kc:list(("/api/v1/namespaces/%s/pods"):format(c.namespace),
			{ labelSelector = c.selector, fieldSelector = "spec.nodeName=" .. nodename })
		if not list then return nil, "cannot list the " .. c.name .. " pods: " .. tostring(err) end
		local pod = (list.items or {})[1]
		if not pod then return nil, "no " .. c.name .. " pod on " .. nodename .. " (is it running?)" end
		local rev, why = M.revision_of(pod, c.name)
		if not rev then return nil, why end
		out[c.name] = rev
	end
	return out
end

-- cluster-backup.sh's check: each ClusterOperator's Progressing status must read "False". Returns a list of
-- { name=, status= ("True", "Unknown", or "not found") } for those that do not.
function M.progressing(kc, components)
	local bad = {}
	for _, c in ipairs(components or M.COMPONENTS) do
		local co = kc:get(M.clusteroperator_path(c.name))
		local status = "not found"
		for _, cond in ipairs(co and co.status and co.status.conditions or {}) do
			if cond.type == "Progressing" then status = cond.status end
		end
		if status ~= "False" then bad[#bad + 1] = { name = c.name, status = status } end
	end
	return bad
end

------------------------------------------------------------------------------------------------ checking files

-- Runs argv on this machine and reads its output; output, or nil and why (a non-zero exit).
local function read_command(argv)
	local words = {}
	for i, w in ipairs(argv) do words[i] = quote(w) end
	local p = io.popen(table.concat(words, " ") .. " 2>&1")
	local out = p:read("a")
	local ok, how, code = p:close()
	if not ok then return nil, ("%s %s %s: %s"):format(argv[1], how, tostring(code), (out:gsub("%s+$", ""))) end
	return out
end
M.read_command = read_command

-- The tarball listed by tar (gzip's CRC and tar's end both read: a cut file fails). { "path", ... } or nil, why.
function M.list_tarball(path)
	local out, err = read_command { "tar", "-tzf", path }
	if not out then return nil, path .. " is not a whole gzip'd tar: " .. err end
	local list = {}
	for line in out:gmatch("[^\n]+") do list[#list + 1] = line:gsub("^%./", "") end
	return list
end

-- Does the listing hold each component's directory at its revision (and its pod manifest)? true or nil, why.
function M.check_listing(list, revisions)
	local have = {}
	for _, p in ipairs(list) do have[p:gsub("/$", "")] = true end
	local missing = {}
	for _, c in ipairs(M.COMPONENTS) do
		local rev = revisions[c.name]
		local dir = rev and M.resource_dir(c.name, rev)
		if not dir or not have[dir .. "/" .. c.name .. "-pod.yaml"] then
			missing[#missing + 1] = dir and (dir .. "/" .. c.name .. "-pod.yaml") or (c.name .. " (no revision)")
		end
	end
	if #missing > 0 then return nil, "the tarball lacks " .. table.concat(missing, ", ") end
	return true
end

-- The revisions a tarball holds: { [component] = N } (the highest of each, as restore's `tar -t "*name"` finds).
function M.revisions_in(list)
	local out = {}
	for _, p in ipairs(list) do
		local comp, n = p:match("^static%-pod%-resources/(.-)%-pod%-(%d+)/")
		if comp then out[comp] = math.max(out[comp] or 0, math.tointeger(tonumber(n))) end
	end
	return out
end

-- Checks a pair on this machine. Returns {snapshot={size=, sha256=, revision=}, tarball={size=, sha256=},
-- revisions={...}} or nil and why. revisions: those the tarball must hold (default: whatever it holds).
function M.check_pair(snapshot, tarball, revisions)
	local snap, err = etcd.check_snapshot(snapshot)
	if not snap then return nil, err end
	local list
	list, err = M.list_tarball(tarball)
	if not list then return nil, err end
	revisions = revisions or M.revisions_in(list)
	local ok
	ok, err = M.check_listing(list, revisions)
	if not ok then return nil, tarball .. ": " .. err end
	local out = { revisions = revisions, snapshot = { revision = snap.revision, trailer = snap.sha256 },
		tarball = {}, entries = #list }
	for key, path in pairs { snapshot = snapshot, tarball = tarball } do
		local hex, size = node.sha256_file(path)
		if not hex then return nil, size end
		out[key].sha256, out[key].size, out[key].path = hex, size, path
	end
	return out
end

------------------------------------------------------------------------------------------------ a directory

local function local_root() return node.open_local { root = "/" } end

-- The names in a directory of this machine (sorted), or {} when it is not there.
function M.list_dir(dir)
	local h <close> = local_root()
	return h:list(dir) or {}
end

-- `ls -v`'s order for our names: the stamps are fixed width, so a plain sort is the same.
local function newest(names, prefix, suffix)
	local best
	for _, n in ipairs(names) do
		if n:sub(1, #prefix) == prefix and n:sub(-#suffix) == suffix and (not best or n > best) then best = n end
	end
	return best
end

-- The pair cluster-restore.sh would take from DIR: snapshot path, tarball path (either may be nil).
function M.find_pair(dir)
	local names = M.list_dir(dir)
	local s, t = newest(names, "snapshot", ".db"), newest(names, "static_kuberesources", ".tar.gz")
	return s and (dir .. "/" .. s), t and (dir .. "/" .. t)
end

-- The backups in DIR, oldest first: { {stamp=, files={names...}}, ... } (a stamp with its dirty marking).
function M.backups(dir)
	local by, list = {}, {}
	for _, n in ipairs(M.list_dir(dir)) do
		local stamp = n:match("^snapshot_(.+)%.db$") or n:match("^static_kuberesources_(.+)%.tar%.gz$")
			or n:match("^etcd%-medic%-backup_(.+)%.json$")
		if stamp then
			if not by[stamp] then by[stamp] = { stamp = stamp, files = {} }; list[#list + 1] = by[stamp] end
			table.insert(by[stamp].files, n)
		end
	end
	table.sort(list, function(a, b) return a.stamp < b.stamp end)
	return list
end

-- Leftovers of a run cut short (a temporary NAME.XXXXXX of kc:exec's stdout_file, a staging directory):
-- the names in DIR that start with one of the prefixes and are not a finished file.
function M.leftovers(dir, names)
	local out = {}
	for _, n in ipairs(M.list_dir(dir)) do
		for _, want in ipairs(names) do
			if n ~= want and n:sub(1, #want + 1) == want .. "." then out[#out + 1] = dir .. "/" .. n end
		end
	end
	return out
end

-- The manifest beside the pair: what was saved, from where, at which revisions, sizes and SHA-256.
function M.manifest(info, fields)
	local json = require "medic.json"
	local doc = { format = 1, snapshot = info.snapshot, static_kuberesources = info.tarball,
		revisions = info.revisions }
	for k, v in pairs(fields or {}) do doc[k] = v end
	return json.encode(doc)
end

------------------------------------------------------------------------------------------------ the plan

-- Where a run's pair is made before it is checked: a hidden directory beside the backups, one per stamp.
function M.staging(dir, stamp) return dir .. "/.etcd-medic-partial-" .. stamp end

-- The tarball's paths for the revisions: static-pod-resources/<component>-pod-<N>, in cluster-backup.sh's order.
function M.paths(revisions)
	local out = {}
	for _, c in ipairs(M.COMPONENTS) do out[#out + 1] = M.resource_dir(c.name, revisions[c.name]) end
	return out
end

-- The actions that take a backup: {dir=, stamp=, dirty=, node=, revisions=, endpoints=, root= (natively, with
-- --local), fields= (for the manifest), record= (journal fields for the first action)}. Returns the list and the
-- final paths of the snapshot and the tarball.
function M.actions(spec)
	local actions = require "medic.actions"
	local snapshot, tarball, manifest = M.names(spec.stamp, spec.dirty)
	local staging = M.staging(spec.dir, spec.stamp)
	local list = {
		actions.snapshot { to = staging .. "/" .. snapshot, endpoints = spec.endpoints, record = spec.record },
		actions.archive { node = spec.node, paths = M.paths(spec.revisions), to = staging .. "/" .. tarball,
			revisions = spec.revisions, root = spec.root },
		actions.seal { staging = staging, dir = spec.dir, snapshot = snapshot, tarball = tarball, manifest = manifest,
			revisions = spec.revisions, fields = spec.fields },
	}
	return list, spec.dir .. "/" .. snapshot, spec.dir .. "/" .. tarball
end

return M
