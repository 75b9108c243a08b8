"""`polyedit demo`: the model names its dataset, and the heatmap's method is chosen by the results, never by
a list of method names."""

import json


def test_demo_pairs_the_model_with_the_dataset_it_names(tmp_path, capsys):
    from polyedit.cli.main import main
    from polyedit.models.load import default_dataset, world_checkpoint

    assert default_dataset(str(world_checkpoint("medium"))) == "world:medium"  # its dataset.txt
    out = tmp_path / "demo"
    rc = main(["demo", "--methods", "ft-m,ike", "--cases", "2", "--matrix-cases", "1", "--out", str(out)])
    assert rc in (None, 0)
    text = capsys.readouterr().out
    assert "== ft-m: 2 English edits, probes in 12 languages" in text
    assert "== ft-m: 1 edits made in each language" in text  # the one weight editor of the two
    summaries = json.loads((out / "summaries.json").read_text("utf-8"))
    assert set(summaries) == {"ft-m", "ike"} and (out / "matrix" / "ft-m" / "de" / "summary.json").is_file()
    # the default model is world:medium, reported on its test split only (settings are tuned on dev)
    run = json.loads((out / "ft-m" / "run.json").read_text("utf-8"))
    assert run["config"]["model"] == "world:medium" and run["config"]["data"] == "world:medium:split=test"
    from polyedit.data.registry import load_dataset

    test_ids = {c.case_id for c in load_dataset("world:medium:split=test").cases}
    done = [json.loads(line)["case_id"] for line in (out / "ft-m" / "results.jsonl").read_text("utf-8").splitlines()]
    assert done and set(done) <= test_ids


def test_demo_refuses_a_model_that_names_no_dataset(tiny_model_dirs, tmp_path, capsys):
    from polyedit.cli.main import main

    rc = main(["demo", "--model", str(tiny_model_dirs["llama"]), "--methods", "ft-m", "--out", str(tmp_path / "d")])
    assert rc == 2 and "names no dataset" in capsys.readouterr().err and not (tmp_path / "d").exists()
