"""The testbed's object store: what etcd is to a real API server.

Objects are plain dicts in the Kubernetes JSON shape. One global resourceVersion counter, an event
log for watches (bounded: a resourceVersion older than the log is 410 Expired), and a condition
variable so control loops can block until something changes. Every method returns deep copies.
"""
import bisect
import copy
import datetime
import random
import re
import string
import threading
import time
import uuid


class ApiError(Exception):
    """An error the API server turns into a metav1.Status."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self):
        s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
             "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            s["details"] = self.details
        return s


class Resource:
    def __init__(self, plural, kind, group, version, namespaced, short_names=()):
        self.plural, self.kind, self.group, self.version = plural, kind, group, version
        self.namespaced = namespaced
        self.short_names = list(short_names)

    @property
    def api_version(self):
        return self.group + "/" + self.version if self.group else self.version

    @property
    def qualified(self):
        """The name used in error messages: pods, etcds.operator.openshift.io."""
        return self.plural + "." + self.group if self.group else self.plural


RESOURCES = {r.plural: r for r in [
    Resource("namespaces", "Namespace", "", "v1", False, ["ns"]),
    Resource("nodes", "Node", "", "v1", False, ["no"]),
    Resource("pods", "Pod", "", "v1", True, ["po"]),
    Resource("secrets", "Secret", "", "v1", True),
    Resource("configmaps", "ConfigMap", "", "v1", True, ["cm"]),
    Resource("events", "Event", "", "v1", True, ["ev"]),
    Resource("etcds", "Etcd", "operator.openshift.io", "v1", False),
    Resource("clusteroperators", "ClusterOperator", "config.openshift.io", "v1", False, ["co"]),
    Resource("clusterversions", "ClusterVersion", "config.openshift.io", "v1", False),
    Resource("imagestreams", "ImageStream", "image.openshift.io", "v1", True, ["is"]),
    Resource("infrastructures", "Infrastructure", "config.openshift.io", "v1", False),
    Resource("networks", "Network", "config.openshift.io", "v1", False),
    Resource("leases", "Lease", "coordination.k8s.io", "v1", True),
    Resource("machines", "Machine", "machine.openshift.io", "v1beta1", True),
    Resource("controlplanemachinesets", "ControlPlaneMachineSet", "machine.openshift.io", "v1", True),
    Resource("baremetalhosts", "BareMetalHost", "metal3.io", "v1alpha1", True, ["bmh", "bmhost"]),
    Resource("certificatesigningrequests", "CertificateSigningRequest", "certificates.k8s.io", "v1", False,
             ["csr"]),
    Resource("jobs", "Job", "batch", "v1", True),
    Resource("cronjobs", "CronJob", "batch", "v1", True, ["cj"]),
    Resource("serviceaccounts", "ServiceAccount", "", "v1", True, ["sa"]),
    Resource("roles", "Role", "rbac.authorization.k8s.io", "v1", True),
    Resource("rolebindings", "RoleBinding", "rbac.authorization.k8s.io", "v1", True),
    Resource("clusterroles", "ClusterRole", "rbac.authorization.k8s.io", "v1", False),
    Resource("clusterrolebindings", "ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", False),
    Resource("securitycontextconstraints", "SecurityContextConstraints", "security.openshift.io", "v1", False,
             ["scc"]),
]}

# Resources whose registry strategy never sets metadata.generation (a Lease's, RBAC's, a ServiceAccount's).
NO_GENERATION = {"leases", "serviceaccounts", "roles", "rolebindings", "clusterroles", "clusterrolebindings"}
_MICROTIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")


MAX_CONFIGMAP_BYTES = 1024 * 1024   # core.MaxSecretSize: a ConfigMap's data and binaryData values together


def validate_configmap(obj):
    """pkg/apis/core/validation ValidateConfigMap: the values' total size is at most 1 MiB."""
    total = sum(len(str(v).encode()) for v in (obj.get("data") or {}).values()) + \
        sum(len(str(v)) * 3 // 4 for v in (obj.get("binaryData") or {}).values())
    if total > MAX_CONFIGMAP_BYTES:
        name = obj.get("metadata", {}).get("name", "")
        msg = "Too long: may not be more than %d bytes" % MAX_CONFIGMAP_BYTES
        raise ApiError(422, "Invalid", 'ConfigMap "%s" is invalid: []: %s' % (name, msg),
                       {"name": name, "kind": "ConfigMap",
                        "causes": [{"reason": "FieldValueTooLong", "message": msg, "field": "[]"}]})


def validate(res, obj):
    """The field validation of the few resources that have any here: coordination.k8s.io/v1 Lease
    (k8s.io/kubernetes pkg/apis/coordination/validation: durations > 0, transitions >= 0, MicroTime) and the
    size of a ConfigMap."""
    if res.plural == "configmaps":
        validate_configmap(obj)
    if res.plural != "leases":
        return
    spec = obj.get("spec")
    if spec is None:
        return
    name = obj.get("metadata", {}).get("name", "")
    causes = []
    if not isinstance(spec, dict):
        causes.append(("spec", "Invalid value: %s: must be an object" % json_repr(spec)))
        spec = {}
    for f in ("leaseDurationSeconds", "leaseTransitions"):
        v = spec.get(f)
        if v is None:
            continue
        if not isinstance(v, int) or isinstance(v, bool):
            causes.append(("spec." + f, "Invalid value: %s: must be an integer" % json_repr(v)))
        elif f == "leaseDurationSeconds" and v <= 0:
            causes.append(("spec." + f, "Invalid value: %d: must be greater than 0" % v))
        elif f == "leaseTransitions" and v < 0:
            causes.append(("spec." + f, "Invalid value: %d: must be greater than or equal to 0" % v))
    for f in ("acquireTime", "renewTime"):
        v = spec.get(f)
        if v is not None and not (isinstance(v, str) and _MICROTIME.match(v)):
            causes.append(("spec." + f, "Invalid value: %s: must be an RFC 3339 time" % json_repr(v)))
    if causes:
        msg = "; ".join("%s: %s" % c for c in causes)
        raise ApiError(422, "Invalid", '%s.%s "%s" is invalid: %s' % (res.kind, res.group, name, msg),
                       {"name": name, "group": res.group, "kind": res.kind,
                        "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f}
                                   for f, m in causes]})


