"""The chat backend: answer extraction on recorded chatty answers, the two chat protocols on a real IKE
prompt, and `polyedit bench --backend openai-chat|openai` end to end against `polyedit serve world:small` on
loopback (labels, the response cache counted at the server, the token ledger, settings as a local run's)."""

from __future__ import annotations

import json

import pytest

from polyedit.methods.ike.prompts import in_context_prompt
from polyedit.models.openai_backend_chat import ANSWER_ONLY, demo_turns, extract_answer, to_messages

IKE_PROMPT = in_context_prompt([("Ana Lind was born in Oslo", "Wo wurde Ana Lind geboren?", "Oslo"),
                                ("The capital of Peru is Lima", "Was ist die Hauptstadt Perus?", "Lima")],
                               "Bo Ek was born in", "Rome", "Wo wurde Bo Ek geboren?")
JA_PROMPT = in_context_prompt([], "Bo Ek was born in", "Tokyo", "ボー・エクはどこで生まれましたか？")

# replies recorded from chat models asked IKE questions (user_prompt protocol)
RECORDED = [
    ('"Rome"', IKE_PROMPT, "Rome"),
    ('Answer: "Rome"\n\nBo Ek was born in Rome, according to the new fact.', IKE_PROMPT, "Rome"),
    ("Rom.", IKE_PROMPT, "Rom"),
    ("Antwort: Rom", IKE_PROMPT, "Rom"),
    ("\n\n  Rome\n", IKE_PROMPT, "Rome"),
    ('Rome"', IKE_PROMPT, "Rome"),
    ("「東京」です。", JA_PROMPT, "東京"),
    ("東京。ボー・エクは東京で生まれました。", JA_PROMPT, "東京"),
    ("Washington, D.C.", IKE_PROMPT, "Washington, D.C."),
    ("12:30", IKE_PROMPT, "12:30"),
    ("答え：東京", JA_PROMPT, "東京"),
]


@pytest.mark.parametrize("reply,prompt,answer", RECORDED)
def test_answers_are_extracted_from_chatty_replies(reply, prompt, answer):
    assert extract_answer(reply, prompt, ('"',)) == answer


def test_demo_turns_put_demonstrations_in_turns_and_the_fact_in_the_system_message():
    messages = demo_turns(IKE_PROMPT, ('"',))
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert messages[0]["content"] == ANSWER_ONLY + '\nNew Fact: "Bo Ek was born in Rome"'
    assert messages[1]["content"] == ('New fact: "Ana Lind was born in Oslo"\n'
                                      'Question: "Wo wurde Ana Lind geboren?" Answer: "')
    assert [messages[2]["content"], messages[4]["content"]] == ["Oslo", "Lima"]
    assert messages[-1]["content"] == 'Question: "Wo wurde Bo Ek geboren?" Answer: "'
    # a prompt without demonstrations or fact (an unedited probe) is sent whole
    plain = "Bo Ek was born in"
    assert to_messages("demo_turns", plain, ('"',)) == to_messages("user_prompt", plain, ())
    assert to_messages("user_prompt", IKE_PROMPT, ()) == [{"role": "user", "content": IKE_PROMPT + "\n\n" + ANSWER_ONLY}]


class _Counted:
    """Counts what reaches the model behind `polyedit serve` (rows built from requests)."""

    def __init__(self, model):
        self.n = 0
        for name in ("chat_row", "completion_rows"):
            original = getattr(model, name)
            setattr(model, name, self._wrap(original))

    def _wrap(self, fn):
        def counted(*args, **kwargs):
            self.n += 1
            return fn(*args, **kwargs)
        return counted


@pytest.fixture(scope="module")
def world_server():
    from polyedit.models import load_model
    from polyedit.serve import CompletionModel, serve_in_thread

    model = CompletionModel(load_model("world:small", device="cpu"), "world:small")
    counter = _Counted(model)
    server, _ = serve_in_thread(model, "127.0.0.1", 0)
    yield f"{server.url}/v1", counter
    server.shutdown()
    server.server_close()


DATA = ["--data", "world:small", "--langs", "en,ja", "--limit", "1"]


def _bench(tmp_path, out, *args, method="ike"):
    from polyedit.cli.main import main

    return main(["bench", "--model", "world:small", "--method", method, *DATA, "--out", str(tmp_path / out),
                 "--api-cache", str(tmp_path / "api"), *args])


def _estimate() -> int:
    from polyedit.cli.bench_remote import estimate_tokens
    from polyedit.data.registry import load_dataset
    from polyedit.methods.base import get_method
    from polyedit.models.openai_backend_model import describe_model

    lm = describe_model("world:small")
    cases = [c.restrict(["en", "ja"]) for c in load_dataset("world:small").cases[:1]]
    return estimate_tokens(lm, get_method("ike", None, lm), cases, scoring=False, judged=False, new_tokens=16)


def _table(run) -> dict:
    summary = json.loads((run / "summary.json").read_text("utf-8"))
    return {k: summary[k] for k in ("per_language", "mean", "headline")}


