"""The language table, loaded from `languages.json`.

A language is data, not code: adding one means adding a row (and, for the knowledge world, templates),
never an `if`. Every other module asks this table about scripts, families and word separation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from polyedit.errors import PolyeditError


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    script: str
    family: str
    resource: str
    spaces: bool  # words separated by spaces: decides how a target is joined to its prompt
    #: words dropped before answers are compared (`polyedit.data.normalize`); elided forms end in "'"
    articles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "articles", tuple(self.articles))

    @property
    def latin(self) -> bool:
        return self.script == "Latin"


@lru_cache(maxsize=1)
def _table() -> tuple[dict[str, Language], dict[str, str]]:
    raw = json.loads(resources.files("polyedit.data").joinpath("languages.json").read_text("utf-8"))
    langs = {row["code"]: Language(**row) for row in raw["languages"]}
    return langs, dict(raw["aliases"])


def all_languages() -> list[Language]:
    return list(_table()[0].values())


def normalize_code(code: str) -> str:
    """Map a language code to the table's code (`zh-cn` -> `zh`); raise on an unknown code."""
    langs, aliases = _table()
    key = code.strip().lower().replace("_", "-")
    key = aliases.get(key, key)
    if key not in langs:
        raise PolyeditError(f"unknown language code {code!r} (known: {', '.join(sorted(langs))})")
    return key


def get_language(code: str) -> Language:
    return _table()[0][normalize_code(code)]


def join_target(prompt: str, target: str, lang: str) -> tuple[str, str]:
    """Split `prompt + target` into the context and the continuation the model must produce.

    The target is never assumed to start with a space: in space-separated languages the space is put
    at the start of the continuation (how a left-to-right model sees it), in zh/ja/th none is added.
    Returns (context, continuation) with context + continuation the full text.
    """
    prompt = prompt.rstrip()
    target = target.strip()
    if get_language(lang).spaces and prompt and not prompt.endswith(("\n", '"', "“", "«", "(", "'")):
        return prompt, " " + target
    return prompt, target
