"""Just enough Kubernetes protobuf to read what kubectl's typed clients send as
application/vnd.kubernetes.protobuf: SelfSubjectAccessReview (kubectl >= 1.30) and the objects below (answers go back as JSON, which client-go accepts)."""
import base64

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


# ---------------------------------------------------------------------------------------------
# Objects that kubectl's typed clients create (kubectl create configmap/secret/namespace, kubectl
# debug node/X): message -> {field number: (json name, type)}; a trailing "*" means repeated.
# Fields not listed are dropped. Field numbers are those of k8s.io/api/core/v1/generated.proto.
SCHEMA = {
    "ObjectMeta": {1: ("name", "string"), 2: ("generateName", "string"),
                   3: ("namespace", "string"), 11: ("labels", "map"),
                   12: ("annotations", "map"), 14: ("finalizers", "string*")},
    "Pod": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PodSpec")},
    "PodSpec": {1: ("volumes", "Volume*"), 2: ("containers", "Container*"),
                3: ("restartPolicy", "string"), 4: ("terminationGracePeriodSeconds", "int"),
                5: ("activeDeadlineSeconds", "int"), 6: ("dnsPolicy", "string"),
                7: ("nodeSelector", "map"), 8: ("serviceAccountName", "string"),
                10: ("nodeName", "string"), 11: ("hostNetwork", "bool"), 12: ("hostPID", "bool"),
                13: ("hostIPC", "bool"), 16: ("hostname", "string"),
                19: ("schedulerName", "string"), 20: ("initContainers", "Container*"),
                22: ("tolerations", "Toleration*"), 24: ("priorityClassName", "string")},
    "Container": {1: ("name", "string"), 2: ("image", "string"), 3: ("command", "string*"),
                  4: ("args", "string*"), 5: ("workingDir", "string"), 7: ("env", "EnvVar*"),
                  9: ("volumeMounts", "VolumeMount*"), 14: ("imagePullPolicy", "string"),
                  15: ("securityContext", "SecurityContext"), 16: ("stdin", "bool"),
                  17: ("stdinOnce", "bool"), 18: ("tty", "bool"),
                  20: ("terminationMessagePolicy", "string")},
    "EnvVar": {1: ("name", "string"), 2: ("value", "string")},
    "VolumeMount": {1: ("name", "string"), 2: ("readOnly", "bool"), 3: ("mountPath", "string"),
                    4: ("subPath", "string")},
    "SecurityContext": {2: ("privileged", "bool"), 4: ("runAsUser", "int"),
                        5: ("runAsNonRoot", "bool")},
    "Toleration": {1: ("key", "string"), 2: ("operator", "string"), 3: ("value", "string"),
                   4: ("effect", "string"), 5: ("tolerationSeconds", "int")},
    "Volume": {1: ("name", "string"), 2: ("", "VolumeSource")},      # "" = inlined
    "VolumeSource": {1: ("hostPath", "HostPathVolumeSource"), 2: ("emptyDir", "EmptyDir"),
                     6: ("secret", "SecretVolumeSource")},
    "HostPathVolumeSource": {1: ("path", "string"), 2: ("type", "string")},
    "EmptyDir": {1: ("medium", "string")},
    "SecretVolumeSource": {1: ("secretName", "string")},
    "ConfigMap": {1: ("metadata", "ObjectMeta"), 2: ("data", "map"), 3: ("binaryData", "mapb")},
    "Secret": {1: ("metadata", "ObjectMeta"), 2: ("data", "mapb"), 3: ("type", "string"),
               4: ("stringData", "map")},
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "string*")},
}


def _scalar(typ, v):
    if typ == "string":
        return v.decode()
    if typ == "bool":
        return bool(v)
    if typ == "int":
        return v - (1 << 64) if v >= 1 << 63 else v
    raise ValueError("bad scalar type " + typ)


def _map(values, binary):
    out = {}
    for entry in values:
        f = fields(entry)
        k = f.get(1, [b""])[0].decode()
        v = f.get(2, [b""])[0]
        out[k] = base64.b64encode(v).decode() if binary else v.decode()
    return out


def decode(message, b):
    """One message as its JSON dict; empty strings and false/zero scalars are left out."""
    out = {}
    for num, values in fields(b).items():
        spec = SCHEMA[message].get(num)
        if spec is None:
            continue
        name, typ = spec
        repeated = typ.endswith("*")
        typ = typ.rstrip("*")
        if typ in ("map", "mapb"):
            val = _map(values, typ == "mapb")
        elif typ in SCHEMA:
            items = [decode(typ, v) for v in values]
            if not name:
                out.update(items[-1])
                continue
            val = items if repeated else items[-1]
        else:
            items = [_scalar(typ, v) for v in values]
            val = items if repeated else items[-1]
        if val in ("", False, 0, None) and typ not in SCHEMA:
            continue
        out[name] = val
    return out


def decode_object(body):
    """(apiVersion, kind, object dict) of a protobuf request body; ValueError if unsupported."""
    if not body.startswith(MAGIC):
        raise ValueError("not a Kubernetes protobuf body")
    unknown = fields(body[len(MAGIC):])
    tm = fields(unknown.get(1, [b""])[0])
    api_version, kind = _str(tm, 1), _str(tm, 2)
    if kind not in ("Pod", "ConfigMap", "Secret", "Namespace"):
        raise ValueError("protobuf %s/%s is not supported; send JSON" % (api_version, kind))
    obj = {"kind": kind, "apiVersion": api_version}
    obj.update(decode(kind, unknown.get(2, [b""])[0]))
    return api_version, kind, obj
