"""Shared machinery of the benchmark loaders: reading JSON safely, naming each problem by file, record
index and field, and the registry of file formats that `polyedit data validate` checks.

Every loader reads its records through one `Report`. A record-level problem (a wrong type, a missing
field, an unknown language code, a published defect such as a missing target-language block) is
recorded as a `Problem` and counted under a short reason; the loader then drops only what the problem
spoils (a probe, a language of a case, or the record) and goes on. `validate` runs the same conversion
on an exhaustive report (`Report(exhaustive=True)`): every problem a run would skip, and also the
problems of fields in records a run drops for another reason (a record without a usable edit still has
its probes checked), and an unreadable file of a folder is one problem rather than the end of the check.

Every field is accounted for: a `RecordReader` notes each field it looks at (the readers of one record share
the note), and at the end every record read through `read_records` is walked (`Report.account_all`): each
field is counted as read, null, ignored (a loader marks what it leaves out on purpose: a language `langs=`
did not ask for, another variant's prompts) or not understood; the last two kinds of surprise, and nulls,
become warnings naming file, record and field (`polyedit data stats` and `validate` show them).

Pickles are never opened anywhere in polyedit: loaders read only the `.json` files they name.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from fnmatch import fnmatchcase
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from polyedit.data import jsonio
from polyedit.data.dataset import Dataset
from polyedit.data.languages import normalize_code
from polyedit.data.mapping import apply_mapping, parse_mapping
from polyedit.errors import PolyeditError, shorten
from polyedit.registry import Registry, import_submodules


@dataclass(frozen=True)
class Problem:
    """One defect of an input file. `index` is the record's position in the file's top-level array
    (None: the file itself); `field` a dotted path inside the record (None: the whole record)."""

    file: str
    index: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.index is not None:
            where += f" record {self.index}"
        if self.field:  # a field name is the file's own text: shown escaped and cut, so an error stays one line
            field = self.field if self.field.isprintable() and len(self.field) <= 120 else shorten(self.field, 120)
            where += f" field {field}"
        message = self.message  # a value echoed in full would make a 100 KB line: keep its head and tail
        if len(message) > 240:
            message = f"{message[:150]} ...({len(message) - 230} chars)... {message[-80:]}"
        return f"{where}: {message}"


#: what becomes of a field a loader meets: used to build a probe or an edit, not understood (ignored, and
#: named in a warning), null (read as absent), or known and deliberately unused (EasyEdit's derived `cond`)
FIELD_FATES = ("read", "not understood", "null", "ignored")


@dataclass
class Report:
    """Problems found while converting files, and the count of dropped items per reason.

    `exhaustive` (what `validate` uses): converters go on checking a record's other fields after one
    spoils it, and an unreadable file of a folder is recorded instead of raised (`read_records`). A
    problem already recorded (the same file, record, field and message) is not recorded or counted again,
    so a field read on two paths is one problem."""

    problems: list[Problem] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    exhaustive: bool = False
    #: fate -> field path -> records (see FIELD_FATES); filled by `RecordReader.account`
    fields: dict[str, Counter] = field(default_factory=lambda: {fate: Counter() for fate in FIELD_FATES})
    #: where each case's language came from ("zh (detected)", "en (option lang=)", "de (field lang)")
    languages: Counter = field(default_factory=Counter)
    warnings: list[Problem] = field(default_factory=list)
    #: `map=` renames applied to every record read through `read_records` (old name -> new name)
    mapping: dict[str, str] = field(default_factory=dict)
    #: file -> each record's id (its `case_id`/`id`, else its position), for joining files (`parallel.py`)
    record_keys: dict[str, list[str]] = field(default_factory=dict)
    #: (file, record index) -> the field paths some reader looked at; file -> its records as read, and the
    #: files already accounted for (`account_all`)
    reads: dict = field(default_factory=dict, repr=False)
    records: dict = field(default_factory=dict, repr=False)
    accounted: set = field(default_factory=set, repr=False)
    #: (fate, file, field) -> [records, first record index], for the per-file warnings
    _where: dict = field(default_factory=dict, repr=False)
    _seen: set = field(default_factory=set, repr=False)

    def add(self, file: Path | str, index: int | None, field_: str | None, message: str, reason: str) -> None:
        problem = Problem(str(file), index, field_, message)
        if problem in self._seen:
            return
        self._seen.add(problem)
        self.problems.append(problem)
        self.skipped[reason] += 1

    def warn(self, file: Path | str, index: int | None, field_: str | None, message: str) -> None:
        problem = Problem(str(file), index, field_, message)
        if problem not in self.warnings:
            self.warnings.append(problem)

    def met(self, fate: str, file: Path | str, index: int, path: str) -> None:
        """Count one record's field under its fate, remembering the file and first record for the warnings."""
        self.fields[fate][path] += 1
        slot = self._where.setdefault((fate, str(file), path), [0, index])
        slot[0] += 1

    def account_all(self) -> None:
        """Every field of every record read through `read_records` and not yet accounted for, by its fate."""
        for file, records in self.records.items():
            if file not in self.accounted:
                for i, rec in enumerate(records):
                    RecordReader(self, file, i).account(rec)
                self.accounted.add(file)

    def field_warnings(self) -> None:
        """One warning per file and field not understood or null: the count and the first record."""
        for (fate, file, path), (n, first) in sorted(self._where.items(), key=lambda kv: (kv[0][1], kv[0][2])):
            if fate == "not understood":
                self.warn(file, first, path, f"field not understood, ignored in {n} record(s) (first here)")
            elif fate == "null":
                self.warn(file, first, path, f"null in {n} record(s) (first here), read as absent")

    def dataset(self, name: str, cases: list, source: str, protocols=None, **kw: Any) -> Dataset:
        """The loaded cases with everything this report counted: skips, fields, languages, warnings."""
        self.account_all()
        self.field_warnings()
        return Dataset(name, cases, self.skipped, source, list(protocols) if protocols is not None else None,
                       fields={k: v for k, v in self.fields.items() if v}, languages=self.languages,
                       warnings=[str(w) for w in self.warnings], **kw)

    def unreadable(self, path: Path, error: PolyeditError) -> None:
        """A file that cannot be read as a whole, as its one problem (`path:line` kept where the error has it)."""
        text = str(error)
        loc, message = "", text
        if text.startswith(str(path)):
            loc, _, message = text[len(str(path)):].partition(": ")
        self.add(f"{path}{loc}", None, None, message, "unreadable files")


