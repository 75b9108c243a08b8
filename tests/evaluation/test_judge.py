"""The LLM-as-judge protocol: strict parsing, caching, unscored on junk or an unreachable judge, and the
whole path against `polyedit serve` on loopback (the plumbing; the judge's quality is not tested)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from polyedit.data.cases import Probe, make_case
from polyedit.errors import PolyeditError
from polyedit.evaluation.engine import evaluate
from polyedit.evaluation.judge import Judge, judge_evaluation, judge_prompt, parse_verdict
from polyedit.models.backend import Generation
from polyedit.models.openai_backend import OpenAIBackend, RetryPolicy

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.mark.parametrize("text,expected", [
    ("YES", 1.0), (" yes.", 1.0), ("No", 0.0), ("NO, because", 0.0), ("ＹＥＳ", 1.0),
    ("", None), ("maybe", None), ("The answer is yes", None), ("yesterday", None), ("是", None),
])
def test_verdicts_are_parsed_strictly(text, expected):
    assert parse_verdict(text) == expected


def test_prompt_names_language_gold_aliases_and_prediction():
    p = judge_prompt("東京は何の首都ですか？", "ja", "日本", ("Japan",), " Nippon")
    assert "Question (Japanese): 東京は何の首都ですか？" in p and "Gold answer: 日本" in p
    assert "Also accepted: Japan" in p and "Answer to grade: Nippon" in p and p.endswith("Verdict:")


class Replies:
    """A judge backend with fixed replies per prediction; counts prompts asked."""

    def __init__(self, replies, fail=False):
        self.replies, self.fail, self.prompts = replies, fail, []

    def generate(self, prompts, n, stop=()):
        if self.fail:
            raise PolyeditError("connection refused")
        self.prompts += prompts
        return [Generation(next(v for k, v in self.replies.items() if f"Answer to grade: {k}\n" in p), []) for p in prompts]


class Model:
    capabilities = frozenset({"generate"})

    def tokenize(self, text):
        return text.split()

    def generate(self, prompts, n, stop=()):
        return [Generation({"Bo lives in": " Oslo", "B": " Lima", "C": " Rom"}[p], []) for p in prompts]


def _evaluation():
    case = make_case("c", "en", "Bo", "Bo lives in", "Oslo", probes=[Probe("generality", "de", "B", "Oslo"),
                                                            Probe("portability", "fr", "C", "Europe")])
    return evaluate(Model(), [case], ["answer"])


def test_judged_metric_unscored_on_junk_and_cached(tmp_path):
    cache = tmp_path / "verdicts.jsonl"
    backend = Replies({"Oslo": "YES", "Lima": "NO", "Rom": "I think so"})
    judge = Judge(backend, "judge-model", cache)
    ev = _evaluation()
    judge_evaluation(ev, judge)
    a, b, c = ev.results
    assert a.metrics["judge_correct"] == 1.0 and b.metrics["judge_correct"] == 0.0
    assert "judge_correct" not in c.metrics and c.outputs["judge"] == ["I think so"]  # unscored, never wrong
    assert judge.unscored == 1 and ev.protocols["judge"]["judge_model"] == "judge-model"
    assert ev.protocols["judge"]["kind"] == "judged" and a.protocol_of["judge_correct"] == "judge"
    assert len(cache.read_text("utf-8").splitlines()) == 2  # junk is not cached
    again = Judge(Replies({"Oslo": "NO", "Lima": "NO", "Rom": "no"}), "judge-model", cache)
    ev2 = _evaluation()
    judge_evaluation(ev2, again)
    assert ev2.results[0].metrics["judge_correct"] == 1.0  # from the cache, not asked again
    assert len(again.backend.prompts) == 1 and ev2.results[2].metrics["judge_correct"] == 0.0
    other = Judge(Replies({"Oslo": "NO", "Lima": "NO", "Rom": "NO"}), "another-judge", cache)
    judge_evaluation(ev3 := _evaluation(), other)
    assert ev3.results[0].metrics["judge_correct"] == 0.0  # the cache is keyed by the judge model


def test_unreachable_judge_scores_nothing():
    judge = Judge(Replies({}, fail=True), "j")
    ev = _evaluation()
    judge_evaluation(ev, judge)
    assert not any("judge_correct" in r.metrics for r in ev.results) and judge.unscored == 3
    assert ev.results[0].outputs["judge"][0].startswith("<unreachable:")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_world(tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with open(log, "wb") as f:
        proc = subprocess.Popen([sys.executable, "-m", "polyedit.cli.main", "serve", "world:small", "--port", str(port)],
                                stdout=f, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"polyedit serve exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("polyedit serve did not start listening within 120 s")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow  # starts a server process with the world model
def test_judge_against_polyedit_serve_on_loopback(served_world, tmp_path, tiny_model_dirs):
    backend = OpenAIBackend(served_world, "world:small", logprobs=False, retry=RetryPolicy(max_retries=2, base_delay=0.2))
    cache = tmp_path / "cache.jsonl"
    judge = Judge(backend, "world:small", cache)
    prompts = [judge_prompt("Ana Lind wurde geboren in", "de", "Oslo", ("Christiania",), p) for p in ("Oslo", "Lima")]
    out = judge.verdicts(prompts)
    assert backend.requests_sent >= 1 and judge.asked == 2
    for verdict, raw in out:  # whatever the small model replies, it is parsed strictly, or unscored
        assert not raw.startswith("<unreachable") and verdict == parse_verdict(raw)
    assert judge.unscored == sum(v is None for v, _ in out)
    # a cached verdict is never asked again: seed the cache, count requests
    key = judge._key(prompts[0])
    cache.write_text(json.dumps({"key": key, "judge": "world:small", "verdict": "YES"}) + "\n", "utf-8")
    cached = Judge(backend, "world:small", cache)
    sent = backend.requests_sent
    assert cached.verdicts(prompts[:1]) == [(1.0, "YES")] and backend.requests_sent == sent
    # an unreachable judge: unscored, never wrong
    closed = OpenAIBackend(f"http://127.0.0.1:{_free_port()}/v1", "x", logprobs=False, retry=RetryPolicy(max_retries=0))
    assert Judge(closed, "x").verdicts(prompts[:1])[0][0] is None

    # the whole bench: the judge named in every record, samples show its replies
    from polyedit.cli.main import main

    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps(make_case("c0", "en", "Paris", "Paris is the capital of", "Spain").to_dict()) + "\n")
    hp = tmp_path / "hp.yaml"
    hp.write_text("lr: 0.05\nsteps: 1\nnorm_constraint: null\n")
    run = tmp_path / "run"
    assert main(["bench", "--model", str(tiny_model_dirs["llama"]), "--method", "ft-l", "--data", f"jsonl:{cases}",
                 "--out", str(run), "--hparams", str(hp), "--judge-url", served_world, "--judge-model", "world:small", "--judge-api", "completions",
                 "--no-cache"]) == 0
    rec = json.loads((run / "results.jsonl").read_text("utf-8").splitlines()[0])
    assert rec["protocols"]["judge"]["judge_model"] == "world:small" and rec["protocols"]["judge"]["kind"] == "judged"
    assert rec["protocols"]["judge"]["chat_template"] is False  # the judged answers' prompts: no template
    sample = json.loads((run / "samples.jsonl").read_text("utf-8").splitlines()[0])
    assert isinstance(sample["post"]["generated"]["judge"][0], str)
    assert ("judge_correct" in sample["post"]["metrics"]) == (parse_verdict(sample["post"]["generated"]["judge"][0]) is not None)
    summary = json.loads((run / "summary.json").read_text("utf-8"))
    assert summary["judge_unscored"]["post"] == sum(
        "judge_correct" not in json.loads(x)["post"]["metrics"] for x in (run / "samples.jsonl").read_text("utf-8").splitlines())
