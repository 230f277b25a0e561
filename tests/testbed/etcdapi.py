"""A small client for etcd's v3 JSON gateway (POST /v3/...) and /health, over mutual TLS.

Used by the simulated operator, the etcd container's start check and `testbed status`. Member IDs come back
from the gateway as decimal strings; this module turns them into ints (use "%x" for hex)."""
import http.client
import json
import ssl
import time
import urllib.parse


class EtcdError(Exception):
    """An error answer from etcd (message as etcd wrote it, e.g. "etcdserver: member not found")."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        self.code = code


class Unreachable(Exception):
    """No endpoint answered."""


class Client:
    def __init__(self, endpoints, cacert, cert, key, timeout=2.0):
        self.endpoints = list(endpoints)
        self.timeout = timeout
        self.ctx = ssl.create_default_context(cafile=cacert)
        self.ctx.load_cert_chain(cert, key)
        self._conns = {}   # endpoint -> kept-alive HTTPSConnection (a Client is used by one thread)

    def _request(self, endpoint, method, path, body=None, timeout=None):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data else {}
        for attempt in (0, 1):
            conn = self._conns.get(endpoint)
            fresh = conn is None
            if fresh:
                u = urllib.parse.urlsplit(endpoint)
                conn = http.client.HTTPSConnection(u.hostname, u.port or 2379, context=self.ctx,
                                                   timeout=timeout or self.timeout)
            conn.timeout = timeout or self.timeout
            if conn.sock is not None:
                conn.sock.settimeout(conn.timeout)
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self._conns.pop(endpoint, None)
                if fresh or attempt:
                    raise
                continue  # a kept-alive connection the server closed meanwhile: once more, fresh
            if resp.will_close:
                conn.close()
                self._conns.pop(endpoint, None)
            else:
                self._conns[endpoint] = conn
            return resp.status, raw
        raise OSError("unreachable")

    def close(self):
        for c in self._conns.values():
            c.close()
        self._conns = {}

    def call(self, path, body=None, endpoints=None, timeout=None):
        """POSTs to the first endpoint that answers. EtcdError on an etcd error; Unreachable if none answers."""
        errors = []
        for ep in endpoints or self.endpoints:
            try:
                status, raw = self._request(ep, "POST", path, body if body is not None else {}, timeout)
            except (OSError, http.client.HTTPException, ssl.SSLError) as e:
                errors.append("%s: %s" % (ep, e))
                continue
            try:
                doc = json.loads(raw.decode() or "{}")
            except ValueError:
                raise EtcdError("bad answer from %s (HTTP %d): %r" % (ep, status, raw[:200]))
            if status != 200 or "error" in doc:
                msg = doc.get("message") or doc.get("error") or "HTTP %d" % status
                if status == 503 or "no leader" in msg:
                    errors.append("%s: %s" % (ep, msg))
                    continue
                raise EtcdError(msg, doc.get("code"))
            return doc
        raise Unreachable("; ".join(errors) or "no endpoints")

    def member_list(self, endpoints=None, timeout=None):
        """[{id:int, name, peerURLs, clientURLs, isLearner}], plus the cluster id (int)."""
        doc = self.call("/v3/cluster/member/list", {}, endpoints, timeout)
        out = []
        for m in doc.get("members", []):
            out.append({"id": int(m["ID"]), "name": m.get("name", ""),
                        "peerURLs": m.get("peerURLs", []), "clientURLs": m.get("clientURLs", []),
                        "isLearner": bool(m.get("isLearner", False))})
        return out, int(doc.get("header", {}).get("cluster_id", "0"))

    def member_add(self, peer_url, learner=True):
        doc = self.call("/v3/cluster/member/add", {"peerURLs": [peer_url], "isLearner": learner})
        return int(doc["member"]["ID"])

    def member_remove(self, member_id):
        self.call("/v3/cluster/member/remove", {"ID": str(member_id)})

    def member_promote(self, member_id):
        self.call("/v3/cluster/member/promote", {"ID": str(member_id)})

    def status(self, endpoint, timeout=None):
        return self.call("/v3/maintenance/status", {}, [endpoint], timeout)

    def health(self, endpoint, timeout=None):
        """(healthy: bool, reason) from GET /health of one endpoint."""
        try:
            status, raw = self._request(endpoint, "GET", "/health", None, timeout)
        except (OSError, http.client.HTTPException, ssl.SSLError) as e:
            return False, str(e)
        try:
            doc = json.loads(raw.decode())
        except ValueError:
            return False, "HTTP %d" % status
        ok = status == 200 and doc.get("health") == "true"
        return ok, doc.get("reason", "") if not ok else ""


def wait_until(fn, timeout, interval=0.1):
    """Polls fn() until it returns a true value or timeout seconds pass; returns the last value."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= end:
            return v
        time.sleep(interval)
