"""BabelEdits (Green et al., "BabelEdits", umanlp/babeledits): cross-lingual edits built on BabelNet
synsets, in up to 60 languages, with machine-translated ("mt"), marker-translated ("mt_marked") and
glossary ("gloss") variants of every prompt, and answer aliases.

Spec: `babeledits:PATH[:edit_lang=en][:langs=...][:variant=mt_marked|mt|gloss]`; PATH is a dataset JSON
(`babeledits_test.json` in the authors' configuration; the data is distributed by the authors, not in the
repository) or a folder of them. `variant` picks the prompt set, `mt_marked` by default as in the authors'
`configs/config.yaml`.

Format, as the authors' pipeline writes it (`babeledits_pipeline/aggregate_translations.py`) and
`edit.py` reads it: a JSON object keyed by BabelNet synset id, each value

    {"subjects": {LANG: str}, "subjects_mt": {...}, "subjects_mt_marked": {...}, "subjects_aliases": {LANG: [str]},
     "relations": {RELATION: {
        "ground_truths": {LANG: str}, "ground_truths_mt": {...}, "ground_truths_aliases": {LANG: [str]},
        "edit": {"targets": {LANG: str}, "targets_mt": {...}, "targets_mt_marked": {...},
                 "targets_aliases": {LANG: [str]},
                 "prompts_mt": {LANG: str}, "prompts_mt_marked": {...}, "prompts_gloss": {...},
                 "generality": {"prompts_gen_mt": {...}, "prompts_gen_mt_marked": {...}, "prompts_gen_gloss": {...}},
                 "locality": {RELATION: {"prompts_loc_<v>": {...}, "ground_truths_loc[_mt[_marked]]": {...},
                                         "ground_truths_aliases_loc": {LANG: [str]}}},
                 "portability": {"multi_hop": {RELATION: {"prompts_port_<v>": {...},
                                                          "ground_truths_port[_mt[_marked]]": {...},
                                                          "ground_truths_aliases_port": {LANG: [str]}}}},
                 "prompts_subj_alias": {LANG: str or [str]}}}}}

Targets follow the authors' `prompt_to_target`: `gloss` prompts are answered by `targets` /
`ground_truths_loc` / `ground_truths_port`, `mt` and `mt_marked` by the same fields suffixed `_mt` /
`_mt_marked`. The pipeline also writes `ground_truths_port_aliases` (utils.extract_aliases reads that
name): both are accepted.

Mapping, one case per (synset, relation), `babeledits-<synset>-<relation>`, edited in `edit_lang`:
- edit: `prompts_<v>[edit_lang]` -> the target; subject `subjects_<v>[edit_lang]`, or, as the authors'
  `subject_in_prompt: loose`, the English or glossary subject when that one is in the prompt; otherwise
  kept and flagged; target_true from `ground_truths`;
- reliability / generality in each language: `prompts_<v>` / `prompts_gen_<v>` -> the target, aliases
  `targets_aliases`, answer_true the ground truth;
- locality: each locality relation's prompt -> its ground truth, with its aliases;
- portability: each multi-hop relation's prompt -> its ground truth, with its aliases, and the
  subject-alias prompts (`prompts_subj_alias`, the same fact asked with another name of the subject:
  the authors score them under portability) -> the target.
`case.meta["subject_key"]` is the synset id: one entity, one side of a split, in every language.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polyedit.data.cases import GENERALITY, LOCALITY, PORTABILITY, RELIABILITY, EditCase, Probe, make_case
from polyedit.data.languages import normalize_code
from polyedit.data.mkeb import json_files
from polyedit.data.problems import (RecordReader, Report, flag_missing_subject, load_path_dataset, read_records,
                                    register_format)
from polyedit.data.registry import Dataset, DatasetSpec, register_dataset
from polyedit.errors import PolyeditError

VARIANTS = {"mt_marked": "_mt_marked", "mt": "_mt", "gloss": ""}  # prompt variant -> its targets' suffix
SUBJECTS = {"mt_marked": "subjects_mt_marked", "mt": "subjects_mt", "gloss": "subjects"}
PROTOCOLS = ["generation", "token_f1"]
WHERE = "BabelEdits is distributed by its authors (github.com/umanlp/babeledits: `dataset=` in configs/config.yaml)"


class _Record:
    """Typed access to a synset entry's per-language maps; each problem counted on the report."""

    def __init__(self, r: RecordReader) -> None:
        self.r = r

    def langs(self, parent: Any, key: str, path: str, reason: str, lists: bool = False) -> dict[str, Any]:
        """`parent[key]` as {language: text (or list of texts)}, keys normalised; {} when absent."""
        value = parent.get(key) if isinstance(parent, dict) else None
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.r.problem(path, f"expected an object keyed by language, got {type(value).__name__}", reason)
            return {}
        out: dict[str, Any] = {}
        for code, item in value.items():
            lang = self.r.language(code, f"{path}.{code}", "unknown language codes")
            if lang is None:
                continue
            if lists:
                texts = self.r.texts(value, code, f"{path}.{code}", "malformed alias lists (aliases dropped)")
                out.setdefault(lang, texts or [])
            elif isinstance(item, list):  # prompts_subj_alias: a list in some records (the authors' TODO)
                texts = self.r.texts(value, code, f"{path}.{code}", reason)
                if texts:
                    out.setdefault(lang, texts)
            else:
                text = self.r.text(value, code, f"{path}.{code}", reason)
                if text is not None:
                    out.setdefault(lang, [text] if key.startswith("prompts_subj_alias") else text)
        return out

    def aliases(self, parent: Any, names: tuple[str, ...], path: str) -> dict[str, list[str]]:
        for name in names:
            if isinstance(parent, dict) and name in parent:
                return self.langs(parent, name, f"{path}.{name}", "malformed alias lists (aliases dropped)",
                                  lists=True)
        return {}


