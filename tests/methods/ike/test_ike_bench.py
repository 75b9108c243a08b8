"""`polyedit bench --method ike` end to end on a small sample of the real BMIKE-53 files."""

from __future__ import annotations

import json

import pytest

from helpers.requires import BMIKE53 as ROOT


@pytest.mark.usefixtures("bmike53_root")
def test_cli_bench_ike_on_bmike53(tiny_model_dirs, tmp_path, capsys):
    # llama: the rotary families of tests/helpers/tiny_models.py read 512 positions, enough for these prompts
    from polyedit.cli.main import main

    hp = tmp_path / "ike.yaml"
    hp.write_text(f"setting: one_shot\npool_dir: {ROOT}\n", "utf-8")
    out = tmp_path / "run"
    code = main(["bench", "--model", str(tiny_model_dirs["llama"]), "--method", "ike", "--data",
                 f"bmike53:zsre:langs=de,ru:dir={ROOT}", "--limit", "2", "--hparams", str(hp), "--out", str(out),
                 "--protocols", "bmike_em,bmike_f1,token_f1,language_fidelity,ppl_compare"])
    assert code == 0, capsys.readouterr().err
    records = [json.loads(x) for x in (out / "results.jsonl").read_text("utf-8").splitlines()]
    info = records[0]["info"]
    assert len(records) == 2 and {k: v for k, v in info.items() if k != "hparams"} == {"setting": "one_shot",
                                                                                        "pool": "zsre"}
    assert info["hparams"]["setting"] == "one_shot" and info["hparams"]["pool_dir"] == str(ROOT)  # what it ran with
    kinds = {(p["kind"], p["lang"]) for p in records[0]["probes"]}
    assert ("reliability", "ru") in kinds and ("portability", "de") in kinds
    post = records[0]["probes"][0]["post"]
    assert {"bmike_em", "bmike_f1", "token_f1"} <= set(post)
    assert 0.0 <= post["bmike_f1"] <= 1.0
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert set(summary["per_language"]) == {"de", "ru", "en"}  # the edit language is always probed
