"""Capability checks through lm-evaluation-harness (`bench --capability`): the world tasks, before/after per
task and language with paired intervals, the in-process numbers equal to lm-eval's own CLI on a saved copy of
the edited model, sequential checkpoints resumed without recomputing, and the missing extra in one line."""

import builtins
import json
import sys
from pathlib import Path

import pytest

from helpers.requires import shared, importable

importable("lm_eval")

from polyedit.api import bench  # noqa: E402
from polyedit.cli.main import main  # noqa: E402
from polyedit.cli.run_options import flag  # noqa: E402
from polyedit.errors import PolyeditError, SpecError  # noqa: E402
from polyedit.evaluation.capability import checks as checks_mod  # noqa: E402
from polyedit.evaluation.capability import compare, harness, world_tasks  # noqa: E402
from polyedit.evaluation.runner import BenchConfig  # noqa: E402
from polyedit.models import load_model  # noqa: E402
from helpers.weights import state_hash  # noqa: E402

DATA = "world:small:split=test"
TASKS = ["world_knowledge", "world_fluency"]
LANGS = 12


@pytest.fixture(scope="module")
def lm():
    return load_model("world:small", device="cpu")


@pytest.fixture(scope="module")
def single(lm, tmp_path_factory):
    """The issue's command on world:small: three single edits, two of them checked."""
    out = tmp_path_factory.mktemp("cap") / "run"
    weights = state_hash(lm.model)
    summary = bench(lm, "ft-m", DATA, out, limit=3, capability=TASKS, capability_sample=2, capability_limit=3,
                    progress=False)
    assert state_hash(lm.model) == weights  # every checked edit restored, bit for bit
    return out, summary


@pytest.mark.slow
def test_single_mode_reports_before_after_and_difference_per_task_and_language(single):
    out, summary = single
    cap = summary["capability"]
    assert [p["after_edits"] for p in cap["points"]] == [1, 1] and cap["mean_over_points"]["points"] == 2
    for check in cap["points"] + [cap["mean_over_points"]]:
        for task in TASKS:
            entry = check["tasks"][task]
            assert entry["version"] == "1.0"
            e = entry["metrics"][entry["headline"]]
            assert e["protocol"] == {"name": task, "version": "1.0", "metric": entry["headline"],
                                     "harness": f"lm-eval {harness.lm_eval_version()}"}
            assert len(e["per_language"]) == LANGS
            for one in [e, *e["per_language"].values()]:
                assert one["diff"] == pytest.approx(one["after"] - one["before"])
                assert one["ci95"][0] <= one["diff"] + 1e-12 and one["diff"] <= one["ci95"][1] + 1e-12
            assert e["per_language"]["ja"]["protocol"]["name"] == f"{task}_ja"
    fluency = cap["points"][0]["tasks"]["world_fluency"]["metrics"]["logprob_per_char"]
    assert fluency["diff"] != 0  # an edit moves the model: the check reads the edited weights
    # the group value is the mean over languages of lm-eval's per-language values
    per_lang = [v["before"] for v in fluency["per_language"].values()]
    assert fluency["before"] == pytest.approx(sum(per_lang) / len(per_lang))
    md = (out / "summary.md").read_text("utf-8")
    assert "## Capability (lm-evaluation-harness)" in md and "### `world_fluency` (1.0), `logprob_per_char`" in md
    assert "| check | before | after | all | en | zh |" in md and "| mean over 2 checks |" in md


def test_per_example_outputs_and_the_checked_edits_are_recorded(single):
    out, summary = single
    records = [json.loads(x) for x in (out / "capability.jsonl").read_text("utf-8").splitlines()]
    points = [r["point"] for r in records]
    assert points[0] == "before" and len(points) == 3
    ids = [json.loads(x)["case_id"] for x in (out / "results.jsonl").read_text("utf-8").splitlines()]
    assert all(p.removeprefix("edit ") in ids for p in points[1:])
    lines = [json.loads(x) for x in (out / "capability_samples.jsonl").read_text("utf-8").splitlines()]
    assert {x["point"] for x in lines} == set(points)
    # 3 examples x 12 languages x 2 tasks per check, each with lm-eval's request and responses
    assert len(lines) == 3 * 3 * LANGS * 2
    assert all(x["arguments"] and x["resps"] and x["scores"] for x in lines)