def read_json(path: Path) -> Any:
    """The parsed content of a JSON file; a PolyeditError (never a traceback) when it is not one. Lone
    surrogates are left in, for `RecordReader.text` to report against their record and field."""
    return jsonio.read_json(path, strings=False)


def read_json_array(path: Path) -> list[Any]:
    data = read_json(path)
    if not isinstance(data, list):
        raise PolyeditError(f"{path}: expected a JSON array of records, got {_kind(data)}")
    return data


def read_json_object(path: Path, keyed_by: str) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise PolyeditError(f"{path}: expected a JSON object keyed by {keyed_by}, got {_kind(data)}")
    return data


def read_records(path: Path, report: Report, keyed_by: str | None = None, none_if_unreadable: bool = False):
    """The records of a file: the items of a JSON array, or with `keyed_by` the (key, value) pairs of a JSON
    object keyed by it (BabelEdits: synset ids). On an exhaustive report an unreadable file is recorded and
    reads as no records (None with `none_if_unreadable`, for a loader that treats it as absent), so the check
    goes on to the folder's other files; a run still stops with its one line."""
    def read() -> list[Any]:
        if keyed_by is None:
            records = apply_mapping(read_json_array(path), report.mapping)
        else:
            records = [(k, apply_mapping(v, report.mapping)) for k, v in read_json_object(path, keyed_by).items()]
        report.records[str(path)] = records  # for `Report.account_all`
        return records

    if not report.exhaustive:
        return read()
    try:
        return read()
    except PolyeditError as e:
        report.unreadable(path, e)
        return None if none_if_unreadable else []


_INDEX = re.compile(r"\[\d+\]")


def record_line(path: Path, index: int) -> int | None:
    """The line on which record `index` of a JSON array file starts (for messages naming two records; the
    file was read whole before, so this second pass happens only on that error path)."""
    text = jsonio.read_text(path)
    decoder, at = json.JSONDecoder(), text.find("[") + 1
    for i in range(index + 1):
        while at < len(text) and text[at] in " \t\r\n,":
            at += 1
        if at >= len(text) or text[at] == "]":
            return None
        if i == index:
            return text.count("\n", 0, at) + 1
        try:
            _, at = decoder.raw_decode(text, at)
        except ValueError:
            return None
    return None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


