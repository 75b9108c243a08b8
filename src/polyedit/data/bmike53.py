"""BMIKE-53 (Nie et al., ACL 2025): cross-lingual knowledge editing in 53 languages.

Spec: `bmike53:zsre|counterfact|wikifactdiff[:langs=de,ja,...][:edit_lang=en][:dir=PATH]` (see `hub.py`
for where the files come from). `edit_lang` other than English (polyedit's extension: every record's
blocks share a `case_id` across the 53 files) states the edit in that language's block and probes every
loaded language, English included; a case whose edit-language block is missing (zsRE he: 39) is not
built, and its other languages' records are counted.

Format (ercong21/MultiKnow, `data/BMIKE53/<Task>/`): `<prefix>_test_<lang>.json` is a JSON array whose
records hold an `en` block and a `<lang>` block, each with `case_id, subject, src, rephrase, old (not in
zsRE), alt, loc, loc_ans, port, port_ans` (all strings, `case_id` an int). `<prefix>_test.json` holds the
English blocks alone. Prefixes: `zsre`, `counterfact`, `wfd` (the authors' README also names
`wikifactdiff`, accepted too).

BMIKE's setting: the edit is stated in English (`en.src` -> `en.alt`, target_true `en.old`), and every
probe is asked in the target language: reliability `src -> alt`, generality `rephrase -> alt` (both with
answer_true `old` where present), locality `loc -> loc_ans`, portability `port -> port_ans`. One polyedit
case holds the English edit and the probes of every loaded language; English probes come from
`<prefix>_test.json` and are loaded only when English is asked for (or no `langs` are given).

Published defects and what this loader does (counts appear in `Dataset.skipped`):
- a record without the target-language block: that language of the case is skipped and counted, as the
  authors' scorer skips it (zsRE he: 39 of 743);
- empty `loc_ans` (WikiFactDiff, 5 blocks per file, English too): the locality probe is kept without a
  gold answer (`Probe.answer == ""`), as the authors' scorer keeps it: the protocols that declare how score
  it (`bmike_em`/`bmike_f1`: 0 unless the answer is empty too), the others omit it, and the run's notes and
  summary (`empty_gold`) count it; every block's `loc_ans`, empty ones too, is kept
  in `case.meta["loc_ans"][lang]`, since the authors' `ppl_compare` compares each reliability and
  generality answer against it (an empty one against the whole sequence);
- `<prefix>_test_en.json` holds the German pairs (`en` + `de`): it is never read as English; English is
  `<prefix>_test.json`, German is `<prefix>_test_de.json`, and the `_en` file stands in for German only
  when the `_de` file is absent;
- `zh-cn` (the authors' train files) and any other alias, in file names and block keys, are normalised by
  the language table;
- `.pk` pickles beside the data: only `*.json` files are ever opened;
- an English `src` that does not contain `subject` verbatim: the subject is looked for once more ignoring
  whitespace and case (WikiFactDiff case 544 writes `Cho( La` in `subject` and `Cho (La` in `src`), and the
  span found in `src` becomes the edit's subject; a case whose `src` still lacks it is skipped and counted
  (WikiFactDiff case 1761 in `wfd_test.json`, whose `src` lost its subject; the per-language files have a
  good one and are preferred for the edit);
- a block with a field under a wrong name (WikiFactDiff af writes `oud` for `old`): the unknown field is
  ignored and counted, the probes simply have no `answer_true`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polyedit.data.cases import GENERALITY, LOCALITY, PORTABILITY, RELIABILITY, EditCase, Probe, make_case
from polyedit.data.hub import bmike53_root, describe_bmike53_source, find_task_dir
from polyedit.data.languages import get_language, normalize_code
from polyedit.data.mapping import parse_mapping
from polyedit.data.problems import (RecordReader, Report, case_key, flag_missing_subject, read_json_array,
                                    read_records, register_format)
from polyedit.data.registry import Dataset, DatasetSpec, register_dataset
from polyedit.errors import PolyeditError, shorten

#: BMIKE-53's source language: every other block translates it. An English src without its subject is a
#: defect of the file (skipped); a translated one is a translation choice (kept and flagged)
SOURCE_LANGUAGE = "en"
BLOCK_FIELDS = frozenset({"case_id", "subject", "src", "rephrase", "old", "alt", "loc", "loc_ans", "port", "port_ans"})


@dataclass(frozen=True)
class Task:
    name: str
    folders: tuple[str, ...]
    prefixes: tuple[str, ...]
    protocols: tuple[str, ...]


# The authors' scorer (icl.py): the generated answer's F1 and exact match in every task, and for
# CounterFact and WikiFactDiff also whether the new answer is more likely than loc_ans (protocols_bmike).
_GENERATED = ("bmike_f1", "bmike_em", "token_f1", "language_fidelity")
TASKS = {
    "zsre": Task("zsre", ("zsRE", "zsre"), ("zsre",), _GENERATED),
    "counterfact": Task("counterfact", ("CounterFact", "counterfact"), ("counterfact", "mcounterfact"),
                        (*_GENERATED, "ppl_compare")),
    "wikifactdiff": Task("wikifactdiff", ("WikiFactDiff", "wikifactdiff"), ("wfd", "wikifactdiff"),
                         (*_GENERATED, "ppl_compare")),
}
TASK_ALIASES = {"cf": "counterfact", "mcounterfact": "counterfact", "wfd": "wikifactdiff"}


def task_of(name: str | None) -> Task:
    key = (name or "").strip().lower()
    key = TASK_ALIASES.get(key, key)
    if key not in TASKS:
        raise PolyeditError(f"bmike53: unknown task {name!r} (known: {', '.join(TASKS)}); e.g. bmike53:zsre")
    return TASKS[key]


@dataclass
class TaskFiles:
    english: Path | None  # <prefix>_test.json
    targets: dict[str, Path]  # normalised language -> <prefix>_test_<lang>.json
    ignored: list[str]  # file names that look like test files but name no known language


def task_files(folder: Path, task: Task) -> TaskFiles:
    """The test files of one task folder. Only `*.json` is listed, so pickles are never candidates."""
    english, targets, german_pairs, ignored = None, {}, None, []
    for path in sorted(folder.glob("*.json")):
        for prefix in task.prefixes:
            if path.name == f"{prefix}_test.json":
                english = english or path
            elif path.name.startswith(f"{prefix}_test_"):
                code = path.name[len(prefix) + len("_test_"):-len(".json")]
                if code.lower() == "en":  # the published `_en` files hold the German pairs
                    german_pairs = path
                    continue
                try:
                    lang = normalize_code(code)
                except PolyeditError:
                    ignored.append(path.name)
                    continue
                targets.setdefault(lang, path)
            else:
                continue
            break
    if "de" not in targets and german_pairs is not None:
        targets["de"] = german_pairs
    return TaskFiles(english, targets, ignored)


def recover_subject(subject: str, prompt: str) -> str | None:
    """`subject` as it is written inside `prompt`: verbatim, case-insensitively, or ignoring whitespace
    (the span of `prompt` is returned); None when the prompt does not mention it."""
    if subject in prompt:
        return subject
    chars = [re.escape(c) for c in subject if not c.isspace()]
    if not chars:
        return None
    m = re.search(r"\s*".join(chars), prompt, flags=re.IGNORECASE)
    return m.group(0) if m else None


class _Builder:
    """Accumulates cases across the files of a task, keyed by `case_id`."""

    def __init__(self, task: Task, report: Report, edit_lang: str = "en") -> None:
        self.task, self.report, self.edit_lang = task, report, edit_lang
        self.cases: dict[str, EditCase] = {}
        self.dead: set[str] = set()  # case ids whose English edit is unusable (counted once)
        self.position: dict[str, int] = {}  # record index of each case: all files share one order
        self.seen: set[tuple[str, str]] = set()  # (case id, language) already given probes
        self.empty_loc_ans: Counter = Counter()  # language -> locality probes kept without a gold answer

    def block_for(self, rec: dict, lang: str) -> tuple[str | None, Any]:
        """(key, block) of the block of `lang` in a record, matching keys through the language table."""
        if lang in rec:
            return lang, rec[lang]
        for key in rec:
            try:
                if isinstance(key, str) and normalize_code(key) == lang:
                    return key, rec[key]
            except PolyeditError:
                continue
        return None, None

    def edit_fields(self, r: RecordReader, block: dict, key: str) -> tuple[str | None, str | None, str | None]:
        """(subject, src, alt) of the edit-language block, each problem recorded."""
        reason = f"cases without a usable {get_language(self.edit_lang).name} edit"
        return tuple(r.text(block, f, f"{key}.{f}", reason) for f in ("subject", "src", "alt"))

    def case(self, r: RecordReader, cid: str, en: dict, key: str, english: dict | None = None) -> EditCase | None:
        """The case of `cid`, created from the edit-language block `en` (the English block by default)."""
        if cid in self.dead:
            return None
        if cid in self.cases:
            return self.cases[cid]
        reason = f"cases without a usable {get_language(self.edit_lang).name} edit"
        subject, src, alt = self.edit_fields(r, en, key)
        if subject is None or src is None or alt is None:
            self.dead.add(cid)
            return None
        found = recover_subject(subject, src)
        if found is None and self.edit_lang != SOURCE_LANGUAGE:
            found = subject  # a translation that words the subject differently: kept, flagged below
        if found is None:
            r.problem(f"{key}.src", f"English prompt {shorten(src)} does not contain the subject {shorten(subject)}",
                      "cases whose English src lacks the subject")
            self.dead.add(cid)
            return None
        r.mark(f"{key}.old")
        old = en.get("old") if isinstance(en.get("old"), str) else None
        try:
            case = make_case(f"bmike53-{self.task.name}-{cid}", self.edit_lang, found, src, alt, old)
        except PolyeditError as e:  # defensive: every field was checked above
            r.problem(key, str(e), reason)
            self.dead.add(cid)
            return None
        flag_missing_subject(r, case.edit, f"{key}.src", f"{self.edit_lang}: ")
        english_subject = (english or en).get("subject")
        case.meta.update({"benchmark": "bmike53", "task": self.task.name, "source_case_id": en.get("case_id"),
                          "subject_key": english_subject if isinstance(english_subject, str) else subject})
        self.cases[cid] = case
        self.position[cid] = r.index
        return case

    def add_record(self, r: RecordReader, rec: Any, lang: str, english_file: bool) -> None:
        """Add the record's probes to its case. A problem that spoils the record (no English block, no
        case_id, no target-language block, a duplicate) ends it; on an exhaustive report (`validate`) the
        record's other fields are still checked, so every problem of it is listed."""
        if not isinstance(rec, dict):
            r.problem(None, f"expected an object, got {type(rec).__name__}", f"{lang}: malformed records")
            return
        go_on = self.report.exhaustive
        en = r.obj(rec, "en", "en", f"{lang}: records without an English block")
        r.mark("en.case_id")
        if not english_file:  # a per-language file's English block names the case; English probes come from
            r.ignore("en")  # the English file (its edit fields are marked read where the edit is built)
        cid = None
        if en is not None:
            cid = case_key(en.get("case_id"))
            if cid is None:
                r.problem("en.case_id", f"expected an int or string id, got {shorten(en.get('case_id'), 40)}",
                          f"{lang}: records without a case_id")
        usable = cid is not None
        if not usable and not go_on:
            return
        if english_file:
            block_key, block = "en", en
        else:
            block_key, block = self.block_for(rec, lang)
            if block is None:
                r.problem(lang, "no target-language block (skipped, as the authors' scorer does)",
                          f"{lang}: records without the target-language block")
                usable = False
            elif not isinstance(block, dict):
                r.problem(block_key, f"expected an object, got {type(block).__name__}", f"{lang}: malformed records")
                block, usable = None, False
            elif usable:
                r.mark(f"{block_key}.case_id")
                other = case_key(block.get("case_id"))
                if other is not None and other != cid:
                    r.problem(f"{block_key}.case_id", f"{shorten(other, 40)} differs from the English block's "
                              f"{shorten(cid, 40)}", f"{lang}: records whose blocks disagree on case_id")
                    usable = False
        if usable and (cid, lang) in self.seen:
            r.problem("en.case_id", f"case_id {shorten(cid, 40)} appears twice in this language",
                      f"{lang}: duplicate records")
            usable = False
        if not usable:
            if go_on:  # the record is spoilt: list the problems of its other fields all the same
                self.check_only(r, en, block, block_key, lang)
            return
        if self.edit_lang == SOURCE_LANGUAGE:
            case = self.case(r, cid, en, "en")
        elif lang == self.edit_lang:  # the edit language's file comes first (load_bmike53)
            case = self.case(r, cid, block, block_key, en)
        else:
            case = self.cases.get(cid)
            if case is None and cid not in self.dead:
                r.problem(lang, f"case {shorten(cid, 40)} has no {self.edit_lang} edit", f"{lang}: records of cases "
                          f"without the edit language ({self.edit_lang})")
        if case is None:
            if go_on:
                self.check_only(r, None, block, block_key, lang)
            return
        self.seen.add((cid, lang))
        if english_file and self.edit_lang == SOURCE_LANGUAGE and case.edit.prompt != en.get("src"):
            # The edit came from a per-language file whose English block differs (WikiFactDiff 1761).
            r.problem("en.src", f"differs from the per-language files' English src {shorten(case.edit.prompt)}; "
                      "the edit keeps the per-language files' version",
                      "en: English blocks that differ from the per-language files'")
        self.unknown_fields(r, block, block_key, lang)
        loc_ans = block.get("loc_ans")
        if isinstance(loc_ans, str):  # kept as published, empty too: the authors' ppl_compare competes with it
            case.meta.setdefault("loc_ans", {})[lang] = loc_ans
        case.probes.extend(self.probes(r, block, block_key, lang, lang == self.edit_lang))

    def check_only(self, r: RecordReader, en: dict | None, block: dict | None, key: str | None, lang: str) -> None:
        """Record the problems of a spoilt record's fields (its English edit, its probes), building nothing."""
        if isinstance(en, dict) and self.edit_lang == SOURCE_LANGUAGE:
            self.edit_fields(r, en, "en")
        if isinstance(block, dict):
            if block is not en and lang == self.edit_lang:
                self.edit_fields(r, block, key)
            self.unknown_fields(r, block, key, lang)
            self.probes(r, block, key, lang, lang == self.edit_lang)

    def unknown_fields(self, r: RecordReader, block: dict, key: str, lang: str) -> None:
        for name in sorted(set(block) - BLOCK_FIELDS, key=str):
            r.problem(f"{key}.{name}", "unknown field ignored", f"{lang}: unknown fields ignored")

    def probes(self, r: RecordReader, block: dict, key: str, lang: str, own: bool) -> list[Probe]:
        """The block's probes (`own`: the edit language's, whose reliability probe is the edit itself)."""
        old = r.text(block, "old", f"{key}.old", f"{lang}: empty old answers ignored", required=False)
        alt = r.text(block, "alt", f"{key}.alt", f"{lang}: reliability/generality probes without alt")
        subject = r.text(block, "subject", f"{key}.subject", f"{lang}: blocks without a subject", required=False)
        spec = [(GENERALITY, "rephrase", alt, old), (LOCALITY, "loc", None, None), (PORTABILITY, "port", None, None)]
        if not own:  # the edit language's reliability probe is the edit itself (added by make_case)
            spec.insert(0, (RELIABILITY, "src", alt, old))
        out = []
        for kind, field, answer, answer_true in spec:
            prompt = r.text(block, field, f"{key}.{field}", f"{lang}: {kind} probes without a prompt")
            if kind == LOCALITY and block.get("loc_ans") == "":
                answer = self.empty_locality_answer(r, key, lang)
            elif kind in (LOCALITY, PORTABILITY):
                answer = r.text(block, f"{field}_ans", f"{key}.{field}_ans",
                                f"{lang}: {kind} probes with an empty or missing {field}_ans")
            if prompt is None or answer is None:
                continue
            # A locality question is about another entity: the edited subject is not its subject.
            out.append(Probe(kind, lang, prompt, answer, answer_true, None if kind == LOCALITY else subject))
        return out


    def empty_locality_answer(self, r: RecordReader, key: str, lang: str) -> str:
        """An empty published `loc_ans`: the probe is kept without a gold answer, as the authors' scorer
        keeps it (their EM and F1 score it 0 unless the answer is empty too); counted and warned about."""
        r.mark(f"{key}.loc_ans")
        self.empty_loc_ans[lang] += 1
        self.report.warn(r.file, r.index, f"{key}.loc_ans", "empty: the locality probe is kept without a gold answer")
        return ""


