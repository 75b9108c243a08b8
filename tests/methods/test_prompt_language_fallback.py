"""methods/rank_one.py: an edit in a language without its own prefix seeds and KL prompt is fitted with the
default ones, and its record says so (`prompt_language: "xx(default)"`), one entry per edit."""

from __future__ import annotations

from polyedit.data.cases import Edit
from polyedit.methods import get_method
from polyedit.methods.locate_then_edit import rank_one

HP = {"stats_corpus": "identity", "prefixes": 2, "prefix_tokens": 4, "v_steps": 2, "v_lr": 0.5, "layer": 1}


def test_the_default_prompts_standing_in_are_recorded_per_edit(tiny_model_dirs, monkeypatch):
    from polyedit.models import load_model

    table = rank_one._prompt_table()
    monkeypatch.setattr(rank_one, "_prompt_table", lambda: {k: v for k, v in table.items() if k != "de"})
    lm = load_model(str(tiny_model_dirs["llama"]))
    edits = [Edit("en", "Paris", "Paris is the capital of", "Spain"),
             Edit("de", "Paris", "Paris ist die Hauptstadt von", "Spanien")]
    handle = get_method("rome", HP).apply(lm, edits)
    try:
        assert [e["prompt_language"] for e in handle.info["edits"]] == ["en", "de(default)"]
    finally:
        handle.restore()
    one = get_method("rome", HP).apply(lm, edits[1:])  # one edit: the same shape
    one.restore()
    assert [e["prompt_language"] for e in one.info["edits"]] == ["de(default)"]
