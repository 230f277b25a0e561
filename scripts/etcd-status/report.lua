-- etcd-medic-api: 2
-- etcd-status's report kept in a ConfigMap of the etcd namespace (--report-configmap NAME; etcd-medic-report by
-- default in a pod), so a fleet collects each cluster's verdict where it collects everything else (ACM, a GitOps
-- status check, `oc get cm -l etcd-medic.openshift.io/report`): data report.json (the -o json document),
-- verdict, summary, exitCode and time; labels name the verdict. The last run's report wins: an update carries the
-- resourceVersion read, and a Conflict (another run's report in between) is read again and written over.
local report = {}

report.DEFAULT = "etcd-medic-report"
local MAX_BYTES = 1048576 -- a ConfigMap's values together
local KIND, VERDICT = "etcd-medic.openshift.io/report", "etcd-medic.openshift.io/verdict"

-- Which ConfigMap: the option's value ("none": no report), else etcd-medic-report in a pod, else none.
function report.name(ctx)
	local v = ctx.opts.report_configmap
	if v == "none" then return nil end
	if v then return v end
	return ctx.cluster:in_pod() and report.DEFAULT or nil
end

local function object(ns, name, text, verdict, code)
	return { apiVersion = "v1", kind = "ConfigMap",
		metadata = { name = name, namespace = ns, labels = { ["app.kubernetes.io/managed-by"] = "etcd-medic",
			[KIND] = "etcd-status", [VERDICT] = verdict.state } },
		data = { ["report.json"] = text, verdict = verdict.state, summary = verdict.summary,
			exitCode = tostring(code), time = os.date("!%Y-%m-%dT%H:%M:%SZ") } }
end

-- report.publish(kc, ns, name, text, verdict, code) -> true | nil, message. Created, or updated over what is there.
function report.publish(kc, ns, name, text, verdict, code)
	if #text > MAX_BYTES then return nil, "the report is larger than a ConfigMap holds (" .. #text .. " bytes)" end
	local base, want = "/api/v1/namespaces/" .. ns .. "/configmaps", object(ns, name, text, verdict, code)
	local err
	for _ = 1, 3 do
		local cur, _, code_get = kc:get(base .. "/" .. name)
		local done, code_put
		if cur then
			want.metadata.resourceVersion = cur.metadata.resourceVersion
			done, err, code_put = kc:update(base .. "/" .. name, want)
		elseif code_get == "NotFound" then
			want.metadata.resourceVersion = nil
			done, err, code_put = kc:create(base, want)
		else
			return nil, "cannot read configmap " .. name
		end
		if done then return true end
		if code_put ~= "Conflict" and code_put ~= "AlreadyExists" then break end
	end
	return nil, "cannot write configmap " .. name .. ": " .. tostring(err)
end

return report