def json_repr(v):
    import json
    return json.dumps(v)


def resource(plural):
    r = RESOURCES.get(plural)
    if r is None:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    return r


def not_found(res, name):
    d = {"name": name, "kind": res.plural}
    if res.group:
        d["group"] = res.group
    return ApiError(404, "NotFound", '%s "%s" not found' % (res.qualified, name), d)


def already_exists(res, name):
    d = {"name": name, "kind": res.plural}
    if res.group:
        d["group"] = res.group
    return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (res.qualified, name), d)


def conflict(res, name, why):
    d = {"name": name, "kind": res.plural}
    if res.group:
        d["group"] = res.group
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s'
                    % (res.qualified, name, why), d)


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# Selectors

_LABEL_REQ = re.compile(r"""^\s*(?:
    (?P<not>!)\s*(?P<nkey>[^\s=!,()]+) |
    (?P<key>[^\s=!,()]+)\s*(?:
        (?P<op>==|=|!=)\s*(?P<val>[^\s,()]*) |
        \s(?P<setop>in|notin)\s*\((?P<set>[^)]*)\)
    )?
)\s*$""", re.X)


def _split_top(text):
    """Splits on commas outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p for p in parts if p.strip()]


def parse_label_selector(text):
    """Returns a predicate on a labels dict; raises ApiError 400 on bad syntax."""
    reqs = []
    for part in _split_top(text or ""):
        m = _LABEL_REQ.match(part)
        if not m:
            raise ApiError(400, "BadRequest", "unable to parse requirement: %r" % part.strip())
        if m.group("not"):
            k = m.group("nkey")
            reqs.append(lambda l, k=k: k not in l)
        elif m.group("op"):
            k, op, v = m.group("key"), m.group("op"), m.group("val")
            if op == "!=":
                reqs.append(lambda l, k=k, v=v: l.get(k) != v)
            else:
                reqs.append(lambda l, k=k, v=v: l.get(k) == v)
        elif m.group("setop"):
            k, vals = m.group("key"), {s.strip() for s in m.group("set").split(",") if s.strip()}
            if m.group("setop") == "in":
                reqs.append(lambda l, k=k, vals=vals: l.get(k) in vals)
            else:
                reqs.append(lambda l, k=k, vals=vals: l.get(k) not in vals)
        else:
            k = m.group("key")
            reqs.append(lambda l, k=k: k in l)
    return lambda labels: all(r(labels or {}) for r in reqs)


FIELD_SELECTABLE = {
    "pods": {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.hostNetwork",
             "spec.serviceAccountName", "status.phase", "status.podIP",
             "status.nominatedNodeName"},
    "events": {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
               "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.fieldPath",
               "involvedObject.resourceVersion", "reason", "reportingComponent", "source",
               "type"},
    "secrets": {"type"},
    "nodes": {"spec.unschedulable"},
    "namespaces": {"status.phase"},
}


def _field(obj, path):
    cur = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(p)
    return "" if cur is None else str(cur)


def parse_field_selector(text, plural=None):
    """A predicate on objects; metadata.name, metadata.namespace and the fields the real server
    allows for that resource (any field when plural is None)."""
    reqs = []
    for part in _split_top(text or ""):
        m = re.match(r"^\s*([A-Za-z.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not m:
            raise ApiError(400, "BadRequest", "invalid selector: '%s'; can't understand '%s'"
                           % (text, part))
        path, op, val = m.groups()
        if plural and path not in FIELD_SELECTABLE.get(plural, ()) and \
                path not in ("metadata.name", "metadata.namespace"):
            raise ApiError(400, "BadRequest", 'field label not supported: %s' % path)
        if op == "!=":
            reqs.append(lambda o, p=path, v=val: _field(o, p) != v)
        else:
            reqs.append(lambda o, p=path, v=val: _field(o, p) == v)
    return lambda obj: all(r(obj) for r in reqs)


def _typed(res, obj):
    """obj with kind and apiVersion first, as the real API server writes them."""
    out = {"kind": res.kind, "apiVersion": res.api_version}
    out.update((k, v) for k, v in obj.items() if k not in ("kind", "apiVersion"))
    return out


# ---------------------------------------------------------------------------------------------

class Store:
    """Thread-safe object store with a global resourceVersion and a bounded event log."""

    def __init__(self, history=5000):
        self._cond = threading.Condition()
        self._objects = {}          # (plural, namespace or "", name) -> obj
        self._rv = 0
        self._log = []              # [(rv, plural, namespace, type, obj)]
        self._history = history
        self._floor = 0             # events with rv <= floor are gone

    # -- helpers
    def _key(self, res, namespace, name):
        return (res.plural, (namespace or "") if res.namespaced else "", name)

    def _next_rv(self):
        self._rv += 1
        return str(self._rv)

    def _emit(self, res, etype, obj, prev=None):
        self._log.append((int(obj["metadata"]["resourceVersion"]), res.plural,
                          obj["metadata"].get("namespace"), etype, obj, prev))
        if len(self._log) > self._history:
            drop = len(self._log) - self._history
            self._floor = self._log[drop - 1][0]
            del self._log[:drop]
        self._cond.notify_all()

    def _check_namespace(self, res, namespace):
        if res.namespaced:
            if not namespace:
                raise ApiError(400, "BadRequest", "the namespace of the object is required")
            if ("namespaces", "", namespace) not in self._objects:
                raise not_found(RESOURCES["namespaces"], namespace)

    @property
    def resource_version(self):
        with self._cond:
            return str(self._rv)

    # -- CRUD
    def create(self, plural, namespace, obj, dry_run=False):
        res = resource(plural)
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        with self._cond:
            self._check_namespace(res, namespace)
            if not meta.get("name"):
                if not meta.get("generateName"):
                    raise ApiError(422, "Invalid", "%s \"\" is invalid: metadata.name: Required "
                                   "value: name or generateName is required" % res.kind,
                                   {"kind": res.kind})
                while True:
                    name = meta["generateName"] + "".join(
                        random.choice(string.ascii_lowercase + string.digits) for _ in range(5))
                    if self._key(res, namespace, name) not in self._objects:
                        break
                meta["name"] = name
            key = self._key(res, namespace, meta["name"])
            if key in self._objects:
                raise already_exists(res, meta["name"])
            obj = _typed(res, obj)
            meta = obj["metadata"]
            if res.namespaced:
                meta["namespace"] = namespace
            else:
                meta.pop("namespace", None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            if plural in NO_GENERATION:
                meta.pop("generation", None)
            else:
                meta["generation"] = 1
            meta.pop("resourceVersion", None)
            meta.pop("deletionTimestamp", None)
            meta.pop("deletionGracePeriodSeconds", None)
            if plural in ("jobs", "cronjobs"):
                import batch  # batch/v1 defaults at create (batch imports this module)
                batch.on_create(plural, obj)
            validate(res, obj)
            if plural == "secrets":
                obj["type"] = obj.get("type") or "Opaque"
            if plural == "namespaces":
                obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
                obj.setdefault("status", {"phase": "Active"})
                meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
            if dry_run:
                meta["resourceVersion"] = str(self._rv)
                return copy.deepcopy(obj)
            meta["resourceVersion"] = self._next_rv()
            self._objects[key] = obj
            self._emit(res, "ADDED", obj)
            return copy.deepcopy(obj)

    def get(self, plural, namespace, name):
        res = resource(plural)
        with self._cond:
            obj = self._objects.get(self._key(res, namespace, name))
            if obj is None:
                raise not_found(res, name)
            return copy.deepcopy(obj)

    def list(self, plural, namespace=None, label_selector=None, field_selector=None):
        """Returns (items sorted by namespace and name, resourceVersion). Selectors are strings."""
        res = resource(plural)
        lsel = parse_label_selector(label_selector) if label_selector else None
        fsel = parse_field_selector(field_selector, plural) if field_selector else None
        with self._cond:
            items = [o for (p, ns, _), o in self._objects.items()
                     if p == plural and (not namespace or not res.namespaced or ns == namespace)]
            if lsel:
                items = [o for o in items if lsel(o["metadata"].get("labels"))]
            if fsel:
                items = [o for o in items if fsel(o)]
            items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
            return copy.deepcopy(items), str(self._rv)

    def update(self, plural, namespace, name, fn, dry_run=False):
        """fn(obj) mutates a copy in place (or returns a replacement). Atomic. A no-op is not an event.

        metadata.resourceVersion set by fn to a value other than the current one -> 409 Conflict."""
        res = resource(plural)
        with self._cond:
            key = self._key(res, namespace, name)
            old = self._objects.get(key)
            if old is None:
                raise not_found(res, name)
            new = copy.deepcopy(old)
            ret = fn(new)
            if isinstance(ret, dict):
                new = ret
            meta = new.setdefault("metadata", {})
            want_rv = meta.get("resourceVersion")
            if want_rv and want_rv != old["metadata"]["resourceVersion"]:
                raise conflict(res, name, "the object has been modified; please apply your "
                               "changes to the latest version and try again")
            if meta.get("name", name) != name:
                raise ApiError(400, "BadRequest", "the name of the object (%s) does not match "
                               "the name on the URL (%s)" % (meta.get("name"), name))
            # immutable metadata
            for f in ("name", "uid", "creationTimestamp", "namespace", "generation", "deletionTimestamp",
                      "deletionGracePeriodSeconds"):
                if f in old["metadata"]:
                    meta[f] = old["metadata"][f]
                elif f.startswith("deletion"):
                    meta.pop(f, None)
            new = _typed(res, new)
            meta = new["metadata"]
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            if new == old:
                return copy.deepcopy(old)
            validate(res, new)
            if plural in NO_GENERATION:
                meta.pop("generation", None)
            elif new.get("spec") != old.get("spec"):
                meta["generation"] = old["metadata"].get("generation", 1) + 1
            if dry_run:
                return copy.deepcopy(new)
            if meta.get("deletionTimestamp") and not meta.get("finalizers"):
                self._objects[key] = new
                return self._remove(res, key)        # the last finalizer went: the object goes
            meta["resourceVersion"] = self._next_rv()
            self._objects[key] = new
            self._emit(res, "MODIFIED", new, old)
            return copy.deepcopy(new)

    def delete(self, plural, namespace, name, preconditions=None, dry_run=False):
        res = resource(plural)
        with self._cond:
            key = self._key(res, namespace, name)
            obj = self._objects.get(key)
            if obj is None:
                raise not_found(res, name)
            self._check_preconditions(res, obj, preconditions or {})
            if dry_run:
                return copy.deepcopy(obj)
            if obj["metadata"].get("finalizers"):
                return self._mark_deleted(res, key, obj)
            if plural == "namespaces":
                for k in [k for k in self._objects if k[1] == name and RESOURCES[k[0]].namespaced]:
                    self._remove(RESOURCES[k[0]], k)
            return self._remove(res, key)

    def _mark_deleted(self, res, key, obj):
        """A DELETE of an object with finalizers only sets deletionTimestamp (once); the object goes when an
        update leaves it without finalizers (apiserver registry BeforeDelete / the finalizers' owners)."""
        if obj["metadata"].get("deletionTimestamp"):
            return copy.deepcopy(obj)
        new = copy.deepcopy(obj)
        new["metadata"]["deletionTimestamp"] = now_rfc3339()
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        new["metadata"]["resourceVersion"] = self._next_rv()
        self._objects[key] = new
        self._emit(res, "MODIFIED", new, obj)
        return copy.deepcopy(new)

    def _remove(self, res, key):
        obj = copy.deepcopy(self._objects.pop(key))     # the log still holds the old dict
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self._emit(res, "DELETED", obj)
        return copy.deepcopy(obj)

    def _check_preconditions(self, res, obj, pre):
        meta, name = obj["metadata"], obj["metadata"]["name"]
        ns = meta.get("namespace")
        keypath = "/%s/%s%s" % (res.plural, ns + "/" if ns else "", name)
        for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            want = pre.get(field)
            if want and want != meta[field]:
                raise conflict(res, name, "StorageError: invalid object, Code: 4, Key: %s, "
                               "ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: "
                               "%s in precondition: %s, %s in object meta: %s"
                               % (keypath, label, want, label, meta[field]))

    # -- watching
    def wait_events(self, plural, resource_version, namespace=None, timeout=0.0,
                    with_previous=False):
        """Events of one resource after resource_version, waiting up to timeout for the first.

        Returns (events [(type, obj)], rv to continue from); with_previous: [(type, obj, the
        object before a MODIFIED or None)]. 410 Expired when too old."""
        res = resource(plural)
        rv = int(resource_version or 0)
        with self._cond:
            end = None
            while True:
                if rv < self._floor:
                    raise ApiError(410, "Expired", "too old resource version: %d (%d)"
                                   % (rv, self._floor + 1))
                start = bisect.bisect_right(self._log, rv, key=lambda e: e[0])
                evs = [(t, copy.deepcopy(o), copy.deepcopy(old)) if with_previous
                       else (t, copy.deepcopy(o))
                       for (erv, p, ns, t, o, old) in self._log[start:]
                       if p == plural
                       and (not namespace or not res.namespaced or ns == namespace)]
                if evs or timeout <= 0:
                    return evs, max(rv, self._rv)
                if end is None:
                    end = time.monotonic() + timeout
                left = end - time.monotonic()
                if left <= 0:
                    return [], max(rv, self._rv)
                self._cond.wait(left)

    def events_since(self, plural, resource_version, namespace=None):
        return self.wait_events(plural, resource_version, namespace, 0)[0]

    def wait_for_change(self, timeout, since=None):
        """Blocks until the global resourceVersion passes `since` (default: now) or timeout.

        Returns the current resourceVersion (string)."""
        with self._cond:
            start = self._rv if since is None else int(since)
            end = time.monotonic() + timeout
            while self._rv <= start:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return str(self._rv)

