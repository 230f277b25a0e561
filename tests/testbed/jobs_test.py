"""Unit tests of the testbed's batch/v1 Jobs and CronJobs (batch.py, jobs.py) over a Store, without processes: the
defaults at create, the schedule, the scheduler, the back-off, backoffLimit, podFailurePolicy, the CronJob's Jobs
and the garbage collector. Exits non-zero on failure."""
import datetime
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import batch  # noqa: E402
import jobs  # noqa: E402
from store import ApiError, Store  # noqa: E402

NS = "openshift-etcd"
TEMPLATE = {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "etcd-medic", "command": ["x"]}]}}


class Ctx:
    def __init__(self, store):
        self.store, self.cfg = store, {"kube_version": "1.27.6", "cron_minute": 60}

    def t(self, seconds):
        return seconds / 1000.0   # the back-off in milliseconds


def job(name, **spec):
    return {"metadata": {"name": name}, "spec": dict({"template": TEMPLATE}, **spec)}


class JobsTest(unittest.TestCase):
    def setUp(self):
        self.s = Store()
        self.s.create("namespaces", None, {"metadata": {"name": NS}})
        for n, taints in (("m-0", [{"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}]),
                          ("w-0", [])):
            self.s.create("nodes", None, {"metadata": {"name": n, "labels": {"role": n[0]}},
                                          "spec": {"taints": taints}})
        self.c = jobs.Controller(Ctx(self.s))

    def pods(self):
        return self.s.list("pods", NS)[0]

    def end_pods(self, code):
        for p in self.pods():
            if p.get("status", {}).get("phase") == "Pending":
                st = {"phase": "Succeeded" if code == 0 else "Failed", "containerStatuses": [
                    {"name": "c", "state": {"terminated": {"exitCode": code}}}]}
                self.s.update("pods", NS, p["metadata"]["name"], lambda o, st=st: o.update(status=st))

    def sync(self, rounds=1):
        for _ in range(rounds):
            self.c.sync_jobs()
            time.sleep(0.05)

    def status(self, name):
        return self.s.get("jobs", NS, name)["status"]

    def test_defaults_at_create(self):
        j = self.s.create("jobs", NS, job("a"))
        uid = j["metadata"]["uid"]
        self.assertEqual(j["spec"]["backoffLimit"], 6)
        self.assertEqual(j["spec"]["selector"], {"matchLabels": {batch.UID_LABEL: uid}})
        self.assertEqual(j["spec"]["template"]["metadata"]["labels"]["job-name"], "a")
        bad = job("b", template={"spec": {"restartPolicy": "Always", "containers": [{"name": "c"}]}})
        with self.assertRaises(ApiError) as e:
            self.s.create("jobs", NS, bad)
        self.assertEqual(e.exception.code, 422)

    def test_pod_scheduled_by_taints_and_labels(self):
        self.s.create("jobs", NS, job("a"))
        self.sync()
        p = self.pods()[0]
        self.assertEqual(p["spec"]["nodeName"], "w-0", "the untainted node")
        self.assertTrue(p["metadata"]["name"].startswith("a-"))
        self.assertEqual(p["metadata"]["ownerReferences"][0]["kind"], "Job")
        t = dict(TEMPLATE["spec"], nodeSelector={"role": "m"})
        self.s.create("jobs", NS, {"metadata": {"name": "b"}, "spec": {"template": {"spec": t}}})
        self.sync()
        b = [p for p in self.pods() if p["metadata"]["name"].startswith("b-")][0]
        self.assertNotIn("nodeName", b["spec"], "the master's taint is not tolerated")
        self.assertEqual(b["status"]["conditions"][0]["reason"], "Unschedulable")

    def test_retries_until_backoff_limit(self):
        self.s.create("jobs", NS, job("a", backoffLimit=1))
        self.sync()
        self.end_pods(137)
        self.sync(4)
        self.assertEqual(len(self.pods()), 2, "a second try after the back-off")
        self.end_pods(137)
        self.sync(2)
        st = self.status("a")
        self.assertEqual((st["failed"], st["conditions"][-1]["type"], st["conditions"][-1]["reason"]),
                         (2, "Failed", "BackoffLimitExceeded"))

    def test_complete_after_a_failed_try(self):
        self.s.create("jobs", NS, job("a", backoffLimit=3))
        self.sync()
        self.end_pods(1)
        self.sync(4)
        self.end_pods(0)
        self.sync()
        st = self.status("a")
        self.assertEqual((st["succeeded"], st["failed"], st["conditions"][-1]["type"]), (1, 1, "Complete"))
        self.assertIn("completionTime", st)

    def test_pod_failure_policy(self):
        rules = {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [5]}},
                           {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [4]}}]}
        self.s.create("jobs", NS, job("a", backoffLimit=3, podFailurePolicy=rules))
        self.sync()
        self.end_pods(4)
        self.sync(4)
        self.assertNotIn("failed", self.status("a"), "exit 4 ignored: not counted")
        self.end_pods(5)
        self.sync()
        self.assertEqual(self.status("a")["conditions"][-1]["reason"], "PodFailurePolicy")

    def test_deleted_job_pods_collected(self):
        self.s.create("jobs", NS, job("a"))
        self.sync()
        self.s.delete("jobs", NS, "a")
        self.sync()
        self.assertEqual(self.pods(), [])

    def test_schedule(self):
        sets = batch.parse("*/15 2 * * 1-5")
        t = datetime.datetime(2026, 12, 3, 2, 30)   # a Thursday
        self.assertTrue(batch.matches(sets, t))
        self.assertFalse(batch.matches(sets, t.replace(minute=31)))
        self.assertFalse(batch.matches(sets, datetime.datetime(2026, 12, 5, 2, 30)), "a Saturday")
        self.assertTrue(batch.matches(batch.parse("@hourly"), t.replace(minute=0)))
        self.assertIsNone(batch.parse("61 * * * *"))

    def test_cronjob_makes_jobs_and_forbids_overlap(self):
        spec = {"schedule": "* * * * *", "concurrencyPolicy": "Forbid", "jobTemplate": {"spec": {"template": TEMPLATE}}}
        cj = self.s.create("cronjobs", NS, {"metadata": {"name": "b"}, "spec": spec})
        t = datetime.datetime(2026, 12, 3, 2, 30, tzinfo=datetime.timezone.utc)
        self.c.sync_cronjob(self.s.get("cronjobs", NS, "b"), [], t)
        made = self.s.list("jobs", NS)[0]
        self.assertEqual([j["metadata"]["name"] for j in made], ["b-%d" % (t.timestamp() // 60)])
        self.assertEqual(made[0]["metadata"]["ownerReferences"][0]["uid"], cj["metadata"]["uid"])
        later = t + datetime.timedelta(minutes=1)
        self.c.sync_cronjob(self.s.get("cronjobs", NS, "b"), made, later)
        self.assertEqual(len(self.s.list("jobs", NS)[0]), 1, "Forbid: none while one runs")
        self.s.delete("cronjobs", NS, "b")
        self.c.sync_cronjobs()
        self.assertEqual(self.s.list("jobs", NS)[0], [], "a deleted CronJob's Jobs go with it")


if __name__ == "__main__":
    unittest.main()
