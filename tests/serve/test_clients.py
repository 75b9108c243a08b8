"""`polyedit serve world:small` with the clients people already use, on loopback: the official `openai` SDK
(string and token-id prompts, loglikelihoods by echo, chat, streaming refused) and lm-eval's
`local-completions` (default model_args: it sends token ids) and `local-chat-completions`, on a small task
YAML built from the world's facts (a generation task and a multiple-choice task)."""

from __future__ import annotations

import json

import pytest

from helpers.requires import importable, world_checkpoint


@pytest.fixture(scope="module")
def served():
    from polyedit.models import load_model
    from polyedit.serve import CompletionModel, serve_in_thread

    path = str(world_checkpoint("small"))
    lm = load_model(path, device="cpu")
    # the served name is the checkpoint folder, so lm-eval's default tokenizer (the model name) is this model's
    server, _ = serve_in_thread(CompletionModel(lm, path), "127.0.0.1", 0)
    yield server.url, path, lm
    server.shutdown()
    server.server_close()


def test_openai_sdk_completions_with_text_and_token_prompts_chat_and_streaming(served):
    import openai

    url, name, lm = served
    client = openai.OpenAI(base_url=url + "/v1", api_key="EMPTY", max_retries=0, timeout=60)
    text = "Ana Lind was born in"
    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    by_text = client.completions.create(model=name, prompt=text, max_tokens=4, temperature=0)
    by_ids = client.completions.create(model=name, prompt=ids, max_tokens=4, temperature=0)
    both = client.completions.create(model=name, prompt=[ids, ids[:-1]], max_tokens=4, temperature=0)
    assert by_ids.choices[0].text and len(both.choices) == 2 and both.choices[0].text == by_ids.choices[0].text
    assert by_ids.usage.prompt_tokens == len(ids)  # read as sent: no BOS added to a token prompt
    assert by_text.choices[0].text  # a text prompt gets the tokenizer's special tokens, so it may differ
    # a loglikelihood as lm-eval asks it: echo + logprobs, every prompt token scored but the first
    echoed = client.completions.create(model=name, prompt=ids, max_tokens=0, echo=True, logprobs=1, temperature=0)
    lp = echoed.choices[0].logprobs
    assert len(lp.tokens) == len(ids) and lp.token_logprobs[0] is None
    assert all(x <= 0 for x in lp.token_logprobs[1:]) and lp.text_offset[0] == 0
    chat = client.chat.completions.create(model=name, messages=[{"role": "user", "content": "Ana Lind was born in"}],
                                          max_tokens=4, temperature=0, seed=0)
    assert chat.choices[0].message.role == "assistant" and chat.usage.completion_tokens <= 4
    with pytest.raises(openai.BadRequestError, match="stream"):
        client.chat.completions.create(model=name, messages=[{"role": "user", "content": "x"}], stream=True)


def _tasks(folder, cases) -> list[str]:
    """A generation task and a multiple-choice task over the world's true facts (lm-eval YAML + JSON lines)."""
    docs = folder / "facts.jsonl"
    docs.write_text("".join(json.dumps({"prompt": c.edit.prompt, "answer": c.edit.target_true,
                                        "choices": [c.edit.target_true, c.edit.target_new], "label": 0}) + "\n"
                            for c in cases), "utf-8")
    common = f"dataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {docs}\ntest_split: test\n"
    (folder / "world_gen.yaml").write_text(
        "task: world_gen\n" + common + "output_type: generate_until\ndoc_to_text: '{{prompt}}'\n"
        "doc_to_target: ' {{answer}}'\ngeneration_kwargs:\n  until: ['\\n', '.']\n  max_gen_toks: 6\n"
        "  do_sample: false\nmetric_list:\n  - metric: exact_match\n    aggregation: mean\n    higher_is_better: true\n",
        "utf-8")
    (folder / "world_mc.yaml").write_text(
        "task: world_mc\n" + common + "output_type: multiple_choice\ndoc_to_text: '{{prompt}}'\n"
        "doc_to_choice: '{{choices}}'\ndoc_to_target: '{{label}}'\ntarget_delimiter: ' '\n"
        "metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n", "utf-8")
    return ["world_gen", "world_mc"]


def test_lm_eval_local_completions_and_chat_against_serve(served, tmp_path):
    importable("tenacity")  # lm-eval's API models need it (lm-eval[api], the test extra)
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from polyedit.data.registry import load_dataset

    url, name, _ = served
    cases = [c for c in load_dataset("world:small").cases if c.edit.lang == "en"][:4]
    tasks = _tasks(tmp_path, cases)
    manager = TaskManager(include_path=str(tmp_path), include_defaults=False)  # not all of lm-eval's tasks
    out = simple_evaluate(model="local-completions", model_args={"model": name, "base_url": url + "/v1/completions"},
                          tasks=tasks, task_manager=manager)
    res = out["results"]
    # the world model knows its own facts: the true answer is generated, and preferred over the new one
    assert res["world_gen"]["exact_match,none"] == 1.0
    assert res["world_mc"]["acc,none"] == 1.0
    chat = simple_evaluate(model="local-chat-completions", model_args={"model": name,
                           "base_url": url + "/v1/chat/completions"}, tasks=["world_gen"], task_manager=manager,
                           apply_chat_template=True)
    assert 0.0 <= chat["results"]["world_gen"]["exact_match,none"] <= 1.0  # ran; a base model in a chat frame
    assert len(chat["samples"]["world_gen"]) == len(cases) if "samples" in chat else True
