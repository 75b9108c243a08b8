"""OpenAIBackend against the real `polyedit serve` server on loopback, and against a tiny flaky server for
retries and errors. Every server binds 127.0.0.1 on an ephemeral port."""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from polyedit.data.cases import Probe, make_case
from polyedit.errors import PolyeditError
from polyedit.models.openai_backend import OpenAIBackend
from helpers.fast import FAST_RETRY

FAST = FAST_RETRY
SECRET = "sk-test-SECRET-0123456789"


@pytest.fixture(scope="module")
def served(tiny_model_dirs):
    from polyedit.models import load_model
    from polyedit.serve import CompletionModel, serve_in_thread

    lm = load_model(str(tiny_model_dirs["llama"]))
    # The server refuses prompts longer than the model's context (128 here); one-shot BMIKE prompts run to
    # ~250 tokens. Llama's rotary positions have no table, so a longer context is only this config value.
    lm.model.config.max_position_embeddings = 512
    server, thread = serve_in_thread(CompletionModel(lm, "tiny"), "127.0.0.1", 0)
    yield lm, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_scores_and_generations_match_the_local_backend(served):
    from polyedit.models.backend import HFBackend

    lm, url = served
    remote, local = OpenAIBackend(url + "/v1", "tiny", retry=FAST, batch_size=2, concurrency=2), HFBackend(lm)
    assert remote.capabilities == {"score", "generate"}
    reqs = [("The capital of France is", " Paris"), ("Москва — столица", " России"), ('Answer: "', "東京")]
    for r, h in zip(remote.score(reqs), local.score(reqs)):
        assert r.logprobs == pytest.approx(h.logprobs, abs=1e-4)
        assert len(r.target_ids) == len(h.target_ids)
    prompts = ['New Fact: "Bo Ek was born in Lima"\nQuestion: "Wo?" Answer: "', "The capital of", "東京は"]
    remote_texts = [g.text for g in remote.generate(prompts, 12, ('"',))]
    assert remote_texts == [g.text for g in local.generate(prompts, 12, ('"',))]


def test_bench_through_the_endpoint(served, tmp_path):
    from polyedit.data.registry import Dataset
    from polyedit.evaluation.runner import BenchConfig, run_bench
    from polyedit.methods.base import get_method

    _, url = served
    backend = OpenAIBackend(url, "tiny", retry=FAST)
    case = make_case("c1", "en", "Bo Ek", "Bo Ek was born in", "Lima",
                     probes=[Probe("reliability", "ru", "Где родился Бо Эк?", "Лима"),
                             Probe("locality", "ru", "Столица Франции?", "Париж")])
    cfg = BenchConfig(model="tiny", method="ike", data="inline", protocols=["bmike_em", "bmike_f1",
                      "language_fidelity", "token_accuracy"], hparams={"setting": "zero_shot"})
    method = get_method("ike", {"setting": "zero_shot"})
    summary = run_bench(None, method, Dataset("inline", [case]), tmp_path / "run", cfg, progress=False,
                        backend=backend)
    rec = json.loads((tmp_path / "run" / "results.jsonl").read_text().splitlines()[0])
    assert {"bmike_em", "bmike_f1", "token_accuracy"} <= set(rec["probes"][0]["post"])
    assert summary["n_cases"] == 1


def test_generate_only_endpoint_reports_probability_protocols_unavailable(served):
    from polyedit.evaluation.engine import evaluate

    _, url = served
    backend = OpenAIBackend(url, "tiny", retry=FAST, logprobs=False)
    case = make_case("c1", "en", "Bo Ek", "Bo Ek was born in", "Lima")
    ev = evaluate(backend, [case], ["bmike_em", "token_accuracy"])
    assert "token_accuracy" in ev.unavailable and "bmike_em" in ev.results[0].metrics
    assert backend.notes


class _Flaky(BaseHTTPRequestHandler):
    """Answers with the scripted statuses in turn, then 200; records Authorization headers it saw."""

    script: list[int] = []
    seen: list[str] = []
    delay = 0.0
    in_flight = 0
    max_in_flight = 0
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        cls.seen.append(self.headers.get("Authorization", ""))
        with cls.lock:
            cls.in_flight += 1
            cls.max_in_flight = max(cls.max_in_flight, cls.in_flight)
        time.sleep(cls.delay)
        with cls.lock:
            cls.in_flight -= 1
        status = cls.script.pop(0) if cls.script else 200
        if status == 200:
            n = len(body["prompt"]) if isinstance(body["prompt"], list) else 1
            payload = {"choices": [{"index": i, "text": 'Lima" tail', "logprobs": None} for i in range(n)]}
        else:
            payload = {"error": {"message": f"scripted {status}"}}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def flaky():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Flaky.script, _Flaky.seen, _Flaky.delay, _Flaky.max_in_flight = [], [], 0.0, 0
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_retries_on_429_and_5xx_then_succeeds(flaky, monkeypatch, caplog):
    monkeypatch.setenv("POLYEDIT_TEST_KEY", SECRET)
    backend = OpenAIBackend(flaky, "m", api_key_env="POLYEDIT_TEST_KEY", logprobs=False, retry=FAST)
    _Flaky.script = [429, 503, 500]
    with caplog.at_level(logging.DEBUG):
        out = backend.generate(["Q"], 5, ('"',))
    assert out[0].text == "Lima" and backend.requests_sent == 4
    assert _Flaky.seen == [f"Bearer {SECRET}"] * 4  # the key is sent ...
    assert "retry" in caplog.text and SECRET not in caplog.text  # ... and never logged
    assert SECRET not in repr(backend) and SECRET not in json.dumps(backend.describe())


