"""When a run measures capability, and where it keeps what it measured.

Once on the unedited model (`before`), then
- single and batch modes: after each of a seeded sample of `capability_sample` edits (batches), with the
  edit in place and before it is restored (all of them when no sample size is given);
- sequential mode: at each lifelong checkpoint and after the run's last edit.

Each check is one line of `capability.jsonl` (lm-eval's values and the per-example scores) written before
the chunk's results, its lm-eval samples in `capability_samples.jsonl` before that; a resumed run keeps
the checks of finished chunks (and `before`) and redoes only those of the chunk it redoes.
"""

from __future__ import annotations

import random
from pathlib import Path

from polyedit.errors import PolyeditError, SpecError
from polyedit.evaluation.capability import compare, harness, world_tasks
from polyedit.evaluation.store import JsonLines

FOLDER = "capability"  # the generated world tasks, under the run folder
RECORDS = "capability.jsonl"
SAMPLES = "capability_samples.jsonl"
BEFORE = "before"


def check_settings(tasks, limit, sample, mode: str) -> list[str] | None:
    """The capability settings of a run (`RunSpec`: bounds there), checked before anything is loaded (lm-eval
    is not imported)."""
    if tasks is None:
        for field, value in (("capability_limit", limit), ("capability_sample", sample)):
            if value is not None:
                raise SpecError(field, "needs {capability}", ("capability",))
        return None
    tasks = list(dict.fromkeys(t.strip() for t in tasks if t and t.strip()))
    if not tasks:
        raise SpecError("capability", "names no task")
    if sample is not None and mode == "sequential":
        raise SpecError("capability_sample", "single and batch modes only (a sequential run is checked at each "
                                             "checkpoint and after its last edit)")
    return tasks


def is_local(name: str) -> bool:
    return name.endswith((".yaml", ".yml"))


class Checks:
    """The capability checks of one run (`polyedit bench --capability`)."""

    def __init__(self, lm, cfg, cases: list, chunks: list[list], in_context: bool) -> None:
        harness.require_lm_eval()
        self.lm, self.cfg, self.chunks = lm, cfg, chunks
        self.world = None  # the knowledge world, when a world task is asked for
        self.registry_tasks: list[str] = []  # lm-eval's own tasks, named without a file
        self.tasks, self.local_dirs = self._resolve(cfg.capability)
        self.edited_subjects = {c.meta.get("subject_key", c.case_id) for c in cases}
        self.in_context = in_context
        if cfg.mode == "sequential":
            counts = {len(cases)} | set(cfg.checkpoints or [])
            self.points = {k for k in range(len(chunks)) if sum(map(len, chunks[:k + 1])) in counts}
        else:
            k = len(chunks) if cfg.capability_sample is None else min(cfg.capability_sample, len(chunks))
            self.points = set(random.Random(f"capability-{cfg.seed}").sample(range(len(chunks)), k))
        self.model = self.manager = self.records = self.samples = None

    def _resolve(self, names: list[str]) -> tuple[list[str], list[str]]:
        """lm-eval task names: local YAML files by the task they define, the world tasks as themselves;
        unknown names fail here, before the run writes anything."""
        tasks, dirs = [], []
        for name in names:
            if is_local(name):
                path = Path(name).expanduser()
                if not path.is_file():
                    raise SpecError("capability", f"no task file at {name}")
                tasks.append(harness.local_task_name(path))
                dirs.append(str(path.resolve().parent))
            else:
                tasks.append(name)
        if any(t in world_tasks.TASKS for t in tasks):
            self.world = _world_of(self.lm, [t for t in tasks if t in world_tasks.TASKS])
        self.registry_tasks = [t for t, n in zip(tasks, names) if t not in world_tasks.TASKS and not is_local(n)]
        others = [t for t in tasks if t not in world_tasks.TASKS]
        if others:  # lm-eval's own index only when a task is named without a file (indexing it takes seconds)
            harness.check_known(others, harness.task_manager(dirs, defaults=bool(self.registry_tasks)))
        return tasks, list(dict.fromkeys(dirs))

    def settings(self) -> dict:
        out = {"tasks": self.tasks, "limit": self.cfg.capability_limit, "sample": self.cfg.capability_sample,
               "mode": self.cfg.mode, "chunks_checked": sorted(self.points), "lm_eval": harness.lm_eval_version()}
        if self.in_context:
            out["note"] = ("an in-context method edits no weight: every check measures the unedited model (the "
                           "edit lives in the prompt, which lm-eval's tasks do not carry)")
        return out

    def start(self, out: Path, n_done: int) -> None:
        """Write the world tasks, keep the checks of finished chunks, and check the unedited model once."""
        dirs = list(self.local_dirs)
        if any(t in world_tasks.TASKS for t in self.tasks):
            folder = out / FOLDER / "tasks"
            world_tasks.write_tasks(folder, self.world, self.edited_subjects, self.cfg.seed)
            dirs.append(str(folder.resolve()))
        self.manager = harness.task_manager(dirs, defaults=bool(self.registry_tasks))
        self.records, self.samples = JsonLines(out / RECORDS), JsonLines(out / SAMPLES)
        same = self.settings()
        kept = self.records.keep(lambda r: r.get("settings") == same and r.get("chunk", n_done) < n_done)
        done = {r["point"] for r in kept}
        self.samples.keep(lambda r: r.get("point") in done)
        if BEFORE not in done:
            self._check(BEFORE, -1, 0, [])

    def after(self, k: int, edited: list) -> None:
        """After chunk `k` with `edited` (the chunk, or in sequential mode every edit so far) in place."""
        if k not in self.points:
            return
        if self.cfg.mode == "sequential":
            self._check(f"after {len(edited)} edits", k, len(edited), [])
        else:
            ids = [c.case_id for c in self.chunks[k]]
            self._check(f"edit {ids[0]}" if len(ids) == 1 else f"batch {k}", k, len(ids), ids)

    def _check(self, point: str, chunk: int, after_edits: int, case_ids: list[str]) -> None:
        if self.model is None:
            self.model = harness.wrap(self.lm, self.cfg.eval_batch_size)
        results = harness.run(self.model, self.tasks, self.manager, self.cfg.capability_limit,
                              self.cfg.chat_template)
        self.samples.append(harness.sample_lines(results, point))
        measured = harness.measurement(results, self.tasks, self.manager)
        self.records.append([{"point": point, "chunk": chunk, "after_edits": after_edits, "case_ids": case_ids,
                              "settings": self.settings(), "tasks": measured}])

    def summary(self, out: Path) -> dict:
        records = JsonLines(out / RECORDS).records()
        return compare.summarize(records, self.settings(), f"lm-eval {harness.lm_eval_version()}")


def _world_of(lm, names: list[str]):
    from polyedit.world.build import read_build
    from polyedit.world.config import BuildConfig
    from polyedit.world.world import generate_world

    path = (getattr(lm, "meta", None) or {}).get("path")
    try:
        meta = read_build(path) if path else None
    except PolyeditError:
        meta = None
    if meta is None:
        raise SpecError("capability", f"{','.join(names)}: these tasks ask the knowledge world, and the model is "
                                      f"not a knowledge-world model (no build.json beside it); name lm-eval tasks "
                                      f"instead")
    return generate_world(BuildConfig.from_dict(meta["config"]).world)
