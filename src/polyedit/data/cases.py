"""The edit-case model: an edit plus the probes that test it in every language.

Names follow the papers: reliability (the edit prompt itself, in each language), generality
(paraphrases), locality (unrelated prompts whose answers must not move) and portability (multi-hop or
derived questions whose answers follow from the new fact).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from polyedit.data.jsonio import has_lone_surrogate
from polyedit.data.languages import normalize_code
from polyedit.errors import PolyeditError, shorten

RELIABILITY = "reliability"
GENERALITY = "generality"
LOCALITY = "locality"
PORTABILITY = "portability"
PROBE_KINDS = (RELIABILITY, GENERALITY, LOCALITY, PORTABILITY)


def _text(value: Any, what: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PolyeditError(f"{where}: {what} must be a non-empty string, got {shorten(value)}")
    _no_surrogate(value, what, where)
    return value


def _answer(value: Any, what: str, where: str) -> str:
    """A probe's gold answer: non-empty text, or exactly "" where the data gives none (BMIKE-53's empty
    `loc_ans`). Only a protocol that declares how it scores an empty gold answer scores such a probe
    (`Protocol.empty_answer`); the others omit it and the summary counts it (`empty_gold`)."""
    return "" if value == "" else _text(value, what, where)


def _optional_text(value: Any, what: str, where: str) -> str | None:
    """An optional answer: a string, or None when absent or blank (NaN or a number is an error, not text)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise PolyeditError(f"{where}: {what} must be a string or null, got {shorten(value)}")
    _no_surrogate(value, what, where)
    return value if value.strip() else None


def _no_surrogate(value: str, what: str, where: str) -> None:
    # a lone surrogate cannot be encoded as UTF-8: the results file would fail to write mid-run
    if has_lone_surrogate(value):
        raise PolyeditError(f"{where}: {what} holds a lone surrogate (an unpaired \\ud800-\\udfff escape)")


def _probe_kind(value: Any) -> str:
    if not isinstance(value, str) or value not in PROBE_KINDS:
        raise PolyeditError(f"unknown probe kind {shorten(value)} (known: {', '.join(PROBE_KINDS)})")
    return value


def _code(value: Any, what: str, where: str) -> str:
    return normalize_code(_text(value, what, where))


def _alias_list(value: Any, where: str) -> tuple | list:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise PolyeditError(f"{where}: aliases must be a list of strings, got {shorten(value)}")
    return value


def _alias(value: Any, i: int, where: str) -> str:
    if not isinstance(value, str):
        raise PolyeditError(f"{where}: aliases[{i}] must be a string, got {shorten(value)}")
    _no_surrogate(value, "alias", where)
    return value


class _Fields:
    """Runs the checks of one edit's or probe's fields in turn. Building one raises at the first bad field;
    with `collect` (the jsonl check of `polyedit data validate`) every bad field is noted as (name, message,
    without the `where` that the field name replaces) and reads as None, and the checks go on."""

    def __init__(self, where: str, collect: bool) -> None:
        self.where, self.collect, self.found = where, collect, []

    def __call__(self, name: str, check: Callable[..., Any], *args: Any) -> Any:
        try:
            return check(*args)
        except PolyeditError as e:
            if not self.collect:
                raise
            self.found.append((name, str(e).removeprefix(f"{self.where}: ")))
            return None


