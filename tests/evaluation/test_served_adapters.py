"""A bench run whose edits are made here, written as LoRA adapters, loaded into `polyedit serve` at run time
and scored through the OpenAI backend (`model` = the adapter's name) gives the local run's table (world:small)."""

from __future__ import annotations

import json
import urllib.request

import pytest

from polyedit import api
from polyedit.evaluation.adapters import ServedAdapters
from polyedit.models import load_model
from polyedit.models.openai_backend import OpenAIBackend, RetryPolicy
from polyedit.serve import CompletionModel, serve_in_thread

QUICK = {"stats_corpus": "identity", "prefixes": 2, "prefix_tokens": 4, "v_steps": 10}  # method_cases.py's
RUN = dict(limit=3, langs=["en", "de"], hparams=QUICK, progress=False)


@pytest.fixture(scope="module")
def server():
    served = load_model("world:small")  # the server's own copy: it never sees the local edits
    srv, _ = serve_in_thread(CompletionModel(served, "world:small"))
    yield srv.url
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def lm():
    return load_model("world:small")


def _table(out) -> list[str]:
    """The summary table's rows (the Markdown report: every metric's mean before and after)."""
    return [line for line in (out / "summary.md").read_text("utf-8").splitlines() if line.startswith("|")]


def test_served_adapters_give_the_local_table(server, lm, tmp_path):
    local = api.bench(lm, "rome", "world:small", tmp_path / "local", save_edits=tmp_path / "edits", **RUN)
    backend = ServedAdapters(OpenAIBackend(server, "world:small", retry=RetryPolicy(max_retries=1), cache=None),
                             "rome")
    remote = api.bench(lm, "rome", "world:small", tmp_path / "remote", backend=backend, **RUN)
    table, remote_table = _table(tmp_path / "local"), _table(tmp_path / "remote")
    assert len(table) > 10 and remote_table[:len(table)] == table
    assert remote_table[len(table)].startswith("| purpose | requests sent")  # then only the endpoint's ledger
    assert remote["mean"] == local["mean"]  # the headline (generated answers) exactly
    adapters = sorted((tmp_path / "remote" / "adapters").iterdir())
    assert len(adapters) == 3 and len(sorted((tmp_path / "edits").iterdir())) == 3  # one adapter per edit
    info = json.loads((adapters[0] / "polyedit_adapter.json").read_text())
    assert info["rank"] == 1 and len(info["case_ids"]) == 1
    models = json.loads(urllib.request.urlopen(server + "/v1/models").read())["data"]
    assert [m["id"] for m in models] == ["world:small"]  # every adapter unloaded after its edit


def test_served_adapters_refuse_sequential(server, lm, tmp_path):
    from polyedit.errors import PolyeditError

    backend = ServedAdapters(OpenAIBackend(server, "world:small", cache=None), "rome")
    with pytest.raises(PolyeditError, match="single or batch mode"):
        api.bench(lm, "rome", "world:small", tmp_path / "seq", backend=backend, mode="sequential", **RUN)
    assert not (tmp_path / "seq").exists()
