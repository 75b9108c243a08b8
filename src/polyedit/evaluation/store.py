"""The run folder (`--out`): a lock, `run.json`, and append-only JSON-lines files that survive a kill.

- One run at a time: the folder is locked with `filelock` (an OS lock, released by the kernel when its
  process dies, so a killed run's lock is stale and simply taken over); a live one is refused in one line
  naming its process.
- `run.json` is written atomically (temporary file, fsync, rename): it is whole or absent.
- A JSON-lines append is one write of whole lines, fsynced; if it fails (a full disk), the file is cut
  back to where it was. Reading drops a torn last line, and `truncate` cuts the records a resume must
  redo, so a file never holds a record twice.
- A start that fails before the first record leaves nothing that blocks the corrected rerun.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from polyedit.data.jsonio import read_json
from polyedit.errors import PolyeditError
from polyedit.evaluation.schema import check_version, version_of

LOCK_NAME = ".polyedit.lock"
OWNER_NAME = ".polyedit.lock.owner"  # who holds the lock: named when a second run is refused


def finite(value):
    """`value` with every non-finite float replaced by None: NaN is not JSON, and a metric that could not
    be computed is absent, not a number."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def _dumps(record, **kw) -> str:
    return json.dumps(finite(record), ensure_ascii=False, allow_nan=False, **kw)


def _write_error(path: Path, e: OSError) -> PolyeditError:
    return PolyeditError(f"cannot write {path}: {e.strerror or e}")


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise _write_error(path, e) from None


class JsonLines:
    """Append-only JSON lines: whole lines per append, a torn tail dropped on read."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> list[tuple[dict, int]]:
        """(record, offset just past its line) for every whole record; a torn line and all after it are
        ignored (and cut by the next `truncate`)."""
        if not self.path.exists():
            return []
        out, offset = [], 0
        for line in self.path.read_bytes().split(b"\n")[:-1]:  # the part after the last newline is torn
            offset += len(line) + 1
            if not line.strip():
                continue
            try:
                out.append((json.loads(line), offset))
            except (json.JSONDecodeError, UnicodeDecodeError):
                break
        return out

    def records(self) -> list[dict]:
        return [r for r, _ in self.read()]

    def keep(self, predicate) -> list[dict]:
        """Keep the leading records for which `predicate` holds; cut the file after them."""
        kept, end = [], 0
        for record, offset in self.read():
            if not predicate(record):
                break
            kept.append(record)
            end = offset
        self.truncate(end)
        return kept

    def truncate(self, size: int) -> None:
        if self.path.exists() and self.path.stat().st_size != size:
            try:
                with open(self.path, "r+b") as f:
                    f.truncate(size)
                    os.fsync(f.fileno())
            except OSError as e:
                raise _write_error(self.path, e) from None

    def append(self, records: list[dict]) -> None:
        data = "".join(_dumps(r) + "\n" for r in records).encode("utf-8")
        size = self.path.stat().st_size if self.path.exists() else 0
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            try:  # a partial append (a full disk) is cut off, so the file ends with whole lines
                self.truncate(size)
            except PolyeditError:
                pass
            raise _write_error(self.path, e) from None


class RunStore:
    """One run's folder. Use `with store.open(meta, resume) as store:` around the run."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self.run_file = self.out / "run.json"
        self.results = JsonLines(self.out / "results.jsonl")
        self.sequential = JsonLines(self.out / "sequential.jsonl")
        self.checkpoints = JsonLines(self.out / "checkpoints.jsonl")  # lifelong checkpoints (lifelong.py)
        self.samples = JsonLines(self.out / "samples.jsonl")  # the per-sample log (evaluation/samples.py)

    @contextmanager
    def open(self, meta: dict, resume: bool):
        from filelock import FileLock, Timeout

        created = not self.out.exists()
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise PolyeditError(f"cannot create output folder {self.out}: {e.strerror or e}") from None
        if not os.access(self.out, os.W_OK):
            raise PolyeditError(f"output folder {self.out} is not writable")
        owner = self.out / OWNER_NAME
        lock = FileLock(str(self.out / LOCK_NAME))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise self._in_use() from None
        except OSError as e:
            raise PolyeditError(f"cannot lock {self.out}: {e.strerror or e}") from None
        fresh = False
        try:
            write_atomic(owner, f"{os.getpid()}\n")  # an owner left by a killed run is overwritten here
            fresh = self._check(meta, resume)
            if fresh:
                write_atomic(self.run_file, _dumps(meta, indent=2))
            else:
                saved = json.loads(self.run_file.read_text("utf-8"))
                saved.setdefault("resumed", []).append(meta.get("environment"))
                write_atomic(self.run_file, _dumps(saved, indent=2))
            yield self
        except BaseException:
            if (fresh or created) and not self.results.records():
                self._discard(created)  # nothing finished: leave nothing that blocks the corrected rerun
            raise
        finally:
            owner.unlink(missing_ok=True)
            lock.release()
            if created and self.out.exists() and not any(self.out.iterdir()):
                self.out.rmdir()

    def check_before(self, resume: bool) -> None:
        """The refusals of `open` that need no model, made before one is loaded (and creating nothing): the
        folder can be made and written, no other run holds it, and it holds no run unless resuming. `open`
        still takes the lock and checks the configuration."""
        from filelock import FileLock, Timeout

        existing = next(p for p in (self.out, *self.out.absolute().parents) if p.exists())
        if not existing.is_dir():
            raise PolyeditError(f"cannot create output folder {self.out}: {existing} is not a folder")
        if not os.access(existing, os.W_OK):
            raise PolyeditError(f"output folder {self.out} is not writable ({existing})")
        if existing != self.out:
            return
        if (self.out / LOCK_NAME).exists():  # only a run that made it can hold it; else nothing is created here
            lock = FileLock(str(self.out / LOCK_NAME))
            try:
                lock.acquire(timeout=0)
            except Timeout:
                raise self._in_use() from None
            lock.release()
        if self.run_file.exists() and not resume:
            raise PolyeditError(f"{self.out} already holds a run; pass --resume to continue it or choose a new --out")

    def _in_use(self) -> PolyeditError:
        owner = self.out / OWNER_NAME
        pid = owner.read_text("utf-8").strip() if owner.exists() else "?"
        return PolyeditError(f"{self.out} is in use by another polyedit run (pid {pid}); wait for it to finish or "
                             f"choose another --out")

    def note(self, key: str, value) -> None:
        """Set `key` in run.json (atomically): what is only known at the end, such as an endpoint's notes."""
        saved = json.loads(self.run_file.read_text("utf-8"))
        saved[key] = value
        write_atomic(self.run_file, _dumps(saved, indent=2))

    def _check(self, meta: dict, resume: bool) -> bool:
        """True for a new run; for a resume, the saved run must be whole and configured the same."""
        has_results = self.results.path.exists() and self.results.path.stat().st_size > 0
        if not self.run_file.exists():
            if has_results:
                raise PolyeditError(f"{self.out} holds results.jsonl but no run.json, so its configuration is "
                                    f"unknown and it cannot be resumed; choose a new --out")
            return True
        if not resume:
            raise PolyeditError(f"{self.out} already holds a run; pass --resume to continue it or choose a new --out")
        try:
            saved = read_json(self.run_file)
        except PolyeditError as e:
            raise PolyeditError(f"{self.run_file} is torn or not JSON; the run cannot be resumed "
                                f"({str(e).removeprefix(f'{self.run_file}: ')})") from None
        if not isinstance(saved, dict) or "config" not in saved:
            raise PolyeditError(f"{self.run_file} does not describe a run (no 'config'); cannot resume it")
        if version_of(saved) != version_of(meta):  # records of two formats never share a file
            check_version(saved, str(self.run_file), resume=True)
        for key in ("config", "cases"):
            want = json.loads(_dumps(meta.get(key)))  # compared as JSON: tuples are lists
            if _order_free(saved.get(key)) != _order_free(want):
                what = f"configuration ({_differing(saved.get(key), want)})" if key == "config" else "list of cases"
                raise PolyeditError(f"{self.out} holds a run with a different {what}; cannot resume it")
        return False

    def _discard(self, created: bool) -> None:
        for p in (self.run_file, self.results.path, self.sequential.path, self.checkpoints.path):
            p.unlink(missing_ok=True)
        if created:
            for p in self.out.iterdir():
                if p.name not in (LOCK_NAME, OWNER_NAME):
                    return  # something else appeared (a user's file): leave the folder alone
            shutil.rmtree(self.out, ignore_errors=True)


