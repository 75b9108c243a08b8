"""The training loss projects only labelled positions onto the vocabulary; it must equal the model's own loss
(and give the same gradients) on batches mixing fact documents (every token labelled) and in-context
documents (only the answer labelled)."""

import torch

from polyedit.world.train import IGNORE, Example, collate, lm_loss


def test_lm_loss_equals_the_models_loss_and_gradients():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=2, pad_token_id=0))
    fact = Example([1, 5, 6, 7, 2], [IGNORE, 5, 6, 7, 2])
    icl = Example([1, 8, 9, 10, 11, 12, 13, 2], [IGNORE] * 6 + [13, 2])
    batch = collate([fact, icl, Example([1, 3, 2], [IGNORE, 3, 2])], pad=0)
    ours = lm_loss(model, batch)
    ours.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    reference = model(**batch).loss
    reference.backward()
    torch.testing.assert_close(ours, reference)
    for n, p in model.named_parameters():
        torch.testing.assert_close(grads[n], p.grad, msg=n)
