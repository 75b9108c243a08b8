"""A byte-level BPE tokenizer trained on the world's corpus, saved as a standard fast tokenizer.

CJK, kana, Hangul and Thai characters are split off one by one before the byte-level step: these scripts
write no spaces, so BPE would otherwise merge across the prompt/object boundary (`是巴` in `...是巴黎`)
and the object's first token would depend on its prompt.
"""

from __future__ import annotations

from typing import Iterable

BOS, EOS, PAD = "<s>", "</s>", "<pad>"
# CJK punctuation, kana, CJK ideographs, Hangul syllables, Thai, full-width forms, and the middle dots
# that separate transliterated name parts.
ISOLATED = r"[\u00b7\u0e00-\u0e7f\u3000-\u30ff\u3400-\u9fff\uac00-\ud7af\uff00-\uffef]"


def train_tokenizer(texts: Iterable[str], vocab_size: int):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(ISOLATED), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[BOS, EOS, PAD],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    # A BOS before every text, as Llama tokenizers do: the first real token always has a context.
    tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B",
                                                       special_tokens=[(BOS, tok.token_to_id(BOS))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                   clean_up_tokenization_spaces=False)
