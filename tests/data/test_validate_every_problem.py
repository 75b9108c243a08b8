"""`polyedit data validate` lists every problem of every record (each bad list item with its index), each
line short, naming file, record and field; it reads past an unreadable file to the rest of a folder, takes
a BMIKE-53 file's language from its records, and exits 1 when it found anything."""

import json

import pytest

from polyedit.cli.main import main
from polyedit.data.problems import RecordReader, Report

BIG = "k" * 100_000


def _validate(capsys, path, fmt):
    code = main(["data", "validate", str(path), "--format", fmt])
    out = capsys.readouterr().out.splitlines()
    assert all(len(line) < 500 for line in out), max(map(len, out))
    return code, [line for line in out if not line.startswith("warning: ")]  # problems only


def _has(out, *parts):
    return any(all(p in line for p in parts) for line in out)


def _de_block(**changes):
    block = {"case_id": 1, "subject": "Ana", "src": "Ana wurde geboren in", "alt": "Oslo", "rephrase": "Ana kam aus",
             "loc": "Wer schrieb Faust?", "loc_ans": "Goethe", "port": "Wo lebt Ana?", "port_ans": "Norwegen"}
    block.update(changes)
    return {k: v for k, v in block.items() if v is not None}


EN = {"case_id": 1, "subject": "Ana", "src": "Ana was born in", "alt": "Oslo"}


def test_every_problem_of_a_spoilt_bmike_record_is_listed(tmp_path, capsys):
    recs = [
        # spoilt twice (a list for a case_id), and three problems in its German block besides
        {"en": {**EN, "case_id": [1]}, "de": _de_block(src=None, loc_ans=7, **{BIG: "x"})},
        # no English block: its German block is still checked
        {"de": _de_block(rephrase="")},
        {"en": {**EN, "case_id": 3}, "de": _de_block(case_id=3)},  # clean
    ]
    path = tmp_path / "zsre_test_de.json"
    path.write_text(json.dumps(recs))
    code, out = _validate(capsys, path, "bmike53")
    assert code == 1
    assert _has(out, "record 0 field en.case_id", "expected an int or string id")
    assert _has(out, "record 0 field de.src: missing")
    assert _has(out, "record 0 field de.loc_ans: expected a string, got a number")
    assert _has(out, "record 0 field 'de.kkkk", "chars)", "unknown field ignored")  # a 100 KB key, shortened
    assert _has(out, "record 1 field en: missing") and _has(out, "record 1 field de.rephrase: empty string")
    assert not _has(out, "record 2")
    assert len(out) == 6


def test_bmike_language_comes_from_the_records_not_the_name(tmp_path, capsys):
    path = tmp_path / "zsre_test_fr.json"  # named French, holds German pairs
    path.write_text(json.dumps([{"en": EN, "de": _de_block()}, {"en": {**EN, "case_id": 2}, "de": _de_block(case_id=2)}]))
    code, out = _validate(capsys, path, "bmike53")
    assert code == 1 and out == [f"{path}: the file name says fr but its records hold de blocks; read as de"]
    path.rename(tmp_path / "zsre_test_de.json")
    code, out = _validate(capsys, tmp_path / "zsre_test_de.json", "bmike53")
    assert code == 0


def test_a_bad_item_of_a_list_field_is_named_with_its_index():
    report = Report(exhaustive=True)
    r = RecordReader(report, "f.json", 4)
    assert r.texts({"p": ["ok", "", 3, "fine", None]}, "p", "p", "dropped") is None
    assert [(p.field, p.message.split(",")[0]) for p in report.problems] == [
        ("p[1]", "expected a non-empty string"), ("p[2]", "expected a non-empty string"),
        ("p[4]", "expected a non-empty string")]
    assert report.skipped["dropped"] == 3


