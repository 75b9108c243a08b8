"""Reading JSON and JSONL from files we did not write: one safe path for every loader.

`json.loads` alone lets through what later breaks a run far from its cause: `NaN` and `Infinity` (not
JSON, and they poison metrics), integers of thousands of digits (a ValueError, not a decode error),
nesting deep enough to exhaust the stack, and `\\ud800` escapes that decode to lone surrogates, which
cannot be written back as UTF-8 (the results file fails mid-run). Here each of these is a
`PolyeditError` naming the file and line; a byte-order mark is tolerated in JSON and JSONL alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from polyedit.errors import PolyeditError

MAX_INT_DIGITS = 100  # ids and counts; a longer number is damage, not data


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
    return float(text)


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
                if has_lone_surrogate(k):
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
        value = json.loads(text, parse_constant=_constant, parse_int=_int, parse_float=_float)
    except _Reject as e:
        raise PolyeditError(f"{where}: not usable JSON ({e})") from None
    except json.JSONDecodeError as e:
        raise PolyeditError(f"{where}: not JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except RecursionError:
        raise PolyeditError(f"{where}: JSON nested too deeply") from None
    except ValueError as e:  # int() limits the json module does not translate
        raise PolyeditError(f"{where}: not usable JSON ({str(e).split(';')[0]})") from None
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