def test_gives_up_after_bounded_retries(flaky):
    backend = OpenAIBackend(flaky, "m", logprobs=False, retry=FAST)
    _Flaky.script = [503] * 10
    with pytest.raises(PolyeditError, match="gave up after 4 attempts"):
        backend.generate(["Q"], 5)
    assert backend.requests_sent == 4


@pytest.mark.parametrize("status", [400, 401, 404])
def test_4xx_is_one_clear_error_without_retry(flaky, monkeypatch, status):
    monkeypatch.setenv("POLYEDIT_TEST_KEY", SECRET)
    backend = OpenAIBackend(flaky, "m", api_key_env="POLYEDIT_TEST_KEY", logprobs=False, retry=FAST)
    _Flaky.script = [status]
    with pytest.raises(PolyeditError, match=f"HTTP {status}.*scripted {status}") as info:
        backend.generate(["Q"], 5)
    assert backend.requests_sent == 1 and SECRET not in str(info.value)


def test_server_refuses_bad_requests(served):
    import urllib.error
    import urllib.request

    _, url = served
    req = urllib.request.Request(url + "/v1/completions", data=json.dumps(
        {"model": "other", "prompt": "x", "max_tokens": 1, "temperature": 0}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 404
    with pytest.raises(PolyeditError, match="HTTP 404"):
        OpenAIBackend(url, "other", retry=FAST)


def test_bad_base_url_is_refused():
    with pytest.raises(PolyeditError, match="http"):
        OpenAIBackend("localhost:8000", "m")


def test_serve_refuses_in_context_methods_and_applies_weight_edits(tiny_model_dirs, tmp_path):
    from polyedit.models import load_model
    from polyedit.serve import apply_edits

    case = make_case("c1", "en", "Bo Ek", "Bo Ek was born in", "Lima")
    path = tmp_path / "edits.jsonl"
    path.write_text(json.dumps(case.to_dict()) + "\n", "utf-8")
    lm = load_model(str(tiny_model_dirs["gpt2"]))
    with pytest.raises(PolyeditError, match="in context"):
        apply_edits(lm, path, "ike")
    before = {n: p.detach().clone() for n, p in lm.model.named_parameters()}
    assert apply_edits(lm, path, "ft-l") == 1
    assert any(not (before[n] == p).all() for n, p in lm.model.named_parameters())  # edited for serving


def test_bmike_metrics_through_the_endpoint_equal_local_ones(served):
    from polyedit.data.registry import load_dataset
    from polyedit.evaluation.engine import evaluate
    from polyedit.methods.base import get_method
    from polyedit.models.backend import HFBackend

    from helpers.requires import bmike53_root

    root = bmike53_root()
    lm, url = served
    cases = load_dataset(f"bmike53:counterfact:langs=ru,ja:dir={root}", limit=2).cases
    protocols = ["bmike_em", "bmike_f1", "token_f1", "language_fidelity", "token_accuracy"]
    method = get_method("ike", {"setting": "one_shot", "pool_dir": str(root)})
    for case in cases:
        h = method.apply_cases(None, [case])
        local = evaluate(HFBackend(lm), [case], protocols, h)
        remote = evaluate(OpenAIBackend(url, "tiny", retry=FAST), [case], protocols, h)
        for a, b in zip(local.results, remote.results):
            assert a.metrics == pytest.approx(b.metrics)


def test_concurrency_is_bounded(flaky):
    backend = OpenAIBackend(flaky, "m", logprobs=False, retry=FAST, concurrency=3, batch_size=1)
    _Flaky.delay = 0.05
    out = backend.generate([f"Q{i}" for i in range(12)], 5, ('"',))
    assert len(out) == 12 and backend.requests_sent == 12
    assert 1 < _Flaky.max_in_flight <= 3


def test_polyedit_serve_command_on_loopback(tiny_model_dirs):
    """The `polyedit serve` command itself, as a process: binds 127.0.0.1, answers the client."""
    import os
    import re
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1", "POLYEDIT_SERVE_KEY": SECRET}
    proc = subprocess.Popen([sys.executable, "-m", "polyedit.cli.main", "serve", str(tiny_model_dirs["llama"]),
                             "--port", "0", "--model-name", "tiny", "--api-key-env", "POLYEDIT_SERVE_KEY"],
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        url, lines = None, []
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"serving tiny at (http://127\.0\.0\.1:\d+)/v1/completions", line)
            url = m.group(1) if m else None
        assert url, "".join(lines)
        with pytest.raises(PolyeditError, match="HTTP 401"):  # the server wants the key
            OpenAIBackend(url, "tiny", api_key_env="POLYEDIT_NO_SUCH_VAR", retry=FAST)
        os.environ["POLYEDIT_SERVE_KEY"] = SECRET
        try:
            backend = OpenAIBackend(url, "tiny", api_key_env="POLYEDIT_SERVE_KEY", retry=FAST)
        finally:
            del os.environ["POLYEDIT_SERVE_KEY"]
        assert backend.capabilities == {"score", "generate"}
        assert len(backend.generate(["The capital of"], 4)) == 1
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        proc.stderr.close()