def test_easyedit_lists_every_problem_and_reads_past_an_unreadable_file(tmp_path, capsys):
    good = {"subject": "Ana", "src": "Ana was born in", "alt": "Oslo", "answers": ["Lima"],
            "rephrase": "Ana came from", "loc": "nq question: who wrote faust", "loc_ans": "Goethe"}
    bad = {**good, "subject": None, "alt": ["Oslo", "", 5], "rephrase": ["Ana came from", "", "x" * 100_000 + "\ud800"],
           "loc_ans": None}
    folder = tmp_path / "easyedit"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps([good, bad]))
    (folder / "b.json").write_bytes(b"[{\"subject\": \"\xff\"}]")
    (folder / "c.json").write_text(json.dumps([{**good, "src": 3}]))
    code, out = _validate(capsys, folder, "easyedit-zsre")
    assert code == 1
    a, b, c = (str(folder / n) for n in ("a.json", "b.json", "c.json"))
    assert _has(out, f"{a} record 1 field subject: missing")
    assert _has(out, f"{a} record 1 field alt[1]") and _has(out, f"{a} record 1 field alt[2]")
    assert _has(out, f"{a} record 1 field rephrase[1]") and _has(out, f"{a} record 1 field rephrase[2]", "surrogate")
    assert _has(out, f"{a} record 1 field loc_ans: missing")
    assert _has(out, f"{b}:1: not UTF-8")
    assert _has(out, f"{c} record 0 field src: expected a string")
    assert not _has(out, "record 0 field", a)
    assert len(out) == 8
    # the nulls are also warnings: each field once per file, with its count
    from polyedit.data.problems import validate_report

    assert [str(w) for w in validate_report(folder, "easyedit-zsre").warnings] == [
        f"{a} record 1 field loc_ans: null in 1 record(s) (first here), read as absent",
        f"{a} record 1 field subject: null in 1 record(s) (first here), read as absent"]


def test_mzsre_lists_the_probes_of_a_record_without_an_edit_and_reads_past_bad_files(tmp_path, capsys):
    def block(**changes):
        b = {"src": "Q?", "alt": "A", "rephrase": "Q2?", "subject": "S", "loc": "nq question: L?", "loc_ans": "LA",
             "portability": {"New Question": "P?", "New Answer": "PA"}}
        b.update(changes)
        return {k: v for k, v in b.items() if v is not None}

    (tmp_path / "mzsre_test_duplicate_ende.json").write_text(json.dumps(
        [{"en": block(src=None), "de": block(rephrase=5, loc_ans="")}, {"en": block(), "de": block()}]))
    (tmp_path / "mzsre_test_duplicate_enfr.json").write_text("[{\"en\": ")
    code, out = _validate(capsys, tmp_path, "mzsre")
    ende, enfr = (str(tmp_path / f"mzsre_test_duplicate_{x}.json") for x in ("ende", "enfr"))
    assert code == 1
    assert _has(out, f"{ende} record 0 field en.src: missing")
    assert _has(out, f"{ende} record 0 field de.rephrase: expected a string")
    assert _has(out, f"{ende} record 0 field de.loc_ans: empty string")
    assert _has(out, enfr, "not JSON")


def test_real_bmike_files_still_validate_clean(real_bmike53, capsys):
    """The published English and German files (the `_en` file holds the German pairs) read as the language
    their records hold, which their names agree with: nothing to report."""
    for name in ("zsre_test.json", "zsre_test_de.json", "zsre_test_en.json"):
        path = real_bmike53 / "zsRE" / name
        if name == "zsre_test_en.json" and not path.exists():
            continue
        code, out = _validate(capsys, path, "bmike53")
        assert code == 0 and out == [f"{path}: no problems (bmike53)"], out[:3]


def _mkeb_record(example_id, **changes):
    rec = {"example_id": example_id,
           "edit": {"en": {"prompt": "{} was born in", "subject": "Ana", "target_new": "Oslo", "target_true": "Lima"},
                    "de": {"prompt": "{} wurde geboren in", "subject": "Ana", "target_new": "Oslo"}},
           "paraphrase_prompts": {"en": ["Ana came from"], "de": ["Ana kam aus"]},
           "neighborhood_prompts": {"en": ["Faust was written by"]}, "neighborhood_answers": {"en": ["Goethe"]},
           "multi_hop_questions": {"en": ["Where does Ana live?"]}, "multi_hop_new_answer": {"en": "Norway"}}
    rec.update(changes)
    return {k: v for k, v in rec.items() if v is not None}


