#!/usr/bin/env python3
"""Assertions on `testbed status DIR` JSON (the truth), for the e2e tests. Usage: tbcheck.py CMD STATUS.json [ARGS]

  healthy S N          N members, all started, healthy and voting; every etcd pod Running and Ready;
                       every node at the operator's latest revision; exit 1 with the reason otherwise
  member-id S NODE     the ID of NODE's member ("" if none)
  ids S                "name id" per member, sorted
  secret-uid S NAME    the uid of secret NAME ("" if absent)
  overrides S          spec.unsupportedConfigOverrides as JSON
  fingerprint S        what a dry run must not change: members, secrets, operator spec, node files
  files S NODE         the files under NODE's var/lib, one per line
  kept S NODE          exit 0 if NODE keeps a moved-aside manifest and data dir under var/lib/etcd-backup
  crashlooping S NODE  exit 0 if NODE's etcd container is waiting in CrashLoopBackOff or Error
  mounted S NODE PATH  exit 0 if PATH is a mount point on NODE
  has-file S NODE RE   exit 0 if one of NODE's listed files (manifests, var/lib/etcd*, tmp) matches RE
  no-lease S           exit 0 if there is no Lease etcd-medic (the tool's, one run at a time)
  job S NAME           the Job's outcome: "Complete|<Failed reason>|Running SUCCEEDED FAILED EXIT,EXIT..."
  job-pods S NAME      the Job's pods, oldest first
  cronjob-active S CJ  how many of the CronJob's Jobs are active
  jobs-done S CRONJOB  "COMPLETE FAILED": how many of the CronJob's Jobs ended each way
  configmap S NAME KEY data[KEY] of etcd-medic's ConfigMap NAME (exit 1 if none)
  journals S STATE [P] the journal ConfigMaps whose state is STATE (running, done) [of procedure P]
"""
import json
import re
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def etcd_pods(s):
    return [p for p in s.get("pods", []) if p.get("labels", {}).get("k8s-app") == "etcd"]


def healthy(s, n):
    members = s["etcd"]["members"]
    problems = []
    if len(members) != int(n):
        problems.append("%d members, want %s" % (len(members), n))
    for m in members:
        if m.get("status") != "started" or not m.get("healthy") or m.get("isLearner"):
            problems.append("member %s %s: %s healthy=%s learner=%s" % (
                m.get("id"), m.get("name"), m.get("status"), m.get("healthy"), m.get("isLearner")))
    pods = etcd_pods(s)
    if len(pods) != int(n):
        problems.append("%d etcd pods, want %s" % (len(pods), n))
    for p in pods:
        if p.get("phase") != "Running" or not p.get("ready"):
            problems.append("pod %s %s ready=%s" % (p["name"], p.get("phase"), p.get("ready")))
    op = s["operator"]
    for ns in op.get("nodeStatuses", []):
        if ns.get("currentRevision") != op.get("latestAvailableRevision"):
            problems.append("node %s at revision %s, latest %s" % (
                ns["nodeName"], ns.get("currentRevision"), op.get("latestAvailableRevision")))
    if problems:
        print("not healthy: " + "; ".join(problems))
        return 1
    return 0


def member_id(s, node):
    for m in s["etcd"]["members"]:
        if m.get("name") == node:
            print(m["id"])
            return 0
    print("")
    return 0


def ids(s):
    for line in sorted("%s %s" % (m.get("name"), m["id"]) for m in s["etcd"]["members"]):
        print(line)
    return 0


def secret_uid(s, name):
    for sec in s.get("secrets", []):
        if sec["name"] == name:
            print(sec["uid"])
            return 0
    print("")
    return 0


def overrides(s):
    print(json.dumps(s["operator"].get("unsupportedConfigOverrides"), sort_keys=True))
    return 0


def fingerprint(s):
    fp = {
        "members": sorted((m["id"], m.get("name"), tuple(m.get("peerURLs", [])), m.get("isLearner"))
                          for m in s["etcd"]["members"]),
        "secrets": sorted((x["name"], x["uid"], x.get("resourceVersion")) for x in s.get("secrets", [])),
        "operator": {k: s["operator"].get(k) for k in
                     ("forceRedeploymentReason", "unsupportedConfigOverrides", "latestAvailableRevision")},
        "files": {n: v.get("files") for n, v in s["nodes"].items()},
    }
    print(json.dumps(fp, sort_keys=True, indent=1))
    return 0


