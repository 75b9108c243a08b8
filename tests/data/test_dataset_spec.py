"""data/dataset.py `DatasetSpec.parse` reads a spec from its text alone, with the options each loader declares
(`register_dataset(..., options=)`): what files the working directory holds never changes a spec's meaning."""

import pytest

from polyedit.data.dataset import DatasetSpec
from polyedit.data.registry import COMMON_OPTIONS, dataset_names, declared_options, load_dataset
from polyedit.errors import PolyeditError


def test_a_file_named_like_an_option_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("n=2", "small", "n=5"):
        (tmp_path / name).write_text("")
    assert DatasetSpec.parse("world:small:n=5") == DatasetSpec("world", "small", {"n": "5"})
    assert DatasetSpec.parse("world:n=5") == DatasetSpec("world", None, {"n": "5"})
    assert len(load_dataset("world:small:n=2").cases) == 2 and len(load_dataset("world:n=2").cases) == 2


def test_the_argument_is_told_from_an_option_by_the_loaders_declaration(tmp_path):
    """`jsonl` reads only `map=` (and every dataset's langs= and split=): `a=b.jsonl` is its path."""
    assert DatasetSpec.parse("jsonl:runs/a=b.jsonl", declared_options("jsonl")).arg == "runs/a=b.jsonl"
    assert DatasetSpec.parse("jsonl:split=dev", declared_options("jsonl")).options == {"split": "dev"}
    with pytest.raises(PolyeditError, match=r"jsonl dataset: no file at .*/a=b.jsonl"):
        load_dataset(f"jsonl:{tmp_path}/a=b.jsonl")  # read as the path, not refused as option `…/a`
    with pytest.raises(PolyeditError, match=r"unknown option\(s\) nn for world \(known: edit_lang, langs, mix, n, "
                                            r"seed, split\)"):
        load_dataset("world:small:nn=3")


def test_every_builtin_loader_declares_its_options():
    open_ended = {"parallel"}  # its keys are languages: CODE=PATH
    for name in dataset_names():
        declared = declared_options(name)
        assert (declared is None) == (name in open_ended), name
        assert declared is None or set(COMMON_OPTIONS) <= declared
