"""The sweep on a Ray cluster: one actor per worker slot (the resources SWEEP.yaml declares), each holding a
loaded model; shards are handed out one at a time to whichever actor is free.

Faults: actors restart when their process dies (`max_restarts=-1`) and the call in flight is retried on
the restarted actor (`max_task_retries=-1`); the retried shard resumes its own store, so no case is lost or
doubled. Should an actor be gone for good, its shard goes back in the queue for the others."""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path

import polyedit
from polyedit.errors import PolyeditError
from polyedit.sweep.runner import finish, plan, progress_bar
from polyedit.sweep.spec import Sweep


def _ray():
    try:
        import ray
    except ImportError:
        raise PolyeditError("--ray needs Ray: pip install 'polyedit[ray]'") from None
    return ray


def init_ray(address: str | None, num_cpus: int | None = None) -> bool:
    """Connect to ADDRESS, or start a local single-machine cluster (loopback, no dashboard).
    Returns whether this call started Ray (and so should shut it down)."""
    ray = _ray()
    if ray.is_initialized():
        return False
    # workers import the same polyedit as this process, even from a source checkout
    env = {"env_vars": {"PYTHONPATH": os.pathsep.join(
        [str(Path(polyedit.__file__).parents[1])] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}}
    if address:
        ray.init(address=address, runtime_env=env, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1", runtime_env=env,
                 log_to_driver=False)
    return True


def make_actors(sweep: Sweep, device: str = "cpu") -> list:
    ray = _ray()
    from polyedit.sweep.worker import ShardWorker

    res = sweep.resources
    cls = ray.remote(num_cpus=res.cpus_per_worker, num_gpus=res.gpus_per_worker, max_restarts=-1,
                     max_task_retries=-1)(ShardWorker)
    dev = "cuda" if res.gpus_per_worker > 0 else device
    return [cls.remote(res.threads_per_worker, dev) for _ in range(res.workers)]


def run_ray(sweep: Sweep, out: str | Path, address: str | None = None, progress: bool = True,
            actors: list | None = None, device: str = "cpu") -> dict[str, dict]:
    ray = _ray()
    p = plan(sweep, out)
    started = init_ray(address) if actors is None else False
    try:
        actors = actors if actors is not None else make_actors(sweep, device)
        queue, free, running = deque(p.todo), deque(actors), {}
        bar = progress_bar(p, progress)
        try:
            while queue or running:
                while queue and free:
                    actor, shard = free.popleft(), queue.popleft()
                    running[actor.run.remote(shard)] = (actor, shard)
                ready, _ = ray.wait(list(running), num_returns=1)
                actor, shard = running.pop(ready[0])
                try:
                    bar.update(ray.get(ready[0])[1])
                    free.append(actor)
                    finish(p)
                except ray.exceptions.RayTaskError as e:  # the shard itself failed: bad input stays one line
                    if isinstance(e.cause, PolyeditError):
                        raise PolyeditError(str(e.cause)) from None
                    raise
                except ray.exceptions.RayActorError:  # the actor is gone for good: others take its shard
                    queue.appendleft(shard)
                    if not free and not running:
                        raise PolyeditError("every Ray worker of the sweep died") from None
        finally:
            bar.close()
        return finish(p)
    finally:
        if started:
            ray.shutdown()
