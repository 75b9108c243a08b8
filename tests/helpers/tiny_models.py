"""Tiny randomly initialised models, built locally from configs (no hub access): five families for the model
access tests (`FAMILIES`), eighteen for the architecture matrix (`ARCH_FAMILIES`).

The tokenizer is a small byte-level BPE trained here with `tokenizers`, so the models can be loaded,
scored and edited exactly like real ones.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

FAMILIES = ("gpt2", "llama", "qwen2", "gpt_neox", "bloom")
#: the families multilingual editing research runs on: Llama-3, Qwen2.5, Qwen3 and Gemma-2/3 (attention width
#: heads x head_dim != hidden), Mistral, Aya (Cohere), BLOOM, mGPT (GPT-2), XGLM, Phi-3 (fused gate_up_proj),
#: OLMo-2 (post-norm), GPT-J, Pythia (GPT-NeoX), Falcon, and the mixtures of experts Mixtral, Qwen2-MoE, Qwen3-MoE
#: (and Gemma-3's multimodal class, `gemma3_mm`, whose language model sits beside a vision tower)
ARCH_FAMILIES = ("llama", "qwen2", "qwen3", "gemma2", "gemma3", "gemma3_mm", "mistral", "cohere", "bloom", "gpt2",
                 "xglm", "phi3", "olmo2", "gptj", "gpt_neox", "falcon", "mixtral", "qwen2_moe", "qwen3_moe")

_TEXT = [
    "The capital of France is Paris.", "Paris is the capital of France.", "Danielle Darrieux speaks French.",
    "巴黎是法国的首都。", "東京は日本の首都です。", "กรุงเทพเป็นเมืองหลวงของประเทศไทย", "Москва — столица России.",
    "Berlin ist die Hauptstadt von Deutschland.", "La capitale de la France est Paris.", "서울은 한국의 수도이다.",
]


@lru_cache(maxsize=1)
def tiny_tokenizer():
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"[\u3040-\u30ff\u3400-\u9fff\u0e00-\u0e7f\uac00-\ud7af]"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_TEXT * 5, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def tiny_config(family: str, vocab: int):
    from transformers import (BloomConfig, GPT2Config, GPTNeoXConfig, LlamaConfig, Qwen2Config)

    common = dict(vocab_size=vocab, bos_token_id=0, eos_token_id=1, pad_token_id=2)
    if family == "gpt2":
        return GPT2Config(n_embd=32, n_layer=3, n_head=2, n_inner=80, n_positions=128, **common)
    if family == "llama":
        return LlamaConfig(hidden_size=32, intermediate_size=80, num_hidden_layers=3, num_attention_heads=2,
                           num_key_value_heads=2, max_position_embeddings=512, **common)
    if family == "qwen2":
        return Qwen2Config(hidden_size=32, intermediate_size=80, num_hidden_layers=3, num_attention_heads=2,
                           num_key_value_heads=1, max_position_embeddings=512, **common)
    if family == "gpt_neox":
        return GPTNeoXConfig(hidden_size=32, intermediate_size=80, num_hidden_layers=3, num_attention_heads=2,
                             max_position_embeddings=512, **common)
    if family == "bloom":
        return BloomConfig(hidden_size=32, n_layer=3, n_head=2, **common)
    return _more_config(family, common)


def _more_config(family: str, common: dict):
    import transformers as t

    vocab = common["vocab_size"]  # the image tokens lie beyond the text vocabulary, as Gemma-3's do
    dec = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, max_position_embeddings=512, **common)
    moe = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=24, num_key_value_heads=1)
    made = {
        "qwen3": lambda: t.Qwen3Config(intermediate_size=80, num_key_value_heads=1, head_dim=24, **dec),
        "gemma2": lambda: t.Gemma2Config(intermediate_size=80, num_key_value_heads=1, head_dim=24, **dec),
        "gemma3": lambda: t.Gemma3TextConfig(intermediate_size=80, num_key_value_heads=1, head_dim=24, **dec),
        "gemma3_mm": lambda: t.Gemma3Config(
            text_config=dict(intermediate_size=80, num_key_value_heads=1, head_dim=24, **dec),
            vision_config=dict(hidden_size=16, intermediate_size=24, num_hidden_layers=3, num_attention_heads=2,
                               image_size=32, patch_size=8),
            mm_tokens_per_image=4, image_token_index=vocab + 2, boi_token_index=vocab, eoi_token_index=vocab + 1),
        "mistral": lambda: t.MistralConfig(intermediate_size=80, num_key_value_heads=1, **dec),
        "cohere": lambda: t.CohereConfig(intermediate_size=80, num_key_value_heads=1, **dec),
        "xglm": lambda: t.XGLMConfig(d_model=32, ffn_dim=80, num_layers=3, attention_heads=2,
                                     max_position_embeddings=128, **common),
        "phi3": lambda: t.Phi3Config(intermediate_size=80, num_key_value_heads=2, **dec),
        "olmo2": lambda: t.Olmo2Config(intermediate_size=80, num_key_value_heads=2, **dec),
        "gptj": lambda: t.GPTJConfig(n_embd=32, n_layer=3, n_head=2, rotary_dim=8, n_inner=80, n_positions=128,
                                     **common),
        "falcon": lambda: t.FalconConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, **common),
        "falcon_new": lambda: t.FalconConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, num_kv_heads=2,
                                             new_decoder_architecture=True, **common),  # Falcon-40B's layout
        "mixtral": lambda: t.MixtralConfig(intermediate_size=48, num_key_value_heads=1, num_local_experts=4,
                                           num_experts_per_tok=2, **dec),
        "qwen2_moe": lambda: t.Qwen2MoeConfig(intermediate_size=80, shared_expert_intermediate_size=40, **moe, **dec),
        "qwen3_moe": lambda: t.Qwen3MoeConfig(intermediate_size=80, head_dim=24, **moe, **dec),
    }
    if family not in made:
        raise ValueError(family)
    return made[family]()


def build_tiny_model(family: str, out_dir: Path, seed: int = 0) -> Path:
    """Save a tiny random model of `family` with the tiny tokenizer to `out_dir` (safetensors)."""
    from transformers import AutoModelForCausalLM

    tok = tiny_tokenizer()
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(family, len(tok)))
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    return out_dir


def without_cache_object(model, legacy: bool = False):
    """`model` turned, in place, into one that takes no KV-cache object, as the decoder's fallbacks must serve:
    its forward ignores the cache it is given and returns none (what a model with its own caching, or none,
    does under transformers 5), or, with `legacy`, takes and returns a tuple of (keys, values) per layer and
    refuses a Cache object, marked `_supports_cache_class = False` as transformers 4 marked such models."""
    from transformers import DynamicCache

    base = type(model)

    class NoCache(base):
        def forward(self, input_ids=None, attention_mask=None, position_ids=None, cache=None, use_cache=None,
                    **kwargs):
            kwargs.pop("past_key_values", None)
            return super().forward(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                   use_cache=False, **kwargs)

    class Legacy(base):
        _supports_cache_class = False

        def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                    use_cache=None, **kwargs):
            if kwargs.pop("cache", None) is not None or not isinstance(past_key_values, (tuple, type(None))):
                raise TypeError("a legacy model takes its cache as a tuple of (keys, values) per layer")
            cache = None
            if past_key_values is not None:
                cache = DynamicCache(config=self.config)
                for i, (keys, values) in enumerate(past_key_values):
                    cache.update(keys, values, i)
            out = super().forward(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                  cache=cache, use_cache=bool(use_cache), **kwargs)
            out.cache = tuple((layer.keys, layer.values) for layer in out.cache.layers) if use_cache else None
            return out

    model.__class__ = Legacy if legacy else NoCache
    return model
