"""batch/v1 Jobs and CronJobs as the API server stores them: the defaults and the validation that happen at
create (k8s.io/kubernetes pkg/apis/batch/v1/defaults.go, pkg/registry/batch/job/strategy.go: the generated
selector and labels; pkg/apis/batch/validation: a Job's restartPolicy is Never or OnFailure), and a cron schedule
(the five standard fields, with *, */N, A-B and lists; @hourly, @daily, @weekly, @monthly, @yearly)."""
import copy

from store import ApiError

UID_LABEL, NAME_LABEL = "batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name"
MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
          "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


def invalid(kind, name, field, message):
    return ApiError(422, "Invalid", '%s.batch "%s" is invalid: %s: %s' % (kind, name, field, message),
                    {"name": name, "group": "batch", "kind": kind,
                     "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}]})


def default_job_spec(spec):
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    tmpl = spec.setdefault("template", {})
    tmpl.setdefault("metadata", {})
    return spec


def check_template(kind, name, spec, path):
    pod = spec.get("template", {}).get("spec", {})
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        raise invalid(kind, name, path + ".template.spec.restartPolicy",
                      'Unsupported value: "%s": supported values: "OnFailure", "Never"' % pod.get("restartPolicy", ""))
    if not pod.get("containers"):
        raise invalid(kind, name, path + ".template.spec.containers", "Required value")


def on_create(plural, obj):
    """Defaults and validation of a Job or CronJob being created (after its uid is set)."""
    meta, name = obj["metadata"], obj["metadata"]["name"]
    if plural == "jobs":
        spec = default_job_spec(obj.setdefault("spec", {}))
        check_template("Job", name, spec, "spec")
        gen = {UID_LABEL: meta["uid"], NAME_LABEL: name, "controller-uid": meta["uid"], "job-name": name}
        if not spec.get("manualSelector"):
            spec["selector"] = {"matchLabels": {UID_LABEL: meta["uid"]}}
        labels = spec["template"]["metadata"].setdefault("labels", {})
        labels.update(gen)
        own = {k: v for k, v in labels.items() if k not in gen}
        if not meta.get("labels") and own:
            meta["labels"] = own
    elif plural == "cronjobs":
        spec = obj.setdefault("spec", {})
        if parse(spec.get("schedule", "")) is None:
            raise invalid("CronJob", name, "spec.schedule", 'Invalid value: "%s"' % spec.get("schedule", ""))
        for k, v in (("concurrencyPolicy", "Allow"), ("suspend", False), ("successfulJobsHistoryLimit", 3),
                     ("failedJobsHistoryLimit", 1)):
            spec.setdefault(k, v)
        default_job_spec(spec.setdefault("jobTemplate", {}).setdefault("spec", {}))
        check_template("CronJob", name, spec["jobTemplate"]["spec"], "spec.jobTemplate.spec")
        obj.setdefault("status", {})


def _field(text, lo, hi):
    out = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, s = part.split("/", 1)
            step = int(s)
        if part == "*":
            a, b = lo, hi
        elif "-" in part:
            a, b = (int(x) for x in part.split("-", 1))
        else:
            a = b = int(part)
        if step < 1 or a < lo or b > hi or a > b:
            raise ValueError(text)
        out.update(range(a, b + 1, step))
    return out


def parse(schedule):
    """The five fields as sets (minute, hour, day of month, month, day of week); None if not a schedule."""
    fields = MACROS.get(schedule.strip(), schedule).split()
    if len(fields) != 5:
        return None
    try:
        sets = [_field(f, lo, hi) for f, (lo, hi) in zip(fields, RANGES)]
    except ValueError:
        return None
    sets[4] = {d % 7 for d in sets[4]}
    return sets


def matches(sets, t):
    """Does minute t (a datetime) fall on the schedule? (Both day fields restricted: either one, as cron does.)"""
    minute, hour, dom, month, dow = sets
    weekday = (t.weekday() + 1) % 7
    day_ok = (t.day in dom or weekday in dow) if len(dom) < 31 and len(dow) < 7 else \
        (t.day in dom and weekday in dow)
    return t.minute in minute and t.hour in hour and t.month in month and day_ok


def job_from_template(cj, name, scheduled):
    """The Job a CronJob makes for a scheduled time (pkg/controller/cronjob/utils.go getJobFromTemplate2)."""
    tmpl = copy.deepcopy(cj["spec"]["jobTemplate"])
    meta = tmpl.get("metadata", {})
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "labels": meta.get("labels", {}),
                         "annotations": dict(meta.get("annotations", {}),
                                             **{"batch.kubernetes.io/cronjob-scheduled-timestamp": scheduled}),
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob",
                                              "name": cj["metadata"]["name"], "uid": cj["metadata"]["uid"],
                                              "controller": True, "blockOwnerDeletion": True}]},
            "spec": tmpl["spec"]}
