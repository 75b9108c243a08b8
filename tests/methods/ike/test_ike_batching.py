"""Batched generation (left padding, sorted by length) gives exactly the one-at-a-time answers on in-context
prompts of very different lengths, and the IKE handle changes no weights."""

from __future__ import annotations

import pytest
import torch

from polyedit.data.cases import Probe, make_case
from polyedit.methods.ike.prompts import in_context_prompt


def _prompts():
    demo = ("Ana Lind was born in Oslo", "Wo wurde Ana Lind geboren?", "Oslo")
    out = []
    for n in (0, 1, 3, 8):
        for q in ("Где родился Бо?", "東京は日本の首都ですか？", "Where?"):
            out.append(in_context_prompt([demo] * n, "Bo Ek was born in", "Lima", q))
    return out


@pytest.mark.parametrize("family", ["llama", "qwen2", "bloom"])  # no learned positions: long prompts
def test_batched_generation_equals_one_at_a_time(tiny_model_dirs, family):
    from polyedit.models import load_model
    from polyedit.models.backend import HFBackend

    lm = load_model(str(tiny_model_dirs[family]))
    prompts = _prompts()
    batched = HFBackend(lm, batch_size=16).generate(prompts, 15, ('"',))
    single = [HFBackend(lm, batch_size=1).generate([p], 15, ('"',))[0] for p in prompts]
    assert [g.text for g in batched] == [g.text for g in single]
    assert [g.token_ids for g in batched] == [g.token_ids for g in single]


def test_ike_changes_no_weights(tiny_model_dirs):
    from polyedit.methods.base import get_method
    from polyedit.models import load_model

    lm = load_model(str(tiny_model_dirs["gpt2"]))
    before = {n: p.detach().clone() for n, p in lm.model.named_parameters()}
    case = make_case("c", "en", "Bo Ek", "Bo Ek was born in", "Lima",
                     probes=[Probe("reliability", "de", "Wo wurde Bo Ek geboren?", "Lima")])
    h = get_method("ike", {"setting": "zero_shot"}).apply_cases(lm, [case])
    assert h.transform_prompt(case.probes[1]) == (
        'New Fact: "Bo Ek was born in Lima"\nQuestion: "Wo wurde Bo Ek geboren?" Answer: "')
    h.restore()
    assert all(torch.equal(before[n], p) for n, p in lm.model.named_parameters())
