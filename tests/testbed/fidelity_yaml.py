"""A reader for the YAML that `oc` / must-gather / resourcewatch write (go-yaml v2 via sigs.k8s.io/yaml):
block mappings and sequences (a sequence under a key may sit at the key's own indentation), plain,
single- and double-quoted scalars (also folded over several lines), block scalars (| |- |+ > >-), and
the empty flow collections {} and []. Enough for Kubernetes objects; not a general YAML parser.
Python 3 standard library only (the testbed's rule)."""
import re

_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")


class YamlError(ValueError):
    pass


def _plain(s):
    if s in ("", "~", "null", "Null", "NULL"):
        return None
    if s in ("true", "True", "TRUE"):
        return True
    if s in ("false", "False", "FALSE"):
        return False
    if _INT.match(s):
        return int(s)
    if _FLOAT.match(s) and any(ch.isdigit() for ch in s):
        return float(s)
    if s == "{}":
        return {}
    if s == "[]":
        return []
    if s.startswith("[") and s.endswith("]"):
        return [_scalar(x.strip()) for x in s[1:-1].split(",") if x.strip()]
    return s


_ESC = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "/": "/", "0": "\0", "r": "\r", " ": " ",
        "a": "\a", "b": "\b", "e": "\x1b", "f": "\f", "v": "\v", "N": "\x85", "_": "\xa0"}


def _double(body):
    """The text between double quotes (line breaks already folded) with escapes resolved."""
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        n = body[i + 1]
        if n in _ESC:
            out.append(_ESC[n])
            i += 2
        elif n in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[n]
            out.append(chr(int(body[i + 2:i + 2 + width], 16)))
            i += 2 + width
        else:
            raise YamlError("bad escape \\%s" % n)
    return "".join(out)


def _scalar(s):
    if s.startswith('"'):
        if not s.endswith('"') or len(s) < 2:
            raise YamlError("unterminated string: %r" % s)
        return _double(s[1:-1])
    if s.startswith("'"):
        if not s.endswith("'") or len(s) < 2:
            raise YamlError("unterminated string: %r" % s)
        return s[1:-1].replace("''", "'")
    return _plain(s)


def _split_key(text):
    """'key: value' -> (key, rest) or None when the line is not a mapping entry."""
    if text.startswith('"') or text.startswith("'"):
        q = text[0]
        i = 1
        while i < len(text):
            if q == '"' and text[i] == "\\":
                i += 2
                continue
            if text[i] == q:
                if q == "'" and text[i + 1:i + 2] == "'":
                    i += 2
                    continue
                break
            i += 1
        key, rest = _scalar(text[:i + 1]), text[i + 1:]
        if rest == ":" or rest.startswith(": "):
            return key, rest[1:].strip()
        return None
    m = re.match(r"^([^ #][^:]*?|[^ #]*?:[^ ][^:]*?):( |$)", text)
    if not m:
        return None
    return m.group(1), text[m.end():].strip()


