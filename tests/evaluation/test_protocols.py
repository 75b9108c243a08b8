"""Known-answer tests of the protocols on a scripted backend, and the engine's batching."""

import math

import pytest

from polyedit.data.cases import Probe, make_case
from polyedit.evaluation.engine import evaluate
from polyedit.evaluation.protocols import token_f1
from polyedit.models.backend import Generation, HFBackend, ScoreResult


class ScriptedBackend:
    """Answers from fixed tables; counts calls so batching can be checked."""

    capabilities = frozenset({"score", "generate"})

    def __init__(self, scores, generations=None):
        self.scores, self.generations = scores, generations or {}
        self.calls = {"score": 0, "generate": 0}

    def tokenize(self, text):
        return [ord(c) for c in text]

    def score(self, requests):
        self.calls["score"] += 1
        return [self.scores[r] for r in requests]

    def generate(self, prompts, max_new_tokens, stop=()):
        self.calls["generate"] += 1
        return [Generation(self.generations[p][:max_new_tokens], []) for p in prompts]


def S(target, argmax, logprobs):
    return ScoreResult(list(target), list(logprobs), list(argmax))


def test_token_accuracy_prob_compare_and_locality_known_answers():
    case = make_case("c", "en", "Ana", "Ana lives in", "Oslo", "Lima",
                     [Probe("locality", "de", "Bo wohnt in", "Rom")])
    scores = {
        ("Ana lives in", " Oslo"): S([1, 2], [1, 9], [-0.5, -3.0]),  # 1 of 2 tokens right
        ("Ana lives in", " Lima"): S([3], [3], [-1.0]),  # mean -1.0 > -1.75: old answer preferred
        ("Bo wohnt in", " Rom"): S([4, 5], [4, 5], [-0.1, -0.1]),
    }
    ev = evaluate(ScriptedBackend(scores), [case], ["token_accuracy", "prob_compare", "locality"])
    rel, loc = ev.results
    assert rel.metrics == {"token_accuracy": 0.5, "prob_compare": 0.0}
    assert loc.metrics["token_accuracy"] == 1.0 and loc.metrics["locality_accuracy"] == 1.0
    # after an "edit" that changes the locality prediction at one position:
    after = dict(scores)
    after[("Bo wohnt in", " Rom")] = S([4, 5], [4, 7], [-0.1, -2.0])
    ev2 = evaluate(ScriptedBackend(after), [case], ["locality"], reference=ev)
    assert ev2.results[1].metrics == {"locality_accuracy": 0.0, "locality_unchanged": 0.0}


def test_generation_exact_match_and_f1():
    case = make_case("c", "en", "Ana", "Ana lives in", "New Oslo")
    gens = {"Ana lives in": " New Lima and more"}
    ev = evaluate(ScriptedBackend({("Ana lives in", " New Oslo"): S([1], [1], [0.0])}, gens), [case], ["generation"])
    m = ev.results[0].metrics
    assert m["exact_match"] == 0.0
    want = token_f1([ord(c) for c in "New Lima"], [ord(c) for c in "New Oslo"])
    assert m["generation_token_f1"] == pytest.approx(want)
    assert token_f1([1, 2, 3], [1, 2, 3]) == 1.0 and token_f1([1], [2]) == 0.0
    assert token_f1([1, 1, 2], [1, 2, 2]) == pytest.approx(2 / 3)


def test_generation_and_bmike_token_f1_together_keep_both_values_under_their_own_names():
    # the two protocols cut the same continuation differently (BMIKE-53 at '"', raw; generation at the gold's
    # length, stripped), so their F1s differ; each is kept, labelled with the protocol that produced it
    case = make_case("c", "en", "Ana", "Ana lives in", "New Oslo")
    gens = {"Ana lives in": ' New Oslo" and'}
    backend = ScriptedBackend({("Ana lives in", " New Oslo"): S([1], [1], [0.0])}, gens)
    r = evaluate(backend, [case], ["generation", "token_f1"]).results[0]
    assert r.metrics["token_f1"] == pytest.approx(token_f1([ord(c) for c in " New Oslo"], [ord(c) for c in "New Oslo"]))
    assert r.metrics["generation_token_f1"] == 1.0
    assert r.metrics["token_f1"] != r.metrics["generation_token_f1"]
    assert r.protocol_of["token_f1"] == "token_f1" and r.protocol_of["generation_token_f1"] == "generation"
    r2 = evaluate(backend, [case], ["token_f1", "generation"]).results[0]  # the order changes nothing
    assert r2.metrics == r.metrics and r2.protocol_of == r.protocol_of


