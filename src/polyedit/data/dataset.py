"""What a loader returns (`Dataset`) and what it is given (`DatasetSpec`); below the registry and the
loaders, so that either can import them.

A spec is `NAME[:ARG][:key=value...]`, e.g. `bmike53:zsre:langs=de,ja`, `mkeb:path/to/dir`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field

from polyedit.data.cases import EditCase
from polyedit.errors import PolyeditError


@dataclass
class Dataset:
    """Loaded cases plus the count of what the loader dropped and why (shown in run summaries)."""

    name: str
    cases: list[EditCase]
    skipped: Counter = field(default_factory=Counter)
    source: str = ""
    #: the protocols the benchmark was published with (names registered in polyedit.evaluation), run beside
    #: the headline ones when a run names none and labelled as the paper's; None means polyedit's defaults
    protocols: list[str] | None = None
    #: case-level fields (`EditCase.meta`) the summary reports groups of, e.g. the world's `answer_kind`
    group_by: tuple[str, ...] = ()
    #: every field the loader met, by what became of it ("read", "not understood", "null", "ignored") and
    #: by its dotted path in the record, with the number of records that had it (`problems.FIELD_FATES`)
    fields: dict[str, Counter] = field(default_factory=dict)
    #: where each case's language came from, e.g. {"zh (detected)": 3, "en (option lang=)": 2}
    languages: Counter = field(default_factory=Counter)
    #: what is suspicious but not an error: fields not understood, nulls, a probe kind left empty
    warnings: list[str] = field(default_factory=list)
    #: the metric that scores a generated answer against the gold (the headline of reliability, generality
    #: and portability: evaluation/aggregate.py); a benchmark with its own answer scorer names it
    answer_scorer: str = "answer_em"
    #: what a run on these cases must say (the edit language probed though `langs=` left it out)
    notes: list[str] = field(default_factory=list)
    #: facts no case of the dataset edits, asked with their true answers (reliability probes): a lifelong
    #: run measures recall on them (`evaluation/lifelong.py`); None: the cases a run does not edit
    untouched: list[EditCase] | None = None


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


def _is_option(part: str, options: Collection[str] | None) -> bool:
    key = part.partition("=")[0].strip()
    return key.isidentifier() if options is None else key in options


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    arg: str | None
    options: dict[str, str]
    #: the caller's `limit`: a loader that makes its cases in order may make only the first `limit` (the
    #: registry keeps the first `limit` either way)
    limit: int | None = None

    @classmethod
    def parse(cls, spec: str, options: Collection[str] | None = None) -> DatasetSpec:
        """The spec's name, argument and options, from its text alone (never the file system). The part after
        the name is an option `KEY=VALUE` when KEY is one of the loader's declared `options` (any identifier
        where none are given), else the argument: `jsonl:runs/a=b.jsonl` is a path, `world:n=5` an option.
        Every later part with `=` is an option."""
        if not spec or not spec.strip():
            raise PolyeditError("empty dataset spec")
        name, _, rest = spec.partition(":")
        arg, found = None, {}
        parts = rest.split(":") if rest else []
        # A Windows-free world: a path argument may itself contain ':' only in key=value options.
        key = None
        for i, part in enumerate(parts):
            if "=" not in part and key == "map":  # `map=FROM:TO,FROM:TO` holds colons of its own
                found[key] += ":" + part.strip()
            elif "=" in part and (i > 0 or _is_option(part, options)):
                key, _, value = part.partition("=")
                key = key.strip()
                found[key] = value.strip()
            elif arg is None:
                arg = part
            else:
                raise PolyeditError(f"dataset spec {spec!r}: unexpected part {part!r}")
        return cls(name.strip().lower(), arg, SpecOptions(found))

    def langs(self) -> list[str] | None:
        raw = self.options.get("langs")
        if raw is None:
            return None
        codes = list(dict.fromkeys(x.strip() for x in raw.split(",") if x.strip()))
        if not codes:
            raise PolyeditError(f"dataset option langs={raw!r} names no language")
        return codes
