"""Service accounts and RBAC on a testbed, for tests/e2e/rbac_test.sh (standard library only).

  rbacctl.py apply KUBECONFIG LIST.json             create each object of a List (`etcd-medic rbac NAME -o json`)
  rbacctl.py drop-verb LIST.json VERB RESOURCE OUT  the same List with VERB removed from the rules on RESOURCE
  rbacctl.py token KUBECONFIG NS SA OUT             a TokenRequest for SA; OUT: a kubeconfig that uses its token
  rbacctl.py reset KUBECONFIG                       forget what every user exercised (/testbed/rbac)
  rbacctl.py usage KUBECONFIG OUT                   what every user exercised, as JSON
  rbacctl.py check LIST.json USER [--unused-ok=PERM]... USAGE.json...
                                                    every permission the List grants was exercised by USER in at
                                                    least one of the runs, and none of USER's requests was refused;
                                                    a PERM named ("VERB RESOURCE[.GROUP][ in NS]", as the check prints
                                                    it) may stay unused: a rule declared optional = true that these
                                                    runs do not need (the List does not say which rules are optional)
The kubeconfig is the testbed's (server, CA and token in the form testbed writes them)."""
import base64
import json
import re
import ssl
import sys
import urllib.error
import urllib.request


def kubeconfig(path):
    text = open(path).read()
    server = re.search(r"server: (\S+)", text).group(1)
    ca = base64.b64decode(re.search(r"certificate-authority-data: (\S+)", text).group(1)).decode()
    token = re.search(r"token: (\S+)", text).group(1)
    return server, ca, token


def request(kc, method, path, body=None):
    server, ca, token = kubeconfig(kc)
    ctx = ssl.create_default_context(cadata=ca)
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server + path, data=data, method=method, headers={
        "Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def collection(obj):
    api, kind = obj["apiVersion"], obj["kind"]
    plural = kind.lower() + ("es" if kind.endswith("s") else "s")
    base = "/api/" + api if "/" not in api else "/apis/" + api
    ns = obj["metadata"].get("namespace")
    return base + ("/namespaces/" + ns if ns else "") + "/" + plural


def apply(kc, list_file):
    for obj in json.load(open(list_file))["items"]:
        code, out = request(kc, "POST", collection(obj), obj)
        if code == 409:
            path = collection(obj) + "/" + obj["metadata"]["name"]
            _, cur = request(kc, "GET", path)
            obj["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
            code, out = request(kc, "PUT", path, obj)
        if code not in (200, 201):
            sys.exit("%s %s: %d %s" % (obj["kind"], obj["metadata"]["name"], code, out.get("message")))


def drop_verb(list_file, verb, resource, out):
    doc = json.load(open(list_file))
    hit = 0
    for obj in doc["items"]:
        for rule in obj.get("rules") or []:
            if resource in rule["resources"] and verb in rule["verbs"]:
                rule["verbs"].remove(verb)
                hit += 1
    if not hit:
        sys.exit("no rule grants %s %s" % (verb, resource))
    json.dump(doc, open(out, "w"))


def token(kc, ns, sa, out):
    code, tr = request(kc, "POST", "/api/v1/namespaces/%s/serviceaccounts/%s/token" % (ns, sa),
                       {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
    if code != 201:
        sys.exit("TokenRequest: %d %s" % (code, tr.get("message")))
    text = re.sub(r"token: \S+", "token: " + tr["status"]["token"], open(kc).read())
    with open(out, "w") as f:
        f.write(text)


def granted(list_file):
    """(verb, group, resource, namespace) of every rule; namespace "" for a ClusterRole's."""
    out = set()
    for obj in json.load(open(list_file))["items"]:
        ns = obj["metadata"].get("namespace", "") if obj["kind"] == "Role" else ""
        for rule in obj.get("rules") or []:
            for g in rule["apiGroups"]:
                for r in rule["resources"]:
                    for v in rule["verbs"]:
                        out.add((v, g, r, ns))
    return out


def name(key):
    verb, group, resource, ns = key
    return "%s %s%s%s" % (verb, resource, "." + group if group else "", " in " + ns if ns else "")


def check(list_file, user, args):
    unused_ok = {a.split("=", 1)[1] for a in args if a.startswith("--unused-ok=")}
    usage_files = [a for a in args if not a.startswith("--unused-ok=")]
    used, denied = set(), []
    for f in usage_files:
        u = json.load(open(f))["usage"].get(user, {})
        used |= {(d["verb"], d["group"], d["resource"], d["namespace"]) for d in u.get("used", [])}
        denied += u.get("denied", [])
    grants = granted(list_file)
    unknown = sorted(unused_ok - {name(g) for g in grants})
    unused = sorted(g for g in grants - used if name(g) not in unused_ok)
    beyond = sorted(used - grants)
    for n in unknown:  # a typo would let a permission pass unseen
        print("--unused-ok names no permission the role grants: %s" % n)
    for d in denied:
        print("missing: %s was refused" % name((d["verb"], d["group"], d["resource"], d["namespace"])))
    for g in unused:
        print("unused: %s is granted and was never exercised" % name(g))
    for g in beyond:  # allowed by something else than this role: the test would not see what it lacks
        print("not from the role: %s" % name(g))
    sys.exit(1 if unknown or denied or unused or beyond else 0)


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "apply":
        apply(*args)
    elif cmd == "drop-verb":
        drop_verb(*args)
    elif cmd == "token":
        token(*args)
    elif cmd == "reset":
        request(args[0], "DELETE", "/testbed/rbac")
    elif cmd == "usage":
        code, out = request(args[0], "GET", "/testbed/rbac")
        if code != 200:
            sys.exit("/testbed/rbac: %d" % code)
        json.dump(out, open(args[1], "w"))
    elif cmd == "check":
        check(args[0], args[1], args[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
