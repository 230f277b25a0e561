-- Site file of the fault matrix (tests/reliability/run): before the step named by $RB_STEP runs, the
-- injector puts the fault $RB_FAULT in place (an API fault on the step's request, a signal to this process
-- while that request is in flight, the API server stopped for a while, a second etcd member stopped).
-- $PPID in the hook's shell is the etcd-medic process.
local site = ...
local step, cmd = os.getenv("RB_STEP"), os.getenv("RB_INJECT")
assert(step and cmd, "RB_STEP and RB_INJECT must be set")
local done = false
site.before(step, function()
	if done then return end
	done = true
	assert(os.execute(cmd .. ' --pid "$PPID"'), "the fault injector failed")
end)