def test_a_protocol_may_emit_only_the_metrics_it_registered(monkeypatch):
    from polyedit.errors import PolyeditError
    from polyedit.evaluation.protocols import get_protocol

    proto = get_protocol("generation")
    monkeypatch.setattr(proto, "score", lambda probe, res, ctx: {"token_f1": 1.0})  # BMIKE-53's name
    case = make_case("c", "en", "Ana", "Ana lives in", "Oslo")
    backend = ScriptedBackend({("Ana lives in", " Oslo"): S([1], [1], [0.0])}, {"Ana lives in": " Oslo"})
    with pytest.raises(PolyeditError, match="protocol generation emitted token_f1, which it did not register"):
        evaluate(backend, [case], ["generation"])


def test_every_metric_is_registered_once_with_its_producer():
    from polyedit.evaluation.metrics import METRICS
    from polyedit.evaluation.protocols import PROTOCOLS

    for name, proto in PROTOCOLS.items():
        assert proto.metrics, name
        for m in proto.metrics:
            assert METRICS.get(m).protocol == name
    assert METRICS.get("judge_correct").protocol == "judge"
    heads = {m for m, metric in METRICS.items() if metric.heads}
    assert "token_accuracy" not in heads and "answer_em" in heads and METRICS.get("answer_unchanged").heads == (
        "locality",)


def test_all_probes_of_a_case_go_in_one_backend_call():
    probes = [Probe(k, lang, f"{k} {lang} Ana", "Oslo", "Lima")
              for k in ("generality", "portability") for lang in ("de", "fr", "zh")]
    case = make_case("c", "en", "Ana", "Ana lives in", "Oslo", "Lima", probes)

    class Any(dict):
        def __missing__(self, key):
            return S([1], [1], [-1.0])

    be = ScriptedBackend(Any())
    evaluate(be, [case], ["token_accuracy", "prob_compare"])
    assert be.calls == {"score": 1, "generate": 0}


def test_hf_backend_batched_equals_one_at_a_time(tiny_lm):
    reqs = [("The capital of France is", " Paris"), ("巴黎是", "法国"), ("Berlin ist", " die Hauptstadt"),
            ("x", " y z w v")]
    batched = HFBackend(tiny_lm, batch_size=8).score(reqs)
    single = [HFBackend(tiny_lm, batch_size=1).score([r])[0] for r in reqs]
    for b, s in zip(batched, single):
        assert b.target_ids == s.target_ids and b.argmax_ids == s.argmax_ids
        assert all(math.isclose(x, y, abs_tol=1e-4) for x, y in zip(b.logprobs, s.logprobs))
    prompts = ["The capital", "巴黎是法国", "Berlin ist die Hauptstadt von"]
    gb = HFBackend(tiny_lm, batch_size=8).generate(prompts, 5)
    gs = [HFBackend(tiny_lm, batch_size=1).generate([p], 5)[0] for p in prompts]
    assert [g.token_ids for g in gb] == [g.token_ids for g in gs]


def test_locality_unchanged_when_the_prompt_is_rewritten():
    """In-context methods rewrite the prompt; the answer then tokenises differently (no leading space)."""
    case = make_case("c", "en", "Ana", "Ana lives in", "Oslo", None, [Probe("locality", "de", "Bo wohnt in", "Rom")])

    class Rewrite:
        def transform_prompt(self, probe):
            return f'New Fact: "Ana lives in Oslo"\nQuestion: "{probe.prompt}" Answer: "'

        def stop_strings(self):
            return ('"',)

    ctx = 'New Fact: "Ana lives in Oslo"\nQuestion: "Bo wohnt in" Answer: "'
    pre = {("Bo wohnt in", " Rom"): S([4, 5], [4, 5], [-0.1, -0.1]), ("Ana lives in", " Oslo"): S([1], [1], [0.0])}
    ev = evaluate(ScriptedBackend(pre), [case], ["locality"])
    for argmax, expected in (([6], 1.0), ([7], 0.0)):
        post = {(ctx, "Rom"): S([6], argmax, [-0.1]),
                ('New Fact: "Ana lives in Oslo"\nQuestion: "Ana lives in" Answer: "', "Oslo"): S([1], [1], [0.0])}
        ev2 = evaluate(ScriptedBackend(post), [case], ["locality"], handle=Rewrite(), reference=ev)
        assert ev2.results[1].metrics["locality_unchanged"] == expected
