# Helpers of the security tests (sourced). MEDIC names the binary; each test works in its own $T.
set -u
MEDIC=${MEDIC:-build/etcd-medic}
case $MEDIC in /*) ;; *) MEDIC=$PWD/$MEDIC ;; esac
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export T=$(mktemp -d /tmp/medic-security.XXXXXX)
FAILS=0
cleanup_hooks=()
on_exit() { for h in "${cleanup_hooks[@]}"; do eval "$h"; done; rm -rf "$T"; }
trap on_exit EXIT
export XDG_STATE_HOME=$T/state HOME=$T NO_COLOR=1
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
finish() { [ "$FAILS" -eq 0 ] && echo "all passed" || { echo "$FAILS failed"; exit 1; }; }
# A kubeconfig for a server that is not there (127.0.0.1:9): any request would show up as an http line.
nowhere_kubeconfig() {
	cat > "$1" <<EOK
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:9"}
users:
- name: u
  user: {token: "nowhere-token-0123456789"}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
EOK
}
