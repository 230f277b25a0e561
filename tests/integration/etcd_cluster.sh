#!/bin/bash
# A private 3-member etcd cluster (real /usr/bin/etcd, mutual TLS, 127.0.0.1, free ports) for the etcd
# binding's destructive integration tests, so they never disturb the shared testbed.
#   etcd_cluster.sh up DIR        start n1..n3, wait until healthy, write DIR/env (sourceable; n1 also
#                                 listens on plain http at $ETCD_PLAIN_ENDPOINT)
#   etcd_cluster.sh stop DIR N    stop member nN (kill, wait until gone)
#   etcd_cluster.sh start DIR N   start member nN again with its data dir
#   etcd_cluster.sh rejoin DIR N  start member nN with an empty data dir, joining as "existing" (after member add)
#   etcd_cluster.sh down DIR      stop every member started here
set -euo pipefail
cmd=${1:?usage: etcd_cluster.sh up|down|stop|start|rejoin DIR [N]}
dir=${2:?DIR missing}

port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }

make_certs() {
	openssl ecparam -name prime256v1 -genkey -noout -out "$dir/ca.key" 2>/dev/null
	openssl req -x509 -new -key "$dir/ca.key" -subj /CN=medic-test-ca -days 2 -out "$dir/ca.crt" 2>/dev/null
	printf "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n" > "$dir/ext.cnf"
	for n in server client; do
		openssl ecparam -name prime256v1 -genkey -noout -out "$dir/$n.key" 2>/dev/null
		openssl req -new -key "$dir/$n.key" -subj "/CN=medic-test-$n" -out "$dir/$n.csr" 2>/dev/null
		openssl x509 -req -in "$dir/$n.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
			-extfile "$dir/ext.cnf" -out "$dir/$n.crt" 2>/dev/null
	done
	chmod 600 "$dir"/*.key
}

pick_base() {
	for _ in $(seq 1 50); do
		local base=$((20000 + (RANDOM % 2000) * 10)) ok=1
		for p in $(seq "$base" $((base + 6))); do port_free "$p" || ok=0; done
		[ "$ok" = 1 ] && { echo "$base"; return; }
	done
	echo "no free ports" >&2
	exit 1
}

start_member() {
	local i=$1 base
	base=$(cat "$dir/base")
	local client=$((base + 2 * i - 2)) peer=$((base + 2 * i - 1)) cluster="" plain=""
	# n1 also serves plain http (no TLS, h2c for gRPC) on base+6, for the snapshot over both
	[ "$i" = 1 ] && plain=",http://127.0.0.1:$((base + 6))"
	for j in 1 2 3; do cluster="$cluster${cluster:+,}n$j=https://127.0.0.1:$((base + 2 * j - 1))"; done
	local state=${2:-new}
	[ -d "$dir/n$i/member" ] && state=existing
	mkdir -p "$dir/n$i"
	etcd --name "n$i" --data-dir "$dir/n$i" \
		--listen-client-urls "https://127.0.0.1:$client$plain" --advertise-client-urls "https://127.0.0.1:$client" \
		--listen-peer-urls "https://127.0.0.1:$peer" --initial-advertise-peer-urls "https://127.0.0.1:$peer" \
		--initial-cluster "$cluster" --initial-cluster-state "$state" --initial-cluster-token medic-test \
		--cert-file "$dir/server.crt" --key-file "$dir/server.key" --client-cert-auth --trusted-ca-file "$dir/ca.crt" \
		--peer-cert-file "$dir/server.crt" --peer-key-file "$dir/server.key" --peer-client-cert-auth \
		--peer-trusted-ca-file "$dir/ca.crt" --quota-backend-bytes 1073741824 --snapshot-count 100000 \
		--logger zap --log-outputs "$dir/n$i.log" </dev/null >/dev/null 2>&1 &
	echo $! > "$dir/n$i.pid"
}

stop_member() {
	local pidf="$dir/n$1.pid"
	[ -f "$pidf" ] || return 0
	local pid
	pid=$(cat "$pidf")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$pidf"
}

case "$cmd" in
up)
	mkdir -p "$dir"
	make_certs
	pick_base > "$dir/base"
	base=$(cat "$dir/base")
	for i in 1 2 3; do start_member "$i"; done
	endpoints="https://127.0.0.1:$base,https://127.0.0.1:$((base + 2)),https://127.0.0.1:$((base + 4))"
	cat > "$dir/env" <<EOF
export ETCDCTL_API=3 ETCDCTL_CACERT=$dir/ca.crt ETCDCTL_CERT=$dir/client.crt ETCDCTL_KEY=$dir/client.key
export ETCDCTL_ENDPOINTS=$endpoints
export ETCD_PLAIN_ENDPOINT=http://127.0.0.1:$((base + 6))
EOF
	. "$dir/env"
	for _ in $(seq 1 300); do
		etcdctl endpoint health >/dev/null 2>&1 && exit 0
		sleep 0.1
	done
	echo "etcd cluster in $dir did not become healthy" >&2
	exit 1
	;;
stop) stop_member "${3:?N}" ;;
start) start_member "${3:?N}" ;;
rejoin) stop_member "${3:?N}"; rm -rf "${dir:?}/n$3"; start_member "$3" existing ;;
down) for i in 1 2 3; do stop_member "$i"; done ;;
*) echo "unknown command $cmd" >&2; exit 2 ;;
esac