class RecordReader:
    """Typed access to one record's fields; each failure becomes a Problem on the shared report.

    Returns None for a missing or ill-typed field, so callers decide what that spoils.
    """

    def __init__(self, report: Report, file: Path | str, index: int) -> None:
        self.report, self.file, self.index = report, file, index
        # field paths looked at, list positions written `[]`; shared by every reader of the same record
        self.read: set[str] = report.reads.setdefault((str(file), index), set())

    def problem(self, field_: str | None, message: str, reason: str) -> None:
        self.report.add(self.file, self.index, field_, message, reason)

    def mark(self, path: str) -> None:
        """Note a field as read (the typed accessors below do it themselves)."""
        self.read.add(_INDEX.sub("[]", path))

    def ignore(self, path: str) -> None:
        """Note a known field (and all inside it) as deliberately unused: a language `langs=` left out, a
        block already read from another file, a variant not chosen (`*` in `path` matches any text)."""
        self.read.add("!" + _INDEX.sub("[]", path))

    def account(self, rec: Any, ignored: tuple[str, ...] = ()) -> None:
        """Count every field of `rec` under its fate on the report: read (looked at through a reader of this
        record), null, ignored (named in `ignored`) or not understood. Nested objects and lists of objects are
        walked where a field inside them was read, so an unknown key of a probe item is found too."""
        self.report.accounted.add(str(self.file))
        skipped = tuple(r[1:] for r in self.read if r.startswith("!"))
        # every path some read field lies inside (`a` and `a.b` for `a.b[].c`): one set lookup per key, not a
        # scan of the read fields (the scan made accounting most of a large file's load time)
        inside = set()
        for r in self.read:
            for i, ch in enumerate(r):
                if ch == ".":
                    inside.add(r[:i])
                    if r.endswith("[]", 0, i):
                        inside.add(r[:i - 2])
        stack = [("", rec[1] if isinstance(rec, tuple) else rec)]  # keyed files: (key, record)
        while stack:
            prefix, value = stack.pop()
            items = value.items() if isinstance(value, dict) else ()
            for key, item in items:
                path = f"{prefix}.{key}" if prefix else str(key)
                if item is None:
                    self.report.met("null", self.file, self.index, path)
                elif path in inside:
                    self.report.met("read", self.file, self.index, path)  # and the fields inside it, in turn
                    stack += [(path, item)] if isinstance(item, dict) else [
                        (path + "[]", x) for x in (item if isinstance(item, list) else ())]
                elif path in self.read:
                    self.report.met("read", self.file, self.index, path)
                elif path in ignored or any(path == x or path.startswith(x + ".")
                                            or ("*" in x and fnmatchcase(path, x)) for x in skipped):
                    self.report.met("ignored", self.file, self.index, path)
                else:
                    self.report.met("not understood", self.file, self.index, path)

    def obj(self, parent: Any, key: str, path: str, reason: str, required: bool = True) -> dict | None:
        self.mark(path)
        value = parent.get(key) if isinstance(parent, dict) else None
        if value is None:
            if required:
                self.problem(path, "missing", reason)
            return None
        if not isinstance(value, dict):
            self.problem(path, f"expected an object, got {_kind(value)}", reason)
            return None
        return value

    def text(self, parent: Any, key: str, path: str, reason: str, required: bool = True) -> str | None:
        """A non-empty string field."""
        self.mark(path)
        value = parent.get(key) if isinstance(parent, dict) else None
        if value is None:
            if required:
                self.problem(path, "missing", reason)
            return None
        if not isinstance(value, str):
            self.problem(path, f"expected a string, got {_kind(value)}", reason)
            return None
        if jsonio.has_lone_surrogate(value):
            self.problem(path, "holds a lone surrogate (an unpaired \\ud800-\\udfff escape)", reason)
            return None
        if not value.strip():
            if required:  # an optional field left empty (`"old": ""`, `"target_true": ""`) is just absent
                self.problem(path, "empty string", reason)
            return None
        return value

    def texts(self, parent: Any, key: str, path: str, reason: str, required: bool = True) -> list[str] | None:
        """A list of strings; a bare string is accepted as a list of one (formats disagree on this)."""
        self.mark(path)
        value = parent.get(key) if isinstance(parent, dict) else None
        if value is None:
            if required:
                self.problem(path, "missing", reason)
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.problem(path, f"expected a list of strings, got {_kind(value)}", reason)
            return None
        out, bad = [], False
        for i, item in enumerate(value):  # every bad item is named; one spoils the list
            if not isinstance(item, str) or not item.strip():
                self.problem(f"{path}[{i}]", f"expected a non-empty string, got {shorten(item)}", reason)
                bad = True
            elif jsonio.has_lone_surrogate(item):
                self.problem(f"{path}[{i}]", "holds a lone surrogate (an unpaired \\ud800-\\udfff escape)", reason)
                bad = True
            out.append(item)
        return None if bad else out

    def language(self, code: Any, path: str, reason: str, aliases: dict[str, str] | None = None) -> str | None:
        """A language code normalised by the language table (`zh-cn` -> `zh`), after the format's own
        aliases (MzsRE writes `cz` for Czech)."""
        if not isinstance(code, str):
            self.problem(path, f"language code must be a string, got {_kind(code)}", reason)
            return None
        key = (aliases or {}).get(code.strip().lower(), code)
        try:
            return normalize_code(key)
        except PolyeditError:
            self.problem(path, f"unknown language code {code!r}", reason)
            return None