def empty_loc_ans_note(counts: Counter) -> str | None:
    """What a run must say about the locality probes kept without a gold answer."""
    if not counts:
        return None
    where = ", ".join(f"{lang} {n}" for lang, n in sorted(counts.items()))
    return (f"{sum(counts.values())} locality probes have an empty loc_ans as published ({where}): kept without a "
            "gold answer; protocols that declare how score them (BMIKE's EM and F1 as the authors' icl.py: 0 unless "
            "the answer is empty too; answer_unchanged needs no gold), the others omit them (summary: empty_gold)")


def load_bmike53(root: Path, task_name: str, langs: list[str] | None, report: Report,
                 edit_lang: str = SOURCE_LANGUAGE) -> tuple[list[EditCase], Path, str | None]:
    """Cases of one task in the requested languages (all 52 target languages and English by default),
    edited in `edit_lang` (English, BMIKE's setting, by default; any language with a test file).

    Only the requested languages' files (and the edit language's) are parsed, so `langs=de,ja` reads
    three files, not 54. The third value is the note about locality probes kept without a gold answer.
    """
    task = task_of(task_name)
    folder = find_task_dir(root, task.folders)
    files = task_files(folder, task)
    for name in files.ignored:
        report.add(folder / name, None, None, "file name names no known language; ignored", "files ignored")
    wanted = [normalize_code(x) for x in langs] if langs else [*sorted(files.targets), "en"]
    missing = [x for x in dict.fromkeys([*wanted, edit_lang]) if x != "en" and x not in files.targets]
    if "en" in wanted and files.english is None:
        missing.append("en")
    if missing:
        raise PolyeditError(f"bmike53:{task.name}: no test file for {', '.join(missing)} in {folder} "
                            f"(available: {', '.join(sorted(files.targets))}{', en' if files.english else ''})")
    builder = _Builder(task, report, edit_lang)
    # Target-language files first: their English blocks are the ones the authors' scorer edits with, and
    # `<prefix>_test.json` may hold a worse one (WikiFactDiff 1761). Another edit language: its file first,
    # as it creates the cases.
    first = [] if edit_lang == "en" else [edit_lang]
    rest = [x for x in dict.fromkeys(wanted) if x not in ("en", edit_lang)]
    order = first + rest + (["en"] if "en" in wanted else [])
    for lang in order:
        path = files.english if lang == "en" else files.targets[lang]
        for i, rec in enumerate(read_records(path, report)):
            builder.add_record(RecordReader(report, path, i), rec, lang, english_file=lang == "en")
    order = sorted(builder.cases, key=builder.position.__getitem__)
    cases = [builder.cases[cid] for cid in order if len(builder.cases[cid].probes) > 1 or edit_lang in wanted]
    return cases, folder, empty_loc_ans_note(builder.empty_loc_ans)


