import pytest

from polyedit.world.corpus import fact_docs, fact_prompts
from polyedit.world.schema import LANGS
from polyedit.world.tokenizer import train_tokenizer


@pytest.fixture(scope="module")
def tokenizer(world):
    return train_tokenizer([d.text for d in fact_docs(world)], 1500)


def _check_split(tok, world, lang):
    ids = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    for fact in world.facts[::5]:
        for p in fact_prompts(world, fact, lang):
            assert ids(p.context + p.continuation) == ids(p.context) + ids(p.continuation), (lang, p)


@pytest.mark.parametrize("lang", LANGS)
def test_prompt_plus_object_tokenises_as_the_two_apart(tokenizer, world, lang):
    """No BPE merge crosses the prompt/object boundary (the CJK/Thai pitfall), in every language."""
    _check_split(tokenizer, world, lang)


def test_cjk_merge_pitfall_is_avoided(tokenizer):
    enc = tokenizer("的职业是医生", add_special_tokens=False, return_offsets_mapping=True)
    assert all(e - s <= 1 for s, e in enc["offset_mapping"])  # no token spans two characters
    text = "Karimo的职业是医生"
    assert tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) == text


def test_bos_is_added_like_a_llama_tokenizer(tokenizer):
    assert tokenizer("Paris")["input_ids"][0] == tokenizer.bos_token_id
    assert tokenizer("Paris", add_special_tokens=False)["input_ids"][0] != tokenizer.bos_token_id


def test_the_committed_model_tokenizer_splits_cleanly(world):
    from polyedit.world.build import read_build
    from polyedit.world.config import BuildConfig
    from polyedit.world.world import generate_world

    from helpers.requires import world_checkpoint

    path = world_checkpoint("small")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    own = generate_world(BuildConfig.from_dict(read_build(path)["config"]).world)
    for lang in LANGS:
        _check_split(tok, own, lang)
