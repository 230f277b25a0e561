"""Resource verbs of the simulated API server: get, list, watch, create, update, patch, delete
(pods/exec and pods/log are in apiserver_pods.py). `api` is the ApiServer, `req` its Request."""
import base64
import json
import re
import time

import apiserver_openapi as openapi
import apiserver_patch as patching
import apiserver_pods as pods
import apiserver_tables as tables
from apiserver_request import client_gone, compact, dry_run, method_not_allowed, qbool, qstr
from store import RESOURCES, ApiError, Resource, parse_field_selector, parse_label_selector

STATUS_SUBRESOURCE = {"pods", "nodes", "namespaces", "etcds", "clusteroperators",
                      "clusterversions", "machines", "controlplanemachinesets", "baremetalhosts",
                      "certificatesigningrequests"}
CREATED_WITHOUT_STATUS = {"machines", "controlplanemachinesets", "baremetalhosts", "certificatesigningrequests"}
RETURNS_OBJECT_ON_DELETE = {"pods", "namespaces", "nodes"}
MAX_WATCH_SECONDS = 3600
RESOURCES_PODS = RESOURCES["pods"]


def dispatch(api, req, res, ns, name, sub):
    m = req.method
    if sub == "exec":
        if m not in ("GET", "POST"):
            raise method_not_allowed()
        return pods.exec_pod(api, req, res, ns, name)
    if sub == "token" and res.plural == "serviceaccounts" and name:
        if m != "POST":
            raise method_not_allowed()
        return token_request(api, req, res, ns, name)
    if sub == "log" and res.plural == "pods":
        if m != "GET":
            raise method_not_allowed()
        return pods.pod_log(api, req, res, ns, name)
    if sub == "approval" and res.plural == "certificatesigningrequests" and name and m == "PUT":
        api.authorize(req, "update", res, ns, name, sub)
        approve_signer(api, req, api.store.get(res.plural, None, name))
        return update(api, req, res, ns, name, sub)
    if sub not in (None, "status") or (sub == "status" and res.plural not in STATUS_SUBRESOURCE):
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    if name is None:
        if m in ("GET", "HEAD"):
            if qbool(req.query, "watch"):
                return watch(api, req, res, ns)
            return list_objects(api, req, res, ns)
        if m == "POST" and sub is None and (ns or not res.namespaced):
            return create(api, req, res, ns)
        raise method_not_allowed()
    if m in ("GET", "HEAD"):
        api.authorize(req, "get", res, ns, name, sub)
        return send_object(api, req, res, api.store.get(res.plural, ns, name))
    if m == "PUT":
        return update(api, req, res, ns, name, sub)
    if m == "PATCH":
        return patch(api, req, res, ns, name, sub)
    if m == "DELETE" and sub is None:
        return delete(api, req, res, ns, name)
    raise method_not_allowed()


def send_object(api, req, res, obj, code=200):
    if tables.wants_table(req.h.headers.get("Accept")):
        return api.send_json(req, code, tables.table(
            res.plural, [obj], obj["metadata"].get("resourceVersion", ""),
            qstr(req.query, "includeObject", "Metadata")))
    return api.send_json(req, code, obj)


# ---------------------------------------------------------------------------------- list
def _continue_token(after, rv):
    return base64.urlsafe_b64encode(compact({"after": after, "rv": rv})).decode()


def _parse_continue(token):
    try:
        d = json.loads(base64.urlsafe_b64decode(token.encode()))
        return list(d["after"])
    except Exception:
        raise ApiError(400, "BadRequest", "continue key is not valid")


def list_objects(api, req, res, ns):
    api.authorize(req, "list", res, ns)
    q = req.query
    items, rv = api.store.list(res.plural, ns, qstr(q, "labelSelector"), qstr(q, "fieldSelector"))
    meta = {"resourceVersion": rv}
    token = qstr(q, "continue")
    if token:
        after = _parse_continue(token)
        items = [o for o in items if [o["metadata"].get("namespace", ""),
                                      o["metadata"]["name"]] > after]
    limit = int(qstr(q, "limit", "0") or 0)
    if limit > 0 and len(items) > limit:
        rest = len(items) - limit
        items = items[:limit]
        last = items[-1]["metadata"]
        meta["continue"] = _continue_token([last.get("namespace", ""), last["name"]], rv)
        meta["remainingItemCount"] = rest
    if tables.wants_table(req.h.headers.get("Accept")):
        t = tables.table(res.plural, items, rv, qstr(q, "includeObject", "Metadata"))
        t["metadata"].update(meta)
        return api.send_json(req, 200, t)
    for o in items:
        o.pop("kind", None)
        o.pop("apiVersion", None)
    return api.send_json(req, 200, {"kind": res.kind + "List", "apiVersion": res.api_version,
                                    "metadata": meta, "items": items})


