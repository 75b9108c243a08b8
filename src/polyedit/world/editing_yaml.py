"""Write one method's entry of world/editing.yaml (the built-in worlds' recommended hyperparameters) in
place, keeping every other entry and comment as it is.

The file is a mapping size -> method -> fields, each entry preceded by the comment that says how it was
found. `set_entry` replaces the entry of one (size, method), comment included, or adds it at the end of the
size's block (or a new block), then reads the result back and checks that exactly that entry changed
before writing it (atomically); `set_model_entry` does the same in a model folder's editing.yaml (method ->
fields). The checkpoint folders hold copies (`write_checkpoint_copy`), written by `polyedit world build`.
`polyedit tune` writes only the file or folder its user names, never the files polyedit ships.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

import yaml

from polyedit.data.jsonio import parse_yaml, read_text, read_yaml
from polyedit.errors import PolyeditError

_SIZE = re.compile(r"^([A-Za-z0-9_.-]+):\s*$")
# a method's key line, bare or defining/using a YAML anchor (`alphaedit: &shared`, `langedit: *shared`): an
# anchored entry is a block of its own, or the one above it would swallow it when replaced
_METHOD = re.compile(r"^  ([A-Za-z0-9_.-]+):(?:\s+[&*][A-Za-z0-9_.-]+)?\s*$")


EDITING_FILE = "editing.yaml"  # models.load reads it from a model folder: recommended hyperparameters per method
CHECKPOINTS = Path(__file__).parent / "checkpoints"


def write_checkpoint_copy(size: str, out: Path, source: Path | None = None) -> bool:
    """Copy `size`'s recommended editing hyperparameters (from `source`, default the shipped file) into the
    model folder `out`, entries shared by YAML anchors written out in full. False where the file has none."""
    import json

    recommended = read_yaml(source or shipped_path()) or {}
    if not recommended.get(size):
        return False
    text = yaml.safe_dump(json.loads(json.dumps(recommended[size])), sort_keys=True, allow_unicode=True)
    (out / EDITING_FILE).write_text(f"# recommended editing hyperparameters for world:{size}\n{text}", "utf-8")
    return True


def shipped_path() -> Path:
    """The source file (world/editing.yaml) a checkout ships."""
    return Path(str(resources.files("polyedit.world").joinpath("editing.yaml")))


def _starts(lines: list[str], pattern: re.Pattern, comment: str, lo: int, hi: int) -> list[tuple[int, int]]:
    """(first line, key line) of every block in lines[lo:hi] whose key matches `pattern`: a block begins
    with the comment lines (prefix `comment`) right above its key."""
    out = []
    for i in range(lo, hi):
        if pattern.match(lines[i]):
            j = i
            while j > lo and lines[j - 1].startswith(comment):
                j -= 1
            out.append((j, i))
    return out


def _span(blocks: list[tuple[int, int]], key_line: int, hi: int) -> tuple[int, int]:
    """[first, end) of the block whose key is at `key_line`: up to where the next block begins."""
    k = [b[1] for b in blocks].index(key_line)
    return blocks[k][0], blocks[k + 1][0] if k + 1 < len(blocks) else hi


def _entry_text(method: str, values: dict, comment: list[str], indent: str = "  ") -> list[str]:
    """The entry: its comment, then the method's mapping in block style, indented under the size."""
    body = yaml.safe_dump({method: values}, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)
    return [f"{indent}# {c}" for c in comment] + [indent + line for line in body.splitlines()]


def _read_mapping(path: Path, what: str) -> tuple[str, dict]:
    """The file's text and mapping; a file not there yet is empty."""
    text = read_text(path) if path.exists() else ""
    before = parse_yaml(text, str(path)) or {}
    if not isinstance(before, dict):
        raise PolyeditError(f"{path}: expected a mapping of {what}")
    return text, before


def set_model_entry(folder: str | Path, method: str, values: dict, comment: list[str]) -> Path:
    """Replace or add `method`'s entry of a model folder's editing.yaml (method -> fields, what `load_model`
    reads), comment included, every other entry and comment kept."""
    path = Path(folder) / EDITING_FILE
    text, before = _read_mapping(path, "methods to hyperparameters")
    lines = text.splitlines()
    new = _entry_text(method, values, comment, indent="")
    entries = _starts(lines, _SIZE, "#", 0, len(lines))
    mine = next((key for _, key in entries if _SIZE.match(lines[key]).group(1) == method), None)
    if mine is None:
        lines = lines + new
    else:
        first, end = _span(entries, mine, len(lines))
        lines = lines[:first] + new + lines[end:]
    return _write_checked(path, lines, {**before, method: values}, method)


def set_entry(path: str | Path, size: str, method: str, values: dict, comment: list[str]) -> Path:
    path = Path(path)
    text, before = _read_mapping(path, "world size to methods")
    lines = text.splitlines()
    new = _entry_text(method, values, comment)
    sizes = _starts(lines, _SIZE, "#", 0, len(lines))
    at = next((key for _, key in sizes if _SIZE.match(lines[key]).group(1) == size), None)
    if at is None:
        lines = lines + [f"{size}:"] + new
    else:
        _, size_end = _span(sizes, at, len(lines))
        entries = _starts(lines, _METHOD, "  #", at + 1, size_end)
        mine = next((key for _, key in entries if _METHOD.match(lines[key]).group(1) == method), None)
        if mine is None:
            lines = lines[:size_end] + new + lines[size_end:]
        else:
            first, end = _span(entries, mine, size_end)
            lines = lines[:first] + new + lines[end:]
    return _write_checked(path, lines, {**before, size: {**(before.get(size) or {}), method: values}},
                          f"{size}/{method}")


def _write_checked(path: Path, lines: list[str], expected: dict, entry: str) -> Path:
    """Write `lines` (atomically) if they read back as `expected`: exactly the one entry changed."""
    result = "\n".join(lines) + "\n"
    if yaml.safe_load(result) != expected:
        raise PolyeditError(f"{path}: could not place the {entry} entry without changing another one; "
                            f"edit the file by hand")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(result, "utf-8")
    os.replace(tmp, path)
    return path
