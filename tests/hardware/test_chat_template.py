"""--chat-template: prompts are wrapped in the tokenizer's template, with no doubled BOS."""

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


def test_backend_reads_templated_prompts(chat_lm):
    seen = []
    chat_lm.model.register_forward_pre_hook(lambda m, a, k: seen.append(k["input_ids"][0].tolist()), with_kwargs=True)
    backend = HFBackend(chat_lm, chat_template=True)
    backend.generate(["Paris is"], 2)
    tok = chat_lm.tokenizer
    expected = tok("<s>[user]Paris is</s>[assistant]", add_special_tokens=False)["input_ids"]
    assert seen[0] == expected and seen[0].count(tok.bos_token_id) == 1
    seen.clear()
    [res] = backend.score([("Paris is", " the capital")])
    assert seen[0][:len(expected)] == expected
    assert tok.decode(res.target_ids) == " the capital"
    assert backend.describe()["chat_template"] is True
    plain = HFBackend(chat_lm)
    assert plain.describe()["chat_template"] is False
    assert plain.score([("Paris is", " the capital")])[0].logprobs != res.logprobs


def test_no_template_is_one_line(tiny_model_dirs):
    from polyedit.models.load import load_model

    with pytest.raises(PolyeditError, match="has no chat template"):
        HFBackend(load_model(str(tiny_model_dirs["gpt2"])), chat_template=True)
