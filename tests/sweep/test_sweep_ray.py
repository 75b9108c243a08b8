"""The sweep on a local 2-CPU Ray cluster gives the same numbers as in one process, also after a worker is
killed mid-shard (the actor restarts, the shard resumes its store: no case lost or doubled)."""

import os
import signal
import threading
import time

import pytest

from helpers.builders import sweep_numbers as numbers, write_sweep

from helpers.requires import importable

# Ray is in the test extra: under CI a missing Ray is a failure, elsewhere the Ray tests are skipped
ray = importable("ray")

from polyedit.sweep import load_sweep  # noqa: E402
from polyedit.sweep.ray_runner import init_ray, make_actors, run_ray  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    started = init_ray(None, num_cpus=2)
    yield
    if started:
        ray.shutdown()


def test_ray_sweep_equals_local(cluster, local_sweep, tmp_path):
    sweep = load_sweep(write_sweep(tmp_path))
    run_ray(sweep, tmp_path / "out", progress=False)
    assert numbers(tmp_path / "out") == numbers(local_sweep)


def test_killed_worker_mid_shard_loses_and_doubles_nothing(cluster, local_sweep, tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, shard_size=3))  # one shard per cell: a kill lands inside one
    actors = make_actors(sweep)
    pids = ray.get([a.pid.remote() for a in actors])
    out = tmp_path / "out"
    errors = []

    def run():
        try:
            run_ray(sweep, out, progress=False, actors=actors)
        except Exception as e:  # surfaced by the assertion below
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and time.monotonic() < deadline and t.is_alive():
        for part in out.glob("*/shards/*/results.jsonl"):
            written = [x for x in part.read_text().splitlines() if x.strip()]
            if 1 <= len(written) < 3 and not (part.parent / "summary.json").exists():
                killed = part.parent
                os.kill(pids[0], signal.SIGKILL)  # both workers are busy (4 cells, 2 workers): mid-shard
                break
        time.sleep(0.05)
    t.join(600)
    assert killed is not None, "no shard was caught in progress"
    assert not errors, errors
    new_pid = ray.get(actors[0].pid.remote())
    assert new_pid != pids[0]  # the killed worker was restarted
    got = numbers(out)
    for cell in got.values():
        ids = [r["case_id"] for r in cell["results"]]
        assert len(ids) == len(set(ids)) == 3
    assert got == numbers(local_sweep)
    for a in actors:
        ray.kill(a)


def test_a_shard_failing_on_ray_is_one_polyedit_error(cluster, tmp_path):
    from polyedit.errors import PolyeditError

    # valid fields; the check that needs the model (which layers it has) fails in the worker
    (tmp_path / "layer99.yaml").write_text("layers: [99]\n")
    sweep = load_sweep(write_sweep(tmp_path, methods=[{"name": "lora", "hparams": "layer99.yaml"}],
                                   datasets=["world:small"], limit=1, resources={"workers": 1}))
    with pytest.raises(PolyeditError, match=r"^lora: layer 99 does not exist \(the model has layers 0..3\)$"):
        run_ray(sweep, tmp_path / "out", progress=False)


def test_cli_sweep_on_the_running_cluster(cluster, local_sweep, tmp_path, capsys):
    from polyedit.cli.main import main

    path = write_sweep(tmp_path, methods=[{"name": "lora", "hparams": "lora.yaml"}], datasets=["world:small"],
                       limit=2, resources={"workers": 2})
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--ray"]) == 0
    assert "1 of 1 grid cells finished" in capsys.readouterr().out
    (got,) = numbers(tmp_path / "out").values()
    ref = next(c for n, c in numbers(local_sweep).items() if "__lora__" in n and "edit_lang" not in n)
    assert got["results"] == ref["results"][:2]  # case i is seeded alike whatever the cell's length
