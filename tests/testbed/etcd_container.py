"""The `etcd` container's process: OpenShift's discover-etcd-initial-cluster, then exec etcd.

Run by the kubelet with the container's env (paths already mapped to this machine) and the etcd args.
The start check follows openshift/etcd openshift-tools/pkg/discover-etcd-initial-cluster (reference/
openshift.md 1.6): it refuses a removed member whose data dir exists, refuses a wiped data dir of a member
still in the list, and waits (up to TESTBED_DISCOVER_TIMEOUT seconds) until the member has been added.

Usage: etcd_container.py ETCD_BINARY ARG...   (env: ETCD_*, ETCDCTL_*, NODE_*, ALL_ETCD_ENDPOINTS,
TESTBED_TARGET_NAME, TESTBED_TARGET_IP, TESTBED_BOOTSTRAP_INITIAL_CLUSTER (first revision only))"""
import datetime
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import etcdapi  # noqa: E402


def log(msg):
    ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    sys.stderr.write("%s %s\n" % (ts, msg))
    sys.stderr.flush()


def expand(arg, env):
    return re.sub(r"\$\{([A-Za-z0-9_]+)\}", lambda m: env.get(m.group(1), ""), arg)


def data_dir_exists(data_dir):
    return os.path.isdir(os.path.join(data_dir, "member"))


def archive(data_dir):
    ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d-%H%M%S")
    dst = os.path.join(data_dir, "member-removed-archive-" + ts)
    os.rename(os.path.join(data_dir, "member"), dst)
    log("archived %s to %s" % (os.path.join(data_dir, "member"), dst))


def discover(env, name, peer_url, data_dir, timeout, interval):
    """Returns the ETCD_INITIAL_CLUSTER value to start with, or exits 1 with OpenShift's messages."""
    endpoints = [e for e in env.get("ALL_ETCD_ENDPOINTS", "").split(",") if e]
    client = etcdapi.Client(endpoints, env["ETCDCTL_CACERT"], env["ETCDCTL_CERT"], env["ETCDCTL_KEY"],
                            timeout=1.0)
    bootstrap = env.get("TESTBED_BOOTSTRAP_INITIAL_CLUSTER")
    deadline = time.monotonic() + timeout
    while True:
        try:
            members, _ = client.member_list()
        except etcdapi.Unreachable as e:
            members = None
            log("could not list members: %s" % e)
        except etcdapi.EtcdError as e:
            members = None
            log("could not list members: %s" % e.message)
        exists = data_dir_exists(data_dir)
        # A statically bootstrapped member is listed with its name before it ever ran; it has published
        # its client URLs only once it really started.
        started = members is not None and any(peer_url in m["peerURLs"] and m["clientURLs"] for m in members)
        if bootstrap and not exists and not started:
            log("bootstrapping a new cluster: %s" % bootstrap)
            env["ETCD_INITIAL_CLUSTER_STATE"] = "new"
            return bootstrap
        if members is not None:
            me = [m for m in members if peer_url in m["peerURLs"]]
            if me:
                m = me[0]
                if not m["name"]:
                    if exists:
                        archive(data_dir)
                        log('member "%s" is unstarted but previous members data exists, archived '
                            'the dataDir' % peer_url)
                        sys.exit(1)
                    parts = []
                    for o in members:
                        n = o["name"] or (name if o is m else "")
                        if n:
                            parts += ["%s=%s" % (n, u) for u in o["peerURLs"]]
                    return ",".join(parts)
                if not exists:
                    log('member "%s" dataDir has been destroyed and must be removed from the cluster'
                        % peer_url)
                    sys.exit(1)
                return ""
            if exists:
                log('member "%s" not found in member list but dataDir exists, check operator logs for '
                    'possible scaling problems' % peer_url)
                sys.exit(1)
            log('member "%s" not found in member list, check operator logs for possible scaling '
                'problems' % peer_url)
        log("#### sleeping...")
        if time.monotonic() + interval > deadline:
            log("timed out")
            sys.exit(1)
        time.sleep(interval)


def fail_start(env, peer_url):
    """`testbed crashloop --recovered`: a start at bootstrap whose member was not (yet) in the list, as in
    a real 4.7 cluster's etcd pod (realdata insights-operator/sample-4.7): the discovery gives up, exit 1."""
    for attempt in range(1, 4):
        log("#### attempt %d" % attempt)
        log('      member={name="etcd-bootstrap", peerURLs=[%s}, clientURLs=[%s]' % (
            env.get("ALL_ETCD_ENDPOINTS", "").split(",")[0].replace(":2379", ":2380"),
            env.get("ALL_ETCD_ENDPOINTS", "").split(",")[0]))
        log('      member "%s" not found in member list, check operator logs for possible scaling problems'
            % peer_url)
        log("#### sleeping...")
    log("timed out")
    sys.exit(1)


def main(argv):
    if len(argv) < 2:
        sys.stderr.write("usage: etcd_container.py ETCD_BINARY ARG...\n")
        return 2
    env = dict(os.environ)
    etcd, args = argv[1], [expand(a, env) for a in argv[2:]]
    name = env.get("TESTBED_TARGET_NAME", "")
    peer_url = "https://%s:2380" % env.get("TESTBED_TARGET_IP", "")
    data_dir = env.get("ETCD_DATA_DIR", "")
    timeout = float(env.get("TESTBED_DISCOVER_TIMEOUT", "30"))
    interval = float(env.get("TESTBED_DISCOVER_INTERVAL", "1"))
    if env.get("TESTBED_FAIL_START") == "1":
        fail_start(env, peer_url)
    initial = discover(env, name, peer_url, data_dir, timeout, interval)
    env["ETCD_INITIAL_CLUSTER"] = initial
    log("ETCD_INITIAL_CLUSTER=%s" % initial)
    log("exec %s %s" % (etcd, " ".join(args)))
    os.execve(etcd, [etcd] + args, env)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
