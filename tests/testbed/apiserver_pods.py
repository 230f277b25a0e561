"""pods/exec (WebSocket v5/v4 or SPDY/3.1) and pods/log (with follow) of the simulated API server."""
import time

import wsexec
import wsexec_spdy
from apiserver_request import client_gone, qbool, qstr
from store import ApiError

MAX_FOLLOW_SECONDS = 3600


def _container(pod, q):
    names = [c.get("name") for c in pod.get("spec", {}).get("containers") or []]
    c = qstr(q, "container")
    pname = pod["metadata"]["name"]
    if not c:
        if len(names) == 1:
            return names[0]
        inits = [c.get("name") for c in pod.get("spec", {}).get("initContainers") or []]
        raise ApiError(400, "BadRequest", "a container name must be specified for pod %s, "
                       "choose one of: [%s] or one of the init containers: [%s]"
                       % (pname, " ".join(names), " ".join(inits)))
    if c not in names:
        raise ApiError(400, "BadRequest", "container %s is not valid for pod %s" % (c, pname))
    if not pod.get("spec", {}).get("nodeName"):
        raise ApiError(400, "BadRequest", "pod %s does not have a host assigned" % pname)
    return c


def exec_pod(api, req, res, ns, name):
    api.authorize(req, "create", res, ns, name, "exec")
    if req.method == "GET":
        api.authorize(req, "get", res, ns, name, "exec")
    q, headers = req.query, req.h.headers
    pod = api.store.get("pods", ns, name)
    container = _container(pod, q)
    argv = q.get("command") or []
    if not argv:
        raise ApiError(400, "BadRequest", "you must specify at least one command for the "
                       "container")
    want = {k: qbool(q, k) for k in ("stdin", "stdout", "stderr", "tty")}
    if not (want["stdin"] or want["stdout"] or want["stderr"]):
        raise ApiError(400, "BadRequest", "you must specify at least 1 of stdin, stdout, stderr")
    if api.allow_spdy and wsexec_spdy.is_spdy_upgrade(headers):
        return _exec_spdy(api, req, ns, pod, container, argv, want)
    if not wsexec.is_upgrade(headers):
        raise ApiError(400, "BadRequest", "Upgrade request required")
    protocol = wsexec.choose_protocol(headers.get("Sec-WebSocket-Protocol"), api.allow_v5)
    key = headers.get("Sec-WebSocket-Key")
    if protocol is None or not key:
        raise ApiError(400, "BadRequest", "unable to upgrade connection: requested protocol(s) "
                       "are not supported: %s" % headers.get("Sec-WebSocket-Protocol"))
    proc = api.exec_handler(ns, pod, container, list(argv))
    sock = req.h.connection
    sock.settimeout(None)
    sock.sendall(wsexec.handshake_response(key, protocol))
    api.request_log.append((req.method, req.h.path, req.user, 101))
    req.h.close_connection = True
    wsexec.ExecSession(sock, protocol, proc, list(argv), want["stdin"], want["stdout"],
                       want["stderr"], want["tty"]).run()


def _exec_spdy(api, req, ns, pod, container, argv, want):
    if wsexec_spdy.V4 not in wsexec_spdy.offered_protocols(req.h.headers):
        raise ApiError(400, "BadRequest", "unable to upgrade connection: requested protocol(s) "
                       "are not supported: %s" % wsexec_spdy.offered_protocols(req.h.headers))
    proc = api.exec_handler(ns, pod, container, list(argv))
    sock = req.h.connection
    sock.settimeout(None)
    sock.sendall(wsexec_spdy.handshake_response(wsexec_spdy.V4))
    api.request_log.append((req.method, req.h.path, req.user, 101))
    req.h.close_connection = True
    wsexec_spdy.SpdyExecSession(sock, proc, list(argv), want["stdin"], want["stdout"],
                                want["stderr"], want["tty"]).run()


def pod_log(api, req, res, ns, name):
    api.authorize(req, "get", res, ns, name, "log")
    pod = api.store.get("pods", ns, name)
    q = req.query
    container = _container(pod, q)
    tail = int(qstr(q, "tailLines", "0") or 0) or None
    previous = qbool(q, "previous")
    read = lambda pod, tail: _log_text(api, ns, pod, container, previous, tail)  # noqa: E731
    if not qbool(q, "follow") or previous:
        return api.send_json(req, 200, read(pod, tail), content_type="text/plain")
    _follow_log(api, req, ns, name, container, pod, read, tail)


def _log_text(api, ns, pod, container, previous, tail):
    if not api.log_handler:
        return b""
    text = api.log_handler(ns, pod, container, previous, tail)
    return text.encode() if isinstance(text, str) else (text or b"")


def _terminated(pod, container):
    for cs in pod.get("status", {}).get("containerStatuses") or []:
        if cs.get("name") == container:
            return "terminated" in (cs.get("state") or {})
    return pod.get("status", {}).get("phase") in ("Succeeded", "Failed")


def _follow_log(api, req, ns, name, container, pod, read, tail):
    """`kubectl logs -f`: streams the log as it grows until the container ends (or 1 h)."""
    h = req.h
    h.send_response(200)
    h.send_header("Content-Type", "text/plain")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    api.request_log.append((req.method, h.path, req.user, 200))
    h.connection.settimeout(None)

    def send(data):
        if data:
            h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
    send(read(pod, tail))
    sent = len(read(pod, None))
    end = time.monotonic() + MAX_FOLLOW_SECONDS
    while time.monotonic() < end and not api._stopping and not client_gone(h.connection):
        api.store.wait_for_change(0.2)
        try:
            pod = api.store.get("pods", ns, name)
        except ApiError:
            break
        text = read(pod, None)
        send(text[sent:])
        sent = max(sent, len(text))
        if _terminated(pod, container):
            break
    h.wfile.write(b"0\r\n\r\n")
