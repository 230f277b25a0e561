"""`testbed status`: nodes' readiness and the Machine API objects (Machines, the ControlPlaneMachineSet,
BareMetalHosts, CSRs) as the API server serves them (docs/testbed-machines.md). No secret value is read."""
MNS = "openshift-machine-api"


def node_summary(n):
    conds = {c["type"]: c for c in n.get("status", {}).get("conditions", [])}
    ann = n["metadata"].get("annotations") or {}
    spec = n.get("spec") or {}
    return {"roles": sorted(k.split("/", 1)[1] for k in n["metadata"].get("labels", {})
                            if k.startswith("node-role.kubernetes.io/")),
            "ready": (conds.get("Ready") or {}).get("status"),
            "machine": ann.get("machine.openshift.io/machine", "").split("/", 1)[-1] or None,
            "unschedulable": bool(spec.get("unschedulable")),
            "taints": ["%s:%s" % (t.get("key"), t.get("effect")) for t in spec.get("taints") or []]}


def machine_summary(m):
    st, spec, meta = m.get("status") or {}, m.get("spec") or {}, m["metadata"]
    ps = (spec.get("providerSpec") or {}).get("value") or {}
    return {"name": meta["name"], "uid": meta["uid"], "phase": st.get("phase"),
            "node": (st.get("nodeRef") or {}).get("name"),
            "ip": next((a["address"] for a in st.get("addresses") or [] if a.get("type") == "InternalIP"), None),
            "providerID": spec.get("providerID"), "zone": (ps.get("placement") or {}).get("availabilityZone"),
            "deleting": bool(meta.get("deletionTimestamp")), "finalizers": meta.get("finalizers") or [],
            "preDrainHooks": [h.get("name") for h in (spec.get("lifecycleHooks") or {}).get("preDrain") or []],
            "errorMessage": st.get("errorMessage"), "creationTimestamp": meta.get("creationTimestamp"),
            "host": (meta.get("annotations") or {}).get("metal3.io/BareMetalHost")}


def cpms_summary(c):
    spec, st = c.get("spec") or {}, c.get("status") or {}
    tmpl = (spec.get("template") or {}).get("machines_v1beta1_machine_openshift_io") or {}
    return {"state": spec.get("state"), "strategy": (spec.get("strategy") or {}).get("type"),
            "replicas": spec.get("replicas"),
            **{k: st.get(k) for k in ("readyReplicas", "updatedReplicas", "unavailableReplicas")},
            "zones": [d["placement"]["availabilityZone"] for d in (tmpl.get("failureDomains") or {}).get("aws") or []]}


def host_summary(h):
    spec, st = h.get("spec") or {}, h.get("status") or {}
    return {"name": h["metadata"]["name"], "state": (st.get("provisioning") or {}).get("state"),
            "consumer": (spec.get("consumerRef") or {}).get("name"), "online": spec.get("online"),
            "poweredOn": st.get("poweredOn"), "bootMACAddress": spec.get("bootMACAddress"),
            "bmcAddress": (spec.get("bmc") or {}).get("address"),
            "credentialsName": (spec.get("bmc") or {}).get("credentialsName"), "bootMode": spec.get("bootMode"),
            "rootDeviceHints": spec.get("rootDeviceHints"), "operationalStatus": st.get("operationalStatus"),
            "errorMessage": st.get("errorMessage") or None, "deleting": bool(h["metadata"].get("deletionTimestamp"))}


def csr_summary(c):
    conds = [x.get("type") for x in (c.get("status") or {}).get("conditions") or []]
    return {"name": c["metadata"]["name"], "signerName": (c.get("spec") or {}).get("signerName"),
            "username": (c.get("spec") or {}).get("username"),
            "condition": "Denied" if "Denied" in conds else "Approved" if "Approved" in conds else "Pending"}


def collect(get):
    """get(path) -> the decoded answer of the API server."""
    machines = get("/apis/machine.openshift.io/v1beta1/namespaces/%s/machines" % MNS)["items"]
    sets = get("/apis/machine.openshift.io/v1/namespaces/%s/controlplanemachinesets" % MNS)["items"]
    hosts = get("/apis/metal3.io/v1alpha1/namespaces/%s/baremetalhosts" % MNS)["items"]
    csrs = get("/apis/certificates.k8s.io/v1/certificatesigningrequests")["items"]
    return {"machines": [machine_summary(m) for m in machines],
            "controlplanemachineset": cpms_summary(sets[0]) if sets else None,
            "baremetalhosts": [host_summary(h) for h in hosts],
            "csrs": [csr_summary(c) for c in csrs]}
