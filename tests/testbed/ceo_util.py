"""Small pieces shared by the simulated operator's modules: names, encoding, and CEO's memberHealth."""
import base64
import datetime

NS = "openshift-etcd"
OVERRIDE = "useUnsupportedUnsafeNonHANonProductionUnstableEtcd"
KINDS = ("peer", "serving", "serving-metrics")


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def b64(text):
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def unb64(text):
    return base64.b64decode(text or "").decode()


def plural(n, word):
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


class MemberHealth:
    """Members as etcd lists them, each with started/healthy, like CEO's etcdcli memberHealth."""

    def __init__(self, members, healthy):
        self.members = members
        self.healthy = healthy          # member id -> bool
        self.voting = [m for m in members if not m["isLearner"]]

    def name(self, m):
        if m["name"]:
            return m["name"]
        host = m["peerURLs"][0].split("//")[-1].rsplit(":", 1)[0] if m["peerURLs"] else "?"
        return "NAME-PENDING-" + host

    def healthy_members(self):
        return [m for m in self.members if self.healthy.get(m["id"])]

    def unhealthy(self):
        return [m for m in self.members if not m["isLearner"] and not self.healthy.get(m["id"])]

    def unstarted(self):
        return [m for m in self.members if not m["name"]]

    def status(self):
        ok = self.healthy_members()
        if len(ok) == len(self.members):
            return "%d members are available" % len(self.members)
        parts = ["%d of %d members are available" % (len(ok), len(self.members))]
        for m in self.members:
            if not m["name"]:
                parts.append("%s has not started" % self.name(m))
            elif not self.healthy.get(m["id"]):
                parts.append("%s is unhealthy" % m["name"])
        return ", ".join(parts)

    def fault_tolerance_error(self):
        total = len(self.voting)
        quorum = total // 2 + 1
        healthy = len([m for m in self.voting if self.healthy.get(m["id"])])
        if total - quorum < 1:
            return "etcd cluster has quorum of %d which is not fault tolerant: %s" % (quorum, self.status())
        if healthy - quorum < 1:
            return ("etcd cluster has quorum of %d and %d healthy members which is not fault tolerant: %s"
                    % (quorum, healthy, self.status()))
        return None
