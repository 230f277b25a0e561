"""The Job and CronJob controllers and a scheduler for their pods (kube-controller-manager's job and cronjob
controllers, kube-scheduler's node filter), enough for a Job of etcd-medic:

- a Job: one pod at a time from its template (name JOB-xxxxx, the controller's labels, an ownerReference), bound to
  a node whose labels match the nodeSelector and whose taints it tolerates (else Pending, PodScheduled=False
  Unschedulable); a failed pod is replaced after the back-off (10 s doubling, capped at 6 min, --speed scaled)
  until backoffLimit failures; podFailurePolicy rules (FailJob, Ignore, Count on exit codes); status as the real
  controller writes it (startTime, active, ready, succeeded, failed, completionTime, conditions Complete or Failed
  with reason BackoffLimitExceeded or PodFailurePolicy; from Kubernetes 1.31 SuccessCriteriaMet or FailureTarget
  first). A deleted Job's pods are deleted (background cascading).
- a CronJob: a Job JOB-<minutes since the epoch> at each scheduled minute of a clock whose minute lasts
  cron_minute real seconds (`up --cron-minute S`; 60 by default), concurrencyPolicy Allow, Forbid or Replace,
  status.active, lastScheduleTime, lastSuccessfulTime, and the history limits.

The pods themselves run in the kubelets (kubelet.py, jobpods.py)."""
import datetime
import logging
import random
import threading
import time

import batch
from store import ApiError

log = logging.getLogger("jobs")
NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"   # k8s.io/apimachinery/pkg/util/rand: no vowels, no 0, 1, 3


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(ctype, reason=None, message=None):
    c = {"type": ctype, "status": "True", "lastProbeTime": now(), "lastTransitionTime": now()}
    if reason:
        c["reason"], c["message"] = reason, message or ""
    return c


def tolerates(tolerations, taint):
    for t in tolerations or []:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t["key"] == taint.get("key")):
            return True
        if t.get("key") == taint.get("key") and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def finished(job):
    return any(c["type"] in ("Complete", "Failed") and c["status"] == "True"
               for c in job.get("status", {}).get("conditions", []))


def owned_by(obj, uid):
    return any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences", []))


def exit_code(pod):
    for cs in pod.get("status", {}).get("containerStatuses", []):
        t = cs.get("state", {}).get("terminated")
        if t and t.get("exitCode", 0) != 0:
            return cs["name"], t["exitCode"]
    return None, None


def policy_action(job, pod):
    """The podFailurePolicy rule a failed pod matches: (action, index, container, code) or None."""
    name, code = exit_code(pod)
    for i, rule in enumerate((job["spec"].get("podFailurePolicy") or {}).get("rules", [])):
        on = rule.get("onExitCodes")
        if not on or code is None or (on.get("containerName") and on["containerName"] != name):
            continue
        hit = code in on.get("values", [])
        if hit == (on.get("operator", "In") == "In"):
            return rule.get("action"), i, name, code
    return None


