"""`polyedit serve` loads and unloads LoRA adapters at run time with vLLM's routes, and answers a request that
names an adapter as its `model` with that adapter's edit (world:small, on loopback)."""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request

import pytest

from polyedit.data.registry import load_dataset
from polyedit.methods import get_method
from polyedit.methods.adapter import write_adapter
from polyedit.models import load_model
from polyedit.serve import CompletionModel, serve_in_thread

QUICK = {"stats_corpus": "identity", "prefixes": 2, "prefix_tokens": 4, "v_steps": 10}  # method_cases.py's


def _post(url: str, body: dict) -> tuple[int, str]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _complete(url: str, model: str, prompt: str) -> str:
    status, text = _post(url + "/v1/completions", {"model": model, "prompt": prompt, "max_tokens": 4,
                                                   "temperature": 0})
    assert status == 200, text
    answer = json.loads(text)
    assert answer["model"] == model
    return answer["choices"][0]["text"]


@pytest.fixture(scope="module")
def two_edits(tmp_path_factory):
    """One fact edited to two other targets, each written as an adapter: {name: (folder, edited answer)}. The
    targets are the first two (of other facts' answers) whose quick ROME edit changes the model's answer."""
    lm = load_model("world:small")
    cases = load_dataset("world:small").cases
    prompt = cases[0].edit.prompt
    root, answers, seen = tmp_path_factory.mktemp("adapters"), {}, {_greedy(lm, prompt)}
    for target in dict.fromkeys(c.edit.target_new for c in cases[1:]):
        name = ("first", "second")[len(answers)]
        with get_method("rome", QUICK).apply(lm, [dataclasses.replace(cases[0].edit, target_new=target)]) as handle:
            answer = _greedy(lm, prompt)
            if answer not in seen:
                answers[name] = write_adapter(handle, root / name, "rome"), answer
                seen.add(answer)
        if len(answers) == 2:
            return lm, prompt, answers
    raise AssertionError("no two quick ROME edits changed the answer")


def _greedy(lm, prompt: str) -> str:
    from polyedit.models.backend import HFBackend

    return HFBackend(lm).generate([prompt], 4)[0].text


def test_two_adapters_loaded_at_run_time_answer_by_name(two_edits):
    lm, prompt, answers = two_edits
    base_answer = _greedy(lm, prompt)
    server, thread = serve_in_thread(CompletionModel(lm, "world:small"))
    url = server.url
    try:
        for name, (path, _) in answers.items():
            assert _post(url + "/v1/load_lora_adapter", {"lora_name": name, "lora_path": str(path)}) == (
                200, f"Success: LoRA adapter '{name}' added successfully.")
        models = json.loads(urllib.request.urlopen(url + "/v1/models").read())["data"]
        assert [m["id"] for m in models] == ["world:small", "first", "second"]
        served = {name: _complete(url, name, prompt) for name in answers}
        assert served == {name: answer for name, (_, answer) in answers.items()}  # each its own edit's answer
        assert len({served["first"], served["second"], base_answer}) == 3  # two edits, two new answers
        assert _complete(url, "world:small", prompt) == base_answer  # the base model is untouched
        assert _post(url + "/v1/unload_lora_adapter", {"lora_name": "first"})[0] == 200
        assert _post(url + "/v1/completions", {"model": "first", "prompt": prompt})[0] == 404
        assert _complete(url, "second", prompt) == served["second"]
        assert _post(url + "/v1/unload_lora_adapter", {"lora_name": "second"})[0] == 200
    finally:
        server.shutdown()
        server.server_close()
    assert not any("lora" in n for n, _ in lm.model.named_parameters())  # the plain model again
    assert _greedy(lm, prompt) == base_answer


def test_bad_adapter_requests_get_vllms_statuses(two_edits, tmp_path):
    lm, _, answers = two_edits
    server, thread = serve_in_thread(CompletionModel(lm, "world:small"))
    load, unload = server.url + "/v1/load_lora_adapter", server.url + "/v1/unload_lora_adapter"
    path = str(answers["first"][0])
    try:
        assert _post(load, {"lora_name": "a"})[0] == 400  # lora_path missing
        assert _post(load, {"lora_name": "a", "lora_path": str(tmp_path)})[0] == 404  # no adapter there
        assert _post(load, {"lora_name": "world:small", "lora_path": path})[0] == 400  # the base model's name
        assert _post(load, {"lora_name": "a", "lora_path": path})[0] == 200
        status, text = _post(load, {"lora_name": "a", "lora_path": path})
        assert status == 400 and "already been loaded" in json.loads(text)["error"]["message"]
        status, text = _post(unload, {"lora_name": "b"})
        assert status == 404 and "cannot be found" in json.loads(text)["error"]["message"]
        assert _post(unload, {"lora_name": "a", "extra": 1})[0] == 400
        assert _post(unload, {"lora_name": "a"})[0] == 200
    finally:
        server.shutdown()
        server.server_close()