@register_dataset("bmike53", "BMIKE-53: bmike53:zsre|counterfact|wikifactdiff[:langs=de,ja][:edit_lang=en][:dir=PATH]; "
                             "edit in English (or any of the 53), probes in 53 languages",
                  options=("dir", "edit_lang", "map"))
def load(spec: DatasetSpec) -> Dataset:
    task = task_of(spec.arg)
    root, how = bmike53_root(spec.options.get("dir"))
    report = Report(mapping=parse_mapping(spec.options.get("map")))
    cases, folder, note = load_bmike53(root, task.name, spec.langs(), report,
                                       normalize_code(spec.options.get("edit_lang", SOURCE_LANGUAGE)))
    if not cases:
        why = "; ".join(f"{n} {reason}" for reason, n in report.skipped.most_common(3)) or "the files hold no records"
        first = f"; first: {report.problems[0]}" if report.problems else ""
        raise PolyeditError(f"bmike53:{task.name}: no usable record in {folder} ({why}){first}")
    for c in cases:  # in-context editing's demonstrations: the task's published pool, and its own edits
        c.meta.update(demo_pool=task.name, demo_dir=str(root), demo_corpus=f"bmike53:{task.name}:langs={{lang}}:dir={root}")
    return report.dataset(f"bmike53:{task.name}", cases, f"{folder} ({how})", task.protocols,
                          answer_scorer="bmike_f1",  # the authors' F1 scores the generated answer
                          notes=[note] if note else [])