class Controller(threading.Thread):
    def __init__(self, ctx):
        super().__init__(name="jobs", daemon=True)
        self.ctx, self.store = ctx, ctx.store
        self.stop_event = threading.Event()
        self.started = time.monotonic()
        self.t0 = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
        self.backoff = {}   # job uid -> (failures seen, monotonic time the next pod may be created)
        self.cronjobs = 0   # how many CronJobs there are (their clock needs a look even when nothing changed)

    def stop(self):
        self.stop_event.set()

    def run(self):
        seen = None
        while not self.stop_event.is_set():
            try:
                rv = self.store.resource_version
                # nothing changed, no back-off ending and no CronJob's clock to follow: nothing to do
                if rv != seen or self.cronjobs or any(at > time.monotonic() - 1 for _, at in self.backoff.values()):
                    seen = rv
                    self.sync_cronjobs()
                    self.sync_jobs()
            except Exception:  # keep the controller alive; the log tells what broke
                log.exception("sync failed")
            self.stop_event.wait(max(0.1, self.ctx.t(0.2)))

    # ---- Jobs
    def sync_jobs(self):
        jobs, _ = self.store.list("jobs")
        pods, _ = self.store.list("pods")
        uids = {j["metadata"]["uid"] for j in jobs}
        for p in pods:
            refs = [r for r in p["metadata"].get("ownerReferences", []) if r.get("kind") == "Job"]
            if refs and refs[0].get("uid") not in uids:   # the garbage collector: the Job is gone
                self._delete("pods", p)
        for job in jobs:
            if not finished(job):
                self.sync_job(job, [p for p in pods if owned_by(p, job["metadata"]["uid"])])

    def _delete(self, plural, obj):
        try:
            self.store.delete(plural, obj["metadata"]["namespace"], obj["metadata"]["name"])
        except ApiError:
            pass

    def sync_job(self, job, pods):
        spec, uid = job["spec"], job["metadata"]["uid"]
        active = [p for p in pods if p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]
        succeeded = [p for p in pods if p.get("status", {}).get("phase") == "Succeeded"]
        failed, verdict = [], None
        for p in pods:
            if p.get("status", {}).get("phase") != "Failed":
                continue
            rule = policy_action(job, p)
            if rule and rule[0] == "Ignore":
                continue
            failed.append(p)
            if rule and rule[0] == "FailJob" and not verdict:
                verdict = ("PodFailurePolicy", "Container %s for pod %s/%s failed with exit code %d matching "
                           "FailJob rule at index %d" % (rule[2], p["metadata"]["namespace"],
                                                         p["metadata"]["name"], rule[3], rule[1]))
        if not verdict and len(failed) > spec.get("backoffLimit", 6):
            verdict = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        if not verdict and not succeeded and not active and not spec.get("suspend"):
            seen, at = self.backoff.get(uid, (0, 0.0))
            if seen != len(failed):   # a new failure: the next pod waits 10 s, 20 s, 40 s... (at most 6 min)
                at = time.monotonic() + self.ctx.t(min(360, 10 * 2 ** (len(failed) - 1)))
                self.backoff[uid] = (len(failed), at)
            if time.monotonic() >= at:
                active.append(self.create_pod(job))
        if verdict:
            for p in active:
                self._delete("pods", p)
            active = []
        self.write_status(job, active, succeeded, failed, verdict)

    def write_status(self, job, active, succeeded, failed, verdict):
        new_conditions = int(str(self.ctx.cfg.get("kube_version", "1.27")).split(".")[1]) >= 31
        st = dict(job.get("status") or {})
        st.setdefault("startTime", now())
        st.update({"active": len(active), "uncountedTerminatedPods": {}, "terminating": 0,
                   "ready": sum(1 for p in active if any(c.get("type") == "Ready" and c.get("status") == "True"
                                                         for c in p.get("status", {}).get("conditions", [])))})
        for k, n in (("succeeded", len(succeeded)), ("failed", len(failed))):
            if n:
                st[k] = n
        if not st["active"]:
            st.pop("active")
        if succeeded:
            reason = ("CompletionsReached", "Reached expected number of succeeded pods") if new_conditions else (None,)
            st["conditions"] = ([condition("SuccessCriteriaMet", *reason)] if new_conditions else []) + \
                [condition("Complete", *reason)]
            st["completionTime"] = now()
        elif verdict:
            st["conditions"] = ([condition("FailureTarget", *verdict)] if new_conditions else []) + \
                [condition("Failed", *verdict)]
        if st != job.get("status"):
            try:
                self.store.update("jobs", job["metadata"]["namespace"], job["metadata"]["name"],
                                  lambda o: o.update(status=st) if o["metadata"]["uid"] == job["metadata"]["uid"]
                                  else None)
            except ApiError:
                pass

    def schedule(self, pod_spec):
        """A node for the pod: labels match its nodeSelector, taints (NoSchedule) tolerated; or None, why."""
        nodes, _ = self.store.list("nodes")
        fits = []
        for n in nodes:
            labels = n["metadata"].get("labels", {})
            if any(labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
                continue
            taints = [t for t in n.get("spec", {}).get("taints", []) if t.get("effect") in ("NoSchedule", "NoExecute")]
            if all(tolerates(pod_spec.get("tolerations"), t) for t in taints):
                fits.append(n["metadata"]["name"])
        if fits:
            return random.choice(fits), None
        return None, "0/%d nodes are available: %d node(s) didn't match Pod's node affinity/selector or had " \
            "untolerated taints." % (len(nodes), len(nodes))

    def create_pod(self, job):
        tmpl, meta = job["spec"]["template"], job["metadata"]
        spec = dict(tmpl.get("spec", {}))
        spec.setdefault("serviceAccountName", "default")
        spec["serviceAccount"] = spec["serviceAccountName"]
        node, why = self.schedule(spec)
        status = {"phase": "Pending"}
        if node:
            spec["nodeName"] = node
        else:
            status["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                     "message": why, "lastTransitionTime": now()}]
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "%s-%s" % (meta["name"], "".join(random.choice(NAME_CHARS) for _ in range(5))),
                            "labels": dict(tmpl.get("metadata", {}).get("labels", {})),
                            "annotations": dict(tmpl.get("metadata", {}).get("annotations", {})),
                            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"],
                                                 "uid": meta["uid"], "controller": True,
                                                 "blockOwnerDeletion": True}]},
               "spec": spec, "status": status}
        made = self.store.create("pods", meta["namespace"], pod)
        log.info("job %s/%s: pod %s on %s", meta["namespace"], meta["name"], made["metadata"]["name"], node)
        return made

    # ---- CronJobs
    def minute_now(self):
        """The CronJob clock: a minute lasts cron_minute real seconds (60 unless `up --cron-minute`)."""
        per = float(self.ctx.cfg.get("cron_minute") or 60)
        return self.t0 + datetime.timedelta(minutes=int((time.monotonic() - self.started) / per))

    def sync_cronjobs(self):
        cjs, _ = self.store.list("cronjobs")
        self.cronjobs = len(cjs)
        jobs, _ = self.store.list("jobs")
        uids = {c["metadata"]["uid"] for c in cjs}
        for j in jobs:   # the garbage collector: a deleted CronJob's Jobs go with it
            refs = [r for r in j["metadata"].get("ownerReferences", []) if r.get("kind") == "CronJob"]
            if refs and refs[0].get("uid") not in uids:
                self._delete("jobs", j)
        t = self.minute_now()
        for cj in cjs:
            mine = [j for j in jobs if owned_by(j, cj["metadata"]["uid"])]
            self.sync_cronjob(cj, mine, t)

    def sync_cronjob(self, cj, mine, t):
        spec, st = cj["spec"], dict(cj.get("status") or {})
        running = [j for j in mine if not finished(j)]
        stamp = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        sets = batch.parse(spec.get("schedule", ""))
        due = sets and batch.matches(sets, t) and st.get("lastScheduleTime") != stamp and not spec.get("suspend")
        if due and not (running and spec.get("concurrencyPolicy") == "Forbid"):
            if spec.get("concurrencyPolicy") == "Replace":
                for j in running:
                    self._delete("jobs", j)
                running = []
            name = "%s-%d" % (cj["metadata"]["name"], int(t.timestamp() // 60))
            try:
                running.append(self.store.create("jobs", cj["metadata"]["namespace"],
                                                 batch.job_from_template(cj, name, stamp)))
                log.info("cronjob %s: job %s", cj["metadata"]["name"], name)
            except ApiError as e:
                log.info("cronjob %s: job %s: %s", cj["metadata"]["name"], name, e)
        if due:
            st["lastScheduleTime"] = stamp
        done = sorted([j for j in mine if finished(j)], key=lambda j: j["metadata"]["creationTimestamp"])
        ok = [j for j in done if any(c["type"] == "Complete" for c in j["status"].get("conditions", []))]
        if ok:
            st["lastSuccessfulTime"] = ok[-1]["status"].get("completionTime")
        bad = [j for j in done if j not in ok]
        limits = ((ok, spec.get("successfulJobsHistoryLimit", 3)), (bad, spec.get("failedJobsHistoryLimit", 1)))
        for group, limit in limits:
            for j in group[:max(0, len(group) - limit)]:
                self._delete("jobs", j)
        st["active"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": j["metadata"]["name"],
                         "namespace": j["metadata"]["namespace"], "uid": j["metadata"]["uid"]} for j in running]
        if not st["active"]:
            st.pop("active")
        if st != cj.get("status"):
            try:
                self.store.update("cronjobs", cj["metadata"]["namespace"], cj["metadata"]["name"],
                                  lambda o: o.update(status=st))
            except ApiError:
                pass
