"""The simulated Kubernetes/OpenShift API server of the testbed (HTTPS, the Kubernetes wire format).

    server = ApiServer(store, FaultTable(), "127.0.0.1", 0, certfile, keyfile,
                       tokens={"tok": "kube:admin"}, exec_handler=fn, permissions=fn)
    server.start(); server.url; server.stop()

exec_handler(namespace, pod, container, argv) -> subprocess.Popen (stdin/stdout/stderr pipes) or
raises ApiError. permissions(username, verb, resource, namespace, subresource) -> bool; the admin
endpoint /testbed/faults (POST {method, path, status, retry_after, delay, drop, count}; DELETE;
GET) is for users with permissions(user, "*", "*", None, None). rbac (tests/testbed/rbac.py), if given, authenticates
service account tokens (TokenRequest), decides their requests by the RBAC objects in the store, and records what
every user exercised (GET/DELETE /testbed/rbac, for admins).

Options: allow_v5 (offer v5.channel.k8s.io for exec; v4 always), allow_spdy (exec over SPDY/3.1,
which kubectl falls back to), kube_version (/version; note that /usr/bin/kubectl may be gcloud's
dispatcher, which runs kubectl 1.MINOR of the server, and kubectl < 1.30 execs over SPDY),
log_handler(namespace, pod, container, previous, tail_lines) -> str|bytes for pods/log,
watch_bookmark_seconds. /openapi/v2 and /openapi/v3 are generated from the resource table
(apiserver_openapi*.py). server.request_log holds the last 2000 (method, path, user, code).
"""
import json
import re
import socket
import socketserver
import ssl
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit, parse_qs, unquote

import apiserver_discovery as discovery
import apiserver_openapi as openapi
import apiserver_openapi_v2 as openapi_v2
import rbac as rbac_mod
import apiserver_handlers as handlers
import apiserver_proto
from apiserver_request import compact, method_not_allowed
from store import ApiError, RESOURCES

PUBLIC_PATHS = ("/version", "/healthz", "/readyz", "/livez")
FAULT_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                 405: "MethodNotAllowed", 409: "Conflict", 410: "Expired", 422: "Invalid",
                 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
                 504: "Timeout"}


class FaultTable:
    """Injected API faults: the first matching entry applies; count None means forever."""

    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []

    def add(self, method, path_regex, status=None, retry_after=None, delay=None, drop=False,
            count=None):
        if status is None and delay is None and not drop:
            raise ValueError("a fault needs status, delay or drop")
        re.compile(path_regex)
        f = {"method": (method or "*").upper(), "path": path_regex, "status": status,
             "retry_after": retry_after, "delay": delay, "drop": bool(drop), "count": count}
        with self._lock:
            self._faults.append(f)
        return dict(f)

    def clear(self):
        with self._lock:
            self._faults = []

    def list(self):
        with self._lock:
            return [dict(f) for f in self._faults]

    def match(self, method, path):
        with self._lock:
            for f in self._faults:
                if f["method"] not in ("*", method.upper()) or not re.search(f["path"], path):
                    continue
                if f["count"] is not None:
                    f["count"] -= 1
                    if f["count"] <= 0:
                        self._faults.remove(f)
                return dict(f)
        return None


class Request:
    """What a handler needs from one HTTP request."""

    def __init__(self, h, body):
        self.h = h
        self.method = h.command
        url = urlsplit(h.path)
        self.path = url.path
        self.query = parse_qs(url.query, keep_blank_values=True)
        self.body = body
        self.user = None

    def json_body(self):
        if not self.body:
            return {}
        if "protobuf" in (self.h.headers.get("Content-Type") or ""):
            try:
                return apiserver_proto.decode_object(self.body)[2]
            except (ValueError, IndexError, KeyError, UnicodeDecodeError) as e:
                raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an "
                               "unknown format - accepted media types include: "
                               "application/json (%s)" % e)
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise ApiError(400, "BadRequest", "the request body is not valid JSON: %s" % e)