def _probes(kind: str, prompts: dict, answers: dict, aliases: dict, wanted, answer_true: dict | None = None,
            subjects: dict | None = None, skip: str | None = None) -> list[Probe]:
    out = []
    for lang, prompt in prompts.items():
        if lang == skip or (wanted is not None and lang not in wanted) or lang not in answers:
            continue
        for p in prompt if isinstance(prompt, list) else [prompt]:
            out.append(Probe(kind, lang, p, answers[lang], (answer_true or {}).get(lang),
                             (subjects or {}).get(lang), tuple(aliases.get(lang, ()))))
    return out


def unused_fields(variant: str) -> list[str]:
    """Patterns of the fields a variant leaves unread: the other variants' prompts, targets and subjects,
    and what no probe needs (ids, the old answers' and subjects' aliases)."""
    others = [v for v in VARIANTS if v != variant]
    truth = "ground_truths" + ("_mt" if VARIANTS[variant] else "")
    out = [f"*.prompts{part}_{v}" for v in others for part in ("", "_gen", "_loc", "_port")]
    out += [f"*.{field}{VARIANTS[v]}" for v in others
            for field in ("targets", "ground_truths_loc", "ground_truths_port")]
    out += [f"relations.*.{t}" for t in ("ground_truths", "ground_truths_mt", "ground_truths_mt_marked") if t != truth]
    out += [SUBJECTS[v] for v in others if SUBJECTS[v] != "subjects"]
    return out + ["subjects_aliases", "relations.*.ground_truths_aliases", "*.target_id"]


def convert_synset(r: RecordReader, syn_id: str, entry: Any, edit_lang: str, variant: str,
                   wanted: set[str] | None) -> list[EditCase]:
    """One case per relation of a synset entry with a usable edit. A run drops a relation at the first
    problem that spoils its edit; on an exhaustive report (`validate`) the relation's other fields are still
    checked, so every problem of the entry is listed."""
    if not isinstance(entry, dict):
        r.problem(None, f"expected an object, got {type(entry).__name__}", "malformed records")
        return []
    rec, suffix = _Record(r), VARIANTS[variant]
    for pattern in unused_fields(variant):
        r.ignore(pattern)
    subjects = rec.langs(entry, SUBJECTS[variant], SUBJECTS[variant], "malformed subjects")
    alternatives = [rec.langs(entry, "subjects", "subjects", "malformed subjects")]
    relations = entry.get("relations")
    if not isinstance(relations, dict) or not relations:
        r.problem("relations", "expected a non-empty object of relations", "records without relations")
        return []
    go_on = r.report.exhaustive
    cases = []
    for name, rel in relations.items():
        path = f"relations.{name}"
        if not isinstance(rel, dict):
            r.problem(path, f"expected an object, got {type(rel).__name__}", "relations without an edit")
            continue
        edit = rec.r.obj(rel, "edit", f"{path}.edit", "relations without an edit")
        if edit is None and not go_on:
            continue
        ep = f"{path}.edit"
        targets = rec.langs(edit, f"targets{suffix}", f"{ep}.targets{suffix}", "malformed targets")
        prompts = rec.langs(edit, f"prompts_{variant}", f"{ep}.prompts_{variant}", "malformed prompts")
        truth_key = "ground_truths" + ("_mt" if suffix else "")  # no `_mt_marked` ground truths are written
        truths = rec.langs(rel, truth_key, f"{path}.{truth_key}", "malformed ground truths")
        t_aliases = rec.aliases(edit, ("targets_aliases",), ep)
        usable = edit is not None and edit_lang in prompts and edit_lang in targets and edit_lang in subjects
        if edit is not None and not usable:
            r.problem(f"{ep}.prompts_{variant}.{edit_lang}", "no prompt, target or subject in the edit language",
                      f"{edit_lang}: edits without the edit language")
            if not go_on:
                continue
        case = None
        if usable:
            prompt = prompts[edit_lang]
            # the authors' `subject_in_prompt: loose`: another written form of the subject that the prompt has
            forms = [subjects[edit_lang], *(a.get(x) for a in alternatives for x in (edit_lang, "en"))]
            subject = next((s for s in forms if isinstance(s, str) and s in prompt), subjects[edit_lang])
            case = make_case(f"babeledits-{syn_id}-{name}", edit_lang, subject, prompt, targets[edit_lang],
                             truths.get(edit_lang))
            flag_missing_subject(r, case.edit, f"{ep}.prompts_{variant}.{edit_lang}", f"{edit_lang}: ")
            case.probes = [] if wanted is not None and edit_lang not in wanted else \
                [Probe(RELIABILITY, edit_lang, prompt, targets[edit_lang], truths.get(edit_lang), subject,
                       tuple(t_aliases.get(edit_lang, ())))]
        probes = _probes(RELIABILITY, prompts, targets, t_aliases, wanted, truths, subjects, skip=edit_lang)
        if edit is not None:
            probes += _edit_probes(rec, edit, ep, variant, targets, t_aliases, truths, subjects, wanted)
        if case is None:
            continue
        case.probes += probes
        case.meta.update({"benchmark": "babeledits", "synset": syn_id, "relation": name, "subject_key": syn_id,
                          "variant": variant})
        cases.append(case)
    return cases


