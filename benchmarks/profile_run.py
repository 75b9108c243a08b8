"""Where a run's time goes: one polyedit command, timed by phase, in this process.

    python benchmarks/profile_run.py [--cprofile FILE] [--top N] -- bench --model world:medium --method rome \\
        --data world:medium --limit 100 --out build/profile-bench
    python benchmarks/profile_run.py -- demo --cases 30 --out build/profile-demo

The command runs as `polyedit ARGS` would, with timers wrapped around the runner's phases: editing
(`runner._apply`), pre-edit scoring (`runner._evaluate_unedited`, cache reads included) and post-edit scoring
(`runner._evaluate_with` with the edits in place); inside each, the backend's generation (`HFBackend.generate`)
and teacher forcing (`HFBackend.score`); inside those, the model's forward passes (a hook on the top module); and around them
the runs themselves (`run_bench`: checks, records, summaries), loading the model and the HTML report.
Time is charged to the innermost phase open, so the rows add up to the wall time: what a phase spends
outside the model's forward passes (tokenising, decoding, metrics, bookkeeping) is its Python overhead, and
"outside the runs" is loading, dataset reading and reports. Prints the tree: CPU seconds of this process (which
a busy, shared machine does not inflate, unlike wall seconds, also shown), share, calls. `--cprofile FILE` also writes cProfile's statistics (which slow the Python
parts, so the phase times of such a run are not the ones to report) and prints the top functions.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections import defaultdict

FORWARD = "model forward"


class PhaseClock:
    """Exclusive time per path of nested phases: entering a phase pauses the one around it."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.seconds: dict[tuple[str, ...], float] = defaultdict(float)  # wall
        self.cpu: dict[tuple[str, ...], float] = defaultdict(float)  # this process's CPU time
        self.calls: dict[tuple[str, ...], int] = defaultdict(int)
        self.start()

    def start(self) -> None:
        self.mark, self.cpu_mark = time.perf_counter(), time.process_time()

    def _charge(self) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.seconds[tuple(self.stack)] += now - self.mark
        self.cpu[tuple(self.stack)] += cpu - self.cpu_mark
        self.mark, self.cpu_mark = now, cpu

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
    """Wrap the runs, their phases, the backend's two kinds of request, loading and the report, and every
    loaded model's forward."""
    from polyedit.evaluation import runner
    from polyedit.models import backend, load
    from polyedit.reports import page

    def wrap(module, name: str, name_of) -> None:
        original = getattr(module, name)
        replace_everywhere(original, clock.wrap(original, name_of))

    wrap(runner, "run_bench", lambda *a, **k: "bench runs (checks, records, summaries)")
    wrap(runner, "_apply", lambda *a, **k: "editing")
    wrap(runner, "_evaluate_unedited", lambda *a, **k: "pre-edit scoring")
    wrap(runner, "_evaluate_with", lambda backend_, cases, cfg, handles, *a, **k:
         None if handles is None else "post-edit scoring")
    wrap(page, "write_report", lambda *a, **k: "the HTML report")
    backend.HFBackend.generate = clock.wrap(backend.HFBackend.generate, lambda *a, **k: "generation")
    backend.HFBackend.score = clock.wrap(backend.HFBackend.score, lambda *a, **k: "teacher forcing")
    loading = clock.wrap(load.load_model, lambda *a, **k: "loading the model")

    @functools.wraps(load.load_model)
    def load_and_hook(*args, **kwargs):
        lm = loading(*args, **kwargs)
        lm.model.register_forward_pre_hook(lambda *_: clock.enter(FORWARD))
        lm.model.register_forward_hook(lambda *_: clock.leave(), always_call=True)
        return lm

    replace_everywhere(load.load_model, load_and_hook)


def replace_everywhere(original, wrapped) -> None:
    """`wrapped` wherever polyedit's modules hold `original` (its own module, and those that imported it by name)."""
    for name, module in list(sys.modules.items()):
        if name.startswith("polyedit"):
            for attr, value in list(vars(module).items()):
                if value is original:
                    setattr(module, attr, wrapped)


def report(clock: PhaseClock) -> str:
    """The tree of phases, CPU seconds first (what a busy, shared machine does not inflate), then wall."""
    cpu, wall = _inclusive(clock.cpu), _inclusive(clock.seconds)
    total_cpu, total_wall = cpu[()], wall[()]

    def row(label: str, c: float, w: float, calls: str = "") -> str:
        return f"{label:<52}{c:>9.1f}{100 * c / total_cpu:>7.1f}%{w:>9.1f}{calls:>8}"

    lines = [f"{'phase':<52}{'CPU s':>9}{'share':>8}{'wall s':>9}{'calls':>8}"]
    for path in sorted(cpu, key=lambda p: [(-cpu[p[:i + 1]], p[i]) for i in range(len(p))]):
        if not path:
            continue
        lines.append(row("  " * (len(path) - 1) + path[-1], cpu[path], wall[path], str(clock.calls[path])))
        if path[-1] != FORWARD and clock.cpu.get(path, 0.0) != cpu[path]:
            lines.append(row("  " * len(path) + "Python outside the forward passes", clock.cpu.get(path, 0.0),
                             clock.seconds.get(path, 0.0)))
    lines.append(row("outside these (imports, data, console output)", clock.cpu.get((), 0.0),
                     clock.seconds.get((), 0.0)))
    forward = [sum(v for p, v in d.items() if p and p[-1] == FORWARD) for d in (clock.cpu, clock.seconds)]
    lines.append(row("all model forward passes", *forward))
    lines.append(row("all Python outside them", total_cpu - forward[0], total_wall - forward[1]))
    lines.append(row("total", total_cpu, total_wall))
    return "\n".join(lines)


def _inclusive(own: dict[tuple[str, ...], float]) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = defaultdict(float)
    for path, s in own.items():
        for i in range(len(path) + 1):
            out[path[:i]] += s
    return out


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

    cli._register()  # every command's module imported, so that `instrument` finds what they imported by name
    import polyedit.api  # noqa: F401  (the Python API the commands call)

    clock = PhaseClock()
    instrument(clock)
    profiler = None
    if opts.cprofile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    clock.start()
    code = cli.main(args)
    clock._charge()
    if profiler is not None:
        import pstats

        profiler.disable()
        profiler.dump_stats(opts.cprofile)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(opts.top)
    print(f"polyedit {' '.join(args)}  (exit {code})")
    print(report(clock))
    sys.exit(code)


if __name__ == "__main__":
    main()
