"""Where a run's time goes: one polyedit command, timed by phase, in this process.

    python benchmarks/profile_run.py [--cprofile FILE] [--top N] -- bench --model world:medium --method rome \\
        --data world:medium --limit 100 --out build/profile-bench
    python benchmarks/profile_run.py -- demo --cases 30 --out build/profile-demo

The command runs as `polyedit ARGS` would, with timers wrapped around the runner's phases: editing
(`runner._apply`), pre-edit scoring (`runner._evaluate_unedited`, cache reads included) and post-edit scoring
(`runner._evaluate_with` with the edits in place); inside each, the backend's generation (`HFBackend.generate`)
and teacher forcing (`HFBackend.score`); inside those, the model's forward passes (a hook on the top module).
Time is charged to the innermost phase open, so the rows add up to the wall time: what a phase spends
outside the model's forward passes (tokenising, decoding, metrics, bookkeeping) is its Python overhead, and
"outside the runs" is loading, dataset reading and reports. Prints the tree (seconds, share of wall, calls)
and the process's CPU seconds. `--cprofile FILE` also writes cProfile's statistics (which slow the Python
parts, so the phase times of such a run are not the ones to report) and prints the top functions.
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import sys
import time
from collections import defaultdict

FORWARD = "model forward"


class PhaseClock:
    """Exclusive time per path of nested phases: entering a phase pauses the one around it."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.seconds: dict[tuple[str, ...], float] = defaultdict(float)
        self.calls: dict[tuple[str, ...], int] = defaultdict(int)
        self.mark = time.perf_counter()

    def _charge(self) -> None:
        now = time.perf_counter()
        self.seconds[tuple(self.stack)] += now - self.mark
        self.mark = now

    def enter(self, name: str) -> None:
        self._charge()
        self.stack.append(name)
        self.calls[tuple(self.stack)] += 1

    def leave(self) -> None:
        self._charge()
        self.stack.pop()

    def wrap(self, fn, name_of):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            name = name_of(*args, **kwargs)
            if name is None or (self.stack and self.stack[-1] == name):  # transparent, or a nested call
                return fn(*args, **kwargs)
            self.enter(name)
            try:
                return fn(*args, **kwargs)
            finally:
                self.leave()
        return timed


def instrument(clock: PhaseClock) -> None:
    """Wrap the runner's phases, the backend's two kinds of request, and every loaded model's forward."""
    from polyedit.evaluation import runner
    from polyedit.models import backend, load

    runner._apply = clock.wrap(runner._apply, lambda *a, **k: "editing")
    runner._evaluate_unedited = clock.wrap(runner._evaluate_unedited, lambda *a, **k: "pre-edit scoring")
    post = lambda backend_, cases, cfg, handles, *a, **k: None if handles is None else "post-edit scoring"  # noqa: E731
    runner._evaluate_with = clock.wrap(runner._evaluate_with, post)
    backend.HFBackend.generate = clock.wrap(backend.HFBackend.generate, lambda *a, **k: "generation")
    backend.HFBackend.score = clock.wrap(backend.HFBackend.score, lambda *a, **k: "teacher forcing")
    original = load.load_model

    @functools.wraps(original)
    def load_and_hook(*args, **kwargs):
        lm = original(*args, **kwargs)
        lm.model.register_forward_pre_hook(lambda *_: clock.enter(FORWARD))
        lm.model.register_forward_hook(lambda *_: clock.leave(), always_call=True)
        return lm

    load.load_model = load_and_hook
    for name, module in list(sys.modules.items()):  # modules that imported load_model by name already
        if name.startswith("polyedit") and getattr(module, "load_model", None) is original:
            module.load_model = load_and_hook


def report(clock: PhaseClock, wall: float, cpu: float) -> str:
    inclusive: dict[tuple[str, ...], float] = defaultdict(float)
    for path, s in clock.seconds.items():
        for i in range(len(path) + 1):
            inclusive[path[:i]] += s
    lines = [f"wall {wall:.1f} s, CPU {cpu:.1f} s (user + system of this process)",
             f"{'phase':<58}{'seconds':>10}{'share':>8}{'calls':>8}"]
    for path in sorted(inclusive, key=lambda p: [(-inclusive[p[:i + 1]], p[i]) for i in range(len(p))]):
        if not path:
            continue
        label = "  " * (len(path) - 1) + path[-1]
        lines.append(f"{label:<58}{inclusive[path]:>10.1f}{100 * inclusive[path] / wall:>7.1f}%"
                     f"{clock.calls[path]:>8}")
        own = clock.seconds.get(path, 0.0)
        if path[-1] != FORWARD and own != inclusive[path]:
            lines.append(f"{'  ' * len(path) + 'Python outside the forward passes':<58}{own:>10.1f}"
                         f"{100 * own / wall:>7.1f}%")
    outside = clock.seconds.get((), 0.0)
    lines.append(f"{'outside the runs (loading, data, reports)':<58}{outside:>10.1f}{100 * outside / wall:>7.1f}%")
    forward = sum(s for p, s in clock.seconds.items() if p and p[-1] == FORWARD)
    lines.append(f"{'all model forward passes':<58}{forward:>10.1f}{100 * forward / wall:>7.1f}%")
    lines.append(f"{'all Python outside them':<58}{wall - forward:>10.1f}{100 * (wall - forward) / wall:>7.1f}%")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cprofile", default=None, help="also write cProfile statistics here")
    ap.add_argument("--top", type=int, default=25, help="with --cprofile: functions printed, by own time")
    ap.add_argument("args", nargs=argparse.REMAINDER, help="-- then the polyedit command and its options")
    opts = ap.parse_args()
    args = opts.args[1:] if opts.args[:1] == ["--"] else opts.args
    if not args:
        ap.error("give the polyedit command after --")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from polyedit.cli import main as cli

    clock = PhaseClock()
    instrument(clock)
    profiler = None
    if opts.cprofile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    clock.mark = t0
    code = cli.main(args)
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    clock._charge()
    if profiler is not None:
        import pstats

        profiler.disable()
        profiler.dump_stats(opts.cprofile)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(opts.top)
    print(f"polyedit {' '.join(args)}  (exit {code})")
    print(report(clock, wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)))
    sys.exit(code)


if __name__ == "__main__":
    main()
