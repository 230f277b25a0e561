"""Kubernetes RBAC for the testbed's service accounts, and what each user exercised.

    rbac = Rbac(store, static_permissions)
    rbac.issue_token(ns, sa) -> token        (TokenRequest: serviceaccounts/NAME/token)
    rbac.user_of(token) -> "system:serviceaccount:NS:NAME" | None (a token of a service account that exists)
    rbac.allowed(user, verb, resource, namespace, subresource, group, name) -> bool
    rbac.record(user, verb, group, resource, subresource, namespace, allowed)   (real requests, not reviews)
    rbac.usage() -> {user: {"used": [...], "denied": [...]}}; rbac.reset_usage()

A service account's requests are decided by the Roles, ClusterRoles and bindings created through the API,
as the real RBAC authorizer does (k8s.io/kubernetes plugin/pkg/auth/authorizer/rbac: a RoleBinding grants its
role's rules in its own namespace, a ClusterRoleBinding everywhere; a rule matches by apiGroups, resources
("pods/exec", "*", "*/exec"), verbs and resourceNames, "*" matching all). Its groups are system:serviceaccounts,
system:serviceaccounts:NS and system:authenticated. Every other user keeps the testbed's static permissions."""
import secrets
import threading

SA_PREFIX = "system:serviceaccount:"
FIELDS = ("verb", "group", "resource", "namespace")


def sa_groups(user):
    ns = user[len(SA_PREFIX):].split(":", 1)[0]
    return ["system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"]


def _match_resource(rule, resource, subresource):
    full = resource + ("/" + subresource if subresource else "")
    for r in rule.get("resources") or []:
        if r in ("*", full) or (subresource and r == "*/" + subresource):
            return True
    return False


def rule_allows(rule, verb, group, resource, subresource, name):
    if not any(g in ("*", group) for g in rule.get("apiGroups") or []):
        return False
    if not any(v in ("*", verb) for v in rule.get("verbs") or []):
        return False
    if not _match_resource(rule, resource, subresource):
        return False
    names = rule.get("resourceNames") or []
    return not names or (name is not None and name in names)


class Rbac:
    def __init__(self, store, static_permissions):
        self.store, self.static = store, static_permissions
        self._tokens = {}            # token -> (namespace, service account)
        self._usage = {}             # user -> {(verb, group, resource, namespace): [allowed, denied]}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ authentication
    def issue_token(self, namespace, name):
        token = "sa-" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = (namespace, name)
        return token

    def user_of(self, token):
        with self._lock:
            sa = self._tokens.get(token)
        if sa is None or not self._exists("serviceaccounts", sa[0], sa[1]):
            return None
        return "%s%s:%s" % (SA_PREFIX, sa[0], sa[1])

    def _exists(self, plural, ns, name):
        try:
            self.store.get(plural, ns, name)
            return True
        except Exception:  # ApiError NotFound
            return False

    # ------------------------------------------------------------------ authorization
    def allowed(self, user, verb, resource, namespace, subresource=None, group="", name=None):
        if not (user or "").startswith(SA_PREFIX):
            return bool(self.static(user, verb, resource, namespace, subresource))
        for rules, scope in self._rules_of(user):
            if scope is not None and scope != namespace:
                continue
            if any(rule_allows(r, verb, group or "", resource, subresource, name) for r in rules):
                return True
        return False

    def _subject_matches(self, subject, user):
        kind, sname = subject.get("kind"), subject.get("name")
        if kind == "ServiceAccount":
            return user == "%s%s:%s" % (SA_PREFIX, subject.get("namespace"), sname)
        if kind == "Group":
            return sname in sa_groups(user)
        return kind == "User" and sname == user

    def _role(self, ref, namespace):
        kind = ref.get("kind")
        try:
            if kind == "ClusterRole":
                return self.store.get("clusterroles", None, ref.get("name"))
            if kind == "Role" and namespace:
                return self.store.get("roles", namespace, ref.get("name"))
        except Exception:  # a binding to a role that does not exist grants nothing
            return None
        return None

    def _rules_of(self, user):
        """(rules, namespace) of every binding of user; namespace None: everywhere (a ClusterRoleBinding)."""
        out = []
        for plural in ("clusterrolebindings", "rolebindings"):
            for b in self.store.list(plural)[0]:
                if not any(self._subject_matches(s, user) for s in b.get("subjects") or []):
                    continue
                ns = b["metadata"].get("namespace") if plural == "rolebindings" else None
                role = self._role(b.get("roleRef") or {}, ns)
                if role:
                    out.append((role.get("rules") or [], ns))
        return out

    # ------------------------------------------------------------------ what was exercised
    def record(self, user, verb, group, resource, subresource, namespace, allowed):
        key = (verb, group or "", resource + ("/" + subresource if subresource else ""), namespace or "")
        with self._lock:
            counts = self._usage.setdefault(user or "", {}).setdefault(key, [0, 0])
            counts[0 if allowed else 1] += 1

    def usage(self):
        with self._lock:
            out = {}
            for user, seen in self._usage.items():
                used = [dict(zip(FIELDS, k)) for k, n in seen.items() if n[0]]
                denied = [dict(zip(FIELDS, k)) for k, n in seen.items() if n[1]]
                out[user] = {"used": sorted(used, key=lambda d: sorted(d.items())),
                             "denied": sorted(denied, key=lambda d: sorted(d.items()))}
            return out

    def reset_usage(self):
        with self._lock:
            self._usage.clear()
