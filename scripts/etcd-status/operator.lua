-- etcd-medic-api: 2
-- etcd-status findings about the etcd operator (etcds.operator.openshift.io/cluster): a rollout that does not end,
-- Degraded conditions, and unsupportedConfigOverrides left on (the unsafe key blocks upgrades).
-- Pure: reads only ctx.cr, ctx.now and ctx.opts (docs/etcd-status.md).
local openshift = require "medic.openshift"
local json = require "medic.json"
local finding = require "etcd-status.finding"

local operator = {}

operator.UNSAFE = "useUnsupportedUnsafeNonHANonProductionUnstableEtcd"
local LOGS = "oc logs -n openshift-etcd-operator deployment/etcd-operator"

------------------------------------------------------------------------------------------------ revisions

-- Nodes not at the latest revision, and since when the operator says a rollout is going on: its
-- NodeInstallerProgressing condition turned True then (library-go's installer controller keeps it True until every
-- node is at the latest revision).
local function rollout(ctx, out)
	local r = openshift.rollout(ctx.cr)
	if r.total == 0 or not r.in_progress then return end
	local installing, behind = openshift.nodes_installing(ctx.cr)
	local late = {}
	for _, n in ipairs(installing) do late[#late + 1] = n end
	for _, n in ipairs(behind) do late[#late + 1] = n end
	local c = openshift.condition(ctx.cr, "NodeInstallerProgressing")
	local since = c and c.status == "True" and openshift.epoch(c.lastTransitionTime)
	local age = since and math.max(0, ctx.now - since)
	local grace = ctx.opts.rollout_grace
	local stuck = age and age >= grace
	local first = late[1] or "?"
	local st = r.nodes[first] or {}
	out[#out + 1] = finding.new {
		code = stuck and "REVISION_STUCK" or "ROLLOUT_IN_PROGRESS", severity = stuck and "warning" or "info",
		subject = first,
		summary = string.format("%s of %d nodes not at revision %d%s", table.concat(late, ", "), r.total, r.latest,
			age and string.format(" for %ds%s", age, stuck and string.format(" (a rollout takes less than %ds)", grace)
				or "") or ""),
		evidence = { latest_revision = r.latest, at_latest = r.at_latest, nodes = r.total,
			node_current_revision = st.currentRevision or 0, node_target_revision = st.targetRevision or 0,
			progressing_seconds = age or "unknown", grace_seconds = grace },
		next = stuck and ("oc get pods -n openshift-etcd -l app=installer -o wide; " .. LOGS
			.. " | grep -i installer (why node " .. first .. " does not get revision " .. r.latest .. ")")
			or "etcd-medic run etcd-status again once the rollout has ended",
	}
end

------------------------------------------------------------------------------------------------ conditions

local function degraded(ctx, out)
	for _, c in ipairs((ctx.cr.status or {}).conditions or {}) do
		if type(c.type) == "string" and c.type:match("Degraded$") and c.status == "True" then
			out[#out + 1] = finding.new {
				code = "OPERATOR_DEGRADED", severity = "warning", subject = c.type,
				summary = string.format("the etcd operator reports %s=True (%s): %s", c.type, tostring(c.reason or ""),
					(tostring(c.message or ""):gsub("\n", "; "))),
				evidence = { condition = c.type, reason = c.reason or "", message = c.message or "",
					since = c.lastTransitionTime or "" },
				next = LOGS .. " (the controller behind " .. c.type .. "); the other findings name the member it is about",
			}
		end
	end
end

------------------------------------------------------------------------------------------------ overrides

local CLEAR = "oc patch etcd cluster --type=merge -p '{\"spec\":{\"unsupportedConfigOverrides\":null}}'"

-- The command that removes the unsafe key: null when it is the only one (library-go's controller counts any
-- overrides but null, an empty {} too, against upgrades), else a JSON patch removing that key alone.
local function remove_unsafe(over)
	for k in pairs(over) do
		if k ~= operator.UNSAFE then
			return "oc patch etcd cluster --type=json -p '[{\"op\":\"remove\",\"path\":\"/spec/"
				.. "unsupportedConfigOverrides/" .. operator.UNSAFE .. "\"}]'"
		end
	end
	return CLEAR
end

local function overrides(ctx, out)
	local over = (ctx.cr.spec or {}).unsupportedConfigOverrides
	if type(over) ~= "table" then return end
	local c = openshift.condition(ctx.cr, "UnsupportedConfigOverridesUpgradeable")
	local blocks = c and c.status == "False"
	local evidence = { overrides = json.encode(over), upgradeable_condition = c and c.status or "absent",
		upgradeable_reason = c and c.reason or "", upgradeable_message = c and c.message or "" }
	if openshift.override_true(over[operator.UNSAFE]) then
		out[#out + 1] = finding.new {
			code = "UNSAFE_OVERRIDE_LEFT_ON", severity = "warning", subject = "etcd/cluster",
			summary = operator.UNSAFE .. " is still set (a repair's quorum-gate override left on): the operator "
				.. "would let a change break quorum" .. (blocks and ", and UnsupportedConfigOverridesUpgradeable=False "
				.. "blocks minor-version upgrades" or ""),
			evidence = evidence,
			next = remove_unsafe(over) .. " (once no repair is running)",
		}
	elseif next(over) ~= nil or blocks then
		out[#out + 1] = finding.new {
			code = "UNSUPPORTED_OVERRIDES", severity = blocks and "warning" or "info", subject = "etcd/cluster",
			summary = "spec.unsupportedConfigOverrides is " .. (next(over) and "set" or "{} (empty, but not null)")
				.. (blocks and " (UnsupportedConfigOverridesUpgradeable=False: minor-version upgrades are blocked)" or ""),
			evidence = evidence,
			next = next(over) and ("oc get etcd cluster -o jsonpath='{.spec.unsupportedConfigOverrides}' (remove what no "
				.. "support case asked for)") or CLEAR,
		}
	end
end

function operator.check(ctx)
	local out = {}
	if not ctx.cr then return out end
	rollout(ctx, out)
	degraded(ctx, out)
	overrides(ctx, out)
	return out
end

return operator
