"""Patch formats of the simulated API server: RFC 7386 merge patch, RFC 6902 JSON patch and a
strategic merge patch that merges the well-known keyed lists (containers by name, ...)."""
import copy

from store import ApiError

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
SUPPORTED = (JSON_PATCH, MERGE, STRATEGIC)


def merge_patch(target, patch):
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        elif isinstance(v, dict):
            result[k] = merge_patch(result.get(k), v)
        else:
            result[k] = copy.deepcopy(v)
    return result


# List fields that strategic merge patch merges by a key (k8s.io/api patchMergeKey tags).
MERGE_KEYS = {"containers": "name", "initContainers": "name", "ephemeralContainers": "name",
              "volumes": "name", "volumeMounts": "mountPath", "env": "name",
              "ports": "containerPort", "imagePullSecrets": "name", "conditions": "type",
              "containerStatuses": "name", "initContainerStatuses": "name",
              "ownerReferences": "uid", "addresses": "type", "hostAliases": "ip"}


def strategic_merge_patch(target, patch):
    """Merge patch, except that the lists above merge item by item on their key; an item with
    "$patch": "delete" removes that item, a map with "$patch": "replace" replaces the map."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$"):
            continue
        if v is None:
            result.pop(k, None)
        elif isinstance(v, dict):
            result[k] = strategic_merge_patch(result.get(k), v)
        elif isinstance(v, list) and k in MERGE_KEYS and isinstance(result.get(k), list):
            result[k] = _merge_list(result[k], v, MERGE_KEYS[k])
        else:
            result[k] = copy.deepcopy(v)
    return result


def _merge_list(current, items, key):
    out = copy.deepcopy(current)
    for item in items:
        if not isinstance(item, dict) or key not in item:
            return copy.deepcopy(items)          # not mergeable: replace, as merge patch does
        at = next((i for i, o in enumerate(out) if isinstance(o, dict)
                   and o.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if at is not None:
                out.pop(at)
        elif at is None:
            out.append(strategic_merge_patch({}, item))
        else:
            out[at] = strategic_merge_patch(out[at], item)
    return out


def _invalid(msg):
    return ApiError(422, "Invalid", msg)


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise _invalid("json patch: invalid path %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts, path):
    cur = doc
    for p in parts:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            raise _invalid("jsonpatch: path %s does not exist in the object" % path)
    return cur


def _get(doc, path):
    return _walk(doc, _pointer(path), path)


def _remove(doc, path):
    parts = _pointer(path)
    if not parts:
        raise _invalid("jsonpatch remove: cannot remove the whole document")
    parent, last = _walk(doc, parts[:-1], path), parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise _invalid("jsonpatch remove operation does not apply: doc is missing path: %s" % path)


def _add(doc, path, value, replace=False):
    parts = _pointer(path)
    if not parts:
        return value
    parent, last = _walk(doc, parts[:-1], path), parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise _invalid("jsonpatch replace operation does not apply: doc is missing key: %s"
                           % path)
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent) - (1 if replace else 0):
            if replace:
                parent[int(last)] = value
            else:
                parent.insert(int(last), value)
        else:
            raise _invalid("jsonpatch: index out of range in %s" % path)
    else:
        raise _invalid("jsonpatch: cannot add to %s" % path)
    return doc


def json_patch(doc, ops):
    """RFC 6902 on a copy of doc."""
    if not isinstance(ops, list):
        raise ApiError(400, "BadRequest", "json patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise ApiError(400, "BadRequest", "json patch operation needs op and path")
        kind, path = op["op"], op["path"]
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "replace":
            doc = _add(doc, path, copy.deepcopy(op.get("value")), replace=True)
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "move":
            doc = _add(doc, path, _remove(doc, op.get("from", "")))
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, op.get("from", ""))))
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise _invalid("testing value %s failed" % path)
        else:
            raise ApiError(400, "BadRequest", "unexpected json patch operation %r" % kind)
    return doc


def apply(content_type, doc, patch):
    ct = (content_type or "").split(";")[0].strip().lower()
    if ct == JSON_PATCH:
        return json_patch(doc, patch)
    if ct in (MERGE, STRATEGIC):
        if not isinstance(patch, dict):
            raise ApiError(400, "BadRequest", "merge patch must be a JSON object")
        return merge_patch(doc, patch) if ct == MERGE else strategic_merge_patch(doc, patch)
    raise ApiError(415, "UnsupportedMediaType",
                   "the body of the request was in an unknown format - accepted media types "
                   "include: application/json-patch+json, application/merge-patch+json, "
                   "application/apply-patch+yaml, application/strategic-merge-patch+json")
