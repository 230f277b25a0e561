-- etcd-medic-api: 2
-- medic.machines: finding a Node's Machine (through the annotation a real Node carries, read from the captures at
-- test time), clone-and-strip as the document edits the saved YAML, the next free name, and BMC credentials that
-- never show: not in ui.format (the REPL's printer), json.encode, the audit's copy of an action, nor a plan line.
package.path = "tests/lua/?.lua;" .. package.path
local spec = require "spec"
local machines = require "medic.machines"
local json = require "medic.json"
local ui = require "medic.ui"

local function machine(name, node, extra)
	local m = {
		apiVersion = "machine.openshift.io/v1beta1", kind = "Machine",
		metadata = { name = name, namespace = "openshift-machine-api", uid = "uid-" .. name, resourceVersion = "77",
			generation = 2, creationTimestamp = "2026-12-01T10:00:00Z", finalizers = { "machine.machine.openshift.io" },
			managedFields = { {} }, labels = { [machines.ROLE_LABEL] = "master", ["machine.openshift.io/zone"] = "us-east-1a" },
			annotations = { ["machine.openshift.io/instance-state"] = "stopped" } },
		spec = { providerID = "aws:///us-east-1a/i-0ec2782f8287dfb7e",
			lifecycleHooks = { preDrain = { { name = "EtcdQuorumOperator", owner = "clusteroperator/etcd" } } },
			providerSpec = { value = { placement = { availabilityZone = "us-east-1a" }, instanceType = "m6i.xlarge" } } },
		status = { phase = "Running", nodeRef = { kind = "Node", name = node },
			addresses = { { type = "InternalIP", address = "10.0.131.183" }, { type = "InternalDNS", address = node } } },
	}
	for k, v in pairs(extra or {}) do m.metadata.annotations[k] = v end
	return m
end

-- A kc that answers get/list from a table of objects by path.
local function fake_kc(objects)
	local kc = { gets = {} }
	function kc.get(_, path)
		kc.gets[#kc.gets + 1] = path
		if objects[path] then return objects[path] end
		return nil, path .. " not found", "NotFound"
	end
	function kc.list(_, path)
		local items = {}
		for p, o in pairs(objects) do
			if p:sub(1, #path + 1) == path .. "/" and not p:sub(#path + 2):find("/") then items[#items + 1] = o end
		end
		return { items = items }
	end
	return kc
end

-- The captured Node of a real 4.12 cluster: its annotation names its Machine as NAMESPACE/NAME.
local function real_node()
	local text = assert(spec.read(spec.realdata() .. "/resourcewatch-3nodes/final/cluster-scoped-resources/core/nodes/"
		.. "vrutkovs-mrmwt-master-0.c.openshift-gce-devel.internal.yaml"), "the captured 4.12 Node")
	local ref = text:match("\n%s+machine%.openshift%.io/machine: ([^\n]+)")
	local name = text:match("\n  name: ([^\n]+)")
	return { metadata = { name = name, annotations = { [machines.NODE_ANNOTATION] = ref } } }, ref
end

spec.it("of_node: the Machine a real Node's annotation names", function()
	local node, ref = real_node()
	spec.eq(ref, "openshift-machine-api/vrutkovs-mrmwt-master-0", "the capture's annotation")
	local m = machine("vrutkovs-mrmwt-master-0", node.metadata.name)
	local kc = fake_kc { [machines.path("vrutkovs-mrmwt-master-0")] = m }
	spec.eq(machines.of_node(kc, node.metadata.name, node), m, "found by the annotation")
	spec.eq(kc.gets[1], "/apis/machine.openshift.io/v1beta1/namespaces/openshift-machine-api/machines/"
		.. "vrutkovs-mrmwt-master-0", "the path read")
end)

spec.it("of_node: no annotation (the Node gone): the Machine whose nodeRef names it", function()
	local m = machine("x-master-1", "ip-10-0-131-183")
	local kc = fake_kc { [machines.path("x-master-0")] = machine("x-master-0", "other"),
		[machines.path("x-master-1")] = m }
	spec.eq(machines.of_node(kc, "ip-10-0-131-183", nil), m, "found by nodeRef")
	local none, why, code = machines.of_node(kc, "nobody", nil)
	spec.eq(none, nil, "none")
	spec.eq(code, "NotFound", "code")
	spec.contains(why, "nobody", "why")
end)

spec.it("clone: status, providerID, annotations, server-set metadata stripped; renamed; the old untouched", function()
	local old = machine("x-master-0", "n0")
	local new = machines.clone(old, "x-master-3")
	spec.eq(new.metadata.name, "x-master-3", "name")
	spec.eq(new.status, nil, "status")
	spec.eq(new.spec.providerID, nil, "providerID")
	for _, k in ipairs { "uid", "resourceVersion", "generation", "creationTimestamp", "finalizers", "managedFields",
		"annotations" } do
		spec.eq(new.metadata[k], nil, k)
	end
	spec.eq(new.metadata.labels[machines.ROLE_LABEL], "master", "labels kept")
	spec.eq(new.spec.providerSpec.value.instanceType, "m6i.xlarge", "providerSpec kept")
	spec.eq(old.spec.providerID, "aws:///us-east-1a/i-0ec2782f8287dfb7e", "the old Machine is not changed")
	spec.eq(old.status.phase, "Running", "the old status is not changed")
	spec.eq(machines.failure_domain(old), "us-east-1a", "failure domain")
end)

spec.it("next_name: one more than the highest number of the same base", function()
	spec.eq(machines.next_name("x-master-0", { "x-master-0", "x-master-1", "x-master-2" }), "x-master-3", "doc's")
	spec.eq(machines.next_name("x-master-1", { "x-master-0", "x-master-1", "x-master-4", "y-master-9" }), "x-master-5",
		"past a later one")
	spec.eq(machines.next_name("master", {}), "master-0", "no number")
end)

spec.it("clone_host: hardware kept or replaced, no consumer or image, the new secret's name", function()
	local host = { apiVersion = "metal3.io/v1alpha1", kind = "BareMetalHost",
		metadata = { name = "master-1", uid = "u", finalizers = { "baremetalhost.metal3.io" } },
		spec = { online = false, bootMACAddress = "52:54:00:00:00:01", bootMode = "UEFI",
			rootDeviceHints = { deviceName = "/dev/sda" }, consumerRef = { name = "x-master-1" }, image = { url = "i" },
			externallyProvisioned = true, userData = { name = "master-user-data-managed" },
			bmc = { address = "redfish://192.168.111.1/1", credentialsName = "master-1-bmc-secret" } },
		status = { provisioning = { state = "provisioned" } } }
	local new = machines.clone_host(host, "master-3", { boot_mac = "52:54:00:00:00:09",
		credentials_name = "master-3-bmc-secret" })
	spec.eq(new.metadata.name, "master-3", "name")
	spec.eq(new.metadata.finalizers, nil, "finalizers")
	spec.eq(new.status, nil, "status")
	spec.eq(new.spec.consumerRef, nil, "consumer")
	spec.eq(new.spec.image, nil, "image")
	spec.eq(new.spec.online, true, "online")
	spec.eq(new.spec.externallyProvisioned, false, "not externally provisioned (the document's warning)")
	spec.eq(new.spec.userData.name, "master-user-data-managed", "user data kept")
	spec.eq(new.spec.bootMACAddress, "52:54:00:00:00:09", "boot MAC from the option")
	spec.eq(new.spec.bmc.address, "redfish://192.168.111.1/1", "BMC address kept")
	spec.eq(new.spec.bmc.credentialsName, "master-3-bmc-secret", "the new secret")
	spec.eq(host.spec.bmc.credentialsName, "master-1-bmc-secret", "the old host untouched")
	spec.eq(machines.host_state(host), "provisioned", "state")
end)

spec.it("BMC credentials: never in the printer, JSON, pairs, an action's audit copy or its plan line", function()
	local pw = "s3cr3t-Pa55"
	local c = machines.credentials { username = "root", password = pw }
	spec.lacks(ui.format(c), pw, "ui.format")
	spec.lacks(ui.format({ creds = c }), pw, "ui.format nested")
	spec.lacks(tostring(c), pw, "tostring")
	local ok, encoded = pcall(json.encode, { c = c })
	spec.lacks(ok and encoded or "", pw, "json.encode")
	spec.lacks(ok and encoded or "", "root", "json.encode (username)")
	spec.eq(next(c), nil, "no field to iterate")
	spec.eq(c.password, nil, "no field to index")
	local a = require("medic.actions").bmc_secret_create { namespace = "openshift-machine-api", name = "m-3-bmc-secret",
		credentials = c }
	spec.lacks(table.concat(a:lines(), "\n"), pw, "plan line")
	local copy = {}
	for k, v in pairs(a) do copy[k] = v end
	spec.lacks(ui.format(copy), pw, "the action's fields (what the audit record copies)")
	local body = a:body()
	spec.eq(body.data.password, machines.base64(pw), "the request's body carries it, base64")
	spec.eq(body.data.username, "cm9vdA==", "username base64")
	spec.lacks(require("medic.host").redact(json.encode(body)), machines.base64(pw), "a logged body is redacted")
end)

spec.it("BMC credentials: read back from a Secret and from a file", function()
	local c = machines.credentials_of { data = { username = machines.base64("admin"), password = machines.base64("pw") } }
	spec.eq(machines.secret_body("s", c).data.password, machines.base64("pw"), "round trip")
	local path = os.tmpname()
	spec.write(path, "username=admin\npassword = p w\n")
	local f = assert(machines.credentials_file(path))
	spec.eq(machines.secret_body("s", f).data.password, machines.base64("p w"), "from the file")
	spec.write(path, "username=admin\n")
	local none, why = machines.credentials_file(path)
	spec.eq(none, nil, "no password")
	spec.contains(why, "password=", "why")
	os.remove(path)
end)

spec.it("unblock: a deletion hanging past `after` has its finalizers removed; one that ends is left alone", function()
	local function run(gone_after_polls)
		local polls, patched = 0, nil
		local kc = {
			get = function()
				polls = polls + 1
				if gone_after_polls and polls > gone_after_polls then return nil, "gone", "NotFound" end
				return { metadata = { finalizers = { "machine.machine.openshift.io" } } }
			end,
			patch = function(_, path, body) patched = { path = path, body = body }; return {} end,
		}
		local ctx = { cluster = { k8s = function() return kc end }, said = {} }
		function ctx:say(fmt, ...) self.said[#self.said + 1] = fmt:format(...) end
		function ctx.stop(_, _, msg) error(msg, 0) end
		function ctx.wait(_, w)
			for _ = 1, 3 do if w.poll() then return true end end
			return nil, "timed out"
		end
		local a = require("medic.actions").unblock { path = "/m/x", object = "machine/x", after = 5, interval = 0 }
		spec.contains(a:lines()[1], "still there after 5s", "plan line")
		a:run(ctx)
		return patched
	end
	local patched = run(nil)
	spec.eq(patched and patched.path, "/m/x", "patched")
	spec.eq(patched.body.metadata.finalizers, json.null, "finalizers removed")
	spec.eq(run(1), nil, "gone in time: nothing patched")
end)

spec.done()
