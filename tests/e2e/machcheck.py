#!/usr/bin/env python3
"""Assertions on `testbed status DIR` JSON (the truth) after a machine replacement (replace-unhealthy-member), for
tests/e2e/machine_*_test.sh. Usage: machcheck.py CMD STATUS.json [ARGS]

  replaced BEFORE AFTER NODE   NODE's Node and Machine (and BareMetalHost) are gone; exactly one node that runs
                               etcd is new, Ready, with a started healthy voting member on its IP; every other
                               node's member is the one it had; prints the new node's name
  machine S NODE               the name of NODE's Machine ("" if none)
  zone S MACHINE               the zone of MACHINE ("" if none)
  host-state S NAME            the provisioning state of BareMetalHost NAME ("" if none)
  members S                    how many members etcd lists
  nodes S                      how many nodes there are (a Node object; a powered-off machine's deleted Node is none)
"""
import json
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def nodes_with_object(s):
    return {n: v for n, v in s.get("nodes", {}).items() if v.get("ready") is not None}


def member_on(s, node):
    ip = s.get("nodes", {}).get(node, {}).get("ip")
    for m in s["etcd"]["members"]:
        if m.get("name") == node or (ip and any(("//%s:" % ip) in u for u in m.get("peerURLs", []))):
            return m
    return None


def machine_of(s, node):
    for m in s.get("machines") or []:
        if m.get("node") == node:
            return m
    return None


def replaced(before, after, node):
    b, a = load(before), load(after)
    problems = []
    if node in nodes_with_object(a):
        problems.append("the Node %s is still there" % node)
    old_machine = machine_of(b, node)
    if old_machine and any(m["name"] == old_machine["name"] for m in a.get("machines") or []):
        problems.append("the Machine %s is still there" % old_machine["name"])
    old_hosts = {h["name"] for h in b.get("baremetalhosts") or [] if h.get("name") == node}
    for h in a.get("baremetalhosts") or []:
        if h["name"] in old_hosts:
            problems.append("the BareMetalHost %s is still there" % h["name"])
    new = [n for n in nodes_with_object(a) if n not in nodes_with_object(b)]
    if len(new) != 1:
        problems.append("new nodes: %s, want one" % new)
    for n in new:
        if a["nodes"][n].get("ready") != "True":
            problems.append("the new node %s is not Ready" % n)
        m = member_on(a, n)
        if not m or m.get("status") != "started" or not m.get("healthy") or m.get("isLearner"):
            problems.append("the new node %s has no started, healthy, voting member: %s" % (n, m))
    for n in nodes_with_object(b):
        if n == node:
            continue
        mb, ma = member_on(b, n), member_on(a, n)
        if not mb or not ma or mb.get("id") != ma.get("id"):
            problems.append("node %s: its member changed (%s -> %s)" % (n, mb and mb.get("id"), ma and ma.get("id")))
    if problems:
        print("not replaced: " + "; ".join(problems))
        return 1
    print(new[0])
    return 0


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "replaced":
        return replaced(*args)
    s = load(args[0])
    if cmd == "machine":
        m = machine_of(s, args[1])
        print(m["name"] if m else "")
    elif cmd == "zone":
        print(next((m.get("zone") or "" for m in s.get("machines") or [] if m["name"] == args[1]), ""))
    elif cmd == "host-state":
        print(next((h.get("state") or "" for h in s.get("baremetalhosts") or [] if h["name"] == args[1]), ""))
    elif cmd == "members":
        print(len(s["etcd"]["members"]))
    elif cmd == "nodes":
        print(len(nodes_with_object(s)))
    else:
        print("unknown command " + cmd, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
