#!/bin/bash
# libedit is loaded only when the REPL starts on a terminal (host/edit_lazy.c): with an unloadable
# libedit.so.2, -e and piped input still run, and the REPL on a terminal exits 1 with a clear message.
set -u
M=$(readlink -f "${MEDIC:?MEDIC must name the etcd-medic binary}")
command -v script >/dev/null || { echo "SKIP: script (util-linux) not installed"; exit 0; }
T=$(mktemp -d /tmp/medic-noedit-XXXXXX)
trap 'rm -rf "$T"' EXIT
: >"$T/libedit.so.2" # "file too short"
fail=0
check() { # NAME GOT WANT
	if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1: got '$2', want '$3'"; fail=1; fi
}

check "-e runs" "$(LD_LIBRARY_PATH=$T "$M" -e 'print(40 + 2)' 2>&1)" 42
check "piped input runs" "$(echo 'print(6 * 7)' | LD_LIBRARY_PATH=$T "$M" repl 2>&1)" 42
out=$(timeout 10 script -qec "env HOME=$T LD_LIBRARY_PATH=$T $M repl" /dev/null </dev/null 2>&1)
check "the REPL on a terminal exits 1" "$?" 1
case "$out" in
*"the REPL needs line editing: libedit.so.2 could not be loaded: $T/libedit.so.2: file too short"*)
	echo "ok   with a clear message" ;;
*) echo "FAIL message: $out"; fail=1 ;;
esac
exit $fail