def test_knowledge_task_asks_only_facts_no_edit_of_the_run_touches(single, lm):
    out, _ = single
    edited = {json.loads(x)["edit"]["subject"] for x in (out / "results.jsonl").read_text("utf-8").splitlines()}
    docs = [json.loads(x) for x in (out / "capability/tasks/data/world_knowledge_en.jsonl").read_text("utf-8")
            .splitlines()]
    assert docs and not any(d["context"].startswith(tuple(edited)) for d in docs)
    world = checks_mod._world_of(lm, TASKS)
    by_id = {f"{f.subject}/{f.relation}": f for f in world.facts}
    for d in docs:  # the gold choice is the world's true object, and the choices are distinct
        fact = by_id[d["id"]]
        true = world.object_name(world_tasks.relations()[fact.relation].object, fact.object, "en")
        assert d["choices"][d["gold"]].strip() == true and len(set(d["choices"])) == world_tasks.N_CHOICES
    # the same facts, in the same order, in every language (the limit keeps them paired across languages)
    zh = [json.loads(x)["id"] for x in (out / "capability/tasks/data/world_knowledge_zh.jsonl").read_text("utf-8")
          .splitlines()]
    assert zh == [d["id"] for d in docs]


def test_fluency_sentences_are_held_out(lm):
    world = checks_mod._world_of(lm, TASKS)
    from polyedit.world.corpus import fact_docs

    training = {d.text for d in fact_docs(world)}
    docs = world_tasks.fluency_docs(world, 0)
    assert set(docs) == set(world.config.langs)
    assert all(d["text"] not in training for rows in docs.values() for d in rows)


@pytest.mark.slow
def test_in_process_numbers_equal_lm_evals_own_cli_on_the_saved_edited_model(single, tmp_path, monkeypatch):
    """One edit: `edit --save` writes the edited model, lm-eval's CLI scores it with the run's task files."""
    out, summary = single
    point = summary["capability"]["points"][0]
    record = next(json.loads(x) for x in (out / "results.jsonl").read_text("utf-8").splitlines()
                  if json.loads(x)["case_id"] == point["case_ids"][0])
    edit = record["edit"]
    saved = tmp_path / "edited"
    assert main(["edit", "--model", "world:small", "--method", "ft-m", "--lang", edit["lang"], "--prompt",
                 edit["prompt"], "--subject", edit["subject"], "--target-new", edit["target_new"],
                 "--device", "cpu", "--save", str(saved)]) == 0
    # `lm-eval run ...` (its console entry point, in this process to spare the interpreter's start)
    from lm_eval.__main__ import cli_evaluate

    monkeypatch.setattr(sys, "argv", ["lm-eval", "run", "--model", "hf", "--model_args", f"pretrained={saved}",
                                      "--tasks", "world_fluency_en", "--include_path",
                                      str(out / "capability" / "tasks"), "--limit", "3", "--device", "cpu",
                                      "--output_path", str(tmp_path / "lm_eval")])
    try:
        cli_evaluate()
    except SystemExit as e:
        assert not e.code
    result = json.loads(next((tmp_path / "lm_eval").rglob("results_*.json")).read_text("utf-8"))
    cli = result["results"]["world_fluency_en"]["logprob_per_char,none"]
    ours = point["tasks"]["world_fluency"]["metrics"]["logprob_per_char"]["per_language"]["en"]
    assert cli == pytest.approx(ours["after"], rel=1e-5, abs=1e-6)
    assert abs(ours["after"] - ours["before"]) > 1e-4  # so the agreement is about the edited model