# ---------------------------------------------------------------------------------- watch
class _WatchStream:
    def __init__(self, api, req, res):
        self.api, self.req, self.res, self.h = api, req, res, req.h
        self.table = tables.wants_table(req.h.headers.get("Accept"))
        self.include = qstr(req.query, "includeObject", "Metadata")

    def begin(self):
        h = self.h
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        self.api.request_log.append((self.req.method, h.path, self.req.user, 200))

    def event(self, etype, obj):
        if self.table and etype in ("ADDED", "MODIFIED", "DELETED"):
            obj = tables.table(self.res.plural, [obj], obj["metadata"].get("resourceVersion", ""),
                               self.include)
        data = compact({"type": etype, "object": obj}) + b"\n"
        self.h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def bookmark(self, rv, initial_end=False):
        meta = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        self.event("BOOKMARK", {"kind": self.res.kind, "apiVersion": self.res.api_version,
                                "metadata": meta})

    def end(self):
        self.h.wfile.write(b"0\r\n\r\n")

    def client_gone(self):
        return client_gone(self.h.connection)


def watch(api, req, res, ns):
    api.authorize(req, "watch", res, ns)
    q = req.query
    lsel = parse_label_selector(qstr(q, "labelSelector") or "")
    fsel = parse_field_selector(qstr(q, "fieldSelector") or "", res.plural)
    timeout = min(float(qstr(q, "timeoutSeconds", "0") or 0) or 1800, MAX_WATCH_SECONDS)
    bookmarks = qbool(q, "allowWatchBookmarks")
    rv = qstr(q, "resourceVersion", "")
    stream = _WatchStream(api, req, res)
    stream.begin()
    req.h.connection.settimeout(None)
    if rv in ("", "0") or qbool(q, "sendInitialEvents"):
        items, rv = api.store.list(res.plural, ns, qstr(q, "labelSelector"),
                                   qstr(q, "fieldSelector"))
        for o in items:
            stream.event("ADDED", o)
        if qbool(q, "sendInitialEvents") and bookmarks:
            stream.bookmark(rv, initial_end=True)
    _pump(api, stream, res, ns, rv, timeout, bookmarks, lambda o: (
        lsel(o["metadata"].get("labels")) and fsel(o)))
    stream.end()


def _selected_type(etype, now, before):
    """What a selector-filtered watch reports: an object entering the selection is ADDED, one
    leaving it DELETED (as the real watch cache does)."""
    if etype != "MODIFIED":
        return etype if now else None
    if now and before:
        return "MODIFIED"
    return "ADDED" if now else "DELETED" if before else None


def _pump(api, stream, res, ns, rv, timeout, bookmarks, match):
    end = time.monotonic() + timeout
    last_bookmark = time.monotonic()
    while not api._stopping and time.monotonic() < end:
        if stream.client_gone():
            stream.h.close_connection = True
            return
        try:
            evs, rv = api.store.wait_events(res.plural, rv, ns,
                                            min(1.0, max(0.01, end - time.monotonic())),
                                            with_previous=True)
        except ApiError as e:
            stream.event("ERROR", e.status())
            return
        for etype, obj, prev in evs:
            etype = _selected_type(etype, match(obj), prev is not None and match(prev))
            if etype:
                stream.event(etype, obj)
        if bookmarks and time.monotonic() - last_bookmark >= api.bookmark_seconds:
            stream.bookmark(rv)
            last_bookmark = time.monotonic()


# ---------------------------------------------------------------------------------- TokenRequest
def token_request(api, req, res, ns, name):
    """POST serviceaccounts/NAME/token (what `oc create token NAME` sends): a bearer token of the service
    account, valid while the service account exists (the testbed's tokens do not expire)."""
    api.authorize(req, "create", res, ns, name, "token")
    if api.rbac is None:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    api.store.get("serviceaccounts", ns, name)  # 404 when it does not exist
    body = req.json_body() if req.body else {}
    spec = (body.get("spec") if isinstance(body, dict) else None) or {}
    seconds = int(spec.get("expirationSeconds") or 3600)
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))
    return api.send_json(req, 201, {
        "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
        "spec": {"audiences": spec.get("audiences") or ["https://kubernetes.default.svc"],
                 "expirationSeconds": seconds, "boundObjectRef": None},
        "status": {"token": api.rbac.issue_token(ns, name), "expirationTimestamp": expires}})


