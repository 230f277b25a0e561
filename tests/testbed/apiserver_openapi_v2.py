"""/openapi/v2 of the simulated API server: the Swagger 2.0 document built from the same resource table as the v3
ones (apiserver_openapi.py), as JSON or, as kubectl < 1.30 asks for it
(Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf), as gnostic's openapi_v2.Document protobuf.
kubectl 1.27 fails `apply` and `create` (unless --validate=false) when this document is missing; it reads from it
whether a kind's PATCH takes `fieldValidation`, and then leaves validation to the server."""
import functools
import hashlib
import json

import apiserver_openapi as v3
from store import RESOURCES

PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
PROTOBUF_REPLY = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"    # kube-openapi's: no "@"
PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml"]


def _param(p):
    out = {"name": p["name"], "in": p["in"], "type": "string", "uniqueItems": True}
    if p.get("required"):
        out["required"] = True
    return out


def _op(op3, res):
    op = {k: op3[k] for k in ("operationId", "x-kubernetes-action", "x-kubernetes-group-version-kind")}
    op["parameters"] = [_param(p) for p in op3["parameters"]]
    ref = {"$ref": "#/definitions/" + v3.schema_name(res)}
    if "requestBody" in op3:
        op["parameters"].insert(0, {"name": "body", "in": "body", "required": True, "schema": ref})
    op["consumes"] = PATCH_TYPES if op["x-kubernetes-action"] == "patch" else ["*/*"]
    op["produces"] = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
    op["responses"] = {"200": {"description": "OK", "schema": ref}}
    return op


@functools.lru_cache(maxsize=8)
def encoded(kube_version, as_protobuf):
    """The document's bytes (built once per version: the resource table does not change)."""
    doc = document(kube_version)
    return protobuf(doc) if as_protobuf else json.dumps(doc, separators=(",", ":")).encode()


def document(kube_version):
    paths, defs = {}, {}
    for res in sorted(RESOURCES.values(), key=lambda r: (r.group, r.version, r.plural)):
        doc = v3.group_version_doc(res.group, res.version, kube_version)
        for path, item in v3.paths_of(res).items():
            paths[path] = {m: _op(op, res) for m, op in item.items() if m != "parameters"}
            paths[path]["parameters"] = [_param(p) for p in item["parameters"]]
        for name, schema in doc["components"]["schemas"].items():
            defs[name] = _v2_schema(schema)
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v" + kube_version},
            "paths": paths, "definitions": defs}


def _v2_schema(s):
    """A v3 schema as v2 writes it: refs to #/definitions/."""
    if isinstance(s, dict):
        return {k: (v.replace("#/components/schemas/", "#/definitions/") if k == "$ref" else _v2_schema(v))
                for k, v in s.items()}
    if isinstance(s, list):
        return [_v2_schema(x) for x in s]
    return s


def etag(body):
    return '"%s"' % hashlib.sha512(body).hexdigest().upper()[:128]


# ------------------------------------------------------------------------------ protobuf (gnostic openapi_v2)
def _key(field, wire):
    return _varint(field << 3 | wire)


def _varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _bytes(field, data):
    data = data.encode() if isinstance(data, str) else data
    return _key(field, 2) + _varint(len(data)) + data


def _bool(field, v):
    return _key(field, 0) + b"\x01" if v else b""


def _yaml(v):
    """A vendor extension's value as gnostic keeps it: YAML (here JSON, which is YAML)."""
    return json.dumps(v, sort_keys=True)


def _ext(field, name, value):
    return _bytes(field, _bytes(1, name) + _bytes(2, _bytes(2, _yaml(value))))


def _schema(s):
    out = b""
    if "$ref" in s:
        out += _bytes(1, s["$ref"])
    if "type" in s:
        out += _bytes(22, _bytes(1, s["type"]))
    if "items" in s:
        out += _bytes(23, _bytes(1, _schema(s["items"])))
    for sub in s.get("allOf") or []:
        out += _bytes(24, _schema(sub))
    if "properties" in s:
        out += _bytes(25, b"".join(_bytes(1, _bytes(1, k) + _bytes(2, _schema(v)))
                                   for k, v in s["properties"].items()))
    for k, v in s.items():
        if k.startswith("x-"):
            out += _ext(31, k, v)
    return out


def _parameter(p):
    if p["in"] == "body":
        body = _bytes(2, p["name"]) + _bytes(3, "body") + _bool(4, True) + _bytes(5, _schema(p["schema"]))
        return _bytes(1, _bytes(1, body))
    if p["in"] == "path":
        sub = _bool(1, p.get("required")) + _bytes(2, "path") + _bytes(4, p["name"]) + _bytes(5, "string") + \
            _bool(19, True)
        return _bytes(1, _bytes(2, _bytes(4, sub)))
    sub = _bytes(2, "query") + _bytes(4, p["name"]) + _bytes(6, "string") + _bool(20, True)
    return _bytes(1, _bytes(2, _bytes(3, sub)))


def _operation(op):
    out = _bytes(5, op["operationId"])
    out += b"".join(_bytes(6, t) for t in op["produces"]) + b"".join(_bytes(7, t) for t in op["consumes"])
    out += b"".join(_bytes(8, _parameter(p)) for p in op["parameters"])
    for code, r in op["responses"].items():
        resp = _bytes(1, r["description"]) + _bytes(2, _bytes(1, _schema(r["schema"])))
        out += _bytes(9, _bytes(1, _bytes(1, code) + _bytes(2, _bytes(1, resp))))
    for k, v in op.items():
        if k.startswith("x-"):
            out += _ext(13, k, v)
    return out


METHOD_FIELDS = {"get": 2, "put": 3, "post": 4, "delete": 5, "patch": 8}


def _path_item(item):
    out = b"".join(_bytes(METHOD_FIELDS[m], _operation(op)) for m, op in item.items() if m in METHOD_FIELDS)
    return out + b"".join(_bytes(9, _parameter(p)) for p in item.get("parameters") or [])


def protobuf(doc):
    out = _bytes(1, doc["swagger"]) + _bytes(2, _bytes(1, doc["info"]["title"]) + _bytes(2, doc["info"]["version"]))
    out += _bytes(8, b"".join(_bytes(2, _bytes(1, p) + _bytes(2, _path_item(i))) for p, i in doc["paths"].items()))
    return out + _bytes(9, b"".join(_bytes(1, _bytes(1, n) + _bytes(2, _schema(s)))
                                    for n, s in doc["definitions"].items()))
