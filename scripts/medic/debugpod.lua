-- etcd-medic-api: 2
--- medic.debugpod: the privileged pod `oc debug node/NODE` makes, for medic.node's remote handle: its spec,
--- the image as oc resolves it, a temporary namespace with the privileged pod-security labels, waiting
--- until it runs, and deleting it all again.
---
---   local rec = {}                                  -- filled in as things are created
---   local ok, msg, code = debugpod.start(kc, "master-0", {image=, namespace=, timeout=300}, rec)
---   ... kc:exec{namespace = rec.namespace, pod = rec.pod, container = debugpod.container, command = {...}}
---   debugpod.stop(kc, rec)
local host = require "medic.host"

local M = {
	--- The image when the openshift/tools image stream cannot be read (what oc falls back to).
	fallback_image = "registry.redhat.io/rhel9/support-tools",
	tools_imagestream = "/apis/image.openshift.io/v1/namespaces/openshift/imagestreams/tools",
	container = "container-00",
}

--- debugpod.random_suffix(n) -> n characters from [b-z2-9] without vowels (as Kubernetes' generateName)
function M.random_suffix(n)
	local chars, out = "bcdfghjklmnpqrstvwxz2456789", {}
	for i = 1, n do
		local k = math.random(#chars)
		out[i] = chars:sub(k, k)
	end
	return table.concat(out)
end
local random_suffix = M.random_suffix

-- oc's MakeSimpleName: lower case, only [-a-z0-9], no leading or trailing '-', at most 63
local function simple_name(s)
	return (s:lower():gsub("[^%-a-z0-9]", ""):gsub("^%-+", ""):gsub("%-+$", ""):sub(1, 63))
end

--- The debug image as oc resolves it: the openshift/tools image stream's "latest" tag (its newest status
--- item, else a DockerImage spec tag), else M.fallback_image.
function M.resolve_image(kc)
	local is = kc:get(M.tools_imagestream)
	for _, tag in ipairs(is and is.status and is.status.tags or {}) do
		if tag.tag == "latest" and tag.items and tag.items[1] and tag.items[1].dockerImageReference then
			return tag.items[1].dockerImageReference
		end
	end
	for _, tag in ipairs(is and is.spec and is.spec.tags or {}) do
		if tag.name == "latest" and tag.from and tag.from.kind == "DockerImage" and tag.from.name then
			return tag.from.name
		end
	end
	return M.fallback_image
end

--- The pod `oc debug node/NODE` builds (reference/protocols.md §2), kept alive by `sleep LIFETIME` and
--- activeDeadlineSeconds, so a pod orphaned by a killed etcd-medic still ends. Unlike oc it tolerates every
--- taint, so a NoExecute-tainted (unhealthy) node does not evict it.
function M.pod_spec(name, nodename, image, opts)
	local lifetime = opts.lifetime or 14400
	return {
		apiVersion = "v1", kind = "Pod",
		metadata = {
			name = name,
			labels = { ["debug.openshift.io/managed-by"] = "oc-debug", ["app.kubernetes.io/created-by"] = "etcd-medic" },
			annotations = {
				["debug.openshift.io/source-resource"] = "nodes/" .. nodename,
				["debug.openshift.io/source-container"] = M.container,
				["openshift.io/required-scc"] = "privileged",
			},
		},
		spec = {
			nodeName = nodename, hostNetwork = true, hostPID = true, hostIPC = true,
			restartPolicy = "Never", activeDeadlineSeconds = lifetime, priorityClassName = opts.priority_class,
			tolerations = { { operator = "Exists" } },
			volumes = { { name = "host", hostPath = { path = "/", type = "Directory" } } },
			containers = { {
				name = M.container, image = image, command = { "sleep", tostring(lifetime) },
				securityContext = { privileged = true, runAsUser = 0 },
				volumeMounts = { { name = "host", mountPath = "/host" } },
				env = { { name = "TMOUT", value = "900" }, { name = "HOST", value = "/host" } },
			} },
		},
	}
end

local function namespace_spec(name)
	return {
		apiVersion = "v1", kind = "Namespace",
		metadata = {
			name = name,
			labels = {
				["pod-security.kubernetes.io/enforce"] = "privileged",
				["pod-security.kubernetes.io/audit"] = "privileged",
				["pod-security.kubernetes.io/warn"] = "privileged",
				["security.openshift.io/scc.podSecurityLabelSync"] = "false",
			},
			annotations = { ["oc.openshift.io/command"] = "etcd-medic", ["openshift.io/node-selector"] = "" },
		},
	}
end

-- creates obj at path under a fresh random name (make(name) builds it), a few tries on a name clash
local function create_named(kc, path, prefix, make)
	local msg, code
	for _ = 1, 3 do
		local name = prefix .. random_suffix(5)
		local created
		created, msg, code = kc:create(path, make(name))
		if created then
			return name
		end
		if code ~= "AlreadyExists" and code ~= "Conflict" then
			break
		end
	end
	return nil, msg, code
end

local function container_state(pod)
	for _, cs in ipairs(pod.status and pod.status.containerStatuses or {}) do
		if cs.name == M.container then
			return cs.state or {}
		end
	end
	return {}
end

-- polls the pod until its container runs; deadline timeout seconds
local function wait_running(kc, rec, timeout)
	local path = string.format("/api/v1/namespaces/%s/pods/%s", rec.namespace, rec.pod)
	local deadline, delay, last = host.now() + timeout, 0.2, "not yet seen"
	while true do
		local pod, msg, code = kc:get(path)
		if pod then
			local phase, state = pod.status and pod.status.phase or "Pending", container_state(pod)
			if phase == "Running" and state.running then
				return true
			elseif phase == "Succeeded" or phase == "Failed" then
				return nil, "debug pod " .. rec.pod .. " ended (" .. phase .. ") before it could be used", "CommandFailed"
			end
			last = phase .. (state.waiting and state.waiting.reason and (": " .. state.waiting.reason) or "")
		elseif code ~= "NotFound" then
			last = tostring(msg)
		end
		local left = deadline - host.now()
		if left <= 0 then
			return nil, string.format("debug pod %s on %s not running after %ss (%s)", rec.pod, rec.node, timeout, last),
				"Timeout"
		end
		local ok, m, c = host.sleep(math.min(delay, left))
		if not ok then
			return nil, m, c
		end
		delay = math.min(delay * 2, 2)
	end
end

--- debugpod.stop(kc, rec) -> true | nil, message, code
--- Deletes rec.pod (grace period 0) and, if rec.owns_namespace, rec.namespace; NotFound counts as done.
--- Runs with Ctrl-C held off, so the interrupt that ends a script cannot cut its cleanup short.
function M.stop(kc, rec)
	local ok, res, msg, code = host.uninterrupted(function()
		local done, m, c, first_m, first_c
		if rec.pod then
			done, m, c = kc:delete(string.format("/api/v1/namespaces/%s/pods/%s", rec.namespace, rec.pod),
				{ gracePeriodSeconds = 0 })
			if not done and c ~= "NotFound" then
				first_m, first_c = m, c
			end
		end
		if rec.owns_namespace then
			done, m, c = kc:delete("/api/v1/namespaces/" .. rec.namespace)
			if not done and c ~= "NotFound" and not first_m then
				first_m, first_c = m, c
			end
		end
		if first_m then
			return nil, first_m, first_c
		end
		return true
	end)
	if not ok then
		return nil, "deleting the debug pod: " .. tostring(res), "CommandFailed"
	end
	return res, msg, code
end

local function start_steps(kc, nodename, opts, rec)
	local msg, code
	rec.node = nodename
	-- a pod for a node that does not exist is never scheduled: said at once, not after the wait's timeout (a user
	-- who may not read nodes goes on, and the wait says what it saw)
	local _, _, node_code = kc:get("/api/v1/nodes/" .. nodename)
	if node_code == "NotFound" then
		return nil, "no node named " .. nodename .. " (oc get nodes lists them)", "NotFound"
	end
	local image = opts.image or M.resolve_image(kc)
	if opts.namespace then
		rec.namespace = opts.namespace
	else
		rec.namespace, msg, code = create_named(kc, "/api/v1/namespaces", "openshift-debug-", namespace_spec)
		if not rec.namespace then
			return nil, "creating a namespace for the debug pod: " .. tostring(msg), code
		end
		rec.owns_namespace = true
	end
	local pods = "/api/v1/namespaces/" .. rec.namespace .. "/pods"
	rec.pod, msg, code = create_named(kc, pods, simple_name(nodename) .. "-debug-", function(name)
		return M.pod_spec(name, nodename, image, opts)
	end)
	if not rec.pod then
		return nil, "creating the debug pod on " .. nodename .. ": " .. tostring(msg), code
	end
	return wait_running(kc, rec, opts.timeout or 300)
end

--- debugpod.start(kc, nodename, {image=, namespace=, timeout=300, lifetime=14400, priority_class=}, rec)
---   -> true | nil, message, code
--- nodename must be valid already (medic.node checks it). Sets rec.node, rec.namespace, rec.owns_namespace
--- and rec.pod as soon as each exists, so a caller's finalizer can delete them even if start is cut short;
--- on a failure, or an error raised midway (Ctrl-C), start deletes them itself (and
--- re-raises the error). namespace: use that one (not deleted); default a new
--- "openshift-debug-XXXXX". Waits at most timeout seconds for the container to run.
function M.start(kc, nodename, opts, rec)
	-- protected, so that an error raised midway (Ctrl-C raises "interrupted" in the next Lua instruction)
	-- still deletes what was created before it goes on up
	local done, ok, msg, code = pcall(start_steps, kc, nodename, opts, rec)
	if done and ok then
		return true
	end
	M.stop(kc, rec)
	if not done then
		error(ok, 0)
	end
	return nil, msg, code
end

return M
