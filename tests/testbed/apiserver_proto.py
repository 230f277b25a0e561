"""Just enough Kubernetes protobuf to read the SelfSubjectAccessReview that kubectl >= 1.30 sends
as application/vnd.kubernetes.protobuf (answers go back as JSON, which client-go accepts)."""

MAGIC = b"k8s\x00"


def _varint(b, i):
    shift = value = 0
    while True:
        byte = b[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7


def fields(b):
    """{field number: [values]} of one message; length-delimited values stay bytes."""
    out, i = {}, 0
    while i < len(b):
        key, i = _varint(b, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(b, i)
        elif wire == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        elif wire == 1:
            v, i = b[i:i + 8], i + 8
        elif wire == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("unsupported protobuf wire type %d" % wire)
        out.setdefault(num, []).append(v)
    return out


def _str(f, n):
    return f.get(n, [b""])[0].decode()


def unwrap(body):
    """The raw message bytes inside the runtime.Unknown envelope."""
    if not body.startswith(MAGIC):
        raise ValueError("not a Kubernetes protobuf body")
    return fields(fields(body[len(MAGIC):]).get(2, [b""])[0])


def self_subject_access_review(body):
    """The spec of a protobuf SelfSubjectAccessReview as the JSON dict."""
    spec = fields(unwrap(body).get(2, [b""])[0])
    out = {}
    if 1 in spec:
        ra = fields(spec[1][0])
        out["resourceAttributes"] = {k: _str(ra, n) for n, k in enumerate(
            ("namespace", "verb", "group", "version", "resource", "subresource", "name"), 1)
            if _str(ra, n)}
    if 2 in spec:
        nra = fields(spec[2][0])
        out["nonResourceAttributes"] = {"path": _str(nra, 1), "verb": _str(nra, 2)}
    return out
