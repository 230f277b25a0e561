"""OpenAPI v3 documents of the simulated API server (/openapi/v3 and /openapi/v3/apis/G/V), generated from
the resource table, and the server-side field validation (`fieldValidation=Strict`) they announce.

kubectl asks /openapi/v3 (1.29 on; 1.27 asks /openapi/v2, apiserver_openapi_v2.py) whether a kind's PATCH takes
the `fieldValidation` query parameter; when it does, it leaves validation to the server and sends
`fieldValidation=Strict`. The documents hold the real shapes (the paths with their operations and
`x-kubernetes-group-version-kind`, the schema of each kind under its real name) but the smallest schemas:
apiVersion, kind, metadata (ObjectMeta with its real fields) and the kind's top-level fields, whose own fields are
not listed. Strict validation therefore rejects unknown fields at the top level and in metadata only, with the
real API server's message."""
import functools
import hashlib
import json

from store import ApiError, RESOURCES

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
META_FIELDS = ["annotations", "creationTimestamp", "deletionGracePeriodSeconds", "deletionTimestamp",
               "finalizers", "generateName", "generation", "labels", "managedFields", "name", "namespace",
               "ownerReferences", "resourceVersion", "selfLink", "uid"]
# the JSON type of each field named here (k8s.io/api); any other field is a string
FIELD_TYPES = {"object": {"annotations", "labels", "data", "binaryData", "stringData", "spec", "status", "roleRef",
                          "aggregationRule", "involvedObject", "related", "series", "source"},
               "array": {"finalizers", "managedFields", "ownerReferences", "rules", "subjects", "secrets",
                         "imagePullSecrets"},
               "integer": {"deletionGracePeriodSeconds", "generation", "count"},
               "boolean": {"immutable", "automountServiceAccountToken"}}
# top-level fields besides apiVersion, kind, metadata (k8s.io/api types; spec/status for the others)
TOP_FIELDS = {"ConfigMap": ["binaryData", "data", "immutable"],
              "Secret": ["data", "immutable", "stringData", "type"],
              "ServiceAccount": ["automountServiceAccountToken", "imagePullSecrets", "secrets"],
              "Role": ["rules"], "ClusterRole": ["aggregationRule", "rules"],
              "RoleBinding": ["roleRef", "subjects"], "ClusterRoleBinding": ["roleRef", "subjects"],
              "Event": ["action", "count", "eventTime", "firstTimestamp", "involvedObject", "lastTimestamp",
                        "message", "reason", "related", "reportingComponent", "reportingInstance", "series",
                        "source", "type"],
              "Lease": ["spec"], "SecurityContextConstraints": None}
QUERY = ["dryRun", "fieldManager", "fieldValidation", "pretty"]


def schema_name(res):
    """The definition's name in the real documents: k8s.io/api's package path for built-in groups, the
    reversed group for OpenShift's and other CRD-like groups."""
    if res.group == "" or res.group.endswith(".k8s.io") or "." not in res.group:
        pkg = res.group.split(".")[0] or "core"
        return "io.k8s.api.%s.%s.%s" % (pkg, res.version, res.kind)
    return "%s.%s.%s" % (".".join(reversed(res.group.split("."))), res.version, res.kind)


def _gvk(res):
    return {"group": res.group, "version": res.version, "kind": res.kind}


def _ref(name):
    return {"allOf": [{"$ref": "#/components/schemas/" + name}], "default": {}}


def _kind_schema(res):
    props = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": _ref(OBJECT_META)}
    fields = TOP_FIELDS.get(res.kind, ["spec", "status"])
    for f in fields or []:
        props[f] = _field(f)
    # no x-kubernetes-group-version-kind here (the real schemas have it): kubectl >= 1.30 computes apply's
    # strategic merge patch from the schema carrying it, and these list no nested fields; without it, it
    # falls back to its compiled-in types
    out = {"type": "object", "properties": props}
    if fields is None:      # an OpenShift kind whose fields sit at the top level: not listed here
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def _field(name):
    typ = next((t for t, names in FIELD_TYPES.items() if name in names), "string")
    if typ == "object":
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if typ == "array":
        return {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    return {"type": typ}


def _meta_schema():
    return {"type": "object", "properties": {f: _field(f) for f in META_FIELDS}}


def _param(name, where="query", required=False):
    p = {"name": name, "in": where, "schema": {"type": "string", "uniqueItems": True}}
    if required:
        p["required"] = True
    return p


def _op(res, action, verb, body=True, query=QUERY):
    op = {"operationId": "%s%s" % (verb, res.kind), "parameters": [_param(q) for q in query],
          "responses": {"200": {"description": "OK", "content": {"application/json": {
              "schema": {"$ref": "#/components/schemas/" + schema_name(res)}}}}},
          "x-kubernetes-action": action, "x-kubernetes-group-version-kind": _gvk(res)}
    if body:
        op["requestBody"] = {"content": {"*/*": {"schema": {"$ref": "#/components/schemas/" + schema_name(res)}}},
                             "required": True}
    if action == "patch":
        op["parameters"].append(_param("force"))
        op["requestBody"]["content"] = {t: {"schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg."
                                                       "apis.meta.v1.Patch"}}
                                        for t in ("application/apply-patch+yaml", "application/json-patch+json",
                                                  "application/merge-patch+json",
                                                  "application/strategic-merge-patch+json")}
    return op


