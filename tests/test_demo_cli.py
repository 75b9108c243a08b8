"""`polyedit demo`: the model names its dataset, and the heatmap's method is chosen by the results, never by
a list of method names."""

import json


def test_demo_pairs_the_model_with_the_dataset_it_names(tmp_path, capsys):
    from polyedit.cli.main import main
    from polyedit.models.load import default_dataset, world_checkpoint

    assert default_dataset(str(world_checkpoint("small"))) == "world:small"  # its dataset.txt
    out = tmp_path / "demo"
    rc = main(["demo", "--methods", "ft-m,ike", "--cases", "2", "--matrix-cases", "1", "--out", str(out)])
    assert rc in (None, 0)
    text = capsys.readouterr().out
    assert "== ft-m: 2 English edits, probes in 12 languages" in text
    assert "== ft-m: 1 edits made in each language" in text  # the one weight editor of the two
    summaries = json.loads((out / "summaries.json").read_text("utf-8"))
    assert set(summaries) == {"ft-m", "ike"} and (out / "matrix" / "ft-m" / "de" / "summary.json").is_file()


def test_demo_refuses_a_model_that_names_no_dataset(tiny_model_dirs, tmp_path, capsys):
    from polyedit.cli.main import main

    rc = main(["demo", "--model", str(tiny_model_dirs["llama"]), "--methods", "ft-m", "--out", str(tmp_path / "d")])
    assert rc == 2 and "names no dataset" in capsys.readouterr().err and not (tmp_path / "d").exists()
