"""Second moments from a real corpus: `hf:` through `datasets` (a local folder), resumable, with progress."""

import json

import pytest
import torch
from helpers.requires import importable

from polyedit.methods.locate_then_edit import second_moment as sm

DOCS = ["The capital of France is Paris.", "Berlin ist die Hauptstadt von Deutschland.", "巴黎是法国的首都。",
        "Danielle Darrieux speaks French.", "Москва — столица России.", "東京は日本の首都です。"] * 4


@pytest.fixture
def lm(tiny_model_dirs):
    from polyedit.models import load_model

    return load_model(str(tiny_model_dirs["gpt2"]))


def test_hf_corpus_from_a_local_dataset_folder(lm, tmp_path):
    importable("datasets")  # a declared test dependency: missing, it fails under CI=true
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "train.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in DOCS), "utf-8")
    via_datasets = sm.second_moments(lm, [1], f"hf:{folder}:train", 150, tmp_path / "c1")[1]
    via_file = sm.second_moments(lm, [1], str(folder / "train.jsonl"), 150, tmp_path / "c2")[1]
    assert torch.equal(via_datasets, via_file)


class Killed(Exception):
    pass


def dying(docs, after):
    for i, d in enumerate(docs):
        if i == after:
            raise Killed
        yield d


def test_a_killed_collection_resumes_to_the_same_c(lm, tmp_path):
    ckpt = tmp_path / "c.partial"
    rows = []
    hook = lm.model.register_forward_pre_hook(lambda m, a, k: rows.append(k["input_ids"].shape[0]), with_kwargs=True)
    whole, n = sm.collect_second_moment(lm, [0, 2], iter(DOCS), 300, batch_size=2)
    whole_rows = sum(rows)
    hook.remove()
    with pytest.raises(Killed):
        sm.collect_second_moment(lm, [0, 2], dying(DOCS, 8), 300, batch_size=2, checkpoint=ckpt,
                                 checkpoint_every=40)
    assert ckpt.is_file()
    rows = []
    hook = lm.model.register_forward_pre_hook(lambda m, a, k: rows.append(k["input_ids"].shape[0]), with_kwargs=True)
    resumed, n2 = sm.collect_second_moment(lm, [0, 2], iter(DOCS), 300, batch_size=2, checkpoint=ckpt,
                                           checkpoint_every=40)
    hook.remove()
    assert n2 == n and sum(rows) <= whole_rows - 4  # the windows counted before the kill are not run again
    for layer in (0, 2):
        assert torch.allclose(resumed[layer].double(), whole[layer].double(), rtol=1e-6, atol=1e-9)
    fresh, _ = sm.collect_second_moment(lm, [0, 2], iter(DOCS), 300, batch_size=2, checkpoint=tmp_path / "none")
    assert torch.equal(fresh[0], whole[0])  # no checkpoint file: starts from zero


def test_second_moments_removes_its_checkpoint(lm, tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n\n".join(DOCS), "utf-8")
    sm.second_moments(lm, [1], str(corpus), 100, tmp_path / "cache")
    # the lock file stays (removing a lock another run may be waiting on would let two runs compute at once)
    files = sorted(p.name for p in (tmp_path / "cache").iterdir() if p.suffix != ".lock")
    assert len(files) == 1 and files[0].endswith(".safetensors")
