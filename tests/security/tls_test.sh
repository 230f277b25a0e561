#!/usr/bin/env bash
# TLS verification is on unless the kubeconfig says otherwise: a server whose certificate another CA signed
# is refused (code "TLS") by medic.k8s (wrong certificate-authority, or none: the system store) and by
# medic.etcd (wrong --etcd-cacert); the right CA works (so the refusals are about the CA), and
# insecure-skip-tls-verify: true in the kubeconfig is honoured.
. "$(dirname "$0")/lib.sh"
cd "$T"
mkca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$1" \
		-keyout "$1.key" -out "$1.crt" 2>/dev/null
}
mkca ca-right && mkca ca-wrong || { fail "openssl cannot make CAs"; finish; }
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=server -keyout server.key \
	-out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
openssl x509 -req -in server.csr -CA ca-right.crt -CAkey ca-right.key -CAcreateserial -days 2 \
	-extfile san.ext -out server.crt 2>/dev/null
python3 "$ROOT/tests/security/tls_server.py" server.crt server.key port &
srv=$!
cleanup_hooks+=("kill $srv 2>/dev/null")
for _ in $(seq 100); do [ -s port ] && break; sleep 0.1; done
port=$(cat port)
[ -n "$port" ] || { fail "the test server did not start"; finish; }

kubeconfig() { # $1: file, $2: the cluster's TLS line
	cat > "$1" <<EOK
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:$port
    $2
users:
- name: u
  user: {token: "tls-test-token"}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
EOK
}
kubeconfig right.kc "certificate-authority: $T/ca-right.crt"
kubeconfig wrong.kc "certificate-authority: $T/ca-wrong.crt"
kubeconfig system.kc "tls-server-name: 127.0.0.1"
kubeconfig insecure.kc "insecure-skip-tls-verify: true"
get_version='local k = assert(require("medic.k8s").connect{}); local v, msg, code = k:get("/version")
print(v and ("OK " .. v.gitVersion) or ("ERR " .. tostring(code) .. " " .. tostring(msg)))'
declare -A r
for kc in right wrong system insecure; do
	r[$kc]=$(timeout 60 "$MEDIC" --kubeconfig "$kc.kc" -e "$get_version" 2>&1 | tail -1)
	echo "  $kc: ${r[$kc]}"
done
check "the right CA is accepted" test "${r[right]}" = "OK v1.27.0"
check "a wrong certificate-authority is refused with code TLS" grep -q '^ERR TLS' <<< "${r[wrong]}"
check "no certificate-authority (system store) is refused with code TLS" grep -q '^ERR TLS' <<< "${r[system]}"
check "insecure-skip-tls-verify: true in the kubeconfig is honoured" test "${r[insecure]}" = "OK v1.27.0"

# etcd, direct: the gateway client with a wrong CA
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=client -keyout client.key \
	-out client.csr 2>/dev/null
openssl x509 -req -in client.csr -CA ca-wrong.crt -CAkey ca-wrong.key -CAcreateserial -days 2 -out client.crt 2>/dev/null
members='local e = require("medic.etcd").connect{}; local m, msg, code = e:members()
print(m and "OK" or ("ERR " .. tostring(code) .. " " .. tostring(msg)))'
out=$(timeout 60 "$MEDIC" --etcd-endpoints "https://127.0.0.1:$port" --etcd-cacert ca-wrong.crt --etcd-cert client.crt \
	--etcd-key client.key -e "$members" 2>&1 | tail -1)
echo "  etcd wrong CA: $out"
check "etcd with a wrong --etcd-cacert is refused with code TLS" grep -q '^ERR TLS' <<< "$out"
finish