# ---------------------------------------------------------------------------------- writes
def create(api, req, res, ns):
    api.authorize(req, "create", res, ns)
    obj = req.json_body()
    if not isinstance(obj, dict):
        raise ApiError(400, "BadRequest", "the request body must be a JSON object")
    req.warnings = openapi.check(req, res, obj)
    meta = obj.setdefault("metadata", {})
    if res.namespaced and meta.get("namespace") and meta["namespace"] != ns:
        raise ApiError(400, "BadRequest", "the namespace of the provided object does not match "
                       "the namespace sent on the request")
    _validate_name(res, meta)
    if res.plural == "pods":
        _default_pod(obj)
        _admit_scc(api, req, obj)
    if res.plural in CREATED_WITHOUT_STATUS:
        obj.pop("status", None)     # their registry strategy drops status on create
        if meta.get("resourceVersion"):
            # apiserver storage Create (a saved object created again without stripping it)
            raise ApiError(500, "InternalError", "Internal error occurred: resourceVersion should not be set "
                           "on objects to be created", {"causes": [{"message": "resourceVersion should not be "
                                                                    "set on objects to be created"}]})
    created = api.store.create(res.plural, ns, obj, dry_run=dry_run(req))
    return send_object(api, req, res, created, 201)


def _privileged(pod):
    spec = pod.get("spec") or {}
    if spec.get("hostPID") or spec.get("hostNetwork") or spec.get("hostIPC"):
        return True
    if any("hostPath" in v for v in spec.get("volumes") or []):
        return True
    return any((c.get("securityContext") or {}).get("privileged")
               for c in (spec.get("containers") or []) + (spec.get("initContainers") or []))


def _admit_scc(api, req, pod):
    """OpenShift's SCC admission, for service accounts only (the testbed's static users count as cluster
    admins): a privileged pod (oc debug node's) is admitted only if its creator may `use` the privileged
    SecurityContextConstraints (a RoleBinding/ClusterRoleBinding granting use on it, as `oc adm policy
    add-scc-to-user privileged` makes)."""
    if api.rbac is None or not (req.user or "").startswith("system:serviceaccount:") or not _privileged(pod):
        return
    try:
        api.authorize(req, "use", RESOURCES["securitycontextconstraints"], None, "privileged")
    except ApiError:
        raise ApiError(403, "Forbidden", 'pods "%s" is forbidden: unable to validate against any security '
                       'context constraint: provider "privileged": Forbidden: not usable by user or '
                       'serviceaccount' % (pod["metadata"].get("name") or ""))


NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def _invalid(res, name, field, value, detail):
    msg = '%s "%s" is invalid: %s: %s' % (res.kind, name, field, detail)
    if value is not None:
        msg = '%s "%s" is invalid: %s: Invalid value: "%s": %s' % (res.kind, name, field, value,
                                                                  detail)
    return ApiError(422, "Invalid", msg, {"name": name, "kind": res.kind, "causes": [
        {"reason": "FieldValueInvalid" if value is not None else "FieldValueRequired",
         "message": detail, "field": field}]})


def _validate_name(res, meta):
    name = meta.get("name")
    if name and (len(name) > 253 or not NAME_RE.match(name)):
        raise _invalid(res, name, "metadata.name", name, "a lowercase RFC 1123 subdomain must "
                       "consist of lower case alphanumeric characters, '-' or '.', and must "
                       "start and end with an alphanumeric character")


def _default_pod(pod):
    """What the real API server validates and defaults on a new pod (the part that matters)."""
    res, name = RESOURCES_PODS, pod["metadata"].get("name") or pod["metadata"].get(
        "generateName", "")
    spec = pod.setdefault("spec", {})
    containers = spec.get("containers") or []
    if not containers:
        raise _invalid(res, name, "spec.containers", None, "Required value")
    for i, c in enumerate(containers + (spec.get("initContainers") or [])):
        if not c.get("name"):
            raise _invalid(res, name, "spec.containers[%d].name" % i, None, "Required value")
        if not c.get("image"):
            raise _invalid(res, name, "spec.containers[%d].image" % i, None, "Required value")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        image = c["image"].rsplit("/", 1)[-1]
        c.setdefault("imagePullPolicy", "Always" if ":" not in image or image.endswith(
            ":latest") else "IfNotPresent")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    status = pod.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", "BestEffort")