_MISSING = object()


def _order_free(config):
    """A configuration as a resume compares it: the order of `langs` changes no result (probes are kept by
    membership, tables sorted by language), so `--langs de,en` resumes a run started with `--langs en,de`."""
    if isinstance(config, dict) and isinstance(config.get("langs"), list):
        return {**config, "langs": sorted(config["langs"], key=str)}
    return config


def _differing(saved, want, shown: int = 4) -> str:
    """Which configuration keys differ, so a refused resume says why: a run saved by an older polyedit lacks
    the keys added since, and the line says that."""
    if not isinstance(saved, dict) or not isinstance(want, dict):
        return "the saved one is not a mapping"

    def name(key: str) -> str:
        if key not in saved:
            return f"{key} (not in the saved run)"
        return f"{key} (only in the saved run)" if key not in want else key

    keys = sorted(k for k in saved.keys() | want.keys() if saved.get(k, _MISSING) != want.get(k, _MISSING))
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return "differs in " + ", ".join(map(name, keys[:shown])) + more


def environment(lm=None, backend=None) -> dict:
    """What produced a run: versions, commit, device, dtype, date, and the backend's own description (an
    endpoint's notes, e.g. that it returns no logprobs)."""
    import datetime
    import platform
    from importlib import metadata

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    env = {"polyedit": version("polyedit"), "git_commit": _git_commit(), "python": platform.python_version(),
           "torch": version("torch"), "transformers": version("transformers"),
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    param = next(lm.model.parameters(), None) if lm is not None else None
    if param is not None:  # a remote run's model description has no weights here
        env |= {"device": str(param.device), "dtype": str(param.dtype).replace("torch.", "")}
    describe = getattr(backend, "describe", None)
    env["backend"] = describe() if callable(describe) else type(backend).__name__ if backend is not None else "hf"
    return env


def _git_commit() -> str | None:
    """The commit of the polyedit source tree, when it is a git checkout (an installed wheel has none)."""
    import subprocess

    here = Path(__file__).resolve().parent
    try:
        done = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None
