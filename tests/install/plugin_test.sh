#!/bin/bash
# `make install DESTDIR=... PREFIX=/usr` installs etcd-medic and its plugin links, kubectl-etcd_medic and
# oc-etcd_medic; a stand-in `oc` that finds and runs plugins as oc and kubectl do (the longest name on PATH that
# matches the words, dashes as underscores; flags before the plugin's name refused) runs `oc etcd-medic --version`,
# and the plugin takes the global options kubectl users type (--kubeconfig, --context, -n) before the command or
# after the script's name.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
MEDIC=$(realpath "${MEDIC:-$REPO/build/etcd-medic}")
T=$(mktemp -d "${TMPDIR:-/tmp}/medic-install.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; fails=$((fails + 1)); }
check() { local d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }

make -s -C "$REPO" install DESTDIR="$T/root" PREFIX=/usr BUILD="$(dirname "$MEDIC")" >"$T/install.log" 2>&1 ||
	{ cat "$T/install.log"; echo "FAIL - make install"; exit 1; }
bin=$T/root/usr/bin
for p in kubectl-etcd_medic oc-etcd_medic; do
	check "$p is a link to etcd-medic" test "$(readlink "$bin/$p")" = etcd-medic
done
check "kubectl-etcd_medic --version" bash -c "'$bin/kubectl-etcd_medic' --version | grep -q '^etcd-medic [0-9]'"

mkdir -p "$T/oc"
cat >"$T/oc/oc" <<'OC'
#!/bin/bash
# oc's plugin lookup (k8s.io/kubectl pkg/cmd/cmd.go HandlePluginCommand), for plugins only: the longest run of
# leading words naming an executable oc-A_B (or kubectl-A_B) on PATH gets the remaining arguments.
case "${1:-}" in -*) echo "error: flags cannot be placed before plugin name: $1" >&2; exit 1 ;; esac
words=()
for a in "$@"; do case "$a" in -*) break ;; esac; words+=("${a//-/_}"); done
for ((n = ${#words[@]}; n > 0; n--)); do
	name=$(IFS=-; echo "${words[*]:0:n}")
	for prefix in oc kubectl; do
		if p=$(command -v "$prefix-$name"); then shift "$n"; exec "$p" "$@"; fi
	done
done
echo "error: unknown command \"$1\" for \"oc\"" >&2
exit 1
OC
chmod +x "$T/oc/oc"
export PATH="$T/oc:$bin:/usr/bin:/bin"
check "oc etcd-medic --version" bash -c "oc etcd-medic --version | grep -q '^etcd-medic [0-9]'"
check "oc etcd-medic scripts lists etcd-status" bash -c "oc etcd-medic scripts | grep -q etcd-status"

# Global options: before the command, and after the script's name (kubectl users type them last)
oc etcd-medic --kubeconfig "$T/none.kubeconfig" run etcd-status >"$T/a.out" 2>&1
rc=$?
check "--kubeconfig before the command is used (exit 1, naming the file)" \
	bash -c "[ $rc -eq 1 ] && grep -q '$T/none.kubeconfig' '$T/a.out'"
oc etcd-medic run etcd-status --kubeconfig "$T/none.kubeconfig" --context prod -n openshift-etcd >"$T/b.out" 2>&1
rc=$?
check "--kubeconfig, --context, -n after the script's name are taken (exit 1, naming the file)" \
	bash -c "[ $rc -eq 1 ] && grep -q '$T/none.kubeconfig' '$T/b.out'"
check "oc etcd-medic rbac etcd-status -n my-etcd: the service account in my-etcd" \
	bash -c "oc etcd-medic rbac etcd-status -n my-etcd | grep -q 'namespace: \"my-etcd\"'"
check "flags before the plugin's name are refused by oc, as the real one does" \
	bash -c "! oc -n x etcd-medic --version 2>/dev/null"

echo "plugin_test.sh: $fails failed"
[ "$fails" -eq 0 ]