def _keep_status_split(res, sub, old, new):
    """Writes to the main resource leave status alone; writes to /status change only status; a CSR's
    /approval changes only status.conditions (kubectl certificate approve)."""
    if res.plural not in STATUS_SUBRESOURCE:
        return new
    if sub == "approval":
        out = dict(old)
        out["status"] = dict(old.get("status") or {}, conditions=(new.get("status") or {}).get("conditions") or [])
        out["metadata"] = dict(old["metadata"])
        return out
    if sub == "status":
        out = dict(old)
        out["status"] = new.get("status")
        if out["status"] is None:
            out.pop("status")
        out["metadata"] = dict(old["metadata"])
        if new.get("metadata", {}).get("resourceVersion"):
            out["metadata"]["resourceVersion"] = new["metadata"]["resourceVersion"]
        return out
    if "status" in old:
        new["status"] = old["status"]
    else:
        new.pop("status", None)
    return new


SIGNERS = Resource("signers", "", "certificates.k8s.io", "v1", False)


def approve_signer(api, req, csr):
    """The CertificateApproval admission plugin (k8s.io/kubernetes plugin/pkg/admission/certificates/approval):
    who approves a CSR must be authorized to `approve` its signer, by its name or its domain's "DOMAIN/*"."""
    signer = (csr.get("spec") or {}).get("signerName") or ""
    for name in (signer, signer.split("/")[0] + "/*"):
        if api.allowed(req.user, "approve", "signers", None, None, SIGNERS.group, name):
            if api.rbac:
                api.rbac.record(req.user, "approve", SIGNERS.group, "signers", None, None, True)
            return
    if api.rbac:
        api.rbac.record(req.user, "approve", SIGNERS.group, "signers", None, None, False)
    raise ApiError(403, "Forbidden", 'certificatesigningrequests.certificates.k8s.io "%s" is forbidden: user not '
                   'permitted to approve requests with signerName "%s"' % (csr["metadata"]["name"], signer))


def update(api, req, res, ns, name, sub):
    api.authorize(req, "update", res, ns, name, sub)
    body = req.json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the request body must be a JSON object")
    req.warnings = openapi.check(req, res, body, "UpdateOptions")

    def replace(old):
        new = dict(body)
        meta = dict(new.get("metadata") or {})
        if meta.get("namespace") and ns and meta["namespace"] != ns:
            raise ApiError(400, "BadRequest", "the namespace of the provided object does not "
                           "match the namespace sent on the request")
        new["metadata"] = meta
        return _keep_status_split(res, sub, old, new)
    obj = api.store.update(res.plural, ns, name, replace, dry_run=dry_run(req))
    return send_object(api, req, res, obj)


def patch(api, req, res, ns, name, sub):
    api.authorize(req, "patch", res, ns, name, sub)
    ctype = req.h.headers.get("Content-Type")
    if (ctype or "").split(";")[0].strip().lower() not in patching.SUPPORTED:
        patching.apply(ctype, {}, {})      # raises 415
    body = req.json_body() if req.body else None
    req.warnings = openapi.check(req, res, body, "PatchOptions") if isinstance(body, dict) else []

    def apply(old):
        old_rv = old["metadata"].get("resourceVersion")
        new = patching.apply(ctype, old, body)
        if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
            raise ApiError(422, "Invalid", "the patch produced an invalid object")
        # a resourceVersion left as it was is no precondition; a changed one is
        if new["metadata"].get("resourceVersion") in (None, old_rv):
            new["metadata"]["resourceVersion"] = old_rv
        return _keep_status_split(res, sub, old, new)
    if body is None:
        raise ApiError(400, "BadRequest", "the patch body is empty")
    obj = api.store.update(res.plural, ns, name, apply, dry_run=dry_run(req))
    return send_object(api, req, res, obj)


def delete(api, req, res, ns, name):
    api.authorize(req, "delete", res, ns, name)
    body = req.json_body() if req.body else {}
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the request body must be DeleteOptions")
    pre = dict(body.get("preconditions") or {})
    for field in ("uid", "resourceVersion"):
        v = qstr(req.query, "preconditions." + field)
        if v:
            pre[field] = v
    policy = body.get("propagationPolicy") or qstr(req.query, "propagationPolicy")
    if policy not in (None, "Background", "Foreground", "Orphan"):
        raise ApiError(400, "BadRequest", "unknown propagationPolicy %r" % policy)
    obj = api.store.delete(res.plural, ns, name, pre, dry_run=dry_run(req, body))
    if res.plural in RETURNS_OBJECT_ON_DELETE or obj["metadata"].get("finalizers"):
        # an object its finalizers keep is returned with its deletionTimestamp, as a real API server does
        return send_object(api, req, res, obj)
    details = {"name": name, "kind": res.plural, "uid": obj["metadata"].get("uid")}
    if res.group:
        details["group"] = res.group
    return api.send_json(req, 200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                    "status": "Success", "details": details})
