#!/bin/bash
# The REPL on a pseudo-terminal (tmux): multi-line input, tab completion of globals, fields and methods,
# Ctrl-C of a running loop and of a half-typed line, pretty tables, history file mode, Ctrl-D exits 0.
set -u
M=$(readlink -f "${MEDIC:?MEDIC must name the etcd-medic binary}")
command -v tmux >/dev/null || { echo "SKIP: tmux not installed"; exit 0; }
T=$(mktemp -d /tmp/medic-repl-XXXXXX)
S="medic-repl-$$"
fail=0
cleanup() { tmux -L "$S" kill-server 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

tmux -L "$S" -f /dev/null new-session -d -x 120 -y 50 "env HOME=$T TERM=xterm NO_COLOR= $M repl; echo \$? >$T/rc"
tmux -L "$S" set-option -g remain-on-exit on >/dev/null
keys() { tmux -L "$S" send-keys "$@"; }
screen() { tmux -L "$S" capture-pane -p -S -200; }
# wait_for NAME TEXT: polls the screen for TEXT for up to 10 s.
wait_for() {
	for _ in $(seq 200); do
		if screen | grep -qF -- "$2"; then echo "ok   $1"; return 0; fi
		sleep 0.05
	done
	echo "FAIL $1: '$2' not on screen:"; screen | sed 's/^/    | /'; fail=1; return 1
}

# wait_prompt: polls until the last line on screen is an empty prompt, so keys are not typed while
# libedit switches the terminal mode (input sent then can be flushed).
wait_prompt() {
	for _ in $(seq 200); do
		[ "$(screen | grep -v '^$' | tail -n 1)" = "medic>" ] && { sleep 0.05; return 0; }
		sleep 0.05
	done
	echo "FAIL no prompt:"; screen | sed 's/^/    | /'; fail=1
}

wait_for "banner and prompt" "medic>"
keys 't = {' Enter ' a = 1,' Enter '}' Enter 'print(t.a + 41)' Enter
wait_for "multi-line input continues with medic>>" "medic>>  a = 1,"
wait_for "multi-line chunk ran" "42"
wait_prompt
keys '=string.for' Tab
wait_for "completes a library field" "=string.format"
keys C-u Enter
wait_prompt
keys 's = "x"' Enter
wait_prompt
keys 'print(s:upp' Tab
wait_for "completes a method after : with its (" "print(s:upper("
keys '))' Enter
wait_for "completed call ran" "X"
wait_prompt
keys 'local answer_to_everything = 42' Enter
wait_prompt
keys 'answer_to_ev' Tab
wait_for "completes a global" "answer_to_everything"
keys Enter
wait_prompt
keys 'h = setmetatable({}, {__index = {gone = function() return "went" end, gold = 1}})' Enter 'print(h:g' Tab
wait_for "after ':' only methods (through __index) complete" "print(h:gone("
keys '))' Enter
wait_for "completed method ran" "went"
wait_prompt
keys 'local kept, also = 40, 2' Enter
wait_prompt
keys 'print("kept " .. kept + also)' Enter
wait_for "a leading local survives the line" "kept 42"
wait_prompt
keys 'local c <close> = nil' Enter 'print(c == nil and "attrib ok")' Enter
wait_for "local with an attribute stays local" "attrib ok"
wait_prompt
keys 'print("spin" .. "ning") while true do end' Enter
wait_for "a busy loop runs" "spinning"
keys C-c
wait_for "Ctrl-C interrupts the running chunk" "interrupted"
wait_prompt
keys 'print("still" .. " alive")' Enter
wait_for "the REPL goes on after Ctrl-C" "still alive"
wait_prompt
keys 'print("half typed' C-c
wait_prompt
keys 'print("after" .. " cancel")' Enter
wait_for "Ctrl-C drops a half-typed line" "after cancel"
wait_prompt
keys '{{id="a1", name="m1"}, {id="b2", name="member-2"}}' Enter
wait_for "array of records as a table" "| b2 | member-2 |"
wait_prompt
keys 'error("oops")' Enter
wait_for "an error shows its message" "stdin:1: oops"
wait_prompt
if screen | grep -q "stack traceback"; then echo "FAIL an error typed at the prompt shows a traceback"; fail=1
else echo "ok   an error typed at the prompt shows no traceback (-v does)"; fi
keys 'print("ok after error")' Enter
wait_for "the REPL goes on after an error" "ok after error"
wait_prompt
keys C-d
for _ in $(seq 200); do
	[ -s "$T/rc" ] && break
	sleep 0.05
done
status=$(cat "$T/rc" 2>/dev/null)
if [ "$status" = "0" ]; then echo "ok   Ctrl-D exits 0"; else echo "FAIL Ctrl-D: exit status '$status'"; fail=1; fi
mode=$(stat -c %a "$T/.etcd_medic_history" 2>/dev/null)
if [ "$mode" = 600 ] && grep -q 'answer_to_everything' "$T/.etcd_medic_history"; then
	echo "ok   history file, mode 0600"
else
	echo "FAIL history file: mode '$mode'"; fail=1
fi
exit $fail