#: the reason under which kept edits whose prompt lacks the subject are counted (prefixed by a language)
SUBJECT_MISSING = "edits whose prompt lacks the subject (kept; the subject is located by a fallback rule)"


def flag_missing_subject(r: RecordReader, edit, field_: str, prefix: str = "") -> None:
    """Count an edit whose prompt does not contain its subject. The edit is kept: methods that need no
    subject position use it as it is, the others locate it by `models.tokens.subject_span`'s fallback."""
    if not edit.subject_in_prompt:
        r.problem(field_, f"prompt {edit.prompt!r} does not contain its subject {edit.subject!r} (kept)",
                  prefix + SUBJECT_MISSING)


def require_path(path: Path, name: str, where: str) -> Path:
    """`path`, or one clear error naming it and where the benchmark's files are published."""
    if not path.exists():
        raise PolyeditError(f"{name}: no file or folder at {path}; {where}")
    return path


def case_key(value: Any) -> str | None:
    """A record id as a string; ids are ints or strings in the published files (bools are not ids)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)) or (isinstance(value, str) and not value.strip()):
        return None
    return str(value)


# --- format registry for `polyedit data validate` ----------------------------------------------------

#: format name -> check(path) -> Report. A check converts every record of the file(s) and returns the
#: report; it raises PolyeditError only when the input as a whole is unreadable. The checks live in the
#: loader modules of this package, which register them on import.
Checker = Callable[[Path], Report]
FORMATS: Registry[Checker] = Registry("format", import_submodules("polyedit.data"))


def register_format(name: str, help: str = "") -> Callable[[Checker], Checker]:
    return FORMATS.decorator(name, help)


def format_names() -> dict[str, str]:
    return FORMATS.helps()


def validate_path(path: Path | str, fmt: str) -> list[Problem]:
    """Every problem of the file or folder `path` read as format `fmt` (empty: the input is clean)."""
    return validate_report(path, fmt).problems


def validate_report(path: Path | str, fmt: str) -> Report:
    """The exhaustive report of `path` read as format `fmt`: its problems, and its warnings (fields not
    understood, nulls, a probe kind left empty)."""
    check = FORMATS.get(fmt)  # each check reads through an exhaustive Report
    path = Path(path)
    if not path.exists():
        raise PolyeditError(f"{path}: no such file or directory")
    try:
        report = check(path)
    except PolyeditError as e:  # the input as a whole is unreadable: that is its one problem
        message = str(e)
        for prefix in (f"{path}: ",):
            message = message[len(prefix):] if message.startswith(prefix) else message
        report = Report(exhaustive=True)
        report.problems.append(Problem(str(path), None, None, message))
    report.account_all()
    report.field_warnings()
    return report


def load_path_dataset(spec, name: str, loader, protocols, normalize=None, where: str | None = None):
    """The shared front of the file-format loaders, `NAME:PATH[:edit_lang=en][:langs=...]`: check the path
    argument (`where`: where the files are published, said when it is missing), run
    `loader(path, edit_lang, langs, report)`, and refuse a source with no usable record."""
    if not spec.arg:
        raise PolyeditError(f"{name} dataset needs a path: {name}:PATH" + (f"; {where}" if where else ""))
    if where:
        require_path(Path(spec.arg), name, where)
    edit_lang = (normalize or normalize_code)(spec.options.get("edit_lang", "en"))
    report = Report(mapping=parse_mapping(spec.options.get("map")))
    cases = loader(Path(spec.arg), edit_lang, spec.langs(), report)
    if not cases and report.problems:
        raise PolyeditError(f"{name}:{spec.arg}: no usable record; first problem: {report.problems[0]}")
    return report.dataset(f"{name}:{spec.arg}", cases, spec.arg, protocols)
