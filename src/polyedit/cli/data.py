"""`polyedit data`: list the known dataset specs, show records as polyedit sees them, count them, and
validate files in any supported format. Bad input is a `PolyeditError` (one line, exit 2); `validate`
exits 1 when it finds problems, after listing each with its file, record index and field."""

from __future__ import annotations

import json
from collections import Counter

import click

from polyedit.data.cases import PROBE_KINDS, EditCase
from polyedit.data.problems import format_names, validate_report
from polyedit.data.registry import Dataset, dataset_names, load_dataset


def _where(name: str) -> str:
    """A loader says where it reads from through its `describe_source()`; the file formats read their PATH."""
    from polyedit.data.registry import DATASETS

    describe = getattr(DATASETS.get(name), "describe_source", None)
    return describe() if describe else "the PATH given in the spec"


@click.group("data")
def data() -> None:
    """Benchmarks and edit-case files: list, show, stats, validate, schema, convert."""


@data.command("list")
def list_() -> None:
    """Known dataset specs and where each is found; the formats `validate` checks."""
    for name, help_ in dataset_names().items():
        click.echo(f"{name}\n    {help_}\n    source: {_where(name)}")
    click.echo("\nformats for `polyedit data validate --format`:")
    for name, help_ in format_names().items():
        click.echo(f"  {name}: {help_}")


def _case_lines(case: EditCase) -> list[str]:
    e = case.edit
    true = f" (was {e.target_true!r})" if e.target_true else ""
    lines = [f"{case.case_id}  edit [{e.lang}] {e.prompt!r} -> {e.target_new!r}{true}  subject {e.subject!r}"]
    for p in case.probes:
        true = f" (vs {p.answer_true!r})" if p.answer_true else ""
        kind = f"{p.kind}/{p.group}" if p.group else p.kind
        lines.append(f"    {kind:<11} [{p.lang}] {p.prompt!r} -> {p.answer!r}{true}")
    return lines


def _skipped_lines(ds: Dataset) -> list[str]:
    if not ds.skipped:
        return ["skipped: nothing"]
    return ["skipped, corrected or flagged:"] + [f"  {n:>6}  {reason}" for reason, n in sorted(ds.skipped.items())]


def _split_line(ds: Dataset) -> str:
    from polyedit.data.splits import side, subject_key

    keys = {subject_key(c) for c in ds.cases}
    dev = sum(side(subject_key(c)) == "dev" for c in ds.cases)
    return f"split by subject: {len(keys)} subjects; dev {dev} cases, test {len(ds.cases) - dev} (:split=dev|test)"


