"""Ctrl-C anywhere inside an edit leaves the model as it was: every registered method's bare `apply` and
`pe.edit` (each request scored, then all applied and kept) are interrupted at a seeded random forward pass
(a KeyboardInterrupt raised by a hook at the k-th call), and the weights, buffers, trainable flags and
hooks are bit-identical afterwards. `pe.edit` of a method without batch editing is also interrupted while
applying its second request, when the first is already in the model."""

from __future__ import annotations

import random
from contextlib import contextmanager

import pytest
import torch

import polyedit as pe
import polyedit.api as api
from polyedit.data.cases import make_case
from polyedit.errors import PolyeditError
from polyedit.methods import get_method, method_names

REQUEST = dict(prompts=["Marusa Kaso is employed by"], target_new=["Jorvell"], subject=["Marusa Kaso"],
               ground_truth=["Corvalis"], protocols=["prob_compare"])
TWO = dict(prompts=["Marusa Kaso is employed by", "Nanoro Bemone is employed by"], target_new=["Jorvell", "Kestrova"],
           subject=["Marusa Kaso", "Nanoro Bemone"], ground_truth=["Corvalis", "Brennor"], protocols=["prob_compare"])


@pytest.fixture(scope="module")
def case():
    return make_case("c1", "en", "Marusa Kaso", "Marusa Kaso is employed by", "Jorvell", target_true="Corvalis")


@pytest.fixture(scope="module")
def lm(case):
    """world:small, every method applied once: what they compute once and keep (C = KKᵀ) is computed here, so
    a counted run and the interrupted run after it take the same forward passes."""
    lm = pe.load_model("world:small")
    for method in method_names():
        _apply(lm, method, case).restore()
    return lm


def snapshot(lm) -> dict:
    """Everything an edit may leave behind: every tensor's bytes, every trainable flag, every hook."""
    return {"state": {k: v.detach().clone() for k, v in lm.model.state_dict().items()},
            "grad": {n: p.requires_grad for n, p in lm.model.named_parameters()},
            "hooks": [(n, len(m._forward_hooks), len(m._forward_pre_hooks)) for n, m in lm.model.named_modules()]}


def assert_unchanged(lm, before: dict) -> None:
    now = snapshot(lm)
    assert now["state"].keys() == before["state"].keys()
    changed = [k for k, v in now["state"].items() if not torch.equal(v, before["state"][k])]
    assert not changed, f"changed after the interrupt: {changed[:3]}"
    assert now["grad"] == before["grad"] and now["hooks"] == before["hooks"]


@contextmanager
def counting(lm, interrupt_at: int | None = None):
    """Counts the model's forward passes; raises KeyboardInterrupt at the `interrupt_at`-th."""
    calls = [0]

    def hook(*_):
        calls[0] += 1
        if calls[0] == interrupt_at:
            raise KeyboardInterrupt

    h = lm.model.register_forward_pre_hook(hook)
    try:
        yield calls
    finally:
        h.remove()


def _apply(lm, method, case):
    m = get_method(method, None, lm)
    return m.apply(lm, [case.edit]) if method not in {"memla", "memla-independent", "memla-random",
                                                          "memla-specific", "memla-lora"} else m.apply_cases(lm, [case])


@pytest.fixture
def forward_passes(lm, monkeypatch):
    """A function method -> (forward passes of `pe.edit` with one request, of its final application alone),
    from one uninterrupted run; the model is restored after it."""
    def count(method):
        scored = []
        real_bench = api.bench

        def bench(*a, **kw):  # the passes spent scoring: the final application comes after them
            out = real_bench(*a, **kw)
            scored.append(calls[0])
            return out

        monkeypatch.setattr(api, "bench", bench)
        with counting(lm) as calls:
            pe.edit(lm, method, **REQUEST).handle.restore()
        monkeypatch.setattr(api, "bench", real_bench)
        return calls[0], calls[0] - scored[0]

    return count


@pytest.mark.parametrize("method", method_names())
def test_apply_and_pe_edit_interrupted_at_random_forward_passes_restore_everything(method, lm, case, forward_passes):
    before = snapshot(lm)
    total, applying = forward_passes(method)
    assert_unchanged(lm, before)
    rng = random.Random(method)
    if applying:  # in-context editors run no forward pass while applying: nothing to interrupt
        with pytest.raises(KeyboardInterrupt), counting(lm, rng.randint(1, applying)):
            _apply(lm, method, case)
        assert_unchanged(lm, before)
    with pytest.raises(KeyboardInterrupt), counting(lm, rng.randint(1, total)):
        pe.edit(lm, method, **REQUEST)
    assert_unchanged(lm, before)


@pytest.mark.parametrize("method", ["rome", "memla"])
def test_pe_edit_interrupted_in_the_second_final_application_undoes_the_first(method, lm, monkeypatch):
    """Methods without batch editing apply the requests one after another once scored: an interrupt in the
    second leaves the first in the model unless the chain is undone as a whole."""
    before = snapshot(lm)
    scored, real_bench = [], api.bench

    def bench(*a, **kw):  # the forward passes spent scoring: the final application comes after them
        out = real_bench(*a, **kw)
        scored.append(calls[0])
        return out

    monkeypatch.setattr(api, "bench", bench)
    with counting(lm) as calls:
        pe.edit(lm, method, **TWO).handle.restore()
    first = get_method(method, None, lm)
    with counting(lm) as one:
        _apply(lm, method, make_case("c1", "en", TWO["subject"][0], TWO["prompts"][0], TWO["target_new"][0],
                                     target_true=TWO["ground_truth"][0])).restore()
    k = random.Random(f"second {method}").randint(scored[0] + one[0] + 1, calls[0])
    assert first.supports_batch is False
    with pytest.raises(KeyboardInterrupt), counting(lm, k) as calls:
        pe.edit(lm, method, **TWO)
    assert_unchanged(lm, before)


def test_lora_failing_mid_training_does_not_merge_the_partial_adapter(lm, case, monkeypatch):
    """The only method that merged what it had trained when its optimisation failed."""
    import polyedit.methods.lora.lora as lora

    before = snapshot(lm)

    def failing(model, params, *a, **kw):
        with torch.no_grad():
            for p in params:
                p.add_(0.5)  # the adapter has moved: merging it now would change the weights
        raise RuntimeError("optimisation failed")

    monkeypatch.setattr(lora, "fit_adam", failing)
    with pytest.raises(RuntimeError, match="optimisation failed"):
        get_method("lora", None, lm).apply(lm, [case.edit])
    assert_unchanged(lm, before)


def test_pe_edit_without_a_language_is_one_clear_error(lm):
    with pytest.raises(PolyeditError, match="lang"):
        pe.edit(lm, "rome", **{**REQUEST, "protocols": None}, lang=None)
