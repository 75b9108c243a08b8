"""serve/batching.py: a row the model ends with its EOS token finishes with finish_reason "stop" (the
OpenAI meaning: the model stopped by itself), not "length"."""

from __future__ import annotations

import torch


def test_a_row_ended_by_eos_finishes_with_stop(tiny_model_dirs):
    from polyedit.models import load_model
    from polyedit.serve.batching import ModelWorker, Row

    lm = load_model(str(tiny_model_dirs["llama"]))  # its own copy: the tokenizer's EOS is changed below
    ids = lm.tokenizer("The capital of France is")["input_ids"]
    with torch.no_grad():
        first = int(lm.model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
    worker = ModelWorker(lm, batch_size=2)
    try:
        free = worker.submit([Row("p", ids, 4)]).result(timeout=60)[0]
        assert free.finish_reason == "length" and free.token_ids[0] == first  # the greedy first token
        lm.tokenizer.eos_token = lm.tokenizer.convert_ids_to_tokens(first)  # that token now ends the text
        assert lm.tokenizer.eos_token_id == first
        ended = worker.submit([Row("p", ids, 4)]).result(timeout=60)[0]
        assert ended.finish_reason == "stop" and ended.token_ids == []
    finally:
        worker.close()
