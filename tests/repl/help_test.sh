#!/bin/bash
# What helps a newcomer at the prompt (tmux): the banner names `help`, `help` prints a page, a completed method
# gets its "(", a method completed and entered without its call is explained, `cluster.members()` says "use a
# colon", an error shows its message without a traceback into the library (and with one under -v). Nothing here
# needs a cluster: the `cluster` object connects on first use, and none of these calls gets that far.
set -u
M=$(readlink -f "${MEDIC:?MEDIC must name the etcd-medic binary}")
command -v tmux >/dev/null || { echo "SKIP: tmux not installed"; exit 0; }
T=$(mktemp -d /tmp/medic-help-XXXXXX)
S=
sessions=0
fail=0
cleanup() { [ -n "$S" ] && tmux -L "$S" kill-server 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

keys() { tmux -L "$S" send-keys "$@"; }
screen() { tmux -L "$S" capture-pane -p -S -200; }
# start ARGS: a fresh REPL (etcd-medic ARGS repl) on a clear screen, KUBECONFIG naming nothing that exists.
start() {
	[ -n "$S" ] && tmux -L "$S" kill-server 2>/dev/null
	S="medic-help-$$-$((++sessions))"
	tmux -L "$S" -f /dev/null new-session -d -x 140 -y 60 \
		"env HOME=$T TERM=xterm NO_COLOR= KUBECONFIG=$T/none $M $* repl; sleep 30"
}
wait_for() { # NAME TEXT: polls the screen for TEXT for up to 10 s
	for _ in $(seq 200); do
		if screen 2>/dev/null | grep -qF -- "$2"; then echo "ok   $1"; return 0; fi
		sleep 0.05
	done
	echo "FAIL $1: '$2' not on screen:"; screen | sed 's/^/    | /'; fail=1; return 1
}
wait_prompt() {
	for _ in $(seq 200); do
		[ "$(screen | grep -v '^$' | tail -n 1)" = "medic>" ] && { sleep 0.05; return 0; }
		sleep 0.05
	done
	echo "FAIL no prompt:"; screen | sed 's/^/    | /'; fail=1
}
absent() { # NAME TEXT
	if screen | grep -qF -- "$2"; then echo "FAIL $1: '$2' on screen"; screen | sed 's/^/    | /'; fail=1
	else echo "ok   $1"; fi
}

start
wait_for "the banner names help" "type help for help"
wait_prompt
keys 'help' Enter
wait_for "help prints a page: the objects at hand" "cluster:members()"
wait_for "help says how to run a step" 'cluster:step("preflight", {node = "NODE"})'
wait_for "help says where the documentation is" "docs/lua-api.md"
wait_for "help says where cluster points" "kubeconfig $T/none"
wait_prompt
keys 'clu' Tab
wait_for "cluster completes" "medic> cluster"
keys ':hea' Tab
wait_for "a method completes with its (" "medic> cluster:health("
keys C-u 'cluster:health' Enter
wait_for "a method entered without its call is explained, not continued" "a call needs parentheses: cluster:health()"
wait_prompt
absent "no continuation prompt after it" "medic>>"

start
wait_prompt
keys 'cluster.members()' Enter
wait_for "a method called with a dot: use a colon" "use a colon: cluster:members()"
wait_prompt
absent "... without a traceback into the library" "stack traceback"
keys 'string.rep(nil)' Enter
wait_for "an error from a library function: the message" "bad argument #1 to 'rep'"
wait_prompt
absent "... and no traceback" "stack traceback"
if [ "$(screen | grep -c 'use a colon')" = 1 ]; then echo "ok   a module's function called with a dot is no method"
else echo "FAIL 'use a colon' said for string.rep"; screen | sed 's/^/    | /'; fail=1; fi

start -v
wait_prompt
keys 'cluster.members()' Enter
wait_for "-v: use a colon" "use a colon: cluster:members()"
wait_for "-v: and the traceback" "stack traceback"
exit $fail
