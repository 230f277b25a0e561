"""Checks a JSON document against a JSON Schema, for the keywords docs/etcd-status.schema.json uses (python3 has no
jsonschema module here): type (one or a list; integer is a number without a fraction, booleans are no numbers),
const, enum, required, properties, additionalProperties (false or a schema), items, pattern, minLength.
A keyword it does not know is an error, so the schema cannot grow past what is checked.

    python3 schema_check.py SCHEMA.json DOC.json      exit 0 valid; 1 with every violation on stderr; 2 usage"""
import json
import re
import sys

KNOWN = {"$schema", "title", "description", "type", "const", "enum", "required", "properties",
         "additionalProperties", "items", "pattern", "minLength"}


def type_ok(value, name):
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, {"string": str, "array": list, "object": dict}[name])


def check(schema, value, path, errors):
    unknown = set(schema) - KNOWN
    if unknown:
        errors.append("%s: schema keyword(s) this checker does not know: %s" % (path, sorted(unknown)))
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(type_ok(value, n) for n in names):
            errors.append("%s: %r is not of type %s" % (path, value, "|".join(names)))
            return
    if "const" in schema and value != schema["const"]:
        errors.append("%s: %r is not %r" % (path, value, schema["const"]))
    if "enum" in schema and value not in schema["enum"]:
        errors.append("%s: %r is not one of %s" % (path, value, schema["enum"]))
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append("%s: %r does not match %s" % (path, value, schema["pattern"]))
        if len(value) < schema.get("minLength", 0):
            errors.append("%s: %r is shorter than %d" % (path, value, schema["minLength"]))
    if isinstance(value, dict):
        for k in schema.get("required", []):
            if k not in value:
                errors.append("%s: %s is missing" % (path, k))
        props, extra = schema.get("properties", {}), schema.get("additionalProperties", True)
        for k, v in value.items():
            if k in props:
                check(props[k], v, "%s.%s" % (path, k), errors)
            elif extra is False:
                errors.append("%s: %s is not in the schema" % (path, k))
            elif isinstance(extra, dict):
                check(extra, v, "%s.%s" % (path, k), errors)
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            check(schema["items"], v, "%s[%d]" % (path, i), errors)


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        schema = json.load(f)
    with open(argv[2]) as f:
        doc = json.load(f)
    errors = []
    check(schema, doc, "$", errors)
    for e in errors:
        print("schema: " + e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