class _Drop(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "testbed-apiserver"
    timeout = 300

    def setup(self):
        self.request.settimeout(10)
        # as kube-apiserver does: without it a response's second write waits for the client's delayed ACK
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request.do_handshake()
        super().setup()
        self.server.api._track(self.request, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.api._track(self.request, False)

    def log_message(self, fmt, *args):
        pass

    def _do(self):
        self.server.api._handle(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _do


class _HTTPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def get_request(self):
        sock, addr = self.socket.accept()
        return self.ssl_context.wrap_socket(sock, server_side=True,
                                            do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        pass


class ApiServer:
    def __init__(self, store, faults, host, port, certfile, keyfile, tokens, exec_handler,
                 permissions, rbac=None, allow_v5=True, kube_version="1.32.4", log_handler=None,
                 watch_bookmark_seconds=10.0, allow_spdy=True, admin_handler=None):
        self.store, self.faults = store, faults
        self.tokens, self.exec_handler, self.permissions = tokens, exec_handler, permissions
        self.rbac = rbac
        self.allow_v5, self.kube_version, self.log_handler = allow_v5, kube_version, log_handler
        self.bookmark_seconds = watch_bookmark_seconds
        self.allow_spdy = allow_spdy
        self.admin_handler = admin_handler     # (method, path, body) -> (code, doc) for other /testbed/ paths
        self.request_log = deque(maxlen=2000)     # (method, path?query, user, code)
        self._conns, self._conns_lock = set(), threading.Lock()
        self._stopping = False
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certfile, keyfile)
        ctx.set_alpn_protocols(["http/1.1"])
        self._httpd = _HTTPServer((host, port), _Handler, bind_and_activate=True)
        self._httpd.ssl_context = ctx
        self._httpd.api = self
        self._thread = None

    @property
    def url(self):
        host, port = self._httpd.server_address[:2]
        return "https://%s:%d" % (host, port)

    def start(self):
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.2}, daemon=True,
                                        name="apiserver")
        self._thread.start()
        return self

    def stop(self):
        self._stopping = True
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread:
            self._thread.join(5)

    def _track(self, conn, add):
        with self._conns_lock:
            (self._conns.add if add else self._conns.discard)(conn)

    # ------------------------------------------------------------------ request plumbing
    def _read_body(self, h):
        n = int(h.headers.get("Content-Length") or 0)
        if n:
            return h.rfile.read(n)
        if "chunked" in (h.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            for _ in range(100000):
                size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    h.rfile.readline()
                    break
                parts.append(h.rfile.read(size))
                h.rfile.readline()
            return b"".join(parts)
        return b""

    def _handle(self, h):
        req = Request(h, self._read_body(h))
        try:
            self._route(req)
        except ApiError as e:
            self.send_status(req, e)
        except _Drop:
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        except (OSError, ssl.SSLError):
            h.close_connection = True
        except Exception as e:  # a bug here must not kill the connection thread silently
            self.send_status(req, ApiError(500, "InternalError",
                                           "Internal error occurred: %r" % e))

    def send_json(self, req, code, obj, headers=(), content_type="application/json"):
        body = obj if isinstance(obj, bytes) else compact(obj)
        h = req.h
        h.send_response(code)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            h.send_header(k, v)
        for w in getattr(req, "warnings", None) or ():     # fieldValidation=Warn (apiserver_openapi.check)
            h.send_header("Warning", '299 - "%s"' % w.replace('"', '\\"'))
        h.end_headers()
        if req.method != "HEAD":
            h.wfile.write(body)
        self.request_log.append((req.method, h.path, req.user, code))

    def send_status(self, req, err):
        status = err.status()
        ra = (err.details or {}).get("retryAfterSeconds")
        headers = [("Retry-After", str(ra))] if ra else []
        if err.code == 401:
            headers.append(("WWW-Authenticate", 'Basic realm="kubernetes-master"'))
        self.send_json(req, err.code, status, headers)

    def _authenticate(self, req):
        auth = req.h.headers.get("Authorization") or ""
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
            return self.tokens.get(token) or (self.rbac.user_of(token) if self.rbac else None)
        return None

    def allowed(self, user, verb, resource, ns, sub=None, group="", name=None):
        if self.rbac:
            return self.rbac.allowed(user, verb, resource, ns, sub, group, name)
        return bool(self.permissions(user, verb, resource, ns, sub))

    def _apply_fault(self, req):
        f = self.faults.match(req.method, req.h.path)
        if not f:
            return
        if f["delay"]:
            time.sleep(float(f["delay"]))
        if f["drop"]:
            raise _Drop()
        if f["status"]:
            code = int(f["status"])
            reason = FAULT_REASONS.get(code, "InternalError" if code >= 500 else "BadRequest")
            msg = ("Too many requests, please try again later." if code == 429
                   else "injected fault: %d %s" % (code, reason))
            details = {"retryAfterSeconds": int(f["retry_after"])} if f["retry_after"] else None
            raise ApiError(code, reason, msg, details)

    def _route(self, req):
        path = req.path.rstrip("/") or "/"
        req.user = self._authenticate(req)
        if path.startswith("/testbed/"):
            return self._admin(req, path)
        if req.user is None and path not in PUBLIC_PATHS:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        self._apply_fault(req)
        if path == "/version":
            return self.send_json(req, 200, discovery.version_info(self.kube_version))
        if path in ("/healthz", "/readyz", "/livez"):
            return self.send_json(req, 200, b"ok", content_type="text/plain")
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[0] == "api":
            return self._api(req, "", parts[1:])
        if path == "/openapi/v2":
            return self._openapi_v2(req)
        if parts[:2] == ["openapi", "v3"]:
            return self._get_only(req, openapi.lookup(parts[2:], self.kube_version))
        if parts[0] == "apis":
            return self._apis(req, parts[1:])
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _apis(self, req, parts):
        if not parts:
            return self._get_only(req, discovery.api_group_list())
        if len(parts) == 1:
            return self._get_only(req, discovery.api_group(parts[0]))
        return self._api(req, parts[0], parts[1:])

    def _openapi_v2(self, req):
        if req.method not in ("GET", "HEAD"):
            raise method_not_allowed()
        if "protobuf" in (req.h.headers.get("Accept") or ""):
            body = openapi_v2.encoded(self.kube_version, True)
            return self.send_json(req, 200, body, [("ETag", openapi_v2.etag(body))],
                                  openapi_v2.PROTOBUF_REPLY)
        return self.send_json(req, 200, openapi_v2.encoded(self.kube_version, False))

    def _get_only(self, req, doc):
        if doc is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if req.method not in ("GET", "HEAD"):
            raise method_not_allowed()
        return self.send_json(req, 200, doc)

    def _api(self, req, group, parts):
        if not parts:
            return self._get_only(req, discovery.api_versions(self._address(req)))
        version, rest = parts[0], parts[1:]
        if not rest:
            return self._get_only(req, discovery.resource_list(group, version))
        if group in discovery.REVIEWS and len(rest) == 1 and (
                version == "v1" or group == "authentication.k8s.io"
                and version in ("v1beta1", "v1alpha1")):
            return self._review(req, group, version, rest[0])
        if rest[0] == "namespaces" and len(rest) >= 3 and not (
                len(rest) == 3 and rest[2] in ("status", "finalize")):
            ns, rest = rest[1], rest[2:]
        else:
            ns = None
        plural, name = rest[0], (rest[1] if len(rest) > 1 else None)
        sub = "/".join(rest[2:]) or None
        res = RESOURCES.get(plural)
        if (res is None or res.group != group or res.version != version
                or (ns and not res.namespaced) or (name and res.namespaced and not ns)):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return handlers.dispatch(self, req, res, ns, name, sub)

    def _address(self, req):
        host, port = self._httpd.server_address[:2]
        return "%s:%d" % (host, port)

    # ------------------------------------------------------------------ authorization
    def authorize(self, req, verb, res, ns, name=None, sub=None):
        ok = self.allowed(req.user, verb, res.plural, ns, sub, res.group, name)
        if self.rbac:
            self.rbac.record(req.user, verb, res.group, res.plural, sub, ns, ok)
        if ok:
            return
        what = '%s "%s"' % (res.qualified, name) if name else res.qualified
        scope = 'in the namespace "%s"' % ns if ns else "at the cluster scope"
        rname = res.plural + ("/" + sub if sub else "")
        details = {"kind": res.plural}
        if name:
            details["name"] = name
        if res.group:
            details["group"] = res.group
        raise ApiError(403, "Forbidden", '%s is forbidden: User "%s" cannot %s resource "%s" in '
                       'API group "%s" %s' % (what, req.user, verb, rname, res.group, scope),
                       details)

    def _review(self, req, group, version, plural):
        if req.method != "POST":
            raise method_not_allowed()
        if group == "authentication.k8s.io" and plural == "selfsubjectreviews":
            return self.send_json(req, 201, {
                "kind": "SelfSubjectReview", "apiVersion": group + "/" + version,
                "metadata": {"creationTimestamp": None},
                "status": {"userInfo": {"username": req.user, "groups": (
                    rbac_mod.sa_groups(req.user) if req.user.startswith(rbac_mod.SA_PREFIX)
                    else ["system:authenticated"])}}})
        if group == "authorization.k8s.io" and plural == "selfsubjectaccessreviews":
            spec = self._review_spec(req)
            ra = spec.get("resourceAttributes")
            if ra:
                allowed = self.allowed(req.user, ra.get("verb", ""), ra.get("resource", ""),
                                       ra.get("namespace") or None, ra.get("subresource") or None,
                                       ra.get("group") or "", ra.get("name") or None)
            else:
                nra = spec.get("nonResourceAttributes") or {}
                allowed = self.allowed(req.user, nra.get("verb", ""), nra.get("path", ""), None)
            status = {"allowed": allowed}
            if allowed:
                status["reason"] = "allowed by the testbed's permissions"
            return self.send_json(req, 201, {
                "kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                "metadata": {"creationTimestamp": None}, "spec": spec, "status": status})
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _review_spec(self, req):
        if "protobuf" in (req.h.headers.get("Content-Type") or ""):
            try:
                return apiserver_proto.self_subject_access_review(req.body)
            except (ValueError, IndexError, UnicodeDecodeError) as e:
                raise ApiError(400, "BadRequest", "cannot decode protobuf body: %s" % e)
        body = req.json_body()
        return (body.get("spec") if isinstance(body, dict) else None) or {}

    # ------------------------------------------------------------------ admin endpoint
    def _admin(self, req, path):
        if req.user is None:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        if not self.permissions(req.user, "*", "*", None, None):
            raise ApiError(403, "Forbidden", "only a cluster admin may change testbed faults")
        if path == "/testbed/rbac" and self.rbac:
            if req.method == "DELETE":
                self.rbac.reset_usage()
            elif req.method != "GET":
                raise method_not_allowed()
            return self.send_json(req, 200, {"usage": self.rbac.usage()})
        if path != "/testbed/faults" and self.admin_handler is not None:
            code, doc = self.admin_handler(req.method, path, req.json_body())
            return self.send_json(req, code, doc)
        if path != "/testbed/faults":
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if req.method == "GET":
            return self.send_json(req, 200, {"faults": self.faults.list()})
        if req.method == "DELETE":
            self.faults.clear()
            return self.send_json(req, 200, {"faults": []})
        if req.method == "POST":
            b = req.json_body()
            try:
                f = self.faults.add(b.get("method"), b.get("path", ""), b.get("status"),
                                    b.get("retry_after"), b.get("delay"), b.get("drop", False),
                                    b.get("count"))
            except (ValueError, re.error) as e:
                raise ApiError(400, "BadRequest", "bad fault: %s" % e)
            return self.send_json(req, 201, f)
        raise method_not_allowed()

