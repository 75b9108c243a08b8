"""The context rule (`polyedit.models.context`) on world:small (256 positions) applies to prompts as the model
reads them: an in-context (IKE) prompt is measured with its new fact and demonstrations, in a run (the case
is skipped, counted and the rule recorded) and through the Python API (refused with one line); a weight
method's direct `apply` refuses an over-long edit before it changes a weight."""

import json

import pytest
import torch
from helpers.requires import world_checkpoint

from polyedit.data.cases import make_case
from polyedit.data.dataset import Dataset
from polyedit.errors import PolyeditError
from polyedit.models.context import n_tokens

# about 150 tokens of world:small's tokenizer: the prompt with its answer fits in 256 positions, but IKE's
# prompt states it twice (the new fact, then the question) and does not
PADDING = "and so on " * 25


@pytest.fixture(scope="module")
def lm():
    world_checkpoint("small")
    from polyedit.models.load import load_model

    return load_model("world:small")


def _cases():
    short = make_case("short", "en", "Marusa Kaso", "Marusa Kaso is employed by", "Jorvell", "Corvalis")
    long = make_case("long", "en", "Marusa Kaso", f"Marusa Kaso, {PADDING}is employed by", "Jorvell", "Corvalis")
    return short, long


def test_the_long_case_fits_as_written_but_not_rewritten(lm):
    from polyedit.methods.base import get_method

    _, long = _cases()
    ike = get_method("ike", {"setting": "zero_shot"}, lm)
    assert n_tokens(lm, long.edit.prompt + " Jorvell") < 256
    assert max(n_tokens(lm, t) for t in ike.texts_read(lm, long)) > 256


def test_a_run_skips_a_case_whose_in_context_prompt_is_too_long_and_records_why(lm, tmp_path):
    from polyedit.api import bench

    s = bench(lm, "ike", "mem", tmp_path / "o", dataset=Dataset("mem", list(_cases())), progress=False,
              hparams={"setting": "zero_shot"}, protocols=["bmike_em"])
    assert s["n_cases"] == 1 and s["skipped"] == {"longer than the model's context (256 tokens)": 1}
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    assert run["cases"] == ["short"] and run["context"]["max_positions"] == 256
    assert "after the method's rewrite" in run["context"]["rule"]


def test_the_python_api_refuses_an_over_long_in_context_prompt(lm):
    import polyedit as pe

    _, long = _cases()
    handle = pe.get_method("ike", {"setting": "zero_shot"}).apply(lm, [long.edit])
    with pytest.raises(PolyeditError, match=r"in-context prompt of the reliability probe \(en\) .* the model reads "
                                            r"at most 256"):
        handle.transform_prompt(long.probes[0])
    with pytest.raises(PolyeditError, match="the model reads at most 256"):
        pe.evaluate(lm, [long], protocols=["bmike_em"], handle=handle)
    short, _ = _cases()  # a prompt that fits is rewritten as before
    assert pe.get_method("ike", {"setting": "zero_shot"}).apply(lm, [short.edit]).transform_prompt(
        short.probes[0]).startswith('New Fact: "Marusa Kaso is employed by Jorvell"')


def test_a_direct_apply_refuses_an_over_long_edit_before_changing_weights(lm):
    import polyedit as pe

    edit = make_case("x", "en", "Marusa Kaso", f"Marusa Kaso, {PADDING * 2}is employed by", "Jorvell").edit
    before = {n: p.detach().clone() for n, p in lm.model.named_parameters()}
    for method in ("ft-l", "rome"):
        with pytest.raises(PolyeditError, match=r"edit .* tokens .*the model reads at most 256"):
            pe.get_method(method).apply(lm, [edit])
    assert all(torch.equal(p, before[n]) for n, p in lm.model.named_parameters())
