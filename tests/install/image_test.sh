#!/bin/bash
# The OCI image `make image` builds, checked without a container engine: the layout's digests and sizes, the
# config (a non-root user, the binary as entry point), the layer unpacked and run with chroot as that user:
# `etcd-medic --version`; a request over TLS to a server on this machine (libcurl and OpenSSL, loaded on first use,
# are in the image); the shell commands the scripts run. The lazily loaded libraries the sources name are the
# ones the Makefile gives the image; nothing but the binary, libraries, busybox and /etc's few files is in it.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
IMAGE=$(realpath "${IMAGE:-$REPO/build/image}")
T=$(mktemp -d "${TMPDIR:-/tmp}/medic-image.XXXXXX") || exit 1
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; fails=$((fails + 1)); }
check() { local d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }

# The layout: every blob's digest is its sha256, the config's diff_id the layer's uncompressed sha256.
check "the OCI layout is whole (digests, sizes, diff_id)" python3 - "$IMAGE" "$T/layer.tar.gz" "$T/config.json" <<'PY'
import gzip, hashlib, json, os, shutil, sys
out, layer_copy, config_copy = sys.argv[1:4]
def blob(d):
    data = open(os.path.join(out, "blobs", "sha256", d["digest"][7:]), "rb").read()
    assert hashlib.sha256(data).hexdigest() == d["digest"][7:] and len(data) == d["size"], d["digest"]
    return data
assert json.load(open(os.path.join(out, "oci-layout")))["imageLayoutVersion"] == "1.0.0"
index = json.load(open(os.path.join(out, "index.json")))
man = json.loads(blob(index["manifests"][0]))
cfg = json.loads(blob(man["config"]))
layer = blob(man["layers"][0])
assert cfg["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()]
open(layer_copy, "wb").write(layer)
json.dump(cfg, open(config_copy, "w"))
PY
check "it runs as a non-root user, the binary its entry point" python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))["config"]
sys.exit(0 if c["User"] == "65532:65532" and c["Entrypoint"] == ["/usr/bin/etcd-medic"] else 1)' "$T/config.json"

mkdir "$T/root" && tar -xzf "$T/layer.tar.gz" -C "$T/root" || { echo "FAIL - unpacking the layer"; exit 1; }
in_image() { chroot --userspec=65532:65532 "$T/root" "$@"; }
check "etcd-medic --version in the image, as 65532" bash -c "$(declare -f in_image); T='$T'
	in_image /usr/bin/etcd-medic --version | grep -q '^etcd-medic [0-9]'"

# Nothing else: the binary, shared libraries, busybox and its links, /etc's files, two directories.
allowed='^\./(usr/bin/etcd-medic|lib(64)?/.*\.so(\.[0-9]+)*|bin/(busybox|sh|mkdir|tar|gzip|kill)'
allowed+='|etc/(passwd|group|nsswitch\.conf|ssl/certs/ca-certificates\.crt))$'
check "only the binary, libraries, busybox and /etc" bash -c "cd '$T/root' && ! find . ! -type d | grep -vE '$allowed'"
want=$(grep -rhoE '"lib[a-z0-9]+\.so\.[0-9]+"' "$REPO/bindings" "$REPO/host" | tr -d '"' | sort -u | tr '\n' ' ')
have=$(sed -n 's/^LAZY_SONAMES *= *//p' "$REPO/Makefile" | tr ' ' '\n' | sort -u | tr '\n' ' ')
check "the Makefile's LAZY_SONAMES are the libraries the sources dlopen ($want)" test "$want" = "$have"
for s in $want; do
	check "$s is in the image" bash -c "ls '$T/root'/lib/*/$s >/dev/null 2>&1"
done

# A TLS request from inside the image: libcurl and OpenSSL load, verify the server, and read /version.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 -days 1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
python3 - "$T" <<'PY' &
import http.server, ssl, sys
t = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"major":"1","minor":"32","gitVersion":"v1.32.4-image-test"}'
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(t + "/cert.pem", t + "/key.pem")
s.socket = ctx.wrap_socket(s.socket, server_side=True)
open(t + "/port.tmp", "w").write(str(s.server_address[1])); __import__("os").rename(t + "/port.tmp", t + "/port")
s.handle_request()
PY
server=$!
for _ in $(seq 50); do [ -f "$T/port" ] && break; sleep 0.1; done
cat >"$T/root/tmp/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:$(cat "$T/port")
    certificate-authority-data: $(base64 -w0 "$T/cert.pem")
users:
- name: u
  user:
    token: image-test
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
KC
chmod 644 "$T/root/tmp/kubeconfig"
in_image /usr/bin/etcd-medic --kubeconfig /tmp/kubeconfig \
	-e 'print((require("medic.k8s").connect():request{ path = "/version", retries = 0 }).gitVersion)' \
	>"$T/tls.out" 2>&1
check "a TLS request from the image (libcurl, OpenSSL loaded, the server verified)" \
	grep -qx 'v1.32.4-image-test' "$T/tls.out"
in_image /bin/sh -c 'umask 077 && mkdir -p /tmp/a/b && echo x >/tmp/a/b/f && tar -czf /tmp/t.tgz -C /tmp a &&
	tar -tzf /tmp/t.tgz && gzip -dc /tmp/t.tgz | gzip | gzip -d | tar -xOf - a/b/f' >"$T/sh.out" 2>&1
check "the commands the scripts run: sh, mkdir, tar, gzip (as 65532)" grep -qx 'x' "$T/sh.out"
check "tar lists the tarball it made" grep -qx 'a/b/f' "$T/sh.out"

echo "image_test.sh: $fails failed"
[ "$fails" -eq 0 ]
