#!/usr/bin/python3
"""Builds etcd-medic's OCI image without a container engine: `make image` (docs/in-cluster.md).

  image/oci.py BINARY OUT_DIR VERSION SONAME...

OUT_DIR becomes an OCI image layout (oci-layout, index.json, blobs/sha256/...) tagged VERSION, and OUT_DIR.tar
the same layout as one file (`skopeo copy oci-archive:OUT_DIR.tar docker://REGISTRY/etcd-medic:VERSION`,
`podman load -i OUT_DIR.tar`). One layer holds:
  /usr/bin/etcd-medic           the binary
  the libraries it loads        what the dynamic loader maps at start (ldd BINARY) and what it dlopens on first use
                                (each SONAME: libcurl, libssl, libcrypto, libedit; bindings/base/lazylib.h), with
                                their own dependencies, each at the path ldd names
  /bin/sh, mkdir, tar, gzip, kill   busybox (static): the few commands the scripts run on this machine (the
                                journal's directory, a backup's tarball check, a lease holder's pid)
  /etc/passwd, group, nsswitch.conf, ssl/certs/ca-certificates.crt; /tmp; /home/nonroot
The image runs as 65532:65532 (nonroot), its entry point the binary. Timestamps are 0 and owners numeric, so the
same inputs give the same digests."""
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

UID = 65532
BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "mkdir", "tar", "gzip", "kill")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def ldd(path):
    """The libraries the loader maps for path: {path as ldd names it}; the loader itself included."""
    out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    libs = set()
    for line in out.splitlines():
        m = re.search(r"=> (/\S+)", line) or re.match(r"\s*(/\S+)", line)
        if m:
            libs.add(m.group(1))
    return libs


def soname_path(soname):
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        name, _, rest = line.strip().partition(" ")
        if name == soname and "x86-64" in rest and "=> " in rest:
            return rest.split("=> ", 1)[1].strip()
    sys.exit("image: %s is not installed (ldconfig -p)" % soname)


def libraries(binary, sonames):
    libs = ldd(binary)
    for s in sonames:
        p = soname_path(s)
        libs |= {p} | ldd(p)
    return sorted(libs)


class Layer:
    """A tar built in memory: every entry root-owned unless said, mtime 0, sorted by the caller."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)
        self.dirs = set()

    def _info(self, name, kind, mode, uid=0):
        ti = tarfile.TarInfo(name.lstrip("/"))
        ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = kind, mode, uid, uid, 0
        return ti

    def dir(self, name, mode=0o755, uid=0):
        parent = os.path.dirname(name.rstrip("/"))
        if parent not in ("", "/") and parent not in self.dirs:
            self.dir(parent)
        if name not in self.dirs:
            self.dirs.add(name)
            self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode, uid))

    def file(self, name, data, mode=0o644):
        self.dir(os.path.dirname(name))
        ti = self._info(name, tarfile.REGTYPE, mode)
        ti.size = len(data)
        self.tar.addfile(ti, io.BytesIO(data))

    def link(self, name, target):
        self.dir(os.path.dirname(name))
        ti = self._info(name, tarfile.SYMTYPE, 0o777)
        ti.linkname = target
        self.tar.addfile(ti)

    def bytes(self):
        self.tar.close()
        return self.buf.getvalue()


def etc_files(layer):
    layer.file("/etc/passwd", b"root:x:0:0:root:/root:/sbin/nologin\n"
               b"nonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n" % (UID, UID))
    layer.file("/etc/group", b"root:x:0:\nnonroot:x:%d:\n" % UID)
    layer.file("/etc/nsswitch.conf", b"passwd: files\ngroup: files\nhosts: files dns\n")
    if os.path.exists(CA_BUNDLE):
        layer.file(CA_BUNDLE, open(CA_BUNDLE, "rb").read())
    layer.dir("/tmp", 0o1777)
    layer.dir("/home/nonroot", 0o700, UID)


def build_layer(binary, libs):
    layer = Layer()
    layer.file("/usr/bin/etcd-medic", open(binary, "rb").read(), 0o755)
    for lib in libs:  # the real file, at the path the loader looks for (a symlink's target copied in its place)
        layer.file(lib, open(os.path.realpath(lib), "rb").read(), 0o755)
    layer.file(BUSYBOX, open(BUSYBOX, "rb").read(), 0o755)
    for a in APPLETS:
        layer.link("/bin/" + a, "busybox")
    etc_files(layer)
    return layer.bytes()


def blob(out, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(out, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def config(version, diff_id):
    return {
        "created": "1970-01-01T00:00:00Z", "architecture": "amd64", "os": "linux",
        "config": {"User": "%d:%d" % (UID, UID), "Entrypoint": ["/usr/bin/etcd-medic"], "Cmd": ["--help"],
                   "Env": ["PATH=/usr/bin:/bin", "HOME=/home/nonroot"], "WorkingDir": "/home/nonroot",
                   "Labels": {"org.opencontainers.image.title": "etcd-medic",
                              "org.opencontainers.image.version": version}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "image/oci.py (make image)"}],
    }


def main(argv):
    binary, out, version, sonames = argv[1], argv[2], argv[3], argv[4:]
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.join(out, "blobs", "sha256"))
    libs = libraries(binary, sonames)
    tar = build_layer(binary, libs)
    layer = dict(blob(out, gzip.compress(tar, mtime=0)), mediaType="application/vnd.oci.image.layer.v1.tar+gzip")
    cfg = json.dumps(config(version, "sha256:" + hashlib.sha256(tar).hexdigest()), sort_keys=True).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": dict(blob(out, cfg), mediaType="application/vnd.oci.image.config.v1+json"),
                "layers": [layer]}
    man = dict(blob(out, json.dumps(manifest, sort_keys=True).encode()),
               mediaType="application/vnd.oci.image.manifest.v1+json",
               annotations={"org.opencontainers.image.ref.name": version})
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [man]},
                  f, sort_keys=True)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with tarfile.open(out + ".tar", "w", format=tarfile.PAX_FORMAT) as t:
        for name in sorted(os.listdir(out)):
            t.add(os.path.join(out, name), arcname=name, filter=zero_owner)
    print("image: %s (and %s.tar), %s: one layer of %d bytes, %d libraries"
          % (out, out, version, layer["size"], len(libs)))


def zero_owner(ti):
    ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = 0, 0, 0, "", ""
    return ti


if __name__ == "__main__":
    main(sys.argv)
