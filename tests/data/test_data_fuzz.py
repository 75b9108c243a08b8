"""Hypothesis fuzzing: whatever the bytes or records, loaders and `validate` give cases, a clean list of
problems, or one PolyeditError; never another exception."""

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polyedit.data import babeledits, bmike53, easyedit, mkeb, mquake, mzsre
from polyedit.data.cases import EditCase
from polyedit.data.problems import Problem, RecordReader, Report, validate_path
from polyedit.data.registry import load_dataset
from polyedit.errors import PolyeditError

FIELD_NAMES = sorted(bmike53.BLOCK_FIELDS | set(mkeb.PER_LANGUAGE_FIELDS) | {
    "example_id", "prompt", "subject", "target_new", "target_true", "answers", "ground_truth", "rephrase_prompt",
    "locality_prompt", "locality_ground_truth", "portability", "New Question", "New Answer", "portability_prompt",
    "portability_ground_truth", "en", "de", "zh", "zh-cn", "cz", "xx", "",
    # MQuAKE, BabelEdits
    "case_id", "requested_rewrite", "questions", "answer", "new_answer", "new_answer_alias", "str", "question",
    "relations", "edit", "subjects_mt_marked", "targets_mt_marked", "prompts_mt_marked", "targets_aliases",
    "generality", "prompts_gen_mt_marked", "locality", "prompts_loc_mt_marked", "ground_truths_loc_mt_marked",
    "multi_hop", "prompts_port_mt_marked", "ground_truths_port_mt_marked", "prompts_subj_alias", "ground_truths_mt",
    # MLaKE
 "o_prompt", "o_answer", "o_answer_aliases", "e_prompt", "e_answer", "e_answer_aliases"})
keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=6))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from(["", " ", "{}", "Danube", "Which sea does the Danube flow into?",
                                     "nq question: x"]),
                    st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(keys, inner, max_size=5)), max_leaves=25)
records = st.lists(st.one_of(values, st.dictionaries(keys, values, max_size=8)), max_size=4)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _ok(cases, report: Report):
    assert all(isinstance(c, EditCase) for c in cases)
    assert all(isinstance(p, Problem) and str(p) for p in report.problems)
    assert sum(report.skipped.values()) == len(report.problems)


@FUZZ
@given(records)
def test_record_converters_never_crash(recs):
    report = Report()
    cases = []
    for i, rec in enumerate(recs):
        for edit_lang in ("en", "zh"):
            case = mkeb.convert_record(RecordReader(report, "f", i), rec, edit_lang, None)
            cases += [case] if case else []
        for fmt in ("zsre", "counterfact"):
            case = easyedit.convert_record(RecordReader(report, "f", i), rec, fmt, "en", i)
            cases += [case] if case else []
        joiner = mzsre._Joiner(report)
        joiner.add(RecordReader(report, "f", i), rec, ("en", "cs"))
        joiner.add(RecordReader(report, "g", i), rec, ())  # the same record from a second file
        for edit_lang in ("en", "cs", "zh"):
            cases += mzsre.convert(joiner, "mzsre", edit_lang, None, report, mzsre.errata("mzsre") + mzsre.errata("bizsre"))
        cases += mquake.convert_record(RecordReader(report, "f", i), rec, "en")
        cases += babeledits.convert_synset(RecordReader(report, "f", i), f"bn:{i}", rec, "en", "mt_marked", None)
        builder = bmike53._Builder(bmike53.TASKS["zsre"], report)
        builder.add_record(RecordReader(report, "f", i), rec, "de", english_file=False)
        builder.add_record(RecordReader(report, "f", i), rec, "en", english_file=True)
        other = bmike53._Builder(bmike53.TASKS["zsre"], report, "de")  # a non-English edit language
        other.add_record(RecordReader(report, "f", i), rec, "de", english_file=False)
        other.add_record(RecordReader(report, "f", i), rec, "en", english_file=True)
        cases += list(other.cases.values())
        cases += list(builder.cases.values())
    _ok(cases, report)