@pytest.mark.slow
def test_sequential_checkpoints_are_checked_and_a_resume_does_not_recompute_them(lm, tmp_path, monkeypatch):
    calls = []
    real = harness.run

    def counted(*args, **kwargs):
        calls.append(1)
        if fail_at and len(calls) == fail_at:
            raise KeyboardInterrupt  # killed while checking the last checkpoint
        return real(*args, **kwargs)

    monkeypatch.setattr(harness, "run", counted)
    settings = dict(mode="sequential", limit=2, checkpoints=[1, 2], recall_sample=1, capability=["world_fluency"],
                    capability_limit=2, progress=False)
    fail_at = 3
    out = tmp_path / "seq"
    with pytest.raises(KeyboardInterrupt):
        bench(lm, "ft-m", DATA, out, **settings)
    first = (out / "capability.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(x)["point"] for x in first] == ["before", "after 1 edits"]
    calls.clear()
    fail_at = None
    summary = bench(lm, "ft-m", DATA, out, resume=True, **settings)
    assert len(calls) == 1  # only the unfinished checkpoint: not `before`, not the finished one
    lines = (out / "capability.jsonl").read_text("utf-8").splitlines()
    assert lines[:2] == first and json.loads(lines[2])["point"] == "after 2 edits"
    cap = summary["capability"]
    assert [p["after_edits"] for p in cap["points"]] == [1, 2] and "mean_over_points" not in cap
    assert [p["after_edits"] for p in summary["lifelong"]["checkpoints"]] == [1, 2]
    md = (out / "summary.md").read_text("utf-8")
    assert "\n| after 1 edits | " in md and "\n| after 2 edits | " in md


def test_without_the_extra_capability_is_one_line_naming_it(tmp_path, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_lm_eval(name, *args, **kwargs):
        if name == "lm_eval" or name.startswith("lm_eval."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_lm_eval)
    out = tmp_path / "run"
    code = main(["bench", "--model", "world:small", "--method", "ft-m", "--data", DATA, "--limit", "1",
                 "--capability", "world_knowledge", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "polyedit[capability]" in err
    assert not out.exists()


@pytest.mark.parametrize("settings, message", [
    ({"capability": []}, "--capability: names no task"),
    ({"capability_limit": 3}, "--capability-limit: needs --capability"),
    ({"capability": ["world_fluency"], "capability_sample": 0}, "--capability-sample: must be at least 1, got 0"),
    ({"capability": ["world_fluency"], "mode": "sequential", "capability_sample": 2},
     "--capability-sample: single and batch modes only"),
])
def test_bad_capability_settings_are_refused_before_anything_runs(settings, message):
    with pytest.raises(SpecError) as e:
        BenchConfig(model="m", method="ft-m", data="d", **settings)
    assert e.value.render(flag).startswith(message)


@pytest.mark.parametrize("task, message", [
    ("missing/task.yaml", "--capability: no task file at missing/task.yaml"),
    ("nameless.yaml", "--capability: nameless.yaml names no task or group"),
])
def test_a_task_that_cannot_run_is_one_line_and_nothing_is_written(task, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("nameless.yaml").write_text("dataset_path: json\ntask: [a, b]\n", "utf-8")
    code = main(["bench", "--model", "world:small", "--method", "ft-m", "--data", DATA, "--limit", "1",
                 "--capability", task, "--out", "run"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert not Path("run").exists()


def test_local_task_files_are_named_by_their_group_or_task(tmp_path):
    group = tmp_path / "g.yaml"
    group.write_text("group: xnli_mine\ntask: [xnli_en, xnli_de]\n", "utf-8")
    task = tmp_path / "t.yaml"
    task.write_text("task: mine\nprocess_results: !function utils.process_results\n", "utf-8")
    assert (harness.local_task_name(group), harness.local_task_name(task)) == ("xnli_mine", "mine")


def test_an_unknown_lm_eval_task_is_named():
    class Index:
        all_tasks = ["xnli", "xnli_en"]

    harness.check_known(["xnli_en"], Index())
    with pytest.raises(PolyeditError, match=r"unknown lm-eval task\(s\) xnli_xx, nope \(see `lm-eval ls tasks`"):
        harness.check_known(["xnli", "xnli_xx", "nope"], Index())


def test_paired_difference_known_answer():
    """after - before on the same examples, and the interval of a constant shift is that shift."""
    def measure(values):
        return {"t": {"version": "1", "subtasks": {"t_en": {
            "lang": "en", "version": "1", "metrics": {"acc": sum(values) / len(values)}, "higher_is_better": {},
            "n": len(values), "rows": {"acc": [[str(i), v] for i, v in enumerate(values)]}}}}}

    got = compare.compare(measure([1, 1, 0, 0]), measure([1, 0, 0, 0]))["t"]["metrics"]["acc"]
    assert (got["before"], got["after"], got["diff"]) == (0.5, 0.25, -0.25)
    shift = compare.compare(measure([0.1, 0.2, 0.3]), measure([0.6, 0.7, 0.8]))["t"]["metrics"]["acc"]
    assert shift["ci95"] == pytest.approx([0.5, 0.5])


def test_a_check_leaves_the_runs_random_state_as_it_found_it():
    """lm-eval seeds python, numpy and torch; the edits after a check must draw what they would without it."""
    import random

    import numpy as np
    import torch

    torch.manual_seed(7)
    random.seed(7)
    np.random.seed(7)
    with harness._quiet_and_seeded():
        torch.manual_seed(1234)
        random.seed(0)
        np.random.seed(0)
    after = (torch.rand(1).item(), random.random(), np.random.rand())
    torch.manual_seed(7)
    random.seed(7)
    np.random.seed(7)
    assert after == (torch.rand(1).item(), random.random(), np.random.rand())


def test_the_hub_sweep_names_lm_evals_multilingual_suites_as_its_registry_spells_them(monkeypatch):
    """configs/capability.yaml parses as a sweep, and each suite is a task or group in lm-eval's own task files
    (read from them: indexing lm-eval's registry takes seconds)."""
    import re

    import lm_eval

    from polyedit.sweep import load_sweep

    root = Path(__file__).resolve().parents[2]
    monkeypatch.setenv("MZSRE_DIR", str(shared("data/mzsre/data/MzsRE")))
    cells = load_sweep(root / "configs" / "capability.yaml", resolve_models=False).cells  # hub models, offline
    tasks = cells[0].capability
    assert {"xnli", "pawsx", "xstorycloze", "xcopa", "belebele", "mgsm_direct", "xquad", "mlqa"} <= set(tasks)
    names = set()
    for path in Path(lm_eval.__file__).parent.joinpath("tasks").rglob("*yaml"):  # mgsm's is `direct_yaml`
        names |= set(re.findall(r"^(?:task|group|tag): *['\"]?([\w\-.]+)", path.read_text("utf-8", "replace"), re.M))
    assert set(tasks) <= names, set(tasks) - names


def test_a_tags_tasks_are_its_languages():
    """lm-eval reports no line for a tag (`mlqa`, `xquad`, `mgsm_direct`): its tasks come from the index."""
    from types import SimpleNamespace

    class Index:
        all_tags = ["mgsm_direct"]
        task_index = {"mgsm_direct_de": SimpleNamespace(tags={"mgsm_direct"}),
                      "mgsm_direct_ja": SimpleNamespace(tags={"mgsm_direct"}), "xnli_de": SimpleNamespace(tags=set())}

    results = {"results": {"mgsm_direct_de": {}, "mgsm_direct_ja": {}, "xnli_de": {}, "xnli_en": {}},
               "group_subtasks": {"xnli": ["xnli_de", "xnli_en"]}}
    assert harness.subtasks_of("mgsm_direct", results, Index()) == ["mgsm_direct_de", "mgsm_direct_ja"]
    assert harness.subtasks_of("xnli", results, Index()) == ["xnli_de", "xnli_en"]
    assert harness.subtasks_of("xnli_de", results, Index()) == ["xnli_de"]
    assert [harness.language_of(t, {}) for t in ("mgsm_direct_ja", "belebele_deu_Latn")] == ["ja", "belebele_deu_Latn"]


def test_which_chunks_are_checked(lm):
    """Single and batch modes: a seeded sample of chunks (all without a sample size); sequential mode: the
    chunks that end at a checkpoint, and the last one."""
    from polyedit.data.registry import load_dataset

    cases = load_dataset("world:small:split=test").cases[:6]

    def points(**settings):
        cfg = BenchConfig(model="m", method="ft-m", data=DATA, capability=["world_fluency"], **settings)
        step = cfg.edits_per_step if cfg.mode != "single" else 1
        chunks = [cases[i:i + step] for i in range(0, len(cases), step)]
        return sorted(checks_mod.Checks(lm, cfg, cases, chunks, False).points)

    sampled = points(capability_sample=3)
    assert len(sampled) == 3 and sampled == points(capability_sample=3) and set(sampled) <= set(range(6))
    assert points(capability_sample=3, seed=1) != sampled or points(capability_sample=3, seed=2) != sampled
    assert points() == list(range(6)) and points(capability_sample=99) == list(range(6))
    assert len(points(mode="batch", edits_per_step=2, capability_sample=2)) == 2
    assert points(mode="sequential", edits_per_step=2, checkpoints=[2]) == [0, 2]  # after 2 edits, after all 6
