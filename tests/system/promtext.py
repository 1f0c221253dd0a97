"""The Prometheus text format as the system tests read it: one parser for
lib.sh's metric queries and the tests' own checks (on PYTHONPATH through
lib.sh)."""
import re

_SAMPLE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def _unescape(v):
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def samples(path):
    """Every sample of the file at path as (name, {label: value}, value as written)."""
    out = []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError(f"unparsable sample: {line!r}")
        labels, rest = {}, m.group(3) or ""
        while rest:
            lm = _LABEL.match(rest)
            if not lm:
                raise ValueError(f"unparsable labels in: {line!r}")
            labels[lm.group(1)] = _unescape(lm.group(2))
            rest = rest[lm.end():]
        out.append((m.group(1), labels, m.group(4)))
    return out


def value(all_samples, name, **labels):
    """The value of the one sample with exactly these labels, or None."""
    for n, l, v in all_samples:
        if n == name and l == labels:
            return v
    return None
