#!/bin/bash
# The e2e happy path with the tool under valgrind: the repair ends healthy, and memcheck reports no invalid
# access and no definite or indirect leak in etcd-medic's own code (libraries' still-reachable blocks at exit
# are not ours to judge). Part of `make reliability` (slow under valgrind), not of `make test`.
. "$(dirname "$0")/../e2e/lib.sh"
command -v valgrind >/dev/null || die "valgrind is not installed"

tb_up vg --names vg-0,vg-1,vg-2 --profile 4.14
crashloop vg-1
snap "$E2E_TMP/broken.json"
old_id=$(tbq member-id "$E2E_TMP/broken.json" vg-1)

real=$MEDIC
vg_log=$E2E_TMP/valgrind.log
MEDIC=$E2E_TMP/medic-under-valgrind
cat >"$MEDIC" <<WRAP
#!/bin/sh
exec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
	--show-leak-kinds=definite,indirect --log-file="$vg_log" "$real" "\$@"
WRAP
chmod +x "$MEDIC"
E2E_RUN_TIMEOUT=900 expect "the repair under valgrind" 0 medic --node vg-1 --yes
check "valgrind: no error and no definite or indirect leak" test ! -s "$vg_log"
[ -s "$vg_log" ] && head -n 40 "$vg_log"
assert_repaired vg-1 "$old_id" 3
finish
