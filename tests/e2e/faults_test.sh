#!/bin/bash
# API faults at each mutating step (500s and dropped connections, once each): every run ends healthy or failed
# with a journal the next run resumes from, never worse; the last run finishes the repair.
. "$(dirname "$0")/lib.sh"
tb_up faults --names f-0,f-1,f-2 --profile 4.14
ns=openshift-etcd
chain "fault:--method POST --path ^/api/v1/namespaces/$ns/pods\$ --status 500" f-2 stop-pod
chain "fault:--method GET --path /pods/etcd-[^/]+/exec --drop" f-0 remove-member
chain "fault:--method PATCH --path /etcds/cluster --status 500" f-1 open-quorum-gate force-redeploy restore-overrides
chain "fault:--method DELETE --path /secrets/etcd- --drop" f-2 delete-secrets
chain "fault:--method PATCH --path /etcds/cluster --drop" f-0 force-redeploy
finish
