#!/usr/bin/env python3
"""A read-only Kubernetes API server that replays one capture of a real cluster (../shared/realdata).

It is the testbed's API server (tests/testbed/apiserver.py: HTTPS, bearer token, discovery, lists with selectors,
pods/exec over WebSocket v4 or SPDY) over a store holding the capture's objects exactly as captured, with:
  - every write refused (403) and recorded in server.writes: POST/PUT/PATCH/DELETE of any object (a debug pod
    too), also with dryRun=All; only the access reviews (SelfSubjectAccessReview, SelfSubjectReview, which store
    nothing) and pods/exec are POSTs it answers. With answer_dry_runs=True a request with dryRun=All (and only
    those) is answered as the API server would (checked, preconditions too, and not stored), and recorded in
    server.dry_runs;
  - pods/exec of etcdctl answered from the captured etcdctl output (etcdctl_replay.py); each exec's answer kind
    is recorded in server.execs, and a membership change in server.writes;
  - /version from the masters' kubelet (the capture's Kubernetes), exec over v4 only (OpenShift <= 4.15).

    server = ReplayServer(capture.load("must-gather-clean/aws"), workdir).start()
    server.kubeconfig  (a file in workdir); server.writes; server.execs; server.stop()

By hand: tests/replay/replay_server.py must-gather-clean/aws DIR  (serves until interrupted; DIR/kubeconfig)."""
import json
import os
import re
import signal
import subprocess
import sys
import threading

import capture
from apiserver import ApiServer, FaultTable  # noqa: E402  (tests/testbed, on sys.path through capture)
import etcdctl_replay
import pki
from store import RESOURCES, ApiError, Store, _typed

TOKEN = "replay-admin-token-0123456789"
READ_METHODS = ("GET", "HEAD")
NOT_STORED_POSTS = ("/selfsubjectaccessreviews", "/selfsubjectreviews", "/exec")
# SelfSubjectReview: beta from Kubernetes 1.27, GA from 1.28 (alpha in 1.26 behind a gate that is off by
# default); before, `oc whoami` asks OpenShift's users/~.
SELF_SUBJECT_REVIEW = re.compile(r"^/apis/authentication\.k8s\.io/(v1|v1beta1|v1alpha1)/selfsubjectreviews$")
SELF_SUBJECT_REVIEW_SINCE = {"v1": 28, "v1beta1": 27, "v1alpha1": 10 ** 6}


class CaptureStore(Store):
    """The testbed's store, filled with objects as captured (uid, resourceVersion, timestamps kept)."""

    def put(self, plural, obj):
        res = RESOURCES[plural]
        obj = _typed(res, obj)
        meta = obj["metadata"]
        with self._cond:
            self._objects[self._key(res, meta.get("namespace"), meta["name"])] = obj
            rv = str(meta.get("resourceVersion", ""))
            if rv.isdigit():
                self._rv = max(self._rv, int(rv))


