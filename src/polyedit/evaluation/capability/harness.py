"""lm-evaluation-harness, run in process on the model polyedit edits.

The tasks run through `lm_eval.simple_evaluate` on lm-eval's own HF wrapper (`HFLM`) built around the very
model object and tokenizer the editors change in place (same device and dtype, the tokenizer's own BOS rule),
so what is measured after an edit is the edited model, through the harness's own requests, batching and
metrics. lm-eval is an optional extra, imported only here and only when asked for.
"""

from __future__ import annotations

import json
import logging
import random
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import yaml

from polyedit.data.languages import all_languages
from polyedit.errors import SpecError

EXTRA = "capability"
INSTALL = f"pip install 'polyedit[{EXTRA}]'"
#: the fields of an lm-eval sample kept in capability_samples.jsonl (the request, the answers, the scores)
SAMPLE_FIELDS = ("doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "filter", "doc_hash")


def require_lm_eval():
    """The `lm_eval` module, or one line naming the extra that provides it."""
    try:
        import lm_eval
        import lm_eval.models.huggingface  # noqa: F401 (HFLM)
    except ImportError:
        raise SpecError("capability", f"needs lm-evaluation-harness, the '{EXTRA}' extra: {INSTALL}") from None
    return lm_eval


def lm_eval_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("lm_eval")
    except metadata.PackageNotFoundError:
        return None


def task_manager(include_paths: list[str], defaults: bool = True):
    """lm-eval's task index over `include_paths`, and its own tasks when `defaults` (indexing those takes
    seconds, so runs that name only local tasks skip it)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=include_paths or None, include_defaults=defaults)


def local_task_name(path: Path) -> str:
    """The task (or group) a local task YAML defines; lm-eval's `!function` tags are left unresolved."""
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    try:
        data = yaml.load(path.read_text("utf-8"), Loader=Loader)  # noqa: S506 (a safe loader, tags ignored)
    except (OSError, yaml.YAMLError) as e:
        raise SpecError("capability", f"cannot read task file {path}: {e}") from None
    names = [data.get(key) for key in ("group", "task")] if isinstance(data, dict) else []
    name = next((n for n in names if isinstance(n, str)), None)  # a group's `task` is its list of subtasks
    if name is None:
        raise SpecError("capability", f"{path} names no task or group (no 'task:' or 'group:' string)")
    return name


def check_known(names: list[str], manager) -> None:
    known = set(manager.all_tasks)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SpecError("capability", f"unknown lm-eval task(s) {', '.join(unknown)} (see `lm-eval ls tasks`, or "
                                      f"give a task YAML file)")


def wrap(lm, batch_size):
    """lm-eval's HF model around polyedit's loaded model: the weights it reads are the ones edited."""
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=lm.model, tokenizer=lm.tokenizer, batch_size=batch_size)


@contextmanager
def _quiet_and_seeded():
    """lm-eval seeds python, numpy and torch for its own sampling; the run's random state is put back so a
    check never changes what the edits after it draw. Its per-task log lines are kept off the console."""
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    level = logging.getLogger("lm_eval").level
    logging.getLogger("lm_eval").setLevel(logging.WARNING)
    bars = _dataset_progress_bars(False)  # `datasets` reads the JSON lines data with a bar per task
    try:
        yield
    finally:
        _dataset_progress_bars(bars)
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        logging.getLogger("lm_eval").setLevel(level)


def _dataset_progress_bars(on: bool) -> bool:
    """Turn `datasets`' progress bars on or off; returns whether they were on."""
    try:
        from datasets.utils import logging as ds_logging
    except ImportError:  # lm-eval needs `datasets`; without it there is nothing to quiet
        return on
    was = ds_logging.is_progress_bar_enabled()
    (ds_logging.enable_progress_bar if on else ds_logging.disable_progress_bar)()
    return was


def run(model, tasks: list[str], manager, limit: int | None, chat_template: bool) -> dict:
    """`simple_evaluate` on the wrapped model; lm-eval's own results dictionary, samples included."""
    import lm_eval

    with _quiet_and_seeded():
        return lm_eval.simple_evaluate(model=model, tasks=list(tasks), task_manager=manager, limit=limit,
                                       log_samples=True, bootstrap_iters=0, apply_chat_template=bool(chat_template))


def language_of(task: str, config: dict) -> str:
    """A subtask's language: its metadata `lang` (polyedit's world tasks), else a trailing language code in
    its name (`xnli_de`, `belebele_deu_Latn` is not one), else the task itself."""
    lang = (config.get("metadata") or {}).get("lang")
    if isinstance(lang, str):
        return lang
    tail = task.rsplit("_", 1)[-1]
    return tail if tail in {x.code for x in all_languages()} else task


def subtasks_of(name: str, results: dict, manager) -> list[str]:
    """The tasks lm-eval ran for `name`: a group's subtasks, a tag's tasks (`mgsm_direct`, `xquad`, `mlqa` are
    tags: lm-eval reports no line of their own), or the task itself."""
    if results.get("group_subtasks", {}).get(name):
        return results["group_subtasks"][name]
    if manager is not None and name in manager.all_tags:
        return [n for n, e in manager.task_index.items() if name in e.tags and n in results["results"]]
    return [name]


def measurement(results: dict, requested: list[str], manager=None) -> dict:
    """What a capability check keeps of lm-eval's results: per requested task, its subtasks (language,
    version, lm-eval's aggregated metrics, higher_is_better) and every sample's scalar per-example scores
    (the rows the paired bootstrap resamples), keyed by the document's `id` field or lm-eval's doc_id."""
    out = {}
    for name in requested:
        subtasks = subtasks_of(name, results, manager)
        entry = {"version": _version(results["versions"].get(name)), "subtasks": {}}
        for sub in subtasks:
            config = results["configs"].get(sub, {})
            metrics = {k.split(",")[0]: v for k, v in results["results"].get(sub, {}).items()
                       if "," in k and "_stderr" not in k and isinstance(v, (int, float))}
            entry["subtasks"][sub] = {
                "lang": language_of(sub, config), "version": _version(results["versions"].get(sub)),
                "metrics": metrics, "higher_is_better": results.get("higher_is_better", {}).get(sub, {}),
                "n": (results.get("n-samples", {}).get(sub) or {}).get("effective"),
                "rows": _rows(results.get("samples", {}).get(sub, []), list(metrics))}
        out[name] = entry
    return out


def _version(value) -> str | None:
    """lm-eval gives a task's version as the YAML wrote it (1.0) and a group's as a string: one form here."""
    return None if value is None else str(value)


def _rows(samples: list[dict], metrics: list[str]) -> dict[str, list]:
    out: dict[str, list] = {m: [] for m in metrics}
    for s in samples:
        doc = s.get("doc")
        key = str(doc["id"]) if isinstance(doc, dict) and "id" in doc else str(s["doc_id"])
        for m in metrics:
            v = s.get(m)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out[m].append([key, float(v)])
    return {m: rows for m, rows in out.items() if rows}


def sample_lines(results: dict, point: str) -> list[dict]:
    """capability_samples.jsonl: every lm-eval sample of a check, as lm-eval logged it, with its scores."""
    out = []
    for task, samples in results.get("samples", {}).items():
        for s in samples:
            line = {"point": point, "task": task, **{k: s[k] for k in SAMPLE_FIELDS if k in s},
                    "scores": {m: s[m] for m in s.get("metrics", []) if m in s}}
            out.append(json.loads(json.dumps(line, ensure_ascii=False, default=_plain)))
    return out


def _plain(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)
