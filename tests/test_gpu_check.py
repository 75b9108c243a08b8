"""benchmarks/gpu_check.py is ready for a GPU: its --tiny dry run goes through every step on the CPU."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_runs_end_to_end_on_cpu(tmp_path):
    import os

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "POLYEDIT_STATS_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--tiny", "--json",
                           str(tmp_path / "figures.json")], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for what in ("batched scoring", "batched generation", "rome edit", "memit edit", "MFU", "rome edit split",
                 "memit edit split", "layer placement split"):
        assert what in done.stdout
    assert "restored bit for bit True" in done.stdout and (tmp_path / "figures.json").is_file()
    assert "2 single rome edits on world:small, one at a time vs 64 in parallel" in done.stdout
    assert "| identical (largest metric difference" in done.stdout
    # the vLLM adapters section, run against polyedit serve: the served edits' table is the local one
    assert "edits as adapters through polyedit serve" in done.stdout and "whole table equal True" in done.stdout
