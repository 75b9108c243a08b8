"""What a loader returns (`Dataset`) and what it is given (`DatasetSpec`); below the registry and the
loaders, so that either can import them.

A spec is `NAME[:ARG][:key=value...]`, e.g. `bmike53:zsre:langs=de,ja`, `mkeb:path/to/dir`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from polyedit.data.cases import EditCase
from polyedit.errors import PolyeditError


@dataclass
class Dataset:
    """Loaded cases plus the count of what the loader dropped and why (shown in run summaries)."""

    name: str
    cases: list[EditCase]
    skipped: Counter = field(default_factory=Counter)
    source: str = ""
    #: the benchmark's own scoring protocols (names registered in polyedit.evaluation), used when a run
    #: names none; None means polyedit's defaults
    protocols: list[str] | None = None
    #: case-level fields (`EditCase.meta`) the summary reports groups of, e.g. the world's `answer_kind`
    group_by: tuple[str, ...] = ()
    #: what a run on these cases must say (the edit language probed though `langs=` left it out)
    notes: list[str] = field(default_factory=list)


class SpecOptions(dict):
    """A spec's key=value options, remembering which ones the loader read: an option no loader reads is a
    typo (`lang=` for `langs=`) and `load_dataset` refuses it rather than silently running everything."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key) -> bool:
        self.read.add(key)
        return super().__contains__(key)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    arg: str | None
    options: dict[str, str]

    @classmethod
    def parse(cls, spec: str) -> DatasetSpec:
        if not spec or not spec.strip():
            raise PolyeditError("empty dataset spec")
        name, _, rest = spec.partition(":")
        arg, options = None, {}
        parts = rest.split(":") if rest else []
        # A Windows-free world: a path argument may itself contain ':' only in key=value options.
        for i, part in enumerate(parts):
            if "=" in part and (i > 0 or arg is None) and not Path(part).exists():
                key, _, value = part.partition("=")
                options[key.strip()] = value.strip()
            elif arg is None:
                arg = part
            else:
                raise PolyeditError(f"dataset spec {spec!r}: unexpected part {part!r}")
        return cls(name.strip().lower(), arg, SpecOptions(options))

    def langs(self) -> list[str] | None:
        raw = self.options.get("langs")
        if raw is None:
            return None
        codes = list(dict.fromkeys(x.strip() for x in raw.split(",") if x.strip()))
        if not codes:
            raise PolyeditError(f"dataset option langs={raw!r} names no language")
        return codes
