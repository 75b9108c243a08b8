"""--chat-template: the prompts of generation protocols (and, chosen explicitly, teacher-forced ones) are
wrapped in the tokenizer's template, with no doubled BOS, and every protocol record says whether they were."""

import pytest

from polyedit.errors import PolyeditError
from polyedit.models.backend import HFBackend
from polyedit.models.chat import chat_prompt

TEMPLATE = ("{{ bos_token }}{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}</s>{% endfor %}"
            "{% if add_generation_prompt %}[assistant]{% endif %}")


@pytest.fixture
def chat_lm(tiny_model_dirs):
    from polyedit.models.load import load_model

    lm = load_model(str(tiny_model_dirs["llama"]))
    lm.tokenizer.chat_template = TEMPLATE
    return lm


def test_chat_prompt_wraps_the_user_turn(chat_lm):
    assert chat_prompt(chat_lm.tokenizer, "Paris is") == "<s>[user]Paris is</s>[assistant]"


def _reads(lm):
    seen = []
    lm.model.register_forward_pre_hook(lambda m, a, k: seen.append(k["input_ids"][0].tolist()), with_kwargs=True)
    return seen


def test_generation_prompts_are_templated_scored_ones_are_not(chat_lm):
    seen = _reads(chat_lm)
    backend = HFBackend(chat_lm, chat_template=True)
    backend.generate(["Paris is"], 2)
    tok = chat_lm.tokenizer
    expected = tok("<s>[user]Paris is</s>[assistant]", add_special_tokens=False)["input_ids"]
    assert seen[0] == expected and seen[0].count(tok.bos_token_id) == 1
    seen.clear()
    [res] = backend.score([("Paris is", " the capital")])  # teacher forced: the raw prompt, as without a template
    assert seen[0] == tok("Paris is the capital")["input_ids"]
    plain = HFBackend(chat_lm)
    assert plain.score([("Paris is", " the capital")])[0].logprobs == res.logprobs
    assert backend.describe()["chat_template"] is True and plain.describe()["chat_template"] is False


def test_all_wraps_scored_prompts_too(chat_lm):
    seen = _reads(chat_lm)
    backend = HFBackend(chat_lm, chat_template="all")
    [res] = backend.score([("Paris is", " the capital")])
    tok = chat_lm.tokenizer
    expected = tok("<s>[user]Paris is</s>[assistant]", add_special_tokens=False)["input_ids"]
    assert seen[0][:len(expected)] == expected and seen[0].count(tok.bos_token_id) == 1
    assert tok.decode(res.target_ids) == " the capital"
    assert HFBackend(chat_lm).score([("Paris is", " the capital")])[0].logprobs != res.logprobs
    assert backend.describe()["chat_template"] == "all"


def test_bad_scope_is_one_line(chat_lm):
    with pytest.raises(PolyeditError, match="chat template 'some'"):
        HFBackend(chat_lm, chat_template="some")


@pytest.mark.parametrize("scope, scored", [(True, False), ("all", True), (False, False)])
def test_every_protocol_record_says_whether_a_template_was_applied(chat_lm, scope, scored):
    from polyedit.data.cases import Edit, EditCase, Probe
    from polyedit.evaluation.engine import evaluate
    from polyedit.evaluation.protocols import DEFAULT_PROTOCOLS
    from polyedit.evaluation.records import protocol_labels

    case = EditCase("c0", Edit("en", "France", "The capital of France is", "Berlin", "Paris"),
                    [Probe("reliability", "en", "The capital of France is", "Berlin", "Paris"),
                     Probe("locality", "en", "Danielle Darrieux speaks", "French")])
    ev = evaluate(HFBackend(chat_lm, chat_template=scope), [case], list(DEFAULT_PROTOCOLS))
    for name, d in ev.protocols.items():
        assert d["chat_template"] is (bool(scope) if d["kind"] == "generated" else scored), name
    labels = protocol_labels(ev.results[0].protocol_of, ev.protocols)
    assert labels and all(lab["chat_template"] is ev.protocols[lab["name"]]["chat_template"] for lab in labels.values())


def test_no_template_is_one_line(tiny_model_dirs):
    from polyedit.models.load import load_model

    with pytest.raises(PolyeditError, match="has no chat template"):
        HFBackend(load_model(str(tiny_model_dirs["gpt2"])), chat_template=True)


@pytest.mark.parametrize("flag, scored", [(["--chat-template"], False), (["--chat-template", "all"], True)])
def test_bench_cli_records_the_template_per_protocol(tiny_model_dirs, tmp_path, flag, scored):
    import json
    import shutil

    from polyedit.cli.main import main
    from polyedit.data.cases import Probe, make_case
    from polyedit.models.load import load_model

    model = tmp_path / "chat-llama"
    shutil.copytree(tiny_model_dirs["llama"], model)
    tok = load_model(str(model)).tokenizer
    tok.chat_template = TEMPLATE
    tok.save_pretrained(str(model))
    cases = tmp_path / "cases.jsonl"
    case = make_case("c0", "en", "Paris", "Paris is the capital of", "Spain", "France",
                     [Probe("locality", "en", "Berlin is the capital of", "Germany")])
    cases.write_text(json.dumps(case.to_dict()) + "\n", "utf-8")
    hp = tmp_path / "hp.yaml"
    hp.write_text("lr: 0.05\nsteps: 1\nnorm_constraint: null\n")
    out = tmp_path / "run"
    assert main(["bench", "--model", str(model), "--method", "ft-l", "--data", f"jsonl:{cases}", "--out", str(out),
                 "--hparams", str(hp), *flag, "--batch-size", "4"]) == 0  # the flag alone, then another option
    rec = json.loads((out / "results.jsonl").read_text("utf-8").splitlines()[0])
    kinds = {d["kind"] for d in rec["protocols"].values()}
    assert kinds == {"generated", "teacher-forced"}
    for d in rec["protocols"].values():
        assert d["chat_template"] is (True if d["kind"] == "generated" else scored)
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["evaluation"]["chat_template"] == ("all" if scored else True)
