"""The etcd database's own states, made from outside the daemon by `testbed fragment` (docs/testbed-incidents.md):

  fragmented  MB MiB of values written and deleted, the history compacted (physical): the pages stay in every
              member's bolt file (dbSize) while dbSizeInUse drops, as after a burst of events and the API server's
              periodic compaction on a real cluster;
  NOSPACE     the same with more MiB than `up --quota-backend-bytes`: the writes stop at "database space exceeded",
              etcd raises the cluster-wide NOSPACE alarm, and deletes and the compaction still go through, so the
              database is fragmented AND alarmed, the state the documentation's defragmentation ends with a disarm.

`db_view` is what `testbed status` shows of it: each member's dbSize, dbSizeInUse, leader, and the alarms."""
import base64
import os
import time

import etcdapi

VALUE_BYTES = 512 * 1024      # under etcd's 1.5 MiB request limit
PREFIX = "testbed-fragment/"
MARKERS = 40                  # 8 s of commits at most


def client(layout, cfg, timeout=10.0):
    eps = ["https://%s:2379" % cfg["ips"][n] for n in cfg["names"]]
    return etcdapi.Client(eps, layout.p("etcd", "ca.crt"), layout.p("etcd", "client.crt"),
                          layout.p("etcd", "client.key"), timeout=timeout)


def b64(s):
    return base64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()


def fragment(layout, cfg, mb):
    """Writes MB MiB (stopping at NOSPACE), deletes it, compacts; returns a summary dict."""
    c = client(layout, cfg)
    written, nospace = 0, False
    markers = [b64("%s.commit/%02d" % (PREFIX[:-1], i)) for i in range(MARKERS)]
    try:
        for m in markers:
            c.call("/v3/kv/put", {"key": m, "value": b64("x")})
        for i in range(max(1, mb * 1024 * 1024 // VALUE_BYTES)):
            try:
                c.call("/v3/kv/put", {"key": b64("%s%06d" % (PREFIX, i)), "value": b64(os.urandom(VALUE_BYTES))})
            except etcdapi.EtcdError as e:
                if "space exceeded" not in str(e):
                    raise
                nospace = True
                break
            written += VALUE_BYTES
        end = PREFIX[:-1] + chr(ord(PREFIX[-1]) + 1)
        doc = c.call("/v3/kv/deleterange", {"key": b64(PREFIX), "range_end": b64(end)})
        rev = int(doc["header"]["revision"])
        c.call("/v3/kv/compaction", {"revision": str(rev), "physical": True})
        settle(layout, cfg, c, markers)
    finally:
        c.close()
    return {"written_mib": written // (1024 * 1024), "nospace": nospace, "compacted_at": rev}


def settle(layout, cfg, c, markers):
    """Compaction runs in the background on each member, and bolt frees its pages only at a later commit: one
    marker deleted (a write that NOSPACE allows) every 0.2 s until every member's dbSizeInUse has dropped."""
    for m in markers:
        c.call("/v3/kv/deleterange", {"key": m})
        time.sleep(0.2)
        view = db_view(layout, cfg)
        sizes = view.get("members", {}).values()
        if sizes and all("error" not in s and s["dbSizeInUse"] * 2 < s["dbSize"] for s in sizes):
            return


def db_view(layout, cfg):
    """{"members": {name: {dbSize, dbSizeInUse, isLeader}}, "alarms": [{"memberID", "alarm"}]} or {"error"}."""
    c = client(layout, cfg, timeout=2.0)
    out = {"members": {}, "alarms": []}
    try:
        ms, _ = c.member_list()
        for m in ms:
            if not m["clientURLs"]:
                continue
            try:
                s = c.status(m["clientURLs"][0])
            except (etcdapi.Unreachable, etcdapi.EtcdError) as e:
                out["members"][m["name"]] = {"error": str(e)}
                continue
            out["members"][m["name"]] = {
                "dbSize": int(s.get("dbSize", 0)), "dbSizeInUse": int(s.get("dbSizeInUse", 0)),
                "isLeader": s.get("leader") == s.get("header", {}).get("member_id")}
        doc = c.call("/v3/maintenance/alarm", {"action": "GET"})
        out["alarms"] = [{"memberID": "%x" % int(a.get("memberID", 0)), "alarm": a.get("alarm", "NONE")}
                         for a in doc.get("alarms", [])]
    except (etcdapi.Unreachable, etcdapi.EtcdError) as e:
        return {"error": str(e)}
    finally:
        c.close()
    return out
