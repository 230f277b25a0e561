#!/bin/bash
# Ctrl-C (SIGINT) stops a blocked libcurl transfer too (the progress callback polls the interrupt flag): the
# run ends with exit 130 within a second or two, and to-be-closed cleanup runs. The server accepts TLS
# connections on 127.0.0.1 and never answers.
set -u
M=$(readlink -f "${MEDIC:?MEDIC must name the etcd-medic binary}")
T=$(mktemp -d /tmp/medic-intr-XXXXXX)
fail=0
srv=
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

"$M" -e 'require "medic.k8s"' 2>/dev/null || { echo "SKIP: medic.k8s not built yet"; exit 0; }
python3 - "$T/port" <<'PY' &
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
conns, end = [], time.time() + 60
s.settimeout(1)
while time.time() < end:
    try:
        conns.append(s.accept()[0])
    except socket.timeout:
        pass
PY
srv=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
port=$(cat "$T/port")
cat >"$T/kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:$port", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: "sekrit-token-xyz"}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
YAML
cat >"$T/get.lua" <<'LUA'
local k8s = require "medic.k8s"
local guard <close> = setmetatable({}, { __close = function() print("cleanup ran") end })
local kc = assert(k8s.connect {})
print("started")
io.stdout:flush()
print(kc:get("/api"))
LUA
"$M" --kubeconfig "$T/kubeconfig" run "$T/get.lua" >"$T/out" 2>"$T/err" &
pid=$!
for _ in $(seq 100); do grep -q started "$T/out" && break; sleep 0.05; done
sleep 0.5 # the GET is now blocked waiting for an answer
start=$(date +%s%N)
kill -INT $pid
wait $pid
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ $rc = 130 ]; then echo "ok   exit 130"; else echo "FAIL exit $rc"; cat "$T/err"; fail=1; fi
if [ $ms -lt 3000 ]; then echo "ok   stopped in ${ms} ms"; else echo "FAIL took ${ms} ms"; fail=1; fi
if grep -q "cleanup ran" "$T/out"; then echo "ok   cleanup ran"; else echo "FAIL no cleanup"; fail=1; fi
if grep -q "interrupted" "$T/err"; then echo "ok   says interrupted"; else echo "FAIL message"; cat "$T/err"; fail=1; fi
if grep -q "sekrit" "$T/out" "$T/err"; then echo "FAIL token leaked"; fail=1; fi
exit $fail
