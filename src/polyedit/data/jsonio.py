"""Reading JSON, JSONL and YAML from files we did not write: the one strict path for every file polyedit reads.

`json.loads` and `yaml.safe_load` alone let through what later breaks a run far from its cause: `NaN`,
`Infinity` and `1e400` (not finite, and they poison metrics), integers of thousands of digits (an
OverflowError or ValueError far from the file), nesting deep enough to exhaust the stack, duplicate keys
(the last silently wins), and `\\ud800` escapes that decode to lone surrogates, which cannot be written
back as UTF-8 (the results file fails mid-run). Here each of these is a `PolyeditError` naming the file,
line and field; a byte-order mark is tolerated.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from polyedit.errors import PolyeditError

MAX_INT_DIGITS = 100  # ids and counts; a longer number is damage, not data
MAX_DEPTH = 100  # the deepest file polyedit writes or reads nests under ten levels


class _Reject(ValueError):
    """A value JSON may spell but a record must not hold (NaN, a 5,000-digit integer)."""


def _constant(name: str) -> Any:
    raise _Reject(f"{name} is not a JSON value")


def _int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _Reject(f"an integer of {digits} digits")
    return int(text)


def _float(text: str) -> float:
    if len(text) > 400:
        raise _Reject(f"a number of {len(text)} characters")
    value = float(text)
    if not math.isfinite(value):
        raise _Reject(f"{text} is not a finite number")
    return value


def nesting_depth(value: Any) -> int:
    """How deeply lists and mappings nest in `value` (0 for a scalar). Iterative: no input exhausts the stack."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, depth + 1)
            stack.extend((x, depth + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def _duplicate_key(pairs: list[tuple[str, Any]]) -> dict:
    out = {}
    for k, v in pairs:
        if k in out:
            raise _Reject(f"duplicate key {k!r}")
        out[k] = v
    return out


_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(text: str) -> bool:
    """Whether `text` holds an unpaired UTF-16 surrogate (decoded from a `\\ud800` escape): not text, and
    not encodable as UTF-8."""
    return _SURROGATE.search(text) is not None


def lone_surrogate(value: Any) -> str | None:
    """The dotted path of the first string (key or value) holding a lone UTF-16 surrogate, '' for the
    value itself, or None. Iterative, so no input can exhaust the stack."""
    stack = [("", value)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, str):
            if has_lone_surrogate(v):
                return path
        elif isinstance(v, dict):
            for k, item in v.items():
                if isinstance(k, str) and has_lone_surrogate(k):
                    return path or "(key)"
                stack.append((f"{path}.{k}" if path else str(k), item))
        elif isinstance(v, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(v))
    return None


def parse_json(text: str, where: str, *, strings: bool = True) -> Any:
    """`text` parsed strictly; `where` prefixes every error ("file.jsonl:12"). With `strings=False` lone
    surrogates are left for the caller to report per field (validate lists them record by record)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        value = json.loads(text, parse_constant=_constant, parse_int=_int, parse_float=_float,
                           object_pairs_hook=_duplicate_key)
    except _Reject as e:
        raise PolyeditError(f"{where}: not usable JSON ({e})") from None
    except json.JSONDecodeError as e:
        raise PolyeditError(f"{where}: not JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except RecursionError:
        raise PolyeditError(f"{where}: JSON nested too deeply") from None
    except ValueError as e:  # int() limits the json module does not translate
        raise PolyeditError(f"{where}: not usable JSON ({str(e).split(';')[0]})") from None
    if nesting_depth(value) > MAX_DEPTH:
        raise PolyeditError(f"{where}: JSON nested more than {MAX_DEPTH} levels deep")
    if strings:
        bad = lone_surrogate(value)
        if bad is not None:
            raise PolyeditError(f"{where}: {'field ' + bad if bad else 'value'} holds a lone surrogate "
                                f"(an unpaired \\ud800-\\udfff escape), which is not text")
    return value


def read_text(path: Path) -> str:
    """A file's text as UTF-8 (BOM allowed), or a PolyeditError saying why it cannot be read."""
    if path.suffix.lower() in {".pk", ".pkl", ".pickle"}:  # defensive: no code path should ever get here
        raise PolyeditError(f"{path}: refusing to load a pickle")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PolyeditError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise PolyeditError(f"{path}: is a directory, expected a file") from None
    except OSError as e:
        raise PolyeditError(f"{path}: cannot read ({e.strerror})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise PolyeditError(f"{path}:{line}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def read_json(path: Path, *, strings: bool = True) -> Any:
    """The parsed content of a JSON file (see `parse_json`)."""
    return parse_json(read_text(path), str(path), strings=strings)


def read_jsonl(path: Path, *, strings: bool = True) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line of a JSONL file; errors name `path:line`."""
    for number, line in enumerate(read_text(path).split("\n"), 1):
        if line.strip():
            yield number, parse_json(line, f"{path}:{number}", strings=strings)


class _YAMLRejected(Exception):
    def __init__(self, node: yaml.Node, reason: str) -> None:
        super().__init__(reason)
        self.line, self.reason = node.start_mark.line + 1, reason


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader with `parse_json`'s limits: depth bounded while composing (before the recursive
    constructor runs), duplicate keys refused, integers and floats checked before conversion."""

    _depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _YAMLRejected(self.peek_event(), f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, (str, int, float, bool)) or key is None:
                    if key in seen:
                        raise _YAMLRejected(key_node, f"duplicate key {key!r}")
                    seen.add(key)
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node):
        digits = len(str(node.value).lstrip("+-").replace("_", ""))
        if digits > MAX_INT_DIGITS:
            raise _YAMLRejected(node, f"an integer of {digits} digits")
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node):
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise _YAMLRejected(node, f"{node.value} is not a finite number")
        return value


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)
_StrictLoader.add_constructor("tag:yaml.org,2002:float", _StrictLoader.construct_yaml_float)


def parse_yaml(text: str, where: str) -> Any:
    """`text` parsed as YAML with the rules of `parse_json` (safe tags only, no duplicate keys, integers of
    at most `MAX_INT_DIGITS` digits, finite numbers, at most `MAX_DEPTH` levels); errors name `where:line`."""
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        loader = _StrictLoader(text)
        try:
            value = loader.get_single_data()
        finally:
            loader.dispose()
    except _YAMLRejected as e:
        raise PolyeditError(f"{where}:{e.line}: {e.reason}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        reason = str(getattr(e, "problem", None) or e).splitlines()[0]
        raise PolyeditError(f"{where}{line}: not valid YAML ({reason})") from None
    bad = lone_surrogate(value)
    if bad is not None:
        raise PolyeditError(f"{where}: {'field ' + bad if bad else 'value'} holds a lone surrogate, which is not text")
    return value


def read_yaml(path: Path) -> Any:
    """The parsed content of a YAML file (see `parse_yaml`)."""
    return parse_yaml(read_text(Path(path)), str(path))
