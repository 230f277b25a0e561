#!/bin/sh
# bench: N API reads (default 20) as N kubectl invocations, the same four reads as lua/reads.lua, in turn.
set -eu
k=${KUBECTL:-kubectl}
n=${1:-20}
i=0
while [ "$i" -lt "$n" ]; do
	case $((i % 4)) in
	0) $k get pods -n openshift-etcd -o json ;;
	1) $k get etcd cluster -o json ;;
	2) $k get nodes -o json ;;
	3) $k get secrets -n openshift-etcd -o json ;;
	esac >/dev/null
	i=$((i + 1))
done