def case_id_of(value: Any, where: str) -> str:
    """A case id as a string: a non-empty string or an integer (a bool is neither)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise PolyeditError(f"{where}: case_id must be a non-empty string or an integer, got {shorten(value)}")
    return str(value)


def _as_tuple(value: Any) -> Any:
    # JSON has lists where the dataclass keeps tuples; anything else is left for validation to name
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class Edit:
    """Rewrite (subject, relation, target_true) to (subject, relation, target_new), stated in `lang`."""

    lang: str
    subject: str
    prompt: str
    target_new: str
    target_true: str | None = None

    def __post_init__(self) -> None:
        for name, value in self._checked(self.__dict__, _Fields("", collect=False)).items():
            object.__setattr__(self, name, value)

    @staticmethod
    def _checked(v: dict[str, Any], f: _Fields) -> dict[str, Any]:
        """The fields of `v` checked in turn through `f`, `lang` normalised and a blank `target_true` None."""
        f.where = where = f"edit ({shorten(v.get('lang'), 12)}, {shorten(v.get('subject'))})"
        return {"lang": f("lang", _code, v.get("lang"), "lang", where),
                "subject": f("subject", _text, v.get("subject"), "subject", where),
                "prompt": f("prompt", _text, v.get("prompt"), "prompt", where),
                "target_new": f("target_new", _text, v.get("target_new"), "target_new", where),
                "target_true": f("target_true", _optional_text, v.get("target_true"), "target_true", where)}

    @classmethod
    def problems(cls, values: dict[str, Any]) -> list[tuple[str, str]]:
        """Every bad field of an edit given as a mapping, as (field, message); empty when it is valid."""
        f = _Fields("", collect=True)
        cls._checked(values, f)
        return f.found

    @property
    def subject_in_prompt(self) -> bool:
        """Whether the prompt contains the subject (ignoring case). Translated benchmarks often translate
        the two differently (MzsRE th: 604 of 743, weixuan-wang123/ReMaKE#1); such an edit is kept, and
        methods that locate the subject use `models.tokens.subject_span`'s fallback rules."""
        return self.subject in self.prompt or self.subject.casefold() in self.prompt.casefold()


@dataclass(frozen=True)
class Probe:
    """One question asked of the edited model.

    `answer` is what a correct model says after the edit (target_new for reliability and generality,
    the unchanged answer for locality, the derived answer for portability); "" where the data gives
    none, which only protocols declaring an `empty_answer` rule score. `answer_true` is the
    competing pre-edit answer, used by probability comparison where known.
    """

    kind: str
    lang: str
    prompt: str
    answer: str
    answer_true: str | None = None
    subject: str | None = None
    #: other correct answers (MLaKE's and MQuAKE's answer aliases); a match with any of them counts
    aliases: tuple[str, ...] = ()
    #: the probe's sub-kind where the source names one (KnowEdit's `Relation_Specificity`, `Reasoning`, ...)
    group: str | None = None

    def __post_init__(self) -> None:
        for name, value in self._checked(self.__dict__, _Fields("", collect=False)).items():
            object.__setattr__(self, name, value)

    @staticmethod
    def _checked(v: dict[str, Any], f: _Fields) -> dict[str, Any]:
        """The fields of `v` checked in turn through `f`: `lang` normalised, blank optional answers None, empty
        aliases and repeats of the answer dropped."""
        kind = f("kind", _probe_kind, v.get("kind"))
        f.where = f"{kind} probe"
        out = {"kind": kind, "lang": f("lang", _code, v.get("lang"), "lang", f.where)}
        f.where = where = f"{kind} probe ({out['lang']})"
        out["prompt"] = f("prompt", _text, v.get("prompt"), "prompt", where)
        out["answer"] = answer = f("answer", _answer, v.get("answer"), "answer", where)
        out["answer_true"] = f("answer_true", _optional_text, v.get("answer_true"), "answer_true", where)
        out["subject"] = f("subject", _optional_text, v.get("subject"), "subject", where)
        listed = f("aliases", _alias_list, v.get("aliases"), where) or ()
        aliases = [f(f"aliases[{i}]", _alias, a, i, where) for i, a in enumerate(listed)]
        # empty aliases are dropped and repeats of the answer kept out: an alias only ever adds a way to be right
        out["aliases"] = tuple(dict.fromkeys(a for a in aliases if isinstance(a, str) and a.strip()
                                             and a.strip() != (answer or "").strip()))
        out["group"] = f("group", _optional_text, v.get("group"), "group", where)
        return out

    @classmethod
    def problems(cls, values: dict[str, Any]) -> list[tuple[str, str]]:
        """Every bad field of a probe given as a mapping, as (field, message); empty when it is valid."""
        f = _Fields("", collect=True)
        cls._checked(values, f)
        return f.found

    @property
    def answers(self) -> tuple[str, ...]:
        """The answer and its aliases: every string that counts as correct."""
        return (self.answer, *self.aliases)


@dataclass
class EditCase:
    """One edit and its probes, in any number of languages; any probe kind may be absent."""

    case_id: str
    edit: Edit
    probes: list[Probe] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def languages(self) -> list[str]:
        seen: dict[str, None] = {self.edit.lang: None}
        for p in self.probes:
            seen.setdefault(p.lang, None)
        return list(seen)

    def probes_for(self, lang: str | None = None, kind: str | None = None) -> list[Probe]:
        return [p for p in self.probes if (lang is None or p.lang == lang) and (kind is None or p.kind == kind)]

    def restrict(self, langs: list[str] | None) -> EditCase:
        """The same case with probes only in `langs` (the edit itself is kept)."""
        if not langs:
            return self
        keep = {normalize_code(x) for x in langs}
        return EditCase(self.case_id, self.edit, [p for p in self.probes if p.lang in keep], dict(self.meta))

    def restrict_probed(self, langs: list[str] | None) -> EditCase:
        """`restrict` to `langs` and the edit's own language: edit success is measured where the edit was
        made, whatever the probed languages asked for (`edit_language_added` says when it was added)."""
        if not langs:
            return self
        return self.restrict(list(langs) + [self.edit.lang])

    def to_dict(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "edit": asdict(self.edit), "probes": [_probe_dict(p) for p in self.probes],
                "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "case") -> EditCase:
        if not isinstance(d, dict):
            raise PolyeditError(f"{where}: expected an object, got {type(d).__name__}")
        try:
            edit = d["edit"]
            if not isinstance(edit, dict):
                raise PolyeditError(f"{where}: 'edit' must be an object")
            probes = d.get("probes", [])
            if not isinstance(probes, list):
                raise PolyeditError(f"{where}: 'probes' must be a list")
            for part, fields, obj in [("edit", ("lang", "subject", "prompt", "target_new"), edit)] + [
                    (f"probes[{i}]", ("kind", "lang", "prompt", "answer"), p) for i, p in enumerate(probes)]:
                if not isinstance(obj, dict):
                    raise PolyeditError(f"{where}: {part} must be an object")
                missing = [f for f in fields if obj.get(f) is None]
                if missing:
                    raise PolyeditError(f"{where}: {part} is missing field {missing[0]!r}")
            meta = d.get("meta")
            if meta is not None and not isinstance(meta, dict):
                raise PolyeditError(f"{where}: 'meta' must be an object, got {type(meta).__name__}")
            case_id = case_id_of(d.get("case_id", where), where)
            return cls(
                case_id=case_id,
                edit=Edit(**{k: edit.get(k) for k in ("lang", "subject", "prompt", "target_new", "target_true")}),
                probes=[Probe(**{k: p.get(k) for k in ("kind", "lang", "prompt", "answer", "answer_true", "subject",
                                                        "group")},
                              aliases=_as_tuple(p.get("aliases") or ()))
                        for p in probes],
                meta=dict(meta or {}),
            )
        except PolyeditError as e:  # raised while building the edit or a probe: keep the file and line
            raise e if str(e).startswith(where) else PolyeditError(f"{where}: {e}") from None
        except KeyError as e:
            raise PolyeditError(f"{where}: missing field {e.args[0]!r}") from None
        except (TypeError, AttributeError) as e:
            raise PolyeditError(f"{where}: malformed record ({e})") from None


def _probe_dict(p: Probe) -> dict[str, Any]:
    # a probe without a sub-kind is written as before, so files and run records written earlier stay identical
    d = asdict(p)
    if d["group"] is None:
        del d["group"]
    return d


def make_case(case_id: str, lang: str, subject: str, prompt: str, target_new: str,
              target_true: str | None = None, probes: list[Probe] | None = None) -> EditCase:
    """Build a case whose reliability probe in the edit language is the edit prompt itself."""
    edit = Edit(lang, subject, prompt, target_new, target_true)
    own = Probe("reliability", edit.lang, prompt, target_new, target_true, subject)
    return EditCase(case_id, edit, [own, *(probes or [])])


def edit_language_added(cases: list[EditCase], langs: list[str] | None, where: str) -> str | None:
    """The note a run gives when `langs` (named by `where`) leave out some edits' own language, which
    `EditCase.restrict_probed` then probes as well; None when they include every edit language."""
    if not langs:
        return None
    keep = {normalize_code(x) for x in langs}
    added = sorted({c.edit.lang for c in cases} - keep)
    if not added:
        return None
    return (f"{where} leaves out the edit language {', '.join(added)}: probed as well, so that each edit's "
            f"success is measured where it was made")