def test_mkeb_lists_every_problem_of_a_record(tmp_path, capsys):
    recs = [
        # no usable id, a broken edit block, bad paraphrase items, an ill-typed field, an empty answer
        _mkeb_record([1], edit={"en": {"prompt": "", "subject": 5, "target_new": "Oslo"}},
                     paraphrase_prompts={"en": ["ok", "", 3]}, neighborhood_prompts=["not", "an object"],
                     multi_hop_new_answer={"en": ""}),
        # no block in the edit language: the German block and the probes are still checked
        _mkeb_record(2, edit={"de": {"prompt": "{} wurde geboren in", "subject": "", "target_new": "Oslo"}},
                     paraphrase_prompts={"de": ["", "Ana kam aus"]}, neighborhood_answers=None),
        _mkeb_record(3),  # clean
    ]
    path = tmp_path / "mkeb.json"
    path.write_text(json.dumps(recs))
    code, out = _validate(capsys, path, "mkeb")
    assert code == 1
    assert _has(out, "record 0 field example_id: expected an int or string id")
    assert _has(out, "record 0 field edit.en.prompt: empty string")
    assert _has(out, "record 0 field edit.en.subject: expected a string, got a number")
    assert _has(out, "record 0 field paraphrase_prompts.en[1]") and _has(out, "record 0 field paraphrase_prompts.en[2]")
    assert _has(out, "record 0 field neighborhood_prompts: expected an object, got an array")
    assert _has(out, "record 0 field multi_hop_new_answer.en: empty string")
    assert _has(out, "record 1 field edit.en: no block in the edit language")
    assert _has(out, "record 1 field neighborhood_answers: missing")
    assert _has(out, "record 1 field edit.de.subject: empty string")
    assert _has(out, "record 1 field paraphrase_prompts.de[0]")
    assert not _has(out, "record 2")
    assert len(out) == 11, out
    # a run still loads the clean record and counts each spoilt one once, under its first problem
    from polyedit.data.registry import load_dataset

    ds = load_dataset(f"mkeb:{path}")
    assert [c.case_id for c in ds.cases] == ["mkeb-3"]
    assert ds.skipped == {"records without an example_id": 1, "records without neighborhood_answers": 1}


def _babel_relation(**edit_changes):
    edit = {"targets_mt_marked": {"en": "Peru", "de": "Peru"},
            "prompts_mt_marked": {"en": "Ana is a citizen of", "de": "Ana ist Bürgerin von"},
            "generality": {"prompts_gen_mt_marked": {"en": "Ana holds citizenship of"}},
            "locality": {"born": {"prompts_loc_mt_marked": {"en": "Ana was born in"},
                                  "ground_truths_loc_mt_marked": {"en": "Bergen"}}}}
    edit.update(edit_changes)
    return {"ground_truths_mt": {"en": "Norway"}, "edit": {k: v for k, v in edit.items() if v is not None}}


def test_babeledits_lists_every_problem_and_reads_past_an_unreadable_file(tmp_path, capsys):
    subjects = {"subjects_mt_marked": {"en": "Ana", "de": "Ana"}}
    entry = {**subjects, "relations": {
        # no prompt in the edit language: the rest of the edit is still checked
        "citizen": _babel_relation(prompts_mt_marked={"de": "Ana ist Bürgerin von"},
                                   generality={"prompts_gen_mt_marked": {"en": 5, "de": ""}},
                                   locality={"born": {"prompts_loc_mt_marked": {"en": "Ana was born in"}}}),
        "not_an_object": "x",
        # no edit: its ground truths are still checked
        "no_edit": {"ground_truths_mt": {"en": 7}},
        "bad_blocks": _babel_relation(generality=["x"], portability={"multi_hop": 3}),
        "clean": _babel_relation()}}
    folder = tmp_path / "babeledits"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps({"bn:1n": entry}))
    (folder / "b.json").write_text("{\"bn:2n\": ")
    (folder / "c.json").write_text("[]")
    code, out = _validate(capsys, folder, "babeledits")
    a, b, c = (str(folder / n) for n in ("a.json", "b.json", "c.json"))
    assert code == 1
    ep = f"{a} record 0 field relations.citizen.edit"
    assert _has(out, f"{ep}.prompts_mt_marked.en: no prompt, target or subject in the edit language")
    assert _has(out, f"{ep}.generality.prompts_gen_mt_marked.en: expected a string, got a number")
    assert _has(out, f"{ep}.generality.prompts_gen_mt_marked.de: empty string")
    assert _has(out, f"{ep}.locality.born.ground_truths_loc_mt_marked.en: no answer for this prompt")
    assert _has(out, f"{a} record 0 field relations.not_an_object: expected an object, got str")
    assert _has(out, f"{a} record 0 field relations.no_edit.edit: missing")
    assert _has(out, f"{a} record 0 field relations.no_edit.ground_truths_mt.en: expected a string, got a number")
    assert _has(out, f"{a} record 0 field relations.bad_blocks.edit.generality: expected an object, got an array")
    assert _has(out, f"{a} record 0 field relations.bad_blocks.edit.portability.multi_hop: expected an object")
    assert _has(out, f"{b}: not JSON")
    assert _has(out, f"{c}: expected a JSON object keyed by synset id, got an array")
    assert not _has(out, "relations.clean")
    assert len(out) == 11, out