class ReplayServer(ApiServer):
    def __init__(self, cap, workdir, answer_dry_runs=False):
        self.capture, self.workdir = cap, workdir
        self.answer_dry_runs = answer_dry_runs
        self.writes, self.execs, self.dry_runs = [], [], []
        self._log_lock = threading.Lock()
        store = CaptureStore()
        for plural, obj in cap.objects:
            store.put(plural, obj)
        crt, key = _server_cert(workdir)
        super().__init__(store, FaultTable(), "127.0.0.1", 0, crt, key, tokens={TOKEN: "kube:admin"},
                         exec_handler=self._exec, permissions=lambda *a: True, allow_v5=False,
                         kube_version=cap.kube_version)
        self.kubeconfig = os.path.join(workdir, "kubeconfig")

    def start(self):
        super().start()
        _write_kubeconfig(self.kubeconfig, self.url, os.path.join(self.workdir, "ca.crt"))
        return self

    def _record(self, where, item):
        with self._log_lock:
            where.append(item)

    def _route(self, req):
        if req.method not in READ_METHODS and not req.path.rstrip("/").endswith(NOT_STORED_POSTS):
            if self.answer_dry_runs and self._is_dry_run(req):
                self._record(self.dry_runs, "%s %s" % (req.method, req.h.path))
                return super()._route(req)
            self._record(self.writes, "%s %s" % (req.method, req.h.path))
            raise ApiError(403, "Forbidden", "the replay of %s is read-only: %s %s refused"
                           % (self.capture.rel, req.method, req.path))
        if self._openshift_user(req):
            return None
        return super()._route(req)

    @staticmethod
    def _is_dry_run(req):
        """dryRun=All in the query (POST, PUT, PATCH) or in the DeleteOptions body (DELETE), and nothing else."""
        values = list(req.query.get("dryRun", []))
        if req.method == "DELETE":
            try:
                values += json.loads(req.body or b"{}").get("dryRun") or []
            except (ValueError, AttributeError):
                return False
        return bool(values) and all(v == "All" for v in values)

    def _openshift_user(self, req):
        """The user API of OpenShift (users/~) and the Kubernetes releases without SelfSubjectReview."""
        m = SELF_SUBJECT_REVIEW.match(req.path)
        me = req.path == "/apis/user.openshift.io/v1/users/~" and req.method == "GET"
        if not (m or me):
            return False
        user = self._authenticate(req)
        if user is None:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        req.user = user
        if m and int(self.kube_version.split(".")[1]) < SELF_SUBJECT_REVIEW_SINCE[m.group(1)]:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if me:
            self.send_json(req, 200, {"kind": "User", "apiVersion": "user.openshift.io/v1",
                                      "metadata": {"name": user}, "identities": None,
                                      "groups": ["system:authenticated", "system:cluster-admins"]})
            return True
        return False

    def _exec(self, namespace, pod, container, argv):
        for cs in pod.get("status", {}).get("containerStatuses") or []:
            if cs.get("name") == container and "running" not in (cs.get("state") or {}):
                raise ApiError(400, "BadRequest", "container %s is not running" % container)
        a = etcdctl_replay.answer(self.capture.etcdctl, self.capture.etcdctl_text, argv)
        self._record(self.execs, (a.kind, a.name, pod["metadata"]["name"]))
        if a.kind == "write":
            self._record(self.writes, "exec %s: %s" % (pod["metadata"]["name"], " ".join(argv)))
        return subprocess.Popen(["sh", "-c", 'printf %s "$1"; printf %s "$2" >&2; exit "$3"', "sh",
                                 a.stdout, a.stderr, str(a.code)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _server_cert(workdir):
    ca_crt, ca_key = pki.make_ca(workdir, "ca", "replay-ca")
    crt, key = os.path.join(workdir, "server.crt"), os.path.join(workdir, "server.key")
    pki.issue(ca_crt, ca_key, crt, key, "127.0.0.1", ips=("127.0.0.1",), dns=("localhost",), usage="serverAuth")
    return crt, key


def _write_kubeconfig(path, url, ca):
    text = "\n".join([
        "apiVersion: v1", "kind: Config", "current-context: replay",
        "clusters:", "- name: replay", "  cluster:", "    server: %s" % url, "    certificate-authority: %s" % ca,
        "users:", "- name: admin", "  user:", "    token: %s" % TOKEN,
        "contexts:", "- name: replay", "  context:", "    cluster: replay", "    user: admin",
        "    namespace: %s" % capture.NS, ""])
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: %s CAPTURE DIR   (CAPTURE: one of %s)\n"
                         % (argv[0], ", ".join(rel for rel, _ in capture.CAPTURES)))
        return 2
    os.makedirs(argv[2], exist_ok=True)
    server = ReplayServer(capture.load(argv[1]), argv[2]).start()
    print("serving %s at %s; KUBECONFIG=%s" % (argv[1], server.url, server.kubeconfig), flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait(24 * 3600)
    server.stop()
    print("writes refused: %d %s" % (len(server.writes), server.writes))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
