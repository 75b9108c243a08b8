"""`pe.edit`, EasyEdit's one call: the getting-started page's example runs as printed, and the inputs are checked."""

import re
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[1] / "docs" / "getting-started.md"


def _example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text("utf-8"), re.S)
    found = [b for b in blocks if "pe.edit(" in b]
    assert len(found) == 1, "the getting-started page has one pe.edit example"
    return found[0]


def test_the_readme_example_runs_and_moves_the_edit(capsys):
    from polyedit.models.load import load_model

    before = {n: p.detach().clone() for n, p in load_model("world:small").model.named_parameters()}
    scope: dict = {}
    exec(compile(_example(), "getting-started.md", "exec"), scope)
    printed = capsys.readouterr().out
    summary, handle = scope["summary"], scope["handle"]
    head = summary["headline"]
    assert head["reliability"] == "answer_em"  # the generated-answer headline
    acc = {(lang, kind): {"pre": v[head[kind]]["pre"], "post": v[head[kind]]["post"]}
           for lang, kinds in summary["per_language"].items() for kind, v in kinds.items() if head[kind] in v}
    assert acc[("en", "reliability")] == {"pre": 0.0, "post": 1.0}
    assert acc[("de", "generality")]["post"] > acc[("de", "generality")]["pre"]
    assert set(summary["per_language"]) == {"en", "de", "fr", "zh"} and summary["n_cases"] == 1
    assert "en {'reliability': (0.0, 1.0)" in printed
    assert handle.restored  # the example restores the model...
    assert all(torch.equal(before[n], p) for n, p in handle.lm.model.named_parameters())  # ...bit for bit


def test_edits_stay_applied_until_restored_and_batches_chain(tmp_path):
    import polyedit as pe

    lm = pe.load_model("world:small")
    before = {n: p.detach().clone() for n, p in lm.model.named_parameters()}
    summary, handle = pe.edit(lm, "rome", ["Marusa Kaso is employed by", "Nanoro Bemone is employed by"],
                              ["Jorvell", "Kestrova"], subject=["Marusa Kaso", "Nanoro Bemone"],
                              ground_truth=["Corvalis", "Brennor"], out=tmp_path / "run")
    assert summary["n_cases"] == 2 and (tmp_path / "run" / "summary.json").is_file()
    assert any(not torch.equal(before[n], p) for n, p in lm.model.named_parameters())  # in place
    handle.restore()
    assert all(torch.equal(before[n], p) for n, p in lm.model.named_parameters())


@pytest.mark.parametrize("kwargs,message", [
    ({"target_new": ["A", "B"]}, "target_new has 2 entries for 1 prompts"),
    ({"subject": ["Nobody"]}, "does not contain its subject"),
    ({"locality_inputs": {"n": {"prompt": ["x"]}}}, "needs 'prompt' and 'ground_truth'"),
    ({"rephrase_prompts": [["a", "b"]], "rephrase_langs": [["en", "de", "fr"]]}, "3 languages for 2"),
    ({"lang": "xx"}, "xx"),
])
def test_bad_requests_are_one_line_errors(kwargs, message):
    from polyedit.data.requests import cases_from_requests
    from polyedit.errors import PolyeditError

    args = {"prompts": ["Ana Lind was born in"], "target_new": ["Oslo"], "subject": ["Ana Lind"]} | kwargs
    with pytest.raises(PolyeditError, match=re.escape(message)):
        cases_from_requests(args.pop("prompts"), args.pop("target_new"), **args)