load.describe_source = describe_bmike53_source  # for `polyedit data list`


def check_file(path: Path, report: Report | None = None) -> Report:
    """Validate one BMIKE-53 test file, or every test file of a task folder or of a BMIKE-53 root (an
    unreadable file is its own problem; the others are still checked). Every problem of every record is
    listed. A file's language is the one its records' blocks hold besides `en` (the file name only breaks
    a tie or names the language of records that hold none); a name that says otherwise is a problem."""
    report = report or Report(exhaustive=True)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*_test*.json"))
        if not files:
            raise PolyeditError(f"{path}: no BMIKE-53 test files (*_test*.json) found")
        for p in files:
            try:
                check_file(p, report)
            except PolyeditError as e:
                report.unreadable(p, e)
        return report
    stem = path.name[:-len(".json")] if path.name.endswith(".json") else path.name
    prefix, _, code = stem.partition("_test")
    task = next((t for t in TASKS.values() if prefix in t.prefixes), None) or _folder_task(path)
    records = read_json_array(path)
    report.records[str(path)] = records  # every field accounted for, as when a run reads it
    lang = file_language(path, code.lstrip("_"), records, report)
    builder = _Builder(task, report)
    for i, rec in enumerate(records):
        builder.add_record(RecordReader(report, path, i), rec, lang, english_file=lang == "en")
    return report


