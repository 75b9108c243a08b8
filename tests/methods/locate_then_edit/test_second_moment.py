"""C = E[k kᵀ]: the known answer on a small corpus, the on-disk cache and its key, the `polyedit stats` command."""

import json

import pytest
import torch

from polyedit.errors import PolyeditError
from polyedit.methods.locate_then_edit import second_moment as sm
from polyedit.methods.locate_then_edit.rank_one import read_at

DOCS = ["The capital of France is Paris.", "Berlin ist die Hauptstadt von Deutschland.", "巴黎是法国的首都。",
        "Danielle Darrieux speaks French."]


@pytest.fixture
def corpus(tmp_path):
    p = tmp_path / "corpus.txt"
    p.write_text("\n\n".join(DOCS) + "\n", "utf-8")
    return p


@pytest.fixture
def lm(tiny_model_dirs):
    from polyedit.models import load_model

    return load_model(str(tiny_model_dirs["gpt2"]))


def test_c_is_the_mean_outer_product_of_keys(lm, corpus, tmp_path):
    keys = []
    for t in DOCS:
        n = len(lm.tokenizer(t)["input_ids"])
        keys.append(read_at(lm, lm.arch.mlp_out[1], [t] * n, list(range(n)), "input"))
    k = torch.cat(keys).double()
    cs = sm.second_moments(lm, [1], str(corpus), n_tokens=10_000, cache_dir=tmp_path / "cache")
    assert torch.allclose(cs[1].double(), k.T @ k / len(k), atol=1e-6)


def test_cache_is_reused_and_keyed_by_layer_tokens_and_corpus(lm, corpus, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = sm.second_moments(lm, [0, 2], str(corpus), n_tokens=30, cache_dir=cache)
    files = sorted(cache.glob("*.safetensors"))
    assert len(files) == 2
    lm.method_state.forget(sm.SecondMoments)  # a new session: only the disk cache is left

    def refuse(*a, **k):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(sm, "collect_second_moment", refuse)
    again = sm.second_moments(lm, [0, 2], str(corpus), n_tokens=30, cache_dir=cache)
    assert all(torch.equal(first[x].cpu(), again[x].cpu()) for x in (0, 2))
    key = sm.cache_path(lm, 0, str(corpus), 30, cache)
    assert key != sm.cache_path(lm, 1, str(corpus), 30, cache)
    assert key != sm.cache_path(lm, 0, str(corpus), 31, cache)
    other = tmp_path / "other.txt"
    other.write_text("Something else entirely.\n", "utf-8")
    assert key != sm.cache_path(lm, 0, str(other), 30, cache)
    corpus.write_text("Changed text.\n", "utf-8")  # the key follows the file's content, not its name
    assert key != sm.cache_path(lm, 0, str(corpus), 30, cache)


def test_a_run_waiting_on_another_reads_its_c_instead_of_computing(lm, corpus, tmp_path, monkeypatch):
    """Two runs sharing the cache (parallel tune trials) compute a missing C once: the second waits on the
    first's lock, then reads the file the first wrote; temporary files are per process."""
    import threading

    from filelock import FileLock

    cache = tmp_path / "cache"
    reference = sm.second_moments(lm, [1], str(corpus), n_tokens=30, cache_dir=cache)[1].cpu()
    lm.method_state.forget(sm.SecondMoments)
    path = sm.cache_path(lm, 1, str(corpus), 30, cache)
    saved = path.read_bytes()
    path.unlink()
    lock = FileLock(str(path.with_suffix(".layers1.partial").with_suffix(".lock")))
    lock.acquire()  # another run is computing layer 1's C
    calls = []
    monkeypatch.setattr(sm, "collect_second_moment", lambda *a, **k: calls.append(1) or (_ for _ in ()).throw(
        AssertionError("computed while another run held the lock and then wrote C")))
    got = {}
    waiter = threading.Thread(target=lambda: got.update(sm.second_moments(lm, [1], str(corpus), n_tokens=30,
                                                                          cache_dir=cache)))
    waiter.start()
    waiter.join(timeout=1.0)
    assert waiter.is_alive()  # blocked on the lock, not computing
    path.write_bytes(saved)  # the other run finishes and releases
    lock.release()
    waiter.join(timeout=30)
    assert not waiter.is_alive() and not calls
    assert torch.equal(got[1].cpu(), reference)
    assert not list(cache.glob("*.tmp"))


def test_jsonl_corpus_and_token_budget(lm, tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text("\n".join(json.dumps({"text": d}) for d in DOCS) + "\n", "utf-8")
    texts = list(sm.corpus_texts(str(p)))
    assert texts == DOCS
    _, used = sm.collect_second_moment(lm, [0], iter(texts), n_tokens=17)
    assert used == 17


def test_bad_corpora_are_clear_errors(lm, tmp_path):
    with pytest.raises(PolyeditError, match="does not exist"):
        sm.second_moments(lm, [0], str(tmp_path / "missing.txt"), 10, tmp_path)
    with pytest.raises(PolyeditError, match="unknown corpus"):
        list(sm.corpus_texts("wikipedia"))
    with pytest.raises(PolyeditError, match="hf:DATASET"):
        list(sm.corpus_texts("hf:only"))
    with pytest.raises(PolyeditError, match="knowledge-world model"):
        sm.second_moments(lm, [0], "world", 10, tmp_path)


def test_identity_is_the_stated_default_off_the_world(lm, caplog):
    assert sm.resolve_corpus(lm, None) == "identity"
    assert "C = I" in caplog.text
    assert sm.resolve_corpus(lm, "x.txt") == "x.txt"


def test_stats_command(tiny_model_dirs, corpus, tmp_path, capsys):
    from polyedit.cli.main import main

    cache = tmp_path / "cache"
    argv = ["stats", "--model", str(tiny_model_dirs["llama"]), "--corpus", str(corpus), "--layers", "0,1",
            "--tokens", "25", "--cache-dir", str(cache)]
    assert main(argv) == 0
    assert "layer 1: C (80, 80)" in capsys.readouterr().out
    assert len(list(cache.glob("*.safetensors"))) == 2
    assert main(argv[:-4] + ["--layers", "7"]) == 2
    assert "not a layer" in capsys.readouterr().err