def _edit_probes(rec: _Record, edit: dict, ep: str, variant: str, targets: dict, t_aliases: dict, truths: dict,
                 subjects: dict, wanted: set[str] | None) -> list[Probe]:
    """Generality, locality and portability probes of one relation's edit, each malformed field recorded."""
    r, suffix = rec.r, VARIANTS[variant]
    gen = r.obj(edit, "generality", f"{ep}.generality", "malformed generality prompts", required=False)
    out = _probes(GENERALITY, rec.langs(gen, f"prompts_gen_{variant}", f"{ep}.generality.prompts_gen_{variant}",
                                        "malformed generality prompts"),
                  targets, t_aliases, wanted, truths, subjects)
    port = r.obj(edit, "portability", f"{ep}.portability", "malformed portability blocks", required=False)
    multi_hop = r.obj(port, "multi_hop", f"{ep}.portability.multi_hop", "malformed portability blocks",
                      required=False)
    locality = r.obj(edit, "locality", f"{ep}.locality", "malformed locality blocks", required=False)
    for kind, block, prompt_key, answer_key, alias_keys in (
            (LOCALITY, locality, "prompts_loc", "ground_truths_loc", ("ground_truths_aliases_loc",)),
            (PORTABILITY, multi_hop, "prompts_port", "ground_truths_port",
             ("ground_truths_aliases_port", "ground_truths_port_aliases"))):
        for sub, item in (block or {}).items():
            sp = f"{ep}.{kind}.{sub}"
            if not isinstance(item, dict):
                r.problem(sp, f"expected an object, got {type(item).__name__}", f"malformed {kind} blocks")
                continue
            qs = rec.langs(item, f"{prompt_key}_{variant}", f"{sp}.{prompt_key}_{variant}", f"malformed {kind} prompts")
            ans = rec.langs(item, answer_key + suffix, f"{sp}.{answer_key}{suffix}", f"malformed {kind} answers")
            for x in (x for x in qs if x not in ans):
                r.problem(f"{sp}.{answer_key}{suffix}.{x}", "no answer for this prompt", f"{x}: {kind} probes dropped")
            out += _probes(kind, qs, ans, rec.aliases(item, alias_keys, sp), wanted)
    out += _probes(PORTABILITY, rec.langs(edit, "prompts_subj_alias", f"{ep}.prompts_subj_alias",
                                          "malformed subject-alias prompts"),
                   targets, t_aliases, wanted, truths)
    return out


def load_babeledits(path: Path, edit_lang: str, langs: list[str] | None, variant: str,
                    report: Report) -> list[EditCase]:
    if variant not in VARIANTS:
        raise PolyeditError(f"babeledits: variant {variant!r}: expected one of {', '.join(VARIANTS)}")
    wanted = {normalize_code(x) for x in langs} if langs else None
    cases = []
    for file in json_files(path, "babeledits"):
        for i, (syn_id, entry) in enumerate(read_records(file, report, keyed_by="synset id")):
            cases += convert_synset(RecordReader(report, file, i), syn_id, entry, edit_lang, variant, wanted)
    return cases


@register_dataset("babeledits", "BabelEdits: babeledits:PATH[:edit_lang=en][:langs=...][:variant=mt_marked|mt|gloss]; "
                                "data from the authors of github.com/umanlp/babeledits",
                  options=("edit_lang", "map", "variant"))
def load(spec: DatasetSpec) -> Dataset:
    def loader(path: Path, edit_lang: str, langs, report: Report) -> list:
        return load_babeledits(path, edit_lang, langs, spec.options.get("variant", "mt_marked"), report)

    return load_path_dataset(spec, "babeledits", loader, PROTOCOLS, where=WHERE)


def check(path: Path) -> Report:
    report = Report(exhaustive=True)
    load_babeledits(path, "en", None, "mt_marked", report)
    return report


register_format("babeledits", "BabelEdits JSON (an object keyed by BabelNet synset id)")(check)
