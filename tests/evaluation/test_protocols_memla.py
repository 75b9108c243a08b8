"""MEMLA's scores: token-set F1 of a greedy answer as long as the gold one, and total-probability
comparison; known values computed by hand from the definitions in jiakuan01/memla4mke utils/evaluator.py."""

import zlib

import pytest

from polyedit.data.cases import Probe
from polyedit.evaluation.protocols import ProbeContext, get_protocol, protocol_names
from polyedit.evaluation.protocols_memla import token_set_f1
from polyedit.models.backend import Generation, ScoreResult


def tokenize(text: str) -> list[int]:
    # a toy tokenizer: one id per whitespace-separated word, the leading space marks a word start
    return [zlib.crc32(w.encode()) for w in text.split()]  # deterministic, unlike hash()


def test_token_set_f1_is_over_sets():
    assert token_set_f1([1, 2, 3], [1, 2, 3]) == 1.0
    assert token_set_f1([], [1]) == 0.0 and token_set_f1([4], [1]) == 0.0
    # sets: the repeated 1 counts once -> P = 1/2, R = 1/2
    assert token_set_f1([1, 1, 5], [1, 2]) == pytest.approx(0.5)
    # P = 2/3, R = 2/4 -> F1 = 4/7
    assert token_set_f1([1, 2, 9], [1, 2, 3, 4]) == pytest.approx(4 / 7)


def test_registered_and_needs_follow_memla():
    assert {"token_set_f1", "prob_compare_total"} <= set(protocol_names())
    f1 = get_protocol("token_set_f1")
    ctx = ProbeContext(tokenize, stop=("\n",), max_new_tokens=50)
    loc = Probe("locality", "en", "The capital of Peru is", "Lima de Peru")
    needs = f1.needs(loc, loc.prompt, ctx)
    assert needs.generate == (("The capital of Peru is", 3, ("\n",)),)  # as long as the gold, not 50
    assert f1.needs(Probe("reliability", "en", "p", "a", "b"), "p", ctx) is None  # ES/PS use probabilities
    port = Probe("portability", "zh", "首都是", "利马")
    assert f1.needs(port, port.prompt, ctx).generate[0][1] == 1
    out = f1.score(loc, [Generation(" Lima de Lima", tokenize(" Lima de Lima"))], ctx)
    assert out == {"token_set_f1": pytest.approx(2 * (2 / 2) * (2 / 3) / (2 / 2 + 2 / 3))}


def test_prob_compare_total_uses_products_not_means():
    pc = get_protocol("prob_compare_total")
    ctx = ProbeContext(tokenize)
    probe = Probe("generality", "en", "Danny Green is a citizen of", "Canada", "the United States")
    needs = pc.needs(probe, probe.prompt, ctx)
    assert needs.score == (("Danny Green is a citizen of", " Canada"),
                           ("Danny Green is a citizen of", " the United States"))
    new = ScoreResult([1], [-2.0], [1])  # p = e^-2
    old = ScoreResult([2, 3, 4], [-0.9, -0.9, -0.9], [2, 3, 4])  # mean -0.9 beats -2, product e^-2.7 does not
    assert pc.score(probe, [new, old], ctx) == {"prob_compare_total": 1.0}
    assert get_protocol("prob_compare").score(probe, [new, old], ctx) == {"prob_compare": 0.0}
    assert pc.needs(Probe("locality", "en", "p", "a", "b"), "p", ctx) is None
    assert pc.needs(Probe("reliability", "en", "p", "a"), "p", ctx) is None  # no old answer to compare


def test_end_to_end_on_a_tiny_model_through_the_engine(tmp_path, fixtures):
    """An MKEB case scored by MEMLA's protocols through the real engine and a tiny random model, checked
    against the backend's own scores and greedy continuations."""
    from helpers.tiny_models import build_tiny_model

    from polyedit.data.registry import load_dataset
    from polyedit.evaluation.engine import evaluate
    from polyedit.models import load_model
    from polyedit.models.backend import HFBackend

    backend = HFBackend(load_model(str(build_tiny_model("gpt2", tmp_path / "gpt2"))), batch_size=8)
    ds = load_dataset(f"mkeb:{fixtures / 'mkeb.json'}:langs=en", limit=1)
    ev = evaluate(backend, ds.cases, ds.protocols)
    assert not ev.unavailable and len(ev.results) == 6
    compared = [r for r in ev.results if r.probe.kind in ("reliability", "generality")]
    generated = [r for r in ev.results if r.probe.kind in ("locality", "portability")]
    assert len(compared) == 3 and all(set(r.metrics) == {"prob_compare_total"} for r in compared)
    assert len(generated) == 3 and all(set(r.metrics) == {"token_set_f1"} for r in generated)
    scores = backend.score([(r.probe.prompt, " " + a) for r in compared for a in (r.probe.answer, r.probe.answer_true)])
    for r, new, old in zip(compared, scores[::2], scores[1::2]):
        assert r.metrics["prob_compare_total"] == float(sum(new.logprobs) > sum(old.logprobs))
    for r in generated:
        gold = backend.tokenize(" " + r.probe.answer)
        greedy = backend.generate([r.probe.prompt], len(gold))[0]
        assert r.metrics["token_set_f1"] == pytest.approx(token_set_f1(greedy.token_ids, gold))
