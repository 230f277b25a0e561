#!/bin/bash
# The REPL with stdin not a terminal: the whole of stdin is one chunk (lua.c's behaviour for a pipe).
set -u
M=${MEDIC:?MEDIC must name the etcd-medic binary}
fail=0
expect() { # expect NAME WANT GOT
	if [ "$2" == "$3" ]; then echo "ok   $1"; else echo "FAIL $1: want [$2], got [$3]"; fail=1; fi
}

expect "multi-line chunk" "3" "$(printf 'local x = 1 +\n 2\nprint(x)\n' | "$M" repl)"
expect "bare expression prints" "2" "$(echo '1+1' | "$M" repl)"
expect "no command, piped stdin" "hi" "$(echo 'print("hi")' | "$M")"
expect "pretty-printed table" '{ a = 1, b = { 1, 2 } }' "$(echo '{a=1, b={1,2}}' | "$M" repl)"
expect "big IDs stay exact" '"15323219374994545507"' \
	"$(echo 'json.decode("[15323219374994545507]")[1]' | "$M" repl)"
out=$(echo 'error("nope")' | "$M" repl 2>&1); rc=$?
expect "error exit code" "1" "$rc"
case "$out" in *"nope"*"stack traceback"*) echo "ok   error has a traceback" ;;
	*) echo "FAIL error has a traceback: $out"; fail=1 ;; esac
out=$(echo 'error({exit_code = 3, message = "refused"})' | "$M" repl 2>&1); rc=$?
expect "structured error" "3 etcd-medic: refused" "$rc $out"
expect "repl globals" "table table" "$(echo 'print(type(json) .. " " .. type(ui))' | "$M" repl)"
exit $fail
