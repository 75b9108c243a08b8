"""`polyedit data list|show|stats|validate` through polyedit.cli.main.main: return codes and output."""

import json

from polyedit.cli.main import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_names_every_spec_and_where_it_is_found(capsys, fixtures, monkeypatch):
    monkeypatch.setenv("POLYEDIT_BMIKE53_DIR", str(fixtures / "bmike53"))
    code, out, _ = run(capsys, "data", "list")
    assert code == 0
    for name in ("bmike53", "mkeb", "mzsre", "easyedit-zsre", "easyedit-counterfact", "jsonl"):
        assert f"\n{name}\n" in f"\n{out}"
    assert f"source: POLYEDIT_BMIKE53_DIR={fixtures / 'bmike53'}" in out
    assert "formats for `polyedit data validate --format`" in out and "  mkeb:" in out


def test_show_prints_cases_as_polyedit_sees_them(capsys, fixtures):
    code, out, _ = run(capsys, "data", "show", f"bmike53:zsre:langs=de:dir={fixtures / 'bmike53'}", "--n", "1")
    assert code == 0
    assert "bmike53-zsre-0  edit [en] 'Which sea does the Danube flow into?' -> 'Baltic Sea'" in out
    assert "reliability [de] 'In welches Meer fließt die Donau?' -> 'Ostsee'" in out
    assert "bmike53-zsre-1" not in out and "(1 shown;" in out
    code, out, _ = run(capsys, "data", "show", f"mkeb:{fixtures / 'mkeb.json'}", "--n", "2", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["case_id"] for r in rows] == ["mkeb-0", "mkeb-2"]
    assert rows[0]["edit"]["target_true"] == "United States"


def test_stats_counts_languages_probes_and_skips(capsys, fixtures):
    code, out, _ = run(capsys, "data", "stats", f"bmike53:zsre:langs=he,de:dir={fixtures / 'bmike53'}")
    assert code == 0
    assert "cases: 3" in out and "probe languages: 3: de en he" in out  # en: the edit language, always probed
    assert "probes: reliability 8, generality 5, locality 5, portability 5" in out
    assert "     1  he: records without the target-language block" in out
    assert "protocols: bmike_f1, bmike_em, token_f1" in out


def test_validate_lists_each_problem_and_exits_1(capsys, fixtures):
    code, out, err = run(capsys, "data", "validate", str(fixtures / "bmike53" / "zsRE" / "zsre_test_he.json"),
                         "--format", "bmike53")
    assert code == 1
    assert out.strip() == (f"{fixtures / 'bmike53' / 'zsRE' / 'zsre_test_he.json'} record 1 field he: "
                           "no target-language block (skipped, as the authors' scorer does)")
    assert "1 problem(s)" in err
    code, out, _ = run(capsys, "data", "validate", str(fixtures / "mkeb.json"), "--format", "mkeb")
    assert code == 1 and "mkeb.json record 2 field neighborhood_answers.fr: 1 answers for 2 prompts" in out


def test_validate_clean_file_exits_0(capsys, fixtures):
    code, out, _ = run(capsys, "data", "validate", str(fixtures / "bmike53" / "zsRE" / "zsre_test_de.json"),
                       "--format", "bmike53")
    assert code == 0 and "no problems" in out


def test_validate_malformed_input_never_a_traceback(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"example_id": 1, "edit": []}, 3, "x"', "utf-8")
    code, out, err = run(capsys, "data", "validate", str(bad), "--format", "mkeb")
    assert code == 1 and f"{bad}: not JSON" in out and "Traceback" not in out + err
    bad.write_text('[{"example_id": true, "edit": []}, 3, {"example_id": 2, "edit": {"xx": {}}, '
                   '"paraphrase_prompts": {}, "neighborhood_prompts": {}, "neighborhood_answers": {}}]', "utf-8")
    code, out, err = run(capsys, "data", "validate", str(bad), "--format", "mkeb")
    assert code == 1 and "Traceback" not in out + err
    assert f"{bad} record 0 field example_id: expected an int or string id, got True" in out
    assert f"{bad} record 1: expected an object, got int" in out
    assert f"{bad} record 2 field edit.xx: unknown language code 'xx'" in out


def test_bad_specs_and_formats_exit_2_with_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "data", "show", "nosuch:thing")
    assert code == 2 and err.startswith("polyedit: error: unknown dataset 'nosuch'") and err.count("\n") == 1
    code, _, err = run(capsys, "data", "validate", str(tmp_path), "--format", "nope")
    assert code == 2 and "unknown format 'nope'" in err
    code, _, err = run(capsys, "data", "validate", str(tmp_path / "missing.json"), "--format", "mkeb")
    assert code == 2 and "no such file or directory" in err
    code, _, err = run(capsys, "data", "stats", f"bmike53:zsre:dir={tmp_path / 'missing'}")
    assert code == 2 and "not a directory" in err


def test_validate_real_file_reports_the_published_defects(capsys, real_bmike53):
    he = real_bmike53 / "zsRE" / "zsre_test_he.json"
    code, out, _ = run(capsys, "data", "validate", str(he), "--format", "bmike53")
    assert code == 1 and out.count("no target-language block") == 39


def test_show_json_round_trips_through_the_jsonl_loader(capsys, fixtures, tmp_path):
    from polyedit.data.registry import load_dataset

    spec = f"bmike53:wikifactdiff:langs=af:dir={fixtures / 'bmike53'}"
    code, out, _ = run(capsys, "data", "show", spec, "--n", "3", "--json")
    path = tmp_path / "cases.jsonl"
    path.write_text(out, "utf-8")
    again = load_dataset(f"jsonl:{path}")
    assert code == 0 and [c.to_dict() for c in again.cases] == [c.to_dict() for c in load_dataset(spec).cases]