def test_chat_bench_labels_every_metric_and_a_second_run_sends_nothing(world_server, tmp_path):
    """user_prompt here; demo_turns runs end to end in the ReMaKE test below."""
    protocol = "user_prompt"
    url, counter = world_server
    args = ["--backend", "openai-chat", "--base-url", url, "--chat-protocol", protocol,
            "--protocols", "answer,answer_locality,token_accuracy"]
    before = counter.n
    assert _bench(tmp_path, "one", *args) == 0
    sent = counter.n - before
    assert sent > 0
    rec = json.loads((tmp_path / "one" / "results.jsonl").read_text("utf-8").splitlines()[0])
    labels = [label for p in rec["probes"] for label in p["protocol"].values()]
    assert labels and all(label["chat_protocol"] == protocol and label["chat_template"] for label in labels)
    assert "token_accuracy" in rec["unavailable"]  # teacher-forced: unavailable on chat, never a zero
    assert all("token_accuracy" not in p["post"] for p in rec["probes"])
    summary = json.loads((tmp_path / "one" / "summary.json").read_text("utf-8"))
    ledger = summary["evaluation"]["ledger"][f"chat:{protocol}"]
    assert ledger["requests_sent"] == sent and ledger["requests_cached"] == 0 and ledger["prompt_tokens"] > 0
    assert "## API requests and tokens" in (tmp_path / "one" / "summary.md").read_text("utf-8")
    assert summary["evaluation"]["decoding"]["temperature"] == 0 and summary["evaluation"]["decoding"]["seed"] == 0
    # --max-api-tokens' estimate, made before sending, covers what the run used (and not wildly more)
    used = ledger["prompt_tokens"] + ledger["completion_tokens"]
    assert used <= _estimate() <= 2 * used

    before = counter.n  # the same run into a new folder: everything from the cache
    assert _bench(tmp_path, "two", *args) == 0
    assert counter.n == before
    assert _table(tmp_path / "one") == _table(tmp_path / "two")
    again = json.loads((tmp_path / "two" / "summary.json").read_text("utf-8"))["evaluation"]["ledger"]
    assert again[f"chat:{protocol}"]["requests_sent"] == 0 and again[f"chat:{protocol}"]["requests_cached"] == sent


def test_remake_over_chat_with_a_chat_judge(world_server, tmp_path):
    """ReMaKE's retrieved-fact prompt goes through the same generic conversion; the judge asks over chat (a
    judge prompt longer than the world model's context fails alone, unscored, and does not stop the run)."""
    url, _ = world_server
    assert _bench(tmp_path, "remake", "--backend", "openai-chat", "--base-url", url, "--chat-protocol", "demo_turns",
                  "--protocols", "answer", "--judge-url", url, "--judge-model", "world:small", method="remake") == 0
    rec = json.loads((tmp_path / "remake" / "results.jsonl").read_text("utf-8").splitlines()[0])
    assert {label["chat_protocol"] for p in rec["probes"] for label in p["protocol"].values()} == {"demo_turns"}
    assert rec["protocols"]["judge"]["judge_api"] == "chat"
    ledger = json.loads((tmp_path / "remake" / "summary.json").read_text("utf-8"))["evaluation"]["ledger"]
    assert ledger["chat:demo_turns"]["requests_sent"] > 0 and ledger["judge"]["requests_sent"] > 0


def test_remote_ike_resolves_and_scores_as_the_local_run(world_server, tmp_path):
    url, _ = world_server
    assert _bench(tmp_path, "remote", "--backend", "openai", "--base-url", url, "--no-cache") == 0
    assert _bench(tmp_path, "local", "--device", "cpu") == 0
    remote, local = (json.loads((tmp_path / r / "run.json").read_text("utf-8")) for r in ("remote", "local"))
    assert remote["hparams"] == local["hparams"] and remote["hparams"]["setting"] == "zero_shot"
    assert remote["hparams_source"] == local["hparams_source"] and remote["hparams_source"]["setting"] == "editing.yaml"
    assert remote["context"] == local["context"]
    a, b = _table(tmp_path / "remote"), _table(tmp_path / "local")
    assert a["per_language"].keys() == b["per_language"].keys()
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True) or a == pytest.approx(b)


NOWHERE = ["--base-url", "http://127.0.0.1:9/v1"]


@pytest.mark.parametrize("args,message", [
    (["--backend", "openai", *NOWHERE, "--chat-template"], "--chat-template: with --backend openai"),
    (["--backend", "openai-chat", *NOWHERE, "--max-api-tokens", "100"], "--max-api-tokens: 100: this run is estimated"),
    (["--backend", "openai-chat", *NOWHERE, "--chat-protocol", "poem"], "unknown chat protocol 'poem'"),
    (["--max-api-tokens", "100"], "--max-api-tokens: counts the tokens sent to an endpoint"),
])
def test_refused_in_one_line_before_anything_is_sent_or_written(tmp_path, capsys, args, message):
    assert _bench(tmp_path, "run", *args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()
