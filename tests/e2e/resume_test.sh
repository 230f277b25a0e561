#!/bin/bash
# Resume after SIGKILL: one repair, killed right after each mutating step in turn, every run resuming the one
# before; then a last run to the end. Never a second member removed, never a re-issued secret deleted.
. "$(dirname "$0")/lib.sh"
tb_up resume --names r-0,r-1,r-2 --profile 4.14
chain kill r-1 backup stop-pod remove-member open-quorum-gate delete-secrets force-redeploy wait restore-overrides
finish
