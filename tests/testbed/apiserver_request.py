"""Small helpers shared by the API server's request handlers."""
import json
import select
import ssl

from store import ApiError


def compact(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def qbool(q, name):
    """Kubernetes query booleans: false only when absent, "0" or "false"."""
    v = q.get(name)
    return v is not None and v[-1].lower() not in ("0", "false")


def qstr(q, name, default=None):
    v = q.get(name)
    return v[-1] if v else default


def method_not_allowed():
    return ApiError(405, "MethodNotAllowed",
                    "the server does not allow this method on the requested resource")


def dry_run(req, body=None):
    values = list(req.query.get("dryRun", []))
    if isinstance(body, dict):
        values += body.get("dryRun") or []
    for v in values:
        if v != "All":
            raise ApiError(400, "BadRequest", 'Invalid dryRun value %r: valid values are "All"'
                           % v)
    return bool(values)


def client_gone(sock):
    """On a connection the client only reads from (watch, log follow), anything readable means
    it hung up."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    return bool(select.select([sock], [], [], 0)[0])
