"""BMIKE-53 (Nie et al., ACL 2025): cross-lingual knowledge editing in 53 languages.

Spec: `bmike53:zsre|counterfact|wikifactdiff[:langs=de,ja,...][:dir=PATH]` (see `hub.py` for where the
files come from).

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
- empty `loc_ans` (WikiFactDiff, 5 target-language blocks per file): the locality probe is dropped and
  counted (the authors' scorer keeps it and scores it 0); every block's `loc_ans`, empty ones too, is kept
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polyedit.data.cases import GENERALITY, LOCALITY, PORTABILITY, RELIABILITY, EditCase, Probe, make_case
from polyedit.data.hub import bmike53_root, find_task_dir
from polyedit.data.languages import normalize_code
from polyedit.data.problems import RecordReader, Report, case_key, read_json_array, register_format
from polyedit.data.registry import Dataset, DatasetSpec, register_dataset
from polyedit.errors import PolyeditError

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

    def __init__(self, task: Task, report: Report) -> None:
        self.task, self.report = task, report
        self.cases: dict[str, EditCase] = {}
        self.dead: set[str] = set()  # case ids whose English edit is unusable (counted once)
        self.position: dict[str, int] = {}  # record index of each case: all files share one order
        self.seen: set[tuple[str, str]] = set()  # (case id, language) already given probes

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

    def case(self, r: RecordReader, cid: str, en: dict, key: str) -> EditCase | None:
        if cid in self.dead:
            return None
        if cid in self.cases:
            return self.cases[cid]
        reason = "cases without a usable English edit"
        subject = r.text(en, "subject", f"{key}.subject", reason)
        src = r.text(en, "src", f"{key}.src", reason)
        alt = r.text(en, "alt", f"{key}.alt", reason)
        if subject is None or src is None or alt is None:
            self.dead.add(cid)
            return None
        found = recover_subject(subject, src)
        if found is None:
            r.problem(f"{key}.src", f"English prompt {src!r} does not contain the subject {subject!r}",
                      "cases whose English src lacks the subject")
            self.dead.add(cid)
            return None
        old = en.get("old") if isinstance(en.get("old"), str) else None
        try:
            case = make_case(f"bmike53-{self.task.name}-{cid}", "en", found, src, alt, old)
        except PolyeditError as e:  # defensive: every field was checked above
            r.problem(key, str(e), reason)
            self.dead.add(cid)
            return None
        case.meta.update({"benchmark": "bmike53", "task": self.task.name, "source_case_id": en.get("case_id")})
        self.cases[cid] = case
        self.position[cid] = r.index
        return case

    def add_record(self, r: RecordReader, rec: Any, lang: str, english_file: bool) -> None:
        if not isinstance(rec, dict):
            r.problem(None, f"expected an object, got {type(rec).__name__}", f"{lang}: malformed records")
            return
        en = r.obj(rec, "en", "en", f"{lang}: records without an English block")
        if en is None:
            return
        cid = case_key(en.get("case_id"))
        if cid is None:
            r.problem("en.case_id", f"expected an int or string id, got {en.get('case_id')!r:.40}",
                      f"{lang}: records without a case_id")
            return
        if english_file:
            block_key, block = "en", en
        else:
            block_key, block = self.block_for(rec, lang)
            if block is None:
                r.problem(lang, "no target-language block (skipped, as the authors' scorer does)",
                          f"{lang}: records without the target-language block")
                return
            if not isinstance(block, dict):
                r.problem(block_key, f"expected an object, got {type(block).__name__}", f"{lang}: malformed records")
                return
            other = case_key(block.get("case_id"))
            if other is not None and other != cid:
                r.problem(f"{block_key}.case_id", f"{other} differs from the English block's {cid}",
                          f"{lang}: records whose blocks disagree on case_id")
                return
        if (cid, lang) in self.seen:
            r.problem("en.case_id", f"case_id {cid} appears twice in this language", f"{lang}: duplicate records")
            return
        case = self.case(r, cid, en, "en")
        if case is None:
            return
        self.seen.add((cid, lang))
        if english_file and case.edit.prompt != en.get("src"):
            # The edit came from a per-language file whose English block differs (WikiFactDiff 1761).
            r.problem("en.src", f"differs from the per-language files' English src {case.edit.prompt!r}; "
                      "the edit keeps the per-language files' version",
                      "en: English blocks that differ from the per-language files'")
        for name in sorted(set(block) - BLOCK_FIELDS):
            r.problem(f"{block_key}.{name}", "unknown field ignored", f"{lang}: unknown fields ignored")
        self.add_probes(r, case, block, block_key, lang, english_file)

    def add_probes(self, r: RecordReader, case: EditCase, block: dict, key: str, lang: str, english: bool) -> None:
        old = r.text(block, "old", f"{key}.old", f"{lang}: empty old answers ignored", required=False)
        alt = r.text(block, "alt", f"{key}.alt", f"{lang}: reliability/generality probes without alt")
        subject = r.text(block, "subject", f"{key}.subject", f"{lang}: blocks without a subject", required=False)
        loc_ans = block.get("loc_ans")
        if isinstance(loc_ans, str):  # kept as published, empty too: the authors' ppl_compare competes with it
            case.meta.setdefault("loc_ans", {})[lang] = loc_ans
        spec = [(GENERALITY, "rephrase", alt, old), (LOCALITY, "loc", None, None), (PORTABILITY, "port", None, None)]
        if not english:  # the English reliability probe is the edit itself (added by make_case)
            spec.insert(0, (RELIABILITY, "src", alt, old))
        for kind, field, answer, answer_true in spec:
            prompt = r.text(block, field, f"{key}.{field}", f"{lang}: {kind} probes without a prompt")
            if kind in (LOCALITY, PORTABILITY):
                answer = r.text(block, f"{field}_ans", f"{key}.{field}_ans",
                                f"{lang}: {kind} probes with an empty or missing {field}_ans")
            if prompt is None or answer is None:
                continue
            # A locality question is about another entity: the edited subject is not its subject.
            case.probes.append(Probe(kind, lang, prompt, answer, answer_true, None if kind == LOCALITY else subject))


def load_bmike53(root: Path, task_name: str, langs: list[str] | None, report: Report) -> tuple[list[EditCase], Path]:
    """Cases of one task in the requested languages (all 52 target languages and English by default).

    Only the requested languages' files are parsed, so `langs=de,ja` reads three files, not 54.
    """
    task = task_of(task_name)
    folder = find_task_dir(root, task.folders)
    files = task_files(folder, task)
    for name in files.ignored:
        report.add(folder / name, None, None, "file name names no known language; ignored", "files ignored")
    wanted = [normalize_code(x) for x in langs] if langs else [*sorted(files.targets), "en"]
    missing = [x for x in wanted if x != "en" and x not in files.targets]
    if "en" in wanted and files.english is None:
        missing.append("en")
    if missing:
        raise PolyeditError(f"bmike53:{task.name}: no test file for {', '.join(missing)} in {folder} "
                            f"(available: {', '.join(sorted(files.targets))}{', en' if files.english else ''})")
    builder = _Builder(task, report)
    # Target-language files first: their English blocks are the ones the authors' scorer edits with, and
    # `<prefix>_test.json` may hold a worse one (WikiFactDiff 1761).
    order = [x for x in dict.fromkeys(wanted) if x != "en"] + (["en"] if "en" in wanted else [])
    for lang in order:
        path = files.english if lang == "en" else files.targets[lang]
        for i, rec in enumerate(read_json_array(path)):
            builder.add_record(RecordReader(report, path, i), rec, lang, english_file=lang == "en")
    order = sorted(builder.cases, key=builder.position.__getitem__)
    cases = [builder.cases[cid] for cid in order if len(builder.cases[cid].probes) > 1 or "en" in wanted]
    return cases, folder


@register_dataset("bmike53", "BMIKE-53: bmike53:zsre|counterfact|wikifactdiff[:langs=de,ja][:dir=PATH]; "
                             "English edit, probes in 52 languages")
def load(spec: DatasetSpec) -> Dataset:
    task = task_of(spec.arg)
    root, how = bmike53_root(spec.options.get("dir"))
    report = Report()
    cases, folder = load_bmike53(root, task.name, spec.langs(), report)
    return Dataset(f"bmike53:{task.name}", cases, report.skipped, f"{folder} ({how})", list(task.protocols))


def check_file(path: Path, report: Report | None = None) -> Report:
    """Validate one BMIKE-53 test file, or every test file of a task folder or of a BMIKE-53 root."""
    report = report or Report()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*_test*.json"))
        if not files:
            raise PolyeditError(f"{path}: no BMIKE-53 test files (*_test*.json) found")
        for p in files:
            check_file(p, report)
        return report
    stem = path.name[:-len(".json")] if path.name.endswith(".json") else path.name
    prefix, _, code = stem.partition("_test")
    code = code.lstrip("_")
    task = next((t for t in TASKS.values() if prefix in t.prefixes), TASKS["zsre"])
    if not code:
        lang = "en"
    elif code.lower() == "en":
        lang = "de"  # the German pairs
    else:
        try:
            lang = normalize_code(code)
        except PolyeditError:
            report.add(path, None, None, f"file name names no known language ({code!r})", "files ignored")
            return report
    builder = _Builder(task, report)
    for i, rec in enumerate(read_json_array(path)):
        builder.add_record(RecordReader(report, path, i), rec, lang, english_file=lang == "en")
    return report


register_format("bmike53", "BMIKE-53 test file(s): <prefix>_test[_<lang>].json, or a folder of them")(check_file)