def test_mquake_lists_every_problem_of_an_instance(tmp_path, capsys):
    rewrite = {"prompt": "{} is a citizen of", "subject": "Ana", "target_new": {"str": "Peru"},
               "target_true": {"str": "Norway"}, "question": "What is Ana's citizenship?"}
    recs = [{"case_id": None, "requested_rewrite": [{**rewrite, "subject": "", "question": 5}],
             "questions": ["Where is the capital of Ana's country?", ""], "new_answer": "Lima"},
            {"case_id": 2, "requested_rewrite": "not a list", "questions": [3], "new_answer": "Lima"},
            {"case_id": 3, "requested_rewrite": [rewrite], "questions": ["q?"], "new_answer": "Lima"}]  # clean
    path = tmp_path / "MQuAKE-CF-3k.json"
    path.write_text(json.dumps(recs))
    code, out = _validate(capsys, path, "mquake")
    assert code == 1
    assert _has(out, "record 0 field case_id: expected an int or string id, got None")
    assert _has(out, "record 0 field questions[1]: expected a non-empty string")
    assert _has(out, "record 0 field requested_rewrite[0].subject: empty string")
    assert _has(out, "record 0 field requested_rewrite[0].question: expected a string, got a number")
    assert _has(out, "record 1 field requested_rewrite: expected a non-empty list")
    assert _has(out, "record 1 field questions[0]: expected a non-empty string, got 3")
    assert not _has(out, "record 2")
    assert len(out) == 6, out

def _mlake_folder(root, single_en, new_en=(), de=None):
    for rel, recs in [("single_hop/en_qa.json", single_en), ("multi_hop/new_en_qa.json", list(new_en)),
                      ("multi_hop/old_en_qa.json", [])]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(json.dumps(recs), "utf-8")
    if de is not None:
        (root / "single_hop/de_qa.json").write_bytes(de)
    return root


MLAKE_FACT = {"question": "Where did Ana Lind work?", "o_prompt": "Ana Lind worked at Acme.", "o_answer": "Acme",
              "o_answer_aliases": [], "e_prompt": "Ana Lind worked at Globex.", "e_answer": "Globex",
              "e_answer_aliases": ["Globex Corp"]}


def test_mlake_lists_every_field_of_a_record_and_reads_past_an_unreadable_file(tmp_path, capsys):
    bad = {**MLAKE_FACT, "question": None, "e_answer": 5, "o_answer": "", "e_answer_aliases": ["", 3, "ok"]}
    new_bad = {"question": "Where is Ana's employer?", "e_answer": "", "e_answer_aliases": []}
    root = _mlake_folder(tmp_path / "dataset", [bad, MLAKE_FACT], [new_bad], de=b"[{\"question\": \"\xff\"}]")
    code, out = _validate(capsys, root, "mlake")
    en, new, de = (str(root / r) for r in ("single_hop/en_qa.json", "multi_hop/new_en_qa.json", "single_hop/de_qa.json"))
    assert code == 1
    for field, message in [("question", "missing"), ("o_answer", "empty string"),
                           ("e_answer", "expected a string, got a number"),
                           ("e_answer_aliases[0]", "expected a non-empty string"),
                           ("e_answer_aliases[1]", "expected a non-empty string")]:
        assert _has(out, f"{en} record 0 field {field}: {message}"), field
    assert _has(out, f"{new} record 0 field e_prompt: missing") and _has(out, f"{new} record 0 field e_answer: empty")
    assert _has(out, f"{de}:1: not UTF-8")  # and the other files are still checked
    assert all(_has(out, f"single_hop: no {lang}_qa.json") for lang in ("fr", "ja", "zh"))
    assert not _has(out, "record 1")
    assert len(out) == 11, out


