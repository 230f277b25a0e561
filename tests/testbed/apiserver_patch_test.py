"""Unit tests of the patch formats (RFC 7386 examples, RFC 6902 operations). Exits non-zero on failure."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apiserver_patch as P  # noqa: E402
from store import ApiError  # noqa: E402


class MergePatchTest(unittest.TestCase):
    def test_rfc7386_appendix_a(self):
        cases = [({"a": "b"}, {"a": "c"}, {"a": "c"}), ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
                 ({"a": "b"}, {"a": None}, {}), ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
                 ({"a": ["b"]}, {"a": "c"}, {"a": "c"}), ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
                 ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
                 ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
                 ({"e": None}, {"a": 1}, {"e": None, "a": 1}), ({}, {"a": {"bb": {"ccc": None}}},
                                                                {"a": {"bb": {}}})]
        for target, patch, want in cases:
            self.assertEqual(P.merge_patch(target, patch), want, (target, patch))

    def test_content_types(self):
        doc = {"spec": {"x": 1}}
        self.assertEqual(P.apply("application/merge-patch+json", doc, {"spec": {"x": 2}}),
                         {"spec": {"x": 2}})
        self.assertEqual(P.apply("application/strategic-merge-patch+json; charset=utf-8", doc,
                                 {"spec": {"y": 1}}), {"spec": {"x": 1, "y": 1}})
        with self.assertRaises(ApiError) as cm:
            P.apply("application/apply-patch+yaml", doc, {})
        self.assertEqual((cm.exception.code, cm.exception.reason), (415, "UnsupportedMediaType"))
        self.assertEqual(doc, {"spec": {"x": 1}})          # never changed in place


class StrategicMergePatchTest(unittest.TestCase):
    def test_keyed_lists_merge(self):
        pod = {"spec": {"containers": [{"name": "a", "image": "1", "args": ["x"]},
                                       {"name": "b", "image": "1"}], "tolerations": [{"k": 1}]}}
        out = P.apply("application/strategic-merge-patch+json", pod, {"spec": {
            "containers": [{"name": "a", "image": "2"}, {"name": "b", "$patch": "delete"},
                           {"name": "c", "image": "3"}],
            "tolerations": [{"k": 2}]}})
        self.assertEqual(out["spec"]["containers"], [{"name": "a", "image": "2", "args": ["x"]},
                                                     {"name": "c", "image": "3"}])
        self.assertEqual(out["spec"]["tolerations"], [{"k": 2}])      # no merge key: replaced
        self.assertEqual(P.merge_patch(pod, {"spec": {"containers": []}})["spec"]["containers"],
                         [])

    def test_replace_directive(self):
        out = P.strategic_merge_patch({"data": {"a": "1", "b": "2"}},
                                      {"data": {"$patch": "replace", "c": "3"}})
        self.assertEqual(out, {"data": {"c": "3"}})


class JsonPatchTest(unittest.TestCase):
    def test_operations(self):
        doc = {"a": {"b": [1, 2]}, "c": "d", "x/y": 1}
        out = P.json_patch(doc, [
            {"op": "add", "path": "/a/b/1", "value": 9},
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "replace", "path": "/c", "value": "e"},
            {"op": "remove", "path": "/x~1y"},
            {"op": "copy", "from": "/c", "path": "/f"},
            {"op": "move", "from": "/f", "path": "/g"},
            {"op": "test", "path": "/a/b", "value": [1, 9, 2, 3]}])
        self.assertEqual(out, {"a": {"b": [1, 9, 2, 3]}, "c": "e", "g": "e"})
        self.assertEqual(doc["a"]["b"], [1, 2])

    def test_failures(self):
        for ops in ([{"op": "test", "path": "/c", "value": "x"}],
                    [{"op": "remove", "path": "/nope"}],
                    [{"op": "replace", "path": "/nope", "value": 1}]):
            with self.assertRaises(ApiError) as cm:
                P.json_patch({"c": "d"}, ops)
            self.assertEqual(cm.exception.code, 422)
        with self.assertRaises(ApiError):
            P.json_patch({}, [{"op": "frobnicate", "path": "/a"}])


if __name__ == "__main__":
    unittest.main(verbosity=2)