def _folder_task(path: Path) -> Task:
    """The task a file's folder names (`zsRE/`, `CounterFact/`, ...); zsRE when it names none."""
    for folder in (path.parent.name, path.parent.parent.name):
        found = next((t for t in TASKS.values() if folder in t.folders), None)
        if found is not None:
            return found
    return TASKS["zsre"]


def file_language(path: Path, code: str, records: list, report: Report) -> str:
    """The target language of a test file, from its records: the language whose blocks they hold besides
    `en` (the most common, if several; the file name's where it is among them). Records holding only `en`
    blocks: the name's language (`<prefix>_test.json` and unknown names: English). The published `_en`
    files hold German pairs and are read as German."""
    if not code:
        named = "en"
    elif code.lower() == "en":
        named = "de"
    else:
        try:
            named = normalize_code(code)
        except PolyeditError:
            named = None
    held: dict[str, int] = {}
    for rec in records:
        for key in rec if isinstance(rec, dict) else ():
            try:
                lang = normalize_code(key) if isinstance(key, str) else None
            except PolyeditError:
                continue
            if lang is not None and lang != "en":
                held[lang] = held.get(lang, 0) + 1
    if not held:
        return named or "en"
    lang = named if named in held else max(sorted(held), key=held.__getitem__)
    if len(held) > 1:
        counts = ", ".join(f"{x} ({n})" for x, n in sorted(held.items(), key=lambda kv: -kv[1]))
        report.add(path, None, None, f"records hold blocks of several target languages: {counts}; read as {lang}",
                   "files mixing target languages")
    elif named is not None and named != lang:
        report.add(path, None, None, f"the file name says {named} but its records hold {lang} blocks; read as {lang}",
                   "files whose name and records disagree on the language")
    return lang


register_format("bmike53", "BMIKE-53 test file(s): <prefix>_test[_<lang>].json, or a folder of them")(check_file)