@FUZZ
@given(st.one_of(st.binary(max_size=60), records.map(lambda r: json.dumps(r).encode()),
                 values.map(lambda v: json.dumps(v).encode())),
       st.sampled_from(["bmike53", "mkeb", "mzsre", "bizsre", "mlake", "mquake", "babeledits", "easyedit-zsre",
                        "easyedit-counterfact"]))
def test_validate_and_load_whole_files_never_crash(content, fmt):
    with tempfile.TemporaryDirectory() as tmp:
        names = {"bmike53": ["zsRE/zsre_test_de.json"], "mzsre": ["mzsre_test_duplicate_ende.json"],
                 # MLaKE is a folder: the same bytes as a single-hop file and as both multi-hop files
                 "mlake": ["single_hop/en_qa.json", "multi_hop/new_en_qa.json", "multi_hop/old_en_qa.json"]}
        for name in names.get(fmt, ["data.json"]):
            path = Path(tmp) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        path = Path(tmp) if fmt == "mlake" else Path(tmp) / names.get(fmt, ["data.json"])[0]
        problems = validate_path(path, fmt)
        assert all(isinstance(p, Problem) for p in problems)
        spec = f"bmike53:zsre:langs=de:dir={tmp}" if fmt == "bmike53" else f"{fmt}:{path}"
        try:
            ds = load_dataset(spec)
        except PolyeditError as e:
            assert str(e) and "\n" not in str(e)
        else:
            assert all(isinstance(c, EditCase) for c in ds.cases)


MLAKE_TEXTS = st.sampled_from(["Carl Sagan worked at BBC.", "BBC", "Where did Carl Sagan work?", "", " ", "x"])
mlake_records = st.lists(st.one_of(values, st.fixed_dictionaries(
    {k: st.one_of(MLAKE_TEXTS, scalars) for k in ("question", "o_answer", "e_prompt", "e_answer")},
    optional={k: st.one_of(st.lists(st.one_of(MLAKE_TEXTS, scalars), max_size=3), scalars)
              for k in ("o_answer_aliases", "e_answer_aliases")})), max_size=4)


@FUZZ
@given(mlake_records, mlake_records, st.sampled_from(["en", "de"]))
def test_mlake_folders_never_crash(single, multi, edit_lang):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, recs in [("single_hop/en_qa.json", single), ("single_hop/de_qa.json", single[::-1]),
                           ("multi_hop/new_de_qa.json", multi), ("multi_hop/old_de_qa.json", multi)]:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(json.dumps(recs), "utf-8")
        try:
            ds = load_dataset(f"mlake:{root}:edit_lang={edit_lang}")
        except PolyeditError as e:
            assert str(e) and "\n" not in str(e)
        else:
            assert all(isinstance(c, EditCase) for c in ds.cases)
            assert all(p.kind != "portability" or p.lang == "de" for c in ds.cases for p in c.probes)


edit_fields = st.fixed_dictionaries({}, optional={k: st.one_of(scalars, st.sampled_from(["en", "zh-cn", "xx", "Oslo"]))
                                                  for k in ("lang", "subject", "prompt", "target_new", "target_true")})
probe_fields = st.fixed_dictionaries({}, optional={
    **{k: st.one_of(scalars, st.sampled_from(["de", "generality", "locality", "Oslo"]))
       for k in ("kind", "lang", "prompt", "answer", "answer_true", "subject")},
    "aliases": st.one_of(scalars, st.lists(scalars, max_size=3))})


@FUZZ
@given(edit_fields, probe_fields)
def test_the_jsonl_check_lists_a_problem_exactly_when_building_refuses(edit, probe):
    """`Edit.problems` / `Probe.problems` (what validate lists) run the checks that building runs: a field
    set has problems exactly when building it raises, and the first problem is the one building names."""
    from polyedit.data.cases import Edit, Probe

    for cls, values, extra in ((Edit, edit, {}), (Probe, probe, {"aliases": probe.get("aliases")})):
        problems = cls.problems(values)
        try:
            cls(**{k: values.get(k) for k in cls.__dataclass_fields__ if k != "aliases"},
                **({"aliases": extra["aliases"]} if extra.get("aliases") is not None else {}))
        except PolyeditError as e:
            assert problems and problems[0][1] in str(e)
        else:
            assert problems == []
