"""Where BMIKE-53 comes from: a local directory, or the authors' dataset on the Hugging Face hub.

Order of resolution (the first that applies wins):
1. `dir=PATH` in the dataset spec (`bmike53:zsre:dir=../shared/data/bmike53`);
2. the environment variable `POLYEDIT_BMIKE53_DIR`;
3. the hub dataset `nielklug/bmike`, downloaded once with `huggingface_hub.snapshot_download` into the
   Hugging Face cache (or `POLYEDIT_HUB_CACHE` when set) and read from the cache afterwards without
   touching the network. Only `*.json` and `*.md` files are fetched, so the authors' `.pk` pickles never
   reach the disk.

Layout assumption (the hub repository's tree could not be checked from here): the snapshot holds the
task folders `zsRE/`, `CounterFact/`, `WikiFactDiff/` either at its root, as in the flattened local
copy, or under `BMIKE53/` or `data/BMIKE53/`, as in the authors' GitHub repository ercong21/MultiKnow.
`find_task_dir` accepts all three, so the same reader serves a local copy, a mirror and the hub.
"""

from __future__ import annotations

import os
from pathlib import Path

from polyedit.errors import PolyeditError

BMIKE53_REPO = "nielklug/bmike"
ENV_DIR = "POLYEDIT_BMIKE53_DIR"
ENV_CACHE = "POLYEDIT_HUB_CACHE"
#: never fetch anything but data and documentation (in particular no pickles)
ALLOW_PATTERNS = ["*.json", "*.md"]
#: where the task folders may sit inside a root
LAYOUTS = ("", "BMIKE53", "data/BMIKE53")


def _cache_dir() -> str | None:
    return os.environ.get(ENV_CACHE) or None


def hub_snapshot(repo_id: str = BMIKE53_REPO, cache_dir: str | None = None) -> Path:
    """The local folder of the hub dataset `repo_id`: the cached snapshot when there is one, otherwise
    a fresh download (which is then the cache)."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:  # pragma: no cover - a declared dependency
        raise PolyeditError("huggingface_hub is not installed; set POLYEDIT_BMIKE53_DIR to a local copy") from None
    cache_dir = cache_dir or _cache_dir()
    kwargs = dict(repo_id=repo_id, repo_type="dataset", cache_dir=cache_dir, allow_patterns=ALLOW_PATTERNS)
    try:  # a cached snapshot answers without a network round trip: "downloaded once"
        return Path(snapshot_download(local_files_only=True, **kwargs))
    except LocalEntryNotFoundError:
        pass
    try:
        return Path(snapshot_download(**kwargs))
    except Exception as e:  # network, offline mode, missing repo: all become one clear line
        raise PolyeditError(
            f"BMIKE-53 is not available locally and the hub dataset {repo_id!r} could not be fetched "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); set {ENV_DIR} or pass dir=PATH "
            "in the spec (bmike53:zsre:dir=PATH)") from None


def bmike53_root(explicit: str | None = None) -> tuple[Path, str]:
    """(root directory, how it was found)."""
    if explicit:
        root = Path(explicit).expanduser()
        if not root.is_dir():
            raise PolyeditError(f"bmike53: dir={explicit} is not a directory")
        return root, f"dir={explicit}"
    env = os.environ.get(ENV_DIR)
    if env:
        root = Path(env).expanduser()
        if not root.is_dir():
            raise PolyeditError(f"bmike53: {ENV_DIR}={env} is not a directory")
        return root, f"{ENV_DIR}={env}"
    root = hub_snapshot()
    return root, f"hub {BMIKE53_REPO} ({root})"


def describe_bmike53_source() -> str:
    """Where `bmike53:*` would be read from, without downloading anything (for `polyedit data list`)."""
    env = os.environ.get(ENV_DIR)
    if env:
        return f"{ENV_DIR}={env}" + ("" if Path(env).expanduser().is_dir() else " (missing!)")
    try:
        from huggingface_hub import snapshot_download

        path = snapshot_download(repo_id=BMIKE53_REPO, repo_type="dataset", cache_dir=_cache_dir(),
                                 allow_patterns=ALLOW_PATTERNS, local_files_only=True)
        return f"hub {BMIKE53_REPO}, cached at {path}"
    except Exception:  # not cached (or no hub library): say so rather than fail a listing
        return f"hub {BMIKE53_REPO} (downloaded on first use; or set {ENV_DIR} / dir=PATH)"


def find_task_dir(root: Path, folders: tuple[str, ...]) -> Path:
    """The folder of one task (e.g. `zsRE`) under `root`, in any of the known layouts."""
    for layout in LAYOUTS:
        for name in folders:
            candidate = root / layout / name if layout else root / name
            if candidate.is_dir():
                return candidate
    raise PolyeditError(f"bmike53: no {' or '.join(folders)} folder under {root} "
                        f"(looked in {', '.join(repr(x or '.') for x in LAYOUTS)})")