def paths_of(res):
    prefix = "/api/" + res.version if not res.group else "/apis/%s/%s" % (res.group, res.version)
    scope = [_param("namespace", "path", True)] if res.namespaced else []
    coll = prefix + ("/namespaces/{namespace}/" if res.namespaced else "/") + res.plural
    return {
        coll: {"get": _op(res, "list", "list", False, ["pretty"]), "post": _op(res, "post", "create"),
               "parameters": scope},
        coll + "/{name}": {"get": _op(res, "get", "read", False, ["pretty"]), "put": _op(res, "put", "replace"),
                           "patch": _op(res, "patch", "patch"),
                           "delete": _op(res, "delete", "delete", False, ["dryRun", "pretty"]),
                           "parameters": [_param("name", "path", True)] + scope}}


def group_version_doc(group, version, kube_version):
    """The OpenAPI v3 document of one group/version, or None when it serves nothing."""
    served = [r for r in RESOURCES.values() if r.group == group and r.version == version]
    if not served:
        return None
    paths, schemas = {}, {OBJECT_META: _meta_schema(),
                          "io.k8s.apimachinery.pkg.apis.meta.v1.Patch": {"type": "object"}}
    for r in sorted(served, key=lambda r: r.plural):
        paths.update(paths_of(r))
        schemas[schema_name(r)] = _kind_schema(r)
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v" + kube_version},
            "paths": paths, "components": {"schemas": schemas}}


def _gv_path(group, version):
    return "api/" + version if not group else "apis/%s/%s" % (group, version)


@functools.lru_cache(maxsize=8)
def root(kube_version):
    """/openapi/v3: each group/version's document with the hash clients cache it by."""
    out = {}
    for gv in sorted({(r.group, r.version) for r in RESOURCES.values()}):
        doc = json.dumps(group_version_doc(gv[0], gv[1], kube_version), sort_keys=True).encode()
        out[_gv_path(*gv)] = {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (
            _gv_path(*gv), hashlib.sha512(doc).hexdigest().upper()[:128])}
    return {"paths": out}


def lookup(parts, kube_version):
    """The document for /openapi/v3[/api/V | /apis/G/V] (parts after "v3"), or None."""
    if not parts:
        return root(kube_version)
    if parts[0] == "api" and len(parts) == 2:
        return group_version_doc("", parts[1], kube_version)
    if parts[0] == "apis" and len(parts) == 3:
        return group_version_doc(parts[1], parts[2], kube_version)
    return None


# ------------------------------------------------------------------------------ fieldValidation
def unknown_fields(res, obj):
    """The paths of obj's fields its schema does not know (as Strict validation names them)."""
    if not isinstance(obj, dict):
        return []
    fields = TOP_FIELDS.get(res.kind, ["spec", "status"])
    if fields is None:
        known = None
    else:
        known = {"apiVersion", "kind", "metadata"} | set(fields)
    # "$..." keys are strategic merge patch directives ($setElementOrder/..., $patch, $retainKeys)
    out = [k for k in obj if known is not None and k not in known and not k.startswith("$")]
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        out += ["metadata." + k for k in meta if k not in META_FIELDS and not k.startswith("$")]
    return sorted(out)


def check(req, res, obj, options="CreateOptions"):
    """fieldValidation (query) of a create, update (UpdateOptions) or patch (PatchOptions): Strict refuses unknown
    fields (400 BadRequest, the real message); Warn returns them (for the Warning header); Ignore and none do
    nothing. Returns the warnings."""
    mode = (req.query.get("fieldValidation") or [""])[-1]
    if mode not in ("", "Ignore", "Warn", "Strict"):
        msg = 'Unsupported value: "%s": supported values: "", "Ignore", "Strict", "Warn"' % mode
        raise ApiError(422, "Invalid", '%s.meta.k8s.io "" is invalid: fieldValidation: %s' % (options, msg),
                       {"group": "meta.k8s.io", "kind": options, "causes": [
                           {"reason": "FieldValueNotSupported", "message": msg, "field": "fieldValidation"}]})
    bad = unknown_fields(res, obj) if mode in ("Warn", "Strict") else []
    msgs = ['unknown field "%s"' % f for f in bad]
    if mode != "Strict" or not msgs:
        return msgs
    what = "" if options == "PatchOptions" else '%s in version "%s" cannot be handled as a %s: ' % (
        res.kind, res.version, res.kind)
    raise ApiError(400, "BadRequest", what + "strict decoding error: " + ", ".join(msgs))
