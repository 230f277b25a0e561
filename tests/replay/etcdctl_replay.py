"""etcdctl as a capture saw it: the answer (stdout, stderr, exit code) to one argv run in an etcd pod.

Reads are answered from the captured `etcdctl ... -w json` outputs (must-gather's etcd_info/*.json, taken with
ETCDCTL_ENDPOINTS = every member's client URLs, which is what --cluster uses), with etcdctl's own exit codes
and stderr (etcd-io/etcd etcdctl/ctlv3/command/ep_command.go, 3.4 and 3.5 alike):
  - endpoint health: the JSON list; "Error: unhealthy cluster" and exit 1 when an endpoint is unhealthy;
  - endpoint status: the JSON list; every member client URL missing from it named on stderr
    ("Failed to get the status of endpoint URL (context deadline exceeded)"), exit 1;
  - a read the capture lacks: "Error: context deadline exceeded", exit 1 (etcdctl reaching no endpoint).
Anything else (a membership change, a snapshot, a shell) is refused with exit 1 and reported by kind:
"write" for what changes the cluster, "unanswered" for the rest."""

import json

READS = {("member", "list"): "member_list", ("endpoint", "health"): "endpoint_health",
         ("endpoint", "status"): "endpoint_status", ("alarm", "list"): "alarm_list",
         ("endpoint", "hashkv"): "endpoint_hashkv"}     # no capture has hashkv: answered as missing
WRITES = {("member", "add"), ("member", "remove"), ("member", "promote"), ("member", "update"),
          ("alarm", "disarm"), ("defrag",), ("put",), ("del",), ("compaction",), ("move-leader",),
          ("lease", "grant"), ("lease", "revoke"), ("txn",)}
FLAGS_WITH_VALUE = {"-w", "--write-out", "--endpoints", "--command-timeout", "--dial-timeout", "--rev"}
DEADLINE = "Error: context deadline exceeded\n"


class Answer:
    def __init__(self, stdout="", stderr="", code=0, kind="read", name=None):
        self.stdout, self.stderr, self.code = stdout, stderr, code
        self.kind = kind          # read | missing | write | unanswered
        self.name = name          # the capture's output name (member_list ...) or the command


def _strip_env(argv):
    """(argv without a leading `env NAME=VALUE ...`, those NAME=VALUE as a dict): how the tool sets
    ETCDCTL_ENDPOINTS."""
    env = {}
    if argv and argv[0] == "env":
        argv = argv[1:]
        while argv and "=" in argv[0] and not argv[0].startswith("-"):
            name, _, value = argv[0].partition("=")
            env[name], argv = value, argv[1:]
    return argv, env


def _only(doc, key, endpoints):
    """The captured per-endpoint list cut to the endpoints asked (etcdctl answers for those only)."""
    return [e for e in doc or [] if e.get(key) in endpoints]


def _split(args):
    """(positional words, {flag: value}) of etcdctl's arguments."""
    words, flags, i = [], {}, 0
    while i < len(args):
        a = args[i]
        if a.startswith("-"):
            name, eq, value = a.partition("=")
            if not eq and name in FLAGS_WITH_VALUE and i + 1 < len(args):
                i, value = i + 1, args[i + 1]
            flags[name] = value
        else:
            words.append(a)
        i += 1
    return words, flags


def _status_stderr(outputs, listed, endpoints=None):
    """etcdctl's stderr line for every member client URL (or endpoint asked) endpoint status could not reach."""
    seen = {e.get("Endpoint") for e in listed or []}
    urls = endpoints or [u for m in (outputs.get("member_list") or {}).get("members") or []
                         for u in m.get("clientURLs") or []]
    return "".join("Failed to get the status of endpoint %s (context deadline exceeded)\n" % u
                   for u in urls if u not in seen)


def _read(outputs, name, raw, endpoints=None):
    """endpoints: the ones asked (ETCDCTL_ENDPOINTS, --endpoints), for health and status; None: the capture's."""
    if name not in outputs:
        return Answer(stderr=DEADLINE, code=1, kind="missing", name=name)
    doc, stdout = outputs[name], raw[name]
    if endpoints is not None and name in ("endpoint_health", "endpoint_status"):
        doc = _only(doc, "endpoint" if name == "endpoint_health" else "Endpoint", endpoints)
        stdout = json.dumps(doc) + "\n"
    if name == "endpoint_health" and any(not e.get("health") for e in doc or []):
        return Answer(stdout, "Error: unhealthy cluster\n", 1, name=name)
    if name == "endpoint_status":
        err = _status_stderr(outputs, doc, endpoints)
        return Answer(stdout, err, 1 if err else 0, name=name)
    return Answer(stdout, name=name)


def answer(outputs, raw, argv):
    """The answer to argv. outputs: {name: decoded JSON}; raw: {name: the captured text, as etcdctl printed it}."""
    argv, env = _strip_env(list(argv))
    if not argv or argv[0].rsplit("/", 1)[-1] != "etcdctl":
        prog = argv[0] if argv else ""
        return Answer(stderr="replay: %s: not answered from a capture\n" % prog, code=127, kind="unanswered",
                      name=" ".join(argv))
    words, flags = _split(argv[1:])
    key = tuple(words[:2])
    if key in WRITES or tuple(words[:1]) in WRITES:
        return Answer(stderr="Error: replay: %s refused (read-only)\n" % " ".join(words), code=1, kind="write",
                      name=" ".join(words))
    if key in READS and flags.get("-w", flags.get("--write-out")) == "json":
        asked = flags.get("--endpoints") or env.get("ETCDCTL_ENDPOINTS")
        return _read(outputs, READS[key], raw, asked.split(",") if asked and "--cluster" not in flags else None)
    return Answer(stderr="Error: replay: etcdctl %s: no captured output\n" % " ".join(argv[1:]), code=1,
                  kind="unanswered", name=" ".join(words))
