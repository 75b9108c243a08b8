"""The unedited model's results, cached and shared by runs (`models/pre_cache.py`): a cached result equals
the computed one, a run says where its 'before' came from, and a cache of another model, another tokenizer
setting or another cache format is never read."""

from __future__ import annotations

import json

import pytest
import torch

import polyedit as pe
from polyedit.models import pre_cache
from polyedit.models.backend import HFBackend
from polyedit.models.pre_cache import CachedBackend, RequestCache

REQUESTS = [("Marusa Kaso is employed by", " Corvalis"), ("Neri Nini was born in", " Lima")]
PROMPTS = ["Marusa Kaso is employed by", "Neri Nini ist angestellt bei"]


@pytest.fixture(scope="module")
def lm():
    return pe.load_model("world:small")


def wrap(lm, tmp_path, **kw) -> CachedBackend:
    return CachedBackend(HFBackend(lm, **kw), RequestCache(tmp_path / "c.sqlite"))


def test_a_cached_result_equals_the_computed_one(lm, tmp_path):
    fresh = HFBackend(lm)
    cb = wrap(lm, tmp_path)
    first = cb.score(REQUESTS), cb.generate(PROMPTS, 6, ("\n",))
    assert (cb.hits, cb.misses) == (0, 4)
    again = cb.score(REQUESTS), cb.generate(PROMPTS, 6, ("\n",))
    assert (cb.hits, cb.misses) == (4, 4)
    assert again == first == (fresh.score(REQUESTS), fresh.generate(PROMPTS, 6, ("\n",)))
    # a new run (a new wrapper on the same file) reads them too; another length is another request
    other = wrap(lm, tmp_path)
    other.generate(PROMPTS, 7, ("\n",))
    assert (other.hits, other.misses) == (0, 2)


def test_edited_weights_are_another_model(lm, tmp_path):
    wrap(lm, tmp_path).score(REQUESTS)
    weight = next(p for p in lm.model.parameters() if p.dim() == 2)
    keep = weight.detach().clone()
    try:
        with torch.no_grad():
            weight[0, 0] += 1e-3  # one weight of one matrix: a KN-sized change
        edited = wrap(lm, tmp_path)
        edited.score(REQUESTS)
        assert (edited.hits, edited.misses) == (0, 2)
    finally:
        with torch.no_grad():
            weight.copy_(keep)
    restored = wrap(lm, tmp_path)
    restored.score(REQUESTS)
    assert restored.hits == 2


@pytest.mark.parametrize("change", ["format", "chat_template", "code"])
def test_another_format_setting_or_code_is_never_read(lm, tmp_path, monkeypatch, change):
    wrap(lm, tmp_path).score(REQUESTS)
    if change == "format":
        monkeypatch.setattr(pre_cache, "FORMAT", pre_cache.FORMAT + 1)
        cb = wrap(lm, tmp_path)
    elif change == "code":
        monkeypatch.setattr(pre_cache, "code_sha256", lambda: "another scoring code")
        cb = wrap(lm, tmp_path)
    else:
        cb = wrap(lm, tmp_path)
        cb.backend.chat_template = True  # generation only: scoring reads the same text, yet the key differs
    cb.score(REQUESTS)
    assert cb.hits == 0 and cb.misses == 2


def test_a_run_says_where_its_before_came_from_and_the_numbers_do_not_move(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYEDIT_CACHE_DIR", str(tmp_path / "cache"))
    args = dict(limit=3, progress=False)
    s_off = pe.bench("world:small", "ft-m", "world:small", tmp_path / "off", cache=False, **args)
    s1 = pe.bench("world:small", "ft-m", "world:small", tmp_path / "first", **args)
    s2 = pe.bench("world:small", "kn", "world:small", tmp_path / "second", **args)

    def records(name):
        return [json.loads(x) for x in (tmp_path / name / "results.jsonl").read_text("utf-8").splitlines()]

    assert [r["pre_from_cache"] for r in records("off")] == [False] * 3
    assert [r["pre_from_cache"] for r in records("first")] == [False] * 3  # computed, then stored
    assert [r["pre_from_cache"] for r in records("second")] == [True] * 3  # another method, the same 'before'
    pre = {name: [[p["pre"] for p in r["probes"]] for r in records(name)] for name in ("off", "first", "second")}
    assert pre["off"] == pre["first"] == pre["second"]
    assert s_off["mean"] == s1["mean"]
    cache = s2["evaluation"]["pre_edit_cache"]
    assert cache["requests_computed"] == 0 and cache["requests_cached"] > 0
    assert "pre_edit_cache" not in s_off["evaluation"]
