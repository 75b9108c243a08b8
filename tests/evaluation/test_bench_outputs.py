"""`polyedit bench` writes a protocol for every metric, ci95 beside every headline mean, and samples.jsonl."""

from __future__ import annotations

import json

import pytest

from polyedit.cli.main import main
from polyedit.data.cases import Probe, make_case
from helpers.fast import fast

FAST = fast("ft-l", steps=2)


@pytest.fixture(scope="module")
def cases_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "cases.jsonl"
    cases = [make_case(f"c{i}", "en", s, f"{s} is the capital of", t, "France",
                       [Probe("generality", "de", f"{s} ist die Hauptstadt von", t, "France", aliases=(t.upper(),)),
                        Probe("locality", "zh", "巴黎是", "法国"), Probe("portability", "ja", f"{s}は", "ヨーロッパ")])
             for i, (s, t) in enumerate([("Paris", "Spain"), ("Berlin", "Italy")])]
    for c in cases:
        c.meta["answer_kind"] = "shared"
    path.write_text("\n".join(json.dumps(c.to_dict(), ensure_ascii=False) for c in cases) + "\n", "utf-8")
    return path


def _bench(tiny_model_dirs, cases_file, out, *extra):
    hp = out.parent / f"{out.name}.yaml"
    hp.write_text("\n".join(f"{k}: {'null' if v is None else v}" for k, v in FAST.items()))
    assert main(["bench", "--model", str(tiny_model_dirs["llama"]), "--method", "ft-l", "--data", f"jsonl:{cases_file}",
                 "--out", str(out), "--hparams", str(hp), *extra]) == 0


def test_bench_labels_every_metric_and_logs_every_sample(tiny_model_dirs, cases_file, tmp_path, capsys):
    out = tmp_path / "run"
    _bench(tiny_model_dirs, cases_file, out)
    records = [json.loads(x) for x in (out / "results.jsonl").read_text("utf-8").splitlines()]
    n_probes = 0
    for rec in records:
        assert rec["meta"]["answer_kind"] == "shared"
        assert rec["protocols"]["answer"]["kind"] == "generated"
        assert rec["protocols"]["token_accuracy"]["kind"] == "teacher-forced"
        for p in rec["probes"]:
            n_probes += 1
            assert set(p["pre"]) | set(p["post"]) <= set(p["protocol"])  # no unlabelled number
            for label in p["protocol"].values():
                assert label["name"] in rec["protocols"] and label["kind"] in ("generated", "teacher-forced")
                assert label["chat_template"] is False  # and said so (the tiny tokenizer has no template)
        assert all(d["chat_template"] is False for d in rec["protocols"].values())
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["headline"] == {"reliability": "answer_em", "generality": "answer_em",
                                   "locality": "answer_unchanged", "portability": "answer_em"}
    means = [e for agg in (summary["mean"], summary["mean_excluding_edit_language"]) for e in agg.values()]
    means += [e for per in summary["per_language"].values() for kind in per.values() for e in kind.values()]
    means += [e for groups in summary["groups"].values() for g in groups.values() for e in g.values()]
    assert means and all(len(e["ci95"]) == 2 and e["protocol"]["name"] for e in means)
    assert all(e["protocol"]["chat_template"] is False for e in means)
    assert "answer_kind" not in summary["groups"]  # jsonl declares no case-level groups (world declares its own)
    samples = [json.loads(x) for x in (out / "samples.jsonl").read_text("utf-8").splitlines()]
    assert len(samples) == n_probes
    s = samples[1]
    assert s["gold"] in ("Spain", "Italy") and s["aliases"] == [s["gold"].upper()]
    assert s["post"]["prompt"].endswith("Hauptstadt von") and isinstance(s["post"]["generated"]["answer"][0], str)
    assert set(s["post"]["metrics"]) <= set(s["protocol"])
    md = (out / "summary.md").read_text("utf-8")
    assert "`answer_em` from protocol `answer` (generated)" in md and "## Diagnostics" in md
    assert "`token_accuracy` | `token_accuracy` (teacher-forced)" in md

    _bench(tiny_model_dirs, cases_file, tmp_path / "quiet", "--no-log-samples", "--limit", "1")
    assert not (tmp_path / "quiet" / "samples.jsonl").exists() and (tmp_path / "quiet" / "results.jsonl").exists()
