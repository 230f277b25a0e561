#!/bin/sh
# crictl on a testbed node: `crictl ps` (and `pods`) from the state the kubelet keeps in
# /run/crio/testbed-containers, one container a line, tab-separated:
#   ID IMAGE CREATED(epoch) STATE NAME ATTEMPT POD-ID POD NAMESPACE
# Flags: -a/--all, -q/--quiet, --name REGEX, --state running|exited, --label KEY=VALUE with the keys
# io.kubernetes.container.name, io.kubernetes.pod.name and io.kubernetes.pod.namespace; --pod ID.
state=/run/crio/testbed-containers
cmd=${1:-}
[ $# -gt 0 ] && shift
all= quiet= name= want= cname= pname= pns= pod=
while [ $# -gt 0 ]; do
	case $1 in
	-a | --all) all=1 ;;
	-q | --quiet) quiet=1 ;;
	--name) name=$2; shift ;;
	--name=*) name=${1#--name=} ;;
	--state) want=$2; shift ;;
	--state=*) want=${1#--state=} ;;
	--pod | -p) pod=$2; shift ;;
	--pod=*) pod=${1#--pod=} ;;
	--label | -l) l=$2; shift ;;
	--label=* | -l=*) l=${1#*=} ;;
	*) echo "crictl: unsupported argument $1 (testbed crictl)" >&2; exit 1 ;;
	esac
	case ${l:-} in
	io.kubernetes.container.name=*) cname=${l#*=} ;;
	io.kubernetes.pod.name=*) pname=${l#*=} ;;
	io.kubernetes.pod.namespace=*) pns=${l#*=} ;;
	'') ;;
	*) echo "crictl: unsupported label $l (testbed crictl)" >&2; exit 1 ;;
	esac
	l=
	shift
done
case $cmd in
ps) ;;
*) echo "crictl: only 'ps' is available on a testbed node" >&2; exit 1 ;;
esac
[ -r "$state" ] || : >/dev/null
now=$(date +%s)
awk -F '\t' -v all="$all" -v quiet="$quiet" -v name="$name" -v want="$want" -v cname="$cname" \
	-v pname="$pname" -v pns="$pns" -v pod="$pod" -v now="$now" '
BEGIN { if (!quiet) printf "%-15s %-22s %-16s %-10s %-22s %-8s %-15s %s\n", "CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD" }
{
	st = $4
	if (want != "") { if (tolower(st) != tolower(want)) next }
	else if (!all && st != "Running") next
	if (name != "" && $5 !~ name) next
	if (cname != "" && $5 != cname) next
	if (pname != "" && $8 != pname) next
	if (pns != "" && $9 != pns) next
	if (pod != "" && index($7, pod) != 1) next
	if (quiet) { print $1; next }
	age = now - $3; ago = age < 60 ? age " seconds ago" : int(age / 60) " minutes ago"
	printf "%-15s %-22s %-16s %-10s %-22s %-8s %-15s %s\n", substr($1, 1, 13), substr($2, 1, 20), ago, st, $5, $6, substr($7, 1, 13), $8
}' "$state" 2>/dev/null
exit 0
