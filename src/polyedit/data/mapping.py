"""Field mapping: `map=english_prompt:prompt,english_subject:subject` in any file-format spec, or
`map=PATH` naming a YAML or JSON file of `{from: to}` pairs, so that a renamed or prefixed field needs no
code. A mapped name is renamed wherever it is a key (records are nested: MzsRE's language blocks, KnowEdit's
`locality` groups), before the format reads the record; the format then reports the new name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from polyedit.data.jsonio import parse_json, read_text
from polyedit.errors import PolyeditError, shorten


def parse_mapping(raw: str | None) -> dict[str, str]:
    """`{from: to}` from a `map=` option: inline pairs, or the path of a YAML/JSON mapping file."""
    if raw is None:
        return {}
    if Path(raw).suffix.lower() in {".yaml", ".yml", ".json"}:
        return _from_file(Path(raw))
    pairs = {}
    for item in (x.strip() for x in raw.split(",")):
        old, sep, new = item.partition(":")
        if not sep or not old.strip() or not new.strip():
            raise PolyeditError(f"map={raw!r}: {item!r} is not FROM:TO (e.g. map=english_prompt:prompt)")
        _add(pairs, old.strip(), new.strip(), f"map={raw!r}")
    return pairs


def _from_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise PolyeditError(f"map={path}: no mapping file there")
    text = read_text(path)
    try:
        data = parse_json(text, str(path)) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise PolyeditError(f"{path}: not YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict) or not data:
        raise PolyeditError(f"{path}: a mapping file is an object of FROM: TO field names")
    pairs: dict[str, str] = {}
    for old, new in data.items():
        if not isinstance(old, str) or not isinstance(new, str) or not old.strip() or not new.strip():
            raise PolyeditError(f"{path}: {shorten(old)}: {shorten(new)} is not a pair of field names")
        _add(pairs, old.strip(), new.strip(), str(path))
    return pairs


def _add(pairs: dict[str, str], old: str, new: str, where: str) -> None:
    if new in pairs.values():
        raise PolyeditError(f"{where}: two fields mapped to {new!r}")
    pairs[old] = new


def apply_mapping(value: Any, mapping: dict[str, str]) -> Any:
    """`value` with every mapped key renamed, at any depth (a copy; the parsed file is left as read). A key
    whose new name the same object already holds is left as it is, so no value is overwritten."""
    if not mapping:
        return value
    if isinstance(value, list):
        return [apply_mapping(v, mapping) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        new = mapping.get(key, key) if isinstance(key, str) else key
        out[key if new in value and new != key else new] = apply_mapping(item, mapping)
    return out
