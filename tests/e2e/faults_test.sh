#!/bin/bash
# API faults at each mutating step (a 500 or a dropped connection, once), one run per fault, each resuming the
# one before: every run ends healthy or failed with a journal the next run resumes from, never worse.
. "$(dirname "$0")/lib.sh"
tb_up faults --names f-0,f-1,f-2 --profile 4.14
chain faults f-2 \
	"stop-pod|--method POST --path ^/api/v1/namespaces/openshift-etcd/pods\$ --status 500" \
	"remove-member|--method GET --path /pods/etcd-[^/]+/exec --drop" \
	"open-quorum-gate|--method PATCH --path /etcds/cluster --status 500" \
	"delete-secrets|--method DELETE --path /secrets/etcd- --drop" \
	"force-redeploy|--method PATCH --path /etcds/cluster --drop" \
	"restore-overrides|--method PATCH --path /etcds/cluster --status 500"
finish