class _Parser:
    def __init__(self, text):
        self.lines = []
        for raw in text.split("\n"):
            if raw.strip() in ("---", "..."):
                continue
            self.lines.append(raw.rstrip("\r"))
        self.i = 0

    def _skip_blank(self):
        while self.i < len(self.lines) and (not self.lines[self.i].strip()
                                            or self.lines[self.i].lstrip().startswith("#")):
            self.i += 1

    def _indent(self, line):
        return len(line) - len(line.lstrip(" "))

    def parse(self):
        self._skip_blank()
        if self.i >= len(self.lines):
            return None
        return self._node(self._indent(self.lines[self.i]))

    def _node(self, indent):
        self._skip_blank()
        line = self.lines[self.i]
        body = line[indent:]
        if body == "-" or body.startswith("- "):
            return self._seq(indent)
        if _split_key(body) is not None:
            return self._map(indent)
        return self._multiline_scalar(indent - 1, body)

    def _seq(self, indent):
        out = []
        while True:
            self._skip_blank()
            if self.i >= len(self.lines):
                return out
            line = self.lines[self.i]
            if self._indent(line) != indent or not (line[indent:] == "-" or line[indent:].startswith("- ")):
                return out
            rest = line[indent + 2:] if len(line) > indent + 1 else ""
            if not rest.strip():
                self.i += 1
                self._skip_blank()
                out.append(self._node(self._indent(self.lines[self.i])))
                continue
            # "- key: value" or "- scalar": parse the item as if the dash were a space.
            self.lines[self.i] = " " * (indent + 2) + rest
            if _split_key(rest) is not None or rest.startswith("- "):
                out.append(self._node(indent + 2))
            else:
                self.i += 1
                out.append(self._value(rest, indent + 1))

    def _map(self, indent):
        out = {}
        while True:
            self._skip_blank()
            if self.i >= len(self.lines):
                return out
            line = self.lines[self.i]
            if self._indent(line) != indent:
                return out
            body = line[indent:]
            if body.startswith("- "):
                return out
            kv = _split_key(body)
            if kv is None:
                raise YamlError("line %d: expected 'key: value': %r" % (self.i + 1, line))
            key, rest = kv
            self.i += 1
            if rest == "":
                self._skip_blank()
                if self.i < len(self.lines):
                    nxt = self.lines[self.i]
                    ni = self._indent(nxt)
                    if ni > indent or (ni == indent and (nxt[ni:] == "-" or nxt[ni:].startswith("- "))):
                        out[key] = self._node(ni)
                        continue
                out[key] = None
            else:
                out[key] = self._value(rest, indent)
        return out

    def _value(self, rest, indent):
        """A value that starts on a line already consumed; indent is its parent's indentation."""
        if rest[0] in "|>":
            return self._block(rest, indent)
        if rest.startswith('"'):
            return self._quoted(rest, indent, '"')
        if rest.startswith("'"):
            return self._quoted(rest, indent, "'")
        return self._multiline_scalar(indent, rest, consumed=True)

    def _continuation(self, indent):
        """Lines folded into a scalar: more indented than indent (blank lines kept as '')."""
        parts = []
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.strip() and self._indent(line) <= indent:
                break
            parts.append(line.strip())
            self.i += 1
        while parts and parts[-1] == "":
            parts.pop()
        return parts

    @staticmethod
    def _fold(first, parts):
        text = first
        pending = ""
        for p in parts:
            if p == "":
                pending += "\n"
                continue
            if pending:
                text += pending + p
                pending = ""
            elif text.endswith("\\") and not text.endswith("\\\\"):
                text = text[:-1] + p     # an escaped line break inside double quotes: no space
            else:
                text += " " + p
        return text

    def _multiline_scalar(self, indent, first, consumed=False):
        if not consumed:
            self.i += 1
        parts = self._continuation(indent)
        if not parts:
            return _plain(first)
        return self._fold(first, parts)

    def _quoted(self, first, indent, q):
        text = first
        parts = []
        closed = self._closes(text[1:], q)
        while not closed:
            if self.i >= len(self.lines):
                raise YamlError("unterminated quoted string")
            p = self.lines[self.i].strip()
            self.i += 1
            parts.append(p)
            closed = self._closes(p, q)
        folded = self._fold(text, parts)
        return _scalar(folded)

    @staticmethod
    def _closes(s, q):
        i = 0
        while i < len(s):
            if q == '"' and s[i] == "\\":
                i += 2
                continue
            if s[i] == q:
                if q == "'" and s[i + 1:i + 2] == "'":
                    i += 2
                    continue
                return True
            i += 1
        return False

    def _block(self, header, indent):
        m = re.match(r"^([|>])([1-9]?)([-+]?)([1-9]?)$", header.strip())
        if not m:
            raise YamlError("bad block scalar header %r" % header)
        style, chomp = m.group(1), m.group(3)
        explicit = m.group(2) or m.group(4)
        lines = []
        block_indent = indent + int(explicit) if explicit else None
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.strip():
                li = self._indent(line)
                if block_indent is None:
                    if li <= indent:
                        break
                    block_indent = li
                if li < block_indent:
                    break
                lines.append(line[block_indent:])
            else:
                lines.append("")
            self.i += 1
        trailing = 0
        while lines and lines[-1] == "":
            lines.pop()
            trailing += 1
        if style == "|":
            text = "\n".join(lines)
        else:
            text = ""
            for j, ln in enumerate(lines):
                if j == 0:
                    text = ln
                elif ln == "" or ln.startswith(" ") or lines[j - 1] == "" or lines[j - 1].startswith(" "):
                    text += "\n" + ln
                else:
                    text += " " + ln
        if chomp == "-" or not lines:
            return text
        if chomp == "+":
            return text + "\n" * (1 + trailing)
        return text + "\n"


def loads(text):
    return _Parser(text).parse()


def load(path):
    with open(path, encoding="utf-8") as f:
        return loads(f.read())