def test_real_mlake_files_validate_as_before():
    """The published folder has no structural problem: validate lists what a run counts, exactly as before
    every field of every record was checked (its quirks: the README's duplicate question, the old multi-hop
    questions that join no edit, e_prompts without their answer, three subjects not derivable)."""
    from helpers.requires import shared

    from polyedit.data.problems import validate_path

    problems = validate_path(shared("data/mlake/dataset"), "mlake")

    def n(file: str, field: str, opening: str) -> int:
        return sum(p.file.endswith(f"/{file}") and p.field == field and p.message.startswith(opening) for p in problems)

    old = {"en": 830, "de": 687, "fr": 755, "ja": 807, "zh": 701}
    statements = {"en": 47, "de": 143, "fr": 105, "ja": 1, "zh": 21}
    assert {x: n(f"old_{x}_qa.json", "question", f"asks what no new_{x} question asks") for x in old} == old
    assert {x: n(f"{x}_qa.json", "e_prompt", "does not contain e_answer") for x in statements} == statements
    assert n("en_qa.json", "question", "shares no words with e_prompt") == 3
    assert n("zh_qa.json", "question", "also the question of record 420") == 1
    assert len(problems) == sum(old.values()) + sum(statements.values()) + 3 + 1 == 4101


def test_jsonl_lists_every_bad_field_of_each_edit_and_probe(tmp_path, capsys):
    good_edit = {"lang": "en", "subject": "Ana", "prompt": "Ana was born in", "target_new": "Oslo"}
    good_probe = {"kind": "generality", "lang": "de", "prompt": "Ana wurde geboren in", "answer": "Oslo"}
    lines = [
        {"case_id": [1], "edit": {"lang": "xx", "subject": 7, "prompt": "", "target_new": "Oslo", "target_true": 3},
         "probes": [{"kind": "nope", "lang": "", "prompt": 5, "answer": " ", "aliases": ["Oslo", 3, None]},
                    {**good_probe, "aliases": "Oslo"},  # a bare string, not a list
                    {**good_probe, "answer_true": 1.5, "subject": ["Ana"]}]},
        {"case_id": "c2", "edit": good_edit, "probes": [good_probe]},  # clean
        {"case_id": "c3", "edit": good_edit, "probes": {"0": good_probe}},  # not a list: one problem, not one per key
    ]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    code, out = _validate(capsys, path, "jsonl")
    assert code == 1
    line1 = [x.removeprefix(f"{path}:1 field ") for x in out if x.startswith(f"{path}:1 ")]
    assert [x.split(":")[0] for x in line1] == [
        "edit.lang", "edit.subject", "edit.prompt", "edit.target_true",
        "probes[0].kind", "probes[0].lang", "probes[0].prompt", "probes[0].answer", "probes[0].aliases[1]",
        "probes[0].aliases[2]", "probes[1].aliases", "probes[2].answer_true", "probes[2].subject", "case_id"]
    assert "edit.lang: unknown language code 'xx'" in line1[0] and "got 7" in line1[1]
    assert line1[-1] == "case_id: case_id must be a non-empty string or an integer, got [1]"
    assert out[len(line1):] == [f"{path}:3 field probes: expected a list, got dict"]
    # loading refuses the file with the first of them (the same checks: tests/data/test_validate_equals_bench.py)
    from polyedit.data.registry import load_dataset
    from polyedit.errors import PolyeditError

    with pytest.raises(PolyeditError, match=r"cases.jsonl:1 field edit.lang: unknown language code 'xx'"):
        load_dataset(f"jsonl:{path}")
