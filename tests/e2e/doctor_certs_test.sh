#!/bin/bash
# etcd-status's certificate and backup findings on one testbed: none on a healthy cluster (exit 0); a signer CA
# with 500 days left (etcdSignerCAExpirationWarning: exit 4) and a peer certificate with 5 days left (critical:
# exit 5), each with its next step, in the report and in -o json; etcd keeps working on the re-signed certificate
# (the operator's new revision installs it: the node's file is the truth); the signer restored, its finding gone.
# Backups: none asked, a fresh one, one too old, one not whole. No Secret data in -v or --log-json. Asserts on
# `testbed status`, the node's files and the API's Secrets (read with openssl, not with the tool).
. "$(dirname "$0")/lib.sh"

status() { # status ARGS: etcd-medic run etcd-status against $TB; output in $TB/status.out
	echo "+ etcd-status $*" >>"$TB/medic.log"
	KUBECONFIG=$TB/kubeconfig timeout -k 5 120 "$MEDIC" ${E2E_GLOBAL:-} run etcd-status --state-dir "$TB/state" "$@" \
		>"$TB/status.out" 2>>"$TB/medic.log"
}
# finding CODE SUBJECT SEVERITY NEXT-SUBSTRING: the -o json document in $TB/status.out has that finding.
finding() {
	python3 - "$TB/status.out" "$@" <<'EOF'
import json, sys
doc, code, subject, severity, nxt = json.load(open(sys.argv[1])), *sys.argv[2:]
ok = [f for f in doc["findings"] if f["code"] == code and f["subject"] == subject and f["severity"] == severity
      and nxt in f["next"]]
sys.exit(0 if ok else 1)
EOF
}
no_finding() { ! grep -q "\"code\": *\"$1\"" "$TB/status.out"; }
# enddate SECRET-PEM-FILE: the first certificate's notAfter as Unix seconds (openssl, not the tool)
enddate() { date -u -d "$(openssl x509 -noout -enddate -in "$1" | cut -d= -f2)" +%s; }
secret_crt() { KUBECONFIG=$TB/kubeconfig kubectl get secret -n "$1" "$2" -o jsonpath='{.data.tls\.crt}' | base64 -d; }
days_left() { echo $(( ($(enddate "$1") - $(date +%s)) / 86400 )); }
settled() { snap "$TB/s.json" && tbq healthy "$TB/s.json" 3 >/dev/null; }

tb_up certs
expect "healthy testbed: no finding, exit 0" 0 status -o json
check "no certificate or backup finding (no backup directory here: none checked)" \
	python3 -c 'import json,sys; sys.exit(1 if json.load(open(sys.argv[1]))["findings"] else 0)' "$TB/status.out"

# Backups: the layout `etcd-medic run backup` writes.
KUBECONFIG=$TB/kubeconfig "$MEDIC" run backup --dir "$TB/bk" --state-dir "$TB/state" --yes >>"$TB/medic.log" 2>&1 \
	|| die "etcd-medic run backup"
expect "a fresh backup in --backup-dir: exit 0" 0 status -o json --backup-dir "$TB/bk"
sleep 1
expect "older than --backup-max-age: a warning, exit 4" 4 status -o json --backup-dir "$TB/bk" --backup-max-age 0.0001
check "BACKUP_OLD, next: take one" finding BACKUP_OLD "$TB/bk" warning "etcd-medic run backup --dir $TB/bk"
rm "$TB"/bk/static_kuberesources_*.tar.gz
expect "the newest pair without its tarball: exit 4" 4 status -o json --backup-dir "$TB/bk"
check "BACKUP_INCOMPLETE" finding BACKUP_INCOMPLETE "$TB/bk" warning "etcd-medic run backup"
expect "an asked directory that does not exist: exit 4" 4 status -o json --backup-dir "$TB/nowhere"
check "BACKUP_MISSING" finding BACKUP_MISSING "$TB/nowhere" warning "etcd-medic run backup --dir $TB/nowhere"

# The signer CA: 500 days left.
"$TESTBED" expire-cert "$TB" etcd-signer --days 500 >>"$TB/medic.log" || die "expire-cert etcd-signer"
secret_crt openshift-config etcd-signer >"$TB/signer.crt"
check "the API's etcd-signer has 499-500 days left (openssl)" test "$(days_left "$TB/signer.crt")" -ge 499
expect "signer under 730 days: a warning, exit 4" 4 status -o json
check "SIGNER_CA_EXPIRING (4.14: openshift-config; the operator never rotates it)" \
	finding SIGNER_CA_EXPIRING openshift-config/etcd-signer warning "upgrade to 4.16 or later"

# A peer certificate: 5 days left. The operator rolls it out; etcd keeps working on it.
node_crt=$TB/nodes/master-1/root/etc/kubernetes/static-pod-resources/etcd-certs/secrets/etcd-all-certs
node_crt=$node_crt/etcd-peer-master-1.crt
installed() { test -f "$node_crt" && test "$(days_left "$node_crt")" "$@"; }
"$TESTBED" expire-cert "$TB" etcd-peer-master-1 --days 5 >>"$TB/medic.log" || die "expire-cert etcd-peer-master-1"
wait_for "master-1's installed peer certificate (the node's file, openssl) is the 5-day one" 90 installed -le 5
wait_for "the new revision on every node, every member healthy on it" 90 settled
expect "a peer certificate under 30 days: critical, exit 5" 5 status -o json
check "CERT_EXPIRING master-1, next: delete the secret (the operator issues a new one)" \
	finding CERT_EXPIRING master-1 critical "oc delete secret -n openshift-etcd etcd-peer-master-1"
check "the signer's finding is still there" finding SIGNER_CA_EXPIRING openshift-config/etcd-signer warning "4.16"
expect "the human report: exit 5" 5 status
check "the report lists the finding and its next step" \
	grep -q "CRITICAL CERT_EXPIRING master-1: the peer certificate of master-1 (etcd-peer-master-1) expires" \
	"$TB/status.out"

# No Secret data in the verbose log or the audit log (the Secrets were read: their paths are in the log).
E2E_GLOBAL="-v --log-json $TB/audit.json" status
check "-v logged the Secrets' reads" grep -q "secrets/etcd-peer-master-1" "$TB/medic.log"
check "no certificate or key data in -v, --log-json or the report" \
	bash -c '! grep -l "LS0tLS1CRUdJTi\|BEGIN CERTIFICATE\|PRIVATE KEY" "$0"/{medic.log,audit.json,status.out}' "$TB"

# The signer restored (its Secret is no revision's input: no rollout): its finding goes, the peer's stays.
"$TESTBED" expire-cert "$TB" etcd-signer --days 3650 >>"$TB/medic.log" || die "expire-cert etcd-signer back"
expect "the signer restored: still critical for the peer certificate, exit 5" 5 status -o json
check "no SIGNER_CA_EXPIRING any more" no_finding SIGNER_CA_EXPIRING
check "the document matches docs/etcd-status.schema.json" \
	python3 tests/e2e/schema_check.py docs/etcd-status.schema.json "$TB/status.out"
finish