def files(s, node):
    for f in s["nodes"][node]["files"].get("var/lib", []):
        print(f)
    return 0


def kept(s, node):
    found = s["nodes"][node]["files"].get("var/lib", [])
    manifest = any(re.match(r"^/var/lib/etcd-backup/.+/etcd-pod\.yaml$", f) for f in found)
    data = any(re.match(r"^/var/lib/etcd-backup/.+/etcd/member/$", f) for f in found)
    return 0 if manifest and data else 1


def mounted(s, node, path):
    return 0 if path in s["nodes"][node].get("mounts", []) else 1


def has_file(s, node, pattern):
    found = [f for files in s["nodes"][node]["files"].values() for f in files]
    return 0 if any(re.match(pattern, f) for f in found) else 1


def no_lease(s, name="etcd-medic"):
    return 1 if any(x.get("name") == name for x in s.get("leases", [])) else 0


def crashlooping(s, node):
    for p in etcd_pods(s):
        if p.get("node") == node:
            c = p.get("containers", {}).get("etcd", {})
            return 0 if c.get("reason") in ("CrashLoopBackOff", "Error") else 1
    return 1


def job(s, name):
    """Prints the Job's outcome: its condition (Complete or the Failed reason), succeeded, failed, and each pod's
    exit code in order ("Complete 1 1 137,0"); exit 1 when there is no such Job."""
    for j in s.get("jobs", []):
        if j["name"] == name:
            cond = "Complete" if "Complete" in j["conditions"] else j["conditions"].get("Failed", "Running")
            codes = ",".join(str(p["exitCodes"][0] if p["exitCodes"] else None) for p in j["pods"])
            print(cond, j["succeeded"], j["failed"], codes)
            return 0
    return 1


def job_pods(s, name):
    """Prints the names of the Job's pods, oldest first."""
    for j in s.get("jobs", []):
        if j["name"] == name:
            for p in j["pods"]:
                print(p["name"])
    return 0


def cronjob_active(s, name):
    """Prints how many Jobs of the CronJob are active (its status.active)."""
    print(next((c["active"] for c in s.get("cronjobs", []) if c["name"] == name), 0))
    return 0


def jobs_done(s, cronjob):
    """Prints how many Jobs of the CronJob are Complete, and how many Failed."""
    mine = [j for j in s.get("jobs", []) if j["cronjob"] == cronjob]
    print(sum(1 for j in mine if "Complete" in j["conditions"]), sum(1 for j in mine if "Failed" in j["conditions"]))
    return 0


def configmap(s, name, key):
    """Prints data[KEY] of etcd-medic's ConfigMap NAME; exit 1 when there is none."""
    for m in s.get("medic_configmaps", []):
        if m["name"] == name and key in m["data"]:
            print(m["data"][key])
            return 0
    return 1


def journals(s, state, procedure=None):
    """Prints the names of the journal ConfigMaps in STATE (running or done) [of PROCEDURE], one a line."""
    for m in s.get("medic_configmaps", []):
        if m["labels"].get("etcd-medic.openshift.io/state") == state and \
                procedure in (None, m["labels"].get("etcd-medic.openshift.io/journal")):
            print(m["name"])
    return 0


COMMANDS = {"job": job, "job-pods": job_pods, "jobs-done": jobs_done, "cronjob-active": cronjob_active, "configmap": configmap, "journals": journals,
            "healthy": healthy, "member-id": member_id, "ids": ids, "secret-uid": secret_uid,
            "overrides": overrides, "fingerprint": fingerprint, "files": files, "kept": kept, "crashlooping": crashlooping,
            "mounted": mounted, "has-file": has_file, "no-lease": no_lease}

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    sys.exit(COMMANDS[sys.argv[1]](load(sys.argv[2]), *sys.argv[3:]))