@data.command("show")
@click.argument("spec")
@click.option("--n", "n", default=3, show_default=True, type=click.IntRange(min=0), help="how many cases")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per case (polyedit's jsonl format)")
def show(spec: str, n: int, as_json: bool) -> None:
    """Print the first N cases of SPEC as polyedit sees them."""
    ds = load_dataset(spec, limit=n)
    for case in ds.cases:
        if as_json:
            click.echo(json.dumps(case.to_dict(), ensure_ascii=False))
        else:
            click.echo("\n".join(_case_lines(case)))
    if not as_json:
        click.echo(f"({len(ds.cases)} shown; source {ds.source})")


@data.command("stats")
@click.argument("spec")
def stats(spec: str) -> None:
    """Cases, languages, probes per kind (and per language), and what the loader skipped."""
    ds = load_dataset(spec)
    per_kind: Counter = Counter()
    per_lang: dict[str, Counter] = {}
    edit_langs: Counter = Counter()
    for case in ds.cases:
        edit_langs[case.edit.lang] += 1
        for p in case.probes:
            per_kind[p.kind] += 1
            per_lang.setdefault(p.lang, Counter())[p.kind] += 1
    kinds = [k for k in PROBE_KINDS if per_kind[k]]
    groups = Counter((p.kind, p.group) for c in ds.cases for p in c.probes if p.group)
    click.echo(f"dataset: {ds.name}\nsource: {ds.source}")
    click.echo(f"protocols: {', '.join(ds.protocols) if ds.protocols else 'polyedit defaults'}")
    click.echo(f"cases: {len(ds.cases)}")
    click.echo(f"edit languages: {', '.join(f'{k} ({v})' for k, v in sorted(edit_langs.items()))}")
    splits = Counter(c.meta["split"] for c in ds.cases if "split" in c.meta)
    if splits:
        click.echo(f"splits: {', '.join(f'{k} {v}' for k, v in sorted(splits.items()))}")
    click.echo(f"probe languages: {len(per_lang)}: {' '.join(sorted(per_lang))}")
    lacking = sum(not c.edit.subject_in_prompt for c in ds.cases)
    click.echo(f"edits whose prompt lacks its subject: {lacking} (kept; located by a fallback rule)")
    click.echo(_split_line(ds))
    click.echo("probes: " + ", ".join(f"{k} {per_kind[k]}" for k in kinds))
    if per_lang:
        click.echo("lang  " + " ".join(f"{k:>12}" for k in kinds))
        for lang in sorted(per_lang):
            click.echo(f"{lang:<5} " + " ".join(f"{per_lang[lang][k]:>12}" for k in kinds))
    click.echo("\n".join(_group_lines(groups) + _language_lines(ds) + _field_lines(ds) + _skipped_lines(ds)))
    for warning in ds.warnings:
        click.echo(f"warning: {warning}")


def _group_lines(groups: Counter) -> list[str]:
    """One row per named group of a kind (KnowEdit's `Relation_Specificity`, `Reasoning`, ...)."""
    if not groups:
        return []
    return ["probe groups:"] + [f"  {n:>6}  {kind}/{group}" for (kind, group), n in sorted(groups.items())]


def _language_lines(ds: Dataset) -> list[str]:
    if not ds.languages:
        return []
    langs = Counter(key.split(" ")[0] for key in ds.languages.elements())
    ranked = sorted(langs.items(), key=lambda kv: (-kv[1], kv[0]))
    mixed = f" (mixed: {', '.join(f'{k} {v}' for k, v in ranked)})" if len(langs) > 1 else ""
    return [f"record languages{mixed}:"] + [f"  {n:>6}  {key}" for key, n in sorted(ds.languages.items())]


def _field_lines(ds: Dataset) -> list[str]:
    """Every field the loader met, by fate, with the number of records holding it."""
    out = []
    for fate, counts in ds.fields.items():
        out.append(f"fields {fate}: " + ", ".join(f"{name} {n}" for name, n in sorted(counts.items())))
    return out


@data.command("schema")
def schema() -> None:
    """Print the JSON Schema of polyedit's jsonl case format (one case per line)."""
    from polyedit.data.schema import schema_text

    click.echo(schema_text(), nl=False)


@data.command("convert")
@click.argument("spec")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="the .jsonl file to write")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="only the first N cases")
@click.option("--force", is_flag=True, help="replace OUT if it exists")
def convert(spec: str, out: str, limit: int | None, force: bool) -> None:
    """Write any loadable dataset SPEC as polyedit's jsonl cases (every probe, language, alias and source id);
    `jsonl:OUT` then loads the same cases."""
    import os
    import tempfile
    from pathlib import Path

    from polyedit.errors import PolyeditError

    path = Path(out)
    if path.exists() and not force:
        raise PolyeditError(f"{path}: already exists (--force replaces it)")
    if not path.parent.is_dir():
        raise PolyeditError(f"{path.parent}: no such folder")
    ds = load_dataset(spec, limit=limit)
    lines = "".join(json.dumps(c.to_dict(), ensure_ascii=False) + "\n" for c in ds.cases)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:  # written whole or not at all
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(lines)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    click.echo(f"{len(ds.cases)} cases of {ds.name} written to {path}")


class ProblemsFound(click.ClickException):
    """Exit code 1: the input was read and has problems (bad invocations exit 2)."""

    exit_code = 1

    def show(self, file=None) -> None:
        click.echo(self.format_message(), err=True)


@data.command("validate")
@click.argument("path", type=click.Path())
@click.option("--format", "fmt", required=True,
              help="jsonl, bmike53, mkeb, mzsre, bizsre, mlake, mquake, babeledits, easyedit-zsre, "
                   "easyedit-counterfact, knowedit (`polyedit data list`)")
def validate(path: str, fmt: str) -> None:
    """List every problem of PATH read as FORMAT (file, record index, field); exit 1 if there is any.
    Warnings (fields not understood, nulls, a probe kind left empty) are listed too, and do not fail."""
    report = validate_report(path, fmt)
    problems = report.problems
    for problem in problems:
        click.echo(str(problem))
    for warning in report.warnings:
        click.echo(f"warning: {warning}")
    if problems:
        # An exception rather than ctx.exit(1): the entry point runs click with standalone_mode=False,
        # where click returns ctx.exit's code instead of raising it, and main() would report 0.
        raise ProblemsFound(f"{len(problems)} problem(s) in {path}")
    click.echo(f"{path}: no problems ({fmt})")


command = data
